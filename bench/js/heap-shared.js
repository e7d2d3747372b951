'use strict';
// 64-byte alloc+free, ns per pair (median of 7 interleaved runs of 1,000,000 pairs each):
// a HeapPool whose chunks come from a SharedPool segment, a plain HeapPool, and
// the SharedPool itself (every call takes the segment's allocator lock).
// Usage: node bench/js/heap-shared.js   (after npm run build)
const { HeapPool, SharedPool } = require('../../dist/index.js');

const PAIRS = 1_000_000;
const RUNS = 7;
const WINDOW = 64; // live blocks cycled through, as a small working set

/** ns per pair of one run of PAIRS pairs over a window of live blocks. */
function runOnce(pool, live) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < PAIRS; i++) {
    const k = i & (WINDOW - 1);
    pool.free(live[k]);
    live[k] = pool.alloc(64);
  }
  return Number(process.hrtime.bigint() - start) / PAIRS;
}

const shared = SharedPool.create({ size: 64 * 1024 * 1024 });
const pools = {
  'HeapPool (SharedPool parent)': new HeapPool({ parent: shared }),
  'HeapPool (plain)': new HeapPool(),
  SharedPool: shared,
};
const entries = Object.entries(pools).map(([name, pool]) => ({
  name,
  pool,
  live: Array.from({ length: WINDOW }, () => pool.alloc(64)),
  times: [],
}));
// Interleaved runs, so that warm-up and machine noise spread over all three.
for (let r = 0; r < RUNS; r++) for (const e of entries) e.times.push(runOnce(e.pool, e.live));
for (const e of entries) {
  e.times.sort((a, b) => a - b);
  console.log(`${e.name.padEnd(30)} ${e.times[RUNS >> 1].toFixed(1)} ns/op (median of ${RUNS})`);
  for (const view of e.live) e.pool.free(view);
}
shared.close();
