#!/usr/bin/env node
'use strict';
// Fails (exit 1) when the TypeScript files under lib/ import each other in a
// circle, and prints every circle found. Every relative import and re-export
// counts, `import type` too: a type-only circle is still a circle a reader has
// to untangle. Usage: node test/tools/import-cycles.js [dir] (default: lib).
// Prints one `cycle: a -> b -> a` line per cycle, then `import-cycles: 1 passed, 0 failed`
// (or `0 passed, 1 failed`), the summary line test/run-all.js counts.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const dir = path.resolve(root, process.argv[2] || 'lib');

function tsFiles(from) {
  const out = [];
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const full = path.join(from, entry.name);
    if (entry.isDirectory()) out.push(...tsFiles(full));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out.sort();
}

// `import ... from './x.js'`, `export ... from '../y.js'`, `import './z.js'`, `import('./w.js')`
const SPECIFIER = /(?:\b(?:import|export)\b[^'"`;]*?\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

function stripComments(source) {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"\\])\/\/.*$/gm, '$1');
}

const files = tsFiles(dir);
const graph = new Map();
for (const file of files) {
  const edges = new Set();
  for (const match of stripComments(fs.readFileSync(file, 'utf8')).matchAll(SPECIFIER)) {
    const target = path.resolve(path.dirname(file), match[1].replace(/\.js$/, '.ts'));
    if (fs.existsSync(target)) edges.add(target);
  }
  graph.set(file, [...edges].sort());
}

// Depth-first search; every back edge closes a cycle (reported once per set of files).
const rel = (file) => path.relative(root, file);
const state = new Map(); // 1: on the stack, 2: done
const stack = [];
const cycles = new Map();
function visit(file) {
  state.set(file, 1);
  stack.push(file);
  for (const next of graph.get(file) || []) {
    if (state.get(next) === 1) {
      const cycle = stack.slice(stack.indexOf(next));
      const key = [...cycle].sort().join('|');
      if (!cycles.has(key)) cycles.set(key, [...cycle, next].map(rel).join(' -> '));
    } else if (!state.has(next)) {
      visit(next);
    }
  }
  stack.pop();
  state.set(file, 2);
}
for (const file of files) if (!state.has(file)) visit(file);

if (cycles.size === 0) {
  process.stdout.write(`no import cycle among ${files.length} files under ${rel(dir)}/\n`);
  process.stdout.write('import-cycles: 1 passed, 0 failed\n');
} else {
  for (const cycle of cycles.values()) process.stdout.write(`cycle: ${cycle}\n`);
  process.stdout.write(`${cycles.size} import cycle(s) among ${files.length} files under ${rel(dir)}/\n`);
  process.stdout.write('import-cycles: 0 passed, 1 failed\n');
  process.exitCode = 1;
}
