// heap_state.cc — see heap_state.hh.
#include "heap_state.hh"

#include "region_memory.hh"

#include <cstdlib>
#include <new>

namespace mempools {

namespace {

void OnChunk(void* ctx, uint32_t id, void*, size_t, int created) {
  HeapState* state = static_cast<HeapState*>(ctx);
  if (!created) state->table->DetachChunk(state->env, state, id);
}

// A child destroyed through its parent: its chunks are detached already.
void OnDestroy(void* ctx, heap_pool_t*) {
  HeapState* state = static_cast<HeapState*>(ctx);
  state->pool = nullptr;
  state->destroyed = true;
}

}  // namespace

void HeapState::FreeMemory(napi_env) {
  heap_pool_destroy(pool);  // children first (each marked by OnDestroy); no-op once destroyed
  pool = nullptr;
}

int32_t CreateHeap(PoolTable* table, napi_env env, size_t capacity, HeapState* parent) {
  HeapState* state = new (std::nothrow) HeapState(env);
  if (state == nullptr) return HEAP_POOL_ERR_NOMEM;
  heap_pool_memory_t memory = {MapChunk, UnmapChunk, OnChunk, OnDestroy, state};
  heap_pool_options_t options = {capacity, 0, parent != nullptr ? parent->pool : nullptr, &memory};
  int status = heap_pool_create(&options, &state->pool);
  if (status != HEAP_POOL_OK) {
    delete state;
    return status;
  }
  int32_t handle = table->Add(state);
  if (parent != nullptr) table->Retain(state, parent);
  return handle;
}

napi_status HeapChunkBuffer(napi_env env, HeapState* state, uint32_t id, napi_value* result, size_t* block) {
  heap_pool_chunk_info_t info;
  if (state->pool == nullptr || heap_pool_chunk_info(state->pool, id, &info) != HEAP_POOL_OK ||
      (info.kind != HEAP_POOL_CHUNK_CLASS && info.kind != HEAP_POOL_CHUNK_LARGE)) {
    return napi_invalid_arg;
  }
  *block = info.kind == HEAP_POOL_CHUNK_CLASS ? info.block_size : 0;
  return state->table->ChunkBuffer(env, state, id, info.base, info.bytes, result);
}

}  // namespace mempools
