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

// Argument `index` of a destroy/close: true asks for the unsafe destroy
// (detach every view now); anything else for the default one.
inline bool DetachArg(const Napi::CallbackInfo& info, size_t index) {
  return info.Length() > index && info[index].IsBoolean() && info[index].As<Napi::Boolean>().Value();
}

// Within its scope the table's Destroy detaches views when `detach` (see PoolTable::SetDetaching).
class DetachScope {
 public:
  DetachScope(PoolTable* table, bool detach) : table_(table), was_(table->SetDetaching(detach)) {}
  ~DetachScope() { table_->SetDetaching(was_); }
  DetachScope(const DetachScope&) = delete;
  DetachScope& operator=(const DetachScope&) = delete;

 private:
  PoolTable* table_;
  bool was_;
};

}  // namespace mempools

#endif  // MEMPOOLS_FLAT_CALL_HH
