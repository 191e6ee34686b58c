/*
 * Copyright (C) the ngx_prep authors
 *
 * The institute suspends a publisher by itself: its notice, dropped into
 * the drop folder as AVISO.html (--notice-name; off with
 * --no-drop-notice), is checked (UTF-8 HTML, at most 1 MB) and applied as
 * "suspend", with its SHA-256 in the event.  A notice that fails the
 * check changes nothing and is kept in STORE/quarantine.  Either way the
 * file leaves the drop folder, so that the institute can drop it again.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prep_atomic.h"
#include "cli/ingest_cmd.h"
#include "ops/ingest_notice.h"


/* a notice over the limit keeps its first 64 MB in quarantine/ */
#define INGEST_NOTICE_COPY_MAX  (64u << 20)


/*
 * A copy of the rejected notice in quarantine/, written through the
 * atomic file helper: 0 when kept (or when there is nothing to keep: it
 * is gone, or not a regular file), else the errno of the copy, and the
 * notice stays in the drop folder to be copied again.
 */
static int
ingest_notice_quarantine(ingest_watch_t *w, ingest_cand_t *c,
    const char *why)
{
    int                 fd, rc, kept;
    char                name[INGEST_NAME_MAX + 64], buf[65536];
    char                path[INGEST_NAME_MAX + 128];
    size_t              total;
    ssize_t             n;
    struct stat         sb;
    ingest_ev_t         ev;
    prep_atomic_file_t  f;

    (void) snprintf(name, sizeof(name), "%.0f-%s", ingest_wall(), c->name);

    kept = 0;
    rc = 0;

    fd = openat(w->drop_fd, c->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK
                                     | O_CLOEXEC);

    if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        rc = w->quarantine_fd < 0 ? EBADF
                                  : ingest_at_path(path, sizeof(path),
                                                   w->quarantine_fd, name);

        if (rc == 0) {
            rc = prep_atomic_begin(&f, path, 0640);

            for (total = 0; rc == 0 && total < INGEST_NOTICE_COPY_MAX; ) {
                n = read(fd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR) {
                    continue;
                }

                if (n <= 0) {
                    rc = n < 0 ? errno : 0;
                    break;
                }

                rc = prep_atomic_write(&f, buf, (size_t) n);
                total += (size_t) n;
            }

            if (rc == 0) {
                rc = prep_atomic_commit(&f, 0);

            } else {
                prep_atomic_abort(&f);
            }

            kept = rc == 0;
        }
    }

    if (fd >= 0) {
        (void) close(fd);
    }

    if (rc != 0) {
        fprintf(stderr, INGEST_PROGRAM ": notice %s: cannot be kept in "
                "%s: %s; trying again\n", c->name, INGEST_DIR_QUARANTINE,
                strerror(rc));
        return rc;
    }

    ingest_ev_begin(&ev, "notice_rejected", "alert");
    ingest_ev_str(&ev, "file", c->name);
    ingest_ev_str(&ev, "message", why);

    if (kept) {
        ingest_ev_str(&ev, "quarantine", name);
    }

    (void) ingest_ev_write(&w->log, &ev, "the dropped notice %s was not "
                           "applied: %s", c->name, why);

    return 0;
}


int
ingest_notice_drop(ingest_watch_t *w, ingest_cand_t *c)
{
    int                   live;
    char                 *buf;
    char                  msg[1024];
    size_t                len;
    const char           *want;
    ingest_suspend_req_t  req;

    want = w->conf->notice_name ? w->conf->notice_name : INGEST_NOTICE_NAME;

    if (w->conf->no_drop_notice || strcmp(c->name, want) != 0) {
        return 0;
    }

    buf = NULL;

    if (ingest_notice_load(w->drop_fd, c->name, &buf, &len, msg,
                           sizeof(msg))
        != 0)
    {
        if (ingest_notice_quarantine(w, c, msg) != 0) {
            free(buf);
            c->due = ingest_now() + 1.0;
            return 1;
        }

    } else {
        memset(&req, 0, sizeof(req));
        req.suspend = 1;
        req.source = "drop";
        req.file = c->name;
        req.notice = buf;
        req.notice_len = len;
        req.reason = "notice dropped by the institute";
        req.detached_hook = 1;

        if (ingest_suspend_apply(&w->store, w->conf, &w->log, &req, &live,
                                 msg, sizeof(msg))
            != 0)
        {
            /* the store could not be written: try again shortly */
            fprintf(stderr, INGEST_PROGRAM ": notice %s: %s\n", c->name,
                    msg);
            free(buf);
            c->due = ingest_now() + 1.0;
            return 1;
        }
    }

    free(buf);

    if (unlinkat(w->drop_fd, c->name, 0) != 0 && errno != ENOENT) {
        fprintf(stderr, INGEST_PROGRAM ": notice %s: cannot be removed "
                "from the drop folder: %s\n", c->name, strerror(errno));
    }

    ingest_cand_remove(w, c);

    return 1;
}
