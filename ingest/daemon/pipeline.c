/*
 * Copyright (C) the ngx_prep authors
 *
 * One candidate from the drop folder to a decision.  The order of the
 * steps is what makes a crash at any point harmless:
 *
 *   1. the upload stays in the drop folder until the decision is
 *      recorded, so a restart sees it again ("nothing dropped is lost");
 *   2. the snapshot is complete, fsynced and verified before it is
 *      named, and named before current points to it (publication.c,
 *      store.c);
 *   3. the "published" event is the record that a package was
 *      published: a restart that finds the live package again in the
 *      drop folder finishes what is missing (tells nginx, logs it) if
 *      the event is not in the log, and calls it a duplicate if it is;
 *   4. the upload leaves the drop folder last, and only if it did not
 *      change meanwhile (a new upload under the same name is a new
 *      candidate).
 *
 * Each step (ingest_pl_steps[], in order) returns what it found,
 * ingest_step.h, with the reason in its err; it does not quarantine,
 * wait or retry by itself: ingest_pl_act() alone does, and records it.
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

#include "common/ingest_fault.h"
#include "daemon/ingest_pipeline.h"
#include "daemon/ingest_publication.h"
#include "ops/ingest_notice.h"
#include "ops/ingest_window.h"

static const char *
ingest_pl_type(mode_t mode)
{
    return S_ISLNK(mode) ? "a symbolic link"
           : S_ISFIFO(mode) ? "a FIFO"
           : S_ISSOCK(mode) ? "a socket"
           : S_ISCHR(mode) ? "a character device"
           : S_ISBLK(mode) ? "a block device"
           : S_ISDIR(mode) ? "a directory"
           : "not a regular file";
}


/* opens the upload; DONE when it is gone */
static ingest_step_e
ingest_pl_open(ingest_pl_t *pl, ingest_err_t *err)
{
    int           e;
    struct stat   sb;

    /* O_NOFOLLOW and O_NONBLOCK: a link is not followed, a FIFO does not
     * block; both are refused below */
    pl->fd = openat(pl->w->drop_fd, pl->c->name,
                    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (pl->fd < 0) {
        e = errno;

        if (fstatat(pl->w->drop_fd, pl->c->name, &sb, AT_SYMLINK_NOFOLLOW)
            != 0)
        {
            if (errno == ENOENT) {
                ingest_cand_remove(pl->w, pl->c);
                return INGEST_STEP_DONE;
            }

            e = errno;

        } else if (!S_ISREG(sb.st_mode)) {
            ingest_stamp_of(&pl->stamp, &sb);
            (void) ingest_fail(err, INGEST_NOT_REGULAR, "%s (only regular "
                               "files are taken)",
                               ingest_pl_type(sb.st_mode));
            return INGEST_STEP_REJECT;
        }

        (void) ingest_fail_errno(err, e, "opening %s", pl->c->name);
        return INGEST_STEP_FAIL;
    }

    if (fstat(pl->fd, &sb) != 0) {
        (void) ingest_fail_errno(err, errno, "fstat %s", pl->c->name);
        return INGEST_STEP_FAIL;
    }

    ingest_stamp_of(&pl->stamp, &sb);

    if (!S_ISREG(sb.st_mode)) {
        (void) ingest_fail(err, INGEST_NOT_REGULAR, "%s (only regular files "
                           "are taken)", ingest_pl_type(sb.st_mode));
        return INGEST_STEP_REJECT;
    }

    /* regular: reads must block again */
    (void) fcntl(pl->fd, F_SETFL, 0);

    return INGEST_STEP_CONTINUE;
}


/*
 * The file as it is now against what was seen before: DONE when there
 * is nothing new to do (waiting or stuck and unchanged).
 */
static ingest_step_e
ingest_pl_unchanged(ingest_pl_t *pl, ingest_err_t *err)
{
    ingest_ev_t     ev;
    ingest_cand_t  *c;

    (void) err;

    c = pl->c;

    if (c->have_stamp && ingest_stamp_equal(&pl->stamp, &c->stamp)
        && !c->recheck)
    {
        if (c->state == INGEST_CAND_STUCK) {
            c->due = HUGE_VAL;
            return INGEST_STEP_DONE;
        }

        if (c->state == INGEST_CAND_WAITING) {
            if (ingest_now() - c->since < pl->w->conf->incomplete_timeout) {
                c->due = c->since + pl->w->conf->incomplete_timeout;
                return INGEST_STEP_DONE;
            }

            pl->giveup = 1;
        }

        return INGEST_STEP_CONTINUE;
    }

    if (!c->have_stamp || !ingest_stamp_equal(&pl->stamp, &c->stamp)) {
        c->stamp = pl->stamp;
        c->have_stamp = 1;
        c->since = ingest_now();
        c->seen_logged = 0;

        if (c->state == INGEST_CAND_STUCK) {
            c->state = INGEST_CAND_DUE;
        }
    }

    c->recheck = 0;

    if (!c->seen_logged) {
        ingest_ev_begin(&ev, "seen", "info");
        ingest_pl_file(&ev, pl);
        ingest_ev_uint(&ev, "size", (uint64_t) pl->stamp.size);
        ingest_ev_str(&ev, "trigger", c->trigger);
        ingest_ev_time(&ev, "arrival", ingest_stamp_arrival(&pl->stamp));
        (void) ingest_ev_write(&pl->w->log, &ev, "%s (%llu bytes, %s)",
                               c->name,
                               (unsigned long long) pl->stamp.size,
                               c->trigger);
        c->seen_logged = 1;
    }

    return INGEST_STEP_CONTINUE;
}


/* an empty upload is one still to come, an oversized one is refused */
static ingest_step_e
ingest_pl_size(ingest_pl_t *pl, ingest_err_t *err)
{
    uint64_t  max;

    pl->arrival = ingest_stamp_arrival(&pl->stamp);
    pl->wait_s = ingest_wall() - pl->arrival;

    ingest_fault("after_seen");

    if (pl->stamp.size == 0 && !pl->giveup) {
        (void) ingest_fail(err, INGEST_TRUNCATED, "the file is empty");
        return INGEST_STEP_WAIT;
    }

    max = pl->w->conf->max_package_size;

    if ((uint64_t) pl->stamp.size > max) {
        (void) ingest_fail(err, INGEST_PACKAGE_TOO_LARGE, "%llu bytes, over "
                           "%llu (--max-package-size)",
                           (unsigned long long) pl->stamp.size,
                           (unsigned long long) max);
        return INGEST_STEP_REJECT;
    }

    return INGEST_STEP_CONTINUE;
}


/* the private copy, hashed */
static ingest_step_e
ingest_pl_stage(ingest_pl_t *pl, ingest_err_t *err)
{
    double          start;
    struct stat     sb;
    ingest_stamp_t  after;

    start = ingest_now();

    if (ingest_stage_copy(pl->fd, pl->w->staging_fd,
                          pl->w->conf->max_package_size, pl->staged,
                          &pl->staged_fd, pl->sha, &pl->size, err)
        != 0)
    {
        return err->reason == INGEST_PACKAGE_TOO_LARGE ? INGEST_STEP_REJECT
                                                       : INGEST_STEP_FAIL;
    }

    pl->stage_s = ingest_now() - start;

    /*
     * A writer still at work: the copy is of a moment, not of a file.
     * The candidate keeps the stamp taken before the copy, not the new
     * one: the file as it is now was never looked at, so its close, a
     * listing or the deadline finds it changed and looks again.  Were
     * the new stamp kept, an upload that ended during the copy would
     * look unchanged from then on and be given up on as truncated.
     */
    if (fstat(pl->fd, &sb) == 0) {
        ingest_stamp_of(&after, &sb);

        if (!ingest_stamp_equal(&after, &pl->stamp)
            || pl->size != (uint64_t) sb.st_size)
        {
            pl->c->since = ingest_now();
            (void) ingest_fail(err, INGEST_TRUNCATED, "the file changed "
                               "while it was copied (upload in progress)");
            return INGEST_STEP_WAIT;
        }
    }

    ingest_fault("after_stage");

    return INGEST_STEP_CONTINUE;
}


/* unchanged since it was found incomplete, for --incomplete-timeout */
static ingest_step_e
ingest_pl_given_up(ingest_pl_t *pl, ingest_err_t *err)
{
    if (!pl->giveup) {
        return INGEST_STEP_CONTINUE;
    }

    (void) ingest_fail(err, pl->c->reason, "%s; no change for %.0f s "
                       "(--incomplete-timeout)", pl->c->msg,
                       pl->w->conf->incomplete_timeout);

    return INGEST_STEP_REJECT;
}


/* the sidecar (if any) must agree; until it does, the candidate waits */
static ingest_step_e
ingest_pl_sidecar(ingest_pl_t *pl, ingest_err_t *err)
{
    char     msg[INGEST_ERRLEN], hex[2 * PREP_SHA256_LEN + 1];
    uint8_t  want[PREP_SHA256_LEN];

    pl->sidecar = ingest_sidecar_read(pl->w->drop_fd, pl->c->name, want,
                                      &pl->side_checked, msg, sizeof(msg));

    switch (pl->sidecar) {

    case INGEST_SIDECAR_INVALID:
        (void) ingest_fail(err, INGEST_SHA256_INVALID, "%s", msg);
        return INGEST_STEP_WAIT;

    case INGEST_SIDECAR_ABSENT:
        if (pl->w->conf->require_sha256) {
            (void) ingest_fail(err, INGEST_SHA256_MISSING, "no %s"
                               INGEST_SIDECAR_SUFFIX " next to it "
                               "(--require-sha256)", pl->c->name);
            return INGEST_STEP_WAIT;
        }

        return INGEST_STEP_CONTINUE;

    case INGEST_SIDECAR_OK:
        if (memcmp(want, pl->sha, PREP_SHA256_LEN) != 0) {
            (void) ingest_fail(err, INGEST_SHA256_MISMATCH, "its SHA-256 "
                               "is %s, the sidecar says otherwise",
                               ingest_sha256_hex(hex, pl->sha));
            return INGEST_STEP_WAIT;
        }

        return INGEST_STEP_CONTINUE;
    }

    return INGEST_STEP_CONTINUE;
}


/*
 * The store locked and its live corte read.  The live package itself
 * needs no validation: a duplicate, or a publication whose "published"
 * event a crash prevented, finished now (DONE either way).
 */
static ingest_step_e
ingest_pl_live(ingest_pl_t *pl, ingest_err_t *err)
{
    ingest_watch_t  *w;

    w = pl->w;

    if (ingest_store_lock(&w->store, err) != 0) {
        return INGEST_STEP_FAIL;
    }

    if (ingest_live_read(&w->store, &pl->live) < 0) {
        /* current names nothing readable: any good package replaces it */
        pl->live.have = 0;
    }

    if (!pl->live.have
        || memcmp(pl->sha, pl->live.sha256, PREP_SHA256_LEN) != 0)
    {
        return INGEST_STEP_CONTINUE;
    }

    if (ingest_published_has(w, pl->sha)) {
        ingest_pl_duplicate(pl);
        return INGEST_STEP_DONE;
    }

    /* current was flipped to it, but the daemon died before the
     * "published" event: finish the job */
    pl->resumed = 1;
    (void) snprintf(pl->final, sizeof(pl->final), "%s", pl->live.name);
    ingest_pl_finish(pl);

    return INGEST_STEP_DONE;
}


static void
ingest_pl_validated_events(ingest_pl_t *pl)
{
    ingest_ev_t             ev;
    ingest_build_result_t  *r;

    r = &pl->vo.res;

    ingest_ev_begin(&ev, "verified", "info");
    ingest_pl_file(&ev, pl);
    ingest_ev_sha256(&ev, "sha256", pl->sha);
    ingest_ev_uint(&ev, "size", pl->size);
    ingest_ev_str(&ev, "sidecar", pl->sidecar == INGEST_SIDECAR_OK
                                  ? "match" : "absent");
    ingest_ev_uint(&ev, "tar_bytes", r->archive.tar_bytes);
    ingest_ev_secs(&ev, "verify_s", r->archive.verify_seconds);
    (void) ingest_ev_write(&pl->w->log, &ev, "%s is complete: one gzip "
                           "member, CRC and length good, whole tar",
                           pl->c->name);

    ingest_ev_begin(&ev, "validated", "info");
    ingest_pl_file(&ev, pl);
    ingest_ev_str(&ev, "corte_id", r->corte.id);
    ingest_ev_str(&ev, "corte", r->corte.iso8601);
    ingest_ev_str(&ev, "corte_text", r->corte.text);
    ingest_ev_uint(&ev, "corte_sources", r->corte.sources);
    ingest_ev_uint(&ev, "files", r->files);
    ingest_ev_uint(&ev, "raw_bytes", r->raw_bytes);
    ingest_ev_str(&ev, "root", r->archive.stripped ? r->archive.root + 1
                                                   : "");
    (void) ingest_ev_write(&pl->w->log, &ev, "%s is corte %s (%s), %llu "
                           "files", pl->c->name, r->corte.id,
                           r->corte.iso8601, (unsigned long long) r->files);
}


/* the publication's policy for watch: the events, the window */
static ingest_step_e
ingest_pl_validated(ingest_publication_t *pub, void *data,
    ingest_err_t *err)
{
    ingest_pl_t  *pl;

    (void) pub;
    (void) err;

    pl = data;
    pl->built = 1;
    ingest_pl_validated_events(pl);

    return INGEST_STEP_CONTINUE;
}


static int
ingest_pl_hold(ingest_publication_t *pub, void *data)
{
    ingest_pl_t  *pl;

    (void) pub;

    pl = data;

    return ingest_window_holds(pl->w);
}


/*
 * Validated in a child, decided against the live corte, named and made
 * current (daemon/publication.c), then finished here: told to nginx and
 * recorded, or a duplicate, or held until --publish-from.
 */
static ingest_step_e
ingest_pl_publish(ingest_pl_t *pl, ingest_err_t *err)
{
    ingest_step_e                step;
    ingest_watch_t              *w;
    ingest_publication_t         pub;
    ingest_publication_policy_t  policy;

    w = pl->w;

    memset(&policy, 0, sizeof(ingest_publication_policy_t));
    policy.in_child = 1;
    policy.validated = ingest_pl_validated;
    policy.hold = ingest_pl_hold;
    policy.data = pl;

    memset(&pub, 0, sizeof(ingest_publication_t));
    pub.store = &w->store;
    pub.pkg_fd = pl->staged_fd;
    pub.package_name = pl->c->name;
    pub.limits = &w->conf->limits;
    pub.gzip_level = w->conf->gzip_level;
    pub.memory_limit = w->conf->validator_memory;
    pub.lock_fd = w->watch_lock_fd;
    pub.tmp_fd = &pl->tmp_fd;
    pub.tmp = pl->tmp;
    pub.scratch_fd = -1;
    pub.live_known = 1;
    pub.live = &pl->live;
    pub.vo = &pl->vo;
    pub.final = pl->final;

    step = ingest_publication_run(&pub, &policy, err);

    pl->validate_s = pub.validate_s;
    pl->commit_s = pub.commit_s;
    pl->flip_s = pub.flip_s;

    if (step != INGEST_STEP_CONTINUE) {
        return step;
    }

    switch (pub.outcome) {

    case INGEST_PUB_LIVE:
        /* handled before the build as a duplicate or a resumed
         * publication; reached only if current changed meanwhile */
        ingest_pl_duplicate(pl);
        break;

    case INGEST_PUB_HELD:
        ingest_window_record_held(pl);
        break;

    default:
        ingest_pl_finish(pl);
        break;
    }

    return INGEST_STEP_DONE;
}


/*
 * The one place that acts on what a step found, and records it: into
 * quarantine with its .reason, waiting for a change, or retried later.
 */
static void
ingest_pl_act(ingest_pl_t *pl, ingest_step_e step, const ingest_err_t *err)
{
    switch (step) {

    case INGEST_STEP_REJECT:
        ingest_pl_reject(pl, err->reason, "%s", err->msg);
        break;

    case INGEST_STEP_WAIT:
        ingest_pl_wait(pl, err->reason, err->msg);
        break;

    case INGEST_STEP_FAIL:
        ingest_pl_fail(pl, err);
        break;

    default:
        break;
    }
}


typedef ingest_step_e (*ingest_pl_step_pt)(ingest_pl_t *pl,
    ingest_err_t *err);


/* in this order; the first that does not CONTINUE ends the candidate */
static const ingest_pl_step_pt  ingest_pl_steps[] = {
    ingest_pl_open,
    ingest_pl_unchanged,
    ingest_pl_size,
    ingest_pl_stage,
    ingest_pl_given_up,
    ingest_pl_sidecar,
    ingest_pl_live,
    ingest_pl_publish
};


void
ingest_pipeline_run(ingest_watch_t *w, ingest_cand_t *c)
{
    size_t         i;
    ingest_pl_t    pl;
    ingest_err_t   err;
    ingest_step_e  step;

    if (w->drop_fd < 0) {
        c->due = ingest_now() + INGEST_WATCH_RETRY;
        return;
    }

    /* the institute's suspension notice, not a package (ops/notice.c);
     * an upload held by --publish-from waits (ops/window.c) */
    if (ingest_notice_drop(w, c) || ingest_window_waits(w, c)) {
        return;
    }

    memset(&pl, 0, sizeof(ingest_pl_t));
    pl.w = w;
    pl.c = c;
    pl.fd = -1;
    pl.staged_fd = -1;
    pl.tmp_fd = -1;
    pl.start = ingest_now();

    ingest_err_reset(&err);
    step = INGEST_STEP_CONTINUE;

    for (i = 0; i < sizeof(ingest_pl_steps) / sizeof(ingest_pl_steps[0]);
         i++)
    {
        step = ingest_pl_steps[i](&pl, &err);

        if (step != INGEST_STEP_CONTINUE) {
            break;
        }
    }

    ingest_pl_act(&pl, step, &err);
    ingest_pl_cleanup(&pl);
}
