// FreeListCache: freed small blocks kept on the JavaScript side, one LIFO per
// size class, so that a free followed by an alloc of the same class never
// crosses into native code. The allocator still counts a cached block as
// allocated; the pool hands it out again or gives it back (drain) before
// anything that must see the allocator's true state (walk, region removal, an
// allocation that found no room).
import { CLASS_COUNT, CLASS_SIZE } from './sizeClasses.js';

/** Blocks a class may hold: about 64 KiB worth, at least 4, at most 256. */
const DEPTH = Int32Array.from(CLASS_SIZE, (size) => Math.min(256, Math.max(4, Math.floor(65536 / size))));

export class FreeListCache {
  /** Per class, (packed handle, usable size) pairs of cached blocks, newest last; a packed
   *  handle is region * 2**32 + offset. */
  readonly #stacks: number[][] = Array.from({ length: CLASS_COUNT }, () => []);
  #bytes = 0;
  #blocks = 0;

  /** Usable bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Blocks held. */
  get blocks(): number {
    return this.#blocks;
  }

  /** The newest block of class c (its packed handle), or -1 when there is none. */
  pop(c: number): number {
    const stack = this.#stacks[c]!;
    if (stack.length === 0) return -1;
    this.#bytes -= stack.pop()!;
    this.#blocks--;
    return stack.pop()!;
  }

  /** Keeps a freed block of class c and usable size `size`; false when the class is full. */
  push(c: number, packed: number, size: number): boolean {
    const stack = this.#stacks[c]!;
    if (stack.length >= 2 * DEPTH[c]!) return false;
    stack.push(packed, size);
    this.#bytes += size;
    this.#blocks++;
    return true;
  }

  /** Empties the cache, passing every block to `release`, oldest first per class. */
  drain(release: (packed: number) => void): void {
    for (const stack of this.#stacks) {
      for (let i = 0; i < stack.length; i += 2) release(stack[i]!);
      stack.length = 0;
    }
    this.#bytes = 0;
    this.#blocks = 0;
  }
}
