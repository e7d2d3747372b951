// The JavaScript-side free-list cache of TlsfPool: freed small blocks are kept
// per size class and handed out again without crossing into C. These tests pin
// down that it is invisible: errors, stats, walk and capacity behave as if
// every free went straight to the allocator.
import { describe, expect, test } from 'vitest';

import { PoolError, TlsfPool } from '../lib/index.js';
import { churnBlocks, expectCode } from './helpers/pool.js';

describe('free-list cache', () => {
  test('a freed block is reused by the next allocation of its class', () => {
    using pool = new TlsfPool({ size: 1 << 16 });
    const a = pool.alloc(100);
    const offset = a.byteOffset;
    pool.free(a);
    const b = pool.alloc(110); // same class (112)
    expect(b.byteOffset).toBe(offset);
    expect(b.length).toBe(110);
  });

  test('the same length gets the freed view object back; another length a new view', () => {
    using pool = new TlsfPool({ size: 1 << 16 });
    const a = pool.alloc(100);
    pool.free(a);
    const b = pool.alloc(100);
    expect(b).toBe(a); // like malloc returning the same address
    expect(Buffer.isBuffer(b)).toBe(true);
    pool.free(b);
    const c = pool.alloc(104); // same class, other length
    expect(c).not.toBe(a);
    expect(c.byteOffset).toBe(a.byteOffset);
    expect(c.length).toBe(104);
    pool.free(c);
    pool.check();
  });

  test('freeing a cached block again is ERR_POOL_DOUBLE_FREE and changes nothing', () => {
    using pool = new TlsfPool({ size: 1 << 16 });
    const a = pool.alloc(64);
    pool.free(a);
    const before = pool.stats();
    expectCode(() => pool.free(a), 'ERR_POOL_DOUBLE_FREE', PoolError);
    expectCode(() => pool.realloc(a, 10), 'ERR_POOL_DOUBLE_FREE', PoolError);
    expectCode(() => pool.usableSize(a), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expect(pool.stats()).toEqual(before);
    pool.check();
  });

  test('stats count cached blocks as free, not used', () => {
    using pool = new TlsfPool({ size: 1 << 16 });
    const start = pool.stats();
    const views = Array.from({ length: 10 }, () => pool.alloc(48));
    const usable = pool.usableSize(views[0]!);
    expect(pool.stats()).toMatchObject({ used: 10 * usable, allocations: 10 });
    for (const view of views) pool.free(view);
    const after = pool.stats();
    expect(after).toMatchObject({ used: 0, allocations: 0, peakUsed: 10 * usable });
    // Cached bytes count as free; each cached block still has its 8-byte header.
    expect(after.free).toBe(start.free - 10 * 8);
    pool.check();
  });

  test('walk gives cached blocks back first, so freed neighbours show merged', () => {
    using pool = new TlsfPool({ size: 1 << 16 });
    const views = Array.from({ length: 20 }, () => pool.alloc(32));
    for (const view of views) pool.free(view);
    const blocks = [...pool.walk()];
    expect(blocks).toHaveLength(1);
    expect(blocks[0]).toMatchObject({ used: false, size: (1 << 16) - 24 });
  });

  test('cached blocks are given back when an allocation finds no room', () => {
    using pool = new TlsfPool({ size: 1 << 16 });
    const small: Buffer[] = [];
    for (let view = pool.tryAlloc(200); view !== null; view = pool.tryAlloc(200)) small.push(view);
    expect(pool.stats().failedAllocations).toBe(1);
    for (const view of small) pool.free(view);
    const big = pool.alloc((1 << 16) - 24); // the whole region: only possible once merged
    expect(big.length).toBe((1 << 16) - 24);
    expect(pool.stats().failedAllocations).toBe(1);
    pool.free(big);
    pool.check();
  });

  test('blocks an idle class holds go back to the allocator as other classes churn (decay)', () => {
    using pool = new TlsfPool({ size: 1 << 20 });
    // 64 KiB of each of four classes, freed from the top down: the cache holds
    // 256 KiB, each class's oldest blocks highest, the free rest of the region above
    const views: Buffer[] = [];
    for (const size of [1024, 1280, 1536, 1792]) for (let n = 0; n < 65536 / size; n++) views.push(pool.alloc(size));
    for (const view of views.reverse()) pool.free(view);
    const cut = pool.stats().largestFree;
    // five blocks of 64 B freed and allocated again and again: their class keeps
    // them (and each round's fifth free, onto four, is the decay's clock)
    const first = Array.from({ length: 5 }, () => pool.alloc(64));
    const busy = churnBlocks(pool, first, 3 * 1024);
    expect(new Set(busy)).toEqual(new Set(first));
    // three quarters of each idle class went back, oldest first: the top class's
    // (27 blocks of 1792 bytes) merged with the free rest of the region
    expect(pool.stats().largestFree).toBe(cut + 27 * (1792 + 8));
    pool.check();
    for (const view of busy) pool.free(view);
  });

  test('a view rebuilt over the same bytes frees the block; a sub-view does not', () => {
    using pool = new TlsfPool({ size: 1 << 16 });
    const a = pool.alloc(64);
    const sub = a.subarray(8);
    expectCode(() => pool.free(sub), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    const rebuilt = Buffer.from(a.buffer, a.byteOffset, a.length);
    pool.free(rebuilt);
    expectCode(() => pool.free(a), 'ERR_POOL_DOUBLE_FREE', PoolError);
    expect(pool.stats().allocations).toBe(0);
  });

  test('a view of another pool is foreign even at a matching offset', () => {
    using one = new TlsfPool({ size: 1 << 16 });
    using two = new TlsfPool({ size: 1 << 16 });
    const a = one.alloc(64);
    const b = two.alloc(64);
    expect(a.byteOffset).toBe(b.byteOffset);
    expectCode(() => two.free(a), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    two.free(b);
    one.free(a);
  });

  test('removeRegion gives cached blocks of that region back first', () => {
    using pool = new TlsfPool({ size: 4096 });
    const filler = pool.alloc(4000); // fills region 0 (4072 usable; class 4096 does not fit)
    const id = pool.addRegion(1 << 16);
    const a = pool.alloc(1000);
    expect(pool.walk()).toContainEqual({ region: id, offset: 16, size: 1024, used: true });
    pool.free(a); // cached, so still allocated as far as the C allocator knows
    pool.removeRegion(id);
    expect(pool.stats().regions).toBe(1);
    pool.free(filler);
    pool.check();
  });

  test('memalign blocks go straight back to the allocator', () => {
    using pool = new TlsfPool({ size: 1 << 16 });
    const a = pool.allocAligned(100, 256);
    pool.free(a);
    const blocks = [...pool.walk()];
    expect(blocks).toHaveLength(1);
    // It merged with its free neighbours, so it is no block start any more: the pool
    // cannot tell this double free from a foreign view.
    expectCode(() => pool.free(a), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
  });

  test('a request that fits only at its exact size is served at its exact size', () => {
    using pool = new TlsfPool({ size: 4096 });
    const a = pool.alloc(4072); // class 4096 would not fit the 4072 usable bytes
    expect(a.length).toBe(4072);
    expect(pool.stats().failedAllocations).toBe(0);
    pool.free(a);
  });
});
