// heap_binding.hh — the heap pool's flat N-API functions.
#ifndef MEMPOOLS_HEAP_BINDING_HH
#define MEMPOOLS_HEAP_BINDING_HH

#include <napi.h>

#include "pool_table.hh"

namespace mempools {

// Adds the heap pool's functions and constants to `exports` (as `exports.heap`).
void InitHeap(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch);

}  // namespace mempools

#endif  // MEMPOOLS_HEAP_BINDING_HH
