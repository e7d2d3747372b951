// Every error the package throws is built here, so codes and messages stay
// consistent (argument errors follow Node core's wording).
import { getSystemErrorName } from 'node:util';

import { PoolError } from '../PoolError.js';
import { binding } from './native.js';
import { Status } from './status.js';

type CodedError<E extends Error> = E & { code: string };

function withCode<E extends Error>(error: E, code: string): CodedError<E> {
  return Object.assign(error, { code });
}

/** Node's `addNumericalSeparator`: 1_000_000 style for large integers. */
function formatNumber(value: number): string {
  if (!Number.isInteger(value) || Math.abs(value) <= 2 ** 32) return String(value);
  const digits = String(Math.abs(value));
  let out = '';
  for (let i = digits.length; i > 0; i -= 3) out = digits.slice(Math.max(0, i - 3), i) + (out ? `_${out}` : '');
  return (value < 0 ? '-' : '') + out;
}

/** How Node describes a received value in an ERR_INVALID_ARG_TYPE message. */
function describeReceived(value: unknown): string {
  if (value === null || value === undefined) return ` Received ${String(value)}`;
  if (typeof value === 'function') return ` Received function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name;
    return name ? ` Received an instance of ${name}` : ' Received [object]';
  }
  let shown = typeof value === 'number' ? formatNumber(value) : String(value);
  if (typeof value === 'string') shown = `'${shown.length > 25 ? `${shown.slice(0, 25)}...` : shown}'`;
  return ` Received type ${typeof value} (${shown})`;
}

/** TypeError ERR_INVALID_ARG_TYPE, e.g. expected "of type number" or "an instance of Buffer or Uint8Array". */
export function invalidArgType(name: string, expected: string, value: unknown): CodedError<TypeError> {
  const what = name.includes('.') ? 'property' : 'argument';
  const message = `The "${name}" ${what} must be ${expected}.${describeReceived(value)}`;
  return withCode(new TypeError(message), 'ERR_INVALID_ARG_TYPE');
}

/** TypeError ERR_INVALID_ARG_VALUE, e.g. reason "must be a '/' followed by ...". */
export function invalidArgValue(name: string, reason: string, value: unknown): CodedError<TypeError> {
  const what = name.includes('.') ? 'property' : 'argument';
  const shown =
    typeof value === 'string' ? `'${value.length > 40 ? `${value.slice(0, 40)}...` : value}'` : String(value);
  return withCode(new TypeError(`The ${what} '${name}' ${reason}. Received ${shown}`), 'ERR_INVALID_ARG_VALUE');
}

/** RangeError ERR_OUT_OF_RANGE, e.g. range ">= 0 && <= 9007199254740991" or "an integer". */
export function outOfRange(name: string, range: string, value: number | string): CodedError<RangeError> {
  const shown = typeof value === 'number' ? formatNumber(value) : value;
  const message = `The value of "${name}" is out of range. It must be ${range}. Received ${shown}`;
  return withCode(new RangeError(message), 'ERR_OUT_OF_RANGE');
}

export function exhausted(size: number): PoolError {
  return new PoolError('ERR_POOL_EXHAUSTED', `Pool exhausted: cannot allocate ${size} bytes`);
}

export function foreignBuffer(): PoolError {
  return new PoolError('ERR_POOL_FOREIGN_BUFFER', 'The buffer is not a live allocation of this pool');
}

export function doubleFree(): PoolError {
  return new PoolError('ERR_POOL_DOUBLE_FREE', 'The buffer has already been freed');
}

export function destroyed(): PoolError {
  return new PoolError('ERR_POOL_DESTROYED', 'The pool has been destroyed');
}

export function inUse(region: number): PoolError {
  return new PoolError('ERR_POOL_IN_USE', `Region ${region} still holds live allocations`);
}

export function regionTableFull(max: number): PoolError {
  return new PoolError('ERR_POOL_EXHAUSTED', `Pool exhausted: it already has ${max} regions`);
}

export function corrupted(why: string): PoolError {
  return new PoolError('ERR_POOL_CORRUPTED', `Pool corrupted: ${why}`);
}

/** Node's ERR_ILLEGAL_CONSTRUCTOR, for a class made only by its static methods (`use`: which ones). */
export function illegalConstructor(use: string): CodedError<TypeError> {
  return withCode(new TypeError(`Illegal constructor: use ${use}`), 'ERR_ILLEGAL_CONSTRUCTOR');
}

/** Node's ERR_INVALID_STATE, e.g. reset() called from a cleanup callback. */
export function invalidState(what: string): CodedError<Error> {
  return withCode(new Error(`Invalid state: ${what}`), 'ERR_INVALID_STATE');
}

/** What reset()/destroy() throw after running every cleanup when some of them threw. */
export function cleanupsFailed(failures: unknown[]): AggregateError {
  const count = failures.length === 1 ? '1 cleanup callback' : `${failures.length} cleanup callbacks`;
  return new AggregateError(failures, `${count} threw`);
}

/**
 * ERR_POOL_SYSTEM from a positive errno, like Node's system errors (negative `errno`);
 * `path`: the segment the call was about, named in the message and as `error.path`.
 */
export function system(errno: number, syscall: string, path?: string): PoolError {
  let name: string;
  try {
    name = getSystemErrorName(-errno);
  } catch {
    name = `errno ${errno}`;
  }
  const about = path === undefined ? '' : ` '${path}'`;
  return new PoolError('ERR_POOL_SYSTEM', `${syscall}${about} failed: ${name}`, { errno: -errno, syscall, path });
}

/** ERR_POOL_LOCK_TIMEOUT: another live process kept a segment's lock past the timeout. */
export function lockTimeout(which: 'allocator' | 'user', ms: number, segment: string): PoolError {
  return new PoolError(
    'ERR_POOL_LOCK_TIMEOUT',
    `SharedPool ${segment}: another live process held the ${which} lock for more than ${ms} ms` +
      (which === 'allocator' ? ' (option lockTimeout)' : ''),
  );
}

/** ERR_INVALID_ARG_VALUE for a descriptor or name that leads to something other than a segment. */
export function notSegment(name: string, value: unknown): CodedError<TypeError> {
  return invalidArgValue(name, 'is not a mempools segment', value);
}

/** Which pool a status came from: only ERR_POOL_CORRUPTED's message differs. */
export type StatusSource = 'tlsf' | 'region' | 'heap' | 'shm';

const BROKEN: Record<StatusSource, string> = {
  tlsf: 'the allocator found broken metadata and refuses to go on',
  region: 'the region pool found broken metadata',
  heap: 'the heap pool found broken metadata',
  shm: 'the shared segment failed validation or its allocator is broken',
};

/**
 * The error for a negative status (binding.status, one table for every pool) of an
 * operation on `size` bytes in a pool of kind `source`. An OS failure code
 * -(errno + call * sysBase) becomes ERR_POOL_SYSTEM naming the call the code names
 * (binding.syscalls), or `syscall` (the operation) when the binding names none.
 */
export function fromStatus(
  status: number,
  size = 0,
  source: StatusSource = 'tlsf',
  syscall?: string,
  path?: string,
): Error {
  if (status <= -binding.sysBase) {
    const call = Math.floor(-status / binding.sysBase);
    const errno = -status - call * binding.sysBase;
    return system(errno, binding.syscalls[call] || syscall || 'unknown', path);
  }
  if (status === Status.NOMEM) return exhausted(size);
  if (status === Status.FOREIGN || (status === Status.STALE && source === 'region')) return foreignBuffer();
  if (status === Status.DOUBLE_FREE) return doubleFree();
  if (status === Status.CORRUPTED) return corrupted(BROKEN[source]);
  if (source === 'shm') {
    if (status === Status.FULL)
      return new PoolError('ERR_POOL_EXHAUSTED', 'Pool exhausted: the roots directory is full');
    if (status === Status.BUSY) return invalidState('the lock is already held by this thread');
    if (status === Status.LENT) {
      return new PoolError(
        'ERR_POOL_FOREIGN_BUFFER',
        'The buffer lies in a chunk a HeapPool borrowed from this segment: only that HeapPool frees it',
      );
    }
  }
  return withCode(new Error(`mempools: unexpected native status ${status}`), 'ERR_INTERNAL_ASSERTION');
}
