{
  'targets': [
    {
      'target_name': 'consumer',
      'sources': ['src/consumer.c'],
      # mempools' C allocators, compiled into this addon; the dependency also
      # puts mempools' native/include (tlsf.h, heap_pool.h, mempools.h, ...) on the
      # include path.
      'dependencies': ["<!(node -p \"require('mempools/gyp').targets\"):allocators"],
      'defines': ['NAPI_VERSION=8'],
      'cflags': ['-Wall', '-Wextra'],
      'cflags_c': ['-std=c11'],
    },
  ],
}
