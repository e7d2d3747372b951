// HeapPool with a SharedPool parent: chunks lent by the segment, blocks served
// in this process, visible to every process by offset, freed only by their pool.
import { fork, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, describe, expect, test } from 'vitest';

import { HeapPool, SharedPool } from '../lib/index.js';
import { expectCode } from './helpers/pool.js';
import { exited, expectNoLeftovers, nextMessage, uniqueName, unlinkTestNames } from './helpers/shm.js';

const MiB = 1024 * 1024;
const GRANULE = 64 * 1024;
const CHILD = fileURLToPath(new URL('./helpers/heap-shared-child.js', import.meta.url));

/** Every pool and named segment a test makes is closed/unlinked afterwards, even when it fails. */
const opened: SharedPool[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const pool of opened.splice(0)) pool.close();
  unlinkTestNames();
});
afterAll(expectNoLeftovers);

/** A segment of `size` bytes; named (a fresh test name, see helpers/shm.ts) when `named`. */
function segment(size = 8 * MiB, named = false): SharedPool {
  const name = named ? uniqueName('heap-') : undefined;
  const pool = SharedPool.create(name === undefined ? { size } : { size, name });
  opened.push(pool);
  return pool;
}

function forkChild(pool: SharedPool, mode: string): ChildProcess {
  const child = fork(CHILD, [mode], { stdio: ['inherit', 'inherit', 'inherit', 'ipc', pool.fd] });
  children.push(child);
  return child;
}

describe('in one process', () => {
  test('wait/notify accept an Int32Array over a heap view (the word is addressed by its area offset)', () => {
    const shared = segment();
    const heap = new HeapPool({ parent: shared });
    const block = heap.alloc(64);
    const words = new Int32Array(block.buffer, block.byteOffset, 4);
    words[2] = 5;
    expect(shared.wait(words, 2, 4, 0)).toBe('not-equal');
    expect(shared.wait(words, 2, 5, 0)).toBe('timed-out');
    expect(shared.notify(words, 2)).toBe(0);
    expectCode(() => shared.notify(new Int32Array(4), 0), 'ERR_POOL_FOREIGN_BUFFER');
    heap.destroy();
  });

  test('blocks come from 64 KiB chunks lent by the segment; offsets work with at()', () => {
    const shared = segment();
    const heap = new HeapPool({ parent: shared });
    expect(heap.parent).toBe(shared);
    const before = shared.stats();
    const a = heap.alloc(64);
    const b = heap.alloc(100);
    a.fill(0x11);
    b.fill(0x22);
    const offset = shared.offsetOf(a);
    expect(shared.offsetOf(b)).not.toBe(offset);
    expect(shared.at(offset, 64).every((byte) => byte === 0x11)).toBe(true);
    shared.at(shared.offsetOf(b), 100).fill(0x33);
    expect(b[99]).toBe(0x33);
    const stats = heap.stats();
    expect(stats.reserved % GRANULE).toBe(0);
    expect(stats.reserved).toBeGreaterThanOrEqual(2 * GRANULE); // two classes, two chunks
    expect(stats).toMatchObject({ allocations: 2, used: 64 + 128 });
    const during = shared.stats();
    expect(during.allocations).toBe(before.allocations + 1); // both chunks are carved from one 1 MiB span
    expect(during.used).toBeGreaterThanOrEqual(before.used + stats.reserved);
    heap.free(a);
    heap.free(b);
    heap.check();
    shared.check();
    heap.destroy({ unsafeDetachViews: true }); // nothing in flight: the chunks go back at once
    expect(shared.stats()).toMatchObject({ allocations: before.allocations, used: before.used });
  });

  test('a block of the heap pool cannot be freed through the SharedPool; nothing changes', () => {
    const shared = segment();
    const heap = new HeapPool({ parent: shared });
    const first = heap.alloc(16); // starts exactly where its chunk starts
    first.fill(5);
    const view = shared.at(shared.offsetOf(first), 16);
    const before = shared.stats();
    expectCode(() => shared.free(view), 'ERR_POOL_FOREIGN_BUFFER');
    expectCode(() => shared.realloc(view, 32), 'ERR_POOL_FOREIGN_BUFFER');
    expectCode(() => heap.free(view), 'ERR_POOL_FOREIGN_BUFFER');
    expect(shared.stats()).toEqual(before);
    expect(first[15]).toBe(5);
    heap.free(first);
    heap.check();
    shared.check();
  });

  test('capacity and availableCapacity are bounded by the segment', () => {
    const shared = segment(4 * MiB);
    const capped = new HeapPool({ parent: shared, capacity: 2 * GRANULE });
    expect(capped.availableCapacity).toBe(2 * GRANULE);
    capped.alloc(8192);
    capped.alloc(16);
    expect(capped.availableCapacity).toBe(0);
    expect(capped.tryAlloc(32)).toBe(null); // a third class needs a third chunk
    const open = new HeapPool({ parent: shared });
    expect(open.availableCapacity).toBe(shared.availableCapacity);
    const views: Buffer[] = [];
    for (let view = open.tryAlloc(4096); view !== null; view = open.tryAlloc(4096)) views.push(view);
    // 64 KiB chunks come from 1 MiB spans: the segment is used, not lost to alignment gaps
    expect(views.length * 4096).toBeGreaterThan(0.75 * shared.stats().capacity);
    // an upper bound: what is left may be too fragmented for one more 64 KiB-aligned chunk
    expect(open.availableCapacity).toBe(shared.availableCapacity);
    expectCode(() => open.alloc(4096), 'ERR_POOL_EXHAUSTED');
    open.destroy({ unsafeDetachViews: true });
    capped.destroy({ unsafeDetachViews: true });
    expect(shared.stats().allocations).toBe(0);
  });

  test('large blocks and grandchildren come from the segment too', () => {
    const shared = segment(16 * MiB);
    const heap = new HeapPool({ parent: shared });
    const child = new HeapPool({ parent: heap });
    expect(child.parent).toBe(heap);
    const big = heap.alloc(3 * MiB);
    const small = child.alloc(48);
    big.fill(1);
    small.fill(2);
    expect(shared.at(shared.offsetOf(big), 3 * MiB)[3 * MiB - 1]).toBe(1);
    expect(shared.at(shared.offsetOf(small), 48)[0]).toBe(2);
    expect(child.availableCapacity).toBeLessThanOrEqual(shared.availableCapacity);
    heap.destroy();
    expect(child.destroyed).toBe(true);
    // the views keep their chunks (still lent to this process) until they are garbage
    expect(big[3 * MiB - 1]).toBe(1);
    expect(small[47]).toBe(2);
    expect(heap.stats().heldChunks).toBeGreaterThanOrEqual(2);
    expect(shared.stats().allocations).toBeGreaterThan(0);
    shared.check();
  });

  test('close() destroys the heap pools first; a closed parent is refused', () => {
    const shared = segment();
    const heap = new HeapPool({ parent: shared });
    const child = new HeapPool({ parent: heap });
    const a = heap.alloc(64);
    const b = child.alloc(64);
    shared.close();
    expect(heap.destroyed).toBe(true);
    expect(child.destroyed).toBe(true);
    expect(a.byteLength).toBe(64); // the mapping stays while views of it live
    expect(b.byteLength).toBe(64);
    expect(shared.stats()).toMatchObject({ destroyed: true, heldChunks: 1 });
    expectCode(() => heap.alloc(16), 'ERR_POOL_DESTROYED');
    expectCode(() => new HeapPool({ parent: shared }), 'ERR_POOL_DESTROYED');
    expectCode(() => shared.offsetOf(a), 'ERR_POOL_DESTROYED');
    heap.destroy(); // idempotent
  });

  test('destroy() of a named segment does the same; a destroyed heap pool leaves the segment usable', () => {
    const shared = segment(4 * MiB, true);
    const gone = new HeapPool({ parent: shared });
    const view = gone.alloc(256);
    gone.destroy();
    expect(view.byteLength).toBe(256);
    expectCode(() => shared.offsetOf(view), 'ERR_POOL_FOREIGN_BUFFER');
    const heap = new HeapPool({ parent: shared });
    heap.alloc(256);
    shared.destroy();
    expect(heap.destroyed).toBe(true);
  });

  test('parent must be a HeapPool or a SharedPool', () => {
    expectCode(() => new HeapPool({ parent: {} as HeapPool }), 'ERR_INVALID_ARG_TYPE');
  });
});

test('heap pools dropped without destroy() give their chunks back to the segment on GC', () => {
  const child = spawnSync(process.execPath, ['--expose-gc', CHILD, 'gc'], { encoding: 'utf8', timeout: 120_000 });
  expect(child.signal, child.stderr).toBeNull();
  expect(child.status, child.stderr).toBe(0);
  expect(JSON.parse(child.stdout)).toEqual({
    lentWhileAlive: true,
    returnedByGc: true,
    viewSurvivesPool: true,
    offsetWorks: true,
    returnedAfterView: true,
    finished: true,
  });
});

describe('across processes', () => {
  test("a child's heap blocks are read and written by the parent through offsets", async () => {
    const shared = segment();
    const child = forkChild(shared, 'own');
    const report = await nextMessage<{ first: number; last: number; reserved: number; check: string }>(child);
    expect(report.check).toBe('ok');
    expect(report.reserved % GRANULE).toBe(0);
    const first = shared.at(report.first, 64);
    const last = shared.at(report.last, 64);
    expect(first.every((byte) => byte === 1)).toBe(true);
    expect(last.every((byte) => byte === 200)).toBe(true);
    const before = shared.stats();
    expectCode(() => shared.free(first), 'ERR_POOL_FOREIGN_BUFFER');
    expect(shared.stats()).toEqual(before);
    last[0] = 0x99;
    child.send({ check: report.last });
    expect(await nextMessage<{ first: number }>(child)).toEqual({ first: 0x99 });
    child.send('destroy');
    expect(await nextMessage(child)).toEqual({ destroyed: true, kept: true });
    expect(await exited(child)).toBe(0);
    // its views were alive at its destroy(), so its chunks stayed lent: the next attach sweeps them
    SharedPool.fromFd(shared.fd).close();
    expect(shared.stats().allocations).toBe(0);
    shared.check();
  });

  test("a parent's heap block is used by a child, whose frees are refused", async () => {
    const shared = segment();
    const heap = new HeapPool({ parent: shared });
    const view = heap.alloc(64);
    view.fill(0x42);
    const child = forkChild(shared, 'foreign');
    expect(await nextMessage(child)).toBe('ready');
    child.send({ offset: shared.offsetOf(view) });
    const result = await nextMessage(child);
    expect(result).toEqual({
      read: 0x42,
      sharedFree: 'ERR_POOL_FOREIGN_BUFFER',
      heapFree: 'ERR_POOL_FOREIGN_BUFFER',
      unchanged: true,
    });
    expect(await exited(child)).toBe(0);
    expect(view.every((byte) => byte === 0x77)).toBe(true);
    heap.free(view);
    heap.check();
    shared.check();
  });

  test('children SIGKILLed while their heap pools churn leave the segment consistent; their chunks are reclaimed', async () => {
    const shared = segment(32 * MiB);
    const heap = new HeapPool({ parent: shared });
    const mine = heap.alloc(1000).fill(9);
    const base = shared.stats().allocations;
    for (let round = 0; round < 6; round++) {
      const churning = [forkChild(shared, 'churn'), forkChild(shared, 'churn')];
      await Promise.all(
        churning.map(async (child, i) => {
          expect(await nextMessage(child)).toBe('ready');
          await new Promise((resolve) => setTimeout(resolve, 20 + (((round * 2 + i) * 37) % 120)));
          child.kill('SIGKILL');
          await exited(child);
        }),
      );
      shared.check();
      SharedPool.fromFd(shared.fd).close(); // an attach sweeps the dead borrowers' chunks
      expect(shared.stats().allocations).toBe(base);
    }
    expect(mine.every((byte) => byte === 9)).toBe(true);
    heap.free(mine);
    heap.destroy({ unsafeDetachViews: true });
    expect(shared.stats().allocations).toBe(0);
    shared.check();
  });

  test('chunks of a child that exits without destroying its heap pool are reclaimed by the next attach', async () => {
    const shared = segment();
    const heap = new HeapPool({ parent: shared });
    heap.alloc(64); // a living owner's chunk is never reclaimed
    const base = shared.stats().allocations;
    const child = forkChild(shared, 'own');
    const report = await nextMessage<{ first: number }>(child);
    expect(shared.stats().allocations).toBeGreaterThan(base);
    child.send('leave');
    expect(await exited(child)).toBe(0);
    // still lent (and readable) until some process attaches or the segment runs out
    expect(shared.at(report.first, 64)[0]).toBe(1);
    SharedPool.fromFd(shared.fd).close();
    expect(shared.stats().allocations).toBe(base);
    expectCode(() => shared.at(report.first, 64), 'ERR_POOL_FOREIGN_BUFFER');
    heap.alloc(64);
    heap.check();
    shared.check();
  });
});
