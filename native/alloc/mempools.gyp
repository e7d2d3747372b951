# The C allocators as a static library that another addon's binding.gyp can
# depend on (see docs/addons.md):
#
#   'dependencies': ["<!(node -p \"require('mempools/gyp').targets\"):allocators"]
#
# The dependent target gets native/ on its include path (tlsf.h, region_pool.h,
# heap_pool.h, shm_pool.h, mempools.h) and links the four allocators in. They
# are plain C11 with no Node dependency; shm_pool.c is Linux-only (futexes,
# memfd), like the rest of the package.
{
  'targets': [
    {
      'target_name': 'allocators',
      'type': 'static_library',
      'sources': ['tlsf.c', 'region_pool.c', 'heap_pool.c', 'shm_pool.c'],
      'cflags': ['-Wall', '-Wextra'],
      'cflags_c': ['-std=c11', '-D_GNU_SOURCE'],
      'direct_dependent_settings': {
        'include_dirs': ['.'],
      },
      'link_settings': {
        'libraries': ['-lpthread'],
      },
    },
  ],
}
