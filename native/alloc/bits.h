/*
 * bits.h — bit helpers shared by the allocators (header-only, plain C11).
 * Builtins on GCC/Clang, portable loops elsewhere.
 */
#ifndef MEMPOOLS_BITS_H
#define MEMPOOLS_BITS_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)

/* Index of the highest set bit; x != 0. (63 ^ clz is 63 - clz, which compiles to one bsr.) */
static inline unsigned find_last_set64(uint64_t x) { return 63u ^ (unsigned)__builtin_clzll(x); }
/* Index of the lowest set bit; x != 0. */
static inline unsigned find_first_set64(uint64_t x) { return (unsigned)__builtin_ctzll(x); }
static inline unsigned find_first_set32(uint32_t x) { return (unsigned)__builtin_ctz(x); }
static inline unsigned count_bits64(uint64_t x) { return (unsigned)__builtin_popcountll(x); }

#else /* portable loops */

static inline unsigned find_last_set64(uint64_t x)
{
    unsigned n = 0;
    while (x >>= 1) n++;
    return n;
}
static inline unsigned find_first_set64(uint64_t x) { return find_last_set64(x & (~x + 1)); }
static inline unsigned find_first_set32(uint32_t x) { return find_first_set64(x); }
static inline unsigned count_bits64(uint64_t x)
{
    unsigned n = 0;
    for (; x; x &= x - 1) n++;
    return n;
}

#endif

/* Bit i of a bitmap of 64-bit words. */
static inline int test_bit(const uint64_t *bits, uint64_t i) { return (int)((bits[i >> 6] >> (i & 63)) & 1); }
static inline void set_bit(uint64_t *bits, uint64_t i) { bits[i >> 6] |= (uint64_t)1 << (i & 63); }
static inline void clear_bit(uint64_t *bits, uint64_t i) { bits[i >> 6] &= ~((uint64_t)1 << (i & 63)); }

#endif /* MEMPOOLS_BITS_H */
