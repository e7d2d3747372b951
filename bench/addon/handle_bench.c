/*
 * handle_bench.c — the bench addon: what another addon sees of mempools, timed
 * from inside an addon (bench/js/handle.js and bench/js/results.js drive it;
 * bench/README.md has the rows). Plain C over node_api.h and mempools.h, with
 * mempools' C allocators compiled in (the `allocators` target) for the
 * "direct" rows.
 *
 * w1(kind, handle, ops, seed) -> ns per pair (the thread's CPU time, so time
 *   the thread spends preempted on a busy machine is left out), bench/c/workloads.c's W1 shape:
 *   W1_LIVE blocks of 16..512 B filled (untimed), then `ops` timed pairs (free
 *   a random slot, allocate 16..512 B into it, write a byte), the trace
 *   precomputed from `seed` (splitmix64, as bench/c). kind: "handle" (through
 *   `handle`, a pool's nativeHandle, as any addon would call it), or an
 *   allocator called directly: "glibc" (malloc/free), "tlsf" (one 256 MiB
 *   region, no front cache, as bench/c), "heap" (heap_pool_malloc/free, one
 *   unbounded pool), "shm" (shm_pool_alloc/free on a 256 MiB anonymous
 *   segment). The timed loops are the functions bench_w1_* (never inlined), so
 *   callgrind --toggle-collect=bench_w1_* counts them alone.
 *
 * Results for JavaScript (bench/js/results.js): each call "produces" a result
 * of `size` bytes (writes a byte into each of its 4 KiB pages and its last
 * byte) and hands it over:
 *   copyResult(size)            -> a Buffer (napi_create_buffer_copy of a C
 * buffer) externalResult(size)        -> a Buffer over malloc'd memory
 *                                  (napi_create_external_buffer, free in the
 * finalizer) poolResult(handle, size)    -> { chunk, offset } of a block
 * allocated through the handle (JavaScript: pool.viewOf) poolResults(handle,
 * size, n, where) -> n blocks at once, their (chunk, offset) pairs written into
 * the Float64Array `where`
 */
#include <node_api.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "heap_pool.h"
#include "mempools.h"
#include "shm_pool.h"
#include "tlsf.h"

#define W1_LIVE 10000u
#define W1_REGION ((size_t)256 << 20)

/* ---- trace (as bench/c/workloads.c)
 * ------------------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint32_t below(uint64_t *s, uint32_t n) { return (uint32_t)(((splitmix(s) >> 32) * (uint64_t)n) >> 32); }

static uint32_t w1_size(uint64_t *s) { return 16 + below(s, 512 - 16 + 1); }

typedef struct trace {
    uint32_t init[W1_LIVE];
    uint32_t *slot, *size;
    void *slots[W1_LIVE];
} trace_t;

static int make_trace(trace_t *t, size_t ops, uint64_t seed)
{
    t->slot = malloc((ops ? ops : 1) * sizeof(uint32_t));
    t->size = malloc((ops ? ops : 1) * sizeof(uint32_t));
    if (!t->slot || !t->size) return 0;
    for (size_t i = 0; i < W1_LIVE; i++) t->init[i] = w1_size(&seed);
    for (size_t i = 0; i < ops; i++) {
        t->slot[i] = below(&seed, W1_LIVE);
        t->size[i] = w1_size(&seed);
    }
    return 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: a busy machine preempting us adds nothing */
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the allocators, called directly
 * --------------------------------------------- */

static tlsf_t *tlsf;
static heap_pool_t *heap;
static shm_pool_t *shm;

static void *tlsf_alloc(size_t n) { return tlsf_malloc(tlsf, n); }
static void tlsf_release(void *p) { tlsf_free(tlsf, p); }
static void *heap_alloc(size_t n) { return heap_pool_malloc(heap, n); }
static void heap_release(void *p) { heap_pool_free(heap, p); }
static void *shm_alloc(size_t n)
{
    uint64_t offset;
    void *p = NULL;
    return shm_pool_alloc(shm, n, &offset, &p) == SHM_POOL_OK ? p : NULL;
}
static void shm_release(void *p) { shm_pool_free(shm, p); }

static int init_tlsf(void)
{
    void *control = calloc(1, tlsf_control_size()), *bitmap = calloc(1, tlsf_bitmap_size(W1_REGION));
    void *area = mmap(NULL, W1_REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!control || !bitmap || area == MAP_FAILED) return 0;
    tlsf = tlsf_create(control, tlsf_control_size());
    return tlsf && tlsf_add_region(tlsf, area, W1_REGION, bitmap) >= 0;
}

/* One timed loop per allocator: the calls inline as in bench/c. */
#define W1_LOOP(name, ALLOC, FREE)                                                                                     \
    __attribute__((noinline, noipa)) int name(trace_t *t, size_t ops)                                                  \
    {                                                                                                                  \
        for (size_t i = 0; i < ops; i++) {                                                                             \
            uint32_t s = t->slot[i];                                                                                   \
            FREE(t->slots[s]);                                                                                         \
            char *p = ALLOC(t->size[i]);                                                                               \
            if (__builtin_expect(p == NULL, 0)) return 0;                                                              \
            *(volatile char *)p = (char)i;                                                                             \
            t->slots[s] = p;                                                                                           \
        }                                                                                                              \
        return 1;                                                                                                      \
    }

W1_LOOP(bench_w1_glibc, malloc, free)
W1_LOOP(bench_w1_tlsf, tlsf_alloc, tlsf_release)
W1_LOOP(bench_w1_heap, heap_alloc, heap_release)
W1_LOOP(bench_w1_shm, shm_alloc, shm_release)

/* Through a nativeHandle, as an addon calls it. */
__attribute__((noinline, noipa)) int bench_w1_handle(const mempools_pool_t *pool, trace_t *t, size_t ops)
{
    void *ctx = pool->ctx;
    for (size_t i = 0; i < ops; i++) {
        uint32_t s = t->slot[i];
        void *p;
        if (__builtin_expect(pool->free(ctx, t->slots[s]) != MEMPOOLS_OK, 0)) return 0;
        if (__builtin_expect(pool->alloc(ctx, t->size[i], &p) != MEMPOOLS_OK, 0)) return 0;
        *(volatile char *)p = (char)i;
        t->slots[s] = p;
    }
    return 1;
}

static void *handle_alloc(const mempools_pool_t *pool, size_t n)
{
    void *p;
    return pool->alloc(pool->ctx, n, &p) == MEMPOOLS_OK ? p : NULL;
}

/* ---- N-API
 * ----------------------------------------------------------------------- */

static napi_value fail(napi_env env, const char *message)
{
    napi_throw_error(env, "ERR_BENCH", message);
    return NULL;
}

static napi_value number(napi_env env, double value)
{
    napi_value result;
    napi_create_double(env, value, &result);
    return result;
}

static int read_size(napi_env env, napi_value value, size_t *out)
{
    double d;
    if (napi_get_value_double(env, value, &d) != napi_ok || !(d >= 0 && d <= 1e12)) return 0;
    *out = (size_t)d;
    return 1;
}

/* w1(kind, handle, ops, seed) */
static napi_value w1(napi_env env, napi_callback_info info)
{
    napi_value argv[4];
    size_t argc = 4, ops, seed, len;
    char kind[16] = "";
    const mempools_pool_t *pool = NULL;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 4 || napi_get_value_string_utf8(env, argv[0], kind, sizeof kind, &len) != napi_ok ||
        !read_size(env, argv[2], &ops) || !read_size(env, argv[3], &seed)) {
        return fail(env, "w1(kind, handle, ops, seed)");
    }
    int is_handle = strcmp(kind, "handle") == 0;
    if (is_handle && mempools_pool_from_value(env, argv[1], &pool) != napi_ok) return NULL;
    if (strcmp(kind, "tlsf") == 0 && !tlsf && !init_tlsf()) return fail(env, "tlsf: init failed");
    if (strcmp(kind, "heap") == 0 && !heap && heap_pool_create(NULL, &heap) != HEAP_POOL_OK)
        return fail(env, "heap: init failed");
    if (strcmp(kind, "shm") == 0 && !shm && shm_pool_create(NULL, W1_REGION, 0, &shm) != SHM_POOL_OK)
        return fail(env, "shm: init failed");
    static trace_t t;
    if (!make_trace(&t, ops, (uint64_t)seed)) return fail(env, "out of memory");
    for (size_t i = 0; i < W1_LIVE; i++) {
        size_t n = t.init[i];
        char *p = is_handle        ? handle_alloc(pool, n)
                  : kind[0] == 'g' ? malloc(n)
                  : kind[0] == 't' ? tlsf_alloc(n)
                  : kind[0] == 'h' ? heap_alloc(n)
                  : kind[0] == 's' ? shm_alloc(n)
                                   : NULL;
        if (!p) return fail(env, "w1: unknown kind, or the fill failed");
        *(volatile char *)p = (char)i;
        t.slots[i] = p;
    }
    uint64_t t0 = now_ns();
    int ok = is_handle        ? bench_w1_handle(pool, &t, ops)
             : kind[0] == 'g' ? bench_w1_glibc(&t, ops)
             : kind[0] == 't' ? bench_w1_tlsf(&t, ops)
             : kind[0] == 'h' ? bench_w1_heap(&t, ops)
                              : bench_w1_shm(&t, ops);
    uint64_t t1 = now_ns();
    free(t.slot);
    free(t.size);
    if (!ok) return fail(env, "w1: an allocation or free failed");
    return number(env, ops ? (double)(t1 - t0) / (double)ops : 0);
}

/* ---- results for JavaScript
 * -------------------------------------------------------- */

static void produce(unsigned char *p, size_t size)
{
    for (size_t i = 0; i < size; i += 4096) p[i] = (unsigned char)i;
    if (size) p[size - 1] = 1;
}

static unsigned char *scratch;
static size_t scratch_size;

static napi_value copy_result(napi_env env, napi_callback_info info)
{
    napi_value argv[1], result;
    size_t argc = 1, size;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 1 || !read_size(env, argv[0], &size)) return fail(env, "copyResult(size)");
    if (size > scratch_size) {
        free(scratch);
        scratch = malloc(size);
        scratch_size = scratch ? size : 0;
        if (!scratch) return fail(env, "out of memory");
    }
    produce(scratch, size);
    napi_create_buffer_copy(env, size, scratch, NULL, &result);
    return result;
}

static void free_external(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    free(data);
}

static napi_value external_result(napi_env env, napi_callback_info info)
{
    napi_value argv[1], result;
    size_t argc = 1, size;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 1 || !read_size(env, argv[0], &size)) return fail(env, "externalResult(size)");
    unsigned char *p = malloc(size ? size : 1);
    if (!p) return fail(env, "out of memory");
    produce(p, size);
    if (napi_create_external_buffer(env, size, p, free_external, NULL, &result) != napi_ok) {
        free(p);
        return fail(env, "napi_create_external_buffer failed");
    }
    return result;
}

/* A block of `size` bytes from the pool, produced; its place in *where. */
static int pool_block(const mempools_pool_t *pool, size_t size, mempools_handle_t *where)
{
    void *p;
    int status = pool->alloc(pool->ctx, size, &p);
    if (status != MEMPOOLS_OK) return status;
    produce(p, size);
    return pool->handle_of(pool->ctx, p, where);
}

static napi_value pool_result(napi_env env, napi_callback_info info)
{
    napi_value argv[2], result;
    size_t argc = 2, size;
    const mempools_pool_t *pool;
    mempools_handle_t where;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 2 || mempools_pool_from_value(env, argv[0], &pool) != napi_ok) return NULL;
    if (!read_size(env, argv[1], &size)) return fail(env, "poolResult(handle, size)");
    int status = pool_block(pool, size, &where);
    if (status != MEMPOOLS_OK) return fail(env, mempools_status_text(status));
    napi_create_object(env, &result);
    napi_set_named_property(env, result, "chunk", number(env, where.chunk));
    napi_set_named_property(env, result, "offset", number(env, (double)where.offset));
    return result;
}

static napi_value pool_results(napi_env env, napi_callback_info info)
{
    napi_value argv[4];
    size_t argc = 4, size, n, length;
    const mempools_pool_t *pool;
    napi_typedarray_type type;
    void *data;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 4 || mempools_pool_from_value(env, argv[0], &pool) != napi_ok) return NULL;
    if (!read_size(env, argv[1], &size) || !read_size(env, argv[2], &n) ||
        napi_get_typedarray_info(env, argv[3], &type, &length, &data, NULL, NULL) != napi_ok ||
        type != napi_float64_array || length < 2 * n) {
        return fail(env, "poolResults(handle, size, n, Float64Array of 2n)");
    }
    double *out = data;
    for (size_t i = 0; i < n; i++) {
        mempools_handle_t where;
        int status = pool_block(pool, size, &where);
        if (status != MEMPOOLS_OK) return fail(env, mempools_status_text(status));
        out[2 * i] = where.chunk;
        out[2 * i + 1] = (double)where.offset;
    }
    return NULL;
}

static napi_value init(napi_env env, napi_value exports)
{
    const napi_property_descriptor functions[] = {
        {"w1", NULL, w1, NULL, NULL, NULL, napi_enumerable, NULL},
        {"copyResult", NULL, copy_result, NULL, NULL, NULL, napi_enumerable, NULL},
        {"externalResult", NULL, external_result, NULL, NULL, NULL, napi_enumerable, NULL},
        {"poolResult", NULL, pool_result, NULL, NULL, NULL, napi_enumerable, NULL},
        {"poolResults", NULL, pool_results, NULL, NULL, NULL, napi_enumerable, NULL},
    };
    napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
