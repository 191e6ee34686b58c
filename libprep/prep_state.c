/*
 * Copyright (C) the ngx_prep authors
 *
 * The state file container: writer into a fixed buffer, validating
 * reader.  Integers are encoded byte by byte, so the format does not
 * depend on the host's byte order or alignment.
 */


#include <stdio.h>
#include <stdarg.h>
#include <string.h>

#include "prep_snap.h"
#include "prep_state.h"


/* header field offsets */
#define PREP_STATE_OFF_VERSION     8
#define PREP_STATE_OFF_HSIZE       12
#define PREP_STATE_OFF_FSIZE       16
#define PREP_STATE_OFF_CREATED     24
#define PREP_STATE_OFF_COUNT       32
#define PREP_STATE_OFF_BODYCRC     36
#define PREP_STATE_OFF_RESERVED    40
#define PREP_STATE_OFF_HEADERCRC   44


static void prep_state_store32(uint8_t *p, uint32_t v);
static void prep_state_store64(uint8_t *p, uint64_t v);
static uint32_t prep_state_load32(const uint8_t *p);
static uint64_t prep_state_load64(const uint8_t *p);
static int prep_state_fail(char *err, size_t errlen, int rc,
    const char *fmt, ...);


static void
prep_state_store32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) (v >> 16);
    p[3] = (uint8_t) (v >> 24);
}


static void
prep_state_store64(uint8_t *p, uint64_t v)
{
    prep_state_store32(p, (uint32_t) v);
    prep_state_store32(p + 4, (uint32_t) (v >> 32));
}


static uint32_t
prep_state_load32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
           | (uint32_t) p[3] << 24;
}


static uint64_t
prep_state_load64(const uint8_t *p)
{
    return (uint64_t) prep_state_load32(p)
           | (uint64_t) prep_state_load32(p + 4) << 32;
}


void
prep_state_writer_init(prep_state_writer_t *w, void *buf, size_t size)
{
    w->buf = buf;
    w->size = size;
    w->len = PREP_STATE_HEADER_SIZE;
    w->section = 0;
    w->count = 0;
    w->version = PREP_STATE_VERSION;
    w->overflow = size < PREP_STATE_HEADER_SIZE;
}


static int
prep_state_room(prep_state_writer_t *w, size_t len)
{
    if (w->overflow || w->size - w->len < len) {
        w->overflow = 1;
        return 0;
    }

    return 1;
}


void
prep_state_section_begin(prep_state_writer_t *w, uint32_t type)
{
    if (w->section) {
        prep_state_section_end(w);
    }

    if (!prep_state_room(w, PREP_STATE_SECTION_SIZE)) {
        return;
    }

    w->section = w->len;

    prep_state_store32(w->buf + w->len, type);
    memset(w->buf + w->len + 4, 0, PREP_STATE_SECTION_SIZE - 4);
    w->len += PREP_STATE_SECTION_SIZE;
}


void
prep_state_put_u32(prep_state_writer_t *w, uint32_t v)
{
    if (w->section == 0 || !prep_state_room(w, 4)) {
        w->overflow = 1;
        return;
    }

    prep_state_store32(w->buf + w->len, v);
    w->len += 4;
}


void
prep_state_put_u64(prep_state_writer_t *w, uint64_t v)
{
    if (w->section == 0 || !prep_state_room(w, 8)) {
        w->overflow = 1;
        return;
    }

    prep_state_store64(w->buf + w->len, v);
    w->len += 8;
}


void
prep_state_put_bytes(prep_state_writer_t *w, const void *data, size_t len)
{
    if (w->section == 0 || !prep_state_room(w, len)) {
        w->overflow = 1;
        return;
    }

    if (len) {
        memcpy(w->buf + w->len, data, len);
    }

    w->len += len;
}


void
prep_state_section_end(prep_state_writer_t *w)
{
    size_t    start, len, pad;
    uint8_t  *h;

    if (w->section == 0) {
        return;
    }

    start = w->section;
    w->section = 0;

    if (w->overflow) {
        return;
    }

    h = w->buf + start;
    len = w->len - start - PREP_STATE_SECTION_SIZE;

    prep_state_store32(h + 4, prep_snap_crc32(0, h + PREP_STATE_SECTION_SIZE,
                                              len));
    prep_state_store64(h + 8, (uint64_t) len);

    pad = (8 - len % 8) % 8;

    if (!prep_state_room(w, pad)) {
        return;
    }

    memset(w->buf + w->len, 0, pad);
    w->len += pad;
    w->count++;
}


size_t
prep_state_writer_finish(prep_state_writer_t *w, int64_t created)
{
    uint8_t  *h;

    prep_state_section_end(w);

    if (w->overflow || w->count > PREP_STATE_MAX_SECTIONS) {
        return 0;
    }

    h = w->buf;

    memcpy(h, PREP_STATE_MAGIC, PREP_STATE_MAGIC_LEN);
    prep_state_store32(h + PREP_STATE_OFF_VERSION, w->version);
    prep_state_store32(h + PREP_STATE_OFF_HSIZE, PREP_STATE_HEADER_SIZE);
    prep_state_store64(h + PREP_STATE_OFF_FSIZE, (uint64_t) w->len);
    prep_state_store64(h + PREP_STATE_OFF_CREATED, (uint64_t) created);
    prep_state_store32(h + PREP_STATE_OFF_COUNT, w->count);
    prep_state_store32(h + PREP_STATE_OFF_BODYCRC,
                       prep_snap_crc32(0, h + PREP_STATE_HEADER_SIZE,
                                       w->len - PREP_STATE_HEADER_SIZE));
    prep_state_store32(h + PREP_STATE_OFF_RESERVED, 0);
    prep_state_store32(h + PREP_STATE_OFF_HEADERCRC, 0);
    prep_state_store32(h + PREP_STATE_OFF_HEADERCRC,
                       prep_snap_crc32(0, h, PREP_STATE_HEADER_SIZE));

    return w->len;
}


static int
prep_state_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list  args;

    if (err && errlen) {
        va_start(args, fmt);
        (void) vsnprintf(err, errlen, fmt, args);
        va_end(args);
    }

    return rc;
}


int
prep_state_open(prep_state_reader_t *r, const void *buf, size_t len,
    char *err, size_t errlen)
{
    size_t          pos, plen, space;
    uint8_t         header[PREP_STATE_HEADER_SIZE];
    uint32_t        i, count, crc;
    uint64_t        fsize, slen;
    const uint8_t  *p;

    p = buf;

    memset(r, 0, sizeof(prep_state_reader_t));

    if (len < PREP_STATE_HEADER_SIZE) {
        return prep_state_fail(err, errlen, PREP_STATE_ETOOSMALL,
                               "truncated: %zu bytes, smaller than the "
                               "header", len);
    }

    if (memcmp(p, PREP_STATE_MAGIC, PREP_STATE_MAGIC_LEN) != 0) {
        return prep_state_fail(err, errlen, PREP_STATE_EMAGIC,
                               "not a state file (bad magic)");
    }

    /* a newer format may change the header: say so first */

    r->version = prep_state_load32(p + PREP_STATE_OFF_VERSION);

    if (r->version < PREP_STATE_VERSION_MIN
        || r->version > PREP_STATE_VERSION)
    {
        return prep_state_fail(err, errlen, PREP_STATE_EVERSION,
                               "format version %u is not supported "
                               "(this build reads version %u)",
                               (unsigned) r->version,
                               (unsigned) PREP_STATE_VERSION);
    }

    memcpy(header, p, PREP_STATE_HEADER_SIZE);
    prep_state_store32(header + PREP_STATE_OFF_HEADERCRC, 0);
    crc = prep_snap_crc32(0, header, PREP_STATE_HEADER_SIZE);

    if (crc != prep_state_load32(p + PREP_STATE_OFF_HEADERCRC)) {
        return prep_state_fail(err, errlen, PREP_STATE_EHEADERCRC,
                               "header checksum mismatch");
    }

    if (prep_state_load32(p + PREP_STATE_OFF_HSIZE) != PREP_STATE_HEADER_SIZE
        || prep_state_load32(p + PREP_STATE_OFF_RESERVED) != 0)
    {
        return prep_state_fail(err, errlen, PREP_STATE_EHEADER,
                               "unexpected header size or fields");
    }

    fsize = prep_state_load64(p + PREP_STATE_OFF_FSIZE);

    if (fsize != (uint64_t) len) {
        return prep_state_fail(err, errlen, PREP_STATE_ESIZE,
                               "truncated or extended: %zu bytes, the "
                               "header says %llu", len,
                               (unsigned long long) fsize);
    }

    crc = prep_snap_crc32(0, p + PREP_STATE_HEADER_SIZE,
                          len - PREP_STATE_HEADER_SIZE);

    if (crc != prep_state_load32(p + PREP_STATE_OFF_BODYCRC)) {
        return prep_state_fail(err, errlen, PREP_STATE_EBODYCRC,
                               "body checksum mismatch");
    }

    count = prep_state_load32(p + PREP_STATE_OFF_COUNT);

    if (count > PREP_STATE_MAX_SECTIONS) {
        return prep_state_fail(err, errlen, PREP_STATE_ESECTION,
                               "%u sections, more than %u",
                               (unsigned) count,
                               (unsigned) PREP_STATE_MAX_SECTIONS);
    }

    /* the CRCs can match a file written by a broken writer: check the
     * framing too, so that prep_state_next() cannot fail later */

    pos = PREP_STATE_HEADER_SIZE;

    for (i = 0; i < count; i++) {

        if (len - pos < PREP_STATE_SECTION_SIZE) {
            return prep_state_fail(err, errlen, PREP_STATE_ESECTION,
                                   "section %u: header past the end",
                                   (unsigned) i);
        }

        slen = prep_state_load64(p + pos + 8);

        if (slen > (uint64_t) (len - pos - PREP_STATE_SECTION_SIZE)) {
            return prep_state_fail(err, errlen, PREP_STATE_ESECTION,
                                   "section %u: length %llu past the end",
                                   (unsigned) i, (unsigned long long) slen);
        }

        plen = (size_t) slen;
        space = prep_state_section_space(plen);

        if (space > len - pos) {
            return prep_state_fail(err, errlen, PREP_STATE_ESECTION,
                                   "section %u: padding past the end",
                                   (unsigned) i);
        }

        crc = prep_snap_crc32(0, p + pos + PREP_STATE_SECTION_SIZE, plen);

        if (crc != prep_state_load32(p + pos + 4)) {
            return prep_state_fail(err, errlen, PREP_STATE_ESECTIONCRC,
                                   "section %u: checksum mismatch",
                                   (unsigned) i);
        }

        pos += space;
    }

    if (pos != len) {
        return prep_state_fail(err, errlen, PREP_STATE_ESECTION,
                               "%zu bytes after the last section",
                               len - pos);
    }

    r->base = p;
    r->len = len;
    r->pos = PREP_STATE_HEADER_SIZE;
    r->left = count;
    r->created = (int64_t) prep_state_load64(p + PREP_STATE_OFF_CREATED);

    return PREP_STATE_OK;
}


int
prep_state_next(prep_state_reader_t *r, prep_state_section_t *s)
{
    size_t  plen;

    if (r->left == 0 || r->base == NULL) {
        return 0;
    }

    /* prep_state_open() has checked the framing */

    plen = (size_t) prep_state_load64(r->base + r->pos + 8);

    s->type = prep_state_load32(r->base + r->pos);
    s->data = r->base + r->pos + PREP_STATE_SECTION_SIZE;
    s->len = plen;
    s->pos = 0;
    s->short_read = 0;

    r->pos += prep_state_section_space(plen);
    r->left--;

    return 1;
}


uint32_t
prep_state_get_u32(prep_state_section_t *s)
{
    uint32_t  v;

    if (s->len - s->pos < 4) {
        s->short_read = 1;
        s->pos = s->len;
        return 0;
    }

    v = prep_state_load32(s->data + s->pos);
    s->pos += 4;

    return v;
}


uint64_t
prep_state_get_u64(prep_state_section_t *s)
{
    uint64_t  v;

    if (s->len - s->pos < 8) {
        s->short_read = 1;
        s->pos = s->len;
        return 0;
    }

    v = prep_state_load64(s->data + s->pos);
    s->pos += 8;

    return v;
}


const uint8_t *
prep_state_get_bytes(prep_state_section_t *s, size_t len)
{
    const uint8_t  *p;

    if (s->len - s->pos < len) {
        s->short_read = 1;
        s->pos = s->len;
        return NULL;
    }

    p = s->data + s->pos;
    s->pos += len;

    return p;
}


size_t
prep_state_left(const prep_state_section_t *s)
{
    return s->len - s->pos;
}


const char *
prep_state_strerror(int rc)
{
    switch (rc) {
    case PREP_STATE_OK:
        return "ok";
    case PREP_STATE_ETOOSMALL:
        return "state_too_small";
    case PREP_STATE_EMAGIC:
        return "state_magic";
    case PREP_STATE_EVERSION:
        return "state_version";
    case PREP_STATE_EHEADER:
        return "state_header";
    case PREP_STATE_EHEADERCRC:
        return "state_header_crc";
    case PREP_STATE_ESIZE:
        return "state_size";
    case PREP_STATE_EBODYCRC:
        return "state_body_crc";
    case PREP_STATE_ESECTION:
        return "state_section";
    case PREP_STATE_ESECTIONCRC:
        return "state_section_crc";
    case PREP_STATE_EOVERFLOW:
        return "state_overflow";
    }

    return "state_unknown";
}
