// 60,000 seeded random operations on a HeapPool and a capped child of it,
// against a shadow model: alloc / tryAlloc / calloc / realloc / free, with
// contents verified on free and realloc, stats compared with the model after
// every operation, check() every 2,000 operations, and misuse (double,
// foreign and cross-pool frees) mixed in, which must change nothing.
import { expect, test } from 'vitest';

import { HeapPool } from '../lib/index.js';
import type { HeapPoolStats } from '../lib/index.js';
import { mulberry32 } from './helpers/pool.js';

const OPS = 60_000;
const KiB = 1024;
const CLASSES: number[] = [16]; // 16, 32, 48, 64, 96, ..., 1 MiB, 1.5 MiB, 2 MiB
for (let k = 5; k <= 20; k++) CLASSES.push(2 ** k, 1.5 * 2 ** k);
CLASSES.push(2 ** 21);

/** Usable size of a request in an unbounded pool: its class, or whole pages above 2 MiB. */
function usable(n: number): number {
  for (const size of CLASSES) if (size >= Math.max(n, 1)) return size;
  return Math.ceil(n / 4096) * 4096;
}

interface Live {
  view: Buffer;
  fill: number;
  pool: number; // 0: the root, 1: the child
  usable: number; // the block's usable size (a block kept in place by realloc keeps it)
  buffer: ArrayBuffer;
  offset: number;
}

test('60,000 random operations on a pool and a capped child match a shadow model', () => {
  const random = mulberry32(0x4ea9);
  const int = (n: number): number => Math.floor(random() * n);
  using root = new HeapPool();
  const child = new HeapPool({ parent: root, capacity: 4 * 1024 * KiB });
  const pools = [root, child];
  const size = (): number => {
    const roll = random();
    if (roll < 0.7) return int(257);
    if (roll < 0.99) return int(20_000);
    return 2 * 1024 * KiB + int(1024 * KiB);
  };
  const live: Live[] = [];
  const dead: Live[] = [];
  const used = [0, 0];
  const peak = [0, 0];
  const count = [0, 0];
  const failed = [0, 0];
  let fill = 0;

  const verify = (block: Live): void => {
    const expected = block.fill & 0xff;
    for (let i = 0; i < block.view.length; i += 7) {
      if (block.view[i] !== expected) throw new Error(`contents of a live allocation changed at ${i}`);
    }
  };
  const add = (p: number, view: Buffer, zeroed: boolean, size = usable(view.length)): void => {
    expect(view.byteOffset % 16).toBe(0);
    if (zeroed) expect(view.every((b) => b === 0)).toBe(true);
    const block = { view, fill: ++fill, pool: p, usable: size, buffer: view.buffer, offset: view.byteOffset };
    view.fill(block.fill & 0xff);
    live.push(block);
    count[p]!++;
    if (p === 0) {
      used[0]! += size;
      peak[0] = Math.max(peak[0]!, used[0]!);
    }
  };
  const remove = (index: number): Live => {
    const block = live[index]!;
    live[index] = live[live.length - 1]!;
    live.pop();
    count[block.pool]!--;
    if (block.pool === 0) used[0]! -= block.usable;
    return block;
  };
  const compare = (p: number, s: HeapPoolStats): void => {
    expect(s.allocations).toBe(count[p]);
    expect(s.failedAllocations).toBe(failed[p]);
    if (p === 0) {
      expect(s.used).toBe(used[0]);
      expect(s.peakUsed).toBe(peak[0]);
    } else {
      expect(s.reserved).toBeLessThanOrEqual(4 * 1024 * KiB);
      expect(child.availableCapacity).toBe(4 * 1024 * KiB - s.reserved);
    }
  };

  for (let op = 0; op < OPS; op++) {
    const p = int(4) === 0 ? 1 : 0;
    const pool = pools[p]!;
    const roll = random();
    if (roll < 0.4 || live.length === 0) {
      const n = size();
      const view =
        p === 0 || int(2) === 0
          ? pool.tryAlloc(n)
          : (() => {
              try {
                return pool.alloc(n);
              } catch (error) {
                expect((error as { code?: string }).code).toBe('ERR_POOL_EXHAUSTED');
                return null;
              }
            })();
      if (view === null) failed[p]!++;
      else add(p, view, false);
    } else if (roll < 0.45) {
      const n = int(300);
      try {
        add(p, pool.calloc(n, 1 + int(4)), true);
      } catch (error) {
        expect((error as { code?: string }).code).toBe('ERR_POOL_EXHAUSTED');
        failed[p]!++;
      }
    } else if (roll < 0.55) {
      const index = int(live.length);
      const block = live[index]!;
      const owner = pools[block.pool]!;
      const n = size();
      const keep = Math.min(n, block.view.length);
      verify(block);
      let grown: Buffer;
      try {
        grown = owner.realloc(block.view, n);
      } catch (error) {
        expect((error as { code?: string }).code).toBe('ERR_POOL_EXHAUSTED');
        failed[block.pool]!++;
        verify(block); // the old block stays valid
        continue;
      }
      for (let i = 0; i < keep; i += 5) if (grown[i] !== (block.fill & 0xff)) throw new Error('realloc lost contents');
      remove(index);
      add(block.pool, grown, false, n <= block.usable ? block.usable : usable(n));
    } else if (roll < 0.95) {
      const index = int(live.length);
      const block = live[index]!;
      verify(block);
      pools[block.pool]!.free(block.view);
      remove(index);
      if (dead.length < 64) dead.push(block);
      else dead[int(64)] = block;
    } else {
      // misuse: must be refused and change nothing
      const before = [root.stats(), child.stats()];
      const target = pools[int(2)]!;
      const roll2 = int(3);
      let code: string | undefined;
      try {
        if (roll2 === 0 && dead.length > 0) {
          const block = dead[int(dead.length)]!;
          // a dead view whose block was handed out again is that block's (as with malloc, without
          // generations a stale view of a reused block is not told apart from the new one)
          if (live.some((l) => l.buffer === block.buffer && l.offset === block.offset)) continue;
          target.free(block.view);
        } else if (roll2 === 1 && live.length > 0) {
          target.free(live[int(live.length)]!.view.subarray(0, 1));
        } else {
          const block = live.find((l) => pools[l.pool] !== target);
          if (block === undefined) continue;
          target.free(block.view);
        }
      } catch (error) {
        code = (error as { code?: string }).code;
      }
      expect(['ERR_POOL_DOUBLE_FREE', 'ERR_POOL_FOREIGN_BUFFER']).toContain(code);
      expect([root.stats(), child.stats()]).toEqual(before);
    }
    compare(0, root.stats());
    compare(1, child.stats());
    if (op % 2000 === 0) root.check();
  }
  for (const block of live) verify(block);
  root.check();
  child.check();
  expect(child.stats().failedAllocations).toBeGreaterThan(0); // the cap was reached
});
