/*
 * test_tlsf_random.c: seeded random stress test of native/alloc/tlsf.c.
 *
 * usage: test_tlsf_random [seed] [ops]     (defaults: seed 1, 1000000 ops)
 *
 * A pool of two regions (8 MiB + 4 MiB) takes a random mix of malloc, calloc,
 * memalign, realloc and free. Every live block holds a pattern derived from its id,
 * verified before it is freed or reallocated; a shadow list of the live blocks is
 * compared with tlsf_walk and tlsf_get_stats, and tlsf_check runs every 1,000 ops.
 * The (region, offset) of every result is hashed (FNV-1a); the whole run is done
 * twice with fresh pools and the hashes must match.
 */
#include "tlsf.h"
#include "test_util.h"

#include <time.h>

#define REGION0 ((size_t)8 << 20)
#define REGION1 ((size_t)4 << 20)
#define MAXLIVE 65536
#define CHECK_EVERY 1000
#define CROSS_EVERY 5000

static uint64_t g_seed = 1;
static long g_ops = 1000000;

/* ---- PRNG (splitmix64) ----------------------------------------------------- */
typedef struct rng {
    uint64_t s;
} rng_t;
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t next(rng_t *r) { return mix64(r->s += 0x9e3779b97f4a7c15ull); }
static size_t below(rng_t *r, size_t n) { return (size_t)(next(r) % n); }

/* 0..65536, log-uniform, with extra tiny sizes and a rare one up to 4 MiB */
static size_t rand_size(rng_t *r) {
    uint64_t x = next(r);
    if (x % 8 == 0) return (size_t)((x >> 8) % 33);
    if (x % 509 == 1) return (size_t)((x >> 8) % ((size_t)4 << 20)); /* rare big one */
    unsigned e = (unsigned)((x >> 8) % 17);
    return (size_t)((x >> 16) & (((uint64_t)1 << e) - 1)) + (e == 16 && (x >> 60) == 0);
}

/* ---- pattern --------------------------------------------------------------- */
static void pat_fill(void *p, size_t n, uint64_t w) {
    unsigned char *c = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) memcpy(c + i, &w, 8);
    if (i < n) memcpy(c + i, &w, n - i);
}
/* returns the index of the first bad byte, or n */
static size_t pat_check(const void *p, size_t n, uint64_t w) {
    const unsigned char *c = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, c + i, 8);
        if (v != w) break;
    }
    for (; i < n; i++)
        if (c[i] != (unsigned char)(w >> (8 * (i % 8)))) return i;
    return n;
}
static size_t zero_check(const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i]) return i;
    return n;
}

/* ---- shadow model ---------------------------------------------------------- */
typedef struct live {
    void *p;
    size_t req, usable, align;
    uint64_t pat;
    int region;
    size_t off;
} live_t;

typedef struct wblk {
    int region;
    size_t off, size;
} wblk_t;

typedef struct run {
    tlsf_t *t;
    void *base[2];
    live_t *live;
    size_t nlive;
    size_t used; /* sum of usable sizes */
    uint64_t hash;
    uint64_t next_id;
    wblk_t *wb, *sorted;
    size_t nwb, wcap;
    size_t wfree, nblocks, walk_regions;
    int overflow;
    /* counters */
    long n_malloc, n_calloc, n_memalign, n_realloc, n_free, n_fail, n_moved;
} run_t;

static void hash_bytes(run_t *R, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        R->hash ^= c[i];
        R->hash *= 0x100000001b3ull;
    }
}
/* hash a result: (region, offset) or a failure marker */
static int hash_result(run_t *R, const void *p, int *region, size_t *off) {
    int32_t r = -1;
    uint64_t o = UINT64_MAX;
    if (p) {
        int rr;
        size_t oo;
        HCHECKF(tlsf_locate(R->t, p, &rr, &oo) == TLSF_OK, "locate(%p) failed", p);
        r = rr;
        o = oo;
        *region = rr;
        *off = oo;
    }
    hash_bytes(R, &r, sizeof r);
    hash_bytes(R, &o, sizeof o);
    return 1;
}

static int walk_cb(const tlsf_block_info_t *b, void *u) {
    run_t *R = u;
    R->nblocks++;
    if (b->used) {
        if (R->nwb == R->wcap) {
            R->overflow = 1;
            return 1;
        }
        R->wb[R->nwb].region = b->region;
        R->wb[R->nwb].off = b->offset;
        R->wb[R->nwb].size = b->size;
        R->nwb++;
    } else {
        R->wfree += b->size;
    }
    return 0;
}
static int wblk_cmp(const void *a, const void *b) {
    const wblk_t *x = a, *y = b;
    if (x->region != y->region) return x->region < y->region ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

static int check_pool(run_t *R, long op) {
    const char *why = NULL;
    int rc = tlsf_check(R->t, &why);
    HCHECKF(rc == TLSF_OK, "op %ld: tlsf_check = %d (%s)", op, rc, why ? why : "?");
    HCHECKF(!tlsf_is_corrupted(R->t), "op %ld: corrupted flag set", op);
    return 1;
}

/* Shadow vs walk vs stats. */
static int cross_check(run_t *R, long op) {
    R->nwb = 0;
    R->wfree = 0;
    R->nblocks = 0;
    R->overflow = 0;
    int rc = tlsf_walk(R->t, walk_cb, R);
    HCHECKF(rc == TLSF_OK && !R->overflow, "op %ld: walk = %d", op, rc);
    HCHECKF(R->nwb == R->nlive, "op %ld: walk has %zu used blocks, shadow %zu", op, R->nwb,
            R->nlive);
    for (size_t i = 0; i < R->nlive; i++) {
        R->sorted[i].region = R->live[i].region;
        R->sorted[i].off = R->live[i].off;
        R->sorted[i].size = R->live[i].usable;
    }
    qsort(R->sorted, R->nlive, sizeof *R->sorted, wblk_cmp);
    for (size_t i = 0; i < R->nlive; i++) {
        const wblk_t *a = &R->wb[i], *b = &R->sorted[i];
        HCHECKF(a->region == b->region && a->off == b->off && a->size == b->size,
                "op %ld: used block %zu: walk (%d, %zu, %zu) vs shadow (%d, %zu, %zu)", op, i,
                a->region, a->off, a->size, b->region, b->off, b->size);
        if (i) /* no overlap among live blocks */
            HCHECK(b->region != R->sorted[i - 1].region ||
                   R->sorted[i - 1].off + R->sorted[i - 1].size + 8 <= b->off);
    }
    tlsf_stats_t s;
    tlsf_get_stats(R->t, &s);
    HCHECKF(s.allocations == R->nlive, "op %ld: stats.allocations %zu, shadow %zu", op,
            s.allocations, R->nlive);
    HCHECKF(s.used == R->used, "op %ld: stats.used %zu, shadow %zu", op, s.used, R->used);
    HCHECKF(s.free == R->wfree, "op %ld: stats.free %zu, walk %zu", op, s.free, R->wfree);
    HCHECKF(s.regions == 2 && s.area == REGION0 + REGION1, "op %ld: regions/area", op);
    HCHECKF(s.used + s.free + 8 * R->nblocks + 16 * 2 == s.area,
            "op %ld: used %zu + free %zu + 8*%zu blocks + 32 != area %zu", op, s.used, s.free,
            R->nblocks, s.area);
    HCHECK(s.peak_used >= s.used && s.largest_free <= s.free);
    return 1;
}

static int record(run_t *R, void *p, size_t req, size_t align, int zeroed, long op) {
    HCHECKF(R->nlive < MAXLIVE, "too many live blocks");
    size_t u = tlsf_usable_size(R->t, p);
    HCHECKF(u >= req && u % 8 == 0 && u >= TLSF_MIN_BLOCK, "op %ld: usable %zu for %zu", op, u,
            req);
    HCHECKF(((uintptr_t)p & ((align > 8 ? align : 8) - 1)) == 0, "op %ld: %p not %zu-aligned", op,
            p, align);
    if (zeroed) {
        size_t bad = zero_check(p, req);
        HCHECKF(bad == req, "op %ld: calloc byte %zu of %zu not zero", op, bad, req);
    }
    live_t *l = &R->live[R->nlive++];
    l->p = p;
    l->req = req;
    l->usable = u;
    l->align = align;
    l->pat = mix64(++R->next_id) | 1;
    HCHECK(hash_result(R, p, &l->region, &l->off));
    pat_fill(p, req, l->pat);
    R->used += u;
    return 1;
}

static int verify_live(const live_t *l, size_t n, long op) {
    size_t bad = pat_check(l->p, n, l->pat);
    HCHECKF(bad == n, "op %ld: block %p (req %zu) byte %zu damaged", op, l->p, l->req, bad);
    return 1;
}

static int setup(run_t *R) {
    memset(R, 0, sizeof *R);
    size_t cs = tlsf_control_size();
    R->t = tlsf_create(tu_aligned(16, cs), cs);
    HCHECK(R->t);
    R->base[0] = tu_aligned(4096, REGION0);
    R->base[1] = tu_aligned(4096, REGION1);
    HCHECK(tlsf_add_region(R->t, R->base[0], REGION0,
                           tu_aligned(8, tlsf_bitmap_size(REGION0))) == 0);
    HCHECK(tlsf_add_region(R->t, R->base[1], REGION1,
                           tu_aligned(8, tlsf_bitmap_size(REGION1))) == 1);
    R->live = tu_alloc(MAXLIVE * sizeof *R->live);
    R->wcap = MAXLIVE;
    R->wb = tu_alloc(MAXLIVE * sizeof *R->wb);
    R->sorted = tu_alloc(MAXLIVE * sizeof *R->sorted);
    R->hash = 0xcbf29ce484222325ull;
    return 1;
}

static int do_free(run_t *R, size_t i, long op) {
    live_t l = R->live[i];
    HCHECKF(tlsf_usable_size(R->t, l.p) == l.usable, "op %ld: usable size changed", op);
    HCHECK(verify_live(&l, l.req, op));
    int rc = tlsf_free(R->t, l.p);
    HCHECKF(rc == TLSF_OK, "op %ld: free(%p) = %d", op, l.p, rc);
    R->live[i] = R->live[--R->nlive];
    R->used -= l.usable;
    R->n_free++;
    /* now and then: the freed pointer and an interior pointer are rejected */
    if (op % 97 == 0) {
        size_t n0 = R->nlive;
        tlsf_stats_t s0, s1;
        tlsf_get_stats(R->t, &s0);
        rc = tlsf_free(R->t, l.p);
        HCHECKF(rc == TLSF_ERR_DOUBLE_FREE || rc == TLSF_ERR_FOREIGN, "op %ld: double free = %d",
                op, rc);
        if (R->nlive) {
            rc = tlsf_free(R->t, (char *)R->live[op % R->nlive].p + 8);
            HCHECKF(rc == TLSF_ERR_FOREIGN, "op %ld: interior free = %d", op, rc);
        }
        tlsf_get_stats(R->t, &s1);
        HCHECK(s1.allocations == s0.allocations && s1.used == s0.used && s1.free == s0.free &&
               n0 == R->nlive);
    }
    return 1;
}

static int do_realloc(run_t *R, size_t i, size_t size, long op) {
    live_t *l = &R->live[i];
    void *o = NULL;
    int rc = tlsf_realloc(R->t, l->p, size, &o);
    R->n_realloc++;
    if (rc == TLSF_ERR_NOMEM) {
        R->n_fail++;
        HCHECK(hash_result(R, NULL, NULL, NULL));
        HCHECKF(tlsf_usable_size(R->t, l->p) == l->usable, "op %ld: failed realloc changed size",
                op);
        return 1;
    }
    HCHECKF(rc == TLSF_OK && o, "op %ld: realloc(%p, %zu) = %d", op, l->p, size, rc);
    size_t keep = l->req < size ? l->req : size;
    size_t bad = pat_check(o, keep, l->pat);
    HCHECKF(bad == keep, "op %ld: realloc %zu -> %zu (%s) lost byte %zu", op, l->req, size,
            o == l->p ? "in place" : "moved", bad);
    if (o != l->p) R->n_moved++;
    size_t u = tlsf_usable_size(R->t, o);
    HCHECKF(u >= size && u % 8 == 0, "op %ld: realloc usable %zu < %zu", op, u, size);
    HCHECKF(((uintptr_t)o & ((l->align > 8 ? l->align : 8) - 1)) == 0,
            "op %ld: realloc lost alignment %zu: %p", op, l->align, o);
    R->used = R->used - l->usable + u;
    l->p = o;
    l->usable = u;
    HCHECK(hash_result(R, o, &l->region, &l->off));
    if (size > l->req) pat_fill(o, size, l->pat);
    l->req = size;
    return 1;
}

static unsigned g_cache_depth; /* front cache depth for the next run (0: off) */

static int one_run(uint64_t seed, long nops, uint64_t *hash, run_t *R, int verbose) {
    HCHECK(setup(R));
    HCHECK(tlsf_set_cache(R->t, g_cache_depth) == TLSF_OK);
    rng_t rng = {mix64(seed) ^ seed};
    const size_t area = REGION0 + REGION1;
    for (long op = 1; op <= nops; op++) {
        uint64_t x = next(&rng);
        unsigned r = (unsigned)(x % 100);
        unsigned free_pct = R->used > area / 100 * 92 ? 55 : 40; /* hover near full */
        if (R->nlive == MAXLIVE) r = 0;
        if (R->nlive && r < free_pct) {
            HCHECK(do_free(R, below(&rng, R->nlive), op));
        } else if (R->nlive && r < free_pct + 12) {
            size_t i = below(&rng, R->nlive);
            size_t size;
            switch (below(&rng, 4)) {
            case 0: size = R->live[i].req / 2; break;              /* shrink */
            case 1: size = R->live[i].req + below(&rng, 64); break; /* grow a bit */
            case 2: size = R->live[i].req * 2 + 1; break;           /* grow */
            default: size = rand_size(&rng); break;
            }
            HCHECK(verify_live(&R->live[i], R->live[i].req, op));
            HCHECK(do_realloc(R, i, size, op));
        } else {
            unsigned kind = (unsigned)below(&rng, 20);
            size_t size = rand_size(&rng), align = 8;
            void *p;
            int zeroed = 0;
            if (kind < 3) {
                align = (size_t)8 << below(&rng, 10); /* 8 .. 4096 */
                p = tlsf_memalign(R->t, align, size);
                R->n_memalign++;
            } else if (kind < 5) {
                size_t count = 1 + below(&rng, 16);
                size_t each = size / count;
                size = count * each;
                p = tlsf_calloc(R->t, count, each);
                zeroed = 1;
                R->n_calloc++;
            } else if (kind < 6) {
                void *o = NULL;
                int rc = tlsf_realloc(R->t, NULL, size, &o);
                HCHECK(rc == TLSF_OK || rc == TLSF_ERR_NOMEM);
                p = o;
                R->n_realloc++;
            } else {
                p = tlsf_malloc(R->t, size);
                R->n_malloc++;
            }
            if (p) {
                HCHECK(record(R, p, size, align, zeroed, op));
            } else {
                R->n_fail++;
                HCHECK(hash_result(R, NULL, NULL, NULL));
                HCHECKF(!tlsf_is_corrupted(R->t), "op %ld: corrupted", op);
            }
        }
        if (op % CHECK_EVERY == 0) HCHECK(check_pool(R, op));
        if (op % CROSS_EVERY == 0) HCHECK(cross_check(R, op));
    }
    HCHECK(check_pool(R, nops));
    HCHECK(cross_check(R, nops));
    if (verbose)
        printf("# seed %" PRIu64 ": %ld ops: %ld malloc, %ld calloc, %ld memalign, %ld realloc "
               "(%ld moved), %ld free, %ld failed; %zu live, %zu bytes used at the end\n",
               seed, nops, R->n_malloc, R->n_calloc, R->n_memalign, R->n_realloc, R->n_moved,
               R->n_free, R->n_fail, R->nlive, R->used);
    /* drain: everything back to two pristine regions */
    while (R->nlive) HCHECK(do_free(R, R->nlive - 1, nops + 1));
    HCHECK(tlsf_flush_cache(R->t) == TLSF_OK);
    HCHECK(check_pool(R, nops + 1));
    HCHECK(cross_check(R, nops + 1));
    tlsf_stats_t s;
    tlsf_get_stats(R->t, &s);
    HCHECKF(s.free == area - 48 && s.largest_free == REGION0 - 24 && s.used == 0,
            "not pristine after draining: free %zu largest %zu", s.free, s.largest_free);
    HCHECK(R->nblocks == 2);
    HCHECK(tlsf_remove_region(R->t, 1) == TLSF_OK);
    HCHECK(tlsf_remove_region(R->t, 0) == TLSF_OK);
    *hash = R->hash;
    return 1;
}

static run_t g_run;
static uint64_t g_hash[2];
static int g_ok[2];
static double g_secs[2];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_k(int k) {
    double t0 = now();
    int ok = one_run(g_seed, g_ops, &g_hash[k], &g_run, 1);
    g_secs[k] = now() - t0;
    CHECK(ok);
    g_ok[k] = 1;
    printf("# run %d: hash %016" PRIx64 ", %.2f s\n", k + 1, g_hash[k], g_secs[k]);
}
static void random_first(void) { run_k(0); }
static void random_second(void) { run_k(1); }

static void deterministic_offsets(void) {
    CHECK(g_ok[0] && g_ok[1]);
    CHECKF(g_hash[0] == g_hash[1], "hash %016" PRIx64 " != %016" PRIx64, g_hash[0], g_hash[1]);
}

static void other_seed_differs(void) {
    uint64_t a = 0, b = 0;
    CHECK(one_run(g_seed, 20000, &a, &g_run, 0));
    tu_release();
    CHECK(one_run(g_seed + 1, 20000, &b, &g_run, 0));
    CHECKF(a != b, "seeds %" PRIu64 " and %" PRIu64 " gave the same hash", g_seed, g_seed + 1);
}

static void with_cache(void) {
    uint64_t a = 0, b = 0;
    long n = g_ops < 200000 ? g_ops : 200000;
    g_cache_depth = 32;
    int ok = one_run(g_seed, n, &a, &g_run, 1);
    tu_release();
    ok = ok && one_run(g_seed, n, &b, &g_run, 0);
    g_cache_depth = 0;
    CHECK(ok);
    CHECKF(a == b, "cache on: hash %016" PRIx64 " != %016" PRIx64, a, b);
}

int main(int argc, char **argv) {
    if (argc > 1) g_seed = strtoull(argv[1], NULL, 0);
    if (argc > 2) g_ops = strtol(argv[2], NULL, 0);
    if (g_ops < 1) g_ops = 1;
    tu_nofork = 1; /* the cases share the two runs' hashes */
    char n1[96], n2[96];
    snprintf(n1, sizeof n1, "random %ld ops seed %" PRIu64, g_ops, g_seed);
    snprintf(n2, sizeof n2, "random %ld ops seed %" PRIu64 " again, fresh pool", g_ops, g_seed);
    if (g_ops == 1000000) {
        snprintf(n1, sizeof n1, "random 1M ops seed %" PRIu64, g_seed);
        snprintf(n2, sizeof n2, "random 1M ops seed %" PRIu64 " again, fresh pool", g_seed);
    }
    tu_run(n1, random_first);
    tu_run(n2, random_second);
    tu_run("deterministic offsets", deterministic_offsets);
    tu_run("another seed gives other offsets", other_seed_differs);
    tu_run("random 200k ops with the front cache on, twice, same hash", with_cache);
    printf("# hash %016" PRIx64 "\n", g_hash[0]);
    return tu_finish("tlsf_random");
}
