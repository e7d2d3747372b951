'use strict';
// RegionPool misuse run in a child process (test/child-process.test.ts): the
// process must never crash, and each scenario reports the error code it got.
// Prints one JSON object {scenario: code | value} on stdout and exits 0.
const { RegionPool, TlsfPool } = require('../../dist/index.js');
const { recorder } = require('./child.js');

const { results, record } = recorder();

const pool = new RegionPool({ blockSize: 1024 });
const a = pool.alloc(64);
const keep = pool.alloc(64);
const large = pool.alloc(8000);
record('free foreign Buffer', () => pool.free(Buffer.alloc(64)));
record('free sub-view', () => pool.free(a.subarray(8)));
record('free rebuilt view', () => pool.free(Buffer.from(a.buffer, a.byteOffset, a.length)));
const other = new RegionPool();
record('free other pool view', () => pool.free(other.alloc(8)));
const tlsf = new TlsfPool({ size: 4096 });
record('free TLSF view', () => pool.free(tlsf.alloc(8)));
record('free once', () => pool.free(a));
record('free twice', () => pool.free(a));
record('free large once', () => pool.free(large));
record('free large twice', () => pool.free(large));
record('large kept on free', () => large.byteLength === large.length && large.length > 0);

// Writes through an enlarged view over a whole chunk reach user data only.
const wide = new Uint8Array(keep.buffer, 0, keep.buffer.byteLength);
wide.fill(0xa5);
record('check after overwriting a whole block', () => pool.check());
record('alloc after overwrite', () => pool.alloc(100).length);
record('free after overwrite', () => pool.free(keep));

const stale = pool.alloc(32);
const staleLarge = pool.allocAligned(64, 4096);
pool.reset();
record('free stale after reset', () => pool.free(stale));
record('free stale large after reset', () => pool.free(staleLarge));
record('stale large kept', () => staleLarge.byteLength === 64);
record('realloc stale', () => pool.realloc(stale, 8).length);
pool.allocUnaligned(stale.byteOffset); // so that the next allocation lands where `stale` was
const fresh = pool.alloc(32);
record('fresh at the stale offset', () => fresh.byteOffset === stale.byteOffset);
record('free stale again', () => pool.free(stale));
record('free fresh', () => pool.free(fresh));
record('check after misuse', () => pool.check());

const view = pool.alloc(16);
pool.destroy();
record('free after destroy', () => pool.free(view));
record('alloc after destroy', () => pool.alloc(1));
record('read after destroy', () => typeof view[0]);
record('byteLength after destroy', () => view.byteLength > 0);
record('write after destroy', () => {
  view[0] = 1; // the memory stays while the view lives
  wide[10] = 1;
  return view[0];
});
record('destroy twice', () => pool.destroy());
other.destroy();
tlsf.destroy();

process.stdout.write(JSON.stringify(results));
