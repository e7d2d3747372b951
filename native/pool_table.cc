// pool_table.cc — see pool_table.hh.
#include "pool_table.hh"

#include <cerrno>
#include <cstdlib>
#include <new>

namespace mempools {

namespace {

// Detaches (when still alive) and forgets the region's ArrayBuffer, then
// returns its memory to the OS.
void DropRegion(napi_env env, Region* region) {
  if (region->buffer != nullptr) {
    napi_value buffer = nullptr;
    if (napi_get_reference_value(env, region->buffer, &buffer) == napi_ok && buffer != nullptr) {
      napi_detach_arraybuffer(env, buffer);
    }
    napi_delete_reference(env, region->buffer);
    region->buffer = nullptr;
  }
  UnmapRegion(&region->memory);
  region->present = false;
}

}  // namespace

int32_t PoolTable::Create() {
  PoolState* state = new (std::nothrow) PoolState();
  if (state == nullptr) return -1;
  state->control = malloc(tlsf_control_size());
  state->tlsf = state->control != nullptr ? tlsf_create(state->control, tlsf_control_size()) : nullptr;
  if (state->tlsf == nullptr) {
    free(state->control);
    delete state;
    return -1;
  }
  int32_t handle;
  if (!free_slots_.empty()) {
    handle = free_slots_.back();
    free_slots_.pop_back();
  } else {
    handle = static_cast<int32_t>(slots_.size());
    slots_.push_back(nullptr);
  }
  slots_[handle] = state;
  state->table = this;
  state->handle = handle;
  refs_++;
  return handle;
}

int PoolTable::AddRegion(PoolState* state, size_t area, SysCall* failed) {
  if (state->tlsf == nullptr) return TLSF_ERR_INVALID;
  if (tlsf_bitmap_size(area) == 0) return TLSF_ERR_INVALID;
  RegionMemory memory;
  int err = MapRegion(area, &memory, failed);
  if (err != 0) return -err;
  int id = tlsf_add_region(state->tlsf, memory.base, memory.area, memory.bitmap);
  if (id < 0) {
    UnmapRegion(&memory);
    return id;
  }
  state->regions[id].memory = memory;
  state->regions[id].present = true;
  return id;
}

napi_status PoolTable::RegionBuffer(napi_env env, PoolState* state, int id, napi_value* result) {
  if (state->tlsf == nullptr || id < 0 || id >= TLSF_MAX_REGIONS) return napi_invalid_arg;
  Region& region = state->regions[id];
  if (!region.present || region.buffer != nullptr) return napi_invalid_arg;
  napi_status status = napi_create_external_arraybuffer(env, region.memory.base, region.memory.area,
                                                        Unref, state, result);
  if (status != napi_ok) return status;
  state->refs++;  // released by the ArrayBuffer's finalizer, whatever happens later
  return napi_create_reference(env, *result, 0, &region.buffer);
}

int PoolTable::RemoveRegion(napi_env env, PoolState* state, int id) {
  if (state->tlsf == nullptr || id < 0 || id >= TLSF_MAX_REGIONS) return TLSF_ERR_INVALID;
  int status = tlsf_remove_region(state->tlsf, id);
  if (status == TLSF_OK) DropRegion(env, &state->regions[id]);
  return status;
}

void PoolTable::Destroy(napi_env env, PoolState* state) {
  if (state->destroyed) return;
  state->destroyed = true;
  for (Region& region : state->regions) {
    if (region.present) DropRegion(env, &region);
  }
  free(state->control);
  state->control = nullptr;
  state->tlsf = nullptr;
}

napi_status PoolTable::Owner(napi_env env, PoolState* state, napi_value* result) {
  return napi_create_external(env, state, Unref, nullptr, result);
}

// Finalizer of the owner external (data = state) and of every region
// ArrayBuffer (hint = state): each one drops exactly one reference.
void PoolTable::Unref(napi_env env, void* data, void* hint) {
  PoolState* state = static_cast<PoolState*>(hint != nullptr ? hint : data);
  if (--state->refs == 0) state->table->ReleaseState(env, state);
}

void PoolTable::ReleaseState(napi_env env, PoolState* state) {
  Destroy(env, state);  // frees the memory unless destroy() already did
  slots_[state->handle] = nullptr;
  free_slots_.push_back(state->handle);
  delete state;
  Unref();
}

void PoolTable::Unref() {
  if (--refs_ == 0) delete this;
}

void PoolTable::EnvFinalize(napi_env, void* data, void*) { static_cast<PoolTable*>(data)->Unref(); }

}  // namespace mempools
