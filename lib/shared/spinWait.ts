// SharedPool.wait()'s spin before the futex: it polls the word with
// Atomics.load for a while, so that a prompt reply costs no sleep and no
// wake-up (an idle CPU can take ~100 µs to wake); only then it sleeps.
import * as errors from '../core/errors.js';
import { Status } from '../core/status.js';

/** wait()'s default spin before the futex: 50 µs. */
export const DEFAULT_SPIN_MS = 0.05;
/** An adapted spin shorter than spinMs / SPIN_FLOOR is no spin; every SPIN_PROBE-th wait then spins spinMs. */
const SPIN_FLOOR = 32;
const SPIN_PROBE = 16;
const MAX_SPIN_MS = 1000;

/** What the native wait returns, as wait() names it (any other status is a failure). */
export const WAIT_RESULTS = new Map<number, 'ok' | 'not-equal' | 'timed-out'>([
  [Status.OK, 'ok'],
  [Status.NOT_EQUAL, 'not-equal'],
  [Status.TIMED_OUT, 'timed-out'],
]);

/** A spin in ms (option spinMs, the spinMs setter): a number, 0 .. 1000. */
export function validateSpin(spinMs: unknown, label: string): number {
  if (typeof spinMs !== 'number') throw errors.invalidArgType(label, 'of type number', spinMs);
  if (!(spinMs >= 0 && spinMs <= MAX_SPIN_MS)) throw errors.outOfRange(label, `>= 0 and <= ${MAX_SPIN_MS}`, spinMs);
  return spinMs;
}

/**
 * One pool's spin policy. Spinning pays when the other side answers while this
 * process still has its CPU; when the CPUs are oversubscribed the spin only keeps
 * the other side off a CPU. So the spin adapts: halved after each spin that found
 * nothing (down to none), doubled after one that did (up to spinMs); with no spin
 * left, every SPIN_PROBE-th wait spins spinMs to find out whether it pays again.
 */
export class SpinWait {
  #spinMs: number;
  /** The spin the next wait uses: spinMs, halved after each spin that ended asleep, doubled after a useful one. */
  #spinNow: number;
  #waits = 0;

  constructor(spinMs: number) {
    this.#spinMs = spinMs;
    this.#spinNow = spinMs;
  }

  get spinMs(): number {
    return this.#spinMs;
  }

  /** Sets spinMs (validated by the caller) and starts adapting afresh. */
  set spinMs(value: number) {
    this.#spinMs = value;
    this.#spinNow = value;
  }

  /**
   * Polls view[index] while it holds `value`, for this wait's spin (at most
   * `limit` ms): -1 as soon as the word changed, else the ms spent (0: no spin).
   */
  spin(view: Int32Array, index: number, value: number, limit: number): number {
    const spin = Math.min(this.#spinFor(), limit);
    if (!(spin > 0)) return 0;
    const start = performance.now();
    let spent = 0;
    for (let i = 1; ; i++) {
      if (Atomics.load(view, index) !== value) {
        this.#spinNow = Math.min(this.#spinMs, Math.max(this.#spinNow * 2, this.#spinMs / SPIN_FLOOR));
        return -1;
      }
      if ((i & 63) === 0 && (spent = performance.now() - start) >= spin) break;
    }
    this.#spinNow = this.#spinNow / 2 < this.#spinMs / SPIN_FLOOR ? 0 : this.#spinNow / 2;
    return spent;
  }

  /** How long this wait spins. */
  #spinFor(): number {
    if (this.#spinNow > 0) return this.#spinNow;
    return ++this.#waits % SPIN_PROBE === 0 ? this.#spinMs : 0;
  }
}
