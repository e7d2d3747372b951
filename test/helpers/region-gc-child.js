'use strict';
// Run with --expose-gc (test/child-process.test.ts). RegionPools dropped
// without destroy() are freed once unreachable (blocks and large blocks), a
// view keeps its chunk valid after its pool is dropped, and destroy() followed
// by the finalizers never frees twice. Prints one JSON object on stdout.
const { RegionPool } = require('../../dist/index.js');
const { rssMiB, runMain, settle } = require('./child.js');

const MiB = 1024 * 1024;

async function main() {
  const result = {};

  let survivors = (() => {
    const pool = new RegionPool();
    return [pool.alloc(1024).fill(42), pool.alloc(100_000).fill(43)];
  })();
  await settle();
  result.viewSurvivesPool =
    survivors[0].byteLength === 1024 && survivors[0].every((b) => b === 42) && survivors[1].every((b) => b === 43);
  survivors = null;

  await settle();
  const before = rssMiB();
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 20; i++) {
      const pool = new RegionPool({ blockSize: 1 << 20 });
      for (let j = 0; j < 4; j++) pool.alloc(4000).fill(1);
      pool.alloc(4 * MiB).fill(1);
      pool.allocAligned(2 * MiB, 65536).fill(2);
    }
    await settle();
  }
  result.rssGrowthMiB = rssMiB() - before; // leaking would be ~1400 MiB

  for (let i = 0; i < 200; i++) {
    const pool = new RegionPool();
    let views = [pool.alloc(100), pool.alloc(20_000)];
    pool.free(views[1]);
    views = null;
    if (i % 50 === 0) await settle();
    pool.destroy();
  }
  let kept = [];
  for (let i = 0; i < 200; i++) {
    const pool = new RegionPool();
    kept.push(pool.alloc(10), pool.alloc(10_000));
    pool.reset();
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
