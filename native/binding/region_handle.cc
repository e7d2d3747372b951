// region_handle.cc — see region_handle.hh. The region pool counts every
// allocation itself (RegionPool keeps no counters or cache), so an addon's
// blocks are plain blocks of the pool: JavaScript may free them by handle and
// the addon may free JavaScript's by pointer (a stale one is refused as the C
// pool refuses it). reset() and destroy() take addon blocks with the rest.
#include "region_handle.hh"

#include "mempools.h"
#include "native_handle.hh"
#include "region_state.hh"

namespace mempools {

namespace {

RegionState* Region(PoolState* state) { return static_cast<RegionState*>(state); }

int StatusOf(int region_status) {
  if (region_status == REGION_POOL_OK) return MEMPOOLS_OK;
  return region_status == REGION_POOL_ERR_NOMEM ? MEMPOOLS_ERR_NOMEM : MEMPOOLS_ERR_INVALID;
}

// The live allocation starting at `ptr` (its handle in *ref, size included).
int FindBlock(const RegionState* s, const void* ptr, region_pool_ref_t* ref) {
  if (region_pool_locate(s->pool, ptr, ref) != REGION_POOL_OK) return MEMPOOLS_ERR_INVALID;
  return StatusOf(region_pool_state_at(s->pool, ref->chunk, ref->offset, ref->gen, &ref->size));
}

// The live allocation starting at (chunk, offset).
int FindBlockAt(const RegionState* s, uint32_t chunk, uint64_t offset, region_pool_ref_t* ref) {
  region_pool_chunk_info_t info;
  if (region_pool_chunk_info(s->pool, chunk, &info) != REGION_POOL_OK || offset >= info.bytes) {
    return MEMPOOLS_ERR_INVALID;
  }
  int status = FindBlock(s, static_cast<char*>(info.base) + offset, ref);
  return status == MEMPOOLS_OK && ref->chunk == chunk ? MEMPOOLS_OK : MEMPOOLS_ERR_INVALID;
}

int Alloc(PoolState* state, size_t size, void** out) {
  RegionState* s = Region(state);
  region_pool_ref_t ref;
  int status = StatusOf(region_pool_alloc_ref(s->pool, size, 0, 0, &ref));
  s->created = REGION_POOL_NO_CHUNK;  // JavaScript finds an unknown chunk by its missing buffer
  if (status == MEMPOOLS_OK) *out = ref.ptr;
  return status;
}

int Free(PoolState* state, void* ptr) { return StatusOf(region_pool_free(Region(state)->pool, ptr)); }

int Realloc(PoolState* state, void* ptr, size_t size, void** out) {
  RegionState* s = Region(state);
  region_pool_ref_t ref;
  int status = FindBlock(s, ptr, &ref);
  if (status == MEMPOOLS_OK) status = StatusOf(region_pool_realloc_at(s->pool, ref.chunk, ref.offset, ref.gen, size, &ref));
  s->created = REGION_POOL_NO_CHUNK;
  if (status == MEMPOOLS_OK) *out = ref.ptr;
  return status;
}

int UsableSize(PoolState* state, const void* ptr, size_t* out) {
  region_pool_ref_t ref;
  int status = FindBlock(Region(state), ptr, &ref);
  if (status == MEMPOOLS_OK) *out = ref.size;
  return status;
}

int HandleOf(PoolState* state, const void* ptr, mempools_handle_t* out) {
  region_pool_ref_t ref;
  int status = FindBlock(Region(state), ptr, &ref);
  if (status == MEMPOOLS_OK) *out = {ref.chunk, ref.offset};
  return status;
}

int PointerOf(PoolState* state, mempools_handle_t where, void** out) {
  region_pool_ref_t ref;
  int status = FindBlockAt(Region(state), where.chunk, where.offset, &ref);
  if (status == MEMPOOLS_OK) *out = ref.ptr;
  return status;
}

void FreePinned(PoolState* state) { Region(state)->FreePinnedMemory(); }

const HandleOps kOps = {MEMPOOLS_KIND_REGION, Alloc, Free, Realloc, UsableSize, HandleOf, PointerOf, FreePinned, nullptr};

PoolState* AnyStateOf(const Napi::CallbackInfo& info) {
  PoolState* state = static_cast<PoolTable*>(info.Data())->State(info[0].As<Napi::Number>().Int32Value());
  return state != nullptr && state->kind == RegionState::kKind ? state : nullptr;
}

}  // namespace

Napi::Value RegionNativeHandle(const Napi::CallbackInfo& info) {
  PoolState* state = AnyStateOf(info);
  napi_value handle;
  if (state == nullptr || MakeNativeHandle(info.Env(), state, &kOps, false, &handle) != napi_ok) {
    return info.Env().Undefined();
  }
  return Napi::Value(info.Env(), handle);
}

Napi::Value RegionBlockAt(const Napi::CallbackInfo& info) {
  PoolState* state = AnyStateOf(info);
  double chunk = info[1].As<Napi::Number>().DoubleValue();
  double offset = info[2].As<Napi::Number>().DoubleValue();
  region_pool_ref_t ref;
  if (state == nullptr || state->destroyed) return Napi::Number::New(info.Env(), REGION_POOL_ERR_INVALID);
  if (!(chunk >= 0 && chunk < REGION_POOL_NO_CHUNK && offset >= 0 && offset < 9007199254740992.0) ||
      FindBlockAt(Region(state), static_cast<uint32_t>(chunk), static_cast<uint64_t>(offset), &ref) != MEMPOOLS_OK) {
    return Napi::Number::New(info.Env(), REGION_POOL_ERR_FOREIGN);
  }
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(uint32_t{0}, Napi::Number::New(info.Env(), static_cast<double>(ref.gen)));
  result.Set(uint32_t{1}, Napi::Number::New(info.Env(), static_cast<double>(ref.size)));
  return result;
}

}  // namespace mempools
