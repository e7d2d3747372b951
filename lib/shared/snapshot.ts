// What SharedPool.walk(), SharedPool.heapMap() and SharedPool.snapshot() share: the
// walk's blocks from the binding's quads, the one-row heap map of a segment's area,
// and a snapshot of a named segment read without attaching (shm_pool_snapshot: a
// private copy taken by pread, retried until the allocator lock was free before and
// after it and the copy passes every check; see native/alloc/shm_pool.h).
import * as errors from '../core/errors.js';
import { renderHeapMap } from '../core/heapMap.js';
import type { MapExtent, MapState } from '../core/heapMap.js';
import { binding } from '../core/native.js';
import type { SharedBlock, SharedSnapshot } from '../types.js';
import { fail, validateName } from './attach.js';

const native = binding.shm;

/** The C walk's states (shm_pool.h enum shm_pool_block_state), by number. */
const STATES: readonly SharedBlock['state'][] = ['free', 'used', 'lent', 'parked', 'parkList'];
const MAP_STATE: Readonly<Record<SharedBlock['state'], MapState>> = {
  free: 'free',
  used: 'used',
  lent: 'lent',
  parked: 'parked',
  parkList: 'parked',
};
/** Copies of a segment taken at most before the snapshot is reported inconsistent. */
const SNAPSHOT_TRIES = 50;
/** Lock word bits (native/alloc/shm_lock.h). */
const LOCK_WAITERS = 2 ** 30;
const LOCK_TID_MASK = LOCK_WAITERS - 1;

export function sharedBlocks(raw: Float64Array): SharedBlock[] {
  const blocks: SharedBlock[] = [];
  for (let i = 0; i < raw.length; i += 4) {
    const owner = raw[i + 3]!;
    blocks.push({ offset: raw[i]!, size: raw[i + 1]!, state: STATES[raw[i + 2]!] ?? 'used', owner: owner || null });
  }
  return blocks;
}

/** The SVG heap map of a segment's area: one row; block headers are overhead. */
export function segmentHeapMap(
  blocks: readonly SharedBlock[],
  capacity: number,
  figures: { used: number; allocations: number; free: number; largestFree: number },
  notes: string[],
  options: unknown,
  kind = 'SharedPool',
): string {
  const extents: MapExtent[] = blocks.map((b) => ({
    start: b.offset,
    end: b.offset + b.size,
    state: MAP_STATE[b.state],
  }));
  const row = { label: 'area', bytes: capacity, extents };
  return renderHeapMap([row], { kind, reserved: capacity, notes, ...figures }, options);
}

function lockInfo(word: number): { holder: number | null; waiters: boolean } {
  const holder = word & LOCK_TID_MASK;
  return { holder: holder === 0 ? null : holder, waiters: (word & LOCK_WAITERS) !== 0 };
}

/** A snapshot of the named segment (SharedPool.snapshot). */
export function snapshotSegment(name: unknown): SharedSnapshot {
  const valid = validateName(name, 'name');
  const raw = native.snapshot(valid, SNAPSHOT_TRIES);
  if (typeof raw === 'number') {
    if (raw === binding.status.NOT_SEGMENT) throw errors.notSegment('name', valid);
    throw fail(raw, 'shm_open', 0, valid);
  }
  if ('corrupted' in raw) throw errors.corrupted(`segment '${valid}': ${raw.corrupted}`);
  const stats = typeof raw.stats === 'number' ? null : { ...raw.stats };
  return {
    name: valid,
    size: raw.size,
    capacity: raw.capacity,
    creatorPid: raw.creatorPid,
    creatorAlive: raw.creatorAlive === 1,
    createdAt: raw.createdMs > 0 ? new Date(raw.createdMs) : null,
    attachedPids: [...new Set(raw.attached)],
    allocatorLock: lockInfo(raw.allocLockWord),
    userLock: lockInfo(raw.userLockWord),
    consistent: raw.consistent === 1,
    copies: raw.copies,
    stats,
    check: raw.check,
    blocks: typeof raw.blocks === 'number' ? null : sharedBlocks(raw.blocks),
    roots: raw.roots.map(([key, offset]) => ({ key, offset })),
  };
}
