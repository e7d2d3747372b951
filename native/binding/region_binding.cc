// region_binding.cc — the region pool's flat N-API functions (the allocating
// calls and free are in region_fast.cc). Every function takes numbers:
// (handle[, chunk]); results are numbers or small arrays of numbers. No C++
// exceptions: the TypeScript layer validates before it calls in.
#include "region_binding.hh"

#include "flat_call.hh"

#include "region_fast.hh"
#include "region_handle.hh"
#include "region_state.hh"

namespace mempools {

namespace {

PoolTable* TableOf(const Napi::CallbackInfo& info) { return static_cast<PoolTable*>(info.Data()); }

RegionState* StateOf(const Napi::CallbackInfo& info) {
  return TableOf(info)->Live<RegionState>(info[0].As<Napi::Number>().Int32Value());
}

Napi::Value Number(const Napi::CallbackInfo& info, double value) { return Napi::Number::New(info.Env(), value); }

// create(blockSize) -> [handle, owner, maxSmall] or a negative region_pool_status.
Napi::Value Create(const Napi::CallbackInfo& info) {
  PoolTable* table = TableOf(info);
  double block = info[0].As<Napi::Number>().DoubleValue();
  if (!(block >= 0 && block <= REGION_POOL_MAX_BLOCK)) return Number(info, REGION_POOL_ERR_INVALID);
  int32_t handle = CreateRegion(table, info.Env(), static_cast<size_t>(block));
  if (handle < 0) return Number(info, handle);
  RegionState* state = table->Live<RegionState>(handle);
  napi_value owner;
  if (table->Owner(info.Env(), state, &owner) != napi_ok) return info.Env().Undefined();
  Napi::Array result = Napi::Array::New(info.Env(), 3);
  result.Set(uint32_t{0}, Number(info, handle));
  result.Set(uint32_t{1}, Napi::Value(info.Env(), owner));
  result.Set(uint32_t{2}, Number(info, static_cast<double>(region_pool_max_small(state->pool))));
  return result;
}

// chunkBuffer(handle, chunk) -> [ArrayBuffer, isLarge] for a live chunk, else undefined.
Napi::Value ChunkBuffer(const Napi::CallbackInfo& info) {
  RegionState* state = StateOf(info);
  double id = info[1].As<Napi::Number>().DoubleValue();
  region_pool_chunk_info_t chunk;
  napi_value buffer;
  if (state == nullptr || !(id >= 0 && id < REGION_POOL_NO_CHUNK) ||
      region_pool_chunk_info(state->pool, static_cast<uint32_t>(id), &chunk) != REGION_POOL_OK ||
      RegionChunkBuffer(info.Env(), state, static_cast<uint32_t>(id), &buffer) != napi_ok) {
    return info.Env().Undefined();
  }
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(uint32_t{0}, Napi::Value(info.Env(), buffer));
  result.Set(uint32_t{1}, Napi::Boolean::New(info.Env(), chunk.kind == REGION_POOL_CHUNK_LARGE));
  return result;
}

// reset(handle) -> region_pool_status. Large blocks go (held while views reach them).
Napi::Value Reset(const Napi::CallbackInfo& info) {
  RegionState* state = StateOf(info);
  return Number(info, state == nullptr ? REGION_POOL_ERR_INVALID : region_pool_reset(state->pool));
}

// stats(handle) -> [reserved, used, peakUsed, allocations, failedAllocations, blocks, largeBlocks, wasted]
Napi::Value Stats(const Napi::CallbackInfo& info) {
  RegionState* state = StateOf(info);
  if (state == nullptr) return Number(info, REGION_POOL_ERR_INVALID);
  region_pool_stats_t s;
  region_pool_get_stats(state->pool, &s);
  const size_t values[] = {s.reserved, s.used, s.peak_used, s.allocations, s.failed_allocations,
                           s.blocks, s.large_blocks, s.wasted};
  Napi::Array result = Napi::Array::New(info.Env(), 8);
  for (uint32_t i = 0; i < 8; i++) result.Set(i, Number(info, static_cast<double>(values[i])));
  return result;
}

// check(handle) -> null when every invariant holds, else the pool's description.
Napi::Value Check(const Napi::CallbackInfo& info) {
  RegionState* state = StateOf(info);
  if (state == nullptr) return Number(info, REGION_POOL_ERR_INVALID);
  const char* why = nullptr;
  if (region_pool_check(state->pool, &why) == REGION_POOL_OK) return info.Env().Null();
  return Napi::String::New(info.Env(), why != nullptr ? why : "unknown corruption");
}

Napi::Value Destroy(const Napi::CallbackInfo& info) {
  PoolTable* table = TableOf(info);
  RegionState* state = StateOf(info);
  DetachScope scope(table, DetachArg(info, 1));
  if (state != nullptr) table->Destroy(info.Env(), state);
  return info.Env().Undefined();
}

}  // namespace

void InitRegion(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch) {
  static const FlatCall calls[] = {
      {"create", Create}, {"chunkBuffer", ChunkBuffer}, {"reset", Reset},
      {"stats", Stats},   {"check", Check},             {"destroy", Destroy},
      {"nativeHandle", RegionNativeHandle}, {"blockAt", RegionBlockAt},
  };
  Napi::Object region = FlatCalls(env, table, calls);

  Napi::Object constants = Napi::Object::New(env);
  constants.Set("minBlock", Napi::Number::New(env, REGION_POOL_MIN_BLOCK));
  constants.Set("blockGranule", Napi::Number::New(env, REGION_POOL_BLOCK_GRANULE));
  constants.Set("maxBlock", Napi::Number::New(env, static_cast<double>(REGION_POOL_MAX_BLOCK)));
  constants.Set("defaultBlock", Napi::Number::New(env, REGION_POOL_DEFAULT_BLOCK));
  constants.Set("unaligned", Napi::Number::New(env, REGION_POOL_UNALIGNED));
  constants.Set("zero", Napi::Number::New(env, REGION_POOL_ZERO));
  constants.Set("memalign", Napi::Number::New(env, REGION_POOL_MEMALIGN));
  region.Set("constants", constants);
  InitRegionFast(env, region, table, scratch);  // alloc, realloc and free, in raw N-API
  exports.Set("region", region);
}

}  // namespace mempools
