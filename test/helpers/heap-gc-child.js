'use strict';
// Run with --expose-gc (test/child-process.test.ts). HeapPools (and families of
// them) dropped without destroy() are freed once unreachable, a view keeps its
// chunk valid after its pool (and the pool's parent) is dropped, and destroy()
// followed by the finalizers never frees twice. Prints one JSON object on stdout.
const { HeapPool } = require('../../dist/index.js');
const { rssMiB, runMain, settle } = require('./child.js');

const MiB = 1024 * 1024;

async function main() {
  const result = {};

  let survivors = (() => {
    const root = new HeapPool();
    const child = new HeapPool({ parent: root, capacity: 8 * MiB });
    return [root.alloc(1024).fill(42), child.alloc(100_000).fill(43), child.alloc(3 * MiB).fill(44)];
  })();
  await settle();
  result.viewSurvivesPool =
    survivors[0].byteLength === 1024 && survivors[0].every((b) => b === 42) &&
    survivors[1].every((b) => b === 43) && survivors[2].every((b) => b === 44);
  survivors = null;

  await settle();
  const before = rssMiB();
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 20; i++) {
      const root = new HeapPool();
      const child = new HeapPool({ parent: root });
      const grandchild = new HeapPool({ parent: child, capacity: 16 * MiB });
      for (let j = 0; j < 4; j++) root.alloc(4000).fill(1);
      child.alloc(1 * MiB).fill(2);
      grandchild.alloc(4 * MiB).fill(3);
      grandchild.alloc(100).fill(4);
    }
    await settle();
  }
  result.rssGrowthMiB = rssMiB() - before; // leaking would be ~1000 MiB

  let kept = [];
  for (let i = 0; i < 200; i++) {
    const root = new HeapPool();
    const child = new HeapPool({ parent: root });
    kept.push(root.alloc(10), child.alloc(10_000), child.alloc(3 * MiB));
    if (i % 2 === 0) child.destroy();
    root.destroy();
  }
  result.keptAfterDestroy = kept.every((view) => view.byteLength > 0);
  kept = null;
  await settle();
  result.finished = true;
  return result;
}

runMain(main);
