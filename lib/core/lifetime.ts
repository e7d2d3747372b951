// What every pool shares about the lifetime of its memory in Node's I/O
// (docs/lifetime.md):
//   - destroy options (the unsafe immediate release is opt-in by name);
//   - held memory: what a destroyed (or reset, or shrunk) pool still keeps
//     because views of it can be reached (native/binding/held_memory.hh);
//   - whenDone: when an I/O operation, a stream or a response is over, so a
//     block can be freed or a pool destroyed/reset at the right moment;
//   - DeferredFrees: the safeReuse mode's frees, done once the freed view is
//     garbage.
import * as errors from './errors.js';
import { binding } from './native.js';
import type { PoolStats } from '../types.js';
import { validateObject, validateOptionalBoolean } from './validate.js';

/** What a pool's stats() reports of its memory's lifetime. */
export type LifetimeStats = Pick<PoolStats, 'destroyed' | 'heldBytes' | 'heldChunks' | 'pendingFrees'>;

/** The lifetime fields of a live pool's stats(): held memory, safeReuse's pending frees. */
export function lifetimeStats(handle: number, deferred: DeferredFrees | null): LifetimeStats {
  const [bytes, chunks] = binding.held(handle);
  return { destroyed: false, heldBytes: bytes, heldChunks: chunks, pendingFrees: deferred?.blocks ?? 0 };
}

/**
 * stats() of a destroyed (closed) pool: `zeros` are the kind's own fields, all
 * 0; every common figure is 0 too, but what is still held for reachable views.
 */
export function destroyedStats<T extends PoolStats>(handle: number, zeros: Omit<T, keyof PoolStats>): T {
  const [bytes, chunks] = binding.held(handle);
  const common: PoolStats = {
    capacity: 0,
    reserved: 0,
    used: 0,
    peakUsed: 0,
    allocations: 0,
    failedAllocations: 0,
    destroyed: true,
    heldBytes: bytes,
    heldChunks: chunks,
    pendingFrees: 0,
  };
  return { ...common, ...zeros } as T;
}

/** Options of destroy()/close(). */
export interface DestroyOptions {
  /**
   * Unsafe: detach every view and release all memory now. Node aborts if a
   * detached view is in use by an asynchronous operation (zlib, fs, sockets,
   * crypto); use it only when nothing can still be using a view.
   */
  unsafeDetachViews?: boolean;
}

/** Whether destroy()/close() options ask for the unsafe immediate release. */
export function detachRequested(options: DestroyOptions | undefined): boolean {
  if (options === undefined) return false;
  validateObject(options, 'options');
  return validateOptionalBoolean(options.unsafeDetachViews, 'options.unsafeDetachViews');
}

/** What whenDone waits for: a promise, or a stream/emitter (http.ServerResponse, net.Socket, fs and zlib streams). */
export type Completion = PromiseLike<unknown> | NodeJS.EventEmitter;

interface StreamLike extends NodeJS.EventEmitter {
  readonly writableFinished?: unknown;
  readonly readableEnded?: unknown;
  readonly closed?: unknown;
  readonly _writableState?: unknown;
  readonly _readableState?: unknown;
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === 'object' || typeof value === 'function') &&
  value !== null &&
  typeof (value as { then?: unknown }).then === 'function';

const isEmitter = (value: unknown): value is StreamLike =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { once?: unknown }).once === 'function' &&
  typeof (value as { removeListener?: unknown }).removeListener === 'function';

/** Whether `value` is something whenDone can wait for (else it throws ERR_INVALID_ARG_TYPE). */
function validateCompletion(value: unknown, name: string): asserts value is Completion {
  if (!isThenable(value) && !isEmitter(value)) {
    throw errors.invalidArgType(name, 'a Promise, a stream or an EventEmitter', value);
  }
}

/** The events after which a stream no longer reads what was written to it, and whether it is past them already. */
function doneEvents(stream: StreamLike): { events: readonly string[]; done: boolean } {
  // A writable side (a Writable, a Duplex such as a socket or a zlib stream, an
  // http.ServerResponse): 'finish' once every write's callback ran (the data is
  // in the kernel or consumed), 'close' once destroyed (nothing in flight any
  // more). Not 'error': a write may still be in flight then; the 'close' that
  // follows is the moment. Not stream.finished(): it calls back at once for a
  // stream already ended (res.end(body)) whose data is still being written.
  if (stream._writableState !== undefined || 'writableFinished' in stream) {
    return { events: ['finish', 'close'], done: stream.writableFinished === true || stream.closed === true };
  }
  if (stream._readableState !== undefined) {
    return { events: ['end', 'close'], done: stream.readableEnded === true || stream.closed === true };
  }
  return { events: ['close', 'finish', 'end', 'error'], done: false };
}

/**
 * Resolves (never rejects) once `completion` is over: a promise settled
 * (fulfilled or rejected); a writable stream (http.ServerResponse,
 * net.Socket, fs.WriteStream, a zlib stream) finished writing or closed; a
 * readable-only stream ended or closed; any other emitter emitted 'close',
 * 'finish', 'end' or 'error'. From then on Node no longer reads the buffers
 * handed to it.
 */
export function whenDone(completion: Completion): Promise<void> {
  validateCompletion(completion, 'completion');
  if (isThenable(completion))
    return Promise.resolve(completion).then(
      () => {},
      () => {},
    );
  const stream = completion as StreamLike;
  const { events, done } = doneEvents(stream);
  if (done) return Promise.resolve();
  return new Promise((resolve) => {
    // As stream.finished() does, an 'error' is observed (not left to crash the
    // process) while waiting; for a stream it is not the end: 'close' follows.
    const observe = events.includes('error') ? undefined : (): void => {};
    const over = (): void => {
      for (const event of events) stream.removeListener(event, over);
      if (observe !== undefined) stream.removeListener('error', observe);
      resolve();
    };
    for (const event of events) stream.once(event, over);
    if (observe !== undefined) stream.on('error', observe);
  });
}

/**
 * Runs `action` once `completion` is over (whenDone validates it at once);
 * a failure becomes a process warning, never an unhandled rejection. What the
 * pools' freeAfter/destroyAfter/resetAfter/closeAfter do.
 */
export function afterDone(completion: unknown, action: () => void): Promise<void> {
  return whenDone(completion as Completion).then(() => {
    try {
      action();
    } catch (error) {
      process.emitWarning(error as Error);
    }
  });
}

/**
 * Makes `free` an own property of a safeReuse pool, over the class's free().
 * The plain free() then carries no safeReuse branch at all: in V8 even a
 * never-taken branch there grows it past what the hot loop inlines (measured
 * +57 to +77 instructions per alloc/free pair at 64 B).
 */
export function overrideFree(pool: object, free: (buf: Buffer) => void): void {
  Object.defineProperty(pool, 'free', { value: free, writable: true, configurable: true, enumerable: false });
}

/** One pending free: what the finalizer gets back (an object, so each registration is told apart). */
interface PendingFree {
  readonly key: number;
  readonly size: number;
  readonly tag: number;
}

/**
 * The safeReuse mode's frees: a freed view's block stays allocated until the
 * view is garbage (FinalizationRegistry), then `release(key)` frees it. Keys
 * name the block (a pool-specific number); `release` must check the pool is
 * still live and ignore a block that is gone.
 *
 * A key can be pending again after clear() (a RegionPool's reset() moves to a
 * new native pool, whose allocations reuse the old keys), so the finalizer
 * releases a block only if its own registration is the pending one: an older
 * view of the same key, collected late, frees nothing.
 */
export class DeferredFrees {
  readonly #registry: FinalizationRegistry<PendingFree>;
  /** Blocks freed by the user and not yet released, and their usable bytes. */
  blocks = 0;
  bytes = 0;
  /** The pending free of each key. */
  readonly #pending = new Map<number, PendingFree>();

  constructor(release: (key: number, tag: number) => void) {
    this.#registry = new FinalizationRegistry((entry: PendingFree) => {
      // Forgotten (the pool was destroyed or reset), or the key is another view's since.
      if (this.#pending.get(entry.key) !== entry) return;
      this.#pending.delete(entry.key);
      this.blocks--;
      this.bytes -= entry.size;
      release(entry.key, entry.tag);
    });
  }

  /** Frees block `key` (of `size` usable bytes; `tag` a pool-specific number) once `view` is garbage. */
  defer(view: object, key: number, size: number, tag = 0): void {
    const entry: PendingFree = { key, size, tag };
    this.#registry.register(view, entry);
    this.#pending.set(key, entry);
    this.blocks++;
    this.bytes += size;
  }

  /** Whether block `key` is waiting for its view to go. */
  has(key: number): boolean {
    return this.#pending.has(key);
  }

  /** Drops every pending free (the pool is destroyed or reset: its memory goes anyway). */
  clear(): void {
    this.#pending.clear();
    this.blocks = 0;
    this.bytes = 0;
  }
}
