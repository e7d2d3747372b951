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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  mempools::PoolTable* table = new mempools::PoolTable();
  napi_set_instance_data(env, table, mempools::PoolTable::EnvFinalize, nullptr);
  napi_value scratch;
  if (table->MakeScratch(env, &scratch) != napi_ok) return exports;
  mempools::InitTlsf(env, exports, table, scratch);
  mempools::InitRegion(env, exports, table, scratch);
  mempools::InitHeap(env, exports, table, scratch);
  mempools::InitShm(env, exports, table, scratch);
  return exports;
}

}  // namespace

NODE_API_MODULE(mempools, Init)
