/*
 * heap_pool.c — Melon-style heap pool. See heap_pool.h for the contract.
 *
 * State of the pool, all of it outside chunk memory:
 *
 *   chunks[]   table indexed by chunk id: a class chunk, a large block, a chunk
 *              lent to a child, or a free slot (free slots form a LIFO list
 *              through `next`).
 *   hash       address map (chunk_map.h): key (granule << 1) | 1 -> id for every
 *              64 KiB granule of every class chunk, key base address (page-
 *              aligned, so even) -> id for large and lent chunks.
 *   classes[]  per size class: geometry, head of the partial list (class
 *              chunks with a block on their free stack or a never-carved block,
 *              doubly linked by id, a chunk that gets its first stacked block
 *              enters at the head), the spare (empty) chunk and the depth of its
 *              front cache.
 *   fcache[]   per size class: the front cache, a LIFO of up to FC_DEPTH
 *              recently freed blocks as (chunk id, block index). A free clears
 *              the block's live bit (so it is free for every validation) and
 *              pushes it here; a malloc of the class pops the newest one. Only
 *              when the cache is full does the older half go to the chunks' free
 *              stacks (oldest first), and only when it is empty does a malloc
 *              use the partial list. So a free/malloc pair of one class is a
 *              push and a pop, with no list or stack work, and reuse stays LIFO
 *              per class (hence within a chunk). A chunk released (spare policy,
 *              trim) takes its cached blocks out of the cache.
 *   children   doubly linked list of child pools.
 *
 * Memory source: src_map/src_unmap/src_ctx are the caller's callbacks, the
 * posix_memalign defaults, or lend_to_child/return_from_child with the parent
 * as context. obtain_memory/release_memory are the only places that call them.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include "heap_pool.h"

#include "bits.h"
#include "chunk_map.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- configuration ------------------------------------------------------- */

#define NONE UINT32_MAX
#define GRANULE_SHIFT 16
#define SMALL_CHUNK_MAX_BLOCK ((size_t)8 << 10) /* blocks up to this share a 64 KiB chunk */
#define BIG_CHUNK_TARGET ((size_t)256 << 10)    /* larger blocks: ~this many bytes per chunk */
#define MAX_PAGE ((size_t)64 << 10)
#define CHUNKS_MIN 16u
#define HASH_MIN 64u
#define FC_DEPTH 32u /* front cache entries per class (a power of two, even) */

enum chunk_kind {
    K_FREE = HEAP_POOL_CHUNK_NONE,
    K_CLASS = HEAP_POOL_CHUNK_CLASS,
    K_LARGE = HEAP_POOL_CHUNK_LARGE,
    K_LENT = HEAP_POOL_CHUNK_LENT
};

_Static_assert(HEAP_POOL_GRANULE == ((size_t)1 << GRANULE_SHIFT), "granule shift");
_Static_assert(HEAP_POOL_GRANULE / HEAP_POOL_MIN_CLASS <= 65535u, "block indices fit in uint16");

#if defined(__GNUC__) || defined(__clang__)
#define HOT static inline __attribute__((always_inline))
#define COLD static __attribute__((noinline, cold))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define HOT static inline
#define COLD static
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#endif

/* ---- structures ---------------------------------------------------------- */

/* One chunk id. Invariants: kind == K_FREE exactly when base == NULL (then the
 * id is on the free list). A class chunk: carved <= nblocks; block i's state
 * (block_state(): two bits of `bits`) has LIVE set exactly for the `live` live
 * blocks, all below carved, and TAGGED only for tagged live blocks; stack[0..top)
 * and the class's front cache together hold exactly the carved blocks that are
 * not live, each once (top + cached == carved - live); it is on its class's partial list exactly when can_serve(); live == 0 exactly when it is
 * its class's spare; each of its granules is in the hash under its id. */
typedef struct chunk {
    unsigned char *base;
    uint64_t *bits; /* class chunks: block states, 2 bits a block (see block_state()) */
    uint16_t *stack;
    size_t bytes;
    uint16_t top, carved, live, nblocks; /* a chunk holds at most 4096 blocks */
    uint32_t prev, next;                 /* partial list; next also links free slots */
    uint32_t bsize;                      /* class chunks: block size */
    uint32_t magic;                      /* class chunks: ceil(2^32 / bsize), see block_index() */
    uint8_t cls, kind;
    uint8_t tagged; /* large blocks: the allocation's tag (heap_pool_tagged) */
} chunk_t;

_Static_assert(sizeof(chunk_t) <= 64, "a chunk entry fits one cache line");

/* A class chunk is on its class's partial list exactly when this holds. */
static inline int can_serve(const chunk_t *c) { return c->top > 0 || c->carved < c->nblocks; }

/* One size class. Invariants: head starts the list of its chunks that can_serve();
 * spare is NONE or its only chunk with live == 0; ncache <= FC_DEPTH entries of
 * its front cache are in use. */
typedef struct size_class {
    uint32_t head;
    uint32_t spare;
    uint32_t bsize, nblocks;
    uint32_t magic; /* ceil(2^32 / bsize) */
    uint32_t ncache;
    size_t chunk_bytes;
} size_class_t;

/* A block in a front cache: freed (live bit clear), on no free stack. */
typedef struct centry {
    uint32_t id, idx;
} centry_t;

/* The pool. Invariants: reserved == bytes of all chunks (class + large + lent)
 * <= capacity; used == sum of live * bsize over class chunks + large_bytes;
 * allocations == sum of live + nlarge; hash.count == number of keys in the hash. */
struct heap_pool {
    /* hot: every malloc/free reads or writes these (one cache line) */
    chunk_t *chunks;
    chunk_map_t hash; /* address -> chunk id (chunk_map.h); cap > 0 */
    uint32_t nchunks; /* ids >= nchunks were never used */
    uint32_t chunk_cap;
    size_t used;
    size_t peak_used;
    size_t allocations;
    size_t nspares;

    uint32_t free_head;
    size_t capacity; /* SIZE_MAX: unbounded */
    size_t page;
    size_t reserved;
    size_t failed;
    size_t nclass;
    size_t nlarge;
    size_t large_bytes;
    size_t nlent;
    size_t ntagged_large;      /* tagged live large blocks (class blocks: class_tagged) */
    size_t tagged_large_bytes; /* their bytes */
    size_t lent_bytes;
    size_t meta_bytes;

    size_class_t classes[HEAP_POOL_CLASSES];
    size_t class_tagged[HEAP_POOL_CLASSES]; /* tagged live blocks per class */

    heap_pool_memory_t mem;
    void *(*src_map)(void *ctx, size_t bytes, size_t align);
    void (*src_unmap)(void *ctx, void *p, size_t bytes);
    void *src_ctx;
    heap_pool_t *parent, *first_child, *prev_sibling, *next_sibling;
    size_t nchildren;

    centry_t fcache[HEAP_POOL_CLASSES][FC_DEPTH]; /* front caches: [cls][0..ncache), newest last */
};

/* A live allocation resolved from (chunk, offset). */
typedef struct target {
    uint32_t idx; /* class chunks: block index */
    size_t usable;
} target_t;

/* ---- small helpers --------------------------------------------------------- */

static inline int is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }
static inline size_t round_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); } /* x <= MAX_REQUEST */

static inline uintptr_t granule_key(uintptr_t a) { return ((a >> GRANULE_SHIFT) << 1) | 1u; }

static void *default_map(void *ctx, size_t bytes, size_t align)
{
    (void)ctx;
    void *p = NULL;
    if (align < sizeof(void *)) align = sizeof(void *);
    if (posix_memalign(&p, align, bytes) != 0) return NULL;
    return p;
}

static void default_unmap(void *ctx, void *p, size_t bytes)
{
    (void)ctx;
    (void)bytes;
    free(p);
}

static void notify_chunk(heap_pool_t *p, uint32_t id, const chunk_t *c, int created)
{
    if (p->mem.on_chunk) p->mem.on_chunk(p->mem.ctx, id, c->base, c->bytes, created);
}

static inline void note_used(heap_pool_t *p)
{
    if (p->used > p->peak_used) p->peak_used = p->used;
}

/* ---- size classes ------------------------------------------------------------ */

/* Class index of a request <= HEAP_POOL_MAX_CLASS: one clz. */
HOT unsigned class_index(size_t n)
{
    if (n <= 32) return n <= 16 ? 0u : 1u;
    size_t m = n - 1;
    unsigned f = find_last_set64((uint64_t)m); /* n in (2^f, 2^(f+1)], f >= 5 */
    return 2u * (f - 5u) + 2u + (unsigned)((m >> (f - 1)) & 1u);
}

/* Class of a request n <= 1024: small_class[(n + 15) >> 4] (== class_index(n)). */
static const uint8_t small_class[65] = {0,  0,  1,  2,  3,  4,  4,  5,  5,  6,  6,  6,  6,  7,  7,  7,  7,
                                        8,  8,  8,  8,  8,  8,  8,  8,  9,  9,  9,  9,  9,  9,  9,  9,  10,
                                        10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 11, 11,
                                        11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11};

HOT unsigned class_index_fast(size_t n) { return LIKELY(n <= 1024) ? small_class[(n + 15) >> 4] : class_index(n); }

static void class_geometry(unsigned i, size_class_t *c)
{
    unsigned shift, three;
    if (i == 0) {
        shift = 4;
        three = 0;
    } else if (i & 1u) { /* 2^k */
        shift = 5 + (i - 1) / 2;
        three = 0;
    } else { /* 1.5 * 2^k = 3 * 2^(k-1) */
        shift = 5 + (i - 1) / 2 - 1;
        three = 1;
    }
    size_t b = (size_t)(three ? 3u : 1u) << shift;
    size_t bytes;
    if (b <= SMALL_CHUNK_MAX_BLOCK)
        bytes = HEAP_POOL_GRANULE;
    else {
        size_t n = BIG_CHUNK_TARGET / b;
        bytes = round_up(b * (n ? n : 1), HEAP_POOL_GRANULE);
    }
    c->head = NONE;
    c->spare = NONE;
    c->ncache = 0;
    c->bsize = (uint32_t)b;
    c->nblocks = (uint32_t)(bytes / b);
    c->magic = (uint32_t)((((uint64_t)1 << 32) + b - 1) / b);
    c->chunk_bytes = bytes;
}

int heap_pool_class_of(size_t size) { return size > HEAP_POOL_MAX_CLASS ? -1 : (int)class_index(size); }

size_t heap_pool_class_size(unsigned i)
{
    if (i >= HEAP_POOL_CLASSES) return 0;
    size_class_t c;
    class_geometry(i, &c);
    return c.bsize;
}

size_t heap_pool_class_chunk_bytes(unsigned i)
{
    if (i >= HEAP_POOL_CLASSES) return 0;
    size_class_t c;
    class_geometry(i, &c);
    return c.chunk_bytes;
}

/* ---- chunk table ------------------------------------------------------------ */

/* A free id (the table grown if needed), or NONE when out of memory. */
static uint32_t acquire_slot(heap_pool_t *p)
{
    if (p->free_head != NONE) {
        uint32_t id = p->free_head;
        p->free_head = p->chunks[id].next;
        p->chunks[id].next = NONE;
        return id;
    }
    if (p->nchunks == p->chunk_cap) {
        if (p->chunk_cap >= NONE / 4) return NONE;
        uint32_t cap = p->chunk_cap ? p->chunk_cap * 2 : CHUNKS_MIN;
        chunk_t *t = realloc(p->chunks, (size_t)cap * sizeof *t);
        if (!t) return NONE;
        p->chunks = t;
        p->chunk_cap = cap;
    }
    uint32_t id = p->nchunks++;
    memset(&p->chunks[id], 0, sizeof p->chunks[id]);
    p->chunks[id].prev = p->chunks[id].next = NONE;
    return id;
}

static void release_slot(heap_pool_t *p, uint32_t id)
{
    chunk_t *c = &p->chunks[id];
    memset(c, 0, sizeof *c);
    c->prev = NONE;
    c->kind = K_FREE;
    c->next = p->free_head;
    p->free_head = id;
}

/* ---- address hash -------------------------------------------------------------- */

/* The address map (chunk_map.h): keys are granule numbers (consecutive
 * within a chunk, tagged with bit 0) or page-aligned addresses. */
static int reserve_hash(heap_pool_t *p, size_t n) { return chunk_map_reserve(&p->hash, n, HASH_MIN, NULL); }

static void insert_hash(heap_pool_t *p, uintptr_t key, uint32_t id) /* after reserve_hash */
{
    chunk_map_insert(&p->hash, key, id);
}

HOT int find_hash(const heap_pool_t *p, uintptr_t key, uint32_t *id) /* hash.cap > 0 */
{
    return chunk_map_find(&p->hash, key, id);
}

static void remove_hash(heap_pool_t *p, uintptr_t key) { chunk_map_remove(&p->hash, key); }

/* Chunk id and offset of an address: a class chunk containing it, or a large
 * or lent chunk starting at it. 0 when neither. O(1). */
HOT int find_chunk(const heap_pool_t *p, const void *ptr, uint32_t *id, size_t *off)
{
    uintptr_t a = (uintptr_t)ptr;
    uint32_t i;
    if (LIKELY(find_hash(p, granule_key(a), &i))) {
        *id = i;
        *off = (size_t)(a - (uintptr_t)p->chunks[i].base);
        return 1;
    }
    if (a && !(a & 1u) && find_hash(p, a, &i)) {
        *id = i;
        *off = 0;
        return 1;
    }
    return 0;
}

/* ---- the memory source ------------------------------------------------------------ */

static size_t trim_spares(heap_pool_t *p);

static inline int fits_capacity(const heap_pool_t *p, size_t bytes)
{
    return p->capacity == SIZE_MAX || bytes <= p->capacity - p->reserved;
}

/* `bytes` at `align` from the source, counted in reserved; NULL (nothing
 * changed but spares released) when capacity or the source refuses. */
static void *obtain_memory(heap_pool_t *p, size_t bytes, size_t align)
{
    if (!fits_capacity(p, bytes) && (!trim_spares(p) || !fits_capacity(p, bytes))) return NULL;
    void *b = p->src_map(p->src_ctx, bytes, align);
    if (!b && trim_spares(p)) b = p->src_map(p->src_ctx, bytes, align);
    if (!b) return NULL;
    if ((uintptr_t)b & (align - 1)) { /* the source broke its contract */
        p->src_unmap(p->src_ctx, b, bytes);
        return NULL;
    }
    p->reserved += bytes;
    return b;
}

static void release_memory(heap_pool_t *p, void *base, size_t bytes)
{
    p->src_unmap(p->src_ctx, base, bytes);
    p->reserved -= bytes;
}

/* A chunk of one block (large or lent): its slot, its memory and its one hash
 * entry (by base), or NONE with nothing changed. */
static uint32_t map_whole_chunk(heap_pool_t *p, size_t bytes, size_t align, uint8_t kind)
{
    uint32_t id = acquire_slot(p);
    if (id == NONE) return NONE;
    void *base = reserve_hash(p, 1) ? obtain_memory(p, bytes, align) : NULL;
    if (!base) {
        release_slot(p, id);
        return NONE;
    }
    chunk_t *c = &p->chunks[id];
    c->base = base;
    c->bytes = bytes;
    c->kind = kind;
    insert_hash(p, (uintptr_t)base, id);
    return id;
}

/* A parent's side of a child's source: a lent chunk, registered by base. */
static void *lend_to_child(void *ctx, size_t bytes, size_t align)
{
    heap_pool_t *p = ctx;
    if (align < p->page) align = p->page;
    uint32_t id = map_whole_chunk(p, bytes, align, K_LENT);
    if (id == NONE) return NULL;
    void *base = p->chunks[id].base;
    p->nlent++;
    p->lent_bytes += bytes;
    return base;
}

static void return_from_child(void *ctx, void *base, size_t bytes)
{
    heap_pool_t *p = ctx;
    uint32_t id;
    if (!base || ((uintptr_t)base & 1u) || !find_hash(p, (uintptr_t)base, &id)) return;
    chunk_t *c = &p->chunks[id];
    if (c->kind != K_LENT || c->bytes != bytes) return;
    remove_hash(p, (uintptr_t)base);
    release_memory(p, base, bytes);
    p->nlent--;
    p->lent_bytes -= bytes;
    release_slot(p, id);
}

/* ---- class chunks ---------------------------------------------------------------- */

static void unlink_partial(heap_pool_t *p, size_class_t *sc, chunk_t *c)
{
    if (c->prev != NONE)
        p->chunks[c->prev].next = c->next;
    else
        sc->head = c->next;
    if (c->next != NONE) p->chunks[c->next].prev = c->prev;
    c->prev = c->next = NONE;
}

static void push_partial(heap_pool_t *p, size_class_t *sc, chunk_t *c, uint32_t id)
{
    c->prev = NONE;
    c->next = sc->head;
    if (sc->head != NONE) p->chunks[sc->head].prev = id;
    sc->head = id;
}

/* A class chunk's block states: two bits a block, block i's at bits
 * state_shift(i) (LIVE) and state_shift(i) + 1 (TAGGED) of bits[i / 32], so that
 * a tagged block is handed out or freed with one store (the tag is its live bit's
 * neighbour). Words: state_words(); the free stack follows them. */
#define LIVE 1u
#define TAGGED 2u
#define LIVE_MASK 0x5555555555555555ull /* the LIVE bits of a word */
static inline size_t state_words(uint32_t nblocks) { return ((size_t)nblocks + 31) / 32; }
static inline unsigned state_shift(size_t idx) { return (unsigned)(idx << 1) & 63u; } /* 2 * (idx % 32): one lea */
static inline unsigned block_state(const chunk_t *c, size_t idx)
{
    return (c->bits[idx >> 5] >> state_shift(idx)) & 3u;
}

static size_t side_table_bytes(uint32_t nblocks)
{
    return state_words(nblocks) * sizeof(uint64_t) + (size_t)nblocks * sizeof(uint16_t);
}

/* Notify, unregister, give back, free the id. */
static void release_class_chunk(heap_pool_t *p, uint32_t id)
{
    chunk_t *c = &p->chunks[id];
    size_class_t *sc = &p->classes[c->cls];
    if (can_serve(c)) unlink_partial(p, sc, c);
    if (c->live + c->top < c->carved) { /* some of its blocks are cached: take them out, in order */
        centry_t *e = p->fcache[c->cls];
        uint32_t n = 0;
        for (uint32_t k = 0; k < sc->ncache; k++)
            if (e[k].id != id) e[n++] = e[k];
        sc->ncache = n;
    }
    if (sc->spare == id) {
        sc->spare = NONE;
        p->nspares--;
    }
    notify_chunk(p, id, c, 0);
    for (size_t g = 0; g < c->bytes; g += HEAP_POOL_GRANULE) remove_hash(p, granule_key((uintptr_t)c->base + g));
    release_memory(p, c->base, c->bytes);
    p->meta_bytes -= side_table_bytes(c->nblocks);
    p->nclass--;
    free(c->bits);
    release_slot(p, id);
}

static size_t trim_spares(heap_pool_t *p)
{
    size_t released = 0;
    if (!p->nspares) return 0;
    for (unsigned i = 0; i < HEAP_POOL_CLASSES; i++) {
        uint32_t s = p->classes[i].spare;
        if (s == NONE) continue;
        released += p->chunks[s].bytes;
        release_class_chunk(p, s);
    }
    return released;
}

/* A fresh class chunk on its class's partial list, or NONE (nothing changed). */
static uint32_t new_class_chunk(heap_pool_t *p, unsigned cls)
{
    size_class_t *sc = &p->classes[cls];
    size_t ngran = sc->chunk_bytes / HEAP_POOL_GRANULE;
    size_t words = state_words(sc->nblocks);
    uint32_t id = acquire_slot(p);
    if (id == NONE) return NONE;
    /* one malloc: the block states, then the free stack */
    uint64_t *bits = calloc(1, side_table_bytes(sc->nblocks));
    if (!bits || !reserve_hash(p, ngran)) {
        free(bits);
        release_slot(p, id);
        return NONE;
    }
    void *base = obtain_memory(p, sc->chunk_bytes, HEAP_POOL_GRANULE);
    if (!base) {
        free(bits);
        release_slot(p, id);
        return NONE;
    }
    chunk_t *c = &p->chunks[id];
    c->base = base;
    c->bytes = sc->chunk_bytes;
    c->bits = bits;
    c->stack = (uint16_t *)(bits + words);
    c->top = c->carved = c->live = 0;
    c->nblocks = (uint16_t)sc->nblocks;
    c->bsize = sc->bsize;
    c->magic = sc->magic;
    c->cls = (uint8_t)cls;
    c->kind = K_CLASS;
    for (size_t g = 0; g < ngran; g++) insert_hash(p, granule_key((uintptr_t)base + g * HEAP_POOL_GRANULE), id);
    push_partial(p, sc, c, id);
    p->nclass++;
    p->meta_bytes += side_table_bytes(sc->nblocks);
    notify_chunk(p, id, c, 1);
    return id;
}

/* Push block idx of class chunk c on its free stack (it enters the partial
 * list, at the head, if it was not on it). */
static inline void stack_block(heap_pool_t *p, size_class_t *sc, chunk_t *c, uint32_t id, uint32_t idx)
{
    if (!can_serve(c)) push_partial(p, sc, c, id);
    c->stack[c->top++] = (uint16_t)idx;
}

/* The front cache of class cls is full: move its older half, oldest first, to
 * the free stacks of their chunks (so every stack stays ordered by age), and
 * slide the newer half down. */
COLD void spill_cache(heap_pool_t *p, unsigned cls)
{
    size_class_t *sc = &p->classes[cls];
    centry_t *e = p->fcache[cls];
    uint32_t half = sc->ncache / 2;
    for (uint32_t k = 0; k < half; k++) stack_block(p, sc, &p->chunks[e[k].id], e[k].id, e[k].idx);
    memmove(e, e + half, (size_t)(sc->ncache - half) * sizeof *e);
    sc->ncache -= half;
}

/* Chunk id's last live block was freed: it becomes the class's spare, and the
 * older spare (if any) is released. */
COLD void chunk_emptied(heap_pool_t *p, size_class_t *sc, uint32_t id)
{
    if (sc->spare != NONE) release_class_chunk(p, sc->spare); /* keep the newest empty chunk */
    sc->spare = id;
    p->nspares++;
}

/* The partial list's head chunk (a new chunk if none): its newest stacked
 * block, or its next never-carved one. NONE when no chunk can be had. */
COLD uint32_t alloc_from_chunks(heap_pool_t *p, unsigned cls, uint32_t *idx_out)
{
    size_class_t *sc = &p->classes[cls];
    uint32_t id = sc->head;
    if (id == NONE) {
        id = new_class_chunk(p, cls);
        if (id == NONE) return NONE;
    }
    chunk_t *c = &p->chunks[id];
    *idx_out = c->top ? c->stack[--c->top] : c->carved++;
    if (c->top == 0 && c->carved == c->nblocks) unlink_partial(p, sc, c);
    return id;
}

/* Block idx of chunk c (id, class sc) is handed out: its state (LIVE, or
 * LIVE | TAGGED), counters, spare. The tag's counter is the caller's. */
HOT void mark_live(heap_pool_t *p, size_class_t *sc, chunk_t *c, uint32_t id, uint32_t idx, unsigned state)
{
    c->bits[idx >> 5] |= (uint64_t)state << state_shift(idx);
    if (UNLIKELY(c->live++ == 0) && sc->spare == id) { /* the spare is in use again */
        sc->spare = NONE;
        p->nspares--;
    }
    size_t used = p->used + sc->bsize;
    p->used = used;
    p->allocations++;
    if (UNLIKELY(used > p->peak_used)) p->peak_used = used;
}

/* Live block idx of chunk c (id, class cls) is freed into the class's front
 * cache, which has room: live bit, counters, push. */
HOT void cache_block(heap_pool_t *p, size_class_t *sc, unsigned cls, chunk_t *c, uint32_t id, uint32_t idx,
                     int tagged /* 1: known tagged, 0: known untagged, -1: look */)
{
    uint64_t *w = &c->bits[idx >> 5], old = *w;
    unsigned shift = state_shift(idx);
    if (tagged >= 0)
        *w = old ^ ((uint64_t)(tagged ? LIVE | TAGGED : LIVE) << shift); /* the state is known: clear it */
    else
        *w = old & ~((uint64_t)3 << shift); /* live and tag bits at once */
    if (tagged > 0 || (tagged < 0 && UNLIKELY((old >> shift) & TAGGED))) p->class_tagged[cls]--;
    c->live--;
    p->used -= sc->bsize;
    p->allocations--;
    centry_t *e = &p->fcache[cls][sc->ncache++];
    e->id = id;
    e->idx = idx;
}

/* A block of class cls: the newest block of the front cache, else from the chunks. */
HOT int alloc_class(heap_pool_t *p, unsigned cls, heap_pool_ref_t *out)
{
    size_class_t *sc = &p->classes[cls];
    uint32_t id, idx;
    if (LIKELY(sc->ncache)) {
        const centry_t *e = &p->fcache[cls][--sc->ncache];
        id = e->id;
        idx = e->idx;
    } else {
        id = alloc_from_chunks(p, cls, &idx);
        if (UNLIKELY(id == NONE)) return HEAP_POOL_ERR_NOMEM;
    }
    chunk_t *c = &p->chunks[id];
    mark_live(p, sc, c, id, idx, LIVE);
    size_t bsize = sc->bsize, off = (size_t)idx * bsize;
    out->ptr = c->base + off;
    out->chunk = id;
    out->offset = off;
    out->size = bsize;
    return HEAP_POOL_OK;
}

/* Free block idx of class chunk id (validated): into the class's front cache;
 * keep the class's spare policy. */
HOT void free_class(heap_pool_t *p, uint32_t id, uint32_t idx)
{
    chunk_t *c = &p->chunks[id];
    unsigned cls = c->cls;
    size_class_t *sc = &p->classes[cls];
    if (UNLIKELY(sc->ncache == FC_DEPTH)) spill_cache(p, cls);
    cache_block(p, sc, cls, c, id, idx, -1);
    if (UNLIKELY(c->live == 0)) chunk_emptied(p, sc, id);
}

/* ---- large blocks ---------------------------------------------------------------------- */

static int alloc_large(heap_pool_t *p, size_t bytes, heap_pool_ref_t *out)
{
    uint32_t id = map_whole_chunk(p, bytes, p->page, K_LARGE);
    if (id == NONE) return HEAP_POOL_ERR_NOMEM;
    chunk_t *c = &p->chunks[id];
    void *base = c->base;
    c->tagged = 0;
    p->nlarge++;
    p->large_bytes += bytes;
    p->used += bytes;
    p->allocations++;
    note_used(p);
    notify_chunk(p, id, c, 1);
    out->ptr = base;
    out->chunk = id;
    out->offset = 0;
    out->size = bytes;
    return HEAP_POOL_OK;
}

static void free_large(heap_pool_t *p, uint32_t id)
{
    chunk_t *c = &p->chunks[id];
    notify_chunk(p, id, c, 0);
    remove_hash(p, (uintptr_t)c->base);
    release_memory(p, c->base, c->bytes);
    if (c->tagged) {
        p->ntagged_large--;
        p->tagged_large_bytes -= c->bytes;
    }
    p->nlarge--;
    p->large_bytes -= c->bytes;
    p->used -= c->bytes;
    p->allocations--;
    release_slot(p, id);
}

/* ---- allocation core ---------------------------------------------------------------------- */

HOT int alloc_block(heap_pool_t *p, size_t size, heap_pool_ref_t *out)
{
    if (LIKELY(size <= HEAP_POOL_MAX_CLASS)) {
        unsigned cls = class_index(size);
        if (LIKELY(alloc_class(p, cls, out) == HEAP_POOL_OK)) return HEAP_POOL_OK;
        /* no class chunk to be had: a block of its own, if that is smaller */
        size_t bytes = round_up(size ? size : 1, p->page);
        if (bytes < p->classes[cls].chunk_bytes && alloc_large(p, bytes, out) == HEAP_POOL_OK) return HEAP_POOL_OK;
    } else if (size <= HEAP_POOL_MAX_REQUEST && alloc_large(p, round_up(size, p->page), out) == HEAP_POOL_OK) {
        return HEAP_POOL_OK;
    }
    p->failed++;
    return HEAP_POOL_ERR_NOMEM;
}

/* Index of the block starting at offset off (< c->bytes) of class chunk c, or
 * SIZE_MAX when off is not the start of a carved block. off * magic >> 32 is
 * off / bsize whenever off is a multiple of bsize (off = q * bsize with
 * q * bsize <= 2 MiB: the rounding error q * (magic * bsize - 2^32) < q * bsize
 * stays below 2^32), so one multiply-back check validates both. */
HOT size_t block_index(const chunk_t *c, size_t off)
{
    size_t idx = (size_t)(((uint64_t)off * c->magic) >> 32);
    if (UNLIKELY(idx * c->bsize != off || idx >= c->carved)) return SIZE_MAX;
    return idx;
}

/* Validate (chunk, offset) against the side tables only. */
HOT int resolve(const heap_pool_t *p, uint32_t id, size_t off, target_t *t)
{
    if (UNLIKELY(id >= p->nchunks)) return HEAP_POOL_ERR_FOREIGN;
    const chunk_t *c = &p->chunks[id];
    if (LIKELY(c->kind == K_CLASS)) {
        if (UNLIKELY(off >= c->bytes)) return HEAP_POOL_ERR_FOREIGN;
        size_t q = block_index(c, off);
        if (UNLIKELY(q == SIZE_MAX)) return HEAP_POOL_ERR_FOREIGN;
        if (UNLIKELY(!(block_state(c, q) & LIVE))) return HEAP_POOL_ERR_DOUBLE_FREE;
        t->idx = (uint32_t)q;
        t->usable = c->bsize;
        return HEAP_POOL_OK;
    }
    if (c->kind == K_LARGE && off == 0) {
        t->idx = 0;
        t->usable = c->bytes;
        return HEAP_POOL_OK;
    }
    return HEAP_POOL_ERR_FOREIGN;
}

HOT void free_target(heap_pool_t *p, uint32_t id, const target_t *t)
{
    if (LIKELY(p->chunks[id].kind == K_CLASS))
        free_class(p, id, t->idx);
    else
        free_large(p, id);
}

/* ---- tags ------------------------------------------------------------------------------------ */

/* Whether the live block (id, t) is tagged. */
HOT int is_tagged(const heap_pool_t *p, uint32_t id, const target_t *t)
{
    const chunk_t *c = &p->chunks[id];
    if (c->kind != K_CLASS) return c->tagged;
    return (block_state(c, t->idx) & TAGGED) != 0;
}

/* Tags (on) or untags the live block (id, t), which is not / is tagged. */
static void set_tag(heap_pool_t *p, uint32_t id, const target_t *t, int on)
{
    chunk_t *c = &p->chunks[id];
    if (c->kind != K_CLASS) {
        p->ntagged_large = on ? p->ntagged_large + 1 : p->ntagged_large - 1;
        p->tagged_large_bytes = on ? p->tagged_large_bytes + t->usable : p->tagged_large_bytes - t->usable;
        c->tagged = (uint8_t)on;
        return;
    }
    p->class_tagged[c->cls] = on ? p->class_tagged[c->cls] + 1 : p->class_tagged[c->cls] - 1;
    uint64_t bit = (uint64_t)TAGGED << state_shift(t->idx);
    uint64_t *w = &c->bits[t->idx >> 5];
    *w = on ? *w | bit : *w & ~bit;
}

/* Tags a block alloc_block just handed out. */
HOT void tag_new(heap_pool_t *p, const heap_pool_ref_t *r)
{
    target_t t = {0, r->size};
    const chunk_t *c = &p->chunks[r->chunk];
    if (c->kind == K_CLASS) t.idx = (uint32_t)(((uint64_t)r->offset * c->magic) >> 32);
    set_tag(p, r->chunk, &t, 1);
}

/* The live tagged block at ptr: its chunk and target, else why not. */
HOT int resolve_tagged(const heap_pool_t *p, const void *ptr, uint32_t *id, size_t *off, target_t *t)
{
    if (!p) return HEAP_POOL_ERR_INVALID;
    if (!ptr || !find_chunk(p, ptr, id, off)) return HEAP_POOL_ERR_FOREIGN;
    int rc = resolve(p, *id, *off, t);
    if (rc == HEAP_POOL_OK && !is_tagged(p, *id, t)) return HEAP_POOL_ERR_FOREIGN;
    return rc;
}

/* ---- pool ---------------------------------------------------------------------------------- */

int heap_pool_create(const heap_pool_options_t *opt, heap_pool_t **out)
{
    if (!out) return HEAP_POOL_ERR_INVALID;
    *out = NULL;
    heap_pool_options_t o = {0, 0, NULL, NULL};
    if (opt) o = *opt;
    size_t page = o.page_size;
    if (!page) page = o.parent ? o.parent->page : (size_t)sysconf(_SC_PAGESIZE);
    if (!is_pow2(page) || page < HEAP_POOL_ALIGNMENT || page > MAX_PAGE) return HEAP_POOL_ERR_INVALID;
    if (!o.parent && o.memory && (!o.memory->map || !o.memory->unmap)) return HEAP_POOL_ERR_INVALID;
    heap_pool_t *p = calloc(1, sizeof *p);
    if (!p) return HEAP_POOL_ERR_NOMEM;
    if (!reserve_hash(p, 1)) { /* the hash is never empty-sized: lookups need no check */
        free(p);
        return HEAP_POOL_ERR_NOMEM;
    }
    p->capacity = o.capacity ? o.capacity : SIZE_MAX;
    p->page = page;
    if (o.memory) p->mem = *o.memory;
    if (o.parent) {
        p->src_map = lend_to_child;
        p->src_unmap = return_from_child;
        p->src_ctx = o.parent;
        p->parent = o.parent;
        p->next_sibling = o.parent->first_child;
        if (o.parent->first_child) o.parent->first_child->prev_sibling = p;
        o.parent->first_child = p;
        o.parent->nchildren++;
    } else if (o.memory) {
        p->src_map = o.memory->map;
        p->src_unmap = o.memory->unmap;
        p->src_ctx = o.memory->ctx;
    } else {
        p->src_map = default_map;
        p->src_unmap = default_unmap;
        p->src_ctx = NULL;
    }
    p->free_head = NONE;
    for (unsigned i = 0; i < HEAP_POOL_CLASSES; i++) class_geometry(i, &p->classes[i]);
    *out = p;
    return HEAP_POOL_OK;
}

void heap_pool_destroy(heap_pool_t *p)
{
    if (!p) return;
    while (p->first_child) heap_pool_destroy(p->first_child);
    for (uint32_t id = 0; id < p->nchunks; id++) {
        chunk_t *c = &p->chunks[id];
        if (c->kind == K_CLASS || c->kind == K_LARGE) notify_chunk(p, id, c, 0);
        if (c->kind != K_FREE) p->src_unmap(p->src_ctx, c->base, c->bytes);
        free(c->bits);
    }
    if (p->mem.on_destroy) p->mem.on_destroy(p->mem.ctx, p);
    if (p->parent) {
        if (p->prev_sibling)
            p->prev_sibling->next_sibling = p->next_sibling;
        else
            p->parent->first_child = p->next_sibling;
        if (p->next_sibling) p->next_sibling->prev_sibling = p->prev_sibling;
        p->parent->nchildren--;
    }
    free(p->chunks);
    free(p->hash.slots);
    free(p);
}

heap_pool_t *heap_pool_parent(const heap_pool_t *p) { return p ? p->parent : NULL; }
size_t heap_pool_page_size(const heap_pool_t *p) { return p ? p->page : 0; }

size_t heap_pool_available_capacity(const heap_pool_t *p)
{
    if (!p) return 0;
    return p->capacity == SIZE_MAX ? SIZE_MAX : p->capacity - p->reserved;
}

size_t heap_pool_trim(heap_pool_t *p) { return p ? trim_spares(p) : 0; }

/* ---- allocation with handles ------------------------------------------------------------------ */

int heap_pool_alloc_ref(heap_pool_t *p, size_t size, unsigned flags, heap_pool_ref_t *out)
{
    if (!p || !out || (flags & ~(HEAP_POOL_ZERO | HEAP_POOL_TAG))) return HEAP_POOL_ERR_INVALID;
    int rc = alloc_block(p, size, out);
    if (rc != HEAP_POOL_OK) return rc;
    if (flags & HEAP_POOL_TAG) tag_new(p, out);
    if (flags & HEAP_POOL_ZERO) memset(out->ptr, 0, size);
    return rc;
}

int heap_pool_calloc_ref(heap_pool_t *p, size_t count, size_t size, heap_pool_ref_t *out)
{
    if (!p || !out) return HEAP_POOL_ERR_INVALID;
    if (size && count > SIZE_MAX / size) return HEAP_POOL_ERR_RANGE;
    return heap_pool_alloc_ref(p, count * size, HEAP_POOL_ZERO, out);
}

int heap_pool_free_at(heap_pool_t *p, uint32_t chunk, size_t offset)
{
    if (!p) return HEAP_POOL_ERR_INVALID;
    target_t t;
    int rc = resolve(p, chunk, offset, &t);
    if (rc != HEAP_POOL_OK) return rc;
    free_target(p, chunk, &t);
    return HEAP_POOL_OK;
}

int heap_pool_state_at(const heap_pool_t *p, uint32_t chunk, size_t offset, size_t *usable)
{
    if (!p) return HEAP_POOL_ERR_INVALID;
    target_t t;
    int rc = resolve(p, chunk, offset, &t);
    if (rc == HEAP_POOL_OK && usable) *usable = t.usable;
    return rc;
}

int heap_pool_realloc_at_into(heap_pool_t *dst, heap_pool_t *src, uint32_t chunk, size_t offset, size_t size,
                              heap_pool_ref_t *out)
{
    if (!dst || !src || !out) return HEAP_POOL_ERR_INVALID;
    target_t t;
    int rc = resolve(src, chunk, offset, &t);
    if (rc != HEAP_POOL_OK) return rc;
    if (size == 0) {
        free_target(src, chunk, &t);
        memset(out, 0, sizeof *out);
        out->chunk = HEAP_POOL_NO_CHUNK;
        return HEAP_POOL_OK;
    }
    unsigned char *old = src->chunks[chunk].base + offset;
    if (dst == src && size <= t.usable) {
        out->ptr = old;
        out->chunk = chunk;
        out->offset = offset;
        out->size = t.usable;
        return HEAP_POOL_OK;
    }
    heap_pool_ref_t n;
    int tagged = is_tagged(src, chunk, &t);
    rc = alloc_block(dst, size, &n);
    if (rc != HEAP_POOL_OK) return rc;
    if (tagged) tag_new(dst, &n); /* the tag moves with the block */
    memcpy(n.ptr, old, size < t.usable ? size : t.usable);
    /* dst's allocation may have grown src's chunk table (a lent chunk): resolve again */
    rc = resolve(src, chunk, offset, &t);
    if (rc == HEAP_POOL_OK) free_target(src, chunk, &t);
    *out = n;
    return HEAP_POOL_OK;
}

int heap_pool_realloc_at(heap_pool_t *p, uint32_t chunk, size_t offset, size_t size, heap_pool_ref_t *out)
{
    return heap_pool_realloc_at_into(p, p, chunk, offset, size, out);
}

/* ---- allocation with pointers -------------------------------------------------------------------- */

/* tagged: the block is tagged. */
COLD void *malloc_slow(heap_pool_t *p, size_t size, int tagged)
{
    heap_pool_ref_t r;
    if (alloc_block(p, size, &r) != HEAP_POOL_OK) return NULL;
    if (tagged) tag_new(p, &r);
    return r.ptr;
}

/* Fast path: a class whose front cache has a block (a pop, no list work):
 * 1 with the block in *out, else 0 (nothing done). p not NULL. */
HOT int malloc_front(heap_pool_t *p, size_t size, int tagged, void **out)
{
    if (LIKELY(size <= HEAP_POOL_MAX_CLASS)) {
        unsigned cls = class_index_fast(size);
        size_class_t *sc = &p->classes[cls];
        uint32_t n = sc->ncache;
        if (LIKELY(n)) {
            const centry_t *e = &p->fcache[cls][--n];
            uint32_t id = e->id, idx = e->idx;
            sc->ncache = n;
            chunk_t *c = &p->chunks[id];
            mark_live(p, sc, c, id, idx, tagged ? LIVE | TAGGED : LIVE);
            if (tagged) p->class_tagged[cls]++;
            *out = c->base + (size_t)idx * sc->bsize;
            return 1;
        }
    }
    return 0;
}

HOT void *malloc_ptr(heap_pool_t *p, size_t size, int tagged)
{
    void *b;
    if (LIKELY(malloc_front(p, size, tagged, &b))) return b;
    return malloc_slow(p, size, tagged);
}

void *heap_pool_malloc(heap_pool_t *p, size_t size) { return LIKELY(p != NULL) ? malloc_ptr(p, size, 0) : NULL; }

void *heap_pool_malloc_tagged(heap_pool_t *p, size_t size) { return LIKELY(p != NULL) ? malloc_ptr(p, size, 1) : NULL; }

void *heap_pool_calloc(heap_pool_t *p, size_t count, size_t size)
{
    heap_pool_ref_t r;
    return heap_pool_calloc_ref(p, count, size, &r) == HEAP_POOL_OK ? r.ptr : NULL;
}

/* tagged: only a tagged block may go (else _FOREIGN). */
COLD int free_slow(heap_pool_t *p, void *ptr, int tagged)
{
    uint32_t id;
    size_t off;
    target_t t;
    if (UNLIKELY(!find_chunk(p, ptr, &id, &off))) return HEAP_POOL_ERR_FOREIGN;
    int rc = resolve(p, id, off, &t);
    if (UNLIKELY(rc != HEAP_POOL_OK)) return rc;
    if (tagged && !is_tagged(p, id, &t)) return HEAP_POOL_ERR_FOREIGN;
    free_target(p, id, &t);
    return HEAP_POOL_OK;
}

/* Fast path: a pointer into a class chunk whose granule is the first probe of
 * the hash (granule keys belong to class chunks only, and the offset is then
 * inside the chunk); validated exactly as resolve() does. 1 when it freed the
 * block, else 0 (nothing done: free_slow decides). ptr and p not NULL. */
HOT int free_front(heap_pool_t *p, void *ptr, int tagged)
{
    uintptr_t a = (uintptr_t)ptr, key = granule_key(a);
    const chunk_map_slot_t *h = &p->hash.slots[chunk_map_home(p->hash.cap, key)];
    if (LIKELY(h->key == key)) {
        uint32_t id = h->id;
        chunk_t *c = &p->chunks[id];
        size_t idx = block_index(c, (size_t)(a - (uintptr_t)c->base));
        unsigned cls = c->cls;
        size_class_t *sc = &p->classes[cls];
        uint32_t n = sc->ncache;
        unsigned need = tagged ? LIVE | TAGGED : LIVE;
        /* the common case: a live block tagged as the call says, room in the cache, not
         * the chunk's last live block (everything else, including the errors and an
         * untagged free of a tagged block, goes the long way) */
        if (LIKELY(idx != SIZE_MAX && block_state(c, idx) == need && n < FC_DEPTH && c->live > 1)) {
            cache_block(p, sc, cls, c, id, (uint32_t)idx, tagged);
            return 1;
        }
    }
    return 0;
}

HOT int free_ptr(heap_pool_t *p, void *ptr, int tagged)
{
    if (LIKELY(free_front(p, ptr, tagged))) return HEAP_POOL_OK;
    return free_slow(p, ptr, tagged); /* a tail call: the fast path needs no stack frame */
}

int heap_pool_free(heap_pool_t *p, void *ptr)
{
    if (!ptr) return HEAP_POOL_OK;
    if (UNLIKELY(!p)) return HEAP_POOL_ERR_INVALID;
    return free_ptr(p, ptr, 0);
}

int heap_pool_free_tagged(heap_pool_t *p, void *ptr)
{
    if (UNLIKELY(!p)) return HEAP_POOL_ERR_INVALID;
    return ptr ? free_ptr(p, ptr, 1) : HEAP_POOL_ERR_FOREIGN;
}

/* The slow halves of the _or calls (tail calls: their fast paths need no frame). */
COLD int malloc_or_slow(heap_pool_t *p, size_t size, void **out, int refused)
{
    void *b = malloc_slow(p, size, 1);
    if (!b) return refused;
    *out = b;
    return HEAP_POOL_OK;
}

COLD int free_or_slow(heap_pool_t *p, void *ptr, int refused)
{
    return ptr && free_slow(p, ptr, 1) == HEAP_POOL_OK ? HEAP_POOL_OK : refused;
}

int heap_pool_malloc_tagged_or(heap_pool_t *p, size_t size, void **out, int refused)
{
    if (LIKELY(malloc_front(p, size, 1, out))) return HEAP_POOL_OK;
    return malloc_or_slow(p, size, out, refused);
}

int heap_pool_free_tagged_or(heap_pool_t *p, void *ptr, int refused)
{
    /* NULL needs no test here: its granule (address 0) is never a chunk's, so
     * free_front leaves it to free_or_slow */
    if (LIKELY(free_front(p, ptr, 1))) return HEAP_POOL_OK;
    return free_or_slow(p, ptr, refused);
}

int heap_pool_tagged(const heap_pool_t *p, const void *ptr, heap_pool_ref_t *out)
{
    uint32_t id;
    size_t off;
    target_t t;
    int rc = resolve_tagged(p, ptr, &id, &off, &t);
    if (rc == HEAP_POOL_OK && out) *out = (heap_pool_ref_t){(void *)(uintptr_t)ptr, id, off, t.usable};
    return rc;
}

int heap_pool_untag(heap_pool_t *p, const void *ptr)
{
    uint32_t id;
    size_t off;
    target_t t;
    int rc = resolve_tagged(p, ptr, &id, &off, &t);
    if (rc == HEAP_POOL_OK) set_tag(p, id, &t, 0);
    return rc;
}

int heap_pool_realloc_into(heap_pool_t *dst, heap_pool_t *src, void *ptr, size_t size, void **out)
{
    if (!dst || !src || !out) return HEAP_POOL_ERR_INVALID;
    heap_pool_ref_t r;
    int rc;
    if (!ptr) {
        rc = alloc_block(dst, size, &r);
        if (rc == HEAP_POOL_OK) *out = r.ptr;
        return rc;
    }
    uint32_t id;
    size_t off;
    if (!find_chunk(src, ptr, &id, &off)) return HEAP_POOL_ERR_FOREIGN;
    rc = heap_pool_realloc_at_into(dst, src, id, off, size, &r);
    if (rc == HEAP_POOL_OK) *out = r.ptr;
    return rc;
}

int heap_pool_realloc(heap_pool_t *p, void *ptr, size_t size, void **out)
{
    return heap_pool_realloc_into(p, p, ptr, size, out);
}

size_t heap_pool_usable_size(const heap_pool_t *p, const void *ptr)
{
    uint32_t id;
    size_t off;
    target_t t;
    if (!p || !ptr || !find_chunk(p, ptr, &id, &off) || resolve(p, id, off, &t) != HEAP_POOL_OK) return 0;
    return t.usable;
}

/* ---- chunks ---------------------------------------------------------------------------------------- */

int heap_pool_locate(const heap_pool_t *p, const void *ptr, heap_pool_ref_t *out)
{
    uint32_t id;
    size_t off;
    if (!p || !out || !ptr || !find_chunk(p, ptr, &id, &off) || p->chunks[id].kind == K_LENT)
        return HEAP_POOL_ERR_FOREIGN;
    out->ptr = (void *)(uintptr_t)ptr;
    out->chunk = id;
    out->offset = off;
    out->size = 0;
    return HEAP_POOL_OK;
}

int heap_pool_chunk_info(const heap_pool_t *p, uint32_t id, heap_pool_chunk_info_t *out)
{
    if (!p || !out || id >= p->nchunks || p->chunks[id].kind == K_FREE) return HEAP_POOL_ERR_INVALID;
    const chunk_t *c = &p->chunks[id];
    memset(out, 0, sizeof *out);
    out->base = c->base;
    out->bytes = c->bytes;
    out->kind = c->kind;
    if (c->kind == K_CLASS) {
        out->size_class = c->cls;
        out->block_size = c->bsize;
        out->blocks = c->nblocks;
        out->carved = c->carved;
        out->live = c->live;
        out->spare = p->classes[c->cls].spare == id;
    } else if (c->kind == K_LARGE) {
        out->block_size = c->bytes;
        out->blocks = out->carved = out->live = 1;
    }
    return HEAP_POOL_OK;
}

uint32_t heap_pool_chunk_limit(const heap_pool_t *p) { return p ? p->nchunks : 0; }

/* ---- inspection ------------------------------------------------------------------------------------ */

void heap_pool_get_stats(const heap_pool_t *p, heap_pool_stats_t *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!p) return;
    out->capacity = p->capacity;
    out->reserved = p->reserved;
    out->used = p->used;
    out->peak_used = p->peak_used;
    out->allocations = p->allocations;
    out->failed_allocations = p->failed;
    out->class_chunks = p->nclass;
    out->spare_chunks = p->nspares;
    out->large_blocks = p->nlarge;
    out->large_bytes = p->large_bytes;
    out->lent_chunks = p->nlent;
    out->lent_bytes = p->lent_bytes;
    out->tagged = p->ntagged_large;
    out->tagged_bytes = p->tagged_large_bytes;
    for (unsigned i = 0; i < HEAP_POOL_CLASSES; i++) {
        out->tagged += p->class_tagged[i];
        out->tagged_bytes += p->class_tagged[i] * p->classes[i].bsize;
    }
    out->children = p->nchildren;
    out->metadata_bytes = p->meta_bytes;
}

#define FAIL(msg)                                                                                                      \
    do {                                                                                                               \
        if (why) *why = (msg);                                                                                         \
        rc = HEAP_POOL_ERR_CORRUPTED;                                                                                  \
        goto done;                                                                                                     \
    } while (0)

static int hash_has(const heap_pool_t *p, uintptr_t key, uint32_t id)
{
    uint32_t v;
    return find_hash(p, key, &v) && v == id;
}

/* One class chunk's side tables. `seen` has room for nblocks bits. */
static const char *check_class_chunk(const heap_pool_t *p, uint32_t id, uint64_t *seen)
{
    const chunk_t *c = &p->chunks[id];
    if (c->cls >= HEAP_POOL_CLASSES) return "class chunk: bad class";
    const size_class_t *sc = &p->classes[c->cls];
    if (c->bytes != sc->chunk_bytes || c->nblocks != sc->nblocks || c->bsize != sc->bsize || c->magic != sc->magic)
        return "class chunk: geometry differs from its class";
    if ((uintptr_t)c->base & (HEAP_POOL_GRANULE - 1)) return "class chunk: base not granule-aligned";
    if (!c->bits || c->stack != (uint16_t *)(c->bits + state_words(c->nblocks)))
        return "class chunk: side tables missing";
    if (c->carved > c->nblocks || c->live > c->carved || c->top > (uint32_t)c->carved - c->live)
        return "class chunk: counters inconsistent";
    size_t words = ((size_t)c->nblocks + 63) / 64, live = 0;
    for (size_t w = 0; w < state_words(c->nblocks); w++) {
        uint64_t b = c->bits[w];
        if (w * 32 + 32 > c->carved) { /* states at or above carved must be clear */
            size_t from = c->carved > w * 32 ? c->carved - w * 32 : 0;
            if (from < 32 && (b >> (2 * from))) return "class chunk: live bit beyond carved";
        }
        live += count_bits64(b & LIVE_MASK);
        if ((b >> 1) & ~b & LIVE_MASK) return "class chunk: tag on a block that is not live";
    }
    if (live != c->live) return "class chunk: live count differs from bitmap";
    memset(seen, 0, words * sizeof *seen);
    for (uint32_t i = 0; i < c->top; i++) {
        uint32_t b = c->stack[i];
        if (b >= c->carved) return "class chunk: free stack entry beyond carved";
        if (block_state(c, b) & LIVE) return "class chunk: free stack holds a live block";
        if ((seen[b >> 6] >> (b & 63)) & 1) return "class chunk: block twice on the free stack";
        seen[b >> 6] |= (uint64_t)1 << (b & 63);
    }
    uint32_t cached = 0;
    for (uint32_t k = 0; k < sc->ncache; k++) {
        const centry_t *e = &p->fcache[c->cls][k];
        if (e->id != id) continue;
        uint32_t b = e->idx;
        if (b >= c->carved) return "front cache: entry beyond carved";
        if (block_state(c, b) & LIVE) return "front cache: holds a live block";
        if ((seen[b >> 6] >> (b & 63)) & 1) return "front cache: block cached twice or also on the free stack";
        seen[b >> 6] |= (uint64_t)1 << (b & 63);
        cached++;
    }
    if ((uint32_t)c->top + cached != (uint32_t)c->carved - c->live)
        return "class chunk: free blocks missing from stack and cache";
    if ((c->live == 0) != (sc->spare == id)) return "class chunk: empty chunk is not the spare (or spare not empty)";
    for (size_t g = 0; g < c->bytes; g += HEAP_POOL_GRANULE)
        if (!hash_has(p, granule_key((uintptr_t)c->base + g), id)) return "class chunk: granule missing from hash";
    return NULL;
}

int heap_pool_check(const heap_pool_t *p, const char **why)
{
    int rc = HEAP_POOL_OK;
    uint64_t *seen = NULL;
    if (why) *why = NULL;
    if (!p) return HEAP_POOL_ERR_INVALID;
    if (p->nchunks > p->chunk_cap) FAIL("chunk count above table capacity");
    if (p->hash.cap && (!is_pow2(p->hash.cap) || p->hash.count * 2 > p->hash.cap)) FAIL("hash capacity/load");
    seen = malloc((HEAP_POOL_GRANULE / HEAP_POOL_MIN_CLASS / 64) * sizeof *seen);
    if (!seen) FAIL("check: out of memory");
    {
        size_t nfree = 0, reserved = 0, used = 0, allocs = 0, nclass = 0, nlarge = 0, lbytes = 0, nlent = 0, lent = 0,
               keys = 0, meta = 0, ntagged = 0, tagged = 0, listed[HEAP_POOL_CLASSES] = {0},
               class_tagged[HEAP_POOL_CLASSES] = {0};
        for (uint32_t id = 0; id < p->nchunks; id++) {
            const chunk_t *c = &p->chunks[id];
            switch (c->kind) {
            case K_FREE:
                if (c->base) FAIL("free slot with a base");
                nfree++;
                break;
            case K_CLASS: {
                const char *msg = check_class_chunk(p, id, seen);
                if (msg) FAIL(msg);
                nclass++;
                reserved += c->bytes;
                used += (size_t)c->live * c->bsize;
                allocs += c->live;
                keys += c->bytes / HEAP_POOL_GRANULE;
                meta += side_table_bytes(c->nblocks);
                for (size_t w = 0; w < state_words(c->nblocks); w++)
                    class_tagged[c->cls] += count_bits64(c->bits[w] & ~LIVE_MASK);
                if (can_serve(c)) listed[c->cls]++;
                break;
            }
            case K_LARGE:
            case K_LENT:
                if (!c->base || ((uintptr_t)c->base & (p->page - 1)) || !c->bytes)
                    FAIL("large/lent chunk: bad base or size");
                if (!hash_has(p, (uintptr_t)c->base, id)) FAIL("large/lent chunk: base missing from hash");
                if (c->bits) FAIL("large/lent chunk: has side tables");
                reserved += c->bytes;
                keys++;
                if (c->kind == K_LARGE) {
                    if (c->bytes % p->page) FAIL("large block: size not a page multiple");
                    nlarge++;
                    lbytes += c->bytes;
                    used += c->bytes;
                    allocs++;
                    ntagged += c->tagged;
                    tagged += c->tagged ? c->bytes : 0;
                } else {
                    nlent++;
                    lent += c->bytes;
                }
                break;
            default:
                FAIL("chunk: unknown kind");
            }
        }
        size_t steps = 0;
        for (uint32_t id = p->free_head; id != NONE; id = p->chunks[id].next) {
            if (id >= p->nchunks || p->chunks[id].kind != K_FREE) FAIL("free-id list: bad entry");
            if (++steps > nfree) FAIL("free-id list: cycle");
        }
        if (steps != nfree) FAIL("free-id list misses free slots");
        size_t spares = 0;
        for (unsigned i = 0; i < HEAP_POOL_CLASSES; i++) {
            const size_class_t *sc = &p->classes[i];
            size_t n = 0;
            uint32_t prev = NONE;
            for (uint32_t id = sc->head; id != NONE; id = p->chunks[id].next) {
                if (id >= p->nchunks) FAIL("partial list: id out of range");
                const chunk_t *c = &p->chunks[id];
                if (c->kind != K_CLASS || c->cls != i || !can_serve(c)) FAIL("partial list: foreign or full chunk");
                if (c->prev != prev) FAIL("partial list: broken back link");
                if (++n > listed[i]) FAIL("partial list: cycle or extra chunk");
                prev = id;
            }
            if (n != listed[i]) FAIL("partial list misses chunks");
            if (sc->ncache > FC_DEPTH) FAIL("front cache: depth");
            for (uint32_t k = 0; k < sc->ncache; k++) {
                const centry_t *e = &p->fcache[i][k];
                if (e->id >= p->nchunks || p->chunks[e->id].kind != K_CLASS || p->chunks[e->id].cls != i)
                    FAIL("front cache: not a block of a chunk of its class");
            }
            if (sc->spare != NONE) {
                if (sc->spare >= p->nchunks || p->chunks[sc->spare].kind != K_CLASS || p->chunks[sc->spare].cls != i)
                    FAIL("spare: not a chunk of its class");
                spares++;
            }
        }
        if (spares != p->nspares) FAIL("spare count");
        if (keys != p->hash.count) FAIL("hash holds other keys than the chunks'");
        if (reserved != p->reserved) FAIL("reserved differs from the chunks");
        if (p->capacity != SIZE_MAX && p->reserved > p->capacity) FAIL("reserved above capacity");
        if (used != p->used) FAIL("used differs from the chunks");
        if (allocs != p->allocations) FAIL("allocations differ from the chunks");
        if (p->peak_used < p->used) FAIL("peak below used");
        if (nclass != p->nclass || nlarge != p->nlarge || lbytes != p->large_bytes || nlent != p->nlent ||
            lent != p->lent_bytes || meta != p->meta_bytes)
            FAIL("chunk counters");
        if (ntagged != p->ntagged_large || tagged != p->tagged_large_bytes) FAIL("tagged counters");
        for (unsigned i = 0; i < HEAP_POOL_CLASSES; i++)
            if (class_tagged[i] != p->class_tagged[i]) FAIL("tagged counters");
        size_t kids = 0;
        const heap_pool_t *prevk = NULL;
        for (const heap_pool_t *k = p->first_child; k; k = k->next_sibling) {
            if (k->parent != p || k->prev_sibling != prevk) FAIL("children list: broken links");
            if (++kids > p->nchildren) FAIL("children list: too long");
            prevk = k;
        }
        if (kids != p->nchildren) FAIL("children count");
        if (p->parent && (p->src_ctx != p->parent || p->src_map != lend_to_child))
            FAIL("child not sourced by its parent");
    }
done:
    free(seen);
    return rc;
}

/* ---- walk ------------------------------------------------------------------------------------------ */

int heap_pool_walk(const heap_pool_t *p, heap_pool_walker walker, void *user)
{
    if (!p || !walker) return HEAP_POOL_ERR_INVALID;
    for (uint32_t id = 0; id < p->nchunks; id++) {
        const chunk_t *c = &p->chunks[id];
        heap_pool_block_info_t b = {id, 0, 0, HEAP_POOL_BLOCK_USED};
        if (c->kind == K_LARGE || c->kind == K_LENT) {
            b.size = c->bytes;
            b.state = c->kind == K_LARGE ? HEAP_POOL_BLOCK_USED : HEAP_POOL_BLOCK_LENT;
            if (walker(&b, user)) return HEAP_POOL_OK;
        } else if (c->kind == K_CLASS) {
            b.size = c->bsize;
            for (uint32_t i = 0; i < c->nblocks; i++) {
                b.offset = (size_t)i * c->bsize;
                int live = i < c->carved && (block_state(c, i) & LIVE);
                b.state = live ? HEAP_POOL_BLOCK_USED : HEAP_POOL_BLOCK_FREE;
                if (walker(&b, user)) return HEAP_POOL_OK;
            }
        }
    }
    return HEAP_POOL_OK;
}
