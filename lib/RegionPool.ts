import { type InspectOptionsStylized, inspect } from 'node:util';

import { constants as bufferConstants } from 'node:buffer';
import { constants as osConstants } from 'node:os';

import { CleanupStack } from './core/CleanupStack.js';
import * as errors from './core/errors.js';
import { chunkHeapMap, mapOptions } from './core/heapMap.js';
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
import { madeHandle } from './core/nativeHandle.js';
import { makeView, viewOffset, viewOwner, viewTag } from './core/PoolBuffer.js';
import { PoolToken, inspectPool } from './core/inspect.js';
import { Status } from './core/status.js';
import type { NativeBlock, RegionBlock, RegionPoolOptions, RegionPoolStats } from './types.js';

import {
  sizeError,
  validateAlignment,
  validateCallocTotal,
  validateFunction,
  validateInteger,
  validateViewOf,
  validateObject,
  validateOptionalBoolean,
  validateView,
} from './core/validate.js';

const native = binding.region;
/** The C walk's states (heap_pool.h / region_pool.h enum ..._block_state), by number. */
const REGION_STATES: readonly RegionBlock['state'][] = ['available', 'used', 'freed', 'wasted'];
/** The hot calls pass numbers through this array (see native/binding/region_binding.cc). */
const scratch = native.scratch;
const nativeAlloc = native.alloc;
const nativeRealloc = native.realloc;
const nativeFree = native.free;
const nativeChunkBuffer = native.chunkBuffer;
const {
  minBlock: MIN_BLOCK,
  maxBlock: MAX_BLOCK,
  blockGranule: GRANULE,
  defaultBlock: DEFAULT_BLOCK,
} = native.constants;
const { unaligned: UNALIGNED, zero: ZERO, memalign: MEMALIGN } = native.constants;
/**
 * The bump lease (see native/binding/region_binding.cc): one pool of this thread at a
 * time (`lessee`) bumps small allocations into its head block here and logs them
 * as (offset, size) pairs; every native call on that pool records the log first.
 */
const lease = native.lease;
const COUNT = 0;
const BUMP = 1;
const LIM = 2;
const SLOTS = 3;
const LOG = 4;
/** The pool whose lease the array holds when lease[LIM] > 0 (a revoked lease has lim 0). */
let lessee: RegionPool | null = null;
/** Largest allocation: a large block is one ArrayBuffer, at most buffer.constants.MAX_LENGTH bytes. */
const MAX_LENGTH = bufferConstants.MAX_LENGTH;
/** Largest allocAligned alignment (a large block is aligned to max(alignment, page size)). */
const MAX_ALIGNMENT = 2 ** 20;
const EMPTY = new ArrayBuffer(0);

/** A chunk of the pool (a block or a large block): the owner token of its views. */
interface Chunk {
  readonly id: number;
  readonly buffer: ArrayBuffer;
  readonly large: boolean;
  /** Where the chunk starts in `buffer` (0, or its place in the pool's arena: region_state.hh). */
  readonly base: number;
  /** The pool's token: a view whose owner lacks it is another pool's, or no pool's. */
  readonly pool: object;
}

/**
 * nginx-style region pool: small requests are bump-allocated from fixed-size
 * blocks, larger ones get a chunk of their own (a large block). Allocations
 * can be freed one by one (a block whose allocations are all freed is rewound
 * and reused), or all at once by reset(). Cleanup callbacks run at reset() and
 * destroy(). Allocations are Buffer views of the chunk's external ArrayBuffer
 * (the pool's first chunks share one: its arena, docs/region.md); each
 * remembers its (chunk, offset, generation) handle, so a view from before a
 * reset is told apart from a newer allocation at the same place.
 * destroy() frees every chunk no view can reach; the others stay mapped,
 * untouched, until their views are garbage (docs/lifetime.md).
 */
export class RegionPool {
  /** The native pool (a safeReuse reset() moves to a new one). */
  #handle: number;
  /** Keeps the native state alive for as long as this pool is reachable. */
  #owner: object;
  /** The owner token of the current native pool's views. */
  #token = new PoolToken('RegionPool');
  /** safeReuse: frees waiting for their view to be garbage (keys: chunk * 2**32 + offset; tag: generation). */
  readonly #deferred: DeferredFrees | null;
  /** Live chunks by chunk id, as the C pool numbers them (undefined: none). */
  readonly #chunks: (Chunk | undefined)[] = [];
  readonly #cleanups = new CleanupStack();
  readonly #blockSize: number;
  readonly #maxSmall: number;
  #destroyed = false;
  /** The nativeHandle external, once asked for. */
  #nativeHandle: object | undefined;
  /** The leased block (while this pool is the lessee): its record, ArrayBuffer and generation. */
  #leaseChunk: Chunk | undefined;
  #leaseBuffer: ArrayBuffer = EMPTY;
  #leaseBase = 0;
  #leaseGen = 0;

  constructor(options: RegionPoolOptions = {}) {
    validateObject(options, 'options');
    let blockSize = DEFAULT_BLOCK;
    if (options.blockSize !== undefined) {
      blockSize = validateInteger(options.blockSize, 'options.blockSize', MIN_BLOCK, MAX_BLOCK);
      if (blockSize % GRANULE !== 0) {
        throw errors.outOfRange(
          'options.blockSize',
          `a multiple of ${GRANULE} >= ${MIN_BLOCK} && <= ${MAX_BLOCK}`,
          blockSize,
        );
      }
    }
    this.#deferred = validateOptionalBoolean(options.safeReuse, 'options.safeReuse')
      ? new DeferredFrees((key, gen) => this.#releaseDeferred(key, gen))
      : null;
    if (this.#deferred !== null) overrideFree(this, (buf) => this.#freeDeferred(buf));
    [this.#handle, this.#owner, this.#maxSmall] = RegionPool.#create(blockSize);
    this.#blockSize = blockSize;
  }

  static #create(blockSize: number): [number, object, number] {
    const created = native.create(blockSize);
    if (typeof created === 'number') {
      throw created === Status.NOMEM
        ? errors.system(osConstants.errno.ENOMEM, 'malloc')
        : errors.fromStatus(created, 0, 'region');
    }
    return created;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Bytes per block. */
  get blockSize(): number {
    return this.#blockSize;
  }

  /** Largest request served from blocks: min(blockSize, pageSize - 1); larger ones get a large block. */
  get maxSmall(): number {
    return this.#maxSmall;
  }

  /**
   * The pool for other native addons (native/include/mempools.h; docs/addons.md), on
   * this pool's JavaScript thread only. Made on first use; after destroy()
   * every call through it returns MEMPOOLS_ERR_DESTROYED.
   */
  get nativeHandle(): object {
    this.#nativeHandle ??= madeHandle(native.nativeHandle(this.#handle));
    return this.#nativeHandle;
  }

  /**
   * A view of `length` bytes of the live allocation starting at `where`
   * ({ chunk, offset } as an addon's handle_of gives it), without a copy:
   * like a view alloc() returned, free(view) frees it.
   */
  viewOf(where: NativeBlock, length: number): Buffer {
    this.#live();
    const { chunk: id, offset } = validateViewOf(where, length);
    const found = native.blockAt(this.#handle, id, offset);
    if (typeof found === 'number') throw errors.fromStatus(found, 0, 'region');
    const [gen, size] = found;
    if (length > size) throw errors.outOfRange('length', `<= ${size} (the allocation's size)`, length);
    let chunk = this.#chunks[id];
    // An addon may have made the chunk (unknown here) or released the one recorded.
    if (chunk === undefined || !binding.isChunkBuffer(this.#handle, id, chunk.buffer)) chunk = this.#recordChunk(id);
    return makeView(chunk.buffer, chunk.base + offset, length, chunk, gen);
  }

  /** `size` bytes, 8-aligned (ngx_palloc). */
  alloc(size: number): Buffer {
    // #bump(size, 7), written out: the hot path of a request's allocations
    if (lessee === this && (size | 0) === size && size >= 0 && size <= this.#maxSmall) {
      const n = lease[COUNT]!;
      const offset = (lease[BUMP]! + 7) & ~7;
      const end = offset + (size === 0 ? 1 : size);
      if (end <= lease[LIM]! && n < lease[SLOTS]!) {
        lease[LOG + 2 * n] = offset;
        lease[LOG + 2 * n + 1] = size;
        lease[COUNT] = n + 1;
        lease[BUMP] = end;
        return makeView(this.#leaseBuffer, this.#leaseBase + offset, size, this.#leaseChunk, this.#leaseGen);
      }
    }
    return this.#allocate(size, 0, 0, true)!;
  }

  /** Like alloc, but null instead of ERR_POOL_EXHAUSTED. */
  tryAlloc(size: number): Buffer | null {
    return this.#bump(size, 7) ?? this.#allocate(size, 0, 0, false);
  }

  /** `size` bytes without alignment padding (ngx_pnalloc): the view may start at any byte. */
  allocUnaligned(size: number): Buffer {
    return this.#bump(size, 0) ?? this.#allocate(size, UNALIGNED, 0, true)!;
  }

  /** A large block of `size` bytes aligned to `alignment` (a power of two from 8 to 1 MiB; ngx_pmemalign). */
  allocAligned(size: number, alignment: number): Buffer {
    this.#live();
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_LENGTH) throw sizeError(size, 'size', 0, MAX_LENGTH);
    validateAlignment(alignment, 'alignment', 8, MAX_ALIGNMENT);
    return this.#allocate(size, MEMALIGN, alignment, true)!;
  }

  /** Zero-filled count * size bytes, 8-aligned. */
  calloc(count: number, size: number): Buffer {
    this.#live();
    const total = validateCallocTotal(count, size);
    if (total > MAX_LENGTH) throw errors.outOfRange('count * size', `<= ${MAX_LENGTH}`, total);
    return this.#allocate(total, ZERO, 0, true)!;
  }

  /** Keeps min(old, new) bytes; in place when it can. The old view must not be used afterwards. */
  realloc(buf: Buffer, size: number): Buffer {
    this.#live();
    const chunk = this.#chunkOf(buf);
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_LENGTH) throw sizeError(size, 'size', 0, MAX_LENGTH);
    scratch[0] = this.#handle;
    scratch[1] = chunk.id;
    scratch[2] = viewOffset(buf) - chunk.base;
    scratch[3] = viewTag(buf);
    scratch[4] = size;
    nativeRealloc();
    if (chunk.large && scratch[0]! >= 0 && scratch[0] !== chunk.id) this.#chunks[chunk.id] = undefined; // moved
    return this.#handOut(size, true)!;
  }

  /**
   * A large block is released at once (its memory stays mapped while views of
   * it are reachable); a block whose allocations are all freed is rewound.
   * safeReuse: the allocation is freed once `buf` is garbage.
   */
  free(buf: Buffer): void {
    if (this.#destroyed) throw errors.destroyed();
    const chunk = this.#chunkOf(buf);
    const status = this.#freeAt(chunk.id, viewOffset(buf) - chunk.base, viewTag(buf));
    if (status !== Status.OK) throw errors.fromStatus(status, 0, 'region');
  }

  /**
   * Runs the cleanups (newest first), releases every large block and rewinds
   * every block. Views of blocks from before stay readable but are stale:
   * freeing one is ERR_POOL_FOREIGN_BUFFER; a released large block stays
   * mapped while its views are reachable, a rewound block is reused.
   * safeReuse: the pool moves to new native memory instead, and the old is
   * freed chunk by chunk as its views become garbage (a nativeHandle taken
   * before reports MEMPOOLS_ERR_DESTROYED from then on).
   */
  reset(): void {
    this.#live();
    if (this.#cleanups.running) throw errors.invalidState('reset() cannot be called from a cleanup callback');
    const failure = this.#cleanups.run();
    if (this.#deferred !== null) {
      const [handle, owner] = RegionPool.#create(this.#blockSize);
      if (lessee === this) lessee = null;
      native.destroy(this.#handle, false);
      [this.#handle, this.#owner, this.#token] = [handle, owner, new PoolToken('RegionPool')];
      this.#chunks.length = 0;
      this.#deferred.clear();
      this.#nativeHandle = undefined;
    } else {
      const status = native.reset(this.#handle);
      if (status !== Status.OK) throw errors.fromStatus(status, 0, 'region');
      // The released large blocks' records go, but those kept for reuse (ids in scratch[1 .. scratch[0]]).
      const kept = scratch[0]!;
      for (const chunk of this.#chunks) {
        if (chunk?.large !== true) continue;
        let keep = false;
        for (let i = 1; i <= kept; i++) if (scratch[i] === chunk.id) keep = true;
        if (!keep) this.#chunks[chunk.id] = undefined;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /** Adds a callback run exactly once, newest first, at the next reset() or destroy(). */
  onCleanup(fn: () => void): void {
    this.#live();
    validateFunction(fn, 'fn');
    this.#cleanups.push(fn);
  }

  /** After destroy() every figure is 0 but heldBytes/heldChunks: the chunks views still reach. */
  stats(): RegionPoolStats {
    if (this.#destroyed) return destroyedStats<RegionPoolStats>(this.#handle, { blocks: 0, largeBlocks: 0, wasted: 0 });
    const {
      reserved,
      used,
      peakUsed,
      allocations,
      failedAllocations: failed,
      blocks,
      largeBlocks,
      wasted,
    } = native.stats(this.#handle);
    return {
      capacity: Infinity,
      reserved: reserved!,
      used: used!,
      peakUsed: peakUsed!,
      allocations: allocations!,
      failedAllocations: failed!,
      blocks: blocks!,
      largeBlocks: largeBlocks!,
      wasted: wasted!,
      ...lifetimeStats(this.#handle, this.#deferred),
    };
  }

  /**
   * A snapshot of every chunk's contents, chunks in id order: a block's allocations
   * since its last rewind (used, or freed but not reusable yet) then its tail
   * (available, or wasted when the search skips the block); a large block's allocation.
   */
  walk(): RegionBlock[] {
    this.#live();
    const raw = native.walk(this.#handle);
    if (typeof raw === 'number') throw errors.fromStatus(raw, 0, 'region');
    const kinds = this.#chunkKinds();
    const blocks: RegionBlock[] = [];
    for (let i = 0; i < raw.length; i += 4) {
      const chunk = raw[i]!;
      blocks.push({
        chunk,
        offset: raw[i + 1]!,
        size: raw[i + 2]!,
        state: REGION_STATES[raw[i + 3]!]!,
        large: kinds.get(chunk)?.[1] === 2,
      });
    }
    return blocks;
  }

  /**
   * An SVG picture of the pool (docs/api.md#heap-maps): one row per block and large
   * block; alignment padding and a large block's bytes past its allocation are overhead.
   */
  heapMap(options?: HeapMapOptions): string {
    mapOptions(options);
    const blocks = this.walk();
    const rows = new Map<number, MapRow>();
    for (const [id, [bytes, kind]] of this.#chunkKinds()) {
      rows.set(id, { label: `${kind === 2 ? 'large' : 'block'} ${id}`, bytes, extents: [] });
    }
    const stateOf = (b: RegionBlock): MapState =>
      b.state === 'used' ? 'used' : b.state === 'available' ? 'free' : 'wasted';
    return chunkHeapMap('RegionPool', rows, blocks, stateOf, this.stats(), options);
  }

  /** id -> [bytes, kind (1 block, 2 large)] of every live chunk. */
  #chunkKinds(): Map<number, [number, number]> {
    const raw = native.chunks(this.#handle);
    if (typeof raw === 'number') throw errors.fromStatus(raw, 0, 'region');
    const out = new Map<number, [number, number]>();
    for (let i = 0; i < raw.length; i += 4) out.set(raw[i]!, [raw[i + 1]!, raw[i + 2]!]);
    return out;
  }

  /** Full invariant check of the C pool's metadata; throws ERR_POOL_CORRUPTED with its reason. */
  check(): void {
    this.#live();
    const why = native.check(this.#handle);
    if (why !== null) throw errors.corrupted(why);
  }

  /**
   * Runs the cleanups, makes the pool unusable and frees all its memory, but
   * for the chunks a view can still reach: those stay mapped (the views keep
   * their bytes) until the views are garbage. Idempotent.
   * `{ unsafeDetachViews: true }` detaches every view and frees now: only when
   * no view can be in use by Node (an in-flight write, zlib, crypto).
   */
  destroy(options?: DestroyOptions): void {
    const detach = detachRequested(options);
    if (this.#destroyed) return;
    if (this.#cleanups.running) throw errors.invalidState('destroy() cannot be called from a cleanup callback');
    const failure = this.#cleanups.run();
    this.#destroyed = true;
    if (lessee === this) lessee = null;
    this.#leaseChunk = undefined;
    this.#leaseBuffer = EMPTY;
    this.#chunks.length = 0;
    this.#deferred?.clear();
    native.destroy(this.#handle, detach);
    if (failure !== undefined) throw failure;
  }

  /** Frees `buf` once `completion` (a promise, a stream, a response) is over; see whenDone. */
  freeAfter(buf: Buffer, completion: Completion): Promise<void> {
    this.#live();
    this.#chunkOf(buf);
    const token = this.#token;
    return afterDone(completion, () => {
      if (!this.#destroyed && token === this.#token) this.free(buf);
    });
  }

  /** reset() once `completion` (a promise, a stream, a response) is over; see whenDone. */
  resetAfter(completion: Completion): Promise<void> {
    return afterDone(completion, () => {
      if (!this.#destroyed) this.reset();
    });
  }

  /** destroy() once `completion` (a promise, a stream, a response) is over; see whenDone. */
  destroyAfter(completion: Completion): Promise<void> {
    return afterDone(completion, () => this.destroy());
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  /** `await using`: the same as [Symbol.dispose]() (destroy()). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.destroy();
  }

  /** util.inspect(pool), console.log(pool): `RegionPool { ...stats() }`. */
  [inspect.custom](depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    return inspectPool('RegionPool', () => this.stats(), depth, options, inspectFn);
  }

  /** Throws ERR_POOL_DESTROYED after destroy() (free() and alloc() keep the check inline: their speed). */
  #live(): void {
    if (this.#destroyed) throw errors.destroyed();
  }

  #allocate(size: number, flags: number, alignment: number, throwing: boolean): Buffer | null {
    if (this.#destroyed) throw errors.destroyed();
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_LENGTH) throw sizeError(size, 'size', 0, MAX_LENGTH);
    scratch[0] = this.#handle;
    scratch[1] = size;
    scratch[2] = flags;
    scratch[3] = alignment;
    nativeAlloc();
    const id = scratch[0]!;
    const offset = scratch[1]!;
    const gen = scratch[2]!;
    const created = scratch[3]!;
    const leaseId = scratch[4]!;
    const leaseGen = scratch[5]!;
    const leaseNew = scratch[6]!;
    // The native call moved the lease to this pool's head block, or revoked it:
    // no pool may bump until this one knows the leased block's record.
    lessee = null;
    let chunk: Chunk | undefined;
    if (id >= 0) {
      chunk = this.#chunks[id];
      if (chunk === undefined || created !== 0) chunk = this.#recordChunk(id);
    }
    if (leaseId >= 0) {
      let leased = this.#chunks[leaseId];
      if (leased === undefined || (leaseNew !== 0 && leased !== chunk)) leased = this.#recordChunk(leaseId);
      this.#leaseChunk = leased;
      this.#leaseBuffer = leased.buffer;
      this.#leaseBase = leased.base;
      this.#leaseGen = leaseGen;
      lessee = this;
    }
    if (chunk === undefined) {
      if (id === Status.NOMEM && !throwing) return null;
      throw errors.fromStatus(id, size, 'region');
    }
    return makeView(chunk.buffer, chunk.base + offset, size, chunk, gen);
  }

  /**
   * A small allocation bumped in JavaScript in the leased head block (`mask`: 7
   * aligns to 8, 0 does not), logged for the C pool; null when this pool does
   * not hold the lease, the request is not a small size or does not fit.
   */
  #bump(size: number, mask: number): Buffer | null {
    if (lessee !== this || (size | 0) !== size || size < 0 || size > this.#maxSmall) return null;
    const n = lease[COUNT]!;
    const offset = (lease[BUMP]! + mask) & ~mask;
    const end = offset + (size === 0 ? 1 : size);
    if (end > lease[LIM]! || n >= lease[SLOTS]!) return null;
    lease[LOG + 2 * n] = offset;
    lease[LOG + 2 * n + 1] = size;
    lease[COUNT] = n + 1;
    lease[BUMP] = end;
    return makeView(this.#leaseBuffer, this.#leaseBase + offset, size, this.#leaseChunk, this.#leaseGen);
  }

  /** The view of `length` bytes an allocating native call left in the scratch array, or its error. */
  #handOut(length: number, throwing: boolean): Buffer | null {
    const id = scratch[0]!;
    if (id < 0) {
      if (id === Status.NOMEM && !throwing) return null;
      throw errors.fromStatus(id, length, 'region');
    }
    const offset = scratch[1]!;
    const gen = scratch[2]!;
    let chunk = this.#chunks[id];
    if (chunk === undefined || scratch[3] !== 0) chunk = this.#recordChunk(id);
    return makeView(chunk.buffer, chunk.base + offset, length, chunk, gen);
  }

  /** free() of a safeReuse pool (see overrideFree): the allocation is freed once `buf` is garbage. */
  #freeDeferred(buf: Buffer): void {
    this.#live();
    const chunk = this.#chunkOf(buf);
    const offset = viewOffset(buf) - chunk.base;
    const key = chunk.id * 2 ** 32 + offset;
    if (this.#deferred!.has(key)) throw errors.doubleFree();
    const found = native.blockAt(this.#handle, chunk.id, offset);
    if (typeof found === 'number' || found[0] !== viewTag(buf)) throw errors.fromStatus(Status.STALE, 0, 'region');
    this.#deferred!.defer(buf, key, found[1], viewTag(buf));
  }

  /** safeReuse: the view of the allocation `key` names is garbage, so it is freed now (unless reset since). */
  #releaseDeferred(key: number, gen: number): void {
    if (!this.#destroyed) this.#freeAt(Math.floor(key / 2 ** 32), key % 2 ** 32, gen);
  }

  /** Frees the allocation (chunk, offset, generation) natively: its status. A freed large block's record goes. */
  #freeAt(id: number, offset: number, gen: number): number {
    scratch[0] = this.#handle;
    scratch[1] = id;
    scratch[2] = offset;
    scratch[3] = gen;
    nativeFree();
    const status = scratch[0]!;
    // A released large block's record goes (its buffer holds the memory for its views
    // only); one kept for reuse stays (kept: scratch[1], region_pool_keep_large).
    if (status === Status.OK && this.#chunks[id]?.large === true && scratch[1] === 0) this.#chunks[id] = undefined;
    return status;
  }

  /** Records a chunk the last call made, with its ArrayBuffer. */
  #recordChunk(id: number): Chunk {
    scratch[0] = this.#handle;
    scratch[1] = id;
    const buffer = nativeChunkBuffer();
    if (buffer === undefined) throw errors.fromStatus(Status.INVALID, 0, 'region');
    const chunk: Chunk = { id, buffer, large: scratch[0] === 1, base: scratch[1]!, pool: this.#token };
    this.#chunks[id] = chunk;
    return chunk;
  }

  /**
   * The chunk of a view this pool made, or ERR_POOL_FOREIGN_BUFFER. Only views
   * as the pool returned them carry their handle (chunk, offset, generation);
   * any other view (a sub-view, a view rebuilt from buffer and byteOffset, a
   * plain Buffer, another pool's view) is foreign.
   */
  #chunkOf(buf: Buffer): Chunk {
    validateView(buf, 'buf');
    const chunk = viewOwner(buf) as Partial<Chunk> | undefined;
    if (chunk?.pool !== this.#token) throw errors.foreignBuffer();
    return chunk as Chunk;
  }
}
