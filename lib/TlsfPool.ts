import { type InspectOptionsStylized, inspect } from 'node:util';

import * as errors from './core/errors.js';
import { FreeListCache } from './core/FreeListCache.js';
import { mapOptions, renderHeapMap } from './core/heapMap.js';
import type { HeapMapOptions, MapRow } from './core/heapMap.js';
import { binding, decodeSystemFailure } from './core/native.js';
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
import { makeView, viewOffset, viewOwner, viewTag } from './core/PoolBuffer.js';
import { inspectPool, ownedBy } from './core/inspect.js';
import type { PoolBuffer } from './core/PoolBuffer.js';
import { CACHE_MAX, CLASS_SIZE, ceilClass, floorClass } from './core/sizeClasses.js';
import { Status } from './core/status.js';
import type { NativeBlock, TlsfBlock, TlsfPoolOptions, TlsfPoolStats } from './types.js';
import {
  sizeError,
  validateAlignment,
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

const native = binding.tlsf;
/** The hot calls pass numbers through this array (see native/binding/tlsf_binding.cc). */
const scratch = native.scratch;
const nativeAlloc = native.alloc;
const nativeFree = native.free;

function allocNative(handle: number, size: number): number {
  scratch[0] = handle;
  scratch[1] = size;
  nativeAlloc();
  return scratch[0]!;
}

function freeNative(handle: number, region: number, offset: number): number {
  scratch[0] = handle;
  scratch[1] = region;
  scratch[2] = offset;
  nativeFree();
  return scratch[0]!;
}
const { sizeWord: SIZE_WORD, alignWord: ALIGN_WORD, flagBits: FLAG_BITS, tlsfLiveShift: LIVE_SHIFT } = binding.layout;
const {
  regionFactor: REGION_FACTOR,
  sysBase: SYS_BASE,
  maxRegions: MAX_REGIONS,
  regionMin: REGION_MIN,
} = native.constants;
/** Largest region area: what the allocator accepts, and offsets stay below 2**32. */
const MAX_AREA = Math.min(native.constants.maxRequest + 24, 2 ** 32);
const PAGE = 4096;
/**
 * Automatic trim (see #freedLarge): blocks of TRIM_BLOCK bytes or more count,
 * and the pool trims once those freed since the last trim, less those
 * allocated, pass max(TRIM_AFTER, its live bytes): the end of a spike.
 */
const TRIM_BLOCK = 65536;
const TRIM_AFTER = 8 * 1024 * 1024;
const kRegion = Symbol('mempools.tlsf.region');

/** A region ArrayBuffer tagged with its region id (checked against the pool's own table). */
type RegionBuffer = ArrayBuffer & { [kRegion]?: number };

/** What the pool keeps per region. */
interface Region {
  readonly id: number;
  readonly buffer: RegionBuffer;
  /** One bit per 8 bytes, set while an allocation the user holds starts there. */
  readonly live: Int32Array;
  /** The region as 32-bit words, to read a block's usable size from its header
   *  (the word 8 bytes before it; see "Block layout" in native/alloc/tlsf.h). */
  readonly words: Uint32Array;
}

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/**
 * Usable size of the block at `offset`, from its header (sizes are below 2**32 here).
 * The header lies in the region, where an overflow of the block before can rewrite
 * it: trusted only right after the allocator wrote it (#give) and otherwise only as
 * far as it agrees with the view's tag (free, usableSize).
 */
function usableAt(region: Region, offset: number): number {
  const word = region.words[(offset >>> 2) + SIZE_WORD]!;
  return word - (word & FLAG_BITS);
}

/** What #found holds when no region is meant (so the pool keeps no buffer alive after destroy). */
const NO_REGION: Region = { id: -1, buffer: new ArrayBuffer(0), live: new Int32Array(0), words: new Uint32Array(0) };

/**
 * Two-Level Segregated Fit pool: O(1) alloc/free/memalign/realloc over one or
 * more mmap'd regions. Allocations are Buffer views of the region's external
 * ArrayBuffer. destroy() makes the pool unusable and frees every region no
 * view can reach; a region a view still reaches (in Node's I/O, say) stays
 * mapped, untouched, until that view is garbage (docs/lifetime.md).
 */
export class TlsfPool {
  readonly #handle: number;
  /** Keeps the native state alive for as long as this pool is reachable. */
  readonly #owner: object;
  /** Regions by region id (undefined: no such region). */
  readonly #regions: (Region | undefined)[] = [];
  readonly #cache = new FreeListCache(CLASS_SIZE, 256, {
    release: (view) => this.#giveBack(view),
    liveBytes: () => this.#used,
  });
  /** The region #liveOffsetOf found (saves allocating a pair on every free). */
  #found: Region = NO_REGION;
  /** safeReuse: frees waiting for their view to be garbage (keys: region * REGION_FACTOR + offset). */
  readonly #deferred: DeferredFrees | null;
  readonly #maxSize: number | undefined;
  #reserved = 0;
  #destroyed = false;
  /** Failures the C allocator counted for first attempts that a retry then served. */
  #retriedFailures = 0;
  /** Bytes and count of allocations the user holds, and the high-water mark of #used.
   *  The allocator also counts the cached blocks, so these are kept here. */
  #used = 0;
  #peakUsed = 0;
  #allocations = 0;
  /** The nativeHandle external, once asked for. */
  #nativeHandle: object | undefined;
  /** Bytes of large blocks (TRIM_BLOCK or more) freed since the last trim, less those allocated. */
  #freedSinceTrim = 0;

  constructor(options: TlsfPoolOptions) {
    validateObject(options, 'options');
    const size = roundUp(validateInteger(options.size, 'options.size', REGION_MIN, MAX_AREA), 8);
    if (options.maxSize !== undefined) {
      this.#maxSize = roundUp(validateInteger(options.maxSize, 'options.maxSize', options.size), 8);
    }
    const threadSafe = validateOptionalBoolean(options.threadSafe, 'options.threadSafe');
    this.#deferred = validateOptionalBoolean(options.safeReuse, 'options.safeReuse')
      ? new DeferredFrees((key) => this.#releaseDeferred(key))
      : null;
    if (this.#deferred !== null) overrideFree(this, (buf) => this.#freeDeferred(buf));
    const created = native.create(threadSafe);
    if (typeof created === 'number') throw TlsfPool.#systemError(created);
    [this.#handle, this.#owner] = created;
    const id = this.#mapRegion(size);
    if (id < 0) {
      native.destroy(this.#handle, false);
      throw TlsfPool.#systemError(id);
    }
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * The pool for other native addons: a type-tagged N-API external over a
   * mempools_pool_t (native/include/mempools.h; see docs/addons.md). Made on first use;
   * after destroy() every call through it returns MEMPOOLS_ERR_DESTROYED.
   */
  get nativeHandle(): object {
    this.#nativeHandle ??= madeHandle(native.nativeHandle(this.#handle), (code) => TlsfPool.#systemError(code));
    return this.#nativeHandle;
  }

  /**
   * A view of `length` bytes of the live block an addon allocated through
   * nativeHandle at `where` ({ chunk: region id, offset }), without a copy.
   * The addon may still free the block; free(view) gives it back from here.
   */
  viewOf(where: NativeBlock, length: number): Buffer {
    this.#live();
    const { chunk, offset } = validateViewOf(where, length);
    const region = this.#regions[chunk];
    const usable = region === undefined ? Status.FOREIGN : native.addonBlock(this.#handle, chunk, offset);
    if (usable < 0) throw errors.fromStatus(usable);
    if (length > usable) throw errors.outOfRange('length', `<= ${usable} (the block's usable size)`, length);
    return makeView(region!.buffer, offset, length, region);
  }

  alloc(size: number): Buffer {
    return this.#allocate(size, true)!;
  }

  /** Like alloc, but null instead of ERR_POOL_EXHAUSTED. */
  tryAlloc(size: number): Buffer | null {
    return this.#allocate(size, false);
  }

  calloc(count: number, size: number): Buffer {
    this.#live();
    const total = validateCallocTotal(count, size);
    const attempt = (): number => native.calloc(this.#handle, count, size);
    const result = attempt();
    if (result >= 0) return this.#handOut(result, total);
    return this.#retry(result, total, total, attempt, true)!;
  }

  allocAligned(size: number, alignment: number): Buffer {
    this.#live();
    if (!Number.isSafeInteger(size) || size < 0) throw sizeError(size, 'size');
    validateAlignment(alignment, 'alignment', 8, this.#maxAlignment());
    const attempt = (): number => native.memalign(this.#handle, size, alignment);
    const result = attempt();
    if (result >= 0) return this.#handOut(result, size);
    return this.#retry(result, size, size + alignment, attempt, true)!;
  }

  realloc(buf: Buffer, size: number): Buffer {
    this.#live();
    const offset = this.#liveOffsetOf(buf, 'buf');
    const region = this.#found;
    if (!Number.isSafeInteger(size) || size < 0) throw sizeError(size, 'size');
    const old = usableAt(region, offset);
    const attempt = (): number => native.realloc(this.#handle, region.id, offset, size);
    let result = attempt();
    if (result < 0) {
      result = this.#retryStatus(result, size, attempt);
      if (result < 0) throw errors.fromStatus(result, size);
    }
    this.#forget(region, offset, old);
    return this.#handOut(result, size);
  }

  free(buf: Buffer): void {
    if (this.#destroyed) throw errors.destroyed();
    const offset = this.#liveOffsetOf(buf, 'buf');
    const region = this.#found;
    const size = usableAt(region, offset);
    // Small plain blocks made by this pool stay on this side for the next allocation
    // of their class; memalign blocks (alignment bits in the header's high word) and
    // views rebuilt by the user go back at once. A view this pool made carries the
    // usable size the allocator gave its block (the tag): a header that disagrees was
    // rewritten (an overflow of the block before), and the native free reports it.
    if (
      size <= CACHE_MAX &&
      region.words[(offset >>> 2) + ALIGN_WORD] === 0 &&
      viewOwner(buf) === region &&
      viewTag(buf) === size &&
      this.#cache.push(floorClass(size), buf as unknown as PoolBuffer, size)
    ) {
      this.#forget(region, offset, size);
      return;
    }
    this.#freeNow(region, offset, size);
  }

  /**
   * free()'s native part, kept out of free() so that V8 inlines free() into the
   * caller's loop (as HeapPool's #freeNow): the block goes back to the allocator,
   * and a large one counts towards the automatic trim.
   */
  #freeNow(region: Region, offset: number, size: number): void {
    const status = freeNative(this.#handle, region.id, offset);
    if (status !== Status.OK) throw errors.fromStatus(status);
    this.#forget(region, offset, size);
    if (size >= TRIM_BLOCK) this.#freedLarge(size);
  }

  /**
   * Gives the memory of free blocks back to the OS: the whole pages inside every
   * free block (after the cached blocks go back to the allocator) stop counting
   * as resident and read as zero until used again. Returns the bytes of them that
   * were resident. O(free blocks + the pages they span), two system calls per free
   * block of a page or more. A pool also trims by itself when a spike of large
   * blocks ends (docs/api.md).
   */
  trim(): number {
    this.#live();
    this.#drainCache();
    return this.#trimNative();
  }

  #trimNative(): number {
    this.#freedSinceTrim = 0;
    const released = native.trim(this.#handle);
    if (released < 0) throw errors.fromStatus(released);
    return released;
  }

  /**
   * free() of a block of `size` >= TRIM_BLOCK bytes: trims once the large blocks
   * freed since the last trim, less those allocated, pass max(TRIM_AFTER, the
   * live bytes), so the pages a spike of large buffers touched go back to the
   * OS while steady churn (frees and allocations in balance) never trims.
   */
  #freedLarge(size: number): void {
    this.#freedSinceTrim += size;
    if (this.#freedSinceTrim > Math.max(TRIM_AFTER, this.#used)) this.#trimNative();
  }

  /** Usable bytes of a live allocation (>= its length). */
  usableSize(buf: Buffer): number {
    this.#live();
    const offset = this.#liveOffsetOf(buf, 'buf', false);
    const region = this.#found;
    const size = usableAt(region, offset);
    if (viewOwner(buf) === region && viewTag(buf) === size) return size;
    // a view rebuilt by the user, or a header that disagrees with the tag: the allocator checks it
    const usable = native.usableSize(this.#handle, region.id, offset);
    if (usable === 0) throw errors.fromStatus(Status.CORRUPTED);
    return usable;
  }

  /** Adds a region of `size` bytes (>= 64, rounded up to a multiple of 8); returns its id. */
  addRegion(size: number): number {
    this.#live();
    const room = this.#maxSize === undefined ? MAX_AREA : Math.min(MAX_AREA, this.#maxSize - this.#reserved);
    const area = roundUp(validateInteger(size, 'size', REGION_MIN, Math.max(REGION_MIN, room)), 8);
    if (area > room) throw errors.outOfRange('size', `<= ${room} (the room left under maxSize)`, size);
    const id = this.#mapRegion(area);
    if (id === Status.FULL) throw errors.regionTableFull(MAX_REGIONS);
    if (id < 0) throw TlsfPool.#systemError(id);
    return id;
  }

  /** Removes an empty region, detaching its ArrayBuffer before its memory is unmapped. */
  removeRegion(id: number): void {
    this.#live();
    validateInteger(id, 'id', 0, MAX_REGIONS - 1);
    const region = this.#regions[id];
    if (region === undefined) throw errors.outOfRange('id', 'the id of a region of this pool', id);
    const area = region.buffer.byteLength;
    this.#drainCache();
    const status = native.removeRegion(this.#handle, id);
    if (status === Status.IN_USE) throw errors.inUse(id);
    if (status !== Status.OK) throw errors.fromStatus(status);
    this.#regions[id] = undefined;
    this.#reserved -= area;
  }

  /** A snapshot of every block, in address order (regions in id order). */
  walk(): Iterable<TlsfBlock> {
    this.#live();
    this.#drainCache();
    const raw = native.walk(this.#handle);
    if (typeof raw === 'number') throw errors.fromStatus(raw);
    const blocks: TlsfBlock[] = [];
    for (let i = 0; i < raw.length; i += 4) {
      blocks.push({ region: raw[i]!, offset: raw[i + 1]!, size: raw[i + 2]!, used: raw[i + 3] === 1 });
    }
    return blocks;
  }

  /**
   * An SVG picture of the pool (docs/api.md#heap-maps): one row per region, address
   * left to right, used and free blocks coloured (headers: overhead), the stats in the title.
   */
  heapMap(options?: HeapMapOptions): string {
    mapOptions(options);
    const blocks = this.walk() as TlsfBlock[];
    const rows: MapRow[] = [];
    for (const region of this.#regions) {
      if (region !== undefined)
        rows[region.id] = { label: `region ${region.id}`, bytes: region.buffer.byteLength, extents: [] };
    }
    for (const b of blocks) {
      rows[b.region]?.extents.push({ start: b.offset, end: b.offset + b.size, state: b.used ? 'used' : 'free' });
    }
    const s = this.stats();
    const summary = {
      kind: 'TlsfPool',
      used: s.used,
      allocations: s.allocations,
      free: s.free,
      largestFree: s.largestFree,
      reserved: s.reserved,
    };
    return renderHeapMap(
      rows.filter((row) => row !== undefined),
      summary,
      options,
    );
  }

  /** Full invariant check; throws ERR_POOL_CORRUPTED with the allocator's reason. */
  check(): void {
    this.#live();
    const why = native.check(this.#handle);
    if (why !== null) throw errors.corrupted(why);
    const { used, allocations, addonAllocations } = native.stats(this.#handle);
    const deferredBlocks = this.#deferred?.blocks ?? 0;
    // Addon blocks are what the allocator counts beyond this side: some bytes exactly when some blocks.
    const addonUsed = used - this.#knownUsed();
    if (
      addonUsed < 0 ||
      (addonUsed === 0) !== (addonAllocations === 0) ||
      allocations !== this.#allocations + this.#cache.blocks + deferredBlocks + addonAllocations!
    ) {
      throw errors.corrupted("the pool's accounting disagrees with the allocator");
    }
  }

  /** The allocator's used bytes this side accounts for: its live blocks, its cache, deferred frees. */
  #knownUsed(): number {
    return this.#used + this.#cache.bytes + (this.#deferred?.bytes ?? 0);
  }

  /**
   * After destroy() every figure is 0 but heldBytes/heldChunks: the regions
   * kept mapped because views of them can still be reached.
   */
  stats(): TlsfPoolStats {
    if (this.#destroyed)
      return destroyedStats<TlsfPoolStats>(this.#handle, { free: 0, largestFree: 0, regions: 0, resident: 0 });
    const {
      reserved,
      used: allocatorUsed,
      free,
      largestFree,
      failedAllocations: failed,
      regions,
      addonAllocations,
      resident,
    } = native.stats(this.#handle);
    // Blocks addons hold count too (the allocator's bytes beyond this side's); their peak is
    // seen here and at JavaScript's allocations.
    const used = this.#used + (allocatorUsed! - this.#knownUsed());
    if (used > this.#peakUsed) this.#peakUsed = used;
    return {
      capacity: this.#maxSize ?? this.#reserved,
      reserved: reserved!,
      used,
      peakUsed: this.#peakUsed,
      allocations: this.#allocations + addonAllocations!,
      failedAllocations: failed! - this.#retriedFailures,
      free: free! + this.#cache.bytes,
      largestFree: largestFree!,
      regions: regions!,
      resident: resident!,
      ...lifetimeStats(this.#handle, this.#deferred),
    };
  }

  /**
   * Makes the pool unusable at once and frees all its memory, but for the
   * regions a view can still reach: those stay mapped (the views keep their
   * bytes) until the views are garbage. Idempotent.
   * `{ unsafeDetachViews: true }` detaches every view and unmaps now: only
   * when no view can be in use by Node (an in-flight write, zlib, crypto).
   */
  destroy(options?: DestroyOptions): void {
    const detach = detachRequested(options);
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#regions.length = 0;
    this.#found = NO_REGION;
    this.#cache.drain(() => {});
    this.#deferred?.clear();
    this.#reserved = 0;
    native.destroy(this.#handle, detach);
  }

  /** Frees `buf` once `completion` (a promise, a stream, a response) is over; see whenDone. */
  freeAfter(buf: Buffer, completion: Completion): Promise<void> {
    this.#live();
    this.#liveOffsetOf(buf, 'buf', false);
    return afterDone(completion, () => {
      if (!this.#destroyed) this.free(buf);
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

  /** util.inspect(pool), console.log(pool): `TlsfPool { ...stats() }`. */
  [inspect.custom](depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    return inspectPool('TlsfPool', () => this.stats(), depth, options, inspectFn);
  }

  /** Throws ERR_POOL_DESTROYED after destroy() (free() and alloc() keep the check inline: their speed). */
  #live(): void {
    if (this.#destroyed) throw errors.destroyed();
  }

  #allocate(size: number, throwing: boolean): Buffer | null {
    if (this.#destroyed) throw errors.destroyed();
    if (!Number.isSafeInteger(size) || size < 0) throw sizeError(size, 'size');
    if (size > CACHE_MAX) {
      if (size >= TRIM_BLOCK) this.#freedSinceTrim = Math.max(0, this.#freedSinceTrim - size);
      const result = allocNative(this.#handle, size);
      if (result >= 0) return this.#handOut(result, size);
      return this.#retry(result, size, size, () => allocNative(this.#handle, size), throwing);
    }
    const c = ceilClass(size);
    const cached = this.#cache.pop(c);
    if (cached !== undefined) return this.#reuse(cached, size);
    // Served at the class size, so that the block goes back to this class when
    // freed; when that much does not fit, at the exact size.
    let result = allocNative(this.#handle, CLASS_SIZE[c]!);
    if (result >= 0) return this.#handOut(result, size);
    if (result === Status.NOMEM) {
      this.#retriedFailures++;
      result = allocNative(this.#handle, size);
      if (result >= 0) return this.#handOut(result, size);
    }
    return this.#retry(result, size, size, () => allocNative(this.#handle, size), throwing);
  }

  /** Hands out the block an allocating native call returned as a view of `length` bytes. */
  #handOut(result: number, length: number): Buffer {
    const id = (result / REGION_FACTOR) | 0;
    return this.#give(this.#regions[id]!, result - id * REGION_FACTOR, length);
  }

  /** Marks the block at `offset` live, accounts for it and makes its view (tagged with the usable size). */
  #give(region: Region, offset: number, length: number): Buffer {
    const bit = offset >>> LIVE_SHIFT;
    setBit(region.live, bit);
    const usable = usableAt(region, offset); // just written by the allocator
    this.#used += usable;
    if (this.#used > this.#peakUsed) this.#peakUsed = this.#used;
    this.#allocations++;
    return makeView(region.buffer, offset, length, region, usable);
  }

  /** Hands out a cached block: its old view again when the length matches, else a new one. */
  #reuse(view: PoolBuffer, length: number): Buffer {
    const region = viewOwner(view) as Region;
    const offset = viewOffset(view);
    const bit = offset >>> LIVE_SHIFT;
    setBit(region.live, bit);
    this.#used += this.#cache.popped;
    if (this.#used > this.#peakUsed) this.#peakUsed = this.#used;
    this.#allocations++;
    return view.length === length
      ? (view as unknown as Buffer)
      : makeView(region.buffer, offset, length, region, this.#cache.popped);
  }

  /** Undoes #give for a block the user no longer holds. */
  #forget(region: Region, offset: number, size: number): void {
    const bit = offset >>> LIVE_SHIFT;
    clearBit(region.live, bit);
    this.#used -= size;
    this.#allocations--;
  }

  /**
   * The offset of a view that is a live allocation of this pool (its region is
   * left in #found), or the error saying what it is (`freeing`: tell a double
   * free from a foreign view). Views this pool made name
   * their region themselves; any other view is matched by its ArrayBuffer.
   */
  #liveOffsetOf(buf: Buffer, name: string, freeing = true): number {
    validateView(buf, name);
    let region = viewOwner(buf) as Region | undefined;
    let offset: number;
    if (region !== undefined) {
      if (this.#regions[region.id] !== region) throw errors.foreignBuffer();
      offset = viewOffset(buf);
    } else {
      const id = (buf.buffer as RegionBuffer)[kRegion];
      region = id === undefined ? undefined : this.#regions[id];
      if (region === undefined || region.buffer !== buf.buffer) throw errors.foreignBuffer();
      offset = buf.byteOffset;
    }
    const bit = offset >>> LIVE_SHIFT;
    if ((offset & 7) !== 0 || !hasBit(region.live, bit)) {
      if (this.#nativeHandle === undefined || !this.#takeAddonBlock(region, offset, freeing)) {
        throw freeing ? this.#notLive(region, offset) : errors.foreignBuffer();
      }
    }
    this.#found = region;
    return offset;
  }

  /**
   * Whether (region, offset) is a block an addon allocated through nativeHandle.
   * `adopt`: it becomes this pool's like one alloc() made (live bit, counters),
   * for free/realloc; the addon can no longer free it.
   */
  #takeAddonBlock(region: Region, offset: number, adopt: boolean): boolean {
    const usable = adopt
      ? native.adopt(this.#handle, region.id, offset)
      : native.addonBlock(this.#handle, region.id, offset);
    if (usable < 0) return false;
    if (adopt) {
      const bit = offset >>> LIVE_SHIFT;
      setBit(region.live, bit);
      this.#used += usable;
      if (this.#used > this.#peakUsed) this.#peakUsed = this.#used;
      this.#allocations++;
    }
    return true;
  }

  /** Why (region, offset) is not a live allocation: freed already, or never one. */
  #notLive(region: Region, offset: number): Error {
    const state = native.blockState(this.#handle, region.id, offset);
    // A block the allocator still counts live but the user gave back sits in the cache.
    if (state === Status.OK || state === Status.DOUBLE_FREE) return errors.doubleFree();
    if (state === Status.CORRUPTED) return errors.fromStatus(state);
    return errors.foreignBuffer();
  }

  /** free() of a safeReuse pool (see overrideFree): the block stays allocated until `buf` is garbage. */
  #freeDeferred(buf: Buffer): void {
    this.#live();
    const offset = this.#liveOffsetOf(buf, 'buf');
    const region = this.#found;
    const size = usableAt(region, offset);
    this.#deferred!.defer(buf, region.id * REGION_FACTOR + offset, size);
    this.#forget(region, offset, size);
  }

  /** safeReuse: the view of the block `key` names is garbage, so the block goes back now. */
  #releaseDeferred(key: number): void {
    if (this.#destroyed) return;
    const id = (key / REGION_FACTOR) | 0;
    if (this.#regions[id] === undefined) return;
    freeNative(this.#handle, id, key - id * REGION_FACTOR);
  }

  /** Gives every cached block back to the allocator. */
  #drainCache(): void {
    this.#cache.drain((view) => this.#giveBack(view));
  }

  /** Gives a block the cache held back to the allocator (a drain or the cache's decay). */
  #giveBack(view: PoolBuffer): void {
    const status = freeNative(this.#handle, (viewOwner(view) as Region).id, viewOffset(view));
    if (status !== Status.OK) throw errors.fromStatus(status);
  }

  /**
   * The slow path of an allocating call that returned `status`: on NOMEM a
   * growable pool adds a region big enough for `need` bytes and retries once.
   */
  #retry(status: number, size: number, need: number, attempt: () => number, throwing: boolean): Buffer | null {
    const result = this.#retryStatus(status, need, attempt);
    if (result >= 0) return this.#handOut(result, size);
    if (result === Status.NOMEM && !throwing) return null;
    throw errors.fromStatus(result, size);
  }

  /**
   * After NOMEM: give the cached blocks back and try again, then (growable pools)
   * add a region big enough for `need` bytes and try once more. The result of
   * the last attempt; a retry that succeeds does not count as a failure.
   */
  #retryStatus(status: number, need: number, attempt: () => number): number {
    // The allocator counts every attempt that failed; the user sees at most one failure.
    let result = status;
    if (result === Status.NOMEM && this.#cache.blocks > 0) {
      this.#drainCache();
      this.#retriedFailures++;
      result = attempt();
    }
    if (result === Status.NOMEM && this.#grow(need)) {
      this.#retriedFailures++;
      result = attempt();
    }
    return result;
  }

  /** Adds a region for a request of `need` bytes within maxSize; false when none fits. */
  #grow(need: number): boolean {
    if (this.#maxSize === undefined) return false;
    const minimum = roundUp(need + 64, 8);
    const room = Math.min(MAX_AREA, this.#maxSize - this.#reserved);
    const area = Math.floor(Math.min(Math.max(roundUp(minimum, PAGE), this.#reserved), room) / 8) * 8;
    return area >= minimum && this.#mapRegion(area) >= 0;
  }

  /** Maps a region of `area` bytes and records its buffer; the region id or a negative code. */
  #mapRegion(area: number): number {
    const id = native.addRegion(this.#handle, area);
    if (id < 0) return id;
    const buffer: RegionBuffer = native.regionBuffer(this.#handle, id)!;
    buffer[kRegion] = id;
    const live = new Int32Array(Math.ceil(area / 256));
    this.#regions[id] = ownedBy('TlsfPool', { id, buffer, live, words: new Uint32Array(buffer, 0, area / 4) }); // area <= 2^32: not >>> 2
    this.#reserved += area;
    return id;
  }

  /** Largest alignment allocAligned accepts: the largest region (or maxSize, when growable). */
  #maxAlignment(): number {
    let largest = this.#maxSize ?? 0;
    for (const region of this.#regions) if (region !== undefined) largest = Math.max(largest, region.buffer.byteLength);
    return Math.max(8, largest);
  }

  static #systemError(code: number): Error {
    const failure = decodeSystemFailure(code, SYS_BASE);
    return failure === undefined ? errors.fromStatus(code) : errors.system(failure.errno, failure.syscall);
  }
}
