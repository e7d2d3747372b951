// tlsf_binding.cc — everything TlsfPool calls in the addon, in three parts:
// its nativeHandle adapter (HandleOps + the flat calls that make, view and
// adopt addon blocks), its hot calls (alloc, free through the scratch array)
// and its flat calls (one function per operation, InitTlsf). State: tlsf_state.hh.
//
// The nativeHandle adapter (see native_handle.hh). Addons get only blocks they allocated
// through the handle (the addon bitmap): a block JavaScript holds or keeps in
// its free-list cache is never theirs to free, so the JavaScript side's
// counters and cache stay exact.
//
// Hot calls: the TLSF hot path: alloc and free through a scratch array.
//
// Reading number arguments through napi_get_cb_info/napi_get_value_double and
// returning a number costs 40–70 ns here, twice a bare N-API call (≈ 20 ns). So
// the hot functions take no arguments: JavaScript writes them into `scratch`, a
// Float64Array over memory the PoolTable owns (one per environment, so workers
// each have their own; the region pool's hot calls share it), calls, and reads
// the result from scratch[0]:
//   alloc():  scratch = [handle, size]           -> [region * 2**40 + offset | negative tlsf_status]
//   free():   scratch = [handle, region, offset] -> [tlsf_status]
// The TypeScript layer validates arguments before it writes them; values that
// are still out of range here are refused with TLSF_ERR_INVALID / TLSF_ERR_FOREIGN.
//
// Flat calls: the TLSF pool's flat N-API functions.
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
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "binding.hh"
#include "native_handle.hh"
#include "mempools.h"
#include "tlsf.h"
#include "tlsf_state.hh"

namespace mempools {

// ======================================================== flat calls
namespace {

TlsfState* Tlsf(PoolState* state) { return static_cast<TlsfState*>(state); }

// Addon blocks carry the TLSF tag (tlsf.h "tags"): set when the nativeHandle
// allocates, cleared by every free and by adoption; addon_allocations counts them.

// Whether an addon holds the block at (region, offset). Lock held.
bool IsAddonBlock(const TlsfState* s, int region, size_t offset) {
  return tlsf_tagged(s->tlsf, region, offset) == TLSF_OK;  // validates the region and the offset
}

// Records a block tlsf just handed out (tagged) to an addon.
int GiveAddonBlock(TlsfState* s, void* ptr, void** out) {
  if (ptr == nullptr) return MEMPOOLS_ERR_NOMEM;
  s->addon_allocations++;
  *out = ptr;
  return MEMPOOLS_OK;
}

// An addon block found by address (the nativeHandle holds the lock); `found`
// false when ptr is none.
struct AddonBlockAt {
  AddonBlockAt(PoolState* state, const void* ptr) : s(Tlsf(state)) {
    found = tlsf_locate(s->tlsf, ptr, &region, &offset) == TLSF_OK && IsAddonBlock(s, region, offset);
  }
  TlsfState* s;
  int region = 0;
  size_t offset = 0;
  bool found;
};

int Alloc(PoolState* state, size_t size, void** out) {
  TlsfState* s = Tlsf(state);
  return GiveAddonBlock(s, tlsf_malloc_tagged(s->tlsf, size), out);
}

int Free(PoolState* state, void* ptr) {
  TlsfState* s = Tlsf(state);
  if (tlsf_free_tagged(s->tlsf, ptr) != TLSF_OK) return MEMPOOLS_ERR_INVALID;
  s->addon_allocations--;
  return MEMPOOLS_OK;
}

int Realloc(PoolState* state, void* ptr, size_t size, void** out) {
  AddonBlockAt b(state, ptr);
  if (!b.found) return MEMPOOLS_ERR_INVALID;
  void* moved = nullptr;
  int status = tlsf_realloc(b.s->tlsf, ptr, size, &moved);
  if (status == TLSF_ERR_NOMEM) return MEMPOOLS_ERR_NOMEM;
  if (status != TLSF_OK) return MEMPOOLS_ERR_INVALID;
  if (moved != ptr) {  // a moved block is untagged: tag it
    int region;
    size_t offset;
    if (tlsf_locate(b.s->tlsf, moved, &region, &offset) != TLSF_OK ||
        tlsf_set_tag(b.s->tlsf, region, offset, 1) != TLSF_OK) {
      return MEMPOOLS_ERR_INVALID;  // never: tlsf just placed it
    }
  }
  *out = moved;
  return MEMPOOLS_OK;
}

int UsableSize(PoolState* state, const void* ptr, size_t* out) {
  AddonBlockAt b(state, ptr);
  if (!b.found) return MEMPOOLS_ERR_INVALID;
  *out = tlsf_usable_size(b.s->tlsf, ptr);
  return MEMPOOLS_OK;
}

int HandleOf(PoolState* state, const void* ptr, mempools_handle_t* out) {
  AddonBlockAt b(state, ptr);
  if (!b.found) return MEMPOOLS_ERR_INVALID;
  *out = {static_cast<uint32_t>(b.region), b.offset};
  return MEMPOOLS_OK;
}

int PointerOf(PoolState* state, mempools_handle_t where, void** out) {
  TlsfState* s = Tlsf(state);
  if (where.chunk >= TLSF_MAX_REGIONS || where.offset > SIZE_MAX ||
      !IsAddonBlock(s, static_cast<int>(where.chunk), static_cast<size_t>(where.offset))) {
    return MEMPOOLS_ERR_INVALID;
  }
  *out = tlsf_pointer(s->tlsf, static_cast<int>(where.chunk), static_cast<size_t>(where.offset));
  return MEMPOOLS_OK;
}

void FreePinned(PoolState* state) { Tlsf(state)->FreePinnedMemory(); }

constexpr HandleOps kOps = {MEMPOOLS_KIND_TLSF, Alloc,     Free,       Realloc, UsableSize,
                            HandleOf,           PointerOf, FreePinned, nullptr};

// The usable size of the addon block at arguments (handle, region, offset),
// or why there is none; `adopt`: it becomes JavaScript's.
Napi::Value AddonBlock(const Napi::CallbackInfo& info, bool adopt) {
  TlsfState* s = StateOf<TlsfState>(info);
  if (s == nullptr) return Napi::Number::New(info.Env(), TLSF_ERR_INVALID);
  int region = info[1].As<Napi::Number>().Int32Value();
  double at = info[2].As<Napi::Number>().DoubleValue();
  PoolGuard guard(*s->lock);
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
  if (adopt) {
    tlsf_set_tag(s->tlsf, region, offset, 0);
    s->addon_allocations--;
  }
  return Napi::Number::New(info.Env(), static_cast<double>(usable));
}

}  // namespace

Napi::Value TlsfNativeHandle(const Napi::CallbackInfo& info) {
  TlsfState* s = AnyStateOf<TlsfState>(info);
  if (s == nullptr) return info.Env().Undefined();
  napi_value handle;
  if (MakeNativeHandle<kOps>(info.Env(), s, s->lock, false, &handle) != napi_ok) return info.Env().Undefined();
  return Napi::Value(info.Env(), handle);
}

Napi::Value TlsfAddonBlock(const Napi::CallbackInfo& info) { return AddonBlock(info, false); }

Napi::Value TlsfAdopt(const Napi::CallbackInfo& info) { return AddonBlock(info, true); }

// ======================================================== from the hot calls of tlsf_binding.cc
namespace {

constexpr double kRegionFactor = 1099511627776.0;  // 2**40

// The live state's allocator, its lock (threadSafe pools) held by `guard`.
tlsf_t* AllocatorOf(PoolTable* table, double handle, std::unique_lock<PoolLock>* guard) {
  TlsfState* state = table->Live<TlsfState>(static_cast<int32_t>(handle));
  if (state == nullptr) return nullptr;
  *guard = std::unique_lock<PoolLock>(*state->lock);
  return state->tlsf;
}

napi_value Alloc(napi_env env, napi_callback_info info) {
  PoolTable* table = ScratchTable(env, info);
  double* s = table->scratch();
  std::unique_lock<PoolLock> guard;
  tlsf_t* t = AllocatorOf(table, s[0], &guard);
  if (t == nullptr || !IsSize(s[1])) {
    s[0] = TLSF_ERR_INVALID;
    return nullptr;
  }
  void* ptr = tlsf_malloc(t, static_cast<size_t>(s[1]));
  int region;
  size_t offset;
  if (ptr == nullptr) {
    s[0] = tlsf_is_corrupted(t) ? TLSF_ERR_CORRUPTED : TLSF_ERR_NOMEM;
  } else if (tlsf_locate(t, ptr, &region, &offset) != TLSF_OK) {
    s[0] = TLSF_ERR_CORRUPTED;
  } else {
    s[0] = region * kRegionFactor + static_cast<double>(offset);
  }
  return nullptr;
}

napi_value Free(napi_env env, napi_callback_info info) {
  PoolTable* table = ScratchTable(env, info);
  double* s = table->scratch();
  std::unique_lock<PoolLock> guard;
  tlsf_t* t = AllocatorOf(table, s[0], &guard);
  if (t == nullptr) {
    s[0] = TLSF_ERR_INVALID;
  } else if (!(s[1] >= 0 && s[1] < TLSF_MAX_REGIONS) || !IsSize(s[2])) {
    s[0] = TLSF_ERR_FOREIGN;
  } else {
    s[0] = tlsf_free_at(t, static_cast<int>(s[1]), static_cast<size_t>(s[2]));
  }
  return nullptr;
}

}  // namespace

napi_status InitTlsfFast(napi_env env, napi_value tlsf, PoolTable* table, napi_value scratch) {
  static const HotCall calls[] = {{"alloc", Alloc}, {"free", Free}};
  return DefineHotCalls(env, tlsf, table, scratch, calls);
}

// ======================================================== flat calls
namespace {

constexpr double kMaxSafe = 9007199254740991.0;

int32_t HandleArg(const Napi::CallbackInfo& info) { return info[0].As<Napi::Number>().Int32Value(); }

// The live state's allocator, with its lock (threadSafe pools) held by
// `guard` until the caller returns; nullptr when there is none.
tlsf_t* AllocatorOf(const Napi::CallbackInfo& info, std::unique_lock<PoolLock>* guard) {
  TlsfState* state = StateOf<TlsfState>(info);
  if (state == nullptr) return nullptr;
  *guard = std::unique_lock<PoolLock>(*state->lock);
  return state->tlsf;
}

// A non-negative safe integer argument as size_t; false when out of range.
bool SizeArg(const Napi::CallbackInfo& info, size_t index, size_t* out) {
  double value = info[index].As<Napi::Number>().DoubleValue();
  if (!(value >= 0 && value <= kMaxSafe)) return false;
  *out = static_cast<size_t>(value);
  return true;
}

Napi::Value Status(const Napi::CallbackInfo& info, int status) { return Napi::Number::New(info.Env(), status); }

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
  TlsfState* state = StateOf<TlsfState>(info);
  size_t area;
  if (state == nullptr || !SizeArg(info, 1, &area)) return Status(info, TLSF_ERR_INVALID);
  SysCall failed = SysCall::kNone;
  PoolGuard guard(*state->lock);
  int result = AddRegion(state, area, &failed);
  if (failed != SysCall::kNone) result -= static_cast<int>(failed) * kSysBase;
  return Status(info, result);
}

Napi::Value RegionBuffer(const Napi::CallbackInfo& info) {
  TlsfState* state = StateOf<TlsfState>(info);
  napi_value buffer;
  if (state == nullptr ||
      RegionBuffer(info.Env(), state, info[1].As<Napi::Number>().Int32Value(), &buffer) != napi_ok) {
    return info.Env().Undefined();
  }
  return Napi::Value(info.Env(), buffer);
}

Napi::Value RemoveRegion(const Napi::CallbackInfo& info) {
  TlsfState* state = StateOf<TlsfState>(info);
  if (state == nullptr) return Status(info, TLSF_ERR_INVALID);
  PoolGuard guard(*state->lock);
  return Status(info, RemoveRegion(info.Env(), state, info[1].As<Napi::Number>().Int32Value()));
}

// An allocating call of two size arguments (a, b) -> encoded result or status.
template <void* (*Allocate)(tlsf_t*, size_t, size_t)>
Napi::Value AllocateTwo(const Napi::CallbackInfo& info) {
  std::unique_lock<PoolLock> guard;
  tlsf_t* t = AllocatorOf(info, &guard);
  size_t a, b;
  if (t == nullptr || !SizeArg(info, 1, &a) || !SizeArg(info, 2, &b)) return Status(info, TLSF_ERR_INVALID);
  return Encoded(info, t, Allocate(t, a, b));
}

// calloc(handle, count, size) and memalign(handle, size, alignment).
void* CallocOf(tlsf_t* t, size_t count, size_t size) { return tlsf_calloc(t, count, size); }
void* MemalignOf(tlsf_t* t, size_t size, size_t align) { return tlsf_memalign(t, align, size); }
const auto Calloc = AllocateTwo<CallocOf>;
const auto Memalign = AllocateTwo<MemalignOf>;

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
//             addonAllocations, resident] (addonAllocations: blocks addons hold through
//             nativeHandle, their bytes are `used` beyond what JavaScript counts; resident:
//             bytes of the regions, their bitmaps and the control structure in RAM, by
//             mincore, O(area / page size))
size_t Resident(const TlsfState* state) {
  size_t bytes = ResidentBytes(state->control, tlsf_control_size());
  for (int id = 0; id < TLSF_MAX_REGIONS; id++)
    if (state->present[id]) bytes += RegionResident(state->regions[id]);
  return bytes;
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  std::unique_lock<PoolLock> guard;
  tlsf_t* t = AllocatorOf(info, &guard);
  if (t == nullptr) return Status(info, TLSF_ERR_INVALID);
  const TlsfState* state = StateOf<TlsfState>(info);
  tlsf_stats_t s;
  tlsf_get_stats(t, &s);
  const Field fields[] = {{"reserved", AsDouble(s.area)},
                          {"used", AsDouble(s.used)},
                          {"peakUsed", AsDouble(s.peak_used)},
                          {"free", AsDouble(s.free)},
                          {"largestFree", AsDouble(s.largest_free)},
                          {"allocations", AsDouble(s.allocations)},
                          {"failedAllocations", AsDouble(s.failed_allocations)},
                          {"regions", AsDouble(s.regions)},
                          {"addonAllocations", AsDouble(state->addon_allocations)},
                          {"resident", AsDouble(Resident(state))}};
  return Fields(info.Env(), fields);
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
  return DoublesArray(info.Env(), blocks);
}

// trim() -> bytes given back to the OS (resident before), or a negative tlsf_status.
// For every free block, the whole pages of what the allocator never reads of it
// (tlsf_free_spare: its bytes but its links and boundary tag, and the start-bitmap
// bytes only they map to). O(free blocks + their pages): tlsf_walk_free.
struct TrimWalk {
  const TlsfState* state;
  double released;
};

int TrimBlock(const tlsf_block_info_t* block, void* user) {
  TrimWalk* walk = static_cast<TrimWalk*>(user);
  const RegionMemory& mem = walk->state->regions[block->region];
  if (mem.base == nullptr || mem.bitmap == nullptr) return 0;
  tlsf_spare_t spare;
  tlsf_free_spare(block, &spare);
  auto* area = static_cast<unsigned char*>(mem.base);
  auto* bitmap = static_cast<unsigned char*>(mem.bitmap);
  walk->released += static_cast<double>(ReleasePages(area + spare.from, spare.to - spare.from));
  walk->released += static_cast<double>(ReleasePages(bitmap + spare.bitmap_from, spare.bitmap_to - spare.bitmap_from));
  return 0;
}

Napi::Value Trim(const Napi::CallbackInfo& info) {
  std::unique_lock<PoolLock> guard;
  tlsf_t* t = AllocatorOf(info, &guard);
  if (t == nullptr) return Status(info, TLSF_ERR_INVALID);
  TrimWalk walk{StateOf<TlsfState>(info), 0};
  int status = tlsf_walk_free(t, TrimBlock, &walk);
  if (status != TLSF_OK) return Status(info, status);
  return Napi::Number::New(info.Env(), walk.released);
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
      {"create", Create},
      {"addRegion", AddRegion},
      {"regionBuffer", RegionBuffer},
      {"removeRegion", RemoveRegion},
      {"calloc", Calloc},
      {"memalign", Memalign},
      {"realloc", Realloc},
      {"usableSize", UsableSize},
      {"blockState", BlockState},
      {"stats", Stats},
      {"trim", Trim},
      {"walk", Walk},
      {"check", Check},
      {"destroy", Destroy},
      {"nativeHandle", TlsfNativeHandle},
      {"addonBlock", TlsfAddonBlock},
      {"adopt", TlsfAdopt},
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
