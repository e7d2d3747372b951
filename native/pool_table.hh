// pool_table.hh — native pool state, the per-environment handle table, and the
// reference counting that decides when memory and bookkeeping are freed.
//
// JavaScript names a pool by an integer handle (an index into the table), so
// every call crosses with plain numbers. A pool's state is referenced by:
//   1 for the "owner" napi external the TypeScript TlsfPool holds, and
//   1 for every region ArrayBuffer that has not been finalized yet.
// Every finalizer drops one reference. destroy() frees the C memory at once
// (detaching every region ArrayBuffer first); when the count reaches 0 the
// memory is freed too if destroy() never ran, then the state and its slot.
// Memory is therefore freed exactly once, and only when neither the pool nor
// any view of it is reachable, or on destroy().
#ifndef MEMPOOLS_POOL_TABLE_HH
#define MEMPOOLS_POOL_TABLE_HH

#include <node_api.h>

#include <cstdint>
#include <vector>

#include "region_memory.hh"
#include "tlsf.h"

namespace mempools {

class PoolTable;

struct Region {
  RegionMemory memory;
  napi_ref buffer = nullptr;  // weak reference to the region's ArrayBuffer
  bool present = false;
};

struct PoolState {
  PoolTable* table = nullptr;
  int32_t handle = -1;
  uint32_t refs = 1;          // the owner external
  bool destroyed = false;
  void* control = nullptr;    // tlsf_control_size() bytes, malloc'd
  tlsf_t* tlsf = nullptr;     // nullptr once destroyed
  Region regions[TLSF_MAX_REGIONS];
};

class PoolTable {
 public:
  // Creates a pool with no region. Returns its handle, or -1 when out of memory.
  int32_t Create();

  // The live (not destroyed) allocator behind a handle, or nullptr.
  tlsf_t* Allocator(int32_t handle) const {
    if (handle < 0 || static_cast<size_t>(handle) >= slots_.size()) return nullptr;
    PoolState* state = slots_[handle];
    return state != nullptr ? state->tlsf : nullptr;
  }
  PoolState* State(int32_t handle) const {
    if (handle < 0 || static_cast<size_t>(handle) >= slots_.size()) return nullptr;
    return slots_[handle];
  }

  // Adds a region of `area` bytes. Returns its id (>= 0), a negative
  // tlsf_status, or -errno with *failed set when the OS refused memory.
  int AddRegion(PoolState* state, size_t area, SysCall* failed);
  // The region's external ArrayBuffer (made once per region; takes a reference).
  napi_status RegionBuffer(napi_env env, PoolState* state, int id, napi_value* result);
  // Removes an empty region: detaches its ArrayBuffer, then unmaps it.
  int RemoveRegion(napi_env env, PoolState* state, int id);
  // Detaches every region ArrayBuffer and frees all C memory. Idempotent.
  void Destroy(napi_env env, PoolState* state);

  // The owner external for a state (takes no extra reference: the state starts with one).
  napi_status Owner(napi_env env, PoolState* state, napi_value* result);

  // The environment's scratch array (see tlsf_fast.cc). The exports object
  // holds its Float64Array, so it lives as long as the addon is loaded.
  double* scratch() const { return scratch_; }
  void set_scratch(double* scratch) { scratch_ = scratch; }

  // Called when the environment shuts down (instance-data finalizer).
  static void EnvFinalize(napi_env env, void* data, void* hint);

 private:
  static void Unref(napi_env env, void* data, void* hint);
  void ReleaseState(napi_env env, PoolState* state);
  void Unref();

  std::vector<PoolState*> slots_;
  std::vector<int32_t> free_slots_;
  uint32_t refs_ = 1;  // the environment + one per pool state
  double* scratch_ = nullptr;
};

}  // namespace mempools

#endif  // MEMPOOLS_POOL_TABLE_HH
