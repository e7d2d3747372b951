// tlsf_state.hh — the native state of one TlsfPool: the TLSF control
// structure and its mmap'd regions (chunk id = region id), its optional lock,
// and the bookkeeping of blocks other addons allocated through nativeHandle.
#ifndef MEMPOOLS_TLSF_STATE_HH
#define MEMPOOLS_TLSF_STATE_HH

#include <cstdint>
#include <memory>

#include "binding.hh"
#include "pool_table.hh"
#include "os_memory.hh"
#include "tlsf.h"

namespace mempools {

// Invariant: with `lock` enabled (threadSafe), every call that reads or
// changes `tlsf`, the regions or addon_allocations holds it. A block carries
// the TLSF tag (tlsf.h "tags") exactly while it was allocated through the
// nativeHandle and neither freed nor adopted by JavaScript since;
// addon_allocations is the count of those blocks (JavaScript counts the rest;
// their bytes are what the allocator counts beyond JavaScript's, so the hot
// path asks no usable size).
struct TlsfState : KindState<PoolKind::kTlsf> {
  void FreeMemory(napi_env env) override;
  // FreeMemory for a state whose chunk ArrayBuffers were let go of already (no N-API; any thread).
  void FreePinnedMemory();

  void* control = nullptr;  // tlsf_control_size() bytes of fresh pages (MapPages)
  tlsf_t* tlsf = nullptr;   // nullptr once destroyed
  RegionMemory regions[TLSF_MAX_REGIONS];
  bool present[TLSF_MAX_REGIONS] = {};
  // Enabled or not, never null; shared with the nativeHandle, which holds it around its ops.
  std::shared_ptr<PoolLock> lock = std::make_shared<PoolLock>();
  size_t addon_allocations = 0;
};

// Creates a pool with no region in `table` (with a lock when thread_safe).
// Returns its handle, or -1 when out of memory.
int32_t CreateTlsf(PoolTable* table, bool thread_safe);
// Adds a region of `area` bytes. Returns its id (>= 0), a negative
// tlsf_status, or -errno with *failed set when the OS refused memory.
int AddRegion(TlsfState* state, size_t area, SysCall* failed);
// The region's external ArrayBuffer (made once per region).
napi_status RegionBuffer(napi_env env, TlsfState* state, int id, napi_value* result);
// Removes an empty region: lets go of its ArrayBuffer, then unmaps it once no view reaches it.
int RemoveRegion(napi_env env, TlsfState* state, int id);

}  // namespace mempools

#endif  // MEMPOOLS_TLSF_STATE_HH
