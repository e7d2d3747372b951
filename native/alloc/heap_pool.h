/*
 * heap_pool.h — Melon-style heap pool (plain C11, no Node dependency).
 *
 * Behaviour of Melon's mln_alloc (size classes with LIFO free lists, cascading
 * pools, a capacity), without its flaws.
 *
 * ---- Size classes -------------------------------------------------------------
 * 34 classes: 16, 32, 48, 64, 96, 128, 192, ... , 1 MiB, 1.5 MiB, 2 MiB (16, then
 * every 2^k and 1.5 * 2^k up to 2 MiB; all multiples of 16). The class of a
 * request n (0 counts as 1) is found with one count-leading-zeros: f = fls(n - 1),
 * then the bit below f picks 1.5 * 2^f or 2^(f+1). A request larger than 2 MiB
 * gets a "large block" of its own: round_up(n, page) bytes, page-aligned.
 *
 * ---- Chunks ---------------------------------------------------------------------
 * A class carves its blocks out of "class chunks", each aligned to and a multiple
 * of HEAP_POOL_GRANULE (64 KiB), sized per class so that a chunk stays small:
 *   block <= 8 KiB : one 64 KiB chunk (4096 .. 8 blocks)
 *   block >  8 KiB : round_up(block * max(1, 256 KiB / block), 64 KiB)
 *                    (e.g. 12 KiB: 256 KiB = 21 blocks; 128 KiB: 256 KiB = 2 blocks;
 *                    above 128 KiB one block per chunk, 2 MiB at most)
 * Blocks are carved lazily (a never-used block is taken by bumping a counter).
 * When no class chunk can be had (capacity or the memory source refuses), the
 * request falls back to a large block of round_up(n, page) bytes, so a capped
 * pool serves every request whose page-rounded size fits what is available.
 *
 * ---- Where memory comes from ------------------------------------------------------
 * Chunks (class chunks and large blocks — what the Node binding exposes as one
 * external ArrayBuffer each) come from a memory source: the caller's map/unmap
 * callbacks (NULL: posix_memalign/free), or, for a pool created with a parent
 * heap pool, the parent: the parent maps a "lent chunk" for each child chunk from
 * its own source, counts it in its reserved bytes and against its capacity, and
 * does not notify or hand it out itself (its free/state of a lent chunk is
 * HEAP_POOL_ERR_FOREIGN). Nothing else in the pool knows where memory comes from,
 * so a parent backed by a shared segment is just another pair of callbacks:
 * shm_pool_map_chunk / shm_pool_unmap_chunk (shm_pool.h) with the shm_pool_t as
 * ctx give a per-process heap pool whose chunks are 64 KiB-aligned blocks of the
 * segment (carved from 1 MiB spans), taken under the segment's allocator lock
 * while every malloc/free inside a chunk stays lock-free and process-local. The
 * segment marks those chunks as lent to this process: any other process (and
 * shm_pool_free in this one) is refused them, and they come back only through
 * this pool (destroy, spare release) or, once the process is gone, through the
 * segment's dead-owner sweep. Such a pool, like all heap pools, is used by one
 * thread; a fork()ed child must not use its parent's copy.
 *
 * ---- Metadata (all outside the chunks) ----------------------------------------------
 * No header precedes a block (per-allocation overhead 0 bytes in the chunk; a
 * block is its class size) and no pool state lives in chunk memory, so
 * JavaScript writing anywhere in a chunk's ArrayBuffer damages user data only.
 *   chunk table   one entry per chunk id (about 64 bytes)
 *   address hash  granule number -> chunk id for every 64 KiB of a class chunk,
 *                 base address -> id for large and lent chunks (load <= 1/2,
 *                 16 bytes a slot: ~0.05 % of class chunk memory)
 *   per class chunk: a live bitmap and a tag bitmap (1 bit per block each) and
 *                 a free stack (uint16 per block): 2.25 bytes per block, i.e. 14.1 %
 *                 of a 16-byte class, 4.7 % at 48 B, 0.9 % at 256 B, < 0.1 % from 4 KiB.
 *   per class     a front cache of up to 32 recently freed blocks (chunk id and
 *                 block index, 8 bytes each: 8.5 KiB in the pool structure).
 * A pointer is resolved in O(1): granule hash probe (or base probe) -> chunk ->
 * offset -> block index (one multiply by the class's 32-bit reciprocal and a
 * multiply-back check that the offset is a block start), validated against the
 * live bitmap: an interior, foreign or never-handed-out address is
 * HEAP_POOL_ERR_FOREIGN, a freed block (cached or not) HEAP_POOL_ERR_DOUBLE_FREE,
 * and a rejected call changes nothing.
 *
 * ---- Free lists, LIFO and the spare-chunk policy -----------------------------------
 * A free clears the block's live bit (from then on it is free for every check)
 * and pushes it on its class's front cache, a LIFO of up to 32 blocks kept in
 * the side tables; malloc pops the newest block of the class's cache. So a
 * free/malloc pair of one class is a push and a pop, and the most recently
 * freed block of a class is always the next one that class hands out (unless
 * its chunk was released in between). When a cache is full, its older half
 * moves, oldest first, to the free stacks (LIFOs) of their chunks; when it is
 * empty, malloc uses the class's list of chunks that can serve a block
 * ("partial" chunks: a stacked or a never-carved block; a chunk enters at the
 * head when it gets its first stacked block): it pops from the head chunk's
 * stack (or carves its next block). So reuse is LIFO within the class's cache
 * and within each chunk, free stays O(1) with no list surgery, and chunks not
 * being reused drain and are released. A chunk whose last live block is freed
 * is empty even while some of its blocks sit in the cache; a chunk released
 * takes its blocks out of the cache.
 * Policy for empty chunks: each class keeps at most ONE empty chunk (the "spare";
 * the most recently emptied one). When a second chunk of the class becomes empty,
 * the older spare is released at once (on_chunk(..., 0), then unmapped / returned
 * to the parent). So an alloc/free ping-pong never maps or unmaps. When the pool
 * needs memory it cannot get (capacity reached or the source refuses), it first
 * releases every spare chunk and retries once. heap_pool_trim releases them too.
 *
 * ---- Capacity ---------------------------------------------------------------------------
 * capacity 0 = unbounded. Otherwise reserved (bytes of class chunks, large blocks
 * and chunks lent to children, as obtained from the source) never exceeds it, and
 * available_capacity = capacity - reserved. Blocks carved ahead of use (the rest
 * of a class chunk) and spare chunks count as reserved. A failed allocation leaves
 * reserved, used, allocations and every chunk exactly as they were (only
 * failed_allocations grows).
 *
 * ---- Cascading --------------------------------------------------------------------------
 * A child takes all of its chunks from its parent (which enforces its own
 * capacity, and so on up the chain). heap_pool_destroy destroys the children
 * first (deepest first), each notifying its chunks and calling on_destroy, then
 * the pool itself. A pointer returned by a child is freed with the child.
 *
 * ---- Chunk ids and notifications -----------------------------------------------------------
 * Every live chunk has a small id (0, 1, 2, ...; a released id is reused, last
 * released first). on_chunk(ctx, id, base, bytes, 1) is called after a class
 * chunk or large block is mapped and registered, before any of it is handed out;
 * on_chunk(..., 0) before it is unmapped, so the binding can let go of the
 * chunk's ArrayBuffer first. Callbacks must not call back into the pool (or its family).
 *
 * Not thread-safe: callers serialise access (to a pool and all its relatives).
 */
#ifndef MEMPOOLS_HEAP_POOL_H
#define MEMPOOLS_HEAP_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "pool_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct heap_pool heap_pool_t;

/* Return codes. Every function that returns int uses these. */
enum heap_pool_status {
    HEAP_POOL_OK = POOL_OK,
    HEAP_POOL_ERR_INVALID = POOL_ERR_INVALID,         /* bad argument (options, NULL, unknown chunk id) */
    HEAP_POOL_ERR_FOREIGN = POOL_ERR_FOREIGN,         /* not the start of a live or freed block of this pool */
    HEAP_POOL_ERR_DOUBLE_FREE = POOL_ERR_DOUBLE_FREE, /* a block of this pool that is already free */
    HEAP_POOL_ERR_NOMEM =
        POOL_ERR_NOMEM, /* capacity reached, the source refused, size too large, metadata malloc failed */
    HEAP_POOL_ERR_RANGE = POOL_ERR_RANGE,        /* calloc: count * size overflows */
    HEAP_POOL_ERR_CORRUPTED = POOL_ERR_CORRUPTED /* heap_pool_check found a broken invariant */
};

#define HEAP_POOL_ALIGNMENT 16u /* every allocation is 16-aligned */
#define HEAP_POOL_MIN_CLASS 16u
#define HEAP_POOL_MAX_CLASS ((size_t)2 << 20) /* 2 MiB: larger requests get a large block */
#define HEAP_POOL_CLASSES 34u
#define HEAP_POOL_GRANULE ((size_t)64 << 10)    /* class chunks: aligned to and a multiple of this */
#define HEAP_POOL_MAX_REQUEST ((size_t)1 << 46) /* larger requests fail cleanly (NOMEM) */
#define HEAP_POOL_NO_CHUNK UINT32_MAX

/* Chunk memory. map returns `bytes` bytes aligned to `align` (a power of two >=
 * the page size) or NULL; unmap gets back exactly (p, bytes). on_chunk and
 * on_destroy may be NULL; on_destroy(ctx, pool) is called once when the pool is
 * destroyed (directly or through its parent), after its chunks are released and
 * before the pool's memory is freed. With a parent, map and unmap are ignored. */
typedef struct heap_pool_memory {
    void *(*map)(void *ctx, size_t bytes, size_t align);
    void (*unmap)(void *ctx, void *p, size_t bytes);
    void (*on_chunk)(void *ctx, uint32_t id, void *base, size_t bytes, int created);
    void (*on_destroy)(void *ctx, heap_pool_t *pool);
    void *ctx;
} heap_pool_memory_t;

typedef struct heap_pool_options {
    size_t capacity;     /* 0: unbounded */
    size_t page_size;    /* 0: the parent's, else sysconf(_SC_PAGESIZE); else a power of two in [16, 64 KiB] */
    heap_pool_t *parent; /* NULL: memory from `memory` (or posix_memalign) */
    const heap_pool_memory_t *memory; /* copied; may be NULL */
} heap_pool_options_t;

/* An allocation's handle (and its address in this process). */
typedef struct heap_pool_ref {
    void *ptr;      /* chunk base + offset */
    uint32_t chunk; /* chunk id */
    size_t offset;  /* byte offset from the chunk base (a multiple of 16) */
    size_t size;    /* usable size: the class size, or a large block's bytes */
} heap_pool_ref_t;

enum heap_pool_chunk_kind {
    HEAP_POOL_CHUNK_NONE = 0,
    HEAP_POOL_CHUNK_CLASS = 1, /* blocks of one size class */
    HEAP_POOL_CHUNK_LARGE = 2, /* one allocation */
    HEAP_POOL_CHUNK_LENT = 3   /* lent to a child pool: not an allocation of this pool */
};

typedef struct heap_pool_chunk_info {
    void *base;
    size_t bytes;
    int kind;            /* enum heap_pool_chunk_kind */
    unsigned size_class; /* class chunks: class index (0 .. HEAP_POOL_CLASSES-1) */
    size_t block_size;   /* class chunks: class size; large: bytes; lent: 0 */
    size_t blocks;       /* class chunks: blocks that fit; large: 1 */
    size_t carved;       /* class chunks: blocks handed out at least once */
    size_t live;         /* live allocations in it */
    int spare;           /* the class's spare (empty, kept) chunk */
} heap_pool_chunk_info_t;

typedef struct heap_pool_stats {
    size_t capacity;           /* SIZE_MAX: unbounded */
    size_t reserved;           /* bytes currently obtained from the source (chunks + large + lent) */
    size_t used;               /* usable bytes of live allocations */
    size_t peak_used;          /* high-water mark of used; never decreases */
    size_t allocations;        /* live allocations */
    size_t failed_allocations; /* allocations (and growing reallocs) refused with NOMEM */
    size_t class_chunks;       /* live class chunks */
    size_t spare_chunks;       /* empty class chunks kept (at most one per class) */
    size_t large_blocks;
    size_t large_bytes;
    size_t lent_chunks; /* chunks lent to children */
    size_t lent_bytes;
    size_t children;       /* live child pools */
    size_t metadata_bytes; /* side tables of the class chunks (live and tag bitmaps + free stacks) */
    size_t tagged;         /* tagged live allocations (see "tags") */
    size_t tagged_bytes;   /* their usable bytes */
} heap_pool_stats_t;

/* ---- pool ------------------------------------------------------------------ */

/* opt may be NULL (unbounded, posix_memalign). HEAP_POOL_OK and *out, or
 * HEAP_POOL_ERR_INVALID (bad page size, memory without map/unmap and no parent)
 * or HEAP_POOL_ERR_NOMEM. Nothing is mapped until needed. */
int heap_pool_create(const heap_pool_options_t *opt, heap_pool_t **out);
/* Destroys the children first (recursively), then releases every chunk
 * (on_chunk(..., 0) then unmap, each), calls on_destroy and frees the pool.
 * Pointers to a destroyed child must not be used. NULL: no-op. */
void heap_pool_destroy(heap_pool_t *p);
heap_pool_t *heap_pool_parent(const heap_pool_t *p);
size_t heap_pool_page_size(const heap_pool_t *p);
/* capacity - reserved; SIZE_MAX when unbounded. */
size_t heap_pool_available_capacity(const heap_pool_t *p);
/* Releases every spare chunk; returns the bytes released. */
size_t heap_pool_trim(heap_pool_t *p);

/* Class index of a request (0 .. HEAP_POOL_CLASSES-1), or -1 above HEAP_POOL_MAX_CLASS. */
int heap_pool_class_of(size_t size);
/* Size of class i (0 for i out of range). */
size_t heap_pool_class_size(unsigned i);
/* Bytes of one class chunk of class i (0 for i out of range). */
size_t heap_pool_class_chunk_bytes(unsigned i);

/* ---- allocation with handles (what the binding uses) ------------------------------ */

#define HEAP_POOL_ZERO 1u /* zero-fill the requested bytes */
#define HEAP_POOL_TAG 2u  /* tag the allocation (see "tags" below) */

/* size 0 gives a valid 16-byte block. HEAP_POOL_OK and *out, or _INVALID (bad
 * flags/NULL), _NOMEM (then nothing changed but failed_allocations). */
int heap_pool_alloc_ref(heap_pool_t *p, size_t size, unsigned flags, heap_pool_ref_t *out);
/* Zero-filled count * size bytes: _RANGE when count * size overflows. */
int heap_pool_calloc_ref(heap_pool_t *p, size_t count, size_t size, heap_pool_ref_t *out);
/* O(1): HEAP_POOL_OK, _FOREIGN (not the start of a block handed out by this pool,
 * an unknown chunk id, a lent chunk), _DOUBLE_FREE. A rejected free changes nothing. */
int heap_pool_free_at(heap_pool_t *p, uint32_t chunk, size_t offset);
/* What (chunk, offset) is, changing nothing: HEAP_POOL_OK for a live allocation
 * (then *usable, if not NULL, is its usable size) or the code free_at would return. */
int heap_pool_state_at(const heap_pool_t *p, uint32_t chunk, size_t offset, size_t *usable);
/* Resize: size <= usable size keeps the block (out = same handle); else allocates
 * a new block, copies min(usable, size) bytes and frees the old one. size 0 frees
 * (out->ptr = NULL, out->chunk = HEAP_POOL_NO_CHUNK). On failure the old block is
 * untouched: the codes of free_at, or _NOMEM. */
int heap_pool_realloc_at(heap_pool_t *p, uint32_t chunk, size_t offset, size_t size, heap_pool_ref_t *out);
/* The same, moving an allocation of `src` into `dst` (always moves when dst != src). */
int heap_pool_realloc_at_into(heap_pool_t *dst, heap_pool_t *src, uint32_t chunk, size_t offset, size_t size,
                              heap_pool_ref_t *out);

/* ---- allocation with pointers (Melon-like; NULL on failure) ------------------------- */

void *heap_pool_malloc(heap_pool_t *p, size_t size);               /* mln_alloc_m */
void *heap_pool_calloc(heap_pool_t *p, size_t count, size_t size); /* mln_alloc_c + overflow check */
/* Free by pointer (NULL: OK). Codes as heap_pool_free_at. */
int heap_pool_free(heap_pool_t *p, void *ptr);
/* Resize by pointer (NULL ptr: malloc). On success *out is the block (NULL after
 * size 0). Codes as heap_pool_realloc_at. */
int heap_pool_realloc(heap_pool_t *p, void *ptr, size_t size, void **out);
int heap_pool_realloc_into(heap_pool_t *dst, heap_pool_t *src, void *ptr, size_t size, void **out);
/* Usable size of a live allocation, 0 for anything else. */
size_t heap_pool_usable_size(const heap_pool_t *p, const void *ptr);

/* ---- tags ----------------------------------------------------------------------------
 * One bit per live allocation for the caller's own bookkeeping, kept in the
 * side tables (in a class chunk, beside the block's live bit, so that making or
 * freeing a tagged block is one store; a flag in a large block's chunk entry),
 * counted per size class: the Node binding tags the blocks another addon
 * allocated through a nativeHandle. heap_pool_malloc_tagged or
 * heap_pool_alloc_ref with HEAP_POOL_TAG makes a tagged block, realloc moves
 * the tag with the block, every free clears it. Stats count the tagged blocks
 * and their bytes. */
/* heap_pool_malloc of a tagged block (as fast). */
void *heap_pool_malloc_tagged(heap_pool_t *p, size_t size);
/* HEAP_POOL_OK with *out (ptr, chunk, offset, usable size) when ptr is a live
 * tagged block; _FOREIGN for a live untagged block and for anything free
 * refuses as foreign (NULL included), _DOUBLE_FREE for a freed block. */
int heap_pool_tagged(const heap_pool_t *p, const void *ptr, heap_pool_ref_t *out);
/* Clears the tag of a live tagged block (codes as heap_pool_tagged). */
int heap_pool_untag(heap_pool_t *p, const void *ptr);
/* Frees a live tagged block (codes as heap_pool_tagged; a refused call changes
 * nothing). As fast as heap_pool_free. */
int heap_pool_free_tagged(heap_pool_t *p, void *ptr);
/* The two above for a caller that answers in its own codes (the binding's
 * nativeHandle, which jumps here): HEAP_POOL_OK with the block in *out, or
 * `refused` (the caller's code, returned as is) with nothing changed. p is not
 * NULL. */
int heap_pool_malloc_tagged_or(heap_pool_t *p, size_t size, void **out, int refused);
int heap_pool_free_tagged_or(heap_pool_t *p, void *ptr, int refused);

/* ---- chunks ------------------------------------------------------------------------- */

/* Where a pointer lies: HEAP_POOL_OK with out->chunk, ->offset, ->ptr (->size 0)
 * for any address inside a class chunk or at the start of a large block;
 * HEAP_POOL_ERR_FOREIGN otherwise. O(1). */
int heap_pool_locate(const heap_pool_t *p, const void *ptr, heap_pool_ref_t *out);
/* HEAP_POOL_OK and *out, or HEAP_POOL_ERR_INVALID for an id with no live chunk. */
int heap_pool_chunk_info(const heap_pool_t *p, uint32_t id, heap_pool_chunk_info_t *out);
/* Every live chunk id is below this. */
uint32_t heap_pool_chunk_limit(const heap_pool_t *p);

/* ---- inspection ------------------------------------------------------------------------ */

void heap_pool_get_stats(const heap_pool_t *p, heap_pool_stats_t *out); /* O(1) */
/* Verifies every invariant (chunk table and id list, address hash, each class
 * chunk's bitmap/stack/counters, front caches, partial lists and spares,
 * children, the stats totals). HEAP_POOL_OK, or HEAP_POOL_ERR_CORRUPTED with *why (if why != NULL) set
 * to a static description. Reads no chunk memory; never crashes. */
int heap_pool_check(const heap_pool_t *p, const char **why);

/* ---- walk --------------------------------------------------------------------------------
 * Every block of every live chunk, in chunk id order then address order: each
 * block of a class chunk (HEAP_POOL_BLOCK_USED while allocated, _FREE otherwise:
 * never carved, on a free stack or in a front cache), a large block (one USED
 * block of the chunk's bytes), a chunk lent to a child (one LENT block). Bytes
 * of a class chunk past its last block are in no block. O(chunks + blocks);
 * reads only the side tables. */
enum heap_pool_block_state { HEAP_POOL_BLOCK_FREE = 0, HEAP_POOL_BLOCK_USED = 1, HEAP_POOL_BLOCK_LENT = 2 };
typedef struct heap_pool_block_info {
    uint32_t chunk;
    size_t offset; /* from the chunk base */
    size_t size;   /* usable size (class size, large block bytes, lent chunk bytes) */
    int state;     /* enum heap_pool_block_state */
} heap_pool_block_info_t;
/* Return nonzero to stop the walk. */
typedef int (*heap_pool_walker)(const heap_pool_block_info_t *block, void *user);
/* HEAP_POOL_OK, or HEAP_POOL_ERR_INVALID (NULL). */
int heap_pool_walk(const heap_pool_t *p, heap_pool_walker walker, void *user);

#ifdef __cplusplus
}
#endif

#endif /* MEMPOOLS_HEAP_POOL_H */
