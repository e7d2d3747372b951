#!/usr/bin/env node
'use strict';
// `npm test`: runs the lib/ import-cycle check (test/tools/import-cycles.js), the native C tests (bash test/native/run.sh, when present),
// the fuzz regression corpus replayed without clang (bash test/fuzz/replay.sh, when present), the vitest suite and the package install test (node test/package/install.js),
// passes their output through, and ends with exactly one line
// `N passed, M failed` (totals of all three). Exits nonzero on any failure.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
let passed = 0;
let failed = 0;

function run(command, args, env) {
  const child = spawnSync(command, args, {
    cwd: root,
    env: Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, value]) => value !== undefined)),
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (child.stdout) process.stdout.write(child.stdout);
  if (child.error) process.stderr.write(`${command}: ${child.error.message}\n`);
  return child;
}

// A suite whose last line is `<label>: N passed, M failed`; a crash or a
// missing summary counts as one failure.
function runSuite(label, command, args) {
  const child = run(command, args);
  const match = new RegExp(`${label}: (\\d+) passed, (\\d+) failed\\s*$`).exec(child.stdout || '');
  if (match) {
    passed += Number(match[1]);
    failed += Number(match[2]);
  }
  if (!match || child.status !== 0) {
    if (!match || Number(match[2]) === 0) failed += 1;
    process.stdout.write(`run-all: ${label} tests exited with ${child.status ?? child.signal}\n`);
  }
}

// The formatters (Biome, clang-format) have nothing to change.
runSuite('format', process.execPath, [path.join(root, 'test', 'tools', 'format-check.js')]);

// lib/ must import without a circle (type-only imports count too).
runSuite('import-cycles', process.execPath, [path.join(root, 'test', 'tools', 'import-cycles.js')]);

const nativeRunner = path.join(root, 'test', 'native', 'run.sh');
if (fs.existsSync(nativeRunner)) {
  runSuite('native', 'bash', [nativeRunner]);
} else {
  process.stdout.write('run-all: test/native/run.sh not found, skipping native tests\n');
}

// The fuzz harnesses over their regression corpus (test/fuzz/corpus/), built with
// gcc + ASan + UBSan: one case per harness (docs/fuzzing.md).
const fuzzReplay = path.join(root, 'test', 'fuzz', 'replay.sh');
if (fs.existsSync(fuzzReplay)) {
  runSuite('fuzz-replay', 'bash', [fuzzReplay]);
} else {
  process.stdout.write('run-all: test/fuzz/replay.sh not found, skipping the fuzz corpus replay\n');
}

// vitest: the summary reporter writes its counts to a file.
const summary = path.join(root, '.tmp', `vitest-summary-${process.pid}.json`);
fs.rmSync(summary, { force: true });
const vitestBin = path.join(path.dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
const vitest = run(process.execPath, [vitestBin, 'run'], {
  MEMPOOLS_VITEST_SUMMARY: summary,
  // output goes through a pipe: colours only when our own stdout is a terminal
  ...(process.stdout.isTTY ? { FORCE_COLOR: '1' } : { NO_COLOR: '1', FORCE_COLOR: undefined }),
});
let counts = null;
try {
  counts = JSON.parse(fs.readFileSync(summary, 'utf8'));
  fs.rmSync(summary, { force: true });
} catch {
  counts = null;
}
if (counts) {
  passed += counts.passed;
  failed += counts.failed;
}
if (!counts || vitest.status !== 0) {
  if (!counts || counts.failed === 0) failed += 1;
  process.stdout.write(`run-all: vitest exited with ${vitest.status ?? vitest.signal}\n`);
}

// The packed tarball installed with and without prebuilds (it runs
// `npm run build:prebuilds`, which compiles in .tmp/, not build/).
runSuite('package', process.execPath, [path.join(root, 'test', 'package', 'install.js')]);

process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 ? 1 : 0;
