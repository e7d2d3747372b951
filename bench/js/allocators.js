'use strict';
// JS allocators for the JS workloads. Each entry:
//   name:    as printed in the results
//   create(size, window) -> Promise<{ alloc(n): Uint8Array, free: ((view) => void) | null }>
//            `free` is null for garbage-collected allocators (the slot is just overwritten);
//            for pools the workload frees the slot's view before allocating its replacement.
//            Optional `held()`: bytes of memory the allocator holds, for the mixed-size rows'
//            "held/live" figure (TlsfPool: stats().resident; HeapPool: stats().reserved).
//   available() -> string | null   null when usable, else why it is skipped
// To add an allocator, add one entry here; bench/run.js picks it up.
const path = require('node:path');
const fs = require('node:fs');

const DIST = path.join(__dirname, '..', '..', 'dist');

// Pool capacity for a window of `window` live blocks of `size` bytes: room for every
// block plus 64 bytes of header/slack each, plus 25 %, rounded up to 64 KiB.
function poolBytes(size, window) {
  const raw = window * (size + 64) * 1.25;
  return Math.ceil(raw / 65536) * 65536;
}

// null when dist/ loads and exports `name` (a class), else why not
function distExport(name) {
  if (!fs.existsSync(path.join(DIST, 'index.js'))) return 'dist/index.js missing (run npm run build)';
  try {
    return typeof require(DIST)[name] === 'function' ? null : `dist/ has no ${name} export yet`;
  } catch (e) {
    return `dist/ does not load (${String(e.message).split('\n')[0]})`;
  }
}

const JS_ALLOCATORS = [
  {
    name: 'Buffer.allocUnsafe',
    available: () => null,
    create: async () => ({ alloc: (n) => Buffer.allocUnsafe(n), free: null }),
  },
  {
    name: 'Buffer.alloc',
    available: () => null,
    create: async () => ({ alloc: (n) => Buffer.alloc(n), free: null }),
  },
  {
    name: 'ArrayBuffer',
    available: () => null,
    create: async () => ({ alloc: (n) => new Uint8Array(new ArrayBuffer(n)), free: null }),
  },
  {
    name: 'TlsfPool',
    available: () => (fs.existsSync(path.join(DIST, 'index.js')) ? null : 'dist/index.js missing (run npm run build)'),
    create: async (size, window) => {
      const { TlsfPool } = require(DIST);
      const pool = new TlsfPool({ size: poolBytes(size, window) });
      return { alloc: (n) => pool.alloc(n), free: (b) => pool.free(b), held: () => pool.stats().resident };
    },
  },
  {
    // the same with a lock in every native call (other addons may allocate from any thread)
    name: 'TlsfPool threadSafe',
    available: () => (fs.existsSync(path.join(DIST, 'index.js')) ? null : 'dist/index.js missing (run npm run build)'),
    create: async (size, window) => {
      const { TlsfPool } = require(DIST);
      const pool = new TlsfPool({ size: poolBytes(size, window), threadSafe: true });
      return { alloc: (n) => pool.alloc(n), free: (b) => pool.free(b) };
    },
  },
  {
    name: 'HeapPool',
    available: () => (fs.existsSync(path.join(DIST, 'index.js')) ? null : 'dist/index.js missing (run npm run build)'),
    create: async () => {
      const { HeapPool } = require(DIST);
      const pool = new HeapPool(); // unbounded: chunks come from the system as the window needs
      return { alloc: (n) => pool.alloc(n), free: (b) => pool.free(b), held: () => pool.stats().reserved };
    },
  },
  {
    // the same with a lock in every native call (other addons may allocate from any thread)
    name: 'HeapPool threadSafe',
    available: () => (fs.existsSync(path.join(DIST, 'index.js')) ? null : 'dist/index.js missing (run npm run build)'),
    create: async () => {
      const { HeapPool } = require(DIST);
      const pool = new HeapPool({ threadSafe: true });
      return { alloc: (n) => pool.alloc(n), free: (b) => pool.free(b) };
    },
  },
  {
    // blocks of 16 KiB; small requests bumped in JavaScript, a block reused once all its allocations are freed
    name: 'RegionPool',
    available: () => distExport('RegionPool'),
    create: async () => {
      const { RegionPool } = require(DIST);
      const pool = new RegionPool({ blockSize: 16384 });
      return { alloc: (n) => pool.alloc(n), free: (b) => pool.free(b) };
    },
  },
  {
    // an anonymous segment sized like TlsfPool's pool, its per-process cache on (the default)
    name: 'SharedPool',
    available: () => distExport('SharedPool'),
    create: async (size, window) => {
      const { SharedPool } = require(DIST);
      const pool = SharedPool.create({ size: poolBytes(size, window) });
      return { alloc: (n) => pool.alloc(n), free: (b) => pool.free(b) };
    },
  },
  {
    name: '@thi.ng/malloc',
    // ESM-only package whose exports map hides package.json: look for it on disk
    available: () =>
      module.paths.some((p) => fs.existsSync(path.join(p, '@thi.ng', 'malloc', 'package.json')))
        ? null
        : '@thi.ng/malloc not installed',
    create: async (size, window) => {
      const { MemPool } = await import('@thi.ng/malloc');
      const pool = new MemPool({ size: poolBytes(size, window) });
      return {
        alloc: (n) => {
          const a = pool.mallocAs('u8', n);
          if (a === undefined) throw new Error('@thi.ng/malloc: pool exhausted');
          return a;
        },
        free: (b) => {
          pool.free(b);
        },
      };
    },
  },
];

const JS_PEER = 'Buffer.allocUnsafe';

// Allocators for the request workload R1 (bench/js/request.js). Each entry:
//   name, available() as above
//   create() -> Promise<{ begin(): void, alloc(n): Uint8Array, end(views: Uint8Array[]): void }>
//            begin/end bracket one request; `views` holds the request's allocations
//            (end may free them one by one, or drop a whole pool; GC'd allocators ignore it)
// Peer: JS_PEER, as in the other JS workloads.
const REQUEST_BLOCK = 16384;

const JS_REQUEST_ALLOCATORS = [
  {
    // the request's buffers are dropped at its end (left to the GC)
    name: 'Buffer.allocUnsafe',
    available: () => null,
    create: async () => ({ begin() {}, alloc: (n) => Buffer.allocUnsafe(n), end() {} }),
  },
  {
    // the floor of any allocator that returns a view per allocation: a plain Uint8Array over
    // one fixed ArrayBuffer, bumped 8-aligned, rewound at the end of the request; no
    // bookkeeping, no Buffer prototype, nothing a free or a reset could check
    name: 'Uint8Array view (floor)',
    available: () => null,
    create: async () => {
      const arena = new ArrayBuffer(1 << 20);
      let top = 0;
      return {
        begin() {},
        alloc(n) {
          const view = new Uint8Array(arena, top, n);
          top = (top + n + 7) & ~7;
          return view;
        },
        end() {
          top = 0;
        },
      };
    },
  },
  {
    // a pool per request: new RegionPool at the start, destroy() at the end
    name: 'RegionPool',
    available: () => distExport('RegionPool'),
    create: async () => {
      const { RegionPool } = require(DIST);
      let pool = null;
      return {
        begin() {
          pool = new RegionPool({ blockSize: REQUEST_BLOCK });
        },
        alloc: (n) => pool.alloc(n),
        end() {
          pool.destroy();
          pool = null;
        },
      };
    },
  },
  {
    // one pool for the whole run, reset() at the end of every request
    name: 'RegionPool reset',
    available: () => distExport('RegionPool'),
    create: async () => {
      const { RegionPool } = require(DIST);
      const pool = new RegionPool({ blockSize: REQUEST_BLOCK });
      return { begin() {}, alloc: (n) => pool.alloc(n), end: () => pool.reset() };
    },
  },
  {
    // reference: a general-purpose pool, every buffer freed at the end of the request
    name: 'TlsfPool',
    available: () => distExport('TlsfPool'),
    create: async () => {
      const { TlsfPool } = require(DIST);
      const pool = new TlsfPool({ size: 1 << 20 });
      return {
        begin() {},
        alloc: (n) => pool.alloc(n),
        end(views) {
          for (let i = 0; i < views.length; i++) pool.free(views[i]);
        },
      };
    },
  },
];

module.exports = { JS_ALLOCATORS, JS_PEER, JS_REQUEST_ALLOCATORS, poolBytes };
