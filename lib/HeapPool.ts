import { type InspectOptionsStylized, inspect } from 'node:util';

import { constants as bufferConstants } from 'node:buffer';
import { constants as osConstants } from 'node:os';

import * as errors from './core/errors.js';
import { FreeListCache } from './core/FreeListCache.js';
import { chunkHeapMap, formatBytes, mapOptions } from './core/heapMap.js';
import type { HeapMapOptions, MapRow, MapState } from './core/heapMap.js';
import { binding } from './core/native.js';
import {
  afterDone,
  DeferredFrees,
  destroyedStats,
  detachRequested,
  lifetimeStats,
  overrideFree,
} from './core/lifetime.js';
import type { Completion, DestroyOptions } from './core/lifetime.js';
import * as liveBits from './core/liveBits.js';
import { madeHandle } from './core/nativeHandle.js';
import { makeView, viewOffset, viewOwner } from './core/PoolBuffer.js';
import { PoolToken, inspectPool } from './core/inspect.js';
import type { PoolBuffer } from './core/PoolBuffer.js';
import type { SharedPool } from './SharedPool.js';
import { addSharedChild, deleteSharedChild, recordSharedChunk, segmentOf } from './shared/sharedParent.js';
import type { Segment } from './shared/sharedParent.js';
import { ceilTable } from './core/sizeClasses.js';
import { Status } from './core/status.js';
import type { HeapBlock, HeapPoolStats, NativeBlock, ReuseOptions } from './types.js';

import {
  sizeError,
  validateCallocTotal,
  validateInteger,
  validateViewOf,
  validateObject,
  validateOptionalBoolean,
  validateView,
} from './core/validate.js';

// Local bindings, not `import { setBit } ...`: the CommonJS output calls a named
// import as `(0, module.fn)(...)`, which V8 inlined worse in HeapPool's alloc/free
// loop (~50 instructions more per op); a const inlines like the bare expression.
const { clearBit, hasBit, setBit } = liveBits;

const native = binding.heap;
/** The C walk's states (heap_pool.h / region_pool.h enum ..._block_state), by number. */
const HEAP_STATES: readonly HeapBlock['state'][] = ['free', 'used', 'lent'];
/** The hot calls pass numbers through this array (see native/binding/heap_binding.cc). */
const scratch = native.scratch;
const nativeAlloc = native.alloc;
const nativeRealloc = native.realloc;
const nativeFree = native.free;
const { heapLiveShift: LIVE_SHIFT } = binding.layout;
const { classSizes: CLASS_SIZES, zero: ZERO, maxRequest: MAX_REQUEST } = native.constants;
/** Largest allocation: a large block is one ArrayBuffer, at most buffer.constants.MAX_LENGTH bytes. */
const MAX_LENGTH = Math.min(bufferConstants.MAX_LENGTH, MAX_REQUEST);
/** Largest class the JavaScript-side free-list cache keeps. */
const CACHE_MAX = 16384;
/** The cached classes: the heap pool's own, 16 B .. CACHE_MAX (cache class c = heap class c). */
const CACHED_SIZES = CLASS_SIZES.filter((size) => size <= CACHE_MAX);
/** CEIL[ceil(n / 16)] = the heap class of a request of n <= CACHE_MAX bytes. */
const CEIL = ceilTable(CACHED_SIZES, CACHE_MAX);

function allocNative(handle: number, size: number, flags: number): number {
  scratch[0] = handle;
  scratch[1] = size;
  scratch[2] = flags;
  nativeAlloc();
  return scratch[0]!;
}

function freeNative(handle: number, chunk: number, offset: number): number {
  scratch[0] = handle;
  scratch[1] = chunk;
  scratch[2] = offset;
  nativeFree();
  return scratch[0]!;
}

/** A chunk of the pool (a class chunk or a large block): the owner token of its views. */
interface Chunk {
  readonly id: number;
  readonly buffer: ArrayBuffer;
  /** Usable size of each allocation in it: the class size, or a large block's bytes. */
  readonly usable: number;
  /** The free-list cache class of its blocks, -1 when they are not cached (large, or above CACHE_MAX). */
  readonly cls: number;
  /** One bit per 16 bytes, set while an allocation the user holds starts there. */
  readonly live: Int32Array;
  /** The pool's token: a view whose owner lacks it is another pool's, or no pool's. */
  readonly pool: object;
}

// The options types live here, not in types.ts, because they name the pool
// classes: types.ts imports nothing, so no file's imports lead back to itself.
/**
 * What a HeapPool can take its chunks from: another HeapPool, or a SharedPool's
 * segment (64 KiB chunks lent under the allocator lock; blocks are then served
 * in this process without locking, and only this process may free them).
 */
export type HeapPoolParent = HeapPool | SharedPool;

export interface HeapPoolOptions extends ReuseOptions {
  /** Most bytes the pool may hold (chunks, large blocks and chunks lent to children); 0 or absent: unbounded. */
  capacity?: number;
  /** The pool the chunks come from (it counts them against its own capacity). */
  parent?: HeapPoolParent;
  /** A lock in every native call, so other addons may allocate from any thread through nativeHandle.
   *  A child pool shares its HeapPool parent's lock: it is thread-safe exactly when the parent is. */
  threadSafe?: boolean;
}

/**
 * Melon-style heap pool: 34 size classes (16 B .. 2 MiB) with LIFO free lists
 * in 64 KiB-aligned chunks, large blocks above, an optional capacity, and
 * cascading: a child pool takes its chunks from its parent. Allocations are
 * 16-byte aligned Buffer views of the chunk's external ArrayBuffer; freed
 * small blocks wait in a JavaScript-side cache for the next request of their
 * class. destroy() destroys the children first, then the pool, detaching
 * every view of them all.
 */
export class HeapPool {
  readonly #handle: number;
  /** Keeps the native state alive for as long as this pool is reachable. */
  readonly #owner: object;
  readonly #token = new PoolToken('HeapPool');
  /** The pool the chunks come from; referenced so that it lives as long as this one. */
  readonly #parent: HeapPool | undefined;
  /** The SharedPool whose segment lends the chunks (this pool's parent or an ancestor's), and its mapping. */
  readonly #shared: SharedPool | undefined;
  readonly #segment: Segment | undefined;
  /** Child pools, weakly: a child dropped without destroy() can be collected. */
  readonly #children = new Set<WeakRef<HeapPool>>();
  readonly #self = new WeakRef<HeapPool>(this);
  /** Chunks by chunk id, as the C pool numbers them (an entry may be a released chunk's). */
  readonly #chunks: (Chunk | undefined)[] = [];
  readonly #cache = new FreeListCache(CACHED_SIZES, 256, {
    release: (view) => this.#giveBack(view),
    liveBytes: () => this.#used,
  });
  #destroyed = false;
  /** Failures the C pool counted for first attempts that a retry then served. */
  #retriedFailures = 0;
  /** Bytes and count of allocations the user holds, and the high-water mark of #used.
   *  The C pool also counts the cached blocks, so these are kept here. */
  #used = 0;
  #peakUsed = 0;
  #allocations = 0;
  readonly #threadSafe: boolean;
  /** safeReuse: frees waiting for their view to be garbage (keys: chunk * 2**32 + offset). */
  readonly #deferred: DeferredFrees | null;
  /** The nativeHandle external, once asked for. */
  #nativeHandle: object | undefined;

  constructor(options: HeapPoolOptions = {}) {
    validateObject(options, 'options');
    const capacity = options.capacity === undefined ? 0 : validateInteger(options.capacity, 'options.capacity');
    const given = options.parent;
    const parent = given instanceof HeapPool ? given : undefined;
    // A SharedPool registers its segment when it is made (shared/sharedParent.ts):
    // that, not instanceof, tells one, so this file never imports SharedPool's code.
    const lent = given === undefined || parent !== undefined ? undefined : segmentOf(given);
    if (given !== undefined && parent === undefined && lent === undefined) {
      throw errors.invalidArgType('options.parent', 'an instance of HeapPool or SharedPool', given);
    }
    const shared = lent !== undefined ? (given as SharedPool) : parent === undefined ? undefined : parent.#shared;
    const segment = lent ?? (shared === undefined ? undefined : segmentOf(shared));
    if ((parent !== undefined && parent.#destroyed) || segment?.closed() === true) throw errors.destroyed();
    const lender = lent !== undefined ? lent.handle : -1;
    // A child shares its parent's lock, so it is thread-safe exactly when the parent is.
    const threadSafe = validateOptionalBoolean(
      options.threadSafe,
      'options.threadSafe',
      parent === undefined ? false : parent.#threadSafe,
    );
    if (parent !== undefined && threadSafe !== parent.#threadSafe) {
      throw errors.invalidArgValue(
        'options.threadSafe',
        `must be ${parent.#threadSafe} (the parent's: a child shares its lock)`,
        threadSafe,
      );
    }
    this.#threadSafe = threadSafe;
    this.#deferred = validateOptionalBoolean(options.safeReuse, 'options.safeReuse')
      ? new DeferredFrees((key) => this.#releaseDeferred(key))
      : null;
    if (this.#deferred !== null) overrideFree(this, (buf) => this.#freeDeferred(buf));
    const created = native.create(capacity, parent === undefined ? -1 : parent.#handle, lender, threadSafe);
    if (typeof created === 'number') {
      throw created === Status.NOMEM
        ? errors.system(osConstants.errno.ENOMEM, 'malloc')
        : errors.fromStatus(created, 0, 'heap');
    }
    [this.#handle, this.#owner] = created;
    this.#parent = parent;
    this.#shared = shared;
    this.#segment = segment;
    if (parent !== undefined) parent.#addChild(this);
    else if (segment !== undefined) addSharedChild(segment, this, this.#self);
  }

  /** True after destroy(), of this pool or of an ancestor. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** The pool the chunks come from, or null. */
  get parent(): HeapPool | SharedPool | null {
    return this.#parent ?? this.#shared ?? null;
  }

  /**
   * capacity - reserved: how many more bytes the pool may obtain (Infinity when
   * unbounded); with a SharedPool parent (or ancestor), at most what its segment has left.
   */
  get availableCapacity(): number {
    this.#live();
    const raw = native.availableCapacity(this.#handle);
    const available = raw === -1 ? Infinity : raw;
    return this.#shared === undefined ? available : Math.min(available, this.#shared.availableCapacity);
  }

  /**
   * The pool for other native addons: a type-tagged N-API external over a
   * mempools_pool_t (native/include/mempools.h; see docs/addons.md). Made on first use;
   * after destroy() every call through it returns MEMPOOLS_ERR_DESTROYED.
   */
  get nativeHandle(): object {
    this.#nativeHandle ??= madeHandle(native.nativeHandle(this.#handle));
    return this.#nativeHandle;
  }

  /**
   * A view of `length` bytes of the live block an addon allocated through
   * nativeHandle at `where` ({ chunk, offset }), without a copy. The addon may
   * still free the block; free(view) gives it back from here.
   */
  viewOf(where: NativeBlock, length: number): Buffer {
    this.#live();
    const { chunk: id, offset } = validateViewOf(where, length);
    const usable = native.addonBlock(this.#handle, id, offset);
    if (usable < 0) throw errors.fromStatus(usable, 0, 'heap');
    if (length > usable) throw errors.outOfRange('length', `<= ${usable} (the block's usable size)`, length);
    let chunk = this.#chunks[id];
    // An addon may have made the chunk (unknown here) or a new incarnation of its id.
    if (chunk === undefined || !binding.isChunkBuffer(this.#handle, id, chunk.buffer)) chunk = this.#recordChunk(id);
    return makeView(chunk.buffer, offset, length, chunk);
  }

  /** `size` bytes, 16-aligned, uninitialised. */
  alloc(size: number): Buffer {
    return this.#allocate(size, 0, true)!;
  }

  /** Like alloc, but null instead of ERR_POOL_EXHAUSTED. */
  tryAlloc(size: number): Buffer | null {
    return this.#allocate(size, 0, false);
  }

  /** Zero-filled count * size bytes, 16-aligned. */
  calloc(count: number, size: number): Buffer {
    this.#live();
    const total = validateCallocTotal(count, size);
    if (total > MAX_LENGTH) throw errors.outOfRange('count * size', `<= ${MAX_LENGTH}`, total);
    return this.#allocate(total, ZERO, true)!;
  }

  /**
   * Keeps min(old, new) bytes. A block whose usable size still fits stays in
   * place (a new view of it); otherwise it moves. The old view must not be used
   * afterwards; on failure it stays valid.
   */
  realloc(buf: Buffer, size: number): Buffer {
    this.#live();
    const chunk = this.#liveChunkOf(buf);
    const offset = viewOffset(buf);
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_LENGTH) throw sizeError(size, 'size', 0, MAX_LENGTH);
    if (size <= chunk.usable) return makeView(chunk.buffer, offset, size, chunk);
    const attempt = (): number => {
      scratch[0] = this.#handle;
      scratch[1] = chunk.id;
      scratch[2] = offset;
      scratch[3] = size;
      nativeRealloc();
      return scratch[0]!;
    };
    const id = this.#retried(attempt(), attempt);
    if (id < 0) throw errors.fromStatus(id, size, 'heap');
    this.#forget(chunk, offset);
    return this.#handOut(id, size);
  }

  /**
   * Gives the allocation back; small blocks wait on this side for the next
   * request of their class. safeReuse: the block goes back once `buf` is garbage.
   */
  free(buf: Buffer): void {
    if (this.#destroyed) throw errors.destroyed();
    const chunk = this.#liveChunkOf(buf);
    const offset = viewOffset(buf);
    if (chunk.cls >= 0 && this.#cache.push(chunk.cls, buf as unknown as PoolBuffer, chunk.usable)) {
      this.#forget(chunk, offset);
      return;
    }
    this.#freeNow(chunk, offset);
  }

  /**
   * free()'s native part, kept out of free(): V8 inlines free() into the
   * caller's loop only while it stays this small (measured: +54 instructions
   * per 64 B alloc/free pair with these lines inline).
   */
  #freeNow(chunk: Chunk, offset: number): void {
    const status = freeNative(this.#handle, chunk.id, offset);
    if (status !== Status.OK) throw errors.fromStatus(status, 0, 'heap');
    this.#forget(chunk, offset);
  }

  /** After destroy() every figure is 0 but heldBytes/heldChunks (counted at the family's root). */
  stats(): HeapPoolStats {
    if (this.#destroyed)
      return destroyedStats<HeapPoolStats>(this.#handle, {
        classChunks: 0,
        spareChunks: 0,
        largeBlocks: 0,
        lentBytes: 0,
        children: 0,
        metadataBytes: 0,
      });
    const raw = native.stats(this.#handle);
    if (typeof raw === 'number') throw errors.fromStatus(raw, 0, 'heap');
    const {
      capacity,
      reserved,
      failedAllocations: failed,
      classChunks,
      spareChunks,
      largeBlocks,
      lentBytes,
      children,
      metadataBytes: metadata,
    } = raw;
    const [addonUsed, addonAllocations] = this.#addonStats();
    // Blocks addons hold count too; their peak is seen here and at JavaScript's allocations.
    const used = this.#used + addonUsed;
    if (used > this.#peakUsed) this.#peakUsed = used;
    return {
      capacity: capacity === -1 ? Infinity : capacity!,
      reserved: reserved!,
      used,
      peakUsed: this.#peakUsed,
      allocations: this.#allocations + addonAllocations,
      failedAllocations: failed! - this.#retriedFailures,
      classChunks: classChunks!,
      spareChunks: spareChunks!,
      largeBlocks: largeBlocks!,
      lentBytes: lentBytes!,
      children: children!,
      metadataBytes: metadata!,
      ...lifetimeStats(this.#handle, this.#deferred),
    };
  }

  /**
   * A snapshot of every block, chunks in id order and blocks in address order: each
   * block of a class chunk (used or free), a large block, a chunk lent to a child
   * pool. Blocks in this pool's cache of freed blocks are given back first (free).
   */
  walk(): HeapBlock[] {
    this.#live();
    this.#drainCache();
    const raw = native.walk(this.#handle);
    if (typeof raw === 'number') throw errors.fromStatus(raw, 0, 'heap');
    const blocks: HeapBlock[] = [];
    for (let i = 0; i < raw.length; i += 4) {
      blocks.push({ chunk: raw[i]!, offset: raw[i + 1]!, size: raw[i + 2]!, state: HEAP_STATES[raw[i + 3]!]! });
    }
    return blocks;
  }

  /**
   * An SVG picture of the pool (docs/api.md#heap-maps): one row per chunk, its blocks
   * used, free or lent to a child; bytes past a class chunk's last block are overhead.
   */
  heapMap(options?: HeapMapOptions): string {
    mapOptions(options);
    const blocks = this.walk();
    const chunks = native.chunks(this.#handle);
    if (typeof chunks === 'number') throw errors.fromStatus(chunks, 0, 'heap');
    const rows = new Map<number, MapRow>();
    for (let i = 0; i < chunks.length; i += 4) {
      const [id, bytes, kind, size] = [chunks[i]!, chunks[i + 1]!, chunks[i + 2]!, chunks[i + 3]!];
      const label =
        kind === 1 ? `chunk ${id} · class ${formatBytes(size)}` : `chunk ${id} · ${kind === 2 ? 'large' : 'lent'}`;
      rows.set(id, { label, bytes, extents: [] });
    }
    const stateOf = (b: HeapBlock): MapState => (b.state === 'used' ? 'used' : b.state === 'lent' ? 'lent' : 'free');
    return chunkHeapMap('HeapPool', rows, blocks, stateOf, this.stats(), options);
  }

  /** Full invariant check of the C pool's metadata (its children's too); throws ERR_POOL_CORRUPTED with the reason. */
  check(): void {
    this.#live();
    const why = native.check(this.#handle);
    if (why !== null) throw errors.corrupted(why);
    const raw = native.stats(this.#handle);
    const [addonUsed, addonAllocations] = this.#addonStats();
    const deferredBytes = this.#deferred?.bytes ?? 0;
    const deferredBlocks = this.#deferred?.blocks ?? 0;
    if (
      typeof raw === 'number' ||
      raw.used !== this.#used + this.#cache.bytes + deferredBytes + addonUsed ||
      raw.allocations !== this.#allocations + this.#cache.blocks + deferredBlocks + addonAllocations
    ) {
      throw errors.corrupted("the pool's accounting disagrees with the heap pool");
    }
  }

  /**
   * Destroys the child pools (deepest first), then this pool: all unusable at
   * once, and all their memory freed but for the chunks a view can still
   * reach, which stay mapped (the views keep their bytes) until the views are
   * garbage. Idempotent. `{ unsafeDetachViews: true }` detaches every view and
   * frees now: only when no view can be in use by Node (an in-flight write,
   * zlib, crypto).
   */
  destroy(options?: DestroyOptions): void {
    const detach = detachRequested(options);
    if (this.#destroyed) return;
    this.#markDestroyed();
    native.destroy(this.#handle, detach);
    if (this.#parent !== undefined) this.#parent.#children.delete(this.#self);
    else if (this.#segment !== undefined) deleteSharedChild(this.#segment, this.#self);
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  /** `await using`: the same as [Symbol.dispose]() (destroy()). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.destroy();
  }

  /** util.inspect(pool), console.log(pool): `HeapPool { ...stats() }`. */
  [inspect.custom](depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    return inspectPool('HeapPool', () => this.stats(), depth, options, inspectFn);
  }

  /** Throws ERR_POOL_DESTROYED after destroy() (free() and alloc() keep the check inline: their speed). */
  #live(): void {
    if (this.#destroyed) throw errors.destroyed();
  }

  /** Frees `buf` once `completion` (a promise, a stream, a response) is over; see whenDone. */
  freeAfter(buf: Buffer, completion: Completion): Promise<void> {
    this.#live();
    this.#liveChunkOf(buf);
    return afterDone(completion, () => {
      if (!this.#destroyed) this.free(buf);
    });
  }

  /** destroy() once `completion` (a promise, a stream, a response) is over; see whenDone. */
  destroyAfter(completion: Completion): Promise<void> {
    return afterDone(completion, () => this.destroy());
  }

  /** free() of a safeReuse pool (see overrideFree): the block stays allocated until `buf` is garbage. */
  #freeDeferred(buf: Buffer): void {
    this.#live();
    const chunk = this.#liveChunkOf(buf);
    const offset = viewOffset(buf);
    this.#deferred!.defer(buf, chunk.id * 2 ** 32 + offset, chunk.usable);
    this.#forget(chunk, offset);
  }

  /** safeReuse: the view of the block `key` names is garbage, so the block goes back now. */
  #releaseDeferred(key: number): void {
    if (this.#destroyed) return;
    freeNative(this.#handle, Math.floor(key / 2 ** 32), key % 2 ** 32);
  }

  /** [usable bytes, count] of the blocks addons hold through nativeHandle ([0, 0] without one). */
  #addonStats(): [number, number] {
    if (this.#nativeHandle === undefined) return [0, 0];
    const raw = native.addonStats(this.#handle);
    if (typeof raw === 'number') throw errors.fromStatus(raw, 0, 'heap');
    return raw;
  }

  #allocate(size: number, flags: number, throwing: boolean): Buffer | null {
    if (this.#destroyed) throw errors.destroyed();
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_LENGTH) throw sizeError(size, 'size', 0, MAX_LENGTH);
    if (flags === 0 && size <= CACHE_MAX) {
      const cached = this.#cache.pop(CEIL[(size + 15) >>> 4]!);
      if (cached !== undefined) return this.#reuse(cached, size);
    }
    const id = this.#retried(allocNative(this.#handle, size, flags), () => allocNative(this.#handle, size, flags));
    if (id >= 0) return this.#handOut(id, size);
    if (id === Status.NOMEM && !throwing) return null;
    throw errors.fromStatus(id, size, 'heap');
  }

  /** On NOMEM, gives the cached blocks of this pool and its ancestors back and retries once. */
  #retried(status: number, attempt: () => number): number {
    if (status !== Status.NOMEM) return status;
    let drained = false;
    for (let pool: HeapPool | undefined = this; pool !== undefined; pool = pool.#parent) {
      if (pool.#cache.blocks > 0) {
        pool.#drainCache();
        drained = true;
      }
    }
    if (!drained) return status;
    this.#retriedFailures++; // the C pool counted the first attempt; the user sees at most one failure
    return attempt();
  }

  /** The view of `length` bytes for chunk `id` an allocating native call left in the scratch array. */
  #handOut(id: number, length: number): Buffer {
    const offset = scratch[1]!;
    const chunk = scratch[2] !== 0 ? this.#recordChunk(id) : this.#chunks[id]!;
    const bit = offset >>> LIVE_SHIFT;
    setBit(chunk.live, bit);
    this.#account(chunk.usable);
    return makeView(chunk.buffer, offset, length, chunk);
  }

  /** Hands out a cached block: its old view again when the length matches, else a new one. */
  #reuse(view: PoolBuffer, length: number): Buffer {
    const chunk = viewOwner(view) as Chunk;
    const offset = viewOffset(view);
    const bit = offset >>> LIVE_SHIFT;
    setBit(chunk.live, bit);
    this.#account(chunk.usable);
    return view.length === length ? (view as unknown as Buffer) : makeView(chunk.buffer, offset, length, chunk);
  }

  #account(usable: number): void {
    this.#used += usable;
    if (this.#used > this.#peakUsed) this.#peakUsed = this.#used;
    this.#allocations++;
  }

  /** Undoes #handOut / #reuse for a block the user no longer holds. */
  #forget(chunk: Chunk, offset: number): void {
    const bit = offset >>> LIVE_SHIFT;
    clearBit(chunk.live, bit);
    this.#used -= chunk.usable;
    this.#allocations--;
  }

  /** Records a chunk that has no ArrayBuffer yet, with its ArrayBuffer. */
  #recordChunk(id: number): Chunk {
    const made = native.chunkBuffer(this.#handle, id);
    if (made === undefined) throw errors.fromStatus(Status.INVALID, 0, 'heap');
    const [buffer, block, area] = made;
    if (area >= 0 && this.#segment !== undefined) recordSharedChunk(buffer, this.#segment, area, this.#handle, id);
    const usable = block === 0 ? buffer.byteLength : block;
    const cls = block !== 0 && block <= CACHE_MAX ? CEIL[block >>> 4]! : -1;
    const live = new Int32Array(block === 0 ? 1 : Math.ceil(buffer.byteLength / 512));
    const chunk: Chunk = { id, buffer, usable, cls, live, pool: this.#token };
    this.#chunks[id] = chunk;
    return chunk;
  }

  /**
   * The chunk of a view that is a live allocation of this pool. Only views as
   * the pool returned them carry their (chunk, offset); any other view (a
   * sub-view, a view rebuilt from buffer and byteOffset, a plain Buffer,
   * another pool's view, a child's) is ERR_POOL_FOREIGN_BUFFER. A view of this
   * pool whose block is not live was freed: ERR_POOL_DOUBLE_FREE.
   */
  #liveChunkOf(buf: Buffer): Chunk {
    validateView(buf, 'buf');
    const chunk = viewOwner(buf) as Partial<Chunk> | undefined;
    if (chunk?.pool !== this.#token) throw errors.foreignBuffer();
    const bit = viewOffset(buf) >>> LIVE_SHIFT;
    if (!hasBit(chunk.live!, bit)) {
      // Not one of this side's: a block an addon allocated (viewOf) becomes this pool's, else it was freed.
      if (this.#nativeHandle === undefined || !this.#takeAddonBlock(chunk as Chunk, viewOffset(buf)))
        throw errors.doubleFree();
    }
    return chunk as Chunk;
  }

  /** Makes the addon block at (chunk, offset) this pool's, as alloc() made it; false when it is none. */
  #takeAddonBlock(chunk: Chunk, offset: number): boolean {
    if (native.adopt(this.#handle, chunk.id, offset) < 0) return false;
    const bit = offset >>> LIVE_SHIFT;
    setBit(chunk.live, bit);
    this.#account(chunk.usable);
    return true;
  }

  /** Gives every cached block back to the C pool. */
  #drainCache(): void {
    this.#cache.drain((view) => this.#giveBack(view));
  }

  /** Gives a block the cache held back to the C pool (a drain or the cache's decay). */
  #giveBack(view: PoolBuffer): void {
    const status = freeNative(this.#handle, (viewOwner(view) as Chunk).id, viewOffset(view));
    if (status !== Status.OK) throw errors.fromStatus(status, 0, 'heap');
  }

  #addChild(child: HeapPool): void {
    for (const ref of this.#children) if (ref.deref() === undefined) this.#children.delete(ref);
    this.#children.add(child.#self);
  }

  /** What destroy() does on this side, children first; the native destroy then frees them all. */
  #markDestroyed(): void {
    for (const ref of this.#children) {
      const child = ref.deref();
      if (child !== undefined) child.#markDestroyed();
    }
    this.#children.clear();
    this.#destroyed = true;
    this.#chunks.length = 0;
    this.#cache.drain(() => {});
    this.#deferred?.clear();
  }
}
