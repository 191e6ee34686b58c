/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-ingest watch: setup, the loop, signals and the stale alarm.
 */


#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/ingest_cmd.h"
#include "daemon/ingest_control_client.h"
#include "daemon/ingest_daemon.h"
#include "ops/ingest_alarm.h"
#include "ops/ingest_space.h"
#include "ops/ingest_window.h"


static const char  ingest_watch_help[] =
"NAME\n"
"    prep-ingest watch - publish every good package dropped in a folder\n"
"\n"
"SYNOPSIS\n"
"    prep-ingest watch --drop DIR --store DIR [--control SOCKET]\n"
"                      [--config FILE] [OPTION]...\n"
"\n"
"DESCRIPTION\n"
"    Runs until stopped (SIGTERM, SIGINT).  Watches the drop folder with\n"
"    inotify (close after write, moved in, created) and lists it at\n"
"    start, after an inotify overflow, on SIGHUP and every\n"
"    --rescan-interval.  Names starting with \".\" and ending in\n"
"    \".part\", \".filepart\" or \".tmp\" are uploads in progress and are\n"
"    ignored; NAME.sha256 is the sidecar of NAME.  Every other file is a\n"
"    package, taken in the order of the corte written in its name.\n"
"\n"
"    A package is copied into STORE/staging (a writer cannot change the\n"
"    copy) and hashed.  It is complete when its gzip stream verifies to\n"
"    the end and the tar inside is whole, and when its sidecar, if any,\n"
"    names its SHA-256.  An incomplete one waits for the file to change\n"
"    and is quarantined when it does not for --incomplete-timeout.\n"
"    Then it is validated as by prep-ingest publish, in a child process\n"
"    with its own limits, and decided against the live corte: an older\n"
"    corte is rejected (older_corte), the live package again is a\n"
"    duplicate (nothing to do), the same corte with other content is\n"
"    rejected loudly (corte_conflict).  A newer corte is written as a\n"
"    snapshot, made current, and nginx is told (POST /reload on\n"
"    --control) and asked what it serves until it serves the new corte;\n"
"    if nginx cannot be reached the corte stays current (a restarted\n"
"    nginx serves it) and the daemon keeps asking.  Then the\n"
"    --after-publish hook runs.  The package is kept in STORE/packages;\n"
"    a rejected one goes to STORE/quarantine with a .reason file.\n"
"    Nothing is deleted from the drop folder before it is kept.\n"
"\n"
"    Every step is a line of STORE/events.jsonl (docs/EVENTS.md), also\n"
"    printed on standard error.  No new corte for --stale-period raises\n"
"    a stale alarm, and again every period.\n"
"\n"
"    Killed at any moment, a restarted daemon finds current pointing to\n"
"    a complete snapshot, removes the temporary files, finishes what\n"
"    was half done and publishes nothing twice.\n"
"\n"
"OPTIONS\n";

static const char  ingest_watch_help_end[] =
"\n"
"    SIZE is a number of bytes with an optional K, M, G or T (binary\n"
"    multiples); SECS a number of seconds, or with ms, s, m or h.\n"
"\n"
"REASONS\n"
"    Reason codes of rejected packages (events log, .reason files):\n";

static const char  ingest_watch_help_tail[] =
"\n"
"SIGNALS\n"
"    SIGTERM, SIGINT   stop after the package in hand\n"
"    SIGHUP            list the drop folder again\n"
"\n"
"EXIT STATUS\n"
"    0   stopped by a signal\n"
"    1   could not start (store, drop folder, another watch running)\n"
"    64  bad command line or config file\n"
"\n"
"FILES\n"
"    STORE/events.jsonl      the events log\n"
"    STORE/staging/          private copies being validated\n"
"    STORE/packages/         published packages (--keep-packages)\n"
"    STORE/quarantine/       rejected inputs and their .reason files\n"
"    STORE/.watch.lock       held by the running watch\n"
"\n"
"EXAMPLES\n"
"    prep-ingest watch --drop /srv/prep-drop/entrega --store \\\n"
"        /var/lib/prep/store --control /run/prep/control.sock \\\n"
"        --after-publish '/usr/local/bin/purge-cdn \"$PREP_CORTE_ID\"'\n"
"    prep-ingest watch --config /etc/prep-ingest.conf\n";


void
ingest_cmd_watch_help(FILE *out)
{
    fputs(ingest_watch_help, out);
    ingest_config_help(out, INGEST_CMD_WATCH);
    fputs(ingest_watch_help_end, out);
    ingest_cmd_print_reasons(out, "        ", 1);
    fputs(ingest_watch_help_tail, out);
}


static int
ingest_watch_signals(ingest_watch_t *w)
{
    sigset_t  set;

    (void) signal(SIGPIPE, SIG_IGN);

    (void) sigemptyset(&set);
    (void) sigaddset(&set, SIGTERM);
    (void) sigaddset(&set, SIGINT);
    (void) sigaddset(&set, SIGHUP);
    (void) sigaddset(&set, SIGCHLD);

    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        return -1;
    }

    w->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);

    return w->signal_fd >= 0 ? 0 : -1;
}


static void
ingest_watch_signal(ingest_watch_t *w)
{
    ssize_t                  n;
    struct signalfd_siginfo  si;

    for ( ;; ) {
        n = read(w->signal_fd, &si, sizeof(si));

        if (n != (ssize_t) sizeof(si)) {
            return;
        }

        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
            w->stop = (int) si.ssi_signo;
            break;

        case SIGHUP:
            w->rescan = 1;
            break;

        case SIGCHLD:
            ingest_hook_reap(w);
            break;
        }
    }
}


static void
ingest_watch_stale(ingest_watch_t *w, double *next)
{
    double         due, now, wall;
    ingest_ev_t    ev;
    ingest_live_t  live;

    if (w->last_publish <= 0) {
        return;
    }

    wall = ingest_wall();
    due = w->last_publish + w->conf->stale_period * (w->stale_alarms + 1);

    if (wall < due) {
        now = ingest_now();

        if (now + (due - wall) < *next) {
            *next = now + (due - wall);
        }

        return;
    }

    w->stale_alarms++;

    if (ingest_live_read(&w->store, &live) != 1) {
        live.corte_id[0] = '\0';
    }

    ingest_ev_begin(&ev, "stale", w->stale_alarms >= 2 ? "alert"
                                                       : "warning");
    ingest_ev_str(&ev, "live_corte_id", live.corte_id);
    ingest_ev_time(&ev, "last_publish", w->last_publish);
    ingest_ev_secs(&ev, "since_s", wall - w->last_publish);
    ingest_ev_uint(&ev, "missed", w->stale_alarms);
    (void) ingest_ev_write(&w->log, &ev, "no new corte for %.0f minutes "
                           "(%u period(s) of %.0f s missed); the live "
                           "corte is %s", (wall - w->last_publish) / 60,
                           w->stale_alarms, w->conf->stale_period,
                           live.corte_id[0] ? live.corte_id : "none");
}


static int
ingest_watch_open(ingest_watch_t *w, char *msg, size_t size)
{
    ingest_err_t  err;

    ingest_err_reset(&err);

    if (ingest_store_open(&w->store, w->conf->store, &err) != 0) {
        (void) snprintf(msg, size, "%s", err.msg);
        return -1;
    }

    w->watch_lock_fd = openat(w->store.dir_fd, INGEST_WATCH_LOCK,
                              O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                              0600);

    if (w->watch_lock_fd < 0) {
        (void) snprintf(msg, size, "%s/%s: %s", w->conf->store,
                        INGEST_WATCH_LOCK, strerror(errno));
        return -1;
    }

    if (flock(w->watch_lock_fd, LOCK_EX | LOCK_NB) != 0) {
        (void) snprintf(msg, size, "another prep-ingest watch runs on %s "
                        "(%s/%s is locked)", w->conf->store,
                        w->conf->store, INGEST_WATCH_LOCK);
        return -1;
    }

    w->staging_fd = ingest_open_subdir(w->store.dir_fd, INGEST_DIR_STAGING,
                                       0700, &err);
    w->packages_fd = ingest_open_subdir(w->store.dir_fd,
                                        INGEST_DIR_PACKAGES, 0750, &err);
    w->quarantine_fd = ingest_open_subdir(w->store.dir_fd,
                                          INGEST_DIR_QUARANTINE, 0750,
                                          &err);

    if (w->staging_fd < 0 || w->packages_fd < 0 || w->quarantine_fd < 0) {
        (void) snprintf(msg, size, "store %s: %s", w->conf->store,
                        err.msg);
        return -1;
    }

    if (ingest_events_open(&w->log, w->store.dir_fd, w->conf->store, 1)
        != 0)
    {
        (void) snprintf(msg, size, "%s/%s: %s", w->conf->store,
                        INGEST_EVENTS_FILE, strerror(errno));
        return -1;
    }

    ingest_alarm_setup(&w->log, w->conf);

    if (ingest_window_check(w->conf, msg, size) != 0) {
        return -1;
    }

    return 0;
}


/* what a killed daemon left behind; the live corte checked in full */
static void
ingest_watch_recover(ingest_watch_t *w)
{
    int                rc;
    char               msg[PREP_ERRLEN], served[INGEST_SNAP_NAME_LEN];
    unsigned           staged, tmp;
    ingest_ev_t        ev;
    ingest_err_t       err;
    ingest_live_t      live;
    ingest_snapfile_t  sf;

    ingest_err_reset(&err);

    staged = ingest_dir_clean(w->staging_fd, NULL);
    tmp = ingest_dir_clean(w->quarantine_fd, ".tmp-");
    tmp += ingest_dir_clean(w->packages_fd, ".tmp-");

    if (ingest_store_lock(&w->store, &err) == 0) {
        tmp += ingest_dir_clean(w->store.cortes_fd, INGEST_STORE_TMP);
        tmp += ingest_dir_clean(w->store.dir_fd, INGEST_STORE_LINK_TMP);
        ingest_store_unlock(&w->store);
    }

    ingest_recover(w);

    /* listed before "start" is logged: the event means "watching, and
     * everything already there is known" */
    if (w->rescan) {
        ingest_watch_rescan(w);
    }

    rc = ingest_live_read(&w->store, &live);

    ingest_ev_begin(&ev, "start", "info");
    ingest_ev_str(&ev, "version", INGEST_VERSION);
    ingest_ev_str(&ev, "drop", w->conf->drop);
    ingest_ev_str(&ev, "store", w->conf->store);
    ingest_ev_str(&ev, "control", w->conf->control);
    ingest_ev_str(&ev, "config", w->conf->config);
    ingest_ev_str(&ev, "live_corte_id", rc == 1 ? live.corte_id : NULL);
    ingest_ev_uint(&ev, "cleaned_staging", staged);
    ingest_ev_uint(&ev, "cleaned_tmp", tmp);
    ingest_ev_uint(&ev, "known_packages", w->npublished);
    (void) ingest_ev_write(&w->log, &ev, "watching %s for %s; live corte "
                           "%s%s", w->conf->drop, w->conf->store,
                           rc == 1 ? live.corte_id : "none",
                           staged + tmp ? " (removed leftovers of a "
                                          "previous run)" : "");

    if (rc == 1) {
        rc = ingest_snapfile_open(&sf, w->store.cortes_fd, live.name,
                                  PREP_SNAP_VERIFY_DATA, msg, sizeof(msg));
        ingest_snapfile_close(&sf);

        if (rc != PREP_SNAP_OK) {
            ingest_ev_begin(&ev, "current_invalid", "alert");
            ingest_ev_str(&ev, "snapshot", live.name);
            ingest_ev_str(&ev, "error", msg);
            (void) ingest_ev_write(&w->log, &ev, "current points to %s, "
                                   "which does not verify: %s", live.name,
                                   msg);
        }

        rc = 1;

    } else if (rc < 0) {
        ingest_ev_begin(&ev, "current_invalid", "alert");
        (void) ingest_ev_write(&w->log, &ev, "current names no readable "
                               "snapshot; the next good package replaces "
                               "it");
    }

    if (w->last_publish <= 0 && rc == 1) {
        /* no publication in the log: the stale clock starts now */
        w->last_publish = ingest_wall();
    }

    /* nginx may serve another corte than current (a crash between the
     * flip and the reload): tell it, and keep telling it */
    if (rc == 1 && w->conf->control != NULL
        && (ingest_control_live(w->conf->control, w->conf->reload_timeout,
                                served, sizeof(served), NULL, msg,
                                sizeof(msg))
            != 0
            || strcmp(served, live.name) != 0))
    {
        w->reload_pending = 1;
        w->reload_failures = 0;
        w->reload_at = 0;
        w->reload_since = ingest_wall();
    }

    if (rc == 1 && w->have_last_published && !w->last_hook_done
        && memcmp(live.sha256, w->last_published, PREP_SHA256_LEN) == 0)
    {
        ingest_hook_schedule(w, &live, 1, w->reload_pending);
    }
}


static void
ingest_watch_loop(ingest_watch_t *w)
{
    int             n, ms;
    double          now, next;
    struct pollfd   pfd[3];
    ingest_cand_t  *c;

    while (!w->stop) {
        now = ingest_now();

        ingest_watch_retry(w);

        if (w->rescan || now >= w->next_rescan) {
            ingest_watch_rescan(w);
        }

        ingest_pipeline_reload(w);

        next = w->next_rescan;

        if (w->wd < 0 && w->watch_retry_at < next) {
            next = w->watch_retry_at;
        }

        if (w->reload_pending && w->reload_at < next) {
            next = w->reload_at;
        }

        ingest_hook_poll(w, now, &next);
        ingest_watch_stale(w, &next);
        ingest_window_poll(w, &next);
        ingest_space_poll(w, &next);

        c = ingest_cand_next(w, now, &next);

        if (c != NULL) {
            ingest_pipeline_run(w, c);

            /* events and signals first, then the next candidate */
            next = now;
        }

        ms = next <= now ? 0 : (int) ((next - now) * 1000.0) + 1;

        if (ms > 60000) {
            ms = 60000;
        }

        pfd[0].fd = w->inotify_fd;
        pfd[0].events = POLLIN;
        pfd[1].fd = w->signal_fd;
        pfd[1].events = POLLIN;
        pfd[2].fd = w->hook.pid != 0 ? w->hook.out_fd : -1;
        pfd[2].events = POLLIN;
        pfd[0].revents = pfd[1].revents = pfd[2].revents = 0;

        n = poll(pfd, 3, ms);

        if (n < 0 && errno != EINTR) {
            break;
        }

        if (pfd[1].revents) {
            ingest_watch_signal(w);
        }

        if (pfd[0].revents) {
            ingest_watch_read(w);
        }

        if (pfd[2].revents) {
            ingest_hook_output(w);
        }
    }
}


static void
ingest_watch_close(ingest_watch_t *w)
{
    if (w->inotify_fd >= 0) {
        (void) close(w->inotify_fd);
    }

    if (w->drop_fd >= 0) {
        (void) close(w->drop_fd);
    }

    if (w->signal_fd >= 0) {
        (void) close(w->signal_fd);
    }

    if (w->hook.out_fd >= 0) {
        (void) close(w->hook.out_fd);
    }

    if (w->staging_fd >= 0) {
        (void) close(w->staging_fd);
    }

    if (w->packages_fd >= 0) {
        (void) close(w->packages_fd);
    }

    if (w->quarantine_fd >= 0) {
        (void) close(w->quarantine_fd);
    }

    if (w->watch_lock_fd >= 0) {
        (void) close(w->watch_lock_fd);
    }

    ingest_events_close(&w->log);
    ingest_store_close(&w->store);
    free(w->cands);
}


int
ingest_cmd_watch(int argc, char **argv)
{
    int               rc;
    char              msg[2 * INGEST_ERRLEN];
    ingest_ev_t       ev;
    ingest_config_t   conf;
    ingest_watch_t   *w;

    ingest_config_init(&conf);

    rc = ingest_config_parse(&conf, INGEST_CMD_WATCH, "watch", argc, argv);

    if (rc == 0) {
        ingest_cmd_watch_help(stdout);
        ingest_config_free(&conf);
        return INGEST_EXIT_OK;
    }

    if (rc < 0 || rc != argc || conf.drop == NULL || conf.store == NULL) {
        if (rc > 0) {
            fprintf(stderr, INGEST_PROGRAM " watch: %s\nTry '"
                    INGEST_PROGRAM " watch --help'.\n",
                    rc != argc ? "no operands are taken"
                    : "--drop DIR and --store DIR are required");
        }

        ingest_config_free(&conf);
        return INGEST_EXIT_USAGE;
    }

    /* the loop state is large (the published set): not on the stack */
    w = calloc(1, sizeof(ingest_watch_t));
    if (w == NULL) {
        fputs(INGEST_PROGRAM " watch: out of memory\n", stderr);
        ingest_config_free(&conf);
        return INGEST_EXIT_FAILED;
    }

    w->conf = &conf;
    w->log.fd = -1;
    w->store.dir_fd = -1;
    w->store.cortes_fd = -1;
    w->store.lock_fd = -1;
    w->staging_fd = -1;
    w->packages_fd = -1;
    w->quarantine_fd = -1;
    w->watch_lock_fd = -1;
    w->inotify_fd = -1;
    w->drop_fd = -1;
    w->signal_fd = -1;
    w->wd = -1;
    w->hook.out_fd = -1;

    if (ingest_watch_open(w, msg, sizeof(msg)) != 0
        || (ingest_watch_signals(w) != 0
            && snprintf(msg, sizeof(msg), "signalfd: %s", strerror(errno)))
        || (ingest_watch_start(w) != 0
            && snprintf(msg, sizeof(msg), "inotify: %s", strerror(errno))))
    {
        fprintf(stderr, INGEST_PROGRAM " watch: %s\n", msg);
        ingest_watch_close(w);
        free(w);
        ingest_config_free(&conf);
        return INGEST_EXIT_FAILED;
    }

    ingest_watch_recover(w);
    ingest_window_start(w);
    ingest_watch_loop(w);

    ingest_ev_begin(&ev, "stop", "info");
    ingest_ev_int(&ev, "signal", w->stop);
    (void) ingest_ev_write(&w->log, &ev, "stopping on signal %d", w->stop);

    ingest_watch_close(w);
    free(w);
    ingest_config_free(&conf);

    return INGEST_EXIT_OK;
}
