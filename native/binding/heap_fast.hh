// heap_fast.hh — the heap pool's allocating calls and free, in raw N-API
// through the environment's scratch array.
#ifndef MEMPOOLS_HEAP_FAST_HH
#define MEMPOOLS_HEAP_FAST_HH

#include <node_api.h>

#include "pool_table.hh"

namespace mempools {

// Defines `alloc`, `realloc`, `free` and `scratch` on the `heap` exports object.
napi_status InitHeapFast(napi_env env, napi_value heap, PoolTable* table, napi_value scratch);

}  // namespace mempools

#endif  // MEMPOOLS_HEAP_FAST_HH
