// tlsf_binding.hh — the TLSF pool's flat N-API functions.
#ifndef MEMPOOLS_TLSF_BINDING_HH
#define MEMPOOLS_TLSF_BINDING_HH

#include <napi.h>

#include "pool_table.hh"

namespace mempools {

// Adds the TLSF functions and constants to `exports` (as `exports.tlsf`);
// `scratch` is the environment's scratch array (PoolTable::MakeScratch).
void InitTlsf(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch);

}  // namespace mempools

#endif  // MEMPOOLS_TLSF_BINDING_HH
