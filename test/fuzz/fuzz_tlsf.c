/*
 * fuzz_tlsf.c — libFuzzer harness for native/alloc/tlsf.c.
 *
 * The input is a program: a few setup bytes (regions, cache depth), then one
 * op per byte with its operands. Every block handed out is checked against the
 * shadow model (fuzz_common.h: aligned, inside a region, overlapping no live
 * block, calloc zeroed, its pattern intact until it is freed or moved) and
 * after every op tlsf_check must pass and the stats must agree with the model.
 * Misuse — double, interior, foreign and wild frees and reallocs, removing a
 * region in use — must return an error and change nothing (stats equal).
 */
#include "fuzz_common.h"
#include "tlsf.h"

#define MAX_REGIONS 4
#define MAX_AREA ((size_t)256 << 10)

typedef struct region {
    unsigned char *mem;
    void *bitmap;
    size_t area;
    int id; /* -1: not added */
} region_t;

typedef struct state {
    tlsf_t *t;
    region_t r[MAX_REGIONS];
    fz_shadow_t s;
    fz_freed_t freed;
    unsigned char foreign[64]; /* an address no region contains */
    int damaged;               /* a block's memory was scribbled on: only "never crash" holds */
} state_t;

/* An expectation of the contract, which holds until the heap is scribbled on. */
#define EXPECT(st, c, ...)                                                                                             \
    do {                                                                                                               \
        if (!(st)->damaged && !(c)) FZ_FAIL(__VA_ARGS__);                                                              \
    } while (0)

static void check_pool(state_t *st)
{
    const char *why = NULL;
    int rc = tlsf_check(st->t, &why);
    EXPECT(st, rc == TLSF_OK, "tlsf_check: %s", why ? why : "?");
    tlsf_stats_t stats;
    tlsf_get_stats(st->t, &stats);
    EXPECT(st, stats.allocations == st->s.live, "stats: %zu allocations, model %zu", stats.allocations, st->s.live);
}

static int same_stats(const tlsf_stats_t *a, const tlsf_stats_t *b)
{
    return a->used == b->used && a->free == b->free && a->cached == b->cached && a->allocations == b->allocations &&
           a->regions == b->regions && a->area == b->area && a->failed_allocations == b->failed_allocations;
}

static void add_region(state_t *st, size_t area)
{
    for (int i = 0; i < MAX_REGIONS; i++) {
        region_t *r = &st->r[i];
        if (r->mem) continue;
        area = area / 8 * 8;
        if (area < TLSF_REGION_MIN) area = TLSF_REGION_MIN;
        void *mem = NULL;
        if (posix_memalign(&mem, TLSF_REGION_ALIGN, area) != 0) mem = NULL;
        r->mem = mem;
        size_t bms = tlsf_bitmap_size(area);
        r->bitmap = malloc(bms ? bms : 1);
        FZ_ASSERT(r->mem && r->bitmap);
        r->area = area;
        r->id = tlsf_add_region(st->t, r->mem, area, r->bitmap);
        if (r->id < 0) FZ_FAIL("tlsf_add_region(%zu) = %d", area, r->id);
        return;
    }
}

static void drop_region(region_t *r)
{
    free(r->mem);
    free(r->bitmap);
    memset(r, 0, sizeof *r);
    r->id = -1;
}

/* A new block p (of `size` requested bytes, or NULL) from malloc/calloc/memalign/realloc(NULL). */
static void took(state_t *st, void *p, size_t size, size_t align, int zeroed, uint8_t seed)
{
    if (!p) {
        EXPECT(st, !tlsf_is_corrupted(st->t), "pool marked corrupted by a valid allocation");
        return;
    }
    if ((uintptr_t)p % (align > TLSF_ALIGN_SIZE ? align : TLSF_ALIGN_SIZE))
        FZ_FAIL("block %p not %zu-aligned", p, align);
    size_t usable = tlsf_usable_size(st->t, p);
    EXPECT(st, usable >= size, "usable size %zu < requested %zu", usable, size);
    int region;
    size_t offset;
    tlsf_region_info_t info;
    if (tlsf_locate(st->t, p, &region, &offset) != TLSF_OK || tlsf_region_info(st->t, region, &info) != TLSF_OK ||
        offset > info.area || usable > info.area - offset)
        FZ_FAIL("block %p (%zu bytes) not inside a region", p, usable);
    int slot = fz_free_slot(&st->s);
    if (slot < 0) {
        /* the model is full: give it straight back */
        int rc = tlsf_free(st->t, p);
        EXPECT(st, rc == TLSF_OK, "free of a fresh block failed");
        return;
    }
    fz_block_t b = {.p = p, .size = usable, .seed = seed, .owner = region, .offset = offset};
    if (st->damaged)
        fz_add_unchecked(&st->s, slot, b); /* blocks may overlap now */
    else
        fz_add(&st->s, slot, b, zeroed ? size : 0);
}

static void do_free(state_t *st, int slot, int by_offset)
{
    fz_block_t b = st->s.b[slot];
    if (!st->damaged) fz_verify(&b);
    int rc = by_offset ? tlsf_free_at(st->t, b.owner, b.offset) : tlsf_free(st->t, b.p);
    EXPECT(st, rc == TLSF_OK, "free of a live block: %d", rc);
    fz_remove(&st->s, slot);
    fz_remember_freed(&st->freed, &b);
}

/* A free (or realloc) of p, which is no live block's start, must fail and change nothing. */
static void misuse(state_t *st, void *p, uint8_t how, size_t size)
{
    tlsf_stats_t before, after;
    tlsf_get_stats(st->t, &before);
    int rc;
    void *out = NULL;
    switch (how % 4) {
    case 0:
        rc = tlsf_free(st->t, p);
        break;
    case 1:
        rc = tlsf_realloc(st->t, p, size, &out);
        break;
    case 2: {
        int region;
        size_t offset;
        rc = tlsf_locate(st->t, p, &region, &offset);
        if (rc == TLSF_OK) rc = tlsf_free_at(st->t, region, offset);
        break;
    }
    default: {
        int region;
        size_t offset;
        rc = tlsf_locate(st->t, p, &region, &offset);
        if (rc == TLSF_OK) rc = tlsf_block_state(st->t, region, offset);
        break;
    }
    }
    if (st->damaged) return;
    if (rc != TLSF_ERR_FOREIGN && rc != TLSF_ERR_DOUBLE_FREE)
        FZ_FAIL("misuse of %p (kind %d) returned %d, not FOREIGN/DOUBLE_FREE", p, how % 4, rc);
    if (tlsf_usable_size(st->t, p) != 0) FZ_FAIL("usable size of a non-block %p is not 0", p);
    tlsf_get_stats(st->t, &after);
    if (!same_stats(&before, &after)) FZ_FAIL("rejected misuse changed the stats");
}

static void do_realloc(state_t *st, int slot, size_t size)
{
    fz_block_t b = st->s.b[slot];
    if (!st->damaged) fz_verify(&b);
    void *out = NULL;
    int rc = tlsf_realloc(st->t, b.p, size, &out);
    if (rc != TLSF_OK) {
        EXPECT(st, rc == TLSF_ERR_NOMEM, "realloc of a live block: %d", rc);
        if (!st->damaged) fz_verify(&b); /* untouched */
        return;
    }
    FZ_ASSERT(out);
    fz_remove(&st->s, slot);
    if (!st->damaged) fz_verify_prefix(&b, out, size < b.size ? size : b.size);
    if (out != b.p) fz_remember_freed(&st->freed, &b);
    took(st, out, size, 1, 0, b.seed);
}


/* Write up to 8 input bytes where a buggy program would: the header word
 * before a live block, inside a freed block (free-list links), or at a
 * region's end (the sentinel). From then on the pool may be broken: it must
 * detect that (TLSF_ERR_CORRUPTED) or carry on, never crash or hand out
 * memory outside its regions. */
static void scribble(state_t *st, uint8_t op, fz_in_t *in)
{
    uint8_t pick = fz_u8(in);
    size_t k = fz_u8(in);
    size_t n = 1 + fz_u8(in) % 8u;
    uint8_t bytes[8];
    for (size_t i = 0; i < n; i++) bytes[i] = fz_u8(in);
    unsigned char *at = NULL;
    switch (op % 4) {
    case 0: { /* the header word (and the word before it) of a live block */
        int slot = fz_pick_live(&st->s, pick);
        if (slot >= 0) at = st->s.b[slot].p - 16 + k % 16;
        break;
    }
    case 1: { /* inside a freed block, if its region is still there */
        const fz_block_t *b = fz_pick_freed(&st->freed, pick);
        int region;
        size_t offset;
        if (b && tlsf_locate(st->t, b->p, &region, &offset) == TLSF_OK) at = b->p - 8 + k % 40;
        break;
    }
    case 2: { /* a region's last words */
        region_t *r = &st->r[pick % MAX_REGIONS];
        if (r->mem) at = r->mem + r->area - 1 - k % 32;
        break;
    }
    default: { /* anywhere in a region */
        region_t *r = &st->r[pick % MAX_REGIONS];
        if (r->mem) at = r->mem + (k * 977u + pick) % r->area;
        break;
    }
    }
    if (!at) return;
    /* stay inside the region the address is in */
    for (int i = 0; i < MAX_REGIONS; i++) {
        region_t *r = &st->r[i];
        if (!r->mem || at < r->mem || at >= r->mem + r->area) continue;
        for (size_t j = 0; j < n && at + j < r->mem + r->area; j++)
            at[j] = bytes[j];
        st->damaged = 1;
        return;
    }
}

static int count_used(const tlsf_block_info_t *b, void *user)
{
    if (b->used) ++*(size_t *)user;
    return 0;
}

/* tlsf_walk_free's walker as the Node binding's trim uses it: a free block's
 * bytes but its links and boundary tag read as zero afterwards. */
typedef struct zero_walk {
    tlsf_t *t;
    size_t blocks;
    int write;
} zero_walk_t;
static int zero_free(const tlsf_block_info_t *b, void *user)
{
    zero_walk_t *z = user;
    z->blocks++;
    if (b->used) FZ_FAIL("walk_free: a used block");
    unsigned char *p = tlsf_pointer(z->t, b->region, b->offset);
    if (!p) FZ_FAIL("walk_free: a block outside every region");
    tlsf_spare_t spare; /* what a trim gives back (the bitmap part is zero already) */
    tlsf_free_spare(b, &spare);
    if (z->write) memset(p - b->offset + spare.from, 0, spare.to - spare.from);
    return 0;
}

/* Does any live block lie in region index i? */
static int region_live(const state_t *st, int id)
{
    for (int i = 0; i < FZ_SLOTS; i++)
        if (st->s.b[i].p && st->s.b[i].owner == id) return 1;
    return 0;
}

static void run(state_t *st, fz_in_t *in)
{
    for (unsigned ops = 0; fz_more(in) && ops < 4096; ops++) {
        uint8_t op = fz_u8(in);
        if (op >= 0xf8) { /* rare: the user scribbles on memory around a block */
            scribble(st, op, in);
            check_pool(st);
            continue;
        }
        switch (op % 16) {
        case 0: { /* malloc */
            size_t size = fz_size(in, MAX_AREA);
            took(st, tlsf_malloc(st->t, size), size, 1, 0, fz_u8(in));
            break;
        }
        case 1: { /* calloc (count * size may overflow: then NULL) */
            size_t count = fz_u8(in) % 17u;
            size_t size = fz_size(in, MAX_AREA / 4);
            void *p = tlsf_calloc(st->t, count, size);
            if (p && count && size > SIZE_MAX / count) FZ_FAIL("calloc overflow not refused");
            took(st, p, count * size, 1, 1, fz_u8(in));
            break;
        }
        case 2: { /* memalign: a power of two, or (sometimes) not one */
            uint8_t a = fz_u8(in);
            size_t align = (a & 0x80) ? (size_t)(a & 0x7f) : (size_t)1 << (a % 13u);
            size_t size = fz_size(in, MAX_AREA);
            void *p = tlsf_memalign(st->t, align, size);
            if (p && (align == 0 || (align & (align - 1)))) FZ_FAIL("memalign(%zu) accepted", align);
            took(st, p, size, p ? align : 1, 0, fz_u8(in));
            break;
        }
        case 3: { /* realloc a live block */
            int slot = fz_pick_live(&st->s, fz_u8(in));
            size_t size = fz_size(in, MAX_AREA);
            if (slot >= 0) do_realloc(st, slot, size);
            break;
        }
        case 4: { /* realloc(NULL) */
            size_t size = fz_size(in, MAX_AREA);
            void *out = NULL;
            int rc = tlsf_realloc(st->t, NULL, size, &out);
            if ((rc == TLSF_OK) != (out != NULL)) FZ_FAIL("realloc(NULL): rc %d, out %p", rc, out);
            took(st, out, size, 1, 0, fz_u8(in));
            break;
        }
        case 5:
        case 6: { /* free a live block, by pointer or by (region, offset) */
            int slot = fz_pick_live(&st->s, fz_u8(in));
            if (slot >= 0) do_free(st, slot, op % 16 == 6);
            break;
        }
        case 7: { /* double free (or realloc) of a block freed earlier */
            const fz_block_t *b = fz_pick_freed(&st->freed, fz_u8(in));
            uint8_t how = fz_u8(in);
            size_t size = fz_size(in, 4096);
            if (b && fz_find(&st->s, b->p) < 0) misuse(st, b->p, how, size);
            break;
        }
        case 8: { /* interior pointer of a live block */
            int slot = fz_pick_live(&st->s, fz_u8(in));
            size_t k = fz_u16(in);
            uint8_t how = fz_u8(in);
            size_t size = fz_size(in, 4096);
            if (slot >= 0 && st->s.b[slot].size > 1) {
                fz_block_t *b = &st->s.b[slot];
                misuse(st, b->p + 1 + k % (b->size - 1), how, size);
                if (!st->damaged) fz_verify(b);
            }
            break;
        }
        case 9: { /* foreign pointers: outside every region, just before one, a region's end */
            uint8_t which = fz_u8(in);
            uint8_t how = fz_u8(in);
            region_t *r = &st->r[which % MAX_REGIONS];
            unsigned char *p = st->foreign + (which >> 4) % sizeof st->foreign;
            if (r->mem && (which & 8)) p = (which & 4) ? r->mem + r->area : r->mem - 8;
            if (fz_find(&st->s, p) < 0) misuse(st, p, how, 16);
            break;
        }
        case 10: { /* wild pointer into a region: a live start is a valid free, anything else an error */
            region_t *r = &st->r[fz_u8(in) % MAX_REGIONS];
            size_t off = fz_u32(in);
            uint8_t how = fz_u8(in);
            if (!r->mem) break;
            unsigned char *p = r->mem + off % r->area;
            int slot = fz_find(&st->s, p);
            if (slot >= 0)
                do_free(st, slot, 0);
            else
                misuse(st, p, how, 64);
            if (!st->damaged && fz_find_containing(&st->s, p) >= 0) fz_verify(&st->s.b[fz_find_containing(&st->s, p)]);
            break;
        }
        case 11: { /* cache depth */
            uint8_t d = fz_u8(in);
            unsigned depth = (d & 0x80) ? TLSF_CACHE_DEPTH_MAX + (d & 1) : d % 9u;
            int rc = tlsf_set_cache(st->t, depth);
            EXPECT(st, (rc == TLSF_OK) == (depth <= TLSF_CACHE_DEPTH_MAX), "set_cache(%u) = %d", depth, rc);
            break;
        }
        case 12:
            if (tlsf_flush_cache(st->t) != TLSF_OK && !st->damaged) FZ_FAIL("flush_cache failed");
            break;
        case 13: { /* add a region, or remove one (IN_USE while it holds a live block) */
            uint8_t which = fz_u8(in);
            size_t area = fz_u32(in) % MAX_AREA;
            region_t *r = &st->r[which % MAX_REGIONS];
            if (!r->mem) {
                add_region(st, area);
                break;
            }
            tlsf_stats_t before, after;
            tlsf_get_stats(st->t, &before);
            int rc = tlsf_remove_region(st->t, r->id);
            if (st->damaged) {
                if (rc != TLSF_OK) break;
                for (int i = 0; i < FZ_SLOTS; i++) /* blocks the broken pool no longer knows */
                    if (st->s.b[i].p && st->s.b[i].owner == r->id) fz_remove(&st->s, i);
                drop_region(r);
            } else if (region_live(st, r->id)) {
                tlsf_get_stats(st->t, &after);
                if (rc != TLSF_ERR_IN_USE || after.allocations != before.allocations || after.area != before.area)
                    FZ_FAIL("remove_region of a region in use: %d", rc);
            } else {
                if (rc != TLSF_OK) FZ_FAIL("remove_region of an empty region: %d", rc);
                drop_region(r);
            }
            break;
        }
        case 14: { /* bad region ids */
            int id = (int8_t)fz_u8(in);
            if (id >= 0 && id < TLSF_MAX_REGIONS) {
                int used = 0;
                for (int i = 0; i < MAX_REGIONS; i++) used |= st->r[i].mem && st->r[i].id == id;
                if (used) break;
            }
            if (tlsf_remove_region(st->t, id) != TLSF_ERR_INVALID) FZ_FAIL("remove_region(%d) accepted", id);
            if (tlsf_free_at(st->t, id, 8) == TLSF_OK) FZ_FAIL("free_at(%d) accepted", id);
            break;
        }
        default: { /* walk: the used blocks are exactly the live ones; the free ones zeroed as a trim does */
            zero_walk_t z = {st->t, 0, !st->damaged};
            int zrc = tlsf_walk_free(st->t, zero_free, &z);
            if (!st->damaged && zrc != TLSF_OK) FZ_FAIL("walk_free failed");
            size_t used = 0;
            int rc = tlsf_walk(st->t, count_used, &used);
            if (st->damaged) break;
            if (rc != TLSF_OK) FZ_FAIL("walk failed");
            if (used != st->s.live) FZ_FAIL("walk: %zu used blocks, model %zu", used, st->s.live);
            for (int i = 0; i < FZ_SLOTS; i++) {
                const fz_block_t *b = &st->s.b[i];
                if (b->p && tlsf_block_state(st->t, b->owner, b->offset) != TLSF_OK && !st->damaged)
                    FZ_FAIL("live block not live");
            }
            break;
        }
        }
        check_pool(st);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in_t in = {data, size, 0};
    static _Alignas(16) unsigned char control[1 << 16];
    if (tlsf_control_size() > sizeof control) FZ_FAIL("control structure larger than the harness expects");
    state_t *st = calloc(1, sizeof *st);
    FZ_ASSERT(st);
    for (int i = 0; i < MAX_REGIONS; i++) st->r[i].id = -1;
    st->t = tlsf_create(control, tlsf_control_size());
    FZ_ASSERT(st->t);
    uint8_t setup = fz_u8(&in);
    unsigned regions = 1 + setup % 3u;
    for (unsigned i = 0; i < regions; i++) add_region(st, 64 + fz_u16(&in) * 4u);
    if (setup & 0x80) tlsf_set_cache(st->t, 1 + (setup >> 3) % 8u);
    check_pool(st);

    run(st, &in);

    /* free everything; every region then comes out (of a damaged pool, what can) */
    for (int i = 0; i < FZ_SLOTS; i++)
        if (st->s.b[i].p) do_free(st, i, 0);
    check_pool(st);
    for (int i = 0; i < MAX_REGIONS; i++) {
        if (!st->r[i].mem) continue;
        int rc = tlsf_remove_region(st->t, st->r[i].id);
        EXPECT(st, rc == TLSF_OK, "remove_region of an emptied region");
    }
    /* only now give the memory back: a damaged pool may still hold a region
     * it refused to remove, and the next removal may read it */
    for (int i = 0; i < MAX_REGIONS; i++)
        if (st->r[i].mem) drop_region(&st->r[i]);
    free(st);
    return 0;
}
