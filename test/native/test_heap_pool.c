/*
 * test_heap_pool.c: tests of native/alloc/heap_pool.c against native/alloc/heap_pool.h.
 *
 * A tracking memory provider (posix_memalign underneath, so ASan/LSan see every
 * chunk) checks that every released notification comes before its unmap, that
 * unmap gets back exactly what map gave, that chunks are aligned as asked, and
 * can refuse the n-th next map. Pools use page_size 4096.
 *
 * usage: test_heap_pool [seed] [ops]   (random test: seed 1, 150000 ops)
 */
#include "heap_pool.h"
#include "test_util.h"

#define PAGE 4096u
#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

/* ---- tracking memory ------------------------------------------------------- */

#define MAXMAP 4096
typedef struct mapping {
    void *base;
    size_t bytes;
    int created, released;
    uint32_t id;
} mapping_t;
typedef struct tracker {
    mapping_t map[MAXMAP];
    size_t nmap;
    size_t maps, unmaps, created, released, destroyed;
    heap_pool_t *destroy_order[16];
    long fail_in; /* > 0: the fail_in-th next map fails; 0: none */
    int fail_all; /* every map fails */
    int errors;
    char error[200];
} tracker_t;

static void tr_error(tracker_t *t, const char *msg, void *base)
{
    if (!t->errors++) snprintf(t->error, sizeof t->error, "%s (%p)", msg, base);
}
static mapping_t *tr_find(tracker_t *t, void *base)
{
    for (size_t i = t->nmap; i-- > 0;)
        if (t->map[i].base == base) return &t->map[i];
    return NULL;
}
static void *tr_map(void *ctx, size_t bytes, size_t align)
{
    tracker_t *t = ctx;
    if (t->fail_all || (t->fail_in > 0 && --t->fail_in == 0)) return NULL;
    void *p = NULL;
    if (t->nmap == MAXMAP || posix_memalign(&p, align, bytes) != 0) return NULL;
    t->map[t->nmap++] = (mapping_t){p, bytes, 0, 0, 0};
    t->maps++;
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
    free(p);
}
/* Notifications of pools that map through this tracker; a child's chunks are
 * not mapped here (they come from the parent), so they are only counted. */
static void tr_chunk(void *ctx, uint32_t id, void *base, size_t bytes, int created)
{
    tracker_t *t = ctx;
    if (((uintptr_t)base & (PAGE - 1)) != 0) tr_error(t, "chunk not page-aligned", base);
    mapping_t *m = tr_find(t, base);
    if (m) {
        if (m->bytes != bytes) tr_error(t, "notification with wrong bytes", base);
        else if (created) {
            if (m->created) tr_error(t, "created twice", base);
            m->created = 1;
            m->id = id;
        } else {
            if (!m->created || m->released) tr_error(t, "released without created / twice", base);
            if (m->id != id) tr_error(t, "released with another id", base);
            m->released = 1;
        }
    }
    if (created) t->created++;
    else t->released++;
}
static void tr_destroy(void *ctx, heap_pool_t *p)
{
    tracker_t *t = ctx;
    if (t->destroyed < 16) t->destroy_order[t->destroyed] = p;
    t->destroyed++;
}

static tracker_t *new_tracker(void) { return tu_alloc(sizeof(tracker_t)); }

static heap_pool_t *new_pool(tracker_t *t, size_t capacity, heap_pool_t *parent)
{
    heap_pool_memory_t mem = {tr_map, tr_unmap, tr_chunk, tr_destroy, t};
    heap_pool_options_t o = {capacity, PAGE, parent, &mem};
    heap_pool_t *p = NULL;
    if (heap_pool_create(&o, &p) != HEAP_POOL_OK) return NULL;
    return p;
}

static int check_ok(const heap_pool_t *p)
{
    const char *why = NULL;
    int rc = heap_pool_check(p, &why);
    HCHECKF(rc == HEAP_POOL_OK, "heap_pool_check = %d (%s)", rc, why ? why : "?");
    return 1;
}
static int tracker_ok(const tracker_t *t)
{
    HCHECKF(t->errors == 0, "memory tracker: %s", t->error);
    return 1;
}
/* Destroy and verify every chunk was released then unmapped. */
static int destroy_ok(heap_pool_t *p, tracker_t *t)
{
    HCHECK(check_ok(p));
    heap_pool_destroy(p);
    HCHECK(tracker_ok(t));
    HCHECKF(t->nmap == 0, "%zu chunks left mapped", t->nmap);
    HCHECK(t->maps == t->unmaps && t->created == t->released);
    return 1;
}
static heap_pool_stats_t stats(const heap_pool_t *p)
{
    heap_pool_stats_t s;
    heap_pool_get_stats(p, &s);
    return s;
}
static int same_stats(const heap_pool_stats_t *a, const heap_pool_stats_t *b) { return memcmp(a, b, sizeof *a) == 0; }
static heap_pool_ref_t ref_of(heap_pool_t *p, void *ptr)
{
    heap_pool_ref_t r;
    memset(&r, 0, sizeof r);
    r.chunk = HEAP_POOL_NO_CHUNK;
    if (ptr) heap_pool_locate(p, ptr, &r);
    return r;
}
static int kind_of(heap_pool_t *p, void *ptr)
{
    heap_pool_ref_t r = ref_of(p, ptr);
    heap_pool_chunk_info_t ci;
    if (r.chunk == HEAP_POOL_NO_CHUNK || heap_pool_chunk_info(p, r.chunk, &ci) != HEAP_POOL_OK) return -1;
    return ci.kind;
}

/* ---- size classes ----------------------------------------------------------------- */

static void class_table_and_lookup(void)
{
    size_t prev = 0;
    for (unsigned i = 0; i < HEAP_POOL_CLASSES; i++) {
        size_t s = heap_pool_class_size(i), cb = heap_pool_class_chunk_bytes(i);
        CHECKF(s > prev && s % 16 == 0, "class %u size %zu", i, s);
        /* a power of two or 1.5 x a power of two */
        CHECKF((s & (s - 1)) == 0 || ((s / 3) * 3 == s && ((s / 3) & (s / 3 - 1)) == 0), "class %u size %zu", i, s);
        CHECKF(cb % HEAP_POOL_GRANULE == 0 && cb >= s && cb <= 2 * MiB, "class %u chunk %zu", i, cb);
        CHECKF(cb <= (s <= 8 * KiB ? 64 * KiB : (s > 256 * KiB ? s : 256 * KiB)), "class %u chunk %zu too big", i, cb);
        CHECK_EQ(heap_pool_class_of(s), i);
        CHECK_EQ(heap_pool_class_of(s - 15 > prev ? s - 15 : prev + 1), i);
        CHECK_EQ(heap_pool_class_of(prev + 1), i);
        if (i + 1 < HEAP_POOL_CLASSES) CHECK_EQ(heap_pool_class_of(s + 1), i + 1);
        prev = s;
    }
    CHECK_EQU(prev, HEAP_POOL_MAX_CLASS);
    CHECK_EQU(heap_pool_class_size(0), 16);
    CHECK_EQU(heap_pool_class_size(1), 32);
    CHECK_EQU(heap_pool_class_size(2), 48);
    CHECK_EQU(heap_pool_class_size(3), 64);
    CHECK_EQU(heap_pool_class_size(4), 96);
    CHECK_EQU(heap_pool_class_size(HEAP_POOL_CLASSES - 2), 3 * MiB / 2);
    CHECK_EQU(heap_pool_class_size(HEAP_POOL_CLASSES), 0);
    CHECK_EQ(heap_pool_class_of(0), 0);
    CHECK_EQ(heap_pool_class_of(HEAP_POOL_MAX_CLASS + 1), -1);
    CHECK_EQ(heap_pool_class_of(SIZE_MAX), -1);
    /* brute force: the class is the smallest that fits */
    for (size_t n = 1; n <= 70000; n += (n < 4096 ? 1 : 61)) {
        int c = heap_pool_class_of(n);
        CHECK(heap_pool_class_size((unsigned)c) >= n && (c == 0 || heap_pool_class_size((unsigned)c - 1) < n));
    }
    /* sensible chunks (Melon needs a 64 MiB chunk for 100 KB) */
    CHECK(heap_pool_class_chunk_bytes((unsigned)heap_pool_class_of(100000)) <= 256 * KiB);
}

static void create_validates_options(void)
{
    heap_pool_t *p = NULL;
    CHECK(heap_pool_create(NULL, NULL) == HEAP_POOL_ERR_INVALID);
    size_t bad[] = {3, 8, 1000, 128 * KiB};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        heap_pool_options_t o = {0, bad[i], NULL, NULL};
        CHECKF(heap_pool_create(&o, &p) == HEAP_POOL_ERR_INVALID && p == NULL, "page %zu accepted", bad[i]);
    }
    heap_pool_memory_t nomap = {NULL, NULL, NULL, NULL, NULL};
    heap_pool_options_t o = {0, PAGE, NULL, &nomap};
    CHECK(heap_pool_create(&o, &p) == HEAP_POOL_ERR_INVALID);
    CHECK(heap_pool_create(NULL, &p) == HEAP_POOL_OK && p);
    CHECK_EQU(heap_pool_page_size(p), (size_t)sysconf(_SC_PAGESIZE));
    heap_pool_stats_t s = stats(p);
    CHECK_EQU(s.capacity, SIZE_MAX);
    CHECK_EQU(s.reserved, 0);
    CHECK_EQU(heap_pool_available_capacity(p), SIZE_MAX);
    /* default memory works end to end */
    void *a = heap_pool_malloc(p, 100), *b = heap_pool_malloc(p, 5 * MiB);
    CHECK(a && b && ((uintptr_t)a & 15) == 0 && ((uintptr_t)b & (PAGE - 1)) == 0);
    memset(a, 1, 100);
    memset(b, 2, 5 * MiB);
    CHECK(check_ok(p));
    CHECK(heap_pool_free(p, a) == HEAP_POOL_OK && heap_pool_free(p, b) == HEAP_POOL_OK);
    heap_pool_destroy(p);
    heap_pool_destroy(NULL);
}

/* ---- blocks ------------------------------------------------------------------------ */

static void alignment_and_no_overhead(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL);
    CHECK(p);
    for (size_t n = 0; n <= 3000; n += 7) {
        heap_pool_ref_t r;
        CHECK(heap_pool_alloc_ref(p, n, 0, &r) == HEAP_POOL_OK);
        CHECKF(((uintptr_t)r.ptr & 15) == 0 && r.offset % 16 == 0, "size %zu: %p", n, r.ptr);
        CHECK_EQU(r.size, heap_pool_class_size((unsigned)heap_pool_class_of(n)));
        CHECK_EQU(heap_pool_usable_size(p, r.ptr), r.size);
        memset(r.ptr, 0xa5, n);
    }
    /* consecutive blocks of a class are exactly the class size apart: no header */
    void *x[64];
    for (int i = 0; i < 64; i++) x[i] = heap_pool_malloc(p, 48);
    int adjacent = 0;
    for (int i = 1; i < 64; i++) adjacent += (char *)x[i] - (char *)x[i - 1] == 48;
    CHECK(adjacent >= 60);
    heap_pool_ref_t r = ref_of(p, x[5]);
    heap_pool_chunk_info_t ci;
    CHECK(heap_pool_chunk_info(p, r.chunk, &ci) == HEAP_POOL_OK);
    CHECK_EQ(ci.kind, HEAP_POOL_CHUNK_CLASS);
    CHECK_EQU(ci.block_size, 48);
    CHECK_EQU(ci.blocks, 64 * KiB / 48);
    CHECK_EQU(((uintptr_t)ci.base) % HEAP_POOL_GRANULE, 0);
    /* zero-size allocation: valid, distinct, freeable */
    void *z1 = heap_pool_malloc(p, 0), *z2 = heap_pool_malloc(p, 0);
    CHECK(z1 && z2 && z1 != z2);
    CHECK_EQU(heap_pool_usable_size(p, z1), 16);
    CHECK(heap_pool_free(p, z1) == HEAP_POOL_OK && heap_pool_free(p, z2) == HEAP_POOL_OK);
    CHECK(destroy_ok(p, t));
}

static void lifo_reuse_of_freed_blocks(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL);
    void *a[8];
    for (int i = 0; i < 8; i++) CHECK((a[i] = heap_pool_malloc(p, 200)) != NULL);
    CHECK(heap_pool_free(p, a[2]) == HEAP_POOL_OK);
    CHECK(heap_pool_free(p, a[6]) == HEAP_POOL_OK);
    CHECK(heap_pool_free(p, a[4]) == HEAP_POOL_OK);
    CHECK(heap_pool_malloc(p, 256) == a[4]); /* same class (256) */
    CHECK(heap_pool_malloc(p, 193) == a[6]);
    CHECK(heap_pool_malloc(p, 200) == a[2]);
    void *fresh = heap_pool_malloc(p, 200);
    CHECK(fresh && fresh != a[2] && fresh != a[4] && fresh != a[6]);
    /* most recently freed first, also across two chunks of the class */
    size_t per = heap_pool_class_chunk_bytes((unsigned)heap_pool_class_of(4096)) / 4096;
    void **b = tu_alloc((per + 2) * sizeof *b);
    for (size_t i = 0; i < per + 2; i++) CHECK((b[i] = heap_pool_malloc(p, 4096)) != NULL);
    CHECK(ref_of(p, b[0]).chunk != ref_of(p, b[per + 1]).chunk);
    CHECK(heap_pool_free(p, b[per + 1]) == HEAP_POOL_OK); /* second chunk */
    CHECK(heap_pool_free(p, b[1]) == HEAP_POOL_OK);       /* first chunk, newest */
    CHECK(heap_pool_malloc(p, 4000) == b[1]);
    CHECK(heap_pool_malloc(p, 4000) == b[per + 1]);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

static void rejected_frees_change_nothing(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL), *q = new_pool(t, 0, NULL);
    CHECK(p && q);
    char *a = heap_pool_malloc(p, 96), *b = heap_pool_malloc(p, 96), *big = heap_pool_malloc(p, 3 * MiB);
    char *other = heap_pool_malloc(q, 96);
    CHECK(a && b && big && other);
    CHECK(heap_pool_free(p, b) == HEAP_POOL_OK);
    heap_pool_stats_t before = stats(p);
    char local[64];
    CHECK_EQ(heap_pool_free(p, b), HEAP_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(heap_pool_free(p, a + 16), HEAP_POOL_ERR_FOREIGN);   /* interior, 16-aligned */
    CHECK_EQ(heap_pool_free(p, a + 1), HEAP_POOL_ERR_FOREIGN);
    CHECK_EQ(heap_pool_free(p, a + 96 * 3), HEAP_POOL_ERR_FOREIGN); /* never handed out */
    CHECK_EQ(heap_pool_free(p, big + PAGE), HEAP_POOL_ERR_FOREIGN); /* inside a large block */
    CHECK_EQ(heap_pool_free(p, other), HEAP_POOL_ERR_FOREIGN);      /* another pool's */
    CHECK_EQ(heap_pool_free(p, local), HEAP_POOL_ERR_FOREIGN);
    void *out = (void *)1;
    CHECK_EQ(heap_pool_realloc(p, b, 10, &out), HEAP_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(heap_pool_realloc(p, a + 16, 10, &out), HEAP_POOL_ERR_FOREIGN);
    CHECK(out == (void *)1);
    heap_pool_ref_t r = ref_of(p, a);
    CHECK_EQ(heap_pool_free_at(p, r.chunk, r.offset + 16), HEAP_POOL_ERR_FOREIGN);
    CHECK_EQ(heap_pool_free_at(p, r.chunk, r.offset + 8), HEAP_POOL_ERR_FOREIGN);
    CHECK_EQ(heap_pool_free_at(p, r.chunk, 64 * KiB), HEAP_POOL_ERR_FOREIGN);
    CHECK_EQ(heap_pool_free_at(p, r.chunk, SIZE_MAX - 15), HEAP_POOL_ERR_FOREIGN);
    CHECK_EQ(heap_pool_free_at(p, 999, 0), HEAP_POOL_ERR_FOREIGN);
    CHECK_EQ(heap_pool_free_at(p, HEAP_POOL_NO_CHUNK, 0), HEAP_POOL_ERR_FOREIGN);
    CHECK_EQ(heap_pool_free_at(p, ref_of(p, big).chunk, 16), HEAP_POOL_ERR_FOREIGN);
    heap_pool_stats_t after = stats(p);
    CHECK(same_stats(&before, &after));
    CHECK(check_ok(p));
    /* a freed large block is gone: its id is then unknown (foreign) */
    heap_pool_ref_t rb = ref_of(p, big);
    CHECK(heap_pool_free(p, big) == HEAP_POOL_OK);
    CHECK_EQ(heap_pool_free_at(p, rb.chunk, 0), HEAP_POOL_ERR_FOREIGN);
    CHECK_EQ(heap_pool_free(p, NULL), HEAP_POOL_OK);
    CHECK(heap_pool_free(p, a) == HEAP_POOL_OK);
    CHECK(heap_pool_free(q, other) == HEAP_POOL_OK);
    CHECK(check_ok(q));
    heap_pool_destroy(q);
    CHECK(destroy_ok(p, t));
}

static void metadata_is_out_of_chunk_reach(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL);
    void *a[100];
    for (int i = 0; i < 100; i++) CHECK((a[i] = heap_pool_malloc(p, 16 + (size_t)i * 25)) != NULL);
    for (int i = 0; i < 100; i += 2) CHECK(heap_pool_free(p, a[i]) == HEAP_POOL_OK);
    /* JavaScript may write anything anywhere in a chunk */
    for (uint32_t id = 0; id < heap_pool_chunk_limit(p); id++) {
        heap_pool_chunk_info_t ci;
        if (heap_pool_chunk_info(p, id, &ci) == HEAP_POOL_OK) memset(ci.base, 0xff, ci.bytes);
    }
    CHECK(check_ok(p));
    for (int i = 0; i < 100; i += 2) CHECK_EQ(heap_pool_free(p, a[i]), HEAP_POOL_ERR_DOUBLE_FREE);
    for (int i = 98; i >= 0; i -= 2) {
        void *b = heap_pool_malloc(p, 16 + (size_t)i * 25);
        CHECKF(b == a[i], "i %d: %p != %p", i, b, a[i]); /* LIFO per class */
    }
    for (int i = 0; i < 100; i++) CHECK(heap_pool_free(p, a[i]) == HEAP_POOL_OK);
    CHECK_EQU(stats(p).allocations, 0);
    CHECK(destroy_ok(p, t));
}

static void large_blocks_are_their_own(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL);
    heap_pool_ref_t r1, r2;
    CHECK(heap_pool_alloc_ref(p, HEAP_POOL_MAX_CLASS, 0, &r1) == HEAP_POOL_OK);
    CHECK_EQ(kind_of(p, r1.ptr), HEAP_POOL_CHUNK_CLASS);
    CHECK(heap_pool_alloc_ref(p, HEAP_POOL_MAX_CLASS + 1, 0, &r2) == HEAP_POOL_OK);
    CHECK_EQ(kind_of(p, r2.ptr), HEAP_POOL_CHUNK_LARGE);
    CHECK_EQU(r2.size, HEAP_POOL_MAX_CLASS + PAGE);
    CHECK_EQU(r2.offset, 0);
    heap_pool_stats_t s = stats(p);
    CHECK_EQU(s.large_blocks, 1);
    CHECK_EQU(s.used, HEAP_POOL_MAX_CLASS + HEAP_POOL_MAX_CLASS + PAGE);
    size_t maps = t->maps;
    CHECK(heap_pool_free_at(p, r2.chunk, 0) == HEAP_POOL_OK);
    CHECK_EQU(t->unmaps, 1); /* released at once */
    CHECK_EQU(stats(p).large_blocks, 0);
    heap_pool_ref_t r3;
    CHECK(heap_pool_alloc_ref(p, 3 * MiB, 0, &r3) == HEAP_POOL_OK);
    CHECK_EQU(r3.chunk, r2.chunk); /* id reused */
    CHECK_EQU(t->maps, maps + 1);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* ---- capacity --------------------------------------------------------------------- */

static void capacity_edges(void)
{
    tracker_t *t = new_tracker();
    size_t c16 = heap_pool_class_chunk_bytes(0);
    /* exactly one class chunk fits */
    heap_pool_t *p = new_pool(t, c16, NULL);
    CHECK(p);
    CHECK_EQU(heap_pool_available_capacity(p), c16);
    void *a = heap_pool_malloc(p, 16);
    CHECK(a);
    CHECK_EQU(stats(p).reserved, c16);
    CHECK_EQU(heap_pool_available_capacity(p), 0); /* carved-ahead blocks count as reserved */
    for (size_t i = 1; i < c16 / 16; i++) CHECK(heap_pool_malloc(p, 16));
    heap_pool_stats_t before = stats(p);
    CHECK(heap_pool_malloc(p, 16) == NULL);
    CHECK(heap_pool_malloc(p, 0) == NULL);
    heap_pool_stats_t after = stats(p);
    CHECK_EQU(after.failed_allocations, before.failed_allocations + 2);
    after.failed_allocations = before.failed_allocations;
    CHECK(same_stats(&before, &after));
    CHECK(destroy_ok(p, t));

    /* one byte short of the chunk: served from a page of its own; a page short of
     * that: refused, accounting untouched */
    p = new_pool(t, c16 - 1, NULL);
    heap_pool_ref_t r;
    CHECK(heap_pool_alloc_ref(p, 16, 0, &r) == HEAP_POOL_OK);
    CHECK_EQ(kind_of(p, r.ptr), HEAP_POOL_CHUNK_LARGE);
    CHECK_EQU(r.size, PAGE);
    CHECK_EQU(heap_pool_available_capacity(p), c16 - 1 - PAGE);
    CHECK(heap_pool_free(p, r.ptr) == HEAP_POOL_OK);
    CHECK_EQU(stats(p).reserved, 0);
    CHECK(destroy_ok(p, t));
    p = new_pool(t, PAGE - 1, NULL);
    CHECK(heap_pool_alloc_ref(p, 1, 0, &r) == HEAP_POOL_ERR_NOMEM);
    heap_pool_stats_t s = stats(p);
    CHECK(s.reserved == 0 && s.used == 0 && s.allocations == 0 && s.failed_allocations == 1 && t->nmap == 0);
    CHECK_EQU(heap_pool_available_capacity(p), PAGE - 1);
    CHECK(destroy_ok(p, t));

    /* large blocks: a cap that exactly fits, and one byte short */
    p = new_pool(t, 3 * MiB, NULL);
    void *big = heap_pool_malloc(p, 3 * MiB);
    CHECK(big && heap_pool_available_capacity(p) == 0);
    CHECK(heap_pool_free(p, big) == HEAP_POOL_OK);
    CHECK(destroy_ok(p, t));
    p = new_pool(t, 3 * MiB - 1, NULL);
    CHECK(heap_pool_malloc(p, 3 * MiB) == NULL);
    CHECK(heap_pool_malloc(p, 3 * MiB - PAGE) != NULL); /* page-rounded it fits */
    CHECK(destroy_ok(p, t));

    /* Melon's flaw: 100 KB fails under a 4 MiB cap while 3 MB succeeds. Not here. */
    p = new_pool(t, 4 * MiB, NULL);
    void *x = heap_pool_malloc(p, 100000);
    CHECK(x);
    CHECK(stats(p).reserved <= 256 * KiB);
    CHECK(heap_pool_free(p, x) == HEAP_POOL_OK);
    /* anything whose page-rounded size fits what is available is served */
    heap_pool_trim(p);
    CHECK(heap_pool_malloc(p, 4 * MiB - PAGE + 1) != NULL);
    CHECK_EQU(heap_pool_available_capacity(p), 0);
    CHECK(destroy_ok(p, t));

    /* a class chunk bigger than what is left: the request gets exactly its pages */
    size_t c1m = heap_pool_class_chunk_bytes((unsigned)heap_pool_class_of(MiB + 1)); /* 1.5 MiB class */
    p = new_pool(t, c1m - PAGE, NULL);
    CHECK(heap_pool_alloc_ref(p, MiB + 1, 0, &r) == HEAP_POOL_OK);
    CHECK_EQ(kind_of(p, r.ptr), HEAP_POOL_CHUNK_LARGE);
    CHECK_EQU(r.size, MiB + PAGE);
    CHECK(destroy_ok(p, t));
}

static void failed_allocations_leave_accounting(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL);
    void *keep = heap_pool_malloc(p, 64);
    CHECK(keep);
    heap_pool_stats_t before = stats(p);
    size_t maps = t->maps;
    t->fail_in = 1; /* the class chunk map fails, then the page fallback works */
    heap_pool_ref_t r;
    CHECK(heap_pool_alloc_ref(p, 1000, 0, &r) == HEAP_POOL_OK);
    CHECK_EQ(kind_of(p, r.ptr), HEAP_POOL_CHUNK_LARGE);
    CHECK(heap_pool_free(p, r.ptr) == HEAP_POOL_OK);
    /* every map fails (no spare to release): refused, nothing changes but the count */
    heap_pool_trim(p);
    size_t sizes[] = {0, 1000, 100000, 3 * MiB};
    for (size_t i = 0; i < 4; i++) {
        t->fail_all = 1;
        heap_pool_stats_t b = stats(p);
        void *z = heap_pool_malloc(p, sizes[i]);
        t->fail_all = 0;
        CHECK(z == NULL);
        heap_pool_stats_t a = stats(p);
        CHECK_EQU(a.failed_allocations, b.failed_allocations + 1);
        a.failed_allocations = b.failed_allocations;
        CHECK(same_stats(&a, &b));
        CHECK(check_ok(p));
    }
    /* huge sizes fail cleanly and change nothing but failed_allocations */
    heap_pool_stats_t b = stats(p);
    size_t huge[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4095, HEAP_POOL_MAX_REQUEST + 1, SIZE_MAX / 2};
    for (size_t i = 0; i < 5; i++) {
        CHECK(heap_pool_malloc(p, huge[i]) == NULL);
        CHECK(heap_pool_alloc_ref(p, huge[i], HEAP_POOL_ZERO, &r) == HEAP_POOL_ERR_NOMEM);
        void *o = keep;
        CHECK(heap_pool_realloc(p, keep, huge[i], &o) == HEAP_POOL_ERR_NOMEM && o == keep);
    }
    CHECK(heap_pool_calloc(p, SIZE_MAX / 2, 3) == NULL);
    CHECK_EQ(heap_pool_calloc_ref(p, (size_t)1 << 33, (size_t)1 << 33, &r), HEAP_POOL_ERR_RANGE);
    heap_pool_stats_t a = stats(p);
    CHECK_EQU(a.failed_allocations, b.failed_allocations + 15); /* calloc overflow is not a failed allocation */
    a.failed_allocations = b.failed_allocations;
    CHECK(same_stats(&a, &b));
    CHECK_EQU(before.failed_allocations, 0);
    CHECK(t->maps > maps);
    CHECK(heap_pool_free(p, keep) == HEAP_POOL_OK);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

static void map_failure_exact_accounting(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL);
    CHECK(heap_pool_malloc(p, 64));
    heap_pool_stats_t b = stats(p);
    t->fail_in = 1;
    CHECK(heap_pool_malloc(p, 4 * MiB) == NULL); /* a large block: one map, refused */
    heap_pool_stats_t a = stats(p);
    CHECK_EQU(a.failed_allocations, b.failed_allocations + 1);
    a.failed_allocations = b.failed_allocations;
    CHECK(same_stats(&a, &b));
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* ---- front cache ------------------------------------------------------------------- */

/* Freed blocks go to the class's front cache (32 deep); its older half spills to
 * the chunk's free stack. Within one chunk reuse stays exactly LIFO across spills,
 * and a cached block is free for every check. */
static void front_cache_lifo_across_spills(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL);
    enum { N = 300 };
    void *b[N], *order[N];
    for (int i = 0; i < N; i++) CHECK((b[i] = heap_pool_malloc(p, 64)) != NULL);
    CHECK_EQU(stats(p).class_chunks, 1);
    uint64_t g = 7;
    for (int i = N - 1; i > 0; i--) { /* free in a shuffled order (LCG) */
        g = g * 6364136223846793005ull + 1442695040888963407ull;
        int j = (int)((g >> 33) % (uint64_t)(i + 1));
        void *x = b[i];
        b[i] = b[j];
        b[j] = x;
    }
    for (int i = 0; i < N; i++) {
        heap_pool_ref_t r = ref_of(p, b[i]);
        CHECK(heap_pool_free(p, b[i]) == HEAP_POOL_OK);
        order[i] = b[i];
        CHECK_EQ(heap_pool_free(p, b[i]), HEAP_POOL_ERR_DOUBLE_FREE);
        CHECK_EQ(heap_pool_free(p, (char *)b[i] + 16), HEAP_POOL_ERR_FOREIGN);
        CHECK_EQ(heap_pool_state_at(p, r.chunk, r.offset, NULL), HEAP_POOL_ERR_DOUBLE_FREE);
        CHECK_EQ(heap_pool_free_at(p, r.chunk, r.offset), HEAP_POOL_ERR_DOUBLE_FREE);
        CHECK_EQU(heap_pool_usable_size(p, b[i]), 0);
        CHECK_EQU(stats(p).allocations, (size_t)(N - 1 - i));
        CHECK_EQU(stats(p).used, (size_t)(N - 1 - i) * 64);
        if (i % 37 == 0) CHECK(check_ok(p));
    }
    CHECK(check_ok(p));
    CHECK_EQU(stats(p).spare_chunks, 1); /* empty, its blocks cached or stacked */
    for (int i = N - 1; i >= 0; i--) {
        void *x = heap_pool_malloc(p, 50);
        CHECKF(x == order[i], "i %d: %p != %p", i, x, order[i]);
        if (i % 41 == 0) CHECK(check_ok(p));
    }
    CHECK_EQU(stats(p).spare_chunks, 0);
    void *fresh = heap_pool_malloc(p, 64);
    CHECK(fresh != NULL);
    for (int i = 0; i < N; i++) CHECK(fresh != order[i]);
    CHECK_EQU(stats(p).class_chunks, 1);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* heap_pool_malloc's fast path (a table below 1 KiB) picks the class heap_pool_class_of says. */
static void malloc_uses_the_class_of_the_request(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL);
    for (size_t n = 0; n <= 2100; n++) {
        for (int k = 0; k < 2; k++) { /* k = 1: served from the front cache */
            void *x = heap_pool_malloc(p, n);
            CHECK(x != NULL);
            size_t want = heap_pool_class_size((unsigned)heap_pool_class_of(n));
            CHECKF(heap_pool_usable_size(p, x) == want, "n %zu: usable %zu != %zu", n, heap_pool_usable_size(p, x), want);
            CHECK(heap_pool_free(p, x) == HEAP_POOL_OK);
        }
    }
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* A chunk released (older spare, trim) takes its blocks out of the front cache,
 * keeping the order of the others. */
static void front_cache_forgets_released_chunks(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL);
    enum { PER = 64 }; /* 1 KiB blocks: 64 per chunk */
    void *a[PER], *b[PER];
    for (int i = 0; i < PER; i++) CHECK((a[i] = heap_pool_malloc(p, 1024)) != NULL);
    for (int i = 0; i < PER; i++) CHECK((b[i] = heap_pool_malloc(p, 1024)) != NULL);
    CHECK(ref_of(p, a[0]).chunk == ref_of(p, a[PER - 1]).chunk && ref_of(p, a[0]).chunk != ref_of(p, b[0]).chunk);
    CHECK(ref_of(p, b[0]).chunk == ref_of(p, b[PER - 1]).chunk);
    /* interleaved: a0, b0, a1, b1, ...: a's chunk empties first (the spare), then
     * b's, which releases a's while some of a's blocks are cached */
    for (int i = 0; i < PER; i++) {
        CHECK(heap_pool_free(p, a[i]) == HEAP_POOL_OK);
        CHECK(heap_pool_free(p, b[i]) == HEAP_POOL_OK);
        CHECK(check_ok(p));
    }
    CHECK_EQU(stats(p).class_chunks, 1);
    CHECK_EQU(stats(p).spare_chunks, 1);
    CHECK_EQU(t->unmaps, 1);
    size_t maps = t->maps;
    for (int i = PER - 1; i >= 0; i--) { /* b's blocks, newest first; none of a's */
        void *x = heap_pool_malloc(p, 1000);
        CHECKF(x == b[i], "i %d: %p != %p", i, x, b[i]);
    }
    CHECK_EQU(t->maps, maps);
    CHECK(check_ok(p));
    /* one block per chunk (1 MiB): the older spare's cached block goes with it */
    void *x = heap_pool_malloc(p, MiB), *y = heap_pool_malloc(p, MiB);
    CHECK(x && y);
    maps = t->maps;
    size_t unmaps = t->unmaps;
    CHECK(heap_pool_free(p, x) == HEAP_POOL_OK);
    CHECK(heap_pool_free(p, y) == HEAP_POOL_OK);
    CHECK_EQU(t->unmaps, unmaps + 1);
    CHECK(check_ok(p));
    CHECK(heap_pool_malloc(p, MiB) == y);
    void *z = heap_pool_malloc(p, MiB); /* x's chunk is gone: a new one */
    CHECK(z != NULL);
    CHECK_EQU(t->maps, maps + 1);
    CHECK(check_ok(p));
    /* trim: the spare's cached block goes too */
    CHECK(heap_pool_free(p, z) == HEAP_POOL_OK);
    CHECK(heap_pool_trim(p) > 0);
    CHECK(check_ok(p));
    maps = t->maps;
    CHECK(heap_pool_malloc(p, MiB) != NULL);
    CHECK_EQU(t->maps, maps + 1);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* ---- spare chunks ----------------------------------------------------------------- */

static void spare_chunk_policy(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL);
    size_t per = 64 * KiB / 1024;
    void *b[3 * 64];
    for (size_t i = 0; i < 3 * per; i++) CHECK((b[i] = heap_pool_malloc(p, 1024)) != NULL);
    CHECK_EQU(stats(p).class_chunks, 3);
    /* ping-pong in a class never maps or unmaps */
    size_t maps = t->maps, unmaps = t->unmaps;
    for (int k = 0; k < 100; k++) {
        void *x = heap_pool_malloc(p, 5);
        CHECK(x && heap_pool_free(p, x) == HEAP_POOL_OK);
    }
    CHECK_EQU(t->maps, maps + 1);
    CHECK_EQU(t->unmaps, unmaps);
    CHECK_EQU(stats(p).spare_chunks, 1);
    /* empty the first chunk: kept as spare; then the second: it becomes the spare and
     * the older spare (the first) is released */
    for (size_t i = 0; i < per; i++) CHECK(heap_pool_free(p, b[i]) == HEAP_POOL_OK);
    CHECK_EQU(stats(p).class_chunks, 4);
    CHECK_EQU(stats(p).spare_chunks, 2); /* one for the 16 class, one for 1024 */
    for (size_t i = per; i < 2 * per; i++) CHECK(heap_pool_free(p, b[i]) == HEAP_POOL_OK);
    CHECK_EQU(stats(p).class_chunks, 3);
    CHECK_EQU(t->unmaps, unmaps + 1);
    heap_pool_ref_t r = ref_of(p, b[2 * per - 1]);
    heap_pool_chunk_info_t ci;
    CHECK(heap_pool_chunk_info(p, r.chunk, &ci) == HEAP_POOL_OK && ci.spare && ci.live == 0);
    /* the spare serves the next request, LIFO */
    CHECK(heap_pool_malloc(p, 1000) == b[2 * per - 1]);
    CHECK_EQU(stats(p).spare_chunks, 1);
    CHECK(check_ok(p));
    /* trim releases the spares */
    size_t reserved = stats(p).reserved;
    CHECK_EQU(heap_pool_trim(p), 64 * KiB);
    CHECK_EQU(stats(p).reserved, reserved - 64 * KiB);
    CHECK_EQU(stats(p).spare_chunks, 0);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

static void spares_give_way_under_capacity(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 128 * KiB, NULL);
    void *a = heap_pool_malloc(p, 16), *b = heap_pool_malloc(p, 32);
    CHECK(a && b);
    CHECK(heap_pool_free(p, a) == HEAP_POOL_OK && heap_pool_free(p, b) == HEAP_POOL_OK);
    CHECK_EQU(stats(p).spare_chunks, 2);
    CHECK_EQU(heap_pool_available_capacity(p), 0);
    void *c = heap_pool_malloc(p, 64); /* needs a chunk: the spares are released first */
    CHECK(c);
    CHECK_EQU(stats(p).spare_chunks, 0);
    CHECK_EQU(stats(p).class_chunks, 1);
    CHECK(heap_pool_malloc(p, 60 * KiB) != NULL); /* its 256 KiB class chunk does not fit: pages of its own */
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
}

/* ---- realloc ---------------------------------------------------------------------- */

static void fill(void *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) ((unsigned char *)p)[i] = (unsigned char)(seed + i * 7);
}
static int filled(const void *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] != (unsigned char)(seed + i * 7)) return 0;
    return 1;
}

static void realloc_keeps_moves_and_frees(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL), *q = new_pool(t, 0, NULL);
    void *a = heap_pool_malloc(p, 100), *o = NULL;
    fill(a, 100, 1);
    /* fits (usable 128): kept */
    CHECK(heap_pool_realloc(p, a, 128, &o) == HEAP_POOL_OK && o == a);
    CHECK(heap_pool_realloc(p, a, 1, &o) == HEAP_POOL_OK && o == a);
    CHECK(filled(a, 100, 1));
    /* grows: moves, copies the old usable bytes */
    CHECK(heap_pool_realloc(p, a, 5000, &o) == HEAP_POOL_OK && o != a);
    CHECK(filled(o, 100, 1));
    CHECK_EQ(heap_pool_free(p, a), HEAP_POOL_ERR_DOUBLE_FREE);
    a = o;
    fill(a, 5000, 2);
    /* into a large block and back to a class block: min(old, new) kept */
    CHECK(heap_pool_realloc(p, a, 3 * MiB - 100, &o) == HEAP_POOL_OK && o != a);
    CHECK(filled(o, 5000, 2));
    CHECK_EQ(kind_of(p, o), HEAP_POOL_CHUNK_LARGE);
    a = o;
    CHECK(heap_pool_realloc(p, a, 3 * MiB, &o) == HEAP_POOL_OK && o == a); /* fits the pages */
    CHECK(heap_pool_realloc(p, a, 4 * MiB, &o) == HEAP_POOL_OK && o != a);
    CHECK(filled(o, 5000, 2));
    a = o;
    /* a large block that fits stays put even when shrunk */
    CHECK(heap_pool_realloc(p, a, 10, &o) == HEAP_POOL_OK && o == a);
    /* failure leaves the old block intact */
    heap_pool_trim(p); /* with spares, a refused map is retried after releasing them */
    t->fail_in = 1;
    heap_pool_stats_t b = stats(p);
    CHECK(heap_pool_realloc(p, a, 6 * MiB, &o) == HEAP_POOL_ERR_NOMEM && o == a);
    CHECK(filled(a, 5000, 2));
    CHECK_EQU(stats(p).allocations, b.allocations);
    CHECK_EQU(stats(p).reserved, b.reserved);
    /* size 0 frees */
    CHECK(heap_pool_realloc(p, a, 0, &o) == HEAP_POOL_OK && o == NULL);
    CHECK_EQU(stats(p).allocations, 0);
    /* NULL pointer: malloc */
    CHECK(heap_pool_realloc(p, NULL, 40, &o) == HEAP_POOL_OK && o && heap_pool_usable_size(p, o) == 48);
    fill(o, 40, 3);
    /* into another pool: always moves; the old pool forgets it */
    void *n = NULL;
    CHECK(heap_pool_realloc_into(q, p, o, 20, &n) == HEAP_POOL_OK && n && n != o);
    CHECK(filled(n, 20, 3));
    CHECK_EQU(stats(p).allocations, 0);
    CHECK_EQU(stats(q).allocations, 1);
    CHECK_EQ(heap_pool_free(p, n), HEAP_POOL_ERR_FOREIGN);
    CHECK(heap_pool_free(q, n) == HEAP_POOL_OK);
    /* by handle */
    heap_pool_ref_t r, r2;
    CHECK(heap_pool_alloc_ref(p, 700, 0, &r) == HEAP_POOL_OK);
    fill(r.ptr, 700, 4);
    CHECK(heap_pool_realloc_at(p, r.chunk, r.offset, 768, &r2) == HEAP_POOL_OK);
    CHECK(r2.ptr == r.ptr && r2.chunk == r.chunk && r2.offset == r.offset && r2.size == 768);
    CHECK(heap_pool_realloc_at(p, r.chunk, r.offset, 769, &r2) == HEAP_POOL_OK && r2.ptr != r.ptr);
    CHECK(filled(r2.ptr, 700, 4));
    CHECK_EQ(heap_pool_state_at(p, r.chunk, r.offset, NULL), HEAP_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(heap_pool_realloc_at(p, r.chunk, r.offset, 10, &r), HEAP_POOL_ERR_DOUBLE_FREE);
    CHECK(heap_pool_realloc_at_into(q, p, r2.chunk, r2.offset, 0, &r) == HEAP_POOL_OK && r.ptr == NULL &&
          r.chunk == HEAP_POOL_NO_CHUNK);
    CHECK_EQU(stats(p).allocations, 0);
    CHECK(check_ok(p) && check_ok(q));
    heap_pool_destroy(q);
    CHECK(destroy_ok(p, t));
}

static void calloc_zeroes(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL);
    unsigned char *a = heap_pool_malloc(p, 300);
    memset(a, 0xee, 300);
    CHECK(heap_pool_free(p, a) == HEAP_POOL_OK);
    unsigned char *c = heap_pool_calloc(p, 10, 30);
    CHECK(c == a); /* the dirty block comes back, zeroed */
    for (int i = 0; i < 300; i++) CHECK(c[i] == 0);
    heap_pool_ref_t r;
    CHECK(heap_pool_calloc_ref(p, 0, 5, &r) == HEAP_POOL_OK && r.size == 16);
    CHECK_EQ(heap_pool_calloc_ref(p, SIZE_MAX, 2, &r), HEAP_POOL_ERR_RANGE);
    CHECK_EQ(heap_pool_alloc_ref(p, 1, 8, &r), HEAP_POOL_ERR_INVALID);
    CHECK(destroy_ok(p, t));
}

/* Tags: a bit per live block in the side tables, set by HEAP_POOL_TAG, moved by
 * realloc, cleared by every free; the tagged calls refuse untagged blocks. */
static void tags_follow_their_blocks(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL);
    heap_pool_ref_t a, b, big, r;
    CHECK(heap_pool_alloc_ref(p, 100, HEAP_POOL_TAG, &a) == HEAP_POOL_OK);
    CHECK(heap_pool_alloc_ref(p, 100, 0, &b) == HEAP_POOL_OK);
    CHECK(heap_pool_alloc_ref(p, (size_t)3 << 20, HEAP_POOL_TAG | HEAP_POOL_ZERO, &big) == HEAP_POOL_OK);
    CHECK(heap_pool_tagged(p, a.ptr, &r) == HEAP_POOL_OK && r.chunk == a.chunk && r.offset == a.offset &&
          r.size == a.size);
    CHECK(heap_pool_tagged(p, big.ptr, &r) == HEAP_POOL_OK && r.size == big.size);
    CHECK_EQ(heap_pool_tagged(p, b.ptr, &r), HEAP_POOL_ERR_FOREIGN);
    CHECK_EQ(heap_pool_tagged(p, (char *)a.ptr + 16, &r), HEAP_POOL_ERR_FOREIGN);
    CHECK_EQ(heap_pool_tagged(p, NULL, &r), HEAP_POOL_ERR_FOREIGN);
    CHECK_EQ(heap_pool_tagged(NULL, a.ptr, &r), HEAP_POOL_ERR_INVALID);
    heap_pool_stats_t before, after;
    heap_pool_get_stats(p, &before);
    CHECK_EQ(heap_pool_free_tagged(p, b.ptr), HEAP_POOL_ERR_FOREIGN); /* changes nothing */
    CHECK_EQ(heap_pool_free_tagged(p, NULL), HEAP_POOL_ERR_FOREIGN);
    heap_pool_get_stats(p, &after);
    CHECK(after.allocations == before.allocations && after.used == before.used);
    CHECK(heap_pool_check(p, NULL) == HEAP_POOL_OK);
    /* realloc moves the tag; the old block is free and untagged */
    void *moved = NULL;
    CHECK(heap_pool_realloc(p, a.ptr, 1000, &moved) == HEAP_POOL_OK && moved != a.ptr);
    CHECK(heap_pool_tagged(p, moved, NULL) == HEAP_POOL_OK);
    CHECK_EQ(heap_pool_tagged(p, a.ptr, NULL), HEAP_POOL_ERR_DOUBLE_FREE);
    void *again = heap_pool_malloc(p, 100); /* a's block, back untagged */
    CHECK(again == a.ptr && heap_pool_tagged(p, again, NULL) == HEAP_POOL_ERR_FOREIGN);
    /* untag: the block becomes the caller's like any other */
    CHECK(heap_pool_untag(p, moved) == HEAP_POOL_OK);
    CHECK_EQ(heap_pool_untag(p, moved), HEAP_POOL_ERR_FOREIGN);
    CHECK(heap_pool_check(p, NULL) == HEAP_POOL_OK); /* the tagged counters too */
    CHECK(heap_pool_free(p, moved) == HEAP_POOL_OK);
    heap_pool_get_stats(p, &before);
    CHECK(before.tagged == 1 && before.tagged_bytes == big.size);
    CHECK(heap_pool_free_tagged(p, big.ptr) == HEAP_POOL_OK);
    CHECK_EQ(heap_pool_free_tagged(p, big.ptr), HEAP_POOL_ERR_FOREIGN);
    /* many tagged blocks through the fast free path */
    void *ptrs[64];
    for (int i = 0; i < 64; i++) {
        ptrs[i] = heap_pool_malloc_tagged(p, 48);
        CHECK(ptrs[i] != NULL && heap_pool_tagged(p, ptrs[i], NULL) == HEAP_POOL_OK);
    }
    CHECK(heap_pool_malloc_tagged(NULL, 48) == NULL);
    heap_pool_get_stats(p, &after);
    CHECK(after.tagged == 64 && after.tagged_bytes == 64 * 48);
    CHECK(heap_pool_check(p, NULL) == HEAP_POOL_OK);
    for (int i = 0; i < 64; i++) CHECK(heap_pool_free_tagged(p, ptrs[i]) == HEAP_POOL_OK);
    for (int i = 0; i < 64; i++) CHECK(heap_pool_tagged(p, heap_pool_malloc(p, 48), NULL) == HEAP_POOL_ERR_FOREIGN);
    CHECK(heap_pool_check(p, NULL) == HEAP_POOL_OK);
    CHECK(heap_pool_free(p, again) == HEAP_POOL_OK && heap_pool_free(p, b.ptr) == HEAP_POOL_OK);
    heap_pool_get_stats(p, &after);
    CHECK(after.tagged == 0 && after.tagged_bytes == 0);
    CHECK(destroy_ok(p, t));
}

/* The _or calls (the nativeHandle's): the block or the caller's own code, and
 * a refused call changes nothing. Tag and live bit share a word (two bits a
 * block): neighbours keep theirs, and the tagged counters stay exact per class. */
static void tagged_or_calls_answer_in_the_callers_codes(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL);
    enum { N = 300, REFUSED = -77 };
    void *ptrs[N], *untagged[N];
    size_t bytes = 0;
    for (int i = 0; i < N; i++) {
        size_t size = 16 + (size_t)(i * 37) % 1500; /* several classes, neighbouring blocks */
        ptrs[i] = NULL;
        CHECK(heap_pool_malloc_tagged_or(p, size, &ptrs[i], REFUSED) == HEAP_POOL_OK && ptrs[i] != NULL);
        untagged[i] = heap_pool_malloc(p, size);
        CHECK(untagged[i] != NULL);
        heap_pool_ref_t r;
        CHECK(heap_pool_tagged(p, ptrs[i], &r) == HEAP_POOL_OK && r.size >= size);
        bytes += r.size;
    }
    heap_pool_stats_t before, after;
    heap_pool_get_stats(p, &before);
    CHECK(before.tagged == N && before.tagged_bytes == bytes);
    CHECK(heap_pool_check(p, NULL) == HEAP_POOL_OK);
    /* refused: untagged, interior, NULL, foreign; nothing changes */
    int local;
    CHECK_EQ(heap_pool_free_tagged_or(p, untagged[0], REFUSED), REFUSED);
    CHECK_EQ(heap_pool_free_tagged_or(p, (char *)ptrs[0] + 16, REFUSED), REFUSED);
    CHECK_EQ(heap_pool_free_tagged_or(p, NULL, REFUSED), REFUSED);
    CHECK_EQ(heap_pool_free_tagged_or(p, &local, REFUSED), REFUSED);
    heap_pool_get_stats(p, &after);
    CHECK(after.allocations == before.allocations && after.used == before.used && after.tagged == N);
    /* every other tagged block goes: its untagged neighbours and the rest keep their states */
    for (int i = 0; i < N; i += 2) CHECK(heap_pool_free_tagged_or(p, ptrs[i], REFUSED) == HEAP_POOL_OK);
    for (int i = 0; i < N; i += 2) CHECK_EQ(heap_pool_free_tagged_or(p, ptrs[i], REFUSED), REFUSED); /* freed */
    for (int i = 0; i < N; i++) {
        CHECK(heap_pool_tagged(p, untagged[i], NULL) == HEAP_POOL_ERR_FOREIGN);
        CHECK(heap_pool_usable_size(p, untagged[i]) > 0);
        if (i % 2) CHECK(heap_pool_tagged(p, ptrs[i], NULL) == HEAP_POOL_OK);
    }
    CHECK(heap_pool_check(p, NULL) == HEAP_POOL_OK);
    heap_pool_get_stats(p, &after);
    CHECK(after.tagged == N / 2);
    for (int i = 1; i < N; i += 2) CHECK(heap_pool_free_tagged_or(p, ptrs[i], REFUSED) == HEAP_POOL_OK);
    for (int i = 0; i < N; i++) CHECK(heap_pool_free(p, untagged[i]) == HEAP_POOL_OK);
    heap_pool_get_stats(p, &after);
    CHECK(after.tagged == 0 && after.tagged_bytes == 0 && after.allocations == 0);
    CHECK(heap_pool_check(p, NULL) == HEAP_POOL_OK);
    CHECK(destroy_ok(p, t));
    /* a full pool: the caller's code, *out untouched */
    t = new_tracker();
    p = new_pool(t, 64 << 10, NULL);
    void *out = &local;
    int served = 0;
    while (heap_pool_malloc_tagged_or(p, 4096, &out, REFUSED) == HEAP_POOL_OK) served++;
    CHECK(served > 0 && out != &local);
    void *last = out;
    CHECK_EQ(heap_pool_malloc_tagged_or(p, 4096, &out, REFUSED), REFUSED);
    CHECK(out == last);
    heap_pool_get_stats(p, &after);
    CHECK(after.tagged == (size_t)served && heap_pool_check(p, NULL) == HEAP_POOL_OK);
    CHECK(destroy_ok(p, t));
}

/* ---- handles, stats, notifications ------------------------------------------------------ */

static void handles_round_trip_and_stats(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *p = new_pool(t, 0, NULL);
    heap_pool_ref_t r[40];
    size_t used = 0;
    for (int i = 0; i < 40; i++) {
        CHECK(heap_pool_alloc_ref(p, (size_t)i * 997, 0, &r[i]) == HEAP_POOL_OK);
        used += r[i].size;
        heap_pool_ref_t l;
        CHECK(heap_pool_locate(p, r[i].ptr, &l) == HEAP_POOL_OK && l.chunk == r[i].chunk && l.offset == r[i].offset);
        heap_pool_chunk_info_t ci;
        CHECK(heap_pool_chunk_info(p, r[i].chunk, &ci) == HEAP_POOL_OK);
        CHECK((char *)ci.base + r[i].offset == r[i].ptr);
        size_t u = 0;
        CHECK(heap_pool_state_at(p, r[i].chunk, r[i].offset, &u) == HEAP_POOL_OK && u == r[i].size);
        CHECK(r[i].chunk < heap_pool_chunk_limit(p));
    }
    heap_pool_stats_t s = stats(p);
    CHECK_EQU(s.used, used);
    CHECK_EQU(s.peak_used, used);
    CHECK_EQU(s.allocations, 40);
    CHECK_EQU(s.failed_allocations, 0);
    CHECK(s.metadata_bytes > 0);
    for (int i = 0; i < 40; i += 2) CHECK(heap_pool_free_at(p, r[i].chunk, r[i].offset) == HEAP_POOL_OK);
    s = stats(p);
    CHECK_EQU(s.peak_used, used);
    CHECK(s.used < used && s.allocations == 20);
    heap_pool_chunk_info_t ci;
    CHECK_EQ(heap_pool_chunk_info(p, heap_pool_chunk_limit(p), &ci), HEAP_POOL_ERR_INVALID);
    char local;
    heap_pool_ref_t l;
    CHECK_EQ(heap_pool_locate(p, &local, &l), HEAP_POOL_ERR_FOREIGN);
    CHECK(check_ok(p));
    CHECK(destroy_ok(p, t));
    CHECK(t->created > 0 && t->created == t->released);
    CHECK_EQU(t->destroyed, 1);
}

/* ---- cascading -------------------------------------------------------------------- */

static void nested_pools_three_deep(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *root = new_pool(t, 4 * MiB, NULL);
    heap_pool_t *mid = new_pool(t, 2 * MiB, root);
    heap_pool_t *leaf = new_pool(t, 0, mid);
    CHECK(root && mid && leaf);
    CHECK(heap_pool_parent(leaf) == mid && heap_pool_parent(mid) == root);
    CHECK_EQU(heap_pool_page_size(leaf), PAGE);
    CHECK_EQU(stats(root).children, 1);
    size_t maps = t->maps;
    void *x = heap_pool_malloc(leaf, 100);
    CHECK(x);
    CHECK_EQU(t->maps, maps + 1); /* one mapping, made by the root */
    heap_pool_stats_t sr = stats(root), sm = stats(mid), sl = stats(leaf);
    CHECK(sl.reserved == 64 * KiB && sm.reserved == 64 * KiB && sr.reserved == 64 * KiB);
    CHECK(sm.lent_chunks == 1 && sr.lent_chunks == 1 && sl.lent_chunks == 0);
    CHECK(sm.allocations == 0 && sr.allocations == 0 && sl.allocations == 1);
    /* the parents do not hand out lent memory */
    CHECK_EQ(heap_pool_free(mid, x), HEAP_POOL_ERR_FOREIGN);
    heap_pool_ref_t lr = ref_of(leaf, x);
    heap_pool_chunk_info_t ci;
    CHECK(heap_pool_chunk_info(leaf, lr.chunk, &ci) == HEAP_POOL_OK);
    void *leafbase = ci.base;
    CHECK_EQ(heap_pool_free(mid, leafbase), HEAP_POOL_ERR_FOREIGN);
    CHECK_EQ(heap_pool_free(root, leafbase), HEAP_POOL_ERR_FOREIGN);
    heap_pool_ref_t l;
    CHECK_EQ(heap_pool_locate(mid, leafbase, &l), HEAP_POOL_ERR_FOREIGN);
    /* the middle cap binds the leaf (2 MiB), the root's binds both */
    CHECK(heap_pool_malloc(leaf, 3 * MiB) == NULL);
    void *y = heap_pool_malloc(leaf, 2 * MiB - 64 * KiB);
    CHECK(y);
    CHECK_EQU(heap_pool_available_capacity(mid), 0);
    CHECK(heap_pool_malloc(leaf, 16 * KiB) == NULL);
    CHECK(heap_pool_malloc(mid, 16) == NULL);
    void *z = heap_pool_malloc(root, 2 * MiB);
    CHECK(z);
    CHECK_EQU(heap_pool_available_capacity(root), 0);
    CHECK(check_ok(root) && check_ok(mid) && check_ok(leaf));
    /* a grandchild's memory goes back up when freed */
    CHECK(heap_pool_free(leaf, y) == HEAP_POOL_OK);
    CHECK_EQU(stats(root).reserved, 2 * MiB + 64 * KiB);
    CHECK(heap_pool_free(leaf, x) == HEAP_POOL_OK); /* the chunk stays as leaf's spare */
    CHECK_EQU(stats(leaf).spare_chunks, 1);
    CHECK_EQU(heap_pool_trim(leaf), 64 * KiB);
    CHECK_EQU(stats(mid).reserved, 0);
    CHECK_EQU(stats(root).reserved, 2 * MiB);
    /* moving a block from the leaf into the root */
    void *w = heap_pool_malloc(leaf, 50), *w2 = NULL;
    fill(w, 50, 9);
    CHECK(heap_pool_free(root, z) == HEAP_POOL_OK);
    CHECK(heap_pool_realloc_into(root, leaf, w, 60, &w2) == HEAP_POOL_OK && filled(w2, 50, 9));
    CHECK(heap_pool_free(root, w2) == HEAP_POOL_OK);
    CHECK(check_ok(root) && check_ok(mid) && check_ok(leaf));
    heap_pool_destroy(leaf);
    CHECK_EQU(stats(mid).children, 0);
    CHECK_EQU(stats(mid).reserved, 0);
    heap_pool_destroy(mid);
    CHECK_EQU(stats(root).children, 0);
    CHECK(destroy_ok(root, t));
    CHECK_EQU(t->destroyed, 3);
}

/* A parent at its cap releases its own spare chunks to lend to a child. */
static void parent_spares_give_way_to_children(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *root = new_pool(t, 64 * KiB, NULL);
    heap_pool_t *kid = new_pool(t, 0, root);
    void *a = heap_pool_malloc(root, 16);
    CHECK(a && heap_pool_free(root, a) == HEAP_POOL_OK);
    CHECK_EQU(stats(root).spare_chunks, 1);
    CHECK_EQU(heap_pool_available_capacity(root), 0);
    void *k = heap_pool_malloc(kid, 16);
    CHECK(k);
    CHECK_EQU(stats(root).spare_chunks, 0);
    CHECK_EQU(stats(root).lent_chunks, 1);
    /* and a child at the parent's cap releases its spares when the parent refuses */
    CHECK(heap_pool_free(kid, k) == HEAP_POOL_OK);
    CHECK_EQU(stats(kid).spare_chunks, 1);
    void *m = heap_pool_malloc(kid, 40); /* another class: needs the kid's spare memory */
    CHECK(m);
    CHECK_EQU(stats(kid).spare_chunks, 0);
    CHECK(check_ok(root) && check_ok(kid));
    CHECK(destroy_ok(root, t));
    CHECK_EQU(t->destroyed, 2);
}

static void destroying_parent_destroys_children_first(void)
{
    tracker_t *t = new_tracker();
    heap_pool_t *root = new_pool(t, 0, NULL);
    heap_pool_t *a = new_pool(t, 0, root), *b = new_pool(t, 0, root);
    heap_pool_t *aa = new_pool(t, 0, a);
    CHECK(root && a && b && aa);
    CHECK(heap_pool_malloc(root, 10) && heap_pool_malloc(a, 10) && heap_pool_malloc(b, 3 * MiB));
    CHECK(heap_pool_malloc(aa, 10) && heap_pool_malloc(aa, 4 * MiB) && heap_pool_malloc(aa, 100 * KiB));
    CHECK_EQU(stats(root).children, 2);
    CHECK_EQU(stats(root).lent_chunks, 5); /* a's own chunk, the 3 a lends to aa, b's large block */
    CHECK(check_ok(root) && check_ok(a) && check_ok(aa) && check_ok(b));
    heap_pool_destroy(root); /* all live */
    CHECK(tracker_ok(t));
    CHECK_EQU(t->nmap, 0);
    CHECK(t->maps == t->unmaps && t->created == t->released);
    CHECK_EQU(t->destroyed, 4);
    /* every child before its parent */
    int pos_root = -1, pos_a = -1, pos_aa = -1, pos_b = -1;
    for (int i = 0; i < 4; i++) {
        if (t->destroy_order[i] == root) pos_root = i;
        if (t->destroy_order[i] == a) pos_a = i;
        if (t->destroy_order[i] == aa) pos_aa = i;
        if (t->destroy_order[i] == b) pos_b = i;
    }
    CHECK(pos_aa < pos_a && pos_a < pos_root && pos_b < pos_root && pos_aa >= 0 && pos_b >= 0);
}

/* ---- seeded random test with a shadow model ----------------------------------------- */

static uint64_t g_seed = 1;
static long g_ops = 150000;

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
typedef struct rng {
    uint64_t s;
} rng_t;
static uint64_t next(rng_t *r) { return mix(r->s += 0x9e3779b97f4a7c15ull); }
static size_t below(rng_t *r, size_t n) { return (size_t)(next(r) % n); }

/* Patterns are checked on the first and last 64 bytes (and written there) to keep the test fast. */
static void pat_fill(void *p, size_t n, uint64_t w)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n && i < 64; i++) c[i] = (unsigned char)(w >> (8 * (i & 7)));
    for (size_t i = n > 64 ? n - 64 : n; i < n; i++) c[i] = (unsigned char)(w >> (8 * (i & 7)) ^ 0x5a);
}
static int pat_ok(const void *p, size_t n, uint64_t w)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n && i < 64; i++)
        if (c[i] != (unsigned char)(w >> (8 * (i & 7))) && !(n > 64 && i >= n - 64)) return 0;
    for (size_t i = n > 64 ? n - 64 : n; i < n; i++)
        if (c[i] != (unsigned char)(w >> (8 * (i & 7)) ^ 0x5a)) return 0;
    return 1;
}

#define RMAXLIVE 3000
#define RFREED 64
typedef struct rlive {
    heap_pool_ref_t r;
    size_t size; /* requested */
    uint64_t pat;
    int pool;    /* 0 parent, 1 child */
} rlive_t;
typedef struct rstate {
    rlive_t live[RMAXLIVE];
    size_t n;
    heap_pool_ref_t freed[RFREED];
    int freed_pool[RFREED];
    size_t nfreed;
    size_t used[2], count[2];
    void *last_freed[2][HEAP_POOL_CLASSES]; /* LIFO expectation: the next block of the class */
    size_t stamp[2][HEAP_POOL_CLASSES];     /* tracker->released when it was set */
    uint32_t exp_chunk[2][HEAP_POOL_CLASSES]; /* its chunk (the head of the class's list) */
} rstate_t;

static size_t rand_size(rng_t *g)
{
    uint64_t x = next(g);
    switch (x % 20) {
    case 0: return (size_t)(x >> 8) % 17;
    case 1: return HEAP_POOL_MAX_CLASS + (size_t)(x >> 8) % (2 * MiB);
    case 2: case 3: return (size_t)(x >> 8) % (300 * KiB);
    default: return (size_t)(x >> 8) % (x % 3 ? 600 : 9000);
    }
}

static int r_add(rstate_t *st, const heap_pool_ref_t *r, size_t size, uint64_t pat, int pool)
{
    HCHECK(st->n < RMAXLIVE);
    HCHECKF(((uintptr_t)r->ptr & 15) == 0, "%p not 16-aligned", r->ptr);
    HCHECK(r->size >= size);
    st->live[st->n++] = (rlive_t){*r, size, pat, pool};
    st->used[pool] += r->size;
    st->count[pool]++;
    return 1;
}
static void r_remove(rstate_t *st, size_t i, int record)
{
    rlive_t *l = &st->live[i];
    st->used[l->pool] -= l->r.size;
    st->count[l->pool]--;
    if (record) {
        st->freed[st->nfreed % RFREED] = l->r;
        st->freed_pool[st->nfreed % RFREED] = l->pool;
        st->nfreed++;
    }
    st->live[i] = st->live[--st->n];
}
static int r_verify(heap_pool_t **pools, const rstate_t *st, tracker_t *t)
{
    HCHECK(check_ok(pools[0]) && check_ok(pools[1]));
    HCHECK(tracker_ok(t));
    for (int k = 0; k < 2; k++) {
        heap_pool_stats_t s = stats(pools[k]);
        HCHECKF(s.allocations == st->count[k], "pool %d allocations %zu != %zu", k, s.allocations, st->count[k]);
        HCHECKF(s.used == st->used[k], "pool %d used %zu != %zu", k, s.used, st->used[k]);
        HCHECK(s.reserved <= s.capacity && s.peak_used >= s.used);
        HCHECK(heap_pool_available_capacity(pools[k]) == (s.capacity == SIZE_MAX ? SIZE_MAX : s.capacity - s.reserved));
    }
    for (size_t i = 0; i < st->n; i++) {
        const rlive_t *l = &st->live[i];
        HCHECKF(pat_ok(l->r.ptr, l->size, l->pat), "contents of live allocation %zu damaged", i);
        size_t u = 0;
        HCHECK(heap_pool_state_at(pools[l->pool], l->r.chunk, l->r.offset, &u) == HEAP_POOL_OK && u == l->r.size);
    }
    return 1;
}

/* After freeing ptr (whose chunk looked like *ci before the free): the next block
 * of its class is ptr (it is on top of the class's front cache) unless a chunk
 * is released in between (the stamp). */
static int expect_next(rstate_t *st, const tracker_t *t, int pool, const heap_pool_chunk_info_t *ci, uint32_t chunk,
                       void *ptr)
{
    unsigned c = ci->size_class;
    st->last_freed[pool][c] = ptr;
    st->stamp[pool][c] = t->released;
    st->exp_chunk[pool][c] = chunk;
    return 1;
}

static void random_ops_against_shadow(void)
{
    tracker_t *t = new_tracker();
    rstate_t *st = tu_alloc(sizeof *st);
    heap_pool_t *pools[2];
    pools[0] = new_pool(t, 48 * MiB, NULL);
    pools[1] = new_pool(t, 24 * MiB, pools[0]);
    CHECK(pools[0] && pools[1]);
    rng_t g = {g_seed};
    uint64_t patctr = 0;
    long exhausted = 0, rejected = 0, lifo = 0, moved = 0, kept = 0, injected = 0;
    for (long op = 0; op < g_ops; op++) {
        uint64_t x = next(&g);
        unsigned kind = (unsigned)(x % 1000);
        int pool = (int)((x >> 20) & 1);
        heap_pool_t *p = pools[pool];
        if (kind < 480 && st->n < RMAXLIVE) { /* alloc */
            size_t size = rand_size(&g);
            int armed = below(&g, 200) == 0;
            t->fail_in = armed;
            heap_pool_stats_t before = stats(p);
            heap_pool_ref_t r;
            int rc = heap_pool_alloc_ref(p, size, (x >> 30) & 1 ? HEAP_POOL_ZERO : 0, &r);
            t->fail_in = 0;
            if (rc == HEAP_POOL_ERR_NOMEM) {
                heap_pool_stats_t after = stats(p);
                CHECK_EQU(after.failed_allocations, before.failed_allocations + 1);
                CHECK(after.used == before.used && after.allocations == before.allocations);
                CHECK(after.reserved <= before.reserved); /* spares may have been released */
                if (armed) injected++;
                else exhausted++;
                continue;
            }
            CHECKF(rc == HEAP_POOL_OK, "op %ld: alloc(%zu) = %d", op, size, rc);
            if (size <= HEAP_POOL_MAX_CLASS) {
                int c = heap_pool_class_of(size);
                /* valid unless a chunk was released since (a trim may have taken it) */
                if (st->last_freed[pool][c] && st->stamp[pool][c] == t->released) {
                    CHECKF(r.ptr == st->last_freed[pool][c], "op %ld: not the last freed block", op);
                    lifo++;
                }
                st->last_freed[pool][c] = NULL;
            }
            if ((x >> 30) & 1)
                for (size_t i = 0; i < size && i < 256; i++) CHECK(((unsigned char *)r.ptr)[i] == 0);
            uint64_t pat = mix(++patctr);
            pat_fill(r.ptr, size, pat);
            CHECK_HELPER(r_add(st, &r, size, pat, pool));
        } else if (kind < 800 && st->n) { /* free, by handle or pointer */
            size_t i = below(&g, st->n);
            rlive_t l = st->live[i];
            CHECKF(pat_ok(l.r.ptr, l.size, l.pat), "op %ld: contents damaged before free", op);
            heap_pool_chunk_info_t ci;
            CHECK(heap_pool_chunk_info(pools[l.pool], l.r.chunk, &ci) == HEAP_POOL_OK);
            int rc = (x >> 32) & 1 ? heap_pool_free(pools[l.pool], l.r.ptr)
                                   : heap_pool_free_at(pools[l.pool], l.r.chunk, l.r.offset);
            CHECKF(rc == HEAP_POOL_OK, "op %ld: free = %d", op, rc);
            r_remove(st, i, ci.kind == HEAP_POOL_CHUNK_CLASS);
            if (ci.kind == HEAP_POOL_CHUNK_CLASS) CHECK_HELPER(expect_next(st, t, l.pool, &ci, l.r.chunk, l.r.ptr));
        } else if (kind < 950 && st->n) { /* realloc, maybe into the other pool */
            size_t i = below(&g, st->n);
            rlive_t l = st->live[i];
            int to = below(&g, 8) == 0 ? 1 - l.pool : l.pool;
            size_t size = rand_size(&g);
            heap_pool_ref_t n;
            int armed = below(&g, 50) == 0;
            t->fail_in = armed;
            heap_pool_chunk_info_t ci;
            CHECK(heap_pool_chunk_info(pools[l.pool], l.r.chunk, &ci) == HEAP_POOL_OK);
            int rc = heap_pool_realloc_at_into(pools[to], pools[l.pool], l.r.chunk, l.r.offset, size, &n);
            t->fail_in = 0;
            if (rc == HEAP_POOL_ERR_NOMEM) {
                CHECK(pat_ok(l.r.ptr, l.size, l.pat));
                CHECK(heap_pool_state_at(pools[l.pool], l.r.chunk, l.r.offset, NULL) == HEAP_POOL_OK);
                continue;
            }
            CHECKF(rc == HEAP_POOL_OK, "op %ld: realloc = %d", op, rc);
            r_remove(st, i, 0);
            if (size == 0) {
                CHECK(n.ptr == NULL);
                if (ci.kind == HEAP_POOL_CHUNK_CLASS) CHECK_HELPER(expect_next(st, t, l.pool, &ci, l.r.chunk, l.r.ptr));
                continue;
            }
            size_t keep = size < l.size ? size : l.size;
            int same = n.ptr == l.r.ptr;
            CHECK(same == (to == l.pool && size <= l.r.size));
            same ? kept++ : moved++;
            if (!same) {
                CHECK(heap_pool_state_at(pools[l.pool], l.r.chunk, l.r.offset, NULL) != HEAP_POOL_OK ||
                      (to != l.pool)); /* gone from the source (unless the source is another pool with that handle) */
                /* the new block was allocated first, then the old one freed */
                if (size <= HEAP_POOL_MAX_CLASS) st->last_freed[to][heap_pool_class_of(size)] = NULL;
                if (ci.kind == HEAP_POOL_CHUNK_CLASS) CHECK_HELPER(expect_next(st, t, l.pool, &ci, l.r.chunk, l.r.ptr));
            }
            /* check the kept bytes (prefix/suffix pattern of the old block) */
            if (keep >= 64 && l.size >= 128 && keep == l.size) CHECK(pat_ok(n.ptr, keep, l.pat));
            else {
                const unsigned char *c = n.ptr;
                for (size_t k = 0; k < keep && k < 64 && (l.size <= 64 || k < l.size - 64); k++)
                    CHECK(c[k] == (unsigned char)(l.pat >> (8 * (k & 7))));
            }
            uint64_t pat = mix(++patctr);
            pat_fill(n.ptr, size, pat);
            CHECK_HELPER(r_add(st, &n, size, pat, to));
        } else if (st->nfreed) { /* a rejected free: double free (or foreign once the chunk went) */
            size_t k = below(&g, st->nfreed < RFREED ? st->nfreed : RFREED);
            heap_pool_ref_t f = st->freed[k];
            heap_pool_t *fp = pools[st->freed_pool[k]];
            size_t u;
            int state = heap_pool_state_at(fp, f.chunk, f.offset, &u);
            if (state == HEAP_POOL_OK) continue; /* handed out again since */
            heap_pool_stats_t b0 = stats(pools[0]), b1 = stats(pools[1]);
            int rc = heap_pool_free_at(fp, f.chunk, f.offset);
            CHECK(rc == state && (rc == HEAP_POOL_ERR_DOUBLE_FREE || rc == HEAP_POOL_ERR_FOREIGN));
            CHECK_EQ(heap_pool_free_at(fp, f.chunk, f.offset + 8), HEAP_POOL_ERR_FOREIGN);
            heap_pool_stats_t a0 = stats(pools[0]), a1 = stats(pools[1]);
            CHECK(same_stats(&a0, &b0) && same_stats(&a1, &b1));
            rejected++;
        }
        if (op % 2000 == 0) CHECK_HELPER(r_verify(pools, st, t));
    }
    CHECK_HELPER(r_verify(pools, st, t));
    fprintf(stderr,
            "# random: seed %" PRIu64 ", %ld ops, %ld exhausted, %ld injected, %ld rejected, %ld lifo, %ld moved, %ld kept\n",
            g_seed, g_ops, exhausted, injected, rejected, lifo, moved, kept);
    if (g_ops >= 100000) CHECK(exhausted > 10 && rejected > 1000 && lifo > 1000 && moved > 1000 && kept > 1000);
    heap_pool_destroy(pools[0]); /* child first, with everything live */
    CHECK(tracker_ok(t));
    CHECK(t->nmap == 0 && t->maps == t->unmaps && t->created == t->released && t->destroyed == 2);
}

int main(int argc, char **argv)
{
    if (argc > 1) g_seed = strtoull(argv[1], NULL, 0);
    if (argc > 2) g_ops = strtol(argv[2], NULL, 0);
    (void)tu_aligned;
    TU_RUN(class_table_and_lookup);
    TU_RUN(create_validates_options);
    TU_RUN(alignment_and_no_overhead);
    TU_RUN(lifo_reuse_of_freed_blocks);
    TU_RUN(rejected_frees_change_nothing);
    TU_RUN(metadata_is_out_of_chunk_reach);
    TU_RUN(large_blocks_are_their_own);
    TU_RUN(capacity_edges);
    TU_RUN(failed_allocations_leave_accounting);
    TU_RUN(map_failure_exact_accounting);
    TU_RUN(front_cache_lifo_across_spills);
    TU_RUN(front_cache_forgets_released_chunks);
    TU_RUN(malloc_uses_the_class_of_the_request);
    TU_RUN(spare_chunk_policy);
    TU_RUN(spares_give_way_under_capacity);
    TU_RUN(realloc_keeps_moves_and_frees);
    TU_RUN(calloc_zeroes);
    TU_RUN(tags_follow_their_blocks);
    TU_RUN(tagged_or_calls_answer_in_the_callers_codes);
    TU_RUN(handles_round_trip_and_stats);
    TU_RUN(nested_pools_three_deep);
    TU_RUN(parent_spares_give_way_to_children);
    TU_RUN(destroying_parent_destroys_children_first);
    TU_RUN(random_ops_against_shadow);
    return tu_finish("heap_pool");
}
