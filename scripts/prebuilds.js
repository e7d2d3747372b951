#!/usr/bin/env node
'use strict';
// `npm run build:prebuilds`: the N-API prebuilds `npm pack` ships,
//   prebuilds/linux-x64/mempools.glibc.node    compiled here (on linux-x64)
//   prebuilds/linux-arm64/mempools.glibc.node  cross-compiled with Debian's
//                                              gcc/g++-aarch64-linux-gnu
// both against the running Node's own headers (N-API: one binary serves every
// Node from 20 on), stripped. Each is compiled in a staging copy of the sources
// under .tmp/, so the developer's build/ is left alone. Never downloads headers
// when they sit beside the running Node (install.js).
// Usage: node scripts/prebuilds.js [x64] [arm64]   (default: both)
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { build } = require('../install.js');

const root = path.join(__dirname, '..');

const TARGETS = {
  x64: { triple: 'x86_64-linux-gnu', native: process.arch === 'x64' },
  arm64: { triple: 'aarch64-linux-gnu', native: process.arch === 'arm64' },
};

function has(command) {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** The tools for one arch: the system's own when native, else the cross toolchain `<triple>-gcc` and friends. */
function toolchain(arch) {
  const target = TARGETS[arch];
  if (target.native) return { env: {}, strip: 'strip' };
  const prefix = `${target.triple}-`;
  const missing = ['gcc', 'g++', 'strip'].map((tool) => prefix + tool).filter((tool) => !has(tool));
  if (missing.length > 0) {
    throw new Error(
      `no ${missing.join(', ')}: the ${arch} prebuild is cross-compiled (Debian/Ubuntu: apt-get install g++-${target.triple})`,
    );
  }
  return { env: { CC: `${prefix}gcc`, CXX: `${prefix}g++`, AR: `${prefix}ar` }, strip: `${prefix}strip` };
}

function prebuild(arch) {
  if (process.platform !== 'linux') throw new Error('the prebuilds are built on Linux');
  const tools = toolchain(arch);
  const stage = path.join(root, '.tmp', `prebuild-${arch}`);
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });
  // what binding.gyp reads; node-addon-api resolves from the repo's node_modules above .tmp/
  fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(stage, 'binding.gyp'));
  fs.cpSync(path.join(root, 'native'), path.join(stage, 'native'), { recursive: true });
  const result = build({ dir: stage, arch, extraEnv: tools.env, label: `prebuild ${arch}` });
  if (!result.ok) throw new Error(`the ${arch} build failed`);
  const target = path.join(root, 'prebuilds', `linux-${arch}`, 'mempools.glibc.node');
  fs.rmSync(path.dirname(target), { recursive: true, force: true });
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(path.join(stage, 'build', 'Release', 'mempools.node'), target);
  const stripped = spawnSync(tools.strip, ['--strip-all', target], { encoding: 'utf8' });
  if (stripped.status !== 0) throw new Error(`${tools.strip} failed: ${stripped.stderr}`);
  fs.rmSync(stage, { recursive: true, force: true });
  process.stdout.write(`prebuild ${arch}: ${path.relative(root, target)} (${fs.statSync(target).size} bytes)\n`);
}

const wanted = process.argv.slice(2);
const arches = wanted.length > 0 ? wanted : Object.keys(TARGETS);
let failed = false;
for (const arch of arches) {
  try {
    if (!(arch in TARGETS)) throw new Error(`unknown arch ${arch} (known: ${Object.keys(TARGETS).join(', ')})`);
    prebuild(arch);
  } catch (error) {
    failed = true;
    process.stderr.write(`prebuild ${arch}: ${error.message}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
