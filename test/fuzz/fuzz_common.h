/*
 * fuzz_common.h — what every harness in test/fuzz shares: a reader that turns
 * the fuzz input into numbers (an exhausted input reads as zeros), a size
 * picker biased towards the edges that matter to allocators, and the shadow
 * model of live blocks (start, size, fill pattern; no two live blocks overlap).
 *
 * A broken expectation calls FZ_FAIL, which prints why and aborts, so that
 * libFuzzer (and the gcc replay driver) report it like a sanitizer finding.
 */
#ifndef MEMPOOLS_FUZZ_COMMON_H
#define MEMPOOLS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_FAIL(...)                                                                                                   \
    do {                                                                                                               \
        fprintf(stderr, "fuzz: %s:%d: ", __FILE__, __LINE__);                                                          \
        fprintf(stderr, __VA_ARGS__);                                                                                  \
        fputc('\n', stderr);                                                                                           \
        abort();                                                                                                       \
    } while (0)
#define FZ_ASSERT(c)                                                                                                   \
    do {                                                                                                               \
        if (!(c)) FZ_FAIL("assertion failed: %s", #c);                                                                 \
    } while (0)

/* ---- input reader ---------------------------------------------------------- */

typedef struct fz_in {
    const uint8_t *d;
    size_t n, i;
} fz_in_t;

static inline int fz_more(const fz_in_t *in) { return in->i < in->n; }

static inline uint8_t fz_u8(fz_in_t *in) { return in->i < in->n ? in->d[in->i++] : 0; }

static inline uint16_t fz_u16(fz_in_t *in) { return (uint16_t)(fz_u8(in) | (uint16_t)fz_u8(in) << 8); }

static inline uint32_t fz_u32(fz_in_t *in) { return (uint32_t)fz_u16(in) | (uint32_t)fz_u16(in) << 16; }

static inline uint64_t fz_u64(fz_in_t *in) { return (uint64_t)fz_u32(in) | (uint64_t)fz_u32(in) << 32; }

/* A size: mostly small, sometimes medium or up to `big`, sometimes an edge
 * value (0, around 8/16/page/class boundaries, and sizes no pool can serve). */
static inline size_t fz_size(fz_in_t *in, size_t big)
{
    static const size_t edges[] = {0,
                                   1,
                                   7,
                                   8,
                                   9,
                                   15,
                                   16,
                                   17,
                                   24,
                                   255,
                                   256,
                                   4095,
                                   4096,
                                   4097,
                                   65535,
                                   65536,
                                   65537,
                                   (size_t)2 << 20,
                                   ((size_t)2 << 20) + 1,
                                   (size_t)1 << 39,
                                   ((size_t)1 << 39) + 1,
                                   (size_t)1 << 46,
                                   ((size_t)1 << 46) + 1,
                                   SIZE_MAX / 2,
                                   SIZE_MAX - 4095,
                                   SIZE_MAX};
    uint8_t kind = fz_u8(in);
    switch (kind & 7) {
    case 0:
    case 1:
    case 2:
    case 3:
        return fz_u8(in);
    case 4:
    case 5:
        return fz_u16(in) % 4097u;
    case 6:
        return big ? fz_u32(in) % (big + 1) : 0;
    default: {
        size_t e = edges[fz_u8(in) % (sizeof edges / sizeof edges[0])];
        /* sizes above `big` that a pool could still try to map are clamped to
         * big (a real multi-GiB map under ASan is an OOM report, not a bug) */
        if (e > big && e < ((size_t)1 << 39)) e = big;
        return e;
    }
    }
}

/* ---- shadow model --------------------------------------------------------------- */

#define FZ_SLOTS 64
#define FZ_FILL_HEAD 2048u /* bytes of pattern written at the start of a block ... */
#define FZ_FILL_TAIL 256u  /* ... and at its end */

typedef struct fz_block {
    unsigned char *p; /* NULL: slot unused */
    size_t size;      /* bytes the caller may use (and the pattern covers) */
    uint8_t seed;
    /* handles, for the pools that have them */
    uint32_t chunk;
    size_t offset;
    uint64_t gen;
    int owner; /* pool index (heap pool family) or region id (tlsf) */
} fz_block_t;

typedef struct fz_shadow {
    fz_block_t b[FZ_SLOTS];
    size_t live;
} fz_shadow_t;

static inline uint8_t fz_pattern(uint8_t seed, size_t i) { return (uint8_t)(seed + i * 131u + (i >> 8)); }

/* Call f(i) for every pattern position of a block of `size` bytes. */
#define FZ_FOR_PATTERN(size, i, body)                                                                                  \
    do {                                                                                                               \
        size_t fz_sz_ = (size);                                                                                        \
        size_t fz_head_ = fz_sz_ < FZ_FILL_HEAD ? fz_sz_ : FZ_FILL_HEAD;                                               \
        for (size_t i = 0; i < fz_head_; i++) body;                                                                    \
        size_t fz_tail_ = fz_sz_ - fz_head_ < FZ_FILL_TAIL ? fz_sz_ - fz_head_ : FZ_FILL_TAIL;                         \
        for (size_t i = fz_sz_ - fz_tail_; i < fz_sz_; i++) body;                                                      \
    } while (0)

static inline void fz_fill(fz_block_t *b) { FZ_FOR_PATTERN(b->size, i, b->p[i] = fz_pattern(b->seed, i)); }

/* The first `size` bytes of b still hold b's pattern (a realloc keeps min(old, new)). */
static inline void fz_verify_prefix(const fz_block_t *b, const unsigned char *p, size_t size)
{
    FZ_FOR_PATTERN(b->size, i, {
        if (i < size && p[i] != fz_pattern(b->seed, i))
            FZ_FAIL("block %p (%zu bytes): byte %zu is %u, pattern says %u", (void *)b->p, b->size, i, p[i],
                    fz_pattern(b->seed, i));
    });
}

static inline void fz_verify(const fz_block_t *b) { fz_verify_prefix(b, b->p, b->size); }

static inline void fz_verify_zero(const unsigned char *p, size_t size)
{
    FZ_FOR_PATTERN(size, i, {
        if (p[i]) FZ_FAIL("zeroed block %p: byte %zu is %u", (void *)p, i, p[i]);
    });
}

/* The live slot whose block starts at p, or -1. */
static inline int fz_find(const fz_shadow_t *s, const void *p)
{
    for (int i = 0; i < FZ_SLOTS; i++)
        if (s->b[i].p && s->b[i].p == p) return i;
    return -1;
}

/* The live slot whose block contains p (start included), or -1. */
static inline int fz_find_containing(const fz_shadow_t *s, const void *p)
{
    const unsigned char *q = p;
    for (int i = 0; i < FZ_SLOTS; i++)
        if (s->b[i].p && q >= s->b[i].p && q < s->b[i].p + (s->b[i].size ? s->b[i].size : 1)) return i;
    return -1;
}

static inline int fz_free_slot(const fz_shadow_t *s)
{
    for (int i = 0; i < FZ_SLOTS; i++)
        if (!s->b[i].p) return i;
    return -1;
}

/* The `pick`-th live slot (wrapping), or -1 when none is live. */
static inline int fz_pick_live(const fz_shadow_t *s, uint8_t pick)
{
    if (!s->live) return -1;
    size_t k = pick % s->live;
    for (int i = 0; i < FZ_SLOTS; i++)
        if (s->b[i].p && k-- == 0) return i;
    return -1;
}

/* Record a fresh block in slot `slot` (from fz_free_slot): it must not overlap
 * any live block, and its first `zeroed` bytes must read as zeros (calloc).
 * Then fills the pattern. */
static inline void fz_add(fz_shadow_t *s, int slot, fz_block_t nb, size_t zeroed)
{
    FZ_ASSERT(slot >= 0 && slot < FZ_SLOTS && !s->b[slot].p && nb.p);
    size_t n = nb.size ? nb.size : 1;
    for (int i = 0; i < FZ_SLOTS; i++) {
        const fz_block_t *o = &s->b[i];
        if (!o->p) continue;
        size_t m = o->size ? o->size : 1;
        if (nb.p < o->p + m && o->p < nb.p + n)
            FZ_FAIL("new block [%p, +%zu) overlaps live block [%p, +%zu)", (void *)nb.p, nb.size, (void *)o->p,
                    o->size);
    }
    if (zeroed) fz_verify_zero(nb.p, zeroed < nb.size ? zeroed : nb.size);
    s->b[slot] = nb;
    s->live++;
    fz_fill(&s->b[slot]);
}

/* Record a block without the checks, for a pool already known to be damaged
 * (its blocks may overlap): only the pattern is written. */
static inline void fz_add_unchecked(fz_shadow_t *s, int slot, fz_block_t nb)
{
    FZ_ASSERT(slot >= 0 && slot < FZ_SLOTS && !s->b[slot].p && nb.p);
    s->b[slot] = nb;
    s->live++;
    fz_fill(&s->b[slot]);
}

static inline void fz_remove(fz_shadow_t *s, int slot)
{
    FZ_ASSERT(slot >= 0 && slot < FZ_SLOTS && s->b[slot].p);
    memset(&s->b[slot], 0, sizeof s->b[slot]);
    s->live--;
}

/* Write up to 16 input bytes at [p, p + room) where no live block lies: chunk
 * memory the program does not own right now (freed or never handed out), as a
 * stale view would. Pools that keep no metadata in their chunks (heap, region)
 * must not notice. */
static inline void fz_scribble_unowned(const fz_shadow_t *s, unsigned char *p, size_t room, fz_in_t *in)
{
    size_t n = 1 + fz_u8(in) % 16u;
    for (size_t i = 0; i < n && i < room; i++) {
        uint8_t v = fz_u8(in);
        if (fz_find_containing(s, p + i) < 0) p[i] = v;
    }
}

/* A short ring of addresses that were freed, for double-free attempts. */
#define FZ_FREED 16
typedef struct fz_freed {
    fz_block_t b[FZ_FREED];
    unsigned next;
} fz_freed_t;

static inline void fz_remember_freed(fz_freed_t *f, const fz_block_t *b)
{
    f->b[f->next % FZ_FREED] = *b;
    f->next++;
}

static inline const fz_block_t *fz_pick_freed(const fz_freed_t *f, uint8_t pick)
{
    unsigned n = f->next < FZ_FREED ? f->next : FZ_FREED;
    return n ? &f->b[pick % n] : NULL;
}

/* ---- a checked memory source ------------------------------------------------
 * What the heap and region harnesses give their pools as map/unmap callbacks:
 * posix_memalign'd maps within a byte budget, each unmap checked against its
 * map (same address and size), and the next fail_next maps refused. */
#define FZ_MAX_MAPS 512
typedef struct fz_maps {
    struct {
        void *p;
        size_t bytes;
    } map[FZ_MAX_MAPS];
    size_t mapped, budget;
    unsigned fail_next; /* the next this-many maps fail */
} fz_maps_t;

static inline void *fz_map(fz_maps_t *m, size_t bytes, size_t align)
{
    if (m->fail_next) {
        m->fail_next--;
        return NULL;
    }
    if (bytes > m->budget - m->mapped) return NULL;
    if (!align || (align & (align - 1))) FZ_FAIL("map: alignment %zu", align);
    for (int i = 0; i < FZ_MAX_MAPS; i++) {
        if (m->map[i].p) continue;
        void *p = NULL;
        if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, bytes) != 0) return NULL;
        m->map[i].p = p;
        m->map[i].bytes = bytes;
        m->mapped += bytes;
        return p;
    }
    return NULL;
}

static inline void fz_unmap(fz_maps_t *m, void *p, size_t bytes)
{
    for (int i = 0; i < FZ_MAX_MAPS; i++) {
        if (m->map[i].p != p) continue;
        if (m->map[i].bytes != bytes) FZ_FAIL("unmap(%p, %zu) of a %zu-byte map", p, bytes, m->map[i].bytes);
        free(p);
        m->mapped -= bytes;
        m->map[i].p = NULL;
        m->map[i].bytes = 0;
        return;
    }
    FZ_FAIL("unmap(%p, %zu) of nothing mapped", p, bytes);
}

#endif /* MEMPOOLS_FUZZ_COMMON_H */
