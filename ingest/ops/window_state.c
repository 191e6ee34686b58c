/*
 * Copyright (C) the ngx_prep authors
 *
 * STORE/window.json, the publication window for the module's placeholder
 * page: see ingest_window.h.  Written when the watch starts, atomically;
 * nginx reads it with "current", so it is asked to reload when the file
 * changed (422 "nothing published" is the usual answer before the first
 * corte, and the file is read all the same).
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "prep_atomic.h"
#include "daemon/ingest_control_client.h"
#include "ops/ingest_window.h"


#define INGEST_WINDOW_FILE  "window.json"
#define INGEST_WINDOW_MAX   1024


/* "publish_from":"...","publish_from_unix":N or null, null */
static int
ingest_window_field(char *p, size_t size, const char *key, const char *s)
{
    char    when[INGEST_TIME_LEN];
    double  t;

    if (s == NULL || ingest_window_parse(s, &t) != 0) {
        return snprintf(p, size, "\"%s\":null,\"%s_unix\":null", key, key);
    }

    /* the parser admits only digits, "-:T+Z" and "@": no escaping */
    if (s[0] == '@') {
        s = ingest_fmt_utc(when, sizeof(when), t);
    }

    return snprintf(p, size, "\"%s\":\"%s\",\"%s_unix\":%.0f", key, s, key,
                    t);
}


static int
ingest_window_doc(const ingest_config_t *conf, char *doc, size_t size)
{
    int     n, m;

    n = snprintf(doc, size, "{");
    m = ingest_window_field(doc + n, size - n, "publish_from",
                            conf->publish_from);
    if (m < 0 || (size_t) (n + m) >= size) {
        return -1;
    }

    n += m;
    m = snprintf(doc + n, size - n, ",");
    n += m;
    m = ingest_window_field(doc + n, size - n, "keep_until",
                            conf->keep_until);
    if (m < 0 || (size_t) (n + m + 3) >= size) {
        return -1;
    }

    n += m;
    n += snprintf(doc + n, size - n, "}\n");

    return n;
}


/* 1 when the file holds exactly doc */
static int
ingest_window_same(int dir_fd, const char *doc, size_t len)
{
    int      fd;
    char     buf[INGEST_WINDOW_MAX];
    ssize_t  n;

    fd = openat(dir_fd, INGEST_WINDOW_FILE, O_RDONLY | O_NOFOLLOW
                                            | O_CLOEXEC);
    if (fd < 0) {
        return doc == NULL && errno == ENOENT;
    }

    n = read(fd, buf, sizeof(buf));
    (void) close(fd);

    return doc != NULL && n == (ssize_t) len && memcmp(buf, doc, len) == 0;
}


static void
ingest_window_tell(ingest_watch_t *w)
{
    ingest_control_resp_t  r;

    if (w->conf->control == NULL) {
        return;
    }

    memset(&r, 0, sizeof(r));

    if (ingest_control_request(w->conf->control, "POST", "/reload",
                               w->conf->reload_timeout, &r) != 0
        || (r.status != 200 && r.status != 422))
    {
        fprintf(stderr, "prep-ingest: nginx was not told about %s/%s: "
                "%s\n", w->conf->store, INGEST_WINDOW_FILE,
                r.status ? "POST /reload refused" : r.err);
    }

    ingest_control_resp_free(&r);
}


/* no window wanted: the file goes, durably (a crash right after must
 * not bring it back), and nginx is told once it is gone */
static void
ingest_window_remove(ingest_watch_t *w)
{
    int          rc;
    char         path[4096];
    ingest_ev_t  ev;

    rc = prep_atomic_unlink(w->store.dir_fd, INGEST_WINDOW_FILE);

    if (rc != 0 && rc != ENOENT) {
        (void) snprintf(path, sizeof(path), "%s/%s", w->store.path,
                        INGEST_WINDOW_FILE);

        ingest_ev_begin(&ev, "window_failed", "warning");
        ingest_ev_str(&ev, "file", INGEST_WINDOW_FILE);
        ingest_ev_str(&ev, "error", strerror(rc));

        if (ingest_window_same(w->store.dir_fd, NULL, 0)) {
            (void) ingest_ev_write(&w->log, &ev, "%s is removed, but not "
                                   "durably (%s): after a crash the "
                                   "placeholder page may say again when "
                                   "publication begins", path,
                                   strerror(rc));

        } else {
            (void) ingest_ev_write(&w->log, &ev, "%s cannot be removed "
                                   "(%s): the placeholder page will still "
                                   "say when publication begins", path,
                                   strerror(rc));
            return;
        }
    }

    if (rc != ENOENT) {
        ingest_window_tell(w);
    }
}


void
ingest_window_start(ingest_watch_t *w)
{
    int           n, rc;
    char          doc[INGEST_WINDOW_MAX], path[4096];
    ingest_ev_t   ev;

    if (w->conf->publish_from == NULL && w->conf->keep_until == NULL) {
        if (ingest_window_same(w->store.dir_fd, NULL, 0)) {
            return;                     /* no file, none wanted */
        }

        ingest_window_remove(w);
        return;
    }

    n = ingest_window_doc(w->conf, doc, sizeof(doc));

    if (n < 0 || ingest_window_same(w->store.dir_fd, doc, (size_t) n)) {
        return;
    }

    (void) snprintf(path, sizeof(path), "%s/%s", w->store.path,
                    INGEST_WINDOW_FILE);

    rc = prep_atomic_write_file(path, doc, (size_t) n, 0644, 0);

    if (rc != 0) {
        ingest_ev_begin(&ev, "window_failed", "warning");
        ingest_ev_str(&ev, "file", INGEST_WINDOW_FILE);
        ingest_ev_str(&ev, "error", strerror(rc));
        (void) ingest_ev_write(&w->log, &ev, "%s cannot be written (%s): "
                               "the placeholder page will not say when "
                               "publication begins", path, strerror(rc));
        return;
    }

    ingest_ev_begin(&ev, "window", "info");
    ingest_ev_str(&ev, "publish_from", w->conf->publish_from);
    ingest_ev_str(&ev, "keep_until", w->conf->keep_until);
    (void) ingest_ev_write(&w->log, &ev, "publication window: from %s "
                           "until %s",
                           w->conf->publish_from ? w->conf->publish_from
                                                 : "the first corte",
                           w->conf->keep_until ? w->conf->keep_until
                                               : "the watch stops");

    ingest_window_tell(w);
}
