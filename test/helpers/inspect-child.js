// Holds a named segment for the CLI tests (test/inspect-cli.test.ts): creates it
// (argv[2] = name), fills a table, lends a chunk to a HeapPool, parks freed blocks,
// sets a root, reports { ready, pid } over IPC and waits to be killed.
const { HeapPool, SharedPool } = require('../../dist/index.js');

const pool = SharedPool.create({ name: process.argv[2], size: 4 << 20 });
const table = pool.alloc(64 * 1024);
pool.setRoot('table', pool.offsetOf(table));
const small = [];
for (let i = 0; i < 40; i++) small.push(pool.alloc(100));
for (let i = 0; i < 40; i += 2) pool.free(small[i]); // parked in this process's cache
const heap = new HeapPool({ parent: pool });
const rows = [];
for (let i = 0; i < 100; i++) rows.push(heap.alloc(256));
process.send({ ready: true, pid: process.pid });
setInterval(() => rows.length + table.length, 1 << 30);
