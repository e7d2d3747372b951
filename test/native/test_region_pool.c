/*
 * test_region_pool.c: tests of native/alloc/region_pool.c against native/alloc/region_pool.h.
 *
 * A tracking memory provider (posix_memalign underneath, so ASan/LSan see every
 * chunk) logs map / created / released / unmap events and verifies that every
 * released notification comes before its unmap and that unmap gets back exactly
 * what map gave. Most cases use block_size 1024 and page_size 4096, so
 * max_small = 1024; the random test uses the real page size.
 *
 * usage: test_region_pool [seed] [ops]   (random test: seed 1, 200000 ops)
 */
#include "region_pool.h"
#include "test_util.h"

#include <pthread.h>

/* ---- tracking memory ------------------------------------------------------- */

#define MAXEV 16384
#define MAXMAP 8192
typedef struct ev {
    char kind; /* 'm' map, 'c' created, 'r' released, 'u' unmap */
    uint32_t id;
    void *base;
    size_t bytes, align;
} ev_t;
typedef struct mapping {
    void *base;
    size_t bytes;
    int created, released;
    uint32_t id;
} mapping_t;
typedef struct tracker {
    ev_t ev[MAXEV];
    size_t nev;            /* events logged (logging stops at MAXEV) */
    mapping_t map[MAXMAP];
    size_t nmap;
    size_t maps, unmaps, created, released;
    long fail_in;          /* > 0: the fail_in-th next map fails; 0: none */
    int errors;
    char error[200];
} tracker_t;

static void tr_error(tracker_t *t, const char *msg, void *base)
{
    if (!t->errors++) snprintf(t->error, sizeof t->error, "%s (%p)", msg, base);
}
static void tr_log(tracker_t *t, char kind, uint32_t id, void *base, size_t bytes, size_t align)
{
    if (t->nev < MAXEV) t->ev[t->nev++] = (ev_t){kind, id, base, bytes, align};
}
static mapping_t *tr_find(tracker_t *t, void *base)
{
    for (size_t i = 0; i < t->nmap; i++)
        if (t->map[i].base == base) return &t->map[i];
    return NULL;
}
static void *tr_map(void *ctx, size_t bytes, size_t align)
{
    tracker_t *t = ctx;
    if (t->fail_in > 0 && --t->fail_in == 0) return NULL;
    void *p = NULL;
    if (t->nmap == MAXMAP || posix_memalign(&p, align, bytes) != 0) return NULL;
    t->map[t->nmap++] = (mapping_t){p, bytes, 0, 0, 0};
    t->maps++;
    tr_log(t, 'm', 0, p, bytes, align);
    return p;
}
static void tr_unmap(void *ctx, void *p, size_t bytes)
{
    tracker_t *t = ctx;
    mapping_t *m = tr_find(t, p);
    if (!m) tr_error(t, "unmap of an unknown base", p);
    else {
        if (m->bytes != bytes) tr_error(t, "unmap with other bytes than mapped", p);
        if (m->created && !m->released) tr_error(t, "unmap before the released notification", p);
        *m = t->map[--t->nmap];
    }
    t->unmaps++;
    tr_log(t, 'u', 0, p, bytes, 0);
    free(p);
}
static void tr_chunk(void *ctx, uint32_t id, void *base, size_t bytes, int created)
{
    tracker_t *t = ctx;
    mapping_t *m = tr_find(t, base);
    if (!m) tr_error(t, "notification for an unmapped base", base);
    else if (m->bytes != bytes) tr_error(t, "notification with wrong bytes", base);
    else if (created) {
        if (m->created) tr_error(t, "created twice", base);
        m->created = 1;
        m->id = id;
    } else {
        if (!m->created || m->released) tr_error(t, "released without created / twice", base);
        if (m->id != id) tr_error(t, "released with another id", base);
        m->released = 1;
    }
    if (created) t->created++;
    else t->released++;
    tr_log(t, created ? 'c' : 'r', id, base, bytes, 0);
}

static tracker_t *new_tracker(void) { return tu_alloc(sizeof(tracker_t)); }

static region_pool_t *new_pool_with(tracker_t *t, size_t block, size_t page)
{
    region_pool_memory_t mem = {tr_map, tr_unmap, tr_chunk, t};
    region_pool_options_t o = {block, page, &mem};
    region_pool_t *p = NULL;
    if (region_pool_create(&o, &p) != REGION_POOL_OK) return NULL;
    return p;
}

static int check_ok(const region_pool_t *p)
{
    const char *why = NULL;
    int rc = region_pool_check(p, &why);
    HCHECKF(rc == REGION_POOL_OK, "region_pool_check = %d (%s)", rc, why ? why : "?");
    return 1;
}
static int tracker_ok(const tracker_t *t)
{
    HCHECKF(t->errors == 0, "memory tracker: %s", t->error);
    return 1;
}
/* Destroy and verify every chunk was released then unmapped. */
static int destroy_ok(region_pool_t *p, tracker_t *t)
{
    HCHECK(check_ok(p));
    HCHECK(region_pool_destroy(p) == REGION_POOL_OK);
    HCHECK(tracker_ok(t));
    HCHECKF(t->nmap == 0, "%zu chunks left mapped", t->nmap);
    HCHECK(t->maps == t->unmaps && t->created == t->released && t->created == t->maps);
    return 1;
}

static region_pool_stats_t stats(const region_pool_t *p)
{
    region_pool_stats_t s;
    region_pool_get_stats(p, &s);
    return s;
}
static int same_stats(const region_pool_stats_t *a, const region_pool_stats_t *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}
static region_pool_ref_t ref_of(region_pool_t *p, void *ptr)
{
    region_pool_ref_t r;
    memset(&r, 0, sizeof r);
    r.chunk = REGION_POOL_NO_CHUNK;
    if (ptr) region_pool_locate(p, ptr, &r);
    return r;
}
static int kind_of(region_pool_t *p, void *ptr)
{
    region_pool_ref_t r = ref_of(p, ptr);
    region_pool_chunk_info_t ci;
    if (r.chunk == REGION_POOL_NO_CHUNK || region_pool_chunk_info(p, r.chunk, &ci) != REGION_POOL_OK) return -1;
    return ci.kind;
}
/* blocks * block_size == small used + wasted + available */
static int block_identity(const region_pool_t *p, size_t used_small)
{
    region_pool_stats_t s = stats(p);
    HCHECKF(s.blocks * region_pool_block_size(p) == used_small + s.wasted + s.available,
            "blocks %zu * bs != used_small %zu + wasted %zu + available %zu", s.blocks, used_small,
            s.wasted, s.available);
    return 1;
}

/* ---- creation and thresholds --------------------------------------------------- */

static void create_validates_options(void)
{
    region_pool_t *p = NULL;
    size_t bad[] = {1, 128, 240, 255, 257, 264, 1000, REGION_POOL_MAX_BLOCK + 16};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        region_pool_options_t o = {bad[i], 4096, NULL};
        CHECKF(region_pool_create(&o, &p) == REGION_POOL_ERR_INVALID && p == NULL, "block %zu accepted", bad[i]);
    }
    size_t good[] = {256, 272, 1024, 4000, 16384, 65536};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        region_pool_options_t o = {good[i], 4096, NULL};
        CHECKF(region_pool_create(&o, &p) == REGION_POOL_OK && p, "block %zu refused", good[i]);
        CHECK_EQU(region_pool_block_size(p), good[i]);
        CHECK_EQU(region_pool_max_small(p), good[i] < 4095 ? good[i] : 4095);
        CHECK(check_ok(p));
        CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    }
    region_pool_options_t badpage = {1024, 3000, NULL};
    CHECK(region_pool_create(&badpage, &p) == REGION_POOL_ERR_INVALID);
    region_pool_memory_t nomap = {NULL, NULL, NULL, NULL};
    region_pool_options_t o = {1024, 4096, &nomap};
    CHECK(region_pool_create(&o, &p) == REGION_POOL_ERR_INVALID);
    CHECK(region_pool_create(NULL, NULL) == REGION_POOL_ERR_INVALID);
    /* defaults: 16384 bytes, system page size, nothing reserved yet */
    CHECK(region_pool_create(NULL, &p) == REGION_POOL_OK);
    CHECK_EQU(region_pool_block_size(p), REGION_POOL_DEFAULT_BLOCK);
    CHECK_EQU(region_pool_page_size(p), (size_t)sysconf(_SC_PAGESIZE));
    region_pool_stats_t s = stats(p);
    CHECK_EQU(s.reserved, 0);
    CHECK_EQU(s.capacity, SIZE_MAX);
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    CHECK(region_pool_destroy(NULL) == REGION_POOL_OK);
}

static void default_memory_aligns_blocks(void)
{
    region_pool_options_t o = {16384, 4096, NULL};
    region_pool_t *p;
    CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
    void *a = region_pool_palloc(p, 100);
    void *big = region_pool_palloc(p, 100000);
    CHECK(a && big);
    CHECK_EQU((uintptr_t)a % 16384, 0); /* first allocation at the block base, block 16384-aligned */
    CHECK_EQU((uintptr_t)big % 4096, 0);
    memset(big, 1, 100000);
    CHECK(region_pool_free(p, big) == REGION_POOL_OK);
    CHECK(check_ok(p));
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);

    region_pool_options_t o2 = {272, 4096, NULL}; /* block_align = max(page, 512) */
    CHECK(region_pool_create(&o2, &p) == REGION_POOL_OK);
    a = region_pool_palloc(p, 272);
    CHECK(a && (uintptr_t)a % 4096 == 0);
    CHECK_EQU(region_pool_max_small(p), 272);
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
}

static void threshold_at_max_small(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 16384, 4096);
    CHECK(p);
    size_t ms = region_pool_max_small(p);
    CHECK_EQU(ms, 4095);
    void *a = region_pool_palloc(p, ms);
    void *b = region_pool_palloc(p, ms + 1);
    void *c = region_pool_pnalloc(p, ms);
    void *d = region_pool_pnalloc(p, ms + 1);
    CHECK(a && b && c && d);
    CHECK_EQ(kind_of(p, a), REGION_POOL_CHUNK_BLOCK);
    CHECK_EQ(kind_of(p, b), REGION_POOL_CHUNK_LARGE);
    CHECK_EQ(kind_of(p, c), REGION_POOL_CHUNK_BLOCK);
    CHECK_EQ(kind_of(p, d), REGION_POOL_CHUNK_LARGE);
    region_pool_stats_t s = stats(p);
    CHECK_EQU(s.blocks, 1);
    CHECK_EQU(s.large_blocks, 2);
    CHECK_EQU(s.used, 4 * ms + 2);
    CHECK_EQU(s.reserved, 16384 + 2 * (ms + 1));
    CHECK(destroy_ok(p, t));

    /* block smaller than a page: max_small = block_size, and it fills an empty block exactly */
    t = new_tracker();
    p = new_pool_with(t, 1024, 4096);
    CHECK_EQU(region_pool_max_small(p), 1024);
    a = region_pool_palloc(p, 1024);
    b = region_pool_palloc(p, 1024);
    c = region_pool_palloc(p, 1025);
    CHECK(a && b && c);
    CHECK(ref_of(p, a).chunk != ref_of(p, b).chunk);
    CHECK_EQU(ref_of(p, a).offset, 0);
    CHECK_EQU(ref_of(p, b).offset, 0);
    CHECK_EQ(kind_of(p, c), REGION_POOL_CHUNK_LARGE);
    CHECK_EQU(stats(p).blocks, 2);
    CHECK(destroy_ok(p, t));
}

static void palloc_aligns_pnalloc_does_not(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    unsigned char *a = region_pool_pnalloc(p, 3);
    unsigned char *b = region_pool_pnalloc(p, 5);
    unsigned char *c = region_pool_palloc(p, 1);
    unsigned char *d = region_pool_pnalloc(p, 1);
    unsigned char *e = region_pool_palloc(p, 13);
    CHECK(a && b && c && d && e);
    CHECK_EQU((uintptr_t)a % 4096, 0); /* block base: page aligned, no header */
    CHECK(b == a + 3);                  /* pnalloc: no padding */
    CHECK(c == a + 8);                  /* palloc: next multiple of 8 */
    CHECK(d == a + 9);
    CHECK(e == a + 16);
    for (int i = 0; i < 50; i++) {
        unsigned char *x = region_pool_palloc(p, (size_t)i % 7 + 1);
        CHECK(x && (uintptr_t)x % REGION_POOL_ALIGNMENT == 0);
        unsigned char *y = region_pool_pnalloc(p, 1);
        CHECK(y == x + (size_t)i % 7 + 1);
    }
    region_pool_stats_t s = stats(p);
    CHECK(block_identity(p, s.used));
    CHECK(s.wasted > 0); /* the padding */
    CHECK(destroy_ok(p, t));
}

static void alloc_zero_is_valid_and_distinct(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    region_pool_ref_t r[4];
    for (int i = 0; i < 4; i++) CHECK(region_pool_alloc_ref(p, 0, 0, i & 1 ? REGION_POOL_UNALIGNED : 0, &r[i]) == REGION_POOL_OK);
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++) CHECK(r[i].ptr != r[j].ptr);
    CHECK_EQU(stats(p).used, 0);
    CHECK_EQU(stats(p).allocations, 4);
    size_t sz = 99;
    CHECK(region_pool_state_at(p, r[1].chunk, r[1].offset, r[1].gen, &sz) == REGION_POOL_OK && sz == 0);
    CHECK(region_pool_free_at(p, r[1].chunk, r[1].offset, r[1].gen) == REGION_POOL_OK);
    CHECK(region_pool_free_at(p, r[1].chunk, r[1].offset, r[1].gen) == REGION_POOL_ERR_DOUBLE_FREE);
    CHECK(region_pool_free(p, r[2].ptr) == REGION_POOL_OK);
    void *z = region_pool_memalign(p, 64, 0); /* zero-length large block */
    CHECK(z && (uintptr_t)z % 64 == 0);
    CHECK(region_pool_free(p, z) == REGION_POOL_OK);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

static void calloc_zeroes_and_refuses_overflow(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    unsigned char *a = region_pool_palloc(p, 400);
    CHECK(a);
    memset(a, 0xAA, 400);
    CHECK(region_pool_free(p, a) == REGION_POOL_OK); /* block rewound */
    unsigned char *b = region_pool_calloc(p, 50, 8);
    CHECK(b == a);
    for (int i = 0; i < 400; i++) CHECKF(b[i] == 0, "byte %d not zero", i);
    unsigned char *big = region_pool_calloc(p, 1000, 3);
    CHECK(big && kind_of(p, big) == REGION_POOL_CHUNK_LARGE);
    for (int i = 0; i < 3000; i++) CHECK(big[i] == 0);
    region_pool_stats_t before = stats(p);
    region_pool_ref_t r;
    CHECK(region_pool_calloc_ref(p, SIZE_MAX / 2 + 1, 2, &r) == REGION_POOL_ERR_RANGE);
    CHECK(region_pool_calloc_ref(p, 3, SIZE_MAX / 2, &r) == REGION_POOL_ERR_RANGE);
    CHECK(region_pool_calloc(p, SIZE_MAX, SIZE_MAX) == NULL);
    region_pool_stats_t after = stats(p);
    CHECK(same_stats(&before, &after));
    CHECK(region_pool_calloc(p, 0, 5) != NULL && region_pool_calloc(p, 5, 0) != NULL);
    CHECK(destroy_ok(p, t));
}

static void memalign_is_always_large(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    size_t aligns[] = {1, 8, 16, 4096, 8192, 65536};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        void *m = region_pool_memalign(p, aligns[i], 8);
        CHECK(m && (uintptr_t)m % aligns[i] == 0 && (uintptr_t)m % 4096 == 0);
        CHECK_EQ(kind_of(p, m), REGION_POOL_CHUNK_LARGE);
        CHECK_EQU(ref_of(p, m).offset, 0);
    }
    CHECK_EQU(t->ev[t->nev - 2].align, 65536); /* asked the provider for the alignment */
    CHECK_EQU(stats(p).blocks, 0);
    region_pool_ref_t r;
    region_pool_stats_t before = stats(p);
    CHECK(region_pool_alloc_ref(p, 8, 3, REGION_POOL_MEMALIGN, &r) == REGION_POOL_ERR_INVALID);
    CHECK(region_pool_alloc_ref(p, 8, 0, REGION_POOL_MEMALIGN, &r) == REGION_POOL_ERR_INVALID);
    CHECK(region_pool_alloc_ref(p, 8, (size_t)1 << 62, REGION_POOL_MEMALIGN, &r) == REGION_POOL_ERR_INVALID);
    CHECK(region_pool_alloc_ref(p, 8, 0, 0x100, &r) == REGION_POOL_ERR_INVALID);
    region_pool_stats_t after = stats(p);
    CHECK(same_stats(&before, &after)); /* invalid arguments are not failed allocations */
    CHECK(destroy_ok(p, t));
}

static void huge_sizes_and_map_failures_fail_cleanly(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    void *keep = region_pool_palloc(p, 10);
    CHECK(keep);
    region_pool_stats_t before = stats(p);
    CHECK(region_pool_palloc(p, SIZE_MAX) == NULL);
    CHECK(region_pool_pnalloc(p, SIZE_MAX - 4095) == NULL);
    CHECK(region_pool_memalign(p, 4096, SIZE_MAX) == NULL);
    CHECK(region_pool_palloc(p, REGION_POOL_MAX_REQUEST + 1) == NULL);
    region_pool_stats_t s = stats(p);
    CHECK_EQU(s.failed_allocations, before.failed_allocations + 4);
    CHECK_EQU(s.reserved, before.reserved);
    CHECK_EQU(s.used, before.used);
    /* the provider refuses: a large block, then a new block */
    t->fail_in = 1;
    CHECK(region_pool_palloc(p, 5000) == NULL);
    void *fill = region_pool_palloc(p, 1010); /* does not fit block 0 (16 used) -> new block 1 */
    CHECK(fill);
    t->fail_in = 1;
    CHECK(region_pool_palloc(p, 1010) == NULL); /* fits neither block: a third one, refused */
    s = stats(p);
    CHECK_EQU(s.failed_allocations, before.failed_allocations + 6);
    CHECK_EQU(s.blocks, 2);
    CHECK(check_ok(p));
    CHECK(region_pool_palloc(p, 1000) != NULL); /* works again */
    CHECK(destroy_ok(p, t));
}

/* A provider that returns memory 16 bytes past an aligned address. */
static int g_skewed_unmaps;
static void *skew_map(void *ctx, size_t bytes, size_t align)
{
    (void)ctx;
    void *p = NULL;
    if (posix_memalign(&p, align, bytes + 16) != 0) return NULL;
    return (unsigned char *)p + 16;
}
static void skew_unmap(void *ctx, void *p, size_t bytes)
{
    (void)ctx;
    (void)bytes;
    g_skewed_unmaps++;
    free((unsigned char *)p - 16);
}

static void misaligned_provider_is_refused(void)
{
    region_pool_memory_t mem = {skew_map, skew_unmap, NULL, NULL};
    region_pool_options_t o = {1024, 4096, &mem};
    region_pool_t *p;
    CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
    g_skewed_unmaps = 0;
    CHECK(region_pool_palloc(p, 10) == NULL);
    CHECK(region_pool_palloc(p, 5000) == NULL);
    CHECK_EQ(g_skewed_unmaps, 2); /* handed back at once */
    region_pool_stats_t s = stats(p);
    CHECK(s.reserved == 0 && s.blocks == 0 && s.failed_allocations == 2);
    CHECK(check_ok(p));
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
}

/* ---- blocks: chaining, skip rule, recycling ---------------------------------------- */

static void blocks_chain_and_skip_rule(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    unsigned char *a = region_pool_palloc(p, 1000); /* block 0: 24 bytes left */
    CHECK(a);
    uint32_t b0 = ref_of(p, a).chunk;
    /* four requests block 0 cannot fit: each lands in block 1 */
    uint32_t b1 = REGION_POOL_NO_CHUNK;
    for (int i = 0; i < 4; i++) {
        void *x = region_pool_palloc(p, 100);
        CHECK(x);
        if (i == 0) b1 = ref_of(p, x).chunk;
        CHECK_EQ(ref_of(p, x).chunk, b1);
    }
    CHECK(b1 != b0);
    CHECK_EQU(stats(p).blocks, 2);
    /* block 0 failed 4 times: still searched, so 8 bytes land there */
    void *s1 = region_pool_palloc(p, 8);
    CHECK_EQ(ref_of(p, s1).chunk, b0);
    CHECK_EQU(ref_of(p, s1).offset, 1000);
    /* the 5th failure (more than 4) closes it */
    void *x = region_pool_palloc(p, 100);
    CHECK_EQ(ref_of(p, x).chunk, b1);
    void *s2 = region_pool_palloc(p, 8); /* fits block 0's 16-byte tail, but block 0 is skipped */
    CHECK_EQ(ref_of(p, s2).chunk, b1);
    region_pool_stats_t s = stats(p);
    CHECK(s.wasted >= 16); /* block 0's abandoned tail */
    CHECK(block_identity(p, s.used));
    CHECK(check_ok(p));
    /* new blocks chain at the tail: block 1 keeps serving until it cannot */
    void *y = region_pool_palloc(p, 400); /* block 1: 528 -> 928 */
    CHECK_EQ(ref_of(p, y).chunk, b1);
    void *z = region_pool_palloc(p, 500); /* block 1 full-ish -> block 2 */
    uint32_t b2 = ref_of(p, z).chunk;
    CHECK(b2 != b1 && b2 != b0);
    CHECK_EQU(stats(p).blocks, 3);
    void *w = region_pool_palloc(p, 8); /* block 1 still first in the search */
    CHECK_EQ(ref_of(p, w).chunk, b1);
    /* the closed block 0 comes back when its last allocation is freed: rewound, searched first */
    CHECK(region_pool_free(p, a) == REGION_POOL_OK);
    CHECK(region_pool_free(p, s1) == REGION_POOL_OK);
    void *v = region_pool_pnalloc(p, 3);
    CHECK(v == a);
    CHECK(block_identity(p, stats(p).used));
    CHECK(destroy_ok(p, t));
}

static void search_stays_short_and_spares_are_reused(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    enum { N = 40 };
    void *big[N], *small[N];
    for (int i = 0; i < N; i++) {
        small[i] = region_pool_palloc(p, 24);  /* keeps block i alive */
        big[i] = region_pool_palloc(p, 1000);  /* never fits after small: a block each */
        CHECK(small[i] && big[i]);
    }
    CHECK(check_ok(p)); /* includes: open list <= REGION_POOL_OPEN_MAX, failed <= 4 */
    size_t blocks = stats(p).blocks;
    CHECK(blocks >= N);
    /* free everything: every block is recycled; the open list stays bounded, the rest are spares */
    for (int i = 0; i < N; i++) {
        CHECK(region_pool_free(p, big[i]) == REGION_POOL_OK);
        CHECK(region_pool_free(p, small[i]) == REGION_POOL_OK);
        CHECK(check_ok(p));
    }
    region_pool_stats_t s = stats(p);
    CHECK_EQU(s.allocations, 0);
    CHECK_EQU(s.wasted, 0);
    CHECK_EQU(s.available, blocks * 1024);
    CHECK_EQU(s.spare_blocks, blocks - REGION_POOL_OPEN_MAX);
    /* whole-block requests take the open blocks, then the spares: no new chunk */
    size_t maps = t->maps;
    for (size_t i = 0; i < blocks; i++) {
        CHECK(region_pool_palloc(p, 1024) != NULL);
        CHECK(check_ok(p));
    }
    CHECK_EQU(t->maps, maps);
    CHECK_EQU(stats(p).blocks, blocks);
    CHECK_EQU(stats(p).spare_blocks, 0);
    CHECK(region_pool_palloc(p, 1024) != NULL);
    CHECK_EQU(t->maps, maps + 1);
    CHECK(destroy_ok(p, t));
}

static void recycled_block_serves_next_request(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    void *a[3];
    for (int i = 0; i < 3; i++) a[i] = region_pool_palloc(p, 300); /* block 0: 900 used */
    void *b = region_pool_palloc(p, 300);                             /* block 1 */
    void *c = region_pool_palloc(p, 10);                              /* block 0 (fits) */
    region_pool_ref_t r0 = ref_of(p, a[0]), rb = ref_of(p, b), rc = ref_of(p, c);
    CHECK(rb.chunk != r0.chunk && rc.chunk == r0.chunk);
    /* free every allocation of block 0, out of order: live count reaches 0 */
    CHECK(region_pool_free(p, a[1]) == REGION_POOL_OK);
    CHECK(region_pool_free(p, c) == REGION_POOL_OK);
    CHECK(region_pool_free(p, a[0]) == REGION_POOL_OK);
    region_pool_chunk_info_t ci;
    CHECK(region_pool_chunk_info(p, r0.chunk, &ci) == REGION_POOL_OK);
    CHECK_EQU(ci.live, 1);
    CHECK_EQU(ci.used, 922);
    CHECK(region_pool_free(p, a[2]) == REGION_POOL_OK);
    CHECK(region_pool_chunk_info(p, r0.chunk, &ci) == REGION_POOL_OK);
    CHECK_EQU(ci.live, 0);
    CHECK_EQU(ci.used, 0);
    CHECK(ci.gen != r0.gen);
    /* next request lands at block 0's start, even though block 1 has room */
    void *d = region_pool_pnalloc(p, 7);
    CHECK(d == a[0]);
    void *e = region_pool_palloc(p, 16);
    CHECK(e == (unsigned char *)a[0] + 8);
    /* and again */
    CHECK(region_pool_free(p, d) == REGION_POOL_OK);
    CHECK(region_pool_free(p, e) == REGION_POOL_OK);
    void *f = region_pool_palloc(p, 1);
    CHECK(f == a[0]);
    CHECK(block_identity(p, stats(p).used));
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* ---- large blocks ---------------------------------------------------------------------- */

static void large_blocks_free_at_once_and_reuse_ids(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    region_pool_ref_t r[4];
    for (int i = 0; i < 4; i++) CHECK(region_pool_alloc_ref(p, 5000 + (size_t)i, 0, 0, &r[i]) == REGION_POOL_OK);
    for (int i = 0; i < 4; i++) CHECK_EQ(r[i].chunk, i);
    CHECK_EQU(stats(p).reserved, 4 * 5000 + 6);
    size_t nev = t->nev;
    CHECK(region_pool_free_at(p, r[1].chunk, r[1].offset, r[1].gen) == REGION_POOL_OK);
    /* released at once: notification, then unmap */
    CHECK_EQU(t->nev, nev + 2);
    CHECK(t->ev[nev].kind == 'r' && t->ev[nev].id == 1 && t->ev[nev].base == r[1].ptr);
    CHECK(t->ev[nev + 1].kind == 'u' && t->ev[nev + 1].base == r[1].ptr);
    CHECK_EQU(stats(p).reserved, 3 * 5000 + 5);
    CHECK_EQU(stats(p).large_blocks, 3);
    region_pool_chunk_info_t ci;
    CHECK(region_pool_chunk_info(p, 1, &ci) == REGION_POOL_ERR_INVALID);
    CHECK(region_pool_free(p, r[3].ptr) == REGION_POOL_OK);
    /* freed ids are reused, last freed first; blocks take ids from the same table */
    region_pool_ref_t n1, n2, n3;
    CHECK(region_pool_alloc_ref(p, 9000, 0, 0, &n1) == REGION_POOL_OK);
    CHECK_EQ(n1.chunk, 3);
    CHECK(n1.gen != r[3].gen);
    CHECK(region_pool_alloc_ref(p, 10, 0, 0, &n2) == REGION_POOL_OK); /* first block */
    CHECK_EQ(n2.chunk, 1);
    CHECK(region_pool_alloc_ref(p, 9000, 0, 0, &n3) == REGION_POOL_OK);
    CHECK_EQ(n3.chunk, 4);
    CHECK(region_pool_chunk_info(p, 3, &ci) == REGION_POOL_OK);
    CHECK(ci.kind == REGION_POOL_CHUNK_LARGE && ci.bytes == 9000 && ci.base == n1.ptr && ci.live == 1);
    CHECK(region_pool_chunk_info(p, 1, &ci) == REGION_POOL_OK && ci.kind == REGION_POOL_CHUNK_BLOCK);
    CHECK_EQ(region_pool_chunk_limit(p), 5);
    CHECK(check_ok(p));
    CHECK(tracker_ok(t));
    CHECK(destroy_ok(p, t));
}

/* ---- rejected frees --------------------------------------------------------------------- */

typedef struct snapshot {
    region_pool_stats_t s;
    unsigned char bytes[3][64];
} snapshot_t;

static void rejected_frees_change_nothing(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    region_pool_t *other = new_pool_with(new_tracker(), 1024, 4096);
    region_pool_ref_t a, b, L, freed_small, freed_large;
    CHECK(region_pool_alloc_ref(p, 64, 0, 0, &a) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 64, 0, REGION_POOL_UNALIGNED, &b) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 64, 0, 0, &freed_small) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 6000, 0, 0, &L) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 6000, 0, 0, &freed_large) == REGION_POOL_OK);
    CHECK(region_pool_free_at(p, freed_small.chunk, freed_small.offset, freed_small.gen) == REGION_POOL_OK);
    CHECK(region_pool_free_at(p, freed_large.chunk, freed_large.offset, freed_large.gen) == REGION_POOL_OK);
    memset(a.ptr, 0x11, 64);
    memset(b.ptr, 0x22, 64);
    memset(L.ptr, 0x33, 64);
    void *o = region_pool_palloc(other, 64);
    unsigned char stack_buf[64];
    void *heap = tu_alloc(64);
    void *page_heap = tu_aligned(4096, 4096); /* page aligned like a chunk, but not one */
    region_pool_stats_t before = stats(p);

    /* pointers */
    CHECK_EQ(region_pool_free(p, freed_small.ptr), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_free(p, freed_large.ptr), REGION_POOL_ERR_FOREIGN); /* unmapped: unknown address */
    CHECK_EQ(region_pool_free(p, (unsigned char *)a.ptr + 1), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free(p, (unsigned char *)a.ptr + 8), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free(p, (unsigned char *)b.ptr + 63), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free(p, (unsigned char *)freed_small.ptr + 1), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free(p, (unsigned char *)a.ptr + 1000), REGION_POOL_ERR_FOREIGN); /* beyond the bump */
    CHECK_EQ(region_pool_free(p, (unsigned char *)L.ptr + 8), REGION_POOL_ERR_FOREIGN);    /* inside a large */
    CHECK_EQ(region_pool_free(p, o), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free(p, stack_buf), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free(p, heap), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free(p, page_heap), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free(p, (unsigned char *)page_heap + 16), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free(p, (void *)(uintptr_t)0x1000), REGION_POOL_ERR_FOREIGN);
    /* handles */
    CHECK_EQ(region_pool_free_at(p, freed_small.chunk, freed_small.offset, freed_small.gen), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_free_at(p, freed_large.chunk, 0, freed_large.gen), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_free_at(p, a.chunk, a.offset + 1, a.gen), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free_at(p, a.chunk, 1024, a.gen), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free_at(p, a.chunk, SIZE_MAX, a.gen), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free_at(p, L.chunk, 1, L.gen), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free_at(p, 999, 0, 1), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free_at(p, REGION_POOL_NO_CHUNK, 0, 1), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free_at(p, a.chunk, a.offset, 0), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free_at(p, a.chunk, a.offset, UINT64_MAX), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free_at(p, L.chunk, 0, a.gen), REGION_POOL_ERR_DOUBLE_FREE); /* not this incarnation */
    size_t sz;
    CHECK_EQ(region_pool_state_at(p, freed_small.chunk, freed_small.offset, freed_small.gen, &sz), REGION_POOL_ERR_DOUBLE_FREE);
    /* realloc of a rejected handle/pointer is rejected the same way */
    region_pool_ref_t n;
    void *np;
    CHECK_EQ(region_pool_realloc_at(p, freed_small.chunk, freed_small.offset, freed_small.gen, 10, &n), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_realloc(p, (unsigned char *)a.ptr + 4, 10, &np), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_realloc(p, heap, 10, &np), REGION_POOL_ERR_FOREIGN);

    region_pool_stats_t after = stats(p);
    CHECK(same_stats(&before, &after));
    for (int i = 0; i < 64; i++)
        CHECK(((unsigned char *)a.ptr)[i] == 0x11 && ((unsigned char *)b.ptr)[i] == 0x22 && ((unsigned char *)L.ptr)[i] == 0x33);
    CHECK(check_ok(p));
    CHECK(region_pool_free_at(p, a.chunk, a.offset, a.gen) == REGION_POOL_OK);
    CHECK(region_pool_free(p, b.ptr) == REGION_POOL_OK);
    CHECK(region_pool_free(p, L.ptr) == REGION_POOL_OK);
    CHECK(region_pool_free(p, NULL) == REGION_POOL_OK);
    CHECK_EQU(stats(p).allocations, 0);
    CHECK(region_pool_destroy(other) == REGION_POOL_OK);
    CHECK(destroy_ok(p, t));
}

static void stale_after_reset_and_after_recycle(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    region_pool_ref_t a, b, L;
    CHECK(region_pool_alloc_ref(p, 100, 0, 0, &a) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 100, 0, 0, &b) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 5000, 0, 0, &L) == REGION_POOL_OK);
    /* recycle: free both, the block is rewound; old handles are double frees */
    CHECK(region_pool_free_at(p, a.chunk, a.offset, a.gen) == REGION_POOL_OK);
    CHECK(region_pool_free_at(p, b.chunk, b.offset, b.gen) == REGION_POOL_OK);
    region_pool_ref_t a2, b2;
    CHECK(region_pool_alloc_ref(p, 100, 0, 0, &a2) == REGION_POOL_OK);
    CHECK(a2.ptr == a.ptr && a2.chunk == a.chunk && a2.offset == a.offset && a2.gen != a.gen);
    region_pool_stats_t before = stats(p);
    CHECK_EQ(region_pool_free_at(p, a.chunk, a.offset, a.gen), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_free_at(p, b.chunk, b.offset, b.gen), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_free(p, b.ptr), REGION_POOL_ERR_FOREIGN); /* nothing starts there now */
    region_pool_stats_t mid = stats(p);
    CHECK(same_stats(&before, &mid));
    CHECK_EQ(region_pool_state_at(p, a2.chunk, a2.offset, a2.gen, NULL), REGION_POOL_OK);
    /* reset: every old handle is stale, pointers too unless a new allocation starts there */
    CHECK(region_pool_alloc_ref(p, 100, 0, 0, &b2) == REGION_POOL_OK);
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    region_pool_stats_t s = stats(p);
    CHECK_EQU(s.allocations, 0);
    CHECK_EQU(s.used, 0);
    CHECK_EQU(s.large_blocks, 0);
    CHECK_EQU(s.blocks, 1);
    CHECK_EQU(s.wasted, 0);
    CHECK_EQU(s.spare_blocks, 1);
    CHECK_EQ(region_pool_free_at(p, a2.chunk, a2.offset, a2.gen), REGION_POOL_ERR_STALE);
    CHECK_EQ(region_pool_free_at(p, b2.chunk, b2.offset, b2.gen), REGION_POOL_ERR_STALE);
    CHECK_EQ(region_pool_free_at(p, a.chunk, a.offset, a.gen), REGION_POOL_ERR_STALE);
    CHECK_EQ(region_pool_free_at(p, L.chunk, 0, L.gen), REGION_POOL_ERR_STALE);
    CHECK_EQ(region_pool_free(p, b2.ptr), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free(p, a2.ptr), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free(p, L.ptr), REGION_POOL_ERR_FOREIGN);
    region_pool_ref_t c;
    CHECK(region_pool_alloc_ref(p, 100, 0, 0, &c) == REGION_POOL_OK);
    CHECK(c.ptr == a.ptr); /* rewound */
    CHECK_EQ(region_pool_free_at(p, a2.chunk, a2.offset, a2.gen), REGION_POOL_ERR_STALE); /* same place, old gen */
    /* a large id reused after reset: old handle still stale */
    region_pool_ref_t L2;
    CHECK(region_pool_alloc_ref(p, 5000, 0, 0, &L2) == REGION_POOL_OK);
    CHECK_EQ(L2.chunk, L.chunk);
    CHECK_EQ(region_pool_free_at(p, L.chunk, 0, L.gen), REGION_POOL_ERR_STALE);
    CHECK_EQ(region_pool_state_at(p, L2.chunk, 0, L2.gen, NULL), REGION_POOL_OK);
    CHECK_EQU(stats(p).allocations, 2);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* Start bits and entries of a block are reused lazily after a rewind: bits set
 * before a reset or a recycle must never be taken for starts again, also where
 * the bump offset (or an in-place realloc) moves over them; a block holding more
 * allocations than its first entries table grows it. */
/* The rank slots are written lazily by the first free or query that needs a
 * group: query far groups first, allocate more behind them, free in a mixed
 * order; then the same after a rewind and on recycled (cached) side tables,
 * whose start bits must all read as clear. */
static void rank_slots_fill_lazily(void)
{
    enum { N = 300 };
    static region_pool_ref_t r[N];
    for (int round = 0; round < 3; round++) {
        tracker_t *t = new_tracker();
        region_pool_t *p = NULL;
        if (round < 2) p = new_pool_with(t, 16384, 4096);
        else {
            region_pool_options_t o = {16384, 4096, NULL}; /* default provider: cached tables */
            CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
        }
        CHECK(p != NULL);
        uint32_t chunk = REGION_POOL_NO_CHUNK;
        for (int pass = 0; pass < 2; pass++) {
            size_t n = 0, off = 0;
            /* one block: sizes 1..97 until about 15 KiB */
            for (; n < N && off < 15000; n++) {
                size_t sz = 1 + (n * 37) % 97;
                if (n % 3 == 0) {
                    void *q = region_pool_pnalloc(p, sz); /* the fast path */
                    CHECK(q != NULL);
                    r[n] = ref_of(p, q);
                    r[n].size = sz;
                } else {
                    CHECK(region_pool_alloc_ref(p, sz, 0, REGION_POOL_UNALIGNED, &r[n]) == REGION_POOL_OK);
                }
                if (chunk == REGION_POOL_NO_CHUNK) chunk = r[n].chunk;
                CHECK_EQ(r[n].chunk, chunk);
                CHECK_EQU(r[n].offset, off);
                off += sz;
                if (n == N / 3) { /* rank early groups, then keep allocating in and beyond them */
                    size_t s1 = 0;
                    CHECK_EQ(region_pool_state_at(p, chunk, r[n].offset, r[n].gen, &s1), REGION_POOL_OK);
                    CHECK_EQU(s1, sz);
                }
            }
            CHECK(check_ok(p));
            /* every offset: a start of a live allocation or foreign */
            for (size_t i = 0, k = 0; i < 16384; i++) {
                int want = (k < n && r[k].offset == i) ? REGION_POOL_OK : REGION_POOL_ERR_FOREIGN;
                if (want == REGION_POOL_OK) k++;
                CHECK_EQ(region_pool_state_at(p, chunk, i, r[0].gen, NULL), want);
            }
            /* free: last, then from the middle outwards in both directions */
            CHECK_EQ(region_pool_free_at(p, chunk, r[n - 1].offset, r[n - 1].gen), REGION_POOL_OK);
            for (size_t i = 0; i < n - 2; i++) {
                size_t k = (i % 2) ? (n - 1) / 2 + (i + 1) / 2 : (n - 1) / 2 - i / 2 - 1;
                if (k >= n - 1) continue;
                CHECK_EQ(region_pool_free_at(p, chunk, r[k].offset, r[k].gen), REGION_POOL_OK);
                CHECK_EQ(region_pool_free_at(p, chunk, r[k].offset, r[k].gen), REGION_POOL_ERR_DOUBLE_FREE);
                if (i % 37 == 0) CHECK(check_ok(p));
            }
            CHECK(check_ok(p));
            /* the remaining ones, lowest first; the last free rewinds the block */
            for (size_t k = 0; k + 1 < n; k++) {
                int st = region_pool_state_at(p, chunk, r[k].offset, r[k].gen, NULL);
                if (st == REGION_POOL_OK) CHECK_EQ(region_pool_free_at(p, chunk, r[k].offset, r[k].gen), REGION_POOL_OK);
                else CHECK_EQ(st, REGION_POOL_ERR_DOUBLE_FREE);
            }
            region_pool_stats_t s = stats(p);
            CHECK_EQU(s.allocations, 0);
            CHECK(check_ok(p));
            if (round == 1 && pass == 0) CHECK(region_pool_reset(p) == REGION_POOL_OK);
        }
        if (round < 2) CHECK(destroy_ok(p, t));
        else {
            for (int i = 0; i < 200; i++) CHECK(region_pool_pnalloc(p, 1 + i % 50) != NULL); /* live at destroy */
            CHECK(region_pool_destroy(p) == REGION_POOL_OK);
        }
        /* a new pool on the cached side tables: nothing reads as a start */
        if (round == 2) {
            region_pool_options_t o = {16384, 4096, NULL};
            CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
            region_pool_ref_t a;
            CHECK(region_pool_alloc_ref(p, 8, 0, 0, &a) == REGION_POOL_OK);
            CHECK(region_pool_alloc_ref(p, 4000, 0, 0, &a) == REGION_POOL_OK);
            CHECK(region_pool_alloc_ref(p, 4000, 0, 0, &a) == REGION_POOL_OK);
            for (size_t i = 0; i < 16384; i++) {
                int want = (i == 0 || i == 8 || i == 4008) ? REGION_POOL_OK : REGION_POOL_ERR_FOREIGN;
                CHECK_EQ(region_pool_state_at(p, a.chunk, i, a.gen, NULL), want);
            }
            CHECK(check_ok(p));
            CHECK(region_pool_destroy(p) == REGION_POOL_OK);
        }
    }
}

static void old_starts_do_not_survive_a_rewind(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 4096, 4096);
    region_pool_ref_t r;
    uint32_t chunk = 0;
    for (int i = 0; i < 1500; i++) { /* 1500 one-byte starts: more than 4096 / 16 entries */
        CHECK(region_pool_alloc_ref(p, 1, 0, REGION_POOL_UNALIGNED, &r) == REGION_POOL_OK);
        CHECK_EQU(r.offset, (size_t)i);
        chunk = r.chunk;
    }
    CHECK(check_ok(p));
    CHECK_EQ(region_pool_free_at(p, chunk, 777, r.gen), REGION_POOL_OK);
    CHECK_EQ(region_pool_free_at(p, chunk, 777, r.gen), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    CHECK(check_ok(p));
    region_pool_ref_t a;
    CHECK(region_pool_alloc_ref(p, 1000, 0, 0, &a) == REGION_POOL_OK);
    CHECK_EQU(a.offset, 0);
    for (size_t off = 1; off < 1600; off++) {
        CHECK_EQ(region_pool_state_at(p, a.chunk, off, a.gen, NULL), REGION_POOL_ERR_FOREIGN);
        CHECK_EQ(region_pool_free(p, (char *)a.ptr + off), REGION_POOL_ERR_FOREIGN);
    }
    CHECK(check_ok(p));
    /* recycle (live count 0), then grow the newest allocation in place over the old bits */
    CHECK_EQ(region_pool_free_at(p, a.chunk, a.offset, a.gen), REGION_POOL_OK);
    region_pool_ref_t b, b2, c;
    CHECK(region_pool_alloc_ref(p, 10, 0, 0, &b) == REGION_POOL_OK);
    CHECK(b.ptr == a.ptr && b.gen != a.gen);
    CHECK(region_pool_realloc_at(p, b.chunk, b.offset, b.gen, 3000, &b2) == REGION_POOL_OK);
    CHECK(b2.ptr == b.ptr && b2.gen == b.gen);
    for (size_t off = 1; off < 3100; off += 7)
        CHECK_EQ(region_pool_state_at(p, b.chunk, off, b.gen, NULL), REGION_POOL_ERR_FOREIGN);
    CHECK(region_pool_alloc_ref(p, 50, 0, 0, &c) == REGION_POOL_OK);
    CHECK_EQU(c.offset, 3000);
    size_t sz = 0;
    CHECK_EQ(region_pool_state_at(p, c.chunk, c.offset, c.gen, &sz), REGION_POOL_OK);
    CHECK_EQU(sz, 50);
    region_pool_stats_t s = stats(p);
    CHECK_EQU(s.blocks * 4096, s.used + s.wasted + s.available);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

static void pool_metadata_is_out_of_chunk_reach(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    region_pool_ref_t r[20];
    for (int i = 0; i < 20; i++) CHECK(region_pool_alloc_ref(p, (size_t)i * 37 % 300, 0, (unsigned)i & 1, &r[i]) == REGION_POOL_OK);
    region_pool_ref_t L;
    CHECK(region_pool_alloc_ref(p, 3000, 0, 0, &L) == REGION_POOL_OK);
    /* scribble over every byte of every chunk, as JS could through the ArrayBuffers */
    for (uint32_t id = 0; id < region_pool_chunk_limit(p); id++) {
        region_pool_chunk_info_t ci;
        if (region_pool_chunk_info(p, id, &ci) == REGION_POOL_OK) memset(ci.base, 0xFF, ci.bytes);
    }
    CHECK(check_ok(p));
    CHECK_EQ(region_pool_free(p, (unsigned char *)r[3].ptr + 1), REGION_POOL_ERR_FOREIGN);
    for (int i = 0; i < 20; i++) CHECK(region_pool_free_at(p, r[i].chunk, r[i].offset, r[i].gen) == REGION_POOL_OK);
    CHECK(region_pool_free_at(p, L.chunk, 0, L.gen) == REGION_POOL_OK);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* ---- realloc ----------------------------------------------------------------------------- */

static void realloc_in_place_and_moving(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    region_pool_ref_t a, b, n;
    CHECK(region_pool_alloc_ref(p, 100, 0, 0, &a) == REGION_POOL_OK);
    memset(a.ptr, 0x5A, 100);
    /* the newest allocation grows in place */
    CHECK(region_pool_realloc_at(p, a.chunk, a.offset, a.gen, 300, &n) == REGION_POOL_OK);
    CHECK(n.ptr == a.ptr && n.gen == a.gen && n.size == 300);
    CHECK_EQU(stats(p).used, 300);
    region_pool_chunk_info_t ci;
    CHECK(region_pool_chunk_info(p, a.chunk, &ci) == REGION_POOL_OK && ci.used == 300);
    /* shrink in place (newest: the bump offset moves back) */
    CHECK(region_pool_realloc_at(p, a.chunk, a.offset, a.gen, 120, &n) == REGION_POOL_OK && n.ptr == a.ptr);
    CHECK(region_pool_chunk_info(p, a.chunk, &ci) == REGION_POOL_OK && ci.used == 120);
    CHECK(region_pool_alloc_ref(p, 50, 0, 0, &b) == REGION_POOL_OK);
    CHECK_EQU(b.offset, 120);
    /* no longer the newest: growing moves, contents kept, old one freed */
    CHECK(region_pool_realloc_at(p, a.chunk, a.offset, a.gen, 200, &n) == REGION_POOL_OK);
    CHECK(n.ptr != a.ptr);
    for (int i = 0; i < 100; i++) CHECK(((unsigned char *)n.ptr)[i] == 0x5A);
    CHECK_EQ(region_pool_state_at(p, a.chunk, a.offset, a.gen, NULL), REGION_POOL_ERR_DOUBLE_FREE);
    a = n;
    /* shrinking a non-newest stays in place */
    CHECK(region_pool_realloc_at(p, b.chunk, b.offset, b.gen, 10, &n) == REGION_POOL_OK && n.ptr == b.ptr);
    CHECK_EQU(stats(p).used, 210);
    /* small -> large -> bigger large -> in-place shrink of a large */
    void *q = NULL;
    CHECK(region_pool_realloc(p, a.ptr, 3000, &q) == REGION_POOL_OK);
    CHECK(kind_of(p, q) == REGION_POOL_CHUNK_LARGE);
    for (int i = 0; i < 100; i++) CHECK(((unsigned char *)q)[i] == 0x5A);
    memset(q, 0x6B, 3000);
    void *q2 = NULL;
    CHECK(region_pool_realloc(p, q, 2000, &q2) == REGION_POOL_OK && q2 == q);
    CHECK(region_pool_realloc(p, q, 2900, &q2) == REGION_POOL_OK && q2 == q); /* still within the chunk */
    size_t nlarge_maps = t->maps;
    CHECK(region_pool_realloc(p, q, 9000, &q2) == REGION_POOL_OK && q2 != q);
    CHECK_EQU(t->maps, nlarge_maps + 1);
    for (int i = 0; i < 2900; i++) CHECK(((unsigned char *)q2)[i] == 0x6B);
    CHECK_EQU(stats(p).large_blocks, 1);
    /* failure leaves the old allocation valid and unchanged */
    t->fail_in = 1;
    void *q3 = (void *)1;
    CHECK_EQ(region_pool_realloc(p, q2, 20000, &q3), REGION_POOL_ERR_NOMEM);
    CHECK(q3 == (void *)1);
    for (int i = 0; i < 2900; i++) CHECK(((unsigned char *)q2)[i] == 0x6B);
    CHECK(region_pool_free(p, q2) == REGION_POOL_OK);
    /* realloc(NULL) allocates; memalign alignment survives a move */
    CHECK(region_pool_realloc(p, NULL, 40, &q) == REGION_POOL_OK && q);
    void *m = region_pool_memalign(p, 65536, 100);
    CHECK(m);
    memset(m, 7, 100);
    CHECK(region_pool_realloc(p, m, 200000, &q2) == REGION_POOL_OK);
    CHECK((uintptr_t)q2 % 65536 == 0);
    for (int i = 0; i < 100; i++) CHECK(((unsigned char *)q2)[i] == 7);
    CHECK(region_pool_realloc(p, q2, 10, &q3) == REGION_POOL_OK && q3 == q2); /* shrink: in place */
    CHECK(check_ok(p));
    CHECK(block_identity(p, stats(p).used - 10));
    CHECK(destroy_ok(p, t));
}

/* ---- cleanups and reset ----------------------------------------------------------------- */

typedef struct log_ctx {
    int order[64];
    int n;
    region_pool_t *pool;
    int busy_reset, busy_destroy;
    int add_from;   /* handler id that adds handler 100 */
} log_ctx_t;
static log_ctx_t LOG;
typedef struct tag {
    int id;
} tag_t;
static tag_t TAGS[110];

static void log_cleanup(void *data)
{
    tag_t *tg = data;
    if (LOG.n < 64) LOG.order[LOG.n++] = tg->id;
    if (tg->id == LOG.add_from) {
        TAGS[100].id = 100;
        region_pool_on_cleanup(LOG.pool, log_cleanup, &TAGS[100]);
    }
}
static void busy_cleanup(void *data)
{
    (void)data;
    LOG.busy_reset = region_pool_reset(LOG.pool);
    LOG.busy_destroy = region_pool_destroy(LOG.pool);
    void *x = region_pool_palloc(LOG.pool, 50); /* allocating and freeing is fine */
    if (x) region_pool_free(LOG.pool, x);
    LOG.order[LOG.n++] = 77;
}

static void cleanups_run_lifo_exactly_once(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    memset(&LOG, 0, sizeof LOG);
    LOG.pool = p;
    LOG.add_from = -1;
    for (int i = 0; i < 5; i++) {
        TAGS[i].id = i;
        CHECK(region_pool_on_cleanup(p, log_cleanup, &TAGS[i]) == REGION_POOL_OK);
    }
    CHECK_EQU(stats(p).cleanups, 5);
    CHECK(region_pool_on_cleanup(p, NULL, NULL) == REGION_POOL_ERR_INVALID);
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    CHECK_EQ(LOG.n, 5);
    for (int i = 0; i < 5; i++) CHECK_EQ(LOG.order[i], 4 - i);
    CHECK(region_pool_reset(p) == REGION_POOL_OK); /* exactly once */
    CHECK_EQ(LOG.n, 5);
    CHECK_EQU(stats(p).cleanups, 0);
    /* one added while cleanups run also runs, before the older ones */
    LOG.n = 0;
    LOG.add_from = 2;
    for (int i = 0; i < 4; i++) CHECK(region_pool_on_cleanup(p, log_cleanup, &TAGS[i]) == REGION_POOL_OK);
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    int want[] = {3, 2, 100, 1, 0};
    CHECK_EQ(LOG.n, 5);
    for (int i = 0; i < 5; i++) CHECK_EQ(LOG.order[i], want[i]);
    /* many handlers (the stack grows) */
    LOG.n = 0;
    LOG.add_from = -1;
    for (int i = 0; i < 60; i++) {
        TAGS[i].id = i;
        CHECK(region_pool_on_cleanup(p, log_cleanup, &TAGS[i]) == REGION_POOL_OK);
    }
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    CHECK_EQ(LOG.n, 60);
    for (int i = 0; i < 60; i++) CHECK_EQ(LOG.order[i], 59 - i);
    /* destroy runs the pending ones */
    LOG.n = 0;
    TAGS[7].id = 7;
    TAGS[8].id = 8;
    CHECK(region_pool_on_cleanup(p, log_cleanup, &TAGS[7]) == REGION_POOL_OK);
    CHECK(region_pool_on_cleanup(p, log_cleanup, &TAGS[8]) == REGION_POOL_OK);
    CHECK(destroy_ok(p, t));
    CHECK_EQ(LOG.n, 2);
    CHECK(LOG.order[0] == 8 && LOG.order[1] == 7);
}

static void cleanup_cannot_reset_or_destroy(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    memset(&LOG, 0, sizeof LOG);
    LOG.pool = p;
    CHECK(region_pool_on_cleanup(p, busy_cleanup, NULL) == REGION_POOL_OK);
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    CHECK_EQ(LOG.busy_reset, REGION_POOL_ERR_BUSY);
    CHECK_EQ(LOG.busy_destroy, REGION_POOL_ERR_BUSY);
    CHECK_EQ(LOG.n, 1);
    CHECK(check_ok(p));
    LOG.busy_reset = LOG.busy_destroy = 0;
    CHECK(region_pool_on_cleanup(p, busy_cleanup, NULL) == REGION_POOL_OK);
    CHECK(destroy_ok(p, t));
    CHECK_EQ(LOG.busy_destroy, REGION_POOL_ERR_BUSY);
    CHECK_EQ(LOG.n, 2);
}

/* A cleanup that checks, when it runs, that the large block is still mapped. */
typedef struct order_probe {
    tracker_t *t;
    void *large;
    int large_mapped_when_run;
} order_probe_t;
static void probe_cleanup(void *data)
{
    order_probe_t *o = data;
    o->large_mapped_when_run = tr_find(o->t, o->large) != NULL;
}

static void reset_releases_large_and_rewinds(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    void *s[6], *L[3];
    for (int i = 0; i < 6; i++) s[i] = region_pool_palloc(p, 400); /* 3 blocks */
    for (int i = 0; i < 3; i++) L[i] = region_pool_palloc(p, 8000 + (size_t)i);
    CHECK(region_pool_free(p, L[1]) == REGION_POOL_OK);
    order_probe_t probe = {t, L[0], 0};
    CHECK(region_pool_on_cleanup(p, probe_cleanup, &probe) == REGION_POOL_OK);
    region_pool_stats_t before = stats(p);
    CHECK_EQU(before.blocks, 3);
    CHECK_EQU(before.large_blocks, 2);
    size_t nev = t->nev;
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    CHECK(probe.large_mapped_when_run); /* cleanups run before large blocks go */
    /* exactly two release+unmap pairs, each notification first */
    CHECK_EQU(t->nev, nev + 4);
    for (size_t i = nev; i < nev + 4; i += 2) {
        CHECK(t->ev[i].kind == 'r' && t->ev[i + 1].kind == 'u' && t->ev[i].base == t->ev[i + 1].base);
        CHECK(t->ev[i].base == L[0] || t->ev[i].base == L[2]);
    }
    region_pool_stats_t s2 = stats(p);
    CHECK_EQU(s2.blocks, 3);
    CHECK_EQU(s2.large_blocks, 0);
    CHECK_EQU(s2.reserved, 3 * 1024);
    CHECK_EQU(s2.used, 0);
    CHECK_EQU(s2.allocations, 0);
    CHECK_EQU(s2.available, 3 * 1024);
    CHECK_EQU(s2.peak_used, before.peak_used);
    CHECK(check_ok(p));
    /* blocks are reused from the lowest id, starting at their first byte */
    void *x = region_pool_palloc(p, 1000);
    void *y = region_pool_palloc(p, 1000);
    void *z = region_pool_palloc(p, 1000);
    CHECK(x == s[0] && y == s[2] && z == s[4]);
    CHECK_EQU(t->maps, 3 + 3);
    CHECK(destroy_ok(p, t));
}

static void notifications_in_order(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    CHECK_EQU(t->nev, 0); /* nothing mapped at create */
    void *a = region_pool_palloc(p, 10);
    CHECK_EQU(t->nev, 2);
    CHECK(t->ev[0].kind == 'm' && t->ev[0].bytes == 1024 && t->ev[0].align == 4096);
    CHECK(t->ev[1].kind == 'c' && t->ev[1].base == t->ev[0].base && t->ev[1].id == 0 && t->ev[1].base == a);
    void *L = region_pool_palloc(p, 5000);
    CHECK_EQU(t->nev, 4);
    CHECK(t->ev[2].kind == 'm' && t->ev[2].bytes == 5000 && t->ev[2].align == 4096);
    CHECK(t->ev[3].kind == 'c' && t->ev[3].id == 1 && t->ev[3].base == L);
    (void)region_pool_palloc(p, 1020); /* block 2 */
    CHECK_EQU(t->nev, 6);
    CHECK(t->ev[5].kind == 'c' && t->ev[5].id == 2);
    /* a freed small allocation releases nothing */
    CHECK(region_pool_free(p, a) == REGION_POOL_OK);
    CHECK_EQU(t->nev, 6);
    /* destroy: every chunk notified then unmapped */
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    CHECK(tracker_ok(t));
    CHECK_EQU(t->nev, 12);
    for (size_t i = 6; i < 12; i += 2) CHECK(t->ev[i].kind == 'r' && t->ev[i + 1].kind == 'u' && t->ev[i].base == t->ev[i + 1].base);
    CHECK_EQU(t->nmap, 0);
}

static void locate_round_trip(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    for (int i = 0; i < 200; i++) {
        region_pool_ref_t r, l;
        size_t size = (size_t)(i * 131) % 1500;
        CHECK(region_pool_alloc_ref(p, size, 0, i % 3 == 0 ? REGION_POOL_UNALIGNED : 0, &r) == REGION_POOL_OK);
        CHECK(region_pool_locate(p, r.ptr, &l) == REGION_POOL_OK);
        CHECK(l.chunk == r.chunk && l.offset == r.offset && l.gen == r.gen);
        region_pool_chunk_info_t ci;
        CHECK(region_pool_chunk_info(p, r.chunk, &ci) == REGION_POOL_OK);
        CHECK((unsigned char *)ci.base + r.offset == r.ptr);
        CHECK(r.offset + size <= ci.bytes);
        if (size > 0 && ci.kind == REGION_POOL_CHUNK_BLOCK) {
            CHECK(region_pool_locate(p, (unsigned char *)r.ptr + size - 1, &l) == REGION_POOL_OK);
            CHECK(l.chunk == r.chunk && l.offset == r.offset + size - 1);
        }
    }
    region_pool_ref_t l;
    int x;
    CHECK_EQ(region_pool_locate(p, &x, &l), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_locate(p, NULL, &l), REGION_POOL_ERR_FOREIGN);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* ---- kept large blocks (region_pool_keep_large) ----------------------------------------- */

/* Events of kind k logged since `from` (for base b only, unless b is NULL). */
static size_t events_since(const tracker_t *t, size_t from, char k, const void *b)
{
    size_t n = 0;
    for (size_t i = from; i < t->nev; i++) n += t->ev[i].kind == k && (!b || t->ev[i].base == b);
    return n;
}
/* The events logged since `from` are exactly: chunk bases[0] released then unmapped,
 * bases[1] released then unmapped, ... (n of them, in that order). */
static int released_exactly(const tracker_t *t, size_t from, void *const *bases, size_t n)
{
    HCHECKF(t->nev == from + 2 * n, "%zu events, want %zu (%zu chunks released and unmapped)", t->nev - from, 2 * n,
            n);
    for (size_t i = 0; i < n; i++) {
        const ev_t *r = &t->ev[from + 2 * i], *u = r + 1;
        HCHECKF(r->kind == 'r' && r->base == bases[i] && u->kind == 'u' && u->base == bases[i],
                "events %zu, %zu: %c %p, %c %p; want released and unmapped %p (#%zu of %zu)", from + 2 * i,
                from + 2 * i + 1, r->kind, r->base, u->kind, u->base, bases[i], i, n);
    }
    return 1;
}
#define RELEASED(t, from, ...)                                                                                         \
    released_exactly(t, from, (void *const[]){__VA_ARGS__}, sizeof((void *const[]){__VA_ARGS__}) / sizeof(void *))
/* How many chunks are kept, and their bytes (from the tracker's maps). 0 when a
 * kept id has no live mapping created under that id. */
static int kept_totals(const region_pool_t *p, const tracker_t *t, size_t *n, size_t *bytes)
{
    *n = *bytes = 0;
    for (uint32_t id = 0; id < region_pool_chunk_limit(p); id++) {
        if (!region_pool_chunk_kept(p, id)) continue;
        const mapping_t *m = NULL;
        for (size_t i = 0; i < t->nmap && !m; i++)
            if (t->map[i].created && !t->map[i].released && t->map[i].id == id) m = &t->map[i];
        HCHECKF(m, "kept chunk %u has no live mapping", id);
        region_pool_chunk_info_t ci;
        HCHECKF(region_pool_chunk_info(p, id, &ci) == REGION_POOL_ERR_INVALID, "chunk_info of kept chunk %u", id);
        ++*n;
        *bytes += m->bytes;
    }
    return 1;
}
/* The base of kept chunk id (from the tracker), or NULL. */
static void *kept_base(const region_pool_t *p, const tracker_t *t, uint32_t id)
{
    if (!region_pool_chunk_kept(p, id)) return NULL;
    for (size_t i = 0; i < t->nmap; i++)
        if (t->map[i].created && !t->map[i].released && t->map[i].id == id) return t->map[i].base;
    return NULL;
}
/* Whether a walk reports anything in chunk id; how many USED entries it reports. */
typedef struct walk_probe {
    uint32_t id;
    size_t seen, used;
} walk_probe_t;
static int probe_walk(const region_pool_block_info_t *b, void *user)
{
    walk_probe_t *w = user;
    w->seen += b->chunk == w->id;
    w->used += b->state == REGION_POOL_BLOCK_USED;
    return 0;
}
static size_t count_kept(const region_pool_t *p)
{
    size_t n = 0;
    for (uint32_t id = 0; id < region_pool_chunk_limit(p); id++) n += region_pool_chunk_kept(p, id) != 0;
    return n;
}

/* Without region_pool_keep_large (or after keep_large(p, 0)) a released large
 * block is notified and unmapped at once, as always. */
static void keep_off_releases_large_at_once(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    CHECK_EQ(region_pool_keep_large(NULL, 4), REGION_POOL_ERR_INVALID);
    CHECK_EQ(region_pool_chunk_kept(NULL, 0), 0);
    CHECK_EQ(region_pool_chunk_kept(p, 0), 0); /* no chunk yet */
    region_pool_ref_t s, L, L2, M;
    CHECK(region_pool_alloc_ref(p, 100, 0, 0, &s) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 5000, 0, 0, &L) == REGION_POOL_OK);
    size_t nev = t->nev;
    CHECK(region_pool_free_at(p, L.chunk, 0, L.gen) == REGION_POOL_OK);
    CHECK_EQU(t->nev, nev + 2);
    CHECK(t->ev[nev].kind == 'r' && t->ev[nev].base == L.ptr && t->ev[nev + 1].kind == 'u');
    CHECK(!region_pool_chunk_kept(p, L.chunk) && !region_pool_chunk_kept(p, s.chunk));
    CHECK(!region_pool_chunk_kept(p, 99) && !region_pool_chunk_kept(p, REGION_POOL_NO_CHUNK));
    CHECK_EQU(stats(p).reserved, 1024);
    CHECK_EQ(region_pool_free(p, L.ptr), REGION_POOL_ERR_FOREIGN); /* unmapped */
    /* the same request maps a new chunk (the id is reused, a new generation) */
    size_t maps = t->maps;
    CHECK(region_pool_alloc_ref(p, 5000, 0, 0, &L2) == REGION_POOL_OK);
    CHECK_EQU(t->maps, maps + 1);
    CHECK(L2.chunk == L.chunk && L2.gen != L.gen);
    /* on, then off again: nothing kept */
    CHECK(region_pool_keep_large(p, 4) == REGION_POOL_OK);
    CHECK(region_pool_keep_large(p, 0) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 9000, 0, 0, &M) == REGION_POOL_OK);
    nev = t->nev;
    CHECK(region_pool_free(p, L2.ptr) == REGION_POOL_OK);
    CHECK_EQU(events_since(t, nev, 'r', L2.ptr) + events_since(t, nev, 'u', L2.ptr), 2);
    CHECK(!region_pool_chunk_kept(p, L2.chunk));
    /* reset releases every large block */
    nev = t->nev;
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    CHECK_EQU(t->nev, nev + 2);
    CHECK(t->ev[nev].kind == 'r' && t->ev[nev].base == M.ptr && t->ev[nev + 1].kind == 'u');
    CHECK_EQU(count_kept(p), 0);
    CHECK_EQU(stats(p).reserved, 1024);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* keep_large on: a freed large block stays mapped, registered and counted in
 * reserved, but is no allocation (refused by handle and by pointer, skipped by
 * chunk_info and walk); the next large request of its bytes and alignment gets
 * it back under a new generation, without a map or a notification. */
static void kept_large_block_comes_back(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    CHECK(region_pool_keep_large(p, 4) == REGION_POOL_OK);
    region_pool_ref_t s, L, L2, n;
    CHECK(region_pool_alloc_ref(p, 100, 0, 0, &s) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 5000, 0, 0, &L) == REGION_POOL_OK);
    memset(L.ptr, 0xAB, 5000);
    region_pool_stats_t before = stats(p);
    size_t nev = t->nev, maps = t->maps;
    CHECK(region_pool_free_at(p, L.chunk, 0, L.gen) == REGION_POOL_OK);
    CHECK_EQU(t->nev, nev); /* no released notification, no unmap */
    CHECK(region_pool_chunk_kept(p, L.chunk));
    CHECK(!region_pool_chunk_kept(p, s.chunk));
    region_pool_stats_t a = stats(p);
    CHECK_EQU(a.reserved, before.reserved);
    CHECK_EQU(a.allocations, before.allocations - 1);
    CHECK_EQU(a.used, before.used - 5000);
    CHECK_EQU(a.large_blocks, 0);
    CHECK_EQU(a.large_bytes, 0);
    CHECK_EQU(a.blocks, before.blocks);
    CHECK_EQU(a.reserved, a.blocks * 1024 + a.large_bytes + 5000);
    CHECK(check_ok(p));
    size_t kn, kb;
    CHECK(kept_totals(p, t, &kn, &kb) && kn == 1 && kb == 5000);
    region_pool_chunk_info_t ci;
    CHECK_EQ(region_pool_chunk_info(p, L.chunk, &ci), REGION_POOL_ERR_INVALID);
    walk_probe_t w = {L.chunk, 0, 0};
    CHECK(region_pool_walk(p, probe_walk, &w) == REGION_POOL_OK);
    CHECK_EQU(w.seen, 0);
    CHECK_EQU(w.used, 1); /* the small one */
    CHECK_EQU(region_pool_chunk_limit(p), 2);
    /* every handle and pointer of it is refused, changing nothing */
    void *np = NULL;
    size_t sz;
    CHECK_EQ(region_pool_free_at(p, L.chunk, 0, L.gen), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_state_at(p, L.chunk, 0, L.gen, &sz), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_realloc_at(p, L.chunk, 0, L.gen, 10, &n), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_realloc_at(p, L.chunk, 0, L.gen, 50000, &n), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_free(p, L.ptr), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_realloc(p, L.ptr, 10, &np), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_free_at(p, L.chunk, 8, L.gen), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free_at(p, L.chunk, 4096, L.gen), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free(p, (unsigned char *)L.ptr + 8), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free(p, (unsigned char *)L.ptr + 4096), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free_at(p, L.chunk, 0, s.gen), REGION_POOL_ERR_DOUBLE_FREE); /* another generation */
    CHECK_EQ(region_pool_free_at(p, L.chunk, 0, L.gen + 1000), REGION_POOL_ERR_FOREIGN); /* never handed out */
    CHECK(np == NULL);
    region_pool_stats_t b = stats(p);
    CHECK(same_stats(&a, &b));
    CHECK_EQU(t->nev, nev);
    CHECK(check_ok(p));
    /* the same request: the same id and memory under a new generation, no map, no notification */
    CHECK(region_pool_alloc_ref(p, 5000, 0, 0, &L2) == REGION_POOL_OK);
    CHECK(L2.chunk == L.chunk && L2.ptr == L.ptr && L2.offset == 0 && L2.size == 5000);
    CHECK(L2.gen > L.gen);
    CHECK_EQU(t->nev, nev);
    CHECK_EQU(t->maps, maps);
    CHECK(!region_pool_chunk_kept(p, L.chunk));
    CHECK(region_pool_chunk_info(p, L2.chunk, &ci) == REGION_POOL_OK);
    CHECK(ci.kind == REGION_POOL_CHUNK_LARGE && ci.base == L.ptr && ci.bytes == 5000 && ci.gen == L2.gen &&
          ci.live == 1 && ci.used == 5000);
    b = stats(p);
    CHECK_EQU(b.allocations, before.allocations);
    CHECK_EQU(b.used, before.used);
    CHECK_EQU(b.large_blocks, 1);
    CHECK_EQU(b.large_bytes, 5000);
    CHECK_EQU(b.reserved, before.reserved);
    CHECK_EQ(region_pool_free_at(p, L.chunk, 0, L.gen), REGION_POOL_ERR_DOUBLE_FREE); /* the old one stays freed */
    CHECK_EQ(region_pool_state_at(p, L2.chunk, 0, L2.gen, &sz), REGION_POOL_OK);
    CHECK_EQU(sz, 5000);
    region_pool_ref_t l;
    CHECK(region_pool_locate(p, L.ptr, &l) == REGION_POOL_OK && l.chunk == L2.chunk && l.gen == L2.gen);
    w = (walk_probe_t){L.chunk, 0, 0};
    CHECK(region_pool_walk(p, probe_walk, &w) == REGION_POOL_OK && w.seen == 1 && w.used == 2);
    CHECK(check_ok(p));
    /* nothing kept now: the pointer API's next one of that size is a fresh chunk */
    void *P = region_pool_palloc(p, 5000);
    CHECK(P && P != L.ptr);
    CHECK_EQU(t->maps, maps + 1);
    CHECK(t->ev[t->nev - 1].kind == 'c' && t->ev[t->nev - 1].base == P);

    /* other sizes get fresh chunks; the kept one waits for its own */
    CHECK(region_pool_free_at(p, L2.chunk, 0, L2.gen) == REGION_POOL_OK);
    CHECK(region_pool_chunk_kept(p, L.chunk));
    nev = t->nev;
    region_pool_ref_t A, B;
    CHECK(region_pool_alloc_ref(p, 5001, 0, 0, &A) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 4999, 0, REGION_POOL_ZERO, &B) == REGION_POOL_OK);
    CHECK(A.chunk != L.chunk && B.chunk != L.chunk && A.ptr != L.ptr && B.ptr != L.ptr);
    CHECK_EQU(events_since(t, nev, 'm', NULL), 2);
    CHECK_EQU(events_since(t, nev, 'c', NULL), 2);
    CHECK(region_pool_chunk_kept(p, L.chunk));
    /* a memalign needing more alignment than the kept base has: a fresh chunk so aligned */
    size_t low = (size_t)((uintptr_t)L.ptr & (0 - (uintptr_t)L.ptr)); /* the base's alignment */
    CHECK(low >= 4096);
    size_t more = low * 2;
    nev = t->nev;
    void *M = region_pool_memalign(p, more, 5000);
    CHECK(M && M != L.ptr && (uintptr_t)M % more == 0);
    CHECK_EQU(events_since(t, nev, 'c', M), 1);
    CHECK(region_pool_chunk_kept(p, L.chunk));
    /* a memalign the base satisfies takes it (any alignment up to the page) */
    nev = t->nev;
    void *m16 = region_pool_memalign(p, 16, 5000);
    CHECK(m16 == L.ptr);
    CHECK_EQU(t->nev, nev);
    CHECK(!region_pool_chunk_kept(p, L.chunk));
    CHECK(region_pool_free(p, m16) == REGION_POOL_OK);
    void *mlow = region_pool_memalign(p, low, 5000);
    CHECK(mlow == L.ptr);
    CHECK_EQU(t->nev, nev);
    /* newest first: both kept chunks fit a plain request, the memalign's (newer) serves it */
    CHECK(region_pool_free(p, mlow) == REGION_POOL_OK);
    CHECK(region_pool_free(p, M) == REGION_POOL_OK);
    CHECK_EQU(count_kept(p), 2);
    void *x = region_pool_palloc(p, 5000);
    CHECK(x == M);
    void *y = region_pool_palloc(p, 5000);
    CHECK(y == L.ptr);
    CHECK_EQU(t->nev, nev);
    CHECK_EQU(count_kept(p), 0);
    CHECK(check_ok(p));
    /* calloc from a kept chunk is zeroed, by pointer and by handle */
    memset(y, 0xCD, 5000);
    CHECK(region_pool_free(p, y) == REGION_POOL_OK);
    unsigned char *z = region_pool_calloc(p, 1, 5000);
    CHECK(z == L.ptr);
    for (size_t i = 0; i < 5000; i++) CHECK(z[i] == 0);
    memset(z, 0xEF, 5000);
    CHECK(region_pool_free(p, z) == REGION_POOL_OK);
    region_pool_ref_t C;
    CHECK(region_pool_calloc_ref(p, 1000, 5, &C) == REGION_POOL_OK);
    CHECK(C.ptr == L.ptr && C.chunk == L.chunk);
    for (size_t i = 0; i < 5000; i++) CHECK(((unsigned char *)C.ptr)[i] == 0);
    CHECK_EQU(t->nev, nev);
    /* the provider is not asked at all: a refusing provider does not matter */
    CHECK(region_pool_free_at(p, C.chunk, 0, C.gen) == REGION_POOL_OK);
    t->fail_in = 1;
    CHECK(region_pool_palloc(p, 5000) == L.ptr);
    CHECK(region_pool_palloc(p, 5000) == NULL); /* that one has to map, and the provider refuses */
    t->fail_in = 0;
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* At most REGION_POOL_KEEP_MAX blocks (a larger count is clamped) and
 * REGION_POOL_KEEP_MAX_BYTES in all are kept, oldest first: a released block
 * kept when either limit is reached releases the oldest kept ones (released
 * then unmapped, oldest first) until it has room, and is kept as the newest. A
 * block larger than the byte limit on its own is never kept and releases
 * nothing. keep_large(p, 0) keeps nothing new and releases nothing (the kept
 * ones still serve); a count lowered below the kept ones changes nothing until
 * the next block is kept, which releases the oldest down to room for it. */
static void kept_large_blocks_within_limits(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    CHECK(region_pool_keep_large(p, 4) == REGION_POOL_OK);
    region_pool_ref_t r[6], n[6];
    for (int i = 0; i < 6; i++) CHECK(region_pool_alloc_ref(p, 5000, 0, 0, &r[i]) == REGION_POOL_OK);
    size_t nev = t->nev;
    for (int i = 0; i < 4; i++) CHECK(region_pool_free_at(p, r[i].chunk, 0, r[i].gen) == REGION_POOL_OK);
    CHECK(released_exactly(t, nev, NULL, 0)); /* four kept, nothing released */
    CHECK_EQU(count_kept(p), 4);
    /* the 5th and the 6th are kept as the newest, each releasing the oldest kept one */
    CHECK(region_pool_free_at(p, r[4].chunk, 0, r[4].gen) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, r[0].ptr));
    CHECK_EQ(t->ev[nev].id, r[0].chunk);
    CHECK(!region_pool_chunk_kept(p, r[0].chunk) && region_pool_chunk_kept(p, r[4].chunk));
    nev = t->nev;
    CHECK(region_pool_free_at(p, r[5].chunk, 0, r[5].gen) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, r[1].ptr));
    for (int i = 0; i < 6; i++) CHECK_EQ(region_pool_chunk_kept(p, r[i].chunk), i >= 2);
    CHECK_EQ(region_pool_free(p, r[0].ptr), REGION_POOL_ERR_FOREIGN);     /* released: unmapped */
    CHECK_EQ(region_pool_free(p, r[2].ptr), REGION_POOL_ERR_DOUBLE_FREE); /* kept */
    CHECK_EQU(stats(p).reserved, 4 * 5000);
    CHECK_EQU(stats(p).allocations, 0);
    CHECK(check_ok(p));
    /* six requests: the four kept come back newest first, two are mapped */
    nev = t->nev;
    for (int i = 0; i < 6; i++) CHECK(region_pool_alloc_ref(p, 5000, 0, 0, &n[i]) == REGION_POOL_OK);
    for (int i = 0; i < 4; i++)
        CHECKF(n[i].chunk == r[5 - i].chunk && n[i].ptr == r[5 - i].ptr && n[i].gen > r[5 - i].gen,
               "request %d got chunk %u, want r[%d]'s %u", i, n[i].chunk, 5 - i, r[5 - i].chunk);
    CHECK_EQU(t->nev, nev + 4);
    CHECK_EQU(events_since(t, nev, 'm', NULL), 2);
    CHECK_EQU(events_since(t, nev, 'c', NULL), 2);
    CHECK_EQU(count_kept(p), 0);
    /* freed in order: n[0..3] kept, then n[4] and n[5] release n[0] and n[1] (the oldest) */
    nev = t->nev;
    for (int i = 0; i < 6; i++) CHECK(region_pool_free_at(p, n[i].chunk, 0, n[i].gen) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, n[0].ptr, n[1].ptr));
    for (int i = 0; i < 6; i++) CHECK_EQ(region_pool_chunk_kept(p, n[i].chunk), i >= 2);
    CHECK(check_ok(p));

    /* keep_large(p, 0): nothing new is kept, nothing kept is released; the kept ones still serve */
    CHECK(region_pool_keep_large(p, 0) == REGION_POOL_OK);
    region_pool_ref_t o;
    CHECK(region_pool_alloc_ref(p, 7000, 0, 0, &o) == REGION_POOL_OK);
    nev = t->nev;
    CHECK(region_pool_free_at(p, o.chunk, 0, o.gen) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, o.ptr));
    CHECK_EQU(count_kept(p), 4);
    nev = t->nev;
    region_pool_ref_t k;
    CHECK(region_pool_alloc_ref(p, 5000, 0, 0, &k) == REGION_POOL_OK);
    CHECK(k.chunk == n[5].chunk && k.ptr == n[5].ptr); /* the newest */
    CHECK_EQU(t->nev, nev);
    CHECK_EQU(count_kept(p), 3);
    CHECK(region_pool_free_at(p, k.chunk, 0, k.gen) == REGION_POOL_OK); /* not kept again */
    CHECK(RELEASED(t, nev, k.ptr));
    CHECK_EQU(count_kept(p), 3);
    for (int i = 2; i < 5; i++) CHECK(region_pool_chunk_kept(p, n[i].chunk));
    /* lowered to 2 with 3 kept: nothing until a block is kept, which releases the two
     * oldest (room for itself under 2); the next releases the one left */
    CHECK(region_pool_keep_large(p, 2) == REGION_POOL_OK);
    CHECK_EQU(count_kept(p), 3);
    region_pool_ref_t q[3];
    for (int i = 0; i < 3; i++) CHECK(region_pool_alloc_ref(p, 6000, 0, 0, &q[i]) == REGION_POOL_OK);
    CHECK_EQU(count_kept(p), 3); /* no kept block fits 6000 */
    nev = t->nev;
    CHECK(region_pool_free_at(p, q[0].chunk, 0, q[0].gen) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, n[2].ptr, n[3].ptr));
    CHECK(region_pool_chunk_kept(p, n[4].chunk) && region_pool_chunk_kept(p, q[0].chunk));
    CHECK_EQU(count_kept(p), 2);
    nev = t->nev;
    CHECK(region_pool_free_at(p, q[1].chunk, 0, q[1].gen) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, n[4].ptr));
    CHECK(region_pool_chunk_kept(p, q[0].chunk) && region_pool_chunk_kept(p, q[1].chunk));
    /* lowered to 1: the next one kept releases both */
    CHECK(region_pool_keep_large(p, 1) == REGION_POOL_OK);
    nev = t->nev;
    CHECK(region_pool_free_at(p, q[2].chunk, 0, q[2].gen) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, q[0].ptr, q[1].ptr));
    CHECK(region_pool_chunk_kept(p, q[2].chunk));
    CHECK_EQU(count_kept(p), 1);
    CHECK_EQU(stats(p).reserved, 6000);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));

    /* a count above REGION_POOL_KEEP_MAX is clamped to it: the newest four stay */
    for (unsigned want = 5; want <= 1000; want += 995) {
        t = new_tracker();
        p = new_pool_with(t, 1024, 4096);
        CHECK(region_pool_keep_large(p, want) == REGION_POOL_OK);
        for (int i = 0; i < 6; i++) CHECK(region_pool_alloc_ref(p, 6000, 0, 0, &r[i]) == REGION_POOL_OK);
        nev = t->nev;
        for (int i = 0; i < 6; i++) CHECK(region_pool_free_at(p, r[i].chunk, 0, r[i].gen) == REGION_POOL_OK);
        CHECK(RELEASED(t, nev, r[0].ptr, r[1].ptr));
        for (int i = 0; i < 6; i++) CHECK_EQ(region_pool_chunk_kept(p, r[i].chunk), i >= 2);
        CHECK_EQU(count_kept(p), REGION_POOL_KEEP_MAX);
        CHECK_EQU(t->nmap, REGION_POOL_KEEP_MAX);
        CHECK(destroy_ok(p, t));
    }

    /* bytes (REGION_POOL_KEEP_MAX_BYTES = 262,144), under the count: a block whose bytes do
     * not fit with the kept ones' releases as many of the oldest as it needs */
    t = new_tracker();
    p = new_pool_with(t, 1024, 4096);
    CHECK(region_pool_keep_large(p, 4) == REGION_POOL_OK);
    const size_t max = REGION_POOL_KEEP_MAX_BYTES;
    region_pool_ref_t A[3], D, E, E2, huge, whole, S;
    size_t kn, kb;
    for (int i = 0; i < 3; i++) CHECK(region_pool_alloc_ref(p, 50000, 0, 0, &A[i]) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 200000, 0, 0, &D) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, max - 250000, 0, 0, &E) == REGION_POOL_OK);      /* 12,144 */
    CHECK(region_pool_alloc_ref(p, max - 250000 + 1, 0, 0, &E2) == REGION_POOL_OK); /* 12,145 */
    nev = t->nev;
    for (int i = 0; i < 3; i++) CHECK(region_pool_free_at(p, A[i].chunk, 0, A[i].gen) == REGION_POOL_OK);
    CHECK(released_exactly(t, nev, NULL, 0));
    CHECK(kept_totals(p, t, &kn, &kb) && kn == 3 && kb == 150000);
    /* 200,000 more: A[0] and A[1] go (150,000 + 200,000 and 100,000 + 200,000 do not fit) */
    CHECK(region_pool_free_at(p, D.chunk, 0, D.gen) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, A[0].ptr, A[1].ptr));
    CHECK(region_pool_chunk_kept(p, A[2].chunk) && region_pool_chunk_kept(p, D.chunk));
    CHECK(kept_totals(p, t, &kn, &kb) && kn == 2 && kb == 250000);
    /* exactly the room left (12,144): kept, nothing released, the limit reached exactly */
    nev = t->nev;
    CHECK(region_pool_free_at(p, E.chunk, 0, E.gen) == REGION_POOL_OK);
    CHECK(released_exactly(t, nev, NULL, 0));
    CHECK(kept_totals(p, t, &kn, &kb) && kn == 3 && kb == max);
    CHECK(check_ok(p));
    /* taken back, then one byte more than the room: the oldest (A[2]) goes */
    region_pool_ref_t E1;
    CHECK(region_pool_alloc_ref(p, max - 250000, 0, 0, &E1) == REGION_POOL_OK && E1.ptr == E.ptr);
    CHECK_EQU(t->nev, nev);
    CHECK(region_pool_free_at(p, E2.chunk, 0, E2.gen) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, A[2].ptr));
    CHECK(kept_totals(p, t, &kn, &kb) && kn == 2 && kb == 200000 + max - 250000 + 1);
    nev = t->nev;
    CHECK(region_pool_free_at(p, E1.chunk, 0, E1.gen) == REGION_POOL_OK); /* fits: kept too */
    CHECK(released_exactly(t, nev, NULL, 0));
    CHECK(kept_totals(p, t, &kn, &kb) && kn == 3 && kb == 200000 + 2 * (max - 250000) + 1);
    /* a block above the byte limit is never kept and releases nothing */
    CHECK(region_pool_alloc_ref(p, max + 1, 0, 0, &huge) == REGION_POOL_OK);
    nev = t->nev;
    CHECK(region_pool_free_at(p, huge.chunk, 0, huge.gen) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, huge.ptr));
    CHECK(kept_totals(p, t, &kn, &kb) && kn == 3 && kb == 200000 + 2 * (max - 250000) + 1);
    /* one of exactly the limit is kept alone: every kept one goes, oldest first */
    CHECK(region_pool_alloc_ref(p, max, 0, 0, &whole) == REGION_POOL_OK);
    nev = t->nev;
    CHECK(region_pool_free_at(p, whole.chunk, 0, whole.gen) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, D.ptr, E2.ptr, E.ptr));
    CHECK(region_pool_chunk_kept(p, whole.chunk));
    CHECK(kept_totals(p, t, &kn, &kb) && kn == 1 && kb == max);
    /* then any other releases it (no byte left) */
    CHECK(region_pool_alloc_ref(p, 2000, 0, 0, &S) == REGION_POOL_OK);
    nev = t->nev;
    CHECK(region_pool_free_at(p, S.chunk, 0, S.gen) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, whole.ptr));
    CHECK(region_pool_chunk_kept(p, S.chunk));
    CHECK(kept_totals(p, t, &kn, &kb) && kn == 1 && kb == 2000);
    CHECK_EQU(stats(p).reserved, 2000);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* A large request takes the newest kept block that fits it (its bytes, its
 * alignment), passing over newer ones that do not; taking one from anywhere in
 * the list keeps the others' order, so the oldest is still released first. */
static void kept_large_blocks_taken_newest_first(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    CHECK(region_pool_keep_large(p, 4) == REGION_POOL_OK);
    region_pool_ref_t a, b, c, d, x, y;
    CHECK(region_pool_alloc_ref(p, 5000, 0, 0, &a) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 6000, 0, 0, &b) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 5000, 0, 0, &c) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 6000, 0, 0, &d) == REGION_POOL_OK);
    CHECK(region_pool_free_at(p, a.chunk, 0, a.gen) == REGION_POOL_OK);
    CHECK(region_pool_free_at(p, b.chunk, 0, b.gen) == REGION_POOL_OK);
    CHECK(region_pool_free_at(p, c.chunk, 0, c.gen) == REGION_POOL_OK);
    CHECK(region_pool_free_at(p, d.chunk, 0, d.gen) == REGION_POOL_OK);
    CHECK_EQU(count_kept(p), 4); /* a b c d, oldest first */
    size_t nev = t->nev;
    void *got[4];
    got[0] = region_pool_palloc(p, 5000); /* c: d is newer but 6000 */
    got[1] = region_pool_palloc(p, 5000); /* a */
    got[2] = region_pool_palloc(p, 6000); /* d */
    CHECK(got[0] == c.ptr && got[1] == a.ptr && got[2] == d.ptr);
    CHECK_EQU(t->nev, nev);
    CHECK_EQU(count_kept(p), 1); /* b */
    CHECK(region_pool_free(p, got[1]) == REGION_POOL_OK);
    CHECK(region_pool_free(p, got[0]) == REGION_POOL_OK);
    CHECK(region_pool_free(p, got[2]) == REGION_POOL_OK);
    CHECK_EQU(count_kept(p), 4); /* b a c d */
    /* the newest 6000 (d), then the oldest kept block (b, at the head of the list) */
    CHECK(region_pool_palloc(p, 6000) == d.ptr);
    got[3] = region_pool_palloc(p, 6000);
    CHECK(got[3] == b.ptr);
    CHECK_EQU(t->nev, nev);
    CHECK_EQU(count_kept(p), 2); /* a c: still oldest first */
    /* under a count of 2 the next kept block releases a (the oldest), not c */
    CHECK(region_pool_keep_large(p, 2) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 7000, 0, 0, &x) == REGION_POOL_OK);
    nev = t->nev;
    CHECK(region_pool_free_at(p, x.chunk, 0, x.gen) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, a.ptr));
    CHECK(region_pool_chunk_kept(p, c.chunk) && region_pool_chunk_kept(p, x.chunk));
    /* c x: freeing b's block now releases c */
    nev = t->nev;
    CHECK(region_pool_free(p, got[3]) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, c.ptr));
    CHECK(region_pool_chunk_kept(p, x.chunk) && region_pool_chunk_kept(p, b.chunk));
    CHECK(check_ok(p));

    /* alignment: a 64 KiB memalign takes the newest kept block of its bytes whose base is so aligned */
    CHECK(region_pool_keep_large(p, 4) == REGION_POOL_OK);
    void *m = region_pool_memalign(p, 65536, 9000), *plain = region_pool_palloc(p, 9000);
    CHECK(m && plain && (uintptr_t)m % 65536 == 0);
    CHECK(region_pool_free(p, m) == REGION_POOL_OK);
    CHECK(region_pool_free(p, plain) == REGION_POOL_OK); /* x b m plain */
    nev = t->nev;
    void *m2 = region_pool_memalign(p, 65536, 9000);
    CHECK(m2 == ((uintptr_t)plain % 65536 == 0 ? plain : m));
    CHECK(region_pool_palloc(p, 9000) == (m2 == m ? plain : m)); /* the other one */
    CHECK_EQU(t->nev, nev);
    /* a plain request takes the newest of its bytes whatever its alignment */
    CHECK(region_pool_alloc_ref(p, 9000, 0, 0, &y) == REGION_POOL_OK);
    CHECK(region_pool_free(p, m2) == REGION_POOL_OK);
    CHECK(region_pool_free_at(p, y.chunk, 0, y.gen) == REGION_POOL_OK); /* b m2 y */
    CHECK(region_pool_palloc(p, 9000) == y.ptr && region_pool_palloc(p, 9000) == m2);
    CHECK_EQU(count_kept(p), 2); /* x b */
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* reset releases the large blocks lowest id first, each one kept as the newest
 * (the oldest kept ones making room) or released, and makes every handle from
 * before stale; a moving realloc keeps the block it leaves (after the new one
 * was taken), with the same eviction. */
static void reset_and_realloc_keep_large_blocks(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    CHECK(region_pool_keep_large(p, 2) == REGION_POOL_OK);
    region_pool_ref_t s, L[3], n;
    CHECK(region_pool_alloc_ref(p, 100, 0, 0, &s) == REGION_POOL_OK);
    for (int i = 0; i < 3; i++) CHECK(region_pool_alloc_ref(p, 6000 + 1000 * (size_t)i, 0, 0, &L[i]) == REGION_POOL_OK);
    for (int i = 0; i < 3; i++) CHECK_EQ(L[i].chunk, i + 1);
    size_t nev = t->nev;
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    /* L0 and L1 kept, then L2 kept as the newest, releasing L0 (the oldest) */
    CHECK(RELEASED(t, nev, L[0].ptr));
    CHECK_EQ(t->ev[nev].id, L[0].chunk);
    CHECK(!region_pool_chunk_kept(p, L[0].chunk));
    CHECK(region_pool_chunk_kept(p, L[1].chunk) && region_pool_chunk_kept(p, L[2].chunk));
    region_pool_stats_t st = stats(p);
    CHECK_EQU(st.allocations, 0);
    CHECK_EQU(st.used, 0);
    CHECK_EQU(st.large_blocks, 0);
    CHECK_EQU(st.reserved, 1024 + 7000 + 8000);
    CHECK(check_ok(p));
    /* handles and pointers from before the reset: stale (the kept ones too) */
    CHECK_EQ(region_pool_free_at(p, L[0].chunk, 0, L[0].gen), REGION_POOL_ERR_STALE);
    CHECK_EQ(region_pool_state_at(p, L[1].chunk, 0, L[1].gen, NULL), REGION_POOL_ERR_STALE);
    CHECK_EQ(region_pool_realloc_at(p, L[1].chunk, 0, L[1].gen, 10, &n), REGION_POOL_ERR_STALE);
    CHECK_EQ(region_pool_free_at(p, L[2].chunk, 0, L[2].gen), REGION_POOL_ERR_STALE);
    CHECK_EQ(region_pool_free_at(p, s.chunk, s.offset, s.gen), REGION_POOL_ERR_STALE);
    CHECK_EQ(region_pool_free(p, L[1].ptr), REGION_POOL_ERR_STALE); /* still registered, its generation is old */
    CHECK_EQ(region_pool_free(p, L[2].ptr), REGION_POOL_ERR_STALE);
    CHECK_EQ(region_pool_free(p, L[0].ptr), REGION_POOL_ERR_FOREIGN); /* released: unmapped */
    CHECK_EQ(region_pool_free(p, (unsigned char *)L[1].ptr + 16), REGION_POOL_ERR_FOREIGN);
    CHECK_EQU(stats(p).allocations, 0);
    CHECK(check_ok(p));
    /* they come back by size, under generations of after the reset */
    region_pool_ref_t K1, K2;
    nev = t->nev;
    CHECK(region_pool_alloc_ref(p, 7000, 0, 0, &K1) == REGION_POOL_OK);
    CHECK(K1.chunk == L[1].chunk && K1.ptr == L[1].ptr && K1.gen > L[1].gen);
    CHECK(region_pool_alloc_ref(p, 8000, 0, 0, &K2) == REGION_POOL_OK);
    CHECK(K2.chunk == L[2].chunk && K2.ptr == L[2].ptr);
    CHECK_EQU(t->nev, nev);
    CHECK_EQU(count_kept(p), 0);
    CHECK_EQ(region_pool_free_at(p, L[1].chunk, 0, L[1].gen), REGION_POOL_ERR_STALE);
    CHECK_EQ(region_pool_state_at(p, K1.chunk, 0, K1.gen, NULL), REGION_POOL_OK);
    /* freed after the reset: a double free now, by handle and by pointer */
    CHECK(region_pool_free_at(p, K1.chunk, 0, K1.gen) == REGION_POOL_OK);
    CHECK_EQ(region_pool_free_at(p, K1.chunk, 0, K1.gen), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_free(p, K1.ptr), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_free_at(p, L[1].chunk, 0, L[1].gen), REGION_POOL_ERR_STALE);
    CHECK(check_ok(p));
    /* a second reset: K2 kept after K1, nothing released (2 now) */
    nev = t->nev;
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    CHECK(released_exactly(t, nev, NULL, 0));
    CHECK_EQU(count_kept(p), 2);
    CHECK_EQ(region_pool_free(p, K1.ptr), REGION_POOL_ERR_STALE);
    CHECK(check_ok(p));
    /* a reset with more large blocks than room: each released in id order is kept as the
     * newest, so the two of the highest ids stay */
    region_pool_ref_t M[3];
    for (int i = 0; i < 3; i++) CHECK(region_pool_alloc_ref(p, 20000 + (size_t)i, 0, 0, &M[i]) == REGION_POOL_OK);
    CHECK(M[0].chunk < M[1].chunk && M[1].chunk < M[2].chunk); /* ids 1 (L0's, reused), 4, 5 */
    nev = t->nev;
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    CHECK(RELEASED(t, nev, K1.ptr, K2.ptr, M[0].ptr));
    CHECK(region_pool_chunk_kept(p, M[1].chunk) && region_pool_chunk_kept(p, M[2].chunk));
    CHECK_EQU(count_kept(p), 2);
    CHECK(check_ok(p));

    /* a moving realloc keeps the chunk it leaves */
    CHECK(region_pool_keep_large(p, 4) == REGION_POOL_OK);
    region_pool_ref_t R, N;
    CHECK(region_pool_alloc_ref(p, 5000, 0, 0, &R) == REGION_POOL_OK);
    for (size_t i = 0; i < 5000; i++) ((unsigned char *)R.ptr)[i] = (unsigned char)(i * 7);
    nev = t->nev;
    CHECK(region_pool_realloc_at(p, R.chunk, 0, R.gen, 9000, &N) == REGION_POOL_OK);
    CHECK(N.chunk != R.chunk && N.ptr != R.ptr);
    for (size_t i = 0; i < 5000; i++) CHECK(((unsigned char *)N.ptr)[i] == (unsigned char)(i * 7));
    CHECK_EQU(t->nev, nev + 2); /* the new chunk's map and created; nothing released */
    CHECK(t->ev[nev].kind == 'm' && t->ev[nev + 1].kind == 'c' && t->ev[nev + 1].base == N.ptr);
    CHECK(region_pool_chunk_kept(p, R.chunk));
    CHECK_EQ(region_pool_free_at(p, R.chunk, 0, R.gen), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_free(p, R.ptr), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQU(stats(p).large_blocks, 1);
    CHECK_EQU(count_kept(p), 3); /* M1 M2 R */
    CHECK(check_ok(p));
    /* a small allocation grown to that size moves into the kept chunk */
    region_pool_ref_t q, Q;
    CHECK(region_pool_alloc_ref(p, 200, 0, 0, &q) == REGION_POOL_OK);
    memset(q.ptr, 0x3C, 200);
    nev = t->nev;
    CHECK(region_pool_realloc_at(p, q.chunk, q.offset, q.gen, 5000, &Q) == REGION_POOL_OK);
    CHECK(Q.chunk == R.chunk && Q.ptr == R.ptr && Q.gen > R.gen);
    for (size_t i = 0; i < 200; i++) CHECK(((unsigned char *)Q.ptr)[i] == 0x3C);
    CHECK_EQU(t->nev, nev);
    CHECK(!region_pool_chunk_kept(p, R.chunk));
    /* by pointer: growing N moves it, N's chunk is kept (M1 M2 N) */
    void *g = NULL;
    CHECK(region_pool_realloc(p, N.ptr, 20000, &g) == REGION_POOL_OK && g != N.ptr);
    CHECK(region_pool_chunk_kept(p, N.chunk));
    CHECK_EQ(region_pool_free(p, N.ptr), REGION_POOL_ERR_DOUBLE_FREE);
    /* memalign's alignment survives a move out of (and back into) kept chunks */
    void *m = region_pool_memalign(p, 65536, 3000), *m2 = NULL;
    CHECK(m && (uintptr_t)m % 65536 == 0);
    uint32_t mid = ref_of(p, m).chunk;
    CHECK(region_pool_realloc(p, m, 9000, &m2) == REGION_POOL_OK); /* N's kept chunk only if 64 KiB-aligned */
    CHECK((uintptr_t)m2 % 65536 == 0);
    int took_n = m2 == N.ptr;
    CHECK_EQ(took_n, (uintptr_t)N.ptr % 65536 == 0);
    CHECK(region_pool_chunk_kept(p, mid));
    CHECK_EQU(count_kept(p), took_n ? 3 : 4); /* M1 M2 (N) m */
    /* take M1's and M2's chunks back */
    CHECK(region_pool_palloc(p, 20001) == M[1].ptr && region_pool_palloc(p, 20002) == M[2].ptr);
    CHECK_EQU(count_kept(p), took_n ? 1 : 2);
    /* shrunk in place, then freed: the chunk keeps its mapped size and serves that size */
    region_pool_ref_t X, X2, Y, Z;
    CHECK(region_pool_alloc_ref(p, 12000, 0, 0, &X) == REGION_POOL_OK);
    CHECK(region_pool_realloc_at(p, X.chunk, 0, X.gen, 100, &X2) == REGION_POOL_OK && X2.ptr == X.ptr);
    CHECK(region_pool_free_at(p, X2.chunk, 0, X2.gen) == REGION_POOL_OK);
    CHECK(region_pool_chunk_kept(p, X.chunk));
    CHECK(region_pool_alloc_ref(p, 100, 0, 0, &Y) == REGION_POOL_OK && Y.chunk != X.chunk); /* small */
    CHECK(region_pool_alloc_ref(p, 12000, 0, 0, &Y) == REGION_POOL_OK && Y.ptr == X.ptr);
    CHECK(check_ok(p));
    /* under a count of 1, the block a moving realloc leaves releases every older kept one,
     * after the new chunk was mapped */
    CHECK(region_pool_keep_large(p, 1) == REGION_POOL_OK);
    nev = t->nev;
    CHECK(region_pool_realloc_at(p, Y.chunk, 0, Y.gen, 30000, &Z) == REGION_POOL_OK && Z.ptr != Y.ptr);
    CHECK(t->ev[nev].kind == 'm' && t->ev[nev + 1].kind == 'c' && t->ev[nev + 1].base == Z.ptr);
    if (took_n)
        CHECK(RELEASED(t, nev + 2, m));
    else
        CHECK(RELEASED(t, nev + 2, N.ptr, m));
    CHECK(region_pool_chunk_kept(p, Y.chunk));
    CHECK_EQU(count_kept(p), 1);
    size_t kn, kb;
    CHECK(kept_totals(p, t, &kn, &kb) && kn == 1 && kb == 12000);
    region_pool_stats_t sa = stats(p);
    CHECK_EQU(sa.reserved, sa.blocks * 1024 + sa.large_bytes + kb);
    CHECK_EQU(t->nmap, sa.blocks + sa.large_blocks + kn);
    CHECK(destroy_ok(p, t));
}

/* destroy releases kept chunks like large blocks: notified then unmapped with a
 * provider; with the default memory, stashed or freed (no leak). */
static void destroy_releases_kept_large_blocks(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    CHECK(region_pool_keep_large(p, 4) == REGION_POOL_OK);
    region_pool_ref_t s, L[3];
    CHECK(region_pool_alloc_ref(p, 100, 0, 0, &s) == REGION_POOL_OK);
    for (int i = 0; i < 3; i++) CHECK(region_pool_alloc_ref(p, 5000 * (size_t)(i + 1), 0, 0, &L[i]) == REGION_POOL_OK);
    for (int i = 0; i < 3; i++) CHECK(region_pool_free_at(p, L[i].chunk, 0, L[i].gen) == REGION_POOL_OK);
    CHECK_EQU(count_kept(p), 3);
    size_t nev = t->nev;
    CHECK(destroy_ok(p, t));
    for (int i = 0; i < 3; i++) {
        CHECK_EQU(events_since(t, nev, 'r', L[i].ptr), 1);
        CHECK_EQU(events_since(t, nev, 'u', L[i].ptr), 1);
    }
    CHECK_EQU(t->nev, nev + 8);
    /* kept, taken and kept again, then reset: destroy still balances */
    t = new_tracker();
    p = new_pool_with(t, 1024, 4096);
    CHECK(region_pool_keep_large(p, 3) == REGION_POOL_OK);
    for (int round = 0; round < 5; round++) {
        void *a = region_pool_palloc(p, 8000), *b = region_pool_memalign(p, 8192, 3000);
        CHECK(a && b && region_pool_palloc(p, 50));
        if (round % 2) CHECK(region_pool_free(p, a) == REGION_POOL_OK);
        CHECK(region_pool_reset(p) == REGION_POOL_OK);
        CHECK(check_ok(p));
    }
    CHECK_EQU(count_kept(p), 2);
    CHECK_EQU(t->maps, 3); /* a block and the two large chunks, once */
    CHECK(destroy_ok(p, t));

    /* the default memory (posix_memalign behind the stash and cache): nothing leaks */
    region_pool_trim_cache();
    region_pool_options_t o = {4096, 4096, NULL};
    CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
    CHECK(region_pool_keep_large(p, 3) == REGION_POOL_OK);
    region_pool_ref_t D[4], E, D0;
    for (int i = 0; i < 4; i++) CHECK(region_pool_alloc_ref(p, 10000 * (size_t)(i + 1), 0, 0, &D[i]) == REGION_POOL_OK);
    CHECK(region_pool_palloc(p, 10) != NULL);
    for (int i = 0; i < 4; i++) CHECK(region_pool_free_at(p, D[i].chunk, 0, D[i].gen) == REGION_POOL_OK);
    /* D[3] kept as the newest released D[0], the oldest */
    for (int i = 0; i < 4; i++) CHECK_EQ(region_pool_chunk_kept(p, D[i].chunk), i >= 1);
    region_pool_stats_t st = stats(p);
    CHECK_EQU(st.reserved, 4096 + 20000 + 30000 + 40000);
    CHECK_EQ(region_pool_free(p, D[0].ptr), REGION_POOL_ERR_FOREIGN); /* released (to the pool's stash) */
    CHECK_EQ(region_pool_free(p, D[1].ptr), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK(region_pool_alloc_ref(p, 20000, 0, 0, &E) == REGION_POOL_OK);
    CHECK(E.chunk == D[1].chunk && E.ptr == D[1].ptr && E.gen > D[1].gen);
    CHECK(region_pool_reset(p) == REGION_POOL_OK); /* E kept again, as the newest */
    CHECK_EQU(count_kept(p), 3);
    /* D[0]'s memory went to the stash: the next request of its size gets it as a new chunk */
    CHECK(region_pool_alloc_ref(p, 10000, 0, 0, &D0) == REGION_POOL_OK);
    CHECK(D0.ptr == D[0].ptr && !region_pool_chunk_kept(p, D0.chunk));
    CHECK_EQU(count_kept(p), 3);
    CHECK(check_ok(p));
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    /* a new pool (maybe the parked one) keeps nothing until asked */
    CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
    CHECK_EQU(stats(p).reserved, 0);
    region_pool_ref_t F;
    CHECK(region_pool_alloc_ref(p, 20000, 0, 0, &F) == REGION_POOL_OK);
    CHECK(region_pool_free_at(p, F.chunk, 0, F.gen) == REGION_POOL_OK);
    CHECK(!region_pool_chunk_kept(p, F.chunk));
    CHECK_EQU(stats(p).reserved, 0);
    CHECK(region_pool_keep_large(p, 1) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 20000, 0, 0, &F) == REGION_POOL_OK);
    CHECK(region_pool_free_at(p, F.chunk, 0, F.gen) == REGION_POOL_OK);
    CHECK(region_pool_chunk_kept(p, F.chunk));
    CHECK(check_ok(p));
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    /* a pool whose only chunk is kept: destroy stashes it, parked with the pool; trim frees both */
    CHECK(region_pool_create(NULL, &p) == REGION_POOL_OK);
    CHECK(region_pool_keep_large(p, 4) == REGION_POOL_OK);
    void *big = region_pool_palloc(p, 200000);
    CHECK(big && region_pool_free(p, big) == REGION_POOL_OK);
    CHECK_EQU(count_kept(p), 1);
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    CHECK(region_pool_trim_cache() > 0);
    CHECK_EQU(region_pool_trim_cache(), 0);
}

/* ---- seeded random test with a shadow model ------------------------------------------- */

static uint64_t g_seed = 1;
static long g_ops = 200000;

typedef struct rng {
    uint64_t s;
} rng_t;
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t next(rng_t *r) { return mix(r->s += 0x9e3779b97f4a7c15ull); }
static size_t below(rng_t *r, size_t n) { return (size_t)(next(r) % n); }

static void pat_fill(void *p, size_t n, uint64_t w)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++) c[i] = (unsigned char)(w >> (8 * (i & 7)));
}
static int pat_ok(const void *p, size_t n, uint64_t w)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != (unsigned char)(w >> (8 * (i & 7)))) return 0;
    return 1;
}

#define RMAXLIVE 4096
#define RFREED 64
typedef struct rlive {
    region_pool_ref_t r;
    uint64_t pat;
    size_t align; /* required alignment of the address */
    int large;
    size_t bytes;  /* a large block's chunk bytes (kept by an in-place shrink) */
    size_t malign; /* a large block's memalign alignment, 0: plain (a moving realloc asks it again) */
} rlive_t;
typedef struct rfreed {
    region_pool_ref_t r;
    long epoch;
} rfreed_t;
typedef struct rstate {
    rlive_t live[RMAXLIVE];
    size_t n;
    rfreed_t freed[RFREED];
    size_t nfreed;
    long epoch; /* resets so far */
    size_t used, used_small, nlarge;
    unsigned keep; /* the highest keep_large count set */
    size_t chunk_live[1 << 14]; /* live small allocations per block id */
    /* the kept large blocks as the pool must have them, oldest first (region_pool_keep_large) */
    unsigned keep_now; /* the count now, clamped to REGION_POOL_KEEP_MAX */
    struct {
        uint32_t id;
        void *base;
        size_t bytes;
    } kept[REGION_POOL_KEEP_MAX];
    size_t nkept, kept_bytes;
    /* the chunks the current op must release (notify, then unmap), in order */
    struct {
        uint32_t id;
        void *base;
    } want[2 * RMAXLIVE];
    size_t nwant;
    long evicted, taken; /* oldest kept blocks released to make room; kept blocks taken */
    long evicted_many, too_big; /* releases that released several oldest; blocks over the byte limit released */
} rstate_t;

static size_t rand_size(rng_t *g, size_t max_small)
{
    uint64_t x = next(g);
    if (x % 10 == 0) return (size_t)(x >> 8) % 9;                       /* tiny, zero included */
    if (x % 97 == 1) return max_small + (size_t)(x >> 8) % 70000;       /* large */
    if (x % 89 == 2) return max_small - 2 + (size_t)(x >> 8) % 5;       /* around the threshold */
    return (size_t)(x >> 8) % (x % 3 == 0 ? max_small + 1 : 300);
}

/* With keep_large on, large requests repeat a few sizes, so kept chunks get taken back (newest
 * first) as well as pushed out (oldest first, by the count and by the bytes); now and then one
 * at the byte limit, or a byte either side (never kept: 262,145). */
static size_t keep_size(rng_t *g, size_t max_small, int memalign)
{
    static const size_t more[] = {1, 4096, 20000, 65536};
    if (memalign && below(g, 3) == 0) return below(g, 2) ? 100 % (max_small + 1) : 8;
    if (below(g, 64) == 0) return REGION_POOL_KEEP_MAX_BYTES - 1 + below(g, 3); /* the byte limit, -1, +1 */
    return max_small + more[below(g, 4)];
}

/* bytes, malign: a large block's chunk bytes and memalign alignment (0 for a small one) */
static int r_add(rstate_t *st, const region_pool_ref_t *r, size_t align, int large, uint64_t pat, size_t max_small,
                 size_t bytes, size_t malign)
{
    HCHECK(st->n < RMAXLIVE);
    HCHECKF(((uintptr_t)r->ptr & (align - 1)) == 0, "%p not %zu-aligned", r->ptr, align);
    HCHECK(large || r->size <= max_small);
    HCHECK(!large || bytes >= (r->size ? r->size : 1));
    st->live[st->n++] = (rlive_t){*r, pat, align, large, large ? bytes : 0, large ? malign : 0};
    st->used += r->size;
    if (large) st->nlarge++;
    else {
        HCHECK(r->chunk < (1u << 14));
        st->used_small += r->size;
        st->chunk_live[r->chunk]++;
    }
    return 1;
}
static void r_remove(rstate_t *st, size_t i, int record)
{
    rlive_t *l = &st->live[i];
    st->used -= l->r.size;
    if (l->large) st->nlarge--;
    else {
        st->used_small -= l->r.size;
        st->chunk_live[l->r.chunk]--;
    }
    if (record) st->freed[st->nfreed++ % RFREED] = (rfreed_t){l->r, st->epoch};
    st->live[i] = st->live[--st->n];
}

/* ---- the kept large blocks' model (region_pool_keep_large) ---- */

static void r_set_keep(rstate_t *st, unsigned count)
{
    st->keep_now = count < REGION_POOL_KEEP_MAX ? count : REGION_POOL_KEEP_MAX;
    if (count > st->keep) st->keep = count;
}

/* The kept block a large request (size, memalign alignment malign, 0: plain) must take: the
 * newest one of its bytes whose base has max(malign, page) alignment; -1 when none fits (a
 * new chunk is mapped). */
static int r_fit(const region_pool_t *p, const rstate_t *st, size_t size, size_t malign)
{
    size_t page = region_pool_page_size(p), align = malign > page ? malign : page, bytes = size ? size : 1;
    for (size_t i = st->nkept; i-- > 0;)
        if (st->kept[i].bytes == bytes && (uintptr_t)st->kept[i].base % align == 0) return (int)i;
    return -1;
}

/* A large request served as r: by kept block k (r_fit's before the call) under a newer
 * generation with no map and no notification, or (k < 0) by a chunk mapped and created by
 * this call. maps, created: the tracker's counts before the call. */
static int r_served(region_pool_t *p, rstate_t *st, const tracker_t *t, const region_pool_ref_t *r, int k, size_t maps,
                    size_t created)
{
    HCHECK(!region_pool_chunk_kept(p, r->chunk));
    if (k < 0) {
        HCHECKF(t->maps == maps + 1 && t->created == created + 1, "large block %u (%zu bytes): %zu maps, %zu created",
                r->chunk, r->size, t->maps - maps, t->created - created);
        return 1;
    }
    HCHECKF(r->chunk == st->kept[k].id && r->ptr == st->kept[k].base && r->offset == 0,
            "large request (%zu bytes) got chunk %u at %p, want kept #%d of %zu: chunk %u at %p", r->size, r->chunk,
            r->ptr, k, st->nkept, st->kept[k].id, st->kept[k].base);
    HCHECKF(t->maps == maps && t->created == created, "kept chunk %u taken with %zu maps, %zu created", r->chunk,
            t->maps - maps, t->created - created);
    st->kept_bytes -= st->kept[k].bytes;
    memmove(&st->kept[k], &st->kept[k + 1], (st->nkept - (size_t)k - 1) * sizeof st->kept[0]);
    st->nkept--;
    st->taken++;
    return 1;
}

static void r_want(rstate_t *st, uint32_t id, void *base)
{
    if (st->nwant < sizeof st->want / sizeof st->want[0]) {
        st->want[st->nwant].id = id;
        st->want[st->nwant].base = base;
    }
    st->nwant++;
}

/* Large block l was released (free, moving realloc, reset). Not kept (released: notified,
 * unmapped) when the count is 0 or its bytes exceed REGION_POOL_KEEP_MAX_BYTES on their own;
 * else the oldest kept blocks are released, oldest first, while the count is reached or its
 * bytes do not fit with theirs, and it is kept as the newest. */
static void r_release(rstate_t *st, const rlive_t *l)
{
    const size_t max = REGION_POOL_KEEP_MAX_BYTES;
    if (!st->keep_now || l->bytes > max) {
        r_want(st, l->r.chunk, l->r.ptr);
        st->too_big += st->keep_now != 0;
        return;
    }
    st->evicted_many += st->nkept >= 2 && l->bytes > max - st->kept_bytes + st->kept[0].bytes;
    while (st->nkept >= st->keep_now || l->bytes > max - st->kept_bytes) {
        r_want(st, st->kept[0].id, st->kept[0].base);
        st->kept_bytes -= st->kept[0].bytes;
        memmove(&st->kept[0], &st->kept[1], --st->nkept * sizeof st->kept[0]);
        st->evicted++;
    }
    st->kept[st->nkept].id = l->r.chunk;
    st->kept[st->nkept].base = l->r.ptr;
    st->kept[st->nkept].bytes = l->bytes;
    st->nkept++;
    st->kept_bytes += l->bytes;
}

/* A reset released every live large block, lowest id first. */
static void r_release_all(rstate_t *st)
{
    for (uint32_t last = 0, first = 1;; first = 0) {
        size_t lo = SIZE_MAX;
        for (size_t i = 0; i < st->n; i++)
            if (st->live[i].large && (first || st->live[i].r.chunk > last) &&
                (lo == SIZE_MAX || st->live[i].r.chunk < st->live[lo].r.chunk))
                lo = i;
        if (lo == SIZE_MAX) return;
        last = st->live[lo].r.chunk;
        r_release(st, &st->live[lo]);
    }
}

/* The op just done released exactly the chunks expected (each notified, then unmapped,
 * in order) and the model's kept blocks are kept (located at their bases); then a new op. */
static int r_op_done(const region_pool_t *p, rstate_t *st, tracker_t *t)
{
    HCHECKF(t->nev < MAXEV, "event log full");
    HCHECK(st->nwant <= sizeof st->want / sizeof st->want[0]);
    size_t w = 0;
    for (size_t i = 0; i < t->nev; i++) {
        const ev_t *e = &t->ev[i];
        if (e->kind != 'r' && e->kind != 'u') continue;
        size_t j = w / 2;
        HCHECKF(j < st->nwant, "%c of chunk %u at %p: not a release the model expects (%zu expected)", e->kind, e->id,
                e->base, st->nwant);
        HCHECKF(e->base == st->want[j].base && e->kind == (w % 2 ? 'u' : 'r') &&
                    (e->kind == 'u' || e->id == st->want[j].id),
                "%c of chunk %u at %p; want %s of chunk %u at %p (#%zu of %zu)", e->kind, e->id, e->base,
                w % 2 ? "unmap" : "released", st->want[j].id, st->want[j].base, j, st->nwant);
        w++;
    }
    HCHECKF(w == 2 * st->nwant, "%zu release/unmap events, want %zu", w, 2 * st->nwant);
    for (size_t i = 0; i < st->nkept; i++) {
        region_pool_ref_t l;
        HCHECKF(region_pool_chunk_kept(p, st->kept[i].id) &&
                    region_pool_locate(p, st->kept[i].base, &l) == REGION_POOL_OK && l.chunk == st->kept[i].id,
                "chunk %u at %p not kept (#%zu of %zu)", st->kept[i].id, st->kept[i].base, i, st->nkept);
    }
    t->nev = 0;
    st->nwant = 0;
    return 1;
}

static int r_verify(region_pool_t *p, const rstate_t *st, tracker_t *t)
{
    HCHECK(check_ok(p));
    HCHECK(tracker_ok(t));
    region_pool_stats_t s = stats(p);
    HCHECKF(s.allocations == st->n, "allocations %zu != %zu", s.allocations, st->n);
    HCHECKF(s.used == st->used, "used %zu != %zu", s.used, st->used);
    HCHECK(s.large_blocks == st->nlarge);
    HCHECK(s.peak_used >= s.used);
    HCHECK(block_identity(p, st->used_small));
    /* kept large blocks (region_pool_keep_large) are mapped and reserved, but no allocation */
    size_t kept = 0, kept_bytes = 0;
    HCHECK(kept_totals(p, t, &kept, &kept_bytes));
    HCHECKF(kept == st->nkept && kept_bytes == st->kept_bytes, "%zu chunks (%zu bytes) kept, model %zu (%zu bytes)",
            kept, kept_bytes, st->nkept, st->kept_bytes);
    HCHECK(kept <= (st->keep < REGION_POOL_KEEP_MAX ? st->keep : REGION_POOL_KEEP_MAX) &&
           kept_bytes <= REGION_POOL_KEEP_MAX_BYTES);
    HCHECKF(s.reserved == s.blocks * region_pool_block_size(p) + s.large_bytes + kept_bytes,
            "reserved %zu != blocks %zu + large %zu + kept %zu", s.reserved, s.blocks * region_pool_block_size(p),
            s.large_bytes, kept_bytes);
    HCHECKF(t->nmap == s.blocks + s.large_blocks + kept, "%zu mapped, %zu blocks + %zu large + %zu kept", t->nmap,
            s.blocks, s.large_blocks, kept);
    for (size_t i = 0; i < st->n; i++) {
        const rlive_t *l = &st->live[i];
        HCHECKF(pat_ok(l->r.ptr, l->r.size, l->pat), "contents of live allocation %zu damaged", i);
        size_t sz = 0;
        HCHECK(region_pool_state_at(p, l->r.chunk, l->r.offset, l->r.gen, &sz) == REGION_POOL_OK && sz == l->r.size);
    }
    return 1;
}

/* keep: 0, or the region_pool_keep_large count of the run (changed now and then to 0..5). */
static void run_random(uint64_t seed, size_t block_size, unsigned keep)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, block_size, 0);
    CHECK(p);
    const size_t ms = region_pool_max_small(p);
    rstate_t *st = tu_alloc(sizeof *st);
    r_set_keep(st, keep);
    if (keep) CHECK(region_pool_keep_large(p, keep) == REGION_POOL_OK);
    rng_t g = {seed};
    uint64_t patctr = seed << 20;
    uint32_t expect_recycled = REGION_POOL_NO_CHUNK;
    long rejected = 0, recycled_checked = 0, resets = 0, injected = 0, reused = 0, kept_frees = 0, kept_refused = 0,
         keep_changes = 0;
    for (long op = 1; op <= g_ops; op++) {
        CHECKF(r_op_done(p, st, t), "op %ld", op - 1); /* the previous op's releases, the kept blocks */
        if (keep && below(&g, 3000) == 0) { /* lower or raise the count; nothing happens until a block is kept */
            unsigned k = (unsigned)below(&g, 6);
            CHECK(region_pool_keep_large(p, k) == REGION_POOL_OK);
            r_set_keep(st, k);
            keep_changes++;
        }
        uint64_t x = next(&g);
        unsigned kind = (unsigned)(x % 1000);
        uint32_t recycled = REGION_POOL_NO_CHUNK;
        if (kind < 2 && op > 1000) { /* reset */
            CHECK(region_pool_reset(p) == REGION_POOL_OK);
            r_release_all(st);
            for (size_t i = 0; i < st->n; i++)
                st->freed[st->nfreed++ % RFREED] = (rfreed_t){st->live[i].r, st->epoch};
            st->n = 0;
            st->used = st->used_small = st->nlarge = 0;
            memset(st->chunk_live, 0, sizeof st->chunk_live);
            st->epoch++;
            resets++;
        } else if (kind < 480 && st->n < RMAXLIVE) { /* allocate */
            region_pool_ref_t r;
            size_t size = rand_size(&g, ms), align = REGION_POOL_ALIGNMENT, malign = 0;
            unsigned flags = 0, v = (unsigned)below(&g, 20);
            int large = size > ms;
            if (v < 6) {
                flags = REGION_POOL_UNALIGNED;
                align = 1;
            } else if (v < 8) {
                flags = REGION_POOL_ZERO;
            } else if (v == 8) {
                flags = REGION_POOL_MEMALIGN;
                align = malign = (size_t)1 << below(&g, 17);
                large = 1;
            }
            if (keep && (large || below(&g, 12) == 0)) { /* more large requests, all of a few sizes */
                size = keep_size(&g, ms, (flags & REGION_POOL_MEMALIGN) != 0);
                large = size > ms || (flags & REGION_POOL_MEMALIGN);
            }
            int fit = large ? r_fit(p, st, size, malign) : -1; /* the kept block it must take */
            int armed = below(&g, 100) == 0; /* the provider refuses now and then */
            t->fail_in = armed;
            size_t created = t->created, maps = t->maps;
            int rc;
            if ((flags & ~REGION_POOL_UNALIGNED) == 0 && below(&g, 2) == 0) {
                /* the pointer entry points (palloc/pnalloc's fast path), named by locate */
                void *q = flags ? region_pool_pnalloc(p, size) : region_pool_palloc(p, size);
                rc = q ? region_pool_locate(p, q, &r) : REGION_POOL_ERR_NOMEM;
                r.size = size;
            } else {
                rc = region_pool_alloc_ref(p, size, align, flags, &r);
            }
            int refused = armed && t->fail_in == 0;
            t->fail_in = 0;
            if (rc == REGION_POOL_ERR_NOMEM && refused) {
                CHECKF(fit < 0, "op %ld: a large request a kept block fits failed to map", op);
                injected++;
                continue;
            }
            CHECKF(rc == REGION_POOL_OK, "op %ld: alloc(%zu, %u) = %d", op, size, flags, rc);
            CHECK_EQU(r.size, size);
            if (flags & REGION_POOL_ZERO)
                for (size_t i = 0; i < size; i++) CHECK(((unsigned char *)r.ptr)[i] == 0);
            region_pool_chunk_info_t ci;
            CHECK(region_pool_chunk_info(p, r.chunk, &ci) == REGION_POOL_OK);
            CHECK_EQ(ci.kind, large ? REGION_POOL_CHUNK_LARGE : REGION_POOL_CHUNK_BLOCK);
            if (large) { /* the newest kept block that fits came back (no map, no notification), or a new one */
                CHECK(ci.bytes == (size ? size : 1));
                CHECKF(r_served(p, st, t, &r, fit, maps, created), "op %ld", op);
                reused += fit >= 0;
            }
            if (!large && expect_recycled != REGION_POOL_NO_CHUNK) { /* the rewound block serves it, at its start */
                CHECKF(r.chunk == expect_recycled && r.offset == 0, "op %ld: recycled block %u not used (got %u+%zu)", op,
                       expect_recycled, r.chunk, r.offset);
                recycled_checked++;
            }
            if (flags & REGION_POOL_MEMALIGN) align = align > 4096 ? align : 4096;
            uint64_t pat = mix(++patctr);
            pat_fill(r.ptr, size, pat);
            CHECK_HELPER(r_add(st, &r, align, large, pat, ms, ci.bytes, malign));
        } else if (kind < 850 && st->n) { /* free, by handle or by pointer */
            size_t i = below(&g, st->n);
            rlive_t l = st->live[i];
            CHECKF(pat_ok(l.r.ptr, l.r.size, l.pat), "op %ld: contents damaged before free", op);
            int rc = (x >> 32) & 1 ? region_pool_free(p, l.r.ptr) : region_pool_free_at(p, l.r.chunk, l.r.offset, l.r.gen);
            CHECKF(rc == REGION_POOL_OK, "op %ld: free = %d", op, rc);
            r_remove(st, i, 1);
            if (l.large) r_release(st, &l);
            if (!l.large && st->chunk_live[l.r.chunk] == 0) recycled = l.r.chunk;
            if (l.large && region_pool_chunk_kept(p, l.r.chunk)) { /* kept: refused by pointer and handle */
                CHECK(st->keep && st->nkept && st->kept[st->nkept - 1].id == l.r.chunk);
                CHECK_EQ(region_pool_free(p, l.r.ptr), REGION_POOL_ERR_DOUBLE_FREE);
                CHECK_EQ(region_pool_state_at(p, l.r.chunk, 0, l.r.gen, NULL), REGION_POOL_ERR_DOUBLE_FREE);
                kept_frees++;
            }
        } else if (kind < 970 && st->n) { /* realloc */
            size_t i = below(&g, st->n);
            rlive_t l = st->live[i];
            size_t size = rand_size(&g, ms);
            if (keep && size > ms) size = keep_size(&g, ms, 0);
            region_pool_ref_t n;
            /* a move to a large block: growing a large one (same memalign alignment), or a small one past max_small */
            int to_large = l.large ? size > l.bytes : size > ms;
            int fit = to_large ? r_fit(p, st, size, l.malign) : -1;
            int armed = below(&g, 50) == 0;
            t->fail_in = armed;
            size_t created = t->created, maps = t->maps;
            int rc = region_pool_realloc_at(p, l.r.chunk, l.r.offset, l.r.gen, size, &n);
            int refused = armed && t->fail_in == 0;
            t->fail_in = 0;
            if (rc == REGION_POOL_ERR_NOMEM && refused) {
                CHECKF(fit < 0, "op %ld: a realloc a kept block fits failed to map", op);
                injected++;
                CHECK(pat_ok(l.r.ptr, l.r.size, l.pat)); /* old block intact */
                CHECK(region_pool_state_at(p, l.r.chunk, l.r.offset, l.r.gen, NULL) == REGION_POOL_OK);
                continue;
            }
            CHECKF(rc == REGION_POOL_OK, "op %ld: realloc(%u+%zu, %zu -> %zu) = %d, fail_in %ld", op, l.r.chunk, l.r.offset,
                   l.r.size, size, rc, t->fail_in);
            size_t keep = size < l.r.size ? size : l.r.size;
            CHECKF(pat_ok(n.ptr, keep, l.pat), "op %ld: realloc lost contents", op);
            int moved = n.chunk != l.r.chunk || n.offset != l.r.offset || n.gen != l.r.gen;
            region_pool_chunk_info_t ci;
            CHECK(region_pool_chunk_info(p, n.chunk, &ci) == REGION_POOL_OK);
            int large = ci.kind == REGION_POOL_CHUNK_LARGE;
            size_t align = l.large ? l.align : REGION_POOL_ALIGNMENT;
            if (!moved) align = l.align;
            /* a large block moves exactly when it grows past its chunk, and stays large */
            CHECKF((moved && large) == to_large && (!l.large || moved == to_large) && (moved || large == l.large),
                   "op %ld: realloc (%s %zu -> %zu) moved %d to a %s block", op, l.large ? "large" : "small", l.r.size,
                   size, moved, large ? "large" : "small");
            if (to_large) {
                CHECK(ci.bytes == (size ? size : 1));
                CHECKF(r_served(p, st, t, &n, fit, maps, created), "op %ld", op);
                reused += fit >= 0;
            }
            r_remove(st, i, moved);
            if (moved && l.large) r_release(st, &l); /* after the new one was taken, as the pool does */
            if (moved) CHECK(region_pool_state_at(p, l.r.chunk, l.r.offset, l.r.gen, NULL) != REGION_POOL_OK);
            if (moved && l.large && region_pool_chunk_kept(p, l.r.chunk)) {
                CHECK(st->keep && st->nkept && st->kept[st->nkept - 1].id == l.r.chunk);
                kept_frees++;
            }
            uint64_t pat = mix(++patctr);
            pat_fill(n.ptr, size, pat);
            if (!moved && large) CHECK_EQU(ci.bytes, l.bytes); /* shrunk in place: the chunk keeps its bytes */
            CHECK_HELPER(r_add(st, &n, align, large, pat, ms, ci.bytes, l.malign));
            if (moved && !l.large && st->chunk_live[l.r.chunk] == 0) recycled = l.r.chunk;
        } else if (st->nfreed) { /* a rejected free: double (same epoch) or stale (earlier epoch) */
            size_t k = below(&g, st->nfreed < RFREED ? st->nfreed : RFREED);
            rfreed_t f = st->freed[k];
            region_pool_stats_t before = stats(p);
            int rc = region_pool_free_at(p, f.r.chunk, f.r.offset, f.r.gen);
            int want = f.epoch == st->epoch ? REGION_POOL_ERR_DOUBLE_FREE : REGION_POOL_ERR_STALE;
            CHECKF(rc == want, "op %ld: rejected free = %d, want %d", op, rc, want);
            CHECK(rc == region_pool_realloc_at(p, f.r.chunk, f.r.offset, f.r.gen, 5, &(region_pool_ref_t){0}));
            if (f.epoch == st->epoch && f.r.offset == 0 && kept_base(p, t, f.r.chunk) == f.r.ptr) {
                /* freed into the kept list since (this epoch): its pointer is a double free too */
                CHECK_EQ(region_pool_free(p, f.r.ptr), REGION_POOL_ERR_DOUBLE_FREE);
                kept_refused++;
            }
            region_pool_stats_t after = stats(p);
            CHECK(same_stats(&before, &after));
            rejected++;
        }
        expect_recycled = recycled;
        if (op % 1000 == 0) CHECK_HELPER(r_verify(p, st, t));
    }
    CHECKF(r_op_done(p, st, t), "op %ld", g_ops);
    CHECK_HELPER(r_verify(p, st, t));
    fprintf(stderr,
            "# random: seed %" PRIu64 ", block %zu, keep %u, %ld ops, %ld resets, %ld rejected frees, %ld recycles "
            "seen, %ld refused maps, %zu blocks",
            seed, block_size, keep, g_ops, resets, rejected, recycled_checked, injected, stats(p).blocks);
    if (keep)
        fprintf(stderr,
                ", %ld kept frees, %ld kept chunks taken back, %ld oldest released for room (%ld times more than one "
                "for the bytes), %ld over the byte limit released, %ld kept pointers refused, %ld keep changes",
                kept_frees, reused, st->evicted, st->evicted_many, st->too_big, kept_refused, keep_changes);
    fputc('\n', stderr);
    if (g_ops >= 100000) CHECK(resets > 10 && rejected > 1000 && recycled_checked > 10 && injected > 5);
    if (keep && g_ops >= 100000)
        CHECK(kept_frees > 20 && reused > 20 && st->evicted > 20 && st->evicted_many > 5 && st->too_big > 5);
    CHECK(destroy_ok(p, t));
}

/* Three pools: max_small = block size (256), a page-sized block, and blocks
 * larger than a page (max_small = page - 1); then the same with keep_large on
 * (counts 1..5, other seeds). */
static void random_ops_against_shadow(void)
{
    static const size_t blocks[] = {256, 4096, 16384};
    for (size_t i = 0; i < 3 && !tu_case_failed; i++) run_random(g_seed + i, blocks[i], 0);
    for (size_t i = 0; i < 3 && !tu_case_failed; i++)
        run_random(g_seed + 3 + i, blocks[i], 1 + (unsigned)((g_seed + 3 + i) % 5));
}

/* The default provider keeps freed chunks (and the pool's side tables) for the
 * next pool: a per-request pool gets the same memory back, last freed first. */
/* The default provider caches a block chunk together with its side tables:
 * reused by a pool of the same block size and alignment only, with clear
 * start bits and its grown entries table gone; trim frees both. */
static void default_provider_caches_blocks_with_tables(void)
{
    region_pool_trim_cache();
    region_pool_options_t o = {4096, 4096, NULL}, big = {4096, 65536, NULL}; /* block_align 4096, 65536 */
    region_pool_t *p;
    CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
    unsigned char *first = NULL;
    for (int i = 0; i < 3000; i++) { /* 1-byte starts: grows the entries table past 4096 / 16 */
        unsigned char *q = region_pool_pnalloc(p, 1);
        CHECK(q != NULL);
        if (!first) first = q;
    }
    CHECK(check_ok(p));
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    /* another alignment does not take it */
    CHECK(region_pool_create(&big, &p) == REGION_POOL_OK);
    unsigned char *b = region_pool_palloc(p, 8);
    CHECK(b && b != first && (uintptr_t)b % 65536 == 0);
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    for (int round = 0; round < 3; round++) {
        CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
        region_pool_ref_t r;
        CHECK(region_pool_alloc_ref(p, 100, 0, 0, &r) == REGION_POOL_OK);
        CHECK(r.ptr == first && r.offset == 0);
        for (size_t off = 1; off < 4096; off++)
            CHECK_EQ(region_pool_state_at(p, r.chunk, off, r.gen, NULL), REGION_POOL_ERR_FOREIGN);
        for (int i = 0; i < 3000; i++) CHECK(region_pool_pnalloc(p, 1) != NULL);
        CHECK(check_ok(p));
        region_pool_stats_t s = stats(p);
        CHECK_EQU(s.blocks, 1);
        CHECK_EQU(s.reserved, 4096);
        CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    }
    CHECK(region_pool_create(&big, &p) == REGION_POOL_OK);
    unsigned char *b2 = region_pool_palloc(p, 8);
    CHECK(b2 == b);
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    CHECK(region_pool_trim_cache() >= 2 * 4096); /* both blocks with their tables */
    CHECK_EQU(region_pool_trim_cache(), 0);
}

static void default_provider_recycles_chunks(void)
{
    region_pool_trim_cache();
    region_pool_options_t o = {16384, 4096, NULL};
    region_pool_t *p;
    CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
    unsigned char *a = region_pool_palloc(p, 100), *big = region_pool_palloc(p, 8192);
    CHECK(a && big);
    memset(a, 7, 100);
    memset(big, 7, 8192);
    CHECK(check_ok(p));
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    for (int round = 0; round < 3; round++) {
        CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
        unsigned char *a2 = region_pool_palloc(p, 100), *big2 = region_pool_palloc(p, 8192);
        CHECK(a2 == a && big2 == big); /* same chunks, same alignment */
        CHECK_EQU((uintptr_t)a2 % 16384, 0);
        region_pool_stats_t s = stats(p);
        CHECK_EQU(s.used, 8292);
        CHECK_EQU(s.allocations, 2);
        CHECK_EQU(s.blocks, 1);
        CHECK_EQU(s.large_blocks, 1);
        CHECK(region_pool_free(p, a2) == REGION_POOL_OK);
        CHECK(region_pool_free(p, a2) != REGION_POOL_OK); /* its block was rewound */
        CHECK(check_ok(p));
        CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    }
    /* another block size is another size class (and alignment) */
    region_pool_options_t o2 = {32768, 4096, NULL};
    CHECK(region_pool_create(&o2, &p) == REGION_POOL_OK);
    unsigned char *c = region_pool_palloc(p, 100);
    CHECK(c && c != a && (uintptr_t)c % 32768 == 0);
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    /* two pools at once get different chunks */
    region_pool_t *q;
    CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
    CHECK(region_pool_create(&o, &q) == REGION_POOL_OK);
    void *x = region_pool_palloc(p, 10), *y = region_pool_palloc(q, 10);
    CHECK(x && y && x != y);
    CHECK(region_pool_destroy(q) == REGION_POOL_OK);
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    CHECK(region_pool_trim_cache() > 0);
    CHECK_EQU(region_pool_trim_cache(), 0);
}

/* Start bits are set lazily (the fast path only appends an entry): a free or a
 * query marks every pending entry, entries added after are marked by the next
 * one, and an unmarked allocation is found, refused and freed all the same. */
static void start_bits_follow_the_entries(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 4096, 4096);
    CHECK(p);
    unsigned char *a[60];
    for (int i = 0; i < 30; i++) CHECK((a[i] = region_pool_palloc(p, 10 + (size_t)i)) != NULL);
    region_pool_ref_t r = ref_of(p, a[10]);
    size_t sz = 0;
    CHECK_EQ(region_pool_state_at(p, r.chunk, r.offset, r.gen, &sz), REGION_POOL_OK); /* marks 30 */
    CHECK_EQU(sz, 20);
    CHECK(check_ok(p));
    for (int i = 30; i < 60; i++) CHECK((a[i] = i % 2 ? region_pool_pnalloc(p, 7) : region_pool_palloc(p, 9)) != NULL);
    CHECK(check_ok(p)); /* 30 marked, 30 pending */
    /* interior and end of a pending allocation: foreign; its start: live */
    CHECK_EQ(region_pool_free(p, a[45] + 1), REGION_POOL_ERR_FOREIGN);
    CHECK_EQ(region_pool_free(p, a[59] + 9), REGION_POOL_ERR_FOREIGN); /* at the bump offset */
    CHECK(check_ok(p));
    CHECK_EQ(region_pool_free(p, a[45]), REGION_POOL_OK);
    CHECK_EQ(region_pool_free(p, a[45]), REGION_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(region_pool_free(p, a[3]), REGION_POOL_OK);
    for (int i = 60; i < 40 + 30; i++) CHECK(region_pool_palloc(p, 1) != NULL); /* pending again */
    CHECK(check_ok(p));
    region_pool_stats_t s = stats(p);
    CHECK_EQU(s.allocations, 58 + 10);
    /* free everything: the block is rewound, its bits cleared, all stale */
    for (int i = 0; i < 60; i++)
        if (i != 3 && i != 45) CHECK_EQ(region_pool_free(p, a[i]), REGION_POOL_OK);
    CHECK_EQU(stats(p).allocations, 10);
    CHECK(check_ok(p));
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    CHECK(check_ok(p));
    unsigned char *b = region_pool_palloc(p, 600);
    CHECK(b == a[0]);
    for (size_t off = 1; off < 700; off++) CHECK_EQ(region_pool_state_at(p, r.chunk, off, ref_of(p, b).gen, NULL), REGION_POOL_ERR_FOREIGN);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* A destroyed pool of the default provider is parked with its blocks (and
 * their cleared side tables) and large chunks: the next pool of that block
 * size gets them back without asking the cache chunk by chunk, starts empty,
 * and sees nothing of the old allocations. Other block sizes and other
 * providers do not take it; trim frees all of it. */
static void parked_pool_brings_its_chunks_back(void)
{
    region_pool_trim_cache();
    region_pool_options_t o = {16384, 4096, NULL}, o2 = {8192, 4096, NULL};
    enum { N = 202 };
    unsigned char *first[N], *again[N];
    void *bases[4];
    size_t nbases = 0;
    for (int round = 0; round < 3; round++) {
        region_pool_t *p;
        CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
        region_pool_stats_t s = stats(p);
        CHECK_EQU(s.blocks + s.large_blocks + s.reserved + s.allocations, 0);
        unsigned char **v = round ? again : first;
        for (int i = 0; i < N; i++) {
            size_t n = (i == 50 || i == 150) ? 8192 : 16 + (size_t)(i * 37) % 241;
            CHECK((v[i] = region_pool_palloc(p, n)) != NULL);
            *v[i] = (unsigned char)i;
        }
        s = stats(p);
        CHECK_EQU(s.blocks, 2);
        CHECK_EQU(s.large_blocks, 2);
        CHECK(check_ok(p));
        if (round == 0) {
            for (uint32_t id = 0; id < region_pool_chunk_limit(p); id++) {
                region_pool_chunk_info_t ci;
                if (region_pool_chunk_info(p, id, &ci) == REGION_POOL_OK && nbases < 4) bases[nbases++] = ci.base;
            }
            CHECK_EQU(nbases, 4);
            CHECK_EQ(region_pool_free(p, first[7]), REGION_POOL_OK); /* marks start bits */
        } else {
            /* the same chunks came back, and no start from before is seen */
            for (int i = 0; i < N; i++) CHECK(again[i] == first[i]);
            for (uint32_t id = 0; id < region_pool_chunk_limit(p); id++) {
                region_pool_chunk_info_t ci;
                if (region_pool_chunk_info(p, id, &ci) != REGION_POOL_OK) continue;
                int known = 0;
                for (size_t k = 0; k < nbases; k++) known |= bases[k] == ci.base;
                CHECK(known);
            }
            region_pool_ref_t r = ref_of(p, again[0]);
            CHECK_EQ(region_pool_state_at(p, r.chunk, 1, r.gen, NULL), REGION_POOL_ERR_FOREIGN);
            CHECK_EQ(region_pool_free(p, again[7] + 1), REGION_POOL_ERR_FOREIGN);
            CHECK_EQ(region_pool_free(p, again[7]), REGION_POOL_OK);
            CHECK_EQ(region_pool_free(p, again[7]), REGION_POOL_ERR_DOUBLE_FREE);
        }
        CHECK(check_ok(p));
        CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    }
    /* another block size and a provider of its own leave the parked pool alone */
    region_pool_t *q;
    CHECK(region_pool_create(&o2, &q) == REGION_POOL_OK);
    unsigned char *x = region_pool_palloc(q, 100);
    CHECK(x && x != first[0]);
    CHECK(region_pool_destroy(q) == REGION_POOL_OK);
    tracker_t *t = new_tracker();
    q = new_pool_with(t, 16384, 4096);
    CHECK(q);
    x = region_pool_palloc(q, 100);
    unsigned char *y = region_pool_palloc(q, 8192);
    CHECK(x && y && x != first[0] && t->maps == 2);
    CHECK(destroy_ok(q, t));
    region_pool_t *p;
    CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
    CHECK(region_pool_palloc(p, 16) == first[0]);
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    CHECK(region_pool_trim_cache() >= 2 * 16384 + 2 * 8192);
    CHECK_EQU(region_pool_trim_cache(), 0);
}

/* A thread's parked pool is its own (no lock); when the thread exits it goes
 * to the process-wide cache, where another thread's next pool finds it. */
static void *pool_in_thread(void *arg)
{
    unsigned char **out = arg;
    region_pool_options_t o = {16384, 4096, NULL};
    region_pool_t *p;
    if (region_pool_create(&o, &p) != REGION_POOL_OK) return NULL;
    out[0] = region_pool_palloc(p, 100);
    out[1] = region_pool_palloc(p, 8192);
    region_pool_destroy(p); /* parked in this thread's slot */
    return NULL;
}
static void parked_pool_outlives_its_thread(void)
{
    region_pool_trim_cache();
    unsigned char *got[2] = {NULL, NULL};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, pool_in_thread, got) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(got[0] && got[1]);
    region_pool_options_t o = {16384, 4096, NULL};
    region_pool_t *p, *q;
    CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
    CHECK(region_pool_palloc(p, 10) == got[0]);
    CHECK(region_pool_palloc(p, 8192) == got[1]);
    CHECK(check_ok(p));
    /* this thread's slot holds one pool; a second one goes to the shared cache */
    CHECK(region_pool_create(&o, &q) == REGION_POOL_OK);
    unsigned char *x = region_pool_palloc(q, 10);
    CHECK(x && x != got[0]);
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    CHECK(region_pool_destroy(q) == REGION_POOL_OK);
    CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
    CHECK(region_pool_create(&o, &q) == REGION_POOL_OK);
    unsigned char *a = region_pool_palloc(p, 10), *b = region_pool_palloc(q, 10);
    CHECK((a == got[0] && b == x) || (a == x && b == got[0]));
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    CHECK(region_pool_destroy(q) == REGION_POOL_OK);
    CHECK(region_pool_trim_cache() >= 2 * (16384 + 8192));
    CHECK_EQU(region_pool_trim_cache(), 0);
}

/* With the default provider a released large chunk stays with its pool (at
 * most a few) and serves the next large request of its size and alignment;
 * handles to the released one stay refused. */
static void pool_reuses_its_large_chunks(void)
{
    region_pool_trim_cache();
    region_pool_options_t o = {4096, 4096, NULL};
    region_pool_t *p;
    CHECK(region_pool_create(&o, &p) == REGION_POOL_OK);
    region_pool_ref_t r1, r2, r3;
    CHECK(region_pool_alloc_ref(p, 10000, 0, 0, &r1) == REGION_POOL_OK);
    CHECK(region_pool_free_at(p, r1.chunk, 0, r1.gen) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(p, 10000, 0, 0, &r2) == REGION_POOL_OK);
    CHECK(r2.ptr == r1.ptr && r2.gen != r1.gen);
    CHECK_EQ(region_pool_free_at(p, r1.chunk, 0, r1.gen), REGION_POOL_ERR_DOUBLE_FREE);
    /* a memalign needing more alignment than the chunk has: not that chunk */
    CHECK(region_pool_free_at(p, r2.chunk, 0, r2.gen) == REGION_POOL_OK);
    void *m = region_pool_memalign(p, (size_t)1 << 20, 10000);
    CHECK(m && m != r1.ptr && (uintptr_t)m % ((size_t)1 << 20) == 0);
    CHECK(region_pool_free(p, m) == REGION_POOL_OK);
    /* newest first: the memalign's chunk serves too; reset releases into the stash */
    CHECK(region_pool_alloc_ref(p, 10000, 0, 0, &r3) == REGION_POOL_OK);
    CHECK(r3.ptr == m);
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    region_pool_stats_t s = stats(p);
    CHECK_EQU(s.large_blocks + s.large_bytes + s.reserved, 0);
    CHECK_EQ(region_pool_free_at(p, r3.chunk, 0, r3.gen), REGION_POOL_ERR_STALE);
    void *big[6];
    for (int i = 0; i < 6; i++) CHECK((big[i] = region_pool_palloc(p, 10000)) != NULL);
    CHECK(big[0] == r1.ptr || big[1] == r1.ptr);
    CHECK(check_ok(p));
    for (int i = 0; i < 6; i++) CHECK(region_pool_free(p, big[i]) == REGION_POOL_OK);
    CHECK_EQU(stats(p).reserved, 0);
    CHECK(check_ok(p));
    CHECK(region_pool_destroy(p) == REGION_POOL_OK);
    region_pool_trim_cache();
}

/* The fast path defers the pool totals: stats, check and frees see them. */
static void stats_follow_the_fast_path(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 4096, 4096);
    CHECK(p);
    void *ptr[300];
    size_t used = 0, peak = 0, live = 0;
    for (size_t i = 0; i < 300; i++) {
        size_t n = (i * 37) % 300;
        ptr[i] = i % 3 ? region_pool_palloc(p, n) : region_pool_pnalloc(p, n);
        CHECK(ptr[i]);
        used += n;
        live++;
        if (used > peak) peak = used;
        if (i % 17 == 0) {
            region_pool_stats_t s = stats(p);
            CHECK_EQU(s.used, used);
            CHECK_EQU(s.peak_used, peak);
            CHECK_EQU(s.allocations, live);
            CHECK_EQU(s.blocks * 4096, s.used + s.wasted + s.available);
            CHECK(check_ok(p));
        }
        if (i % 5 == 4) { /* free an older one: the peak stays */
            size_t k = i - 2, n2 = (k * 37) % 300;
            CHECK(region_pool_free(p, ptr[k]) == REGION_POOL_OK);
            used -= n2;
            live--;
            region_pool_stats_t s = stats(p);
            CHECK_EQU(s.used, used);
            CHECK_EQU(s.peak_used, peak);
            CHECK(region_pool_free(p, ptr[k]) == REGION_POOL_ERR_DOUBLE_FREE);
        }
    }
    CHECK(check_ok(p));
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    region_pool_stats_t s = stats(p);
    CHECK_EQU(s.used, 0);
    CHECK_EQU(s.peak_used, peak);
    CHECK(destroy_ok(p, t));
}

/* ---- external bumping: region_pool_head / region_pool_record_head ------------------------------
 * What the Node binding's JavaScript does with its lease (docs/region.md): take the head block,
 * bump (offset, size) pairs into it as palloc/pnalloc would, log them, and have the pool record
 * the log before any other call. */

#define JB_MAX 4096
typedef struct bumper {
    region_pool_head_t h; /* the lease (slots may be overridden to log past it) */
    size_t bs;
    size_t bump;  /* the next offset */
    size_t count; /* pairs logged */
    uint32_t log[2 * JB_MAX];
    unsigned char unaligned[JB_MAX];
} bumper_t;

/* Take the lease: 1 with the head, 0 when no block is open (then nothing can be bumped). */
static int take_head(region_pool_t *p, bumper_t *jb)
{
    jb->bs = region_pool_block_size(p);
    jb->count = 0;
    if (region_pool_head(p, &jb->h) != REGION_POOL_OK) {
        memset(&jb->h, 0, sizeof jb->h);
        jb->bump = 0;
        return 0;
    }
    jb->bump = jb->h.last;
    return 1;
}
/* The lease's bump: the offset, or -1 when the request has to go native (no room, no slot). */
static long jb_bump(bumper_t *jb, size_t size, int unaligned)
{
    size_t off = unaligned ? jb->bump : (jb->bump + REGION_POOL_ALIGNMENT - 1) & ~(size_t)(REGION_POOL_ALIGNMENT - 1);
    size_t end = off + (size ? size : 1);
    if (end > jb->bs || jb->count >= jb->h.slots || jb->count >= JB_MAX) return -1;
    jb->log[2 * jb->count] = (uint32_t)off;
    jb->log[2 * jb->count + 1] = (uint32_t)size;
    jb->unaligned[jb->count] = (unsigned char)unaligned;
    jb->count++;
    jb->bump = end;
    return (long)off;
}
/* Any pair at all (the bump offset does not move). */
static void jb_put(bumper_t *jb, uint32_t off, uint32_t size)
{
    if (jb->count >= JB_MAX) return;
    jb->log[2 * jb->count] = off;
    jb->log[2 * jb->count + 1] = size;
    jb->unaligned[jb->count] = 1;
    jb->count++;
}
static region_pool_ref_t jb_ref(const bumper_t *jb, size_t i)
{
    region_pool_ref_t r;
    r.ptr = (unsigned char *)jb->h.base + jb->log[2 * i];
    r.chunk = jb->h.chunk;
    r.offset = jb->log[2 * i];
    r.gen = jb->h.gen;
    r.size = jb->log[2 * i + 1];
    return r;
}
/* The contract, written out: how many pairs of `log` the head `h` takes. */
static size_t expect_prefix(const region_pool_head_t *h, size_t bs, size_t ms, const uint32_t *log, size_t n)
{
    size_t last = h->last, i = 0;
    for (; i < n; i++) {
        size_t off = log[2 * i], size = log[2 * i + 1], need = size ? size : 1;
        if (i >= h->slots || size > ms || off < last || off > bs || need > bs - off) break;
        last = off + need;
    }
    return i;
}

static int same_head(const region_pool_head_t *a, const region_pool_head_t *b)
{
    return a->base == b->base && a->chunk == b->chunk && a->gen == b->gen && a->last == b->last && a->slots == b->slots;
}

/* Record n pairs under (chunk, gen) and want exactly `want` recorded: the head's bump offset,
 * its slots and the stats move by those and nothing else; the pairs after them are no
 * allocations. */
static int record_expect(region_pool_t *p, uint32_t chunk, uint64_t gen, const uint32_t *log, size_t n, size_t want)
{
    region_pool_stats_t s0 = stats(p), s1;
    region_pool_head_t h0, h1;
    memset(&h0, 0, sizeof h0);
    int hrc = region_pool_head(p, &h0);
    size_t got = region_pool_record_head(p, chunk, gen, log, n);
    HCHECKF(got == want, "recorded %zu of %zu pairs, want %zu", got, n, want);
    HCHECK(check_ok(p));
    s1 = stats(p);
    if (want == 0) {
        HCHECK(same_stats(&s0, &s1));
        HCHECK(region_pool_head(p, &h1) == hrc);
        HCHECK(hrc != REGION_POOL_OK || same_head(&h0, &h1));
        return 1;
    }
    HCHECK(hrc == REGION_POOL_OK && chunk == h0.chunk && gen == h0.gen);
    size_t bytes = 0, end = h0.last;
    for (size_t i = 0; i < want; i++) {
        bytes += log[2 * i + 1];
        end = log[2 * i] + (log[2 * i + 1] ? log[2 * i + 1] : 1);
    }
    HCHECKF(s1.allocations == s0.allocations + want, "allocations %zu, was %zu", s1.allocations, s0.allocations);
    HCHECKF(s1.used == s0.used + bytes, "used %zu, was %zu + %zu", s1.used, s0.used, bytes);
    HCHECK(s1.peak_used == (s1.used > s0.peak_used ? s1.used : s0.peak_used));
    HCHECK(s1.available == s0.available - (end - h0.last));
    HCHECK(s1.wasted == s0.wasted + (end - h0.last) - bytes);
    HCHECK(s1.reserved == s0.reserved && s1.blocks == s0.blocks && s1.large_blocks == s0.large_blocks &&
           s1.large_bytes == s0.large_bytes && s1.spare_blocks == s0.spare_blocks &&
           s1.failed_allocations == s0.failed_allocations && s1.cleanups == s0.cleanups);
    HCHECK(region_pool_head(p, &h1) == REGION_POOL_OK);
    HCHECK(h1.base == h0.base && h1.chunk == h0.chunk && h1.gen == h0.gen);
    HCHECKF(h1.last == end && h1.slots == h0.slots - want, "head last %zu slots %zu, want %zu %zu", h1.last, h1.slots,
            end, h0.slots - want);
    region_pool_chunk_info_t ci;
    HCHECK(region_pool_chunk_info(p, h0.chunk, &ci) == REGION_POOL_OK && ci.used == end && ci.gen == h0.gen);
    for (size_t i = 0; i < n; i++) {
        size_t off = log[2 * i], sz = SIZE_MAX;
        int rc = region_pool_state_at(p, h0.chunk, off, h0.gen, &sz);
        if (i < want)
            HCHECKF(rc == REGION_POOL_OK && sz == log[2 * i + 1], "pair %zu (%zu, %u): state %d size %zu", i, off,
                    log[2 * i + 1], rc, sz);
        else if (off >= end)
            HCHECKF(rc == REGION_POOL_ERR_FOREIGN, "unrecorded pair %zu at %zu: state %d", i, off, rc);
    }
    return 1;
}

typedef struct walked {
    uint32_t chunk;
    size_t offset, size;
    int state;
} walked_t;
typedef struct walk_buf {
    walked_t w[JB_MAX];
    size_t n;
} walk_buf_t;
static walk_buf_t g_walk[2];
static int collect_walk(const region_pool_block_info_t *b, void *user)
{
    walk_buf_t *wb = user;
    if (wb->n < JB_MAX) {
        wb->w[wb->n].chunk = b->chunk;
        wb->w[wb->n].offset = b->offset;
        wb->w[wb->n].size = b->size;
        wb->w[wb->n].state = b->state;
        wb->n++;
    }
    return 0;
}

/* Two pools with the same history, one allocating natively, one by recorded bumps: the same
 * picture through every inspection entry point. */
static int same_pictures(const region_pool_t *a, const region_pool_t *b)
{
    HCHECK(check_ok(a));
    HCHECK(check_ok(b));
    region_pool_stats_t sa = stats(a), sb = stats(b);
    HCHECKF(same_stats(&sa, &sb),
            "stats differ: used %zu/%zu peak %zu/%zu allocations %zu/%zu wasted %zu/%zu available %zu/%zu", sa.used,
            sb.used, sa.peak_used, sb.peak_used, sa.allocations, sb.allocations, sa.wasted, sb.wasted, sa.available,
            sb.available);
    g_walk[0].n = g_walk[1].n = 0;
    HCHECK(region_pool_walk(a, collect_walk, &g_walk[0]) == REGION_POOL_OK);
    HCHECK(region_pool_walk(b, collect_walk, &g_walk[1]) == REGION_POOL_OK);
    HCHECKF(g_walk[0].n == g_walk[1].n, "walks of %zu and %zu entries", g_walk[0].n, g_walk[1].n);
    for (size_t i = 0; i < g_walk[0].n; i++) {
        const walked_t *x = &g_walk[0].w[i], *y = &g_walk[1].w[i];
        HCHECKF(x->chunk == y->chunk && x->offset == y->offset && x->size == y->size && x->state == y->state,
                "walk entry %zu: (%u, %zu, %zu, %d) vs (%u, %zu, %zu, %d)", i, x->chunk, x->offset, x->size, x->state,
                y->chunk, y->offset, y->size, y->state);
    }
    region_pool_head_t ha, hb;
    int ra = region_pool_head(a, &ha), rb = region_pool_head(b, &hb);
    HCHECK(ra == rb);
    if (ra == REGION_POOL_OK)
        HCHECK(ha.chunk == hb.chunk && ha.gen == hb.gen && ha.last == hb.last && ha.slots == hb.slots);
    HCHECK(region_pool_chunk_limit(a) == region_pool_chunk_limit(b));
    for (uint32_t id = 0; id < region_pool_chunk_limit(a); id++) {
        region_pool_chunk_info_t ca, cb;
        int qa = region_pool_chunk_info(a, id, &ca), qb = region_pool_chunk_info(b, id, &cb);
        HCHECK(qa == qb);
        if (qa == REGION_POOL_OK)
            HCHECKF(ca.kind == cb.kind && ca.gen == cb.gen && ca.live == cb.live && ca.used == cb.used &&
                        ca.bytes == cb.bytes,
                    "chunk %u: live %zu/%zu used %zu/%zu", id, ca.live, cb.live, ca.used, cb.used);
    }
    return 1;
}

static void head_reports_the_open_block(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    CHECK(p);
    region_pool_head_t h, h2;
    uint32_t log[4] = {0, 8, 8, 8};
    /* a new pool: no block at all */
    CHECK_EQ(region_pool_head(p, &h), REGION_POOL_ERR_INVALID);
    CHECK_EQ(region_pool_head(NULL, &h), REGION_POOL_ERR_INVALID);
    CHECK_EQ(region_pool_head(p, NULL), REGION_POOL_ERR_INVALID);
    CHECK_HELPER(record_expect(p, 0, 1, log, 2, 0));
    CHECK_EQU(region_pool_record_head(NULL, 0, 1, log, 2), 0);
    CHECK_EQU(stats(p).blocks, 0);
    CHECK_EQU(t->maps, 0);
    /* after a palloc: the block it landed in, bump offset after it, its entries table minus one */
    region_pool_ref_t a;
    CHECK(region_pool_alloc_ref(p, 10, 0, 0, &a) == REGION_POOL_OK);
    CHECK_EQ(region_pool_head(p, &h), REGION_POOL_OK);
    CHECK(h.base == a.ptr);
    CHECK_EQ(h.chunk, a.chunk);
    CHECK_EQU(h.gen, a.gen);
    CHECK_EQU(h.last, 10);
    CHECK_EQU(h.slots, 1024 / 16 - 1);
    region_pool_chunk_info_t ci;
    CHECK(region_pool_chunk_info(p, h.chunk, &ci) == REGION_POOL_OK);
    CHECK(ci.kind == REGION_POOL_CHUNK_BLOCK && ci.base == h.base && ci.gen == h.gen && ci.used == h.last);
    unsigned char *b = region_pool_pnalloc(p, 3), *c = region_pool_palloc(p, 1), *d = region_pool_palloc(p, 0);
    CHECK(b == (unsigned char *)h.base + 10 && c == (unsigned char *)h.base + 16 && d == (unsigned char *)h.base + 24);
    CHECK_EQ(region_pool_head(p, &h), REGION_POOL_OK);
    CHECK_EQU(h.last, 25); /* the fast path's pending bump, without a sync */
    CHECK_EQU(h.slots, 1024 / 16 - 4);
    /* large blocks and frees that rewind nothing leave the head alone */
    void *L = region_pool_palloc(p, 5000);
    CHECK(L);
    CHECK(region_pool_free(p, b) == REGION_POOL_OK);
    CHECK(region_pool_free(p, L) == REGION_POOL_OK);
    CHECK_EQ(region_pool_head(p, &h2), REGION_POOL_OK);
    CHECK(same_head(&h, &h2));
    /* reset: every block is a spare, none open */
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    CHECK_EQ(region_pool_head(p, &h2), REGION_POOL_ERR_INVALID);
    CHECK_HELPER(record_expect(p, h.chunk, h.gen, log, 2, 0));
    CHECK(region_pool_palloc(p, 8) == h.base); /* the spare comes back, rewound */
    CHECK_EQ(region_pool_head(p, &h2), REGION_POOL_OK);
    CHECK(h2.chunk == h.chunk && h2.gen > h.gen && h2.last == 8 && h2.slots == 1024 / 16 - 1 && h2.base == h.base);
    CHECK_HELPER(record_expect(p, h.chunk, h.gen, log + 2, 1, 0)); /* the old generation */
    /* every block closed: the only block fails five requests while the provider refuses a new one */
    void *big = region_pool_palloc(p, 1000); /* 8..1008: 16 bytes left */
    CHECK(big);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(region_pool_head(p, &h), REGION_POOL_OK);
        CHECK_EQ(h.chunk, h2.chunk);
        t->fail_in = 1;
        CHECK(region_pool_palloc(p, 100) == NULL);
        CHECK_EQ(t->fail_in, 0);
    }
    t->fail_in = 0;
    CHECK_EQ(region_pool_head(p, &h), REGION_POOL_ERR_INVALID);
    region_pool_stats_t s = stats(p);
    CHECK_EQU(s.blocks, 1);
    CHECK_EQU(s.spare_blocks, 0);
    CHECK_EQU(s.available, 0);
    CHECK_EQU(s.wasted, 16);
    CHECK_EQU(s.allocations, 2);
    CHECK_EQU(s.failed_allocations, 5);
    uint32_t fits[2] = {1008, 8}; /* would fit the closed block's tail */
    CHECK_HELPER(record_expect(p, h2.chunk, h2.gen, fits, 1, 0));
    CHECK(region_pool_free(p, big) == REGION_POOL_OK); /* one left: still closed */
    CHECK_EQ(region_pool_head(p, &h), REGION_POOL_ERR_INVALID);
    CHECK(region_pool_free(p, h2.base) == REGION_POOL_OK); /* none left: rewound and reopened */
    CHECK_EQ(region_pool_head(p, &h), REGION_POOL_OK);
    CHECK(h.chunk == h2.chunk && h.gen > h2.gen && h.last == 0 && h.slots == 1024 / 16);
    CHECK_HELPER(record_expect(p, h.chunk, h.gen, log, 2, 2));
    CHECK(destroy_ok(p, t));
}

/* Allocations bumped and recorded are in every way the ones palloc/pnalloc make: pool B
 * bumps what pool A allocates natively, both are compared after every step. */
static void bumped_allocations_behave_like_native_ones(void)
{
    tracker_t *ta = new_tracker(), *tb = new_tracker();
    region_pool_t *A = new_pool_with(ta, 8192, 4096), *B = new_pool_with(tb, 8192, 4096);
    CHECK(A && B);
    const size_t ms = region_pool_max_small(B);
    CHECK_EQU(ms, 4095);
    bumper_t *jb = tu_alloc(sizeof *jb);
    region_pool_ref_t a0, b0;
    CHECK(region_pool_alloc_ref(A, 5, 0, REGION_POOL_UNALIGNED, &a0) == REGION_POOL_OK);
    CHECK(region_pool_alloc_ref(B, 5, 0, REGION_POOL_UNALIGNED, &b0) == REGION_POOL_OK);
    static const struct {
        size_t size;
        int unaligned;
    } seq[] = {{3, 1},  {0, 0}, {5, 0},    {0, 1},  {1, 1}, {4095, 0}, {7, 1}, {0, 0},
               {100, 0}, {2000, 1}, {13, 1}, {0, 1}, {8, 0}};
    enum { N = sizeof seq / sizeof seq[0] };
    region_pool_ref_t ra[N], rb[N];
    int live[N];
    CHECK(take_head(B, jb));
    CHECK_EQU(jb->h.last, 5);
    for (size_t i = 0; i < N; i++) {
        size_t size = seq[i].size;
        int un = seq[i].unaligned;
        if (i % 2) {
            void *q = un ? region_pool_pnalloc(A, size) : region_pool_palloc(A, size);
            CHECK(q && region_pool_locate(A, q, &ra[i]) == REGION_POOL_OK);
            ra[i].size = size;
        } else {
            CHECK(region_pool_alloc_ref(A, size, 0, un ? REGION_POOL_UNALIGNED : 0, &ra[i]) == REGION_POOL_OK);
        }
        long off = jb_bump(jb, size, un);
        CHECKF(off >= 0 && (size_t)off == ra[i].offset, "pair %zu at %ld, native at %zu", i, off, ra[i].offset);
        CHECK_EQ(ra[i].chunk, jb->h.chunk);
        rb[i] = jb_ref(jb, i);
        live[i] = 1;
        pat_fill(ra[i].ptr, size, 0xA000 + i);
        pat_fill(rb[i].ptr, size, 0xB000 + i);
    }
    CHECK(seq[5].size == ms);
    /* not recorded yet: the pool knows nothing of them */
    CHECK_EQU(stats(B).allocations, 1);
    CHECK_EQ(region_pool_state_at(B, rb[0].chunk, rb[0].offset, rb[0].gen, NULL), REGION_POOL_ERR_FOREIGN);
    CHECK(check_ok(B));
    CHECK_HELPER(record_expect(B, jb->h.chunk, jb->h.gen, jb->log, jb->count, N));
    CHECK_HELPER(same_pictures(A, B));
    region_pool_stats_t s = stats(B);
    size_t used = 5;
    for (size_t i = 0; i < N; i++) used += seq[i].size;
    CHECK_EQU(s.used, used);
    CHECK_EQU(s.allocations, N + 1);
    CHECK_EQU(s.peak_used, used);
    CHECK(block_identity(B, used));
    /* every offset of the block answers the same in both pools */
    for (size_t off = 0; off < 8192 + 8; off++) {
        size_t za = 77, zb = 77;
        int qa = region_pool_state_at(A, ra[0].chunk, off, ra[0].gen, &za);
        int qb = region_pool_state_at(B, rb[0].chunk, off, rb[0].gen, &zb);
        CHECKF(qa == qb && za == zb, "offset %zu: %d/%d, size %zu/%zu", off, qa, qb, za, zb);
    }
    /* locate, interior and beyond-the-bump frees */
    for (size_t i = 0; i < N; i++) {
        region_pool_ref_t l;
        CHECK(region_pool_locate(B, rb[i].ptr, &l) == REGION_POOL_OK);
        CHECK(l.chunk == rb[i].chunk && l.offset == rb[i].offset && l.gen == rb[i].gen);
        if (rb[i].size >= 2) {
            CHECK_EQ(region_pool_free_at(B, rb[i].chunk, rb[i].offset + 1, rb[i].gen), REGION_POOL_ERR_FOREIGN);
            CHECK_EQ(region_pool_free(B, (unsigned char *)rb[i].ptr + rb[i].size - 1), REGION_POOL_ERR_FOREIGN);
            CHECK_EQ(region_pool_free(A, (unsigned char *)ra[i].ptr + rb[i].size - 1), REGION_POOL_ERR_FOREIGN);
        }
    }
    CHECK_EQ(region_pool_free_at(B, jb->h.chunk, jb->bump, jb->h.gen), REGION_POOL_ERR_FOREIGN);
    CHECK_HELPER(same_pictures(A, B));
    /* free in a mixed order, by handle and by pointer; double frees refused the same way */
    static const size_t order[] = {5, 0, N - 1, 2, 7, 1, 3, 4, 6, 8, 9, 10, 11};
    CHECK_EQU(sizeof order / sizeof order[0], N);
    for (size_t k = 0; k < N; k++) {
        size_t i = order[k];
        CHECK(live[i]);
        CHECK(pat_ok(rb[i].ptr, rb[i].size, 0xB000 + i));
        int qa = k % 2 ? region_pool_free(A, ra[i].ptr) : region_pool_free_at(A, ra[i].chunk, ra[i].offset, ra[i].gen);
        int qb = k % 2 ? region_pool_free(B, rb[i].ptr) : region_pool_free_at(B, rb[i].chunk, rb[i].offset, rb[i].gen);
        CHECK_EQ(qa, REGION_POOL_OK);
        CHECK_EQ(qb, REGION_POOL_OK);
        live[i] = 0;
        CHECK_EQ(region_pool_free_at(B, rb[i].chunk, rb[i].offset, rb[i].gen), REGION_POOL_ERR_DOUBLE_FREE);
        CHECK_EQ(region_pool_free_at(A, ra[i].chunk, ra[i].offset, ra[i].gen), REGION_POOL_ERR_DOUBLE_FREE);
        size_t z;
        CHECK_EQ(region_pool_state_at(B, rb[i].chunk, rb[i].offset, rb[i].gen, &z), REGION_POOL_ERR_DOUBLE_FREE);
        for (size_t j = 0; j < N; j++)
            if (live[j]) CHECKF(pat_ok(rb[j].ptr, rb[j].size, 0xB000 + j), "pair %zu damaged", j);
        CHECK_HELPER(same_pictures(A, B));
    }
    /* the last one (the native first allocation): the block is rewound, with a new generation */
    region_pool_chunk_info_t ci;
    CHECK(region_pool_chunk_info(B, b0.chunk, &ci) == REGION_POOL_OK && ci.live == 1 && ci.gen == b0.gen);
    CHECK(region_pool_free(A, a0.ptr) == REGION_POOL_OK);
    CHECK(region_pool_free_at(B, b0.chunk, b0.offset, b0.gen) == REGION_POOL_OK);
    CHECK(region_pool_chunk_info(B, b0.chunk, &ci) == REGION_POOL_OK);
    CHECK(ci.live == 0 && ci.used == 0 && ci.gen != b0.gen);
    for (size_t i = 0; i < N; i++)
        CHECK_EQ(region_pool_state_at(B, rb[i].chunk, rb[i].offset, rb[i].gen, NULL), REGION_POOL_ERR_DOUBLE_FREE);
    s = stats(B);
    CHECK(s.used == 0 && s.allocations == 0 && s.wasted == 0 && s.available == 8192 && s.peak_used == used);
    CHECK_HELPER(same_pictures(A, B));
    CHECK_HELPER(record_expect(B, jb->h.chunk, jb->h.gen, jb->log, 1, 0)); /* the old lease */
    /* a new lease on the rewound block, from offset 0 */
    CHECK(take_head(B, jb));
    CHECK(jb->h.chunk == b0.chunk && jb->h.gen == ci.gen && jb->h.last == 0 && jb->h.slots == 8192 / 16);
    for (size_t i = 0; i < N; i++) {
        CHECK(region_pool_alloc_ref(A, seq[i].size, 0, seq[i].unaligned ? REGION_POOL_UNALIGNED : 0, &ra[i]) ==
              REGION_POOL_OK);
        CHECK_EQ(jb_bump(jb, seq[i].size, seq[i].unaligned), (long)ra[i].offset);
    }
    CHECK_HELPER(record_expect(B, jb->h.chunk, jb->h.gen, jb->log, jb->count, N));
    CHECK_HELPER(same_pictures(A, B));
    CHECK(destroy_ok(A, ta));
    CHECK(destroy_ok(B, tb));
}

/* Every kind of bad pair ends the recording there: the pairs before it are recorded, it and
 * the ones after are not, and nothing else changes. */
static void record_head_takes_the_longest_valid_prefix(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 8192, 4096);
    CHECK(p);
    const uint32_t ms = (uint32_t)region_pool_max_small(p), bs = 8192;
    CHECK_EQU(ms, 4095);
    region_pool_ref_t a;
    CHECK(region_pool_alloc_ref(p, 10, 0, 0, &a) == REGION_POOL_OK);
    region_pool_head_t h;
    CHECK(region_pool_head(p, &h) == REGION_POOL_OK && h.last == 10 && h.slots == 511);
    const uint32_t c = h.chunk;
    const uint64_t g = h.gen;
#define REC(want, ...)                                                                                                 \
    do {                                                                                                               \
        const uint32_t lg_[] = {__VA_ARGS__};                                                                          \
        CHECK_HELPER(record_expect(p, c, g, lg_, sizeof lg_ / sizeof lg_[0] / 2, (want)));                             \
    } while (0)
    /* below the bump offset: the first pair, or after valid ones */
    REC(0, 9, 4);
    REC(0, 0, 0);
    REC(0, 9, 0, 16, 8);
    REC(2, 16, 8, 24, 8, 31, 1, 40, 1); /* 31 < 32 */
    /* overlapping the previous one (the bump offset moved to its end) */
    REC(1, 32, 8, 36, 4, 48, 1);
    REC(0, 32, 8); /* the same start again */
    REC(0, 39, 1);
    /* right at the previous end (unaligned), size 0 (one byte), a gap: all fine */
    REC(5, 40, 3, 43, 0, 44, 0, 45, 1, 100, 5); /* last 105 */
    /* not small: max_small + 1 would fit the block */
    REC(0, 105, ms + 1);
    REC(0, 105, UINT32_MAX);
    REC(0, 105, 0x80000000u); /* the entries' freed bit */
    REC(1, 112, 8, 120, ms + 1, 9000, 1);
    /* max_small exactly is fine */
    REC(1, 120, ms); /* last 4215 */
    /* the end beyond the block */
    REC(0, bs - 2, 3);
    REC(0, bs, 0);
    REC(0, bs + 100, 1);
    REC(0, UINT32_MAX, 0);
    REC(0, UINT32_MAX - 2, 3);
    REC(0, bs - ms + 1, ms);
    REC(1, 4215, 8, bs - 1, 2, bs - 1, 1); /* (bs - 1, 2) ends at bs + 1 */
    /* ending exactly at the block's end is fine: one byte for size 0, then the block is full */
    REC(2, 5000, ms - 1 - 1000, bs - 1, 0, bs, 0);
    CHECK(region_pool_head(p, &h) == REGION_POOL_OK && h.last == bs);
    REC(0, bs, 0);
    REC(0, bs - 1, 0);
    /* a native request goes to another block; the full head stays and takes nothing */
    void *x = region_pool_pnalloc(p, 1);
    CHECK(x && ref_of(p, x).chunk != c);
    CHECK(region_pool_head(p, &h) == REGION_POOL_OK && h.chunk == c && h.last == bs);
    /* wrong chunk, wrong generation; no log, no pairs */
    const uint32_t one[2] = {bs - 1, 0};
    region_pool_stats_t s0 = stats(p);
    CHECK_EQU(region_pool_record_head(p, ref_of(p, x).chunk, ref_of(p, x).gen, one, 1), 0);
    CHECK_EQU(region_pool_record_head(p, c, g, NULL, 3), 0);
    CHECK_EQU(region_pool_record_head(p, c, g, one, 0), 0);
    region_pool_stats_t s1 = stats(p);
    CHECK(same_stats(&s0, &s1));
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));

    /* more pairs than slots: the entries table is not grown; a native allocation grows it */
    t = new_tracker();
    p = new_pool_with(t, 1024, 4096);
    CHECK(p);
    void *first = region_pool_pnalloc(p, 1);
    CHECK(first);
    CHECK(region_pool_head(p, &h) == REGION_POOL_OK && h.last == 1 && h.slots == 63);
    uint32_t many[2 * 70];
    for (uint32_t i = 0; i < 70; i++) {
        many[2 * i] = 1 + i;
        many[2 * i + 1] = 1;
    }
    CHECK_HELPER(record_expect(p, h.chunk, h.gen, many, 70, 63));
    CHECK(region_pool_head(p, &h) == REGION_POOL_OK && h.last == 64 && h.slots == 0);
    CHECK_HELPER(record_expect(p, h.chunk, h.gen, many + 2 * 63, 1, 0));
    unsigned char *y = region_pool_pnalloc(p, 1); /* grows the table, lands in the head */
    CHECK(y == (unsigned char *)first + 64);
    CHECK(region_pool_head(p, &h) == REGION_POOL_OK && h.last == 65 && h.slots == 128 - 65);
    CHECK_HELPER(record_expect(p, h.chunk, h.gen, many + 2 * 64, 6, 6));
    CHECK_EQU(stats(p).allocations, 1 + 63 + 1 + 6);
    /* after a rewind the old generation records nothing, the new one does */
    const uint32_t c2 = h.chunk;
    const uint64_t g2 = h.gen;
    CHECK(region_pool_free(p, first) == REGION_POOL_OK);
    CHECK(region_pool_free(p, y) == REGION_POOL_OK);
    for (uint32_t i = 0; i < 70; i++)
        if (i != 63) CHECK_EQ(region_pool_free_at(p, c2, 1 + i, g2), REGION_POOL_OK);
    CHECK(region_pool_head(p, &h) == REGION_POOL_OK && h.chunk == c2 && h.gen != g2 && h.last == 0);
    CHECK_EQU(stats(p).allocations, 0);
    const uint32_t zero[4] = {0, 16, 16, 16};
    CHECK_HELPER(record_expect(p, c2, g2, zero, 2, 0));
    CHECK_HELPER(record_expect(p, c2, h.gen, zero, 2, 2));
    /* after a reset: nothing open; then the block is back with a new generation */
    const uint64_t g3 = h.gen;
    CHECK(region_pool_reset(p) == REGION_POOL_OK);
    CHECK_HELPER(record_expect(p, c2, g3, zero, 2, 0));
    CHECK(region_pool_palloc(p, 8) == first);
    CHECK(region_pool_head(p, &h) == REGION_POOL_OK && h.chunk == c2 && h.gen > g3);
    const uint32_t after8[2] = {8, 8};
    CHECK_HELPER(record_expect(p, c2, g3, after8, 1, 0));
    CHECK_HELPER(record_expect(p, c2, h.gen, after8, 1, 1));
    CHECK(destroy_ok(p, t));
#undef REC
}

/* Bumps and native calls in turn: a native palloc lands after the recorded pairs, the next
 * lease bumps from after it; a lease taken before a native call is refused; a head that
 * fails a request keeps taking bumps until the skip rule closes it. */
static void bumps_interleave_with_native_calls(void)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, 1024, 4096);
    CHECK(p);
    bumper_t *jb = tu_alloc(sizeof *jb), *old = tu_alloc(sizeof *old);
    region_pool_ref_t r[64];
    size_t n = 0, used = 0;
#define NATIVE(call, sz)                                                                                               \
    do {                                                                                                               \
        void *q_ = (call);                                                                                             \
        CHECK(q_ != NULL);                                                                                             \
        r[n] = ref_of(p, q_);                                                                                          \
        r[n].size = (sz);                                                                                              \
        used += (sz);                                                                                                  \
        n++;                                                                                                           \
    } while (0)
    NATIVE(region_pool_palloc(p, 5), 5);
    CHECK(take_head(p, jb));
    const uint32_t c0 = jb->h.chunk;
    const uint64_t g0 = jb->h.gen;
    unsigned char *base = jb->h.base;
    CHECK_EQ(jb_bump(jb, 8, 0), 8);
    CHECK_EQ(jb_bump(jb, 3, 1), 16);
    CHECK_EQ(jb_bump(jb, 0, 0), 24);
    CHECK_HELPER(record_expect(p, c0, g0, jb->log, jb->count, 3));
    for (size_t i = 0; i < 3; i++) {
        r[n] = jb_ref(jb, i);
        used += r[n].size;
        n++;
    }
    *old = *jb;
    /* native calls land after the recorded pairs, in the same block */
    NATIVE(region_pool_palloc(p, 10), 10);
    CHECK(r[n - 1].ptr == base + 32 && r[n - 1].chunk == c0 && r[n - 1].gen == g0);
    NATIVE(region_pool_pnalloc(p, 1), 1);
    CHECK(r[n - 1].ptr == base + 42);
    /* the old lease's next bumps would overlap them: refused */
    CHECK_EQ(jb_bump(old, 4, 1), 25);
    CHECK_HELPER(record_expect(p, c0, g0, old->log + 6, 1, 0));
    /* a new lease bumps after the native ones */
    CHECK(take_head(p, jb));
    CHECK(jb->h.chunk == c0 && jb->h.gen == g0 && jb->h.last == 43 && jb->h.slots == 64 - 6);
    CHECK_EQ(jb_bump(jb, 100, 0), 48);
    CHECK_EQ(jb_bump(jb, 1, 1), 148);
    CHECK_HELPER(record_expect(p, c0, g0, jb->log, jb->count, 2));
    for (size_t i = 0; i < 2; i++) {
        r[n] = jb_ref(jb, i);
        used += r[n].size;
        n++;
    }
    NATIVE(region_pool_palloc(p, 16), 16);
    CHECK(r[n - 1].ptr == base + 152);
    region_pool_stats_t s = stats(p);
    CHECK_EQU(s.used, used);
    CHECK_EQU(s.allocations, n);
    CHECK(block_identity(p, used));
    /* the walk lists them in address order, each with its size */
    g_walk[0].n = 0;
    CHECK(region_pool_walk(p, collect_walk, &g_walk[0]) == REGION_POOL_OK);
    CHECK_EQU(g_walk[0].n, n + 1);
    for (size_t i = 0; i < n; i++) {
        CHECK(g_walk[0].w[i].chunk == c0 && g_walk[0].w[i].offset == r[i].offset && g_walk[0].w[i].size == r[i].size &&
              g_walk[0].w[i].state == REGION_POOL_BLOCK_USED);
        CHECK(i == 0 || r[i].offset > r[i - 1].offset);
    }
    CHECK(g_walk[0].w[n].offset == 168 && g_walk[0].w[n].size == 1024 - 168 &&
          g_walk[0].w[n].state == REGION_POOL_BLOCK_TAIL);
    /* the head cannot fit a request: it goes native, to a new block at the tail; the head stays */
    CHECK(take_head(p, jb));
    for (size_t i = 0; i < 4; i++) CHECK_EQ(jb_bump(jb, 200, 0), 168 + 200 * (long)i);
    CHECK_EQ(jb_bump(jb, 200, 0), -1);
    CHECK_HELPER(record_expect(p, c0, g0, jb->log, jb->count, 4));
    for (size_t i = 0; i < 4; i++) {
        r[n] = jb_ref(jb, i);
        used += r[n].size;
        n++;
    }
    NATIVE(region_pool_palloc(p, 200), 200);
    const uint32_t c1 = r[n - 1].chunk;
    CHECK(c1 != c0 && r[n - 1].offset == 0);
    CHECK(take_head(p, jb));
    CHECK(jb->h.chunk == c0 && jb->h.gen == g0 && jb->h.last == 968);
    CHECK_EQ(jb_bump(jb, 50, 1), 968);
    CHECK_HELPER(record_expect(p, c0, g0, jb->log, jb->count, 1));
    r[n] = jb_ref(jb, 0);
    used += 50;
    n++;
    *old = *jb;
    /* a free in the head (not its last allocation) changes nothing for the lease */
    CHECK(region_pool_free_at(p, r[2].chunk, r[2].offset, r[2].gen) == REGION_POOL_OK);
    used -= r[2].size;
    r[2].size = SIZE_MAX; /* freed */
    CHECK(take_head(p, jb));
    CHECK(jb->h.chunk == c0 && jb->h.gen == g0 && jb->h.last == 1018);
    CHECK_EQ(jb_bump(jb, 6, 1), 1018);
    CHECK_HELPER(record_expect(p, c0, g0, jb->log, jb->count, 1));
    r[n] = jb_ref(jb, 0);
    used += 6;
    n++; /* the head is full now */
    /* four more failures (five in all) close the head: the next block is the head */
    for (int i = 0; i < 4; i++) {
        NATIVE(region_pool_palloc(p, 200), 200);
        CHECK(r[n - 1].chunk == c1 && r[n - 1].offset == 200 * (size_t)(i + 1));
    }
    CHECK(take_head(p, jb));
    CHECK(jb->h.chunk == c1 && jb->h.last == 1000);
    CHECK_HELPER(record_expect(p, c0, g0, old->log, 1, 0));
    s = stats(p);
    CHECK_EQU(s.used, used);
    CHECK_EQU(s.allocations, n - 1);
    CHECK(block_identity(p, used));
    g_walk[0].n = 0;
    CHECK(region_pool_walk(p, collect_walk, &g_walk[0]) == REGION_POOL_OK);
    int closed_tail = 0;
    for (size_t i = 0; i < g_walk[0].n; i++)
        if (g_walk[0].w[i].chunk == c0 && g_walk[0].w[i].state == REGION_POOL_BLOCK_CLOSED_TAIL) closed_tail = 1;
    CHECK(!closed_tail); /* block 0 is full to its last byte: no tail at all */
    CHECK(region_pool_chunk_info(p, c0, &(region_pool_chunk_info_t){0}) == REGION_POOL_OK);
    /* free all of block 0: rewound, reopened at the head with a new generation */
    for (size_t i = 0; i < n; i++)
        if (r[i].chunk == c0 && r[i].size != SIZE_MAX)
            CHECKF(region_pool_free_at(p, c0, r[i].offset, r[i].gen) == REGION_POOL_OK, "free of %zu", i);
    CHECK(take_head(p, jb));
    CHECK(jb->h.chunk == c0 && jb->h.gen != g0 && jb->h.last == 0 && jb->h.slots == 64);
    CHECK_EQ(jb_bump(jb, 7, 1), 0);
    CHECK_EQ(jb_bump(jb, 9, 0), 8);
    CHECK_HELPER(record_expect(p, c0, jb->h.gen, jb->log, jb->count, 2));
    void *z = region_pool_pnalloc(p, 1);
    CHECK(z == base + 17);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
#undef NATIVE
}

/* ---- seeded random test: recorded bumps and native calls against the shadow ------------------- */

static int rb_native(region_pool_t *p, rstate_t *st, const tracker_t *t, rng_t *g, uint64_t *patctr, size_t size,
                     int unaligned)
{
    const size_t ms = region_pool_max_small(p);
    region_pool_ref_t r;
    int rc;
    int fit = size > ms ? r_fit(p, st, size, 0) : -1;
    size_t maps = t->maps, created = t->created;
    if (size <= ms && below(g, 2)) {
        void *q = unaligned ? region_pool_pnalloc(p, size) : region_pool_palloc(p, size);
        rc = q ? region_pool_locate(p, q, &r) : REGION_POOL_ERR_NOMEM;
        r.size = size;
    } else {
        rc = region_pool_alloc_ref(p, size, 0, unaligned ? REGION_POOL_UNALIGNED : 0, &r);
    }
    HCHECKF(rc == REGION_POOL_OK, "native alloc(%zu) = %d", size, rc);
    if (size > ms) HCHECK(r_served(p, st, t, &r, fit, maps, created));
    uint64_t pat = mix(++*patctr);
    pat_fill(r.ptr, size, pat);
    return r_add(st, &r, unaligned || size > ms ? 1 : REGION_POOL_ALIGNMENT, size > ms, pat, ms, size, 0);
}

/* A pair that no pool may record at this point of the log (the lease's bump offset is jb->bump). */
static void jb_bad(bumper_t *jb, rng_t *g, size_t ms)
{
    size_t cur = jb->bump, bs = jb->bs;
    unsigned how = (unsigned)below(g, 5);
    if (how == 0 && cur > 0) { /* below the bump offset */
        size_t back = 1 + below(g, cur < 16 ? cur : 16);
        jb_put(jb, (uint32_t)(cur - back), (uint32_t)below(g, 8));
    } else if (how == 1 && jb->count > 0) { /* overlapping the previous pair */
        size_t po = jb->log[2 * (jb->count - 1)], ps = jb->log[2 * (jb->count - 1) + 1];
        jb_put(jb, (uint32_t)(po + below(g, ps ? ps : 1)), (uint32_t)below(g, 8));
    } else if (how == 2) { /* the end beyond the block */
        size_t k = below(g, 4);
        jb_put(jb, (uint32_t)(bs - k), (uint32_t)(k + 1 + below(g, 8)));
    } else if (how == 3) { /* at or beyond the block's end */
        jb_put(jb, (uint32_t)(bs + below(g, 2) * below(g, 1u << 20)), 0);
    } else { /* not small */
        jb_put(jb, (uint32_t)cur, (uint32_t)(ms + 1 + below(g, 5000)));
    }
}

static void run_random_bumps(uint64_t seed, size_t block_size, long ops, unsigned keep)
{
    tracker_t *t = new_tracker();
    region_pool_t *p = new_pool_with(t, block_size, 0);
    CHECK(p);
    const size_t ms = region_pool_max_small(p);
    rstate_t *st = tu_alloc(sizeof *st);
    r_set_keep(st, keep);
    if (keep) CHECK(region_pool_keep_large(p, keep) == REGION_POOL_OK);
    long kept_frees = 0;
    bumper_t *jb = tu_alloc(sizeof *jb);
    rng_t g = {seed ^ 0xb0a7b0a7ull};
    uint64_t patctr = seed << 24;
    long batches = 0, bumped = 0, bad = 0, over_slots = 0, stale = 0, natives = 0, frees = 0, rewinds = 0, resets = 0,
         rejected = 0, no_head = 0;
    for (long op = 1; op <= ops; op++) {
        CHECKF(r_op_done(p, st, t), "op %ld", op - 1); /* the previous op's releases, the kept blocks */
        unsigned kind = (unsigned)below(&g, 1000);
        if (kind < 2 && op > 1000) { /* reset */
            CHECK(region_pool_reset(p) == REGION_POOL_OK);
            r_release_all(st);
            for (size_t i = 0; i < st->n; i++) st->freed[st->nfreed++ % RFREED] = (rfreed_t){st->live[i].r, st->epoch};
            st->n = 0;
            st->used = st->used_small = st->nlarge = 0;
            memset(st->chunk_live, 0, sizeof st->chunk_live);
            st->epoch++;
            resets++;
            region_pool_head_t h;
            CHECK_EQ(region_pool_head(p, &h), REGION_POOL_ERR_INVALID);
        } else if (kind < 350 && st->n + 64 < RMAXLIVE) { /* a lease: bump a batch, record it */
            if (!take_head(p, jb)) { /* nothing open: the request goes native */
                no_head++;
                CHECK_HELPER(rb_native(p, st, t, &g, &patctr, below(&g, ms + 1), (int)below(&g, 2)));
                continue;
            }
            batches++;
            const region_pool_head_t h0 = jb->h;
            size_t want_n = 1 + below(&g, below(&g, 8) ? 12 : 48), bad_at = SIZE_MAX, miss = SIZE_MAX;
            int miss_unaligned = 0, pretend = below(&g, 16) == 0, between = below(&g, 25) == 0;
            if (below(&g, 8) == 0) bad_at = below(&g, want_n);
            if (pretend) jb->h.slots = JB_MAX; /* log past the slots, as no lease would */
            for (size_t i = 0; i < want_n; i++) {
                uint64_t x = next(&g);
                size_t size = pretend ? (size_t)(x >> 8) % 4 : x % 7 == 0 ? ms - (size_t)(x >> 8) % 3 : rand_size(&g, ms);
                int un = (x >> 4) % 3 == 0;
                if (size > ms) size = ms;
                if (i == bad_at) {
                    jb_bad(jb, &g, ms);
                    for (size_t k = below(&g, 3); k > 0; k--) (void)jb_bump(jb, below(&g, 40), 1);
                    break;
                }
                if (jb_bump(jb, size, un) < 0) {
                    miss = size;
                    miss_unaligned = un;
                    break;
                }
            }
            jb->h.slots = h0.slots;
            /* the protocol: nothing between the bumps and the record; now and then a native call
             * does come between (the lease is then refused from where the pool moved) */
            if (between) {
                stale++;
                if (st->n && below(&g, 2)) {
                    size_t i = below(&g, st->n);
                    rlive_t l = st->live[i];
                    CHECK(region_pool_free_at(p, l.r.chunk, l.r.offset, l.r.gen) == REGION_POOL_OK);
                    r_remove(st, i, 1);
                    if (l.large) r_release(st, &l);
                } else {
                    CHECK_HELPER(rb_native(p, st, t, &g, &patctr, below(&g, 64), (int)below(&g, 2)));
                }
            }
            region_pool_head_t now;
            size_t want = 0;
            if (region_pool_head(p, &now) == REGION_POOL_OK && now.chunk == h0.chunk && now.gen == h0.gen)
                want = expect_prefix(&now, block_size, ms, jb->log, jb->count);
            if (!between) {
                CHECK(same_head(&now, &h0));
                size_t bound = bad_at < jb->count ? bad_at : jb->count;
                if (!pretend) CHECKF(want == bound, "op %ld: %zu valid pairs, want %zu", op, want, bound);
                if (pretend && want < bound) over_slots++;
            }
            region_pool_stats_t s0 = stats(p);
            size_t got = region_pool_record_head(p, h0.chunk, h0.gen, jb->log, jb->count);
            CHECKF(got == want, "op %ld: recorded %zu of %zu pairs, want %zu (bad at %zu)", op, got, jb->count, want,
                   bad_at);
            if (got < jb->count) bad++;
            for (size_t i = 0; i < got; i++) {
                region_pool_ref_t r = jb_ref(jb, i);
                uint64_t pat = mix(++patctr);
                pat_fill(r.ptr, r.size, pat);
                CHECK_HELPER(r_add(st, &r, jb->unaligned[i] ? 1 : REGION_POOL_ALIGNMENT, 0, pat, ms, 0, 0));
            }
            bumped += (long)got;
            region_pool_stats_t s1 = stats(p);
            CHECKF(s1.allocations == st->n && s1.used == st->used, "op %ld: %zu allocations of %zu bytes, shadow %zu of %zu",
                   op, s1.allocations, s1.used, st->n, st->used);
            CHECK(s1.reserved == s0.reserved && s1.failed_allocations == s0.failed_allocations);
            if (got) {
                region_pool_head_t h1;
                CHECK(region_pool_head(p, &h1) == REGION_POOL_OK && h1.chunk == h0.chunk && h1.gen == h0.gen);
                for (size_t i = got; i < jb->count; i++)
                    if (jb->log[2 * i] >= h1.last)
                        CHECK_EQ(region_pool_state_at(p, h0.chunk, jb->log[2 * i], h0.gen, NULL), REGION_POOL_ERR_FOREIGN);
            }
            if (miss != SIZE_MAX && !between) { /* what did not fit the lease goes native */
                natives++;
                CHECK_HELPER(rb_native(p, st, t, &g, &patctr, miss, miss_unaligned));
            }
        } else if (kind < 500 && st->n < RMAXLIVE) { /* native palloc / pnalloc / alloc_ref, small or large */
            natives++;
            size_t size = rand_size(&g, ms);
            if (keep && (size > ms || below(&g, 12) == 0)) size = keep_size(&g, ms, 0);
            CHECK_HELPER(rb_native(p, st, t, &g, &patctr, size, below(&g, 3) == 0));
        } else if (kind < 950 && st->n) { /* free a few, by handle or by pointer */
            /* around a live count that moves between 32 and 1632 over the run */
            size_t target = 32 + (size_t)((op >> 12) % 5) * 400;
            for (size_t k = st->n > target ? 1 + below(&g, 8) : below(&g, 2); k > 0 && st->n; k--) {
                size_t i = below(&g, st->n);
                rlive_t l = st->live[i];
                CHECKF(pat_ok(l.r.ptr, l.r.size, l.pat), "op %ld: contents damaged before free", op);
                int rc = below(&g, 2) ? region_pool_free(p, l.r.ptr) : region_pool_free_at(p, l.r.chunk, l.r.offset, l.r.gen);
                CHECKF(rc == REGION_POOL_OK, "op %ld: free (%u, %zu) = %d", op, l.r.chunk, l.r.offset, rc);
                r_remove(st, i, 1);
                if (l.large) r_release(st, &l);
                frees++;
                if (l.large && region_pool_chunk_kept(p, l.r.chunk)) {
                    CHECK(keep && st->nkept && st->kept[st->nkept - 1].id == l.r.chunk);
                    CHECK_EQ(region_pool_free(p, l.r.ptr), REGION_POOL_ERR_DOUBLE_FREE);
                    kept_frees++;
                }
                if (!l.large && st->chunk_live[l.r.chunk] == 0) { /* its block's last: rewound */
                    region_pool_chunk_info_t ci;
                    CHECK(region_pool_chunk_info(p, l.r.chunk, &ci) == REGION_POOL_OK);
                    CHECKF(ci.live == 0 && ci.used == 0 && ci.gen != l.r.gen, "op %ld: block %u not rewound", op,
                           l.r.chunk);
                    region_pool_head_t h;
                    CHECK(region_pool_head(p, &h) == REGION_POOL_OK && h.chunk == l.r.chunk && h.gen == ci.gen);
                    rewinds++;
                }
            }
        } else if (st->nfreed) { /* a rejected free: double (same epoch) or stale (earlier epoch) */
            size_t k = below(&g, st->nfreed < RFREED ? st->nfreed : RFREED);
            rfreed_t f = st->freed[k];
            region_pool_stats_t before = stats(p);
            int rc = region_pool_free_at(p, f.r.chunk, f.r.offset, f.r.gen);
            int want = f.epoch == st->epoch ? REGION_POOL_ERR_DOUBLE_FREE : REGION_POOL_ERR_STALE;
            CHECKF(rc == want, "op %ld: rejected free = %d, want %d", op, rc, want);
            region_pool_stats_t after = stats(p);
            CHECK(same_stats(&before, &after));
            rejected++;
        }
        if (op % 1000 == 0) CHECK_HELPER(r_verify(p, st, t));
    }
    CHECKF(r_op_done(p, st, t), "op %ld", ops);
    CHECK_HELPER(r_verify(p, st, t));
    fprintf(stderr,
            "# random bumps: seed %" PRIu64 ", block %zu, %ld ops: %ld leases, %ld bumped, %ld cut short "
            "(%ld past the slots, %ld after a native call), %ld native, %ld frees, %ld rewinds, %ld resets, %ld "
            "rejected, %ld without a head, keep %u: %ld kept frees, %ld taken back, %ld oldest released for room\n",
            seed, block_size, ops, batches, bumped, bad, over_slots, stale, natives, frees, rewinds, resets, rejected,
            no_head, keep, kept_frees, st->taken, st->evicted);
    if (keep && ops >= 50000) CHECK(kept_frees > 10);
    if (ops >= 50000) {
        CHECK(bumped > ops / 8 && bad > 100 && stale > 100 && rewinds > 10 && resets > 10 && rejected > 1000);
        if (block_size == 256) CHECK(over_slots > 10); /* 16 slots a block */
    }
    CHECK(destroy_ok(p, t));
}

/* Three pools (max_small = block size with 16 slots a block; page-sized blocks; larger ones),
 * g_ops / 2 ops each (100,000 by default); then the same with keep_large on (counts 1..5). */
static void random_bumps_against_shadow(void)
{
    static const size_t blocks[] = {256, 4096, 16384};
    for (size_t i = 0; i < 3 && !tu_case_failed; i++) run_random_bumps(g_seed + 100 + i, blocks[i], g_ops / 2, 0);
    for (size_t i = 0; i < 3 && !tu_case_failed; i++)
        run_random_bumps(g_seed + 103 + i, blocks[i], g_ops / 2, 1 + (unsigned)((g_seed + 103 + i) % 5));
}

int main(int argc, char **argv)
{
    if (argc > 1) g_seed = strtoull(argv[1], NULL, 0);
    if (argc > 2) g_ops = strtol(argv[2], NULL, 0);
    TU_RUN(create_validates_options);
    TU_RUN(default_memory_aligns_blocks);
    TU_RUN(threshold_at_max_small);
    TU_RUN(palloc_aligns_pnalloc_does_not);
    TU_RUN(alloc_zero_is_valid_and_distinct);
    TU_RUN(calloc_zeroes_and_refuses_overflow);
    TU_RUN(memalign_is_always_large);
    TU_RUN(huge_sizes_and_map_failures_fail_cleanly);
    TU_RUN(misaligned_provider_is_refused);
    TU_RUN(blocks_chain_and_skip_rule);
    TU_RUN(search_stays_short_and_spares_are_reused);
    TU_RUN(recycled_block_serves_next_request);
    TU_RUN(large_blocks_free_at_once_and_reuse_ids);
    TU_RUN(rejected_frees_change_nothing);
    TU_RUN(stale_after_reset_and_after_recycle);
    TU_RUN(old_starts_do_not_survive_a_rewind);
    TU_RUN(rank_slots_fill_lazily);
    TU_RUN(pool_metadata_is_out_of_chunk_reach);
    TU_RUN(realloc_in_place_and_moving);
    TU_RUN(cleanups_run_lifo_exactly_once);
    TU_RUN(cleanup_cannot_reset_or_destroy);
    TU_RUN(reset_releases_large_and_rewinds);
    TU_RUN(notifications_in_order);
    TU_RUN(locate_round_trip);
    TU_RUN(keep_off_releases_large_at_once);
    TU_RUN(kept_large_block_comes_back);
    TU_RUN(kept_large_blocks_within_limits);
    TU_RUN(kept_large_blocks_taken_newest_first);
    TU_RUN(reset_and_realloc_keep_large_blocks);
    TU_RUN(destroy_releases_kept_large_blocks);
    TU_RUN(random_ops_against_shadow);
    TU_RUN(default_provider_recycles_chunks);
    TU_RUN(default_provider_caches_blocks_with_tables);
    TU_RUN(stats_follow_the_fast_path);
    TU_RUN(start_bits_follow_the_entries);
    TU_RUN(parked_pool_brings_its_chunks_back);
    TU_RUN(pool_reuses_its_large_chunks);
    TU_RUN(parked_pool_outlives_its_thread);
    TU_RUN(head_reports_the_open_block);
    TU_RUN(bumped_allocations_behave_like_native_ones);
    TU_RUN(record_head_takes_the_longest_valid_prefix);
    TU_RUN(bumps_interleave_with_native_calls);
    TU_RUN(random_bumps_against_shadow);
    return tu_finish("region_pool");
}
