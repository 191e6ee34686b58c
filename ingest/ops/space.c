/*
 * Copyright (C) the ngx_prep authors
 *
 * The low_space alarm (issue 11, section 3): free space in the store
 * under three packages.  "A package" is what the live corte takes: its
 * snapshot in cortes/ and its .tar.gz in packages/ (a publication also
 * stages a copy of the upload first, so three of them is the room for
 * one more publication and a margin).  Checked when the watch starts,
 * after every publication and once a minute; an "alert" event when the
 * space falls under the mark, "space_ok" when it is back.
 *
 * PREP_INGEST_FREE_BYTES=N in the environment stands for the free space
 * of the file system, for the tests (a full disk cannot be made on
 * demand without privileges).
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ops/ingest_space.h"


#define INGEST_SPACE_EVERY     60.0
#define INGEST_SPACE_PACKAGES  3
#define INGEST_SPACE_FREE_ENV  "PREP_INGEST_FREE_BYTES"


static int      ingest_space_low;
static double   ingest_space_next;          /* monotonic; 0: at once */
static size_t   ingest_space_published = (size_t) -1;


static int
ingest_space_free(ingest_watch_t *w, uint64_t *avail)
{
    char            *end;
    const char      *env;
    struct statvfs   sv;
    unsigned long long  v;

    env = getenv(INGEST_SPACE_FREE_ENV);

    if (env != NULL && env[0] != '\0') {
        errno = 0;
        v = strtoull(env, &end, 10);

        if (errno == 0 && *end == '\0') {
            *avail = v;
            return 0;
        }
    }

    if (fstatvfs(w->store.dir_fd, &sv) != 0) {
        return -1;
    }

    *avail = (uint64_t) sv.f_bavail * sv.f_frsize;

    return 0;
}


/* bytes of the live corte: snapshot and package; 0 when unknown */
static uint64_t
ingest_space_package(ingest_watch_t *w)
{
    char           pkg[INGEST_SNAP_NAME_LEN + 8];
    size_t         len;
    uint64_t       size;
    struct stat    sb;
    ingest_live_t  live;

    if (ingest_live_read(&w->store, &live) != 1
        || fstatat(w->store.cortes_fd, live.name, &sb, 0) != 0)
    {
        return 0;
    }

    size = (uint64_t) sb.st_size;
    len = strlen(live.name);

    if (len > 5 && strcmp(live.name + len - 5, ".snap") == 0) {
        (void) snprintf(pkg, sizeof(pkg), "%.*s.tar.gz", (int) (len - 5),
                        live.name);

        if (fstatat(w->packages_fd, pkg, &sb, 0) == 0) {
            size += (uint64_t) sb.st_size;
        }
    }

    return size;
}


void
ingest_space_poll(ingest_watch_t *w, double *next)
{
    double       now;
    uint64_t     avail, one, need;
    ingest_ev_t  ev;

    now = ingest_now();

    if (w->npublished == ingest_space_published && now < ingest_space_next)
    {
        if (ingest_space_next < *next) {
            *next = ingest_space_next;
        }

        return;
    }

    ingest_space_published = w->npublished;
    ingest_space_next = now + INGEST_SPACE_EVERY;

    one = ingest_space_package(w);

    if (one == 0 || ingest_space_free(w, &avail) != 0) {
        return;
    }

    need = one * INGEST_SPACE_PACKAGES;

    if (avail < need && !ingest_space_low) {
        ingest_space_low = 1;

        ingest_ev_begin(&ev, "low_space", "alert");
        ingest_ev_uint(&ev, "free_bytes", avail);
        ingest_ev_uint(&ev, "package_bytes", one);
        ingest_ev_uint(&ev, "need_bytes", need);
        (void) ingest_ev_write(&w->log, &ev, "the store %s has %.1f MiB "
                               "free, less than %d packages of %.1f MiB: "
                               "free space before the next corte",
                               w->conf->store, (double) avail / 1048576.0,
                               INGEST_SPACE_PACKAGES,
                               (double) one / 1048576.0);

    } else if (avail >= need && ingest_space_low) {
        ingest_space_low = 0;

        ingest_ev_begin(&ev, "space_ok", "info");
        ingest_ev_uint(&ev, "free_bytes", avail);
        ingest_ev_uint(&ev, "need_bytes", need);
        (void) ingest_ev_write(&w->log, &ev, "the store %s has %.1f MiB "
                               "free again", w->conf->store,
                               (double) avail / 1048576.0);
    }
}
