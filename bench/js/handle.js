'use strict';
// What another addon sees of mempools (bench/addon/handle_bench.c, built by bench/run.js):
//
//   node bench/js/handle.js --w1 ALLOC --ops N          -> {"ns_per_pair": ...}
//     the W1 shape inside the addon: ALLOC one of ADDON_W1_ALLOCATORS (a pool's
//     nativeHandle, or an allocator the addon calls directly)
//   node bench/js/handle.js --results WAY --size S --count N [--min-ms M]  -> {"ns_per_result": ...}
//     the addon produces results of S bytes for JavaScript, which reads a byte of
//     each and lets it go: WAY one of RESULT_WAYS; passes of N results until
//     --min-ms (default 300) have passed, after a warm-up, wall time (GC and
//     finalizers included)
const path = require('node:path');
const { parseArgs } = require('./common');

// `kind`: the addon's w1 kind ("handle": through `pool()`'s nativeHandle); `direct`: the
// row of the same allocator called directly, for the "vs direct" ratio.
const ADDON_W1_ALLOCATORS = [
  { name: 'glibc', kind: 'glibc' },
  { name: 'heap direct', kind: 'heap' },
  { name: 'HeapPool nativeHandle', pool: (m) => new m.HeapPool(), direct: 'heap direct' },
  {
    name: 'HeapPool threadSafe nativeHandle',
    pool: (m) => new m.HeapPool({ threadSafe: true }),
    direct: 'heap direct',
  },
  { name: 'tlsf direct', kind: 'tlsf' },
  { name: 'TlsfPool nativeHandle', pool: (m) => new m.TlsfPool({ size: 256 << 20 }), direct: 'tlsf direct' },
  {
    name: 'TlsfPool threadSafe nativeHandle',
    pool: (m) => new m.TlsfPool({ size: 256 << 20, threadSafe: true }),
    direct: 'tlsf direct',
  },
  { name: 'shm direct', kind: 'shm' },
  { name: 'SharedPool nativeHandle', pool: (m) => m.SharedPool.create({ size: 256 << 20 }), direct: 'shm direct' },
];

// Ways an addon hands a result of `size` bytes to JavaScript. Each returns a function that
// makes `count` results and lets each go once it read a byte of it.
const RESULT_WAYS = [
  {
    name: 'napi_create_buffer_copy',
    make: (addon) => (size, count) => {
      let sum = 0;
      for (let i = 0; i < count; i++) sum += addon.copyResult(size)[0];
      return sum;
    },
  },
  {
    name: 'napi_create_external_buffer',
    make: (addon) => (size, count) => {
      let sum = 0;
      for (let i = 0; i < count; i++) sum += addon.externalResult(size)[0];
      return sum;
    },
  },
  {
    // the addon allocates through the HeapPool's nativeHandle, returns { chunk, offset };
    // JavaScript views it (pool.viewOf) and frees it when done
    name: 'HeapPool viewOf',
    make: (addon, m) => {
      const pool = new m.HeapPool();
      const handle = pool.nativeHandle;
      return (size, count) => {
        let sum = 0;
        for (let i = 0; i < count; i++) {
          const view = pool.viewOf(addon.poolResult(handle, size), size);
          sum += view[0];
          pool.free(view);
        }
        return sum;
      };
    },
  },
  {
    // the same, up to 64 results per addon call (at most 64 KiB of them, so that a batch
    // does not outgrow the pool's spare chunks): (chunk, offset) pairs in a Float64Array
    name: 'HeapPool viewOf, batched',
    make: (addon, m) => {
      const pool = new m.HeapPool();
      const handle = pool.nativeHandle;
      const where = new Float64Array(2 * 64);
      const at = { chunk: 0, offset: 0 };
      return (size, count) => {
        const batch = Math.max(1, Math.min(64, Math.floor(65536 / size)));
        let sum = 0;
        for (let done = 0; done < count; done += batch) {
          const n = Math.min(batch, count - done);
          addon.poolResults(handle, size, n, where);
          for (let i = 0; i < n; i++) {
            at.chunk = where[2 * i];
            at.offset = where[2 * i + 1];
            const view = pool.viewOf(at, size);
            sum += view[0];
            pool.free(view);
          }
        }
        return sum;
      };
    },
  },
];

function loadAddon() {
  return require(path.join(__dirname, '..', 'addon', 'build', 'Release', 'handle_bench.node'));
}

function w1(args) {
  const a = ADDON_W1_ALLOCATORS.find((x) => x.name === args.w1);
  if (!a) throw new Error(`unknown allocator ${args.w1}`);
  const addon = loadAddon();
  const ops = Number(args.ops ?? 1_000_000);
  // loaded for every row, so that direct rows run in a process laid out like the others
  const mempools = require(path.join(__dirname, '..', '..', 'dist', 'index.js'));
  let value;
  if (a.pool) {
    const pool = a.pool(mempools);
    value = addon.w1('handle', pool.nativeHandle, ops, 1);
    if (pool.close) pool.close();
    else pool.destroy();
  } else {
    value = addon.w1(a.kind, null, ops, 1);
  }
  console.log(JSON.stringify({ alloc: a.name, workload: 'addon W1', ns_per_pair: value, ops }));
}

function results(args) {
  const way = RESULT_WAYS.find((x) => x.name === args.results);
  if (!way) throw new Error(`unknown way ${args.results}`);
  const size = Number(args.size);
  const count = Number(args.count);
  const run = way.make(loadAddon(), require(path.join(__dirname, '..', '..', 'dist', 'index.js')));
  const minNs = BigInt(Math.round(Number(args['min-ms'] ?? 300) * 1e6));
  const w0 = process.hrtime.bigint();
  while (process.hrtime.bigint() - w0 < minNs / 2n) run(size, count); // warm-up
  let passes = 0;
  const t0 = process.hrtime.bigint();
  let t = t0;
  while (t - t0 < minNs && passes < 1000) {
    run(size, count);
    passes++;
    t = process.hrtime.bigint();
  }
  const ns = Number(t - t0) / (passes * count);
  console.log(JSON.stringify({ way: way.name, size, ns_per_result: ns, passes, count }));
}

if (require.main === module) {
  const args = parseArgs(process.argv.slice(2));
  if (args.w1) w1(args);
  else if (args.results) results(args);
  else throw new Error('--w1 ALLOC or --results WAY');
}

module.exports = { ADDON_W1_ALLOCATORS, RESULT_WAYS };
