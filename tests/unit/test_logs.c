/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-report's access-log parsers: times, addresses, URL decoding, the
 * nginx, CloudFront and JSON lines, cache statuses, and the reader on
 * plain and gzip files.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <zlib.h>
#include <cmocka.h>

#include "log_parse.h"


#define S(s)  s, sizeof(s) - 1

/* 2026-06-02T14:00:00Z */
#define T0  1780408800000LL


static void
test_times(void **state)
{
    int64_t  ms;

    (void) state;

    assert_int_equal(log_time_clf(S("02/Jun/2026:08:00:00 -0600"), &ms), 0);
    assert_true(ms == T0);
    assert_int_equal(log_time_clf(S("02/Jun/2026:14:00:00 +0000"), &ms), 0);
    assert_true(ms == T0);
    assert_int_equal(log_time_clf(S("02/Jux/2026:14:00:00 +0000"), &ms), -1);
    assert_int_equal(log_time_clf(S("02/Jun/2026:24:00:00 +0000"), &ms), -1);
    assert_int_equal(log_time_clf(S("02/Jun/2026:14:00:00 0000"), &ms), -1);

    assert_int_equal(log_time_iso(S("2026-06-02T14:00:00Z"), &ms), 0);
    assert_true(ms == T0);
    assert_int_equal(log_time_iso(S("2026-06-02T08:00:00.250-06:00"), &ms),
                     0);
    assert_true(ms == T0 + 250);
    assert_int_equal(log_time_iso(S("2026-06-02 15:00:00+0100"), &ms), 0);
    assert_true(ms == T0);
    assert_int_equal(log_time_iso(S("2026-06-02T14:00:00Zx"), &ms), -1);
    assert_int_equal(log_time_iso(S("2026-13-02T14:00:00Z"), &ms), -1);

    assert_int_equal(log_time_date_time(S("2026-06-02"), S("14:00:00"), &ms),
                     0);
    assert_true(ms == T0);

    assert_int_equal(log_time_epoch(S("1780408800"), &ms), 0);
    assert_true(ms == T0);
    assert_int_equal(log_time_epoch(S("1780408800.5"), &ms), 0);
    assert_true(ms == T0 + 500);
    assert_int_equal(log_time_epoch(S("1780408800000"), &ms), 0);
    assert_true(ms == T0);
    assert_int_equal(log_time_epoch(S("1780408800000000000"), &ms), 0);
    assert_true(ms == T0);
    assert_int_equal(log_time_epoch(S("17804x"), &ms), -1);
    assert_int_equal(log_time_epoch(S(""), &ms), -1);
    assert_int_equal(log_time_epoch(S("99999999999999999999"), &ms), -1);
}


static void
test_addresses(void **state)
{
    int            family;
    unsigned char  a[16];

    (void) state;

    assert_int_equal(log_addr(S("192.0.2.10"), &family, a), 0);
    assert_int_equal(family, AF_INET);
    assert_memory_equal(a, "\xc0\x00\x02\x0a", 4);
    assert_int_equal(log_addr(S("2001:db8::1"), &family, a), 0);
    assert_int_equal(family, AF_INET6);
    assert_int_equal(log_addr(S("::ffff:192.0.2.10"), &family, a), 0);
    assert_int_equal(family, AF_INET);
    assert_memory_equal(a, "\xc0\x00\x02\x0a", 4);
    assert_int_equal(log_addr(S("192.0.2.256"), &family, a), -1);
    assert_int_equal(log_addr(S("192.0.2"), &family, a), -1);
    assert_int_equal(log_addr(S("-"), &family, a), -1);
    assert_int_equal(log_addr(S(""), &family, a), -1);
}


static void
test_decoding(void **state)
{
    char  out[64];

    (void) state;

    assert_int_equal(log_url_decode(out, S("/a%20b%2")), 6);
    assert_memory_equal(out, "/a b%2", 6);
    assert_int_equal(log_uri_path(out, S("/x%2Fy.json?v=1%20")), 9);
    assert_memory_equal(out, "/x/y.json", 9);
    assert_int_equal(log_cache_status(S("Hit")), LOG_CACHE_HIT);
    assert_int_equal(log_cache_status(S("RefreshHit")), LOG_CACHE_ORIGIN);
    assert_int_equal(log_cache_status(S("MISS")), LOG_CACHE_ORIGIN);
    assert_int_equal(log_cache_status(S("HIT-CLUSTER")), LOG_CACHE_HIT);
    assert_int_equal(log_cache_status(S("expired")), LOG_CACHE_ORIGIN);
    assert_int_equal(log_cache_status(S("dynamic")), LOG_CACHE_ORIGIN);
    assert_int_equal(log_cache_status(S("1")), LOG_CACHE_HIT);
    assert_int_equal(log_cache_status(S("-")), LOG_CACHE_UNKNOWN);
    assert_int_equal(log_cache_status(S("Error")), LOG_CACHE_UNKNOWN);
}


static char *
line_dup(const char *s)
{
    size_t  n;
    char   *p;

    n = strlen(s);
    p = malloc(n + 1);
    assert_non_null(p);
    memcpy(p, s, n + 1);

    return p;
}


static void
test_nginx_lines(void **state)
{
    char          *l, scratch[LOG_READ_LINE_MAX + 64];
    log_rec_t      r;
    const char    *why;
    log_stream_t   s;

    (void) state;

    memset(&s, 0, sizeof(s));
    log_parse_setup(&s, LOG_FORMAT_NGINX, NULL);
    s.scratch = scratch;

    l = line_dup("192.0.2.1 - - [02/Jun/2026:08:00:00 -0600] \"GET "
                 "/a%20b.html?q=1 HTTP/1.1\" 304 0 \"http://r/\" "
                 "\"Mozilla \\x22q\\x22\"");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_RECORD);
    assert_true(r.ms == T0);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.path_len, 9);
    assert_memory_equal(r.path, "/a b.html", 9);
    assert_int_equal(r.ua_len, 11);
    assert_memory_equal(r.ua, "Mozilla \"q\"", 11);
    assert_null(r.type);
    free(l);

    /* the prep format: one quoted string, key=value words */
    l = line_dup("2001:db8::1 - [02/Jun/2026:08:00:00 -0600] \"GET / "
                 "HTTP/2.0\" 200 512 \"curl/8\" corte=20260602T0800 rt=0.000 "
                 "visitor=00ff new=1 cache=HIT type=\"text/html; "
                 "charset=utf-8\"");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_RECORD);
    assert_int_equal(r.family, AF_INET6);
    assert_int_equal(r.bytes, 512);
    assert_int_equal(r.ua_len, 6);
    assert_int_equal(r.cache, LOG_CACHE_HIT);
    assert_int_equal(r.type_len, 24);
    assert_memory_equal(r.type, "text/html; charset=utf-8", 24);
    free(l);

    /* a TLS handshake sent to a plain port: a hit without a path */
    l = line_dup("192.0.2.1 - - [02/Jun/2026:08:00:00 -0600] "
                 "\"\\x16\\x03\\x01\" 400 150 \"-\" \"-\"");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_RECORD);
    assert_int_equal(r.path_len, 0);
    assert_null(r.ua);
    free(l);

    l = line_dup("192.0.2.1 - - [02/Jun/2026:08:00:00 -0600] \"GET / "
                 "HTTP/1.1\" 2x0 1");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_BAD);
    assert_string_equal(why, "malformed status");
    free(l);

    l = line_dup("192.0.2.1 - - [02/Jun/2026:08:00:00 -0600");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_BAD);
    free(l);
}


static void
test_cloudfront_lines(void **state)
{
    char          *l, scratch[LOG_READ_LINE_MAX + 64];
    log_rec_t      r;
    const char    *why;
    log_stream_t   s;

    (void) state;

    memset(&s, 0, sizeof(s));
    log_parse_setup(&s, LOG_FORMAT_CLOUDFRONT, NULL);
    s.scratch = scratch;

    l = line_dup("2026-06-02\t14:00:00\tx\t1\t192.0.2.1");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_BAD);
    assert_string_equal(why, "no #Fields header before this line");
    free(l);

    l = line_dup("#Version: 1.0");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_SKIP);
    free(l);

    /* columns in an order of our own: found by name */
    l = line_dup("#Fields: sc-status time c-ip date cs(User-Agent) "
                 "cs-uri-stem x-edge-result-type sc-bytes");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_SKIP);
    free(l);

    l = line_dup("200\t14:00:00\t192.0.2.1\t2026-06-02\t"
                 "Mozilla/5.0%20(X11)\t/a%2Bb.json\tRefreshHit\t77");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_RECORD);
    assert_true(r.ms == T0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.bytes, 77);
    assert_int_equal(r.cache, LOG_CACHE_ORIGIN);
    assert_int_equal(r.ua_len, 17);
    assert_memory_equal(r.ua, "Mozilla/5.0 (X11)", 17);
    assert_int_equal(r.path_len, 9);
    assert_memory_equal(r.path, "/a+b.json", 9);
    free(l);

    l = line_dup("200\t14:00:00\t192.0.2.1");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_BAD);
    assert_string_equal(why, "fewer columns than #Fields");
    free(l);

    l = line_dup("#Fields: date time c-ip");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_BAD);
    free(l);
}


static void
test_json_lines(void **state)
{
    char            *l, err[256], scratch[LOG_READ_LINE_MAX + 64];
    log_rec_t        r;
    const char      *why;
    log_stream_t     s;
    log_json_map_t   m;

    (void) state;

    memset(&s, 0, sizeof(s));
    log_parse_setup(&s, LOG_FORMAT_CLOUDFLARE, NULL);
    s.scratch = scratch;

    l = line_dup("{\"Nested\":{\"a\":[1,\"}\"]},\"EdgeStartTimestamp\":"
                 "1780408800000000000, \"ClientIP\" : \"192.0.2.1\","
                 "\"ClientRequestURI\":\"/\\u00e1.json?x\","
                 "\"ClientRequestUserAgent\":\"Moz \\\"q\\\" \\ud83d\\ude00\","
                 "\"EdgeResponseStatus\":200,\"EdgeResponseBytes\":9,"
                 "\"CacheCacheStatus\":\"hit\",\"EdgeResponseContentType\":"
                 "\"application/json\"}");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_RECORD);
    assert_true(r.ms == T0);
    assert_int_equal(r.path_len, 8);
    assert_memory_equal(r.path, "/\xc3\xa1.json", 8);
    assert_int_equal(r.ua_len, 12);
    assert_memory_equal(r.ua, "Moz \"q\" \xf0\x9f\x98\x80", 12);
    assert_int_equal(r.cache, LOG_CACHE_HIT);
    assert_int_equal(r.type_len, 16);
    free(l);

    l = line_dup("{\"ClientIP\":\"192.0.2.1\"}");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_BAD);
    assert_string_equal(why, "no time member");
    free(l);

    l = line_dup("{\"EdgeStartTimestamp\":\"x");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_BAD);
    free(l);

    l = line_dup("[1,2]");
    assert_int_equal(s.parse(&s, l, strlen(l), &r, &why), LOG_PARSE_BAD);
    free(l);

    assert_int_equal(log_json_map_parse(&m, "time=t,ip=i,uri=u,status=s",
                                        err, sizeof(err)), 0);
    assert_int_equal(log_json_map_parse(&m, "time=t,ip=i,uri=u", err,
                                        sizeof(err)), -1);
    assert_non_null(strstr(err, "status"));
    assert_int_equal(log_json_map_parse(&m, "time=t,ip", err, sizeof(err)),
                     -1);
}


static void
write_file(const char *path, const void *data, size_t len)
{
    FILE  *f;

    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}


static void
test_reader(void **state)
{
    int            rc, n;
    char           path[] = "/tmp/test_logs_XXXXXX", *line, err[256];
    char           text[] = "one\r\ntwo\nthree";
    size_t         len, glen;
    gzFile         gz;
    unsigned char  gzbuf[65536];
    FILE          *f;
    log_reader_t   r;

    (void) state;

    assert_true(mkstemp(path) >= 0);
    write_file(path, text, strlen(text));

    assert_int_equal(log_reader_open(&r, path, 1, err, sizeof(err)), 0);
    assert_int_equal(log_reader_line(&r, &line, &len), LOG_READ_LINE);
    assert_string_equal(line, "one");
    assert_int_equal(log_reader_line(&r, &line, &len), LOG_READ_LINE);
    assert_string_equal(line, "two");
    assert_int_equal(log_reader_line(&r, &line, &len), LOG_READ_LINE);
    assert_string_equal(line, "three");
    assert_int_equal(log_reader_line(&r, &line, &len), LOG_READ_EOF);
    assert_true(r.hashed);
    /* sha256sum of "one\r\ntwo\nthree" */
    assert_string_equal(r.sha256, "a001fb8bcb239ae11063f9bc9096e8aa"
                                  "395c93249e3d465fd1e24de35ba88f55");
    log_reader_close(&r);

    /* gzip, then cut in the middle */
    gz = gzopen(path, "wb");
    assert_non_null(gz);
    for (n = 0; n < 2000; n++) {
        gzprintf(gz, "line %d\n", n);
    }
    gzclose(gz);

    f = fopen(path, "rb");
    glen = fread(gzbuf, 1, sizeof(gzbuf), f);
    fclose(f);
    assert_true(glen > 100 && glen < sizeof(gzbuf));

    assert_int_equal(log_reader_open(&r, path, 1, err, sizeof(err)), 0);
    for (n = 0; (rc = log_reader_line(&r, &line, &len)) == LOG_READ_LINE;
         n++)
    {
        /* void */
    }
    assert_int_equal(rc, LOG_READ_EOF);
    assert_int_equal(n, 2000);
    log_reader_close(&r);

    write_file(path, gzbuf, glen - 20);
    assert_int_equal(log_reader_open(&r, path, 1, err, sizeof(err)), 0);
    for (n = 0; (rc = log_reader_line(&r, &line, &len)) == LOG_READ_LINE;
         n++)
    {
        assert_int_equal(strncmp(line, "line ", 5), 0);
    }
    assert_int_equal(rc, LOG_READ_ERROR);
    assert_true(n < 2000);
    assert_non_null(strstr(r.err, path));
    assert_non_null(strstr(r.err, "truncated gzip"));
    log_reader_close(&r);

    unlink(path);
    assert_int_equal(log_reader_open(&r, path, 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_decoding),
        cmocka_unit_test(test_nginx_lines),
        cmocka_unit_test(test_cloudfront_lines),
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_reader),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
