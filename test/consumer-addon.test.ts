// The example consumer addon (examples/consumer-addon): built with node-gyp in a
// temporary project whose node_modules/mempools holds what the package ships
// for addons (package.json, gyp.js, native/), the way `npm install` lays it
// out, so its binding.gyp resolves `require('mempools/gyp').targets` for real.
// fill() and free() run against the real pools' `nativeHandle`; a stand-in
// handle (test/helpers/fake_pool.c, built against
// `require('mempools/gyp').include_dir`) covers what a real pool cannot show
// (another ABI version), and test/helpers/handle_probe.c calls a handle from
// threads of its own (off-thread calls, a concurrent churn, a pin held across
// destroy()).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { HeapPool, RegionPool, SharedPool, TlsfPool } from '../lib/index.js';
import { expectCode, mulberry32 } from './helpers/pool.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const { gypEnv } = require('../install.js') as { gypEnv: () => { env: NodeJS.ProcessEnv; nodedir?: string } };

interface Report {
  checksum: number;
  live: number;
  check: string | null;
}

interface ConsumerAddon {
  tlsfChecksum(count: number, seed: number): Report;
  heapChecksum(count: number, seed: number): Report;
  fill(
    nativeHandle: unknown,
    size: number,
    byte: number,
    callback: (error: Error | null, result: unknown) => void,
  ): void;
  free(nativeHandle: unknown, block: unknown): void;
  results(nativeHandle: unknown, size: number, where: Float64Array): number;
}

interface Where {
  chunk: number;
  offset: number;
}

interface HandleProbe {
  offThread(handle: object, size: number): { alloc: number; retain: number; chunk?: number; offset?: number };
  startChurn(handle: object, count: number, size: number): void;
  joinChurn(): { allocated: number; freed: number; failed: number };
  startPinned(handle: object, size: number, byte: number): Where & { address: number };
  openGate(): boolean;
  onThisThread(handle: object, size: number): Record<CallName, number>;
}
type CallName = 'alloc' | 'usableSize' | 'handleOf' | 'pointerOf' | 'realloc' | 'free' | 'retain';
const CALLS: CallName[] = ['alloc', 'usableSize', 'handleOf', 'pointerOf', 'realloc', 'free', 'retain'];

const MEMPOOLS_ERR_INVALID = -2;
const MEMPOOLS_ERR_DESTROYED = -3;
const MEMPOOLS_ERR_WRONG_THREAD = -4;
const MEMPOOLS_ERR_UNSUPPORTED = -5;

interface FakePool {
  makeHandle(options?: { size?: number; threadSafe?: boolean; abiVersion?: number }): object;
  destroy(handle: object): void;
  stats(handle: object): { live: number; used: number; workerAllocs: number };
  read(handle: object, offset: number, size: number): Buffer;
}

type Filled = Where;

const HELPERS_GYP = `{
  'target_defaults': {
    'include_dirs': ["<!(node -p \\"require('mempools/gyp').include_dir\\")"],
    'defines': ['NAPI_VERSION=8'],
    'cflags_c': ['-std=c11', '-D_GNU_SOURCE'],
  },
  'targets': [
    { 'target_name': 'fake_pool', 'sources': ['fake_pool.c'] },
    { 'target_name': 'handle_probe', 'sources': ['handle_probe.c'] },
  ],
}
`;

let project = '';
let consumer: ConsumerAddon;
let fake: FakePool;
let probe: HandleProbe;

function nodeGyp(cwd: string): void {
  const bin = path.join(path.dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');
  // the running Node's own headers when beside it, as the package's own build (install.js)
  const { env, nodedir } = gypEnv();
  const build = spawnSync(process.execPath, [bin, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])], {
    cwd,
    env,
    encoding: 'utf8',
    timeout: 240_000,
  });
  expect(build.status, `${build.stdout}\n${build.stderr}`).toBe(0);
}

function fill(handle: unknown, size: number, byte: number): Promise<Filled> {
  return new Promise((resolve, reject) => {
    consumer.fill(handle, size, byte, (error, result) => (error ? reject(error) : resolve(result as Filled)));
  });
}

/** What a consumer.free() call threw: its code and mempools status. */
function freeError(handle: unknown, block: unknown): (Error & { code?: string; status?: number }) | undefined {
  try {
    consumer.free(handle, block);
  } catch (error) {
    return error as Error & { code?: string; status?: number };
  }
  return undefined;
}

/** Whether `address` lies in a mapping of this process (/proc/self/maps). */
function isMapped(address: number): boolean {
  const maps = readFileSync('/proc/self/maps', 'utf8');
  return maps.split('\n').some((line) => {
    const match = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    return match !== null && address >= parseInt(match[1]!, 16) && address < parseInt(match[2]!, 16);
  });
}

/** The rejection of `promise` (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string; status?: number };
  }
  throw new Error('expected a rejection');
}

beforeAll(() => {
  project = mkdtempSync(path.join(os.tmpdir(), 'mempools-consumer-'));
  for (const entry of ['binding.gyp', 'package.json', 'index.js', 'src']) {
    cpSync(path.join(root, 'examples', 'consumer-addon', entry), path.join(project, entry), { recursive: true });
  }
  const installed = path.join(project, 'node_modules', 'mempools');
  mkdirSync(installed, { recursive: true });
  for (const entry of ['package.json', 'gyp.js', 'gyp.d.ts', 'native']) {
    cpSync(path.join(root, entry), path.join(installed, entry), { recursive: true });
  }
  nodeGyp(project);
  consumer = require(path.join(project, 'index.js')) as ConsumerAddon;
  const helpers = path.join(project, 'helpers');
  mkdirSync(helpers);
  for (const file of ['fake_pool.c', 'handle_probe.c']) {
    cpSync(path.join(root, 'test', 'helpers', file), path.join(helpers, file));
  }
  writeFileSync(path.join(helpers, 'binding.gyp'), HELPERS_GYP);
  nodeGyp(helpers);
  fake = require(path.join(helpers, 'build', 'Release', 'fake_pool.node')) as FakePool;
  probe = require(path.join(helpers, 'build', 'Release', 'handle_probe.node')) as HandleProbe;
}, 300_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

/** FNV-1a (32 bit) of the blocks src/consumer.c fills: block i has 1 + (i*97 + seed) % 2000 bytes of (i*31 + seed) & 255. */
function expectedChecksum(count: number, seed: number): number {
  let hash = 2166136261;
  for (let i = 0; i < count; i++) {
    const size = 1 + ((i * 97 + seed) % 2000);
    const byte = (i * 31 + seed) & 255;
    for (let n = 0; n < size; n++) hash = Math.imul(hash ^ byte, 16777619) >>> 0;
  }
  return hash;
}

describe('the C allocators compiled into another addon', () => {
  it('a TLSF pool made in C serves, keeps apart and takes back 1000 blocks', () => {
    for (const seed of [0, 7, 123456]) {
      expect(consumer.tlsfChecksum(1000, seed)).toEqual({
        checksum: expectedChecksum(1000, seed),
        live: 0,
        check: null,
      });
    }
  });

  it('a heap pool made in C does the same', () => {
    for (const seed of [0, 7, 123456]) {
      expect(consumer.heapChecksum(1000, seed)).toEqual({
        checksum: expectedChecksum(1000, seed),
        live: 0,
        check: null,
      });
    }
  });

  it('bad counts are refused before any allocation', () => {
    expectCode(() => consumer.tlsfChecksum(1001, 0), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => consumer.heapChecksum(-1, 0), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => consumer.tlsfChecksum(Number.NaN, 0), 'ERR_OUT_OF_RANGE', RangeError);
  });
});

describe('the ABI against a stand-in handle (test/helpers/fake_pool.c)', () => {
  it('anything but a nativeHandle is a TypeError with code ERR_MEMPOOLS_HANDLE, and nothing is called back', () => {
    using pool = new TlsfPool({ size: 4096 });
    const callback = (): void => {
      throw new Error('fill called back for a bad handle');
    };
    for (const notAHandle of [undefined, null, 0, 'handle', {}, pool, pool.alloc(16)]) {
      expectCode(() => consumer.fill(notAHandle, 16, 1, callback), 'ERR_MEMPOOLS_HANDLE', TypeError);
      expectCode(() => consumer.free(notAHandle, {}), 'ERR_MEMPOOLS_HANDLE', TypeError);
    }
  });

  it('a handle of another ABI version is refused with ERR_MEMPOOLS_HANDLE', () => {
    const handle = fake.makeHandle({ abiVersion: 2 });
    let caught: (Error & { code?: string }) | undefined;
    try {
      consumer.fill(handle, 16, 1, () => undefined);
    } catch (error) {
      caught = error as Error & { code?: string };
    }
    expect(caught).toBeInstanceOf(TypeError);
    expect(caught?.code).toBe('ERR_MEMPOOLS_HANDLE');
    expect(caught?.message).toMatch(/ABI version/);
  });

  it('fill allocates on the JavaScript thread from a pool that is not thread-safe, fills on a worker, calls back { chunk, offset, block }', async () => {
    const handle = fake.makeHandle();
    const first = await fill(handle, 100, 0xab);
    const second = await fill(handle, 10, 0x5c);
    expect(first.chunk).toBe(0);
    expect(second.offset).toBeGreaterThanOrEqual(first.offset + 100);
    expect([...fake.read(handle, first.offset, 100)].every((byte) => byte === 0xab)).toBe(true);
    expect([...fake.read(handle, second.offset, 10)].every((byte) => byte === 0x5c)).toBe(true);
    expect(fake.stats(handle)).toMatchObject({ live: 2, workerAllocs: 0 });
  });

  it('fill allocates on the worker thread from a thread-safe pool; concurrent fills get distinct blocks', async () => {
    const handle = fake.makeHandle({ threadSafe: true });
    const filled = await Promise.all(Array.from({ length: 16 }, (_, i) => fill(handle, 64, i)));
    expect(new Set(filled.map((result) => result.offset)).size).toBe(16);
    filled.forEach((result, i) => {
      expect([...fake.read(handle, result.offset, 64)].every((byte) => byte === i)).toBe(true);
    });
    expect(fake.stats(handle)).toMatchObject({ live: 16, workerAllocs: 16 });
  });

  it('free gives the block back once; again, or through another pool, is MEMPOOLS_ERR_INVALID', async () => {
    const handle = fake.makeHandle();
    const other = fake.makeHandle();
    const where = await fill(handle, 32, 1);
    expect(freeError(other, where)).toMatchObject({ code: 'ERR_MEMPOOLS_STATUS', status: MEMPOOLS_ERR_INVALID });
    consumer.free(handle, where);
    expect(fake.stats(handle).live).toBe(0);
    expect(freeError(handle, where)).toMatchObject({ code: 'ERR_MEMPOOLS_STATUS', status: MEMPOOLS_ERR_INVALID });
    expectCode(() => consumer.free(handle, {}), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => consumer.free(handle, { chunk: 0, offset: -1 }), 'ERR_OUT_OF_RANGE', RangeError);
  });

  it('a full pool calls back ERR_MEMPOOLS_STATUS with MEMPOOLS_ERR_NOMEM', async () => {
    for (const threadSafe of [false, true]) {
      const handle = fake.makeHandle({ size: 64, threadSafe });
      const error = await rejection(fill(handle, 100, 1));
      expect(error.code).toBe('ERR_MEMPOOLS_STATUS');
      expect(error.status).toBe(-1);
      expect(error.message).toMatch(/^MEMPOOLS_ERR_NOMEM/);
      expect(fake.stats(handle).live).toBe(0);
    }
  });

  it('after the pool is destroyed, fill calls back and free throws MEMPOOLS_ERR_DESTROYED', async () => {
    const handle = fake.makeHandle();
    const where = await fill(handle, 8, 1);
    fake.destroy(handle);
    const error = await rejection(fill(handle, 8, 1));
    expect(error.code).toBe('ERR_MEMPOOLS_STATUS');
    expect(error.status).toBe(MEMPOOLS_ERR_DESTROYED);
    expect(freeError(handle, where)).toMatchObject({ code: 'ERR_MEMPOOLS_STATUS', status: MEMPOOLS_ERR_DESTROYED });
  });

  it('fill with arguments of the wrong type or range throws before allocating', () => {
    const handle = fake.makeHandle();
    const callback = (): void => undefined;
    expectCode(() => consumer.fill(handle, -1, 0, callback), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => consumer.fill(handle, 1.5, 0, callback), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => consumer.fill(handle, 1, 256, callback), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => consumer.fill(handle, '1', 0, callback), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => consumer.fill(handle, 1, 0, 'callback' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expect(fake.stats(handle).live).toBe(0);
  });
});

/** The pool kinds an addon allocates from through nativeHandle, as the tests make them. */
interface ViewingPool {
  readonly nativeHandle: object;
  viewOf(where: Where, length: number): Buffer;
  alloc(size: number): Buffer;
  free(buf: Buffer): void;
  stats(): { used: number; allocations: number };
  destroy(): void;
}

const kinds: [string, (threadSafe?: boolean) => ViewingPool][] = [
  ['TlsfPool', (threadSafe = false) => new TlsfPool({ size: 1 << 20, threadSafe })],
  ['HeapPool', (threadSafe = false) => new HeapPool({ threadSafe })],
  ['RegionPool', () => new RegionPool({ blockSize: 16384 })],
  // always thread-safe (the segment's allocator mutex); chunk 0, offset = the area offset
  ['SharedPool', () => SharedPool.create({ size: 4 << 20 })],
];

/** The kinds that can be thread-safe. */
const threadSafeKinds = kinds.filter(([name]) => name !== 'RegionPool');

describe.each(kinds)('%s through its nativeHandle', (_name, make) => {
  it('results: many blocks made in the pool, (chunk, offset) pairs in a Float64Array; viewOf shows them, free(view) gives them back', () => {
    const pool = make();
    const before = pool.stats();
    const where = new Float64Array(2 * 20);
    expect(consumer.results(pool.nativeHandle, 300, where)).toBe(20);
    expect(pool.stats().allocations).toBe(before.allocations + 20);
    const views = [];
    for (let i = 0; i < 20; i++) {
      const view = pool.viewOf({ chunk: where[2 * i], offset: where[2 * i + 1] }, 300);
      expect(view.every((byte) => byte === i)).toBe(true);
      views.push(view);
    }
    for (const view of views) pool.free(view);
    expect(pool.stats()).toMatchObject({ allocations: before.allocations, used: before.used });
    expect(() => consumer.results(pool.nativeHandle, 300, [] as unknown as Float64Array)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    pool.destroy();
    expect(() => consumer.results(pool.nativeHandle, 300, where)).toThrow(
      expect.objectContaining({ code: 'ERR_MEMPOOLS_STATUS', status: MEMPOOLS_ERR_DESTROYED }),
    );
  });

  it('fill allocates, fills on a worker thread; viewOf shows the bytes without a copy; free(view) takes the block back', async () => {
    const pool = make();
    const before = pool.stats();
    const where = await fill(pool.nativeHandle, 100, 0xab);
    expect(pool.stats().allocations).toBe(before.allocations + 1);
    expect(pool.stats().used).toBeGreaterThanOrEqual(before.used + 100);
    const view = pool.viewOf(where, 100);
    expect(Buffer.isBuffer(view)).toBe(true);
    expect([...view].every((byte) => byte === 0xab)).toBe(true);
    // Zero-copy: a view over the chunk's external ArrayBuffer (one per chunk, not per view),
    // so a write through one view is what another view of the block reads.
    const again = pool.viewOf(where, 1);
    expect(again.buffer === view.buffer).toBe(true);
    expect(view.buffer.byteLength).toBeGreaterThan(100);
    view[0] = 1;
    expect(again[0]).toBe(1);
    pool.free(view);
    expect(pool.stats()).toMatchObject({ allocations: before.allocations, used: before.used });
    expect(freeError(pool.nativeHandle, where)).toMatchObject({
      code: 'ERR_MEMPOOLS_STATUS',
      status: MEMPOOLS_ERR_INVALID,
    });
    pool.destroy();
  });

  it('viewOf refuses what is not a live block the addon holds, or a length past it', async () => {
    const pool = make();
    const where = await fill(pool.nativeHandle, 40, 1);
    expectCode(() => pool.viewOf(where, 4096), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.viewOf({ chunk: where.chunk, offset: where.offset + 8 }, 1), 'ERR_POOL_FOREIGN_BUFFER');
    expectCode(() => pool.viewOf({ chunk: 63, offset: 0 }, 1), 'ERR_POOL_FOREIGN_BUFFER');
    expectCode(() => pool.viewOf({ chunk: -1, offset: 0 }, 1), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.viewOf(null as never, 1), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => pool.viewOf(where, -1), 'ERR_OUT_OF_RANGE', RangeError);
    consumer.free(pool.nativeHandle, where);
    expect(() => pool.viewOf(where, 1)).toThrow(/freed|not a live/);
    pool.destroy();
    expectCode(() => pool.viewOf(where, 1), 'ERR_POOL_DESTROYED');
  });

  it('free(pool.nativeHandle, block) gives the block back: stats drop to where they were', async () => {
    const pool = make();
    const before = pool.stats();
    const filled = await Promise.all([fill(pool.nativeHandle, 24, 1), fill(pool.nativeHandle, 3000, 2)]);
    expect(pool.stats().allocations).toBe(before.allocations + 2);
    for (const where of filled) consumer.free(pool.nativeHandle, where);
    expect(pool.stats()).toMatchObject({ allocations: before.allocations, used: before.used });
    pool.destroy();
  });

  it('after destroy(), fill calls back and free throws MEMPOOLS_ERR_DESTROYED, no crash', async () => {
    const pool = make();
    const handle = pool.nativeHandle;
    const where = await fill(handle, 8, 1);
    pool.destroy();
    expect(pool.nativeHandle).toBe(handle);
    const error = await rejection(fill(handle, 8, 1));
    expect(error).toMatchObject({ code: 'ERR_MEMPOOLS_STATUS', status: MEMPOOLS_ERR_DESTROYED });
    expect(freeError(handle, where)).toMatchObject({ code: 'ERR_MEMPOOLS_STATUS', status: MEMPOOLS_ERR_DESTROYED });
  });

  it('a pool that is not thread-safe refuses calls from another thread with MEMPOOLS_ERR_WRONG_THREAD', () => {
    const pool = make();
    const before = pool.stats();
    const made = probe.offThread(pool.nativeHandle, 64);
    if (pool instanceof SharedPool) {
      // always thread-safe: served, and the block is the segment's like any other
      expect(made).toMatchObject({ alloc: 0, retain: 0, chunk: 0 });
      expect(pool.stats().allocations).toBe(before.allocations + 1);
      pool.free(pool.viewOf({ chunk: 0, offset: made.offset! }, 64));
    } else {
      expect(made).toMatchObject({ alloc: MEMPOOLS_ERR_WRONG_THREAD, retain: MEMPOOLS_ERR_WRONG_THREAD });
    }
    expect(pool.stats()).toMatchObject({ allocations: before.allocations, used: before.used });
    pool.destroy();
  });

  it('a real handle cannot be forged: copies, wrappers and assignments are refused', () => {
    const pool = make();
    const handle = pool.nativeHandle;
    const callback = (): void => undefined;
    for (const forged of [Object.create(handle) as object, { ...handle }, [handle], new Proxy(handle, {})]) {
      expectCode(() => consumer.fill(forged, 8, 0, callback), 'ERR_MEMPOOLS_HANDLE', TypeError);
    }
    expect(() => {
      (pool as { nativeHandle: object }).nativeHandle = {};
    }).toThrow(TypeError);
    expect(pool.nativeHandle).toBe(handle);
    pool.destroy();
  });
});

describe.each(threadSafeKinds)('a threadSafe %s', (_name, make) => {
  it('fill allocates on the worker thread; concurrent fills get distinct blocks with their bytes', async () => {
    const pool = make(true);
    const filled = await Promise.all(Array.from({ length: 16 }, (_, i) => fill(pool.nativeHandle, 64, i)));
    expect(new Set(filled.map((where) => `${where.chunk}:${where.offset}`)).size).toBe(16);
    filled.forEach((where, i) => expect([...pool.viewOf(where, 64)].every((byte) => byte === i)).toBe(true));
    expect(pool.stats().allocations).toBe(16);
    if (pool instanceof SharedPool) expect(filled.every((where) => where.chunk === 0)).toBe(true);
    pool.destroy();
  });

  it('another thread allocates and frees while JavaScript does; the stats are exact at the end', () => {
    const pool = make(true);
    const held: Buffer[] = [];
    probe.startChurn(pool.nativeHandle, 6000, 48);
    for (let i = 0; i < 6000; i++) {
      const buf = pool.alloc(16 + (i % 7) * 40);
      buf.fill(i & 0xff);
      if (i % 3 === 0) held.push(buf);
      else pool.free(buf);
    }
    const churn = probe.joinChurn();
    expect(churn.failed).toBe(0);
    expect(churn.allocated).toBe(6000);
    const addonLive = churn.allocated - churn.freed;
    expect(pool.stats().allocations).toBe(held.length + addonLive);
    (pool as unknown as { check(): void }).check();
    for (const buf of held) pool.free(buf);
    expect(pool.stats().allocations).toBe(addonLive);
    pool.destroy();
  });

  it('a block another thread allocated is viewed and freed from JavaScript (SharedPool: offsetOf(view) is its offset)', () => {
    const pool = make(true);
    const made = probe.offThread(pool.nativeHandle, 256);
    expect(made).toMatchObject({ alloc: 0, retain: 0 });
    const view = pool.viewOf({ chunk: made.chunk!, offset: made.offset! }, 256);
    expect(pool.stats().allocations).toBe(1);
    if (pool instanceof SharedPool) expect(pool.offsetOf(view)).toBe(made.offset);
    pool.free(view);
    expect(pool.stats()).toMatchObject({ allocations: 0, used: 0 });
    pool.destroy();
  });
});

describe('destroy() while a worker holds a pin', () => {
  it('keeps the views; the memory goes only when the last pin and the last view are gone', () => {
    const pool = new TlsfPool({ size: 3 * 1024 * 1024 + 12288 });
    const pinned = probe.startPinned(pool.nativeHandle, 1 << 20, 0x5a);
    const view = pool.viewOf(pinned, 1 << 20);
    pool.destroy();
    expect(view.byteLength).toBe(1 << 20);
    expect(isMapped(pinned.address)).toBe(true);
    expect(probe.openGate()).toBe(true); // the worker writes 1 MiB into it, then releases
    expect(view[(1 << 20) - 1]).toBe(0x5a); // still mapped: the view holds it
    expect(isMapped(pinned.address)).toBe(true);
    expect(pool.stats()).toMatchObject({ destroyed: true, heldChunks: 1 });
  });

  it('unsafeDetachViews: detaches the views at once; the worker still writes its block; the memory goes at the last release', () => {
    // An odd region size, so its mapping is told apart in /proc/self/maps.
    const pool = new TlsfPool({ size: 3 * 1024 * 1024 + 4096 });
    const pinned = probe.startPinned(pool.nativeHandle, 1 << 20, 0x5a);
    const view = pool.viewOf(pinned, 1 << 20);
    const own = pool.alloc(64);
    expect(isMapped(pinned.address)).toBe(true);
    pool.destroy({ unsafeDetachViews: true });
    expect(view.byteLength).toBe(0);
    expect(own.byteLength).toBe(0);
    expect(probe.offThread(pool.nativeHandle, 8).alloc).toBe(MEMPOOLS_ERR_WRONG_THREAD);
    expect(isMapped(pinned.address)).toBe(true); // pinned: still mapped after destroy()
    expect(probe.openGate()).toBe(true); // the worker writes 1 MiB into it, then releases
    expect(isMapped(pinned.address)).toBe(false); // the last release unmapped it
  });

  it('calls through the handle after destroy() fail with MEMPOOLS_ERR_DESTROYED, from any thread of a threadSafe pool', () => {
    const pool = new TlsfPool({ size: 65536, threadSafe: true });
    const handle = pool.nativeHandle;
    pool.destroy();
    expect(probe.offThread(handle, 8)).toMatchObject({ alloc: MEMPOOLS_ERR_DESTROYED, retain: MEMPOOLS_ERR_DESTROYED });
    expect(() => probe.startPinned(handle, 8, 0)).toThrow(/MEMPOOLS_ERR_DESTROYED/);
  });

  it('a pool that is not thread-safe: every call from its own thread after destroy() is MEMPOOLS_ERR_DESTROYED (pinned or not)', () => {
    // On its own thread such a pool's calls take no lock: destroy() runs on
    // that thread too, so the thread test and the destroyed flag decide.
    for (const make of [() => new TlsfPool({ size: 65536 }), () => new HeapPool(), () => new RegionPool()]) {
      const pool = make();
      const handle = pool.nativeHandle;
      expect(Object.values(probe.onThisThread(handle, 32))).toEqual(CALLS.map(() => 0)); // live: every call served
      const before = pool.stats();
      pool.destroy();
      const after = probe.onThisThread(handle, 32);
      expect(after).toEqual(Object.fromEntries(CALLS.map((c) => [c, MEMPOOLS_ERR_DESTROYED])));
      expect(before.allocations).toBe(0);
    }
    const pinnedPool = new TlsfPool({ size: 65536 });
    const pinned = probe.startPinned(pinnedPool.nativeHandle, 64, 3);
    pinnedPool.destroy({ unsafeDetachViews: true }); // the memory stays for the pin; the calls are refused all the same
    expect(probe.onThisThread(pinnedPool.nativeHandle, 32)).toMatchObject({
      alloc: MEMPOOLS_ERR_DESTROYED,
      free: MEMPOOLS_ERR_DESTROYED,
      retain: MEMPOOLS_ERR_DESTROYED,
    });
    expect(probe.openGate()).toBe(true);
    expect(isMapped(pinned.address)).toBe(false);
  });

  it('a HeapPool child destroyed through its parent: every call through its handle is MEMPOOLS_ERR_DESTROYED', () => {
    // The parent has no nativeHandle, so the C pool destroys the child with it
    // (heap_pool_destroy's cascade), which marks the child's handle.
    const parent = new HeapPool();
    const child = new HeapPool({ parent });
    const handle = child.nativeHandle;
    // live: every call served but retain (a child cannot be pinned)
    expect(probe.onThisThread(handle, 32)).toEqual(
      Object.fromEntries(CALLS.map((c) => [c, c === 'retain' ? MEMPOOLS_ERR_UNSUPPORTED : 0])),
    );
    parent.destroy();
    expect(child.destroyed).toBe(true);
    expect(probe.onThisThread(handle, 32)).toEqual(Object.fromEntries(CALLS.map((c) => [c, MEMPOOLS_ERR_DESTROYED])));
    const safeParent = new HeapPool({ threadSafe: true });
    const safeChild = new HeapPool({ parent: safeParent });
    const safeHandle = safeChild.nativeHandle;
    expect(probe.offThread(safeHandle, 32)).toMatchObject({ alloc: 0 });
    safeParent.destroy();
    expect(probe.offThread(safeHandle, 32)).toMatchObject({ alloc: MEMPOOLS_ERR_DESTROYED });
    expect(probe.onThisThread(safeHandle, 32)).toEqual(
      Object.fromEntries(CALLS.map((c) => [c, MEMPOOLS_ERR_DESTROYED])),
    );
  });

  it('a pool dropped without destroy() while pinned keeps its memory until the release', () => {
    let pool: TlsfPool | undefined = new TlsfPool({ size: 3 * 1024 * 1024 + 8192 });
    const pinned = probe.startPinned(pool.nativeHandle, 4096, 7);
    pool.destroy({ unsafeDetachViews: true }); // (the pool's own region buffer is not garbage yet)
    pool = undefined;
    expect(probe.openGate()).toBe(true);
    expect(isMapped(pinned.address)).toBe(false);
  });

  it('a HeapPool family: a child cannot be pinned; a pinned root destroyed with a live child keeps both views', () => {
    const root = new HeapPool();
    const child = new HeapPool({ parent: root });
    expect(() => probe.startPinned(child.nativeHandle, 64, 1)).toThrow(/MEMPOOLS_ERR_UNSUPPORTED/);
    const pinned = probe.startPinned(root.nativeHandle, 4096, 0x33);
    const view = root.viewOf(pinned, 4096);
    const childView = child.alloc(100);
    childView.fill(8);
    root.destroy();
    expect(child.destroyed).toBe(true);
    expect(view.byteLength).toBe(4096);
    expect(childView.byteLength).toBe(100);
    expect(probe.openGate()).toBe(true); // wrote 4 KiB into the pinned root's block, then released
    expect(view[4095]).toBe(0x33);
    expect(childView[99]).toBe(8);
  });

  it('a SharedPool closed (unsafeDetachViews) while pinned: its views and its HeapPools go at once, the mapping at the last release', () => {
    const pool = SharedPool.create({ size: 5 * 1024 * 1024 + 3 * 65536 });
    const heap = new HeapPool({ parent: pool });
    const heapView = heap.alloc(64);
    expect(() => probe.startPinned(heap.nativeHandle, 64, 1)).toThrow(/MEMPOOLS_ERR_UNSUPPORTED/);
    const pinned = probe.startPinned(pool.nativeHandle, 1 << 20, 0x77);
    expect(pinned.chunk).toBe(0);
    const view = pool.viewOf(pinned, 1 << 20);
    pool.close({ unsafeDetachViews: true });
    expect(view.byteLength).toBe(0);
    expect(heap.destroyed).toBe(true);
    expect(heapView.byteLength).toBe(0);
    expect(isMapped(pinned.address)).toBe(true);
    expect(probe.openGate()).toBe(true);
    expect(isMapped(pinned.address)).toBe(false);
  });

  it("a SharedPool closed while pinned keeps its views and its HeapPools' views; the mapping outlives the release", () => {
    const pool = SharedPool.create({ size: 5 * 1024 * 1024 + 5 * 65536 });
    const heap = new HeapPool({ parent: pool });
    const heapView = heap.alloc(64).fill(3);
    const pinned = probe.startPinned(pool.nativeHandle, 1 << 20, 0x77);
    const view = pool.viewOf(pinned, 1 << 20);
    pool.close();
    expect(heap.destroyed).toBe(true);
    expect(heapView[63]).toBe(3);
    expect(probe.openGate()).toBe(true);
    expect(view[(1 << 20) - 1]).toBe(0x77);
    expect(isMapped(pinned.address)).toBe(true); // views still reach it
    expect(pool.stats()).toMatchObject({ destroyed: true, heldChunks: 1 });
  });
});

describe('whose blocks, and the options', () => {
  it('an addon cannot free a block JavaScript holds or keeps in its free-list cache (TlsfPool); check() stays exact', async () => {
    const pool = new TlsfPool({ size: 1 << 20 });
    const held = pool.alloc(64);
    const cached = pool.alloc(64);
    pool.free(cached); // parked in the JavaScript cache, still allocated in C
    for (const view of [held, cached]) {
      expect(freeError(pool.nativeHandle, { chunk: 0, offset: view.byteOffset })).toMatchObject({
        status: MEMPOOLS_ERR_INVALID,
      });
    }
    const where = await fill(pool.nativeHandle, 64, 9);
    const view = pool.viewOf(where, 64);
    expect(pool.usableSize(view)).toBeGreaterThanOrEqual(64);
    pool.check();
    pool.free(view); // now JavaScript's (and maybe cached): the addon may not free it
    expect(freeError(pool.nativeHandle, where)).toMatchObject({ status: MEMPOOLS_ERR_INVALID });
    pool.check();
    expect(pool.stats()).toMatchObject({ allocations: 1 });
    pool.destroy();
  });

  it('a large HeapPool block an addon allocated is counted, viewed and freed exactly', async () => {
    const pool = new HeapPool();
    const before = pool.stats();
    const where = await fill(pool.nativeHandle, 3 << 20, 4);
    expect(pool.stats().largeBlocks).toBe(1);
    expect(pool.stats().used).toBeGreaterThanOrEqual(3 << 20);
    const view = pool.viewOf(where, 3 << 20);
    expect(view[(3 << 20) - 1]).toBe(4);
    pool.check();
    pool.free(view);
    expect(pool.stats()).toMatchObject({ used: before.used, allocations: before.allocations, largeBlocks: 0 });
    pool.check();
    pool.destroy();
  });

  it("threadSafe must be a boolean; a HeapPool child shares its parent's lock", () => {
    expectCode(() => new TlsfPool({ size: 4096, threadSafe: 1 as never }), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => new HeapPool({ threadSafe: 'yes' as never }), 'ERR_INVALID_ARG_TYPE', TypeError);
    const parent = new HeapPool({ threadSafe: true });
    expectCode(() => new HeapPool({ parent, threadSafe: false }), 'ERR_INVALID_ARG_VALUE', TypeError);
    const child = new HeapPool({ parent });
    expect(probe.offThread(child.nativeHandle, 32)).toMatchObject({ alloc: 0, retain: MEMPOOLS_ERR_UNSUPPORTED });
    expect(child.stats().allocations).toBe(1);
    parent.destroy();
  });
});

describe("SharedPool's nativeHandle cache (the addons' parked blocks)", () => {
  /** A pool and a second attachment of its segment: what another process would see. */
  function pair(): { pool: SharedPool; other: SharedPool } {
    const pool = SharedPool.create({ size: 4 << 20, cache: false });
    return { pool, other: SharedPool.fromFd(pool.fd, { cache: false }) };
  }

  it("a block an addon frees is parked and handed out again; this process's stats count it free, others' used", () => {
    const { pool, other } = pair();
    const baseline = other.stats().allocations;
    const where = new Float64Array(2 * 20);
    expect(consumer.results(pool.nativeHandle, 300, where)).toBe(20);
    const offsets = [];
    for (let i = 0; i < 20; i++) {
      offsets.push(where[2 * i + 1]);
      consumer.free(pool.nativeHandle, { chunk: 0, offset: where[2 * i + 1] });
    }
    expect(pool.stats().allocations).toBe(baseline);
    expect(other.stats().allocations).toBeGreaterThan(baseline + 20 - 1); // the parked blocks and the park list
    expect(consumer.results(pool.nativeHandle, 290, where)).toBe(20); // the same class: the parked blocks
    const again = [];
    for (let i = 0; i < 20; i++) again.push(where[2 * i + 1]);
    expect(new Set(again)).toEqual(new Set(offsets));
    for (const offset of again) consumer.free(pool.nativeHandle, { chunk: 0, offset });
    pool.flushCache();
    expect(other.stats().allocations).toBe(baseline);
    pool.close();
    other.close();
  });

  it('a parked block is a freed block: a second free, viewOf and free(view) are refused and change nothing', () => {
    const { pool, other } = pair();
    const where = new Float64Array(2);
    expect(consumer.results(pool.nativeHandle, 64, where)).toBe(1);
    const block = { chunk: 0, offset: where[1] };
    const view = pool.viewOf(block, 64);
    consumer.free(pool.nativeHandle, block);
    const before = other.stats();
    expect(freeError(pool.nativeHandle, block)).toMatchObject({ status: MEMPOOLS_ERR_INVALID });
    expect(() => pool.viewOf(block, 1)).toThrow(/freed|not a live/);
    expect(() => pool.free(view)).toThrow(expect.objectContaining({ code: 'ERR_POOL_DOUBLE_FREE' }));
    expect(other.stats()).toMatchObject({ allocations: before.allocations, used: before.used });
    pool.close();
    other.close();
  });

  it("a process that exits normally gives its addons' parked blocks back (no sweep needed)", () => {
    const pool = SharedPool.create({ size: 4 << 20, cache: false });
    const baseline = pool.stats().allocations;
    // the child inherits the segment's descriptor as fd 3
    const script = `
      const { SharedPool } = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
      const consumer = require(${JSON.stringify(path.join(project, 'index.js'))});
      const pool = SharedPool.fromFd(3);
      const where = new Float64Array(2 * 10);
      if (consumer.results(pool.nativeHandle, 100, where) !== 10) process.exit(2);
      for (let i = 0; i < 10; i++) consumer.free(pool.nativeHandle, { chunk: 0, offset: where[2 * i + 1] });
      if (pool.stats().allocations !== ${baseline}) process.exit(3);
      process.exit(0);`;
    const child = spawnSync(process.execPath, ['-e', script], { stdio: ['ignore', 'inherit', 'inherit', pool.fd] });
    expect(child.status).toBe(0);
    expect(pool.stats().allocations).toBe(baseline);
    pool.close();
  });

  it('close() gives the parked blocks back; a block JavaScript frees that the cache handed out is freed, not parked', () => {
    const { pool, other } = pair();
    const baseline = other.stats().allocations;
    const where = new Float64Array(2 * 3);
    expect(consumer.results(pool.nativeHandle, 100, where)).toBe(3);
    consumer.free(pool.nativeHandle, { chunk: 0, offset: where[1] });
    pool.free(pool.viewOf({ chunk: 0, offset: where[3] }, 100));
    expect(other.stats().allocations).toBe(baseline + 1 + 1 + 1); // one parked, one live, the park list
    pool.close();
    expect(other.stats().allocations).toBe(baseline + 1); // the block the addon still holds
    other.check();
    other.close();
  });
});

describe('RegionPool: JavaScript bumps its small allocations, an addon allocates through nativeHandle', () => {
  it('the addon never gets bytes JavaScript bumped, before or after, in random interleavings', () => {
    const random = mulberry32(0x5eed);
    const pool = new RegionPool({ blockSize: 4096 });
    const live: { view: Buffer; byte: number }[] = [];
    let allocations = 0;
    for (let round = 0; round < 400; round++) {
      const burst = Math.floor(random() * 20);
      for (let i = 0; i < burst; i++) {
        const byte = 100 + Math.floor(random() * 100);
        live.push({ view: pool.alloc(1 + Math.floor(random() * 120)).fill(byte), byte });
      }
      const count = 1 + Math.floor(random() * 4);
      const where = new Float64Array(2 * count);
      const size = 8 + Math.floor(random() * 200);
      expect(consumer.results(pool.nativeHandle, size, where)).toBe(count);
      for (let i = 0; i < count; i++) {
        live.push({ view: pool.viewOf({ chunk: where[2 * i]!, offset: where[2 * i + 1]! }, size), byte: i });
      }
      allocations += burst + count;
      if (random() < 0.3 && live.length > 0) {
        const [gone] = live.splice(Math.floor(random() * live.length), 1);
        pool.free(gone!.view);
        allocations--;
      }
      for (const { view, byte } of live) {
        if (!view.every((b) => b === byte)) throw new Error(`round ${round}: an allocation was overwritten`);
      }
      expect(pool.stats().allocations).toBe(allocations);
    }
    pool.check();
    pool.destroy();
  });
});
