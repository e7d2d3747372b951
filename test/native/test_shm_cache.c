/*
 * test_shm_cache.c: the per-process cache of parked blocks over a shared
 * segment (native/alloc/shm_cache.c): hits and misses, double and foreign
 * frees, limits, drain, a killed owner's parked blocks swept, fork, and a
 * seeded random run against a shadow model.
 */
#include "test_util.h"

#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "fork_util.h"
#include "shm_cache.h"
#include "shm_pool.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

static shm_pool_t *anon_pool(size_t size)
{
    shm_pool_t *p = NULL;
    return shm_pool_create(NULL, size, 0, &p) == SHM_POOL_OK ? p : NULL;
}

static size_t live_blocks(shm_pool_t *p)
{
    shm_pool_stats_t s;
    return shm_pool_stats(p, &s) == SHM_POOL_OK ? s.allocations : (size_t)-1;
}

static uint64_t offset_of(shm_pool_t *p, const void *ptr)
{
    return (uint64_t)((const unsigned char *)ptr - (const unsigned char *)shm_pool_base(p));
}

/* A freed block comes back to the next request of its class, without the segment. */
static void test_hit_and_miss(void)
{
    shm_pool_t *p = anon_pool(4 * MIB);
    CHECK(p != NULL);
    shm_cache_t *c = NULL;
    CHECK_EQ(shm_cache_create(p, 256 * KIB, &c), SHM_POOL_OK);
    uint64_t a = 0, b = 0;
    void *pa = NULL, *pb = NULL;
    CHECK_EQ(shm_cache_alloc(c, 100, &a, &pa), SHM_POOL_OK);
    CHECK(pa == (unsigned char *)shm_pool_base(p) + a);
    CHECK(shm_pool_usable_size(p, a) >= 112); /* served at its class size */
    memset(pa, 0xab, 100);
    CHECK_EQ(shm_cache_free(c, pa), SHM_POOL_OK);
    CHECK(shm_cache_is_parked(c, a));
    CHECK_EQU(live_blocks(p), 2); /* the parked block and the park list */
    shm_cache_stats_t st;
    shm_cache_stats(c, &st);
    CHECK_EQU(st.blocks, 1);
    CHECK(st.bytes >= 112 && st.list_bytes > 0);
    CHECK_EQ(shm_cache_alloc(c, 97, &b, &pb), SHM_POOL_OK); /* same class: the parked block */
    CHECK_EQU(b, a);
    CHECK(!shm_cache_is_parked(c, a));
    CHECK_EQ(shm_cache_alloc(c, 5000, &b, &pb), SHM_POOL_OK); /* above the classes: the segment's */
    CHECK_EQ(shm_cache_free(c, pb), SHM_POOL_OK);
    CHECK(!shm_cache_is_parked(c, b));
    CHECK_EQ(shm_cache_free(c, pa), SHM_POOL_OK);
    CHECK_EQ(shm_cache_alloc(c, 0, &b, &pb), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_cache_free(c, NULL), SHM_POOL_OK);
    shm_cache_destroy(c);
    CHECK_EQU(live_blocks(p), 0);
    CHECK_EQ(shm_pool_check(p, NULL), SHM_POOL_OK);
    shm_pool_close(p);
}

/* Double frees of parked blocks are refused without the segment; blocks the
 * cache did not hand out go to the segment, which judges them. */
static void test_misuse(void)
{
    shm_pool_t *p = anon_pool(4 * MIB);
    CHECK(p != NULL);
    shm_cache_t *c = NULL;
    CHECK_EQ(shm_cache_create(p, 64 * KIB, &c), SHM_POOL_OK);
    void *a = NULL, *other = NULL;
    CHECK_EQ(shm_cache_alloc(c, 64, NULL, &a), SHM_POOL_OK);
    CHECK_EQ(shm_cache_free(c, a), SHM_POOL_OK);
    size_t before = live_blocks(p);
    CHECK_EQ(shm_cache_free(c, a), SHM_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(shm_cache_free(c, (unsigned char *)a + 8), SHM_POOL_ERR_FOREIGN); /* interior, not ours */
    CHECK_EQU(live_blocks(p), before);
    CHECK_EQ(shm_pool_alloc(p, 64, NULL, &other), SHM_POOL_OK); /* the segment's, not the cache's */
    CHECK_EQ(shm_cache_free(c, other), SHM_POOL_OK);           /* freed in the segment */
    CHECK_EQU(live_blocks(p), before);
    CHECK_EQ(shm_cache_free(c, other), SHM_POOL_ERR_DOUBLE_FREE); /* the segment saw it free */
    int stack_byte = 0;
    CHECK_EQ(shm_cache_free(c, &stack_byte), SHM_POOL_ERR_FOREIGN);
    CHECK_EQ(shm_cache_create(NULL, 64 * KIB, &c), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_cache_create(p, 8, &c), SHM_POOL_ERR_INVALID);
    shm_cache_destroy(c);
    CHECK_EQU(live_blocks(p), 0);
    CHECK_EQ(shm_pool_check(p, NULL), SHM_POOL_OK);
    shm_pool_close(p);
}

/* At most `depth` blocks per class and `limit` bytes are parked; the rest are freed. */
static void test_limits_and_drain(void)
{
    shm_pool_t *p = anon_pool(4 * MIB);
    CHECK(p != NULL);
    shm_cache_t *c = NULL;
    CHECK_EQ(shm_cache_create(p, 16 * KIB, &c), SHM_POOL_OK);
    void *blocks[200];
    for (int i = 0; i < 200; i++) CHECK_EQ(shm_cache_alloc(c, 48, NULL, &blocks[i]), SHM_POOL_OK);
    for (int i = 0; i < 200; i++) CHECK_EQ(shm_cache_free(c, blocks[i]), SHM_POOL_OK);
    shm_cache_stats_t st;
    shm_cache_stats(c, &st);
    CHECK(st.blocks > 0 && st.blocks < 200);
    CHECK(st.bytes <= 16 * KIB);
    CHECK_EQU(live_blocks(p), st.blocks + 1);
    for (int i = 0; i < 60; i++) CHECK_EQ(shm_cache_alloc(c, 3000, NULL, &blocks[i]), SHM_POOL_OK);
    for (int i = 0; i < 60; i++) CHECK_EQ(shm_cache_free(c, blocks[i]), SHM_POOL_OK);
    shm_cache_stats(c, &st);
    CHECK(st.bytes <= 16 * KIB);
    size_t drained = 0;
    CHECK_EQ(shm_cache_drain(c, &drained), SHM_POOL_OK);
    CHECK_EQU(drained, st.blocks);
    CHECK_EQU(live_blocks(p), 0);
    shm_cache_stats(c, &st);
    CHECK_EQU(st.blocks, 0);
    CHECK_EQU(st.list_bytes, 0);
    void *again = NULL; /* usable after a drain: a new list opens */
    CHECK_EQ(shm_cache_alloc(c, 48, NULL, &again), SHM_POOL_OK);
    CHECK_EQ(shm_cache_free(c, again), SHM_POOL_OK);
    CHECK_EQU(live_blocks(p), 2);
    shm_cache_destroy(c);
    CHECK_EQU(live_blocks(p), 0);
    shm_pool_close(p);
}

/* A full segment: the cache's own parked blocks are given back before failing. */
static void test_nomem_drains(void)
{
    shm_pool_t *p = anon_pool(256 * KIB);
    CHECK(p != NULL);
    shm_cache_t *c = NULL;
    CHECK_EQ(shm_cache_create(p, 1 * MIB, &c), SHM_POOL_OK);
    void *parked[8], *fill[64];
    for (int i = 0; i < 8; i++) CHECK_EQ(shm_cache_alloc(c, 4000, NULL, &parked[i]), SHM_POOL_OK);
    for (int i = 0; i < 8; i++) CHECK_EQ(shm_cache_free(c, parked[i]), SHM_POOL_OK);
    shm_cache_stats_t st;
    shm_cache_stats(c, &st);
    CHECK_EQU(st.blocks, 8);
    int n = 0; /* the rest of the segment, taken past the cache */
    while (n < 64 && shm_pool_alloc(p, 4000, NULL, &fill[n]) == SHM_POOL_OK) n++;
    CHECK(n > 0 && n < 64);
    void *other = NULL;
    CHECK_EQ(shm_cache_alloc(c, 2000, NULL, &other), SHM_POOL_OK); /* another class: drains, then fits */
    shm_cache_stats(c, &st);
    CHECK_EQU(st.blocks, 0);
    CHECK_EQ(shm_cache_free(c, other), SHM_POOL_OK);
    for (int i = 0; i < n; i++) CHECK_EQ(shm_pool_free(p, fill[i]), SHM_POOL_OK);
    shm_cache_destroy(c);
    CHECK_EQU(live_blocks(p), 0);
    shm_pool_close(p);
}

/* A child parks blocks and is killed: the parent's sweep frees them and the list. */
static int park_and_hang(void *arg)
{
    shm_pool_t *p = arg;
    shm_cache_t *c = NULL;
    if (shm_cache_create(p, 64 * KIB, &c) != SHM_POOL_OK) return 10;
    void *b[40];
    for (int i = 0; i < 40; i++)
        if (shm_cache_alloc(c, 16 + 24 * (size_t)i, NULL, &b[i]) != SHM_POOL_OK) return 11;
    for (int i = 0; i < 40; i++)
        if (shm_cache_free(c, b[i]) != SHM_POOL_OK) return 12;
    raise(SIGKILL);
    return 13;
}

static void test_killed_owner_swept(void)
{
    shm_pool_t *p = anon_pool(4 * MIB);
    CHECK(p != NULL);
    CHECK_EQ(reap(spawn(park_and_hang, p)), 128 + SIGKILL);
    CHECK(live_blocks(p) > 0);
    size_t chunks = 0;
    CHECK_EQ(shm_pool_reclaim(p, &chunks), SHM_POOL_OK);
    CHECK_EQU(live_blocks(p), 0);
    CHECK_EQ(shm_pool_check(p, NULL), SHM_POOL_OK);
    shm_pool_close(p);
}

/* After fork the child's cache starts empty: the parent's parked blocks stay the parent's. */
typedef struct fork_args {
    shm_cache_t *c;
    uint64_t parked;
} fork_args_t;

static int child_after_fork(void *arg)
{
    fork_args_t *a = arg;
    shm_cache_stats_t st;
    shm_cache_stats(a->c, &st);
    if (st.blocks != 0) return 10;
    if (shm_cache_is_parked(a->c, a->parked)) return 11;
    uint64_t off = 0;
    void *ptr = NULL;
    if (shm_cache_alloc(a->c, 64, &off, &ptr) != SHM_POOL_OK) return 12;
    if (off == a->parked) return 13; /* the parent's parked block handed out twice */
    if (shm_cache_free(a->c, ptr) != SHM_POOL_OK) return 14;
    if (shm_cache_drain(a->c, NULL) != SHM_POOL_OK) return 15;
    return 0;
}

static void test_fork(void)
{
    shm_pool_t *p = anon_pool(4 * MIB);
    CHECK(p != NULL);
    shm_cache_t *c = NULL;
    CHECK_EQ(shm_cache_create(p, 64 * KIB, &c), SHM_POOL_OK);
    fork_args_t a = {c, 0};
    void *ptr = NULL;
    CHECK_EQ(shm_cache_alloc(c, 64, &a.parked, &ptr), SHM_POOL_OK);
    CHECK_EQ(shm_cache_free(c, ptr), SHM_POOL_OK);
    size_t before = live_blocks(p);
    CHECK_EQ(reap(spawn(child_after_fork, &a)), 0);
    CHECK_EQU(live_blocks(p), before);
    CHECK(shm_cache_is_parked(c, a.parked));
    uint64_t off = 0;
    CHECK_EQ(shm_cache_alloc(c, 64, &off, &ptr), SHM_POOL_OK);
    CHECK_EQU(off, a.parked);
    CHECK_EQ(shm_cache_free(c, ptr), SHM_POOL_OK);
    shm_cache_destroy(c);
    CHECK_EQU(live_blocks(p), 0);
    shm_pool_close(p);
}

/* Seeded random ops against a shadow of live blocks (contents checked), with
 * segment allocations, reallocs (forget) and drains mixed in. */
static uint32_t rng_state = 0x2545f491u;
static uint32_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

#define LIVE 512
static void test_random_against_shadow(void)
{
    shm_pool_t *p = anon_pool(8 * MIB);
    CHECK(p != NULL);
    shm_cache_t *c = NULL;
    CHECK_EQ(shm_cache_create(p, 128 * KIB, &c), SHM_POOL_OK);
    static unsigned char *ptr[LIVE];
    static size_t len[LIVE];
    static uint8_t fill[LIVE];
    static int ours[LIVE];
    memset(ptr, 0, sizeof ptr);
    for (int op = 0; op < 200000; op++) {
        uint32_t r = next_random();
        int i = (int)(r % LIVE);
        if (ptr[i]) {
            for (size_t k = 0; k < len[i]; k += 7) CHECKF(ptr[i][k] == fill[i], "op %d: block %d changed", op, i);
            if ((r >> 9) % 16 == 0 && ours[i]) { /* move it with the segment: the cache forgets it */
                uint64_t off = offset_of(p, ptr[i]), moved = 0;
                void *np = NULL;
                shm_cache_forget(c, off);
                CHECK_EQ(shm_pool_realloc(p, off, len[i] + 100, &moved, &np), SHM_POOL_OK);
                ptr[i] = np;
                ours[i] = 0;
                continue;
            }
            CHECK_EQ(shm_cache_free(c, ptr[i]), SHM_POOL_OK);
            if ((r >> 13) % 64 == 0) { /* parked: refused here; freed: the segment refuses (merged: not a block) */
                int rc = shm_cache_free(c, ptr[i]);
                CHECKF(rc == SHM_POOL_ERR_DOUBLE_FREE || rc == SHM_POOL_ERR_FOREIGN, "double free: %d", rc);
            }
            ptr[i] = NULL;
        } else {
            size_t size = 1 + (r >> 9) % ((r >> 30) ? 512 : 6000);
            void *np = NULL;
            int via_segment = (r >> 20) % 8 == 0;
            int rc = via_segment ? shm_pool_alloc(p, size, NULL, &np) : shm_cache_alloc(c, size, NULL, &np);
            CHECK_EQ(rc, SHM_POOL_OK);
            ptr[i] = np;
            len[i] = size;
            ours[i] = !via_segment;
            fill[i] = (uint8_t)r;
            memset(np, fill[i], size);
        }
        if (op % 20000 == 0) {
            CHECK_EQ(shm_pool_check(p, NULL), SHM_POOL_OK);
            if (op % 40000 == 0) CHECK_EQ(shm_cache_drain(c, NULL), SHM_POOL_OK);
        }
    }
    for (int i = 0; i < LIVE; i++)
        if (ptr[i]) CHECK_EQ(shm_cache_free(c, ptr[i]), SHM_POOL_OK);
    shm_cache_destroy(c);
    CHECK_EQU(live_blocks(p), 0);
    CHECK_EQ(shm_pool_check(p, NULL), SHM_POOL_OK);
    shm_pool_close(p);
}

int main(void)
{
    (void)tu_alloc; /* the harness's allocation helpers are unused here */
    (void)tu_aligned;
    TU_RUN(test_hit_and_miss);
    TU_RUN(test_misuse);
    TU_RUN(test_limits_and_drain);
    TU_RUN(test_nomem_drains);
    TU_RUN(test_killed_owner_swept);
    TU_RUN(test_fork);
    TU_RUN(test_random_against_shadow);
    return tu_finish("shm_cache");
}
