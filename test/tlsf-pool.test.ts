import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';

import { PoolError, TlsfPool } from '../lib/index.js';
import { expectCode } from './helpers/pool.js';

const KiB = 1024;
const MiB = 1024 * 1024;

describe('construction and options', () => {
  test('size is rounded up to a multiple of 8; capacity and reserved follow', () => {
    using pool = new TlsfPool({ size: 1001 });
    const stats = pool.stats();
    expect(stats.reserved).toBe(1008);
    expect(stats.capacity).toBe(1008);
    expect(stats.regions).toBe(1);
    expect(stats.used).toBe(0);
    expect(stats.allocations).toBe(0);
  });

  test('capacity is maxSize when the pool can grow', () => {
    using pool = new TlsfPool({ size: 4 * KiB, maxSize: 1 * MiB });
    expect(pool.stats().capacity).toBe(1 * MiB);
    expect(pool.stats().reserved).toBe(4 * KiB);
  });

  test('invalid options give Node-style argument errors', () => {
    expectCode(() => new TlsfPool(undefined as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => new TlsfPool({ size: '64' as never }), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => new TlsfPool({ size: 63 }), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => new TlsfPool({ size: 100.5 }), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => new TlsfPool({ size: -1 }), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => new TlsfPool({ size: 2 ** 53 }), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => new TlsfPool({ size: 4096, maxSize: 4095 }), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => new TlsfPool({ size: 4096, maxSize: null as never }), 'ERR_INVALID_ARG_TYPE', TypeError);
  });

  test('messages follow Node core', () => {
    expect(() => new TlsfPool({ size: 'x' as never })).toThrow(
      `The "options.size" property must be of type number. Received type string ('x')`,
    );
    using pool = new TlsfPool({ size: 4096 });
    expect(() => pool.alloc(-1)).toThrow(
      'The value of "size" is out of range. It must be >= 0 && <= 9007199254740991. Received -1',
    );
    expect(() => pool.free({} as never)).toThrow(
      'The "buf" argument must be an instance of Buffer or Uint8Array. Received an instance of Object',
    );
  });

  test('an mmap failure is ERR_POOL_SYSTEM with errno and syscall', () => {
    // A child whose address space is capped at 1.5 GB cannot map a 2 GiB region.
    const script = `
      const { TlsfPool } = require(${JSON.stringify(path.join(__dirname, '..'))});
      try { new TlsfPool({ size: 2 ** 31 }); console.log('{}'); }
      catch (e) { console.log(JSON.stringify({ name: e.constructor.name, code: e.code, errno: e.errno, syscall: e.syscall, message: e.message })); }`;
    const child = spawnSync('sh', ['-c', 'ulimit -v 1500000 && exec "$0" -e "$1"', process.execPath, script], {
      encoding: 'utf8',
    });
    const error = JSON.parse(child.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(error).toMatchObject({ name: 'PoolError', code: 'ERR_POOL_SYSTEM', errno: -12, syscall: 'mmap' });
    expect(error['message']).toContain('ENOMEM');
  });
});

describe('alloc / tryAlloc / calloc', () => {
  test('alloc returns a Buffer view of the requested length', () => {
    using pool = new TlsfPool({ size: 64 * KiB });
    const buf = pool.alloc(100);
    expect(Buffer.isBuffer(buf)).toBe(true);
    expect(buf).toBeInstanceOf(Uint8Array);
    expect(buf.length).toBe(100);
    expect(buf.buffer.byteLength).toBe(64 * KiB);
    expect(buf.byteOffset % 8).toBe(0);
    expect(pool.usableSize(buf)).toBeGreaterThanOrEqual(100);
    expect(pool.stats().allocations).toBe(1);
    expect(pool.stats().used).toBe(pool.usableSize(buf));
  });

  test('alloc(0) is a zero-length view that can be freed', () => {
    using pool = new TlsfPool({ size: 4096 });
    const empty = pool.alloc(0);
    expect(Buffer.isBuffer(empty)).toBe(true);
    expect(empty.length).toBe(0);
    expect(pool.stats().allocations).toBe(1);
    pool.free(empty);
    expect(pool.stats().allocations).toBe(0);
  });

  test('allocations do not overlap and keep their contents', () => {
    using pool = new TlsfPool({ size: 64 * KiB });
    const views = Array.from({ length: 50 }, (_, i) => pool.alloc(16 + i * 7).fill(i));
    views.forEach((view, i) => expect(view.every((byte) => byte === i)).toBe(true));
    for (const view of views) pool.free(view);
    pool.check();
  });

  test('exhaustion: alloc throws ERR_POOL_EXHAUSTED, tryAlloc returns null, both counted', () => {
    using pool = new TlsfPool({ size: 4096 });
    expectCode(() => pool.alloc(8192), 'ERR_POOL_EXHAUSTED', PoolError);
    expect(pool.tryAlloc(8192)).toBeNull();
    expect(pool.tryAlloc(2 ** 50)).toBeNull();
    expect(pool.stats().failedAllocations).toBe(3);
    expect(pool.tryAlloc(100)).not.toBeNull();
  });

  test('calloc zero-fills and checks count * size', () => {
    using pool = new TlsfPool({ size: 64 * KiB });
    const dirty = pool.alloc(4000).fill(0xab);
    pool.free(dirty);
    const zeroed = pool.calloc(100, 40);
    expect(zeroed.length).toBe(4000);
    expect(zeroed.every((byte) => byte === 0)).toBe(true);
    expect(pool.calloc(0, 10).length).toBe(0);
    expectCode(() => pool.calloc(2 ** 30, 2 ** 30), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.calloc(-1, 1), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.calloc(1, '1' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => pool.calloc(1000, 1000), 'ERR_POOL_EXHAUSTED', PoolError);
  });

  test('size arguments are validated', () => {
    using pool = new TlsfPool({ size: 4096 });
    for (const bad of ['1', null, undefined, {}, 1n]) {
      expectCode(() => pool.alloc(bad as never), 'ERR_INVALID_ARG_TYPE', TypeError);
      expectCode(() => pool.tryAlloc(bad as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    }
    for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
      expectCode(() => pool.alloc(bad), 'ERR_OUT_OF_RANGE', RangeError);
    }
    expect(pool.stats().failedAllocations).toBe(0);
  });
});

describe('views', () => {
  test('Buffer methods work on pool views', () => {
    using pool = new TlsfPool({ size: 4096 });
    const buf = pool.alloc(32);
    buf.fill(0);
    expect(buf.write('héllo', 'utf8')).toBe(6);
    expect(buf.toString('utf8', 0, 6)).toBe('héllo');
    buf.writeUInt32LE(0xdeadbeef, 8);
    expect(buf.readUInt32LE(8)).toBe(0xdeadbeef);
    buf.writeDoubleBE(Math.PI, 16);
    expect(buf.readDoubleBE(16)).toBe(Math.PI);
    const sub = buf.subarray(8, 12);
    expect(Buffer.isBuffer(sub)).toBe(true);
    expect(sub.buffer).toBe(buf.buffer);
    expect(sub.readUInt32LE(0)).toBe(0xdeadbeef);
    const sliced = buf.slice(0, 5);
    expect(Buffer.isBuffer(sliced)).toBe(true);
    expect(sliced.toString()).toBe('h\u00e9ll');
    expect(buf.toString('hex', 8, 12)).toBe('efbeadde');
    expect(Buffer.concat([buf.subarray(0, 2), Buffer.from('!')]).toString('latin1')).toBe('h\u00c3!');
    expect(buf.equals(Buffer.from(buf))).toBe(true);
    expect(JSON.stringify(buf.subarray(0, 1))).toBe('{"type":"Buffer","data":[104]}');
  });

  test('Float64Array and BigInt64Array over any allocation', () => {
    using pool = new TlsfPool({ size: 64 * KiB });
    for (const size of [1, 7, 8, 24, 100, 1000]) {
      pool.alloc(size); // shift later allocations around
      const buf = pool.alloc(64);
      const doubles = new Float64Array(buf.buffer, buf.byteOffset, 8);
      doubles[7] = 1.25;
      expect(buf.readDoubleLE(56)).toBe(1.25);
      const bigs = new BigInt64Array(buf.buffer, buf.byteOffset, 8);
      bigs[0] = -5n;
      expect(buf.readBigInt64LE(0)).toBe(-5n);
    }
  });

  test('allocAligned honours 8..4096 for addresses and byteOffsets', () => {
    using pool = new TlsfPool({ size: 1 * MiB });
    for (let alignment = 8; alignment <= 4096; alignment *= 2) {
      const buf = pool.allocAligned(100, alignment);
      expect(buf.length).toBe(100);
      expect(buf.byteOffset % alignment).toBe(0);
    }
    pool.check();
  });

  test('allocAligned validates the alignment', () => {
    using pool = new TlsfPool({ size: 64 * KiB });
    for (const bad of [0, 4, 12, 100, 1.5, -8, 128 * KiB]) {
      expectCode(() => pool.allocAligned(16, bad), 'ERR_OUT_OF_RANGE', RangeError);
    }
    expectCode(() => pool.allocAligned(16, '8' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => pool.allocAligned(16, 64 * KiB), 'ERR_POOL_EXHAUSTED', PoolError);
  });
});

describe('realloc', () => {
  test('keeps min(old, new) bytes when growing and shrinking', () => {
    using pool = new TlsfPool({ size: 64 * KiB });
    const first = pool.alloc(100);
    for (let i = 0; i < 100; i++) first[i] = i;
    pool.alloc(16); // a neighbour, so growing has to move
    const grown = pool.realloc(first, 5000);
    expect(grown.length).toBe(5000);
    for (let i = 0; i < 100; i++) expect(grown[i]).toBe(i);
    const shrunk = pool.realloc(grown, 10);
    expect(shrunk.length).toBe(10);
    expect([...shrunk]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    pool.check();
  });

  test('on failure it throws and the old block stays valid', () => {
    using pool = new TlsfPool({ size: 4096 });
    const buf = pool.alloc(64).fill(7);
    expectCode(() => pool.realloc(buf, 1 * MiB), 'ERR_POOL_EXHAUSTED', PoolError);
    expect(buf.every((byte) => byte === 7)).toBe(true);
    expect(pool.stats().allocations).toBe(1);
    pool.free(buf);
  });

  test('keeps the alignment of an aligned block', () => {
    using pool = new TlsfPool({ size: 1 * MiB });
    let buf = pool.allocAligned(64, 4096);
    pool.alloc(32); // block in-place growth
    for (const size of [8192, 100, 30000]) {
      buf = pool.realloc(buf, size);
      expect(buf.byteOffset % 4096).toBe(0);
    }
  });

  test('rejects foreign and freed views', () => {
    using pool = new TlsfPool({ size: 4096 });
    const buf = pool.alloc(32);
    expectCode(() => pool.realloc(Buffer.alloc(32), 64), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.realloc(buf.subarray(8), 64), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.realloc('x' as never, 64), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => pool.realloc(buf, -1), 'ERR_OUT_OF_RANGE', RangeError);
    pool.alloc(32);
    pool.free(buf);
    expectCode(() => pool.realloc(buf, 64), 'ERR_POOL_DOUBLE_FREE', PoolError);
  });
});

describe('free', () => {
  test('rejects foreign buffers, sub-views, other pools, double frees', () => {
    using pool = new TlsfPool({ size: 4096 });
    using other = new TlsfPool({ size: 4096 });
    const a = pool.alloc(32);
    const b = pool.alloc(32);
    const theirs = other.alloc(32);
    const before = pool.stats();
    expectCode(() => pool.free(Buffer.alloc(32)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(Buffer.allocUnsafe(32)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(a.subarray(8)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(theirs), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.free(new Uint8Array(a.buffer, a.byteOffset + 1, 4) as Buffer), 'ERR_POOL_FOREIGN_BUFFER');
    expectCode(() => pool.free(new Float64Array(4) as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expectCode(() => pool.free(null as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expect(pool.stats()).toEqual(before);
    pool.free(a);
    expectCode(() => pool.free(a), 'ERR_POOL_DOUBLE_FREE', PoolError);
    pool.free(b);
    other.free(theirs);
    pool.check();
  });

  test('a plain Uint8Array over the same buffer and offset is accepted', () => {
    using pool = new TlsfPool({ size: 4096 });
    const a = pool.alloc(32);
    pool.free(new Uint8Array(a.buffer, a.byteOffset, 32) as Buffer);
    expect(pool.stats().allocations).toBe(0);
  });

  test('usableSize rejects what free rejects', () => {
    using pool = new TlsfPool({ size: 4096 });
    const a = pool.alloc(10);
    expect(pool.usableSize(a)).toBeGreaterThanOrEqual(10);
    expectCode(() => pool.usableSize(Buffer.alloc(3)), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.usableSize(1 as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    pool.alloc(10);
    pool.free(a);
    expectCode(() => pool.usableSize(a), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
  });
});

describe('regions', () => {
  test('addRegion returns ids, allocations land in new regions, walk reports them', () => {
    using pool = new TlsfPool({ size: 4096 });
    const id = pool.addRegion(64 * KiB);
    expect(id).toBe(1);
    expect(pool.stats().regions).toBe(2);
    expect(pool.stats().reserved).toBe(4096 + 64 * KiB);
    const big = pool.alloc(32 * KiB);
    expect(big.buffer.byteLength).toBe(64 * KiB);
    const blocks = [...pool.walk()];
    expect(blocks.some((block) => block.region === 1 && block.used && block.offset === big.byteOffset)).toBe(true);
    expectCode(() => pool.addRegion(10), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.addRegion('1' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  });

  test('removeRegion: ERR_POOL_IN_USE while live; views outlive the region (held until garbage)', () => {
    using pool = new TlsfPool({ size: 4096 });
    const id = pool.addRegion(64 * KiB);
    const big = pool.alloc(32 * KiB).fill(1);
    expectCode(() => pool.removeRegion(id), 'ERR_POOL_IN_USE', PoolError);
    expect(big[0]).toBe(1);
    const stale = big;
    pool.free(big);
    pool.removeRegion(id);
    expect(stale.byteLength).toBe(32 * KiB); // (its first bytes hold the allocator's free-list links)
    expect(pool.stats().heldBytes).toBe(64 * KiB);
    expect(pool.stats().heldChunks).toBe(1);
    expect(pool.stats().regions).toBe(1);
    expect(pool.stats().reserved).toBe(4096);
    expectCode(() => pool.free(stale), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    expectCode(() => pool.removeRegion(id), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.removeRegion(64), 'ERR_OUT_OF_RANGE', RangeError);
    expectCode(() => pool.removeRegion('0' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    // the id is reused, and an old view of the old region stays foreign
    expect(pool.addRegion(64 * KiB)).toBe(id);
    expectCode(() => pool.free(stale), 'ERR_POOL_FOREIGN_BUFFER', PoolError);
    pool.check();
  });

  test('removing and re-adding regions many times (address reuse) is safe', () => {
    using pool = new TlsfPool({ size: 4096 });
    for (let i = 0; i < 200; i++) {
      const id = pool.addRegion(256 * KiB);
      const buf = pool.alloc(200 * KiB);
      buf[0] = i & 0xff;
      pool.free(buf);
      pool.removeRegion(id);
      expect(buf.byteLength).toBe(200 * KiB);
    }
    pool.check();
  });

  test('the region table holds 64 regions', () => {
    using pool = new TlsfPool({ size: 64 });
    for (let i = 1; i < 64; i++) pool.addRegion(64);
    expectCode(() => pool.addRegion(64), 'ERR_POOL_EXHAUSTED', PoolError);
    expect(pool.stats().regions).toBe(64);
  });
});

describe('growth up to maxSize', () => {
  test('grows by adding regions, then ERR_POOL_EXHAUSTED / null, failures counted once', () => {
    using pool = new TlsfPool({ size: 64 * KiB, maxSize: 1 * MiB });
    const views: Buffer[] = [];
    for (;;) {
      const buf = pool.tryAlloc(16 * KiB);
      if (buf === null) break;
      views.push(buf.fill(views.length & 0xff));
    }
    const stats = pool.stats();
    expect(stats.regions).toBeGreaterThan(1);
    expect(stats.reserved).toBeLessThanOrEqual(1 * MiB);
    expect(stats.capacity).toBe(1 * MiB);
    expect(views.length * 16 * KiB).toBeGreaterThan(0.8 * MiB);
    expect(stats.failedAllocations).toBe(1);
    expectCode(() => pool.alloc(16 * KiB), 'ERR_POOL_EXHAUSTED', PoolError);
    expect(pool.stats().failedAllocations).toBe(2);
    views.forEach((view, i) => expect(view[100]).toBe(i & 0xff));
    for (const view of views) pool.free(view);
    pool.check();
  });

  test('a request larger than the room left fails without growing', () => {
    using pool = new TlsfPool({ size: 4096, maxSize: 64 * KiB });
    expect(pool.tryAlloc(64 * KiB)).toBeNull();
    expect(pool.stats().regions).toBe(1);
    expect(pool.alloc(32 * KiB).length).toBe(32 * KiB);
    expect(pool.stats().regions).toBe(2);
  });

  test('calloc, allocAligned and realloc grow too', () => {
    using pool = new TlsfPool({ size: 4096, maxSize: 4 * MiB });
    expect(pool.calloc(1000, 100).every((byte) => byte === 0)).toBe(true);
    expect(pool.allocAligned(50 * KiB, 4096).byteOffset % 4096).toBe(0);
    const small = pool.alloc(100).fill(3);
    const big = pool.realloc(small, 1 * MiB);
    expect(big[99]).toBe(3);
    expect(pool.stats().failedAllocations).toBe(0);
    expect(pool.stats().reserved).toBeLessThanOrEqual(4 * MiB);
  });

  test('addRegion respects maxSize', () => {
    using pool = new TlsfPool({ size: 4096, maxSize: 8192 });
    expectCode(() => pool.addRegion(8192), 'ERR_OUT_OF_RANGE', RangeError);
    expect(pool.addRegion(4096)).toBe(1);
    expectCode(() => pool.addRegion(64), 'ERR_OUT_OF_RANGE', RangeError);
  });
});

describe('walk, check, stats', () => {
  test('walk is in address order and accounts for every block', () => {
    using pool = new TlsfPool({ size: 64 * KiB });
    const a = pool.alloc(100);
    const b = pool.alloc(200);
    pool.alloc(300);
    pool.free(b);
    const blocks = [...pool.walk()];
    for (let i = 1; i < blocks.length; i++) expect(blocks[i]!.offset).toBeGreaterThan(blocks[i - 1]!.offset);
    expect(blocks.find((block) => block.offset === a.byteOffset)?.used).toBe(true);
    expect(blocks.find((block) => block.offset === b.byteOffset)?.used).toBe(false);
    const stats = pool.stats();
    const used = blocks.filter((block) => block.used).reduce((sum, block) => sum + block.size, 0);
    const free = blocks.filter((block) => !block.used).reduce((sum, block) => sum + block.size, 0);
    expect(used).toBe(stats.used);
    expect(free).toBe(stats.free);
    expect(blocks.filter((block) => block.used).length).toBe(stats.allocations);
    expect(Math.max(...blocks.filter((block) => !block.used).map((block) => block.size))).toBe(stats.largestFree);
  });

  test('peakUsed never decreases', () => {
    using pool = new TlsfPool({ size: 64 * KiB });
    const a = pool.alloc(1000);
    const peak = pool.stats().peakUsed;
    pool.free(a);
    expect(pool.stats().used).toBe(0);
    expect(pool.stats().peakUsed).toBe(peak);
  });

  test('resident memory follows use: a fresh 4 GiB pool is under 1 MiB, 1,000 blocks cost <= 1.25x their bytes', () => {
    using pool = new TlsfPool({ size: 4 * 1024 * MiB });
    expect(pool.stats().resident).toBeGreaterThan(0);
    expect(pool.stats().resident).toBeLessThanOrEqual(1 * MiB);
    const views: Buffer[] = [];
    let usable = 0;
    for (let i = 0; i < 1000; i++) {
      const view = pool.alloc(16 + ((i * 7919) % 497)); // 16..512 B, the bench's W1 sizes
      view.fill(1); // every byte touched
      views.push(view);
      usable += pool.usableSize(view);
    }
    const { resident } = pool.stats();
    expect(resident).toBeGreaterThanOrEqual(usable);
    expect(resident).toBeLessThanOrEqual(1.25 * usable);
  });

  test('walk() reads the start bitmap only where blocks start: resident stays as it was', () => {
    using pool = new TlsfPool({ size: 4 * 1024 * MiB });
    const views = Array.from({ length: 100 }, () => pool.alloc(200));
    const before = pool.stats().resident;
    expect([...pool.walk()]).toHaveLength(101);
    expect(pool.stats().resident).toBeLessThanOrEqual(before + 4 * KiB); // a full read: 64 MiB of bitmap
    for (const view of views) pool.free(view);
  });

  test('trim() gives the pages of free memory back; live blocks keep their bytes', () => {
    using pool = new TlsfPool({ size: 512 * MiB });
    const small: Buffer[] = [];
    for (let i = 0; i < 1000; i++) small.push(pool.alloc(16 + ((i * 7919) % 497)).fill(i & 255));
    const start = pool.stats().resident;
    // 6 MiB of large blocks (below the automatic trim's 8 MiB) and 4,000 small ones, written and freed
    const large = Array.from({ length: 6 }, () => pool.alloc(MiB).fill(1));
    const more = Array.from({ length: 4000 }, () => pool.alloc(1000).fill(2));
    for (const view of [...large, ...more]) pool.free(view);
    const spiked = pool.stats().resident;
    expect(spiked).toBeGreaterThan(start + 9 * MiB);
    const released = pool.trim();
    const after = pool.stats().resident;
    expect(released).toBeGreaterThan(9 * MiB);
    expect(spiked - after).toBeGreaterThanOrEqual(released - 64 * KiB); // give or take the cache's blocks
    expect(after).toBeLessThan(start + 128 * KiB);
    for (let i = 0; i < small.length; i++) expect(small[i]!.every((byte) => byte === (i & 255))).toBe(true);
    // the memory works as before: allocated again, written, checked
    const again = pool.alloc(5 * MiB).fill(3);
    expect(pool.calloc(1, MiB).every((byte) => byte === 0)).toBe(true);
    expect(again.every((byte) => byte === 3)).toBe(true);
    expect(pool.trim()).toBeLessThan(64 * KiB); // nothing more to give
    // (check() reads the whole start bitmap, which mincore then counts resident: last)
    pool.check();
  });

  test('the end of a spike of large blocks trims by itself; steady churn of them does not', () => {
    using pool = new TlsfPool({ size: 256 * MiB });
    const live = Array.from({ length: 4 }, () => pool.alloc(MiB).fill(1));
    for (let i = 0; i < 200; i++) {
      pool.free(live[i % 4]!);
      live[i % 4] = pool.alloc(MiB);
      // the block freed just before, its bytes as they were: no trim zeroed them
      expect(live[i % 4]![MiB / 2]).toBe(1);
      live[i % 4]!.fill(1);
    }
    const steady = pool.stats().resident;
    expect(steady).toBeGreaterThan(4 * MiB);
    const spike = Array.from({ length: 32 }, () => pool.alloc(MiB).fill(2));
    expect(pool.stats().resident).toBeGreaterThan(steady + 31 * MiB);
    for (const view of spike) pool.free(view);
    // freed past max(8 MiB, the live bytes): trimmed, every few MiB as they went
    expect(pool.stats().resident).toBeLessThan(steady + 9 * MiB);
    for (const view of live) expect(view.every((byte) => byte === 1)).toBe(true);
    pool.check();
  });

  test('trim() on a destroyed pool is ERR_POOL_DESTROYED; a thread-safe pool trims too', () => {
    const pool = new TlsfPool({ size: 16 * MiB, threadSafe: true });
    pool.free(pool.alloc(4 * MiB).fill(1));
    expect(pool.trim()).toBeGreaterThanOrEqual(4 * MiB - 8 * KiB);
    pool.destroy();
    expectCode(() => pool.trim(), 'ERR_POOL_DESTROYED');
  });

  test('a 4 GiB region (offsets up to 2^32) accounts its blocks: used, peakUsed, realloc, free', () => {
    using pool = new TlsfPool({ size: 4 * 1024 * MiB });
    const a = pool.alloc(100);
    const b = pool.alloc(20_000);
    const usable = pool.usableSize(a) + pool.usableSize(b);
    expect(pool.stats().used).toBe(usable);
    const c = pool.realloc(a, 300);
    expect(pool.stats().used).toBe(pool.usableSize(b) + pool.usableSize(c));
    pool.free(b);
    pool.free(c);
    expect(pool.stats()).toMatchObject({ used: 0, allocations: 0 });
    expect(pool.stats().peakUsed).toBeGreaterThanOrEqual(usable);
    expect(() => pool.check()).not.toThrow();
  });

  test('check passes on a healthy pool', () => {
    using pool = new TlsfPool({ size: 64 * KiB });
    pool.alloc(10);
    expect(() => pool.check()).not.toThrow();
  });
});

describe('destroy', () => {
  test('views keep their bytes; every call but stats throws ERR_POOL_DESTROYED', () => {
    const pool = new TlsfPool({ size: 64 * KiB });
    pool.addRegion(4096);
    const a = pool.alloc(100).fill(1);
    const floats = new Float64Array(a.buffer, a.byteOffset, 4);
    pool.destroy();
    expect(pool.destroyed).toBe(true);
    expect(a.byteLength).toBe(100);
    expect(a[99]).toBe(1);
    expect(floats.length).toBe(4);
    const after = pool.stats();
    expect(after.destroyed).toBe(true);
    expect(after.heldChunks).toBeGreaterThan(0);
    expect(after.used).toBe(0);
    const calls: Array<() => unknown> = [
      () => pool.alloc(1),
      () => pool.tryAlloc(1),
      () => pool.calloc(1, 1),
      () => pool.allocAligned(8, 8),
      () => pool.realloc(a, 8),
      () => pool.free(a),
      () => pool.usableSize(a),
      () => pool.addRegion(64),
      () => pool.removeRegion(0),
      () => pool.walk(),
      () => pool.check(),
    ];
    for (const call of calls) expectCode(call, 'ERR_POOL_DESTROYED', PoolError);
    pool.destroy();
    pool[Symbol.dispose]();
    expect(pool.destroyed).toBe(true);
  });

  test('using disposes the pool at the end of the block', () => {
    let escaped: Buffer;
    let pool: TlsfPool;
    {
      using scoped = new TlsfPool({ size: 4096 });
      pool = scoped;
      escaped = scoped.alloc(16);
      expect(scoped.destroyed).toBe(false);
    }
    expect(pool.destroyed).toBe(true);
    expect(escaped.byteLength).toBe(16);
  });

  test('destroy({ unsafeDetachViews: true }) detaches every view and holds nothing', () => {
    const pool = new TlsfPool({ size: 64 * KiB });
    const a = pool.alloc(100).fill(1);
    expectCode(() => pool.destroy({ unsafeDetachViews: 1 } as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    expect(pool.destroyed).toBe(false);
    pool.destroy({ unsafeDetachViews: true });
    expect(a.byteLength).toBe(0);
    expect(a[0]).toBeUndefined();
    expect(pool.stats()).toMatchObject({ destroyed: true, heldBytes: 0, heldChunks: 0 });
  });

  test('PoolError is exported and carries code and name', () => {
    const pool = new TlsfPool({ size: 4096 });
    pool.destroy();
    try {
      pool.alloc(1);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PoolError);
      expect(error).toBeInstanceOf(Error);
      expect((error as PoolError).name).toBe('PoolError');
      expect((error as PoolError).code).toBe('ERR_POOL_DESTROYED');
      expect(Object.keys(error as object)).toEqual(['code']);
    }
  });
});
