// native_handle.cc — see native_handle.hh.
#include "native_handle.hh"

#include <atomic>
#include <mutex>
#include <new>

namespace mempools {

namespace {

constexpr napi_type_tag kTag = {MEMPOOLS_TYPE_TAG_LOWER, MEMPOOLS_TYPE_TAG_UPPER};

void Unref(NativeHandle* handle) {
  if (handle->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete handle;
}

int Retain(void* ctx) {
  NativeHandle* h = static_cast<NativeHandle*>(ctx);
  return handle_path::Run(ctx, [h](PoolState* state) {
    if (h->ops->can_pin != nullptr) {
      int status = h->ops->can_pin(state);
      if (status != MEMPOOLS_OK) return status;
    }
    std::lock_guard<std::mutex> guard(h->mutex);
    h->pins++;
    h->refs.fetch_add(1, std::memory_order_relaxed);
    return static_cast<int>(MEMPOOLS_OK);
  });
}

// Any thread. The last pin of a destroyed pool frees its memory (and its
// state, when the state was released meanwhile).
void Release(void* ctx) {
  NativeHandle* handle = static_cast<NativeHandle*>(ctx);
  PoolState* orphan = nullptr;
  {
    std::lock_guard<std::mutex> guard(handle->mutex);
    if (handle->pins == 0) return;  // an unbalanced release: ignored
    if (--handle->pins == 0 && handle->pending) {
      handle->ops->free_pinned(handle->state);
      handle->pending = false;
      if (handle->taken_over) {
        orphan = handle->state;
        handle->state = nullptr;
      }
    }
  }
  if (orphan != nullptr) {
    delete orphan;
    Unref(handle);  // the state's reference
  }
  Unref(handle);  // the pin's reference
}

void Finalize(napi_env, void*, void* hint) { Unref(static_cast<NativeHandle*>(hint)); }

}  // namespace

namespace handle_path {

napi_status Make(napi_env env, PoolState* state, const HandleOps* ops, const Entries& entries,
                 std::shared_ptr<PoolLock> lock, bool self_locking, napi_value* result) {
  if (state->native_handle != nullptr) return napi_invalid_arg;
  NativeHandle* handle = new (std::nothrow) NativeHandle();
  if (handle == nullptr) return napi_generic_failure;
  if (lock == nullptr) {
    lock = std::make_shared<PoolLock>();
    if (self_locking) lock->Enable();
  } else if (lock->enabled()) {
    handle->owner_lock = lock.get();
  }
  bool thread_safe = lock->enabled();
  handle->lock = lock.get();
  handle->lock_holder = std::move(lock);
  handle->api = {MEMPOOLS_ABI_VERSION,
                 sizeof(mempools_pool_t),
                 ops->kind,
                 thread_safe ? MEMPOOLS_FLAG_THREAD_SAFE : 0u,
                 handle,
                 entries.alloc,
                 entries.free,
                 entries.realloc,
                 entries.usable_size,
                 entries.handle_of,
                 entries.pointer_of,
                 Retain,
                 Release};
  handle->ops = ops;
  if (ops->target != nullptr && !state->destroyed) handle->target = ops->target(state);
  handle->js_thread = ThisThread();
  handle->fast_thread.store(handle->owner_lock == nullptr && !state->destroyed ? handle->js_thread : 0,
                            std::memory_order_relaxed);
  handle->thread_safe = thread_safe;
  handle->state = state;
  handle->live.store(state->destroyed ? nullptr : state, std::memory_order_relaxed);
  napi_status status = napi_create_external(env, &handle->api, Finalize, handle, result);
  if (status != napi_ok) {
    delete handle;  // no external, so no finalizer to drop its reference
    return status;
  }
  state->native_handle = handle;
  return napi_type_tag_object(env, *result, &kTag);
}

}  // namespace handle_path

bool NativeHandleDestroyed(NativeHandle* handle) {
  PoolGuard lock(*handle->lock);  // no op of another thread runs meanwhile
  std::lock_guard<std::mutex> guard(handle->mutex);
  NativeHandlePoolGone(handle);
  handle->pending = handle->pins > 0;
  return handle->pending;
}

void NativeHandlePoolGone(NativeHandle* handle) {
  handle->fast_thread.store(0, std::memory_order_relaxed);
  handle->live.store(nullptr, std::memory_order_relaxed);
}

bool NativeHandleTakesOver(NativeHandle* handle) {
  {
    PoolGuard lock(*handle->lock);
    std::lock_guard<std::mutex> guard(handle->mutex);
    NativeHandlePoolGone(handle);
    if (handle->pending) {
      handle->taken_over = true;
      return true;
    }
    handle->state = nullptr;
  }
  Unref(handle);  // the state's reference
  return false;
}

}  // namespace mempools
