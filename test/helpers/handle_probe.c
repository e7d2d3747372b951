/*
 * handle_probe.c — drives a real pool's nativeHandle from threads of its own,
 * for test/consumer-addon.test.ts (what the example addon does not show):
 *
 * offThread(handle, size)        on a new thread: alloc, retain (+ release);
 *                                -> { alloc, retain, chunk, offset } (block kept)
 * startChurn(handle, count, size) a thread allocates `count` blocks, freeing
 *                                every other one as it goes; joinChurn() ->
 *                                { allocated, freed, failed }
 * startPinned(handle, size, byte) retain + alloc here, then a thread waits
 *                                for openGate(), writes the block, releases
 *                                -> { chunk, offset, address }
 * openGate()                     lets that thread go and joins it -> its status
 * onThisThread(handle, size)     every call once on the calling (JavaScript)
 *                                thread: alloc, usable_size, handle_of,
 *                                pointer_of, realloc, free, retain (+ release)
 *                                -> { alloc, usableSize, handleOf, pointerOf,
 *                                realloc, free, retain } (the block is freed)
 */
#include <node_api.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mempools.h"

static napi_status set_number(napi_env env, napi_value object, const char *name, double number)
{
    napi_value value;
    napi_status status = napi_create_double(env, number, &value);
    if (status != napi_ok) return status;
    return napi_set_named_property(env, object, name, value);
}

/* The pool and numeric arguments 1..n-1 of a call. */
static const mempools_pool_t *read_args(napi_env env, napi_callback_info info, double *numbers, size_t count)
{
    napi_value argv[4];
    size_t argc = 4, i;
    const mempools_pool_t *pool;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    if (argc < count + 1) {
        napi_throw_type_error(env, NULL, "too few arguments");
        return NULL;
    }
    if (mempools_pool_from_value(env, argv[0], &pool) != napi_ok) return NULL;
    for (i = 0; i < count; i++) napi_get_value_double(env, argv[i + 1], &numbers[i]);
    return pool;
}

/* ---- offThread -------------------------------------------------------------- */

typedef struct off_thread {
    const mempools_pool_t *pool;
    size_t size;
    int alloc, retain, located;
    mempools_handle_t where;
} off_thread_t;

static void *run_off_thread(void *data)
{
    off_thread_t *job = data;
    void *ptr = NULL;
    job->alloc = job->pool->alloc(job->pool->ctx, job->size, &ptr);
    if (job->alloc == MEMPOOLS_OK) job->located = job->pool->handle_of(job->pool->ctx, ptr, &job->where);
    job->retain = job->pool->retain(job->pool->ctx);
    if (job->retain == MEMPOOLS_OK) job->pool->release(job->pool->ctx);
    return NULL;
}

static napi_value off_thread(napi_env env, napi_callback_info info)
{
    double numbers[1];
    off_thread_t job = { 0 };
    pthread_t thread;
    napi_value result;
    job.pool = read_args(env, info, numbers, 1);
    if (job.pool == NULL) return NULL;
    job.size = (size_t)numbers[0];
    job.located = -1;
    pthread_create(&thread, NULL, run_off_thread, &job);
    pthread_join(thread, NULL);
    napi_create_object(env, &result);
    set_number(env, result, "alloc", job.alloc);
    set_number(env, result, "retain", job.retain);
    if (job.located == MEMPOOLS_OK) {
        set_number(env, result, "chunk", job.where.chunk);
        set_number(env, result, "offset", (double)job.where.offset);
    }
    return result;
}

/* ---- churn ------------------------------------------------------------------ */

/* Invariant: one churn at a time; `running` while its thread has not been joined. */
static struct churn {
    const mempools_pool_t *pool;
    size_t count, size, allocated, freed, failed;
    pthread_t thread;
    int running;
} churn;

static void *run_churn(void *data)
{
    struct churn *job = data;
    void *previous = NULL;
    size_t i;
    for (i = 0; i < job->count; i++) {
        void *ptr = NULL;
        if (job->pool->alloc(job->pool->ctx, job->size, &ptr) != MEMPOOLS_OK) {
            job->failed++;
            continue;
        }
        job->allocated++;
        memset(ptr, (int)(i & 0xff), job->size);
        if (previous != NULL) {
            if (job->pool->free(job->pool->ctx, previous) == MEMPOOLS_OK)
                job->freed++;
            else
                job->failed++;
            previous = NULL;
        } else {
            previous = ptr;
        }
    }
    return NULL;
}

static napi_value start_churn(napi_env env, napi_callback_info info)
{
    double numbers[2];
    const mempools_pool_t *pool = read_args(env, info, numbers, 2);
    if (pool == NULL) return NULL;
    if (churn.running) {
        napi_throw_error(env, NULL, "a churn is running");
        return NULL;
    }
    memset(&churn, 0, sizeof churn);
    churn.pool = pool;
    churn.count = (size_t)numbers[0];
    churn.size = (size_t)numbers[1];
    churn.running = pthread_create(&churn.thread, NULL, run_churn, &churn) == 0;
    return NULL;
}

static napi_value join_churn(napi_env env, napi_callback_info info)
{
    napi_value result;
    (void)info;
    if (churn.running) pthread_join(churn.thread, NULL);
    churn.running = 0;
    napi_create_object(env, &result);
    set_number(env, result, "allocated", (double)churn.allocated);
    set_number(env, result, "freed", (double)churn.freed);
    set_number(env, result, "failed", (double)churn.failed);
    return result;
}

/* ---- a pinned writer ---------------------------------------------------------- */

/* Invariant: while `waiting`, the thread holds a pin on `pool` and has not
 * touched `ptr`; openGate() clears `closed` and joins it. */
static struct pinned {
    const mempools_pool_t *pool;
    void *ptr;
    size_t size;
    unsigned char byte;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t opened;
    int closed, waiting;
} pinned = { .lock = PTHREAD_MUTEX_INITIALIZER, .opened = PTHREAD_COND_INITIALIZER };

static void *run_pinned(void *data)
{
    struct pinned *job = data;
    pthread_mutex_lock(&job->lock);
    while (job->closed) pthread_cond_wait(&job->opened, &job->lock);
    pthread_mutex_unlock(&job->lock);
    memset(job->ptr, job->byte, job->size); /* the pool may be destroyed by now: the pin keeps this mapped */
    job->pool->release(job->pool->ctx);
    return NULL;
}

static napi_value start_pinned(napi_env env, napi_callback_info info)
{
    double numbers[2];
    mempools_handle_t where;
    napi_value result;
    int status;
    const mempools_pool_t *pool = read_args(env, info, numbers, 2);
    if (pool == NULL) return NULL;
    if (pinned.waiting) {
        napi_throw_error(env, NULL, "a pinned writer is waiting");
        return NULL;
    }
    pinned.pool = pool;
    pinned.size = (size_t)numbers[0];
    pinned.byte = (unsigned char)numbers[1];
    status = pool->retain(pool->ctx);
    if (status == MEMPOOLS_OK) {
        status = pool->alloc(pool->ctx, pinned.size, &pinned.ptr);
        if (status == MEMPOOLS_OK) status = pool->handle_of(pool->ctx, pinned.ptr, &where);
        if (status != MEMPOOLS_OK) pool->release(pool->ctx);
    }
    if (status != MEMPOOLS_OK) {
        napi_throw_error(env, NULL, mempools_status_text(status));
        return NULL;
    }
    pinned.closed = 1;
    pinned.waiting = pthread_create(&pinned.thread, NULL, run_pinned, &pinned) == 0;
    napi_create_object(env, &result);
    set_number(env, result, "chunk", where.chunk);
    set_number(env, result, "offset", (double)where.offset);
    set_number(env, result, "address", (double)(uintptr_t)pinned.ptr);
    return result;
}

static napi_value open_gate(napi_env env, napi_callback_info info)
{
    napi_value result;
    (void)info;
    if (pinned.waiting) {
        pthread_mutex_lock(&pinned.lock);
        pinned.closed = 0;
        pthread_cond_signal(&pinned.opened);
        pthread_mutex_unlock(&pinned.lock);
        pthread_join(pinned.thread, NULL);
    }
    napi_get_boolean(env, pinned.waiting != 0, &result);
    pinned.waiting = 0;
    return result;
}

/* ---- onThisThread ------------------------------------------------------------ */

static napi_value on_this_thread(napi_env env, napi_callback_info info)
{
    double numbers[1];
    const mempools_pool_t *pool = read_args(env, info, numbers, 1);
    static char foreign[64]; /* a pointer no pool owns, when alloc fails */
    void *ptr = foreign, *moved = NULL;
    size_t usable = 0;
    mempools_handle_t where = { 0, 0 };
    napi_value result;
    if (pool == NULL) return NULL;
    int alloc = pool->alloc(pool->ctx, (size_t)numbers[0], &ptr);
    int usable_size = pool->usable_size(pool->ctx, ptr, &usable);
    int handle_of = pool->handle_of(pool->ctx, ptr, &where);
    int pointer_of = pool->pointer_of(pool->ctx, where, &moved);
    int realloc = pool->realloc(pool->ctx, ptr, (size_t)numbers[0] * 2, &moved);
    int freed = pool->free(pool->ctx, realloc == MEMPOOLS_OK ? moved : ptr);
    int retain = pool->retain(pool->ctx);
    if (retain == MEMPOOLS_OK) pool->release(pool->ctx);
    napi_create_object(env, &result);
    set_number(env, result, "alloc", alloc);
    set_number(env, result, "usableSize", usable_size);
    set_number(env, result, "handleOf", handle_of);
    set_number(env, result, "pointerOf", pointer_of);
    set_number(env, result, "realloc", realloc);
    set_number(env, result, "free", freed);
    set_number(env, result, "retain", retain);
    return result;
}

static napi_value init(napi_env env, napi_value exports)
{
    const napi_property_descriptor functions[] = {
        { "offThread", NULL, off_thread, NULL, NULL, NULL, napi_enumerable, NULL },
        { "startChurn", NULL, start_churn, NULL, NULL, NULL, napi_enumerable, NULL },
        { "joinChurn", NULL, join_churn, NULL, NULL, NULL, napi_enumerable, NULL },
        { "startPinned", NULL, start_pinned, NULL, NULL, NULL, napi_enumerable, NULL },
        { "openGate", NULL, open_gate, NULL, NULL, NULL, napi_enumerable, NULL },
        { "onThisThread", NULL, on_this_thread, NULL, NULL, NULL, napi_enumerable, NULL },
    };
    napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
