/*
 * shm_pool.h — Melon-style shared-memory pool (plain C11 + POSIX, no Node dependency).
 *
 * One fixed-size shared segment — a named POSIX segment (shm_open) or an
 * anonymous memfd — holds everything: a header, the TLSF control structure, the
 * TLSF start bitmap and the block area. Any process that maps the segment can
 * allocate and free in it; a block allocated in one process may be freed in
 * another. Each process maps the segment at its own address, so nothing inside
 * the segment is a pointer: callers exchange offsets from the segment base
 * (shm_pool_offset_of / shm_pool_at); pointers are process-local conveniences.
 *
 * ---- Layout (offsets from the segment base, all recorded in the header) -------
 *   0              header: magic, version, sizes and offsets, two lock
 *                  words (shm_lock.h), roots directory, generation, the
 *                  creator's pid and time, the attach table,
 *                  lent-chunk totals, the pending lend/unlend record and
 *                  the park records (see "parked blocks" below)
 *   control_offset TLSF control structure (64-aligned, tlsf_control_size())
 *   bitmap_offset  TLSF start bitmap of the one region (64-aligned)
 *   lent_offset    lent map: 8 bytes per 64 KiB granule the area touches
 *                  (owner pid + distance to the chunk start; 0.012 % of the area)
 *   area_offset    the block area (page-aligned) up to at most segment_size;
 *                  capacity = area_size
 * Every process maps the segment at a 64 KiB-aligned address, so a segment
 * offset and its address agree modulo 64 KiB everywhere (heap pool chunks).
 *
 * ---- Locks ----------------------------------------------------------------------
 * The allocator lock serialises every allocator and roots operation across
 * processes; the user lock is for callers (shm_pool_lock/unlock). Both are
 * shm_lock words (see shm_lock.h): no content of the word can hang or abort a
 * process. A word that holds no state the lock writes is SHM_POOL_ERR_CORRUPTED
 * at once (attach refuses such a segment); a holder that dies (even SIGKILL)
 * is found by asking the kernel and replaced within 50 ms; a live holder that
 * keeps the allocator lock past the handle's lock timeout (default
 * SHM_POOL_LOCK_TIMEOUT_MS, shm_pool_set_lock_timeout) gives
 * SHM_POOL_ERR_TIMEOUT. The next process to take the allocator lock after a
 * dead holder repairs the allocator
 * (tlsf_repair: rebuilds the free lists, bitmaps and stats from the physical
 * block chain; a block that was being handed out stays allocated, i.e. leaks)
 * and sanitises the roots; if the chain itself is broken the segment is marked
 * corrupted and every later operation returns SHM_POOL_ERR_CORRUPTED. A dead
 * holder of the user lock is reported to the next locker as SHM_POOL_OWNER_DIED
 * (the lock is then held; the user data may be half-updated).
 *
 * ---- Hostile segments ---------------------------------------------------------
 * Every process that maps a segment can write all of it. The layout (offsets
 * and sizes) is validated once on attach from a copy of the header and kept in
 * the process's handle: the header's fields are never used again (check()
 * reports a header changed since). Every other value read from the segment
 * (lock words, lent map entries, park records and lists, roots, the TLSF
 * control structure and block headers) is read once and range-checked where it
 * is used, so a peer's writes give SHM_POOL_ERR_CORRUPTED (or a wrong but
 * in-bounds result), never an access outside the mapping, a hang or an abort.
 *
 * ---- Validation ---------------------------------------------------------------
 * Attaching (open/from_fd) checks the header before using anything in it: magic,
 * version, header size, segment size == the file's size (fstat), every
 * offset/size in range of the mapping without overflow, aligned, in order and
 * not overlapping; then, under the allocator lock, the TLSF region table must
 * describe exactly the recorded area and the allocator is normalised by
 * tlsf_repair (O(blocks)). Any failure is SHM_POOL_ERR_CORRUPTED and nothing
 * outside the mapping is ever read or written.
 *
 * Lending (see "chunks lent to heap pools" below) is kill-safe too: the header
 * records a lend or unlend in progress (even before tlsf_memalign returns, when
 * the block's offset is not known yet: recovery then finds the one live,
 * unmarked, 64 KiB-aligned memalign block), and recovery releases that chunk and
 * clears marks that no longer match a live block. So a lender killed at any
 * instruction leaks nothing. TLSF's memalign writes the aligned block's header
 * before it shrinks the block in front of it, so the chain stays walkable.
 *
 * ---- Initialisation race ----------------------------------------------------------
 * The creator writes the magic last. A process that attaches while the segment
 * is still empty, too short or without its magic (its creator is still
 * formatting it) by name polls every millisecond for up to 2 s, then gives
 * SHM_POOL_ERR_NOT_SEGMENT. Through a descriptor nothing is waited for: a file
 * that is not a regular file, is shorter than a header or has no magic is
 * SHM_POOL_ERR_NOT_SEGMENT at once.
 *
 * ---- Cost ---------------------------------------------------------------------------
 * alloc/free/at: O(1) under the allocator lock. Attach and crash recovery:
 * O(blocks + area / 64 KiB) (tlsf_repair, lent map repair and the dead-owner
 * sweep). shm_pool_reclaim: O(area / 64 KiB + parked blocks of dead processes).
 */
#ifndef MEMPOOLS_SHM_POOL_H
#define MEMPOOLS_SHM_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "pool_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shm_pool shm_pool_t;

enum shm_pool_status {
    SHM_POOL_OK = POOL_OK,
    SHM_POOL_ERR_INVALID = POOL_ERR_INVALID,         /* bad argument: name, size, mode, key, offset out of range */
    SHM_POOL_ERR_SYSTEM = POOL_ERR_SYSTEM,           /* a system call failed; errno says why (EEXIST, ENOENT, ...) */
    SHM_POOL_ERR_CORRUPTED = POOL_ERR_CORRUPTED,     /* bad header, broken allocator, unrepairable after a crash */
    SHM_POOL_ERR_NOMEM = POOL_ERR_NOMEM,             /* no free block large enough (or calloc overflow) */
    SHM_POOL_ERR_FOREIGN = POOL_ERR_FOREIGN,         /* not the start of a live block of this pool */
    SHM_POOL_ERR_DOUBLE_FREE = POOL_ERR_DOUBLE_FREE, /* the start of a block that is already free */
    SHM_POOL_ERR_NOT_FOUND = POOL_ERR_NOT_FOUND,     /* no such root */
    SHM_POOL_ERR_FULL = POOL_ERR_FULL,               /* the roots directory is full */
    SHM_POOL_ERR_LENT =
        POOL_ERR_LENT, /* inside a chunk lent to a heap pool (free/realloc), or (unlend) lent to another process */
    SHM_POOL_ERR_NOT_SEGMENT = POOL_ERR_NOT_SEGMENT, /* not a regular file, too short, or no segment magic */
    SHM_POOL_ERR_TIMEOUT = POOL_ERR_TIMEOUT,         /* a live holder kept a lock past the timeout */
    SHM_POOL_ERR_BUSY = POOL_ERR_BUSY,               /* the lock is held by the calling thread already */
    SHM_POOL_OWNER_DIED = POOL_OWNER_DIED,           /* user lock taken; its previous holder died holding it */
    SHM_POOL_NOT_EQUAL = POOL_NOT_EQUAL,             /* wait: the word did not hold the expected value */
    SHM_POOL_TIMED_OUT = POOL_TIMED_OUT              /* wait: the timeout expired */
};

#define SHM_POOL_VERSION 12u  /* 12: the TLSF region table before its lists (11: it counts blocks, not free bytes) */
#define SHM_POOL_ROOTS 64     /* entries in the roots directory */
#define SHM_POOL_KEY_MAX 63   /* bytes of a root key (plus the NUL) */
#define SHM_POOL_NAME_MAX 255 /* bytes of a segment name, its leading '/' included */
#define SHM_POOL_DEFAULT_MODE 0600u
#define SHM_POOL_MAX_SIZE ((size_t)1 << 39)
#define SHM_POOL_PARKS 64             /* park records (caches that can be attached at once) */
#define SHM_POOL_ATTACH_SLOTS 64      /* handles the attach table records (shm_pool_peek) */
#define SHM_POOL_LOCK_TIMEOUT_MS 5000 /* default allocator lock timeout of a handle */

typedef struct shm_pool_stats {
    size_t segment_size;       /* bytes of the mapping */
    size_t capacity;           /* bytes of the block area */
    size_t used;               /* usable bytes of live blocks */
    size_t peak_used;          /* high-water mark of used */
    size_t available;          /* capacity - used (never underflows) */
    size_t free;               /* usable bytes of free blocks (capacity - used - block overheads) */
    size_t largest_free;       /* the largest single allocation that can succeed now */
    size_t allocations;        /* live blocks */
    size_t failed_allocations; /* allocations that found no room */
    uint64_t generation;       /* incremented by every crash recovery */
    size_t lent_chunks;        /* chunks lent to heap pools (counted in used and allocations too) */
    size_t lent_bytes;         /* their bytes (multiples of 64 KiB) */
} shm_pool_stats_t;

/* Smallest segment size accepted by shm_pool_create. */
size_t shm_pool_min_size(void);
/* Is `name` acceptable: a leading '/', at least one more byte, no other '/',
 * at most SHM_POOL_NAME_MAX bytes? */
int shm_pool_name_valid(const char *name);

/* ---- segments -------------------------------------------------------------- */

/* Create a segment of `size` bytes (shm_pool_min_size() .. SHM_POOL_MAX_SIZE):
 * named (exclusive: SHM_POOL_ERR_SYSTEM with errno EEXIST if it exists; mode is
 * applied exactly, umask notwithstanding; mode 0 means SHM_POOL_DEFAULT_MODE) or,
 * with name NULL, an anonymous memfd sealed against resizing (children inherit
 * shm_pool_fd; it is close-on-exec, so dup2 it for exec). */
int shm_pool_create(const char *name, size_t size, unsigned mode, shm_pool_t **out);
/* Attach to a named segment (validated; see above). */
int shm_pool_open(const char *name, shm_pool_t **out);
/* Attach through a descriptor (validated). The pool keeps a dup of fd. */
int shm_pool_from_fd(int fd, shm_pool_t **out);
/* The same with the handle's allocator lock timeout (attach takes that lock
 * too) instead of SHM_POOL_LOCK_TIMEOUT_MS. */
int shm_pool_open_within(const char *name, uint32_t lock_timeout_ms, shm_pool_t **out);
int shm_pool_from_fd_within(int fd, uint32_t lock_timeout_ms, shm_pool_t **out);
/* Unmap and close in this process. Pointers into the pool die; offsets do not. */
void shm_pool_close(shm_pool_t *p);
/* Remove a segment's name (shm_unlink): SHM_POOL_OK, SHM_POOL_ERR_INVALID or
 * SHM_POOL_ERR_SYSTEM (errno ENOENT, ...). Attached processes keep their mapping. */
int shm_pool_unlink(const char *name);
int shm_pool_fd(const shm_pool_t *p);
/* The name a pool was created or opened with, or NULL (memfd / from_fd). */
const char *shm_pool_name(const shm_pool_t *p);
void *shm_pool_base(const shm_pool_t *p);
size_t shm_pool_size(const shm_pool_t *p);
/* The block area as validated on attach: its offset from the segment base and
 * its size (both 0 for NULL). */
void shm_pool_area(const shm_pool_t *p, uint64_t *offset, size_t *size);

/* ---- allocation (any attached process; offsets are from the segment base) --- */

/* Either out pointer may be NULL. size 0 gives a minimum block. Blocks are 8-aligned. */
int shm_pool_alloc(shm_pool_t *p, size_t size, uint64_t *offset, void **ptr);
int shm_pool_calloc(shm_pool_t *p, size_t count, size_t size, uint64_t *offset, void **ptr);
/* Resize the block at `offset` (0: allocate). On failure the block is untouched. */
int shm_pool_realloc(shm_pool_t *p, uint64_t offset, size_t size, uint64_t *new_offset, void **new_ptr);
/* Free by offset or by pointer (NULL / offset 0: SHM_POOL_OK, nothing done). */
int shm_pool_free_at(shm_pool_t *p, uint64_t offset);
int shm_pool_free(shm_pool_t *p, void *ptr);
/* Offset of a pointer into this process's mapping: SHM_POOL_OK or SHM_POOL_ERR_FOREIGN. */
int shm_pool_offset_of(const shm_pool_t *p, const void *ptr, uint64_t *offset);
/* The pointer for `length` bytes of the live block that starts at `offset`:
 * SHM_POOL_OK, SHM_POOL_ERR_FOREIGN (not a live block's start),
 * SHM_POOL_ERR_DOUBLE_FREE (a freed block), SHM_POOL_ERR_INVALID (length beyond
 * the block's usable size). Under the allocator mutex. */
int shm_pool_at(shm_pool_t *p, uint64_t offset, size_t length, void **ptr);
/* Usable size of the live block at offset (0 if none). */
size_t shm_pool_usable_size(shm_pool_t *p, uint64_t offset);
/* Usable size of a block the caller holds (allocated and not freed) at segment
 * offset `offset`, read from its header WITHOUT the allocator lock (for caches
 * of the caller's own blocks: nobody else writes that header); 0 when the
 * segment does not show a live block there. Never reaches outside the mapping;
 * a block whose header a peer damaged may report a wrong size within the area. */
size_t shm_pool_owned_size(const shm_pool_t *p, uint64_t offset);

/* ---- chunks lent to heap pools (a heap pool with this segment as its source) --
 * A lent chunk is a live block of `bytes` rounded up to 64 KiB, starting at a
 * 64 KiB-aligned segment offset (the mapping is 64 KiB-aligned in every
 * process, so the address is aligned too), marked in the segment's lent map
 * with the lending process's pid. While lent, shm_pool_free/_free_at/_realloc
 * of any offset inside it is SHM_POOL_ERR_LENT (from every process: the heap
 * pool's blocks have no header, so its first block starts where the chunk
 * does), shm_pool_at accepts any offset and length inside it (the heap pool's
 * blocks are visible to every process by offset), and only the lending
 * process can give it back. Chunks of a process that no longer exists are
 * freed by shm_pool_reclaim, by every attach and crash recovery, and by any
 * allocation or lend that finds no room (which then tries once more; its first
 * failure stays counted in failed_allocations). (A pid reused by a new process keeps them until that
 * process ends; processes in other pid namespaces must not share a segment.) */

/* Lend a chunk to the calling process: SHM_POOL_OK, _INVALID (bytes 0), _NOMEM, _CORRUPTED. */
int shm_pool_lend(shm_pool_t *p, size_t bytes, uint64_t *offset, void **ptr);
/* Give back a chunk this process borrowed with shm_pool_lend (offset = its
 * start): SHM_POOL_OK, _FOREIGN (not the start of a lent chunk), _LENT
 * (another process's, or a heap pool's: shm_pool_map_chunk's chunks and spans
 * go back only through shm_pool_unmap_chunk). */
int shm_pool_unlend(shm_pool_t *p, uint64_t offset);
/* heap_pool_memory_t callbacks (ctx = the shm_pool_t *): align <= 64 KiB.
 * Chunks of up to 512 KiB are carved from 1 MiB "spans" this process borrows
 * with shm_pool_lend (a span is unlent when its last chunk comes back), so the
 * 64 KiB alignment gap before each lent block is paid once per span; larger
 * chunks, and any chunk when no span fits, are lent on their own. The span
 * list is process-local and not thread-safe: one thread per handle. A span is
 * one lent block, so lent_chunks/lent_bytes count spans. */
void *shm_pool_map_chunk(void *pool, size_t bytes, size_t align);
void shm_pool_unmap_chunk(void *pool, void *ptr, size_t bytes);
/* Free the chunks lent to processes that no longer exist, and release their
 * park records (see "parked blocks"); *chunks (if not NULL) = how many chunks.
 * O(area / 64 KiB + their parked blocks). */
int shm_pool_reclaim(shm_pool_t *p, size_t *chunks);

/* ---- parked blocks (a per-process cache of freed blocks, e.g. SharedPool's) -----
 * A cache that keeps freed blocks allocated ("parked") to hand them out again
 * without the allocator records them in a park list in the segment, so that
 * when its process dies (even SIGKILL) the dead-owner sweep above gives them
 * back. shm_pool_park_open allocates a zeroed list block, writes its shape and
 * registers it in one of SHM_POOL_PARKS header records with the caller's pid.
 * The list is uint32 words, written by its process with plain stores and no
 * lock:
 *   [SHM_POOL_PARK_STACKS] stacks S, [SHM_POOL_PARK_DEPTH] depth K (set by open),
 *   [SHM_POOL_PARK_COUNTS + i] count of stack i (i < S),
 *   [SHM_POOL_PARK_COUNTS + S + i * K + j] slot j of stack i: area offset / 8
 *   of a parked block (j < count).
 * Kill-safe order: to park, write the slot, then increment the count; to take
 * a block back, decrement the count, then use the block. A process killed
 * between two stores loses at most one block (like an allocation in flight).
 * The sweep (shm_pool_reclaim, attach, crash recovery, an allocation that
 * finds no room) releases the records of processes that no longer exist:
 * it frees every listed block, the list, and clears the record. The list is
 * user-writable memory, so the sweep trusts nothing in it: a list whose shape
 * does not fit in its block is not read (the block is freed); counts are
 * clamped to K; a slot that is not the start of a live block (out of range,
 * inside a block, already free, a duplicate), a lent chunk or a park list is
 * skipped. (A slot naming another live block frees it: the list is the
 * program's memory, and writing garbage into it is like a wild free.)
 * O(records + listed blocks). Attach and crash recovery clear records that
 * are malformed (bad pid, list not a live block), leaving their blocks. */
#define SHM_POOL_PARK_STACKS 0
#define SHM_POOL_PARK_DEPTH 1
#define SHM_POOL_PARK_COUNTS 2
#define SHM_POOL_PARK_STACKS_MAX 1024u
#define SHM_POOL_PARK_DEPTH_MAX 1024u

/* Register a park list of `stacks` stacks of `depth` slots (1 .. the maxima
 * above) for the calling process: *offset = its segment offset (a live block
 * counted in used/allocations). SHM_POOL_OK, _INVALID, _NOMEM, _FULL (every
 * record taken by a live process), _CORRUPTED. */
int shm_pool_park_open(shm_pool_t *p, uint32_t stacks, uint32_t depth, uint64_t *offset);
/* Release this process's park list at `offset`: free the blocks it lists (as
 * the sweep does, validated), the list, and the record; *blocks (if not NULL)
 * = the parked blocks freed. SHM_POOL_OK, _FOREIGN (no record of this process
 * has that list), _CORRUPTED. */
int shm_pool_park_close(shm_pool_t *p, uint64_t offset, size_t *blocks);

/* ---- user lock ------------------------------------------------------------- */

/* Take the user lock, waiting up to timeout_ms (UINT32_MAX: no limit; a dead
 * holder is replaced all the same). SHM_POOL_OK, SHM_POOL_OWNER_DIED (taken;
 * the previous holder died), SHM_POOL_ERR_TIMEOUT (a live holder kept it),
 * SHM_POOL_ERR_BUSY (this thread holds it), SHM_POOL_ERR_CORRUPTED (damaged
 * lock word) or SHM_POOL_ERR_SYSTEM. */
int shm_pool_lock(shm_pool_t *p, uint32_t timeout_ms);
/* SHM_POOL_OK, or SHM_POOL_ERR_INVALID when the calling thread does not hold it. */
int shm_pool_unlock(shm_pool_t *p);
/* How long this handle's allocator calls wait for a live holder of the
 * allocator lock before SHM_POOL_ERR_TIMEOUT (default SHM_POOL_LOCK_TIMEOUT_MS). */
void shm_pool_set_lock_timeout(shm_pool_t *p, uint32_t timeout_ms);

/* ---- roots: a directory of named offsets inside the segment -------------------- */

/* key: 1..SHM_POOL_KEY_MAX bytes; offset < the segment size. Replaces an existing
 * key; SHM_POOL_ERR_FULL when SHM_POOL_ROOTS keys exist. */
int shm_pool_set_root(shm_pool_t *p, const char *key, uint64_t offset);
int shm_pool_get_root(shm_pool_t *p, const char *key, uint64_t *offset);
int shm_pool_delete_root(shm_pool_t *p, const char *key);

/* ---- futex wait/notify on a 32-bit word of the area -------------------------- */

/* offset: 4-aligned, the word inside the block area. timeout_ms < 0 waits forever.
 * SHM_POOL_OK (woken), SHM_POOL_NOT_EQUAL, SHM_POOL_TIMED_OUT, SHM_POOL_ERR_INVALID. */
int shm_pool_wait(shm_pool_t *p, uint64_t offset, uint32_t expected, int64_t timeout_ms);
/* Wake up to `count` waiters (count < 0: all); *woken (if not NULL) = how many. */
int shm_pool_notify(shm_pool_t *p, uint64_t offset, int count, int *woken);

/* ---- inspection ------------------------------------------------------------- */

int shm_pool_stats(shm_pool_t *p, shm_pool_stats_t *out);
/* Header, allocator (tlsf_check) and roots, under the allocator lock. SHM_POOL_OK,
 * or SHM_POOL_ERR_CORRUPTED with *why (if why != NULL) set to a static description. */
int shm_pool_check(shm_pool_t *p, const char **why);

/* ---- listing ------------------------------------------------------------------
 * What shm_pool_peek reads of a named segment without attaching: a read-only
 * mapping, no lock taken, nothing written, so it never disturbs the processes
 * using the segment (the figures are a snapshot, possibly mid-update). */
typedef struct shm_pool_info {
    uint64_t size;        /* bytes of the file */
    uint64_t capacity;    /* bytes of the block area */
    uint64_t used;        /* usable bytes of live blocks (parked and lent ones included) */
    uint64_t created_ms;  /* Unix time of creation, ms */
    uint64_t generation;  /* crash recoveries so far */
    uint64_t lent_chunks; /* chunks lent to heap pools */
    uint32_t creator_pid; /* 0 when unknown */
    int creator_alive;    /* the creator process still exists */
    uint32_t lock_holder; /* thread id holding the allocator lock, 0: free */
    uint32_t user_lock_holder;
    uint32_t attached_count; /* live processes in attached[] (one entry per handle) */
    uint32_t attached[SHM_POOL_ATTACH_SLOTS];
} shm_pool_info_t;

/* SHM_POOL_OK; SHM_POOL_ERR_NOT_SEGMENT (not one of ours), _CORRUPTED (ours,
 * damaged: size, creator_pid and creator_alive are set), _INVALID (name) or
 * _SYSTEM (errno: ENOENT, EACCES, ...). */
int shm_pool_peek(const char *name, shm_pool_info_t *out);

/* ---- walk and snapshots --------------------------------------------------------
 * shm_pool_walk: every block of the area in address order, under the allocator
 * lock: free, used, lent (a chunk lent to a heap pool: owner = its pid), parked
 * (named by a park list: owner = the list's pid) or a park list itself. A park
 * slot is user-writable memory: a slot naming a block that is not live is not
 * reported (the block shows as it is); at most 2^20 slots are told apart. The
 * walker runs with the lock held: it must not call into the pool.
 * O(blocks + parked blocks * log).
 *
 * A snapshot is a private copy of a named segment taken without attaching and
 * without taking the lock: the file is read with pread (no mapping; nothing
 * written, nothing registered, no repair, no sweep), so it cannot disturb the
 * processes using the segment. A copy is kept when the allocator lock word was
 * free before and after it was read and the copy passes every check of
 * shm_pool_check; otherwise it is taken again (a live holder is waited for
 * 1 ms a try, a dead holder not at all), `tries` copies at most, and the last
 * one is kept with info.consistent = 0 (torn by a writer, left half-updated
 * by a dead holder, or damaged: shm_pool_snapshot_check says which check
 * fails). A change that restores every checked invariant within one copy
 * cannot be told apart. Costs the segment's size in memory. */
enum shm_pool_block_state {
    SHM_POOL_BLOCK_FREE = 0,
    SHM_POOL_BLOCK_USED = 1,
    SHM_POOL_BLOCK_LENT = 2,
    SHM_POOL_BLOCK_PARKED = 3,
    SHM_POOL_BLOCK_PARK_LIST = 4
};
typedef struct shm_pool_block_info {
    uint64_t offset; /* area offset of the block's first usable byte (its header is the 8 bytes before) */
    uint64_t size;   /* usable size */
    int state;       /* enum shm_pool_block_state */
    uint32_t owner;  /* lent, parked, park list: the pid; 0 otherwise */
} shm_pool_block_info_t;
/* Return nonzero to stop the walk. */
typedef int (*shm_pool_walker)(const shm_pool_block_info_t *block, void *user);
/* SHM_POOL_OK, _INVALID, _CORRUPTED (broken chain), _TIMEOUT, _SYSTEM (ENOMEM). */
int shm_pool_walk(shm_pool_t *p, shm_pool_walker walker, void *user);

/* ---- memory ------------------------------------------------------------------ */

/* Under the allocator lock, give the pages of every free block of the area back
 * to the segment's backing store (a hole punched in its file, fallocate
 * FALLOC_FL_PUNCH_HOLE: for every process at once; they read as zero
 * afterwards), but each block's links and boundary tag (TLSF_FREE_LINK_BYTES,
 * TLSF_FREE_TAG_BYTES), and the start-bitmap pages only free blocks map to.
 * Live, lent and parked blocks are not touched. *released (if not NULL): the
 * bytes of those pages that were resident before (0 where the backing store
 * cannot punch holes). O(free blocks + their pages). SHM_POOL_OK, _INVALID,
 * _CORRUPTED, _TIMEOUT. */
int shm_pool_trim(shm_pool_t *p, size_t *released);

typedef struct shm_pool_snapshot shm_pool_snapshot_t;
typedef struct shm_pool_snapshot_info {
    shm_pool_info_t peek;     /* what shm_pool_peek reports, from the copy */
    uint32_t alloc_lock_word; /* the allocator lock word read before the kept copy (shm_lock.h) */
    uint32_t user_lock_word;
    int consistent; /* see above */
    unsigned copies;
} shm_pool_snapshot_info_t;
/* SHM_POOL_OK and *out; _NOT_SEGMENT; _CORRUPTED with *why (header fails
 * validation); _INVALID (name); _SYSTEM (errno: ENOENT, EACCES, ENOMEM). */
int shm_pool_snapshot(const char *name, unsigned tries, shm_pool_snapshot_t **out, const char **why);
void shm_pool_snapshot_free(shm_pool_snapshot_t *s);
void shm_pool_snapshot_get_info(const shm_pool_snapshot_t *s, shm_pool_snapshot_info_t *out);
/* shm_pool_check's checks on the copy: SHM_POOL_OK or _CORRUPTED with *why. */
int shm_pool_snapshot_check(const shm_pool_snapshot_t *s, const char **why);
/* The copy's stats: SHM_POOL_OK, or _CORRUPTED when its region table is not the header's. */
int shm_pool_snapshot_stats(const shm_pool_snapshot_t *s, shm_pool_stats_t *out);
/* shm_pool_walk on the copy (no lock). */
int shm_pool_snapshot_walk(const shm_pool_snapshot_t *s, shm_pool_walker walker, void *user);
/* Root `index` (0 .. SHM_POOL_ROOTS-1): SHM_POOL_OK with its key (inside the
 * snapshot) and its offset from the area's start (as the binding's roots are),
 * _NOT_FOUND for an unused or malformed entry or one outside the area, _INVALID. */
int shm_pool_snapshot_root(const shm_pool_snapshot_t *s, unsigned index, const char **key, uint64_t *offset);

/* ---- testing only ------------------------------------------------------------ */

/* Take the allocator lock and return holding it (SHM_POOL_OK), so a test can
 * die while holding it; shm_pool_debug_unlock_allocator releases it. */
int shm_pool_debug_lock_allocator(shm_pool_t *p);
int shm_pool_debug_unlock_allocator(shm_pool_t *p);

#ifdef __cplusplus
}
#endif

#endif /* MEMPOOLS_SHM_POOL_H */
