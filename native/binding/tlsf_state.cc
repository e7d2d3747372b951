// tlsf_state.cc — see tlsf_state.hh.
#include "tlsf_state.hh"

#include <cerrno>
#include <cstdlib>
#include <new>

namespace mempools {

namespace {

// Returns region `id`'s memory to the OS, once no view reaches it (its
// ArrayBuffer let go of already).
void DropRegionMemory(TlsfState* state, int id) {
  ReleaseRegion(&state->regions[id], &state->held);
  state->present[id] = false;
}

// Lets go of the region's ArrayBuffer, then of its memory.
void DropRegion(napi_env env, TlsfState* state, int id) {
  state->table->LetGoChunk(env, state, static_cast<size_t>(id));
  DropRegionMemory(state, id);
}

}  // namespace

void TlsfState::FreeMemory(napi_env env) {
  for (int id = 0; id < TLSF_MAX_REGIONS; id++) {
    if (present[id]) table->LetGoChunk(env, this, static_cast<size_t>(id));
  }
  FreePinnedMemory();
}

void TlsfState::FreePinnedMemory() {
  for (int id = 0; id < TLSF_MAX_REGIONS; id++) {
    if (present[id]) DropRegionMemory(this, id);
  }
  UnmapPages(control, tlsf_control_size());
  control = nullptr;
  tlsf = nullptr;
}

int32_t CreateTlsf(PoolTable* table, bool thread_safe) {
  TlsfState* state = new (std::nothrow) TlsfState();
  if (state == nullptr) return -1;
  if (thread_safe) state->lock->Enable();
  state->control = MapPages(tlsf_control_size());
  // Fresh pages are zero: only the pages of the lists blocks use become resident.
  state->tlsf = state->control != nullptr ? tlsf_create_zeroed(state->control, tlsf_control_size()) : nullptr;
  if (state->tlsf == nullptr) {
    UnmapPages(state->control, tlsf_control_size());
    delete state;
    return -1;
  }
  return table->Add(state);
}

int AddRegion(TlsfState* state, size_t area, SysCall* failed) {
  if (state->tlsf == nullptr) return TLSF_ERR_INVALID;
  if (tlsf_bitmap_size(area) == 0) return TLSF_ERR_INVALID;
  RegionMemory memory;
  int err = MapRegion(area, &memory, failed);
  if (err != 0) return -err;
  int id = tlsf_add_region_zeroed(state->tlsf, memory.base, memory.area, memory.bitmap);  // calloc: zero
  if (id < 0) {
    UnmapRegion(&memory);
    return id;
  }
  state->regions[id] = memory;
  state->present[id] = true;
  return id;
}

napi_status RegionBuffer(napi_env env, TlsfState* state, int id, napi_value* result) {
  if (state->tlsf == nullptr || id < 0 || id >= TLSF_MAX_REGIONS || !state->present[id]) return napi_invalid_arg;
  const RegionMemory& memory = state->regions[id];
  return state->table->ChunkBuffer(env, state, static_cast<size_t>(id), memory.base, memory.area, result);
}

int RemoveRegion(napi_env env, TlsfState* state, int id) {
  if (state->tlsf == nullptr || id < 0 || id >= TLSF_MAX_REGIONS) return TLSF_ERR_INVALID;
  int status = tlsf_remove_region(state->tlsf, id);
  if (status == TLSF_OK) DropRegion(env, state, id);
  return status;
}

}  // namespace mempools
