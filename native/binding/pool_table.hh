// pool_table.hh — native pool state, the per-environment handle table, the
// chunk ArrayBuffers, and the reference counting that decides when memory and
// bookkeeping are freed. Shared by every pool kind (TlsfState, RegionState).
//
// JavaScript names a pool by an integer handle (an index into the table), so
// every call crosses with plain numbers. A pool's state is referenced by:
//   1 for the "owner" napi external the TypeScript pool holds, and
//   1 for every chunk ArrayBuffer (a TLSF region, a region-pool block or large
//   block, a heap-pool chunk) that has not been finalized yet, and
//   1 for every child pool state that takes its memory from this one (Retain).
// Every finalizer drops one reference. destroy() frees the C memory at once,
// except what a chunk ArrayBuffer still covers: that is held until the
// buffer's finalizer (held_memory.hh), and the buffers are not detached (an
// unsafe destroy, opt-in, detaches them and frees everything now). When the
// count reaches 0 the memory is freed too if destroy() never ran, then the
// state and its slot. Memory is therefore freed exactly once, and never while
// a view can reach it (unless the caller asked for an unsafe destroy).
#ifndef MEMPOOLS_POOL_TABLE_HH
#define MEMPOOLS_POOL_TABLE_HH

#include <node_api.h>

#include "held_memory.hh"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mempools {

class PoolTable;
struct NativeHandle;

enum class PoolKind { kTlsf = 1, kRegion = 2, kHeap = 3, kShm = 4 };

// A chunk's ArrayBuffer as its state knows it: a weak reference (to detach it
// on an unsafe destroy) and its entry in the held-memory registry.
struct ChunkBufferRef {
  napi_ref ref = nullptr;
  BufferEntry* entry = nullptr;
};

// What every pool kind shares. A kind derives from it (through KindState) and frees its
// C memory in FreeMemory (letting go of each chunk's ArrayBuffer with
// PoolTable::LetGoChunk before that chunk's memory goes, and releasing memory
// through ReleaseWhenUnreachable).
struct PoolState {
  explicit PoolState(PoolKind k) : kind(k) {}
  virtual ~PoolState() = default;
  // Frees all C memory of the pool; called once, by PoolTable::Destroy.
  virtual void FreeMemory(napi_env env) = 0;
  // A buffer several of its chunks share (PoolTable::SharedChunkBuffer) was
  // finalized: `entry` is gone. Default: nothing to forget.
  virtual void ForgetSharedBuffer(BufferEntry* entry) { (void)entry; }

  const PoolKind kind;
  PoolTable* table = nullptr;
  int32_t handle = -1;
  uint32_t refs = 1;  // the owner external
  bool destroyed = false;
  std::vector<ChunkBufferRef> chunks;  // the live chunks' ArrayBuffers, by chunk id
  HeldCounters held;                   // memory released but held for views (stats)
  // A state this one keeps alive (a child pool's parent, whose memory its
  // chunks come from): holds one of its references, dropped when this state
  // is released. Set with PoolTable::Retain.
  PoolState* retained = nullptr;
  // The nativeHandle shim once JavaScript asked for it (native_handle.hh):
  // holds one of its references; a pin on it defers FreeMemory to its last release.
  NativeHandle* native_handle = nullptr;
};

// A kind's state: its kind known at compile time (StateOf, PoolTable::Live).
template <PoolKind K>
struct KindState : PoolState {
  static constexpr PoolKind kKind = K;
  KindState() : PoolState(K) {}
};

class PoolTable {
 public:
  explicit PoolTable(napi_env env) : env_(env) {}
  // The environment this table belongs to (for callbacks from C, e.g. on_chunk).
  napi_env env() const { return env_; }

  // Registers a new state (takes ownership). Returns its handle.
  int32_t Add(PoolState* state);

  // Every handle is below this.
  int32_t Limit() const { return static_cast<int32_t>(slots_.size()); }
  PoolState* State(int32_t handle) const {
    if (handle < 0 || static_cast<size_t>(handle) >= slots_.size()) return nullptr;
    return slots_[handle];
  }
  // The live (not destroyed) state of kind S behind a handle, or nullptr.
  template <typename S>
  S* Live(int32_t handle) const {
    PoolState* state = State(handle);
    return state != nullptr && state->kind == S::kKind && !state->destroyed ? static_cast<S*>(state) : nullptr;
  }

  // Makes the external ArrayBuffer of chunk `id` over [base, base + bytes)
  // (takes a reference, dropped by its finalizer) and keeps a weak reference to
  // it; the same buffer again while it lives.
  napi_status ChunkBuffer(napi_env env, PoolState* state, size_t id, void* base, size_t bytes, napi_value* result);
  // The same for a chunk that lies at `offset` of a buffer several chunks of
  // the state share, over [base, base + bytes): the live one of *shared (its
  // registration; set when this makes one), else a new one. Unsafe destroy
  // detaches it with the first of its chunks (every view of it is the state's).
  napi_status SharedChunkBuffer(napi_env env, PoolState* state, size_t id, void* base, size_t bytes,
                                BufferEntry** shared, napi_value* result);
  // Forgets chunk `id`'s ArrayBuffer (the chunk is going; the buffer lives on
  // and holds its memory) or, during an unsafe destroy, detaches it. Call it
  // before the chunk's memory is released. No-op when it has none.
  void LetGoChunk(napi_env env, PoolState* state, size_t id);
  // Makes `state` hold a reference on `other` until `state` is released.
  void Retain(PoolState* state, PoolState* other);
  // Destroys every live state that retains `state` (a heap pool's children; the
  // heap pools over a segment), each with its own children: done before
  // `state`'s memory goes (a segment closed, a pinned pool destroyed), so that
  // no chunk of theirs outlives its views.
  void DestroyRetainers(napi_env env, PoolState* state);
  // Marks the state destroyed and frees its C memory (FreeMemory), all but
  // what chunk ArrayBuffers still reach, which is held until they are
  // finalized. Within SetDetaching(true) (unsafe: an opt-in destroy), every
  // chunk ArrayBuffer is detached first, so everything goes now. Idempotent.
  void Destroy(napi_env env, PoolState* state);
  // Sets whether LetGoChunk and Destroy detach (an unsafe destroy in
  // progress); returns the previous setting, to restore after.
  bool SetDetaching(bool detaching) {
    const bool was = detaching_;
    detaching_ = detaching;
    return was;
  }

  // The owner external for a state (takes no extra reference: the state starts with one).
  napi_status Owner(napi_env env, PoolState* state, napi_value* result);

  // The environment's scratch array (see the hot calls in tlsf_binding.cc): one Float64Array per
  // environment, shared by every pool kind's hot calls. The exports object
  // holds it, so it lives as long as the addon is loaded.
  napi_status MakeScratch(napi_env env, napi_value* result);
  double* scratch() const { return scratch_; }

  // The region pools' bump lease (region_binding.cc): JavaScript bumps small
  // allocations into one pool's head block itself and logs them in `ctl` (an
  // Int32Array the region exports hold, so it lives as long as the addon is
  // loaded); every native call on that pool records the log first. One pool
  // of the environment holds it at a time (`lessee`, nullptr: none).
  struct RegionLease {
    int32_t* ctl = nullptr;
    PoolState* lessee = nullptr;
    uint32_t chunk = 0;  // the leased block
    uint64_t gen = 0;    // and its generation
  };
  RegionLease region_lease;

  // Called when the environment shuts down (instance-data finalizer).
  static void EnvFinalize(napi_env env, void* data, void* hint);

 private:
  static void Unref(napi_env env, void* data, void* hint);
  static void FinalizeChunkBuffer(napi_env env, void* data, void* hint);
  napi_status NewChunkBuffer(napi_env env, PoolState* state, size_t id, void* base, size_t bytes, BufferEntry** entry,
                             napi_value* result);
  void DetachChunk(napi_env env, PoolState* state, size_t id);
  void ReleaseState(napi_env env, PoolState* state);
  void Unref();

  const napi_env env_;
  std::vector<PoolState*> slots_;
  std::vector<int32_t> free_slots_;
  uint32_t refs_ = 1;       // the environment + one per pool state
  bool detaching_ = false;  // inside an unsafe Destroy: LetGoChunk detaches
  double* scratch_ = nullptr;
};

}  // namespace mempools

#endif  // MEMPOOLS_POOL_TABLE_HH
