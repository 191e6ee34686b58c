/*
 * Copyright (C) the ngx_prep authors
 *
 * The drop folder.  inotify events are hints, never proof: a file is
 * complete only when its content says so (pipeline.c).  The watch is
 * added before the folder is listed, so nothing slips between the two;
 * an overflow, a periodic timer and SIGHUP list it again.  When the
 * folder goes away (deleted, renamed, unmounted) the watch is re-added
 * every second, on the path, and the folder listed again.
 *
 * Names starting with "." (rsync's ".name.XXXXXX", editors, the
 * daemon's own), and names ending in ".part", ".filepart" or ".tmp"
 * (WinSCP, other clients) are uploads in progress and never looked at.
 * "NAME.sha256" is the sidecar of NAME.
 */


#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "package/ingest_corte.h"
#include "daemon/ingest_daemon.h"


#define INGEST_WATCH_MASK  (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE        \
                            | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR    \
                            | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

#define INGEST_INOTIFY_BUF  (64 * 1024)


int
ingest_watch_ignored_name(const char *name)
{
    return name[0] == '.' || name[0] == '\0'
           || ingest_has_suffix(name, ".part")
           || ingest_has_suffix(name, ".filepart")
           || ingest_has_suffix(name, ".tmp");
}


static int64_t
ingest_cand_sort_key(const char *name)
{
    ingest_corte_t  c;

    /* the corte written in the name orders the queue; without one, last */
    if (!ingest_corte_parse_name(name, strlen(name), &c)) {
        return INT64_MAX;
    }

    return ((((int64_t) c.year * 12 + c.month) * 31 + c.day) * 24
            + c.hour) * 60 + c.minute;
}


ingest_cand_t *
ingest_cand_find(ingest_watch_t *w, const char *name)
{
    size_t  i;

    for (i = 0; i < w->ncands; i++) {
        if (strcmp(w->cands[i].name, name) == 0) {
            return &w->cands[i];
        }
    }

    return NULL;
}


ingest_cand_t *
ingest_cand_touch(ingest_watch_t *w, const char *name, const char *trigger,
    int change)
{
    size_t          cap;
    ingest_ev_t     ev;
    ingest_cand_t  *c, *cands;

    if (strlen(name) > INGEST_NAME_MAX) {
        return NULL;
    }

    c = ingest_cand_find(w, name);

    if (c == NULL) {
        if (w->ncands == INGEST_MAX_CANDIDATES) {
            if (!w->full_logged) {
                ingest_ev_begin(&ev, "overload", "alert");
                ingest_ev_uint(&ev, "candidates", w->ncands);
                (void) ingest_ev_write(&w->log, &ev, "over %d files wait "
                                       "in the drop folder; the others are "
                                       "ignored until some are done",
                                       INGEST_MAX_CANDIDATES);
                w->full_logged = 1;
            }

            return NULL;
        }

        if (w->ncands == w->cands_cap) {
            cap = w->cands_cap ? w->cands_cap * 2 : 16;
            cands = realloc(w->cands, cap * sizeof(ingest_cand_t));

            if (cands == NULL) {
                return NULL;
            }

            w->cands = cands;
            w->cands_cap = cap;
        }

        c = &w->cands[w->ncands++];
        memset(c, 0, sizeof(ingest_cand_t));
        (void) snprintf(c->name, sizeof(c->name), "%s", name);
        c->sort_key = ingest_cand_sort_key(name);
        c->since = ingest_now();
    }

    /* a waiting or stuck one is looked at again, and its stamp decides;
     * one that failed is tried early only when it really changed */
    if (change || c->state != INGEST_CAND_RETRY) {
        c->due = 0;
    }

    if (change || c->trigger[0] == '\0') {
        (void) snprintf(c->trigger, sizeof(c->trigger), "%s", trigger);
    }

    return c;
}


void
ingest_cand_remove(ingest_watch_t *w, ingest_cand_t *c)
{
    size_t  i;

    i = (size_t) (c - w->cands);

    if (i >= w->ncands) {
        return;
    }

    w->ncands--;

    if (i != w->ncands) {
        w->cands[i] = w->cands[w->ncands];
    }

    if (w->ncands < INGEST_MAX_CANDIDATES) {
        w->full_logged = 0;
    }
}


ingest_cand_t *
ingest_cand_next(ingest_watch_t *w, double now, double *next)
{
    size_t          i;
    ingest_cand_t  *c, *best;

    best = NULL;

    for (i = 0; i < w->ncands; i++) {
        c = &w->cands[i];

        if (c->due > now) {
            if (c->due < *next) {
                *next = c->due;
            }
            continue;
        }

        if (best == NULL || c->sort_key < best->sort_key
            || (c->sort_key == best->sort_key
                && strcmp(c->name, best->name) < 0))
        {
            best = c;
        }
    }

    return best;
}


static void
ingest_watch_lost(ingest_watch_t *w, const char *why)
{
    ingest_ev_t  ev;

    if (w->wd >= 0) {
        (void) inotify_rm_watch(w->inotify_fd, w->wd);
        w->wd = -1;
    }

    if (w->drop_fd >= 0) {
        (void) close(w->drop_fd);
        w->drop_fd = -1;
    }

    w->watch_retry_at = ingest_now() + INGEST_WATCH_RETRY;

    if (!w->drop_missing_logged) {
        ingest_ev_begin(&ev, "drop_missing", "alert");
        ingest_ev_str(&ev, "drop", w->conf->drop);
        ingest_ev_str(&ev, "why", why);
        (void) ingest_ev_write(&w->log, &ev, "the drop folder %s is gone "
                               "(%s); watching for it every second",
                               w->conf->drop, why);
        w->drop_missing_logged = 1;
    }
}


/* the watch first, then the listing: nothing falls between them */
static int
ingest_watch_add(ingest_watch_t *w)
{
    int          fd;
    struct stat  a, b;
    ingest_ev_t  ev;

    w->wd = inotify_add_watch(w->inotify_fd, w->conf->drop,
                              INGEST_WATCH_MASK);
    if (w->wd < 0) {
        return -1;
    }

    fd = open(w->conf->drop, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    /* the folder that is watched must be the one that is open */
    if (fd < 0 || fstat(fd, &a) != 0 || stat(w->conf->drop, &b) != 0
        || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
    {
        if (fd >= 0) {
            (void) close(fd);
        }

        (void) inotify_rm_watch(w->inotify_fd, w->wd);
        w->wd = -1;
        return -1;
    }

    w->drop_fd = fd;
    w->rescan = 1;

    if (w->drop_missing_logged) {
        ingest_ev_begin(&ev, "drop_restored", "info");
        ingest_ev_str(&ev, "drop", w->conf->drop);
        (void) ingest_ev_write(&w->log, &ev, "the drop folder %s is back",
                               w->conf->drop);
        w->drop_missing_logged = 0;
    }

    return 0;
}


int
ingest_watch_start(ingest_watch_t *w)
{
    w->wd = -1;
    w->drop_fd = -1;

    w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->inotify_fd < 0) {
        return -1;
    }

    if (ingest_watch_add(w) != 0) {
        ingest_watch_lost(w, strerror(errno));
    }

    return 0;
}


void
ingest_watch_retry(ingest_watch_t *w)
{
    if (w->wd >= 0 || ingest_now() < w->watch_retry_at) {
        return;
    }

    if (ingest_watch_add(w) != 0) {
        w->watch_retry_at = ingest_now() + INGEST_WATCH_RETRY;
    }
}


static void
ingest_watch_name(ingest_watch_t *w, const struct inotify_event *ie)
{
    char            base[INGEST_NAME_MAX + 1];
    size_t          len;
    const char     *trigger;
    struct stat     sb;
    ingest_cand_t  *c;

    if (ingest_watch_ignored_name(ie->name)) {
        return;
    }

    len = strlen(ie->name);

    if (ingest_has_suffix(ie->name, INGEST_SIDECAR_SUFFIX)) {
        len -= sizeof(INGEST_SIDECAR_SUFFIX) - 1;
        memcpy(base, ie->name, len);
        base[len] = '\0';

        c = ingest_cand_find(w, base);
        if (c != NULL) {
            c->recheck = 1;
            c->due = 0;
        }

        return;
    }

    if (ie->mask & IN_ISDIR) {
        return;
    }

    if (ie->mask & IN_CREATE) {
        /* an empty new file is an upload starting: its close will tell;
         * a non-empty one is an SFTP rename (link + unlink) */
        if (w->drop_fd < 0
            || fstatat(w->drop_fd, ie->name, &sb, AT_SYMLINK_NOFOLLOW) != 0
            || (S_ISREG(sb.st_mode) && sb.st_size == 0))
        {
            return;
        }

        trigger = "create";

    } else if (ie->mask & IN_MOVED_TO) {
        trigger = "moved_to";

    } else {
        trigger = "close_write";
    }

    (void) ingest_cand_touch(w, ie->name, trigger, 1);
}


void
ingest_watch_read(ingest_watch_t *w)
{
    char                         *p;
    ssize_t                       n;
    ingest_ev_t                   ev;
    const struct inotify_event   *ie;

    /* aligned for the events read into it (inotify(7)) */
    static char  buf[INGEST_INOTIFY_BUF]
                     __attribute__((aligned(8)));

    for ( ;; ) {
        n = read(w->inotify_fd, buf, sizeof(buf));

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n <= 0) {
            return;
        }

        for (p = buf; p < buf + n;
             p += sizeof(struct inotify_event) + ie->len)
        {
            ie = (const struct inotify_event *) p;

            if (ie->mask & IN_Q_OVERFLOW) {
                ingest_ev_begin(&ev, "overflow", "warning");
                (void) ingest_ev_write(&w->log, &ev, "inotify queue "
                                       "overflow: listing the drop folder "
                                       "again");
                w->rescan = 1;
                continue;
            }

            if (ie->wd != w->wd || w->wd < 0) {
                continue;
            }

            if (ie->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED
                            | IN_UNMOUNT))
            {
                ingest_watch_lost(w, ie->mask & IN_MOVE_SELF ? "moved away"
                                     : ie->mask & IN_UNMOUNT ? "unmounted"
                                     : "deleted");
                continue;
            }

            if (ie->len > 0) {
                ingest_watch_name(w, ie);
            }
        }
    }
}


void
ingest_watch_rescan(ingest_watch_t *w)
{
    DIR            *dir;
    size_t          i;
    unsigned char  *present;
    struct stat     a, b;
    struct dirent  *de;
    ingest_cand_t  *c;

    w->rescan = 0;
    w->next_rescan = ingest_now() + w->conf->rescan_interval;

    if (w->drop_fd < 0) {
        return;
    }

    /* the open folder must still be the one at the path */
    if (fstat(w->drop_fd, &a) != 0 || stat(w->conf->drop, &b) != 0
        || a.st_ino != b.st_ino || a.st_dev != b.st_dev || a.st_nlink == 0)
    {
        ingest_watch_lost(w, "replaced");
        return;
    }

    dir = ingest_dir_open(w->drop_fd);
    if (dir == NULL) {
        return;
    }

    present = calloc(INGEST_MAX_CANDIDATES, 1);
    if (present == NULL) {
        (void) closedir(dir);
        return;
    }

    while ((de = readdir(dir)) != NULL) {
        if (ingest_watch_ignored_name(de->d_name)
            || ingest_has_suffix(de->d_name, INGEST_SIDECAR_SUFFIX)
            || de->d_type == DT_DIR)
        {
            continue;
        }

        c = ingest_cand_touch(w, de->d_name, "scan", 0);

        if (c != NULL) {
            present[c - w->cands] = 1;
        }
    }

    (void) closedir(dir);

    /* gone from the folder: forget them (backwards, removal swaps) */
    for (i = w->ncands; i > 0; i--) {
        if (!present[i - 1]) {
            ingest_cand_remove(w, &w->cands[i - 1]);
        }
    }

    free(present);
}
