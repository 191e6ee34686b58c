/*
 * Copyright (C) the ngx_prep authors
 *
 * Snapshot writer.  Bodies are streamed to the file as they arrive, so a
 * package of any size is written with bounded memory: only the index
 * (fixed-size entries plus their paths) is kept until the end.
 */


#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "prep_snap.h"


#define PREP_SNAP_WRITE_BUF  (256 * 1024)



struct prep_snap_writer_s {
    int                  fd;
    int                  failed;
    int                  finished;
    char                 error[PREP_ERRLEN];

    /* the position of the next byte written; also the data size so far */
    uint64_t             off;
    uint32_t             data_crc;

    /* buffered output: small entries would otherwise cost a write each */
    uint8_t             *buf;
    size_t               buf_len;

    prep_snap_entry_t   *entries;
    uint32_t             nentries;
    uint32_t             nalloc;

    char                *strings;
    size_t               strings_len;
    size_t               strings_alloc;

    long                 open_entry;    /* entry being written, or -1 */
    long                 open_gzip;     /* entry whose gzip is written */

    prep_snap_header_t   header;
};


static int prep_snap_writer_fail(prep_snap_writer_t *w, int rc,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;


static int
prep_snap_writer_fail(prep_snap_writer_t *w, int rc, const char *fmt, ...)
{
    va_list  args;

    /* keep the first error: later ones are usually its consequences */
    if (!w->failed) {
        va_start(args, fmt);
        (void) vsnprintf(w->error, sizeof(w->error), fmt, args);
        va_end(args);
        w->failed = rc;
    }

    return w->failed;
}


const char *
prep_snap_writer_error(prep_snap_writer_t *w)
{
    return w->failed ? w->error : "no error";
}


int
prep_snap_writer_flush(prep_snap_writer_t *w)
{
    ssize_t   n;
    size_t    done;

    if (w->failed) {
        return w->failed;
    }

    done = 0;

    while (done < w->buf_len) {
        n = write(w->fd, w->buf + done, w->buf_len - done);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }

            return prep_snap_writer_fail(w, PREP_SNAP_EIO,
                                         "write() failed: %s",
                                         strerror(errno));
        }

        done += (size_t) n;
    }

    w->buf_len = 0;

    return PREP_SNAP_OK;
}


static int
prep_snap_writer_append(prep_snap_writer_t *w, const void *data, size_t len,
    int in_data)
{
    size_t          n;
    const uint8_t  *p;

    if (w->failed) {
        return w->failed;
    }

    if (in_data) {
        w->data_crc = prep_snap_crc32(w->data_crc, data, len);
    }

    p = data;
    w->off += len;

    while (len > 0) {
        if (w->buf_len == PREP_SNAP_WRITE_BUF
            && prep_snap_writer_flush(w) != PREP_SNAP_OK)
        {
            return w->failed;
        }

        n = PREP_SNAP_WRITE_BUF - w->buf_len;
        if (n > len) {
            n = len;
        }

        memcpy(w->buf + w->buf_len, p, n);
        w->buf_len += n;
        p += n;
        len -= n;
    }

    return PREP_SNAP_OK;
}


prep_snap_writer_t *
prep_snap_writer_create(int fd, char *err, size_t errlen)
{
    prep_snap_writer_t  *w;

    w = calloc(1, sizeof(prep_snap_writer_t));
    if (w == NULL) {
        goto nomem;
    }

    w->buf = malloc(PREP_SNAP_WRITE_BUF);
    if (w->buf == NULL) {
        free(w);
        goto nomem;
    }

    w->fd = fd;
    w->open_entry = -1;
    w->open_gzip = -1;

    /* a zeroed placeholder; the real header is written by finish() */
    memset(w->buf, 0, PREP_SNAP_HEADER_SIZE);
    w->buf_len = PREP_SNAP_HEADER_SIZE;
    w->off = PREP_SNAP_HEADER_SIZE;

    return w;

nomem:

    if (err != NULL && errlen > 0) {
        (void) snprintf(err, errlen, "out of memory");
    }

    return NULL;
}


void
prep_snap_writer_destroy(prep_snap_writer_t *w)
{
    if (w == NULL) {
        return;
    }

    free(w->buf);
    free(w->entries);
    free(w->strings);
    free(w);
}


static int
prep_snap_writer_string(prep_snap_writer_t *w, const char *s, size_t len,
    uint32_t *off)
{
    char    *p;
    size_t   size;

    if (w->strings_len + len + 1 > UINT32_MAX) {
        return prep_snap_writer_fail(w, PREP_SNAP_ELIMIT,
                                     "string table over 4 GB");
    }

    if (w->strings_len + len + 1 > w->strings_alloc) {
        size = w->strings_alloc ? w->strings_alloc * 2 : 64 * 1024;
        while (size < w->strings_len + len + 1) {
            size *= 2;
        }

        p = realloc(w->strings, size);
        if (p == NULL) {
            return prep_snap_writer_fail(w, PREP_SNAP_ENOMEM,
                                         "out of memory");
        }

        w->strings = p;
        w->strings_alloc = size;
    }

    *off = (uint32_t) w->strings_len;
    memcpy(w->strings + w->strings_len, s, len);
    w->strings[w->strings_len + len] = '\0';
    w->strings_len += len + 1;

    return PREP_SNAP_OK;
}


static int
prep_snap_writer_type(prep_snap_writer_t *w, const char *type, size_t len,
    uint32_t *off)
{
    uint32_t  i;

    /* a package uses a dozen types: share them instead of one per file */
    for (i = w->nentries; i > 0 && i + 64 > w->nentries; i--) {
        if (w->entries[i - 1].type_len == len
            && memcmp(w->strings + w->entries[i - 1].type_off, type, len)
               == 0)
        {
            *off = w->entries[i - 1].type_off;
            return PREP_SNAP_OK;
        }
    }

    return prep_snap_writer_string(w, type, len, off);
}


int
prep_snap_writer_begin(prep_snap_writer_t *w, const char *path,
    size_t path_len, const char *type, size_t type_len)
{
    uint32_t            n;
    prep_snap_entry_t  *e;

    if (w->failed) {
        return w->failed;
    }

    if (w->finished) {
        return prep_snap_writer_fail(w, PREP_SNAP_EINVAL,
                                     "writer already finished");
    }

    if (w->open_entry >= 0 || w->open_gzip >= 0) {
        return prep_snap_writer_fail(w, PREP_SNAP_EINVAL,
                                     "entry begun while another is open");
    }

    if (path_len == 0 || path_len > PREP_SNAP_MAX_PATH || path[0] != '/'
        || memchr(path, '\0', path_len) != NULL)
    {
        return prep_snap_writer_fail(w, PREP_SNAP_EINVAL,
                                     "invalid path \"%.*s\"",
                                     (int) (path_len > 200 ? 200 : path_len),
                                     path);
    }

    if (type_len == 0 || type_len > PREP_SNAP_MAX_TYPE
        || memchr(type, '\0', type_len) != NULL)
    {
        return prep_snap_writer_fail(w, PREP_SNAP_EINVAL,
                                     "invalid content type");
    }

    if (w->nentries == PREP_SNAP_MAX_ENTRIES) {
        return prep_snap_writer_fail(w, PREP_SNAP_ELIMIT,
                                     "more than %u entries",
                                     PREP_SNAP_MAX_ENTRIES);
    }

    if (w->nentries == w->nalloc) {
        n = w->nalloc ? w->nalloc * 2 : 1024;

        e = realloc(w->entries, n * sizeof(prep_snap_entry_t));
        if (e == NULL) {
            return prep_snap_writer_fail(w, PREP_SNAP_ENOMEM,
                                         "out of memory");
        }

        w->entries = e;
        w->nalloc = n;
    }

    e = &w->entries[w->nentries];
    memset(e, 0, sizeof(prep_snap_entry_t));

    if (prep_snap_writer_string(w, path, path_len, &e->path_off)
        != PREP_SNAP_OK)
    {
        return w->failed;
    }

    /* the type lookup reads entries before this one only */
    if (prep_snap_writer_type(w, type, type_len, &e->type_off)
        != PREP_SNAP_OK)
    {
        return w->failed;
    }

    e->path_len = (uint32_t) path_len;
    e->type_len = (uint32_t) type_len;
    e->data_off = w->off;

    w->open_entry = w->nentries++;

    return PREP_SNAP_OK;
}


int
prep_snap_writer_align_for(prep_snap_writer_t *w, uint64_t size)
{
    size_t                 gap;
    static const uint8_t   zeros[PREP_SNAP_PAGE];

    if (w->failed) {
        return w->failed;
    }

    if (w->finished || w->open_entry >= 0 || w->open_gzip >= 0) {
        return prep_snap_writer_fail(w, PREP_SNAP_EINVAL,
                                     "alignment inside an entry");
    }

    if (size < PREP_SNAP_PAGE_MIN || w->off % PREP_SNAP_PAGE == 0) {
        return PREP_SNAP_OK;
    }

    /* inside the data region: data_crc covers the gap too */
    gap = PREP_SNAP_PAGE - w->off % PREP_SNAP_PAGE;

    return prep_snap_writer_append(w, zeros, gap, 1);
}


int
prep_snap_writer_write(prep_snap_writer_t *w, const void *data, size_t len)
{
    if (w->open_entry < 0 && !w->failed) {
        return prep_snap_writer_fail(w, PREP_SNAP_EINVAL,
                                     "write without an open entry");
    }

    return prep_snap_writer_append(w, data, len, 1);
}


long
prep_snap_writer_end(prep_snap_writer_t *w,
    const uint8_t sha256[PREP_SHA256_LEN])
{
    long                ordinal;
    prep_snap_entry_t  *e;

    if (w->failed) {
        return -1;
    }

    if (w->open_entry < 0) {
        (void) prep_snap_writer_fail(w, PREP_SNAP_EINVAL,
                                     "end without an open entry");
        return -1;
    }

    ordinal = w->open_entry;
    e = &w->entries[ordinal];
    e->data_len = w->off - e->data_off;
    memcpy(e->hash, sha256, PREP_SNAP_HASH_LEN);

    w->open_entry = -1;

    return ordinal;
}


int
prep_snap_writer_gzip_begin(prep_snap_writer_t *w, long ordinal)
{
    if (w->failed) {
        return w->failed;
    }

    if (w->finished || ordinal < 0 || ordinal >= (long) w->nentries
        || ordinal == w->open_entry || w->open_entry >= 0
        || w->open_gzip >= 0 || w->entries[ordinal].gzip_len != 0)
    {
        return prep_snap_writer_fail(w, PREP_SNAP_EINVAL,
                                     "invalid gzip variant for entry %ld",
                                     ordinal);
    }

    if (prep_snap_writer_align_for(w, w->entries[ordinal].data_len)
        != PREP_SNAP_OK)
    {
        return w->failed;
    }

    w->entries[ordinal].gzip_off = w->off;
    w->open_gzip = ordinal;

    return PREP_SNAP_OK;
}


int
prep_snap_writer_gzip_write(prep_snap_writer_t *w, const void *data,
    size_t len)
{
    if (w->open_gzip < 0 && !w->failed) {
        return prep_snap_writer_fail(w, PREP_SNAP_EINVAL,
                                     "gzip write without an open variant");
    }

    return prep_snap_writer_append(w, data, len, 1);
}


int
prep_snap_writer_gzip_end(prep_snap_writer_t *w)
{
    prep_snap_entry_t  *e;

    if (w->failed) {
        return w->failed;
    }

    if (w->open_gzip < 0) {
        return prep_snap_writer_fail(w, PREP_SNAP_EINVAL,
                                     "gzip end without an open variant");
    }

    e = &w->entries[w->open_gzip];
    e->gzip_len = w->off - e->gzip_off;

    if (e->gzip_len == 0) {
        e->gzip_off = 0;
    }

    w->open_gzip = -1;

    return PREP_SNAP_OK;
}


int
prep_snap_writer_entry(prep_snap_writer_t *w, long ordinal,
    uint64_t *data_off, uint64_t *data_len)
{
    if (ordinal < 0 || ordinal >= (long) w->nentries
        || ordinal == w->open_entry)
    {
        return PREP_SNAP_EINVAL;
    }

    *data_off = w->entries[ordinal].data_off;
    *data_len = w->entries[ordinal].data_len;

    return PREP_SNAP_OK;
}


void
prep_snap_writer_set_corte(prep_snap_writer_t *w, int64_t corte_time,
    int32_t utc_offset, const char *id, const char *text,
    const uint8_t package_sha256[PREP_SHA256_LEN])
{
    prep_snap_header_t  *h;

    h = &w->header;

    h->corte_time = corte_time;
    h->corte_utc_offset = utc_offset;

    memset(h->corte_id, 0, sizeof(h->corte_id));
    memset(h->corte_text, 0, sizeof(h->corte_text));
    (void) snprintf(h->corte_id, sizeof(h->corte_id), "%s", id);
    (void) snprintf(h->corte_text, sizeof(h->corte_text), "%s", text);

    memcpy(h->package_sha256, package_sha256, PREP_SHA256_LEN);
}


static const char  *prep_snap_sort_strings;

static int
prep_snap_entry_cmp(const void *one, const void *two)
{
    int                       rc;
    const prep_snap_entry_t  *a, *b;

    a = one;
    b = two;

    rc = memcmp(prep_snap_sort_strings + a->path_off,
                prep_snap_sort_strings + b->path_off,
                a->path_len < b->path_len ? a->path_len : b->path_len);

    if (rc != 0) {
        return rc;
    }

    return (a->path_len > b->path_len) - (a->path_len < b->path_len);
}


int
prep_snap_writer_finish(prep_snap_writer_t *w)
{
    size_t               index_size;
    ssize_t              n;
    uint32_t             i;
    uint32_t             crc;
    static const uint8_t pad[8];
    prep_snap_header_t  *h;

    if (w->failed) {
        return w->failed;
    }

    if (w->finished) {
        return prep_snap_writer_fail(w, PREP_SNAP_EINVAL,
                                     "writer already finished");
    }

    if (w->open_entry >= 0 || w->open_gzip >= 0) {
        return prep_snap_writer_fail(w, PREP_SNAP_EINVAL,
                                     "finish with an open entry");
    }

    h = &w->header;

    if (h->corte_id[0] == '\0' || h->corte_time <= 0) {
        return prep_snap_writer_fail(w, PREP_SNAP_ECORTE,
                                     "the corte was not set");
    }

    if (h->corte_time > PREP_SNAP_MAX_TIME
        || h->corte_utc_offset < -PREP_SNAP_MAX_UTC_OFFSET
        || h->corte_utc_offset > PREP_SNAP_MAX_UTC_OFFSET)
    {
        return prep_snap_writer_fail(w, PREP_SNAP_ECORTE,
                                     "corte time or utc offset out of range");
    }

    /* qsort() takes no context argument; the writer is single-threaded */
    prep_snap_sort_strings = w->strings;
    if (w->nentries > 1) {
        qsort(w->entries, w->nentries, sizeof(prep_snap_entry_t),
              prep_snap_entry_cmp);
    }
    prep_snap_sort_strings = NULL;

    for (i = 1; i < w->nentries; i++) {
        if (w->entries[i - 1].path_len == w->entries[i].path_len
            && memcmp(w->strings + w->entries[i - 1].path_off,
                      w->strings + w->entries[i].path_off,
                      w->entries[i].path_len) == 0)
        {
            return prep_snap_writer_fail(w, PREP_SNAP_EINVAL,
                                         "duplicate path \"%s\"",
                                         w->strings
                                         + w->entries[i].path_off);
        }
    }

    h->data_off = PREP_SNAP_HEADER_SIZE;
    h->data_size = w->off - PREP_SNAP_HEADER_SIZE;
    h->data_crc = w->data_crc;

    if (w->off % 8 != 0
        && prep_snap_writer_append(w, pad, 8 - w->off % 8, 0)
           != PREP_SNAP_OK)
    {
        return w->failed;
    }

    index_size = (size_t) w->nentries * sizeof(prep_snap_entry_t);

    h->entry_count = w->nentries;
    h->index_off = w->off;
    h->strings_off = w->off + index_size;
    h->strings_size = w->strings_len;

    crc = prep_snap_crc32(0, w->entries, index_size);
    crc = prep_snap_crc32(crc, w->strings, w->strings_len);
    h->index_crc = crc;

    if (prep_snap_writer_append(w, w->entries, index_size, 0)
        != PREP_SNAP_OK
        || prep_snap_writer_append(w, w->strings, w->strings_len, 0)
           != PREP_SNAP_OK
        || prep_snap_writer_flush(w) != PREP_SNAP_OK)
    {
        return w->failed;
    }

    memcpy(h->magic, PREP_SNAP_MAGIC, PREP_SNAP_MAGIC_LEN);
    h->version = PREP_SNAP_VERSION;
    h->byte_order = PREP_SNAP_BYTE_ORDER;
    h->header_size = PREP_SNAP_HEADER_SIZE;
    h->file_size = w->off;
    h->created_time = (int64_t) time(NULL);
    h->header_crc = 0;
    h->header_crc = prep_snap_crc32(0, h, sizeof(prep_snap_header_t));

    n = pwrite(w->fd, h, sizeof(prep_snap_header_t), 0);

    if (n != (ssize_t) sizeof(prep_snap_header_t)) {
        return prep_snap_writer_fail(w, PREP_SNAP_EIO,
                                     "pwrite() of the header failed: %s",
                                     n < 0 ? strerror(errno) : "short write");
    }

    w->finished = 1;

    return PREP_SNAP_OK;
}
