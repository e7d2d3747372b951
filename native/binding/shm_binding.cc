// shm_binding.cc — the shared-memory pool's flat N-API functions. Offsets are
// area offsets (see shm_state.hh). Results are numbers: an area offset or a
// count (>= 0), a shm_pool_status, or -(kSysBase + errno) for an OS failure.
// The hot calls go through the scratch array (see tlsf_fast.cc):
//   alloc(): scratch = [handle, size, zero] -> [area offset | negative code]
//   free():  scratch = [handle, offset]     -> [status]
// No C++ exceptions: the TypeScript layer validates before it calls in.
#include "shm_binding.hh"

#include <cerrno>
#include <cstdint>
#include <string>

#include "flat_call.hh"
#include "heap_state.hh"
#include "scratch_call.hh"
#include "shm_handle.hh"
#include "shm_state.hh"

namespace mempools {

namespace {

constexpr int kSysBase = 1000;

// A shm_pool_status as a number JavaScript decodes; SYSTEM carries errno.
double Code(int status) { return status == SHM_POOL_ERR_SYSTEM ? -(kSysBase + errno) : status; }

PoolTable* TableOf(const Napi::CallbackInfo& info) { return static_cast<PoolTable*>(info.Data()); }

ShmState* StateOf(const Napi::CallbackInfo& info) {
  return TableOf(info)->Live<ShmState>(info[0].As<Napi::Number>().Int32Value());
}

double Num(const Napi::CallbackInfo& info, size_t index) { return info[index].As<Napi::Number>().DoubleValue(); }

Napi::Value Number(const Napi::CallbackInfo& info, double value) { return Napi::Number::New(info.Env(), value); }

// An allocating call's outcome: the area offset of the new block, or a code.
double Placed(const ShmState* state, int status, uint64_t offset) {
  if (status != SHM_POOL_OK) return Code(status);
  double area = state->ToArea(offset);
  return area >= 0 ? area : static_cast<double>(SHM_POOL_ERR_CORRUPTED);
}

// [handle, owner, area ArrayBuffer, fd] for an attached pool, else a code.
Napi::Value Adopt(const Napi::CallbackInfo& info, int status, shm_pool_t* pool) {
  if (status != SHM_POOL_OK) return Number(info, Code(status));
  int32_t handle;
  napi_value owner, buffer;
  if (AdoptShm(TableOf(info), info.Env(), pool, &handle, &owner, &buffer) != napi_ok) {
    return Number(info, -(kSysBase + ENOMEM));
  }
  Napi::Array result = Napi::Array::New(info.Env(), 4);
  result.Set(uint32_t{0}, Number(info, handle));
  result.Set(uint32_t{1}, Napi::Value(info.Env(), owner));
  result.Set(uint32_t{2}, Napi::Value(info.Env(), buffer));
  result.Set(uint32_t{3}, Number(info, shm_pool_fd(pool)));
  return result;
}

// create(name | null, size, mode)
Napi::Value Create(const Napi::CallbackInfo& info) {
  double size = Num(info, 1), mode = Num(info, 2);
  if (!IsSize(size) || !(mode >= 0 && mode <= 0777)) return Number(info, SHM_POOL_ERR_INVALID);
  std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : std::string();
  shm_pool_t* pool = nullptr;
  int status = shm_pool_create(info[0].IsString() ? name.c_str() : nullptr, static_cast<size_t>(size),
                               static_cast<unsigned>(mode), &pool);
  return Adopt(info, status, pool);
}

// open(name)
Napi::Value Open(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  shm_pool_t* pool = nullptr;
  int status = shm_pool_open(name.c_str(), &pool);
  return Adopt(info, status, pool);
}

// fromFd(fd)
Napi::Value FromFd(const Napi::CallbackInfo& info) {
  shm_pool_t* pool = nullptr;
  int status = shm_pool_from_fd(info[0].As<Napi::Number>().Int32Value(), &pool);
  return Adopt(info, status, pool);
}

// unlink(name) -> status
Napi::Value Unlink(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  return Number(info, Code(shm_pool_unlink(name.c_str())));
}

// realloc(handle, offset, size) -> new area offset or a code
Napi::Value Realloc(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf(info);
  uint64_t offset, moved = 0;
  double size = Num(info, 2);
  if (state == nullptr || !IsSize(size)) return Number(info, SHM_POOL_ERR_INVALID);
  if (!state->ToSegment(Num(info, 1), &offset)) return Number(info, SHM_POOL_ERR_FOREIGN);
  int status = shm_pool_realloc(state->pool, offset, static_cast<size_t>(size), &moved, nullptr);
  return Number(info, Placed(state, status, moved));
}

// at(handle, offset, length) -> status (OK: a live block holds length bytes there)
Napi::Value At(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf(info);
  uint64_t offset;
  double length = Num(info, 2);
  void* ptr;
  if (state == nullptr || !IsSize(length)) return Number(info, SHM_POOL_ERR_INVALID);
  if (!state->ToSegment(Num(info, 1), &offset)) return Number(info, SHM_POOL_ERR_FOREIGN);
  return Number(info, Code(shm_pool_at(state->pool, offset, static_cast<size_t>(length), &ptr)));
}

// lock(handle) -> status (OWNER_DIED: taken, the previous holder died); unlock(handle) -> status
Napi::Value Lock(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf(info);
  return Number(info, Code(state == nullptr ? SHM_POOL_ERR_INVALID : shm_pool_lock(state->pool)));
}

Napi::Value Unlock(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf(info);
  return Number(info, Code(state == nullptr ? SHM_POOL_ERR_INVALID : shm_pool_unlock(state->pool)));
}

// wait(handle, offset, expected (int32), timeoutMs (< 0: forever)) -> status
Napi::Value Wait(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf(info);
  uint64_t offset;
  if (state == nullptr || !state->ToSegment(Num(info, 1), &offset)) return Number(info, SHM_POOL_ERR_INVALID);
  uint32_t expected = static_cast<uint32_t>(info[2].As<Napi::Number>().Int32Value());
  double timeout = Num(info, 3);
  int64_t ms = timeout >= 0 && timeout <= kMaxSafeInteger ? static_cast<int64_t>(timeout) : -1;
  return Number(info, Code(shm_pool_wait(state->pool, offset, expected, ms)));
}

// notify(handle, offset, count (< 0: all)) -> woken count or a code
Napi::Value Notify(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf(info);
  uint64_t offset;
  if (state == nullptr || !state->ToSegment(Num(info, 1), &offset)) return Number(info, SHM_POOL_ERR_INVALID);
  double count = Num(info, 2);
  int woken = 0;
  int status = shm_pool_notify(state->pool, offset, count >= 0 && count < 2147483647.0 ? static_cast<int>(count) : -1,
                               &woken);
  return Number(info, status == SHM_POOL_OK ? woken : Code(status));
}

// setRoot(handle, key, offset) -> status
Napi::Value SetRoot(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf(info);
  uint64_t offset;
  if (state == nullptr || !state->ToSegment(Num(info, 2), &offset)) return Number(info, SHM_POOL_ERR_INVALID);
  std::string key = info[1].As<Napi::String>().Utf8Value();
  return Number(info, Code(shm_pool_set_root(state->pool, key.c_str(), offset)));
}

// getRoot(handle, key) -> area offset, or a code (NOT_FOUND; CORRUPTED for a root outside the area)
Napi::Value GetRoot(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf(info);
  if (state == nullptr) return Number(info, SHM_POOL_ERR_INVALID);
  std::string key = info[1].As<Napi::String>().Utf8Value();
  uint64_t offset = 0;
  int status = shm_pool_get_root(state->pool, key.c_str(), &offset);
  return Number(info, Placed(state, status, offset));
}

// deleteRoot(handle, key) -> status
Napi::Value DeleteRoot(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf(info);
  if (state == nullptr) return Number(info, SHM_POOL_ERR_INVALID);
  std::string key = info[1].As<Napi::String>().Utf8Value();
  return Number(info, Code(shm_pool_delete_root(state->pool, key.c_str())));
}

// stats(handle) -> [segmentSize, capacity, used, peakUsed, available, free, largestFree,
//                   allocations, failedAllocations, generation] or a code
Napi::Value Stats(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf(info);
  shm_pool_stats_t s;
  int status = state == nullptr ? SHM_POOL_ERR_INVALID : shm_pool_stats(state->pool, &s);
  if (status != SHM_POOL_OK) return Number(info, Code(status));
  const double values[] = {static_cast<double>(s.segment_size), static_cast<double>(s.capacity),
                           static_cast<double>(s.used), static_cast<double>(s.peak_used),
                           static_cast<double>(s.available), static_cast<double>(s.free),
                           static_cast<double>(s.largest_free), static_cast<double>(s.allocations),
                           static_cast<double>(s.failed_allocations), static_cast<double>(s.generation)};
  constexpr uint32_t count = sizeof values / sizeof values[0];
  Napi::Array result = Napi::Array::New(info.Env(), count);
  for (uint32_t i = 0; i < count; i++) result.Set(i, Number(info, values[i]));
  return result;
}

// check(handle) -> null, or why the segment is corrupted
Napi::Value Check(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf(info);
  const char* why = nullptr;
  if (state != nullptr && shm_pool_check(state->pool, &why) == SHM_POOL_OK) return info.Env().Null();
  return Napi::String::New(info.Env(), why != nullptr ? why : "unknown corruption");
}

// close(handle, detach): unmaps and closes the descriptor once no view
// reaches the mapping (detach, unsafe: detaches the views, unmaps now).
Napi::Value Close(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf(info);
  if (state == nullptr) return info.Env().Undefined();
  DetachScope scope(TableOf(info), DetachArg(info, 1));
  // A pinned nativeHandle defers the unmap: the heap pools over the segment go now (see shm_handle.cc).
  if (state->native_handle != nullptr) DestroyHeapsOf(info.Env(), TableOf(info), state);
  TableOf(info)->Destroy(info.Env(), state);
  return info.Env().Undefined();
}

// parkOpen(handle, stacks, depth) -> area offset of this process's new park list, or a code
Napi::Value ParkOpen(const Napi::CallbackInfo& info) {
  ShmState* state = StateOf(info);
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
  ShmState* state = StateOf(info);
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
  int status = s[2] != 0 ? shm_pool_calloc(state->pool, 1, static_cast<size_t>(s[1]), &offset, nullptr)
                         : shm_pool_alloc(state->pool, static_cast<size_t>(s[1]), &offset, nullptr);
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
    s[0] = Code(shm_pool_free_at(state->pool, offset));
  }
  return nullptr;
}

}  // namespace

void InitShm(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch) {
  static const FlatCall calls[] = {
      {"create", Create},   {"open", Open},       {"fromFd", FromFd},         {"unlink", Unlink},
      {"realloc", Realloc}, {"at", At},           {"lock", Lock},             {"unlock", Unlock},
      {"wait", Wait},       {"notify", Notify},   {"setRoot", SetRoot},       {"getRoot", GetRoot},
      {"deleteRoot", DeleteRoot}, {"stats", Stats}, {"check", Check},        {"close", Close},
      {"nativeHandle", ShmNativeHandle},
      {"parkOpen", ParkOpen},     {"parkClose", ParkClose},
  };
  Napi::Object shm = FlatCalls(env, table, calls);
  Napi::Object constants = Napi::Object::New(env);
  constants.Set("minSize", Napi::Number::New(env, static_cast<double>(shm_pool_min_size())));
  constants.Set("maxSize", Napi::Number::New(env, static_cast<double>(SHM_POOL_MAX_SIZE)));
  constants.Set("roots", Napi::Number::New(env, SHM_POOL_ROOTS));
  constants.Set("keyMax", Napi::Number::New(env, SHM_POOL_KEY_MAX));
  constants.Set("nameMax", Napi::Number::New(env, SHM_POOL_NAME_MAX));
  constants.Set("sysBase", Napi::Number::New(env, kSysBase));
  shm.Set("constants", constants);
  static const HotCall hot[] = {{"alloc", AllocFast}, {"free", FreeFast}};
  DefineHotCalls(env, shm, table, scratch, hot);
  exports.Set("shm", shm);
}

}  // namespace mempools
