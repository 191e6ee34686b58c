/*
 * Copyright (C) the ngx_prep authors
 *
 * A rejected input is never deleted: it is moved into quarantine/ under
 * a name that starts with the UTC time of the decision, next to a small
 * JSON .reason file.  Both are fsynced, then the directory, before the
 * caller removes the upload from the drop folder.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "prep_atomic.h"
#include "prep_json.h"
#include "store/ingest_events.h"
#include "store/ingest_files.h"


#define INGEST_REASON_JSON_MAX  8192


int
ingest_quarantine_name(int qdir, const char *file, char *qname,
    size_t qsize)
{
    int          i;
    char         stamp[32], suffix[16];
    char         reason[INGEST_NAME_MAX + 1];
    size_t       room;
    time_t       now;
    struct tm    tm;
    struct stat  sb;

    now = time(NULL);

    if (gmtime_r(&now, &tm) == NULL
        || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
    {
        (void) snprintf(stamp, sizeof(stamp), "%lld", (long long) now);
    }

    /* <stamp>[-N]-<file>.reason must fit in a file name */
    room = INGEST_NAME_MAX - strlen(stamp) - sizeof("-99-")
           - sizeof(INGEST_REASON_SUFFIX);

    for (i = 0; i < 100; i++) {
        suffix[0] = '\0';

        if (i > 0) {
            (void) snprintf(suffix, sizeof(suffix), "-%d", i);
        }

        (void) snprintf(qname, qsize, "%s%s-%.*s", stamp, suffix,
                        (int) room, file);
        (void) snprintf(reason, sizeof(reason), "%s" INGEST_REASON_SUFFIX,
                        qname);

        /* a .reason alone (an entry that could not be moved) holds its
         * name too: a second one would replace it */
        if (fstatat(qdir, qname, &sb, AT_SYMLINK_NOFOLLOW) != 0
            && errno == ENOENT
            && fstatat(qdir, reason, &sb, AT_SYMLINK_NOFOLLOW) != 0
            && errno == ENOENT)
        {
            return 0;
        }
    }

    return -1;
}


int
ingest_write_all(int fd, const char *buf, size_t len)
{
    ssize_t  n;

    while (len > 0) {
        n = write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n < 0) {
            return -1;
        }

        buf += n;
        len -= (size_t) n;
    }

    return 0;
}


/* the .reason document, through the events builder: the same escaping */
static size_t
ingest_reason_json(const char *qname, const ingest_reject_t *why,
    char *out, size_t size)
{
    size_t       n;
    ingest_ev_t  ev;

    ingest_ev_begin(&ev, "rejected", "warning");
    ingest_ev_str(&ev, "reason", ingest_reason_code(why->reason));
    ingest_ev_str(&ev, "message", why->message);
    ingest_ev_str(&ev, "file", why->file);
    ingest_ev_str(&ev, "quarantined_as", qname);

    if (why->sha256 != NULL) {
        ingest_ev_sha256(&ev, "sha256", why->sha256);

    } else {
        ingest_ev_null(&ev, "sha256");
    }

    ingest_ev_uint(&ev, "size", why->size);

    /* close it the way ingest_ev_write() does, without a message */
    n = ev.len;

    if (n + 3 > size) {
        return 0;
    }

    memcpy(out, ev.buf, n);
    out[n++] = '}';
    out[n++] = '\n';

    return n;
}


int
ingest_quarantine_reason(int qdir, const char *qname,
    const ingest_reject_t *why, ingest_err_t *err)
{
    int     rc;
    char    name[INGEST_NAME_MAX + 1], path[INGEST_NAME_MAX + 64];
    char   *json;
    size_t  len;

    json = malloc(INGEST_REASON_JSON_MAX);
    if (json == NULL) {
        return ingest_fail(err, INGEST_NOMEM, "out of memory");
    }

    len = ingest_reason_json(qname, why, json, INGEST_REASON_JSON_MAX);

    (void) snprintf(name, sizeof(name), "%s" INGEST_REASON_SUFFIX, qname);

    rc = ingest_at_path(path, sizeof(path), qdir, name);
    if (rc == 0) {
        rc = prep_atomic_write_file(path, json, len, 0640, 0);
    }

    free(json);

    if (rc != 0) {
        return ingest_fail_errno(err, rc, "writing %s/%s",
                                 INGEST_DIR_QUARANTINE, name);
    }

    return 0;
}


int
ingest_quarantine(int qdir, int from_dir, const char *from_name,
    const ingest_reject_t *why, char *qname, size_t qsize,
    ingest_err_t *err)
{
    int  rc;

    if (ingest_quarantine_name(qdir, why->file, qname, qsize) != 0) {
        return ingest_fail(err, INGEST_IO, "no free name in %s",
                           INGEST_DIR_QUARANTINE);
    }

    /* the data first: a crash before the rename leaves the upload where
     * it was, to be decided again (prep_atomic_move()) */
    rc = prep_atomic_move(-1, from_dir, from_name, qdir, qname);

    if (rc != 0) {
        return ingest_fail_errno(err, rc, "moving %s into %s", why->file,
                                 INGEST_DIR_QUARANTINE);
    }

    return ingest_quarantine_reason(qdir, qname, why, err);
}
