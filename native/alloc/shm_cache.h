/*
 * shm_cache.h — a per-process cache of freed small blocks over a shared-memory
 * pool (plain C11 + POSIX, no Node dependency): the C twin of SharedPool's
 * JavaScript cache (lib/shared/SharedCache.ts), used by SharedPool's
 * nativeHandle so that addons allocate without the segment's lock.
 *
 * A block this cache handed out and the caller frees is "parked": it stays
 * allocated in the segment (every other process sees it as used) and the next
 * allocation of its size class here takes it back with no lock and no shared
 * write beyond the park list. Parked blocks are recorded in a park list of the
 * segment (shm_pool.h, "parked blocks"), so when this process dies, even by
 * SIGKILL, the dead-owner sweep of any process gives them back.
 *
 * Classes: 16..128 bytes in steps of 16, then 8 per power of two up to
 * SHM_CACHE_MAX (the JavaScript cache's classes). A cached allocation asks the
 * segment for its class size, so a parked block fits every request of its class.
 *
 * Ownership is process-local: two bits per 8 bytes of the block area (mapped
 * on demand, untouched pages cost nothing) say whether this cache handed a
 * block out or holds it parked. Only such blocks are parked; a second free of
 * a parked block is SHM_POOL_ERR_DOUBLE_FREE without a lock; every other free
 * goes to shm_pool_free (locked and validated). The usable size of a block
 * being parked is read from its header without the lock and range-checked: a
 * peer that damaged it can make the cache misfile a block inside the area,
 * never reach outside it.
 *
 * Threads: one thread uses a cache (the caller serialises its calls); other
 * threads may call shm_cache_is_parked meanwhile (a racing answer is stale,
 * never torn). fork(): the child's copy forgets the parent's parked blocks
 * (they stay the parent's) and starts empty.
 *
 * Costs: a hit is O(1) with no system call; a miss is one shm_pool_alloc.
 * Drain is one shm_pool_park_close, O(parked blocks).
 */
#ifndef MEMPOOLS_SHM_CACHE_H
#define MEMPOOLS_SHM_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "shm_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SHM_CACHE_MAX 4096u   /* largest usable size parked */
#define SHM_CACHE_CLASSES 48u /* 8 classes to 128 B, 8 per power of two to 4 KiB */

typedef struct shm_cache shm_cache_t;

/* What the cache holds: parked blocks, their usable bytes, and the park list
 * block (its segment offset and usable bytes; 0 while no list is open). */
typedef struct shm_cache_stats {
    size_t blocks, bytes, list_bytes;
    uint64_t list;
} shm_cache_stats_t;

/* A cache over `pool` holding at most `byte_limit` usable bytes: SHM_POOL_OK,
 * _INVALID (no pool, or a limit under 16), _NOMEM (process memory). The pool
 * must outlive the cache. */
int shm_cache_create(shm_pool_t *pool, size_t byte_limit, shm_cache_t **out);
/* Drains (shm_cache_drain) and frees the cache. NULL is a no-op. */
void shm_cache_destroy(shm_cache_t *c);

/* As shm_pool_alloc (size 0 is _INVALID). A request of at most SHM_CACHE_MAX
 * bytes is served at its class size, from a parked block when one is there.
 * When the segment has no room, the parked blocks go back (a drain) and the
 * segment is asked once more. */
int shm_cache_alloc(shm_cache_t *c, size_t size, uint64_t *offset, void **ptr);
/* As shm_pool_free: a block this cache handed out is parked when its class has
 * room (else freed); a parked block is SHM_POOL_ERR_DOUBLE_FREE; anything else
 * goes to shm_pool_free. */
int shm_cache_free(shm_cache_t *c, void *ptr);
/* Forget that this cache handed out the block at segment offset `offset` (a
 * caller that frees or moves it without shm_cache_free, e.g. shm_pool_realloc). */
void shm_cache_forget(shm_cache_t *c, uint64_t offset);
/* Is the block at segment offset `offset` parked here? (A caller's own check
 * before at/realloc/usable_size: a parked block is a freed block.) */
int shm_cache_is_parked(const shm_cache_t *c, uint64_t offset);
/* Give every parked block and the park list back to the segment
 * (shm_pool_park_close): SHM_POOL_OK, or its failure (the local state is
 * emptied all the same). *blocks (if not NULL) = blocks given back. */
int shm_cache_drain(shm_cache_t *c, size_t *blocks);
void shm_cache_stats(const shm_cache_t *c, shm_cache_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif /* MEMPOOLS_SHM_CACHE_H */
