#!/usr/bin/env node
'use strict';
// npm's prepack (`npm pack`, `npm publish`): compiles dist/ from lib/, then
// refuses to pack unless both prebuilds are there and are what their names
// say (an ELF shared object for the right machine): a fresh clone has neither
// (both are build output, not in git). `npm run build:prebuilds` makes them.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
// ELF e_machine values
const PREBUILDS = {
  'prebuilds/linux-x64/mempools.glibc.node': { machine: 62, name: 'x86-64' },
  'prebuilds/linux-arm64/mempools.glibc.node': { machine: 183, name: 'AArch64' },
};

function machineOf(file) {
  const header = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  try {
    if (fs.readSync(fd, header, 0, 20, 0) < 20) return undefined;
  } finally {
    fs.closeSync(fd);
  }
  // 64-bit little-endian ELF, type ET_DYN (a shared object)
  if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1 || header.readUInt16LE(16) !== 3) {
    return undefined;
  }
  return header.readUInt16LE(18);
}

const problems = [];
for (const [file, { machine, name }] of Object.entries(PREBUILDS)) {
  const full = path.join(root, file);
  if (!fs.existsSync(full)) problems.push(`${file} is missing`);
  else if (machineOf(full) !== machine) problems.push(`${file} is not a 64-bit ${name} ELF shared object`);
}
if (problems.length > 0) {
  process.stderr.write(
    `prepack: not packing: ${problems.join('; ')}.\nprepack: run \`npm run build:prebuilds\` first (linux-arm64 needs g++-aarch64-linux-gnu).\n`,
  );
  process.exit(1);
}

fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const tscBin = path.join(path.dirname(require.resolve('typescript/package.json')), 'bin', 'tsc');
const tsc = spawnSync(process.execPath, [tscBin, '-p', path.join(root, 'tsconfig.json')], {
  cwd: root,
  stdio: 'inherit',
});
if (tsc.status !== 0) {
  process.stderr.write('prepack: tsc failed: not packing\n');
  process.exit(1);
}
if (!fs.existsSync(path.join(root, 'dist', 'index.js')) || !fs.existsSync(path.join(root, 'dist', 'index.d.ts'))) {
  process.stderr.write('prepack: tsc left no dist/index.js and dist/index.d.ts: not packing\n');
  process.exit(1);
}
