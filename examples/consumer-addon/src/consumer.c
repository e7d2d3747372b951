/*
 * consumer.c — an example addon that uses mempools in the two ways
 * docs/addons.md describes:
 *
 *  (i)  the C allocators compiled into it (the `allocators` target of
 *       mempools' native/alloc/mempools.gyp): tlsfChecksum and heapChecksum build a
 *       private pool in C, fill blocks, hash them back and free them;
 *  (ii) a live pool that JavaScript created, through its `nativeHandle`
 *       (native/include/mempools.h): fill() allocates from it, fills the memory on a
 *       libuv worker thread (holding a pin, retain/release, so a pool
 *       destroyed meanwhile cannot unmap the memory under it) and calls back
 *       with { chunk, offset }; JavaScript then views the bytes with
 *       pool.viewOf({ chunk, offset }, size), zero-copy.
 *       free(nativeHandle, { chunk, offset }) gives the memory back.
 *       results(nativeHandle, size, where) is the recommended way to hand many
 *       results to JavaScript: blocks made in the pool, their (chunk, offset)
 *       pairs written into a Float64Array, viewed with pool.viewOf.
 *
 * Plain C11 over node_api.h; no node-addon-api needed.
 */
#include <node_api.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heap_pool.h"
#include "mempools.h"
#include "tlsf.h"

#define MAX_BLOCKS 1000u
#define TLSF_AREA ((size_t)4 << 20) /* MAX_BLOCKS blocks of at most 2000 bytes fit */

/* Throws a JavaScript error of `kind` ("type" or "range") with a Node-style code. */
static napi_value throw_error(napi_env env, const char *kind, const char *code, const char *message)
{
    if (kind[0] == 't')
        napi_throw_type_error(env, code, message);
    else
        napi_throw_range_error(env, code, message);
    return NULL;
}

/* Reads an integer argument in [min, max]; throws and returns 0 otherwise. */
static int read_integer(napi_env env, napi_value value, double min, double max, const char *what, double *out)
{
    napi_valuetype type;
    double number;
    if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) {
        throw_error(env, "type", "ERR_INVALID_ARG_TYPE", what);
        return 0;
    }
    napi_get_value_double(env, value, &number);
    if (!(number >= min && number <= max) || number != (double)(int64_t)number) {
        throw_error(env, "range", "ERR_OUT_OF_RANGE", what);
        return 0;
    }
    *out = number;
    return 1;
}

static napi_status set_number(napi_env env, napi_value object, const char *name, double number)
{
    napi_value value;
    napi_status status = napi_create_double(env, number, &value);
    if (status != napi_ok) return status;
    return napi_set_named_property(env, object, name, value);
}

/* ---- (i) the allocators compiled in ------------------------------------- */

/* A private allocator seen through four calls, so one checksum run serves
 * TLSF and the heap pool alike. */
typedef struct private_pool {
    void *self;
    void *(*alloc)(void *self, size_t size);
    int (*release)(void *self, void *ptr);
    const char *(*check)(const void *self); /* NULL, or why the pool is corrupted */
    size_t (*live)(const void *self);       /* live allocations */
} private_pool_t;

/* The size and fill byte of block i: the JavaScript test computes the same. */
static size_t block_size(uint32_t i, uint32_t seed) { return 1 + ((size_t)i * 97 + seed) % 2000; }
static unsigned char block_byte(uint32_t i, uint32_t seed) { return (unsigned char)((i * 31u + seed) & 0xffu); }

/* Allocates `count` blocks, fills each, then hashes them all back (FNV-1a, 32
 * bit, in allocation order: overlapping blocks would change the hash) and
 * frees them, odd ones first. Returns 0, or -1 when an allocation or a free
 * failed. */
static int hash_blocks(const private_pool_t *pool, uint32_t count, uint32_t seed, uint32_t *hash)
{
    void *blocks[MAX_BLOCKS];
    uint32_t h = 2166136261u;
    uint32_t i, allocated = 0;
    int result = 0;
    for (; allocated < count; allocated++) {
        blocks[allocated] = pool->alloc(pool->self, block_size(allocated, seed));
        if (blocks[allocated] == NULL) {
            result = -1;
            break;
        }
        memset(blocks[allocated], block_byte(allocated, seed), block_size(allocated, seed));
    }
    for (i = 0; i < allocated; i++) {
        const unsigned char *bytes = blocks[i];
        size_t n, size = block_size(i, seed);
        for (n = 0; n < size; n++) h = (h ^ bytes[n]) * 16777619u;
    }
    for (i = 1; i < allocated; i += 2)
        if (pool->release(pool->self, blocks[i]) != 0) result = -1;
    for (i = 0; i < allocated; i += 2)
        if (pool->release(pool->self, blocks[i]) != 0) result = -1;
    *hash = h;
    return result;
}

static void *tlsf_alloc_call(void *self, size_t size) { return tlsf_malloc(self, size); }
static int tlsf_release_call(void *self, void *ptr) { return tlsf_free(self, ptr); }
static const char *tlsf_check_call(const void *self)
{
    const char *why = NULL;
    return tlsf_check(self, &why) == TLSF_OK ? NULL : why;
}
static size_t tlsf_live_call(const void *self)
{
    tlsf_stats_t stats;
    tlsf_get_stats(self, &stats);
    return stats.allocations;
}

static void *heap_alloc_call(void *self, size_t size) { return heap_pool_malloc(self, size); }
static int heap_release_call(void *self, void *ptr) { return heap_pool_free(self, ptr); }
static const char *heap_check_call(const void *self)
{
    const char *why = NULL;
    return heap_pool_check(self, &why) == HEAP_POOL_OK ? NULL : why;
}
static size_t heap_live_call(const void *self)
{
    heap_pool_stats_t stats;
    heap_pool_get_stats(self, &stats);
    return stats.allocations;
}

/* Runs hash_blocks and reports { checksum, live, check }: the hash, the live
 * blocks left (0) and null or why the pool's own invariant check failed. */
static napi_value report_checksum(napi_env env, const private_pool_t *pool, uint32_t count, uint32_t seed)
{
    napi_value report, text;
    uint32_t hash = 0;
    const char *why;
    if (hash_blocks(pool, count, seed, &hash) != 0)
        return throw_error(env, "range", "ERR_CONSUMER_POOL", "the private pool failed an alloc or free");
    why = pool->check(pool->self);
    napi_create_object(env, &report);
    set_number(env, report, "checksum", hash);
    set_number(env, report, "live", (double)pool->live(pool->self));
    if (why != NULL)
        napi_create_string_utf8(env, why, NAPI_AUTO_LENGTH, &text);
    else
        napi_get_null(env, &text);
    napi_set_named_property(env, report, "check", text);
    return report;
}

static int read_count_and_seed(napi_env env, napi_callback_info info, uint32_t *count, uint32_t *seed)
{
    size_t argc = 2;
    napi_value argv[2];
    double number;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 2) {
        throw_error(env, "type", "ERR_INVALID_ARG_TYPE", "expected (count, seed)");
        return 0;
    }
    if (!read_integer(env, argv[0], 0, MAX_BLOCKS, "count must be an integer from 0 to 1000", &number)) return 0;
    *count = (uint32_t)number;
    if (!read_integer(env, argv[1], 0, 0xffffffffu, "seed must be a uint32", &number)) return 0;
    *seed = (uint32_t)number;
    return 1;
}

/* tlsfChecksum(count, seed): a TLSF pool over 4 MiB of malloc'd memory. */
static napi_value tlsf_checksum(napi_env env, napi_callback_info info)
{
    uint32_t count, seed;
    void *control, *area, *bitmap;
    tlsf_t *t;
    napi_value report;
    if (!read_count_and_seed(env, info, &count, &seed)) return NULL;
    control = malloc(tlsf_control_size());
    area = aligned_alloc(TLSF_REGION_ALIGN, TLSF_AREA);
    bitmap = malloc(tlsf_bitmap_size(TLSF_AREA));
    t = control != NULL ? tlsf_create(control, tlsf_control_size()) : NULL;
    if (t == NULL || area == NULL || bitmap == NULL || tlsf_add_region(t, area, TLSF_AREA, bitmap) < 0) {
        free(control);
        free(area);
        free(bitmap);
        return throw_error(env, "range", "ERR_CONSUMER_POOL", "could not set up the TLSF pool");
    }
    {
        const private_pool_t pool = { t, tlsf_alloc_call, tlsf_release_call, tlsf_check_call, tlsf_live_call };
        report = report_checksum(env, &pool, count, seed);
    }
    free(bitmap);
    free(area);
    free(control);
    return report;
}

/* heapChecksum(count, seed): an unbounded heap pool. */
static napi_value heap_checksum(napi_env env, napi_callback_info info)
{
    uint32_t count, seed;
    heap_pool_t *heap = NULL;
    napi_value report;
    if (!read_count_and_seed(env, info, &count, &seed)) return NULL;
    if (heap_pool_create(NULL, &heap) != HEAP_POOL_OK)
        return throw_error(env, "range", "ERR_CONSUMER_POOL", "could not create the heap pool");
    {
        const private_pool_t pool = { heap, heap_alloc_call, heap_release_call, heap_check_call, heap_live_call };
        report = report_checksum(env, &pool, count, seed);
    }
    heap_pool_destroy(heap);
    return report;
}

/* ---- (ii) a live JavaScript pool through its nativeHandle --------------- */

/* One fill() in flight. Invariants: `handle_ref` keeps the nativeHandle (and
 * so *pool) alive until complete_fill has run; while `pinned`, the pool's
 * memory stays mapped even if JavaScript destroys the pool, so the worker can
 * write `ptr` safely; the worker drops the pin itself once it is done. */
typedef struct fill_work {
    napi_async_work work;
    napi_ref handle_ref;
    napi_ref callback_ref;
    const mempools_pool_t *pool;
    size_t size;
    unsigned char byte;
    int alloc_on_worker; /* a thread-safe pool: allocate on the worker as well */
    int pinned;          /* retain() succeeded; release() is owed */
    void *ptr;
    int status;          /* MEMPOOLS_OK once ptr holds the block */
} fill_work_t;

/* Runs on a libuv worker thread: no N-API calls here. release() is allowed
 * from any thread; alloc() only when the pool is thread-safe. */
static void execute_fill(napi_env env, void *data)
{
    fill_work_t *fill = data;
    (void)env;
    if (fill->alloc_on_worker && fill->status == MEMPOOLS_OK)
        fill->status = fill->pool->alloc(fill->pool->ctx, fill->size, &fill->ptr);
    if (fill->status == MEMPOOLS_OK) memset(fill->ptr, fill->byte, fill->size);
    if (fill->pinned) fill->pool->release(fill->pool->ctx);
    fill->pinned = 0;
}

/* An Error for a mempools status, with `code` ERR_MEMPOOLS_STATUS and `status`. */
static napi_value make_status_error(napi_env env, int status)
{
    napi_value code, message, error;
    napi_create_string_utf8(env, "ERR_MEMPOOLS_STATUS", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, mempools_status_text(status), NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &error);
    set_number(env, error, "status", status);
    return error;
}

/* Back on the JavaScript thread: callback(error) or callback(null, { chunk, offset }). */
static void complete_fill(napi_env env, napi_status work_status, void *data)
{
    fill_work_t *fill = data;
    napi_value callback, global, argv[2];
    mempools_handle_t where;
    int status = fill->status;
    if (fill->pinned) fill->pool->release(fill->pool->ctx); /* the work never ran */
    if (work_status == napi_ok && status == MEMPOOLS_OK) status = fill->pool->handle_of(fill->pool->ctx, fill->ptr, &where);
    napi_get_null(env, &argv[0]);
    napi_get_null(env, &argv[1]);
    if (work_status != napi_ok) {
        napi_value message;
        napi_create_string_utf8(env, "the fill was cancelled", NAPI_AUTO_LENGTH, &message);
        napi_create_error(env, NULL, message, &argv[0]);
    } else if (status != MEMPOOLS_OK) {
        argv[0] = make_status_error(env, status);
    } else {
        napi_create_object(env, &argv[1]);
        set_number(env, argv[1], "chunk", where.chunk);
        set_number(env, argv[1], "offset", (double)where.offset);
    }
    /* A block that will not reach JavaScript goes back to the pool (when it still can). */
    if (fill->status == MEMPOOLS_OK && (work_status != napi_ok || status != MEMPOOLS_OK))
        fill->pool->free(fill->pool->ctx, fill->ptr);
    napi_get_reference_value(env, fill->callback_ref, &callback);
    napi_get_global(env, &global);
    napi_call_function(env, global, callback, 2, argv, NULL);
    napi_delete_reference(env, fill->handle_ref);
    napi_delete_reference(env, fill->callback_ref);
    napi_delete_async_work(env, fill->work);
    free(fill);
}

/* fill(nativeHandle, size, byte, callback): pins the pool's memory, allocates
 * `size` bytes from it (on the worker thread when the pool is thread-safe,
 * here otherwise), sets them all to `byte` on a worker thread, then calls
 * back with the block's { chunk, offset } for pool.viewOf. */
static napi_value fill(napi_env env, napi_callback_info info)
{
    size_t argc = 4;
    napi_value argv[4], name;
    napi_valuetype type;
    const mempools_pool_t *pool;
    double size, byte;
    fill_work_t *work;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 4) return throw_error(env, "type", "ERR_INVALID_ARG_TYPE", "expected (nativeHandle, size, byte, callback)");
    if (mempools_pool_from_value(env, argv[0], &pool) != napi_ok) return NULL;
    if (!read_integer(env, argv[1], 0, 1u << 30, "size must be an integer from 0 to 2^30", &size)) return NULL;
    if (!read_integer(env, argv[2], 0, 255, "byte must be an integer from 0 to 255", &byte)) return NULL;
    if (napi_typeof(env, argv[3], &type) != napi_ok || type != napi_function)
        return throw_error(env, "type", "ERR_INVALID_ARG_TYPE", "callback must be a function");
    work = calloc(1, sizeof *work);
    if (work == NULL) return throw_error(env, "range", "ERR_CONSUMER_POOL", "out of memory");
    work->pool = pool;
    work->size = (size_t)size;
    work->byte = (unsigned char)byte;
    work->alloc_on_worker = (pool->flags & MEMPOOLS_FLAG_THREAD_SAFE) != 0;
    work->status = pool->retain(pool->ctx); /* MEMPOOLS_ERR_DESTROYED: called back with it */
    work->pinned = work->status == MEMPOOLS_OK;
    if (work->status == MEMPOOLS_OK && !work->alloc_on_worker)
        work->status = pool->alloc(pool->ctx, work->size, &work->ptr);
    napi_create_reference(env, argv[0], 1, &work->handle_ref);
    napi_create_reference(env, argv[3], 1, &work->callback_ref);
    napi_create_string_utf8(env, "mempools-consumer:fill", NAPI_AUTO_LENGTH, &name);
    if (napi_create_async_work(env, NULL, name, execute_fill, complete_fill, work, &work->work) != napi_ok ||
        napi_queue_async_work(env, work->work) != napi_ok) {
        if (work->status == MEMPOOLS_OK && work->ptr != NULL) pool->free(pool->ctx, work->ptr);
        if (work->pinned) pool->release(pool->ctx);
        napi_delete_reference(env, work->handle_ref);
        napi_delete_reference(env, work->callback_ref);
        free(work);
        return throw_error(env, "range", "ERR_CONSUMER_POOL", "could not queue the fill");
    }
    return NULL;
}

/* free(nativeHandle, { chunk, offset }): gives a block fill() made back to its
 * pool (pointer_of finds it). Throws ERR_MEMPOOLS_HANDLE for a non-handle,
 * ERR_INVALID_ARG_TYPE for a malformed block and ERR_MEMPOOLS_STATUS when the
 * pool refuses: MEMPOOLS_ERR_INVALID (freed already, another pool's, taken over
 * by JavaScript), MEMPOOLS_ERR_DESTROYED, ... */
static napi_value free_block(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2], chunk, offset;
    const mempools_pool_t *pool;
    mempools_handle_t where;
    double number;
    void *ptr = NULL;
    int status;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 2) return throw_error(env, "type", "ERR_INVALID_ARG_TYPE", "expected (nativeHandle, { chunk, offset })");
    if (mempools_pool_from_value(env, argv[0], &pool) != napi_ok) return NULL;
    if (napi_get_named_property(env, argv[1], "chunk", &chunk) != napi_ok ||
        napi_get_named_property(env, argv[1], "offset", &offset) != napi_ok) {
        napi_value ignored;
        napi_get_and_clear_last_exception(env, &ignored);
        return throw_error(env, "type", "ERR_INVALID_ARG_TYPE", "block must be { chunk, offset }");
    }
    if (!read_integer(env, chunk, 0, 0xffffffffu, "block.chunk must be a uint32", &number)) return NULL;
    where.chunk = (uint32_t)number;
    if (!read_integer(env, offset, 0, 9007199254740991.0, "block.offset must be a safe integer >= 0", &number)) return NULL;
    where.offset = (uint64_t)number;
    status = pool->pointer_of(pool->ctx, where, &ptr);
    if (status == MEMPOOLS_OK) status = pool->free(pool->ctx, ptr);
    if (status != MEMPOOLS_OK) napi_throw(env, make_status_error(env, status));
    return NULL;
}

/* results(nativeHandle, size, where): the recommended way to hand results to
 * JavaScript (docs/addons.md, "Results for JavaScript"). Makes where.length / 2
 * results of `size` bytes in the pool, each block's bytes set to its index
 * (mod 256), and writes each block's (chunk, offset) into the Float64Array
 * `where` (chunk at 2i, offset at 2i + 1): one call for many results, no
 * object per result, no copy. JavaScript views each with pool.viewOf and gives
 * it back with pool.free(view) when done. Returns the count made; on a
 * refused allocation the ones made so far are freed and ERR_MEMPOOLS_STATUS
 * is thrown. On the pool's JavaScript thread (any thread may call a
 * thread-safe pool the same way). */
static napi_value results(napi_env env, napi_callback_info info)
{
    size_t argc = 3, length = 0, count, i;
    napi_value argv[3], made;
    napi_typedarray_type type;
    const mempools_pool_t *pool;
    double size;
    void *data = NULL;
    double *where;
    int status = MEMPOOLS_OK;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < 3) return throw_error(env, "type", "ERR_INVALID_ARG_TYPE", "expected (nativeHandle, size, where)");
    if (mempools_pool_from_value(env, argv[0], &pool) != napi_ok) return NULL;
    if (!read_integer(env, argv[1], 0, 1u << 30, "size must be an integer from 0 to 2^30", &size)) return NULL;
    if (napi_get_typedarray_info(env, argv[2], &type, &length, &data, NULL, NULL) != napi_ok ||
        type != napi_float64_array) {
        napi_value ignored;
        napi_get_and_clear_last_exception(env, &ignored);
        return throw_error(env, "type", "ERR_INVALID_ARG_TYPE", "where must be a Float64Array");
    }
    where = data;
    count = length / 2;
    for (i = 0; i < count && status == MEMPOOLS_OK; i++) {
        void *ptr;
        mempools_handle_t at;
        status = pool->alloc(pool->ctx, (size_t)size, &ptr);
        if (status != MEMPOOLS_OK) break;
        memset(ptr, (int)(i & 0xff), (size_t)size);
        status = pool->handle_of(pool->ctx, ptr, &at);
        if (status != MEMPOOLS_OK) {
            pool->free(pool->ctx, ptr);
            break;
        }
        where[2 * i] = at.chunk;
        where[2 * i + 1] = (double)at.offset;
    }
    if (status != MEMPOOLS_OK) {
        while (i-- > 0) { /* nothing half made: the ones made so far go back */
            mempools_handle_t at = { (uint32_t)where[2 * i], (uint64_t)where[2 * i + 1] };
            void *ptr;
            if (pool->pointer_of(pool->ctx, at, &ptr) == MEMPOOLS_OK) pool->free(pool->ctx, ptr);
        }
        napi_throw(env, make_status_error(env, status));
        return NULL;
    }
    napi_create_double(env, (double)count, &made);
    return made;
}

static napi_value init(napi_env env, napi_value exports)
{
    const napi_property_descriptor functions[] = {
        { "tlsfChecksum", NULL, tlsf_checksum, NULL, NULL, NULL, napi_enumerable, NULL },
        { "heapChecksum", NULL, heap_checksum, NULL, NULL, NULL, napi_enumerable, NULL },
        { "fill", NULL, fill, NULL, NULL, NULL, napi_enumerable, NULL },
        { "free", NULL, free_block, NULL, NULL, NULL, napi_enumerable, NULL },
        { "results", NULL, results, NULL, NULL, NULL, napi_enumerable, NULL },
    };
    napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
