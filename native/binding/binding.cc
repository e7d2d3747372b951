// binding.cc — the addon's entry point: one PoolTable per environment (main
// thread or worker), handed to every function as its callback data, one
// scratch array per environment for the hot calls, and each allocator's flat
// functions registered under its own export.
#include <napi.h>

#include "binding.hh"
#include "os_memory.hh"
#include "heap_pool.h"
#include "pool_status.h"
#include "shm_pool.h"
#include "tlsf.h"
#include "pool_table.hh"

namespace {

// held(handle) -> [bytes, blocks] of the pool's released memory that views
// still reach (held_memory.hh), destroyed or not; [0, 0] for no such pool.
Napi::Value Held(const Napi::CallbackInfo& info) {
  const mempools::PoolState* state =
      static_cast<mempools::PoolTable*>(info.Data())->State(info[0].As<Napi::Number>().Int32Value());
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(0u, static_cast<double>(state != nullptr ? state->held.bytes.load() : 0));
  result.Set(1u, static_cast<double>(state != nullptr ? state->held.blocks.load() : 0));
  return result;
}

// isChunkBuffer(handle, id, buffer) -> whether `buffer` is the ArrayBuffer of
// the pool's live chunk `id` (false once the chunk went, even if its id was reused).
Napi::Value IsChunkBuffer(const Napi::CallbackInfo& info) {
  const mempools::PoolState* state =
      static_cast<mempools::PoolTable*>(info.Data())->State(info[0].As<Napi::Number>().Int32Value());
  const double id = info[1].As<Napi::Number>().DoubleValue();
  bool same = false;
  if (state != nullptr && !state->destroyed && id >= 0 && id < static_cast<double>(state->chunks.size()) &&
      state->chunks[static_cast<size_t>(id)].ref != nullptr) {
    napi_value buffer = nullptr;
    if (napi_get_reference_value(info.Env(), state->chunks[static_cast<size_t>(id)].ref, &buffer) == napi_ok &&
        buffer != nullptr) {
      napi_strict_equals(info.Env(), buffer, info[2], &same);
    }
  }
  return Napi::Boolean::New(info.Env(), same);
}

// status: { OK: 0, INVALID: -1, ... }, the one table of return codes every
// allocator uses (pool_status.h), frozen.
Napi::Object StatusTable(Napi::Env env) {
  Napi::Object table = Napi::Object::New(env);
#define MEMPOOLS_STATUS_ENTRY(name, value) table.Set(#name, Napi::Number::New(env, value));
  POOL_STATUS_TABLE(MEMPOOLS_STATUS_ENTRY)
#undef MEMPOOLS_STATUS_ENTRY
  table.Freeze();
  return table;
}

// syscalls: the names of the calls an OS failure code -(errno + call * sysBase) names, by call index.
Napi::Array SysCallTable(Napi::Env env) {
  Napi::Array names = Napi::Array::New(env, mempools::kSysCallCount);
  for (uint32_t i = 0; i < mempools::kSysCallCount; i++) names.Set(i, mempools::kSysCallNames[i]);
  names.Freeze();
  return names;
}

// layout: the C memory layouts TypeScript reads directly, by name (see
// lib/native.ts Layout). TLSF block headers (tlsf.h "Block layout"; SharedPool's
// area is a TLSF pool too), as 32-bit little-endian words relative to a block's
// offset / 4; live bitmaps (1 bit per alignment unit); the shm park list.
Napi::Object LayoutTable(Napi::Env env) {
  static_assert(TLSF_HEADER_BYTES == 8, "the size word is the low half of the 8-byte header");
  const mempools::Field fields[] = {
      {"sizeWord", -static_cast<double>(TLSF_HEADER_BYTES / 4)},  // usable size | flags (sizes < 2**32 here)
      {"alignWord",
       -static_cast<double>(TLSF_HEADER_BYTES / 4) + 1},  // 0 for a block with no memalign alignment and no tag
      {"flagBits", TLSF_BLOCK_FLAGS},
      {"flagFree", TLSF_BLOCK_FREE},
      {"flagPrevFree", TLSF_BLOCK_PREV_FREE},
      {"flagCached", TLSF_BLOCK_CACHED},
      {"notLive", TLSF_BLOCK_FREE | TLSF_BLOCK_CACHED},
      {"tlsfLiveShift", 3},  // log2(TLSF_ALIGN_SIZE): 1 live bit per 8 bytes
      {"heapLiveShift", 4},  // log2(HEAP_POOL_ALIGNMENT): 1 live bit per 16 bytes
      {"parkStacks", SHM_POOL_PARK_STACKS},
      {"parkDepth", SHM_POOL_PARK_DEPTH},
      {"parkCounts", SHM_POOL_PARK_COUNTS},
  };
  static_assert(TLSF_ALIGN_SIZE == 1u << 3, "tlsfLiveShift");
  static_assert(HEAP_POOL_ALIGNMENT == 1u << 4, "heapLiveShift");
  Napi::Object table = mempools::Fields(env, fields);
  table.Freeze();
  return table;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  mempools::PoolTable* table = new mempools::PoolTable(env);
  napi_set_instance_data(env, table, mempools::PoolTable::EnvFinalize, nullptr);
  napi_value scratch;
  if (table->MakeScratch(env, &scratch) != napi_ok) return exports;
  mempools::InitTlsf(env, exports, table, scratch);
  mempools::InitRegion(env, exports, table, scratch);
  mempools::InitHeap(env, exports, table, scratch);
  mempools::InitShm(env, exports, table, scratch);
  exports.Set("status", StatusTable(env));
  exports.Set("syscalls", SysCallTable(env));
  exports.Set("layout", LayoutTable(env));
  exports.Set("sysBase", Napi::Number::New(env, mempools::kSysBase));
  exports.Set("held", Napi::Function::New(env, Held, "held", table));
  exports.Set("isChunkBuffer", Napi::Function::New(env, IsChunkBuffer, "isChunkBuffer", table));
  return exports;
}

}  // namespace

NODE_API_MODULE(mempools, Init)
