// region_binding.cc — everything RegionPool calls in the addon: its
// nativeHandle adapter, its hot calls (alloc, realloc, free through the
// scratch array) and its flat calls (InitRegion). State: region_state.hh.
//
// The nativeHandle adapter (see native_handle.hh). The region pool counts every
// allocation itself (RegionPool keeps no counters or cache), so an addon's
// blocks are plain blocks of the pool: JavaScript may free them by handle and
// the addon may free JavaScript's by pointer (a stale one is refused as the C
// pool refuses it). reset() and destroy() take addon blocks with the rest.
//
// Hot calls: the region pool's hot path through the scratch array (see
// the hot calls of tlsf_binding.cc for why: number arguments cost more than the call itself).
//   alloc():   scratch = [handle, size, flags, align]       -> [chunk, offset, gen, created]
//   realloc(): scratch = [handle, chunk, offset, gen, size] -> [chunk, offset, gen, created]
//   free():    scratch = [handle, chunk, offset, gen]       -> [status, kept]
//   chunkBuffer(): scratch = [handle, chunk] -> [1 large / 0 block / negative status, offset], returns the ArrayBuffer
// (kept: 1 when the chunk is a large block kept for reuse, region_pool_keep_large)
// On failure scratch[0] is a negative region_pool_status. `created` is 1 when
// the call made the returned chunk (JavaScript then fetches its ArrayBuffer).
// flags are REGION_POOL_UNALIGNED / _ZERO / _MEMALIGN; align is read only with
// _MEMALIGN. Out-of-range values are refused with _INVALID / _FOREIGN.
//
// Flat calls: the region pool's flat N-API functions (the allocating
// calls and free are the hot calls above). Every function takes numbers:
// (handle[, chunk]); results are numbers or small arrays of numbers. No C++
// exceptions: the TypeScript layer validates before it calls in.
#include <cstring>
#include <vector>

#include "binding.hh"
#include "native_handle.hh"
#include "mempools.h"
#include "region_state.hh"

namespace mempools {

// ======================================================== the bump lease
//
// JavaScript allocates small requests itself: it holds a lease on one pool's
// head block (region_pool_head: the block palloc would try first), bumps its
// offset and logs each allocation (offset, size) in the lease array, which
// every native call on that pool records first (region_pool_record_head), so
// the C pool's side tables, counters and generations stay exact and an addon
// allocating through nativeHandle never gets bytes JavaScript handed out.
// After a call the lease stays when the head is still the leased block at the
// same generation (its bump offset and room refreshed), else it is revoked
// (lim 0) and JavaScript's next small request comes here (alloc grants it again).
//   ctl = [count, bump, lim, slots, log: (offset, size) x kLeaseLogCap]
// JavaScript may bump while count < slots and offset + max(size, 1) <= lim.
namespace {

constexpr int kLeaseCount = 0, kLeaseBump = 1, kLeaseLim = 2, kLeaseSlots = 3, kLeaseLog = 4;
constexpr uint32_t kLeaseLogCap = 1024;
constexpr size_t kLeaseInts = kLeaseLog + 2 * kLeaseLogCap;

// Whether JavaScript has no ArrayBuffer for chunk `id`'s current incarnation yet
// (a chunk made since, by this call or by an addon through nativeHandle).
bool NeedsBuffer(const RegionState* s, uint32_t id) { return id >= s->chunks.size() || s->chunks[id].entry == nullptr; }

void Revoke(PoolTable::RegionLease& lease) {
  lease.ctl[kLeaseCount] = 0;
  lease.ctl[kLeaseLim] = 0;
  lease.lessee = nullptr;
}

// Records JavaScript's log into the C pool when `s` holds the lease.
void Sync(RegionState* s) {
  PoolTable::RegionLease& lease = s->table->region_lease;
  if (lease.lessee != s) return;
  int32_t* ctl = lease.ctl;
  uint32_t n = static_cast<uint32_t>(ctl[kLeaseCount]);
  if (n > kLeaseLogCap) n = kLeaseLogCap;
  if (n != 0 && s->pool != nullptr) {
    region_pool_record_head(s->pool, lease.chunk, lease.gen, reinterpret_cast<const uint32_t*>(ctl + kLeaseLog), n);
  }
  ctl[kLeaseCount] = 0;
}

// Sets the lease array to the head block `h` (leased to JavaScript).
void Offer(PoolTable::RegionLease& lease, const region_pool_head_t& h, size_t block_size) {
  lease.ctl[kLeaseCount] = 0;
  lease.ctl[kLeaseBump] = static_cast<int32_t>(h.last);
  lease.ctl[kLeaseSlots] = static_cast<int32_t>(h.slots < kLeaseLogCap ? h.slots : kLeaseLogCap);
  lease.ctl[kLeaseLim] = static_cast<int32_t>(block_size);
}

// After a call on `s`: the lease stays when the head is the same block at the same generation.
void Refresh(RegionState* s) {
  PoolTable::RegionLease& lease = s->table->region_lease;
  if (lease.lessee != s) return;
  region_pool_head_t h;
  if (s->pool != nullptr && region_pool_head(s->pool, &h) == REGION_POOL_OK && h.chunk == lease.chunk &&
      h.gen == lease.gen) {
    Offer(lease, h, region_pool_block_size(s->pool));
  } else {
    Revoke(lease);
  }
}

// Leases `s`'s head block to JavaScript (the holder before syncs and loses it).
// Writes [chunk, gen, new] at out (chunk -1: no open block, no lease).
void Grant(RegionState* s, double* out) {
  PoolTable::RegionLease& lease = s->table->region_lease;
  if (lease.lessee != nullptr && lease.lessee != s) {
    Sync(static_cast<RegionState*>(lease.lessee));
    Revoke(lease);
  }
  Sync(s);
  region_pool_head_t h;
  if (s->pool == nullptr || region_pool_head(s->pool, &h) != REGION_POOL_OK) {
    if (lease.lessee == s) Revoke(lease);
    out[0] = -1;
    return;
  }
  lease.lessee = s;
  lease.chunk = h.chunk;
  lease.gen = h.gen;
  Offer(lease, h, region_pool_block_size(s->pool));
  out[0] = h.chunk;
  out[1] = static_cast<double>(h.gen);
  out[2] = NeedsBuffer(s, h.chunk) ? 1 : 0;
}

// Syncs before a call on a region pool and refreshes the lease after it.
class LeaseScope {
 public:
  explicit LeaseScope(RegionState* s) : s_(s) {
    if (s_ != nullptr) Sync(s_);
  }
  ~LeaseScope() {
    if (s_ != nullptr) Refresh(s_);
  }
  LeaseScope(const LeaseScope&) = delete;
  LeaseScope& operator=(const LeaseScope&) = delete;

 private:
  RegionState* s_;
};

}  // namespace

void RevokeRegionLease(RegionState* s) {
  PoolTable::RegionLease& lease = s->table->region_lease;
  if (lease.lessee == s) Revoke(lease);
}

// ======================================================== nativeHandle adapter
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
  LeaseScope scope(s);
  region_pool_ref_t ref;
  int status = StatusOf(region_pool_alloc_ref(s->pool, size, 0, 0, &ref));
  s->created = REGION_POOL_NO_CHUNK;  // JavaScript finds an unknown chunk by its missing buffer
  if (status == MEMPOOLS_OK) *out = ref.ptr;
  return status;
}

int Free(PoolState* state, void* ptr) {
  LeaseScope scope(Region(state));
  return StatusOf(region_pool_free(Region(state)->pool, ptr));
}

int Realloc(PoolState* state, void* ptr, size_t size, void** out) {
  RegionState* s = Region(state);
  LeaseScope scope(s);
  region_pool_ref_t ref;
  int status = FindBlock(s, ptr, &ref);
  if (status == MEMPOOLS_OK)
    status = StatusOf(region_pool_realloc_at(s->pool, ref.chunk, ref.offset, ref.gen, size, &ref));
  s->created = REGION_POOL_NO_CHUNK;
  if (status == MEMPOOLS_OK) *out = ref.ptr;
  return status;
}

int UsableSize(PoolState* state, const void* ptr, size_t* out) {
  Sync(Region(state));
  region_pool_ref_t ref;
  int status = FindBlock(Region(state), ptr, &ref);
  if (status == MEMPOOLS_OK) *out = ref.size;
  return status;
}

int HandleOf(PoolState* state, const void* ptr, mempools_handle_t* out) {
  Sync(Region(state));
  region_pool_ref_t ref;
  int status = FindBlock(Region(state), ptr, &ref);
  if (status == MEMPOOLS_OK) *out = {ref.chunk, ref.offset};
  return status;
}

int PointerOf(PoolState* state, mempools_handle_t where, void** out) {
  Sync(Region(state));
  region_pool_ref_t ref;
  int status = FindBlockAt(Region(state), where.chunk, where.offset, &ref);
  if (status == MEMPOOLS_OK) *out = ref.ptr;
  return status;
}

void FreePinned(PoolState* state) { Region(state)->FreePinnedMemory(); }

constexpr HandleOps kOps = {MEMPOOLS_KIND_REGION, Alloc,  Free, Realloc, UsableSize, HandleOf, PointerOf,
                            FreePinned,           nullptr};

}  // namespace

Napi::Value RegionNativeHandle(const Napi::CallbackInfo& info) {
  PoolState* state = AnyStateOf<RegionState>(info);
  napi_value handle;
  if (state == nullptr || MakeNativeHandle<kOps>(info.Env(), state, nullptr, false, &handle) != napi_ok) {
    return info.Env().Undefined();
  }
  return Napi::Value(info.Env(), handle);
}

Napi::Value RegionBlockAt(const Napi::CallbackInfo& info) {
  PoolState* state = AnyStateOf<RegionState>(info);
  double chunk = info[1].As<Napi::Number>().DoubleValue();
  double offset = info[2].As<Napi::Number>().DoubleValue();
  region_pool_ref_t ref;
  if (state == nullptr || state->destroyed) return Napi::Number::New(info.Env(), REGION_POOL_ERR_INVALID);
  Sync(Region(state));
  if (!(chunk >= 0 && chunk < REGION_POOL_NO_CHUNK && offset >= 0 && offset < 9007199254740992.0) ||
      FindBlockAt(Region(state), static_cast<uint32_t>(chunk), static_cast<uint64_t>(offset), &ref) != MEMPOOLS_OK) {
    return Napi::Number::New(info.Env(), REGION_POOL_ERR_FOREIGN);
  }
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(uint32_t{0}, Napi::Number::New(info.Env(), static_cast<double>(ref.gen)));
  result.Set(uint32_t{1}, Napi::Number::New(info.Env(), static_cast<double>(ref.size)));
  return result;
}

// ======================================================== hot calls (scratch array)
namespace {

bool IsChunk(double value) { return value >= 0 && value < REGION_POOL_NO_CHUNK; }

RegionState* HotStateOf(napi_env env, napi_callback_info info, double** scratch) {
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
    // New to JavaScript: made by this call, or by an addon through nativeHandle since.
    s[3] = state->created == ref.chunk || NeedsBuffer(state, ref.chunk) ? 1 : 0;
  }
  state->created = REGION_POOL_NO_CHUNK;
}

napi_value Alloc(napi_env env, napi_callback_info info) {
  double* s;
  RegionState* state = HotStateOf(env, info, &s);
  if (state == nullptr || !IsSize(s[1]) || !(s[2] >= 0 && s[2] < 8) || !IsSize(s[3])) {
    s[0] = REGION_POOL_ERR_INVALID;
    s[4] = -1;  // no lease granted (JavaScript reads these slots after every alloc)
    return nullptr;
  }
  Sync(state);
  region_pool_ref_t ref;
  int status = region_pool_alloc_ref(state->pool, static_cast<size_t>(s[1]), static_cast<size_t>(s[3]),
                                     static_cast<unsigned>(s[2]), &ref);
  Report(state, s, status, ref);
  Grant(state, s + 4);
  return nullptr;
}

napi_value Realloc(napi_env env, napi_callback_info info) {
  double* s;
  RegionState* state = HotStateOf(env, info, &s);
  if (state == nullptr || !IsSize(s[4])) {
    s[0] = REGION_POOL_ERR_INVALID;
    return nullptr;
  }
  if (!IsChunk(s[1]) || !IsSize(s[2]) || !IsSize(s[3])) {
    s[0] = REGION_POOL_ERR_FOREIGN;
    return nullptr;
  }
  LeaseScope scope(state);
  region_pool_ref_t ref;
  int status = region_pool_realloc_at(state->pool, static_cast<uint32_t>(s[1]), static_cast<size_t>(s[2]),
                                      static_cast<uint64_t>(s[3]), static_cast<size_t>(s[4]), &ref);
  Report(state, s, status, ref);
  return nullptr;
}

napi_value Free(napi_env env, napi_callback_info info) {
  double* s;
  RegionState* state = HotStateOf(env, info, &s);
  if (state == nullptr) {
    s[0] = REGION_POOL_ERR_INVALID;
  } else if (!IsChunk(s[1]) || !IsSize(s[2]) || !IsSize(s[3])) {
    s[0] = REGION_POOL_ERR_FOREIGN;
  } else {
    LeaseScope scope(state);
    const uint32_t chunk = static_cast<uint32_t>(s[1]);
    s[0] = region_pool_free_at(state->pool, chunk, static_cast<size_t>(s[2]), static_cast<uint64_t>(s[3]));
    s[1] = region_pool_chunk_kept(state->pool, chunk);
  }
  return nullptr;
}

// The ArrayBuffer of live chunk `id` (made once per chunk incarnation; the
// pool's arena's for a carved chunk), or undefined; scratch[0] = 1 for a large
// block, 0 for a block, or a negative status; scratch[1] = the chunk's offset in
// the buffer. A hot call: a request that makes fresh chunks fetches each one's.
napi_value ChunkBuffer(napi_env env, napi_callback_info info) {
  double* s;
  RegionState* state = HotStateOf(env, info, &s);
  region_pool_chunk_info_t chunk;
  napi_value buffer;
  size_t offset = 0;
  if (state == nullptr || !IsChunk(s[1]) ||
      RegionChunkBuffer(env, state, static_cast<uint32_t>(s[1]), &buffer, &offset, &chunk) != napi_ok) {
    s[0] = REGION_POOL_ERR_INVALID;
    return nullptr;
  }
  s[0] = chunk.kind == REGION_POOL_CHUNK_LARGE ? 1 : 0;
  s[1] = static_cast<double>(offset);
  return buffer;
}

}  // namespace

napi_status InitRegionFast(napi_env env, napi_value region, PoolTable* table, napi_value scratch) {
  static const HotCall calls[] = {{"alloc", Alloc}, {"realloc", Realloc}, {"free", Free}, {"chunkBuffer", ChunkBuffer}};
  return DefineHotCalls(env, region, table, scratch, calls);
}

// ======================================================== flat calls
namespace {

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

// reset(handle) -> region_pool_status. Large blocks go (held while views reach
// them), but the few kept for reuse (region_pool_keep_large): their ids are left
// in the scratch array, [count, id, ...], so JavaScript keeps their records.
Napi::Value Reset(const Napi::CallbackInfo& info) {
  RegionState* state = StateOf<RegionState>(info);
  LeaseScope scope(state);
  if (state == nullptr) return Number(info, REGION_POOL_ERR_INVALID);
  int status = region_pool_reset(state->pool);
  double* s = TableOf(info)->scratch();
  s[0] = 0;
  for (uint32_t id = 0, n = region_pool_chunk_limit(state->pool); id < n && s[0] < REGION_POOL_KEEP_MAX; id++) {
    if (region_pool_chunk_kept(state->pool, id)) s[1 + static_cast<int>(s[0]++)] = id;
  }
  return Number(info, status);
}

// stats(handle) -> [reserved, used, peakUsed, allocations, failedAllocations, blocks, largeBlocks, wasted]
Napi::Value Stats(const Napi::CallbackInfo& info) {
  RegionState* state = StateOf<RegionState>(info);
  if (state == nullptr) return Number(info, REGION_POOL_ERR_INVALID);
  Sync(state);
  region_pool_stats_t s;
  region_pool_get_stats(state->pool, &s);
  const Field fields[] = {{"reserved", AsDouble(s.reserved)},
                          {"used", AsDouble(s.used)},
                          {"peakUsed", AsDouble(s.peak_used)},
                          {"allocations", AsDouble(s.allocations)},
                          {"failedAllocations", AsDouble(s.failed_allocations)},
                          {"blocks", AsDouble(s.blocks)},
                          {"largeBlocks", AsDouble(s.large_blocks)},
                          {"wasted", AsDouble(s.wasted)}};
  return Fields(info.Env(), fields);
}

// check(handle) -> null when every invariant holds, else the pool's description.
Napi::Value Check(const Napi::CallbackInfo& info) {
  RegionState* state = StateOf<RegionState>(info);
  if (state == nullptr) return Number(info, REGION_POOL_ERR_INVALID);
  Sync(state);
  const char* why = nullptr;
  if (region_pool_check(state->pool, &why) == REGION_POOL_OK) return info.Env().Null();
  return Napi::String::New(info.Env(), why != nullptr ? why : "unknown corruption");
}

// walk(handle) -> Float64Array of [chunk, offset, size, state] quads (region_pool_walk), or a code.
int CollectRegionBlock(const region_pool_block_info_t* b, void* user) {
  auto* out = static_cast<std::vector<double>*>(user);
  out->insert(out->end(),
              {static_cast<double>(b->chunk), AsDouble(b->offset), AsDouble(b->size), static_cast<double>(b->state)});
  return 0;
}

Napi::Value Walk(const Napi::CallbackInfo& info) {
  RegionState* state = StateOf<RegionState>(info);
  if (state == nullptr) return Number(info, REGION_POOL_ERR_INVALID);
  std::vector<double> blocks;
  region_pool_walk(state->pool, CollectRegionBlock, &blocks);
  return DoublesArray(info.Env(), blocks);
}

// chunks(handle) -> Float64Array of [id, bytes, kind, 0] quads for every live chunk, or a code.
Napi::Value Chunks(const Napi::CallbackInfo& info) {
  RegionState* state = StateOf<RegionState>(info);
  if (state == nullptr) return Number(info, REGION_POOL_ERR_INVALID);
  std::vector<double> out;
  for (uint32_t id = 0, n = region_pool_chunk_limit(state->pool); id < n; id++) {
    region_pool_chunk_info_t c;
    if (region_pool_chunk_info(state->pool, id, &c) != REGION_POOL_OK) continue;
    out.insert(out.end(), {static_cast<double>(id), AsDouble(c.bytes), static_cast<double>(c.kind), 0.0});
  }
  return DoublesArray(info.Env(), out);
}

Napi::Value Destroy(const Napi::CallbackInfo& info) {
  PoolTable* table = TableOf(info);
  RegionState* state = StateOf<RegionState>(info);
  DetachScope scope(table, DetachArg(info, 1));
  if (state != nullptr) table->Destroy(info.Env(), state);
  return info.Env().Undefined();
}

}  // namespace

void InitRegion(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch) {
  static const FlatCall calls[] = {
      {"create", Create},
      {"reset", Reset},
      {"stats", Stats},
      {"check", Check},
      {"walk", Walk},
      {"chunks", Chunks},
      {"destroy", Destroy},
      {"nativeHandle", RegionNativeHandle},
      {"blockAt", RegionBlockAt},
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
  constants.Set("leaseLogCap", Napi::Number::New(env, kLeaseLogCap));
  region.Set("constants", constants);
  void* data = nullptr;
  napi_value ctl_buffer;
  napi_value ctl;
  if (napi_create_arraybuffer(env, kLeaseInts * sizeof(int32_t), &data, &ctl_buffer) != napi_ok ||
      napi_create_typedarray(env, napi_int32_array, kLeaseInts, ctl_buffer, 0, &ctl) != napi_ok) {
    return;
  }
  table->region_lease.ctl = static_cast<int32_t*>(data);
  region.Set("lease", Napi::Value(env, ctl));
  InitRegionFast(env, region, table, scratch);  // alloc, realloc and free, in raw N-API
  exports.Set("region", region);
}

}  // namespace mempools
