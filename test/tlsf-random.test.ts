// 100,000 seeded random operations through the JS API against a shadow model:
// every block's contents are verified when it is freed or reallocated, the
// stats are compared with the model after every operation, and check() runs
// every 5,000 operations.
import { expect, test } from 'vitest';

import { TlsfPool } from '../lib/index.js';
import { mulberry32 } from './helpers/pool.js';

const OPS = 100_000;
const MAX_REQUEST = 64 * 1024;

interface Live {
  view: Buffer;
  fill: number;
  usable: number;
}

test('100,000 random operations match a shadow model', () => {
  const random = mulberry32(0x5eed);
  const int = (n: number): number => Math.floor(random() * n);
  const patterns: Buffer[] = [];
  const pattern = (fill: number, length: number): Buffer =>
    (patterns[fill] ??= Buffer.alloc(MAX_REQUEST, fill)).subarray(0, length);
  const size = (): number => {
    const roll = random();
    if (roll < 0.6) return int(129);
    if (roll < 0.9) return int(4097);
    return int(MAX_REQUEST + 1);
  };

  using pool = new TlsfPool({ size: 1 << 20, maxSize: 6 << 20 });
  const live: Live[] = [];
  let failed = 0;
  let peak = 0;
  let lastPeak = 0;
  let used = 0;

  const verify = (block: Live): void => {
    if (!block.view.equals(pattern(block.fill, block.view.length))) {
      throw new Error(`contents of a ${block.view.length}-byte block at ${block.view.byteOffset} changed`);
    }
  };
  const adopt = (view: Buffer | null): void => {
    if (view === null) {
      failed++;
      return;
    }
    const fill = int(256);
    view.fill(fill);
    const usable = pool.usableSize(view);
    expect(usable).toBeGreaterThanOrEqual(view.length);
    live.push({ view, fill, usable });
    used += usable;
  };
  const take = (): Live => {
    const index = int(live.length);
    const block = live[index]!;
    live[index] = live[live.length - 1]!;
    live.pop();
    used -= block.usable;
    return block;
  };

  for (let op = 1; op <= OPS; op++) {
    const roll = random();
    if (live.length > 0 && roll < 0.42) {
      const block = take();
      verify(block);
      pool.free(block.view);
    } else if (live.length > 0 && roll < 0.52) {
      const block = take();
      verify(block);
      const newSize = size();
      try {
        const view = pool.realloc(block.view, newSize);
        const kept = Math.min(block.view.length, newSize);
        expect(view.subarray(0, kept).equals(pattern(block.fill, kept))).toBe(true);
        adopt(view);
      } catch (error) {
        expect((error as { code?: string }).code).toBe('ERR_POOL_EXHAUSTED');
        failed++;
        verify(block); // the old block stays valid
        live.push(block);
        used += block.usable;
      }
    } else if (roll < 0.57) {
      const view = pool.tryAlloc(size());
      adopt(view === null ? null : view);
    } else if (roll < 0.62) {
      let view: Buffer | null = null;
      try {
        view = pool.calloc(int(64), int(64));
        expect(view.equals(pattern(0, view.length))).toBe(true);
      } catch (error) {
        expect((error as { code?: string }).code).toBe('ERR_POOL_EXHAUSTED');
      }
      adopt(view);
    } else if (roll < 0.67) {
      const alignment = 2 ** (3 + int(10));
      let view: Buffer | null = null;
      try {
        view = pool.allocAligned(size(), alignment);
        expect(view.byteOffset % alignment).toBe(0);
      } catch (error) {
        expect((error as { code?: string }).code).toBe('ERR_POOL_EXHAUSTED');
      }
      adopt(view);
    } else {
      adopt(pool.tryAlloc(size()));
    }

    peak = Math.max(peak, used);
    const stats = pool.stats();
    if (stats.allocations !== live.length || stats.used !== used || stats.failedAllocations !== failed) {
      throw new Error(`op ${op}: stats ${JSON.stringify(stats)} != model ${live.length}/${used}/${failed}`);
    }
    if (op % 5000 === 0) {
      pool.check();
      // a moving realloc holds both blocks for a moment, so the pool's peak may be higher
      expect(stats.peakUsed).toBeGreaterThanOrEqual(peak);
      expect(stats.peakUsed).toBeGreaterThanOrEqual(lastPeak);
      lastPeak = stats.peakUsed;
      expect(stats.reserved).toBeLessThanOrEqual(stats.capacity);
      for (const block of live) verify(block);
    }
  }
  expect(failed).toBeGreaterThan(0); // the run did reach the limit
  expect(pool.stats().regions).toBeGreaterThan(1); // and grew
  for (const block of live.splice(0)) {
    verify(block);
    pool.free(block.view);
  }
  pool.check();
  expect(pool.stats().used).toBe(0);
});
