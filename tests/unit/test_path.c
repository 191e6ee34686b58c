/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of archive name normalization (libprep/prep_path.c): every
 * accepted form maps to one "/a/b" path, every refusal has its code.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prep_path.h"


#define OUT_SIZE  (PREP_PATH_MAX_LEN + 2)


static void
expect_ok(const char *name, const char *want)
{
    int     rc;
    char    out[OUT_SIZE];
    size_t  len;

    rc = prep_path_normalize(name, strlen(name), out, &len);

    if (rc != PREP_PATH_OK) {
        fail_msg("\"%s\": %s", name, prep_path_strerror(rc));
    }

    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
}


static void
expect_rc(const char *name, size_t len, int want)
{
    int     rc;
    char    out[OUT_SIZE];
    size_t  out_len;

    out_len = 12345;
    rc = prep_path_normalize(name, len, out, &out_len);

    if (rc != want) {
        fail_msg("\"%.*s\": got %s, want %s", (int) len, name,
                 prep_path_strerror(rc), prep_path_strerror(want));
    }

    assert_int_equal(out_len, 0);
}


static void
expect_refused(const char *name, int want)
{
    expect_rc(name, strlen(name), want);
}


static void
test_plain_names(void **state)
{
    (void) state;

    expect_ok("index.html", "/index.html");
    expect_ok("assets/ayuntamientos/entidad/23.json",
              "/assets/ayuntamientos/entidad/23.json");
    expect_ok("a", "/a");
    expect_ok("...", "/...");
    expect_ok("a..b/c.", "/a..b/c.");
    expect_ok(".hidden", "/.hidden");
    expect_ok("with space/and-dash_under.score",
              "/with space/and-dash_under.score");
    expect_ok("pct%20and?query#frag", "/pct%20and?query#frag");
}


static void
test_dot_segments_dropped(void **state)
{
    (void) state;

    expect_ok("./index.html", "/index.html");
    expect_ok("././index.html", "/index.html");
    expect_ok("a/./b", "/a/b");
    expect_ok("a/.", "/a");
    expect_ok("./a/./b/.", "/a/b");
}


static void
test_trailing_slash(void **state)
{
    (void) state;

    expect_ok("assets/", "/assets");
    expect_ok("./assets/", "/assets");
    expect_ok("a/b/", "/a/b");
}


static void
test_utf8_accepted(void **state)
{
    (void) state;

    /* años/ñandú.json */
    expect_ok("a\xC3\xB1os/\xC3\xB1" "and\xC3\xBA.json",
              "/a\xC3\xB1os/\xC3\xB1" "and\xC3\xBA.json");

    /* OTHÓN P. BLANCO.csv */
    expect_ok("OTH\xC3\x93N P. BLANCO.csv", "/OTH\xC3\x93N P. BLANCO.csv");

    /* áéíóú */
    expect_ok("\xC3\xA1\xC3\xA9\xC3\xAD\xC3\xB3\xC3\xBA",
              "/\xC3\xA1\xC3\xA9\xC3\xAD\xC3\xB3\xC3\xBA");

    /* three and four byte sequences: the euro sign, a ballot box */
    expect_ok("\xE2\x82\xAC/\xF0\x9F\x97\xB3",
              "/\xE2\x82\xAC/\xF0\x9F\x97\xB3");
}


static void
test_empty(void **state)
{
    (void) state;

    expect_refused("", PREP_PATH_EEMPTY);
    expect_refused(".", PREP_PATH_EEMPTY);
    expect_refused("./", PREP_PATH_EEMPTY);
    expect_refused("././", PREP_PATH_EEMPTY);
}


static void
test_absolute(void **state)
{
    (void) state;

    expect_refused("/etc/passwd", PREP_PATH_EABSOLUTE);
    expect_refused("//etc/passwd", PREP_PATH_EABSOLUTE);
    expect_refused("/", PREP_PATH_EABSOLUTE);
    expect_refused("/index.html", PREP_PATH_EABSOLUTE);
}


static void
test_dotdot(void **state)
{
    (void) state;

    expect_refused("..", PREP_PATH_EDOTDOT);
    expect_refused("../x", PREP_PATH_EDOTDOT);
    expect_refused("../../etc/cron.d/x", PREP_PATH_EDOTDOT);
    expect_refused("a/../b", PREP_PATH_EDOTDOT);
    expect_refused("a/./b/../../../x", PREP_PATH_EDOTDOT);
    expect_refused("a/..", PREP_PATH_EDOTDOT);
    expect_refused("a/../", PREP_PATH_EDOTDOT);
}


static void
test_empty_segment(void **state)
{
    (void) state;

    expect_refused("a//b", PREP_PATH_ESEGMENT);
    expect_refused("a//", PREP_PATH_ESEGMENT);
    expect_refused(".//a", PREP_PATH_ESEGMENT);
    expect_refused("a/b//", PREP_PATH_ESEGMENT);
}


static void
test_control(void **state)
{
    char  name[8];
    int   c;

    (void) state;

    expect_refused("a\nb", PREP_PATH_ECONTROL);
    expect_refused("a\rb", PREP_PATH_ECONTROL);
    expect_refused("a\tb", PREP_PATH_ECONTROL);
    expect_refused("\x1b[31mred", PREP_PATH_ECONTROL);
    expect_refused("del\x7f", PREP_PATH_ECONTROL);
    expect_refused("c1\xC2\x85next", PREP_PATH_ECONTROL);      /* U+0085 */
    expect_refused("c1\xC2\x9F", PREP_PATH_ECONTROL);          /* U+009F */
    expect_rc("a\0b", 3, PREP_PATH_ECONTROL);

    for (c = 1; c < 0x20; c++) {
        name[0] = 'x';
        name[1] = (char) c;
        name[2] = '\0';
        expect_refused(name, PREP_PATH_ECONTROL);
    }

    /* U+00A0 is the first code point after the C1 block: allowed */
    expect_ok("nb\xC2\xA0sp", "/nb\xC2\xA0sp");
}


static void
test_backslash(void **state)
{
    (void) state;

    expect_refused("a\\b", PREP_PATH_EBACKSLASH);
    expect_refused("..\\..\\x", PREP_PATH_EBACKSLASH);
    expect_refused("\\", PREP_PATH_EBACKSLASH);
}


static void
test_utf8_invalid(void **state)
{
    (void) state;

    expect_refused("a\xF1o.txt", PREP_PATH_EUTF8);            /* Latin-1 ñ */
    expect_refused("\xC3", PREP_PATH_EUTF8);                  /* truncated */
    expect_refused("\xC0\xAF", PREP_PATH_EUTF8);              /* overlong / */
    expect_refused("\xE0\x80\xAF", PREP_PATH_EUTF8);          /* overlong / */
    expect_refused("\xED\xA0\x80", PREP_PATH_EUTF8);          /* surrogate */
    expect_refused("\xF4\x90\x80\x80", PREP_PATH_EUTF8);      /* > U+10FFFF */
    expect_refused("\xFF", PREP_PATH_EUTF8);
    expect_refused("ok/\x80", PREP_PATH_EUTF8);
}


static void
test_long(void **state)
{
    char    name[3 * PREP_PATH_MAX_LEN];
    char    want[PREP_PATH_MAX_LEN + 2];
    char   *huge;
    size_t  i;

    (void) state;

    /* "/" + 1023 bytes: exactly the limit */
    memset(name, 'n', PREP_PATH_MAX_LEN - 1);
    name[PREP_PATH_MAX_LEN - 1] = '\0';
    want[0] = '/';
    memcpy(want + 1, name, PREP_PATH_MAX_LEN);
    expect_ok(name, want);

    /* one more byte */
    memset(name, 'n', PREP_PATH_MAX_LEN);
    name[PREP_PATH_MAX_LEN] = '\0';
    expect_refused(name, PREP_PATH_ELONG);

    /* dropped "./" segments do not count */
    memset(name, 0, sizeof(name));
    for (i = 0; i < PREP_PATH_MAX_LEN; i++) {
        memcpy(name + 2 * i, "./", 2);
    }
    name[2 * PREP_PATH_MAX_LEN] = 'x';
    expect_ok(name, "/x");

    /* a 64 KiB PAX-style name */
    huge = malloc(65536 + 1);
    assert_non_null(huge);
    memset(huge, 'h', 65536);
    huge[65536] = '\0';
    expect_refused(huge, PREP_PATH_ELONG);
    free(huge);
}


static void
test_deep(void **state)
{
    char    name[256];
    char    want[256];
    size_t  i;

    (void) state;

    name[0] = '\0';
    for (i = 0; i < PREP_PATH_MAX_DEPTH - 1; i++) {
        strcat(name, "d/");
    }
    strcat(name, "f");

    want[0] = '\0';
    for (i = 0; i < PREP_PATH_MAX_DEPTH - 1; i++) {
        strcat(want, "/d");
    }
    strcat(want, "/f");

    expect_ok(name, want);

    /* a 33rd level */
    memmove(name + 2, name, strlen(name) + 1);
    memcpy(name, "d/", 2);
    expect_refused(name, PREP_PATH_EDEEP);
}


static void
test_strerror(void **state)
{
    (void) state;

    assert_string_equal(prep_path_strerror(PREP_PATH_OK), "ok");
    assert_string_equal(prep_path_strerror(PREP_PATH_EEMPTY), "path_empty");
    assert_string_equal(prep_path_strerror(PREP_PATH_EABSOLUTE),
                        "path_absolute");
    assert_string_equal(prep_path_strerror(PREP_PATH_EDOTDOT),
                        "path_dotdot");
    assert_string_equal(prep_path_strerror(PREP_PATH_ESEGMENT),
                        "path_segment");
    assert_string_equal(prep_path_strerror(PREP_PATH_ECONTROL),
                        "path_control");
    assert_string_equal(prep_path_strerror(PREP_PATH_EBACKSLASH),
                        "path_backslash");
    assert_string_equal(prep_path_strerror(PREP_PATH_EUTF8), "path_utf8");
    assert_string_equal(prep_path_strerror(PREP_PATH_ELONG), "path_long");
    assert_string_equal(prep_path_strerror(PREP_PATH_EDEEP), "path_deep");
    assert_string_equal(prep_path_strerror(-1), "path_unknown");
    assert_string_equal(prep_path_strerror(99), "path_unknown");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_plain_names),
        cmocka_unit_test(test_dot_segments_dropped),
        cmocka_unit_test(test_trailing_slash),
        cmocka_unit_test(test_utf8_accepted),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_absolute),
        cmocka_unit_test(test_dotdot),
        cmocka_unit_test(test_empty_segment),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_backslash),
        cmocka_unit_test(test_utf8_invalid),
        cmocka_unit_test(test_long),
        cmocka_unit_test(test_deep),
        cmocka_unit_test(test_strerror),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
