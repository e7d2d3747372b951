/*
 * tlsf.c — Two-Level Segregated Fit allocator. See tlsf.h for the contract.
 *
 * Layout of a region of `area` bytes (offsets from its base):
 *
 *   0                16                                 area-16     area
 *   | prev | size    | user bytes ...  | prev | size    | ... | prev | size=0 |
 *   '-- first block header              '-- next header       '-- sentinel
 *
 * A block header is two 8-byte words: `prev_size`, which physically lies in the
 * last 8 bytes of the previous block and is meaningful only while that block is
 * free, and `size_flags`. The user pointer follows the header, so a block of
 * usable size s at header offset h is followed by the next header at h + s + 8
 * (8 bytes of overhead per block). A free block keeps its two free-list links in
 * its first 16 user bytes.
 *
 * Links are control-relative: a header's address minus the control structure's
 * (modulo 2^64), 0 = none (no region holds the control structure). A region's
 * link base (its base_off) plus a header offset is a link; following one is an
 * add. Nothing the allocator stores is a pointer, so the control structure and
 * its regions work wherever they are mapped together (a shared segment).
 *
 * Every region has a start bitmap (1 bit per 8 bytes, outside the area): the bit
 * of a block's user offset is set exactly while a block (free or used) starts
 * there. It makes free() of a foreign or interior pointer an O(1) rejection and
 * lets every link be validated before it is followed. A summary follows it in
 * the same memory: bit w set exactly while bitmap word w is not 0, so the next
 * block start after any offset is found in O(distance / 32 KiB).
 *
 * Hostile memory: the control structure and the regions may lie in memory that
 * other processes (or a user's buffer overflow) can write. Every value read from
 * them is checked where it is used, so that arbitrary bytes there give
 * TLSF_ERR_CORRUPTED, never an access outside the control structure and the
 * region areas and bitmaps, never a loop that does not end:
 * - indices (region ids, the region hint and high-water mark, bitmap-derived list
 *   indices) are masked or compared against their array's size;
 * - a region slot's offsets are used 8-aligned and its area at most AREA_MASK
 *   (whether they lie inside a shared mapping is tlsf_check_regions' job);
 * - a link is followed only into a live region, 8-aligned, with room for a block;
 * - a header's size is trusted only once it agrees with side data the user
 *   cannot reach by overflowing a block: a live block's extent with the start
 *   bitmap (the next block's start bit set, none in between: extent_matches), a
 *   free block's with its boundary tag (the next block's prev_size and
 *   F_PREV_FREE: free_tag_matches), a parked block's with the copy of its header
 *   kept in its own first bytes (park_copy). So a header that an overflow of the
 *   block before it rewrote is reported by the next call that touches it, and no
 *   allocation is ever placed over a live block.
 */
#include "tlsf.h"

#include "bits.h"

#include <stdatomic.h>
#include <string.h>

/* ---- configuration ------------------------------------------------------- */

enum {
    ALIGN_LOG2 = 3,
    SL_LOG2 = 5,
    SL_COUNT = 1 << SL_LOG2,         /* second-level lists per first level */
    FL_SHIFT = SL_LOG2 + ALIGN_LOG2, /* sizes below 1 << FL_SHIFT are "small" */
    FL_MAX = 40,                     /* every block size is below 1 << FL_MAX */
    FL_COUNT = FL_MAX - FL_SHIFT + 1,
    HEADER = 16,                         /* header bytes before a user pointer */
    OVERHEAD = 8,                        /* bytes a used block costs beyond its size */
    FALLBACK_PROBES = 8,                 /* see find_free() */
    CACHE_CLASSES = FL_COUNT * SL_COUNT, /* one LIFO per size class of the free lists */
    /* Classes below this (sizes up to 504) hold one size each: class c is 8c bytes */
    SMALL_CACHE_CLASSES = (2 * (1 << FL_SHIFT)) >> ALIGN_LOG2,
    MIN_CLASS = TLSF_MIN_BLOCK >> ALIGN_LOG2,
    /* Bytes of one block of every small class, 24 + 32 + ... + 504 */
    SMALL_CLASS_BYTES = 8 * ((SMALL_CACHE_CLASSES * (SMALL_CACHE_CLASSES - 1) - MIN_CLASS * (MIN_CLASS - 1)) / 2)
};

#define SMALL_BLOCK ((uint64_t)1 << FL_SHIFT)
#define MIN_BLOCK ((uint64_t)TLSF_MIN_BLOCK)
#define SPLIT_MIN (MIN_BLOCK + OVERHEAD) /* smallest remainder worth splitting off */

#define F_FREE ((uint64_t)TLSF_BLOCK_FREE)           /* this block is free */
#define F_PREV_FREE ((uint64_t)TLSF_BLOCK_PREV_FREE) /* the physically previous block is free */
#define F_CACHED ((uint64_t)TLSF_BLOCK_CACHED)       /* freed, parked in the front cache (not F_FREE) */
#define F_TAG ((uint64_t)1 << TLSF_BLOCK_TAG_SHIFT)  /* a live block's tag (tlsf_malloc_tagged) */
#define ALIGN_SHIFT TLSF_BLOCK_ALIGN_SHIFT           /* bits 58..63: log2 of a memalign alignment */
#define SIZE_MASK ((((uint64_t)1 << TLSF_BLOCK_TAG_SHIFT) - 1) & ~(uint64_t)7)

/* Largest area a region slot is taken to have: anything larger (or misaligned)
 * in a damaged slot is cut to this, so no offset computed from it overflows. */
#define AREA_MASK ((((uint64_t)1 << FL_MAX) - 1) & ~(uint64_t)7)
#define FL_MASK ((((uint64_t)1 << (FL_COUNT - 1)) << 1) - 1) /* the first-level lists that exist */

/* A link is followed only to a header with room for a block before the sentinel:
 * h + LINK_ROOM <= area. */
#define LINK_ROOM ((uint64_t)(HEADER + MIN_BLOCK + OVERHEAD))
#define TLSF_MAGIC ((uint64_t)0x544c5346706f6f6cULL) /* "TLSFpool" */
#define GATE_CORRUPTED 0x80000000u                   /* cache_gate of a corrupted pool (> any depth) */

_Static_assert(FL_COUNT <= 64, "first-level bitmap is 64 bits");
_Static_assert(SL_COUNT <= 32, "second-level bitmaps are 32 bits");
_Static_assert(TLSF_MAX_REQUEST <= ((uint64_t)1 << (FL_MAX - 1)), "rounded requests stay below 1 << FL_MAX");

/* ---- structures ---------------------------------------------------------- */

/* A block header in region memory. Invariants: `size_flags & SIZE_MASK` is a
 * multiple of 8 and >= MIN_BLOCK (0 for the sentinel); F_PREV_FREE mirrors the
 * previous block's F_FREE; a free block's next block has prev_size == its size. */
typedef struct block {
    uint64_t prev_size;
    uint64_t size_flags;
    uint64_t next_free; /* free and parked blocks: links in the segregated list or cache LIFO */
    uint64_t prev_free; /* free blocks: back link; parked blocks: park_copy of size_flags */
} block_t;

/* One region. Invariant: area == 0 exactly when the slot is unused; base_off and
 * bitmap_off are the area's and bitmap's addresses minus the control's address. */
typedef struct region {
    uint64_t base_off;
    uint64_t bitmap_off;
    uint64_t area;
    uint64_t unused; /* a slot is 32 bytes: the hint is its masked byte offset (hint_region) */
} region_t;

/* The control structure. Invariants: bit fl of fl_bitmap is set exactly when
 * sl_bitmap[fl] != 0; bit sl of sl_bitmap[fl] exactly when heads[fl * SL_COUNT + sl] != 0;
 * every free block is in the list its size maps to; the counters equal what a
 * walk of the regions finds. The words every malloc and free reads or writes
 * (but the list head) share its first 64 bytes: where processes share it (a
 * SharedPool, control 64-aligned), each call moves one line of it between
 * cores, not four. */
struct tlsf {
    uint64_t magic;
    uint64_t fl_bitmap;
    /* Bytes and count of the blocks taken from the free lists: live blocks and
     * parked ones (a park or a pop leaves them be; stats subtract the cache's). */
    uint64_t used;
    uint64_t peak_used;
    uint64_t blocks; /* in every region, free, used or parked, sentinels not counted: free_of */
    uint64_t allocations;
    /* 0 for a sound pool with the cache off (the quick paths), cache_depth for
     * one with the cache on, GATE_CORRUPTED once corrupted: the one word
     * tlsf_malloc and tlsf_free test (a peer that rewrites it only sends calls
     * down paths that check everything they read). */
    uint32_t cache_gate;
    int corrupted;
    uint32_t sl_bitmap[FL_COUNT]; /* [0] and [1] (blocks below 512 bytes) in the first 64 bytes */
    uint32_t region_count;
    uint32_t region_hwm;  /* slots >= hwm are unused */
    uint32_t region_hint; /* the slot the last pointer lookup found, as its byte offset in regions */
    uint32_t cache_depth;
    uint64_t area;
    uint64_t failed;
    uint64_t cached_bytes;
    uint64_t cache_budget;
    /* park_free parks a block of a small class (below SMALL_CACHE_CLASSES) while
     * its class holds fewer than small_depth, with no byte count to check: so
     * every other park keeps small_reserve = small_depth * SMALL_CLASS_BYTES of
     * the budget for it (set_budget). */
    uint32_t small_depth;
    uint64_t small_reserve;
    /* The region table before the lists: a pool that uses the small lists and
     * one large one touches two pages of its control structure. */
    region_t regions[TLSF_MAX_REGIONS];
    uint64_t heads[FL_COUNT * SL_COUNT]; /* list (fl, sl) at fl * SL_COUNT + sl */
    /* Front cache: cache[fl * SL_COUNT + sl] heads a LIFO (linked through
     * next_free) of F_CACHED blocks whose sizes map to list (fl, sl);
     * cache_count[c] <= cache_depth; cached_bytes <= cache_budget = area / 4.
     * Last, and read only while cache_depth > 0: tlsf_set_cache zeroes them when
     * it turns the cache on, so a pool that never uses it never touches their
     * 12 KiB (memory follows use). */
    uint64_t cache[CACHE_CLASSES];
    uint32_t cache_count[CACHE_CLASSES];
};

/* A region resolved to this process's addresses, for the duration of one call. */
typedef struct rview {
    unsigned index;
    uint64_t rel; /* the region's link base: header offset h has link rel + h */
    uintptr_t base;
    uint64_t *bits; /* the start bitmap: bit u / 8 set while a block starts at user offset u; its
                     * summary follows it (summary_of) */
    uint64_t area;
    region_t *region;
} rview_t;

/* Hot-path helpers are forced inline: the allocator's speed is in them. */
#if defined(__GNUC__) || defined(__clang__)
#define HOT static inline __attribute__((always_inline))
#define SLOW static __attribute__((noinline))
#else
#define HOT static inline
#define SLOW static
#endif

/* ---- size classes -------------------------------------------------------- */

/* The list a free block of `size` belongs to, as one index fl * SL_COUNT + sl:
 * below SMALL_BLOCK the lists are 8 bytes apart; above, list sl of first
 * level fl = f - (FL_SHIFT - 1) (f the highest set bit) holds sizes whose
 * SL_LOG2 bits below bit f are sl. */
HOT unsigned class_of_large(uint64_t size) /* size >= SMALL_BLOCK - 1 */
{
    unsigned f = find_last_set64(size);
    /* The top bit adds SL_COUNT; for SMALL_BLOCK - 1, (f - FL_SHIFT) wraps to
     * -1 and the sum is its small list, (SMALL_BLOCK - 1) >> ALIGN_LOG2. */
    return ((f - FL_SHIFT) << SL_LOG2) + (unsigned)(size >> (f - SL_LOG2));
}
HOT unsigned class_of(uint64_t size)
{
    return size < SMALL_BLOCK ? (unsigned)(size >> ALIGN_LOG2) : class_of_large(size);
}

HOT void map_insert(uint64_t size, unsigned *fl, unsigned *sl)
{
    unsigned c = class_of(size);
    *fl = c >> SL_LOG2;
    *sl = c & (SL_COUNT - 1);
}

/* The first list whose every block is >= size (good fit): the list after
 * size - 1's (a small size's own list holds that size alone). */
HOT void map_search(uint64_t size, unsigned *fl, unsigned *sl)
{
    unsigned c = size < SMALL_BLOCK ? (unsigned)(size >> ALIGN_LOG2) : class_of_large(size - 1) + 1;
    *fl = c >> SL_LOG2;
    *sl = c & (SL_COUNT - 1);
}

/* Usable size for a request, or 0 when the request is too large. */
static inline uint64_t adjust_request(size_t size)
{
    if (size > TLSF_MAX_REQUEST) return 0;
    uint64_t a = ((uint64_t)size + 7) & ~(uint64_t)7;
    return a < MIN_BLOCK ? MIN_BLOCK : a;
}

/* ---- regions and blocks -------------------------------------------------- */

/* A region slot's fields as the allocator uses them: offsets 8-aligned, the area
 * cut to AREA_MASK. For a sane slot these are the stored values. */
static inline uint64_t slot_rel(const region_t *r) { return r->base_off & ~(uint64_t)7; }
static inline uintptr_t slot_base(const tlsf_t *t, const region_t *r) { return (uintptr_t)t + (uintptr_t)slot_rel(r); }
static inline uint64_t *slot_bits(const tlsf_t *t, const region_t *r)
{
    return (uint64_t *)((uintptr_t)t + (uintptr_t)(r->bitmap_off & ~(uint64_t)7));
}
static inline uint64_t slot_area(const region_t *r) { return r->area & AREA_MASK; }
/* Words of the start bitmap proper for an area (its summary follows them). */
static inline uint64_t start_words(uint64_t area) { return ((area >> ALIGN_LOG2) + 63) >> 6; }
/* Slots at and beyond this are unused (region_hwm, which may be damaged, capped). */
static inline unsigned slot_limit(const tlsf_t *t)
{
    return t->region_hwm < TLSF_MAX_REGIONS ? t->region_hwm : TLSF_MAX_REGIONS;
}
/* The region the last lookup found (a damaged hint still names a slot). */
#define HINT_MASK ((uint32_t)((TLSF_MAX_REGIONS - 1) * sizeof(region_t)))
static inline unsigned hint_slot(const tlsf_t *t) { return (t->region_hint & HINT_MASK) / sizeof(region_t); }
/* The hint's slot, from its byte offset: one mask, no multiply (the quick paths). */
static inline region_t *hint_region(const tlsf_t *t)
{
    return (region_t *)((uintptr_t)t->regions + (t->region_hint & HINT_MASK));
}
static inline uint32_t hint_of(unsigned slot) { return (uint32_t)(slot * sizeof(region_t)); }

_Static_assert((TLSF_MAX_REGIONS & (TLSF_MAX_REGIONS - 1)) == 0 && sizeof(region_t) == 32, "hint_slot masks");
_Static_assert(((SMALL_BLOCK - 1) >> ALIGN_LOG2) == SL_COUNT - 1,
               "class_of_large(SMALL_BLOCK - 1) is the last small list");
_Static_assert(offsetof(struct tlsf, sl_bitmap) + 2 * sizeof(uint32_t) <= 64, "the hot words share one line");
_Static_assert(TLSF_MAX_REQUEST + HEADER + OVERHEAD <= AREA_MASK, "slot_area keeps every valid area");
_Static_assert(offsetof(block_t, prev_free) + sizeof(uint64_t) - HEADER == TLSF_FREE_LINK_BYTES &&
                   sizeof(((block_t *)0)->prev_size) == TLSF_FREE_TAG_BYTES && OVERHEAD == TLSF_FREE_TAG_BYTES,
               "a free block's links are its first user bytes, its tag (the next prev_size) its last");

/* The view of slot index (< TLSF_MAX_REGIONS), whatever its area. */
static inline void fill_view(tlsf_t *t, unsigned index, rview_t *v)
{
    region_t *r = &t->regions[index];
    v->index = index;
    v->rel = slot_rel(r);
    v->base = (uintptr_t)t + (uintptr_t)v->rel;
    v->bits = slot_bits(t, r);
    v->area = slot_area(r);
    v->region = r;
}

static inline int view_region(tlsf_t *t, unsigned index, rview_t *v)
{
    if (index >= TLSF_MAX_REGIONS || slot_area(&t->regions[index]) < TLSF_REGION_MIN)
        return 0; /* unused (0) or damaged */
    fill_view(t, index, v);
    return 1;
}

/* view_region for a region id a caller names. Slots at or above the (capped)
 * high-water mark are never viewed: not by id, not by a scan, and the hint is
 * kept below it (tlsf_check_regions), so a control structure others can write
 * needs only the slots below it checked (O(regions in use) per lock). */
static inline int view_slot(tlsf_t *t, int region, rview_t *v)
{
    return region >= 0 && (unsigned)region < slot_limit(t) && view_region(t, (unsigned)region, v);
}

static inline block_t *block_at(const rview_t *v, uint64_t h) { return (block_t *)(v->base + (uintptr_t)h); }
static inline uint64_t make_link(const rview_t *v, uint64_t h) { return v->rel + h; }
/* May header offset h (from a link: any value) be followed in v? 8-aligned, room for a block. */
static inline int offset_fits(const rview_t *v, uint64_t h) { return !(h & 7) && h <= v->area - LINK_ROOM; }
static inline uint64_t block_size(const block_t *b) { return b->size_flags & SIZE_MASK; }
/* Bit index of the block whose header is at h. */
static inline uint64_t start_index(uint64_t h) { return (h + HEADER) >> ALIGN_LOG2; }
/* The summary after the start bitmap: bit w set exactly while word w of the bitmap is not 0. */
static inline uint64_t *summary_of(const rview_t *v) { return v->bits + start_words(v->area); }
/* Record that a block starts (or no longer starts) at start bit i, keeping the summary right. */
static inline void mark_start(const rview_t *v, uint64_t i)
{
    uint64_t word = v->bits[i >> 6];
    v->bits[i >> 6] = word | (uint64_t)1 << (i & 63);
    if (!word) set_bit(summary_of(v), i >> 6); /* else its summary bit is set already */
}
static inline void unmark_start(const rview_t *v, uint64_t i)
{
    clear_bit(v->bits, i);
    if (!v->bits[i >> 6]) clear_bit(summary_of(v), i >> 6);
}

/* The block a link names. Only for links validated with view_link or link_is_sane. */
static inline block_t *link_block(const tlsf_t *t, uint64_t link)
{
    return (block_t *)((uintptr_t)t + (uintptr_t)link);
}

/* Does a block of `size` at h end inside the region (next header <= sentinel)? */
static inline int size_in_range(const rview_t *v, uint64_t h, uint64_t size)
{
    return size >= MIN_BLOCK && size <= v->area && h + size + OVERHEAD <= v->area - HEADER;
}

/* The longest extent, in start bits, small_extent_matches checks: two windows
 * of 56 bits and 57 where unaligned loads read them (little-endian), else the
 * 63 bits a two-word window leaves room for. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WINDOW_LOADS 1
#define SMALL_EXTENT_MAX 112u
#else
#define SMALL_EXTENT_MAX 63u
#endif

#ifdef WINDOW_LOADS
/* The 8 bytes of the start bitmap from byte `byte` on, as one word (bit 0 =
 * bit 8 * byte): one unaligned load. Every caller keeps them inside the bitmap
 * and the summary that follows it. */
HOT uint64_t window_at(const uint64_t *bits, uint64_t byte)
{
    uint64_t window;
    memcpy(&window, (const unsigned char *)bits + byte, sizeof window);
    return window;
}
#endif

/* Does the start bitmap say that a block starts at bit i and the next one n
 * bits later (1 <= n <= SMALL_EXTENT_MAX, bit i + n inside the bitmap): bit i
 * set, then n - 1 clear bits, then a set one? What extent_matches does for a
 * block below 8 * SMALL_EXTENT_MAX bytes, in a few instructions. */
HOT int small_extent_matches(const uint64_t *bits, uint64_t i, uint64_t n)
{
    /* Bit 0 of a window from i set and the lowest set bit above it n: flipping
     * bit 0 leaves that bit the lowest (a clear bit 0 becomes the lowest, and
     * n >= 1). */
#ifdef WINDOW_LOADS
    /* The window from byte i / 8, shifted by i % 8: bits i .. i + 56. Bit 63
     * (above any bit read here) keeps the count defined. */
    const uint64_t top = (uint64_t)1 << 63;
    uint64_t byte = i >> 3, shift = i & 7, window = window_at(bits, byte) >> shift;
    if (n <= 56) return find_first_set64((window ^ 1) | top) == (unsigned)n;
    /* Bits i .. i + 55 must be bit i alone (the shift by 8 drops the rest), and
     * the next start is the lowest set bit of the 57 from i + 56 (7 bytes on). */
    if (window << 8 != (uint64_t)1 << 8) return 0;
    return find_first_set64((window_at(bits, byte + 7) >> shift) | top) == (unsigned)(n - 56);
#else
    /* Word wi + 1 exists: bit i + n lies in the bitmap, and the summary follows it. */
    uint64_t wi = i >> 6, shift = i & 63;
    uint64_t y = ((bits[wi] >> shift) | ((bits[wi + 1] << 1) << (63 - shift))) ^ 1;
    return (y & (~y + 1)) == (uint64_t)1 << n;
#endif
}

#define NO_START UINT64_MAX             /* first_start_after: no block starts after i */
#define BROKEN_SUMMARY (UINT64_MAX - 1) /* first_start_after: the summary names an empty word */

/* The lowest start bit above i, through the summary: O(distance / 32 KiB). */
HOT uint64_t first_start_after(const uint64_t *bits, uint64_t area, uint64_t i)
{
    uint64_t w = i >> 6, above = bits[w] & (~(uint64_t)1 << (i & 63));
    if (above) return (w << 6) + find_first_set64(above);
    const uint64_t words = start_words(area), *summary = bits + words;
    for (uint64_t s = w + 1; s < words; s = (s | 63) + 1) {
        uint64_t sw = summary[s >> 6] & (~(uint64_t)0 << (s & 63));
        if (!sw) continue;
        uint64_t nw = (s & ~(uint64_t)63) + find_first_set64(sw);
        if (nw >= words) return NO_START;
        return bits[nw] ? (nw << 6) + find_first_set64(bits[nw]) : BROKEN_SUMMARY;
    }
    return NO_START;
}

/* extent_matches for a block of 504 bytes or more, or the last one. */
SLOW int long_extent_matches(const uint64_t *bits, uint64_t area, uint64_t i, uint64_t next)
{
    uint64_t first = first_start_after(bits, area, i);
    return next == area >> ALIGN_LOG2 ? first == NO_START : first == next; /* the sentinel has no start bit */
}

/* Does the start bitmap agree that a block of `size` (in range) starts at h:
 * the next block's start bit set (or the sentinel next), none in between?
 * What the allocator wrote always agrees; a size word an overflow rewrote does
 * not, so a live block's size is trusted only after this. */
HOT int extent_matches(const rview_t *v, uint64_t h, uint64_t size)
{
    uint64_t i = start_index(h), n = (size >> ALIGN_LOG2) + 1;
    if (n <= SMALL_EXTENT_MAX && h + size + OVERHEAD != v->area - HEADER) return small_extent_matches(v->bits, i, n);
    return long_extent_matches(v->bits, v->area, i, i + n);
}

/* Does the free block at h (its start bit checked by the caller) have `size`
 * in range and agreeing with its boundary tag: the header right after it says
 * its predecessor is free and holds its size in prev_size? O(1). An overflow of
 * the block before h rewrites h's size word, not the tag at its far end; a size
 * word that lands anywhere else finds no such tag there (the start bitmap is
 * not read: its word at the far end would cost one more cache line). */
HOT int free_tag_matches(const rview_t *v, uint64_t h, uint64_t size)
{
    if (!size_in_range(v, h, size)) return 0;
    const block_t *next = block_at(v, h + size + OVERHEAD);
    return (next->size_flags & F_PREV_FREE) && next->prev_size == size;
}

/* What a parked block keeps in its prev_free word: its size_flags as parked,
 * but for F_PREV_FREE (which its predecessor's changes rewrite). */
static inline uint64_t park_copy(uint64_t size_flags) { return size_flags & ~F_PREV_FREE; }

/* The region of a link (read from memory that may be damaged: any value) as a
 * view, and its header offset there: 1, or 0 when no live region has room for
 * a block at that offset, 8-aligned (following it would leave the region). The
 * hint's region is tried first, then every slot. (A forged link that passes is
 * caught where it is used: the flags, boundary tag or start bit it must have.) */
SLOW int view_link_scan(tlsf_t *t, uint64_t link, rview_t *v, uint64_t *h)
{
    for (unsigned i = 0, n = slot_limit(t); i < n; i++) {
        if (view_region(t, i, v) && offset_fits(v, link - v->rel)) {
            *h = link - v->rel;
            return 1;
        }
    }
    return 0;
}
HOT int view_link(tlsf_t *t, uint64_t link, rview_t *v, uint64_t *h)
{
    if (view_region(t, hint_slot(t), v) && offset_fits(v, link - v->rel)) {
        *h = link - v->rel;
        return 1;
    }
    return view_link_scan(t, link, v, h);
}

HOT int link_is_sane(const tlsf_t *t, uint64_t link, uint64_t flag)
{
    rview_t v;
    uint64_t h;
    return view_link((tlsf_t *)t, link, &v, &h) && (block_at(&v, h)->size_flags & (F_FREE | F_CACHED)) == flag;
}

/* The block a link read from block memory names, or NULL (see view_link): v's
 * region, where the neighbours of a block in v almost always are, is tried first. */
SLOW block_t *checked_link_block_elsewhere(tlsf_t *t, uint64_t link)
{
    rview_t w;
    uint64_t h;
    return view_link_scan(t, link, &w, &h) ? block_at(&w, h) : NULL;
}
HOT block_t *checked_link_block(tlsf_t *t, const rview_t *v, uint64_t link)
{
    uint64_t h = link - v->rel;
    return offset_fits(v, h) ? block_at(v, h) : checked_link_block_elsewhere(t, link);
}

/* Record that metadata is broken; every later mutation refuses to run. */
static int fail_corrupted(tlsf_t *t)
{
    t->corrupted = 1;
    t->cache_gate = GATE_CORRUPTED;
    return 0;
}

/* The cache's budget, a quarter of the area, and the share of it park_free's
 * small path may take without counting bytes: half at most, as a depth for
 * every small class (0 for a pool too small to give each one block). After
 * any change of the area or the depth. */
static void set_budget(tlsf_t *t)
{
    uint64_t budget = t->area / 4, depth = (budget / 2) / SMALL_CLASS_BYTES;
    t->cache_budget = budget;
    t->small_depth = depth < t->cache_depth ? (uint32_t)depth : t->cache_depth;
    t->small_reserve = (uint64_t)t->small_depth * SMALL_CLASS_BYTES;
}

/* Bytes in free blocks: what the blocks of every region leave beside their
 * headers, less the used and parked bytes (a region of area A holds blocks
 * whose sizes plus OVERHEAD each add up to A - HEADER). 0 where the counters
 * disagree (damaged). Keeping the block count instead of a free-bytes counter
 * leaves the counter out of every malloc and free that neither splits nor merges. */
static uint64_t free_of(const tlsf_t *t)
{
    uint64_t fixed = (uint64_t)t->region_count * HEADER + t->blocks * OVERHEAD, taken = t->used;
    return t->area >= fixed && t->area - fixed >= taken ? t->area - fixed - taken : 0;
}

/* ---- free lists ---------------------------------------------------------- */

/* List c has a head now / is empty now: its bits in the two bitmaps. */
HOT void mark_list(tlsf_t *t, unsigned c)
{
    t->sl_bitmap[c >> SL_LOG2] |= (uint32_t)1 << (c & (SL_COUNT - 1));
    t->fl_bitmap |= (uint64_t)1 << (c >> SL_LOG2);
}
HOT void unmark_list(tlsf_t *t, unsigned c)
{
    if (!(t->sl_bitmap[c >> SL_LOG2] &= ~((uint32_t)1 << (c & (SL_COUNT - 1)))))
        t->fl_bitmap &= ~((uint64_t)1 << (c >> SL_LOG2));
}

/* Make b (link `link`) the head of list c, whose head was `head` (0: empty;
 * else a checked link of a free block). A list that had a head has its bits
 * set already (the bitmaps' invariant), so only an empty one marks them. */
HOT void push_free(tlsf_t *t, unsigned c, uint64_t link, block_t *b, uint64_t head)
{
    b->next_free = head;
    b->prev_free = 0;
    t->heads[c] = link;
    if (head)
        link_block(t, head)->prev_free = link;
    else
        mark_list(t, c);
}

/* Push the free block b (link `link`) of `size`, the size the caller wrote
 * into its header, on its list. (A size that maps past the last list came
 * from header words a peer rewrote between their check and their use, in
 * shared memory: the pool is corrupted, nothing is written.) */
HOT void insert_free(tlsf_t *t, const rview_t *v, uint64_t link, block_t *b, uint64_t size)
{
    unsigned c = class_of(size);
    if (c >= FL_COUNT * SL_COUNT) {
        fail_corrupted(t);
        return;
    }
    uint64_t head = t->heads[c];
    if (head && !checked_link_block(t, v, head)) {
        fail_corrupted(t); /* the damaged list is dropped, never followed */
        head = 0;
    }
    push_free(t, c, link, b, head);
}

/* Unlink the free block b from its list, validating its links first. */
HOT int remove_free(tlsf_t *t, const rview_t *v, uint64_t link, block_t *b)
{
    uint64_t next = b->next_free, prev = b->prev_free;
    block_t *nb = next ? checked_link_block(t, v, next) : NULL;
    if (next && (!nb || (nb->size_flags & (F_FREE | F_CACHED)) != F_FREE)) return fail_corrupted(t);
    if (prev) {
        block_t *pb = checked_link_block(t, v, prev);
        if (!pb || (pb->size_flags & (F_FREE | F_CACHED)) != F_FREE || pb->next_free != link) return fail_corrupted(t);
        pb->next_free = next;
    } else {
        unsigned c = class_of(block_size(b));
        if (c >= FL_COUNT * SL_COUNT || t->heads[c] != link) return fail_corrupted(t);
        t->heads[c] = next;
        if (!next) unmark_list(t, c);
    }
    if (nb) nb->prev_free = prev;
    return 1;
}

/* The fallback of find_free: the first of a few blocks of size's own list that fits. */
static uint64_t probe_own_class(tlsf_t *t, uint64_t size)
{
    unsigned fl, sl;
    map_insert(size, &fl, &sl);
    uint64_t link = t->heads[fl * SL_COUNT + sl];
    if (link && !link_is_sane(t, link, F_FREE)) return (uint64_t)fail_corrupted(t);
    for (int probes = 0; link && probes < FALLBACK_PROBES; probes++) {
        const block_t *b = link_block(t, link);
        if (block_size(b) >= size) return link;
        link = b->next_free;
        if (link && !link_is_sane(t, link, F_FREE)) return (uint64_t)fail_corrupted(t);
    }
    return 0;
}

/* A link to a free block of at least `size`, or 0. Good fit through the bitmaps;
 * when the rounding of map_search skips every list, the request's own list may
 * still hold a block that fits (the classic TLSF misses it, so after freeing a
 * block of n bytes in a full pool, malloc(n) fails): probe its first few blocks. */
HOT uint64_t find_free(tlsf_t *t, uint64_t size)
{
    unsigned fl, sl;
    map_search(size, &fl, &sl);
    if (fl < FL_COUNT) {
        uint32_t slmap = t->sl_bitmap[fl] & (~(uint32_t)0 << sl);
        if (!slmap) {
            uint64_t flmap = t->fl_bitmap & FL_MASK & (~(uint64_t)0 << (fl + 1));
            if (flmap) {
                fl = find_first_set64(flmap);
                slmap = t->sl_bitmap[fl];
            }
        }
        if (slmap) return t->heads[fl * SL_COUNT + find_first_set32(slmap)];
    }
    return probe_own_class(t, size);
}

/* ---- block surgery ------------------------------------------------------- */

/* The block at h (size `size`, in no list) keeps `keep` bytes; the rest, if
 * large enough, becomes a free block, merged with a free successor when
 * `merge_next` (a block just taken off a free list has none: free blocks
 * merge). Leaves the next block's F_PREV_FREE/prev_size right. Returns 0 on
 * corruption. */
HOT int trim_block(tlsf_t *t, const rview_t *v, uint64_t h, uint64_t keep, int merge_next)
{
    block_t *b = block_at(v, h);
    uint64_t size = block_size(b);
    uint64_t nh = h + size + OVERHEAD;
    block_t *next = block_at(v, nh);
    if (size - keep < SPLIT_MIN) {
        next->size_flags &= ~F_PREV_FREE;
        return 1;
    }
    uint64_t rh = h + keep + OVERHEAD, rsize = size - keep - OVERHEAD;
    if (merge_next && (next->size_flags & F_FREE)) {
        if (!free_tag_matches(v, nh, block_size(next)) || !remove_free(t, v, make_link(v, nh), next))
            return fail_corrupted(t);
        unmark_start(v, start_index(nh));
        rsize += block_size(next) + OVERHEAD;
        t->blocks--;
    }
    /* The remainder's header (inside b) is written before b shrinks, so the
     * physical chain is intact at every store: a process killed here leaves a
     * pool tlsf_repair can rebuild. */
    block_t *r = block_at(v, rh);
    r->size_flags = rsize | F_FREE;
    atomic_signal_fence(memory_order_seq_cst);
    b->size_flags = (b->size_flags & ~SIZE_MASK) | keep;
    mark_start(v, start_index(rh));
    block_t *after = block_at(v, rh + rsize + OVERHEAD);
    after->prev_size = rsize;
    after->size_flags |= F_PREV_FREE;
    t->blocks++;
    insert_free(t, v, make_link(v, rh), r, rsize);
    return 1;
}

/* Account for a block that just became live. */
HOT void *hand_out(tlsf_t *t, const rview_t *v, uint64_t h, uint64_t size)
{
    t->allocations++;
    t->used += size;
    if (t->used > t->peak_used) t->peak_used = t->used;
    return (void *)(v->base + (uintptr_t)h + HEADER);
}

/* Take the free block behind the list link `link` for a request of `size` bytes
 * aligned to 1 << align_log2 (<= 8 means plain). Returns the user pointer or NULL. */
HOT void *take_block(tlsf_t *t, uint64_t link, uint64_t size, unsigned align_log2)
{
    rview_t v;
    uint64_t h;
    if (!view_link(t, link, &v, &h) || !test_bit(v.bits, start_index(h))) {
        fail_corrupted(t);
        return NULL;
    }
    block_t *b = block_at(&v, h);
    uint64_t bsize = block_size(b);
    if (!(b->size_flags & F_FREE) || bsize < size || !free_tag_matches(&v, h, bsize) || !remove_free(t, &v, link, b)) {
        fail_corrupted(t);
        return NULL;
    }

    if (align_log2 > ALIGN_LOG2) {
        /* Split off a leading free block so the user pointer lands aligned. */
        uint64_t align = (uint64_t)1 << align_log2;
        uint64_t addr = v.base + h + HEADER;
        uint64_t gap = ((addr + align - 1) & ~(align - 1)) - addr;
        if (gap && gap < SPLIT_MIN) gap = ((addr + SPLIT_MIN + align - 1) & ~(align - 1)) - addr;
        if (gap) {
            /* The aligned block's header (inside b) is written, free, before b
             * shrinks to the gap, so the physical chain is intact at every
             * store: a process killed here leaves b whole, or two adjacent free
             * blocks that tlsf_repair merges. */
            uint64_t lsize = gap - OVERHEAD;
            block_t *a = block_at(&v, h + gap);
            a->prev_size = lsize;
            a->size_flags = (bsize - gap) | F_FREE | F_PREV_FREE;
            atomic_signal_fence(memory_order_seq_cst);
            b->size_flags = lsize | F_FREE | (b->size_flags & F_PREV_FREE);
            t->blocks++;
            insert_free(t, &v, link, b, lsize);
            h += gap;
            bsize -= gap;
            b = a;
            mark_start(&v, start_index(h));
        }
    }
    /* The block stays marked free while its tail is split off and is marked used
     * only once it has its final size: a process killed in between leaves a
     * free block (or two adjacent ones) that tlsf_repair merges back, never the
     * whole untrimmed block leaked as used. */
    uint64_t mark =
        (b->size_flags & F_PREV_FREE) | ((uint64_t)(align_log2 > ALIGN_LOG2 ? align_log2 : 0) << ALIGN_SHIFT);
    if (bsize - size < SPLIT_MIN) { /* no tail to split off: the whole block is handed out */
        b->size_flags = bsize | mark;
        block_at(&v, h + bsize + OVERHEAD)->size_flags &= ~F_PREV_FREE;
        return hand_out(t, &v, h, bsize);
    }
    b->size_flags = bsize | F_FREE | (b->size_flags & F_PREV_FREE);
    if (!trim_block(t, &v, h, size, 0)) return NULL;
    atomic_signal_fence(memory_order_seq_cst);
    b->size_flags = block_size(b) | mark;
    return hand_out(t, &v, h, block_size(b));
}

/* ---- front cache --------------------------------------------------------- */

HOT unsigned cache_class(uint64_t size)
{
    /* Below 2 * SMALL_BLOCK the lists are 8 bytes apart: list index = size / 8. */
    if (size < 2 * SMALL_BLOCK) return (unsigned)(size >> ALIGN_LOG2);
    return class_of(size);
}

/* With the cache on, a request is served at the lower bound of the first class
 * whose blocks all fit it, so a block always returns to the class it came from. */
HOT uint64_t round_to_class(uint64_t size)
{
    if (size < SMALL_BLOCK) return size;
    uint64_t mask = ((uint64_t)1 << (find_last_set64(size) - SL_LOG2)) - 1;
    return (size + mask) & ~mask;
}

/* The two list operations of the front cache, which every path that parks or
 * takes a block goes through. Push the live block b (link `link`, flags
 * `flags`, size `size`, its extent matched) on the list of class c, which has
 * room for it; its tag and alignment bits stay until it is taken. */
HOT void park_push(tlsf_t *t, uint64_t link, block_t *b, uint64_t flags, uint64_t size, size_t c)
{
    b->size_flags = flags | F_CACHED;
    b->next_free = t->cache[c];
    t->cache[c] = link;
    t->cache_count[c]++;
    t->cached_bytes += size; /* still counted in used and allocations */
}
/* Pop the checked head b of class c (`size` bytes, size_flags `flags`), its next
 * link `next`: F_CACHED, tag and alignment off. */
HOT void pop_parked(tlsf_t *t, size_t c, block_t *b, uint64_t next, uint64_t flags, uint64_t size)
{
    t->cache[c] = next;
    t->cache_count[c]--;
    t->cached_bytes -= size;
    b->size_flags = size | (flags & F_PREV_FREE);
}

/* Take the newest parked block of class c, which must hold at least `size`
 * bytes, off its list (F_CACHED cleared): its region and header offset, or 0
 * on corruption. Size 0 (flush_cache, which then matches the block's extent
 * with the start bitmap) skips the park_copy check: park_free makes none. */
HOT int unpark_block(tlsf_t *t, unsigned c, uint64_t size, rview_t *v, uint64_t *hout)
{
    uint64_t link = t->cache[c], h;
    if (!view_link(t, link, v, &h)) return fail_corrupted(t);
    block_t *b = block_at(v, h);
    uint64_t next = b->next_free, bsize = block_size(b);
    /* The next link is checked when it is popped in turn (it becomes the head);
     * the copy made at park time tells whether an overflow rewrote the header. */
    if ((b->size_flags & (F_FREE | F_CACHED)) != F_CACHED || (size && b->prev_free != park_copy(b->size_flags)) ||
        bsize < size || !size_in_range(v, h, bsize))
        return fail_corrupted(t);
    pop_parked(t, c, b, next, b->size_flags, bsize);
    *hout = h;
    return 1;
}

/* May a freed block of `size` be parked rather than merged (but by park_free's
 * small path, which has a share of the budget of its own: small_reserve)? */
HOT int cache_accepts(const tlsf_t *t, uint64_t size)
{
    return t->cache_depth && size <= TLSF_CACHE_MAX && t->cache_count[cache_class(size)] < t->cache_depth &&
           t->cached_bytes + size <= t->cache_budget && t->cache_budget - t->cached_bytes - size >= t->small_reserve;
}

/* Park the validated live block b (link `link`, `size` bytes) on the list of
 * its class, with the park_copy unpark_block and pop_large check. */
HOT void park_block(tlsf_t *t, uint64_t link, block_t *b, uint64_t size)
{
    park_push(t, link, b, b->size_flags, size, cache_class(size));
    b->prev_free = park_copy(b->size_flags);
}

static int flush_cache(tlsf_t *t);

/* ---- allocation ---------------------------------------------------------- */

/* The size a plain request is served at: adjusted, and rounded to its class
 * when the cache is on. 0 when the request is too large. */
HOT uint64_t serve_size(const tlsf_t *t, size_t request)
{
    uint64_t size = adjust_request(request);
    return t->cache_depth && size <= TLSF_CACHE_MAX ? round_to_class(size) : size;
}

/* Allocation from the free lists (and the path every memalign takes). */
HOT void *allocate_from_lists(tlsf_t *t, size_t request, unsigned align_log2)
{
    if (t->corrupted) return NULL;
    uint64_t size = align_log2 ? adjust_request(request) : serve_size(t, request);
    uint64_t search = size;
    if (size && align_log2 > ALIGN_LOG2) {
        uint64_t extra = ((uint64_t)1 << align_log2) + SPLIT_MIN;
        search = extra <= TLSF_MAX_REQUEST && size <= TLSF_MAX_REQUEST - extra ? size + extra : 0;
    }
    uint64_t link = search ? find_free(t, search) : 0;
    if (!link && search && t->cached_bytes && !t->corrupted && flush_cache(t) == TLSF_OK) link = find_free(t, search);
    if (!link) {
        if (!t->corrupted) t->failed++;
        return NULL;
    }
    return take_block(t, link, size, align_log2);
}

/* allocate_from_lists for a plain request (the constant alignment folds away) and for any. */
SLOW void *allocate_plain(tlsf_t *t, size_t request) { return allocate_from_lists(t, request, 0); }
SLOW void *allocate(tlsf_t *t, size_t request, unsigned align_log2)
{
    return allocate_from_lists(t, request, align_log2);
}

/* ---- validation of a user pointer ---------------------------------------- */

/* Find the region holding ptr: the last one found, else a scan of the region
 * table (at most TLSF_MAX_REGIONS entries). */
HOT int find_region(tlsf_t *t, const void *ptr, rview_t *v)
{
    uintptr_t p = (uintptr_t)ptr;
    unsigned hi = hint_slot(t);
    const region_t *hint = &t->regions[hi];
    if (p - slot_base(t, hint) < slot_area(hint)) return view_region(t, hi, v);
    for (unsigned i = 0, n = slot_limit(t); i < n; i++) {
        const region_t *r = &t->regions[i];
        if (p - slot_base(t, r) < slot_area(r)) { /* area 0 never matches */
            t->region_hint = hint_of(i);
            return view_region(t, i, v);
        }
    }
    return 0;
}

/* Validate that `u` is the user offset of a live block in v: TLSF_OK and its header
 * offset, or the reason it is not. O(1). Checks the neighbours it will touch. */
HOT int validate_own(const rview_t *v, uint64_t u, uint64_t *hout)
{
    if ((u & 7) || u < HEADER || u >= v->area - HEADER || !test_bit(v->bits, u >> ALIGN_LOG2)) return TLSF_ERR_FOREIGN;
    uint64_t h = u - HEADER;
    block_t *b = block_at(v, h);
    uint64_t size = block_size(b);
    if (!size_in_range(v, h, size) || !extent_matches(v, h, size)) return TLSF_ERR_CORRUPTED;
    if (b->size_flags & (F_FREE | F_CACHED)) return TLSF_ERR_DOUBLE_FREE;
    *hout = h;
    return TLSF_OK;
}

/* Validate the headers around the live block at h that a merge or an in-place
 * resize will read and write. O(1). */
HOT int validate_neighbours(const rview_t *v, uint64_t h)
{
    const block_t *b = block_at(v, h);
    uint64_t size = block_size(b);
    uint64_t nh = h + size + OVERHEAD;
    block_t *next = block_at(v, nh);
    int sentinel = nh == v->area - HEADER;
    /* validate_own matched the extent with the start bitmap: nh starts a block. */
    if ((next->size_flags & F_PREV_FREE) || (sentinel && next->size_flags != 0) ||
        (!sentinel && (next->size_flags & F_FREE) && !free_tag_matches(v, nh, block_size(next))))
        return TLSF_ERR_CORRUPTED;
    if (b->size_flags & F_PREV_FREE) {
        uint64_t ps = b->prev_size;
        if (ps < MIN_BLOCK || (ps & 7) || ps + OVERHEAD > h || !test_bit(v->bits, start_index(h - ps - OVERHEAD)))
            return TLSF_ERR_CORRUPTED;
        const block_t *prev = block_at(v, h - ps - OVERHEAD);
        if (!(prev->size_flags & F_FREE) || block_size(prev) != ps) return TLSF_ERR_CORRUPTED;
    }
    return TLSF_OK;
}

/* Validate that `u` is the user offset of a live block in v whose neighbours
 * are intact: TLSF_OK and its header offset, or the reason it is not. O(1). */
HOT int validate_live(const rview_t *v, uint64_t u, uint64_t *hout)
{
    int rc = validate_own(v, u, hout);
    return rc != TLSF_OK ? rc : validate_neighbours(v, *hout);
}

/* Free the validated live block at h, merging with free neighbours. */
HOT int release_block(tlsf_t *t, const rview_t *v, uint64_t h)
{
    block_t *b = block_at(v, h);
    uint64_t size = block_size(b);
    t->used -= size;
    t->allocations--;
    if (b->size_flags & F_PREV_FREE) {
        uint64_t ph = h - b->prev_size - OVERHEAD;
        block_t *prev = block_at(v, ph);
        if (!remove_free(t, v, make_link(v, ph), prev)) return TLSF_ERR_CORRUPTED;
        unmark_start(v, start_index(h));
        t->blocks--;
        size += block_size(prev) + OVERHEAD;
        h = ph;
        b = prev;
    }
    uint64_t nh = h + size + OVERHEAD;
    block_t *next = block_at(v, nh);
    if (next->size_flags & F_FREE) {
        if (!remove_free(t, v, make_link(v, nh), next)) return TLSF_ERR_CORRUPTED;
        unmark_start(v, start_index(nh));
        t->blocks--;
        size += block_size(next) + OVERHEAD;
        next = block_at(v, h + size + OVERHEAD);
    }
    b->size_flags = size | F_FREE;
    next->prev_size = size;
    next->size_flags |= F_PREV_FREE;
    insert_free(t, v, make_link(v, h), b, size);
    return TLSF_OK;
}

/* Free the block at user offset u of region v: park it or merge it. */
/* The part of a free that merges: validate the neighbours, then release. */
HOT int merge_free(tlsf_t *t, const rview_t *v, uint64_t h)
{
    int rc = validate_neighbours(v, h);
    if (rc == TLSF_OK) return release_block(t, v, h);
    fail_corrupted(t);
    return rc;
}

SLOW int reject_free(tlsf_t *t, int rc)
{
    if (rc == TLSF_ERR_CORRUPTED) fail_corrupted(t);
    return rc;
}

/* Free the block at user offset u of region v: park it or merge it. With
 * `tagged`, only a tagged block (an untagged live one is TLSF_ERR_FOREIGN). */
HOT int free_block_if(tlsf_t *t, const rview_t *v, uint64_t u, int tagged)
{
    uint64_t h;
    if (t->corrupted) return TLSF_ERR_CORRUPTED;
    int rc = validate_own(v, u, &h);
    if (rc != TLSF_OK) return reject_free(t, rc);
    block_t *b = block_at(v, h);
    if (tagged && !(b->size_flags & F_TAG)) return TLSF_ERR_FOREIGN;
    uint64_t size = block_size(b);
    if (cache_accepts(t, size)) {
        park_block(t, make_link(v, h), b, size); /* touches no neighbour: nothing more to check */
        return TLSF_OK;
    }
    return merge_free(t, v, h);
}

HOT int free_block(tlsf_t *t, const rview_t *v, uint64_t u) { return free_block_if(t, v, u, 0); }

/* ---- public API ---------------------------------------------------------- */

size_t tlsf_control_size(void) { return sizeof(struct tlsf); }

/* tlsf_create and tlsf_create_zeroed: `zeroed` says the memory is all zero already. */
static tlsf_t *create(void *mem, size_t bytes, int zeroed)
{
    if (!mem || ((uintptr_t)mem & 7) || bytes < sizeof(struct tlsf)) return NULL;
    tlsf_t *t = (tlsf_t *)mem;
    if (!zeroed) memset(t, 0, offsetof(struct tlsf, cache)); /* the cache's lists: tlsf_set_cache */
    t->magic = TLSF_MAGIC;
    return t;
}

tlsf_t *tlsf_create(void *mem, size_t bytes) { return create(mem, bytes, 0); }
tlsf_t *tlsf_create_zeroed(void *mem, size_t bytes) { return create(mem, bytes, 1); }

size_t tlsf_bitmap_size(size_t area)
{
    if (area < TLSF_REGION_MIN || (area & 7)) return 0;
    uint64_t words = start_words(area);
    return (size_t)(words + ((words + 63) >> 6)) * 8; /* the bitmap, then its summary */
}

size_t tlsf_region_max_alloc(size_t area)
{
    if (area < TLSF_REGION_MIN || (area & 7) || area - HEADER - OVERHEAD > TLSF_MAX_REQUEST) return 0;
    return area - HEADER - OVERHEAD;
}

/* tlsf_add_region and tlsf_add_region_zeroed: `zeroed` says the bitmap is all
 * zero already, so it is not written (its untouched pages stay unmapped). */
static int add_region(tlsf_t *t, void *mem, size_t area, void *bitmap, int zeroed)
{
    if (!t || !mem || !bitmap || ((uintptr_t)mem & (TLSF_REGION_ALIGN - 1)) || ((uintptr_t)bitmap & 7) ||
        tlsf_region_max_alloc(area) == 0)
        return TLSF_ERR_INVALID;
    uintptr_t lo = (uintptr_t)mem;
    /* Links are never 0 (the control is outside every region), and no region
     * ends in the last page of the address space (free(NULL) fails the quick
     * paths' offset checks). */
    if (lo + area < lo || lo + area > UINTPTR_MAX - 4096 || (uintptr_t)t - lo < area) return TLSF_ERR_INVALID;
    int slot = -1;
    for (unsigned i = 0; i < TLSF_MAX_REGIONS; i++) {
        region_t *r = &t->regions[i];
        if (!r->area) {
            if (slot < 0) slot = (int)i;
            continue;
        }
        uintptr_t base = (uintptr_t)t + (uintptr_t)r->base_off;
        if (lo < base + r->area && base < lo + area) return TLSF_ERR_INVALID; /* overlaps */
    }
    if (slot < 0) return TLSF_ERR_FULL;

    region_t *r = &t->regions[slot];
    r->base_off = (uint64_t)(lo - (uintptr_t)t);
    r->bitmap_off = (uint64_t)((uintptr_t)bitmap - (uintptr_t)t);
    r->area = area;
    if ((uint32_t)slot >= t->region_hwm) t->region_hwm = (uint32_t)slot + 1; /* before the first view */
    rview_t v;
    if (!view_region(t, (unsigned)slot, &v)) return TLSF_ERR_INVALID;
    if (!zeroed) memset(v.bits, 0, tlsf_bitmap_size(area));

    uint64_t size = area - HEADER - OVERHEAD;
    block_t *first = block_at(&v, 0);
    first->prev_size = 0;
    first->size_flags = size | F_FREE;
    mark_start(&v, start_index(0));
    block_t *sentinel = block_at(&v, area - HEADER);
    sentinel->prev_size = size;
    sentinel->size_flags = F_PREV_FREE;

    insert_free(t, &v, make_link(&v, 0), first, size);
    t->region_count++;
    t->area += area;
    set_budget(t);
    t->blocks++;
    return slot;
}

/* Used blocks in v's region, counting up to `limit` (then it stops): a walk of
 * its physical chain, bounds-checked at every step, O(blocks before the
 * limit-th used one); -1 when the chain is broken. A region whose first block
 * is free and whole holds none (O(1)). No counter is kept on the hot paths. */
static int count_used(const rview_t *v, int limit)
{
    const uint64_t sentinel = v->area - HEADER;
    const block_t *first = block_at(v, 0);
    if (first->size_flags == ((sentinel - OVERHEAD) | F_FREE)) return 0;
    int used = 0;
    for (uint64_t h = 0; h < sentinel && used < limit;) {
        const block_t *b = block_at(v, h);
        uint64_t size = block_size(b);
        if (!size_in_range(v, h, size)) return -1;
        if (!(b->size_flags & (F_FREE | F_CACHED))) used++;
        h += size + OVERHEAD;
    }
    return used;
}

int tlsf_add_region(tlsf_t *t, void *mem, size_t area, void *bitmap) { return add_region(t, mem, area, bitmap, 0); }

int tlsf_add_region_zeroed(tlsf_t *t, void *mem, size_t area, void *bitmap)
{
    return add_region(t, mem, area, bitmap, 1);
}

int tlsf_remove_region(tlsf_t *t, int region)
{
    rview_t v;
    if (!t || !view_slot(t, region, &v)) return TLSF_ERR_INVALID;
    if (t->corrupted) return TLSF_ERR_CORRUPTED;
    int used = count_used(&v, 1);
    if (used < 0) return fail_corrupted(t), TLSF_ERR_CORRUPTED;
    if (used) return TLSF_ERR_IN_USE;
    if (t->cached_bytes) {
        int rc = tlsf_flush_cache(t);
        if (rc != TLSF_OK) return rc;
    }
    block_t *first = block_at(&v, 0);
    uint64_t size = v.area - HEADER - OVERHEAD;
    if (first->size_flags != (size | F_FREE) || !test_bit(v.bits, start_index(0))) return TLSF_ERR_CORRUPTED;
    if (!remove_free(t, &v, make_link(&v, 0), first)) return TLSF_ERR_CORRUPTED;
    t->area -= v.area;
    set_budget(t);
    t->blocks--;
    t->region_count--;
    memset(v.region, 0, sizeof *v.region);
    t->region_hwm = slot_limit(t);
    while (t->region_hwm && !t->regions[t->region_hwm - 1].area) t->region_hwm--;
    return TLSF_OK;
}

int tlsf_region_info(const tlsf_t *t, int region, tlsf_region_info_t *out)
{
    if (!t || region < 0 || region >= TLSF_MAX_REGIONS || !t->regions[region].area) return TLSF_ERR_INVALID;
    rview_t v;
    if (!view_slot((tlsf_t *)t, region, &v)) return TLSF_ERR_CORRUPTED;
    out->base = (void *)v.base;
    out->area = (size_t)v.area;
    out->live = count_used(&v, INT32_MAX);
    return TLSF_OK;
}

/* ---- the cache's fast paths (front cache on) ---------------------------------
 * Below 2 * SMALL_BLOCK every list holds one exact size, so a parked block's
 * size word must equal its class's size with F_CACHED set: one comparison
 * checks size and flags together. These do what unpark_block/hand_out and
 * free_block/park_block do, without building a region view. */

/* Take the newest parked block of class c (>= size bytes) through unpark_block. */
SLOW void *unpark_and_hand_out(tlsf_t *t, unsigned c, uint64_t size)
{
    rview_t v;
    uint64_t h;
    return unpark_block(t, c, size, &v, &h) ? (void *)(v.base + (uintptr_t)h + HEADER) : NULL;
}

/* Take the checked parked block b of class c (`size` bytes, size_flags `flags`, its
 * header at `header`) off its list and hand it out. Its next link is checked
 * when it is popped in turn. */
HOT void *take_parked(tlsf_t *t, size_t c, block_t *b, uint64_t flags, uint64_t size, uintptr_t header)
{
    pop_parked(t, c, b, b->next_free, flags, size);
    return (void *)(header + HEADER); /* used and allocations counted it parked */
}

/* pop_small for a block outside the hint's region (which has no park_copy). */
SLOW void *pop_small_elsewhere(tlsf_t *t, uint64_t size)
{
    rview_t v;
    uint64_t h;
    if (!unpark_block(t, (unsigned)(size >> ALIGN_LOG2), 0, &v, &h)) return NULL;
    if (block_size(block_at(&v, h)) != size) return (void *)(uintptr_t)fail_corrupted(t);
    return (void *)(v.base + (uintptr_t)h + HEADER);
}

/* Pop the newest parked block of exact size `size` (< 512); NULL when it is
 * damaged (the pool is then marked corrupted). */
HOT void *pop_small(tlsf_t *t, uint64_t size, uint64_t link)
{
    region_t *r = hint_region(t);
    uint64_t area = slot_area(r), h = link - slot_rel(r);
    /* The head is the control structure's: check it before reading the block
     * (one outside the hint's region goes the general way). */
    if ((h & 7) || h >= area || h + size + OVERHEAD + HEADER > area) return pop_small_elsewhere(t, size);
    uintptr_t base = slot_base(t, r);
    block_t *b = (block_t *)(base + (uintptr_t)h);
    uint64_t flags = b->size_flags;
    /* Below 512 bytes a class holds one size: a rewritten size word cannot match.
     * The next link is checked when it is popped in turn. */
    if ((flags & (SIZE_MASK | F_FREE | F_CACHED)) != size + F_CACHED) { /* size is 8-aligned */
        fail_corrupted(t);
        return NULL;
    }
    return take_parked(t, size >> ALIGN_LOG2, b, flags, size, base + (uintptr_t)h);
}

/* x rotated right by k (0 < k < 64): one instruction. */
static inline uint64_t rotate_right(uint64_t x, unsigned k) { return (x >> k) | (x << (64 - k)); }

SLOW int free_general(tlsf_t *t, void *ptr);

/* park_free for a block of 512 bytes or more, or a free or parked one (link
 * `link`, header offset h < area in the hint region r, whose area park_free
 * read as `area`, flags `flags`): a live block that ends before the last and
 * that the cache may take has its extent checked with the start bitmap and is
 * parked with a park_copy (its class holds more than one size); anything else
 * is freed the general way. */
SLOW int park_large(tlsf_t *t, const region_t *r, uint64_t area, uint64_t link, uint64_t h, uint64_t flags)
{
    const uint64_t *bits = slot_bits(t, r);
    uint64_t size = flags & SIZE_MASK, i = start_index(h), n = (size >> ALIGN_LOG2) + 1;
    block_t *b = link_block(t, link);
    if (!(flags & (F_FREE | F_CACHED)) && size <= TLSF_CACHE_MAX && h + size + OVERHEAD + HEADER < area &&
        (n <= SMALL_EXTENT_MAX ? small_extent_matches(bits, i, n)
                               : test_bit(bits, i) && long_extent_matches(bits, area, i, i + n)) &&
        cache_accepts(t, size)) {
        park_block(t, link, b, size);
        return TLSF_OK;
    }
    return free_general(t, (void *)((uintptr_t)t + link + HEADER));
}

/* tlsf_free with the cache on: park ptr if it is a live block in the hint
 * region, not the last, and its class has room; else the general path (which
 * also produces every error). Up to 504 bytes the whole check is here. */
HOT int park_free(tlsf_t *t, void *ptr)
{
    const region_t *r = hint_region(t);
    uint64_t area = slot_area(r);
    uint64_t link = (uint64_t)((uintptr_t)ptr - (uintptr_t)t) - HEADER, h = link - slot_rel(r);
    if (h >= area || (h & 7)) return free_general(t, ptr);
    block_t *b = link_block(t, link);
    uint64_t flags = b->size_flags, size = flags & (SIZE_MASK | F_FREE | F_CACHED);
    /* (size - MIN_BLOCK) / 8 for a live block, and above any size for a free or
     * parked one (its flag bits rotate to the top): flags and size in one test. */
    uint64_t k = rotate_right(size - MIN_BLOCK, ALIGN_LOG2);
    if (k >= (2 * SMALL_BLOCK - MIN_BLOCK) >> ALIGN_LOG2) return park_large(t, r, area, link, h, flags);
    /* The start bitmap must say the same as the size word (the general path
     * reports one an overflow rewrote); the last block before the sentinel
     * takes the general path too. */
    if (h + size + OVERHEAD + HEADER >= area) return free_general(t, ptr);
    /* k + 4 is the block's extent in start bits, k + 3 its class (size / 8). Up
     * to small_depth blocks of that class, its bytes are within small_reserve;
     * beyond, cache_accepts decides on the general path. */
    if (!small_extent_matches(slot_bits(t, r), start_index(h), k + 4) || t->cache_count[k + 3] >= t->small_depth)
        return free_general(t, ptr);
    /* No park_copy: below 512 bytes pop_small checks the exact size. */
    park_push(t, link, link_block(t, link), flags, (k + 3) << ALIGN_LOG2, k + 3);
    return TLSF_OK;
}

/* Take the newest parked block of class c (>= 504 bytes, at least `size`, at
 * link `link`) like pop_small, its header checked against its park_copy. */
HOT void *pop_large(tlsf_t *t, unsigned c, uint64_t size, uint64_t link)
{
    region_t *r = hint_region(t);
    uint64_t area = slot_area(r), h = link - slot_rel(r);
    if ((h & 7) || h >= area || area - h < size + OVERHEAD + HEADER) return unpark_and_hand_out(t, c, size);
    uintptr_t base = slot_base(t, r);
    block_t *b = (block_t *)(base + (uintptr_t)h);
    uint64_t flags = b->size_flags, bsize = flags & SIZE_MASK;
    if ((flags & (F_FREE | F_CACHED)) != F_CACHED || b->prev_free != park_copy(flags) || bsize < size ||
        bsize > area - h - OVERHEAD - HEADER) {
        fail_corrupted(t);
        return NULL;
    }
    return take_parked(t, c, b, flags, bsize, base + (uintptr_t)h);
}

/* ---- the quick paths (front cache off) ---------------------------------------
 * The commonest calls of pure TLSF, written out so that they keep few values
 * live: a malloc served from the head of the first list that fits, and a free
 * of a block in the hint's region. tlsf_malloc and tlsf_free take them while
 * cache_gate is 0 (a sound pool, cache off). They read what the general paths
 * read and check it the same way; a case they do not cover (another region, the
 * last block, an empty list, anything that fails a check) goes to the general
 * path before a byte is written, and that path does the work or reports the
 * damage. A merge goes to the general merge code. */

/* Take the rest of the free block at h (`bsize` bytes, just unlinked, its
 * successor's prev_size and F_PREV_FREE still its own) off as a free block,
 * and hand out its first `keep` bytes, marked used (with `prev_flag`). The
 * remainder's header is written before b shrinks, so the chain is whole at
 * every store. This is trim_block's split with the values malloc_plain has
 * already read, b marked used in the same store that shrinks it (trim_block
 * and a second store measured 6.5 more instructions a pair on W2). */
SLOW void *split_and_hand_out(tlsf_t *t, uint64_t h, uint64_t keep, uint64_t bsize, uint64_t prev_flag)
{
    rview_t v;
    fill_view(t, hint_slot(t), &v); /* the region malloc_plain checked b in */
    block_t *b = block_at(&v, h);
    uint64_t rh = h + keep + OVERHEAD, rsize = bsize - keep - OVERHEAD;
    block_t *rest = block_at(&v, rh);
    rest->size_flags = rsize | F_FREE;
    atomic_signal_fence(memory_order_seq_cst);
    b->size_flags = keep | prev_flag;
    mark_start(&v, start_index(rh));
    block_at(&v, rh + rsize + OVERHEAD)->prev_size = rsize; /* its F_PREV_FREE stays set */
    t->blocks++;
    insert_free(t, &v, make_link(&v, rh), rest, rsize);
    return (void *)(v.base + (uintptr_t)h + HEADER);
}

/* tlsf_malloc from the head of the first list whose blocks all fit
 * (take_block's checks: the start bit, F_FREE, the boundary tag, the head's
 * back link 0, the next link a free block of the region); any other case
 * goes to the general path before a byte is written. */
SLOW void *malloc_plain(tlsf_t *t, size_t request)
{
    if (request > TLSF_MAX_REQUEST) return allocate_plain(t, request);
    /* From here the general path gets the adjusted size: it adjusts it to itself. */
    uint64_t size = request <= MIN_BLOCK ? MIN_BLOCK : ((uint64_t)request + 7) & ~(uint64_t)7;
    unsigned fl, sl;
    map_search(size, &fl, &sl);
    uint32_t slmap = t->sl_bitmap[fl] & (~(uint32_t)0 << sl);
    if (!slmap) {
        uint64_t flmap = t->fl_bitmap & FL_MASK & (~(uint64_t)0 << (fl + 1));
        if (!flmap) return allocate_plain(t, size);
        fl = find_first_set64(flmap);
        slmap = t->sl_bitmap[fl];
        if (!slmap) return allocate_plain(t, size);
    }
    unsigned c = fl * SL_COUNT + find_first_set32(slmap); /* the list */
    uint64_t link = t->heads[c];
    const region_t *r = hint_region(t);
    uint64_t rel = slot_rel(r), area = slot_area(r), h = link - rel;
    /* A link of 0 (an empty list the bitmaps call full) names the control, which no region holds. */
    if ((h & 7) || h >= area || area - h < LINK_ROOM) return allocate_plain(t, size);
    block_t *b = link_block(t, link);
    uint64_t bsize = block_size(b);
    if (!test_bit(slot_bits(t, r), start_index(h)) || !(b->size_flags & F_FREE) || bsize < size ||
        h + bsize + OVERHEAD + HEADER > area)
        return allocate_plain(t, size);
    block_t *next = link_block(t, link + bsize + OVERHEAD);
    uint64_t nlink = b->next_free, nh = nlink - rel;
    if (!(next->size_flags & F_PREV_FREE) || next->prev_size != bsize || b->prev_free) return allocate_plain(t, size);
    if (nlink &&
        ((nh & 7) || nh > area - LINK_ROOM || (link_block(t, nlink)->size_flags & (F_FREE | F_CACHED)) != F_FREE))
        return allocate_plain(t, size);

    if (nlink)
        link_block(t, nlink)->prev_free = 0;
    else
        unmark_list(t, c);
    t->heads[c] = nlink;
    uint64_t keep = bsize - size < SPLIT_MIN ? bsize : size;
    t->allocations++;
    t->used += keep;
    if (t->used > t->peak_used) t->peak_used = t->used;
    if (keep != bsize) return split_and_hand_out(t, h, keep, bsize, b->size_flags & F_PREV_FREE);
    b->size_flags = bsize | (b->size_flags & F_PREV_FREE);
    next->size_flags &= ~F_PREV_FREE;
    return (void *)((uintptr_t)b + HEADER);
}

/* merge_free for the live block at h of the hint's region, validate_own's
 * checks passed. */
SLOW int merge_free_in_hint(tlsf_t *t, uint64_t h)
{
    rview_t v;
    fill_view(t, hint_slot(t), &v); /* the region free_plain checked the block in */
    return merge_free(t, &v, h);
}

SLOW int free_tagged_general(tlsf_t *t, void *ptr);
/* Where free_quick hands a case it does not take. */
HOT int free_fallback(tlsf_t *t, void *ptr, int tagged)
{
    return tagged ? free_tagged_general(t, ptr) : free_general(t, ptr);
}
/* A live block of the hint's region, not the last (free_block's checks:
 * offset, start bitmap extent, flags; with `tagged`, the tag): pushed on its
 * list when neither neighbour is free (the next block's flags, the list head a
 * link of the region), else merged by merge_free. Anything else: the general
 * path (free_general, or for `tagged` free_tagged_general), which also makes
 * every error. */
HOT int free_quick(tlsf_t *t, void *ptr, int tagged)
{
    const region_t *r = hint_region(t);
    uint64_t rel = slot_rel(r), area = slot_area(r);
    uint64_t link = (uint64_t)((uintptr_t)ptr - (uintptr_t)t) - HEADER, h = link - rel;
    if ((h & 7) || h >= area || area - h <= 2 * HEADER) return free_fallback(t, ptr, tagged);
    block_t *b = link_block(t, link);
    uint64_t size = block_size(b), nh = h + size + OVERHEAD;
    /* The next header lies before the sentinel: area > nh + 16 >= 48 = LINK_ROOM. A
     * size below MIN_BLOCK fails the extent check: no two blocks start closer. */
    if ((b->size_flags & (F_FREE | F_CACHED)) || nh + HEADER >= area || (tagged && !(b->size_flags & F_TAG)))
        return free_fallback(t, ptr, tagged);
    const uint64_t *bits = slot_bits(t, r);
    uint64_t i = start_index(h), n = (size >> ALIGN_LOG2) + 1;
    if (n <= SMALL_EXTENT_MAX ? !small_extent_matches(bits, i, n)
                              : !test_bit(bits, i) || first_start_after(bits, area, i) != i + n)
        return free_fallback(t, ptr, tagged);
    block_t *next = link_block(t, link + size + OVERHEAD);
    if ((next->size_flags & (F_FREE | F_PREV_FREE)) || (b->size_flags & F_PREV_FREE)) return merge_free_in_hint(t, h);
    unsigned c = class_of(size); /* its list */
    uint64_t head = t->heads[c], hh = head - rel;
    if (head && ((hh & 7) || hh > area - LINK_ROOM)) return free_fallback(t, ptr, tagged);

    t->used -= size;
    t->allocations--;
    b->size_flags = size | F_FREE;
    next->prev_size = size;
    next->size_flags |= F_PREV_FREE;
    push_free(t, c, link, b, head);
    return TLSF_OK;
}
SLOW int free_plain(tlsf_t *t, void *ptr) { return free_quick(t, ptr, 0); }
SLOW int free_plain_tagged(tlsf_t *t, void *ptr) { return free_quick(t, ptr, 1); }

void *tlsf_malloc(tlsf_t *t, size_t request)
{
    uint32_t gate = t->cache_gate;
    if (!gate) return malloc_plain(t, request);
    if (gate < GATE_CORRUPTED) {
        if (request <= 2 * SMALL_BLOCK - 8) {
            /* The class of the adjusted size, which holds that size alone (so
             * rounding to it changes nothing, and malloc_plain serves a miss). */
            size_t c = ((size_t)request + 7) >> ALIGN_LOG2;
            c = c < (MIN_BLOCK >> ALIGN_LOG2) ? (MIN_BLOCK >> ALIGN_LOG2) : c;
            uint64_t size = (uint64_t)c << ALIGN_LOG2, link = t->cache[c];
            return link ? pop_small(t, size, link) : malloc_plain(t, request);
        }
        uint64_t size = serve_size(t, request);
        unsigned c = cache_class(size);
        if (size && size <= TLSF_CACHE_MAX && t->cache[c]) return pop_large(t, c, size, t->cache[c]);
    }
    return allocate_plain(t, request);
}

void *tlsf_calloc(tlsf_t *t, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) {
        t->failed++;
        return NULL;
    }
    void *p = allocate_plain(t, count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void *tlsf_memalign(tlsf_t *t, size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1))) return NULL;
    unsigned log2 = find_last_set64(align);
    if (log2 >= 48) {
        t->failed++;
        return NULL;
    }
    return allocate(t, size, log2 <= ALIGN_LOG2 ? 0 : log2);
}

/* tlsf_free without the cache's fast paths. */
SLOW int free_general(tlsf_t *t, void *ptr)
{
    rview_t v;
    if (!ptr) return TLSF_OK; /* free(NULL) fails the quick paths' offset checks: no region ends at 2^64 */
    if (!find_region(t, ptr, &v)) return t->corrupted ? TLSF_ERR_CORRUPTED : TLSF_ERR_FOREIGN;
    return free_block(t, &v, (uint64_t)((uintptr_t)ptr - v.base));
}

int tlsf_free(tlsf_t *t, void *ptr)
{
    uint32_t gate = t->cache_gate;
    if (!gate) return free_plain(t, ptr);
    return gate < GATE_CORRUPTED ? park_free(t, ptr) : free_general(t, ptr);
}

int tlsf_free_at(tlsf_t *t, int region, size_t offset)
{
    rview_t v;
    if (!view_slot(t, region, &v)) return t->corrupted ? TLSF_ERR_CORRUPTED : TLSF_ERR_FOREIGN;
    return free_block(t, &v, offset);
}

void *tlsf_malloc_tagged(tlsf_t *t, size_t size)
{
    void *p = tlsf_malloc(t, size);
    if (p) ((block_t *)((unsigned char *)p - HEADER))->size_flags |= F_TAG;
    return p;
}

/* tlsf_free_tagged without the quick path. */
SLOW int free_tagged_general(tlsf_t *t, void *ptr)
{
    rview_t v;
    if (!ptr) return TLSF_ERR_FOREIGN;
    if (!find_region(t, ptr, &v)) return t->corrupted ? TLSF_ERR_CORRUPTED : TLSF_ERR_FOREIGN;
    return free_block_if(t, &v, (uint64_t)((uintptr_t)ptr - v.base), 1);
}
int tlsf_free_tagged(tlsf_t *t, void *ptr)
{
    return t->cache_gate ? free_tagged_general(t, ptr) : free_plain_tagged(t, ptr);
}

int tlsf_tagged(const tlsf_t *t, int region, size_t offset)
{
    rview_t v;
    uint64_t h;
    if (!view_slot((tlsf_t *)t, region, &v)) return TLSF_ERR_FOREIGN;
    int rc = validate_own(&v, offset, &h);
    if (rc != TLSF_OK) return rc;
    return block_at(&v, h)->size_flags & F_TAG ? TLSF_OK : TLSF_ERR_FOREIGN;
}

int tlsf_set_tag(tlsf_t *t, int region, size_t offset, int tagged)
{
    rview_t v;
    uint64_t h;
    if (!view_slot(t, region, &v)) return TLSF_ERR_FOREIGN;
    int rc = validate_own(&v, offset, &h);
    if (rc != TLSF_OK) return rc;
    block_t *b = block_at(&v, h);
    b->size_flags = tagged ? b->size_flags | F_TAG : b->size_flags & ~F_TAG;
    return TLSF_OK;
}

/* Merge every parked block back, as if it were freed now with no cache. */
static int flush_cache(tlsf_t *t)
{
    if (!t->cache_depth) return TLSF_OK; /* nothing parked; the lists may never have been zeroed */
    for (unsigned c = 0; c < CACHE_CLASSES; c++) {
        while (t->cache[c]) {
            rview_t v;
            uint64_t h;
            if (!unpark_block(t, c, 0, &v, &h)) return TLSF_ERR_CORRUPTED;
            int rc = validate_live(&v, h + HEADER, &h);
            if (rc != TLSF_OK) return fail_corrupted(t), TLSF_ERR_CORRUPTED;
            rc = release_block(t, &v, h); /* counted in used and allocations while parked */
            if (rc != TLSF_OK) return rc;
        }
    }
    return TLSF_OK;
}

int tlsf_flush_cache(tlsf_t *t) { return t->corrupted ? TLSF_ERR_CORRUPTED : flush_cache(t); }

int tlsf_set_cache(tlsf_t *t, unsigned depth)
{
    if (depth > TLSF_CACHE_DEPTH_MAX) return TLSF_ERR_INVALID;
    if (depth < t->cache_depth) {
        int rc = tlsf_flush_cache(t);
        if (rc != TLSF_OK) return rc;
    }
    if (depth && !t->cache_depth) { /* turned on: nothing is parked */
        memset(t->cache, 0, sizeof t->cache);
        memset(t->cache_count, 0, sizeof t->cache_count);
    }
    t->cache_depth = depth;
    set_budget(t);
    t->cache_gate = t->corrupted ? GATE_CORRUPTED : depth;
    return TLSF_OK;
}

int tlsf_realloc(tlsf_t *t, void *ptr, size_t request, void **out)
{
    if (!ptr) {
        *out = tlsf_malloc(t, request);
        return *out ? TLSF_OK : t->corrupted ? TLSF_ERR_CORRUPTED : TLSF_ERR_NOMEM;
    }
    rview_t v;
    uint64_t h;
    if (t->corrupted) return TLSF_ERR_CORRUPTED;
    if (!find_region(t, ptr, &v)) return TLSF_ERR_FOREIGN;
    int rc = validate_live(&v, (uint64_t)((uintptr_t)ptr - v.base), &h);
    if (rc != TLSF_OK) return rc == TLSF_ERR_CORRUPTED ? (fail_corrupted(t), rc) : rc;
    uint64_t size = adjust_request(request);
    if (!size) {
        t->failed++;
        return TLSF_ERR_NOMEM;
    }
    block_t *b = block_at(&v, h);
    uint64_t cur = block_size(b);
    uint64_t nh = h + cur + OVERHEAD;
    block_t *next = block_at(&v, nh);
    if (size > cur && (next->size_flags & F_FREE) && cur + OVERHEAD + block_size(next) >= size) {
        /* Grow in place by absorbing the free successor. */
        if (!remove_free(t, &v, make_link(&v, nh), next)) return TLSF_ERR_CORRUPTED;
        unmark_start(&v, start_index(nh));
        t->blocks--;
        b->size_flags += block_size(next) + OVERHEAD;
        block_at(&v, h + block_size(b) + OVERHEAD)->size_flags &= ~F_PREV_FREE;
    }
    if (size <= block_size(b)) {
        if (!trim_block(t, &v, h, size, 1)) return TLSF_ERR_CORRUPTED;
        t->used = t->used - cur + block_size(b);
        if (t->used > t->peak_used) t->peak_used = t->used;
        *out = ptr;
        return TLSF_OK;
    }
    unsigned align_log2 = (unsigned)(b->size_flags >> ALIGN_SHIFT);
    void *moved = allocate(t, request, align_log2);
    if (!moved) return t->corrupted ? TLSF_ERR_CORRUPTED : TLSF_ERR_NOMEM;
    memcpy(moved, ptr, (size_t)cur);
    rc = release_block(t, &v, h);
    if (rc != TLSF_OK) return rc;
    *out = moved;
    return TLSF_OK;
}

size_t tlsf_usable_size(const tlsf_t *t, const void *ptr)
{
    rview_t v;
    uint64_t h;
    if (!ptr || !find_region((tlsf_t *)t, ptr, &v)) return 0;
    return validate_live(&v, (uint64_t)((uintptr_t)ptr - v.base), &h) == TLSF_OK ? (size_t)block_size(block_at(&v, h))
                                                                                 : 0;
}

int tlsf_block_state(const tlsf_t *t, int region, size_t offset)
{
    rview_t v;
    uint64_t h;
    if (!view_slot((tlsf_t *)t, region, &v)) return TLSF_ERR_FOREIGN;
    return validate_own(&v, offset, &h);
}

int tlsf_locate(const tlsf_t *t, const void *ptr, int *region, size_t *offset)
{
    rview_t v;
    if (!find_region((tlsf_t *)t, ptr, &v)) return TLSF_ERR_FOREIGN;
    *region = (int)v.index;
    *offset = (size_t)((uintptr_t)ptr - v.base);
    return TLSF_OK;
}

void *tlsf_pointer(const tlsf_t *t, int region, size_t offset)
{
    rview_t v;
    if (!view_slot((tlsf_t *)t, region, &v) || offset >= v.area) return NULL;
    return (void *)(v.base + offset);
}

int tlsf_is_corrupted(const tlsf_t *t) { return t->corrupted; }

/* used and allocations count parked blocks too (see struct tlsf): the live part. */
static uint64_t live_bytes(const tlsf_t *t) { return t->used >= t->cached_bytes ? t->used - t->cached_bytes : 0; }
/* O(size classes) with the cache on: the count of parked blocks is kept per class only. */
static uint64_t live_blocks(const tlsf_t *t)
{
    uint64_t parked = 0;
    for (unsigned c = 0; t->cache_depth && c < CACHE_CLASSES; c++) parked += t->cache_count[c];
    return t->allocations >= parked ? t->allocations - parked : 0;
}

size_t tlsf_used_bytes(const tlsf_t *t) { return (size_t)live_bytes(t); }

/* ---- inspection ---------------------------------------------------------- */

void tlsf_get_stats(const tlsf_t *t, tlsf_stats_t *out)
{
    out->area = (size_t)t->area;
    out->used = (size_t)live_bytes(t);
    out->peak_used = (size_t)t->peak_used;
    out->free = (size_t)(free_of(t) + t->cached_bytes);
    out->cached = (size_t)t->cached_bytes;
    out->allocations = (size_t)live_blocks(t);
    out->failed_allocations = (size_t)t->failed;
    out->regions = t->region_count;
    out->largest_free = 0;
    if (!t->fl_bitmap) return;
    unsigned fl = find_last_set64(t->fl_bitmap);
    if (fl >= FL_COUNT || !t->sl_bitmap[fl]) return;
    uint64_t link = t->heads[fl * SL_COUNT + find_last_set64(t->sl_bitmap[fl])];
    /* Bounded by the number of free blocks the pool can hold; the back links
     * must chain (head first), so a damaged list cannot cycle. */
    for (uint64_t steps = 0, prev = 0; link && steps <= t->area / SPLIT_MIN; steps++) {
        if (!link_is_sane(t, link, F_FREE)) break;
        const block_t *b = link_block(t, link);
        if (b->prev_free != prev) break;
        if (block_size(b) > out->largest_free) out->largest_free = (size_t)block_size(b);
        prev = link;
        link = b->next_free;
    }
}

/* What a walk of the physical chains adds up. */
typedef struct walk_totals {
    uint64_t used, free, cached, used_blocks, free_blocks, cached_blocks, blocks;
} walk_totals_t;

/* The physical chain of region ri, each block bounds-checked and passed to
 * walker: why the chain is broken, or NULL when it is intact. With `whole`
 * (tlsf_check), also the start bitmap and its summary against the chain, which
 * reads all of them: O(area / 512), where a walk is O(blocks) and reads only
 * the bitmap words of block starts (memory follows use). */
static const char *walk_region(const tlsf_t *t, unsigned ri, tlsf_walker walker, void *user, walk_totals_t *sum,
                               int *stopped, int whole)
{
    rview_t v;
    if (!view_region((tlsf_t *)t, ri, &v)) return "region slot is empty";
    uint64_t h = 0, prev_free = 0, prev_size = 0, blocks = 0;
    const uint64_t sentinel = v.area - HEADER;
    while (h < sentinel) {
        const block_t *b = block_at(&v, h);
        uint64_t size = block_size(b);
        int is_free = (int)(b->size_flags & F_FREE), is_cached = (b->size_flags & F_CACHED) != 0;
        if (!size_in_range(&v, h, size)) return "block size out of range";
        if (!test_bit(v.bits, start_index(h))) return "block start missing from the start bitmap";
        if (!!(b->size_flags & F_PREV_FREE) != !!prev_free)
            return "previous-free flag disagrees with the previous block";
        if (prev_free && b->prev_size != prev_size) return "prev_size disagrees with the previous free block";
        if (prev_free && is_free) return "two adjacent free blocks";
        if (is_free && (b->size_flags >> ALIGN_SHIFT)) return "free block with alignment bits";
        if (is_free && (b->size_flags & F_TAG)) return "free block with a tag";
        if (is_free && is_cached) return "block both free and cached";
        if (is_free) {
            sum->free += size;
            sum->free_blocks++;
        } else if (is_cached) {
            sum->cached += size;
            sum->cached_blocks++;
        } else {
            sum->used += size;
            sum->used_blocks++;
        }
        blocks++;
        if (walker && !*stopped) {
            tlsf_block_info_t info = {(int)ri, (size_t)(h + HEADER), (size_t)size, !is_free && !is_cached};
            if (walker(&info, user)) *stopped = 1;
        }
        prev_free = (uint64_t)is_free;
        prev_size = size;
        h += size + OVERHEAD;
    }
    if (h != sentinel) return "physical chain overruns the sentinel";
    const block_t *s = block_at(&v, sentinel);
    if (block_size(s) != 0 || (s->size_flags & F_FREE)) return "sentinel damaged";
    if (!!(s->size_flags & F_PREV_FREE) != !!prev_free) return "sentinel's previous-free flag is wrong";
    if (prev_free && s->prev_size != prev_size) return "sentinel's prev_size is wrong";
    sum->blocks += blocks;
    if (!whole) return NULL;
    uint64_t words = start_words(v.area), bits = 0;
    for (uint64_t i = 0; i < words; i++) bits += count_bits64(v.bits[i]);
    if (bits != blocks) return "start bitmap has bits that start no block";
    for (uint64_t w = 0; w < (words + 63) / 64 * 64; w++)
        if (test_bit(summary_of(&v), w) != (w < words && v.bits[w] != 0))
            return "start bitmap summary disagrees with it";
    return NULL;
}

int tlsf_walk(const tlsf_t *t, tlsf_walker walker, void *user)
{
    walk_totals_t sum = {0};
    int stopped = 0;
    for (unsigned i = 0, n = slot_limit(t); i < n && !stopped; i++)
        if (t->regions[i].area && walk_region(t, i, walker, user, &sum, &stopped, 0)) return TLSF_ERR_CORRUPTED;
    return TLSF_OK;
}

/* One step of a walk along list c: the block `link` names, whose list
 * predecessor is `back` (0 for the head), checked before anything follows it
 * (a live region's block start, free, in list c, its back link), with
 * *budget blocks left before the walk has seen more than the pool holds (a
 * cycle). NULL and its view and header offset, or what is wrong. */
static const char *listed_block(const tlsf_t *t, unsigned c, uint64_t link, uint64_t back, uint64_t *budget, rview_t *v,
                                uint64_t *h)
{
    if (*budget == 0) return "free lists hold more blocks than the regions (a cycle?)";
    --*budget;
    if (!view_link((tlsf_t *)t, link, v, h) || !test_bit(v->bits, start_index(*h)) ||
        (block_at(v, *h)->size_flags & (F_FREE | F_CACHED)) != F_FREE)
        return "free-list link points at no free block";
    const block_t *b = block_at(v, *h);
    if (class_of(block_size(b)) != c) return "free block in the wrong list";
    if (b->prev_free != back) return "free-list back link is wrong";
    return NULL;
}

int tlsf_walk_free(const tlsf_t *t, tlsf_walker walker, void *user)
{
    uint64_t budget = t->blocks;
    for (unsigned c = 0; c < FL_COUNT * SL_COUNT; c++) {
        for (uint64_t link = t->heads[c], back = 0; link;) {
            rview_t v;
            uint64_t h;
            if (listed_block(t, c, link, back, &budget, &v, &h)) return TLSF_ERR_CORRUPTED;
            const block_t *b = block_at(&v, h);
            uint64_t size = block_size(b), next = b->next_free;
            if (!free_tag_matches(&v, h, size)) return TLSF_ERR_CORRUPTED; /* the walker may write up to the tag */
            tlsf_block_info_t info = {(int)v.index, (size_t)(h + HEADER), (size_t)size, 0};
            if (walker(&info, user)) return TLSF_OK;
            back = link;
            link = next;
        }
    }
    return TLSF_OK;
}

void tlsf_free_spare(const tlsf_block_info_t *block, tlsf_spare_t *out)
{
    size_t u = block->offset, size = block->size;
    int spare = size > TLSF_FREE_LINK_BYTES + TLSF_FREE_TAG_BYTES;
    out->from = u + TLSF_FREE_LINK_BYTES;
    out->to = spare ? u + size - TLSF_FREE_TAG_BYTES : out->from;
    /* Start bits of user offsets u + 8 .. u + size are 0 (the next block's is
     * u + size + 8): bit v / 8 for user offset v, so bytes ceil((u + 8) / 64) on,
     * below floor((u + size + 8) / 64). */
    const size_t per_byte = (size_t)8 << ALIGN_LOG2;
    out->bitmap_from = (u + ((size_t)1 << ALIGN_LOG2) + per_byte - 1) / per_byte;
    size_t end = (u + size + ((size_t)1 << ALIGN_LOG2)) / per_byte;
    out->bitmap_to = end > out->bitmap_from ? end : out->bitmap_from;
}

static const char *check_free_lists(const tlsf_t *t, uint64_t free_blocks)
{
    uint64_t budget = free_blocks;
    if (t->fl_bitmap >> FL_COUNT) return "first-level bitmap has bits beyond the last list";
    for (unsigned fl = 0; fl < FL_COUNT; fl++) {
        if (!!(t->fl_bitmap & ((uint64_t)1 << fl)) != !!t->sl_bitmap[fl])
            return "first-level bitmap disagrees with second level";
        for (unsigned sl = 0; sl < SL_COUNT; sl++) {
            unsigned c = fl * SL_COUNT + sl;
            uint64_t link = t->heads[c], back = 0;
            if (!!(t->sl_bitmap[fl] & ((uint32_t)1 << sl)) != !!link)
                return "second-level bitmap disagrees with a list head";
            while (link) {
                rview_t v;
                uint64_t h;
                const char *why = listed_block(t, c, link, back, &budget, &v, &h);
                if (why) return why;
                back = link;
                link = block_at(&v, h)->next_free;
            }
        }
    }
    if (budget) return "a free block is missing from the free lists";
    return NULL;
}

static const char *check_cache(const tlsf_t *t, const walk_totals_t *sum)
{
    uint64_t listed = 0, bytes = 0;
    for (unsigned c = 0; t->cache_depth && c < CACHE_CLASSES; c++) {
        uint64_t count = 0;
        for (uint64_t link = t->cache[c]; link; count++) {
            if (!link_is_sane(t, link, F_CACHED)) return "cache link points at no cached block";
            const block_t *b = link_block(t, link);
            if (cache_class(block_size(b)) != c) return "cached block in the wrong cache list";
            if (++listed > sum->cached_blocks) return "cache lists hold more blocks than the regions (a cycle?)";
            bytes += block_size(b);
            link = b->next_free;
        }
        if (count != t->cache_count[c] || count > t->cache_depth) return "cache count disagrees with its list";
    }
    if (listed != sum->cached_blocks) return "a cached block is missing from the cache lists";
    if (bytes != t->cached_bytes || sum->cached != bytes) return "cached-bytes statistics disagree with the walk";
    if (bytes > t->cache_budget || t->cache_budget != t->area / 4) return "cache holds more than its budget";
    if (t->small_depth > t->cache_depth || t->small_reserve != (uint64_t)t->small_depth * SMALL_CLASS_BYTES ||
        t->small_reserve > t->cache_budget / 2)
        return "cache's small-class share out of its budget";
    return NULL;
}

int tlsf_check(const tlsf_t *t, const char **why)
{
    const char *reason = NULL;
    walk_totals_t sum = {0};
    int stopped = 0;
    uint64_t area = 0, regions = 0;
    if (!t || t->magic != TLSF_MAGIC) reason = "not a TLSF control structure";
    for (unsigned i = 0; !reason && i < TLSF_MAX_REGIONS; i++) {
        const region_t *r = &t->regions[i];
        if (!r->area) continue;
        if (i >= t->region_hwm)
            reason = "region beyond the high-water mark";
        else if (tlsf_region_max_alloc((size_t)r->area) == 0 || ((r->base_off | r->bitmap_off) & 7))
            reason = "region slot damaged";
        else
            reason = walk_region(t, i, NULL, NULL, &sum, &stopped, 1);
        area += t->regions[i].area;
        regions++;
    }
    if (!reason) reason = check_free_lists(t, sum.free_blocks);
    if (!reason) reason = check_cache(t, &sum);
    if (!reason && (sum.used + sum.cached != t->used || sum.used_blocks + sum.cached_blocks != t->allocations))
        reason = "used-bytes statistics disagree with the walk";
    if (!reason && (sum.used_blocks + sum.free_blocks + sum.cached_blocks != t->blocks || sum.free != free_of(t)))
        reason = "block-count statistics disagree with the walk";
    if (!reason && (area != t->area || regions != t->region_count))
        reason = "region statistics disagree with the region table";
    if (!reason && t->peak_used < t->used) reason = "peak below current use";
    if (!reason && ((t->region_hint & ~HINT_MASK) || t->cache_depth > TLSF_CACHE_DEPTH_MAX))
        reason = "region hint or cache depth out of range";
    if (why) *why = reason;
    return reason ? TLSF_ERR_CORRUPTED : TLSF_OK;
}

/* ---- repair ---------------------------------------------------------------- */

/* Is [off, off + len) inside (control end, span] without wrapping? */
static int span_holds(uint64_t off, uint64_t len, uint64_t span)
{
    return off >= sizeof(struct tlsf) && off <= span && len <= span - off;
}

/* Do [a, a + alen) and [b, b + blen) overlap? */
static int ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) { return a < b + blen && b < a + alen; }

/* Check that every used region slot below `slots` names memory inside the
 * span, aligned, overlapping nothing else. Reads the region table only. */
static int validate_region_table(const tlsf_t *t, uint64_t span, unsigned slots)
{
    for (unsigned i = 0; i < slots; i++) {
        const region_t *r = &t->regions[i];
        if (!r->area) continue;
        uint64_t bm = tlsf_bitmap_size((size_t)r->area);
        if (tlsf_region_max_alloc((size_t)r->area) == 0 || !span_holds(r->base_off, r->area, span) ||
            !span_holds(r->bitmap_off, bm, span) || (r->bitmap_off & 7) ||
            (((uintptr_t)t + (uintptr_t)r->base_off) & (TLSF_REGION_ALIGN - 1)) ||
            ranges_overlap(r->base_off, r->area, r->bitmap_off, bm))
            return 0;
        for (unsigned j = 0; j < i; j++) {
            const region_t *q = &t->regions[j];
            if (!q->area) continue;
            uint64_t qbm = tlsf_bitmap_size((size_t)q->area);
            if (ranges_overlap(r->base_off, r->area, q->base_off, q->area) ||
                ranges_overlap(r->base_off, r->area, q->bitmap_off, qbm) ||
                ranges_overlap(r->bitmap_off, bm, q->base_off, q->area) ||
                ranges_overlap(r->bitmap_off, bm, q->bitmap_off, qbm))
                return 0;
        }
    }
    return 1;
}

/* Is t a control structure at the start of a span of `span` bytes? A damaged
 * magic marks it corrupted (the word it writes is inside the span). */
static int control_in_span(tlsf_t *t, size_t span)
{
    if (!t || span < sizeof(struct tlsf)) return 0;
    return t->magic == TLSF_MAGIC ? 1 : fail_corrupted(t);
}

/* The region table passed: keep the hint below the high-water mark (the fast paths use its slot). */
static int keep_hint_in_use(tlsf_t *t)
{
    if ((t->region_hint & ~HINT_MASK) || hint_slot(t) >= slot_limit(t)) t->region_hint = 0;
    return TLSF_OK;
}

/* tlsf_check_regions_since when the table differs from what was seen: validate, remember. */
SLOW int check_regions_again(tlsf_t *t, size_t span, tlsf_regions_seen_t *seen, unsigned n)
{
    if (!validate_region_table(t, span, n)) return fail_corrupted(t), TLSF_ERR_CORRUPTED;
    seen->slots = n;
    seen->span = span;
    for (unsigned i = 0; i < n; i++) {
        const region_t *r = &t->regions[i];
        seen->words[i][0] = r->base_off;
        seen->words[i][1] = r->bitmap_off;
        seen->words[i][2] = r->area;
    }
    return keep_hint_in_use(t);
}

int tlsf_check_regions_since(tlsf_t *t, size_t span, tlsf_regions_seen_t *seen)
{
    if (!control_in_span(t, span)) return TLSF_ERR_CORRUPTED;
    unsigned n = slot_limit(t);
    int same = seen->slots == n && seen->span == span && n > 0;
    for (unsigned i = 0; same && i < n; i++) {
        const region_t *r = &t->regions[i];
        same = seen->words[i][0] == r->base_off && seen->words[i][1] == r->bitmap_off && seen->words[i][2] == r->area;
    }
    return same ? keep_hint_in_use(t) : check_regions_again(t, span, seen, n);
}

int tlsf_check_regions(tlsf_t *t, size_t span)
{
    if (!control_in_span(t, span)) return TLSF_ERR_CORRUPTED;
    if (!validate_region_table(t, span, slot_limit(t))) return fail_corrupted(t), TLSF_ERR_CORRUPTED;
    return keep_hint_in_use(t);
}

/* Close the run of free blocks [run_h, run_h + run_size + OVERHEAD) whose
 * physical successor is at nh: one free block, listed. */
static void close_free_run(tlsf_t *t, const rview_t *v, uint64_t run_h, uint64_t run_size, uint64_t nh)
{
    block_t *b = block_at(v, run_h);
    b->size_flags = run_size | F_FREE;
    mark_start(v, start_index(run_h));
    block_t *next = block_at(v, nh);
    next->prev_size = run_size;
    next->size_flags |= F_PREV_FREE;
    t->blocks++;
    insert_free(t, v, make_link(v, run_h), b, run_size);
}

/* Rebuild one region from its physical chain (see tlsf_repair). 0 when the
 * chain is broken. */
static int repair_region(tlsf_t *t, unsigned ri)
{
    rview_t v;
    if (!view_region(t, ri, &v)) return 0;
    const uint64_t sentinel = v.area - HEADER;
    /* First pass: the chain must be intact before anything is rewritten. */
    uint64_t h = 0;
    while (h < sentinel) {
        uint64_t size = block_size(block_at(&v, h));
        if (!size_in_range(&v, h, size)) return 0;
        h += size + OVERHEAD;
    }
    if (h != sentinel) return 0;
    memset(v.bits, 0, tlsf_bitmap_size((size_t)v.area));
    uint64_t run_h = 0, run_size = 0;
    int in_run = 0;
    for (h = 0; h < sentinel;) {
        block_t *b = block_at(&v, h);
        uint64_t size = block_size(b), nh = h + size + OVERHEAD;
        if (b->size_flags & (F_FREE | F_CACHED)) {
            if (in_run) {
                run_size += size + OVERHEAD; /* merged into the run: starts no block */
            } else {
                in_run = 1;
                run_h = h;
                run_size = size;
            }
        } else {
            b->size_flags &= ~(F_FREE | F_CACHED | F_PREV_FREE);
            if (in_run) {
                close_free_run(t, &v, run_h, run_size, h); /* sets b's F_PREV_FREE */
                in_run = 0;
            }
            mark_start(&v, start_index(h));
            t->allocations++;
            t->blocks++;
            t->used += size;
        }
        h = nh;
    }
    block_t *s = block_at(&v, sentinel);
    s->size_flags = 0;
    if (in_run) close_free_run(t, &v, run_h, run_size, sentinel);
    return 1;
}

int tlsf_repair(tlsf_t *t, size_t span)
{
    if (!t || t->magic != TLSF_MAGIC || span < sizeof(struct tlsf)) return TLSF_ERR_CORRUPTED;
    if (!validate_region_table(t, span, TLSF_MAX_REGIONS)) { /* repair may raise the high-water mark */
        fail_corrupted(t);
        return TLSF_ERR_CORRUPTED;
    }
    t->fl_bitmap = 0;
    memset(t->sl_bitmap, 0, sizeof t->sl_bitmap);
    memset(t->heads, 0, sizeof t->heads);
    memset(t->cache, 0, sizeof t->cache);
    memset(t->cache_count, 0, sizeof t->cache_count);
    if (t->cache_depth > TLSF_CACHE_DEPTH_MAX) t->cache_depth = 0;
    t->cached_bytes = 0;
    t->region_count = 0;
    t->region_hwm = 0;
    t->region_hint = 0;
    t->area = 0;
    t->used = 0;
    t->blocks = 0;
    t->allocations = 0;
    for (unsigned i = 0; i < TLSF_MAX_REGIONS; i++) {
        if (!t->regions[i].area) continue;
        t->region_count++;
        t->region_hwm = i + 1;
        t->area += t->regions[i].area;
    }
    set_budget(t);
    for (unsigned i = 0; i < t->region_hwm; i++) {
        if (t->regions[i].area && !repair_region(t, i)) {
            fail_corrupted(t);
            return TLSF_ERR_CORRUPTED;
        }
    }
    if (t->peak_used < t->used) t->peak_used = t->used;
    t->corrupted = 0;
    t->cache_gate = t->cache_depth;
    return TLSF_OK;
}
