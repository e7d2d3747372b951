// flat_call.hh — what every pool kind's flat (node-addon-api) functions share:
// an exports object of functions that get the environment's PoolTable as
// their callback data.
#ifndef MEMPOOLS_FLAT_CALL_HH
#define MEMPOOLS_FLAT_CALL_HH

#include <napi.h>

#include <cstddef>

#include "pool_table.hh"

namespace mempools {

struct FlatCall {
  const char* name;
  Napi::Value (*fn)(const Napi::CallbackInfo&);
};

// A new object with each call as a function (with `table` as its data).
template <size_t N>
Napi::Object FlatCalls(Napi::Env env, PoolTable* table, const FlatCall (&calls)[N]) {
  Napi::Object target = Napi::Object::New(env);
  for (const FlatCall& call : calls) target.Set(call.name, Napi::Function::New(env, call.fn, call.name, table));
  return target;
}

}  // namespace mempools

#endif  // MEMPOOLS_FLAT_CALL_HH
