// shm_state.hh — the native state of one SharedPool: the C shared-memory pool
// (native/shm_pool.h) of this process's mapping, and its one chunk ArrayBuffer
// (chunk id 0), which covers only the block area: the header (mutexes, roots)
// and the allocator metadata stay out of JavaScript's reach in this process.
// Offsets JavaScript sees are relative to the area start (= a view's
// byteOffset); the binding adds/subtracts area_offset to talk to the C pool.
#ifndef MEMPOOLS_SHM_STATE_HH
#define MEMPOOLS_SHM_STATE_HH

#include "pool_table.hh"
#include "shm_pool.h"

namespace mempools {

struct ShmState : PoolState {
  static constexpr PoolKind kKind = PoolKind::kShm;
  ShmState() : PoolState(kKind) {}
  // Detaches the area ArrayBuffer, then unmaps and closes (shm_pool_close).
  void FreeMemory(napi_env env) override;

  shm_pool_t* pool = nullptr;  // nullptr once closed
  uint64_t area_offset = 0;    // from the header, validated on attach; cached so
  size_t area_size = 0;        // the ArrayBuffer never outgrows the mapping

  // The segment offset of area offset `offset`, or false when it lies outside the area.
  bool ToSegment(double offset, uint64_t* out) const;
  // The area offset of a segment offset the C pool returned; -1 when outside the area.
  double ToArea(uint64_t offset) const;
};

// Wraps an attached pool in a new state of `table` with its owner external and
// area ArrayBuffer. On failure the pool is closed and the result is not napi_ok.
napi_status AdoptShm(PoolTable* table, napi_env env, shm_pool_t* pool, int32_t* handle, napi_value* owner,
                     napi_value* buffer);

}  // namespace mempools

#endif  // MEMPOOLS_SHM_STATE_HH
