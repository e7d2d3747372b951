// The `mempools` command line (lib/cli/mempools.ts, run from dist/) against a live
// segment a child process holds: ls, inspect, map, rm, --json, exit codes, and a
// damaged segment (reported, exit 1, no crash).
import { fork, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, describe, expect, test } from 'vitest';

import { SharedPool } from '../lib/index.js';
import { expectNoLeftovers, uniqueName } from './helpers/shm.js';
import { parseXml } from './helpers/xml.js';

const CLI = fileURLToPath(new URL('../dist/cli/mempools.js', import.meta.url));
const CHILD = fileURLToPath(new URL('./helpers/inspect-child.js', import.meta.url));

function run(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  expectNoLeftovers();
});

async function holder(name: string): Promise<ChildProcess> {
  const child = fork(CHILD, [name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  const [msg] = (await once(child, 'message')) as [{ ready: boolean }];
  expect(msg.ready).toBe(true);
  return child;
}

describe('mempools CLI', () => {
  test('ls, inspect and map of a live segment; after SIGKILL of its creator ls says dead and rm --stale removes it', async () => {
    const name = uniqueName('cli');
    const child = await holder(name);
    const pid = child.pid!;

    const ls = run('ls');
    expect(ls.code).toBe(0);
    const line = ls.out.split('\n').find((l) => l.startsWith(`${name} `))!;
    expect(line).toContain(`${pid} alive`);
    expect(line).toContain('in use');

    const json = run('ls', '--json');
    expect(json.code).toBe(0);
    const listed = (JSON.parse(json.out) as Record<string, unknown>[]).find((s) => s.name === name)!;
    expect(listed).toMatchObject({ creatorPid: pid, creatorAlive: true, stale: false, corrupted: false });
    expect(listed.attachedPids).toEqual([pid]);
    expect(typeof listed.createdAt).toBe('string');

    const inspect = run('inspect', name);
    expect(inspect.code).toBe(0);
    expect(inspect.out).toContain('check ok');
    expect(inspect.out).toContain('table ->');
    expect(inspect.out).toMatch(new RegExp(`${pid} \\(alive\\): 1 lent chunks \\(1\\.0 MiB\\), 20 parked blocks`));

    const ij = run('inspect', name, '--json');
    expect(ij.code).toBe(0);
    const report = JSON.parse(ij.out);
    expect(report).toMatchObject({ name, creatorPid: pid, consistent: true, check: null });
    expect(report.allocatorLock).toEqual({ holder: null, waiters: false });
    expect(report.roots.map((r: { key: string }) => r.key)).toEqual(['table']);
    expect(report.processes).toEqual([
      expect.objectContaining({ pid, lentChunks: 1, lentBytes: 1 << 20, parkedBlocks: 20 }),
    ]);
    expect(report.stats.allocations).toBeGreaterThan(20);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mempools-map-'));
    try {
      const svgPath = path.join(dir, 'map.svg');
      const map = run('map', name, '-o', svgPath);
      expect(map.code).toBe(0);
      const svg = fs.readFileSync(svgPath, 'utf8');
      const els = parseXml(svg);
      expect(els.filter((e) => e.name === 'rect' && e.attrs.class === 'lent').length).toBe(1);
      expect(els.filter((e) => e.name === 'rect' && e.attrs.class === 'parked').length).toBeGreaterThan(0);
      expect(run('map', name, '-o', path.join(dir, 'map.gif')).code).toBe(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }

    expect(run('rm', name).code).toBe(4); // in use: refused
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(true);

    child.kill('SIGKILL');
    await once(child, 'exit');
    const after = (JSON.parse(run('ls', '--json').out) as Record<string, unknown>[]).find((s) => s.name === name)!;
    expect(after).toMatchObject({ creatorAlive: false, attachedPids: [], stale: true });
    expect(
      run('ls')
        .out.split('\n')
        .find((l) => l.startsWith(`${name} `)),
    ).toContain(`${pid} dead`);

    const rm = run('rm', '--stale', '--json');
    expect(rm.code).toBe(0);
    expect(JSON.parse(rm.out).removed).toContain(name);
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
  });

  test('inspect of a damaged segment reports the damage and exits 1', () => {
    const name = uniqueName('cli-damaged');
    const pool = SharedPool.create({ name, size: 1 << 20, cache: false });
    const bufs = Array.from({ length: 8 }, () => pool.alloc(1000));
    const offset = pool.offsetOf(bufs[3]!);
    pool.close();
    const file = `/dev/shm${name}`;
    const fd = fs.openSync(file, 'r+');
    try {
      const head = Buffer.alloc(80);
      fs.readSync(fd, head, 0, 80, 0);
      const area = Number(head.readBigUInt64LE(72));
      const junk = Buffer.alloc(8);
      junk.writeBigUInt64LE(0x7ffff0n); // block 3's size word: past the area's end
      fs.writeSync(fd, junk, 0, 8, area + offset - 8);
    } finally {
      fs.closeSync(fd);
    }
    const r = run('inspect', name);
    expect(r.code).toBe(1);
    expect(r.out).toContain('check FAILED');
    expect(r.out).toContain('snapshot NOT consistent');
    const j = JSON.parse(run('inspect', name, '--json').out);
    expect(j.consistent).toBe(false);
    expect(typeof j.check).toBe('string');
    expect(run('map', name, '-o', path.join(os.tmpdir(), `never-${process.pid}.svg`)).code).toBe(1);

    // A damaged header: version
    const fd2 = fs.openSync(file, 'r+');
    fs.writeSync(fd2, Buffer.from([99, 0, 0, 0]), 0, 4, 8);
    fs.closeSync(fd2);
    const h = run('inspect', name, '--json');
    expect(h.code).toBe(1);
    expect(JSON.parse(h.out).error).toMatchObject({ code: 'ERR_POOL_CORRUPTED' });
    expect(h.err).toContain('unsupported version');
  });

  test('usage errors exit 2, a missing segment 3', () => {
    expect(run().code).toBe(2);
    expect(run('frobnicate').code).toBe(2);
    expect(run('ls', '--bogus').code).toBe(2);
    expect(run('inspect').code).toBe(2);
    expect(run('inspect', 'no-slash').code).toBe(2);
    expect(run('rm').code).toBe(2);
    const missing = run('inspect', `/mempools-test-${process.pid}-missing`);
    expect(missing.code).toBe(3);
    expect(missing.err).toContain('ENOENT');
    expect(run('--help').code).toBe(0);
  });
});
