/*
 * fake_pool.c — a stand-in for a pool's nativeHandle (native/include/mempools.h),
 * for test/consumer-addon.test.ts: a bump allocator over one malloc'd area,
 * behind a type-tagged external exactly as the header describes. The real
 * pools cannot make a handle of another ABI version, so this is what checks
 * mempools_pool_from_value's version test (and the consumer against a
 * minimal, independent implementation of the ABI).
 *
 * makeHandle({ size, threadSafe, abiVersion }) -> nativeHandle
 * destroy(handle)             every later call returns MEMPOOLS_ERR_DESTROYED
 * stats(handle)               { live, used, workerAllocs }
 * read(handle, offset, size)  a copy of the bytes (what viewOf will show)
 */
#include <node_api.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mempools.h"

/* Invariant: blocks are [area, area + used), 8-aligned; `live` counts those
 * not freed; with `locked`, `lock` guards every field below it. */
typedef struct fake_pool {
    mempools_pool_t api; /* first: the external's data points here */
    int locked;
    pthread_mutex_t lock;
    pthread_t js_thread;
    unsigned char *area;
    size_t size, used, live, worker_allocs;
    int destroyed;
} fake_pool_t;

static void enter(fake_pool_t *pool)
{
    if (pool->locked) pthread_mutex_lock(&pool->lock);
}

static void leave(fake_pool_t *pool)
{
    if (pool->locked) pthread_mutex_unlock(&pool->lock);
}

/* MEMPOOLS_OK when the call may go on (lock held when thread-safe). */
static int begin_call(fake_pool_t *pool)
{
    if (!pool->locked && !pthread_equal(pthread_self(), pool->js_thread)) return MEMPOOLS_ERR_WRONG_THREAD;
    enter(pool);
    if (pool->destroyed) {
        leave(pool);
        return MEMPOOLS_ERR_DESTROYED;
    }
    return MEMPOOLS_OK;
}

static int fake_alloc(void *ctx, size_t size, void **out)
{
    fake_pool_t *pool = ctx;
    size_t rounded = (size + 7) & ~(size_t)7;
    int status = begin_call(pool);
    if (status != MEMPOOLS_OK) return status;
    if (rounded < size || rounded > pool->size - pool->used) {
        status = MEMPOOLS_ERR_NOMEM;
    } else {
        *out = pool->area + pool->used;
        pool->used += rounded;
        pool->live++;
        if (!pthread_equal(pthread_self(), pool->js_thread)) pool->worker_allocs++;
    }
    leave(pool);
    return status;
}

static int fake_free(void *ctx, void *ptr)
{
    fake_pool_t *pool = ctx;
    const unsigned char *p = ptr;
    int status = begin_call(pool);
    if (status != MEMPOOLS_OK) return status;
    if (p < pool->area || p >= pool->area + pool->used || pool->live == 0)
        status = MEMPOOLS_ERR_INVALID;
    else
        pool->live--;
    leave(pool);
    return status;
}

static int fake_realloc(void *ctx, void *ptr, size_t size, void **out)
{
    (void)ctx, (void)ptr, (void)size, (void)out;
    return MEMPOOLS_ERR_UNSUPPORTED;
}

static int fake_usable_size(void *ctx, const void *ptr, size_t *out)
{
    (void)ctx, (void)ptr, (void)out;
    return MEMPOOLS_ERR_UNSUPPORTED;
}

static int fake_handle_of(void *ctx, const void *ptr, mempools_handle_t *out)
{
    fake_pool_t *pool = ctx;
    const unsigned char *p = ptr;
    int status = begin_call(pool);
    if (status != MEMPOOLS_OK) return status;
    if (p < pool->area || p >= pool->area + pool->used) {
        status = MEMPOOLS_ERR_INVALID;
    } else {
        out->chunk = 0;
        out->offset = (uint64_t)(p - pool->area);
    }
    leave(pool);
    return status;
}

static int fake_pointer_of(void *ctx, mempools_handle_t where, void **out)
{
    fake_pool_t *pool = ctx;
    int status = begin_call(pool);
    if (status != MEMPOOLS_OK) return status;
    if (where.chunk != 0 || where.offset >= pool->used || pool->live == 0)
        status = MEMPOOLS_ERR_INVALID;
    else
        *out = pool->area + where.offset;
    leave(pool);
    return status;
}

/* Pins are not needed here: destroy() never frees the area (the finalizer does). */
static int fake_retain(void *ctx)
{
    int status = begin_call(ctx);
    if (status == MEMPOOLS_OK) leave(ctx);
    return status;
}
static void fake_release(void *ctx) { (void)ctx; }

static void finalize_pool(napi_env env, void *data, void *hint)
{
    fake_pool_t *pool = data;
    (void)env, (void)hint;
    if (pool->locked) pthread_mutex_destroy(&pool->lock);
    free(pool->area);
    free(pool);
}

static double get_number(napi_env env, napi_value object, const char *name, double fallback)
{
    napi_value value;
    napi_valuetype type;
    double number = fallback;
    if (napi_typeof(env, object, &type) != napi_ok || type != napi_object) return fallback;
    if (napi_get_named_property(env, object, name, &value) == napi_ok && napi_typeof(env, value, &type) == napi_ok) {
        if (type == napi_number) napi_get_value_double(env, value, &number);
        if (type == napi_boolean) {
            bool flag;
            napi_get_value_bool(env, value, &flag);
            number = flag;
        }
    }
    return number;
}

static napi_value make_handle(napi_env env, napi_callback_info info)
{
    static const napi_type_tag tag = { MEMPOOLS_TYPE_TAG_LOWER, MEMPOOLS_TYPE_TAG_UPPER };
    size_t argc = 1;
    napi_value options = NULL, handle;
    fake_pool_t *pool = calloc(1, sizeof *pool);
    napi_get_cb_info(env, info, &argc, &options, NULL, NULL);
    if (pool == NULL) return NULL;
    if (argc == 0) napi_get_undefined(env, &options);
    pool->size = (size_t)get_number(env, options, "size", 65536);
    pool->area = malloc(pool->size > 0 ? pool->size : 1);
    pool->locked = get_number(env, options, "threadSafe", 0) != 0;
    if (pool->locked) pthread_mutex_init(&pool->lock, NULL);
    pool->js_thread = pthread_self();
    pool->api.abi_version = (uint32_t)get_number(env, options, "abiVersion", MEMPOOLS_ABI_VERSION);
    pool->api.struct_size = sizeof(mempools_pool_t);
    pool->api.kind = MEMPOOLS_KIND_TLSF;
    pool->api.flags = pool->locked ? MEMPOOLS_FLAG_THREAD_SAFE : 0;
    pool->api.ctx = pool;
    pool->api.alloc = fake_alloc;
    pool->api.free = fake_free;
    pool->api.realloc = fake_realloc;
    pool->api.usable_size = fake_usable_size;
    pool->api.handle_of = fake_handle_of;
    pool->api.pointer_of = fake_pointer_of;
    pool->api.retain = fake_retain;
    pool->api.release = fake_release;
    napi_create_external(env, &pool->api, finalize_pool, NULL, &handle);
    napi_type_tag_object(env, handle, &tag);
    return handle;
}

static fake_pool_t *pool_of(napi_env env, napi_callback_info info, napi_value *argv, size_t want)
{
    size_t argc = want;
    const mempools_pool_t *api;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (mempools_pool_from_value(env, argv[0], &api) != napi_ok) return NULL;
    return api->ctx;
}

static napi_value destroy(napi_env env, napi_callback_info info)
{
    napi_value argv[1];
    fake_pool_t *pool = pool_of(env, info, argv, 1);
    if (pool == NULL) return NULL;
    enter(pool);
    pool->destroyed = 1;
    leave(pool);
    return NULL;
}

static napi_value stats(napi_env env, napi_callback_info info)
{
    napi_value argv[1], result, value;
    fake_pool_t *pool = pool_of(env, info, argv, 1);
    if (pool == NULL) return NULL;
    napi_create_object(env, &result);
    enter(pool);
    napi_create_double(env, (double)pool->live, &value);
    napi_set_named_property(env, result, "live", value);
    napi_create_double(env, (double)pool->used, &value);
    napi_set_named_property(env, result, "used", value);
    napi_create_double(env, (double)pool->worker_allocs, &value);
    napi_set_named_property(env, result, "workerAllocs", value);
    leave(pool);
    return result;
}

static napi_value read_bytes(napi_env env, napi_callback_info info)
{
    napi_value argv[3], buffer;
    double offset, size;
    void *data;
    fake_pool_t *pool = pool_of(env, info, argv, 3);
    if (pool == NULL) return NULL;
    napi_get_value_double(env, argv[1], &offset);
    napi_get_value_double(env, argv[2], &size);
    if (offset < 0 || size < 0 || offset + size > (double)pool->used) {
        napi_throw_range_error(env, NULL, "outside the allocated area");
        return NULL;
    }
    napi_create_buffer(env, (size_t)size, &data, &buffer);
    memcpy(data, pool->area + (size_t)offset, (size_t)size);
    return buffer;
}

static napi_value init(napi_env env, napi_value exports)
{
    const napi_property_descriptor functions[] = {
        { "makeHandle", NULL, make_handle, NULL, NULL, NULL, napi_enumerable, NULL },
        { "destroy", NULL, destroy, NULL, NULL, NULL, napi_enumerable, NULL },
        { "stats", NULL, stats, NULL, NULL, NULL, napi_enumerable, NULL },
        { "read", NULL, read_bytes, NULL, NULL, NULL, napi_enumerable, NULL },
    };
    napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
