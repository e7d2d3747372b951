/*
 * shm_lock.c — the process-shared futex lock of shm_lock.h.
 */
#include "shm_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { SPINS = 100 };

/* The calling thread's id, cached per thread; a fork()ed child forgets the
 * parent's (its one thread has a new id). */
static _Thread_local uint32_t cached_tid;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_tid(void) { cached_tid = 0; }
static void register_atfork(void) { pthread_atfork(NULL, NULL, forget_tid); }

uint32_t shm_lock_self(void)
{
    if (__builtin_expect(cached_tid == 0, 0)) {
        pthread_once(&atfork_once, register_atfork);
        cached_tid = (uint32_t)syscall(SYS_gettid);
    }
    return cached_tid;
}

int shm_lock_word_valid(uint32_t word)
{
    uint32_t tid = word & SHM_LOCK_TID_MASK;
    if (word == 0) return 1;
    return (word & ~(SHM_LOCK_TID_MASK | SHM_LOCK_WAITERS)) == 0 && tid != 0 && tid <= SHM_LOCK_TID_MAX;
}

uint32_t shm_lock_holder(uint32_t word) { return shm_lock_word_valid(word) ? word & SHM_LOCK_TID_MASK : 0; }

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Is thread `tid` gone: no such thread (ESRCH), or a zombie whose process
 * was killed but not reaped yet (its state in /proc is Z or X)? */
static int thread_gone(uint32_t tid)
{
    int saved = errno;
    int gone = kill((pid_t)tid, 0) != 0 && errno == ESRCH;
    if (!gone) {
        char path[32], buf[256];
        snprintf(path, sizeof path, "/proc/%u/stat", tid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n > 0) {
                buf[n] = 0;
                const char *end = strrchr(buf, ')'); /* the name may hold ") " itself */
                gone = end && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X');
            }
        }
    }
    errno = saved;
    return gone;
}

static void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Sleep while *word == value, for at most ms milliseconds. 0, or -1 with errno
 * for a failure other than a changed word, a timeout or a signal. */
static int sleep_on(uint32_t *word, uint32_t value, int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    /* No FUTEX_PRIVATE_FLAG: the word is shared between processes. */
    if (syscall(SYS_futex, word, FUTEX_WAIT, value, &ts, NULL, 0) == 0) return 0;
    return errno == EAGAIN || errno == ETIMEDOUT || errno == EINTR ? 0 : -1;
}

static int try_take(uint32_t *word, uint32_t *seen, uint32_t mine)
{
    return __atomic_compare_exchange_n(word, seen, mine, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* The contended path: spin a little, then sleep in growing slices, looking
 * at the holder between them. A caller that has slept takes the lock with
 * SHM_LOCK_WAITERS set, since others may be asleep on it too (the release that
 * woke it cleared the flag); one that got it while spinning takes it plain, so
 * a lock that is only briefly contended goes back to releases without a
 * FUTEX_WAKE (a sleeper that finds it taken sets the flag again; sleeps are
 * bounded slices anyway). */
static int acquire_contended(uint32_t *word, uint32_t self, uint32_t timeout_ms)
{
    int64_t deadline = timeout_ms == SHM_LOCK_FOREVER ? -1 : now_ms() + timeout_ms;
    int64_t slice = 1;
    int spins = 0;
    uint32_t mine = self;
    for (;;) {
        uint32_t v = __atomic_load_n(word, __ATOMIC_RELAXED);
        if (v == 0) {
            if (try_take(word, &v, mine)) return SHM_LOCK_OK;
            continue;
        }
        if (!shm_lock_word_valid(v)) return SHM_LOCK_DAMAGED;
        uint32_t holder = v & SHM_LOCK_TID_MASK;
        if (holder == self) return SHM_LOCK_RECURSIVE;
        if (spins < SPINS) {
            spins++;
            relax();
            continue;
        }
        if (thread_gone(holder)) {
            if (try_take(word, &v, self | SHM_LOCK_WAITERS)) return SHM_LOCK_OWNER_DIED;
            continue;
        }
        if (!(v & SHM_LOCK_WAITERS) &&
            !__atomic_compare_exchange_n(word, &v, v | SHM_LOCK_WAITERS, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            continue;
        int64_t left = deadline < 0 ? slice : deadline - now_ms();
        if (left <= 0) return SHM_LOCK_TIMEOUT;
        if (sleep_on(word, v | SHM_LOCK_WAITERS, left < slice ? left : slice) != 0) return SHM_LOCK_SYSTEM;
        mine = self | SHM_LOCK_WAITERS;
        if (slice < SHM_LOCK_POLL_MS) slice *= 2;
    }
}

int shm_lock_acquire_as(uint32_t *word, uint32_t self, uint32_t timeout_ms)
{
    uint32_t seen = 0;
    if (try_take(word, &seen, self)) return SHM_LOCK_OK;
    return acquire_contended(word, self, timeout_ms);
}

int shm_lock_acquire(uint32_t *word, uint32_t timeout_ms)
{
    return shm_lock_acquire_as(word, shm_lock_self(), timeout_ms);
}

int shm_lock_release(uint32_t *word) { return shm_lock_release_as(word, shm_lock_self()); }

int shm_lock_release_as(uint32_t *word, uint32_t self)
{
    /* Expect the word to name us alone: one read-modify-write of the line a
     * spinning waiter keeps pulling away (a load first would fetch it twice). */
    uint32_t v = self;
    while (!__atomic_compare_exchange_n(word, &v, 0, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        if ((v & ~SHM_LOCK_WAITERS) != self) return SHM_LOCK_NOT_HOLDER;
    if (v & SHM_LOCK_WAITERS) syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
    return SHM_LOCK_OK;
}
