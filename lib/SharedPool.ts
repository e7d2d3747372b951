import { type InspectOptionsStylized, inspect } from 'node:util';

import { constants as bufferConstants } from 'node:buffer';
import { constants as osConstants } from 'node:os';

import * as errors from './core/errors.js';
import {
  afterDone,
  DeferredFrees,
  destroyedStats,
  detachRequested,
  lifetimeStats,
  overrideFree,
} from './core/lifetime.js';
import type { Completion, DestroyOptions } from './core/lifetime.js';
import { binding, decodeSystemFailure } from './core/native.js';
import type { ShmAttached, ShmStats } from './core/native.js';
import { madeHandle } from './core/nativeHandle.js';
import { makeView, viewOffset, viewOwner, viewTag } from './core/PoolBuffer.js';
import { PoolToken, inspectPool } from './core/inspect.js';
import type { PoolBuffer } from './core/PoolBuffer.js';
import {
  sizeError,
  validateCallocTotal,
  validateFunction,
  validateInteger,
  validateNativeBlock,
  validateObject,
  validateOptionalBoolean,
  validateView,
} from './core/validate.js';
import { attached, attachOptions, describeSegment, fail, validateKey, validateName } from './shared/attach.js';
import { listSegments, unlinkAtExit } from './shared/segments.js';
import { segmentHeapMap, sharedBlocks, snapshotSegment } from './shared/snapshot.js';
import { mapOptions } from './core/heapMap.js';
import type { HeapMapOptions } from './core/heapMap.js';
import type { AttachUse } from './shared/attach.js';
import { flushRecord, parkOpener, trackCache, untrackCache } from './shared/openCaches.js';
import type { CacheRecord } from './shared/openCaches.js';
import { SHARED_CACHE_MAX, SharedCache, limitFor } from './shared/SharedCache.js';
import { destroySharedChildren, registerSegment, sharedChunkOffset } from './shared/sharedParent.js';
import { SpinWait, WAIT_RESULTS, validateSpin } from './shared/spinWait.js';
import { Status } from './core/status.js';
import type {
  NativeBlock,
  SharedBlock,
  SharedPoolAttachOptions,
  SharedPoolOptions,
  SharedPoolStats,
  SharedSegmentInfo,
  SharedSnapshot,
} from './types.js';

const native = binding.shm;
/** The hot calls pass numbers through this array (see native/binding/shm_binding.cc). */
const scratch = native.scratch;
const nativeAlloc = native.alloc;
const nativeFree = native.free;

function allocNative(handle: number, size: number, zero: number): number {
  scratch[0] = handle;
  scratch[1] = size;
  scratch[2] = zero;
  nativeAlloc();
  return scratch[0]!;
}

function freeNative(handle: number, offset: number): number {
  scratch[0] = handle;
  scratch[1] = offset;
  nativeFree();
  return scratch[0]!;
}
const { minSize: MIN_SIZE, sysBase: SYS_BASE } = native.constants;
/** The block area is one ArrayBuffer: a segment may be at most buffer.constants.MAX_LENGTH bytes. */
const MAX_SIZE = Math.min(native.constants.maxSize, bufferConstants.MAX_LENGTH);
const MAX_LENGTH = bufferConstants.MAX_LENGTH;
/** Only the static methods construct pools. */
const INTERNAL = Symbol('SharedPool');
/** What a closed pool's area is: it keeps no mapping alive. */
const EMPTY = new ArrayBuffer(0);
/** Block header words and bits (native/alloc/tlsf.h "Block layout", from the binding). */
const {
  sizeWord: SIZE_WORD,
  alignWord: ALIGN_WORD,
  flagBits: FLAG_BITS,
  flagPrevFree: PREV_FREE,
  notLive: NOT_LIVE,
} = binding.layout;

/**
 * Melon-style shared-memory pool: one fixed-size segment (a named POSIX
 * segment or an anonymous memfd) holding a header, a TLSF allocator and the
 * block area, usable by every process that maps it at once. JavaScript sees
 * the block area only, as one external ArrayBuffer per mapping; offsets are
 * relative to the area start (= a view's byteOffset) and mean the same in
 * every process. close() makes the pool unusable in this process and unmaps
 * once no view of the mapping is reachable (views keep their bytes until then).
 *
 * Per-process cache (option `cache`, default on): a small block this process
 * allocated and frees is parked in a SharedCache and handed out again by this
 * process's next allocation of its size class, without a native call or a new
 * view (a block freed through an at() view goes back at once, so no two
 * processes ever park the same block). Parked
 * blocks stay allocated in the segment: other processes count them as used
 * until this process flushes them (flushCache(), close(), an allocation that
 * found no room, a normal exit, or garbage collection of an unclosed pool).
 * They are also listed in the segment (a park list, see SharedCache), so when
 * this process dies without flushing (SIGKILL, a crash) any other process's
 * next dead-owner sweep (an attach, an allocation that finds no room) frees
 * them; at most one block being parked or taken back at the kill is lost. This
 * process's stats() leaves its own parked blocks and park list out, as
 * TlsfPool.stats() leaves its cache out.
 */
export class SharedPool {
  readonly #handle: number;
  /** Keeps the native state alive for as long as this pool is reachable. */
  readonly #owner: object;
  /** The area (an empty buffer after close(), so the pool keeps no mapping alive). */
  #buffer: ArrayBuffer;
  readonly #fd: number;
  readonly #name: string | null;
  /** The owner token of this mapping's views. */
  readonly #token = new PoolToken('SharedPool');
  #closed = false;
  #unlinked = false;
  /** Whether this pool holds the user lock (relocking would deadlock). */
  #locked = false;
  /** Parked freed blocks of this process (null: option cache false). */
  #cache: SharedCache | null;
  /** The cache as the exit hook and the finalizer see it (null without a cache). */
  #record: CacheRecord | null;
  /** The block area as 32-bit words, to read a block's header (the 8 bytes before it; native/alloc/tlsf.h). */
  #words: Uint32Array;
  /** safeReuse: frees waiting for their view to be garbage (keys: area offsets). */
  readonly #deferred: DeferredFrees | null;
  /** Bytes of the block area (#buffer's byteLength, read once). */
  readonly #areaSize: number;
  /** wait()'s spin before the futex (option spinMs, adapted per wait). */
  readonly #spin: SpinWait;
  /** Failures the allocator counted for first attempts that a retry then served (or retried). */
  #retriedFailures = 0;
  /** The nativeHandle external, once asked for. */
  #nativeHandle: object | undefined;
  /** Option lockTimeout (ms), for ERR_POOL_LOCK_TIMEOUT's message. */
  readonly #lockTimeout: number;

  private constructor(key: symbol, result: ShmAttached, name: string | null, options: AttachUse) {
    if (key !== INTERNAL) throw errors.illegalConstructor('SharedPool.create, SharedPool.open or SharedPool.fromFd');
    this.#lockTimeout = options.lockTimeout;
    [this.#handle, this.#owner, this.#buffer, this.#fd] = result;
    this.#deferred = options.safeReuse ? new DeferredFrees((offset) => this.#releaseDeferred(offset)) : null;
    if (this.#deferred !== null) overrideFree(this, (buf) => this.#freeDeferred(buf));
    this.#name = name;
    registerSegment(this, this.#handle, this.#token, () => this.#closed); // for HeapPools with this parent
    this.#spin = new SpinWait(options.spinMs);
    this.#areaSize = this.#buffer.byteLength;
    this.#words = new Uint32Array(this.#buffer, 0, this.#areaSize >>> 2);
    const limit = limitFor(this.#areaSize);
    if (options.cache && limit >= 16) {
      this.#cache = new SharedCache(limit, this.#words, parkOpener(this.#handle));
      this.#record = { handle: this.#handle, owner: this.#owner, cache: this.#cache };
      trackCache(this.#record, this);
    } else {
      this.#cache = null;
      this.#record = null;
    }
  }

  /** A new segment: named (exclusive: ERR_POOL_SYSTEM EEXIST if it exists) or, without a name, an anonymous memfd. */
  static create(options: SharedPoolOptions): SharedPool {
    validateObject(options, 'options');
    const size = validateInteger(options.size, 'options.size', MIN_SIZE, MAX_SIZE);
    const name = options.name === undefined ? null : validateName(options.name, 'options.name');
    const mode = options.mode === undefined ? 0o600 : validateInteger(options.mode, 'options.mode', 0, 0o777);
    const unlinkOnExit = validateOptionalBoolean(options.unlinkOnExit, 'options.unlinkOnExit');
    const use = attachOptions(options, 'options');
    const result = native.create(name, size, mode, use.lockTimeout);
    const target = { label: 'options.name', value: name ?? '', name, lockTimeout: use.lockTimeout };
    const pool = new SharedPool(INTERNAL, attached(result, target), name, use);
    if (unlinkOnExit && name !== null) unlinkAtExit(name);
    return pool;
  }

  /**
   * Attaches to a named segment: ERR_INVALID_ARG_VALUE when the name leads to something
   * that is not a segment, ERR_POOL_CORRUPTED for a damaged one, ERR_POOL_LOCK_TIMEOUT when
   * a live process keeps its allocator lock.
   */
  static open(name: string, options?: SharedPoolAttachOptions): SharedPool {
    validateName(name, 'name');
    const use = attachOptions(options, 'options');
    const target = { label: 'name', value: name, name, lockTimeout: use.lockTimeout };
    return new SharedPool(INTERNAL, attached(native.open(name, use.lockTimeout), target), name, use);
  }

  /**
   * Attaches through a descriptor, e.g. one inherited from the parent (the pool keeps a
   * duplicate). A descriptor of anything but a segment (a pipe, a socket, a directory, a
   * device, an empty or foreign file) is refused at once with ERR_INVALID_ARG_VALUE.
   */
  static fromFd(fd: number, options?: SharedPoolAttachOptions): SharedPool {
    validateInteger(fd, 'fd', 0, 2 ** 31 - 1);
    const use = attachOptions(options, 'options');
    const result = native.fromFd(fd, use.lockTimeout);
    const target = { label: 'fd', value: fd, name: null, lockTimeout: use.lockTimeout };
    return new SharedPool(INTERNAL, attached(result, target), null, use);
  }

  /** Removes a segment's name without attaching (ERR_POOL_SYSTEM ENOENT when there is none). */
  static unlink(name: string): void {
    validateName(name, 'name');
    const status = native.unlink(name);
    if (status !== Status.OK) throw fail(status, 'shm_unlink', 0, name);
  }

  /**
   * This package's named segments on this machine (the files of /dev/shm that carry a
   * segment header), read without attaching: no lock is taken and nothing is written, so
   * the processes using them are not disturbed (the figures are a snapshot). Files this
   * process may not read are left out. O(files in /dev/shm + attach slots).
   */
  static list(): SharedSegmentInfo[] {
    return listSegments();
  }

  /**
   * Unlinks every stale segment of SharedPool.list() (its creator is gone and no live
   * process has it open): the names a SIGKILLed program left behind. Returns the names
   * removed. A process attaching by name at that moment can still open it first and keep
   * its mapping; the name is gone all the same.
   */
  /**
   * Reads the named segment without attaching: a private copy (pread; no lock taken,
   * nothing written), retried until it is consistent. Its stats, lock words, roots,
   * every block with its owner, and the result of the checks of check() on the copy.
   * A header that fails validation throws ERR_POOL_CORRUPTED.
   */
  static snapshot(name: string): SharedSnapshot {
    return snapshotSegment(name);
  }

  static unlinkStale(): string[] {
    const removed: string[] = [];
    for (const info of listSegments()) {
      if (!info.stale) continue;
      const status = native.unlink(info.name);
      if (status === Status.OK) removed.push(info.name);
    }
    return removed;
  }

  /** This process's descriptor of the segment (close-on-exec): hand it to children through fork's `stdio`. */
  get fd(): number {
    this.#live();
    return this.#fd;
  }

  /** The segment's name, or null (memfd, fromFd). */
  get name(): string | null {
    return this.#name;
  }

  /** True after close() or destroy(). */
  get destroyed(): boolean {
    return this.#closed;
  }

  /** capacity - used, over every attached process (this process's parked blocks count as available). */
  get availableCapacity(): number {
    return this.#stats().available + this.#parkedBytes();
  }

  /** How long wait() spins before it sleeps, in ms (option spinMs); settable, 0 .. 1000. */
  get spinMs(): number {
    return this.#spin.spinMs;
  }

  set spinMs(value: number) {
    this.#spin.spinMs = validateSpin(value, 'spinMs');
  }

  /** `size` bytes, 8-aligned, uninitialised. */
  alloc(size: number): Buffer {
    return this.#allocate(size, 0, true)!;
  }

  /** Like alloc, but null instead of ERR_POOL_EXHAUSTED. */
  tryAlloc(size: number): Buffer | null {
    return this.#allocate(size, 0, false);
  }

  /** Zero-filled count * size bytes. */
  calloc(count: number, size: number): Buffer {
    this.#live();
    const total = validateCallocTotal(count, size);
    if (total > MAX_LENGTH) throw errors.outOfRange('count * size', `<= ${MAX_LENGTH}`, total);
    return this.#allocate(total, 1, true)!;
  }

  /** Keeps min(old, new) bytes; the old view must not be used afterwards; on failure it stays valid. */
  realloc(buf: Buffer, size: number): Buffer {
    const offset = this.#liveOffsetOf(buf);
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_LENGTH) throw sizeError(size, 'size', 0, MAX_LENGTH);
    const moved = native.realloc(this.#handle, offset, size);
    if (moved < 0) throw this.#fail(moved, 'realloc', size);
    return this.#view(moved, size);
  }

  /**
   * Gives a block back; any attached process may free a block another one allocated.
   * A small block is parked in this process's cache (see the class comment).
   */
  free(buf: Buffer): void {
    const offset = this.#liveOffsetOf(buf);
    const cache = this.#cache;
    // Only blocks this process allocated through the cached path (views tagged with the
    // usable size the allocator gave the block, not 0) are parked, so no two processes ever
    // park one block; views from at() go back at once.
    const tag = viewTag(buf);
    if (cache !== null && tag !== 0) {
      // the header must still say live, plain and that size: another process freed the
      // block already, or an overflow of the block before rewrote the header, when it
      // does not (the native free tells which)
      if (this.#parkable(offset) === tag && cache.park(buf as unknown as PoolBuffer, offset, tag)) return;
    }
    const status = freeNative(this.#handle, offset);
    if (status !== Status.OK) throw this.#fail(status, 'free');
  }

  /**
   * Gives the blocks parked in this process's cache back to the segment, so that
   * other processes can use them (close() and an allocation that found no room do
   * it too). Throws the first failure after giving back every block.
   */
  flushCache(): void {
    this.#live();
    this.#flush();
  }

  /** The area offset of a view over this mapping: the same in every attached process. */
  offsetOf(buf: ArrayBufferView): number {
    this.#live();
    if (!ArrayBuffer.isView(buf))
      throw errors.invalidArgType('buf', 'an instance of Buffer, TypedArray, or DataView', buf);
    if (viewOwner(buf as Uint8Array) === this.#token) return viewOffset(buf as Uint8Array);
    const lent = sharedChunkOffset(buf, this.#token); // a view of a HeapPool child's chunk
    if (lent !== undefined) return lent;
    if (buf.buffer !== this.#buffer) throw errors.foreignBuffer();
    return buf.byteOffset;
  }

  /**
   * This mapping for other native addons: a type-tagged N-API external over a
   * mempools_pool_t (native/include/mempools.h; see docs/addons.md), callable from any
   * thread. Made on first use; after close() every call returns MEMPOOLS_ERR_DESTROYED.
   */
  get nativeHandle(): object {
    this.#nativeHandle ??= madeHandle(native.nativeHandle(this.#handle));
    return this.#nativeHandle;
  }

  /**
   * A view of `length` bytes of the live block an addon allocated through
   * nativeHandle: `where` is { chunk: 0, offset: the area offset }, so this is at(offset, length).
   */
  viewOf(where: NativeBlock, length: number): Buffer {
    this.#live();
    const { chunk, offset } = validateNativeBlock(where, 'where');
    if (chunk !== 0) throw errors.foreignBuffer();
    return this.at(offset, length);
  }

  /** A view of `length` bytes of the live allocation that starts at `offset` (as offsetOf gave it). */
  at(offset: number, length: number): Buffer {
    this.#live();
    validateInteger(offset, 'offset');
    validateInteger(length, 'length', 0, MAX_LENGTH);
    // a block this process parked was freed: as for a block the allocator holds free
    if (this.#cache !== null && offset < this.#areaSize && this.#cache.has(offset)) throw errors.doubleFree();
    const status = native.at(this.#handle, offset, length);
    if (status === Status.INVALID) throw errors.outOfRange('length', 'within the allocation', length);
    if (status !== Status.OK) throw this.#fail(status, 'at');
    return this.#view(offset, length);
  }

  /**
   * Takes the process-shared user lock, blocking this thread (synchronously). Not reentrant.
   * Returns true when the previous holder died holding it (found by asking the kernel, even
   * after SIGKILL): the lock is then held and usable, but the data it guards may be
   * half-updated; false otherwise. `timeout` (ms; default: none): throws
   * ERR_POOL_LOCK_TIMEOUT when a live holder keeps it that long.
   */
  lock(options?: { timeout?: number }): boolean {
    this.#live();
    let timeout = -1;
    if (options !== undefined) {
      validateObject(options, 'options');
      if (options.timeout !== undefined) timeout = validateInteger(options.timeout, 'options.timeout', 0, 2 ** 31 - 1);
    }
    if (this.#locked) throw errors.invalidState('the lock is already held by this SharedPool');
    const status = native.lock(this.#handle, timeout);
    if (status === Status.TIMEOUT) throw errors.lockTimeout('user', timeout, describeSegment(this.#name));
    if (status !== Status.OK && status !== Status.OWNER_DIED) throw this.#fail(status, 'futex');
    this.#locked = true;
    return status === Status.OWNER_DIED;
  }

  unlock(): void {
    this.#live();
    if (!this.#locked) throw errors.invalidState('the lock is not held by this SharedPool');
    const status = native.unlock(this.#handle);
    if (status !== Status.OK) throw this.#fail(status, 'futex');
    this.#locked = false;
  }

  /**
   * Runs fn under the lock (synchronously) and returns its result; unlocks even when
   * fn throws. fn gets lock()'s result: true when the previous holder died holding it.
   */
  withLock<T>(fn: (ownerDied: boolean) => T): T {
    validateFunction(fn, 'fn');
    const ownerDied = this.lock();
    try {
      return fn(ownerDied);
    } finally {
      if (this.#locked && !this.#closed) this.unlock();
    }
  }

  /**
   * Blocks until notify() on view[index] (any process), unless it does not hold
   * `expected` ('not-equal') or timeoutMs passes ('timed-out'). Spin, then park:
   * it first polls the word with Atomics.load for up to spinMs (default 50 µs,
   * within timeoutMs; adaptive, see shared/spinWait.ts) and returns 'ok' as soon as the word
   * changes, so that a prompt reply costs no sleep and no wake-up (an idle CPU can
   * take ~100 µs to wake); only then it sleeps on the futex.
   */
  wait(view: Int32Array, index: number, expected: number, timeoutMs?: number): 'ok' | 'not-equal' | 'timed-out' {
    const offset = this.#wordOffset(view, index);
    if (typeof expected !== 'number') throw errors.invalidArgType('expected', 'of type number', expected);
    let limit = Infinity;
    if (timeoutMs !== undefined) {
      if (typeof timeoutMs !== 'number') throw errors.invalidArgType('timeoutMs', 'of type number', timeoutMs);
      if (!(timeoutMs >= 0)) throw errors.outOfRange('timeoutMs', '>= 0', timeoutMs);
      limit = timeoutMs;
    }
    const value = expected | 0;
    if (Atomics.load(view, index) !== value) return 'not-equal';
    const spent = this.#spin.spin(view, index, value, limit);
    if (spent < 0) return 'ok';
    limit -= spent;
    const timeout = limit === Infinity ? -1 : Math.ceil(Math.max(0, limit));
    const status = native.wait(this.#handle, offset, value, timeout);
    const result = WAIT_RESULTS.get(status);
    if (result === undefined) throw this.#fail(status, 'futex');
    return result;
  }

  /** Wakes up to `count` (default: all) waiters on view[index] in any process; returns how many woke. */
  notify(view: Int32Array, index: number, count?: number): number {
    const offset = this.#wordOffset(view, index);
    const n = count === undefined || count === Infinity ? -1 : validateInteger(count, 'count', 0, 2 ** 31 - 2);
    const woken = native.notify(this.#handle, offset, n);
    if (woken < 0) throw this.#fail(woken, 'futex');
    return woken;
  }

  /** Records `offset` under `key` in the segment's roots directory (replacing an existing key). */
  setRoot(key: string, offset: number): void {
    this.#live();
    validateKey(key);
    validateInteger(offset, 'offset', 0, this.#buffer.byteLength - 1);
    const status = native.setRoot(this.#handle, key, offset);
    if (status !== Status.OK) throw this.#fail(status, 'setRoot');
  }

  getRoot(key: string): number | undefined {
    this.#live();
    validateKey(key);
    const offset = native.getRoot(this.#handle, key);
    if (offset === Status.NOT_FOUND) return undefined;
    if (offset < 0) throw this.#fail(offset, 'getRoot');
    return offset;
  }

  /** Removes `key` (no-op when absent). */
  deleteRoot(key: string): void {
    this.#live();
    validateKey(key);
    const status = native.deleteRoot(this.#handle, key);
    if (status !== Status.OK && status !== Status.NOT_FOUND) throw this.#fail(status, 'deleteRoot');
  }

  /**
   * The segment's figures over every attached process, except that this process's
   * parked blocks count as free (other processes count them as used). peakUsed is
   * the segment's high-water mark, parked blocks included. failedAllocations leaves
   * out the first attempts this process retried (class size, then after a flush);
   * other processes' retried attempts stay in it.
   */
  stats(): SharedPoolStats {
    if (this.#closed)
      return destroyedStats<SharedPoolStats>(this.#handle, { free: 0, largestFree: 0, segmentSize: 0, generation: 0 });
    const {
      segmentSize,
      capacity,
      used,
      peakUsed,
      free,
      largestFree,
      allocations,
      failedAllocations: failed,
      generation,
    } = this.#stats();
    const parked = this.#parkedBytes();
    return {
      capacity: capacity!,
      reserved: capacity!,
      used: used! - parked,
      peakUsed: peakUsed!,
      allocations: allocations! - (this.#cache === null ? 0 : this.#cache.blocks + (this.#cache.listed ? 1 : 0)),
      failedAllocations: Math.max(0, failed! - this.#retriedFailures),
      free: free! + parked,
      largestFree: largestFree!,
      segmentSize: segmentSize!,
      generation: generation!,
      ...lifetimeStats(this.#handle, this.#deferred),
    };
  }

  /**
   * A snapshot of every block of the area, in address order, under the allocator lock:
   * every process's blocks, with their owner where the segment records one (chunks lent
   * to HeapPools, blocks parked in a process's cache, its park list). This process's
   * parked blocks are given back first (flushCache()), so its own show as free.
   */
  walk(): SharedBlock[] {
    this.#live();
    this.#flush();
    const raw = native.walk(this.#handle);
    if (typeof raw === 'number') throw this.#fail(raw, 'walk');
    return sharedBlocks(raw);
  }

  /**
   * Gives the pages of the area's free blocks back to the system, for every process at
   * once (the segment's backing store: they read as zero afterwards, and cost memory
   * again when an allocation writes them), but each free block's first 16 and last 8
   * bytes, and the pages of the start bitmap that only free blocks map to. Blocks parked
   * in this process's cache go back first (flushCache()); live blocks, other processes'
   * parked blocks and chunks lent to HeapPools are not touched. Returns the bytes of
   * those pages that were resident. O(free blocks + their pages), under the allocator lock.
   */
  trim(): number {
    this.#live();
    this.#flush();
    const released = native.trim(this.#handle);
    if (released < 0) throw this.#fail(released, 'trim');
    return released;
  }

  /**
   * An SVG picture of the area (docs/api.md#heap-maps): one row, blocks used, free, lent
   * to a HeapPool or parked in a process's cache; block headers are overhead.
   */
  heapMap(options?: HeapMapOptions): string {
    mapOptions(options);
    const blocks = this.walk();
    const s = this.stats();
    const figures = { used: s.used, allocations: s.allocations, free: s.free, largestFree: s.largestFree };
    return segmentHeapMap(blocks, s.capacity, figures, [], options);
  }

  /**
   * Header, allocator and roots check under the allocator lock, and every block
   * parked in this process's cache still allocated; throws ERR_POOL_CORRUPTED with the reason.
   */
  check(): void {
    this.#live();
    const why = native.check(this.#handle);
    if (why !== null) throw errors.corrupted(why);
    this.#cache?.forEach((offset) => {
      if (this.#parkable(offset) === 0)
        throw errors.corrupted("a block parked in this process's cache was freed elsewhere");
    });
  }

  /**
   * Gives this process's parked blocks back, destroys the HeapPools over the
   * segment, releases the user lock if this pool holds it and makes the pool
   * unusable in this process; the mapping goes once no view of it (or of those
   * HeapPools' chunks) is reachable: views keep their bytes until then.
   * Idempotent. `{ unsafeDetachViews: true }` detaches every view and unmaps
   * now: only when no view can be in use by Node (an in-flight write, zlib,
   * crypto). Other processes and the segment itself are not affected.
   */
  close(options?: DestroyOptions): void {
    const detach = detachRequested(options);
    if (this.#closed) return;
    destroySharedChildren(this, detach); // HeapPools borrowing chunks first, as a HeapPool destroys its children
    if (this.#record !== null) {
      untrackCache(this.#record);
      flushRecord(this.#record);
    }
    if (this.#locked) native.unlock(this.#handle);
    this.#locked = false;
    this.#closed = true;
    this.#deferred?.clear();
    this.#cache = null;
    this.#record = null;
    this.#buffer = EMPTY;
    this.#words = new Uint32Array(0);
    native.close(this.#handle, detach);
  }

  /** Frees `buf` once `completion` (a promise, a stream, a response) is over; see whenDone. */
  freeAfter(buf: Buffer, completion: Completion): Promise<void> {
    this.#liveOffsetOf(buf);
    return afterDone(completion, () => {
      if (!this.#closed) this.free(buf);
    });
  }

  /** close() once `completion` (a promise, a stream, a response) is over; see whenDone. */
  closeAfter(completion: Completion): Promise<void> {
    return afterDone(completion, () => this.close());
  }

  /** destroy() (unlink, then close) once `completion` is over; see whenDone. */
  destroyAfter(completion: Completion): Promise<void> {
    return afterDone(completion, () => this.destroy());
  }

  /** free() of a safeReuse pool (see overrideFree): the block stays allocated (in every process) until `buf` is garbage. */
  #freeDeferred(buf: Buffer): void {
    const offset = this.#liveOffsetOf(buf);
    if (this.#deferred!.has(offset)) throw errors.doubleFree();
    this.#deferred!.defer(buf, offset, 0);
  }

  /** safeReuse: the view of the block at `offset` is garbage, so the block goes back now. */
  #releaseDeferred(offset: number): void {
    if (!this.#closed) freeNative(this.#handle, offset);
  }

  /** Removes the segment's name (no-op for an unnamed one); attached processes keep their mapping. */
  unlink(): void {
    this.#live();
    if (this.#name === null) return;
    const status = native.unlink(this.#name);
    if (status !== Status.OK) throw this.#fail(status, 'shm_unlink');
    this.#unlinked = true;
  }

  /** unlink() (when named and not yet unlinked; a name already gone is fine), then close(options). Idempotent. */
  destroy(options?: DestroyOptions): void {
    detachRequested(options);
    if (this.#closed) return;
    try {
      if (this.#name !== null && !this.#unlinked) {
        const status = native.unlink(this.#name);
        if (status !== Status.OK && decodeSystemFailure(status, SYS_BASE)?.errno !== osConstants.errno.ENOENT)
          throw this.#fail(status, 'shm_unlink');
        this.#unlinked = true;
      }
    } finally {
      this.close(options);
    }
  }

  /** close(): leaving a `using` block unmaps, and never removes a name other processes may use. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `await using`: the same as [Symbol.dispose]() (close()). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /** util.inspect(pool), console.log(pool): `SharedPool { ...stats() }`. */
  [inspect.custom](depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    return inspectPool('SharedPool', () => this.stats(), depth, options, inspectFn);
  }

  #live(): void {
    if (this.#closed) throw errors.destroyed();
  }

  /** The error of a native call on this segment that returned `code` (see fail()). */
  #fail(code: number, syscall: string, size = 0): Error {
    return fail(code, syscall, size, this.#name, this.#lockTimeout);
  }

  #stats(): ShmStats {
    this.#live();
    const raw = native.stats(this.#handle);
    if (typeof raw === 'number') throw this.#fail(raw, 'stats');
    return raw;
  }

  #allocate(size: number, zero: number, throwing: boolean): Buffer | null {
    this.#live();
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_LENGTH) throw sizeError(size, 'size', 0, MAX_LENGTH);
    const cache = this.#cache;
    if (cache !== null && size <= SHARED_CACHE_MAX) {
      const parked = cache.take(size);
      if (parked !== undefined) {
        const view = this.#reuse(parked, size);
        if (view !== null) return zero === 0 ? view : view.fill(0);
      }
      // Served at the class size, so that the block goes back to this class when freed.
      const offset = allocNative(this.#handle, SharedCache.classSize(size), zero);
      if (offset >= 0) return this.#view(offset, size, this.#usableAt(offset));
      if (offset !== Status.NOMEM) throw this.#fail(offset, 'alloc', size);
      this.#retriedFailures++;
    }
    let offset = allocNative(this.#handle, size, zero);
    if (offset === Status.NOMEM && cache !== null && cache.listed) {
      this.#flush();
      this.#retriedFailures++;
      offset = allocNative(this.#handle, size, zero);
    }
    if (offset >= 0) return this.#view(offset, size);
    if (offset === Status.NOMEM && !throwing) return null;
    throw this.#fail(offset, 'alloc', size);
  }

  /**
   * A parked block taken back: its old view when the length matches, else a new
   * one; null (the block dropped from the cache) when its header says another
   * process freed it meanwhile.
   */
  #reuse(parked: PoolBuffer, size: number): Buffer | null {
    const offset = viewOffset(parked);
    // its header still says: live, same size (F_PREV_FREE, bit 1, may change under us)
    if ((this.#words[(offset >>> 2) + SIZE_WORD]! & ~PREV_FREE) !== this.#cache!.popped) return null;
    return parked.length === size ? (parked as unknown as Buffer) : this.#view(offset, size, this.#cache!.popped);
  }

  /**
   * The usable size the header of the block the allocator just returned at `offset`
   * says: the parkable views' tag, the size the block is parked with later.
   */
  #usableAt(offset: number): number {
    const word = this.#words[(offset >>> 2) + SIZE_WORD]!;
    return word - (word & FLAG_BITS);
  }

  /** The usable size of the live block at `offset` if the cache may park it (from its header), else 0. */
  #parkable(offset: number): number {
    const at = offset >>> 2;
    const word = this.#words[at + SIZE_WORD]!;
    if (this.#words[at + ALIGN_WORD] !== 0 || (word & NOT_LIVE) !== 0) return 0;
    const usable = word - (word & FLAG_BITS);
    return usable >= 16 && usable <= SHARED_CACHE_MAX && offset + usable <= this.#areaSize ? usable : 0;
  }

  /** This process's parked bytes and its park list's: counted as free here, as used elsewhere. */
  #parkedBytes(): number {
    return this.#cache === null ? 0 : this.#cache.bytes + this.#cache.listBytes;
  }

  /** Gives the parked blocks and the park list back; throws a failure after all went back. */
  #flush(): void {
    // without a cache of its own, only the blocks the nativeHandle parked for addons
    const status = this.#record === null ? native.drainCache(this.#handle) : flushRecord(this.#record);
    if (status < 0) throw this.#fail(status, 'free');
  }

  /** A view of this mapping; a block the C pool placed past the area means a damaged segment. */
  #view(offset: number, length: number, tag = 0): Buffer {
    if (offset + length > this.#areaSize) throw errors.corrupted('a block lies outside the block area');
    return makeView(this.#buffer, offset, length, this.#token, tag);
  }

  /**
   * The offset of a view this pool made (alloc, at, realloc) whose block is not
   * parked in this process's cache (that is a double free); anything else is foreign.
   */
  #liveOffsetOf(buf: Buffer): number {
    this.#live();
    validateView(buf, 'buf');
    if (viewOwner(buf) !== this.#token) throw errors.foreignBuffer();
    const offset = viewOffset(buf);
    if (this.#cache !== null && this.#cache.has(offset)) throw errors.doubleFree();
    return offset;
  }

  /** The area offset of view[index], an Int32Array over this mapping. */
  #wordOffset(view: Int32Array, index: number): number {
    this.#live();
    if (!(view instanceof Int32Array)) throw errors.invalidArgType('view', 'an instance of Int32Array', view);
    // over the area, or over a chunk a HeapPool child borrowed from it
    const base = view.buffer === this.#buffer ? view.byteOffset : sharedChunkOffset(view, this.#token);
    if (base === undefined) throw errors.foreignBuffer();
    validateInteger(index, 'index', 0, Math.max(0, view.length - 1));
    if (index >= view.length) throw errors.outOfRange('index', `< ${view.length}`, index);
    return base + index * 4;
  }
}
