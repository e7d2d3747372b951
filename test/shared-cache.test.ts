// SharedPool's per-process cache (lib/SharedCache.ts), its options (cache, spinMs)
// and wait()'s spin.
import { afterAll, afterEach, describe, expect, test } from 'vitest';

import { PoolError, SharedPool } from '../lib/index.js';
import { expectCode } from './helpers/pool.js';
import { exited, expectNoLeftovers, forkWithPool, nextMessage, uniqueName, unlinkTestNames } from './helpers/shm.js';

const MiB = 1024 * 1024;

afterEach(unlinkTestNames);
afterAll(expectNoLeftovers);

describe('per-process cache', () => {
  test('a freed small block comes back as the same view; stats leave parked blocks out here only', () => {
    const name = uniqueName();
    using pool = SharedPool.create({ size: MiB, name });
    using other = SharedPool.open(name, { cache: false });
    const base = other.stats();
    const a = pool.alloc(64);
    a.fill(3);
    const offset = pool.offsetOf(a);
    pool.free(a);
    expect(pool.stats()).toMatchObject({ used: 0, allocations: 0, failedAllocations: 0 });
    // the parked block's usable bytes move from used to free (its 8-byte header stays spent)
    expect(pool.stats().free - other.stats().free).toBe(other.stats().used);
    expect(pool.availableCapacity).toBe(base.capacity);
    // parked blocks are used for every other process, and so is the park list listing them
    expect(other.stats().allocations).toBe(2);
    expect(other.stats().used).toBeGreaterThanOrEqual(64);
    expect(pool.alloc(64)).toBe(a); // same class and length: the same view object
    const b = pool.alloc(60); // same class: same block, a new view of the asked length
    expect(b).not.toBe(a);
    pool.free(pool.alloc(60));
    const c = pool.alloc(50);
    expect(pool.offsetOf(c)).not.toBe(offset);
    pool.free(a);
    const d = pool.alloc(60);
    expect(d.length).toBe(60);
    expect(pool.offsetOf(d)).toBe(offset);
    pool.free(b);
    pool.free(c);
    pool.free(d);
    expect(pool.stats().allocations).toBe(0);
    expect(other.stats().allocations).toBe(3 + 1);
    pool.check();
    pool.flushCache();
    expect(other.stats()).toMatchObject({ used: 0, allocations: 0 });
    expect(pool.stats()).toMatchObject({ used: 0, allocations: 0, free: base.free });
    expect(other.stats().free).toBe(base.free);
    pool.check();
  });

  test('double frees and stale views of parked blocks are rejected as strictly as without the cache', () => {
    for (const cache of [true, false]) {
      using pool = SharedPool.create({ size: MiB, cache });
      using other = SharedPool.create({ size: MiB, cache });
      const a = pool.alloc(32);
      const offset = pool.offsetOf(a);
      const again = pool.at(offset, 32);
      pool.free(a);
      expectCode(() => pool.free(a), 'ERR_POOL_DOUBLE_FREE', PoolError);
      expectCode(() => pool.free(again), 'ERR_POOL_DOUBLE_FREE', PoolError);
      expectCode(() => pool.realloc(a, 64), 'ERR_POOL_DOUBLE_FREE', PoolError);
      expectCode(() => pool.at(offset, 8), 'ERR_POOL_DOUBLE_FREE', PoolError);
      expectCode(() => pool.free(Buffer.alloc(32)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
      expectCode(() => pool.free(other.alloc(32)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
      const b = pool.alloc(32);
      expectCode(() => pool.free(b.subarray(0, 8)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
      pool.free(b);
      // freed in another attachment (through at(): never parked), then here: caught by the header
      const c = pool.alloc(40);
      using third = SharedPool.fromFd(pool.fd, { cache });
      third.free(third.at(pool.offsetOf(c), 40));
      expectCode(() => pool.free(c), 'ERR_POOL_DOUBLE_FREE', PoolError);
      expect(pool.stats().allocations).toBe(0);
      pool.check();
    }
  });

  test('bounded: small classes only, at most 1/16 of the area; an allocation that finds no room flushes it', () => {
    using pool = SharedPool.create({ size: MiB });
    using other = SharedPool.fromFd(pool.fd, { cache: false });
    const big = pool.alloc(8192);
    pool.free(big); // larger than the cached classes: back at once
    expect(other.stats().allocations).toBe(0);
    const small = Array.from({ length: 2000 }, () => pool.alloc(100));
    for (const block of small) pool.free(block);
    const parked = other.stats().used;
    expect(parked).toBeGreaterThan(0);
    expect(parked).toBeLessThanOrEqual(pool.stats().capacity / 16);
    // fill the segment: the last allocations only fit once the cache went back
    const capacity = pool.stats().capacity;
    const large = pool.alloc(other.stats().largestFree + 64);
    expect(other.stats().allocations).toBe(1);
    expect(pool.stats().failedAllocations).toBe(0);
    pool.free(large);
    expect(pool.tryAlloc(capacity * 2)).toBe(null);
    expect(pool.stats().failedAllocations).toBe(1);
    expect(other.stats().allocations).toBe(0);
    pool.check();
  });

  test('the park list is small next to the cache: at most 1/5 of its byte limit', () => {
    for (const size of [128 * 1024, 256 * 1024, MiB, 8 * MiB]) {
      using pool = SharedPool.create({ size });
      using other = SharedPool.fromFd(pool.fd, { cache: false });
      pool.free(pool.alloc(16));
      const limit = Math.min(256 * 1024, Math.floor(pool.stats().capacity / 16));
      expect(other.stats().allocations).toBe(2); // the parked block and the list
      expect(other.stats().used - 16).toBeLessThanOrEqual(limit / 5);
      pool.flushCache();
      expect(other.stats().allocations).toBe(0);
    }
  });

  test('cache: false gives every block back at once and makes a new view each time', () => {
    using pool = SharedPool.create({ size: MiB, cache: false });
    const a = pool.alloc(64);
    pool.free(a);
    expect(pool.stats().allocations).toBe(0);
    expect(pool.alloc(64)).not.toBe(a);
    pool.flushCache(); // nothing to do
  });

  test('close() gives the parked blocks back; so does a normal exit without close()', async () => {
    using pool = SharedPool.create({ size: MiB, cache: false });
    const attached = SharedPool.fromFd(pool.fd);
    attached.free(attached.alloc(48));
    expect(pool.stats().allocations).toBe(2); // the parked block and attached's park list
    expect(attached.stats().allocations).toBe(0);
    attached.close();
    expect(pool.stats().allocations).toBe(0);

    const block = pool.alloc(200);
    const child = forkWithPool(pool, ['free-exit', String(pool.offsetOf(block)), '200']);
    try {
      expect(await nextMessage(child)).toEqual({ allocationsHere: 0, parked: true });
      expect(await exited(child)).toBe(0);
    } finally {
      child.kill();
    }
    expect(pool.stats().allocations).toBe(0);
    expectCode(() => pool.free(block), 'ERR_POOL_DOUBLE_FREE', PoolError);
    pool.check();
  });

  test('check() reports a parked block another process freed; the cache does not hand it out', () => {
    using pool = SharedPool.create({ size: MiB });
    using other = SharedPool.fromFd(pool.fd); // its cache is on, but never parks a view from at()
    const a = pool.alloc(64);
    const offset = pool.offsetOf(a);
    pool.free(a); // parked here, still allocated for `other`
    other.free(other.at(offset, 64)); // a free nobody may do: the block was freed already
    expectCode(() => pool.check(), 'ERR_POOL_CORRUPTED', PoolError);
    const b = pool.alloc(64);
    expect(b).not.toBe(a); // dropped from the cache: a fresh block from the allocator
    pool.free(b);
    pool.flushCache();
    pool.check();
    expect(other.stats().allocations).toBe(0);
  });

  test('options are validated', () => {
    expectCode(() => SharedPool.create({ size: MiB, cache: 1 as never }), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => SharedPool.create({ size: MiB, spinMs: -1 }), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => SharedPool.create({ size: MiB, spinMs: '1' as never }), 'ERR_INVALID_ARG_TYPE', TypeError);
    using pool = SharedPool.create({ size: MiB, spinMs: 0 });
    expectCode(() => SharedPool.fromFd(pool.fd, null as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => SharedPool.fromFd(pool.fd, { spinMs: 1001 }), 'ERR_OUT_OF_RANGE', RangeError);
    expect(pool.spinMs).toBe(0);
    pool.spinMs = 0.02;
    expect(pool.spinMs).toBe(0.02);
    expectCode(
      () => {
        pool.spinMs = Number.NaN;
      },
      'ERR_OUT_OF_RANGE',
      RangeError,
    );
    expect(SharedPool.fromFd(pool.fd).spinMs).toBe(0.05);
  });
});

describe('wait() spins before it sleeps', () => {
  test('a change of the word during the spin ends the wait without a notify', async () => {
    using pool = SharedPool.create({ size: MiB, spinMs: 1000 });
    const flag = pool.calloc(1, 4);
    const words = new Int32Array(flag.buffer, flag.byteOffset, 1);
    const child = forkWithPool(pool, ['change', String(pool.offsetOf(flag))]);
    try {
      expect(await nextMessage(child)).toBe('ready');
      child.send('go');
      // blocks this thread: the child changes the word 50 ms later and never notifies
      expect(pool.wait(words, 0, 0, 10_000)).toBe('ok');
      expect(words[0]).toBe(1);
      expect(await exited(child)).toBe(0);
    } finally {
      child.kill();
    }
  });

  test('the spin stays within the timeout', () => {
    using pool = SharedPool.create({ size: MiB, spinMs: 1000 });
    const words = new Int32Array(pool.calloc(1, 4).buffer, 0, 1);
    const view = new Int32Array(words.buffer, pool.offsetOf(pool.calloc(1, 4)), 1);
    const started = Date.now();
    expect(pool.wait(view, 0, 0, 20)).toBe('timed-out');
    expect(Date.now() - started).toBeLessThan(900);
    expect(pool.wait(view, 0, 1, 20)).toBe('not-equal');
  });
});
