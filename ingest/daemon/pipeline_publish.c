/*
 * Copyright (C) the ngx_prep authors
 *
 * A newer corte, once its snapshot is named and made current
 * (publication.c): nginx is told and asked until it serves it
 * (control_client.c; retried when it cannot be reached), the
 * "published" event records it with the time from last byte to live and
 * each phase, the package is kept in packages/ and leaves the drop
 * folder, the hook is scheduled and old snapshots and packages are
 * removed.
 */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prep_atomic.h"
#include "daemon/ingest_control_client.h"
#include "common/ingest_fault.h"
#include "daemon/ingest_pipeline.h"

static long
ingest_peak_kib(void)
{
    long   kib;
    char   line[128];
    FILE  *f;

    kib = -1;
    f = fopen("/proc/self/status", "re");

    if (f == NULL) {
        return -1;
    }

    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) {
            break;
        }
    }

    (void) fclose(f);

    return kib;
}


/* packages/<corte id>-<12 hex>.tar.gz, durably, then out of the drop */
static void
ingest_pl_archive(ingest_pl_t *pl)
{
    int             rc, side_rc, moved;
    char            name[INGEST_SNAP_NAME_LEN + 16];
    char            side[INGEST_SNAP_NAME_LEN + 32];
    size_t          len;
    struct stat     a, b;
    ingest_ev_t     ev;
    ingest_watch_t *w;

    w = pl->w;

    len = strlen(pl->final);
    if (len > 5 && strcmp(pl->final + len - 5, ".snap") == 0) {
        len -= 5;
    }

    (void) snprintf(name, sizeof(name), "%.*s.tar.gz", (int) len,
                    pl->final);
    (void) snprintf(side, sizeof(side), "%s" INGEST_SIDECAR_SUFFIX, name);

    /* the private copy is moved, not written: fsynced, renamed into
     * packages/, the directory fsynced (prep_atomic_move()) */
    rc = prep_atomic_move(pl->staged_fd, w->staging_fd, pl->staged,
                          w->packages_fd, name);

    /* an error of the last fsync comes after the rename: packages/name
     * is then the private copy itself */
    moved = rc == 0
            || (fstat(pl->staged_fd, &a) == 0
                && fstatat(w->packages_fd, name, &b, AT_SYMLINK_NOFOLLOW)
                   == 0
                && a.st_dev == b.st_dev && a.st_ino == b.st_ino);

    if (!moved) {
        ingest_ev_begin(&ev, "archive_failed", "warning");
        ingest_pl_file(&ev, pl);
        ingest_ev_str(&ev, "error", strerror(rc));
        (void) ingest_ev_write(&w->log, &ev, "%s could not be kept in "
                               "packages/ (%s); it stays in the drop "
                               "folder", pl->c->name, strerror(rc));
        pl->c->state = INGEST_CAND_STUCK;
        pl->c->due = HUGE_VAL;
        pl->c->stamp = pl->stamp;
        pl->c->have_stamp = 1;
        return;
    }

    pl->staged[0] = '\0';

    /* the sidecar is written atomically, with its own directory fsync */
    side_rc = ingest_pl_copy_sidecar(pl, w->packages_fd, side);

    /* kept, but perhaps not durably: said, never silent */
    if (side_rc != 0) {
        ingest_ev_begin(&ev, "archive_failed", "warning");
        ingest_pl_file(&ev, pl);
        ingest_ev_str(&ev, "error", strerror(side_rc));
        (void) ingest_ev_write(&w->log, &ev, "%s is in packages/ but its "
                               "sidecar could not be copied there (%s) and "
                               "stays in the drop folder", pl->c->name,
                               strerror(side_rc));
    }

    if (rc != 0) {
        ingest_ev_begin(&ev, "archive_failed", "warning");
        ingest_pl_file(&ev, pl);
        ingest_ev_str(&ev, "error", strerror(rc));
        (void) ingest_ev_write(&w->log, &ev, "%s is in packages/ but the "
                               "directory could not be made durable (%s)",
                               pl->c->name, strerror(rc));
    }

    ingest_fault("after_archive");

    if (ingest_pl_unlink_drop(pl)) {
        ingest_cand_remove(w, pl->c);
    }
}


static void
ingest_pl_retention(ingest_watch_t *w)
{
    char           removed[1024];
    unsigned       n;
    ingest_ev_t    ev;
    ingest_err_t   err;
    ingest_live_t  live;

    ingest_err_reset(&err);

    if (ingest_store_lock(&w->store, &err) != 0) {
        return;
    }

    if (ingest_live_read(&w->store, &live) == 1) {
        n = ingest_retention_snapshots(w->store.cortes_fd,
                                       w->conf->keep_snapshots, live.name,
                                       removed, sizeof(removed));

        if (n > 0) {
            ingest_ev_begin(&ev, "retention", "info");
            ingest_ev_str(&ev, "dir", INGEST_STORE_CORTES);
            ingest_ev_uint(&ev, "removed_count", n);
            ingest_ev_str(&ev, "removed", removed);
            (void) ingest_ev_write(&w->log, &ev, "removed %u old "
                                   "snapshot(s), keeping %llu", n,
                                   (unsigned long long)
                                   w->conf->keep_snapshots);
        }
    }

    ingest_store_unlock(&w->store);

    n = ingest_retention_packages(w->packages_fd, w->conf->keep_packages,
                                  removed, sizeof(removed));

    if (n > 0) {
        ingest_ev_begin(&ev, "retention", "info");
        ingest_ev_str(&ev, "dir", INGEST_DIR_PACKAGES);
        ingest_ev_uint(&ev, "removed_count", n);
        ingest_ev_str(&ev, "removed", removed);
        (void) ingest_ev_write(&w->log, &ev, "removed %u old package(s), "
                               "keeping %llu", n,
                               (unsigned long long)
                               w->conf->keep_packages);
    }
}


/* tells nginx; 1 when it serves the snapshot, 0 when not (retried) */
static int
ingest_pl_reload(ingest_pl_t *pl, unsigned long *generation, char *error,
    size_t size)
{
    int     refused;
    double  start;

    start = ingest_now();

    if (pl->w->conf->control == NULL) {
        return -1;
    }

    if (ingest_control_publish(pl->w->conf->control, pl->final,
                               pl->w->conf->reload_timeout, generation,
                               &refused, error, size)
        == 0)
    {
        pl->reload_s = ingest_now() - start;
        ingest_fault("after_reload");
        return 1;
    }

    pl->reload_s = ingest_now() - start;

    pl->w->reload_pending = 1;
    pl->w->reload_failures = 1;
    pl->w->reload_at = ingest_now() + 1.0;
    pl->w->reload_since = ingest_wall();

    return 0;
}


static void
ingest_pl_published(ingest_pl_t *pl, int live, unsigned long generation,
    const char *reload_error)
{
    double                  now, latency;
    ingest_ev_t             ev;
    ingest_live_t           corte;
    ingest_watch_t         *w;
    ingest_build_result_t  *r;

    w = pl->w;
    r = &pl->vo.res;
    now = ingest_wall();
    latency = now - pl->arrival;

    memset(&corte, 0, sizeof(ingest_live_t));
    corte.have = 1;
    (void) snprintf(corte.name, sizeof(corte.name), "%s", pl->final);
    memcpy(corte.sha256, pl->sha, PREP_SHA256_LEN);

    if (pl->built) {
        (void) snprintf(corte.corte_id, sizeof(corte.corte_id), "%s",
                        r->corte.id);
        (void) snprintf(corte.iso, sizeof(corte.iso), "%s",
                        r->corte.iso8601);
        corte.corte_time = r->corte.time;

    } else {
        (void) snprintf(corte.corte_id, sizeof(corte.corte_id), "%s",
                        pl->live.corte_id);
        (void) snprintf(corte.iso, sizeof(corte.iso), "%s", pl->live.iso);
        corte.corte_time = pl->live.corte_time;
    }

    ingest_ev_begin(&ev, "published", "info");
    ingest_pl_file(&ev, pl);
    ingest_ev_str(&ev, "corte_id", corte.corte_id);
    ingest_ev_str(&ev, "corte", corte.iso);
    ingest_ev_sha256(&ev, "sha256", pl->sha);
    ingest_ev_uint(&ev, "size", pl->size);
    ingest_ev_str(&ev, "snapshot", pl->final);
    ingest_ev_str(&ev, "previous", pl->resumed ? NULL
                                   : pl->live.have ? pl->live.name : NULL);
    ingest_ev_bool(&ev, "resumed", pl->resumed);

    if (pl->built) {
        ingest_ev_uint(&ev, "files", r->files);
        ingest_ev_uint(&ev, "raw_bytes", r->raw_bytes);
        ingest_ev_uint(&ev, "gzip_bytes", r->gzip_bytes);
        ingest_ev_uint(&ev, "gzip_reused", r->gzip_reused);
    }

    if (w->conf->control == NULL) {
        ingest_ev_null(&ev, "live");

    } else {
        ingest_ev_bool(&ev, "live", live);
    }

    if (live) {
        ingest_ev_uint(&ev, "generation", generation);
    }

    if (reload_error != NULL) {
        ingest_ev_str(&ev, "reload_error", reload_error);
    }

    ingest_ev_time(&ev, "arrival", pl->arrival);
    ingest_ev_secs(&ev, "latency_s", latency);

    ingest_ev_object(&ev, "phases");
    ingest_ev_secs(&ev, "wait_s", pl->wait_s);
    ingest_ev_secs(&ev, "stage_s", pl->stage_s);
    ingest_ev_secs(&ev, "validate_s", pl->validate_s);

    if (pl->built) {
        ingest_ev_secs(&ev, "verify_s", r->archive.verify_seconds);
        ingest_ev_secs(&ev, "read_s", r->archive.read_seconds);
        ingest_ev_secs(&ev, "gzip_s", r->gzip_seconds);
        ingest_ev_secs(&ev, "fsync_s", pl->vo.fsync_seconds);
        ingest_ev_secs(&ev, "check_s", pl->vo.check_seconds);
    }

    ingest_ev_secs(&ev, "commit_s", pl->commit_s);
    ingest_ev_secs(&ev, "flip_s", pl->flip_s);
    ingest_ev_secs(&ev, "reload_s", pl->reload_s);
    ingest_ev_close(&ev);

    if (pl->built) {
        ingest_ev_int(&ev, "validator_peak_kib", pl->vo.peak_kib);
    }

    ingest_ev_int(&ev, "daemon_peak_kib", ingest_peak_kib());

    (void) ingest_ev_write(&w->log, &ev, "%s %s (%s) from %s, %.2f s "
                           "after its last byte%s%s",
                           pl->resumed ? "finished publishing"
                                       : "published",
                           corte.corte_id, corte.iso, pl->c->name, latency,
                           live ? ", nginx serves it"
                           : w->conf->control ? ", nginx not told yet: "
                           : "",
                           !live && reload_error ? reload_error : "");

    ingest_published_add(w, pl->sha);
    w->last_publish = now;
    w->stale_alarms = 0;

    ingest_fault("after_published_event");

    /* the hook only once nginx serves the corte: a purge before that
     * would refill the CDN with the old one */
    ingest_hook_schedule(w, &corte, 0,
                         !live && w->conf->control != NULL);
}


/* the snapshot is current: tell nginx, record it, archive the upload */
void
ingest_pl_finish(ingest_pl_t *pl)
{
    int            live;
    char           error[INGEST_CONTROL_ERRLEN];
    unsigned long  generation;

    generation = 0;
    error[0] = '\0';

    live = ingest_pl_reload(pl, &generation, error, sizeof(error)) == 1;

    ingest_store_unlock(&pl->w->store);

    ingest_pl_published(pl, live, generation, error[0] ? error : NULL);
    ingest_pl_archive(pl);
    ingest_pl_retention(pl->w);
}


void
ingest_pl_duplicate(ingest_pl_t *pl)
{
    ingest_ev_t  ev;

    ingest_store_unlock(&pl->w->store);

    (void) snprintf(pl->final, sizeof(pl->final), "%s", pl->live.name);

    ingest_ev_begin(&ev, "duplicate", "info");
    ingest_pl_file(&ev, pl);
    ingest_ev_str(&ev, "corte_id", pl->live.corte_id);
    ingest_ev_sha256(&ev, "sha256", pl->sha);
    ingest_ev_str(&ev, "snapshot", pl->live.name);
    (void) ingest_ev_write(&pl->w->log, &ev, "%s is the live corte %s "
                           "again (same SHA-256): nothing to do",
                           pl->c->name, pl->live.corte_id);

    ingest_pl_archive(pl);
}


void
ingest_pipeline_reload(ingest_watch_t *w)
{
    int            refused, rc;
    char           error[INGEST_CONTROL_ERRLEN];
    double         delay;
    ingest_ev_t    ev;
    ingest_live_t  live;
    unsigned long  generation;

    if (!w->reload_pending || ingest_now() < w->reload_at) {
        return;
    }

    if (w->conf->control == NULL || ingest_live_read(&w->store, &live) != 1)
    {
        w->reload_pending = 0;
        return;
    }

    generation = 0;
    rc = ingest_control_publish(w->conf->control, live.name,
                                w->conf->reload_timeout, &generation,
                                &refused, error, sizeof(error));

    if (rc == 0) {
        ingest_ev_begin(&ev, "reloaded", "info");
        ingest_ev_str(&ev, "corte_id", live.corte_id);
        ingest_ev_str(&ev, "corte", live.iso);
        ingest_ev_str(&ev, "snapshot", live.name);
        ingest_ev_uint(&ev, "generation", generation);
        ingest_ev_uint(&ev, "attempts", w->reload_failures + 1);
        ingest_ev_secs(&ev, "after_s", ingest_wall() - w->reload_since);
        (void) ingest_ev_write(&w->log, &ev, "nginx serves corte %s now, "
                               "after %u failed attempt(s)",
                               live.corte_id, w->reload_failures);

        w->reload_pending = 0;
        w->reload_failures = 0;

        ingest_hook_release(w);

        return;
    }

    w->reload_failures++;
    delay = ldexp(1.0, w->reload_failures > 6 ? 5 : (int) w->reload_failures
                                                    - 1);

    if (delay > INGEST_RELOAD_RETRY_MAX) {
        delay = INGEST_RELOAD_RETRY_MAX;
    }

    w->reload_at = ingest_now() + delay;

    ingest_ev_begin(&ev, "reload_failed", "alert");
    ingest_ev_str(&ev, "snapshot", live.name);
    ingest_ev_str(&ev, "corte_id", live.corte_id);
    ingest_ev_str(&ev, "error", error);
    ingest_ev_bool(&ev, "refused", refused);
    ingest_ev_uint(&ev, "attempts", w->reload_failures);
    ingest_ev_secs(&ev, "retry_in", delay);
    (void) ingest_ev_write(&w->log, &ev, "nginx does not serve corte %s "
                           "yet (%s); current points to it, so a restarted "
                           "nginx will; trying again in %.0f s",
                           live.corte_id, error, delay);
}
