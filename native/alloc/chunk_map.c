/* chunk_map.c — see chunk_map.h. */
#include "chunk_map.h"

#include <stdlib.h>

int chunk_map_grow(chunk_map_t *m, size_t n, size_t min_cap, const chunk_map_slot_t *keep)
{
    size_t cap = m->cap ? m->cap : min_cap;
    while ((m->count + n) * 2 > cap) cap *= 2;
    chunk_map_slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key) chunk_map_put(slots, cap, m->slots[i].key, m->slots[i].id);
    if (m->slots != keep) free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 1;
}

void chunk_map_clear_key(chunk_map_t *m, uintptr_t key)
{
    size_t i = chunk_map_home(m->cap, key);
    while (m->slots[i].key != key) i = (i + 1) & (m->cap - 1);
    m->slots[i].key = 0;
}
