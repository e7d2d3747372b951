// region_binding.hh — the region pool's flat N-API functions.
#ifndef MEMPOOLS_REGION_BINDING_HH
#define MEMPOOLS_REGION_BINDING_HH

#include <napi.h>

#include "pool_table.hh"

namespace mempools {

// Adds the region pool's functions and constants to `exports` (as `exports.region`).
void InitRegion(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch);

}  // namespace mempools

#endif  // MEMPOOLS_REGION_BINDING_HH
