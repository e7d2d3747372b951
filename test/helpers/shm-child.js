'use strict';
// SharedPool child processes (test/shared-pool.test.ts). The mode is argv[2]:
//   fd-reply  (forked, the pool's descriptor as fd 4): on {offset, length} reads the
//             parent's string, writes a reply after it, reports; on 'free' frees the block
//   named     <name>: opens the segment by name, reads the 'msg' root, writes a reply
//   add       <offset> <count> (fd 4): count Atomics.add(+1) on the Int32 at offset, after
//             a barrier (the Int32 after it counts arrivals) so that both children overlap
//   wait      <offset> (fd 4): reports 'ready', then waits for a notify on the Int32 at offset
//   hold-lock (fd 4): takes the user lock, reports 'locked' and waits to be killed
//   churn     (fd 4): reports 'ready', then allocates (1..2000 bytes, at most 8 blocks
//             held), writes and frees (some under the user lock) until it is killed
//   park-die  <n> (fd 4): allocates a 200-byte block filled with 9s and reports
//             { kept: offset }; on any message, allocates n small blocks of many
//             classes, frees them all (parked in its cache), reports { allocations }
//             (its own stats) and waits to be killed
//   gc        (--expose-gc): pools dropped without close() are closed by GC, exactly once
//   free-exit <offset> <length> (fd 4): frees the block there (a view from at(): back at
//             once), allocates and frees a block of its own (parked in its cache) and exits
//             without close(): the exit hook gives the parked block back
//   change    <offset> (fd 4): reports 'ready'; on 'go', sets the Int32 at offset to 1
//             50 ms later, without notify (only a spinning wait sees it)
// Results go back as IPC messages (forked) or one JSON object on stdout (spawned).
const fs = require('node:fs');

const { SharedPool } = require('../../dist/index.js');
const { runMain, settle } = require('./child.js');

const [mode, ...args] = process.argv.slice(2);

function word(pool, offset) {
  const view = pool.at(offset, 4);
  return new Int32Array(view.buffer, view.byteOffset, 1);
}

const modes = {
  'fd-reply'() {
    const pool = SharedPool.fromFd(4);
    let view;
    process.on('message', (message) => {
      if (message === 'free') {
        pool.free(view);
        process.send({ freed: true, allocations: pool.stats().allocations });
        pool.close();
        process.disconnect();
        return;
      }
      view = pool.at(message.offset, message.length);
      const text = view.toString('utf8', 0, view.indexOf(0));
      view.write(`reply to ${text}`, 128);
      view[128 + `reply to ${text}`.length] = 0;
      process.send({ read: text, name: pool.name });
    });
    process.send('ready');
  },

  named() {
    const pool = SharedPool.open(args[0]);
    const offset = pool.getRoot('msg');
    const view = pool.at(offset, 64);
    const read = view.toString('utf8', 0, view.indexOf(0));
    view.write('named reply\0', 32);
    const result = { read, name: pool.name, check: 'ok' };
    pool.check();
    pool.close();
    process.stdout.write(JSON.stringify(result));
  },

  add() {
    const pool = SharedPool.fromFd(4);
    const view = pool.at(Number(args[0]), 8);
    const counter = new Int32Array(view.buffer, view.byteOffset, 2);
    const count = Number(args[1]);
    Atomics.add(counter, 1, 1);
    while (Atomics.load(counter, 1) < 2); // both children have arrived
    for (let i = 0; i < count; i++) Atomics.add(counter, 0, 1);
    pool.close();
    process.send({ done: true });
    process.disconnect();
  },

  wait() {
    const pool = SharedPool.fromFd(4);
    const flag = word(pool, Number(args[0]));
    process.send('ready');
    // the parent notifies without changing the word: only a real wake-up ends this wait
    const result = pool.wait(flag, 0, 0, 20_000);
    process.send({ result });
    pool.close();
    process.disconnect();
  },

  'hold-lock'() {
    const pool = SharedPool.fromFd(4);
    pool.lock();
    process.send('locked');
    setInterval(() => {}, 1000);
  },

  churn() {
    const pool = SharedPool.fromFd(4);
    const held = [];
    let seed = process.pid;
    const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    process.send('ready');
    for (;;) {
      // at most 8 blocks held, so what a killed child leaves is bounded (the test counts on it)
      if (held.length > 0 && (held.length >= 8 || random() < 0.5)) {
        pool.free(held.splice(Math.floor(random() * held.length), 1)[0]);
      } else {
        const block = pool.tryAlloc(1 + Math.floor(random() * 2000));
        if (block !== null) held.push(block.fill(7));
      }
      if (random() < 0.05) pool.withLock(() => pool.stats());
    }
  },

  'park-die'() {
    const pool = SharedPool.fromFd(4);
    const kept = pool.alloc(200).fill(9);
    process.send({ kept: pool.offsetOf(kept) });
    process.on('message', () => {
      const blocks = Array.from({ length: Number(args[0]) }, (_, i) => pool.alloc(16 + (i % 20) * 24));
      for (const block of blocks) pool.free(block);
      process.send({ allocations: pool.stats().allocations });
    });
  },

  'free-exit'() {
    const pool = SharedPool.fromFd(4);
    pool.free(pool.at(Number(args[0]), Number(args[1])));
    const before = pool.stats().allocations;
    pool.free(pool.alloc(Number(args[1])));
    process.send({ allocationsHere: before, parked: pool.stats().allocations === before }, () => process.exit(0));
  },

  change() {
    const pool = SharedPool.fromFd(4);
    const flag = word(pool, Number(args[0]));
    process.on('message', () => {
      setTimeout(() => {
        Atomics.store(flag, 0, 1);
        pool.close();
        process.disconnect();
      }, 50);
    });
    process.send('ready');
  },

  gc() {
    runMain(async () => {
      const fds = () => fs.readdirSync('/proc/self/fd').length;
      await settle();
      const before = fds();
      let kept;
      for (let i = 0; i < 300; i++) {
        const pool = SharedPool.create({ size: 1 << 20 });
        const view = pool.alloc(64);
        view.fill(i & 255);
        if (i === 0) kept = view; // keeps its mapping alive after the pool is gone
      }
      await settle();
      const viewSurvivesPool = kept.length === 64 && kept[10] === 0;
      kept = undefined;
      await settle();
      const closed = SharedPool.create({ size: 1 << 20 });
      let view = closed.alloc(8).fill(5);
      closed.close();
      closed.close();
      await settle();
      const keptAfterClose = view.byteLength === 8 && view[7] === 5 && closed.stats().heldChunks === 1;
      view = undefined;
      await settle();
      const releasedWhenGarbage = closed.stats().heldChunks === 0;
      return { fdGrowth: fds() - before, viewSurvivesPool, keptAfterClose, releasedWhenGarbage };
    });
  },
};

modes[mode]();
