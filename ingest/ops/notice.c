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
#include <unistd.h>

#include "cli/ingest_cmd.h"
#include "ops/ingest_notice.h"


static void
ingest_notice_quarantine(ingest_watch_t *w, ingest_cand_t *c,
    const char *why)
{
    int          fd;
    char         name[INGEST_NAME_MAX + 64], buf[65536];
    ssize_t      n;
    ingest_ev_t  ev;

    (void) snprintf(name, sizeof(name), "%.0f-%s", ingest_wall(), c->name);

    fd = openat(w->drop_fd, c->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd >= 0 && w->quarantine_fd >= 0) {
        int  out;

        out = openat(w->quarantine_fd, name,
                     O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);

        /* bounded: a notice over the limit keeps its first 64 MB */
        for (size_t total = 0; out >= 0 && total < (64u << 20); ) {
            n = read(fd, buf, sizeof(buf));

            if (n <= 0 || write(out, buf, (size_t) n) != n) {
                break;
            }

            total += (size_t) n;
        }

        if (out >= 0) {
            (void) fsync(out);
            (void) close(out);
        }
    }

    if (fd >= 0) {
        (void) close(fd);
    }

    ingest_ev_begin(&ev, "notice_rejected", "alert");
    ingest_ev_str(&ev, "file", c->name);
    ingest_ev_str(&ev, "message", why);
    ingest_ev_str(&ev, "quarantine", name);
    (void) ingest_ev_write(&w->log, &ev, "the dropped notice %s was not "
                           "applied: %s", c->name, why);
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
        ingest_notice_quarantine(w, c, msg);

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
