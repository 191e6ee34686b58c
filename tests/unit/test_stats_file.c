/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of the statistics model (libprep/prep_stats_file.c): a
 * version 2 round trip of every field, a version 1 file as the module
 * wrote it, truncation at every byte, sections whose checksums are right
 * but whose contents are not, and merging origins (sums, HLL union, the
 * visitor key check).
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prep_hll.h"
#include "prep_state.h"
#include "prep_stats_file.h"
#include "test_util.h"


static prep_stats_t *
make_model(uint64_t key_id, uint64_t visitor_base, int with_hll)
{
    size_t                i;
    uint8_t              *regs;
    prep_stats_t         *st;
    prep_stats_row_t     *row;
    prep_stats_period_t  *p;

    st = prep_stats_new();
    assert_non_null(st);

    st->created = 1717380000;
    st->since = 1717300000;
    st->utc_offset = -6 * 3600;
    st->key_id = key_id;
    st->paths_max = 8192;

    st->totals.hits = 1000;
    st->totals.pages = 300;
    st->totals.bytes = 123456789;
    st->totals.classes[1] = 990;
    st->totals.classes[3] = 10;
    st->totals.visits = 40;
    st->totals.sessions = 30;
    st->totals.session_ms = 900000;
    st->totals.histogram[0] = 10;
    st->totals.histogram[6] = 20;
    st->totals.evictions = 2;
    st->totals.unlisted = 3;
    st->totals.bot_hits = 77;
    st->totals.bot_bytes = 7777;

    p = prep_stats_bucket(st, 5724600);
    assert_non_null(p);
    p->hits = 10;
    p->pages = 3;
    p->bytes = 1000;
    p->visitors = 2;
    p->visits = 2;
    p->bot_hits = 1;
    p->bot_bytes = 50;
    p->flags = PREP_STATS_SERVING;
    strcpy(p->corte, "20240602_2015");

    p = prep_stats_hour(st, 477050);
    assert_non_null(p);
    p->hits = 100;
    p->visitors = 20;

    p = prep_stats_day(st, 19876);
    assert_non_null(p);
    p->hits = 1000;
    p->pages = 300;
    p->visits = 40;

    st->salts[0].day = 19876;
    memset(st->salts[0].key, 0xab, 16);

    row = prep_stats_row(st, NULL, 0);
    assert_non_null(row);
    row->hits = 5;

    row = prep_stats_row(st, "/index.html", 11);
    assert_non_null(row);
    row->hits = 500;
    row->pages = 300;
    row->bytes = 100000;

    row = prep_stats_row(st, "/data/a.json", 12);
    assert_non_null(row);
    row->hits = 495;
    row->bytes = 23456789;

    assert_int_equal(prep_stats_add_session(st, 42, 1000, 2000), 0);
    assert_int_equal(prep_stats_add_session(st, 43, 1500, 2500), 0);

    if (with_hll) {
        regs = prep_stats_day_hll(st, 19876);
        assert_non_null(regs);

        for (i = 0; i < 1000; i++) {
            prep_hll_add(regs, PREP_STATS_DAY_P,
                         prep_siphash24((const uint8_t *) "0123456789abcdef",
                                        &(uint64_t) { visitor_base + i }, 8));
        }

        regs = prep_stats_hour_hll(st, 477050);
        assert_non_null(regs);
        prep_hll_add(regs, PREP_STATS_HOUR_P, 0x123456789abcdefULL);

        st->hll_all.tag = 1;
        prep_hll_add(st->hll_all.registers, PREP_STATS_ALL_P, 99);
    }

    return st;
}


static uint8_t *
encode(const prep_stats_t *st, size_t *len)
{
    size_t    size;
    uint8_t  *buf;

    size = prep_stats_encoded_size(st);
    buf = xmalloc(size);
    *len = prep_stats_encode(st, buf, size);
    assert_true(*len > 0);
    assert_true(*len <= size);

    /* one byte short of the file is refused, not overrun */
    assert_int_equal(prep_stats_encode(st, buf, *len - 1), 0);
    *len = prep_stats_encode(st, buf, size);

    return buf;
}


static void
test_round_trip(void **state)
{
    char           err[256];
    size_t         len;
    uint8_t       *buf;
    prep_stats_t  *a, *b;
    prep_stats_period_t  *p;

    (void) state;

    a = make_model(7, 0, 1);
    buf = encode(a, &len);

    b = prep_stats_new();
    assert_int_equal(prep_stats_decode(b, buf, len, err, sizeof(err)), 0);

    assert_int_equal(b->version, 2);
    assert_int_equal(b->created, a->created);
    assert_int_equal(b->since, a->since);
    assert_int_equal(b->utc_offset, a->utc_offset);
    assert_int_equal(b->key_id, 7);
    assert_int_equal(b->paths_max, 8192);
    assert_memory_equal(&b->totals, &a->totals, sizeof(a->totals));

    p = &b->buckets[5724600 % PREP_STATS_BUCKETS];
    assert_int_equal(p->id, 5724600);
    assert_int_equal(p->hits, 10);
    assert_int_equal(p->bot_hits, 1);
    assert_int_equal(p->bot_bytes, 50);
    assert_int_equal(p->flags, PREP_STATS_SERVING);
    assert_string_equal(p->corte, "20240602_2015");

    assert_int_equal(b->hours[477050 % PREP_STATS_HOURS].visitors, 20);
    assert_int_equal(b->days[19876 % PREP_STATS_DAYS].visits, 40);

    assert_memory_equal(b->hll_day[19876 % 64].registers,
                        a->hll_day[19876 % 64].registers,
                        sizeof(a->hll_day[0].registers));
    assert_memory_equal(b->hll_hour[477050 % 256].registers,
                        a->hll_hour[477050 % 256].registers,
                        sizeof(a->hll_hour[0].registers));
    assert_int_equal(b->hll_all.tag, 1);

    assert_int_equal(b->salts[0].day, 19876);
    assert_memory_equal(b->salts[0].key, a->salts[0].key, 16);

    assert_int_equal(b->nrows, 3);
    assert_int_equal(b->rows[0].hits, 5);
    assert_string_equal(b->rows[1].path, "/index.html");
    assert_int_equal(b->rows[2].bytes, 23456789);

    assert_int_equal(b->nsessions, 2);
    assert_int_equal(b->sessions[1].visitor, 43);
    assert_int_equal(b->sessions[1].last, 2500);

    free(buf);
    prep_stats_free(a);
    prep_stats_free(b);
}


/* the keys stay home: without them, no salts section at all */
static void
test_no_salts_section(void **state)
{
    int                   salts;
    char                  err[256];
    size_t                len;
    uint8_t              *buf;
    prep_stats_t         *a;
    prep_state_reader_t   r;
    prep_state_section_t  s;

    (void) state;

    a = make_model(7, 0, 1);
    memset(a->salts, 0, sizeof(a->salts));
    buf = encode(a, &len);

    assert_int_equal(prep_state_open(&r, buf, len, err, sizeof(err)),
                     PREP_STATE_OK);

    salts = 0;

    while (prep_state_next(&r, &s)) {
        salts += (s.type == PREP_STATS_SEC_SALTS);
    }

    assert_int_equal(salts, 0);
    free(buf);

    a->salts[1].day = 19877;
    buf = encode(a, &len);
    assert_int_equal(prep_state_open(&r, buf, len, err, sizeof(err)),
                     PREP_STATE_OK);

    while (prep_state_next(&r, &s)) {
        salts += (s.type == PREP_STATS_SEC_SALTS);
    }

    assert_int_equal(salts, 1);

    free(buf);
    prep_stats_free(a);
}


/* the sections of version 1, as ngx_http_prep_stats_state.c wrote them */
static void
test_read_v1(void **state)
{
    char                  err[256];
    size_t                len, i, size;
    uint8_t              *buf, regs[1 << 14];
    prep_stats_t         *st;
    prep_state_writer_t   w;

    (void) state;

    size = 64 * 1024;
    buf = xmalloc(size);

    prep_state_writer_init(&w, buf, size);
    w.version = 1;

    prep_state_section_begin(&w, PREP_STATS_SEC_META);
    prep_state_put_u64(&w, 1717300000);
    prep_state_put_u64(&w, 1717380000);
    prep_state_put_u64(&w, 14);
    prep_state_put_u64(&w, 300);
    prep_state_put_u64(&w, 4096);

    prep_state_section_begin(&w, PREP_STATS_SEC_COUNTERS);
    prep_state_put_u32(&w, 21);

    for (i = 0; i < 21; i++) {
        prep_state_put_u64(&w, i + 1);
    }

    memset(regs, 0, sizeof(regs));
    regs[5] = 3;
    regs[(1 << 12) + 5] = 7;     /* folds onto register 5 at p=12 */

    prep_state_section_begin(&w, PREP_STATS_SEC_HLL);
    prep_state_put_u32(&w, PREP_STATS_HLL_HOUR);
    prep_state_put_u64(&w, 477050);
    prep_state_put_u32(&w, 14);
    prep_state_put_bytes(&w, regs, sizeof(regs));

    prep_state_section_begin(&w, PREP_STATS_SEC_HLL);
    prep_state_put_u32(&w, PREP_STATS_HLL_DAY);
    prep_state_put_u64(&w, 19876);
    prep_state_put_u32(&w, 14);
    prep_state_put_bytes(&w, regs, sizeof(regs));

    prep_state_section_begin(&w, PREP_STATS_SEC_PERIODS);
    prep_state_put_u32(&w, PREP_STATS_RING_DAYS);
    prep_state_put_u32(&w, 6);
    prep_state_put_u32(&w, 1);
    prep_state_put_u64(&w, 19876);
    prep_state_put_u64(&w, 100);
    prep_state_put_u64(&w, 30);
    prep_state_put_u64(&w, 5000);
    prep_state_put_u64(&w, 12);
    prep_state_put_u64(&w, 15);

    prep_state_section_begin(&w, PREP_STATS_SEC_ROWS);
    prep_state_put_u32(&w, 2);
    prep_state_put_u64(&w, 1);
    prep_state_put_u64(&w, 0);
    prep_state_put_u64(&w, 10);
    prep_state_put_u32(&w, 0);
    prep_state_put_u64(&w, 99);
    prep_state_put_u64(&w, 30);
    prep_state_put_u64(&w, 4990);
    prep_state_put_u32(&w, 2);
    prep_state_put_bytes(&w, "/x", 2);

    /* a section of a newer build is skipped */
    prep_state_section_begin(&w, 999);
    prep_state_put_u64(&w, 1);

    len = prep_state_writer_finish(&w, 1717380000);
    assert_true(len > 0);

    st = prep_stats_new();
    assert_int_equal(prep_stats_decode(st, buf, len, err, sizeof(err)), 0);

    assert_int_equal(st->version, 1);
    assert_int_equal(st->since, 1717300000);
    assert_int_equal(st->paths_max, 4096);
    assert_int_equal(st->key_id, 0);
    assert_int_equal(st->totals.hits, 1);
    assert_int_equal(st->totals.unlisted, 21);
    assert_int_equal(st->totals.bot_hits, 0);

    assert_int_equal(st->days[19876 % 64].visits, 15);
    assert_int_equal(st->days[19876 % 64].bot_hits, 0);
    assert_int_equal(st->hll_hour[477050 % 256].tag, 477050);
    assert_int_equal(st->hll_hour[477050 % 256].registers[5], 7);
    assert_int_equal(st->hll_day[19876 % 64].registers[(1 << 12) + 5], 7);

    assert_int_equal(st->nrows, 2);
    assert_string_equal(st->rows[1].path, "/x");

    prep_stats_free(st);
    free(buf);
}


static void
test_truncated(void **state)
{
    char           err[256];
    size_t         len, cut;
    uint8_t       *buf, *copy;
    prep_stats_t  *a, *b;

    (void) state;

    a = make_model(1, 0, 0);
    buf = encode(a, &len);

    b = prep_stats_new();

    for (cut = 0; cut < len; cut++) {
        copy = xmemdup(buf, cut ? cut : 1);
        err[0] = '\0';
        assert_int_equal(prep_stats_decode(b, copy, cut, err, sizeof(err)),
                         -1);
        assert_true(err[0] != '\0');
        free(copy);
    }

    prep_stats_free(b);
    free(buf);
    prep_stats_free(a);
}


typedef void (*section_pt)(prep_state_writer_t *w);


static void
bad_rows_path(prep_state_writer_t *w)
{
    prep_state_section_begin(w, PREP_STATS_SEC_ROWS);
    prep_state_put_u32(w, 1);
    prep_state_put_u64(w, 1);
    prep_state_put_u64(w, 1);
    prep_state_put_u64(w, 1);
    prep_state_put_u32(w, 3);
    prep_state_put_bytes(w, "abc", 3);
}


static void
bad_rows_count(prep_state_writer_t *w)
{
    prep_state_section_begin(w, PREP_STATS_SEC_ROWS);
    prep_state_put_u32(w, 1000000);
}


static void
bad_hll_p(prep_state_writer_t *w)
{
    uint8_t  regs[1 << 10];

    memset(regs, 0, sizeof(regs));
    prep_state_section_begin(w, PREP_STATS_SEC_HLL);
    prep_state_put_u32(w, PREP_STATS_HLL_DAY);
    prep_state_put_u64(w, 5);
    prep_state_put_u32(w, 10);
    prep_state_put_bytes(w, regs, sizeof(regs));
}


static void
bad_hll_short(prep_state_writer_t *w)
{
    prep_state_section_begin(w, PREP_STATS_SEC_HLL);
    prep_state_put_u32(w, PREP_STATS_HLL_DAY);
    prep_state_put_u64(w, 5);
    prep_state_put_u32(w, 14);
    prep_state_put_u64(w, 0);
}


static void
bad_ring_fields(prep_state_writer_t *w)
{
    prep_state_section_begin(w, PREP_STATS_SEC_PERIODS);
    prep_state_put_u32(w, PREP_STATS_RING_HOURS);
    prep_state_put_u32(w, 3);
    prep_state_put_u32(w, 0);
}


static void
bad_ring_kind(prep_state_writer_t *w)
{
    prep_state_section_begin(w, PREP_STATS_SEC_PERIODS);
    prep_state_put_u32(w, 9);
    prep_state_put_u32(w, 6);
    prep_state_put_u32(w, 0);
}


static void
bad_counters(prep_state_writer_t *w)
{
    prep_state_section_begin(w, PREP_STATS_SEC_COUNTERS);
    prep_state_put_u32(w, 50);
    prep_state_put_u64(w, 1);
}


static void
bad_corte(prep_state_writer_t *w)
{
    prep_state_section_begin(w, PREP_STATS_SEC_CORTES);
    prep_state_put_u32(w, 1);
    prep_state_put_u64(w, 5);
    prep_state_put_u32(w, 100);
}


static void
bad_meta_p(prep_state_writer_t *w)
{
    prep_state_section_begin(w, PREP_STATS_SEC_META);
    prep_state_put_u64(w, 1);
    prep_state_put_u64(w, 1);
    prep_state_put_u64(w, 12);
    prep_state_put_u64(w, 300);
    prep_state_put_u64(w, 1);
}


static void
bad_sessions(prep_state_writer_t *w)
{
    prep_state_section_begin(w, PREP_STATS_SEC_SESSIONS);
    prep_state_put_u32(w, 2);
    prep_state_put_u64(w, 1);
    prep_state_put_u64(w, 1);
    prep_state_put_u64(w, 1);
}


static void
test_corrupt_sections(void **state)
{
    char                 err[256];
    size_t               i, len;
    uint8_t             *buf;
    prep_stats_t        *st;
    prep_state_writer_t  w;

    static const struct {
        section_pt   write;
        const char  *says;
    } bad[] = {
        { bad_rows_path, "row 0" },
        { bad_rows_count, "rows do not fit" },
        { bad_hll_p, "p=10" },
        { bad_hll_short, "truncated" },
        { bad_ring_fields, "3 fields" },
        { bad_ring_kind, "kind 9" },
        { bad_counters, "50 counters" },
        { bad_corte, "100 bytes" },
        { bad_meta_p, "p=12" },
        { bad_sessions, "2 sessions" },
    };

    (void) state;

    buf = xmalloc(64 * 1024);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        prep_state_writer_init(&w, buf, 64 * 1024);
        bad[i].write(&w);
        len = prep_state_writer_finish(&w, 1);
        assert_true(len > 0);

        st = prep_stats_new();
        err[0] = '\0';
        assert_int_equal(prep_stats_decode(st, buf, len, err, sizeof(err)),
                         -1);

        if (strstr(err, bad[i].says) == NULL) {
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err,
                     bad[i].says);
        }

        prep_stats_free(st);
    }

    free(buf);
}


static void
test_merge(void **state)
{
    uint64_t       n;
    prep_stats_t  *all, *a, *b, *c;
    prep_stats_period_t  *p;

    (void) state;

    /* visitors 0..999 and 500..1499 under the same key: 1500 distinct */
    a = make_model(7, 0, 1);
    b = make_model(7, 500, 1);
    b->since = 1717200000;
    strcpy(b->buckets[5724600 % PREP_STATS_BUCKETS].corte, "20240602_2030");

    all = prep_stats_new();
    assert_int_equal(prep_stats_merge(all, a), 0);
    assert_int_equal(prep_stats_merge(all, b), 0);

    assert_int_equal(all->origins, 2);
    assert_int_equal(all->key_id, 7);
    assert_int_equal(all->flags & PREP_STATS_F_KEYS_DIFFER, 0);
    assert_int_equal(all->since, 1717200000);
    assert_int_equal(all->totals.hits, 2000);
    assert_int_equal(all->totals.bot_bytes, 2 * 7777);
    assert_int_equal(all->totals.histogram[6], 40);

    p = &all->buckets[5724600 % PREP_STATS_BUCKETS];
    assert_int_equal(p->hits, 20);
    assert_int_equal(p->flags, PREP_STATS_SERVING);
    assert_string_equal(p->corte, "20240602_2030");

    n = all->days[19876 % PREP_STATS_DAYS].visitors;
    assert_true(n > 1500 - 45 && n < 1500 + 45);

    assert_int_equal(all->nrows, 3);
    assert_int_equal(all->rows[1].hits, 1000);
    assert_int_equal(all->rows[0].hits, 10);
    assert_int_equal(all->nsessions, 4);

    /* a third origin with its own random key: flagged */
    c = make_model(0, 0, 1);
    assert_int_equal(prep_stats_merge(all, c), 0);
    assert_true(all->flags & PREP_STATS_F_KEYS_DIFFER);

    prep_stats_free(a);
    prep_stats_free(b);
    prep_stats_free(c);
    prep_stats_free(all);
}


static void
test_rows_many(void **state)
{
    char               path[32];
    size_t             i;
    prep_stats_t      *st;
    prep_stats_row_t  *row;

    (void) state;

    st = prep_stats_new();

    for (i = 0; i < 20000; i++) {
        snprintf(path, sizeof(path), "/p/%zu", i % 5000);
        row = prep_stats_row(st, path, strlen(path));
        assert_non_null(row);
        row->hits++;
    }

    assert_int_equal(st->nrows, 5001);

    for (i = 1; i < st->nrows; i++) {
        assert_int_equal(st->rows[i].hits, 4);
    }

    /* an older period than the ring reaches is not handed out */
    assert_non_null(prep_stats_day(st, 1000));
    assert_null(prep_stats_day(st, 1000 - PREP_STATS_DAYS));

    prep_stats_free(st);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_read_v1),
        cmocka_unit_test(test_no_salts_section),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt_sections),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_rows_many),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
