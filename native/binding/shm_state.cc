// shm_state.cc — see shm_state.hh.
#include "shm_state.hh"

#include <new>

#include "binding.hh"

namespace mempools {

namespace {

void CloseNow(void* ctx, void*, size_t) {
  ShmState* state = static_cast<ShmState*>(ctx);
  shm_pool_close(state->pool);
  state->pool = nullptr;
}

}  // namespace

shm_cache_t* ShmState::Cache() {
  shm_cache_t* made = cache.load(std::memory_order_relaxed);
  if (made != nullptr || cache_failed || pool == nullptr) return made;
  // SharedCache's limit (lib/shared/SharedCache.ts limitFor): 256 KiB, at most 1/16 of the area
  size_t limit = area_size / 16 < kCacheBytes ? area_size / 16 : kCacheBytes;
  cache_failed = shm_cache_create(pool, limit, &made) != SHM_POOL_OK;
  cache.store(made, std::memory_order_release);
  return made;
}

void ShmState::DropCache() {
  shm_cache_destroy(cache.exchange(nullptr));  // its parked blocks and park list go back to the segment
  cache_failed = true;                         // closing: no new cache
}

bool ShmState::TakeFromCache(uint64_t offset) {
  shm_cache_t* c = cache.load(std::memory_order_relaxed);  // this thread makes it
  if (shm_cache_is_parked(c, offset)) return false;
  shm_cache_forget(c, offset);
  return true;
}

void ShmState::FreeMemory(napi_env env) {
  DropCache();
  table->DestroyRetainers(env, this);  // heap pools borrowing chunks first (their chunks held while viewed)
  table->LetGoChunk(env, this, 0);
  CloseMapping();
}

void ShmState::CloseMapping() {
  if (pool == nullptr || closing) return;
  closing = true;
  ReleaseWhenUnreachable(shm_pool_base(pool), shm_pool_size(pool), CloseNow, this, &held);
}

bool ShmState::ToSegment(double offset, uint64_t* out) const {
  if (!IsSize(offset) || offset >= static_cast<double>(area_size)) return false;
  *out = area_offset + static_cast<uint64_t>(offset);
  return true;
}

napi_status RegisterShm(PoolTable* table, napi_env env, shm_pool_t* pool, int32_t* handle, napi_value* owner,
                        napi_value* buffer) {
  ShmState* state = new (std::nothrow) ShmState();
  if (state == nullptr) {
    shm_pool_close(pool);
    return napi_generic_failure;
  }
  state->pool = pool;
  shm_pool_area(pool, &state->area_offset, &state->area_size);
  *handle = table->Add(state);
  napi_status status = table->Owner(env, state, owner);
  if (status != napi_ok) {  // unmaps; the state itself stays in its slot (no owner to release it)
    table->Destroy(env, state);
    return status;
  }
  void* base = static_cast<unsigned char*>(shm_pool_base(pool)) + state->area_offset;
  status = table->ChunkBuffer(env, state, 0, base, state->area_size, buffer);
  if (status != napi_ok) table->Destroy(env, state);  // the owner's finalizer frees the state
  return status;
}

}  // namespace mempools
