'use strict';
// The request workload R1 in JS, one run in its own process. Usage:
//   node bench/js/request.js --alloc NAME --requests N [--warmup N] [--warmup-ms MS]
//                            [--min-ms MS] [--shapes N] [--seed S] [--turns 1] [--shape r1|a64]
// Prints one JSON line: { alloc, requests, ns_per_request, ns_per_alloc }.
//
// Each request: begin() (RegionPool: new pool), 200 allocations uniform 16..256 B plus two
// of 8 KiB at random positions among them, one byte written into each, end() (RegionPool:
// destroy(); RegionPool reset: reset(); TlsfPool: free each; Buffer.allocUnsafe: the
// buffers are just dropped). Sizes come from `shapes` (default 1024) precomputed request
// shapes used in turn (fixed seed), as in the C version (bench/c/workloads.c, R1).
// `warmup` requests run untimed first (repeated until `warmup-ms` have passed), then
// `requests` timed ones (repeated until `min-ms` have passed). Wall time, GC included.
// --shape a64: each request is 200 allocations of 64 B (no large ones), so that
// ns_per_alloc is the cost of one small allocation with its share of begin()/end().
// --turns 1: a turn of the event loop (setImmediate) after every request, as a server
// has between requests; memory a destroyed pool's views still reached (docs/lifetime.md)
// goes back at their finalizers, which need such a turn.
const { parseArgs, timePasses, xorshift32 } = require('./common');
const { JS_REQUEST_ALLOCATORS } = require('./allocators');

const SMALL = 200;
const LARGE = 2;
const PER = SMALL + LARGE;
const LARGE_SIZE = 8192;
const SMALL_MIN = 16;
const SMALL_MAX = 256;

function makeShapes(shapes, seed, kind) {
  const next = xorshift32(seed);
  const below = (n) => Math.floor(next() * n);
  const sizes = new Uint16Array(shapes * PER);
  if (kind === 'a64') return sizes.fill(64);
  for (let s = 0; s < shapes; s++) {
    const base = s * PER;
    for (let i = 0; i < PER; i++) sizes[base + i] = SMALL_MIN + below(SMALL_MAX - SMALL_MIN + 1);
    const a = below(PER);
    let b = below(PER - 1);
    if (b >= a) b++;
    sizes[base + a] = LARGE_SIZE;
    sizes[base + b] = LARGE_SIZE;
  }
  return sizes;
}

// `count` requests starting at shape `first`; returns the next shape
function runRequests(sizes, shapes, first, count, api, views) {
  const { begin, alloc, end } = api;
  let shape = first;
  for (let r = 0; r < count; r++) {
    const base = shape * PER;
    if (++shape === shapes) shape = 0;
    begin();
    for (let i = 0; i < PER; i++) {
      const b = alloc(sizes[base + i]);
      b[0] = i & 255;
      views[i] = b;
    }
    end(views);
  }
  return shape;
}

// as runRequests, with a turn of the event loop after each request
async function runRequestsWithTurns(sizes, shapes, first, count, api, views) {
  let shape = first;
  for (let r = 0; r < count; r++) {
    shape = runRequests(sizes, shapes, shape, 1, api, views);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return shape;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const requests = Number(a.requests ?? 20000);
  const warmup = Number(a.warmup ?? Math.max(10, Math.round(requests / 10)));
  const shapes = Number(a.shapes ?? 1024);
  const seed = Number(a.seed ?? 12345);
  const entry = JS_REQUEST_ALLOCATORS.find((x) => x.name === a.alloc);
  if (!entry) throw new Error(`unknown JS request allocator ${a.alloc}`);
  const why = entry.available();
  if (why) throw new Error(`${entry.name}: ${why}`);
  const api = await entry.create();
  const kind = a.shape ?? 'r1';
  if (kind !== 'r1' && kind !== 'a64') throw new Error(`unknown request shape ${kind}`);
  const sizes = makeShapes(shapes, seed, kind);
  const views = new Array(PER).fill(null);
  const run = Number(a.turns ?? 0) > 0 ? runRequestsWithTurns : runRequests;

  let shape = 0;
  const pass = async (count) => {
    shape = await run(sizes, shapes, shape, count, api, views);
  };
  const { passes, ns: totalNs } = await timePasses(pass, warmup, requests, a);
  const timed = requests * passes;
  const ns = totalNs / timed;
  process.stdout.write(
    JSON.stringify({ alloc: entry.name, requests: timed, ns_per_request: ns, ns_per_alloc: ns / PER }) + '\n',
  );
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
