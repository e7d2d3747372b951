// shm_binding.cc — everything SharedPool calls in the addon: its
// nativeHandle adapter, its flat calls and its hot calls (alloc, free
// through the scratch array; InitShm). State: shm_state.hh.
//
// The nativeHandle adapter (see native_handle.hh). Blocks are the segment's: an addon frees
// any live block (as any attached process may), SharedPool's stats (the
// segment's) count them, and this process's parked blocks are SharedPool's
// business as they are against other processes (see lib/SharedCache.ts).
//
// Flat calls: the shared-memory pool's flat N-API functions. Offsets are
// area offsets (see shm_state.hh). Results are numbers: an area offset or a
// count (>= 0), a shm_pool_status, or -(errno + call * kSysBase) for an OS
// failure (SysFailure; call kOperation when the allocator does not say which).
// The hot calls go through the scratch array (see the hot calls of tlsf_binding.cc):
//   alloc(): scratch = [handle, size, zero] -> [area offset | negative code]
//   free():  scratch = [handle, offset]     -> [status]
// No C++ exceptions: the TypeScript layer validates before it calls in.
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "binding.hh"
#include "native_handle.hh"
#include "os_memory.hh"
#include "mempools.h"
#include "shm_state.hh"

namespace mempools {

// ======================================================== nativeHandle adapter
namespace {

ShmState* Shm(PoolState* state) { return static_cast<ShmState*>(state); }

int StatusOf(int shm_status) {
  if (shm_status == SHM_POOL_OK) return MEMPOOLS_OK;
  return shm_status == SHM_POOL_ERR_NOMEM ? MEMPOOLS_ERR_NOMEM : MEMPOOLS_ERR_INVALID;
}

// The segment offset of a live block's start at `ptr` (in the area; not parked in the cache).
int LiveOffsetOf(const ShmState* s, const void* ptr, uint64_t* offset) {
  if (shm_pool_offset_of(s->pool, ptr, offset) != SHM_POOL_OK || s->ToArea(*offset) < 0 ||
      shm_cache_is_parked(s->cache.load(std::memory_order_acquire), *offset) ||
      shm_pool_usable_size(s->pool, *offset) == 0) {
    return MEMPOOLS_ERR_INVALID;
  }
  return MEMPOOLS_OK;
}

// A block the C pool placed at segment offset `offset`, if it lies in the area.
int Placed(const ShmState* s, int status, uint64_t offset, void* ptr, void** out) {
  if (status != MEMPOOLS_OK) return status;
  if (s->ToArea(offset) < 0) return MEMPOOLS_ERR_INVALID;
  *out = ptr;
  return MEMPOOLS_OK;
}

// Other threads' calls (under the shim's lock): the segment, never the cache.
int Alloc(PoolState* state, size_t size, void** out) {
  ShmState* s = Shm(state);
  uint64_t offset = 0;
  void* ptr = nullptr;
  int status = StatusOf(shm_pool_alloc(s->pool, size, &offset, &ptr));
  return Placed(s, status, offset, ptr, out);
}

int Free(PoolState* state, void* ptr) {
  ShmState* s = Shm(state);
  uint64_t offset;
  if (ptr != nullptr && shm_pool_offset_of(s->pool, ptr, &offset) == SHM_POOL_OK &&
      shm_cache_is_parked(s->cache.load(std::memory_order_acquire), offset)) {
    return MEMPOOLS_ERR_INVALID;  // a double free (read racing the owning thread: best effort)
  }
  return StatusOf(shm_pool_free(s->pool, ptr));
}

// The owning JavaScript thread's calls (no lock): through the cache.
void* Target(PoolState* state) { return state; }

int TargetAlloc(void* target, size_t size, void** out) {
  ShmState* s = static_cast<ShmState*>(target);
  shm_cache_t* cache = s->Cache();
  if (cache == nullptr || size == 0) return Alloc(s, size, out);
  uint64_t offset = 0;
  void* ptr = nullptr;
  int status = StatusOf(shm_cache_alloc(cache, size, &offset, &ptr));
  return Placed(s, status, offset, ptr, out);
}

int TargetFree(void* target, void* ptr) {
  ShmState* s = static_cast<ShmState*>(target);
  shm_cache_t* cache = s->cache.load(std::memory_order_relaxed);  // this thread makes it
  return StatusOf(cache != nullptr ? shm_cache_free(cache, ptr) : shm_pool_free(s->pool, ptr));
}

int Realloc(PoolState* state, void* ptr, size_t size, void** out) {
  ShmState* s = Shm(state);
  uint64_t offset, moved = 0;
  void* moved_ptr = nullptr;
  int status = LiveOffsetOf(s, ptr, &offset);
  if (status != MEMPOOLS_OK) return status;
  // the cache stops calling it its own (on its thread: others only read it)
  if (s->native_handle != nullptr && handle_path::ThisThread() == s->native_handle->js_thread) {
    shm_cache_forget(s->cache.load(std::memory_order_relaxed), offset);
  }
  status = StatusOf(shm_pool_realloc(s->pool, offset, size, &moved, &moved_ptr));
  return Placed(s, status, moved, moved_ptr, out);
}

int UsableSize(PoolState* state, const void* ptr, size_t* out) {
  ShmState* s = Shm(state);
  uint64_t offset;
  int status = LiveOffsetOf(s, ptr, &offset);
  if (status == MEMPOOLS_OK) *out = shm_pool_usable_size(s->pool, offset);
  return status;
}

int HandleOf(PoolState* state, const void* ptr, mempools_handle_t* out) {
  ShmState* s = Shm(state);
  uint64_t offset;
  int status = LiveOffsetOf(s, ptr, &offset);
  if (status == MEMPOOLS_OK) *out = {0, offset - s->area_offset};
  return status;
}

int PointerOf(PoolState* state, mempools_handle_t where, void** out) {
  ShmState* s = Shm(state);
  uint64_t offset;
  void* ptr = nullptr;
  if (where.chunk != 0 || where.offset >= s->area_size) return MEMPOOLS_ERR_INVALID;
  offset = s->area_offset + where.offset;
  if (shm_cache_is_parked(s->cache.load(std::memory_order_acquire), offset)) return MEMPOOLS_ERR_INVALID;
  int status = StatusOf(shm_pool_at(s->pool, offset, 0, &ptr));
  if (status == MEMPOOLS_OK) *out = ptr;
  return status;
}

// The area ArrayBuffer was let go of and the heap pools over the segment are
// destroyed already (shm_binding.cc's close): only the mapping is left.
void FreePinned(PoolState* state) {
  Shm(state)->DropCache();  // a no-op unless the pool went without close() (the cache is idle: the pool is gone)
  Shm(state)->CloseMapping();
}

constexpr HandleOps kOps = {MEMPOOLS_KIND_SHARED, Alloc,   Free,   Realloc,     UsableSize, HandleOf, PointerOf,
                            FreePinned,           nullptr, Target, TargetAlloc, TargetFree};

}  // namespace

Napi::Value ShmNativeHandle(const Napi::CallbackInfo& info) {
  PoolState* state = static_cast<PoolTable*>(info.Data())->State(info[0].As<Napi::Number>().Int32Value());
  napi_value handle;
  if (state == nullptr || state->kind != ShmState::kKind ||
      MakeNativeHandle<kOps>(info.Env(), state, nullptr, true, &handle) != napi_ok) {
    return info.Env().Undefined();
  }
  return Napi::Value(info.Env(), handle);
}

// ======================================================== flat calls
namespace {

// A shm_pool_status as a number; SYSTEM becomes -(errno + call * kSysBase) (SysFailure).
double Code(int status, SysCall call = SysCall::kOperation) {
  return status == SHM_POOL_ERR_SYSTEM ? SysFailure(call, errno) : status;
}

double Num(const Napi::CallbackInfo& info, size_t index) { return info[index].As<Napi::Number>().DoubleValue(); }

// An allocating call's outcome: the area offset of the new block, or a code.
double Placed(const ShmState* state, int status, uint64_t offset) {
  if (status != SHM_POOL_OK) return Code(status);
  double area = state->ToArea(offset);
  return area >= 0 ? area : static_cast<double>(SHM_POOL_ERR_CORRUPTED);
}

// [handle, owner, area ArrayBuffer, fd] for an attached pool, else a code.
// `call`: the system call that attaching makes and may fail in.
Napi::Value Registered(const Napi::CallbackInfo& info, int status, shm_pool_t* pool, SysCall call) {
  if (status != SHM_POOL_OK) return Number(info, Code(status, call));
  int32_t handle;
  napi_value owner, buffer;
  if (RegisterShm(TableOf(info), info.Env(), pool, &handle, &owner, &buffer) != napi_ok) {
    return Number(info, SysFailure(call, ENOMEM));
  }
  Napi::Array result = Napi::Array::New(info.Env(), 4);
  result.Set(uint32_t{0}, Number(info, handle));
  result.Set(uint32_t{1}, Napi::Value(info.Env(), owner));
  result.Set(uint32_t{2}, Napi::Value(info.Env(), buffer));
  result.Set(uint32_t{3}, Number(info, shm_pool_fd(pool)));
  return result;
}

// A lock timeout argument in ms (validated by TypeScript: 0 .. 2^31 - 1).
uint32_t TimeoutArg(const Napi::CallbackInfo& info, size_t index) {
  double ms = Num(info, index);
  return ms >= 0 && ms < 4294967295.0 ? static_cast<uint32_t>(ms) : SHM_POOL_LOCK_TIMEOUT_MS;
}

// create(name | null, size, mode, lockTimeoutMs)
Napi::Value Create(const Napi::CallbackInfo& info) {
  double size = Num(info, 1), mode = Num(info, 2);
  if (!IsSize(size) || !(mode >= 0 && mode <= 0777)) return Number(info, SHM_POOL_ERR_INVALID);
  std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : std::string();
  shm_pool_t* pool = nullptr;
  int status = shm_pool_create(info[0].IsString() ? name.c_str() : nullptr, static_cast<size_t>(size),
                               static_cast<unsigned>(mode), &pool);
  if (status == SHM_POOL_OK) shm_pool_set_lock_timeout(pool, TimeoutArg(info, 3));
  return Registered(info, status, pool, info[0].IsString() ? SysCall::kShmOpen : SysCall::kMemfdCreate);
}

// open(name, lockTimeoutMs)
Napi::Value Open(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  shm_pool_t* pool = nullptr;
  int status = shm_pool_open_within(name.c_str(), TimeoutArg(info, 1), &pool);
  return Registered(info, status, pool, SysCall::kShmOpen);
}

// fromFd(fd, lockTimeoutMs)
Napi::Value FromFd(const Napi::CallbackInfo& info) {
  shm_pool_t* pool = nullptr;
  int status = shm_pool_from_fd_within(info[0].As<Napi::Number>().Int32Value(), TimeoutArg(info, 1), &pool);
  return Registered(info, status, pool,
                    status == SHM_POOL_ERR_SYSTEM && errno == EBADF ? SysCall::kFcntl : SysCall::kMmap);
}

// peek(name) -> what a read-only look at a named segment shows (shm_pool_peek), or a code.
// CORRUPTED still comes as an object ({corrupted: true, size, creatorPid, creatorAlive}).
Napi::Value Peek(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  shm_pool_info_t s;
  int status = shm_pool_peek(name.c_str(), &s);
  if (status != SHM_POOL_OK && status != SHM_POOL_ERR_CORRUPTED) return Number(info, Code(status, SysCall::kShmOpen));
  Napi::Env env = info.Env();
  const Field fields[] = {{"size", AsDouble(s.size)},
                          {"capacity", AsDouble(s.capacity)},
                          {"used", AsDouble(s.used)},
                          {"createdMs", AsDouble(s.created_ms)},
                          {"creatorPid", AsDouble(s.creator_pid)},
                          {"creatorAlive", s.creator_alive ? 1.0 : 0.0},
                          {"lockHolder", AsDouble(s.lock_holder)},
                          {"userLockHolder", AsDouble(s.user_lock_holder)},
                          {"corrupted", status == SHM_POOL_ERR_CORRUPTED ? 1.0 : 0.0}};
  Napi::Object result = Fields(env, fields);
  Napi::Array pids = Napi::Array::New(env, s.attached_count);
  for (uint32_t i = 0; i < s.attached_count; i++) pids.Set(i, Napi::Number::New(env, s.attached[i]));
  result.Set("attached", pids);
  return result;
}

// unlink(name) -> status
Napi::Value Unlink(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  return Number(info, Code(shm_pool_unlink(name.c_str()), SysCall::kShmUnlink));
}

// realloc(handle, offset, size) -> new area offset or a code
Napi::Value Realloc(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  uint64_t offset, moved = 0;
  double size = Num(info, 2);
  if (state == nullptr || !IsSize(size)) return Number(info, SHM_POOL_ERR_INVALID);
  if (!state->ToSegment(Num(info, 1), &offset)) return Number(info, SHM_POOL_ERR_FOREIGN);
  if (!state->TakeFromCache(offset)) return Number(info, SHM_POOL_ERR_DOUBLE_FREE);
  int status = shm_pool_realloc(state->pool, offset, static_cast<size_t>(size), &moved, nullptr);
  return Number(info, Placed(state, status, moved));
}

// at(handle, offset, length) -> status (OK: a live block holds length bytes there)
Napi::Value At(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  uint64_t offset;
  double length = Num(info, 2);
  void* ptr;
  if (state == nullptr || !IsSize(length)) return Number(info, SHM_POOL_ERR_INVALID);
  if (!state->ToSegment(Num(info, 1), &offset)) return Number(info, SHM_POOL_ERR_FOREIGN);
  if (shm_cache_is_parked(state->cache.load(std::memory_order_relaxed), offset)) {
    return Number(info, SHM_POOL_ERR_DOUBLE_FREE);  // parked by the addons' cache: a freed block
  }
  return Number(info, Code(shm_pool_at(state->pool, offset, static_cast<size_t>(length), &ptr)));
}

// lock(handle, timeoutMs (< 0: no limit)) -> status (OWNER_DIED: taken, the previous holder
// died; TIMEOUT: a live holder kept it; BUSY: this thread holds it); unlock(handle) -> status
Napi::Value Lock(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  if (state == nullptr) return Number(info, SHM_POOL_ERR_INVALID);
  double ms = Num(info, 1);
  uint32_t timeout = ms >= 0 && ms < 4294967295.0 ? static_cast<uint32_t>(ms) : UINT32_MAX;
  return Number(info, Code(shm_pool_lock(state->pool, timeout), SysCall::kFutex));
}

Napi::Value Unlock(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  return Number(info, Code(state == nullptr ? SHM_POOL_ERR_INVALID : shm_pool_unlock(state->pool), SysCall::kFutex));
}

// wait(handle, offset, expected (int32), timeoutMs (< 0: forever)) -> status
Napi::Value Wait(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  uint64_t offset;
  if (state == nullptr || !state->ToSegment(Num(info, 1), &offset)) return Number(info, SHM_POOL_ERR_INVALID);
  uint32_t expected = static_cast<uint32_t>(info[2].As<Napi::Number>().Int32Value());
  double timeout = Num(info, 3);
  int64_t ms = timeout >= 0 && timeout <= kMaxSafeInteger ? static_cast<int64_t>(timeout) : -1;
  return Number(info, Code(shm_pool_wait(state->pool, offset, expected, ms), SysCall::kFutex));
}

// notify(handle, offset, count (< 0: all)) -> woken count or a code
Napi::Value Notify(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  uint64_t offset;
  if (state == nullptr || !state->ToSegment(Num(info, 1), &offset)) return Number(info, SHM_POOL_ERR_INVALID);
  double count = Num(info, 2);
  int woken = 0;
  int status =
      shm_pool_notify(state->pool, offset, count >= 0 && count < 2147483647.0 ? static_cast<int>(count) : -1, &woken);
  return Number(info, status == SHM_POOL_OK ? woken : Code(status, SysCall::kFutex));
}

// setRoot(handle, key, offset) -> status
Napi::Value SetRoot(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  uint64_t offset;
  if (state == nullptr || !state->ToSegment(Num(info, 2), &offset)) return Number(info, SHM_POOL_ERR_INVALID);
  std::string key = info[1].As<Napi::String>().Utf8Value();
  return Number(info, Code(shm_pool_set_root(state->pool, key.c_str(), offset)));
}

// getRoot(handle, key) -> area offset, or a code (NOT_FOUND; CORRUPTED for a root outside the area)
Napi::Value GetRoot(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  if (state == nullptr) return Number(info, SHM_POOL_ERR_INVALID);
  std::string key = info[1].As<Napi::String>().Utf8Value();
  uint64_t offset = 0;
  int status = shm_pool_get_root(state->pool, key.c_str(), &offset);
  return Number(info, Placed(state, status, offset));
}

// deleteRoot(handle, key) -> status
Napi::Value DeleteRoot(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  if (state == nullptr) return Number(info, SHM_POOL_ERR_INVALID);
  std::string key = info[1].As<Napi::String>().Utf8Value();
  return Number(info, Code(shm_pool_delete_root(state->pool, key.c_str())));
}

// stats(handle) -> [segmentSize, capacity, used, peakUsed, available, free, largestFree,
//                   allocations, failedAllocations, generation] or a code
// A segment's figures (shm_pool_stats_t) as an object: stats() and snapshot() both.
Napi::Value StatsObject(Napi::Env env, const shm_pool_stats_t& s) {
  const Field fields[] = {{"segmentSize", AsDouble(s.segment_size)},
                          {"capacity", AsDouble(s.capacity)},
                          {"used", AsDouble(s.used)},
                          {"peakUsed", AsDouble(s.peak_used)},
                          {"available", AsDouble(s.available)},
                          {"free", AsDouble(s.free)},
                          {"largestFree", AsDouble(s.largest_free)},
                          {"allocations", AsDouble(s.allocations)},
                          {"failedAllocations", AsDouble(s.failed_allocations)},
                          {"generation", AsDouble(s.generation)},
                          {"lentChunks", AsDouble(s.lent_chunks)},
                          {"lentBytes", AsDouble(s.lent_bytes)}};
  return Fields(env, fields);
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  shm_pool_stats_t s;
  int status = state == nullptr ? SHM_POOL_ERR_INVALID : shm_pool_stats(state->pool, &s);
  if (status != SHM_POOL_OK) return Number(info, Code(status));
  // the addons' parked blocks and park list count as free here, as SharedPool's own do
  shm_cache_stats_t c;
  shm_cache_stats(state->cache.load(std::memory_order_relaxed), &c);
  size_t parked = c.bytes + c.list_bytes, blocks = c.blocks + (c.list_bytes > 0 ? 1 : 0);
  s.used -= parked <= s.used ? parked : s.used;
  s.available += parked;
  s.free += parked;
  s.allocations -= blocks <= s.allocations ? blocks : s.allocations;
  return StatsObject(info.Env(), s);
}

// drainCache(handle) -> blocks the addons' cache gave back to the segment, or a code
Napi::Value DrainCache(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  if (state == nullptr) return Number(info, SHM_POOL_ERR_INVALID);
  size_t blocks = 0;
  int status = shm_cache_drain(state->cache.load(std::memory_order_relaxed), &blocks);
  if (status == SHM_POOL_ERR_INVALID) return Number(info, 0);  // no cache
  return Number(info, status == SHM_POOL_OK ? static_cast<double>(blocks) : Code(status));
}

// check(handle) -> null, or why the segment is corrupted
Napi::Value Check(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  const char* why = nullptr;
  if (state != nullptr && shm_pool_check(state->pool, &why) == SHM_POOL_OK) return info.Env().Null();
  return Napi::String::New(info.Env(), why != nullptr ? why : "unknown corruption");
}

// walk(handle) -> Float64Array of [area offset, size, state, owner pid] quads (shm_pool_walk), or a code.
int CollectShmBlock(const shm_pool_block_info_t* b, void* user) {
  auto* out = static_cast<std::vector<double>*>(user);
  out->insert(out->end(),
              {AsDouble(b->offset), AsDouble(b->size), static_cast<double>(b->state), static_cast<double>(b->owner)});
  return 0;
}

Napi::Value Walk(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  if (state == nullptr) return Number(info, SHM_POOL_ERR_INVALID);
  shm_cache_drain(state->cache.load(std::memory_order_relaxed), nullptr);  // the addons' parked blocks show as free
  std::vector<double> blocks;
  int status = shm_pool_walk(state->pool, CollectShmBlock, &blocks);
  if (status != SHM_POOL_OK) return Number(info, Code(status));
  return DoublesArray(info.Env(), blocks);
}

// trim(handle) -> bytes of free blocks' pages given back to the segment's backing store
// (resident before), or a code (shm_pool_trim). The addons' parked blocks go back first.
Napi::Value Trim(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  if (state == nullptr) return Number(info, SHM_POOL_ERR_INVALID);
  shm_cache_drain(state->cache.load(std::memory_order_relaxed), nullptr);
  size_t released = 0;
  int status = shm_pool_trim(state->pool, &released);
  return Number(info, status == SHM_POOL_OK ? AsDouble(released) : Code(status));
}

// snapshot(name, tries) -> a private copy of a named segment, read without attaching
// (shm_pool_snapshot): { info fields, stats (or a code), check (null or why), blocks
// (Float64Array as walk, or a code), roots: [key, offset] pairs }; or a code, or
// { corrupted: why } when the header fails validation.
Napi::Value Snapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  double tries = Num(info, 1);
  if (!(tries >= 1 && tries <= 1000)) return Number(info, SHM_POOL_ERR_INVALID);
  shm_pool_snapshot_t* snap = nullptr;
  const char* why = nullptr;
  int status = shm_pool_snapshot(name.c_str(), static_cast<unsigned>(tries), &snap, &why);
  if (status == SHM_POOL_ERR_CORRUPTED) {
    Napi::Object damaged = Napi::Object::New(env);
    damaged.Set("corrupted", Napi::String::New(env, why != nullptr ? why : "header fails validation"));
    return damaged;
  }
  if (status != SHM_POOL_OK) return Number(info, Code(status, SysCall::kShmOpen));
  shm_pool_snapshot_info_t si;
  shm_pool_snapshot_get_info(snap, &si);
  const Field fields[] = {{"size", AsDouble(si.peek.size)},
                          {"capacity", AsDouble(si.peek.capacity)},
                          {"createdMs", AsDouble(si.peek.created_ms)},
                          {"creatorPid", AsDouble(si.peek.creator_pid)},
                          {"creatorAlive", si.peek.creator_alive ? 1.0 : 0.0},
                          {"allocLockWord", AsDouble(si.alloc_lock_word)},
                          {"userLockWord", AsDouble(si.user_lock_word)},
                          {"consistent", si.consistent ? 1.0 : 0.0},
                          {"copies", AsDouble(si.copies)}};
  Napi::Object result = Fields(env, fields);
  Napi::Array pids = Napi::Array::New(env, si.peek.attached_count);
  for (uint32_t i = 0; i < si.peek.attached_count; i++) pids.Set(i, Napi::Number::New(env, si.peek.attached[i]));
  result.Set("attached", pids);
  shm_pool_stats_t s;
  status = shm_pool_snapshot_stats(snap, &s);
  if (status == SHM_POOL_OK) {
    result.Set("stats", StatsObject(env, s));
  } else {
    result.Set("stats", Napi::Number::New(env, Code(status)));
  }
  why = nullptr;
  if (shm_pool_snapshot_check(snap, &why) == SHM_POOL_OK) {
    result.Set("check", env.Null());
  } else {
    result.Set("check", Napi::String::New(env, why != nullptr ? why : "unknown corruption"));
  }
  std::vector<double> blocks;
  status = shm_pool_snapshot_walk(snap, CollectShmBlock, &blocks);
  if (status == SHM_POOL_OK) {
    result.Set("blocks", DoublesArray(env, blocks));
  } else {
    result.Set("blocks", Napi::Number::New(env, Code(status)));
  }
  Napi::Array roots = Napi::Array::New(env);
  for (unsigned i = 0, n = 0; i < SHM_POOL_ROOTS; i++) {
    const char* key;
    uint64_t offset;
    if (shm_pool_snapshot_root(snap, i, &key, &offset) != SHM_POOL_OK) continue;
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::String::New(env, key));
    pair.Set(1u, Napi::Number::New(env, AsDouble(offset)));
    roots.Set(n++, pair);
  }
  result.Set("roots", roots);
  shm_pool_snapshot_free(snap);
  return result;
}

// close(handle, detach): unmaps and closes the descriptor once no view
// reaches the mapping (detach, unsafe: detaches the views, unmaps now).
Napi::Value Close(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  if (state == nullptr) return info.Env().Undefined();
  DetachScope scope(TableOf(info), DetachArg(info, 1));
  state->DropCache();  // the addons' parked blocks go back while the segment is still ours
  // A pinned nativeHandle defers the unmap: the heap pools over the segment go now (see the adapter above).
  if (state->native_handle != nullptr) TableOf(info)->DestroyRetainers(info.Env(), state);
  TableOf(info)->Destroy(info.Env(), state);
  return info.Env().Undefined();
}

// parkOpen(handle, stacks, depth) -> area offset of this process's new park list, or a code
Napi::Value ParkOpen(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  double stacks = Num(info, 1), depth = Num(info, 2);
  if (state == nullptr || !(stacks >= 0 && stacks <= UINT32_MAX) || !(depth >= 0 && depth <= UINT32_MAX)) {
    return Number(info, SHM_POOL_ERR_INVALID);
  }
  uint64_t offset = 0;
  int status = shm_pool_park_open(state->pool, static_cast<uint32_t>(stacks), static_cast<uint32_t>(depth), &offset);
  return Number(info, Placed(state, status, offset));
}

// parkClose(handle, list) -> parked blocks it freed (the list, and its record, gone), or a code
Napi::Value ParkClose(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf<ShmState>(info);
  uint64_t offset;
  if (state == nullptr) return Number(info, SHM_POOL_ERR_INVALID);
  if (!state->ToSegment(Num(info, 1), &offset)) return Number(info, SHM_POOL_ERR_FOREIGN);
  size_t blocks = 0;
  int status = shm_pool_park_close(state->pool, offset, &blocks);
  return Number(info, status == SHM_POOL_OK ? static_cast<double>(blocks) : Code(status));
}

ShmState* ScratchState(napi_env env, napi_callback_info info, double** scratch) {
  PoolTable* table = ScratchTable(env, info);
  *scratch = table->scratch();
  return table->Live<ShmState>(static_cast<int32_t>((*scratch)[0]));
}

napi_value AllocFast(napi_env env, napi_callback_info info) {
  double* s;
  ShmState* state = ScratchState(env, info, &s);
  if (state == nullptr || !IsSize(s[1])) {
    s[0] = SHM_POOL_ERR_INVALID;
    return nullptr;
  }
  uint64_t offset = 0;
  size_t size = static_cast<size_t>(s[1]);
  bool zero = s[2] != 0;
  auto allocate = [&] {
    return zero ? shm_pool_calloc(state->pool, 1, size, &offset, nullptr)
                : shm_pool_alloc(state->pool, size, &offset, nullptr);
  };
  int status = allocate();
  size_t parked = 0;  // no room: the addons' parked blocks go back, then once more
  if (status == SHM_POOL_ERR_NOMEM &&
      shm_cache_drain(state->cache.load(std::memory_order_relaxed), &parked) == SHM_POOL_OK && parked > 0) {
    status = allocate();
  }
  s[0] = Placed(state, status, offset);
  return nullptr;
}

napi_value FreeFast(napi_env env, napi_callback_info info) {
  double* s;
  ShmState* state = ScratchState(env, info, &s);
  uint64_t offset;
  if (state == nullptr) {
    s[0] = SHM_POOL_ERR_INVALID;
  } else if (!state->ToSegment(s[1], &offset)) {
    s[0] = SHM_POOL_ERR_FOREIGN;
  } else {
    s[0] = Code(state->TakeFromCache(offset) ? shm_pool_free_at(state->pool, offset) : SHM_POOL_ERR_DOUBLE_FREE);
  }
  return nullptr;
}

}  // namespace

void InitShm(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch) {
  static const FlatCall calls[] = {
      {"create", Create},
      {"open", Open},
      {"fromFd", FromFd},
      {"unlink", Unlink},
      {"peek", Peek},
      {"realloc", Realloc},
      {"at", At},
      {"lock", Lock},
      {"unlock", Unlock},
      {"wait", Wait},
      {"notify", Notify},
      {"setRoot", SetRoot},
      {"getRoot", GetRoot},
      {"deleteRoot", DeleteRoot},
      {"stats", Stats},
      {"check", Check},
      {"walk", Walk},
      {"trim", Trim},
      {"snapshot", Snapshot},
      {"close", Close},
      {"nativeHandle", ShmNativeHandle},
      {"parkOpen", ParkOpen},
      {"parkClose", ParkClose},
      {"drainCache", DrainCache},
  };
  Napi::Object shm = FlatCalls(env, table, calls);
  Napi::Object constants = Napi::Object::New(env);
  constants.Set("minSize", Napi::Number::New(env, static_cast<double>(shm_pool_min_size())));
  constants.Set("maxSize", Napi::Number::New(env, static_cast<double>(SHM_POOL_MAX_SIZE)));
  constants.Set("roots", Napi::Number::New(env, SHM_POOL_ROOTS));
  constants.Set("keyMax", Napi::Number::New(env, SHM_POOL_KEY_MAX));
  constants.Set("nameMax", Napi::Number::New(env, SHM_POOL_NAME_MAX));
  constants.Set("lockTimeout", Napi::Number::New(env, SHM_POOL_LOCK_TIMEOUT_MS));
  constants.Set("sysBase", Napi::Number::New(env, kSysBase));
  shm.Set("constants", constants);
  static const HotCall hot[] = {{"alloc", AllocFast}, {"free", FreeFast}};
  DefineHotCalls(env, shm, table, scratch, hot);
  exports.Set("shm", shm);
}

}  // namespace mempools
