/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of package reading and validation (ingest/package/: reader.c,
 * gzcheck.c, pathset.c).  Packages are built in memory
 * with libarchive's writer (or by damaging the bytes of a good one),
 * written to an unlinked temp file and read back through
 * ingest_archive_read(); every refusal is checked by its reason code.
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
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "package/ingest_reader.h"
#include "test_util.h"


#define PKG_CAP      (16u << 20)
#define MAX_SEEN     64

#define INDEX_HTML   "<!doctype html><title>PREP</title>"


typedef struct {
    struct archive  *a;
    unsigned char   *buf;
    size_t           used;
} pkg_t;


/* what a sink was given */
typedef struct {
    char      path[MAX_SEEN][PREP_PATH_MAX_LEN + 2];
    uint64_t  size[MAX_SEEN];
    uint64_t  got[MAX_SEEN];
    size_t    n;
    int       open;
    unsigned  resets;
    int       fail_at;          /* begin of this file fails; -1: never */
} seen_t;


/* ----------------------------------------------------------- packages */


static void
pkg_begin_format(pkg_t *p, int format)
{
    p->buf = malloc(PKG_CAP);
    p->used = 0;
    assert_non_null(p->buf);

    p->a = archive_write_new();
    assert_non_null(p->a);
    assert_int_equal(archive_write_set_format(p->a, format), ARCHIVE_OK);
    assert_int_equal(archive_write_add_filter_gzip(p->a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(p->a, p->buf, PKG_CAP,
                                               &p->used),
                     ARCHIVE_OK);
}


static void
pkg_begin(pkg_t *p)
{
    pkg_begin_format(p, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
}


static struct archive_entry *
pkg_new_entry(const char *name, mode_t type, size_t size)
{
    struct archive_entry  *e;

    e = archive_entry_new();
    assert_non_null(e);

    archive_entry_copy_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_size(e, (la_int64_t) size);
    archive_entry_set_mtime(e, 1717391700, 0);

    return e;
}


static void
pkg_write_entry(pkg_t *p, struct archive_entry *e, const void *data,
    size_t len)
{
    int  rc;

    rc = archive_write_header(p->a, e);
    if (rc != ARCHIVE_OK) {
        fail_msg("archive_write_header(%s): %s", archive_entry_pathname(e),
                 archive_error_string(p->a));
    }

    if (len > 0) {
        assert_int_equal(archive_write_data(p->a, data, len),
                         (la_ssize_t) len);
    }

    archive_entry_free(e);
}


static void
pkg_file(pkg_t *p, const char *name, const void *data, size_t len)
{
    pkg_write_entry(p, pkg_new_entry(name, AE_IFREG, len), data, len);
}


static void
pkg_text(pkg_t *p, const char *name, const char *text)
{
    pkg_file(p, name, text, strlen(text));
}


static void
pkg_dir(pkg_t *p, const char *name)
{
    pkg_write_entry(p, pkg_new_entry(name, AE_IFDIR, 0), NULL, 0);
}


/* a symbolic (type AE_IFLNK) or hard (AE_IFREG) link to target */
static void
pkg_link(pkg_t *p, const char *name, mode_t type, const char *target)
{
    struct archive_entry  *e;

    e = pkg_new_entry(name, type, 0);

    if (type == AE_IFLNK) {
        archive_entry_copy_symlink(e, target);

    } else {
        archive_entry_copy_hardlink(e, target);
    }

    pkg_write_entry(p, e, NULL, 0);
}


static void
pkg_end(pkg_t *p)
{
    assert_int_equal(archive_write_close(p->a), ARCHIVE_OK);
    assert_int_equal(archive_write_free(p->a), ARCHIVE_OK);
    p->a = NULL;
}


static void
pkg_free(pkg_t *p)
{
    free(p->buf);
    p->buf = NULL;
}


/* the smallest valid package, plus what the caller adds */
static void
pkg_begin_site(pkg_t *p)
{
    pkg_begin(p);
    pkg_text(p, "index.html", INDEX_HTML);
}


/* -------------------------------------------------------------- sinks */


static int
seen_reset(void *ctx, ingest_err_t *err)
{
    seen_t  *s;

    (void) err;
    s = ctx;
    s->n = 0;
    s->open = 0;
    s->resets++;

    return 0;
}


static int
seen_begin(void *ctx, const char *path, size_t len, uint64_t size,
    ingest_err_t *err)
{
    seen_t  *s;

    s = ctx;
    assert_false(s->open);
    assert_true(s->n < MAX_SEEN);
    assert_true(len <= PREP_PATH_MAX_LEN);

    if ((int) s->n == s->fail_at) {
        return ingest_fail(err, INGEST_IO, "sink refused %.*s", (int) len,
                           path);
    }

    memcpy(s->path[s->n], path, len);
    s->path[s->n][len] = '\0';
    s->size[s->n] = size;
    s->got[s->n] = 0;
    s->open = 1;

    return 0;
}


static int
seen_data(void *ctx, const void *buf, size_t len, ingest_err_t *err)
{
    seen_t  *s;

    (void) buf;
    (void) err;
    s = ctx;
    assert_true(s->open);
    s->got[s->n] += len;

    return 0;
}


static int
seen_end(void *ctx, ingest_err_t *err)
{
    seen_t  *s;

    (void) err;
    s = ctx;
    assert_true(s->open);
    assert_int_equal(s->got[s->n], s->size[s->n]);
    s->open = 0;
    s->n++;

    return 0;
}


/* --------------------------------------------------------------- runs */


static int
read_bytes(const void *data, size_t len, const ingest_limits_t *lim,
    seen_t *seen, ingest_archive_info_t *info, ingest_err_t *err)
{
    int              fd, rc;
    ingest_sink_t    sink;
    ingest_limits_t  def;

    if (lim == NULL) {
        ingest_limits_default(&def);
        lim = &def;
    }

    memset(seen, 0, sizeof(seen_t));
    seen->fail_at = -1;

    sink.ctx = seen;
    sink.reset = seen_reset;
    sink.begin = seen_begin;
    sink.data = seen_data;
    sink.end = seen_end;

    ingest_err_reset(err);
    fd = temp_fd(data, len);
    rc = ingest_archive_read(fd, lim, &sink, info, err);
    (void) close(fd);

    return rc;
}


static seen_t                 seen;
static ingest_archive_info_t  info;


/* reads p and expects a refusal for reason */
static void
expect_reason_lim(pkg_t *p, const ingest_limits_t *lim,
    ingest_reason_e reason)
{
    int           rc;
    ingest_err_t  err;

    rc = read_bytes(p->buf, p->used, lim, &seen, &info, &err);

    if (rc != -1 || err.reason != reason) {
        fail_msg("got %d %s (%s), want %s", rc,
                 ingest_reason_code(err.reason), err.msg,
                 ingest_reason_code(reason));
    }

    assert_true(err.msg[0] != '\0');
    assert_true(strchr(err.msg, '\n') == NULL);
    assert_true(ingest_reason_rejects(reason) == (reason != INGEST_IO));
}


static void
expect_reason(pkg_t *p, ingest_reason_e reason)
{
    expect_reason_lim(p, NULL, reason);
}


static void
expect_ok_lim(pkg_t *p, const ingest_limits_t *lim)
{
    int           rc;
    ingest_err_t  err;

    rc = read_bytes(p->buf, p->used, lim, &seen, &info, &err);

    if (rc != 0) {
        fail_msg("refused: %s: %s", ingest_reason_code(err.reason), err.msg);
    }
}


static void
expect_ok(pkg_t *p)
{
    expect_ok_lim(p, NULL);
}


/* the reason for the bytes [data, data + len) */
static ingest_reason_e
reason_of(const void *data, size_t len)
{
    ingest_err_t  err;

    assert_int_equal(read_bytes(data, len, NULL, &seen, &info, &err), -1);
    assert_true(strchr(err.msg, '\n') == NULL);

    return err.reason;
}


static void
expect_paths(size_t n, ...)
{
    size_t   i;
    va_list  args;

    assert_int_equal(seen.n, n);

    va_start(args, n);
    for (i = 0; i < n; i++) {
        assert_string_equal(seen.path[i], va_arg(args, const char *));
    }
    va_end(args);
}


/* ------------------------------------------------------------- tests */


static void
test_flat_package(void **state)
{
    pkg_t          p;
    unsigned int   n;
    unsigned char  sha[EVP_MAX_MD_SIZE];

    (void) state;

    pkg_begin(&p);
    pkg_dir(&p, "./");
    pkg_text(&p, "./index.html", INDEX_HTML);
    pkg_dir(&p, "./assets/");
    pkg_text(&p, "./assets/configuracion.json", "{\"corte\": 1}");
    pkg_file(&p, "./assets/empty.txt", "", 0);
    pkg_end(&p);

    expect_ok(&p);
    expect_paths(3, "/index.html", "/assets/configuracion.json",
                 "/assets/empty.txt");

    assert_int_equal(info.files, 3);
    assert_int_equal(info.file_bytes, strlen(INDEX_HTML) + 12);
    assert_int_equal(info.entries, 5);
    assert_int_equal(info.package_bytes, p.used);
    assert_int_equal(info.tar_bytes % 512, 0);
    assert_int_equal(info.stripped, 0);
    assert_int_equal(info.passes, 1);

    /* the SHA-256 of the package file */
    assert_int_equal(EVP_Digest(p.buf, p.used, sha, &n, EVP_sha256(), NULL),
                     1);
    assert_memory_equal(info.sha256, sha, PREP_SHA256_LEN);

    pkg_free(&p);
}


static void
test_top_folder_stripped(void **state)
{
    pkg_t  p;

    (void) state;

    pkg_begin(&p);
    pkg_dir(&p, "20240603_0015_PREP_QROO/");
    pkg_text(&p, "20240603_0015_PREP_QROO/index.html", INDEX_HTML);
    pkg_dir(&p, "20240603_0015_PREP_QROO/assets/");
    pkg_text(&p, "20240603_0015_PREP_QROO/assets/a.json", "{}");
    pkg_end(&p);

    expect_ok(&p);
    expect_paths(2, "/index.html", "/assets/a.json");
    assert_int_equal(info.stripped, 1);
    assert_string_equal(info.root, "/20240603_0015_PREP_QROO");
    assert_int_equal(info.passes, 1);
    assert_int_equal(seen.resets, 0);
    pkg_free(&p);

    /* no directory entries, "./" prefixes */
    pkg_begin(&p);
    pkg_text(&p, "./site/assets/a.json", "{}");
    pkg_text(&p, "./site/index.html", INDEX_HTML);
    pkg_end(&p);

    expect_ok(&p);
    expect_paths(2, "/assets/a.json", "/index.html");
    assert_int_equal(info.stripped, 1);
    pkg_free(&p);

    /* the folder is the root: index.html must be in it */
    pkg_begin(&p);
    pkg_text(&p, "site/sub/index.html", INDEX_HTML);
    pkg_end(&p);

    expect_reason(&p, INGEST_NO_INDEX_HTML);
    assert_non_null(strstr(seen.path[0], "/sub/index.html"));
    pkg_free(&p);
}


static void
test_flat_after_guess(void **state)
{
    pkg_t  p;

    (void) state;

    /* the first entries look like a top folder; index.html says no */
    pkg_begin(&p);
    pkg_dir(&p, "assets/");
    pkg_text(&p, "assets/a.json", "{}");
    pkg_text(&p, "assets/b.json", "{}");
    pkg_text(&p, "index.html", INDEX_HTML);
    pkg_text(&p, "main.js", "1");
    pkg_end(&p);

    expect_ok(&p);
    expect_paths(4, "/assets/a.json", "/assets/b.json", "/index.html",
                 "/main.js");
    assert_int_equal(info.stripped, 0);
    assert_int_equal(info.passes, 2);
    assert_int_equal(seen.resets, 1);
    assert_int_equal(info.files, 4);
    pkg_free(&p);

    /* decided before any file: no second pass */
    pkg_begin(&p);
    pkg_dir(&p, "assets/");
    pkg_dir(&p, "img/");
    pkg_text(&p, "index.html", INDEX_HTML);
    pkg_end(&p);

    expect_ok(&p);
    expect_paths(1, "/index.html");
    assert_int_equal(info.passes, 1);
    pkg_free(&p);

    /* a file named like the folder */
    pkg_begin(&p);
    pkg_text(&p, "site/index.html", INDEX_HTML);
    pkg_text(&p, "site2", "x");
    pkg_end(&p);

    expect_reason(&p, INGEST_NO_INDEX_HTML);
    assert_int_equal(info.passes, 2);
    pkg_free(&p);
}


static void
test_validate_only(void **state)
{
    pkg_t            p;
    int              fd;
    ingest_err_t     err;
    ingest_limits_t  lim;

    (void) state;

    pkg_begin(&p);
    pkg_dir(&p, "assets/");
    pkg_text(&p, "assets/a.json", "{}");
    pkg_text(&p, "index.html", INDEX_HTML);
    pkg_end(&p);

    /* no sink: no second pass either */
    ingest_limits_default(&lim);
    ingest_err_reset(&err);
    fd = temp_fd(p.buf, p.used);
    assert_int_equal(ingest_archive_read(fd, &lim, NULL, &info, &err), 0);
    assert_int_equal(info.passes, 1);
    assert_int_equal(info.files, 2);
    (void) close(fd);

    pkg_free(&p);
}


static void
test_utf8_and_long_names(void **state)
{
    pkg_t  p;
    char   name[200], want[200];

    (void) state;

    memset(name, 'n', 150);
    memcpy(name + 150, ".json", 6);
    want[0] = '/';
    memcpy(want + 1, name, 156);

    pkg_begin_site(&p);
    pkg_text(&p, "a\xC3\xB1os/\xC3\xB1" "and\xC3\xBA.json", "{}");
    pkg_text(&p, "OTH\xC3\x93N P. BLANCO.csv", "x");
    pkg_text(&p, name, "{}");
    pkg_end(&p);

    expect_ok(&p);
    expect_paths(4, "/index.html", "/a\xC3\xB1os/\xC3\xB1" "and\xC3\xBA.json",
                 "/OTH\xC3\x93N P. BLANCO.csv", want);
    pkg_free(&p);

    /* GNU long names too (guards against the 3.7.5 truncation bug) */
    pkg_begin_format(&p, ARCHIVE_FORMAT_TAR_GNUTAR);
    pkg_text(&p, "index.html", INDEX_HTML);
    pkg_text(&p, name, "{}");
    pkg_end(&p);

    expect_ok(&p);
    expect_paths(2, "/index.html", want);
    pkg_free(&p);
}


static void
test_links(void **state)
{
    pkg_t   p;
    size_t  i;

    static const struct {
        const char  *name;
        mode_t       type;
        const char  *target;
    } links[] = {
        { "d", AE_IFLNK, "../.." },
        /* a hard link to an earlier file, and one to /etc/passwd */
        { "copy.html", AE_IFREG, "index.html" },
        { "passwd", AE_IFREG, "/etc/passwd" },
    };

    (void) state;

    pkg_begin_site(&p);
    pkg_link(&p, "moo", AE_IFLNK, "/tmp/moo");
    pkg_text(&p, "moo", "then a file through it");
    pkg_end(&p);
    expect_reason(&p, INGEST_LINK);
    pkg_free(&p);

    for (i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        pkg_begin_site(&p);
        pkg_link(&p, links[i].name, links[i].type, links[i].target);
        pkg_end(&p);
        expect_reason(&p, INGEST_LINK);
        pkg_free(&p);
    }
}


static void
test_special_files(void **state)
{
    pkg_t                  p;
    mode_t                 types[] = { AE_IFCHR, AE_IFBLK, AE_IFIFO };
    size_t                 i;
    struct archive_entry  *e;

    (void) state;

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        pkg_begin_site(&p);
        e = pkg_new_entry("dev", types[i], 0);
        archive_entry_set_rdevmajor(e, 1);
        archive_entry_set_rdevminor(e, 3);
        pkg_write_entry(&p, e, NULL, 0);
        pkg_end(&p);

        expect_reason(&p, INGEST_SPECIAL_FILE);
        pkg_free(&p);
    }
}


static void
test_sparse(void **state)
{
    pkg_t                  p;
    char                   data[4096];
    struct archive_entry  *e;

    (void) state;

    /* pax writes GNU sparse 1.0 for an entry with a sparse map */
    memset(data, 's', sizeof(data));

    pkg_begin_site(&p);
    e = pkg_new_entry("sparse.bin", AE_IFREG, 1 << 20);
    archive_entry_sparse_add_entry(e, 0, sizeof(data));
    archive_entry_sparse_add_entry(e, 512 * 1024, sizeof(data));
    pkg_write_entry(&p, e, NULL, 0);
    assert_int_equal(archive_write_data(p.a, data, sizeof(data)),
                     sizeof(data));
    assert_int_equal(archive_write_data(p.a, data, sizeof(data)),
                     sizeof(data));
    pkg_end(&p);

    expect_reason(&p, INGEST_SPARSE);
    pkg_free(&p);
}


static void
test_names_refused(void **state)
{
    pkg_t   p;
    size_t  i;

    static const struct {
        const char       *name;
        ingest_reason_e   reason;
    } cases[] = {
        { "../../etc/cron.d/x", INGEST_PATH_DOTDOT },
        { "a/./b/../../../x", INGEST_PATH_DOTDOT },
        { "/etc/passwd", INGEST_PATH_ABSOLUTE },
        { "//etc/passwd", INGEST_PATH_ABSOLUTE },
        { "a//b", INGEST_PATH_SEGMENT },
        { "a\nb.json", INGEST_PATH_CONTROL },
        { "a\\b.json", INGEST_PATH_BACKSLASH },
        { ".", INGEST_PATH_EMPTY },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pkg_begin_site(&p);
        pkg_text(&p, cases[i].name, "x");
        pkg_end(&p);

        expect_reason(&p, cases[i].reason);
        pkg_free(&p);
    }

    /* raw Latin-1 bytes in a ustar header */
    pkg_begin_format(&p, ARCHIVE_FORMAT_TAR_USTAR);
    pkg_text(&p, "index.html", INDEX_HTML);
    pkg_text(&p, "a\xF1o.csv", "x");
    pkg_end(&p);
    expect_reason(&p, INGEST_PATH_UTF8);
    pkg_free(&p);
}


static void
test_depth_and_length(void **state)
{
    pkg_t   p;
    char    name[2048];
    size_t  i;

    (void) state;

    name[0] = '\0';
    for (i = 0; i < 40; i++) {
        strcat(name, "d/");
    }
    strcat(name, "x");

    pkg_begin_site(&p);
    pkg_text(&p, name, "x");
    pkg_end(&p);
    expect_reason(&p, INGEST_PATH_DEEP);
    pkg_free(&p);

    memset(name, 'l', 1500);
    name[1500] = '\0';

    pkg_begin_site(&p);
    pkg_text(&p, name, "x");
    pkg_end(&p);
    expect_reason(&p, INGEST_PATH_LONG);
    pkg_free(&p);
}


static void
test_duplicates(void **state)
{
    pkg_t  p;

    (void) state;

    pkg_begin_site(&p);
    pkg_text(&p, "a.json", "1");
    pkg_text(&p, "./a.json", "2");
    pkg_end(&p);
    expect_reason(&p, INGEST_DUPLICATE_PATH);
    pkg_free(&p);

    pkg_begin_site(&p);
    pkg_text(&p, "index.html", "again");
    pkg_end(&p);
    expect_reason(&p, INGEST_DUPLICATE_PATH);
    pkg_free(&p);

    pkg_begin_site(&p);
    pkg_dir(&p, "x/");
    pkg_dir(&p, "./x");
    pkg_end(&p);
    expect_reason(&p, INGEST_DUPLICATE_PATH);
    pkg_free(&p);

    /* a directory implied by a file first, then listed: fine */
    pkg_begin_site(&p);
    pkg_text(&p, "x/y.json", "1");
    pkg_dir(&p, "x/");
    pkg_end(&p);
    expect_ok(&p);
    pkg_free(&p);
}


static void
test_file_dir_conflicts(void **state)
{
    pkg_t  p;

    (void) state;

    pkg_begin_site(&p);
    pkg_text(&p, "data", "file");
    pkg_text(&p, "data/x", "below it");
    pkg_end(&p);
    expect_reason(&p, INGEST_FILE_DIR_CONFLICT);
    pkg_free(&p);

    pkg_begin_site(&p);
    pkg_text(&p, "data/x/y", "deep");
    pkg_text(&p, "data/x", "file");
    pkg_end(&p);
    expect_reason(&p, INGEST_FILE_DIR_CONFLICT);
    pkg_free(&p);

    pkg_begin_site(&p);
    pkg_dir(&p, "data/");
    pkg_text(&p, "data", "file");
    pkg_end(&p);
    expect_reason(&p, INGEST_FILE_DIR_CONFLICT);
    pkg_free(&p);

    pkg_begin_site(&p);
    pkg_text(&p, "data", "file");
    pkg_dir(&p, "data/");
    pkg_end(&p);
    expect_reason(&p, INGEST_FILE_DIR_CONFLICT);
    pkg_free(&p);
}


static void
test_limits(void **state)
{
    pkg_t            p;
    char             name[32];
    size_t           i;
    unsigned char   *zeros;
    ingest_limits_t  lim;

    (void) state;

    /* entries: 4 files and the implied directory "d" are 5 */
    pkg_begin_site(&p);
    for (i = 0; i < 3; i++) {
        (void) snprintf(name, sizeof(name), "d/%zu.json", i);
        pkg_text(&p, name, "{}");
    }
    pkg_end(&p);

    ingest_limits_default(&lim);
    lim.max_entries = 4;
    expect_reason_lim(&p, &lim, INGEST_TOO_MANY_ENTRIES);
    lim.max_entries = 5;
    expect_ok_lim(&p, &lim);
    pkg_free(&p);

    /* one entry too large: 40 bytes, index.html has fewer */
    pkg_begin_site(&p);
    pkg_text(&p, "big.json", "0123456789012345678901234567890123456789");
    pkg_end(&p);

    ingest_limits_default(&lim);
    lim.max_entry_size = 39;
    expect_reason_lim(&p, &lim, INGEST_ENTRY_TOO_LARGE);
    lim.max_entry_size = 40;
    expect_ok_lim(&p, &lim);
    pkg_free(&p);

    /* the total, and a bomb: 16 MiB of zeros gzip 1000:1 */
    zeros = calloc(1, 16 << 20);
    assert_non_null(zeros);

    pkg_begin_site(&p);
    pkg_file(&p, "zeros.bin", zeros, 16 << 20);
    pkg_end(&p);

    ingest_limits_default(&lim);
    expect_reason_lim(&p, &lim, INGEST_RATIO);

    lim.max_ratio = 100000;
    lim.max_total_size = 8 << 20;
    expect_reason_lim(&p, &lim, INGEST_TOTAL_TOO_LARGE);

    lim.max_total_size = 32 << 20;
    expect_ok_lim(&p, &lim);
    assert_int_equal(seen.got[1], 16 << 20);

    free(zeros);
    pkg_free(&p);
}


static void
test_gzip_damage(void **state)
{
    pkg_t           p;
    size_t          n;
    unsigned char  *copy;

    (void) state;

    pkg_begin_site(&p);
    pkg_text(&p, "a.json", "{\"x\": 1}");
    pkg_end(&p);

    n = p.used;
    copy = malloc(2 * n);
    assert_non_null(copy);

    /* the trailer: CRC-32, then ISIZE, 4 bytes each */
    memcpy(copy, p.buf, n);
    copy[n - 8] ^= 0x01;
    assert_int_equal(reason_of(copy, n), INGEST_GZIP_CRC);

    memcpy(copy, p.buf, n);
    copy[n - 1] ^= 0x01;
    assert_int_equal(reason_of(copy, n), INGEST_GZIP_LENGTH);

    /* anything after the member: text, zeros, another member */
    memcpy(copy, p.buf, n);
    memcpy(copy + n, "garbage", 7);
    assert_int_equal(reason_of(copy, n + 7), INGEST_TRAILING_GARBAGE);

    memset(copy + n, 0, 16);
    assert_int_equal(reason_of(copy, n + 16), INGEST_TRAILING_GARBAGE);

    memcpy(copy + n, p.buf, n);
    assert_int_equal(reason_of(copy, 2 * n), INGEST_TRAILING_GARBAGE);

    /* truncated in the trailer, mid-stream, right after the header */
    assert_int_equal(reason_of(p.buf, n - 4), INGEST_TRUNCATED);
    assert_int_equal(reason_of(p.buf, n / 2), INGEST_TRUNCATED);
    assert_int_equal(reason_of(p.buf, 12), INGEST_TRUNCATED);

    /* an invalid deflate block, an unknown method */
    memcpy(copy, p.buf, n);
    copy[10] = 0xff;
    copy[11] = 0xff;
    assert_int_equal(reason_of(copy, n), INGEST_GZIP_DATA);

    memcpy(copy, p.buf, n);
    copy[2] = 7;
    assert_int_equal(reason_of(copy, n), INGEST_GZIP_HEADER);

    free(copy);
    pkg_free(&p);
}


static void
test_not_a_package(void **state)
{
    char                   text[600];
    pkg_t                  p;
    size_t                 used;
    ingest_err_t           err;
    unsigned char          buf[4096];
    struct archive        *a;
    struct archive_entry  *e;

    (void) state;

    assert_int_equal(read_bytes("", 0, NULL, &seen, &info, &err), -1);
    assert_int_equal(err.reason, INGEST_NOT_GZIP);

    assert_int_equal(read_bytes("PK\3\4 a zip", 11, NULL, &seen, &info,
                                &err),
                     -1);
    assert_int_equal(err.reason, INGEST_NOT_GZIP);

    /* gzip, but of text */
    a = archive_write_new();
    assert_int_equal(archive_write_set_format_raw(a), ARCHIVE_OK);
    assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(a, buf, sizeof(buf), &used),
                     ARCHIVE_OK);
    e = pkg_new_entry("x", AE_IFREG, sizeof(text));
    memset(text, 't', sizeof(text));
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, text, sizeof(text)),
                     sizeof(text));
    archive_entry_free(e);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    assert_int_equal(archive_write_free(a), ARCHIVE_OK);

    assert_int_equal(read_bytes(buf, used, NULL, &seen, &info, &err), -1);
    assert_int_equal(err.reason, INGEST_NOT_TAR);

    /* empty archives, directories only, no index.html */
    pkg_begin(&p);
    pkg_end(&p);
    expect_reason(&p, INGEST_NO_ENTRIES);
    pkg_free(&p);

    pkg_begin(&p);
    pkg_dir(&p, "a/");
    pkg_dir(&p, "b/");
    pkg_end(&p);
    expect_reason(&p, INGEST_NO_ENTRIES);
    pkg_free(&p);

    pkg_begin(&p);
    pkg_text(&p, "main.js", "1");
    pkg_text(&p, "INDEX.HTML", "2");
    pkg_end(&p);
    expect_reason(&p, INGEST_NO_INDEX_HTML);
    pkg_free(&p);
}


static void
test_sink_failure(void **state)
{
    int              fd;
    pkg_t            p;
    ingest_err_t     err;
    ingest_sink_t    sink;
    ingest_limits_t  lim;

    (void) state;

    pkg_begin_site(&p);
    pkg_text(&p, "a.json", "{}");
    pkg_text(&p, "b.json", "{}");
    pkg_end(&p);

    memset(&seen, 0, sizeof(seen_t));
    seen.fail_at = 1;

    sink.ctx = &seen;
    sink.reset = seen_reset;
    sink.begin = seen_begin;
    sink.data = seen_data;
    sink.end = seen_end;

    ingest_limits_default(&lim);
    ingest_err_reset(&err);
    fd = temp_fd(p.buf, p.used);
    assert_int_equal(ingest_archive_read(fd, &lim, &sink, &info, &err), -1);
    assert_int_equal(err.reason, INGEST_IO);
    assert_non_null(strstr(err.msg, "/a.json"));
    assert_int_equal(ingest_reason_exit(err.reason), INGEST_EXIT_FAILED);
    (void) close(fd);

    pkg_free(&p);
}


static void
test_reason_codes(void **state)
{
    int  r;

    (void) state;

    for (r = 0; r < INGEST_REASON_COUNT; r++) {
        assert_string_not_equal(ingest_reason_code((ingest_reason_e) r),
                                "unknown");
    }

    assert_string_equal(ingest_reason_code(INGEST_NOT_GZIP), "not_gzip");
    assert_string_equal(ingest_reason_code(INGEST_PATH_DOTDOT),
                        "path_dotdot");
    assert_string_equal(ingest_reason_code(INGEST_CORTE_MISMATCH),
                        "corte_mismatch");
    assert_string_equal(ingest_reason_code(INGEST_REASON_COUNT), "unknown");

    assert_int_equal(ingest_reason_exit(INGEST_OK), INGEST_EXIT_OK);
    assert_int_equal(ingest_reason_exit(INGEST_IO), INGEST_EXIT_FAILED);
    assert_int_equal(ingest_reason_exit(INGEST_STORE), INGEST_EXIT_FAILED);
    assert_int_equal(ingest_reason_exit(INGEST_USAGE), INGEST_EXIT_USAGE);
    assert_int_equal(ingest_reason_exit(INGEST_SPARSE),
                     INGEST_EXIT_REJECTED);
    assert_int_equal(ingest_reason_exit(INGEST_CORTE_NO_OFFSET),
                     INGEST_EXIT_REJECTED);
}


/* ---------------------------------------------- names that lie (issue 8) */


#define RAW_CAP  (16 * 512)

typedef struct {
    unsigned char  b[RAW_CAP];
    size_t         len;
} raw_t;


static void
raw_block(raw_t *r, const char *name, char type, size_t size,
    const char *prefix, size_t prefix_len)
{
    unsigned char  *h;
    unsigned        sum, i;

    assert_true(r->len + 512 <= RAW_CAP);
    h = r->b + r->len;
    memset(h, 0, 512);
    memcpy(h, name, strlen(name));
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0000000", 8);
    memcpy(h + 116, "0000000", 8);
    (void) snprintf((char *) h + 124, 12, "%011zo", size);
    memcpy(h + 136, "14624071324", 12);
    h[156] = (unsigned char) type;
    memcpy(h + 257, "ustar\0" "00", 8);
    memcpy(h + 345, prefix, prefix_len);
    memset(h + 148, ' ', 8);

    for (sum = 0, i = 0; i < 512; i++) {
        sum += h[i];
    }

    (void) snprintf((char *) h + 148, 8, "%06o", sum);
    h[155] = ' ';
    r->len += 512;
}


static void
raw_data(raw_t *r, const void *data, size_t n)
{
    size_t  padded;

    padded = (n + 511) / 512 * 512;
    assert_true(r->len + padded <= RAW_CAP);
    memset(r->b + r->len, 0, padded);
    memcpy(r->b + r->len, data, n);
    r->len += padded;
}


static void
raw_file(raw_t *r, const char *name, const char *text)
{
    raw_block(r, name, '0', strlen(text), "", 0);
    raw_data(r, text, strlen(text));
}


/* the site, then one record (pax 'x' or GNU 'L') and the entry it names,
 * then the end blocks */
static void
raw_lying(raw_t *r, char type, const char *rec, size_t rec_len,
    const char *prefix, size_t prefix_len)
{
    r->len = 0;
    raw_file(r, "index.html", INDEX_HTML);

    if (rec != NULL) {
        raw_block(r, type == 'L' ? "././@LongLink" : "PaxHeader/x", type,
                  rec_len, "", 0);
        raw_data(r, rec, rec_len);
    }

    raw_block(r, "other.json", '0', 2, prefix, prefix_len);
    raw_data(r, "{}", 2);
    assert_true(r->len + 1024 <= RAW_CAP);
    memset(r->b + r->len, 0, 1024);
    r->len += 1024;
}


/* the name libarchive gives the second entry of the raw tar */
static void
libarchive_name(const raw_t *r, char *name, size_t size)
{
    struct archive        *a;
    struct archive_entry  *e;

    a = archive_read_new();
    assert_non_null(a);
    assert_int_equal(archive_read_support_format_tar(a), ARCHIVE_OK);
    assert_int_equal(archive_read_open_memory(a, r->b, r->len), ARCHIVE_OK);
    assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
    assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
    (void) snprintf(name, size, "%s", archive_entry_pathname(e));
    (void) archive_read_free(a);
}


/* gzipped and read: 0 or the reason of the refusal */
static int
raw_reason(const raw_t *r)
{
    int              rc;
    uLongf           n;
    z_stream         zs;
    ingest_err_t     err;
    unsigned char   *gz;

    n = RAW_CAP * 2;
    gz = malloc(n);
    assert_non_null(gz);

    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (unsigned char *) r->b;
    zs.avail_in = (uInt) r->len;
    zs.next_out = gz;
    zs.avail_out = (uInt) n;
    rc = deflate(&zs, Z_FINISH);
    assert_int_equal(rc, Z_STREAM_END);
    n = zs.total_out;
    (void) deflateEnd(&zs);

    rc = read_bytes(gz, n, NULL, &seen, &info, &err);
    free(gz);

    return rc == 0 ? 0 : (int) err.reason;
}


static void
test_lying_names(void **state)
{
    raw_t   *r;
    char     name[256];

    static const char  pax_path[] =
        "38 path=assets/evil\0.json/../../x.txt\n";
    static const char  pax_link[] = "23 linkpath=a\0/../../b\n";
    static const char  gnu_long[] = "assets/evil\0../../x.txt\0";

    (void) state;
    r = malloc(sizeof(raw_t));
    assert_non_null(r);

    /* the headers are sound: libarchive reads the site and the entry */
    raw_lying(r, 0, NULL, 0, "", 0);
    libarchive_name(r, name, sizeof(name));
    assert_string_equal(name, "other.json");
    assert_int_equal(raw_reason(r), 0);

    /* a NUL in the pax path: libarchive cuts the name there, a name
     * neither the record nor the ustar header states (Python's tarfile
     * keeps the whole record: tests/integration/test_ingest_catalogue) */
    raw_lying(r, 'x', pax_path, sizeof(pax_path) - 1, "", 0);
    libarchive_name(r, name, sizeof(name));
    assert_string_equal(name, "assets/evil");
    assert_int_equal(raw_reason(r), INGEST_PATH_NUL);

    raw_lying(r, 'x', pax_link, sizeof(pax_link) - 1, "", 0);
    assert_int_equal(raw_reason(r), INGEST_PATH_NUL);

    raw_lying(r, 'L', gnu_long, sizeof(gnu_long) - 1, "", 0);
    libarchive_name(r, name, sizeof(name));
    assert_string_equal(name, "assets/evil");
    assert_int_equal(raw_reason(r), INGEST_PATH_NUL);

    /* the ustar prefix: libarchive stops at the NUL */
    raw_lying(r, 0, NULL, 0, "assets\0/../..", 13);
    libarchive_name(r, name, sizeof(name));
    assert_string_equal(name, "assets/other.json");
    assert_int_equal(raw_reason(r), INGEST_PATH_NUL);

    /* a sound prefix is read the same by both readers */
    raw_lying(r, 0, NULL, 0, "assets", 6);
    libarchive_name(r, name, sizeof(name));
    assert_string_equal(name, "assets/other.json");
    assert_int_equal(raw_reason(r), 0);

    free(r);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_flat_package),
        cmocka_unit_test(test_top_folder_stripped),
        cmocka_unit_test(test_flat_after_guess),
        cmocka_unit_test(test_validate_only),
        cmocka_unit_test(test_utf8_and_long_names),
        cmocka_unit_test(test_links),
        cmocka_unit_test(test_special_files),
        cmocka_unit_test(test_sparse),
        cmocka_unit_test(test_names_refused),
        cmocka_unit_test(test_depth_and_length),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_file_dir_conflicts),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_gzip_damage),
        cmocka_unit_test(test_not_a_package),
        cmocka_unit_test(test_sink_failure),
        cmocka_unit_test(test_reason_codes),
        cmocka_unit_test(test_lying_names),
    };

    /* as prep-ingest's main(): libarchive converts names to UTF-8 */
    if (setlocale(LC_CTYPE, "C.UTF-8") == NULL) {
        fprintf(stderr, "no C.UTF-8 locale\n");
        return 1;
    }

    return cmocka_run_group_tests(tests, NULL, NULL);
}
