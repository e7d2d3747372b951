// region_fast.hh — the region pool's allocating calls and free, in raw N-API
// through the environment's scratch array.
#ifndef MEMPOOLS_REGION_FAST_HH
#define MEMPOOLS_REGION_FAST_HH

#include <node_api.h>

#include "pool_table.hh"

namespace mempools {

// Defines `alloc`, `realloc`, `free` and `scratch` on the `region` exports object.
napi_status InitRegionFast(napi_env env, napi_value region, PoolTable* table, napi_value scratch);

}  // namespace mempools

#endif  // MEMPOOLS_REGION_FAST_HH
