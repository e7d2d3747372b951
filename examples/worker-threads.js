'use strict';
// Pool memory and worker_threads. Run with `node examples/worker-threads.js`.
//
// A pool view cannot be handed to a worker as it is: its ArrayBuffer is the
// pool's memory (a whole chunk), an external ArrayBuffer Node does not transfer. So
//   worker.postMessage(view, [view.buffer])   throws a DataCloneError on Node >= 21
//                                             (Node 20 silently sends a copy), and
//   worker.postMessage(view)                  copies the view's whole chunk.
// Two ways that work:
//   to share  a SharedPool: the worker attaches the segment by name
//             (SharedPool.open) or descriptor (SharedPool.fromFd) and both
//             threads read and write the same bytes, found by offset;
//   to copy   Buffer.from(view): bytes of their own, posted as any Buffer (the
//             structured clone copies them once more). Don't put a
//             Buffer.from copy in the transfer list: on Node 24 its
//             ArrayBuffer is untransferable too (DataCloneError). To transfer a
//             copy instead, make it with new Uint8Array(view).
const { once } = require('node:events');
const { Worker, isMainThread, parentPort, threadId, workerData } = require('node:worker_threads');
const { SharedPool } = require('mempools');

/** A checksum of the bytes, the same in both threads. */
function checksum(bytes) {
  let sum = 0;
  for (const byte of bytes) sum = (sum * 31 + byte) >>> 0;
  return sum;
}

/** The worker: attaches the segment by name, then answers the main thread's messages. */
function worker() {
  const pool = SharedPool.open(workerData.name);
  parentPort.on('message', (message) => {
    if (message.type === 'write') {
      // A view of the allocation the main thread made: the same memory, no copy.
      const slot = pool.at(message.offset, message.length);
      const bytes = slot.write(`hello from worker ${threadId}`);
      parentPort.postMessage({ type: 'written', bytes });
    } else if (message.type === 'copy') {
      // A Buffer arrives as a Uint8Array (structured clone keeps no Buffer prototype).
      const copy = message.copy;
      parentPort.postMessage({ type: 'checked', length: copy.length, checksum: checksum(copy) });
      pool.close(); // this thread's mapping; the segment lives on in the main thread
      parentPort.close();
    }
  });
}

async function main() {
  const name = `/mempools-example-${process.pid}`;
  const pool = SharedPool.create({ size: 1024 * 1024, name });
  let thread;
  try {
    thread = new Worker(__filename, { workerData: { name } });
    const { threadId: workerId } = thread;
    const exited = once(thread, 'exit');

    // Share: the worker writes into an allocation of ours, found by its offset.
    const slot = pool.alloc(64).fill(0);
    const offset = pool.offsetOf(slot);
    thread.postMessage({ type: 'write', offset, length: slot.length });
    const [written] = await once(thread, 'message');
    const text = slot.toString('utf8', 0, written.bytes);
    if (!text.startsWith('hello from worker')) throw new Error(`the slot reads ${JSON.stringify(text)}`);

    // Copy: Buffer.from(view) copies the bytes out of the pool; postMessage
    // then sends that copy (not the pool's chunk).
    const table = pool.alloc(16 * 1024);
    for (let i = 0; i < table.length; i++) table[i] = (i * 7) & 0xff;
    const copy = Buffer.from(table);
    thread.postMessage({ type: 'copy', copy });
    const [checked] = await once(thread, 'message');
    if (checked.length !== table.length || checked.checksum !== checksum(table)) {
      throw new Error(`the worker got ${checked.length} bytes, checksum ${checked.checksum}`);
    }
    pool.free(table);
    pool.free(slot);
    const [code] = await exited;
    if (code !== 0) throw new Error(`the worker exited with ${code}`);
    console.log(
      `worker-threads: ok: worker ${workerId} wrote ${JSON.stringify(text)} into ${name} at offset ${offset}; ` +
        `a ${checked.length}-byte Buffer.from copy reached it intact; segment closed and unlinked`,
    );
  } finally {
    if (thread !== undefined) await thread.terminate(); // already exited unless something failed
    pool.unlink();
    pool.close();
  }
}

if (isMainThread) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
} else {
  worker();
}
