// os_memory.cc — see os_memory.hh.
#include "os_memory.hh"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "tlsf.h"

namespace mempools {

namespace {

constexpr size_t kMaxBaseAlign = size_t{2} << 20;  // 2 MiB

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) & ~(to - 1); }

void Unmap(void*, void* base, size_t bytes) { munmap(base, bytes); }
void Free(void*, void* p, size_t) { free(p); }

size_t BaseAlignment(size_t area) {
  size_t align = PageSize();
  while (align < area && align < kMaxBaseAlign) align <<= 1;
  return align;
}

}  // namespace

int MapRegion(size_t area, RegionMemory* out, SysCall* failed) {
  const size_t page = PageSize();
  const size_t align = BaseAlignment(area);
  const size_t length = RoundUp(area, page);
  const size_t span = length + (align - page);  // room to slide to `align`
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    *failed = SysCall::kMmap;
    return errno;
  }
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t base = RoundUp(start, align);
  if (base > start) munmap(raw, base - start);
  const uintptr_t end = start + span;
  if (end > base + length) munmap(reinterpret_cast<void*>(base + length), end - (base + length));

  void* bitmap = calloc(1, tlsf_bitmap_size(area));
  if (bitmap == nullptr) {
    munmap(reinterpret_cast<void*>(base), length);
    *failed = SysCall::kCalloc;
    return ENOMEM;
  }
  out->base = reinterpret_cast<void*>(base);
  out->area = area;
  out->mapped = length;
  out->bitmap = bitmap;
  return 0;
}

void* MapPages(size_t bytes) {
  void* p = mmap(nullptr, RoundUp(bytes, PageSize()), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void UnmapPages(void* p, size_t bytes) {
  if (p != nullptr) munmap(p, RoundUp(bytes, PageSize()));
}

size_t ResidentBytes(const void* p, size_t bytes) {
  if (p == nullptr || bytes == 0) return 0;
  const size_t page = PageSize();
  const uintptr_t lo = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  const uintptr_t hi = RoundUp(reinterpret_cast<uintptr_t>(p) + bytes, page);
  unsigned char vec[4096];  // one byte per page, a window at a time
  size_t resident = 0;
  for (uintptr_t at = lo; at < hi;) {
    const size_t pages = std::min<size_t>((hi - at) / page, sizeof vec);
    if (mincore(reinterpret_cast<void*>(at), pages * page, vec) != 0) return resident;
    for (size_t i = 0; i < pages; i++) resident += (vec[i] & 1) * page;
    at += pages * page;
  }
  return resident;
}

size_t ReleasePages(void* p, size_t bytes) {
  const size_t page = PageSize();
  const uintptr_t lo = RoundUp(reinterpret_cast<uintptr_t>(p), page);
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(page - 1);
  if (hi <= lo) return 0;
  const size_t resident = ResidentBytes(reinterpret_cast<void*>(lo), hi - lo);
  return madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED) == 0 ? resident : 0;
}

size_t RegionResident(const RegionMemory& mem) {
  return ResidentBytes(mem.base, mem.mapped) + ResidentBytes(mem.bitmap, tlsf_bitmap_size(mem.area));
}

void UnmapRegion(RegionMemory* mem) {
  if (mem->base != nullptr) munmap(mem->base, mem->mapped);
  free(mem->bitmap);
  *mem = RegionMemory{};
}

void ReleaseRegion(RegionMemory* mem, HeldCounters* held) {
  free(mem->bitmap);
  if (mem->base != nullptr) ReleaseWhenUnreachable(mem->base, mem->mapped, Unmap, nullptr, held);
  *mem = RegionMemory{};
}

void* MapChunk(void*, size_t bytes, size_t align) {
  void* p = nullptr;
  return posix_memalign(&p, align, bytes) == 0 ? p : nullptr;
}

void ReleaseChunk(void* p, size_t bytes, HeldCounters* held) {
  if (p != nullptr) ReleaseWhenUnreachable(p, bytes, Free, nullptr, held);
}

}  // namespace mempools
