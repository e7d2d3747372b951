// FreeListCache's decay (lib/core/FreeListCache.ts): every TRIM_INTERVAL pushes
// onto a class already holding TRIM_DEPTH blocks, a cache over max(TRIM_FLOOR,
// live bytes / 4) gives back three quarters of each class's low-water mark,
// oldest first. Plain objects stand in for the views:
// the cache only keeps them.
import { describe, expect, test } from 'vitest';

import { FreeListCache, TRIM_DEPTH, TRIM_FLOOR, TRIM_INTERVAL } from '../lib/core/FreeListCache.js';
import type { PoolBuffer } from '../lib/core/PoolBuffer.js';

// Depths (about 64 KiB a class): 256, 64 and 32 blocks.
const SIZES = [64, 1024, 2048];
const view = (name: string): PoolBuffer => ({ name }) as unknown as PoolBuffer;

/** A decaying cache over SIZES whose releases land in `released`. */
function decaying(liveBytes = 0, release?: (v: PoolBuffer) => void) {
  const released: PoolBuffer[] = [];
  const cache = new FreeListCache(SIZES, 256, {
    release: release ?? ((v) => released.push(v)),
    liveBytes: () => liveBytes,
  });
  return { cache, released };
}

/** The blocks of class 0 in use: TRIM_DEPTH + 1, all freed and taken again at once. */
const BUSY = Array.from({ length: TRIM_DEPTH + 1 }, (_, i) => view(`busy${i}`));

/**
 * `n` rounds of class 0's work: its TRIM_DEPTH + 1 blocks pushed, then popped (one
 * push a round finds TRIM_DEPTH blocks there: the decay's clock; its low-water mark 0).
 */
function churn(cache: FreeListCache, n: number): void {
  for (let i = 0; i < n; i++) {
    for (const v of BUSY) cache.push(0, v, 64);
    for (let k = 0; k < BUSY.length; k++) cache.pop(0);
  }
}

/** Fills classes 1 and 2 (64 KiB each: 128 KiB, over TRIM_FLOOR); their views, oldest first. */
function fillIdle(cache: FreeListCache): PoolBuffer[][] {
  const one = Array.from({ length: 64 }, (_, i) => view(`one${i}`));
  const two = Array.from({ length: 32 }, (_, i) => view(`two${i}`));
  for (const v of one) cache.push(1, v, 1024);
  for (const v of two) cache.push(2, v, 2048);
  return [one, two];
}

describe('FreeListCache decay', () => {
  test('an idle class gives back 3/4 of its low-water mark each interval, oldest first', () => {
    const { cache, released } = decaying();
    const [one, two] = fillIdle(cache);
    churn(cache, TRIM_INTERVAL - 88); // the first trim (the fill counted 60 + 28 pushes): low-water marks 0
    expect(released).toHaveLength(0);
    churn(cache, TRIM_INTERVAL); // low-water 64 and 32: 48 and 24 go
    expect(released).toEqual([...one!.slice(0, 48), ...two!.slice(0, 24)]);
    expect(cache.blocks).toBe(16 + 8);
    expect(cache.bytes).toBe(16 * 1024 + 8 * 2048);
    churn(cache, TRIM_INTERVAL); // 32 KiB is within TRIM_FLOOR: kept
    expect(cache.blocks).toBe(24);
    expect(cache.pop(1)).toBe(one![63]); // newest first, as ever
  });

  test('a class in steady use keeps its blocks', () => {
    const { cache, released } = decaying();
    fillIdle(cache);
    churn(cache, 4 * TRIM_INTERVAL);
    expect(released).toHaveLength(72);
    expect(released.some((v) => BUSY.includes(v))).toBe(false);
    for (const v of BUSY) cache.push(0, v, 64);
    expect(cache.pop(0)).toBe(BUSY[TRIM_DEPTH]);
  });

  test('pushes onto a class of fewer than TRIM_DEPTH blocks do not count', () => {
    const { cache, released } = decaying();
    fillIdle(cache);
    const one = view('one');
    for (let i = 0; i < 4 * TRIM_INTERVAL; i++) {
      cache.push(0, one, 64);
      cache.pop(0);
    }
    expect(released).toHaveLength(0);
    churn(cache, 2 * TRIM_INTERVAL);
    expect(released).toHaveLength(72);
  });

  test('a cache within a quarter of the live bytes is left whole', () => {
    const { cache, released } = decaying(1024 * 1024);
    fillIdle(cache); // 128 KiB, half of live / 4
    churn(cache, 3 * TRIM_INTERVAL);
    expect(released).toHaveLength(0);
    expect(cache.bytes).toBe(128 * 1024);
    expect(TRIM_FLOOR).toBeLessThan(128 * 1024);
  });

  test('a release that throws leaves the counts right', () => {
    let calls = 0;
    const { cache } = decaying(0, () => {
      if (++calls === 2) throw new Error('corrupted');
    });
    fillIdle(cache);
    churn(cache, TRIM_INTERVAL - 88);
    expect(() => churn(cache, TRIM_INTERVAL)).toThrow('corrupted'); // in class 1's releases
    // the push that trimmed kept nothing (class 0 held its TRIM_DEPTH busy blocks); class 2 was not reached
    expect(cache.blocks).toBe(TRIM_DEPTH + 16 + 32);
    expect(cache.bytes).toBe(TRIM_DEPTH * 64 + 16 * 1024 + 32 * 2048);
    let n = 0;
    while (cache.pop(1) !== undefined) n++;
    expect(n).toBe(16);
  });

  test('without decay the cache keeps what it holds until drained', () => {
    const cache = new FreeListCache(SIZES, 256);
    fillIdle(cache);
    churn(cache, 4 * TRIM_INTERVAL);
    expect(cache.blocks).toBe(96);
    const drained: PoolBuffer[] = [];
    cache.drain((v) => drained.push(v));
    expect(drained).toHaveLength(96);
    expect(cache.bytes).toBe(0);
  });
});
