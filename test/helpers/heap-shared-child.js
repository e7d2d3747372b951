'use strict';
// Forked helpers of test/heap-shared.test.ts; the segment's descriptor is fd 4.
// The mode is argv[2]:
//   own      makes its own HeapPool on the segment, fills 200 blocks of 64 bytes
//            (block i holds byte i + 1), reports the area offsets of blocks 0 and
//            199; then on {check: offset} reports the first byte there, and on
//            'destroy' / 'leave' destroys its heap pool or exits without doing so
//   foreign  on {offset}: reads and rewrites the parent's heap block through the
//            SharedPool, tries to free it there and in its own HeapPool, reports
// Results go back as IPC messages.
const { HeapPool, SharedPool } = require('../../dist/index.js');

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
        process.send({ destroyed: heap.destroyed, detached: views[0].byteLength === 0 });
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
};

modes[mode]();
