#!/usr/bin/env node
'use strict';
// `npm run build:native`: build/Release/mempools.node for the running Node,
// against its own headers when they sit beside it (install.js). Incremental:
// nothing is compiled when build/ is up to date for this Node. Quiet unless it
// fails. MEMPOOLS_REBUILD=1 configures and compiles everything again.
const path = require('node:path');
const { build } = require('../install.js');

const root = path.join(__dirname, '..');
process.exitCode = build({ dir: root, incremental: process.env.MEMPOOLS_REBUILD !== '1' }).ok ? 0 : 1;
