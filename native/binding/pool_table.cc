// pool_table.cc — see pool_table.hh.
#include "pool_table.hh"

#include "native_handle.hh"

#include <new>

namespace mempools {

namespace {

constexpr size_t kScratchSlots = 8;

// The finalizer hint of a chunk ArrayBuffer: whose chunk it was (kShared: a
// buffer several chunks share).
struct ChunkBufferLink {
  PoolState* state;
  size_t id;
  BufferEntry* entry;
};
constexpr size_t kShared = SIZE_MAX;

// The live buffer behind a weak reference, or nullptr.
napi_value Deref(napi_env env, napi_ref ref) {
  napi_value value = nullptr;
  if (ref == nullptr || napi_get_reference_value(env, ref, &value) != napi_ok) return nullptr;
  return value;
}

// Drops the table's weak reference to a chunk's ArrayBuffer (the buffer lives on).
void Forget(napi_env env, ChunkBufferRef* chunk) {
  if (chunk->ref != nullptr) napi_delete_reference(env, chunk->ref);
  *chunk = ChunkBufferRef{};
}

// Chunk `id`'s slot in the state's table (grown to hold it), or nullptr once destroyed.
ChunkBufferRef* SlotOf(PoolState* state, size_t id) {
  if (state->destroyed) return nullptr;
  if (id >= state->chunks.size()) state->chunks.resize(id + 1);
  return &state->chunks[id];
}

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

// A registered external ArrayBuffer over [base, base + bytes) whose finalizer
// drops a reference on `state` (taken here) and names chunk `id` (or kShared).
napi_status PoolTable::NewChunkBuffer(napi_env env, PoolState* state, size_t id, void* base, size_t bytes,
                                      BufferEntry** entry, napi_value* result) {
  *entry = RegisterBuffer(base, bytes);
  ChunkBufferLink* link = *entry != nullptr ? new (std::nothrow) ChunkBufferLink{state, id, *entry} : nullptr;
  if (link == nullptr) {
    if (*entry != nullptr) UnregisterBuffer(*entry);
    return napi_generic_failure;
  }
  napi_status status = napi_create_external_arraybuffer(env, base, bytes, FinalizeChunkBuffer, link, result);
  if (status != napi_ok) {
    UnregisterBuffer(*entry);
    delete link;
    return status;
  }
  state->refs++;  // released by the ArrayBuffer's finalizer, whatever happens later
  return napi_ok;
}

napi_status PoolTable::ChunkBuffer(napi_env env, PoolState* state, size_t id, void* base, size_t bytes,
                                   napi_value* result) {
  ChunkBufferRef* slot = SlotOf(state, id);
  if (slot == nullptr) return napi_invalid_arg;
  ChunkBufferRef& chunk = *slot;
  // Made once per chunk: the same buffer again while it lives (a region pool's
  // large block kept for reuse, whose record JavaScript dropped); a new one
  // when it was collected and its finalizer has not run yet.
  if (chunk.entry != nullptr && (*result = Deref(env, chunk.ref)) != nullptr) return napi_ok;
  Forget(env, &chunk);
  BufferEntry* entry;
  napi_status status = NewChunkBuffer(env, state, id, base, bytes, &entry, result);
  if (status != napi_ok) return status;
  chunk.entry = entry;
  return napi_create_reference(env, *result, 0, &chunk.ref);
}

napi_status PoolTable::SharedChunkBuffer(napi_env env, PoolState* state, size_t id, void* base, size_t bytes,
                                         BufferEntry** shared, napi_value* result) {
  ChunkBufferRef* slot = SlotOf(state, id);
  if (slot == nullptr) return napi_invalid_arg;
  ChunkBufferRef& chunk = *slot;
  if (chunk.entry != nullptr && chunk.entry == *shared && (*result = Deref(env, chunk.ref)) != nullptr) return napi_ok;
  Forget(env, &chunk);
  napi_value buffer = nullptr;
  if (*shared != nullptr) {
    for (const ChunkBufferRef& other : state->chunks) {  // another chunk's reference to the live one
      if (other.entry == *shared && (buffer = Deref(env, other.ref)) != nullptr) break;
    }
  }
  if (buffer == nullptr) {
    BufferEntry* entry;
    napi_status status = NewChunkBuffer(env, state, kShared, base, bytes, &entry, &buffer);
    if (status != napi_ok) return status;
    *shared = entry;
  }
  napi_status status = napi_create_reference(env, buffer, 0, &chunk.ref);
  if (status != napi_ok) return status;
  chunk.entry = *shared;
  *result = buffer;
  return napi_ok;
}

void PoolTable::LetGoChunk(napi_env env, PoolState* state, size_t id) {
  if (detaching_) {
    DetachChunk(env, state, id);
    return;
  }
  if (id >= state->chunks.size() || state->chunks[id].entry == nullptr) return;
  Forget(env, &state->chunks[id]);
}

void PoolTable::DetachChunk(napi_env env, PoolState* state, size_t id) {
  if (id >= state->chunks.size() || state->chunks[id].entry == nullptr) return;
  ChunkBufferRef& chunk = state->chunks[id];
  napi_value buffer = nullptr;
  if (chunk.ref != nullptr && napi_get_reference_value(env, chunk.ref, &buffer) == napi_ok && buffer != nullptr) {
    napi_detach_arraybuffer(env, buffer);
  }
  MarkDetached(chunk.entry);
  Forget(env, &chunk);
}

void PoolTable::Retain(PoolState* state, PoolState* other) {
  other->refs++;
  state->retained = other;
}

void PoolTable::DestroyRetainers(napi_env env, PoolState* state) {
  for (int32_t handle = 0; handle < Limit(); handle++) {
    PoolState* other = State(handle);
    if (other != nullptr && !other->destroyed && other->retained == state) Destroy(env, other);
  }
}

void PoolTable::Destroy(napi_env env, PoolState* state) {
  if (state->destroyed) return;
  state->destroyed = true;
  // Unsafe: the views go first, so nothing is held.
  if (detaching_) {
    for (size_t id = 0; id < state->chunks.size(); id++) DetachChunk(env, state, id);
  }
  // A pinned nativeHandle keeps the C memory until its last release.
  if (state->native_handle == nullptr || !NativeHandleDestroyed(state->native_handle)) state->FreeMemory(env);
  for (size_t id = 0; id < state->chunks.size(); id++) LetGoChunk(env, state, id);
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

// Finalizer of the owner external (data = state): drops its reference.
void PoolTable::Unref(napi_env env, void* data, void*) {
  PoolState* state = static_cast<PoolState*>(data);
  if (--state->refs == 0) state->table->ReleaseState(env, state);
}

// Finalizer of a chunk ArrayBuffer: the memory it held may go now (held
// blocks it was the last holder of are released), then its reference.
void PoolTable::FinalizeChunkBuffer(napi_env env, void*, void* hint) {
  ChunkBufferLink* link = static_cast<ChunkBufferLink*>(hint);
  PoolState* state = link->state;
  if (link->id == kShared) {
    for (ChunkBufferRef& chunk : state->chunks) {
      if (chunk.entry == link->entry) Forget(env, &chunk);
    }
    state->ForgetSharedBuffer(link->entry);
  } else if (link->id < state->chunks.size() && state->chunks[link->id].entry == link->entry) {
    Forget(env, &state->chunks[link->id]);
  }
  UnregisterBuffer(link->entry);
  delete link;
  if (--state->refs == 0) state->table->ReleaseState(env, state);
}

void PoolTable::ReleaseState(napi_env env, PoolState* state) {
  Destroy(env, state);  // frees the memory unless destroy() already did
  PoolState* retained = state->retained;
  slots_[state->handle] = nullptr;
  free_slots_.push_back(state->handle);
  if (state->native_handle == nullptr || !NativeHandleTakesOver(state->native_handle)) delete state;
  if (retained != nullptr && --retained->refs == 0) ReleaseState(env, retained);
  Unref();
}

void PoolTable::Unref() {
  if (--refs_ == 0) delete this;
}

void PoolTable::EnvFinalize(napi_env, void* data, void*) { static_cast<PoolTable*>(data)->Unref(); }

}  // namespace mempools
