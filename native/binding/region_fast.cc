// region_fast.cc — the region pool's hot path through the scratch array (see
// tlsf_fast.cc for why: number arguments cost more than the call itself).
//   alloc():   scratch = [handle, size, flags, align]       -> [chunk, offset, gen, created]
//   realloc(): scratch = [handle, chunk, offset, gen, size] -> [chunk, offset, gen, created]
//   free():    scratch = [handle, chunk, offset, gen]       -> [status]
// On failure scratch[0] is a negative region_pool_status. `created` is 1 when
// the call made the returned chunk (JavaScript then fetches its ArrayBuffer).
// flags are REGION_POOL_UNALIGNED / _ZERO / _MEMALIGN; align is read only with
// _MEMALIGN. Out-of-range values are refused with _INVALID / _FOREIGN.
#include "region_fast.hh"

#include "region_state.hh"
#include "scratch_call.hh"

namespace mempools {

namespace {

bool IsChunk(double value) { return value >= 0 && value < REGION_POOL_NO_CHUNK; }

RegionState* StateOf(napi_env env, napi_callback_info info, double** scratch) {
  PoolTable* table = ScratchTable(env, info);
  *scratch = table->scratch();
  return table->Live<RegionState>(static_cast<int32_t>((*scratch)[0]));
}

// Writes an allocating call's outcome into the scratch array.
void Report(RegionState* state, double* s, int status, const region_pool_ref_t& ref) {
  if (status != REGION_POOL_OK) {
    s[0] = status;
  } else {
    s[0] = ref.chunk;
    s[1] = static_cast<double>(ref.offset);
    s[2] = static_cast<double>(ref.gen);
    // New to JavaScript: made by this call, or by an addon through nativeHandle
    // since (no ArrayBuffer for this incarnation of the chunk yet).
    s[3] = state->created == ref.chunk || ref.chunk >= state->chunks.size() || state->chunks[ref.chunk].entry == nullptr ? 1 : 0;
  }
  state->created = REGION_POOL_NO_CHUNK;
}

napi_value Alloc(napi_env env, napi_callback_info info) {
  double* s;
  RegionState* state = StateOf(env, info, &s);
  if (state == nullptr || !IsSize(s[1]) || !(s[2] >= 0 && s[2] < 8) || !IsSize(s[3])) {
    s[0] = REGION_POOL_ERR_INVALID;
    return nullptr;
  }
  region_pool_ref_t ref;
  int status = region_pool_alloc_ref(state->pool, static_cast<size_t>(s[1]), static_cast<size_t>(s[3]),
                                     static_cast<unsigned>(s[2]), &ref);
  Report(state, s, status, ref);
  return nullptr;
}

napi_value Realloc(napi_env env, napi_callback_info info) {
  double* s;
  RegionState* state = StateOf(env, info, &s);
  if (state == nullptr || !IsSize(s[4])) {
    s[0] = REGION_POOL_ERR_INVALID;
    return nullptr;
  }
  if (!IsChunk(s[1]) || !IsSize(s[2]) || !IsSize(s[3])) {
    s[0] = REGION_POOL_ERR_FOREIGN;
    return nullptr;
  }
  region_pool_ref_t ref;
  int status = region_pool_realloc_at(state->pool, static_cast<uint32_t>(s[1]), static_cast<size_t>(s[2]),
                                      static_cast<uint64_t>(s[3]), static_cast<size_t>(s[4]), &ref);
  Report(state, s, status, ref);
  return nullptr;
}

napi_value Free(napi_env env, napi_callback_info info) {
  double* s;
  RegionState* state = StateOf(env, info, &s);
  if (state == nullptr) {
    s[0] = REGION_POOL_ERR_INVALID;
  } else if (!IsChunk(s[1]) || !IsSize(s[2]) || !IsSize(s[3])) {
    s[0] = REGION_POOL_ERR_FOREIGN;
  } else {
    s[0] = region_pool_free_at(state->pool, static_cast<uint32_t>(s[1]), static_cast<size_t>(s[2]),
                               static_cast<uint64_t>(s[3]));
  }
  return nullptr;
}

}  // namespace

napi_status InitRegionFast(napi_env env, napi_value region, PoolTable* table, napi_value scratch) {
  static const HotCall calls[] = {{"alloc", Alloc}, {"realloc", Realloc}, {"free", Free}};
  return DefineHotCalls(env, region, table, scratch, calls);
}

}  // namespace mempools
