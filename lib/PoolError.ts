import type { PoolErrorCode } from './types.js';

export interface PoolErrorDetails {
  /** Negative errno, as in Node's system errors (ERR_POOL_SYSTEM only). */
  errno?: number;
  /** The OS call that failed (ERR_POOL_SYSTEM only). */
  syscall?: string;
  /** The segment the call was about (SharedPool's system errors, when it has a name). */
  path?: string;
}

/** An error of a pool (see the error table in docs/api.md). Built only by lib/core/errors.ts. */
export class PoolError extends Error {
  readonly code: PoolErrorCode;
  declare readonly errno?: number;
  declare readonly syscall?: string;
  declare readonly path?: string;

  constructor(code: PoolErrorCode, message: string, details: PoolErrorDetails = {}) {
    super(message);
    this.code = code;
    if (details.errno !== undefined) this.errno = details.errno;
    if (details.syscall !== undefined) this.syscall = details.syscall;
    if (details.path !== undefined) this.path = details.path;
  }
}

Object.defineProperty(PoolError.prototype, 'name', {
  value: 'PoolError',
  writable: true,
  configurable: true,
});
