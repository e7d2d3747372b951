// pool_lock.hh — the optional mutex of a `threadSafe: true` pool.
//
// Invariant: when `enabled`, every native call that reads or changes the
// pool's allocator (from JavaScript or from another addon through the
// nativeHandle) holds `mutex` for its whole duration; when not, locking is a
// no-op and the pool is only ever touched from its JavaScript thread (the
// nativeHandle refuses other threads with MEMPOOLS_ERR_WRONG_THREAD).
#ifndef MEMPOOLS_POOL_LOCK_HH
#define MEMPOOLS_POOL_LOCK_HH

#include <mutex>

namespace mempools {

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

 private:
  bool enabled_ = false;  // set once, before the pool is used
  std::mutex mutex_;
};

// Holds a PoolLock for the rest of a scope.
using PoolGuard = std::lock_guard<PoolLock>;

}  // namespace mempools

#endif  // MEMPOOLS_POOL_LOCK_HH
