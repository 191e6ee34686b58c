/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of content types by extension (libprep/prep_mime.c).  Every
 * extension of the table is looked up, which also proves the table is
 * sorted: a binary search misses entries of an unsorted one.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "prep_mime.h"


#define UTF8  "; charset=utf-8"


typedef struct {
    const char  *path;
    const char  *type;
    int          compressible;
} mime_case_t;


static const mime_case_t  table[] = {
    { "/a.avif", "image/avif", 0 },
    { "/a.bmp", "image/bmp", 1 },
    { "/a.css", "text/css" UTF8, 1 },
    { "/a.csv", "text/csv" UTF8, 1 },
    { "/a.eot", "application/vnd.ms-fontobject", 1 },
    { "/a.geojson", "application/geo+json" UTF8, 1 },
    { "/a.gif", "image/gif", 0 },
    { "/a.gz", "application/gzip", 0 },
    { "/a.htm", "text/html" UTF8, 1 },
    { "/a.html", "text/html" UTF8, 1 },
    { "/a.ico", "image/x-icon", 1 },
    { "/a.jpeg", "image/jpeg", 0 },
    { "/a.jpg", "image/jpeg", 0 },
    { "/a.js", "text/javascript" UTF8, 1 },
    { "/a.json", "application/json" UTF8, 1 },
    { "/a.map", "application/json" UTF8, 1 },
    { "/a.md", "text/markdown" UTF8, 1 },
    { "/a.mjs", "text/javascript" UTF8, 1 },
    { "/a.mp3", "audio/mpeg", 0 },
    { "/a.mp4", "video/mp4", 0 },
    { "/a.otf", "font/otf", 1 },
    { "/a.pdf", "application/pdf", 0 },
    { "/a.png", "image/png", 0 },
    { "/a.svg", "image/svg+xml", 1 },
    { "/a.tsv", "text/tab-separated-values" UTF8, 1 },
    { "/a.ttf", "font/ttf", 1 },
    { "/a.txt", "text/plain" UTF8, 1 },
    { "/a.wasm", "application/wasm", 1 },
    { "/a.webm", "video/webm", 0 },
    { "/a.webmanifest", "application/manifest+json" UTF8, 1 },
    { "/a.webp", "image/webp", 0 },
    { "/a.woff", "font/woff", 0 },
    { "/a.woff2", "font/woff2", 0 },
    { "/a.xhtml", "application/xhtml+xml" UTF8, 1 },
    { "/a.xlsx", "application/vnd.openxmlformats-officedocument"
                 ".spreadsheetml.sheet", 0 },
    { "/a.xml", "application/xml" UTF8, 1 },
    { "/a.zip", "application/zip", 0 },
};


static void
expect_type(const char *path, const char *type, int compressible)
{
    const prep_mime_t  *m;

    m = prep_mime_lookup(path, strlen(path));

    assert_non_null(m);

    if (strcmp(m->type, type) != 0 || m->compressible != compressible) {
        fail_msg("%s: got \"%s\" (%d), want \"%s\" (%d)", path, m->type,
                 m->compressible, type, compressible);
    }
}


static void
expect_default(const char *path)
{
    expect_type(path, "application/octet-stream", 0);
}


static void
test_every_extension(void **state)
{
    size_t  i;

    (void) state;

    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        expect_type(table[i].path, table[i].type, table[i].compressible);
    }
}


static void
test_case_insensitive(void **state)
{
    (void) state;

    expect_type("/INDEX.HTML", "text/html" UTF8, 1);
    expect_type("/Logo.PnG", "image/png", 0);
    expect_type("/datos/QROO_AYUN_2024.CSV", "text/csv" UTF8, 1);
    expect_type("/f.WOFF2", "font/woff2", 0);
}


static void
test_prep_package_files(void **state)
{
    (void) state;

    expect_type("/index.html", "text/html" UTF8, 1);
    expect_type("/main.c41d9a7e03b6f218.js", "text/javascript" UTF8, 1);
    expect_type("/styles.2a9f7c1e5d3b8046.css", "text/css" UTF8, 1);
    expect_type("/assets/ayuntamientos/entidad/23_0085.json",
                "application/json" UTF8, 1);
    expect_type("/assets/20240603_0015_PREP_QROO.zip", "application/zip", 0);
    expect_type("/assets/img/candidatos/AYUN_04_PAN.jpg", "image/jpeg", 0);
    expect_type("/assets/fonts/roboto.woff2", "font/woff2", 0);
    expect_type("/3rdpartylicenses.txt", "text/plain" UTF8, 1);
}


static void
test_unknown(void **state)
{
    (void) state;

    expect_default("/LICENSE");
    expect_default("/a.unknownext");
    expect_default("/a.");
    expect_default("/archive.tar.bz2");
    expect_default("");
    expect_default("/");
    expect_default("/.htaccess");
    /* a dot in a directory is not an extension of the file */
    expect_default("/dir.json/README");
    /* longer than any extension */
    expect_default("/a.averyveryverylongextension");
}


static void
test_last_extension_wins(void **state)
{
    (void) state;

    expect_type("/a.json.gz", "application/gzip", 0);
    expect_type("/a.min.js", "text/javascript" UTF8, 1);
    expect_type("/v1.2/file.css", "text/css" UTF8, 1);
}


static void
test_length_not_nul(void **state)
{
    const prep_mime_t  *m;

    (void) state;

    /* only len bytes count: "/a.json" seen as "/a.js" */
    m = prep_mime_lookup("/a.json", 5);
    assert_string_equal(m->type, "text/javascript" UTF8);

    m = prep_mime_lookup("/a.json", 3);
    assert_string_equal(m->type, "application/octet-stream");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_every_extension),
        cmocka_unit_test(test_case_insensitive),
        cmocka_unit_test(test_prep_package_files),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_last_extension_wins),
        cmocka_unit_test(test_length_not_nul),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
