// region_state.cc — see region_state.hh.
#include "region_state.hh"

#include "os_memory.hh"

#include <cstdlib>
#include <new>

namespace mempools {

namespace {

void OnChunk(void* ctx, uint32_t id, void*, size_t, int created) {
  RegionState* state = static_cast<RegionState*>(ctx);
  if (created) {
    state->created = id;
  } else if (!state->chunks_let_go) {
    state->table->LetGoChunk(state->table->env(), state, id);
  }
}

// Chunk memory: carved from the pool's arena while it has room, else its own mapping.
void* MapRegionChunk(void* ctx, size_t bytes, size_t align) {
  RegionArena& arena = static_cast<RegionState*>(ctx)->arena;
  if (!arena.failed && bytes <= kArenaChunkMax && align <= kArenaAlign) {
    if (arena.base == nullptr) {
      arena.base = static_cast<char*>(MapChunk(nullptr, kArenaBytes, kArenaAlign));
      arena.failed = arena.base == nullptr;
    }
    const size_t at = (arena.next + align - 1) & ~(align - 1);  // align: a power of two
    if (arena.base != nullptr && at <= kArenaBytes - bytes) {
      arena.next = at + bytes;
      return arena.base + at;
    }
  }
  return MapChunk(nullptr, bytes, align);
}

// A carved chunk stays in the arena (released with it); any other goes once unreachable.
void UnmapChunk(void* ctx, void* p, size_t bytes) {
  RegionState* state = static_cast<RegionState*>(ctx);
  if (!state->arena.Holds(p)) ReleaseChunk(p, bytes, &state->held);
}

}  // namespace

void RegionState::FreeMemory(napi_env) {
  RevokeRegionLease(this);    // its log goes with the pool
  region_pool_destroy(pool);  // no C cleanups are registered, so this never fails
  pool = nullptr;
  if (arena.base != nullptr) ReleaseChunk(arena.base, kArenaBytes, &held);  // once no view reaches it
  arena.base = nullptr;
  arena.failed = true;  // nothing is carved after destroy
}

void RegionState::FreePinnedMemory() {
  chunks_let_go = true;
  FreeMemory(nullptr);
}

int32_t CreateRegion(PoolTable* table, napi_env env, size_t block_size) {
  RegionState* state = new (std::nothrow) RegionState();
  if (state == nullptr) return REGION_POOL_ERR_NOMEM;
  region_pool_memory_t memory = {MapRegionChunk, UnmapChunk, OnChunk, static_cast<void*>(state)};
  region_pool_options_t options = {block_size, 0, &memory};
  int status = region_pool_create(&options, &state->pool);
  if (status != REGION_POOL_OK) {
    delete state;
    return status;
  }
  // Large blocks released by free/reset come back to the next request of their
  // size with their ArrayBuffer: no new external buffer per request.
  region_pool_keep_large(state->pool, REGION_POOL_KEEP_MAX);
  return table->Add(state);
}

napi_status RegionChunkBuffer(napi_env env, RegionState* state, uint32_t id, napi_value* result, size_t* offset,
                              region_pool_chunk_info_t* info) {
  if (region_pool_chunk_info(state->pool, id, info) != REGION_POOL_OK) return napi_invalid_arg;
  if (state->arena.Holds(info->base)) {
    *offset = static_cast<size_t>(static_cast<char*>(info->base) - state->arena.base);
    return state->table->SharedChunkBuffer(env, state, id, state->arena.base, kArenaBytes, &state->arena.entry, result);
  }
  *offset = 0;
  return state->table->ChunkBuffer(env, state, id, info->base, info->bytes, result);
}

}  // namespace mempools
