/*
 * Copyright (C) the ngx_prep authors
 *
 * Snapshot reader: validation and lookup over a mapped file.  Nothing here
 * allocates or follows a pointer read from the file; every offset is
 * checked against the mapping before use.
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "prep_snap.h"


static const char  *prep_snap_errors[] = {
    "ok",
    "file too small for a snapshot header",
    "not a snapshot (bad magic)",
    "unsupported snapshot format version",
    "snapshot written with another byte order",
    "malformed header",
    "header checksum mismatch",
    "file size does not match the header",
    "offset or length out of bounds",
    "index checksum mismatch",
    "malformed index entry",
    "index not sorted or duplicate path",
    "data checksum mismatch",
    "malformed corte",
    "i/o error",
    "out of memory",
    "invalid argument",
    "limit exceeded"
};


static int prep_snap_fail(char *err, size_t errlen, int rc,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;


const char *
prep_snap_strerror(int rc)
{
    if (rc < 0
        || (size_t) rc >= sizeof(prep_snap_errors) / sizeof(char *))
    {
        return "unknown error";
    }

    return prep_snap_errors[rc];
}


static int
prep_snap_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    int      n;
    va_list  args;

    if (err == NULL || errlen == 0) {
        return rc;
    }

    n = snprintf(err, errlen, "%s", prep_snap_strerror(rc));

    if (fmt != NULL && n >= 0 && (size_t) n < errlen) {
        va_start(args, fmt);
        (void) snprintf(err + n, errlen - n, ": ");
        if ((size_t) n + 2 < errlen) {
            (void) vsnprintf(err + n + 2, errlen - n - 2, fmt, args);
        }
        va_end(args);
    }

    return rc;
}


uint32_t
prep_snap_crc32(uint32_t crc, const void *data, size_t len)
{
    const uint8_t  *p = data;
    uInt            chunk;

    /* zlib takes uInt lengths: feed large regions in pieces */

    while (len > 0) {
        chunk = len > (1u << 30) ? (1u << 30) : (uInt) len;
        crc = (uint32_t) crc32(crc, p, chunk);
        p += chunk;
        len -= chunk;
    }

    return crc;
}


static int
prep_snap_range_ok(uint64_t off, uint64_t len, uint64_t lo, uint64_t hi)
{
    /* [off, off + len) within [lo, hi), written so it cannot overflow */
    return off >= lo && off <= hi && len <= hi - off;
}


static int
prep_snap_check_header(const prep_snap_header_t *h, size_t size,
    char *err, size_t errlen)
{
    uint32_t            crc;
    uint64_t            index_size;
    prep_snap_header_t  copy;

    if (memcmp(h->magic, PREP_SNAP_MAGIC, PREP_SNAP_MAGIC_LEN) != 0) {
        return prep_snap_fail(err, errlen, PREP_SNAP_EMAGIC, NULL);
    }

    if (h->byte_order != PREP_SNAP_BYTE_ORDER) {
        return prep_snap_fail(err, errlen, PREP_SNAP_EBYTEORDER, NULL);
    }

    if (h->version != PREP_SNAP_VERSION) {
        return prep_snap_fail(err, errlen, PREP_SNAP_EVERSION,
                              "version %u, expected %u",
                              (unsigned) h->version, PREP_SNAP_VERSION);
    }

    if (h->header_size != PREP_SNAP_HEADER_SIZE) {
        return prep_snap_fail(err, errlen, PREP_SNAP_EHEADER,
                              "header size %u", (unsigned) h->header_size);
    }

    copy = *h;
    copy.header_crc = 0;
    crc = prep_snap_crc32(0, &copy, sizeof(copy));

    if (crc != h->header_crc) {
        return prep_snap_fail(err, errlen, PREP_SNAP_EHEADERCRC, NULL);
    }

    if (h->file_size != size) {
        return prep_snap_fail(err, errlen, PREP_SNAP_ESIZE,
                              "header says %llu bytes, file has %zu",
                              (unsigned long long) h->file_size, size);
    }

    if (h->entry_count > PREP_SNAP_MAX_ENTRIES) {
        return prep_snap_fail(err, errlen, PREP_SNAP_ELIMIT,
                              "%u entries", (unsigned) h->entry_count);
    }

    if (!prep_snap_range_ok(h->data_off, h->data_size,
                            PREP_SNAP_HEADER_SIZE, size))
    {
        return prep_snap_fail(err, errlen, PREP_SNAP_EBOUNDS, "data region");
    }

    index_size = (uint64_t) h->entry_count * sizeof(prep_snap_entry_t);

    if (h->index_off % 8 != 0
        || !prep_snap_range_ok(h->index_off, index_size,
                               PREP_SNAP_HEADER_SIZE, size))
    {
        return prep_snap_fail(err, errlen, PREP_SNAP_EBOUNDS, "index");
    }

    if (!prep_snap_range_ok(h->strings_off, h->strings_size,
                            PREP_SNAP_HEADER_SIZE, size)
        || h->strings_size > UINT32_MAX)
    {
        return prep_snap_fail(err, errlen, PREP_SNAP_EBOUNDS, "strings");
    }

    if (h->corte_id[PREP_SNAP_ID_LEN - 1] != '\0'
        || h->corte_text[PREP_SNAP_TEXT_LEN - 1] != '\0'
        || h->corte_id[0] == '\0'
        || h->corte_utc_offset < -PREP_SNAP_MAX_UTC_OFFSET
        || h->corte_utc_offset > PREP_SNAP_MAX_UTC_OFFSET
        || h->corte_time <= 0
        || h->corte_time > PREP_SNAP_MAX_TIME)
    {
        return prep_snap_fail(err, errlen, PREP_SNAP_ECORTE, NULL);
    }

    return PREP_SNAP_OK;
}


static int
prep_snap_check_string(const prep_snap_t *s, uint32_t off, uint32_t len,
    uint32_t max)
{
    if (len == 0 || len > max
        || !prep_snap_range_ok(off, (uint64_t) len + 1, 0, s->strings_size))
    {
        return 0;
    }

    /* NUL-terminated, and no NUL inside: lookups compare lengths */
    return s->strings[off + len] == '\0'
           && memchr(s->strings + off, '\0', len) == NULL;
}


static int
prep_snap_path_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int  rc;

    rc = memcmp(a, b, alen < blen ? alen : blen);

    if (rc != 0) {
        return rc;
    }

    return (alen > blen) - (alen < blen);
}


static int
prep_snap_check_entries(const prep_snap_t *s, char *err, size_t errlen)
{
    uint32_t                  i;
    const prep_snap_entry_t  *e, *prev;
    const prep_snap_header_t *h;

    h = s->header;
    prev = NULL;

    for (i = 0; i < s->nentries; i++) {
        e = &s->entries[i];

        if (!prep_snap_check_string(s, e->path_off, e->path_len,
                                    PREP_SNAP_MAX_PATH)
            || s->strings[e->path_off] != '/')
        {
            return prep_snap_fail(err, errlen, PREP_SNAP_EENTRY,
                                  "entry %u: bad path", (unsigned) i);
        }

        if (!prep_snap_check_string(s, e->type_off, e->type_len,
                                    PREP_SNAP_MAX_TYPE))
        {
            return prep_snap_fail(err, errlen, PREP_SNAP_EENTRY,
                                  "entry %u: bad content type", (unsigned) i);
        }

        if (!prep_snap_range_ok(e->data_off, e->data_len, h->data_off,
                                h->data_off + h->data_size))
        {
            return prep_snap_fail(err, errlen, PREP_SNAP_EBOUNDS,
                                  "entry %u: data", (unsigned) i);
        }

        if (e->gzip_len != 0
            && !prep_snap_range_ok(e->gzip_off, e->gzip_len, h->data_off,
                                   h->data_off + h->data_size))
        {
            return prep_snap_fail(err, errlen, PREP_SNAP_EBOUNDS,
                                  "entry %u: gzip", (unsigned) i);
        }

        if (prev != NULL
            && prep_snap_path_cmp(s->strings + prev->path_off,
                                  prev->path_len,
                                  s->strings + e->path_off, e->path_len)
               >= 0)
        {
            return prep_snap_fail(err, errlen, PREP_SNAP_EORDER,
                                  "entry %u", (unsigned) i);
        }

        prev = e;
    }

    return PREP_SNAP_OK;
}


int
prep_snap_open(prep_snap_t *s, const void *base, size_t size,
    unsigned flags, char *err, size_t errlen)
{
    int                        rc;
    uint32_t                   crc;
    const uint8_t             *p;
    const prep_snap_header_t  *h;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }

    memset(s, 0, sizeof(prep_snap_t));

    if (base == NULL || size < PREP_SNAP_HEADER_SIZE) {
        return prep_snap_fail(err, errlen, PREP_SNAP_ETOOSMALL,
                              "%zu bytes", size);
    }

    /* the mapping is page aligned, so the header and index are aligned */
    p = base;
    h = (const prep_snap_header_t *) p;

    rc = prep_snap_check_header(h, size, err, errlen);
    if (rc != PREP_SNAP_OK) {
        return rc;
    }

    crc = prep_snap_crc32(0, p + h->index_off,
                          h->entry_count * sizeof(prep_snap_entry_t));
    crc = prep_snap_crc32(crc, p + h->strings_off, h->strings_size);

    if (crc != h->index_crc) {
        return prep_snap_fail(err, errlen, PREP_SNAP_EINDEXCRC, NULL);
    }

    s->base = p;
    s->size = size;
    s->header = h;
    s->entries = (const prep_snap_entry_t *) (p + h->index_off);
    s->nentries = h->entry_count;
    s->strings = (const char *) (p + h->strings_off);
    s->strings_size = h->strings_size;

    rc = prep_snap_check_entries(s, err, errlen);
    if (rc != PREP_SNAP_OK) {
        memset(s, 0, sizeof(prep_snap_t));
        return rc;
    }

    if (flags & PREP_SNAP_VERIFY_DATA) {
        crc = prep_snap_crc32(0, p + h->data_off, h->data_size);

        if (crc != h->data_crc) {
            memset(s, 0, sizeof(prep_snap_t));
            return prep_snap_fail(err, errlen, PREP_SNAP_EDATACRC, NULL);
        }
    }

    return PREP_SNAP_OK;
}


const prep_snap_entry_t *
prep_snap_lookup(const prep_snap_t *s, const char *path, size_t len)
{
    int                       rc;
    uint32_t                  lo, hi, mid;
    const prep_snap_entry_t  *e;

    lo = 0;
    hi = s->nentries;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        e = &s->entries[mid];

        rc = prep_snap_path_cmp(s->strings + e->path_off, e->path_len,
                                path, len);
        if (rc == 0) {
            return e;
        }

        if (rc < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return NULL;
}


const char *
prep_snap_entry_path(const prep_snap_t *s, const prep_snap_entry_t *e)
{
    return s->strings + e->path_off;
}


const char *
prep_snap_entry_type(const prep_snap_t *s, const prep_snap_entry_t *e)
{
    return s->strings + e->type_off;
}


const uint8_t *
prep_snap_entry_data(const prep_snap_t *s, const prep_snap_entry_t *e)
{
    return s->base + e->data_off;
}


const uint8_t *
prep_snap_entry_gzip(const prep_snap_t *s, const prep_snap_entry_t *e)
{
    return e->gzip_len ? s->base + e->gzip_off : NULL;
}


size_t
prep_snap_etag(const prep_snap_entry_t *e, int gzip, char *buf)
{
    size_t                 i, n;
    static const char      hex[] = "0123456789abcdef";

    n = 0;
    buf[n++] = '"';

    for (i = 0; i < PREP_SNAP_HASH_LEN; i++) {
        buf[n++] = hex[e->hash[i] >> 4];
        buf[n++] = hex[e->hash[i] & 0xf];
    }

    if (gzip) {
        buf[n++] = '-';
        buf[n++] = 'g';
        buf[n++] = 'z';
    }

    buf[n++] = '"';
    buf[n] = '\0';

    return n;
}


size_t
prep_snap_corte_iso8601(const prep_snap_header_t *h, char *buf, size_t len)
{
    int        n;
    time_t     local;
    int32_t    off;
    struct tm  tm;

    /* bounded first: the sum below must not overflow */
    if (h->corte_time <= 0 || h->corte_time > PREP_SNAP_MAX_TIME
        || h->corte_utc_offset < -PREP_SNAP_MAX_UTC_OFFSET
        || h->corte_utc_offset > PREP_SNAP_MAX_UTC_OFFSET)
    {
        return 0;
    }

    /* the corte's own wall clock, whatever the server's time zone */
    local = (time_t) (h->corte_time + h->corte_utc_offset);

    if (gmtime_r(&local, &tm) == NULL) {
        return 0;
    }

    off = h->corte_utc_offset;

    n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec,
                 off < 0 ? '-' : '+',
                 (int) ((off < 0 ? -off : off) / 3600),
                 (int) ((off < 0 ? -off : off) % 3600 / 60));

    if (n < 0 || (size_t) n >= len) {
        return 0;
    }

    return (size_t) n;
}


/* the format is the struct layout: a compiler that pads differently
 * must not build a reader */
_Static_assert(sizeof(prep_snap_header_t) == PREP_SNAP_HEADER_SIZE,
               "snapshot header must be 256 bytes");
_Static_assert(sizeof(prep_snap_entry_t) == 64,
               "snapshot entry must be 64 bytes");
