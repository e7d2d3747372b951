// os_memory.hh — OS memory: chunks for the region and heap pools, and one TLSF region: an mmap'd area (what JS
// sees through the region's ArrayBuffer) and a calloc'd start bitmap (kept
// outside the area so no JavaScript view can reach it).
#ifndef MEMPOOLS_OS_MEMORY_HH
#define MEMPOOLS_OS_MEMORY_HH

#include <cstddef>
#include <cstdint>

#include "held_memory.hh"

namespace mempools {

struct RegionMemory {
  void* base = nullptr;    // start of the area; aligned to `alignment`
  size_t area = 0;         // bytes the allocator and the ArrayBuffer use
  size_t mapped = 0;       // bytes mapped (area rounded up to whole pages)
  void* bitmap = nullptr;  // tlsf_bitmap_size(area) bytes
};

// Which call failed, for ERR_POOL_SYSTEM's `syscall`: the index into
// kSysCallNames (exported as binding.syscalls). kOperation: the allocator
// does not say which call failed (TypeScript names the operation).
// clang-format off
enum class SysCall { kNone, kMmap, kCalloc, kMalloc, kShmOpen, kMemfdCreate, kFcntl, kShmUnlink,
                     kFstat, kFutex, kOperation };
// clang-format on

// OS failures cross to JavaScript as -(errno + call * kSysBase), for every
// pool kind (SysFailure); binding.syscalls names the calls by index.
constexpr int kSysBase = 1000;
// clang-format off
constexpr const char* kSysCallNames[] = {"", "mmap", "calloc", "malloc", "shm_open", "memfd_create", "fcntl",
                                         "shm_unlink", "fstat", "futex", ""};
// clang-format on
constexpr uint32_t kSysCallCount = sizeof kSysCallNames / sizeof kSysCallNames[0];
static_assert(kSysCallCount == static_cast<uint32_t>(SysCall::kOperation) + 1, "a name for every SysCall");
inline double SysFailure(SysCall call, int error) { return -(error + static_cast<int>(call) * kSysBase); }

// Maps `area` bytes (a multiple of 8, validated by the caller) at an address
// aligned to min(next power of two >= area, 2 MiB) and at least a page, so an
// alignment up to that holds for offsets as for addresses. Returns 0, or the
// errno of the failing call with *failed saying which call it was.
int MapRegion(size_t area, RegionMemory* out, SysCall* failed);

// Returns the area to the OS and frees the bitmap. Safe on an empty RegionMemory.
// For a region no ArrayBuffer was made of (a failed add).
void UnmapRegion(RegionMemory* mem);

// `bytes` of fresh zero pages from the OS (mmap), nullptr when it fails: only
// the pages written become resident (a TLSF control structure whose front
// cache stays off never writes its last 12 KiB). UnmapPages returns them.
void* MapPages(size_t bytes);
void UnmapPages(void* p, size_t bytes);

// Bytes of [p, p + bytes) resident in RAM, by whole pages (mincore; 0 where it
// fails). O(bytes / page size).
size_t ResidentBytes(const void* p, size_t bytes);

// Gives the whole pages inside [p, p + bytes) of a private anonymous mapping back
// to the OS (madvise MADV_DONTNEED: they read as zero and take no RAM until
// written again). The bytes of them that were resident (0 where madvise fails).
// O(bytes / page size).
size_t ReleasePages(void* p, size_t bytes);

// ResidentBytes of a region: its area and its start bitmap.
size_t RegionResident(const RegionMemory& mem);
// Frees the bitmap and returns the area to the OS once no chunk ArrayBuffer
// reaches it (held_memory.hh; counted in `held` meanwhile).
void ReleaseRegion(RegionMemory* mem, HeldCounters* held);

// Memory for the region and heap pools' chunks: `bytes` aligned to `align` (a
// power of two >= a page) from posix_memalign (the map callback's signature),
// and its release with free once no chunk ArrayBuffer reaches it.
void* MapChunk(void* ctx, size_t bytes, size_t align);
void ReleaseChunk(void* p, size_t bytes, HeldCounters* held);

}  // namespace mempools

#endif  // MEMPOOLS_OS_MEMORY_HH
