'use strict';
// SharedPool stress child (test/shared-contention.test.ts), forked with the pool's
// descriptor as fd 4: `stress <id> <ops> <barrier offset> <cache 0|1>`.
// Attaches, waits until every child has arrived (an Int32 counter at the barrier
// offset: Atomics.add, then wait/notify), then does `ops` random operations on
// up to 64 blocks of random sizes: alloc/calloc (filled with a byte only this
// child uses for this block), realloc (the kept prefix must survive), free (the
// whole block must still hold its byte: another process writing into it would
// mean overlapping blocks). Frees everything, closes (which flushes its cache)
// and reports { ops, mismatches, failed, peakHeld } by IPC.
const { SharedPool } = require('../../dist/index.js');

const [mode, id, opsArg, barrierArg, cacheArg] = process.argv.slice(2);
if (mode !== 'stress') throw new Error(`unknown mode ${mode}`);
const CHILDREN = 4;
const MAX_SIZE = 6000;

const pool = SharedPool.fromFd(4, { cache: cacheArg === '1' });
const barrierView = pool.at(Number(barrierArg), 4);
const barrier = new Int32Array(barrierView.buffer, barrierView.byteOffset, 1);

// this child's bytes: 64 values whose top two bits are its id
const patterns = Array.from({ length: 64 }, (_, k) => Buffer.alloc(MAX_SIZE, (Number(id) << 6) | k));
let seed = 0x9e3779b9 ^ (Number(id) * 7919);
const random = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
};
/** Mostly small sizes (the cached classes), some up to MAX_SIZE. */
const randomSize = () => (random() < 0.8 ? 1 + Math.floor(random() * 256) : 1 + Math.floor(random() * MAX_SIZE));

const held = []; // { buf, k }
let mismatches = 0;
let failed = 0;
let peakHeld = 0;

function intact(entry) {
  return entry.buf.equals(patterns[entry.k].subarray(0, entry.buf.length));
}

function release(index) {
  const entry = held[index];
  if (!intact(entry)) mismatches++;
  held[index] = held[held.length - 1];
  held.pop();
  pool.free(entry.buf);
}

Atomics.add(barrier, 0, 1);
pool.notify(barrier, 0);
for (let n = Atomics.load(barrier, 0); n < CHILDREN; n = Atomics.load(barrier, 0)) pool.wait(barrier, 0, n, 100);

const ops = Number(opsArg);
for (let op = 0; op < ops; op++) {
  const r = random();
  if (held.length > 0 && (held.length >= 64 || r < 0.45)) {
    release(Math.floor(random() * held.length));
  } else if (held.length > 0 && r < 0.5) {
    const index = Math.floor(random() * held.length);
    const entry = held[index];
    if (!intact(entry)) mismatches++;
    const size = randomSize();
    const kept = Math.min(size, entry.buf.length);
    const moved = pool.realloc(entry.buf, size);
    if (!moved.subarray(0, kept).equals(patterns[entry.k].subarray(0, kept))) mismatches++;
    const k = op & 63;
    moved.fill((Number(id) << 6) | k);
    held[index] = { buf: moved, k };
  } else {
    const size = randomSize();
    const buf = r < 0.55 ? pool.calloc(1, size) : pool.tryAlloc(size);
    if (buf === null) {
      failed++;
      continue;
    }
    if (r < 0.55 && buf.some((byte) => byte !== 0)) mismatches++;
    const k = op & 63;
    buf.fill((Number(id) << 6) | k);
    held.push({ buf, k });
    if (held.length > peakHeld) peakHeld = held.length;
  }
}
while (held.length > 0) release(held.length - 1);
pool.close();
process.send({ ops, mismatches, failed, peakHeld }, () => process.disconnect());
