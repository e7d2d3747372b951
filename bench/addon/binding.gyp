# The bench addon (bench/addon/handle_bench.c): the W1 shape and the zero-copy
# results from inside an addon, through a pool's nativeHandle and directly.
# bench/run.js builds it (node-gyp rebuild --nodedir=...); -O2 as bench/c.
{
  'targets': [
    {
      'target_name': 'handle_bench',
      'sources': ['handle_bench.c'],
      'dependencies': ['../../native/alloc/mempools.gyp:allocators'],
      'defines': ['NAPI_VERSION=8'],
      'cflags': ['-Wall', '-Wextra'],
      'cflags_c': ['-std=c11', '-D_GNU_SOURCE'],
      'configurations': {
        'Release': {
          'cflags!': ['-O3'],
          'cflags': ['-O2'],
        },
      },
    },
  ],
}
