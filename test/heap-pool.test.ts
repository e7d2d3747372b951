import { describe, expect, test } from 'vitest';

import { HeapPool, PoolError, TlsfPool } from '../lib/index.js';
import { churnBlocks, expectCode } from './helpers/pool.js';

const KiB = 1024;

describe('construction', () => {
  test('defaults and getters', () => {
    using pool = new HeapPool();
    expect(pool.destroyed).toBe(false);
    expect(pool.parent).toBe(null);
    expect(pool.availableCapacity).toBe(Infinity);
    expect(pool.stats()).toEqual({
      capacity: Infinity,
      reserved: 0,
      used: 0,
      peakUsed: 0,
      allocations: 0,
      failedAllocations: 0,
      classChunks: 0,
      spareChunks: 0,
      largeBlocks: 0,
      lentBytes: 0,
      children: 0,
      metadataBytes: 0,
      destroyed: false,
      heldBytes: 0,
      heldChunks: 0,
      pendingFrees: 0,
    });
    using capped = new HeapPool({ capacity: 0 });
    expect(capped.availableCapacity).toBe(Infinity);
    using bounded = new HeapPool({ capacity: 100_000 });
    expect(bounded.availableCapacity).toBe(100_000);
    expect(bounded.stats().capacity).toBe(100_000);
  });

  test('invalid options', () => {
    expectCode(() => new HeapPool(null as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => new HeapPool({ capacity: '1' as never }), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => new HeapPool({ capacity: -1 }), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => new HeapPool({ capacity: 1.5 }), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => new HeapPool({ parent: {} as never }), 'ERR_INVALID_ARG_TYPE', TypeError);
    using tlsf = new TlsfPool({ size: 4096 });
    expectCode(() => new HeapPool({ parent: tlsf as never }), 'ERR_INVALID_ARG_TYPE', TypeError);
    const dead = new HeapPool();
    dead.destroy();
    expectCode(() => new HeapPool({ parent: dead }), 'ERR_POOL_DESTROYED', PoolError);
  });
});

describe('allocation', () => {
  test('alloc gives 16-aligned Buffer views; typed arrays work over them', () => {
    using pool = new HeapPool();
    for (const size of [0, 1, 7, 8, 15, 16, 17, 24, 40, 100, 1000, 5000, 20_000, 100_000, 3 * 1024 * KiB]) {
      const view = pool.alloc(size);
      expect(Buffer.isBuffer(view)).toBe(true);
      expect(view.length).toBe(size);
      expect(view.byteOffset % 16).toBe(0);
      const doubles = new Float64Array(view.buffer, view.byteOffset, Math.floor(size / 8));
      doubles.fill(1.5);
      const longs = new BigInt64Array(view.buffer, view.byteOffset, Math.floor(size / 8));
      if (longs.length > 0) expect(longs[0]).toBe(0x3ff8000000000000n);
    }
    pool.check();
  });

  test('alloc(0) is a valid zero-length view that can be freed', () => {
    using pool = new HeapPool();
    const empty = pool.alloc(0);
    expect(empty.length).toBe(0);
    expect(pool.stats().allocations).toBe(1);
    expect(pool.stats().used).toBe(16);
    pool.free(empty);
    expect(pool.stats().allocations).toBe(0);
  });

  test('size classes: usable size is the class size; large blocks above 2 MiB', () => {
    using pool = new HeapPool();
    pool.alloc(17);
    expect(pool.stats().used).toBe(32);
    pool.alloc(65);
    expect(pool.stats().used).toBe(32 + 96);
    pool.alloc(2 * 1024 * KiB + 1);
    const s = pool.stats();
    expect(s.largeBlocks).toBe(1);
    expect(s.used).toBe(32 + 96 + 2 * 1024 * KiB + 4096);
    expect(s.classChunks).toBe(2);
  });

  test('tryAlloc, calloc and their errors', () => {
    using pool = new HeapPool();
    const dirty = pool.alloc(64).fill(0xff);
    pool.free(dirty);
    const zeroed = pool.calloc(8, 8);
    expect(zeroed.length).toBe(64);
    expect(zeroed.every((b) => b === 0)).toBe(true);
    expect(pool.tryAlloc(10)!.length).toBe(10);
    expectCode(() => pool.calloc(2 ** 30, 2 ** 30), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.calloc(2 ** 27, 2 ** 27), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.calloc(-1, 1), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.calloc(1, '1' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => pool.alloc('1' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => pool.alloc(-1), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.alloc(1.5), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.alloc(2 ** 53), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.tryAlloc(NaN), 'ERR_OUT_OF_RANGE', RangeError);
    expect(pool.stats().allocations).toBe(2);
  });
});

describe('free', () => {
  test('freed blocks are reused last in, first out', () => {
    using pool = new HeapPool();
    for (const size of [24, 300, 20_000, 40_000]) {
      const a = pool.alloc(size);
      const b = pool.alloc(size);
      const offsets = [a.byteOffset, b.byteOffset];
      pool.free(a);
      pool.free(b);
      expect(pool.alloc(size).byteOffset).toBe(offsets[1]);
      expect(pool.alloc(size).byteOffset).toBe(offsets[0]);
    }
    pool.check();
  });

  test('a freed view handed back again when the length matches', () => {
    using pool = new HeapPool();
    const a = pool.alloc(64);
    pool.free(a);
    expect(pool.alloc(64)).toBe(a);
  });

  test('foreign, sub-view, rebuilt, double and cross-pool frees are refused and change nothing', () => {
    using pool = new HeapPool();
    using other = new HeapPool();
    const a = pool.alloc(64);
    const before = pool.stats();
    expectCode(() => pool.free(Buffer.alloc(64)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(a.subarray(16)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(a.subarray(0)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(Buffer.from(a.buffer, a.byteOffset, a.length)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(other.alloc(64)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free('x' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expect(pool.stats()).toEqual(before);
    pool.free(a);
    expectCode(() => pool.free(a), 'ERR_POOL_DOUBLE_FREE', PoolError);
    const big = pool.alloc(3 * 1024 * KiB);
    pool.free(big);
    expect(big.byteLength).toBe(3 * 1024 * KiB); // a large block goes back at once; its memory held while viewed
    expect(pool.stats().heldChunks).toBe(1);
    expectCode(() => pool.free(big), 'ERR_POOL_DOUBLE_FREE', PoolError);
    pool.check();
  });
});

describe('realloc', () => {
  test('a block that still fits stays in place; a larger one moves with its contents', () => {
    using pool = new HeapPool();
    const a = pool.alloc(20);
    a.write('hello');
    const same = pool.realloc(a, 32);
    expect(same.byteOffset).toBe(a.byteOffset);
    expect(same.buffer).toBe(a.buffer);
    expect(same.length).toBe(32);
    const shrunk = pool.realloc(same, 3);
    expect(shrunk.byteOffset).toBe(a.byteOffset);
    expect(shrunk.toString()).toBe('hel');
    const moved = pool.realloc(shrunk, 1000);
    expect(moved.length).toBe(1000);
    expect(moved.byteOffset % 16).toBe(0);
    expect(moved.toString('utf8', 0, 3)).toBe('hel');
    expectCode(() => pool.free(shrunk), 'ERR_POOL_DOUBLE_FREE', PoolError);
    expect(pool.stats().allocations).toBe(1);
    expect(pool.stats().used).toBe(1024);
    const large = pool.realloc(moved, 3 * 1024 * KiB);
    expect(large.toString('utf8', 0, 3)).toBe('hel');
    const larger = pool.realloc(large, 5 * 1024 * KiB);
    expect(pool.stats().largeBlocks).toBe(1); // the old large block was released (held while viewed)
    expect(larger.toString('utf8', 0, 3)).toBe('hel');
    expect(pool.realloc(larger, 0).length).toBe(0);
    pool.check();
  });

  test('a failed realloc keeps the old block', () => {
    using pool = new HeapPool({ capacity: 64 * KiB });
    const a = pool.alloc(100).fill(7);
    const before = pool.stats();
    expectCode(() => pool.realloc(a, 128 * KiB), 'ERR_POOL_EXHAUSTED', PoolError);
    expect(pool.stats()).toEqual({ ...before, failedAllocations: 1 });
    expect(a.every((b) => b === 7)).toBe(true);
    expectCode(() => pool.realloc(a, -1), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.realloc(Buffer.alloc(4), 8), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    pool.free(a);
    pool.check();
  });
});

describe('capacity', () => {
  test('exact fit, then one byte over is refused and changes nothing', () => {
    using pool = new HeapPool({ capacity: 64 * KiB });
    const whole = pool.alloc(64 * KiB); // a 64 KiB class chunk is 256 KiB: served as a large block
    expect(pool.availableCapacity).toBe(0);
    const before = pool.stats();
    expect(before.reserved).toBe(64 * KiB);
    expectCode(() => pool.alloc(1), 'ERR_POOL_EXHAUSTED', PoolError);
    expect(pool.tryAlloc(1)).toBe(null);
    expect(pool.stats()).toEqual({ ...before, failedAllocations: 2 });
    pool.free(whole);
    expect(pool.availableCapacity).toBe(64 * KiB);

    using over = new HeapPool({ capacity: 64 * KiB });
    expectCode(() => over.alloc(64 * KiB + 1), 'ERR_POOL_EXHAUSTED', PoolError);
    expect(over.tryAlloc(64 * KiB + 1)).toBe(null);
    expect(over.stats()).toMatchObject({ reserved: 0, used: 0, allocations: 0, failedAllocations: 2 });
  });

  test('a class chunk fills exactly: 4096 blocks of 16 bytes in 64 KiB', () => {
    using pool = new HeapPool({ capacity: 64 * KiB });
    const views: Buffer[] = [];
    for (let i = 0; i < 4096; i++) views.push(pool.alloc(16));
    expect(pool.availableCapacity).toBe(0);
    expect(pool.tryAlloc(16)).toBe(null);
    pool.free(views.pop()!);
    expect(pool.alloc(16).byteOffset).toBe(65536 - 16);
    pool.check();
  });

  test('freed cached blocks are given back when memory runs out', () => {
    using pool = new HeapPool({ capacity: 64 * KiB });
    const views: Buffer[] = [];
    for (let i = 0; i < 4096; i++) views.push(pool.alloc(16));
    for (const view of views) pool.free(view); // kept in the JS cache (some) and the C pool
    const big = pool.alloc(64 * KiB); // needs the whole capacity
    expect(big.length).toBe(64 * KiB);
    expect(pool.stats().failedAllocations).toBe(0);
    pool.check();
  });

  test('blocks an idle class holds go back to the C pool as other classes churn (decay)', () => {
    using pool = new HeapPool();
    // 96 blocks of 1 KiB (two chunks: 64 + 32) and 32 of 2 KiB; the 1 KiB ones freed
    // from the top, so the cache holds the second chunk's 32 (oldest) and 32 of the first
    const kib = Array.from({ length: 96 }, () => pool.alloc(1024));
    const two = Array.from({ length: 32 }, () => pool.alloc(2048));
    for (const view of kib.reverse()) pool.free(view);
    for (const view of two) pool.free(view);
    expect(pool.stats()).toMatchObject({ classChunks: 3, spareChunks: 0 });
    // five blocks of 64 B freed and allocated again and again: their class keeps them
    const first = Array.from({ length: 5 }, () => pool.alloc(64));
    const busy = churnBlocks(pool, first, 3 * 1024);
    expect(new Set(busy)).toEqual(new Set(first));
    // the 48 oldest 1 KiB blocks went back: the second chunk is empty, kept as the spare
    expect(pool.stats()).toMatchObject({ classChunks: 4, spareChunks: 1 });
    pool.check();
    for (const view of busy) pool.free(view);
  });
});

describe('parents and children', () => {
  test('chunks come from the parent, three deep, each capacity enforced', () => {
    using root = new HeapPool({ capacity: 1024 * KiB });
    const mid = new HeapPool({ parent: root, capacity: 512 * KiB });
    const leaf = new HeapPool({ parent: mid, capacity: 256 * KiB });
    expect(leaf.parent).toBe(mid);
    const a = leaf.alloc(100);
    expect(leaf.stats().reserved).toBe(64 * KiB);
    expect(mid.stats()).toMatchObject({ reserved: 64 * KiB, lentBytes: 64 * KiB, children: 1, allocations: 0 });
    expect(root.stats()).toMatchObject({ reserved: 64 * KiB, lentBytes: 64 * KiB, children: 1 });
    expect(leaf.availableCapacity).toBe(192 * KiB);
    expect(mid.availableCapacity).toBe(448 * KiB);
    leaf.alloc(192 * KiB); // one 192 KiB class chunk
    expect(leaf.availableCapacity).toBe(0);
    expect(leaf.tryAlloc(64 * KiB)).toBe(null);
    expect(mid.availableCapacity).toBe(256 * KiB);
    expect(root.availableCapacity).toBe(768 * KiB);
    expectCode(() => root.free(a), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => mid.free(a), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    leaf.free(a);
    root.check();
  });

  test('a parent with a small capacity limits its child', () => {
    using root = new HeapPool({ capacity: 128 * KiB });
    using child = new HeapPool({ parent: root });
    expect(child.availableCapacity).toBe(Infinity);
    expectCode(() => child.alloc(200 * KiB), 'ERR_POOL_EXHAUSTED', PoolError);
    expect(child.stats()).toMatchObject({ reserved: 0, allocations: 0, failedAllocations: 1 });
    expect(root.stats().reserved).toBe(0);
    expect(child.alloc(100 * KiB).length).toBe(100 * KiB);
  });

  test('destroying a parent destroys its children (deepest first); their views keep their bytes', () => {
    const root = new HeapPool();
    const mid = new HeapPool({ parent: root });
    const leaf = new HeapPool({ parent: mid });
    const sibling = new HeapPool({ parent: root });
    const views = [root.alloc(10), mid.alloc(100), leaf.alloc(1000), leaf.alloc(3 * 1024 * KiB), sibling.alloc(5)];
    for (const view of views) view.fill(7);
    root.destroy();
    for (const pool of [root, mid, leaf, sibling]) {
      expect(pool.destroyed).toBe(true);
      expectCode(() => pool.alloc(1), 'ERR_POOL_DESTROYED', PoolError);
      expectCode(() => pool.availableCapacity, 'ERR_POOL_DESTROYED', PoolError);
      pool.destroy(); // idempotent
    }
    expect(views.every((view) => view.byteLength > 0 && view.every((b) => b === 7))).toBe(true);
    expect(root.stats()).toMatchObject({ destroyed: true, used: 0 });
    expect(root.stats().heldChunks).toBeGreaterThanOrEqual(4); // the family's chunks, counted at the root
  });

  test('destroying a child gives its chunks back and leaves the parent usable', () => {
    using root = new HeapPool();
    const child = new HeapPool({ parent: root });
    const kept = root.alloc(50).fill(3);
    const view = child.alloc(5000);
    expect(root.stats().children).toBe(1);
    view.fill(4);
    child.destroy();
    expect(view.byteLength).toBe(5000);
    expect(view.every((b) => b === 4)).toBe(true);
    expect(root.stats().heldChunks).toBe(1); // the child's chunk, kept until the view is garbage
    expect(root.stats()).toMatchObject({ children: 0, lentBytes: 0, reserved: 64 * KiB });
    expect(kept.every((b) => b === 3)).toBe(true);
    expect(root.destroyed).toBe(false);
    root.check();
  });
});

describe('destroy', () => {
  test('destroy keeps views readable, is idempotent, and Symbol.dispose destroys', () => {
    const pool = new HeapPool();
    const a = pool.alloc(64);
    const b = pool.alloc(5 * 1024 * KiB);
    pool.free(pool.alloc(64)); // a cached block too
    pool.destroy();
    expect(pool.destroyed).toBe(true);
    expect(a.byteLength).toBe(64);
    expect(b.byteLength).toBe(5 * 1024 * KiB);
    expect(pool.stats()).toMatchObject({ destroyed: true, used: 0 });
    for (const call of [
      () => pool.alloc(1),
      () => pool.tryAlloc(1),
      () => pool.calloc(1, 1),
      () => pool.realloc(a, 2),
      () => pool.free(a),
      () => pool.check(),
    ]) {
      expectCode(call, 'ERR_POOL_DESTROYED', PoolError);
    }
    pool.destroy();
    let escaped: HeapPool;
    {
      using scoped = new HeapPool();
      escaped = scoped;
    }
    expect(escaped.destroyed).toBe(true);
    escaped[Symbol.dispose]();
  });

  test('peakUsed never decreases; stats follow allocations', () => {
    using pool = new HeapPool();
    const a = pool.alloc(1000);
    const b = pool.alloc(2000);
    pool.free(a);
    pool.free(b);
    const s = pool.stats();
    expect(s).toMatchObject({ used: 0, allocations: 0, peakUsed: 1024 + 2048 });
    expect(s.reserved).toBeGreaterThan(0);
    expect(s.metadataBytes).toBeGreaterThan(0);
  });
});
