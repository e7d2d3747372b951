// heap_handle.hh — the heap pool's side of nativeHandle (see native_handle.hh):
// the adapter other addons call through (from any thread when the family is
// thread-safe), and the flat functions HeapPool uses to make the handle and
// to view, adopt and count the blocks addons allocated.
#ifndef MEMPOOLS_HEAP_HANDLE_HH
#define MEMPOOLS_HEAP_HANDLE_HH

#include <napi.h>

#include "heap_state.hh"

namespace mempools {

// nativeHandle(handle) -> the tagged external (once per pool).
Napi::Value HeapNativeHandle(const Napi::CallbackInfo& info);
// addonBlock(handle, chunk, offset) -> usable size of the block an addon
// allocated there, or a negative heap_pool_status (FOREIGN, DOUBLE_FREE, INVALID).
Napi::Value HeapAddonBlock(const Napi::CallbackInfo& info);
// adopt(handle, chunk, offset) -> as addonBlock, and the block becomes JavaScript's.
Napi::Value HeapAdopt(const Napi::CallbackInfo& info);
// addonStats(handle) -> [usable bytes, count] of the blocks addons hold, or a negative status.
Napi::Value HeapAddonStats(const Napi::CallbackInfo& info);
// Destroys the live child pools of `state` (each with its own children): what
// heap_pool_destroy does first, done before a pinned pool defers its own
// memory, so that no child chunk outlives its views.
void DestroyHeapChildren(napi_env env, PoolTable* table, HeapState* state);

}  // namespace mempools

#endif  // MEMPOOLS_HEAP_HANDLE_HH
