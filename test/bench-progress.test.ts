// bench/progress.js: plain lines when not a terminal (phases, at most every 30 s), a
// status line redrawn in place on a terminal, an ETA from the mean step time.
import { createRequire } from 'node:module';

import { expect, test } from 'vitest';

const { Progress } = createRequire(import.meta.url)('../bench/progress.js') as {
  Progress: new (
    stream: { write(s: string): void },
    opts: { tty: boolean; now: () => number },
  ) => { plan(n: number): void; phase(s: string): void; step(): void; around(f: () => void): void; finish(): void };
};

function sink() {
  const out: string[] = [];
  return { out, stream: { write: (s: string) => void out.push(s) } };
}

test('not a terminal: plain lines at phases and every 30 s, with an ETA from the mean step', () => {
  let t = 0;
  const { out, stream } = sink();
  const p = new Progress(stream, { tty: false, now: () => t });
  p.plan(10);
  p.phase('C');
  t = 10_000;
  p.step(); // 10 s: too soon for a line
  t = 40_000;
  p.step(); // 2 steps in 40 s: 8 left at 20 s each
  expect(out).toEqual([
    'progress: [C] 0/~10 steps (0%), 0s elapsed, ETA ?\n',
    'progress: [C] 2/~10 steps (20%), 40s elapsed, ETA 2m40s\n',
  ]);
  expect(out.every((line) => !line.includes('\r'))).toBe(true);
});

test('a terminal: one status line, cleared around normal output and at the end', () => {
  const { out, stream } = sink();
  const p = new Progress(stream, { tty: true, now: () => 0 });
  p.plan(3);
  p.phase('JS');
  p.around(() => out.push('a normal line\n'));
  p.finish();
  expect(out[0]).toBe('\r\x1b[K[JS] 0/~3 steps (0%), 0s elapsed, ETA ?');
  expect(out.slice(1)).toEqual(['\r\x1b[K', 'a normal line\n', '[JS] 0/~3 steps (0%), 0s elapsed, ETA ?', '\r\x1b[K']);
});
