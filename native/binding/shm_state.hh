// shm_state.hh — the native state of one SharedPool: the C shared-memory pool
// (native/shm_pool.h) of this process's mapping, and its one chunk ArrayBuffer
// (chunk id 0), which covers only the block area: the header (mutexes, roots)
// and the allocator metadata stay out of JavaScript's reach in this process.
// Offsets JavaScript sees are relative to the area start (= a view's
// byteOffset); the binding adds/subtracts area_offset to talk to the C pool.
#ifndef MEMPOOLS_SHM_STATE_HH
#define MEMPOOLS_SHM_STATE_HH

#include <atomic>

#include "pool_table.hh"
#include "shm_cache.h"
#include "shm_pool.h"

namespace mempools {

// Most bytes the nativeHandle's cache parks (SharedCache's SHARED_CACHE_BYTES).
constexpr size_t kCacheBytes = 256 * 1024;

struct ShmState : KindState<PoolKind::kShm> {
  // Destroys the heap pools over the segment, lets go of the area
  // ArrayBuffer, then closes the mapping (CloseMapping).
  void FreeMemory(napi_env env) override;
  // Unmaps and closes (shm_pool_close) once no ArrayBuffer over the mapping
  // (the area's, a heap pool's chunk) is left; at once when none is. Any thread.
  void CloseMapping();

  // The nativeHandle's cache of parked blocks (shm_cache.h), made at its first
  // allocation on the JavaScript thread and used on that thread only: the
  // handle's lock-free owning-thread calls and the flat calls. Other threads'
  // handle calls go to the segment and only read whether a block is parked.
  // Drained and destroyed when the pool closes (DropCache).
  shm_cache_t* Cache();
  void DropCache();
  // Before the JavaScript thread frees or moves the block at segment offset
  // `offset` past the cache: false when the cache holds it parked (a freed
  // block); else the cache forgets handing it out.
  bool TakeFromCache(uint64_t offset);

  shm_pool_t* pool = nullptr;  // nullptr once unmapped (the state is destroyed before)
  // Written on the JavaScript thread only; other threads' handle calls read it.
  std::atomic<shm_cache_t*> cache{nullptr};
  bool cache_failed = false;  // creating it failed, or the pool is closing: the handle goes to the segment
  bool closing = false;       // CloseMapping ran: the unmap is done or held
  uint64_t area_offset = 0;   // from the header, validated on attach; cached so
  size_t area_size = 0;       // the ArrayBuffer never outgrows the mapping

  // The segment offset of area offset `offset`, or false when it lies outside the area.
  bool ToSegment(double offset, uint64_t* out) const;
  // The area offset of a segment offset the C pool returned; -1 when outside the area.
  double ToArea(uint64_t offset) const {
    if (offset < area_offset || offset - area_offset >= area_size) return -1;
    return static_cast<double>(offset - area_offset);
  }
};

// Wraps an attached pool in a new state of `table` with its owner external and
// area ArrayBuffer. On failure the pool is closed and the result is not napi_ok.
napi_status RegisterShm(PoolTable* table, napi_env env, shm_pool_t* pool, int32_t* handle, napi_value* owner,
                        napi_value* buffer);

}  // namespace mempools

#endif  // MEMPOOLS_SHM_STATE_HH
