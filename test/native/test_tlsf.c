/*
 * test_tlsf.c: unit tests for native/alloc/tlsf.c against the contract in native/alloc/tlsf.h.
 *
 * Layout facts the corruption tests rely on (see tlsf.c): a block's header is two
 * 8-byte words before the user pointer u: prev_size at u-16, size|flags at u-8
 * (bit0 this block free, bit1 previous block free, bits 58..63 log2 of a memalign
 * alignment). A free block keeps next_free at u+0 and prev_free at u+8, encoded as
 * (region base - control address) + header_offset. Region layout: first user pointer at base+16,
 * next user pointer = u + usable + 8, the sentinel's "user pointer" is base+area.
 * Hence for every region: sum over blocks of (usable + 8) == area - 16.
 */
#include "tlsf.h"
#include "test_util.h"

#include <stdbool.h>
#include <sys/mman.h>

/* ---- fixtures ------------------------------------------------------------ */

typedef struct pool {
    tlsf_t *t;
    void *base[TLSF_MAX_REGIONS];
    size_t area[TLSF_MAX_REGIONS];
} pool_t;

static uint64_t rd64(const void *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static void wr64(void *p, uint64_t v) { memcpy(p, &v, sizeof v); }
static unsigned char *size_word(void *u) { return (unsigned char *)u - 8; }
static uint64_t make_link(const pool_t *P, int region, size_t user_off) {
    return (uint64_t)((uintptr_t)P->base[region] - (uintptr_t)P->t) + (uint64_t)(user_off - 16);
}
static int is_aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static tlsf_t *new_control(void) {
    size_t n = tlsf_control_size();
    void *m = tu_aligned(16, n);
    return tlsf_create(m, n);
}

/* Add a region of `area` bytes (4096-aligned memory); returns the id or an error. */
static int add_region(pool_t *p, size_t area) {
    void *mem = tu_aligned(4096, area);
    size_t bs = tlsf_bitmap_size(area);
    void *bm = tu_aligned(8, bs ? bs : 8);
    int id = tlsf_add_region(p->t, mem, area, bm);
    if (id >= 0 && id < TLSF_MAX_REGIONS) {
        p->base[id] = mem;
        p->area[id] = area;
    }
    return id;
}

static int new_pool(pool_t *p, size_t area) {
    memset(p, 0, sizeof *p);
    p->t = new_control();
    HCHECK(p->t != NULL);
    int id = add_region(p, area);
    HCHECKF(id == 0, "add_region(%zu) = %d", area, id);
    return 1;
}

static size_t off_of(const pool_t *p, const void *u, int *region) {
    int r = -1;
    size_t off = 0;
    if (tlsf_locate(p->t, u, &r, &off) != TLSF_OK) return (size_t)-1;
    if (region) *region = r;
    return off;
}

/* ---- walk ---------------------------------------------------------------- */

#define MAXB 16384
typedef struct walkbuf {
    tlsf_block_info_t b[MAXB];
    size_t n;
    int overflow;
} walkbuf_t;
static walkbuf_t WB;

static int collect_cb(const tlsf_block_info_t *b, void *u) {
    walkbuf_t *w = u;
    if (w->n == MAXB) {
        w->overflow = 1;
        return 1;
    }
    w->b[w->n++] = *b;
    return 0;
}

static int do_walk(const pool_t *p) {
    WB.n = 0;
    WB.overflow = 0;
    int rc = tlsf_walk(p->t, collect_cb, &WB);
    HCHECKF(rc == TLSF_OK, "tlsf_walk = %d", rc);
    HCHECK(!WB.overflow);
    return 1;
}

static int check_ok(const pool_t *p) {
    const char *why = NULL;
    int rc = tlsf_check(p->t, &why);
    HCHECKF(rc == TLSF_OK, "tlsf_check = %d (%s)", rc, why ? why : "?");
    HCHECK(!tlsf_is_corrupted(p->t));
    return 1;
}

/* Full consistency: tlsf_check, then the walk against the layout and the stats. */
static int validate(const pool_t *p) {
    if (!check_ok(p)) return 0;
    if (!do_walk(p)) return 0;
    size_t used = 0, fre = 0, largest = 0, nused = 0, nregions = 0, area = 0;
    size_t i = 0;
    int last_region = -1;
    while (i < WB.n) {
        int r = WB.b[i].region;
        HCHECKF(r > last_region, "walk region order: %d after %d", r, last_region);
        HCHECKF(r >= 0 && r < TLSF_MAX_REGIONS && p->base[r], "walk reports unknown region %d", r);
        last_region = r;
        nregions++;
        area += p->area[r];
        size_t expect_off = 16, sum = 0;
        int prev_free = 0;
        for (; i < WB.n && WB.b[i].region == r; i++) {
            const tlsf_block_info_t *b = &WB.b[i];
            HCHECKF(b->offset == expect_off, "region %d: block offset %zu, expected %zu", r,
                    b->offset, expect_off);
            HCHECKF(b->size % 8 == 0 && b->size >= TLSF_MIN_BLOCK, "bad block size %zu", b->size);
            HCHECKF(!(prev_free && !b->used), "two adjacent free blocks at offset %zu", b->offset);
            prev_free = !b->used;
            sum += b->size + 8;
            expect_off = b->offset + b->size + 8;
            if (b->used) {
                used += b->size;
                nused++;
                void *u = (unsigned char *)p->base[r] + b->offset;
                HCHECKF(tlsf_usable_size(p->t, u) == b->size, "usable_size %zu != walk %zu",
                        tlsf_usable_size(p->t, u), b->size);
            } else {
                fre += b->size;
                if (b->size > largest) largest = b->size;
            }
        }
        HCHECKF(sum == p->area[r] - 16, "region %d: sum(size+8) = %zu, area-16 = %zu", r, sum,
                p->area[r] - 16);
        HCHECKF(expect_off == p->area[r], "region %d ends at %zu not %zu", r, expect_off,
                p->area[r]);
    }
    tlsf_stats_t s;
    tlsf_get_stats(p->t, &s);
    HCHECKF(s.used == used, "stats.used %zu != walk %zu", s.used, used);
    HCHECKF(s.free == fre, "stats.free %zu != walk %zu", s.free, fre);
    HCHECKF(s.largest_free == largest, "stats.largest_free %zu != walk %zu", s.largest_free,
            largest);
    HCHECKF(s.allocations == nused, "stats.allocations %zu != walk %zu", s.allocations, nused);
    HCHECKF(s.regions == nregions, "stats.regions %zu != walk %zu", s.regions, nregions);
    HCHECKF(s.area == area, "stats.area %zu != %zu", s.area, area);
    HCHECKF(s.peak_used >= s.used, "peak %zu < used %zu", s.peak_used, s.used);
    return 1;
}

/* Every region is one free block of area-24 again. */
static int is_pristine(const pool_t *p) {
    if (!validate(p)) return 0;
    size_t nreg = 0;
    for (int r = 0; r < TLSF_MAX_REGIONS; r++) nreg += p->base[r] != NULL;
    HCHECKF(WB.n == nreg, "walk has %zu blocks for %zu regions", WB.n, nreg);
    for (size_t i = 0; i < WB.n; i++) {
        HCHECK(!WB.b[i].used);
        HCHECK(WB.b[i].offset == 16);
        HCHECKF(WB.b[i].size == p->area[WB.b[i].region] - 24, "free block %zu", WB.b[i].size);
    }
    return 1;
}

static int stats_equal(const tlsf_stats_t *a, const tlsf_stats_t *b) {
#define F(x) HCHECKF(a->x == b->x, "stats." #x " changed: %zu -> %zu", a->x, b->x)
    F(area);
    F(used);
    F(peak_used);
    F(free);
    F(largest_free);
    F(allocations);
    F(failed_allocations);
    F(regions);
#undef F
    return 1;
}

static void fill(void *p, size_t n, unsigned char c) { memset(p, c, n); }
static int verify(const void *p, size_t n, unsigned char c) {
    const unsigned char *q = p;
    for (size_t i = 0; i < n; i++)
        HCHECKF(q[i] == c, "byte %zu of %p is 0x%02x, expected 0x%02x", i, p, q[i], c);
    return 1;
}

/* Allocate every remaining free byte (malloc of the largest free block, repeatedly). */
static int fill_pool(const pool_t *p, void **ptrs, size_t *n, size_t cap) {
    for (int guard = 0; guard < 100000; guard++) {
        tlsf_stats_t s;
        tlsf_get_stats(p->t, &s);
        if (s.free == 0) return 1;
        HCHECK(*n < cap);
        void *q = tlsf_malloc(p->t, s.largest_free);
        HCHECKF(q != NULL, "malloc(largest_free = %zu) failed (free = %zu)", s.largest_free,
                s.free);
        HCHECK(tlsf_usable_size(p->t, q) == s.largest_free);
        ptrs[(*n)++] = q;
    }
    HCHECK(!"fill_pool did not terminate");
    return 0;
}

static int free_all(const pool_t *p, void **ptrs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int rc = tlsf_free(p->t, ptrs[i]);
        HCHECKF(rc == TLSF_OK, "free #%zu = %d", i, rc);
    }
    return 1;
}

typedef struct span {
    uintptr_t lo, hi;
} span_t;
static int span_cmp(const void *a, const void *b) {
    const span_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}
static int no_overlap(const pool_t *p, void **ptrs, size_t n) {
    span_t *s = tu_alloc(n * sizeof *s + 1);
    for (size_t i = 0; i < n; i++) {
        s[i].lo = (uintptr_t)ptrs[i];
        s[i].hi = s[i].lo + tlsf_usable_size(p->t, ptrs[i]);
    }
    qsort(s, n, sizeof *s, span_cmp);
    for (size_t i = 1; i < n; i++)
        HCHECKF(s[i - 1].hi <= s[i].lo, "blocks overlap: [%#jx,%#jx) and [%#jx,%#jx)",
                (uintmax_t)s[i - 1].lo, (uintmax_t)s[i - 1].hi, (uintmax_t)s[i].lo,
                (uintmax_t)s[i].hi);
    return 1;
}

/* ---- create / regions ---------------------------------------------------- */

static void create_rejects_bad_control(void) {
    size_t n = tlsf_control_size();
    CHECK(n > 0);
    unsigned char *m = tu_aligned(16, n + 16);
    CHECK(tlsf_create(NULL, n) == NULL);
    CHECK(tlsf_create(m, 0) == NULL);
    CHECK(tlsf_create(m, n - 1) == NULL);
    CHECK(tlsf_create(m, 1) == NULL);
    CHECK(tlsf_create(m + 1, n + 8) == NULL);
    CHECK(tlsf_create(m + 4, n + 8) == NULL);
    tlsf_t *t = tlsf_create(m + 8, n); /* 8-aligned is enough */
    CHECK(t != NULL);
    t = tlsf_create(m, n);
    CHECK(t != NULL);
    tlsf_stats_t s;
    tlsf_get_stats(t, &s);
    CHECK_EQU(s.area, 0);
    CHECK_EQU(s.regions, 0);
    CHECK_EQU(s.allocations, 0);
    CHECK(tlsf_malloc(t, 8) == NULL); /* no region yet */
    CHECK(tlsf_check(t, NULL) == TLSF_OK);
}

static void region_rejects_bad_arguments(void) {
    pool_t P;
    memset(&P, 0, sizeof P);
    P.t = new_control();
    CHECK(P.t);
    unsigned char *mem = tu_aligned(4096, 8192);
    unsigned char *bm = tu_aligned(8, 1024);
    tlsf_stats_t s0, s1;
    tlsf_get_stats(P.t, &s0);
    CHECK_EQ(tlsf_add_region(P.t, mem + 8, 4096, bm), TLSF_ERR_INVALID);    /* not 16-aligned */
    CHECK_EQ(tlsf_add_region(P.t, mem + 4, 4096, bm), TLSF_ERR_INVALID);
    CHECK_EQ(tlsf_add_region(P.t, mem, 4100, bm), TLSF_ERR_INVALID);        /* not a multiple of 8 */
    CHECK_EQ(tlsf_add_region(P.t, mem, 4097, bm), TLSF_ERR_INVALID);
    CHECK_EQ(tlsf_add_region(P.t, mem, TLSF_REGION_MIN - 8, bm), TLSF_ERR_INVALID);
    CHECK_EQ(tlsf_add_region(P.t, mem, 0, bm), TLSF_ERR_INVALID);
    CHECK_EQ(tlsf_add_region(P.t, mem, 8, bm), TLSF_ERR_INVALID);
    CHECK_EQ(tlsf_add_region(P.t, NULL, 4096, bm), TLSF_ERR_INVALID);
    CHECK_EQ(tlsf_add_region(P.t, mem, 4096, NULL), TLSF_ERR_INVALID);
    CHECK_EQ(tlsf_add_region(P.t, mem, 4096, bm + 4), TLSF_ERR_INVALID);    /* bitmap misaligned */
    CHECK_EQU(tlsf_bitmap_size(0), 0);
    CHECK_EQU(tlsf_bitmap_size(TLSF_REGION_MIN - 8), 0);
    CHECK_EQU(tlsf_bitmap_size(4100), 0);
    CHECK(tlsf_bitmap_size(TLSF_REGION_MIN) >= 1);
    CHECK(tlsf_bitmap_size(4096) >= 4096 / 64);
    CHECK(tlsf_bitmap_size(1u << 20) >= (1u << 20) / 64);
    tlsf_get_stats(P.t, &s1);
    CHECK_HELPER(stats_equal(&s0, &s1));
    CHECK_EQ(tlsf_check(P.t, NULL), TLSF_OK);
    /* the smallest region is accepted */
    CHECK_EQ(add_region(&P, TLSF_REGION_MIN), 0);
    CHECK_HELPER(is_pristine(&P));
}

/* A region added with a bitmap known to be zero serves like any other, and
 * can be removed and added again the same way. */
static void zeroed_region_serves_like_any(void) {
    pool_t P;
    memset(&P, 0, sizeof P);
    P.t = new_control();
    const size_t area = 1 << 20;
    unsigned char *mem = tu_aligned(4096, area);
    uint64_t *bm = calloc(1, tlsf_bitmap_size(area));
    CHECK(bm != NULL);
    for (int round = 0; round < 2; round++) {
        CHECK_EQ(tlsf_add_region_zeroed(P.t, mem, area, bm), 0);
        P.base[0] = mem;
        P.area[0] = area;
        void *p[100];
        for (int i = 0; i < 100; i++) CHECK((p[i] = tlsf_malloc(P.t, 16 + (size_t)i * 37)) != NULL);
        for (int i = 0; i < 100; i += 2) CHECK_EQ(tlsf_free(P.t, p[i]), TLSF_OK);
        CHECK_HELPER(validate(&P));
        for (int i = 1; i < 100; i += 2) CHECK_EQ(tlsf_free(P.t, p[i]), TLSF_OK);
        CHECK_EQ(tlsf_remove_region(P.t, 0), TLSF_OK);
        P.base[0] = NULL;
        memset(bm, 0, tlsf_bitmap_size(area)); /* zero again for the next round, as the call asks */
    }
    free(bm);
}

static void region_table_full_and_lowest_free_slot(void) {
    pool_t P;
    memset(&P, 0, sizeof P);
    P.t = new_control();
    CHECK(P.t);
    for (int i = 0; i < TLSF_MAX_REGIONS; i++) CHECK_EQ(add_region(&P, 64), i);
    tlsf_stats_t s0, s1;
    tlsf_get_stats(P.t, &s0);
    CHECK_EQU(s0.regions, TLSF_MAX_REGIONS);
    CHECK_EQU(s0.area, 64u * TLSF_MAX_REGIONS);
    {
        void *mem = tu_aligned(4096, 64), *bm = tu_aligned(8, tlsf_bitmap_size(64));
        CHECK_EQ(tlsf_add_region(P.t, mem, 64, bm), TLSF_ERR_FULL);
    }
    tlsf_get_stats(P.t, &s1);
    CHECK_HELPER(stats_equal(&s0, &s1));
    CHECK_HELPER(validate(&P));
    /* remove 5, 2, 40: re-adding fills 2, then 5, then 40 */
    int rm[] = {5, 2, 40};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(tlsf_remove_region(P.t, rm[i]), TLSF_OK);
        P.base[rm[i]] = NULL;
    }
    CHECK_HELPER(validate(&P));
    CHECK_EQ(add_region(&P, 128), 2);
    CHECK_EQ(add_region(&P, 64), 5);
    CHECK_EQ(tlsf_remove_region(P.t, 0), TLSF_OK);
    P.base[0] = NULL;
    CHECK_EQ(add_region(&P, 64), 0);
    CHECK_EQ(add_region(&P, 64), 40);
    CHECK_EQ(add_region(&P, 64), TLSF_ERR_FULL);
    CHECK_HELPER(validate(&P));
    /* the 128-byte region in slot 2 is the only one that can serve 100 bytes */
    void *q = tlsf_malloc(P.t, 100);
    CHECK(q);
    int r = -1;
    CHECK(off_of(&P, q, &r) == 16);
    CHECK_EQ(r, 2);
    CHECK_EQ(tlsf_free(P.t, q), TLSF_OK);
}

static void region_remove_bad_id(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 4096));
    tlsf_stats_t s0, s1;
    tlsf_get_stats(P.t, &s0);
    CHECK_EQ(tlsf_remove_region(P.t, -1), TLSF_ERR_INVALID);
    CHECK_EQ(tlsf_remove_region(P.t, 1), TLSF_ERR_INVALID);
    CHECK_EQ(tlsf_remove_region(P.t, TLSF_MAX_REGIONS), TLSF_ERR_INVALID);
    CHECK_EQ(tlsf_remove_region(P.t, 1 << 30), TLSF_ERR_INVALID);
    tlsf_region_info_t ri;
    CHECK_EQ(tlsf_region_info(P.t, 1, &ri), TLSF_ERR_INVALID);
    CHECK_EQ(tlsf_region_info(P.t, -1, &ri), TLSF_ERR_INVALID);
    CHECK_EQ(tlsf_region_info(P.t, 0, &ri), TLSF_OK);
    CHECK(ri.base == P.base[0]);
    CHECK_EQU(ri.area, 4096);
    CHECK_EQ(ri.live, 0);
    tlsf_get_stats(P.t, &s1);
    CHECK_HELPER(stats_equal(&s0, &s1));
    CHECK_EQ(tlsf_remove_region(P.t, 0), TLSF_OK);
    P.base[0] = NULL;
    CHECK_EQ(tlsf_remove_region(P.t, 0), TLSF_ERR_INVALID); /* twice */
    tlsf_get_stats(P.t, &s1);
    CHECK_EQU(s1.regions, 0);
    CHECK_EQU(s1.area, 0);
    CHECK_EQU(s1.free, 0);
    CHECK(tlsf_malloc(P.t, 1) == NULL);
    CHECK_HELPER(validate(&P));
}

/* ---- malloc / calloc ----------------------------------------------------- */

static void malloc_basic_distinct_aligned_nonoverlapping(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 1u << 20));
    static const size_t sizes[] = {0,    1,    7,    8,    9,    15,    16,    17,    23,
                                   24,   25,   31,   32,   33,   63,    64,    100,   255,
                                   256,  257,  1000, 1023, 4095, 4096,  4097,  10000, 12345,
                                   65536, 65537, 100001, 3,   5,   2000,  40000, 31,    129};
    enum { N = sizeof sizes / sizeof sizes[0] };
    void *p[N];
    for (size_t i = 0; i < N; i++) {
        p[i] = tlsf_malloc(P.t, sizes[i]);
        CHECKF(p[i] != NULL, "malloc(%zu) failed", sizes[i]);
        CHECKF(is_aligned(p[i], 8), "malloc(%zu) = %p not 8-aligned", sizes[i], p[i]);
        size_t u = tlsf_usable_size(P.t, p[i]);
        CHECKF(u >= sizes[i] && u >= TLSF_MIN_BLOCK && u % 8 == 0, "usable %zu for %zu", u,
               sizes[i]);
        CHECKF(u < sizes[i] + 32 + TLSF_MIN_BLOCK, "usable %zu wastes too much for %zu", u,
               sizes[i]);
        for (size_t j = 0; j < i; j++) CHECK(p[j] != p[i]);
        int r = -1;
        size_t off = off_of(&P, p[i], &r);
        CHECK(r == 0 && off >= 16 && off + u <= P.area[0] - 8);
        fill(p[i], u, (unsigned char)(i + 1));
    }
    for (size_t i = 0; i < N; i++)
        CHECK_HELPER(verify(p[i], tlsf_usable_size(P.t, p[i]), (unsigned char)(i + 1)));
    CHECK_HELPER(no_overlap(&P, p, N));
    CHECK_HELPER(validate(&P));
    tlsf_stats_t s;
    tlsf_get_stats(P.t, &s);
    CHECK_EQU(s.allocations, N);
    /* free every other one, verify the rest, then the others */
    for (size_t i = 0; i < N; i += 2) CHECK_EQ(tlsf_free(P.t, p[i]), TLSF_OK);
    CHECK_HELPER(validate(&P));
    for (size_t i = 1; i < N; i += 2)
        CHECK_HELPER(verify(p[i], tlsf_usable_size(P.t, p[i]), (unsigned char)(i + 1)));
    for (size_t i = 1; i < N; i += 2) CHECK_EQ(tlsf_free(P.t, p[i]), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

static void malloc_zero_gives_minimum_block(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 4096));
    void *a = tlsf_malloc(P.t, 0), *b = tlsf_malloc(P.t, 0);
    CHECK(a && b && a != b);
    CHECK_EQU(tlsf_usable_size(P.t, a), TLSF_MIN_BLOCK);
    fill(a, TLSF_MIN_BLOCK, 0xaa);
    fill(b, TLSF_MIN_BLOCK, 0xbb);
    CHECK_HELPER(verify(a, TLSF_MIN_BLOCK, 0xaa));
    CHECK_HELPER(validate(&P));
    CHECK_EQ(tlsf_free(P.t, a), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, b), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

static void malloc_huge_requests_fail_and_are_counted(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    void *keep = tlsf_malloc(P.t, 100);
    CHECK(keep);
    tlsf_stats_t s0, s1;
    tlsf_get_stats(P.t, &s0);
    static const size_t huge[] = {SIZE_MAX,
                                  SIZE_MAX - 7,
                                  SIZE_MAX - 8,
                                  SIZE_MAX - 24,
                                  SIZE_MAX / 2,
                                  SIZE_MAX / 2 + 1,
                                  TLSF_MAX_REQUEST + 1,
                                  TLSF_MAX_REQUEST,
                                  65536,
                                  65536 - 23};
    enum { N = sizeof huge / sizeof huge[0] };
    for (size_t i = 0; i < N; i++) CHECKF(tlsf_malloc(P.t, huge[i]) == NULL, "malloc(%zu)", huge[i]);
    tlsf_get_stats(P.t, &s1);
    CHECK_EQU(s1.failed_allocations, s0.failed_allocations + N);
    s1.failed_allocations = s0.failed_allocations;
    CHECK_HELPER(stats_equal(&s0, &s1));
    CHECK(!tlsf_is_corrupted(P.t));
    CHECK_HELPER(validate(&P));
    /* the pool still works */
    void *q = tlsf_malloc(P.t, 1000);
    CHECK(q);
    CHECK_EQ(tlsf_free(P.t, q), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, keep), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

static void calloc_overflow_returns_null(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    tlsf_stats_t s0, s1;
    tlsf_get_stats(P.t, &s0);
    CHECK(tlsf_calloc(P.t, SIZE_MAX, SIZE_MAX) == NULL);
    CHECK(tlsf_calloc(P.t, SIZE_MAX / 2 + 1, 2) == NULL);
    CHECK(tlsf_calloc(P.t, 2, SIZE_MAX / 2 + 1) == NULL);
    CHECK(tlsf_calloc(P.t, (size_t)1 << 32, (size_t)1 << 32) == NULL);
    CHECK(tlsf_calloc(P.t, ((size_t)1 << 32) + 1, ((size_t)1 << 32) - 1) == NULL); /* wraps to tiny */
    CHECK(tlsf_calloc(P.t, SIZE_MAX / 3 + 1, 3) == NULL);
    CHECK(tlsf_calloc(P.t, SIZE_MAX, 1) == NULL);
    tlsf_get_stats(P.t, &s1);
    CHECK_EQU(s1.allocations, s0.allocations);
    CHECK_EQU(s1.used, s0.used);
    CHECK(!tlsf_is_corrupted(P.t));
    CHECK_HELPER(is_pristine(&P));
    void *z = tlsf_calloc(P.t, 0, 16), *y = tlsf_calloc(P.t, 16, 0);
    CHECK(z && y);
    CHECK_EQ(tlsf_free(P.t, z), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, y), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

static void calloc_zero_fills_dirty_memory(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 1u << 20));
    size_t max = tlsf_region_max_alloc(1u << 20);
    void *d = tlsf_malloc(P.t, max);
    CHECK(d);
    fill(d, max, 0xab);
    CHECK_EQ(tlsf_free(P.t, d), TLSF_OK);
    static const size_t cnt[] = {1, 3, 7, 10, 1, 100, 4096, 5, 33};
    static const size_t sz[] = {1, 100, 13, 1000, 24, 8, 16, 4097, 1};
    enum { N = sizeof cnt / sizeof cnt[0] };
    void *p[N];
    for (size_t i = 0; i < N; i++) {
        p[i] = tlsf_calloc(P.t, cnt[i], sz[i]);
        CHECKF(p[i] != NULL, "calloc(%zu, %zu)", cnt[i], sz[i]);
        CHECK(tlsf_usable_size(P.t, p[i]) >= cnt[i] * sz[i]);
        CHECK_HELPER(verify(p[i], cnt[i] * sz[i], 0));
        fill(p[i], tlsf_usable_size(P.t, p[i]), 0xcd);
    }
    /* free and calloc again over memory that now holds 0xcd and free-list links */
    for (size_t i = 0; i < N; i += 2) CHECK_EQ(tlsf_free(P.t, p[i]), TLSF_OK);
    for (size_t i = 0; i < N; i += 2) {
        p[i] = tlsf_calloc(P.t, sz[i], cnt[i]);
        CHECK(p[i]);
        CHECK_HELPER(verify(p[i], cnt[i] * sz[i], 0));
    }
    CHECK_HELPER(validate(&P));
    CHECK_HELPER(free_all(&P, p, N));
    CHECK_HELPER(is_pristine(&P));
}

/* ---- exact fit (the rounding bug of the classic TLSF) --------------------- */

static void exact_fit_reuse_in_full_pool(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 1u << 20));
    size_t ns[80];
    size_t nn = 0;
    static const size_t fixed[] = {0,    1,     24,    25,    31,    32,     33,     100,
                                   127,  128,   129,   255,   256,   257,    300,    1000,
                                   1001, 1023,  1024,  1025,  4095,  4096,   4097,   8191,
                                   8193, 65535, 65536, 65537, 99999, 100000, 100003, 123457,
                                   262143, 262152, 524288, 524289, 700001};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) ns[nn++] = fixed[i];
    uint64_t x = 12345;
    while (nn < 80) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ns[nn++] = (size_t)(x % 300000) | 1; /* odd sizes */
    }
    void *ptrs[64];
    for (size_t k = 0; k < nn; k++) {
        size_t n = ns[k];
        size_t cnt = 0;
        void *p = tlsf_malloc(P.t, n);
        CHECKF(p, "malloc(%zu) in a fresh pool", n);
        size_t u = tlsf_usable_size(P.t, p);
        CHECK_HELPER(fill_pool(&P, ptrs, &cnt, 64));
        tlsf_stats_t s;
        tlsf_get_stats(P.t, &s);
        CHECK_EQU(s.free, 0);
        CHECK(tlsf_malloc(P.t, 0) == NULL);
        CHECK_EQ(tlsf_free(P.t, p), TLSF_OK);
        tlsf_get_stats(P.t, &s);
        CHECK_EQU(s.free, u);
        CHECK_EQU(s.largest_free, u);
        void *q = tlsf_malloc(P.t, n);
        CHECKF(q == p, "free block of usable %zu, malloc(%zu) = %p, expected %p", u, n, q, p);
        CHECK_EQ(tlsf_free(P.t, q), TLSF_OK);
        q = tlsf_malloc(P.t, u);
        CHECKF(q == p, "free block of usable %zu, malloc(%zu) = %p, expected %p", u, u, q, p);
        void *o = NULL;
        CHECK_EQ(tlsf_realloc(P.t, NULL, 8, &o), TLSF_ERR_NOMEM); /* nothing left */
        CHECK_EQ(tlsf_free(P.t, q), TLSF_OK);
        CHECK_HELPER(free_all(&P, ptrs, cnt));
        if (k % 8 == 0) CHECK_HELPER(is_pristine(&P));
    }
    CHECK_HELPER(is_pristine(&P));
}

/* Fill a pool with many blocks of assorted sizes, then free + re-malloc each one. */
static void exact_fit_reuse_of_many_blocks(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 256u << 10));
    enum { CAP = 2048 };
    void **b = tu_alloc(CAP * sizeof *b);
    size_t *req = tu_alloc(CAP * sizeof *req);
    size_t n = 0;
    uint64_t x = 99;
    for (;;) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t sz = (size_t)(x % 5000);
        if (x % 7 == 0) sz = (size_t)(x % 40);
        void *p = tlsf_malloc(P.t, sz);
        if (!p) break;
        CHECK(n < CAP);
        req[n] = sz;
        b[n++] = p;
    }
    size_t nfilled = n;
    CHECK_HELPER(fill_pool(&P, b, &n, CAP));
    for (size_t i = nfilled; i < n; i++) req[i] = tlsf_usable_size(P.t, b[i]);
    CHECK_HELPER(validate(&P));
    for (size_t i = 0; i < n; i++) {
        size_t u = tlsf_usable_size(P.t, b[i]);
        CHECK_EQ(tlsf_free(P.t, b[i]), TLSF_OK);
        void *q = tlsf_malloc(P.t, req[i]);
        CHECKF(q == b[i], "block %zu: usable %zu freed in a full pool, malloc(%zu) = %p not %p", i,
               u, req[i], q, b[i]);
        CHECK_EQ(tlsf_free(P.t, q), TLSF_OK);
        q = tlsf_malloc(P.t, u);
        CHECKF(q == b[i], "block %zu: malloc(usable %zu) = %p not %p", i, u, q, b[i]);
    }
    CHECK_HELPER(validate(&P));
    CHECK_HELPER(free_all(&P, b, n));
    CHECK_HELPER(is_pristine(&P));
}

static void region_max_alloc_fits_fresh_region(void) {
    static const size_t areas[] = {64,      72,        128,           4096,
                                   4104,    65536,     (1u << 20),    (1u << 20) + 8,
                                   (1u << 24) + 8};
    for (size_t i = 0; i < sizeof areas / sizeof areas[0]; i++) {
        size_t area = areas[i];
        CHECK_EQU(tlsf_region_max_alloc(area), area - 24);
        pool_t P;
        CHECK_HELPER(new_pool(&P, area));
        tlsf_stats_t s;
        tlsf_get_stats(P.t, &s);
        CHECK_EQU(s.free, area - 24);
        CHECK_EQU(s.largest_free, area - 24);
        CHECK_EQU(s.area, area);
        CHECKF(tlsf_malloc(P.t, area - 23) == NULL, "area %zu: malloc(area-23) succeeded", area);
        CHECKF(tlsf_malloc(P.t, area - 16) == NULL, "area %zu: malloc(area-16) succeeded", area);
        void *p = tlsf_malloc(P.t, area - 24);
        CHECKF(p != NULL, "area %zu: malloc(area-24 = %zu) failed in a fresh region", area,
               area - 24);
        CHECK(p == (unsigned char *)P.base[0] + 16);
        CHECK_EQU(tlsf_usable_size(P.t, p), area - 24);
        fill(p, area - 24, 0x5a);
        tlsf_get_stats(P.t, &s);
        CHECK_EQU(s.free, 0);
        CHECK_EQU(s.used, area - 24);
        CHECK(tlsf_malloc(P.t, 0) == NULL);
        CHECK_HELPER(validate(&P));
        CHECK_EQ(tlsf_free(P.t, p), TLSF_OK);
        p = tlsf_memalign(P.t, 8, area - 24);
        CHECKF(p != NULL, "area %zu: memalign(8, area-24) failed", area);
        CHECK_EQ(tlsf_free(P.t, p), TLSF_OK);
        p = tlsf_calloc(P.t, 1, area - 24);
        CHECKF(p != NULL, "area %zu: calloc(1, area-24) failed", area);
        CHECK_HELPER(verify(p, area - 24, 0));
        CHECK_EQ(tlsf_free(P.t, p), TLSF_OK);
        CHECK_HELPER(is_pristine(&P));
        tu_release(); /* drop this pool's memory before the next area */
    }
}

/* ---- memalign ------------------------------------------------------------ */

static void memalign_matrix(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 4u << 20));
    static const size_t sizes[] = {1, 7, 8, 24, 100, 1000, 5000, 65536};
    enum { NS = sizeof sizes / sizeof sizes[0], NA = 13, N = NS * NA };
    void *p[N];
    size_t n = 0;
    for (size_t a = 0; a < NA; a++) {
        size_t align = (size_t)1 << a; /* 1 .. 4096 */
        for (size_t s = 0; s < NS; s++) {
            void *q = tlsf_memalign(P.t, align, sizes[s]);
            CHECKF(q != NULL, "memalign(%zu, %zu) failed", align, sizes[s]);
            CHECKF(is_aligned(q, align > 8 ? align : 8), "memalign(%zu, %zu) = %p", align,
                   sizes[s], q);
            size_t u = tlsf_usable_size(P.t, q);
            CHECKF(u >= sizes[s] && u % 8 == 0, "usable %zu", u);
            fill(q, u, (unsigned char)(n * 7 + 1));
            p[n++] = q;
        }
    }
    CHECK_HELPER(no_overlap(&P, p, n));
    for (size_t i = 0; i < n; i++)
        CHECK_HELPER(verify(p[i], tlsf_usable_size(P.t, p[i]), (unsigned char)(i * 7 + 1)));
    CHECK_HELPER(validate(&P));
    /* free in a scrambled order, validating as we go */
    for (size_t k = 0; k < n; k++) {
        size_t i = (k * 37) % n;
        CHECK_EQ(tlsf_free(P.t, p[i]), TLSF_OK);
        if (k % 8 == 0) CHECK_HELPER(validate(&P));
    }
    CHECK_HELPER(is_pristine(&P));
}

static void memalign_rejects_bad_alignment(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    void *keep = tlsf_malloc(P.t, 200);
    CHECK(keep);
    tlsf_stats_t s0, s1;
    tlsf_get_stats(P.t, &s0);
    static const size_t bad[] = {0, 3, 5, 6, 12, 24, 48, 100, 4097, 3u << 10, SIZE_MAX,
                                 ((size_t)1 << 63) + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(tlsf_memalign(P.t, bad[i], 16) == NULL, "memalign(%zu, 16) succeeded", bad[i]);
    tlsf_get_stats(P.t, &s1);
    s1.failed_allocations = s0.failed_allocations; /* counting these is optional */
    CHECK_HELPER(stats_equal(&s0, &s1));
    CHECK_HELPER(validate(&P));
    CHECK_EQ(tlsf_free(P.t, keep), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

static void memalign_huge_alignment_fails_cleanly(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    void *keep = tlsf_malloc(P.t, 200);
    CHECK(keep);
    fill(keep, 200, 0x77);
    tlsf_stats_t s0, s1;
    tlsf_get_stats(P.t, &s0);
    static const size_t al[] = {(size_t)1 << 20, (size_t)1 << 30, (size_t)1 << 39,
                                (size_t)1 << 40, (size_t)1 << 62, (size_t)1 << 63};
    for (size_t i = 0; i < sizeof al / sizeof al[0]; i++) {
        void *q = tlsf_memalign(P.t, al[i], 16);
        if (q) { /* only possible if the base happens to be aligned that much */
            CHECKF(is_aligned(q, al[i]), "memalign(%zu) = %p", al[i], q);
            CHECK_EQ(tlsf_free(P.t, q), TLSF_OK);
        }
        CHECK(tlsf_memalign(P.t, al[i], SIZE_MAX - 100) == NULL);
        CHECK(tlsf_memalign(P.t, al[i], 65536) == NULL);
    }
    CHECK(tlsf_memalign(P.t, 4096, SIZE_MAX) == NULL);
    CHECK(tlsf_memalign(P.t, 4096, SIZE_MAX - 4096) == NULL);
    CHECK(tlsf_memalign(P.t, 4096, TLSF_MAX_REQUEST + 1) == NULL);
    tlsf_get_stats(P.t, &s1);
    s1.failed_allocations = s0.failed_allocations;
    CHECK_HELPER(stats_equal(&s0, &s1));
    CHECK(!tlsf_is_corrupted(P.t));
    CHECK_HELPER(validate(&P));
    CHECK_HELPER(verify(keep, 200, 0x77));
    void *q = tlsf_memalign(P.t, 4096, 100);
    CHECK(q && is_aligned(q, 4096));
    CHECK_EQ(tlsf_free(P.t, q), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, keep), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

/* ---- realloc ------------------------------------------------------------- */

static void realloc_null_is_malloc(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    void *q = NULL;
    CHECK_EQ(tlsf_realloc(P.t, NULL, 100, &q), TLSF_OK);
    CHECK(q && is_aligned(q, 8));
    CHECK(tlsf_usable_size(P.t, q) >= 100);
    fill(q, 100, 1);
    CHECK_HELPER(validate(&P));
    void *z = NULL;
    CHECK_EQ(tlsf_realloc(P.t, NULL, 0, &z), TLSF_OK);
    CHECK(z && z != q);
    CHECK_EQ(tlsf_free(P.t, q), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, z), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

static void realloc_shrink_in_place(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    void *p = tlsf_malloc(P.t, 1000), *g = tlsf_malloc(P.t, 100);
    CHECK(p && g);
    unsigned char *c = p;
    for (size_t i = 0; i < 1000; i++) c[i] = (unsigned char)(i * 31 + 7);
    void *q = NULL;
    CHECK_EQ(tlsf_realloc(P.t, p, 200, &q), TLSF_OK);
    CHECK(q == p);
    CHECK(tlsf_usable_size(P.t, p) >= 200);
    for (size_t i = 0; i < 200; i++) CHECK(c[i] == (unsigned char)(i * 31 + 7));
    CHECK_HELPER(validate(&P));
    CHECK_EQ(tlsf_realloc(P.t, p, 17, &q), TLSF_OK);
    CHECK(q == p);
    for (size_t i = 0; i < 17; i++) CHECK(c[i] == (unsigned char)(i * 31 + 7));
    CHECK_HELPER(validate(&P));
    /* same size and a slightly smaller size are in place too */
    size_t u = tlsf_usable_size(P.t, p);
    CHECK_EQ(tlsf_realloc(P.t, p, u, &q), TLSF_OK);
    CHECK(q == p);
    CHECK_EQ(tlsf_realloc(P.t, p, u - 1, &q), TLSF_OK);
    CHECK(q == p);
    CHECK_HELPER(validate(&P));
    CHECK_EQ(tlsf_free(P.t, p), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, g), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

static void realloc_grow_in_place(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    void *p = tlsf_malloc(P.t, 100), *q = tlsf_malloc(P.t, 1000), *r = tlsf_malloc(P.t, 100);
    CHECK(p && q && r);
    size_t up = tlsf_usable_size(P.t, p);
    CHECKF(off_of(&P, q, NULL) == off_of(&P, p, NULL) + up + 8, "precondition: p, q adjacent");
    fill(p, up, 0x11);
    fill(r, 100, 0x33);
    CHECK_EQ(tlsf_free(P.t, q), TLSF_OK);
    void *o = NULL;
    CHECK_EQ(tlsf_realloc(P.t, p, 600, &o), TLSF_OK);
    CHECKF(o == p, "grow with a free next block moved: %p -> %p", p, o);
    CHECK(tlsf_usable_size(P.t, p) >= 600);
    CHECK_HELPER(verify(p, up, 0x11));
    CHECK_HELPER(validate(&P));
    /* take the whole neighbour (exactly its usable size + 8 more bytes) */
    CHECK_HELPER(do_walk(&P));
    size_t want = 0;
    for (size_t i = 0; i + 1 < WB.n; i++)
        if (WB.b[i].offset == off_of(&P, p, NULL)) {
            CHECK(!WB.b[i + 1].used);
            want = WB.b[i].size + WB.b[i + 1].size + 8;
        }
    CHECK(want);
    CHECK_EQ(tlsf_realloc(P.t, p, want, &o), TLSF_OK);
    CHECK(o == p);
    CHECK_EQU(tlsf_usable_size(P.t, p), want);
    CHECK_HELPER(verify(p, up, 0x11));
    CHECK_HELPER(verify(r, 100, 0x33));
    CHECK_HELPER(validate(&P));
    /* the last block grows into the free tail of the region */
    CHECK_EQ(tlsf_realloc(P.t, r, 30000, &o), TLSF_OK);
    CHECK(o == r);
    CHECK_HELPER(verify(r, 100, 0x33));
    CHECK_HELPER(validate(&P));
    CHECK_EQ(tlsf_free(P.t, p), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, r), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

/* tlsf_free_tagged on the quick path (cache off: a push, a merge with a free
 * neighbour, each refusing an untagged block first) and with the cache on. */
static void tags_quick_and_cached_frees(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    void *t1 = tlsf_malloc_tagged(P.t, 100), *t2 = tlsf_malloc_tagged(P.t, 200), *u = tlsf_malloc(P.t, 100);
    void *t3 = tlsf_malloc_tagged(P.t, 300), *guard = tlsf_malloc(P.t, 16);
    CHECK(t1 && t2 && u && t3 && guard);
    CHECK_EQ(tlsf_free_tagged(P.t, u), TLSF_ERR_FOREIGN); /* untagged, neighbours live: stays */
    CHECK_EQ(tlsf_free_tagged(P.t, t1), TLSF_OK);         /* pushed */
    CHECK_EQ(tlsf_free_tagged(P.t, t2), TLSF_OK);         /* merged with t1 */
    CHECK_EQ(tlsf_free_tagged(P.t, u), TLSF_ERR_FOREIGN); /* untagged, a free neighbour: stays */
    CHECK_EQ(tlsf_free_tagged(P.t, t1), TLSF_ERR_DOUBLE_FREE);
    CHECK_EQ(tlsf_free_tagged(P.t, t2), TLSF_ERR_FOREIGN); /* merged away: no block starts there */
    CHECK_HELPER(validate(&P));
    tlsf_stats_t s;
    tlsf_get_stats(P.t, &s);
    CHECK_EQU(s.allocations, 3);
    CHECK_EQ(tlsf_set_cache(P.t, 8), TLSF_OK);
    CHECK_EQ(tlsf_free_tagged(P.t, u), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_free_tagged(P.t, t3), TLSF_OK); /* the cache's way */
    CHECK_EQ(tlsf_free_tagged(P.t, t3), TLSF_ERR_DOUBLE_FREE);
    CHECK_EQ(tlsf_set_cache(P.t, 0), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, u), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, guard), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

/* Tags: tlsf_malloc_tagged marks a block, tlsf_free_tagged frees only tagged
 * blocks, an in-place realloc keeps the tag, every free clears it, and the
 * tag never shows in the usable size or in check(). */
static void tags(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    void *a = tlsf_malloc_tagged(P.t, 100), *plain = tlsf_malloc(P.t, 100);
    CHECK(a && plain);
    int ra = -1, rp = -1;
    size_t oa = off_of(&P, a, &ra), op = off_of(&P, plain, &rp);
    CHECK_EQ(tlsf_tagged(P.t, ra, oa), TLSF_OK);
    CHECK_EQ(tlsf_tagged(P.t, rp, op), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_tagged(P.t, ra, oa + 8), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_tagged(P.t, 7, oa), TLSF_ERR_FOREIGN);
    CHECK_EQU(tlsf_usable_size(P.t, a), tlsf_usable_size(P.t, plain));
    CHECK_HELPER(validate(&P));
    CHECK_EQ(tlsf_free_tagged(P.t, plain), TLSF_ERR_FOREIGN); /* untagged: stays live */
    CHECK_EQU(tlsf_usable_size(P.t, plain) >= 100, 1);
    CHECK_EQ(tlsf_free_tagged(P.t, (unsigned char *)a + 8), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_free_tagged(P.t, NULL), TLSF_ERR_FOREIGN);
    void *o = NULL; /* in place (shrink): the tag stays */
    CHECK_EQ(tlsf_realloc(P.t, a, 40, &o), TLSF_OK);
    CHECK(o == a);
    CHECK_EQ(tlsf_tagged(P.t, ra, oa), TLSF_OK);
    CHECK_EQ(tlsf_free_tagged(P.t, a), TLSF_OK);
    CHECK_EQ(tlsf_free_tagged(P.t, a), TLSF_ERR_DOUBLE_FREE);
    CHECK_EQ(tlsf_tagged(P.t, ra, oa), TLSF_ERR_DOUBLE_FREE);
    void *b = tlsf_malloc(P.t, 100); /* the same block again, untagged */
    CHECK(b == a);
    CHECK_EQ(tlsf_tagged(P.t, ra, oa), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_set_tag(P.t, ra, oa, 1), TLSF_OK);
    CHECK_EQ(tlsf_tagged(P.t, ra, oa), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, b), TLSF_OK); /* a plain free clears it too */
    CHECK_HELPER(validate(&P));
    CHECK_EQ(tlsf_set_tag(P.t, ra, oa, 1), TLSF_ERR_DOUBLE_FREE);
    void *c = tlsf_malloc(P.t, 100);
    CHECK(c == a);
    CHECK_EQ(tlsf_tagged(P.t, ra, oa), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_set_tag(P.t, ra, oa, 1), TLSF_OK);
    CHECK_EQ(tlsf_set_tag(P.t, ra, oa, 0), TLSF_OK);
    CHECK_EQ(tlsf_tagged(P.t, ra, oa), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_free(P.t, c), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, plain), TLSF_OK);
    void *m = tlsf_memalign(P.t, 256, 100); /* the tag bit sits below the alignment bits */
    CHECK(m && ((uintptr_t)m & 255) == 0);
    int rm = -1;
    size_t om = off_of(&P, m, &rm);
    CHECK_EQ(tlsf_set_tag(P.t, rm, om, 1), TLSF_OK);
    void *grown = NULL;
    CHECK_EQ(tlsf_realloc(P.t, m, 20000, &grown), TLSF_OK);
    CHECK(((uintptr_t)grown & 255) == 0);
    CHECK_HELPER(validate(&P));
    CHECK_EQ(tlsf_free(P.t, grown), TLSF_OK);
    tlsf_stats_t st;
    tlsf_get_stats(P.t, &st);
    CHECK_EQU(st.allocations, 0);
    CHECK_HELPER(validate(&P));
}

static void realloc_grow_must_move(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    void *g0 = tlsf_malloc(P.t, 64), *p = tlsf_malloc(P.t, 100), *g = tlsf_malloc(P.t, 100);
    CHECK(g0 && p && g);
    size_t up = tlsf_usable_size(P.t, p);
    CHECKF(off_of(&P, g, NULL) == off_of(&P, p, NULL) + up + 8, "precondition: p, g adjacent");
    unsigned char *c = p;
    for (size_t i = 0; i < up; i++) c[i] = (unsigned char)(i ^ 0x5c);
    void *o = NULL;
    CHECK_EQ(tlsf_realloc(P.t, p, 5000, &o), TLSF_OK);
    CHECK(o && o != p);
    CHECK(tlsf_usable_size(P.t, o) >= 5000);
    c = o;
    for (size_t i = 0; i < up; i++) CHECK(c[i] == (unsigned char)(i ^ 0x5c));
    CHECK_EQU(tlsf_usable_size(P.t, p), 0); /* the old block is free */
    tlsf_stats_t s;
    tlsf_get_stats(P.t, &s);
    CHECK_EQU(s.allocations, 3);
    CHECK_HELPER(validate(&P));
    CHECK_HELPER(do_walk(&P));
    CHECK(WB.n >= 2 && WB.b[1].offset == off_of(&P, p, NULL) && !WB.b[1].used);
    CHECK_EQ(tlsf_free(P.t, p), TLSF_ERR_DOUBLE_FREE);
    CHECK_EQ(tlsf_free(P.t, o), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, g), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, g0), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

static void realloc_move_keeps_memalign_alignment(void) {
    for (size_t align = 64; align <= 4096; align <<= 1) {
        pool_t P;
        CHECK_HELPER(new_pool(&P, 65536));
        void *p = tlsf_memalign(P.t, align, 100);
        CHECK(p && is_aligned(p, align));
        unsigned char *c = p;
        for (size_t i = 0; i < 100; i++) c[i] = (unsigned char)(i + align);
        void *rest[64];
        size_t n = 0;
        CHECK_HELPER(fill_pool(&P, rest, &n, 64)); /* nothing free in region 0 */
        CHECK_EQ(add_region(&P, 65536), 1);
        void *o = NULL;
        CHECK_EQ(tlsf_realloc(P.t, p, 3000, &o), TLSF_OK);
        int r = -1;
        off_of(&P, o, &r);
        CHECK_EQ(r, 1);
        CHECKF(is_aligned(o, align), "realloc moved a %zu-aligned block to %p", align, o);
        c = o;
        for (size_t i = 0; i < 100; i++) CHECK(c[i] == (unsigned char)(i + align));
        CHECK_HELPER(validate(&P));
        /* move again (fill region 1's remainder first), still aligned */
        void *filler = NULL;
        {
            size_t k = 0;
            void *more[64];
            CHECK_HELPER(fill_pool(&P, more, &k, 64));
            CHECK_EQ(add_region(&P, 65536), 2);
            CHECK_EQ(tlsf_realloc(P.t, o, 20000, &filler), TLSF_OK);
            CHECK(filler != o && is_aligned(filler, align));
            c = filler;
            for (size_t i = 0; i < 100; i++) CHECK(c[i] == (unsigned char)(i + align));
            CHECK_HELPER(free_all(&P, more, k));
        }
        CHECK_EQ(tlsf_free(P.t, filler), TLSF_OK);
        CHECK_HELPER(free_all(&P, rest, n));
        CHECK_HELPER(is_pristine(&P));
        tu_release();
    }
}

static void realloc_failure_leaves_block_intact(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    void *p = tlsf_malloc(P.t, 1000), *g = tlsf_malloc(P.t, 10);
    CHECK(p && g);
    size_t u = tlsf_usable_size(P.t, p);
    fill(p, u, 0x99);
    tlsf_stats_t s0, s1;
    tlsf_get_stats(P.t, &s0);
    static const size_t big[] = {65536, (size_t)1 << 30, TLSF_MAX_REQUEST + 1, SIZE_MAX,
                                 SIZE_MAX - 7};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        void *o = (void *)&u;
        CHECK_EQ(tlsf_realloc(P.t, p, big[i], &o), TLSF_ERR_NOMEM);
        CHECK_EQU(tlsf_usable_size(P.t, p), u);
        CHECK_HELPER(verify(p, u, 0x99));
        CHECK_HELPER(validate(&P));
    }
    tlsf_get_stats(P.t, &s1);
    CHECK_EQU(s1.failed_allocations, s0.failed_allocations + sizeof big / sizeof big[0]);
    s1.failed_allocations = s0.failed_allocations;
    CHECK_HELPER(stats_equal(&s0, &s1));
    CHECK(!tlsf_is_corrupted(P.t));
    CHECK_EQ(tlsf_free(P.t, p), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, g), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

static void realloc_rejects_foreign_and_freed(void) {
    pool_t P, Q;
    CHECK_HELPER(new_pool(&P, 65536));
    CHECK_HELPER(new_pool(&Q, 65536));
    void *a = tlsf_malloc(P.t, 100), *p = tlsf_malloc(P.t, 100), *c = tlsf_malloc(P.t, 100);
    void *other = tlsf_malloc(Q.t, 100);
    CHECK(a && p && c && other);
    fill(p, 100, 0x42);
    long local = 0;
    tlsf_stats_t s0, s1;
    tlsf_get_stats(P.t, &s0);
    void *o = NULL;
    CHECK_EQ(tlsf_realloc(P.t, (char *)p + 8, 200, &o), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_realloc(P.t, (char *)p + 1, 200, &o), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_realloc(P.t, other, 200, &o), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_realloc(P.t, &local, 200, &o), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_realloc(P.t, p, 20, &o) , TLSF_OK); /* sanity: shrink works */
    CHECK(o == p);
    CHECK_EQ(tlsf_free(P.t, p), TLSF_OK);
    tlsf_get_stats(P.t, &s0);
    CHECK_EQ(tlsf_realloc(P.t, p, 200, &o), TLSF_ERR_DOUBLE_FREE);
    CHECK_EQ(tlsf_realloc(P.t, p, 8, &o), TLSF_ERR_DOUBLE_FREE);
    tlsf_get_stats(P.t, &s1);
    CHECK_HELPER(stats_equal(&s0, &s1));
    CHECK_HELPER(validate(&P));
    CHECK_HELPER(validate(&Q));
    CHECK_EQ(tlsf_free(P.t, a), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, c), TLSF_OK);
    CHECK_EQ(tlsf_free(Q.t, other), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
    CHECK_HELPER(is_pristine(&Q));
}

/* ---- free rejection ------------------------------------------------------ */

static int expect_free_rejected(const pool_t *p, void *ptr, int want, int alt) {
    tlsf_stats_t s0, s1;
    HCHECK(check_ok(p));
    tlsf_get_stats(p->t, &s0);
    int rc = tlsf_free(p->t, ptr);
    HCHECKF(rc == want || rc == alt, "tlsf_free(%p) = %d, expected %d", ptr, rc, want);
    tlsf_get_stats(p->t, &s1);
    HCHECK(stats_equal(&s0, &s1));
    HCHECK(validate(p));
    return 1;
}

static void free_double(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    void *g = tlsf_malloc(P.t, 100), *p = tlsf_malloc(P.t, 100), *h = tlsf_malloc(P.t, 100),
         *k = tlsf_malloc(P.t, 100);
    CHECK(g && p && h && k);
    CHECK_EQ(tlsf_free(P.t, p), TLSF_OK);
    CHECK_HELPER(expect_free_rejected(&P, p, TLSF_ERR_DOUBLE_FREE, TLSF_ERR_DOUBLE_FREE));
    CHECK_HELPER(expect_free_rejected(&P, p, TLSF_ERR_DOUBLE_FREE, TLSF_ERR_DOUBLE_FREE));
    /* h merges into p when freed: p is still a free block start, h is no block any more */
    CHECK_EQ(tlsf_free(P.t, h), TLSF_OK);
    CHECK_HELPER(expect_free_rejected(&P, p, TLSF_ERR_DOUBLE_FREE, TLSF_ERR_DOUBLE_FREE));
    CHECK_HELPER(expect_free_rejected(&P, h, TLSF_ERR_FOREIGN, TLSF_ERR_DOUBLE_FREE));
    CHECK_EQ(tlsf_usable_size(P.t, p), 0);
    CHECK_EQ(tlsf_usable_size(P.t, h), 0);
    CHECK_EQ(tlsf_free(P.t, g), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, k), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
    /* the whole region is one free block starting at base+16 */
    CHECK_HELPER(expect_free_rejected(&P, g, TLSF_ERR_DOUBLE_FREE, TLSF_ERR_DOUBLE_FREE));
}

/* The freed block merged into a free neighbour keeps its old header bytes
 * (saying live, its old size) inside the merged block: freeing it again must
 * be refused by its start bit, for every extent check (within one bitmap word,
 * two words, and through the summary), merged backwards and forwards. */
static void free_double_after_merge_any_size(void) {
    static const size_t sizes[] = {24, 200, 496, 504, 600, 4000, 40000, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int forwards = 0; forwards < 2; forwards++) {
            pool_t P;
            CHECK_HELPER(new_pool(&P, 1 << 20));
            void *g = tlsf_malloc(P.t, sizes[i]), *p = tlsf_malloc(P.t, sizes[i]),
                 *h = tlsf_malloc(P.t, sizes[i]), *k = tlsf_malloc(P.t, sizes[i]);
            CHECK(g && p && h && k);
            /* backwards: p first, then h merges into it; forwards: h first, then p absorbs it */
            void *first = forwards ? h : p, *second = forwards ? p : h;
            CHECK_EQ(tlsf_free(P.t, first), TLSF_OK);
            CHECK_EQ(tlsf_free(P.t, second), TLSF_OK);
            CHECK_HELPER(expect_free_rejected(&P, h, TLSF_ERR_FOREIGN, TLSF_ERR_FOREIGN));
            CHECK_HELPER(expect_free_rejected(&P, p, TLSF_ERR_DOUBLE_FREE, TLSF_ERR_DOUBLE_FREE));
            CHECK_EQU(tlsf_usable_size(P.t, h), 0);
            CHECK_EQ(tlsf_free(P.t, g), TLSF_OK);
            CHECK_EQ(tlsf_free(P.t, k), TLSF_OK);
            CHECK_HELPER(is_pristine(&P));
        }
    }
}

static void free_interior_pointer(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    unsigned char *a = tlsf_malloc(P.t, 100), *p = tlsf_malloc(P.t, 100);
    CHECK(a && p);
    fill(p, 100, 0x12);
    size_t u = tlsf_usable_size(P.t, p);
    unsigned char *base = P.base[0];
    void *bad[] = {p + 8, p + 1, p + 16, p + 24, p + u - 8, p - 8, p - 16, p - 1, a + 8,
                   base, base + 8, base + 4, base + P.area[0] - 8, base + P.area[0] - 16,
                   base + 24};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_HELPER(expect_free_rejected(&P, bad[i], TLSF_ERR_FOREIGN, TLSF_ERR_FOREIGN));
    CHECK_HELPER(verify(p, 100, 0x12));
    CHECK_EQU(tlsf_usable_size(P.t, p + 8), 0);
    CHECK_EQU(tlsf_usable_size(P.t, p), u);
    CHECK_EQ(tlsf_free(P.t, p), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, a), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

static void free_pointer_of_other_pool(void) {
    pool_t P, Q;
    CHECK_HELPER(new_pool(&P, 65536));
    CHECK_HELPER(new_pool(&Q, 65536));
    void *a = tlsf_malloc(P.t, 100), *b = tlsf_malloc(Q.t, 100);
    CHECK(a && b);
    tlsf_stats_t q0, q1;
    tlsf_get_stats(Q.t, &q0);
    CHECK_HELPER(expect_free_rejected(&P, b, TLSF_ERR_FOREIGN, TLSF_ERR_FOREIGN));
    CHECK_HELPER(expect_free_rejected(&Q, a, TLSF_ERR_FOREIGN, TLSF_ERR_FOREIGN));
    tlsf_get_stats(Q.t, &q1);
    CHECK_HELPER(stats_equal(&q0, &q1));
    int r;
    size_t off;
    CHECK_EQ(tlsf_locate(P.t, b, &r, &off), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_free(Q.t, b), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, a), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
    CHECK_HELPER(is_pristine(&Q));
}

static void free_pointer_outside_any_region(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    void *a = tlsf_malloc(P.t, 100);
    CHECK(a);
    long local[4] = {0};
    void *heap = tu_alloc(64);
    unsigned char *base = P.base[0];
    CHECK_HELPER(expect_free_rejected(&P, &local[1], TLSF_ERR_FOREIGN, TLSF_ERR_FOREIGN));
    CHECK_HELPER(expect_free_rejected(&P, heap, TLSF_ERR_FOREIGN, TLSF_ERR_FOREIGN));
    CHECK_HELPER(expect_free_rejected(&P, (void *)(uintptr_t)0x1000, TLSF_ERR_FOREIGN,
                                      TLSF_ERR_FOREIGN));
    CHECK_HELPER(expect_free_rejected(&P, (void *)(uintptr_t)UINTPTR_MAX - 7, TLSF_ERR_FOREIGN,
                                      TLSF_ERR_FOREIGN));
    CHECK_HELPER(expect_free_rejected(&P, (void *)((uintptr_t)base - 16), TLSF_ERR_FOREIGN,
                                      TLSF_ERR_FOREIGN));
    CHECK_HELPER(expect_free_rejected(&P, (void *)((uintptr_t)base + P.area[0]), TLSF_ERR_FOREIGN,
                                      TLSF_ERR_FOREIGN));
    CHECK_HELPER(expect_free_rejected(&P, (void *)((uintptr_t)base + P.area[0] + 16),
                                      TLSF_ERR_FOREIGN, TLSF_ERR_FOREIGN));
    CHECK_EQ(tlsf_free(P.t, NULL), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, a), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

/* ---- coalescing ---------------------------------------------------------- */

static int next_perm(int *a, int n) {
    int i = n - 2;
    while (i >= 0 && a[i] >= a[i + 1]) i--;
    if (i < 0) return 0;
    int j = n - 1;
    while (a[j] <= a[i]) j--;
    int t = a[i];
    a[i] = a[j];
    a[j] = t;
    for (int l = i + 1, r = n - 1; l < r; l++, r--) {
        t = a[l];
        a[l] = a[r];
        a[r] = t;
    }
    return 1;
}

static void coalesce_all_orders(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    static const size_t sz[] = {100, 24, 300, 8, 1000};
    for (int n = 3; n <= 5; n++) {
        for (int guard = 0; guard < 2; guard++) {
            int perm[5] = {0, 1, 2, 3, 4};
            int count = 0;
            do {
                void *b[5], *z = NULL;
                size_t total = 0;
                for (int i = 0; i < n; i++) {
                    b[i] = tlsf_malloc(P.t, sz[i]);
                    CHECK(b[i]);
                    total += tlsf_usable_size(P.t, b[i]) + 8;
                    if (i) CHECKF(off_of(&P, b[i], NULL) ==
                                      off_of(&P, b[i - 1], NULL) +
                                          tlsf_usable_size(P.t, b[i - 1]) + 8,
                                  "precondition: consecutive mallocs adjacent");
                }
                if (guard) CHECK((z = tlsf_malloc(P.t, 50)) != NULL);
                for (int k = 0; k < n; k++) {
                    CHECK_EQ(tlsf_free(P.t, b[perm[k]]), TLSF_OK);
                    CHECK_HELPER(validate(&P)); /* includes: no two adjacent free blocks */
                }
                CHECK_HELPER(do_walk(&P));
                if (guard) {
                    CHECK_EQU(WB.n, 3);
                    CHECK(!WB.b[0].used && WB.b[0].offset == 16);
                    CHECK_EQU(WB.b[0].size, total - 8);
                    CHECK(WB.b[1].used);
                    CHECK_EQ(tlsf_free(P.t, z), TLSF_OK);
                }
                CHECK_HELPER(is_pristine(&P));
                count++;
            } while (next_perm(perm, n));
            CHECK_EQ(count, n == 3 ? 6 : n == 4 ? 24 : 120);
        }
    }
}

/* ---- regions ------------------------------------------------------------- */

static void regions_second_region_and_remove(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    void *r0[128];
    size_t n0 = 0;
    for (;;) {
        void *q = tlsf_malloc(P.t, 1000);
        if (!q) break;
        CHECK(n0 < 128);
        r0[n0++] = q;
    }
    CHECK(n0 >= 60);
    CHECK_EQ(add_region(&P, 65536), 1);
    tlsf_stats_t s;
    tlsf_get_stats(P.t, &s);
    CHECK_EQU(s.regions, 2);
    CHECK_EQU(s.area, 2 * 65536);
    void *r1[4];
    for (int i = 0; i < 4; i++) {
        r1[i] = tlsf_malloc(P.t, 1000);
        CHECK(r1[i]);
        int r = -1;
        off_of(&P, r1[i], &r);
        CHECK_EQ(r, 1);
        fill(r1[i], 1000, 0xe1);
    }
    tlsf_region_info_t ri;
    CHECK_EQ(tlsf_region_info(P.t, 1, &ri), TLSF_OK);
    CHECK(ri.base == P.base[1] && ri.area == 65536);
    CHECK_EQ(ri.live, 4);
    CHECK_EQ(tlsf_region_info(P.t, 0, &ri), TLSF_OK);
    CHECK_EQ(ri.live, (int)n0);
    CHECK_HELPER(validate(&P));
    tlsf_stats_t s0, s1;
    tlsf_get_stats(P.t, &s0);
    CHECK_EQ(tlsf_remove_region(P.t, 1), TLSF_ERR_IN_USE);
    CHECK_EQ(tlsf_remove_region(P.t, 0), TLSF_ERR_IN_USE);
    tlsf_get_stats(P.t, &s1);
    CHECK_HELPER(stats_equal(&s0, &s1));
    CHECK_HELPER(validate(&P));
    for (int i = 0; i < 3; i++) CHECK_EQ(tlsf_free(P.t, r1[i]), TLSF_OK);
    CHECK_EQ(tlsf_remove_region(P.t, 1), TLSF_ERR_IN_USE);
    CHECK_HELPER(verify(r1[3], 1000, 0xe1));
    CHECK_EQ(tlsf_free(P.t, r1[3]), TLSF_OK);
    CHECK_EQ(tlsf_remove_region(P.t, 1), TLSF_OK);
    P.base[1] = NULL;
    CHECK_EQ(tlsf_remove_region(P.t, 1), TLSF_ERR_INVALID);
    CHECK_EQ(tlsf_region_info(P.t, 1, &ri), TLSF_ERR_INVALID);
    tlsf_get_stats(P.t, &s);
    CHECK_EQU(s.regions, 1);
    CHECK_EQU(s.area, 65536);
    CHECK_HELPER(validate(&P));
    int r;
    size_t off;
    CHECK_EQ(tlsf_locate(P.t, r1[0], &r, &off), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_free(P.t, r1[0]), TLSF_ERR_FOREIGN);
    CHECK(tlsf_malloc(P.t, 1000) == NULL); /* the removed region is not used */
    CHECK_HELPER(free_all(&P, r0, n0));
    CHECK_EQ(tlsf_remove_region(P.t, 0), TLSF_OK);
    P.base[0] = NULL;
    tlsf_get_stats(P.t, &s);
    CHECK_EQU(s.regions, 0);
    CHECK_EQU(s.area, 0);
    CHECK_EQU(s.allocations, 0);
    CHECK_EQ(add_region(&P, 4096), 0);
    CHECK_HELPER(is_pristine(&P));
}

static void locate_pointer_round_trip(void) {
    pool_t P, Q;
    CHECK_HELPER(new_pool(&P, 16384));
    CHECK_HELPER(new_pool(&Q, 4096));
    CHECK_EQ(add_region(&P, 65536), 1);
    void *p[40];
    size_t n = 0;
    for (int i = 0; i < 20; i++) CHECK((p[n++] = tlsf_malloc(P.t, 2000)) != NULL); /* spills */
    for (int i = 0; i < 20; i++) CHECK((p[n++] = tlsf_memalign(P.t, 64, 100)) != NULL);
    int seen[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        int r = -1;
        size_t off = 0;
        CHECK_EQ(tlsf_locate(P.t, p[i], &r, &off), TLSF_OK);
        CHECK(r == 0 || r == 1);
        seen[r]++;
        CHECK(tlsf_pointer(P.t, r, off) == p[i]);
        tlsf_region_info_t ri;
        CHECK_EQ(tlsf_region_info(P.t, r, &ri), TLSF_OK);
        CHECK((unsigned char *)ri.base + off == p[i]);
        CHECK(off < ri.area);
        /* any interior address locates too */
        int r2 = -1;
        size_t off2 = 0;
        CHECK_EQ(tlsf_locate(P.t, (char *)p[i] + 5, &r2, &off2), TLSF_OK);
        CHECK(r2 == r && off2 == off + 5);
    }
    CHECK(seen[0] > 0 && seen[1] > 0);
    long local;
    int r;
    size_t off;
    void *q = tlsf_malloc(Q.t, 10);
    CHECK(q);
    CHECK_EQ(tlsf_locate(P.t, &local, &r, &off), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_locate(P.t, q, &r, &off), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_locate(P.t, (char *)P.base[1] + P.area[1], &r, &off), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_locate(P.t, (char *)P.base[0] - 1, &r, &off), TLSF_ERR_FOREIGN);
    CHECK_EQ(tlsf_locate(P.t, P.base[0], &r, &off), TLSF_OK);
    CHECK(r == 0 && off == 0);
    CHECK(tlsf_pointer(P.t, 0, 16) == (char *)P.base[0] + 16);
    CHECK(tlsf_pointer(P.t, 1, P.area[1] + 8) == NULL);
    CHECK(tlsf_pointer(P.t, 1, (size_t)1 << 40) == NULL);
    CHECK(tlsf_pointer(P.t, 1, SIZE_MAX) == NULL);
    CHECK(tlsf_pointer(P.t, 2, 16) == NULL);
    CHECK(tlsf_pointer(P.t, -1, 16) == NULL);
    CHECK(tlsf_pointer(P.t, TLSF_MAX_REGIONS, 16) == NULL);
    CHECK_HELPER(free_all(&P, p, n));
    CHECK_EQ(tlsf_free(Q.t, q), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

/* ---- stats / walk -------------------------------------------------------- */

static void stats_consistent_with_walk(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 256u << 10));
    CHECK_EQ(add_region(&P, 64u << 10), 1);
    void *live[256];
    size_t n = 0, peak = 0, last_peak = 0;
    uint64_t x = 7;
    tlsf_stats_t s;
    for (int step = 0; step < 3000; step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int op = (int)(x % 10);
        if ((op < 5 || n == 0) && n < 256) {
            size_t sz = (size_t)((x >> 8) % ((x >> 40) % 3 == 0 ? 20000 : 300));
            void *q = (op == 4) ? tlsf_memalign(P.t, (size_t)8 << ((x >> 20) % 8), sz)
                                : tlsf_malloc(P.t, sz);
            if (q) live[n++] = q;
        } else if (op < 8) {
            size_t i = (size_t)((x >> 16) % n);
            CHECK_EQ(tlsf_free(P.t, live[i]), TLSF_OK);
            live[i] = live[--n];
        } else {
            size_t i = (size_t)((x >> 16) % n);
            void *o = NULL;
            int rc = tlsf_realloc(P.t, live[i], (size_t)((x >> 24) % 8000), &o);
            CHECK(rc == TLSF_OK || rc == TLSF_ERR_NOMEM);
            if (rc == TLSF_OK) live[i] = o;
        }
        tlsf_get_stats(P.t, &s);
        if (s.used > peak) peak = s.used;
        CHECKF(s.peak_used >= last_peak, "peak_used decreased: %zu -> %zu", last_peak,
               s.peak_used);
        CHECKF(s.peak_used >= peak, "peak_used %zu < observed max used %zu", s.peak_used, peak);
        if (op < 8) /* malloc/free: no transient double allocation as in a moving realloc */
            CHECKF(s.peak_used == (last_peak > s.used ? last_peak : s.used),
                   "peak_used %zu, expected max(%zu, %zu)", s.peak_used, last_peak, s.used);
        last_peak = s.peak_used;
        CHECK_EQU(s.allocations, n);
        if (step % 10 == 0) CHECK_HELPER(validate(&P));
    }
    CHECK_HELPER(free_all(&P, live, n));
    tlsf_get_stats(P.t, &s);
    CHECK_EQU(s.used, 0);
    CHECK(s.peak_used >= peak);
    CHECK_EQU(s.free, (256u << 10) - 24 + (64u << 10) - 24);
    CHECK_EQU(s.largest_free, (256u << 10) - 24);
    CHECK_HELPER(is_pristine(&P));
}

static int stop_after_3(const tlsf_block_info_t *b, void *u) {
    (void)b;
    int *n = u;
    return ++*n == 3;
}

static void walk_layout_identity(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 65536));
    CHECK_EQ(add_region(&P, 4096), 1);
    CHECK_EQ(add_region(&P, 8192 + 8), 2);
    void *a[30];
    for (int i = 0; i < 30; i++) CHECK((a[i] = tlsf_malloc(P.t, (size_t)i * 97)) != NULL);
    for (int i = 0; i < 30; i += 3) CHECK_EQ(tlsf_free(P.t, a[i]), TLSF_OK);
    void *r1 = tlsf_malloc(P.t, 4000); /* too big for region 0's holes only if full; fine */
    CHECK(r1);
    CHECK_HELPER(validate(&P)); /* offsets, identity sum(size+8) == area-16, order */
    CHECK_HELPER(do_walk(&P));
    /* explicit identity per region, and offsets strictly increasing */
    for (int r = 0; r < 3; r++) {
        size_t sum = 0, blocks = 0, last = 0;
        for (size_t i = 0; i < WB.n; i++) {
            if (WB.b[i].region != r) continue;
            CHECK(WB.b[i].offset > last);
            last = WB.b[i].offset;
            sum += WB.b[i].size;
            blocks++;
        }
        CHECK(blocks >= 1);
        /* each block costs size + 8, plus 16 bytes: first prev_size word and the sentinel's size word */
        CHECKF(sum + 8 * blocks + 16 == P.area[r], "region %d: %zu + 8*%zu + 16 != %zu", r, sum,
               blocks, P.area[r]);
    }
    int cnt = 0;
    tlsf_walk(P.t, stop_after_3, &cnt);
    CHECK_EQ(cnt, 3);
    for (int i = 0; i < 30; i++)
        if (i % 3) CHECK_EQ(tlsf_free(P.t, a[i]), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, r1), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

/* ---- corruption ---------------------------------------------------------- */

static int count_cb(const tlsf_block_info_t *b, void *u) {
    (void)b;
    ++*(size_t *)u;
    return 0;
}

/* check reports the damage (and does not set the corrupted flag); walk and stats survive. */
static int expect_corrupted(const pool_t *p, const char *what) {
    const char *why = NULL;
    int rc = tlsf_check(p->t, &why);
    HCHECKF(rc == TLSF_ERR_CORRUPTED, "%s: tlsf_check = %d, expected CORRUPTED", what, rc);
    HCHECKF(why != NULL && why[0] != 0, "%s: no reason", what);
    HCHECKF(!tlsf_is_corrupted(p->t), "%s: tlsf_check set the corrupted flag", what);
    size_t n = 0;
    rc = tlsf_walk(p->t, count_cb, &n);
    HCHECK(rc == TLSF_OK || rc == TLSF_ERR_CORRUPTED);
    tlsf_stats_t s;
    tlsf_get_stats(p->t, &s);
    return 1;
}

typedef struct six {
    pool_t P;
    unsigned char *a, *b, *c, *d, *e, *g;
} six_t;

/* a..e, g of 96 usable bytes each, adjacent, filled with 0x43 ('C'); region 1 of 4096. */
static int setup_six(six_t *s, int full) {
    HCHECK(new_pool(&s->P, 65536));
    unsigned char **v[] = {&s->a, &s->b, &s->c, &s->d, &s->e, &s->g};
    for (int i = 0; i < 6; i++) {
        *v[i] = tlsf_malloc(s->P.t, 96);
        HCHECK(*v[i]);
        HCHECK(tlsf_usable_size(s->P.t, *v[i]) == 96);
        memset(*v[i], 0x43, 96);
        if (i) HCHECK(*v[i] == *v[i - 1] + 104);
    }
    if (full) {
        void *rest[64];
        size_t n = 0;
        HCHECK(fill_pool(&s->P, rest, &n, 64));
    }
    HCHECK(add_region(&s->P, 4096) == 1);
    if (full) {
        void *rest[64];
        size_t n = 0;
        HCHECK(fill_pool(&s->P, rest, &n, 64));
    }
    HCHECK(check_ok(&s->P));
    return 1;
}

static void corrupt_used_block_size(void) {
    six_t S;
    CHECK_HELPER(setup_six(&S, 0));
    uint64_t orig = rd64(size_word(S.b));
    static const uint64_t bad[] = {16, 8, (uint64_t)-16, 0x7fffffffffff8ull};
    for (size_t i = 0; i < 4; i++) {
        uint64_t v = i < 3 ? orig + bad[i] : bad[i];
        wr64(size_word(S.b), v);
        CHECK_HELPER(expect_corrupted(&S.P, "used size word"));
        wr64(size_word(S.b), orig);
        CHECK_HELPER(validate(&S.P));
    }
    wr64(size_word(S.b), 0x7fffffffffff8ull);
    size_t n = 0;
    CHECK_EQ(tlsf_walk(S.P.t, count_cb, &n), TLSF_ERR_CORRUPTED);
    wr64(size_word(S.b), 0);
    CHECK_HELPER(expect_corrupted(&S.P, "used size word 0"));
    wr64(size_word(S.b), orig);
    CHECK_HELPER(validate(&S.P));
}

/* A live block whose size word an overflow shrank, to every length the
 * extent checks read in one window (1..63 granules and past them): free
 * refuses it as corrupted, the cache off (the quick path) and on (parking),
 * and no byte of the block after it changes. */
static void free_refuses_shrunk_size_every_window(void) {
    /* Lengths 4 .. 124 start bits: one window, two (57 .. 112) and the long check. */
    for (unsigned depth = 0; depth <= 16; depth += 16) {
        for (uint64_t size = 24; size < 1000; size += 8) {
            pool_t P;
            CHECK_HELPER(new_pool(&P, 65536));
            CHECK_EQ(tlsf_set_cache(P.t, depth), TLSF_OK);
            void *x = tlsf_malloc(P.t, 1000), *y = tlsf_malloc(P.t, 64);
            CHECK(x && y);
            fill(x, 1000, 0); /* no stale header inside x to trip over */
            fill(y, 64, 0x5a);
            uint64_t orig = rd64(size_word(x));
            wr64(size_word(x), (orig & ~(uint64_t)0x01fffffffffffff8ull) | size);
            int rc = tlsf_free(P.t, x);
            CHECKF(rc == TLSF_ERR_CORRUPTED, "cache %u, size word %llu of a 1000-byte block: free = %d", depth,
                   (unsigned long long)size, rc);
            CHECK(verify(y, 64, 0x5a));
        }
    }
}

/* A size word grown over the next block (y), to end where the block after it
 * (z) starts: the start bitmap has y's bit in between, at every place in the
 * one-window and two-window checks, so free refuses it and y is untouched. */
static void free_refuses_grown_size_every_window(void) {
    for (unsigned depth = 0; depth <= 16; depth += 16) {
        for (uint64_t size = 24; size < 880; size += 8) {
            pool_t P;
            CHECK_HELPER(new_pool(&P, 65536));
            CHECK_EQ(tlsf_set_cache(P.t, depth), TLSF_OK);
            void *x = tlsf_malloc(P.t, size), *y = tlsf_malloc(P.t, 24), *z = tlsf_malloc(P.t, 64);
            CHECK(x && y && z);
            fill(y, 24, 0x5a);
            uint64_t orig = rd64(size_word(x)); /* size, or with the cache on its class's lower bound */
            wr64(size_word(x), orig + 24 + 8); /* x, y's header and y */
            int rc = tlsf_free(P.t, x);
            CHECKF(rc == TLSF_ERR_CORRUPTED, "cache %u, %llu-byte block grown over the next: free = %d", depth,
                   (unsigned long long)size, rc);
            CHECK(verify(y, 24, 0x5a));
        }
    }
}

static void corrupt_free_block_size(void) {
    six_t S;
    CHECK_HELPER(setup_six(&S, 0));
    CHECK_EQ(tlsf_free(S.P.t, S.b), TLSF_OK);
    uint64_t orig = rd64(size_word(S.b));
    CHECK(orig & 1);
    static const uint64_t bad[] = {16, 8, (uint64_t)-16, (uint64_t)-72};
    for (size_t i = 0; i < 4; i++) {
        wr64(size_word(S.b), orig + bad[i]);
        CHECK_HELPER(expect_corrupted(&S.P, "free size word"));
        wr64(size_word(S.b), orig);
        CHECK_HELPER(validate(&S.P));
    }
    wr64(size_word(S.b), 0x7fffffffffff8ull | 1);
    CHECK_HELPER(expect_corrupted(&S.P, "free size word huge"));
    wr64(size_word(S.b), orig);
    CHECK_HELPER(validate(&S.P));
}

static void corrupt_free_list_link(void) {
    six_t S;
    CHECK_HELPER(setup_six(&S, 0));
    CHECK_EQ(tlsf_free(S.P.t, S.b), TLSF_OK);
    CHECK_EQ(tlsf_free(S.P.t, S.d), TLSF_OK); /* b and d: same list */
    size_t off_b = off_of(&S.P, S.b, NULL), off_c = off_of(&S.P, S.c, NULL);
    CHECK_HELPER(do_walk(&S.P));
    size_t off_x = 0; /* the free tail of region 1 */
    for (size_t i = 0; i < WB.n; i++)
        if (WB.b[i].region == 1 && !WB.b[i].used) off_x = WB.b[i].offset;
    CHECK(off_x);
    (void)off_b;
    const uint64_t bad[] = {
        0xdeadbeefdeadbeefull,
        make_link(&S.P, 1, off_x),           /* a real free block, in another region and list */
        make_link(&S.P, 0, off_c),           /* a used block */
        make_link(&S.P, 0, off_c + 8),       /* no block start */
        make_link(&S.P, 0, 20),              /* misaligned header offset 4 */
        make_link(&S.P, 0, 65536 + 4096),    /* past the region */
        make_link(&S.P, 1, 65536),           /* past region 1 */
        16,                            /* inside the control structure: no region */
        make_link(&S.P, 0, off_b),           /* itself */
        ((uint64_t)0xffff << 48) | 16, /* far from every region */
    };
    for (int which = 0; which < 2; which++) { /* next_free, then prev_free */
        for (int blk = 0; blk < 2; blk++) {
            unsigned char *u = (blk ? S.d : S.b) + 8 * which;
            uint64_t orig = rd64(u);
            for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                if (bad[i] == orig) continue;
                wr64(u, bad[i]);
                char what[96];
                snprintf(what, sizeof what, "%s of %c = %#jx", which ? "prev_free" : "next_free",
                         blk ? 'd' : 'b', (uintmax_t)bad[i]);
                CHECK_HELPER(expect_corrupted(&S.P, what));
                wr64(u, orig);
                CHECK_HELPER(validate(&S.P));
            }
        }
    }
}

/* Free-list damage an allocation meets at a list head: each must leave the
 * damaged block unhanded-out, the pool marked corrupted, and live blocks
 * untouched (what tlsf_malloc's quick path checks before it unlinks a head). */
static void malloc_refuses_damaged_list_head(void) {
    for (int kase = 0; kase < 3; kase++) {
        six_t S;
        CHECK_HELPER(setup_six(&S, 0));
        CHECK_EQ(tlsf_free(S.P.t, S.b), TLSF_OK);
        CHECK_EQ(tlsf_free(S.P.t, S.d), TLSF_OK); /* list 96: d (head), then b */
        unsigned char *fake = S.c + 16;           /* a block a user could fake inside c */
        if (kase == 0) {
            /* the head's back link is not 0 */
            wr64(S.d + 8, make_link(&S.P, 0, off_of(&S.P, S.b, NULL)));
        } else if (kase == 1) {
            /* the head's next block no longer says free (an overflow of a rewrote b's header) */
            wr64(size_word(S.b), 96);
        } else {
            /* the head's next link names a block faked in c's bytes: header, then
             * (once d is handed out) its boundary tag in d's bytes; no start bit */
            wr64(fake + 8, 96 | TLSF_BLOCK_FREE);
            wr64(fake + 16, 0);
            wr64(fake + 24, 0);
            wr64(S.d, make_link(&S.P, 0, off_of(&S.P, S.c, NULL) + 32));
            unsigned char *d = tlsf_malloc(S.P.t, 96);
            CHECK(d == S.d);
            wr64(d + 16, 96);                 /* the fake's next header: prev_size */
            wr64(d + 24, TLSF_BLOCK_PREV_FREE); /* and its previous-free flag */
        }
        unsigned char *p = tlsf_malloc(S.P.t, 96);
        CHECK(p == NULL);
        CHECK(tlsf_is_corrupted(S.P.t));
        for (size_t i = 0; i < 96; i++)
            if (kase != 2 || i < 16 || i >= 48) CHECK(S.c[i] == 0x43 && S.a[i] == 0x43 && S.e[i] == 0x43);
        CHECK_EQ(tlsf_free(S.P.t, S.a), TLSF_ERR_CORRUPTED);
    }
}

/* A free whose next block's header says its predecessor is free while the
 * block being freed is live: reported as corrupted, nothing merged. */
static void free_refuses_damaged_next_header(void) {
    six_t S;
    CHECK_HELPER(setup_six(&S, 0));
    uint64_t orig = rd64(size_word(S.d));
    wr64(size_word(S.d), orig | TLSF_BLOCK_PREV_FREE); /* d's header: "c is free" */
    CHECK_EQ(tlsf_free(S.P.t, S.c), TLSF_ERR_CORRUPTED);
    CHECK(tlsf_is_corrupted(S.P.t));
    CHECK_EQU(rd64(size_word(S.c)), 96); /* c still live, its size unchanged */
}

static void corrupt_overflow_into_next_header(void) {
    six_t S;
    CHECK_HELPER(setup_six(&S, 0));
    CHECK_EQ(tlsf_free(S.P.t, S.d), TLSF_OK);
    /* a -> b (used), c -> d (free) */
    unsigned char *targets[] = {S.a, S.c};
    for (int i = 0; i < 2; i++) {
        unsigned char *end = targets[i] + tlsf_usable_size(S.P.t, targets[i]);
        uint64_t orig = rd64(end);
        memset(end, 0x41, 8);
        CHECK_HELPER(expect_corrupted(&S.P, "8-byte overflow"));
        wr64(end, orig);
        CHECK_HELPER(validate(&S.P));
    }
}

static void corrupt_flipped_free_bit(void) {
    six_t S;
    CHECK_HELPER(setup_six(&S, 0));
    CHECK_EQ(tlsf_free(S.P.t, S.d), TLSF_OK);
    struct {
        unsigned char *u;
        uint64_t bit;
        const char *what;
    } cases[] = {{S.b, 1, "used block marked free"},
                 {S.d, 1, "free block marked used"},
                 {S.e, 2, "prev-free bit cleared after a free block"},
                 {S.c, 2, "prev-free bit set after a used block"},
                 {S.g, 1, "last used block marked free"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t orig = rd64(size_word(cases[i].u));
        wr64(size_word(cases[i].u), orig ^ cases[i].bit);
        CHECK_HELPER(expect_corrupted(&S.P, cases[i].what));
        wr64(size_word(cases[i].u), orig);
        CHECK_HELPER(validate(&S.P));
    }
}

static void corrupt_link_then_malloc_fails_safely(void) {
    six_t S;
    CHECK_HELPER(setup_six(&S, 1)); /* nothing else free */
    CHECK_EQ(tlsf_free(S.P.t, S.b), TLSF_OK);
    CHECK_EQ(tlsf_free(S.P.t, S.d), TLSF_OK);
    tlsf_stats_t s;
    tlsf_get_stats(S.P.t, &s);
    CHECK_EQU(s.free, 192);
    wr64(S.b, 0xdeadbeefdeadbeefull);
    wr64(S.d, 0xdeadbeefdeadbeefull);
    void *got = S.b;
    int k;
    for (k = 0; k < 3 && got; k++) got = tlsf_malloc(S.P.t, 96);
    CHECKF(got == NULL, "malloc kept succeeding over a corrupted list");
    CHECK(tlsf_is_corrupted(S.P.t));
    CHECK(tlsf_malloc(S.P.t, 8) == NULL);
    CHECK(tlsf_malloc(S.P.t, 0) == NULL);
    CHECK(tlsf_calloc(S.P.t, 1, 8) == NULL);
    CHECK(tlsf_memalign(S.P.t, 64, 8) == NULL);
    void *o = NULL;
    CHECK_EQ(tlsf_realloc(S.P.t, NULL, 8, &o), TLSF_ERR_CORRUPTED);
    const char *why = NULL;
    CHECK_EQ(tlsf_check(S.P.t, &why), TLSF_ERR_CORRUPTED);
}

static void corrupt_neighbour_link_then_free(void) {
    six_t S;
    CHECK_HELPER(setup_six(&S, 0));
    CHECK_EQ(tlsf_free(S.P.t, S.b), TLSF_OK);
    wr64(S.b, 0xdeadbeefdeadbeefull);
    wr64(S.b + 8, 0xdeadbeefdeadbeefull);
    int rc = tlsf_free(S.P.t, S.a); /* merges with b: must unlink b through broken links */
    CHECK_EQ(rc, TLSF_ERR_CORRUPTED);
    CHECK(tlsf_is_corrupted(S.P.t));
    CHECK(tlsf_malloc(S.P.t, 8) == NULL);
}

/* free/realloc of a live block whose size word was smashed (free bit still clear). */
static void corrupt_size_then_free(void) {
    static const uint64_t bad[] = {0x7fffffffffff8ull, 16, 0x4141414141414140ull, 0, 8};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        six_t S;
        CHECK_HELPER(setup_six(&S, 0));
        uint64_t orig = rd64(size_word(S.c));
        wr64(size_word(S.c), (i == 1 || i == 4) ? orig + bad[i] : bad[i]);
        int rc = tlsf_free(S.P.t, S.c);
        CHECKF(rc == TLSF_ERR_CORRUPTED || rc == TLSF_ERR_FOREIGN,
               "free of a block with size word %#jx = %d", (uintmax_t)rd64(size_word(S.c)), rc);
        (void)tlsf_usable_size(S.P.t, S.c);
        void *o = NULL;
        rc = tlsf_realloc(S.P.t, S.c, 200, &o);
        CHECKF(rc == TLSF_ERR_CORRUPTED || rc == TLSF_ERR_FOREIGN,
               "realloc of a block with size word %#jx = %d", (uintmax_t)rd64(size_word(S.c)), rc);
        tu_release();
    }
}

/* The same with garbage that has the free bit set: the flag alone makes the block
 * look freed, so DOUBLE_FREE is accepted here too; nothing may change and no crash. */
static void corrupt_size_with_free_bit_then_free(void) {
    static const uint64_t bad[] = {0x4141414141414141ull, 0x7fffffffffff9ull, 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        six_t S;
        CHECK_HELPER(setup_six(&S, 0));
        wr64(size_word(S.c), bad[i]);
        tlsf_stats_t s0, s1;
        tlsf_get_stats(S.P.t, &s0);
        int rc = tlsf_free(S.P.t, S.c);
        CHECKF(rc == TLSF_ERR_CORRUPTED || rc == TLSF_ERR_FOREIGN || rc == TLSF_ERR_DOUBLE_FREE,
               "free of a block with size word %#jx = %d", (uintmax_t)bad[i], rc);
        if (rc == TLSF_ERR_DOUBLE_FREE) {
            tlsf_get_stats(S.P.t, &s1);
            CHECK_HELPER(stats_equal(&s0, &s1));
        }
        void *o = NULL;
        rc = tlsf_realloc(S.P.t, S.c, 200, &o);
        CHECKF(rc == TLSF_ERR_CORRUPTED || rc == TLSF_ERR_FOREIGN || rc == TLSF_ERR_DOUBLE_FREE,
               "realloc of a block with size word %#jx = %d", (uintmax_t)bad[i], rc);
        /* freeing the neighbour before it must not merge with the garbage */
        rc = tlsf_free(S.P.t, S.b);
        CHECKF(rc == TLSF_ERR_CORRUPTED, "free of the block before = %d", rc);
        CHECK(tlsf_is_corrupted(S.P.t));
        tu_release();
    }
}

static void corrupt_overflow_then_free_neighbour(void) {
    six_t S;
    CHECK_HELPER(setup_six(&S, 0));
    memset(S.b + 96, 0x41, 8); /* c's size word */
    int rc = tlsf_free(S.P.t, S.b);
    CHECKF(rc == TLSF_ERR_CORRUPTED, "free of the block before a smashed header = %d", rc);
    CHECK(tlsf_is_corrupted(S.P.t));
}

/* ---- front cache (off by default) ---------------------------------------- */

static void cache_parked_blocks(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 1u << 20));
    CHECK_EQ(tlsf_set_cache(P.t, TLSF_CACHE_DEPTH_MAX + 1), TLSF_ERR_INVALID);
    CHECK_EQ(tlsf_set_cache(P.t, 16), TLSF_OK);
    void *p = tlsf_malloc(P.t, 100), *q = tlsf_malloc(P.t, 100), *g = tlsf_malloc(P.t, 100);
    CHECK(p && q && g);
    size_t up = tlsf_usable_size(P.t, p);
    CHECK_EQ(tlsf_free(P.t, p), TLSF_OK);
    CHECK_EQU(tlsf_usable_size(P.t, p), 0);
    tlsf_stats_t s0, s1;
    tlsf_get_stats(P.t, &s0);
    CHECKF(s0.cached == up, "stats.cached %zu, parked %zu", s0.cached, up);
    CHECK_EQU(s0.allocations, 2);
    CHECK_EQ(tlsf_free(P.t, p), TLSF_ERR_DOUBLE_FREE); /* parked is freed */
    CHECK_EQ(tlsf_free(P.t, (char *)p + 8), TLSF_ERR_FOREIGN);
    void *o = NULL;
    CHECK_EQ(tlsf_realloc(P.t, p, 10, &o), TLSF_ERR_DOUBLE_FREE);
    tlsf_get_stats(P.t, &s1);
    CHECK_HELPER(stats_equal(&s0, &s1));
    CHECK_HELPER(check_ok(&P));
    CHECK_HELPER(do_walk(&P));
    CHECK(WB.n >= 2 && WB.b[0].offset == 16 && !WB.b[0].used && WB.b[0].size == up);
    void *p2 = tlsf_malloc(P.t, 100);
    CHECKF(p2 == p, "malloc of the parked class returned %p, not the parked %p", p2, p);
    tlsf_get_stats(P.t, &s1);
    CHECK_EQU(s1.cached, 0);
    /* park several, flush: everything merges back */
    CHECK_EQ(tlsf_free(P.t, p2), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, g), TLSF_OK);
    CHECK_EQ(tlsf_free(P.t, q), TLSF_OK);
    CHECK_HELPER(check_ok(&P));
    CHECK_EQ(tlsf_flush_cache(P.t), TLSF_OK);
    tlsf_get_stats(P.t, &s1);
    CHECK_EQU(s1.cached, 0);
    CHECK_HELPER(is_pristine(&P));
    /* lowering the depth flushes too */
    void *a[8];
    for (int i = 0; i < 8; i++) CHECK((a[i] = tlsf_malloc(P.t, (size_t)(i + 1) * 300)) != NULL);
    for (int i = 0; i < 8; i++) CHECK_EQ(tlsf_free(P.t, a[i]), TLSF_OK);
    CHECK_HELPER(check_ok(&P));
    CHECK_EQ(tlsf_set_cache(P.t, 0), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
    /* a full pool: parked blocks are flushed when an allocation finds no room */
    CHECK_EQ(tlsf_set_cache(P.t, 16), TLSF_OK);
    for (int i = 0; i < 8; i++) CHECK((a[i] = tlsf_malloc(P.t, 5000)) != NULL);
    for (int i = 0; i < 8; i++) CHECK_EQ(tlsf_free(P.t, a[i]), TLSF_OK);
    void *big = tlsf_malloc(P.t, tlsf_region_max_alloc(1u << 20));
    CHECKF(big != NULL, "malloc(max) did not flush the cache");
    CHECK_EQ(tlsf_free(P.t, big), TLSF_OK);
    CHECK_EQ(tlsf_flush_cache(P.t), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

/* With the cache on, used and allocations count live blocks only, cached the
 * parked bytes, and peak_used the most bytes ever taken from the free lists
 * (parked blocks stay taken: a park or a pop leaves it be). The cache keeps
 * to its budget (a quarter of the area) whichever path parks: a class takes
 * more than the small path's depth when the budget has room, and no more once
 * it has not. */
static void cache_counts_and_budget(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 1u << 20)); /* budget 256 KiB: small classes 8 deep on the quick path */
    CHECK_EQ(tlsf_set_cache(P.t, 64), TLSF_OK);
    enum { N = 64 };
    void *a[N];
    for (int i = 0; i < N; i++) CHECK((a[i] = tlsf_malloc(P.t, 40)) != NULL);
    tlsf_stats_t s;
    tlsf_get_stats(P.t, &s);
    CHECK_EQU(s.used, N * 40);
    CHECK_EQU(s.peak_used, N * 40);
    for (int i = 0; i < N / 2; i++) CHECK_EQ(tlsf_free(P.t, a[i]), TLSF_OK);
    tlsf_get_stats(P.t, &s);
    CHECK_EQU(s.cached, N / 2 * 40); /* 32 parked in one class: 8 on the quick path, 24 on the general one */
    CHECK_EQU(s.used, N / 2 * 40);
    CHECK_EQU(s.allocations, N / 2);
    CHECK_EQU(s.peak_used, N * 40);
    CHECK_HELPER(check_ok(&P));
    void *c[N / 2]; /* from the lists while 32 blocks are parked: the peak counts those */
    for (int i = 0; i < N / 2; i++) CHECK((c[i] = tlsf_malloc(P.t, 48)) != NULL);
    tlsf_get_stats(P.t, &s);
    CHECK_EQU(s.used, N / 2 * (40 + 48));
    CHECK_EQU(s.peak_used, N * 40 + N / 2 * 48);
    for (int i = 0; i < N / 2; i++) CHECK_EQ(tlsf_free(P.t, c[i]), TLSF_OK);
    void *popped = tlsf_malloc(P.t, 48);
    CHECK(popped == c[N / 2 - 1]); /* the newest parked block of its class */
    tlsf_stats_t t1;
    tlsf_get_stats(P.t, &t1);
    CHECK_EQU(t1.cached, N / 2 * (40 + 48) - 48);
    CHECK_EQU(t1.used, N / 2 * 40 + 48);
    CHECK_EQU(t1.allocations, N / 2 + 1);
    CHECK_EQU(t1.peak_used, N * 40 + N / 2 * 48);
    CHECK_HELPER(check_ok(&P));
    CHECK_EQ(tlsf_free(P.t, popped), TLSF_OK);
    CHECK_EQ(tlsf_flush_cache(P.t), TLSF_OK);
    for (int i = 0; i < N / 2; i++) CHECK((a[i] = tlsf_malloc(P.t, 40)) != NULL);
    tlsf_get_stats(P.t, &s);
    CHECK_EQU(s.cached, 0);
    CHECK_EQU(s.used, N * 40);
    CHECK_EQU(s.allocations, N);
    for (int i = 0; i < N; i++) CHECK_EQ(tlsf_free(P.t, a[i]), TLSF_OK);
    tlsf_get_stats(P.t, &s);
    CHECK_EQU(s.used, 0);
    CHECK_EQU(s.allocations, 0);
    CHECK_HELPER(check_ok(&P));
    CHECK_EQ(tlsf_flush_cache(P.t), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
    /* Large blocks parked first (the general path), then 24 of every small
     * class (8 on the quick path, the rest on the general one), more than the
     * budget in all: what is parked stays within it. */
    static void *b[60 + 61 * 24];
    size_t n = 0;
    for (int k = 0; k < 60; k++) CHECK((b[n++] = tlsf_malloc(P.t, 5000)) != NULL);
    for (int k = 0; k < 24; k++)
        for (size_t size = 24; size <= 504; size += 8) CHECK((b[n++] = tlsf_malloc(P.t, size)) != NULL);
    for (size_t i = 0; i < n; i++) CHECK_EQ(tlsf_free(P.t, b[i]), TLSF_OK);
    tlsf_get_stats(P.t, &s);
    CHECKF(s.cached > 0 && s.cached <= s.area / 4, "%zu bytes parked, budget %zu", s.cached, s.area / 4);
    CHECK_EQU(s.used, 0);
    CHECK_EQU(s.allocations, 0);
    CHECK_HELPER(check_ok(&P));
    CHECK_EQ(tlsf_set_cache(P.t, 0), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

/* A pool whose cache stays off never writes or reads the cache's lists (the
 * control's last 12 KiB stay as the caller left them, so they stay out of
 * resident memory); turning the cache on zeroes them first. */
static void cache_lists_untouched_while_off(void) {
    size_t n = tlsf_control_size(), lists = (size_t)12 << 10;
    CHECK(n > lists);
    unsigned char *m = tu_aligned(16, n);
    memset(m, 0xA5, n);
    pool_t P;
    memset(&P, 0, sizeof P);
    P.t = tlsf_create(m, n);
    CHECK(P.t != NULL);
    CHECK_EQ(add_region(&P, 1u << 20), 0);
    void *a[64];
    for (int i = 0; i < 64; i++) CHECK((a[i] = tlsf_malloc(P.t, (size_t)(i * 37 % 600) + 1)) != NULL);
    for (int i = 0; i < 64; i += 2) CHECK_EQ(tlsf_free(P.t, a[i]), TLSF_OK);
    CHECK_EQ(tlsf_flush_cache(P.t), TLSF_OK);
    CHECK_HELPER(check_ok(&P));
    CHECK_HELPER(do_walk(&P));
    tlsf_stats_t s;
    tlsf_get_stats(P.t, &s);
    CHECK_EQU(s.cached, 0);
    CHECK_EQU(s.allocations, 32);
    int untouched = 1;
    for (size_t i = n - lists; i < n; i++) untouched &= m[i] == 0xA5;
    CHECKF(untouched, "the cache's lists were written with the cache off");
    CHECK_EQ(tlsf_set_cache(P.t, 8), TLSF_OK); /* turned on over garbage: zeroed first */
    for (int i = 1; i < 64; i += 2) CHECK_EQ(tlsf_free(P.t, a[i]), TLSF_OK);
    tlsf_get_stats(P.t, &s);
    CHECK(s.cached > 0);
    CHECK_HELPER(check_ok(&P));
    for (int i = 0; i < 64; i++) CHECK((a[i] = tlsf_malloc(P.t, (size_t)(i * 37 % 600) + 1)) != NULL);
    for (int i = 0; i < 64; i++) CHECK_EQ(tlsf_free(P.t, a[i]), TLSF_OK);
    CHECK_EQ(tlsf_set_cache(P.t, 0), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

/* Resident pages of [p, p + bytes) (p page-aligned). */
static size_t resident_pages(void *p, size_t bytes) {
    size_t pages = (bytes + 4095) / 4096, n = 0;
    static unsigned char vec[1024];
    if (pages > sizeof vec || mincore(p, pages * 4096, vec) != 0) return (size_t)-1;
    for (size_t i = 0; i < pages; i++) n += vec[i] & 1;
    return n;
}

/* A control structure from fresh pages, made with tlsf_create_zeroed: it works
 * as any, and a pool that uses the small lists and one large one (its region's
 * remainder) has touched two pages of it: the hot words, the region table and
 * the small lists share the first. */
static void zeroed_control_touches_two_pages(void) {
    size_t n = tlsf_control_size(), area = (size_t)64 << 20;
    CHECK(tlsf_create_zeroed(NULL, n) == NULL);
    unsigned char *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *mem = mmap(NULL, area, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(m != MAP_FAILED && mem != MAP_FAILED);
    CHECK(tlsf_create_zeroed(m + 4, n) == NULL);
    CHECK(tlsf_create_zeroed(m, n - 1) == NULL);
    CHECK_EQU(resident_pages(m, n), 0);
    tlsf_t *t = tlsf_create_zeroed(m, n);
    CHECK(t != NULL);
    void *bitmap = calloc(1, tlsf_bitmap_size(area));
    CHECK(bitmap != NULL);
    CHECK_EQ(tlsf_add_region_zeroed(t, mem, area, bitmap), 0);
    void *a[1000];
    for (int i = 0; i < 1000; i++) CHECK((a[i] = tlsf_malloc(t, 16 + (size_t)(i * 7919 % 497))) != NULL);
    for (int i = 0; i < 1000; i += 3) CHECK_EQ(tlsf_free(t, a[i]), TLSF_OK);
    size_t touched = resident_pages(m, n); /* before tlsf_check, which reads every list */
    CHECKF(touched <= 2, "%zu pages of the control structure resident", touched);
    CHECK_EQ(tlsf_check(t, NULL), TLSF_OK);
    for (int i = 1; i < 1000; i++)
        if (i % 3) CHECK_EQ(tlsf_free(t, a[i]), TLSF_OK);
    tlsf_stats_t s;
    tlsf_get_stats(t, &s);
    CHECK_EQU(s.allocations, 0);
    CHECK_EQ(tlsf_check(t, NULL), TLSF_OK);
    free(bitmap);
    munmap(mem, area);
    munmap(m, n);
}

/* ---- tlsf_walk_free -------------------------------------------------------- */

static int by_place(const void *a, const void *b) {
    const tlsf_block_info_t *x = a, *y = b;
    if (x->region != y->region) return x->region < y->region ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* A pool of two regions with free blocks of many sizes; its live blocks in a. */
static void make_holes(pool_t *P, void **a, int n) {
    uint64_t x = 12345;
    for (int i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        CHECK((a[i] = tlsf_malloc(P->t, 16 + (size_t)(x >> 33) % 3000)) != NULL);
    }
    for (int i = 0; i < n; i += 2 + i % 3) {
        CHECK_EQ(tlsf_free(P->t, a[i]), TLSF_OK);
        a[i] = NULL;
    }
}

/* tlsf_walk_free reports exactly the blocks tlsf_walk reports free, each once;
 * a walker may write a free block's bytes but its links and its tag, and stop. */
static void walk_free_lists_every_free_block(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 256 * 1024));
    CHECK_EQ(add_region(&P, 512 * 1024), 1);
    void *a[300];
    make_holes(&P, a, 300);
    CHECK_HELPER(do_walk(&P));
    static tlsf_block_info_t want[MAXB];
    size_t nw = 0;
    for (size_t i = 0; i < WB.n; i++)
        if (!WB.b[i].used) want[nw++] = WB.b[i];
    CHECK(nw > 50);
    WB.n = 0;
    CHECK_EQ(tlsf_walk_free(P.t, collect_cb, &WB), TLSF_OK);
    CHECK_EQU(WB.n, nw);
    qsort(want, nw, sizeof want[0], by_place);
    qsort(WB.b, WB.n, sizeof WB.b[0], by_place);
    for (size_t i = 0; i < nw; i++) {
        CHECK_EQ(WB.b[i].region, want[i].region);
        CHECK_EQU(WB.b[i].offset, want[i].offset);
        CHECK_EQU(WB.b[i].size, want[i].size);
        CHECK_EQ(WB.b[i].used, 0);
    }
    for (size_t i = 0; i < nw; i++) {
        unsigned char *u = tlsf_pointer(P.t, WB.b[i].region, WB.b[i].offset);
        size_t keep = TLSF_FREE_LINK_BYTES + TLSF_FREE_TAG_BYTES;
        if (WB.b[i].size > keep) memset(u + TLSF_FREE_LINK_BYTES, 0xa5, WB.b[i].size - keep);
    }
    CHECK_HELPER(check_ok(&P));
    int cnt = 0;
    CHECK_EQ(tlsf_walk_free(P.t, stop_after_3, &cnt), TLSF_OK);
    CHECK_EQ(cnt, 3);
    for (int i = 0; i < 300; i++)
        if (a[i]) CHECK_EQ(tlsf_free(P.t, a[i]), TLSF_OK);
    CHECK_HELPER(is_pristine(&P));
}

/* A damaged free block or list is reported, never followed: a cycle, a back
 * link, flags, a size word, a link out of every region. */
static void walk_free_detects_damage(void) {
    pool_t P;
    CHECK_HELPER(new_pool(&P, 256 * 1024));
    void *a[100];
    make_holes(&P, a, 100);
    WB.n = 0;
    CHECK_EQ(tlsf_walk_free(P.t, collect_cb, &WB), TLSF_OK);
    CHECK(WB.n > 10);
    unsigned char *u = tlsf_pointer(P.t, WB.b[0].region, WB.b[0].offset);
    uint64_t self = make_link(&P, WB.b[0].region, WB.b[0].offset);
    struct {
        unsigned char *at;
        uint64_t value;
        const char *what;
    } damage[] = {
        {u, self, "next link to itself (a cycle)"},
        {u + 8, self, "back link of a head"},
        {u - 8, rd64(u - 8) & ~(uint64_t)TLSF_BLOCK_FREE, "free flag cleared"},
        {u - 8, rd64(u - 8) + 64, "size word grown"},
        {u, (uint64_t)1 << 40, "next link outside every region"},
    };
    for (size_t d = 0; d < sizeof damage / sizeof damage[0]; d++) {
        uint64_t orig = rd64(damage[d].at);
        wr64(damage[d].at, damage[d].value);
        size_t n = 0;
        CHECKF(tlsf_walk_free(P.t, count_cb, &n) == TLSF_ERR_CORRUPTED, "%s: not reported", damage[d].what);
        wr64(damage[d].at, orig);
        CHECK_EQ(tlsf_walk_free(P.t, count_cb, &n), TLSF_OK);
    }
    CHECK_HELPER(check_ok(&P));
}

/* A walk reads the start bitmap only where blocks start: a fresh bitmap of a
 * 64 MiB region stays a few pages (tlsf_check reads it all). */
static void walks_read_little_of_the_bitmap(void) {
    size_t area = (size_t)64 << 20, bytes = tlsf_bitmap_size(area);
    tlsf_t *t = new_control();
    CHECK(t != NULL);
    void *mem = mmap(NULL, area, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void *bm = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(mem != MAP_FAILED && bm != MAP_FAILED);
    CHECK_EQ(tlsf_add_region_zeroed(t, mem, area, bm), 0);
    void *a[100];
    for (int i = 0; i < 100; i++) CHECK((a[i] = tlsf_malloc(t, 100)) != NULL);
    for (int i = 0; i < 100; i += 2) CHECK_EQ(tlsf_free(t, a[i]), TLSF_OK);
    size_t n = 0;
    CHECK_EQ(tlsf_walk(t, count_cb, &n), TLSF_OK);
    CHECK_EQ(tlsf_walk_free(t, count_cb, &n), TLSF_OK);
    size_t touched = resident_pages(bm, bytes);
    CHECKF(touched <= 3, "%zu pages of the start bitmap resident after the walks", touched);
    CHECK_EQ(tlsf_check(t, NULL), TLSF_OK);
    munmap(bm, bytes);
    munmap(mem, area);
}

int main(void) {
    TU_RUN(create_rejects_bad_control);
    TU_RUN(walk_free_lists_every_free_block);
    TU_RUN(walk_free_detects_damage);
    TU_RUN(walks_read_little_of_the_bitmap);
    TU_RUN(zeroed_control_touches_two_pages);
    TU_RUN(region_rejects_bad_arguments);
    TU_RUN(region_table_full_and_lowest_free_slot);
    TU_RUN(region_remove_bad_id);
    TU_RUN(malloc_basic_distinct_aligned_nonoverlapping);
    TU_RUN(malloc_zero_gives_minimum_block);
    TU_RUN(malloc_huge_requests_fail_and_are_counted);
    TU_RUN(calloc_overflow_returns_null);
    TU_RUN(calloc_zero_fills_dirty_memory);
    TU_RUN(exact_fit_reuse_in_full_pool);
    TU_RUN(exact_fit_reuse_of_many_blocks);
    TU_RUN(region_max_alloc_fits_fresh_region);
    TU_RUN(memalign_matrix);
    TU_RUN(memalign_rejects_bad_alignment);
    TU_RUN(memalign_huge_alignment_fails_cleanly);
    TU_RUN(realloc_null_is_malloc);
    TU_RUN(realloc_shrink_in_place);
    TU_RUN(realloc_grow_in_place);
    TU_RUN(realloc_grow_must_move);
    TU_RUN(tags);
    TU_RUN(realloc_move_keeps_memalign_alignment);
    TU_RUN(realloc_failure_leaves_block_intact);
    TU_RUN(realloc_rejects_foreign_and_freed);
    TU_RUN(free_double);
    TU_RUN(free_double_after_merge_any_size);
    TU_RUN(free_interior_pointer);
    TU_RUN(free_pointer_of_other_pool);
    TU_RUN(free_pointer_outside_any_region);
    TU_RUN(coalesce_all_orders);
    TU_RUN(regions_second_region_and_remove);
    TU_RUN(locate_pointer_round_trip);
    TU_RUN(stats_consistent_with_walk);
    TU_RUN(walk_layout_identity);
    TU_RUN(corrupt_used_block_size);
    TU_RUN(corrupt_free_block_size);
    TU_RUN(corrupt_free_list_link);
    TU_RUN(corrupt_overflow_into_next_header);
    TU_RUN(malloc_refuses_damaged_list_head);
    TU_RUN(free_refuses_damaged_next_header);
    TU_RUN(corrupt_flipped_free_bit);
    TU_RUN(corrupt_link_then_malloc_fails_safely);
    TU_RUN(corrupt_neighbour_link_then_free);
    TU_RUN(corrupt_size_then_free);
    TU_RUN(corrupt_size_with_free_bit_then_free);
    TU_RUN(corrupt_overflow_then_free_neighbour);
    TU_RUN(cache_parked_blocks);
    TU_RUN(cache_counts_and_budget);
    TU_RUN(cache_lists_untouched_while_off);
    TU_RUN(free_refuses_shrunk_size_every_window);
    TU_RUN(free_refuses_grown_size_every_window);
    TU_RUN(tags_quick_and_cached_frees);
    TU_RUN(zeroed_region_serves_like_any);
    return tu_finish("tlsf");
}
