/*
 * fuzz_heap_pool.c — libFuzzer harness for native/alloc/heap_pool.c.
 *
 * A family of up to MAX_POOLS heap pools (a root and children, any shape) on
 * a memory source that checks every unmap against its maps, refuses maps past
 * a budget and fails on demand. The input is a program of ops: malloc / calloc
 * / realloc / realloc_into / free by pointer or by handle, misuse (double,
 * interior, foreign, wild, other-pool frees and reallocs), children created
 * and destroyed (with their subtrees), trim, capacity and failure injection.
 * Every block handed out is checked against the shadow model (fuzz_common.h);
 * after every op heap_pool_check must pass for every pool and each pool's
 * allocations must match the model. A rejected call must change nothing.
 */
#include "fuzz_common.h"
#include "heap_pool.h"

#define MAX_POOLS 5
#define MAP_BUDGET ((size_t)96 << 20)
#define BIG ((size_t)3 << 20) /* requests up to here: class blocks and large blocks */

typedef struct source {
    fz_maps_t maps; /* with budget MAP_BUDGET */
    size_t chunks_notified;
    unsigned destroyed;
} source_t;

typedef struct state {
    source_t src;
    heap_pool_memory_t mem;
    heap_pool_t *pool[MAX_POOLS];
    int parent[MAX_POOLS]; /* index, -1 for the root */
    fz_shadow_t s;
    fz_freed_t freed;
    unsigned char foreign[64];
} state_t;

static void *src_map(void *ctx, size_t bytes, size_t align) { return fz_map(&((source_t *)ctx)->maps, bytes, align); }

static void src_unmap(void *ctx, void *p, size_t bytes) { fz_unmap(&((source_t *)ctx)->maps, p, bytes); }

static void src_on_chunk(void *ctx, uint32_t id, void *base, size_t bytes, int created)
{
    source_t *s = ctx;
    (void)id;
    if (!base || !bytes) FZ_FAIL("on_chunk with no memory");
    if (created)
        s->chunks_notified++;
    else if (!s->chunks_notified--)
        FZ_FAIL("on_chunk release without a creation");
}

static void src_on_destroy(void *ctx, heap_pool_t *pool)
{
    (void)pool;
    ((source_t *)ctx)->destroyed++;
}

/* ---- checks ---------------------------------------------------------------------- */

static size_t model_allocations(const state_t *st, int pool)
{
    size_t n = 0;
    for (int i = 0; i < FZ_SLOTS; i++) n += st->s.b[i].p && st->s.b[i].owner == pool;
    return n;
}

static void check_all(state_t *st)
{
    for (int i = 0; i < MAX_POOLS; i++) {
        if (!st->pool[i]) continue;
        const char *why = NULL;
        if (heap_pool_check(st->pool[i], &why) != HEAP_POOL_OK)
            FZ_FAIL("heap_pool_check(pool %d): %s", i, why ? why : "?");
        heap_pool_stats_t stats;
        heap_pool_get_stats(st->pool[i], &stats);
        if (stats.allocations != model_allocations(st, i))
            FZ_FAIL("pool %d: %zu allocations, model %zu", i, stats.allocations, model_allocations(st, i));
    }
}

typedef struct snapshot {
    heap_pool_stats_t stats[MAX_POOLS];
} snapshot_t;

static void snap(const state_t *st, snapshot_t *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < MAX_POOLS; i++)
        if (st->pool[i]) heap_pool_get_stats(st->pool[i], &s->stats[i]);
}

/* Nothing a rejected call could change has changed. */
static void same_as(const state_t *st, const snapshot_t *before, const char *what)
{
    snapshot_t now;
    snap(st, &now);
    for (int i = 0; i < MAX_POOLS; i++) {
        const heap_pool_stats_t *a = &before->stats[i], *b = &now.stats[i];
        if (a->used != b->used || a->allocations != b->allocations || a->reserved != b->reserved ||
            a->class_chunks != b->class_chunks || a->large_blocks != b->large_blocks ||
            a->failed_allocations != b->failed_allocations)
            FZ_FAIL("%s changed pool %d's stats", what, i);
    }
}

/* ---- blocks ------------------------------------------------------------------------- */

static void took(state_t *st, int pool, const heap_pool_ref_t *r, size_t size, int zeroed, uint8_t seed)
{
    heap_pool_t *p = st->pool[pool];
    if ((uintptr_t)r->ptr % HEAP_POOL_ALIGNMENT) FZ_FAIL("block %p not 16-aligned", r->ptr);
    if (r->size < size) FZ_FAIL("usable size %zu < requested %zu", r->size, size);
    size_t usable = 0;
    if (heap_pool_state_at(p, r->chunk, r->offset, &usable) != HEAP_POOL_OK || usable != r->size)
        FZ_FAIL("state_at of a fresh block");
    if (heap_pool_usable_size(p, r->ptr) != r->size) FZ_FAIL("usable_size of a fresh block");
    heap_pool_chunk_info_t info;
    if (heap_pool_chunk_info(p, r->chunk, &info) != HEAP_POOL_OK || (unsigned char *)info.base + r->offset != r->ptr ||
        r->offset > info.bytes || r->size > info.bytes - r->offset)
        FZ_FAIL("block (%u, %zu) not inside its chunk", r->chunk, r->offset);
    int slot = fz_free_slot(&st->s);
    if (slot < 0) {
        if (heap_pool_free_at(p, r->chunk, r->offset) != HEAP_POOL_OK) FZ_FAIL("free of a fresh block failed");
        return;
    }
    fz_block_t b = {.p = r->ptr, .size = r->size, .seed = seed, .chunk = r->chunk, .offset = r->offset, .owner = pool};
    fz_add(&st->s, slot, b, zeroed ? size : 0);
}

static void gave_back(state_t *st, int slot)
{
    fz_block_t b = st->s.b[slot];
    fz_remove(&st->s, slot);
    fz_remember_freed(&st->freed, &b);
}

static void do_free(state_t *st, int slot, int by_handle)
{
    fz_block_t *b = &st->s.b[slot];
    fz_verify(b);
    heap_pool_t *p = st->pool[b->owner];
    int rc = by_handle ? heap_pool_free_at(p, b->chunk, b->offset) : heap_pool_free(p, b->p);
    if (rc != HEAP_POOL_OK) FZ_FAIL("free of a live block: %d", rc);
    gave_back(st, slot);
}

/* realloc of slot's block into pool `dst` (its own pool: plain realloc). */
static void do_realloc(state_t *st, int slot, int dst, size_t size, int by_handle)
{
    fz_block_t b = st->s.b[slot];
    fz_verify(&b);
    heap_pool_t *src = st->pool[b.owner], *to = st->pool[dst];
    snapshot_t before;
    snap(st, &before);
    heap_pool_ref_t r = {0};
    int rc;
    if (by_handle) {
        rc = dst == b.owner ? heap_pool_realloc_at(src, b.chunk, b.offset, size, &r)
                            : heap_pool_realloc_at_into(to, src, b.chunk, b.offset, size, &r);
    } else {
        void *out = NULL;
        rc =
            dst == b.owner ? heap_pool_realloc(src, b.p, size, &out) : heap_pool_realloc_into(to, src, b.p, size, &out);
        if (rc == HEAP_POOL_OK && out) {
            if (heap_pool_locate(to, out, &r) != HEAP_POOL_OK) FZ_FAIL("realloc gave a pointer its pool cannot locate");
            r.ptr = out;
            r.size = heap_pool_usable_size(to, out);
        } else if (rc == HEAP_POOL_OK) {
            r.ptr = NULL;
        }
    }
    if (rc != HEAP_POOL_OK) {
        if (rc != HEAP_POOL_ERR_NOMEM) FZ_FAIL("realloc of a live block: %d", rc);
        fz_verify(&b);
        snapshot_t now;
        snap(st, &now);
        for (int i = 0; i < MAX_POOLS; i++)
            if (now.stats[i].used != before.stats[i].used || now.stats[i].allocations != before.stats[i].allocations)
                FZ_FAIL("failed realloc changed pool %d", i);
        return;
    }
    fz_remove(&st->s, slot);
    if (!r.ptr) {
        if (size != 0) FZ_FAIL("realloc to %zu gave no block", size);
        fz_remember_freed(&st->freed, &b);
        return;
    }
    fz_verify_prefix(&b, r.ptr, size < b.size ? size : b.size);
    if (r.ptr != b.p) fz_remember_freed(&st->freed, &b);
    took(st, dst, &r, size, 0, b.seed);
}

/* p (in no live block's start of pool `pool`) must be refused, changing nothing. */
static void misuse(state_t *st, int pool, void *p, uint8_t how)
{
    heap_pool_t *hp = st->pool[pool];
    snapshot_t before;
    snap(st, &before);
    int rc;
    heap_pool_ref_t where;
    switch (how % 4) {
    case 0:
        rc = heap_pool_free(hp, p);
        break;
    case 1: {
        void *out = NULL;
        rc = heap_pool_realloc(hp, p, 64, &out);
        break;
    }
    case 2:
        rc = heap_pool_locate(hp, p, &where);
        if (rc == HEAP_POOL_OK) rc = heap_pool_free_at(hp, where.chunk, where.offset);
        break;
    default:
        rc = heap_pool_locate(hp, p, &where);
        if (rc == HEAP_POOL_OK) rc = heap_pool_state_at(hp, where.chunk, where.offset, NULL);
        break;
    }
    if (rc != HEAP_POOL_ERR_FOREIGN && rc != HEAP_POOL_ERR_DOUBLE_FREE)
        FZ_FAIL("misuse of %p in pool %d (kind %d) returned %d", p, pool, how % 4, rc);
    if (heap_pool_usable_size(hp, p) != 0) FZ_FAIL("usable size of a non-block is not 0");
    same_as(st, &before, "a rejected misuse");
}

/* ---- pools ---------------------------------------------------------------------------- */

static int in_subtree(const state_t *st, int i, int top)
{
    for (; i >= 0; i = st->parent[i])
        if (i == top) return 1;
    return 0;
}

static void destroy_pool(state_t *st, int top)
{
    unsigned n = 0;
    for (int i = 0; i < MAX_POOLS; i++) n += st->pool[i] && in_subtree(st, i, top);
    for (int i = 0; i < FZ_SLOTS; i++)
        if (st->s.b[i].p && in_subtree(st, st->s.b[i].owner, top)) {
            fz_verify(&st->s.b[i]);
            fz_remove(&st->s, i);
        }
    unsigned before = st->src.destroyed;
    heap_pool_destroy(st->pool[top]);
    if (st->src.destroyed - before != n)
        FZ_FAIL("destroy: %u on_destroy calls for %u pools", st->src.destroyed - before, n);
    for (int i = MAX_POOLS - 1; i >= 0; i--)
        if (st->pool[i] && in_subtree(st, i, top)) st->pool[i] = NULL;
    /* the freed ring may now hold addresses of unmapped chunks: forget it */
    memset(&st->freed, 0, sizeof st->freed);
}

static int create_pool(state_t *st, int parent, size_t capacity, size_t page)
{
    int slot = -1;
    for (int i = 0; i < MAX_POOLS && slot < 0; i++)
        if (!st->pool[i]) slot = i;
    if (slot < 0) return -1;
    heap_pool_options_t o = {capacity, page, parent >= 0 ? st->pool[parent] : NULL, &st->mem};
    int valid_page = page == 0 || (page >= 16 && page <= ((size_t)64 << 10) && !(page & (page - 1)));
    heap_pool_t *p = NULL;
    int rc = heap_pool_create(&o, &p);
    if (!valid_page) {
        if (rc != HEAP_POOL_ERR_INVALID || p) FZ_FAIL("create with page size %zu: %d", page, rc);
        return -1;
    }
    if (rc != HEAP_POOL_OK) FZ_FAIL("create: %d", rc);
    st->pool[slot] = p;
    st->parent[slot] = parent;
    return slot;
}

static int pick_pool(const state_t *st, uint8_t b)
{
    for (int k = 0; k < MAX_POOLS; k++) {
        int i = (b + k) % MAX_POOLS;
        if (st->pool[i]) return i;
    }
    return -1;
}

/* ---- the interpreter ------------------------------------------------------------------- */

static void run(state_t *st, fz_in_t *in)
{
    for (unsigned ops = 0; fz_more(in) && ops < 2048; ops++) {
        uint8_t op = fz_u8(in);
        int pool = pick_pool(st, fz_u8(in));
        if (pool < 0) { /* every pool destroyed: a new root */
            create_pool(st, -1, 0, 0);
            continue;
        }
        heap_pool_t *p = st->pool[pool];
        if (op >= 0xf8) { /* rare: a stale view writes into chunk memory no live block holds */
            uint32_t limit = heap_pool_chunk_limit(p);
            uint32_t id = limit ? fz_u16(in) % limit : 0;
            size_t off = fz_u32(in);
            heap_pool_chunk_info_t info;
            if (heap_pool_chunk_info(p, id, &info) == HEAP_POOL_OK) {
                off %= info.bytes;
                fz_scribble_unowned(&st->s, (unsigned char *)info.base + off, info.bytes - off, in);
            }
            check_all(st);
            continue;
        }
        switch (op % 16) {
        case 0: { /* malloc, by pointer or by handle (maybe zeroed) */
            size_t size = fz_size(in, BIG);
            uint8_t how = fz_u8(in);
            heap_pool_ref_t r = {0};
            int rc;
            if (how & 1) {
                rc = heap_pool_alloc_ref(p, size, (how & 2) ? HEAP_POOL_ZERO : 0, &r);
            } else {
                r.ptr = heap_pool_malloc(p, size);
                rc = r.ptr ? heap_pool_locate(p, r.ptr, &r) : HEAP_POOL_ERR_NOMEM;
                r.size = heap_pool_usable_size(p, r.ptr);
            }
            if (rc == HEAP_POOL_OK)
                took(st, pool, &r, size, (how & 3) == 3, fz_u8(in));
            else if (rc != HEAP_POOL_ERR_NOMEM)
                FZ_FAIL("alloc(%zu): %d", size, rc);
            break;
        }
        case 1: { /* calloc: count * size may overflow */
            size_t count = fz_u8(in) % 33u;
            size_t size = fz_size(in, BIG / 8);
            int overflow = count && size > SIZE_MAX / count;
            heap_pool_ref_t r = {0};
            int rc = heap_pool_calloc_ref(p, count, size, &r);
            if (overflow && rc != HEAP_POOL_ERR_RANGE) FZ_FAIL("calloc overflow: %d", rc);
            if (rc == HEAP_POOL_OK)
                took(st, pool, &r, count * size, 1, fz_u8(in));
            else if (!overflow && rc != HEAP_POOL_ERR_NOMEM)
                FZ_FAIL("calloc: %d", rc);
            break;
        }
        case 2:
        case 3: { /* realloc (op 3: into another pool of the family) */
            int slot = fz_pick_live(&st->s, fz_u8(in));
            size_t size = fz_size(in, BIG);
            uint8_t how = fz_u8(in);
            if (slot < 0) break;
            int dst = op % 16 == 3 ? pick_pool(st, how >> 1) : st->s.b[slot].owner;
            do_realloc(st, slot, dst, size, how & 1);
            break;
        }
        case 4: { /* free */
            int slot = fz_pick_live(&st->s, fz_u8(in));
            uint8_t how = fz_u8(in);
            if (slot >= 0) do_free(st, slot, how & 1);
            break;
        }
        case 5: { /* double free (or realloc) of a freed block, in its own pool */
            const fz_block_t *b = fz_pick_freed(&st->freed, fz_u8(in));
            uint8_t how = fz_u8(in);
            if (b && st->pool[b->owner] && fz_find(&st->s, b->p) < 0) misuse(st, b->owner, b->p, how);
            break;
        }
        case 6: { /* interior pointer */
            int slot = fz_pick_live(&st->s, fz_u8(in));
            size_t k = fz_u32(in);
            uint8_t how = fz_u8(in);
            if (slot < 0 || st->s.b[slot].size < 2) break;
            fz_block_t *b = &st->s.b[slot];
            misuse(st, b->owner, b->p + 1 + k % (b->size - 1), how);
            fz_verify(b);
            break;
        }
        case 7: { /* a live block freed through another pool of the family */
            int slot = fz_pick_live(&st->s, fz_u8(in));
            uint8_t how = fz_u8(in);
            if (slot < 0 || st->s.b[slot].owner == pool) break;
            misuse(st, pool, st->s.b[slot].p, how);
            fz_verify(&st->s.b[slot]);
            break;
        }
        case 8: { /* a child of `pool` */
            uint8_t c = fz_u8(in);
            size_t capacity = (c & 1) ? (size_t)fz_u16(in) << 8 : 0;
            size_t page = 0;
            if (c & 2) {
                static const size_t pages[] = {16, 4096, 65536, 8, 24, (size_t)128 << 10};
                page = pages[(c >> 2) % 6];
            }
            create_pool(st, pool, capacity, page);
            break;
        }
        case 9: /* destroy a pool and its subtree */
            destroy_pool(st, pool);
            break;
        case 10: {
            heap_pool_stats_t a, b;
            heap_pool_get_stats(p, &a);
            size_t released = heap_pool_trim(p);
            heap_pool_get_stats(p, &b);
            if (b.spare_chunks != 0 || b.used != a.used || a.reserved - b.reserved != released)
                FZ_FAIL("trim: %zu released, reserved %zu -> %zu", released, a.reserved, b.reserved);
            break;
        }
        case 11: /* the source fails the next maps */
            st->src.maps.fail_next = fz_u8(in) % 4u;
            break;
        case 12: { /* foreign pointers */
            uint8_t k = fz_u8(in);
            misuse(st, pool, st->foreign + k % sizeof st->foreign, k >> 6);
            break;
        }
        case 13: { /* wild pointer into one of the pool's chunks */
            uint32_t limit = heap_pool_chunk_limit(p);
            uint32_t id = limit ? fz_u16(in) % limit : 0;
            size_t off = fz_u32(in);
            uint8_t how = fz_u8(in);
            heap_pool_chunk_info_t info;
            if (heap_pool_chunk_info(p, id, &info) != HEAP_POOL_OK) break;
            unsigned char *q = (unsigned char *)info.base + off % info.bytes;
            int slot = fz_find(&st->s, q);
            if (slot >= 0 && st->s.b[slot].owner == pool)
                do_free(st, slot, how & 1);
            else if (slot < 0)
                misuse(st, pool, q, how);
            break;
        }
        case 14: { /* bad handles */
            uint32_t chunk = fz_u32(in);
            size_t off = fz_u32(in);
            heap_pool_chunk_info_t info;
            if (heap_pool_chunk_info(p, chunk, &info) == HEAP_POOL_OK) break;
            snapshot_t before;
            snap(st, &before);
            if (heap_pool_free_at(p, chunk, off) != HEAP_POOL_ERR_FOREIGN) FZ_FAIL("free_at of an unknown chunk");
            heap_pool_ref_t r;
            if (heap_pool_realloc_at(p, chunk, off, 8, &r) != HEAP_POOL_ERR_FOREIGN)
                FZ_FAIL("realloc_at of an unknown chunk");
            same_as(st, &before, "a bad handle");
            break;
        }
        default: { /* every live block is live for its pool */
            for (int i = 0; i < FZ_SLOTS; i++) {
                const fz_block_t *b = &st->s.b[i];
                size_t usable = 0;
                if (b->p && (heap_pool_state_at(st->pool[b->owner], b->chunk, b->offset, &usable) != HEAP_POOL_OK ||
                             usable != b->size))
                    FZ_FAIL("live block (%u, %zu) not live", b->chunk, b->offset);
            }
            break;
        }
        }
        check_all(st);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in_t in = {data, size, 0};
    state_t *st = calloc(1, sizeof *st);
    FZ_ASSERT(st);
    st->src.maps.budget = MAP_BUDGET;
    st->mem = (heap_pool_memory_t){src_map, src_unmap, src_on_chunk, src_on_destroy, &st->src};
    uint8_t setup = fz_u8(&in);
    size_t capacity = (setup & 1) ? (size_t)fz_u16(&in) << 10 : 0;
    static const size_t pages[] = {0, 16, 4096, 65536};
    if (create_pool(st, -1, capacity, pages[(setup >> 1) % 4]) != 0) FZ_FAIL("root pool");
    check_all(st);

    run(st, &in);

    for (int i = 0; i < MAX_POOLS; i++)
        if (st->pool[i] && st->parent[i] < 0) destroy_pool(st, i);
    if (st->src.maps.mapped || st->src.chunks_notified)
        FZ_FAIL("%zu bytes still mapped after destroy", st->src.maps.mapped);
    free(st);
    return 0;
}
