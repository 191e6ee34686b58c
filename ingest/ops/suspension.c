/*
 * Copyright (C) the ngx_prep authors
 *
 * STORE/suspension.json and STORE/notice.html: see ingest_suspension.h.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "prep_atomic.h"
#include "prep_json.h"
#include "common/ingest_jsonget.h"
#include "ops/ingest_suspension.h"
#include "store/ingest_events.h"


int
ingest_notice_check(const char *buf, size_t len, char *msg, size_t size)
{
    if (len == 0) {
        (void) snprintf(msg, size, "the notice is empty");
        return -1;
    }

    if (len > INGEST_NOTICE_MAX) {
        (void) snprintf(msg, size, "the notice has %zu bytes, over the "
                        "limit of %d", len, INGEST_NOTICE_MAX);
        return -1;
    }

    if (memchr(buf, '\0', len) != NULL || !prep_utf8_valid(buf, len)) {
        (void) snprintf(msg, size, "the notice is not UTF-8 text");
        return -1;
    }

    /* an HTML document: its first tag near the start */
    if (memchr(buf, '<', len < 1024 ? len : 1024) == NULL) {
        (void) snprintf(msg, size, "the notice is not HTML (no tag in "
                        "its first 1024 bytes)");
        return -1;
    }

    return 0;
}


int
ingest_notice_load(int dir_fd, const char *path, char **out, size_t *len,
    char *msg, size_t size)
{
    int          fd;
    char        *buf;
    size_t       n;
    ssize_t      got;
    struct stat  sb;

    fd = openat(dir_fd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        (void) snprintf(msg, size, "%s: %s", path, strerror(errno));
        return -1;
    }

    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        (void) snprintf(msg, size, "%s: not a regular file", path);
        (void) close(fd);
        return -1;
    }

    buf = malloc(INGEST_NOTICE_MAX + 1);
    if (buf == NULL) {
        (void) snprintf(msg, size, "%s: out of memory", path);
        (void) close(fd);
        return -1;
    }

    n = 0;

    while (n < INGEST_NOTICE_MAX + 1) {
        got = read(fd, buf + n, INGEST_NOTICE_MAX + 1 - n);

        if (got < 0 && errno == EINTR) {
            continue;
        }

        if (got < 0) {
            (void) snprintf(msg, size, "%s: %s", path, strerror(errno));
            free(buf);
            (void) close(fd);
            return -1;
        }

        if (got == 0) {
            break;
        }

        n += (size_t) got;
    }

    (void) close(fd);

    if (ingest_notice_check(buf, n, msg, size) != 0) {
        free(buf);
        return -1;
    }

    *out = buf;
    *len = n;

    return 0;
}


static int
ingest_suspension_path(ingest_store_t *st, const char *name, char *path,
    size_t size)
{
    int  n;

    n = snprintf(path, size, "%s/%s", st->path, name);

    return (n < 0 || (size_t) n >= size) ? ENAMETOOLONG : 0;
}


int
ingest_suspension_write(ingest_store_t *st, ingest_suspension_t *s,
    const char *notice, size_t len, char *msg, size_t size)
{
    int            rc;
    char           path[4096], when[INGEST_TIME_LEN];
    const char    *doc;
    ingest_ev_t    ev;
    unsigned char  sha[SHA256_DIGEST_LENGTH];

    s->sha256[0] = '\0';

    if (s->since == 0) {
        s->since = ingest_wall();
    }

    if (s->suspended && notice != NULL) {
        (void) SHA256((const unsigned char *) notice, len, sha);
        (void) ingest_sha256_hex(s->sha256, sha);

        rc = ingest_suspension_path(st, INGEST_NOTICE_FILE, path,
                                    sizeof(path));
        if (rc == 0) {
            rc = prep_atomic_write_file(path, notice, len, 0644, 0);
        }

        if (rc != 0) {
            (void) snprintf(msg, size, "writing %s/" INGEST_NOTICE_FILE
                            ": %s", st->path, strerror(rc));
            return rc;
        }
    }

    ingest_ev_doc_begin(&ev);
    ingest_ev_bool(&ev, "suspended", s->suspended);
    ingest_ev_time(&ev, "since", s->since);
    ingest_ev_int(&ev, "since_unix", (int64_t) s->since);
    ingest_ev_str(&ev, "reason", s->reason[0] ? s->reason : "");
    ingest_ev_str(&ev, "by", s->by);
    ingest_ev_str(&ev, "source", s->source);

    if (s->sha256[0]) {
        ingest_ev_str(&ev, "notice", INGEST_NOTICE_FILE);
        ingest_ev_str(&ev, "notice_sha256", s->sha256);

    } else {
        ingest_ev_null(&ev, "notice");
        ingest_ev_null(&ev, "notice_sha256");
    }

    doc = ingest_ev_doc_end(&ev);
    (void) when;

    rc = ingest_suspension_path(st, INGEST_SUSPENSION_FILE, path,
                                sizeof(path));
    if (rc == 0) {
        rc = prep_atomic_write_file(path, doc, strlen(doc), 0644, 0);
    }

    if (rc != 0) {
        (void) snprintf(msg, size, "writing %s/" INGEST_SUSPENSION_FILE
                        ": %s", st->path, strerror(rc));
    }

    return rc;
}


int
ingest_suspension_read(ingest_store_t *st, ingest_suspension_t *s)
{
    int                fd;
    char               buf[16384];
    double             since;
    ssize_t            n;
    ingest_json_val_t  v;

    memset(s, 0, sizeof(ingest_suspension_t));

    fd = openat(st->dir_fd, INGEST_SUSPENSION_FILE,
                O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        return (errno == ENOENT) ? 0 : -1;
    }

    n = read(fd, buf, sizeof(buf));
    (void) close(fd);

    if (n <= 0 || (size_t) n >= sizeof(buf)) {
        return -1;
    }

    if (ingest_json_get(buf, (size_t) n, "suspended", &v) != 1
        || (v.type != INGEST_JSON_TRUE && v.type != INGEST_JSON_FALSE))
    {
        return -1;
    }

    s->suspended = (v.type == INGEST_JSON_TRUE);

    if (ingest_json_get_number(buf, (size_t) n, "since_unix", &since) == 0) {
        s->since = since;
    }

    (void) ingest_json_get_string(buf, (size_t) n, "reason", s->reason,
                                  sizeof(s->reason));
    (void) ingest_json_get_string(buf, (size_t) n, "by", s->by,
                                  sizeof(s->by));
    (void) ingest_json_get_string(buf, (size_t) n, "source", s->source,
                                  sizeof(s->source));
    (void) ingest_json_get_string(buf, (size_t) n, "notice_sha256",
                                  s->sha256, sizeof(s->sha256));

    return 1;
}
