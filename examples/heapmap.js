'use strict';
// Writes the README's heap maps (npm run heapmap): docs/img/shared-4-workers.svg, a
// SharedPool after 4 forked workers filled their part of a shared table (each worker: a
// HeapPool on the segment for its rows, scratch blocks of which it freed half, parked in
// its cache), drawn while the workers still hold everything; and docs/img/tlsf-fragmented.svg,
// a TlsfPool after 20,000 allocations of mixed sizes of which 60 % were freed. Seeded, so
// the pictures only change when the allocators do.
const fs = require('node:fs');
const path = require('node:path');
const { fork } = require('node:child_process');
const { HeapPool, SharedPool, TlsfPool } = require('..');

const WORKERS = 4;

function random(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function worker() {
  const id = Number(process.argv[3]);
  const pool = SharedPool.fromFd(4);
  const rnd = random(100 + id);
  const rows = new HeapPool({ parent: pool });
  const kept = [];
  for (let i = 0; i < 1500; i++) kept.push(rows.alloc(200));
  const scratch = [];
  for (let i = 0; i < 120; i++) scratch.push(pool.alloc(64 + Math.floor(rnd() * 3000)));
  for (let i = 0; i < scratch.length; i += 2) pool.free(scratch[i]); // small ones stay parked here
  process.send('filled');
  process.on('message', () => process.exit(0));
  setInterval(() => kept.length, 1 << 30);
}

const out = path.join(__dirname, '..', 'docs', 'img');

function tlsf() {
  fs.mkdirSync(out, { recursive: true });
  const pool = new TlsfPool({ size: 4 << 20 });
  const rnd = random(7);
  const bufs = [];
  for (let i = 0; i < 20_000; i++) {
    const size = rnd() < 0.9 ? 16 + Math.floor(rnd() * 200) : 1024 + Math.floor(rnd() * 8192);
    const buf = pool.tryAlloc(size);
    if (buf) bufs.push(buf);
  }
  for (const buf of bufs) if (rnd() < 0.6) pool.free(buf);
  const file = path.join(out, 'tlsf-fragmented.svg');
  fs.writeFileSync(file, pool.heapMap({ width: 960, title: 'TlsfPool, 60 % of 20,000 mixed allocations freed' }));
  pool.destroy();
  return file;
}

async function shared() {
  const pool = SharedPool.create({ size: 16 << 20 });
  const table = pool.calloc(WORKERS, 64 * 1024);
  pool.setRoot('table', pool.offsetOf(table));
  const workers = [];
  for (let id = 0; id < WORKERS; id++) {
    const w = fork(__filename, ['worker', String(id)], { stdio: ['inherit', 'inherit', 'inherit', 'ipc', pool.fd] });
    workers.push(w);
  }
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  const file = path.join(out, 'shared-4-workers.svg');
  fs.writeFileSync(
    file,
    pool.heapMap({ width: 960, title: `SharedPool, ${WORKERS} workers after filling their table` }),
  );
  for (const w of workers) w.send('exit');
  await Promise.all(workers.map((w) => new Promise((resolve) => w.on('exit', resolve))));
  pool.close();
  return file;
}

if (process.argv[2] === 'worker') {
  worker();
} else {
  (async () => {
    for (const file of [tlsf(), await shared()]) console.log(`wrote ${path.relative(process.cwd(), file)}`);
  })();
}
