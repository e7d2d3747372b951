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

module.exports = {
  /** The public C headers: mempools.h and the allocators' (tlsf.h, region_pool.h, heap_pool.h, shm_pool.h). */
  include_dir: fromHere(path.join(nativeDir, 'include')),
  /** The gyp file; depend on its target as `<targets>:allocators`. */
  targets: fromHere(path.join(nativeDir, 'alloc', 'mempools.gyp')),
};
