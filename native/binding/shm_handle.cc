// shm_handle.cc — see shm_handle.hh. Blocks are the segment's: an addon frees
// any live block (as any attached process may), SharedPool's stats (the
// segment's) count them, and this process's parked blocks are SharedPool's
// business as they are against other processes (see lib/SharedCache.ts).
#include "shm_handle.hh"

#include "mempools.h"
#include "native_handle.hh"
#include "shm_state.hh"

namespace mempools {

namespace {

ShmState* Shm(PoolState* state) { return static_cast<ShmState*>(state); }

int StatusOf(int shm_status) {
  if (shm_status == SHM_POOL_OK) return MEMPOOLS_OK;
  return shm_status == SHM_POOL_ERR_NOMEM ? MEMPOOLS_ERR_NOMEM : MEMPOOLS_ERR_INVALID;
}

// The segment offset of a live block's start at `ptr` (in the area).
int LiveOffsetOf(const ShmState* s, const void* ptr, uint64_t* offset) {
  if (shm_pool_offset_of(s->pool, ptr, offset) != SHM_POOL_OK || s->ToArea(*offset) < 0 ||
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

int Alloc(PoolState* state, size_t size, void** out) {
  ShmState* s = Shm(state);
  uint64_t offset = 0;
  void* ptr = nullptr;
  int status = StatusOf(shm_pool_alloc(s->pool, size, &offset, &ptr));
  return Placed(s, status, offset, ptr, out);
}

int Free(PoolState* state, void* ptr) { return StatusOf(shm_pool_free(Shm(state)->pool, ptr)); }

int Realloc(PoolState* state, void* ptr, size_t size, void** out) {
  ShmState* s = Shm(state);
  uint64_t offset, moved = 0;
  void* moved_ptr = nullptr;
  int status = LiveOffsetOf(s, ptr, &offset);
  if (status != MEMPOOLS_OK) return status;
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
  int status = StatusOf(shm_pool_at(s->pool, offset, 0, &ptr));
  if (status == MEMPOOLS_OK) *out = ptr;
  return status;
}

// The area ArrayBuffer was let go of and the heap pools over the segment are
// destroyed already (shm_binding.cc's close): only the mapping is left.
void FreePinned(PoolState* state) { Shm(state)->CloseMapping(); }

const HandleOps kOps = {MEMPOOLS_KIND_SHARED, Alloc, Free, Realloc, UsableSize, HandleOf, PointerOf, FreePinned,
                        nullptr};

}  // namespace

Napi::Value ShmNativeHandle(const Napi::CallbackInfo& info) {
  PoolState* state = static_cast<PoolTable*>(info.Data())->State(info[0].As<Napi::Number>().Int32Value());
  napi_value handle;
  if (state == nullptr || state->kind != ShmState::kKind ||
      MakeNativeHandle(info.Env(), state, &kOps, true, &handle) != napi_ok) {
    return info.Env().Undefined();
  }
  return Napi::Value(info.Env(), handle);
}

}  // namespace mempools
