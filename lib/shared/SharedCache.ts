// SharedCache: SharedPool's per-process cache of freed small blocks. A block
// this process frees is parked here (its view kept, one LIFO per size class,
// as FreeListCache does for TlsfPool) and the next allocation of its class in
// this process takes it back without a native call or a new view object.
//
// Park list: so that a process killed with blocks parked loses none of them,
// the cache records them in the segment too, in a park list (native/alloc/shm_pool.h
// "parked blocks"): one stack of parkDepthFor(limit) slots per size class, mirroring the
// class LIFOs here, opened at the first park and registered with this process's
// pid. The dead-owner sweep of any process frees the listed blocks of a
// process that is gone. Stores are kill-safe: park writes the slot, then the
// count; take decrements the count before the block is handed out.
//
// Invariants:
// - A parked block is still allocated in the segment: every other process sees
//   it as used until this process hands it out again or gives it back (drain).
// - While blocks are parked the list is open, and stack c of the list holds
//   exactly the offsets (/ 8) of class c's parked blocks, in the LIFO's order.
// - The parked set (one bit per 8 bytes of the block area, in pages made on
//   first use) has a bit set exactly for the offsets of the parked blocks, so a
//   second free of a parked block, or at()/realloc of one, is a double free.
// - bytes (usable sizes of the parked blocks) never exceeds the byte limit.
import { FreeListCache } from '../core/FreeListCache.js';
import * as liveBits from '../core/liveBits.js';
import type { PoolBuffer } from '../core/PoolBuffer.js';
import { viewOffset } from '../core/PoolBuffer.js';
import { CLASS_SIZE, ceilClass, floorClass } from '../core/sizeClasses.js';
import { binding } from '../core/native.js';
import { Status } from '../core/status.js';

// Local bindings, not `import { setBit } ...`: the CommonJS output calls a named
// import as `(0, module.fn)(...)`, which V8 inlined worse in HeapPool's alloc/free
// loop (~50 instructions more per op); a const inlines like the bare expression.
const { flipBit, hasBit } = liveBits;

/** Largest usable size a SharedPool parks: small classes only. */
export const SHARED_CACHE_MAX = 4096;
/** Most bytes parked per process and pool (less for a small segment: see limitFor). */
export const SHARED_CACHE_BYTES = 256 * 1024;

/**
 * Slots per size class in the park list (the most blocks a class keeps): 32, fewer
 * for a small byte limit, so that the list (4 bytes per slot in each of the 48
 * classes, after 50 words of shape and counts: 6.3 KiB at 32) stays under 1/5 of
 * the limit (a limit under 2 KiB still gets depth 1: 392 bytes).
 */
export function parkDepthFor(limit: number): number {
  return Math.max(1, Math.min(32, Math.floor((limit / 5 - 4 * SLOTS) / (4 * STACKS))));
}
/** Stacks of the park list: the classes up to SHARED_CACHE_MAX. */
const STACKS = ceilClass(SHARED_CACHE_MAX) + 1;
/** Park list layout (native/alloc/shm_pool.h): the counts from word parkCounts, then the slots; block headers. */
const { parkCounts: COUNTS, sizeWord: SIZE_WORD, flagBits: FLAG_BITS, tlsfLiveShift: SLOT_SHIFT } = binding.layout;
const SLOTS = COUNTS + STACKS;

/** Area bytes covered by one page of the parked set: 64 KiB, i.e. 8192 bits = 256 words. */
const PAGE_SHIFT = 16;
const PAGE_WORDS = (1 << PAGE_SHIFT) >>> 8;

/** The byte limit for a block area of `capacity` bytes: SHARED_CACHE_BYTES, at most 1/16 of it. */
export function limitFor(capacity: number): number {
  return Math.min(SHARED_CACHE_BYTES, Math.floor(capacity / 16));
}

/** Opens a park list of (stacks, depth) for this process: its area offset, or a negative code. */
export type ParkOpener = (stacks: number, depth: number) => number;

export class SharedCache {
  readonly #lists: FreeListCache;
  /** Slots per class in the park list (parkDepthFor the limit). */
  readonly #depth: number;
  /** The block area as 32-bit words (the park list is a view of it). */
  readonly #words: Uint32Array;
  readonly #open: ParkOpener;
  /** This process's park list (a view of the area), or null while none is open. */
  #list: Int32Array | null = null;
  #listOffset = -1;
  /** Whether opening a list failed since the last drain (no retry until then). */
  #openFailed = false;
  /** The parked set: pages of bits by offset >>> PAGE_SHIFT, made on first use. */
  readonly #pages: (Int32Array | undefined)[];
  readonly #limit: number;
  /** Usable size of the block the last take() returned. */
  popped = 0;

  /** A cache of at most `limit` bytes for the block area `words`, opening its park list with `open`. */
  constructor(limit: number, words: Uint32Array, open: ParkOpener) {
    this.#limit = limit;
    this.#depth = parkDepthFor(limit);
    this.#lists = new FreeListCache(CLASS_SIZE, this.#depth);
    this.#words = words;
    this.#open = open;
    this.#pages = new Array<Int32Array | undefined>(Math.ceil(words.byteLength / (1 << PAGE_SHIFT))).fill(undefined);
  }

  /** Usable bytes of the open park list's block (0 if none): cache overhead, allocated in the segment. */
  get listBytes(): number {
    if (this.#listOffset < 0) return 0;
    const word = this.#words[(this.#listOffset >>> 2) + SIZE_WORD]!;
    return word - (word & FLAG_BITS);
  }

  /** Whether a park list is open (a block of this process's in the segment). */
  get listed(): boolean {
    return this.#list !== null;
  }

  /** Usable bytes parked. */
  get bytes(): number {
    return this.#lists.bytes;
  }

  /** Blocks parked. */
  get blocks(): number {
    return this.#lists.blocks;
  }

  /** Whether the block at `offset` is parked here. */
  has(offset: number): boolean {
    const page = this.#pages[offset >>> PAGE_SHIFT];
    if (page === undefined) return false;
    const bit = (offset & ((1 << PAGE_SHIFT) - 1)) >>> 3;
    return hasBit(page, bit);
  }

  /**
   * Parks the freed block `view` (at `offset`, `usable` bytes, 16 <= usable <=
   * SHARED_CACHE_MAX); false when its class is full or the byte limit is reached.
   */
  park(view: PoolBuffer, offset: number, usable: number): boolean {
    if (this.#lists.bytes + usable > this.#limit) return false;
    const list = this.#list ?? this.#openList();
    const c = floorClass(usable);
    if (list === null) return false;
    const n = list[COUNTS + c]!;
    if (!this.#lists.push(c, view, usable)) return false;
    list[SLOTS + c * this.#depth + n] = offset >>> SLOT_SHIFT; // the slot first, then the count
    list[COUNTS + c] = n + 1;
    this.#flip(offset);
    return true;
  }

  /** A parked block that holds `size` <= SHARED_CACHE_MAX bytes (its usable size in `popped`), or undefined. */
  take(size: number): PoolBuffer | undefined {
    const c = ceilClass(size);
    const view = this.#lists.pop(c);
    if (view === undefined) return undefined;
    const list = this.#list!;
    list[COUNTS + c] = list[COUNTS + c]! - 1; // off the list before it is handed out
    this.popped = this.#lists.popped;
    this.#flip(viewOffset(view));
    return view;
  }

  /**
   * Empties the cache: `close` (given the park list's offset, if one is open) frees
   * the listed blocks, the list and its record, and returns how many blocks or a
   * negative code. Returns OK, that code, or DOUBLE_FREE when fewer blocks went
   * back than the cache had (another process freed a parked block through at()).
   */
  drain(close: (list: number) => number): number {
    const blocks = this.#lists.blocks;
    this.#lists.drain((view) => this.#flip(viewOffset(view)));
    this.#openFailed = false;
    if (this.#list === null) return Status.OK;
    const list = this.#listOffset;
    this.#list = null;
    this.#listOffset = -1;
    const freed = close(list);
    return freed < 0 ? freed : freed < blocks ? Status.DOUBLE_FREE : Status.OK;
  }

  /** Calls `visit` with the offset of every parked block. */
  forEach(visit: (offset: number) => void): void {
    for (let index = 0; index < this.#pages.length; index++) {
      const page = this.#pages[index];
      for (let w = 0; page !== undefined && w < PAGE_WORDS; w++) {
        for (let bits = page[w]!; bits !== 0; bits &= bits - 1) {
          const bit = w * 32 + 31 - Math.clz32(bits & -bits);
          visit(index * (1 << PAGE_SHIFT) + bit * 8);
        }
      }
    }
  }

  /** The class a request of `size` bytes is served from, and that class's size (the size to allocate). */
  static classSize(size: number): number {
    return CLASS_SIZE[ceilClass(size)]!;
  }

  /** Opens this process's park list (null if that failed: no room, no record free). */
  #openList(): Int32Array | null {
    if (this.#openFailed) return null;
    const words = SLOTS + STACKS * this.#depth;
    const offset = this.#open(STACKS, this.#depth);
    if (offset < 0 || offset % 8 !== 0 || offset + words * 4 > this.#words.byteLength) {
      this.#openFailed = true;
      return null;
    }
    this.#listOffset = offset;
    return (this.#list = new Int32Array(this.#words.buffer, this.#words.byteOffset + offset, words));
  }

  /** Toggles the parked bit of `offset` (8-aligned). */
  #flip(offset: number): void {
    const index = offset >>> PAGE_SHIFT;
    const page = (this.#pages[index] ??= new Int32Array(PAGE_WORDS));
    const bit = (offset & ((1 << PAGE_SHIFT) - 1)) >>> 3;
    flipBit(page, bit);
  }
}
