'use strict';
// A tour of TlsfPool: allocate, write through views, stats, walk, realloc,
// and destroy detaching the views. Run with `npm run demo`.
const { TlsfPool, PoolError } = require('..');

// The SharedPool section at the end forks this file as its workers: rows, workers, Int32 per row.
const SHARED_TABLE = { ROWS: 48, WORKERS: 4, COLS: 5 };
if (process.argv[2] === 'shared-worker') {
  sharedTableWorker(Number(process.argv[3]));
} else {
  tour();
  sharedTableDemo().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}

// TlsfPool, RegionPool and HeapPool, one after the other.
function tour() {
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
  console.log(
    'floats :',
    Array.from(vector),
    ' sum =',
    vector.reduce((a, b) => a + b, 0),
  );

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
    console.log(
      `  region ${block.region} offset ${String(block.offset).padStart(6)} size ${String(block.size).padStart(7)} ${block.used ? 'used' : 'free'}`,
    );
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

  // destroy() makes the pool unusable and frees what no view reaches; the rest stays mapped,
  // with its bytes, until the views are garbage (safe for I/O still in flight: docs/lifetime.md).
  pool.destroy();
  const held = pool.stats();
  console.log(
    'after destroy: vector.length =',
    vector.length,
    ' grown.byteLength =',
    grown.byteLength,
    ` held: ${held.heldBytes} bytes in ${held.heldChunks} region(s) while views live`,
  );
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
      const header = pool.alloc(64); // small: bump-allocated from a block
      const n = header.write(`request ${id}\n`);
      const body = pool.alloc(10_000); // > maxSmall (4095): a large block of its own
      body.fill(0x2e);
      fs.writeSync(fd, header, 0, n);
      fs.writeSync(fd, body, 0, 16);
      fs.writeSync(fd, '\n');
      const scratchpad = pool.allocUnaligned(3); // no alignment padding
      pool.free(body); // a large block goes back at once (its memory when the view is garbage)
      const stats = pool.stats();
      console.log(
        `  request ${id}: held after free = ${stats.heldBytes} bytes, scratchpad at byte ${scratchpad.byteOffset},`,
        `stats: used ${stats.used}, allocations ${stats.allocations}, blocks ${stats.blocks}, largeBlocks ${stats.largeBlocks}, wasted ${stats.wasted}`,
      );
    } finally {
      pool.destroy(); // runs the cleanups, frees everything
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

  const parent = new HeapPool({ capacity: 1024 * 1024 }); // 1 MiB for the whole family
  const child = new HeapPool({ parent, capacity: 256 * 1024 }); // at most 256 KiB of it
  console.log('HeapPool, a capped child under a parent:');
  console.log(
    `  start: child.availableCapacity = ${child.availableCapacity}, parent.availableCapacity = ${parent.availableCapacity}`,
  );
  const rows = [];
  let shown = child.availableCapacity;
  for (let i = 0; ; i++) {
    const row = child.tryAlloc(5000); // class 6 KiB: 10 blocks per 64 KiB chunk
    if (row === null) break;
    const cells = new Float64Array(row.buffer, row.byteOffset, 8); // 16-byte aligned: typed arrays just work
    cells[0] = i;
    rows.push(row);
    if (child.availableCapacity !== shown) {
      shown = child.availableCapacity;
      console.log(
        `  row ${String(rows.length).padStart(2)} took a new chunk: child available ${shown}, parent available ${parent.availableCapacity}`,
      );
    }
  }
  console.log(
    `  full after ${rows.length} rows of 5,000 B; a 16-byte tryAlloc -> ${child.tryAlloc(16) === null ? 'null' : 'a block'}`,
  );
  try {
    child.alloc(5000);
  } catch (error) {
    const { reserved, used, allocations, failedAllocations } = child.stats();
    console.log(
      '  child.alloc(5000) ->',
      error.code,
      '| child stats:',
      JSON.stringify({ reserved, used, allocations, failedAllocations }),
    );
  }
  const last = rows.pop();
  const offset = last.byteOffset;
  child.free(last);
  console.log(`  after one free, the next alloc reuses it (LIFO): ${child.alloc(5000).byteOffset === offset}`);
  parent.destroy(); // destroys the child first
  console.log(`  parent.destroy(): child.destroyed = ${child.destroyed}, rows[0].byteLength = ${rows[0].byteLength}`);
}

// ---- SharedPool: a parent and 4 forked workers fill one shared table ----------------
// An anonymous memfd pool; each worker gets the descriptor through fork's stdio array
// (its fd 4: [stdin, stdout, stderr, ipc, pool.fd]) and attaches with fromFd. The table
// lives in the segment and its offset is published as the root 'table': offsets mean
// the same in every process, pointers would not. Workers claim rows with Atomics.add,
// write their results in place, allocate a note per row (which the parent reads and
// frees), keep per-worker counts under the process-shared lock, and the last row wakes
// the parent through notify/wait.
function sharedTableDemo() {
  const { fork } = require('node:child_process');
  const { SharedPool } = require('..');
  const { ROWS, WORKERS, COLS } = SHARED_TABLE;

  const shared = SharedPool.create({ size: 1024 * 1024 });
  // header [next row to claim, rows done, rows per worker x WORKERS], then ROWS x COLS Int32
  const bytes = (2 + WORKERS + ROWS * COLS) * 4;
  const tableBuf = shared.calloc(1, bytes);
  const table = new Int32Array(tableBuf.buffer, tableBuf.byteOffset, bytes / 4);
  shared.setRoot('table', shared.offsetOf(tableBuf));
  const before = shared.stats();

  const workers = [];
  for (let id = 0; id < WORKERS; id++) {
    workers.push(
      fork(__filename, ['shared-worker', String(id)], { stdio: ['inherit', 'inherit', 'inherit', 'ipc', shared.fd] }),
    );
  }
  // block until the last row is done (wait spins ~50 µs, then sleeps on a futex)
  for (let done = Atomics.load(table, 1); done < ROWS; done = Atomics.load(table, 1))
    shared.wait(table, 1, done, 10_000);
  return Promise.all(workers.map((w) => new Promise((resolve) => w.on('exit', resolve)))).then((codes) => {
    console.log(`SharedPool, a parent and ${WORKERS} forked workers filling a ${ROWS}-row table:`);
    console.log(
      `  worker exit codes ${JSON.stringify(codes)}; rows per worker (counted under lock()): ${JSON.stringify(Array.from(table.subarray(2, 2 + WORKERS)))}`,
    );
    let primes = 0;
    const notes = [];
    for (let row = 0; row < ROWS; row++) {
      const [worker, pid, n, count, note] = table.subarray(2 + WORKERS + row * COLS, 2 + WORKERS + (row + 1) * COLS);
      primes += count;
      const text = shared.at(note, 64); // a block a worker allocated, viewed here
      if (row < 3 || row === ROWS - 1)
        console.log(
          `  row ${String(row).padStart(2)}: worker ${worker} (pid ${pid}) counted ${count} primes below ${n}; note ${JSON.stringify(text.toString('utf8', 0, text.indexOf(0)))}`,
        );
      notes.push(text);
    }
    console.log(
      `  ... ${primes} primes in all rows; stats with the notes: allocations ${shared.stats().allocations}, used ${shared.stats().used}`,
    );
    for (const text of notes) shared.free(text); // allocated by the workers, freed here
    const after = shared.stats();
    console.log(
      `  after freeing the notes: allocations ${after.allocations} (the table), used ${after.used} (${before.used} before the workers),`,
      `available ${shared.availableCapacity} of ${after.capacity}, crash recoveries ${after.generation}`,
    );
    shared.check();
    shared.close();
    console.log(
      `  close(): the table view keeps its ${tableBuf.byteLength} bytes; the mapping goes when it is garbage (held: ${shared.stats().heldBytes} bytes)`,
    );
  });
}

function sharedTableWorker(id) {
  const { SharedPool } = require('..');
  const { ROWS, WORKERS, COLS } = SHARED_TABLE;
  const pool = SharedPool.fromFd(4);
  const bytes = (2 + WORKERS + ROWS * COLS) * 4;
  const view = pool.at(pool.getRoot('table'), bytes);
  const table = new Int32Array(view.buffer, view.byteOffset, bytes / 4);
  for (let row = Atomics.add(table, 0, 1); row < ROWS; row = Atomics.add(table, 0, 1)) {
    const n = 150_000 + row * 2_000;
    let count = 0;
    for (let k = 2; k < n; k++) {
      let prime = true;
      for (let d = 2; d * d <= k; d++)
        if (k % d === 0) {
          prime = false;
          break;
        }
      if (prime) count++;
    }
    const note = pool.calloc(1, 64);
    note.write(`row ${row} by worker ${id}`);
    table.set([id, process.pid, n, count, pool.offsetOf(note)], 2 + WORKERS + row * COLS);
    // a plain read-modify-write, made safe by the lock; ownerDied would say a holder crashed
    pool.withLock((ownerDied) => {
      if (ownerDied) console.log(`  worker ${id}: a previous holder of the lock died`);
      table[2 + id] += 1;
    });
    if (Atomics.add(table, 1, 1) + 1 === ROWS) pool.notify(table, 1);
  }
  pool.close();
  process.disconnect();
}
