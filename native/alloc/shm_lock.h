/*
 * shm_lock.h — a process-shared lock in one 32-bit word of shared memory that
 * no content of the word can wedge (plain C11 + Linux futex; no pthread state
 * in the segment).
 *
 * The word is 0 when free, else the holder's thread id (gettid) in bits
 * 0..29, plus SHM_LOCK_WAITERS while somebody may sleep on it. Anything else
 * (bit 31 set, a thread id of 0 or above the kernel's PID_MAX_LIMIT) is not a
 * state the lock ever writes: shm_lock_acquire reports it as SHM_LOCK_DAMAGED
 * at once and leaves it alone.
 *
 * A holder that dies is found by asking the kernel whether its thread still
 * exists (kill(tid, 0): ESRCH). Waiters sleep on the futex in slices of at
 * most SHM_LOCK_POLL_MS and check the holder between them, so a dead holder
 * (even SIGKILL, or a thread that exited holding it) is replaced within a
 * slice: the next locker takes the lock over and learns it (SHM_LOCK_OWNER_DIED)
 * to repair what the holder left half-done. A live holder that does not let go
 * within the caller's timeout gives SHM_LOCK_TIMEOUT, never a hang.
 *
 * Every process sharing a word must be in the same pid namespace (thread ids
 * are compared). A thread id reused by a new thread while the word still names
 * the dead one makes that holder look alive: the waiters then time out.
 *
 * Cost: uncontended acquire and release are one atomic read-modify-write each
 * (no system call); a contended release adds one futex wake.
 */
#ifndef MEMPOOLS_SHM_LOCK_H
#define MEMPOOLS_SHM_LOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum shm_lock_result {
    SHM_LOCK_OK = 0,          /* held */
    SHM_LOCK_OWNER_DIED = 1,  /* held; the previous holder died holding it */
    SHM_LOCK_TIMEOUT = -1,    /* a live holder kept it past the timeout; not held */
    SHM_LOCK_DAMAGED = -2,    /* the word holds no state the lock writes; not held, word untouched */
    SHM_LOCK_RECURSIVE = -3,  /* the word names the calling thread; not taken again */
    SHM_LOCK_NOT_HOLDER = -4, /* release: the word does not name the calling thread; untouched */
    SHM_LOCK_SYSTEM = -5      /* the futex call failed unexpectedly; errno says why */
};

#define SHM_LOCK_WAITERS ((uint32_t)1 << 30)
#define SHM_LOCK_TID_MASK (SHM_LOCK_WAITERS - 1)
#define SHM_LOCK_TID_MAX ((uint32_t)1 << 22) /* the kernel's PID_MAX_LIMIT on 64-bit */
#define SHM_LOCK_POLL_MS 50                  /* longest sleep between two looks at the holder */
#define SHM_LOCK_FOREVER UINT32_MAX

/* Is `word` a state the lock writes (free, or a plausible holder)? */
int shm_lock_word_valid(uint32_t word);
/* The holder's thread id, 0 when free or damaged. */
uint32_t shm_lock_holder(uint32_t word);
/* Take the lock, waiting up to timeout_ms (SHM_LOCK_FOREVER: no limit, but a
 * dead holder is still replaced). */
int shm_lock_acquire(uint32_t *word, uint32_t timeout_ms);
/* Let go of a lock the calling thread holds. */
int shm_lock_release(uint32_t *word);
/* The calling thread's id, as the word records it. */
uint32_t shm_lock_self(void);
/* shm_lock_acquire and shm_lock_release for a caller that has the calling
 * thread's id at hand (self: shm_lock_self() of this thread), so that a lock
 * and its release cost one thread-local lookup, not two. */
int shm_lock_acquire_as(uint32_t *word, uint32_t self, uint32_t timeout_ms);
int shm_lock_release_as(uint32_t *word, uint32_t self);

#ifdef __cplusplus
}
#endif

#endif /* MEMPOOLS_SHM_LOCK_H */
