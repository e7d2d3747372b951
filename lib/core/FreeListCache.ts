// FreeListCache: freed small blocks kept on the JavaScript side, one LIFO per
// size class, so that a free followed by an alloc of the same class never
// crosses into native code. What is kept is the freed view itself: when the
// next request of the class has the same length, the pool hands the same view
// object out again (as malloc hands out the same address), so the hot loop
// makes no new object at all. The allocator still counts a cached block as
// allocated; the pool hands it out again or gives it back (drain) before
// anything that must see the allocator's true state (walk, region removal, an
// allocation that found no room).
// The class list is the pool's: TlsfPool uses sizeClasses.ts, HeapPool the C
// heap pool's own classes.
//
// Decay (a cache given a CacheDecay): under mixed sizes each class's count is
// a random walk that drifts up to its depth, so a cache that only fills comes
// to hold far more than the live data (W1 sizes at 1 k live: 0.63x the live
// bytes cached, the pool 1.8x them resident). So, as jemalloc's thread cache
// does, each class gives back three quarters of its low-water mark (the fewest
// blocks it held since the last trim: blocks no allocation needed in that
// time), oldest first, every TRIM_INTERVAL pushes onto a class that already
// holds TRIM_DEPTH blocks or more. Pushes onto a class holding fewer are the
// cache's steady work (a free and an alloc of the same class) and count
// nothing: a counter on every push measured 2-3 ns (5 %) more on a 64 B
// alloc/free, and a clock of native allocations (misses) ran too slowly to
// decay anything once the cache held enough. A class in steady use keeps what
// its allocations take; an idle one empties in a few intervals. A cache within
// a quarter of the live bytes (or TRIM_FLOOR) is left whole: parked blocks
// reused in place fragment the allocator less than blocks given back (W2
// sizes: 1.14x resident either way; trimming every time made it 1.40x).
import type { PoolBuffer } from './PoolBuffer.js';
import { CLASS_SIZE } from './sizeClasses.js';

/** Blocks a class may hold: about 64 KiB worth, at least 4, at most 256. */
const depthOf = (size: number): number => Math.min(256, Math.max(4, Math.floor(65536 / size)));
/** Counted pushes between two trims of a decaying cache. */
export const TRIM_INTERVAL = 1024;
/** A push counts towards the next trim when its class holds this many blocks already. */
export const TRIM_DEPTH = 4;
/** Bytes a decaying cache may hold whatever the live bytes. */
export const TRIM_FLOOR = 65536;

/** Where a decaying cache's trimmed blocks go, and what it is measured against. */
export interface CacheDecay {
  /** Gives a block back to the allocator (may throw: the pool is corrupted). */
  release(view: PoolBuffer): void;
  /** The pool's live bytes (its blocks in use, the cache's not counted). */
  liveBytes(): number;
}

export class FreeListCache {
  /** Per class, the most blocks kept. */
  readonly #depth: Int32Array;
  /** Per class, the views of cached blocks, newest last, and their usable sizes. */
  readonly #views: PoolBuffer[][];
  readonly #sizes: number[][];
  /** Per class, the fewest blocks held since the last trim. */
  readonly #low: Int32Array;
  readonly #decay: CacheDecay | null;
  /** Counted pushes until the next trim; a cache without decay starts it at 0, which never comes back. */
  #untilTrim: number;
  #bytes = 0;
  /** Usable size of the block the last pop() returned. */
  popped = 0;

  /**
   * `classSizes`: the size of each class the pool's blocks are pushed under (ascending);
   * `maxDepth`: the most blocks any class keeps; `decay`: null for a cache that
   * keeps what it holds until drained.
   */
  constructor(classSizes: ArrayLike<number> = CLASS_SIZE, maxDepth = 256, decay: CacheDecay | null = null) {
    this.#depth = Int32Array.from(classSizes, (size) => Math.min(maxDepth, depthOf(size)));
    this.#low = new Int32Array(this.#depth.length);
    this.#decay = decay;
    this.#untilTrim = decay === null ? 0 : TRIM_INTERVAL;
    this.#views = Array.from(this.#depth, () => []);
    this.#sizes = Array.from(this.#depth, () => []);
  }

  /** Usable bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Blocks held: O(classes), counted when asked (a counter would lengthen push and pop past
   *  what V8 inlines into a pool's alloc/free loop: see HeapPool's free). */
  get blocks(): number {
    let blocks = 0;
    for (const views of this.#views) blocks += views.length;
    return blocks;
  }

  /** The view of the newest block of class c (its usable size in `popped`), or undefined. */
  pop(c: number): PoolBuffer | undefined {
    const views = this.#views[c]!;
    if (views.length === 0) return undefined;
    this.popped = this.#sizes[c]!.pop()!;
    this.#bytes -= this.popped;
    if (views.length <= this.#low[c]!) this.#low[c] = views.length - 1;
    return views.pop();
  }

  /**
   * Keeps the view of a freed block of class c and usable size `size`; false when
   * the class is full. A decaying cache trims first every TRIM_INTERVAL pushes
   * onto a class of TRIM_DEPTH blocks or more: when a release throws, the block
   * is not kept.
   */
  push(c: number, view: PoolBuffer, size: number): boolean {
    const views = this.#views[c]!;
    const n = views.length;
    if (n >= this.#depth[c]!) return false;
    if (n >= TRIM_DEPTH && --this.#untilTrim === 0) this.#trim();
    views.push(view);
    this.#sizes[c]!.push(size);
    this.#bytes += size;
    return true;
  }

  /**
   * Starts the next interval; a cache over max(TRIM_FLOOR, live bytes / 4)
   * first gives back three quarters (rounded up) of each class's low-water
   * mark, oldest first. Each block leaves the lists before `release` sees it,
   * so a release that throws (a corrupted pool) leaves the counts right.
   */
  #trim(): void {
    const decay = this.#decay!;
    this.#untilTrim = TRIM_INTERVAL;
    const over = this.#bytes > Math.max(TRIM_FLOOR, decay.liveBytes() / 4);
    for (let c = 0; c < this.#views.length; c++) {
      const views = this.#views[c]!;
      const low = this.#low[c]!;
      const gone = over && low > 0 ? views.splice(0, low - (low >> 2)) : [];
      for (const size of this.#sizes[c]!.splice(0, gone.length)) this.#bytes -= size;
      this.#low[c] = views.length;
      for (const view of gone) decay.release(view);
    }
  }

  /** Empties the cache, passing every view to `release`, oldest first per class. */
  drain(release: (view: PoolBuffer) => void): void {
    for (let c = 0; c < this.#views.length; c++) {
      for (const view of this.#views[c]!) release(view);
      this.#views[c]!.length = 0;
      this.#sizes[c]!.length = 0;
      this.#low[c] = 0;
    }
    this.#bytes = 0;
  }
}
