// Pool memory and worker_threads: examples/worker-threads.js (a SharedPool
// shared with a worker by name, a copy sent with Buffer.from) and what
// postMessage does with a pool view. Each runs in a child process, so that a
// crash fails a test instead of killing vitest.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../examples/worker-threads.js', import.meta.url));
const TRANSFER = fileURLToPath(new URL('./package/fixture/transfer.cjs', import.meta.url));
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

/** Runs `args` with this Node in the repository root (so require('mempools') is this package). */
function run(args: string[]): { stdout: string; pid: number } {
  const child = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  expect(child.signal, child.stderr).toBeNull();
  expect(child.status, `${child.stdout}\n${child.stderr}`).toBe(0);
  return { stdout: child.stdout, pid: child.pid ?? 0 };
}

function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '') as Record<string, unknown>;
}

test('examples/worker-threads.js: a worker opens the SharedPool by name and writes where main reads; a Buffer.from copy arrives intact', () => {
  const { stdout, pid } = run([EXAMPLE]);
  const line = new RegExp(
    '^worker-threads: ok: worker \\d+ wrote "hello from worker \\d+" into (/mempools-example-(\\d+)) at offset \\d+; ' +
      'a 16384-byte Buffer\\.from copy reached it intact; segment closed and unlinked\n$',
  ).exec(stdout);
  expect(line, stdout).not.toBeNull();
  expect(Number(line?.[2])).toBe(pid);
  // the example unlinked its segment
  expect(existsSync(`/dev/shm${line?.[1] ?? ''}`)).toBe(false);
});

// The throw needs Node >= 21: Node 20 copies an ArrayBuffer it cannot transfer
// (found in the transfer list) instead of refusing it (the next test checks that copy).
test.skipIf(NODE_MAJOR < 21)(
  'postMessage(view, [view.buffer]) of a pool view throws a DataCloneError (Node >= 21)',
  () => {
    expect(lastJson(run([TRANSFER]).stdout)).toMatchObject({ threw: true, error: 'DataCloneError', viewIntact: true });
  },
);

test.runIf(NODE_MAJOR < 21)(
  'Node 20: postMessage(view, [view.buffer]) sends a copy of the chunk (documented); the view keeps its memory',
  () => {
    const result = lastJson(run([TRANSFER]).stdout);
    expect(result).toMatchObject({ threw: false, viewIntact: true });
    // TlsfPool({ size: 1 << 16 }): the whole region went, and writing to the copy left the pool alone
    expect(result.received).toEqual({ length: 100, chunkBytes: 1 << 16, independent: true });
  },
);

test('structuredClone(view) and postMessage(view) copy the whole chunk; Buffer.from(view) copies the view', () => {
  const code = `
    const { MessageChannel, receiveMessageOnPort } = require('node:worker_threads');
    const { TlsfPool } = require('mempools');
    const pool = new TlsfPool({ size: 1 << 20 });
    const view = pool.alloc(16384).fill(7);
    const { port1, port2 } = new MessageChannel();
    const describe = (copy) => {
      const bytes = { length: copy.length, bufferBytes: copy.buffer.byteLength, intact: copy.every((byte) => byte === 7) };
      copy.fill(1);
      return { ...bytes, independent: view.every((byte) => byte === 7) };
    };
    const result = { chunkBytes: view.buffer.byteLength, cloned: describe(structuredClone(view)) };
    port1.postMessage(view);
    result.posted = describe(receiveMessageOnPort(port2).message);
    port1.postMessage(Buffer.from(view));
    result.postedCopy = describe(receiveMessageOnPort(port2).message);
    port1.close();
    pool.free(view);
    pool.destroy();
    console.log(JSON.stringify(result));
  `;
  const result = lastJson(run(['-e', code]).stdout);
  const chunkBytes = result.chunkBytes as number;
  expect(chunkBytes).toBeGreaterThanOrEqual(1 << 20);
  expect(result.cloned).toEqual({ length: 16384, bufferBytes: chunkBytes, intact: true, independent: true });
  expect(result.posted).toEqual({ length: 16384, bufferBytes: chunkBytes, intact: true, independent: true });
  expect(result.postedCopy).toEqual({ length: 16384, bufferBytes: 16384, intact: true, independent: true });
});
