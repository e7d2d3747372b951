// test_held_memory.cc — the held-memory registry (native/binding/held_memory.hh) under
// ASan + UBSan: a release waits for the last registered buffer inside it, runs
// exactly once, in the order held; detached buffers hold nothing; containment,
// not overlap, decides; releases from many threads at once.
#include "held_memory.hh"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

using mempools::BufferEntry;
using mempools::HeldCounters;

namespace {

int failed = 0;
int passed = 0;
bool case_ok = true;

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::printf("#   %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
      case_ok = false;                                                        \
    }                                                                         \
  } while (0)

void Run(const char* name, void (*fn)()) {
  case_ok = true;
  fn();
  std::printf("%s - %s\n", case_ok ? "ok" : "not ok", name);
  (case_ok ? passed : failed)++;
}

// A release that counts its calls and remembers the order.
struct Log {
  std::vector<int> order;
  int calls = 0;
};
struct Tagged {
  Log* log;
  int tag;
};
void Record(void* ctx, void*, size_t) {
  Tagged* t = static_cast<Tagged*>(ctx);
  t->log->calls++;
  t->log->order.push_back(t->tag);
}
void FreeIt(void*, void* base, size_t) { std::free(base); }

char* Memory(size_t n) { return static_cast<char*>(std::malloc(n)); }

void ReleasedAtOnceWithoutBuffers() {
  Log log;
  Tagged t{&log, 1};
  HeldCounters counters;
  char* m = Memory(4096);
  CHECK(!mempools::ReleaseWhenUnreachable(m, 4096, Record, &t, &counters));
  CHECK(log.calls == 1);
  CHECK(counters.bytes == 0 && counters.blocks == 0);
  std::free(m);
}

void HeldUntilTheLastBufferInside() {
  Log log;
  Tagged t{&log, 1};
  HeldCounters counters;
  char* m = Memory(4096);
  BufferEntry* a = mempools::RegisterBuffer(m, 4096);
  BufferEntry* b = mempools::RegisterBuffer(m + 1024, 512);  // a second buffer inside
  CHECK(mempools::ReleaseWhenUnreachable(m, 4096, Record, &t, &counters));
  CHECK(log.calls == 0);
  CHECK(counters.bytes == 4096 && counters.blocks == 1);
  mempools::UnregisterBuffer(a);
  CHECK(log.calls == 0);
  m[4095] = 1;  // still ours (ASan would object otherwise)
  mempools::UnregisterBuffer(b);
  CHECK(log.calls == 1);
  CHECK(counters.bytes == 0 && counters.blocks == 0);
  std::free(m);
}

void OverlapIsNotContainment() {
  Log log;
  Tagged t{&log, 1};
  HeldCounters counters;
  char* m = Memory(8192);
  BufferEntry* outer = mempools::RegisterBuffer(m, 8192);          // contains the released range
  BufferEntry* straddle = mempools::RegisterBuffer(m + 3072, 2048);  // crosses its end
  CHECK(!mempools::ReleaseWhenUnreachable(m + 1024, 3072, Record, &t, &counters));
  CHECK(log.calls == 1);
  mempools::UnregisterBuffer(outer);
  mempools::UnregisterBuffer(straddle);
  std::free(m);
}

void DetachedBuffersHoldNothing() {
  Log log;
  Tagged t{&log, 1};
  HeldCounters counters;
  char* m = Memory(4096);
  BufferEntry* a = mempools::RegisterBuffer(m, 4096);
  mempools::MarkDetached(a);
  CHECK(!mempools::ReleaseWhenUnreachable(m, 4096, Record, &t, &counters));
  CHECK(log.calls == 1);
  mempools::UnregisterBuffer(a);
  CHECK(log.calls == 1);
  std::free(m);
}

void DetachingReleasesWhatItHeld() {
  Log log;
  Tagged t{&log, 1};
  HeldCounters counters;
  char* m = Memory(4096);
  BufferEntry* a = mempools::RegisterBuffer(m, 4096);
  CHECK(mempools::ReleaseWhenUnreachable(m, 4096, Record, &t, &counters));
  mempools::MarkDetached(a);
  CHECK(log.calls == 1);
  mempools::UnregisterBuffer(a);
  CHECK(log.calls == 1);
  std::free(m);
}

// A chunk inside a mapping: the chunk's release runs before the mapping's.
void NestedHoldsRunInOrder() {
  Log log;
  Tagged chunk{&log, 1}, mapping{&log, 2};
  HeldCounters counters;
  char* m = Memory(1 << 16);
  BufferEntry* area = mempools::RegisterBuffer(m + 4096, (1 << 16) - 4096);
  BufferEntry* piece = mempools::RegisterBuffer(m + 8192, 4096);
  CHECK(mempools::ReleaseWhenUnreachable(m + 8192, 4096, Record, &chunk, &counters));
  CHECK(mempools::ReleaseWhenUnreachable(m, 1 << 16, Record, &mapping, &counters));
  CHECK(counters.blocks == 2);
  mempools::UnregisterBuffer(area);
  CHECK(log.calls == 0);
  mempools::UnregisterBuffer(piece);
  CHECK(log.calls == 2);
  CHECK(log.order.size() == 2 && log.order[0] == 1 && log.order[1] == 2);
  std::free(m);
}

// Two buffers at one base (a chunk lent again while its old buffer lives).
void BuffersSharingABase() {
  Log log;
  Tagged t{&log, 1};
  HeldCounters counters;
  char* m = Memory(4096);
  BufferEntry* old_one = mempools::RegisterBuffer(m, 4096);
  BufferEntry* new_one = mempools::RegisterBuffer(m, 4096);
  CHECK(mempools::ReleaseWhenUnreachable(m, 4096, Record, &t, &counters));
  mempools::UnregisterBuffer(new_one);
  CHECK(log.calls == 0);
  mempools::UnregisterBuffer(old_one);
  CHECK(log.calls == 1);
  std::free(m);
}

void RangeAtTheTopOfTheAddressSpace() {
  Log log;
  Tagged t{&log, 1};
  HeldCounters counters;
  void* top = reinterpret_cast<void*>(UINTPTR_MAX - 100);
  CHECK(!mempools::ReleaseWhenUnreachable(top, 4096, Record, &t, &counters));  // no overflow
  CHECK(log.calls == 1);
}

// Releases and registrations from many threads at once: each memory block is
// freed exactly once (ASan catches a double free or a use after free).
void ManyThreads() {
  HeldCounters counters;
  std::atomic<int> frees{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++) {
    threads.emplace_back([&counters, &frees] {
      for (int i = 0; i < 2000; i++) {
        char* m = Memory(256);
        BufferEntry* e = mempools::RegisterBuffer(m, 256);
        if (i % 2 == 0) {
          mempools::ReleaseWhenUnreachable(m, 256, FreeIt, nullptr, &counters);
          m = nullptr;  // owned by the hold now
          mempools::UnregisterBuffer(e);
        } else {
          mempools::UnregisterBuffer(e);
          mempools::ReleaseWhenUnreachable(m, 256, FreeIt, nullptr, &counters);
        }
        frees++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(frees == 16000);
  CHECK(counters.bytes == 0 && counters.blocks == 0);
}

}  // namespace

int main() {
  Run("a release with no buffer inside runs at once", ReleasedAtOnceWithoutBuffers);
  Run("a release waits for the last buffer inside, then runs once", HeldUntilTheLastBufferInside);
  Run("a buffer that overlaps but is not inside holds nothing", OverlapIsNotContainment);
  Run("a detached buffer holds nothing", DetachedBuffersHoldNothing);
  Run("detaching the last holder releases", DetachingReleasesWhatItHeld);
  Run("a chunk inside a mapping is released before the mapping", NestedHoldsRunInOrder);
  Run("two buffers at one base both hold", BuffersSharingABase);
  Run("a range at the top of the address space does not overflow", RangeAtTheTopOfTheAddressSpace);
  Run("releases from 8 threads: each block freed exactly once", ManyThreads);
  std::printf("# held_memory: done\n");
  return failed == 0 ? 0 : 1;
}
