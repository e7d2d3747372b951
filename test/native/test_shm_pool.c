/* Tests for shm_pool.c: segments, validation, cross-process allocation, locks,
 * crash recovery, roots and futex wait/notify. Every case runs in its own forked
 * process (test_util.h); cases fork further children for the other side. */
#include "shm_pool.h"
#include "tlsf.h"

#include "test_util.h"
#include "fork_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#define MIB ((size_t)1 << 20)

/* ---- helpers --------------------------------------------------------------------- */

static char g_name[64];

/* A segment name unique to this case's process; any stale one is removed. */
static const char *fresh_name(const char *tag)
{
    snprintf(g_name, sizeof g_name, "/mempools-test-%ld-%s", (long)getpid(), tag);
    shm_unlink(g_name);
    return g_name;
}

/* Run body with a fresh name, and unlink it afterwards whatever happened. */
#define NAMED_CASE(fn)                                                                                                 \
    static void fn##_body(void);                                                                                      \
    static void fn(void)                                                                                               \
    {                                                                                                                  \
        fresh_name(#fn);                                                                                               \
        fn##_body();                                                                                                   \
        shm_unlink(g_name);                                                                                            \
    }                                                                                                                  \
    static void fn##_body(void)

static int run_child(int (*fn)(void *), void *arg) { return reap(spawn(fn, arg)); }

/* A memfd pool, checked. */
static shm_pool_t *anon_pool(size_t size)
{
    shm_pool_t *p = NULL;
    return shm_pool_create(NULL, size, 0, &p) == SHM_POOL_OK ? p : NULL;
}

typedef struct child_args {
    shm_pool_t *pool; /* inherited handle (memfd/named) */
    const char *name; /* or a name to open */
    int fd;           /* or an fd to attach */
    uint64_t offset;
    uint64_t offset2;
    int id;
    int iterations;
} child_args_t;

/* Attach the way the args say: by name, by fd, or use the inherited handle. */
static shm_pool_t *child_attach(child_args_t *a, int *owned)
{
    shm_pool_t *p = NULL;
    *owned = 1;
    if (a->name) return shm_pool_open(a->name, &p) == SHM_POOL_OK ? p : NULL;
    if (a->fd >= 0) return shm_pool_from_fd(a->fd, &p) == SHM_POOL_OK ? p : NULL;
    *owned = 0;
    return a->pool;
}

/* ---- segments -------------------------------------------------------------------- */

/* Child: see the parent's "hello", write "world", allocate a block and root it. */
static int child_reads_and_writes(void *arg)
{
    child_args_t *a = arg;
    int owned;
    shm_pool_t *p = child_attach(a, &owned);
    if (!p) return 10;
    void *v = NULL;
    if (shm_pool_at(p, a->offset, 6, &v) != SHM_POOL_OK) return 11;
    if (memcmp(v, "hello", 6) != 0) return 12;
    memcpy(v, "world", 6);
    uint64_t off;
    void *q;
    if (shm_pool_alloc(p, 32, &off, &q) != SHM_POOL_OK) return 13;
    memcpy(q, "from child", 11);
    if (shm_pool_set_root(p, "child", off) != SHM_POOL_OK) return 14;
    if (owned) shm_pool_close(p);
    return 0;
}

/* Parent side of the share test: allocate, let a child attach and write, read back. */
static int share_round_trip(shm_pool_t *p, child_args_t *a)
{
    uint64_t off;
    void *v;
    HCHECK(shm_pool_alloc(p, 6, &off, &v) == SHM_POOL_OK);
    memcpy(v, "hello", 6);
    a->offset = off;
    HCHECK(run_child(child_reads_and_writes, a) == 0);
    HCHECK(memcmp(v, "world", 6) == 0);
    uint64_t coff;
    void *c;
    HCHECK(shm_pool_get_root(p, "child", &coff) == SHM_POOL_OK);
    HCHECK(shm_pool_at(p, coff, 11, &c) == SHM_POOL_OK);
    HCHECK(memcmp(c, "from child", 11) == 0);
    HCHECK(shm_pool_free_at(p, coff) == SHM_POOL_OK);
    HCHECK(shm_pool_free(p, v) == SHM_POOL_OK);
    const char *why = NULL;
    HCHECKF(shm_pool_check(p, &why) == SHM_POOL_OK, "check: %s", why ? why : "?");
    shm_pool_stats_t s;
    HCHECK(shm_pool_stats(p, &s) == SHM_POOL_OK);
    HCHECK(s.allocations == 0 && s.used == 0 && s.available == s.capacity);
    return 1;
}

NAMED_CASE(test_named_create_and_open)
{
    shm_pool_t *p = NULL;
    CHECK_EQ(shm_pool_create(g_name, MIB, 0, &p), SHM_POOL_OK);
    CHECK(shm_pool_name(p) && strcmp(shm_pool_name(p), g_name) == 0);
    CHECK_EQU(shm_pool_size(p), MIB);
    child_args_t a = { .name = g_name, .fd = -1 };
    int ok = share_round_trip(p, &a);
    shm_pool_close(p);
    CHECK(ok);
    CHECK_EQ(shm_pool_unlink(g_name), SHM_POOL_OK);
    CHECK_EQ(shm_pool_unlink(g_name), SHM_POOL_ERR_SYSTEM);
    CHECK_EQ(errno, ENOENT);
    CHECK_EQ(shm_pool_open(g_name, &p), SHM_POOL_ERR_SYSTEM);
    CHECK_EQ(errno, ENOENT);
    CHECK(p == NULL);
}

static void test_memfd_create_and_from_fd(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    CHECK(shm_pool_name(p) == NULL);
    child_args_t a = { .fd = shm_pool_fd(p) };
    int ok = share_round_trip(p, &a);
    /* Size is fixed: the memfd is sealed. */
    int grew = ftruncate(shm_pool_fd(p), (off_t)(2 * MIB));
    /* from_fd in this process too: a second mapping at another address. */
    shm_pool_t *q = NULL;
    int rc = shm_pool_from_fd(shm_pool_fd(p), &q);
    int same = 0;
    if (rc == SHM_POOL_OK) {
        uint64_t off;
        void *v, *w;
        if (shm_pool_alloc(p, 8, &off, &v) == SHM_POOL_OK && shm_pool_at(q, off, 8, &w) == SHM_POOL_OK) {
            memcpy(v, "abcdefg", 8);
            same = w != v && memcmp(w, "abcdefg", 8) == 0 && shm_pool_free_at(q, off) == SHM_POOL_OK;
        }
        shm_pool_close(q);
    }
    shm_pool_close(p);
    CHECK(ok);
    CHECK(grew != 0);
    CHECK_EQ(rc, SHM_POOL_OK);
    CHECK(same);
}

static void test_inherited_handle(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    child_args_t a = { .pool = p, .fd = -1 };
    int ok = share_round_trip(p, &a);
    shm_pool_close(p);
    CHECK(ok);
}

NAMED_CASE(test_exclusive_create_and_mode)
{
    shm_pool_t *p = NULL, *q = NULL;
    CHECK_EQ(shm_pool_create(g_name, MIB, 0640, &p), SHM_POOL_OK);
    struct stat st;
    int fs = fstat(shm_pool_fd(p), &st);
    int rc = shm_pool_create(g_name, MIB, 0, &q);
    int err = errno;
    shm_pool_close(p);
    CHECK_EQ(fs, 0);
    CHECK_EQU(st.st_mode & 0777, 0640);
    CHECK_EQ(rc, SHM_POOL_ERR_SYSTEM);
    CHECK_EQ(err, EEXIST);
    CHECK(q == NULL);
    CHECK_EQ(shm_pool_unlink(g_name), SHM_POOL_OK);
    /* Default mode 0600. */
    CHECK_EQ(shm_pool_create(g_name, MIB, 0, &p), SHM_POOL_OK);
    fs = fstat(shm_pool_fd(p), &st);
    shm_pool_close(p);
    CHECK_EQ(fs, 0);
    CHECK_EQU(st.st_mode & 0777, 0600);
    /* Bad modes and sizes. */
    CHECK_EQ(shm_pool_create(NULL, MIB, 01777, &p), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_create(NULL, shm_pool_min_size() - 1, 0, &p), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_create(NULL, SHM_POOL_MAX_SIZE + 1, 0, &p), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_create(NULL, shm_pool_min_size(), 0, &p), SHM_POOL_OK);
    CHECK_EQ(shm_pool_check(p, NULL), SHM_POOL_OK);
    shm_pool_close(p);
}

static void test_name_validation(void)
{
    char longest[SHM_POOL_NAME_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[0] = '/';
    longest[SHM_POOL_NAME_MAX] = 0;
    CHECK(shm_pool_name_valid(longest));
    longest[SHM_POOL_NAME_MAX] = 'a';
    longest[SHM_POOL_NAME_MAX + 1] = 0;
    CHECK(!shm_pool_name_valid(longest));
    CHECK(shm_pool_name_valid("/x"));
    CHECK(!shm_pool_name_valid(NULL));
    CHECK(!shm_pool_name_valid(""));
    CHECK(!shm_pool_name_valid("/"));
    CHECK(!shm_pool_name_valid("noslash"));
    CHECK(!shm_pool_name_valid("/a/b"));
    CHECK(!shm_pool_name_valid("/a/"));
    shm_pool_t *p = NULL;
    CHECK_EQ(shm_pool_create("a/b", MIB, 0, &p), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_create(longest, MIB, 0, &p), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_open("/a/b", &p), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_unlink(""), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_from_fd(-1, &p), SHM_POOL_ERR_INVALID);
    CHECK(p == NULL);
}

/* ---- validation on attach ------------------------------------------------------------- */

/* Header field offsets (the layout shm_pool.c documents). */
enum {
    H_MAGIC = 0, H_VERSION = 8, H_HEADER_SIZE = 12, H_SEGMENT_SIZE = 16, H_CONTROL_OFFSET = 24,
    H_CONTROL_SIZE = 32, H_BITMAP_OFFSET = 40, H_BITMAP_SIZE = 48, H_LENT_OFFSET = 56, H_LENT_SIZE = 64,
    H_AREA_OFFSET = 72, H_AREA_SIZE = 80, H_CORRUPTED = 128
};

typedef struct damage {
    const char *what;
    unsigned field;
    unsigned width; /* 4 or 8 */
    int64_t delta;  /* added to the field (wrapping) */
    int set;        /* or: set to value */
    uint64_t value;
} damage_t;

static void poke(unsigned char *base, const damage_t *d)
{
    if (d->width == 4) {
        uint32_t v;
        memcpy(&v, base + d->field, 4);
        v = d->set ? (uint32_t)d->value : v + (uint32_t)d->delta;
        memcpy(base + d->field, &v, 4);
    } else {
        uint64_t v;
        memcpy(&v, base + d->field, 8);
        v = d->set ? d->value : v + (uint64_t)d->delta;
        memcpy(base + d->field, &v, 8);
    }
}

static void test_header_damage(void)
{
    static const damage_t cases[] = {
        { "magic", H_MAGIC, 8, 1, 0, 0 },
        { "magic zero", H_MAGIC, 8, 0, 1, 0 },
        { "version", H_VERSION, 4, 1, 0, 0 },
        { "header size", H_HEADER_SIZE, 4, -8, 0, 0 },
        { "segment size", H_SEGMENT_SIZE, 8, 4096, 0, 0 },
        { "segment size small", H_SEGMENT_SIZE, 8, -4096, 0, 0 },
        { "control offset misaligned", H_CONTROL_OFFSET, 8, 8, 0, 0 },
        { "control offset huge", H_CONTROL_OFFSET, 8, 0, 1, (uint64_t)1 << 62 },
        { "control offset wraps", H_CONTROL_OFFSET, 8, 0, 1, ~(uint64_t)63 },
        { "control offset zero", H_CONTROL_OFFSET, 8, 0, 1, 0 },
        { "control size", H_CONTROL_SIZE, 8, 8, 0, 0 },
        { "bitmap offset", H_BITMAP_OFFSET, 8, -64, 0, 0 },
        { "bitmap offset huge", H_BITMAP_OFFSET, 8, 0, 1, ~(uint64_t)63 },
        { "bitmap size", H_BITMAP_SIZE, 8, 8, 0, 0 },
        { "bitmap size huge", H_BITMAP_SIZE, 8, 0, 1, ~(uint64_t)0 },
        { "area offset past end", H_AREA_OFFSET, 8, 64 * 1024, 0, 0 },
        { "area offset misaligned", H_AREA_OFFSET, 8, -64, 0, 0 },
        { "area offset into lent map", H_AREA_OFFSET, 8, -4096, 0, 0 },
        { "lent offset misaligned", H_LENT_OFFSET, 8, 8, 0, 0 },
        { "lent offset into bitmap", H_LENT_OFFSET, 8, -64, 0, 0 },
        { "lent offset huge", H_LENT_OFFSET, 8, 0, 1, ~(uint64_t)63 },
        { "lent size", H_LENT_SIZE, 8, 8, 0, 0 },
        { "lent size huge", H_LENT_SIZE, 8, 0, 1, ~(uint64_t)0 },
        { "area offset wraps", H_AREA_OFFSET, 8, 0, 1, ~(uint64_t)63 },
        { "area size past end", H_AREA_SIZE, 8, 64, 0, 0 },
        { "area size huge", H_AREA_SIZE, 8, 0, 1, (uint64_t)1 << 63 },
        { "area size smaller", H_AREA_SIZE, 8, -64, 0, 0 },
        { "corrupted flag", H_CORRUPTED, 4, 0, 1, 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        shm_pool_t *p = anon_pool(MIB);
        CHECK(p);
        poke(shm_pool_base(p), &cases[i]);
        shm_pool_t *q = NULL;
        int rc = shm_pool_from_fd(shm_pool_fd(p), &q);
        if (q) shm_pool_close(q);
        shm_pool_close(p);
        int want = cases[i].field == H_MAGIC ? SHM_POOL_ERR_NOT_SEGMENT : SHM_POOL_ERR_CORRUPTED;
        CHECKF(rc == want && q == NULL, "damage '%s': status %d", cases[i].what, rc);
    }
}

static void test_attach_bad_files(void)
{
    /* Too small to hold a header or all zeroes: not a segment, at once (no wait
     * for a creator through a descriptor); a truncated segment: corrupted. */
    size_t sizes[] = { 0, 16, MIB };
    for (size_t i = 0; i < 3; i++) {
        int fd = memfd_create("bad", MFD_CLOEXEC);
        CHECK(fd >= 0);
        int t = ftruncate(fd, (off_t)sizes[i]);
        shm_pool_t *q = NULL;
        int rc = shm_pool_from_fd(fd, &q);
        close(fd);
        CHECK_EQ(t, 0);
        CHECKF(rc == SHM_POOL_ERR_NOT_SEGMENT && !q, "size %zu: %d", sizes[i], rc);
    }
    /* A copy of a good segment cut short. */
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    int fd = memfd_create("cut", MFD_CLOEXEC);
    int ok = fd >= 0 && ftruncate(fd, (off_t)(MIB / 2)) == 0 && pwrite(fd, shm_pool_base(p), MIB / 2, 0) == (ssize_t)(MIB / 2);
    shm_pool_close(p);
    shm_pool_t *q = NULL;
    int rc = ok ? shm_pool_from_fd(fd, &q) : -100;
    if (fd >= 0) close(fd);
    CHECK(ok);
    CHECK_EQ(rc, SHM_POOL_ERR_CORRUPTED);
}

static void test_attach_broken_chain(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    uint64_t off;
    void *v;
    CHECK_EQ(shm_pool_alloc(p, 100, &off, &v), SHM_POOL_OK);
    /* The size word of the block's header: make it run past the area. */
    uint64_t bad = (uint64_t)1 << 40;
    memcpy((unsigned char *)v - 8, &bad, 8);
    shm_pool_t *q = NULL;
    int rc = shm_pool_from_fd(shm_pool_fd(p), &q);
    int later = shm_pool_alloc(p, 8, NULL, NULL); /* the segment is now marked corrupted */
    const char *why = NULL;
    int chk = shm_pool_check(p, &why);
    shm_pool_close(p);
    CHECK_EQ(rc, SHM_POOL_ERR_CORRUPTED);
    CHECK(q == NULL);
    CHECK_EQ(later, SHM_POOL_ERR_CORRUPTED);
    CHECK_EQ(chk, SHM_POOL_ERR_CORRUPTED);
    CHECK(why != NULL);
}

/* ---- allocation --------------------------------------------------------------------------- */

static void test_alloc_api(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    shm_pool_stats_t s0, s;
    CHECK_EQ(shm_pool_stats(p, &s0), SHM_POOL_OK);
    CHECK(s0.capacity > MIB - 64 * 1024 && s0.capacity < MIB);
    CHECK_EQU(s0.available, s0.capacity);
    CHECK_EQU(s0.used, 0);

    uint64_t a, b, c;
    void *pa, *pb, *pc;
    CHECK_EQ(shm_pool_alloc(p, 100, &a, &pa), SHM_POOL_OK);
    CHECK_EQU((unsigned char *)pa - (unsigned char *)shm_pool_base(p), a);
    CHECK_EQU(a % 8, 0);
    uint64_t back;
    CHECK_EQ(shm_pool_offset_of(p, pa, &back), SHM_POOL_OK);
    CHECK_EQU(back, a);
    CHECK_EQ(shm_pool_offset_of(p, &back, &back), SHM_POOL_ERR_FOREIGN);
    CHECK_EQU(shm_pool_usable_size(p, a), 104);
    CHECK_EQ(shm_pool_calloc(p, 10, 10, &b, &pb), SHM_POOL_OK);
    for (int i = 0; i < 100; i++) CHECK(((unsigned char *)pb)[i] == 0);
    CHECK_EQ(shm_pool_calloc(p, SIZE_MAX, 2, &c, &pc), SHM_POOL_ERR_NOMEM);
    CHECK_EQ(shm_pool_alloc(p, 2 * MIB, &c, &pc), SHM_POOL_ERR_NOMEM);
    CHECK_EQ(shm_pool_stats(p, &s), SHM_POOL_OK);
    CHECK_EQU(s.failed_allocations, 2);
    CHECK_EQU(s.allocations, 2);
    CHECK_EQU(s.used, 104 + 104);
    CHECK_EQU(s.available, s.capacity - 208);

    /* at(): validated. */
    void *v;
    CHECK_EQ(shm_pool_at(p, a, 104, &v), SHM_POOL_OK);
    CHECK(v == pa);
    CHECK_EQ(shm_pool_at(p, a, 105, &v), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_at(p, a + 8, 8, &v), SHM_POOL_ERR_FOREIGN);
    CHECK_EQ(shm_pool_at(p, 8, 8, &v), SHM_POOL_ERR_FOREIGN);
    CHECK_EQ(shm_pool_at(p, ~(uint64_t)0, 8, &v), SHM_POOL_ERR_FOREIGN);

    /* realloc: grows in place or moves, keeping the contents. */
    memset(pa, 0x5a, 100);
    uint64_t a2;
    void *pa2;
    CHECK_EQ(shm_pool_realloc(p, a, 5000, &a2, &pa2), SHM_POOL_OK);
    for (int i = 0; i < 100; i++) CHECK(((unsigned char *)pa2)[i] == 0x5a);
    CHECK_EQ(shm_pool_realloc(p, a2, 4 * MIB, &a, &pa), SHM_POOL_ERR_NOMEM);
    CHECK_EQ(shm_pool_realloc(p, a2 + 8, 16, &a, &pa), SHM_POOL_ERR_FOREIGN);
    uint64_t z;
    CHECK_EQ(shm_pool_realloc(p, 0, 16, &z, NULL), SHM_POOL_OK);

    /* free: by offset and pointer; errors change nothing. */
    CHECK_EQ(shm_pool_free_at(p, a2), SHM_POOL_OK);
    CHECK_EQ(shm_pool_free_at(p, a2), SHM_POOL_ERR_DOUBLE_FREE);
    CHECK_EQ(shm_pool_free_at(p, b + 8), SHM_POOL_ERR_FOREIGN);
    CHECK_EQ(shm_pool_free_at(p, 24), SHM_POOL_ERR_FOREIGN);
    CHECK_EQ(shm_pool_free_at(p, 0), SHM_POOL_OK);
    CHECK_EQ(shm_pool_free(p, &z), SHM_POOL_ERR_FOREIGN);
    CHECK_EQ(shm_pool_free(p, pb), SHM_POOL_OK);
    CHECK_EQ(shm_pool_free_at(p, z), SHM_POOL_OK);
    CHECK_EQ(shm_pool_check(p, NULL), SHM_POOL_OK);
    CHECK_EQ(shm_pool_stats(p, &s), SHM_POOL_OK);
    CHECK_EQU(s.used, 0);
    CHECK_EQU(s.allocations, 0);
    CHECK_EQU(s.free, s0.free);
    CHECK_EQU(s.largest_free, s0.largest_free);
    CHECK(s.peak_used >= 5000);
    /* The whole area can be had in one block again. */
    CHECK_EQ(shm_pool_alloc(p, s.largest_free, &a, NULL), SHM_POOL_OK);
    CHECK_EQ(shm_pool_alloc(p, 1, &b, NULL), SHM_POOL_ERR_NOMEM);
    CHECK_EQ(shm_pool_stats(p, &s), SHM_POOL_OK);
    CHECK_EQU(s.available, s.capacity - s.used);
    CHECK_EQ(shm_pool_free_at(p, a), SHM_POOL_OK);
    shm_pool_close(p);
}

static int child_frees(void *arg)
{
    child_args_t *a = arg;
    shm_pool_t *p = NULL;
    if (shm_pool_from_fd(a->fd, &p) != SHM_POOL_OK) return 10;
    int rc = shm_pool_free_at(p, a->offset) == SHM_POOL_OK ? 0 : 11;
    if (!rc && shm_pool_free_at(p, a->offset) != SHM_POOL_ERR_DOUBLE_FREE) rc = 12;
    shm_pool_close(p);
    return rc;
}

static void test_alloc_here_free_there(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    uint64_t off;
    CHECK_EQ(shm_pool_alloc(p, 1000, &off, NULL), SHM_POOL_OK);
    child_args_t a = { .fd = shm_pool_fd(p), .offset = off };
    int rc = run_child(child_frees, &a);
    shm_pool_stats_t s;
    int st = shm_pool_stats(p, &s);
    int chk = shm_pool_check(p, NULL);
    int again = shm_pool_free_at(p, off);
    shm_pool_close(p);
    CHECK_EQ(rc, 0);
    CHECK_EQ(st, SHM_POOL_OK);
    CHECK_EQU(s.allocations, 0);
    CHECK_EQU(s.used, 0);
    CHECK_EQ(chk, SHM_POOL_OK);
    CHECK_EQ(again, SHM_POOL_ERR_DOUBLE_FREE);
}

/* xorshift, per child */
static uint32_t next_rand(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

enum { SLOTS = 32 };

/* Child: random alloc/free, every block filled with a tag and verified before
 * it is freed (an overlap with another process's block would break the tag). */
static int child_churn(void *arg)
{
    child_args_t *a = arg;
    shm_pool_t *p = NULL;
    if (shm_pool_from_fd(a->fd, &p) != SHM_POOL_OK) return 10;
    uint64_t off[SLOTS] = { 0 };
    size_t len[SLOTS] = { 0 };
    uint32_t seed = 0x9e3779b9u * (uint32_t)(a->id + 1);
    int rc = 0;
    for (int it = 0; it < a->iterations && !rc; it++) {
        unsigned k = next_rand(&seed) % SLOTS;
        if (off[k]) {
            unsigned char *v;
            if (shm_pool_at(p, off[k], len[k], (void **)&v) != SHM_POOL_OK) rc = 11;
            for (size_t i = 0; !rc && i < len[k]; i++)
                if (v[i] != (unsigned char)(a->id * 31 + k)) rc = 12;
            if (!rc && shm_pool_free_at(p, off[k]) != SHM_POOL_OK) rc = 13;
            off[k] = 0;
        } else {
            len[k] = 1 + next_rand(&seed) % 2000;
            void *v;
            int r = shm_pool_alloc(p, len[k], &off[k], &v);
            if (r == SHM_POOL_OK) memset(v, a->id * 31 + (int)k, len[k]);
            else if (r == SHM_POOL_ERR_NOMEM) off[k] = 0;
            else rc = 14;
        }
    }
    for (unsigned k = 0; k < SLOTS && !rc; k++)
        if (off[k] && shm_pool_free_at(p, off[k]) != SHM_POOL_OK) rc = 15;
    shm_pool_close(p);
    return rc;
}

static void test_concurrent_children(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    shm_pool_stats_t s0, s;
    CHECK_EQ(shm_pool_stats(p, &s0), SHM_POOL_OK);
    enum { CHILDREN = 4 };
    child_args_t a[CHILDREN];
    pid_t pid[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
        a[i] = (child_args_t){ .fd = shm_pool_fd(p), .id = i + 1, .iterations = 20000 };
        pid[i] = spawn(child_churn, &a[i]);
    }
    int bad = 0;
    for (int i = 0; i < CHILDREN; i++)
        if (reap(pid[i]) != 0) bad++;
    const char *why = NULL;
    int chk = shm_pool_check(p, &why);
    int st = shm_pool_stats(p, &s);
    shm_pool_close(p);
    CHECK_EQ(bad, 0);
    CHECKF(chk == SHM_POOL_OK, "check: %s", why ? why : "?");
    CHECK_EQ(st, SHM_POOL_OK);
    CHECK_EQU(s.allocations, 0);
    CHECK_EQU(s.used, 0);
    CHECK_EQU(s.free, s0.free);
    CHECK_EQU(s.largest_free, s0.largest_free);
    CHECK(s.peak_used > 0);
    CHECK_EQU(s.generation, 0);
}

/* ---- crash recovery ------------------------------------------------------------------------ */

/* Child: take the allocator lock, optionally scribble, and die holding it. */
static int child_dies_holding_allocator(void *arg)
{
    child_args_t *a = arg;
    shm_pool_t *p = a->pool;
    if (shm_pool_debug_lock_allocator(p) != SHM_POOL_OK) return 10;
    unsigned char *base = shm_pool_base(p);
    if (a->offset) memset(base + a->offset, 0xab, 16); /* a free block's list links */
    if (a->offset2) {
        uint64_t bad = (uint64_t)1 << 40; /* a block's size word */
        memcpy(base + a->offset2 - 8, &bad, 8);
    }
    raise(SIGKILL);
    return 11;
}

static void test_kill_holding_allocator_lock(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    uint64_t keep;
    CHECK_EQ(shm_pool_alloc(p, 64, &keep, NULL), SHM_POOL_OK);
    child_args_t a = { .pool = p, .fd = -1 };
    CHECK_EQ(run_child(child_dies_holding_allocator, &a), 128 + SIGKILL);
    uint64_t off;
    CHECK_EQ(shm_pool_alloc(p, 64, &off, NULL), SHM_POOL_OK);
    const char *why = NULL;
    CHECKF(shm_pool_check(p, &why) == SHM_POOL_OK, "check: %s", why ? why : "?");
    shm_pool_stats_t s;
    CHECK_EQ(shm_pool_stats(p, &s), SHM_POOL_OK);
    CHECK_EQU(s.generation, 1);
    CHECK_EQU(s.allocations, 2);
    CHECK_EQ(shm_pool_free_at(p, keep), SHM_POOL_OK);
    CHECK_EQ(shm_pool_free_at(p, off), SHM_POOL_OK);
    shm_pool_close(p);
}

static void test_kill_mid_free_list_surgery(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    uint64_t x, y, z, w;
    CHECK_EQ(shm_pool_alloc(p, 200, &x, NULL), SHM_POOL_OK);
    CHECK_EQ(shm_pool_alloc(p, 200, &y, NULL), SHM_POOL_OK);
    CHECK_EQ(shm_pool_alloc(p, 200, &z, NULL), SHM_POOL_OK);
    CHECK_EQ(shm_pool_alloc(p, 200, &w, NULL), SHM_POOL_OK);
    CHECK_EQ(shm_pool_free_at(p, y), SHM_POOL_OK); /* y is free: its links are in its first 16 bytes */
    child_args_t a = { .pool = p, .fd = -1, .offset = y };
    CHECK_EQ(run_child(child_dies_holding_allocator, &a), 128 + SIGKILL);
    /* Without the repair this would follow the broken links. */
    CHECK_EQ(shm_pool_free_at(p, x), SHM_POOL_OK); /* merges with y */
    const char *why = NULL;
    CHECKF(shm_pool_check(p, &why) == SHM_POOL_OK, "check: %s", why ? why : "?");
    uint64_t again;
    CHECK_EQ(shm_pool_alloc(p, 400, &again, NULL), SHM_POOL_OK);
    CHECK_EQU(again, x); /* the merged hole is reused */
    shm_pool_stats_t s;
    CHECK_EQ(shm_pool_stats(p, &s), SHM_POOL_OK);
    CHECK_EQU(s.allocations, 3);
    CHECK_EQU(s.used, 408 + 200 + 200); /* the 408-byte hole is too small to split */
    CHECK_EQU(s.generation, 1);
    /* An attach after the recovery sees the same state. */
    shm_pool_t *q = NULL;
    CHECK_EQ(shm_pool_from_fd(shm_pool_fd(p), &q), SHM_POOL_OK);
    int chk = shm_pool_check(q, NULL);
    shm_pool_close(q);
    CHECK_EQ(chk, SHM_POOL_OK);
    shm_pool_close(p);
}

static void test_kill_unrepairable(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    uint64_t x;
    CHECK_EQ(shm_pool_alloc(p, 200, &x, NULL), SHM_POOL_OK);
    child_args_t a = { .pool = p, .fd = -1, .offset2 = x };
    CHECK_EQ(run_child(child_dies_holding_allocator, &a), 128 + SIGKILL);
    CHECK_EQ(shm_pool_alloc(p, 8, NULL, NULL), SHM_POOL_ERR_CORRUPTED);
    CHECK_EQ(shm_pool_free_at(p, x), SHM_POOL_ERR_CORRUPTED);
    CHECK_EQ(shm_pool_check(p, NULL), SHM_POOL_ERR_CORRUPTED);
    shm_pool_t *q = NULL;
    CHECK_EQ(shm_pool_from_fd(shm_pool_fd(p), &q), SHM_POOL_ERR_CORRUPTED);
    shm_pool_close(p);
}

/* ---- user lock ------------------------------------------------------------------------------ */

static int child_dies_holding_user_lock(void *arg)
{
    child_args_t *a = arg;
    if (shm_pool_lock(a->pool, UINT32_MAX) != SHM_POOL_OK) return 10;
    raise(SIGKILL);
    return 11;
}

static void test_user_lock_owner_died(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    child_args_t a = { .pool = p, .fd = -1 };
    CHECK_EQ(run_child(child_dies_holding_user_lock, &a), 128 + SIGKILL);
    CHECK_EQ(shm_pool_lock(p, UINT32_MAX), SHM_POOL_OWNER_DIED);
    CHECK_EQ(shm_pool_unlock(p), SHM_POOL_OK);
    CHECK_EQ(shm_pool_lock(p, UINT32_MAX), SHM_POOL_OK);
    CHECK_EQ(shm_pool_unlock(p), SHM_POOL_OK);
    /* The allocator was not involved. */
    shm_pool_stats_t s;
    CHECK_EQ(shm_pool_stats(p, &s), SHM_POOL_OK);
    CHECK_EQU(s.generation, 0);
    shm_pool_close(p);
}

/* Child: a non-atomic read-modify-write under the user lock, many times. */
static int child_counts(void *arg)
{
    child_args_t *a = arg;
    shm_pool_t *p = NULL;
    if (shm_pool_from_fd(a->fd, &p) != SHM_POOL_OK) return 10;
    volatile uint64_t *counter = (volatile uint64_t *)((unsigned char *)shm_pool_base(p) + a->offset);
    int rc = 0;
    for (int i = 0; i < a->iterations && !rc; i++) {
        if (shm_pool_lock(p, UINT32_MAX) != SHM_POOL_OK) rc = 11;
        uint64_t v = *counter;
        if ((i & 63) == 0) sched_yield();
        *counter = v + 1;
        if (!rc && shm_pool_unlock(p) != SHM_POOL_OK) rc = 12;
    }
    shm_pool_close(p);
    return rc;
}

static void test_user_lock_excludes(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    uint64_t off;
    void *v;
    CHECK_EQ(shm_pool_calloc(p, 1, 8, &off, &v), SHM_POOL_OK);
    enum { CHILDREN = 3, ITER = 20000 };
    child_args_t a = { .fd = shm_pool_fd(p), .offset = off, .iterations = ITER };
    pid_t pid[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) pid[i] = spawn(child_counts, &a);
    int bad = 0;
    for (int i = 0; i < CHILDREN; i++)
        if (reap(pid[i]) != 0) bad++;
    uint64_t total = *(volatile uint64_t *)v;
    shm_pool_close(p);
    CHECK_EQ(bad, 0);
    CHECK_EQU(total, (uint64_t)CHILDREN * ITER);
}

/* ---- roots ------------------------------------------------------------------------------------ */

static void test_roots(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    uint64_t off, got;
    CHECK_EQ(shm_pool_alloc(p, 16, &off, NULL), SHM_POOL_OK);
    CHECK_EQ(shm_pool_get_root(p, "config", &got), SHM_POOL_ERR_NOT_FOUND);
    CHECK_EQ(shm_pool_set_root(p, "config", off), SHM_POOL_OK);
    CHECK_EQ(shm_pool_get_root(p, "config", &got), SHM_POOL_OK);
    CHECK_EQU(got, off);
    CHECK_EQ(shm_pool_set_root(p, "config", off + 8), SHM_POOL_OK); /* replace */
    CHECK_EQ(shm_pool_get_root(p, "config", &got), SHM_POOL_OK);
    CHECK_EQU(got, off + 8);
    CHECK_EQ(shm_pool_delete_root(p, "config"), SHM_POOL_OK);
    CHECK_EQ(shm_pool_delete_root(p, "config"), SHM_POOL_ERR_NOT_FOUND);
    CHECK_EQ(shm_pool_get_root(p, "config", &got), SHM_POOL_ERR_NOT_FOUND);
    /* Key limits. */
    char key[SHM_POOL_KEY_MAX + 2];
    memset(key, 'k', sizeof key);
    key[SHM_POOL_KEY_MAX] = 0;
    CHECK_EQ(shm_pool_set_root(p, key, 1), SHM_POOL_OK);
    CHECK_EQ(shm_pool_get_root(p, key, &got), SHM_POOL_OK);
    CHECK_EQU(got, 1);
    CHECK_EQ(shm_pool_delete_root(p, key), SHM_POOL_OK);
    key[SHM_POOL_KEY_MAX] = 'k';
    key[SHM_POOL_KEY_MAX + 1] = 0;
    CHECK_EQ(shm_pool_set_root(p, key, 1), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_set_root(p, "", 1), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_set_root(p, "x", shm_pool_size(p)), SHM_POOL_ERR_INVALID);
    /* Fill the directory. */
    for (int i = 0; i < SHM_POOL_ROOTS; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%d", i);
        CHECK_EQ(shm_pool_set_root(p, k, (uint64_t)i), SHM_POOL_OK);
    }
    CHECK_EQ(shm_pool_set_root(p, "one-more", 1), SHM_POOL_ERR_FULL);
    CHECK_EQ(shm_pool_set_root(p, "key7", 70), SHM_POOL_OK); /* replacing still works */
    CHECK_EQ(shm_pool_delete_root(p, "key3"), SHM_POOL_OK);
    CHECK_EQ(shm_pool_set_root(p, "one-more", 1), SHM_POOL_OK);
    for (int i = 0; i < SHM_POOL_ROOTS; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%d", i);
        int rc = shm_pool_get_root(p, k, &got);
        if (i == 3) {
            CHECK_EQ(rc, SHM_POOL_ERR_NOT_FOUND);
        } else {
            CHECK_EQ(rc, SHM_POOL_OK);
            CHECK_EQU(got, i == 7 ? 70 : (uint64_t)i);
        }
    }
    CHECK_EQ(shm_pool_check(p, NULL), SHM_POOL_OK);
    shm_pool_close(p);
}

/* ---- futex -------------------------------------------------------------------------------------- */

static int child_waits(void *arg)
{
    child_args_t *a = arg;
    shm_pool_t *p = a->pool;
    volatile uint32_t *w = (volatile uint32_t *)((unsigned char *)shm_pool_base(p) + a->offset);
    for (int i = 0; i < 1000 && *w == 0; i++) {
        int rc = shm_pool_wait(p, a->offset, 0, 5000);
        if (rc != SHM_POOL_OK && rc != SHM_POOL_NOT_EQUAL) return 10;
    }
    return *w == 1 ? 0 : 11;
}

static void test_futex_wait_notify(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    uint64_t off;
    void *v;
    CHECK_EQ(shm_pool_calloc(p, 1, 8, &off, &v), SHM_POOL_OK);
    volatile uint32_t *w = v;
    /* Local outcomes. */
    CHECK_EQ(shm_pool_wait(p, off, 1, 10), SHM_POOL_NOT_EQUAL);
    CHECK_EQ(shm_pool_wait(p, off, 0, 10), SHM_POOL_TIMED_OUT);
    CHECK_EQ(shm_pool_wait(p, off + 2, 0, 10), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_wait(p, 8, 0, 10), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_wait(p, shm_pool_size(p), 0, 10), SHM_POOL_ERR_INVALID);
    int woken = -1;
    CHECK_EQ(shm_pool_notify(p, off, 1, &woken), SHM_POOL_OK);
    CHECK_EQ(woken, 0);
    /* Across processes: notify until the waiting child is woken (it waits again
     * while the word is 0), then release it. */
    child_args_t a = { .pool = p, .fd = -1, .offset = off };
    pid_t pid = spawn(child_waits, &a);
    int seen = 0;
    for (int i = 0; i < 2000 && !seen; i++) {
        if (shm_pool_notify(p, off, -1, &woken) == SHM_POOL_OK && woken == 1) seen = 1;
        else usleep(1000);
    }
    __atomic_store_n(w, 1, __ATOMIC_SEQ_CST);
    shm_pool_notify(p, off, -1, NULL);
    int rc = reap(pid);
    shm_pool_close(p);
    CHECK(seen);
    CHECK_EQ(rc, 0);
}

/* Child: churn on the inherited handle until killed. */
static int child_churns_forever(void *arg)
{
    child_args_t *a = arg;
    shm_pool_t *p = a->pool;
    uint64_t off[SLOTS] = { 0 };
    uint32_t seed = 0x2545f491u * (uint32_t)(a->id + 1);
    for (;;) {
        unsigned k = next_rand(&seed) % SLOTS;
        if (off[k]) {
            if (shm_pool_free_at(p, off[k]) != SHM_POOL_OK) return 12;
            off[k] = 0;
        } else {
            size_t len = 1 + next_rand(&seed) % 3000;
            void *v;
            int r = shm_pool_alloc(p, len, &off[k], &v);
            if (r == SHM_POOL_OK) memset(v, 0xee, len < 64 ? len : 64);
            else if (r == SHM_POOL_ERR_NOMEM) off[k] = 0;
            else return 14;
        }
    }
}

/* Kill a churning child at random moments (often inside alloc/free, holding
 * the allocator lock); every time, the parent's next operation recovers and
 * check() passes. */
static void test_kill_at_random_moments(void)
{
    shm_pool_t *p = anon_pool(8 * MIB);
    CHECK(p);
    uint32_t seed = 12345;
    for (int round = 0; round < 40; round++) {
        child_args_t a = { .pool = p, .fd = -1, .id = round };
        pid_t pid = spawn(child_churns_forever, &a);
        CHECK(pid > 0);
        usleep(200 + next_rand(&seed) % 3000);
        kill(pid, SIGKILL);
        int rc = reap(pid);
        CHECKF(rc == 128 + SIGKILL, "round %d: child exited with %d", round, rc);
        uint64_t off;
        int ar = shm_pool_alloc(p, 16, &off, NULL);
        if (ar != SHM_POOL_OK) {
            shm_pool_stats_t s;
            shm_pool_stats(p, &s);
            CHECKF(0, "round %d: alloc after the kill: %d (used %zu free %zu largest %zu allocations %zu gen %" PRIu64 ")", round, ar, s.used, s.free, s.largest_free, s.allocations, s.generation);
        }
        CHECK_EQ(shm_pool_free_at(p, off), SHM_POOL_OK);
        const char *why = NULL;
        int chk = shm_pool_check(p, &why);
        CHECKF(chk == SHM_POOL_OK, "round %d: check: %s", round, why ? why : "?");
    }
    shm_pool_stats_t s;
    CHECK_EQ(shm_pool_stats(p, &s), SHM_POOL_OK);
    /* What the dead held: at most SLOTS + 1 blocks of <= 3000 bytes each per child
     * (a kill inside alloc never leaks the untrimmed remainder). */
    CHECKF(s.used <= (size_t)40 * (SLOTS + 1) * 3008, "used %zu after the kills", s.used);
    printf("# kill_at_random_moments: %" PRIu64 " recoveries in 40 kills, %zu blocks leaked by the dead\n",
           s.generation, s.allocations);
    shm_pool_close(p);
}

/* ---- parked blocks (park lists) --------------------------------------------------------- */

/* What a caching process does to its park list (see shm_pool.h "parked
 * blocks"): the slot first, then the count. `count` false stops between the two
 * stores, as a kill there would. */
static void park_push(shm_pool_t *p, uint64_t list, uint32_t stack, uint64_t off, int count)
{
    uint64_t aoff;
    size_t asz;
    shm_pool_area(p, &aoff, &asz);
    uint32_t *w = (uint32_t *)((unsigned char *)shm_pool_base(p) + list);
    uint32_t s = w[SHM_POOL_PARK_STACKS], k = w[SHM_POOL_PARK_DEPTH], n = w[SHM_POOL_PARK_COUNTS + stack];
    w[SHM_POOL_PARK_COUNTS + s + stack * k + n] = (uint32_t)((off - aoff) >> 3);
    if (count) w[SHM_POOL_PARK_COUNTS + stack] = n + 1;
}

/* Take the newest block of a stack back: the count first; the block is then the caller's. */
static uint64_t park_pop(shm_pool_t *p, uint64_t list, uint32_t stack)
{
    uint64_t aoff;
    size_t asz;
    shm_pool_area(p, &aoff, &asz);
    uint32_t *w = (uint32_t *)((unsigned char *)shm_pool_base(p) + list);
    uint32_t s = w[SHM_POOL_PARK_STACKS], k = w[SHM_POOL_PARK_DEPTH], n = w[SHM_POOL_PARK_COUNTS + stack] - 1;
    w[SHM_POOL_PARK_COUNTS + stack] = n;
    return aoff + ((uint64_t)w[SHM_POOL_PARK_COUNTS + s + stack * k + n] << 3);
}

#define PARK_STACKS 4u
#define PARK_DEPTH 16u
#define PARK_BLOCKS 40

/* Child: open a park list, park PARK_BLOCKS blocks over the stacks, take one
 * back and keep it (in flight), keep 3 live blocks (roots live0..2), and with
 * a->iterations set, write one more slot without its count (torn, root
 * "torn"); root "list" = the list; then die by SIGKILL. */
static int child_parks_and_dies(void *arg)
{
    child_args_t *a = arg;
    shm_pool_t *p = a->pool;
    uint64_t list, off;
    if (shm_pool_park_open(p, PARK_STACKS, PARK_DEPTH, &list) != SHM_POOL_OK) return 2;
    for (int i = 0; i < PARK_BLOCKS; i++) {
        if (shm_pool_alloc(p, 16 + (size_t)(i % 7) * 40, &off, NULL) != SHM_POOL_OK) return 3;
        park_push(p, list, (uint32_t)i % PARK_STACKS, off, 1);
    }
    uint64_t taken = park_pop(p, list, 1); /* in flight: the process's again */
    char key[16];
    for (int i = 0; i < 3; i++) {
        if (shm_pool_alloc(p, 100, &off, NULL) != SHM_POOL_OK) return 4;
        snprintf(key, sizeof key, "live%d", i);
        if (shm_pool_set_root(p, key, off) != SHM_POOL_OK) return 5;
    }
    if (shm_pool_set_root(p, "taken", taken) != SHM_POOL_OK) return 5;
    if (a->iterations) {
        if (shm_pool_alloc(p, 64, &off, NULL) != SHM_POOL_OK) return 6;
        park_push(p, list, 2, off, 0);
        if (shm_pool_set_root(p, "torn", off) != SHM_POOL_OK) return 7;
    }
    if (shm_pool_set_root(p, "list", list) != SHM_POOL_OK) return 8;
    raise(SIGKILL);
    return 9;
}

/* Usable bytes of the blocks rooted under `keys` (NULL-terminated). */
static size_t rooted_usable(shm_pool_t *p, const char *const *keys, size_t *count)
{
    size_t bytes = 0;
    *count = 0;
    for (; *keys; keys++) {
        uint64_t off;
        if (shm_pool_get_root(p, *keys, &off) != SHM_POOL_OK) continue;
        bytes += shm_pool_usable_size(p, off);
        ++*count;
    }
    return bytes;
}

/* A SIGKILLed child's parked blocks and list come back at the sweep, exactly:
 * what stays is its live blocks, the one it took back and (torn) the one it
 * died parking. */
static void check_park_sweep(int torn)
{
    shm_pool_t *p = anon_pool(4 * MIB);
    CHECK(p);
    shm_pool_stats_t s0, s1, s2;
    CHECK_EQ(shm_pool_stats(p, &s0), SHM_POOL_OK);
    child_args_t a = { .pool = p, .fd = -1, .iterations = torn };
    CHECK_EQ(run_child(child_parks_and_dies, &a), 128 + SIGKILL);
    CHECK_EQ(shm_pool_stats(p, &s1), SHM_POOL_OK);
    size_t kept = 3 + 1 + (size_t)torn;
    CHECK_EQU(s1.allocations, s0.allocations + PARK_BLOCKS + 3 + (size_t)torn + 1); /* + the list */
    size_t chunks = 99;
    CHECK_EQ(shm_pool_reclaim(p, &chunks), SHM_POOL_OK);
    CHECK_EQU(chunks, 0);
    CHECK_EQ(shm_pool_stats(p, &s2), SHM_POOL_OK);
    static const char *const keys[] = { "live0", "live1", "live2", "taken", "torn", NULL };
    size_t n = 0, bytes = rooted_usable(p, keys, &n);
    CHECK_EQU(n, kept);
    CHECK_EQU(s2.allocations, s0.allocations + kept);
    CHECK_EQU(s2.used, s0.used + bytes);
    const char *why = NULL;
    CHECKF(shm_pool_check(p, &why) == SHM_POOL_OK, "check: %s", why ? why : "?");
    /* a second sweep finds nothing more */
    CHECK_EQ(shm_pool_reclaim(p, NULL), SHM_POOL_OK);
    CHECK_EQ(shm_pool_stats(p, &s1), SHM_POOL_OK);
    CHECK_EQU(s1.allocations, s2.allocations);
    shm_pool_close(p);
}

static void test_park_killed_child_gives_back(void) { check_park_sweep(0); }

/* A kill between the slot store and the count store loses that one block only. */
static void test_park_kill_between_stores(void) { check_park_sweep(1); }

/* The sweep also runs when another process attaches, and when an allocation finds no room. */
static void test_park_sweep_on_attach_and_exhaustion(void)
{
    for (int how = 0; how < 2; how++) {
        shm_pool_t *p = anon_pool(MIB);
        CHECK(p);
        shm_pool_stats_t s0, s1;
        CHECK_EQ(shm_pool_stats(p, &s0), SHM_POOL_OK);
        child_args_t a = { .pool = p, .fd = -1 };
        CHECK_EQ(run_child(child_parks_and_dies, &a), 128 + SIGKILL);
        if (how == 0) {
            shm_pool_t *q = NULL;
            CHECK_EQ(shm_pool_from_fd(shm_pool_fd(p), &q), SHM_POOL_OK);
            shm_pool_close(q);
        } else {
            /* fill the segment: the last allocations succeed only after the sweep */
            uint64_t off;
            size_t got = 0;
            while (shm_pool_alloc(p, 4096, &off, NULL) == SHM_POOL_OK) got++;
            CHECK(got > 0);
            CHECK_EQ(shm_pool_stats(p, &s1), SHM_POOL_OK);
            CHECK(s1.allocations >= s0.allocations + 4 + got);
            shm_pool_close(p);
            continue;
        }
        CHECK_EQ(shm_pool_stats(p, &s1), SHM_POOL_OK);
        CHECK_EQU(s1.allocations, s0.allocations + 4);
        shm_pool_close(p);
    }
}

/* Find the park record {pid, 0, list} in the header: its offset from the base. */
static size_t find_park_record(shm_pool_t *p, uint32_t pid, uint64_t list)
{
    const unsigned char *b = shm_pool_base(p);
    for (size_t at = 0; at + 16 <= 16384; at += 8) {
        uint32_t rp, rr;
        uint64_t rl;
        memcpy(&rp, b + at, 4);
        memcpy(&rr, b + at + 4, 4);
        memcpy(&rl, b + at + 8, 8);
        if (rp == pid && rr == 0 && rl == list) return at;
    }
    return 0;
}

typedef struct park_damage {
    const char *what;
    int in_record;  /* 1: the record's field at `word` (u32 index; 2 = list low half) */
    uint32_t word;  /* else the list's word (negative from the slots: see below) */
    int slot;       /* >= 0: slot j of stack 0 instead of `word` */
    int64_t delta;  /* added, or: */
    int set;
    uint32_t value;
    size_t leaked;  /* blocks that stay besides the child's kept ones (list included) */
} park_damage_t;

/* Damaged park records and lists are skipped safely: nothing outside the
 * area or inside a block is followed, no block is freed twice, check passes. */
static void test_park_damaged_records(void)
{
    static const park_damage_t cases[] = {
        { "none", 0, 0, -1, 0, 0, 0, 0 },
        { "count beyond depth", 0, SHM_POOL_PARK_COUNTS + 0, -1, 0, 1, 0xffffffffu, 0 },
        { "slot out of range", 0, 0, 0, 0, 1, 0xffffffffu, 1 },
        { "slot inside a block", 0, 0, 0, 1, 0, 0, 1 },
        { "slot zero", 0, 0, 0, 0, 1, 0, 1 },
        { "slot duplicated", 0, 0, 1, 0, 1, 0xdeadu /* replaced by slot 0 */, 1 },
        { "stacks huge", 0, SHM_POOL_PARK_STACKS, -1, 0, 1, 0x10000u, PARK_BLOCKS - 1 },
        { "depth huge", 0, SHM_POOL_PARK_DEPTH, -1, 0, 1, 0xffffffffu, PARK_BLOCKS - 1 },
        { "shape past the block", 0, SHM_POOL_PARK_DEPTH, -1, 1000, 0, 0, PARK_BLOCKS - 1 },
        { "record list not a block", 1, 2, -1, 8, 0, 0, PARK_BLOCKS - 1 + 1 },
        { "record list outside", 1, 2, -1, 0, 1, 0xfffffff8u, PARK_BLOCKS - 1 + 1 },
        { "record reserved", 1, 1, -1, 0, 1, 1, PARK_BLOCKS - 1 + 1 },
        { "record pid negative", 1, 0, -1, 0, 1, 0x80000000u, PARK_BLOCKS - 1 + 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const park_damage_t *d = &cases[i];
        shm_pool_t *p = anon_pool(MIB);
        CHECK(p);
        shm_pool_stats_t s0, s1;
        CHECK_EQ(shm_pool_stats(p, &s0), SHM_POOL_OK);
        child_args_t a = { .pool = p, .fd = -1 };
        pid_t pid = spawn(child_parks_and_dies, &a);
        CHECK_EQ(reap(pid), 128 + SIGKILL);
        uint64_t list;
        CHECK_EQ(shm_pool_get_root(p, "list", &list), SHM_POOL_OK);
        unsigned char *base = shm_pool_base(p);
        uint32_t *field;
        if (d->in_record) {
            size_t rec = find_park_record(p, (uint32_t)pid, list);
            CHECKF(rec != 0, "%s: no park record found", d->what);
            field = (uint32_t *)(base + rec) + d->word;
        } else {
            uint32_t *w = (uint32_t *)(base + list);
            field = d->slot >= 0 ? w + SHM_POOL_PARK_COUNTS + PARK_STACKS + d->slot : w + d->word;
        }
        if (d->value == 0xdeadu) *field = field[-1];
        else *field = d->set ? d->value : *field + (uint32_t)d->delta;
        shm_pool_t *q = NULL;
        CHECKF(shm_pool_from_fd(shm_pool_fd(p), &q) == SHM_POOL_OK, "%s: attach", d->what);
        shm_pool_close(q);
        CHECK_EQ(shm_pool_reclaim(p, NULL), SHM_POOL_OK);
        CHECK_EQ(shm_pool_stats(p, &s1), SHM_POOL_OK);
        CHECKF(s1.allocations == s0.allocations + 4 + d->leaked, "%s: %zu allocations, expected %zu", d->what,
               s1.allocations, s0.allocations + 4 + d->leaked);
        const char *why = NULL;
        CHECKF(shm_pool_check(p, &why) == SHM_POOL_OK, "%s: check: %s", d->what, why ? why : "?");
        shm_pool_close(p);
    }
}

/* park_open / park_close in one process: exact stats, records run out, foreign lists refused. */
static void test_park_open_close(void)
{
    shm_pool_t *p = anon_pool(4 * MIB);
    CHECK(p);
    shm_pool_stats_t s0, s1;
    CHECK_EQ(shm_pool_stats(p, &s0), SHM_POOL_OK);
    uint64_t lists[SHM_POOL_PARKS], off;
    CHECK_EQ(shm_pool_park_open(p, 0, 4, &off), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_park_open(p, 4, SHM_POOL_PARK_DEPTH_MAX + 1, &off), SHM_POOL_ERR_INVALID);
    CHECK_EQ(shm_pool_park_open(p, SHM_POOL_PARK_STACKS_MAX + 1, 4, &off), SHM_POOL_ERR_INVALID);
    for (int i = 0; i < SHM_POOL_PARKS; i++) CHECK_EQ(shm_pool_park_open(p, 2, 8, &lists[i]), SHM_POOL_OK);
    CHECK_EQ(shm_pool_park_open(p, 2, 8, &off), SHM_POOL_ERR_FULL);
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(shm_pool_alloc(p, 48, &off, NULL), SHM_POOL_OK);
        park_push(p, lists[0], (uint32_t)i % 2, off, 1);
    }
    const char *why = NULL;
    CHECKF(shm_pool_check(p, &why) == SHM_POOL_OK, "check: %s", why ? why : "?");
    uint32_t *shape = (uint32_t *)((unsigned char *)shm_pool_base(p) + lists[1]);
    shape[SHM_POOL_PARK_DEPTH] = 100000; /* a list scribbled on: check says so */
    CHECK_EQ(shm_pool_check(p, &why), SHM_POOL_ERR_CORRUPTED);
    CHECK(why && strstr(why, "park list"));
    shape[SHM_POOL_PARK_DEPTH] = 8;
    CHECK_EQ(shm_pool_check(p, &why), SHM_POOL_OK);
    size_t blocks = 0;
    CHECK_EQ(shm_pool_park_close(p, lists[0], &blocks), SHM_POOL_OK);
    CHECK_EQU(blocks, 10);
    CHECK_EQ(shm_pool_park_close(p, lists[0], &blocks), SHM_POOL_ERR_FOREIGN);
    CHECK_EQ(shm_pool_park_close(p, 0, NULL), SHM_POOL_ERR_FOREIGN);
    CHECK_EQ(shm_pool_park_open(p, 2, 8, &lists[0]), SHM_POOL_OK);
    for (int i = 0; i < SHM_POOL_PARKS; i++) CHECK_EQ(shm_pool_park_close(p, lists[i], NULL), SHM_POOL_OK);
    CHECK_EQ(shm_pool_stats(p, &s1), SHM_POOL_OK);
    CHECK_EQU(s1.allocations, s0.allocations);
    CHECK_EQU(s1.used, s0.used);
    CHECKF(shm_pool_check(p, &why) == SHM_POOL_OK, "check: %s", why ? why : "?");
    shm_pool_close(p);
}

/* ---- tlsf_repair on its own ---------------------------------------------------------------- */

static void test_tlsf_repair_direct(void)
{
    enum { AREA = 64 * 1024 };
    size_t ctl = tlsf_control_size(), bm = tlsf_bitmap_size(AREA);
    size_t span = ctl + bm + AREA + 64;
    unsigned char *mem = tu_aligned(64, span);
    tlsf_t *t = tlsf_create(mem, ctl);
    CHECK(t);
    unsigned char *bitmap = mem + ((ctl + 63) & ~(size_t)63);
    unsigned char *area = bitmap + ((bm + 63) & ~(size_t)63);
    CHECK(area + AREA <= mem + span);
    CHECK_EQ(tlsf_add_region(t, area, AREA, bitmap), 0);
    CHECK_EQ(tlsf_set_cache(t, 8), TLSF_OK); /* cached blocks become free on repair */
    void *b[16];
    for (int i = 0; i < 16; i++) CHECK((b[i] = tlsf_malloc(t, (size_t)(32 + 40 * i))) != NULL);
    for (int i = 0; i < 16; i += 3) CHECK_EQ(tlsf_free(t, b[i]), TLSF_OK);
    tlsf_stats_t before, after;
    tlsf_get_stats(t, &before);
    /* Scribble on derived state: a freed block's links, a start bit. */
    memset(b[3], 0xcd, 16);
    memset(bitmap, 0xff, 8);
    CHECK(tlsf_check(t, NULL) != TLSF_OK);
    CHECK_EQ(tlsf_repair(t, span), TLSF_OK);
    const char *why = NULL;
    CHECKF(tlsf_check(t, &why) == TLSF_OK, "check: %s", why ? why : "?");
    tlsf_get_stats(t, &after);
    CHECK_EQU(after.used, before.used);
    CHECK_EQU(after.allocations, before.allocations);
    CHECK(after.free >= before.free); /* merging cached blocks with free neighbours saves headers */
    CHECK_EQU(after.cached, 0);
    CHECK_EQU(after.peak_used, before.peak_used);
    for (int i = 0; i < 16; i++)
        if (i % 3) CHECK_EQ(tlsf_free(t, b[i]), TLSF_OK);
    CHECK_EQ(tlsf_flush_cache(t), TLSF_OK);
    CHECK_EQ(tlsf_check(t, NULL), TLSF_OK);
    tlsf_get_stats(t, &after);
    CHECK_EQU(after.used, 0);
    CHECK_EQU(after.largest_free, tlsf_region_max_alloc(AREA));
    /* A span that does not hold the region: refused, nothing written. */
    CHECK_EQ(tlsf_repair(t, span / 2), TLSF_ERR_CORRUPTED);
    CHECK_EQ(tlsf_repair(t, span), TLSF_OK);
    CHECK_EQ(tlsf_check(t, NULL), TLSF_OK);
    /* A broken chain: corrupted, and the pool refuses to allocate. */
    void *x = tlsf_malloc(t, 100);
    CHECK(x);
    uint64_t bad = (uint64_t)AREA * 4;
    memcpy((unsigned char *)x - 8, &bad, 8);
    CHECK_EQ(tlsf_repair(t, span), TLSF_ERR_CORRUPTED);
    CHECK(tlsf_is_corrupted(t));
    CHECK(tlsf_malloc(t, 8) == NULL);
}

/* shm_pool_trim gives the pages of free blocks back to the segment's backing store
 * (the memfd's allocated blocks shrink), keeps the bytes of live blocks, gives
 * nothing the second time, and the pool serves from the trimmed memory as before
 * (its pages read as zero). */
static void test_trim(void)
{
    shm_pool_t *p = anon_pool(16 * MIB);
    CHECK(p);
    uint64_t off[8];
    void *ptr[8];
    for (int i = 0; i < 8; i++) {
        CHECK_EQ(shm_pool_alloc(p, MIB, &off[i], &ptr[i]), SHM_POOL_OK);
        memset(ptr[i], 0x50 + i, MIB);
    }
    struct stat before, after;
    CHECK_EQ(fstat(shm_pool_fd(p), &before), 0);
    for (int i = 1; i < 7; i++) CHECK_EQ(shm_pool_free_at(p, off[i]), SHM_POOL_OK); /* one free block of 6 MiB */
    size_t released = 0;
    CHECK_EQ(shm_pool_trim(p, &released), SHM_POOL_OK);
    CHECKF(released >= 6 * MIB - 8192, "released %zu", released);
    CHECK_EQ(fstat(shm_pool_fd(p), &after), 0);
    CHECKF((uint64_t)after.st_blocks * 512 + 6 * MIB - 8192 <= (uint64_t)before.st_blocks * 512,
           "allocated %lld -> %lld bytes", (long long)before.st_blocks * 512, (long long)after.st_blocks * 512);
    for (size_t k = 0; k < MIB; k += 4093) {
        CHECK_EQ(((unsigned char *)ptr[0])[k], 0x50);
        CHECK_EQ(((unsigned char *)ptr[7])[k], 0x57);
    }
    CHECK_EQ(shm_pool_trim(p, &released), SHM_POOL_OK);
    CHECK_EQU(released, 0);
    /* check() reads the whole start bitmap, which on shared memory allocates its
     * pages: a trim gives back those only free blocks map to. */
    const char *why = NULL;
    CHECKF(shm_pool_check(p, &why) == SHM_POOL_OK, "check: %s", why ? why : "?");
    CHECK_EQ(shm_pool_trim(p, &released), SHM_POOL_OK);
    CHECK(released <= tlsf_bitmap_size(16 * MIB));
    uint64_t o;
    void *q;
    CHECK_EQ(shm_pool_alloc(p, 4 * MIB, &o, &q), SHM_POOL_OK);
    CHECK_EQ(((unsigned char *)q)[2 * MIB], 0); /* a page trimmed: zero, not 0x52..0x55 */
    memset(q, 1, 4 * MIB);
    CHECK_EQ(shm_pool_free_at(p, o), SHM_POOL_OK);
    CHECK_EQ(shm_pool_check(p, NULL), SHM_POOL_OK);
    CHECK_EQ(shm_pool_trim(NULL, &released), SHM_POOL_ERR_INVALID);
    shm_pool_close(p);
}

int main(void)
{
    (void)tu_alloc; /* the harness's other allocation helper is unused here */
    TU_RUN(test_named_create_and_open);
    TU_RUN(test_memfd_create_and_from_fd);
    TU_RUN(test_inherited_handle);
    TU_RUN(test_exclusive_create_and_mode);
    TU_RUN(test_name_validation);
    TU_RUN(test_header_damage);
    TU_RUN(test_attach_bad_files);
    TU_RUN(test_attach_broken_chain);
    TU_RUN(test_alloc_api);
    TU_RUN(test_alloc_here_free_there);
    TU_RUN(test_concurrent_children);
    TU_RUN(test_kill_holding_allocator_lock);
    TU_RUN(test_kill_mid_free_list_surgery);
    TU_RUN(test_kill_unrepairable);
    TU_RUN(test_kill_at_random_moments);
    TU_RUN(test_user_lock_owner_died);
    TU_RUN(test_user_lock_excludes);
    TU_RUN(test_roots);
    TU_RUN(test_futex_wait_notify);
    TU_RUN(test_tlsf_repair_direct);
    TU_RUN(test_park_open_close);
    TU_RUN(test_park_killed_child_gives_back);
    TU_RUN(test_park_kill_between_stores);
    TU_RUN(test_park_sweep_on_attach_and_exhaustion);
    TU_RUN(test_park_damaged_records);
    TU_RUN(test_trim);
    return tu_finish("shm_pool");
}
