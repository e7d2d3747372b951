// 4 forked processes allocating, writing, verifying and freeing in one segment at
// once (test/helpers/shm-stress-child.js), with the per-process cache on and off:
// no block overlaps another, and the segment's stats come back exactly.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, expect, test } from 'vitest';

import { SharedPool } from '../lib/index.js';
import { expectNoLeftovers, uniqueName, unlinkTestNames } from './helpers/shm.js';

const CHILD = fileURLToPath(new URL('./helpers/shm-stress-child.js', import.meta.url));
const CHILDREN = 4;
const OPS = 50_000;

afterEach(unlinkTestNames);
afterAll(expectNoLeftovers);

interface Report {
  ops: number;
  mismatches: number;
  failed: number;
  peakHeld: number;
}

async function run(child: ChildProcess): Promise<Report> {
  let report: Report | undefined;
  child.on('message', (message: Report) => {
    report = message;
  });
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  expect({ code, signal }).toEqual({ code: 0, signal: null });
  expect(report).toBeDefined();
  return report!;
}

for (const cache of [true, false]) {
  test(`${CHILDREN} processes x ${OPS} alloc/write/verify/free at once, cache ${cache ? 'on' : 'off'}: no overlap, exact stats`, async () => {
    // named, so that the test also covers open() and the no-leftovers check
    using pool = SharedPool.create({ size: 16 * 1024 * 1024, name: uniqueName('stress-') });
    using viewer = SharedPool.open(pool.name!, { cache: false });
    const barrier = pool.calloc(1, 4);
    const mine = pool.alloc(1000).fill(0x5a);
    const before = viewer.stats();
    const children = Array.from({ length: CHILDREN }, (_, id) =>
      fork(CHILD, ['stress', String(id), String(OPS), String(pool.offsetOf(barrier)), cache ? '1' : '0'], {
        stdio: ['inherit', 'inherit', 'inherit', 'ipc', pool.fd],
      }),
    );
    try {
      const reports = await Promise.all(children.map(run));
      for (const report of reports) {
        expect(report).toMatchObject({ ops: OPS, mismatches: 0, failed: 0 });
        expect(report.peakHeld).toBeGreaterThan(16);
      }
    } finally {
      for (const child of children) child.kill('SIGKILL');
    }
    const after = viewer.stats();
    expect(after.used).toBe(before.used);
    expect(after.allocations).toBe(before.allocations);
    expect(after.free).toBe(before.free);
    expect(after.failedAllocations).toBe(0);
    expect(after.peakUsed).toBeGreaterThan(before.used);
    expect(mine.every((byte) => byte === 0x5a)).toBe(true);
    pool.check();
    viewer.check();
    pool.free(mine);
    pool.free(barrier);
    pool.flushCache();
    expect(viewer.stats()).toMatchObject({ used: 0, allocations: 0 });
  }, 120_000);
}
