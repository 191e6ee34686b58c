/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of the statistics state file container (libprep/
 * prep_state.c): round trips, a too small buffer, and every kind of
 * damage a file can suffer on disk (truncation, extension, any flipped
 * bit, a newer version) or from a broken writer (sections that lie about
 * their length, their count or their checksum).
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prep_snap.h"
#include "prep_state.h"
#include "test_util.h"


#define TEST_BUF   4096


static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) (v >> 16);
    p[3] = (uint8_t) (v >> 24);
}


static void
put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t) v);
    put32(p + 4, (uint32_t) (v >> 32));
}


/* three sections: numbers, a string, an empty one */
static size_t
write_sample(uint8_t *buf, size_t size)
{
    prep_state_writer_t  w;

    prep_state_writer_init(&w, buf, size);

    prep_state_section_begin(&w, 1);
    prep_state_put_u32(&w, 0xdeadbeef);
    prep_state_put_u64(&w, 0x0102030405060708ull);
    prep_state_put_u64(&w, UINT64_MAX);

    prep_state_section_begin(&w, 7);
    prep_state_put_bytes(&w, "/assets/x.json", 14);

    prep_state_section_begin(&w, 9);
    prep_state_section_end(&w);

    return prep_state_writer_finish(&w, 1717391700);
}


/* after tampering with the body: new body and header checksums */
static void
reseal(uint8_t *buf, size_t len)
{
    put32(buf + 36, prep_snap_crc32(0, buf + PREP_STATE_HEADER_SIZE,
                                    len - PREP_STATE_HEADER_SIZE));
    put32(buf + 44, 0);
    put32(buf + 44, prep_snap_crc32(0, buf, PREP_STATE_HEADER_SIZE));
}


static int
open_rc(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    prep_state_reader_t  r;

    return prep_state_open(&r, buf, len, err, errlen);
}


static void
test_round_trip(void **state)
{
    int                    rc;
    size_t                 len;
    uint8_t                buf[TEST_BUF];
    const uint8_t         *p;
    prep_state_reader_t    r;
    prep_state_section_t   s;

    (void) state;

    len = write_sample(buf, sizeof(buf));
    assert_true(len > PREP_STATE_HEADER_SIZE);
    assert_int_equal(len % 8, 0);

    rc = prep_state_open(&r, buf, len, NULL, 0);
    assert_int_equal(rc, PREP_STATE_OK);
    assert_int_equal(r.created, 1717391700);
    assert_int_equal(r.version, PREP_STATE_VERSION);

    assert_true(prep_state_next(&r, &s));
    assert_int_equal(s.type, 1);
    assert_int_equal(prep_state_get_u32(&s), 0xdeadbeef);
    assert_true(prep_state_get_u64(&s) == 0x0102030405060708ull);
    assert_true(prep_state_get_u64(&s) == UINT64_MAX);
    assert_int_equal(prep_state_left(&s), 0);
    assert_false(s.short_read);

    assert_true(prep_state_next(&r, &s));
    assert_int_equal(s.type, 7);
    p = prep_state_get_bytes(&s, 14);
    assert_non_null(p);
    assert_memory_equal(p, "/assets/x.json", 14);

    assert_true(prep_state_next(&r, &s));
    assert_int_equal(s.type, 9);
    assert_int_equal(s.len, 0);

    assert_false(prep_state_next(&r, &s));
}


static void
test_no_sections(void **state)
{
    size_t                 len;
    uint8_t                buf[PREP_STATE_HEADER_SIZE];
    prep_state_writer_t    w;
    prep_state_reader_t    r;
    prep_state_section_t   s;

    (void) state;

    prep_state_writer_init(&w, buf, sizeof(buf));
    len = prep_state_writer_finish(&w, 0);
    assert_int_equal(len, PREP_STATE_HEADER_SIZE);

    assert_int_equal(prep_state_open(&r, buf, len, NULL, 0), PREP_STATE_OK);
    assert_false(prep_state_next(&r, &s));
}


static void
test_buffer_too_small(void **state)
{
    size_t    need, size;
    uint8_t  *buf;

    (void) state;

    buf = malloc(TEST_BUF);
    assert_non_null(buf);

    need = write_sample(buf, TEST_BUF);
    assert_true(need > 0);

    /* every smaller buffer fails cleanly (ASan checks the writes) */
    for (size = 0; size < need; size++) {
        uint8_t  *small = xmalloc(size);

        assert_int_equal(write_sample(small, size), 0);
        free(small);
    }

    free(buf);
}


static void
test_truncated_and_extended(void **state)
{
    int       rc;
    char      err[256];
    size_t    len, cut;
    uint8_t   buf[TEST_BUF];
    uint8_t  *copy;

    (void) state;

    len = write_sample(buf, sizeof(buf));

    for (cut = 0; cut < len; cut++) {
        /* an exact-size heap copy: ASan catches any read past it */
        copy = xmemdup(buf, cut);

        rc = open_rc(copy, cut, err, sizeof(err));
        assert_true(rc == PREP_STATE_ETOOSMALL || rc == PREP_STATE_ESIZE);
        free(copy);
    }

    rc = open_rc(buf, len - 1, err, sizeof(err));
    assert_int_equal(rc, PREP_STATE_ESIZE);
    assert_non_null(strstr(err, "truncated"));

    memset(buf + len, 0, 8);
    rc = open_rc(buf, len + 8, err, sizeof(err));
    assert_int_equal(rc, PREP_STATE_ESIZE);
}


static void
test_every_bit_flip(void **state)
{
    size_t    len, i;
    uint8_t   buf[TEST_BUF];
    unsigned  bit;

    (void) state;

    len = write_sample(buf, sizeof(buf));

    for (i = 0; i < len; i++) {
        for (bit = 0; bit < 8; bit++) {
            buf[i] ^= (uint8_t) (1u << bit);
            assert_int_not_equal(open_rc(buf, len, NULL, 0), PREP_STATE_OK);
            buf[i] ^= (uint8_t) (1u << bit);
        }
    }

    assert_int_equal(open_rc(buf, len, NULL, 0), PREP_STATE_OK);
}


static void
test_newer_version(void **state)
{
    char     err[256];
    size_t   len;
    uint8_t  buf[TEST_BUF];

    (void) state;

    len = write_sample(buf, sizeof(buf));
    put32(buf + 8, PREP_STATE_VERSION + 1);
    reseal(buf, len);

    assert_int_equal(open_rc(buf, len, err, sizeof(err)),
                     PREP_STATE_EVERSION);
    assert_non_null(strstr(err, "version 2"));
}


static void
test_bad_magic(void **state)
{
    size_t   len;
    uint8_t  buf[TEST_BUF];

    (void) state;

    len = write_sample(buf, sizeof(buf));
    memcpy(buf, "PREPSNAP", 8);

    assert_int_equal(open_rc(buf, len, NULL, 0), PREP_STATE_EMAGIC);
}


/* a broken writer: checksums match, the framing lies */
static void
test_lying_sections(void **state)
{
    char     err[256];
    size_t   len, first, i;
    uint8_t  buf[TEST_BUF], orig[TEST_BUF];

    static const uint32_t  counts[] = {
        4,              /* one section more than there are */
        2,              /* one less: bytes left after the last */
        0xffffffffu     /* an absurd count */
    };

    (void) state;

    len = write_sample(orig, sizeof(orig));
    first = PREP_STATE_HEADER_SIZE;

    /* a length past the end of the file */
    memcpy(buf, orig, len);
    put64(buf + first + 8, 1ull << 62);
    reseal(buf, len);
    assert_int_equal(open_rc(buf, len, err, sizeof(err)),
                     PREP_STATE_ESECTION);

    /* a length that leaves the padding outside */
    memcpy(buf, orig, len);
    put64(buf + first + 8, len - first - PREP_STATE_SECTION_SIZE - 1);
    reseal(buf, len);
    assert_int_not_equal(open_rc(buf, len, err, sizeof(err)),
                         PREP_STATE_OK);

    /* a payload changed without its section checksum */
    memcpy(buf, orig, len);
    buf[first + PREP_STATE_SECTION_SIZE] ^= 0x40;
    reseal(buf, len);
    assert_int_equal(open_rc(buf, len, err, sizeof(err)),
                     PREP_STATE_ESECTIONCRC);

    /* a section count that is not the 3 there are */
    for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        memcpy(buf, orig, len);
        put32(buf + 32, counts[i]);
        reseal(buf, len);
        assert_int_equal(open_rc(buf, len, err, sizeof(err)),
                         PREP_STATE_ESECTION);
    }

    /* a non-zero reserved field */
    memcpy(buf, orig, len);
    put32(buf + 40, 1);
    reseal(buf, len);
    assert_int_equal(open_rc(buf, len, err, sizeof(err)),
                     PREP_STATE_EHEADER);
}


static void
test_cursor_bounds(void **state)
{
    size_t                 len;
    uint8_t                buf[TEST_BUF];
    prep_state_reader_t    r;
    prep_state_section_t   s;

    (void) state;

    len = write_sample(buf, sizeof(buf));
    assert_int_equal(prep_state_open(&r, buf, len, NULL, 0), PREP_STATE_OK);

    assert_true(prep_state_next(&r, &s));
    (void) prep_state_get_u32(&s);
    (void) prep_state_get_u64(&s);
    (void) prep_state_get_u64(&s);
    assert_false(s.short_read);

    assert_int_equal(prep_state_get_u32(&s), 0);
    assert_true(s.short_read);
    assert_int_equal(prep_state_get_u64(&s), 0);
    assert_null(prep_state_get_bytes(&s, 1));
    assert_int_equal(prep_state_left(&s), 0);

    /* a string section read as a bigger one */
    assert_true(prep_state_next(&r, &s));
    assert_null(prep_state_get_bytes(&s, 15));
    assert_true(s.short_read);
}


static void
test_random_garbage(void **state)
{
    size_t    len, n;
    uint8_t  *buf;

    (void) state;

    rng_seed(4);

    for (n = 0; n < 2000; n++) {
        len = rng_next() % 512;
        buf = xmalloc(len);
        rng_fill(buf, len);

        /* half of them with a plausible header */
        if (len >= PREP_STATE_HEADER_SIZE && (n & 1)) {
            memcpy(buf, PREP_STATE_MAGIC, 8);
            put32(buf + 8, PREP_STATE_VERSION);
            put32(buf + 12, PREP_STATE_HEADER_SIZE);
            put64(buf + 16, len);
            put32(buf + 32, rng_next() % 8);
            put32(buf + 40, 0);
            reseal(buf, len);
        }

        assert_int_not_equal(open_rc(buf, len, NULL, 0), PREP_STATE_OK);
        free(buf);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_no_sections),
        cmocka_unit_test(test_buffer_too_small),
        cmocka_unit_test(test_truncated_and_extended),
        cmocka_unit_test(test_every_bit_flip),
        cmocka_unit_test(test_newer_version),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_lying_sections),
        cmocka_unit_test(test_cursor_bounds),
        cmocka_unit_test(test_random_garbage),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
