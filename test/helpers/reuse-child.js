'use strict';
// Run with --expose-gc (test/io-reuse.test.ts): node --expose-gc reuse-child.js GROUP
// Memory handed to Node I/O (an http response, fs writes, a zlib stream) is
// released too early on purpose, then new blocks of the same sizes are
// allocated and scribbled over (0xff, a byte no body pattern holds); every
// byte the I/O delivered is then compared with what was written. The http
// scenarios serve 64 concurrent requests per round, bodies of 1 KiB .. 1 MiB,
// over 127.0.0.1 and over a Unix socket (see httpScenario for why both).
//   safe-reuse  pools with safeReuse: true: an http handler frees its body right
//               after res.end(body) (a shared RegionPool: free or reset(); a
//               pool per request: destroy()/close())
//   helpers     pools without safeReuse: freeAfter / destroyAfter / resetAfter
//               hold the memory until the I/O (http, fs, zlib) is done
//   when-done   whenDone() and the contract of the helpers: when they act, that
//               they act once, that they never throw asynchronously
//   control     pools without safeReuse or a helper releasing at once: the
//               harness must see the damage (else the other groups prove nothing)
// Prints one JSON object: scenario name -> 'ok' or what went wrong.
const { EventEmitter, once } = require('node:events');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { Writable } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const zlib = require('node:zlib');

const mempools = require('../../dist/index.js');
const { settle } = require('./child.js');

const { HeapPool, RegionPool, SharedPool, TlsfPool, whenDone } = mempools;

const MiB = 1024 * 1024;
const KINDS = ['tlsf', 'heap', 'region', 'shared'];
/** Body sizes, 1 KiB to 1 MiB: RegionPool small (<= 4095) and large blocks, cached and uncached classes. */
const SIZES = [1024, 1500, 4000, 4096, 9000, 16384, 40000, 65536, 150000, 262144, 600000, MiB];
/** Body `id` is PATTERN[start(id) ..]: bytes 0..250 repeating, shifted per id. */
const PERIOD = 251;
const PATTERN = Buffer.alloc(MiB + PERIOD);
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = i % PERIOD;
const SCRIBBLE = 0xff;
/** Rounds of each http scenario, alternately over TCP and a Unix socket (see httpScenario). */
const ROUNDS = 4;
const CONCURRENCY = 64;
/** A scenario still running after this long is reported (and the group goes on). */
const SCENARIO_MS = 60_000;

const sizeOf = (id) => SIZES[(id * 7) % SIZES.length];
const start = (id) => (id * 13) % PERIOD;
/** The bytes body `id` must arrive with. */
const expected = (id) => PATTERN.subarray(start(id), start(id) + sizeOf(id));
const fillBody = (buf, id) => expected(id).copy(buf);

/** Errors thrown or rejections left unhandled outside any scenario's control. */
const asyncErrors = [];
process.on('uncaughtException', (error) => asyncErrors.push(`uncaught: ${describe(error)}`));
process.on('unhandledRejection', (error) => asyncErrors.push(`unhandled rejection: ${describe(error)}`));

function describe(error) {
  if (error instanceof Error) return `${error.code ? `${error.code} ` : ''}${error.name}: ${error.message}`;
  return String(error);
}

const turns = async (count = 5) => {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
};
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** { promise, resolve, reject } */
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** 'ok', or where `actual` first differs from body `id`. */
function compareBody(actual, id) {
  const want = expected(id);
  if (actual.equals(want)) return 'ok';
  if (actual.length !== want.length) return `body ${id}: ${actual.length} bytes, expected ${want.length}`;
  let at = 0;
  while (actual[at] === want[at]) at++;
  let wrong = 0;
  for (let i = at; i < want.length; i++) if (actual[i] !== want[i]) wrong++;
  return `body ${id} (${want.length} bytes): ${wrong} bytes differ from byte ${at} on (${actual[at] === SCRIBBLE ? 'scribbled' : `0x${actual[at].toString(16)}`})`;
}

/** Collects failures; result() is 'ok' or a summary. */
function tally(total) {
  const failures = [];
  return {
    fail: (what) => failures.push(what),
    check: (what) => {
      if (what !== 'ok') failures.push(what);
    },
    result: () => (failures.length === 0 ? 'ok' : `${failures.length} of ${total} failed; first: ${failures[0]}`),
    get failures() {
      return failures.length;
    },
  };
}

/** Bodies from this size on are sent as two allocations (see respond). */
const SPLIT_FROM = 8192;
/** The second allocation of a split body: small enough for a RegionPool block. */
const TAIL = 2000;

/**
 * Answers body `id` with memory from `pool` and returns the allocations sent.
 * A body of SPLIT_FROM bytes or more is two allocations, res.write(head) then
 * res.end(tail): the small tail then waits in the socket's queue behind the
 * head, so a premature release of a small block (a RegionPool block rewound by
 * reset(), a cached TlsfPool/HeapPool/SharedPool block) is seen as well.
 */
function respond(pool, res, id) {
  const want = expected(id);
  res.setHeader('content-length', want.length);
  if (want.length < SPLIT_FROM) {
    const body = pool.alloc(want.length);
    want.copy(body);
    res.end(body);
    return [body];
  }
  const head = pool.alloc(want.length - TAIL);
  const tail = pool.alloc(TAIL);
  want.copy(head, 0, 0, head.length);
  want.copy(tail, 0, head.length);
  res.write(head);
  res.end(tail);
  return [head, tail];
}

/** Blocks of `size` from `pool`, written all over, then freed (free: false keeps them, for a reset). */
function scribble(pool, size, { count = 2, free = true } = {}) {
  for (let i = 0; i < count; i++) {
    const block = pool.alloc(size);
    block.fill(SCRIBBLE);
    if (free) pool.free(block);
  }
}

/** A pool of `kind` with `options`; small: sized for one request's blocks (a pool per request). */
function makePool(kind, { small = false, ...options } = {}) {
  switch (kind) {
    case 'tlsf':
      return new TlsfPool({ size: small ? 64 * 1024 : 4 * MiB, maxSize: small ? 8 * MiB : 1024 * MiB, ...options });
    case 'heap':
      return new HeapPool({ ...options });
    case 'region':
      return new RegionPool({ ...options });
    case 'shared':
      return SharedPool.create({ size: small ? 8 * MiB : 256 * MiB, ...options });
    default:
      throw new Error(`unknown pool kind ${kind}`);
  }
}

/** Live allocations a pool reports ('ok' when none: every deferred free ran). */
async function expectNoLive(pool) {
  for (let i = 0; i < 50 && pool.stats().allocations > 0; i++) await delay(10);
  const live = pool.stats().allocations;
  return live === 0 ? 'ok' : `${live} allocations still live after the I/O ended (a deferred free did not run)`;
}

/** GET /id from `target` ({ host, port } or { socketPath }): { status, encoding, body }. */
function get(target, agent, id) {
  return new Promise((resolve, reject) => {
    const request = http.get({ ...target, path: `/${id}`, agent }, (res) => {
      const chunks = [];
      // Some clients read late, so responses wait in the server's write queue.
      if (id % 4 === 0) {
        res.pause();
        setTimeout(() => res.resume(), 15);
      }
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode, encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    request.setTimeout(30_000, () => request.destroy(new Error('no response within 30 s')));
    request.on('error', reject);
  });
}

let socketSerial = 0;

/** An http server with `listener` on 127.0.0.1 (TCP) or on a Unix socket: { target, close() }. */
async function listen(listener, transport) {
  const server = http.createServer(listener);
  const socketPath =
    transport === 'unix' ? path.join(os.tmpdir(), `mempools-reuse-${process.pid}-${socketSerial++}.sock`) : null;
  if (socketPath === null) server.listen(0, '127.0.0.1');
  else server.listen(socketPath);
  await once(server, 'listening');
  const target = socketPath === null ? { host: '127.0.0.1', port: server.address().port } : { socketPath };
  const close = () => {
    server.closeAllConnections();
    server.close();
    if (socketPath !== null) fs.rmSync(socketPath, { force: true });
  };
  return { target, close };
}

/**
 * http servers whose handler(res, id) answers body `id`: `rounds` rounds of
 * CONCURRENCY requests at once through a keep-alive agent with CONCURRENCY
 * sockets, every body compared byte for byte. Rounds alternate between TCP on
 * 127.0.0.1 and a Unix socket: loopback TCP takes a whole 1 MiB response in
 * one synchronous write on many systems (nothing is left for a premature free
 * to damage), while a Unix socket's buffer (~200 KiB) leaves most of a large
 * body queued in Node until the client reads it.
 * afterRound() runs after each round ('ok' or a failure); a GC between rounds
 * lets safeReuse blocks come back.
 */
async function httpScenario(handler, { afterRound, rounds = ROUNDS } = {}) {
  const total = rounds * CONCURRENCY;
  const t = tally(total);
  const handlerErrors = [];
  const listener = (req, res) => {
    const id = Number(req.url.slice(1));
    try {
      handler(res, id);
    } catch (error) {
      handlerErrors.push(describe(error));
      if (!res.headersSent) res.statusCode = 500;
      res.end();
    }
  };
  const servers = [await listen(listener, 'tcp'), await listen(listener, 'unix')];
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      const { target } = servers[round % 2];
      const ids = Array.from({ length: CONCURRENCY }, () => next++);
      await Promise.all(
        ids.map((id) =>
          get(target, agent, id).then(
            ({ status, encoding, body }) => {
              if (status !== 200) return t.fail(`body ${id}: status ${status}`);
              t.check(compareBody(encoding === 'gzip' ? zlib.gunzipSync(body) : body, id));
            },
            (error) => t.fail(`body ${id}: ${describe(error)}`),
          ),
        ),
      );
      if (afterRound) t.check(await afterRound(round));
      await settle();
    }
  } finally {
    agent.destroy();
    for (const server of servers) server.close();
  }
  if (handlerErrors.length > 0) return `the handler threw ${handlerErrors.length} times; first: ${handlerErrors[0]}`;
  return t.result();
}

/**
 * The file I/O scenarios: `count` buffers of mixed sizes, each written by
 * write(buf, file) -> { completion, done } and handed to release(buf, completion)
 * (by default pool.freeAfter) before blocks of its size are scribbled over.
 */
async function fileScenario(
  pool,
  kind,
  write,
  { count = 16, release = (buf, completion) => pool.freeAfter(buf, completion) } = {},
) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mempools-reuse-${kind}-`));
  const t = tally(count);
  try {
    const jobs = [];
    for (let id = 0; id < count; id++) {
      const size = sizeOf(id);
      const buf = pool.alloc(size);
      fillBody(buf, id);
      const file = path.join(dir, String(id));
      const { completion, done } = write(buf, file);
      jobs.push(
        done.then(
          () => t.check(compareBody(fs.readFileSync(file), id)),
          (error) => t.fail(`body ${id}: ${describe(error)}`),
        ),
      );
      try {
        release(buf, completion);
        scribble(pool, size);
      } catch (error) {
        await Promise.all(jobs); // the files written so far, before their directory goes
        throw error;
      }
    }
    await Promise.all(jobs);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (t.failures > 0) return t.result();
  return expectNoLive(pool);
}

/** Like fileScenario through gzip (level 1) into memory: compress(buf) -> { completion, done: Promise<Buffer> }. */
async function gzipScenario(pool, compress, count = 16) {
  const t = tally(count);
  const jobs = [];
  for (let id = 0; id < count; id++) {
    const size = sizeOf(id);
    const buf = pool.alloc(size);
    fillBody(buf, id);
    const { completion, done } = compress(buf);
    jobs.push(
      done.then(
        (gz) => t.check(compareBody(zlib.gunzipSync(gz), id)),
        (error) => t.fail(`body ${id}: ${describe(error)}`),
      ),
    );
    try {
      pool.freeAfter(buf, completion);
      scribble(pool, size);
    } catch (error) {
      await Promise.all(jobs);
      throw error;
    }
  }
  await Promise.all(jobs);
  if (t.failures > 0) return t.result();
  return expectNoLive(pool);
}

/** gzip `buf` into memory; completion is the gzip stream itself or the pipeline's promise. */
function gzip(buf, completionOf) {
  const stream = zlib.createGzip({ level: 1 });
  const chunks = [];
  const sink = new Writable({
    write(chunk, encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  const piped = pipeline(stream, sink);
  stream.end(buf);
  return { completion: completionOf === 'stream' ? stream : piped, done: piped.then(() => Buffer.concat(chunks)) };
}

const groups = {
  'safe-reuse': safeReuseGroup,
  helpers: helpersGroup,
  'when-done': whenDoneGroup,
  control: controlGroup,
};

async function main() {
  const group = groups[process.argv[2]];
  if (group === undefined) throw new Error(`usage: reuse-child.js ${Object.keys(groups).join('|')}`);
  if (typeof global.gc !== 'function') throw new Error('run with --expose-gc');
  const results = {};
  /** Runs one scenario: its value ('ok' or a failure), a throw, or an asynchronous error meanwhile. */
  const scenario = async (name, fn) => {
    const before = asyncErrors.length;
    let value;
    let timer;
    try {
      const timeout = new Promise((resolve) => {
        timer = setTimeout(() => resolve(`not done within ${SCENARIO_MS / 1000} s`), SCENARIO_MS);
      });
      value = await Promise.race([fn(), timeout]);
    } catch (error) {
      value = `threw ${describe(error)}`;
    } finally {
      clearTimeout(timer);
    }
    await turns();
    if (asyncErrors.length > before && value === 'ok') value = asyncErrors[before];
    results[name] = value;
  };
  await group(scenario);
  await settle();
  results['no uncaught exception or unhandled rejection'] = asyncErrors.length === 0 ? 'ok' : asyncErrors.join('; ');
  return results;
}

async function safeReuseGroup(scenario) {
  // Free right after res.end(), then blocks of the same sizes scribbled over.
  const serveAndFree = (pool) => (res, id) => {
    const parts = respond(pool, res, id);
    for (const part of parts) pool.free(part);
    for (const part of parts) scribble(pool, part.length);
  };
  for (const kind of ['tlsf', 'heap', 'shared']) {
    await scenario(`${kind} safeReuse: free(body) right after res.end(body)`, async () => {
      const pool = makePool(kind, { safeReuse: true });
      try {
        const result = await httpScenario(serveAndFree(pool));
        pool.check();
        return result;
      } finally {
        pool.destroy();
      }
    });
  }

  await scenario('shared safeReuse through fromFd: free(body) right after res.end(body)', async () => {
    const creator = SharedPool.create({ size: 256 * MiB });
    try {
      const pool = SharedPool.fromFd(creator.fd, { safeReuse: true });
      try {
        return await httpScenario(serveAndFree(pool));
      } finally {
        pool.close();
      }
    } finally {
      creator.close();
    }
  });

  await scenario('shared safeReuse through open(name): free(body) right after res.end(body)', async () => {
    const creator = SharedPool.create({ size: 256 * MiB, name: `/mempools-reuse-${process.pid}` });
    try {
      const pool = SharedPool.open(creator.name, { safeReuse: true });
      creator.unlink();
      try {
        return await httpScenario(serveAndFree(pool));
      } finally {
        pool.close();
      }
    } finally {
      creator.destroy();
    }
  });

  await scenario(
    'region safeReuse (one pool for all requests): free(body) or reset() right after res.end(body)',
    async () => {
      const pool = makePool('region', { safeReuse: true });
      try {
        const result = await httpScenario((res, id) => {
          const parts = respond(pool, res, id);
          if (id % 2 === 0) {
            for (const part of parts) pool.free(part);
            for (const part of parts) scribble(pool, part.length);
          } else {
            pool.reset();
            for (const part of parts) scribble(pool, part.length, { free: false });
          }
        });
        pool.check();
        return result;
      } finally {
        pool.destroy();
      }
    },
  );

  // A free deferred before reset() names (chunk, offset) of the old native pool;
  // the new pool hands out the same (chunk, offset) again. The old view's
  // collection must not free the new allocation there (it did: the pending
  // free was looked up by that key alone).
  await scenario(
    'region safeReuse: a view freed before reset() and collected after it leaves the new allocation at its place alone',
    async () => {
      const pool = makePool('region', { safeReuse: true });
      try {
        const where = (() => {
          const old = pool.alloc(TAIL);
          pool.free(old);
          return [old.byteOffset, old.buffer.byteLength];
        })();
        pool.reset();
        const kept = pool.alloc(TAIL);
        if (kept.byteOffset !== where[0])
          return `the new allocation is not at the old one's place (${kept.byteOffset} vs ${where[0]})`;
        kept.fill(7);
        pool.free(kept);
        await settle();
        const pending = pool.stats().pendingFrees;
        if (pending !== 1) return `${pending} frees pending while the freed view is reachable, expected 1`;
        scribble(pool, TAIL, { count: 4, free: false });
        return kept.every((byte) => byte === 7) ? 'ok' : 'the reachable view was handed out again and scribbled over';
      } finally {
        pool.destroy();
      }
    },
  );

  for (const kind of KINDS) {
    const release = kind === 'shared' ? 'close' : 'destroy';
    await scenario(`${kind} safeReuse (a pool per request): ${release}() right after res.end(body)`, async () =>
      httpScenario((res, id) => {
        const pool = makePool(kind, { safeReuse: true, small: true });
        const parts = respond(pool, res, id);
        pool[release]();
        const other = makePool(kind, { safeReuse: true, small: true });
        for (const part of parts) scribble(other, part.length, { free: false });
        other[release]();
      }),
    );
  }
}

async function helpersGroup(scenario) {
  for (const kind of KINDS) {
    await scenario(`${kind}: freeAfter(body, res)`, async () => {
      const pool = makePool(kind);
      try {
        const result = await httpScenario((res, id) => {
          const parts = respond(pool, res, id);
          for (const part of parts) pool.freeAfter(part, res);
          for (const part of parts) scribble(pool, part.length);
        });
        if (result !== 'ok') return result;
        pool.check();
        return expectNoLive(pool);
      } finally {
        pool.destroy();
      }
    });
  }

  await scenario('tlsf: freeAfter(body, res) with the body gzipped into res (pipeline)', async () => {
    const pool = makePool('tlsf');
    try {
      const result = await httpScenario(
        (res, id) => {
          const size = sizeOf(id);
          const body = pool.alloc(size);
          fillBody(body, id);
          res.setHeader('content-encoding', 'gzip');
          const stream = zlib.createGzip({ level: 1 });
          pipeline(stream, res).catch(() => {});
          stream.end(body);
          pool.freeAfter(body, res);
          scribble(pool, size);
        },
        { rounds: 2 },
      );
      if (result !== 'ok') return result;
      return expectNoLive(pool);
    } finally {
      pool.destroy();
    }
  });

  await scenario('region (a pool per request): destroyAfter(res)', async () => {
    let pools = [];
    let early = 0;
    const result = await httpScenario(
      (res, id) => {
        const pool = new RegionPool();
        pools.push(pool);
        const parts = respond(pool, res, id);
        pool.destroyAfter(res);
        if (pool.destroyed && !res.writableFinished) early++;
        const other = new RegionPool();
        for (const part of parts) scribble(other, part.length, { free: false });
        other.destroy();
      },
      {
        afterRound: async () => {
          if (early > 0) return `${early} pools destroyed before their response finished`;
          for (let i = 0; i < 50 && !pools.every((pool) => pool.destroyed); i++) await delay(10);
          const left = pools.filter((pool) => !pool.destroyed).length;
          pools = [];
          return left === 0 ? 'ok' : `${left} pools not destroyed after their response ended`;
        },
      },
    );
    for (const pool of pools) pool.destroy();
    return result;
  });

  await scenario('region (pools reused across requests): resetAfter(res)', async () => {
    // A request takes an idle pool; the pool's cleanup (run by its reset) makes it idle again.
    const idle = [];
    const all = [];
    let resets = 0;
    let requests = 0;
    const take = () => {
      const pool = idle.pop() || new RegionPool();
      if (!all.includes(pool)) all.push(pool);
      pool.onCleanup(() => {
        resets++;
        idle.push(pool);
      });
      return pool;
    };
    try {
      return await httpScenario(
        (res, id) => {
          requests++;
          const pool = take();
          const parts = respond(pool, res, id);
          pool.resetAfter(res);
          const other = take(); // often a pool another response's resetAfter just reset
          for (const part of parts) scribble(other, part.length, { free: false });
          other.reset();
        },
        {
          afterRound: async () => {
            // every request reset two pools: its own (resetAfter) and the scribbled one
            for (let i = 0; i < 50 && resets < 2 * requests; i++) await delay(10);
            return resets === 2 * requests
              ? 'ok'
              : `${resets} resets for ${requests} requests (expected ${2 * requests})`;
          },
        },
      );
    } finally {
      for (const pool of all) pool.destroy();
    }
  });

  for (const kind of KINDS) {
    await scenario(`${kind}: freeAfter(buf, fs.promises.writeFile(file, buf))`, async () => {
      const pool = makePool(kind);
      try {
        return await fileScenario(pool, kind, (buf, file) => {
          const written = fs.promises.writeFile(file, buf);
          return { completion: written, done: written };
        });
      } finally {
        pool.destroy();
      }
    });
    await scenario(`${kind}: freeAfter(buf, fs.WriteStream)`, async () => {
      const pool = makePool(kind);
      try {
        return await fileScenario(pool, kind, (buf, file) => {
          const stream = fs.createWriteStream(file);
          stream.end(buf);
          return { completion: stream, done: once(stream, 'close') };
        });
      } finally {
        pool.destroy();
      }
    });
    await scenario(`${kind}: freeAfter(buf, zlib gzip stream)`, async () => {
      const pool = makePool(kind);
      try {
        return await gzipScenario(pool, (buf) => gzip(buf, 'stream'));
      } finally {
        pool.destroy();
      }
    });
    await scenario(`${kind}: freeAfter(buf, stream.promises.pipeline(gzip, sink))`, async () => {
      const pool = makePool(kind);
      try {
        return await gzipScenario(pool, (buf) => gzip(buf, 'pipeline'));
      } finally {
        pool.destroy();
      }
    });
  }
}

/** 'ok' when `promise` resolves to undefined within `ms`, else what happened. */
async function resolvesUndefined(promise, ms = 2000) {
  const outcome = await Promise.race([
    promise.then(
      (value) => (value === undefined ? 'ok' : `resolved to ${String(value)}, expected undefined`),
      (error) => `rejected: ${describe(error)}`,
    ),
    delay(ms).then(() => `not settled within ${ms} ms`),
  ]);
  return outcome;
}

/** Whether `promise` is still pending after a few event-loop turns. */
async function pending(promise) {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await turns();
  return !settled;
}

async function whenDoneGroup(scenario) {
  await scenario('whenDone is exported from mempools', () =>
    typeof whenDone === 'function' ? 'ok' : `whenDone is ${typeof whenDone}`,
  );

  await scenario('whenDone(promise): pending until it resolves, then resolves to undefined', async () => {
    const source = deferred();
    const done = whenDone(source.promise);
    if (!(await pending(done))) return 'settled before the promise did';
    source.resolve(42);
    return resolvesUndefined(done);
  });

  await scenario('whenDone(promise): resolves (never rejects) after it rejects', async () => {
    const source = deferred();
    const done = whenDone(source.promise);
    if (!(await pending(done))) return 'settled before the promise did';
    source.reject(new Error('the I/O failed'));
    return resolvesUndefined(done);
  });

  await scenario('whenDone(settled promise) resolves', () => resolvesUndefined(whenDone(Promise.resolve('x'))));

  await scenario('whenDone(thenable) resolves once it calls back', async () => {
    let fulfil;
    const thenable = {
      then(onFulfilled) {
        fulfil = onFulfilled;
      },
    };
    const done = whenDone(thenable);
    if (!(await pending(done))) return 'settled before the thenable did';
    if (typeof fulfil !== 'function') return 'then() was not called';
    fulfil('x');
    return resolvesUndefined(done);
  });

  for (const event of ['finish', 'close', 'error']) {
    await scenario(`whenDone(EventEmitter): pending until '${event}'`, async () => {
      const emitter = new EventEmitter();
      const done = whenDone(emitter);
      if (!(await pending(done))) return 'settled before any event';
      try {
        emitter.emit(event, event === 'error' ? new Error('the I/O failed') : undefined);
      } catch (error) {
        return `emit('${event}') threw (whenDone does not listen for it): ${describe(error)}`;
      }
      return resolvesUndefined(done);
    });
  }

  await scenario('whenDone(Writable): pending until end() finished', async () => {
    const stream = new Writable({
      write(chunk, encoding, callback) {
        setTimeout(callback, 5);
      },
    });
    stream.write('a');
    const done = whenDone(stream);
    if (!(await pending(done))) return 'settled before the stream finished';
    stream.end('b');
    return resolvesUndefined(done);
  });

  await scenario('whenDone(Writable) resolves after destroy(error)', async () => {
    const stream = new Writable({ write: (chunk, encoding, callback) => callback() });
    const done = whenDone(stream);
    stream.destroy(new Error('the I/O failed'));
    return resolvesUndefined(done);
  });

  await scenario('whenDone(Writable already finished and closed) resolves', async () => {
    const stream = new Writable({ write: (chunk, encoding, callback) => callback() });
    stream.end('a');
    await once(stream, 'close');
    return resolvesUndefined(whenDone(stream));
  });

  await scenario('whenDone(fs.WriteStream) resolves once it is written', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mempools-reuse-ws-'));
    try {
      const file = path.join(dir, 'out');
      const stream = fs.createWriteStream(file);
      const closed = once(stream, 'close').catch(() => {});
      try {
        const done = whenDone(stream);
        stream.end('written');
        const result = await resolvesUndefined(done);
        if (result !== 'ok') return result;
        const text = fs.readFileSync(file, 'utf8');
        return text === 'written' ? 'ok' : `the file holds ${JSON.stringify(text)} when whenDone resolved`;
      } finally {
        stream.destroy();
        await closed;
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  await scenario('whenDone(zlib stream) resolves once its output is consumed', async () => {
    const stream = zlib.createGzip();
    const done = whenDone(stream);
    stream.resume();
    if (!(await pending(done))) return 'settled before the stream ended';
    stream.end(Buffer.alloc(1000, 1));
    return resolvesUndefined(done);
  });

  await scenario('whenDone(net.Socket) resolves once the socket closed', async () => {
    const server = net.createServer((socket) => socket.end());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const socket = net.connect(server.address().port, '127.0.0.1');
      await once(socket, 'connect');
      const done = whenDone(socket);
      socket.resume();
      socket.end();
      return await resolvesUndefined(done);
    } finally {
      server.close();
    }
  });

  await scenario('whenDone(http.ServerResponse) resolves after the response finished', async () => {
    let outcome = Promise.resolve('the handler did not run');
    const server = await listen((req, res) => {
      try {
        const done = whenDone(res);
        res.end('hello');
        outcome = resolvesUndefined(done).then((result) =>
          result === 'ok' && !res.writableFinished ? 'resolved before the response finished' : result,
        );
      } catch (error) {
        outcome = Promise.resolve(`threw ${describe(error)}`);
        res.end('hello');
      }
    }, 'tcp');
    try {
      const { body } = await get(server.target, new http.Agent({ keepAlive: false }), 1);
      if (body.toString() !== 'hello') return `body ${JSON.stringify(body.toString())}`;
      return await outcome;
    } finally {
      server.close();
    }
  });

  await scenario('freeAfter(view, emitter) frees once on finish; later close/error/finish do nothing', async () => {
    const pool = new TlsfPool({ size: 1 << 16 });
    try {
      const emitter = new EventEmitter();
      emitter.on('error', () => {}); // this test's own listener: a later 'error' must not throw here
      const view = pool.alloc(64);
      pool.freeAfter(view, emitter);
      await turns();
      if (pool.stats().allocations !== 1) return 'freed before the emitter finished';
      emitter.emit('finish');
      await turns();
      if (pool.stats().allocations !== 0) return 'not freed after finish';
      const again = pool.alloc(64); // likely the same block (a freed block of this class is handed out first)
      emitter.emit('close');
      emitter.emit('error', new Error('late'));
      emitter.emit('finish');
      await turns();
      if (pool.stats().allocations !== 1) return 'freed again by a later event';
      pool.free(again);
      pool.check();
      return 'ok';
    } finally {
      pool.destroy();
    }
  });

  await scenario('resetAfter(emitter) resets once on close; later events do nothing', async () => {
    const pool = new RegionPool();
    try {
      let cleanups = 0;
      pool.onCleanup(() => cleanups++);
      pool.alloc(100);
      const emitter = new EventEmitter();
      emitter.on('error', () => {});
      pool.resetAfter(emitter);
      await turns();
      if (cleanups !== 0) return 'reset before the emitter closed';
      emitter.emit('close');
      await turns();
      if (cleanups !== 1 || pool.stats().allocations !== 0) return 'not reset after close';
      pool.onCleanup(() => cleanups++);
      const kept = pool.alloc(100);
      emitter.emit('finish');
      emitter.emit('error', new Error('late'));
      emitter.emit('close');
      await turns();
      if (cleanups !== 1) return 'reset again by a later event';
      pool.free(kept);
      return 'ok';
    } finally {
      pool.destroy();
    }
  });

  for (const [kind, outcome] of [
    ['tlsf', 'resolves'],
    ['heap', 'rejects'],
    ['region', 'resolves'],
  ]) {
    await scenario(`${kind}: destroyAfter(promise) destroys once the promise ${outcome}`, async () => {
      const pool = makePool(kind);
      try {
        pool.alloc(100);
        const source = deferred();
        pool.destroyAfter(source.promise);
        await turns();
        if (pool.destroyed) return 'destroyed before the promise settled';
        if (outcome === 'resolves') source.resolve();
        else source.reject(new Error('the I/O failed'));
        await turns();
        return pool.destroyed ? 'ok' : 'not destroyed after the promise settled';
      } finally {
        pool.destroy();
      }
    });
  }

  await scenario('shared: closeAfter(promise) closes once the promise resolves; views keep their bytes', async () => {
    const pool = SharedPool.create({ size: MiB });
    try {
      const view = pool.alloc(100).fill(9);
      const source = deferred();
      pool.closeAfter(source.promise);
      await turns();
      if (pool.destroyed) return 'closed before the promise settled';
      source.resolve();
      await turns();
      if (!pool.destroyed) return 'not closed after the promise settled';
      return view.length === 100 && view.every((byte) => byte === 9)
        ? 'ok'
        : `the view reads ${view.length} bytes after close`;
    } finally {
      pool.close();
    }
  });

  await scenario('shared: closeAfter(res) with the body a shared view', async () => {
    return httpScenario(
      (res, id) => {
        const pool = SharedPool.create({ size: 4 * MiB });
        respond(pool, res, id);
        pool.closeAfter(res);
      },
      { rounds: 2 },
    );
  });

  await scenario(
    'never throws asynchronously: freeAfter of a view freed meanwhile; helpers of a destroyed pool',
    async () => {
      const pool = new TlsfPool({ size: 1 << 16 });
      const region = new RegionPool();
      const heap = new HeapPool();
      const shared = SharedPool.create({ size: MiB });
      const source = deferred();
      const view = pool.alloc(64);
      pool.freeAfter(view, source.promise);
      pool.free(view); // freed twice once the promise settles
      const other = pool.alloc(32);
      pool.freeAfter(other, source.promise);
      pool.destroyAfter(source.promise);
      pool.destroy(); // destroyed before the free and the destroy run
      heap.freeAfter(heap.alloc(64), source.promise);
      heap.destroy();
      region.alloc(10);
      region.resetAfter(source.promise);
      region.destroyAfter(source.promise);
      region.destroy();
      shared.freeAfter(shared.alloc(64), source.promise);
      shared.closeAfter(source.promise);
      shared.close();
      source.reject(new Error('the I/O failed'));
      await settle();
      return 'ok'; // an error thrown or left unhandled meanwhile replaces this 'ok' (see scenario())
    },
  );
}

async function controlGroup(scenario) {
  await scenario(
    'tlsf without safeReuse: free(body) right after res.end(body) damages bodies (the harness sees it)',
    async () => {
      const pool = makePool('tlsf');
      try {
        const result = await httpScenario((res, id) => {
          const parts = respond(pool, res, id);
          for (const part of parts) pool.free(part);
          for (const part of parts) scribble(pool, part.length);
        });
        return result === 'ok' ? 'no body was damaged: a premature free goes unnoticed by this harness' : 'ok';
      } finally {
        pool.destroy();
      }
    },
  );
  await scenario(
    'region without safeReuse: reset() right after res.end(body) damages bodies (the harness sees it)',
    async () => {
      const pool = makePool('region');
      try {
        const result = await httpScenario((res, id) => {
          const parts = respond(pool, res, id);
          pool.reset();
          for (const part of parts) scribble(pool, part.length, { free: false });
        });
        return result === 'ok' ? 'no body was damaged: a premature reset goes unnoticed by this harness' : 'ok';
      } finally {
        pool.destroy();
      }
    },
  );
  await scenario('tlsf without safeReuse: free(buf) right after fs.promises.writeFile damages files', async () => {
    const pool = makePool('tlsf');
    try {
      const result = await fileScenario(
        pool,
        'control',
        (buf, file) => {
          const written = fs.promises.writeFile(file, buf);
          return { completion: written, done: written };
        },
        { release: (buf) => pool.free(buf) },
      );
      return result === 'ok' ? 'no file was damaged: a premature free goes unnoticed by this harness' : 'ok';
    } finally {
      pool.destroy();
    }
  });
}

main().then(
  (results) => {
    process.stdout.write(JSON.stringify(results));
    process.exit(0);
  },
  (error) => {
    process.stderr.write(String(error && error.stack));
    process.exit(1);
  },
);
