// What other processes (or a stray writer) can do to a SharedPool's segment: damaged or
// stuck lock words, a header changed after attach, descriptors that are no segment, and
// names a killed program left behind (SharedPool.list / unlinkStale / unlinkOnExit).
// Anything that could hang runs in a child process with a timeout.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, afterEach, describe, expect, test } from 'vitest';

import { PoolError, SharedPool } from '../lib/index.js';
import { expectCode } from './helpers/pool.js';
import { expectNoLeftovers, uniqueName, unlinkTestNames } from './helpers/shm.js';

const MiB = 1 << 20;
const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));
/** Header fields a peer may scribble (native/alloc/shm_pool.c asserts these offsets). */
const LENT_OFFSET = 56;
const ALLOC_LOCK = 144;
const USER_LOCK = 148;

afterEach(unlinkTestNames);
afterAll(expectNoLeftovers);

/** Writes `bytes` at `offset` of the named segment's file, as another process could. */
function scribble(name: string, offset: number, bytes: Buffer): void {
  const fd = openSync(`/dev/shm${name}`, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0);
  return b;
}

/** Runs `body` (CommonJS, `SharedPool` in scope) in a child; its stdout's last line as JSON. */
function inChild(body: string, timeout = 20_000): { result: unknown; status: number | null; signal: string | null } {
  const script = `const { SharedPool } = require(${JSON.stringify(DIST)});\n${body}`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let result: unknown;
  try {
    result = JSON.parse(last);
  } catch {
    result = { stdout: r.stdout, stderr: r.stderr };
  }
  return { result, status: r.status, signal: r.signal };
}

/** The child's attempt at SharedPool.open(name, options): the error code, or 'ok'. */
function openInChild(name: string, options: object = {}) {
  return inChild(`
    const t0 = Date.now();
    let code = 'ok';
    try { SharedPool.open(${JSON.stringify(name)}, ${JSON.stringify(options)}).close(); }
    catch (e) { code = e.code; }
    console.log(JSON.stringify({ code, ms: Date.now() - t0 }));`);
}

describe('lock words', () => {
  test.each([
    ['allocator', ALLOC_LOCK],
    ['user', USER_LOCK],
  ])('a damaged %s lock word: open is ERR_POOL_CORRUPTED at once, no hang, no abort', (_which, at) => {
    for (const word of [0xffffffff, 0x80000000, 0x40000000, 0x7fffffff]) {
      const name = uniqueName();
      using pool = SharedPool.create({ size: MiB, name });
      scribble(name, at, u32(word));
      const { result, signal } = openInChild(name);
      expect(signal).toBeNull();
      expect(result).toMatchObject({ code: 'ERR_POOL_CORRUPTED' });
      expect((result as { ms: number }).ms).toBeLessThan(1000); // no wait for a holder: refused on sight
      if (at === ALLOC_LOCK) expectCode(() => pool.alloc(10_000), 'ERR_POOL_CORRUPTED', PoolError);
      else expectCode(() => pool.lock({ timeout: 10 }), 'ERR_POOL_CORRUPTED', PoolError);
    }
  });

  test('a live process that keeps the allocator lock: ERR_POOL_LOCK_TIMEOUT after lockTimeout, then all is well', () => {
    const name = uniqueName();
    using pool = SharedPool.create({ size: MiB, name, lockTimeout: 50 });
    scribble(name, ALLOC_LOCK, u32(1)); // pid 1 is alive and never lets go
    const { result } = openInChild(name, { lockTimeout: 100 });
    expect(result).toMatchObject({ code: 'ERR_POOL_LOCK_TIMEOUT' });
    let caught: PoolError | undefined;
    try {
      pool.alloc(10_000);
    } catch (error) {
      caught = error as PoolError;
    }
    expect(caught).toBeInstanceOf(PoolError);
    expect(caught!.code).toBe('ERR_POOL_LOCK_TIMEOUT');
    expect(caught!.message).toContain(name);
    expect(caught!.message).toContain('50 ms');
    scribble(name, ALLOC_LOCK, u32(0));
    expect(pool.alloc(10_000).length).toBe(10_000);
  });

  test('a holder that is gone (a finished process) is replaced on attach, with recovery', () => {
    const name = uniqueName();
    using pool = SharedPool.create({ size: MiB, name });
    const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    scribble(name, ALLOC_LOCK, u32(Number(gone.stdout.trim()) | 0x40000000));
    using other = SharedPool.open(name);
    expect(other.stats().generation).toBe(1);
    other.check(); // throws when anything is off
    expect(pool.alloc(100).length).toBe(100);
  });

  test('the user lock: a timeout, and a second lock by the same thread is refused, not a deadlock', () => {
    const name = uniqueName();
    using pool = SharedPool.create({ size: MiB, name });
    using other = SharedPool.open(name);
    expect(pool.lock()).toBe(false);
    expectCode(() => other.lock({ timeout: 20 }), 'ERR_INVALID_STATE', Error); // this thread holds it
    pool.unlock();
    scribble(name, USER_LOCK, u32(1));
    expectCode(() => other.lock({ timeout: 30 }), 'ERR_POOL_LOCK_TIMEOUT', PoolError);
    scribble(name, USER_LOCK, u32(0));
    expect(other.lock({ timeout: 30 })).toBe(false);
    other.unlock();
    expectCode(() => pool.lock({ timeout: -1 }), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.lock([] as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  });
});

describe('a peer writing after attach', () => {
  test('a header layout changed under us (lent map moved to 2**40): ERR_POOL_CORRUPTED, no fault', () => {
    const name = uniqueName();
    using pool = SharedPool.create({ size: 4 * MiB, name });
    const big = pool.alloc(10_000); // past the cache: freed natively
    const huge = Buffer.alloc(8);
    huge.writeBigUInt64LE(1n << 40n);
    scribble(name, LENT_OFFSET, huge);
    expectCode(() => pool.free(big), 'ERR_POOL_CORRUPTED', PoolError);
    expectCode(() => pool.alloc(10_000), 'ERR_POOL_CORRUPTED', PoolError);
    expect(() => pool.check()).toThrow(/layout changed/);
  });
});

describe('descriptors and names that are not segments', () => {
  test('fromFd of an empty file, a pipe, a directory, /dev/zero or a socket: ERR_INVALID_ARG_VALUE at once', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mempools-'));
    try {
      const empty = path.join(dir, 'empty');
      writeFileSync(empty, '');
      const { result, signal } = inChild(`
        const fs = require('node:fs');
        const net = require('node:net');
        const out = {};
        const pipe = require('node:child_process').spawn('true', { stdio: ['pipe', 'ignore', 'ignore'] });
        const fds = {
          empty: fs.openSync(${JSON.stringify(empty)}, 'r+'),
          directory: fs.openSync(${JSON.stringify(dir)}, 'r'),
          zero: fs.openSync('/dev/zero', 'r+'),
          pipe: pipe.stdin._handle.fd,
        };
        for (const [kind, fd] of Object.entries(fds)) {
          const t0 = Date.now();
          try { SharedPool.fromFd(fd); out[kind] = 'ok'; }
          catch (e) { out[kind] = e.code + (e.message.includes('not a mempools segment') ? '' : ' (message: ' + e.message + ')'); }
          out[kind + 'Fast'] = Date.now() - t0 < 1000;
        }
        console.log(JSON.stringify(out));
        process.exit(0);`);
      expect(signal).toBeNull();
      expect(result).toEqual({
        empty: 'ERR_INVALID_ARG_VALUE',
        emptyFast: true,
        directory: 'ERR_INVALID_ARG_VALUE',
        directoryFast: true,
        zero: 'ERR_INVALID_ARG_VALUE',
        zeroFast: true,
        pipe: 'ERR_INVALID_ARG_VALUE',
        pipeFast: true,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("fromFd of a forked child's IPC channel says it is not a segment", async () => {
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const { SharedPool } = require(${JSON.stringify(DIST)});
         let code = 'ok';
         try { SharedPool.fromFd(3); /* the IPC channel (stdio[3]) */ } catch (e) { code = e.code; }
         process.send(code, () => process.exit(0));`,
      ],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    const [code] = await once(child, 'message');
    expect(code).toBe('ERR_INVALID_ARG_VALUE');
    await once(child, 'exit');
  });

  test('system errors name the segment and the call', () => {
    const name = `/mempools-missing-${process.pid}`;
    let caught: PoolError | undefined;
    try {
      SharedPool.open(name);
    } catch (error) {
      caught = error as PoolError;
    }
    expect(caught).toBeInstanceOf(PoolError);
    expect(caught).toMatchObject({ code: 'ERR_POOL_SYSTEM', syscall: 'shm_open', path: name, errno: -2 });
    expect(caught!.message).toBe(`shm_open '${name}' failed: ENOENT`);
  });
});

describe('stale segments', () => {
  test('list() shows our segments with creator, attached processes and staleness; unlinkStale removes only stale ones', () => {
    const live = uniqueName('live');
    using pool = SharedPool.create({ size: MiB, name: live });
    pool.alloc(1000);
    const dead = uniqueName('dead');
    const child = spawnSync(
      process.execPath,
      [
        '-e',
        `const { SharedPool } = require(${JSON.stringify(DIST)});
         SharedPool.create({ size: ${MiB}, name: ${JSON.stringify(dead)} });
         process.kill(process.pid, 'SIGKILL');`,
      ],
      { encoding: 'utf8' },
    );
    expect(child.signal).toBe('SIGKILL');
    const byName = new Map(SharedPool.list().map((info) => [info.name, info]));
    expect(byName.get(live)).toMatchObject({
      size: MiB,
      creatorPid: process.pid,
      creatorAlive: true,
      attachedPids: [process.pid],
      stale: false,
      corrupted: false,
      lockHolder: null,
    });
    expect(byName.get(live)!.used).toBeGreaterThanOrEqual(1000);
    expect(byName.get(live)!.createdAt).toBeInstanceOf(Date);
    expect(byName.get(dead)).toMatchObject({ creatorAlive: false, attachedPids: [], stale: true });
    expect(SharedPool.unlinkStale()).toContain(dead);
    const after = SharedPool.list().map((info) => info.name);
    expect(after).toContain(live);
    expect(after).not.toContain(dead);
  });

  test('unlinkOnExit removes the name when the creating process exits', () => {
    const name = uniqueName('exit');
    const { status } = inChild(`
      SharedPool.create({ size: ${MiB}, name: ${JSON.stringify(name)}, unlinkOnExit: true });
      console.log('{}');`);
    expect(status).toBe(0);
    expect(SharedPool.list().map((info) => info.name)).not.toContain(name);
    expectCode(() => SharedPool.create({ size: MiB, unlinkOnExit: 1 as never }), 'ERR_INVALID_ARG_TYPE', TypeError);
  });
});

describe('misuse gets coded errors', () => {
  test('an object inheriting from a view, and an array as options', async () => {
    const { TlsfPool, RegionPool, HeapPool } = await import('../lib/index.js');
    using tlsf = new TlsfPool({ size: MiB });
    const view = tlsf.alloc(10);
    expectCode(() => tlsf.free(Object.create(view)), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => new RegionPool([] as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => new HeapPool([] as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => SharedPool.create([] as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => SharedPool.open('/x', { lockTimeout: -1 }), 'ERR_OUT_OF_RANGE', RangeError);
  });
});
