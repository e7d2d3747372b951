import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { describe, expect, test } from 'vitest';

import { PoolError, RegionPool, TlsfPool } from '../lib/index.js';
import { expectCode } from './helpers/pool.js';

describe('construction', () => {
  test('defaults and getters', () => {
    using pool = new RegionPool();
    expect(pool.blockSize).toBe(16384);
    expect(pool.maxSmall).toBe(4095); // min(blockSize, pageSize - 1)
    expect(pool.destroyed).toBe(false);
    expect(pool.stats()).toEqual({
      capacity: Infinity,
      reserved: 0,
      used: 0,
      peakUsed: 0,
      allocations: 0,
      failedAllocations: 0,
      blocks: 0,
      largeBlocks: 0,
      wasted: 0,
      destroyed: false,
      heldBytes: 0,
      heldChunks: 0,
      pendingFrees: 0,
    });
    using small = new RegionPool({ blockSize: 256 });
    expect(small.maxSmall).toBe(256);
  });

  test('invalid options', () => {
    expectCode(() => new RegionPool(null as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => new RegionPool({ blockSize: '4096' as never }), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => new RegionPool({ blockSize: 240 }), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => new RegionPool({ blockSize: 4100 }), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => new RegionPool({ blockSize: 4096.5 }), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => new RegionPool({ blockSize: 2 ** 31 }), 'ERR_OUT_OF_RANGE', RangeError);
    expect(() => new RegionPool({ blockSize: 4100 })).toThrow('a multiple of 16');
  });
});

describe('allocation', () => {
  test('alloc gives 8-aligned Buffer views; allocUnaligned packs bytes', () => {
    using pool = new RegionPool({ blockSize: 4096 });
    const a = pool.alloc(3);
    const b = pool.alloc(5);
    expect(Buffer.isBuffer(a)).toBe(true);
    expect(a.length).toBe(3);
    // a starts the block; offsets are the block's (the buffer may be the pool's arena: docs/region.md)
    expect(a.byteOffset % 8).toBe(0);
    expect(b.byteOffset % 8).toBe(0);
    expect(b.byteOffset - a.byteOffset).toBe(8);
    const u = pool.allocUnaligned(3);
    const v = pool.allocUnaligned(1);
    expect(u.byteOffset - a.byteOffset).toBe(13);
    expect(v.byteOffset - a.byteOffset).toBe(16);
    const w = pool.allocUnaligned(2);
    expect((w.byteOffset - a.byteOffset) % 2).toBe(1);
    expect(a.buffer).toBe(w.buffer);
    expect(a.buffer.byteLength).toBeGreaterThanOrEqual(a.byteOffset + 4096);
    const s = pool.stats();
    expect(s.used).toBe(14);
    expect(s.allocations).toBe(5);
    expect(s.wasted).toBe(5); // padding between a and b
    expect(s.blocks).toBe(1);
    expect(s.reserved).toBe(4096);
  });

  test('maxSmall is the threshold for large blocks', () => {
    using pool = new RegionPool();
    const small = pool.alloc(pool.maxSmall);
    expect(pool.stats().largeBlocks).toBe(0);
    expect(pool.stats().blocks).toBe(1);
    const large = pool.alloc(pool.maxSmall + 1);
    expect(pool.stats().largeBlocks).toBe(1);
    expect(large.byteOffset % 4096).toBe(0); // a chunk of its own, page-aligned (in the pool's arena here)
    expect(large.buffer.byteLength).toBeGreaterThanOrEqual(large.byteOffset + pool.maxSmall + 1);
    expect(large.byteOffset >= small.byteOffset + small.length || large.buffer !== small.buffer).toBe(true);
    expect(pool.stats().used).toBe(2 * pool.maxSmall + 1);
    const unaligned = pool.allocUnaligned(pool.maxSmall + 1);
    expect(pool.stats().largeBlocks).toBe(2);
    pool.free(unaligned);
    pool.free(large);
    expect(large.byteLength).toBe(pool.maxSmall + 1); // freed at once; kept for the next request of its size
    expect(pool.stats().heldChunks).toBe(0);
    expect(pool.stats().largeBlocks).toBe(0);
    expect(small.byteLength).toBe(pool.maxSmall);
  });

  test('allocAligned gives an aligned large block', () => {
    using pool = new RegionPool();
    for (const alignment of [8, 64, 4096, 65536, 2 ** 20]) {
      const view = pool.allocAligned(100, alignment);
      expect(view.length).toBe(100);
      expect(view.byteOffset % alignment).toBe(0);
      expect(new Float64Array(view.buffer, view.byteOffset, 12).length).toBe(12);
    }
    expect(pool.stats().largeBlocks).toBe(5);
    expect(pool.allocAligned(0, 8).length).toBe(0);
    expectCode(() => pool.allocAligned(8, 12), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.allocAligned(8, 4), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.allocAligned(8, 2 ** 21), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.allocAligned(8, '8' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => pool.allocAligned(-1, 8), 'ERR_OUT_OF_RANGE', RangeError);
  });

  test('alloc(0) is a freeable zero-length view', () => {
    using pool = new RegionPool();
    const zero = pool.alloc(0);
    expect(zero.length).toBe(0);
    expect(pool.stats().allocations).toBe(1);
    pool.free(zero);
    expect(pool.stats().allocations).toBe(0);
  });

  test('calloc zero-fills, even over recycled memory; overflow is a RangeError', () => {
    using pool = new RegionPool({ blockSize: 1024 });
    const first = pool.alloc(512).fill(0xff);
    pool.free(first);
    const z = pool.calloc(16, 32);
    expect(z.byteOffset).toBe(first.byteOffset);
    expect(z.length).toBe(512);
    expect(z.every((byte) => byte === 0)).toBe(true);
    expectCode(() => pool.calloc(2 ** 40, 2 ** 20), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.calloc(2 ** 20, 2 ** 20), 'ERR_OUT_OF_RANGE', RangeError); // above MAX_LENGTH
    expectCode(() => pool.calloc(-1, 1), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.calloc(1, null as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  });

  test('bad sizes are Node argument errors and change nothing', () => {
    using pool = new RegionPool();
    expectCode(() => pool.alloc(-1), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.alloc(1.5), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.alloc(2 ** 53), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.alloc(2 ** 32 + 1), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.alloc('1' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => pool.tryAlloc(NaN), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.allocUnaligned(undefined as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expect(pool.stats().allocations).toBe(0);
    expect(pool.stats().reserved).toBe(0);
  });

  test('out of memory: alloc throws ERR_POOL_EXHAUSTED, tryAlloc returns null, both counted', () => {
    // A child whose address space is capped at 1.5 GB cannot get a 2 GiB large block.
    const script = `
      const { RegionPool } = require(${JSON.stringify(path.join(__dirname, '..'))});
      const pool = new RegionPool();
      const result = { tryAlloc: pool.tryAlloc(2 ** 31) };
      try { pool.alloc(2 ** 31); } catch (e) { result.code = e.code; result.name = e.name; }
      result.small = pool.alloc(8).length;
      result.stats = pool.stats();
      console.log(JSON.stringify(result));`;
    const child = spawnSync('sh', ['-c', 'ulimit -v 1500000 && exec "$0" -e "$1"', process.execPath, script], {
      encoding: 'utf8',
    });
    const result = JSON.parse(child.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(result).toMatchObject({ tryAlloc: null, code: 'ERR_POOL_EXHAUSTED', name: 'PoolError', small: 8 });
    expect(result['stats']).toMatchObject({ failedAllocations: 2, allocations: 1, largeBlocks: 0 });
  });
});

describe('free', () => {
  test('every error code of free', () => {
    using pool = new RegionPool();
    using other = new RegionPool();
    using tlsf = new TlsfPool({ size: 4096 });
    const a = pool.alloc(16);
    pool.alloc(16); // keeps the block from being rewound
    expectCode(() => pool.free(Buffer.alloc(16)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(a.subarray(1)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(a.subarray(0)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(Buffer.from(a.buffer, a.byteOffset, a.length)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(other.alloc(16)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(tlsf.alloc(16)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => other.free(a), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => tlsf.free(a), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free({} as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expect(pool.stats().allocations).toBe(2);
    pool.free(a);
    expectCode(() => pool.free(a), 'ERR_POOL_DOUBLE_FREE', PoolError);
    const large = pool.alloc(10_000);
    pool.free(large);
    expectCode(() => pool.free(large), 'ERR_POOL_DOUBLE_FREE', PoolError);
    pool.check();
  });

  test('a block whose allocations are all freed is rewound: the next alloc lands at its start', () => {
    using pool = new RegionPool({ blockSize: 1024 });
    const views = [pool.alloc(100), pool.alloc(200), pool.allocUnaligned(33)];
    for (const view of views) pool.free(view);
    expect(pool.stats().used).toBe(0);
    const again = pool.alloc(10);
    expect(again.byteOffset).toBe(views[0]!.byteOffset);
    expect(again.buffer).toBe(views[0]!.buffer);
    expect(pool.stats().blocks).toBe(1);
    // a view from before the rewind is a double free, not the new allocation
    expectCode(() => pool.free(views[0]!), 'ERR_POOL_DOUBLE_FREE', PoolError);
    expect(pool.stats().allocations).toBe(1);
  });

  test('full blocks make new blocks', () => {
    using pool = new RegionPool({ blockSize: 256 });
    const views = Array.from({ length: 10 }, () => pool.alloc(100));
    expect(pool.stats().blocks).toBe(5);
    // five chunks (blocks of 256 B are 4 KiB-aligned: block_align is at least a page)
    expect(new Set(views.map((v) => `${v.byteOffset >> 12}@${v.buffer.byteLength}`)).size).toBe(5);
    for (const view of views) pool.free(view);
    expect(pool.stats().used).toBe(0);
    pool.check();
  });
});

describe('realloc', () => {
  test('keeps contents, grows in place at the end of a block, moves otherwise', () => {
    using pool = new RegionPool({ blockSize: 4096 });
    const a = pool.alloc(10).fill(1);
    const grown = pool.realloc(a, 100);
    expect(grown.byteOffset).toBe(a.byteOffset);
    expect(grown.subarray(0, 10).every((b) => b === 1)).toBe(true);
    pool.alloc(8);
    const moved = pool.realloc(grown, 200);
    expect(moved.byteOffset).not.toBe(grown.byteOffset);
    expect(moved.subarray(0, 10).every((b) => b === 1)).toBe(true);
    const large = pool.realloc(moved, 10_000);
    expect(pool.stats().largeBlocks).toBe(1);
    expect(large.subarray(0, 10).every((b) => b === 1)).toBe(true);
    const larger = pool.realloc(large, 20_000);
    expect(pool.stats().largeBlocks).toBe(1); // the old large block was released (held while viewed)
    expect(larger.subarray(0, 10).every((b) => b === 1)).toBe(true);
    const shrunk = pool.realloc(larger, 5);
    expect(shrunk.length).toBe(5);
    expect(shrunk.buffer).toBe(larger.buffer);
    expect(pool.stats().used).toBe(8 + 5);
    pool.check();
  });

  test('realloc keeps an allocAligned alignment; errors change nothing', () => {
    using pool = new RegionPool();
    const aligned = pool.allocAligned(64, 65536).fill(7);
    const grown = pool.realloc(aligned, 100_000);
    expect(grown[63]).toBe(7);
    const a = pool.alloc(8);
    pool.alloc(8);
    pool.free(a);
    expectCode(() => pool.realloc(a, 16), 'ERR_POOL_DOUBLE_FREE', PoolError);
    expectCode(() => pool.realloc(Buffer.alloc(4), 16), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.realloc(grown, -1), 'ERR_OUT_OF_RANGE', RangeError);
    expect(pool.stats().allocations).toBe(2);
    expect(grown.length).toBe(100_000);
  });
});

describe('reset', () => {
  test('releases large blocks (held while viewed), makes small views stale, keeps blocks, zero used', () => {
    using pool = new RegionPool({ blockSize: 1024 });
    const small = pool.alloc(100).fill(9);
    const large = pool.alloc(5000);
    const aligned = pool.allocAligned(16, 4096);
    const before = pool.stats();
    expect(before.largeBlocks).toBe(2);
    large.fill(3);
    pool.reset();
    expect(large.byteLength).toBe(5000); // its memory is held while the view lives
    expect(aligned.byteLength).toBe(16);
    expect(large[4999]).toBe(3);
    expect(pool.stats().heldChunks).toBe(0); // both kept for reuse (at most 4, 256 KiB)
    expectCode(() => pool.free(large), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expect(small.byteLength).toBe(100); // still points into a live block
    expect(small[0]).toBe(9);
    const after = pool.stats();
    expect(after).toMatchObject({ used: 0, allocations: 0, largeBlocks: 0, blocks: 1, wasted: 0 });
    expect(after.reserved).toBe(1024 + 5000 + 16); // the kept large blocks are still reserved
    expect(after.peakUsed).toBe(before.peakUsed);
    expectCode(() => pool.free(small), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(large), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.realloc(small, 10), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    // the stale view is not confused with the new allocation at the same offset
    const fresh = pool.alloc(100);
    expect(fresh.byteOffset).toBe(small.byteOffset);
    expectCode(() => pool.free(small), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expect(pool.stats().allocations).toBe(1);
    pool.free(fresh);
    // large ids are reused after reset: old views stay refused
    const newLarge = pool.alloc(5000);
    expectCode(() => pool.free(large), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    pool.free(newLarge);
    pool.check();
  });
});

describe('kept large blocks', () => {
  test('free() and reset() keep up to 4 large blocks for the next request of their size; stale views stay refused', () => {
    using pool = new RegionPool({ blockSize: 1024 });
    const first = pool.alloc(5000).fill(1);
    pool.free(first);
    const second = pool.alloc(5000); // the same chunk and buffer, a new generation
    expect(second.buffer).toBe(first.buffer);
    expect(second.byteOffset).toBe(first.byteOffset);
    expectCode(() => pool.free(first), 'ERR_POOL_DOUBLE_FREE', PoolError);
    expect(pool.stats()).toMatchObject({ largeBlocks: 1, allocations: 1, used: 5000, heldChunks: 0 });
    const other = pool.alloc(6000); // another size: a chunk of its own
    const same = (a: Buffer, b: Buffer): boolean => a.buffer === b.buffer && a.byteOffset === b.byteOffset;
    expect(same(other, first)).toBe(false);
    pool.reset();
    expectCode(() => pool.free(second), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    const third = pool.alloc(6000);
    expect(same(third, other)).toBe(true);
    expect(same(pool.alloc(5000), first)).toBe(true);
    pool.check();
    // beyond 4 kept blocks the rest are released (held while viewed; 40 kB: above the arena's chunks)
    const many = Array.from({ length: 6 }, () => pool.alloc(40_000));
    for (const view of many) pool.free(view);
    expect(pool.stats().heldChunks).toBe(2);
    const again = Array.from({ length: 6 }, () => pool.alloc(40_000));
    const reused = again.filter((view) => many.some((old) => same(old, view)));
    expect(reused.length).toBe(4);
    for (const view of again) pool.free(view);
    pool.check();
  });

  test('256 KiB in all: a larger released block is not kept', () => {
    using pool = new RegionPool();
    const big = pool.alloc(300 * 1024);
    pool.free(big);
    expect(pool.stats().heldChunks).toBe(1);
    expect(pool.alloc(300 * 1024).buffer).not.toBe(big.buffer); // above the arena's chunks: a buffer of its own
  });

  test('destroy() releases the kept blocks like any large block (held while viewed)', () => {
    const pool = new RegionPool();
    const view = pool.alloc(10_000);
    pool.free(view);
    pool.destroy();
    expect(pool.stats()).toMatchObject({ destroyed: true, heldChunks: 1 });
    expect(view.byteLength).toBe(10_000);
  });
});

describe("the arena (a pool's first chunks share one ArrayBuffer)", () => {
  test("blocks and large blocks up to 32 KiB share the pool's buffer; larger ones and other pools' do not", () => {
    using pool = new RegionPool();
    using other = new RegionPool();
    const small = pool.alloc(100);
    const large = pool.alloc(8192);
    const second = pool.alloc(4000);
    const big = pool.alloc(40_000);
    expect(large.buffer).toBe(small.buffer);
    expect(second.buffer).toBe(small.buffer);
    expect(big.buffer).not.toBe(small.buffer);
    expect(big.byteOffset).toBe(0);
    expect(other.alloc(100).buffer).not.toBe(small.buffer);
    // the views do not overlap, and writing one leaves the others alone
    small.fill(1);
    large.fill(2);
    second.fill(3);
    expect(small.every((b) => b === 1) && large.every((b) => b === 2) && second.every((b) => b === 3)).toBe(true);
    expect(large.byteOffset % 4096).toBe(0);
    // past the arena's 64 KiB, chunks get buffers of their own
    const more = Array.from({ length: 6 }, () => pool.alloc(16_000));
    expect(more.some((view) => view.buffer !== small.buffer)).toBe(true);
    pool.check();
  });

  test('free, realloc and viewOf find allocations by their place in the chunk, not in the buffer', () => {
    using pool = new RegionPool({ blockSize: 1024 });
    const views = [pool.alloc(10), pool.alloc(5000), pool.alloc(20), pool.alloc(6000)];
    expect(new Set(views.map((view) => view.buffer)).size).toBe(1);
    const moved = pool.realloc(views[2]!, 2000);
    expect(moved.length).toBe(2000);
    for (const view of [views[0]!, views[1]!, moved, views[3]!]) pool.free(view);
    expect(pool.stats()).toMatchObject({ allocations: 0, used: 0 });
    pool.check();
  });

  test('destroy holds the arena while a view reaches it; unsafeDetachViews detaches it', () => {
    const pool = new RegionPool();
    const view = pool.alloc(100).fill(7);
    pool.destroy();
    expect(pool.stats()).toMatchObject({ destroyed: true, heldChunks: 1, heldBytes: 65536 });
    expect(view.every((b) => b === 7)).toBe(true);
    const unsafe = new RegionPool();
    const views = [unsafe.alloc(100), unsafe.alloc(8000), unsafe.alloc(50_000)];
    unsafe.destroy({ unsafeDetachViews: true });
    expect(views.map((v) => v.byteLength)).toEqual([0, 0, 0]);
    expect(unsafe.stats()).toMatchObject({ heldBytes: 0, heldChunks: 0 });
  });
});

describe('cleanups', () => {
  test('run LIFO exactly once on reset, including ones added while running', () => {
    using pool = new RegionPool();
    const order: string[] = [];
    pool.onCleanup(() => order.push('a'));
    pool.onCleanup(() => {
      order.push('b');
      pool.onCleanup(() => order.push('b2'));
      pool.free(pool.alloc(8)); // the pool is usable from a cleanup
    });
    pool.onCleanup(() => order.push('c'));
    pool.reset();
    expect(order).toEqual(['c', 'b', 'b2', 'a']);
    pool.reset();
    expect(order).toEqual(['c', 'b', 'b2', 'a']);
    pool.onCleanup(() => order.push('d'));
    pool.destroy();
    pool.destroy();
    expect(order).toEqual(['c', 'b', 'b2', 'a', 'd']);
  });

  test('throwing cleanups: all still run, then an AggregateError; destroy still completes', () => {
    const pool = new RegionPool();
    const ran: number[] = [];
    const boom1 = new Error('one');
    const boom2 = new TypeError('two');
    pool.onCleanup(() => ran.push(1));
    pool.onCleanup(() => {
      ran.push(2);
      throw boom1;
    });
    pool.onCleanup(() => ran.push(3));
    pool.onCleanup(() => {
      ran.push(4);
      throw boom2;
    });
    const large = pool.alloc(10_000);
    let caught: unknown;
    try {
      pool.reset();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AggregateError);
    expect((caught as AggregateError).errors).toEqual([boom2, boom1]);
    expect(ran).toEqual([4, 3, 2, 1]);
    expect(pool.stats().largeBlocks).toBe(0); // the reset itself happened
    expect(pool.stats().allocations).toBe(0);
    expect(large.byteLength).toBe(10_000);

    pool.onCleanup(() => {
      throw boom1;
    });
    const view = pool.alloc(8);
    expect(() => pool.destroy()).toThrow(AggregateError);
    expect(pool.destroyed).toBe(true);
    expect(view.byteLength).toBe(8);
    pool.destroy();
  });

  test('reset or destroy from a cleanup is refused (ERR_INVALID_STATE, reported in the AggregateError)', () => {
    const pool = new RegionPool();
    pool.onCleanup(() => pool.destroy());
    pool.onCleanup(() => pool.reset());
    let caught: unknown;
    try {
      pool.reset();
    } catch (error) {
      caught = error;
    }
    const codes = (caught as AggregateError).errors.map((e: { code?: string }) => e.code);
    expect(codes).toEqual(['ERR_INVALID_STATE', 'ERR_INVALID_STATE']);
    expect(pool.destroyed).toBe(false);
    pool.destroy();
  });

  test('onCleanup needs a function', () => {
    using pool = new RegionPool();
    expectCode(() => pool.onCleanup('x' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => pool.onCleanup(undefined as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  });
});

describe('destroy', () => {
  test('views keep their bytes; every call but destroy and stats throws ERR_POOL_DESTROYED', () => {
    const pool = new RegionPool({ blockSize: 256 });
    const views = [pool.alloc(100), pool.alloc(200), pool.alloc(100), pool.alloc(5000), pool.allocAligned(8, 4096)];
    const floats = new Float64Array(views[0]!.buffer, views[0]!.byteOffset, 8);
    views[3]!.fill(5);
    pool.destroy();
    expect(pool.destroyed).toBe(true);
    expect(views.map((view) => view.byteLength)).toEqual([100, 200, 100, 5000, 8]);
    expect(floats.length).toBe(8);
    expect(views[3]![4999]).toBe(5);
    expect(pool.stats()).toMatchObject({ destroyed: true, used: 0, blocks: 0 });
    expect(pool.stats().heldChunks).toBeGreaterThanOrEqual(1); // the pool's arena (its first chunks)
    const calls: (() => unknown)[] = [
      () => pool.alloc(1),
      () => pool.tryAlloc(1),
      () => pool.allocUnaligned(1),
      () => pool.allocAligned(8, 8),
      () => pool.calloc(1, 1),
      () => pool.realloc(views[0]!, 1),
      () => pool.free(views[0]!),
      () => pool.reset(),
      () => pool.onCleanup(() => {}),
      () => pool.check(),
    ];
    for (const call of calls) expectCode(call, 'ERR_POOL_DESTROYED', PoolError);
    pool.destroy();
    pool[Symbol.dispose]();
  });

  test('using disposes', () => {
    let view: Buffer;
    {
      using pool = new RegionPool();
      view = pool.alloc(10);
    }
    expect(view.byteLength).toBe(10);
  });

  test('destroy({ unsafeDetachViews: true }) detaches every view now', () => {
    const pool = new RegionPool();
    const views = [pool.alloc(10), pool.alloc(100_000)];
    pool.destroy({ unsafeDetachViews: true });
    expect(views.map((view) => view.byteLength)).toEqual([0, 0]);
    expect(pool.stats()).toMatchObject({ destroyed: true, heldBytes: 0, heldChunks: 0 });
  });
});
