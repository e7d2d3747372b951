// The example consumer addon (examples/consumer-addon): built with node-gyp in a
// temporary project whose node_modules/mempools holds what the package ships
// for addons (package.json, gyp.js, native/), the way `npm install` lays it
// out, so its binding.gyp resolves `require('mempools/gyp').targets` for real.
// Until the pools have `nativeHandle`, fill() and free() are driven through a
// stand-in handle (test/helpers/fake_pool.c, built against
// `require('mempools/gyp').include_dir`).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TlsfPool } from '../lib/index.js';
import { expectCode } from './helpers/pool.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

interface Report {
  checksum: number;
  live: number;
  check: string | null;
}

interface ConsumerAddon {
  tlsfChecksum(count: number, seed: number): Report;
  heapChecksum(count: number, seed: number): Report;
  fill(nativeHandle: unknown, size: number, byte: number, callback: (error: Error | null, result: unknown) => void): void;
  free(nativeHandle: unknown, block: unknown): void;
}

interface FakePool {
  makeHandle(options?: { size?: number; threadSafe?: boolean; abiVersion?: number }): object;
  destroy(handle: object): void;
  stats(handle: object): { live: number; used: number; workerAllocs: number };
  read(handle: object, offset: number, size: number): Buffer;
}

interface Filled {
  chunk: number;
  offset: number;
  block: object;
}

const FAKE_GYP = `{
  'targets': [{
    'target_name': 'fake_pool',
    'sources': ['fake_pool.c'],
    'include_dirs': ["<!(node -p \\"require('mempools/gyp').include_dir\\")"],
    'defines': ['NAPI_VERSION=8'],
    'cflags_c': ['-std=c11'],
  }],
}
`;

let project = '';
let consumer: ConsumerAddon;
let fake: FakePool;

function nodeGyp(cwd: string): void {
  const bin = path.join(path.dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');
  const build = spawnSync(process.execPath, [bin, 'rebuild', `--nodedir=${process.env.npm_config_nodedir ?? '/usr'}`], {
    cwd,
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
  const fakeDir = path.join(project, 'fake');
  mkdirSync(fakeDir);
  cpSync(path.join(root, 'test', 'helpers', 'fake_pool.c'), path.join(fakeDir, 'fake_pool.c'));
  writeFileSync(path.join(fakeDir, 'binding.gyp'), FAKE_GYP);
  nodeGyp(fakeDir);
  fake = require(path.join(fakeDir, 'build', 'Release', 'fake_pool.node')) as FakePool;
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
      expect(consumer.tlsfChecksum(1000, seed)).toEqual({ checksum: expectedChecksum(1000, seed), live: 0, check: null });
    }
  });

  it('a heap pool made in C does the same', () => {
    for (const seed of [0, 7, 123456]) {
      expect(consumer.heapChecksum(1000, seed)).toEqual({ checksum: expectedChecksum(1000, seed), live: 0, check: null });
    }
  });

  it('bad counts are refused before any allocation', () => {
    expectCode(() => consumer.tlsfChecksum(1001, 0), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => consumer.heapChecksum(-1, 0), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => consumer.tlsfChecksum(Number.NaN, 0), 'ERR_OUT_OF_RANGE', RangeError);
  });
});

describe('a live JavaScript pool through its nativeHandle', () => {
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

  it('free gives the block back once; again, or through another pool, is ERR_INVALID_ARG_VALUE', async () => {
    const handle = fake.makeHandle();
    const other = fake.makeHandle();
    const { block } = await fill(handle, 32, 1);
    expectCode(() => consumer.free(other, block), 'ERR_INVALID_ARG_VALUE', TypeError);
    consumer.free(handle, block);
    expect(fake.stats(handle).live).toBe(0);
    expectCode(() => consumer.free(handle, block), 'ERR_INVALID_ARG_VALUE', TypeError);
    expectCode(() => consumer.free(handle, {}), 'ERR_INVALID_ARG_TYPE', TypeError);
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
    const { block } = await fill(handle, 8, 1);
    fake.destroy(handle);
    const error = await rejection(fill(handle, 8, 1));
    expect(error.code).toBe('ERR_MEMPOOLS_STATUS');
    expect(error.status).toBe(-3);
    let caught: (Error & { code?: string; status?: number }) | undefined;
    try {
      consumer.free(handle, block);
    } catch (thrown) {
      caught = thrown as Error & { code?: string; status?: number };
    }
    expect(caught?.code).toBe('ERR_MEMPOOLS_STATUS');
    expect(caught?.status).toBe(-3);
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

  // Need `nativeHandle`, `viewOf` and `threadSafe` on the real pools (native/mempools.h).
  it.todo('fill(tlsfPool.nativeHandle, size, byte, cb) fills on a worker thread; tlsfPool.viewOf({ chunk, offset }, size) reads the bytes without a copy');
  it.todo('the same for a HeapPool and a SharedPool (chunk 0, offset = the view byteOffset)');
  it.todo('a threadSafe TlsfPool / HeapPool is allocated from on the worker thread while JavaScript allocates too');
  it.todo('free(pool.nativeHandle, block) gives the block back (pool.stats().allocations drops)');
  it.todo('fill or free after pool.destroy() fails with ERR_MEMPOOLS_STATUS (status MEMPOOLS_ERR_DESTROYED), no crash');
});
