/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of Prometheus label value escaping (libprep/prep_prom.c).
 * Every escape goes into a heap buffer of exactly prep_prom_label_len()
 * bytes, so ASan reports any disagreement between length and escaper.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prep_json.h"
#include "prep_prom.h"
#include "test_util.h"


#define FFFD            "\xEF\xBF\xBD"
#define S(lit)          lit, sizeof(lit) - 1


/* a NUL-terminated copy of the escaped form, checked as for JSON */
static char *
escape(const char *src, size_t len, size_t *out_len)
{
    return escape_exact(prep_prom_label_len, prep_prom_label_escape, src,
                        len, out_len);
}


static void
expect(const char *src, size_t len, const char *want)
{
    char  *got;

    got = escape(src, len, NULL);
    assert_string_equal(got, want);
    free(got);
}


/*
 * The value as the exposition format's reader sees it: every escape
 * undone.  A correct escape leaves no raw quote or line feed, and no
 * backslash that does not start one of the three escapes.
 */
static void
assert_parses(const char *esc, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        assert_true(esc[i] != '"' && esc[i] != '\n' && esc[i] != '\r');

        if (esc[i] == '\\') {
            assert_true(i + 1 < len);
            assert_true(esc[i + 1] == '\\' || esc[i + 1] == '"'
                        || esc[i + 1] == 'n');
            i++;
        }
    }

    assert_true(prep_utf8_valid(esc, len));
}


static void
test_plain_paths(void **state)
{
    (void) state;

    expect(S(""), "");
    expect(S("/index.html"), "/index.html");
    expect(S("/assets/ayuntamientos/entidad/23_0001.json"),
           "/assets/ayuntamientos/entidad/23_0001.json");
    expect(S("/bd/Benito Ju\xC3\xA1rez/a\xC3\xB1o.csv"),
           "/bd/Benito Ju\xC3\xA1rez/a\xC3\xB1o.csv");
    expect(S("\xF0\x9F\x97\xB3"), "\xF0\x9F\x97\xB3");
}


static void
test_the_three_escapes(void **state)
{
    (void) state;

    expect(S("a\"b"), "a\\\"b");
    expect(S("a\\b"), "a\\\\b");
    expect(S("a\nb"), "a\\nb");
    expect(S("\\\"\n"), "\\\\\\\"\\n");
    expect(S("end\\"), "end\\\\");
}


static void
test_breakers_replaced(void **state)
{
    (void) state;

    /* the vts #142 case: one invalid byte in a label value */
    expect(S("\xfftest-api"), FFFD "test-api");
    expect(S("a\rb"), "a" FFFD "b");
    expect(S("a\tb"), "a" FFFD "b");
    expect(S("a\x7f" "b"), "a" FFFD "b");
    expect(S("nul\0x"), "nul" FFFD "x");
    expect(S("\xC2\x85"), FFFD);
    expect(S("\xE2\x80\xA8|\xE2\x80\xA9"), FFFD "|" FFFD);

    /* overlong, surrogate, truncated, above U+10FFFF */
    expect(S("\xC0\xAF"), FFFD FFFD);
    expect(S("\xED\xA0\x80"), FFFD FFFD FFFD);
    expect(S("\xE2\x82"), FFFD FFFD);
    expect(S("\xF4\x90\x80\x80"), FFFD FFFD FFFD FFFD);
}


static void
test_random_bytes_always_parse(void **state)
{
    char    *src, *esc;
    size_t   len, n, i, round;

    (void) state;

    rng_seed(7);

    for (round = 0; round < 5000; round++) {
        len = rng_next() % 64;
        src = xmalloc(len);

        for (i = 0; i < len; i++) {
            /* biased towards the interesting bytes */
            switch (rng_next() % 4) {
            case 0:
                src[i] = "\"\\\n\r\x80\xc3\xe2\xff"[rng_next() % 8];
                break;
            default:
                src[i] = (char) rng_next();
            }
        }

        esc = escape(src, len, &n);
        assert_parses(esc, n);

        free(esc);
        free(src);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_plain_paths),
        cmocka_unit_test(test_the_three_escapes),
        cmocka_unit_test(test_breakers_replaced),
        cmocka_unit_test(test_random_bytes_always_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
