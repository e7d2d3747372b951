// held_memory.hh — memory that views can still reach is never released.
//
// Node keeps Buffers alive across asynchronous calls (zlib, fs, sockets,
// crypto run on other threads or in the kernel with the view's address), so a
// pool never unmaps, frees or gives back memory that a chunk ArrayBuffer still
// covers, and never detaches such a buffer (detaching a Buffer zlib is using
// aborts Node). Instead:
//
//   - every chunk ArrayBuffer is registered (its address range) from its
//     creation to its finalizer, process-wide (addresses are unique across
//     environments);
//   - memory a pool lets go of (a TLSF region unmapped, a region- or heap-pool
//     chunk freed, a heap chunk given back to its segment, a segment mapping
//     closed) goes through ReleaseWhenUnreachable: when registered buffers lie
//     inside it, the release is deferred to the finalizer of the last of them
//     ("held" memory, counted in its pool's state for stats()); else it runs
//     at once.
//
// Invariant: a held block's `buffers` is the number of registered, not
// detached buffers inside it that have not been finalized; it is released
// exactly once, when that number reaches 0. Everything is guarded by one
// process-wide mutex, so releases may come from any thread (a pinned pool's
// last release, a thread-safe heap pool freeing a large block for an addon).
// A release function runs outside that mutex.
#ifndef MEMPOOLS_HELD_MEMORY_HH
#define MEMPOOLS_HELD_MEMORY_HH

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace mempools {

// What a pool's state counts of its held memory (read by stats()).
struct HeldCounters {
  std::atomic<size_t> bytes{0};
  std::atomic<size_t> blocks{0};
};

// Releases [base, base + bytes): munmap, free, a give-back to a segment.
using ReleaseFn = void (*)(void* ctx, void* base, size_t bytes);

struct BufferEntry;

// Registers a chunk ArrayBuffer over [base, base + bytes); nullptr when out of memory.
BufferEntry* RegisterBuffer(void* base, size_t bytes);
// The buffer was detached (no view can reach its memory any more): it holds nothing from now on.
void MarkDetached(BufferEntry* entry);
// The buffer's finalizer: unregisters it and runs every release it was the last holder of.
void UnregisterBuffer(BufferEntry* entry);

// Runs release(ctx, base, bytes) now when no registered buffer lies inside
// [base, base + bytes), else when the last of them is finalized (counted in
// `counters` meanwhile; the caller keeps them alive until then). Returns true
// when deferred.
bool ReleaseWhenUnreachable(void* base, size_t bytes, ReleaseFn release, void* ctx, HeldCounters* counters);

}  // namespace mempools

#endif  // MEMPOOLS_HELD_MEMORY_HH
