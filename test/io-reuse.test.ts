// Memory released while Node I/O still reads it: safeReuse pools, and the
// helpers that release after the I/O (freeAfter, destroyAfter, resetAfter,
// closeAfter, whenDone). The I/O runs in a child process
// (test/helpers/reuse-child.js) so that a crash fails a test instead of
// killing vitest; the child prints scenario name -> 'ok' or what went wrong.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { expect, test } from 'vitest';

const CHILD = fileURLToPath(new URL('./helpers/reuse-child.js', import.meta.url));
const KINDS = ['tlsf', 'heap', 'region', 'shared'];
const NO_ASYNC_ERRORS = 'no uncaught exception or unhandled rejection';

function runGroup(group: string): Record<string, string> {
  const child = spawnSync(process.execPath, ['--expose-gc', CHILD, group], {
    encoding: 'utf8',
    timeout: 240_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  expect(child.signal, child.stderr).toBeNull();
  expect(child.status, child.stderr).toBe(0);
  return JSON.parse(child.stdout) as Record<string, string>;
}

/** Every scenario in `names` (and no other) reported 'ok'. */
function expectAllOk(results: Record<string, string>, names: string[]): void {
  const expected = Object.fromEntries([...names, NO_ASYNC_ERRORS].map((name) => [name, 'ok']));
  expect(results).toEqual(expected);
}

test('safeReuse: free()/reset()/destroy() right after res.end(body) leaves 64 concurrent responses intact', {
  timeout: 300_000,
}, () => {
  // Bodies of 1 KiB .. 1 MiB, four rounds of 64 requests (127.0.0.1 and a Unix
  // socket), every block scribbled over by new allocations of its size at once.
  expectAllOk(runGroup('safe-reuse'), [
    ...['tlsf', 'heap', 'shared'].map((kind) => `${kind} safeReuse: free(body) right after res.end(body)`),
    'shared safeReuse through fromFd: free(body) right after res.end(body)',
    'shared safeReuse through open(name): free(body) right after res.end(body)',
    'region safeReuse (one pool for all requests): free(body) or reset() right after res.end(body)',
    'region safeReuse: a view freed before reset() and collected after it leaves the new allocation at its place alone',
    ...KINDS.map(
      (kind) =>
        `${kind} safeReuse (a pool per request): ${kind === 'shared' ? 'close' : 'destroy'}() right after res.end(body)`,
    ),
  ]);
});

test('freeAfter / destroyAfter / resetAfter hold memory until http, fs and zlib I/O is done', {
  timeout: 300_000,
}, () => {
  // Normal pools (no safeReuse): the helpers alone keep the bytes intact, and
  // every deferred free runs (no live allocations left afterwards).
  expectAllOk(runGroup('helpers'), [
    ...KINDS.map((kind) => `${kind}: freeAfter(body, res)`),
    'tlsf: freeAfter(body, res) with the body gzipped into res (pipeline)',
    'region (a pool per request): destroyAfter(res)',
    'region (pools reused across requests): resetAfter(res)',
    ...KINDS.flatMap((kind) => [
      `${kind}: freeAfter(buf, fs.promises.writeFile(file, buf))`,
      `${kind}: freeAfter(buf, fs.WriteStream)`,
      `${kind}: freeAfter(buf, zlib gzip stream)`,
      `${kind}: freeAfter(buf, stream.promises.pipeline(gzip, sink))`,
    ]),
  ]);
});

test('whenDone and the helpers: act after settle/finish/close/error, exactly once, never throw asynchronously', {
  timeout: 120_000,
}, () => {
  expectAllOk(runGroup('when-done'), [
    'whenDone is exported from mempools',
    'whenDone(promise): pending until it resolves, then resolves to undefined',
    'whenDone(promise): resolves (never rejects) after it rejects',
    'whenDone(settled promise) resolves',
    'whenDone(thenable) resolves once it calls back',
    ...['finish', 'close', 'error'].map((event) => `whenDone(EventEmitter): pending until '${event}'`),
    'whenDone(Writable): pending until end() finished',
    'whenDone(Writable) resolves after destroy(error)',
    'whenDone(Writable already finished and closed) resolves',
    'whenDone(fs.WriteStream) resolves once it is written',
    'whenDone(zlib stream) resolves once its output is consumed',
    'whenDone(net.Socket) resolves once the socket closed',
    'whenDone(http.ServerResponse) resolves after the response finished',
    'freeAfter(view, emitter) frees once on finish; later close/error/finish do nothing',
    'resetAfter(emitter) resets once on close; later events do nothing',
    'tlsf: destroyAfter(promise) destroys once the promise resolves',
    'heap: destroyAfter(promise) destroys once the promise rejects',
    'region: destroyAfter(promise) destroys once the promise resolves',
    'shared: closeAfter(promise) closes once the promise resolves; views keep their bytes',
    'shared: closeAfter(res) with the body a shared view',
    'never throws asynchronously: freeAfter of a view freed meanwhile; helpers of a destroyed pool',
  ]);
});

test('control: without safeReuse or a helper, the same harness sees the damage of a premature free/reset', {
  timeout: 120_000,
}, () => {
  // Guards the tests above against passing vacuously (e.g. every write completing synchronously).
  expectAllOk(runGroup('control'), [
    'tlsf without safeReuse: free(body) right after res.end(body) damages bodies (the harness sees it)',
    'region without safeReuse: reset() right after res.end(body) damages bodies (the harness sees it)',
    'tlsf without safeReuse: free(buf) right after fs.promises.writeFile damages files',
  ]);
});
