/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of corte detection (ingest/package/corte.c, corte_zip.c):
 * file names, both CSV dialects (IEQROO "2024/06/03", Anexo 13
 * "03/06/2024", IECM padding), JSON "ultimoCorte" (also split across
 * any chunk boundary), zips and zips in zips, and the rules that tie the
 * sources together.
 */


#include <fcntl.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <cmocka.h>

#include "package/ingest_corte.h"
#include "test_util.h"


/* 2024-06-03 00:15 at UTC-5 is 05:15 UTC */
#define T_0015       1717391700
#define OFF_M5       (-5 * 3600)


static const char  csv_ieqroo[] =
    "sep=|\n"
    "AYUNTAMIENTOS\n"
    "2024/06/03 00:15 (UTC-5)\n"
    "ACTAS_ESPERADAS|ACTAS_REGISTRADAS|ACTAS_FUERA_CATALOGO\n"
    "2496|1913|0\n"
    "\n"
    "CLAVE_CASILLA|CLAVE_ACTA|FECHA_HORA_ACOPIO\n"
    "\n"
    "=\"230085B0100\"|230085B010004|2024-06-02 20:41:13\n";

static const char  csv_ine[] =
    "AYUNTAMIENTOS\n"
    "03/06/2024 00:15 (UTC-5)\n"
    "ACTAS_ESPERADAS,ACTAS_REGISTRADAS,ACTAS_FUERA_CATALOGO\n"
    "2496,1913,0\n"
    "CLAVE_CASILLA,CLAVE_ACTA,FECHA_HORA_ACOPIO\n"
    "'230085B0100,'230085B0100A04,02/06/2024 20:41:13 (UTC-5)\n";

static const char  csv_iecm[] =
    "JEFATURA DE GOBIERNO,,,,,,,,\r\n"
    "02/06/2024 20:00 (UTC-6),,,,,,,,\r\n"
    ",,,,,,,,\r\n"
    "ACTAS_ESPERADAS,ACTAS_REGISTRADAS\r\n";


static void
expect_corte(const ingest_corte_t *c, int y, int mo, int d, int h, int mi)
{
    if (c->year != y || c->month != mo || c->day != d || c->hour != h
        || c->minute != mi)
    {
        fail_msg("got %04d-%02d-%02d %02d:%02d, want %04d-%02d-%02d "
                 "%02d:%02d", c->year, c->month, c->day, c->hour,
                 c->minute, y, mo, d, h, mi);
    }
}


static void
test_name(void **state)
{
    ingest_corte_t  c;
    const char     *n;

    (void) state;

    n = "20240603_0015_PREP_QROO.tar.gz";
    assert_int_equal(ingest_corte_parse_name(n, strlen(n), &c), 1);
    expect_corte(&c, 2024, 6, 3, 0, 15);
    assert_int_equal(c.has_offset, 0);
    assert_string_equal(c.text, "20240603_0015");

    n = "corte-20240602_2345.tgz";
    assert_int_equal(ingest_corte_parse_name(n, strlen(n), &c), 1);
    expect_corte(&c, 2024, 6, 2, 23, 45);

    /* not inside a longer number */
    n = "120240603_0015.tar.gz";
    assert_int_equal(ingest_corte_parse_name(n, strlen(n), &c), 0);
    n = "20240603_00150.tar.gz";
    assert_int_equal(ingest_corte_parse_name(n, strlen(n), &c), 0);

    /* an impossible date is skipped for a later valid one */
    n = "20241399_0015_20240603_0030";
    assert_int_equal(ingest_corte_parse_name(n, strlen(n), &c), 1);
    expect_corte(&c, 2024, 6, 3, 0, 30);

    n = "20240230_1200.tar.gz";
    assert_int_equal(ingest_corte_parse_name(n, strlen(n), &c), 0);
    n = "20240229_1200.tar.gz";                 /* a leap year */
    assert_int_equal(ingest_corte_parse_name(n, strlen(n), &c), 1);
    n = "20240603_2400.tar.gz";
    assert_int_equal(ingest_corte_parse_name(n, strlen(n), &c), 0);

    n = "PREP_QROO.tar.gz";
    assert_int_equal(ingest_corte_parse_name(n, strlen(n), &c), 0);
    n = "20240603_001";
    assert_int_equal(ingest_corte_parse_name(n, strlen(n), &c), 0);
}


static void
expect_datetime(const char *s, int y, int mo, int d, int h, int mi,
    int has_offset, int32_t off, const char *text)
{
    size_t          used;
    ingest_corte_t  c;

    if (ingest_corte_parse_datetime(s, strlen(s), &used, &c) != 1) {
        fail_msg("\"%s\" not parsed", s);
    }

    expect_corte(&c, y, mo, d, h, mi);
    assert_int_equal(c.has_offset, has_offset);
    assert_int_equal(c.utc_offset, off);
    assert_string_equal(c.text, text);
    assert_int_equal(used, strlen(text));
}


static void
expect_no_datetime(const char *s)
{
    size_t          used;
    ingest_corte_t  c;

    if (ingest_corte_parse_datetime(s, strlen(s), &used, &c) != 0) {
        fail_msg("\"%s\" parsed", s);
    }
}


static void
test_datetime(void **state)
{
    (void) state;

    expect_datetime("2024/06/02 20:15 (UTC-5)", 2024, 6, 2, 20, 15, 1,
                    OFF_M5, "2024/06/02 20:15 (UTC-5)");
    expect_datetime("02/06/2024 20:15 (UTC-5)", 2024, 6, 2, 20, 15, 1,
                    OFF_M5, "02/06/2024 20:15 (UTC-5)");
    expect_datetime("04/06/2024 14:40(UTC-6)", 2024, 6, 4, 14, 40, 1,
                    -6 * 3600, "04/06/2024 14:40(UTC-6)");
    expect_datetime("2024-06-02 20:15", 2024, 6, 2, 20, 15, 0, 0,
                    "2024-06-02 20:15");
    expect_datetime("2/6/2024 8:05 (UTC -05:00) tail", 2024, 6, 2, 8, 5, 1,
                    OFF_M5, "2/6/2024 8:05 (UTC -05:00)");
    expect_datetime("2024/06/02 20:15 (GMT+5:30)", 2024, 6, 2, 20, 15, 1,
                    5 * 3600 + 1800, "2024/06/02 20:15 (GMT+5:30)");
    expect_datetime("2024/06/02 20:15 (UTC)", 2024, 6, 2, 20, 15, 1, 0,
                    "2024/06/02 20:15 (UTC)");
    expect_datetime("2024/06/02 20:15 (UTC\xE2\x88\x92" "5)", 2024, 6, 2, 20,
                    15, 1, OFF_M5, "2024/06/02 20:15 (UTC\xE2\x88\x92" "5)");
    expect_datetime("2024/06/02 20:15:00 (UTC-5)", 2024, 6, 2, 20, 15, 1,
                    OFF_M5, "2024/06/02 20:15:00 (UTC-5)");

    /* an offset that cannot be read is not part of the date */
    expect_datetime("2024/06/02 20:15 (UTC-15)", 2024, 6, 2, 20, 15, 0, 0,
                    "2024/06/02 20:15");
    expect_datetime("2024/06/02 20:15 (CST)", 2024, 6, 2, 20, 15, 0, 0,
                    "2024/06/02 20:15");

    expect_no_datetime("31/02/2024 10:00 (UTC-5)");
    expect_no_datetime("2024/13/02 10:00");
    expect_no_datetime("2024/06/02 24:00");
    expect_no_datetime("2024/06/02 20:60");
    expect_no_datetime("2024/06/02 20:15:30");      /* seconds: an acta */
    expect_no_datetime("2024/06/02T20:15");
    expect_no_datetime("2024/06-02 20:15");
    expect_no_datetime("24/06/02 20:15");
    expect_no_datetime("2024/06/02 20:5");
    expect_no_datetime("2024/06/02 20:150");
    expect_no_datetime("DD/MM/AAAA HH:MM (UTC-6)");
    expect_no_datetime("");
}


static void
expect_csv(const char *csv, int y, int mo, int d, int h, int mi,
    int32_t off, const char *text)
{
    ingest_corte_t  c;

    if (ingest_corte_parse_csv(csv, strlen(csv), &c) != 1) {
        fail_msg("no corte in:\n%s", csv);
    }

    expect_corte(&c, y, mo, d, h, mi);
    assert_int_equal(c.has_offset, 1);
    assert_int_equal(c.utc_offset, off);
    assert_string_equal(c.text, text);
}


static void
expect_no_csv(const char *csv)
{
    ingest_corte_t  c;

    if (ingest_corte_parse_csv(csv, strlen(csv), &c) != 0) {
        fail_msg("a corte found in:\n%s", csv);
    }
}


static void
test_csv_dialects(void **state)
{
    (void) state;

    expect_csv(csv_ieqroo, 2024, 6, 3, 0, 15, OFF_M5,
               "2024/06/03 00:15 (UTC-5)");
    expect_csv(csv_ine, 2024, 6, 3, 0, 15, OFF_M5,
               "03/06/2024 00:15 (UTC-5)");
    expect_csv(csv_iecm, 2024, 6, 2, 20, 0, -6 * 3600,
               "02/06/2024 20:00 (UTC-6)");

    /* a BOM, quotes, semicolons */
    expect_csv("\xEF\xBB\xBF\"03/06/2024 00:15 (UTC-5)\";;\n", 2024, 6, 3,
               0, 15, OFF_M5, "03/06/2024 00:15 (UTC-5)");
    expect_csv("TITLE\n  2024/06/03 00:15 (UTC-5) | |\n", 2024, 6, 3, 0, 15,
               OFF_M5, "2024/06/03 00:15 (UTC-5)");
}


static void
test_csv_not_a_corte(void **state)
{
    (void) state;

    /* the template placeholder, candidaturas, and data rows */
    expect_no_csv("JEFATURA DE GOBIERNO\nDD/MM/AAAA HH:MM (UTC-6)\n");
    expect_no_csv("ID_ENTIDAD,ID_MUNICIPIO,PARTIDO_CI\n23,4,PAN\n");
    expect_no_csv("A,B\n'230085B0100,02/06/2024 20:41:13 (UTC-5),x\n");
    expect_no_csv("A,B\n2024/06/03 00:15 (UTC-5),123\n");
    expect_no_csv("A\n2024/06/03 00:15 (UTC-5) corte final\n");
    expect_no_csv("");

    /* only the first 8 lines are the preamble */
    expect_no_csv("1\n2\n3\n4\n5\n6\n7\n8\n2024/06/03 00:15 (UTC-5)\n");
    expect_csv("1\n2\n3\n4\n5\n6\n7\n2024/06/03 00:15 (UTC-5)\n", 2024, 6, 3,
               0, 15, OFF_M5, "2024/06/03 00:15 (UTC-5)");
}


static void
test_csv_head(void **state)
{
    size_t              i;
    ingest_csv_head_t  *h;
    char                big[1000];

    (void) state;

    h = malloc(sizeof(ingest_csv_head_t));
    assert_non_null(h);

    /* byte by byte, stops after the 8th line */
    ingest_csv_head_init(h);
    for (i = 0; i < strlen(csv_ieqroo); i++) {
        ingest_csv_head_feed(h, csv_ieqroo + i, 1);
    }

    assert_true(ingest_csv_head_full(h));
    assert_int_equal(h->lines, 8);
    assert_memory_equal(h->buf, csv_ieqroo, h->len);
    assert_int_equal(h->buf[h->len - 1], '\n');

    /* long lines: bounded by INGEST_CSV_HEAD_MAX */
    memset(big, ',', sizeof(big));
    ingest_csv_head_init(h);
    for (i = 0; i < 100; i++) {
        ingest_csv_head_feed(h, big, sizeof(big));
    }

    assert_true(ingest_csv_head_full(h));
    assert_int_equal(h->len, INGEST_CSV_HEAD_MAX);

    free(h);
}


static int
ultimo(const char *s, ingest_corte_t *c)
{
    size_t  used;

    return ingest_corte_parse_ultimo(s, strlen(s), &used, c);
}


static void
test_ultimo(void **state)
{
    char            big[1024];
    ingest_corte_t  c;

    (void) state;

    assert_int_equal(ultimo(": {\"fecha\": \"03/06/2024\", "
                            "\"hora\": \"00:15 (UTC-5)\"}", &c), 1);
    expect_corte(&c, 2024, 6, 3, 0, 15);
    assert_int_equal(c.utc_offset, OFF_M5);
    assert_string_equal(c.text, "03/06/2024 00:15 (UTC-5)");

    /* other order, other members, newlines, PHP's "\/" */
    assert_int_equal(ultimo(" :\n {\n \"hora\" : \"00:15 (UTC-5)\",\n"
                            "  \"n\": 12.5, \"ok\": true, \"z\": null,\n"
                            "  \"fecha\": \"03\\/06\\/2024\"\n}", &c), 1);
    expect_corte(&c, 2024, 6, 3, 0, 15);

    assert_int_equal(ultimo(":{\"fecha\":\"2024/06/03\",\"hora\":\"00:15\"}",
                            &c), 1);
    assert_int_equal(c.has_offset, 0);

    /* a string value */
    assert_int_equal(ultimo(": \"03/06/2024 00:15 (UTC-5)\"", &c), 1);
    expect_corte(&c, 2024, 6, 3, 0, 15);

    /* cut short: more is needed */
    assert_int_equal(ultimo(": {\"fecha\": \"03/06/2024\", \"ho", &c), -1);
    assert_int_equal(ultimo(": {\"fecha\": \"03/06", &c), -1);
    assert_int_equal(ultimo("  ", &c), -1);

    /* not understood */
    assert_int_equal(ultimo(": null", &c), 0);
    assert_int_equal(ultimo(": 20240603", &c), 0);
    assert_int_equal(ultimo(", \"x\": 1", &c), -2);
    assert_int_equal(ultimo(": {\"fecha\": \"3 de junio de 2024\", "
                            "\"hora\": \"00:15\"}", &c), 0);
    assert_int_equal(ultimo(": {\"fecha\": \"03/06/2024\"}", &c), 0);
    assert_int_equal(ultimo(": {\"fecha\": \"03/06/2024\", \"hora\": "
                            "\"00:15 (UTC-5)\", \"x\": {\"y\": 1}}", &c), 0);
    assert_int_equal(ultimo(": {\"fecha\": \"03/06/2024\", \"hora\": "
                            "\"00:15 h\"}", &c), 0);
    assert_int_equal(ultimo(": {\"fecha\": \"03\\u002f06/2024\", \"hora\": "
                            "\"00:15\"}", &c), 0);

    /* a value longer than INGEST_JSON_VALUE_MAX is never complete */
    memset(big, ' ', sizeof(big));
    memcpy(big, ": {", 3);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(ultimo(big, &c), 0);
}


static ingest_corte_t
corte(int y, int mo, int d, int h, int mi, int has_off, int32_t off,
    const char *text, const char *source)
{
    ingest_corte_t  c;

    memset(&c, 0, sizeof(ingest_corte_t));
    c.year = y;
    c.month = mo;
    c.day = d;
    c.hour = h;
    c.minute = mi;
    c.has_offset = has_off;
    c.utc_offset = off;
    (void) snprintf(c.text, sizeof(c.text), "%s", text);
    (void) snprintf(c.source, sizeof(c.source), "%s", source);

    return c;
}


static void
test_set_agree(void **state)
{
    ingest_err_t           err;
    ingest_corte_t         c;
    ingest_corte_set_t     set;
    ingest_corte_result_t  res;

    (void) state;

    ingest_err_reset(&err);
    ingest_corte_set_init(&set);

    c = corte(2024, 6, 3, 0, 15, 0, 0, "20240603_0015", "package name");
    assert_int_equal(ingest_corte_set_add(&set, &c, &err), 0);
    c = corte(2024, 6, 3, 0, 15, 1, OFF_M5, "2024/06/03 00:15 (UTC-5)",
              "/bd/a.csv");
    assert_int_equal(ingest_corte_set_add(&set, &c, &err), 0);
    c = corte(2024, 6, 3, 0, 15, 1, OFF_M5, "03/06/2024 00:15 (UTC-5)",
              "/a.json");
    assert_int_equal(ingest_corte_set_add(&set, &c, &err), 0);

    assert_int_equal(ingest_corte_resolve(&set, &res, &err), 0);
    assert_string_equal(res.id, "20240603_0015");
    assert_string_equal(res.text, "2024/06/03 00:15 (UTC-5)");
    assert_string_equal(res.iso8601, "2024-06-03T00:15:00-05:00");
    assert_int_equal(res.time, T_0015);
    assert_int_equal(res.utc_offset, OFF_M5);
    assert_int_equal(res.sources, 3);
    assert_int_equal(err.reason, INGEST_OK);
}


static void
test_set_resolve_times(void **state)
{
    ingest_err_t           err;
    ingest_corte_t         c;
    ingest_corte_set_t     set;
    ingest_corte_result_t  res;

    (void) state;

    /* a positive, fractional offset, across midnight and a year */
    ingest_err_reset(&err);
    ingest_corte_set_init(&set);
    c = corte(2025, 1, 1, 0, 5, 1, 5 * 3600 + 1800, "x", "s");
    assert_int_equal(ingest_corte_set_add(&set, &c, &err), 0);
    assert_int_equal(ingest_corte_resolve(&set, &res, &err), 0);
    assert_string_equal(res.id, "20250101_0005");
    assert_string_equal(res.iso8601, "2025-01-01T00:05:00+05:30");
    assert_int_equal(res.time, 1735670100);     /* 2024-12-31T18:35Z */

    /* leap day, UTC-6 */
    ingest_corte_set_init(&set);
    c = corte(2024, 2, 29, 23, 59, 1, -6 * 3600, "x", "s");
    assert_int_equal(ingest_corte_set_add(&set, &c, &err), 0);
    assert_int_equal(ingest_corte_resolve(&set, &res, &err), 0);
    assert_int_equal(res.time, 1709272740);     /* 2024-03-01T05:59Z */
}


static void
test_set_disagree(void **state)
{
    ingest_err_t        err;
    ingest_corte_t      c;
    ingest_corte_set_t  set;

    (void) state;

    /* another minute */
    ingest_err_reset(&err);
    ingest_corte_set_init(&set);
    c = corte(2024, 6, 3, 0, 15, 0, 0, "20240603_0015",
              "package name \"20240603_0015_PREP_QROO.tar.gz\"");
    assert_int_equal(ingest_corte_set_add(&set, &c, &err), 0);
    c = corte(2024, 6, 3, 0, 30, 1, OFF_M5, "2024/06/03 00:30 (UTC-5)",
              "/assets/bd/QROO_AYUN_2024.csv");
    assert_int_equal(ingest_corte_set_add(&set, &c, &err), -1);
    assert_int_equal(err.reason, INGEST_CORTE_MISMATCH);
    assert_non_null(strstr(err.msg, "20240603_0015_PREP_QROO.tar.gz"));
    assert_non_null(strstr(err.msg, "/assets/bd/QROO_AYUN_2024.csv"));
    assert_non_null(strstr(err.msg, "2024-06-03 00:15"));
    assert_non_null(strstr(err.msg, "2024-06-03 00:30 (UTC-5)"));

    /* the same wall clock in another offset */
    ingest_err_reset(&err);
    ingest_corte_set_init(&set);
    c = corte(2024, 6, 3, 0, 15, 0, 0, "20240603_0015", "package name");
    assert_int_equal(ingest_corte_set_add(&set, &c, &err), 0);
    c = corte(2024, 6, 3, 0, 15, 1, OFF_M5, "t1", "/one.csv");
    assert_int_equal(ingest_corte_set_add(&set, &c, &err), 0);
    c = corte(2024, 6, 3, 0, 15, 1, -6 * 3600, "t2", "/two.json");
    assert_int_equal(ingest_corte_set_add(&set, &c, &err), -1);
    assert_int_equal(err.reason, INGEST_CORTE_MISMATCH);
    assert_non_null(strstr(err.msg, "/one.csv"));
    assert_non_null(strstr(err.msg, "/two.json"));
    assert_non_null(strstr(err.msg, "(UTC-6)"));

    /* another day */
    ingest_err_reset(&err);
    ingest_corte_set_init(&set);
    c = corte(2024, 6, 3, 0, 15, 1, OFF_M5, "a", "/a.json");
    assert_int_equal(ingest_corte_set_add(&set, &c, &err), 0);
    c = corte(2024, 6, 2, 0, 15, 1, OFF_M5, "b", "/b.json");
    assert_int_equal(ingest_corte_set_add(&set, &c, &err), -1);
    assert_int_equal(err.reason, INGEST_CORTE_MISMATCH);
}


static void
test_set_missing(void **state)
{
    ingest_err_t           err;
    ingest_corte_t         c;
    ingest_corte_set_t     set;
    ingest_corte_result_t  res;

    (void) state;

    ingest_err_reset(&err);
    ingest_corte_set_init(&set);
    assert_int_equal(ingest_corte_resolve(&set, &res, &err), -1);
    assert_int_equal(err.reason, INGEST_CORTE_MISSING);

    /* the unreadable ones are named */
    ingest_err_reset(&err);
    ingest_corte_set_unreadable(&set, "/assets/x.json");
    ingest_corte_set_unreadable(&set, "/assets/y.json");
    assert_int_equal(ingest_corte_resolve(&set, &res, &err), -1);
    assert_int_equal(err.reason, INGEST_CORTE_MISSING);
    assert_non_null(strstr(err.msg, "/assets/x.json"));
    assert_non_null(strstr(err.msg, "2 "));

    /* sources, but no offset */
    ingest_err_reset(&err);
    ingest_corte_set_init(&set);
    c = corte(2024, 6, 3, 0, 15, 0, 0, "20240603_0015",
              "package name \"p_20240603_0015.tar.gz\"");
    assert_int_equal(ingest_corte_set_add(&set, &c, &err), 0);
    assert_int_equal(ingest_corte_resolve(&set, &res, &err), -1);
    assert_int_equal(err.reason, INGEST_CORTE_NO_OFFSET);
    assert_non_null(strstr(err.msg, "p_20240603_0015.tar.gz"));
}


/* feeds json to a scanner in pieces of "step" bytes */
static int
scan_json(ingest_corte_set_t *set, const char *json, size_t len,
    size_t step, ingest_err_t *err)
{
    size_t               off, n;
    ingest_json_scan_t  *s;
    int                  rc;

    s = malloc(sizeof(ingest_json_scan_t));
    assert_non_null(s);

    ingest_json_scan_init(s, set, "/assets/x.json");
    rc = 0;

    for (off = 0; off < len && rc == 0; off += n) {
        n = len - off < step ? len - off : step;
        rc = ingest_json_scan_feed(s, json + off, n, err);
    }

    if (rc == 0) {
        rc = ingest_json_scan_finish(s, err);
    }

    free(s);

    return rc;
}


static void
test_json_scan_chunks(void **state)
{
    size_t              step;
    const char         *json;
    ingest_err_t        err;
    ingest_corte_set_t  set;

    (void) state;

    json = "{\"capturadas\": {\"total\": \"1,913\"},\n"
           " \"ultimoCorte\": {\"fecha\": \"03/06/2024\", "
           "\"hora\": \"00:15 (UTC-5)\"},\n"
           " \"urlBaseDatos\": \"./assets/x.zip\"}";

    /* every chunk size, so the key and value are cut everywhere */
    for (step = 1; step <= strlen(json); step++) {
        ingest_err_reset(&err);
        ingest_corte_set_init(&set);

        assert_int_equal(scan_json(&set, json, strlen(json), step, &err), 0);
        assert_int_equal(set.sources, 1);
        assert_int_equal(set.unreadable, 0);
        expect_corte(&set.first, 2024, 6, 3, 0, 15);
        assert_string_equal(set.first.source, "/assets/x.json");
    }
}


static void
test_json_scan_window(void **state)
{
    char               *json;
    size_t              len, at, pos, step;
    ingest_err_t        err;
    ingest_corte_set_t  set;
    static const char   obj[] = "\"ultimoCorte\": {\"fecha\": \"03/06/2024\","
                                " \"hora\": \"00:15 (UTC-5)\"}";

    (void) state;

    /* one object placed across the window's end, twice, three sizes */
    len = 3 * INGEST_JSON_WINDOW;
    json = malloc(len);
    assert_non_null(json);

    for (at = INGEST_JSON_WINDOW - 40; at < INGEST_JSON_WINDOW + 5;
         at += 7)
    {
        for (step = 1000; step <= 70000; step += 23000) {
            memset(json, ' ', len);
            memcpy(json + at, obj, sizeof(obj) - 1);
            pos = 2 * INGEST_JSON_WINDOW + at / 3;
            memcpy(json + pos, obj, sizeof(obj) - 1);

            ingest_err_reset(&err);
            ingest_corte_set_init(&set);
            assert_int_equal(scan_json(&set, json, len, step, &err), 0);
            assert_int_equal(set.sources, 2);
            assert_int_equal(set.unreadable, 0);
        }
    }

    free(json);
}


static void
test_json_scan_disagree(void **state)
{
    const char         *json;
    ingest_err_t        err;
    ingest_corte_set_t  set;

    (void) state;

    json = "[{\"ultimoCorte\": {\"fecha\": \"03/06/2024\", "
           "\"hora\": \"00:15 (UTC-5)\"}},"
           " {\"ultimoCorte\": {\"fecha\": \"03/06/2024\", "
           "\"hora\": \"00:30 (UTC-5)\"}}]";

    ingest_err_reset(&err);
    ingest_corte_set_init(&set);
    assert_int_equal(scan_json(&set, json, strlen(json), 7, &err), -1);
    assert_int_equal(err.reason, INGEST_CORTE_MISMATCH);

    /* unreadable values are counted, not fatal */
    json = "{\"ultimoCorte\": null, \"x\": \"ultimoCorte\", "
           "\"ultimoCorte\": {\"fecha\": \"hoy\", \"hora\": \"ya\"}}";

    ingest_err_reset(&err);
    ingest_corte_set_init(&set);
    assert_int_equal(scan_json(&set, json, strlen(json), 5, &err), 0);
    assert_int_equal(set.sources, 0);
    assert_int_equal(set.unreadable, 2);

    /* a value cut by the end of the file */
    json = "{\"ultimoCorte\": {\"fecha\": \"03/06/2024\"";
    ingest_err_reset(&err);
    ingest_corte_set_init(&set);
    assert_int_equal(scan_json(&set, json, strlen(json), 3, &err), 0);
    assert_int_equal(set.sources, 0);
    assert_int_equal(set.unreadable, 1);
}


/* ---------------------------------------------------------------- zips */


typedef struct {
    unsigned char  *buf;
    size_t          cap;
    size_t          used;
} membuf_t;


static struct archive *
zip_begin(membuf_t *m, size_t cap)
{
    struct archive  *a;

    m->buf = malloc(cap);
    m->cap = cap;
    m->used = 0;
    assert_non_null(m->buf);

    a = archive_write_new();
    assert_non_null(a);
    assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(a, m->buf, m->cap, &m->used),
                     ARCHIVE_OK);

    return a;
}


static void
zip_end(struct archive *a)
{
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    assert_int_equal(archive_write_free(a), ARCHIVE_OK);
}


/* a zip that holds one file */
static void
zip_one(membuf_t *m, size_t cap, const char *name, const void *data,
    size_t len)
{
    struct archive  *a;

    a = zip_begin(m, cap);
    add_file(a, name, data, len);
    zip_end(a);
}


/* data at offset 1000 of a temp file, after unrelated bytes */
static int
temp_with(const void *data, size_t len, uint64_t *off)
{
    int   fd;
    char  junk[1000];

    memset(junk, 'j', sizeof(junk));
    fd = temp_fd(junk, sizeof(junk));
    assert_int_equal(write(fd, data, len), (ssize_t) len);

    *off = sizeof(junk);

    return fd;
}


static void
test_zip_nested(void **state)
{
    int                  fd;
    uint64_t             off;
    membuf_t             inner, outer;
    ingest_err_t         err;
    struct archive      *a;
    ingest_corte_set_t   set;

    (void) state;

    a = zip_begin(&inner, 1 << 20);
    add_file(a, "LEEME.txt", "EJEMPLO: 02/06/2024 20:00 (UTC-6)\r\n", 35);
    add_file(a, "QROO_AYUN_2024.csv", csv_ieqroo, strlen(csv_ieqroo));
    add_file(a, "QROO_AYUN_CANDIDATURAS_2024.csv", "ID,PARTIDO\n23,PAN\n", 18);
    zip_end(a);

    a = zip_begin(&outer, 2 << 20);
    add_file(a, "20240603_0015_PREP_AYUN_QROO.zip", inner.buf, inner.used);
    add_file(a, "QROO_DIP_LOC_2024.CSV", csv_ine, strlen(csv_ine));
    zip_end(a);

    fd = temp_with(outer.buf, outer.used, &off);

    ingest_err_reset(&err);
    ingest_corte_set_init(&set);
    assert_int_equal(ingest_corte_scan_zip(fd, off, outer.used,
                                           "/assets/db.zip", &set, &err), 0);

    assert_int_equal(set.sources, 2);
    assert_int_equal(set.offsets, 2);
    expect_corte(&set.first, 2024, 6, 3, 0, 15);
    assert_string_equal(set.first.source, "/assets/db.zip!"
                        "20240603_0015_PREP_AYUN_QROO.zip!QROO_AYUN_2024.csv");

    (void) close(fd);
    free(inner.buf);
    free(outer.buf);
}


static void
test_zip_bomb_skipped(void **state)
{
    int                  fd;
    uint64_t             off;
    membuf_t             inner, outer;
    ingest_err_t         err;
    unsigned char       *zeros;
    struct archive      *a;
    ingest_corte_set_t   set;

    (void) state;

    /* 64 MiB of zeros before the CSV: skipped by the central directory */
    zeros = calloc(1, 64 << 20);
    assert_non_null(zeros);

    a = zip_begin(&inner, 1 << 20);
    add_file(a, "zeros.bin", zeros, 64 << 20);
    add_file(a, "QROO_AYUN_2024.csv", csv_ine, strlen(csv_ine));
    zip_end(a);
    free(zeros);

    zip_one(&outer, 2 << 20, "inner.zip", inner.buf, inner.used);

    fd = temp_with(outer.buf, outer.used, &off);

    ingest_err_reset(&err);
    ingest_corte_set_init(&set);
    assert_int_equal(ingest_corte_scan_zip(fd, off, outer.used, "/b.zip",
                                           &set, &err), 0);
    assert_int_equal(set.sources, 1);
    assert_string_equal(set.first.source,
                        "/b.zip!inner.zip!QROO_AYUN_2024.csv");

    (void) close(fd);
    free(inner.buf);
    free(outer.buf);
}


static void
test_zip_disagree(void **state)
{
    int                  fd;
    uint64_t             off;
    membuf_t             inner, outer;
    ingest_err_t         err;
    ingest_corte_t       c;
    ingest_corte_set_t   set;
    static const char    late[] = "DIPUTACIONES\n2024/06/03 00:30 (UTC-5)\n";

    (void) state;

    zip_one(&inner, 1 << 20, "QROO_DIP_LOC_2024.csv", late, strlen(late));
    zip_one(&outer, 2 << 20, "inner.zip", inner.buf, inner.used);

    fd = temp_with(outer.buf, outer.used, &off);

    ingest_err_reset(&err);
    ingest_corte_set_init(&set);
    c = corte(2024, 6, 3, 0, 15, 0, 0, "20240603_0015", "package name");
    assert_int_equal(ingest_corte_set_add(&set, &c, &err), 0);

    assert_int_equal(ingest_corte_scan_zip(fd, off, outer.used,
                                           "/assets/db.zip", &set, &err), -1);
    assert_int_equal(err.reason, INGEST_CORTE_MISMATCH);
    assert_non_null(strstr(err.msg,
                           "/assets/db.zip!inner.zip!QROO_DIP_LOC_2024.csv"));

    (void) close(fd);
    free(inner.buf);
    free(outer.buf);
}


static void
test_zip_depth_and_garbage(void **state)
{
    int                  fd;
    uint64_t             off;
    membuf_t             z1, z2, z3;
    ingest_err_t         err;
    ingest_corte_set_t   set;

    (void) state;

    /* a CSV three zips deep is past INGEST_ZIP_MAX_DEPTH: not read */
    zip_one(&z1, 1 << 20, "deep.csv", csv_ine, strlen(csv_ine));
    zip_one(&z2, 1 << 20, "z1.zip", z1.buf, z1.used);
    zip_one(&z3, 1 << 20, "z2.zip", z2.buf, z2.used);

    fd = temp_with(z3.buf, z3.used, &off);

    ingest_err_reset(&err);
    ingest_corte_set_init(&set);
    assert_int_equal(ingest_corte_scan_zip(fd, off, z3.used, "/z3.zip", &set,
                                           &err), 0);
    assert_int_equal(set.sources, 0);
    (void) close(fd);

    /* not a zip, and a zip cut in half: skipped without an error */
    fd = temp_with(csv_ine, strlen(csv_ine), &off);
    assert_int_equal(ingest_corte_scan_zip(fd, off, strlen(csv_ine), "/x.zip",
                                           &set, &err), 0);
    (void) close(fd);

    fd = temp_with(z2.buf, z2.used / 2, &off);
    assert_int_equal(ingest_corte_scan_zip(fd, off, z2.used / 2, "/h.zip",
                                           &set, &err), 0);
    (void) close(fd);

    assert_int_equal(set.sources, 0);
    assert_int_equal(err.reason, INGEST_OK);

    free(z1.buf);
    free(z2.buf);
    free(z3.buf);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_datetime),
        cmocka_unit_test(test_csv_dialects),
        cmocka_unit_test(test_csv_not_a_corte),
        cmocka_unit_test(test_csv_head),
        cmocka_unit_test(test_ultimo),
        cmocka_unit_test(test_set_agree),
        cmocka_unit_test(test_set_resolve_times),
        cmocka_unit_test(test_set_disagree),
        cmocka_unit_test(test_set_missing),
        cmocka_unit_test(test_json_scan_chunks),
        cmocka_unit_test(test_json_scan_window),
        cmocka_unit_test(test_json_scan_disagree),
        cmocka_unit_test(test_zip_nested),
        cmocka_unit_test(test_zip_bomb_skipped),
        cmocka_unit_test(test_zip_disagree),
        cmocka_unit_test(test_zip_depth_and_garbage),
    };

    /* as prep-ingest's main(): libarchive converts names to UTF-8 */
    if (setlocale(LC_CTYPE, "C.UTF-8") == NULL) {
        fprintf(stderr, "no C.UTF-8 locale\n");
        return 1;
    }

    return cmocka_run_group_tests(tests, NULL, NULL);
}
