/*
 * Copyright (C) the ngx_prep authors
 *
 * Operators' commands with retries: see ingest_run.h.
 */


#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ops/ingest_run.h"


int
ingest_run_env(ingest_run_t *run, char *storage, size_t size,
    const char *name, const char *value)
{
    int       n;
    unsigned  i;

    for (i = 0; i < INGEST_RUN_MAX_ENV && run->env[i] != NULL; i++) {
        /* void */
    }

    if (i == INGEST_RUN_MAX_ENV) {
        return -1;
    }

    n = snprintf(storage, size, "%s=%s", name, value ? value : "");

    if (n < 0 || (size_t) n >= size) {
        return -1;
    }

    run->env[i] = storage;
    run->env[i + 1] = NULL;

    return 0;
}


static void
ingest_run_sleep(double s)
{
    struct timespec  ts;

    ts.tv_sec = (time_t) s;
    ts.tv_nsec = (long) ((s - (double) ts.tv_sec) * 1e9);

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        /* void */
    }
}


static double
ingest_run_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


int
ingest_run_once(const ingest_run_t *run)
{
    int       fds[2], status;
    pid_t     pid, got;
    size_t    off;
    ssize_t   n;
    double    deadline;
    unsigned  i;
    sigset_t  none;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        return -1;
    }

    pid = fork();

    if (pid < 0) {
        (void) close(fds[0]);
        (void) close(fds[1]);
        return -1;
    }

    if (pid == 0) {
        (void) setpgid(0, 0);
        (void) sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) signal(SIGPIPE, SIG_DFL);

        if (dup2(fds[0], STDIN_FILENO) < 0) {
            _exit(127);
        }

        for (i = 0; run->env[i] != NULL; i++) {
            (void) putenv((char *) run->env[i]);
        }

        execl("/bin/sh", "sh", "-c", run->cmd, (char *) NULL);
        _exit(127);
    }

    (void) close(fds[0]);

    /* the input is one event line: it fits in the pipe, a hook that does
     * not read it does not block us */

    (void) signal(SIGPIPE, SIG_IGN);

    for (off = 0; off < run->input_len; off += (size_t) n) {
        n = write(fds[1], run->input + off, run->input_len - off);

        if (n < 0 && errno == EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0) {
            break;
        }
    }

    (void) close(fds[1]);

    deadline = ingest_run_now() + run->timeout;

    for ( ;; ) {
        got = waitpid(pid, &status, WNOHANG);

        if (got == pid) {
            break;
        }

        if (got < 0 && errno != EINTR) {
            return -1;
        }

        if (ingest_run_now() >= deadline) {
            (void) kill(-pid, SIGKILL);
            (void) kill(pid, SIGKILL);
            (void) waitpid(pid, &status, 0);
            return -1;
        }

        ingest_run_sleep(0.01);
    }

    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }

    return 128 + WTERMSIG(status);
}


int
ingest_run_retry(const ingest_run_t *run, unsigned *attempts)
{
    int       rc;
    double    delay;
    unsigned  i;

    delay = run->delay;
    rc = -1;

    for (i = 0; i <= run->retries; i++) {
        if (i > 0) {
            ingest_run_sleep(delay);
            delay = (delay * 2 > INGEST_RUN_MAX_DELAY) ? INGEST_RUN_MAX_DELAY
                                                       : delay * 2;
        }

        rc = ingest_run_once(run);

        if (rc == 0) {
            i++;
            break;
        }
    }

    if (attempts != NULL) {
        *attempts = i > run->retries + 1 ? run->retries + 1 : i;
    }

    return rc;
}


int
ingest_run_detached(const ingest_run_t *run)
{
    int       status;
    pid_t     pid, got;
    sigset_t  none;

    pid = fork();

    if (pid < 0) {
        return -1;
    }

    if (pid == 0) {
        if (fork() != 0) {
            _exit(0);                   /* the grandchild goes on alone */
        }

        (void) setsid();

        /* none of the daemon's descriptors: its lock above all */
        for (status = 3; status < 1024; status++) {
            (void) close(status);
        }

        (void) sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) signal(SIGTERM, SIG_DFL);
        (void) signal(SIGINT, SIG_DFL);
        (void) signal(SIGCHLD, SIG_DFL);

        (void) ingest_run_retry(run, NULL);
        _exit(0);
    }

    do {
        got = waitpid(pid, &status, 0);
    } while (got < 0 && errno == EINTR);

    return 0;
}
