/*
 * Copyright (C) the ngx_prep authors
 *
 * The decisions that do not publish.  A rejected upload is kept: its
 * private copy (or, with none, the entry itself) goes into quarantine
 * next to a .reason file before it leaves the drop folder.  An
 * incomplete one waits for a change.  An operational failure removes
 * every byte of the attempt first (a full disk must not keep our own
 * garbage), then retries with a doubling delay.
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
#include "common/ingest_fault.h"
#include "daemon/ingest_pipeline.h"

void
ingest_pl_drop_staged(ingest_pl_t *pl)
{
    if (pl->staged_fd >= 0) {
        (void) close(pl->staged_fd);
        pl->staged_fd = -1;
    }

    if (pl->staged[0] != '\0') {
        (void) unlinkat(pl->w->staging_fd, pl->staged, 0);
        pl->staged[0] = '\0';
    }
}


void
ingest_pl_drop_tmp(ingest_pl_t *pl)
{
    if (pl->tmp_fd >= 0) {
        (void) close(pl->tmp_fd);
        pl->tmp_fd = -1;
    }

    if (pl->tmp[0] != '\0') {
        ingest_store_tmp_remove(&pl->w->store, pl->tmp);
        pl->tmp[0] = '\0';
    }
}


void
ingest_pl_cleanup(ingest_pl_t *pl)
{
    ingest_pl_drop_tmp(pl);
    ingest_pl_drop_staged(pl);
    ingest_store_unlock(&pl->w->store);

    if (pl->fd >= 0) {
        (void) close(pl->fd);
        pl->fd = -1;
    }
}


void
ingest_pl_file(ingest_ev_t *ev, ingest_pl_t *pl)
{
    ingest_ev_str(ev, "file", pl->c->name);
}


/*
 * The sidecar copied leaves the drop folder, unless it changed since it
 * was copied (a new upload's sidecar stays for the new upload) or was not
 * copied at all (it stays, and the event said why).
 */
static void
ingest_pl_unlink_sidecar(ingest_pl_t *pl)
{
    char             side[INGEST_NAME_MAX + sizeof(INGEST_SIDECAR_SUFFIX)];
    struct stat      sb;
    ingest_stamp_t   now;

    if (!pl->side_copied) {
        return;
    }

    pl->side_copied = 0;

    (void) snprintf(side, sizeof(side), "%s" INGEST_SIDECAR_SUFFIX,
                    pl->c->name);

    if (fstatat(pl->w->drop_fd, side, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        return;
    }

    ingest_stamp_of(&now, &sb);

    if (ingest_stamp_equal(&now, &pl->side_stamp)) {
        (void) unlinkat(pl->w->drop_fd, side, 0);
    }
}


/*
 * The upload leaves the drop folder, with its sidecar, unless it changed
 * since it was read.  Returns 1 when it is gone; 0 when it stays (the
 * candidate is due again, or stuck).
 */
int
ingest_pl_unlink_drop(ingest_pl_t *pl)
{
    int              e;
    struct stat      sb;
    ingest_ev_t      ev;
    ingest_stamp_t   now;
    ingest_cand_t   *c;

    c = pl->c;

    if (fstatat(pl->w->drop_fd, c->name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        /* gone already: moved into quarantine itself (no private copy),
         * or removed by its writer; its sidecar must not outlive it */
        if (errno == ENOENT) {
            ingest_pl_unlink_sidecar(pl);
        }

        return 1;
    }

    ingest_stamp_of(&now, &sb);

    if (!ingest_stamp_equal(&now, &pl->stamp)) {
        /* a new upload under the same name: decide it afresh, and not
         * against the sidecar of the old one, kept where the old one
         * went (a sidecar of its own has another stamp, and stays) */
        ingest_pl_unlink_sidecar(pl);
        c->state = INGEST_CAND_DUE;
        c->due = 0;
        c->have_stamp = 0;
        return 0;
    }

    if (unlinkat(pl->w->drop_fd, c->name, 0) == 0) {
        ingest_pl_unlink_sidecar(pl);
        return 1;
    }

    e = errno;

    c->state = INGEST_CAND_STUCK;
    c->due = HUGE_VAL;

    ingest_ev_begin(&ev, "stuck", "alert");
    ingest_pl_file(&ev, pl);
    ingest_ev_str(&ev, "error", strerror(e));
    (void) ingest_ev_write(&pl->w->log, &ev, "%s is decided but cannot be "
                           "removed from the drop folder (%s); it is "
                           "ignored until it changes", c->name,
                           strerror(e));
    return 0;
}


/*
 * Opening the sidecar failed with e: 0 when there is nothing to copy
 * (none; a link, a socket: no data of their own, and they go with the
 * package, as they always did), else e (a regular file that cannot be
 * read: not copied, so it stays in the drop folder).
 */
static int
ingest_pl_sidecar_unopened(ingest_pl_t *pl, const char *side, int e)
{
    struct stat  sb;

    if (e == ENOENT
        || fstatat(pl->w->drop_fd, side, &sb, AT_SYMLINK_NOFOLLOW) != 0)
    {
        return 0;
    }

    if (S_ISREG(sb.st_mode)) {
        return e;
    }

    ingest_stamp_of(&pl->side_stamp, &sb);
    pl->side_copied = 1;

    return 0;
}


/*
 * The sidecar goes with its package: copied atomically and whole (the
 * bytes the check agreed with, or, when it was not checked, read to its
 * end, INGEST_SIDECAR_MAX bytes at most: one over the bound is not
 * copied at all, EFBIG, rather than cut), then removed from the drop
 * folder by ingest_pl_unlink_drop() if it is still the file copied.
 * 0 (also when there is no sidecar, or one with no data to copy) or the
 * errno of the copy.
 */
int
ingest_pl_copy_sidecar(ingest_pl_t *pl, int dir_fd, const char *to)
{
    int              in, rc;
    char             side[INGEST_NAME_MAX + sizeof(INGEST_SIDECAR_SUFFIX)];
    char             buf[INGEST_SIDECAR_MAX + 1], path[INGEST_NAME_MAX + 64];
    size_t           len;
    ssize_t          n;
    struct stat      sb;
    ingest_stamp_t   stamp;

    pl->side_copied = 0;

    if (pl->sidecar == INGEST_SIDECAR_OK) {
        /* the sidecar the check read and agreed with, not a newer one
         * put there since (it stays, for the upload it belongs to) */
        rc = ingest_at_path(path, sizeof(path), dir_fd, to);

        if (rc == 0) {
            rc = prep_atomic_write_file(path, pl->side_checked.data,
                                        pl->side_checked.len, 0640, 0);
        }

        if (rc == 0) {
            pl->side_stamp = pl->side_checked.stamp;
            pl->side_copied = 1;
        }

        return rc;
    }

    (void) snprintf(side, sizeof(side), "%s" INGEST_SIDECAR_SUFFIX,
                    pl->c->name);

    in = openat(pl->w->drop_fd, side, O_RDONLY | O_NOFOLLOW | O_NONBLOCK
                                      | O_CLOEXEC);
    if (in < 0) {
        return ingest_pl_sidecar_unopened(pl, side, errno);
    }

    if (fstat(in, &sb) != 0) {
        rc = errno;
        (void) close(in);
        return rc;
    }

    ingest_stamp_of(&stamp, &sb);

    if (!S_ISREG(sb.st_mode)) {
        /* a FIFO is not read (no hang): nothing to copy */
        (void) close(in);
        pl->side_stamp = stamp;
        pl->side_copied = 1;
        return 0;
    }

    rc = sb.st_size > INGEST_SIDECAR_MAX ? EFBIG : 0;
    len = 0;

    /* to the end: a read may return less than asked, and a file may grow
     * past the size fstat() saw; buf holds one byte over the bound */
    while (rc == 0) {
        n = read(in, buf + len, sizeof(buf) - len);

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n < 0) {
            rc = errno;
            break;
        }

        if (n == 0) {
            break;
        }

        len += (size_t) n;

        if (len > INGEST_SIDECAR_MAX) {
            rc = EFBIG;
        }
    }

    (void) close(in);

    if (rc != 0) {
        return rc;
    }

    /* never rewritten in place: a crash leaves the old copy or the new */
    rc = ingest_at_path(path, sizeof(path), dir_fd, to);

    if (rc == 0) {
        rc = prep_atomic_write_file(path, buf, len, 0640, 0);
    }

    if (rc == 0) {
        pl->side_stamp = stamp;
        pl->side_copied = 1;
    }

    return rc;
}


void
ingest_pl_reject(ingest_pl_t *pl, ingest_reason_e reason, const char *fmt,
    ...)
{
    int              moved, is_reg, side_rc;
    char             msg[INGEST_ERRLEN], qname[INGEST_NAME_MAX + 1];
    char             side[INGEST_NAME_MAX + sizeof(INGEST_SIDECAR_SUFFIX)];
    va_list          args;
    struct stat      sb;
    ingest_ev_t      ev;
    ingest_err_t     err;
    ingest_watch_t  *w;
    ingest_reject_t  why;

    w = pl->w;

    va_start(args, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    memset(&why, 0, sizeof(ingest_reject_t));
    why.reason = reason;
    why.message = msg;
    why.file = pl->c->name;
    why.sha256 = pl->staged[0] != '\0' ? pl->sha : NULL;
    why.size = pl->staged[0] != '\0' ? pl->size
                                     : (uint64_t) pl->stamp.size;

    ingest_err_reset(&err);
    ingest_pl_drop_tmp(pl);
    ingest_store_unlock(&w->store);

    moved = 0;
    qname[0] = '\0';

    if (pl->staged[0] != '\0') {
        (void) close(pl->staged_fd);
        pl->staged_fd = -1;

        if (ingest_quarantine(w->quarantine_fd, w->staging_fd, pl->staged,
                              &why, qname, sizeof(qname), &err)
            != 0)
        {
            ingest_pl_fail(pl, &err);
            return;
        }

        pl->staged[0] = '\0';
        moved = 1;

    } else {
        /* no private copy (a link, a FIFO, too large): the entry itself */
        is_reg = fstatat(w->drop_fd, pl->c->name, &sb, AT_SYMLINK_NOFOLLOW)
                 == 0 && S_ISREG(sb.st_mode);

        if (ingest_quarantine(w->quarantine_fd, w->drop_fd, pl->c->name,
                              &why, qname, sizeof(qname), &err)
            == 0)
        {
            moved = 1;

        } else if (!is_reg && (ingest_quarantine_name(w->quarantine_fd,
                                                      pl->c->name, qname,
                                                      sizeof(qname))
                               == 0)
                   && ingest_quarantine_reason(w->quarantine_fd, qname,
                                               &why, &err)
                      == 0)
        {
            /* another file system: a link or a FIFO holds no data, the
             * .reason file records what it was */
            moved = 1;
        }
    }

    side_rc = 0;

    if (moved) {
        (void) snprintf(side, sizeof(side), "%s" INGEST_SIDECAR_SUFFIX,
                        qname);
        side_rc = ingest_pl_copy_sidecar(pl, w->quarantine_fd, side);
    }

    ingest_fault("after_quarantine");

    ingest_ev_begin(&ev, "rejected",
                    reason == INGEST_CORTE_CONFLICT ? "alert" : "warning");
    ingest_pl_file(&ev, pl);
    ingest_ev_str(&ev, "reason", ingest_reason_code(reason));
    ingest_ev_str(&ev, "message", msg);

    if (why.sha256 != NULL) {
        ingest_ev_sha256(&ev, "sha256", why.sha256);

    } else {
        ingest_ev_null(&ev, "sha256");
    }

    ingest_ev_uint(&ev, "size", why.size);
    ingest_ev_str(&ev, "quarantine", moved ? qname : NULL);

    if (side_rc != 0) {
        ingest_ev_str(&ev, "sidecar_error", strerror(side_rc));
    }

    if (pl->live.have) {
        ingest_ev_str(&ev, "live_corte_id", pl->live.corte_id);
    }

    if (pl->built) {
        ingest_ev_str(&ev, "corte_id", pl->vo.res.corte.id);
    }

    if (pl->vo.peak_kib > 0) {
        ingest_ev_int(&ev, "validator_peak_kib", pl->vo.peak_kib);
    }

    if (!moved) {
        ingest_ev_str(&ev, "error", err.msg);
        (void) ingest_ev_write(&w->log, &ev, "rejected %s: %s: %s; it "
                               "cannot be moved into quarantine (%s) and "
                               "stays in the drop folder", pl->c->name,
                               ingest_reason_code(reason), msg, err.msg);
        pl->c->state = INGEST_CAND_STUCK;
        pl->c->due = HUGE_VAL;
        pl->c->stamp = pl->stamp;
        pl->c->have_stamp = 1;
        return;
    }

    if (side_rc != 0) {
        (void) ingest_ev_write(&w->log, &ev, "rejected %s: %s: %s (in "
                               "quarantine/%s); its sidecar could not be "
                               "copied there (%s) and stays in the drop "
                               "folder", pl->c->name,
                               ingest_reason_code(reason), msg, qname,
                               strerror(side_rc));

    } else {
        (void) ingest_ev_write(&w->log, &ev, "rejected %s: %s: %s (in "
                               "quarantine/%s)", pl->c->name,
                               ingest_reason_code(reason), msg, qname);
    }

    if (ingest_pl_unlink_drop(pl)) {
        ingest_cand_remove(w, pl->c);
    }
}


/* not complete yet: wait for a change, give up after the timeout */
void
ingest_pl_wait(ingest_pl_t *pl, ingest_reason_e reason, const char *msg)
{
    ingest_ev_t     ev;
    ingest_cand_t  *c;

    c = pl->c;

    ingest_pl_drop_tmp(pl);
    ingest_pl_drop_staged(pl);

    if (c->state != INGEST_CAND_WAITING || c->reason != reason) {
        ingest_ev_begin(&ev, "incomplete", "info");
        ingest_pl_file(&ev, pl);
        ingest_ev_str(&ev, "reason", ingest_reason_code(reason));
        ingest_ev_str(&ev, "message", msg);
        ingest_ev_uint(&ev, "size", (uint64_t) pl->stamp.size);
        ingest_ev_secs(&ev, "gives_up_in", pl->w->conf->incomplete_timeout);
        (void) ingest_ev_write(&pl->w->log, &ev, "%s is not complete yet "
                               "(%s: %s); waiting for it to change",
                               c->name, ingest_reason_code(reason), msg);
    }

    c->state = INGEST_CAND_WAITING;
    c->reason = reason;
    (void) snprintf(c->msg, sizeof(c->msg), "%s", msg);
    c->due = c->since + pl->w->conf->incomplete_timeout;
}


/* not the package's fault: try again later */
void
ingest_pl_fail(ingest_pl_t *pl, const ingest_err_t *err)
{
    double          delay;
    ingest_ev_t     ev;
    ingest_cand_t  *c;

    c = pl->c;

    /* space first: a full disk must not keep our own garbage */
    ingest_pl_drop_tmp(pl);
    ingest_pl_drop_staged(pl);
    ingest_store_unlock(&pl->w->store);

    c->failures++;
    delay = ldexp(1.0, c->failures > 7 ? 6 : (int) c->failures - 1);

    if (delay > INGEST_RETRY_MAX) {
        delay = INGEST_RETRY_MAX;
    }

    c->state = INGEST_CAND_RETRY;
    c->due = ingest_now() + delay;

    ingest_ev_begin(&ev, "failed", c->failures >= 3 ? "alert" : "warning");
    ingest_pl_file(&ev, pl);
    ingest_ev_str(&ev, "reason", ingest_reason_code(err->reason));
    ingest_ev_str(&ev, "message", err->msg);
    ingest_ev_uint(&ev, "failures", c->failures);
    ingest_ev_secs(&ev, "retry_in", delay);

    if (pl->live.have) {
        ingest_ev_str(&ev, "live_corte_id", pl->live.corte_id);
    }

    (void) ingest_ev_write(&pl->w->log, &ev, "could not take %s (%s: %s); "
                           "the live corte is unchanged; trying again in "
                           "%.0f s", c->name,
                           ingest_reason_code(err->reason), err->msg,
                           delay);
}
