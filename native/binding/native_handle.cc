// native_handle.cc — see native_handle.hh.
#include "native_handle.hh"

#include <pthread.h>

#include <atomic>
#include <mutex>
#include <new>

namespace mempools {

// Invariant: `refs` counts the holders of this struct (the state until it is
// released, the external until finalized, one per pin); the last one deletes
// it. `mutex` guards the fields below it. `state` is the pool's state while
// it exists or, once `taken_over`, until the last release deletes it; `pending`:
// destroyed while pinned, so the C memory is still to be freed.
struct NativeHandle {
  mempools_pool_t api;  // first: the external's data points here
  const HandleOps* ops;
  pthread_t js_thread;
  bool thread_safe;
  std::atomic<uint32_t> refs{2};
  std::mutex mutex;
  PoolState* state;
  uint32_t pins = 0;
  bool destroyed = false;
  bool pending = false;
  bool taken_over = false;
};

namespace {

constexpr napi_type_tag kTag = {MEMPOOLS_TYPE_TAG_LOWER, MEMPOOLS_TYPE_TAG_UPPER};

void Unref(NativeHandle* handle) {
  if (handle->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete handle;
}

// Holds the handle's mutex while an op runs on a live state on an allowed thread.
class Call {
 public:
  explicit Call(void* ctx) : handle_(static_cast<NativeHandle*>(ctx)) {
    if (!handle_->thread_safe && !pthread_equal(pthread_self(), handle_->js_thread)) {
      status_ = MEMPOOLS_ERR_WRONG_THREAD;
      return;
    }
    handle_->mutex.lock();
    locked_ = true;
    status_ = handle_->destroyed ? MEMPOOLS_ERR_DESTROYED : MEMPOOLS_OK;
  }
  ~Call() {
    if (locked_) handle_->mutex.unlock();
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  int status() const { return status_; }
  NativeHandle* handle() const { return handle_; }
  PoolState* state() const { return handle_->state; }
  const HandleOps* ops() const { return handle_->ops; }

 private:
  NativeHandle* handle_;
  bool locked_ = false;
  int status_;
};

int Alloc(void* ctx, size_t size, void** out) {
  Call call(ctx);
  return call.status() != MEMPOOLS_OK ? call.status() : call.ops()->alloc(call.state(), size, out);
}

int Free(void* ctx, void* ptr) {
  Call call(ctx);
  return call.status() != MEMPOOLS_OK ? call.status() : call.ops()->free(call.state(), ptr);
}

int Realloc(void* ctx, void* ptr, size_t size, void** out) {
  Call call(ctx);
  return call.status() != MEMPOOLS_OK ? call.status() : call.ops()->realloc(call.state(), ptr, size, out);
}

int UsableSize(void* ctx, const void* ptr, size_t* out) {
  Call call(ctx);
  return call.status() != MEMPOOLS_OK ? call.status() : call.ops()->usable_size(call.state(), ptr, out);
}

int HandleOf(void* ctx, const void* ptr, mempools_handle_t* out) {
  Call call(ctx);
  return call.status() != MEMPOOLS_OK ? call.status() : call.ops()->handle_of(call.state(), ptr, out);
}

int PointerOf(void* ctx, mempools_handle_t where, void** out) {
  Call call(ctx);
  return call.status() != MEMPOOLS_OK ? call.status() : call.ops()->pointer_of(call.state(), where, out);
}

int Retain(void* ctx) {
  Call call(ctx);
  if (call.status() != MEMPOOLS_OK) return call.status();
  if (call.ops()->can_pin != nullptr) {
    int status = call.ops()->can_pin(call.state());
    if (status != MEMPOOLS_OK) return status;
  }
  call.handle()->pins++;
  call.handle()->refs.fetch_add(1, std::memory_order_relaxed);
  return MEMPOOLS_OK;
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

napi_status MakeNativeHandle(napi_env env, PoolState* state, const HandleOps* ops, bool thread_safe,
                             napi_value* result) {
  if (state->native_handle != nullptr) return napi_invalid_arg;
  NativeHandle* handle = new (std::nothrow) NativeHandle();
  if (handle == nullptr) return napi_generic_failure;
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
  handle->destroyed = state->destroyed;
  napi_status status = napi_create_external(env, &handle->api, Finalize, handle, result);
  if (status != napi_ok) {
    delete handle;  // no external, so no finalizer to drop its reference
    return status;
  }
  state->native_handle = handle;
  return napi_type_tag_object(env, *result, &kTag);
}

bool NativeHandleDestroyed(NativeHandle* handle) {
  std::lock_guard<std::mutex> guard(handle->mutex);
  handle->destroyed = true;
  handle->pending = handle->pins > 0;
  return handle->pending;
}

bool NativeHandleTakesOver(NativeHandle* handle) {
  {
    std::lock_guard<std::mutex> guard(handle->mutex);
    handle->destroyed = true;
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
