// What every pool's `nativeHandle` getter shares: the binding makes the
// external once per pool (native/binding/native_handle.cc); the pool keeps it.
import * as errors from './errors.js';

/**
 * The external `make` returns. undefined (no such state: never for a pool that
 * holds its owner) is ERR_POOL_DESTROYED; a number is an OS failure that
 * `systemError` turns into its error.
 */
export function madeHandle(made: object | number | undefined, systemError?: (code: number) => Error): object {
  if (typeof made === 'object') return made;
  if (typeof made === 'number' && systemError !== undefined) throw systemError(made);
  throw errors.destroyed();
}
