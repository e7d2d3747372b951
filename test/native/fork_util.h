/*
 * fork_util.h: forked helper processes for the native tests of the shared
 * segment (test_shm_pool.c, test_heap_shared.c). Include after test_util.h.
 */
#ifndef MEMPOOLS_FORK_UTIL_H
#define MEMPOOLS_FORK_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Fork a child that runs fn(arg) and _exits with its result (0 = success). */
static pid_t spawn(int (*fn)(void *), void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) _exit(fn(arg));
    return pid;
}

/* Exit code of a child, 128 + signal if it was killed, -1 on error. */
static int reap(pid_t pid)
{
    int st = 0;
    if (pid < 0) return -1;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -1;
}

#endif /* MEMPOOLS_FORK_UTIL_H */
