/*
 * contention.c — where the time of SharedPool's no-cache contention goes: the
 * C allocator of one shared segment (native/alloc/shm_pool.c, no JavaScript,
 * no per-process cache) driven by 1, 2 or 4 forked processes at once.
 * bench/run.js builds and drives it; by hand:
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Inative/alloc bench/c/contention.c native/alloc/[a-z]*.c -o contention
 *   ./contention --mode pairs|lock|own|line --procs N [--ops N]   one run, one JSON line
 *   ./contention --table [--ops N] [--runs N]                      every mode at 1, 2 and 4
 *       processes, `runs` runs each (default 3) interleaved, then a table of medians with
 *       the speedup over the mode's one-process run (aggregate throughput ratio)
 *
 * Modes (each process does `ops` operations after a barrier; 64 B blocks):
 *   pairs  the JavaScript contention workload's shape: a window of 100 live
 *          blocks per process, each op frees a random slot and allocates 64 B
 *          into it (shm_pool_free + shm_pool_alloc: two takes of the
 *          allocator lock), writing one byte
 *   lock   the allocator lock alone (taken with its per-lock checks, released
 *          at once): what a pair's two takes cost without the allocator
 *   own    pairs, but every process on a segment of its own: the machine's
 *          scaling when nothing is shared
 *   line   one atomic add per op, every process on the same 64-byte line:
 *          what moving one contended cache line between cores costs
 *
 * Output: one JSON line per run on stdout:
 *   {"mode":"pairs","procs":2,"ops":1000000,"aggregate_ns":..,"child_ns":[..],"cpu_ns":[..]}
 *   aggregate_ns: (last end - first start) / all processes' ops, so procs x
 *   the one-process rate is perfect scaling; child_ns: each process's own wall
 *   time per op; cpu_ns: its CPU time per op (below child_ns when it waited
 *   asleep or was descheduled).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm_pool.h"

#define MAX_PROCS 8
#define WINDOW 100
#define SEGMENT ((size_t)64 << 20)

/* Shared between the parent and its children (a MAP_SHARED anonymous page). */
typedef struct board {
    _Atomic uint32_t ready;
    _Atomic uint32_t go;
    _Alignas(64) _Atomic uint64_t line; /* mode line: the contended word */
    _Alignas(64) uint64_t start[MAX_PROCS], end[MAX_PROCS], cpu[MAX_PROCS];
    int failed[MAX_PROCS];
} board_t;

static uint64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The window workload on p: `ops` x (free a random slot, alloc 64 B into it). */
static int run_pairs(shm_pool_t *p, unsigned id, size_t ops) {
    uint64_t slot[WINDOW], seed = 42 + id;
    for (unsigned i = 0; i < WINDOW; i++) {
        void *ptr;
        if (shm_pool_alloc(p, 64, &slot[i], &ptr) != SHM_POOL_OK) return 0;
    }
    for (size_t i = 0; i < ops; i++) {
        unsigned s = (unsigned)(((rng_next(&seed) >> 32) * WINDOW) >> 32);
        void *ptr;
        if (shm_pool_free_at(p, slot[s]) != SHM_POOL_OK) return 0;
        if (shm_pool_alloc(p, 64, &slot[s], &ptr) != SHM_POOL_OK) return 0;
        *(volatile char *)ptr = (char)i;
    }
    for (unsigned i = 0; i < WINDOW; i++)
        if (shm_pool_free_at(p, slot[i]) != SHM_POOL_OK) return 0;
    return 1;
}

static int run_lock(shm_pool_t *p, size_t ops) {
    for (size_t i = 0; i < ops; i++) {
        if (shm_pool_debug_lock_allocator(p) != SHM_POOL_OK) return 0;
        if (shm_pool_debug_unlock_allocator(p) != SHM_POOL_OK) return 0;
    }
    return 1;
}

static void child(board_t *bd, const char *mode, unsigned id, unsigned procs, size_t ops, int fd) {
    shm_pool_t *p = NULL;
    int own = !strcmp(mode, "own");
    if (own ? shm_pool_create(NULL, SEGMENT, 0, &p) != SHM_POOL_OK
            : fd >= 0 && shm_pool_from_fd(fd, &p) != SHM_POOL_OK) {
        bd->failed[id] = 1;
        _exit(1);
    }
    atomic_fetch_add(&bd->ready, 1);
    while (atomic_load(&bd->ready) < procs || !atomic_load(&bd->go)) { /* spin: all start together */
    }
    bd->start[id] = clock_ns(CLOCK_MONOTONIC);
    uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    int ok = 1;
    if (!strcmp(mode, "line"))
        for (size_t i = 0; i < ops; i++) atomic_fetch_add(&bd->line, 1);
    else if (!strcmp(mode, "lock"))
        ok = run_lock(p, ops);
    else
        ok = run_pairs(p, id, ops);
    bd->cpu[id] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    bd->end[id] = clock_ns(CLOCK_MONOTONIC);
    bd->failed[id] = !ok;
    if (p) shm_pool_close(p);
    _exit(ok ? 0 : 1);
}

typedef struct result {
    double aggregate, child[MAX_PROCS], cpu[MAX_PROCS];
} result_t;

/* One run of `mode` with `procs` processes: 0 and *out, or nonzero. */
static int measure(board_t *bd, const char *mode, unsigned procs, size_t ops, result_t *out) {
    memset(bd, 0, sizeof *bd);
    shm_pool_t *pool = NULL;
    int fd = -1;
    if (!strcmp(mode, "pairs") || !strcmp(mode, "lock")) {
        if (shm_pool_create(NULL, SEGMENT, 0, &pool) != SHM_POOL_OK) { fprintf(stderr, "shm_pool_create failed\n"); return 2; }
        fd = shm_pool_fd(pool); /* inherited by the children */
    }
    pid_t pid[MAX_PROCS];
    for (unsigned i = 0; i < procs; i++) {
        pid[i] = fork();
        if (pid[i] < 0) { perror("fork"); return 2; }
        if (pid[i] == 0) child(bd, mode, i, procs, ops, fd);
    }
    while (atomic_load(&bd->ready) < procs) usleep(1000);
    atomic_store(&bd->go, 1);
    int bad = 0;
    for (unsigned i = 0; i < procs; i++) {
        int st;
        waitpid(pid[i], &st, 0);
        bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0 || bd->failed[i];
    }
    if (pool) shm_pool_close(pool);
    if (bad) { fprintf(stderr, "%s: a child failed\n", mode); return 3; }
    uint64_t first = bd->start[0], last = bd->end[0];
    for (unsigned i = 0; i < procs; i++) {
        if (bd->start[i] < first) first = bd->start[i];
        if (bd->end[i] > last) last = bd->end[i];
        out->child[i] = (double)(bd->end[i] - bd->start[i]) / (double)ops;
        out->cpu[i] = (double)bd->cpu[i] / (double)ops;
    }
    out->aggregate = (double)(last - first) / ((double)ops * procs);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char *const MODES[] = {"line", "lock", "pairs", "own"};
static const unsigned PROCS[] = {1, 2, 4};
#define NMODES (sizeof MODES / sizeof MODES[0])
#define NPROCS (sizeof PROCS / sizeof PROCS[0])
#define MAX_RUNS 15

/* Every mode at 1, 2 and 4 processes, runs interleaved; medians and speedups. */
static int table(board_t *bd, size_t ops, unsigned runs) {
    static double agg[NMODES][NPROCS][MAX_RUNS], cpu[NMODES][NPROCS][MAX_RUNS];
    for (unsigned r = 0; r < runs; r++)
        for (unsigned m = 0; m < NMODES; m++)
            for (unsigned k = 0; k < NPROCS; k++) {
                result_t res;
                int rc = measure(bd, MODES[m], PROCS[k], ops, &res);
                if (rc) return rc;
                agg[m][k][r] = res.aggregate;
                double c = 0;
                for (unsigned i = 0; i < PROCS[k]; i++) c += res.cpu[i];
                cpu[m][k][r] = c / PROCS[k];
            }
    printf("%-6s %5s %14s %8s %14s\n", "mode", "procs", "aggregate ns", "speedup", "CPU ns/op each");
    for (unsigned m = 0; m < NMODES; m++) {
        double one = 0;
        for (unsigned k = 0; k < NPROCS; k++) {
            qsort(agg[m][k], runs, sizeof(double), cmp_double);
            qsort(cpu[m][k], runs, sizeof(double), cmp_double);
            double a = agg[m][k][runs / 2], c = cpu[m][k][runs / 2];
            if (k == 0) one = a;
            printf("%-6s %5u %14.1f %7.2fx %14.1f\n", MODES[m], PROCS[k], a, one / a, c);
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = NULL;
    unsigned procs = 1, runs = 3;
    long long ops = 1000000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--table")) { mode = "table"; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "%s needs a value\n", argv[i]); return 2; }
        if (!strcmp(argv[i], "--mode")) mode = argv[++i];
        else if (!strcmp(argv[i], "--procs")) procs = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ops")) ops = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--runs")) runs = (unsigned)atoi(argv[++i]);
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    int known = mode && !strcmp(mode, "table");
    for (unsigned m = 0; mode && m < NMODES; m++) known |= !strcmp(mode, MODES[m]);
    if (!known) { fprintf(stderr, "--mode pairs|lock|own|line, or --table\n"); return 2; }
    if (procs < 1 || procs > MAX_PROCS || ops < 1 || runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "--procs 1..%d, --ops >= 1, --runs 1..%d\n", MAX_PROCS, MAX_RUNS);
        return 2;
    }
    board_t *bd = mmap(NULL, sizeof(board_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (bd == MAP_FAILED) { perror("mmap"); return 2; }
    if (!strcmp(mode, "table")) return table(bd, (size_t)ops, runs);
    result_t res;
    int rc = measure(bd, mode, procs, (size_t)ops, &res);
    if (rc) return rc;
    printf("{\"mode\":\"%s\",\"procs\":%u,\"ops\":%lld,\"aggregate_ns\":%.2f,\"child_ns\":[", mode, procs, ops, res.aggregate);
    for (unsigned i = 0; i < procs; i++) printf("%s%.2f", i ? "," : "", res.child[i]);
    printf("],\"cpu_ns\":[");
    for (unsigned i = 0; i < procs; i++) printf("%s%.2f", i ? "," : "", res.cpu[i]);
    printf("]}\n");
    return 0;
}
