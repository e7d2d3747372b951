'use strict';
// The safeReuse mode's cost (docs/lifetime.md), in an event-loop-shaped workload:
// each "turn" allocates `batch` blocks of `size` bytes, writes a byte into each,
// gives them all back (free; a RegionPool: reset) and yields (setImmediate), as a
// server handles a request between I/O callbacks. safeReuse frees only once the
// views are garbage, so the yields are what lets its FinalizationRegistry run;
// the same yields are in every row. Usage:
//   node bench/js/reuse.js --alloc NAME --size BYTES --turns N [--batch 64]
//                          [--warmup N] [--warmup-ms MS] [--min-ms MS]
// Prints one JSON line: { alloc, size, ops, ns_per_op } (op = one alloc + its free).
const path = require('node:path');

const { parseArgs, timePasses } = require('./common');

const DIST = path.join(__dirname, '..', '..', 'dist', 'index.js');
const MiB = 1 << 20;

// name -> () => { alloc(n), release(views) }
const REUSE_ALLOCATORS = {
  'Buffer.allocUnsafe': () => ({ alloc: (n) => Buffer.allocUnsafe(n), release: () => {} }),
  TlsfPool: () => tlsf(false),
  'TlsfPool safeReuse': () => tlsf(true),
  HeapPool: () => heap(false),
  'HeapPool safeReuse': () => heap(true),
  'RegionPool reset': () => region(false),
  'RegionPool safeReuse reset': () => region(true),
};

function tlsf(safeReuse) {
  const { TlsfPool } = require(DIST);
  const pool = new TlsfPool({ size: 4 * MiB, maxSize: 1024 * MiB, safeReuse });
  return {
    alloc: (n) => pool.alloc(n),
    release: (views) => {
      for (const v of views) pool.free(v);
    },
  };
}

function heap(safeReuse) {
  const { HeapPool } = require(DIST);
  const pool = new HeapPool({ safeReuse });
  return {
    alloc: (n) => pool.alloc(n),
    release: (views) => {
      for (const v of views) pool.free(v);
    },
  };
}

function region(safeReuse) {
  const { RegionPool } = require(DIST);
  const pool = new RegionPool({ safeReuse });
  return { alloc: (n) => pool.alloc(n), release: () => pool.reset() };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

async function runTurns(a, size, batch, turns) {
  const views = new Array(batch);
  for (let t = 0; t < turns; t++) {
    for (let i = 0; i < batch; i++) {
      const b = a.alloc(size);
      b[0] = i & 255;
      views[i] = b;
    }
    a.release(views);
    views.fill(undefined);
    await turn();
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const make = REUSE_ALLOCATORS[args.alloc];
  if (!make) throw new Error(`unknown reuse allocator ${args.alloc}`);
  const size = Number(args.size);
  const batch = Number(args.batch ?? 64);
  const turns = Number(args.turns);
  const warmup = Number(args.warmup ?? Math.max(10, turns / 10));
  const a = make();
  const { passes, ns } = await timePasses((count) => runTurns(a, size, batch, count), warmup, turns, args);
  const ops = turns * batch * passes;
  process.stdout.write(JSON.stringify({ alloc: args.alloc, size, ops, ns_per_op: ns / ops }) + '\n');
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
  });
}

module.exports = { REUSE_ALLOCATORS: Object.keys(REUSE_ALLOCATORS) };
