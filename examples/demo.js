'use strict';
// A tour of TlsfPool: allocate, write through views, stats, walk, realloc,
// and destroy detaching the views. Run with `npm run demo`.
const { TlsfPool, PoolError } = require('..');

const pool = new TlsfPool({ size: 64 * 1024, maxSize: 1024 * 1024 });

// An allocation is a Buffer view into the pool's memory (no copy, no new ArrayBuffer).
const greeting = pool.alloc(32);
const written = greeting.write('hello from a TLSF pool');
console.log('string :', JSON.stringify(greeting.toString('utf8', 0, written)));
console.log('isBuffer:', Buffer.isBuffer(greeting), ' byteOffset:', greeting.byteOffset);

// Every allocation is 8-byte aligned, so typed arrays work over any of them.
const raw = pool.alloc(4 * Float64Array.BYTES_PER_ELEMENT);
const vector = new Float64Array(raw.buffer, raw.byteOffset, 4);
vector.set([1.5, 2.5, 3.5, 4.5]);
console.log('floats :', Array.from(vector), ' sum =', vector.reduce((a, b) => a + b, 0));

// Over-aligned memory, e.g. for a page-sized table.
const page = pool.allocAligned(4096, 4096);
console.log('aligned:', page.byteOffset % 4096 === 0 ? '4096-byte aligned' : 'NOT aligned');

// realloc keeps the contents (the old view must not be used afterwards).
const grown = pool.realloc(greeting, 200 * 1024); // larger than the first region: the pool grows
console.log('realloc:', JSON.stringify(grown.toString('utf8', 0, written)), 'now', grown.length, 'bytes');

const stats = pool.stats();
console.log('stats  :', stats);
console.log('walk   :');
for (const block of pool.walk()) {
  console.log(`  region ${block.region} offset ${String(block.offset).padStart(6)} size ${String(block.size).padStart(7)} ${block.used ? 'used' : 'free'}`);
}
pool.check();

// Misuse is rejected without touching the pool.
try {
  pool.free(Buffer.from('not mine'));
} catch (error) {
  if (!(error instanceof PoolError)) throw error;
  console.log('free of a foreign Buffer ->', error.code);
}

pool.free(raw);
pool.free(page);

// destroy() frees the memory and detaches every view: no dangling access possible.
pool.destroy();
console.log('after destroy: vector.length =', vector.length, ' grown.byteLength =', grown.byteLength, ' grown[0] =', grown[0]);
try {
  pool.alloc(1);
} catch (error) {
  console.log('alloc after destroy ->', error.code);
}

// ---- RegionPool: one pool per request -------------------------------------------
// Everything a request allocates lives in its own pool; the pool's cleanups close
// what the request opened, and destroy() (or reset(), to reuse the pool) frees it
// all at once. A request may also free single allocations early.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { RegionPool } = require('..');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mempools-demo-'));
const log = path.join(tmp, 'requests.log');

function handleRequest(id) {
  const pool = new RegionPool({ blockSize: 4096 });
  try {
    const fd = fs.openSync(log, 'a');
    pool.onCleanup(() => {
      fs.closeSync(fd);
      console.log(`  request ${id}: cleanup closed fd ${fd}`);
    });
    const header = pool.alloc(64);                // small: bump-allocated from a block
    const n = header.write(`request ${id}\n`);
    const body = pool.alloc(10_000);              // > maxSmall (4095): a large block of its own
    body.fill(0x2e);
    fs.writeSync(fd, header, 0, n);
    fs.writeSync(fd, body, 0, 16);
    fs.writeSync(fd, '\n');
    const scratchpad = pool.allocUnaligned(3);    // no alignment padding
    pool.free(body);                              // a large block goes back at once (its view is detached)
    const stats = pool.stats();
    console.log(`  request ${id}: body.byteLength after free = ${body.byteLength}, scratchpad at byte ${scratchpad.byteOffset},`,
      `stats: used ${stats.used}, allocations ${stats.allocations}, blocks ${stats.blocks}, largeBlocks ${stats.largeBlocks}, wasted ${stats.wasted}`);
  } finally {
    pool.destroy();                               // runs the cleanups, frees everything
  }
}

console.log('RegionPool, one pool per request:');
for (let id = 1; id <= 3; id++) handleRequest(id);
console.log('log file:', JSON.stringify(fs.readFileSync(log, 'utf8')));
fs.rmSync(tmp, { recursive: true, force: true });

// ---- HeapPool: a capped child pool under a parent ------------------------------------
// A child takes its 64 KiB-aligned chunks from its parent, which counts them against
// its own capacity. availableCapacity = capacity - reserved, so it drops a chunk at a
// time (not an allocation at a time) as the child fills; once nothing fits, alloc
// throws ERR_POOL_EXHAUSTED (tryAlloc returns null) and nothing changes.
const { HeapPool } = require('..');

const parent = new HeapPool({ capacity: 1024 * 1024 });           // 1 MiB for the whole family
const child = new HeapPool({ parent, capacity: 256 * 1024 });       // at most 256 KiB of it
console.log('HeapPool, a capped child under a parent:');
console.log(`  start: child.availableCapacity = ${child.availableCapacity}, parent.availableCapacity = ${parent.availableCapacity}`);
const rows = [];
let shown = child.availableCapacity;
for (let i = 0; ; i++) {
  const row = child.tryAlloc(5000);                                 // class 6 KiB: 10 blocks per 64 KiB chunk
  if (row === null) break;
  const cells = new Float64Array(row.buffer, row.byteOffset, 8);   // 16-byte aligned: typed arrays just work
  cells[0] = i;
  rows.push(row);
  if (child.availableCapacity !== shown) {
    shown = child.availableCapacity;
    console.log(`  row ${String(rows.length).padStart(2)} took a new chunk: child available ${shown}, parent available ${parent.availableCapacity}`);
  }
}
console.log(`  full after ${rows.length} rows of 5,000 B; a 16-byte tryAlloc -> ${child.tryAlloc(16) === null ? 'null' : 'a block'}`);
try {
  child.alloc(5000);
} catch (error) {
  const { reserved, used, allocations, failedAllocations } = child.stats();
  console.log('  child.alloc(5000) ->', error.code, '| child stats:', JSON.stringify({ reserved, used, allocations, failedAllocations }));
}
const last = rows.pop();
const offset = last.byteOffset;
child.free(last);
console.log(`  after one free, the next alloc reuses it (LIFO): ${child.alloc(5000).byteOffset === offset}`);
parent.destroy();                                                   // destroys the child first
console.log(`  parent.destroy(): child.destroyed = ${child.destroyed}, rows[0].byteLength = ${rows[0].byteLength}`);

// ---- SharedPool: one segment, two processes ----------------------------------------
// An anonymous memfd pool; the child gets the descriptor through the stdio array (as its
// fd 3 here), attaches with fromFd, finds the parent's note through a root, and leaves a
// reply it allocated itself, which the parent then frees: offsets mean the same in both.
const { spawnSync } = require('node:child_process');
const { SharedPool } = require('..');

const shared = SharedPool.create({ size: 1024 * 1024 });
const note = shared.calloc(1, 64);
note.write('hello from the parent');
shared.setRoot('note', shared.offsetOf(note));
const childCode = `
  const { SharedPool } = require(${JSON.stringify(require('node:path').join(__dirname, '..'))});
  const pool = SharedPool.fromFd(3);
  const note = pool.at(pool.getRoot('note'), 64);
  const reply = pool.calloc(1, 64);
  reply.write('child read: ' + note.toString('utf8', 0, note.indexOf(0)));
  pool.setRoot('reply', pool.offsetOf(reply));
  pool.close();`;
const run = spawnSync(process.execPath, ['-e', childCode], { stdio: ['ignore', 'inherit', 'inherit', shared.fd] });
const reply = shared.at(shared.getRoot('reply'), 64);
console.log('SharedPool, parent and child:');
console.log(`  child exited ${run.status}; its reply: ${JSON.stringify(reply.toString('utf8', 0, reply.indexOf(0)))}`);
shared.free(reply);                                                 // allocated by the child, freed here
console.log(`  live allocations after freeing the child's block: ${shared.stats().allocations}`);
shared.close();
console.log(`  close(): note.byteLength = ${note.byteLength}`);
