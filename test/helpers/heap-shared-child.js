'use strict';
// Forked helpers of test/heap-shared.test.ts; the segment's descriptor is fd 4.
// The mode is argv[2]:
//   own      makes its own HeapPool on the segment, fills 200 blocks of 64 bytes
//            (block i holds byte i + 1), reports the area offsets of blocks 0 and
//            199; then on {check: offset} reports the first byte there, and on
//            'destroy' / 'leave' destroys its heap pool or exits without doing so
//   foreign  on {offset}: reads and rewrites the parent's heap block through the
//            SharedPool, tries to free it there and in its own HeapPool, reports
//   churn    reports 'ready', then allocates, writes and frees blocks of many
//            sizes in its own HeapPool (chunks come and go) until it is killed
//   gc       (spawned, --expose-gc, no fd): heap pools dropped without destroy()
//            give their chunks back once they and their views are garbage; a view
//            keeps its chunk; segments and heap pools dropped together never crash
// Results go back as IPC messages (forked) or one JSON object on stdout (gc).
const { HeapPool, SharedPool } = require('../../dist/index.js');
const { runMain, settle } = require('./child.js');

const [mode] = process.argv.slice(2);

function codeOf(fn) {
  try {
    fn();
    return 'ok';
  } catch (error) {
    return error.code;
  }
}

const modes = {
  own() {
    const shared = SharedPool.fromFd(4);
    const heap = new HeapPool({ parent: shared });
    const views = [];
    for (let i = 0; i < 200; i++) {
      const view = heap.alloc(64);
      view.fill(i + 1);
      views.push(view);
    }
    process.on('message', (message) => {
      if (message === 'destroy') {
        heap.destroy();
        process.send({ destroyed: heap.destroyed, kept: views[0].byteLength === 64 && views[0][0] === 1 });
        shared.close();
        process.disconnect();
      } else if (message === 'leave') {
        process.exit(0); // the heap pool and the mapping are left as they are
      } else {
        process.send({ first: shared.at(message.check, 1)[0] });
      }
    });
    process.send({
      first: shared.offsetOf(views[0]),
      last: shared.offsetOf(views[199]),
      reserved: heap.stats().reserved,
      check: codeOf(() => heap.check()),
    });
  },

  foreign() {
    const shared = SharedPool.fromFd(4);
    const mine = new HeapPool({ parent: shared });
    process.on('message', (message) => {
      const view = shared.at(message.offset, 64);
      const read = view[0];
      const before = shared.stats();
      const sharedFree = codeOf(() => shared.free(view));
      const heapFree = codeOf(() => mine.free(view));
      const after = shared.stats();
      view.fill(0x77);
      process.send({
        read,
        sharedFree,
        heapFree,
        unchanged: before.allocations === after.allocations && before.used === after.used,
      });
      mine.destroy();
      shared.close();
      process.disconnect();
    });
    process.send('ready');
  },

  churn() {
    const shared = SharedPool.fromFd(4);
    const heap = new HeapPool({ parent: shared });
    const live = [];
    let x = process.pid;
    process.send('ready');
    for (;;) {
      x = (x * 1103515245 + 12345) >>> 0;
      if (live.length < 2000 && (x & 3) !== 0) {
        const size = x % 7 === 0 ? 200_000 + (x % 300_000) : 16 + (x % 3000);
        const view = heap.tryAlloc(size);
        if (view !== null) live.push(view.fill(x & 0xff));
      } else if (live.length > 0) {
        heap.free(live.splice(x % live.length, 1)[0]);
      }
    }
  },

  gc() {
    runMain(async () => {
      const shared = SharedPool.create({ size: 16 * 1024 * 1024 });
      const result = {};
      (() => {
        const heap = new HeapPool({ parent: shared });
        for (let i = 0; i < 1000; i++) heap.alloc(64 + (i % 5) * 100).fill(1);
        heap.alloc(3 * 1024 * 1024).fill(2);
      })();
      result.lentWhileAlive = shared.stats().allocations > 0;
      await settle();
      result.returnedByGc = shared.stats().allocations === 0;

      let view = (() => new HeapPool({ parent: shared }).alloc(256).fill(7))();
      await settle();
      result.viewSurvivesPool =
        view.byteLength === 256 && view.every((b) => b === 7) && shared.stats().allocations === 1;
      const offset = shared.offsetOf(view);
      result.offsetWorks = shared.at(offset, 256)[255] === 7;
      view = null;
      await settle();
      result.returnedAfterView = shared.stats().allocations === 0;
      shared.check();
      shared.close();

      for (let i = 0; i < 50; i++) {
        const dropped = SharedPool.create({ size: 2 * 1024 * 1024 });
        new HeapPool({ parent: new HeapPool({ parent: dropped }) }).alloc(1000).fill(3);
      }
      await settle();
      result.finished = true;
      return result;
    });
  },
};

modes[mode]();
