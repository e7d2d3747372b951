// The package's named segments as files: SharedPool.list() reads each candidate in
// /dev/shm read-only through the binding (shm_pool_peek: no attach, no lock), and
// option unlinkOnExit removes a name when the process exits.
import * as fs from 'node:fs';

import { binding } from '../core/native.js';
import type { ShmPeek } from '../core/native.js';
import type { SharedSegmentInfo } from '../types.js';

const native = binding.shm;
const { nameMax: NAME_MAX } = native.constants;

/** Where POSIX shared memory lives on Linux (shm_open names are files here). */
const SHM_DIR = '/dev/shm';

function toInfo(name: string, peek: ShmPeek): SharedSegmentInfo {
  const creatorAlive = peek.creatorAlive === 1;
  return {
    name,
    size: peek.size,
    capacity: peek.capacity,
    used: peek.used,
    creatorPid: peek.creatorPid,
    creatorAlive,
    createdAt: peek.createdMs > 0 ? new Date(peek.createdMs) : null,
    attachedPids: [...new Set(peek.attached)],
    lockHolder: peek.lockHolder === 0 ? null : peek.lockHolder,
    stale: !creatorAlive && peek.attached.length === 0,
    corrupted: peek.corrupted === 1,
  };
}

/** Every file of /dev/shm that is one of our segments (others, and unreadable ones, are left out). */
export function listSegments(): SharedSegmentInfo[] {
  let files: fs.Dirent[];
  try {
    files = fs.readdirSync(SHM_DIR, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: SharedSegmentInfo[] = [];
  for (const file of files) {
    const name = `/${file.name}`;
    if (!file.isFile() || Buffer.byteLength(name) > NAME_MAX) continue;
    const peek = native.peek(name);
    if (typeof peek !== 'number') out.push(toInfo(name, peek));
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const atExit = new Set<string>();

/** Unlinks `name` when this process exits (a name already gone is fine). */
export function unlinkAtExit(name: string): void {
  if (atExit.size === 0) {
    process.once('exit', () => {
      for (const each of atExit) native.unlink(each);
    });
  }
  atExit.add(name);
}
