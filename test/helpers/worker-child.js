'use strict';
// Pools in worker threads that are terminated while holding live views, some
// destroyed and some not: each worker's environment tears down its own pool
// table without touching the others. Prints one JSON object on stdout.
const { Worker } = require('node:worker_threads');
const path = require('node:path');

const entry = path.join(__dirname, '..', '..', 'dist', 'index.js');
const code = `
const { TlsfPool } = require(${JSON.stringify(entry)});
const { parentPort } = require('node:worker_threads');
const kept = [];
for (let i = 0; i < 20; i++) {
  const pool = new TlsfPool({ size: 1 << 20 });
  kept.push(pool.alloc(100).fill(i));
  if (i % 2) pool.destroy();
}
parentPort.postMessage(kept.filter((view, i) => view.byteLength === 100 && view[99] === i).length);
`;

async function main() {
  const { TlsfPool } = require(entry);
  const mine = new TlsfPool({ size: 4096 });
  const view = mine.alloc(8).fill(7);
  let intact = 0;
  for (let i = 0; i < 10; i++) {
    const worker = new Worker(code, { eval: true });
    intact += await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
  }
  mine.check();
  process.stdout.write(JSON.stringify({ intact, mainPoolIntact: view[7] === 7 }));
  mine.destroy();
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack));
  process.exit(1);
});
