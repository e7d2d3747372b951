'use strict';
// Misuse scenarios run in a child process (test/child-process.test.ts): the
// process must never crash, and each scenario reports the error code it got.
// Usage: node misuse-child.js <tlsf|region|heap>. Prints one JSON object
// {scenario: code | value} on stdout and exits 0.
//
// STEPS is the whole script, in order: a step without `only` runs for every
// kind, a step with `only` for those kinds; a step with a name records its
// result under that name. KINDS holds what differs between the kinds.
const { HeapPool, RegionPool, TlsfPool } = require('../../dist/index.js');
const { recorder } = require('./child.js');

const KINDS = {
  tlsf: { create: () => new TlsfPool({ size: 64 * 1024 }), other: () => new TlsfPool({ size: 4096 }), subOffset: 8 },
  // chunk: what the pool calls the piece of memory an allocation lives in
  region: {
    create: () => new RegionPool({ blockSize: 1024 }),
    other: () => new RegionPool(),
    subOffset: 8,
    large: 8000,
    chunk: 'block',
  },
  heap: { create: () => new HeapPool(), other: () => new HeapPool(), subOffset: 16, large: 3 << 20, chunk: 'chunk' },
};

const kindName = process.argv[2];
const kind = KINDS[kindName];
if (!kind) throw new Error(`usage: misuse-child.js <${Object.keys(KINDS).join('|')}>`);
const CHUNKED = ['region', 'heap']; // pools whose metadata lives outside their chunks

/** @type {{ name?: string, only?: string[], run: (c: Record<string, any>) => unknown }[]} */
const STEPS = [
  {
    run: (c) => {
      c.pool = kind.create();
      c.a = c.pool.alloc(64);
    },
  },
  {
    only: CHUNKED,
    run: (c) => {
      c.keep = c.pool.alloc(64).fill(9);
      c.large = c.pool.alloc(kind.large);
    },
  },
  { name: 'free foreign Buffer', run: (c) => c.pool.free(Buffer.alloc(64)) },
  { name: 'free sub-view', run: (c) => c.pool.free(c.a.subarray(kind.subOffset)) },
  {
    name: 'free rebuilt view',
    only: CHUNKED,
    run: (c) => c.pool.free(Buffer.from(c.a.buffer, c.a.byteOffset, c.a.length)),
  },
  {
    run: (c) => {
      c.other = kind.other();
    },
  },
  { name: 'free other pool view', run: (c) => c.pool.free(c.other.alloc(8)) },
  {
    only: CHUNKED,
    run: (c) => {
      c.tlsf = new TlsfPool({ size: 4096 });
    },
  },
  { name: 'free TLSF view', only: CHUNKED, run: (c) => c.pool.free(c.tlsf.alloc(8)) },
  {
    only: ['heap'],
    run: (c) => {
      c.child = new HeapPool({ parent: c.pool });
      c.childView = c.child.alloc(32);
    },
  },
  { name: 'free child view through parent', only: ['heap'], run: (c) => c.pool.free(c.childView) },
  { name: 'free parent view through child', only: ['heap'], run: (c) => c.child.free(c.keep) },
  // keep a live neighbour so the freed block is not merged away
  {
    only: ['tlsf'],
    run: (c) => {
      c.pool.alloc(64);
    },
  },
  { name: 'free once', run: (c) => c.pool.free(c.a) },
  { name: 'free twice', run: (c) => c.pool.free(c.a) },
  { name: 'free large once', only: CHUNKED, run: (c) => c.pool.free(c.large) },
  { name: 'free large twice', only: CHUNKED, run: (c) => c.pool.free(c.large) },
  { name: 'large kept on free', only: CHUNKED, run: (c) => c.large.byteLength === kind.large },

  // Writes through an enlarged view over a whole chunk reach user data only:
  // no pool metadata lives in chunk memory.
  {
    name: `check after overwriting a whole ${kind.chunk}`,
    only: CHUNKED,
    run: (c) => {
      c.wide = new Uint8Array(c.keep.buffer, 0, c.keep.buffer.byteLength);
      c.wide.fill(0xa5);
      return c.pool.check();
    },
  },
  { name: 'alloc after overwrite', only: CHUNKED, run: (c) => c.pool.alloc(100).length },
  { name: 'free after overwrite', only: CHUNKED, run: (c) => c.pool.free(c.keep) },

  // Views from before a reset are stale, even where a new allocation starts at the same byte.
  {
    only: ['region'],
    run: (c) => {
      c.stale = c.pool.alloc(32);
      c.staleLarge = c.pool.allocAligned(64, 4096);
      c.pool.reset();
    },
  },
  { name: 'free stale after reset', only: ['region'], run: (c) => c.pool.free(c.stale) },
  { name: 'free stale large after reset', only: ['region'], run: (c) => c.pool.free(c.staleLarge) },
  { name: 'stale large kept', only: ['region'], run: (c) => c.staleLarge.byteLength === 64 },
  { name: 'realloc stale', only: ['region'], run: (c) => c.pool.realloc(c.stale, 8).length },
  {
    name: 'fresh at the stale offset',
    only: ['region'],
    run: (c) => {
      c.pool.allocUnaligned(c.stale.byteOffset); // so that the next allocation lands where `stale` was
      c.fresh = c.pool.alloc(32);
      return c.fresh.byteOffset === c.stale.byteOffset;
    },
  },
  { name: 'free stale again', only: ['region'], run: (c) => c.pool.free(c.stale) },
  { name: 'free fresh', only: ['region'], run: (c) => c.pool.free(c.fresh) },

  { name: 'check after misuse', run: (c) => c.pool.check() },

  // Overrun: 8 bytes past the end of an allocation land in the next block's header.
  {
    name: 'next header is adjacent',
    only: ['tlsf'],
    run: (c) => {
      c.victim = c.pool.alloc(24);
      c.next = c.pool.alloc(24);
      c.usable = c.pool.usableSize(c.victim);
      return c.next.byteOffset - (c.victim.byteOffset + c.usable);
    },
  },
  {
    name: 'check after overrun',
    only: ['tlsf'],
    run: (c) => {
      new Uint8Array(c.victim.buffer, c.victim.byteOffset, c.victim.length + 16).fill(0xa5, c.usable, c.usable + 8);
      return c.pool.check();
    },
  },
  {
    name: 'check message',
    only: ['tlsf'],
    run: (c) => {
      try {
        c.pool.check();
        return 'no error';
      } catch (error) {
        return typeof error.message === 'string' && error.message.length > 'Pool corrupted: '.length
          ? 'has reason'
          : error.message;
      }
    },
  },
  { name: 'free of the damaged neighbour', only: ['tlsf'], run: (c) => c.pool.free(c.next) },
  { name: 'free before the damage', only: ['tlsf'], run: (c) => c.pool.free(c.victim) },
  {
    only: ['tlsf'],
    run: (c) => {
      for (let i = 0; i < 100; i++) {
        record('alloc after corruption', () => c.pool.alloc(16 + i * 40).length);
        record('tryAlloc after corruption', () => (c.pool.tryAlloc(16 + i) === null ? 'null' : 'buffer'));
      }
    },
  },
  { name: 'walk after corruption', only: ['tlsf'], run: (c) => [...c.pool.walk()].length },

  // After destroy(): calls are refused, views keep their memory.
  {
    only: ['tlsf'],
    run: (c) => {
      c.view = c.a;
    },
  }, // the corrupted pool may not allocate again
  {
    only: CHUNKED,
    run: (c) => {
      c.view = c.pool.alloc(16);
    },
  },
  { run: (c) => c.pool.destroy() },
  { name: 'child destroyed with parent', only: ['heap'], run: (c) => c.child.destroyed },
  { name: 'child view kept', only: ['heap'], run: (c) => c.childView.byteLength > 0 },
  { name: 'free after destroy', run: (c) => c.pool.free(c.view) },
  { name: 'child free after destroy', only: ['heap'], run: (c) => c.child.free(c.childView) },
  { name: 'alloc after destroy', only: CHUNKED, run: (c) => c.pool.alloc(1) },
  { name: 'read after destroy', run: (c) => typeof c.view[0] },
  { name: 'byteLength after destroy', run: (c) => c.view.byteLength > 0 },
  {
    name: 'write after destroy',
    only: CHUNKED,
    run: (c) => {
      c.view[0] = 1; // the memory stays while the view lives
      c.wide[10] = 1;
      return c.view[0];
    },
  },
  { name: 'destroy twice', run: (c) => c.pool.destroy() },
  { name: 'child destroy after parent', only: ['heap'], run: (c) => c.child.destroy() },
  {
    run: (c) => {
      c.other.destroy();
      c.tlsf?.destroy();
    },
  },
];

const { results, record } = recorder();
const context = {};
for (const step of STEPS) {
  if (step.only && !step.only.includes(kindName)) continue;
  if (step.name === undefined) step.run(context);
  else record(step.name, () => step.run(context));
}

process.stdout.write(JSON.stringify(results));
