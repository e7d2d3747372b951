/*
 * pool_status.h — the one table of return codes every allocator in
 * native/alloc uses (tlsf, region_pool, heap_pool, shm_pool). Each allocator
 * keeps its own names (TLSF_ERR_NOMEM, HEAP_POOL_ERR_NOMEM, ...) as aliases
 * of these values, so one number means one thing in every pool, in the
 * binding and in TypeScript (the binding exports this table as
 * `binding.status`; lib/types.ts `Status` is that object).
 *
 * Contract: 0 is success; negative values are errors; the positive values are
 * successful outcomes with news (shm_pool's lock and wait). An allocator
 * returns only the codes its header lists. Values are never reused: a new
 * code takes the next free number, and POOL_STATUS_TABLE below lists every
 * code (the binding builds `binding.status` from it).
 */
#ifndef MEMPOOLS_POOL_STATUS_H
#define MEMPOOLS_POOL_STATUS_H

enum pool_status {
    POOL_OK = 0,
    POOL_ERR_INVALID = -1,      /* bad argument (size, alignment, id, name, NULL, ...) */
    POOL_ERR_FOREIGN = -2,      /* not the start of a (live) block of this pool */
    POOL_ERR_DOUBLE_FREE = -3,  /* a block of this pool that is already free */
    POOL_ERR_NOMEM = -4,        /* no memory: no free block large enough, a capacity reached, a source refused */
    POOL_ERR_CORRUPTED = -5,    /* an invariant is broken (metadata, a segment header); the pool refuses to go on */
    POOL_ERR_IN_USE = -6,       /* tlsf: the region still holds live blocks */
    POOL_ERR_FULL = -7,         /* tlsf: the region table is full; shm: the roots directory is full */
    POOL_ERR_STALE = -8,        /* region: a handle from before the last reset */
    POOL_ERR_RANGE = -9,        /* calloc: count * size overflows */
    POOL_ERR_BUSY = -10,        /* region: reset/destroy called from a cleanup handler; shm: lock held by this thread */
    POOL_ERR_SYSTEM = -11,      /* shm: a system call failed; errno says why */
    POOL_ERR_NOT_FOUND = -12,   /* shm: no such root */
    POOL_ERR_LENT = -13,        /* shm: inside a chunk lent to a heap pool, or lent to another process */
    POOL_ERR_NOT_SEGMENT = -14, /* shm: the file is not a mempools segment (not a regular file, no magic) */
    POOL_ERR_TIMEOUT = -15,     /* shm: a live process kept a lock past the timeout */
    POOL_OWNER_DIED = 1,        /* shm: lock taken; its previous holder died holding it */
    POOL_NOT_EQUAL = 2,         /* shm wait: the word did not hold the expected value */
    POOL_TIMED_OUT = 3          /* shm wait: the timeout expired */
};

/* X(name, value) for every code, in the order above: the binding's export. */
/* clang-format off */
#define POOL_STATUS_TABLE(X)                 \
    X(OK, POOL_OK)                           \
    X(INVALID, POOL_ERR_INVALID)             \
    X(FOREIGN, POOL_ERR_FOREIGN)             \
    X(DOUBLE_FREE, POOL_ERR_DOUBLE_FREE)     \
    X(NOMEM, POOL_ERR_NOMEM)                 \
    X(CORRUPTED, POOL_ERR_CORRUPTED)         \
    X(IN_USE, POOL_ERR_IN_USE)               \
    X(FULL, POOL_ERR_FULL)                   \
    X(STALE, POOL_ERR_STALE)                 \
    X(RANGE, POOL_ERR_RANGE)                 \
    X(BUSY, POOL_ERR_BUSY)                   \
    X(SYSTEM, POOL_ERR_SYSTEM)               \
    X(NOT_FOUND, POOL_ERR_NOT_FOUND)         \
    X(LENT, POOL_ERR_LENT)                   \
    X(NOT_SEGMENT, POOL_ERR_NOT_SEGMENT)     \
    X(TIMEOUT, POOL_ERR_TIMEOUT)             \
    X(OWNER_DIED, POOL_OWNER_DIED)           \
    X(NOT_EQUAL, POOL_NOT_EQUAL)             \
    X(TIMED_OUT, POOL_TIMED_OUT)
/* clang-format on */

#endif /* MEMPOOLS_POOL_STATUS_H */
