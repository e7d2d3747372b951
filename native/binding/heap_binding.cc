// heap_binding.cc — the heap pool's flat N-API functions (the allocating
// calls and free are in heap_fast.cc). Every function takes numbers:
// (handle[, chunk]); results are numbers or small arrays of numbers. No C++
// exceptions: the TypeScript layer validates before it calls in.
#include "heap_binding.hh"

#include <mutex>

#include "flat_call.hh"

#include "heap_fast.hh"
#include "heap_handle.hh"
#include "heap_state.hh"
#include "scratch_call.hh"

namespace mempools {

namespace {

PoolTable* TableOf(const Napi::CallbackInfo& info) { return static_cast<PoolTable*>(info.Data()); }

HeapState* StateAt(const Napi::CallbackInfo& info, size_t index) {
  return TableOf(info)->Live<HeapState>(info[index].As<Napi::Number>().Int32Value());
}

Napi::Value Number(const Napi::CallbackInfo& info, double value) { return Napi::Number::New(info.Env(), value); }

// A size_t as a number; SIZE_MAX (unbounded) as -1.
double SizeOrUnbounded(size_t value) { return value == SIZE_MAX ? -1 : static_cast<double>(value); }

// create(capacity, parentHandle | -1, sharedPoolHandle | -1, threadSafe) -> [handle, owner] or a negative heap_pool_status.
Napi::Value Create(const Napi::CallbackInfo& info) {
  PoolTable* table = TableOf(info);
  double capacity = info[0].As<Napi::Number>().DoubleValue();
  HeapState* parent = nullptr;
  if (info[1].As<Napi::Number>().Int32Value() >= 0) {
    parent = StateAt(info, 1);
    if (parent == nullptr) return Number(info, HEAP_POOL_ERR_INVALID);
  }
  ShmState* shm = nullptr;
  if (info.Length() > 2 && info[2].As<Napi::Number>().Int32Value() >= 0) {
    shm = table->Live<ShmState>(info[2].As<Napi::Number>().Int32Value());
    if (shm == nullptr || parent != nullptr) return Number(info, HEAP_POOL_ERR_INVALID);
  }
  if (!IsSize(capacity)) return Number(info, HEAP_POOL_ERR_INVALID);
  bool thread_safe = info.Length() > 3 && info[3].ToBoolean().Value();
  int32_t handle = CreateHeap(table, info.Env(), static_cast<size_t>(capacity), parent, shm, thread_safe);
  if (handle < 0) return Number(info, handle);
  napi_value owner;
  if (table->Owner(info.Env(), table->State(handle), &owner) != napi_ok) return info.Env().Undefined();
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(uint32_t{0}, Number(info, handle));
  result.Set(uint32_t{1}, Napi::Value(info.Env(), owner));
  return result;
}

// chunkBuffer(handle, chunk) -> [ArrayBuffer, class size (0: large block), area offset in the
// segment (-1: none)] for a live chunk, else undefined.
Napi::Value ChunkBuffer(const Napi::CallbackInfo& info) {
  HeapState* state = StateAt(info, 0);
  double id = info[1].As<Napi::Number>().DoubleValue();
  napi_value buffer;
  size_t block = 0;
  double area = -1;
  std::unique_lock<PoolLock> guard;
  if (state != nullptr) guard = std::unique_lock<PoolLock>(*state->lock);
  if (state == nullptr || !(id >= 0 && id < HEAP_POOL_NO_CHUNK) ||
      HeapChunkBuffer(info.Env(), state, static_cast<uint32_t>(id), &buffer, &block, &area) != napi_ok) {
    return info.Env().Undefined();
  }
  Napi::Array result = Napi::Array::New(info.Env(), 3);
  result.Set(uint32_t{0}, Napi::Value(info.Env(), buffer));
  result.Set(uint32_t{1}, Number(info, static_cast<double>(block)));
  result.Set(uint32_t{2}, Number(info, area));
  return result;
}

// stats(handle) -> [capacity (-1: unbounded), reserved, used, peakUsed, allocations, failedAllocations,
//                   classChunks, spareChunks, largeBlocks, lentBytes, children, metadataBytes]
Napi::Value Stats(const Napi::CallbackInfo& info) {
  HeapState* state = StateAt(info, 0);
  if (state == nullptr) return Number(info, HEAP_POOL_ERR_INVALID);
  PoolGuard guard(*state->lock);
  heap_pool_stats_t s;
  heap_pool_get_stats(state->pool, &s);
  const double values[] = {SizeOrUnbounded(s.capacity),
                           static_cast<double>(s.reserved),
                           static_cast<double>(s.used),
                           static_cast<double>(s.peak_used),
                           static_cast<double>(s.allocations),
                           static_cast<double>(s.failed_allocations),
                           static_cast<double>(s.class_chunks),
                           static_cast<double>(s.spare_chunks),
                           static_cast<double>(s.large_blocks),
                           static_cast<double>(s.lent_bytes),
                           static_cast<double>(s.children),
                           static_cast<double>(s.metadata_bytes)};
  constexpr uint32_t count = sizeof values / sizeof values[0];
  Napi::Array result = Napi::Array::New(info.Env(), count);
  for (uint32_t i = 0; i < count; i++) result.Set(i, Number(info, values[i]));
  return result;
}

// availableCapacity(handle) -> capacity - reserved, -1 when unbounded (or a negative status - 1).
Napi::Value AvailableCapacity(const Napi::CallbackInfo& info) {
  HeapState* state = StateAt(info, 0);
  if (state == nullptr) return Number(info, HEAP_POOL_ERR_INVALID - 1);
  PoolGuard guard(*state->lock);
  return Number(info, SizeOrUnbounded(heap_pool_available_capacity(state->pool)));
}

// check(handle) -> null when every invariant holds (the pool's and its children's), else why not.
Napi::Value Check(const Napi::CallbackInfo& info) {
  HeapState* state = StateAt(info, 0);
  if (state == nullptr) return Number(info, HEAP_POOL_ERR_INVALID);
  PoolGuard guard(*state->lock);
  const char* why = nullptr;
  if (heap_pool_check(state->pool, &why) == HEAP_POOL_OK) return info.Env().Null();
  return Napi::String::New(info.Env(), why != nullptr ? why : "unknown corruption");
}

// destroy(handle, detach): the children first, then the pool; memory views
// reach is held (detach, unsafe: detaches the views, frees everything now).
Napi::Value Destroy(const Napi::CallbackInfo& info) {
  HeapState* state = StateAt(info, 0);
  if (state == nullptr) return info.Env().Undefined();
  DetachScope scope(TableOf(info), DetachArg(info, 1));
  // With a nativeHandle (maybe pinned), the children go first explicitly (see heap_handle.hh).
  if (state->native_handle != nullptr) DestroyHeapChildren(info.Env(), TableOf(info), state);
  TableOf(info)->Destroy(info.Env(), state);
  return info.Env().Undefined();
}

}  // namespace

void InitHeap(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch) {
  static const FlatCall calls[] = {
      {"create", Create}, {"chunkBuffer", ChunkBuffer}, {"stats", Stats},
      {"availableCapacity", AvailableCapacity}, {"check", Check}, {"destroy", Destroy},
      {"nativeHandle", HeapNativeHandle}, {"addonBlock", HeapAddonBlock}, {"adopt", HeapAdopt},
      {"addonStats", HeapAddonStats},
  };
  Napi::Object heap = FlatCalls(env, table, calls);

  Napi::Array classes = Napi::Array::New(env, HEAP_POOL_CLASSES);
  for (uint32_t i = 0; i < HEAP_POOL_CLASSES; i++) {
    classes.Set(i, Napi::Number::New(env, static_cast<double>(heap_pool_class_size(i))));
  }
  Napi::Object constants = Napi::Object::New(env);
  constants.Set("classSizes", classes);
  constants.Set("alignment", Napi::Number::New(env, HEAP_POOL_ALIGNMENT));
  constants.Set("granule", Napi::Number::New(env, static_cast<double>(HEAP_POOL_GRANULE)));
  constants.Set("maxRequest", Napi::Number::New(env, static_cast<double>(HEAP_POOL_MAX_REQUEST)));
  constants.Set("zero", Napi::Number::New(env, HEAP_POOL_ZERO));
  heap.Set("constants", constants);
  InitHeapFast(env, heap, table, scratch);  // alloc, realloc and free, in raw N-API
  exports.Set("heap", heap);
}

}  // namespace mempools
