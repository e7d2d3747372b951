#!/usr/bin/env node
// `mempools`: look at this package's named shared segments from a shell (docs/cli.md).
// Reads segments without attaching (SharedPool.list: a read-only look at the header;
// SharedPool.snapshot: a private copy), so it never disturbs the processes using them.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { formatBytes } from '../core/heapMap.js';
import { PoolError } from '../PoolError.js';
import { SharedPool } from '../SharedPool.js';
import { segmentHeapMap } from '../shared/snapshot.js';
import type { SharedSegmentInfo, SharedSnapshot } from '../types.js';

/** Exit codes (docs/cli.md). */
export const EXIT = { ok: 0, damaged: 1, usage: 2, failed: 3, inUse: 4 } as const;

const USAGE = `Usage: mempools <command> [options]

Commands:
  ls                          list this package's named segments in /dev/shm
  inspect <name>              stats, locks, roots, per-process lent chunks and parked blocks, check()
  map <name> -o <file>        draw the heap map of a live segment (.svg, or .png with @resvg/resvg-js)
  rm <name>...                unlink segments nobody uses (creator gone, nobody attached); --force: any
  rm --stale                  unlink every stale segment

Options:
  --json                      machine-readable output on stdout
  -o, --output <file>         map: where to write the picture
  --width <px>                map: pixels per row (64..16384, default 1024)
  -h, --help                  this text

Exit codes: 0 done, 1 a segment is damaged, 2 bad usage, 3 no such segment or an OS failure,
4 rm refused a segment in use.`;

class UsageError extends Error {}

interface Output {
  out(text: string): void;
  err(text: string): void;
}

function age(createdAt: Date | null): string {
  if (createdAt === null) return '?';
  let s = Math.max(0, Math.round((Date.now() - createdAt.getTime()) / 1000));
  if (s < 120) return `${s}s`;
  s = Math.round(s / 60);
  if (s < 120) return `${s}m`;
  s = Math.round(s / 60);
  return s < 48 ? `${s}h` : `${Math.round(s / 24)}d`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function listJson(info: SharedSegmentInfo): object {
  return { ...info, createdAt: info.createdAt?.toISOString() ?? null };
}

function ls(json: boolean, io: Output): number {
  const segments = SharedPool.list();
  if (json) {
    io.out(JSON.stringify(segments.map(listJson), null, 2));
    return EXIT.ok;
  }
  if (segments.length === 0) {
    io.out('no mempools segments in /dev/shm');
    return EXIT.ok;
  }
  const rows = [['NAME', 'SIZE', 'USED', 'CREATOR', 'ATTACHED', 'AGE', 'STATE']];
  for (const s of segments) {
    rows.push([
      s.name,
      formatBytes(s.size),
      s.corrupted ? '?' : `${formatBytes(s.used)} (${s.capacity > 0 ? Math.round((100 * s.used) / s.capacity) : 0}%)`,
      s.creatorPid === 0 ? '?' : `${s.creatorPid} ${s.creatorAlive ? 'alive' : 'dead'}`,
      s.attachedPids.length === 0 ? '-' : s.attachedPids.join(','),
      age(s.createdAt),
      s.corrupted ? 'corrupted' : s.stale ? 'stale' : 'in use',
    ]);
  }
  io.out(table(rows));
  return EXIT.ok;
}

/** What inspect reports per process: lent chunks and parked blocks. */
interface ProcessUse {
  pid: number;
  lentChunks: number;
  lentBytes: number;
  parkedBlocks: number;
  parkedBytes: number;
  parkListBytes: number;
}

function perProcess(snap: SharedSnapshot): ProcessUse[] {
  const byPid = new Map<number, ProcessUse>();
  for (const b of snap.blocks ?? []) {
    if (b.owner === null) continue;
    let use = byPid.get(b.owner);
    if (use === undefined) {
      use = { pid: b.owner, lentChunks: 0, lentBytes: 0, parkedBlocks: 0, parkedBytes: 0, parkListBytes: 0 };
      byPid.set(b.owner, use);
    }
    if (b.state === 'lent') {
      use.lentChunks++;
      use.lentBytes += b.size;
    } else if (b.state === 'parked') {
      use.parkedBlocks++;
      use.parkedBytes += b.size;
    } else if (b.state === 'parkList') {
      use.parkListBytes += b.size;
    }
  }
  return [...byPid.values()].sort((a, b) => a.pid - b.pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockLine(lock: SharedSnapshot['allocatorLock']): string {
  if (lock.holder === null) return 'free';
  const who = `held by thread ${lock.holder} (${alive(lock.holder) ? 'alive' : 'dead: the next attach repairs it'})`;
  return lock.waiters ? `${who}, waiters asleep` : who;
}

function inspect(name: string, json: boolean, io: Output): number {
  const snap = SharedPool.snapshot(name);
  const processes = perProcess(snap);
  const damaged = snap.check !== null || snap.blocks === null || snap.stats === null;
  if (json) {
    const { blocks, ...rest } = snap;
    io.out(
      JSON.stringify(
        { ...rest, createdAt: snap.createdAt?.toISOString() ?? null, blockCount: blocks?.length ?? null, processes },
        null,
        2,
      ),
    );
    return damaged ? EXIT.damaged : EXIT.ok;
  }
  const lines = [`segment ${snap.name}`];
  lines.push(`  size ${formatBytes(snap.size)}, block area ${formatBytes(snap.capacity)}`);
  lines.push(
    `  creator ${snap.creatorPid || '?'} (${snap.creatorAlive ? 'alive' : 'dead'}), created ${snap.createdAt?.toISOString() ?? '?'} (${age(snap.createdAt)} ago)`,
  );
  lines.push(`  attached ${snap.attachedPids.length === 0 ? 'none' : snap.attachedPids.join(', ')}`);
  lines.push(`  allocator lock ${lockLine(snap.allocatorLock)}`);
  lines.push(`  user lock ${lockLine(snap.userLock)}`);
  lines.push(
    `  snapshot ${snap.consistent ? 'consistent' : 'NOT consistent'} (${snap.copies} ${snap.copies === 1 ? 'copy' : 'copies'})`,
  );
  const s = snap.stats;
  if (s !== null) {
    const ratio = s.free > 0 ? (s.largestFree / s.free).toFixed(2) : '1.00';
    lines.push(
      `stats`,
      `  used ${formatBytes(s.used)} in ${s.allocations} allocations (peak ${formatBytes(s.peakUsed)})`,
      `  free ${formatBytes(s.free)}, largest free ${formatBytes(s.largestFree)} (largest free / free = ${ratio})`,
      `  failed allocations ${s.failedAllocations}, crash recoveries ${s.generation}`,
      `  lent to heap pools ${s.lentChunks} chunks, ${formatBytes(s.lentBytes)}`,
    );
  }
  lines.push(`roots${snap.roots.length === 0 ? ' none' : ''}`);
  for (const root of snap.roots) lines.push(`  ${root.key} -> ${root.offset}`);
  lines.push(`processes${processes.length === 0 ? ' none with lent chunks or parked blocks' : ''}`);
  for (const p of processes) {
    lines.push(
      `  ${p.pid} (${alive(p.pid) ? 'alive' : 'dead'}): ${p.lentChunks} lent chunks (${formatBytes(p.lentBytes)}), ` +
        `${p.parkedBlocks} parked blocks (${formatBytes(p.parkedBytes)})` +
        (p.parkListBytes > 0 ? `, park list ${formatBytes(p.parkListBytes)}` : ''),
    );
  }
  lines.push(damaged ? `check FAILED: ${snap.check ?? 'the block chain cannot be walked'}` : 'check ok');
  io.out(lines.join('\n'));
  return damaged ? EXIT.damaged : EXIT.ok;
}

/** The part of @resvg/resvg-js the PNG output uses. */
interface ResvgModule {
  Resvg: new (
    svg: string,
    options?: object,
  ) => {
    render(): { asPng(): Uint8Array };
  };
}

function loadResvg(): ResvgModule {
  const require = createRequire(__filename);
  try {
    return require('@resvg/resvg-js') as ResvgModule;
  } catch {
    throw new UsageError('writing a PNG needs @resvg/resvg-js: npm install @resvg/resvg-js (or write .svg)');
  }
}

function map(name: string, output: string | undefined, width: number | undefined, json: boolean, io: Output): number {
  if (output === undefined) throw new UsageError('map needs -o <file.svg|file.png>');
  const ext = path.extname(output).toLowerCase();
  if (ext !== '.svg' && ext !== '.png') throw new UsageError(`map writes .svg or .png, not '${output}'`);
  const snap = SharedPool.snapshot(name);
  if (snap.blocks === null || snap.stats === null) {
    io.err(`mempools: segment '${name}' cannot be drawn: ${snap.check ?? 'its block chain is broken'}`);
    return EXIT.damaged;
  }
  const notes = [`${snap.attachedPids.length} attached`];
  if (!snap.consistent) notes.push('snapshot NOT consistent');
  const svg = segmentHeapMap(snap.blocks, snap.capacity, snap.stats, notes, { width, title: `SharedPool ${name}` });
  if (ext === '.svg') {
    fs.writeFileSync(output, svg);
  } else {
    const { Resvg } = loadResvg();
    fs.writeFileSync(output, new Resvg(svg, { background: '#ffffff' }).render().asPng());
  }
  if (json) io.out(JSON.stringify({ name, output, blocks: snap.blocks.length, consistent: snap.consistent }));
  else io.out(`wrote ${output} (${snap.blocks.length} blocks${snap.consistent ? '' : ', snapshot NOT consistent'})`);
  return snap.check === null ? EXIT.ok : EXIT.damaged;
}

function rm(names: string[], stale: boolean, force: boolean, json: boolean, io: Output): number {
  if (stale === names.length > 0) throw new UsageError('rm takes segment names or --stale, not both');
  let code: number = EXIT.ok;
  const removed: string[] = [];
  const refused: { name: string; reason: string }[] = [];
  if (stale) {
    removed.push(...SharedPool.unlinkStale());
  } else {
    const known = new Map(SharedPool.list().map((s) => [s.name, s]));
    for (const name of names) {
      const info = known.get(name);
      if (info === undefined) {
        refused.push({ name, reason: 'no such mempools segment' });
        code = EXIT.failed;
      } else if (!info.stale && !force) {
        refused.push({
          name,
          reason: `in use (creator ${info.creatorAlive ? 'alive' : 'dead'}, attached: ${info.attachedPids.join(',') || 'none'}); --force removes it`,
        });
        if (code === EXIT.ok) code = EXIT.inUse;
      } else {
        SharedPool.unlink(name);
        removed.push(name);
      }
    }
  }
  if (json) {
    io.out(JSON.stringify({ removed, refused }, null, 2));
  } else {
    for (const name of removed) io.out(`removed ${name}`);
    for (const r of refused) io.err(`mempools: not removed ${r.name}: ${r.reason}`);
    if (stale && removed.length === 0) io.out('no stale segments');
  }
  return code;
}

/** Runs the command line `args` (without node and the script); returns the exit code. */
export function main(args: string[], io: Output): number {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    io.err(`mempools: ${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    (command === undefined && !values.help ? io.err : io.out)(USAGE);
    return command === undefined && !values.help ? EXIT.usage : EXIT.ok;
  }
  const json = values.json === true;
  try {
    const width = values.width === undefined ? undefined : Number(values.width);
    switch (command) {
      case 'ls':
        if (rest.length > 0) throw new UsageError('ls takes no arguments');
        return ls(json, io);
      case 'inspect':
        if (rest.length !== 1) throw new UsageError('inspect takes one segment name');
        return inspect(rest[0]!, json, io);
      case 'map':
        if (rest.length !== 1) throw new UsageError('map takes one segment name');
        return map(rest[0]!, values.output, width, json, io);
      case 'rm':
        return rm(rest, values.stale === true, values.force === true, json, io);
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`mempools: ${error.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    const message = (error as Error).message;
    const code = (error as { code?: string }).code;
    if (json) io.out(JSON.stringify({ error: { code: code ?? null, message } }));
    io.err(`mempools: ${message}`);
    if (error instanceof PoolError && code === 'ERR_POOL_CORRUPTED') return EXIT.damaged;
    if (code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_OUT_OF_RANGE') return EXIT.usage;
    if (code === 'ERR_INVALID_ARG_VALUE' && !message.includes('is not a mempools segment')) return EXIT.usage;
    return EXIT.failed;
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean' },
      output: { type: 'string', short: 'o' },
      width: { type: 'string' },
      stale: { type: 'boolean' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2), {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
  });
}
