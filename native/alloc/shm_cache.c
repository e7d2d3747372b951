/*
 * shm_cache.c — a per-process cache of freed small blocks over a shared-memory
 * pool. See shm_cache.h for the contract; shm_pool.h "parked blocks" for the
 * park list it keeps in the segment.
 */
#include "shm_cache.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define UNIT_SHIFT 3    /* one state per 8 bytes of the area (the TLSF alignment) */
#define STATE_OUT 1u    /* this cache handed the block out */
#define STATE_PARKED 2u /* this cache holds the block parked */

/* The cache. Invariants (between calls, in the process that made it):
 * - count[k] <= depth; stack[k * depth + j] (j < count[k]) are the area units
 *   (area offset / 8) of class k's parked blocks, newest last, and usable[...]
 *   their usable sizes, each >= class_size[k] and <= SHM_CACHE_MAX;
 * - blocks = sum of count[], bytes = sum of the usable sizes <= limit;
 * - a unit's state is STATE_PARKED exactly for the parked blocks; while any
 *   block is parked the park list at segment offset `list` is open and its
 *   stack k holds exactly stack k here (count word written last on park,
 *   first on take);
 * - generation == fork_generation, or the cache is a fork()ed copy that
 *   forgets its parent's state at its next call. */
struct shm_cache {
    shm_pool_t *pool;
    unsigned char *base; /* the mapping */
    uint64_t area_off;   /* segment offset of the block area */
    uint64_t area_size;
    size_t limit, bytes, blocks;
    uint32_t depth;  /* slots per class, here and in the park list */
    uint64_t list;   /* segment offset of the park list, 0 while none is open */
    int open_failed; /* opening a list failed: no parking until the next drain */
    unsigned generation;
    uint64_t *state; /* 2 bits per unit, mmap'd on demand (state_bytes) */
    size_t state_bytes;
    uint32_t count[SHM_CACHE_CLASSES];
    uint16_t class_size[SHM_CACHE_CLASSES];
    uint8_t ceil_class[SHM_CACHE_MAX / 16 + 1]; /* [ceil(n / 16)]: the smallest class >= n */
    uint32_t *stack;                            /* SHM_CACHE_CLASSES * depth units */
    uint16_t *usable;                           /* SHM_CACHE_CLASSES * depth usable sizes */
};

/* ---- fork --------------------------------------------------------------------- */

static volatile unsigned fork_generation;
static pthread_once_t fork_hook_once = PTHREAD_ONCE_INIT;

static void count_fork(void) { fork_generation++; }
static void install_fork_hook(void) { pthread_atfork(NULL, NULL, count_fork); }

/* ---- unit states ----------------------------------------------------------------- */

/* One writer (the cache's thread); other threads may read a unit's state
 * (shm_cache_is_parked), so words are loaded and stored whole. */
static unsigned get_state(const shm_cache_t *c, uint64_t unit)
{
    uint64_t w = __atomic_load_n(&c->state[unit >> 5], __ATOMIC_RELAXED);
    return (unsigned)(w >> ((unit & 31) * 2)) & 3u;
}

static void set_state(shm_cache_t *c, uint64_t unit, unsigned st)
{
    uint64_t *w = &c->state[unit >> 5];
    unsigned shift = (unsigned)(unit & 31) * 2;
    uint64_t v = __atomic_load_n(w, __ATOMIC_RELAXED);
    __atomic_store_n(w, (v & ~((uint64_t)3 << shift)) | (uint64_t)st << shift, __ATOMIC_RELAXED);
}

static uint64_t *map_states(size_t bytes)
{
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

/* ---- classes ------------------------------------------------------------------------ */

static void fill_classes(shm_cache_t *c)
{
    unsigned n = 0;
    for (unsigned size = 16; size <= 128; size += 16) c->class_size[n++] = (uint16_t)size;
    for (unsigned base = 128; base < SHM_CACHE_MAX; base *= 2)
        for (unsigned i = 1; i <= 8; i++) c->class_size[n++] = (uint16_t)(base + i * base / 8);
    assert(n == SHM_CACHE_CLASSES && c->class_size[n - 1] == SHM_CACHE_MAX);
    for (unsigned q = 0, k = 0; q <= SHM_CACHE_MAX / 16; q++) {
        while (c->class_size[k] < q * 16) k++;
        c->ceil_class[q] = (uint8_t)k;
    }
}

/* The class a block of usable size 16 <= u <= SHM_CACHE_MAX is parked in: the largest <= u. */
static unsigned floor_class(const shm_cache_t *c, size_t u)
{
    unsigned k = c->ceil_class[(u + 15) >> 4];
    return c->class_size[k] == u ? k : k - 1;
}

/* Slots per class: 32, fewer for a small limit, so the list stays under 1/5 of
 * the limit (SharedCache's parkDepthFor). */
static uint32_t depth_for(size_t limit)
{
    size_t header = 4 * (SHM_POOL_PARK_COUNTS + SHM_CACHE_CLASSES), room = limit / 5;
    size_t d = room > header ? (room - header) / (4 * SHM_CACHE_CLASSES) : 0;
    return d < 1 ? 1 : d > 32 ? 32 : (uint32_t)d;
}

/* ---- the park list ---------------------------------------------------------------------- */

static uint32_t *list_words(const shm_cache_t *c) { return (uint32_t *)(c->base + c->list); }

static int open_list(shm_cache_t *c)
{
    if (c->list) return 1;
    if (c->open_failed) return 0;
    uint64_t off = 0;
    if (shm_pool_park_open(c->pool, SHM_CACHE_CLASSES, c->depth, &off) != SHM_POOL_OK || !off) {
        c->open_failed = 1;
        return 0;
    }
    c->list = off;
    return 1;
}

/* Write class k's count into the list (release: the slot it covers is written first). */
static void publish_count(shm_cache_t *c, unsigned k)
{
    __atomic_store_n(&list_words(c)[SHM_POOL_PARK_COUNTS + k], c->count[k], __ATOMIC_RELEASE);
}

/* Park the block at area unit `unit` (segment offset `off`), which this cache
 * handed out: nonzero when parked. */
static int park(shm_cache_t *c, uint64_t unit, uint64_t off)
{
    if (unit > UINT32_MAX) return 0; /* the list holds 32-bit units */
    size_t u = shm_pool_owned_size(c->pool, off);
    if (u < 16 || u > SHM_CACHE_MAX || c->bytes + u > c->limit) return 0;
    unsigned k = floor_class(c, u);
    uint32_t n = c->count[k];
    if (n >= c->depth || !open_list(c)) return 0;
    size_t slot = (size_t)k * c->depth + n;
    __atomic_store_n(&list_words(c)[SHM_POOL_PARK_COUNTS + SHM_CACHE_CLASSES + slot], (uint32_t)unit, __ATOMIC_RELAXED);
    c->stack[slot] = (uint32_t)unit;
    c->usable[slot] = (uint16_t)u;
    c->count[k] = n + 1;
    publish_count(c, k);
    c->bytes += u;
    c->blocks++;
    set_state(c, unit, STATE_PARKED);
    return 1;
}

/* ---- life ------------------------------------------------------------------------------ */

/* Hold nothing and have no list (the unit states are the caller's business). */
static void empty_stacks(shm_cache_t *c)
{
    memset(c->count, 0, sizeof c->count);
    c->bytes = c->blocks = 0;
    c->list = 0;
    c->open_failed = 0;
}

/* Empty the local state (the parked blocks and list are someone else's now). */
static void forget_parked(shm_cache_t *c)
{
    for (unsigned k = 0; k < SHM_CACHE_CLASSES; k++)
        for (uint32_t j = 0; j < c->count[k]; j++) set_state(c, c->stack[(size_t)k * c->depth + j], 0);
    empty_stacks(c);
}

/* A fork()ed child's copy: the parent's parked blocks and handed-out marks stay the parent's. */
static void check_fork(shm_cache_t *c)
{
    if (__builtin_expect(c->generation == fork_generation, 1)) return;
    c->generation = fork_generation;
    empty_stacks(c);
    uint64_t *fresh = map_states(c->state_bytes);
    if (fresh) {
        munmap(c->state, c->state_bytes);
        c->state = fresh;
    } else {
        memset(c->state, 0, c->state_bytes); /* touches every page: only when mapping fails */
    }
}

int shm_cache_create(shm_pool_t *pool, size_t byte_limit, shm_cache_t **out)
{
    if (!pool || !out || byte_limit < 16) return SHM_POOL_ERR_INVALID;
    pthread_once(&fork_hook_once, install_fork_hook);
    shm_cache_t *c = calloc(1, sizeof *c);
    if (!c) return SHM_POOL_ERR_NOMEM;
    size_t area = 0;
    c->pool = pool;
    c->base = shm_pool_base(pool);
    shm_pool_area(pool, &c->area_off, &area);
    c->area_size = area;
    c->limit = byte_limit;
    c->depth = depth_for(byte_limit);
    c->generation = fork_generation;
    fill_classes(c);
    uint64_t units = c->area_size >> UNIT_SHIFT;
    c->state_bytes = (size_t)((units + 31) / 32 * sizeof(uint64_t));
    size_t slots = (size_t)SHM_CACHE_CLASSES * c->depth;
    c->stack = calloc(slots, sizeof *c->stack);
    c->usable = calloc(slots, sizeof *c->usable);
    c->state = c->state_bytes ? map_states(c->state_bytes) : NULL;
    if (!c->stack || !c->usable || !c->state) {
        free(c->stack);
        free(c->usable);
        if (c->state) munmap(c->state, c->state_bytes);
        free(c);
        return SHM_POOL_ERR_NOMEM;
    }
    *out = c;
    return SHM_POOL_OK;
}

void shm_cache_destroy(shm_cache_t *c)
{
    if (!c) return;
    shm_cache_drain(c, NULL);
    munmap(c->state, c->state_bytes);
    free(c->stack);
    free(c->usable);
    free(c);
}

/* ---- allocation ------------------------------------------------------------------------- */

/* A block from the segment; when it has no room, this cache's parked blocks
 * go back first and it is asked once more. */
static int alloc_from_segment(shm_cache_t *c, size_t size, uint64_t *off)
{
    int rc = shm_pool_alloc(c->pool, size, off, NULL);
    if (rc == SHM_POOL_ERR_NOMEM && c->blocks) {
        shm_cache_drain(c, NULL);
        rc = shm_pool_alloc(c->pool, size, off, NULL);
    }
    return rc;
}

int shm_cache_alloc(shm_cache_t *c, size_t size, uint64_t *offset, void **ptr)
{
    if (!c || size == 0) return SHM_POOL_ERR_INVALID;
    check_fork(c);
    uint64_t off;
    if (size > SHM_CACHE_MAX) {
        int rc = alloc_from_segment(c, size, &off);
        if (rc != SHM_POOL_OK) return rc;
    } else {
        unsigned k = c->ceil_class[(size + 15) >> 4];
        uint32_t n = c->count[k];
        if (n) { /* a hit: the count goes first (kill-safe), then the block is ours again */
            size_t slot = (size_t)k * c->depth + --n;
            c->count[k] = n;
            publish_count(c, k);
            c->bytes -= c->usable[slot];
            c->blocks--;
            uint64_t unit = c->stack[slot];
            set_state(c, unit, STATE_OUT);
            off = c->area_off + (unit << UNIT_SHIFT);
        } else {
            int rc = alloc_from_segment(c, c->class_size[k], &off);
            if (rc != SHM_POOL_OK) return rc;
            if (off >= c->area_off && off - c->area_off < c->area_size)
                set_state(c, (off - c->area_off) >> UNIT_SHIFT, STATE_OUT);
        }
    }
    if (offset) *offset = off;
    if (ptr) *ptr = c->base + off;
    return SHM_POOL_OK;
}

int shm_cache_free(shm_cache_t *c, void *ptr)
{
    if (!c) return SHM_POOL_ERR_INVALID;
    if (!ptr) return SHM_POOL_OK;
    check_fork(c);
    uint64_t off;
    if (shm_pool_offset_of(c->pool, ptr, &off) != SHM_POOL_OK) return SHM_POOL_ERR_FOREIGN;
    uint64_t u = off - c->area_off;
    if (off >= c->area_off && u < c->area_size && !(u & 7)) {
        uint64_t unit = u >> UNIT_SHIFT;
        unsigned st = get_state(c, unit);
        if (st == STATE_PARKED) return SHM_POOL_ERR_DOUBLE_FREE;
        if (st == STATE_OUT) {
            set_state(c, unit, 0);
            if (park(c, unit, off)) return SHM_POOL_OK;
        }
    }
    return shm_pool_free_at(c->pool, off);
}

void shm_cache_forget(shm_cache_t *c, uint64_t offset)
{
    if (!c) return;
    check_fork(c);
    uint64_t u = offset - c->area_off;
    if (offset < c->area_off || u >= c->area_size || (u & 7)) return;
    if (get_state(c, u >> UNIT_SHIFT) == STATE_OUT) set_state(c, u >> UNIT_SHIFT, 0);
}

int shm_cache_is_parked(const shm_cache_t *c, uint64_t offset)
{
    if (!c || c->generation != fork_generation) return 0;
    uint64_t u = offset - c->area_off;
    return offset >= c->area_off && u < c->area_size && !(u & 7) && get_state(c, u >> UNIT_SHIFT) == STATE_PARKED;
}

int shm_cache_drain(shm_cache_t *c, size_t *blocks)
{
    if (!c) return SHM_POOL_ERR_INVALID;
    check_fork(c);
    size_t n = c->blocks;
    uint64_t list = c->list;
    forget_parked(c);
    int rc = list ? shm_pool_park_close(c->pool, list, NULL) : SHM_POOL_OK;
    if (blocks) *blocks = n;
    return rc;
}

void shm_cache_stats(const shm_cache_t *c, shm_cache_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!c || c->generation != fork_generation) return;
    out->blocks = c->blocks;
    out->bytes = c->bytes;
    out->list_bytes = c->list ? shm_pool_owned_size(c->pool, c->list) : 0;
    out->list = c->list;
}
