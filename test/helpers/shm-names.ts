// Named shared-memory segments made by the SharedPool tests: every name comes
// from uniqueName(), is unlinked after each test even when it failed
// (unlinkTestNames in afterEach), and expectNoLeftovers (afterAll) checks that
// /dev/shm holds no segment of this test process any more.
import { readdirSync } from 'node:fs';

import { expect } from 'vitest';

import { SharedPool } from '../../lib/index.js';

/** The prefix of every segment name a test process makes (without the leading '/'). */
export const TEST_PREFIX = `mempools-test-${process.pid}-`;

const names: string[] = [];
let serial = 0;

/** A fresh segment name, unlinked by unlinkTestNames(). */
export function uniqueName(tag = ''): string {
  const name = `/${TEST_PREFIX}${tag}${serial++}`;
  names.push(name);
  return name;
}

/** Unlinks every name handed out so far (a name already gone is fine). */
export function unlinkTestNames(): void {
  for (const name of names.splice(0)) {
    try {
      SharedPool.unlink(name);
    } catch {
      // already gone
    }
  }
}

/** /dev/shm entries left by this test process. */
export function leftovers(): string[] {
  return readdirSync('/dev/shm').filter((entry) => entry.startsWith(TEST_PREFIX));
}

export function expectNoLeftovers(): void {
  unlinkTestNames();
  expect(leftovers()).toEqual([]);
}
