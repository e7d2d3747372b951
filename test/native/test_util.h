/*
 * test_util.h: a tiny test harness for the native tests (no external framework).
 *
 *   static void test_something(void) { CHECK(x == 1); CHECK_EQ(a, b); }
 *   int main(void) { TU_RUN(test_something); return tu_finish("tlsf"); }
 *
 * Every case prints one line: "ok - name" or "not ok - name: reason".
 * By default each case runs in a forked child (with an alarm), so a crash or a
 * sanitizer abort in one case is reported as that case's failure and the others
 * still run. TU_NOFORK=1 in the environment (or tu_nofork = 1) runs in-process.
 * Memory from tu_alloc()/tu_aligned() is released after each case, so a CHECK
 * that returns early does not leak (LeakSanitizer runs when a passing child exits).
 * The binary ends with "# <name>: done" and exits nonzero if any case failed.
 */
#ifndef MEMPOOLS_TEST_UTIL_H
#define MEMPOOLS_TEST_UTIL_H

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int tu_failed_cases;
static int tu_passed_cases;
static int tu_nofork;
static unsigned tu_timeout_seconds = 120;
static int tu_case_failed;
static char tu_reason[512];

#define TU_MAX_ALLOCS 4096
static void *tu_allocs[TU_MAX_ALLOCS];
static size_t tu_nallocs;

static void tu_failf(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void tu_failf(const char *file, int line, const char *fmt, ...) {
    if (tu_case_failed) return; /* keep the first reason */
    tu_case_failed = 1;
    int n = snprintf(tu_reason, sizeof tu_reason, "%s:%d: ", file, line);
    if (n < 0 || (size_t)n >= sizeof tu_reason) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tu_reason + n, sizeof tu_reason - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Fail the case and return from the (void) test function. */
#define CHECK(c)                                                                 \
    do {                                                                         \
        if (!(c)) {                                                              \
            tu_failf(__FILE__, __LINE__, "CHECK(%s)", #c);                       \
            return;                                                              \
        }                                                                        \
    } while (0)
#define CHECKF(c, ...)                                                           \
    do {                                                                         \
        if (!(c)) {                                                              \
            tu_failf(__FILE__, __LINE__, __VA_ARGS__);                           \
            return;                                                              \
        }                                                                        \
    } while (0)
/* Integer equality (compared and printed as intmax_t / uintmax_t). */
#define CHECK_EQ(a, b)                                                           \
    do {                                                                         \
        intmax_t tu_a_ = (intmax_t)(a), tu_b_ = (intmax_t)(b);                   \
        if (tu_a_ != tu_b_) {                                                    \
            tu_failf(__FILE__, __LINE__, "%s == %s: %jd != %jd", #a, #b, tu_a_,  \
                     tu_b_);                                                     \
            return;                                                              \
        }                                                                        \
    } while (0)
#define CHECK_EQU(a, b)                                                          \
    do {                                                                         \
        uintmax_t tu_a_ = (uintmax_t)(a), tu_b_ = (uintmax_t)(b);                \
        if (tu_a_ != tu_b_) {                                                    \
            tu_failf(__FILE__, __LINE__, "%s == %s: %ju (0x%jx) != %ju (0x%jx)", \
                     #a, #b, tu_a_, tu_a_, tu_b_, tu_b_);                        \
            return;                                                              \
        }                                                                        \
    } while (0)
/* Propagate a failure from a helper that returns int (0 = failed). */
#define CHECK_HELPER(call)                                                       \
    do {                                                                         \
        if (!(call) || tu_case_failed) {                                         \
            tu_failf(__FILE__, __LINE__, "helper %s failed", #call);             \
            return;                                                              \
        }                                                                        \
    } while (0)
/* Same as the CHECK family, for helpers returning int: return 0 on failure. */
#define HCHECK(c)                                                                \
    do {                                                                         \
        if (!(c)) {                                                              \
            tu_failf(__FILE__, __LINE__, "CHECK(%s)", #c);                       \
            return 0;                                                            \
        }                                                                        \
    } while (0)
#define HCHECKF(c, ...)                                                          \
    do {                                                                         \
        if (!(c)) {                                                              \
            tu_failf(__FILE__, __LINE__, __VA_ARGS__);                           \
            return 0;                                                            \
        }                                                                        \
    } while (0)

/* Memory owned by the current case, released after it. Aborts on OOM. */
static void *tu_track(void *p) {
    if (!p) {
        fprintf(stderr, "test_util: out of memory\n");
        abort();
    }
    if (tu_nallocs == TU_MAX_ALLOCS) {
        fprintf(stderr, "test_util: too many tracked allocations\n");
        abort();
    }
    tu_allocs[tu_nallocs++] = p;
    return p;
}
static void *tu_alloc(size_t n) { return tu_track(calloc(1, n ? n : 1)); }
/* align a power of two >= sizeof(void *); n is rounded up to a multiple of align. */
static void *tu_aligned(size_t align, size_t n) {
    size_t r = (n + align - 1) / align * align;
    return tu_track(aligned_alloc(align, r ? r : align));
}
static void tu_release(void) {
    while (tu_nallocs) free(tu_allocs[--tu_nallocs]);
}

static void tu_run_inproc(const char *name, void (*fn)(void)) {
    tu_case_failed = 0;
    tu_reason[0] = 0;
    fn();
    tu_release();
    if (tu_case_failed) {
        printf("not ok - %s: %s\n", name, tu_reason);
        tu_failed_cases++;
    } else {
        printf("ok - %s\n", name);
        tu_passed_cases++;
    }
    fflush(stdout);
}

static void tu_run(const char *name, void (*fn)(void)) {
    if (tu_nofork || getenv("TU_NOFORK")) {
        tu_run_inproc(name, fn);
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        tu_run_inproc(name, fn);
        return;
    }
    if (pid == 0) {
        alarm(tu_timeout_seconds);
        tu_case_failed = 0;
        fn();
        tu_release();
        if (tu_case_failed) {
            printf("not ok - %s: %s\n", name, tu_reason);
            fflush(stdout);
            _exit(3);
        }
        exit(0); /* LeakSanitizer runs here */
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        printf("ok - %s\n", name);
        tu_passed_cases++;
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
        tu_failed_cases++; /* the child printed its not-ok line */
    } else if (WIFEXITED(st)) {
        printf("not ok - %s: exited with status %d (sanitizer report or leak, see stderr)\n",
               name, WEXITSTATUS(st));
        tu_failed_cases++;
    } else if (WIFSIGNALED(st)) {
        printf("not ok - %s: crashed with signal %d%s\n", name, WTERMSIG(st),
               WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
        tu_failed_cases++;
    } else {
        printf("not ok - %s: unknown wait status %d\n", name, st);
        tu_failed_cases++;
    }
    fflush(stdout);
}

#define TU_RUN(fn) tu_run(#fn, fn)
#define TU_RUN_NAMED(name, fn) tu_run(name, fn)

static int tu_finish(const char *suite) {
    printf("# %s: %d passed, %d failed\n# %s: done\n", suite, tu_passed_cases,
           tu_failed_cases, suite);
    fflush(stdout);
    return tu_failed_cases ? 1 : 0;
}

#endif /* MEMPOOLS_TEST_UTIL_H */
