{
  "targets": [
    {
      "target_name": "mempools",
      "sources": [
        "native/tlsf.c",
        "native/region_pool.c",
        "native/heap_pool.c",
        "native/shm_pool.c",
        "native/binding.cc",
        "native/pool_table.cc",
        "native/held_memory.cc",
        "native/region_memory.cc",
        "native/tlsf_state.cc",
        "native/tlsf_binding.cc",
        "native/tlsf_fast.cc",
        "native/tlsf_handle.cc",
        "native/native_handle.cc",
        "native/region_state.cc",
        "native/region_binding.cc",
        "native/region_fast.cc",
        "native/region_handle.cc",
        "native/heap_state.cc",
        "native/heap_binding.cc",
        "native/heap_fast.cc",
        "native/heap_handle.cc",
        "native/shm_state.cc",
        "native/shm_binding.cc",
        "native/shm_handle.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags": ["-Wall", "-Wextra"],
      "cflags_c": ["-std=c11", "-D_GNU_SOURCE"],
      "cflags_cc!": ["-std=gnu++17"],
      "cflags_cc": ["-std=c++17"],
      "configurations": {
        "Release": {
          "cflags!": ["-O3"],
          "cflags_cc!": ["-O3"],
          "cflags": ["-O2"]
        }
      }
    }
  ]
}
