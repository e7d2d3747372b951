// 120,000 seeded random operations on two RegionPools against a shadow model,
// with small allocations bumped in JavaScript (the lease on a pool's head block,
// logged for the C pool) interleaved with allocations the C pool makes itself
// in the same blocks (calloc is always native; so are large blocks, allocAligned
// and a realloc that moves), frees, reallocs, resets and stale, double and
// foreign frees. The lease moves between the two pools as they take turns.
// Bursts of allocations run without any other call, so the log is recorded in
// batches. Checked: contents (no two allocations overlap), the exact error of
// every refused free, stats against the model, check().
import { expect, test } from 'vitest';

import { PoolError, RegionPool } from '../lib/index.js';
import { mulberry32 } from './helpers/pool.js';

const OPS = 120_000;

interface Live {
  view: Buffer;
  fill: number;
  large: boolean;
  /** The pool's reset count when it was made. */
  epoch: number;
}

interface Dead {
  view: Buffer;
  epoch: number;
}

interface Model {
  pool: RegionPool;
  live: Live[];
  dead: Dead[];
  used: number;
  peak: number;
  resets: number;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof PoolError) return error.code;
    throw error;
  }
  return undefined;
}

test('120,000 random operations mixing JavaScript-bumped and native allocations match a shadow model', () => {
  const random = mulberry32(0x1ea5e);
  const int = (n: number): number => Math.floor(random() * n);
  const models: Model[] = [2048, 16384].map((blockSize) => ({
    pool: new RegionPool({ blockSize }),
    live: [],
    dead: [],
    used: 0,
    peak: 0,
    resets: 0,
  }));
  let fill = 0;
  let bumped = 0;

  const verify = (block: Live): void => {
    const expected = block.fill & 0xff;
    for (let i = 0; i < block.view.length; i += 5) {
      if (block.view[i] !== expected) throw new Error(`contents of a live allocation changed at ${i}`);
    }
  };
  const add = (m: Model, view: Buffer, large: boolean): void => {
    fill++;
    view.fill(fill & 0xff);
    m.live.push({ view, fill, large, epoch: m.resets });
    m.used += view.length;
    m.peak = Math.max(m.peak, m.used);
  };
  const take = (m: Model): Live => {
    const i = int(m.live.length);
    const block = m.live[i]!;
    m.live[i] = m.live[m.live.length - 1]!;
    m.live.pop();
    return block;
  };
  const compare = (m: Model, op: number): void => {
    const stats = m.pool.stats();
    if (stats.used !== m.used || stats.allocations !== m.live.length || stats.peakUsed !== m.peak) {
      throw new Error(
        `op ${op}: stats ${JSON.stringify(stats)} vs model used ${m.used} allocations ${m.live.length} peak ${m.peak}`,
      );
    }
    if (stats.largeBlocks !== m.live.filter((b) => b.large).length) throw new Error(`op ${op}: largeBlocks`);
  };

  for (let op = 0; op < OPS; op++) {
    const m = models[int(4) === 0 ? 1 : 0]!; // the pools take turns, so the lease moves between them
    const { pool } = m;
    const maxSmall = pool.maxSmall;
    const small = (): number => (random() < 0.8 ? int(97) : int(maxSmall + 1));
    const roll = random();
    if (roll < 0.35 || m.live.length === 0) {
      // a burst of small allocations: bumped in JavaScript while the lease holds
      const count = 1 + int(12);
      for (let i = 0; i < count; i++) {
        const n = small();
        const view = random() < 0.8 ? pool.alloc(n) : pool.allocUnaligned(n);
        add(m, view, false);
        bumped++;
      }
    } else if (roll < 0.45) {
      const view = pool.calloc(1, small()); // native, into the same head block
      if (!view.every((b) => b === 0)) throw new Error('calloc gave dirty bytes');
      add(m, view, false);
    } else if (roll < 0.49) {
      add(m, pool.alloc(maxSmall + 1 + int(5000)), true);
    } else if (roll < 0.5) {
      add(m, pool.allocAligned(int(200), 2 ** (3 + int(10))), true);
    } else if (roll < 0.58) {
      const block = take(m);
      verify(block);
      const n = random() < 0.9 ? small() : maxSmall + 1 + int(3000);
      const old = block.view;
      const oldLength = old.length;
      const view = pool.realloc(old, n);
      const moved = view.buffer !== old.buffer || view.byteOffset !== old.byteOffset;
      if (moved) m.peak = Math.max(m.peak, m.used + n);
      m.used -= oldLength;
      const keep = Math.min(n, oldLength);
      for (let i = 0; i < keep; i += 5) if (view[i] !== (block.fill & 0xff)) throw new Error('realloc lost contents');
      if (moved && old.byteLength !== 0) m.dead.push({ view: old, epoch: block.epoch });
      add(m, view, block.large || n > maxSmall);
      m.live[m.live.length - 1]!.epoch = m.resets;
    } else if (roll < 0.9) {
      const block = take(m);
      verify(block);
      m.used -= block.view.length;
      pool.free(block.view);
      m.dead.push({ view: block.view, epoch: block.epoch });
    } else if (roll < 0.995) {
      if (m.dead.length > 0) {
        const { view, epoch } = m.dead[int(m.dead.length)]!;
        const expected = epoch < m.resets ? 'ERR_POOL_FOREIGN_BUFFER' : 'ERR_POOL_DOUBLE_FREE';
        const code = codeOf(() => pool.free(view));
        if (code !== expected) throw new Error(`op ${op}: a dead view's free gave ${code}, not ${expected}`);
      }
      if (m.live.length > 0) {
        const view = m.live[int(m.live.length)]!.view;
        if (view.length > 1 && codeOf(() => pool.free(view.subarray(1))) !== 'ERR_POOL_FOREIGN_BUFFER') {
          throw new Error(`op ${op}: a sub-view was not foreign`);
        }
        const other = models[0] === m ? models[1]! : models[0]!;
        if (codeOf(() => other.pool.free(view)) !== 'ERR_POOL_FOREIGN_BUFFER') {
          throw new Error(`op ${op}: another pool's view was not foreign`);
        }
      }
    } else {
      for (const block of m.live) verify(block);
      pool.reset();
      m.resets++;
      for (const block of m.live) m.dead.push({ view: block.view, epoch: block.epoch });
      m.live = [];
      m.used = 0;
    }
    if (m.dead.length > 2000) m.dead = m.dead.slice(-500);
    if (op % 7 === 0) compare(m, op);
    if (op % 3000 === 0) {
      for (const block of m.live) verify(block);
      pool.check();
    }
  }
  for (const m of models) {
    for (const block of m.live) verify(block);
    compare(m, OPS);
    m.pool.check();
    expect(m.resets).toBeGreaterThan(50);
    m.pool.destroy();
  }
  expect(bumped).toBeGreaterThan(100_000);
});

test('the lease: allocations before and after a native call or another pool never overlap; destroy and reset revoke it', () => {
  const a = new RegionPool({ blockSize: 1024 });
  const b = new RegionPool({ blockSize: 1024 });
  const first = a.alloc(10).fill(1); // native: grants the lease on a's head block
  const bumped = a.alloc(10).fill(2); // bumped in JavaScript
  const native = a.calloc(1, 10); // native: records the log first, lands after it
  expect(native.buffer).toBe(bumped.buffer);
  expect(native.byteOffset).toBe(bumped.byteOffset + 16);
  const fromB = b.alloc(10); // b takes the lease
  const again = a.alloc(10); // native again for a (the lease moves back), after the calloc
  expect(again.byteOffset).toBe(native.byteOffset + 16);
  expect(fromB.buffer).not.toBe(a.alloc(1).buffer);
  expect([first[0], bumped[0], native[0]]).toEqual([1, 2, 0]);
  expect(a.stats()).toMatchObject({ allocations: 5, used: 41 });
  a.check();
  // a free that rewinds the leased block: the next allocation lands at its start again
  const c = new RegionPool({ blockSize: 1024 });
  const views = [c.alloc(8), c.alloc(8), c.alloc(8)];
  for (const view of views) c.free(view);
  expect(c.alloc(8).byteOffset).toBe(0);
  expect(c.alloc(8).byteOffset).toBe(8);
  c.reset();
  expect(c.alloc(8).byteOffset).toBe(0);
  expect(c.stats()).toMatchObject({ allocations: 1, used: 8 });
  c.destroy();
  expect(() => c.alloc(8)).toThrow(/destroyed/);
  a.destroy();
  expect(b.alloc(8).byteOffset).toBe(16);
  b.check();
  b.destroy();
});
