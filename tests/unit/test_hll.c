/*
 * Copyright (C) the ngx_prep authors
 *
 * HyperLogLog accuracy and SipHash-2-4 reference vectors.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "prep_hll.h"


static const uint8_t  test_key[16] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
};


static uint64_t
test_id_hash(uint64_t id)
{
    uint8_t  buf[8];

    memcpy(buf, &id, sizeof(buf));

    return prep_siphash24(test_key, buf, sizeof(buf));
}


static double
test_error(uint64_t estimate, uint64_t truth)
{
    return fabs((double) estimate - (double) truth) / (double) truth;
}


static void
test_siphash_vectors(void **state)
{
    uint8_t  msg[64];
    size_t   i;

    (void) state;

    for (i = 0; i < sizeof(msg); i++) {
        msg[i] = (uint8_t) i;
    }

    /* from the SipHash paper and its reference implementation */
    assert_int_equal(prep_siphash24(test_key, msg, 0),
                     0x726fdb47dd0e0e31ULL);
    assert_int_equal(prep_siphash24(test_key, msg, 15),
                     0xa129ca6149be45e5ULL);
    assert_int_equal(prep_siphash24(test_key, msg, 8),
                     0x93f5f5799a932462ULL);
}


static void
test_siphash_key_matters(void **state)
{
    uint8_t  other[16];

    (void) state;

    memcpy(other, test_key, sizeof(other));
    other[15] ^= 1;

    assert_true(prep_siphash24(test_key, "10.0.0.1", 8)
                != prep_siphash24(other, "10.0.0.1", 8));
}


static void
test_hll_empty(void **state)
{
    uint8_t  regs[1 << 14];

    (void) state;

    memset(regs, 0, sizeof(regs));
    assert_int_equal(prep_hll_count(regs, 14), 0);
}


static void
test_hll_small_exact_enough(void **state)
{
    uint8_t   regs[1 << 14];
    uint64_t  i, n;

    (void) state;

    /* linear counting: small sets are counted almost exactly */
    for (n = 1; n <= 1000; n *= 10) {
        memset(regs, 0, sizeof(regs));

        for (i = 0; i < n; i++) {
            prep_hll_add(regs, 14, test_id_hash(i));
            prep_hll_add(regs, 14, test_id_hash(i));
        }

        assert_true(test_error(prep_hll_count(regs, 14), n) <= 0.01);
    }
}


static void
test_hll_million(void **state)
{
    uint8_t   *regs;
    uint64_t   i, est;
    double     err;

    (void) state;

    regs = calloc(1, prep_hll_size(14));
    assert_non_null(regs);

    for (i = 0; i < 1000000; i++) {
        prep_hll_add(regs, 14, test_id_hash(i));
    }

    est = prep_hll_count(regs, 14);
    err = test_error(est, 1000000);
    print_message("p=14, 10^6 ids: estimate %llu, error %.3f%%\n",
                  (unsigned long long) est, err * 100);

    /* 0.81% standard error: 2 sigma */
    assert_true(err < 0.0163);

    free(regs);
}


static void
test_hll_merge(void **state)
{
    uint8_t  *a, *b;
    uint64_t  i, est;

    (void) state;

    a = calloc(1, prep_hll_size(14));
    b = calloc(1, prep_hll_size(14));
    assert_non_null(a);
    assert_non_null(b);

    /* two servers, 60k visitors each, 20k seen by both */
    for (i = 0; i < 60000; i++) {
        prep_hll_add(a, 14, test_id_hash(i));
        prep_hll_add(b, 14, test_id_hash(i + 40000));
    }

    prep_hll_merge(a, b, 14);
    est = prep_hll_count(a, 14);

    assert_true(test_error(est, 100000) < 0.0163);

    free(a);
    free(b);
}


static void
test_hll_all_zero_hash(void **state)
{
    uint8_t  regs[16];

    (void) state;

    /* the rank of an all-zero remainder is bounded, not undefined */
    memset(regs, 0, sizeof(regs));
    prep_hll_add(regs, 4, 0);
    assert_int_equal(regs[0], 64 - 4 + 1);
    assert_true(prep_hll_count(regs, 4) >= 1);
}


/* prep_hll_index() names the register and rank prep_hll_add() uses */
static void
test_hll_index_agrees_with_add(void **state)
{
    size_t    index;
    uint8_t   regs[1 << 14], rank;
    uint64_t  i, hash;

    (void) state;

    for (i = 0; i < 100000; i++) {
        hash = test_id_hash(i);
        memset(regs, 0, sizeof(regs));

        prep_hll_add(regs, 14, hash);
        index = prep_hll_index(14, hash, &rank);

        assert_true(index < sizeof(regs));
        assert_true(rank >= 1 && rank <= 64 - 14 + 1);
        assert_int_equal(regs[index], rank);
    }

    assert_int_equal(prep_hll_index(14, 0, &rank), 0);
    assert_int_equal(rank, 64 - 14 + 1);
    assert_int_equal(prep_hll_index(14, UINT64_MAX, &rank), (1 << 14) - 1);
    assert_int_equal(rank, 1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_siphash_key_matters),
        cmocka_unit_test(test_hll_empty),
        cmocka_unit_test(test_hll_small_exact_enough),
        cmocka_unit_test(test_hll_million),
        cmocka_unit_test(test_hll_merge),
        cmocka_unit_test(test_hll_all_zero_hash),
        cmocka_unit_test(test_hll_index_agrees_with_add),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
