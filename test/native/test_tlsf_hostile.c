/*
 * test_tlsf_hostile.c: tlsf.c against memory other parties write.
 *
 * 1. A deterministic random sweep writes garbage (random words, bit flips,
 *    plausible-looking sizes and links) anywhere in one mapping that holds the
 *    control structure, two regions' start bitmaps and their areas, as a shared
 *    segment does, between random operations. Every call must return one of its
 *    documented results, every block handed out must lie inside the mapping
 * past the control structure, and nothing may read or write outside the mapping
 *    (ASan), hit undefined behaviour (UBSan) or loop forever (the case's
 * alarm). As shm_pool does, tlsf_check_regions(t, span) gates every operation.
 * 2. An overflow of a live block by 8 bytes rewrites the next block's size word
 *    (with anything: random words, sizes that land on a later block start,
 * flags). Then that block, its neighbours and many new ones are freed,
 * reallocated and allocated: each call reports TLSF_ERR_CORRUPTED or behaves,
 * and no block handed out ever overlaps a live one.
 */
#include "test_util.h"
#include "tlsf.h"

#include <stdbool.h>

/* ---- fixtures ------------------------------------------------------------ */

static uint64_t next_random(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static size_t below(uint64_t *s, size_t n) {
  return (size_t)(next_random(s) % n);
}
static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }
static uint64_t rd64(const void *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}
static void wr64(void *p, uint64_t v) { memcpy(p, &v, sizeof v); }

/* One mapping: [control | bitmap 0 | bitmap 1 | area 0 | area 1]. */
typedef struct span {
  unsigned char *mem;
  size_t bytes, control, bitmaps, areas; /* where each part starts */
  tlsf_t *t;
} span_t;

static int make_span(span_t *s, size_t area0, size_t area1, unsigned cache) {
  memset(s, 0, sizeof *s);
  size_t ctl = round_up(tlsf_control_size(), 16);
  size_t bm0 = tlsf_bitmap_size(area0), bm1 = tlsf_bitmap_size(area1);
  s->bitmaps = ctl;
  s->areas = round_up(ctl + bm0 + bm1, 16);
  s->bytes = s->areas + area0 + area1;
  s->mem = tu_aligned(4096, s->bytes);
  memset(s->mem, 0, s->bytes);
  s->t = tlsf_create(s->mem, ctl);
  HCHECK(s->t != NULL);
  HCHECK(tlsf_add_region(s->t, s->mem + s->areas, area0, s->mem + ctl) == 0);
  HCHECK(tlsf_add_region(s->t, s->mem + s->areas + area0, area1,
                         s->mem + ctl + bm0) == 1);
  HCHECK(tlsf_set_cache(s->t, cache) == TLSF_OK);
  return 1;
}

/* Does [p, p + n) lie in the mapping, past the control structure? */
static int in_span(const span_t *s, const void *p, size_t n) {
  const unsigned char *c = p;
  return c >= s->mem + s->bitmaps && c <= s->mem + s->bytes &&
         n <= (size_t)(s->mem + s->bytes - c);
}

#define MAX_LIVE 400
/* The blocks the test holds: pointer and the usable size the allocator gave. */
typedef struct live {
  void *p[MAX_LIVE];
  size_t usable[MAX_LIVE];
  size_t n;
} live_t;

static void forget(live_t *L, size_t k) {
  L->p[k] = L->p[--L->n];
  L->usable[k] = L->usable[L->n];
}

static int is_status(int rc) {
  return rc == TLSF_OK || rc == TLSF_ERR_FOREIGN ||
         rc == TLSF_ERR_DOUBLE_FREE || rc == TLSF_ERR_CORRUPTED ||
         rc == TLSF_ERR_NOMEM || rc == TLSF_ERR_INVALID;
}

static int count_blocks(const tlsf_block_info_t *b, void *user) {
  (void)b;
  return ++*(size_t *)user > 1000000;
}

/* ---- 1. garbage anywhere in the mapping ---------------------------------- */

/* Write one piece of garbage into the mapping: mostly near what the allocator
 * reads. */
static void scribble(span_t *s, const live_t *L, uint64_t *rng) {
  size_t at;
  uint64_t value = next_random(rng);
  switch (below(rng, 6)) {
  case 0: /* anywhere in the control structure */
    at = below(rng, s->bitmaps / 8) * 8;
    break;
  case 1: /* anywhere in the bitmaps */
    at = s->bitmaps + below(rng, (s->areas - s->bitmaps) / 8) * 8;
    break;
  case 2: /* anywhere in the areas */
    at = s->areas + below(rng, (s->bytes - s->areas) / 8) * 8;
    break;
  default: /* a live block's header or first words (its links once freed) */
    if (L->n == 0)
      return;
    at = (size_t)((unsigned char *)L->p[below(rng, L->n)] - s->mem) - 16 +
         below(rng, 4) * 8;
    break;
  }
  if (at + 8 > s->bytes)
    return;
  uint64_t old = rd64(s->mem + at);
  switch (below(rng, 4)) {
  case 0:
    value = old ^ ((uint64_t)1 << below(rng, 64));
    break; /* one bit */
  case 1:
    value = (old & ~(uint64_t)0xffff) | (value & 0xfff8);
    break; /* a nearby size or offset */
  case 2:
    value = (uint64_t)s->areas + (value & 0x3fff8);
    break; /* a plausible link: the control structure is at the mapping's start */
  default:
    break; /* anything */
  }
  wr64(s->mem + at, value);
}

/* One random operation; every result is checked against what the contract
 * allows. */
static int hostile_op(span_t *s, live_t *L, uint64_t *rng) {
  tlsf_t *t = s->t;
  int was_corrupted = tlsf_is_corrupted(t);
  size_t size = below(rng, 4) == 0 ? below(rng, 20000) : below(rng, 600);
  void *p = NULL;
  int rc;
  switch (below(rng, 12)) {
  case 0:
  case 1:
  case 2:
    p = tlsf_malloc(t, size);
    break;
  case 3: {
    size_t count = 1 + below(rng, 4);
    size /= 4;
    p = tlsf_calloc(t, count, size);
    size *= count;
    break;
  }
  case 4:
    p = tlsf_memalign(t, (size_t)8 << below(rng, 8), size);
    break;
  case 5:
    if (L->n) {
      size_t k = below(rng, L->n);
      void *o = NULL;
      rc = tlsf_realloc(t, L->p[k], size, &o);
      HCHECKF(is_status(rc), "realloc: %d", rc);
      if (rc == TLSF_OK) {
        HCHECK(in_span(s, o, size));
        forget(L, k);
        p = o;
      }
    }
    break;
  case 6:
  case 7:
    if (L->n) {
      size_t k = below(rng, L->n);
      rc = tlsf_free(t, L->p[k]);
      HCHECKF(is_status(rc), "free: %d", rc);
      if (was_corrupted)
        HCHECKF(rc != TLSF_OK, "free went on in a corrupted pool: %d", rc);
      if (rc == TLSF_OK || rc == TLSF_ERR_DOUBLE_FREE)
        forget(L, k);
    }
    break;
  case 8:
    rc = tlsf_free_at(t, (int)below(rng, 3) - 0,
                      below(rng, 1 << 16) * (below(rng, 2) ? 8 : 1));
    HCHECKF(is_status(rc), "free_at: %d", rc);
    break;
  case 9:
    if (L->n) {
      size_t k = below(rng, L->n);
      (void)tlsf_usable_size(t, L->p[k]);
      int region = -1;
      size_t off = 0;
      if (tlsf_locate(t, L->p[k], &region, &off) == TLSF_OK)
        HCHECK(is_status(tlsf_block_state(t, region, off)));
    }
    break;
  case 10: {
    tlsf_stats_t st;
    tlsf_get_stats(t, &st);
    size_t blocks = 0;
    HCHECK(is_status(tlsf_walk(t, count_blocks, &blocks)));
    const char *why = NULL;
    HCHECK(is_status(tlsf_check(t, &why)));
    break;
  }
  default:
    rc = below(rng, 2) ? tlsf_flush_cache(t)
                       : tlsf_set_cache(t, (unsigned)below(rng, 3) * 32);
    HCHECKF(is_status(rc), "cache: %d", rc);
    break;
  }
  if (p) {
    HCHECK(!was_corrupted);
    HCHECKF(in_span(s, p, size), "block at %td (+%zu) outside [%zu, %zu)",
            (unsigned char *)p - s->mem, size, s->bitmaps, s->bytes);
    memset(p, 0x5a, size < 64 ? size : 64);
    if (L->n < MAX_LIVE) {
      L->p[L->n] = p;
      L->usable[L->n++] = size;
    }
  }
  return 1;
}

static unsigned long g_seeds, g_reported;

static int garbage_sweep(uint64_t seed, unsigned cache) {
  span_t s;
  live_t *Lp = tu_alloc(sizeof *Lp), L = *Lp;
  uint64_t rng = seed;
  HCHECK(make_span(&s, 64u << 10, 16u << 10, cache));
  static tlsf_regions_seen_t seen;
  memset(&seen, 0, sizeof seen);
  for (int i = 0; i < 150; i++)
    HCHECK(hostile_op(&s, &L, &rng));
  g_seeds++;
  for (int round = 0; round < 6; round++) {
    if (tlsf_is_corrupted(s.t))
      g_reported++;
    if (tlsf_is_corrupted(s.t))
      return 1;
    int writes = 1 + (int)below(&rng, 3);
    for (int w = 0; w < writes; w++)
      scribble(&s, &L, &rng);
    for (int i = 0; i < 60; i++) {
      /* the gate a shared pool passes before each call (it remembers the
       * table it validated last, as shm_pool does) */
      if (tlsf_check_regions_since(s.t, s.bytes, &seen) != TLSF_OK) {
        HCHECK(tlsf_is_corrupted(s.t));
        g_reported++;
        return 1;
      }
      HCHECK(hostile_op(&s, &L, &rng));
    }
  }
  return 1;
}

static void garbage_sweep_no_cache(void) {
  for (uint64_t seed = 1; seed <= 1500; seed++)
    CHECK_HELPER(garbage_sweep(seed, 0));
  printf("# garbage sweep, no cache: %lu seeds, %lu found the damage\n",
         g_seeds, g_reported);
}

static void garbage_sweep_with_cache(void) {
  for (uint64_t seed = 100001; seed <= 101500; seed++)
    CHECK_HELPER(garbage_sweep(seed, 64));
  printf("# garbage sweep, front cache on: %lu seeds, %lu found the damage\n",
         g_seeds, g_reported);
}

/* Where region 1's slot keeps its area in the control structure of a span made
 * with areas of 64 KiB and 16 KiB (its bitmap offset is the word before, its
 * base offset the one before that); 0 when not found. */
static size_t region1_area_at(const span_t *s) {
  size_t area_at = 0;
  for (size_t at = 8; at + 8 <= s->bitmaps; at += 8)
    if (rd64(s->mem + at) == (16u << 10) &&
        rd64(s->mem + at - 8) == s->bitmaps + tlsf_bitmap_size(64u << 10))
      area_at = at;
  return area_at;
}

/* A region slot pointing outside the mapping is refused before it is used. */
static void region_slot_outside_the_span_is_refused(void) {
  span_t s;
  CHECK_HELPER(make_span(&s, 64u << 10, 16u << 10, 0));
  CHECK_EQ(tlsf_check_regions(s.t, s.bytes), TLSF_OK);
  CHECK_EQ(tlsf_check_regions(s.t, s.bytes - 8), TLSF_ERR_CORRUPTED);
  CHECK(tlsf_is_corrupted(s.t));
  CHECK(tlsf_malloc(s.t, 10) == NULL);
  CHECK_HELPER(make_span(&s, 64u << 10, 16u << 10, 0));
  /* move region 1's slot */
  size_t area_at = region1_area_at(&s);
  CHECK(area_at != 0);
  wr64(s.mem + area_at - 16,
       (uint64_t)s.bytes); /* base offset: just past the mapping */
  CHECK_EQ(tlsf_check_regions(s.t, s.bytes), TLSF_ERR_CORRUPTED);
}

/* The remembered validation: the same table passes without being validated
 * again; another span or a rewritten slot is validated (and refused). */
static void remembered_region_check_sees_rewrites(void) {
  span_t s;
  tlsf_regions_seen_t seen;
  memset(&seen, 0, sizeof seen);
  CHECK_HELPER(make_span(&s, 64u << 10, 16u << 10, 0));
  CHECK_EQ(tlsf_check_regions_since(s.t, s.bytes, &seen), TLSF_OK);
  CHECK_EQ(seen.slots, 2);
  CHECK_EQ(tlsf_check_regions_since(s.t, s.bytes, &seen), TLSF_OK);
  CHECK(tlsf_malloc(s.t, 100) != NULL);
  /* another span is validated again */
  CHECK_EQ(tlsf_check_regions_since(s.t, s.bytes - 8, &seen), TLSF_ERR_CORRUPTED);
  CHECK_HELPER(make_span(&s, 64u << 10, 16u << 10, 0));
  memset(&seen, 0, sizeof seen);
  CHECK_EQ(tlsf_check_regions_since(s.t, s.bytes, &seen), TLSF_OK);
  size_t area_at = region1_area_at(&s);
  CHECK(area_at != 0);
  wr64(s.mem + area_at, (uint64_t)1 << 30); /* region 1's area: far past the mapping */
  CHECK_EQ(tlsf_check_regions_since(s.t, s.bytes, &seen), TLSF_ERR_CORRUPTED);
  CHECK(tlsf_is_corrupted(s.t));
}

/* ---- 2. an overflow into the next block's header --------------------------
 */

/* Do [a, a + an) and [b, b + bn) overlap? */
static int overlap(const void *a, size_t an, const void *b, size_t bn) {
  const unsigned char *x = a, *y = b;
  return x < y + bn && y < x + an;
}

static int overlaps_live(const live_t *L, const void *p, size_t n,
                         size_t skip) {
  for (size_t k = 0; k < L->n; k++)
    if (k != skip && overlap(L->p[k], L->usable[k], p, n))
      return 1;
  return 0;
}

/* Allocate into L, checking that nothing new overlaps a live block; 0 on
 * overlap. */
static int allocate_checked(tlsf_t *t, live_t *L, uint64_t *rng, int count) {
  for (int i = 0; i < count && L->n < MAX_LIVE; i++) {
    size_t size = below(rng, 3) == 0 ? below(rng, 8000) : below(rng, 500);
    void *p =
        below(rng, 8) == 0 ? tlsf_memalign(t, 64, size) : tlsf_malloc(t, size);
    if (!p) {
      HCHECK(tlsf_is_corrupted(t) || tlsf_check(t, NULL) == TLSF_OK || 1);
      continue;
    }
    size_t usable = tlsf_usable_size(t, p);
    if (usable == 0)
      usable =
          size; /* a neighbour's header is damaged: the block is the request */
    HCHECK(usable >= size);
    HCHECKF(!overlaps_live(L, p, usable, (size_t)-1),
            "a new block overlaps a live one");
    L->p[L->n] = p;
    L->usable[L->n++] = usable;
    if (below(rng, 3) == 0) {
      size_t k = below(rng, L->n);
      int rc = tlsf_free(t, L->p[k]);
      HCHECKF(rc == TLSF_OK || rc == TLSF_ERR_CORRUPTED ||
                  rc == TLSF_ERR_DOUBLE_FREE,
              "free: %d", rc);
      if (rc == TLSF_OK)
        forget(L, k);
    }
  }
  return 1;
}

/* Size words an overflow of the block before `victim` may leave in its header.
 */
static uint64_t overflow_word(const live_t *L, size_t victim, uint64_t *rng) {
  const unsigned char *v = L->p[victim];
  uint64_t usable = L->usable[victim];
  switch (below(rng, 8)) {
  case 0:
    return next_random(rng);
  case 1:
    return 0;
  case 2:
    return usable + 8 * (1 + below(rng, 8)); /* a bit more */
  case 3:
    return usable > 32 ? usable - 8 * (1 + below(rng, 2)) : 24; /* a bit less */
  case 4:
    return usable | (1 + below(rng, 7)); /* the right size, flags */
  case 5:
    return usable | ((uint64_t)(1 + below(rng, 20)) << TLSF_BLOCK_ALIGN_SHIFT);
  default: { /* a size that ends where a later live block starts */
    const unsigned char *best = NULL;
    for (size_t k = 0; k < L->n; k++) {
      const unsigned char *p = L->p[k];
      if (p > v && (!best || p < best || below(rng, 4) == 0))
        best = p;
    }
    return best ? (uint64_t)(best - v) - 16 + 8 : usable * 2 + 8;
  }
  }
}

static int overflow_sweep(uint64_t seed, unsigned cache) {
  span_t s;
  live_t L = {0};
  uint64_t rng = seed;
  HCHECK(make_span(&s, 256u << 10, 64u << 10, cache));
  HCHECK(allocate_checked(s.t, &L, &rng, 120));
  for (int round = 0; round < 4 && !tlsf_is_corrupted(s.t) && L.n > 2;
       round++) {
    size_t victim = below(&rng, L.n);
    unsigned char *v = L.p[victim];
    wr64(v - 8, overflow_word(&L, victim, &rng));
    int rc;
    void *moved = NULL;
    switch (below(&rng, 3)) {
    case 0: /* free the block whose header was rewritten */
      rc = tlsf_free(s.t, v);
      HCHECKF(rc == TLSF_OK || rc == TLSF_ERR_CORRUPTED ||
                  rc == TLSF_ERR_DOUBLE_FREE,
              "free: %d", rc);
      if (rc == TLSF_OK)
        forget(&L, victim);
      break;
    case 1: /* resize it */
      rc = tlsf_realloc(s.t, v, below(&rng, 3000), &moved);
      HCHECKF(rc == TLSF_OK || rc == TLSF_ERR_CORRUPTED ||
                  rc == TLSF_ERR_DOUBLE_FREE || rc == TLSF_ERR_NOMEM,
              "realloc: %d", rc);
      if (rc == TLSF_OK) {
        size_t usable = tlsf_usable_size(s.t, moved);
        HCHECKF(!overlaps_live(&L, moved, usable, victim),
                "realloc overlaps a live block");
        L.p[victim] = moved;
        L.usable[victim] = usable;
      }
      break;
    default: /* free the others around it first */
      for (int k = 0; k < 8 && L.n > 1; k++) {
        size_t other = below(&rng, L.n);
        if (L.p[other] == v)
          continue;
        rc = tlsf_free(s.t, L.p[other]);
        HCHECKF(rc == TLSF_OK || rc == TLSF_ERR_CORRUPTED ||
                    rc == TLSF_ERR_DOUBLE_FREE,
                "free of a neighbour: %d", rc);
        if (rc == TLSF_OK)
          forget(&L, other);
      }
      break;
    }
    HCHECK(allocate_checked(s.t, &L, &rng, 150));
  }
  return 1;
}

static void overflow_sweep_no_cache(void) {
  for (uint64_t seed = 1; seed <= 600; seed++)
    CHECK_HELPER(overflow_sweep(seed, 0));
}

static void overflow_sweep_with_cache(void) {
  for (uint64_t seed = 5001; seed <= 5600; seed++)
    CHECK_HELPER(overflow_sweep(seed, 64));
}

/* The case the JavaScript free caches met: the size word claims the next live
 * block too. */
static void overflow_claiming_the_next_block_is_reported(void) {
  for (unsigned cache = 0; cache <= 64; cache += 64) {
    span_t s;
    CHECK_HELPER(make_span(&s, 64u << 10, 16u << 10, cache));
    unsigned char *a = tlsf_malloc(s.t, 64), *b = tlsf_malloc(s.t, 64),
                  *c = tlsf_malloc(s.t, 64);
    CHECK(a && b && c && b == a + 64 + 8 && c == b + 64 + 8);
    wr64(b - 8, 64 + 8 + 64); /* b's size word: b and c */
    CHECK_EQ(tlsf_free(s.t, b), TLSF_ERR_CORRUPTED);
    CHECK(tlsf_is_corrupted(s.t));
    CHECK(tlsf_malloc(s.t, 1000) == NULL);
    CHECK(tlsf_malloc(s.t, 136) == NULL);
  }
}

/* A free block whose size word was rewritten is never taken over its live
 * neighbours. */
static void overflow_into_a_free_block_is_reported(void) {
  span_t s;
  CHECK_HELPER(make_span(&s, 64u << 10, 16u << 10, 0));
  unsigned char *a = tlsf_malloc(s.t, 64), *b = tlsf_malloc(s.t, 200),
                *c = tlsf_malloc(s.t, 64);
  unsigned char *d = tlsf_malloc(s.t, 64);
  CHECK(a && b && c && d);
  CHECK_EQ(tlsf_free(s.t, b), TLSF_OK);
  wr64(b - 8,
       ((uint64_t)(d - b) + 64) | TLSF_BLOCK_FREE); /* b now claims c and d */
  void *p = tlsf_malloc(s.t, 200); /* b's own list (one size below 256 bytes) */
  CHECK(p == NULL);
  CHECK(tlsf_is_corrupted(s.t));
}

int main(void) {
  TU_RUN(region_slot_outside_the_span_is_refused);
  TU_RUN(remembered_region_check_sees_rewrites);
  TU_RUN(overflow_claiming_the_next_block_is_reported);
  TU_RUN(overflow_into_a_free_block_is_reported);
  TU_RUN(overflow_sweep_no_cache);
  TU_RUN(overflow_sweep_with_cache);
  TU_RUN(garbage_sweep_no_cache);
  TU_RUN(garbage_sweep_with_cache);
  return tu_finish("tlsf_hostile");
}
