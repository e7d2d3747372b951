/* test_heap_shared.c: heap pools whose chunks come from a shared segment
 * (shm_pool_lend / shm_pool_unlend as a heap_pool_memory_t): alignment in every
 * process, lent chunks refused to foreign frees, chunks returned on destroy,
 * dead owners' chunks reclaimed, stats of both pools, kills mid-lend, and the
 * open-while-initialising race. Every case runs in its own forked process. */
#include "heap_pool.h"
#include "shm_pool.h"
#include "test_util.h"
#include "fork_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

static char g_name[64];

static void fresh_name(const char *tag)
{
    snprintf(g_name, sizeof g_name, "/mempools-hs-%d-%s", (int)getpid(), tag);
    shm_unlink(g_name);
}

static shm_pool_t *anon_pool(size_t size)
{
    shm_pool_t *p = NULL;
    return shm_pool_create(NULL, size, 0, &p) == SHM_POOL_OK ? p : NULL;
}

/* A heap pool whose chunks come from `shm`. */
static heap_pool_t *shared_heap(shm_pool_t *shm, size_t capacity)
{
    heap_pool_memory_t memory = {shm_pool_map_chunk, shm_pool_unmap_chunk, NULL, NULL, shm};
    heap_pool_options_t options = {capacity, 0, NULL, &memory};
    heap_pool_t *h = NULL;
    return heap_pool_create(&options, &h) == HEAP_POOL_OK ? h : NULL;
}

static uint64_t offset_of(shm_pool_t *shm, const void *ptr)
{
    uint64_t off = UINT64_MAX;
    shm_pool_offset_of(shm, ptr, &off);
    return off;
}

static int shm_ok(shm_pool_t *shm) { return shm_pool_check(shm, NULL) == SHM_POOL_OK; }

static void test_layout_alignment(void)
{
    shm_pool_t *shm = anon_pool(8 * MIB);
    CHECK(shm != NULL);
    uint64_t area;
    size_t area_size;
    shm_pool_area(shm, &area, &area_size);
    CHECK_EQU(area % 4096, 0);
    CHECK_EQU((uintptr_t)shm_pool_base(shm) % HEAP_POOL_GRANULE, 0);
    heap_pool_t *h = shared_heap(shm, 0);
    CHECK(h != NULL);
    void *a = heap_pool_malloc(h, 64);
    void *big = heap_pool_malloc(h, 3 * MIB + 100); /* a large block: page-aligned request */
    CHECK(a != NULL && big != NULL);
    heap_pool_ref_t ref;
    CHECK_EQ(heap_pool_locate(h, a, &ref), HEAP_POOL_OK);
    unsigned char *chunk = (unsigned char *)a - ref.offset;
    CHECK_EQU((uintptr_t)chunk % HEAP_POOL_GRANULE, 0);
    CHECK_EQU(offset_of(shm, chunk) % HEAP_POOL_GRANULE, 0);
    CHECK_EQU(offset_of(shm, big) % HEAP_POOL_GRANULE, 0);
    shm_pool_stats_t s;
    CHECK_EQ(shm_pool_stats(shm, &s), SHM_POOL_OK);
    CHECK_EQU(s.lent_chunks, 2); /* a 1 MiB span holding the class chunk, and the large block */
    CHECK_EQU(s.lent_bytes, MIB + (3 * MIB + 64 * KIB));
    /* Memory of both is usable end to end. */
    memset(chunk, 0xA5, HEAP_POOL_GRANULE);
    memset(big, 0x5A, 3 * MIB + 100);
    CHECK(shm_ok(shm));
    heap_pool_destroy(h);
    shm_pool_close(shm);
}

static void test_stats_and_return_on_destroy(void)
{
    shm_pool_t *shm = anon_pool(8 * MIB);
    CHECK(shm != NULL);
    shm_pool_stats_t before, during, after;
    CHECK_EQ(shm_pool_stats(shm, &before), SHM_POOL_OK);
    heap_pool_t *h = shared_heap(shm, 0);
    CHECK(h != NULL);
    void *blocks[3000];
    for (int i = 0; i < 3000; i++) {
        blocks[i] = heap_pool_malloc(h, (size_t)(16 + (i % 7) * 40));
        CHECK(blocks[i] != NULL);
        memset(blocks[i], i & 0xff, 16);
    }
    heap_pool_stats_t hs;
    heap_pool_get_stats(h, &hs);
    CHECK_EQ(shm_pool_stats(shm, &during), SHM_POOL_OK);
    CHECK(hs.class_chunks > 0);
    CHECK(hs.class_chunks >= 8);
    CHECK_EQU(during.lent_chunks, (hs.reserved + MIB - 1) / MIB); /* spans, filled one after another */
    CHECK(during.lent_bytes >= hs.reserved);
    CHECK_EQU(during.allocations, before.allocations + during.lent_chunks);
    CHECK(during.used >= before.used + hs.reserved);
    for (int i = 0; i < 3000; i += 2) CHECK_EQ(heap_pool_free(h, blocks[i]), HEAP_POOL_OK);
    CHECK_EQ(heap_pool_check(h, NULL), HEAP_POOL_OK);
    CHECK(shm_ok(shm));
    heap_pool_destroy(h);
    CHECK_EQ(shm_pool_stats(shm, &after), SHM_POOL_OK);
    CHECK_EQU(after.lent_chunks, 0);
    CHECK_EQU(after.lent_bytes, 0);
    CHECK_EQU(after.used, before.used);
    CHECK_EQU(after.allocations, before.allocations);
    CHECK(shm_ok(shm));
    shm_pool_close(shm);
}

typedef struct foreign_args {
    shm_pool_t *shm;
    uint64_t chunk;  /* segment offset of a lent chunk's start */
    uint64_t inner;  /* segment offset of a heap block inside it */
} foreign_args_t;

/* Another process: every way of freeing the chunk is refused, at() works. */
static int foreign_child(void *arg)
{
    foreign_args_t *a = arg;
    shm_pool_t *shm = NULL;
    if (shm_pool_from_fd(shm_pool_fd(a->shm), &shm) != SHM_POOL_OK) return 10;
    if (shm_pool_free_at(shm, a->chunk) != SHM_POOL_ERR_LENT) return 11;
    if (shm_pool_free_at(shm, a->inner) != SHM_POOL_ERR_LENT) return 12;
    if (shm_pool_free(shm, (unsigned char *)shm_pool_base(shm) + a->chunk) != SHM_POOL_ERR_LENT) return 13;
    uint64_t moved = 0;
    if (shm_pool_realloc(shm, a->chunk, 16, &moved, NULL) != SHM_POOL_ERR_LENT) return 14;
    if (shm_pool_unlend(shm, a->chunk) != SHM_POOL_ERR_LENT) return 15;
    if (shm_pool_unlend(shm, a->inner) != SHM_POOL_ERR_FOREIGN) return 16;
    void *p = NULL;
    if (shm_pool_at(shm, a->inner, 64, &p) != SHM_POOL_OK) return 17;
    if (((unsigned char *)p)[0] != 0x11) return 18;
    memset(p, 0x22, 64);
    if (shm_pool_at(shm, a->chunk, 2 * MIB, &p) == SHM_POOL_OK) return 19; /* beyond the lent block (a span) */
    if (shm_pool_check(shm, NULL) != SHM_POOL_OK) return 20;
    shm_pool_close(shm);
    return 0;
}

static void test_foreign_free_refused(void)
{
    shm_pool_t *shm = anon_pool(4 * MIB);
    CHECK(shm != NULL);
    heap_pool_t *h = shared_heap(shm, 0);
    CHECK(h != NULL);
    unsigned char *first = heap_pool_malloc(h, 16); /* starts exactly where its chunk does */
    unsigned char *second = heap_pool_malloc(h, 16);
    CHECK(first != NULL && second != NULL);
    heap_pool_ref_t ref;
    CHECK_EQ(heap_pool_locate(h, first, &ref), HEAP_POOL_OK);
    CHECK_EQU(ref.offset, 0);
    memset(second, 0x11, 16);
    shm_pool_stats_t before, after;
    CHECK_EQ(shm_pool_stats(shm, &before), SHM_POOL_OK);
    /* The lending process itself cannot free it through the shared pool either. */
    CHECK_EQ(shm_pool_free(shm, first), SHM_POOL_ERR_LENT);
    foreign_args_t args = {shm, offset_of(shm, first), offset_of(shm, second)};
    CHECK_EQ(reap(spawn(foreign_child, &args)), 0);
    CHECK_EQ(shm_pool_stats(shm, &after), SHM_POOL_OK);
    CHECK_EQU(after.lent_chunks, before.lent_chunks);
    CHECK_EQU(after.used, before.used);
    CHECK_EQU(after.allocations, before.allocations);
    CHECK_EQ(second[0], 0x22); /* written by the other process */
    CHECK_EQ(heap_pool_free(h, first), HEAP_POOL_OK);
    CHECK_EQ(heap_pool_free(h, second), HEAP_POOL_OK);
    CHECK_EQ(heap_pool_check(h, NULL), HEAP_POOL_OK);
    heap_pool_destroy(h);
    CHECK_EQ(shm_pool_stats(shm, &after), SHM_POOL_OK);
    CHECK_EQU(after.lent_chunks, 0);
    CHECK(shm_ok(shm));
    shm_pool_close(shm);
}

typedef struct owner_args {
    shm_pool_t *shm;
    int destroy; /* destroy the heap pool before exiting */
} owner_args_t;

/* A child with its own heap pool on the inherited segment: fills blocks,
 * publishes one under the root "block", exits with or without destroying. */
static int owner_child(void *arg)
{
    owner_args_t *a = arg;
    heap_pool_t *h = shared_heap(a->shm, 0);
    if (!h) return 10;
    unsigned char *keep = NULL;
    for (int i = 0; i < 2000; i++) {
        unsigned char *b = heap_pool_malloc(h, 48);
        if (!b) return 11;
        memset(b, 0x33, 48);
        if (i % 3 && heap_pool_free(h, b) != HEAP_POOL_OK) return 12;
        if (i == 999) keep = b;
    }
    void *big = heap_pool_malloc(h, 5 * MIB);
    if (!big) return 13;
    memset(keep, 0x44, 48);
    if (shm_pool_set_root(a->shm, "block", offset_of(a->shm, keep)) != SHM_POOL_OK) return 14;
    if (heap_pool_check(h, NULL) != HEAP_POOL_OK) return 15;
    if (a->destroy) heap_pool_destroy(h);
    return 0;
}

static void test_child_heap_pool_and_dead_owner(void)
{
    shm_pool_t *shm = anon_pool(16 * MIB);
    CHECK(shm != NULL);
    shm_pool_stats_t s;
    /* The parent's own heap pool on the same segment, alive throughout. */
    heap_pool_t *mine = shared_heap(shm, 0);
    CHECK(mine != NULL);
    CHECK(heap_pool_malloc(mine, 100) != NULL);

    owner_args_t tidy = {shm, 1};
    CHECK_EQ(reap(spawn(owner_child, &tidy)), 0);
    CHECK_EQ(shm_pool_stats(shm, &s), SHM_POOL_OK);
    CHECK_EQU(s.lent_chunks, 1); /* only the parent's */

    owner_args_t sloppy = {shm, 0};
    CHECK_EQ(reap(spawn(owner_child, &sloppy)), 0);
    CHECK_EQ(shm_pool_stats(shm, &s), SHM_POOL_OK);
    CHECK(s.lent_chunks > 2); /* the dead child's chunks are still lent... */
    uint64_t off = 0;
    CHECK_EQ(shm_pool_get_root(shm, "block", &off), SHM_POOL_OK);
    void *p = NULL;
    CHECK_EQ(shm_pool_at(shm, off, 48, &p), SHM_POOL_OK); /* ...and readable by offset */
    CHECK_EQ(((unsigned char *)p)[47], 0x44);
    CHECK(shm_ok(shm));
    size_t reclaimed = 0;
    CHECK_EQ(shm_pool_reclaim(shm, &reclaimed), SHM_POOL_OK);
    CHECK(reclaimed >= 2);
    CHECK_EQ(shm_pool_stats(shm, &s), SHM_POOL_OK);
    CHECK_EQU(s.lent_chunks, 1); /* a living owner's chunk is kept */
    CHECK_EQ(shm_pool_at(shm, off, 48, &p), SHM_POOL_ERR_FOREIGN);
    CHECK(shm_ok(shm));
    CHECK_EQ(shm_pool_reclaim(shm, &reclaimed), SHM_POOL_OK);
    CHECK_EQU(reclaimed, 0);
    /* Without an explicit sweep, an allocation that finds no room sweeps. */
    CHECK_EQ(reap(spawn(owner_child, &sloppy)), 0);
    CHECK_EQ(shm_pool_stats(shm, &s), SHM_POOL_OK);
    CHECK(s.lent_chunks > 2);
    uint64_t big = 0;
    CHECK_EQ(shm_pool_alloc(shm, s.capacity - s.used - 64 * KIB, &big, NULL), SHM_POOL_OK);
    CHECK_EQ(shm_pool_stats(shm, &s), SHM_POOL_OK);
    CHECK_EQU(s.lent_chunks, 1);
    CHECK_EQ(shm_pool_free_at(shm, big), SHM_POOL_OK);
    heap_pool_destroy(mine);
    CHECK_EQ(shm_pool_stats(shm, &s), SHM_POOL_OK);
    CHECK_EQU(s.lent_chunks, 0);
    CHECK_EQU(s.allocations, 0);
    shm_pool_close(shm);
}

/* Lend and return in a loop until killed. */
static int lend_loop(void *arg)
{
    shm_pool_t *shm = arg;
    uint64_t offs[8] = {0};
    for (unsigned i = 0;; i++) {
        unsigned k = i % 8;
        if (offs[k]) {
            if (shm_pool_unlend(shm, offs[k]) != SHM_POOL_OK) return 10;
            offs[k] = 0;
        } else if (shm_pool_lend(shm, (k + 1) * 40 * KIB, &offs[k], NULL) != SHM_POOL_OK) {
            offs[k] = 0;
        }
    }
}

static void test_kill_while_lending(void)
{
    shm_pool_t *shm = anon_pool(8 * MIB);
    CHECK(shm != NULL);
    srand(7);
    for (int round = 0; round < 25; round++) {
        pid_t pid = spawn(lend_loop, shm);
        struct timespec t = {0, (long)(rand() % 3000) * 1000L};
        nanosleep(&t, NULL);
        kill(pid, SIGKILL);
        CHECK_EQ(reap(pid), 128 + SIGKILL);
        const char *why = NULL;
        CHECKF(shm_pool_check(shm, &why) == SHM_POOL_OK, "round %d: %s", round, why ? why : "?");
        CHECK_EQ(shm_pool_reclaim(shm, NULL), SHM_POOL_OK);
        shm_pool_stats_t s;
        CHECK_EQ(shm_pool_stats(shm, &s), SHM_POOL_OK);
        CHECK_EQU(s.lent_chunks, 0);
        CHECK_EQU(s.lent_bytes, 0);
        CHECK_EQU(s.allocations, 0); /* nothing leaks, even a lender killed inside tlsf_memalign */
    }
    uint64_t off;
    CHECK_EQ(shm_pool_lend(shm, 1 * MIB, &off, NULL), SHM_POOL_OK);
    CHECK_EQ(shm_pool_unlend(shm, off), SHM_POOL_OK);
    CHECK(shm_ok(shm));
    shm_pool_close(shm);
}

/* Small chunks share spans: a span is unlent when its last chunk comes back,
 * and a segment full of 64 KiB chunks wastes no alignment gap per chunk. */
static void test_spans(void)
{
    shm_pool_t *shm = anon_pool(8 * MIB);
    CHECK(shm != NULL);
    void *chunks[200];
    int n = 0;
    while (n < 200 && (chunks[n] = shm_pool_map_chunk(shm, HEAP_POOL_GRANULE, HEAP_POOL_GRANULE)) != NULL) {
        CHECK_EQU((uintptr_t)chunks[n] % HEAP_POOL_GRANULE, 0);
        memset(chunks[n], n, HEAP_POOL_GRANULE);
        n++;
    }
    shm_pool_stats_t s;
    CHECK_EQ(shm_pool_stats(shm, &s), SHM_POOL_OK);
    CHECKF(n >= 100, "only %d chunks of 64 KiB in 8 MiB", n);
    CHECK(s.lent_chunks < (size_t)n);
    for (int i = 0; i < n; i++) CHECK_EQ(((unsigned char *)chunks[i])[HEAP_POOL_GRANULE - 1], (unsigned char)i);
    /* the heap pool's spans and chunks are lent to this very process, yet a plain
     * unlend is refused: only shm_pool_unmap_chunk gives them back */
    size_t before = s.lent_chunks;
    for (int i = 0; i < n; i++) {
        uint64_t off = (uint64_t)((unsigned char *)chunks[i] - (unsigned char *)shm_pool_base(shm));
        int rc = shm_pool_unlend(shm, off);
        CHECKF(rc == SHM_POOL_ERR_LENT || rc == SHM_POOL_ERR_FOREIGN, "unlend of a heap pool's chunk: %d", rc);
    }
    CHECK_EQ(shm_pool_stats(shm, &s), SHM_POOL_OK);
    CHECK_EQU(s.lent_chunks, before);
    for (int i = 0; i < n; i += 2) shm_pool_unmap_chunk(shm, chunks[i], HEAP_POOL_GRANULE);
    uint64_t own = 0;
    CHECK_EQ(shm_pool_lend(shm, 1, &own, NULL), SHM_POOL_OK); /* a plain lend still unlends */
    CHECK_EQ(shm_pool_unlend(shm, own), SHM_POOL_OK);
    CHECK(shm_ok(shm));
    for (int i = 1; i < n; i += 2) shm_pool_unmap_chunk(shm, chunks[i], HEAP_POOL_GRANULE);
    CHECK_EQ(shm_pool_stats(shm, &s), SHM_POOL_OK);
    CHECK_EQU(s.lent_chunks, 0);
    CHECK_EQU(s.allocations, 0);
    CHECK(shm_ok(shm));
    shm_pool_close(shm);
}

static void test_segment_exhausted(void)
{
    shm_pool_t *shm = anon_pool(512 * KIB);
    CHECK(shm != NULL);
    heap_pool_t *h = shared_heap(shm, 0);
    CHECK(h != NULL);
    int n = 0;
    while (heap_pool_malloc(h, 8 * KIB) != NULL) n++;
    CHECK(n > 0);
    heap_pool_stats_t hs;
    heap_pool_get_stats(h, &hs);
    CHECK_EQU(hs.failed_allocations, 1);
    CHECK_EQ(heap_pool_check(h, NULL), HEAP_POOL_OK);
    CHECK_EQ(shm_pool_lend(shm, 0, NULL, NULL), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_lend(shm, 64 * MIB, NULL, NULL), SHM_POOL_ERR_NOMEM);
    CHECK(shm_ok(shm));
    heap_pool_destroy(h);
    shm_pool_stats_t s;
    CHECK_EQ(shm_pool_stats(shm, &s), SHM_POOL_OK);
    CHECK_EQU(s.allocations, 0);
    shm_pool_close(shm);
}

static int create_named(void *arg)
{
    (void)arg;
    shm_pool_t *p = NULL;
    if (shm_pool_create(g_name, 32 * MIB, 0, &p) != SHM_POOL_OK) return 10;
    shm_pool_close(p);
    return 0;
}

/* Opening while the creator is still formatting waits instead of failing. */
static void test_open_while_initialising(void)
{
    for (int round = 0; round < 10; round++) {
        fresh_name("init");
        pid_t pid = spawn(create_named, NULL);
        shm_pool_t *p = NULL;
        int rc;
        while ((rc = shm_pool_open(g_name, &p)) == SHM_POOL_ERR_SYSTEM && errno == ENOENT) {
        }
        int child = reap(pid);
        shm_unlink(g_name);
        CHECKF(rc == SHM_POOL_OK, "round %d: open gave %d", round, rc);
        CHECK_EQ(child, 0);
        CHECK(shm_ok(p));
        shm_pool_close(p);
    }
    /* A segment nobody formats is refused after the wait: never became a segment. */
    fresh_name("zero");
    int fd = shm_open(g_name, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    int truncated = ftruncate(fd, (off_t)MIB);
    close(fd);
    shm_pool_t *p = NULL;
    int rc = shm_pool_open(g_name, &p);
    shm_unlink(g_name);
    CHECK_EQ(truncated, 0);
    CHECK_EQ(rc, SHM_POOL_ERR_NOT_SEGMENT);
}

int main(void)
{
    (void)tu_alloc; /* the harness's allocation helpers are unused here */
    (void)tu_aligned;
    TU_RUN(test_layout_alignment);
    TU_RUN(test_stats_and_return_on_destroy);
    TU_RUN(test_foreign_free_refused);
    TU_RUN(test_child_heap_pool_and_dead_owner);
    TU_RUN(test_kill_while_lending);
    TU_RUN(test_spans);
    TU_RUN(test_segment_exhausted);
    TU_RUN(test_open_while_initialising);
    return tu_finish("heap_shared");
}
