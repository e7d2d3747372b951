'use strict';
// Run with --expose-gc (test/child-process.test.ts):
//   node --expose-gc gc-child.js <tlsf|region|heap>
// Checks that pools (and families of heap pools) dropped without destroy() are
// freed once unreachable, that a view keeps its memory valid after its pool
// (and the pool's parent) is dropped, and that destroy() followed by the
// finalizers never frees twice. Prints one JSON object on stdout.
//
// The steps are the same for every kind; KINDS says what each one allocates.
const { HeapPool, RegionPool, TlsfPool } = require('../../dist/index.js');
const { rssMiB, runMain, settle } = require('./child.js');

const MiB = 1024 * 1024;

const KINDS = {
  tlsf: {
    // views of a pool that is then dropped; view i is filled with 42 + i
    survivors: () => [new TlsfPool({ size: 1 * MiB }).alloc(1024)],
    // one pool dropped with its memory touched (leaking 200 of them would be ~1600 MiB)
    dropOne() {
      const pool = new TlsfPool({ size: 8 * MiB });
      pool.alloc(8 * MiB - 1024).fill(1);
      pool.addRegion(64 * 1024);
    },
    // a pool and views of it; the views are dropped, then the pool destroyed
    viewsDroppedBeforeDestroy() {
      const pool = new TlsfPool({ size: 64 * 1024 });
      return [pool, [pool.alloc(100), pool.alloc(200)]];
    },
    // one pool destroyed while `kept` holds its views
    keepAcrossDestroy(kept) {
      const pool = new TlsfPool({ size: 64 * 1024 });
      kept.push(pool.alloc(10));
      pool.destroy();
    },
  },
  region: {
    survivors() {
      const pool = new RegionPool();
      return [pool.alloc(1024), pool.alloc(100_000)];
    },
    // leaking would be ~1400 MiB
    dropOne() {
      const pool = new RegionPool({ blockSize: 1 << 20 });
      for (let j = 0; j < 4; j++) pool.alloc(4000).fill(1);
      pool.alloc(4 * MiB).fill(1);
      pool.allocAligned(2 * MiB, 65536).fill(2);
    },
    viewsDroppedBeforeDestroy() {
      const pool = new RegionPool();
      const views = [pool.alloc(100), pool.alloc(20_000)];
      pool.free(views[1]);
      return [pool, views];
    },
    keepAcrossDestroy(kept) {
      const pool = new RegionPool();
      kept.push(pool.alloc(10), pool.alloc(10_000));
      pool.reset();
      kept.push(pool.alloc(10));
      pool.destroy();
    },
  },
  heap: {
    survivors() {
      const root = new HeapPool();
      const child = new HeapPool({ parent: root, capacity: 8 * MiB });
      return [root.alloc(1024), child.alloc(100_000), child.alloc(3 * MiB)];
    },
    // a family of three; leaking would be ~1000 MiB
    dropOne() {
      const root = new HeapPool();
      const child = new HeapPool({ parent: root });
      const grandchild = new HeapPool({ parent: child, capacity: 16 * MiB });
      for (let j = 0; j < 4; j++) root.alloc(4000).fill(1);
      child.alloc(1 * MiB).fill(2);
      grandchild.alloc(4 * MiB).fill(3);
      grandchild.alloc(100).fill(4);
    },
    viewsDroppedBeforeDestroy: null,
    keepAcrossDestroy(kept, i) {
      const root = new HeapPool();
      const child = new HeapPool({ parent: root });
      kept.push(root.alloc(10), child.alloc(10_000), child.alloc(3 * MiB));
      if (i % 2 === 0) child.destroy();
      root.destroy();
    },
  },
};

const kind = KINDS[process.argv[2]];
if (!kind) throw new Error(`usage: gc-child.js <${Object.keys(KINDS).join('|')}>`);

async function main() {
  const result = {};

  // A view outlives its pool: the memory stays valid while the view is reachable.
  let survivors = kind.survivors().map((view, i) => view.fill(42 + i));
  await settle();
  result.viewSurvivesPool =
    survivors[0].byteLength === 1024 && survivors.every((view, i) => view.every((byte) => byte === 42 + i));
  survivors = null;

  // Dropped pools (never destroyed) with touched memory must not accumulate.
  await settle();
  const before = rssMiB();
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 20; i++) kind.dropOne();
    await settle();
  }
  result.rssGrowthMiB = rssMiB() - before;

  // destroy() after the views are gone, then the finalizers: no double free.
  if (kind.viewsDroppedBeforeDestroy) {
    for (let i = 0; i < 200; i++) {
      let [pool, views] = kind.viewsDroppedBeforeDestroy();
      views = null;
      if (i % 50 === 0) await settle();
      pool.destroy();
    }
  }
  // and views dropped after destroy()
  let kept = [];
  for (let i = 0; i < 200; i++) kind.keepAcrossDestroy(kept, i);
  result.keptAfterDestroy = kept.every((view) => view.byteLength > 0);
  kept = null;
  await settle();
  result.finished = true;
  return result;
}

runMain(main);
