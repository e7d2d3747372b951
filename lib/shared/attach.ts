// What SharedPool's static methods (create, open, fromFd, unlink) and its
// roots take and give: the attach options, segment names and root keys, and
// the errors of the native shared-pool calls.
import { constants as osConstants } from 'node:os';

import * as errors from '../core/errors.js';
import { binding } from '../core/native.js';
import type { ShmAttached } from '../core/native.js';
import { validateInteger, validateObject, validateOptionalBoolean } from '../core/validate.js';
import { Status } from '../core/status.js';
import type { SharedPoolAttachOptions } from '../types.js';
import { DEFAULT_SPIN_MS, validateSpin } from './spinWait.js';

const { keyMax: KEY_MAX, nameMax: NAME_MAX } = binding.shm.constants;

/** How this process uses a segment, as attachOptions validated it. */
export interface AttachUse {
  cache: boolean;
  spinMs: number;
  safeReuse: boolean;
  /** ms (option lockTimeout). */
  lockTimeout: number;
}

/** The default of option lockTimeout (SHM_POOL_LOCK_TIMEOUT_MS). */
export const DEFAULT_LOCK_TIMEOUT: number = binding.shm.constants.lockTimeout;

/** The attach options (cache, spinMs, safeReuse, lockTimeout) shared by create, open and fromFd. */
export function attachOptions(options: SharedPoolAttachOptions | undefined, label: string): AttachUse {
  if (options === undefined) {
    return { cache: true, spinMs: DEFAULT_SPIN_MS, safeReuse: false, lockTimeout: DEFAULT_LOCK_TIMEOUT };
  }
  validateObject(options, label);
  const { cache = true, spinMs = DEFAULT_SPIN_MS, lockTimeout = DEFAULT_LOCK_TIMEOUT } = options;
  if (typeof cache !== 'boolean') throw errors.invalidArgType(`${label}.cache`, 'of type boolean', cache);
  const safeReuse = validateOptionalBoolean(options.safeReuse, `${label}.safeReuse`);
  return {
    cache,
    spinMs: validateSpin(spinMs, `${label}.spinMs`),
    safeReuse,
    lockTimeout: validateInteger(lockTimeout, `${label}.lockTimeout`, 0, 2 ** 31 - 1),
  };
}

/**
 * The error of a native shared-pool call that returned `code` (an OS failure names `syscall`
 * and the segment `name`); `lockTimeout`: the allocator lock timeout in force, for TIMEOUT.
 */
export function fail(code: number, syscall: string, size = 0, name: string | null = null, lockTimeout = 0): Error {
  if (code === Status.TIMEOUT) return errors.lockTimeout('allocator', lockTimeout, describeSegment(name));
  return errors.fromStatus(code, size, 'shm', syscall, name ?? undefined);
}

/** How messages name a segment: its name, or what an anonymous one is. */
export function describeSegment(name: string | null): string {
  return name === null ? '(anonymous)' : `'${name}'`;
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

/** Where an attach went: the argument that named the segment and its value. */
export interface AttachTarget {
  label: string;
  value: string | number;
  /** The segment's name, if it has one (for system errors and messages). */
  name: string | null;
  lockTimeout: number;
}

/** An attach's result, or its error (an OS failure names the call the binding reports and the segment). */
export function attached(result: ShmAttached | number, target: AttachTarget): ShmAttached {
  if (typeof result !== 'number') return result;
  const path = target.name ?? undefined;
  if (result === Status.NOMEM) throw errors.system(osConstants.errno.ENOMEM, 'malloc', path);
  if (result === Status.NOT_SEGMENT) throw errors.notSegment(target.label, target.value);
  throw fail(result, 'attach', 0, target.name, target.lockTimeout);
}
