/*
 * fuzz_region_pool.c — libFuzzer harness for native/alloc/region_pool.c.
 *
 * One region pool, on the default memory (posix_memalign behind the
 * process-wide cache, stash and parking) or on a memory source that checks
 * every unmap against its maps, refuses maps past a budget and fails on
 * demand. The input is a program of ops: palloc / pnalloc / calloc / memalign
 * / realloc / free by pointer or by handle, misuse (double, stale, interior,
 * foreign, wild and made-up handles), cleanups (which may allocate, add
 * cleanups and try a reset or destroy from inside), reset, destroy and
 * re-create, and external bumping (region_pool_head, then a log of bumped
 * pairs, valid or not, recorded with region_pool_record_head under the head's
 * lease, an older lease or a wrong one: exactly the longest valid prefix must
 * be recorded, and those become allocations like any other). Every allocation is checked against the shadow model
 * (fuzz_common.h); after every op region_pool_check must pass and the stats
 * must match the model. A rejected call must change nothing.
 *
 * Kept large blocks (region_pool_keep_large, a count of 0..5 chosen at setup
 * and changed by an op): the harness models every large block the pool holds,
 * live or kept (oldest first), so it predicts exactly what each release (free,
 * moving realloc, reset lowest id first, a cleanup's free) does: with a count of
 * 0 or more than REGION_POOL_KEEP_MAX_BYTES on its own the block is released;
 * else the oldest kept ones are released, oldest first, until it has room under
 * the count and the byte limit, and it is kept as the newest. On the checking
 * memory source every op's released notifications and unmaps must be exactly
 * those, in that order (each block released, then unmapped). A large request
 * takes the newest kept chunk that fits (bytes and alignment; it cannot fail),
 * one no kept chunk fits maps a fresh one; a kept chunk's handles and pointer are
 * refused as double frees (stale after a reset), and mapped memory and
 * notifications count kept chunks (reserved, the source's bytes and created -
 * released chunks).
 */
#include "fuzz_common.h"
#include "region_pool.h"

#define MAP_BUDGET ((size_t)64 << 20)
#define BIG ((size_t)1 << 20)
#define MAX_CLEANUPS 64

#define MAX_RELEASES 2048
typedef struct source {
    fz_maps_t maps; /* with budget MAP_BUDGET */
    long chunks;    /* created minus released notifications */
    /* the chunks released ('r', on_chunk(..., 0)) and unmapped ('u') since the op began, in order;
     * the model consumes them (seen) as it predicts each release */
    struct {
        void *base;
        char kind;
    } log[MAX_RELEASES];
    unsigned nlog, seen;
    int overflow; /* more than MAX_RELEASES: this op's order goes unchecked */
} source_t;

/* A large block of the pool as the model knows it: live, or kept (region_pool_keep_large). */
#define MAX_LARGE 256
typedef struct lchunk {
    uint32_t id;
    unsigned char *base;
    size_t bytes;  /* mapped: max(size, 1) of the request that created it */
    size_t malign; /* the memalign alignment of its current (or last) incarnation, 0: plain */
    uint64_t gen;  /* of its current (or last) incarnation */
    int epoch;     /* resets before that incarnation was handed out */
} lchunk_t;

struct state;
typedef struct cleanup {
    struct state *st;
    uint8_t action;
    int ran; /* times run */
} cleanup_t;

typedef struct state {
    source_t src;
    region_pool_memory_t mem;
    int custom; /* on src (else the default memory) */
    region_pool_options_t opt;
    region_pool_t *p;
    fz_shadow_t s;
    fz_freed_t freed;
    cleanup_t cleanups[MAX_CLEANUPS];
    unsigned ncleanups; /* registered since the last reset/destroy */
    unsigned char foreign[64];
    region_pool_head_t lease; /* a head kept from an earlier op (a stale lease), if have_lease */
    int have_lease;
    int epoch;                 /* resets so far (fz_block_t.owner: the epoch an allocation was made in) */
    unsigned keep_init;        /* keep_large count set at creation (0..5) */
    unsigned keep_max;         /* the pool's count now, clamped to REGION_POOL_KEEP_MAX */
    lchunk_t large[MAX_LARGE]; /* live large blocks (the shadow's and the cleanups') */
    unsigned nlarge;
    lchunk_t kept[REGION_POOL_KEEP_MAX]; /* kept large blocks, in the order they were kept */
    unsigned nkept;
    size_t kept_bytes;
} state_t;

static void *src_map(void *ctx, size_t bytes, size_t align) { return fz_map(&((source_t *)ctx)->maps, bytes, align); }

static void src_log(source_t *s, void *base, char kind)
{
    if (s->nlog == MAX_RELEASES) {
        s->overflow = 1;
        return;
    }
    s->log[s->nlog].base = base;
    s->log[s->nlog++].kind = kind;
}

static void src_unmap(void *ctx, void *p, size_t bytes)
{
    src_log(ctx, p, 'u'); /* before p is freed */
    fz_unmap(&((source_t *)ctx)->maps, p, bytes);
}

static void src_on_chunk(void *ctx, uint32_t id, void *base, size_t bytes, int created)
{
    source_t *s = ctx;
    (void)id;
    if (!base || !bytes) FZ_FAIL("on_chunk with no memory");
    s->chunks += created ? 1 : -1;
    if (s->chunks < 0) FZ_FAIL("on_chunk release without a creation");
    if (!created) src_log(s, base, 'r');
}

/* A new op: nothing released yet. */
static void src_clear(source_t *s)
{
    s->nlog = s->seen = 0;
    s->overflow = 0;
}

/* Requests the default memory would really try to map are kept below BIG
 * (a multi-GiB posix_memalign is an out-of-memory report under libFuzzer). */
static size_t clamp(const state_t *st, size_t size)
{
    if (!st->custom && size > BIG && size <= REGION_POOL_MAX_REQUEST) return BIG;
    return size;
}

/* ---- kept large blocks: the model ------------------------------------------------- */

static int large_find(const state_t *st, uint32_t id)
{
    for (unsigned i = 0; i < st->nlarge; i++)
        if (st->large[i].id == id) return (int)i;
    return -1;
}

static int kept_find(const state_t *st, uint32_t id)
{
    for (unsigned i = 0; i < st->nkept; i++)
        if (st->kept[i].id == id) return (int)i;
    return -1;
}

static int kept_at(const state_t *st, const void *base)
{
    for (unsigned i = 0; i < st->nkept; i++)
        if (st->kept[i].base == base) return (int)i;
    return -1;
}

/* Whether kept chunk k serves a large request of size bytes at memalign alignment malign. */
static int kept_fits(const state_t *st, const lchunk_t *k, size_t size, size_t malign)
{
    size_t page = region_pool_page_size(st->p), align = malign > page ? malign : page;
    return k->bytes == (size ? size : 1) && (uintptr_t)k->base % align == 0;
}

/* A large request failed (NOMEM): no kept chunk fit it (one that fits is taken, no map needed). */
static void no_kept_fit(const state_t *st, size_t size, size_t malign)
{
    for (unsigned i = 0; i < st->nkept; i++)
        if (kept_fits(st, &st->kept[i], size, malign))
            FZ_FAIL("large request (%zu, align %zu) failed, but kept chunk %u fits it", size, malign, st->kept[i].id);
}

static void set_keep(state_t *st, unsigned count)
{
    if (region_pool_keep_large(st->p, count) != REGION_POOL_OK) FZ_FAIL("keep_large(%u)", count);
    st->keep_max = count < REGION_POOL_KEEP_MAX ? count : REGION_POOL_KEEP_MAX;
}

/* A new allocation r of a request (size, memalign alignment malign or 0): when it is a large
 * block, a kept chunk that fits came back (same id and memory, a newer generation), or none fit
 * and it is a fresh chunk. A block's allocation changes nothing here. */
static void served(state_t *st, const region_pool_ref_t *r, size_t size, size_t malign)
{
    region_pool_chunk_info_t info;
    if (region_pool_chunk_info(st->p, r->chunk, &info) != REGION_POOL_OK) FZ_FAIL("no chunk %u", r->chunk);
    if (info.kind != REGION_POOL_CHUNK_LARGE) return;
    size_t bytes = size ? size : 1;
    if (info.bytes != bytes || info.base != r->ptr || r->offset)
        FZ_FAIL("large block %u: %zu bytes at %p for a request of %zu", r->chunk, info.bytes, info.base, size);
    if (region_pool_chunk_kept(st->p, r->chunk)) FZ_FAIL("large block %u handed out but still kept", r->chunk);
    int k = kept_find(st, r->chunk);
    if (k >= 0) {
        lchunk_t *c = &st->kept[k];
        if (c->base != r->ptr || !kept_fits(st, c, size, malign) || r->gen <= c->gen)
            FZ_FAIL("kept chunk %u (%zu bytes at %p) taken for (%zu, align %zu) as gen %llu (was %llu)", c->id,
                    c->bytes, (void *)c->base, size, malign, (unsigned long long)r->gen, (unsigned long long)c->gen);
        for (unsigned j = (unsigned)k + 1; j < st->nkept; j++) /* the newest that fits */
            if (kept_fits(st, &st->kept[j], size, malign))
                FZ_FAIL("kept chunk %u (#%d of %u) taken for (%zu, align %zu), but the newer kept chunk %u (#%u) fits",
                        c->id, k, st->nkept, size, malign, st->kept[j].id, j);
        st->kept_bytes -= c->bytes;
        memmove(c, c + 1, (st->nkept - (unsigned)k - 1) * sizeof *c);
        st->nkept--;
    } else {
        no_kept_fit(st, size, malign);
        for (unsigned i = 0; i < st->nkept; i++)
            if (st->kept[i].base == r->ptr)
                FZ_FAIL("fresh large block %u at kept chunk %u's memory", r->chunk, st->kept[i].id);
    }
    if (large_find(st, r->chunk) >= 0) FZ_FAIL("large block %u handed out twice", r->chunk);
    if (st->nlarge == MAX_LARGE) FZ_FAIL("more than %d live large blocks", MAX_LARGE);
    st->large[st->nlarge++] = (lchunk_t){r->chunk, r->ptr, bytes, malign, r->gen, st->epoch};
}

/* Chunk c was released (on_chunk(..., 0)) and then unmapped: the next two entries of the
 * source's log (the checking source only). */
static void expect_release(state_t *st, const lchunk_t *c, const char *why)
{
    source_t *s = &st->src;
    if (!st->custom || s->overflow) return;
    if (s->seen + 2 > s->nlog || s->log[s->seen].kind != 'r' || s->log[s->seen].base != c->base ||
        s->log[s->seen + 1].kind != 'u' || s->log[s->seen + 1].base != c->base)
        FZ_FAIL("%s chunk %u (%zu bytes at %p) not released then unmapped next (log %u of %u: %c %p)", why, c->id,
                c->bytes, (void *)c->base, s->seen, s->nlog, s->seen < s->nlog ? s->log[s->seen].kind : '-',
                s->seen < s->nlog ? s->log[s->seen].base : NULL);
    s->seen += 2;
}

/* Large block id was released (free, moving realloc, reset). With a count of 0, or more bytes
 * than REGION_POOL_KEEP_MAX_BYTES on its own, it is released itself; else the oldest kept
 * blocks are released (oldest first) while the count is reached or its bytes do not fit with
 * theirs, and it is kept as the newest. No-op for a block. (Whether the pool keeps what the
 * model keeps is checked after the op, check_pool: a reset's later release may evict it.) */
static void released(state_t *st, uint32_t id)
{
    int i = large_find(st, id);
    if (i < 0) return;
    lchunk_t c = st->large[i];
    st->large[i] = st->large[--st->nlarge];
    if (!st->keep_max || c.bytes > REGION_POOL_KEEP_MAX_BYTES) {
        expect_release(st, &c, st->keep_max ? "too large a" : "with keep_large 0, a");
        return;
    }
    while (st->nkept >= st->keep_max || c.bytes > REGION_POOL_KEEP_MAX_BYTES - st->kept_bytes) {
        lchunk_t o = st->kept[0];
        st->kept_bytes -= o.bytes;
        memmove(st->kept, st->kept + 1, --st->nkept * sizeof o);
        expect_release(st, &o, "to make room, the oldest kept");
    }
    st->kept[st->nkept++] = c;
    st->kept_bytes += c.bytes;
}

/* After a reset: every live large block was released, lowest id first. */
static void released_all(state_t *st)
{
    while (st->nlarge) {
        unsigned lo = 0;
        for (unsigned i = 1; i < st->nlarge; i++)
            if (st->large[i].id < st->large[lo].id) lo = i;
        released(st, st->large[lo].id);
    }
}

/* What a pointer of the pool's that is no live allocation's start gets: the kept chunk at p
 * is freed (its last incarnation, stale when it was handed out before the last reset). 0: not
 * a kept chunk's base (the codes any refusal may have). */
static int kept_ptr_code(const state_t *st, const void *p)
{
    int k = kept_at(st, p);
    if (k < 0) return 0;
    return st->kept[k].epoch == st->epoch ? REGION_POOL_ERR_DOUBLE_FREE : REGION_POOL_ERR_STALE;
}

/* The walk reports no kept chunk and exactly one entry (USED) per live large block. */
typedef struct walk_check {
    const state_t *st;
    unsigned large_entries;
} walk_check_t;

static int walk_visit(const region_pool_block_info_t *b, void *user)
{
    walk_check_t *w = user;
    if (kept_find(w->st, b->chunk) >= 0) FZ_FAIL("walk reports kept chunk %u", b->chunk);
    if (large_find(w->st, b->chunk) >= 0) {
        if (b->offset || b->state != REGION_POOL_BLOCK_USED) FZ_FAIL("walk: large block %u entry", b->chunk);
        w->large_entries++;
    }
    return 0;
}

/* ---- checks ---------------------------------------------------------------------- */

static void check_pool(state_t *st)
{
    const char *why = NULL;
    if (region_pool_check(st->p, &why) != REGION_POOL_OK) FZ_FAIL("region_pool_check: %s", why ? why : "?");
    region_pool_stats_t stats;
    region_pool_get_stats(st->p, &stats);
    size_t used = 0;
    for (int i = 0; i < FZ_SLOTS; i++) used += st->s.b[i].p ? st->s.b[i].size : 0;
    if (stats.allocations != st->s.live || stats.used != used)
        FZ_FAIL("stats: %zu allocations of %zu bytes, model %zu of %zu", stats.allocations, stats.used, st->s.live,
                used);
    if (stats.blocks * region_pool_block_size(st->p) < stats.wasted + stats.available)
        FZ_FAIL("stats: wasted + available exceed the blocks");
    if (stats.cleanups != st->ncleanups) FZ_FAIL("stats: %zu cleanups, model %u", stats.cleanups, st->ncleanups);
    /* large blocks, kept ones, and what is mapped */
    size_t large_bytes = 0;
    for (unsigned i = 0; i < st->nlarge; i++) large_bytes += st->large[i].bytes;
    if (stats.large_blocks != st->nlarge || stats.large_bytes != large_bytes)
        FZ_FAIL("stats: %zu large blocks of %zu bytes, model %u of %zu", stats.large_blocks, stats.large_bytes,
                st->nlarge, large_bytes);
    if (stats.reserved != stats.blocks * region_pool_block_size(st->p) + large_bytes + st->kept_bytes)
        FZ_FAIL("stats: reserved %zu, model %zu blocks + %zu large + %zu kept", stats.reserved, stats.blocks,
                large_bytes, st->kept_bytes);
    if (st->custom && (st->src.maps.mapped != stats.reserved ||
                       st->src.chunks != (long)(stats.blocks + stats.large_blocks + st->nkept)))
        FZ_FAIL("source: %zu bytes in %ld chunks mapped, pool reserves %zu in %zu blocks + %zu large + %u kept",
                st->src.maps.mapped, st->src.chunks, stats.reserved, stats.blocks, stats.large_blocks, st->nkept);
    unsigned kept = 0;
    for (uint32_t id = 0; id < region_pool_chunk_limit(st->p); id++) {
        if (!region_pool_chunk_kept(st->p, id)) continue;
        kept++;
        region_pool_chunk_info_t info;
        if (kept_find(st, id) < 0) FZ_FAIL("chunk %u kept, not in the model", id);
        if (region_pool_chunk_info(st->p, id, &info) != REGION_POOL_ERR_INVALID) FZ_FAIL("chunk_info of kept %u", id);
    }
    if (kept != st->nkept) FZ_FAIL("%u chunks kept, model %u", kept, st->nkept);
    for (unsigned i = 0; i < st->nkept; i++) {
        region_pool_ref_t l;
        if (region_pool_locate(st->p, st->kept[i].base, &l) != REGION_POOL_OK || l.chunk != st->kept[i].id)
            FZ_FAIL("kept chunk %u not at %p", st->kept[i].id, (void *)st->kept[i].base);
    }
    /* every chunk the op released (on the checking source) was one the model released */
    if (st->custom && !st->src.overflow && st->src.seen != st->src.nlog)
        FZ_FAIL("chunk %p %s (log %u of %u), not a release the model expects", st->src.log[st->src.seen].base,
                st->src.log[st->src.seen].kind == 'r' ? "released" : "unmapped", st->src.seen, st->src.nlog);
}

static int same_stats(const region_pool_stats_t *a, const region_pool_stats_t *b)
{
    return a->used == b->used && a->allocations == b->allocations && a->reserved == b->reserved &&
           a->blocks == b->blocks && a->large_blocks == b->large_blocks && a->wasted == b->wasted &&
           a->available == b->available && a->failed_allocations == b->failed_allocations;
}

/* ---- allocations -------------------------------------------------------------------- */

static void took(state_t *st, const region_pool_ref_t *r, size_t size, size_t align, int zeroed, uint8_t seed)
{
    if (align > 1 && (uintptr_t)r->ptr % align) FZ_FAIL("allocation %p not %zu-aligned", r->ptr, align);
    size_t got = SIZE_MAX;
    if (region_pool_state_at(st->p, r->chunk, r->offset, r->gen, &got) != REGION_POOL_OK || got != size)
        FZ_FAIL("state_at of a fresh allocation: size %zu, asked %zu", got, size);
    region_pool_chunk_info_t info;
    if (region_pool_chunk_info(st->p, r->chunk, &info) != REGION_POOL_OK ||
        (unsigned char *)info.base + r->offset != r->ptr || r->offset > info.bytes || size > info.bytes - r->offset)
        FZ_FAIL("allocation (%u, %zu) not inside its chunk", r->chunk, r->offset);
    int slot = fz_free_slot(&st->s);
    if (slot < 0) {
        if (region_pool_free_at(st->p, r->chunk, r->offset, r->gen) != REGION_POOL_OK) FZ_FAIL("free of a fresh one");
        released(st, r->chunk);
        return;
    }
    fz_block_t b = {.p = r->ptr,
                    .size = size,
                    .seed = seed,
                    .chunk = r->chunk,
                    .offset = r->offset,
                    .gen = r->gen,
                    .owner = st->epoch};
    fz_add(&st->s, slot, b, zeroed ? size : 0);
}

static void misuse_ptr(state_t *st, void *ptr, uint8_t how, int want);

/* A pointer API's result as a handle. */
static int handle_of(state_t *st, void *ptr, region_pool_ref_t *r)
{
    if (!ptr) return REGION_POOL_ERR_NOMEM;
    int rc = region_pool_locate(st->p, ptr, r);
    if (rc != REGION_POOL_OK || r->ptr != ptr) FZ_FAIL("a fresh allocation cannot be located: %d", rc);
    return rc;
}

static void do_free(state_t *st, int slot, int by_handle)
{
    fz_block_t b = st->s.b[slot];
    fz_verify(&b);
    int rc = by_handle ? region_pool_free_at(st->p, b.chunk, b.offset, b.gen) : region_pool_free(st->p, b.p);
    if (rc != REGION_POOL_OK) FZ_FAIL("free of a live allocation: %d", rc);
    fz_remove(&st->s, slot);
    fz_remember_freed(&st->freed, &b);
    released(st, b.chunk);
    if (region_pool_chunk_kept(st->p, b.chunk)) { /* a kept chunk's handle and pointer: double frees */
        if (region_pool_state_at(st->p, b.chunk, b.offset, b.gen, NULL) != REGION_POOL_ERR_DOUBLE_FREE)
            FZ_FAIL("handle of kept chunk %u not a double free", b.chunk);
        misuse_ptr(st, b.p, by_handle, REGION_POOL_ERR_DOUBLE_FREE);
    }
}

static void do_realloc(state_t *st, int slot, size_t size, int by_handle)
{
    fz_block_t b = st->s.b[slot];
    fz_verify(&b);
    int li = large_find(st, b.chunk);
    const lchunk_t old = li >= 0 ? st->large[li] : (lchunk_t){0};
    region_pool_stats_t before, after;
    region_pool_get_stats(st->p, &before);
    region_pool_ref_t r = {0};
    int rc;
    if (by_handle) {
        rc = region_pool_realloc_at(st->p, b.chunk, b.offset, b.gen, size, &r);
    } else {
        void *out = NULL;
        rc = region_pool_realloc(st->p, b.p, size, &out);
        if (rc == REGION_POOL_OK) handle_of(st, out, &r);
    }
    if (rc != REGION_POOL_OK) {
        if (rc != REGION_POOL_ERR_NOMEM) FZ_FAIL("realloc of a live allocation: %d", rc);
        fz_verify(&b);
        region_pool_get_stats(st->p, &after);
        if (after.used != before.used || after.allocations != before.allocations) FZ_FAIL("failed realloc changed");
        if (li >= 0 ? size > old.bytes : size > region_pool_max_small(st->p)) /* a large request failed */
            no_kept_fit(st, size, old.malign);
        return;
    }
    fz_remove(&st->s, slot);
    fz_verify_prefix(&b, r.ptr, size < b.size ? size : b.size);
    int moved = r.ptr != b.p || r.gen != b.gen || r.chunk != b.chunk;
    if (moved) {
        fz_remember_freed(&st->freed, &b);
        served(st, &r, size, old.malign); /* a large block moves to one of the same memalign alignment */
    }
    took(st, &r, size, 1, 0, b.seed);
    if (moved) released(st, b.chunk); /* after the new one was taken, as the pool does */
}

/* A pointer that is no live allocation's start must be refused (with `want`, if not 0),
 * changing nothing. */
static void misuse_ptr(state_t *st, void *ptr, uint8_t how, int want)
{
    region_pool_stats_t before, after;
    region_pool_get_stats(st->p, &before);
    int rc;
    if (how & 1) {
        void *out = NULL;
        rc = region_pool_realloc(st->p, ptr, 32, &out);
    } else {
        rc = region_pool_free(st->p, ptr);
    }
    if (rc != REGION_POOL_ERR_FOREIGN && rc != REGION_POOL_ERR_DOUBLE_FREE && rc != REGION_POOL_ERR_STALE)
        FZ_FAIL("misuse of %p (kind %d) returned %d", ptr, how & 1, rc);
    if (want && rc != want) FZ_FAIL("misuse of %p (kind %d) returned %d, want %d", ptr, how & 1, rc, want);
    region_pool_get_stats(st->p, &after);
    if (!same_stats(&before, &after)) FZ_FAIL("a rejected misuse changed the stats");
}

/* A handle that is no live allocation's must be refused (with `want`, if not 0), changing nothing. */
static void misuse_handle(state_t *st, uint32_t chunk, size_t offset, uint64_t gen, uint8_t how, int want)
{
    for (int i = 0; i < FZ_SLOTS; i++) {
        const fz_block_t *b = &st->s.b[i];
        if (b->p && b->chunk == chunk && b->offset == offset && b->gen == gen) return; /* live after all */
    }
    region_pool_stats_t before, after;
    region_pool_get_stats(st->p, &before);
    int rc;
    switch (how % 3) {
    case 0:
        rc = region_pool_free_at(st->p, chunk, offset, gen);
        break;
    case 1: {
        region_pool_ref_t r;
        rc = region_pool_realloc_at(st->p, chunk, offset, gen, 32, &r);
        break;
    }
    default:
        rc = region_pool_state_at(st->p, chunk, offset, gen, NULL);
        break;
    }
    if (rc != REGION_POOL_ERR_FOREIGN && rc != REGION_POOL_ERR_DOUBLE_FREE && rc != REGION_POOL_ERR_STALE)
        FZ_FAIL("misuse of handle (%u, %zu, %llu) (kind %d) returned %d", chunk, offset, (unsigned long long)gen,
                how % 3, rc);
    if (want && rc != want)
        FZ_FAIL("misuse of handle (%u, %zu, %llu) (kind %d) returned %d, want %d", chunk, offset,
                (unsigned long long)gen, how % 3, rc, want);
    region_pool_get_stats(st->p, &after);
    if (!same_stats(&before, &after)) FZ_FAIL("a rejected handle changed the stats");
}

/* ---- external bumping ------------------------------------------------------------------- */

#define MAX_PAIRS 64

/* The contract of region_pool_record_head, written out: how many pairs of log the head h
 * takes (each at or after the bump offset, small, ending within the block, within slots). */
static size_t expect_prefix(const region_pool_head_t *h, size_t bs, size_t ms, const uint32_t *log, size_t n)
{
    size_t last = h->last, i = 0;
    for (; i < n; i++) {
        size_t off = log[2 * i], size = log[2 * i + 1], need = size ? size : 1;
        if (i >= h->slots || size > ms || off < last || off > bs || need > bs - off) break;
        last = off + need;
    }
    return i;
}

/* Take the head (the binding's lease), bump a log of pairs into it as the binding's
 * JavaScript does (or breaking the rules) and record it under this lease, an older one or a
 * wrong one. Exactly the pairs the contract allows are recorded; they are allocations like
 * palloc's from then on (shadow, state_at, frees); nothing else changes. */
static void do_record(state_t *st, fz_in_t *in)
{
    region_pool_t *p = st->p;
    const size_t bs = region_pool_block_size(p), ms = region_pool_max_small(p);
    uint8_t how = fz_u8(in);
    region_pool_head_t h = {0}, use = {0};
    int hrc = region_pool_head(p, &h);
    if (hrc == REGION_POOL_OK) {
        region_pool_chunk_info_t info;
        if (region_pool_chunk_info(p, h.chunk, &info) != REGION_POOL_OK || info.kind != REGION_POOL_CHUNK_BLOCK ||
            info.base != h.base || info.gen != h.gen || info.used != h.last || h.last > bs)
            FZ_FAIL("head (%u, gen %llu, last %zu) is not that block's", h.chunk, (unsigned long long)h.gen, h.last);
        if (h.slots > bs) FZ_FAIL("head with %zu slots in a %zu-byte block", h.slots, bs);
    } else if (hrc != REGION_POOL_ERR_INVALID) {
        FZ_FAIL("region_pool_head: %d", hrc);
    }
    switch (how & 3) {
    case 2: /* an older lease (any number of calls ago, maybe before a rewind or a reset) */
        use = st->have_lease ? st->lease : h;
        break;
    case 3: /* a wrong one: another chunk or generation */
        use = h;
        if (how & 8)
            use.chunk = (how & 16) ? use.chunk + 1 + fz_u8(in) % 4u : REGION_POOL_NO_CHUNK;
        else
            use.gen = (how & 16) ? use.gen + 1 + fz_u8(in) : use.gen - 1;
        break;
    default: /* the head, as the protocol has it */
        use = h;
        break;
    }
    if ((how & 4) && hrc == REGION_POOL_OK) {
        st->lease = h;
        st->have_lease = 1;
    }
    /* the log: mostly what palloc/pnalloc would do from the lease's bump offset */
    uint32_t log[2 * MAX_PAIRS];
    size_t align[MAX_PAIRS];
    size_t n = fz_u8(in) % (MAX_PAIRS + 1u), bump = use.last;
    for (size_t i = 0; i < n; i++) {
        uint8_t k = fz_u8(in);
        size_t off = bump, size;
        align[i] = 1;
        switch (k & 7) {
        case 0: /* palloc */
            off = (bump + REGION_POOL_ALIGNMENT - 1) & ~(size_t)(REGION_POOL_ALIGNMENT - 1);
            align[i] = REGION_POOL_ALIGNMENT;
            /* fall through */
        case 1: /* pnalloc */
        case 2: /* after a gap */
            if ((k & 7) == 2) off += fz_u8(in) % 64u;
            size = (k & 0x80) ? fz_u16(in) % (ms + 2) : fz_u8(in) % 24u;
            break;
        case 3: /* below the bump offset */
            off = bump - 1 - fz_u8(in) % 16u;
            size = fz_u8(in) % 16u;
            break;
        case 4: /* overlapping the previous pair */
            off = i ? log[2 * (i - 1)] + fz_u8(in) % (log[2 * i - 1] ? log[2 * i - 1] : 1u) : bump - 1;
            size = fz_u8(in) % 16u;
            break;
        case 5: /* near the block's end */
            off = bs - fz_u8(in) % 16u;
            size = fz_u8(in) % 32u;
            break;
        case 6: /* anything */
            off = fz_u32(in);
            size = fz_u32(in);
            break;
        default: /* not small */
            size = ms + 1 + fz_u16(in);
            break;
        }
        log[2 * i] = (uint32_t)off;
        log[2 * i + 1] = (uint32_t)size;
        bump = (size_t)log[2 * i] + (log[2 * i + 1] ? log[2 * i + 1] : 1);
    }
    size_t want = 0;
    if (hrc == REGION_POOL_OK && use.chunk == h.chunk && use.gen == h.gen) want = expect_prefix(&h, bs, ms, log, n);
    region_pool_stats_t before, after;
    region_pool_get_stats(p, &before);
    size_t got = region_pool_record_head(p, use.chunk, use.gen, log, n);
    if (got != want)
        FZ_FAIL("record_head: %zu of %zu pairs recorded, the contract says %zu (head %u gen %llu last %zu slots %zu)",
                got, n, want, h.chunk, (unsigned long long)h.gen, h.last, h.slots);
    region_pool_get_stats(p, &after);
    region_pool_head_t h2 = {0};
    int hrc2 = region_pool_head(p, &h2);
    if (hrc2 != hrc) FZ_FAIL("record_head changed whether a block is open");
    if (!got) {
        if (!same_stats(&before, &after) || after.peak_used != before.peak_used)
            FZ_FAIL("record_head recorded nothing but changed the stats");
        if (hrc == REGION_POOL_OK &&
            (h2.chunk != h.chunk || h2.gen != h.gen || h2.last != h.last || h2.slots != h.slots || h2.base != h.base))
            FZ_FAIL("record_head recorded nothing but changed the head");
    }
    if (hrc != REGION_POOL_OK) return;
    size_t bytes = 0, end = h.last;
    for (size_t i = 0; i < got; i++) {
        bytes += log[2 * i + 1];
        end = (size_t)log[2 * i] + (log[2 * i + 1] ? log[2 * i + 1] : 1);
    }
    if (after.allocations != before.allocations + got || after.used != before.used + bytes ||
        after.available != before.available - (end - h.last) ||
        after.wasted != before.wasted + (end - h.last) - bytes || after.reserved != before.reserved ||
        after.blocks != before.blocks || after.large_blocks != before.large_blocks ||
        after.failed_allocations != before.failed_allocations || after.spare_blocks != before.spare_blocks)
        FZ_FAIL("stats after recording %zu pairs (%zu bytes, bump %zu -> %zu) are off", got, bytes, h.last, end);
    if (h2.chunk != h.chunk || h2.gen != h.gen || h2.base != h.base || h2.last != end || h2.slots != h.slots - got)
        FZ_FAIL("head after recording %zu pairs: last %zu slots %zu, want %zu %zu", got, h2.last, h2.slots, end,
                h.slots - got);
    for (size_t i = got; i < n; i++) /* what was not recorded is no allocation */
        if (log[2 * i] >= end && region_pool_state_at(p, h.chunk, log[2 * i], h.gen, NULL) != REGION_POOL_ERR_FOREIGN)
            FZ_FAIL("unrecorded pair %zu at %u is not foreign", i, log[2 * i]);
    for (size_t i = 0; i < got; i++) {
        region_pool_ref_t r = {(unsigned char *)h.base + log[2 * i], h.chunk, log[2 * i], h.gen, log[2 * i + 1]};
        took(st, &r, r.size, align[i], 0, fz_u8(in));
    }
}

/* ---- cleanups, reset, destroy ----------------------------------------------------------- */

static void cleanup_fn(void *data)
{
    cleanup_t *c = data;
    state_t *st = c->st;
    c->ran++;
    if (c->ran > 1) FZ_FAIL("cleanup ran %d times", c->ran);
    switch (c->action % 4) {
    case 1: { /* allocate (it dies with the reset) and free some; large ones are in the model */
        region_pool_ref_t ref;
        size_t n = 1 + (size_t)c->action, m = 300u * (size_t)c->action, ms = region_pool_max_small(st->p);
        unsigned char *q = region_pool_palloc(st->p, n);
        if (q) {
            memset(q, 0xa5, n);
            if (n > ms && region_pool_locate(st->p, q, &ref) != REGION_POOL_OK) FZ_FAIL("locate inside a cleanup");
            if (n > ms) served(st, &ref, n, 0);
        } else if (n > ms) {
            no_kept_fit(st, n, 0);
        }
        unsigned char *r = region_pool_pnalloc(st->p, m);
        if (r) {
            if (region_pool_locate(st->p, r, &ref) != REGION_POOL_OK) FZ_FAIL("locate inside a cleanup");
            if (m > ms) served(st, &ref, m, 0);
            if (region_pool_free(st->p, r) != REGION_POOL_OK) FZ_FAIL("free inside a cleanup");
            released(st, ref.chunk);
        } else if (m > ms) {
            no_kept_fit(st, m, 0);
        }
        break;
    }
    case 2: /* reset and destroy are refused from inside */
        if (region_pool_reset(st->p) != REGION_POOL_ERR_BUSY) FZ_FAIL("reset inside a cleanup not BUSY");
        if (region_pool_destroy(st->p) != REGION_POOL_ERR_BUSY) FZ_FAIL("destroy inside a cleanup not BUSY");
        break;
    case 3: /* a cleanup added while running: runs in the same pass */
        if (st->ncleanups < MAX_CLEANUPS) {
            cleanup_t *n = &st->cleanups[st->ncleanups++];
            *n = (cleanup_t){st, (uint8_t)(c->action & ~3u), 0};
            if (region_pool_on_cleanup(st->p, cleanup_fn, n) != REGION_POOL_OK) FZ_FAIL("on_cleanup inside one");
        }
        break;
    default:
        break;
    }
}

static void cleanups_ran(state_t *st)
{
    for (unsigned i = 0; i < st->ncleanups; i++)
        if (st->cleanups[i].ran != 1) FZ_FAIL("cleanup %u ran %d times", i, st->cleanups[i].ran);
    st->ncleanups = 0;
    memset(st->cleanups, 0, sizeof st->cleanups);
}

/* Every allocation dies; its handle becomes stale (kept in the freed ring). */
static void forget_all(state_t *st)
{
    for (int i = 0; i < FZ_SLOTS; i++) {
        if (!st->s.b[i].p) continue;
        fz_verify(&st->s.b[i]);
        fz_remember_freed(&st->freed, &st->s.b[i]);
        fz_remove(&st->s, i);
    }
}

/* A new pool keeps nothing; then keep_large(keep) when keep is not 0. */
static void created(state_t *st, unsigned keep)
{
    st->keep_max = 0;
    st->nlarge = st->nkept = 0;
    st->kept_bytes = 0;
    for (uint32_t id = 0; id < region_pool_chunk_limit(st->p); id++)
        if (region_pool_chunk_kept(st->p, id)) FZ_FAIL("a new pool keeps chunk %u", id);
    if (keep) set_keep(st, keep);
}

static void create(state_t *st, unsigned keep)
{
    int rc = region_pool_create(&st->opt, &st->p);
    if (rc != REGION_POOL_OK) FZ_FAIL("create: %d", rc);
    created(st, keep);
}

static void destroy(state_t *st)
{
    forget_all(st);
    if (region_pool_destroy(st->p) != REGION_POOL_OK) FZ_FAIL("destroy failed");
    st->p = NULL;
    cleanups_ran(st);
    if (st->custom && (st->src.maps.mapped || st->src.chunks))
        FZ_FAIL("%zu bytes still mapped after destroy", st->src.maps.mapped);
    st->nlarge = st->nkept = 0; /* kept chunks are released like the rest */
    st->kept_bytes = 0;
    src_clear(&st->src); /* every chunk released, in id order */
    /* the ring's addresses and handles belong to a dead pool */
    memset(&st->freed, 0, sizeof st->freed);
}

/* ---- the interpreter ------------------------------------------------------------------ */

static void run(state_t *st, fz_in_t *in)
{
    for (unsigned ops = 0; fz_more(in) && ops < 2048; ops++) {
        uint8_t op = fz_u8(in);
        src_clear(&st->src);
        if (op >= 0xf8) { /* rare: a stale view writes into chunk memory no live allocation holds */
            uint32_t limit = region_pool_chunk_limit(st->p);
            uint32_t id = limit ? fz_u16(in) % limit : 0;
            size_t off = fz_u32(in);
            region_pool_chunk_info_t info;
            int k = kept_find(st, id);
            if (k >= 0) { /* a kept chunk: all of it unowned (an old view may still write there) */
                off %= st->kept[k].bytes;
                fz_scribble_unowned(&st->s, st->kept[k].base + off, st->kept[k].bytes - off, in);
            } else if (region_pool_chunk_info(st->p, id, &info) == REGION_POOL_OK) {
                off %= info.bytes;
                fz_scribble_unowned(&st->s, (unsigned char *)info.base + off, info.bytes - off, in);
            }
            check_pool(st);
            continue;
        }
        switch (op % 16) {
        case 0: { /* palloc / pnalloc / alloc_ref (unaligned, zeroed) */
            size_t size = clamp(st, fz_size(in, BIG));
            uint8_t how = fz_u8(in);
            if ((how & 0x38) == 0x38 && st->keep_max) /* at the kept blocks' byte limit: the room left, or all of it */
                size = ((how & 0x40) ? REGION_POOL_KEEP_MAX_BYTES : REGION_POOL_KEEP_MAX_BYTES - st->kept_bytes) +
                       (how >> 7); /* or one byte more */
            region_pool_ref_t r = {0};
            int rc;
            if (how & 1) {
                unsigned flags = (how & 2 ? REGION_POOL_UNALIGNED : 0) | (how & 4 ? REGION_POOL_ZERO : 0);
                rc = region_pool_alloc_ref(st->p, size, 0, flags, &r);
                if (rc == REGION_POOL_OK && r.size != size) FZ_FAIL("ref size %zu, asked %zu", r.size, size);
            } else {
                rc = handle_of(st, (how & 2) ? region_pool_pnalloc(st->p, size) : region_pool_palloc(st->p, size), &r);
            }
            if (rc == REGION_POOL_OK) {
                served(st, &r, size, 0);
                took(st, &r, size, (how & 2) ? 1 : REGION_POOL_ALIGNMENT, (how & 5) == 5, fz_u8(in));
            } else if (rc != REGION_POOL_ERR_NOMEM) {
                FZ_FAIL("alloc(%zu): %d", size, rc);
            } else if (size > region_pool_max_small(st->p)) {
                no_kept_fit(st, size, 0);
            }
            break;
        }
        case 1: { /* calloc: count * size may overflow */
            size_t count = fz_u8(in) % 33u;
            size_t size = fz_size(in, BIG / 8);
            int overflow = count && size > SIZE_MAX / count;
            if (!overflow && clamp(st, count * size) != count * size) break;
            uint8_t how = fz_u8(in);
            region_pool_ref_t r = {0};
            int rc;
            if (how & 1) {
                rc = region_pool_calloc_ref(st->p, count, size, &r);
            } else {
                void *q = region_pool_calloc(st->p, count, size);
                rc = q ? handle_of(st, q, &r) : overflow ? REGION_POOL_ERR_RANGE : REGION_POOL_ERR_NOMEM;
            }
            if (overflow && rc != REGION_POOL_ERR_RANGE) FZ_FAIL("calloc overflow: %d", rc);
            if (rc == REGION_POOL_OK) {
                served(st, &r, count * size, 0);
                took(st, &r, count * size, REGION_POOL_ALIGNMENT, 1, fz_u8(in));
            } else if (!overflow && rc != REGION_POOL_ERR_NOMEM) {
                FZ_FAIL("calloc: %d", rc);
            } else if (!overflow && count * size > region_pool_max_small(st->p)) {
                no_kept_fit(st, count * size, 0);
            }
            break;
        }
        case 2: { /* memalign: a power of two, or (sometimes) not */
            uint8_t a = fz_u8(in);
            size_t align = (a & 0x80) ? (size_t)(a & 0x7f) : (size_t)1 << (a % 17u);
            size_t size = clamp(st, fz_size(in, BIG));
            uint8_t how = fz_u8(in);
            int valid = align && !(align & (align - 1));
            region_pool_ref_t r = {0};
            int rc;
            if (how & 1) {
                rc = region_pool_alloc_ref(st->p, size, align, REGION_POOL_MEMALIGN, &r);
            } else {
                void *q = region_pool_memalign(st->p, align, size);
                rc = q ? handle_of(st, q, &r) : valid ? REGION_POOL_ERR_NOMEM : REGION_POOL_ERR_INVALID;
            }
            if (!valid && rc != REGION_POOL_ERR_INVALID) FZ_FAIL("memalign(%zu): %d", align, rc);
            if (rc == REGION_POOL_OK) {
                served(st, &r, size, align);
                took(st, &r, size, align, 0, fz_u8(in));
            } else if (valid && rc != REGION_POOL_ERR_NOMEM) {
                FZ_FAIL("memalign(%zu, %zu): %d", align, size, rc);
            } else if (valid) {
                no_kept_fit(st, size, align);
            }
            break;
        }
        case 3: { /* realloc */
            int slot = fz_pick_live(&st->s, fz_u8(in));
            size_t size = clamp(st, fz_size(in, BIG));
            uint8_t how = fz_u8(in);
            if (slot >= 0) do_realloc(st, slot, size, how & 1);
            break;
        }
        case 4: { /* free */
            int slot = fz_pick_live(&st->s, fz_u8(in));
            uint8_t how = fz_u8(in);
            if (slot >= 0) do_free(st, slot, how & 1);
            break;
        }
        case 5: { /* double free / stale handle of something freed or reset */
            const fz_block_t *b = fz_pick_freed(&st->freed, fz_u8(in));
            uint8_t how = fz_u8(in);
            if (!b) break;
            if (how & 0x80) {
                if (fz_find(&st->s, b->p) < 0) misuse_ptr(st, b->p, how, kept_ptr_code(st, b->p));
            } else { /* freed since (double free), or before the last reset (stale) */
                misuse_handle(st, b->chunk, b->offset, b->gen, how,
                              b->owner == st->epoch ? REGION_POOL_ERR_DOUBLE_FREE : REGION_POOL_ERR_STALE);
            }
            break;
        }
        case 6: { /* interior pointer / handle */
            int slot = fz_pick_live(&st->s, fz_u8(in));
            size_t k = fz_u32(in);
            uint8_t how = fz_u8(in);
            if (slot < 0 || st->s.b[slot].size < 2) break;
            fz_block_t *b = &st->s.b[slot];
            size_t d = 1 + k % (b->size - 1);
            if (how & 0x80)
                misuse_ptr(st, b->p + d, how, 0);
            else
                misuse_handle(st, b->chunk, b->offset + d, b->gen, how, 0);
            fz_verify(b);
            break;
        }
        case 7: { /* foreign pointer; made-up handle */
            uint8_t k = fz_u8(in);
            uint32_t chunk = fz_u8(in) % 8u;
            size_t off = fz_u16(in);
            uint64_t gen = fz_u8(in);
            if (k & 1)
                misuse_ptr(st, st->foreign + (k >> 1) % sizeof st->foreign, k >> 1, REGION_POOL_ERR_FOREIGN);
            else
                misuse_handle(st, chunk, off, gen, k >> 1, 0);
            break;
        }
        case 8: { /* wild pointer into a chunk: a live start is a valid free */
            uint32_t limit = region_pool_chunk_limit(st->p);
            uint32_t id = limit ? fz_u16(in) % limit : 0;
            size_t off = fz_u32(in);
            uint8_t how = fz_u8(in);
            region_pool_chunk_info_t info;
            int k = kept_find(st, id);
            if (k >= 0) { /* into a kept chunk: its start is freed (or stale), the rest foreign */
                unsigned char *q = st->kept[k].base + off % st->kept[k].bytes;
                misuse_ptr(st, q, how, q == st->kept[k].base ? kept_ptr_code(st, q) : REGION_POOL_ERR_FOREIGN);
                break;
            }
            if (region_pool_chunk_info(st->p, id, &info) != REGION_POOL_OK) break;
            unsigned char *q = (unsigned char *)info.base + off % info.bytes;
            int slot = fz_find(&st->s, q);
            if (slot >= 0)
                do_free(st, slot, 0);
            else
                misuse_ptr(st, q, how, 0);
            int in_live = fz_find_containing(&st->s, q);
            if (in_live >= 0) fz_verify(&st->s.b[in_live]);
            break;
        }
        case 9: { /* a cleanup handler */
            uint8_t action = fz_u8(in);
            if (st->ncleanups >= MAX_CLEANUPS) break;
            cleanup_t *c = &st->cleanups[st->ncleanups++];
            *c = (cleanup_t){st, action, 0};
            if (region_pool_on_cleanup(st->p, cleanup_fn, c) != REGION_POOL_OK) FZ_FAIL("on_cleanup failed");
            break;
        }
        case 10: /* reset */
            forget_all(st);
            if (region_pool_reset(st->p) != REGION_POOL_OK) FZ_FAIL("reset failed");
            cleanups_ran(st);
            released_all(st); /* the large blocks (the cleanups' too), lowest id first */
            st->epoch++;
            break;
        case 11: /* destroy and create again (0x1b, 0x3b, ...: without keep_large) */
            destroy(st);
            create(st, (op & 0x10) ? 0 : st->keep_init);
            break;
        case 12: /* the source fails the next maps */
            st->src.maps.fail_next = fz_u8(in) % 4u;
            break;
        case 13:
            if ((op & 0x30) == 0x30) /* 0x3d, 0x7d, 0xbd: keep_large(0..5) */
                set_keep(st, fz_u8(in) % 6u);
            else
                region_pool_trim_cache();
            break;
        case 14: { /* on_cleanup(NULL) is refused */
            region_pool_stats_t a, b;
            region_pool_get_stats(st->p, &a);
            if (region_pool_on_cleanup(st->p, NULL, NULL) != REGION_POOL_ERR_INVALID) FZ_FAIL("on_cleanup(NULL)");
            if (region_pool_keep_large(NULL, 4) != REGION_POOL_ERR_INVALID || region_pool_chunk_kept(NULL, 0) ||
                region_pool_chunk_kept(st->p, REGION_POOL_NO_CHUNK) ||
                region_pool_chunk_kept(st->p, region_pool_chunk_limit(st->p)))
                FZ_FAIL("keep_large / chunk_kept without a pool or chunk");
            region_pool_get_stats(st->p, &b);
            if (!same_stats(&a, &b) || a.cleanups != b.cleanups) FZ_FAIL("a refused on_cleanup changed the pool");
            break;
        }
        default:
            if (!(op & 0x10)) { /* 0x0f, 0x2f, ...: external bumping */
                do_record(st, in);
                break;
            }
            /* 0x1f, 0x3f, ...: every live allocation is live */
            for (int i = 0; i < FZ_SLOTS; i++) {
                const fz_block_t *b = &st->s.b[i];
                size_t size = SIZE_MAX;
                if (b->p && (region_pool_state_at(st->p, b->chunk, b->offset, b->gen, &size) != REGION_POOL_OK ||
                             size != b->size))
                    FZ_FAIL("live allocation (%u, %zu) not live", b->chunk, b->offset);
            }
            walk_check_t w = {st, 0};
            if (region_pool_walk(st->p, walk_visit, &w) != REGION_POOL_OK) FZ_FAIL("walk failed");
            if (w.large_entries != st->nlarge) FZ_FAIL("walk: %u large blocks, model %u", w.large_entries, st->nlarge);
            break;
        }
        check_pool(st);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in_t in = {data, size, 0};
    state_t *st = calloc(1, sizeof *st);
    FZ_ASSERT(st);
    st->src.maps.budget = MAP_BUDGET;
    st->mem = (region_pool_memory_t){src_map, src_unmap, src_on_chunk, &st->src};
    uint8_t setup = fz_u8(&in);
    static const size_t blocks[] = {0, 256, 272, 1024, 4096, 16384, 65536, 1000, 255, 100000};
    static const size_t pages[] = {0, 16, 4096, 65536};
    st->custom = setup & 1;
    st->keep_init = (setup >> 3) % 6u; /* keep_large count, 0: off */
    st->opt.block_size = blocks[fz_u8(&in) % 10];
    st->opt.page_size = pages[(setup >> 1) % 4];
    st->opt.memory = st->custom ? &st->mem : NULL;
    int valid = st->opt.block_size == 0 ||
                (st->opt.block_size >= REGION_POOL_MIN_BLOCK && st->opt.block_size % REGION_POOL_BLOCK_GRANULE == 0);
    int rc = region_pool_create(&st->opt, &st->p);
    if (!valid) {
        if (rc != REGION_POOL_ERR_INVALID || st->p) FZ_FAIL("create(block %zu): %d", st->opt.block_size, rc);
        st->opt.block_size = 0;
        create(st, st->keep_init);
    } else if (rc != REGION_POOL_OK) {
        FZ_FAIL("create: %d", rc);
    } else {
        created(st, st->keep_init);
    }
    check_pool(st);

    run(st, &in);

    destroy(st);
    free(st);
    return 0;
}
