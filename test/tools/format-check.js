#!/usr/bin/env node
'use strict';
// The formatters' check, run by `npm test`: Biome for the TypeScript and
// JavaScript (biome.json), clang-format for native/ (the .clang-format files
// in native/alloc, native/include and native/binding). Fix with `npm run format`.
// Prints `format: N passed, M failed` last. Without a clang-format on PATH that
// check is skipped with a note (CI installs it: .ci/run).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
let passed = 0;
let failed = 0;

function check(label, command, args) {
  const child = spawnSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (child.error) return child.error;
  if (child.status === 0) {
    passed++;
    process.stdout.write(`ok - ${label}\n`);
  } else {
    failed++;
    const out = `${child.stdout}${child.stderr}`.trim().split('\n').slice(0, 40).join('\n');
    process.stdout.write(`not ok - ${label} (npm run format fixes it)\n${out}\n`);
  }
  return null;
}

/** Every C/C++ source and header below native/. */
function nativeSources() {
  const out = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (/\.(c|h|cc|hh)$/.test(entry.name)) out.push(path.relative(root, file));
    }
  };
  walk(path.join(root, 'native'));
  return out.sort();
}

const biome = path.join(root, 'node_modules', '@biomejs', 'biome', 'bin', 'biome');
check('TypeScript and JavaScript are formatted (biome format)', process.execPath, [biome, 'format', '.']);
const clang = check('native/ is formatted (clang-format --dry-run --Werror)', 'clang-format', [
  '--dry-run',
  '--Werror',
  ...nativeSources(),
]);
if (clang !== null)
  process.stdout.write(`note: clang-format not found (${clang.code}): native/ formatting not checked\n`);
process.stdout.write(`format: ${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 ? 1 : 0;
