# The C allocators as a static library: the package's own addon (binding.gyp)
# and any other addon's binding.gyp depend on it (see docs/addons.md):
#
#   'dependencies': ["<!(node -p \"require('mempools/gyp').targets\"):allocators"]
#
# The dependent target gets native/include on its include path (mempools.h and
# the allocators' public headers tlsf.h, region_pool.h, heap_pool.h,
# shm_pool.h, shm_cache.h) plus native/alloc, and links the four allocators
# in. They are plain C11 with no Node dependency; shm_pool.c is Linux-only
# (futexes, memfd), like the rest of the package.
{
  'targets': [
    {
      'target_name': 'allocators',
      'type': 'static_library',
      'sources': ['tlsf.c', 'region_pool.c', 'heap_pool.c', 'shm_pool.c', 'shm_cache.c', 'shm_lock.c', 'chunk_map.c'],
      'cflags': ['-Wall', '-Wextra'],
      'cflags_c': ['-std=c11', '-D_GNU_SOURCE'],
      'configurations': {
        'Release': {
          'cflags!': ['-O3'],
          'cflags': ['-O2'],
        },
      },
      'direct_dependent_settings': {
        'include_dirs': ['../include', '.'],
      },
      'link_settings': {
        'libraries': ['-lpthread'],
      },
    },
  ],
}
