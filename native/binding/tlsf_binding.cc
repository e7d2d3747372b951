// tlsf_binding.cc — the TLSF pool's flat N-API functions.
//
// Every function takes numbers: (handle[, region, offset][, size...]).
// Results are numbers too:
//   allocation  -> region * 2**40 + offset (>= 0) or a negative tlsf_status
//   free etc.   -> a tlsf_status (0 = TLSF_OK)
//   addRegion   -> region id, a negative tlsf_status, or -(errno + syscall * kSysBase)
// No C++ exceptions (NAPI_DISABLE_CPP_EXCEPTIONS): a wrong argument type leaves
// a pending JavaScript exception and the function returns early; the
// TypeScript layer validates everything before it calls in, so that path is
// only a safety net.
#include "tlsf_binding.hh"

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "flat_call.hh"
#include "tlsf.h"
#include "tlsf_fast.hh"
#include "tlsf_handle.hh"
#include "tlsf_state.hh"

namespace mempools {

namespace {

constexpr double kRegionFactor = 1099511627776.0;  // 2**40: region * 2**40 + offset
constexpr double kMaxSafe = 9007199254740991.0;
constexpr int kSysBase = 1000;  // -(errno + syscall * kSysBase) for OS failures

PoolTable* TableOf(const Napi::CallbackInfo& info) { return static_cast<PoolTable*>(info.Data()); }

int32_t HandleArg(const Napi::CallbackInfo& info) { return info[0].As<Napi::Number>().Int32Value(); }

TlsfState* StateOf(const Napi::CallbackInfo& info) { return TableOf(info)->Live<TlsfState>(HandleArg(info)); }

// The live state's allocator, with its lock (threadSafe pools) held by
// `guard` until the caller returns; nullptr when there is none.
tlsf_t* AllocatorOf(const Napi::CallbackInfo& info, std::unique_lock<PoolLock>* guard) {
  TlsfState* state = StateOf(info);
  if (state == nullptr) return nullptr;
  *guard = std::unique_lock<PoolLock>(state->lock);
  return state->tlsf;
}

// A non-negative safe integer argument as size_t; false when out of range.
bool SizeArg(const Napi::CallbackInfo& info, size_t index, size_t* out) {
  double value = info[index].As<Napi::Number>().DoubleValue();
  if (!(value >= 0 && value <= kMaxSafe)) return false;
  *out = static_cast<size_t>(value);
  return true;
}

Napi::Value Status(const Napi::CallbackInfo& info, int status) {
  return Napi::Number::New(info.Env(), status);
}

// The live block at (handle, region, offset) arguments 0..2, or nullptr.
void* BlockArg(const Napi::CallbackInfo& info, tlsf_t* t) {
  int region = info[1].As<Napi::Number>().Int32Value();
  size_t offset;
  if (!SizeArg(info, 2, &offset)) return nullptr;
  return tlsf_pointer(t, region, offset);
}

// The number an allocating function returns for `ptr` (nullptr: the reason).
Napi::Value Encoded(const Napi::CallbackInfo& info, tlsf_t* t, void* ptr) {
  if (ptr == nullptr) return Status(info, tlsf_is_corrupted(t) ? TLSF_ERR_CORRUPTED : TLSF_ERR_NOMEM);
  int region;
  size_t offset;
  if (tlsf_locate(t, ptr, &region, &offset) != TLSF_OK) return Status(info, TLSF_ERR_CORRUPTED);
  return Napi::Number::New(info.Env(), region * kRegionFactor + static_cast<double>(offset));
}

// create(threadSafe) -> [handle, owner] or a negative number (-(ENOMEM + malloc)).
Napi::Value Create(const Napi::CallbackInfo& info) {
  PoolTable* table = TableOf(info);
  int32_t handle = CreateTlsf(table, info[0].ToBoolean().Value());
  if (handle < 0) {
    return Status(info, -(ENOMEM + static_cast<int>(SysCall::kMalloc) * kSysBase));
  }
  napi_value owner;
  if (table->Owner(info.Env(), table->State(handle), &owner) != napi_ok) return info.Env().Undefined();
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(uint32_t{0}, Napi::Number::New(info.Env(), handle));
  result.Set(uint32_t{1}, Napi::Value(info.Env(), owner));
  return result;
}

Napi::Value AddRegion(const Napi::CallbackInfo& info) {
  TlsfState* state = StateOf(info);
  size_t area;
  if (state == nullptr || !SizeArg(info, 1, &area)) return Status(info, TLSF_ERR_INVALID);
  SysCall failed = SysCall::kNone;
  PoolGuard guard(state->lock);
  int result = AddRegion(state, area, &failed);
  if (failed != SysCall::kNone) result -= static_cast<int>(failed) * kSysBase;
  return Status(info, result);
}

Napi::Value RegionBuffer(const Napi::CallbackInfo& info) {
  TlsfState* state = StateOf(info);
  napi_value buffer;
  if (state == nullptr ||
      RegionBuffer(info.Env(), state, info[1].As<Napi::Number>().Int32Value(), &buffer) != napi_ok) {
    return info.Env().Undefined();
  }
  return Napi::Value(info.Env(), buffer);
}

Napi::Value RemoveRegion(const Napi::CallbackInfo& info) {
  TlsfState* state = StateOf(info);
  if (state == nullptr) return Status(info, TLSF_ERR_INVALID);
  PoolGuard guard(state->lock);
  return Status(info, RemoveRegion(info.Env(), state, info[1].As<Napi::Number>().Int32Value()));
}

Napi::Value Calloc(const Napi::CallbackInfo& info) {
  std::unique_lock<PoolLock> guard;
  tlsf_t* t = AllocatorOf(info, &guard);
  size_t count, size;
  if (t == nullptr || !SizeArg(info, 1, &count) || !SizeArg(info, 2, &size)) return Status(info, TLSF_ERR_INVALID);
  return Encoded(info, t, tlsf_calloc(t, count, size));
}

Napi::Value Memalign(const Napi::CallbackInfo& info) {
  std::unique_lock<PoolLock> guard;
  tlsf_t* t = AllocatorOf(info, &guard);
  size_t size, align;
  if (t == nullptr || !SizeArg(info, 1, &size) || !SizeArg(info, 2, &align)) return Status(info, TLSF_ERR_INVALID);
  return Encoded(info, t, tlsf_memalign(t, align, size));
}

Napi::Value Realloc(const Napi::CallbackInfo& info) {
  std::unique_lock<PoolLock> guard;
  tlsf_t* t = AllocatorOf(info, &guard);
  size_t size;
  if (t == nullptr || !SizeArg(info, 3, &size)) return Status(info, TLSF_ERR_INVALID);
  void* ptr = BlockArg(info, t);
  if (ptr == nullptr) return Status(info, TLSF_ERR_FOREIGN);
  void* out = nullptr;
  int status = tlsf_realloc(t, ptr, size, &out);
  return status == TLSF_OK ? Encoded(info, t, out) : Status(info, status);
}

Napi::Value UsableSize(const Napi::CallbackInfo& info) {
  std::unique_lock<PoolLock> guard;
  tlsf_t* t = AllocatorOf(info, &guard);
  void* ptr = t != nullptr ? BlockArg(info, t) : nullptr;
  return Napi::Number::New(info.Env(), ptr == nullptr ? 0.0 : static_cast<double>(tlsf_usable_size(t, ptr)));
}

// blockState(handle, region, offset) -> tlsf_block_state(): what a rejected free was.
Napi::Value BlockState(const Napi::CallbackInfo& info) {
  std::unique_lock<PoolLock> guard;
  tlsf_t* t = AllocatorOf(info, &guard);
  size_t offset;
  if (t == nullptr || !SizeArg(info, 2, &offset)) return Status(info, TLSF_ERR_INVALID);
  return Status(info, tlsf_block_state(t, info[1].As<Napi::Number>().Int32Value(), offset));
}

// stats() -> [area, used, peakUsed, free, largestFree, allocations, failedAllocations, regions,
//             addonUsed, addonAllocations] (the last two: blocks addons hold through nativeHandle)
Napi::Value Stats(const Napi::CallbackInfo& info) {
  std::unique_lock<PoolLock> guard;
  tlsf_t* t = AllocatorOf(info, &guard);
  if (t == nullptr) return Status(info, TLSF_ERR_INVALID);
  const TlsfState* state = StateOf(info);
  tlsf_stats_t s;
  tlsf_get_stats(t, &s);
  const size_t values[] = {s.area, s.used, s.peak_used, s.free, s.largest_free,
                           s.allocations, s.failed_allocations, s.regions,
                           state->addon_used, state->addon_allocations};
  Napi::Array result = Napi::Array::New(info.Env(), 10);
  for (uint32_t i = 0; i < 10; i++) result.Set(i, Napi::Number::New(info.Env(), static_cast<double>(values[i])));
  return result;
}

int CollectBlock(const tlsf_block_info_t* block, void* user) {
  std::vector<double>* out = static_cast<std::vector<double>*>(user);
  out->push_back(block->region);
  out->push_back(static_cast<double>(block->offset));
  out->push_back(static_cast<double>(block->size));
  out->push_back(block->used ? 1 : 0);
  return 0;
}

// walk() -> Float64Array of [region, offset, size, used] quadruples, or a negative tlsf_status.
Napi::Value Walk(const Napi::CallbackInfo& info) {
  std::unique_lock<PoolLock> guard;
  tlsf_t* t = AllocatorOf(info, &guard);
  if (t == nullptr) return Status(info, TLSF_ERR_INVALID);
  std::vector<double> blocks;
  int status = tlsf_walk(t, CollectBlock, &blocks);
  if (status != TLSF_OK) return Status(info, status);
  Napi::Float64Array result = Napi::Float64Array::New(info.Env(), blocks.size());
  if (!blocks.empty()) memcpy(result.Data(), blocks.data(), blocks.size() * sizeof(double));
  return result;
}

// check() -> null when every invariant holds, else the allocator's description.
Napi::Value Check(const Napi::CallbackInfo& info) {
  std::unique_lock<PoolLock> guard;
  tlsf_t* t = AllocatorOf(info, &guard);
  if (t == nullptr) return Status(info, TLSF_ERR_INVALID);
  const char* why = nullptr;
  if (tlsf_check(t, &why) == TLSF_OK) return info.Env().Null();
  return Napi::String::New(info.Env(), why != nullptr ? why : "unknown corruption");
}

Napi::Value Destroy(const Napi::CallbackInfo& info) {
  PoolTable* table = TableOf(info);
  PoolState* state = table->State(HandleArg(info));
  DetachScope scope(table, DetachArg(info, 1));
  if (state != nullptr) table->Destroy(info.Env(), state);
  return info.Env().Undefined();
}

}  // namespace

void InitTlsf(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch) {
  static const FlatCall calls[] = {
      {"create", Create},   {"addRegion", AddRegion}, {"regionBuffer", RegionBuffer},
      {"removeRegion", RemoveRegion}, {"calloc", Calloc},
      {"memalign", Memalign}, {"realloc", Realloc},
      {"usableSize", UsableSize}, {"blockState", BlockState}, {"stats", Stats}, {"walk", Walk},
      {"check", Check},     {"destroy", Destroy},
      {"nativeHandle", TlsfNativeHandle}, {"addonBlock", TlsfAddonBlock}, {"adopt", TlsfAdopt},
  };
  Napi::Object tlsf = FlatCalls(env, table, calls);

  Napi::Object constants = Napi::Object::New(env);
  constants.Set("regionFactor", Napi::Number::New(env, kRegionFactor));
  constants.Set("sysBase", Napi::Number::New(env, kSysBase));
  constants.Set("maxRegions", Napi::Number::New(env, TLSF_MAX_REGIONS));
  constants.Set("maxRequest", Napi::Number::New(env, static_cast<double>(TLSF_MAX_REQUEST)));
  constants.Set("regionMin", Napi::Number::New(env, TLSF_REGION_MIN));
  constants.Set("blockOverhead", Napi::Number::New(env, TLSF_BLOCK_OVERHEAD));
  constants.Set("minBlock", Napi::Number::New(env, TLSF_MIN_BLOCK));
  tlsf.Set("constants", constants);
  InitTlsfFast(env, tlsf, table, scratch);  // alloc and free, in raw N-API
  exports.Set("tlsf", tlsf);
}

}  // namespace mempools
