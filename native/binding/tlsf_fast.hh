// tlsf_fast.hh — the TLSF hot path (alloc, free) in raw N-API.
#ifndef MEMPOOLS_TLSF_FAST_HH
#define MEMPOOLS_TLSF_FAST_HH

#include <node_api.h>

#include "pool_table.hh"

namespace mempools {

// Defines `alloc`, `free` and `scratch` on the `tlsf` exports object.
napi_status InitTlsfFast(napi_env env, napi_value tlsf, PoolTable* table, napi_value scratch);

}  // namespace mempools

#endif  // MEMPOOLS_TLSF_FAST_HH
