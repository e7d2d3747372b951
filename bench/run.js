#!/usr/bin/env node
'use strict';
// Benchmark harness: C allocator workloads (bench/c) and JS workloads (bench/js).
//
//   node bench/run.js            full run: >= 5 runs each, writes bench/results/latest.json
//                                and bench/results/chart.svg
//   node bench/run.js --quick    smoke run of a few seconds (fewer ops, 1 run), writes
//                                bench/results/quick.json and quick.svg (never latest.json)
// Other options: --runs N, --suite c|js|shared|addon (shared: only the SharedPool workloads of
// bench/js/shared.js; addon: only the bench addon's rows, glibc peer included), --no-callgrind,
// --out FILE
//
// Allocators and workloads are the tables below (C) and in bench/js/allocators.js (JS);
// see bench/README.md for how to add one.
const { execFile, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { JS_ALLOCATORS, JS_PEER, JS_REQUEST_ALLOCATORS } = require('./js/allocators');
// multi-process SharedPool workloads (contention, 1 MiB hand-off): table and script in bench/js/shared.js
const { SHARED_WORKLOADS, sharedAvailable } = require('./js/shared');
// progress and ETA on stderr: a status line on a terminal, plain lines otherwise (bench/progress.js)
const { Progress } = require('./progress');

const ROOT = path.join(__dirname, '..');
const BENCH = __dirname;
const BIN = path.join(BENCH, 'bin');
const RESULTS = path.join(BENCH, 'results');

// ---------------------------------------------------------------- options
const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const QUICK = argv.includes('--quick');
const RUNS = Number(opt('--runs') ?? (QUICK ? 1 : 5));
const SUITE = opt('--suite') ?? 'all';
const CALLGRIND = !argv.includes('--no-callgrind');
const OUT = opt('--out') ?? path.join(RESULTS, QUICK ? 'quick.json' : 'latest.json');
const SVG =
  OUT.replace(/\.json$/, '') === path.join(RESULTS, 'latest')
    ? path.join(RESULTS, 'chart.svg')
    : OUT.replace(/\.json$/, '.svg');

// ---------------------------------------------------------------- C tables
// One binary per allocator, from bench/c/workloads.c with -D<define>; adapters in
// bench/c/adapters.h (`defines`: extra -D flags, for variants of one adapter).
// `sources` are compiled in, `libs` linked. A missing source skips
// the allocator with a message; so does a failed build of a `system` one (library not
// installed); a failed build of the project's own code is a failure (exit code 1).
// `only: [workload names]` restricts an allocator to those workloads (request-scoped pools
// run R1 only); without it an allocator runs every C workload.
const C_ALLOCATORS = [
  { name: 'glibc', define: 'ALLOC_GLIBC', sources: [], libs: [] },
  { name: 'jemalloc', define: 'ALLOC_JEMALLOC', sources: [], libs: ['-ljemalloc'], system: true },
  { name: 'mimalloc', define: 'ALLOC_MIMALLOC', sources: [], libs: ['-lmimalloc'], system: true },
  { name: 'tlsf', define: 'ALLOC_TLSF', sources: ['native/alloc/tlsf.c'], libs: [] },
  // the same TLSF with its optional front cache (tlsf_set_cache) at depth 64
  {
    name: 'tlsf-cache',
    define: 'ALLOC_TLSF',
    defines: ['BENCH_TLSF_CACHE=64'],
    sources: ['native/alloc/tlsf.c'],
    libs: [],
  },
  // HeapPool's C core (native/alloc/heap_pool.c): one unbounded pool, default memory callbacks; no fixed region (W4 n/a)
  {
    name: 'heap',
    define: 'ALLOC_HEAP',
    sources: ['native/alloc/heap_pool.c', 'native/alloc/chunk_map.c'],
    libs: [],
    only: ['W1', 'W2', 'W3', 'W4'],
  },
  // RegionPool's C core: a pool created and destroyed per request, and one pool reset per request
  {
    name: 'region',
    define: 'ALLOC_REGION',
    sources: ['native/alloc/region_pool.c', 'native/alloc/chunk_map.c'],
    libs: [],
    only: ['R1'],
  },
  {
    name: 'region-reset',
    define: 'ALLOC_REGION',
    defines: ['BENCH_REGION_RESET=1'],
    sources: ['native/alloc/region_pool.c', 'native/alloc/chunk_map.c'],
    libs: [],
    only: ['R1'],
  },
  // yardstick for R1: a minimal nginx-style pool (bench/c/ngx_ref.h), no side tables
  { name: 'ngx-ref', define: 'ALLOC_NGX_REF', sources: [], libs: [], only: ['R1'] },
];
const runsOn = (a, workload) => !a.only || a.only.includes(workload.split(' ')[0]);
const C_PEER = 'glibc';
// W4 only runs on region allocators; its rows are compared with this one instead.
const C_REGION_PEER = 'tlsf';

// Timed C workloads: each run is one process `bin/<alloc> --workload <name> ...`;
// every JSON line it prints becomes a sample of (workload, unit).
// `callgrind`: also count instructions in the timed function `fn` (callgrind --toggle-collect),
// at `ops` (quick: `quickOps`) minus a 0-op run, per op, reported in `unit`.
const PAIRS_CG = { fn: 'bench_timed_pairs', unit: 'instr/pair', ops: 200_000, quickOps: 20_000 };
const C_WORKLOADS = [
  { name: 'W1', args: ['--workload', 'W1'], ops: 1_000_000, quickOps: 20_000, callgrind: PAIRS_CG },
  { name: 'W2', args: ['--workload', 'W2'], ops: 1_000_000, quickOps: 20_000, callgrind: PAIRS_CG },
  { name: 'W3', args: ['--workload', 'W3'], ops: 1_000_000, quickOps: 20_000 },
  // requests (--ops = requests): 200 x 16..256 B + 2 x 8 KiB each, then free all / destroy / reset
  {
    name: 'R1',
    args: ['--workload', 'R1'],
    ops: 100_000,
    quickOps: 2_000,
    callgrind: { fn: 'bench_timed_requests', unit: 'instr/request', ops: 2_000, quickOps: 200 },
  },
];
// Scale: W1 and W2 at 1 k .. 1 M live blocks (the trace's fill), each also printing its
// resident bytes per requested live byte (the growth of the process's RSS from before the
// allocator's init to after the timed pairs); the region allocators get a region of
// 1.6x the live bytes the fill asks (256 MiB at least). One run each (`runs: 1`): the
// 1 M rows fill gigabytes; --quick runs none.
const SCALE_LIVE = [1_000, 10_000, 100_000, 1_000_000];
const SCALE_MEAN = { W1: 264, W2: 8_192 }; // bytes per block, rounded up
for (const base of ['W1', 'W2'])
  for (const live of SCALE_LIVE) {
    const name = `${base} ${live >= 1_000_000 ? `${live / 1_000_000}M` : `${live / 1_000}k`} live`;
    const region = Math.max(256 * 2 ** 20, Math.ceil((live * SCALE_MEAN[base] * 1.6) / 2 ** 20) * 2 ** 20);
    C_WORKLOADS.push({
      name,
      args: ['--workload', base, '--live', String(live), '--region', String(region), '--resident', '1', '--name', name],
      ops: 1_000_000,
      quickOps: 0,
      runs: 1,
    });
  }
// Deterministic C workloads (no timing): run once; samples are per seed.
const C_ONCE = [{ name: 'W4', args: ['--workload', 'W4', '--seeds', '5'] }];
// instructions per op (valgrind --tool=callgrind) for the workloads marked `callgrind`;
// the quick run does only the first of them
const CALLGRIND_WORKLOADS = C_WORKLOADS.filter((w) => w.callgrind).slice(0, QUICK ? 1 : undefined);

// ---------------------------------------------------------------- JS table
// sizes x allocators (bench/js/allocators.js), each run in its own child process.
const JS_WORKLOADS = [
  { name: '64 B', size: 64, window: 1000, ops: 1_000_000 },
  { name: '4 KiB', size: 4096, window: 1000, ops: 400_000 },
  { name: '64 KiB', size: 65536, window: 1000, ops: 50_000 },
  { name: '1 MiB', size: 1 << 20, window: 100, ops: 5_000 },
  // mixed sizes (the C suite's W1 and W2 distributions): free-list caches miss
  { name: 'W1 sizes', size: 512, sizes: 'w1', window: 1000, ops: 1_000_000 },
  { name: 'W2 sizes', size: 65536, sizes: 'w2', window: 1000, ops: 200_000 },
];
const JS_QUICK_DIVISOR = 50;
// Request-shaped JS workloads (bench/js/request.js, allocators: JS_REQUEST_ALLOCATORS):
// `requests` per timed pass (~1 s for Buffer.allocUnsafe on the 2-core CI VM).
const JS_REQUEST_WORKLOADS = [
  { name: 'R1 request', script: 'request.js', requests: 25_000 },
  // the same with a turn of the event loop after every request (as in a server)
  { name: 'R1 request, turns', script: 'request.js', requests: 10_000, args: ['--turns', '1'] },
  // 200 allocations of 64 B per request: ns per allocation (its share of begin/end included)
  { name: '64 B alloc', script: 'request.js', requests: 25_000, args: ['--shape', 'a64'], perAlloc: true },
];
// The safeReuse mode's cost (bench/js/reuse.js): turns of 64 alloc + give-back, a yield
// (setImmediate) after each; allocators: REUSE_ALLOCATORS; peer: JS_PEER.
const JS_REUSE_WORKLOADS = [
  { name: 'turns 64 B', size: 64, turns: 4000 },
  { name: 'turns 4 KiB', size: 4096, turns: 1000 },
];
const { REUSE_ALLOCATORS } = require('./js/reuse');
// What another addon sees (bench/js/handle.js over bench/addon, built here): the W1 shape
// through each pool's nativeHandle and directly (C suite rows "addon W1", peer glibc in the
// same addon; callgrind: "addon W1" instr/pair), and results handed to JavaScript
// (JS suite rows "addon result <size>", peer napi_create_external_buffer).
const { ADDON_W1_ALLOCATORS, RESULT_WAYS } = require('./js/handle');
const ADDON_W1 = { name: 'addon W1', ops: 1_000_000, quickOps: 20_000, cgOps: 200_000 };
const ADDON_RESULTS = [
  { name: 'addon result 64 B', size: 64, count: 2000 },
  { name: 'addon result 4 KiB', size: 4096, count: 2000 },
  { name: 'addon result 64 KiB', size: 65536, count: 500 },
  { name: 'addon result 1 MiB', size: 1 << 20, count: 50 },
];
const ADDON_RESULT_PEER = 'napi_create_external_buffer';

// ---------------------------------------------------------------- helpers
const progress = new Progress();
// Every child process of the harness; each one is a progress step.
function run(cmd, args, { timeout = 300_000, cwd = ROOT } = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      progress.step();
      resolve({ ok: !err, err, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
const jsonLines = (s) =>
  s
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return NaN;
  return n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
const firstLine = (s) =>
  (
    String(s)
      .trim()
      .split('\n')
      .find((l) => /error|cannot|not found/i.test(l)) ??
    String(s).trim().split('\n')[0] ??
    ''
  ).slice(0, 200);
const log = (...a) => progress.around(() => console.log(...a));

function meta() {
  let commit = 'uncommitted';
  try {
    commit =
      execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim() || 'uncommitted';
  } catch {}
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    machine: `${cpus[0]?.model?.trim() ?? 'unknown cpu'}, ${cpus.length} cores, node ${process.version}`,
    commit,
  };
}

// samples[suite][workload|unit][allocator] = number[]
const samples = { c: {}, js: {} };
const order = { c: [], js: [] }; // workload|unit keys in first-seen order
function addSample(suite, workload, unit, alloc, value) {
  const key = `${workload}|${unit}`;
  if (!samples[suite][key]) {
    samples[suite][key] = {};
    order[suite].push(key);
  }
  (samples[suite][key][alloc] ??= []).push(value);
}
const notes = []; // printed as they happen and again at the end
let failures = 0; // runs that failed (not skips): make the exit code 1 so CI notices
function fail(s) {
  failures++;
  note(`FAILED ${s}`);
}
function note(s) {
  notes.push(s);
  log(`note: ${s}`);
}

// ---------------------------------------------------------------- C suite
async function buildC() {
  fs.mkdirSync(BIN, { recursive: true });
  const built = [];
  await Promise.all(
    C_ALLOCATORS.map(async (a) => {
      const missing = a.sources.filter((s) => !fs.existsSync(path.join(ROOT, s)));
      if (missing.length) {
        note(`C ${a.name}: skipped, ${missing.join(', ')} not found`);
        return;
      }
      const out = path.join(BIN, a.name);
      const args = [
        '-O2',
        '-std=c11',
        '-D_GNU_SOURCE',
        '-Wall',
        `-D${a.define}`,
        ...(a.defines ?? []).map((d) => `-D${d}`),
        '-I',
        path.join(BENCH, 'c'),
        '-I',
        path.join(ROOT, 'native', 'alloc'),
        path.join(BENCH, 'c', 'workloads.c'),
        ...a.sources.map((s) => path.join(ROOT, s)),
        '-o',
        out,
        ...a.libs,
        '-lm',
      ];
      const r = await run(process.env.CC || 'cc', args);
      if (!r.ok) {
        if (a.system)
          note(
            `C ${a.name}: skipped, build failed (library missing? bash bench/setup.sh installs it): ${firstLine(r.stderr)}`,
          );
        else fail(`C ${a.name}: build failed: ${firstLine(r.stderr)}`);
        return;
      }
      const v = await run(out, ['--version']);
      if (!v.ok) {
        fail(`C ${a.name}: binary does not run: ${firstLine(v.stderr)}`);
        return;
      }
      const version = jsonLines(v.stdout)[0]?.version ?? '';
      log(`built bench/bin/${a.name}${version ? ` (${version})` : ''}`);
      built.push({ ...a, bin: out, version });
    }),
  );
  return C_ALLOCATORS.map((a) => built.find((b) => b.name === a.name)).filter(Boolean);
}

async function runC(allocs) {
  const failed = new Set();
  let loggedClock = false;
  for (let rep = 0; rep < RUNS; rep++) {
    log(`C run ${rep + 1}/${RUNS}`);
    for (const w of C_WORKLOADS) {
      const ops = QUICK ? w.quickOps : w.ops;
      if (ops === 0 || rep >= (w.runs ?? RUNS)) continue;
      // rotate the allocator order each run so drift doesn't favour one of them
      for (let i = 0; i < allocs.length; i++) {
        const a = allocs[(i + rep) % allocs.length];
        if (!runsOn(a, w.name) || failed.has(`${a.name}|${w.name}`)) continue;
        const r = await run(a.bin, [...w.args, '--ops', String(ops)]);
        if (!r.ok) {
          failed.add(`${a.name}|${w.name}`);
          fail(`C ${a.name} ${w.name}: ${firstLine(r.stderr) || r.err.message}`);
          continue;
        }
        for (const l of jsonLines(r.stdout)) {
          if (l.info) {
            if (!loggedClock)
              log(`  W3 clock: ${l.clock}, ${l.ticks_per_ns} ticks/ns, timer overhead ${l.value} ns (subtracted)`);
            loggedClock = true;
            continue;
          }
          addSample('c', l.workload, l.unit, a.name, l.value);
        }
      }
    }
  }
  for (const w of C_ONCE) {
    for (const a of allocs) {
      if (!runsOn(a, w.name)) continue;
      const r = await run(a.bin, w.args);
      if (!r.ok) {
        fail(`C ${a.name} ${w.name}: ${firstLine(r.stderr) || r.err.message}`);
        continue;
      }
      const lines = jsonLines(r.stdout);
      for (const l of lines) {
        if (l.skip) {
          note(`C ${a.name} ${w.name}: ${l.skip}`);
          continue;
        }
        addSample('c', l.workload, l.unit, a.name, l.value);
      }
      const seeds = lines.filter((l) => l.seed != null);
      if (seeds.length) {
        const by = {};
        for (const l of seeds)
          (by[l.workload] ??= []).push(`seed ${l.seed}: ${l.value.toFixed(2)}% (${l.blocks} blocks)`);
        for (const [wl, s] of Object.entries(by)) log(`  ${a.name} ${wl}: ${s.join(', ')}`);
      }
    }
  }
}

async function runCallgrind(allocs) {
  const v = await run('valgrind', ['--version']);
  if (!v.ok) {
    note('callgrind: skipped, valgrind not found (bash bench/setup.sh installs it)');
    return;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mempools-cg-'));
  const total = async (bin, w, ops) => {
    const out = path.join(tmp, `cg.${path.basename(bin)}.${w.name}.${ops}`);
    const r = await run(
      'valgrind',
      [
        '--tool=callgrind',
        `--callgrind-out-file=${out}`,
        '--collect-atstart=no',
        `--toggle-collect=${w.callgrind.fn}`,
        bin,
        ...w.args,
        '--ops',
        String(ops),
      ],
      { timeout: 600_000 },
    );
    if (!r.ok) throw new Error(firstLine(r.stderr) || r.err.message);
    const text = fs.readFileSync(out, 'utf8');
    const m = text.match(/^totals:\s+(\d+)/m) ?? text.match(/^summary:\s+(\d+)/m);
    if (!m) throw new Error(`no totals in ${out}`);
    return Number(m[1]);
  };
  const cgOps = (w) => (QUICK ? w.callgrind.quickOps : w.callgrind.ops);
  log(`callgrind: ${CALLGRIND_WORKLOADS.map((w) => `${w.name} at ${cgOps(w)} ops`).join(', ')}`);
  for (const w of CALLGRIND_WORKLOADS) {
    const ops = cgOps(w);
    // two allocators at a time (one per core); each pair of runs is independent
    const todo = allocs.filter((a) => runsOn(a, w.name));
    const one = async (a) => {
      try {
        const [full, base] = [await total(a.bin, w, ops), await total(a.bin, w, 0)];
        addSample('c', w.name, w.callgrind.unit, a.name, (full - base) / ops);
      } catch (e) {
        fail(`callgrind ${a.name} ${w.name}: ${e.message}`);
      }
    };
    for (let i = 0; i < todo.length; i += 2) await Promise.all(todo.slice(i, i + 2).map(one));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

// ---------------------------------------------------------------- the bench addon
// Builds bench/addon (node-gyp, --nodedir from npm_config_nodedir or /usr); false when it
// cannot run (no dist/, or the build failed: noted).
async function buildAddon() {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) {
    note('bench addon: skipped, dist/ not built (npm run build)');
    return false;
  }
  const gyp = path.join(path.dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');
  const nodedir = process.env.npm_config_nodedir ?? '/usr';
  const r = await run(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`], { cwd: path.join(BENCH, 'addon') });
  if (!r.ok) fail(`bench addon: build failed: ${firstLine(r.stderr) || firstLine(r.stdout)}`);
  else log('built bench/addon (handle_bench.node)');
  return r.ok;
}

const addonW1Args = (a, ops) => [path.join(BENCH, 'js', 'handle.js'), '--w1', a.name, '--ops', String(ops)];

// "addon W1": one process per allocator x run, in the C suite (its peer: the addon's glibc row)
async function runAddonW1() {
  const failed = new Set();
  const ops = QUICK ? ADDON_W1.quickOps : ADDON_W1.ops;
  for (let rep = 0; rep < RUNS; rep++) {
    log(`C addon W1 run ${rep + 1}/${RUNS}`);
    for (let i = 0; i < ADDON_W1_ALLOCATORS.length; i++) {
      const a = ADDON_W1_ALLOCATORS[(i + rep) % ADDON_W1_ALLOCATORS.length];
      if (failed.has(a.name)) continue;
      const r = await run(process.execPath, addonW1Args(a, ops));
      const res = r.ok ? jsonLines(r.stdout)[0] : null;
      if (!res) {
        failed.add(a.name);
        fail(`C addon W1 ${a.name}: ${firstLine(r.stderr) || r.err?.message}`);
        continue;
      }
      addSample('c', ADDON_W1.name, 'ns/pair', a.name, res.ns_per_pair);
    }
  }
}

// "addon W1" instructions: callgrind on node, collecting only in the addon's timed loops
// (bench_w1_*), at cgOps minus a 0-op run; two processes at a time. Not in --quick (node
// starts slowly under valgrind).
async function runAddonCallgrind() {
  if (QUICK) return note('callgrind: addon W1 skipped in --quick');
  const v = await run('valgrind', ['--version']);
  if (!v.ok) return note('callgrind: addon W1 skipped, valgrind not found');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mempools-cg-addon-'));
  const total = async (a, ops) => {
    const out = path.join(tmp, `cg.${a.name.replace(/\W+/g, '_')}.${ops}`);
    const cg = [
      '--tool=callgrind',
      `--callgrind-out-file=${out}`,
      '--collect-atstart=no',
      '--toggle-collect=bench_w1_*',
    ];
    const r = await run('valgrind', [...cg, process.execPath, ...addonW1Args(a, ops)], { timeout: 600_000 });
    if (!r.ok) throw new Error(firstLine(r.stderr) || r.err.message);
    const m = fs.readFileSync(out, 'utf8').match(/^totals:\s+(\d+)/m);
    if (!m) throw new Error(`no totals in ${out}`);
    return Number(m[1]);
  };
  const one = async (a) => {
    try {
      const [full, base] = [await total(a, ADDON_W1.cgOps), await total(a, 0)];
      addSample('c', ADDON_W1.name, 'instr/pair', a.name, (full - base) / ADDON_W1.cgOps);
    } catch (e) {
      fail(`callgrind addon W1 ${a.name}: ${e.message}`);
    }
  };
  log(`callgrind: addon W1 at ${ADDON_W1.cgOps} ops`);
  for (let i = 0; i < ADDON_W1_ALLOCATORS.length; i += 2)
    await Promise.all(ADDON_W1_ALLOCATORS.slice(i, i + 2).map(one));
  fs.rmSync(tmp, { recursive: true, force: true });
}

// "addon result <size>": results handed to JavaScript three ways (bench/js/handle.js)
function runAddonResults() {
  return runJSScripts('addon result', RESULT_WAYS, ADDON_RESULTS, {
    count: (w) => w.count,
    argv: (w, name, count) => [
      path.join(BENCH, 'js', 'handle.js'),
      '--results',
      name,
      '--size',
      String(w.size),
      '--count',
      String(count),
    ],
    minWarmup: 1,
    unit: 'ns/result',
    value: (res) => res.ns_per_result,
  });
}

// ---------------------------------------------------------------- JS suite
// The allocators of `list` that can run here (the others are skipped with a note).
function availableJS(list, label = '') {
  return list.filter((a) => {
    const why = a.available();
    if (why) note(`JS ${a.name}${label}: skipped, ${why}`);
    return !why;
  });
}

// One JS sample in its own process: its first JSON line, or null (then noted, and the
// allocator x workload pair is added to `failed`). One retry: a failure to load the addon
// can be a rebuild running at the same time.
async function jsSample(a, w, args, failed) {
  let r = await run(process.execPath, args);
  if (!r.ok) {
    note(`JS ${a.name} ${w.name}: failed (${firstLine(r.stderr) || r.err?.message}); retrying once in 10 s`);
    await new Promise((res) => setTimeout(res, 10_000));
    r = await run(process.execPath, args);
  }
  const res = r.ok ? jsonLines(r.stdout)[0] : null;
  if (!res) {
    failed.add(`${a.name}|${w.name}`);
    fail(`JS ${a.name} ${w.name}: ${firstLine(r.stderr) || r.err?.message}`);
  }
  return res ?? null;
}

async function runJS() {
  const allocs = availableJS(JS_ALLOCATORS);
  const worker = path.join(BENCH, 'js', 'worker.js');
  const failed = new Set();
  for (let rep = 0; rep < RUNS; rep++) {
    log(`JS run ${rep + 1}/${RUNS}`);
    for (const w of JS_WORKLOADS) {
      const ops = QUICK ? Math.max(100, Math.round(w.ops / JS_QUICK_DIVISOR)) : w.ops;
      const warmup = Math.max(10, Math.round(ops / 10));
      for (let i = 0; i < allocs.length; i++) {
        const a = allocs[(i + rep) % allocs.length];
        if (failed.has(`${a.name}|${w.name}`)) continue;
        const args = [
          worker,
          '--alloc',
          a.name,
          '--size',
          String(w.size),
          '--window',
          String(w.window),
          '--ops',
          String(ops),
          '--warmup',
          String(warmup),
          '--warmup-ms',
          String(QUICK ? 50 : 250),
          '--min-ms',
          String(QUICK ? 20 : 300),
          ...(w.sizes ? ['--sizes', w.sizes] : []),
        ];
        const res = await jsSample(a, w, args, failed);
        if (res) addSample('js', w.name, 'ns/op', a.name, res.ns_per_op);
        // mixed sizes: what a pool holds per live byte (its free-list cache's decay shows here)
        if (res && w.sizes && res.held_per_live !== undefined)
          addSample('js', w.name, 'held/live', a.name, res.held_per_live);
      }
    }
  }
}

// Script workloads (request.js, reuse.js): one child process per allocator x
// workload x run, like runJS. `spec.count(w)` ops per timed pass (quick: 1/50);
// `spec.argv(w, name, count)` the script and its own arguments (the warm-up and
// timing ones are added here); `spec.value(res)` the figure, in `spec.unit`.
async function runJSScripts(label, allocs, workloads, spec) {
  const failed = new Set();
  for (let rep = 0; rep < RUNS; rep++) {
    log(`JS ${label} run ${rep + 1}/${RUNS}`);
    for (const w of workloads) {
      const count = QUICK ? Math.max(20, Math.round(spec.count(w) / JS_QUICK_DIVISOR)) : spec.count(w);
      for (let i = 0; i < allocs.length; i++) {
        const a = allocs[(i + rep) % allocs.length];
        if (failed.has(`${a.name}|${w.name}`)) continue;
        const args = [
          ...spec.argv(w, a.name, count),
          '--warmup',
          String(Math.max(spec.minWarmup, Math.round(count / 10))),
          '--warmup-ms',
          String(QUICK ? 50 : 250),
          '--min-ms',
          String(QUICK ? 20 : 300),
        ];
        const res = await jsSample(a, w, args, failed);
        if (res) addSample('js', w.name, spec.unitOf?.(w) ?? spec.unit, a.name, spec.value(res, w));
      }
    }
  }
}

// request-shaped workloads (bench/js/request.js)
function runJSRequests() {
  return runJSScripts('request', availableJS(JS_REQUEST_ALLOCATORS, ' (request workloads)'), JS_REQUEST_WORKLOADS, {
    count: (w) => w.requests,
    argv: (w, name, count) => [
      path.join(BENCH, 'js', w.script),
      '--alloc',
      name,
      '--requests',
      String(count),
      ...(w.args ?? []),
    ],
    minWarmup: 10,
    unit: 'ns/request',
    unitOf: (w) => (w.perAlloc ? 'ns/alloc' : 'ns/request'),
    value: (res, w) => (w.perAlloc ? res.ns_per_alloc : res.ns_per_request),
  });
}

// the safeReuse workloads (bench/js/reuse.js); without dist/ only the peer runs
function runJSReuse() {
  const distMissing = !fs.existsSync(path.join(ROOT, 'dist', 'index.js'));
  const allocs = REUSE_ALLOCATORS.filter((name) => !distMissing || name === JS_PEER).map((name) => ({ name }));
  return runJSScripts('reuse', allocs, JS_REUSE_WORKLOADS, {
    count: (w) => w.turns,
    argv: (w, name, count) => [
      path.join(BENCH, 'js', 'reuse.js'),
      '--alloc',
      name,
      '--size',
      String(w.size),
      '--turns',
      String(count),
    ],
    minWarmup: 5,
    unit: 'ns/op',
    value: (res) => res.ns_per_op,
  });
}

// SharedPool workloads (bench/js/shared.js): one process per allocator x run, which forks
// its own children; each workload has its own allocator list and peer (SHARED_WORKLOADS)
async function runJSShared() {
  const why = sharedAvailable();
  if (why) {
    note(`JS SharedPool workloads: skipped, ${why}`);
    return;
  }
  const failed = new Set();
  const script = path.join(BENCH, 'js', 'shared.js');
  for (let rep = 0; rep < RUNS; rep++) {
    log(`JS SharedPool run ${rep + 1}/${RUNS}`);
    for (const w of SHARED_WORKLOADS) {
      for (let i = 0; i < w.allocators.length; i++) {
        const a = w.allocators[(i + rep) % w.allocators.length];
        if (failed.has(`${a}|${w.name}`)) continue;
        const r = await run(process.execPath, [script, '--workload', w.key, '--alloc', a, ...w.args(QUICK)], {
          timeout: 120_000,
        });
        const res = r.ok ? jsonLines(r.stdout)[0] : null;
        if (!res) {
          failed.add(`${a}|${w.name}`);
          fail(`JS ${a} ${w.name}: ${firstLine(r.stderr) || r.err?.message}`);
          continue;
        }
        addSample('js', w.name, w.unit, a, res.value);
      }
    }
  }
}

// Where SharedPool's no-cache contention time goes, below JavaScript: bench/c/contention.c
// (the segment's C allocator driven by 1, 2 and 4 processes: alloc/free pairs, the allocator
// lock alone, one contended cache line, and pairs on a segment per process). It prints its own
// table (medians, speedup over one process); logged here, not charted.
async function runCContention() {
  const out = path.join(BIN, 'shm-contention');
  fs.mkdirSync(BIN, { recursive: true });
  const alloc = fs
    .readdirSync(path.join(ROOT, 'native', 'alloc'))
    .filter((f) => f.endsWith('.c'))
    .map((f) => path.join(ROOT, 'native', 'alloc', f));
  const b = await run(process.env.CC || 'cc', [
    '-O2',
    '-std=c11',
    '-D_GNU_SOURCE',
    '-Wall',
    '-I',
    path.join(ROOT, 'native', 'alloc'),
    path.join(BENCH, 'c', 'contention.c'),
    ...alloc,
    '-o',
    out,
  ]);
  if (!b.ok) {
    fail(`C contention: build failed: ${firstLine(b.stderr)}`);
    return;
  }
  const args = ['--table', '--runs', String(QUICK ? 1 : 3), '--ops', String(QUICK ? 20_000 : 1_000_000)];
  const r = await run(out, args, { timeout: 600_000 });
  if (!r.ok) {
    fail(`C contention: ${firstLine(r.stderr) || r.err?.message}`);
    return;
  }
  log('SharedPool contention below JavaScript (bench/c/contention.c, no cache, ns/op aggregate):');
  for (const l of r.stdout.trim().split('\n')) log(`  ${l}`);
}

// ---------------------------------------------------------------- results
function buildRows() {
  const rows = [];
  for (const suite of ['c', 'js']) {
    for (const key of order[suite]) {
      const [workload, unit] = key.split('|');
      const by = samples[suite][key];
      const shared = suite === 'js' ? SHARED_WORKLOADS.find((w) => w.name === workload) : null;
      const addonResult = ADDON_RESULTS.some((w) => w.name === workload);
      const peer = shared
        ? shared.peer
        : addonResult
          ? ADDON_RESULT_PEER
          : suite === 'js'
            ? JS_PEER
            : workload.startsWith('W4')
              ? C_REGION_PEER
              : C_PEER;
      const peerMedian = by[peer] ? median(by[peer]) : null;
      const allocNames =
        workload === ADDON_W1.name
          ? ADDON_W1_ALLOCATORS.map((a) => a.name)
          : addonResult
            ? RESULT_WAYS.map((a) => a.name)
            : suite === 'c'
              ? C_ALLOCATORS.map((a) => a.name)
              : shared
                ? shared.allocators
                : JS_REUSE_WORKLOADS.some((w) => w.name === workload)
                  ? REUSE_ALLOCATORS
                  : (JS_REQUEST_WORKLOADS.some((w) => w.name === workload) ? JS_REQUEST_ALLOCATORS : JS_ALLOCATORS).map(
                      (a) => a.name,
                    );
      for (const allocator of allocNames) {
        if (!by[allocator]) continue;
        const m = median(by[allocator]);
        // addon W1 through a nativeHandle: also against the same allocator called directly
        const direct = workload === ADDON_W1.name ? ADDON_W1_ALLOCATORS.find((a) => a.name === allocator).direct : null;
        rows.push({
          suite,
          workload,
          allocator,
          peer,
          median: m,
          unit,
          ratio: peerMedian ? m / peerMedian : null,
          ...(direct && by[direct] ? { direct, vsDirect: m / median(by[direct]) } : {}),
        });
      }
    }
  }
  return rows;
}

function fmt(x) {
  if (x == null || Number.isNaN(x)) return 'n/a';
  const a = Math.abs(x);
  if (a >= 1e5) return x.toExponential(2);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

function printTable(rows, cAllocs) {
  const table = rows.map((r) => [
    r.suite,
    r.workload,
    r.allocator,
    fmt(r.median),
    r.unit,
    (r.ratio == null ? 'n/a' : `${r.ratio.toFixed(2)}x ${r.peer}`) +
      (r.vsDirect == null ? '' : `, ${r.vsDirect.toFixed(2)}x ${r.direct}`),
  ]);
  // W4 on allocators without a fixed region: say so in the table
  if (cAllocs && rows.some((r) => r.workload.startsWith('W4'))) {
    const at = rows.findLastIndex((r) => r.workload.startsWith('W4'));
    const na = cAllocs
      .filter(
        (a) =>
          runsOn(a, 'W4') &&
          !rows.some((r) => r.suite === 'c' && r.allocator === a.name && r.workload.startsWith('W4')),
      )
      .map((a) => ['c', 'W4', a.name, 'n/a', '', 'no fixed region']);
    table.splice(at + 1, 0, ...na);
  }
  const head = ['suite', 'workload', 'allocator', 'median', 'unit', 'ratio vs peer'];
  const w = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
  const line = (r) =>
    r
      .map((c, i) => (i === 3 ? c.padStart(w[i]) : c.padEnd(w[i])))
      .join('  ')
      .trimEnd();
  log('');
  log(line(head));
  log(w.map((n) => '-'.repeat(n)).join('  '));
  let prev = null;
  for (const r of table) {
    const k = `${r[0]}|${r[1]}`;
    if (prev && prev.split('|')[1] !== r[1]) log('');
    prev = k;
    log(line(r));
  }
}

async function renderChart(rows, m, file) {
  const vegaLite = await import('vega-lite');
  const vega = await import('vega');
  const values = rows
    .filter((r) => r.ratio != null && r.ratio > 0)
    .map((r) => ({
      ...r,
      suite: r.suite === 'c' ? 'C (peer glibc; W4 peer tlsf)' : `JS (peer ${JS_PEER}; SharedPool rows: their own peer)`,
      label: r.unit.startsWith('instr/') ? `${r.workload} instr` : r.workload,
    }));
  const group = {
    x: {
      field: 'label',
      type: 'nominal',
      sort: null,
      title: null,
      scale: { type: 'band', paddingInner: 0.25 },
      axis: { labelAngle: -30, labelFontSize: 11 },
    },
    xOffset: { field: 'allocator', type: 'nominal', scale: { type: 'band', paddingInner: 0.1 } },
    color: { field: 'allocator', type: 'nominal', legend: { title: 'allocator', orient: 'right' } },
  };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'mempools benchmarks: median / peer median (log scale; time and instructions: lower is better; W4 fill %: higher is better)',
      subtitle: `${m.machine} | commit ${m.commit} | ${m.date}${QUICK ? ' | QUICK (smoke) run' : ''}`,
      fontSize: 13,
    },
    data: { values },
    facet: {
      row: { field: 'suite', type: 'nominal', title: null, header: { labelFontSize: 13, labelFontWeight: 'bold' } },
    },
    resolve: { scale: { x: 'independent', xOffset: 'independent', y: 'independent', color: 'independent' } },
    spec: {
      width: 960,
      height: 260,
      layer: [
        // bars grow from 1 (= the peer) to the ratio, on a log axis
        {
          mark: { type: 'bar', tooltip: { content: 'data' } },
          encoding: {
            ...group,
            y: { field: 'ratio', type: 'quantitative', scale: { type: 'log' }, title: 'median / peer median' },
            y2: { datum: 1 },
          },
        },
        // a tick at the ratio so the peer's own (zero-height) bar shows too
        {
          mark: { type: 'tick', thickness: 2, bandSize: 14 },
          encoding: { ...group, y: { field: 'ratio', type: 'quantitative' } },
        },
        { mark: { type: 'rule', strokeDash: [4, 3], color: '#444' }, encoding: { y: { datum: 1 } } },
      ],
    },
  };
  const vg = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(vg), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  fs.writeFileSync(file, svg);
}

// ---------------------------------------------------------------- main
let addonBuild = null;
const addonBuilt = () => (addonBuild ??= buildAddon()); // built once per run

// Estimated steps of each suite (child processes), for the progress total.
const perRun = (w) => Math.min(RUNS, w.runs ?? RUNS);
function plannedC(allocs) {
  let n = 0;
  for (const w of C_WORKLOADS) {
    if ((QUICK ? w.quickOps : w.ops) === 0) continue;
    n += perRun(w) * allocs.filter((a) => runsOn(a, w.name)).length;
  }
  for (const w of C_ONCE) n += allocs.filter((a) => runsOn(a, w.name)).length;
  if (CALLGRIND) {
    n += 1;
    for (const w of CALLGRIND_WORKLOADS) n += 2 * allocs.filter((a) => runsOn(a, w.name)).length;
  }
  return n;
}
const plannedAddon = () => 1 + RUNS * ADDON_W1_ALLOCATORS.length + (CALLGRIND ? 1 + 2 * ADDON_W1_ALLOCATORS.length : 0);
const plannedJS = () =>
  RUNS *
  (JS_WORKLOADS.length * JS_ALLOCATORS.length +
    JS_REQUEST_WORKLOADS.length * JS_REQUEST_ALLOCATORS.length +
    JS_REUSE_WORKLOADS.length * REUSE_ALLOCATORS.length);
const plannedResults = () => RUNS * ADDON_RESULTS.length * RESULT_WAYS.length;
const plannedShared = () => RUNS * SHARED_WORKLOADS.reduce((n, w) => n + w.allocators.length, 0) + 2;

async function main() {
  const t0 = Date.now();
  const m = meta();
  const load = () =>
    os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
  log(`mempools bench${QUICK ? ' --quick' : ''}: ${RUNS} run(s); ${m.machine}; commit ${m.commit}; load ${load()}`);
  const has = (...suites) => SUITE === 'all' || suites.includes(SUITE);
  if (has('c', 'addon')) progress.plan(plannedAddon());
  if (has('js')) progress.plan(plannedJS());
  if (has('js', 'addon')) progress.plan(plannedResults());
  if (has('js', 'shared')) progress.plan(plannedShared());
  let cAllocs = null;
  if (SUITE === 'all' || SUITE === 'c') {
    progress.phase('C build');
    cAllocs = await buildC();
    progress.plan(plannedC(cAllocs));
    progress.phase('C');
    if (cAllocs.length) {
      await runC(cAllocs);
      if (CALLGRIND) await runCallgrind(cAllocs);
      else note('callgrind: skipped (--no-callgrind)');
    }
  }
  if (SUITE === 'all' || SUITE === 'c' || SUITE === 'addon') progress.phase('addon');
  if ((SUITE === 'all' || SUITE === 'c' || SUITE === 'addon') && (await addonBuilt())) {
    await runAddonW1();
    if (CALLGRIND) await runAddonCallgrind();
  }
  if (SUITE === 'all' || SUITE === 'js') {
    progress.phase('JS');
    await runJS();
    await runJSRequests();
    await runJSReuse();
  }
  if ((SUITE === 'all' || SUITE === 'js' || SUITE === 'addon') && (await addonBuilt())) await runAddonResults();
  if (SUITE === 'all' || SUITE === 'js' || SUITE === 'shared') {
    progress.phase('SharedPool');
    await runJSShared();
    await runCContention();
  }
  progress.finish();

  const rows = buildRows();
  printTable(rows, cAllocs);
  if (notes.length) {
    log('');
    for (const n of notes) log(`note: ${n}`);
  }
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  const result = { meta: m, rows, samples };
  fs.writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');
  log(`\nwrote ${path.relative(ROOT, OUT)}`);
  try {
    await renderChart(rows, m, SVG);
    log(`wrote ${path.relative(ROOT, SVG)}`);
  } catch (e) {
    log(`chart: failed (${e.message})`);
    process.exitCode = 1;
  }
  if (failures) process.exitCode = 1;
  log(
    `total ${((Date.now() - t0) / 1000).toFixed(1)} s; load average now ${load()} (other work on the machine skews timings)`,
  );
  log(
    `results: ${path.relative(ROOT, OUT)} (every sample); chart: ${path.relative(ROOT, SVG)} (open it in a browser); ` +
      'what the rows mean: bench/README.md',
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
