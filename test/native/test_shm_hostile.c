/* Tests for what other processes can do to a shared segment: damaged and
 * stuck lock words (shm_lock.c), a peer writing the header, the lent map and
 * the park records after attach, descriptors that are not segments, and the
 * read-only listing (shm_pool_peek). Every case runs in its own forked
 * process with a timeout (test_util.h), so a hang fails the case. */
#include "shm_lock.h"
#include "shm_pool.h"

#include "fork_util.h"
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#define MIB ((size_t)1 << 20)

/* Header fields (shm_pool.c asserts these offsets). */
enum { H_LENT_OFFSET = 56, H_AREA_OFFSET = 72, H_ALLOC_LOCK = 144, H_USER_LOCK = 148 };

static shm_pool_t *anon_pool(size_t size)
{
    shm_pool_t *p = NULL;
    return shm_pool_create(NULL, size, 0, &p) == SHM_POOL_OK ? p : NULL;
}

static uint32_t *word_at(shm_pool_t *p, unsigned field) { return (uint32_t *)((char *)shm_pool_base(p) + field); }

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The pid of a process that existed and is gone (reaped). */
static int child_exit(void *arg)
{
    (void)arg;
    return 0;
}
static uint32_t dead_pid(void)
{
    pid_t pid = spawn(child_exit, NULL);
    reap(pid);
    return (uint32_t)pid;
}

/* ---- the lock word itself
 * ----------------------------------------------------- */

static void test_lock_word_validity(void)
{
    CHECK(shm_lock_word_valid(0));
    CHECK(shm_lock_word_valid(1234));
    CHECK(shm_lock_word_valid(1234 | SHM_LOCK_WAITERS));
    CHECK(!shm_lock_word_valid(SHM_LOCK_WAITERS));   /* waiters, no holder */
    CHECK(!shm_lock_word_valid(0x80000000u | 1234)); /* bit 31 */
    CHECK(!shm_lock_word_valid(0xffffffffu));
    CHECK(!shm_lock_word_valid(SHM_LOCK_TID_MAX + 1));
    CHECK_EQU(shm_lock_holder(1234 | SHM_LOCK_WAITERS), 1234u);
    CHECK_EQU(shm_lock_holder(0xffffffffu), 0u);
}

static void test_lock_acquire_release(void)
{
    uint32_t w = 0;
    CHECK_EQ(shm_lock_acquire(&w, 0), SHM_LOCK_OK);
    CHECK_EQU(w, shm_lock_self());
    CHECK_EQ(shm_lock_acquire(&w, 10), SHM_LOCK_RECURSIVE);
    CHECK_EQ(shm_lock_release(&w), SHM_LOCK_OK);
    CHECK_EQU(w, 0u);
    CHECK_EQ(shm_lock_release(&w), SHM_LOCK_NOT_HOLDER);
    w = shm_lock_self() | SHM_LOCK_WAITERS; /* held, somebody may sleep on it: released (and woken) */
    CHECK_EQ(shm_lock_release(&w), SHM_LOCK_OK);
    CHECK_EQU(w, 0u);
    w = 1234 | SHM_LOCK_WAITERS; /* another holder's, with waiters: untouched */
    CHECK_EQ(shm_lock_release(&w), SHM_LOCK_NOT_HOLDER);
    CHECK_EQU(w, 1234u | SHM_LOCK_WAITERS);
    w = 0xdeadbeefu;
    CHECK_EQ(shm_lock_acquire(&w, 10), SHM_LOCK_DAMAGED);
    CHECK_EQU(w, 0xdeadbeefu); /* left alone */
    CHECK_EQ(shm_lock_release(&w), SHM_LOCK_NOT_HOLDER);
    w = dead_pid();
    CHECK_EQ(shm_lock_acquire(&w, SHM_LOCK_FOREVER), SHM_LOCK_OWNER_DIED);
    CHECK_EQU(w & SHM_LOCK_TID_MASK, shm_lock_self());
    CHECK_EQ(shm_lock_release(&w), SHM_LOCK_OK);
    w = 1; /* init: alive, never lets go */
    int64_t t0 = now_ms();
    CHECK_EQ(shm_lock_acquire(&w, 60), SHM_LOCK_TIMEOUT);
    CHECK(now_ms() - t0 >= 50);
    CHECK_EQU(w & SHM_LOCK_TID_MASK, 1u);
}

/* Threads and processes incrementing a counter under the lock never lose an
 * update. */
typedef struct counter {
    uint32_t word;
    uint64_t count;
} counter_t;

static void *count_thread(void *arg)
{
    counter_t *c = arg;
    for (int i = 0; i < 20000; i++) {
        if (shm_lock_acquire(&c->word, SHM_LOCK_FOREVER) != SHM_LOCK_OK) return arg;
        c->count++;
        shm_lock_release(&c->word);
    }
    return NULL;
}

static int count_process(void *arg)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, count_thread, arg);
    int bad = 0;
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad |= r != NULL;
    }
    return bad;
}

static void test_lock_excludes_threads_and_processes(void)
{
    counter_t *c = mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(c != MAP_FAILED);
    pid_t kids[3];
    for (int i = 0; i < 3; i++) kids[i] = spawn(count_process, c);
    for (int i = 0; i < 3; i++) CHECK_EQ(reap(kids[i]), 0);
    CHECK_EQU(c->count, (uint64_t)3 * 2 * 20000);
    CHECK_EQU(c->word, 0u);
    munmap(c, sizeof *c);
}

/* A process killed while it holds the lock: the next locker takes over. */
static int hold_and_sleep(void *arg)
{
    uint32_t *w = arg;
    if (shm_lock_acquire(w, 0) != SHM_LOCK_OK) return 1;
    for (;;) pause();
}

static void test_lock_holder_killed(void)
{
    uint32_t *w = mmap(NULL, 4, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(w != MAP_FAILED);
    *w = 0;
    pid_t pid = spawn(hold_and_sleep, w);
    while (__atomic_load_n(w, __ATOMIC_ACQUIRE) == 0) sched_yield();
    kill(pid, SIGKILL);
    /* Before the child is reaped it is a zombie: still found dead. */
    int64_t t0 = now_ms();
    CHECK_EQ(shm_lock_acquire(w, 5000), SHM_LOCK_OWNER_DIED);
    (void)t0;
    reap(pid);
    CHECK_EQ(shm_lock_release(w), SHM_LOCK_OK);
    munmap(w, 4);
}

/* ---- damaged lock words in a segment
 * ------------------------------------------------- */

static void test_attach_damaged_lock_words(void)
{
    static const uint32_t bad[] = {0xffffffffu, 0x80000000u, SHM_LOCK_WAITERS, SHM_LOCK_TID_MAX + 7, 0x7fffffffu};
    for (int field = 0; field < 2; field++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            shm_pool_t *p = anon_pool(MIB);
            CHECK(p);
            *word_at(p, field ? H_USER_LOCK : H_ALLOC_LOCK) = bad[i];
            shm_pool_t *q = NULL;
            int64_t t0 = now_ms();
            int rc = shm_pool_from_fd(shm_pool_fd(p), &q);
            int64_t took = now_ms() - t0;
            CHECKF(rc == SHM_POOL_ERR_CORRUPTED && !q, "word %#x: %d", bad[i], rc);
            CHECKF(took < 1000, "word %#x: attach waited %lld ms", bad[i], (long long)took); /* no wait at all */
            /* The pool already attached refuses too, and nothing hangs or aborts. */
            uint64_t off;
            if (!field) CHECK_EQ(shm_pool_alloc(p, 64, &off, NULL), SHM_POOL_ERR_CORRUPTED);
            if (field) CHECK_EQ(shm_pool_lock(p, 50), SHM_POOL_ERR_CORRUPTED);
            shm_pool_close(p);
        }
    }
}

static void test_dead_lock_holder_recovered_on_attach(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    uint64_t off;
    CHECK_EQ(shm_pool_alloc(p, 100, &off, NULL), SHM_POOL_OK);
    *word_at(p, H_ALLOC_LOCK) = dead_pid() | SHM_LOCK_WAITERS;
    shm_pool_t *q = NULL;
    CHECK_EQ(shm_pool_from_fd(shm_pool_fd(p), &q), SHM_POOL_OK);
    shm_pool_stats_t s;
    CHECK_EQ(shm_pool_stats(q, &s), SHM_POOL_OK);
    CHECK_EQU(s.generation, 1u);
    CHECK_EQU(s.allocations, 1u);
    CHECK_EQ(shm_pool_free_at(q, off), SHM_POOL_OK);
    CHECK_EQ(shm_pool_check(q, NULL), SHM_POOL_OK);
    shm_pool_close(q);
    shm_pool_close(p);
}

static void test_live_lock_holder_times_out(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    *word_at(p, H_ALLOC_LOCK) = 1; /* init: alive, not ours */
    shm_pool_t *q = NULL;
    CHECK_EQ(shm_pool_from_fd_within(shm_pool_fd(p), 50, &q), SHM_POOL_ERR_TIMEOUT);
    CHECK(!q);
    shm_pool_set_lock_timeout(p, 30);
    uint64_t off;
    CHECK_EQ(shm_pool_alloc(p, 64, &off, NULL), SHM_POOL_ERR_TIMEOUT);
    *word_at(p, H_ALLOC_LOCK) = 0; /* let go: all is well again */
    CHECK_EQ(shm_pool_alloc(p, 64, &off, NULL), SHM_POOL_OK);
    /* The user lock: a timeout, and this thread's own lock is not taken twice. */
    *word_at(p, H_USER_LOCK) = 1;
    CHECK_EQ(shm_pool_lock(p, 30), SHM_POOL_ERR_TIMEOUT);
    *word_at(p, H_USER_LOCK) = 0;
    CHECK_EQ(shm_pool_lock(p, 30), SHM_POOL_OK);
    CHECK_EQ(shm_pool_lock(p, 30), SHM_POOL_ERR_BUSY);
    CHECK_EQ(shm_pool_unlock(p), SHM_POOL_OK);
    CHECK_EQ(shm_pool_unlock(p), SHM_POOL_ERR_INVALID);
    shm_pool_close(p);
}

/* A third process scribbling the allocator lock word while two others
 * allocate: nobody hangs, nobody crashes (they may see CORRUPTED or TIMEOUT,
 * or a broken allocator once mutual exclusion was broken by a scribbled 0). */
typedef struct churn_args {
    int fd;
    volatile uint32_t *stop;
} churn_args_t;

static int churn_until_stopped(void *arg)
{
    churn_args_t *a = arg;
    shm_pool_t *p = NULL;
    if (shm_pool_from_fd_within(a->fd, 20, &p) != SHM_POOL_OK) return 0; /* refused: fine */
    uint64_t held[16] = {0};
    for (unsigned i = 0; !__atomic_load_n(a->stop, __ATOMIC_ACQUIRE) && i < 2000000; i++) {
        unsigned k = i % 16;
        if (held[k]) shm_pool_free_at(p, held[k]);
        held[k] = 0;
        uint64_t off;
        void *ptr;
        if (shm_pool_alloc(p, 16 + (i * 37) % 900, &off, &ptr) == SHM_POOL_OK) {
            memset(ptr, (int)i, 16);
            held[k] = off;
        }
    }
    shm_pool_close(p);
    return 0;
}

static void test_scribbled_lock_while_two_allocate(void)
{
    shm_pool_t *p = anon_pool(4 * MIB);
    CHECK(p);
    volatile uint32_t *stop = mmap(NULL, 4, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(stop != MAP_FAILED);
    *stop = 0;
    churn_args_t args = {shm_pool_fd(p), stop};
    pid_t kids[2] = {spawn(churn_until_stopped, &args), spawn(churn_until_stopped, &args)};
    uint32_t *word = word_at(p, H_ALLOC_LOCK);
    uint32_t values[] = {0xffffffffu, 0, 1, dead_pid(), (uint32_t)kids[0], 0x80000001u, 0};
    unsigned r = 7;
    for (int i = 0; i < 400; i++) {
        r = r * 1103515245u + 12345u;
        __atomic_store_n(word, values[r % (sizeof values / sizeof values[0])], __ATOMIC_RELAXED);
        struct timespec ms = {0, 500000L};
        nanosleep(&ms, NULL);
    }
    __atomic_store_n(stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++) {
        int rc = reap(kids[i]);
        CHECKF(rc == 0, "child %d ended with %d", i, rc);
    }
    munmap((void *)stop, 4);
    shm_pool_close(p);
}

/* ---- a peer writing after attach
 * ------------------------------------------------------- */

static void test_peer_moves_header_layout(void)
{
    shm_pool_t *p = anon_pool(MIB);
    CHECK(p);
    uint64_t a, b;
    CHECK_EQ(shm_pool_alloc(p, 100, &a, NULL), SHM_POOL_OK);
    unsigned char *h = shm_pool_base(p);
    uint64_t huge = (uint64_t)1 << 40;
    memcpy(h + H_LENT_OFFSET, &huge, 8); /* what once made free() fault */
    CHECK_EQ(shm_pool_free_at(p, a), SHM_POOL_ERR_CORRUPTED);
    CHECK_EQ(shm_pool_alloc(p, 100, &b, NULL), SHM_POOL_ERR_CORRUPTED);
    const char *why = NULL;
    CHECK_EQ(shm_pool_check(p, &why), SHM_POOL_ERR_CORRUPTED);
    CHECK(why != NULL);
    memcpy(h + H_AREA_OFFSET, &huge, 8);
    void *ptr;
    CHECK_EQ(shm_pool_lend(p, 1000, &a, &ptr), SHM_POOL_ERR_CORRUPTED);
    shm_pool_close(p);
}

/* Garbage over the lent map and the park records, then every kind of call. */
static void test_peer_scribbles_lent_map_and_parks(void)
{
    for (unsigned seed = 1; seed <= 40; seed++) {
        shm_pool_t *p = anon_pool(4 * MIB);
        CHECK(p);
        uint64_t lent, list, blocks[8];
        void *ptr;
        CHECK_EQ(shm_pool_lend(p, 100000, &lent, &ptr), SHM_POOL_OK);
        CHECK_EQ(shm_pool_park_open(p, 4, 8, &list), SHM_POOL_OK);
        for (int i = 0; i < 8; i++) CHECK_EQ(shm_pool_alloc(p, 64 + i * 8, &blocks[i], NULL), SHM_POOL_OK);
        /* Scribble: random 64-bit words into the header after the lock words
     * (attach table, roots, park records) and into the lent map. */
        unsigned char *base = shm_pool_base(p);
        uint64_t lent_offset, area_offset;
        memcpy(&lent_offset, base + H_LENT_OFFSET, 8);
        memcpy(&area_offset, base + H_AREA_OFFSET, 8);
        unsigned r = seed;
        for (int k = 0; k < 64; k++) {
            r = r * 1103515245u + 12345u;
            uint64_t v = ((uint64_t)r << 32) ^ (r * 2654435761u);
            if (k & 1) v &= 0xffffffffu; /* small values look like pids and offsets */
            uint64_t at = (k & 2) ? 152 + (r % 2048) / 8 * 8 : lent_offset + (r % (area_offset - lent_offset)) / 8 * 8;
            if (at + 8 <= area_offset) memcpy(base + at, &v, 8);
        }
        size_t n;
        shm_pool_reclaim(p, &n);
        for (int i = 0; i < 8; i++) shm_pool_free_at(p, blocks[i]);
        shm_pool_unlend(p, lent);
        shm_pool_park_close(p, list, &n);
        shm_pool_at(p, lent + 8, 16, &ptr);
        shm_pool_usable_size(p, lent + 65536);
        shm_pool_check(p, NULL);
        shm_pool_t *q = NULL;
        if (shm_pool_from_fd(shm_pool_fd(p), &q) == SHM_POOL_OK) {
            shm_pool_check(q, NULL);
            shm_pool_close(q);
        }
        shm_pool_close(p);
    }
}

/* ---- descriptors that are not segments
 * --------------------------------------------------- */

static void test_not_segments_refused_at_once(void)
{
    int fds[4], pipefd[2];
    CHECK_EQ(pipe(pipefd), 0);
    fds[0] = pipefd[0];
    fds[1] = open("/", O_RDONLY | O_DIRECTORY);
    fds[2] = open("/dev/zero", O_RDWR);
    fds[3] = memfd_create("garbage", MFD_CLOEXEC);
    CHECK(fds[1] >= 0 && fds[2] >= 0 && fds[3] >= 0);
    char junk[4096];
    memset(junk, 0x5a, sizeof junk);
    CHECK_EQ(write(fds[3], junk, sizeof junk), (ssize_t)sizeof junk);
    for (int i = 0; i < 4; i++) {
        shm_pool_t *q = NULL;
        int64_t t0 = now_ms();
        int rc = shm_pool_from_fd(fds[i], &q);
        CHECKF(rc == SHM_POOL_ERR_NOT_SEGMENT && !q, "fd kind %d: %d", i, rc);
        CHECKF(now_ms() - t0 < 1000, "fd kind %d waited %lld ms", i, (long long)(now_ms() - t0)); /* no wait */
        close(fds[i]);
    }
    close(pipefd[1]);
}

/* ---- listing
 * -------------------------------------------------------------------------------
 */

static char g_name[64];

static int create_and_die(void *arg)
{
    (void)arg;
    shm_pool_t *p = NULL;
    if (shm_pool_create(g_name, MIB, 0, &p) != SHM_POOL_OK) return 1;
    return 0; /* exits without closing or unlinking */
}

static void test_peek_lists_creator_and_attached(void)
{
    snprintf(g_name, sizeof g_name, "/mempools-test-%ld-peek", (long)getpid());
    shm_unlink(g_name);
    shm_pool_t *p = NULL;
    CHECK_EQ(shm_pool_create(g_name, MIB, 0, &p), SHM_POOL_OK);
    uint64_t off;
    CHECK_EQ(shm_pool_alloc(p, 1000, &off, NULL), SHM_POOL_OK);
    shm_pool_info_t info;
    CHECK_EQ(shm_pool_peek(g_name, &info), SHM_POOL_OK);
    CHECK_EQU(info.size, (uint64_t)MIB);
    CHECK_EQU(info.creator_pid, (uint32_t)getpid());
    CHECK(info.creator_alive);
    CHECK_EQU(info.attached_count, 1u);
    CHECK_EQU(info.attached[0], (uint32_t)getpid());
    CHECK(info.used >= 1000);
    CHECK(info.created_ms > 0);
    shm_pool_t *q = NULL;
    CHECK_EQ(shm_pool_open(g_name, &q), SHM_POOL_OK);
    CHECK_EQ(shm_pool_peek(g_name, &info), SHM_POOL_OK);
    CHECK_EQU(info.attached_count, 2u);
    shm_pool_close(q);
    shm_pool_close(p);
    CHECK_EQ(shm_pool_peek(g_name, &info), SHM_POOL_OK);
    CHECK_EQU(info.attached_count, 0u);
    shm_pool_unlink(g_name);
    /* A creator that died: stale. */
    CHECK_EQ(reap(spawn(create_and_die, NULL)), 0);
    CHECK_EQ(shm_pool_peek(g_name, &info), SHM_POOL_OK);
    CHECK(!info.creator_alive);
    CHECK_EQU(info.attached_count, 0u);
    shm_pool_unlink(g_name);
    /* Not ours. */
    int fd = shm_open(g_name, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    CHECK_EQ(ftruncate(fd, 8192), 0);
    close(fd);
    CHECK_EQ(shm_pool_peek(g_name, &info), SHM_POOL_ERR_NOT_SEGMENT);
    shm_unlink(g_name);
    CHECK_EQ(shm_pool_peek(g_name, &info), SHM_POOL_ERR_SYSTEM);
    CHECK_EQ(errno, ENOENT);
}

int main(void)
{
    (void)tu_alloc;
    (void)tu_aligned;
    TU_RUN(test_lock_word_validity);
    TU_RUN(test_lock_acquire_release);
    TU_RUN(test_lock_excludes_threads_and_processes);
    TU_RUN(test_lock_holder_killed);
    TU_RUN(test_attach_damaged_lock_words);
    TU_RUN(test_dead_lock_holder_recovered_on_attach);
    TU_RUN(test_live_lock_holder_times_out);
    TU_RUN(test_scribbled_lock_while_two_allocate);
    TU_RUN(test_peer_moves_header_layout);
    TU_RUN(test_peer_scribbles_lent_map_and_parks);
    TU_RUN(test_not_segments_refused_at_once);
    TU_RUN(test_peek_lists_creator_and_attached);
    return tu_finish("shm_hostile");
}
