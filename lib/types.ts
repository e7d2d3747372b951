/** Statistics every pool reports (docs/api.md). */
export interface PoolStats {
  /** Most bytes the pool may ever hold (Infinity when unbounded). */
  capacity: number;
  /** Bytes currently obtained from the OS or the parent pool. */
  reserved: number;
  /** Bytes in live allocations (usable size). */
  used: number;
  /** High-water mark of `used`; never decreases. */
  peakUsed: number;
  /** Live allocation count. */
  allocations: number;
  /** Allocations refused for lack of memory. */
  failedAllocations: number;
  /** True after destroy() (close() for a SharedPool): every other figure is then 0 but the held ones. */
  destroyed: boolean;
  /**
   * Bytes the pool released (destroy, reset, a freed large block, a removed
   * region, a closed mapping) that stay mapped because views of them can
   * still be reached, e.g. by Node's asynchronous I/O; they go when those
   * views are garbage. A HeapPool family counts them at its root.
   */
  heldBytes: number;
  /** How many separate chunks (regions, blocks, mappings) heldBytes is made of. */
  heldChunks: number;
  /** safeReuse: freed blocks waiting for their old view to be garbage before they can be handed out again. */
  pendingFrees: number;
}

/** Shared by every pool's options. */
export interface ReuseOptions {
  /**
   * A freed block (RegionPool: also every block at reset()) is not handed out
   * again while its old view can still be reached: the free happens when the
   * view is garbage. So a free() or reset() that comes too early (while Node
   * still writes the view to a socket, say) cannot corrupt that output. Costs
   * a FinalizationRegistry entry per free and memory until the next GC; see
   * docs/lifetime.md. Default false.
   */
  safeReuse?: boolean;
}

/** TlsfPool statistics. */
export interface TlsfPoolStats extends PoolStats {
  /** Usable bytes in free blocks. */
  free: number;
  /** Usable size of the largest free block. */
  largestFree: number;
  /** Regions currently in the pool. */
  regions: number;
  /**
   * Bytes of the pool's memory resident in RAM (its regions, their start bitmaps and
   * the control structure, counted by whole pages with mincore; O(reserved / page size)).
   * A fresh region costs a few pages whatever its size: pages are touched as blocks are carved.
   */
  resident: number;
}

export interface TlsfPoolOptions extends ReuseOptions {
  /** Bytes of the first region: a safe integer >= 64, rounded up to a multiple of 8. */
  size: number;
  /** With maxSize the pool grows by adding regions, up to maxSize bytes in all (rounded up to a multiple of 8). */
  maxSize?: number;
  /** A lock in every native call, so other addons may allocate from any thread through nativeHandle. */
  threadSafe?: boolean;
}

/** Where a block lies, as a pool's nativeHandle reports it (mempools_handle_t): what viewOf takes. */
export interface NativeBlock {
  /** The chunk: a TlsfPool region id, a HeapPool chunk id, 0 for a SharedPool. */
  chunk: number;
  /** Byte offset in the chunk (a SharedPool: the area offset, as offsetOf gives). */
  offset: number;
}

/** One block reported by TlsfPool.walk(). */
export interface TlsfBlock {
  region: number;
  /** Byte offset of the block's user data in its region (= a view's byteOffset). */
  offset: number;
  /** Usable size in bytes. */
  size: number;
  used: boolean;
}

/** One block reported by HeapPool.walk(): chunks in id order, blocks in address order. */
export interface HeapBlock {
  chunk: number;
  /** Byte offset in the chunk (= a view's byteOffset). */
  offset: number;
  /** Usable size (the class size; a large block's or lent chunk's bytes). */
  size: number;
  /** 'lent': a chunk lent to a child pool (one block of the chunk's size). */
  state: 'used' | 'free' | 'lent';
}

/** One piece of a RegionPool chunk reported by RegionPool.walk(). */
export interface RegionBlock {
  chunk: number;
  /** Byte offset in the chunk. */
  offset: number;
  /** Requested size (allocations), or bytes (tails). */
  size: number;
  /**
   * 'used': a live allocation; 'freed': a freed allocation whose block has not been
   * rewound (its bytes count as wasted); 'available': the tail of a block that
   * serves requests; 'wasted': the tail of a block the search skips.
   */
  state: 'used' | 'freed' | 'available' | 'wasted';
  /** A large block (one allocation, offset 0). */
  large: boolean;
}

/** One block of a SharedPool's area reported by SharedPool.walk() (every process's). */
export interface SharedBlock {
  /** Area offset of the block (= a view's byteOffset, what at() takes). */
  offset: number;
  /** Usable size. */
  size: number;
  /**
   * 'lent': a chunk a HeapPool borrowed; 'parked': a freed block a process keeps
   * in its cache; 'parkList': a process's park list.
   */
  state: 'used' | 'free' | 'lent' | 'parked' | 'parkList';
  /** The process that holds it (lent, parked, parkList), else null. */
  owner: number | null;
}

/** RegionPool statistics. */
export interface RegionPoolStats extends PoolStats {
  /** Blocks the pool holds (reset() keeps them; only destroy() releases blocks). */
  blocks: number;
  /** Live large blocks (allocations above maxSmall, and every allocAligned). */
  largeBlocks: number;
  /** Bytes of blocks neither in a live allocation nor available without a rewind (alignment
   *  padding, freed allocations whose block still holds live ones, skipped block tails). */
  wasted: number;
}

export interface RegionPoolOptions extends ReuseOptions {
  /** Bytes per block: >= 256, <= 2**30, a multiple of 16. Default 16384. */
  blockSize?: number;
}

/** HeapPool statistics. */
export interface HeapPoolStats extends PoolStats {
  /** Class chunks held (each 64 KiB-aligned, a multiple of 64 KiB), spares included. */
  classChunks: number;
  /** Empty class chunks kept for reuse (at most one per size class). */
  spareChunks: number;
  /** Live large blocks (requests above 2 MiB, or served so when no class chunk fit). */
  largeBlocks: number;
  /** Bytes of chunks lent to child pools (counted in `reserved`). */
  lentBytes: number;
  /** Live child pools. */
  children: number;
  /** Bytes of the side tables (live bitmaps and free stacks), outside the chunks. */
  metadataBytes: number;
}

/** SharedPool statistics: `used`, `allocations` etc. count every attached process's blocks. */
export interface SharedPoolStats extends PoolStats {
  /** Usable bytes in free blocks. */
  free: number;
  /** The largest single allocation that can succeed now. */
  largestFree: number;
  /** Bytes of the whole mapping (header, allocator metadata and block area); `capacity` and
   *  `reserved` are both the block area's size (it is reserved whole at create). */
  segmentSize: number;
  /** Crash recoveries of the allocator so far (a process died holding its lock). */
  generation: number;
}

/** How this process uses a segment (SharedPool.create, open and fromFd); each process chooses its own. */
export interface SharedPoolAttachOptions extends ReuseOptions {
  /**
   * Park small freed blocks (usable size <= 4 KiB, at most 256 KiB and 1/16 of the block
   * area in all) in a per-process cache, for the next allocation of their size class in
   * this process; default true. Parked blocks count as used for the other processes.
   */
  cache?: boolean;
  /**
   * How long wait() spins on the word (Atomics.load) before it sleeps on the futex, in
   * milliseconds (0 .. 1000; default 0.05, i.e. 50 µs; 0: no spin). The upper bound of an
   * adaptive spin: shortened while spins end asleep (oversubscribed CPUs), restored when they pay.
   */
  spinMs?: number;
  /**
   * How long this process's allocator calls (alloc, free, stats, ... and the attach itself)
   * wait for another live process holding the segment's allocator lock before they throw
   * ERR_POOL_LOCK_TIMEOUT, in milliseconds (0 .. 2**31 - 1; default 5000). A holder that
   * died is replaced at once whatever this says; the lock is held for microseconds normally.
   */
  lockTimeout?: number;
}

/** One of this package's named segments, as SharedPool.list() sees it (read-only, no attach). */
export interface SharedSegmentInfo {
  /** The segment's name ('/' + its file name in /dev/shm). */
  name: string;
  /** Bytes of the segment file. */
  size: number;
  /** Bytes of its block area. */
  capacity: number;
  /** Usable bytes of live blocks, over every process (a snapshot). */
  used: number;
  /** The process that created it (0: unknown), and whether that process still exists. */
  creatorPid: number;
  creatorAlive: boolean;
  /** When it was created (null: unknown). */
  createdAt: Date | null;
  /** Live processes with the segment open through this package (one entry per open handle). */
  attachedPids: number[];
  /** The thread id holding the allocator lock, or null when it is free. */
  lockHolder: number | null;
  /** Nobody can be using it: its creator is gone and no live process has it open. */
  stale: boolean;
  /** Its header failed validation (size, creatorPid and creatorAlive are still filled in). */
  corrupted: boolean;
}

/** A lock word of a segment as a snapshot read it. */
export interface SharedLockInfo {
  /** The thread id holding it, or null when it is free. */
  holder: number | null;
  /** Somebody may be asleep waiting for it (the word has one bit for this: no count). */
  waiters: boolean;
}

/**
 * A named segment read without attaching (SharedPool.snapshot): a private copy of the
 * file, so the processes using it are not disturbed (no lock, no write, no repair).
 */
export interface SharedSnapshot {
  name: string;
  size: number;
  capacity: number;
  creatorPid: number;
  creatorAlive: boolean;
  createdAt: Date | null;
  /** Live processes with the segment open (one entry per pid). */
  attachedPids: number[];
  allocatorLock: SharedLockInfo;
  userLock: SharedLockInfo;
  /**
   * The copy was taken with the allocator lock free before and after it and passes every
   * check: a consistent state. False after 50 copies that raced a writer, for a lock
   * holder that died mid-update (the next attach repairs it), or for damage (`check`).
   */
  consistent: boolean;
  /** Copies taken. */
  copies: number;
  /** The allocator's figures in the copy (null: its region table is damaged). */
  stats: {
    used: number;
    peakUsed: number;
    free: number;
    largestFree: number;
    allocations: number;
    failedAllocations: number;
    generation: number;
    lentChunks: number;
    lentBytes: number;
  } | null;
  /** null, or the first check the copy fails (the checks of SharedPool.check()). */
  check: string | null;
  /** Every block of the area, as SharedPool.walk() reports them (null: the block chain is broken). */
  blocks: SharedBlock[] | null;
  /** The roots directory. */
  roots: { key: string; offset: number }[];
}

export interface SharedPoolOptions extends SharedPoolAttachOptions {
  /** Bytes of the segment (header and allocator metadata included). */
  size: number;
  /** A POSIX shared-memory name: '/' then 1..254 bytes without '/'. Absent: an anonymous memfd. */
  name?: string;
  /** Permission bits of a named segment (0 .. 0o777), applied exactly; default 0o600. */
  mode?: number;
  /**
   * Unlink the named segment when this process exits (process 'exit'), so its name does not
   * outlive the program; default false. A process killed with SIGKILL cannot do this: see
   * SharedPool.list() and SharedPool.unlinkStale().
   */
  unlinkOnExit?: boolean;
}

export type PoolErrorCode =
  | 'ERR_POOL_EXHAUSTED'
  | 'ERR_POOL_FOREIGN_BUFFER'
  | 'ERR_POOL_DOUBLE_FREE'
  | 'ERR_POOL_DESTROYED'
  | 'ERR_POOL_IN_USE'
  | 'ERR_POOL_CORRUPTED'
  | 'ERR_POOL_LOCK_TIMEOUT'
  | 'ERR_POOL_SYSTEM';
