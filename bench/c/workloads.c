/*
 * workloads.c — C allocator workloads W1..W4, one binary per allocator
 * (compile with -DALLOC_GLIBC / -DALLOC_JEMALLOC / -DALLOC_MIMALLOC / -DALLOC_TLSF;
 * see adapters.h). bench/run.js builds and drives it; it can also be run by hand:
 *
 *   bin/<alloc> --workload W1|W2|W3|W4|R1 [--ops N] [--live N] [--seed S] [--seeds N]
 *               [--shapes N] [--warmup N]
 *
 * Output: one JSON object per line on stdout:
 *   {"alloc":"tlsf","workload":"W1","unit":"ns/pair","value":41.2,"ops":1000000}
 *   W4 prints one line per (K, seed), with "seed" set; W4 on an allocator without a
 *   fixed region prints one line with "skip".
 *
 * Workloads (every random choice comes from a precomputed trace, fixed seed):
 *   W1  `live` slots filled (untimed), then `ops` timed pairs: free a random slot,
 *       malloc a uniform 16..512 B block into it, write one byte. ns per pair.
 *   W2  as W1 with sizes log-uniform 16 B..64 KiB.
 *   W3  W2's trace, each free and each malloc timed on its own. Clock: on x86-64 the
 *       TSC read as lfence;rdtsc;lfence (so the call cannot overlap the reads),
 *       calibrated against CLOCK_MONOTONIC over 50 ms at start (needs an invariant TSC,
 *       which every x86-64 CPU of the last decade has); elsewhere clock_gettime
 *       (CLOCK_MONOTONIC). From every sample the timer overhead is subtracted: the
 *       median of 100,001 back-to-back timer-read pairs (clamped at 0).
 *       p50, p99.9 and max of each, in ns. (clock_gettime alone would do, but on a
 *       KVM guest it costs ~30 ns and its readings move in ~10 ns steps, coarser than
 *       a fast allocator's malloc.)
 *   W4  fragmentation in a 64 MiB region: cycles of K x (free a random live block,
 *       malloc a W2-sized block) + one more malloc, from an empty pool until the first
 *       failed malloc; prints the requested live bytes at that moment as % of the
 *       region, for K = 1 and K = 100 and seeds 1..N. Region allocators only.
 *   R1  request-scoped allocation, the shape of an nginx request: `ops` requests, each
 *       makes 200 allocations uniform 16..256 B plus two of 8 KiB (at random
 *       positions among them), writes one byte into each, and then ends: adapters
 *       with ALLOC_HAS_SCOPE (pools) destroy or reset their pool (bench_req_end),
 *       the others free every block of the request, in allocation order. The
 *       request shapes are `shapes` (default 1024) precomputed size lists used in
 *       turn, so the trace stays in L2 (reading 100,000 distinct lists would cost a
 *       few % of a fast request). `warmup` (default 1000) requests run first,
 *       untimed, through the same function (callgrind subtracts a 0-request run,
 *       which has the same warm-up). ns per request.
 *
 * The timed loops are the non-inlined functions bench_timed_*, so that
 * `valgrind --tool=callgrind --toggle-collect='bench_timed_*'` counts only them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters.h"

#define W13_REGION ((size_t)256 << 20) /* region for W1..W3 (region allocators) */
#define W4_REGION ((size_t)64 << 20)

/* ---- PRNG: splitmix64 ----------------------------------------------------- */

typedef struct { uint64_t s; } rng_t;

static uint64_t rng_next(rng_t *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* uniform in [0, n), n < 2^32 (multiply-shift; bias is negligible for our n) */
static uint32_t rng_below(rng_t *r, uint32_t n) {
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}
static double rng_unit(rng_t *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }

static uint32_t size_uniform(rng_t *r) { return 16 + rng_below(r, 512 - 16 + 1); }
static uint32_t size_logu(rng_t *r) {
    /* 16 * 4096^u, u in [0,1): log-uniform over 16 B .. 64 KiB */
    double v = exp2(4.0 + 12.0 * rng_unit(r));
    uint32_t n = (uint32_t)v;
    if (n < 16) n = 16;
    if (n > 65536) n = 65536;
    return n;
}

/* ---- helpers --------------------------------------------------------------- */

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define TICK_SOURCE "rdtsc"
static inline uint64_t tick(void) {
    _mm_lfence();
    uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
}
#else
#define TICK_SOURCE "clock_gettime"
static inline uint64_t tick(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#endif

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *xcalloc(size_t n, size_t sz) {
    void *p = calloc(n, sz);
    if (!p) { fprintf(stderr, "out of memory (bench bookkeeping)\n"); exit(2); }
    return p;
}

static void oom(const char *where, size_t i) {
    fprintf(stderr, "%s: allocation failed at op %zu\n", where, i);
    exit(3);
}

static void emit(const char *workload, const char *unit, double value, long long ops) {
    printf("{\"alloc\":\"%s\",\"workload\":\"%s\",\"unit\":\"%s\",\"value\":%.4f,\"ops\":%lld}\n",
           ALLOC_NAME, workload, unit, value, ops);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* ---- traces ---------------------------------------------------------------- */

typedef struct {
    size_t live, ops;
    uint32_t *init_size; /* [live]  sizes of the untimed fill */
    uint32_t *slot;      /* [ops]   slot to free and refill */
    uint32_t *size;      /* [ops]   size of the new block */
} trace_t;

static trace_t make_trace(size_t live, size_t ops, uint64_t seed, int logu) {
    trace_t t = { live, ops, NULL, NULL, NULL };
    rng_t r = { seed };
    t.init_size = xcalloc(live ? live : 1, sizeof(uint32_t));
    t.slot = xcalloc(ops ? ops : 1, sizeof(uint32_t));
    t.size = xcalloc(ops ? ops : 1, sizeof(uint32_t));
    for (size_t i = 0; i < live; i++) t.init_size[i] = logu ? size_logu(&r) : size_uniform(&r);
    for (size_t i = 0; i < ops; i++) {
        t.slot[i] = rng_below(&r, (uint32_t)live);
        t.size[i] = logu ? size_logu(&r) : size_uniform(&r);
    }
    return t;
}

static void **fill_slots(const trace_t *t, void **slots) {
    for (size_t i = 0; i < t->live; i++) {
        char *p = bench_alloc(t->init_size[i]);
        if (!p) oom("fill", i);
        *(volatile char *)p = (char)i;
        slots[i] = p;
    }
    return slots;
}

/* ---- timed loops (external, never inlined or cloned: callgrind toggles on them) -- */

__attribute__((noinline, noipa)) void bench_timed_pairs(void **slots, const uint32_t *slot,
                                                        const uint32_t *size, size_t ops) {
    for (size_t i = 0; i < ops; i++) {
        uint32_t s = slot[i];
        bench_free(slots[s]);
        char *p = bench_alloc(size[i]);
        if (__builtin_expect(p == NULL, 0)) oom("pairs", i);
        *(volatile char *)p = (char)i;
        slots[s] = p;
    }
}

#define R1_SMALL 200
#define R1_LARGE 2
#define R1_PER (R1_SMALL + R1_LARGE)
#define R1_LARGE_SIZE 8192
#define R1_SMALL_MIN 16
#define R1_SMALL_MAX 256

/* `nreq` requests, cycling through `shapes` size lists of R1_PER entries. */
__attribute__((noinline, noipa)) void bench_timed_requests(const uint16_t *sizes, size_t shapes,
                                                           size_t nreq, void **ptrs) {
    size_t shape = 0;
    for (size_t r = 0; r < nreq; r++) {
        const uint16_t *sz = sizes + shape * R1_PER;
        if (++shape == shapes) shape = 0;
#if ALLOC_HAS_SCOPE
        if (__builtin_expect(bench_req_begin() != 0, 0)) oom("request begin", r);
        (void)ptrs;
#endif
        for (size_t i = 0; i < R1_PER; i++) {
            char *p = bench_alloc(sz[i]);
            if (__builtin_expect(p == NULL, 0)) oom("request", r);
            *(volatile char *)p = (char)i;
#if !ALLOC_HAS_SCOPE
            ptrs[i] = p;
#endif
        }
#if ALLOC_HAS_SCOPE
        bench_req_end();
#else
        for (size_t i = 0; i < R1_PER; i++) bench_free(ptrs[i]);
#endif
    }
}

static inline uint32_t clamp32(uint64_t v) { return v > 0xffffffffu ? 0xffffffffu : (uint32_t)v; }

/* Latencies are stored in ticks (see tick()). */
__attribute__((noinline, noipa)) void bench_timed_latency(void **slots, const uint32_t *slot,
                                                          const uint32_t *size, size_t ops,
                                                          uint32_t *lat_malloc,
                                                          uint32_t *lat_free) {
    for (size_t i = 0; i < ops; i++) {
        uint32_t s = slot[i];
        uint64_t a = tick();
        bench_free(slots[s]);
        uint64_t b = tick();
        char *p = bench_alloc(size[i]);
        uint64_t c = tick();
        if (__builtin_expect(p == NULL, 0)) oom("latency", i);
        *(volatile char *)p = (char)i;
        slots[s] = p;
        lat_free[i] = clamp32(b - a);
        lat_malloc[i] = clamp32(c - b);
    }
}

/* ---- workloads ------------------------------------------------------------- */

/* Anonymous bytes this process has resident (/proc/self/statm: resident minus
 * shared, i.e. without the file-backed pages such as code that a first call
 * faults in), 0 where unknown. */
static uint64_t resident_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0, shared = 0;
    if (!f) return 0;
    int n = fscanf(f, "%llu %llu %llu", &size, &resident, &shared);
    fclose(f);
    return n == 3 && resident >= shared ? (uint64_t)(resident - shared) * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* Requested bytes the slots hold after the timed pairs (the trace replayed). */
static uint64_t live_bytes_after(const trace_t *t) {
    uint32_t *sz = xcalloc(t->live, sizeof(uint32_t));
    memcpy(sz, t->init_size, t->live * sizeof(uint32_t));
    for (size_t i = 0; i < t->ops; i++) sz[t->slot[i]] = t->size[i];
    uint64_t sum = 0;
    for (size_t i = 0; i < t->live; i++) sum += sz[i];
    free(sz);
    return sum;
}

/* W1/W2. With `resident`, also the growth of the process's anonymous resident
 * memory from before the allocator's init to after the timed pairs, per requested live byte
 * (the bench's own arrays are allocated before the first reading). */
static void run_pairs(const char *name, size_t live, size_t ops, uint64_t seed, int logu, size_t region,
                      int resident) {
    /* Without `resident`, the order the rows were always measured in (init first). */
    if (!resident && bench_init(region) != 0) { fprintf(stderr, "%s: init failed\n", ALLOC_NAME); exit(2); }
    trace_t t = make_trace(live, ops, seed, logu);
    void **slots = xcalloc(t.live, sizeof(void *));
    uint64_t rss0 = resident ? resident_bytes() : 0;
    if (resident && bench_init(region) != 0) { fprintf(stderr, "%s: init failed\n", ALLOC_NAME); exit(2); }
    fill_slots(&t, slots);
    uint64_t t0 = now_ns();
    bench_timed_pairs(slots, t.slot, t.size, ops);
    uint64_t t1 = now_ns();
    uint64_t rss1 = resident ? resident_bytes() : 0; /* before stdout's buffer is made */
    emit(name, "ns/pair", ops ? (double)(t1 - t0) / (double)ops : 0.0, (long long)ops);
    if (resident) {
        uint64_t bytes = live_bytes_after(&t);
        emit(name, "resident/live", bytes && rss1 > rss0 ? (double)(rss1 - rss0) / (double)bytes : 0.0,
             (long long)ops);
    }
}

/* Median cost of one timer read pair, in ticks. */
static double timer_overhead_ticks(void) {
    enum { N = 100001 };
    uint32_t *d = xcalloc(N, sizeof(uint32_t));
    for (int i = 0; i < N; i++) {
        uint64_t a = tick();
        uint64_t b = tick();
        d[i] = clamp32(b - a);
    }
    qsort(d, N, sizeof(uint32_t), cmp_u32);
    double m = d[N / 2];
    free(d);
    return m;
}

/* Ticks per nanosecond. */
static double tick_rate(void) {
    if (strcmp(TICK_SOURCE, "clock_gettime") == 0) return 1.0;
    uint64_t n0 = now_ns(), t0 = tick(), n1, t1;
    do { n1 = now_ns(); t1 = tick(); } while (n1 - n0 < 50000000ull);
    return (double)(t1 - t0) / (double)(n1 - n0);
}

static void emit_percentiles(const char *what, uint32_t *lat, size_t n, double overhead,
                             double rate) {
    char name[64];
    qsort(lat, n, sizeof(uint32_t), cmp_u32);
    size_t i999 = (size_t)ceil(0.999 * (double)n);
    if (i999 > 0) i999--;
    double p50 = (lat[(n - 1) / 2] - overhead) / rate, p999 = (lat[i999] - overhead) / rate,
           mx = (lat[n - 1] - overhead) / rate;
    snprintf(name, sizeof name, "W3 %s p50", what);
    emit(name, "ns", p50 < 0 ? 0 : p50, (long long)n);
    snprintf(name, sizeof name, "W3 %s p99.9", what);
    emit(name, "ns", p999 < 0 ? 0 : p999, (long long)n);
    snprintf(name, sizeof name, "W3 %s max", what);
    emit(name, "ns", mx < 0 ? 0 : mx, (long long)n);
}

static void run_latency(size_t live, size_t ops, uint64_t seed) {
    if (ops == 0) return;
    double rate = tick_rate(), overhead = timer_overhead_ticks();
    if (bench_init(W13_REGION) != 0) { fprintf(stderr, "%s: init failed\n", ALLOC_NAME); exit(2); }
    trace_t t = make_trace(live, ops, seed, 1);
    void **slots = fill_slots(&t, xcalloc(t.live, sizeof(void *)));
    uint32_t *lm = xcalloc(ops, sizeof(uint32_t)), *lf = xcalloc(ops, sizeof(uint32_t));
    bench_timed_latency(slots, t.slot, t.size, ops, lm, lf);
    printf("{\"alloc\":\"%s\",\"workload\":\"W3 timer overhead\",\"unit\":\"ns\",\"value\":%.2f,"
           "\"info\":true,\"clock\":\"%s\",\"ticks_per_ns\":%.4f}\n",
           ALLOC_NAME, overhead / rate, TICK_SOURCE, rate);
    emit_percentiles("malloc", lm, ops, overhead, rate);
    emit_percentiles("free", lf, ops, overhead, rate);
}

static void run_requests(size_t nreq, uint64_t seed, size_t shapes, size_t warmup) {
    if (bench_init(W13_REGION) != 0) { fprintf(stderr, "%s: init failed\n", ALLOC_NAME); exit(2); }
    rng_t r = { seed };
    uint16_t *sizes = xcalloc(shapes * R1_PER, sizeof(uint16_t));
    for (size_t s = 0; s < shapes; s++) {
        uint16_t *sz = sizes + s * R1_PER;
        for (size_t i = 0; i < R1_PER; i++)
            sz[i] = (uint16_t)(R1_SMALL_MIN + rng_below(&r, R1_SMALL_MAX - R1_SMALL_MIN + 1));
        /* the two large ones at distinct random positions */
        uint32_t a = rng_below(&r, R1_PER), b = rng_below(&r, R1_PER - 1);
        if (b >= a) b++;
        sz[a] = sz[b] = R1_LARGE_SIZE;
    }
    void **ptrs = xcalloc(R1_PER, sizeof(void *));
    bench_timed_requests(sizes, shapes, warmup, ptrs);
    uint64_t t0 = now_ns();
    bench_timed_requests(sizes, shapes, nreq, ptrs);
    uint64_t t1 = now_ns();
    emit("R1", "ns/request", nreq ? (double)(t1 - t0) / (double)nreq : 0.0, (long long)nreq);
    free(ptrs);
    free(sizes);
}

#if ALLOC_HAS_REGION
/* One W4 run: returns requested live bytes at the first failure, as % of the region. */
static double w4_once(unsigned k, uint64_t seed, size_t *blocks_out, size_t *cycles_out) {
    if (bench_init(W4_REGION) != 0) { fprintf(stderr, "%s: init failed\n", ALLOC_NAME); exit(2); }
    rng_t r = { seed * 0x100000001B3ull + k };
    size_t cap = 1 << 16, live = 0, bytes = 0, cycles = 0;
    void **ptr = xcalloc(cap, sizeof(void *));
    uint32_t *sz = xcalloc(cap, sizeof(uint32_t));
    for (;;) {
        for (unsigned j = 0; j < k && live > 0; j++) {
            uint32_t v = rng_below(&r, (uint32_t)live);
            bench_free(ptr[v]);
            bytes -= sz[v];
            live--;
            ptr[v] = ptr[live];
            sz[v] = sz[live];
            uint32_t n = size_logu(&r);
            char *p = bench_alloc(n);
            if (!p) goto done;
            *(volatile char *)p = 1;
            ptr[live] = p; sz[live] = n; live++; bytes += n;
        }
        uint32_t n = size_logu(&r);
        char *p = bench_alloc(n);
        if (!p) goto done;
        *(volatile char *)p = 1;
        if (live == cap) {
            cap *= 2;
            ptr = realloc(ptr, cap * sizeof(void *));
            sz = realloc(sz, cap * sizeof(uint32_t));
            if (!ptr || !sz) { fprintf(stderr, "out of memory (bench bookkeeping)\n"); exit(2); }
        }
        ptr[live] = p; sz[live] = n; live++; bytes += n;
        cycles++;
    }
done:
    *blocks_out = live;
    *cycles_out = cycles;
    bench_fini(); /* drops the whole region: no need to free block by block */
    free(ptr);
    free(sz);
    return 100.0 * (double)bytes / (double)W4_REGION;
}
#endif

static void run_frag(unsigned nseeds) {
#if ALLOC_HAS_REGION
    static const unsigned ks[] = { 1, 100 };
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        for (unsigned seed = 1; seed <= nseeds; seed++) {
            size_t blocks, cycles;
            double pct = w4_once(ks[i], seed, &blocks, &cycles);
            printf("{\"alloc\":\"%s\",\"workload\":\"W4 K=%u\",\"unit\":\"%% of region\",\"value\":%.4f,"
                   "\"seed\":%u,\"blocks\":%zu,\"cycles\":%zu}\n",
                   ALLOC_NAME, ks[i], pct, seed, blocks, cycles);
        }
    }
#else
    (void)nseeds;
    printf("{\"alloc\":\"%s\",\"workload\":\"W4\",\"skip\":\"n/a: no fixed region\"}\n", ALLOC_NAME);
#endif
}

int main(int argc, char **argv) {
    const char *workload = "W1";
    long long ops = 1000000, live = 10000, seed = 42, nseeds = 5, shapes = 1024, warmup = 1000, resident = 0;
    long long region = (long long)W13_REGION;
    const char *label = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--version")) {
            printf("{\"alloc\":\"%s\",\"version\":\"%s\"}\n", ALLOC_NAME, bench_version());
            return 0;
        }
        if (!v) { fprintf(stderr, "missing value for %s\n", a); return 1; }
        if (!strcmp(a, "--workload")) workload = v;
        else if (!strcmp(a, "--ops")) ops = atoll(v);
        else if (!strcmp(a, "--live")) live = atoll(v);
        else if (!strcmp(a, "--seed")) seed = atoll(v);
        else if (!strcmp(a, "--seeds")) nseeds = atoll(v);
        else if (!strcmp(a, "--shapes")) shapes = atoll(v);
        else if (!strcmp(a, "--warmup")) warmup = atoll(v);
        else if (!strcmp(a, "--region")) region = atoll(v);
        else if (!strcmp(a, "--resident")) resident = atoll(v);
        else if (!strcmp(a, "--name")) label = v;
        else { fprintf(stderr, "unknown option %s\n", a); return 1; }
        i++;
    }
    if (ops < 0 || live < 1 || live > 0x7fffffff || nseeds < 1 || shapes < 1 || shapes > 1000000 ||
        warmup < 0 || region < (1 << 20)) { fprintf(stderr, "bad arguments\n"); return 1; }
#if defined(ALLOC_ONLY_REQUEST) && ALLOC_ONLY_REQUEST
    if (strcmp(workload, "R1")) { fprintf(stderr, "%s runs only the request workload R1\n", ALLOC_NAME); return 1; }
#endif
    if (!strcmp(workload, "W1") || !strcmp(workload, "W2"))
        run_pairs(label ? label : workload, (size_t)live, (size_t)ops, (uint64_t)seed, workload[1] == '2',
                  (size_t)region, (int)resident);
    else if (!strcmp(workload, "W3")) run_latency((size_t)live, (size_t)ops, (uint64_t)seed);
    else if (!strcmp(workload, "W4")) run_frag((unsigned)nseeds);
    else if (!strcmp(workload, "R1")) run_requests((size_t)ops, (uint64_t)seed, (size_t)shapes, (size_t)warmup);
    else { fprintf(stderr, "unknown workload %s\n", workload); return 1; }
    fflush(stdout);
    return 0;
}
