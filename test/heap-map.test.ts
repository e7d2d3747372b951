// walk() of every pool kind against its stats(), and the heap map SVG: well-formed XML,
// every row's rectangles covering exactly its chunk's bytes (coordinates are bytes: see
// lib/core/heapMap.ts), aggregation at a million blocks, and a PNG rendering's colours
// (when @resvg/resvg-js is installed).
import { createRequire } from 'node:module';

import { afterEach, describe, expect, test } from 'vitest';

import { HeapPool, RegionPool, SharedPool, TlsfPool } from '../lib/index.js';
import { MAP_COLORS } from '../lib/core/heapMap.js';
import { expectNoLeftovers, uniqueName } from './helpers/shm.js';
import { parseXml } from './helpers/xml.js';
import type { XmlElement } from './helpers/xml.js';

afterEach(() => expectNoLeftovers());

interface Row {
  bytes: number;
  label: string;
  rects: { x: number; width: number; start: number; bytes: number; state: string }[];
  translate: [number, number];
}

/** The rows of a heap map: each <g class="row"> with its rectangles. */
function rowsOf(svg: string): Row[] {
  const els = parseXml(svg);
  const rows: Row[] = [];
  let current: Row | undefined;
  let depth = -1;
  for (const el of els) {
    if (current !== undefined && el.depth <= depth) current = undefined;
    if (el.name === 'g' && el.attrs.class === 'row') {
      const t = /translate\(([\d.]+) ([\d.]+)\)/.exec(el.attrs.transform ?? '')!;
      current = {
        bytes: Number(el.attrs['data-bytes']),
        label: el.attrs['data-label']!,
        rects: [],
        translate: [Number(t[1]), Number(t[2])],
      };
      depth = el.depth;
      rows.push(current);
    } else if (current !== undefined && el.name === 'rect') {
      current.rects.push({
        x: Number(el.attrs.x),
        width: Number(el.attrs.width),
        start: Number(el.attrs['data-start']),
        bytes: Number(el.attrs['data-bytes']),
        state: el.attrs.class!,
      });
    }
  }
  return rows;
}

/** Every row: rectangles in order, touching, starting at 0 and adding up to the row's bytes (data-bytes)
 *  and to the row's width in pixels. */
function expectRowsCover(svg: string, maxRects = Infinity): Row[] {
  const rows = rowsOf(svg);
  const width = Number(parseXml(svg)[0]!.attrs['data-width']);
  for (const row of rows) {
    let at = 0;
    let px = 0;
    for (const r of row.rects) {
      expect(r.start).toBe(at);
      expect(r.bytes).toBeGreaterThan(0);
      expect(r.x).toBeCloseTo(px, 2);
      at += r.bytes;
      px += r.width;
    }
    expect(at).toBe(row.bytes);
    expect(px).toBeCloseTo(width, 1);
    expect(row.rects.length).toBeLessThanOrEqual(maxRects);
  }
  return rows;
}

function title(svg: string): string {
  return parseXml(svg).find((el: XmlElement) => el.name === 'title')!.text;
}

describe('walk() totals equal stats()', () => {
  test('TlsfPool', () => {
    using pool = new TlsfPool({ size: 1 << 20 });
    const bufs = Array.from({ length: 300 }, (_, i) => pool.alloc(16 + ((i * 37) % 900)));
    for (let i = 0; i < bufs.length; i += 3) pool.free(bufs[i]!);
    const blocks = [...pool.walk()];
    const s = pool.stats();
    const used = blocks.filter((b) => b.used);
    expect(used.length).toBe(s.allocations);
    expect(used.reduce((a, b) => a + b.size, 0)).toBe(s.used);
    expect(blocks.filter((b) => !b.used).reduce((a, b) => a + b.size, 0)).toBe(s.free);
  });

  test('HeapPool: class chunks, large blocks, a chunk lent to a child', () => {
    using parent = new HeapPool();
    const child = new HeapPool({ parent });
    child.alloc(1000);
    const bufs = Array.from({ length: 500 }, (_, i) => parent.alloc(8 + ((i * 53) % 5000)));
    bufs.push(parent.alloc(3 << 20)); // a large block
    for (let i = 0; i < bufs.length; i += 4) parent.free(bufs[i]!); // some go to the JS cache
    const blocks = parent.walk();
    const s = parent.stats();
    const used = blocks.filter((b) => b.state === 'used');
    expect(used.length).toBe(s.allocations);
    expect(used.reduce((a, b) => a + b.size, 0)).toBe(s.used);
    expect(blocks.filter((b) => b.state === 'lent').reduce((a, b) => a + b.size, 0)).toBe(s.lentBytes);
    expect(blocks.some((b) => b.state === 'free')).toBe(true);
    parent.check();
  });

  test('RegionPool: blocks (used, freed, available, wasted tails) and large blocks', () => {
    using pool = new RegionPool({ blockSize: 4096 });
    const bufs = Array.from({ length: 200 }, (_, i) => pool.alloc(1 + ((i * 29) % 700)));
    bufs.push(pool.alloc(100_000), pool.allocAligned(64, 4096));
    for (let i = 0; i < bufs.length; i += 5) pool.free(bufs[i]!);
    const blocks = pool.walk();
    const s = pool.stats();
    const used = blocks.filter((b) => b.state === 'used');
    expect(used.length).toBe(s.allocations);
    expect(used.reduce((a, b) => a + b.size, 0)).toBe(s.used);
    expect(new Set(blocks.filter((b) => !b.large).map((b) => b.chunk)).size).toBe(s.blocks);
    expect(new Set(blocks.filter((b) => b.large).map((b) => b.chunk)).size).toBe(s.largeBlocks);
    // Every byte of a block is used, available or wasted: padding between allocations is wasted too.
    const available = blocks.filter((b) => b.state === 'available').reduce((a, b) => a + b.size, 0);
    const smallUsed = used.filter((b) => !b.large).reduce((a, b) => a + b.size, 0);
    expect(smallUsed + s.wasted + available).toBe(s.blocks * 4096);
    pool.check();
  });

  test('SharedPool: every block, lent chunks and park lists with their owner', () => {
    using pool = SharedPool.create({ size: 8 << 20 });
    const bufs = Array.from({ length: 100 }, (_, i) => pool.alloc(24 + ((i * 71) % 3000)));
    for (let i = 0; i < bufs.length; i += 2) pool.free(bufs[i]!); // parked in this process's cache
    const heap = new HeapPool({ parent: pool });
    heap.alloc(100);
    const blocks = pool.walk(); // gives the parked blocks back first
    const s = pool.stats();
    const taken = blocks.filter((b) => b.state !== 'free');
    expect(taken.length).toBe(s.allocations);
    expect(taken.reduce((a, b) => a + b.size, 0)).toBe(s.used);
    expect(blocks.filter((b) => b.state === 'free').reduce((a, b) => a + b.size, 0)).toBe(s.free);
    const lent = blocks.filter((b) => b.state === 'lent');
    expect(lent.length).toBe(1);
    expect(lent[0]!.owner).toBe(process.pid);
    expect(blocks.filter((b) => b.state === 'parked')).toEqual([]);
    heap.destroy();
  });

  test('a snapshot of a named segment sees the parked blocks and the park list, owned by this process', () => {
    const name = uniqueName('snap');
    using pool = SharedPool.create({ size: 4 << 20, name });
    const bufs = Array.from({ length: 20 }, () => pool.alloc(200));
    for (let i = 0; i < 10; i++) pool.free(bufs[i]!);
    pool.setRoot('first', pool.offsetOf(bufs[10]!));
    const snap = SharedPool.snapshot(name);
    expect(snap.consistent).toBe(true);
    expect(snap.check).toBeNull();
    expect(snap.roots).toEqual([{ key: 'first', offset: pool.offsetOf(bufs[10]!) }]);
    const parked = snap.blocks!.filter((b) => b.state === 'parked');
    expect(parked.map((b) => b.offset).sort((a, b) => a - b)).toEqual(
      bufs
        .slice(0, 10)
        .map((b) => b.byteOffset)
        .sort((a, b) => a - b),
    );
    expect(parked.every((b) => b.owner === process.pid)).toBe(true);
    expect(snap.blocks!.filter((b) => b.state === 'parkList').length).toBe(1);
    expect(snap.stats!.allocations).toBe(snap.blocks!.filter((b) => b.state !== 'free').length);
  });
});

describe('heap maps', () => {
  test('ten blocks: one rectangle per run, headers as overhead, stats and fragmentation in the title', () => {
    using pool = new TlsfPool({ size: 1 << 16 });
    const bufs = Array.from({ length: 10 }, () => pool.alloc(2000));
    pool.free(bufs[2]!);
    pool.free(bufs[6]!);
    const svg = pool.heapMap();
    const [row] = expectRowsCover(svg);
    expect(row!.bytes).toBe(1 << 16);
    const used = row!.rects.filter((r) => r.state === 'used');
    expect(used.length).toBe(8);
    expect(used.every((r) => r.bytes === pool.usableSize(bufs[0]!))).toBe(true);
    const s = pool.stats();
    expect(title(svg)).toContain('8 allocations');
    expect(title(svg)).toContain(`largest free / free = ${(s.largestFree / s.free).toFixed(2)}`);
  });

  test('every kind draws one row per chunk covering its bytes', () => {
    using heap = new HeapPool();
    Array.from({ length: 300 }, (_, i) => heap.alloc(16 + i * 10));
    heap.alloc(3 << 20);
    const heapRows = expectRowsCover(heap.heapMap());
    expect(heapRows.length).toBe(heap.stats().classChunks + heap.stats().largeBlocks);

    using region = new RegionPool({ blockSize: 1024 });
    Array.from({ length: 40 }, () => region.alloc(100));
    region.alloc(50_000);
    const regionRows = expectRowsCover(region.heapMap({ width: 256 }));
    expect(regionRows.length).toBe(region.stats().blocks + region.stats().largeBlocks);

    using shared = SharedPool.create({ size: 4 << 20 });
    Array.from({ length: 30 }, () => shared.alloc(500));
    const [area] = expectRowsCover(shared.heapMap());
    expect(area!.bytes).toBe(shared.stats().capacity);
  });

  test('a million blocks are aggregated into at most one rectangle per pixel, still covering every byte', () => {
    using pool = new TlsfPool({ size: 48 << 20 });
    const bufs: Buffer[] = [];
    for (let i = 0; i < 1_000_000; i++) bufs.push(pool.alloc(16));
    for (let i = 0; i < bufs.length; i += 7) pool.free(bufs[i]!);
    const svg = pool.heapMap({ width: 800 });
    expectRowsCover(svg, 800);
    expect(svg).toContain('coloured by the state holding most of its bytes');
  }, 120_000);

  test('bad options are Node-style errors', () => {
    using pool = new TlsfPool({ size: 1 << 16 });
    expect(() => pool.heapMap({ width: 10 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => pool.heapMap({ title: 5 as unknown as string })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
  });

  let resvg: { Resvg: new (svg: string) => { render(): { pixels: Uint8Array; width: number } } } | undefined;
  try {
    resvg = createRequire(import.meta.url)('@resvg/resvg-js');
  } catch {
    resvg = undefined;
  }
  test.skipIf(resvg === undefined)('a PNG rendering has the state colours where the blocks are', () => {
    // 16 MiB: a row of 1000 px is 16 KiB a pixel (a byte-scaled transform this small once drew nothing)
    using pool = new TlsfPool({ size: 16 << 20 });
    const first = pool.alloc((8 << 20) - 64); // the first half used, the rest free
    const svg = pool.heapMap({ width: 1000 });
    const [row] = rowsOf(svg);
    const image = new resvg!.Resvg(svg).render();
    const pixel = (x: number, y: number): string => {
      const i = (y * image!.width + x) * 4;
      return `#${[0, 1, 2].map((k) => image!.pixels[i + k]!.toString(16).padStart(2, '0')).join('')}`;
    };
    const [x0, y0] = row!.translate;
    expect(pixel(x0 + 250, y0 + 8)).toBe(MAP_COLORS.used);
    expect(pixel(x0 + 750, y0 + 8)).toBe(MAP_COLORS.free);
    pool.free(first);
  });
});
