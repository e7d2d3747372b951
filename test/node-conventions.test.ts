// Node conventions: util.inspect of pools and views, `await using`.
import { inspect } from 'node:util';

import { describe, expect, test } from 'vitest';

import { HeapPool, RegionPool, SharedPool, TlsfPool } from '../lib/index.js';

type Pool = TlsfPool | RegionPool | HeapPool | SharedPool;

const kinds: [string, () => Pool][] = [
  ['TlsfPool', () => new TlsfPool({ size: 1 << 16 })],
  ['RegionPool', () => new RegionPool({ blockSize: 4096 })],
  ['HeapPool', () => new HeapPool()],
  ['SharedPool', () => SharedPool.create({ size: 1 << 20 })],
];

function end(pool: Pool): void {
  if (pool instanceof SharedPool) pool.close();
  else pool.destroy();
}

describe.each(kinds)('%s', (kind, make) => {
  test('util.inspect(pool) shows its kind and its stats()', () => {
    const pool = make();
    try {
      const view = pool.alloc(100);
      const shown = inspect(pool);
      expect(shown.startsWith(`${kind} {`)).toBe(true);
      expect(shown).toContain('allocations: 1');
      expect(shown).toContain(`used: ${pool.stats().used}`);
      expect(shown).toContain('destroyed: false');
      pool.free(view);
      expect(inspect(pool)).toContain('allocations: 0');
      // nested deeper than the depth: the kind alone, as Node shows a class instance
      expect(inspect({ a: { b: pool } }, { depth: 1 })).toBe(`{ a: { b: [${kind}] } }`);
    } finally {
      end(pool);
    }
    expect(inspect(pool)).toContain('destroyed: true');
  });

  test('util.inspect(view) shows the pool kind, the offset and the length, then the bytes', () => {
    const pool = make();
    try {
      const view = pool.alloc(64);
      view.write('hello');
      const offset = view.byteOffset;
      // Buffer's own rendering of the same bytes, after the pool kind, offset and length
      const bytes = inspect(Buffer.from(view)).slice('<Buffer'.length);
      expect(bytes.startsWith(' 68 65 6c 6c 6f')).toBe(true);
      expect(inspect(view)).toBe(`<${kind} view offset=${offset} length=64${bytes}`);
      // a subarray is not an allocation of the pool: a plain Buffer
      expect(inspect(view.subarray(0, 2))).toBe('<Buffer 68 65>');
      pool.free(view);
    } finally {
      end(pool);
    }
  });

  test('Symbol.asyncDispose: `await using` ends the pool like `using`', async () => {
    let outer: Pool | undefined;
    {
      await using pool = make();
      outer = pool;
      expect(typeof pool[Symbol.asyncDispose]).toBe('function');
      pool.alloc(8);
    }
    expect(outer.stats().destroyed).toBe(true);
  });
});
