// The declarations use Node's types (Buffer, ...): a project compiling them needs
// @types/node even with "types": [] in its tsconfig, so dist/index.d.ts references them.
/// <reference types="node" preserve="true" />

export { TlsfPool } from './TlsfPool.js';
export { RegionPool } from './RegionPool.js';
export { HeapPool } from './HeapPool.js';
export { SharedPool } from './SharedPool.js';
export { PoolError } from './PoolError.js';
export { whenDone } from './core/lifetime.js';
export type { Completion, DestroyOptions } from './core/lifetime.js';
export type { PoolErrorDetails } from './PoolError.js';
export type { HeapPoolOptions, HeapPoolParent } from './HeapPool.js';
export type { HeapMapOptions } from './core/heapMap.js';
export type {
  HeapBlock,
  HeapPoolStats,
  NativeBlock,
  PoolErrorCode,
  PoolStats,
  RegionBlock,
  RegionPoolOptions,
  RegionPoolStats,
  ReuseOptions,
  SharedBlock,
  SharedLockInfo,
  SharedPoolAttachOptions,
  SharedPoolOptions,
  SharedPoolStats,
  SharedSnapshot,
  TlsfBlock,
  TlsfPoolOptions,
  TlsfPoolStats,
} from './types.js';
