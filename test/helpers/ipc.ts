// Waiting on forked helpers (test/shared-pool.test.ts, test/heap-shared.test.ts).
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** The next IPC message of `child`. */
export async function nextMessage<T>(child: ChildProcess): Promise<T> {
  const [message] = (await once(child, 'message')) as [T];
  return message;
}

/** The exit code of `child` (null when a signal ended it), once it has exited. */
export async function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}
