/*
 * chunk_map.h — the address -> chunk id map of the region and heap pools: an
 * open-addressing hash table with linear probing and backward-shift removal
 * (no tombstones). Keys are the pools' own: chunk base addresses (region,
 * heap large/lent chunks) or tagged granule numbers (heap class chunks); 0 is
 * never a key. Plain C11, no allocation but in chunk_map_reserve.
 *
 * Invariants: cap is a power of two; count == number of non-zero keys and
 * count * 2 <= cap (load <= 1/2, so a probe sequence always reaches an empty
 * slot); every key sits in the cyclic run of occupied slots that starts at its
 * home slot chunk_map_home(cap, key), with no empty slot between home and key.
 */
#ifndef MEMPOOLS_CHUNK_MAP_H
#define MEMPOOLS_CHUNK_MAP_H

#include <stddef.h>
#include <stdint.h>

/* One slot: key and chunk id together (one cache line read). key 0 = empty. */
typedef struct chunk_map_slot {
    uintptr_t key;
    uint32_t id;
} chunk_map_slot_t;

typedef struct chunk_map {
    chunk_map_slot_t *slots; /* cap slots */
    size_t cap;              /* power of two (0 only before the first reserve) */
    size_t count;            /* keys held */
} chunk_map_t;

/* Fibonacci hashing: the product's bits from 32 up depend on every key bit
 * below them, so consecutive granule numbers and aligned addresses both spread. */
static inline size_t chunk_map_home(size_t cap, uintptr_t key)
{
    return (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

/* The id of `key` (non-zero): 1 and *id, or 0 when absent. cap > 0. */
static inline int chunk_map_find(const chunk_map_t *m, uintptr_t key, uint32_t *id)
{
    size_t mask = m->cap - 1;
    for (size_t i = chunk_map_home(m->cap, key);; i = (i + 1) & mask) {
        const chunk_map_slot_t *s = &m->slots[i];
        if (s->key == key) {
            *id = s->id;
            return 1;
        }
        if (!s->key) return 0;
    }
}

/* Uses `slots` (cap zeroed slots, cap a power of two, e.g. inside the pool)
 * as the table, empty. */
static inline void chunk_map_init(chunk_map_t *m, chunk_map_slot_t *slots, size_t cap)
{
    m->slots = slots;
    m->cap = cap;
    m->count = 0;
}

/* chunk_map_reserve's slow path: a new table of at least min_cap slots. */
int chunk_map_grow(chunk_map_t *m, size_t n, size_t min_cap, const chunk_map_slot_t *keep);

/* Room for n more keys: grows (doubling from at least min_cap) when the load
 * would pass 1/2. The old table is freed unless it is `keep` (storage the
 * caller owns). 0 when out of memory (the map is unchanged). */
static inline int chunk_map_reserve(chunk_map_t *m, size_t n, size_t min_cap, const chunk_map_slot_t *keep)
{
    return (m->count + n) * 2 <= m->cap || chunk_map_grow(m, n, min_cap, keep);
}
/* Puts a key that is not in the table into its first empty slot from home. */
static inline void chunk_map_put(chunk_map_slot_t *slots, size_t cap, uintptr_t key, uint32_t id)
{
    size_t i = chunk_map_home(cap, key);
    while (slots[i].key) i = (i + 1) & (cap - 1);
    slots[i].key = key;
    slots[i].id = id;
}

/* Adds a key that is not in the map (after chunk_map_reserve). */
static inline void chunk_map_insert(chunk_map_t *m, uintptr_t key, uint32_t id)
{
    chunk_map_put(m->slots, m->cap, key, id);
    m->count++;
}

/* Removes `key` (nothing when it is absent), shifting later keys of its run
 * back into the hole so no lookup ever stops short of its key. */
static inline void chunk_map_remove(chunk_map_t *m, uintptr_t key)
{
    if (!m->cap) return;
    size_t mask = m->cap - 1, i = chunk_map_home(m->cap, key);
    while (m->slots[i].key != key) {
        if (!m->slots[i].key) return;
        i = (i + 1) & mask;
    }
    size_t hole = i;
    for (size_t j = (hole + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = chunk_map_home(m->cap, m->slots[j].key);
        /* move j into the hole unless its home lies cyclically in (hole, j] */
        int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].key = 0;
    m->slots[hole].id = 0;
    m->count--;
}

/* Zeroes the slot of a key that is in the map without moving others: only
 * when every key is being cleared (no lookup in between); count is not kept. */
void chunk_map_clear_key(chunk_map_t *m, uintptr_t key);

#endif /* MEMPOOLS_CHUNK_MAP_H */
