// tlsf_fast.cc — the TLSF hot path: alloc and free through a scratch array.
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
#include "tlsf_fast.hh"

#include <mutex>

#include "tlsf.h"
#include "scratch_call.hh"
#include "tlsf_state.hh"

namespace mempools {

namespace {

constexpr double kRegionFactor = 1099511627776.0;  // 2**40

// The live state's allocator, its lock (threadSafe pools) held by `guard`.
tlsf_t* AllocatorOf(PoolTable* table, double handle, std::unique_lock<PoolLock>* guard) {
  TlsfState* state = table->Live<TlsfState>(static_cast<int32_t>(handle));
  if (state == nullptr) return nullptr;
  *guard = std::unique_lock<PoolLock>(state->lock);
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

}  // namespace mempools
