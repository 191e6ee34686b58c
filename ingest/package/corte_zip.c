/*
 * Copyright (C) the ngx_prep authors
 *
 * Corte sources inside zips ("assets/20240603_0015_PREP_QROO.zip" holds
 * one zip per election, each with its CSVs).  The package's zip is read
 * from the snapshot temp file with pread, seekable, so libarchive uses
 * the central directory; a zip inside it is read into memory (bounded by
 * INGEST_ZIP_INNER_MAX) and opened the same way.  Only the first lines
 * of each CSV are ever decompressed: other members are skipped without
 * inflating them, so a zip bomb inside costs nothing.
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "package/ingest_corte.h"


#define INGEST_ZIP_CHUNK  (64 * 1024)


/* [off, off + len) of a file, as a seekable archive */
typedef struct {
    int             fd;
    uint64_t        off;
    uint64_t        len;
    uint64_t        pos;
    int             io_errno;
    unsigned char  *buf;
} ingest_zip_region_t;


typedef struct {
    ingest_corte_set_t  *set;
    ingest_csv_head_t   *head;
    ingest_err_t        *err;
    unsigned long        members;
} ingest_zip_scan_t;


static la_ssize_t
ingest_zip_region_read(struct archive *a, void *data, const void **buf)
{
    size_t                n;
    ssize_t               got;
    ingest_zip_region_t  *r;

    r = data;
    n = r->len - r->pos < INGEST_ZIP_CHUNK ? (size_t) (r->len - r->pos)
                                           : INGEST_ZIP_CHUNK;

    do {
        got = pread(r->fd, r->buf, n, (off_t) (r->off + r->pos));
    } while (got < 0 && errno == EINTR);

    if (got < 0 || (size_t) got != n) {
        r->io_errno = got < 0 ? errno : EIO;
        archive_set_error(a, r->io_errno, "pread failed");
        return -1;
    }

    r->pos += n;
    *buf = r->buf;

    return (la_ssize_t) n;
}


static la_int64_t
ingest_zip_region_seek(struct archive *a, void *data, la_int64_t offset,
    int whence)
{
    int64_t               base;
    ingest_zip_region_t  *r;

    (void) a;
    r = data;

    switch (whence) {
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (int64_t) r->pos;
        break;
    case SEEK_END:
        base = (int64_t) r->len;
        break;
    default:
        return ARCHIVE_FATAL;
    }

    if ((offset < 0 && -offset > base)
        || (offset > 0 && (uint64_t) offset > r->len - (uint64_t) base))
    {
        return ARCHIVE_FATAL;
    }

    r->pos = (uint64_t) (base + offset);

    return (la_int64_t) r->pos;
}


static la_int64_t
ingest_zip_region_skip(struct archive *a, void *data, la_int64_t request)
{
    uint64_t              n;
    ingest_zip_region_t  *r;

    (void) a;
    r = data;

    if (request <= 0) {
        return 0;
    }

    n = r->len - r->pos;
    if ((uint64_t) request < n) {
        n = (uint64_t) request;
    }

    r->pos += n;

    return (la_int64_t) n;
}


static int
ingest_has_ext(const char *name, const char *ext)
{
    size_t  n, e;

    n = strlen(name);
    e = strlen(ext);

    return n > e && strcasecmp(name + n - e, ext) == 0;
}


static int ingest_zip_scan(ingest_zip_scan_t *z, struct archive *a,
    const char *source, int depth);


static int
ingest_zip_csv(ingest_zip_scan_t *z, struct archive *a, const char *source)
{
    char            buf[4096];
    la_ssize_t      n;
    ingest_corte_t  c;

    ingest_csv_head_init(z->head);

    while (!ingest_csv_head_full(z->head)) {
        n = archive_read_data(a, buf, sizeof(buf));

        if (n <= 0) {
            break;
        }

        ingest_csv_head_feed(z->head, buf, (size_t) n);
    }

    if (!ingest_corte_parse_csv(z->head->buf, z->head->len, &c)) {
        return 0;
    }

    (void) snprintf(c.source, sizeof(c.source), "%s", source);

    return ingest_corte_set_add(z->set, &c, z->err);
}


/*
 * A zip inside the zip: read into memory (it is small: one election's
 * CSVs) and opened seekable, so members other than CSVs are skipped by
 * the central directory and never decompressed, whatever they hold.
 */
static int
ingest_zip_inner(ingest_zip_scan_t *z, struct archive *outer,
    struct archive_entry *e, const char *source, int depth)
{
    int              rc;
    size_t           size, got;
    la_ssize_t       n;
    unsigned char   *buf;
    struct archive  *a;

    if (!archive_entry_size_is_set(e) || archive_entry_size(e) <= 0
        || archive_entry_size(e) > INGEST_ZIP_INNER_MAX)
    {
        return 0;
    }

    size = (size_t) archive_entry_size(e);
    buf = malloc(size);

    if (buf == NULL) {
        return ingest_fail(z->err, INGEST_NOMEM, "out of memory (zip)");
    }

    for (got = 0; got < size; got += (size_t) n) {
        n = archive_read_data(outer, buf + got, size - got);

        if (n <= 0) {
            free(buf);
            return 0;
        }
    }

    a = archive_read_new();
    if (a == NULL) {
        free(buf);
        return ingest_fail(z->err, INGEST_NOMEM, "out of memory (zip)");
    }

    rc = 0;

    if (archive_read_support_format_zip(a) == ARCHIVE_OK
        && archive_read_open_memory(a, buf, size) == ARCHIVE_OK)
    {
        rc = ingest_zip_scan(z, a, source, depth);
    }

    (void) archive_read_free(a);
    free(buf);

    return rc;
}


static int
ingest_zip_scan(ingest_zip_scan_t *z, struct archive *a, const char *source,
    int depth)
{
    int                    rc;
    char                   q[INGEST_NAME_QUOTED];
    char                   member[INGEST_CORTE_SOURCE_LEN];
    const char            *name;
    struct archive_entry  *e;

    for ( ;; ) {
        rc = archive_read_next_header(a, &e);

        /* a zip libarchive cannot read is skipped, not fatal */
        if (rc == ARCHIVE_EOF || rc < ARCHIVE_WARN) {
            return 0;
        }

        if (++z->members > INGEST_ZIP_MAX_MEMBERS) {
            return 0;
        }

        name = archive_entry_pathname(e);

        if (name == NULL || archive_entry_filetype(e) != AE_IFREG) {
            continue;
        }

        (void) snprintf(member, sizeof(member), "%s!%s", source,
                        ingest_quote(q, sizeof(q), name, strlen(name)));

        if (ingest_has_ext(name, ".csv")) {
            rc = ingest_zip_csv(z, a, member);

        } else if (ingest_has_ext(name, ".zip")
                   && depth < INGEST_ZIP_MAX_DEPTH)
        {
            rc = ingest_zip_inner(z, a, e, member, depth + 1);

        } else {
            rc = 0;
        }

        if (rc != 0) {
            return -1;
        }
    }
}


int
ingest_corte_scan_zip(int fd, uint64_t off, uint64_t len,
    const char *source, ingest_corte_set_t *set, ingest_err_t *err)
{
    int                   rc;
    struct archive       *a;
    ingest_zip_scan_t     z;
    ingest_zip_region_t   region;

    memset(&region, 0, sizeof(ingest_zip_region_t));
    region.fd = fd;
    region.off = off;
    region.len = len;

    z.set = set;
    z.err = err;
    z.members = 0;
    z.head = malloc(sizeof(ingest_csv_head_t));
    region.buf = malloc(INGEST_ZIP_CHUNK);
    a = archive_read_new();

    if (z.head == NULL || region.buf == NULL || a == NULL) {
        rc = ingest_fail(err, INGEST_NOMEM, "out of memory (zip)");
        goto done;
    }

    rc = 0;

    if (archive_read_support_format_zip(a) == ARCHIVE_OK
        && archive_read_set_read_callback(a, ingest_zip_region_read)
           == ARCHIVE_OK
        && archive_read_set_seek_callback(a, ingest_zip_region_seek)
           == ARCHIVE_OK
        && archive_read_set_skip_callback(a, ingest_zip_region_skip)
           == ARCHIVE_OK
        && archive_read_set_callback_data(a, &region) == ARCHIVE_OK
        && archive_read_open1(a) == ARCHIVE_OK)
    {
        rc = ingest_zip_scan(&z, a, source, 1);
    }

    if (rc == 0 && region.io_errno != 0) {
        rc = ingest_fail_errno(err, region.io_errno,
                               "reading %s back from the snapshot",
                               source);
    }

done:

    (void) archive_read_free(a);
    free(region.buf);
    free(z.head);

    return rc;
}
