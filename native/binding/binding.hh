// binding.hh — what every pool kind's binding shares (each kind's calls are
// in <kind>_binding.cc, beside its state in <kind>_state.hh/.cc):
//   - PoolLock, the optional mutex of a `threadSafe: true` pool;
//   - the flat (node-addon-api) calls: one exports object of functions that
//     get the environment's PoolTable as their callback data (TableOf, StateOf);
//   - the hot calls through the scratch array (see tlsf_binding.cc for why):
//     the table from the callback data, range tests, defining the calls;
//   - OS failures as numbers (SysFailure: one encoding for every kind) and the
//     shared status table (pool_status.h), exported once by binding.cc;
//   - each kind's Init, called by binding.cc.
#ifndef MEMPOOLS_BINDING_HH
#define MEMPOOLS_BINDING_HH

#include <napi.h>
#include <node_api.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "pool_table.hh"

namespace mempools {

// ---------------------------------------------------------------- PoolLock
//
// Invariant: when `enabled`, every native call that reads or changes the
// pool's allocator (from JavaScript or from another addon through the
// nativeHandle) holds `mutex` for its whole duration; when not, locking is a
// no-op and the pool is only ever touched from its JavaScript thread (the
// nativeHandle refuses other threads with MEMPOOLS_ERR_WRONG_THREAD).
class PoolLock {
 public:
  void Enable() { enabled_ = true; }
  bool enabled() const { return enabled_; }
  void lock() {
    if (enabled_) mutex_.lock();
  }
  void unlock() {
    if (enabled_) mutex_.unlock();
  }
  // The mutex itself, for a caller that knows the lock is enabled (no test).
  std::mutex& mutex() { return mutex_; }

 private:
  bool enabled_ = false;  // set once, before the pool is used
  std::mutex mutex_;
};

// Holds a PoolLock for the rest of a scope.
using PoolGuard = std::lock_guard<PoolLock>;

// ---------------------------------------------------------------- flat calls

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

// The table a flat call was registered with (its callback data).
inline PoolTable* TableOf(const Napi::CallbackInfo& info) { return static_cast<PoolTable*>(info.Data()); }

// The live state of kind S named by argument `index` (a handle), or nullptr.
template <typename S>
S* StateOf(const Napi::CallbackInfo& info, size_t index = 0) {
  return TableOf(info)->Live<S>(info[index].As<Napi::Number>().Int32Value());
}

// The state of kind S named by argument 0, destroyed or not, or nullptr.
template <typename S>
S* AnyStateOf(const Napi::CallbackInfo& info) {
  PoolState* state = TableOf(info)->State(info[0].As<Napi::Number>().Int32Value());
  return state != nullptr && state->kind == S::kKind ? static_cast<S*>(state) : nullptr;
}

// A number result.
inline Napi::Value Number(const Napi::CallbackInfo& info, double value) { return Napi::Number::New(info.Env(), value); }

// Stats cross as plain objects of named numbers: { reserved, used, ... }.
struct Field {
  const char* name;
  double value;
};

template <size_t N>
Napi::Object Fields(Napi::Env env, const Field (&fields)[N]) {
  Napi::Object result = Napi::Object::New(env);
  for (const Field& field : fields) result.Set(field.name, Napi::Number::New(env, field.value));
  return result;
}

inline double AsDouble(size_t value) { return static_cast<double>(value); }

// Walks and chunk lists cross as one Float64Array of the records' numbers, in order.
inline Napi::Float64Array DoublesArray(Napi::Env env, const std::vector<double>& values) {
  Napi::Float64Array result = Napi::Float64Array::New(env, values.size());
  if (!values.empty()) memcpy(result.Data(), values.data(), values.size() * sizeof(double));
  return result;
}

// ---------------------------------------------------------------- hot calls

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

// ---------------------------------------------------------------- each kind

// Add each kind's functions and constants to `exports` (as exports.tlsf,
// .region, .heap, .shm); `scratch` is the environment's scratch array
// (PoolTable::MakeScratch).
void InitTlsf(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch);
void InitRegion(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch);
void InitHeap(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch);
void InitShm(Napi::Env env, Napi::Object exports, PoolTable* table, napi_value scratch);

}  // namespace mempools

#endif  // MEMPOOLS_BINDING_HH
