// Misuse and garbage collection, each in a child process so that a crash
// (a signal, an abort) shows up as a failed test instead of killing vitest.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { expect, test } from 'vitest';

const POOL_CODES = ['ERR_POOL_CORRUPTED', 'ERR_POOL_DOUBLE_FREE', 'ERR_POOL_FOREIGN_BUFFER', 'ok'];

function runChild(script: string, nodeArgs: string[] = [], args: string[] = []): Record<string, unknown> {
  const file = fileURLToPath(new URL(`./helpers/${script}`, import.meta.url));
  const child = spawnSync(process.execPath, [...nodeArgs, file, ...args], { encoding: 'utf8', timeout: 120_000 });
  expect(child.signal, child.stderr).toBeNull();
  expect(child.status, child.stderr).toBe(0);
  return JSON.parse(child.stdout) as Record<string, unknown>;
}

/** Runs the GC child script (--expose-gc) for a pool kind and checks what it reports. */
function expectFreedByGc(kind: 'tlsf' | 'region' | 'heap'): void {
  const r = runChild('gc-child.js', ['--expose-gc'], [kind]);
  expect(r.viewSurvivesPool).toBe(true);
  expect(r.rssGrowthMiB as number).toBeLessThan(200);
  expect(r.keptAfterDestroy).toBe(true);
  expect(r.finished).toBe(true);
}

test('misuse never crashes the process and gets the right error codes', () => {
  const r = runChild('misuse-child.js', [], ['tlsf']);
  expect(r['free foreign Buffer']).toBe('ERR_POOL_FOREIGN_BUFFER');
  expect(r['free sub-view']).toBe('ERR_POOL_FOREIGN_BUFFER');
  expect(r['free other pool view']).toBe('ERR_POOL_FOREIGN_BUFFER');
  expect(r['free once']).toBe('ok');
  expect(r['free twice']).toBe('ERR_POOL_DOUBLE_FREE');
  expect(r['check after misuse']).toBe('ok');
  expect(r['next header is adjacent']).toBe(8);
  expect(r['check after overrun']).toBe('ERR_POOL_CORRUPTED');
  expect(r['check message']).toBe('has reason');
  // after the damage every call either works or reports a pool error, never crashes
  for (const name of ['free of the damaged neighbour', 'free before the damage', 'walk after corruption']) {
    expect(typeof r[name] === 'number' || POOL_CODES.includes(r[name] as string), `${name}: ${String(r[name])}`).toBe(
      true,
    );
  }
  expect(['ERR_POOL_CORRUPTED', 'ERR_POOL_EXHAUSTED']).toContain(r['alloc after corruption']);
  expect(['ERR_POOL_CORRUPTED', 'null']).toContain(r['tryAlloc after corruption']);
  expect(r['free after destroy']).toBe('ERR_POOL_DESTROYED');
  expect(r['read after destroy']).toBe('number'); // views keep their memory after destroy()
  expect(r['byteLength after destroy']).toBe(true);
  expect(r['destroy twice']).toBe('ok');
});

test('pools dropped without destroy are freed by GC; views keep memory alive; no double free', () => {
  expectFreedByGc('tlsf');
});

test('pools in terminated worker threads are torn down with their environment', () => {
  const r = runChild('worker-child.js');
  expect(r.intact).toBe(200); // views outlive destroy(); the environment's teardown frees them
  expect(r.mainPoolIntact).toBe(true);
});

test('RegionPool misuse never crashes the process and gets the right error codes', () => {
  const r = runChild('misuse-child.js', [], ['region']);
  expect(r).toEqual({
    'free foreign Buffer': 'ERR_POOL_FOREIGN_BUFFER',
    'free sub-view': 'ERR_POOL_FOREIGN_BUFFER',
    'free rebuilt view': 'ERR_POOL_FOREIGN_BUFFER',
    'free other pool view': 'ERR_POOL_FOREIGN_BUFFER',
    'free TLSF view': 'ERR_POOL_FOREIGN_BUFFER',
    'free once': 'ok',
    'free twice': 'ERR_POOL_DOUBLE_FREE',
    'free large once': 'ok',
    'free large twice': 'ERR_POOL_DOUBLE_FREE',
    'large kept on free': true,
    'check after overwriting a whole block': 'ok',
    'alloc after overwrite': 100,
    'free after overwrite': 'ok',
    'free stale after reset': 'ERR_POOL_FOREIGN_BUFFER',
    'free stale large after reset': 'ERR_POOL_FOREIGN_BUFFER',
    'stale large kept': true,
    'realloc stale': 'ERR_POOL_FOREIGN_BUFFER',
    'fresh at the stale offset': true,
    'free stale again': 'ERR_POOL_FOREIGN_BUFFER',
    'free fresh': 'ok',
    'check after misuse': 'ok',
    'free after destroy': 'ERR_POOL_DESTROYED',
    'alloc after destroy': 'ERR_POOL_DESTROYED',
    'read after destroy': 'number',
    'byteLength after destroy': true,
    'write after destroy': 1,
    'destroy twice': 'ok',
  });
});

test('RegionPools dropped without destroy are freed by GC; views keep their chunk alive', () => {
  expectFreedByGc('region');
});

test('HeapPool misuse never crashes the process and gets the right error codes', () => {
  const r = runChild('misuse-child.js', [], ['heap']);
  expect(r).toEqual({
    'free foreign Buffer': 'ERR_POOL_FOREIGN_BUFFER',
    'free sub-view': 'ERR_POOL_FOREIGN_BUFFER',
    'free rebuilt view': 'ERR_POOL_FOREIGN_BUFFER',
    'free other pool view': 'ERR_POOL_FOREIGN_BUFFER',
    'free TLSF view': 'ERR_POOL_FOREIGN_BUFFER',
    'free child view through parent': 'ERR_POOL_FOREIGN_BUFFER',
    'free parent view through child': 'ERR_POOL_FOREIGN_BUFFER',
    'free once': 'ok',
    'free twice': 'ERR_POOL_DOUBLE_FREE',
    'free large once': 'ok',
    'free large twice': 'ERR_POOL_DOUBLE_FREE',
    'large kept on free': true,
    'check after overwriting a whole chunk': 'ok',
    'alloc after overwrite': 100,
    'free after overwrite': 'ok',
    'check after misuse': 'ok',
    'child destroyed with parent': true,
    'child view kept': true,
    'free after destroy': 'ERR_POOL_DESTROYED',
    'child free after destroy': 'ERR_POOL_DESTROYED',
    'alloc after destroy': 'ERR_POOL_DESTROYED',
    'read after destroy': 'number',
    'byteLength after destroy': true,
    'write after destroy': 1,
    'destroy twice': 'ok',
    'child destroy after parent': 'ok',
  });
});

test('HeapPools (parents and children) dropped without destroy are freed by GC; views keep their chunk alive', () => {
  expectFreedByGc('heap');
});
