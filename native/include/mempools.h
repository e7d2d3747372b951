/*
 * mempools.h — the ABI through which another native addon allocates from a
 * live mempools pool that JavaScript created.
 *
 * Every pool object in JavaScript has `nativeHandle`: an N-API external,
 * type-tagged with MEMPOOLS_TYPE_TAG, whose data is a `const mempools_pool_t *`.
 * A consumer addon receives that external as an argument, checks the tag and
 * the ABI version (mempools_pool_from_value below does both and throws a
 * clear JavaScript error otherwise), and then calls the function pointers.
 *
 * Lifetime: the struct stays valid for as long as the external is reachable
 * (keep a napi_ref to it while you hold the pointer, e.g. across async work).
 * The pool behind it may be destroyed at any time from JavaScript: from then
 * on every call returns MEMPOOLS_ERR_DESTROYED and touches nothing. Memory
 * allocated before goes with the pool, unless it is pinned: retain() pins the
 * pool's memory (it fails with MEMPOOLS_ERR_DESTROYED once the pool is
 * destroyed); while a pin is held, destroy()/close() still fails every later
 * call, but unmaps the memory only at the last release() (or later, while
 * JavaScript views of it are reachable). So work on a worker thread does:
 * retain, use the memory, release (release may be called from any thread).
 *
 * A HeapPool that has a parent (a HeapPool or a SharedPool) cannot be pinned:
 * its retain() returns MEMPOOLS_ERR_UNSUPPORTED.
 *
 * Threads: a pool created with `threadSafe: true` (TlsfPool, HeapPool) takes
 * a lock in every call, from JavaScript and from here, and a SharedPool takes
 * its segment's allocator mutex, so any thread may call. Otherwise (the
 * default, and RegionPool) the calls are only valid on the JavaScript thread
 * that owns the pool; from another thread they return
 * MEMPOOLS_ERR_WRONG_THREAD and change nothing. release() is valid from any
 * thread. `flags & MEMPOOLS_FLAG_THREAD_SAFE` tells which.
 *
 * Whose blocks: TlsfPool and HeapPool let free/realloc/usable_size/handle_of/
 * pointer_of act only on blocks allocated through this struct (JavaScript's
 * own blocks, some of which it caches, are refused with MEMPOOLS_ERR_INVALID);
 * once JavaScript frees or reallocs such a block (after pool.viewOf) it is
 * JavaScript's. RegionPool and SharedPool accept any live block of the pool.
 *
 * Memory a consumer allocates can be viewed from JavaScript without a copy:
 * handle_of turns a pointer into (chunk, offset); hand those two numbers to
 * JavaScript and call `pool.viewOf({ chunk, offset }, length)`.
 *
 * Plain C, no dependency beyond <stddef.h>/<stdint.h>; the helper at the end
 * is compiled only where <node_api.h> was included first.
 */
#ifndef MEMPOOLS_H
#define MEMPOOLS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of mempools_pool_t. A consumer compiled
 * against version N accepts a pool whose abi_version is N. */
#define MEMPOOLS_ABI_VERSION 1

/* napi_type_tag of every nativeHandle external ({ lower, upper }). */
#define MEMPOOLS_TYPE_TAG_LOWER UINT64_C(0x6d656d706f6f6c73) /* "mempools" */
#define MEMPOOLS_TYPE_TAG_UPPER UINT64_C(0x9a1c3e5f7b2d4e61)

enum mempools_status {
    MEMPOOLS_OK = 0,
    MEMPOOLS_ERR_NOMEM = -1,        /* the pool cannot serve the request */
    MEMPOOLS_ERR_INVALID = -2,      /* not a live block of this pool (foreign, interior, freed) */
    MEMPOOLS_ERR_DESTROYED = -3,    /* the pool was destroyed or closed */
    MEMPOOLS_ERR_WRONG_THREAD = -4, /* not thread-safe, called off its JavaScript thread */
    MEMPOOLS_ERR_UNSUPPORTED = -5   /* this pool kind does not offer the call */
};

enum mempools_kind {
    MEMPOOLS_KIND_TLSF = 1,
    MEMPOOLS_KIND_REGION = 2,
    MEMPOOLS_KIND_HEAP = 3,
    MEMPOOLS_KIND_SHARED = 4
};

#define MEMPOOLS_FLAG_THREAD_SAFE 1u

/* Where an allocation lives, in the terms JavaScript uses: the chunk (a
 * TlsfPool region id, a HeapPool/RegionPool chunk id; 0 for a SharedPool,
 * whose one chunk is the segment's block area) and the byte offset in it. */
typedef struct mempools_handle {
    uint32_t chunk;
    uint64_t offset;
} mempools_handle_t;

/* One live pool as seen by other addons. Fields never change after the
 * external is made; `ctx` is opaque and only passed back. */
typedef struct mempools_pool {
    uint32_t abi_version; /* MEMPOOLS_ABI_VERSION of the pool's build */
    uint32_t struct_size; /* sizeof(mempools_pool_t) of the pool's build */
    uint32_t kind;        /* enum mempools_kind */
    uint32_t flags;       /* MEMPOOLS_FLAG_* */
    void *ctx;

    /* *out = size usable bytes (16-byte aligned for heap pools, 8 otherwise). */
    int (*alloc)(void *ctx, size_t size, void **out);
    /* Frees a live block (see "Whose blocks" above). */
    int (*free)(void *ctx, void *ptr);
    /* Keeps min(old, new) bytes; on failure *out is untouched and ptr stays valid. */
    int (*realloc)(void *ctx, void *ptr, size_t size, void **out);
    /* The usable size of a live block. */
    int (*usable_size)(void *ctx, const void *ptr, size_t *out);
    /* The (chunk, offset) of a live block, for pool.viewOf in JavaScript. */
    int (*handle_of)(void *ctx, const void *ptr, mempools_handle_t *out);
    /* The reverse: the address of the live block that starts at (chunk, offset). */
    int (*pointer_of)(void *ctx, mempools_handle_t handle, void **out);
    /* Pins the pool's memory (see Lifetime above); every retain needs one release. */
    int (*retain)(void *ctx);
    void (*release)(void *ctx);
} mempools_pool_t;

/* A status as text ("MEMPOOLS_ERR_DESTROYED: the pool was destroyed"). */
static inline const char *mempools_status_text(int status)
{
    switch (status) {
    case MEMPOOLS_OK:
        return "MEMPOOLS_OK";
    case MEMPOOLS_ERR_NOMEM:
        return "MEMPOOLS_ERR_NOMEM: the pool cannot serve the request";
    case MEMPOOLS_ERR_INVALID:
        return "MEMPOOLS_ERR_INVALID: not a live block of this pool";
    case MEMPOOLS_ERR_DESTROYED:
        return "MEMPOOLS_ERR_DESTROYED: the pool was destroyed";
    case MEMPOOLS_ERR_WRONG_THREAD:
        return "MEMPOOLS_ERR_WRONG_THREAD: the pool is not thread-safe and this is not its JavaScript thread";
    case MEMPOOLS_ERR_UNSUPPORTED:
        return "MEMPOOLS_ERR_UNSUPPORTED: this pool does not offer the call";
    default:
        return "mempools: unknown status";
    }
}

#if defined(NAPI_VERSION) && NAPI_VERSION >= 8
/* Checks that `value` is a mempools nativeHandle of this ABI version and
 * stores its pool in *out. On failure throws a JavaScript TypeError (code
 * ERR_MEMPOOLS_HANDLE) and returns napi_invalid_arg (or the failing call's
 * status). */
static inline napi_status mempools_pool_from_value(napi_env env, napi_value value, const mempools_pool_t **out)
{
    static const napi_type_tag tag = {MEMPOOLS_TYPE_TAG_LOWER, MEMPOOLS_TYPE_TAG_UPPER};
    napi_valuetype type;
    bool tagged = false;
    void *data = NULL;
    const mempools_pool_t *pool;
    napi_status status = napi_typeof(env, value, &type);
    if (status != napi_ok) return status;
    if (type == napi_external) {
        status = napi_check_object_type_tag(env, value, &tag, &tagged);
        if (status != napi_ok) return status;
    }
    if (!tagged) {
        napi_throw_type_error(env, "ERR_MEMPOOLS_HANDLE", "expected a mempools pool's nativeHandle");
        return napi_invalid_arg;
    }
    status = napi_get_value_external(env, value, &data);
    if (status != napi_ok) return status;
    pool = (const mempools_pool_t *)data;
    if (pool == NULL || pool->abi_version != MEMPOOLS_ABI_VERSION || pool->struct_size < sizeof(mempools_pool_t)) {
        napi_throw_type_error(env, "ERR_MEMPOOLS_HANDLE",
                              "the mempools nativeHandle has another ABI version than this addon was built for");
        return napi_invalid_arg;
    }
    *out = pool;
    return napi_ok;
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* MEMPOOLS_H */
