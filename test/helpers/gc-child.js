'use strict';
// Run with --expose-gc (test/misuse.test.ts). Checks that pools dropped
// without destroy() are freed once unreachable, that a view keeps its memory
// alive after its pool is dropped, and that destroy() followed by the
// finalizers never frees twice. Prints one JSON object on stdout.
const { TlsfPool } = require('../../dist/index.js');
const { rssMiB, runMain, settle } = require('./child.js');

const MiB = 1024 * 1024;

async function main() {
  const result = {};

  // A view outlives its pool: the memory stays valid while the view is reachable.
  let survivor = (() => {
    const pool = new TlsfPool({ size: 1 * MiB });
    return pool.alloc(1024).fill(42);
  })();
  await settle();
  result.viewSurvivesPool = survivor.byteLength === 1024 && survivor.every((byte) => byte === 42);
  survivor = null;

  // Dropped pools (never destroyed) with touched memory must not accumulate.
  await settle();
  const before = rssMiB();
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 20; i++) {
      const pool = new TlsfPool({ size: 8 * MiB });
      pool.alloc(8 * MiB - 1024).fill(1);
      pool.addRegion(64 * 1024);
    }
    await settle();
  }
  const after = rssMiB();
  result.droppedPools = 200;
  result.rssGrowthMiB = after - before; // leaking would be ~1600 MiB

  // destroy() after the views are gone, then the finalizers: no double free.
  for (let i = 0; i < 200; i++) {
    const pool = new TlsfPool({ size: 64 * 1024 });
    let views = [pool.alloc(100), pool.alloc(200)];
    views = null;
    if (i % 50 === 0) await settle();
    pool.destroy();
  }
  // and views dropped after destroy()
  let kept = [];
  for (let i = 0; i < 200; i++) {
    const pool = new TlsfPool({ size: 64 * 1024 });
    kept.push(pool.alloc(10));
    pool.destroy();
  }
  result.keptAfterDestroy = kept.every((view) => view.byteLength > 0);
  kept = null;
  await settle();
  result.finished = true;
  return result;
}

runMain(main);
