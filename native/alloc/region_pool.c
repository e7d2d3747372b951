/*
 * region_pool.c — nginx-style region pool. See region_pool.h for the contract.
 *
 * State of the pool, all of it outside chunk memory:
 *
 *   chunks[]   table indexed by chunk id: a block, a large block or a free slot
 *              (free slots form a LIFO list through next_free).
 *   hash       address map (chunk_map.h) chunk base address -> chunk id, so a
 *              pointer is resolved with at most two probes: its own address
 *              (a large block, or offset 0 of a block) and the address masked
 *              down to block_align (a block).
 *   open list  doubly linked (by id) list of the blocks searched for small
 *              requests, at most REGION_POOL_OPEN_MAX long.
 *   spares     stack (by id) of empty blocks outside the open list.
 *   cleanups   stack of (fn, data), run from the top.
 *   stash      (default memory only) released large chunks, and at destroy the
 *              blocks with their tables: kept by the pool for its own reuse and
 *              parked with it (the thread's own slot, else the process-wide
 *              cache; see region_pool.h).
 *
 * A block is in exactly one state: OPEN (in the open list), SPARE (on the
 * spare stack; then empty and rewound) or CLOSED (in neither: skipped by the
 * search until its live count reaches 0, when it is rewound and reopened).
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include "region_pool.h"

#include "bits.h"
#include "chunk_map.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- configuration ------------------------------------------------------- */

#define NONE UINT32_MAX
#define FREED_BIT ((uint32_t)1 << 31) /* entries: the allocation was freed */
#define SIZE_BITS (FREED_BIT - 1)     /* entries: its requested size */
#define GROUP_SHIFT 10                /* rank groups of 1024 bytes = 16 bitmap words */
#define GROUP_BYTES ((size_t)1 << GROUP_SHIFT)
#define GROUP_WORDS (GROUP_BYTES / 64)
#define ENTRIES_MIN 64u
#define CHUNKS_MIN 16u
#define HASH_MIN 16u
#define CLEANUPS_MIN 8u
#define STASH_BLOCKS 8u
#define STASH_LARGE 4u
#define STASH_MAX_BYTES ((size_t)256 << 10)
#ifdef REGION_POOL_NO_CACHE
#define STASH_ON 0 /* no stash either: every released chunk goes back at once */
#else
#define STASH_ON 1
#endif

enum chunk_kind {
    K_FREE = REGION_POOL_CHUNK_NONE,
    K_BLOCK = REGION_POOL_CHUNK_BLOCK,
    K_LARGE = REGION_POOL_CHUNK_LARGE,
    K_KEPT = 3 /* a released large block kept for reuse (region_pool_keep_large) */
};
enum block_state { B_OPEN = 1, B_SPARE = 2, B_CLOSED = 3 };

_Static_assert(REGION_POOL_MAX_BLOCK <= SIZE_BITS, "sizes fit in an entry");
_Static_assert(REGION_POOL_MAX_BLOCK < NONE, "entry counts fit in 32 bits");

/* ---- structures ---------------------------------------------------------- */

/* One allocation of a block: its offset and requested size (| FREED_BIT). */
typedef struct entry {
    uint32_t off;
    uint32_t size;
} entry_t;

/* One block's side tables and counters. The allocations made since the last
 * rewind are the nstarts entries, in address order (strictly increasing off,
 * all below last); nfreed of them were freed since (FREED_BIT set in exactly
 * those), so live = nstarts - nfreed. Invariants: live == 0 exactly when
 * last == 0 (a block is rewound the moment its live count drops to 0); the
 * newest entry, when live, ends exactly at last.
 *
 * Start bits are set lazily: allocating only appends an entry; the bits of
 * entries[marked..nstarts) are set by the first free or state query that
 * looks at the block (mark_starts: each entry once per rewind). So the starts
 * bits set are exactly the offsets of entries[0..marked), and every starts
 * word beyond the marked entries' is zero (a rewind clears only those words,
 * none when nothing was marked). rank[g] counts the start bits below byte
 * g * GROUP_BYTES for every g < ranked, and (ranked - 1) * GROUP_BYTES <= last
 * (so those counts are final: new entries only go at or beyond last, and
 * every entry is marked before a rank slot is written). The rank slots are
 * written lazily too, by the first free (or state query) that needs a group
 * at or beyond ranked: it counts the groups from ranked up to its own, at most
 * block_size / GROUP_BYTES groups of GROUP_WORDS popcounts — a bound fixed by
 * the block size, and each group is counted once per rewind. So the fast path
 * touches one entry and two counters; its only limits are the block's end and
 * the entries table's capacity.
 *
 * The pool totals are kept lazily for the fast path: they count each block's
 * last, nstarts and bytes as of the block's snapshot (slast, sn, sbytes), and
 * sync_block folds the difference in. bytes sums the sizes of all entries,
 * freed_bytes those of the freed ones. Only the head of the
 * open list may differ from its snapshot between calls (palloc/pnalloc's fast
 * path bumps it); every other entry point syncs it first and keeps every block
 * synced. */
typedef struct block {
    /* the fast path's fields first */
    size_t last;          /* bump offset */
    entry_t *top;         /* the next entry: entries + nstarts */
    entry_t *entries_end; /* entries + capacity */
    size_t lim;           /* block_size (0 in no_block): an allocation ending at or below lim fits */
    unsigned char *base;  /* the block's chunk memory */
    size_t bytes;         /* sizes of all entries */
    entry_t *entries;     /* per allocation since the last rewind, in address order */
    uint32_t marked;      /* entries below this have their start bits set */
    uint32_t ranked;      /* rank slots below this are written (>= 1: rank[0] == 0) */
    uint64_t *starts;     /* 1 bit per byte */
    uint32_t *rank;       /* 1 per GROUP_BYTES */
    uint32_t nfreed;
    size_t freed_bytes;
    uint64_t gen;
    uint32_t id;
    uint8_t state;
    uint32_t failed;      /* requests it could not fit since it was (re)opened */
    uint32_t prev, next;  /* open list links; next also links the spare stack */
    size_t slast, sbytes; /* snapshot of last, bytes, nstarts counted in the pool totals */
    uint32_t sn;
} block_t;

static inline uint32_t nstarts_of(const block_t *b) { return (uint32_t)(b->top - b->entries); }
static inline uint32_t cap_of(const block_t *b) { return (uint32_t)(b->entries_end - b->entries); }
static inline uint32_t block_live(const block_t *b) { return nstarts_of(b) - b->nfreed; }

/* The head of a pool whose open list is empty: all zero, so no room (cap 0) and
 * the fast path always goes the slow way. Never written. */
static block_t no_block;

/* One chunk id. Invariant: kind == K_FREE exactly when base == NULL, and then
 * the id is on the free list; a live chunk's base is in the hash under its id. */
typedef struct chunk {
    unsigned char *base;
    size_t bytes;
    size_t size;    /* large: requested size */
    size_t align;   /* large: memalign alignment, 0 for plain large */
    uint64_t gen;   /* large: generation of this incarnation */
    block_t *block; /* blocks */
    uint32_t next_free;
    uint8_t kind;
} chunk_t;

typedef struct cleanup {
    region_pool_cleanup_fn fn;
    void *data;
} cleanup_t;

/* The pool. Invariants (the block terms as of each block's snapshot, see
 * sync_block; stats and check add the head's changes since): used == used_small
 * + the sizes of the large blocks; used_small == sum of blocks' bytes -
 * freed_bytes; allocations == sum of blocks' nstarts - nfreed + large blocks;
 * consumed == sum of blocks' last; closed_tails == sum of block_size - last over
 * CLOSED blocks; every generation handed out is below next_gen, and every one
 * handed out before the last reset is below reset_gen. */
struct region_pool {
    size_t block_size;
    size_t block_align;
    size_t page;
    size_t max_small;
    region_pool_memory_t mem;

    chunk_t *chunks;
    uint32_t nchunks; /* ids >= nchunks were never used */
    uint32_t chunk_cap;
    uint32_t free_head;

    chunk_map_t hash; /* chunk base -> id (chunk_map.h) */

    uint32_t open_head, open_tail, open_count;
    struct block *head; /* the block of open_head, &none when the list is empty */
    uint32_t spare_head;
    size_t spare_count;

    size_t nblocks;
    size_t nlarge;
    size_t large_bytes;
    /* kept large blocks (region_pool_keep_large): ids in kept[0..nkept), all K_KEPT, their
     * chunk bytes summing to kept_bytes; still in the hash, counted in reserved */
    uint32_t keep_max;
    uint32_t nkept;
    size_t kept_bytes;
    uint32_t kept[REGION_POOL_KEEP_MAX];
    size_t used;
    size_t used_small;
    size_t peak_used;
    size_t allocations;
    size_t failed;
    size_t consumed;
    size_t closed_tails;
    uint64_t next_gen;
    uint64_t reset_gen;

    cleanup_t *cleanups;
    size_t ncleanups;
    size_t cleanup_cap;
    int running_cleanups;

    /* initial chunk table and address hash, inside the pool allocation */
    chunk_t chunks0[CHUNKS_MIN];
    chunk_map_slot_t hslots0[HASH_MIN];

    /* The stash (default provider only; kept across create when the pool is
     * parked): idle chunks this pool keeps for its own reuse, so a pool created
     * and destroyed per request takes the process-wide cache's lock once at
     * create and once at destroy. Blocks with their side tables (reset: clear
     * start bits, inline entries table) are stashed when the pool is parked at
     * destroy and taken by new_block; large chunks are stashed when released
     * (free, realloc, reset, destroy) and taken by alloc_large for the same
     * size and alignment. At most STASH_BLOCKS blocks, STASH_LARGE large
     * chunks and STASH_MAX_BYTES in all; outside the stats (like the cache),
     * given to the cache or freed when the pool is not parked. */
    block_t *sblock[STASH_BLOCKS];
    void *slarge[STASH_LARGE];
    size_t slarge_bytes[STASH_LARGE];
    uint32_t nsblock, nslarge;
    size_t stash_bytes;
};

/* ---- small helpers --------------------------------------------------------- */

static inline int is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

static size_t round_up_pow2(size_t x) /* 2 <= x <= REGION_POOL_MAX_BLOCK */
{
    return (size_t)2 << find_last_set64((uint64_t)(x - 1));
}

/* ---- block side-table layout ------------------------------------------------ */

/* A block's side tables are one allocation: the block_t, the starts bitmap,
 * the rank table and the first entries table (one entry per ENTRIES_PER bytes
 * of block; grown outside when a block holds more allocations). The starts
 * words are kept all zero beyond the marked entries', the rank slots are
 * written lazily (rank_of). */
#define ENTRIES_PER 16u

static inline size_t rank_groups(size_t bs) { return (bs + GROUP_BYTES - 1) >> GROUP_SHIFT; }
static inline size_t starts_words(size_t bs) { return rank_groups(bs) << (GROUP_SHIFT - 6); } /* whole groups */
static inline size_t rank_words(size_t bs) { return (rank_groups(bs) + 1) / 2; } /* uint64 words for the rank table */
static inline entry_t *inline_entries(const region_pool_t *p, const block_t *b)
{
    return (entry_t *)((uint64_t *)(b + 1) + starts_words(p->block_size) + rank_words(p->block_size));
}

static inline size_t block_tables_bytes(size_t bs)
{
    return sizeof(block_t) + (starts_words(bs) + rank_words(bs)) * sizeof(uint64_t) +
           bs / ENTRIES_PER * sizeof(entry_t);
}

/* ---- process-wide recycling cache ------------------------------------------ */

/* Freed chunks of the default provider, freed block side tables and pool
 * structures are kept for the next pool instead of going back to the system: CACHE_CLASSES size classes
 * (exact byte counts and kind), each a LIFO of up to CACHE_DEPTH entries; a
 * (kind, bytes) key lives in one of the CACHE_PROBE classes from its hashed
 * home slot (so a lookup is a direct index, with at most CACHE_PROBE - 1 more
 * probes on a collision), at most
 * CACHE_MAX_BYTES in all, no entry larger than CACHE_MAX_ENTRY. Guarded by a
 * spin lock (the critical sections are a few instructions), so pools on
 * different threads share it safely. The cache stores only pointers in this
 * table: nothing is written into cached memory. region_pool_trim_cache()
 * empties it. Defining REGION_POOL_NO_CACHE disables it, the pools' stashes and
 * the threads' own parked pools. */
#define CACHE_CLASSES 16 /* a power of two */
#define CACHE_PROBE 4
#define CACHE_DEPTH 32
#define CACHE_MAX_ENTRY ((size_t)1 << 20)
#define CACHE_MAX_BYTES ((size_t)16 << 20)
/* CK_BLOCK: a default provider's block chunk with its side tables, one entry
 * (the block_t, whose base is the chunk); its kind also holds log2 of the
 * chunk's alignment (CK_BLOCK | log2 << 8) and its bytes are both sizes.
 * CK_PARKED: a destroyed pool of the default provider with the chunks it kept
 * (its stash, see region_pool); keyed by block size (bytes) and log2 of the
 * block alignment (kind); its weight is the pool plus everything stashed. */
enum cache_kind { CK_CHUNK = 1, CK_TABLES = 2, CK_POOL = 3, CK_BLOCK = 4, CK_PARKED = 5 };

/* The cache kind of a default provider's block with its tables. */
static inline uint32_t block_pair_kind(const region_pool_t *p)
{
    return CK_BLOCK | (uint32_t)find_last_set64((uint64_t)p->block_align) << 8;
}

/* The cache kind of a parked pool (keyed by its block size and alignment). */
static inline uint32_t parked_kind(size_t block_align)
{
    return CK_PARKED | (uint32_t)find_last_set64((uint64_t)block_align) << 8;
}

static void free_stash(void *q);

/* A size class: entries of one (kind, bytes) key; weight[i] is what slot[i]
 * counts against CACHE_MAX_BYTES (== bytes except for parked pools). */
typedef struct cache_class {
    size_t bytes;
    uint32_t kind;
    uint32_t n;
    void *slot[CACHE_DEPTH];
    size_t weight[CACHE_DEPTH];
} cache_class_t;

static cache_class_t cache_cls[CACHE_CLASSES];
static size_t cache_bytes;
static atomic_flag cache_busy = ATOMIC_FLAG_INIT;

/* The first class a (kind, bytes) key may live in. */
static inline size_t cache_home(uint32_t kind, size_t bytes)
{
    return (size_t)((((uint64_t)bytes << 2) + kind) * 0x9E3779B97F4A7C15ull >> 60) & (CACHE_CLASSES - 1);
}

static inline void cache_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&cache_busy, memory_order_acquire)) {}
}
static inline void cache_unlock(void) { atomic_flag_clear_explicit(&cache_busy, memory_order_release); }

/* A cached entry of (kind, bytes) whose address is aligned to align, or NULL. */
static void *cache_get(uint32_t kind, size_t bytes, size_t align)
{
#ifdef REGION_POOL_NO_CACHE
    (void)kind;
    (void)bytes;
    (void)align;
    return NULL;
#else
    void *r = NULL;
    size_t h = cache_home(kind, bytes);
    cache_lock();
    for (size_t i = 0; i < CACHE_PROBE; i++) {
        cache_class_t *c = &cache_cls[(h + i) & (CACHE_CLASSES - 1)];
        if (c->bytes != bytes || c->kind != kind) continue;
        if (c->n && !((uintptr_t)c->slot[c->n - 1] & (align - 1))) {
            r = c->slot[--c->n];
            cache_bytes -= c->weight[c->n];
        }
        break;
    }
    cache_unlock();
    return r;
#endif
}

/* 1 when the cache took q (of key (kind, bytes), counting `weight` bytes),
 * 0 when the caller must free it. */
static int cache_put_weighted(uint32_t kind, size_t bytes, size_t weight, void *q)
{
#ifdef REGION_POOL_NO_CACHE
    (void)kind;
    (void)bytes;
    (void)weight;
    (void)q;
    return 0;
#else
    if (weight > CACHE_MAX_ENTRY) return 0;
    int took = 0;
    cache_lock();
    if (cache_bytes + weight <= CACHE_MAX_BYTES) {
        size_t h = cache_home(kind, bytes), i = 0;
        cache_class_t *c = NULL, *empty = NULL;
        for (; i < CACHE_PROBE; i++) {
            c = &cache_cls[(h + i) & (CACHE_CLASSES - 1)];
            if (c->bytes == bytes && c->kind == kind) break;
            if (!empty && c->n == 0) empty = c;
        }
        if (i == CACHE_PROBE && (c = empty) != NULL) {
            c->bytes = bytes;
            c->kind = kind;
        }
        if (c && c->n < CACHE_DEPTH) {
            c->weight[c->n] = weight;
            c->slot[c->n++] = q;
            cache_bytes += weight;
            took = 1;
        }
    }
    cache_unlock();
    return took;
#endif
}

static inline int cache_put(uint32_t kind, size_t bytes, void *q) { return cache_put_weighted(kind, bytes, bytes, q); }

/* The calling thread's parked pool (see park_pool): taken and set without a
 * lock; a thread that exits gives it to the process-wide cache. */
#ifndef REGION_POOL_NO_CACHE
static _Thread_local region_pool_t *own_parked;
static _Thread_local int own_registered; /* 1: the exit hook knows this thread; -1: it cannot */
#endif

size_t region_pool_trim_cache(void)
{
    size_t freed = 0;
#ifndef REGION_POOL_NO_CACHE
    region_pool_t *own = own_parked;
    own_parked = NULL;
    if (own) {
        freed += sizeof *own + own->stash_bytes;
        free_stash(own);
        free(own);
    }
#endif
    for (;;) {
        void *q = NULL;
        uint32_t kind = 0;
        cache_lock();
        for (cache_class_t *c = cache_cls; c < cache_cls + CACHE_CLASSES && !q; c++)
            if (c->n) {
                q = c->slot[--c->n];
                kind = c->kind;
                cache_bytes -= c->weight[c->n];
                freed += c->weight[c->n];
            }
        cache_unlock();
        if (!q) return freed;
        if ((kind & 0xff) == CK_BLOCK) free(((block_t *)q)->base);
        if ((kind & 0xff) == CK_PARKED) free_stash(q);
        free(q);
    }
}

static void *default_map(void *ctx, size_t bytes, size_t align)
{
    (void)ctx;
    if (align < sizeof(void *)) align = sizeof(void *);
    void *p = cache_get(CK_CHUNK, bytes, align);
    if (p) return p;
    if (posix_memalign(&p, align, bytes) != 0) return NULL;
    return p;
}

static void default_unmap(void *ctx, void *p, size_t bytes)
{
    (void)ctx;
    if (!cache_put(CK_CHUNK, bytes, p)) free(p);
}

/* ---- the pool's stash (see region_pool) -------------------------------------- */

static inline int has_default_memory(const region_pool_t *p) { return p->mem.map == default_map; }

/* 1 when the stash took the released large chunk (base, bytes). */
static int stash_large(region_pool_t *p, void *base, size_t bytes)
{
    if (!STASH_ON || !has_default_memory(p) || p->nslarge == STASH_LARGE || bytes > STASH_MAX_BYTES - p->stash_bytes)
        return 0;
    p->slarge[p->nslarge] = base;
    p->slarge_bytes[p->nslarge++] = bytes;
    p->stash_bytes += bytes;
    return 1;
}

/* Chunk memory for a new chunk: a stashed large chunk of that size and
 * alignment (newest first), else the provider. */
static void *map_mem(region_pool_t *p, size_t bytes, size_t align)
{
    for (uint32_t i = p->nslarge; i-- > 0;) {
        void *base = p->slarge[i];
        if (p->slarge_bytes[i] != bytes || ((uintptr_t)base & (align - 1))) continue;
        p->nslarge--;
        p->slarge[i] = p->slarge[p->nslarge];
        p->slarge_bytes[i] = p->slarge_bytes[p->nslarge];
        p->stash_bytes -= bytes;
        return base;
    }
    return p->mem.map(p->mem.ctx, bytes, align);
}

/* Empty the stash: blocks and chunks to the process-wide cache (to_cache) or
 * back to the system. */
static void drop_stash(region_pool_t *p, int to_cache)
{
    const size_t bs = p->block_size, pair = block_tables_bytes(bs) + bs;
    while (p->nsblock) {
        block_t *b = p->sblock[--p->nsblock];
        if (to_cache && cache_put(block_pair_kind(p), pair, b)) continue;
        free(b->base);
        free(b);
    }
    while (p->nslarge) {
        p->nslarge--;
        if (to_cache)
            default_unmap(NULL, p->slarge[p->nslarge], p->slarge_bytes[p->nslarge]);
        else
            free(p->slarge[p->nslarge]);
    }
    p->stash_bytes = 0;
}

static void free_stash(void *q) { drop_stash(q, 0); }

/* ---- parked pools ------------------------------------------------------------ */

/* A destroyed default-memory pool with its stash goes to the calling thread's
 * own slot when it is free (no lock: a pool per request on one thread never
 * touches the shared cache), else to the process-wide cache. At thread exit a
 * pthread key's destructor moves the slot's pool to the process-wide cache
 * (the key's value is the address of the thread's slot, set once per thread). */
#ifndef REGION_POOL_NO_CACHE
static pthread_key_t own_key;
static pthread_once_t own_once = PTHREAD_ONCE_INIT;
static int own_key_ok;

static void give_parked(region_pool_t *p)
{
    if (cache_put_weighted(parked_kind(p->block_align), p->block_size, sizeof *p + p->stash_bytes, p)) return;
    drop_stash(p, 1);
    if (!cache_put(CK_POOL, sizeof *p, p)) free(p);
}

static void on_thread_exit(void *slot)
{
    region_pool_t **own = slot;
    region_pool_t *p = *own;
    *own = NULL;
    if (p) give_parked(p);
}

static void create_own_key(void) { own_key_ok = pthread_key_create(&own_key, on_thread_exit) == 0; }

/* 1 when this thread's slot can be used (its exit hook is set). */
static int own_slot_ready(void)
{
    if (own_registered == 0) {
        pthread_once(&own_once, create_own_key);
        own_registered = own_key_ok && pthread_setspecific(own_key, &own_parked) == 0 ? 1 : -1;
    }
    return own_registered == 1;
}
#endif

/* Park p (nothing registered, its stash not empty): 1 when kept. */
static int park_pool(region_pool_t *p)
{
#ifndef REGION_POOL_NO_CACHE
    if (!own_parked && own_slot_ready()) {
        own_parked = p;
        return 1;
    }
#endif
    return cache_put_weighted(parked_kind(p->block_align), p->block_size, sizeof *p + p->stash_bytes, p);
}

/* A parked pool of this block size and alignment, or NULL: the thread's own
 * first, then the process-wide cache. */
static region_pool_t *unpark_pool(size_t block_size, size_t block_align)
{
#ifndef REGION_POOL_NO_CACHE
    region_pool_t *p = own_parked;
    if (p && p->block_size == block_size && p->block_align == block_align) {
        own_parked = NULL;
        return p;
    }
#endif
    return cache_get(parked_kind(block_align), block_size, 1);
}

static void notify_chunk(region_pool_t *p, uint32_t id, const chunk_t *c, int created)
{
    if (p->mem.on_chunk) p->mem.on_chunk(p->mem.ctx, id, c->base, c->bytes, created);
}

static void note_used(region_pool_t *p)
{
    if (p->used > p->peak_used) p->peak_used = p->used;
}

/* Fold a block's changes since its snapshot into the pool totals. */
static void sync_block(region_pool_t *p, struct block *b);
static void clear_starts(struct block *b);
static inline void sync_head(region_pool_t *p)
{
    if (p->head != &no_block) sync_block(p, p->head);
}

/* ---- chunk table ------------------------------------------------------------ */

/* A free id (the chunk table grown if needed), or NONE when out of memory. */
static uint32_t acquire_slot(region_pool_t *p)
{
    if (p->free_head != NONE) {
        uint32_t id = p->free_head;
        p->free_head = p->chunks[id].next_free;
        p->chunks[id].next_free = NONE;
        return id;
    }
    if (p->nchunks == p->chunk_cap) {
        if (p->chunk_cap >= NONE / 2) return NONE;
        uint32_t cap = p->chunk_cap ? p->chunk_cap * 2 : CHUNKS_MIN;
        chunk_t *t;
        if (p->chunks == p->chunks0) {
            t = malloc((size_t)cap * sizeof *t);
            if (t && p->chunk_cap) memcpy(t, p->chunks, (size_t)p->chunk_cap * sizeof *t);
        } else {
            t = realloc(p->chunks, (size_t)cap * sizeof *t);
        }
        if (!t) return NONE;
        memset(t + p->chunk_cap, 0, (size_t)(cap - p->chunk_cap) * sizeof *t);
        p->chunks = t;
        p->chunk_cap = cap;
    }
    uint32_t id = p->nchunks++;
    p->chunks[id].next_free = NONE; /* map_chunk sets the other fields, release_slot clears them */
    p->chunks[id].kind = K_FREE;
    p->chunks[id].gen = 0;
    return id;
}

/* Back on the free list; the generation is kept (it tells a double free). */
static void release_slot(region_pool_t *p, uint32_t id)
{
    chunk_t *c = &p->chunks[id];
    c->base = NULL;
    c->bytes = 0;
    c->size = 0;
    c->align = 0;
    c->block = NULL;
    c->kind = K_FREE;
    c->next_free = p->free_head;
    p->free_head = id;
}

/* ---- address hash -------------------------------------------------------------- */

/* The address map (chunk_map.h): chunk base -> id. Starts in hslots0, inside
 * the pool allocation. */
static int reserve_hash(region_pool_t *p) /* room for one more key; 0 when out of memory */
{
    return chunk_map_reserve(&p->hash, 1, HASH_MIN, p->hslots0);
}

static void insert_hash(region_pool_t *p, uintptr_t key, uint32_t id) /* after reserve_hash */
{
    chunk_map_insert(&p->hash, key, id);
}

static inline int find_hash(const region_pool_t *p, uintptr_t key, uint32_t *id)
{
    if (!p->hash.cap || !key) return 0;
    return chunk_map_find(&p->hash, key, id);
}

static void remove_hash(region_pool_t *p, uintptr_t key) { chunk_map_remove(&p->hash, key); }

/* Chunk id and offset of an address: O(1). 0 when it lies in no chunk (or
 * inside a large block but not at its start). */
static int find_chunk(const region_pool_t *p, const void *ptr, uint32_t *id, size_t *off)
{
    uintptr_t a = (uintptr_t)ptr, b = a & ~(uintptr_t)(p->block_align - 1);
    uint32_t i;
    if (find_hash(p, a, &i)) {
        *id = i;
        *off = 0;
        return 1;
    }
    if (b != a && find_hash(p, b, &i) && p->chunks[i].kind == K_BLOCK && a - b < p->chunks[i].bytes) {
        *id = i;
        *off = (size_t)(a - b);
        return 1;
    }
    return 0;
}

/* ---- chunk mapping ------------------------------------------------------------------ */

/* Map `bytes` at `align` (or take `given`, mapped so already) into a fresh id
 * registered in the hash, or NONE (then `given` is not taken). */
static uint32_t map_chunk(region_pool_t *p, size_t bytes, size_t align, int kind, void *given)
{
    uint32_t id = acquire_slot(p);
    if (id == NONE) return NONE;
    if (!reserve_hash(p)) {
        release_slot(p, id);
        return NONE;
    }
    void *base = given ? given : map_mem(p, bytes, align);
    if (!base) {
        release_slot(p, id);
        return NONE;
    }
    if (!given && ((uintptr_t)base & (align - 1))) { /* the callback broke its contract */
        p->mem.unmap(p->mem.ctx, base, bytes);
        release_slot(p, id);
        return NONE;
    }
    chunk_t *c = &p->chunks[id];
    c->base = base;
    c->bytes = bytes;
    c->size = 0;
    c->align = 0;
    c->block = NULL;
    c->kind = (uint8_t)kind;
    c->gen = p->next_gen++;
    insert_hash(p, (uintptr_t)base, id);
    return id;
}

/* Notify, unregister, unmap, free the id. */
static void unmap_chunk(region_pool_t *p, uint32_t id)
{
    chunk_t *c = &p->chunks[id];
    notify_chunk(p, id, c, 0);
    remove_hash(p, (uintptr_t)c->base);
    if (!stash_large(p, c->base, c->bytes)) p->mem.unmap(p->mem.ctx, c->base, c->bytes);
    release_slot(p, id);
}

/* ---- blocks: lists ----------------------------------------------------------------- */

static inline block_t *block_of(const region_pool_t *p, uint32_t id) { return p->chunks[id].block; }

/* p->head changes only here and in reset: a head that stops being the head is
 * synced first (it may hold the fast path's changes). */
static void unlink_open(region_pool_t *p, block_t *b)
{
    if (b == p->head) sync_block(p, b);
    if (b->prev != NONE)
        block_of(p, b->prev)->next = b->next;
    else {
        p->open_head = b->next;
        p->head = b->next != NONE ? block_of(p, b->next) : &no_block;
    }
    if (b->next != NONE)
        block_of(p, b->next)->prev = b->prev;
    else
        p->open_tail = b->prev;
    b->prev = b->next = NONE;
    p->open_count--;
}

static void push_open(region_pool_t *p, block_t *b, int at_head)
{
    b->state = B_OPEN;
    if (at_head) {
        if (p->head != &no_block) sync_block(p, p->head);
        b->prev = NONE;
        b->next = p->open_head;
        if (p->open_head != NONE)
            block_of(p, p->open_head)->prev = b->id;
        else
            p->open_tail = b->id;
        p->open_head = b->id;
        p->head = b;
    } else {
        b->next = NONE;
        b->prev = p->open_tail;
        if (p->open_tail != NONE)
            block_of(p, p->open_tail)->next = b->id;
        else {
            p->open_head = b->id;
            p->head = b;
        }
        p->open_tail = b->id;
    }
    p->open_count++;
}

static void push_spare(region_pool_t *p, block_t *b)
{
    b->state = B_SPARE;
    b->prev = NONE;
    b->next = p->spare_head;
    p->spare_head = b->id;
    p->spare_count++;
}

static block_t *pop_spare(region_pool_t *p)
{
    if (p->spare_head == NONE) return NULL;
    block_t *b = block_of(p, p->spare_head);
    p->spare_head = b->next;
    b->next = NONE;
    p->spare_count--;
    return b;
}

/* A block just unlinked from the open list: closed, or a spare when empty. */
static void close_block(region_pool_t *p, block_t *b)
{
    if (block_live(b) == 0) {
        push_spare(p, b);
        return;
    }
    b->state = B_CLOSED;
    p->closed_tails += p->block_size - b->last;
}

/* Keep the open list within REGION_POOL_OPEN_MAX: close the block with the
 * least room, never `keep`. Runs over at most OPEN_MAX + 1 blocks. */
static void bound_open(region_pool_t *p, const block_t *keep)
{
    while (p->open_count > REGION_POOL_OPEN_MAX) {
        block_t *victim = NULL;
        for (uint32_t id = p->open_head; id != NONE;) {
            block_t *b = block_of(p, id);
            if (b != keep && (!victim || b->last > victim->last)) victim = b;
            id = b->next;
        }
        unlink_open(p, victim);
        close_block(p, victim);
    }
}

/* Bump pointer back to the start; every handle into it becomes stale. */
static void rewind_block(region_pool_t *p, block_t *b)
{
    sync_block(p, b);
    clear_starts(b);
    b->ranked = 1;
    p->consumed -= b->last;
    p->allocations -= block_live(b);
    p->used_small -= b->bytes - b->freed_bytes;
    p->used -= b->bytes - b->freed_bytes;
    b->last = b->slast = 0;
    b->top = b->entries;
    b->sn = b->nfreed = 0;
    b->bytes = b->sbytes = b->freed_bytes = 0;
    b->failed = 0;
    b->gen = p->next_gen++;
    p->chunks[b->id].gen = b->gen;
}

/* The live count just reached 0: rewind and make it the first block searched. */
static void recycle_block(region_pool_t *p, block_t *b)
{
    if (b->state == B_CLOSED)
        p->closed_tails -= p->block_size - b->last;
    else if (b->state == B_OPEN)
        unlink_open(p, b);
    rewind_block(p, b);
    push_open(p, b, 1);
    bound_open(p, b);
}

static void free_block_tables(region_pool_t *p, block_t *b)
{
    if (!b) return;
    clear_starts(b); /* cached tables have an all-zero starts bitmap */
    if (b->entries != inline_entries(p, b)) free(b->entries);
    if (!cache_put(CK_TABLES, block_tables_bytes(p->block_size), b)) free(b);
}

/* A new, empty block (not in any list), or NULL. */
static block_t *new_block(region_pool_t *p)
{
    size_t bs = p->block_size, ecap = bs / ENTRIES_PER, tb = block_tables_bytes(bs);
    void *base = NULL;
    block_t *b = NULL; /* stashed and cached tables have an all-zero starts bitmap */
    if (p->nsblock) {
        b = p->sblock[--p->nsblock];
        p->stash_bytes -= tb + bs;
        base = b->base;
    } else if (has_default_memory(p) && (b = cache_get(block_pair_kind(p), tb + bs, 1)) != NULL) {
        base = b->base;
    }
    if (!b) b = cache_get(CK_TABLES, tb, 1);
    if (!b) {
        if (!(b = malloc(tb))) return NULL;
        memset(b + 1, 0, starts_words(bs) * sizeof(uint64_t));
    }
    /* every field, one by one (no memset) */
    b->last = b->slast = 0;
    b->bytes = b->sbytes = b->freed_bytes = 0;
    b->marked = b->nfreed = b->sn = 0;
    b->failed = 0;
    b->state = 0;
    b->starts = (uint64_t *)(b + 1);
    b->rank = (uint32_t *)(b->starts + starts_words(bs));
    b->entries = inline_entries(p, b);
    b->top = b->entries;
    b->entries_end = b->entries + ecap;
    b->lim = bs;
    b->rank[0] = 0;
    b->ranked = 1;
    uint32_t id = map_chunk(p, bs, p->block_align, K_BLOCK, base);
    if (id == NONE) {
        if (base) p->mem.unmap(p->mem.ctx, base, bs);
        free_block_tables(p, b);
        return NULL;
    }
    b->id = id;
    b->base = p->chunks[id].base;
    b->prev = b->next = NONE;
    b->gen = p->chunks[id].gen;
    p->chunks[id].block = b;
    p->nblocks++;
    notify_chunk(p, id, &p->chunks[id], 1);
    return b;
}

/* ---- blocks: allocations ---------------------------------------------------------- */

static int grow_entries(region_pool_t *p, block_t *b)
{
    uint32_t most = (uint32_t)p->block_size, n = nstarts_of(b),
             cap = cap_of(b); /* every allocation consumes >= 1 byte */
    if (cap >= most) return 0;
    cap = cap > most / 2 ? most : cap * 2;
    entry_t *e;
    if (b->entries == inline_entries(p, b)) {
        e = malloc((size_t)cap * sizeof *e);
        if (e) memcpy(e, b->entries, (size_t)n * sizeof *e);
    } else {
        e = realloc(b->entries, (size_t)cap * sizeof *e);
    }
    if (!e) return 0;
    b->entries = e;
    b->top = e + n;
    b->entries_end = e + cap;
    return 1;
}

/* Set the start bits of the entries not marked yet (each once per rewind).
 * Like the rank slots, the bits are a cache outside the chunk, so a const
 * block (state_at, check) may fill them: blocks are always malloc'd. */
static void mark_starts(const block_t *cb)
{
    block_t *b = (block_t *)cb;
    for (uint32_t k = b->marked; k < nstarts_of(b); k++) {
        uint32_t off = b->entries[k].off;
        b->starts[off >> 6] |= (uint64_t)1 << (off & 63);
    }
    b->marked = nstarts_of(b);
}

/* Clear every start bit set (the words up to the newest marked entry's). */
static void clear_starts(block_t *b)
{
    if (b->marked) memset(b->starts, 0, ((size_t)(b->entries[b->marked - 1].off >> 6) + 1) * sizeof(uint64_t));
    b->marked = 0;
}

/* Index of the start at `off` (its bit is set, off < last) among the block's
 * starts. The rank slots up to off's group are written first if missing (see
 * block_t): at most block_size / GROUP_BYTES groups, each counted once per
 * rewind. The slots are a cache outside the chunk, so a const block (state_at,
 * check) may fill them too: blocks are always malloc'd, never const objects. */
static uint32_t rank_of(const block_t *cb, size_t off)
{
    block_t *b = (block_t *)cb;
    size_t w = off >> 6, g = off >> GROUP_SHIFT;
    if (g >= b->ranked) {
        size_t i = b->ranked;
        uint32_t r = b->rank[i - 1];
        const uint64_t *q = b->starts + ((i - 1) << (GROUP_SHIFT - 6));
        for (; i <= g; i++, q += GROUP_WORDS) {
            for (size_t k = 0; k < GROUP_WORDS; k++) r += count_bits64(q[k]);
            b->rank[i] = r;
        }
        b->ranked = (uint32_t)i;
    }
    uint32_t r = b->rank[g];
    for (size_t i = g << (GROUP_SHIFT - 6); i < w; i++) r += count_bits64(b->starts[i]);
    return r + count_bits64(b->starts[w] & (((uint64_t)1 << (off & 63)) - 1));
}

static void sync_block(region_pool_t *p, block_t *b)
{
    size_t db = b->bytes - b->sbytes;
    p->consumed += b->last - b->slast;
    p->allocations += nstarts_of(b) - b->sn;
    p->used_small += db;
    p->used += db;
    b->slast = b->last;
    b->sn = nstarts_of(b);
    b->sbytes = b->bytes;
    note_used(p);
}

/* The newest allocation of a block now ends at `last` (realloc in place). */
static void move_last(region_pool_t *p, block_t *b, size_t last)
{
    /* the starts stay (the newest one lies below both ends); rank slots of
     * groups beyond a lower last would miss the starts made there later */
    if (last < b->last && ((size_t)(b->ranked - 1) << GROUP_SHIFT) > last)
        b->ranked = (uint32_t)(last >> GROUP_SHIFT) + 1;
    if (b->state == B_CLOSED) p->closed_tails = p->closed_tails + b->last - last;
    b->last = last;
    sync_block(p, b);
}

/* Record an allocation of `size` at `off` ending at `end` (with a free
 * entry). The pool totals are not updated (sync_block). */
static inline void record(block_t *b, size_t off, size_t size, size_t end)
{
    entry_t *e = b->top;
    e->off = (uint32_t)off;
    e->size = (uint32_t)size;
    b->top = e + 1;
    b->bytes += size;
    b->last = end;
}

/* Record an allocation of `size` (consuming `need`) at `off` of an OPEN block;
 * `off + need` fits the block. 0 when the entries table cannot grow. */
static int bump(region_pool_t *p, block_t *b, size_t off, size_t size, size_t end)
{
    if (b->top == b->entries_end && !grow_entries(p, b)) return 0;
    record(b, off, size, end);
    return 1;
}

static int serve_block(region_pool_t *p, block_t *b, size_t off, size_t size, size_t need, region_pool_ref_t *out)
{
    if (!bump(p, b, off, size, off + need)) return REGION_POOL_ERR_NOMEM;
    sync_block(p, b);
    out->ptr = b->base + off;
    out->chunk = b->id;
    out->offset = off;
    out->gen = b->gen;
    out->size = size;
    return REGION_POOL_OK;
}

/* Bump allocation: the open list from its head (nginx's skip rule), then a spare
 * or new block at its tail. */
static int alloc_small(region_pool_t *p, size_t size, int unaligned, region_pool_ref_t *out)
{
    const size_t bs = p->block_size, need = size ? size : 1;
    const size_t mask = unaligned ? 0 : REGION_POOL_ALIGNMENT - 1;
    for (uint32_t id = p->open_head; id != NONE;) {
        block_t *b = block_of(p, id);
        id = b->next;
        size_t off = (b->last + mask) & ~mask;
        if (off <= bs && need <= bs - off) return serve_block(p, b, off, size, need, out);
        if (++b->failed > REGION_POOL_MAX_FAILED) {
            unlink_open(p, b);
            close_block(p, b);
        }
    }
    block_t *b = pop_spare(p);
    if (!b) b = new_block(p);
    if (!b) return REGION_POOL_ERR_NOMEM;
    push_open(p, b, 0);
    bound_open(p, b);
    return serve_block(p, b, 0, size, need, out);
}

/* ---- large blocks ------------------------------------------------------------------- */

/* Take entry i off the kept list (the others keep their oldest-first order):
 * its chunk id. */
static uint32_t unlist_kept(region_pool_t *p, uint32_t i)
{
    uint32_t id = p->kept[i];
    memmove(&p->kept[i], &p->kept[i + 1], (size_t)(--p->nkept - i) * sizeof p->kept[0]);
    p->kept_bytes -= p->chunks[id].bytes;
    return id;
}

/* A kept large block of `bytes` at `align`, made a large block again under a new
 * generation (newest kept first), or NONE. */
static uint32_t take_kept(region_pool_t *p, size_t bytes, size_t align)
{
    for (uint32_t i = p->nkept; i-- > 0;) {
        chunk_t *c = &p->chunks[p->kept[i]];
        if (c->bytes != bytes || ((uintptr_t)c->base & (align - 1))) continue;
        uint32_t id = unlist_kept(p, i);
        c->kind = K_LARGE;
        c->gen = p->next_gen++;
        return id;
    }
    return NONE;
}

static void unmap_chunk(region_pool_t *p, uint32_t id);

/* 1 when the released large block `id` is kept: it stays registered and mapped,
 * with no notification, as the newest kept block; the oldest kept blocks are
 * released to make room under keep_max and REGION_POOL_KEEP_MAX_BYTES (so
 * blocks of a size nobody asks for again do not keep the list full). */
static int keep_chunk(region_pool_t *p, uint32_t id)
{
    chunk_t *c = &p->chunks[id];
    if (!p->keep_max || c->bytes > REGION_POOL_KEEP_MAX_BYTES) return 0;
    while (p->nkept >= p->keep_max || c->bytes > REGION_POOL_KEEP_MAX_BYTES - p->kept_bytes)
        unmap_chunk(p, unlist_kept(p, 0)); /* the oldest */
    c->kind = K_KEPT;
    c->size = 0;
    p->kept[p->nkept++] = id;
    p->kept_bytes += c->bytes;
    return 1;
}

static int alloc_large(region_pool_t *p, size_t size, size_t align, region_pool_ref_t *out)
{
    if (size > REGION_POOL_MAX_REQUEST) return REGION_POOL_ERR_NOMEM;
    size_t bytes = size ? size : 1;
    const size_t chunk_align = align > p->page ? align : p->page;
    uint32_t id = p->nkept ? take_kept(p, bytes, chunk_align) : NONE;
    const int fresh = id == NONE;
    if (fresh) id = map_chunk(p, bytes, chunk_align, K_LARGE, NULL);
    if (id == NONE) return REGION_POOL_ERR_NOMEM;
    chunk_t *c = &p->chunks[id];
    c->size = size;
    c->align = align;
    p->nlarge++;
    p->large_bytes += bytes;
    p->used += size;
    p->allocations++;
    note_used(p);
    if (fresh) notify_chunk(p, id, c, 1);
    out->ptr = c->base;
    out->chunk = id;
    out->offset = 0;
    out->gen = c->gen;
    out->size = size;
    return REGION_POOL_OK;
}

static void release_large(region_pool_t *p, uint32_t id)
{
    chunk_t *c = &p->chunks[id];
    p->nlarge--;
    p->large_bytes -= c->bytes;
    p->used -= c->size;
    p->allocations--;
    if (!keep_chunk(p, id)) unmap_chunk(p, id);
}

/* ---- handles -------------------------------------------------------------------------- */

/* What a handle names, resolved without reading chunk memory. */
typedef struct target {
    block_t *block; /* NULL for a large block */
    uint32_t index; /* entry index in the block */
    size_t size;
} target_t;

static int resolve(const region_pool_t *p, uint32_t chunk, size_t offset, uint64_t gen, target_t *t)
{
    if (chunk >= p->nchunks || gen == 0 || gen >= p->next_gen) return REGION_POOL_ERR_FOREIGN;
    if (gen < p->reset_gen) return REGION_POOL_ERR_STALE;
    const chunk_t *c = &p->chunks[chunk];
    if (c->kind != K_BLOCK) {
        /* a free slot or a large block: only offset 0 was ever an allocation; an
         * older generation of this id was freed (a reset would make it stale) */
        if (offset != 0) return REGION_POOL_ERR_FOREIGN;
        if (c->kind != K_LARGE || gen != c->gen) return REGION_POOL_ERR_DOUBLE_FREE; /* free, kept, or newer */
        t->block = NULL;
        t->index = 0;
        t->size = c->size;
        return REGION_POOL_OK;
    }
    block_t *b = c->block;
    if (offset >= p->block_size) return REGION_POOL_ERR_FOREIGN;
    if (gen != b->gen) return REGION_POOL_ERR_DOUBLE_FREE; /* rewound since: all freed */
    if (offset >= b->last) return REGION_POOL_ERR_FOREIGN;
    mark_starts(b);
    if (!test_bit(b->starts, offset)) return REGION_POOL_ERR_FOREIGN;
    uint32_t k = rank_of(b, offset);
    if (k >= nstarts_of(b) || b->entries[k].off != offset)
        return REGION_POOL_ERR_FOREIGN; /* unreachable with intact tables */
    if (b->entries[k].size & FREED_BIT) return REGION_POOL_ERR_DOUBLE_FREE;
    t->block = b;
    t->index = k;
    t->size = b->entries[k].size & SIZE_BITS;
    return REGION_POOL_OK;
}

static void free_target(region_pool_t *p, uint32_t chunk, const target_t *t)
{
    if (!t->block) {
        release_large(p, chunk);
        return;
    }
    block_t *b = t->block;
    b->entries[t->index].size |= FREED_BIT;
    b->nfreed++;
    b->freed_bytes += t->size;
    p->used_small -= t->size;
    p->used -= t->size;
    p->allocations--;
    if (block_live(b) == 0) recycle_block(p, b);
}

/* ---- public: pool ------------------------------------------------------------------- */

/* sysconf(_SC_PAGESIZE), asked once per process (a pool per request would ask
 * it every time otherwise). */
static size_t system_page_size(void)
{
    static _Atomic size_t page;
    size_t ps = atomic_load_explicit(&page, memory_order_relaxed);
    if (!ps) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (size_t)v : 4096;
        atomic_store_explicit(&page, ps, memory_order_relaxed);
    }
    return ps;
}

int region_pool_create(const region_pool_options_t *opt, region_pool_t **out)
{
    if (!out) return REGION_POOL_ERR_INVALID;
    *out = NULL;
    size_t bs = opt && opt->block_size ? opt->block_size : REGION_POOL_DEFAULT_BLOCK;
    size_t page = opt && opt->page_size ? opt->page_size : 0;
    if (!page) page = system_page_size();
    if (bs < REGION_POOL_MIN_BLOCK || bs > REGION_POOL_MAX_BLOCK || bs % REGION_POOL_BLOCK_GRANULE)
        return REGION_POOL_ERR_INVALID;
    if (!is_pow2(page) || page < 16 || page > ((size_t)1 << 30)) return REGION_POOL_ERR_INVALID;
    const region_pool_memory_t *m = opt ? opt->memory : NULL;
    if (m && (!m->map || !m->unmap)) return REGION_POOL_ERR_INVALID;

    size_t block_align = round_up_pow2(bs);
    if (block_align < page) block_align = page;
    /* a parked pool of this block size (with its stash), else a bare one; the
     * initial chunk slots are cleared as they are taken; the rest is zeroed */
    /* a parked or cached pool has an all-zero hslots0 (destroy clears it) */
    region_pool_t *p = m ? NULL : unpark_pool(bs, block_align);
    if (!p && !(p = cache_get(CK_POOL, sizeof *p, 1))) {
        if (!(p = malloc(sizeof *p))) return REGION_POOL_ERR_NOMEM;
        memset(p->hslots0, 0, sizeof p->hslots0);
        p->nsblock = p->nslarge = 0;
        p->stash_bytes = 0;
    }
    /* every field before chunks0, one by one (small pools per request: no memset) */
    p->block_size = bs;
    p->block_align = block_align;
    p->page = page;
    p->max_small = bs < page - 1 ? bs : page - 1;
    if (m)
        p->mem = *m;
    else {
        p->mem.map = default_map;
        p->mem.unmap = default_unmap;
        p->mem.on_chunk = NULL;
        p->mem.ctx = NULL;
    }
    p->chunks = p->chunks0;
    p->nchunks = 0;
    p->chunk_cap = CHUNKS_MIN;
    p->free_head = NONE;
    chunk_map_init(&p->hash, p->hslots0, HASH_MIN);
    p->open_head = p->open_tail = NONE;
    p->open_count = 0;
    p->head = &no_block;
    p->spare_head = NONE;
    p->spare_count = 0;
    p->nblocks = p->nlarge = p->large_bytes = 0;
    p->keep_max = 0;
    p->nkept = 0;
    p->kept_bytes = 0;
    p->used = p->used_small = p->peak_used = p->allocations = p->failed = 0;
    p->consumed = p->closed_tails = 0;
    p->next_gen = p->reset_gen = 1;
    p->cleanups = NULL;
    p->ncleanups = p->cleanup_cap = 0;
    p->running_cleanups = 0;
    *out = p;
    return REGION_POOL_OK;
}

/* Newest first; a handler added meanwhile is on top, so it runs next. */
static void run_cleanups(region_pool_t *p)
{
    p->running_cleanups++;
    while (p->ncleanups > 0) {
        cleanup_t c = p->cleanups[--p->ncleanups];
        c.fn(c.data);
    }
    p->running_cleanups--;
}

int region_pool_destroy(region_pool_t *p)
{
    if (!p) return REGION_POOL_OK;
    if (p->running_cleanups) return REGION_POOL_ERR_BUSY;
    run_cleanups(p);
    const int dflt = has_default_memory(p);
    const size_t pair = block_tables_bytes(p->block_size) + p->block_size;
    /* highest id first, so the stash hands them out lowest id first; the
     * tables go with the pool: no unregistering */
    for (uint32_t id = p->nchunks; id-- > 0;) {
        chunk_t *c = &p->chunks[id];
        if (c->kind == K_FREE) continue;
        notify_chunk(p, id, c, 0);
        if (p->hash.slots == p->hslots0)
            chunk_map_clear_key(&p->hash, (uintptr_t)c->base); /* hslots0 all zero again at the end */
        block_t *b = c->block;
        if (!b) { /* a large block: to the stash or the provider */
            if (!stash_large(p, c->base, c->bytes)) p->mem.unmap(p->mem.ctx, c->base, c->bytes);
            continue;
        }
        if (dflt) {          /* the default provider: stash or cache the block with its tables */
            clear_starts(b); /* free_block_tables below has nothing left to clear */
            if (b->entries != inline_entries(p, b)) {
                free(b->entries);
                b->entries = inline_entries(p, b);
            }
            if (STASH_ON && p->nsblock < STASH_BLOCKS && pair <= STASH_MAX_BYTES - p->stash_bytes) {
                p->sblock[p->nsblock++] = b;
                p->stash_bytes += pair;
                continue;
            }
            if (cache_put(block_pair_kind(p), pair, b)) continue; /* b->base == c->base */
        }
        p->mem.unmap(p->mem.ctx, c->base, c->bytes);
        free_block_tables(p, b);
    }
    if (p->chunks != p->chunks0) free(p->chunks);
    if (p->hash.slots != p->hslots0) {
        free(p->hash.slots);
        memset(p->hslots0, 0, sizeof p->hslots0); /* may hold keys from before it grew */
    }
    if (p->cleanups) free(p->cleanups);
    /* park the pool with its stash for the next create of its block size */
    if (p->nsblock || p->nslarge) {
        if (park_pool(p)) return REGION_POOL_OK;
        drop_stash(p, 1);
    }
    if (!cache_put(CK_POOL, sizeof *p, p)) free(p);
    return REGION_POOL_OK;
}

int region_pool_reset(region_pool_t *p)
{
    if (!p) return REGION_POOL_ERR_INVALID;
    if (p->running_cleanups) return REGION_POOL_ERR_BUSY;
    run_cleanups(p);
    sync_head(p);
    for (uint32_t id = 0; id < p->nchunks; id++)
        if (p->chunks[id].kind == K_LARGE) release_large(p, id);
    p->reset_gen = p->next_gen;
    p->open_head = p->open_tail = NONE;
    p->head = &no_block;
    p->open_count = 0;
    p->spare_head = NONE;
    p->spare_count = 0;
    for (uint32_t id = p->nchunks; id-- > 0;) { /* lowest id ends on top of the spares */
        if (p->chunks[id].kind != K_BLOCK) continue;
        block_t *b = p->chunks[id].block;
        rewind_block(p, b);
        push_spare(p, b);
    }
    p->used = p->used_small = p->allocations = 0;
    p->consumed = p->closed_tails = 0;
    return REGION_POOL_OK;
}

int region_pool_keep_large(region_pool_t *p, unsigned count)
{
    if (!p) return REGION_POOL_ERR_INVALID;
    p->keep_max = count < REGION_POOL_KEEP_MAX ? count : REGION_POOL_KEEP_MAX;
    return REGION_POOL_OK;
}

int region_pool_on_cleanup(region_pool_t *p, region_pool_cleanup_fn fn, void *data)
{
    if (!p || !fn) return REGION_POOL_ERR_INVALID;
    if (p->ncleanups == p->cleanup_cap) {
        size_t cap = p->cleanup_cap ? p->cleanup_cap * 2 : CLEANUPS_MIN;
        if (cap > SIZE_MAX / sizeof(cleanup_t)) return REGION_POOL_ERR_NOMEM;
        cleanup_t *c = realloc(p->cleanups, cap * sizeof *c);
        if (!c) return REGION_POOL_ERR_NOMEM;
        p->cleanups = c;
        p->cleanup_cap = cap;
    }
    p->cleanups[p->ncleanups].fn = fn;
    p->cleanups[p->ncleanups].data = data;
    p->ncleanups++;
    return REGION_POOL_OK;
}

size_t region_pool_block_size(const region_pool_t *p) { return p ? p->block_size : 0; }
size_t region_pool_max_small(const region_pool_t *p) { return p ? p->max_small : 0; }
size_t region_pool_page_size(const region_pool_t *p) { return p ? p->page : 0; }

/* ---- public: allocation ---------------------------------------------------------------- */

int region_pool_alloc_ref(region_pool_t *p, size_t size, size_t align, unsigned flags, region_pool_ref_t *out)
{
    if (!p || !out) return REGION_POOL_ERR_INVALID;
    if (flags & ~(REGION_POOL_UNALIGNED | REGION_POOL_ZERO | REGION_POOL_MEMALIGN)) return REGION_POOL_ERR_INVALID;
    int rc; /* allocating only adds to the totals: the head need not be synced */
    if (flags & REGION_POOL_MEMALIGN) {
        if (!is_pow2(align) || align > REGION_POOL_MAX_REQUEST) return REGION_POOL_ERR_INVALID;
        rc = alloc_large(p, size, align, out);
    } else if (size <= p->max_small) {
        rc = alloc_small(p, size, (flags & REGION_POOL_UNALIGNED) != 0, out);
    } else {
        rc = alloc_large(p, size, 0, out);
    }
    if (rc == REGION_POOL_ERR_NOMEM)
        p->failed++;
    else if (rc == REGION_POOL_OK && (flags & REGION_POOL_ZERO) && size)
        memset(out->ptr, 0, size);
    return rc;
}

int region_pool_calloc_ref(region_pool_t *p, size_t count, size_t size, region_pool_ref_t *out)
{
    if (!p || !out) return REGION_POOL_ERR_INVALID;
    if (size && count > SIZE_MAX / size) return REGION_POOL_ERR_RANGE;
    return region_pool_alloc_ref(p, count * size, 0, REGION_POOL_ZERO, out);
}

int region_pool_free_at(region_pool_t *p, uint32_t chunk, size_t offset, uint64_t gen)
{
    if (!p) return REGION_POOL_ERR_INVALID;
    target_t t;
    int rc = resolve(p, chunk, offset, gen, &t);
    if (rc == REGION_POOL_OK) {
        sync_head(p);
        free_target(p, chunk, &t);
    }
    return rc;
}

int region_pool_state_at(const region_pool_t *p, uint32_t chunk, size_t offset, uint64_t gen, size_t *size)
{
    if (!p) return REGION_POOL_ERR_INVALID;
    target_t t;
    int rc = resolve(p, chunk, offset, gen, &t);
    if (rc == REGION_POOL_OK && size) *size = t.size;
    return rc;
}

static void resize_in_place(region_pool_t *p, const target_t *t, uint32_t chunk, size_t size)
{
    if (t->block) {
        block_t *b = t->block;
        b->entries[t->index].size = (uint32_t)size;
        b->bytes = b->bytes - t->size + size;
        sync_block(p, b); /* used and peak */
    } else {
        p->chunks[chunk].size = size;
        p->used = p->used - t->size + size;
        note_used(p);
    }
}

int region_pool_realloc_at(region_pool_t *p, uint32_t chunk, size_t offset, uint64_t gen, size_t size,
                           region_pool_ref_t *out)
{
    if (!p || !out) return REGION_POOL_ERR_INVALID;
    target_t t;
    int rc = resolve(p, chunk, offset, gen, &t);
    if (rc != REGION_POOL_OK) return rc;
    sync_head(p);
    chunk_t *c = &p->chunks[chunk];
    size_t align = 0;
    int in_place = 0;
    if (!t.block) {
        in_place = size <= c->bytes;
        align = c->align;
    } else if (size <= p->max_small) {
        block_t *b = t.block;
        size_t need = size ? size : 1;
        if (t.index + 1 == nstarts_of(b) && need <= p->block_size - offset) {
            move_last(p, b, offset + need); /* the newest allocation: its end is b->last */
            in_place = 1;
        } else {
            in_place = size <= t.size;
        }
    }
    if (in_place) {
        resize_in_place(p, &t, chunk, size);
        out->ptr = c->base + offset;
        out->chunk = chunk;
        out->offset = offset;
        out->gen = gen;
        out->size = size;
        return REGION_POOL_OK;
    }
    region_pool_ref_t n;
    rc = region_pool_alloc_ref(p, size, align, align ? REGION_POOL_MEMALIGN : 0, &n);
    if (rc != REGION_POOL_OK) return rc;
    /* the chunk table may have moved; the old allocation is still live */
    unsigned char *old = p->chunks[chunk].base + offset;
    memcpy(n.ptr, old, size < t.size ? size : t.size);
    free_target(p, chunk, &t);
    *out = n;
    return REGION_POOL_OK;
}

#if defined(__GNUC__) || defined(__clang__)
#define RP_NOINLINE __attribute__((noinline))
#else
#define RP_NOINLINE
#endif
/* palloc/pnalloc of 0 bytes (from a block) or of more than max_small (a large block). */
RP_NOINLINE static void *alloc_slow(region_pool_t *p, size_t size, unsigned flags)
{
    region_pool_ref_t r;
    int rc = size ? alloc_large(p, size, 0, &r) : alloc_small(p, 0, (flags & REGION_POOL_UNALIGNED) != 0, &r);
    if (rc == REGION_POOL_OK) return r.ptr;
    p->failed++; /* REGION_POOL_ERR_NOMEM */
    return NULL;
}

/* A small request the head block cannot serve below its lim: the search. */
RP_NOINLINE static void *small_slow(region_pool_t *p, size_t size, unsigned flags)
{
    region_pool_ref_t r;
    if (alloc_small(p, size, flags & REGION_POOL_UNALIGNED, &r) == REGION_POOL_OK) return r.ptr;
    p->failed++;
    return NULL;
}

/* The fast path's request (size >= 1) does not fit the head block, or its
 * entries table is full. The search's common case inline: the head fails the
 * request (and leaves the open list at its failure REGION_POOL_MAX_FAILED + 1,
 * the skip rule) and the next open block serves it; else the search and the
 * slow way (which grows entries tables and adds blocks). */
RP_NOINLINE static void *refill_small(region_pool_t *p, block_t *b, size_t size, size_t end, unsigned flags)
{
    block_t *c = b != &no_block && b->next != NONE ? block_of(p, b->next) : NULL;
    if (end > p->block_size && c && c->top != c->entries_end) {
        size_t mask = (flags & REGION_POOL_UNALIGNED) ? 0 : REGION_POOL_ALIGNMENT - 1;
        size_t off2 = (c->last + mask) & ~mask, end2 = off2 + size;
        if (end2 <= p->block_size) {
            if (++b->failed > REGION_POOL_MAX_FAILED) { /* c becomes the head */
                unlink_open(p, b);
                close_block(p, b);
            }
            record(c, off2, size, end2);
            if (c != p->head) sync_block(p, c);
            return c->base + off2;
        }
    }
    return small_slow(p, size, flags);
}

/* palloc/pnalloc: the head of the open list (the block the search would pick
 * first) serves the request below its lim. The pool totals are left to
 * sync_head. */
static inline void *fast_small(region_pool_t *p, size_t size, size_t mask, unsigned flags)
{
    if (!p) return NULL;
    if (size - 1 >= p->max_small) return alloc_slow(p, size, flags); /* 0 (it consumes 1 byte) or large */
    block_t *b = p->head; /* &no_block (lim 0) when no block is open: refill_small goes the slow way */
    size_t off = (b->last + mask) & ~mask, end = off + size;
    /* off <= block_size + 7 and 1 <= size <= max_small: no overflow */
    if (end > b->lim || b->top == b->entries_end) return refill_small(p, b, size, end, flags);
    record(b, off, size, end);
    return b->base + off;
}

void *region_pool_palloc(region_pool_t *p, size_t size) { return fast_small(p, size, REGION_POOL_ALIGNMENT - 1, 0); }

void *region_pool_pnalloc(region_pool_t *p, size_t size) { return fast_small(p, size, 0, REGION_POOL_UNALIGNED); }

void *region_pool_calloc(region_pool_t *p, size_t count, size_t size)
{
    region_pool_ref_t r;
    return region_pool_calloc_ref(p, count, size, &r) == REGION_POOL_OK ? r.ptr : NULL;
}

void *region_pool_memalign(region_pool_t *p, size_t align, size_t size)
{
    region_pool_ref_t r;
    return region_pool_alloc_ref(p, size, align, REGION_POOL_MEMALIGN, &r) == REGION_POOL_OK ? r.ptr : NULL;
}

/* ---- public: external bumping --------------------------------------------------------- */

int region_pool_head(const region_pool_t *p, region_pool_head_t *out)
{
    if (!p || !out) return REGION_POOL_ERR_INVALID;
    const block_t *b = p->head;
    if (b == &no_block) {
        memset(out, 0, sizeof *out);
        return REGION_POOL_ERR_INVALID;
    }
    out->base = b->base;
    out->chunk = b->id;
    out->gen = b->gen;
    out->last = b->last;
    out->slots = (size_t)(b->entries_end - b->top);
    return REGION_POOL_OK;
}

/* The fast path's record() for each pair, after the checks it would not need;
 * the pool totals are left to sync_head, as after palloc. */
size_t region_pool_record_head(region_pool_t *p, uint32_t chunk, uint64_t gen, const uint32_t *log, size_t n)
{
    if (!p || !log) return 0;
    block_t *b = p->head;
    if (b == &no_block || b->id != chunk || b->gen != gen) return 0;
    const size_t bs = p->block_size;
    size_t i = 0;
    for (; i < n; i++) {
        size_t off = log[2 * i], size = log[2 * i + 1];
        if (size > p->max_small || off < b->last || off >= bs || b->top == b->entries_end) break;
        size_t end = off + (size ? size : 1);
        if (end > bs) break;
        record(b, off, size, end);
    }
    return i;
}

int region_pool_locate(const region_pool_t *p, const void *ptr, region_pool_ref_t *out)
{
    if (!p || !out) return REGION_POOL_ERR_INVALID;
    uint32_t id;
    size_t off;
    if (!ptr || !find_chunk(p, ptr, &id, &off)) return REGION_POOL_ERR_FOREIGN;
    const chunk_t *c = &p->chunks[id];
    out->ptr = (void *)(uintptr_t)ptr;
    out->chunk = id;
    out->offset = off;
    out->gen = c->kind == K_BLOCK ? c->block->gen : c->gen;
    out->size = 0;
    return REGION_POOL_OK;
}

int region_pool_free(region_pool_t *p, void *ptr)
{
    if (!p) return REGION_POOL_ERR_INVALID;
    if (!ptr) return REGION_POOL_OK;
    region_pool_ref_t r;
    int rc = region_pool_locate(p, ptr, &r);
    return rc == REGION_POOL_OK ? region_pool_free_at(p, r.chunk, r.offset, r.gen) : rc;
}

int region_pool_realloc(region_pool_t *p, void *ptr, size_t size, void **out)
{
    if (!p || !out) return REGION_POOL_ERR_INVALID;
    region_pool_ref_t r, n;
    int rc;
    if (!ptr)
        rc = region_pool_alloc_ref(p, size, 0, 0, &n);
    else if ((rc = region_pool_locate(p, ptr, &r)) == REGION_POOL_OK)
        rc = region_pool_realloc_at(p, r.chunk, r.offset, r.gen, size, &n);
    if (rc == REGION_POOL_OK) *out = n.ptr;
    return rc;
}

/* ---- public: chunks and inspection ------------------------------------------------------ */

int region_pool_chunk_info(const region_pool_t *p, uint32_t id, region_pool_chunk_info_t *out)
{
    if (!p || !out || id >= p->nchunks || p->chunks[id].kind == K_FREE || p->chunks[id].kind == K_KEPT)
        return REGION_POOL_ERR_INVALID;
    const chunk_t *c = &p->chunks[id];
    out->base = c->base;
    out->bytes = c->bytes;
    out->kind = c->kind;
    if (c->kind == K_BLOCK) {
        out->gen = c->block->gen;
        out->live = block_live(c->block);
        out->used = c->block->last;
    } else {
        out->gen = c->gen;
        out->live = 1;
        out->used = c->size;
    }
    return REGION_POOL_OK;
}

uint32_t region_pool_chunk_limit(const region_pool_t *p) { return p ? p->nchunks : 0; }

int region_pool_chunk_kept(const region_pool_t *p, uint32_t id)
{
    return p && id < p->nchunks && p->chunks[id].kind == K_KEPT;
}

void region_pool_get_stats(const region_pool_t *p, region_pool_stats_t *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!p) return;
    size_t block_bytes = p->nblocks * p->block_size;
    out->capacity = SIZE_MAX;
    out->reserved = block_bytes + p->large_bytes + p->kept_bytes;
    /* the head's changes since its snapshot (the fast path) only add */
    const block_t *h = p->head;
    size_t dlast = h->last - h->slast, dbytes = h->bytes - h->sbytes, dn = nstarts_of(h) - h->sn;
    size_t consumed = p->consumed + dlast, used_small = p->used_small + dbytes;
    out->used = p->used + dbytes;
    out->peak_used = out->used > p->peak_used ? out->used : p->peak_used;
    out->allocations = p->allocations + dn;
    out->failed_allocations = p->failed;
    out->blocks = p->nblocks;
    out->large_blocks = p->nlarge;
    out->large_bytes = p->large_bytes;
    out->wasted = consumed - used_small + p->closed_tails;
    out->available = block_bytes - consumed - p->closed_tails;
    out->spare_blocks = p->spare_count;
    out->cleanups = p->ncleanups;
}

#define FAIL(msg)                                                                                                      \
    do {                                                                                                               \
        if (why) *why = (msg);                                                                                         \
        return REGION_POOL_ERR_CORRUPTED;                                                                              \
    } while (0)

/* One block's side tables against its counters. */
static int check_block(const region_pool_t *p, const block_t *b, const char **why)
{
    const size_t bs = p->block_size, words = starts_words(bs);
    if (b->last > bs) FAIL("block bump offset beyond the block");
    if (b->top < b->entries || b->top > b->entries_end || b->nfreed > b->sn || b->marked > nstarts_of(b) ||
        b->freed_bytes > b->bytes)
        FAIL("block entry counts out of range");
    if ((block_live(b) == 0) != (b->last == 0)) FAIL("block live count and bump offset disagree (not rewound)");
    if (b != p->head && (b->slast != b->last || b->sn != nstarts_of(b) || b->sbytes != b->bytes))
        FAIL("block not synced into the pool totals");
    if (b->slast > b->last || b->sn > nstarts_of(b) || b->sbytes > b->bytes) FAIL("block snapshot ahead of the block");
    if (b->gen == 0 || b->gen >= p->next_gen || b->gen < p->reset_gen) FAIL("block generation out of range");
    if (p->chunks[b->id].block != b) FAIL("block id does not name the block");
    if (b->lim != bs) FAIL("block fast-path limit out of range");
    if (b->ranked < 1 || b->ranked > rank_groups(bs) || ((size_t)(b->ranked - 1) << GROUP_SHIFT) > b->last ||
        b->rank[0] != 0)
        FAIL("block rank mark out of range");
    /* the start bits are exactly the offsets of the marked entries */
    uint32_t k = 0;
    for (size_t w = 0; w < words; w++) {
        for (uint64_t bits = b->starts[w]; bits; bits &= bits - 1, k++) {
            size_t off = (w << 6) + find_first_set64(bits);
            if (k >= b->marked || b->entries[k].off != off) FAIL("start bits disagree with the marked entries");
        }
    }
    if (k != b->marked) FAIL("fewer start bits than marked entries");
    /* the entries: in address order below last, live ones apart */
    size_t live = 0, live_bytes = 0, all_bytes = 0, prev_end = 0;
    int have_prev = 0;
    for (k = 0; k < nstarts_of(b); k++) {
        size_t off = b->entries[k].off, size = b->entries[k].size & SIZE_BITS, need = size ? size : 1;
        int freed = (b->entries[k].size & FREED_BIT) != 0;
        if (off >= b->last || (k && off <= b->entries[k - 1].off))
            FAIL("entries out of address order or beyond the bump offset");
        all_bytes += size;
        if (freed && k >= b->sn) FAIL("freed entry not synced into the pool totals");
        if (freed) continue;
        if (have_prev && off < prev_end) FAIL("live allocations overlap");
        if (size > p->max_small || off + need > b->last) FAIL("live allocation beyond the bump offset");
        live++;
        live_bytes += size;
        prev_end = off + need;
        have_prev = 1;
    }
    if (live != block_live(b) || all_bytes != b->bytes || live_bytes != b->bytes - b->freed_bytes)
        FAIL("block live count or bytes disagree with entries");
    if (nstarts_of(b) && !(b->entries[nstarts_of(b) - 1].size & FREED_BIT)) {
        size_t s = b->entries[nstarts_of(b) - 1].size & SIZE_BITS;
        if (b->entries[nstarts_of(b) - 1].off + (s ? s : 1) != b->last)
            FAIL("newest live allocation does not end at the bump offset");
    }
    /* rank slots written so far, also of groups holding no start */
    for (size_t g = 0, r = 0, w = 0; g < b->ranked; g++) {
        for (; w < g << (GROUP_SHIFT - 6); w++) r += count_bits64(b->starts[w]);
        if (b->rank[g] != r) FAIL("rank table disagrees with the start bits");
    }
    return REGION_POOL_OK;
}

int region_pool_check(const region_pool_t *p, const char **why)
{
    if (why) *why = NULL;
    if (!p) FAIL("no pool");
    if (p->nchunks > p->chunk_cap) FAIL("chunk count beyond the table");
    /* free list: only free slots, no cycle */
    size_t nfree = 0;
    for (uint32_t id = p->free_head; id != NONE; id = p->chunks[id].next_free) {
        if (id >= p->nchunks || p->chunks[id].kind != K_FREE) FAIL("free list holds a live or unknown id");
        if (++nfree > p->nchunks) FAIL("free list cycles");
    }
    size_t nblocks = 0, nlarge = 0, large_bytes = 0, large_used = 0, consumed = 0, closed = 0;
    size_t live = 0, used_small = 0, free_slots = 0, nopen = 0, nspare = 0, nkept = 0, kept_bytes = 0;
    for (uint32_t id = 0; id < p->nchunks; id++) {
        const chunk_t *c = &p->chunks[id];
        if (c->kind == K_FREE) {
            if (c->base) FAIL("free slot with a base");
            free_slots++;
            continue;
        }
        uint32_t found;
        if (!c->base || !find_hash(p, (uintptr_t)c->base, &found) || found != id)
            FAIL("chunk missing from the address hash");
        if (c->kind == K_LARGE) {
            if (c->size > c->bytes || c->gen == 0 || c->gen >= p->next_gen || c->gen < p->reset_gen)
                FAIL("large block fields out of range");
            nlarge++;
            large_bytes += c->bytes;
            large_used += c->size;
            continue;
        }
        if (c->kind == K_KEPT) {
            if (c->block || c->size || c->bytes > REGION_POOL_KEEP_MAX_BYTES) FAIL("kept block fields out of range");
            uint32_t i = 0;
            while (i < p->nkept && p->kept[i] != id) i++;
            if (i == p->nkept) FAIL("kept block missing from the kept list");
            nkept++;
            kept_bytes += c->bytes;
            continue;
        }
        if (c->kind != K_BLOCK || !c->block || c->bytes != p->block_size) FAIL("bad chunk kind or block size");
        if ((uintptr_t)c->base & (p->block_align - 1)) FAIL("block base not aligned to block_align");
        const block_t *b = c->block;
        if (b->id != id) FAIL("block id mismatch");
        int rc = check_block(p, b, why);
        if (rc != REGION_POOL_OK) return rc;
        nblocks++;
        consumed += b->slast;
        live += b->sn - b->nfreed;
        used_small += b->sbytes - b->freed_bytes;
        if (b->state != B_OPEN && b == p->head) FAIL("head block not open");
        if (b->state == B_CLOSED)
            closed += p->block_size - b->last;
        else if (b->state == B_OPEN)
            nopen++;
        else if (b->state == B_SPARE) {
            nspare++;
            if (block_live(b)) FAIL("spare block holds live allocations");
        } else
            FAIL("block in no state");
    }
    if (free_slots != nfree) FAIL("free slots not all on the free list");
    if (p->hash.count != p->nchunks - free_slots || p->hash.count * 2 > p->hash.cap) FAIL("address hash count wrong");
    /* open list: doubly linked, all OPEN, failed counts within the rule */
    size_t n = 0;
    uint32_t prev = NONE;
    for (uint32_t id = p->open_head; id != NONE; id = block_of(p, id)->next) {
        if (id >= p->nchunks || p->chunks[id].kind != K_BLOCK) FAIL("open list holds a non-block");
        const block_t *b = block_of(p, id);
        if (b->state != B_OPEN || b->prev != prev) FAIL("open list links broken");
        if (b->failed > REGION_POOL_MAX_FAILED) FAIL("open block failed too often");
        if (++n > nopen) FAIL("open list longer than its blocks (cycle?)");
        prev = id;
    }
    if (n != nopen || n != p->open_count || p->open_tail != prev) FAIL("open list count or tail wrong");
    if (p->head != (p->open_head == NONE ? &no_block : block_of(p, p->open_head))) FAIL("open list head pointer wrong");
    if (no_block.top || no_block.entries_end || no_block.lim || no_block.last) FAIL("empty head placeholder changed");
    if (n > REGION_POOL_OPEN_MAX) FAIL("open list longer than REGION_POOL_OPEN_MAX");
    n = 0;
    for (uint32_t id = p->spare_head; id != NONE; id = block_of(p, id)->next) {
        if (id >= p->nchunks || p->chunks[id].kind != K_BLOCK || block_of(p, id)->state != B_SPARE)
            FAIL("spare stack holds a non-spare");
        if (++n > nspare) FAIL("spare stack cycles");
    }
    if (n != nspare || n != p->spare_count) FAIL("spare count wrong");
    if (nblocks != p->nblocks || nlarge != p->nlarge || large_bytes != p->large_bytes) FAIL("chunk counts disagree");
    if (nkept != p->nkept || kept_bytes != p->kept_bytes || p->nkept > REGION_POOL_KEEP_MAX ||
        kept_bytes > REGION_POOL_KEEP_MAX_BYTES)
        FAIL("kept blocks disagree with their count");
    if (consumed != p->consumed || closed != p->closed_tails) FAIL("consumed or closed-tail totals disagree");
    if (used_small != p->used_small || used_small + large_used != p->used) FAIL("used disagrees with the blocks");
    if (live + nlarge != p->allocations) FAIL("allocation count disagrees");
    if (p->used > p->peak_used) FAIL("used above peak"); /* the head's pending bytes may be above it */
    if (p->ncleanups > p->cleanup_cap || p->reset_gen > p->next_gen) FAIL("counters out of range");
    /* the stash: within its bounds, its sizes add up, nothing in it is registered */
    size_t stashed = 0, pair = block_tables_bytes(p->block_size) + p->block_size;
    if (p->nsblock > STASH_BLOCKS || p->nslarge > STASH_LARGE || ((p->nsblock || p->nslarge) && !has_default_memory(p)))
        FAIL("stash out of bounds");
    for (uint32_t i = 0; i < p->nsblock; i++) {
        uint32_t found;
        if (find_hash(p, (uintptr_t)p->sblock[i]->base, &found)) FAIL("stashed block still registered");
        stashed += pair;
    }
    for (uint32_t i = 0; i < p->nslarge; i++) {
        uint32_t found;
        if (find_hash(p, (uintptr_t)p->slarge[i], &found)) FAIL("stashed large chunk still registered");
        stashed += p->slarge_bytes[i];
    }
    if (stashed != p->stash_bytes || stashed > STASH_MAX_BYTES) FAIL("stash bytes wrong");
    return REGION_POOL_OK;
}

/* ---- walk ------------------------------------------------------------------------------------------ */

int region_pool_walk(const region_pool_t *p, region_pool_walker walker, void *user)
{
    if (!p || !walker) return REGION_POOL_ERR_INVALID;
    for (uint32_t id = 0; id < p->nchunks; id++) {
        const chunk_t *c = &p->chunks[id];
        region_pool_block_info_t info = {id, 0, 0, REGION_POOL_BLOCK_USED};
        if (c->kind == K_LARGE) {
            info.size = c->size;
            if (walker(&info, user)) return REGION_POOL_OK;
            continue;
        }
        if (c->kind != K_BLOCK) continue;
        const block_t *b = c->block;
        for (const entry_t *e = b->entries; e < b->top; e++) {
            info.offset = e->off;
            info.size = e->size & SIZE_BITS;
            info.state = (e->size & FREED_BIT) ? REGION_POOL_BLOCK_FREED : REGION_POOL_BLOCK_USED;
            if (walker(&info, user)) return REGION_POOL_OK;
        }
        if (b->last < p->block_size) {
            info.offset = b->last;
            info.size = p->block_size - b->last;
            info.state = b->state == B_CLOSED ? REGION_POOL_BLOCK_CLOSED_TAIL : REGION_POOL_BLOCK_TAIL;
            if (walker(&info, user)) return REGION_POOL_OK;
        }
    }
    return REGION_POOL_OK;
}
