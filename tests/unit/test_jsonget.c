/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of the small JSON reader (ingest/common/jsonget.c) and of the
 * events builder (ingest/store/events.c), which must agree: every line the
 * builder writes, whatever the strings in it, reads back to the same
 * values.  Documents are copied into heap buffers of their exact size,
 * so ASan reports any read past the end.
 */


#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/ingest_events.h"
#include "common/ingest_jsonget.h"
#include "test_util.h"


static int
get_str(const char *doc, const char *path, char *buf, size_t size)
{
    int    rc;
    char  *copy;

    copy = xmemdup(doc, strlen(doc));
    rc = ingest_json_get_string(copy, strlen(doc), path, buf, size);
    free(copy);

    return rc;
}


static int
get(const char *doc, const char *path, ingest_json_val_t *v)
{
    int    rc;
    char  *copy;

    copy = xmemdup(doc, strlen(doc));
    rc = ingest_json_get(copy, strlen(doc), path, v);
    free(copy);

    return rc;
}


static void
test_paths(void **state)
{
    char               buf[64];
    double             d;
    ingest_json_val_t  v;
    const char        *doc;

    (void) state;

    doc = "{\"changed\":true,\"generation\":7,\"published_at\":\"2024\","
          "\"corte\":{\"time\":\"x\",\"snapshot\":\"a-b.snap\","
          "\"entries\":12},\"workers\":[{\"pid\":1},{\"pid\":2}]}";

    assert_int_equal(get_str(doc, "corte.snapshot", buf, sizeof(buf)), 8);
    assert_string_equal(buf, "a-b.snap");
    assert_int_equal(ingest_json_get_number(doc, strlen(doc), "generation",
                                            &d), 0);
    assert_true(d == 7);
    assert_int_equal(get(doc, "changed", &v), 1);
    assert_int_equal(v.type, INGEST_JSON_TRUE);
    assert_int_equal(get(doc, "workers", &v), 1);
    assert_int_equal(v.type, INGEST_JSON_ARRAY);

    /* absent, or a path through a non-object */
    assert_int_equal(get(doc, "nope", &v), 0);
    assert_int_equal(get(doc, "corte.nope", &v), 0);
    assert_int_equal(get(doc, "generation.x", &v), 0);
    assert_int_equal(get(doc, "workers.pid", &v), 0);

    /* a key that is a prefix of another is not it */
    assert_int_equal(get("{\"corte2\":1,\"cort\":2}", "corte", &v), 0);

    /* null corte (nothing published) */
    assert_int_equal(get("{\"corte\":null}", "corte", &v), 1);
    assert_int_equal(v.type, INGEST_JSON_NULL);
    assert_int_equal(get_str("{\"corte\":null}", "corte.snapshot", buf,
                             sizeof(buf)), -1);
}


static void
test_strings(void **state)
{
    char  buf[64];

    (void) state;

    assert_int_equal(get_str("{\"s\":\"a\\\"b\\\\c\\/d\\n\"}", "s", buf,
                             sizeof(buf)), 8);
    assert_string_equal(buf, "a\"b\\c/d\n");

    /* \u escapes into UTF-8, surrogate pairs joined, lone ones U+FFFD */
    assert_true(get_str("{\"s\":\"\\u00f1\\ud83d\\ude00\\udc00\"}", "s",
                        buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "\xc3\xb1\xf0\x9f\x98\x80\xef\xbf\xbd");

    /* a NUL would cut a C string: refused */
    assert_int_equal(get_str("{\"s\":\"a\\u0000b\"}", "s", buf,
                             sizeof(buf)), -1);

    /* does not fit */
    assert_int_equal(get_str("{\"s\":\"abcdef\"}", "s", buf, 6), -1);
    assert_int_equal(get_str("{\"s\":\"abcde\"}", "s", buf, 6), 5);

    /* not a string */
    assert_int_equal(get_str("{\"s\":5}", "s", buf, sizeof(buf)), -1);
}


static void
test_invalid_documents(void **state)
{
    size_t             i;
    char               deep[200];
    ingest_json_val_t  v;

    static const char  *bad[] = {
        "", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1 \"b\":2}",
        "{\"a\":tru}", "{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
        "{\"a\":[1,2}", "{\"a\":1}x", "{\"a\":\"\x01\"}", "[1,]",
        "{\"a\":-}", "nul",
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(get(bad[i], "a", &v), -1);
    }

    /* nesting is bounded */
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_int_equal(ingest_json_get(deep, sizeof(deep), "a", &v), -1);

    assert_int_equal(get("  {\"a\" : [ 1 , {\"b\":null} ] }  ", "a", &v), 1);
}


/* every string, however hostile, reads back the same from an event */
static void
test_events_round_trip(void **state)
{
    int           i;
    char          buf[256], *copy;
    double        d;
    ingest_ev_t  *ev;

    static const char  *values[] = {
        "plain", "quote\" backslash\\ slash/", "new\nline\ttab\r",
        "\x01\x1f control", "ni\xc3\xb1o \xe2\x80\xa8", "",
    };

    (void) state;

    ev = malloc(sizeof(ingest_ev_t));
    assert_non_null(ev);

    for (i = 0; i < (int) (sizeof(values) / sizeof(values[0])); i++) {
        ingest_ev_doc_begin(ev);
        ingest_ev_str(ev, "file", values[i]);
        ingest_ev_object(ev, "phases");
        ingest_ev_secs(ev, "stage_s", 1.25);
        ingest_ev_close(ev);
        ingest_ev_int(ev, "n", -5);
        (void) ingest_ev_doc_end(ev);

        copy = xmemdup(ev->buf, ev->len);
        assert_true(ingest_json_get_string(copy, ev->len - 1, "file", buf,
                                           sizeof(buf))
                    >= 0);
        assert_string_equal(buf, values[i]);
        assert_int_equal(ingest_json_get_number(copy, ev->len - 1,
                                                "phases.stage_s", &d), 0);
        assert_true(d > 1.2499 && d < 1.2501);
        free(copy);
    }

    /* invalid UTF-8 becomes U+FFFD: the line stays valid JSON */
    ingest_ev_doc_begin(ev);
    ingest_ev_str(ev, "file", "a\xff\xc3");
    (void) ingest_ev_doc_end(ev);
    copy = xmemdup(ev->buf, ev->len);
    assert_true(ingest_json_get_string(copy, ev->len - 1, "file", buf,
                                       sizeof(buf)) > 0);
    assert_string_equal(buf, "a\xef\xbf\xbd\xef\xbf\xbd");
    free(copy);

    free(ev);
}


/* an event too big for its buffer drops fields, stays valid, says so */
static void
test_events_truncated(void **state)
{
    int                i;
    char              *big, *copy;
    ingest_ev_t       *ev;
    ingest_json_val_t  v;

    (void) state;

    ev = malloc(sizeof(ingest_ev_t));
    big = malloc(3000);
    assert_non_null(ev);
    assert_non_null(big);
    memset(big, '"', 2999);
    big[2999] = '\0';

    ingest_ev_doc_begin(ev);
    ingest_ev_object(ev, "o");
    ingest_ev_array(ev, "a");

    for (i = 0; i < 10; i++) {
        ingest_ev_item(ev, big);
    }

    ingest_ev_close(ev);
    ingest_ev_close(ev);
    ingest_ev_str(ev, "after", "kept?");
    (void) ingest_ev_doc_end(ev);

    assert_true(ev->len < INGEST_EVENT_MAX);
    copy = xmemdup(ev->buf, ev->len);
    assert_int_equal(ingest_json_get(copy, ev->len - 1, "truncated", &v), 1);
    assert_int_equal(v.type, INGEST_JSON_TRUE);
    assert_int_equal(ingest_json_get(copy, ev->len - 1, "o.a", &v), 1);
    assert_int_equal(v.type, INGEST_JSON_ARRAY);
    free(copy);

    free(big);
    free(ev);
}


typedef struct {
    int     lines;
    char    last[1024];
} replay_t;


static void
replay_line(void *ctx, const char *line, size_t len)
{
    replay_t  *r;

    r = ctx;
    r->lines++;
    (void) snprintf(r->last, sizeof(r->last), "%.*s", (int) len, line);
}


/* lines written by ingest_ev_write() come back by replay, oldest first */
static void
test_events_log(void **state)
{
    int              dir, fd, i;
    char             tmpl[] = "/tmp/test-events-XXXXXX";
    ingest_ev_t      ev;
    replay_t         r;
    ingest_events_t  log;

    (void) state;

    assert_non_null(mkdtemp(tmpl));
    dir = open(tmpl, O_RDONLY | O_DIRECTORY);
    assert_true(dir >= 0);

    assert_int_equal(ingest_events_open(&log, dir, tmpl, 0), 0);

    for (i = 0; i < 3; i++) {
        ingest_ev_begin(&ev, "seen", "info");
        ingest_ev_int(&ev, "i", i);
        assert_int_equal(ingest_ev_write(&log, &ev, "line %d", i), 0);
    }

    ingest_events_close(&log);

    /* a half line at the end (a crash mid-write elsewhere) is ignored */
    fd = openat(dir, INGEST_EVENTS_FILE, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\"half\":", 8), 8);
    (void) close(fd);

    memset(&r, 0, sizeof(r));
    assert_int_equal(ingest_events_replay(dir, replay_line, &r), 0);
    assert_int_equal(r.lines, 3);
    assert_non_null(strstr(r.last, "\"msg\":\"line 2\""));
    assert_non_null(strstr(r.last, "\"event\":\"seen\""));

    (void) unlinkat(dir, INGEST_EVENTS_FILE, 0);
    (void) close(dir);
    (void) rmdir(tmpl);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_invalid_documents),
        cmocka_unit_test(test_events_round_trip),
        cmocka_unit_test(test_events_truncated),
        cmocka_unit_test(test_events_log),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
