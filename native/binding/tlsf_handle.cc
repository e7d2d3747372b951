// tlsf_handle.cc — see tlsf_handle.hh. Addons get only blocks they allocated
// through the handle (the addon bitmap): a block JavaScript holds or keeps in
// its free-list cache is never theirs to free, so the JavaScript side's
// counters and cache stay exact.
#include "tlsf_handle.hh"

#include <cerrno>

#include "mempools.h"
#include "native_handle.hh"
#include "tlsf_state.hh"

namespace mempools {

namespace {

constexpr int kSysBase = 1000;  // as tlsf_binding.cc
constexpr int kSysCalloc = 2;

TlsfState* Tlsf(PoolState* state) { return static_cast<TlsfState*>(state); }

// Whether an addon holds the block at (region, offset). Lock held.
bool IsAddonBlock(const TlsfState* s, int region, size_t offset) {
  if (region < 0 || region >= TLSF_MAX_REGIONS || !s->present[region] || s->addon[region] == nullptr ||
      offset >= s->regions[region].area || (offset & 7) != 0) {
    return false;
  }
  size_t bit = offset >> 3;
  return (s->addon[region][bit >> 5] >> (bit & 31) & 1u) != 0;
}

void MarkAddonBlock(TlsfState* s, int region, size_t offset, bool held) {
  size_t bit = offset >> 3;
  uint32_t mask = 1u << (bit & 31);
  if (held) {
    s->addon[region][bit >> 5] |= mask;
  } else {
    s->addon[region][bit >> 5] &= ~mask;
  }
}

// The (region, offset) of an addon block at `ptr`; false when it is none.
bool LocateAddonBlock(const TlsfState* s, const void* ptr, int* region, size_t* offset) {
  return tlsf_locate(s->tlsf, ptr, region, offset) == TLSF_OK && IsAddonBlock(s, *region, *offset);
}

// Records a block tlsf just handed out to an addon.
int GiveAddonBlock(TlsfState* s, void* ptr, void** out) {
  int region;
  size_t offset;
  if (ptr == nullptr || tlsf_locate(s->tlsf, ptr, &region, &offset) != TLSF_OK) return MEMPOOLS_ERR_NOMEM;
  MarkAddonBlock(s, region, offset, true);
  s->addon_used += tlsf_usable_size(s->tlsf, ptr);
  s->addon_allocations++;
  *out = ptr;
  return MEMPOOLS_OK;
}

// Forgets an addon block (freed, moved or adopted).
void TakeAddonBlock(TlsfState* s, int region, size_t offset, size_t usable) {
  MarkAddonBlock(s, region, offset, false);
  s->addon_used -= usable;
  s->addon_allocations--;
}

int Alloc(PoolState* state, size_t size, void** out) {
  TlsfState* s = Tlsf(state);
  PoolGuard guard(s->lock);
  return GiveAddonBlock(s, tlsf_malloc(s->tlsf, size), out);
}

int Free(PoolState* state, void* ptr) {
  TlsfState* s = Tlsf(state);
  PoolGuard guard(s->lock);
  int region;
  size_t offset;
  if (!LocateAddonBlock(s, ptr, &region, &offset)) return MEMPOOLS_ERR_INVALID;
  size_t usable = tlsf_usable_size(s->tlsf, ptr);
  if (tlsf_free_at(s->tlsf, region, offset) != TLSF_OK) return MEMPOOLS_ERR_INVALID;
  TakeAddonBlock(s, region, offset, usable);
  return MEMPOOLS_OK;
}

int Realloc(PoolState* state, void* ptr, size_t size, void** out) {
  TlsfState* s = Tlsf(state);
  PoolGuard guard(s->lock);
  int region;
  size_t offset;
  if (!LocateAddonBlock(s, ptr, &region, &offset)) return MEMPOOLS_ERR_INVALID;
  size_t usable = tlsf_usable_size(s->tlsf, ptr);
  void* moved = nullptr;
  int status = tlsf_realloc(s->tlsf, ptr, size, &moved);
  if (status == TLSF_ERR_NOMEM) return MEMPOOLS_ERR_NOMEM;
  if (status != TLSF_OK) return MEMPOOLS_ERR_INVALID;
  TakeAddonBlock(s, region, offset, usable);
  return GiveAddonBlock(s, moved, out);
}

int UsableSize(PoolState* state, const void* ptr, size_t* out) {
  TlsfState* s = Tlsf(state);
  PoolGuard guard(s->lock);
  int region;
  size_t offset;
  if (!LocateAddonBlock(s, ptr, &region, &offset)) return MEMPOOLS_ERR_INVALID;
  *out = tlsf_usable_size(s->tlsf, ptr);
  return MEMPOOLS_OK;
}

int HandleOf(PoolState* state, const void* ptr, mempools_handle_t* out) {
  TlsfState* s = Tlsf(state);
  PoolGuard guard(s->lock);
  int region;
  size_t offset;
  if (!LocateAddonBlock(s, ptr, &region, &offset)) return MEMPOOLS_ERR_INVALID;
  *out = {static_cast<uint32_t>(region), offset};
  return MEMPOOLS_OK;
}

int PointerOf(PoolState* state, mempools_handle_t where, void** out) {
  TlsfState* s = Tlsf(state);
  PoolGuard guard(s->lock);
  if (where.chunk >= TLSF_MAX_REGIONS || where.offset > SIZE_MAX ||
      !IsAddonBlock(s, static_cast<int>(where.chunk), static_cast<size_t>(where.offset))) {
    return MEMPOOLS_ERR_INVALID;
  }
  *out = tlsf_pointer(s->tlsf, static_cast<int>(where.chunk), static_cast<size_t>(where.offset));
  return MEMPOOLS_OK;
}

void FreePinned(PoolState* state) { Tlsf(state)->FreePinnedMemory(); }

const HandleOps kOps = {MEMPOOLS_KIND_TLSF, Alloc, Free, Realloc, UsableSize, HandleOf, PointerOf, FreePinned, nullptr};

// The TLSF state behind argument 0, destroyed or not (nativeHandle is made for either).
TlsfState* AnyStateOf(const Napi::CallbackInfo& info) {
  PoolTable* table = static_cast<PoolTable*>(info.Data());
  PoolState* state = table->State(info[0].As<Napi::Number>().Int32Value());
  return state != nullptr && state->kind == TlsfState::kKind ? static_cast<TlsfState*>(state) : nullptr;
}

TlsfState* LiveStateOf(const Napi::CallbackInfo& info) {
  TlsfState* state = AnyStateOf(info);
  return state != nullptr && !state->destroyed ? state : nullptr;
}

// The usable size of the addon block at arguments (handle, region, offset),
// or why there is none; `adopt`: it becomes JavaScript's.
Napi::Value AddonBlock(const Napi::CallbackInfo& info, bool adopt) {
  TlsfState* s = LiveStateOf(info);
  if (s == nullptr) return Napi::Number::New(info.Env(), TLSF_ERR_INVALID);
  int region = info[1].As<Napi::Number>().Int32Value();
  double at = info[2].As<Napi::Number>().DoubleValue();
  PoolGuard guard(s->lock);
  if (!(at >= 0 && at < 4294967296.0) || !IsAddonBlock(s, region, static_cast<size_t>(at))) {
    int status = TLSF_ERR_FOREIGN;
    if (at >= 0 && at < 4294967296.0 && region >= 0 && region < TLSF_MAX_REGIONS) {
      status = tlsf_block_state(s->tlsf, region, static_cast<size_t>(at));
    }
    // A live block that is not an addon's belongs to JavaScript: foreign here.
    return Napi::Number::New(info.Env(), status == TLSF_ERR_DOUBLE_FREE ? status : TLSF_ERR_FOREIGN);
  }
  size_t offset = static_cast<size_t>(at);
  size_t usable = tlsf_usable_size(s->tlsf, tlsf_pointer(s->tlsf, region, offset));
  if (adopt) TakeAddonBlock(s, region, offset, usable);
  return Napi::Number::New(info.Env(), static_cast<double>(usable));
}

}  // namespace

Napi::Value TlsfNativeHandle(const Napi::CallbackInfo& info) {
  TlsfState* s = AnyStateOf(info);
  if (s == nullptr) return info.Env().Undefined();
  {
    PoolGuard guard(s->lock);
    for (int id = 0; id < TLSF_MAX_REGIONS; id++) {
      if (s->present[id] && !AddAddonMap(s, id)) return Napi::Number::New(info.Env(), -(ENOMEM + kSysCalloc * kSysBase));
    }
  }
  napi_value handle;
  if (MakeNativeHandle(info.Env(), s, &kOps, s->lock.enabled(), &handle) != napi_ok) return info.Env().Undefined();
  return Napi::Value(info.Env(), handle);
}

Napi::Value TlsfAddonBlock(const Napi::CallbackInfo& info) { return AddonBlock(info, false); }

Napi::Value TlsfAdopt(const Napi::CallbackInfo& info) { return AddonBlock(info, true); }

}  // namespace mempools
