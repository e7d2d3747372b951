// native_handle.hh — the shim behind every pool's `nativeHandle`: a
// type-tagged N-API external whose data is a mempools_pool_t (mempools.h),
// refcounted so that it outlives the pool state for as long as the external
// is reachable, and pins that keep a destroyed pool's C memory until the last
// release.
//
// Each pool kind gives one HandleOps (its adapter, in `<kind>_binding.cc`): the
// operations on its state. The shim wraps them with what every kind shares:
//   - the thread rule: a pool without a lock is called on its JavaScript
//     thread only (others get MEMPOOLS_ERR_WRONG_THREAD); release() is allowed
//     from any thread;
//   - the lifecycle: once the pool is destroyed (or its state released) every
//     call returns MEMPOOLS_ERR_DESTROYED and touches nothing;
//   - pins: retain() while not destroyed; PoolTable::Destroy then lets go of
//     the chunk ArrayBuffers at once but leaves the C memory to the last
//     release() (ops->free_pinned, which makes no N-API call; memory views
//     still reach is held past it, held_memory.hh), and a state released
//     while pinned is deleted there too.
// The call path (each op): on the pool's JavaScript thread, the thread test
// and the destroyed test (only that thread destroys), then the op under the
// pool's PoolLock (a no-op unless threadSafe): no lock and no atomic
// read-modify-write for a pool that is not thread-safe, one uncontended lock
// for one that is. For a pool whose JavaScript thread takes no lock the two
// tests are one: `fast_thread` is that thread while the pool lives, and 0 (no
// thread) once it is destroyed or when its calls must lock; only that thread
// changes it, so a call that finds it equal to its own thread has a live
// state. On another thread of a thread-safe pool the op runs under that same
// lock, which destroy takes to mark the handle destroyed, so no op overlaps a
// destroy. A pool that locks inside its ops (SharedPool: the segment's lock)
// gives no PoolLock: the shim then has one of its own that only other
// threads' calls and destroy take. The shim's mutex guards the pins
// (retain, release from any thread, destroy while pinned).
#ifndef MEMPOOLS_NATIVE_HANDLE_HH
#define MEMPOOLS_NATIVE_HANDLE_HH

#include <node_api.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "binding.hh"
#include "mempools.h"
#include "pool_table.hh"

namespace mempools {

// One pool kind's side of the ABI. Each op runs with the shim's checks done
// (right thread, not destroyed) and the pool's PoolLock held (see above), so
// it takes no lock itself, and returns a mempools_status. A kind defines its
// HandleOps constexpr and makes handles with MakeNativeHandle<its ops>, so
// that its ops inline into the entry points addons call.
struct HandleOps {
  uint32_t kind;  // enum mempools_kind
  int (*alloc)(PoolState* state, size_t size, void** out);
  int (*free)(PoolState* state, void* ptr);
  int (*realloc)(PoolState* state, void* ptr, size_t size, void** out);
  int (*usable_size)(PoolState* state, const void* ptr, size_t* out);
  int (*handle_of)(PoolState* state, const void* ptr, mempools_handle_t* out);
  int (*pointer_of)(PoolState* state, mempools_handle_t handle, void** out);
  // Frees the C memory of a destroyed state whose chunk ArrayBuffers were all
  // let go of already (memory they reach is held); any thread, so no N-API and no table.
  void (*free_pinned)(PoolState* state);
  // MEMPOOLS_OK when retain() may pin the state's memory, else why not
  // (MEMPOOLS_ERR_UNSUPPORTED); nullptr: always.
  int (*can_pin)(PoolState* state);
  // Optional (a kind whose alloc and free need one object of the state, the
  // heap pool): target(state) is read when the handle is made and kept in it,
  // and the owning thread's lock-free alloc/free calls go to target_alloc /
  // target_free with it (one load from the handle to the allocator, not two).
  // The other paths call alloc/free as usual. Valid while the pool lives.
  void* (*target)(PoolState* state) = nullptr;
  int (*target_alloc)(void* target, size_t size, void** out) = nullptr;
  int (*target_free)(void* target, void* ptr) = nullptr;
};

// Invariant: `refs` counts the holders of this struct (the state until it is
// released, the external until finalized, one per pin); the last one deletes
// it. `live` is `state` until the pool is destroyed, then nullptr for good, and
// `fast_thread` js_thread while `live` is set and the JavaScript thread's calls
// take no lock, else 0; both are written under `*lock` on the JavaScript thread
// only (destroy, a heap child destroyed through its parent), so that thread
// reads them without a lock and others `live` under `*lock`. `mutex` guards
// the fields below it. `state` is the pool's state while it exists
// or, once `taken_over`, until the last release deletes it; `pending`:
// destroyed while pinned, so the C memory is still to be freed. What the
// owning thread's calls read (fast_thread, live, target) comes right after the
// api struct, on the cache line of its last entry points.
struct alignas(64) NativeHandle {
  mempools_pool_t api;                    // first: the external's data points here
  std::atomic<uintptr_t> fast_thread{0};  // js_thread while live and its calls take no lock, else 0 (no thread)
  std::atomic<PoolState*> live{nullptr};  // the state while not destroyed, else nullptr
  void* target = nullptr;                 // ops->target(state), if the kind has one (read only while live)
  const HandleOps* ops;
  uintptr_t js_thread;             // the JavaScript thread (handle_path::ThisThread)
  bool thread_safe;                // other threads may call
  PoolLock* owner_lock = nullptr;  // the pool's enabled PoolLock, else nullptr: the JavaScript thread's calls take it
  PoolLock* lock = nullptr;        // what other threads' calls and destroy take (held by lock_holder)
  std::shared_ptr<PoolLock> lock_holder;  // the pool's PoolLock, or the shim's own
  std::atomic<uint32_t> refs{2};
  std::mutex mutex;
  PoolState* state;
  uint32_t pins = 0;
  bool pending = false;
  bool taken_over = false;
};

namespace handle_path {

// The calling thread, as one load (the thread pointer; pthread_self elsewhere).
inline uintptr_t ThisThread() {
#if defined(__has_builtin) && __has_builtin(__builtin_thread_pointer)
  return reinterpret_cast<uintptr_t>(__builtin_thread_pointer());
#else
  return static_cast<uintptr_t>(pthread_self());
#endif
}

// Runs op(handle) on a live state on an allowed thread, with the lock the
// call path asks for (see above); else the status that says why not.
// The locked part of Run (a thread-safe pool, or another thread), apart so
// that the unlocked path needs no stack frame.
template <typename Op>
__attribute__((noinline)) int RunLocked(NativeHandle* handle, Op op) {
  if (ThisThread() == handle->js_thread) {
    PoolState* state = handle->live.load(std::memory_order_relaxed);
    // without an owner_lock Run's fast path would have run op: the pool is gone
    if (state == nullptr || handle->owner_lock == nullptr) return MEMPOOLS_ERR_DESTROYED;
    std::lock_guard<std::mutex> guard(handle->owner_lock->mutex());  // enabled: see owner_lock
    return op(state);
  }
  if (!handle->thread_safe) return MEMPOOLS_ERR_WRONG_THREAD;
  std::lock_guard<std::mutex> guard(handle->lock->mutex());  // enabled: thread_safe
  PoolState* state = handle->live.load(std::memory_order_relaxed);
  if (state == nullptr) return MEMPOOLS_ERR_DESTROYED;
  return op(state);
}

// Runs op(state) on a live state on an allowed thread, with the lock the
// call path asks for (see above); else the status that says why not.
template <typename Op>
__attribute__((always_inline)) inline int Run(void* ctx, Op op) {
  NativeHandle* handle = static_cast<NativeHandle*>(ctx);
  if (__builtin_expect(ThisThread() == handle->fast_thread.load(std::memory_order_relaxed), 1)) {
    return op(handle->live.load(std::memory_order_relaxed));  // live: this thread alone clears it
  }
  return RunLocked(handle, op);
}

// The entry points of mempools_pool_t for one kind's ops.
template <const HandleOps& O>
int Alloc(void* ctx, size_t size, void** out) {
  auto op = [=](PoolState* s) { return O.alloc(s, size, out); };
  if constexpr (O.target_alloc != nullptr) {  // Run, with the target for the state
    NativeHandle* handle = static_cast<NativeHandle*>(ctx);
    if (__builtin_expect(ThisThread() == handle->fast_thread.load(std::memory_order_relaxed), 1)) {
      return O.target_alloc(handle->target, size, out);
    }
    return RunLocked(handle, op);
  } else {
    return Run(ctx, op);
  }
}
template <const HandleOps& O>
int Free(void* ctx, void* ptr) {
  auto op = [=](PoolState* s) { return O.free(s, ptr); };
  if constexpr (O.target_free != nullptr) {
    NativeHandle* handle = static_cast<NativeHandle*>(ctx);
    if (__builtin_expect(ThisThread() == handle->fast_thread.load(std::memory_order_relaxed), 1)) {
      return O.target_free(handle->target, ptr);
    }
    return RunLocked(handle, op);
  } else {
    return Run(ctx, op);
  }
}
template <const HandleOps& O>
int Realloc(void* ctx, void* ptr, size_t size, void** out) {
  return Run(ctx, [=](PoolState* s) { return O.realloc(s, ptr, size, out); });
}
template <const HandleOps& O>
int UsableSize(void* ctx, const void* ptr, size_t* out) {
  return Run(ctx, [=](PoolState* s) { return O.usable_size(s, ptr, out); });
}
template <const HandleOps& O>
int HandleOf(void* ctx, const void* ptr, mempools_handle_t* out) {
  return Run(ctx, [=](PoolState* s) { return O.handle_of(s, ptr, out); });
}
template <const HandleOps& O>
int PointerOf(void* ctx, mempools_handle_t where, void** out) {
  return Run(ctx, [=](PoolState* s) { return O.pointer_of(s, where, out); });
}

struct Entries {
  int (*alloc)(void*, size_t, void**);
  int (*free)(void*, void*);
  int (*realloc)(void*, void*, size_t, void**);
  int (*usable_size)(void*, const void*, size_t*);
  int (*handle_of)(void*, const void*, mempools_handle_t*);
  int (*pointer_of)(void*, mempools_handle_t, void**);
};

napi_status Make(napi_env env, PoolState* state, const HandleOps* ops, const Entries& entries,
                 std::shared_ptr<PoolLock> lock, bool self_locking, napi_value* result);

}  // namespace handle_path

// Makes the state's nativeHandle external (once per state: the TypeScript pool
// keeps it; a second call fails with napi_invalid_arg). lock: the pool's
// PoolLock, held around every op (enabled: threadSafe, any thread may call),
// kept alive by the handle as long as it lives; nullptr for a pool without
// one. self_locking (with lock nullptr): the ops lock by themselves, any
// thread may call (SharedPool). A destroyed state gets a handle whose every
// call returns MEMPOOLS_ERR_DESTROYED.
template <const HandleOps& O>
napi_status MakeNativeHandle(napi_env env, PoolState* state, std::shared_ptr<PoolLock> lock, bool self_locking,
                             napi_value* result) {
  using namespace handle_path;
  static constexpr Entries kEntries = {Alloc<O>, Free<O>, Realloc<O>, UsableSize<O>, HandleOf<O>, PointerOf<O>};
  return Make(env, state, &O, kEntries, std::move(lock), self_locking, result);
}

// Called by PoolTable::Destroy: marks the handle destroyed. True when a pin is
// held: the caller must then let go of the chunks but not free the memory.
bool NativeHandleDestroyed(NativeHandle* handle);

// Marks the handle destroyed (fast_thread 0, live nullptr), from the pool's
// JavaScript thread with its lock held: later calls return
// MEMPOOLS_ERR_DESTROYED. For a pool that cannot be pinned and is destroyed by
// other means (a heap child destroyed through its parent); the two calls
// above use it too.
void NativeHandlePoolGone(NativeHandle* handle);

// Called by PoolTable::ReleaseState: the state goes. True when a pin still
// holds its memory: the handle then owns the state and deletes it (after
// free_pinned) at the last release; the caller must not delete it.
bool NativeHandleTakesOver(NativeHandle* handle);

}  // namespace mempools

#endif  // MEMPOOLS_NATIVE_HANDLE_HH
