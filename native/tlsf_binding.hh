// tlsf_binding.hh — the TLSF pool's flat N-API functions.
#ifndef MEMPOOLS_TLSF_BINDING_HH
#define MEMPOOLS_TLSF_BINDING_HH

#include <napi.h>

#include "pool_table.hh"

namespace mempools {

// Adds the TLSF functions and constants to `exports` (as `exports.tlsf`).
void InitTlsf(Napi::Env env, Napi::Object exports, PoolTable* table);

}  // namespace mempools

#endif  // MEMPOOLS_TLSF_BINDING_HH
