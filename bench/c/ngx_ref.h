/*
 * ngx_ref.h — a minimal nginx-style pool, written for the R1 benchmark only as a
 * yardstick (adapter ALLOC_NGX_REF, row "ngx-ref"). It follows the allocation path
 * of nginx's ngx_pool_t: the pool header lives at the start of the first block,
 * further blocks carry a small header too; small requests (<= max = min(block -
 * header, 4095)) are bumped from the blocks starting at `current` with 8-byte
 * alignment; a block that fails more than 4 requests is skipped from then on;
 * larger requests are malloc'd and recorded in a list (whose nodes come from the
 * pool; the first 4 nodes are checked for a free slot to reuse); free only
 * releases large blocks; destroy frees the large blocks, then every block.
 * No cleanups, no reset, no side tables, no validation: that is the point.
 */
#ifndef BENCH_NGX_REF_H
#define BENCH_NGX_REF_H

#include <stdint.h>
#include <stdlib.h>

#define NGXR_ALIGNMENT 8u       /* like NGX_ALIGNMENT (sizeof(unsigned long)) */
#define NGXR_POOL_ALIGNMENT 16u /* like NGX_POOL_ALIGNMENT */
#define NGXR_MAX_SMALL 4095u    /* like NGX_MAX_ALLOC_FROM_POOL (page size - 1) */

typedef struct ngxr_large {
    struct ngxr_large *next;
    void *alloc;
} ngxr_large_t;

struct ngxr_pool;

typedef struct ngxr_data {
    unsigned char *last, *end;
    struct ngxr_pool *next;
    unsigned failed;
} ngxr_data_t;

typedef struct ngxr_pool {
    ngxr_data_t d;
    size_t max;
    struct ngxr_pool *current;
    ngxr_large_t *large;
} ngxr_pool_t;

static inline unsigned char *ngxr_align_ptr(unsigned char *p, uintptr_t a) {
    return (unsigned char *)(((uintptr_t)p + (a - 1)) & ~(a - 1));
}

static inline void *ngxr_memalign(size_t align, size_t size) {
    void *p = NULL;
    return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

static ngxr_pool_t *ngxr_create_pool(size_t size) {
    ngxr_pool_t *p = ngxr_memalign(NGXR_POOL_ALIGNMENT, size);
    if (!p) return NULL;
    p->d.last = (unsigned char *)p + sizeof(ngxr_pool_t);
    p->d.end = (unsigned char *)p + size;
    p->d.next = NULL;
    p->d.failed = 0;
    size -= sizeof(ngxr_pool_t);
    p->max = size < NGXR_MAX_SMALL ? size : NGXR_MAX_SMALL;
    p->current = p;
    p->large = NULL;
    return p;
}

static void *ngxr_palloc_block(ngxr_pool_t *pool, size_t size) {
    size_t psize = (size_t)(pool->d.end - (unsigned char *)pool);
    unsigned char *m = ngxr_memalign(NGXR_POOL_ALIGNMENT, psize);
    if (!m) return NULL;
    ngxr_pool_t *n = (ngxr_pool_t *)m;
    n->d.end = m + psize;
    n->d.next = NULL;
    n->d.failed = 0;
    m = ngxr_align_ptr(m + sizeof(ngxr_data_t), NGXR_ALIGNMENT);
    n->d.last = m + size;
    ngxr_pool_t *b;
    for (b = pool->current; b->d.next; b = b->d.next)
        if (b->d.failed++ > 4) pool->current = b->d.next;
    b->d.next = n;
    return m;
}

static inline void *ngxr_palloc_small(ngxr_pool_t *pool, size_t size) {
    for (ngxr_pool_t *b = pool->current; b; b = b->d.next) {
        unsigned char *m = ngxr_align_ptr(b->d.last, NGXR_ALIGNMENT);
        if ((size_t)(b->d.end - m) >= size) {
            b->d.last = m + size;
            return m;
        }
    }
    return ngxr_palloc_block(pool, size);
}

static void *ngxr_palloc_large(ngxr_pool_t *pool, size_t size) {
    void *q = malloc(size);
    if (!q) return NULL;
    unsigned n = 0;
    ngxr_large_t *l;
    for (l = pool->large; l; l = l->next) {
        if (!l->alloc) {
            l->alloc = q;
            return q;
        }
        if (n++ > 3) break;
    }
    l = ngxr_palloc_small(pool, sizeof *l);
    if (!l) {
        free(q);
        return NULL;
    }
    l->alloc = q;
    l->next = pool->large;
    pool->large = l;
    return q;
}

static inline void *ngxr_palloc(ngxr_pool_t *pool, size_t size) {
    return size <= pool->max ? ngxr_palloc_small(pool, size) : ngxr_palloc_large(pool, size);
}

/* Only large blocks are released (like ngx_pfree); 0 when it was one. */
static int ngxr_pfree(ngxr_pool_t *pool, void *p) {
    for (ngxr_large_t *l = pool->large; l; l = l->next) {
        if (p == l->alloc) {
            free(l->alloc);
            l->alloc = NULL;
            return 0;
        }
    }
    return -1;
}

static void ngxr_destroy_pool(ngxr_pool_t *pool) {
    for (ngxr_large_t *l = pool->large; l; l = l->next) free(l->alloc);
    for (ngxr_pool_t *b = pool, *n = pool->d.next;; b = n, n = n->d.next) {
        free(b);
        if (!n) break;
    }
}

#endif /* BENCH_NGX_REF_H */
