// Shared helpers for the vitest suite.
import { expect } from 'vitest';

/** Asserts `fn` throws an error with `code` (and, optionally, of class `type`). */
export function expectCode(fn: () => unknown, code: string, type?: abstract new (...args: never[]) => Error): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected an error with code ${code}`).toBeInstanceOf(type ?? Error);
  expect((caught as { code?: unknown }).code).toBe(code);
}

/** A small deterministic PRNG (mulberry32) for seeded random tests. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A size class in steady use: `rounds` times, frees every block of `blocks` and
 * allocates as many of the same lengths again. The last round's blocks.
 */
export function churnBlocks(
  pool: { alloc(size: number): Buffer; free(buf: Buffer): void },
  blocks: Buffer[],
  rounds: number,
): Buffer[] {
  let busy = blocks;
  for (let i = 0; i < rounds; i++) {
    for (const view of busy) pool.free(view);
    busy = busy.map((view) => pool.alloc(view.length));
  }
  return busy;
}
