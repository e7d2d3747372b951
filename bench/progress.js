'use strict';
// Progress of a bench run (bench/run.js): a step is one child process the harness runs
// (a benchmark sample, a callgrind run, a build). On a terminal a status line is redrawn
// in place on stderr; otherwise (CI, a pipe) a plain line is printed at each phase and at
// most every 30 s. The ETA is the mean time per step so far times the steps left; the total
// is an estimate made from the tables before each suite starts (never below the steps done).

const fmt = (ms) => {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(s % 60).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
};

class Progress {
  constructor(stream = process.stderr, { tty = stream.isTTY === true, now = Date.now } = {}) {
    this.stream = stream;
    this.tty = tty;
    this.now = now;
    this.t0 = now();
    this.done = 0;
    this.total = 0;
    this.phaseName = '';
    this.lastPlain = 0;
    this.shown = false;
  }
  /** Adds the estimated steps of work still to be planned (a suite's). */
  plan(steps) {
    this.total += steps;
  }
  phase(name) {
    this.phaseName = name;
    this.render(true);
  }
  step() {
    this.done++;
    this.render(false);
  }
  text() {
    const total = Math.max(this.total, this.done + 1);
    const elapsed = this.now() - this.t0;
    const pct = Math.floor((100 * this.done) / total);
    const eta = this.done > 0 ? fmt((elapsed / this.done) * (total - this.done)) : '?';
    return `[${this.phaseName}] ${this.done}/~${total} steps (${pct}%), ${fmt(elapsed)} elapsed, ETA ${eta}`;
  }
  render(force) {
    if (this.tty) {
      this.stream.write(`\r\x1b[K${this.text()}`);
      this.shown = true;
      return;
    }
    const t = this.now();
    if (!force && t - this.lastPlain < 30_000) return;
    this.lastPlain = t;
    this.stream.write(`progress: ${this.text()}\n`);
  }
  /** Runs `print` (a normal output line) without mixing it into the status line. */
  around(print) {
    if (this.tty && this.shown) this.stream.write('\r\x1b[K');
    print();
    if (this.tty && this.shown) this.stream.write(this.text());
  }
  finish() {
    if (this.tty && this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}

module.exports = { Progress, fmt };
