// shm_binding.hh — the shared-memory pool's flat N-API functions.
#ifndef MEMPOOLS_SHM_BINDING_HH
#define MEMPOOLS_SHM_BINDING_HH

#include <napi.h>

#include "pool_table.hh"

namespace mempools {

// Adds the shared pool's functions and constants to `exports` (as `exports.shm`).
void InitShm(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch);

}  // namespace mempools

#endif  // MEMPOOLS_SHM_BINDING_HH
