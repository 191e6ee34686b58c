/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of JSON string escaping and UTF-8 validation
 * (libprep/prep_json.c).  Every escape goes into a heap buffer of exactly
 * prep_json_escaped_len() bytes, so ASan reports any disagreement between
 * the length and what is written.
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
#include "test_util.h"


#define FFFD            "\xEF\xBF\xBD"
#define S(lit)          lit, sizeof(lit) - 1


/*
 * Escapes [src, src + len) into an exact-size buffer, checks that the
 * length function agreed, and returns a NUL-terminated copy.
 */
static char *
escape(const char *src, size_t len, size_t *out_len)
{
    return escape_exact(prep_json_escaped_len, prep_json_escape, src, len,
                        out_len);
}


static void
expect_escape(const char *src, size_t len, const char *expect,
    size_t expect_len)
{
    char    *out;
    size_t   n;

    out = escape(src, len, &n);

    if (n != expect_len || memcmp(out, expect, n) != 0) {
        print_error("escape of %zu bytes: got \"%s\" (%zu bytes), "
                    "expected \"%.*s\"\n", len, out, n, (int) expect_len,
                    expect);
        free(out);
        fail();
    }

    assert_true(prep_utf8_valid(out, n));
    free(out);
}


/* the same text, unchanged */
static void
expect_same(const char *src, size_t len)
{
    expect_escape(src, len, src, len);
}


static int
hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


static size_t
utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char) cp;
        return 1;
    }

    if (cp < 0x800) {
        out[0] = (char) (0xC0 | (cp >> 6));
        out[1] = (char) (0x80 | (cp & 0x3F));
        return 2;
    }

    if (cp < 0x10000) {
        out[0] = (char) (0xE0 | (cp >> 12));
        out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char) (0x80 | (cp & 0x3F));
        return 3;
    }

    out[0] = (char) (0xF0 | (cp >> 18));
    out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char) (0x80 | (cp & 0x3F));
    return 4;
}


/*
 * A strict reader of the body of a JSON string (RFC 8259, without the
 * quotes): returns the decoded length written to out (which holds len
 * bytes), or (size_t) -1 when the body is not a valid JSON string body.
 */
static size_t
json_unescape(const char *s, size_t len, char *out)
{
    int            d;
    size_t         i, k, n;
    uint32_t       cp;
    unsigned char  c;

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c == '"' || c < 0x20) {
            return (size_t) -1;
        }

        if (c != '\\') {
            out[n++] = (char) c;
            continue;
        }

        if (++i == len) {
            return (size_t) -1;
        }

        switch (s[i]) {
        case '"':  out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/':  out[n++] = '/'; break;
        case 'b':  out[n++] = '\b'; break;
        case 'f':  out[n++] = '\f'; break;
        case 'n':  out[n++] = '\n'; break;
        case 'r':  out[n++] = '\r'; break;
        case 't':  out[n++] = '\t'; break;

        case 'u':
            if (len - i < 5) {
                return (size_t) -1;
            }

            cp = 0;
            for (k = 1; k <= 4; k++) {
                d = hexval((unsigned char) s[i + k]);
                if (d < 0) {
                    return (size_t) -1;
                }
                cp = cp << 4 | (uint32_t) d;
            }

            /* the escaper never needs surrogate pairs */
            if (cp >= 0xD800 && cp <= 0xDFFF) {
                return (size_t) -1;
            }

            i += 4;
            n += utf8_encode(cp, out + n);
            break;

        default:
            return (size_t) -1;
        }
    }

    return n;
}


/* raw bytes that must never reach the output unescaped */
static void
check_no_raw(const char *out, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        assert_true((unsigned char) out[i] >= 0x20);
        assert_true((unsigned char) out[i] != 0x7F);

        if (i + 2 < n && (unsigned char) out[i] == 0xE2
            && (unsigned char) out[i + 1] == 0x80)
        {
            assert_true((unsigned char) out[i + 2] != 0xA8);
            assert_true((unsigned char) out[i + 2] != 0xA9);
        }
    }
}


/* escaping */


static void
test_escape_quotes_backslash(void **state)
{
    (void) state;

    expect_escape(S("\""), S("\\\""));
    expect_escape(S("\\"), S("\\\\"));
    expect_escape(S("a\"b\\c"), S("a\\\"b\\\\c"));
    expect_escape(S("\\\""), S("\\\\\\\""));
    expect_escape(S("\"\""), S("\\\"\\\""));
    expect_escape(S("C:\\prep\\"), S("C:\\\\prep\\\\"));

    /* the slash needs no escape and gets none */
    expect_same(S("/assets/json/23.json"));
    expect_same(S("plain ASCII, with (punctuation) & <tags>!"));

    expect_escape("", 0, "", 0);
}


static void
test_escape_controls(void **state)
{
    int     c;
    char    in[1], expect[8];

    (void) state;

    expect_escape(S("\n"), S("\\n"));
    expect_escape(S("\r"), S("\\r"));
    expect_escape(S("\t"), S("\\t"));
    expect_escape(S("a\r\nb"), S("a\\r\\nb"));

    expect_escape("\0", 1, S("\\u0000"));
    expect_escape("a\0b", 3, S("a\\u0000b"));
    expect_escape(S("\x01"), S("\\u0001"));
    expect_escape(S("\b"), S("\\u0008"));
    expect_escape(S("\f"), S("\\u000c"));
    expect_escape(S("\x1b[0m"), S("\\u001b[0m"));
    expect_escape(S("\x1f"), S("\\u001f"));

    /* DEL */
    expect_escape(S("\x7f"), S("\\u007f"));
    expect_escape(S("a\x7f" "b"), S("a\\u007fb"));

    /* every control, one at a time */
    for (c = 0; c < 0x20; c++) {
        in[0] = (char) c;

        if (c == '\n' || c == '\r' || c == '\t') {
            continue;
        }

        (void) snprintf(expect, sizeof(expect), "\\u%04x", c);
        expect_escape(in, 1, expect, 6);
    }

    /* every other ASCII byte passes through */
    for (c = 0x20; c < 0x7F; c++) {
        if (c == '"' || c == '\\') {
            continue;
        }

        in[0] = (char) c;
        expect_same(in, 1);
    }
}


static void
test_escape_line_separators(void **state)
{
    (void) state;

    /* U+2028, U+2029 end a line in JavaScript */
    expect_escape(S("\xE2\x80\xA8"), S("\\u2028"));
    expect_escape(S("\xE2\x80\xA9"), S("\\u2029"));
    expect_escape(S("a\xE2\x80\xA8" "b\xE2\x80\xA9" "c"),
                  S("a\\u2028b\\u2029c"));

    /* their neighbours are ordinary text */
    expect_same(S("\xE2\x80\xA7"));
    expect_same(S("\xE2\x80\xAA"));
    expect_same(S("\xE2\x80\x94"));      /* em dash */
}


static void
test_escape_valid_utf8(void **state)
{
    (void) state;

    expect_same(S("\xC3\xB1"));                         /* ñ */
    expect_same(S("\xC3\xA1"));                         /* á */
    expect_same(S("A\xC3\xB1o electoral, Quer\xC3\xA9taro, "
                  "Michoac\xC3\xA1n, Nuevo Le\xC3\xB3n"));
    expect_same(S("\xE2\x82\xAC"));                     /* € */
    expect_same(S("\xF0\x9F\x98\x80"));                 /* U+1F600 */
    expect_same(S("\xF0\x9F\x87\xB2\xF0\x9F\x87\xBD")); /* flag MX */

    /* the boundaries of each length */
    expect_same(S("\xC2\x80"));                         /* U+0080 */
    expect_same(S("\xDF\xBF"));                         /* U+07FF */
    expect_same(S("\xE0\xA0\x80"));                     /* U+0800 */
    expect_same(S("\xED\x9F\xBF"));                     /* U+D7FF */
    expect_same(S("\xEE\x80\x80"));                     /* U+E000 */
    expect_same(S("\xEF\xBF\xBF"));                     /* U+FFFF */
    expect_same(S("\xF0\x90\x80\x80"));                 /* U+10000 */
    expect_same(S("\xF4\x8F\xBF\xBF"));                 /* U+10FFFF */
    expect_same(S(FFFD));                               /* U+FFFD */
    expect_same(S("\xEF\xBB\xBF"));                     /* BOM */

    /* escaped and multibyte text side by side */
    expect_escape(S("\"\xC3\xB1\"\n\xF0\x9F\x98\x80\\"),
                  S("\\\"\xC3\xB1\\\"\\n\xF0\x9F\x98\x80\\\\"));
}


static void
test_escape_invalid_utf8(void **state)
{
    (void) state;

    /* a lone continuation byte, bytes that never start a sequence */
    expect_escape(S("\x80"), S(FFFD));
    expect_escape(S("\xBF"), S(FFFD));
    expect_escape(S("a\x80" "b"), S("a" FFFD "b"));
    expect_escape(S("\xFF"), S(FFFD));
    expect_escape(S("\xFE"), S(FFFD));
    expect_escape(S("\xF8\x88\x80\x80\x80"), S(FFFD FFFD FFFD FFFD FFFD));

    /* overlongs: C0 and C1 never lead; E0 80 is no prefix */
    expect_escape(S("\xC0\x80"), S(FFFD FFFD));
    expect_escape(S("\xC0\xAF"), S(FFFD FFFD));
    expect_escape(S("\xC1\xBF"), S(FFFD FFFD));
    expect_escape(S("\xE0\x80\x80"), S(FFFD FFFD FFFD));
    expect_escape(S("\xE0\x9F\xBF"), S(FFFD FFFD FFFD));
    expect_escape(S("\xF0\x80\x80\x80"), S(FFFD FFFD FFFD FFFD));
    expect_escape(S("\xF0\x8F\xBF\xBF"), S(FFFD FFFD FFFD FFFD));

    /* UTF-16 surrogates, alone and paired */
    expect_escape(S("\xED\xA0\x80"), S(FFFD FFFD FFFD));
    expect_escape(S("\xED\xBF\xBF"), S(FFFD FFFD FFFD));
    expect_escape(S("\xED\xA0\xBD\xED\xB8\x80"),
                  S(FFFD FFFD FFFD FFFD FFFD FFFD));

    /* above U+10FFFF */
    expect_escape(S("\xF4\x90\x80\x80"), S(FFFD FFFD FFFD FFFD));
    expect_escape(S("\xF5\x80\x80\x80"), S(FFFD FFFD FFFD FFFD));
    expect_escape(S("\xF7\xBF\xBF\xBF"), S(FFFD FFFD FFFD FFFD));

    /* the good text around a bad byte survives */
    expect_escape(S("\xC3\xB1\xFF\xC3\xA1"), S("\xC3\xB1" FFFD "\xC3\xA1"));
    expect_escape(S("\"\xFF\""), S("\\\"" FFFD "\\\""));
}


/*
 * A truncated sequence of "bad" bytes becomes one U+FFFD or more (one per
 * byte, or one per maximal subpart: both are conforming), and what follows
 * it is kept, escaped as "rest".
 */
static void
expect_truncated(const char *src, size_t len, size_t bad, const char *rest)
{
    char    *out, *p;
    size_t   n, k;

    out = escape(src, len, &n);
    assert_true(prep_utf8_valid(out, n));

    p = out;
    k = 0;

    while (strncmp(p, FFFD, 3) == 0) {
        p += 3;
        k++;
    }

    if (k == 0 || k > bad || strcmp(p, rest) != 0) {
        print_error("truncated sequence: got \"%s\", expected 1 to %zu "
                    "U+FFFD and \"%s\"\n", out, bad, rest);
        free(out);
        fail();
    }

    free(out);
}


static void
test_escape_truncated(void **state)
{
    (void) state;

    /* at the end of the input */
    expect_truncated(S("\xC3"), 1, "");
    expect_truncated(S("\xE2"), 1, "");
    expect_truncated(S("\xE2\x82"), 2, "");
    expect_truncated(S("\xF0"), 1, "");
    expect_truncated(S("\xF0\x9F"), 2, "");
    expect_truncated(S("\xF0\x9F\x98"), 3, "");

    /* followed by ASCII, which must survive */
    expect_truncated(S("\xC3" "A"), 1, "A");
    expect_truncated(S("\xE2\x82" "A"), 2, "A");
    expect_truncated(S("\xF0\x9F\x98" "A"), 3, "A");
    expect_truncated(S("\xF0\x9F\x98" "\""), 3, "\\\"");
    expect_truncated(S("\xE2\x82" "\n"), 2, "\\n");

    /* followed by a valid sequence, which must survive */
    expect_truncated(S("\xE2\x82\xC3\xB1"), 2, "\xC3\xB1");
    expect_truncated(S("\xF0\x9F\x98\xF0\x9F\x98\x80"), 3,
                     "\xF0\x9F\x98\x80");
}


/* validation */


static void
test_utf8_valid(void **state)
{
    size_t              i;
    static const char  *good[] = {
        "", "a", "\xC3\xB1", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
        "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF",
        "\xEE\x80\x80", "\xEF\xBF\xBF", "\xF0\x90\x80\x80",
        "\xF4\x8F\xBF\xBF", "\xE2\x80\xA8", "\x7F"
    };
    static const char  *bad[] = {
        "\x80", "\xBF", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80",
        "\xE0\x9F\xBF", "\xED\xA0\x80", "\xED\xBF\xBF",
        "\xF0\x80\x80\x80", "\xF0\x8F\xBF\xBF", "\xF4\x90\x80\x80",
        "\xF5\x80\x80\x80", "\xF8\x88\x80\x80\x80", "\xFE", "\xFF",
        "\xC3", "\xE2\x82", "\xF0\x9F\x98", "\xC3" "A", "\xE2\x82" "A",
        "a\xC3\xB1\x80"
    };

    (void) state;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_true(prep_utf8_valid(good[i], strlen(good[i])));
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (prep_utf8_valid(bad[i], strlen(bad[i]))) {
            fail_msg("invalid sequence %zu accepted", i);
        }
    }

    /* an embedded NUL is valid UTF-8; the length, not NUL, ends input */
    assert_true(prep_utf8_valid("a\0b", 3));
    assert_true(prep_utf8_valid("\xC3\xB1", 1) == 0);
    assert_true(prep_utf8_valid("\xFF", 0));
}


/* properties over random inputs */


/* a random byte string, biased towards the interesting bytes */
static size_t
random_bytes(char *buf, size_t max)
{
    size_t              n, len, k;
    uint32_t            r;
    static const char  *pieces[] = {
        "\"", "\\", "\n", "\x01", "\x7f", "\xE2\x80\xA8", "\xE2\x80\xA9",
        "\xC3\xB1", "\xF0\x9F\x98\x80", "\xC0\x80", "\xE0\x80\x80",
        "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF", "\x80", "\xE2\x82",
        "\xF0\x9F\x98", "a", "/", "\xEF\xBF\xBD"
    };

    len = rng_next() % max;
    n = 0;

    while (n < len) {
        r = rng_next();

        if (r % 3 == 0) {
            buf[n++] = (char) (r >> 8);
            continue;
        }

        k = (r >> 8) % (sizeof(pieces) / sizeof(pieces[0]));

        if (n + strlen(pieces[k]) > len) {
            break;
        }

        memcpy(buf + n, pieces[k], strlen(pieces[k]));
        n += strlen(pieces[k]);
    }

    return n;
}


static void
test_property_random_bytes(void **state)
{
    int      round;
    char     in[96], *out, *dec;
    size_t   len, n, d;

    (void) state;

    rng_seed(2024);

    for (round = 0; round < 200000; round++) {
        len = random_bytes(in, sizeof(in));

        /* escape() asserts escaped_len == bytes written, exactly sized */
        out = escape(in, len, &n);

        if (!prep_utf8_valid(out, n)) {
            fail_msg("round %d: output is not valid UTF-8", round);
        }

        check_no_raw(out, n);

        dec = malloc(n + 1);
        assert_non_null(dec);

        /* a well-formed JSON string body, whatever the input */
        d = json_unescape(out, n, dec);
        if (d == (size_t) -1) {
            fail_msg("round %d: not a JSON string body: \"%s\"", round, out);
        }

        /* valid input comes back byte for byte; escaping is a no-op on
         * input that needs none */
        if (prep_utf8_valid(in, len)) {
            assert_int_equal(d, len);
            assert_memory_equal(dec, in, len);

        } else {
            assert_true(strstr(out, FFFD) != NULL);
        }

        /* escaping the output again keeps it valid and never shrinks */
        free(dec);
        dec = escape(out, n, &d);
        assert_true(d >= n);
        assert_true(prep_utf8_valid(dec, d));

        free(dec);
        free(out);
    }
}


static void
test_property_random_code_points(void **state)
{
    int       round, i, count;
    char      in[256], *out, *dec;
    size_t    len, n, d;
    uint32_t  cp;

    (void) state;

    rng_seed(1917);

    for (round = 0; round < 50000; round++) {
        count = (int) (rng_next() % 40);
        len = 0;

        for (i = 0; i < count; i++) {
            switch (rng_next() % 4) {
            case 0:
                cp = rng_next() % 0x80;
                break;
            case 1:
                cp = 0x80 + rng_next() % (0x800 - 0x80);
                break;
            case 2:
                cp = 0x800 + rng_next() % (0x10000 - 0x800);
                break;
            default:
                cp = 0x10000 + rng_next() % (0x110000 - 0x10000);
                break;
            }

            if (cp >= 0xD800 && cp <= 0xDFFF) {
                cp = 0x2028 + (cp & 1);
            }

            len += utf8_encode(cp, in + len);
        }

        assert_true(prep_utf8_valid(in, len));

        out = escape(in, len, &n);
        assert_true(prep_utf8_valid(out, n));
        check_no_raw(out, n);

        dec = malloc(n + 1);
        assert_non_null(dec);

        d = json_unescape(out, n, dec);
        assert_int_equal(d, len);
        assert_memory_equal(dec, in, len);

        free(dec);
        free(out);
    }
}


/*
 * Every 1- and 2-byte input, and every 3-byte input that starts with a
 * multibyte lead byte: the length agrees and the output is valid.
 */
static void
check_short(const char *in, size_t len)
{
    char    out[3 * 6];
    size_t  n;

    n = prep_json_escaped_len(in, len);
    assert_true(n <= sizeof(out));
    assert_int_equal(prep_json_escape(out, in, len), n);

    if (!prep_utf8_valid(out, n)) {
        fail_msg("%02x %02x %02x (%zu bytes): invalid output",
                 (unsigned char) in[0], (unsigned char) in[1],
                 (unsigned char) in[2], len);
    }
}


static void
test_property_exhaustive_short(void **state)
{
    char      in[3];
    uint32_t  v;

    (void) state;

    for (v = 0; v < (1u << 16); v++) {
        in[0] = (char) (v >> 8);
        in[1] = (char) v;
        in[2] = 0;

        check_short(in, 1);
        check_short(in, 2);
    }

    for (v = 0xC00000; v < (1u << 24); v++) {
        in[0] = (char) (v >> 16);
        in[1] = (char) (v >> 8);
        in[2] = (char) v;

        check_short(in, 3);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_escape_quotes_backslash),
        cmocka_unit_test(test_escape_controls),
        cmocka_unit_test(test_escape_line_separators),
        cmocka_unit_test(test_escape_valid_utf8),
        cmocka_unit_test(test_escape_invalid_utf8),
        cmocka_unit_test(test_escape_truncated),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_property_random_bytes),
        cmocka_unit_test(test_property_random_code_points),
        cmocka_unit_test(test_property_exhaustive_short),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
