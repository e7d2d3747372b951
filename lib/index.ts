export { TlsfPool } from './TlsfPool.js';
export { RegionPool } from './RegionPool.js';
export { PoolError } from './PoolError.js';
export type { PoolErrorDetails } from './PoolError.js';
export type {
  PoolErrorCode,
  PoolStats,
  RegionPoolOptions,
  RegionPoolStats,
  TlsfBlock,
  TlsfPoolOptions,
  TlsfPoolStats,
} from './types.js';
