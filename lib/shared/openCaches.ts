// The per-process caches of open SharedPools, as the exit hook and the
// finalizer see them: a cache's parked blocks go back at a normal process
// exit, or when its pool is garbage-collected without close().
import { binding } from '../core/native.js';
import type { ParkOpener, SharedCache } from './SharedCache.js';

const native = binding.shm;

/**
 * What flushing a pool's cache needs, without the pool itself: the pool can still
 * be collected, and `owner` keeps its native state (the mapping) alive until the
 * parked blocks went back. Live while the pool is open.
 */
export interface CacheRecord {
  readonly handle: number;
  readonly owner: object;
  readonly cache: SharedCache;
}

/**
 * Gives a cache's parked blocks and its park list back, and those the pool's nativeHandle
 * parked for addons (a native call each); OK or a failure's status.
 */
export function flushRecord(record: CacheRecord): number {
  const drained = native.drainCache(record.handle);
  const status = record.cache.drain((list) => native.parkClose(record.handle, list));
  return drained < 0 ? drained : status;
}

/**
 * Opens park lists for the pool `handle`. Made out here: a closure made in the
 * constructor would share its context, which holds the pool, so the record
 * would keep the pool reachable and the finalizer would never run.
 */
export function parkOpener(handle: number): ParkOpener {
  return (stacks, depth) => native.parkOpen(handle, stacks, depth);
}

/** Caches of open pools: flushed at a normal process exit, or when their pool is collected unclosed. */
const openCaches = new Set<CacheRecord>();
const collected = new FinalizationRegistry<CacheRecord>((record) => {
  if (openCaches.delete(record)) flushRecord(record);
});
let exitHooked = false;

/** Flushes `record` at exit, or when `pool` is collected before untrackCache. */
export function trackCache(record: CacheRecord, pool: object): void {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => {
      for (const open of openCaches) flushRecord(open);
      openCaches.clear();
    });
  }
  openCaches.add(record);
  collected.register(pool, record, record);
}

/** close(): the pool flushes its cache itself. */
export function untrackCache(record: CacheRecord): void {
  openCaches.delete(record);
  collected.unregister(record);
}
