/*
 * fuzz_shm_pool.c — libFuzzer harness for native/alloc/shm_pool.c (and the
 * TLSF inside its segments), in two modes chosen by the first input byte:
 *
 *   even: DAMAGE BEFORE ATTACH. A valid anonymous (memfd) segment is built and
 *         used a little (blocks, a root, a lent chunk, a park list), then the
 *         input overwrites bytes of it, then shm_pool_from_fd attaches a second
 *         handle (validation + repair), shm_pool_check runs and a few ops follow.
 *         Every outcome is allowed except a crash, a hang, a sanitizer report,
 *         or memory handed out outside the mapping. With no damage, attach and
 *         check must succeed.
 *   odd:  A PEER WRITING AFTER ATTACH. Two handles on one segment (creator and
 *         attacher, as two processes would have) run allocator ops; one op kind
 *         writes input bytes at an input-chosen offset of the mapping, as a
 *         buggy or hostile peer could. Until the first such write the shadow
 *         model (fuzz_common.h) is strict: every block is checked, misuse must
 *         be refused, shm_pool_check must pass after every op. After it, only
 *         "never crash, never hand out memory outside the mapping" holds.
 *
 * Only shm_pool.h's API is used; the lock is not touched beyond it.
 */
#include "fuzz_common.h"
#include "heap_pool.h"
#include "shm_cache.h"
#include "shm_pool.h"

#include <pthread.h>
#include <unistd.h>



#define MAGIC_BYTES 8
/* Lock words a peer wrote may name a live process that never lets go (this
 * one, pid 1): every handle gives up after this long (SHM_POOL_ERR_TIMEOUT). */
#define LOCK_TIMEOUT_MS 1

/* Write n bytes at off of the mapping, as a peer would (after attach), or as
 * damage before an attach: anywhere, lock words and header included. */
static void peer_write(unsigned char *base, size_t size, size_t off, const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n && off + i < size; i++) base[off + i] = bytes[i];
}

static int known_status(int rc)
{
    return rc == SHM_POOL_OK || rc == SHM_POOL_ERR_INVALID || rc == SHM_POOL_ERR_SYSTEM ||
           rc == SHM_POOL_ERR_CORRUPTED || rc == SHM_POOL_ERR_NOMEM || rc == SHM_POOL_ERR_FOREIGN ||
           rc == SHM_POOL_ERR_DOUBLE_FREE || rc == SHM_POOL_ERR_NOT_FOUND || rc == SHM_POOL_ERR_FULL ||
           rc == SHM_POOL_ERR_LENT || rc == SHM_POOL_OWNER_DIED || rc == SHM_POOL_NOT_EQUAL || rc == SHM_POOL_TIMED_OUT ||
           rc == SHM_POOL_ERR_NOT_SEGMENT || rc == SHM_POOL_ERR_TIMEOUT || rc == SHM_POOL_ERR_BUSY;
}

#define KIND_BLOCK 0
#define KIND_LENT 1
#define KIND_PARK 2
#define KIND_HEAP 3 /* a block of the heap pool whose chunks the segment lends */
#define KIND_CACHE 4 /* a block a handle's shm_cache handed out */

typedef struct state {
    shm_pool_t *h[2]; /* h[0] created the segment, h[1] attached to it */
    unsigned char *base[2];
    size_t size;
    uint64_t area_off;
    size_t area_size;
    int strict;      /* no damage yet: the model holds */
    fz_shadow_t s;   /* .offset = segment offset, .owner = KIND_* */
    fz_freed_t freed;
    heap_pool_t *heap; /* on h[heap_k] (shm_pool_map_chunk), or NULL */
    int heap_k;
    heap_pool_memory_t heap_mem;
    shm_cache_t *cache[2]; /* a cache of parked blocks over h[k] (mode odd), or NULL */
} state_t;

/* Blocks the caches hold (parked, and their park lists): live in the segment, not in the model. */
static size_t cached_blocks(const state_t *st)
{
    size_t n = 0;
    for (int k = 0; k < 2; k++) {
        shm_cache_stats_t c;
        shm_cache_stats(st->cache[k], &c);
        n += c.blocks + (c.list ? 1 : 0);
    }
    return n;
}

/* Is `off` a block a cache holds (parked, or its park list)? */
static int held_by_cache(const state_t *st, uint64_t off)
{
    for (int k = 0; k < 2; k++) {
        shm_cache_stats_t c;
        shm_cache_stats(st->cache[k], &c);
        if (shm_cache_is_parked(st->cache[k], off) || (c.list && c.list == off)) return 1;
    }
    return 0;
}

static size_t count_kind(const state_t *st, int kind)
{
    size_t n = 0;
    for (int i = 0; i < FZ_SLOTS; i++) n += st->s.b[i].p && st->s.b[i].owner == kind;
    return n;
}

/* [off, off + n) of handle k's mapping, or a finding if it is not inside. */
static unsigned char *inside(const state_t *st, int k, uint64_t off, size_t n, const char *what)
{
    if (off > st->size || n > st->size - off)
        FZ_FAIL("%s: [%llu, +%zu) outside the %zu-byte mapping", what, (unsigned long long)off, n, st->size);
    return st->base[k] + off;
}

static void check(state_t *st, int k)
{
    const char *why = NULL;
    int rc = shm_pool_check(st->h[k], &why);
    if (!known_status(rc)) FZ_FAIL("check: status %d", rc);
    if (st->strict && rc != SHM_POOL_OK) FZ_FAIL("check on an undamaged segment: %s", why ? why : "?");
    shm_pool_stats_t stats;
    rc = shm_pool_stats(st->h[k], &stats);
    /* segment blocks: ours, plus the spans the heap pool borrowed (lent, not lent by us) */
    size_t own = st->s.live - count_kind(st, KIND_HEAP) + cached_blocks(st), lent = count_kind(st, KIND_LENT);
    if (st->strict &&
        (rc != SHM_POOL_OK || stats.lent_chunks < lent || stats.allocations != own + stats.lent_chunks - lent))
        FZ_FAIL("stats: rc %d, %zu allocations, model %zu", rc, stats.allocations, own);
}

/* A block the pool handed out (at offset, >= size usable bytes). */
static void took(state_t *st, int k, uint64_t off, size_t size, int zeroed, int kind, uint8_t seed)
{
    size_t granule = (size_t)64 << 10; /* a lent chunk is its bytes rounded up to 64 KiB */
    size_t usable = kind == KIND_BLOCK || kind == KIND_CACHE ? shm_pool_usable_size(st->h[k], off)
                    : kind == KIND_LENT ? (size + granule - 1) / granule * granule
                                        : size;
    if (st->strict) {
        if (off < st->area_off || off % 8 || usable < size || off - st->area_off > st->area_size ||
            usable > st->area_size - (off - st->area_off))
            FZ_FAIL("block at %llu (%zu usable, %zu asked) not in the area", (unsigned long long)off, usable, size);
    }
    inside(st, k, off, usable, "a fresh block");
    if (kind == KIND_PARK) usable = 0; /* the pool's list: not ours to fill */
    int slot = fz_free_slot(&st->s);
    if (slot < 0) {
        int rc = kind == KIND_LENT    ? shm_pool_unlend(st->h[k], off)
                 : kind == KIND_CACHE ? shm_cache_free(st->cache[k], st->base[k] + off)
                                      : shm_pool_free_at(st->h[k], off);
        if (st->strict && rc != SHM_POOL_OK) FZ_FAIL("giving back a fresh block: %d", rc);
        return;
    }
    fz_block_t b = {.p = st->base[0] + off, .size = usable, .seed = seed, .offset = off, .owner = kind};
    if (!st->strict)
        fz_add_unchecked(&st->s, slot, b); /* the allocator may be confused */
    else
        fz_add(&st->s, slot, b, zeroed ? size : 0);
}

static void gone(state_t *st, int slot)
{
    fz_block_t b = st->s.b[slot];
    fz_remove(&st->s, slot);
    fz_remember_freed(&st->freed, &b);
}

static void do_free(state_t *st, int k, int slot, uint8_t how)
{
    fz_block_t *b = &st->s.b[slot];
    if (st->strict) fz_verify(b);
    int rc;
    if (b->owner == KIND_LENT) {
        rc = shm_pool_free_at(st->h[k], b->offset);
        if (st->strict && rc != SHM_POOL_ERR_LENT) FZ_FAIL("free of a lent chunk: %d", rc);
        rc = shm_pool_unlend(st->h[k], b->offset);
    } else if (b->owner == KIND_HEAP) {
        rc = heap_pool_free(st->heap, st->base[st->heap_k] + b->offset); /* its mapping's address */
    } else if (b->owner == KIND_CACHE && st->cache[k]) {
        rc = shm_cache_free(st->cache[k], st->base[k] + b->offset);
    } else if (b->owner == KIND_PARK) {
        size_t blocks = 0;
        rc = shm_pool_park_close(st->h[k], b->offset, &blocks);
    } else {
        rc = (how & 1) ? shm_pool_free(st->h[k], st->base[k] + b->offset) : shm_pool_free_at(st->h[k], b->offset);
    }
    if (!known_status(rc)) FZ_FAIL("free: status %d", rc);
    if (st->strict && rc != SHM_POOL_OK) FZ_FAIL("free of a live block (kind %d): %d", b->owner, rc);
    gone(st, slot);
}

/* An offset that starts no live block must be refused (in strict mode: changing nothing). */
static void misuse(state_t *st, int k, uint64_t off, uint8_t how)
{
    if (off == 0 && how % 4 < 2) return; /* free_at(0) is a no-op, realloc(0) an allocation */
    if (held_by_cache(st, off)) return;  /* allocated in the segment: freeing it there is allowed */
    shm_pool_stats_t a, b;
    int have = shm_pool_stats(st->h[k], &a) == SHM_POOL_OK;
    int rc;
    void *ptr = NULL;
    switch (how % 4) {
    case 0:
        rc = shm_pool_free_at(st->h[k], off);
        break;
    case 1: {
        uint64_t no = 0;
        rc = shm_pool_realloc(st->h[k], off, 64, &no, &ptr);
        if (rc == SHM_POOL_OK) ptr = NULL; /* only in damaged mode: nothing to check */
        break;
    }
    case 2:
        rc = shm_pool_at(st->h[k], off, 1, &ptr);
        if (rc == SHM_POOL_OK) inside(st, k, (uint64_t)((unsigned char *)ptr - st->base[k]), 1, "shm_pool_at");
        break;
    default:
        rc = shm_pool_unlend(st->h[k], off);
        break;
    }
    if (!known_status(rc)) FZ_FAIL("misuse: status %d", rc);
    if (!st->strict) return;
    int lent_inside = 0;
    for (int i = 0; i < FZ_SLOTS; i++) {
        const fz_block_t *x = &st->s.b[i];
        if (x->p && x->owner == KIND_LENT && off >= x->offset && off < x->offset + x->size) lent_inside = 1;
    }
    /* the heap pool's chunks are lent, and so are the rest of their 1 MiB spans */
    for (uint32_t id = 0; st->heap && id < heap_pool_chunk_limit(st->heap); id++) {
        heap_pool_chunk_info_t info;
        if (heap_pool_chunk_info(st->heap, id, &info) != HEAP_POOL_OK) continue;
        uint64_t c = (uint64_t)((unsigned char *)info.base - st->base[st->heap_k]), span = (uint64_t)1 << 20;
        if (off + span >= c && off < c + info.bytes + span) lent_inside = 1;
    }
    if (rc == SHM_POOL_OK && !(how % 4 == 2 && lent_inside))
        FZ_FAIL("misuse of offset %llu (kind %d) accepted", (unsigned long long)off, how % 4);
    if (have && shm_pool_stats(st->h[k], &b) == SHM_POOL_OK &&
        (a.used != b.used || a.allocations != b.allocations || a.lent_chunks != b.lent_chunks))
        FZ_FAIL("a refused misuse changed the stats");
}

/* Destroy the heap pool on the segment: its blocks go, its spans are given back. */
static void heap_destroy(state_t *st)
{
    for (int i = 0; i < FZ_SLOTS; i++)
        if (st->s.b[i].p && st->s.b[i].owner == KIND_HEAP) {
            if (st->strict) fz_verify(&st->s.b[i]);
            fz_remove(&st->s, i);
        }
    heap_pool_destroy(st->heap);
    st->heap = NULL;
}

static void root_key(fz_in_t *in, char *key, size_t cap)
{
    size_t n = fz_u8(in) % 72u;
    if (n >= cap) n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        key[i] = (char)('a' + fz_u8(in) % 8u);
    }
    key[n] = 0;
}

/* One op on handle k (the op byte's top bit picks it). allow_peer (mode odd):
 * peer writes and the heap pool on the segment are allowed. */
static void op(state_t *st, fz_in_t *in, int allow_peer)
{
    uint8_t o = fz_u8(in);
    int k = (o >> 7) & 1;
    shm_pool_t *h = st->h[k];
    switch (o % 16) {
    case 0:
    case 1: { /* alloc / calloc */
        size_t size = fz_size(in, st->area_size + 64);
        uint8_t seed = fz_u8(in);
        uint64_t off = 0;
        void *ptr = NULL;
        int rc;
        size_t want = size;
        if (o % 16 == 1) {
            size_t count = seed % 5u;
            want = count && size > SIZE_MAX / count ? 0 : count * size;
            rc = shm_pool_calloc(h, count, size, &off, &ptr);
            if (st->strict && count && size > SIZE_MAX / count && rc == SHM_POOL_OK) FZ_FAIL("calloc overflow");
        } else {
            rc = shm_pool_alloc(h, size, &off, &ptr);
        }
        if (!known_status(rc)) FZ_FAIL("alloc: status %d", rc);
        if (rc == SHM_POOL_OK) {
            if (ptr != st->base[k] + off) FZ_FAIL("alloc: pointer and offset disagree");
            took(st, k, off, want, o % 16 == 1, KIND_BLOCK, seed);
        } else if (st->strict && rc != SHM_POOL_ERR_NOMEM && rc != SHM_POOL_ERR_INVALID) {
            FZ_FAIL("alloc(%zu) on an undamaged segment: %d", size, rc);
        }
        break;
    }
    case 2: { /* realloc */
        int slot = fz_pick_live(&st->s, fz_u8(in));
        size_t size = fz_size(in, st->area_size + 64);
        if (slot < 0 || st->s.b[slot].owner != KIND_BLOCK) break;
        fz_block_t b = st->s.b[slot];
        if (st->strict) fz_verify(&b);
        uint64_t off = 0;
        void *ptr = NULL;
        int rc = shm_pool_realloc(h, b.offset, size, &off, &ptr);
        if (!known_status(rc)) FZ_FAIL("realloc: status %d", rc);
        if (rc != SHM_POOL_OK) {
            if (st->strict && rc != SHM_POOL_ERR_NOMEM) FZ_FAIL("realloc of a live block: %d", rc);
            if (st->strict) fz_verify(&b);
            break;
        }
        fz_remove(&st->s, slot);
        inside(st, k, off, size, "realloc");
        if (st->strict) fz_verify_prefix(&b, st->base[0] + off, size < b.size ? size : b.size);
        if (off != b.offset) fz_remember_freed(&st->freed, &b);
        took(st, k, off, size, 0, KIND_BLOCK, b.seed);
        break;
    }
    case 3: { /* free */
        int slot = fz_pick_live(&st->s, fz_u8(in));
        uint8_t how = fz_u8(in);
        if (slot >= 0) do_free(st, k, slot, how);
        break;
    }
    case 4: { /* double free, interior, wild or out-of-range offsets */
        uint8_t how = fz_u8(in);
        uint8_t pick = fz_u8(in);
        uint32_t r = fz_u32(in);
        uint64_t off;
        if ((how >> 2) % 4 == 0) {
            const fz_block_t *b = fz_pick_freed(&st->freed, pick);
            if (!b) break;
            off = b->offset;
        } else if ((how >> 2) % 4 == 1) {
            int slot = fz_pick_live(&st->s, pick);
            if (slot < 0 || st->s.b[slot].size < 2) break;
            off = st->s.b[slot].offset + 1 + r % (st->s.b[slot].size - 1);
        } else if ((how >> 2) % 4 == 2) {
            off = r % (st->size + 64);
        } else {
            static const uint64_t far[] = {UINT64_MAX, (uint64_t)1 << 63, (uint64_t)1 << 40, 8};
            off = far[r % 4] + (r & 0xff0);
        }
        for (int i = 0; i < FZ_SLOTS; i++)
            if (st->s.b[i].p && st->s.b[i].offset == off) return; /* a live start after all */
        misuse(st, k, off, how);
        break;
    }
    case 5: { /* at / usable_size of a live block */
        int slot = fz_pick_live(&st->s, fz_u8(in));
        size_t len = fz_u16(in);
        if (slot < 0) break;
        const fz_block_t *b = &st->s.b[slot];
        void *ptr = NULL;
        int rc = shm_pool_at(h, b->offset, len, &ptr);
        if (!known_status(rc)) FZ_FAIL("at: status %d", rc);
        if (rc == SHM_POOL_OK) inside(st, k, (uint64_t)((unsigned char *)ptr - st->base[k]), len, "shm_pool_at");
        if (st->strict && b->owner == KIND_BLOCK && (rc == SHM_POOL_OK) != (len <= b->size))
            FZ_FAIL("at(%zu) of a %zu-byte block: %d", len, b->size, rc);
        size_t usable = shm_pool_usable_size(h, b->offset);
        if (usable) inside(st, k, b->offset, usable, "usable_size");
        break;
    }
    case 6: { /* roots */
        char key[SHM_POOL_KEY_MAX + 8];
        root_key(in, key, sizeof key);
        uint8_t how = fz_u8(in);
        uint64_t off = fz_u32(in) % (st->size + 16);
        uint64_t got = 0;
        int rc = how % 3 == 0   ? shm_pool_set_root(h, key, off)
                 : how % 3 == 1 ? shm_pool_get_root(h, key, &got)
                                : shm_pool_delete_root(h, key);
        if (!known_status(rc)) FZ_FAIL("roots: status %d", rc);
        if (st->strict && how % 3 == 1 && rc == SHM_POOL_OK && got >= st->size) FZ_FAIL("root beyond the segment");
        break;
    }
    case 7: { /* lend a chunk */
        size_t bytes = (size_t)fz_u8(in) << 14;
        uint64_t off = 0;
        void *ptr = NULL;
        int rc = shm_pool_lend(h, bytes, &off, &ptr);
        if (!known_status(rc)) FZ_FAIL("lend: status %d", rc);
        if (rc == SHM_POOL_OK) {
            if (off % ((uint64_t)64 << 10)) FZ_FAIL("lent chunk at %llu not 64 KiB-aligned", (unsigned long long)off);
            took(st, k, off, bytes, 0, KIND_LENT, fz_u8(in));
        }
        break;
    }
    case 8: { /* a park list */
        uint32_t stacks = 1 + fz_u8(in) % 8u, depth = 1 + fz_u8(in) % 16u;
        uint64_t off = 0;
        int rc = shm_pool_park_open(h, stacks, depth, &off);
        if (!known_status(rc)) FZ_FAIL("park_open: status %d", rc);
        if (rc == SHM_POOL_OK) took(st, k, off, (2 + stacks + (size_t)stacks * depth) * 4, 0, KIND_PARK, 0);
        break;
    }
    case 9: { /* reclaim, trim, notify, a zero-timeout wait */
        size_t chunks = 0;
        int rc = shm_pool_reclaim(h, &chunks);
        if (!known_status(rc)) FZ_FAIL("reclaim: status %d", rc);
        if (st->strict && chunks) FZ_FAIL("reclaim freed %zu chunks of a live process", chunks);
        rc = shm_pool_trim(h, NULL);
        if (!known_status(rc)) FZ_FAIL("trim: status %d", rc);
        uint64_t off = st->area_off + (fz_u16(in) & ~3u);
        int woken = 0;
        rc = shm_pool_notify(h, off, -1, &woken);
        if (!known_status(rc)) FZ_FAIL("notify: status %d", rc);
        rc = shm_pool_wait(h, off, fz_u8(in), 0);
        if (!known_status(rc)) FZ_FAIL("wait: status %d", rc);
        break;
    }
    case 10: { /* the user lock, through the API only */
        int rc = shm_pool_lock(h, LOCK_TIMEOUT_MS);
        if (!known_status(rc)) FZ_FAIL("lock: status %d", rc);
        if (rc == SHM_POOL_OK || rc == SHM_POOL_OWNER_DIED) {
            rc = shm_pool_unlock(h);
            if (!known_status(rc)) FZ_FAIL("unlock: status %d", rc);
        }
        break;
    }
    case 11: { /* attach once more (validation and repair of whatever is there) */
        shm_pool_t *extra = NULL;
        int rc = shm_pool_from_fd_within(shm_pool_fd(st->h[0]), LOCK_TIMEOUT_MS, &extra);
        if (!known_status(rc)) FZ_FAIL("from_fd: status %d", rc);
        if (st->strict && rc != SHM_POOL_OK) FZ_FAIL("attach to an undamaged segment: %d", rc);
        if (extra) {
            const char *why = NULL;
            rc = shm_pool_check(extra, &why);
            if (st->strict && rc != SHM_POOL_OK) FZ_FAIL("check after attach: %s", why ? why : "?");
            shm_pool_close(extra);
        }
        break;
    }
    case 12:
    case 13:
    case 14: { /* a peer writes bytes (biased towards the metadata before the area) */
        uint8_t where = fz_u8(in);
        uint32_t r = fz_u32(in);
        size_t n = 1 + fz_u8(in) % 16u;
        uint8_t bytes[16];
        for (size_t i = 0; i < n; i++) bytes[i] = fz_u8(in);
        if (!allow_peer) break;
        size_t off;
        if (where % 4 == 0)
            off = r % st->size;
        else if (where % 4 == 1)
            off = r % (st->area_off ? st->area_off : 1);
        else if (where % 4 == 2)
            off = r % 512u; /* the header */
        else {
            int slot = fz_pick_live(&st->s, (uint8_t)r);
            if (slot < 0) break;
            off = (size_t)(st->s.b[slot].offset - 8 + (r >> 8) % 24u); /* around a block's header */
        }
        peer_write(st->base[(where >> 2) & 1], st->size, off, bytes, n);
        st->strict = 0;
        break;
    }
    default: { /* a heap pool on the segment (shm_pool_map_chunk), or a check */
        uint8_t sub = fz_u8(in);
        size_t size = fz_size(in, (size_t)1 << 20);
        if (sub % 4 == 0 && !st->heap && allow_peer) {
            st->heap_mem = (heap_pool_memory_t){shm_pool_map_chunk, shm_pool_unmap_chunk, NULL, NULL, h};
            heap_pool_options_t opt = {0, 0, NULL, &st->heap_mem};
            if (heap_pool_create(&opt, &st->heap) != HEAP_POOL_OK) FZ_FAIL("heap_pool_create on a segment");
            st->heap_k = k;
        } else if (sub % 4 == 1 && st->heap) {
            heap_pool_ref_t r;
            int rc = heap_pool_alloc_ref(st->heap, size, 0, &r);
            if (rc == HEAP_POOL_OK) {
                uint64_t off = (uint64_t)((unsigned char *)r.ptr - st->base[st->heap_k]);
                if (st->strict && (off < st->area_off || off - st->area_off > st->area_size ||
                                   r.size > st->area_size - (off - st->area_off)))
                    FZ_FAIL("heap block at %llu not in the area", (unsigned long long)off);
                inside(st, st->heap_k, off, r.size, "a heap pool block");
                int slot = fz_free_slot(&st->s);
                if (slot < 0) {
                    heap_pool_free(st->heap, r.ptr);
                } else {
                    fz_block_t b = {
                        .p = st->base[0] + off, .size = r.size, .seed = sub, .offset = off, .owner = KIND_HEAP};
                    if (st->strict)
                        fz_add(&st->s, slot, b, 0);
                    else
                        fz_add_unchecked(&st->s, slot, b);
                }
            } else if (rc != HEAP_POOL_ERR_NOMEM) {
                FZ_FAIL("heap_pool_alloc_ref on a segment: %d", rc);
            }
        } else if (sub % 4 == 2 && st->heap) {
            heap_destroy(st);
        } else if (sub % 8 == 3 && allow_peer) { /* the cache: alloc, or drain */
            if (!st->cache[k] && shm_cache_create(h, (size_t)16 << 10, &st->cache[k]) != SHM_POOL_OK)
                FZ_FAIL("shm_cache_create");
            if ((sub >> 3) % 8 == 0) {
                int rc = shm_cache_drain(st->cache[k], NULL);
                if (!known_status(rc) || (st->strict && rc != SHM_POOL_OK)) FZ_FAIL("cache drain: %d", rc);
            } else {
                uint64_t off = 0;
                void *ptr = NULL;
                size_t want = 1 + size % 5000;
                int rc = shm_cache_alloc(st->cache[k], want, &off, &ptr);
                if (!known_status(rc)) FZ_FAIL("cache alloc: status %d", rc);
                if (rc == SHM_POOL_OK) {
                    if (ptr != st->base[k] + off) FZ_FAIL("cache alloc: pointer and offset disagree");
                    took(st, k, off, want, 0, KIND_CACHE, sub);
                } else if (st->strict && rc != SHM_POOL_ERR_NOMEM) {
                    FZ_FAIL("cache alloc(%zu) on an undamaged segment: %d", want, rc);
                }
            }
        } else {
            check(st, k);
        }
        const char *why = NULL;
        if (st->heap && heap_pool_check(st->heap, &why) != HEAP_POOL_OK) FZ_FAIL("heap_pool_check: %s", why);
        break;
    }
    }
    if (st->strict) check(st, k);
}

static int make_segment(state_t *st, size_t size)
{
    int rc = shm_pool_create(NULL, size, 0, &st->h[0]);
    if (rc != SHM_POOL_OK) FZ_FAIL("create(%zu): %d", size, rc);
    shm_pool_set_lock_timeout(st->h[0], LOCK_TIMEOUT_MS);
    st->size = shm_pool_size(st->h[0]);
    st->base[0] = shm_pool_base(st->h[0]);
    shm_pool_area(st->h[0], &st->area_off, &st->area_size);
    return 0;
}

static void attach(state_t *st)
{
    int rc = shm_pool_from_fd_within(shm_pool_fd(st->h[0]), LOCK_TIMEOUT_MS, &st->h[1]);
    if (!known_status(rc)) FZ_FAIL("from_fd: status %d", rc);
    if (st->strict && rc != SHM_POOL_OK) FZ_FAIL("attach to an undamaged segment: %d", rc);
    if (rc != SHM_POOL_OK) return;
    st->base[1] = shm_pool_base(st->h[1]);
    if (shm_pool_size(st->h[1]) != st->size) FZ_FAIL("the attached mapping has another size");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in_t in = {data, size, 0};
    state_t *st = calloc(1, sizeof *st);
    FZ_ASSERT(st);
    st->strict = 1;
    uint8_t mode = fz_u8(&in);
    static const size_t sizes[] = {0, (size_t)64 << 10, (size_t)256 << 10, (size_t)1 << 20};
    size_t seg = sizes[(mode >> 1) % 4];
    if (!seg) seg = shm_pool_min_size();
    make_segment(st, seg);

    if (mode % 2 == 0) {
        /* damage before attach: use the segment a little with the creator alone */
        st->h[1] = st->h[0];
        st->base[1] = st->base[0];
        unsigned setup = fz_u8(&in) % 12u;
        for (unsigned i = 0; i < setup && fz_more(&in); i++) op(st, &in, 0);
        st->h[1] = NULL;
        st->base[1] = NULL;
        unsigned patches = fz_u8(&in) % 9u;
        for (unsigned i = 0; i < patches; i++) {
            uint8_t where = fz_u8(&in);
            uint32_t r = fz_u32(&in);
            size_t n = 1 + fz_u8(&in) % 16u;
            uint8_t bytes[16];
            for (size_t j = 0; j < n; j++) bytes[j] = fz_u8(&in);
            size_t off = where & 1 ? r % st->size : r % (st->area_off ? st->area_off : 1);
            peer_write(st->base[0], st->size, off, bytes, n);
            st->strict = 0;
        }
        /* the creator's handle stays open (its process is alive) but idle */
        attach(st);
        if (st->h[1]) {
            const char *why = NULL;
            int rc = shm_pool_check(st->h[1], &why);
            if (!known_status(rc) || (st->strict && rc != SHM_POOL_OK)) FZ_FAIL("check after attach: %d", rc);
            /* a few ops on the attached handle only */
            shm_pool_t *creator = st->h[0];
            unsigned char *creator_base = st->base[0];
            st->h[0] = st->h[1];
            st->base[0] = st->base[1];
            /* the model's blocks were recorded against the creator's mapping */
            for (int i = 0; i < FZ_SLOTS; i++)
                if (st->s.b[i].p) st->s.b[i].p = st->base[0] + st->s.b[i].offset;
            for (unsigned i = 0; i < 16 && fz_more(&in); i++) op(st, &in, 0);
            check(st, 0);
            shm_pool_close(st->h[1]);
            st->h[0] = creator;
            st->base[0] = creator_base;
        }
        st->h[1] = NULL;
    } else {
        /* a peer after attach */
        attach(st);
        for (unsigned i = 0; i < 512 && fz_more(&in); i++) op(st, &in, 1);
        if (st->heap) heap_destroy(st);
        for (int k = 0; k < 2; k++) { /* parked blocks and lists back to the segment; frees go past it now */
            int rc = shm_cache_drain(st->cache[k], NULL);
            if (st->cache[k] && st->strict && rc != SHM_POOL_OK) FZ_FAIL("cache drain at the end: %d", rc);
            shm_cache_destroy(st->cache[k]);
            st->cache[k] = NULL;
        }
        if (st->strict) {
            /* give everything back: the segment must come out clean */
            for (int i = 0; i < FZ_SLOTS; i++)
                if (st->s.b[i].p) do_free(st, 0, i, 0);
            shm_pool_stats_t stats;
            if (shm_pool_stats(st->h[0], &stats) != SHM_POOL_OK || stats.used || stats.allocations)
                FZ_FAIL("blocks left after freeing every one");
        }
        shm_pool_close(st->h[1]);
    }
    shm_pool_close(st->h[0]);
    free(st);
    return 0;
}
