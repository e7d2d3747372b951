// SharedCache: SharedPool's per-process cache of freed small blocks. A block
// this process frees is parked here (its view kept, one LIFO per size class,
// as FreeListCache does for TlsfPool) and the next allocation of its class in
// this process takes it back without a native call or a new view object.
//
// Invariants:
// - A parked block is still allocated in the segment: every other process sees
//   it as used until this process hands it out again or gives it back (drain).
// - The parked set (one bit per 8 bytes of the block area, in pages made on
//   first use) has a bit set exactly for the offsets of the parked blocks, so a
//   second free of a parked block, or at()/realloc of one, is a double free.
// - bytes (usable sizes of the parked blocks) never exceeds the byte limit.
import { FreeListCache } from './FreeListCache.js';
import type { PoolBuffer } from './PoolBuffer.js';
import { viewOffset } from './PoolBuffer.js';
import { CLASS_SIZE, ceilClass, floorClass } from './sizeClasses.js';

/** Largest usable size a SharedPool parks: small classes only. */
export const SHARED_CACHE_MAX = 4096;
/** Most bytes parked per process and pool (less for a small segment: see limitFor). */
export const SHARED_CACHE_BYTES = 256 * 1024;

/** Area bytes covered by one page of the parked set: 64 KiB, i.e. 8192 bits = 256 words. */
const PAGE_SHIFT = 16;
const PAGE_WORDS = (1 << PAGE_SHIFT) >>> 8;

/** The byte limit for a block area of `capacity` bytes: SHARED_CACHE_BYTES, at most 1/16 of it. */
export function limitFor(capacity: number): number {
  return Math.min(SHARED_CACHE_BYTES, Math.floor(capacity / 16));
}

export class SharedCache {
  readonly #lists = new FreeListCache(CLASS_SIZE);
  /** The parked set: pages of bits by offset >>> PAGE_SHIFT, made on first use. */
  readonly #pages: (Int32Array | undefined)[];
  readonly #limit: number;
  /** Usable size of the block the last take() returned. */
  popped = 0;

  /** A cache of at most `limit` bytes for a block area of `areaSize` bytes. */
  constructor(limit: number, areaSize: number) {
    this.#limit = limit;
    this.#pages = new Array<Int32Array | undefined>(Math.ceil(areaSize / (1 << PAGE_SHIFT))).fill(undefined);
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
    return (page[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  /**
   * Parks the freed block `view` (at `offset`, `usable` bytes, 16 <= usable <=
   * SHARED_CACHE_MAX); false when its class is full or the byte limit is reached.
   */
  park(view: PoolBuffer, offset: number, usable: number): boolean {
    if (this.#lists.bytes + usable > this.#limit || !this.#lists.push(floorClass(usable), view, usable)) return false;
    this.#flip(offset);
    return true;
  }

  /** A parked block that holds `size` <= SHARED_CACHE_MAX bytes (its usable size in `popped`), or undefined. */
  take(size: number): PoolBuffer | undefined {
    const view = this.#lists.pop(ceilClass(size));
    if (view === undefined) return undefined;
    this.popped = this.#lists.popped;
    this.#flip(viewOffset(view));
    return view;
  }

  /** Empties the cache, passing each block's offset to `release` (oldest first per class). */
  drain(release: (offset: number) => void): void {
    this.#lists.drain((view) => {
      const offset = viewOffset(view);
      this.#flip(offset);
      release(offset);
    });
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

  /** Toggles the parked bit of `offset` (8-aligned). */
  #flip(offset: number): void {
    const index = offset >>> PAGE_SHIFT;
    const page = (this.#pages[index] ??= new Int32Array(PAGE_WORDS));
    const bit = (offset & ((1 << PAGE_SHIFT) - 1)) >>> 3;
    page[bit >>> 5]! ^= 1 << (bit & 31);
  }
}
