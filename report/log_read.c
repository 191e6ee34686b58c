/*
 * Copyright (C) the ngx_prep authors
 *
 * Plain and gzip access logs, line by line; see log_read.h.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log_read.h"


static void log_reader_hex(log_reader_t *r);
static ssize_t log_reader_raw(log_reader_t *r, void *buf, size_t size);
static int log_reader_fill(log_reader_t *r);
static int log_reader_inflate(log_reader_t *r, char *out, size_t size,
    size_t *got);


int
log_reader_open(log_reader_t *r, const char *path, int hash, char *err,
    size_t errlen)
{
    ssize_t        n;
    unsigned char  magic[2];

    memset(r, 0, sizeof(log_reader_t));
    r->fd = -1;
    r->path = path;

    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd == -1) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }

    (void) posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);

    r->buf = malloc(LOG_READ_BUF + 1);
    r->in = malloc(LOG_READ_IN);

    if (r->buf == NULL || r->in == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        log_reader_close(r);
        return -1;
    }

    if (hash) {
        r->sha = EVP_MD_CTX_new();

        if (r->sha == NULL
            || EVP_DigestInit_ex(r->sha, EVP_sha256(), NULL) != 1)
        {
            snprintf(err, errlen, "%s: SHA-256: out of memory", path);
            log_reader_close(r);
            return -1;
        }
    }

    n = pread(r->fd, magic, 2, 0);

    if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        r->gzip = 1;

        /* 15 + 16: a gzip header and trailer, not zlib's */
        if (inflateInit2(&r->z, 15 + 16) != Z_OK) {
            snprintf(err, errlen, "%s: zlib: out of memory", path);
            log_reader_close(r);
            return -1;
        }

        r->z_live = 0;
    }

    return 0;
}


void
log_reader_close(log_reader_t *r)
{
    if (r->gzip) {
        inflateEnd(&r->z);
        r->gzip = 0;
    }

    if (r->fd != -1) {
        close(r->fd);
        r->fd = -1;
    }

    free(r->buf);
    free(r->in);
    r->buf = NULL;
    r->in = NULL;

    if (r->sha) {
        EVP_MD_CTX_free(r->sha);
        r->sha = NULL;
    }
}


static void
log_reader_hex(log_reader_t *r)
{
    unsigned       i, len;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (EVP_DigestFinal_ex(r->sha, md, &len) != 1) {
        return;
    }

    for (i = 0; i < len && i < 32; i++) {
        snprintf(r->sha256 + 2 * i, 3, "%02x", md[i]);
    }

    r->hashed = 1;
}


static ssize_t
log_reader_raw(log_reader_t *r, void *buf, size_t size)
{
    ssize_t  n;

    do {
        n = read(r->fd, buf, size);
    } while (n == -1 && errno == EINTR);

    if (n == -1) {
        snprintf(r->err, LOG_READ_ERR, "%s: read: %s", r->path,
                 strerror(errno));
        return -1;
    }

    r->bytes_in += (uint64_t) n;

    if (r->sha && n > 0) {
        (void) EVP_DigestUpdate(r->sha, buf, (size_t) n);
    }

    if (r->sha && n == 0 && !r->hashed) {
        log_reader_hex(r);
    }

    return n;
}


/*
 * Inflates into out: member after member (a new member may start right
 * after a trailer), until out is full or the input ends.  An input that
 * ends inside a member is a truncated file.
 */

static int
log_reader_inflate(log_reader_t *r, char *out, size_t size, size_t *got)
{
    int      rc;
    ssize_t  n;

    r->z.next_out = (unsigned char *) out;
    r->z.avail_out = (uInt) size;

    while (r->z.avail_out > 0) {

        if (r->z.avail_in == 0) {
            n = log_reader_raw(r, r->in, LOG_READ_IN);

            if (n == -1) {
                return -1;
            }

            if (n == 0) {
                if (r->z_live) {
                    snprintf(r->err, LOG_READ_ERR,
                             "%s: truncated gzip member at byte %llu "
                             "(line %llu): the data after it is missing",
                             r->path, (unsigned long long) r->bytes_in,
                             (unsigned long long) r->lineno + 1);
                    *got = size - r->z.avail_out;
                    return -2;
                }

                r->eof = 1;
                break;
            }

            r->z.next_in = r->in;
            r->z.avail_in = (uInt) n;
        }

        if (!r->z_live) {
            /* a new member, or padding: gzip allows trailing zeros */
            if (r->z.next_in[0] == 0) {
                r->z.next_in++;
                r->z.avail_in--;
                continue;
            }

            r->z_live = 1;
        }

        rc = inflate(&r->z, Z_NO_FLUSH);

        if (rc == Z_STREAM_END) {
            r->z_live = 0;

            if (inflateReset(&r->z) != Z_OK) {
                snprintf(r->err, LOG_READ_ERR, "%s: zlib reset failed",
                         r->path);
                return -1;
            }

            continue;
        }

        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            snprintf(r->err, LOG_READ_ERR,
                     "%s: corrupt gzip data at byte %llu (line %llu): %s; "
                     "the data after it is missing", r->path,
                     (unsigned long long) r->bytes_in,
                     (unsigned long long) r->lineno + 1,
                     r->z.msg ? r->z.msg : "inflate failed");
            *got = size - r->z.avail_out;
            return -2;
        }
    }

    *got = size - r->z.avail_out;

    return 0;
}


/* more data after buf[end]; 0, or -1 with r->err (data kept) */

static int
log_reader_fill(log_reader_t *r)
{
    int      rc;
    size_t   got = 0;
    ssize_t  n;

    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }

    if (r->end == LOG_READ_BUF) {
        return 0;
    }

    if (!r->gzip) {
        n = log_reader_raw(r, r->buf + r->end, LOG_READ_BUF - r->end);

        if (n == -1) {
            r->eof = 1;
            return -1;
        }

        if (n == 0) {
            r->eof = 1;
        }

        r->end += (size_t) n;
        return 0;
    }

    rc = log_reader_inflate(r, r->buf + r->end, LOG_READ_BUF - r->end, &got);
    r->end += got;

    if (rc != 0) {
        r->eof = 1;
        return -1;
    }

    return 0;
}


int
log_reader_line(log_reader_t *r, char **line, size_t *len)
{
    char    *p, *nl;
    size_t   n, scanned;

    scanned = 0;

    for ( ;; ) {
        p = r->buf + r->start;
        n = r->end - r->start;

        nl = n > scanned ? memchr(p + scanned, '\n', n - scanned) : NULL;

        if (nl) {
            r->start += (size_t) (nl - p) + 1;
            r->lineno++;

            n = (size_t) (nl - p);

            if (r->skipping || n > LOG_READ_LINE_MAX) {
                r->skipping = 0;
                return LOG_READ_LONG;
            }

            if (n > 0 && p[n - 1] == '\r') {
                n--;
            }

            p[n] = '\0';
            *line = p;
            *len = n;

            return LOG_READ_LINE;
        }

        scanned = n;

        if (n >= LOG_READ_LINE_MAX) {
            /* drop what we have of it; the line ends at the next "\n" */
            r->start = r->end;
            r->skipping = 1;
            scanned = 0;
        }

        if (r->eof || r->failed) {
            if (r->skipping) {
                r->skipping = 0;
                r->lineno++;
                return r->failed ? LOG_READ_ERROR : LOG_READ_LONG;
            }

            if (n > 0) {
                /* the last line, without its "\n" */
                r->start = r->end;
                r->lineno++;

                /* a cut gzip file's last line is cut too: not a line */
                if (r->failed) {
                    return LOG_READ_ERROR;
                }

                if (n > LOG_READ_LINE_MAX) {
                    return LOG_READ_LONG;
                }

                p[n] = '\0';
                *line = p;
                *len = n;

                return LOG_READ_LINE;
            }

            return r->failed ? LOG_READ_ERROR : LOG_READ_EOF;
        }

        /* the data moves to the start of buf: scanned stays valid */

        if (log_reader_fill(r) != 0) {
            r->failed = 1;
        }
    }
}
