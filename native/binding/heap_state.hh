// heap_state.hh — the native state of one HeapPool: the C heap pool
// (native/heap_pool.h) and the memory callbacks that tie its chunks (class
// chunks and large blocks) to the pool's chunk ArrayBuffers.
//
// A root pool's chunks come from posix_memalign (aligned as the C pool asks:
// 64 KiB for class chunks, a page for large blocks) and go back with free; a
// child's come from its parent, which keeps them as "lent" chunks that it
// never exposes: a lent chunk's ArrayBuffer is the child's. on_chunk(created
// = 0), called before a chunk is released (a spare released, a large block
// freed, destroy), lets go of its ArrayBuffer (which lives on and holds the
// memory: a root's chunk is freed, a segment's chunk given back, only once no
// view reaches it), so a chunk with no ArrayBuffer is a new one (heap_binding.cc
// tells JavaScript so). on_destroy marks a child
// destroyed through its parent. A child state retains its parent's state (see
// PoolTable::Retain), so the parent's memory outlives every child chunk.
//
// A pool with a SharedPool parent takes its chunks from the segment
// (shm_pool_map_chunk / shm_pool_unmap_chunk: "lent" chunks, 64 KiB-aligned
// in the segment and in this mapping) and retains the ShmState; its heap
// children inherit `shm`. Closing the segment (ShmState::FreeMemory) destroys
// such pools first (PoolTable::DestroyRetainers), so no chunk ArrayBuffer
// outlives the mapping.
#ifndef MEMPOOLS_HEAP_STATE_HH
#define MEMPOOLS_HEAP_STATE_HH

#include <cstdint>
#include <memory>

#include "heap_pool.h"
#include "binding.hh"
#include "pool_table.hh"
#include "shm_state.hh"

namespace mempools {

struct HeapState : KindState<PoolKind::kHeap> {
  void FreeMemory(napi_env env) override;

  heap_pool_t* pool = nullptr;  // nullptr once destroyed (directly or through the parent)
  ShmState* shm = nullptr;      // the segment the chunks come from (own or an ancestor's), else nullptr
  // The family's lock (threadSafe): a child shares its parent's, since its
  // calls reach the parent's structures. Enabled or not, never null.
  std::shared_ptr<PoolLock> lock;
  // Blocks allocated through nativeHandle and neither freed nor adopted by
  // JavaScript since are the heap pool's tagged blocks (heap_pool.h "tags",
  // counted in its stats); JavaScript counts the rest.
  bool chunks_let_go = false;  // chunk ArrayBuffers let go of already (a pinned destroy): on_chunk does nothing
};

// Creates a pool of `capacity` bytes (0: unbounded) in `table`, a child of
// `parent` (a heap pool) or of `shm` (a segment) when not nullptr (not both).
// Returns its handle, or a negative heap_pool_status.
// thread_safe: a lock (a child always shares its parent's instead).
int32_t CreateHeap(PoolTable* table, napi_env env, size_t capacity, HeapState* parent, ShmState* shm,
                   bool thread_safe = false);
// The ArrayBuffer of live chunk `id` (made once per chunk incarnation); *block
// is the class size of a class chunk, 0 for a large block; *area the chunk's
// area offset in its segment, -1 for a pool without a segment.
napi_status HeapChunkBuffer(napi_env env, HeapState* state, uint32_t id, napi_value* result, size_t* block,
                            double* area);

}  // namespace mempools

#endif  // MEMPOOLS_HEAP_STATE_HH
