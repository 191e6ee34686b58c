/*
 * Copyright (C) the ngx_prep authors
 *
 * The --after-publish hook: /bin/sh -c CMD, in its own process group,
 * with the corte in its environment, stdin from /dev/null and its output
 * (the last INGEST_HOOK_OUTPUT bytes) kept for the events log.  It runs
 * beside the daemon: the loop reaps it (SIGCHLD through the signalfd),
 * kills it at --hook-timeout, and retries a failure with a doubling
 * delay, --hook-retries times.  Only the newest corte matters: a new
 * publication supersedes the retries of the previous one.
 */


#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/ingest_fault.h"
#include "daemon/ingest_daemon.h"


extern char **environ;


static void
ingest_hook_event_corte(ingest_ev_t *ev, const ingest_live_t *c)
{
    ingest_ev_str(ev, "corte_id", c->corte_id);
    ingest_ev_str(ev, "snapshot", c->name);
}


void
ingest_hook_schedule(ingest_watch_t *w, const ingest_live_t *corte,
    int resumed, int deferred)
{
    ingest_ev_t     ev;
    ingest_hook_t  *h;

    h = &w->hook;

    if (w->conf->after_publish == NULL) {
        w->last_hook_done = 1;
        return;
    }

    if (h->active && memcmp(h->corte.sha256, corte->sha256,
                            PREP_SHA256_LEN) != 0)
    {
        ingest_ev_begin(&ev, "hook_superseded", "warning");
        ingest_hook_event_corte(&ev, &h->corte);
        ingest_ev_str(&ev, "by", corte->corte_id);
        ingest_ev_uint(&ev, "attempts", h->attempt);
        (void) ingest_ev_write(&w->log, &ev, "the hook of corte %s is not "
                               "retried any more: corte %s is newer",
                               h->corte.corte_id, corte->corte_id);
    }

    h->active = 1;
    h->corte = *corte;
    h->attempt = 0;
    h->resumed = resumed;
    h->next_at = deferred ? HUGE_VAL : 0;
    w->last_hook_done = 0;
}


void
ingest_hook_release(ingest_watch_t *w)
{
    if (w->hook.active && w->hook.next_at == HUGE_VAL) {
        w->hook.next_at = 0;
    }
}


static int
ingest_hook_setenv(const char *name, const char *value)
{
    return setenv(name, value, 1);
}


/* in the child: never returns */
static void
ingest_hook_exec(ingest_watch_t *w, const ingest_live_t *c,
    unsigned attempt, int out)
{
    int       null;
    char      buf[PATH_MAX + INGEST_SNAP_NAME_LEN + 16];
    char      hex[2 * PREP_SHA256_LEN + 1];
    sigset_t  all;

    (void) sigemptyset(&all);
    (void) sigprocmask(SIG_SETMASK, &all, NULL);
    (void) signal(SIGPIPE, SIG_DFL);
    (void) setpgid(0, 0);

    null = open("/dev/null", O_RDONLY | O_CLOEXEC);

    if (null < 0 || dup2(null, STDIN_FILENO) < 0
        || dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0)
    {
        _exit(126);
    }

    (void) ingest_hook_setenv("PREP_EVENT", "publish");
    (void) ingest_hook_setenv("PREP_CORTE_ID", c->corte_id);
    (void) ingest_hook_setenv("PREP_CORTE", c->iso);
    (void) snprintf(buf, sizeof(buf), "%lld", (long long) c->corte_time);
    (void) ingest_hook_setenv("PREP_CORTE_TIME", buf);
    (void) ingest_hook_setenv("PREP_SNAPSHOT", c->name);
    (void) snprintf(buf, sizeof(buf), "%s/%s/%s", w->conf->store,
                    INGEST_STORE_CORTES, c->name);
    (void) ingest_hook_setenv("PREP_SNAPSHOT_PATH", buf);
    (void) ingest_hook_setenv("PREP_PACKAGE_SHA256",
                              ingest_sha256_hex(hex, c->sha256));
    (void) ingest_hook_setenv("PREP_STORE", w->conf->store);
    (void) snprintf(buf, sizeof(buf), "%u", attempt);
    (void) ingest_hook_setenv("PREP_HOOK_ATTEMPT", buf);

    (void) execle("/bin/sh", "sh", "-c", w->conf->after_publish,
                  (char *) NULL, environ);

    _exit(127);
}


static void
ingest_hook_start(ingest_watch_t *w)
{
    int             pfd[2];
    pid_t           pid;
    ingest_ev_t     ev;
    ingest_hook_t  *h;

    h = &w->hook;

    if (pipe2(pfd, O_CLOEXEC) != 0) {
        h->next_at = ingest_now() + w->conf->hook_retry_delay;
        return;
    }

    /* only our end is non-blocking: the hook's stdout behaves normally */
    (void) fcntl(pfd[0], F_SETFL, O_NONBLOCK);

    h->attempt++;

    pid = fork();

    if (pid < 0) {
        (void) close(pfd[0]);
        (void) close(pfd[1]);
        h->next_at = ingest_now() + w->conf->hook_retry_delay;

        ingest_ev_begin(&ev, "hook", "warning");
        ingest_hook_event_corte(&ev, &h->corte);
        ingest_ev_str(&ev, "error", strerror(errno));
        (void) ingest_ev_write(&w->log, &ev, "cannot start the hook: %s",
                               strerror(errno));
        return;
    }

    if (pid == 0) {
        (void) close(pfd[0]);
        /* the write end must survive exec: a copy without CLOEXEC */
        ingest_hook_exec(w, &h->corte, h->attempt, pfd[1]);
    }

    (void) close(pfd[1]);
    (void) setpgid(pid, pid);

    h->pid = pid;
    h->out_fd = pfd[0];
    h->out_len = 0;
    h->killed = 0;
    h->started = ingest_now();
    h->deadline = h->started + w->conf->hook_timeout;
    h->run = h->corte;
    h->run_attempt = h->attempt;
    h->next_at = 0;

    ingest_fault("after_hook_start");
}


void
ingest_hook_output(ingest_watch_t *w)
{
    char            buf[4096];
    size_t          keep;
    ssize_t         n;
    ingest_hook_t  *h;

    h = &w->hook;

    if (h->pid == 0 || h->out_fd < 0) {
        return;
    }

    for ( ;; ) {
        n = read(h->out_fd, buf, sizeof(buf));

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n <= 0) {
            if (n == 0) {
                (void) close(h->out_fd);
                h->out_fd = -1;
            }
            return;
        }

        /* keep the last bytes: the end of the output tells the most */
        if ((size_t) n >= sizeof(h->out)) {
            memcpy(h->out, buf + n - sizeof(h->out), sizeof(h->out));
            h->out_len = sizeof(h->out);
            continue;
        }

        keep = sizeof(h->out) - (size_t) n;
        if (h->out_len > keep) {
            memmove(h->out, h->out + h->out_len - keep, keep);
            h->out_len = keep;
        }

        memcpy(h->out + h->out_len, buf, (size_t) n);
        h->out_len += (size_t) n;
    }
}


static void
ingest_hook_done(ingest_watch_t *w, int status)
{
    int             ok, same;
    double          delay, seconds;
    ingest_ev_t     ev;
    ingest_hook_t  *h;

    h = &w->hook;

    ingest_hook_output(w);

    if (h->out_fd >= 0) {
        (void) close(h->out_fd);
        h->out_fd = -1;
    }

    ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    seconds = ingest_now() - h->started;
    same = h->active && memcmp(h->run.sha256, h->corte.sha256,
                               PREP_SHA256_LEN) == 0;
    h->pid = 0;

    delay = 0;

    if (!ok && same && h->attempt <= w->conf->hook_retries) {
        delay = w->conf->hook_retry_delay
                * ldexp(1.0, h->attempt > 20 ? 20 : (int) h->attempt - 1);

        if (delay > INGEST_HOOK_DELAY_MAX) {
            delay = INGEST_HOOK_DELAY_MAX;
        }
    }

    ingest_ev_begin(&ev, "hook", ok ? "info" : "warning");
    ingest_hook_event_corte(&ev, &h->run);
    ingest_ev_uint(&ev, "attempt", h->run_attempt);
    ingest_ev_bool(&ev, "ok", ok);

    if (WIFEXITED(status)) {
        ingest_ev_int(&ev, "exit", WEXITSTATUS(status));

    } else {
        ingest_ev_null(&ev, "exit");
        ingest_ev_int(&ev, "signal", WIFSIGNALED(status) ? WTERMSIG(status)
                                                         : 0);
    }

    ingest_ev_bool(&ev, "timed_out", h->killed);
    ingest_ev_secs(&ev, "seconds", seconds);
    ingest_ev_bool(&ev, "resumed", h->resumed);
    ingest_ev_strn(&ev, "output", h->out, h->out_len);

    if (delay > 0) {
        ingest_ev_secs(&ev, "retry_in", delay);
    }

    (void) ingest_ev_write(&w->log, &ev, "after-publish hook for corte %s"
                           " %s (attempt %u, %.2f s)%s", h->run.corte_id,
                           ok ? "succeeded"
                           : h->killed ? "timed out" : "failed",
                           h->run_attempt, seconds,
                           delay > 0 ? ", will retry" : "");

    if (!same) {
        return;
    }

    if (ok) {
        h->active = 0;
        w->last_hook_done = 1;
        return;
    }

    if (delay > 0) {
        h->next_at = ingest_now() + delay;
        return;
    }

    ingest_ev_begin(&ev, "hook_failed", "alert");
    ingest_hook_event_corte(&ev, &h->run);
    ingest_ev_uint(&ev, "attempts", h->attempt);
    (void) ingest_ev_write(&w->log, &ev, "the after-publish hook for "
                           "corte %s failed %u times; giving up",
                           h->run.corte_id, h->attempt);

    h->active = 0;
    w->last_hook_done = 1;
}


void
ingest_hook_reap(ingest_watch_t *w)
{
    int    status;
    pid_t  pid;

    for ( ;; ) {
        pid = waitpid(-1, &status, WNOHANG);

        if (pid <= 0) {
            return;
        }

        if (pid == w->hook.pid) {
            ingest_hook_done(w, status);
        }
    }
}


void
ingest_hook_poll(ingest_watch_t *w, double now, double *next)
{
    ingest_hook_t  *h;

    h = &w->hook;

    if (h->pid != 0) {
        if (now >= h->deadline && !h->killed) {
            (void) kill(-h->pid, SIGKILL);
            h->killed = 1;
        }

        if (!h->killed && h->deadline < *next) {
            *next = h->deadline;
        }

        return;
    }

    if (!h->active || h->next_at == HUGE_VAL) {
        return;
    }

    if (now >= h->next_at) {
        ingest_hook_start(w);
        return;
    }

    if (h->next_at < *next) {
        *next = h->next_at;
    }
}
