// native_handle.hh — the shim behind every pool's `nativeHandle`: a
// type-tagged N-API external whose data is a mempools_pool_t (mempools.h),
// refcounted so that it outlives the pool state for as long as the external
// is reachable, and pins that keep a destroyed pool's C memory until the last
// release.
//
// Each pool kind gives one HandleOps (its adapter, `<kind>_handle.cc`): the
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
// and the destroyed flag (only that thread destroys), then the op under the
// pool's PoolLock (a no-op unless threadSafe): no lock and no atomic
// read-modify-write for a pool that is not thread-safe, one uncontended lock
// for one that is. On another thread of a thread-safe pool the op runs under
// that same lock, which destroy takes to set the flag, so no op overlaps a
// destroy. A pool that locks inside its ops (SharedPool: the segment's lock)
// gives no PoolLock: the shim then has one of its own that only other
// threads' calls and destroy take. The shim's mutex guards the pins
// (retain, release from any thread, destroy while pinned).
#ifndef MEMPOOLS_NATIVE_HANDLE_HH
#define MEMPOOLS_NATIVE_HANDLE_HH

#include <node_api.h>

#include <memory>

#include "binding.hh"
#include "mempools.h"
#include "pool_table.hh"

namespace mempools {

// One pool kind's side of the ABI. Each op runs with the shim's checks done
// (right thread, not destroyed) and the pool's PoolLock held (see above), so
// it takes no lock itself, and returns a mempools_status.
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
};

struct NativeHandle;

// Makes the state's nativeHandle external (once per state: the TypeScript pool
// keeps it; a second call fails with napi_invalid_arg). lock: the pool's
// PoolLock, held around every op (enabled: threadSafe, any thread may call),
// kept alive by the handle as long as it lives; nullptr for a pool without
// one. self_locking (with lock nullptr): the ops lock by themselves, any
// thread may call (SharedPool). A destroyed state gets a handle whose every
// call returns MEMPOOLS_ERR_DESTROYED.
napi_status MakeNativeHandle(napi_env env, PoolState* state, const HandleOps* ops, std::shared_ptr<PoolLock> lock,
                             bool self_locking, napi_value* result);

// Called by PoolTable::Destroy: marks the handle destroyed. True when a pin is
// held: the caller must then let go of the chunks but not free the memory.
bool NativeHandleDestroyed(NativeHandle* handle);

// Called by PoolTable::ReleaseState: the state goes. True when a pin still
// holds its memory: the handle then owns the state and deletes it (after
// free_pinned) at the last release; the caller must not delete it.
bool NativeHandleTakesOver(NativeHandle* handle);

}  // namespace mempools

#endif  // MEMPOOLS_NATIVE_HANDLE_HH
