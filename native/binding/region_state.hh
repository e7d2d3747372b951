// region_state.hh — the native state of one RegionPool: the C region pool
// (native/region_pool.h) and the memory callbacks that tie its chunks (blocks
// and large blocks) to the pool's chunk ArrayBuffers.
//
// Chunk memory comes from posix_memalign (aligned to at least a page, as the C
// pool asks) and goes back with free once no view reaches it (held_memory.hh).
// on_chunk(created = 0), which the C pool calls before it releases a chunk (a
// freed or moved large block, reset, destroy), lets go of the chunk's
// ArrayBuffer (PoolTable::LetGoChunk): the buffer lives on and holds the memory. on_chunk(created = 1) records that the current call made
// a chunk, so JavaScript fetches its ArrayBuffer (ChunkBuffer) once.
#ifndef MEMPOOLS_REGION_STATE_HH
#define MEMPOOLS_REGION_STATE_HH

#include "pool_table.hh"
#include "region_pool.h"

namespace mempools {

struct RegionState : KindState<PoolKind::kRegion> {
  void FreeMemory(napi_env env) override;
  // FreeMemory once every chunk ArrayBuffer was let go of (no N-API; any thread).
  void FreePinnedMemory();

  region_pool_t* pool = nullptr;            // nullptr once destroyed
  bool chunks_let_go = false;               // chunk ArrayBuffers let go of already: on_chunk does nothing
  uint32_t created = REGION_POOL_NO_CHUNK;  // chunk made by the current call, if any
};

// Creates a pool with blocks of `block_size` bytes in `table`. Returns its
// handle, or a negative region_pool_status.
int32_t CreateRegion(PoolTable* table, napi_env env, size_t block_size);
// Takes JavaScript's bump lease from `state` if it holds it (region_binding.cc).
void RevokeRegionLease(RegionState* state);
// The ArrayBuffer of live chunk `id` (made once per chunk incarnation).
napi_status RegionChunkBuffer(napi_env env, RegionState* state, uint32_t id, napi_value* result);

}  // namespace mempools

#endif  // MEMPOOLS_REGION_STATE_HH
