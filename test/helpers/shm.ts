// Helpers of the SharedPool tests.
// Named segments: every name comes from uniqueName(), is unlinked after each test
// even when it failed (unlinkTestNames in afterEach), and expectNoLeftovers
// (afterAll) checks that /dev/shm holds no segment of this test process any more.
// Children: forkWithPool forks test/helpers/shm-child.js with the pool's descriptor as fd 4.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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

const CHILD = fileURLToPath(new URL('./shm-child.js', import.meta.url));

/** The path of test/helpers/shm-child.js (for spawn). */
export const SHM_CHILD = CHILD;

/** A forked shm-child.js in mode args[0], with the pool's descriptor as its fd 4. */
export function forkWithPool(pool: SharedPool, args: string[]): ChildProcess {
  return fork(CHILD, args, { stdio: ['inherit', 'inherit', 'inherit', 'ipc', pool.fd] });
}

/** The next IPC message of `child`. */
export async function nextMessage<T>(child: ChildProcess): Promise<T> {
  const [message] = (await once(child, 'message')) as [T];
  return message;
}

/** The exit code of `child` (null: killed by a signal). */
export async function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}
