// heap_handle.cc — see heap_handle.hh. As for TLSF (tlsf_handle.cc), an addon
// frees only blocks it allocated through the handle (the `addon` set), so a
// block HeapPool holds or keeps in its free-list cache is never freed under it.
// Only a root pool without a segment can be pinned (retain): a child's memory
// is its parent's, and a SharedPool-backed pool's is the segment mapping,
// which neither can keep past their own destroy/close (MEMPOOLS_ERR_UNSUPPORTED).
#include "heap_handle.hh"

#include <algorithm>

#include "mempools.h"
#include "native_handle.hh"

namespace mempools {

namespace {

HeapState* Heap(PoolState* state) { return static_cast<HeapState*>(state); }

bool IsAddonBlock(const HeapState* s, const void* ptr) {
  return s->addon.count(reinterpret_cast<uintptr_t>(ptr)) != 0;
}

// Records a block the heap pool just handed out to an addon.
int GiveAddonBlock(HeapState* s, void* ptr, void** out) {
  if (ptr == nullptr) return MEMPOOLS_ERR_NOMEM;
  s->addon.insert(reinterpret_cast<uintptr_t>(ptr));
  s->addon_used += heap_pool_usable_size(s->pool, ptr);
  *out = ptr;
  return MEMPOOLS_OK;
}

// Forgets an addon block (freed, moved or adopted) of `usable` bytes.
void TakeAddonBlock(HeapState* s, const void* ptr, size_t usable) {
  s->addon.erase(reinterpret_cast<uintptr_t>(ptr));
  s->addon_used -= usable;
}

int Alloc(PoolState* state, size_t size, void** out) {
  HeapState* s = Heap(state);
  PoolGuard guard(*s->lock);
  return GiveAddonBlock(s, heap_pool_malloc(s->pool, size), out);
}

int Free(PoolState* state, void* ptr) {
  HeapState* s = Heap(state);
  PoolGuard guard(*s->lock);
  if (!IsAddonBlock(s, ptr)) return MEMPOOLS_ERR_INVALID;
  size_t usable = heap_pool_usable_size(s->pool, ptr);
  if (heap_pool_free(s->pool, ptr) != HEAP_POOL_OK) return MEMPOOLS_ERR_INVALID;
  TakeAddonBlock(s, ptr, usable);
  return MEMPOOLS_OK;
}

int Realloc(PoolState* state, void* ptr, size_t size, void** out) {
  HeapState* s = Heap(state);
  PoolGuard guard(*s->lock);
  if (!IsAddonBlock(s, ptr)) return MEMPOOLS_ERR_INVALID;
  size_t usable = heap_pool_usable_size(s->pool, ptr);
  void* moved = nullptr;
  // Size 0 would free the block: keep a minimum block instead, as TLSF does.
  int status = heap_pool_realloc(s->pool, ptr, std::max<size_t>(size, 1), &moved);
  if (status == HEAP_POOL_ERR_NOMEM) return MEMPOOLS_ERR_NOMEM;
  if (status != HEAP_POOL_OK) return MEMPOOLS_ERR_INVALID;
  TakeAddonBlock(s, ptr, usable);
  return GiveAddonBlock(s, moved, out);
}

int UsableSize(PoolState* state, const void* ptr, size_t* out) {
  HeapState* s = Heap(state);
  PoolGuard guard(*s->lock);
  if (!IsAddonBlock(s, ptr)) return MEMPOOLS_ERR_INVALID;
  *out = heap_pool_usable_size(s->pool, ptr);
  return MEMPOOLS_OK;
}

int HandleOf(PoolState* state, const void* ptr, mempools_handle_t* out) {
  HeapState* s = Heap(state);
  PoolGuard guard(*s->lock);
  heap_pool_ref_t ref;
  if (!IsAddonBlock(s, ptr) || heap_pool_locate(s->pool, ptr, &ref) != HEAP_POOL_OK) return MEMPOOLS_ERR_INVALID;
  *out = {ref.chunk, ref.offset};
  return MEMPOOLS_OK;
}

// The address of (chunk, offset) when it lies in a live chunk, else nullptr. Lock held.
void* AddressOf(const HeapState* s, double chunk, double offset) {
  heap_pool_chunk_info_t info;
  if (!(chunk >= 0 && chunk < HEAP_POOL_NO_CHUNK && offset >= 0) ||
      heap_pool_chunk_info(s->pool, static_cast<uint32_t>(chunk), &info) != HEAP_POOL_OK || offset >= info.bytes) {
    return nullptr;
  }
  return static_cast<char*>(info.base) + static_cast<size_t>(offset);
}

int PointerOf(PoolState* state, mempools_handle_t where, void** out) {
  HeapState* s = Heap(state);
  PoolGuard guard(*s->lock);
  void* ptr = AddressOf(s, where.chunk, static_cast<double>(where.offset));
  if (ptr == nullptr || !IsAddonBlock(s, ptr)) return MEMPOOLS_ERR_INVALID;
  *out = ptr;
  return MEMPOOLS_OK;
}

void FreePinned(PoolState* state) {
  HeapState* s = Heap(state);
  s->chunks_let_go = true;
  heap_pool_destroy(s->pool);  // a root without children (DestroyHeapChildren ran) and without a segment
  s->pool = nullptr;
}

int CanPin(PoolState* state) {
  const HeapState* s = Heap(state);
  return s->retained == nullptr && s->shm == nullptr ? MEMPOOLS_OK : MEMPOOLS_ERR_UNSUPPORTED;
}

const HandleOps kOps = {MEMPOOLS_KIND_HEAP, Alloc,        Free,   Realloc, UsableSize,
                        HandleOf,          PointerOf,    FreePinned, CanPin};

HeapState* AnyStateOf(const Napi::CallbackInfo& info) {
  PoolState* state = static_cast<PoolTable*>(info.Data())->State(info[0].As<Napi::Number>().Int32Value());
  return state != nullptr && state->kind == HeapState::kKind ? static_cast<HeapState*>(state) : nullptr;
}

HeapState* LiveStateOf(const Napi::CallbackInfo& info) {
  HeapState* state = AnyStateOf(info);
  return state != nullptr && !state->destroyed && state->pool != nullptr ? state : nullptr;
}

// The usable size of the addon block at arguments (handle, chunk, offset), or
// why there is none; `adopt`: it becomes JavaScript's.
Napi::Value AddonBlock(const Napi::CallbackInfo& info, bool adopt) {
  HeapState* s = LiveStateOf(info);
  if (s == nullptr) return Napi::Number::New(info.Env(), HEAP_POOL_ERR_INVALID);
  double chunk = info[1].As<Napi::Number>().DoubleValue();
  double offset = info[2].As<Napi::Number>().DoubleValue();
  PoolGuard guard(*s->lock);
  void* ptr = AddressOf(s, chunk, offset);
  if (ptr == nullptr || !IsAddonBlock(s, ptr)) {
    int status = HEAP_POOL_ERR_FOREIGN;
    if (ptr != nullptr) status = heap_pool_state_at(s->pool, static_cast<uint32_t>(chunk), static_cast<size_t>(offset), nullptr);
    // A live block that is not an addon's belongs to JavaScript: foreign here.
    return Napi::Number::New(info.Env(), status == HEAP_POOL_ERR_DOUBLE_FREE ? status : HEAP_POOL_ERR_FOREIGN);
  }
  size_t usable = heap_pool_usable_size(s->pool, ptr);
  if (adopt) TakeAddonBlock(s, ptr, usable);
  return Napi::Number::New(info.Env(), static_cast<double>(usable));
}

}  // namespace

Napi::Value HeapNativeHandle(const Napi::CallbackInfo& info) {
  HeapState* s = AnyStateOf(info);
  napi_value handle;
  if (s == nullptr || MakeNativeHandle(info.Env(), s, &kOps, s->lock->enabled(), &handle) != napi_ok) {
    return info.Env().Undefined();
  }
  return Napi::Value(info.Env(), handle);
}

Napi::Value HeapAddonBlock(const Napi::CallbackInfo& info) { return AddonBlock(info, false); }

Napi::Value HeapAdopt(const Napi::CallbackInfo& info) { return AddonBlock(info, true); }

Napi::Value HeapAddonStats(const Napi::CallbackInfo& info) {
  HeapState* s = LiveStateOf(info);
  if (s == nullptr) return Napi::Number::New(info.Env(), HEAP_POOL_ERR_INVALID);
  PoolGuard guard(*s->lock);
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(uint32_t{0}, Napi::Number::New(info.Env(), static_cast<double>(s->addon_used)));
  result.Set(uint32_t{1}, Napi::Number::New(info.Env(), static_cast<double>(s->addon.size())));
  return result;
}

void DestroyHeapChildren(napi_env env, PoolTable* table, HeapState* state) {
  for (int32_t handle = 0; handle < table->Limit(); handle++) {
    HeapState* child = table->Live<HeapState>(handle);
    if (child != nullptr && child->retained == state) table->Destroy(env, child);
  }
}

}  // namespace mempools
