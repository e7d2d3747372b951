export { TlsfPool } from './TlsfPool.js';
export { PoolError } from './PoolError.js';
export type { PoolErrorDetails } from './PoolError.js';
export type { PoolErrorCode, PoolStats, TlsfBlock, TlsfPoolOptions, TlsfPoolStats } from './types.js';
