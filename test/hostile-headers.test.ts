// A block overflowed by 8 bytes rewrites the size word of the next block's header
// (native/alloc/tlsf.h "Block layout"). Freeing that next block must then report
// ERR_POOL_CORRUPTED, or at least no later allocation may overlap a live block:
// neither the JavaScript free caches (TlsfPool, SharedPool) nor the allocator may
// trust the rewritten word. Every layout figure comes from the binding.
import { describe, expect, test } from 'vitest';

import { SharedPool, TlsfPool } from '../lib/index.js';
import { binding } from '../lib/core/native.js';

const { flagFree, flagPrevFree, flagCached, flagBits } = binding.layout;
const OVERHEAD = binding.tlsf.constants.blockOverhead;
const MiB = 1024 * 1024;

interface Pool {
  alloc(size: number): Buffer;
  free(buf: Buffer): void;
  check(): void;
}

/** The size words a header rewrite puts in place of `usable | flags` (low, high 32-bit halves). */
function rewrites(usable: number, nextUsable: number, seed: number): [string, number, number][] {
  const words: [string, number, number][] = [
    ['all ones', 0xffffffff, 0xffffffff],
    ['zero', 0, 0],
    ['the size of this block and the next', usable + OVERHEAD + nextUsable, 0],
    ['8 bytes more', usable + 8, 0],
    ['8 bytes less', usable - 8, 0],
    ['the smallest size', 24, 0],
    ['a huge size', 0x7ffffff8, 0],
    ['right size, free flag', usable | flagFree, 0],
    ['right size, cached flag', usable | flagCached, 0],
    ['right size, previous-free flag', usable | flagPrevFree, 0],
    ['right size, alignment bits', usable, 0x0c000000],
    ['a misaligned size', usable + 4, 0],
  ];
  let x = seed;
  for (let i = 0; i < 24; i++) {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    const y = Math.imul(x, 0x297a2d39) >>> 0;
    words.push([`random ${i}`, i % 2 === 0 ? (x & 0xfff8) | (y & flagBits) : x, i % 3 === 0 ? y : 0]);
  }
  return words;
}

function overlapping(a: Buffer, b: Buffer): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;
}

/** Runs `f`; true when it threw ERR_POOL_CORRUPTED, false when it returned; any other error fails. */
function corrupted(f: () => void, allowed: string[] = []): boolean {
  try {
    f();
    return false;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'ERR_POOL_CORRUPTED' && !allowed.includes(code ?? '')) throw e;
    return code === 'ERR_POOL_CORRUPTED';
  }
}

/**
 * Three adjacent blocks a, b, c; 8 bytes past a's end (b's size word) rewritten to
 * [lo, hi]; b freed; then many allocations, none of which may overlap a live block.
 * Returns whether the pool reported the damage.
 */
function overflowThenAllocate(pool: Pool, usableOf: (a: Buffer, b: Buffer) => number, lo: number, hi: number): boolean {
  const live: Buffer[] = [];
  for (let i = 0; i < 8; i++) live.push(pool.alloc(200));
  const [a, b, c] = [pool.alloc(64), pool.alloc(64), pool.alloc(64)];
  const usable = usableOf(a, b);
  expect(b.byteOffset).toBe(a.byteOffset + usable + OVERHEAD);
  expect(c.byteOffset - b.byteOffset).toBe(usable + OVERHEAD);
  live.push(a, c);
  for (const buf of [...live, b]) buf.fill(0xa5);
  // the overflow: 8 bytes written past a's usable end
  const header = new DataView(a.buffer, a.byteOffset + usable, 8);
  header.setUint32(0, lo, true);
  header.setUint32(4, hi, true);
  let reported = corrupted(() => pool.free(b), ['ERR_POOL_DOUBLE_FREE']);
  if (reported) live.push(b); // not freed: still the user's
  const sizes = [1000, 64, 56, 72, 24, 120, 64, 200, 1000, 8, 64, 3000];
  for (let i = 0; i < 300 && !reported; i++) {
    let fresh: Buffer | undefined;
    reported = corrupted(() => {
      fresh = pool.alloc(sizes[i % sizes.length]!);
    });
    if (fresh === undefined) break;
    for (const other of live) expect(overlapping(fresh, other)).toBe(false);
    fresh.fill(0x5a);
    if (i % 3 === 0) reported = corrupted(() => pool.free(fresh!), ['ERR_POOL_DOUBLE_FREE']);
    else live.push(fresh);
  }
  // what the live blocks hold was written by their owners alone (a's last 8 bytes are
  // b's prev_size slot, which the allocator may use while b is free)
  for (const buf of live) {
    const mine = buf === a ? buf.subarray(0, buf.length - 8) : buf;
    if (buf !== a || !reported) expect(mine.every((v) => v === 0xa5 || v === 0x5a)).toBe(true);
  }
  return reported || corrupted(() => pool.check());
}

describe('an overflow into the next block header', () => {
  test.each(rewrites(64, 64, 1))('TlsfPool: %s', (_name, lo, hi) => {
    using pool = new TlsfPool({ size: MiB });
    overflowThenAllocate(pool, (a) => pool.usableSize(a), lo, hi);
  });

  test.each(rewrites(64, 64, 2))('SharedPool: %s', (_name, lo, hi) => {
    using pool = SharedPool.create({ size: MiB });
    overflowThenAllocate(pool, (a, b) => b.byteOffset - a.byteOffset - OVERHEAD, lo, hi);
  });

  test('TlsfPool: a size word covering the next live block is reported at free, and alloc(1000) overlaps nothing', () => {
    using pool = new TlsfPool({ size: MiB });
    const usable = (buf: Buffer): number => pool.usableSize(buf);
    const reported = overflowThenAllocate(pool, usable, 64 + OVERHEAD + 64, 0);
    expect(reported).toBe(true);
  });

  test('SharedPool: a size word covering the next live block is reported at free', () => {
    using pool = SharedPool.create({ size: MiB });
    const reported = overflowThenAllocate(
      pool,
      (a, b) => b.byteOffset - a.byteOffset - OVERHEAD,
      64 + OVERHEAD + 64,
      0,
    );
    expect(reported).toBe(true);
  });

  test('TlsfPool: usableSize of a block whose header was rewritten is ERR_POOL_CORRUPTED, not the rewritten size', () => {
    using pool = new TlsfPool({ size: MiB });
    const [a, b] = [pool.alloc(64), pool.alloc(64)];
    const usable = pool.usableSize(a);
    new DataView(a.buffer, a.byteOffset + usable, 8).setUint32(0, 4096, true);
    expect(() => pool.usableSize(b)).toThrow(expect.objectContaining({ code: 'ERR_POOL_CORRUPTED' }));
  });

  test('TlsfPool: a free block whose header was rewritten is never handed out over its neighbours', () => {
    using pool = new TlsfPool({ size: MiB });
    const [a, b, c, d] = [pool.alloc(20000), pool.alloc(20000), pool.alloc(64), pool.alloc(64)];
    const usable = pool.usableSize(a);
    pool.free(b); // too big for the JavaScript cache: a free block of the allocator
    // b's size word now claims b, c and d
    const claim = pool.usableSize(c) + OVERHEAD + pool.usableSize(d) + OVERHEAD + 20000;
    new DataView(a.buffer, a.byteOffset + usable, 8).setUint32(0, claim - (claim % 8), true);
    let fresh: Buffer | undefined;
    const reported = corrupted(() => {
      fresh = pool.alloc(20000 + 64);
    });
    if (!reported) for (const other of [a, c, d]) expect(overlapping(fresh!, other)).toBe(false);
  });
});
