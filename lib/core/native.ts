// The typed interface of the N-API binding (native/binding/*.cc). Every function takes
// numbers; see native/binding/tlsf_binding.cc for the encodings.
import * as path from 'node:path';

import load from 'node-gyp-build';

export interface TlsfConstants {
  /** Allocation results are region * regionFactor + offset. */
  readonly regionFactor: number;
  /** OS failures come back as -(errno + call * sysBase); binding.syscalls[call] names the call. */
  readonly sysBase: number;
  readonly maxRegions: number;
  readonly maxRequest: number;
  readonly regionMin: number;
  readonly blockOverhead: number;
  readonly minBlock: number;
}

/** What each pool's native stats() returns: named fields, as the C stats structs have them. */
export interface TlsfStats {
  /** Bytes of region area (tlsf_stats_t.area). */
  readonly reserved: number;
  readonly used: number;
  readonly peakUsed: number;
  readonly free: number;
  readonly largestFree: number;
  readonly allocations: number;
  readonly failedAllocations: number;
  readonly regions: number;
  /** The count of the blocks other addons hold through nativeHandle (their bytes: `used` beyond JavaScript's). */
  readonly addonAllocations: number;
  /** Bytes of the regions, bitmaps and control structure resident in RAM (mincore). */
  readonly resident: number;
}

export interface RegionStats {
  readonly reserved: number;
  readonly used: number;
  readonly peakUsed: number;
  readonly allocations: number;
  readonly failedAllocations: number;
  readonly blocks: number;
  readonly largeBlocks: number;
  readonly wasted: number;
}

export interface HeapStats {
  /** -1: unbounded. */
  readonly capacity: number;
  readonly reserved: number;
  readonly used: number;
  readonly peakUsed: number;
  readonly allocations: number;
  readonly failedAllocations: number;
  readonly classChunks: number;
  readonly spareChunks: number;
  readonly largeBlocks: number;
  readonly lentBytes: number;
  readonly children: number;
  readonly metadataBytes: number;
}

export interface ShmStats {
  readonly segmentSize: number;
  readonly capacity: number;
  readonly used: number;
  readonly peakUsed: number;
  readonly available: number;
  readonly free: number;
  readonly largestFree: number;
  readonly allocations: number;
  readonly failedAllocations: number;
  readonly generation: number;
  readonly lentChunks: number;
  readonly lentBytes: number;
}

export interface TlsfBinding {
  /** [handle, owner] where owner keeps the native state alive, or a negative OS failure. */
  create(threadSafe: boolean): [number, object] | number;
  /** Region id, a negative status, or a negative OS failure. */
  addRegion(handle: number, area: number): number;
  /** The region's external ArrayBuffer; call once per region. */
  regionBuffer(handle: number, region: number): ArrayBuffer | undefined;
  removeRegion(handle: number, region: number): number;
  /** scratch = [handle, size] -> scratch[0] = region * regionFactor + offset, or a negative status. */
  alloc(): void;
  calloc(handle: number, count: number, size: number): number;
  memalign(handle: number, size: number, alignment: number): number;
  realloc(handle: number, region: number, offset: number, size: number): number;
  /** scratch = [handle, region, offset] -> scratch[0] = status. */
  free(): void;
  /** Arguments and results of the hot calls (alloc, free): see native/binding/tlsf_binding.cc. */
  readonly scratch: Float64Array;
  /** Usable size of a live block, 0 when (region, offset) is not one. */
  usableSize(handle: number, region: number, offset: number): number;
  /** What (region, offset) is: OK live, DOUBLE_FREE a freed block, FOREIGN anything else. */
  blockState(handle: number, region: number, offset: number): number;
  stats(handle: number): TlsfStats;
  /** The pool's nativeHandle external (once per pool), or a negative OS failure. */
  nativeHandle(handle: number): object | number | undefined;
  /** Usable size of the block an addon allocated at (region, offset), or a negative status. */
  addonBlock(handle: number, region: number, offset: number): number;
  /** As addonBlock, and the block becomes JavaScript's (no longer an addon's). */
  adopt(handle: number, region: number, offset: number): number;
  /** [region, offset, size, used] quadruples in address order, or a negative status. */
  walk(handle: number): Float64Array | number;
  /** Gives the whole pages inside free blocks back to the OS: the bytes, or a negative status. */
  trim(handle: number): number;
  /** null, or why the heap is corrupted. */
  check(handle: number): string | null;
  /** Destroys; memory views reach is held until they are garbage (detach, unsafe: detach them, free now). */
  destroy(handle: number, detach: boolean): void;
  readonly constants: TlsfConstants;
}

export interface RegionConstants {
  readonly minBlock: number;
  readonly blockGranule: number;
  readonly maxBlock: number;
  readonly defaultBlock: number;
  /** alloc flags (REGION_POOL_UNALIGNED, _ZERO, _MEMALIGN). */
  readonly unaligned: number;
  readonly zero: number;
  readonly memalign: number;
  /** Allocations the bump lease's log holds (region_binding.cc). */
  readonly leaseLogCap: number;
}

/** The region pool (native/binding/region_binding.cc). */
export interface RegionBinding {
  /** [handle, owner, maxSmall] where owner keeps the native state alive, or a negative status. */
  create(blockSize: number): [number, object, number] | number;
  /**
   * scratch = [handle, chunk] -> the chunk's external ArrayBuffer (made once per chunk
   * incarnation; the pool's arena's for a carved chunk) with scratch[0] = 1 for a large
   * block, 0 for a block, and scratch[1] = where the chunk starts in it; undefined and a
   * negative status in scratch[0] for no live chunk.
   */
  chunkBuffer(): ArrayBuffer | undefined;
  /**
   * scratch = [handle, size, flags, align] -> scratch = [chunk, offset, gen, created] or [negative status],
   * then scratch[4..6] = [chunk, gen, new] of the head block leased to JavaScript (chunk -1: none).
   */
  alloc(): void;
  /** scratch = [handle, chunk, offset, gen, size] -> as alloc. */
  realloc(): void;
  /** scratch = [handle, chunk, offset, gen] -> scratch[0] = status, scratch[1] = 1 when the chunk is kept for reuse. */
  free(): void;
  /** The environment's scratch array (the same one as tlsf.scratch). */
  readonly scratch: Float64Array;
  /**
   * The bump lease: [count, bump, lim, slots, log of (offset, size) pairs]. The pool holding
   * the lease bumps while count < slots and offset + max(size, 1) <= lim (0: revoked).
   */
  readonly lease: Int32Array;
  /**
   * Status; releases large blocks (held while views reach them) but the few kept for
   * reuse, whose ids it leaves in scratch = [count, id, ...], and rewinds every block.
   */
  reset(handle: number): number;
  /** The pool's nativeHandle external (once per pool). */
  nativeHandle(handle: number): object | undefined;
  /** [generation, size] of the live allocation starting at (chunk, offset), or a negative status. */
  blockAt(handle: number, chunk: number, offset: number): [number, number] | number;
  stats(handle: number): RegionStats;
  /** null, or why the pool is corrupted. */
  check(handle: number): string | null;
  /** [chunk, offset, size, state (0 tail, 1 used, 2 freed, 3 closed tail)] quads (region_pool_walk), or a negative status. */
  walk(handle: number): Float64Array | number;
  /** [id, bytes, kind (1 block, 2 large), 0] quads of the live chunks, or a negative status. */
  chunks(handle: number): Float64Array | number;
  destroy(handle: number, detach: boolean): void;
  readonly constants: RegionConstants;
}

export interface HeapConstants {
  /** Size of each of the 34 classes, ascending (16 B .. 2 MiB). */
  readonly classSizes: readonly number[];
  /** Every allocation's alignment (16). */
  readonly alignment: number;
  /** Class chunks are aligned to and a multiple of this (64 KiB). */
  readonly granule: number;
  /** Larger requests fail (NOMEM). */
  readonly maxRequest: number;
  /** alloc flag: zero-fill (HEAP_POOL_ZERO). */
  readonly zero: number;
}

/** The heap pool (native/binding/heap_binding.cc). */
export interface HeapBinding {
  /** [handle, owner] where owner keeps the native state alive, or a negative status. parent: a heap
   *  pool's handle or -1; shared: a SharedPool's handle (chunks lent by its segment) or -1. */
  create(capacity: number, parent: number, shared: number, threadSafe: boolean): [number, object] | number;
  /** The pool's nativeHandle external (once per pool). */
  nativeHandle(handle: number): object | undefined;
  /** Usable size of the block an addon allocated at (chunk, offset), or a negative status. */
  addonBlock(handle: number, chunk: number, offset: number): number;
  /** As addonBlock, and the block becomes JavaScript's (no longer an addon's). */
  adopt(handle: number, chunk: number, offset: number): number;
  /** [usable bytes, count] of the blocks addons hold through nativeHandle, or a negative status. */
  addonStats(handle: number): [number, number] | number;
  /** [the chunk's external ArrayBuffer, its class size (0: a large block), its area offset in the
   *  segment (-1: not in a segment)]; once per chunk incarnation. */
  chunkBuffer(handle: number, chunk: number): [ArrayBuffer, number, number] | undefined;
  /** scratch = [handle, size, flags] -> scratch = [chunk, offset, created] or [negative status]. */
  alloc(): void;
  /** scratch = [handle, chunk, offset, size] -> as alloc. */
  realloc(): void;
  /** scratch = [handle, chunk, offset] -> scratch[0] = status. */
  free(): void;
  /** The environment's scratch array (the same one as tlsf.scratch). */
  readonly scratch: Float64Array;
  /** The C pool's figures, or a negative status. */
  stats(handle: number): HeapStats | number;
  /** capacity - reserved; -1 when unbounded. */
  availableCapacity(handle: number): number;
  /** null, or why the pool (or one of its children) is corrupted. */
  check(handle: number): string | null;
  /** Destroys the children first (detaching their chunks), then the pool. */
  destroy(handle: number, detach: boolean): void;
  /** [chunk, offset, size, state (0 free, 1 used, 2 lent)] quads (heap_pool_walk), or a negative status. */
  walk(handle: number): Float64Array | number;
  /** [id, bytes, kind (1 class, 2 large, 3 lent), class size] quads of the live chunks, or a negative status. */
  chunks(handle: number): Float64Array | number;
  readonly constants: HeapConstants;
}

export interface ShmConstants {
  /** Smallest segment size shm_pool_create accepts. */
  readonly minSize: number;
  readonly maxSize: number;
  /** Entries in the roots directory. */
  readonly roots: number;
  /** Most UTF-8 bytes of a root key. */
  readonly keyMax: number;
  /** Most bytes of a segment name, its leading '/' included. */
  readonly nameMax: number;
  /** The default allocator lock timeout of a handle, ms (SHM_POOL_LOCK_TIMEOUT_MS). */
  readonly lockTimeout: number;
  /** OS failures come back as -(errno + call * sysBase), as for every pool (binding.syscalls[call]). */
  readonly sysBase: number;
}

/** [handle, owner, the block area's external ArrayBuffer, the pool's descriptor]. */
export type ShmAttached = [number, object, ArrayBuffer, number];

/**
 * The shared-memory pool (native/binding/shm_binding.cc). Offsets are relative to the
 * block area (= a view's byteOffset). Number results: >= 0 a value, else a
 * negative status or an OS failure -(errno + call * sysBase).
 */
/** What binding.shm.peek reads of a segment (native/alloc/shm_pool.h shm_pool_info_t); flags are 0/1. */
export interface ShmPeek {
  readonly size: number;
  readonly capacity: number;
  readonly used: number;
  readonly createdMs: number;
  readonly creatorPid: number;
  readonly creatorAlive: number;
  readonly lockHolder: number;
  readonly userLockHolder: number;
  readonly corrupted: number;
  readonly attached: number[];
}

/** What binding.shm.snapshot reports (native/alloc/shm_pool.h shm_pool_snapshot); flags are 0/1. */
export interface ShmSnapshot {
  readonly size: number;
  readonly capacity: number;
  readonly createdMs: number;
  readonly creatorPid: number;
  readonly creatorAlive: number;
  readonly allocLockWord: number;
  readonly userLockWord: number;
  readonly consistent: number;
  readonly copies: number;
  readonly attached: number[];
  readonly stats: ShmStats | number;
  readonly check: string | null;
  readonly blocks: Float64Array | number;
  readonly roots: [string, number][];
}

export interface ShmBinding {
  create(name: string | null, size: number, mode: number, lockTimeoutMs: number): ShmAttached | number;
  open(name: string, lockTimeoutMs: number): ShmAttached | number;
  fromFd(fd: number, lockTimeoutMs: number): ShmAttached | number;
  unlink(name: string): number;
  /** A read-only look at a named segment (no attach, no lock), or a negative code (NOT_SEGMENT, OS failure). */
  peek(name: string): ShmPeek | number;
  /** scratch = [handle, size, zero] -> scratch[0] = area offset or a negative code. */
  alloc(): void;
  /** scratch = [handle, offset] -> scratch[0] = status. */
  free(): void;
  readonly scratch: Float64Array;
  realloc(handle: number, offset: number, size: number): number;
  /** Status: OK when a live block starting at offset holds length bytes. */
  at(handle: number, offset: number, length: number): number;
  /** Status; OWNER_DIED (1): taken, its previous holder died; TIMEOUT; BUSY (this thread holds it). timeoutMs < 0: none. */
  lock(handle: number, timeoutMs: number): number;
  unlock(handle: number): number;
  /** Status: OK, NOT_EQUAL or TIMED_OUT. timeoutMs < 0: forever. */
  wait(handle: number, offset: number, expected: number, timeoutMs: number): number;
  /** Woken count or a negative code. count < 0: all. */
  notify(handle: number, offset: number, count: number): number;
  setRoot(handle: number, key: string, offset: number): number;
  /** The root's area offset or a negative code (NOT_FOUND). */
  getRoot(handle: number, key: string): number;
  deleteRoot(handle: number, key: string): number;
  /** The segment's figures (every process), or a negative code. */
  stats(handle: number): ShmStats | number;
  check(handle: number): string | null;
  /** [area offset, size, state (0 free, 1 used, 2 lent, 3 parked, 4 park list), owner pid] quads
   *  under the allocator lock (shm_pool_walk), or a negative code. */
  walk(handle: number): Float64Array | number;
  /** Bytes of the free blocks' pages given back to the segment's backing store (resident
   *  before; the addons' parked blocks go back first: shm_pool_trim), or a negative code. */
  trim(handle: number): number;
  /** A private copy of a named segment read without attaching (shm_pool_snapshot), or a negative code. */
  snapshot(name: string, tries: number): ShmSnapshot | { readonly corrupted: string } | number;
  /** Unmaps and closes the descriptor once no view reaches the mapping (detach, unsafe: detach them, unmap now). */
  close(handle: number, detach: boolean): void;
  /** The pool's nativeHandle external (once per mapping). */
  nativeHandle(handle: number): object | undefined;
  /** A zeroed park list of `stacks` x `depth` slots registered for this process: its area offset, or a negative code (FULL, NOMEM). */
  parkOpen(handle: number, stacks: number, depth: number): number;
  /** Frees the blocks the park list at `list` names, the list and its record: how many blocks, or a negative code. */
  parkClose(handle: number, list: number): number;
  /** Gives back the blocks the nativeHandle's cache parked for addons (and its park list): how many, or a negative code. */
  drainCache(handle: number): number;
  readonly constants: ShmConstants;
}

/** The one table of return codes every allocator uses (native/alloc/pool_status.h). */
export interface StatusTable {
  readonly OK: 0;
  readonly INVALID: number;
  readonly FOREIGN: number;
  readonly DOUBLE_FREE: number;
  readonly NOMEM: number;
  readonly CORRUPTED: number;
  readonly IN_USE: number;
  readonly FULL: number;
  readonly STALE: number;
  readonly RANGE: number;
  readonly BUSY: number;
  readonly SYSTEM: number;
  readonly NOT_FOUND: number;
  readonly LENT: number;
  readonly NOT_SEGMENT: number;
  readonly TIMEOUT: number;
  readonly OWNER_DIED: number;
  readonly NOT_EQUAL: number;
  readonly TIMED_OUT: number;
}

/**
 * The C memory layouts TypeScript reads directly (native/binding/binding.cc LayoutTable).
 * Block headers (TLSF's, also SharedPool's area): 32-bit words at `(offset >>> 2) + sizeWord`
 * (usable size | flag bits) and `+ alignWord` (0 unless a memalign block).
 */
export interface Layout {
  readonly sizeWord: number;
  readonly alignWord: number;
  readonly flagBits: number;
  readonly flagFree: number;
  readonly flagPrevFree: number;
  readonly flagCached: number;
  /** flagFree | flagCached: a header with either is not a live block. */
  readonly notLive: number;
  /** Live bitmaps: one bit per 1 << shift bytes (TLSF 8, heap 16). */
  readonly tlsfLiveShift: number;
  readonly heapLiveShift: number;
  /** Park list words (native/alloc/shm_pool.h "parked blocks"): shape, then counts, then slots. */
  readonly parkStacks: number;
  readonly parkDepth: number;
  readonly parkCounts: number;
}

export interface NativeBinding {
  /** C layouts TypeScript reads (frozen). */
  readonly layout: Layout;
  /** Return codes, one table for every pool kind (frozen). */
  readonly status: StatusTable;
  /** OS failures come back as -(errno + call * sysBase); syscalls[call] names the call. */
  readonly sysBase: number;
  readonly syscalls: readonly string[];
  readonly tlsf: TlsfBinding;
  readonly region: RegionBinding;
  readonly heap: HeapBinding;
  readonly shm: ShmBinding;
  /** [bytes, chunks] of a pool's released memory that views still reach (destroyed or not). */
  held(handle: number): [number, number];
  /** Whether `buffer` is the ArrayBuffer of the pool's live chunk `id`. */
  isChunkBuffer(handle: number, id: number, buffer: ArrayBuffer): boolean;
}

/** The addon, loaded relative to the package root (lib/core/ and dist/core/ are two levels down). */
export const binding = load(path.join(__dirname, '..', '..')) as NativeBinding;

/** Splits a native OS failure code into errno and syscall; undefined for a plain status. */
export function decodeSystemFailure(code: number, sysBase: number): { errno: number; syscall: string } | undefined {
  if (code > -sysBase) return undefined;
  const call = Math.floor(-code / sysBase);
  return { errno: -code - call * sysBase, syscall: binding.syscalls[call] || 'unknown' };
}
