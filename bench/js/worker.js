'use strict';
// One JS workload run in its own process (so GC and JIT state don't leak between
// allocators and sizes). Usage:
//   node bench/js/worker.js --alloc NAME --size BYTES --window N --ops N [--warmup N]
//                           [--warmup-ms MS] [--min-ms MS] [--seed S] [--sizes w1|w2]
// Prints one JSON line: { alloc, size, window, ops, ns_per_op }, and for an allocator
// with held() (allocators.js) held_per_live: the bytes it holds after the timed ops
// per byte the live blocks asked for.
//
// Workload: a window of `window` live blocks is filled (untimed), `warmup` ops run
// untimed (repeated until `warmup-ms` have passed), then `ops` timed ops (repeated until
// `min-ms` have passed); each op picks a slot from a precomputed trace, frees
// its block (pools) or just drops it (GC'd allocators: the slot is overwritten),
// allocates `size` bytes into the slot and writes one byte. Wall time, so garbage
// collection is included. --sizes w1: each op's size is drawn from a precomputed
// trace, uniform 16..512 B (the C suite's W1); w2: log-uniform 16 B..64 KiB (W2);
// `size` is then the largest size (pools are sized for it). Fixed-size rows hand a
// JS free-list cache the same view back every time; mixed sizes show its misses.
const { makeTrace, parseArgs, xorshift32 } = require('./common');
const { JS_ALLOCATORS } = require('./allocators');

function runFree(slots, trace, from, to, size, alloc, free) {
  for (let i = from; i < to; i++) {
    const s = trace[i];
    free(slots[s]);
    const b = alloc(size);
    b[0] = i & 255;
    slots[s] = b;
  }
}

function runFreeMixed(slots, trace, from, to, sizes, alloc, free) {
  for (let i = from; i < to; i++) {
    const s = trace[i];
    free(slots[s]);
    const b = alloc(sizes[i]);
    b[0] = i & 255;
    slots[s] = b;
  }
}

function runDropMixed(slots, trace, from, to, sizes, alloc) {
  for (let i = from; i < to; i++) {
    const s = trace[i];
    const b = alloc(sizes[i]);
    b[0] = i & 255;
    slots[s] = b;
  }
}

/** `n` sizes: w1 uniform 16..512, w2 log-uniform 16..65536 (xorshift32 from `seed`). */
function makeSizes(n, kind, seed) {
  const sizes = new Uint32Array(n);
  const next = xorshift32(seed);
  for (let i = 0; i < n; i++) {
    const u = next();
    sizes[i] = kind === 'w1' ? 16 + Math.floor(u * 497) : Math.floor(16 * Math.pow(4096, u));
  }
  return sizes;
}

function runDrop(slots, trace, from, to, size, alloc) {
  for (let i = from; i < to; i++) {
    const s = trace[i];
    const b = alloc(size);
    b[0] = i & 255;
    slots[s] = b;
  }
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const size = Number(a.size);
  const window = Number(a.window);
  const ops = Number(a.ops);
  const warmup = Number(a.warmup ?? Math.min(ops, 10000));
  const seed = Number(a.seed ?? 12345);
  const entry = JS_ALLOCATORS.find((x) => x.name === a.alloc);
  if (!entry) throw new Error(`unknown JS allocator ${a.alloc}`);
  const { alloc, free, held } = await entry.create(size, window);

  const mixed = a.sizes === 'w1' || a.sizes === 'w2';
  const run = mixed ? (free ? runFreeMixed : runDropMixed) : free ? runFree : runDrop;
  const trace = makeTrace(warmup + ops, window, seed);
  const sizes = mixed ? makeSizes(warmup + ops, a.sizes, seed ^ 0x9e3779b9) : null;
  const slots = new Array(window);
  for (let i = 0; i < window; i++) {
    const b = alloc(mixed ? sizes[(i * 7919) % sizes.length] : size);
    b[0] = 1;
    slots[i] = b;
  }
  // Warm-up: the first `warmup` ops of the trace, repeated until `warmup-ms` have passed
  // too (at most 10 passes). A count alone is not enough: on a busy machine V8's
  // optimising compiler runs late on its background thread.
  const warmupNs = BigInt(Math.round(Number(a['warmup-ms'] ?? 250) * 1e6));
  const w0 = process.hrtime.bigint();
  for (let pass = 0; pass < 10; pass++) {
    run(slots, trace, 0, warmup, mixed ? sizes : size, alloc, free);
    if (process.hrtime.bigint() - w0 >= warmupNs) break;
  }
  // Timed: the `ops` ops of the trace, repeated until `min-ms` have passed (at most 1000
  // passes), so that fast allocators are timed over more than a few milliseconds.
  const minNs = BigInt(Math.round(Number(a['min-ms'] ?? 300) * 1e6));
  let passes = 0;
  const t0 = process.hrtime.bigint();
  let t1 = t0;
  do {
    run(slots, trace, warmup, warmup + ops, mixed ? sizes : size, alloc, free);
    passes++;
    t1 = process.hrtime.bigint();
  } while (t1 - t0 < minNs && passes < 1000);
  let heldPerLive;
  if (held) {
    let live = 0;
    for (let i = 0; i < window; i++) live += slots[i].length;
    heldPerLive = held() / live;
  }
  if (free) for (let i = 0; i < window; i++) free(slots[i]);
  const timed = ops * passes;
  const ns = Number(t1 - t0) / timed;
  const line = { alloc: entry.name, size, window, ops: timed, ns_per_op: ns, held_per_live: heldPerLive };
  process.stdout.write(JSON.stringify(line) + '\n');
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
