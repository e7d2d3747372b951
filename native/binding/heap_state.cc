// heap_state.cc — see heap_state.hh.
#include "heap_state.hh"

#include "native_handle.hh"
#include "os_memory.hh"

#include <cstdlib>
#include <new>

namespace mempools {

namespace {

void OnChunk(void* ctx, uint32_t id, void*, size_t, int created) {
  HeapState* state = static_cast<HeapState*>(ctx);
  if (!created && !state->chunks_let_go) state->table->LetGoChunk(state->table->env(), state, id);
}

void UnmapChunk(void* ctx, void* p, size_t bytes) { ReleaseChunk(p, bytes, &static_cast<HeapState*>(ctx)->held); }

// Chunks of a pool with a SharedPool parent: lent by the segment while it is mapped.
void* MapShared(void* ctx, size_t bytes, size_t align) {
  HeapState* state = static_cast<HeapState*>(ctx);
  return state->shm->pool != nullptr ? shm_pool_map_chunk(state->shm->pool, bytes, align) : nullptr;
}

// Gives a chunk back to the segment (while the mapping lasts: the segment's own
// hold keeps it mapped for as long as a view of the chunk lives).
void GiveBackShared(void* ctx, void* p, size_t bytes) {
  HeapState* state = static_cast<HeapState*>(ctx);
  if (state->shm->pool != nullptr) shm_pool_unmap_chunk(state->shm->pool, p, bytes);
}

void UnmapShared(void* ctx, void* p, size_t bytes) {
  HeapState* state = static_cast<HeapState*>(ctx);
  ReleaseWhenUnreachable(p, bytes, GiveBackShared, state, &state->held);
}

// A child destroyed through its parent: its chunk ArrayBuffers were let go of
// already; its nativeHandle (if any) refuses calls from now on (the family's
// lock is held). Also called for a pool destroyed directly, marked destroyed already.
void OnDestroy(void* ctx, heap_pool_t*) {
  HeapState* state = static_cast<HeapState*>(ctx);
  if (!state->destroyed && state->native_handle != nullptr) NativeHandlePoolGone(state->native_handle);
  state->pool = nullptr;
  state->destroyed = true;
}

}  // namespace

void HeapState::FreeMemory(napi_env) {
  PoolGuard guard(*lock);   // a thread-safe family's other pools may be in use on other threads
  heap_pool_destroy(pool);  // children first (each marked by OnDestroy); no-op once destroyed
  pool = nullptr;
}

int32_t CreateHeap(PoolTable* table, napi_env env, size_t capacity, HeapState* parent, ShmState* shm,
                   bool thread_safe) {
  HeapState* state = new (std::nothrow) HeapState();
  if (state == nullptr) return HEAP_POOL_ERR_NOMEM;
  std::shared_ptr<PoolLock> lock = parent != nullptr ? parent->lock : std::make_shared<PoolLock>();
  if (parent == nullptr && thread_safe) lock->Enable();
  state->lock = lock;
  PoolGuard guard(*lock);  // a child is made in its parent's structures
  state->shm = parent != nullptr ? parent->shm : shm;
  heap_pool_memory_t memory = {shm != nullptr ? MapShared : MapChunk, shm != nullptr ? UnmapShared : UnmapChunk,
                               OnChunk, OnDestroy, static_cast<void*>(state)};
  heap_pool_options_t options = {capacity, 0, parent != nullptr ? parent->pool : nullptr, &memory};
  int status = heap_pool_create(&options, &state->pool);
  if (status != HEAP_POOL_OK) {
    delete state;
    return status;
  }
  int32_t handle = table->Add(state);
  if (parent != nullptr) table->Retain(state, parent);
  if (shm != nullptr) table->Retain(state, shm);
  return handle;
}

napi_status HeapChunkBuffer(napi_env env, HeapState* state, uint32_t id, napi_value* result, size_t* block,
                            double* area) {
  heap_pool_chunk_info_t info;
  if (state->pool == nullptr || heap_pool_chunk_info(state->pool, id, &info) != HEAP_POOL_OK ||
      (info.kind != HEAP_POOL_CHUNK_CLASS && info.kind != HEAP_POOL_CHUNK_LARGE)) {
    return napi_invalid_arg;
  }
  *block = info.kind == HEAP_POOL_CHUNK_CLASS ? info.block_size : 0;
  uint64_t offset = 0;
  *area = state->shm != nullptr && state->shm->pool != nullptr &&
                  shm_pool_offset_of(state->shm->pool, info.base, &offset) == SHM_POOL_OK
              ? state->shm->ToArea(offset)
              : -1;
  return state->table->ChunkBuffer(env, state, id, info.base, info.bytes, result);
}

}  // namespace mempools
