/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of the decision against the live corte (daemon/decide.c),
 * the one rule watch acts on and check reports.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/ingest_decide.h"


static uint8_t  sha_a[PREP_SHA256_LEN] = { 0xaa, 0x01 };
static uint8_t  sha_b[PREP_SHA256_LEN] = { 0xbb, 0x02 };


static void
live_at(ingest_live_t *live, int64_t t, const uint8_t *sha)
{
    memset(live, 0, sizeof(*live));
    live->have = 1;
    live->corte_time = t;
    (void) snprintf(live->corte_id, sizeof(live->corte_id),
                    "20240603_0015");
    (void) snprintf(live->iso, sizeof(live->iso),
                    "2024-06-03T00:15:00-05:00");
    memcpy(live->sha256, sha, PREP_SHA256_LEN);
}


static ingest_candidate_t
cand_at(int64_t t, const uint8_t *sha)
{
    ingest_candidate_t  c;

    c.id = "20240603_0030";
    c.iso = "2024-06-03T00:30:00-05:00";
    c.time = t;
    c.sha256 = sha;

    return c;
}


static void
test_nothing_live_publishes(void **state)
{
    ingest_err_t        err;
    ingest_live_t       live;
    ingest_candidate_t  c;

    (void) state;

    c = cand_at(1000, sha_a);
    ingest_err_reset(&err);
    assert_int_equal(ingest_decide(NULL, &c, &err), INGEST_DECIDE_PUBLISH);

    memset(&live, 0, sizeof(live));
    assert_int_equal(ingest_decide(&live, &c, &err), INGEST_DECIDE_PUBLISH);
    assert_int_equal(err.msg[0], '\0');
}


static void
test_newer_publishes(void **state)
{
    ingest_err_t        err;
    ingest_live_t       live;
    ingest_candidate_t  c;

    (void) state;

    live_at(&live, 1000, sha_a);
    c = cand_at(1900, sha_b);
    ingest_err_reset(&err);
    assert_int_equal(ingest_decide(&live, &c, &err), INGEST_DECIDE_PUBLISH);
}


static void
test_older_is_refused(void **state)
{
    ingest_err_t        err;
    ingest_live_t       live;
    ingest_candidate_t  c;

    (void) state;

    live_at(&live, 1900, sha_a);
    c = cand_at(1000, sha_b);
    ingest_err_reset(&err);
    assert_int_equal(ingest_decide(&live, &c, &err), INGEST_DECIDE_REFUSE);
    assert_int_equal(err.reason, INGEST_OLDER_CORTE);
    assert_non_null(strstr(err.msg, "20240603_0030"));
    assert_non_null(strstr(err.msg, "older than the live corte "
                                     "20240603_0015"));

    /* older is refused even when it is byte for byte the live package */
    c = cand_at(1000, sha_a);
    ingest_err_reset(&err);
    assert_int_equal(ingest_decide(&live, &c, &err), INGEST_DECIDE_REFUSE);
    assert_int_equal(err.reason, INGEST_OLDER_CORTE);
}


static void
test_same_corte(void **state)
{
    ingest_err_t        err;
    ingest_live_t       live;
    ingest_candidate_t  c;

    (void) state;

    live_at(&live, 1000, sha_a);

    c = cand_at(1000, sha_a);
    ingest_err_reset(&err);
    assert_int_equal(ingest_decide(&live, &c, &err), INGEST_DECIDE_LIVE);
    assert_int_equal(err.msg[0], '\0');

    c = cand_at(1000, sha_b);
    ingest_err_reset(&err);
    assert_int_equal(ingest_decide(&live, &c, &err), INGEST_DECIDE_REFUSE);
    assert_int_equal(err.reason, INGEST_CORTE_CONFLICT);
    assert_non_null(strstr(err.msg, "SHA-256 aa01"));
    assert_non_null(strstr(err.msg, "never replaced"));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_nothing_live_publishes),
        cmocka_unit_test(test_newer_publishes),
        cmocka_unit_test(test_older_is_refused),
        cmocka_unit_test(test_same_corte),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
