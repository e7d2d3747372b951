'use strict';
// Multi-process JS workloads on SharedPool (the SharedPool issue's benchmarks).
//
// As a module: SHARED_WORKLOADS, the table bench/run.js runs (one process per sample:
// `node bench/js/shared.js --workload KEY --alloc NAME ...`, which forks its own children
// and prints one JSON line { workload, alloc, unit, value, ... }).
//
//   contention  "shared 64 B contention", ns/op of AGGREGATE throughput = (last child's end -
//               first child's start) / (ops of all children), so lower is better like every
//               other row (ops/s = 1e9 / value). 1, 2 or 4 forked children, each: attach the
//               segment, a window of 100 live 64 B blocks, warm-up, wait at a barrier (an
//               Int32Array in the segment: a ready counter and a go flag, SharedPool.wait/notify),
//               then `ops` × (free a random slot, alloc 64 B, write a byte). Peer "TlsfPool 1
//               proc": the same in one child on its own TlsfPool (the segment only for the barrier).
//               ", no cache": the children attach with { cache: false } (every alloc/free a native
//               call under the allocator lock). The JSON line also has child_ns_per_op and
//               child_cpu_ns_per_op: each child's own rate, in wall-clock and in CPU time.
//   handoff     "1 MiB hand-off", µs per round trip of 1 MiB already in memory, parent -> child
//               -> parent, one child forked once (serialization 'advanced', i.e. structured clone,
//               for the copy; the default 'json' for the small messages of the other modes):
//                 "process.send copy"          the 1 MiB Buffer sent as a message (copied), a small reply
//                 "small message alone"        a small message each way, no data, no pool: the floor
//                                              of the offset-by-message mode
//                 "SharedPool + offset msg"    the 1 MiB lives in a SharedPool allocation; the offset
//                                              goes as a small message, the child (attached at startup)
//                                              takes at(offset, len), reads it, replies with a small message
//                 "SharedPool + notify/wait"   the same with no messages: sequence numbers in an
//                                              Int32Array in the segment, notify/wait both ways
//               Each trip the parent writes a byte into the data and the child reads its first and
//               last bytes (their sum goes back in the reply). Peer: "process.send copy".
//
// Children exit when the parent goes (IPC disconnect, or a changed ppid while blocked in wait);
// the parent kills any child still running and destroys the pool in `finally`.
const { makeTrace, parseArgs } = require('./common');
const path = require('node:path');
const fs = require('node:fs');
const { fork } = require('node:child_process');

const DIST = path.join(__dirname, '..', '..', 'dist');
const SIZE = 64;
const WINDOW = 100;
const HANDOFF_BYTES = 1 << 20;
const CHILD_FD = 4; // stdio: [in, out, err, ipc, pool.fd]

function sharedAvailable() {
  if (!fs.existsSync(path.join(DIST, 'index.js'))) return 'dist/index.js missing (run npm run build)';
  try {
    const m = require(DIST);
    if (typeof m.SharedPool !== 'function') return 'dist/ has no SharedPool export yet';
    if (typeof m.TlsfPool !== 'function') return 'dist/ has no TlsfPool export';
    return null;
  } catch (e) {
    return `dist/ does not load (${String(e.message).split('\n')[0]})`;
  }
}

// run.js table. `args(quick)`: extra arguments for one sample.
const SHARED_WORKLOADS = [
  {
    key: 'contention',
    name: 'shared 64 B contention',
    unit: 'ns/op (aggregate)',
    peer: 'TlsfPool 1 proc',
    allocators: [
      'TlsfPool 1 proc',
      'SharedPool 1 proc',
      'SharedPool 2 procs',
      'SharedPool 4 procs',
      'SharedPool 1 proc, no cache',
      'SharedPool 2 procs, no cache',
      'SharedPool 4 procs, no cache',
    ],
    // ops per child process (quick: a few thousand)
    args: (quick) => [
      '--ops',
      String(quick ? 5_000 : 1_000_000),
      '--warmup',
      String(quick ? 2_000 : 100_000),
      '--warmup-ms',
      String(quick ? 20 : 200),
    ],
  },
  {
    key: 'handoff',
    name: '1 MiB hand-off',
    unit: 'µs/round trip',
    peer: 'process.send copy',
    allocators: ['process.send copy', 'small message alone', 'SharedPool + offset msg', 'SharedPool + notify/wait'],
    // round trips per timed pass (repeated until min-ms), per mode
    args: (quick) => [
      '--trips',
      String(quick ? 200 : 2_000),
      '--copy-trips',
      String(quick ? 50 : 300),
      '--warmup-ms',
      String(quick ? 20 : 200),
      '--min-ms',
      String(quick ? 20 : 500),
    ],
  },
];

// ------------------------------------------------------------------ common
const now = () => process.hrtime.bigint();

// Block (synchronously) until view[index] !== value; throws after `limitMs`.
// In a child, also gives up when the parent has gone (ppid changed).
function waitChange(pool, view, index, value, limitMs, ppid) {
  const end = Date.now() + limitMs;
  while (Atomics.load(view, index) === value) {
    if (pool.wait(view, index, value, 1000) === 'timed-out') {
      if (ppid !== undefined && process.ppid !== ppid) process.exit(2);
      if (Date.now() > end) throw new Error(`timed out waiting on word ${index}`);
    }
  }
  return Atomics.load(view, index);
}

function int32At(pool, offset, words) {
  const b = pool.at(offset, words * 4);
  return new Int32Array(b.buffer, b.byteOffset, words);
}

// A child leaves when the IPC channel closes: with 0 after its own finish(), else (the
// parent went away) with 2.
let finishing = false;
function exitWhenOrphaned() {
  process.on('disconnect', () => process.exit(finishing ? 0 : 2));
}
function finish() {
  finishing = true;
  process.disconnect();
}

// ------------------------------------------------------------------ contention
const READY = 0;
const GO = 1;

function churn(slots, trace, from, to, pool) {
  for (let i = from; i < to; i++) {
    const s = trace[i];
    pool.free(slots[s]);
    const b = pool.alloc(SIZE);
    b[0] = i & 255;
    slots[s] = b;
  }
}

function childContention(a) {
  exitWhenOrphaned();
  const ppid = process.ppid;
  const { SharedPool, TlsfPool } = require(DIST);
  const seg = SharedPool.fromFd(CHILD_FD, { cache: a.cache !== '0' });
  let own = null;
  try {
    const pool = a.kind === 'tlsf' ? (own = new TlsfPool({ size: 1 << 20 })) : seg;
    const ctl = int32At(seg, Number(a.ctl), 16);
    const ops = Number(a.ops);
    const warmup = Number(a.warmup);
    const trace = makeTrace(warmup + ops, WINDOW, 12345 + 7919 * Number(a.id));
    const slots = new Array(WINDOW);
    for (let i = 0; i < WINDOW; i++) slots[i] = pool.alloc(SIZE);
    const w0 = Date.now();
    const warmupMs = Number(a['warmup-ms']);
    for (let pass = 0; pass < 10; pass++) {
      churn(slots, trace, 0, warmup, pool);
      if (Date.now() - w0 >= warmupMs) break;
    }
    Atomics.add(ctl, READY, 1);
    seg.notify(ctl, READY);
    waitChange(seg, ctl, GO, 0, 60_000, ppid);
    const t0 = now();
    const c0 = process.cpuUsage();
    churn(slots, trace, warmup, warmup + ops, pool);
    const cpu = process.cpuUsage(c0);
    const t1 = now();
    for (let i = 0; i < WINDOW; i++) pool.free(slots[i]);
    process.send({ start: String(t0), end: String(t1), ops, cpuUs: cpu.user + cpu.system }, finish);
  } finally {
    if (own) own.destroy();
    seg.close();
  }
}

async function parentContention(a) {
  const { SharedPool } = require(DIST);
  const m = /^(SharedPool|TlsfPool) (\d+) procs?(, no cache)?$/.exec(a.alloc);
  if (!m) throw new Error(`unknown contention allocator ${a.alloc}`);
  const kind = m[1] === 'TlsfPool' ? 'tlsf' : 'shared';
  const procs = Number(m[2]);
  const pool = SharedPool.create({ size: 1 << 20 });
  const children = [];
  try {
    const ctlBuf = pool.alloc(64);
    ctlBuf.fill(0);
    const ctl = new Int32Array(ctlBuf.buffer, ctlBuf.byteOffset, 16);
    const results = [];
    const done = [];
    for (let id = 0; id < procs; id++) {
      const c = fork(
        __filename,
        [
          '--child',
          'contention',
          '--kind',
          kind,
          '--ctl',
          String(pool.offsetOf(ctlBuf)),
          '--id',
          String(id),
          '--ops',
          a.ops,
          '--warmup',
          a.warmup,
          '--warmup-ms',
          a['warmup-ms'],
          '--cache',
          m[3] ? '0' : '1',
        ],
        { stdio: ['inherit', 'inherit', 'inherit', 'ipc', pool.fd] },
      );
      children.push(c);
      done.push(
        new Promise((resolve, reject) => {
          c.on('message', (msg) => results.push(msg));
          c.on('error', reject);
          c.on('exit', (code, sig) =>
            code === 0 ? resolve() : reject(new Error(`child ${id} exited with ${code ?? sig}`)),
          );
        }),
      );
    }
    // barrier: every child has attached, filled its window and warmed up
    const failedEarly = Promise.race(done.map((p) => p.then(() => new Promise(() => {}))));
    const ready = (async () => {
      const end = Date.now() + 120_000;
      for (;;) {
        const r = Atomics.load(ctl, READY);
        if (r >= procs) return;
        if (Date.now() > end) throw new Error('children never reached the barrier');
        pool.wait(ctl, READY, r, 5); // short: lets the event loop see an early child failure
        await new Promise((res) => setImmediate(res));
      }
    })();
    await Promise.race([ready, failedEarly]);
    Atomics.store(ctl, GO, 1);
    pool.notify(ctl, GO);
    await withTimeout(Promise.all(done), 300_000, 'contention children');
    if (results.length !== procs) throw new Error(`${results.length} of ${procs} children reported`);
    const start = results.reduce((x, r) => (BigInt(r.start) < x ? BigInt(r.start) : x), BigInt(results[0].start));
    const end = results.reduce((x, r) => (BigInt(r.end) > x ? BigInt(r.end) : x), BigInt(results[0].end));
    const ops = results.reduce((x, r) => x + r.ops, 0);
    const ns = Number(end - start) / ops;
    // each child's own ns/op (its ops over its own timed span): equal to `value` x procs when
    // the children really ran side by side; the gap shows time the scheduler kept one off a CPU
    // (and its CPU time per op: what the op costs when the scheduler is left out)
    const own = results.map((r) => Number(BigInt(r.end) - BigInt(r.start)) / r.ops);
    const cpu = results.map((r) => (r.cpuUs * 1000) / r.ops);
    const round = (x) => Math.round(x * 10) / 10;
    return {
      value: ns,
      procs,
      ops,
      ops_per_s: 1e9 / ns,
      child_ns_per_op: own.map(round),
      child_cpu_ns_per_op: cpu.map(round),
    };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    pool.destroy();
  }
}

// ------------------------------------------------------------------ hand-off
const MODES = {
  'process.send copy': 'copy',
  'small message alone': 'msg',
  'SharedPool + offset msg': 'offset',
  'SharedPool + notify/wait': 'notify',
};
// words of the notify/wait flag block
const TO_CHILD = 0; // parent's sequence number (-1: stop)
const TO_PARENT = 1; // child's echo of it
const OFF = 2; // offset of the data
const SUM = 3; // what the child read

// --spin-ms X (optional, hand-off): SharedPool's spinMs in both processes; default: the pool's default
function spinOption(a) {
  return a['spin-ms'] === undefined ? {} : { spinMs: Number(a['spin-ms']) };
}

function childHandoff(a) {
  exitWhenOrphaned();
  const ppid = process.ppid;
  const { SharedPool } = require(DIST);
  const pool = SharedPool.fromFd(CHILD_FD, spinOption(a));
  const len = Number(a.len);
  const cleanup = () => pool.close();
  if (a.mode === 'notify') {
    try {
      const flag = int32At(pool, Number(a.flag), 16);
      process.send({ ready: true });
      let last = 0;
      for (;;) {
        const seq = waitChange(pool, flag, TO_CHILD, last, 600_000, ppid);
        if (seq < 0) break;
        const v = pool.at(Atomics.load(flag, OFF), len);
        Atomics.store(flag, SUM, v[0] + v[len - 1]);
        Atomics.store(flag, TO_PARENT, seq);
        pool.notify(flag, TO_PARENT);
        last = seq;
      }
    } finally {
      cleanup();
    }
    finish();
    return;
  }
  process.on('message', (m) => {
    if (m.stop) {
      cleanup();
      finish();
      return;
    }
    if (a.mode === 'msg') {
      process.send({ i: m.i, sum: 1 });
      return;
    }
    const v = a.mode === 'copy' ? m.data : pool.at(m.off, len);
    process.send({ i: m.i, sum: v[0] + v[len - 1] });
  });
  process.send({ ready: true });
}

async function parentHandoff(a) {
  const { SharedPool } = require(DIST);
  const mode = MODES[a.alloc];
  if (!mode) throw new Error(`unknown hand-off mode ${a.alloc}`);
  const len = HANDOFF_BYTES;
  const pool = SharedPool.create({ size: 4 << 20, ...spinOption(a) });
  let child = null;
  try {
    const flagBuf = pool.alloc(64);
    flagBuf.fill(0);
    const flag = new Int32Array(flagBuf.buffer, flagBuf.byteOffset, 16);
    // the data, already in memory: a plain Buffer for the copy, a pool allocation otherwise
    const data = mode === 'copy' || mode === 'msg' ? Buffer.allocUnsafe(len) : pool.alloc(len);
    data.fill(7);
    const off = mode === 'copy' || mode === 'msg' ? -1 : pool.offsetOf(data);

    const spinArgs = a['spin-ms'] === undefined ? [] : ['--spin-ms', a['spin-ms']];
    child = fork(
      __filename,
      [
        '--child',
        'handoff',
        '--mode',
        mode,
        '--len',
        String(len),
        '--flag',
        String(pool.offsetOf(flagBuf)),
        ...spinArgs,
      ],
      {
        stdio: ['inherit', 'inherit', 'inherit', 'ipc', pool.fd],
        // the copy needs 'advanced' (a Buffer goes as bytes, not as a JSON array); small messages
        // go faster as JSON (--serialization overrides)
        serialization: a.serialization ?? (mode === 'copy' ? 'advanced' : 'json'),
      },
    );
    let pending = null;
    const exited = new Promise((resolve, reject) => {
      child.on('exit', (code, sig) => {
        const e = code === 0 ? null : new Error(`child exited with ${code ?? sig}`);
        if (pending) pending.reject(e ?? new Error('child exited early'));
        e ? reject(e) : resolve();
      });
      child.on('error', reject);
    });
    exited.catch(() => {});
    child.on('message', (m) => {
      const p = pending;
      pending = null;
      if (p) p.resolve(m);
    });
    const reply = () => new Promise((resolve, reject) => (pending = { resolve, reject }));
    await withTimeout(reply(), 60_000, 'child start');

    let seq = 0;
    let check = 0;
    const trip =
      mode === 'notify'
        ? () => {
            data[0] = ++seq & 255;
            Atomics.store(flag, OFF, off);
            Atomics.store(flag, TO_CHILD, seq);
            pool.notify(flag, TO_CHILD, 1);
            let cur = Atomics.load(flag, TO_PARENT);
            while (cur !== seq) cur = waitChange(pool, flag, TO_PARENT, cur, 60_000);
            check += Atomics.load(flag, SUM);
          }
        : async () => {
            data[0] = ++seq & 255;
            const r = reply();
            child.send(mode === 'copy' ? { i: seq, data } : mode === 'msg' ? { i: seq } : { i: seq, off });
            const m = await r;
            check += m.sum;
          };
    const runTrips = async (n) => {
      if (mode === 'notify') for (let i = 0; i < n; i++) trip();
      else for (let i = 0; i < n; i++) await trip();
    };
    const trips = Number(mode === 'copy' ? a['copy-trips'] : a.trips);
    const warmupMs = Number(a['warmup-ms']);
    const w0 = Date.now();
    for (let pass = 0; pass < 10; pass++) {
      await runTrips(Math.max(10, Math.round(trips / 10)));
      if (Date.now() - w0 >= warmupMs) break;
    }
    const minNs = BigInt(Math.round(Number(a['min-ms']) * 1e6));
    let passes = 0;
    const t0 = now();
    let t1 = t0;
    do {
      await runTrips(trips);
      passes++;
      t1 = now();
    } while (t1 - t0 < minNs && passes < 1000);
    const timed = trips * passes;
    if (check === 0) throw new Error('child never read the data');

    if (mode === 'notify') {
      Atomics.store(flag, TO_CHILD, -1);
      pool.notify(flag, TO_CHILD);
    } else {
      child.send({ stop: true });
    }
    await withTimeout(exited, 30_000, 'child exit');
    return { value: Number(t1 - t0) / timed / 1000, trips: timed };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    pool.destroy();
  }
}

// ------------------------------------------------------------------ main
function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  if (a.child === 'contention') return childContention(a);
  if (a.child === 'handoff') return childHandoff(a);
  const w = SHARED_WORKLOADS.find((x) => x.key === a.workload);
  if (!w) throw new Error(`unknown shared workload ${a.workload}`);
  const why = sharedAvailable();
  if (why) throw new Error(why);
  const res = w.key === 'contention' ? await parentContention(a) : await parentHandoff(a);
  process.stdout.write(JSON.stringify({ workload: w.name, alloc: a.alloc, unit: w.unit, ...res }) + '\n');
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
  });
}

module.exports = { SHARED_WORKLOADS, sharedAvailable };
