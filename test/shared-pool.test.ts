import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, openSync, writeFileSync, writeSync } from 'node:fs';

import { afterAll, afterEach, describe, expect, test } from 'vitest';

import { PoolError, SharedPool, TlsfPool } from '../lib/index.js';
import { expectCode } from './helpers/pool.js';
import {
  SHM_CHILD,
  exited,
  expectNoLeftovers,
  forkWithPool,
  nextMessage,
  uniqueName,
  unlinkTestNames,
} from './helpers/shm.js';

const MiB = 1024 * 1024;

// Every named segment a test makes is unlinked afterwards, even when the test fails.
afterEach(unlinkTestNames);
afterAll(expectNoLeftovers);

describe('single process', () => {
  test('create (anonymous), getters, stats', () => {
    using pool = SharedPool.create({ size: MiB });
    expect(pool.name).toBe(null);
    expect(Number.isInteger(pool.fd) && pool.fd > 2).toBe(true);
    expect(pool.destroyed).toBe(false);
    const stats = pool.stats();
    expect(stats.segmentSize).toBe(MiB);
    expect(stats.capacity).toBeGreaterThan(MiB * 0.9);
    expect(stats.capacity).toBeLessThan(MiB);
    expect(stats).toMatchObject({ used: 0, allocations: 0, failedAllocations: 0, generation: 0 });
    expect(pool.availableCapacity).toBe(stats.capacity);
  });

  test('alloc/calloc/realloc/free give Buffer views of one ArrayBuffer; offsets are byteOffsets', () => {
    using pool = SharedPool.create({ size: MiB });
    const a = pool.alloc(100);
    const b = pool.calloc(10, 8);
    expect(Buffer.isBuffer(a)).toBe(true);
    expect(a.buffer).toBe(b.buffer);
    expect(a.byteOffset % 8).toBe(0);
    expect([...b]).toEqual(new Array(80).fill(0));
    expect(pool.offsetOf(a)).toBe(a.byteOffset);
    const f64 = new Float64Array(b.buffer, b.byteOffset, 10);
    f64[9] = 1.5;
    expect(pool.offsetOf(f64)).toBe(b.byteOffset);
    a.fill(7);
    const grown = pool.realloc(a, 5000);
    expect(grown.length).toBe(5000);
    expect(grown[99]).toBe(7);
    expect(pool.stats()).toMatchObject({ allocations: 2 });
    expect(pool.alloc(0).length).toBe(0);
    expect(pool.tryAlloc(2 * MiB)).toBe(null);
    expectCode(() => pool.alloc(2 * MiB), 'ERR_POOL_EXHAUSTED', PoolError);
    expect(pool.stats().failedAllocations).toBe(2);
    pool.free(grown);
    pool.free(b);
    pool.check();
  });

  test('at() views a live allocation; wrong offsets and lengths are rejected', () => {
    using pool = SharedPool.create({ size: MiB });
    const a = pool.alloc(64);
    a.write('hello');
    const again = pool.at(pool.offsetOf(a), 5);
    expect(again.toString()).toBe('hello');
    expectCode(() => pool.at(pool.offsetOf(a) + 8, 4), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.at(pool.offsetOf(a), 1 << 20), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.at(1e12, 4), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.at(-1, 4), 'ERR_OUT_OF_RANGE', RangeError);
    pool.free(again); // a view at() made frees the block too
    expectCode(() => pool.at(a.byteOffset, 4), 'ERR_POOL_DOUBLE_FREE', PoolError);
  });

  test('free rejects foreign views and double frees and changes nothing', () => {
    using pool = SharedPool.create({ size: MiB });
    using other = SharedPool.create({ size: MiB });
    using tlsf = new TlsfPool({ size: 4096 });
    const a = pool.alloc(32);
    expectCode(() => pool.free(Buffer.alloc(32)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(a.subarray(0, 8)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(other.alloc(32)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(tlsf.alloc(32)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.offsetOf(other.alloc(8)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free('x' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expect(pool.stats().allocations).toBe(1);
    pool.free(a);
    expectCode(() => pool.free(a), 'ERR_POOL_DOUBLE_FREE', PoolError);
    pool.check();
  });

  test('argument errors', () => {
    expectCode(() => SharedPool.create(undefined as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => SharedPool.create({ size: '1' as never }), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => SharedPool.create({ size: 100 }), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => SharedPool.create({ size: MiB, name: 'no-slash' }), 'ERR_INVALID_ARG_VALUE', TypeError);
    expectCode(() => SharedPool.create({ size: MiB, name: '/a/b' }), 'ERR_INVALID_ARG_VALUE', TypeError);
    expectCode(() => SharedPool.create({ size: MiB, name: 5 as never }), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => SharedPool.create({ size: MiB, mode: 0o1000 }), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => SharedPool.fromFd(-1), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => SharedPool.open('x'), 'ERR_INVALID_ARG_VALUE', TypeError);
    const Ctor = SharedPool as unknown as new () => SharedPool;
    expectCode(() => new Ctor(), 'ERR_ILLEGAL_CONSTRUCTOR', TypeError);
    using pool = SharedPool.create({ size: MiB });
    expectCode(() => pool.alloc(-1), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.calloc(2 ** 40, 2 ** 40), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.setRoot('', 0), 'ERR_INVALID_ARG_VALUE', TypeError);
    expectCode(() => pool.setRoot('x'.repeat(64), 0), 'ERR_INVALID_ARG_VALUE', TypeError);
    expectCode(() => pool.setRoot('k', -1), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.withLock('x' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => pool.wait(new Int32Array(4), 0, 0, 1), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expect(pool.stats().allocations).toBe(0);
  });

  test('OS failures are ERR_POOL_SYSTEM with errno and syscall', () => {
    const name = uniqueName();
    using pool = SharedPool.create({ size: MiB, name, mode: 0o640 });
    expect(pool.name).toBe(name);
    let caught: PoolError | undefined;
    try {
      SharedPool.create({ size: MiB, name });
    } catch (error) {
      caught = error as PoolError;
    }
    expect(caught).toBeInstanceOf(PoolError);
    expect(caught).toMatchObject({ code: 'ERR_POOL_SYSTEM', errno: -17, syscall: 'shm_open' });
    expect(caught!.message).toContain('EEXIST');
    expectCode(() => SharedPool.open(`/mempools-missing-${process.pid}`), 'ERR_POOL_SYSTEM', PoolError);
    expectCode(() => SharedPool.fromFd(999_999), 'ERR_POOL_SYSTEM', PoolError);
    pool.unlink();
    expectCode(() => pool.unlink(), 'ERR_POOL_SYSTEM', PoolError);
    expect(pool.alloc(8).length).toBe(8); // the mapping outlives the name
  });

  test('a descriptor or name of something that is not a segment is ERR_INVALID_ARG_VALUE; a damaged segment ERR_POOL_CORRUPTED', () => {
    expectCode(() => SharedPool.fromFd(0), 'ERR_INVALID_ARG_VALUE', TypeError);
    const name = uniqueName();
    const file = `/dev/shm${name}`;
    writeFileSync(file, Buffer.alloc(MiB, 0xff));
    expectCode(() => SharedPool.open(name), 'ERR_INVALID_ARG_VALUE', TypeError);
    SharedPool.unlink(name);
    using pool = SharedPool.create({ size: MiB, name });
    const fd = openSync(file, 'r+');
    try {
      writeSync(fd, Buffer.alloc(8, 0x41), 0, 8, 0); // the magic
      expectCode(() => SharedPool.open(name), 'ERR_INVALID_ARG_VALUE', TypeError);
      writeSync(fd, Buffer.from('!SHMPOOL'), 0, 8, 0); // restored (little-endian magic)
      writeSync(fd, Buffer.alloc(8, 0xff), 0, 8, 16); // segment_size
      expectCode(() => SharedPool.open(name), 'ERR_POOL_CORRUPTED', PoolError);
    } finally {
      closeSync(fd);
    }
  });

  test('named: open attaches to the same memory; destroy unlinks and closes', () => {
    const name = uniqueName();
    const pool = SharedPool.create({ size: MiB, name });
    const other = SharedPool.open(name);
    const a = pool.alloc(16);
    a.write('shared');
    expect(other.at(pool.offsetOf(a), 6).toString()).toBe('shared');
    other.free(other.at(pool.offsetOf(a), 6)); // a view from at(): never parked, back at once
    expect(pool.stats().allocations).toBe(0);
    pool.destroy();
    expect(pool.destroyed).toBe(true);
    expect(a.byteLength).toBe(16); // the mapping stays while the view lives
    pool.destroy();
    expectCode(() => SharedPool.open(name), 'ERR_POOL_SYSTEM', PoolError);
    expect(other.alloc(8).length).toBe(8); // still mapped here
    other.destroy(); // its name is gone already: fine
  });

  test('close keeps views readable; every call but close/destroy/stats is ERR_POOL_DESTROYED', () => {
    const pool = SharedPool.create({ size: MiB });
    const a = pool.alloc(64).fill(6);
    pool.close();
    pool.close();
    pool.destroy();
    expect(a.byteLength).toBe(64);
    expect(a[63]).toBe(6);
    expect(pool.stats()).toMatchObject({ destroyed: true, heldChunks: 1, used: 0 });
    const b = SharedPool.create({ size: MiB });
    const c = b.alloc(64);
    b.close({ unsafeDetachViews: true });
    expect(c.byteLength).toBe(0);
    expect(b.stats()).toMatchObject({ destroyed: true, heldChunks: 0 });
    for (const call of [
      () => pool.alloc(1),
      () => pool.free(a),
      () => pool.check(),
      () => pool.fd,
      () => pool.availableCapacity,
      () => pool.lock(),
      () => pool.getRoot('k'),
      () => pool.at(0, 1),
      () => pool.unlink(),
      () => pool.trim(),
    ]) {
      expectCode(call, 'ERR_POOL_DESTROYED', PoolError);
    }
  });

  test('trim() gives the pages of free blocks back to the segment; live blocks keep their bytes', () => {
    using pool = SharedPool.create({ size: 16 * MiB });
    const bufs = Array.from({ length: 8 }, (_, i) => pool.alloc(MiB).fill(0x50 + i));
    const allocated = (): number => fstatSync(pool.fd).blocks * 512; // the memfd's pages
    const before = allocated();
    for (const b of bufs.slice(1, 7)) pool.free(b); // one free block of 6 MiB
    expect(pool.trim()).toBeGreaterThanOrEqual(6 * MiB - 8 * 1024);
    expect(allocated()).toBeLessThanOrEqual(before - 6 * MiB + 8 * 1024);
    expect(bufs[0]!.every((x) => x === 0x50) && bufs[7]!.every((x) => x === 0x57)).toBe(true);
    expect(pool.trim()).toBe(0);
    pool.check();
    const again = pool.alloc(4 * MiB);
    expect(again[2 * MiB]).toBe(0); // a trimmed page reads zero
    pool.free(again);
  });

  test('roots: set/get/delete, replace, full directory', () => {
    using pool = SharedPool.create({ size: MiB });
    const a = pool.alloc(8);
    expect(pool.getRoot('a')).toBe(undefined);
    pool.setRoot('a', pool.offsetOf(a));
    expect(pool.getRoot('a')).toBe(a.byteOffset);
    pool.setRoot('a', 0);
    expect(pool.getRoot('a')).toBe(0);
    pool.deleteRoot('a');
    pool.deleteRoot('a');
    expect(pool.getRoot('a')).toBe(undefined);
    for (let i = 0; i < 64; i++) pool.setRoot(`key-${i}`, i);
    expectCode(() => pool.setRoot('one-more', 1), 'ERR_POOL_EXHAUSTED', PoolError);
    expect(pool.getRoot('key-63')).toBe(63);
    pool.check();
  });

  test('lock/unlock/withLock', () => {
    using pool = SharedPool.create({ size: MiB });
    expect(pool.withLock(() => 42)).toBe(42);
    expect(() =>
      pool.withLock(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(pool.lock()).toBe(false); // released by the throw above; its holder did not die
    expectCode(() => pool.lock(), 'ERR_INVALID_STATE');
    pool.unlock();
    expectCode(() => pool.unlock(), 'ERR_INVALID_STATE');
  });

  test('wait/notify in one process: not-equal, timed-out, notify counts', () => {
    using pool = SharedPool.create({ size: MiB });
    const b = pool.calloc(4, 4);
    const words = new Int32Array(b.buffer, b.byteOffset, 4);
    expect(pool.wait(words, 1, 5, 0)).toBe('not-equal');
    const started = Date.now();
    expect(pool.wait(words, 1, 0, 30)).toBe('timed-out');
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(pool.notify(words, 1)).toBe(0);
    expectCode(() => pool.wait(words, 4, 0, 0), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.notify(words, 0, -1), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.wait(words, 0, 0, -1), 'ERR_OUT_OF_RANGE', RangeError);
  });
});

describe('across processes', () => {
  test('fork: the child attaches through fd 4, reads, replies and frees a block the parent allocated', async () => {
    using pool = SharedPool.create({ size: MiB });
    const block = pool.alloc(256);
    block.fill(0);
    block.write('hello child');
    const child = forkWithPool(pool, ['fd-reply']);
    try {
      expect(await nextMessage(child)).toBe('ready');
      child.send({ offset: pool.offsetOf(block), length: 256 });
      expect(await nextMessage(child)).toEqual({ read: 'hello child', name: null });
      expect(block.toString('utf8', 128, block.indexOf(0, 128))).toBe('reply to hello child');
      child.send('free');
      expect(await nextMessage(child)).toEqual({ freed: true, allocations: 0 });
      expect(await exited(child)).toBe(0);
    } finally {
      child.kill();
    }
    expect(pool.stats().allocations).toBe(0);
    expectCode(() => pool.free(block), 'ERR_POOL_DOUBLE_FREE', PoolError);
    pool.check();
  });

  test('spawn: an unrelated process opens the segment by name and finds a root', () => {
    const name = uniqueName();
    using pool = SharedPool.create({ size: MiB, name });
    const msg = pool.calloc(1, 64);
    msg.write('by name');
    pool.setRoot('msg', pool.offsetOf(msg));
    const child = spawnSync(process.execPath, [SHM_CHILD, 'named', name], { encoding: 'utf8', timeout: 30_000 });
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ read: 'by name', name, check: 'ok' });
    expect(msg.toString('utf8', 32, msg.indexOf(0, 32))).toBe('named reply');
  });

  test('Atomics.add on a shared Int32Array from 2 children is exact', async () => {
    using pool = SharedPool.create({ size: MiB });
    const counter = pool.calloc(2, 4); // [count, barrier]
    const count = 1_000_000;
    const children = [0, 1].map(() => forkWithPool(pool, ['add', String(pool.offsetOf(counter)), String(count)]));
    try {
      const codes = await Promise.all(children.map(exited));
      expect(codes).toEqual([0, 0]);
    } finally {
      for (const child of children) child.kill();
    }
    expect(new Int32Array(counter.buffer, counter.byteOffset, 1)[0]).toBe(2 * count);
  });

  test('notify wakes a wait in another process', async () => {
    using pool = SharedPool.create({ size: MiB });
    const flag = pool.calloc(1, 4);
    const words = new Int32Array(flag.buffer, flag.byteOffset, 1);
    const child = forkWithPool(pool, ['wait', String(pool.offsetOf(flag))]);
    try {
      expect(await nextMessage(child)).toBe('ready');
      const result = nextMessage<{ result: string }>(child);
      let woken = 0;
      const deadline = Date.now() + 15_000;
      while (woken === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        woken = pool.notify(words, 0, 1);
      }
      expect(woken).toBe(1);
      expect(await result).toEqual({ result: 'ok' });
      expect(await exited(child)).toBe(0);
    } finally {
      child.kill();
    }
  });

  test('a process killed while holding the lock does not deadlock the others', async () => {
    using pool = SharedPool.create({ size: MiB });
    const child = forkWithPool(pool, ['hold-lock']);
    try {
      expect(await nextMessage(child)).toBe('locked');
    } finally {
      child.kill('SIGKILL');
    }
    await exited(child);
    // the first locker learns that the holder died (the data it guards may be half-updated)
    expect(pool.withLock((ownerDied) => ownerDied)).toBe(true);
    expect(pool.lock()).toBe(false);
    pool.unlock();
    expect(pool.withLock((ownerDied) => (ownerDied ? 'died' : 'recovered'))).toBe('recovered');
    pool.check();
  });

  test('50 children SIGKILLed while allocating leave the pool usable and consistent', async () => {
    using pool = SharedPool.create({ size: 4 * MiB });
    const mine = pool.alloc(100).fill(1);
    for (let batch = 0; batch < 5; batch++) {
      const children = Array.from({ length: 10 }, () => forkWithPool(pool, ['churn']));
      try {
        await Promise.all(
          children.map(async (child, i) => {
            expect(await nextMessage(child)).toBe('ready');
            await new Promise((resolve) => setTimeout(resolve, 20 + (((batch * 10 + i) * 37) % 100)));
            child.kill('SIGKILL');
            await exited(child);
          }),
        );
      } finally {
        for (const child of children) child.kill('SIGKILL');
      }
      pool.check();
    }
    // blocks the children held leak (nobody can free them); a kill inside alloc/free was
    // repaired by the next locker (stats().generation counts those; 3 in a trial run)
    expect(pool.withLock(() => 'free')).toBe('free');
    // The blocks the children had parked in their caches came back (an attach sweeps
    // the dead's park lists): what stays is what each held at its death, at most 8
    // blocks, one being handed out or parked, one in flight in the allocator: <= 10
    // blocks of <= 2048 usable bytes each.
    SharedPool.fromFd(pool.fd, { cache: false }).close();
    const { used, allocations } = pool.stats();
    expect(allocations - 1).toBeLessThanOrEqual(50 * 10);
    expect(used).toBeLessThanOrEqual(50 * 10 * 2048 + 112); // + mine
    expect(mine.every((byte) => byte === 1)).toBe(true);
    const more = pool.alloc(1000);
    pool.free(more);
    pool.free(mine);
    pool.check();
  }, 120_000);

  test("a SIGKILLed child's parked blocks and park list come back exactly; its live block stays", async () => {
    using pool = SharedPool.create({ size: MiB });
    const child = forkWithPool(pool, ['park-die', '200']);
    try {
      const { kept } = (await nextMessage(child)) as { kept: number };
      const before = pool.stats();
      child.send('park');
      expect(await nextMessage(child)).toEqual({ allocations: before.allocations }); // its own view: parked left out
      expect(pool.stats().allocations).toBe(before.allocations + 200 + 1); // + its park list
      child.kill('SIGKILL');
      await exited(child);
      SharedPool.fromFd(pool.fd, { cache: false }).close(); // an attach sweeps the dead's park lists
      const after = pool.stats();
      expect(after.allocations).toBe(before.allocations);
      expect(after.used).toBe(before.used);
      expect(pool.at(kept, 200).every((byte) => byte === 9)).toBe(true);
      pool.check();
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('pools dropped without close() are closed by GC exactly once; a view keeps its mapping alive', () => {
    const child = spawnSync(process.execPath, ['--expose-gc', SHM_CHILD, 'gc'], { encoding: 'utf8', timeout: 60_000 });
    expect(child.signal, child.stderr).toBeNull();
    expect(child.status, child.stderr).toBe(0);
    const r = JSON.parse(child.stdout) as Record<string, unknown>;
    expect(r.viewSurvivesPool).toBe(true);
    expect(r.keptAfterClose).toBe(true);
    expect(r.releasedWhenGarbage).toBe(true);
    expect(r.fdGrowth as number).toBeLessThanOrEqual(2);
  });
});
