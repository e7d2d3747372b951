/*
 * tlsf.h — Two-Level Segregated Fit allocator (plain C11, no Node dependency).
 *
 * malloc, free, calloc, memalign and realloc run in O(1) (realloc plus the copy
 * when it has to move). Free blocks are kept in 33 x 32 segregated lists found
 * through two levels of bitmaps; a freed block is merged at once with its free
 * physical neighbours.
 *
 * Position independence: every link the allocator stores (free-list links, the
 * region table) is an offset from the control structure, never a pointer, so a
 * control structure and its regions that live together in one shared mapping
 * work at any address.
 *
 * Memory ownership: the caller provides all memory — the control structure
 * (tlsf_control_size() bytes) and, for each region, the block area plus a
 * separate start bitmap (tlsf_bitmap_size(area) bytes, 1 bit per 8 bytes of
 * area and a summary of 1 bit per 64 of those, i.e. 1.6 % of the area). The
 * allocator never calls malloc.
 *
 * Safety: a free or realloc of anything that is not the start of a live block
 * (double free, interior pointer, other pool's pointer) is detected in O(1)
 * through the start bitmap and rejected without changing anything. Every link,
 * size, flag or index read from memory the user (or another process) could
 * have scribbled on is range-checked before it is used; a broken one marks the
 * pool corrupted (every later allocation fails with TLSF_ERR_CORRUPTED) instead
 * of being followed. A block's size word is checked against side data an
 * overflow of the block before it cannot reach (the start bitmap, the next
 * block's boundary tag) before free, realloc or an allocation trusts it, so a
 * header rewritten by an overflow is reported by the next call that touches the
 * block and no allocation is ever placed over a live block. Checking a live
 * block's size against the start bitmap is O(size / 32 KiB) (the bitmap's
 * summary), O(1) below 504 bytes.
 *
 * Not thread-safe: callers serialise access.
 */
#ifndef MEMPOOLS_TLSF_H
#define MEMPOOLS_TLSF_H

#include <stddef.h>
#include <stdint.h>

#include "pool_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tlsf tlsf_t;

/* Return codes. Every function that returns int uses these. */
enum tlsf_status {
    TLSF_OK = POOL_OK,
    TLSF_ERR_INVALID = POOL_ERR_INVALID,         /* bad argument: misaligned/too small region, bad alignment, bad id */
    TLSF_ERR_FOREIGN = POOL_ERR_FOREIGN,         /* not the start of a block of this pool */
    TLSF_ERR_DOUBLE_FREE = POOL_ERR_DOUBLE_FREE, /* the start of a block of this pool that is already free */
    TLSF_ERR_IN_USE = POOL_ERR_IN_USE,           /* the region still holds live blocks */
    TLSF_ERR_CORRUPTED = POOL_ERR_CORRUPTED,     /* an invariant is broken; the pool refuses to go on */
    TLSF_ERR_NOMEM = POOL_ERR_NOMEM,             /* no free block large enough */
    TLSF_ERR_FULL = POOL_ERR_FULL                /* the region table is full */
};

#define TLSF_ALIGN_SIZE 8u                 /* every block and every user pointer is 8-aligned */
#define TLSF_REGION_ALIGN 16u              /* a region's area must start 16-aligned */
#define TLSF_REGION_MIN 64u                /* smallest region area accepted */
#define TLSF_MAX_REGIONS 64                /* region ids are 0 .. TLSF_MAX_REGIONS-1 */
#define TLSF_BLOCK_OVERHEAD 8u             /* bytes of header per live block */
#define TLSF_MIN_BLOCK 24u                 /* smallest usable size of any block */
#define TLSF_MAX_REQUEST ((size_t)1 << 39) /* requests above this fail with NULL */

typedef struct tlsf_stats {
    size_t area;               /* bytes of all regions' areas */
    size_t used;               /* usable bytes of live blocks */
    size_t peak_used;          /* high-water mark of used, blocks parked by the cache counted; never decreases */
    size_t free;               /* usable bytes of free blocks, cached ones included */
    size_t cached;             /* usable bytes of blocks parked in the front cache */
    size_t largest_free;       /* usable size of the largest free block */
    size_t allocations;        /* live blocks (with the cache on, O(size classes) to count) */
    size_t failed_allocations; /* malloc/memalign/calloc/realloc that found no room */
    size_t regions;            /* regions currently added */
} tlsf_stats_t;

typedef struct tlsf_region_info {
    void *base;  /* start of the area (user offsets are relative to it) */
    size_t area; /* bytes of the area */
    int live;    /* live blocks in this region: a walk of its chain, O(blocks); -1 when the chain is damaged */
} tlsf_region_info_t;

/* One block as reported by tlsf_walk, in address order within each region. */
typedef struct tlsf_block_info {
    int region;
    size_t offset; /* user pointer - region base */
    size_t size;   /* usable size */
    int used;      /* 0 for free and for cached (parked) blocks */
} tlsf_block_info_t;

/* Return nonzero to stop the walk early. */
typedef int (*tlsf_walker)(const tlsf_block_info_t *block, void *user);

/* Block layout (stable; the Node binding's TypeScript layer reads it, through
 * the constants the binding exports as `layout`): the TLSF_HEADER_BYTES bytes
 * before a user pointer hold the block's usable size in bits 3..56 (a
 * multiple of 8), flags in bits 0..2, the tag (see "tags") in bit 57 and, for
 * memalign blocks, log2 of the alignment in bits TLSF_BLOCK_ALIGN_SHIFT..63,
 * little-endian as the host. */
#define TLSF_HEADER_BYTES 8u
#define TLSF_BLOCK_FREE 1u        /* flag: this block is free */
#define TLSF_BLOCK_PREV_FREE 2u   /* flag: the physically previous block is free */
#define TLSF_BLOCK_CACHED 4u      /* flag: freed, parked in the front cache (not free) */
#define TLSF_BLOCK_FLAGS 7u       /* every flag bit */
#define TLSF_BLOCK_TAG_SHIFT 57   /* bit 57: the tag of a live block */
#define TLSF_BLOCK_ALIGN_SHIFT 58 /* bits 58..63: log2 of a memalign alignment */
/* A free block's first TLSF_FREE_LINK_BYTES user bytes hold its list links and
 * its last TLSF_FREE_TAG_BYTES its boundary tag (the next header's prev_size);
 * the allocator never reads the bytes in between, so an embedder may give their
 * whole pages back to the OS (the Node binding's trim: they read as zero after). */
#define TLSF_FREE_LINK_BYTES 16u
#define TLSF_FREE_TAG_BYTES 8u

/* ---- pool ---------------------------------------------------------------- */

size_t tlsf_control_size(void);
/* Initialise a pool in caller memory (>= tlsf_control_size() bytes, 8-aligned).
 * Returns NULL if mem is NULL, misaligned or bytes too small. */
tlsf_t *tlsf_create(void *mem, size_t bytes);
/* tlsf_create for memory that is all zero already (fresh pages from mmap): it
 * writes only the pool's magic word, so the pages of lists no block uses stay
 * untouched (and out of resident memory). */
tlsf_t *tlsf_create_zeroed(void *mem, size_t bytes);

/* ---- front cache (optional, off by default) -------------------------------
 * With a depth > 0, a freed block of usable size <= TLSF_CACHE_MAX is parked on
 * a LIFO list of its size class (the class of the free lists; at most `depth`
 * blocks per class, at most a quarter of the pool's area in all) instead of
 * being merged at once, and a malloc of that class takes it back in O(1) — what
 * glibc's tcache does, and far kinder to the CPU caches than list surgery. With
 * the cache on, requests of 256 bytes or more are rounded up to their class's
 * lower bound (at most 1/32 = 3.1 % more), so blocks cycle within a class.
 * A parked block still counts as freed: freeing it again is a double free, and
 * stats and walk report it free, but it stays taken from the free lists, so
 * peak_used counts it (a park and a pop leave the pool's used-bytes counter
 * as it is). Blocks of up to 504 bytes are parked on a quick path, up to a
 * depth per class that keeps them within half the budget; every other park
 * leaves that half to them. Parked blocks are merged back (flushed) when an
 * allocation finds no room, when a region is removed, when the depth is
 * lowered, and by tlsf_flush_cache. Depth 0 (the default) is pure TLSF: every
 * free merges with its free neighbours at once. memalign never uses the cache. */
#define TLSF_CACHE_MAX ((size_t)256 * 1024)
#define TLSF_CACHE_DEPTH_MAX 4096u
/* TLSF_OK, or TLSF_ERR_INVALID for a depth above TLSF_CACHE_DEPTH_MAX. Lowering
 * the depth flushes the cache. */
int tlsf_set_cache(tlsf_t *t, unsigned depth);
/* Merge every parked block back into the free lists. TLSF_OK or TLSF_ERR_CORRUPTED. */
int tlsf_flush_cache(tlsf_t *t);

/* ---- regions ------------------------------------------------------------- */

/* Bytes of start bitmap a region of `area` bytes needs (0 if area is invalid). */
size_t tlsf_bitmap_size(size_t area);
/* Largest single allocation a fresh region of `area` bytes can serve: area - 24. */
size_t tlsf_region_max_alloc(size_t area);
/* Add a region. `mem` must be TLSF_REGION_ALIGN-aligned, `area` a multiple of 8,
 * >= TLSF_REGION_MIN and <= TLSF_MAX_REQUEST + 24; `bitmap` 8-aligned, of
 * tlsf_bitmap_size(area) bytes (its contents are overwritten). Returns the region id
 * (>= 0, the lowest free slot) or TLSF_ERR_INVALID / TLSF_ERR_FULL. */
int tlsf_add_region(tlsf_t *t, void *mem, size_t area, void *bitmap);
/* tlsf_add_region for a bitmap that is all zero already (calloc, fresh anonymous
 * or shared memory): it is not written, so a region costs resident memory only
 * as blocks are carved from it (the bitmap's pages are touched as blocks start
 * in them), O(1) in its size. */
int tlsf_add_region_zeroed(tlsf_t *t, void *mem, size_t area, void *bitmap);
/* Remove a region that holds no live block: TLSF_OK, TLSF_ERR_IN_USE or
 * TLSF_ERR_INVALID (no such region). The caller then owns the memory again.
 * O(1) for a region that is one free block; otherwise a walk of its chain up
 * to its first live block (no per-region counter is kept on the hot paths). */
int tlsf_remove_region(tlsf_t *t, int region);
int tlsf_region_info(const tlsf_t *t, int region, tlsf_region_info_t *out);

/* ---- allocation (NULL on failure; tlsf_is_corrupted tells why) ------------ */

void *tlsf_malloc(tlsf_t *t, size_t size);               /* size 0 gives a minimum block */
void *tlsf_calloc(tlsf_t *t, size_t count, size_t size); /* NULL if count*size overflows */
/* align: a power of two >= 1. Alignments up to 8 are plain malloc. The
 * alignment is remembered in the block so a moving realloc keeps it. */
void *tlsf_memalign(tlsf_t *t, size_t align, size_t size);
/* Resize ptr (NULL ptr: malloc). Keeps min(old, new) bytes; grows or shrinks in
 * place when it can. On success *out is the block (maybe == ptr) and TLSF_OK is
 * returned; on failure ptr stays valid and untouched and the return code says why
 * (TLSF_ERR_NOMEM, TLSF_ERR_FOREIGN, TLSF_ERR_DOUBLE_FREE, TLSF_ERR_CORRUPTED). */
int tlsf_realloc(tlsf_t *t, void *ptr, size_t size, void **out);
/* TLSF_OK, TLSF_ERR_FOREIGN, TLSF_ERR_DOUBLE_FREE or TLSF_ERR_CORRUPTED. free(NULL) is TLSF_OK. */
int tlsf_free(tlsf_t *t, void *ptr);
/* tlsf_free by (region, offset from the region base): O(1), no region lookup. */
int tlsf_free_at(tlsf_t *t, int region, size_t offset);
/* What (region, offset) is, without changing anything: TLSF_OK for a live block,
 * TLSF_ERR_DOUBLE_FREE for the start of a freed (free or cached) block,
 * TLSF_ERR_FOREIGN for anything else, TLSF_ERR_CORRUPTED for a broken header. */
int tlsf_block_state(const tlsf_t *t, int region, size_t offset);
/* Usable size of a live block, or 0 when ptr is not one. */
size_t tlsf_usable_size(const tlsf_t *t, const void *ptr);

/* ---- tags: live blocks a caller marks as a separate owner's ---------------
 * (The Node binding tags the blocks other addons allocate through its
 * nativeHandle.) The tag is one header bit, so it costs the allocation paths
 * one store and the free path no extra read: tlsf_malloc_tagged sets it, an
 * in-place realloc keeps it, a moving realloc does not carry it over (the new
 * block is untagged), every free clears it. */

/* tlsf_malloc, the block tagged. */
void *tlsf_malloc_tagged(tlsf_t *t, size_t size);
/* tlsf_free of a tagged block only: a live block without the tag is
 * TLSF_ERR_FOREIGN and stays live; otherwise as tlsf_free. */
int tlsf_free_tagged(tlsf_t *t, void *ptr);
/* TLSF_OK for a live tagged block at (region, offset); a live untagged block
 * is TLSF_ERR_FOREIGN; anything else as tlsf_block_state. */
int tlsf_tagged(const tlsf_t *t, int region, size_t offset);
/* Set (tagged != 0) or clear the tag of the live block at (region, offset):
 * TLSF_OK, or as tlsf_block_state. O(1). */
int tlsf_set_tag(tlsf_t *t, int region, size_t offset, int tagged);

/* ---- (region, offset) handles, as the Node binding uses them -------------- */

/* Where a pointer lies: its region and offset from the region base.
 * TLSF_OK, or TLSF_ERR_FOREIGN if it lies in no region. */
int tlsf_locate(const tlsf_t *t, const void *ptr, int *region, size_t *offset);
/* The pointer at (region, offset), or NULL if outside every region. */
void *tlsf_pointer(const tlsf_t *t, int region, size_t offset);

/* ---- inspection ---------------------------------------------------------- */

/* O(1) except largest_free, which walks the one highest non-empty free list. */
void tlsf_get_stats(const tlsf_t *t, tlsf_stats_t *out);
/* Every block of every region in address order (regions in id order). Bounds-checked:
 * returns TLSF_ERR_CORRUPTED instead of following a broken chain, TLSF_OK otherwise. */
int tlsf_walk(const tlsf_t *t, tlsf_walker walker, void *user);
/* Every free block (not parked ones), list by list, newest first in each: O(free
 * blocks), reading no start bitmap word but those of the blocks. Each block is
 * checked (its start bit, flags, back link, boundary tag and list) before the
 * walker sees it: TLSF_ERR_CORRUPTED where one fails or a list is longer than
 * the pool's block count (a cycle). The walker may change a block's bytes but
 * its first TLSF_FREE_LINK_BYTES and its last TLSF_FREE_TAG_BYTES. */
int tlsf_walk_free(const tlsf_t *t, tlsf_walker walker, void *user);
/* What of a free block tlsf_walk_free reported the allocator never reads, so an
 * embedder may give its whole pages back to the OS: [from, to), user offsets in
 * its region (its bytes between its links and its boundary tag), and
 * [bitmap_from, bitmap_to), byte offsets in the region's bitmap memory (the
 * start-bitmap bytes only those bytes map to: all zero). An empty range has
 * to == from. */
typedef struct tlsf_spare {
    size_t from, to;
    size_t bitmap_from, bitmap_to;
} tlsf_spare_t;
void tlsf_free_spare(const tlsf_block_info_t *block, tlsf_spare_t *out);
/* Full invariant check: physical chains, sentinels, start bitmaps, free lists against
 * the bitmaps, no two adjacent free blocks, stats against the walk. Every read is
 * bounds-checked. Returns TLSF_OK or TLSF_ERR_CORRUPTED with *why (if why != NULL)
 * set to a static description. Never crashes on a damaged heap. */
int tlsf_check(const tlsf_t *t, const char **why);
/* For a control structure whose region table other processes can write (a pool
 * in shared memory): does every used region slot name an area and a start
 * bitmap inside the `span` bytes that start at t, after the control structure,
 * aligned, overlapping nothing else? TLSF_OK, or TLSF_ERR_CORRUPTED (the pool
 * is then marked corrupted). O(regions^2); O(1) for one region. The other
 * functions check every value they read from the control structure and the
 * regions against the region table, but only this knows the mapping's bounds:
 * call it after taking the lock, before the first other call on such a pool. */
int tlsf_check_regions(tlsf_t *t, size_t span);
/* What tlsf_check_regions_since remembers of the region table it validated
 * last (caller memory, private to the caller; zero it before the first call). */
typedef struct tlsf_regions_seen {
    uint32_t slots; /* slots below the high-water mark then; 0: nothing validated yet */
    uint32_t span_ok;
    uint64_t span;
    uint64_t words[TLSF_MAX_REGIONS][3]; /* base_off, bitmap_off, area of each */
} tlsf_regions_seen_t;
/* tlsf_check_regions, but when the slots in use and the high-water mark hold
 * exactly what `seen` recorded from the last validation (same span), they are
 * not validated again: O(slots in use) word compares per call. The hint is
 * kept below the mark either way. */
int tlsf_check_regions_since(tlsf_t *t, size_t span, tlsf_regions_seen_t *seen);
/* Nonzero once an operation found broken metadata (check() does not set it). */
int tlsf_is_corrupted(const tlsf_t *t);
/* The used-bytes counter alone: reads one field of the control structure and
 * follows nothing (for a read-only look at a control structure in shared
 * memory; tlsf_get_stats also walks a free list). */
size_t tlsf_used_bytes(const tlsf_t *t);

/* ---- repair --------------------------------------------------------------- */

/* Rebuild every derived structure of a pool from its physical block chains, for
 * a pool whose last mutator may have stopped half-way (a process killed inside
 * an operation on a pool in shared memory). Every region slot's area and
 * start bitmap must lie inside the `span` bytes that start at t, after the
 * control structure, and not overlap each other: a slot that does not is
 * TLSF_ERR_CORRUPTED before anything is written (so a damaged control structure
 * never makes repair write outside [t, t + span)). Then, per region, the chain
 * is walked with every step bounds-checked; a size that leaves the region or a
 * chain that misses the sentinel is TLSF_ERR_CORRUPTED (the pool is left marked
 * corrupted). Otherwise the start bitmap, the flags and prev_size fields, the
 * sentinel, the free lists and their bitmaps, the region counters and the stats
 * are rewritten; cached blocks become free, adjacent free blocks are merged, a
 * used block keeps its size and alignment (a block that was being handed out
 * when its process died stays used: leaked, not lost). peak_used is kept (raised
 * to used if below), failed_allocations kept, the corrupted flag cleared. O(area
 * / 512 + blocks). Returns TLSF_OK, after which tlsf_check passes.
 * Every store sequence of malloc/calloc/realloc/free keeps the physical chain
 * walkable (a split writes the remainder's header before shrinking the block),
 * so a pool whose mutator died inside one of them is always repairable; the
 * leading split of a memalign is not ordered that way. */
int tlsf_repair(tlsf_t *t, size_t span);

#ifdef __cplusplus
}
#endif

#endif /* MEMPOOLS_TLSF_H */
