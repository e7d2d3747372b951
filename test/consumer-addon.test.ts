// The example consumer addon (examples/consumer-addon): built with node-gyp in a
// temporary project whose node_modules/mempools holds what the package ships
// for addons (package.json, gyp.js, native/), the way `npm install` lays it
// out, so its binding.gyp resolves `require('mempools/gyp').targets` for real.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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

let project = '';
let consumer: ConsumerAddon;

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
  const nodeGyp = path.join(path.dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');
  const build = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${process.env.npm_config_nodedir ?? '/usr'}`], {
    cwd: project,
    encoding: 'utf8',
    timeout: 240_000,
  });
  expect(build.status, `${build.stdout}\n${build.stderr}`).toBe(0);
  consumer = require(path.join(project, 'index.js')) as ConsumerAddon;
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

  // Needs `nativeHandle` and `viewOf` on the pools (native/mempools.h).
  it.todo('fill(tlsfPool.nativeHandle, size, byte, cb) fills on a worker thread; tlsfPool.viewOf({ chunk, offset }, size) reads the bytes without a copy');
  it.todo('the same for a HeapPool and a SharedPool (chunk 0, offset = the view byteOffset)');
  it.todo('a threadSafe TlsfPool / HeapPool is allocated from on the worker thread while JavaScript allocates too');
  it.todo('free(nativeHandle, block) gives the block back (stats drop); freeing it again or through another pool is ERR_INVALID_ARG_VALUE');
  it.todo('fill or free after pool.destroy() fails with ERR_MEMPOOLS_STATUS (status MEMPOOLS_ERR_DESTROYED), no crash');
  it.todo('fill beyond a fixed pool\'s room calls back ERR_MEMPOOLS_STATUS (status MEMPOOLS_ERR_NOMEM)');
  it.todo('fill and free with arguments of the wrong type or range throw ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE');
});
