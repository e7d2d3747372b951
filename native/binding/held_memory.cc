// held_memory.cc — see held_memory.hh.
#include "held_memory.hh"

#include <map>
#include <mutex>
#include <new>
#include <vector>

namespace mempools {

namespace {

// Memory whose release waits for `buffers` registered buffers to be finalized.
struct HeldBlock {
  ReleaseFn release;
  void* ctx;
  void* base;
  size_t bytes;
  size_t buffers;
  HeldCounters* counters;
};

}  // namespace

// A registered chunk ArrayBuffer. `holds`: the held blocks it lies inside.
struct BufferEntry {
  uintptr_t base;
  size_t bytes;
  bool detached = false;
  std::vector<HeldBlock*> holds;
};

namespace {

// Registered buffers by base address (several may share one: a child heap
// chunk given back and lent again while the old buffer lives).
struct Registry {
  std::mutex mutex;
  std::multimap<uintptr_t, BufferEntry*> buffers;
};

// Never destroyed: finalizers may run during process exit.
Registry& TheRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

void Finish(HeldBlock* block) {
  block->counters->bytes.fetch_sub(block->bytes, std::memory_order_relaxed);
  block->counters->blocks.fetch_sub(1, std::memory_order_relaxed);
  block->release(block->ctx, block->base, block->bytes);
  delete block;
}

// Drops `entry` from every held block it keeps (with the registry locked);
// appends those it was the last holder of to `done`, in the order they were held.
void DropHolds(BufferEntry* entry, std::vector<HeldBlock*>* done) {
  for (HeldBlock* block : entry->holds) {
    if (--block->buffers == 0) done->push_back(block);
  }
  entry->holds.clear();
}

}  // namespace

BufferEntry* RegisterBuffer(void* base, size_t bytes) {
  BufferEntry* entry = new (std::nothrow) BufferEntry();
  if (entry == nullptr) return nullptr;
  entry->base = reinterpret_cast<uintptr_t>(base);
  entry->bytes = bytes;
  Registry& registry = TheRegistry();
  std::lock_guard<std::mutex> guard(registry.mutex);
  registry.buffers.emplace(entry->base, entry);
  return entry;
}

void MarkDetached(BufferEntry* entry) {
  std::vector<HeldBlock*> done;
  {
    Registry& registry = TheRegistry();
    std::lock_guard<std::mutex> guard(registry.mutex);
    entry->detached = true;
    DropHolds(entry, &done);
  }
  for (HeldBlock* block : done) Finish(block);
}

void UnregisterBuffer(BufferEntry* entry) {
  std::vector<HeldBlock*> done;
  {
    Registry& registry = TheRegistry();
    std::lock_guard<std::mutex> guard(registry.mutex);
    auto range = registry.buffers.equal_range(entry->base);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == entry) {
        registry.buffers.erase(it);
        break;
      }
    }
    DropHolds(entry, &done);
  }
  // In the order they were held: a heap chunk given back to its segment
  // before the segment's mapping is closed.
  for (HeldBlock* block : done) Finish(block);
  delete entry;
}

bool ReleaseWhenUnreachable(void* base, size_t bytes, ReleaseFn release, void* ctx, HeldCounters* counters) {
  const uintptr_t start = reinterpret_cast<uintptr_t>(base);
  const uintptr_t end = bytes > UINTPTR_MAX - start ? UINTPTR_MAX : start + bytes;
  HeldBlock* block = nullptr;
  {
    Registry& registry = TheRegistry();
    std::lock_guard<std::mutex> guard(registry.mutex);
    for (auto it = registry.buffers.lower_bound(start); it != registry.buffers.end() && it->first < end; ++it) {
      BufferEntry* entry = it->second;
      if (entry->detached || entry->bytes > end - entry->base) continue;  // not inside
      if (block == nullptr) {
        block = new (std::nothrow) HeldBlock{release, ctx, base, bytes, 0, counters};
        if (block == nullptr) return true;  // cannot track it: keep the memory (a leak, never a crash)
      }
      entry->holds.push_back(block);
      block->buffers++;
    }
    if (block != nullptr) {
      counters->bytes.fetch_add(bytes, std::memory_order_relaxed);
      counters->blocks.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (block == nullptr) release(ctx, base, bytes);
  return block != nullptr;
}

}  // namespace mempools
