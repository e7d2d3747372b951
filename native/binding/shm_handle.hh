// shm_handle.hh — the shared pool's side of nativeHandle (see
// native_handle.hh): the adapter other addons call through. Thread-safe: every
// allocator call takes the segment's process-shared allocator mutex, which
// serialises threads as well as processes. chunk is always 0 and offsets are
// area offsets, as SharedPool.offsetOf gives them.
#ifndef MEMPOOLS_SHM_HANDLE_HH
#define MEMPOOLS_SHM_HANDLE_HH

#include <napi.h>

namespace mempools {

// nativeHandle(handle) -> the tagged external (once per pool).
Napi::Value ShmNativeHandle(const Napi::CallbackInfo& info);

}  // namespace mempools

#endif  // MEMPOOLS_SHM_HANDLE_HH
