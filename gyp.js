'use strict';
// require('mempools/gyp'): what another addon's binding.gyp needs to compile
// the C allocators into itself (docs/addons.md). Paths are relative to the
// current directory, where gyp runs `<!(node -p ...)` commands: the directory
// of the binding.gyp being read.
const path = require('node:path');

const nativeDir = path.join(__dirname, 'native');

function fromHere(target) {
  return path.relative('.', target) || '.';
}

/** The public C headers: mempools.h and the allocators' (tlsf.h, region_pool.h, heap_pool.h, shm_pool.h). */
const include_dir = fromHere(path.join(nativeDir, 'include'));
/** The gyp file; depend on its target as `<targets>:allocators`. */
const targets = fromHere(path.join(nativeDir, 'alloc', 'mempools.gyp'));

// shorthand properties: Node's cjs-module-lexer sees them, so ESM named imports work too
module.exports = { include_dir, targets };
