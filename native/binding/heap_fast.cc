// heap_fast.cc — the heap pool's hot path through the scratch array (see
// tlsf_fast.cc for why: number arguments cost more than the call itself).
//   alloc():   scratch = [handle, size, flags]         -> [chunk, offset, created]
//   realloc(): scratch = [handle, chunk, offset, size] -> [chunk, offset, created]
//   free():    scratch = [handle, chunk, offset]       -> [status]
// On failure scratch[0] is a negative heap_pool_status. `created` is 1 when
// the returned chunk has no ArrayBuffer yet (a new chunk, or a new incarnation
// of a released chunk id): JavaScript then fetches it (chunkBuffer).
// flags is 0 or HEAP_POOL_ZERO. Out-of-range values are refused with
// _INVALID / _FOREIGN.
#include "heap_fast.hh"

#include "heap_state.hh"
#include "scratch_call.hh"

namespace mempools {

namespace {

bool IsChunk(double value) { return value >= 0 && value < HEAP_POOL_NO_CHUNK; }

HeapState* StateOf(napi_env env, napi_callback_info info, double** scratch) {
  PoolTable* table = ScratchTable(env, info);
  *scratch = table->scratch();
  return table->Live<HeapState>(static_cast<int32_t>((*scratch)[0]));
}

// Writes an allocating call's outcome into the scratch array.
void Report(const HeapState* state, double* s, int status, const heap_pool_ref_t& ref) {
  if (status != HEAP_POOL_OK) {
    s[0] = status;
    return;
  }
  s[0] = ref.chunk;
  s[1] = static_cast<double>(ref.offset);
  s[2] = ref.chunk >= state->chunks.size() || state->chunks[ref.chunk].entry == nullptr ? 1 : 0;
}

napi_value Alloc(napi_env env, napi_callback_info info) {
  double* s;
  HeapState* state = StateOf(env, info, &s);
  if (state == nullptr || !IsSize(s[1]) || !(s[2] == 0 || s[2] == HEAP_POOL_ZERO)) {
    s[0] = HEAP_POOL_ERR_INVALID;
    return nullptr;
  }
  heap_pool_ref_t ref;
  PoolGuard guard(*state->lock);
  int status = heap_pool_alloc_ref(state->pool, static_cast<size_t>(s[1]), static_cast<unsigned>(s[2]), &ref);
  Report(state, s, status, ref);
  return nullptr;
}

napi_value Realloc(napi_env env, napi_callback_info info) {
  double* s;
  HeapState* state = StateOf(env, info, &s);
  if (state == nullptr || !IsSize(s[3])) {
    s[0] = HEAP_POOL_ERR_INVALID;
    return nullptr;
  }
  if (!IsChunk(s[1]) || !IsSize(s[2])) {
    s[0] = HEAP_POOL_ERR_FOREIGN;
    return nullptr;
  }
  heap_pool_ref_t ref;
  PoolGuard guard(*state->lock);
  int status = heap_pool_realloc_at(state->pool, static_cast<uint32_t>(s[1]), static_cast<size_t>(s[2]),
                                    static_cast<size_t>(s[3]), &ref);
  Report(state, s, status, ref);
  return nullptr;
}

napi_value Free(napi_env env, napi_callback_info info) {
  double* s;
  HeapState* state = StateOf(env, info, &s);
  if (state == nullptr) {
    s[0] = HEAP_POOL_ERR_INVALID;
  } else if (!IsChunk(s[1]) || !IsSize(s[2])) {
    s[0] = HEAP_POOL_ERR_FOREIGN;
  } else {
    PoolGuard guard(*state->lock);
    s[0] = heap_pool_free_at(state->pool, static_cast<uint32_t>(s[1]), static_cast<size_t>(s[2]));
  }
  return nullptr;
}

}  // namespace

napi_status InitHeapFast(napi_env env, napi_value heap, PoolTable* table, napi_value scratch) {
  static const HotCall calls[] = {{"alloc", Alloc}, {"realloc", Realloc}, {"free", Free}};
  return DefineHotCalls(env, heap, table, scratch, calls);
}

}  // namespace mempools
