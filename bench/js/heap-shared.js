'use strict';
// 64-byte alloc+free, ns per pair (median of 7 runs of 1,000,000 pairs each):
// a HeapPool whose chunks come from a SharedPool segment, a plain HeapPool, and
// the SharedPool itself (every call takes the segment's allocator lock).
// Usage: node bench/js/heap-shared.js   (after npm run build)
const { HeapPool, SharedPool } = require('../../dist/index.js');

const PAIRS = 1_000_000;
const RUNS = 7;
const WINDOW = 64; // live blocks cycled through, as a small working set

function measure(pool) {
  const live = [];
  for (let i = 0; i < WINDOW; i++) live.push(pool.alloc(64));
  const times = [];
  for (let r = 0; r < RUNS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < PAIRS; i++) {
      const k = i & (WINDOW - 1);
      pool.free(live[k]);
      live[k] = pool.alloc(64);
    }
    times.push(Number(process.hrtime.bigint() - start) / PAIRS);
  }
  for (const view of live) pool.free(view);
  times.sort((a, b) => a - b);
  return times[RUNS >> 1];
}

const shared = SharedPool.create({ size: 64 * 1024 * 1024 });
const rows = {
  'HeapPool (SharedPool parent)': () => measure(new HeapPool({ parent: shared })),
  'HeapPool (plain)': () => measure(new HeapPool()),
  SharedPool: () => measure(shared),
};
for (const [name, run] of Object.entries(rows)) console.log(`${name.padEnd(30)} ${run().toFixed(1)} ns/op`);
shared.close();
