/*
 * shm_pool.c — Melon-style shared-memory pool. See shm_pool.h for the contract.
 *
 * Unlike mln_alloc_shm_init, the lock is built in (robust, process-shared),
 * the segment can be attached by unrelated processes (name or fd), every link
 * is an offset, and the capacity arithmetic cannot underflow.
 */
#include "shm_pool.h"

#include "shm_lock.h"
#include "tlsf.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SHM_MAGIC ((uint64_t)0x4c4f4f504d485321ULL) /* "!SHMPOOL" */
#define LAYOUT_ALIGN 64u
#define AREA_ALIGN 4096u /* the block area starts page-aligned */
#define GRANULE_SHIFT 16 /* lent chunks: 64 KiB granules (HEAP_POOL_GRANULE) */
#define GRANULE ((uint64_t)1 << GRANULE_SHIFT)
#define LENT_MAPPED ((uint64_t)1 << 32) /* lent map entry: pid in bits 0..31, this flag, */
#define LENT_BACK_SHIFT 33              /* and the back distance above */
#define INIT_WAIT_MS 2000
#define PENDING_LEND 1u
#define PENDING_UNLEND 2u /* open: how long to wait for a creator still formatting */

/* One roots entry. Invariant: used is 0 or 1; a used entry's key is a
 * NUL-terminated string of 1..SHM_POOL_KEY_MAX bytes and offset < segment size.
 * `used` is written last when an entry is added, first when removed. */
typedef struct shm_root {
    char key[SHM_POOL_KEY_MAX + 1];
    uint64_t offset;
    uint64_t used;
} shm_root_t;

/* One park record: the park list of one attached process's cache (see
 * "parked blocks" in shm_pool.h). Invariant: pid 0 means free, and then list
 * and reserved are 0; otherwise list is the segment offset of a live block
 * holding the list. `list` is written before `pid` when a record is taken,
 * and pid is cleared after the list went back. */
typedef struct shm_park {
    uint32_t pid;
    uint32_t reserved;
    uint64_t list;
} shm_park_t;

/* The header at offset 0 of the segment. Invariants (checked on attach):
 * header_size <= control_offset, control + control_size <= bitmap_offset,
 * bitmap + bitmap_size <= lent_offset, lent + lent_size <= area_offset,
 * area_offset + area_size <= segment_size, control/bitmap/lent offsets
 * 64-aligned, area_offset page-aligned (AREA_ALIGN), bitmap_size ==
 * tlsf_bitmap_size(area_size), lent_size == 8 * lent_granules(area).
 *
 * The lent map has one 64-bit entry per 64 KiB granule of the segment that the
 * area touches (granule g covers segment offsets [g << 16, (g + 1) << 16);
 * entry i is granule (area_offset >> 16) + i). Entry 0: the granule is in no
 * lent chunk. Otherwise bits 0..31 are the pid of the process that borrowed
 * the chunk, bit 32 (LENT_MAPPED) is set when shm_pool_map_chunk took it for a
 * heap pool (then only shm_pool_unmap_chunk gives it back, never a plain
 * shm_pool_unlend), and bits 33..63 are the distance in granules back to the
 * chunk's first granule (0 at the first one). A lent chunk is a live TLSF
 * block that starts on a granule; every granule of its usable size is marked
 * with the same pid and flag. Marks are written last-granule-first (the first granule last) when
 * lending and first-granule-first when returning, so a process killed half-way
 * leaves at most orphan marks, which recovery clears (repair_lent_map). */
typedef struct shm_header {
    uint64_t magic; /* written last by the creator */
    uint32_t version;
    uint32_t header_size;
    uint64_t segment_size;
    uint64_t control_offset, control_size;
    uint64_t bitmap_offset, bitmap_size;
    uint64_t lent_offset, lent_size;
    uint64_t area_offset, area_size;
    uint64_t lent_chunks, lent_bytes;         /* totals of the lent map (rebuilt on recovery) */
    uint64_t pending_op;                      /* PENDING_LEND / PENDING_UNLEND while marks change, else 0 */
    uint64_t pending_offset;                  /* the chunk they concern (written before pending_op) */
    uint64_t generation;                      /* recoveries of the allocator lock */
    uint32_t corrupted;                       /* sticky: an unrepairable state was found */
    uint32_t creator_pid;                     /* the process that created the segment */
    uint64_t created_ms;                      /* when (Unix time, ms) */
    uint32_t alloc_lock;                      /* shm_lock word: allocator, roots, park records */
    uint32_t user_lock;                       /* shm_lock word: shm_pool_lock */
    uint32_t attached[SHM_POOL_ATTACH_SLOTS]; /* pids of attached handles (0: free; see attach_record) */
    shm_root_t roots[SHM_POOL_ROOTS];
    shm_park_t parks[SHM_POOL_PARKS]; /* park records (see shm_park_t) */
} shm_header_t;

/* A span: one lent block of SPAN_GRANULES granules from which this process
 * carves the small chunks its heap pools ask for (so a 64 KiB chunk does not
 * cost a 64 KiB alignment gap in the segment each). Invariant: `used` has a bit
 * per granule handed out; a span whose last granule comes back is unlent. */
#define SPAN_GRANULES 16u
#define SPAN_MAX_RUN 8u /* chunks above 8 granules (512 KiB) are lent on their own */
typedef struct lend_span {
    uint64_t offset; /* segment offset of the span (a lent chunk start) */
    uint32_t used;   /* bit i: granule i is a chunk's */
    struct lend_span *next;
} lend_span_t;

/* The C tests damage fields at these offsets (test_shm_pool.c). */
_Static_assert(offsetof(shm_header_t, lent_offset) == 56 && offsetof(shm_header_t, area_offset) == 72 &&
                   offsetof(shm_header_t, corrupted) == 128 && offsetof(shm_header_t, alloc_lock) == 144 &&
                   offsetof(shm_header_t, user_lock) == 148 && offsetof(shm_header_t, parks) % 8 == 0,
               "shm_header_t layout changed: update test_shm_pool.c and test_shm_hostile.c");

/* Process-local handle. spans belong to spans_pid: a fork()ed child that
 * inherits the handle starts with none (the inherited ones are its parent's). */
struct shm_pool {
    int fd;
    unsigned char *base;
    size_t size;
    shm_header_t *h;
    tlsf_t *t;
    char *name;
    lend_span_t *spans;
    pid_t spans_pid;
    /* The layout, copied from the header once it was validated (or planned):
     * the header's copy is writable by every process, so it is never read
     * again (check() compares the two). */
    uint64_t control_offset, bitmap_offset, lent_offset, area_offset, area_size;
    uint32_t lock_timeout_ms; /* allocator lock (shm_pool_set_lock_timeout) */
    int attach_slot;          /* index in h->attached, -1: none */
    int wait_for_creator;     /* attach: a segment without its magic may still be being formatted */
    tlsf_regions_seen_t seen; /* the region table as this process last validated it (lock_allocator) */
};

/* ---- small helpers ---------------------------------------------------------- */

static void attach_record(shm_pool_t *p);

static uint64_t round_up(uint64_t x, uint64_t a) { return (x + a - 1) & ~(a - 1); }

static int is_aligned(uint64_t x, uint64_t a) { return (x & (a - 1)) == 0; }

/* Map a TLSF status onto ours. */
static int map_tlsf(int rc)
{
    switch (rc) {
    case TLSF_OK:
        return SHM_POOL_OK;
    case TLSF_ERR_FOREIGN:
        return SHM_POOL_ERR_FOREIGN;
    case TLSF_ERR_DOUBLE_FREE:
        return SHM_POOL_ERR_DOUBLE_FREE;
    case TLSF_ERR_NOMEM:
        return SHM_POOL_ERR_NOMEM;
    case TLSF_ERR_INVALID:
        return SHM_POOL_ERR_INVALID;
    default:
        return SHM_POOL_ERR_CORRUPTED;
    }
}

int shm_pool_name_valid(const char *name)
{
    if (!name || name[0] != '/') return 0;
    size_t n = strnlen(name, SHM_POOL_NAME_MAX + 1);
    if (n < 2 || n > SHM_POOL_NAME_MAX) return 0;
    return strchr(name + 1, '/') == NULL;
}

/* Bytes of lent map an area of `area` bytes needs: one entry per granule it can
 * touch wherever it starts (area / 64 KiB + 2 is an upper bound). */
static uint64_t lent_size_for(uint64_t area) { return ((area >> GRANULE_SHIFT) + 2) * 8; }

/* Granules an area at [area_offset, area_offset + area) touches. */
static uint64_t lent_granules(uint64_t area_offset, uint64_t area)
{
    return ((area_offset + area + GRANULE - 1) >> GRANULE_SHIFT) - (area_offset >> GRANULE_SHIFT);
}

/* Fill h with the layout of an area of `area` bytes; nonzero when it fits in `size`. */
static int layout_area(uint64_t size, uint64_t area, shm_header_t *h)
{
    uint64_t ctl = round_up(sizeof(shm_header_t), LAYOUT_ALIGN);
    uint64_t bm = round_up(ctl + tlsf_control_size(), LAYOUT_ALIGN);
    uint64_t bsize = tlsf_bitmap_size((size_t)area);
    if (area < TLSF_REGION_MIN || !bsize || !tlsf_region_max_alloc((size_t)area)) return 0;
    uint64_t lent = round_up(bm + bsize, LAYOUT_ALIGN);
    uint64_t aoff = round_up(lent + lent_size_for(area), AREA_ALIGN);
    if (aoff > size || area > size - aoff) return 0;
    h->control_offset = ctl;
    h->control_size = tlsf_control_size();
    h->bitmap_offset = bm;
    h->bitmap_size = bsize;
    h->lent_offset = lent;
    h->lent_size = lent_size_for(area);
    h->area_offset = aoff;
    h->area_size = area;
    return 1;
}

/* Compute the layout of a segment of `size` bytes into h: the largest area
 * (a multiple of 64) that fits. 0 if too small. */
static int plan_layout(uint64_t size, shm_header_t *h)
{
    uint64_t fixed = round_up(round_up(sizeof(shm_header_t), LAYOUT_ALIGN) + tlsf_control_size(), LAYOUT_ALIGN) +
                     2 * AREA_ALIGN + 4 * LAYOUT_ALIGN;
    /* area * (1 + 1/64 + 1/8192) for the area, its start bitmap and its lent map. */
    uint64_t area = size > fixed ? ((size - fixed) * 8192 / (8192 + 128 + 1)) & ~(uint64_t)(LAYOUT_ALIGN - 1) : 0;
    if (area < TLSF_REGION_MIN) area = TLSF_REGION_MIN;
    while (area > TLSF_REGION_MIN && !layout_area(size, area, h)) area -= LAYOUT_ALIGN;
    if (!layout_area(size, area, h)) return 0;
    while (layout_area(size, area + LAYOUT_ALIGN, h)) area += LAYOUT_ALIGN;
    return layout_area(size, area, h);
}

size_t shm_pool_min_size(void)
{
    uint64_t bm = round_up(round_up(sizeof(shm_header_t), LAYOUT_ALIGN) + tlsf_control_size(), LAYOUT_ALIGN);
    uint64_t lent = round_up(bm + tlsf_bitmap_size(TLSF_REGION_MIN), LAYOUT_ALIGN);
    return (size_t)(round_up(lent + lent_size_for(TLSF_REGION_MIN), AREA_ALIGN) + TLSF_REGION_MIN);
}

/* Does [off, off + len) lie inside [0, size) without wrapping? */
static int range_inside(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

/* Validate a header read from a mapping of map_size bytes. Reads only the
 * header (the caller made sure the mapping holds one). */
static const char *validate_header(const shm_header_t *h, uint64_t map_size)
{
    if (h->magic != SHM_MAGIC) return "bad magic";
    if (h->version != SHM_POOL_VERSION) return "unsupported version";
    if (h->header_size != sizeof(shm_header_t)) return "header size mismatch";
    if (h->segment_size != map_size) return "segment size disagrees with the file size";
    if (h->control_size != tlsf_control_size()) return "allocator control size mismatch";
    if (!is_aligned(h->control_offset, LAYOUT_ALIGN) || !is_aligned(h->bitmap_offset, LAYOUT_ALIGN) ||
        !is_aligned(h->lent_offset, LAYOUT_ALIGN) || !is_aligned(h->area_offset, AREA_ALIGN))
        return "misaligned offset";
    if (h->control_offset < h->header_size || !range_inside(h->control_offset, h->control_size, map_size))
        return "control structure out of range";
    if (h->bitmap_offset < h->control_offset + h->control_size ||
        !range_inside(h->bitmap_offset, h->bitmap_size, map_size))
        return "bitmap out of range";
    if (h->lent_offset < h->bitmap_offset + h->bitmap_size || !range_inside(h->lent_offset, h->lent_size, map_size))
        return "lent map out of range";
    if (h->area_offset < h->lent_offset + h->lent_size || !range_inside(h->area_offset, h->area_size, map_size))
        return "area out of range";
    if (h->lent_size != lent_size_for(h->area_size)) return "lent map size invalid";
    if (h->area_size > SIZE_MAX || tlsf_region_max_alloc((size_t)h->area_size) == 0 ||
        h->bitmap_size != tlsf_bitmap_size((size_t)h->area_size))
        return "area or bitmap size invalid";
    if (!shm_lock_word_valid(h->alloc_lock) || !shm_lock_word_valid(h->user_lock)) return "lock word damaged";
    if (h->corrupted) return "segment marked corrupted";
    return NULL;
}

/* Take the layout of a validated (or planned) header into the handle. */
static void adopt_layout(shm_pool_t *p, const shm_header_t *h)
{
    p->control_offset = h->control_offset;
    p->bitmap_offset = h->bitmap_offset;
    p->lent_offset = h->lent_offset;
    p->area_offset = h->area_offset;
    p->area_size = h->area_size;
}

/* Does the header still hold the layout this process validated? (Every lock
 * asks: one branch.) */
static inline int layout_unchanged(const shm_pool_t *p)
{
    const shm_header_t *h = p->h;
    return ((h->control_offset ^ p->control_offset) | (h->bitmap_offset ^ p->bitmap_offset) |
            (h->lent_offset ^ p->lent_offset) | (h->area_offset ^ p->area_offset) | (h->area_size ^ p->area_size) |
            (h->segment_size ^ (uint64_t)p->size)) == 0;
}

/* Do the TLSF region table and the header agree? Reads the table only. */
static int region_table_matches(const shm_pool_t *p)
{
    tlsf_region_info_t info;
    if (tlsf_region_info(p->t, 0, &info) != TLSF_OK) return 0;
    if ((unsigned char *)info.base != p->base + p->area_offset || info.area != p->area_size) return 0;
    for (int i = 1; i < TLSF_MAX_REGIONS; i++)
        if (tlsf_region_info(p->t, i, &info) == TLSF_OK) return 0;
    return 1;
}

/* Drop roots entries a dead writer left half-written. */
static void sanitize_roots(shm_pool_t *p)
{
    for (int i = 0; i < SHM_POOL_ROOTS; i++) {
        shm_root_t *r = &p->h->roots[i];
        if (r->used && (r->used != 1 || !memchr(r->key, 0, sizeof r->key) || !r->key[0] || r->offset >= p->size)) {
            r->used = 0;
        } else if (!r->used) {
            memset(r, 0, sizeof *r);
        }
    }
}

/* ---- lent map (see shm_header_t) ------------------------------------------------ */

static uint64_t *lent_map(const shm_pool_t *p) { return (uint64_t *)(p->base + p->lent_offset); }

static uint64_t lent_count(const shm_pool_t *p) { return lent_granules(p->area_offset, p->area_size); }

/* Index in the lent map of the granule holding segment offset `offset` (inside the area). */
static uint64_t lent_index(const shm_pool_t *p, uint64_t offset)
{
    return (offset >> GRANULE_SHIFT) - (p->area_offset >> GRANULE_SHIFT);
}

static uint64_t lent_entry(const shm_pool_t *p, uint64_t offset)
{
    return __atomic_load_n(&lent_map(p)[lent_index(p, offset)], __ATOMIC_RELAXED);
}

static void set_lent_entry(shm_pool_t *p, uint64_t index, uint64_t value)
{
    __atomic_store_n(&lent_map(p)[index], value, __ATOMIC_RELAXED); /* one aligned store: never torn */
}

/* An entry: pid, LENT_MAPPED or 0, distance back to the chunk's first granule. */
static uint64_t make_lent_entry(uint32_t pid, uint64_t mapped, uint64_t back)
{
    return (uint64_t)pid | mapped | back << LENT_BACK_SHIFT;
}

/* Segment offset of the first byte of granule `index` of the lent map. */
static uint64_t granule_offset(const shm_pool_t *p, uint64_t index)
{
    return ((p->area_offset >> GRANULE_SHIFT) + index) << GRANULE_SHIFT;
}

/* Usable size of the live TLSF block at segment offset `offset`, 0 if none. */
static size_t live_tlsf_size(const shm_pool_t *p, uint64_t offset)
{
    if (offset < p->area_offset || offset - p->area_offset >= p->area_size) return 0;
    if (tlsf_block_state(p->t, 0, (size_t)(offset - p->area_offset)) != TLSF_OK) return 0;
    return tlsf_usable_size(p->t, p->base + offset);
}

/* Does entry `index` agree with its chunk: its first granule carries the same
 * pid and flag with distance 0, that granule starts a live block, and the block's
 * usable size covers this granule? Reads the map and the allocator only. */
static int lent_entry_valid(const shm_pool_t *p, uint64_t index)
{
    uint64_t e = lent_map(p)[index];
    uint64_t back = e >> LENT_BACK_SHIFT;
    if (!(uint32_t)e || back > index) return 0;
    uint64_t first = index - back;
    if (lent_map(p)[first] != make_lent_entry((uint32_t)e, e & LENT_MAPPED, 0)) return 0;
    size_t usable = live_tlsf_size(p, granule_offset(p, first));
    return usable >= (back + 1) << GRANULE_SHIFT;
}

/* Clear the marks of the chunk whose first granule is `first` (first granule
 * first); returns the bytes unmarked. The block itself is not freed. */
static uint64_t unmark_chunk(shm_pool_t *p, uint64_t first)
{
    uint64_t e = lent_map(p)[first], n = 0, count = lent_count(p);
    while (first + n < count && lent_map(p)[first + n] == make_lent_entry((uint32_t)e, e & LENT_MAPPED, n))
        set_lent_entry(p, first + n++, 0);
    return n << GRANULE_SHIFT;
}

/* Record (op != 0) or clear the lend/unlend in progress, so recovery can finish it. */
static void set_pending(shm_pool_t *p, uint64_t op, uint64_t offset)
{
    if (op) __atomic_store_n(&p->h->pending_offset, offset, __ATOMIC_RELEASE);
    __atomic_store_n(&p->h->pending_op, op, __ATOMIC_RELEASE);
}

/* tlsf_walk callback: stop at a live block that starts a granule, carries the
 * 64 KiB alignment only lends use, and has no lent mark: the block of a lend
 * whose process died before it recorded the offset. */
typedef struct orphan_search {
    shm_pool_t *p;
    uint64_t found; /* segment offset, 0: none */
} orphan_search_t;

static int find_orphan_lend(const tlsf_block_info_t *b, void *user)
{
    orphan_search_t *s = user;
    uint64_t off = s->p->area_offset + b->offset;
    if (!b->used || b->region != 0 || !is_aligned(off, GRANULE) || lent_entry(s->p, off)) return 0;
    uint64_t header;
    memcpy(&header, s->p->base + off - TLSF_BLOCK_OVERHEAD, sizeof header); /* layout: see tlsf.h */
    if (header >> 58 != GRANULE_SHIFT) return 0;
    s->found = off;
    return 1;
}

/* A lend or unlend its process died in: both end with the chunk released
 * (a lend is undone, an unlend finished). Its first mark goes first; the
 * others are then orphans for repair_lent_map. */
static void finish_pending(shm_pool_t *p)
{
    uint64_t off = p->h->pending_offset;
    if (p->h->pending_op == PENDING_LEND && off == 0) { /* died in tlsf_memalign or right after it */
        orphan_search_t search = {p, 0};
        tlsf_walk(p->t, find_orphan_lend, &search);
        off = search.found;
    }
    if (p->h->pending_op && off && off >= p->area_offset && off - p->area_offset < p->area_size &&
        is_aligned(off, GRANULE)) {
        set_lent_entry(p, lent_index(p, off), 0);
        if (live_tlsf_size(p, off)) tlsf_free_at(p->t, 0, (size_t)(off - p->area_offset));
    }
    set_pending(p, 0, 0);
}

/* Finish a dead process's lend/unlend, clear orphan or inconsistent marks,
 * then recount the totals. O(granules). Allocator consistent (tlsf_repair done). */
static void repair_lent_map(shm_pool_t *p)
{
    uint64_t count = lent_count(p), chunks = 0, bytes = 0;
    finish_pending(p);
    for (uint64_t i = 0; i < count; i++) {
        if (!lent_map(p)[i]) continue;
        if (!lent_entry_valid(p, i)) {
            set_lent_entry(p, i, 0);
            continue;
        }
        bytes += GRANULE;
        if (!(lent_map(p)[i] >> LENT_BACK_SHIFT)) chunks++;
    }
    p->h->lent_chunks = chunks;
    p->h->lent_bytes = bytes;
}

/* Is process `pid` gone? (Not the caller; EPERM means it exists.) */
static int process_gone(uint32_t pid)
{
    if (pid > INT32_MAX) return 1; /* no such pid (and kill would address a process group) */
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Free every chunk lent to a process that no longer exists (allocator lock
 * held). Returns how many were freed. O(granules) plus one kill(pid, 0) per
 * run of chunks of one pid. */
static size_t reclaim_lent_locked(shm_pool_t *p)
{
    uint64_t count = lent_count(p);
    uint32_t self = (uint32_t)getpid(), known = 0;
    int known_gone = 0;
    size_t freed = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t e = lent_map(p)[i];
        uint32_t pid = (uint32_t)e;
        if (!pid || e >> LENT_BACK_SHIFT || pid == self) continue;
        if (pid != known) {
            known = pid;
            known_gone = process_gone(pid);
        }
        if (!known_gone) continue;
        uint64_t off = granule_offset(p, i);
        uint64_t bytes = unmark_chunk(p, i);
        p->h->lent_chunks--;
        p->h->lent_bytes -= bytes;
        tlsf_free_at(p->t, 0, (size_t)(off - p->area_offset));
        freed++;
    }
    return freed;
}

/* ---- park records (see "parked blocks" in shm_pool.h) ------------------------------ */

/* Words of a park list of `stacks` stacks of `depth` slots; 0 if out of bounds. */
static uint64_t park_words(uint64_t stacks, uint64_t depth)
{
    if (!stacks || !depth || stacks > SHM_POOL_PARK_STACKS_MAX || depth > SHM_POOL_PARK_DEPTH_MAX) return 0;
    return SHM_POOL_PARK_COUNTS + stacks + stacks * depth; /* < 2^21: no overflow */
}

/* Is `list` (a record's list offset, read once) a live block, not a lent
 * chunk, that can hold a list header? */
static int park_block_sound(const shm_pool_t *p, uint64_t list)
{
    size_t usable = live_tlsf_size(p, list); /* 0 outside the area */
    return usable >= SHM_POOL_PARK_COUNTS * sizeof(uint32_t) && is_aligned(list, 8) && !lent_entry(p, list);
}

/* A park list's shape, read once from segment memory (its process writes it). */
typedef struct park_shape {
    const uint32_t *words;
    uint32_t stacks, depth;
} park_shape_t;

/* The shape of the list at `list` if its block is sound and the shape written
 * in it fits in it; 0 otherwise. Reads only inside the block. */
static int read_park_list(const shm_pool_t *p, uint64_t list, park_shape_t *out)
{
    if (!park_block_sound(p, list)) return 0;
    const uint32_t *w = (const uint32_t *)(p->base + list);
    out->words = w;
    out->stacks = __atomic_load_n(&w[SHM_POOL_PARK_STACKS], __ATOMIC_RELAXED);
    out->depth = __atomic_load_n(&w[SHM_POOL_PARK_DEPTH], __ATOMIC_RELAXED);
    uint64_t words = park_words(out->stacks, out->depth);
    return words && words <= live_tlsf_size(p, list) / sizeof(uint32_t);
}

/* Call fn(slot, ctx) for every slot a read list holds (each count read once
 * and clamped to the depth, each slot read once), until fn returns 0; returns
 * 0 then, else 1. O(listed blocks). */
static int visit_park_slots(const park_shape_t *shape, int (*fn)(uint32_t slot, void *ctx), void *ctx)
{
    const uint32_t *counts = shape->words + SHM_POOL_PARK_COUNTS;
    const uint32_t *slots = counts + shape->stacks;
    for (uint32_t i = 0; i < shape->stacks; i++) {
        uint32_t n = __atomic_load_n(&counts[i], __ATOMIC_RELAXED);
        if (n > shape->depth) n = shape->depth;
        for (uint32_t j = 0; j < n; j++)
            if (!fn(__atomic_load_n(&slots[(uint64_t)i * shape->depth + j], __ATOMIC_RELAXED), ctx)) return 0;
    }
    return 1;
}

/* Is `off` the list block of a record? */
static int is_park_list(const shm_pool_t *p, uint64_t off)
{
    for (int i = 0; i < SHM_POOL_PARKS; i++)
        if (p->h->parks[i].pid && p->h->parks[i].list == off) return 1;
    return 0;
}

/* Free the block a park slot names, if it is the start of a live block other
 * than the list itself and not a lent chunk (a slot is user-writable memory:
 * anything else, a duplicate included, is skipped). 1 if freed. */
static size_t free_parked(shm_pool_t *p, uint32_t slot, uint64_t list)
{
    uint64_t u = (uint64_t)slot << 3, off = p->area_offset + u;
    if (u >= p->area_size || off == list || lent_entry(p, off) || is_park_list(p, off)) return 0;
    if (tlsf_block_state(p->t, 0, (size_t)u) != TLSF_OK) return 0;
    return tlsf_free_at(p->t, 0, (size_t)u) == TLSF_OK;
}

typedef struct release_ctx {
    shm_pool_t *p;
    uint64_t list;
    size_t freed;
} release_ctx_t;

static int release_slot(uint32_t slot, void *ctx)
{
    release_ctx_t *c = ctx;
    c->freed += free_parked(c->p, slot, c->list);
    return 1;
}

/* Free the blocks record r lists (each count clamped to the depth; none if
 * the shape is bad), then the list block, then clear the record (allocator
 * lock held). Every value is read from the segment once. A holder killed
 * half-way leaves the record for recovery, which finds the freed blocks free
 * and skips them. Returns the parked blocks freed. O(listed blocks). */
static size_t release_park(shm_pool_t *p, shm_park_t *r)
{
    uint64_t list = __atomic_load_n(&r->list, __ATOMIC_RELAXED);
    release_ctx_t c = {p, list, 0};
    park_shape_t shape;
    if (read_park_list(p, list, &shape)) visit_park_slots(&shape, release_slot, &c);
    size_t freed = c.freed;
    if (park_block_sound(p, list)) tlsf_free_at(p->t, 0, (size_t)(list - p->area_offset));
    __atomic_store_n(&r->pid, 0, __ATOMIC_RELEASE);
    r->list = 0;
    r->reserved = 0;
    return freed;
}

/* Clear records a dead writer or damage left inconsistent: a free record with
 * stray fields, a bad pid, a list that is not a sound live block. */
static void sanitize_parks(shm_pool_t *p)
{
    for (int i = 0; i < SHM_POOL_PARKS; i++) {
        shm_park_t *r = &p->h->parks[i];
        if (r->pid && (r->pid > INT32_MAX || r->reserved || !park_block_sound(p, r->list))) r->pid = 0;
        if (!r->pid) memset(r, 0, sizeof *r);
    }
}

/* Release the park records of processes that no longer exist (allocator lock
 * held). Returns the parked blocks freed. O(records + their blocks). */
static size_t reclaim_parks_locked(shm_pool_t *p)
{
    uint32_t self = (uint32_t)getpid();
    size_t freed = 0;
    for (int i = 0; i < SHM_POOL_PARKS; i++) {
        shm_park_t *r = &p->h->parks[i];
        if (r->pid && r->pid != self && process_gone(r->pid)) freed += release_park(p, r);
    }
    return freed;
}

/* The dead-owner sweep: lent chunks and park records of processes that no
 * longer exist. Nonzero when it freed anything. */
static size_t reclaim_dead_locked(shm_pool_t *p)
{
    size_t chunks = p->h->lent_chunks ? reclaim_lent_locked(p) : 0;
    return chunks + reclaim_parks_locked(p);
}

/* Bytes from the TLSF control structure to the end of the area: all the
 * allocator may touch (tlsf_check_regions, tlsf_repair). */
static size_t allocator_span(const shm_pool_t *p)
{
    return (size_t)(p->area_offset + p->area_size - p->control_offset);
}

/* Bring the allocator and roots to a consistent state (allocator lock held).
 * Nonzero on success; on failure the segment is marked corrupted. */
static int recover_allocator(shm_pool_t *p)
{
    if (!region_table_matches(p) || tlsf_repair(p->t, allocator_span(p)) != TLSF_OK) {
        p->h->corrupted = 1;
        return 0;
    }
    sanitize_roots(p);
    repair_lent_map(p);
    sanitize_parks(p);
    reclaim_dead_locked(p);
    return 1;
}

/* ---- locks ------------------------------------------------------------------ */

/* What a failed shm_lock_acquire means for the caller. */
static int lock_failure(int rc)
{
    if (rc == SHM_LOCK_TIMEOUT) return SHM_POOL_ERR_TIMEOUT;
    if (rc == SHM_LOCK_RECURSIVE) return SHM_POOL_ERR_BUSY;
    return rc == SHM_LOCK_SYSTEM ? SHM_POOL_ERR_SYSTEM : SHM_POOL_ERR_CORRUPTED; /* SHM_LOCK_DAMAGED */
}

/* The allocator lock, taken and let go of by thread `self` (shm_lock_self()):
 * the hot calls look the id up once for both. */
static void unlock_allocator_as(shm_pool_t *p, uint32_t self) { shm_lock_release_as(&p->h->alloc_lock, self); }
static void unlock_allocator(shm_pool_t *p) { unlock_allocator_as(p, shm_lock_self()); }

/* Take the allocator lock: SHM_POOL_OK with it held, else an error with it
 * not held. A dead holder's mess is repaired first. */
static int lock_allocator_as(shm_pool_t *p, uint32_t self)
{
    int rc = shm_lock_acquire_as(&p->h->alloc_lock, self, p->lock_timeout_ms);
    if (rc == SHM_LOCK_OWNER_DIED) {
        int ok = recover_allocator(p);
        p->h->generation++;
        if (!ok) {
            unlock_allocator_as(p, self);
            return SHM_POOL_ERR_CORRUPTED;
        }
        return SHM_POOL_OK;
    }
    if (rc != SHM_LOCK_OK) return lock_failure(rc);
    if (p->h->corrupted || !layout_unchanged(p) ||
        tlsf_check_regions_since(p->t, allocator_span(p), &p->seen) != TLSF_OK) {
        unlock_allocator_as(p, self);
        return SHM_POOL_ERR_CORRUPTED;
    }
    return SHM_POOL_OK;
}

static int lock_allocator(shm_pool_t *p) { return lock_allocator_as(p, shm_lock_self()); }

int shm_pool_debug_lock_allocator(shm_pool_t *p) { return p ? lock_allocator(p) : SHM_POOL_ERR_INVALID; }

int shm_pool_debug_unlock_allocator(shm_pool_t *p)
{
    if (!p) return SHM_POOL_ERR_INVALID;
    unlock_allocator(p);
    return SHM_POOL_OK;
}

int shm_pool_lock(shm_pool_t *p, uint32_t timeout_ms)
{
    if (!p) return SHM_POOL_ERR_INVALID;
    int rc = shm_lock_acquire(&p->h->user_lock, timeout_ms);
    if (rc == SHM_LOCK_OWNER_DIED) return SHM_POOL_OWNER_DIED;
    return rc == SHM_LOCK_OK ? SHM_POOL_OK : lock_failure(rc);
}

int shm_pool_unlock(shm_pool_t *p)
{
    if (!p) return SHM_POOL_ERR_INVALID;
    return shm_lock_release(&p->h->user_lock) == SHM_LOCK_OK ? SHM_POOL_OK : SHM_POOL_ERR_INVALID;
}

void shm_pool_set_lock_timeout(shm_pool_t *p, uint32_t timeout_ms)
{
    if (p) p->lock_timeout_ms = timeout_ms;
}

/* ---- segments ------------------------------------------------------------------ */

/* Close fd and free what a half-built handle holds; keeps errno. */
static void discard_handle(shm_pool_t *p)
{
    int saved = errno;
    if (p->attach_slot >= 0) {
        uint32_t self = (uint32_t)getpid(); /* a fork()ed child's inherited record stays its parent's */
        __atomic_compare_exchange_n(&p->h->attached[p->attach_slot], &self, 0, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
    }
    /* Spans still holding chunks stay lent (their heap pools may still be in
     * use); reclaim frees them once this process is gone. */
    for (lend_span_t *s = p->spans, *next; s; s = next) {
        next = s->next;
        free(s);
    }
    if (p->base) munmap(p->base, p->size);
    if (p->fd >= 0) close(p->fd);
    free(p->name);
    free(p);
    errno = saved;
}

static shm_pool_t *new_handle(const char *name)
{
    shm_pool_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->fd = -1;
    p->attach_slot = -1;
    p->lock_timeout_ms = SHM_POOL_LOCK_TIMEOUT_MS;
    if (name && !(p->name = strdup(name))) {
        free(p);
        return NULL;
    }
    return p;
}

/* Map p->fd (p->size bytes) shared, read-write, at a GRANULE-aligned address,
 * so that a segment offset aligned to 64 KiB is an address aligned to 64 KiB in
 * every process (what heap pools borrowing chunks need): reserve size + GRANULE
 * bytes of address space, map the segment over the aligned part, give back the
 * rest. */
static int map_segment(shm_pool_t *p)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t span = (size_t)round_up(p->size, page);
    if (span > SIZE_MAX - GRANULE) return SHM_POOL_ERR_INVALID;
    unsigned char *r = mmap(NULL, span + GRANULE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) return SHM_POOL_ERR_SYSTEM;
    unsigned char *a = (unsigned char *)(uintptr_t)round_up((uintptr_t)r, GRANULE);
    void *m = mmap(a, p->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, p->fd, 0);
    if (m == MAP_FAILED) {
        int saved = errno;
        munmap(r, span + GRANULE);
        errno = saved;
        return SHM_POOL_ERR_SYSTEM;
    }
    if (a > r) munmap(r, (size_t)(a - r));
    if (r + span + GRANULE > a + span) munmap(a + span, (size_t)(r + span + GRANULE - (a + span)));
    p->base = a;
    p->h = (shm_header_t *)a;
    return SHM_POOL_OK;
}

/* Write a fresh header, allocator and roots into the mapped segment. */
static int format_segment(shm_pool_t *p)
{
    shm_header_t plan;
    memset(&plan, 0, sizeof plan);
    if (!plan_layout(p->size, &plan)) return SHM_POOL_ERR_INVALID;
    shm_header_t *h = p->h;
    memset(h, 0, sizeof *h);
    h->version = SHM_POOL_VERSION;
    h->header_size = sizeof(shm_header_t);
    h->segment_size = p->size;
    h->control_offset = plan.control_offset;
    h->control_size = plan.control_size;
    h->bitmap_offset = plan.bitmap_offset;
    h->bitmap_size = plan.bitmap_size;
    h->lent_offset = plan.lent_offset;
    h->lent_size = plan.lent_size;
    h->area_offset = plan.area_offset;
    h->area_size = plan.area_size;
    h->creator_pid = (uint32_t)getpid();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    h->created_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    adopt_layout(p, h);
    p->t = tlsf_create(p->base + h->control_offset, (size_t)h->control_size);
    if (!p->t ||
        tlsf_add_region_zeroed(p->t, p->base + h->area_offset, (size_t)h->area_size, p->base + h->bitmap_offset) != 0)
        return SHM_POOL_ERR_INVALID;
    memset(p->base + h->lent_offset, 0, (size_t)h->lent_size); /* ftruncate zeroed it; say so */
    __atomic_store_n(&h->magic, SHM_MAGIC, __ATOMIC_RELEASE);
    return SHM_POOL_OK;
}

int shm_pool_create(const char *name, size_t size, unsigned mode, shm_pool_t **out)
{
    if (!out) return SHM_POOL_ERR_INVALID;
    *out = NULL;
    if (size < shm_pool_min_size() || size > SHM_POOL_MAX_SIZE || (mode & ~0777u)) return SHM_POOL_ERR_INVALID;
    if (name && !shm_pool_name_valid(name)) return SHM_POOL_ERR_INVALID;
    if (!mode) mode = SHM_POOL_DEFAULT_MODE;
    shm_pool_t *p = new_handle(name);
    if (!p) return SHM_POOL_ERR_NOMEM;
    p->size = size;
    int named = name != NULL;
    if (named)
        p->fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, (mode_t)mode);
    else
        p->fd = memfd_create("mempools-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (p->fd < 0) {
        discard_handle(p);
        return SHM_POOL_ERR_SYSTEM;
    }
    int rc = SHM_POOL_OK;
    if ((named && fchmod(p->fd, (mode_t)mode) != 0) || ftruncate(p->fd, (off_t)size) != 0 ||
        (!named && fcntl(p->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0))
        rc = SHM_POOL_ERR_SYSTEM;
    if (rc == SHM_POOL_OK) rc = map_segment(p);
    if (rc == SHM_POOL_OK) rc = format_segment(p);
    if (rc != SHM_POOL_OK) {
        int saved = errno;
        if (named) shm_unlink(name);
        discard_handle(p);
        errno = saved;
        return rc;
    }
    attach_record(p);
    *out = p;
    return SHM_POOL_OK;
}

/* A file no segment can be: not a regular file, or larger than any segment. */
static int cannot_be_segment(const struct stat *st)
{
    return !S_ISREG(st->st_mode) || (uint64_t)st->st_size > SHM_POOL_MAX_SIZE;
}

/* Is the segment behind p->fd still being formatted by its creator (named
 * segments only: empty or too short before ftruncate, a zero magic before the
 * magic store)? Otherwise maps it, or says why not (*rc): not a regular file,
 * too short or a foreign magic is SHM_POOL_ERR_NOT_SEGMENT at once. */
static int still_initialising(shm_pool_t *p, int *rc)
{
    struct stat st;
    *rc = SHM_POOL_OK;
    if (fstat(p->fd, &st) != 0) {
        *rc = SHM_POOL_ERR_SYSTEM;
        return 0;
    }
    if (cannot_be_segment(&st)) {
        *rc = SHM_POOL_ERR_NOT_SEGMENT;
        return 0;
    }
    if (st.st_size < (off_t)sizeof(shm_header_t)) {
        if (p->wait_for_creator) return 1;
        *rc = SHM_POOL_ERR_NOT_SEGMENT;
        return 0;
    }
    p->size = (size_t)st.st_size;
    *rc = map_segment(p);
    if (*rc != SHM_POOL_OK) return 0;
    uint64_t magic = __atomic_load_n(&p->h->magic, __ATOMIC_ACQUIRE);
    if (magic == SHM_MAGIC) return 0;
    if (magic != 0 || !p->wait_for_creator) {
        *rc = SHM_POOL_ERR_NOT_SEGMENT;
        return 0;
    }
    munmap(p->base, p->size);
    p->base = NULL;
    p->h = NULL;
    return 1;
}

/* Record this handle in the header's attach table (a free slot, or one of a
 * process that is gone); no slot left: not recorded (shm_pool_peek lists
 * SHM_POOL_ATTACH_SLOTS handles at most). Lock-free: one CAS per slot tried. */
static void attach_record(shm_pool_t *p)
{
    uint32_t self = (uint32_t)getpid();
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < SHM_POOL_ATTACH_SLOTS; i++) {
            uint32_t v = __atomic_load_n(&p->h->attached[i], __ATOMIC_RELAXED);
            if (pass == 0 ? v != 0 : v == self || !process_gone(v)) continue;
            if (__atomic_compare_exchange_n(&p->h->attached[i], &v, self, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
                p->attach_slot = i;
                return;
            }
        }
    }
}

/* Map and validate the segment behind p->fd (which the handle owns). A named
 * segment that looks half-created is polled every millisecond for up to
 * INIT_WAIT_MS. The header is validated as one copy (a peer may be writing
 * it), and the layout is taken from that copy. */
static int attach_segment(shm_pool_t *p)
{
    int rc;
    for (int waited = 0; still_initialising(p, &rc); waited++) {
        if (waited >= INIT_WAIT_MS) return SHM_POOL_ERR_NOT_SEGMENT;
        struct timespec ms = {0, 1000000L};
        nanosleep(&ms, NULL);
    }
    if (rc != SHM_POOL_OK) return rc;
    shm_header_t copy;
    memcpy(&copy, p->h, sizeof copy);
    if (copy.magic != SHM_MAGIC) return SHM_POOL_ERR_NOT_SEGMENT;
    if (validate_header(&copy, p->size)) return SHM_POOL_ERR_CORRUPTED;
    adopt_layout(p, &copy);
    p->t = (tlsf_t *)(p->base + p->control_offset);
    rc = lock_allocator(p); /* a dead holder's state is repaired here */
    if (rc != SHM_POOL_OK) return rc;
    rc = recover_allocator(p) ? SHM_POOL_OK : SHM_POOL_ERR_CORRUPTED;
    unlock_allocator(p);
    if (rc == SHM_POOL_OK) attach_record(p);
    return rc;
}

/* Attaches a fresh handle to the segment behind p->fd (< 0: the open failed,
 * errno set): *out = p, or the handle discarded and why not. */
static int attach_handle(shm_pool_t *p, shm_pool_t **out)
{
    int rc = p->fd < 0 ? SHM_POOL_ERR_SYSTEM : attach_segment(p);
    if (rc != SHM_POOL_OK) {
        discard_handle(p);
        return rc;
    }
    *out = p;
    return SHM_POOL_OK;
}

int shm_pool_open_within(const char *name, uint32_t lock_timeout_ms, shm_pool_t **out)
{
    if (!out) return SHM_POOL_ERR_INVALID;
    *out = NULL;
    if (!shm_pool_name_valid(name)) return SHM_POOL_ERR_INVALID;
    shm_pool_t *p = new_handle(name);
    if (!p) return SHM_POOL_ERR_NOMEM;
    p->wait_for_creator = 1;
    p->lock_timeout_ms = lock_timeout_ms;
    p->fd = shm_open(name, O_RDWR, 0);
    return attach_handle(p, out);
}

int shm_pool_from_fd_within(int fd, uint32_t lock_timeout_ms, shm_pool_t **out)
{
    if (!out) return SHM_POOL_ERR_INVALID;
    *out = NULL;
    if (fd < 0) return SHM_POOL_ERR_INVALID;
    shm_pool_t *p = new_handle(NULL);
    if (!p) return SHM_POOL_ERR_NOMEM;
    p->lock_timeout_ms = lock_timeout_ms;
    p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    return attach_handle(p, out);
}

int shm_pool_open(const char *name, shm_pool_t **out)
{
    return shm_pool_open_within(name, SHM_POOL_LOCK_TIMEOUT_MS, out);
}

int shm_pool_from_fd(int fd, shm_pool_t **out) { return shm_pool_from_fd_within(fd, SHM_POOL_LOCK_TIMEOUT_MS, out); }

void shm_pool_close(shm_pool_t *p)
{
    if (p) discard_handle(p);
}

int shm_pool_unlink(const char *name)
{
    if (!shm_pool_name_valid(name)) return SHM_POOL_ERR_INVALID;
    return shm_unlink(name) == 0 ? SHM_POOL_OK : SHM_POOL_ERR_SYSTEM;
}

int shm_pool_fd(const shm_pool_t *p) { return p ? p->fd : -1; }
const char *shm_pool_name(const shm_pool_t *p) { return p ? p->name : NULL; }
void *shm_pool_base(const shm_pool_t *p) { return p ? p->base : NULL; }
size_t shm_pool_size(const shm_pool_t *p) { return p ? p->size : 0; }
void shm_pool_area(const shm_pool_t *p, uint64_t *offset, size_t *size)
{
    *offset = p ? p->area_offset : 0;
    *size = p ? (size_t)p->area_size : 0;
}

/* ---- allocation ------------------------------------------------------------------ */

/* Hand a fresh block back through the optional outs. */
static int give_block(shm_pool_t *p, void *block, uint64_t *offset, void **ptr)
{
    if (offset) *offset = (uint64_t)((unsigned char *)block - p->base);
    if (ptr) *ptr = block;
    return SHM_POOL_OK;
}

/* After an allocation found no room: free the chunks and parked blocks of dead
 * processes, if any; nonzero when that freed something (worth one more try). */
static int reclaimed_some(shm_pool_t *p) { return !tlsf_is_corrupted(p->t) && reclaim_dead_locked(p); }

/* Status of a failed TLSF allocation. */
static int alloc_failure(shm_pool_t *p)
{
    return tlsf_is_corrupted(p->t) ? SHM_POOL_ERR_CORRUPTED : SHM_POOL_ERR_NOMEM;
}

int shm_pool_alloc(shm_pool_t *p, size_t size, uint64_t *offset, void **ptr)
{
    if (!p) return SHM_POOL_ERR_INVALID;
    uint32_t self = shm_lock_self();
    int rc = lock_allocator_as(p, self);
    if (rc != SHM_POOL_OK) return rc;
    void *b = tlsf_malloc(p->t, size);
    if (!b && reclaimed_some(p)) b = tlsf_malloc(p->t, size);
    rc = b ? give_block(p, b, offset, ptr) : alloc_failure(p);
    unlock_allocator_as(p, self);
    return rc;
}

int shm_pool_calloc(shm_pool_t *p, size_t count, size_t size, uint64_t *offset, void **ptr)
{
    if (!p) return SHM_POOL_ERR_INVALID;
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) return rc;
    void *b = tlsf_calloc(p->t, count, size);
    if (!b && reclaimed_some(p)) b = tlsf_calloc(p->t, count, size);
    rc = b ? give_block(p, b, offset, ptr) : alloc_failure(p);
    unlock_allocator(p);
    return rc;
}

/* Area-relative user offset of a segment offset, or 0 with FOREIGN. */
static int area_offset_of(const shm_pool_t *p, uint64_t offset, uint64_t *u)
{
    if (offset < p->area_offset || offset - p->area_offset >= p->area_size) return 0;
    *u = offset - p->area_offset;
    return 1;
}

int shm_pool_realloc(shm_pool_t *p, uint64_t offset, size_t size, uint64_t *new_offset, void **new_ptr)
{
    if (!p) return SHM_POOL_ERR_INVALID;
    if (offset == 0) return shm_pool_alloc(p, size, new_offset, new_ptr);
    uint64_t u;
    if (!area_offset_of(p, offset, &u)) return SHM_POOL_ERR_FOREIGN;
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) return rc;
    void *moved = NULL;
    rc = lent_entry(p, offset) ? SHM_POOL_ERR_LENT : map_tlsf(tlsf_realloc(p->t, p->base + offset, size, &moved));
    if (rc == SHM_POOL_ERR_NOMEM && reclaimed_some(p))
        rc = map_tlsf(tlsf_realloc(p->t, p->base + offset, size, &moved));
    if (rc == SHM_POOL_OK) give_block(p, moved, new_offset, new_ptr);
    unlock_allocator(p);
    return rc;
}

int shm_pool_free_at(shm_pool_t *p, uint64_t offset)
{
    if (!p) return SHM_POOL_ERR_INVALID;
    if (offset == 0) return SHM_POOL_OK;
    uint64_t u;
    if (!area_offset_of(p, offset, &u)) return SHM_POOL_ERR_FOREIGN;
    uint32_t self = shm_lock_self();
    int rc = lock_allocator_as(p, self);
    if (rc != SHM_POOL_OK) return rc;
    rc = lent_entry(p, offset) ? SHM_POOL_ERR_LENT : map_tlsf(tlsf_free_at(p->t, 0, (size_t)u));
    unlock_allocator_as(p, self);
    return rc;
}

int shm_pool_free(shm_pool_t *p, void *ptr)
{
    if (!p) return SHM_POOL_ERR_INVALID;
    if (!ptr) return SHM_POOL_OK;
    uint64_t off;
    if (shm_pool_offset_of(p, ptr, &off) != SHM_POOL_OK) return SHM_POOL_ERR_FOREIGN;
    return shm_pool_free_at(p, off);
}

int shm_pool_offset_of(const shm_pool_t *p, const void *ptr, uint64_t *offset)
{
    if (!p || !ptr) return SHM_POOL_ERR_FOREIGN;
    uintptr_t d = (uintptr_t)ptr - (uintptr_t)p->base;
    if ((uintptr_t)ptr < (uintptr_t)p->base || d >= p->size) return SHM_POOL_ERR_FOREIGN;
    if (offset) *offset = (uint64_t)d;
    return SHM_POOL_OK;
}

/* The live block at segment offset `offset`: its usable size, or a status.
 * Inside a lent chunk any offset is accepted: *usable is what remains of the
 * chunk's block from there (the heap pool's blocks are its own business). */
static int live_block_size(shm_pool_t *p, uint64_t offset, size_t *usable)
{
    uint64_t u;
    if (!area_offset_of(p, offset, &u)) return SHM_POOL_ERR_FOREIGN;
    uint64_t e = lent_entry(p, offset);
    if (e) {
        uint64_t index = lent_index(p, offset), back = e >> LENT_BACK_SHIFT;
        if (back > index) return SHM_POOL_ERR_CORRUPTED;
        uint64_t first = granule_offset(p, index - back);
        size_t whole = live_tlsf_size(p, first);
        if (offset - first >= whole) return SHM_POOL_ERR_CORRUPTED;
        *usable = whole - (size_t)(offset - first);
        return SHM_POOL_OK;
    }
    int rc = map_tlsf(tlsf_block_state(p->t, 0, (size_t)u));
    if (rc == SHM_POOL_OK) *usable = tlsf_usable_size(p->t, p->base + offset);
    return rc;
}

size_t shm_pool_owned_size(const shm_pool_t *p, uint64_t offset)
{
    uint64_t u;
    if (!p || !area_offset_of(p, offset, &u) || u < TLSF_HEADER_BYTES || (u & 7)) return 0;
    /* the header word only (tlsf.h "Block layout"): no region table, no links */
    uint64_t word = __atomic_load_n((const uint64_t *)(p->base + offset - TLSF_HEADER_BYTES), __ATOMIC_RELAXED);
    uint64_t usable = word & ((((uint64_t)1 << TLSF_BLOCK_ALIGN_SHIFT) - 1) & ~(uint64_t)TLSF_BLOCK_FLAGS);
    if (word & (TLSF_BLOCK_FREE | TLSF_BLOCK_CACHED) || usable > p->area_size - u) return 0;
    return (size_t)usable;
}

int shm_pool_at(shm_pool_t *p, uint64_t offset, size_t length, void **ptr)
{
    if (!p || !ptr) return SHM_POOL_ERR_INVALID;
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) return rc;
    size_t usable = 0;
    rc = live_block_size(p, offset, &usable);
    if (rc == SHM_POOL_OK && length > usable) rc = SHM_POOL_ERR_INVALID;
    if (rc == SHM_POOL_OK) *ptr = p->base + offset;
    unlock_allocator(p);
    return rc;
}

size_t shm_pool_usable_size(shm_pool_t *p, uint64_t offset)
{
    if (!p || lock_allocator(p) != SHM_POOL_OK) return 0;
    size_t usable = 0;
    if (live_block_size(p, offset, &usable) != SHM_POOL_OK) usable = 0;
    unlock_allocator(p);
    return usable;
}

/* ---- chunks lent to heap pools ------------------------------------------------- */

/* Lend a chunk of `bytes` to this process, its marks carrying `mapped`
 * (LENT_MAPPED for a heap pool's chunk, else 0). */
static int lend_chunk(shm_pool_t *p, size_t bytes, uint64_t mapped, uint64_t *offset, void **ptr)
{
    if (!p || bytes == 0) return SHM_POOL_ERR_INVALID;
    if (bytes > p->area_size) return SHM_POOL_ERR_NOMEM;
    uint64_t need = round_up(bytes, GRANULE);
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) return rc;
    set_pending(p, PENDING_LEND, 0); /* offset unknown until tlsf_memalign returns */
    void *b = tlsf_memalign(p->t, GRANULE, (size_t)need);
    if (!b && reclaimed_some(p)) b = tlsf_memalign(p->t, GRANULE, (size_t)need);
    if (!b) {
        set_pending(p, 0, 0);
        rc = alloc_failure(p);
        unlock_allocator(p);
        return rc;
    }
    uint64_t off = (uint64_t)((unsigned char *)b - p->base);
    uint64_t first = lent_index(p, off), n = need >> GRANULE_SHIFT;
    if (off < p->area_offset || !range_inside(off - p->area_offset, need, p->area_size)) { /* never, unless damaged */
        set_pending(p, 0, 0);
        unlock_allocator(p);
        return SHM_POOL_ERR_CORRUPTED;
    }
    uint32_t pid = (uint32_t)getpid();
    set_pending(p, PENDING_LEND, off);
    for (uint64_t i = n; i-- > 0;)
        set_lent_entry(p, first + i, make_lent_entry(pid, mapped, i)); /* first granule last */
    p->h->lent_chunks++;
    p->h->lent_bytes += need;
    set_pending(p, 0, 0);
    unlock_allocator(p);
    return give_block(p, b, offset, ptr);
}

int shm_pool_lend(shm_pool_t *p, size_t bytes, uint64_t *offset, void **ptr)
{
    return lend_chunk(p, bytes, 0, offset, ptr);
}

/* Give back the chunk at `offset` if this process borrowed it with the same
 * `mapped` flag: a heap pool's chunk (LENT_MAPPED) is refused to a plain
 * unlend, as another process's is. */
static int unlend_chunk(shm_pool_t *p, uint64_t offset, uint64_t mapped)
{
    if (!p) return SHM_POOL_ERR_INVALID;
    uint64_t u;
    if (!area_offset_of(p, offset, &u) || !is_aligned(offset, GRANULE)) return SHM_POOL_ERR_FOREIGN;
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) return rc;
    uint64_t e = lent_entry(p, offset);
    if (!e || e >> LENT_BACK_SHIFT)
        rc = SHM_POOL_ERR_FOREIGN;
    else if ((uint32_t)e != (uint32_t)getpid() || (e & LENT_MAPPED) != mapped)
        rc = SHM_POOL_ERR_LENT;
    else {
        set_pending(p, PENDING_UNLEND, offset);
        p->h->lent_chunks--;
        p->h->lent_bytes -= unmark_chunk(p, lent_index(p, offset));
        rc = map_tlsf(tlsf_free_at(p->t, 0, (size_t)u));
        set_pending(p, 0, 0);
    }
    unlock_allocator(p);
    return rc;
}

int shm_pool_unlend(shm_pool_t *p, uint64_t offset) { return unlend_chunk(p, offset, 0); }

/* This process's spans (forgetting a parent's after fork). */
static lend_span_t **own_spans(shm_pool_t *p)
{
    pid_t self = getpid();
    if (p->spans_pid != self) { /* the parent's spans, copied by fork: not ours to carve */
        for (lend_span_t *s = p->spans, *next; s; s = next) {
            next = s->next;
            free(s);
        }
        p->spans = NULL;
        p->spans_pid = self;
    }
    return &p->spans;
}

/* Bitmask of n consecutive granules. */
static uint32_t run_mask(uint32_t n) { return n >= 32 ? UINT32_MAX : ((uint32_t)1 << n) - 1; }

/* Take n free consecutive granules of a span: the segment offset, or 0. */
static uint64_t carve_span(lend_span_t *s, uint32_t n)
{
    for (uint32_t i = 0; i + n <= SPAN_GRANULES; i++) {
        uint32_t m = run_mask(n) << i;
        if (!(s->used & m)) {
            s->used |= m;
            return s->offset + ((uint64_t)i << GRANULE_SHIFT);
        }
    }
    return 0;
}

/* A chunk of n <= SPAN_MAX_RUN granules from this process's spans (a new span
 * when none has room): its segment offset, or 0 when no span can be had. O(spans). */
static uint64_t chunk_from_spans(shm_pool_t *p, uint32_t n)
{
    lend_span_t **list = own_spans(p);
    for (lend_span_t *s = *list; s; s = s->next) {
        uint64_t off = carve_span(s, n);
        if (off) return off;
    }
    lend_span_t *s = calloc(1, sizeof *s);
    if (!s) return 0;
    if (lend_chunk(p, (size_t)SPAN_GRANULES << GRANULE_SHIFT, LENT_MAPPED, &s->offset, NULL) != SHM_POOL_OK) {
        free(s);
        return 0;
    }
    s->next = *list;
    *list = s;
    return carve_span(s, n);
}

void *shm_pool_map_chunk(void *pool, size_t bytes, size_t align)
{
    shm_pool_t *p = pool;
    if (!p || align > GRANULE || bytes == 0 || bytes > p->area_size) return NULL;
    uint64_t n = round_up(bytes, GRANULE) >> GRANULE_SHIFT, off = 0;
    if (n <= SPAN_MAX_RUN) off = chunk_from_spans(p, (uint32_t)n);
    if (!off && lend_chunk(p, bytes, LENT_MAPPED, &off, NULL) != SHM_POOL_OK) return NULL; /* large, or no span fits */
    return p->base + off;
}

void shm_pool_unmap_chunk(void *pool, void *ptr, size_t bytes)
{
    shm_pool_t *p = pool;
    uint64_t off;
    if (shm_pool_offset_of(p, ptr, &off) != SHM_POOL_OK) return;
    lend_span_t **list = own_spans(p);
    for (lend_span_t **at = list; *at; at = &(*at)->next) {
        lend_span_t *s = *at;
        if (off < s->offset || off - s->offset >= ((uint64_t)SPAN_GRANULES << GRANULE_SHIFT)) continue;
        uint32_t i = (uint32_t)((off - s->offset) >> GRANULE_SHIFT);
        s->used &= ~(run_mask((uint32_t)(round_up(bytes, GRANULE) >> GRANULE_SHIFT)) << i);
        if (!s->used && unlend_chunk(p, s->offset, LENT_MAPPED) == SHM_POOL_OK) {
            *at = s->next;
            free(s);
        }
        return;
    }
    unlend_chunk(p, off, LENT_MAPPED);
}

int shm_pool_reclaim(shm_pool_t *p, size_t *chunks)
{
    if (!p) return SHM_POOL_ERR_INVALID;
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) return rc;
    size_t n = p->h->lent_chunks ? reclaim_lent_locked(p) : 0;
    reclaim_parks_locked(p);
    unlock_allocator(p);
    if (chunks) *chunks = n;
    return SHM_POOL_OK;
}

int shm_pool_park_open(shm_pool_t *p, uint32_t stacks, uint32_t depth, uint64_t *offset)
{
    uint64_t words = park_words(stacks, depth);
    if (!p || !offset || !words) return SHM_POOL_ERR_INVALID;
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) return rc;
    shm_park_t *r = NULL;
    for (int pass = 0; pass < 2 && !r; pass++) {
        if (pass) reclaim_parks_locked(p);
        for (int i = 0; i < SHM_POOL_PARKS && !r; i++)
            if (!p->h->parks[i].pid) r = &p->h->parks[i];
    }
    uint32_t *w = r ? tlsf_calloc(p->t, (size_t)words, sizeof(uint32_t)) : NULL;
    if (r && !w && reclaimed_some(p)) w = tlsf_calloc(p->t, (size_t)words, sizeof(uint32_t));
    if (w) {
        w[SHM_POOL_PARK_STACKS] = stacks;
        w[SHM_POOL_PARK_DEPTH] = depth;
        r->list = (uint64_t)((unsigned char *)w - p->base);
        __atomic_store_n(&r->pid, (uint32_t)getpid(), __ATOMIC_RELEASE);
        *offset = r->list;
    }
    rc = !r ? SHM_POOL_ERR_FULL : w ? SHM_POOL_OK : alloc_failure(p);
    unlock_allocator(p);
    return rc;
}

int shm_pool_park_close(shm_pool_t *p, uint64_t offset, size_t *blocks)
{
    if (blocks) *blocks = 0;
    if (!p) return SHM_POOL_ERR_INVALID;
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) return rc;
    uint32_t self = (uint32_t)getpid();
    rc = SHM_POOL_ERR_FOREIGN;
    for (int i = 0; i < SHM_POOL_PARKS && rc != SHM_POOL_OK; i++) {
        shm_park_t *r = &p->h->parks[i];
        if (offset == 0 || r->pid != self || r->list != offset) continue;
        size_t n = release_park(p, r);
        if (blocks) *blocks = n;
        rc = SHM_POOL_OK;
    }
    unlock_allocator(p);
    return rc;
}

/* ---- roots ------------------------------------------------------------------------ */

static int key_valid(const char *key)
{
    if (!key) return 0;
    size_t n = strnlen(key, SHM_POOL_KEY_MAX + 1);
    return n >= 1 && n <= SHM_POOL_KEY_MAX;
}

/* The entry holding key, or NULL. Allocator mutex held. */
static shm_root_t *find_root(shm_pool_t *p, const char *key)
{
    for (int i = 0; i < SHM_POOL_ROOTS; i++) {
        shm_root_t *r = &p->h->roots[i];
        if (r->used == 1 && strncmp(r->key, key, sizeof r->key) == 0) return r;
    }
    return NULL;
}

int shm_pool_set_root(shm_pool_t *p, const char *key, uint64_t offset)
{
    if (!p || !key_valid(key) || offset >= p->size) return SHM_POOL_ERR_INVALID;
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) return rc;
    shm_root_t *r = find_root(p, key);
    if (r) {
        __atomic_store_n(&r->offset, offset, __ATOMIC_RELEASE); /* one aligned store: never torn */
    } else {
        rc = SHM_POOL_ERR_FULL;
        for (int i = 0; i < SHM_POOL_ROOTS; i++) {
            r = &p->h->roots[i];
            if (r->used) continue;
            memset(r->key, 0, sizeof r->key);
            memcpy(r->key, key, strlen(key));
            r->offset = offset;
            __atomic_store_n(&r->used, 1, __ATOMIC_RELEASE);
            rc = SHM_POOL_OK;
            break;
        }
    }
    unlock_allocator(p);
    return rc;
}

int shm_pool_get_root(shm_pool_t *p, const char *key, uint64_t *offset)
{
    if (!p || !key_valid(key) || !offset) return SHM_POOL_ERR_INVALID;
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) return rc;
    shm_root_t *r = find_root(p, key);
    if (r) *offset = r->offset;
    unlock_allocator(p);
    return r ? SHM_POOL_OK : SHM_POOL_ERR_NOT_FOUND;
}

int shm_pool_delete_root(shm_pool_t *p, const char *key)
{
    if (!p || !key_valid(key)) return SHM_POOL_ERR_INVALID;
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) return rc;
    shm_root_t *r = find_root(p, key);
    if (r) {
        __atomic_store_n(&r->used, 0, __ATOMIC_RELEASE);
        memset(r, 0, sizeof *r);
    }
    unlock_allocator(p);
    return r ? SHM_POOL_OK : SHM_POOL_ERR_NOT_FOUND;
}

/* ---- futex ------------------------------------------------------------------------- */

/* The futex word at a segment offset inside the area, or NULL. */
static uint32_t *futex_word(shm_pool_t *p, uint64_t offset)
{
    if (!p || (offset & 3) || offset < p->area_offset || !range_inside(offset - p->area_offset, 4, p->area_size))
        return NULL;
    return (uint32_t *)(p->base + offset);
}

int shm_pool_wait(shm_pool_t *p, uint64_t offset, uint32_t expected, int64_t timeout_ms)
{
    uint32_t *w = futex_word(p, offset);
    if (!w) return SHM_POOL_ERR_INVALID;
    struct timespec ts, *tsp = NULL;
    if (timeout_ms >= 0) {
        ts.tv_sec = (time_t)(timeout_ms / 1000);
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        tsp = &ts;
    }
    /* No FUTEX_PRIVATE_FLAG: the word is shared between processes. */
    long rc = syscall(SYS_futex, w, FUTEX_WAIT, expected, tsp, NULL, 0);
    if (rc == 0) return SHM_POOL_OK;
    if (errno == EAGAIN) return SHM_POOL_NOT_EQUAL;
    if (errno == ETIMEDOUT) return SHM_POOL_TIMED_OUT;
    if (errno == EINTR) return SHM_POOL_OK; /* spurious: callers re-check their condition */
    return SHM_POOL_ERR_SYSTEM;
}

int shm_pool_notify(shm_pool_t *p, uint64_t offset, int count, int *woken)
{
    uint32_t *w = futex_word(p, offset);
    if (!w) return SHM_POOL_ERR_INVALID;
    long rc = syscall(SYS_futex, w, FUTEX_WAKE, count < 0 ? INT32_MAX : count, NULL, NULL, 0);
    if (rc < 0) return SHM_POOL_ERR_SYSTEM;
    if (woken) *woken = (int)rc;
    return SHM_POOL_OK;
}

/* ---- inspection ------------------------------------------------------------------- */

/* The allocator's and the header's figures (the caller holds the lock, or reads a snapshot). */
static void fill_stats(const shm_pool_t *p, shm_pool_stats_t *out)
{
    tlsf_stats_t t;
    tlsf_get_stats(p->t, &t);
    out->segment_size = p->size;
    out->capacity = (size_t)p->area_size;
    out->used = t.used;
    out->peak_used = t.peak_used;
    out->available = t.used <= out->capacity ? out->capacity - t.used : 0;
    out->free = t.free;
    out->largest_free = t.largest_free;
    out->allocations = t.allocations;
    out->failed_allocations = t.failed_allocations;
    out->generation = p->h->generation;
    out->lent_chunks = (size_t)p->h->lent_chunks;
    out->lent_bytes = (size_t)p->h->lent_bytes;
}

int shm_pool_stats(shm_pool_t *p, shm_pool_stats_t *out)
{
    if (!p || !out) return SHM_POOL_ERR_INVALID;
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) return rc;
    fill_stats(p, out);
    unlock_allocator(p);
    return SHM_POOL_OK;
}

/* Roots invariants (allocator lock held). */
static const char *check_roots(const shm_pool_t *p)
{
    for (int i = 0; i < SHM_POOL_ROOTS; i++) {
        const shm_root_t *r = &p->h->roots[i];
        if (r->used > 1) return "root entry has a bad used flag";
        if (r->used && (!memchr(r->key, 0, sizeof r->key) || !r->key[0])) return "root key is not a string";
        if (r->used && r->offset >= p->size) return "root offset out of range";
    }
    return NULL;
}

/* Lent map invariants (allocator lock held, allocator checked). */
static const char *check_lent_map(const shm_pool_t *p)
{
    uint64_t count = lent_count(p), chunks = 0, bytes = 0;
    for (uint64_t i = 0; i < count; i++) {
        if (!lent_map(p)[i]) continue;
        if (!lent_entry_valid(p, i)) return "lent map entry disagrees with its chunk";
        bytes += GRANULE;
        if (!(lent_map(p)[i] >> LENT_BACK_SHIFT)) chunks++;
    }
    if (chunks != p->h->lent_chunks || bytes != p->h->lent_bytes) return "lent chunk totals disagree with the lent map";
    return NULL;
}

/* Park record invariants (allocator lock held, allocator checked). */
static const char *check_parks(const shm_pool_t *p)
{
    for (int i = 0; i < SHM_POOL_PARKS; i++) {
        const shm_park_t *r = &p->h->parks[i];
        if (!r->pid && (r->list || r->reserved)) return "free park record has stray fields";
        if (r->pid && (r->pid > INT32_MAX || r->reserved)) return "park record has a bad pid";
        park_shape_t shape;
        uint64_t list = r->list;
        if (r->pid && !park_block_sound(p, list)) return "park record names no live block";
        if (r->pid && !read_park_list(p, list, &shape)) return "park list has a bad shape";
    }
    return NULL;
}

int shm_pool_check(shm_pool_t *p, const char **why)
{
    const char *reason = NULL;
    if (why) *why = NULL;
    if (!p) return SHM_POOL_ERR_INVALID;
    if (!layout_unchanged(p)) { /* lock_allocator refuses it too: say why here */
        if (why) *why = "header layout changed since attach";
        return SHM_POOL_ERR_CORRUPTED;
    }
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) {
        if (why)
            *why = rc == SHM_POOL_ERR_TIMEOUT ? "allocator lock held too long by a live process"
                                              : "allocator lock unavailable (segment corrupted)";
        return rc;
    }
    reason = validate_header(p->h, p->size);
    if (!reason && !layout_unchanged(p)) reason = "header layout changed since attach";
    if (!reason && !region_table_matches(p)) reason = "allocator region table disagrees with the header";
    if (!reason && tlsf_check(p->t, &reason) != TLSF_OK && !reason) reason = "allocator check failed";
    if (!reason) reason = check_roots(p);
    if (!reason) reason = check_lent_map(p);
    if (!reason) reason = check_parks(p);
    unlock_allocator(p);
    if (why) *why = reason;
    return reason ? SHM_POOL_ERR_CORRUPTED : SHM_POOL_OK;
}

/* ---- listing ----------------------------------------------------------------------- */

/* The header and allocator totals of a mapping opened read-only, after the
 * header copy was validated. Only fixed fields are read (the used counter of
 * the allocator; no link is followed), so a damaged segment cannot make us
 * read outside it, and nothing is written. */
static void peek_mapping(const unsigned char *base, const shm_header_t *h, shm_pool_info_t *out)
{
    out->capacity = h->area_size;
    out->creator_pid = h->creator_pid;
    out->created_ms = h->created_ms;
    out->lock_holder = shm_lock_holder(h->alloc_lock);
    out->user_lock_holder = shm_lock_holder(h->user_lock);
    out->generation = h->generation;
    out->lent_chunks = h->lent_chunks;
    out->attached_count = 0;
    for (int i = 0; i < SHM_POOL_ATTACH_SLOTS; i++) {
        uint32_t pid = __atomic_load_n(&((const shm_header_t *)base)->attached[i], __ATOMIC_RELAXED);
        if (pid && !process_gone(pid)) out->attached[out->attached_count++] = pid;
    }
    size_t used = tlsf_used_bytes((const tlsf_t *)(base + h->control_offset)); /* one field, nothing followed */
    out->used = used <= h->area_size ? used : h->area_size;
}

int shm_pool_peek(const char *name, shm_pool_info_t *out)
{
    if (!out || !shm_pool_name_valid(name)) return SHM_POOL_ERR_INVALID;
    memset(out, 0, sizeof *out);
    int fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0) return SHM_POOL_ERR_SYSTEM;
    struct stat st;
    int rc = SHM_POOL_OK;
    if (fstat(fd, &st) != 0) {
        rc = SHM_POOL_ERR_SYSTEM;
    } else if (cannot_be_segment(&st) || st.st_size < (off_t)sizeof(shm_header_t)) {
        rc = SHM_POOL_ERR_NOT_SEGMENT;
    }
    void *m = MAP_FAILED;
    if (rc == SHM_POOL_OK) {
        m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) rc = SHM_POOL_ERR_SYSTEM;
    }
    int saved = errno;
    close(fd);
    if (rc != SHM_POOL_OK) {
        errno = saved;
        return rc;
    }
    shm_header_t copy;
    memcpy(&copy, m, sizeof copy);
    out->size = (uint64_t)st.st_size;
    if (copy.magic != SHM_MAGIC) {
        rc = SHM_POOL_ERR_NOT_SEGMENT;
    } else if (validate_header(&copy, (uint64_t)st.st_size)) {
        out->creator_pid = copy.creator_pid < INT32_MAX ? copy.creator_pid : 0;
        rc = SHM_POOL_ERR_CORRUPTED;
    } else {
        peek_mapping(m, &copy, out);
    }
    munmap(m, (size_t)st.st_size);
    if (out->creator_pid) out->creator_alive = !process_gone(out->creator_pid);
    return rc;
}

/* ---- walk and snapshots (inspection) -------------------------------------------------- */

/* A block a park list names (or the list itself), with its process. */
typedef struct parked_ref {
    uint64_t off; /* segment offset */
    uint32_t pid;
    uint32_t list; /* 1: the park list block itself */
} parked_ref_t;

#define PARKED_COLLECT_MAX ((size_t)1 << 20) /* more slots than this are not told apart (hostile lists) */

static int parked_order(const void *a, const void *b)
{
    uint64_t x = ((const parked_ref_t *)a)->off, y = ((const parked_ref_t *)b)->off;
    return x < y ? -1 : x > y;
}

static int push_parked(parked_ref_t **v, size_t *n, size_t *cap, uint64_t off, uint32_t pid, uint32_t list)
{
    if (*n == PARKED_COLLECT_MAX) return 1;
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        parked_ref_t *g = realloc(*v, c * sizeof **v);
        if (!g) return 0;
        *v = g;
        *cap = c;
    }
    (*v)[(*n)++] = (parked_ref_t){off, pid, list};
    return 1;
}

typedef struct collect_ctx {
    const shm_pool_t *p;
    parked_ref_t *v;
    size_t n, cap;
    uint32_t pid;
} collect_ctx_t;

static int collect_slot(uint32_t slot, void *ctx)
{
    collect_ctx_t *c = ctx;
    uint64_t u = (uint64_t)slot << 3;
    return u >= c->p->area_size || push_parked(&c->v, &c->n, &c->cap, c->p->area_offset + u, c->pid, 0);
}

/* Every block the park records name (each value read once and range-checked;
 * a slot outside the area is left out), sorted by offset. 0 when out of memory. */
static int collect_parked(const shm_pool_t *p, parked_ref_t **out, size_t *count)
{
    collect_ctx_t c = {p, NULL, 0, 0, 0};
    for (int i = 0; i < SHM_POOL_PARKS; i++) {
        const shm_park_t *r = &p->h->parks[i];
        c.pid = __atomic_load_n(&r->pid, __ATOMIC_RELAXED);
        uint64_t list = __atomic_load_n(&r->list, __ATOMIC_RELAXED);
        park_shape_t shape;
        if (!c.pid || c.pid > INT32_MAX || !read_park_list(p, list, &shape)) continue;
        if (!push_parked(&c.v, &c.n, &c.cap, list, c.pid, 1) || !visit_park_slots(&shape, collect_slot, &c)) {
            free(c.v);
            return 0;
        }
    }
    if (c.n) qsort(c.v, c.n, sizeof *c.v, parked_order);
    *out = c.v;
    *count = c.n;
    return 1;
}

typedef struct walk_ctx {
    const shm_pool_t *p;
    const parked_ref_t *parked;
    size_t nparked, next;
    shm_pool_walker walker;
    void *user;
} walk_ctx_t;

static int walk_block(const tlsf_block_info_t *b, void *user)
{
    walk_ctx_t *w = user;
    const shm_pool_t *p = w->p;
    uint64_t off = p->area_offset + b->offset;
    shm_pool_block_info_t info = {(uint64_t)b->offset, (uint64_t)b->size, SHM_POOL_BLOCK_FREE, 0};
    while (w->next < w->nparked && w->parked[w->next].off < off) w->next++;
    if (b->used) {
        uint64_t e = lent_entry(p, off);
        info.state = SHM_POOL_BLOCK_USED;
        if ((uint32_t)e && !(e >> LENT_BACK_SHIFT)) {
            info.state = SHM_POOL_BLOCK_LENT;
            info.owner = (uint32_t)e;
        } else if (w->next < w->nparked && w->parked[w->next].off == off) {
            info.state = w->parked[w->next].list ? SHM_POOL_BLOCK_PARK_LIST : SHM_POOL_BLOCK_PARKED;
            info.owner = w->parked[w->next].pid;
        }
    }
    return w->walker(&info, w->user);
}

/* The walk itself, on a handle whose allocator nothing else changes meanwhile
 * (the lock held, or a private copy). */
static int walk_quiet(const shm_pool_t *p, shm_pool_walker walker, void *user)
{
    walk_ctx_t w = {p, NULL, 0, 0, walker, user};
    parked_ref_t *parked = NULL;
    if (!collect_parked(p, &parked, &w.nparked)) {
        errno = ENOMEM;
        return SHM_POOL_ERR_SYSTEM;
    }
    w.parked = parked;
    int rc = tlsf_walk(p->t, walk_block, &w);
    free(parked);
    return rc == TLSF_OK ? SHM_POOL_OK : SHM_POOL_ERR_CORRUPTED;
}

int shm_pool_walk(shm_pool_t *p, shm_pool_walker walker, void *user)
{
    if (!p || !walker) return SHM_POOL_ERR_INVALID;
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) return rc;
    rc = walk_quiet(p, walker, user);
    unlock_allocator(p);
    return rc;
}

/* ---- trim ----------------------------------------------------------------------- */

typedef struct trim_ctx {
    const shm_pool_t *p;
    size_t page;
    size_t released;
} trim_ctx_t;

/* Punch the whole pages of [from, to) out of the segment's file (every process
 * then reads them as zero; the mapping maps the file from offset 0): the bytes
 * of them that were resident. A hole punch, not madvise(MADV_REMOVE), so that
 * an emulator that ignores madvise (qemu-user) still gives them back. */
static size_t remove_pages(const trim_ctx_t *c, unsigned char *from, unsigned char *to)
{
    uintptr_t lo = round_up((uintptr_t)from, c->page), hi = (uintptr_t)to & ~(uintptr_t)(c->page - 1);
    if (hi <= lo) return 0;
    size_t len = hi - lo, resident = 0;
    unsigned char vec[64];
    for (size_t done = 0; done < len;) { /* resident pages (mincore), 64 at a time */
        size_t n = (len - done) / c->page < sizeof vec ? (len - done) / c->page : sizeof vec;
        if (mincore((void *)(lo + done), n * c->page, vec) != 0) break;
        for (size_t i = 0; i < n; i++) resident += (vec[i] & 1) * c->page;
        done += n * c->page;
    }
    off_t at = (off_t)(lo - (uintptr_t)c->p->base);
    return fallocate(c->p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at, (off_t)len) == 0 ? resident : 0;
}

/* tlsf_walk_free's walker: the pages of what the allocator never reads of a
 * free block (tlsf_free_spare: its bytes but its links and boundary tag, and
 * the start-bitmap bytes only they map to). */
static int trim_free_block(const tlsf_block_info_t *b, void *user)
{
    trim_ctx_t *c = user;
    unsigned char *area = c->p->base + c->p->area_offset, *bits = c->p->base + c->p->bitmap_offset;
    tlsf_spare_t s;
    tlsf_free_spare(b, &s);
    c->released += remove_pages(c, area + s.from, area + s.to);
    c->released += remove_pages(c, bits + s.bitmap_from, bits + s.bitmap_to);
    return 0;
}

int shm_pool_trim(shm_pool_t *p, size_t *released)
{
    if (!p) return SHM_POOL_ERR_INVALID;
    long page = sysconf(_SC_PAGESIZE);
    trim_ctx_t c = {p, page > 0 ? (size_t)page : 4096, 0};
    int rc = lock_allocator(p);
    if (rc != SHM_POOL_OK) return rc;
    rc = tlsf_walk_free(p->t, trim_free_block, &c) == TLSF_OK ? SHM_POOL_OK : SHM_POOL_ERR_CORRUPTED;
    unlock_allocator(p);
    if (released) *released = c.released;
    return rc;
}

struct shm_pool_snapshot {
    shm_pool_t p;   /* over `copy`: never locked, never written but by tlsf_check_regions's flag */
    int regions_ok; /* the copy's region table names the header's area and bitmap */
    shm_pool_snapshot_info_t info;
};

/* Read `len` bytes at `off` of fd: nonzero when all were read. */
static int read_fully(int fd, void *dst, size_t len, uint64_t off)
{
    unsigned char *d = dst;
    while (len) {
        ssize_t r = pread(fd, d, len, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        d += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 1;
}

static uint32_t read_lock_word(int fd)
{
    uint32_t w = 0;
    return read_fully(fd, &w, sizeof w, offsetof(shm_header_t, alloc_lock)) ? w : UINT32_MAX;
}

/* The checks of shm_pool_check on a copy that nothing else writes (no lock). */
static const char *check_copy(const struct shm_pool_snapshot *s)
{
    const shm_pool_t *p = &s->p;
    const char *reason = validate_header(p->h, p->size);
    if (!reason && !layout_unchanged(p)) reason = "header layout changed during the copy";
    if (!reason && !s->regions_ok) reason = "allocator region table disagrees with the header";
    if (!reason && tlsf_check(p->t, &reason) != TLSF_OK && !reason) reason = "allocator check failed";
    if (!reason) reason = check_roots(p);
    if (!reason) reason = check_lent_map(p);
    if (!reason) reason = check_parks(p);
    return reason;
}

int shm_pool_snapshot(const char *name, unsigned tries, shm_pool_snapshot_t **out, const char **why)
{
    if (why) *why = NULL;
    if (!out || !shm_pool_name_valid(name)) return SHM_POOL_ERR_INVALID;
    *out = NULL;
    if (tries == 0) tries = 1;
    int fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0) return SHM_POOL_ERR_SYSTEM;
    struct stat st;
    shm_header_t h;
    int rc = SHM_POOL_OK;
    struct shm_pool_snapshot *s = NULL;
    unsigned char *copy = NULL;
    if (fstat(fd, &st) != 0) {
        rc = SHM_POOL_ERR_SYSTEM;
    } else if (cannot_be_segment(&st) || st.st_size < (off_t)sizeof h || !read_fully(fd, &h, sizeof h, 0) ||
               h.magic != SHM_MAGIC) {
        rc = SHM_POOL_ERR_NOT_SEGMENT;
    } else if ((*why = validate_header(&h, (uint64_t)st.st_size)) != NULL) {
        rc = SHM_POOL_ERR_CORRUPTED;
    } else if (!(s = calloc(1, sizeof *s)) || posix_memalign((void **)&copy, AREA_ALIGN, (size_t)st.st_size) != 0) {
        copy = NULL;
        errno = ENOMEM;
        rc = SHM_POOL_ERR_SYSTEM;
    }
    if (rc != SHM_POOL_OK) {
        int saved = errno;
        free(s);
        close(fd);
        errno = saved;
        return rc;
    }
    shm_pool_t *p = &s->p;
    p->fd = -1;
    p->base = copy;
    p->size = (size_t)st.st_size;
    p->h = (shm_header_t *)copy;
    p->t = (tlsf_t *)(copy + h.control_offset);
    p->attach_slot = -1;
    adopt_layout(p, &h);
    /* Copy until a copy was taken with the allocator lock free before and after
     * it and passes the checks (a copy that raced a writer fails them), at most
     * `tries` times; a live holder is waited for 1 ms a try, a dead one not. */
    for (unsigned i = 0; i < tries; i++) {
        uint32_t before = read_lock_word(fd);
        uint32_t holder = shm_lock_holder(before);
        int dead_holder = holder && process_gone(holder);
        if (holder && !dead_holder && i + 1 < tries) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
            continue;
        }
        if (!read_fully(fd, copy, p->size, 0)) {
            rc = SHM_POOL_ERR_NOT_SEGMENT; /* shrunk under us */
            break;
        }
        uint32_t after = read_lock_word(fd);
        s->info.copies++;
        s->info.alloc_lock_word = before;
        s->info.user_lock_word = p->h->user_lock;
        s->regions_ok =
            layout_unchanged(p) && region_table_matches(p) && tlsf_check_regions(p->t, allocator_span(p)) == TLSF_OK;
        const char *reason = check_copy(s);
        s->info.consistent = before == 0 && after == 0 && reason == NULL;
        if (s->info.consistent || dead_holder) break;
    }
    close(fd);
    if (rc != SHM_POOL_OK) {
        shm_pool_snapshot_free(s);
        return rc;
    }
    peek_mapping(copy, &h, &s->info.peek);
    s->info.peek.size = (uint64_t)st.st_size;
    if (s->info.peek.creator_pid) s->info.peek.creator_alive = !process_gone(s->info.peek.creator_pid);
    *out = s;
    return SHM_POOL_OK;
}

void shm_pool_snapshot_free(shm_pool_snapshot_t *s)
{
    if (!s) return;
    free(s->p.base);
    free(s);
}

void shm_pool_snapshot_get_info(const shm_pool_snapshot_t *s, shm_pool_snapshot_info_t *out)
{
    if (s && out) *out = s->info;
}

int shm_pool_snapshot_check(const shm_pool_snapshot_t *s, const char **why)
{
    if (why) *why = NULL;
    if (!s) return SHM_POOL_ERR_INVALID;
    const char *reason = check_copy(s);
    if (why) *why = reason;
    return reason ? SHM_POOL_ERR_CORRUPTED : SHM_POOL_OK;
}

int shm_pool_snapshot_stats(const shm_pool_snapshot_t *s, shm_pool_stats_t *out)
{
    if (!s || !out) return SHM_POOL_ERR_INVALID;
    if (!s->regions_ok) return SHM_POOL_ERR_CORRUPTED;
    memset(out, 0, sizeof *out);
    fill_stats(&s->p, out);
    return SHM_POOL_OK;
}

int shm_pool_snapshot_walk(const shm_pool_snapshot_t *s, shm_pool_walker walker, void *user)
{
    if (!s || !walker) return SHM_POOL_ERR_INVALID;
    if (!s->regions_ok) return SHM_POOL_ERR_CORRUPTED;
    return walk_quiet(&s->p, walker, user);
}

int shm_pool_snapshot_root(const shm_pool_snapshot_t *s, unsigned index, const char **key, uint64_t *offset)
{
    if (!s || index >= SHM_POOL_ROOTS || !key || !offset) return SHM_POOL_ERR_INVALID;
    const shm_root_t *r = &s->p.h->roots[index];
    if (r->used != 1 || !memchr(r->key, 0, sizeof r->key) || !r->key[0]) return SHM_POOL_ERR_NOT_FOUND;
    const shm_pool_t *p = &s->p;
    if (r->offset < p->area_offset || r->offset - p->area_offset >= p->area_size) return SHM_POOL_ERR_NOT_FOUND;
    *key = r->key;
    *offset = r->offset - p->area_offset;
    return SHM_POOL_OK;
}
