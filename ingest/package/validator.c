/*
 * Copyright (C) the ngx_prep authors
 */


#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/ingest_fault.h"
#include "store/ingest_store.h"
#include "package/ingest_validate.h"


#if defined(__SANITIZE_ADDRESS__)
#define INGEST_ASAN  1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define INGEST_ASAN  1
#endif
#endif


static void
ingest_validate_body(const ingest_validate_conf_t *conf,
    ingest_validate_out_t *out)
{
    int                  rc, have_prev;
    long                 cpus;
    char                 msg[PREP_ERRLEN];
    double               start;
    ingest_snapfile_t    prev, sf;
    ingest_build_conf_t  bc;

    ingest_err_reset(&out->err);
    have_prev = 0;

    if (conf->prev_name != NULL && conf->prev_name[0] != '\0') {
        /* only to reuse gzip bytes: a bad one is ignored */
        have_prev = ingest_snapfile_open(&prev, conf->cortes_fd,
                                         conf->prev_name,
                                         PREP_SNAP_VERIFY_DATA, msg,
                                         sizeof(msg))
                    == PREP_SNAP_OK;

        if (!have_prev) {
            ingest_snapfile_close(&prev);
        }
    }

    cpus = sysconf(_SC_NPROCESSORS_ONLN);

    memset(&bc, 0, sizeof(ingest_build_conf_t));
    bc.fd = conf->snap_fd;
    bc.spill_dir = conf->cortes_fd;
    bc.package_name = conf->package_name;
    bc.limits = conf->limits;
    bc.gzip_level = conf->gzip_level;
    bc.threads = cpus > 1 ? (unsigned) cpus : 1;
    bc.prev = have_prev ? &prev.snap : NULL;
    bc.prev_fd = have_prev ? prev.fd : -1;

    start = ingest_now();
    rc = ingest_build(conf->pkg_fd, &bc, &out->res, &out->err);
    out->build_seconds = ingest_now() - start;

    if (have_prev) {
        ingest_snapfile_close(&prev);
    }

    if (rc != 0) {
        return;
    }

    start = ingest_now();

    if (fsync(conf->snap_fd) != 0) {
        (void) ingest_fail_errno(&out->err, errno, "fsync the snapshot");
        return;
    }

    out->fsync_seconds = ingest_now() - start;
    start = ingest_now();

    /* read back what was written, as nginx will, before anyone sees it */
    rc = ingest_snapfile_map(&sf, conf->snap_fd, PREP_SNAP_VERIFY_DATA,
                             msg, sizeof(msg));
    ingest_snapfile_close(&sf);

    out->check_seconds = ingest_now() - start;

    if (rc != PREP_SNAP_OK) {
        (void) ingest_fail(&out->err, rc == PREP_SNAP_EIO ? INGEST_IO
                                                          : INGEST_INTERNAL,
                           "the snapshot written does not validate: %s",
                           msg);
    }
}


static void
ingest_validate_limits(const ingest_validate_conf_t *conf)
{
    struct rlimit  rl;

#if !defined(INGEST_ASAN)
    /* ASan reserves terabytes of address space: no limit under it */
    if (conf->memory_limit > 0) {
        rl.rlim_cur = conf->memory_limit;
        rl.rlim_max = conf->memory_limit;
        (void) setrlimit(RLIMIT_AS, &rl);
    }
#else
    (void) conf;
#endif

    rl.rlim_cur = INGEST_VALIDATOR_CPU_SECONDS;
    rl.rlim_max = INGEST_VALIDATOR_CPU_SECONDS + 5;
    (void) setrlimit(RLIMIT_CPU, &rl);

    rl.rlim_cur = 0;
    rl.rlim_max = 0;
    (void) setrlimit(RLIMIT_CORE, &rl);

    (void) prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}


static int
ingest_fd_cmp(const void *a, const void *b)
{
    return *(const int *) a - *(const int *) b;
}


/*
 * The child keeps only what it reads and writes: inherited locks (the
 * store's, the watch's) must die with the daemon, not with the child,
 * and a parser bug must find nothing else open.
 */
static void
ingest_validate_close_others(const ingest_validate_conf_t *conf, int wfd)
{
    int       i, n, keep[8];
    unsigned  from;

    n = 0;
    keep[n++] = STDERR_FILENO;
    keep[n++] = conf->pkg_fd;
    keep[n++] = conf->snap_fd;
    keep[n++] = conf->cortes_fd;
    keep[n++] = wfd;

    qsort(keep, (size_t) n, sizeof(int), ingest_fd_cmp);

    from = STDERR_FILENO + 1;

    for (i = 0; i < n; i++) {
        if (keep[i] < (int) from) {
            continue;
        }

        if ((unsigned) keep[i] > from) {
            (void) close_range(from, (unsigned) keep[i] - 1, 0);
        }

        from = (unsigned) keep[i] + 1;
    }

    (void) close_range(from, ~0u, 0);
}


static int
ingest_validate_child(const ingest_validate_conf_t *conf, int wfd,
    pid_t parent)
{
    char                    *p;
    size_t                   left;
    ssize_t                  n;
    sigset_t                 all;
    ingest_validate_out_t    out;

    /* the daemon blocks its signals for signalfd: unblock them here */
    (void) sigemptyset(&all);
    (void) sigprocmask(SIG_SETMASK, &all, NULL);
    (void) signal(SIGPIPE, SIG_DFL);

    /* dies with the daemon, even killed with SIGKILL */
    (void) prctl(PR_SET_PDEATHSIG, SIGKILL);

    if (getppid() != parent) {
        _exit(137);
    }

    ingest_validate_close_others(conf, wfd);
    ingest_validate_limits(conf);

    /* as if a parser bug killed it */
    ingest_fault("in_validator");

    memset(&out, 0, sizeof(ingest_validate_out_t));
    ingest_validate_body(conf, &out);

    p = (char *) &out;
    left = sizeof(ingest_validate_out_t);

    while (left > 0) {
        n = write(wfd, p, left);

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n <= 0) {
            _exit(1);
        }

        p += n;
        left -= (size_t) n;
    }

    _exit(0);
}


static void
ingest_validate_died(ingest_validate_out_t *out, int status, int timed_out)
{
    ingest_err_reset(&out->err);

    if (timed_out) {
        (void) ingest_fail(&out->err, INGEST_VALIDATOR_CRASH,
                           "the process reading the package took over %d "
                           "s and was killed", INGEST_VALIDATOR_WALL_SECONDS);
        return;
    }

    if (WIFSIGNALED(status)) {
        (void) ingest_fail(&out->err, INGEST_VALIDATOR_CRASH,
                           "the process reading the package died of "
                           "signal %d (%s)", WTERMSIG(status),
                           WTERMSIG(status) == SIGXCPU
                           ? "over its CPU time"
                           : strsignal(WTERMSIG(status)));
        return;
    }

    (void) ingest_fail(&out->err, INGEST_VALIDATOR_CRASH,
                       "the process reading the package exited with %d "
                       "without a result (out of memory?)",
                       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}


int
ingest_validate(const ingest_validate_conf_t *conf,
    ingest_validate_out_t *out)
{
    int              pfd[2], status, timed_out;
    char            *p;
    pid_t            pid, parent;
    double           deadline, left;
    size_t           got;
    ssize_t          n;
    struct pollfd    pfd_in;
    struct rusage    ru;

    memset(out, 0, sizeof(ingest_validate_out_t));

    if (conf->in_process) {
        ingest_validate_body(conf, out);
        return out->err.reason == INGEST_OK ? 0 : -1;
    }

    if (pipe2(pfd, O_CLOEXEC) != 0) {
        return ingest_fail_errno(&out->err, errno, "pipe()");
    }

    parent = getpid();
    (void) fflush(NULL);

    pid = fork();

    if (pid < 0) {
        (void) close(pfd[0]);
        (void) close(pfd[1]);
        return ingest_fail_errno(&out->err, errno, "fork()");
    }

    if (pid == 0) {
        (void) close(pfd[0]);

        if (conf->lock_fd >= 0) {
            (void) close(conf->lock_fd);
        }

        (void) ingest_validate_child(conf, pfd[1], parent);
        _exit(1);
    }

    (void) close(pfd[1]);

    ingest_fault("during_build");

    p = (char *) out;
    got = 0;
    timed_out = 0;
    deadline = ingest_now() + INGEST_VALIDATOR_WALL_SECONDS;

    while (got < sizeof(ingest_validate_out_t)) {
        pfd_in.fd = pfd[0];
        pfd_in.events = POLLIN;
        left = deadline - ingest_now();

        if (left <= 0
            || (poll(&pfd_in, 1, (int) (left * 1000) + 1) == 0))
        {
            /* a runaway: the result will never come */
            (void) kill(pid, SIGKILL);
            timed_out = 1;
            break;
        }

        n = read(pfd[0], p + got, sizeof(ingest_validate_out_t) - got);

        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }

        if (n <= 0) {
            break;
        }

        got += (size_t) n;
    }

    (void) close(pfd[0]);

    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            status = -1;
            memset(&ru, 0, sizeof(ru));
            break;
        }
    }

    if (got != sizeof(ingest_validate_out_t) || status != 0) {
        ingest_validate_died(out, status, timed_out);
        out->peak_kib = ru.ru_maxrss;
        return -1;
    }

    out->peak_kib = ru.ru_maxrss;

    return out->err.reason == INGEST_OK ? 0 : -1;
}
