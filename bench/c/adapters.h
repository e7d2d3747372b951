/*
 * adapters.h — the allocator under test, chosen at compile time with -DALLOC_<NAME>.
 *
 * Every adapter defines:
 *   ALLOC_NAME                    short name printed in the results ("glibc", "tlsf", ...)
 *   ALLOC_HAS_REGION              1 if the allocator works inside one fixed region (W4 runs),
 *                                 0 if it grows from the OS without bound (W4 prints n/a)
 *   int   bench_init(size_t region_bytes)   set up (region_bytes is only a hint for
 *                                           region allocators); 0 on success
 *   void  bench_fini(void)                  tear down what bench_init made
 *   void *bench_alloc(size_t n)             NULL on failure
 *   void  bench_free(void *p)
 *   const char *bench_version(void)         free-form version string (may be "")
 *
 * Optionally, for the request workload R1 (workloads.c), an adapter whose memory is
 * scoped to a request defines ALLOC_HAS_SCOPE 1 and
 *   int   bench_req_begin(void)             start a request (create a pool); 0 on success
 *   void  bench_req_end(void)               end it: every block of the request goes at once
 *                                           (destroy or reset the pool)
 * Without ALLOC_HAS_SCOPE, R1 ends a request by bench_free'ing each of its blocks.
 * ALLOC_ONLY_REQUEST 1 marks an adapter meant for R1 only: the binary refuses other
 * workloads (run.js's `only` field keeps it from being asked).
 *
 * To add an allocator: add one #elif block here, and one entry to the C allocator
 * table in bench/run.js (its -D flag, extra sources and libraries).
 */
#ifndef BENCH_ADAPTERS_H
#define BENCH_ADAPTERS_H

#include <stddef.h>
#include <stdlib.h>

#if defined(ALLOC_GLIBC)
/* ------------------------------------------------------------------ glibc */
#include <gnu/libc-version.h>
#define ALLOC_NAME "glibc"
#define ALLOC_HAS_REGION 0
static int bench_init(size_t region_bytes) { (void)region_bytes; return 0; }
static __attribute__((unused)) void bench_fini(void) {}
static inline void *bench_alloc(size_t n) { return malloc(n); }
static inline void bench_free(void *p) { free(p); }
static const char *bench_version(void) { return gnu_get_libc_version(); }

#elif defined(ALLOC_JEMALLOC)
/* --------------------------------------------------------------- jemalloc */
/* Linked with -ljemalloc, whose unprefixed malloc/free replace glibc's. */
#include <jemalloc/jemalloc.h>
#define ALLOC_NAME "jemalloc"
#define ALLOC_HAS_REGION 0
static int bench_init(size_t region_bytes) { (void)region_bytes; return 0; }
static __attribute__((unused)) void bench_fini(void) {}
static inline void *bench_alloc(size_t n) { return malloc(n); }
static inline void bench_free(void *p) { free(p); }
static const char *bench_version(void) {
    const char *v = NULL;
    size_t len = sizeof v;
    /* Fails (and we say so) if the binary somehow is not using jemalloc. */
    if (mallctl("version", &v, &len, NULL, 0) != 0 || v == NULL) return "NOT-JEMALLOC";
    return v;
}

#elif defined(ALLOC_MIMALLOC)
/* --------------------------------------------------------------- mimalloc */
#include <mimalloc.h>
#include <stdio.h>
#define ALLOC_NAME "mimalloc"
#define ALLOC_HAS_REGION 0
static int bench_init(size_t region_bytes) { (void)region_bytes; return 0; }
static __attribute__((unused)) void bench_fini(void) {}
static inline void *bench_alloc(size_t n) { return mi_malloc(n); }
static inline void bench_free(void *p) { mi_free(p); }
static const char *bench_version(void) {
    static char buf[32];
    int v = mi_version();
    snprintf(buf, sizeof buf, "%d.%d.%d", v / 100, (v / 10) % 10, v % 10);
    return buf;
}

#elif defined(ALLOC_TLSF)
/* ------------------------------------------------------------------- TLSF */
/* native/tlsf.c is compiled into the binary. One region of region_bytes from
 * mmap (not prefaulted, as a user of the library would get it), bitmap from calloc,
 * the control structure from mmap with tlsf_create_zeroed (as TlsfPool makes it). */
#include <sys/mman.h>
#include "tlsf.h"
#ifdef BENCH_TLSF_CACHE
/* -DBENCH_TLSF_CACHE=<depth>: the same allocator with its optional front cache on */
#define ALLOC_NAME "tlsf-cache"
#else
#define ALLOC_NAME "tlsf"
#endif
#define ALLOC_HAS_REGION 1
static tlsf_t *bench_tlsf;
static void *bench_tlsf_ctl, *bench_tlsf_area, *bench_tlsf_bitmap;
static size_t bench_tlsf_bytes;
static int bench_init(size_t region_bytes) {
    bench_tlsf_bytes = region_bytes;
    bench_tlsf_ctl = mmap(NULL, tlsf_control_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bench_tlsf_bitmap = calloc(1, tlsf_bitmap_size(region_bytes));
    bench_tlsf_area = mmap(NULL, region_bytes, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (bench_tlsf_ctl == MAP_FAILED || !bench_tlsf_bitmap || bench_tlsf_area == MAP_FAILED) return -1;
    bench_tlsf = tlsf_create_zeroed(bench_tlsf_ctl, tlsf_control_size());
    if (!bench_tlsf) return -1;
    if (tlsf_add_region_zeroed(bench_tlsf, bench_tlsf_area, region_bytes, bench_tlsf_bitmap) < 0) return -1;
#ifdef BENCH_TLSF_CACHE
    if (tlsf_set_cache(bench_tlsf, BENCH_TLSF_CACHE) != TLSF_OK) return -1;
#endif
    return 0;
}
static void bench_fini(void) {
    munmap(bench_tlsf_area, bench_tlsf_bytes);
    free(bench_tlsf_bitmap);
    munmap(bench_tlsf_ctl, tlsf_control_size());
    bench_tlsf = NULL;
}
static inline void *bench_alloc(size_t n) { return tlsf_malloc(bench_tlsf, n); }
static inline void bench_free(void *p) { tlsf_free(bench_tlsf, p); }
static const char *bench_version(void) { return ""; }

#elif defined(ALLOC_REGION)
/* ------------------------------------------------------------ region pool */
/* native/region_pool.c is compiled into the binary: the nginx-style pool with its
 * side tables (live counts, start bitmaps, generations) as shipped; default memory
 * callbacks (posix_memalign/free), 16 KiB blocks. Two variants:
 *   region        R1: region_pool_create at the start of every request,
 *                 region_pool_destroy at its end (what a request handler does)
 *   region-reset  (-DBENCH_REGION_RESET) one pool for the whole run,
 *                 region_pool_reset at the end of every request
 * bench_alloc is region_pool_palloc (8-aligned; > max_small = 4095 B: a large block). */
#include <stdio.h>
#include "region_pool.h"
#ifdef BENCH_REGION_RESET
#define ALLOC_NAME "region-reset"
#else
#define ALLOC_NAME "region"
#endif
#define ALLOC_HAS_REGION 0
#define ALLOC_HAS_SCOPE 1
#define ALLOC_ONLY_REQUEST 1
#ifndef BENCH_REGION_BLOCK
#define BENCH_REGION_BLOCK 16384
#endif
static region_pool_t *bench_region;
static const region_pool_options_t bench_region_opt = { BENCH_REGION_BLOCK, 0, NULL };
static int bench_init(size_t region_bytes) {
    (void)region_bytes;
#ifdef BENCH_REGION_RESET
    return region_pool_create(&bench_region_opt, &bench_region) == REGION_POOL_OK ? 0 : -1;
#else
    return 0;
#endif
}
static __attribute__((unused)) void bench_fini(void) {
    region_pool_destroy(bench_region);
    bench_region = NULL;
}
static inline void *bench_alloc(size_t n) { return region_pool_palloc(bench_region, n); }
static inline void bench_free(void *p) { region_pool_free(bench_region, p); }
static inline int bench_req_begin(void) {
#ifdef BENCH_REGION_RESET
    return 0;
#else
    return region_pool_create(&bench_region_opt, &bench_region) == REGION_POOL_OK ? 0 : -1;
#endif
}
static inline void bench_req_end(void) {
#ifdef BENCH_REGION_RESET
    region_pool_reset(bench_region);
#else
    region_pool_destroy(bench_region);
    bench_region = NULL;
#endif
}
static const char *bench_version(void) {
    static char buf[48];
    snprintf(buf, sizeof buf, "block %u B", (unsigned)BENCH_REGION_BLOCK);
    return buf;
}

#elif defined(ALLOC_NGX_REF)
/* ----------------------------------------------- nginx-style reference pool */
/* A minimal re-implementation of ngx_pool_t's allocation path (bench/c/ngx_ref.h),
 * written for this benchmark as the yardstick of the R1 target: no side tables,
 * no per-allocation free, header inside the first block. Create per request,
 * destroy at its end. */
#include "ngx_ref.h"
#define ALLOC_NAME "ngx-ref"
#define ALLOC_HAS_REGION 0
#define ALLOC_HAS_SCOPE 1
#define ALLOC_ONLY_REQUEST 1
static ngxr_pool_t *bench_ngx;
static int bench_init(size_t region_bytes) { (void)region_bytes; return 0; }
static __attribute__((unused)) void bench_fini(void) {}
static inline void *bench_alloc(size_t n) { return ngxr_palloc(bench_ngx, n); }
static inline void bench_free(void *p) { ngxr_pfree(bench_ngx, p); }
static inline int bench_req_begin(void) {
    bench_ngx = ngxr_create_pool(16384);
    return bench_ngx ? 0 : -1;
}
static inline void bench_req_end(void) {
    ngxr_destroy_pool(bench_ngx);
    bench_ngx = NULL;
}
static const char *bench_version(void) { return "block 16384 B"; }

#elif defined(ALLOC_HEAP)
/* -------------------------------------------------------------- heap pool */
/* native/heap_pool.c is compiled into the binary: the Melon-style heap pool as
 * shipped (validated O(1) frees, side tables outside chunk memory), one pool for
 * the run, default memory callbacks (posix_memalign/free), unbounded. It grows
 * from the source without a fixed region, so W4 prints n/a. */
#include "heap_pool.h"
#define ALLOC_NAME "heap"
#define ALLOC_HAS_REGION 0
static heap_pool_t *bench_heap;
static int bench_init(size_t region_bytes) {
    (void)region_bytes;
    return heap_pool_create(NULL, &bench_heap) == HEAP_POOL_OK ? 0 : -1;
}
static __attribute__((unused)) void bench_fini(void) {
    heap_pool_destroy(bench_heap);
    bench_heap = NULL;
}
static inline void *bench_alloc(size_t n) { return heap_pool_malloc(bench_heap, n); }
static inline void bench_free(void *p) { (void)heap_pool_free(bench_heap, p); }
static const char *bench_version(void) { return ""; }

/* Later pools (shared_pool) add one #elif each here. */

#else
#error "define one of ALLOC_GLIBC, ALLOC_JEMALLOC, ALLOC_MIMALLOC, ALLOC_TLSF, ALLOC_REGION, ALLOC_NGX_REF, ALLOC_HEAP"
#endif

#ifndef ALLOC_HAS_SCOPE
#define ALLOC_HAS_SCOPE 0
#endif

#endif /* BENCH_ADAPTERS_H */
