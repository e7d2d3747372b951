// binding.cc — the addon's entry point: one PoolTable per environment (main
// thread or worker), handed to every function as its callback data, and each
// allocator's flat functions registered under its own export.
#include <napi.h>

#include "pool_table.hh"
#include "tlsf_binding.hh"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  mempools::PoolTable* table = new mempools::PoolTable();
  napi_set_instance_data(env, table, mempools::PoolTable::EnvFinalize, nullptr);
  mempools::InitTlsf(env, exports, table);
  return exports;
}

}  // namespace

NODE_API_MODULE(mempools, Init)
