'use strict';
// Run as `node --expose-gc test/helpers/io-child.js <kind>` (kind: tlsf | region |
// heap | shared; test/io-lifetime.test.ts). Pool Buffers handed to Node's
// asynchronous I/O while their pool is destroyed (SharedPool: closed) at once:
// for each I/O and size, a fresh pool's view gets a pseudo-random pattern and
// its sha256, the I/O starts, the pool is released right away, the test's own
// reference to the view is dropped (only Node's request keeps it), another pool
// of the same kind takes and scribbles over as much memory (to catch reuse of
// the released memory), and garbage collections run while the I/O is in flight.
// The I/O's result must then be byte-exact and the scribbled memory untouched.
// Finally, with every view gone, the released pools must hold no memory.
// Prints one JSON object on stdout, { kind, results, heldAfterGc, elapsedMs },
// where results maps '<io> <size>' to 'ok' or what went wrong; exits 0.
// Progress ('<kind>: <io> <size>') goes to stderr, so a crash names its I/O.
const childProcess = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');

// MEMPOOLS_ENTRY: the package to test (the package suite runs this under Node 22 and 24
// against the installed prebuild); default: this checkout's dist/.
const { HeapPool, RegionPool, SharedPool, TlsfPool } = require(process.env.MEMPOOLS_ENTRY || '../../dist/index.js');
const { settle } = require('./child.js');

const KiB = 1024;
const MiB = 1024 * KiB;
/** One size per round (so '<io> <size>' names one operation): small, odd, block-sized, large. */
const SIZES = [64, 64 * KiB, 1 * MiB, 16 * MiB, 3 * MiB + 13];
/** An operation that has not completed by then is reported as timed out. */
const OP_TIMEOUT_MS = 15_000;
/** Past this, the remaining operations are skipped (and reported), so the child always reports. */
const DEADLINE_MS = 90_000;
/** Garbage collections run this often while an operation is in flight. */
const GC_INTERVAL_MS = 25;
/** The child-process target: hashes its stdin, prints the sha256 in hex. */
const HASH_STDIN = [
  "const hash = require('node:crypto').createHash('sha256');",
  "process.stdin.on('data', (chunk) => hash.update(chunk));",
  "process.stdin.on('end', () => process.stdout.write(hash.digest('hex')));",
].join('\n');

const kind = process.argv[2];

/** What a kind's pools are made of: a pool able to hold `bytes` in one allocation, and its release. */
const KINDS = {
  tlsf: {
    create: (bytes) => new TlsfPool({ size: bytes + 4 * KiB }),
    release: (pool) => pool.destroy(),
  },
  region: {
    create: () => new RegionPool(),
    release: (pool) => pool.destroy(),
  },
  heap: {
    create: () => new HeapPool(),
    release: (pool) => pool.destroy(),
  },
  shared: {
    // header, allocator metadata and block rounding take a few percent of a segment
    create: (bytes) => SharedPool.create({ size: Math.ceil(bytes * 1.125) + 64 * KiB }),
    release: (pool) => pool.close(),
  },
};

if (global.gc === undefined || !Object.hasOwn(KINDS, kind)) {
  process.stderr.write('usage: node --expose-gc test/helpers/io-child.js tlsf|region|heap|shared\n');
  process.exit(2);
}
const { create, release } = KINDS[kind];

const started = Date.now();
const results = {};
/** [name, pool] of every pool this run releases: their stats() are read again at the end. */
const released = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mempools-io-'));

process.on('uncaughtException', (error) => {
  results['uncaught exception'] = String(error && error.stack);
});
process.on('unhandledRejection', (error) => {
  results['unhandled rejection'] = String(error && error.stack);
});

const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');
const errorText = (error) => (error && error.code ? `${error.code}: ${error.message}` : String(error));

function gcAFewTimes() {
  for (let i = 0; i < 3; i++) global.gc();
}

/** Fills `buf` with a xorshift32 stream seeded by `seed`. */
function fillPattern(buf, seed) {
  const words = new Uint32Array(Math.ceil(buf.length / 4));
  let x = (seed * 0x9e3779b1) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  buf.set(new Uint8Array(words.buffer, 0, buf.length));
}

/**
 * A new pool of this kind with about 2 * `bytes` (at least `bytes` + 64 KiB)
 * allocated and filled with one byte value: one allocation of `bytes`, then
 * pieces. Whatever of it the released pool's memory became, I/O still reading
 * that memory sees the wrong bytes and I/O writing it spoils the scribble.
 * verify() checks every byte, then releases the pool.
 */
function scribbleOver(name, bytes, seed) {
  const extra = Math.max(bytes, 64 * KiB);
  const piece = Math.min(Math.max(bytes, 64), 64 * KiB);
  const value = (seed * 31 + 0x5a) & 0xff;
  const pool = create(bytes + extra + 64 * KiB);
  released.push([`${name} (scribble)`, pool]);
  const views = [];
  const first = pool.tryAlloc(bytes);
  if (first !== null) views.push(first.fill(value));
  for (let total = 0; total < extra && views.length < 2048; total += piece) {
    const view = pool.tryAlloc(piece);
    if (view === null) break;
    views.push(view.fill(value));
  }
  const lengths = views.map((view) => view.length);
  return {
    verify() {
      const expected = Buffer.alloc(Math.max(bytes, piece), value);
      let problem = 'ok';
      if (first === null) problem = `scribble pool refused ${bytes} bytes`;
      for (let i = 0; i < views.length && problem === 'ok'; i++) {
        const view = views[i];
        if (view.length !== lengths[i]) problem = `scribble view ${i} shrank to ${view.length} bytes`;
        else if (!view.equals(expected.subarray(0, view.length)))
          problem = `scribble view ${i} (${view.length} bytes) was overwritten`;
      }
      release(pool);
      return problem;
    },
  };
}

/** `promise`'s value, or a 'timed out' text after OP_TIMEOUT_MS (then abort() runs); GCs run meanwhile. */
async function awaitWithGc(promise, abort) {
  const gcTimer = setInterval(() => global.gc(), GC_INTERVAL_MS);
  let timeout;
  try {
    return await Promise.race([
      promise,
      new Promise((resolve) => {
        timeout = setTimeout(() => {
          if (abort) abort();
          resolve(`timed out after ${OP_TIMEOUT_MS} ms`);
        }, OP_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearInterval(gcTimer);
    clearTimeout(timeout);
  }
}

// Each starter gets the view and its expected sha256 and returns
// { done: Promise<'ok' | text>, abort?() }. A starter must not keep the view in
// any closure (only Node's own request may), except where the I/O hands it back.

function startDeflate(buf, expected) {
  const done = new Promise((resolve) => {
    zlib.deflate(buf, (error, out) => {
      if (error) return resolve(errorText(error));
      const got = sha256(zlib.inflateSync(out));
      resolve(got === expected ? 'ok' : `inflated sha256 ${got}, expected ${expected}`);
    });
  });
  return { done };
}

function startZlibStream(buf, expected) {
  const gzip = zlib.createGzip();
  const chunks = [];
  const done = new Promise((resolve) => {
    gzip.on('data', (chunk) => chunks.push(chunk));
    gzip.on('error', (error) => resolve(errorText(error)));
    gzip.on('end', () => {
      const got = sha256(zlib.gunzipSync(Buffer.concat(chunks)));
      resolve(got === expected ? 'ok' : `gunzipped sha256 ${got}, expected ${expected}`);
    });
  });
  gzip.end(buf);
  return { done, abort: () => gzip.destroy() };
}

function startFsWrite(buf, expected, file) {
  const fd = fs.openSync(file, 'w');
  const length = buf.length;
  const done = new Promise((resolve) => {
    fs.write(fd, buf, (error, written) => {
      fs.closeSync(fd);
      if (error) return resolve(errorText(error));
      if (written !== length) return resolve(`wrote ${written} of ${length} bytes`);
      const got = sha256(fs.readFileSync(file));
      resolve(got === expected ? 'ok' : `file sha256 ${got}, expected ${expected}`);
    });
  });
  return { done };
}

function startWriteFile(buf, expected, file) {
  const done = fs.promises.writeFile(file, buf).then(() => {
    const got = sha256(fs.readFileSync(file));
    return got === expected ? 'ok' : `file sha256 ${got}, expected ${expected}`;
  }, errorText);
  return { done };
}

function startRandomFill(buf, before) {
  const length = buf.length;
  const done = new Promise((resolve) => {
    crypto.randomFill(buf, (error, filled) => {
      if (error) return resolve(errorText(error));
      if (filled.length !== length || filled.byteLength !== length) {
        return resolve(`view is ${filled.length} bytes after randomFill, was ${length}`);
      }
      const after = sha256(filled); // reads every byte
      resolve(after !== before ? 'ok' : 'randomFill left the bytes as they were');
    });
  });
  return { done };
}

// The socket server (on 127.0.0.1, listening from the start) hashes what a
// connection sends and hands the hash to the operation waiting for it (one at a time).
let socketReceiver = null;
const socketServer = net.createServer((socket) => {
  const hash = crypto.createHash('sha256');
  socket.on('data', (chunk) => hash.update(chunk));
  socket.on('error', (error) => socketReceiver && socketReceiver(`server: ${errorText(error)}`));
  socket.on('end', () => socketReceiver && socketReceiver({ sha256: hash.digest('hex') }));
});

/** socket.end(buf) on a socket still connecting (Node queues the view until connected). */
function startSocket(buf, expected) {
  const client = net.connect(socketServer.address().port, '127.0.0.1');
  const done = new Promise((resolve) => {
    socketReceiver = (received) => {
      socketReceiver = null;
      if (typeof received === 'string') return resolve(received);
      resolve(received.sha256 === expected ? 'ok' : `received sha256 ${received.sha256}, expected ${expected}`);
    };
    client.on('error', (error) => resolve(`client: ${errorText(error)}`));
  });
  client.end(buf);
  return { done, abort: () => client.destroy() };
}

function startChildStdin(buf, expected) {
  const child = childProcess.spawn(process.execPath, ['-e', HASH_STDIN], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const done = new Promise((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (text) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text) => (stderr += text));
    child.stdin.on('error', (error) => resolve(`stdin: ${errorText(error)}`));
    child.on('error', (error) => resolve(errorText(error)));
    child.on('close', (code, signal) => {
      if (code !== 0) return resolve(`child exited with ${code ?? signal}: ${stderr.slice(0, 200)}`);
      resolve(stdout === expected ? 'ok' : `child read sha256 ${stdout}, expected ${expected}`);
    });
  });
  child.stdin.write(buf);
  child.stdin.end();
  return { done, abort: () => child.kill('SIGKILL') };
}

/** The generic round: fresh pool, patterned view, start the I/O, release at once, scribble, GC, verify. */
async function ioRound(name, size, seed, start) {
  const pool = create(size);
  released.push([name, pool]);
  let buf = pool.alloc(size);
  fillPattern(buf, seed);
  const expected = sha256(buf);
  const file = path.join(tmp, `${seed}.bin`);
  const op = start(buf, expected, file);
  buf = null; // from here on only the I/O holds the view
  release(pool);
  const scribble = scribbleOver(name, size, seed);
  gcAFewTimes();
  const result = await awaitWithGc(op.done, op.abort);
  const scribbled = scribble.verify();
  fs.rmSync(file, { force: true });
  return result === 'ok' ? scribbled : result;
}

// The HTTP server allocates each response body from a pool of its own, sends
// it with res.end(body) and releases the pool in `finally` right after.
const responses = new Map(); // url -> { expected, scribble }
const httpServer = http.createServer((req, res) => {
  const [size, seed] = req.url.slice(1).split('/').map(Number);
  const pool = create(size);
  released.push([`http res.end ${size}`, pool]);
  try {
    const body = pool.alloc(size);
    fillPattern(body, seed);
    responses.set(req.url, { expected: sha256(body) });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    res.end(body);
  } catch (error) {
    responses.set(req.url, { error: errorText(error) });
    if (!res.headersSent) res.writeHead(500);
    res.end();
  } finally {
    release(pool);
  }
  responses.get(req.url).scribble = scribbleOver(`http res.end ${size}`, size, seed);
  gcAFewTimes();
});

async function httpRound(size, seed) {
  const url = `/${size}/${seed}`;
  let request;
  const done = new Promise((resolve) => {
    request = http.get({ host: '127.0.0.1', port: httpServer.address().port, path: url, agent: false }, (res) => {
      const hash = crypto.createHash('sha256');
      let received = 0;
      res.on('data', (chunk) => {
        received += chunk.length;
        hash.update(chunk);
      });
      res.on('error', (error) => resolve(errorText(error)));
      res.on('end', () => {
        const sent = responses.get(url);
        if (sent === undefined) return resolve('the handler never ran');
        if (sent.error !== undefined) return resolve(`handler: ${sent.error}`);
        const got = hash.digest('hex');
        if (!res.complete) return resolve(`response cut short after ${received} of ${size} bytes`);
        resolve(got === sent.expected ? 'ok' : `received ${received} bytes, sha256 ${got}, expected ${sent.expected}`);
      });
    });
    request.on('error', (error) => resolve(errorText(error)));
  });
  const result = await awaitWithGc(done, () => request.destroy());
  const sent = responses.get(url);
  responses.delete(url);
  const scribbled = sent && sent.scribble ? sent.scribble.verify() : 'ok';
  return result === 'ok' ? scribbled : result;
}

const IOS = [
  ['zlib.deflate', startDeflate],
  ['zlib stream', startZlibStream],
  ['fs.write', startFsWrite],
  ['fs.promises.writeFile', startWriteFile],
  ['crypto.randomFill', startRandomFill],
  ['net socket.end', startSocket],
  ['http res.end', null],
  ['child stdin', startChildStdin],
];

/** A pool released after its views were freed (some parked in a free-list cache) or dropped: nothing of it may stay held. */
function idlePool() {
  const pool = create(4 * MiB);
  released.push(['idle pool (views freed or dropped)', pool]);
  const views = [64, 64, 4000, 64 * KiB, 1 * MiB].map((size) => pool.alloc(size).fill(1));
  for (const view of views.slice(0, 3)) pool.free(view);
  release(pool);
}

/** Sum of heldBytes/heldChunks over the released pools, after GCs with event-loop turns (finalizers run later). */
async function heldAfterGc() {
  let summary;
  for (let attempt = 0; attempt < 20; attempt++) {
    await settle();
    summary = { heldBytes: 0, heldChunks: 0, pools: released.length, stillHeld: {} };
    for (const [name, pool] of released) {
      let stats;
      try {
        stats = pool.stats();
      } catch (error) {
        return { ...summary, error: `stats() of ${name} after release: ${errorText(error)}` };
      }
      if (stats.destroyed !== true || typeof stats.heldBytes !== 'number' || typeof stats.heldChunks !== 'number') {
        return { ...summary, error: `stats() of ${name} after release: ${JSON.stringify(stats)}` };
      }
      summary.heldBytes += stats.heldBytes;
      summary.heldChunks += stats.heldChunks;
      if (stats.heldBytes !== 0 || stats.heldChunks !== 0) summary.stillHeld[name] = stats.heldBytes;
    }
    if (summary.heldBytes === 0 && summary.heldChunks === 0) break;
  }
  return summary;
}

async function main() {
  for (const server of [httpServer, socketServer]) {
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
  }
  let seed = 0;
  for (const size of SIZES) {
    for (const [io, start] of IOS) {
      const name = `${io} ${size}`;
      seed++;
      if (Date.now() - started > DEADLINE_MS) {
        results[name] = `skipped: past the ${DEADLINE_MS} ms deadline`;
        continue;
      }
      process.stderr.write(`${kind}: ${name}\n`);
      try {
        results[name] = start === null ? await httpRound(size, seed) : await ioRound(name, size, seed, start);
      } catch (error) {
        results[name] = `threw ${error && error.stack}`;
      }
    }
  }
  httpServer.closeAllConnections();
  await new Promise((resolve) => httpServer.close(resolve));
  await new Promise((resolve) => socketServer.close(resolve));
  fs.rmSync(tmp, { recursive: true, force: true });

  idlePool();
  const held = await heldAfterGc();
  if (held.error !== undefined) results['heldBytes 0 after gc'] = held.error;
  else if (held.heldBytes !== 0 || held.heldChunks !== 0) {
    results['heldBytes 0 after gc'] =
      `${held.heldBytes} bytes in ${held.heldChunks} chunks still held: ${JSON.stringify(held.stillHeld)}`;
  } else results['heldBytes 0 after gc'] = 'ok';
  return { kind, results, heldAfterGc: held, elapsedMs: Date.now() - started };
}

main().then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0)),
  (error) => {
    fs.rmSync(tmp, { recursive: true, force: true });
    process.stderr.write(String(error && error.stack));
    process.exit(1);
  },
);
