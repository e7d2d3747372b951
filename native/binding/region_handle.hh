// region_handle.hh — the region pool's side of nativeHandle (see
// native_handle.hh): the adapter (JavaScript thread only: a RegionPool has no
// lock) and the flat functions RegionPool uses to make the handle and view
// the blocks addons allocated.
#ifndef MEMPOOLS_REGION_HANDLE_HH
#define MEMPOOLS_REGION_HANDLE_HH

#include <napi.h>

namespace mempools {

// nativeHandle(handle) -> the tagged external (once per pool).
Napi::Value RegionNativeHandle(const Napi::CallbackInfo& info);
// blockAt(handle, chunk, offset) -> [generation, size] of the live allocation
// starting there, or a negative region_pool_status.
Napi::Value RegionBlockAt(const Napi::CallbackInfo& info);

}  // namespace mempools

#endif  // MEMPOOLS_REGION_HANDLE_HH
