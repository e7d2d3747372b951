// pool_table.cc — see pool_table.hh.
#include "pool_table.hh"

#include "native_handle.hh"

namespace mempools {

namespace {

constexpr size_t kScratchSlots = 8;

}  // namespace

int32_t PoolTable::Add(PoolState* state) {
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

napi_status PoolTable::ChunkBuffer(napi_env env, PoolState* state, size_t id, void* base, size_t bytes,
                                   napi_value* result) {
  if (state->destroyed) return napi_invalid_arg;
  if (id >= state->chunks.size()) state->chunks.resize(id + 1, nullptr);
  if (state->chunks[id] != nullptr) return napi_invalid_arg;  // made once per chunk
  napi_status status = napi_create_external_arraybuffer(env, base, bytes, Unref, state, result);
  if (status != napi_ok) return status;
  state->refs++;  // released by the ArrayBuffer's finalizer, whatever happens later
  return napi_create_reference(env, *result, 0, &state->chunks[id]);
}

void PoolTable::DetachChunk(napi_env env, PoolState* state, size_t id) {
  if (id >= state->chunks.size() || state->chunks[id] == nullptr) return;
  napi_value buffer = nullptr;
  if (napi_get_reference_value(env, state->chunks[id], &buffer) == napi_ok && buffer != nullptr) {
    napi_detach_arraybuffer(env, buffer);
  }
  napi_delete_reference(env, state->chunks[id]);
  state->chunks[id] = nullptr;
}

void PoolTable::Retain(PoolState* state, PoolState* other) {
  other->refs++;
  state->retained = other;
}

void PoolTable::Destroy(napi_env env, PoolState* state) {
  if (state->destroyed) return;
  state->destroyed = true;
  // A pinned nativeHandle keeps the C memory until its last release; the views go now.
  if (state->native_handle == nullptr || !NativeHandleDestroyed(state->native_handle)) state->FreeMemory(env);
  for (size_t id = 0; id < state->chunks.size(); id++) DetachChunk(env, state, id);
}

napi_status PoolTable::Owner(napi_env env, PoolState* state, napi_value* result) {
  return napi_create_external(env, state, Unref, nullptr, result);
}

napi_status PoolTable::MakeScratch(napi_env env, napi_value* result) {
  void* data = nullptr;
  napi_value buffer;
  napi_status status = napi_create_arraybuffer(env, kScratchSlots * sizeof(double), &data, &buffer);
  if (status != napi_ok) return status;
  status = napi_create_typedarray(env, napi_float64_array, kScratchSlots, buffer, 0, result);
  if (status == napi_ok) scratch_ = static_cast<double*>(data);
  return status;
}

// Finalizer of the owner external (data = state) and of every chunk
// ArrayBuffer (hint = state): each one drops exactly one reference.
void PoolTable::Unref(napi_env env, void* data, void* hint) {
  PoolState* state = static_cast<PoolState*>(hint != nullptr ? hint : data);
  if (--state->refs == 0) state->table->ReleaseState(env, state);
}

void PoolTable::ReleaseState(napi_env env, PoolState* state) {
  Destroy(env, state);  // frees the memory unless destroy() already did
  PoolState* retained = state->retained;
  slots_[state->handle] = nullptr;
  free_slots_.push_back(state->handle);
  if (state->native_handle == nullptr || !NativeHandleAdopts(state->native_handle)) delete state;
  if (retained != nullptr && --retained->refs == 0) ReleaseState(env, retained);
  Unref();
}

void PoolTable::Unref() {
  if (--refs_ == 0) delete this;
}

void PoolTable::EnvFinalize(napi_env, void* data, void*) { static_cast<PoolTable*>(data)->Unref(); }

}  // namespace mempools
