// What SharedPool's static methods (create, open, fromFd, unlink) and its
// roots take and give: the attach options, segment names and root keys, and
// the errors of the native shared-pool calls.
import { constants as osConstants } from 'node:os';

import * as errors from '../core/errors.js';
import { binding } from '../core/native.js';
import type { ShmAttached } from '../core/native.js';
import { validateObject, validateOptionalBoolean } from '../core/validate.js';
import { Status } from '../core/status.js';
import type { SharedPoolAttachOptions } from '../types.js';
import { DEFAULT_SPIN_MS, validateSpin } from './spinWait.js';

const { keyMax: KEY_MAX, nameMax: NAME_MAX } = binding.shm.constants;

/** How this process uses a segment, as attachOptions validated it. */
export interface AttachUse {
  cache: boolean;
  spinMs: number;
  safeReuse: boolean;
}

/** The attach options (cache, spinMs, safeReuse) shared by create, open and fromFd. */
export function attachOptions(options: SharedPoolAttachOptions | undefined, label: string): AttachUse {
  if (options === undefined) return { cache: true, spinMs: DEFAULT_SPIN_MS, safeReuse: false };
  validateObject(options, label);
  const { cache = true, spinMs = DEFAULT_SPIN_MS } = options;
  if (typeof cache !== 'boolean') throw errors.invalidArgType(`${label}.cache`, 'of type boolean', cache);
  const safeReuse = validateOptionalBoolean(options.safeReuse, `${label}.safeReuse`);
  return { cache, spinMs: validateSpin(spinMs, `${label}.spinMs`), safeReuse };
}

/** The error of a native shared-pool call that returned `code` (an OS failure names `syscall`). */
export function fail(code: number, syscall: string, size = 0): Error {
  return errors.fromStatus(code, size, 'shm', syscall);
}

export function validateName(name: unknown, label: string): string {
  if (typeof name !== 'string') throw errors.invalidArgType(label, 'of type string', name);
  if (!/^\/[^/\0]+$/.test(name) || Buffer.byteLength(name) > NAME_MAX) {
    throw errors.invalidArgValue(label, `must be '/' followed by 1 to ${NAME_MAX - 1} bytes without '/'`, name);
  }
  return name;
}

export function validateKey(key: unknown): string {
  if (typeof key !== 'string') throw errors.invalidArgType('key', 'of type string', key);
  if (key.length === 0 || key.includes('\0') || Buffer.byteLength(key) > KEY_MAX) {
    throw errors.invalidArgValue('key', `must be 1 to ${KEY_MAX} UTF-8 bytes without NUL`, key);
  }
  return key;
}

/** An attach's result, or its error (an OS failure names the call the binding reports). */
export function attached(result: ShmAttached | number): ShmAttached {
  if (typeof result !== 'number') return result;
  if (result === Status.NOMEM) throw errors.system(osConstants.errno.ENOMEM, 'malloc');
  throw fail(result, 'attach');
}
