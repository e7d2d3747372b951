// native_handle.cc — see native_handle.hh.
#include "native_handle.hh"

#include <pthread.h>

#include <atomic>
#include <mutex>
#include <new>

namespace mempools {

// Invariant: `refs` counts the holders of this struct (the state until it is
// released, the external until finalized, one per pin); the last one deletes
// it. `destroyed` is written under `lock` (and `mutex`) on the JavaScript
// thread only, so that thread reads it without a lock and others under
// `lock`. `mutex` guards the fields below it. `state` is the pool's state
// while it exists or, once `taken_over`, until the last release deletes it;
// `pending`: destroyed while pinned, so the C memory is still to be freed.
struct NativeHandle {
  mempools_pool_t api;  // first: the external's data points here
  const HandleOps* ops;
  pthread_t js_thread;
  bool thread_safe;
  bool owner_locks;                // the JavaScript thread's calls take `lock` too (it is the pool's)
  std::shared_ptr<PoolLock> lock;  // the pool's PoolLock, or the shim's own (self-locking pools)
  std::atomic<bool> destroyed{false};
  std::atomic<uint32_t> refs{2};
  std::mutex mutex;
  PoolState* state;
  uint32_t pins = 0;
  bool pending = false;
  bool taken_over = false;
};

namespace {

constexpr napi_type_tag kTag = {MEMPOOLS_TYPE_TAG_LOWER, MEMPOOLS_TYPE_TAG_UPPER};

void Unref(NativeHandle* handle) {
  if (handle->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete handle;
}

// Runs op(handle) on a live state on an allowed thread, with the lock the
// call path asks for (native_handle.hh); else the status that says why not.
template <typename Op>
inline int Run(void* ctx, Op op) {
  NativeHandle* handle = static_cast<NativeHandle*>(ctx);
  if (__builtin_expect(pthread_equal(pthread_self(), handle->js_thread), 1)) {
    if (handle->destroyed.load(std::memory_order_relaxed)) return MEMPOOLS_ERR_DESTROYED;
    if (!handle->owner_locks) return op(handle);
    PoolGuard guard(*handle->lock);  // a no-op unless threadSafe
    return op(handle);
  }
  if (!handle->thread_safe) return MEMPOOLS_ERR_WRONG_THREAD;
  PoolGuard guard(*handle->lock);
  if (handle->destroyed.load(std::memory_order_relaxed)) return MEMPOOLS_ERR_DESTROYED;
  return op(handle);
}

int Alloc(void* ctx, size_t size, void** out) {
  return Run(ctx, [=](NativeHandle* h) { return h->ops->alloc(h->state, size, out); });
}

int Free(void* ctx, void* ptr) {
  return Run(ctx, [=](NativeHandle* h) { return h->ops->free(h->state, ptr); });
}

int Realloc(void* ctx, void* ptr, size_t size, void** out) {
  return Run(ctx, [=](NativeHandle* h) { return h->ops->realloc(h->state, ptr, size, out); });
}

int UsableSize(void* ctx, const void* ptr, size_t* out) {
  return Run(ctx, [=](NativeHandle* h) { return h->ops->usable_size(h->state, ptr, out); });
}

int HandleOf(void* ctx, const void* ptr, mempools_handle_t* out) {
  return Run(ctx, [=](NativeHandle* h) { return h->ops->handle_of(h->state, ptr, out); });
}

int PointerOf(void* ctx, mempools_handle_t where, void** out) {
  return Run(ctx, [=](NativeHandle* h) { return h->ops->pointer_of(h->state, where, out); });
}

int Retain(void* ctx) {
  return Run(ctx, [](NativeHandle* h) {
    if (h->ops->can_pin != nullptr) {
      int status = h->ops->can_pin(h->state);
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

napi_status MakeNativeHandle(napi_env env, PoolState* state, const HandleOps* ops, std::shared_ptr<PoolLock> lock,
                             bool self_locking, napi_value* result) {
  if (state->native_handle != nullptr) return napi_invalid_arg;
  NativeHandle* handle = new (std::nothrow) NativeHandle();
  if (handle == nullptr) return napi_generic_failure;
  handle->owner_locks = lock != nullptr;
  if (lock == nullptr) {
    lock = std::make_shared<PoolLock>();
    if (self_locking) lock->Enable();
  }
  bool thread_safe = lock->enabled();
  handle->lock = std::move(lock);
  handle->api = {MEMPOOLS_ABI_VERSION,
                 sizeof(mempools_pool_t),
                 ops->kind,
                 thread_safe ? MEMPOOLS_FLAG_THREAD_SAFE : 0u,
                 handle,
                 Alloc,
                 Free,
                 Realloc,
                 UsableSize,
                 HandleOf,
                 PointerOf,
                 Retain,
                 Release};
  handle->ops = ops;
  handle->js_thread = pthread_self();
  handle->thread_safe = thread_safe;
  handle->state = state;
  handle->destroyed.store(state->destroyed, std::memory_order_relaxed);
  napi_status status = napi_create_external(env, &handle->api, Finalize, handle, result);
  if (status != napi_ok) {
    delete handle;  // no external, so no finalizer to drop its reference
    return status;
  }
  state->native_handle = handle;
  return napi_type_tag_object(env, *result, &kTag);
}

bool NativeHandleDestroyed(NativeHandle* handle) {
  PoolGuard lock(*handle->lock);  // no op of another thread runs meanwhile
  std::lock_guard<std::mutex> guard(handle->mutex);
  handle->destroyed.store(true, std::memory_order_relaxed);
  handle->pending = handle->pins > 0;
  return handle->pending;
}

bool NativeHandleTakesOver(NativeHandle* handle) {
  {
    PoolGuard lock(*handle->lock);
    std::lock_guard<std::mutex> guard(handle->mutex);
    handle->destroyed.store(true, std::memory_order_relaxed);
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
