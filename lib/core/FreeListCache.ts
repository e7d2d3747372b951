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
import type { PoolBuffer } from './PoolBuffer.js';
import { CLASS_SIZE } from './sizeClasses.js';

/** Blocks a class may hold: about 64 KiB worth, at least 4, at most 256. */
const depthOf = (size: number): number => Math.min(256, Math.max(4, Math.floor(65536 / size)));

export class FreeListCache {
  /** Per class, the most blocks kept. */
  readonly #depth: Int32Array;
  /** Per class, the views of cached blocks, newest last, and their usable sizes. */
  readonly #views: PoolBuffer[][];
  readonly #sizes: number[][];
  #bytes = 0;
  #blocks = 0;
  /** Usable size of the block the last pop() returned. */
  popped = 0;

  /**
   * `classSizes`: the size of each class the pool's blocks are pushed under (ascending);
   * `maxDepth`: the most blocks any class keeps.
   */
  constructor(classSizes: ArrayLike<number> = CLASS_SIZE, maxDepth = 256) {
    this.#depth = Int32Array.from(classSizes, (size) => Math.min(maxDepth, depthOf(size)));
    this.#views = Array.from(this.#depth, () => []);
    this.#sizes = Array.from(this.#depth, () => []);
  }

  /** Usable bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Blocks held. */
  get blocks(): number {
    return this.#blocks;
  }

  /** The view of the newest block of class c (its usable size in `popped`), or undefined. */
  pop(c: number): PoolBuffer | undefined {
    const views = this.#views[c]!;
    if (views.length === 0) return undefined;
    this.popped = this.#sizes[c]!.pop()!;
    this.#bytes -= this.popped;
    this.#blocks--;
    return views.pop();
  }

  /** Keeps the view of a freed block of class c and usable size `size`; false when the class is full. */
  push(c: number, view: PoolBuffer, size: number): boolean {
    const views = this.#views[c]!;
    if (views.length >= this.#depth[c]!) return false;
    views.push(view);
    this.#sizes[c]!.push(size);
    this.#bytes += size;
    this.#blocks++;
    return true;
  }

  /** Empties the cache, passing every view to `release`, oldest first per class. */
  drain(release: (view: PoolBuffer) => void): void {
    for (let c = 0; c < this.#views.length; c++) {
      for (const view of this.#views[c]!) release(view);
      this.#views[c]!.length = 0;
      this.#sizes[c]!.length = 0;
    }
    this.#bytes = 0;
    this.#blocks = 0;
  }
}
