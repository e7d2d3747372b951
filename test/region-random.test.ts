// 60,000 seeded random operations on a RegionPool against a shadow model:
// alloc / allocUnaligned / allocAligned / calloc / realloc / free / reset, with
// contents verified on free, realloc and reset, stats compared with the model
// after every operation, check() every 2,000 operations, and misuse (double,
// stale and foreign frees) mixed in, which must change nothing.
import { expect, test } from 'vitest';

import { RegionPool } from '../lib/index.js';
import { mulberry32 } from './helpers/pool.js';

const OPS = 60_000;

interface Live {
  view: Buffer;
  fill: number;
  large: boolean;
}

test('60,000 random operations with resets match a shadow model', () => {
  const random = mulberry32(0x7e91);
  const int = (n: number): number => Math.floor(random() * n);
  using pool = new RegionPool({ blockSize: 2048 });
  const maxSmall = pool.maxSmall;
  const size = (): number => {
    const roll = random();
    if (roll < 0.7) return int(65);
    if (roll < 0.95) return int(maxSmall + 1);
    return maxSmall + 1 + int(20_000);
  };
  let live: Live[] = [];
  let dead: Buffer[] = []; // freed or stale views: freeing one must be refused
  let used = 0;
  let peak = 0;
  let resets = 0;
  let fill = 0;

  const verify = (block: Live): void => {
    const expected = block.fill & 0xff;
    for (let i = 0; i < block.view.length; i += 7) {
      if (block.view[i] !== expected) throw new Error(`contents of a live allocation changed at ${i}`);
    }
  };
  const add = (view: Buffer, large: boolean): void => {
    fill++;
    view.fill(fill & 0xff);
    live.push({ view, fill, large });
    used += view.length;
    peak = Math.max(peak, used);
  };
  const take = (): Live => {
    const i = int(live.length);
    const block = live[i]!;
    live[i] = live[live.length - 1]!;
    live.pop();
    return block;
  };

  for (let op = 0; op < OPS; op++) {
    const roll = random();
    if (roll < 0.3 || live.length === 0) {
      const n = size();
      add(pool.alloc(n), n > maxSmall);
    } else if (roll < 0.4) {
      const n = size();
      const view = pool.allocUnaligned(n);
      add(view, n > maxSmall);
    } else if (roll < 0.42) {
      const alignment = 2 ** (3 + int(10));
      const view = pool.allocAligned(int(300), alignment);
      expect(view.byteOffset % alignment).toBe(0);
      add(view, true);
    } else if (roll < 0.45) {
      const view = pool.calloc(int(8), int(40));
      expect(view.every((b) => b === 0)).toBe(true);
      add(view, view.length > maxSmall);
    } else if (roll < 0.55) {
      const block = take();
      verify(block);
      const n = size();
      const keep = Math.min(n, block.view.length);
      const old = block.view;
      const oldLength = old.length; // a moved large block is detached by realloc
      const view = pool.realloc(old, n);
      const moved = view.buffer !== old.buffer || view.byteOffset !== old.byteOffset;
      if (moved) peak = Math.max(peak, used + n); // the old block is freed after the copy
      used -= oldLength;
      for (let i = 0; i < keep; i += 7) if (view[i] !== (block.fill & 0xff)) throw new Error('realloc lost contents');
      if (moved && old.byteLength !== 0) dead.push(old);
      add(view, block.large || n > maxSmall);
    } else if (roll < 0.9) {
      const block = take();
      verify(block);
      used -= block.view.length;
      pool.free(block.view);
      expect(block.view.byteLength).toBe(block.view.length); // a large block's memory is held, not detached
      dead.push(block.view);
    } else if (roll < 0.995) {
      if (dead.length > 0) {
        const view = dead[int(dead.length)]!;
        const before = pool.stats().allocations;
        expect(() => pool.free(view)).toThrow(/already been freed|not a live allocation/);
        expect(pool.stats().allocations).toBe(before);
      }
      if (live.length > 0) {
        const view = live[int(live.length)]!.view;
        if (view.length > 1) expect(() => pool.free(view.subarray(1))).toThrow(/not a live allocation/);
      }
    } else {
      for (const block of live) verify(block);
      pool.reset();
      resets++;
      for (const block of live) {
        dead.push(block.view);
      }
      live = [];
      used = 0;
      if (dead.length > 2000) dead = dead.slice(-500);
    }
    const stats = pool.stats();
    if (stats.used !== used || stats.allocations !== live.length || stats.peakUsed !== peak) {
      throw new Error(
        `op ${op}: stats ${JSON.stringify(stats)} vs model used ${used} allocations ${live.length} peak ${peak}`,
      );
    }
    if (op % 97 === 0 && stats.largeBlocks !== live.filter((b) => b.large).length) {
      throw new Error(`op ${op}: largeBlocks ${stats.largeBlocks}`);
    }
    if (op % 2000 === 0) pool.check();
  }
  for (const block of live) verify(block);
  pool.check();
  expect(resets).toBeGreaterThan(100);
});
