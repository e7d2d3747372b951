// heap_binding.cc — everything HeapPool calls in the addon: its nativeHandle
// adapter (and the flat calls that view, adopt and count addon blocks), its
// hot calls (alloc, realloc, free through the scratch array) and its flat
// calls (InitHeap). State: heap_state.hh.
//
// The nativeHandle adapter (see native_handle.hh). As for TLSF (tlsf_binding.cc), an addon
// frees only blocks it allocated through the handle (tagged in the heap pool's
// side tables: heap_pool.h "tags"), so a
// block HeapPool holds or keeps in its free-list cache is never freed under it.
// Only a root pool without a segment can be pinned (retain): a child's memory
// is its parent's, and a SharedPool-backed pool's is the segment mapping,
// which neither can keep past their own destroy/close (MEMPOOLS_ERR_UNSUPPORTED).
//
// Hot calls: the heap pool's hot path through the scratch array (see
// the hot calls of tlsf_binding.cc for why: number arguments cost more than the call itself).
//   alloc():   scratch = [handle, size, flags]         -> [chunk, offset, created]
//   realloc(): scratch = [handle, chunk, offset, size] -> [chunk, offset, created]
//   free():    scratch = [handle, chunk, offset]       -> [status]
// On failure scratch[0] is a negative heap_pool_status. `created` is 1 when
// the returned chunk has no ArrayBuffer yet (a new chunk, or a new incarnation
// of a released chunk id): JavaScript then fetches it (chunkBuffer).
// flags is 0 or HEAP_POOL_ZERO. Out-of-range values are refused with
// _INVALID / _FOREIGN.
//
// Flat calls: the heap pool's flat N-API functions (the allocating
// calls and free are the hot calls above). Every function takes numbers:
// (handle[, chunk]); results are numbers or small arrays of numbers. No C++
// exceptions: the TypeScript layer validates before it calls in.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "binding.hh"
#include "native_handle.hh"
#include "heap_state.hh"
#include "mempools.h"

namespace mempools {

// ======================================================== nativeHandle adapter
namespace {

HeapState* Heap(PoolState* state) { return static_cast<HeapState*>(state); }

int StatusOf(int heap_status) {
  if (heap_status == HEAP_POOL_OK) return MEMPOOLS_OK;
  return heap_status == HEAP_POOL_ERR_NOMEM ? MEMPOOLS_ERR_NOMEM : MEMPOOLS_ERR_INVALID;
}

// The ops run with the family's lock held (native_handle.hh) on a state the
// handle holds live, so its heap pool is there: a pool destroyed through its
// parent marks its handle destroyed first (heap_state.cc's OnDestroy). Alloc
// and Free are one jump into the heap pool (its _or calls answer in this ABI's codes).
static_assert(static_cast<int>(HEAP_POOL_OK) == static_cast<int>(MEMPOOLS_OK), "the heap pool's success is the ABI's");

int Alloc(PoolState* state, size_t size, void** out) {
  return heap_pool_malloc_tagged_or(Heap(state)->pool, size, out, MEMPOOLS_ERR_NOMEM);
}

int Free(PoolState* state, void* ptr) { return heap_pool_free_tagged_or(Heap(state)->pool, ptr, MEMPOOLS_ERR_INVALID); }

// The same on the owning thread's fast path, with the heap pool kept in the handle.
void* Target(PoolState* state) { return Heap(state)->pool; }
int TargetAlloc(void* pool, size_t size, void** out) {
  return heap_pool_malloc_tagged_or(static_cast<heap_pool_t*>(pool), size, out, MEMPOOLS_ERR_NOMEM);
}
int TargetFree(void* pool, void* ptr) {
  return heap_pool_free_tagged_or(static_cast<heap_pool_t*>(pool), ptr, MEMPOOLS_ERR_INVALID);
}

// The addon block at ptr (a live tagged block), else why not.
int Tagged(const HeapState* s, const void* ptr, heap_pool_ref_t* ref) {
  if (s->pool == nullptr) return MEMPOOLS_ERR_DESTROYED;
  return heap_pool_tagged(s->pool, ptr, ref) == HEAP_POOL_OK ? MEMPOOLS_OK : MEMPOOLS_ERR_INVALID;
}

int Realloc(PoolState* state, void* ptr, size_t size, void** out) {
  HeapState* s = Heap(state);
  int status = Tagged(s, ptr, nullptr);
  if (status != MEMPOOLS_OK) return status;
  void* moved = nullptr;
  // Size 0 would free the block: keep a minimum block instead, as TLSF does.
  // The tag moves with the block.
  status = heap_pool_realloc(s->pool, ptr, std::max<size_t>(size, 1), &moved);
  if (status != HEAP_POOL_OK) return StatusOf(status);
  *out = moved;
  return MEMPOOLS_OK;
}

int UsableSize(PoolState* state, const void* ptr, size_t* out) {
  heap_pool_ref_t ref;
  int status = Tagged(Heap(state), ptr, &ref);
  if (status == MEMPOOLS_OK) *out = ref.size;
  return status;
}

int HandleOf(PoolState* state, const void* ptr, mempools_handle_t* out) {
  heap_pool_ref_t ref;
  int status = Tagged(Heap(state), ptr, &ref);
  if (status == MEMPOOLS_OK) *out = {ref.chunk, ref.offset};
  return status;
}

// The address of (chunk, offset) when it lies in a live chunk, else nullptr. Lock held.
void* AddressOf(const HeapState* s, double chunk, double offset) {
  heap_pool_chunk_info_t info;
  if (!(chunk >= 0 && chunk < HEAP_POOL_NO_CHUNK && offset >= 0) || s->pool == nullptr ||
      heap_pool_chunk_info(s->pool, static_cast<uint32_t>(chunk), &info) != HEAP_POOL_OK || offset >= info.bytes) {
    return nullptr;
  }
  return static_cast<char*>(info.base) + static_cast<size_t>(offset);
}

int PointerOf(PoolState* state, mempools_handle_t where, void** out) {
  HeapState* s = Heap(state);
  void* ptr = AddressOf(s, where.chunk, static_cast<double>(where.offset));
  int status = ptr != nullptr ? Tagged(s, ptr, nullptr) : MEMPOOLS_ERR_INVALID;
  if (status == MEMPOOLS_OK) *out = ptr;
  return status;
}

void FreePinned(PoolState* state) {
  HeapState* s = Heap(state);
  s->chunks_let_go = true;
  heap_pool_destroy(s->pool);  // a root without children (DestroyRetainers ran) and without a segment
  s->pool = nullptr;
}

int CanPin(PoolState* state) {
  const HeapState* s = Heap(state);
  return s->retained == nullptr && s->shm == nullptr ? MEMPOOLS_OK : MEMPOOLS_ERR_UNSUPPORTED;
}

constexpr HandleOps kOps = {MEMPOOLS_KIND_HEAP, Alloc,      Free,   Realloc, UsableSize,  HandleOf,
                            PointerOf,          FreePinned, CanPin, Target,  TargetAlloc, TargetFree};

// The live state behind argument 0 whose pool was not destroyed through its parent, or nullptr.
HeapState* LiveStateOf(const Napi::CallbackInfo& info) {
  HeapState* state = StateOf<HeapState>(info);
  return state != nullptr && state->pool != nullptr ? state : nullptr;
}

// The usable size of the addon block at arguments (handle, chunk, offset), or
// why there is none; `adopt`: it becomes JavaScript's.
Napi::Value AddonBlock(const Napi::CallbackInfo& info, bool adopt) {
  HeapState* s = LiveStateOf(info);
  if (s == nullptr) return Napi::Number::New(info.Env(), HEAP_POOL_ERR_INVALID);
  double chunk = info[1].As<Napi::Number>().DoubleValue();
  double offset = info[2].As<Napi::Number>().DoubleValue();
  PoolGuard guard(*s->lock);
  void* ptr = AddressOf(s, chunk, offset);
  heap_pool_ref_t ref;
  if (ptr == nullptr || heap_pool_tagged(s->pool, ptr, &ref) != HEAP_POOL_OK) {
    int status = HEAP_POOL_ERR_FOREIGN;
    if (ptr != nullptr)
      status = heap_pool_state_at(s->pool, static_cast<uint32_t>(chunk), static_cast<size_t>(offset), nullptr);
    // A live block that is not an addon's belongs to JavaScript: foreign here.
    return Napi::Number::New(info.Env(), status == HEAP_POOL_ERR_DOUBLE_FREE ? status : HEAP_POOL_ERR_FOREIGN);
  }
  if (adopt) heap_pool_untag(s->pool, ptr);
  return Napi::Number::New(info.Env(), static_cast<double>(ref.size));
}

}  // namespace

Napi::Value HeapNativeHandle(const Napi::CallbackInfo& info) {
  HeapState* s = AnyStateOf<HeapState>(info);
  napi_value handle;
  if (s == nullptr || MakeNativeHandle<kOps>(info.Env(), s, s->lock, false, &handle) != napi_ok) {
    return info.Env().Undefined();
  }
  return Napi::Value(info.Env(), handle);
}

Napi::Value HeapAddonBlock(const Napi::CallbackInfo& info) { return AddonBlock(info, false); }

Napi::Value HeapAdopt(const Napi::CallbackInfo& info) { return AddonBlock(info, true); }

Napi::Value HeapAddonStats(const Napi::CallbackInfo& info) {
  HeapState* s = LiveStateOf(info);
  if (s == nullptr) return Napi::Number::New(info.Env(), HEAP_POOL_ERR_INVALID);
  heap_pool_stats_t stats;
  {
    PoolGuard guard(*s->lock);
    heap_pool_get_stats(s->pool, &stats);
  }
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(uint32_t{0}, Napi::Number::New(info.Env(), static_cast<double>(stats.tagged_bytes)));
  result.Set(uint32_t{1}, Napi::Number::New(info.Env(), static_cast<double>(stats.tagged)));
  return result;
}

// ======================================================== hot calls (scratch array)
namespace {

bool IsChunk(double value) { return value >= 0 && value < HEAP_POOL_NO_CHUNK; }

HeapState* HotStateOf(napi_env env, napi_callback_info info, double** scratch) {
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
  HeapState* state = HotStateOf(env, info, &s);
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
  HeapState* state = HotStateOf(env, info, &s);
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
  HeapState* state = HotStateOf(env, info, &s);
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

// ======================================================== flat calls
namespace {

// A size_t as a number; SIZE_MAX (unbounded) as -1.
double SizeOrUnbounded(size_t value) { return value == SIZE_MAX ? -1 : static_cast<double>(value); }

// create(capacity, parentHandle | -1, sharedPoolHandle | -1, threadSafe) -> [handle, owner] or a negative heap_pool_status.
Napi::Value Create(const Napi::CallbackInfo& info) {
  PoolTable* table = TableOf(info);
  double capacity = info[0].As<Napi::Number>().DoubleValue();
  HeapState* parent = nullptr;
  if (info[1].As<Napi::Number>().Int32Value() >= 0) {
    parent = StateOf<HeapState>(info, 1);
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
  HeapState* state = StateOf<HeapState>(info, 0);
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
  HeapState* state = StateOf<HeapState>(info, 0);
  if (state == nullptr) return Number(info, HEAP_POOL_ERR_INVALID);
  PoolGuard guard(*state->lock);
  heap_pool_stats_t s;
  heap_pool_get_stats(state->pool, &s);
  const Field fields[] = {{"capacity", SizeOrUnbounded(s.capacity)},
                          {"reserved", AsDouble(s.reserved)},
                          {"used", AsDouble(s.used)},
                          {"peakUsed", AsDouble(s.peak_used)},
                          {"allocations", AsDouble(s.allocations)},
                          {"failedAllocations", AsDouble(s.failed_allocations)},
                          {"classChunks", AsDouble(s.class_chunks)},
                          {"spareChunks", AsDouble(s.spare_chunks)},
                          {"largeBlocks", AsDouble(s.large_blocks)},
                          {"lentBytes", AsDouble(s.lent_bytes)},
                          {"children", AsDouble(s.children)},
                          {"metadataBytes", AsDouble(s.metadata_bytes)}};
  return Fields(info.Env(), fields);
}

// availableCapacity(handle) -> capacity - reserved, -1 when unbounded (or a negative status - 1).
Napi::Value AvailableCapacity(const Napi::CallbackInfo& info) {
  HeapState* state = StateOf<HeapState>(info, 0);
  if (state == nullptr) return Number(info, HEAP_POOL_ERR_INVALID - 1);
  PoolGuard guard(*state->lock);
  return Number(info, SizeOrUnbounded(heap_pool_available_capacity(state->pool)));
}

// check(handle) -> null when every invariant holds (the pool's and its children's), else why not.
Napi::Value Check(const Napi::CallbackInfo& info) {
  HeapState* state = StateOf<HeapState>(info, 0);
  if (state == nullptr) return Number(info, HEAP_POOL_ERR_INVALID);
  PoolGuard guard(*state->lock);
  const char* why = nullptr;
  if (heap_pool_check(state->pool, &why) == HEAP_POOL_OK) return info.Env().Null();
  return Napi::String::New(info.Env(), why != nullptr ? why : "unknown corruption");
}

// walk(handle) -> Float64Array of [chunk, offset, size, state] quads (heap_pool_walk), or a code.
int CollectHeapBlock(const heap_pool_block_info_t* b, void* user) {
  auto* out = static_cast<std::vector<double>*>(user);
  out->insert(out->end(),
              {static_cast<double>(b->chunk), AsDouble(b->offset), AsDouble(b->size), static_cast<double>(b->state)});
  return 0;
}

Napi::Value Walk(const Napi::CallbackInfo& info) {
  HeapState* state = StateOf<HeapState>(info, 0);
  if (state == nullptr) return Number(info, HEAP_POOL_ERR_INVALID);
  PoolGuard guard(*state->lock);
  std::vector<double> blocks;
  heap_pool_walk(state->pool, CollectHeapBlock, &blocks);
  return DoublesArray(info.Env(), blocks);
}

// chunks(handle) -> Float64Array of [id, bytes, kind, class] quads for every live chunk, or a code.
Napi::Value Chunks(const Napi::CallbackInfo& info) {
  HeapState* state = StateOf<HeapState>(info, 0);
  if (state == nullptr) return Number(info, HEAP_POOL_ERR_INVALID);
  PoolGuard guard(*state->lock);
  std::vector<double> out;
  for (uint32_t id = 0, n = heap_pool_chunk_limit(state->pool); id < n; id++) {
    heap_pool_chunk_info_t c;
    if (heap_pool_chunk_info(state->pool, id, &c) != HEAP_POOL_OK) continue;
    out.insert(out.end(), {static_cast<double>(id), AsDouble(c.bytes), static_cast<double>(c.kind),
                           c.kind == HEAP_POOL_CHUNK_CLASS ? static_cast<double>(c.block_size) : 0.0});
  }
  return DoublesArray(info.Env(), out);
}

// destroy(handle, detach): the children first, then the pool; memory views
// reach is held (detach, unsafe: detaches the views, frees everything now).
Napi::Value Destroy(const Napi::CallbackInfo& info) {
  HeapState* state = StateOf<HeapState>(info, 0);
  if (state == nullptr) return info.Env().Undefined();
  DetachScope scope(TableOf(info), DetachArg(info, 1));
  // With a nativeHandle (maybe pinned), the children go first explicitly (PoolTable::DestroyRetainers).
  if (state->native_handle != nullptr) TableOf(info)->DestroyRetainers(info.Env(), state);
  TableOf(info)->Destroy(info.Env(), state);
  return info.Env().Undefined();
}

}  // namespace

void InitHeap(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch) {
  static const FlatCall calls[] = {
      {"create", Create},
      {"chunkBuffer", ChunkBuffer},
      {"stats", Stats},
      {"availableCapacity", AvailableCapacity},
      {"check", Check},
      {"walk", Walk},
      {"chunks", Chunks},
      {"destroy", Destroy},
      {"nativeHandle", HeapNativeHandle},
      {"addonBlock", HeapAddonBlock},
      {"adopt", HeapAdopt},
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
