/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of the snapshot writer and reader (libprep/prep_snap*.c).
 *
 * Every snapshot is written through the streaming writer into a memfd and
 * read back into a heap buffer of exactly the file's size, so ASan reports
 * any read past the end.  Corruption tests rewrite fields and then recompute
 * the CRCs with zlib, so the reader's bounds checks are exercised rather
 * than only its checksums.
 */


#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "prep_snap.h"
#include "test_util.h"


#define CORTE_TIME      1717377300      /* 2024-06-03T01:15:00Z */
#define CORTE_OFFSET    (-5 * 3600)
#define CORTE_ID        "20240602_2015"
#define CORTE_TEXT      "2024/06/02 20:15 (UTC-5)"
#define CORTE_ISO       "2024-06-02T20:15:00-05:00"

#define TYPE_JSON       "application/json; charset=utf-8"
#define TYPE_HTML       "text/html; charset=utf-8"
#define TYPE_PNG        "image/png"

#define BIG_ENTRY       (600 * 1024)    /* over two writer buffers */
#define WHOLE           ((size_t) -1)   /* write an entry in one call */


typedef struct {
    uint8_t        *p;
    size_t          size;
} buf_t;


typedef struct {
    char            path[PREP_SNAP_MAX_PATH + 1];
    size_t          path_len;
    const char     *type;
    uint8_t        *data;
    size_t          data_len;
    uint8_t        *gzip;
    size_t          gzip_len;           /* 0: no gzip variant */
    uint8_t         sha[PREP_SHA256_LEN];
    long            ordinal;
    uint64_t        data_off;           /* as the writer reported it */
} model_entry_t;


typedef struct {
    model_entry_t  *e;
    size_t          n;
    int64_t         corte_time;
    int32_t         corte_offset;
    const char     *corte_id;
    const char     *corte_text;
    uint8_t         package_sha[PREP_SHA256_LEN];
} model_t;


typedef enum {
    GZIP_NONE = 0,      /* no entry gets a gzip variant */
    GZIP_AFTER_EACH,    /* right after the entry it belongs to */
    GZIP_AT_END         /* all after the last entry, in reverse order */
} gzip_mode_e;


/* model */


static void
model_init(model_t *m, size_t n)
{
    memset(m, 0, sizeof(model_t));

    m->e = calloc(n ? n : 1, sizeof(model_entry_t));
    assert_non_null(m->e);

    m->n = n;
    m->corte_time = CORTE_TIME;
    m->corte_offset = CORTE_OFFSET;
    m->corte_id = CORTE_ID;
    m->corte_text = CORTE_TEXT;
    rng_fill(m->package_sha, sizeof(m->package_sha));
}


static void
model_set(model_t *m, size_t i, const char *path, size_t path_len,
    const char *type, size_t data_len, size_t gzip_len)
{
    model_entry_t  *e;

    e = &m->e[i];

    assert_true(path_len <= PREP_SNAP_MAX_PATH);
    memcpy(e->path, path, path_len);
    e->path[path_len] = '\0';
    e->path_len = path_len;
    e->type = type;

    e->data = xmalloc(data_len);
    rng_fill(e->data, data_len);
    e->data_len = data_len;

    if (gzip_len) {
        e->gzip = malloc(gzip_len);
        assert_non_null(e->gzip);
        rng_fill(e->gzip, gzip_len);
        e->gzip_len = gzip_len;
    }

    rng_fill(e->sha, sizeof(e->sha));
    e->ordinal = -1;
}


static void
model_free(model_t *m)
{
    size_t  i;

    for (i = 0; i < m->n; i++) {
        free(m->e[i].data);
        free(m->e[i].gzip);
    }

    free(m->e);
    m->e = NULL;
    m->n = 0;
}


/* a package-like mix: sizes from empty to several writer buffers */
static void
model_package(model_t *m, size_t n)
{
    size_t         i, len, gz;
    char           path[64];
    const char    *type;
    static size_t  sizes[] = { 0, 1, 7, 100, 1000, 4095, 4096, 70000 };

    model_init(m, n);

    for (i = 0; i < n; i++) {
        if (i == 3) {
            len = BIG_ENTRY;
        } else {
            len = sizes[rng_next() % (sizeof(sizes) / sizeof(sizes[0]))];
        }

        switch (i % 3) {
        case 0:
            type = TYPE_JSON;
            (void) snprintf(path, sizeof(path),
                            "/assets/json/entidad/%03u.json",
                            (unsigned) (rng_next() % 1000 * 50 + i));
            break;
        case 1:
            type = TYPE_HTML;
            (void) snprintf(path, sizeof(path), "/p%zu/index.html", i);
            break;
        default:
            type = TYPE_PNG;
            (void) snprintf(path, sizeof(path), "/img/%zu.png", n - i);
            break;
        }

        /* about half the entries get a gzip variant */
        gz = (rng_next() & 1) ? len / 3 + 1 : 0;

        model_set(m, i, path, strlen(path), type, len, gz);
    }
}


/* writing */


static void
write_chunks(prep_snap_writer_t *w, const uint8_t *p, size_t len,
    size_t chunk, int gzip)
{
    int     rc;
    size_t  n;

    do {
        n = len < chunk ? len : chunk;

        if (gzip) {
            rc = prep_snap_writer_gzip_write(w, p, n);
        } else {
            rc = prep_snap_writer_write(w, p, n);
        }

        assert_int_equal(rc, PREP_SNAP_OK);

        p += n;
        len -= n;
    } while (len > 0);
}


static void
write_gzip(prep_snap_writer_t *w, model_entry_t *e, size_t chunk)
{
    assert_int_equal(prep_snap_writer_gzip_begin(w, e->ordinal),
                     PREP_SNAP_OK);
    write_chunks(w, e->gzip, e->gzip_len, chunk, 1);
    assert_int_equal(prep_snap_writer_gzip_end(w), PREP_SNAP_OK);
}


static buf_t
read_fd(int fd)
{
    buf_t        b;
    ssize_t      n;
    struct stat  st;

    assert_int_equal(fstat(fd, &st), 0);

    b.size = (size_t) st.st_size;
    b.p = xmalloc(b.size);

    n = pread(fd, b.p, b.size, 0);
    assert_int_equal(n, (ssize_t) b.size);

    return b;
}


static int
new_memfd(void)
{
    int  fd;

    fd = memfd_create("test_snap", MFD_CLOEXEC);
    assert_true(fd >= 0);

    return fd;
}


/* after a flush, the ended entry is in the file where the writer says */
static void
check_flushed(prep_snap_writer_t *w, int fd, const model_entry_t *e)
{
    uint8_t   *p;
    uint64_t   off, len;

    assert_int_equal(prep_snap_writer_flush(w), PREP_SNAP_OK);
    assert_int_equal(prep_snap_writer_entry(w, e->ordinal, &off, &len),
                     PREP_SNAP_OK);
    assert_int_equal(len, e->data_len);

    p = xmalloc(len);

    assert_int_equal(pread(fd, p, len, (off_t) off), (ssize_t) len);
    if (len) {
        assert_memory_equal(p, e->data, len);
    }

    free(p);
}


/* writes the model in a shuffled order; returns the file's bytes */
static buf_t
write_model(model_t *m, size_t chunk, gzip_mode_e gzip)
{
    int                  fd;
    long                 ord;
    size_t               i, j, k, *order;
    buf_t                b;
    uint64_t             off, len;
    model_entry_t       *e;
    prep_snap_writer_t  *w;

    order = malloc((m->n ? m->n : 1) * sizeof(size_t));
    assert_non_null(order);

    for (i = 0; i < m->n; i++) {
        order[i] = i;
    }

    for (i = m->n; i > 1; i--) {
        j = rng_next() % i;
        k = order[i - 1];
        order[i - 1] = order[j];
        order[j] = k;
    }

    fd = new_memfd();
    w = prep_snap_writer_create(fd, NULL, 0);
    assert_non_null(w);

    for (i = 0; i < m->n; i++) {
        e = &m->e[order[i]];

        assert_int_equal(prep_snap_writer_begin(w, e->path, e->path_len,
                                                e->type, strlen(e->type)),
                         PREP_SNAP_OK);
        write_chunks(w, e->data, e->data_len, chunk, 0);

        ord = prep_snap_writer_end(w, e->sha);
        assert_int_equal(ord, (long) i);
        e->ordinal = ord;

        /* one of the chunk sizes also reads every entry back early */
        if (chunk == 3) {
            check_flushed(w, fd, e);
        }

        if (gzip == GZIP_AFTER_EACH && e->gzip_len) {
            write_gzip(w, e, chunk);
        }
    }

    if (gzip == GZIP_AT_END) {
        for (i = m->n; i > 0; i--) {
            e = &m->e[order[i - 1]];
            if (e->gzip_len) {
                write_gzip(w, e, chunk);
            }
        }
    }

    for (i = 0; i < m->n; i++) {
        e = &m->e[i];
        assert_int_equal(prep_snap_writer_entry(w, e->ordinal, &off, &len),
                         PREP_SNAP_OK);
        assert_int_equal(len, e->data_len);
        assert_true(off >= PREP_SNAP_HEADER_SIZE);
        e->data_off = off;
    }

    prep_snap_writer_set_corte(w, m->corte_time, m->corte_offset,
                               m->corte_id, m->corte_text, m->package_sha);

    if (prep_snap_writer_finish(w) != PREP_SNAP_OK) {
        fail_msg("finish: %s", prep_snap_writer_error(w));
    }

    assert_string_equal(prep_snap_writer_error(w), "no error");

    b = read_fd(fd);

    prep_snap_writer_destroy(w);
    close(fd);
    free(order);

    return b;
}


/* reading */


static int
path_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int  rc;

    rc = memcmp(a, b, alen < blen ? alen : blen);
    if (rc != 0) {
        return rc;
    }

    return (alen > blen) - (alen < blen);
}


static void
check_etag(const prep_snap_entry_t *e, int gzip)
{
    size_t  i, n;
    char    buf[PREP_SNAP_ETAG_LEN];
    char    hex[3];

    memset(buf, 'X', sizeof(buf));

    n = prep_snap_etag(e, gzip, buf);

    assert_int_equal(n, gzip ? 37 : 34);
    assert_true(n < sizeof(buf));
    assert_int_equal(buf[n], '\0');
    assert_int_equal(strlen(buf), n);
    assert_int_equal(buf[0], '"');
    assert_int_equal(buf[n - 1], '"');

    for (i = 0; i < PREP_SNAP_HASH_LEN; i++) {
        (void) snprintf(hex, sizeof(hex), "%02x", e->hash[i]);
        assert_memory_equal(buf + 1 + 2 * i, hex, 2);
    }

    if (gzip) {
        assert_memory_equal(buf + 33, "-gz", 3);
    }
}


static void
check_entry(const prep_snap_t *s, const prep_snap_entry_t *e,
    const model_entry_t *me)
{
    const uint8_t  *gz;

    assert_int_equal(e->path_len, me->path_len);
    assert_string_equal(prep_snap_entry_path(s, e), me->path);
    assert_int_equal(e->type_len, strlen(me->type));
    assert_string_equal(prep_snap_entry_type(s, e), me->type);

    assert_int_equal(e->data_len, me->data_len);
    assert_int_equal(e->data_off, me->data_off);
    if (me->data_len) {
        assert_memory_equal(prep_snap_entry_data(s, e), me->data,
                            me->data_len);
    }

    assert_int_equal(e->gzip_len, me->gzip_len);
    gz = prep_snap_entry_gzip(s, e);

    if (me->gzip_len) {
        assert_non_null(gz);
        assert_memory_equal(gz, me->gzip, me->gzip_len);

    } else {
        assert_null(gz);
    }

    assert_memory_equal(e->hash, me->sha, PREP_SNAP_HASH_LEN);

    check_etag(e, 0);
    check_etag(e, 1);
}


static void
verify_model(const buf_t *b, const model_t *m)
{
    int                        rc;
    size_t                     i;
    char                       err[PREP_ERRLEN];
    char                       iso[PREP_SNAP_ISO8601_LEN];
    prep_snap_t                s;
    const model_entry_t       *me;
    const prep_snap_entry_t   *e;
    const prep_snap_header_t  *h;

    memset(err, 'X', sizeof(err));

    rc = prep_snap_open(&s, b->p, b->size, PREP_SNAP_VERIFY_DATA,
                        err, sizeof(err));
    if (rc != PREP_SNAP_OK) {
        fail_msg("open: %s", err);
    }

    assert_string_equal(err, "");

    h = s.header;
    assert_ptr_equal(s.base, b->p);
    assert_int_equal(s.size, b->size);
    assert_int_equal(h->file_size, b->size);
    assert_int_equal(h->version, PREP_SNAP_VERSION);
    assert_int_equal(h->header_size, PREP_SNAP_HEADER_SIZE);
    assert_int_equal(h->entry_count, m->n);
    assert_int_equal(s.nentries, m->n);
    assert_int_equal(h->index_off % 8, 0);
    assert_int_equal(h->corte_time, m->corte_time);
    assert_int_equal(h->corte_utc_offset, m->corte_offset);
    assert_string_equal(h->corte_id, m->corte_id);
    assert_string_equal(h->corte_text, m->corte_text);
    assert_memory_equal(h->package_sha256, m->package_sha, PREP_SHA256_LEN);

    if (m->corte_time == CORTE_TIME && m->corte_offset == CORTE_OFFSET) {
        assert_int_equal(prep_snap_corte_iso8601(h, iso, sizeof(iso)),
                         strlen(CORTE_ISO));
        assert_string_equal(iso, CORTE_ISO);
    }

    /* the index is strictly sorted, bytewise */
    for (i = 1; i < s.nentries; i++) {
        assert_true(path_cmp(prep_snap_entry_path(&s, &s.entries[i - 1]),
                             s.entries[i - 1].path_len,
                             prep_snap_entry_path(&s, &s.entries[i]),
                             s.entries[i].path_len)
                    < 0);
    }

    for (i = 0; i < m->n; i++) {
        me = &m->e[i];

        e = prep_snap_lookup(&s, me->path, me->path_len);
        assert_non_null(e);
        assert_true(e >= s.entries && e < s.entries + s.nentries);

        check_entry(&s, e, me);
    }
}


/* round trips */


static void
round_trip(size_t n, size_t chunk, gzip_mode_e gzip, uint64_t seed)
{
    size_t   i;
    buf_t    b;
    model_t  m;

    rng_seed(seed);
    model_package(&m, n);

    if (gzip == GZIP_NONE) {
        for (i = 0; i < m.n; i++) {
            free(m.e[i].gzip);
            m.e[i].gzip = NULL;
            m.e[i].gzip_len = 0;
        }
    }

    b = write_model(&m, chunk, gzip);
    verify_model(&b, &m);

    free(b.p);
    model_free(&m);
}


static void
test_round_trip_chunks(void **state)
{
    size_t              c, g;
    static size_t       chunks[] = { 1, 3, 4096, 65536, WHOLE };
    static gzip_mode_e  modes[] = { GZIP_NONE, GZIP_AFTER_EACH,
                                    GZIP_AT_END };

    (void) state;

    for (c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        for (g = 0; g < sizeof(modes) / sizeof(modes[0]); g++) {
            round_trip(40, chunks[c], modes[g], 100 + c * 10 + g);
        }
    }
}


static void
test_round_trip_empty(void **state)
{
    buf_t        b;
    model_t      m;
    prep_snap_t  s;

    (void) state;

    rng_seed(1);
    model_init(&m, 0);

    b = write_model(&m, WHOLE, GZIP_NONE);
    verify_model(&b, &m);

    assert_int_equal(prep_snap_open(&s, b.p, b.size, 0, NULL, 0),
                     PREP_SNAP_OK);
    assert_int_equal(s.nentries, 0);
    assert_null(prep_snap_lookup(&s, "/", 1));
    assert_null(prep_snap_lookup(&s, "", 0));

    free(b.p);
    model_free(&m);
}


static void
test_round_trip_edge_entries(void **state)
{
    buf_t    b;
    char     path[PREP_SNAP_MAX_PATH + 1];
    model_t  m;

    (void) state;

    rng_seed(2);
    model_init(&m, 5);

    memset(path, 'a', sizeof(path));
    path[0] = '/';

    /* the longest path, an empty body, a one-byte path, a 1-byte gzip,
     * a non-ASCII path (bytes >= 0x80 must sort unsigned) */
    model_set(&m, 0, path, PREP_SNAP_MAX_PATH, TYPE_JSON, 10, 0);
    model_set(&m, 1, "/empty.json", 11, TYPE_JSON, 0, 0);
    model_set(&m, 2, "/", 1, TYPE_HTML, 5, 1);
    model_set(&m, 3, "/a\xc3\xb1o.json", 9, TYPE_JSON, 3, 2);
    model_set(&m, 4, "/a~o.json", 9, TYPE_JSON, 3, 0);

    b = write_model(&m, 2, GZIP_AT_END);
    verify_model(&b, &m);

    free(b.p);
    model_free(&m);
}


/* writer helpers */


static prep_snap_writer_t *
writer_new(int *fd)
{
    prep_snap_writer_t  *w;

    *fd = new_memfd();
    w = prep_snap_writer_create(*fd, NULL, 0);
    assert_non_null(w);

    return w;
}


static void
writer_add(prep_snap_writer_t *w, const char *path, const char *body)
{
    uint8_t  sha[PREP_SHA256_LEN];

    memset(sha, 1, sizeof(sha));

    assert_int_equal(prep_snap_writer_begin(w, path, strlen(path),
                                            TYPE_JSON, strlen(TYPE_JSON)),
                     PREP_SNAP_OK);
    assert_int_equal(prep_snap_writer_write(w, body, strlen(body)),
                     PREP_SNAP_OK);
    assert_true(prep_snap_writer_end(w, sha) >= 0);
}


static void
writer_corte(prep_snap_writer_t *w)
{
    uint8_t  sha[PREP_SHA256_LEN];

    memset(sha, 2, sizeof(sha));
    prep_snap_writer_set_corte(w, CORTE_TIME, CORTE_OFFSET, CORTE_ID,
                               CORTE_TEXT, sha);
}


/* the test corte set, the snapshot finished, read back from fd and
 * opened with its data verified into s: its bytes (free b.p) */
static buf_t
finish_and_open(prep_snap_writer_t *w, int fd, prep_snap_t *s)
{
    buf_t  b;

    writer_corte(w);
    assert_int_equal(prep_snap_writer_finish(w), PREP_SNAP_OK);

    b = read_fd(fd);
    assert_int_equal(prep_snap_open(s, b.p, b.size, PREP_SNAP_VERIFY_DATA,
                                    NULL, 0),
                     PREP_SNAP_OK);

    return b;
}


static void
writer_done(prep_snap_writer_t *w, int fd)
{
    prep_snap_writer_destroy(w);
    close(fd);
}


static void
expect_error(prep_snap_writer_t *w, const char *needle)
{
    const char  *msg;

    msg = prep_snap_writer_error(w);

    if (strstr(msg, needle) == NULL) {
        fail_msg("error \"%s\" does not mention \"%s\"", msg, needle);
    }
}


static void
test_gzip_empty_variant(void **state)
{
    int                       fd;
    long                      ord;
    buf_t                     b;
    uint8_t                   sha[PREP_SHA256_LEN];
    prep_snap_t               s;
    prep_snap_writer_t       *w;
    const prep_snap_entry_t  *e;

    (void) state;

    memset(sha, 0xab, sizeof(sha));

    w = writer_new(&fd);

    assert_int_equal(prep_snap_writer_begin(w, "/x", 2, TYPE_PNG, 9), 0);
    assert_int_equal(prep_snap_writer_write(w, "abc", 3), 0);
    ord = prep_snap_writer_end(w, sha);
    assert_int_equal(ord, 0);

    /* a gzip variant of no bytes is no variant at all */
    assert_int_equal(prep_snap_writer_gzip_begin(w, ord), 0);
    assert_int_equal(prep_snap_writer_gzip_end(w), 0);

    b = finish_and_open(w, fd, &s);

    e = prep_snap_lookup(&s, "/x", 2);
    assert_non_null(e);
    assert_int_equal(e->gzip_len, 0);
    assert_null(prep_snap_entry_gzip(&s, e));
    assert_memory_equal(prep_snap_entry_data(&s, e), "abc", 3);

    free(b.p);
    writer_done(w, fd);
}


/* bodies and gzip variants from PREP_SNAP_PAGE_MIN start on a page */
static void
test_large_entries_page_aligned(void **state)
{
    int                       fd;
    long                      ord;
    size_t                    i;
    buf_t                     b;
    uint8_t                   sha[PREP_SHA256_LEN], *big;
    prep_snap_t               s;
    prep_snap_writer_t       *w;
    const prep_snap_entry_t  *e;
    static const struct {
        const char  *path;
        size_t       len;
        int          aligned;
    } in[] = {
        { "/a", 5, 0 },
        { "/b", PREP_SNAP_PAGE_MIN, 1 },
        { "/c", 7, 0 },
        { "/d", PREP_SNAP_PAGE_MIN - 1, 0 },
        { "/e", 3 * PREP_SNAP_PAGE_MIN + 11, 1 },
    };

    (void) state;

    memset(sha, 0x5a, sizeof(sha));
    big = malloc(4 * PREP_SNAP_PAGE_MIN);
    assert_non_null(big);

    for (i = 0; i < 4 * PREP_SNAP_PAGE_MIN; i++) {
        big[i] = (uint8_t) (i * 7 + 3);
    }

    /* inside an entry alignment is refused, not silently applied */
    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_begin(w, "/a", 2, TYPE_PNG, 9), 0);
    assert_int_not_equal(prep_snap_writer_align_for(w, 1 << 20), 0);
    writer_done(w, fd);

    w = writer_new(&fd);

    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        assert_int_equal(prep_snap_writer_align_for(w, in[i].len), 0);
        assert_int_equal(prep_snap_writer_begin(w, in[i].path, 2, TYPE_PNG,
                                                9), 0);
        assert_int_equal(prep_snap_writer_write(w, big, in[i].len), 0);
        ord = prep_snap_writer_end(w, sha);

        /* a gzip variant of a large body starts on a page too */
        assert_int_equal(prep_snap_writer_gzip_begin(w, ord), 0);
        assert_int_equal(prep_snap_writer_gzip_write(w, big + 1, 9), 0);
        assert_int_equal(prep_snap_writer_gzip_end(w), 0);
    }

    /* the zero gaps are inside the data region: its CRC still holds */
    b = finish_and_open(w, fd, &s);

    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        e = prep_snap_lookup(&s, in[i].path, 2);
        assert_non_null(e);
        assert_int_equal(e->data_len, in[i].len);
        assert_memory_equal(prep_snap_entry_data(&s, e), big, in[i].len);
        assert_memory_equal(prep_snap_entry_gzip(&s, e), big + 1, 9);

        if (in[i].aligned) {
            assert_int_equal(e->data_off % PREP_SNAP_PAGE, 0);
            assert_int_equal(e->gzip_off % PREP_SNAP_PAGE, 0);

        } else {
            /* small ones stay packed right after what came before */
            assert_int_not_equal(e->data_off % PREP_SNAP_PAGE, 0);
        }
    }

    free(b.p);
    free(big);
    writer_done(w, fd);
}


/* corte formatting */


static void
check_iso(int64_t t, int32_t off, const char *expect)
{
    char                buf[PREP_SNAP_ISO8601_LEN];
    prep_snap_header_t  h;

    memset(&h, 0, sizeof(h));
    h.corte_time = t;
    h.corte_utc_offset = off;

    memset(buf, 'X', sizeof(buf));

    assert_int_equal(prep_snap_corte_iso8601(&h, buf, sizeof(buf)),
                     strlen(expect));
    assert_string_equal(buf, expect);
}


static void
test_corte_iso8601(void **state)
{
    char                buf[64];
    prep_snap_header_t  h;

    (void) state;

    check_iso(CORTE_TIME, -5 * 3600, "2024-06-02T20:15:00-05:00");
    check_iso(CORTE_TIME, -6 * 3600, "2024-06-02T19:15:00-06:00");
    check_iso(CORTE_TIME, 5 * 3600 + 1800, "2024-06-03T06:45:00+05:30");
    check_iso(CORTE_TIME, 0, "2024-06-03T01:15:00+00:00");
    check_iso(CORTE_TIME, -3 * 3600 - 1800, "2024-06-02T21:45:00-03:30");
    check_iso(CORTE_TIME, 14 * 3600, "2024-06-03T15:15:00+14:00");
    check_iso(CORTE_TIME, -14 * 3600, "2024-06-02T11:15:00-14:00");

    /* the local date differs from the UTC date: year boundary */
    check_iso(1704088799, -6 * 3600, "2023-12-31T23:59:59-06:00");

    /* a buffer one byte short is refused, not overrun */
    memset(&h, 0, sizeof(h));
    h.corte_time = CORTE_TIME;
    h.corte_utc_offset = CORTE_OFFSET;

    memset(buf, 'X', sizeof(buf));
    assert_int_equal(prep_snap_corte_iso8601(&h, buf,
                                             PREP_SNAP_ISO8601_LEN - 1),
                     0);
    assert_int_equal(buf[PREP_SNAP_ISO8601_LEN - 1], 'X');

    assert_int_equal(prep_snap_corte_iso8601(&h, buf, sizeof(buf)), 25);
    assert_string_equal(buf, CORTE_ISO);
}


/*
 * A snapshot that passes validation must be formattable without undefined
 * behaviour.  Run in a child, so a sanitizer abort fails this test only.
 */
static void
test_corte_extreme_time(void **state)
{
    int                  fd, rc, status, bad;
    size_t               i, n;
    pid_t                pid;
    buf_t                b;
    char                 iso[PREP_SNAP_ISO8601_LEN];
    char                 first[160];
    uint8_t              sha[PREP_SHA256_LEN];
    prep_snap_t          s;
    prep_snap_writer_t  *w;
    static const struct {
        int64_t          t;
        int32_t          off;
    } cases[] = {
        { INT64_MAX, 14 * 3600 },
        { INT64_MAX, 1 },
        { INT64_MAX - 3600, -14 * 3600 },
        { 253402300799, 14 * 3600 },        /* 9999-12-31T23:59:59Z */
        { 1, -14 * 3600 }                   /* before the epoch, locally */
    };

    (void) state;

    memset(sha, 0, sizeof(sha));
    bad = 0;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fd = new_memfd();
        w = prep_snap_writer_create(fd, NULL, 0);
        assert_non_null(w);

        prep_snap_writer_set_corte(w, cases[i].t, cases[i].off, CORTE_ID,
                                   CORTE_TEXT, sha);

        if (prep_snap_writer_finish(w) != PREP_SNAP_OK) {
            prep_snap_writer_destroy(w);
            close(fd);
            continue;
        }

        b = read_fd(fd);
        rc = prep_snap_open(&s, b.p, b.size, PREP_SNAP_VERIFY_DATA, NULL, 0);

        if (rc == PREP_SNAP_OK) {
            fflush(NULL);
            pid = fork();
            assert_true(pid >= 0);

            if (pid == 0) {
                n = prep_snap_corte_iso8601(s.header, iso, sizeof(iso));
                _exit(n < sizeof(iso) && (n == 0 || strlen(iso) == n)
                      ? 0 : 3);
            }

            assert_int_equal(waitpid(pid, &status, 0), pid);

            if ((!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                && bad++ == 0)
            {
                (void) snprintf(first, sizeof(first),
                                "corte_time %lld, offset %d (status 0x%x)",
                                (long long) cases[i].t, (int) cases[i].off,
                                (unsigned) status);
            }
        }

        free(b.p);
        prep_snap_writer_destroy(w);
        close(fd);
    }

    if (bad) {
        fail_msg("%d corte(s) accepted by open() crash or misformat "
                 "prep_snap_corte_iso8601(), first: %s", bad, first);
    }
}


/* lookups */


static buf_t
write_paths(char **paths, size_t n, model_t *m)
{
    size_t  i;

    model_init(m, n);

    for (i = 0; i < n; i++) {
        model_set(m, i, paths[i], strlen(paths[i]), TYPE_JSON, i % 5, 0);
    }

    return write_model(m, WHOLE, GZIP_NONE);
}


static void
expect_found(const prep_snap_t *s, const char *path, size_t len)
{
    const prep_snap_entry_t  *e;

    e = prep_snap_lookup(s, path, len);
    if (e == NULL) {
        fail_msg("\"%.*s\" not found", (int) len, path);
    }

    assert_int_equal(e->path_len, len);
    assert_memory_equal(prep_snap_entry_path(s, e), path, len);
}


static void
expect_absent(const prep_snap_t *s, const char *path, size_t len)
{
    if (prep_snap_lookup(s, path, len) != NULL) {
        fail_msg("\"%.*s\" found but absent", (int) len, path);
    }
}


static int
model_has(const model_t *m, const char *path, size_t len)
{
    size_t  i;

    for (i = 0; i < m->n; i++) {
        if (m->e[i].path_len == len
            && memcmp(m->e[i].path, path, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static void
expect_as_model(const prep_snap_t *s, const model_t *m, const char *path,
    size_t len)
{
    if (model_has(m, path, len)) {
        expect_found(s, path, len);

    } else {
        expect_absent(s, path, len);
    }
}


static void
test_lookup_names(void **state)
{
    buf_t          b;
    model_t        m;
    prep_snap_t    s;
    static char   *paths[] = {
        "/", "/a", "/a/", "/a/b", "/ab", "/index.html", "/index.htmk",
        "/index.htmm", "/x/1.json", "/x/2.json", "/x/3.json",
        "/assets/entidad/23.json", "/\xc3\xb1", "/~"
    };

    (void) state;

    rng_seed(3);
    b = write_paths(paths, sizeof(paths) / sizeof(paths[0]), &m);
    assert_int_equal(prep_snap_open(&s, b.p, b.size, 0, NULL, 0),
                     PREP_SNAP_OK);

    verify_model(&b, &m);

    /* prefixes and extensions of present paths */
    expect_absent(&s, "", 0);
    expect_absent(&s, "/index.htm", 10);
    expect_absent(&s, "/index.html/", 12);
    expect_absent(&s, "/index.html\0", 12);
    expect_absent(&s, "/index.html ", 12);
    expect_absent(&s, "/a/b/", 5);
    expect_absent(&s, "/x/", 3);
    expect_absent(&s, "/x/1.jso", 8);
    expect_absent(&s, "/assets/entidad/23", 18);
    expect_absent(&s, "/assets", 7);

    /* differing only in the last byte */
    expect_found(&s, "/index.htmk", 11);
    expect_found(&s, "/index.htmm", 11);
    expect_absent(&s, "/index.htmj", 11);
    expect_absent(&s, "/index.htmn", 11);
    expect_absent(&s, "/index.htmL", 11);
    expect_absent(&s, "/x/0.json", 9);
    expect_absent(&s, "/x/4.json", 9);
    expect_absent(&s, "/x/1.jsoo", 9);
    expect_absent(&s, "/b", 2);

    /* before the first and after the last; bytes >= 0x80 */
    expect_absent(&s, "!", 1);
    expect_absent(&s, ".", 1);
    expect_absent(&s, "/\xff", 2);
    expect_absent(&s, "/\xc3", 2);
    expect_found(&s, "/\xc3\xb1", 3);
    expect_found(&s, "/~", 2);
    expect_found(&s, "/", 1);

    /* a length shorter than the string: only that prefix counts */
    expect_found(&s, "/abcdef", 2);
    expect_found(&s, "/index.html.bak", 11);

    free(b.p);
    model_free(&m);
}


/* every present path is found; its neighbours by one byte are not */
static void
lookup_sweep(size_t n, uint64_t seed)
{
    size_t                    i, len, k;
    buf_t                     b;
    char                    **paths, probe[80];
    model_t                   m;
    prep_snap_t               s;
    const prep_snap_entry_t  *e;

    rng_seed(seed);

    paths = calloc(n, sizeof(char *));
    assert_non_null(paths);

    for (i = 0; i < n; i++) {
        paths[i] = malloc(64);
        assert_non_null(paths[i]);

        /* unique by construction (the digits are i); varied lengths,
         * shared prefixes, neighbours one last byte apart */
        (void) snprintf(paths[i], 64, "/d%u/%.*s%zu%s",
                        (unsigned) (rng_next() % 7),
                        (int) (rng_next() % 4), "xyz~", i,
                        (i % 2) ? ".json" : "");
    }

    b = write_paths(paths, n, &m);
    assert_int_equal(prep_snap_open(&s, b.p, b.size, 0, NULL, 0),
                     PREP_SNAP_OK);
    assert_int_equal(s.nentries, n);

    for (i = 0; i < n; i++) {
        len = strlen(paths[i]);
        expect_found(&s, paths[i], len);

        e = prep_snap_lookup(&s, paths[i], len);
        assert_string_equal(prep_snap_entry_path(&s, e), paths[i]);

        memcpy(probe, paths[i], len + 1);

        for (k = 0; k < 2; k++) {
            probe[len - 1] = (char) (paths[i][len - 1] + (k ? 1 : -1));
            expect_as_model(&s, &m, probe, len);
        }

        probe[len - 1] = paths[i][len - 1];
        expect_as_model(&s, &m, probe, len - 1);

        probe[len] = '\x01';
        expect_absent(&s, probe, len + 1);
    }

    expect_absent(&s, "", 0);
    expect_absent(&s, "/", 1);
    expect_absent(&s, "\xff", 1);

    for (i = 0; i < n; i++) {
        free(paths[i]);
    }

    free(paths);
    free(b.p);
    model_free(&m);
}


static void
test_lookup_sizes(void **state)
{
    (void) state;

    lookup_sweep(1, 11);
    lookup_sweep(2, 12);
    lookup_sweep(3, 13);
    lookup_sweep(4, 14);
    lookup_sweep(2500, 15);
}


static void
test_lookup_closed(void **state)
{
    prep_snap_t  s;
    uint8_t      junk[PREP_SNAP_HEADER_SIZE];

    (void) state;

    /* a failed open leaves a view in which nothing is found */
    memset(junk, 0, sizeof(junk));
    assert_int_not_equal(prep_snap_open(&s, junk, sizeof(junk), 0,
                                        NULL, 0),
                         PREP_SNAP_OK);
    assert_int_equal(s.nentries, 0);
    assert_null(s.base);
    assert_null(prep_snap_lookup(&s, "/", 1));
}


/* writer errors */


static void
test_writer_sorts_two(void **state)
{
    int                  fd;
    buf_t                b;
    prep_snap_t          s;
    prep_snap_writer_t  *w;

    (void) state;

    /* the smallest index that needs sorting: two entries, reversed */
    w = writer_new(&fd);
    writer_add(w, "/b", "second");
    writer_add(w, "/a", "first");
    b = finish_and_open(w, fd, &s);
    writer_done(w, fd);

    assert_string_equal(prep_snap_entry_path(&s, &s.entries[0]), "/a");
    assert_string_equal(prep_snap_entry_path(&s, &s.entries[1]), "/b");
    assert_memory_equal(prep_snap_entry_data(&s, &s.entries[0]), "first", 5);
    expect_found(&s, "/a", 2);
    expect_found(&s, "/b", 2);

    free(b.p);
}


static void
test_writer_duplicate(void **state)
{
    int                  fd;
    prep_snap_writer_t  *w;

    (void) state;

    w = writer_new(&fd);

    writer_add(w, "/b.json", "1");
    writer_add(w, "/dup/path.json", "2");
    writer_add(w, "/a.json", "3");
    writer_add(w, "/dup/path.jso", "4");
    writer_add(w, "/dup/path.json", "5");
    writer_corte(w);

    assert_int_equal(prep_snap_writer_finish(w), PREP_SNAP_EINVAL);
    expect_error(w, "duplicate");
    expect_error(w, "\"/dup/path.json\"");

    /* the failure sticks */
    assert_int_equal(prep_snap_writer_finish(w), PREP_SNAP_EINVAL);

    writer_done(w, fd);
}


static void
test_writer_invalid_path(void **state)
{
    int                  fd;
    size_t               i;
    char                 longest[PREP_SNAP_MAX_PATH + 2];
    prep_snap_writer_t  *w;
    static const struct {
        const char      *path;
        size_t           len;
        const char      *shown;
    } bad[] = {
        { "", 0, "invalid path" },
        { "index.html", 10, "\"index.html\"" },
        { "/a\0b", 4, "invalid path" },
        { "\0/a", 3, "invalid path" }
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        w = writer_new(&fd);

        assert_int_equal(prep_snap_writer_begin(w, bad[i].path, bad[i].len,
                                                TYPE_JSON, 4),
                         PREP_SNAP_EINVAL);
        expect_error(w, bad[i].shown);

        /* every later call fails with the first error */
        assert_int_equal(prep_snap_writer_begin(w, "/ok", 3, TYPE_JSON, 4),
                         PREP_SNAP_EINVAL);
        writer_corte(w);
        assert_int_equal(prep_snap_writer_finish(w), PREP_SNAP_EINVAL);
        expect_error(w, bad[i].shown);

        writer_done(w, fd);
    }

    /* PREP_SNAP_MAX_PATH is allowed, one more is not */
    memset(longest, 'p', sizeof(longest));
    longest[0] = '/';

    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_begin(w, longest, PREP_SNAP_MAX_PATH,
                                            TYPE_JSON, 4),
                     PREP_SNAP_OK);
    assert_true(prep_snap_writer_end(w, (uint8_t *) longest) >= 0);
    assert_int_equal(prep_snap_writer_begin(w, longest,
                                            PREP_SNAP_MAX_PATH + 1,
                                            TYPE_JSON, 4),
                     PREP_SNAP_EINVAL);
    expect_error(w, "invalid path");
    writer_done(w, fd);

    /* content types: empty, too long, with a NUL */
    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_begin(w, "/a", 2, TYPE_JSON, 0),
                     PREP_SNAP_EINVAL);
    expect_error(w, "content type");
    writer_done(w, fd);

    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_begin(w, "/a", 2, longest,
                                            PREP_SNAP_MAX_TYPE + 1),
                     PREP_SNAP_EINVAL);
    writer_done(w, fd);

    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_begin(w, "/a", 2, "a\0b", 3),
                     PREP_SNAP_EINVAL);
    writer_done(w, fd);
}


static void
test_writer_sequence(void **state)
{
    int                  fd;
    uint64_t             off, len;
    uint8_t              sha[PREP_SHA256_LEN];
    prep_snap_writer_t  *w;

    (void) state;

    memset(sha, 3, sizeof(sha));

    /* write without begin */
    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_write(w, "x", 1), PREP_SNAP_EINVAL);
    expect_error(w, "without an open entry");
    writer_done(w, fd);

    /* end without begin */
    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_end(w, sha), -1);
    expect_error(w, "without an open entry");
    writer_done(w, fd);

    /* begin while another entry is open */
    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_begin(w, "/a", 2, TYPE_JSON, 4), 0);
    assert_int_equal(prep_snap_writer_begin(w, "/b", 2, TYPE_JSON, 4),
                     PREP_SNAP_EINVAL);
    writer_done(w, fd);

    /* finish with an entry open */
    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_begin(w, "/a", 2, TYPE_JSON, 4), 0);
    writer_corte(w);
    assert_int_equal(prep_snap_writer_finish(w), PREP_SNAP_EINVAL);
    expect_error(w, "open entry");
    writer_done(w, fd);

    /* finish without a corte */
    w = writer_new(&fd);
    writer_add(w, "/a", "1");
    assert_int_equal(prep_snap_writer_finish(w), PREP_SNAP_ECORTE);
    expect_error(w, "corte");
    writer_done(w, fd);

    /* a corte with an empty id, or no time, is no corte */
    w = writer_new(&fd);
    prep_snap_writer_set_corte(w, CORTE_TIME, 0, "", CORTE_TEXT, sha);
    assert_int_equal(prep_snap_writer_finish(w), PREP_SNAP_ECORTE);
    writer_done(w, fd);

    w = writer_new(&fd);
    prep_snap_writer_set_corte(w, 0, 0, CORTE_ID, CORTE_TEXT, sha);
    assert_int_equal(prep_snap_writer_finish(w), PREP_SNAP_ECORTE);
    writer_done(w, fd);

    /* gzip: unknown entry, open entry, twice, write and end without begin */
    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_gzip_begin(w, 0), PREP_SNAP_EINVAL);
    expect_error(w, "entry 0");
    writer_done(w, fd);

    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_begin(w, "/a", 2, TYPE_JSON, 4), 0);
    assert_int_equal(prep_snap_writer_gzip_begin(w, 0), PREP_SNAP_EINVAL);
    writer_done(w, fd);

    w = writer_new(&fd);
    writer_add(w, "/a", "1");
    assert_int_equal(prep_snap_writer_gzip_begin(w, 0), 0);
    assert_int_equal(prep_snap_writer_gzip_write(w, "z", 1), 0);
    assert_int_equal(prep_snap_writer_gzip_end(w), 0);
    assert_int_equal(prep_snap_writer_gzip_begin(w, 0), PREP_SNAP_EINVAL);
    writer_done(w, fd);

    w = writer_new(&fd);
    writer_add(w, "/a", "1");
    assert_int_equal(prep_snap_writer_gzip_begin(w, -1), PREP_SNAP_EINVAL);
    writer_done(w, fd);

    w = writer_new(&fd);
    writer_add(w, "/a", "1");
    assert_int_equal(prep_snap_writer_gzip_begin(w, 0), 0);
    assert_int_equal(prep_snap_writer_write(w, "x", 1), PREP_SNAP_EINVAL);
    writer_done(w, fd);

    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_gzip_write(w, "z", 1),
                     PREP_SNAP_EINVAL);
    writer_done(w, fd);

    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_gzip_end(w), PREP_SNAP_EINVAL);
    writer_done(w, fd);

    /* the entry view: unknown and open entries are refused */
    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_entry(w, 0, &off, &len),
                     PREP_SNAP_EINVAL);
    assert_int_equal(prep_snap_writer_begin(w, "/a", 2, TYPE_JSON, 4), 0);
    assert_int_equal(prep_snap_writer_entry(w, 0, &off, &len),
                     PREP_SNAP_EINVAL);
    assert_int_equal(prep_snap_writer_write(w, "hello", 5), 0);
    assert_int_equal(prep_snap_writer_end(w, sha), 0);
    assert_int_equal(prep_snap_writer_entry(w, 0, &off, &len), 0);
    assert_int_equal(off, PREP_SNAP_HEADER_SIZE);
    assert_int_equal(len, 5);
    writer_done(w, fd);
}


static void
test_writer_flush(void **state)
{
    int                  fd;
    buf_t                b;
    char                 got[16];
    uint8_t              sha[PREP_SHA256_LEN];
    prep_snap_t          s;
    prep_snap_writer_t  *w;

    (void) state;

    memset(sha, 4, sizeof(sha));

    /* flushes between entries, inside an entry and inside a gzip
     * variant leave a file identical in content to one without */
    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_flush(w), PREP_SNAP_OK);

    assert_int_equal(prep_snap_writer_begin(w, "/b", 2, TYPE_JSON, 4), 0);
    assert_int_equal(prep_snap_writer_write(w, "hel", 3), 0);
    assert_int_equal(prep_snap_writer_flush(w), PREP_SNAP_OK);
    assert_int_equal(prep_snap_writer_write(w, "lo", 2), 0);
    assert_int_equal(prep_snap_writer_end(w, sha), 0);
    assert_int_equal(prep_snap_writer_flush(w), PREP_SNAP_OK);

    /* the placeholder header and the body are in the file already */
    assert_int_equal(pread(fd, got, 5, PREP_SNAP_HEADER_SIZE), 5);
    assert_memory_equal(got, "hello", 5);

    assert_int_equal(prep_snap_writer_gzip_begin(w, 0), 0);
    assert_int_equal(prep_snap_writer_gzip_write(w, "g", 1), 0);
    assert_int_equal(prep_snap_writer_flush(w), PREP_SNAP_OK);
    assert_int_equal(prep_snap_writer_gzip_write(w, "z", 1), 0);
    assert_int_equal(prep_snap_writer_gzip_end(w), 0);

    writer_add(w, "/a", "world");
    assert_int_equal(prep_snap_writer_flush(w), PREP_SNAP_OK);
    assert_int_equal(prep_snap_writer_flush(w), PREP_SNAP_OK);

    b = finish_and_open(w, fd, &s);
    writer_done(w, fd);

    assert_memory_equal(prep_snap_entry_data(&s, &s.entries[1]), "hello", 5);
    assert_memory_equal(prep_snap_entry_gzip(&s, &s.entries[1]), "gz", 2);
    assert_memory_equal(prep_snap_entry_data(&s, &s.entries[0]), "world", 5);
    free(b.p);

    /* a failed writer does not flush: it reports its first error */
    w = writer_new(&fd);
    assert_int_equal(prep_snap_writer_write(w, "x", 1), PREP_SNAP_EINVAL);
    assert_int_equal(prep_snap_writer_flush(w), PREP_SNAP_EINVAL);
    expect_error(w, "without an open entry");
    writer_done(w, fd);

    /* an unwritable descriptor fails at the flush */
    fd = open("/dev/null", O_RDONLY);
    assert_true(fd >= 0);
    w = prep_snap_writer_create(fd, NULL, 0);
    assert_non_null(w);
    assert_int_equal(prep_snap_writer_flush(w), PREP_SNAP_EIO);
    expect_error(w, "write() failed");
    writer_done(w, fd);
}


/*
 * After a successful finish() the file is complete: a second finish(), or
 * a new entry, must be refused rather than append to it and report
 * success.
 */
static void
test_writer_after_finish(void **state)
{
    int                  fd, again, late;
    buf_t                b;
    char                 err[PREP_ERRLEN];
    prep_snap_t          s;
    prep_snap_writer_t  *w;

    (void) state;

    w = writer_new(&fd);
    writer_add(w, "/a", "abc");
    writer_corte(w);
    assert_int_equal(prep_snap_writer_finish(w), PREP_SNAP_OK);

    again = prep_snap_writer_finish(w);
    late = prep_snap_writer_begin(w, "/b", 2, TYPE_JSON, 4);

    b = read_fd(fd);
    writer_done(w, fd);

    err[0] = '\0';
    (void) prep_snap_open(&s, b.p, b.size, PREP_SNAP_VERIFY_DATA, err,
                          sizeof(err));
    free(b.p);

    if (again == PREP_SNAP_OK || late == PREP_SNAP_OK) {
        fail_msg("after finish(): finish() returned %d, begin() returned "
                 "%d; the file now reads \"%s\"", again, late,
                 err[0] ? err : "ok");
    }

    assert_string_equal(err, "");
}


static void
test_writer_io_error(void **state)
{
    int                  fd;
    prep_snap_writer_t  *w;

    (void) state;

    /* a descriptor not open for writing: the error surfaces at finish */
    fd = open("/dev/null", O_RDONLY);
    assert_true(fd >= 0);

    w = prep_snap_writer_create(fd, NULL, 0);
    assert_non_null(w);

    writer_add(w, "/a", "body");
    writer_corte(w);

    assert_int_equal(prep_snap_writer_finish(w), PREP_SNAP_EIO);
    expect_error(w, "write() failed");

    writer_done(w, fd);
}


/*
 * A corte the writer accepts must be one the reader accepts, or ingest
 * would publish nothing with a misleading error at verification time.
 */
static void
test_writer_corte_agrees_with_reader(void **state)
{
    int                  fd, rc, bad;
    size_t               i;
    buf_t                b;
    char                 err[PREP_ERRLEN], first[PREP_ERRLEN + 64];
    uint8_t              sha[PREP_SHA256_LEN];
    prep_snap_t          s;
    prep_snap_writer_t  *w;
    static const int32_t offsets[] = {
        -14 * 3600, 14 * 3600, -14 * 3600 - 1, 14 * 3600 + 1,
        -24 * 3600, INT32_MAX, INT32_MIN
    };

    (void) state;

    memset(sha, 0, sizeof(sha));
    bad = 0;

    for (i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        w = writer_new(&fd);
        prep_snap_writer_set_corte(w, CORTE_TIME, offsets[i], CORTE_ID,
                                   CORTE_TEXT, sha);

        if (prep_snap_writer_finish(w) == PREP_SNAP_OK) {
            b = read_fd(fd);
            rc = prep_snap_open(&s, b.p, b.size, PREP_SNAP_VERIFY_DATA,
                                err, sizeof(err));
            free(b.p);

            if (rc != PREP_SNAP_OK && bad++ == 0) {
                (void) snprintf(first, sizeof(first),
                                "utc offset %d: \"%s\"",
                                (int) offsets[i], err);
            }
        }

        writer_done(w, fd);
    }

    if (bad) {
        fail_msg("finish() succeeded on %d corte(s) that open() refuses, "
                 "first: %s", bad, first);
    }
}


/* corrupt files */


/* the snapshot every corruption starts from, and what it should hold */
static buf_t    good;
static model_t  good_model;


static int
setup_good(void **state)
{
    model_t  *m;

    (void) state;

    m = &good_model;

    rng_seed(42);
    model_init(m, 6);

    model_set(m, 0, "/index.html", 11, TYPE_HTML, 300, 120);
    model_set(m, 1, "/assets/a.json", 14, TYPE_JSON, 40, 0);
    model_set(m, 2, "/assets/b.json", 14, TYPE_JSON, 1, 0);
    model_set(m, 3, "/img/logo.png", 13, TYPE_PNG, 77, 0);
    model_set(m, 4, "/assets/ayuntamientos/entidad/23.json", 37,
              TYPE_JSON, 33, 20);
    model_set(m, 5, "/z", 2, TYPE_HTML, 0, 0);

    good = write_model(m, 16, GZIP_AT_END);

    return 0;
}


static int
teardown_good(void **state)
{
    (void) state;

    free(good.p);
    good.p = NULL;
    model_free(&good_model);

    return 0;
}


/* each corruption test needs a good snapshot to start from: without one
 * the test fails instead of reading offsets from a bad file */
static int
require_good(void **state)
{
    prep_snap_t  s;

    (void) state;

    return prep_snap_open(&s, good.p, good.size, PREP_SNAP_VERIFY_DATA,
                          NULL, 0) == PREP_SNAP_OK ? 0 : -1;
}


static void
test_corrupt_baseline(void **state)
{
    (void) state;

    verify_model(&good, &good_model);
}


static prep_snap_header_t *
hdr(uint8_t *p)
{
    return (prep_snap_header_t *) p;
}


static prep_snap_entry_t *
entry(uint8_t *p, size_t i)
{
    return (prep_snap_entry_t *) (p + hdr(p)->index_off) + i;
}


static char *
strings(uint8_t *p)
{
    return (char *) p + hdr(p)->strings_off;
}


/* recomputes the CRCs with zlib, so only the bounds checks can object */
static void
reseal(uint8_t *p, size_t size, int index)
{
    uLong                crc;
    uint64_t             isize;
    prep_snap_header_t  *h;

    h = hdr(p);

    if (index) {
        isize = (uint64_t) h->entry_count * sizeof(prep_snap_entry_t);

        if (h->index_off <= size && isize <= size - h->index_off
            && h->strings_off <= size
            && h->strings_size <= size - h->strings_off)
        {
            crc = crc32(0, p + h->index_off, (uInt) isize);
            crc = crc32(crc, p + h->strings_off, (uInt) h->strings_size);
            h->index_crc = (uint32_t) crc;
        }
    }

    h->header_crc = 0;
    h->header_crc = (uint32_t) crc32(0, (const Bytef *) h, sizeof(*h));
}


static void
reseal_data(uint8_t *p)
{
    prep_snap_header_t  *h;

    h = hdr(p);
    h->data_crc = (uint32_t) crc32(0, p + h->data_off, (uInt) h->data_size);
}


static uint8_t *
clone_good(void)
{
    return xmemdup(good.p, good.size);
}


/*
 * Opens [p, p + size) expecting a failure: rc (or any error when rc is
 * -1), a message that starts with the code's text and mentions "needle",
 * and a view left empty.
 */
static void
expect_open(const uint8_t *p, size_t size, unsigned flags, int rc,
    const char *needle, const char *what)
{
    int           got;
    char          err[PREP_ERRLEN];
    const char   *text;
    prep_snap_t   s;

    memset(err, 'X', sizeof(err));
    memset(&s, 0x5a, sizeof(s));

    got = prep_snap_open(&s, p, size, flags, err, sizeof(err));

    if (rc == PREP_SNAP_OK) {
        if (got != PREP_SNAP_OK) {
            fail_msg("%s: expected success, got \"%s\"", what, err);
        }

        return;
    }

    if (got == PREP_SNAP_OK) {
        fail_msg("%s: opened a corrupt snapshot", what);
    }

    if (rc >= 0 && got != rc) {
        fail_msg("%s: expected \"%s\", got \"%s\"", what,
                 prep_snap_strerror(rc), err);
    }

    assert_true(memchr(err, '\0', sizeof(err)) != NULL);

    text = prep_snap_strerror(got);
    assert_true(strncmp(err, text, strlen(text)) == 0);

    if (needle != NULL && strstr(err, needle) == NULL) {
        fail_msg("%s: \"%s\" does not mention \"%s\"", what, err, needle);
    }

    assert_null(s.base);
    assert_null(s.header);
    assert_null(s.entries);
    assert_int_equal(s.nentries, 0);
    assert_null(prep_snap_lookup(&s, "/index.html", 11));
}


/* reseals a mutated clone, opens it with and without data checks and
 * frees it */
static void
expect_mutated(uint8_t *p, int index, int rc, const char *needle,
    const char *what)
{
    reseal(p, good.size, index);
    expect_open(p, good.size, 0, rc, needle, what);
    expect_open(p, good.size, PREP_SNAP_VERIFY_DATA, rc, needle, what);
    free(p);
}


static void
test_corrupt_truncated(void **state)
{
    size_t    n;
    uint8_t  *p;
    char      what[64];

    (void) state;

    /* every prefix: header, data, padding, index and strings boundaries */
    for (n = 0; n < good.size; n++) {
        p = xmemdup(good.p, n);
        (void) snprintf(what, sizeof(what), "truncated to %zu", n);
        expect_open(p, n, 0,
                    n < PREP_SNAP_HEADER_SIZE ? PREP_SNAP_ETOOSMALL
                                              : PREP_SNAP_ESIZE,
                    NULL, what);
        free(p);
    }

    /* the same with file_size and the header CRC made to agree, so the
     * region checks are what refuses the file */
    for (n = PREP_SNAP_HEADER_SIZE; n < good.size; n++) {
        p = xmemdup(good.p, n);
        hdr(p)->file_size = n;
        reseal(p, n, 0);
        (void) snprintf(what, sizeof(what), "truncated to %zu, resealed", n);
        expect_open(p, n, 0, PREP_SNAP_EBOUNDS, NULL, what);
        expect_open(p, n, PREP_SNAP_VERIFY_DATA, PREP_SNAP_EBOUNDS, NULL,
                    what);
        free(p);
    }
}


static void
test_corrupt_truncated_strings(void **state)
{
    size_t               k, size;
    uint8_t             *p;
    char                 what[64];
    prep_snap_header_t  *h;

    (void) state;

    /* a string table cut at every byte, with a header and index CRC that
     * describe the shorter file: some entry now points past its end */
    h = hdr(good.p);
    assert_int_equal(h->strings_off + h->strings_size, good.size);

    for (k = 0; k < h->strings_size; k++) {
        size = h->strings_off + k;
        p = xmemdup(good.p, size);
        hdr(p)->strings_size = k;
        hdr(p)->file_size = size;
        reseal(p, size, 1);

        (void) snprintf(what, sizeof(what), "strings cut to %zu", k);
        expect_open(p, size, 0, PREP_SNAP_EENTRY, "bad", what);
        free(p);
    }
}


static void
test_corrupt_header_bits(void **state)
{
    size_t    bit;
    uint8_t  *p;
    char      what[64];

    (void) state;

    p = clone_good();

    for (bit = 0; bit < PREP_SNAP_HEADER_SIZE * 8; bit++) {
        p[bit / 8] ^= (uint8_t) (1u << (bit % 8));

        (void) snprintf(what, sizeof(what), "header bit %zu", bit);
        expect_open(p, good.size, 0, -1, NULL, what);

        p[bit / 8] ^= (uint8_t) (1u << (bit % 8));
    }

    expect_open(p, good.size, PREP_SNAP_VERIFY_DATA, PREP_SNAP_OK, NULL,
                "restored");
    free(p);
}


static void
test_corrupt_index_bytes(void **state)
{
    size_t               i, end;
    uint8_t             *p;
    char                 what[64];
    prep_snap_header_t  *h;

    (void) state;

    p = clone_good();
    h = hdr(p);
    end = h->strings_off + h->strings_size;

    assert_int_equal(h->strings_off,
                     h->index_off
                     + h->entry_count * sizeof(prep_snap_entry_t));

    for (i = h->index_off; i < end; i++) {
        p[i] ^= 0xff;

        (void) snprintf(what, sizeof(what), "index byte %zu", i);
        expect_open(p, good.size, 0, PREP_SNAP_EINDEXCRC, NULL, what);

        p[i] ^= 0x01;
        expect_open(p, good.size, 0, PREP_SNAP_EINDEXCRC, NULL, what);

        p[i] ^= 0xfe;
    }

    expect_open(p, good.size, PREP_SNAP_VERIFY_DATA, PREP_SNAP_OK, NULL,
                "restored");
    free(p);
}


static void
test_corrupt_data_bytes(void **state)
{
    size_t               i;
    uint8_t             *p;
    char                 what[64];
    prep_snap_header_t  *h;

    (void) state;

    p = clone_good();
    h = hdr(p);

    assert_int_equal(h->data_off, PREP_SNAP_HEADER_SIZE);
    assert_true(h->data_size > 0);

    for (i = h->data_off; i < h->data_off + h->data_size; i++) {
        p[i] ^= 0x20;

        (void) snprintf(what, sizeof(what), "data byte %zu", i);
        expect_open(p, good.size, 0, PREP_SNAP_OK, NULL, what);
        expect_open(p, good.size, PREP_SNAP_VERIFY_DATA, PREP_SNAP_EDATACRC,
                    NULL, what);

        p[i] ^= 0x20;
    }

    free(p);

    /* a resealed data CRC in a resealed header is a different file */
    p = clone_good();
    h = hdr(p);
    p[h->data_off] ^= 1;
    reseal_data(p);
    reseal(p, good.size, 0);
    expect_open(p, good.size, PREP_SNAP_VERIFY_DATA, PREP_SNAP_OK, NULL,
                "data resealed");

    hdr(p)->data_crc ^= 1;
    expect_open(p, good.size, 0, PREP_SNAP_EHEADERCRC, NULL, "data crc");
    reseal(p, good.size, 0);
    expect_open(p, good.size, 0, PREP_SNAP_OK, NULL, "data crc resealed");
    expect_open(p, good.size, PREP_SNAP_VERIFY_DATA, PREP_SNAP_EDATACRC,
                NULL, "data crc resealed");

    free(p);
}


static void
test_corrupt_entry_data(void **state)
{
    uint8_t             *p;
    uint64_t             end;
    prep_snap_entry_t   *e;
    prep_snap_header_t  *h;

    (void) state;

    h = hdr(good.p);
    end = h->data_off + h->data_size;

    /* entry 0 is "/assets/a.json", 40 bytes, no gzip variant */
    e = entry(good.p, 0);
    assert_string_equal(strings(good.p) + e->path_off, "/assets/a.json");
    assert_true(e->data_len > 0);

    p = clone_good();
    entry(p, 0)->data_off = end - entry(p, 0)->data_len + 1;
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, "entry 0: data", "data +1");

    p = clone_good();
    entry(p, 0)->data_off = end;
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, "entry 0: data", "data at end");

    p = clone_good();
    entry(p, 0)->data_len = h->data_size + 1;
    entry(p, 0)->data_off = h->data_off;
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, "entry 0: data", "data long");

    p = clone_good();
    entry(p, 0)->data_len = UINT64_MAX;
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, "entry 0: data", "data len max");

    p = clone_good();
    entry(p, 0)->data_off = UINT64_MAX - 1;
    entry(p, 0)->data_len = 2;
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, "entry 0: data", "data wraps");

    p = clone_good();
    entry(p, 0)->data_off = 0;
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, "entry 0: data", "data in hdr");

    p = clone_good();
    entry(p, 0)->data_off = h->index_off;
    entry(p, 0)->data_len = 1;
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, "entry 0: data",
                   "data in index");

    /* data past the data region of the last entry, too */
    p = clone_good();
    entry(p, 5)->data_off = end + 1;
    entry(p, 5)->data_len = 0;
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, "entry 5: data",
                   "empty data past the end");

    /* the exact end of the region, empty, is fine */
    p = clone_good();
    entry(p, 5)->data_off = end;
    entry(p, 5)->data_len = 0;
    expect_mutated(p, 1, PREP_SNAP_OK, NULL, "empty data at the end");
}


static void
test_corrupt_entry_gzip(void **state)
{
    size_t               i, gz;
    uint8_t             *p;
    uint64_t             end;
    prep_snap_t          s;
    prep_snap_header_t  *h;
    char                 needle[48];

    (void) state;

    h = hdr(good.p);
    end = h->data_off + h->data_size;

    /* find an entry with a gzip variant and one without */
    gz = (size_t) -1;
    for (i = 0; i < h->entry_count; i++) {
        if (entry(good.p, i)->gzip_len != 0) {
            gz = i;
            break;
        }
    }

    assert_true(gz != (size_t) -1);
    assert_int_equal(entry(good.p, 0)->gzip_len, 0);

    (void) snprintf(needle, sizeof(needle), "entry %zu: gzip", gz);

    p = clone_good();
    entry(p, gz)->gzip_off = end - entry(p, gz)->gzip_len + 1;
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, needle, "gzip +1");

    p = clone_good();
    entry(p, gz)->gzip_len = UINT64_MAX;
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, needle, "gzip len max");

    p = clone_good();
    entry(p, gz)->gzip_off = UINT64_MAX;
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, needle, "gzip off max");

    p = clone_good();
    entry(p, gz)->gzip_off = 16;
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, needle, "gzip in header");

    p = clone_good();
    entry(p, gz)->gzip_off = h->strings_off;
    entry(p, gz)->gzip_len = 1;
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, needle, "gzip in strings");

    /* a variant on an entry that had none, pointing nowhere */
    p = clone_good();
    entry(p, 0)->gzip_off = 0;
    entry(p, 0)->gzip_len = 10;
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, "entry 0: gzip", "new gzip");

    /* gzip_len 0 means no variant: its offset is never used */
    p = clone_good();
    entry(p, 0)->gzip_off = UINT64_MAX;
    reseal(p, good.size, 1);
    assert_int_equal(prep_snap_open(&s, p, good.size, 0, NULL, 0),
                     PREP_SNAP_OK);
    assert_null(prep_snap_entry_gzip(&s, &s.entries[0]));
    free(p);
}


static void
test_corrupt_entry_strings(void **state)
{
    size_t               i;
    char                 needle[48];
    uint8_t             *p;
    uint32_t             len, off;
    prep_snap_entry_t   *e;
    prep_snap_header_t  *h;

    (void) state;

    h = hdr(good.p);
    e = entry(good.p, 0);
    off = e->path_off;
    len = e->path_len;

    p = clone_good();
    entry(p, 0)->path_off = (uint32_t) h->strings_size;
    expect_mutated(p, 1, PREP_SNAP_EENTRY, "entry 0: bad path",
                   "path at end");

    p = clone_good();
    entry(p, 0)->path_off = (uint32_t) h->strings_size - 1;
    entry(p, 0)->path_len = 1;
    expect_mutated(p, 1, PREP_SNAP_EENTRY, "entry 0: bad path",
                   "path on the last NUL");

    p = clone_good();
    entry(p, 0)->path_off = UINT32_MAX;
    expect_mutated(p, 1, PREP_SNAP_EENTRY, "entry 0: bad path", "path max");

    p = clone_good();
    entry(p, 0)->path_len = UINT32_MAX;
    expect_mutated(p, 1, PREP_SNAP_EENTRY, "entry 0: bad path", "len max");

    p = clone_good();
    entry(p, 0)->path_len = (uint32_t) h->strings_size - off;
    expect_mutated(p, 1, PREP_SNAP_EENTRY, "entry 0: bad path",
                   "len to the end");

    p = clone_good();
    entry(p, 0)->path_len = 0;
    expect_mutated(p, 1, PREP_SNAP_EENTRY, "entry 0: bad path", "len 0");

    p = clone_good();
    entry(p, 0)->path_len = PREP_SNAP_MAX_PATH + 1;
    expect_mutated(p, 1, PREP_SNAP_EENTRY, "entry 0: bad path",
                   "len over max");

    /* not NUL-terminated: the terminator overwritten, or a shorter len */
    p = clone_good();
    strings(p)[off + len] = 'X';
    expect_mutated(p, 1, PREP_SNAP_EENTRY, "entry 0: bad path",
                   "terminator overwritten");

    p = clone_good();
    entry(p, 0)->path_len = len - 1;
    expect_mutated(p, 1, PREP_SNAP_EENTRY, "entry 0: bad path",
                   "len one short");

    /* a NUL inside: the length spans this path and the next string
     * (an entry whose path is not the last string of the table) */
    for (i = 0; i < h->entry_count; i++) {
        e = entry(good.p, i);
        if (e->path_off + e->path_len + 1 < h->strings_size) {
            break;
        }
    }

    assert_true(i < h->entry_count);
    (void) snprintf(needle, sizeof(needle), "entry %zu: bad path", i);

    p = clone_good();
    e = entry(p, i);
    e->path_len += 1 + (uint32_t) strlen(strings(p) + e->path_off
                                         + e->path_len + 1);
    expect_mutated(p, 1, PREP_SNAP_EENTRY, needle, "NUL inside");

    p = clone_good();
    strings(p)[off] = 'a';
    expect_mutated(p, 1, PREP_SNAP_EENTRY, "entry 0: bad path",
                   "no leading slash");

    /* content types */
    p = clone_good();
    entry(p, 2)->type_off = (uint32_t) h->strings_size;
    expect_mutated(p, 1, PREP_SNAP_EENTRY, "entry 2: bad content type",
                   "type at end");

    p = clone_good();
    entry(p, 2)->type_len = 0;
    expect_mutated(p, 1, PREP_SNAP_EENTRY, "entry 2: bad content type",
                   "type len 0");

    p = clone_good();
    entry(p, 2)->type_len = PREP_SNAP_MAX_TYPE + 1;
    expect_mutated(p, 1, PREP_SNAP_EENTRY, "entry 2: bad content type",
                   "type over max");

    p = clone_good();
    entry(p, 2)->type_len += 1;
    expect_mutated(p, 1, PREP_SNAP_EENTRY, "entry 2: bad content type",
                   "type len +1");
}


static void
test_corrupt_order(void **state)
{
    uint8_t            *p;
    prep_snap_entry_t   tmp;

    (void) state;

    /* unsorted: two neighbours swapped */
    p = clone_good();
    tmp = *entry(p, 1);
    *entry(p, 1) = *entry(p, 2);
    *entry(p, 2) = tmp;
    expect_mutated(p, 1, PREP_SNAP_EORDER, "entry 2", "swapped");

    /* the last one moved first */
    p = clone_good();
    tmp = *entry(p, 0);
    *entry(p, 0) = *entry(p, 5);
    *entry(p, 5) = tmp;
    expect_mutated(p, 1, PREP_SNAP_EORDER, "entry 1", "last first");

    /* duplicate path, same string */
    p = clone_good();
    entry(p, 1)->path_off = entry(p, 0)->path_off;
    entry(p, 1)->path_len = entry(p, 0)->path_len;
    expect_mutated(p, 1, PREP_SNAP_EORDER, "entry 1", "same string");

    /* duplicate path, another copy of the same bytes */
    p = clone_good();
    assert_true(entry(p, 1)->path_len > 14);
    memcpy(strings(p) + entry(p, 1)->path_off, "/assets/a.json", 15);
    entry(p, 1)->path_len = 14;
    expect_mutated(p, 1, PREP_SNAP_EORDER, "entry 1", "same bytes");

    /* a duplicate entry, whole */
    p = clone_good();
    *entry(p, 4) = *entry(p, 3);
    expect_mutated(p, 1, PREP_SNAP_EORDER, "entry 4", "whole duplicate");
}


static void
test_corrupt_header_fields(void **state)
{
    uint32_t             k;
    uint8_t             *p, *big;
    char                 what[64];
    prep_snap_header_t  *h;

    (void) state;

    h = hdr(good.p);

    /* index_off misaligned, though within the file */
    for (k = 1; k < 8; k++) {
        p = clone_good();
        hdr(p)->index_off += k;
        (void) snprintf(what, sizeof(what), "index_off + %u", (unsigned) k);
        expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "index", what);

        p = clone_good();
        hdr(p)->index_off -= k;
        expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "index", what);
    }

    p = clone_good();
    hdr(p)->index_off = 0;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "index", "index in header");

    p = clone_good();
    hdr(p)->index_off = good.size & ~(uint64_t) 7;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "index", "index at end");

    p = clone_good();
    hdr(p)->index_off = UINT64_MAX & ~(uint64_t) 7;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "index", "index off max");

    /* entry_count: huge, at the limit, one more than there is */
    p = clone_good();
    hdr(p)->entry_count = UINT32_MAX;
    expect_mutated(p, 0, PREP_SNAP_ELIMIT, NULL, "count max");

    p = clone_good();
    hdr(p)->entry_count = PREP_SNAP_MAX_ENTRIES + 1;
    expect_mutated(p, 0, PREP_SNAP_ELIMIT, NULL, "count over limit");

    p = clone_good();
    hdr(p)->entry_count = PREP_SNAP_MAX_ENTRIES;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "index", "count at limit");

    p = clone_good();
    hdr(p)->entry_count += 1;
    expect_mutated(p, 1, -1, NULL, "count + 1");

    p = clone_good();
    hdr(p)->entry_count = (uint32_t) ((good.size - h->index_off) / 64 + 1);
    expect_mutated(p, 1, PREP_SNAP_EBOUNDS, "index", "count past end");

    /* strings */
    p = clone_good();
    hdr(p)->strings_size = UINT64_MAX;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "strings", "strings max");

    p = clone_good();
    hdr(p)->strings_size += 1;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "strings", "strings + 1");

    p = clone_good();
    hdr(p)->strings_size = (uint64_t) UINT32_MAX + 1;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "strings", "strings 4G");

    p = clone_good();
    hdr(p)->strings_off = UINT64_MAX;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "strings", "strings off max");

    p = clone_good();
    hdr(p)->strings_off = 8;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "strings", "strings in hdr");

    p = clone_good();
    hdr(p)->strings_off += 1;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "strings", "strings off + 1");

    /* data region */
    p = clone_good();
    hdr(p)->data_off = 0;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "data region", "data off 0");

    p = clone_good();
    hdr(p)->data_off = PREP_SNAP_HEADER_SIZE - 1;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "data region", "data off 255");

    p = clone_good();
    hdr(p)->data_size = good.size;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "data region", "data size");

    p = clone_good();
    hdr(p)->data_off = UINT64_MAX;
    hdr(p)->data_size = 2;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "data region", "data wraps");

    p = clone_good();
    hdr(p)->data_size = UINT64_MAX;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "data region", "data max");

    /* a data region shrunk below its entries */
    p = clone_good();
    hdr(p)->data_size -= 1;
    expect_mutated(p, 0, PREP_SNAP_EBOUNDS, "entry", "data size - 1");

    /* file_size */
    p = clone_good();
    hdr(p)->file_size += 1;
    expect_mutated(p, 0, PREP_SNAP_ESIZE, NULL, "file_size + 1");

    p = clone_good();
    hdr(p)->file_size -= 1;
    expect_mutated(p, 0, PREP_SNAP_ESIZE, NULL, "file_size - 1");

    p = clone_good();
    hdr(p)->file_size = 0;
    expect_mutated(p, 0, PREP_SNAP_ESIZE, NULL, "file_size 0");

    big = malloc(good.size + 1);
    assert_non_null(big);
    memcpy(big, good.p, good.size);
    big[good.size] = 0;
    expect_open(big, good.size + 1, 0, PREP_SNAP_ESIZE, NULL, "one more");
    free(big);

    /* header_size, version, byte order, magic: resealed and not */
    p = clone_good();
    hdr(p)->header_size = 255;
    expect_mutated(p, 0, PREP_SNAP_EHEADER, NULL, "header size");

    p = clone_good();
    hdr(p)->header_size = 512;
    expect_mutated(p, 0, PREP_SNAP_EHEADER, NULL, "header size");

    p = clone_good();
    hdr(p)->version = 2;
    expect_mutated(p, 0, PREP_SNAP_EVERSION, "version 2", "version 2");

    p = clone_good();
    hdr(p)->version = 0;
    expect_open(p, good.size, 0, PREP_SNAP_EVERSION, "version 0",
                "version 0");
    free(p);

    p = clone_good();
    hdr(p)->byte_order = 0x04030201u;
    expect_mutated(p, 0, PREP_SNAP_EBYTEORDER, NULL, "byte order");

    p = clone_good();
    hdr(p)->byte_order = 0x04030201u;
    expect_open(p, good.size, 0, PREP_SNAP_EBYTEORDER, NULL, "byte order");
    free(p);

    p = clone_good();
    memcpy(hdr(p)->magic, "prepsnap", 8);
    expect_mutated(p, 0, PREP_SNAP_EMAGIC, NULL, "magic");
}


static void
test_corrupt_corte(void **state)
{
    uint8_t  *p;

    (void) state;

    p = clone_good();
    memset(hdr(p)->corte_id, 'x', PREP_SNAP_ID_LEN);
    expect_mutated(p, 0, PREP_SNAP_ECORTE, NULL, "id unterminated");

    p = clone_good();
    memset(hdr(p)->corte_id, 0, PREP_SNAP_ID_LEN);
    expect_mutated(p, 0, PREP_SNAP_ECORTE, NULL, "id empty");

    p = clone_good();
    memset(hdr(p)->corte_text, 'x', PREP_SNAP_TEXT_LEN);
    expect_mutated(p, 0, PREP_SNAP_ECORTE, NULL, "text unterminated");

    p = clone_good();
    hdr(p)->corte_utc_offset = 14 * 3600 + 1;
    expect_mutated(p, 0, PREP_SNAP_ECORTE, NULL, "offset +14:00:01");

    p = clone_good();
    hdr(p)->corte_utc_offset = -14 * 3600 - 1;
    expect_mutated(p, 0, PREP_SNAP_ECORTE, NULL, "offset -14:00:01");

    p = clone_good();
    hdr(p)->corte_utc_offset = INT32_MIN;
    expect_mutated(p, 0, PREP_SNAP_ECORTE, NULL, "offset min");

    p = clone_good();
    hdr(p)->corte_utc_offset = -14 * 3600;
    expect_mutated(p, 0, PREP_SNAP_OK, NULL, "offset -14:00");

    p = clone_good();
    hdr(p)->corte_time = 0;
    expect_mutated(p, 0, PREP_SNAP_ECORTE, NULL, "time 0");

    p = clone_good();
    hdr(p)->corte_time = INT64_MIN;
    expect_mutated(p, 0, PREP_SNAP_ECORTE, NULL, "time min");
}


static void
test_corrupt_foreign(void **state)
{
    size_t         i, len;
    uint8_t       *p;
    char           err[PREP_ERRLEN];
    prep_snap_t    s;
    static const char  html[] =
        "<!DOCTYPE html>\n<html lang=\"es\">\n<head>\n"
        "<meta charset=\"utf-8\">\n<title>PREP 2024</title>\n"
        "<link rel=\"stylesheet\" href=\"styles.css\">\n</head>\n"
        "<body>\n<div id=\"root\"></div>\n"
        "<noscript>Para ver el PREP habilite JavaScript en su "
        "navegador.</noscript>\n"
        "<script src=\"main.js\"></script>\n</body>\n</html>\n";

    (void) state;

    /* random bytes of several sizes */
    rng_seed(7);

    for (i = 0; i < 64; i++) {
        len = PREP_SNAP_HEADER_SIZE + rng_next() % 8192;
        p = malloc(len);
        assert_non_null(p);
        rng_fill(p, len);
        expect_open(p, len, PREP_SNAP_VERIFY_DATA, PREP_SNAP_EMAGIC, NULL,
                    "random");
        free(p);
    }

    /* an HTML page, as served by a misconfigured upstream */
    len = sizeof(html) - 1;
    assert_true(len >= PREP_SNAP_HEADER_SIZE);
    p = xmemdup(html, len);
    expect_open(p, len, 0, PREP_SNAP_EMAGIC, NULL, "html");
    free(p);

    p = xmemdup(html, 100);
    expect_open(p, 100, 0, PREP_SNAP_ETOOSMALL, NULL, "short html");
    free(p);

    /* a gzip stream (the package itself), all zeros, all ones */
    len = 4096;
    p = calloc(1, len);
    assert_non_null(p);
    expect_open(p, len, 0, PREP_SNAP_EMAGIC, NULL, "zeros");
    memcpy(p, "\x1f\x8b\x08\x00", 4);
    expect_open(p, len, 0, PREP_SNAP_EMAGIC, NULL, "gzip");
    memset(p, 0xff, len);
    expect_open(p, len, 0, PREP_SNAP_EMAGIC, NULL, "ones");

    /* the right magic and nothing else */
    memset(p, 0, len);
    memcpy(p, PREP_SNAP_MAGIC, PREP_SNAP_MAGIC_LEN);
    expect_open(p, len, 0, PREP_SNAP_EBYTEORDER, NULL, "magic only");

    /* a plausible header with no CRC */
    hdr(p)->byte_order = PREP_SNAP_BYTE_ORDER;
    hdr(p)->version = PREP_SNAP_VERSION;
    hdr(p)->header_size = PREP_SNAP_HEADER_SIZE;
    hdr(p)->file_size = len;
    expect_open(p, len, 0, PREP_SNAP_EHEADERCRC, NULL, "no crc");
    free(p);

    /* zero bytes, NULL */
    p = malloc(1);
    assert_non_null(p);
    expect_open(p, 0, 0, PREP_SNAP_ETOOSMALL, NULL, "zero size");
    free(p);

    expect_open(NULL, 0, 0, PREP_SNAP_ETOOSMALL, NULL, "NULL");
    expect_open(NULL, 4096, 0, PREP_SNAP_ETOOSMALL, NULL, "NULL, 4096");

    /* no room for a message, or little: no overrun, still terminated */
    assert_int_equal(prep_snap_open(&s, NULL, 0, 0, NULL, 0),
                     PREP_SNAP_ETOOSMALL);
    assert_int_equal(prep_snap_open(&s, NULL, 0, 0, NULL, 100),
                     PREP_SNAP_ETOOSMALL);

    for (len = 1; len < 64; len++) {
        memset(err, 'X', sizeof(err));
        assert_int_equal(prep_snap_open(&s, NULL, 0, 0, err, len),
                         PREP_SNAP_ETOOSMALL);
        assert_true(strlen(err) < len);
        assert_int_equal(err[len], 'X');
    }
}


/* odds and ends */


static void
test_strerror_crc(void **state)
{
    int       rc;
    size_t    i;
    uint8_t   buf[5000];
    uint32_t  crc;

    (void) state;

    for (rc = PREP_SNAP_OK; rc <= PREP_SNAP_ELIMIT; rc++) {
        assert_true(strlen(prep_snap_strerror(rc)) > 0);
        assert_string_not_equal(prep_snap_strerror(rc), "unknown error");
    }

    assert_string_equal(prep_snap_strerror(-1), "unknown error");
    assert_string_equal(prep_snap_strerror(PREP_SNAP_ELIMIT + 1),
                        "unknown error");

    /* zlib's CRC-32, also when fed in pieces */
    rng_seed(9);
    rng_fill(buf, sizeof(buf));

    assert_int_equal(prep_snap_crc32(0, buf, 0), 0);
    assert_int_equal(prep_snap_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(prep_snap_crc32(0, buf, sizeof(buf)),
                     (uint32_t) crc32(0, buf, sizeof(buf)));

    crc = 0;
    for (i = 0; i < sizeof(buf); i += 7) {
        crc = prep_snap_crc32(crc, buf + i,
                              sizeof(buf) - i < 7 ? sizeof(buf) - i : 7);
    }

    assert_int_equal(crc, (uint32_t) crc32(0, buf, sizeof(buf)));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_round_trip_chunks),
        cmocka_unit_test(test_round_trip_empty),
        cmocka_unit_test(test_round_trip_edge_entries),
        cmocka_unit_test(test_gzip_empty_variant),
        cmocka_unit_test(test_large_entries_page_aligned),
        cmocka_unit_test(test_corte_iso8601),
        cmocka_unit_test(test_corte_extreme_time),
        cmocka_unit_test(test_lookup_names),
        cmocka_unit_test(test_lookup_sizes),
        cmocka_unit_test(test_lookup_closed),
        cmocka_unit_test(test_writer_sorts_two),
        cmocka_unit_test(test_writer_duplicate),
        cmocka_unit_test(test_writer_invalid_path),
        cmocka_unit_test(test_writer_sequence),
        cmocka_unit_test(test_writer_flush),
        cmocka_unit_test(test_writer_after_finish),
        cmocka_unit_test(test_writer_io_error),
        cmocka_unit_test(test_writer_corte_agrees_with_reader),
        cmocka_unit_test(test_corrupt_baseline),
        cmocka_unit_test_setup(test_corrupt_truncated, require_good),
        cmocka_unit_test_setup(test_corrupt_truncated_strings, require_good),
        cmocka_unit_test_setup(test_corrupt_header_bits, require_good),
        cmocka_unit_test_setup(test_corrupt_index_bytes, require_good),
        cmocka_unit_test_setup(test_corrupt_data_bytes, require_good),
        cmocka_unit_test_setup(test_corrupt_entry_data, require_good),
        cmocka_unit_test_setup(test_corrupt_entry_gzip, require_good),
        cmocka_unit_test_setup(test_corrupt_entry_strings, require_good),
        cmocka_unit_test_setup(test_corrupt_order, require_good),
        cmocka_unit_test_setup(test_corrupt_header_fields, require_good),
        cmocka_unit_test_setup(test_corrupt_corte, require_good),
        cmocka_unit_test_setup(test_corrupt_foreign, require_good),
        cmocka_unit_test(test_strerror_crc),
    };

    return cmocka_run_group_tests(tests, setup_good, teardown_good);
}
