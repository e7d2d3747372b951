{
  "targets": [
    {
      "target_name": "mempools",
      # The C allocators come from native/alloc/mempools.gyp (the same static
      # library other addons depend on), which also puts native/alloc and
      # native/include on the include path.
      "dependencies": ["native/alloc/mempools.gyp:allocators"],
      "sources": [
        "native/binding/binding.cc",
        "native/binding/pool_table.cc",
        "native/binding/held_memory.cc",
        "native/binding/os_memory.cc",
        "native/binding/native_handle.cc",
        "native/binding/tlsf_state.cc",
        "native/binding/tlsf_binding.cc",
        "native/binding/region_state.cc",
        "native/binding/region_binding.cc",
        "native/binding/heap_state.cc",
        "native/binding/heap_binding.cc",
        "native/binding/shm_state.cc",
        "native/binding/shm_binding.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/binding"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags": ["-Wall", "-Wextra"],
      # The allocators' symbols stay inside this addon (not exported), so the
      # binding calls them directly, not through the PLT (the nativeHandle path).
      "ldflags": ["-Wl,--exclude-libs,ALL"],
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
