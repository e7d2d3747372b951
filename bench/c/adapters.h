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
 * mmap (not prefaulted, as a user of the library would get it), bitmap from calloc. */
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
    bench_tlsf_ctl = calloc(1, tlsf_control_size());
    bench_tlsf_bitmap = calloc(1, tlsf_bitmap_size(region_bytes));
    bench_tlsf_area = mmap(NULL, region_bytes, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!bench_tlsf_ctl || !bench_tlsf_bitmap || bench_tlsf_area == MAP_FAILED) return -1;
    bench_tlsf = tlsf_create(bench_tlsf_ctl, tlsf_control_size());
    if (!bench_tlsf) return -1;
    if (tlsf_add_region(bench_tlsf, bench_tlsf_area, region_bytes, bench_tlsf_bitmap) < 0) return -1;
#ifdef BENCH_TLSF_CACHE
    if (tlsf_set_cache(bench_tlsf, BENCH_TLSF_CACHE) != TLSF_OK) return -1;
#endif
    return 0;
}
static void bench_fini(void) {
    munmap(bench_tlsf_area, bench_tlsf_bytes);
    free(bench_tlsf_bitmap);
    free(bench_tlsf_ctl);
    bench_tlsf = NULL;
}
static inline void *bench_alloc(size_t n) { return tlsf_malloc(bench_tlsf, n); }
static inline void bench_free(void *p) { tlsf_free(bench_tlsf, p); }
static const char *bench_version(void) { return ""; }

/* Later pools (native/region_pool, heap_pool, shared_pool) add one #elif each here. */

#else
#error "define one of ALLOC_GLIBC, ALLOC_JEMALLOC, ALLOC_MIMALLOC, ALLOC_TLSF"
#endif

#endif /* BENCH_ADAPTERS_H */
