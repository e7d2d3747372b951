import { cleanupsFailed } from './errors.js';

/**
 * Cleanup callbacks of a pool: run newest first, each exactly once. A callback
 * added while they run runs in the same pass (before older ones). Every
 * callback runs even when some throw; then an AggregateError reports them.
 */
export class CleanupStack {
  readonly #callbacks: (() => unknown)[] = [];
  #running = false;

  /** True while run() is calling callbacks. */
  get running(): boolean {
    return this.#running;
  }

  get size(): number {
    return this.#callbacks.length;
  }

  push(fn: () => unknown): void {
    this.#callbacks.push(fn);
  }

  /** Runs and forgets every callback; returns the AggregateError to throw, if any threw. */
  run(): AggregateError | undefined {
    const failures: unknown[] = [];
    this.#running = true;
    try {
      for (let fn = this.#callbacks.pop(); fn !== undefined; fn = this.#callbacks.pop()) {
        try {
          fn.call(undefined);
        } catch (error) {
          failures.push(error);
        }
      }
    } finally {
      this.#running = false;
    }
    return failures.length > 0 ? cleanupsFailed(failures) : undefined;
  }
}
