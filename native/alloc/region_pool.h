/*
 * region_pool.h — nginx-style region pool (plain C11, no Node dependency).
 *
 * Small requests (<= max_small = min(block_size, page_size - 1)) are bump-
 * allocated from fixed-size blocks: palloc aligns the start to 8 bytes, pnalloc
 * does not align at all. Larger requests, and every memalign, get a chunk of
 * their own ("large block"). Like ngx_pool_t there are cleanup handlers and a
 * reset; beyond nginx, small allocations can be freed one by one: each block
 * counts its live allocations, and a block whose count drops to 0 is rewound
 * and becomes the first block searched, so the next request lands at its start.
 *
 * ---- Memory -----------------------------------------------------------------
 * Chunk memory (blocks and large blocks — what the Node binding exposes as one
 * external ArrayBuffer each) comes from caller callbacks (region_pool_memory_t);
 * NULL means posix_memalign/free behind a small process-wide cache of freed
 * chunks and destroyed pools (region_pool_trim_cache), and then a pool also
 * keeps a few released chunks of its own (its stash, below). Every chunk is requested aligned to at least
 * the page size. A block is requested aligned to block_align = max(page size,
 * block_size rounded up to a power of two), so the block holding a pointer is
 * found by masking the pointer (plus one hash probe, below): no scan.
 *
 * No metadata lives inside a chunk: a block's first allocation starts at the
 * block's first byte, a large block's allocation is the whole chunk. Everything
 * the pool needs (control structure, chunk table, address hash, per-block side
 * tables, cleanup stack) is malloc'd outside the chunks, so JavaScript writing
 * anywhere in a chunk's ArrayBuffer can corrupt user data but never the pool.
 *
 * ---- Chunk ids, offsets and generations -----------------------------------
 * Every live chunk has a small id (0, 1, 2, ...; stable while it lives; a
 * released id is reused, last released first). Blocks are never released
 * before region_pool_destroy; large blocks are released by free, by a moving
 * realloc and by reset. An allocation is named by its handle
 * (chunk id, byte offset from the chunk base, generation):
 *   - a block's generation changes whenever the block is rewound (its live
 *     count reached 0, or reset); a large chunk's generation is fixed per
 *     incarnation of its id.
 *   - generations come from one 64-bit counter of the pool (starting at 1),
 *     so a handle is never reused: exact below 2^53 when carried in a JS number.
 * The *_at entry points take a handle and validate it in bounded time (O(1) amortized, see the side tables) with the side
 * tables only (nothing is read from chunk memory), so a stale, double-freed,
 * interior or made-up handle is refused with a precise status and changes
 * nothing. The pointer entry points (region_pool_free, region_pool_realloc)
 * find the chunk by address (hash of chunk bases, O(1) expected) and use the
 * chunk's current generation: they reject double, interior and foreign
 * pointers, and stale pointers except one that happens to equal the start of a
 * newer live allocation (a plain pointer cannot tell those apart; use handles).
 *
 * ---- Per-block side tables (outside the chunk) --------------------------------
 *   entries: one (uint32 offset, uint32 size | freed bit) per allocation
 *            since the last rewind, in address order; the first
 *            block_size / 16 in the tables, then grown by doubling, never
 *            shrunk. Allocating appends one entry: nothing else.   8 B/alloc
 *   starts:  1 bit per byte of the block, set at the start of every allocation
 *            made since the block was last rewound (live or freed). Set
 *            lazily: the first free or query that looks at the block sets
 *            the bits of the entries appended since (each entry once per
 *            rewind)                                                 12.5 %
 *   rank:    one uint32 per 1024 bytes: how many starts lie before that
 *            1024-byte group (the rank of a start is then found with at
 *            most 16 popcounts). Filled lazily too: the first free or query
 *            needing a group counts the groups not yet counted up to it
 *            (each group once per rewind, at most block_size / 1024 groups
 *            of 16 popcounts in one call)                             0.4 %
 * So a free finds its entry in bounded time, O(block_size / 1024 + the
 * entries appended since the block was last looked at) at worst and O(1)
 * amortized: bit test, rank, entry. A start bit that is clear means
 * interior/foreign; a set bit whose entry has the freed bit means double
 * free. Every allocation consumes at least 1 byte (alloc(0) too), so starts
 * are distinct. Rewinding clears the start bits set (none when no free or
 * query looked at the block).
 *
 * ---- Search (nginx's skip rule) ---------------------------------------------
 * Blocks that may serve requests form the "open" list, searched from its head.
 * A block passed over by a request it cannot fit has its failed count
 * incremented; at failed > 4 (its 5th failure) it leaves the list ("closed":
 * later searches skip it and its unused tail counts as wasted). When no open
 * block fits, an empty spare block (or a new one) is appended at the tail.
 * A rewound block (live count 0) is moved to the head with failed = 0. The
 * open list holds at most REGION_POOL_OPEN_MAX blocks (when it overflows, the
 * block with the least room left is closed), so a search visits at most
 * REGION_POOL_OPEN_MAX blocks. Empty blocks never fail (every small request fits
 * an empty block); an empty block pushed out of the list goes to the spare stack.
 *
 * ---- Stash and parking (default memory only) ----------------------------------
 * A pool with the default memory keeps up to 4 released large chunks (free,
 * moving realloc, reset, destroy) and hands them to the next large request of
 * the same size and alignment. At destroy, its blocks (with their side tables,
 * start bits cleared) and large chunks go to the stash too (at most 8 blocks,
 * 256 KiB in all with the large chunks), and the pool structure is "parked"
 * with them: in the destroying thread's own slot (one pool per thread, no
 * lock) or else in the process-wide cache as one entry. The next
 * region_pool_create of the same block size and alignment takes it (the
 * thread's own slot first) and its blocks come back, lowest old id first, as
 * the pool needs new ones. A thread's slot is moved to the process-wide cache
 * when the thread exits (a pthread key destructor). Stashed memory is idle:
 * outside the stats (like the cache), never handed out twice, notified as
 * released by the pool that gave it up and as created by the one that takes
 * it. So a pool per request on one thread takes no lock at all, no matter how
 * many chunks it used.
 *
 * ---- Cleanups and reset ---------------------------------------------------------
 * Cleanup handlers run exactly once, newest first, at reset and at destroy; a
 * handler may allocate, free and add cleanups (an added one runs in the same
 * pass, before older ones), but not reset or destroy (REGION_POOL_ERR_BUSY).
 * Reset = run cleanups, release every large block, rewind every block (all
 * become spares, lowest id first), so every handle from before is stale.
 *
 * ---- Chunk notifications ------------------------------------------------------
 * memory->on_chunk(ctx, id, base, bytes, 1) is called after a chunk is mapped
 * and registered, before any of it is handed out; on_chunk(..., 0) is called
 * before a chunk is unmapped (free of a large block, moving realloc, reset,
 * destroy), so the binding can let go of the chunk's ArrayBuffer first. Callbacks
 * must not call back into the pool.
 *
 * Not thread-safe: callers serialise access.
 */
#ifndef MEMPOOLS_REGION_POOL_H
#define MEMPOOLS_REGION_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "pool_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct region_pool region_pool_t;

/* Return codes. Every function that returns int uses these. */
enum region_pool_status {
    REGION_POOL_OK = POOL_OK,
    REGION_POOL_ERR_INVALID = POOL_ERR_INVALID, /* bad argument (block size, alignment, NULL, unknown chunk id) */
    REGION_POOL_ERR_FOREIGN = POOL_ERR_FOREIGN, /* not the start of an allocation of this pool (interior, foreign) */
    REGION_POOL_ERR_DOUBLE_FREE = POOL_ERR_DOUBLE_FREE, /* an allocation of this pool that was already freed */
    REGION_POOL_ERR_STALE = POOL_ERR_STALE,             /* a handle from before the last reset */
    REGION_POOL_ERR_NOMEM = POOL_ERR_NOMEM, /* the memory callback or a metadata malloc failed, or size too large */
    REGION_POOL_ERR_RANGE = POOL_ERR_RANGE, /* calloc: count * size overflows */
    REGION_POOL_ERR_BUSY = POOL_ERR_BUSY,   /* reset/destroy called from a cleanup handler */
    REGION_POOL_ERR_CORRUPTED = POOL_ERR_CORRUPTED /* region_pool_check found a broken invariant */
};

#define REGION_POOL_ALIGNMENT 8u                /* palloc alignment */
#define REGION_POOL_MIN_BLOCK 256u              /* block_size >= this ... */
#define REGION_POOL_BLOCK_GRANULE 16u           /* ... and a multiple of this */
#define REGION_POOL_MAX_BLOCK ((size_t)1 << 30) /* ... and <= this */
#define REGION_POOL_DEFAULT_BLOCK 16384u
#define REGION_POOL_MAX_REQUEST ((size_t)1 << 46) /* larger requests/alignments fail cleanly */
#define REGION_POOL_MAX_FAILED 4u                 /* a block failing more requests than this is skipped */
#define REGION_POOL_OPEN_MAX 8u                   /* most blocks a search visits */
#define REGION_POOL_NO_CHUNK UINT32_MAX
#define REGION_POOL_KEEP_MAX 4u                        /* most kept large blocks (region_pool_keep_large) ... */
#define REGION_POOL_KEEP_MAX_BYTES ((size_t)256 << 10) /* ... and their bytes in all */

/* Chunk memory. map returns `bytes` bytes aligned to `align` (a power of two >=
 * the page size) or NULL; unmap gets back exactly (p, bytes). on_chunk may be
 * NULL. With a NULL region_pool_memory_t: posix_memalign / free, no notification. */
typedef struct region_pool_memory {
    void *(*map)(void *ctx, size_t bytes, size_t align);
    void (*unmap)(void *ctx, void *p, size_t bytes);
    void (*on_chunk)(void *ctx, uint32_t id, void *base, size_t bytes, int created);
    void *ctx;
} region_pool_memory_t;

typedef struct region_pool_options {
    size_t block_size;                  /* 0: REGION_POOL_DEFAULT_BLOCK */
    size_t page_size;                   /* 0: sysconf(_SC_PAGESIZE); else a power of two >= 16 */
    const region_pool_memory_t *memory; /* copied; NULL: posix_memalign/free */
} region_pool_options_t;

/* An allocation's handle (and its address in this process). */
typedef struct region_pool_ref {
    void *ptr;      /* chunk base + offset */
    uint32_t chunk; /* chunk id */
    size_t offset;  /* byte offset from the chunk base */
    uint64_t gen;   /* generation of the chunk when allocated */
    size_t size;    /* requested size */
} region_pool_ref_t;

enum region_pool_chunk_kind { REGION_POOL_CHUNK_NONE = 0, REGION_POOL_CHUNK_BLOCK = 1, REGION_POOL_CHUNK_LARGE = 2 };

typedef struct region_pool_chunk_info {
    void *base;
    size_t bytes; /* block_size for a block; the mapped size of a large block */
    int kind;     /* REGION_POOL_CHUNK_BLOCK or REGION_POOL_CHUNK_LARGE */
    uint64_t gen; /* current generation */
    size_t live;  /* live allocations in it (0 or 1 for a large block) */
    size_t used;  /* block: bump offset (bytes consumed since the last rewind); large: size */
} region_pool_chunk_info_t;

/* Stats. Every byte of every block is exactly one of: used by a live small
 * allocation (its requested size), wasted, or available; so
 * blocks * block_size == small used + wasted + available. */
typedef struct region_pool_stats {
    size_t capacity;           /* SIZE_MAX: unbounded */
    size_t reserved;           /* bytes currently obtained from map (blocks + large blocks) */
    size_t used;               /* requested bytes of live allocations (small and large) */
    size_t peak_used;          /* high-water mark of used; never decreases */
    size_t allocations;        /* live allocations (small and large) */
    size_t failed_allocations; /* allocations refused with REGION_POOL_ERR_NOMEM */
    size_t blocks;             /* blocks (never released before destroy) */
    size_t large_blocks;       /* live large blocks */
    size_t large_bytes;        /* bytes of the live large blocks */
    /* wasted: bytes of blocks neither in a live allocation nor available without a
     * rewind — alignment padding, the 1 byte an alloc(0) consumes, bytes of freed
     * or shrunk small allocations whose block has not been rewound yet, and the
     * unused tails of closed blocks (skipped by the search). */
    size_t wasted;
    size_t available;    /* bytes at the tails of open and spare blocks */
    size_t spare_blocks; /* empty blocks outside the open list */
    size_t cleanups;     /* pending cleanup handlers */
} region_pool_stats_t;

typedef void (*region_pool_cleanup_fn)(void *data);

/* ---- pool ------------------------------------------------------------------ */

/* opt may be NULL (all defaults). REGION_POOL_OK and *out set, or
 * REGION_POOL_ERR_INVALID (block size not in [256, 2^30] or not a multiple of 16,
 * bad page size) or REGION_POOL_ERR_NOMEM. No memory is mapped until needed. */
int region_pool_create(const region_pool_options_t *opt, region_pool_t **out);
/* Runs the cleanups (newest first), releases every chunk (on_chunk(..., 0) then
 * unmap, each) and frees the pool. NULL: OK. From a cleanup: REGION_POOL_ERR_BUSY,
 * nothing done. */
int region_pool_destroy(region_pool_t *p);
/* Runs the cleanups, releases the large blocks (or keeps them, region_pool_keep_large),
 * rewinds every block. Every handle and pointer from before is stale.
 * REGION_POOL_OK or REGION_POOL_ERR_BUSY. */
int region_pool_reset(region_pool_t *p);
/* Keep released large blocks for reuse: from now on up to `count` (at most
 * REGION_POOL_KEEP_MAX, REGION_POOL_KEEP_MAX_BYTES in all) large blocks released
 * by free, a moving realloc or reset keep their id, memory and mapping (no
 * on_chunk, no unmap), and the next large request of the same chunk size and
 * alignment gets one back under a new generation (no on_chunk either), the
 * newest kept first. A block kept when the limits are reached releases the
 * oldest kept ones (on_chunk, unmap) to make room. A kept chunk is no
 * allocation: every handle of it is freed (double free) or stale, chunk_info
 * and walk skip it, reserved counts it; destroy releases it like a large
 * block. count 0 (the default) keeps none from now on (kept ones stay until
 * taken or destroy). REGION_POOL_OK, or _INVALID (NULL). */
int region_pool_keep_large(region_pool_t *p, unsigned count);
/* Add a handler; REGION_POOL_OK, REGION_POOL_ERR_INVALID (fn NULL) or _NOMEM. */
int region_pool_on_cleanup(region_pool_t *p, region_pool_cleanup_fn fn, void *data);

size_t region_pool_block_size(const region_pool_t *p);
size_t region_pool_max_small(const region_pool_t *p); /* min(block_size, page_size - 1) */
size_t region_pool_page_size(const region_pool_t *p);

/* ---- allocation with handles (what the binding uses) ---------------------------- */

#define REGION_POOL_UNALIGNED 1u /* pnalloc: no alignment padding */
#define REGION_POOL_ZERO 2u      /* zero-fill */
#define REGION_POOL_MEMALIGN 4u  /* memalign: always its own large block, aligned to `align` */

/* size <= max_small: from a block (8-aligned, or unaligned with
 * REGION_POOL_UNALIGNED); else a large block. `align` is read only with
 * REGION_POOL_MEMALIGN (a power of two; the chunk is aligned to max(align, page)).
 * size 0 gives a valid zero-length allocation (it consumes 1 byte of a block).
 * REGION_POOL_OK and *out filled, or _INVALID (bad align/flags), _NOMEM. */
int region_pool_alloc_ref(region_pool_t *p, size_t size, size_t align, unsigned flags, region_pool_ref_t *out);
/* Zero-filled count * size bytes, 8-aligned: _RANGE when count * size overflows. */
int region_pool_calloc_ref(region_pool_t *p, size_t count, size_t size, region_pool_ref_t *out);
/* Free by handle, bounded (O(1) amortized): REGION_POOL_OK, _FOREIGN (not the start of an
 * allocation; also an unknown chunk id or a generation never handed out),
 * _DOUBLE_FREE (freed already — also when its block was rewound or its large id
 * reused since) or _STALE (from before the last reset). A rejected free changes nothing. A large block is
 * released at once; a block whose live count reaches 0 is rewound. */
int region_pool_free_at(region_pool_t *p, uint32_t chunk, size_t offset, uint64_t gen);
/* What a handle is, changing nothing: REGION_POOL_OK for a live allocation (then
 * *size, if not NULL, is its requested size) or the code free_at would return. */
int region_pool_state_at(const region_pool_t *p, uint32_t chunk, size_t offset, uint64_t gen, size_t *size);
/* Resize by handle; keeps min(old, new) bytes. In place when: the new size is not
 * larger (a small allocation staying small, or any large block); or the
 * allocation is the last one of its block and the block has room. Otherwise
 * allocates (8-aligned, or the same memalign alignment), copies and frees the old
 * one. On success *out is the new handle (== old one when in place); on failure
 * the old allocation is untouched: the codes of free_at, or _NOMEM. */
int region_pool_realloc_at(region_pool_t *p, uint32_t chunk, size_t offset, uint64_t gen, size_t size,
                           region_pool_ref_t *out);

/* ---- external bumping (a caller that bumps the head block itself) -------------------- */

/* The head of the open list: the block palloc/pnalloc try first. A caller (the
 * Node binding: JavaScript) may bump allocations into it itself, as the fast
 * path would, and record them afterwards with region_pool_record_head, as long
 * as no other call on the pool happens in between (any call may move the head,
 * rewind it or allocate from it). */
typedef struct region_pool_head {
    void *base;     /* the block's memory */
    uint32_t chunk; /* its chunk id */
    uint64_t gen;   /* its generation: the allocations' */
    size_t last;    /* its bump offset: the next allocation starts at or after it */
    size_t slots;   /* allocations it can record without growing its entries table */
} region_pool_head_t;

/* REGION_POOL_OK and *out, or REGION_POOL_ERR_INVALID when no block is open
 * (a new pool, after a reset, when every block is closed). */
int region_pool_head(const region_pool_t *p, region_pool_head_t *out);
/* Records allocations bumped into the head block (chunk, gen) by the caller:
 * log holds n (offset, size) pairs in the order they were made, as
 * palloc/pnalloc would have made them. Each must start at or after the block's
 * bump offset (the previous one's end), be small (size <= max_small), end at
 * offset + max(size, 1) within the block, and fit the entries table as it is
 * (head.slots). Records the longest valid prefix and returns its length (0
 * when (chunk, gen) is not the head any more); nothing else changes. */
size_t region_pool_record_head(region_pool_t *p, uint32_t chunk, uint64_t gen, const uint32_t *log, size_t n);

/* ---- allocation with pointers (nginx-like; NULL on failure) --------------------- */

void *region_pool_palloc(region_pool_t *p, size_t size);                 /* ngx_palloc */
void *region_pool_pnalloc(region_pool_t *p, size_t size);                /* ngx_pnalloc */
void *region_pool_calloc(region_pool_t *p, size_t count, size_t size);   /* ngx_pcalloc + overflow check */
void *region_pool_memalign(region_pool_t *p, size_t align, size_t size); /* ngx_pmemalign */
/* Free by pointer (NULL: OK). Codes as region_pool_free_at. */
int region_pool_free(region_pool_t *p, void *ptr);
/* Resize by pointer (NULL ptr: palloc). On success *out is the allocation. */
int region_pool_realloc(region_pool_t *p, void *ptr, size_t size, void **out);

/* ---- chunks ---------------------------------------------------------------------- */

/* Where a pointer lies: REGION_POOL_OK with out->chunk, ->offset, ->ptr and ->gen
 * (the chunk's current generation; ->size is 0) for any address inside a block
 * or at the start of a large block (a kept one too: its handle is then a
 * freed one); REGION_POOL_ERR_FOREIGN otherwise. O(1). */
int region_pool_locate(const region_pool_t *p, const void *ptr, region_pool_ref_t *out);
/* REGION_POOL_OK and *out, or REGION_POOL_ERR_INVALID for an id with no live chunk. */
int region_pool_chunk_info(const region_pool_t *p, uint32_t id, region_pool_chunk_info_t *out);
/* Every live chunk id is below this. */
uint32_t region_pool_chunk_limit(const region_pool_t *p);
/* Whether chunk `id` is a kept large block (region_pool_keep_large): its memory
 * and id wait for the next large request of its size. */
int region_pool_chunk_kept(const region_pool_t *p, uint32_t id);

/* ---- recycling cache -------------------------------------------------------------- */

/* Pools with the default memory callbacks (opt->memory NULL) do not give freed
 * chunks back to the system at once: up to 32 chunks per size (16 sizes, chunks
 * of at most 1 MiB, 16 MiB in all, process-wide, thread-safe) are kept and
 * handed to the next map of that size and alignment, so pools created per
 * request reuse memory. Blocks' side tables (all providers) are recycled the
 * same way (with the default provider a block's chunk and its side tables are
 * kept together, as one entry of their combined size), and so are destroyed
 * pools: a default-memory pool is parked with its stash (see "Stash and
 * parking" above) as one entry weighing the pool and everything stashed. The
 * notifications are unchanged: a recycled chunk is "created" for
 * the pool that gets it and "released" by the pool that gives it up. This frees
 * everything cached (parked pools with their stashes too, the calling
 * thread's own parked pool included; other threads' own parked pools and the
 * stashes of live pools stay with them) and returns the bytes freed. */
size_t region_pool_trim_cache(void);

/* ---- inspection ---------------------------------------------------------------------- */

void region_pool_get_stats(const region_pool_t *p, region_pool_stats_t *out); /* O(1) */
/* Verifies every invariant (chunk table and its free list, address hash, each
 * block's side tables against its counters, open list and spare stack, the
 * totals of the stats). REGION_POOL_OK, or REGION_POOL_ERR_CORRUPTED with *why
 * (if why != NULL) set to a static description. Reads no chunk memory. */
int region_pool_check(const region_pool_t *p, const char **why);

/* ---- walk ---------------------------------------------------------------------------------
 * Every live chunk in id order. A block: its allocations since the last rewind
 * in address order (REGION_POOL_BLOCK_USED, or _FREED: freed, its bytes not
 * reusable before the block is rewound), then its tail from the bump offset to
 * the block's end (_TAIL: available; _CLOSED_TAIL: a closed block's, wasted).
 * Bytes between allocations (alignment padding, the byte an alloc(0)
 * consumes) are in no entry. A large block: one USED entry at offset 0 of its
 * requested size (the chunk may be larger). O(chunks + allocations since the
 * blocks' last rewinds); reads only the side tables. The caller records a
 * bump log first (region_pool_record_head). */
enum region_pool_block_state {
    REGION_POOL_BLOCK_TAIL = 0,
    REGION_POOL_BLOCK_USED = 1,
    REGION_POOL_BLOCK_FREED = 2,
    REGION_POOL_BLOCK_CLOSED_TAIL = 3
};
typedef struct region_pool_block_info {
    uint32_t chunk;
    size_t offset; /* from the chunk base */
    size_t size;   /* requested size (allocations), bytes (tails) */
    int state;     /* enum region_pool_block_state */
} region_pool_block_info_t;
/* Return nonzero to stop the walk. */
typedef int (*region_pool_walker)(const region_pool_block_info_t *block, void *user);
/* REGION_POOL_OK, or REGION_POOL_ERR_INVALID (NULL). */
int region_pool_walk(const region_pool_t *p, region_pool_walker walker, void *user);

#ifdef __cplusplus
}
#endif

#endif /* MEMPOOLS_REGION_POOL_H */
