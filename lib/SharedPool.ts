import { constants as bufferConstants } from 'node:buffer';
import { constants as osConstants } from 'node:os';

import * as errors from './errors.js';
import { binding } from './native.js';
import type { ShmAttached } from './native.js';
import { makeView, viewOffset, viewOwner } from './PoolBuffer.js';
import { destroySharedChildren, registerSegment, sharedChunkOffset } from './sharedParent.js';
import { ShmStatus } from './types.js';
import type { SharedPoolOptions, SharedPoolStats } from './types.js';
import {
  sizeError,
  validateCallocTotal,
  validateFunction,
  validateInteger,
  validateObject,
  validateView,
} from './validate.js';

const native = binding.shm;
/** The hot calls pass numbers through this array (see native/shm_binding.cc). */
const scratch = native.scratch;
const nativeAlloc = native.alloc;
const nativeFree = native.free;
const { minSize: MIN_SIZE, keyMax: KEY_MAX, nameMax: NAME_MAX, sysBase: SYS_BASE } = native.constants;
/** The block area is one ArrayBuffer: a segment may be at most buffer.constants.MAX_LENGTH bytes. */
const MAX_SIZE = Math.min(native.constants.maxSize, bufferConstants.MAX_LENGTH);
const MAX_LENGTH = bufferConstants.MAX_LENGTH;
const WAIT_RESULTS = new Map<number, 'ok' | 'not-equal' | 'timed-out'>([
  [ShmStatus.OK, 'ok'],
  [ShmStatus.NOT_EQUAL, 'not-equal'],
  [ShmStatus.TIMED_OUT, 'timed-out'],
]);

/** Only the static methods construct pools. */
const INTERNAL = Symbol('SharedPool');

function fail(code: number, syscall: string, size = 0): Error {
  return errors.fromShmStatus(code, SYS_BASE, syscall, size);
}

function validateName(name: unknown, label: string): string {
  if (typeof name !== 'string') throw errors.invalidArgType(label, 'of type string', name);
  if (!/^\/[^/\0]+$/.test(name) || Buffer.byteLength(name) > NAME_MAX) {
    throw errors.invalidArgValue(label, `must be '/' followed by 1 to ${NAME_MAX - 1} bytes without '/'`, name);
  }
  return name;
}

function validateKey(key: unknown): string {
  if (typeof key !== 'string') throw errors.invalidArgType('key', 'of type string', key);
  if (key.length === 0 || key.includes('\0') || Buffer.byteLength(key) > KEY_MAX) {
    throw errors.invalidArgValue('key', `must be 1 to ${KEY_MAX} UTF-8 bytes without NUL`, key);
  }
  return key;
}

/** Attaches through `attach`; an OS failure names `syscall` (a function of errno). */
function attached(result: ShmAttached | number, syscall: (errno: number) => string): ShmAttached {
  if (typeof result !== 'number') return result;
  if (result === ShmStatus.NOMEM) throw errors.system(osConstants.errno.ENOMEM, 'malloc');
  throw fail(result, syscall(-result - SYS_BASE));
}

/**
 * Melon-style shared-memory pool: one fixed-size segment (a named POSIX
 * segment or an anonymous memfd) holding a header, a TLSF allocator and the
 * block area, usable by every process that maps it at once. JavaScript sees
 * the block area only, as one external ArrayBuffer per mapping; offsets are
 * relative to the area start (= a view's byteOffset) and mean the same in
 * every process. close() unmaps in this process and detaches its views.
 */
export class SharedPool {
  readonly #handle: number;
  /** Keeps the native state alive for as long as this pool is reachable. */
  readonly #owner: object;
  readonly #buffer: ArrayBuffer;
  readonly #fd: number;
  readonly #name: string | null;
  /** The owner token of this mapping's views. */
  readonly #token = {};
  #closed = false;
  #unlinked = false;
  /** Whether this pool holds the user lock (relocking would deadlock). */
  #locked = false;

  private constructor(key: symbol, result: ShmAttached, name: string | null) {
    if (key !== INTERNAL) throw errors.illegalConstructor('SharedPool.create, SharedPool.open or SharedPool.fromFd');
    [this.#handle, this.#owner, this.#buffer, this.#fd] = result;
    this.#name = name;
    registerSegment(this, this.#handle, this.#token, () => this.#closed); // for HeapPools with this parent
  }

  /** A new segment: named (exclusive: ERR_POOL_SYSTEM EEXIST if it exists) or, without a name, an anonymous memfd. */
  static create(options: SharedPoolOptions): SharedPool {
    validateObject(options, 'options');
    const size = validateInteger(options.size, 'options.size', MIN_SIZE, MAX_SIZE);
    const name = options.name === undefined ? null : validateName(options.name, 'options.name');
    const mode = options.mode === undefined ? 0o600 : validateInteger(options.mode, 'options.mode', 0, 0o777);
    const result = native.create(name, size, mode);
    return new SharedPool(INTERNAL, attached(result, () => (name === null ? 'memfd_create' : 'shm_open')), name);
  }

  /** Attaches to a named segment (validated: ERR_POOL_CORRUPTED for a bad one). */
  static open(name: string): SharedPool {
    validateName(name, 'name');
    return new SharedPool(INTERNAL, attached(native.open(name), () => 'shm_open'), name);
  }

  /** Attaches through a descriptor, e.g. one inherited from the parent (the pool keeps a duplicate). */
  static fromFd(fd: number): SharedPool {
    validateInteger(fd, 'fd', 0, 2 ** 31 - 1);
    return new SharedPool(INTERNAL, attached(native.fromFd(fd), (errno) => (errno === osConstants.errno.EBADF ? 'fcntl' : 'mmap')), null);
  }

  /** Removes a segment's name without attaching (ERR_POOL_SYSTEM ENOENT when there is none). */
  static unlink(name: string): void {
    validateName(name, 'name');
    const status = native.unlink(name);
    if (status !== ShmStatus.OK) throw fail(status, 'shm_unlink');
  }

  /** This process's descriptor of the segment (close-on-exec): hand it to children through fork's `stdio`. */
  get fd(): number {
    this.#live();
    return this.#fd;
  }

  /** The segment's name, or null (memfd, fromFd). */
  get name(): string | null {
    return this.#name;
  }

  /** True after close() or destroy(). */
  get destroyed(): boolean {
    return this.#closed;
  }

  /** capacity - used, over every attached process. */
  get availableCapacity(): number {
    return this.#stats()[4]!;
  }

  /** `size` bytes, 8-aligned, uninitialised. */
  alloc(size: number): Buffer {
    return this.#allocate(size, 0, true)!;
  }

  /** Like alloc, but null instead of ERR_POOL_EXHAUSTED. */
  tryAlloc(size: number): Buffer | null {
    return this.#allocate(size, 0, false);
  }

  /** Zero-filled count * size bytes. */
  calloc(count: number, size: number): Buffer {
    this.#live();
    const total = validateCallocTotal(count, size);
    if (total > MAX_LENGTH) throw errors.outOfRange('count * size', `<= ${MAX_LENGTH}`, total);
    return this.#allocate(total, 1, true)!;
  }

  /** Keeps min(old, new) bytes; the old view must not be used afterwards; on failure it stays valid. */
  realloc(buf: Buffer, size: number): Buffer {
    const offset = this.#offsetOfOwn(buf);
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_LENGTH) throw sizeError(size, 'size', 0, MAX_LENGTH);
    const moved = native.realloc(this.#handle, offset, size);
    if (moved < 0) throw fail(moved, 'realloc', size);
    return this.#view(moved, size);
  }

  /** Gives a block back; any attached process may free a block another one allocated. */
  free(buf: Buffer): void {
    const offset = this.#offsetOfOwn(buf);
    scratch[0] = this.#handle;
    scratch[1] = offset;
    nativeFree();
    const status = scratch[0]!;
    if (status !== ShmStatus.OK) throw fail(status, 'free');
  }

  /** The area offset of a view over this mapping: the same in every attached process. */
  offsetOf(buf: ArrayBufferView): number {
    this.#live();
    if (!ArrayBuffer.isView(buf)) throw errors.invalidArgType('buf', 'an instance of Buffer, TypedArray, or DataView', buf);
    if (viewOwner(buf as Uint8Array) === this.#token) return viewOffset(buf as Uint8Array);
    const lent = sharedChunkOffset(buf, this.#token); // a view of a HeapPool child's chunk
    if (lent !== undefined) return lent;
    if (buf.buffer !== this.#buffer) throw errors.foreignBuffer();
    return buf.byteOffset;
  }

  /** A view of `length` bytes of the live allocation that starts at `offset` (as offsetOf gave it). */
  at(offset: number, length: number): Buffer {
    this.#live();
    validateInteger(offset, 'offset');
    validateInteger(length, 'length', 0, MAX_LENGTH);
    const status = native.at(this.#handle, offset, length);
    if (status === ShmStatus.INVALID) throw errors.outOfRange('length', 'within the allocation', length);
    if (status !== ShmStatus.OK) throw fail(status, 'at');
    return this.#view(offset, length);
  }

  /** Takes the process-shared user lock; a lock whose holder died is recovered. Not reentrant. */
  lock(): void {
    this.#live();
    if (this.#locked) throw errors.invalidState('the lock is already held by this SharedPool');
    const status = native.lock(this.#handle);
    if (status !== ShmStatus.OK && status !== ShmStatus.OWNER_DIED) throw fail(status, 'pthread_mutex_lock');
    this.#locked = true;
  }

  unlock(): void {
    this.#live();
    if (!this.#locked) throw errors.invalidState('the lock is not held by this SharedPool');
    const status = native.unlock(this.#handle);
    if (status !== ShmStatus.OK) throw fail(status, 'pthread_mutex_unlock');
    this.#locked = false;
  }

  /** Runs fn under the lock (synchronously) and returns its result; unlocks even when fn throws. */
  withLock<T>(fn: () => T): T {
    validateFunction(fn, 'fn');
    this.lock();
    try {
      return fn();
    } finally {
      if (this.#locked && !this.#closed) this.unlock();
    }
  }

  /** Blocks until notify() on view[index] (any process), unless it does not hold `expected` or timeoutMs passes. */
  wait(view: Int32Array, index: number, expected: number, timeoutMs?: number): 'ok' | 'not-equal' | 'timed-out' {
    const offset = this.#wordOffset(view, index);
    if (typeof expected !== 'number') throw errors.invalidArgType('expected', 'of type number', expected);
    let timeout = -1;
    if (timeoutMs !== undefined) {
      if (typeof timeoutMs !== 'number') throw errors.invalidArgType('timeoutMs', 'of type number', timeoutMs);
      if (!(timeoutMs >= 0)) throw errors.outOfRange('timeoutMs', '>= 0', timeoutMs);
      timeout = timeoutMs === Infinity ? -1 : Math.ceil(timeoutMs);
    }
    const status = native.wait(this.#handle, offset, expected | 0, timeout);
    const result = WAIT_RESULTS.get(status);
    if (result === undefined) throw fail(status, 'futex');
    return result;
  }

  /** Wakes up to `count` (default: all) waiters on view[index] in any process; returns how many woke. */
  notify(view: Int32Array, index: number, count?: number): number {
    const offset = this.#wordOffset(view, index);
    const n = count === undefined || count === Infinity ? -1 : validateInteger(count, 'count', 0, 2 ** 31 - 2);
    const woken = native.notify(this.#handle, offset, n);
    if (woken < 0) throw fail(woken, 'futex');
    return woken;
  }

  /** Records `offset` under `key` in the segment's roots directory (replacing an existing key). */
  setRoot(key: string, offset: number): void {
    this.#live();
    validateKey(key);
    validateInteger(offset, 'offset', 0, this.#buffer.byteLength - 1);
    const status = native.setRoot(this.#handle, key, offset);
    if (status !== ShmStatus.OK) throw fail(status, 'setRoot');
  }

  getRoot(key: string): number | undefined {
    this.#live();
    validateKey(key);
    const offset = native.getRoot(this.#handle, key);
    if (offset === ShmStatus.NOT_FOUND) return undefined;
    if (offset < 0) throw fail(offset, 'getRoot');
    return offset;
  }

  /** Removes `key` (no-op when absent). */
  deleteRoot(key: string): void {
    this.#live();
    validateKey(key);
    const status = native.deleteRoot(this.#handle, key);
    if (status !== ShmStatus.OK && status !== ShmStatus.NOT_FOUND) throw fail(status, 'deleteRoot');
  }

  stats(): SharedPoolStats {
    const [segmentSize, capacity, used, peakUsed, , free, largestFree, allocations, failed, generation] = this.#stats();
    return {
      capacity: capacity!,
      reserved: capacity!,
      used: used!,
      peakUsed: peakUsed!,
      allocations: allocations!,
      failedAllocations: failed!,
      free: free!,
      largestFree: largestFree!,
      segmentSize: segmentSize!,
      generation: generation!,
    };
  }

  /** Header, allocator and roots check under the allocator lock; throws ERR_POOL_CORRUPTED with the reason. */
  check(): void {
    this.#live();
    const why = native.check(this.#handle);
    if (why !== null) throw errors.corrupted(why);
  }

  /** Unmaps in this process (releasing the user lock if this pool holds it) and detaches every view. Idempotent. */
  close(): void {
    if (this.#closed) return;
    destroySharedChildren(this); // HeapPools borrowing chunks first, as a HeapPool destroys its children
    if (this.#locked) native.unlock(this.#handle);
    this.#locked = false;
    this.#closed = true;
    native.close(this.#handle);
  }

  /** Removes the segment's name (no-op for an unnamed one); attached processes keep their mapping. */
  unlink(): void {
    this.#live();
    if (this.#name === null) return;
    const status = native.unlink(this.#name);
    if (status !== ShmStatus.OK) throw fail(status, 'shm_unlink');
    this.#unlinked = true;
  }

  /** unlink() (when named and not yet unlinked; a name already gone is fine), then close(). Idempotent. */
  destroy(): void {
    if (this.#closed) return;
    try {
      if (this.#name !== null && !this.#unlinked) {
        const status = native.unlink(this.#name);
        if (status !== ShmStatus.OK && status !== -(SYS_BASE + osConstants.errno.ENOENT)) throw fail(status, 'shm_unlink');
        this.#unlinked = true;
      }
    } finally {
      this.close();
    }
  }

  /** close(): leaving a `using` block unmaps, and never removes a name other processes may use. */
  [Symbol.dispose](): void {
    this.close();
  }

  #live(): void {
    if (this.#closed) throw errors.destroyed();
  }

  #stats(): number[] {
    this.#live();
    const raw = native.stats(this.#handle);
    if (typeof raw === 'number') throw fail(raw, 'stats');
    return raw;
  }

  #allocate(size: number, zero: number, throwing: boolean): Buffer | null {
    this.#live();
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_LENGTH) throw sizeError(size, 'size', 0, MAX_LENGTH);
    scratch[0] = this.#handle;
    scratch[1] = size;
    scratch[2] = zero;
    nativeAlloc();
    const offset = scratch[0]!;
    if (offset >= 0) return this.#view(offset, size);
    if (offset === ShmStatus.NOMEM && !throwing) return null;
    throw fail(offset, 'alloc', size);
  }

  /** A view of this mapping; a block the C pool placed past the area means a damaged segment. */
  #view(offset: number, length: number): Buffer {
    if (offset + length > this.#buffer.byteLength) throw errors.corrupted('a block lies outside the block area');
    return makeView(this.#buffer, offset, length, this.#token);
  }

  /** The offset of a view this pool made (alloc, at, realloc); anything else is foreign. */
  #offsetOfOwn(buf: Buffer): number {
    this.#live();
    validateView(buf, 'buf');
    if (viewOwner(buf) !== this.#token) throw errors.foreignBuffer();
    return viewOffset(buf);
  }

  /** The area offset of view[index], an Int32Array over this mapping. */
  #wordOffset(view: Int32Array, index: number): number {
    this.#live();
    if (!(view instanceof Int32Array)) throw errors.invalidArgType('view', 'an instance of Int32Array', view);
    if (view.buffer !== this.#buffer) throw errors.foreignBuffer();
    validateInteger(index, 'index', 0, Math.max(0, view.length - 1));
    if (index >= view.length) throw errors.outOfRange('index', `< ${view.length}`, index);
    return view.byteOffset + index * 4;
  }
}
