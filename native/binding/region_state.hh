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

// The pool's arena: its first chunks (blocks and large blocks of at most
// kArenaChunkMax bytes) are carved from one mapping of kArenaBytes, which
// JavaScript sees as one ArrayBuffer (PoolTable::SharedChunkBuffer): a pool per
// request makes one external ArrayBuffer (≈ 5 k instructions in Node 20, plus
// its finalizer) instead of one per chunk. A carved chunk the pool releases
// stays unused (no other chunk is carved there), and the arena goes at
// destroy, once no view of it is reachable (held meanwhile, like any chunk).
constexpr size_t kArenaBytes = size_t{64} << 10;
constexpr size_t kArenaAlign = size_t{16} << 10;
constexpr size_t kArenaChunkMax = size_t{32} << 10;

struct RegionArena {
  char* base = nullptr;          // the mapping (nullptr: none yet, or gone)
  size_t next = 0;               // where the next chunk may be carved
  bool failed = false;           // its mapping failed: no arena for this pool
  BufferEntry* entry = nullptr;  // the registration of its live ArrayBuffer, if any
  bool Holds(const void* p) const {
    const char* c = static_cast<const char*>(p);
    return base != nullptr && c >= base && c < base + kArenaBytes;
  }
};

struct RegionState : KindState<PoolKind::kRegion> {
  void FreeMemory(napi_env env) override;
  void ForgetSharedBuffer(BufferEntry* entry) override {
    if (arena.entry == entry) arena.entry = nullptr;
  }
  // FreeMemory once every chunk ArrayBuffer was let go of (no N-API; any thread).
  void FreePinnedMemory();

  region_pool_t* pool = nullptr;            // nullptr once destroyed
  bool chunks_let_go = false;               // chunk ArrayBuffers let go of already: on_chunk does nothing
  uint32_t created = REGION_POOL_NO_CHUNK;  // chunk made by the current call, if any
  RegionArena arena;
};

// Creates a pool with blocks of `block_size` bytes in `table`. Returns its
// handle, or a negative region_pool_status.
int32_t CreateRegion(PoolTable* table, napi_env env, size_t block_size);
// Takes JavaScript's bump lease from `state` if it holds it (region_binding.cc).
void RevokeRegionLease(RegionState* state);
// The ArrayBuffer of live chunk `id` (made once per chunk incarnation; the
// arena's for a carved chunk), the chunk's offset in it and the chunk's info.
napi_status RegionChunkBuffer(napi_env env, RegionState* state, uint32_t id, napi_value* result, size_t* offset,
                              region_pool_chunk_info_t* info);

}  // namespace mempools

#endif  // MEMPOOLS_REGION_STATE_HH
