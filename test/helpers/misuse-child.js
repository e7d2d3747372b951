'use strict';
// Misuse scenarios run in a child process (test/misuse.test.ts): the process
// must never crash, and each scenario reports the error code it got. Prints
// one JSON object {scenario: code | value} on stdout and exits 0.
const { TlsfPool } = require('../../dist/index.js');
const { recorder } = require('./child.js');

const { results, record } = recorder();

const pool = new TlsfPool({ size: 64 * 1024 });
const a = pool.alloc(64);
record('free foreign Buffer', () => pool.free(Buffer.alloc(64)));
record('free sub-view', () => pool.free(a.subarray(8)));
const other = new TlsfPool({ size: 4096 });
record('free other pool view', () => pool.free(other.alloc(8)));
pool.alloc(64); // keep a live neighbour so the freed block is not merged away
record('free once', () => pool.free(a));
record('free twice', () => pool.free(a));
record('check after misuse', () => pool.check());

// Overrun: 8 bytes past the end of an allocation land in the next block's header.
const victim = pool.alloc(24);
const next = pool.alloc(24);
const usable = pool.usableSize(victim);
const wide = new Uint8Array(victim.buffer, victim.byteOffset, victim.length + 16);
record('next header is adjacent', () => next.byteOffset - (victim.byteOffset + usable));
wide.fill(0xa5, usable, usable + 8);
record('check after overrun', () => pool.check());
record('check message', () => {
  try {
    pool.check();
    return 'no error';
  } catch (error) {
    return typeof error.message === 'string' && error.message.length > 'Pool corrupted: '.length ? 'has reason' : error.message;
  }
});
record('free of the damaged neighbour', () => pool.free(next));
record('free before the damage', () => pool.free(victim));
for (let i = 0; i < 100; i++) {
  record('alloc after corruption', () => pool.alloc(16 + i * 40).length);
  record('tryAlloc after corruption', () => (pool.tryAlloc(16 + i) === null ? 'null' : 'buffer'));
}
record('walk after corruption', () => [...pool.walk()].length);

pool.destroy();
record('free after destroy', () => pool.free(a));
record('read after destroy', () => typeof a[0]);
record('byteLength after destroy', () => a.byteLength > 0);
record('destroy twice', () => pool.destroy());
other.destroy();

process.stdout.write(JSON.stringify(results));
