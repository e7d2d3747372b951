'use strict';
// Helpers shared by the JS benchmark child scripts (worker.js, request.js, shared.js).

/** `--key value` pairs as an object of strings. */
function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = argv[i + 1];
  return o;
}

/** xorshift32 (Marsaglia) from `seed`: a function giving the next number in [0, 1). */
function xorshift32(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

/** A precomputed trace of `n` slot indices in [0, window). */
function makeTrace(n, window, seed) {
  const t = new Uint32Array(n);
  const next = xorshift32(seed);
  for (let i = 0; i < n; i++) t[i] = Math.floor(next() * window);
  return t;
}

/**
 * The warm-up and timing of the asynchronous workloads (request.js, reuse.js):
 * `pass(count)` runs `count` ops and may return a promise. Warm-up: passes of
 * `warmup` ops until `--warmup-ms` (default 250) have passed, at most 10; then
 * timed passes of `ops` until `--min-ms` (default 300) have passed, at most
 * 1000. Returns { passes, ns }: how many timed passes, and their wall time.
 */
async function timePasses(pass, warmup, ops, args) {
  const warmupNs = BigInt(Math.round(Number(args['warmup-ms'] ?? 250) * 1e6));
  const w0 = process.hrtime.bigint();
  for (let i = 0; i < 10; i++) {
    await pass(warmup);
    if (process.hrtime.bigint() - w0 >= warmupNs) break;
  }
  const minNs = BigInt(Math.round(Number(args['min-ms'] ?? 300) * 1e6));
  let passes = 0;
  const t0 = process.hrtime.bigint();
  let t1 = t0;
  do {
    await pass(ops);
    passes++;
    t1 = process.hrtime.bigint();
  } while (t1 - t0 < minNs && passes < 1000);
  return { passes, ns: Number(t1 - t0) };
}

module.exports = { parseArgs, makeTrace, timePasses, xorshift32 };
