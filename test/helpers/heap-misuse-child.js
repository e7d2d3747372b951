'use strict';
// HeapPool misuse run in a child process (test/child-process.test.ts): the
// process must never crash, and each scenario reports the error code it got.
// Prints one JSON object {scenario: code | value} on stdout and exits 0.
const { HeapPool, TlsfPool } = require('../../dist/index.js');
const { recorder } = require('./child.js');

const { results, record } = recorder();

const pool = new HeapPool();
const a = pool.alloc(64);
const keep = pool.alloc(64).fill(9);
const large = pool.alloc(3 << 20);
record('free foreign Buffer', () => pool.free(Buffer.alloc(64)));
record('free sub-view', () => pool.free(a.subarray(16)));
record('free rebuilt view', () => pool.free(Buffer.from(a.buffer, a.byteOffset, a.length)));
const other = new HeapPool();
record('free other pool view', () => pool.free(other.alloc(8)));
const tlsf = new TlsfPool({ size: 4096 });
record('free TLSF view', () => pool.free(tlsf.alloc(8)));
const child = new HeapPool({ parent: pool });
const childView = child.alloc(32);
record('free child view through parent', () => pool.free(childView));
record('free parent view through child', () => child.free(keep));
record('free once', () => pool.free(a));
record('free twice', () => pool.free(a));
record('free large once', () => pool.free(large));
record('free large twice', () => pool.free(large));
record('large kept on free', () => large.byteLength === 3 << 20);

// Writes through an enlarged view over a whole chunk reach user data only:
// no pool metadata lives in chunk memory.
const wide = new Uint8Array(keep.buffer, 0, keep.buffer.byteLength);
wide.fill(0xa5);
record('check after overwriting a whole chunk', () => pool.check());
record('alloc after overwrite', () => pool.alloc(100).length);
record('free after overwrite', () => pool.free(keep));
record('check after misuse', () => pool.check());

const view = pool.alloc(16);
pool.destroy();
record('child destroyed with parent', () => child.destroyed);
record('child view kept', () => childView.byteLength > 0);
record('free after destroy', () => pool.free(view));
record('child free after destroy', () => child.free(childView));
record('alloc after destroy', () => pool.alloc(1));
record('read after destroy', () => typeof view[0]);
record('byteLength after destroy', () => view.byteLength > 0);
record('write after destroy', () => {
  view[0] = 1; // the memory stays while the view lives
  wide[10] = 1;
  return view[0];
});
record('destroy twice', () => pool.destroy());
record('child destroy after parent', () => child.destroy());
other.destroy();
tlsf.destroy();

process.stdout.write(JSON.stringify(results));
