// binding.cc — the addon's entry point: one PoolTable per environment (main
// thread or worker), handed to every function as its callback data, one
// scratch array per environment for the hot calls, and each allocator's flat
// functions registered under its own export.
#include <napi.h>

#include "heap_binding.hh"
#include "pool_table.hh"
#include "region_binding.hh"
#include "shm_binding.hh"
#include "tlsf_binding.hh"

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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  mempools::PoolTable* table = new mempools::PoolTable();
  napi_set_instance_data(env, table, mempools::PoolTable::EnvFinalize, nullptr);
  napi_value scratch;
  if (table->MakeScratch(env, &scratch) != napi_ok) return exports;
  mempools::InitTlsf(env, exports, table, scratch);
  mempools::InitRegion(env, exports, table, scratch);
  mempools::InitHeap(env, exports, table, scratch);
  mempools::InitShm(env, exports, table, scratch);
  exports.Set("held", Napi::Function::New(env, Held, "held", table));
  exports.Set("isChunkBuffer", Napi::Function::New(env, IsChunkBuffer, "isChunkBuffer", table));
  return exports;
}

}  // namespace

NODE_API_MODULE(mempools, Init)
