/*
 * Copyright (C) the ngx_prep authors
 *
 * The shared counting rules (pages, status classes, histogram bins,
 * visitor id, the visit rule) and the bot matcher.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "prep_bots.h"
#include "prep_count.h"
#include "prep_hll.h"


#define S(s)  s, sizeof(s) - 1


static const uint8_t  test_key[16] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
};


static void
test_pages_default(void **state)
{
    (void) state;

    assert_true(prep_count_type_is_page(NULL, 0, S("text/html")));
    assert_true(prep_count_type_is_page(NULL, 0,
                                        S("text/html; charset=utf-8")));
    assert_true(prep_count_type_is_page(NULL, 0, S("Application/JSON ;x")));
    assert_true(prep_count_type_is_page(NULL, 0, S("text/csv")));
    assert_false(prep_count_type_is_page(NULL, 0, S("text/css")));
    assert_false(prep_count_type_is_page(NULL, 0, S("text/htmlx")));
    assert_false(prep_count_type_is_page(NULL, 0, S("text/htm")));
    assert_false(prep_count_type_is_page(NULL, 0, S("image/png")));
    assert_false(prep_count_type_is_page(NULL, 0, NULL, 0));
    assert_false(prep_count_type_is_page(NULL, 0, S("")));
}


static void
test_pages_list(void **state)
{
    prep_count_type_t  list[] = { { S("image/*") }, { S("text/plain") } };

    (void) state;

    assert_true(prep_count_type_is_page(list, 2, S("image/png")));
    assert_true(prep_count_type_is_page(list, 2, S("IMAGE/svg+xml")));
    assert_false(prep_count_type_is_page(list, 2, S("image/")));
    assert_true(prep_count_type_is_page(list, 2, S("text/plain;q=1")));
    assert_false(prep_count_type_is_page(list, 2, S("text/html")));
}


/* the matcher of prep_cache_control's types: no default list behind it */
static void
test_type_in(void **state)
{
    prep_count_type_t  list[] = { { S("image/*") }, { S("text/css") } };

    (void) state;

    assert_true(prep_count_type_in(list, 2, S("image/svg+xml")));
    assert_true(prep_count_type_in(list, 2, S("Text/CSS; charset=utf-8")));
    assert_false(prep_count_type_in(list, 2, S("text/html")));
    assert_false(prep_count_type_in(list, 2, S("image/")));
    assert_false(prep_count_type_in(list, 2, S("imagex/png")));
    assert_false(prep_count_type_in(list, 0, S("text/css")));
    assert_false(prep_count_type_in(list, 2, NULL, 0));
}


static void
test_pages_path(void **state)
{
    (void) state;

    assert_true(prep_count_path_is_page(NULL, 0, S("/index.html")));
    assert_true(prep_count_path_is_page(NULL, 0, S("/")));
    assert_true(prep_count_path_is_page(NULL, 0, S("/dir/")));
    assert_true(prep_count_path_is_page(NULL, 0, S("/data/x.JSON")));
    assert_true(prep_count_path_is_page(NULL, 0, S("/a.csv")));
    assert_false(prep_count_path_is_page(NULL, 0, S("/app.js")));
    assert_false(prep_count_path_is_page(NULL, 0, S("/logo.png")));
    assert_false(prep_count_path_is_page(NULL, 0, S("/noext")));
}


static void
test_status_class(void **state)
{
    (void) state;

    assert_int_equal(prep_count_status_class(100), 0);
    assert_int_equal(prep_count_status_class(200), 1);
    assert_int_equal(prep_count_status_class(304), 2);
    assert_int_equal(prep_count_status_class(404), 3);
    assert_int_equal(prep_count_status_class(599), 4);
    assert_int_equal(prep_count_status_class(0), 5);
    assert_int_equal(prep_count_status_class(600), 5);
    assert_true(prep_count_status_is_answer(200));
    assert_true(prep_count_status_is_answer(206));
    assert_true(prep_count_status_is_answer(304));
    assert_false(prep_count_status_is_answer(301));
    assert_false(prep_count_status_is_answer(404));
}


static void
test_histogram(void **state)
{
    (void) state;

    assert_int_equal(prep_count_histogram_bin(0), 0);
    assert_int_equal(prep_count_histogram_bin(9999), 0);
    assert_int_equal(prep_count_histogram_bin(10000), 1);
    assert_int_equal(prep_count_histogram_bin(29999), 1);
    assert_int_equal(prep_count_histogram_bin(30000), 2);
    assert_int_equal(prep_count_histogram_bin(60000), 3);
    assert_int_equal(prep_count_histogram_bin(180000), 4);
    assert_int_equal(prep_count_histogram_bin(600000), 5);
    assert_int_equal(prep_count_histogram_bin(1799999), 5);
    assert_int_equal(prep_count_histogram_bin(1800000), 6);
    assert_int_equal(prep_count_histogram_bin(UINT64_MAX), 6);
}


static void
test_periods(void **state)
{
    (void) state;

    /* 2026-06-02T23:30:00Z is June 2 in UTC, June 2 at -06:00 too */
    assert_int_equal(prep_count_day_id(1780443000, 0), 1780443000 / 86400);
    assert_int_equal(prep_count_day_id(1780443000, -360),
                     (1780443000 - 21600) / 86400);
    assert_int_equal(prep_count_day_id(1780443000, 60),
                     1780443000 / 86400 + 1);
    assert_int_equal(prep_count_hour_id(7200), 2);
    assert_int_equal(prep_count_bucket_id(599), 1);
}


/* the module's hash, written out: family | address | SipHash(UA) */

static void
test_visitor(void **state)
{
    uint8_t    buf[1 + 16 + 8], a4[4] = { 192, 0, 2, 1 }, a6[16];
    uint64_t   ua, v4, v6, other;

    (void) state;

    memset(a6, 0x20, sizeof(a6));

    ua = prep_siphash24(test_key, "Mozilla", 7);

    buf[0] = AF_INET;
    memcpy(buf + 1, a4, 4);
    memcpy(buf + 5, &ua, 8);
    v4 = prep_count_visitor(test_key, AF_INET, a4, "Mozilla", 7);
    assert_true(v4 == prep_siphash24(test_key, buf, 13));

    buf[0] = AF_INET6;
    memcpy(buf + 1, a6, 16);
    memcpy(buf + 17, &ua, 8);
    v6 = prep_count_visitor(test_key, AF_INET6, a6, "Mozilla", 7);
    assert_true(v6 == prep_siphash24(test_key, buf, 25));

    ua = prep_siphash24(test_key, "", 0);
    buf[0] = AF_UNIX;
    memcpy(buf + 1, &ua, 8);
    other = prep_count_visitor(test_key, AF_UNIX, NULL, NULL, 0);
    assert_true(other == prep_siphash24(test_key, buf, 9));

    assert_true(v4 != prep_count_visitor(test_key, AF_INET, a4, "Mozillb",
                                         7));
}


static void
test_visit_rule(void **state)
{
    uint64_t            prev, ended;
    prep_count_visit_t  v = { 1000, 1000 };

    (void) state;

    ended = 12345;

    assert_int_equal(prep_count_visit_touch(&v, 5000, 60000, &prev, &ended),
                     PREP_COUNT_VISIT_CONTINUES);
    assert_int_equal(prev, 1000);
    assert_int_equal(v.last, 5000);

    /* exactly the timeout after the last request still continues */
    assert_int_equal(prep_count_visit_touch(&v, 65000, 60000, &prev,
                                            &ended),
                     PREP_COUNT_VISIT_CONTINUES);

    /* out of order: continues, last unchanged */
    assert_int_equal(prep_count_visit_touch(&v, 2000, 60000, &prev, &ended),
                     PREP_COUNT_VISIT_CONTINUES);
    assert_int_equal(v.last, 65000);
    assert_int_equal(ended, 12345);

    assert_int_equal(prep_count_visit_touch(&v, 125001, 60000, &prev,
                                            &ended),
                     PREP_COUNT_VISIT_STARTS);
    assert_int_equal(ended, 64000);
    assert_int_equal(prev, 65000);
    assert_int_equal(v.first, 125001);
    assert_int_equal(v.last, 125001);
    assert_int_equal(prep_count_visit_ms(&v), 0);
}


static void
test_bots_builtin(void **state)
{
    prep_bots_t  *b;

    (void) state;

    b = prep_bots_new(1);
    assert_non_null(b);
    assert_true(prep_bots_count(b) > 100);

#define BOT(s)    assert_true(prep_bots_match(b, S(s)))
#define HUMAN(s)  assert_false(prep_bots_match(b, S(s)))

    BOT("Mozilla/5.0 (compatible; Googlebot/2.1; "
        "+http://www.google.com/bot.html)");
    BOT("Mozilla/5.0 (compatible; bingbot/2.0)");
    BOT("facebookexternalhit/1.1");
    BOT("Mozilla/5.0 (compatible; YandexImages/3.0)");
    BOT("Baiduspider-image");
    BOT("ia_archiver");
    BOT("WhatsApp/2.23.20");
    BOT("Mozilla/5.0 zgrab/0.x");
    BOT("ChatGPT-User/1.0");
    BOT("x (mailto: ops@example.org)");
    BOT("SLURP");
    BOT("Pingdom.com_bot_version_1.4");
    BOT("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0");
    HUMAN("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 "
          "Firefox/120.0");
    HUMAN("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
          "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 "
          "Mobile/15E148 Safari/604.1");
    HUMAN("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
          "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0");
    HUMAN("curl/8.5.0");
    HUMAN("Python-urllib/3.11");
    HUMAN("");
    HUMAN("b");
    assert_false(prep_bots_match(b, NULL, 0));

    /* a token at the very end, and one cut by the length */
    BOT("xx bot");
    assert_false(prep_bots_match(b, "xx bot", 5));

    /* "@", the 1-byte token, first, last, alone, and cut by the length */
    BOT("@home");
    BOT("probe ops@");
    BOT("@");
    assert_false(prep_bots_match(b, "probe ops@", 9));

#undef BOT
#undef HUMAN

    prep_bots_free(b);
}


static void
test_bots_user(void **state)
{
    int           fd;
    FILE         *f;
    char          err[256], path[] = "/tmp/test_bots_XXXXXX";
    prep_bots_t  *b;

    (void) state;

    b = prep_bots_new(0);
    assert_non_null(b);
    assert_int_equal(prep_bots_count(b), 0);
    assert_false(prep_bots_match(b, S("Googlebot")));

    assert_int_equal(prep_bots_add(b, S("x")), EINVAL);
    assert_int_equal(prep_bots_add(b, "", 0), EINVAL);

    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fputs("# our own\n\n   Curl/ \t\r\nPython-\n", f);
    fclose(f);

    assert_int_equal(prep_bots_load(b, path, err, sizeof(err)), 0);
    assert_int_equal(prep_bots_count(b), 2);
    assert_true(prep_bots_match(b, S("curl/8.5.0")));
    assert_true(prep_bots_match(b, S("python-requests/2")));
    assert_false(prep_bots_match(b, S("curl")));

    /* no "@" in this list: an address is not a robot by itself */
    assert_false(prep_bots_match(b, S("x (mailto: ops@example.org)")));
    assert_int_equal(prep_bots_add(b, S("@")), 0);
    assert_true(prep_bots_match(b, S("x (mailto: ops@example.org)")));
    assert_int_equal(prep_bots_count(b), 3);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("ok-token\nq\n", f);
    fclose(f);

    assert_int_equal(prep_bots_load(b, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ":2: "));

    unlink(path);

    assert_int_equal(prep_bots_load(b, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));

    prep_bots_free(b);
}


/* many tokens sharing first bytes, one chain: every one still found */

static void
test_bots_many(void **state)
{
    int           i;
    char          tok[32], ua[64];
    prep_bots_t  *b;

    (void) state;

    b = prep_bots_new(0);
    assert_non_null(b);

    for (i = 0; i < 3000; i++) {
        snprintf(tok, sizeof(tok), "zz%04d", i);
        assert_int_equal(prep_bots_add(b, tok, strlen(tok)), 0);
    }

    for (i = 0; i < 3000; i += 7) {
        snprintf(ua, sizeof(ua), "Mozilla ZZ%04dX", i);
        assert_true(prep_bots_match(b, ua, strlen(ua)));
    }

    assert_false(prep_bots_match(b, S("Mozilla zz300")));

    prep_bots_free(b);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_pages_default),
        cmocka_unit_test(test_pages_list),
        cmocka_unit_test(test_type_in),
        cmocka_unit_test(test_pages_path),
        cmocka_unit_test(test_status_class),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_periods),
        cmocka_unit_test(test_visitor),
        cmocka_unit_test(test_visit_rule),
        cmocka_unit_test(test_bots_builtin),
        cmocka_unit_test(test_bots_user),
        cmocka_unit_test(test_bots_many),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
