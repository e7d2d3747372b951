// tlsf_handle.hh — the TLSF pool's side of nativeHandle (see native_handle.hh):
// the adapter other addons call through, and the flat functions TlsfPool
// uses to make the handle and to view, adopt and count the blocks addons
// allocated.
#ifndef MEMPOOLS_TLSF_HANDLE_HH
#define MEMPOOLS_TLSF_HANDLE_HH

#include <napi.h>

namespace mempools {

// nativeHandle(handle) -> the tagged external (once per pool), or a negative
// number: -(ENOMEM + calloc * sysBase) when the addon bitmaps could not be made.
Napi::Value TlsfNativeHandle(const Napi::CallbackInfo& info);
// addonBlock(handle, region, offset) -> usable size of the block an addon
// allocated there, or a negative tlsf_status (FOREIGN, DOUBLE_FREE, INVALID).
Napi::Value TlsfAddonBlock(const Napi::CallbackInfo& info);
// adopt(handle, region, offset) -> as addonBlock, and the block becomes
// JavaScript's (no longer counted as an addon block).
Napi::Value TlsfAdopt(const Napi::CallbackInfo& info);

}  // namespace mempools

#endif  // MEMPOOLS_TLSF_HANDLE_HH
