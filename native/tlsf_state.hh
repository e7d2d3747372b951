// tlsf_state.hh — the native state of one TlsfPool: the TLSF control
// structure and its mmap'd regions (chunk id = region id).
#ifndef MEMPOOLS_TLSF_STATE_HH
#define MEMPOOLS_TLSF_STATE_HH

#include "pool_table.hh"
#include "region_memory.hh"
#include "tlsf.h"

namespace mempools {

struct TlsfState : PoolState {
  static constexpr PoolKind kKind = PoolKind::kTlsf;
  TlsfState() : PoolState(kKind) {}
  void FreeMemory(napi_env env) override;

  void* control = nullptr;  // tlsf_control_size() bytes, malloc'd
  tlsf_t* tlsf = nullptr;   // nullptr once destroyed
  RegionMemory regions[TLSF_MAX_REGIONS];
  bool present[TLSF_MAX_REGIONS] = {};
};

// Creates a pool with no region in `table`. Returns its handle, or -1 when out of memory.
int32_t CreateTlsf(PoolTable* table);
// Adds a region of `area` bytes. Returns its id (>= 0), a negative
// tlsf_status, or -errno with *failed set when the OS refused memory.
int AddRegion(TlsfState* state, size_t area, SysCall* failed);
// The region's external ArrayBuffer (made once per region).
napi_status RegionBuffer(napi_env env, TlsfState* state, int id, napi_value* result);
// Removes an empty region: detaches its ArrayBuffer, then unmaps it.
int RemoveRegion(napi_env env, TlsfState* state, int id);

}  // namespace mempools

#endif  // MEMPOOLS_TLSF_STATE_HH
