// scratch_call.hh — what every pool kind's hot calls share (see tlsf_fast.cc
// for why they take their arguments through the scratch array): reading the
// table and its scratch array from the callback data, range tests of the
// numbers JavaScript wrote, and defining the calls on an exports object.
#ifndef MEMPOOLS_SCRATCH_CALL_HH
#define MEMPOOLS_SCRATCH_CALL_HH

#include <node_api.h>

#include <cstddef>

#include "pool_table.hh"

namespace mempools {

constexpr double kMaxSafeInteger = 9007199254740991.0;

// A non-negative safe integer (a size or an offset).
inline bool IsSize(double value) { return value >= 0 && value <= kMaxSafeInteger; }

// The table a hot call was registered with (its callback data).
inline PoolTable* ScratchTable(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data);
  return static_cast<PoolTable*>(data);
}

struct HotCall {
  const char* name;
  napi_callback fn;
};

// Defines each call (with `table` as its data) and `scratch` on `target`.
template <size_t N>
napi_status DefineHotCalls(napi_env env, napi_value target, PoolTable* table, napi_value scratch,
                           const HotCall (&calls)[N]) {
  napi_property_descriptor properties[N + 1];
  for (size_t i = 0; i < N; i++) {
    properties[i] = {calls[i].name, nullptr, calls[i].fn, nullptr, nullptr, nullptr, napi_default, table};
  }
  properties[N] = {"scratch", nullptr, nullptr, nullptr, nullptr, scratch, napi_enumerable, nullptr};
  return napi_define_properties(env, target, N + 1, properties);
}

}  // namespace mempools

#endif  // MEMPOOLS_SCRATCH_CALL_HH
