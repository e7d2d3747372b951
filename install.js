#!/usr/bin/env node
'use strict';
// npm's install script: node-gyp-build loads a prebuild when one fits, else it
// builds from source through node-gyp. node-gyp downloads Node's headers unless
// told where they are; when the running Node has its own next to it (a system
// or tarball install: <prefix>/include/node), this points node-gyp there, so a
// source build needs no network. An npm_config_nodedir already set wins.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const env = { ...process.env };
if (!env.npm_config_nodedir) {
  const prefix = path.join(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;
}
// its package exports no bin.js: found next to its package.json (exported as ./package)
const bin = path.join(path.dirname(require.resolve('node-gyp-build/package')), 'bin.js');
const child = spawnSync(process.execPath, [bin], { stdio: 'inherit', env });
process.exitCode = child.status ?? 1;
