'use strict';
// Helpers shared by the JS benchmark child scripts (worker.js, request.js, shared.js).

/** `--key value` pairs as an object of strings. */
function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = argv[i + 1];
  return o;
}

/** A precomputed trace of `n` slot indices in [0, window): xorshift32 (Marsaglia). */
function makeTrace(n, window, seed) {
  const t = new Uint32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    t[i] = Math.floor((x / 4294967296) * window);
  }
  return t;
}

module.exports = { parseArgs, makeTrace };
