// Pool Buffers are safe in Node's asynchronous I/O: destroy() (SharedPool:
// close()) leaves views readable with their bytes for as long as they are
// reachable, keeps the memory they reach mapped and out of reuse, and releases
// it once they are gone; destroy({ unsafeDetachViews: true }) is the old
// immediate release. The I/O runs in child processes (test/helpers/io-child.js),
// so a crash shows up as a failed test instead of killing vitest.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, test } from 'vitest';

import { HeapPool, PoolError, RegionPool, SharedPool, TlsfPool } from '../lib/index.js';
import { expectCode } from './helpers/pool.js';

const KiB = 1024;
const MiB = 1024 * KiB;

interface ReleaseOptions {
  unsafeDetachViews?: boolean;
}

/** What every pool kind offers these tests. */
interface Subject {
  alloc(size: number): Buffer;
  /** destroy() (SharedPool: close()), with the options when given. */
  release(options?: ReleaseOptions): void;
  readonly destroyed: boolean;
  stats(): Record<string, unknown>;
  /** Calls that must throw ERR_POOL_DESTROYED once the pool is released, by name. */
  callsAfterRelease(view: Buffer): Record<string, () => unknown>;
}

interface Kind {
  /** The io-child.js argument. */
  kind: string;
  /** How the pool is released, for test names. */
  release: string;
  make(): Subject;
}

/** destroy(options) with the new signature, as destroy() when no options are given. */
function destroyWith(pool: { destroy(options?: ReleaseOptions): void }, options?: ReleaseOptions): void {
  if (options === undefined) pool.destroy();
  else pool.destroy(options);
}

function closeWith(pool: { close(options?: ReleaseOptions): void }, options?: ReleaseOptions): void {
  if (options === undefined) pool.close();
  else pool.close(options);
}

/** The stats object by field name (its fields differ per kind). */
const statsOf = (stats: object): Record<string, unknown> => stats as unknown as Record<string, unknown>;

const KINDS: Kind[] = [
  {
    kind: 'tlsf',
    release: 'TlsfPool destroy()',
    make() {
      const pool = new TlsfPool({ size: 4 * MiB });
      return {
        alloc: (size) => pool.alloc(size),
        release: (options) => destroyWith(pool, options),
        get destroyed() {
          return pool.destroyed;
        },
        stats: () => statsOf(pool.stats()),
        callsAfterRelease: (view) => ({
          alloc: () => pool.alloc(8),
          tryAlloc: () => pool.tryAlloc(8),
          calloc: () => pool.calloc(2, 8),
          allocAligned: () => pool.allocAligned(64, 64),
          realloc: () => pool.realloc(view, 16),
          free: () => pool.free(view),
          usableSize: () => pool.usableSize(view),
          addRegion: () => pool.addRegion(4 * KiB),
          walk: () => pool.walk(),
          check: () => pool.check(),
        }),
      };
    },
  },
  {
    kind: 'region',
    release: 'RegionPool destroy()',
    make() {
      const pool = new RegionPool();
      return {
        alloc: (size) => pool.alloc(size),
        release: (options) => destroyWith(pool, options),
        get destroyed() {
          return pool.destroyed;
        },
        stats: () => statsOf(pool.stats()),
        callsAfterRelease: (view) => ({
          alloc: () => pool.alloc(8),
          tryAlloc: () => pool.tryAlloc(8),
          allocUnaligned: () => pool.allocUnaligned(8),
          calloc: () => pool.calloc(2, 8),
          realloc: () => pool.realloc(view, 16),
          free: () => pool.free(view),
          reset: () => pool.reset(),
          onCleanup: () => pool.onCleanup(() => undefined),
          check: () => pool.check(),
        }),
      };
    },
  },
  {
    kind: 'heap',
    release: 'HeapPool destroy()',
    make() {
      const pool = new HeapPool();
      return {
        alloc: (size) => pool.alloc(size),
        release: (options) => destroyWith(pool, options),
        get destroyed() {
          return pool.destroyed;
        },
        stats: () => statsOf(pool.stats()),
        callsAfterRelease: (view) => ({
          alloc: () => pool.alloc(8),
          tryAlloc: () => pool.tryAlloc(8),
          calloc: () => pool.calloc(2, 8),
          realloc: () => pool.realloc(view, 16),
          free: () => pool.free(view),
          check: () => pool.check(),
          'new HeapPool({ parent })': () => new HeapPool({ parent: pool }),
        }),
      };
    },
  },
  {
    kind: 'shared',
    release: 'SharedPool close()',
    make() {
      const pool = SharedPool.create({ size: 4 * MiB });
      return {
        alloc: (size) => pool.alloc(size),
        release: (options) => closeWith(pool, options),
        get destroyed() {
          return pool.destroyed;
        },
        stats: () => statsOf(pool.stats()),
        callsAfterRelease: (view) => ({
          alloc: () => pool.alloc(8),
          tryAlloc: () => pool.tryAlloc(8),
          calloc: () => pool.calloc(2, 8),
          realloc: () => pool.realloc(view, 16),
          free: () => pool.free(view),
          at: () => pool.at(view.byteOffset, view.length),
          offsetOf: () => pool.offsetOf(view),
          check: () => pool.check(),
          'new HeapPool({ parent })': () => new HeapPool({ parent: pool }),
        }),
      };
    },
  },
];

/** A small view and one beyond every kind's small-block limits, each with its own byte pattern. */
function patterned(pool: { alloc(size: number): Buffer }): { views: Buffer[]; copies: Buffer[] } {
  const views = [pool.alloc(100), pool.alloc(300 * KiB)];
  views.forEach((view, i) => {
    for (let j = 0; j < view.length; j++) view[j] = (j * 7 + i * 13 + 1) & 0xff;
  });
  return { views, copies: views.map((view) => Buffer.from(view)) };
}

function expectIntact(views: Buffer[], copies: Buffer[]): void {
  views.forEach((view, i) => {
    expect(view.byteLength, `view ${i}`).toBe(copies[i]!.length);
    expect(view.buffer.byteLength, `view ${i}`).toBeGreaterThanOrEqual(view.byteOffset + view.byteLength);
    expect(view.equals(copies[i]!), `view ${i} keeps its bytes`).toBe(true);
  });
}

describe.each(KINDS)('$release', ({ kind, release, make }) => {
  test('views stay readable with their bytes, and their memory is not reused by a new pool', () => {
    const pool = make();
    const { views, copies } = patterned(pool);
    const words = new Float64Array(views[1]!.buffer, views[1]!.byteOffset, 8);
    const word = words[3];
    pool.release();
    expect(pool.destroyed).toBe(true);
    expectIntact(views, copies);
    expect(words.length).toBe(8);
    expect(words[3]).toBe(word);
    // a new pool of the same kind must not be handed the memory these views still reach
    const other = make();
    try {
      for (const size of [100, 300 * KiB, 1 * MiB]) other.alloc(size).fill(0xee);
      expectIntact(views, copies);
    } finally {
      other.release();
    }
  });

  test('stats() reports destroyed: false, heldBytes and heldChunks before the release', () => {
    const pool = make();
    try {
      pool.alloc(100);
      const stats = pool.stats();
      expect(stats.destroyed).toBe(false);
      expect(
        Number.isSafeInteger(stats.heldBytes) && (stats.heldBytes as number) >= 0,
        `heldBytes ${String(stats.heldBytes)}`,
      ).toBe(true);
      expect(
        Number.isSafeInteger(stats.heldChunks) && (stats.heldChunks as number) >= 0,
        `heldChunks ${String(stats.heldChunks)}`,
      ).toBe(true);
    } finally {
      pool.release();
    }
  });

  test('after the release stats() works: destroyed, heldBytes > 0 while a view is held, every other field 0', () => {
    const pool = make();
    const { views, copies } = patterned(pool);
    const before = pool.stats();
    pool.release();
    const after = pool.stats();
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    expect(after.destroyed).toBe(true);
    expect(Number.isSafeInteger(after.heldBytes), `heldBytes ${String(after.heldBytes)}`).toBe(true);
    expect(after.heldBytes as number).toBeGreaterThanOrEqual(views[0]!.length + views[1]!.length);
    expect(Number.isSafeInteger(after.heldChunks), `heldChunks ${String(after.heldChunks)}`).toBe(true);
    expect(after.heldChunks as number).toBeGreaterThanOrEqual(1);
    const others = Object.fromEntries(
      Object.entries(after).filter(([key]) => !['destroyed', 'heldBytes', 'heldChunks'].includes(key)),
    );
    expect(others).toEqual(Object.fromEntries(Object.keys(others).map((key) => [key, 0])));
    expectIntact(views, copies); // held until here
  });

  test('{ unsafeDetachViews: true } releases at once: every view detached', () => {
    const pool = make();
    const { views } = patterned(pool);
    const words = new Float64Array(views[1]!.buffer, views[1]!.byteOffset, 8);
    pool.release({ unsafeDetachViews: true });
    expect(pool.destroyed).toBe(true);
    for (const view of views) {
      expect(view.byteLength).toBe(0);
      expect(view.length).toBe(0);
      expect(view.buffer.byteLength).toBe(0);
    }
    expect(words.length).toBe(0);
    const stats = pool.stats();
    expect(stats).toMatchObject({ destroyed: true, heldBytes: 0, heldChunks: 0 });
  });

  test('the release is idempotent', () => {
    const pool = make();
    const { views, copies } = patterned(pool);
    pool.release();
    pool.release(); // a second plain release changes nothing: the views stay readable
    expect(pool.destroyed).toBe(true);
    expectIntact(views, copies);
    expect(pool.stats().destroyed).toBe(true);

    const detached = make();
    const view = detached.alloc(100);
    detached.release({ unsafeDetachViews: true });
    detached.release();
    detached.release({ unsafeDetachViews: true });
    expect(detached.destroyed).toBe(true);
    expect(view.byteLength).toBe(0);
  });

  test('every other call after the release throws ERR_POOL_DESTROYED (the views stay readable)', () => {
    const pool = make();
    const { views, copies } = patterned(pool);
    pool.release();
    for (const [name, call] of Object.entries(pool.callsAfterRelease(views[0]!))) {
      let caught: unknown;
      try {
        call();
      } catch (error) {
        caught = error;
      }
      expect(caught, name).toBeInstanceOf(PoolError);
      expect((caught as PoolError).code, name).toBe('ERR_POOL_DESTROYED');
    }
    expectIntact(views, copies);
  });

  test(`Buffers survive ${release} in the middle of zlib, fs, crypto, net, http and child stdin I/O`, () => {
    const report = runIoChild(kind);
    expect(report.kind).toBe(kind);
    const failed = Object.entries(report.results).filter(([, result]) => result !== 'ok');
    expect(failed).toEqual([]);
    expect(Object.keys(report.results).sort()).toEqual(EXPECTED_RESULTS.slice().sort());
    expect(report.heldAfterGc).toMatchObject({ heldBytes: 0, heldChunks: 0 });
  }, 150_000);
});

describe('HeapPool families', () => {
  test("destroying a parent leaves its children's views readable; the children are destroyed", () => {
    const parent = new HeapPool();
    const child = new HeapPool({ parent });
    const { views, copies } = patterned(child);
    parent.destroy();
    expect(child.destroyed).toBe(true);
    expectIntact(views, copies);
    expectCode(() => child.alloc(8), 'ERR_POOL_DESTROYED', PoolError);
    const childStats = statsOf(child.stats());
    const parentStats = statsOf(parent.stats());
    expect(childStats.destroyed).toBe(true);
    expect(parentStats.destroyed).toBe(true);
    // the held chunks are the child's or the parent's (lent to the child): held either way
    expect((childStats.heldBytes as number) + (parentStats.heldBytes as number)).toBeGreaterThan(0);
    expectIntact(views, copies);
  });

  test('closing a SharedPool leaves the views of HeapPools on its segment readable', () => {
    const shared = SharedPool.create({ size: 4 * MiB });
    const heap = new HeapPool({ parent: shared });
    const view = heap.alloc(1000).fill(0x3c);
    shared.close();
    expect(heap.destroyed).toBe(true);
    expect(view.byteLength).toBe(1000);
    expect(view.every((byte) => byte === 0x3c)).toBe(true);
    expectCode(() => heap.alloc(8), 'ERR_POOL_DESTROYED', PoolError);
  });
});

/** The I/O io-child.js runs for every size: its result names are '<io> <size>'. */
const IOS = [
  'zlib.deflate',
  'zlib stream',
  'fs.write',
  'fs.promises.writeFile',
  'crypto.randomFill',
  'net socket.end',
  'http res.end',
  'child stdin',
];
const SIZES = [64, 64 * KiB, 1 * MiB, 16 * MiB, 3 * MiB + 13];
const EXPECTED_RESULTS = [...IOS.flatMap((io) => SIZES.map((size) => `${io} ${size}`)), 'heldBytes 0 after gc'];

interface IoReport {
  kind: string;
  results: Record<string, string>;
  heldAfterGc: Record<string, unknown>;
  elapsedMs: number;
}

/** Runs io-child.js for `kind` with --expose-gc; a signal or a nonzero exit fails with the child's stderr. */
function runIoChild(kind: string): IoReport {
  const file = fileURLToPath(new URL('./helpers/io-child.js', import.meta.url));
  const child = spawnSync(process.execPath, ['--expose-gc', file, kind], { encoding: 'utf8', timeout: 120_000 });
  expect(child.error, child.stderr).toBeUndefined();
  expect(child.signal, child.stderr).toBeNull();
  expect(child.status, child.stderr).toBe(0);
  return JSON.parse(child.stdout) as IoReport;
}
