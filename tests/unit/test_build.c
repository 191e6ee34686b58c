/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of snapshot building and the store (ingest/package/build.c,
 * compress.c, ingest/store/store.c): a package goes in, a snapshot that
 * prep_snap_open() accepts comes out, with the right bytes, types,
 * hashes, gzip variants (reused from the previous snapshot when the
 * content is the same) and corte; the store flips current atomically.
 */


#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "package/ingest_build.h"
#include "package/ingest_compress.h"
#include "store/ingest_store.h"
#include "test_util.h"


#define PKG_CAP      (8u << 20)
#define BIG_LEN      (300 * 1000)
#define PNG_LEN      5000

#define INDEX_HTML   "<!doctype html><html><head><title>PREP Quintana Roo" \
                     "</title></head><body><app-root></app-root></body>"  \
                     "</html>"
#define ULTIMO_0015  "{\"ultimoCorte\": {\"fecha\": \"03/06/2024\", "      \
                     "\"hora\": \"00:15 (UTC-5)\"}, \"total\": \"1,913\"}"
#define ULTIMO_0030  "{\"ultimoCorte\": {\"fecha\": \"03/06/2024\", "      \
                     "\"hora\": \"00:30 (UTC-5)\"}, \"total\": \"1,999\"}"
#define CSV_0015     "sep=|\nAYUNTAMIENTOS\n2024/06/03 00:15 (UTC-5)\n"   \
                     "A|B\n1|2\n"


typedef struct {
    unsigned char  *buf;
    size_t          used;
    int             fd;
} pkg_t;


typedef struct {
    int                    fd;
    void                  *base;
    size_t                 size;
    prep_snap_t            snap;
    ingest_build_result_t  res;
} built_t;


static unsigned char  *big_json;
static unsigned char  *png;


/* a small site; "json" is the ultimoCorte file, which changes by corte */
static void
pkg_make(pkg_t *p, const char *json)
{
    struct archive  *a;

    p->buf = malloc(PKG_CAP);
    assert_non_null(p->buf);

    a = archive_write_new();
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(a, p->buf, PKG_CAP, &p->used),
                     ARCHIVE_OK);

    add_file(a, "site/index.html", INDEX_HTML, strlen(INDEX_HTML));
    add_file(a, "site/assets/avance.json", json, strlen(json));
    add_file(a, "site/assets/big.json", big_json, BIG_LEN);
    add_file(a, "site/assets/copy-of-big.json", big_json, BIG_LEN);
    add_file(a, "site/assets/bd/QROO_AYUN_2024.csv", CSV_0015,
             strlen(CSV_0015));
    add_file(a, "site/img/logo.png", png, PNG_LEN);
    add_file(a, "site/tiny.json", "{}", 2);
    add_file(a, "site/empty.txt", "", 0);

    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    assert_int_equal(archive_write_free(a), ARCHIVE_OK);

    p->fd = temp_fd(p->buf, p->used);
}


static void
pkg_free(pkg_t *p)
{
    (void) close(p->fd);
    free(p->buf);
}


static int
build(pkg_t *p, const char *name, int level, const built_t *prev,
    built_t *out, ingest_err_t *err)
{
    int                  rc;
    char                 msg[PREP_ERRLEN];
    struct stat          sb;
    ingest_limits_t      lim;
    ingest_build_conf_t  conf;

    memset(out, 0, sizeof(built_t));
    out->fd = temp_fd(NULL, 0);

    ingest_limits_default(&lim);

    memset(&conf, 0, sizeof(ingest_build_conf_t));
    conf.fd = out->fd;
    conf.spill_dir = AT_FDCWD;
    conf.package_name = name;
    conf.limits = &lim;
    conf.gzip_level = level;
    conf.threads = 2;
    conf.prev = prev ? &prev->snap : NULL;
    conf.prev_fd = prev ? prev->fd : -1;

    ingest_err_reset(err);

    rc = ingest_build(p->fd, &conf, &out->res, err);
    if (rc != 0) {
        return rc;
    }

    assert_int_equal(fstat(out->fd, &sb), 0);
    out->size = (size_t) sb.st_size;
    out->base = mmap(NULL, out->size, PROT_READ, MAP_SHARED, out->fd, 0);
    assert_true(out->base != MAP_FAILED);

    rc = prep_snap_open(&out->snap, out->base, out->size,
                        PREP_SNAP_VERIFY_DATA, msg, sizeof(msg));
    if (rc != PREP_SNAP_OK) {
        fail_msg("the snapshot does not validate: %s", msg);
    }

    return 0;
}


static void
built_free(built_t *b)
{
    if (b->base != NULL) {
        (void) munmap(b->base, b->size);
    }

    (void) close(b->fd);
}


static const prep_snap_entry_t *
lookup(const built_t *b, const char *path)
{
    const prep_snap_entry_t  *e;

    e = prep_snap_lookup(&b->snap, path, strlen(path));
    if (e == NULL) {
        fail_msg("%s is not in the snapshot", path);
    }

    return e;
}


static void
expect_entry(const built_t *b, const char *path, const void *data,
    size_t len, const char *type, int gzip)
{
    uLongf                    n;
    unsigned int              hn;
    unsigned char            *out;
    z_stream                  zs;
    unsigned char             sha[EVP_MAX_MD_SIZE];
    const prep_snap_entry_t  *e;

    e = lookup(b, path);

    assert_int_equal(e->data_len, len);
    assert_memory_equal(prep_snap_entry_data(&b->snap, e), data, len);
    assert_string_equal(prep_snap_entry_type(&b->snap, e), type);

    assert_int_equal(EVP_Digest(data, len, sha, &hn, EVP_sha256(), NULL),
                     1);
    assert_memory_equal(e->hash, sha, PREP_SNAP_HASH_LEN);

    if (!gzip) {
        assert_int_equal(e->gzip_len, 0);
        return;
    }

    if (e->gzip_len == 0) {
        fail_msg("%s has no gzip variant", path);
    }

    assert_true(e->gzip_len < e->data_len);

    /* a gzip member (not zlib, not raw deflate) of exactly the data */
    out = malloc(len + 1);
    assert_non_null(out);
    memset(&zs, 0, sizeof(z_stream));
    assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
    zs.next_in = (Bytef *) prep_snap_entry_gzip(&b->snap, e);
    zs.avail_in = (uInt) e->gzip_len;
    zs.next_out = out;
    zs.avail_out = (uInt) len + 1;
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    n = zs.total_out;
    assert_int_equal(zs.avail_in, 0);
    (void) inflateEnd(&zs);

    assert_int_equal(n, len);
    assert_memory_equal(out, data, len);
    free(out);
}


static void
test_build_package(void **state)
{
    pkg_t                       p;
    built_t                     b;
    ingest_err_t                err;
    const prep_snap_header_t   *h;

    (void) state;

    pkg_make(&p, ULTIMO_0015);

    if (build(&p, "20240603_0015_PREP_QROO.tar.gz", 6, NULL, &b, &err)
        != 0)
    {
        fail_msg("%s: %s", ingest_reason_code(err.reason), err.msg);
    }

    assert_int_equal(b.snap.nentries, 8);
    assert_int_equal(b.res.files, 8);
    assert_int_equal(b.res.raw_bytes, strlen(INDEX_HTML) + strlen(ULTIMO_0015)
                     + 2 * BIG_LEN + strlen(CSV_0015) + PNG_LEN + 2);
    assert_int_equal(b.res.archive.stripped, 1);

    expect_entry(&b, "/index.html", INDEX_HTML, strlen(INDEX_HTML),
                 "text/html; charset=utf-8", 1);
    /* too short for gzip to gain anything */
    expect_entry(&b, "/assets/avance.json", ULTIMO_0015,
                 strlen(ULTIMO_0015), "application/json; charset=utf-8", 0);
    expect_entry(&b, "/assets/big.json", big_json, BIG_LEN,
                 "application/json; charset=utf-8", 1);
    expect_entry(&b, "/assets/copy-of-big.json", big_json, BIG_LEN,
                 "application/json; charset=utf-8", 1);
    expect_entry(&b, "/assets/bd/QROO_AYUN_2024.csv", CSV_0015,
                 strlen(CSV_0015), "text/csv; charset=utf-8", 0);
    expect_entry(&b, "/img/logo.png", png, PNG_LEN, "image/png", 0);
    expect_entry(&b, "/tiny.json", "{}", 2,
                 "application/json; charset=utf-8", 0);
    expect_entry(&b, "/empty.txt", "", 0, "text/plain; charset=utf-8", 0);

    assert_int_equal(b.res.gzip_variants, 3);
    assert_int_equal(b.res.gzip_reused, 0);

    /* the corte: name, JSON and CSV agree; the text is the first with
     * an offset, the JSON's (archive order) */
    h = b.snap.header;
    assert_string_equal(h->corte_id, "20240603_0015");
    assert_string_equal(h->corte_text, "03/06/2024 00:15 (UTC-5)");
    assert_int_equal(h->corte_time, 1717391700);
    assert_int_equal(h->corte_utc_offset, -5 * 3600);
    assert_memory_equal(h->package_sha256, b.res.archive.sha256,
                        PREP_SHA256_LEN);
    assert_string_equal(b.res.corte.iso8601, "2024-06-03T00:15:00-05:00");
    assert_int_equal(b.res.corte.sources, 3);

    built_free(&b);
    pkg_free(&p);
}


static void
test_build_reuses_gzip(void **state)
{
    pkg_t                     p1, p2;
    built_t                   b1, b2;
    ingest_err_t              err;
    const prep_snap_entry_t  *e1, *e2;

    (void) state;

    pkg_make(&p1, ULTIMO_0015);
    pkg_make(&p2, ULTIMO_0030);

    assert_int_equal(build(&p1, "a.tar.gz", 6, NULL, &b1, &err), 0);

    /* the second corte changes avance.json and the CSV's date stays:
     * the name carries no corte, so the CSV must agree with the JSON */
    if (build(&p2, "b.tar.gz", 6, &b1, &b2, &err) == 0) {
        fail_msg("a CSV of 00:15 with a JSON of 00:30 was accepted");
    }

    assert_int_equal(err.reason, INGEST_CORTE_MISMATCH);
    built_free(&b2);

    /* same content: every variant comes from the previous snapshot */
    assert_int_equal(build(&p1, "a.tar.gz", 9, &b1, &b2, &err), 0);
    assert_int_equal(b2.res.gzip_variants, 3);
    assert_int_equal(b2.res.gzip_reused, 3);

    e1 = lookup(&b1, "/assets/big.json");
    e2 = lookup(&b2, "/assets/copy-of-big.json");
    assert_int_equal(e1->gzip_len, e2->gzip_len);
    assert_memory_equal(prep_snap_entry_gzip(&b1.snap, e1),
                        prep_snap_entry_gzip(&b2.snap, e2), e1->gzip_len);

    expect_entry(&b2, "/assets/big.json", big_json, BIG_LEN,
                 "application/json; charset=utf-8", 1);

    built_free(&b1);
    built_free(&b2);
    pkg_free(&p1);
    pkg_free(&p2);
}


static void
test_build_no_gzip(void **state)
{
    pkg_t         p;
    built_t       b;
    ingest_err_t  err;

    (void) state;

    pkg_make(&p, ULTIMO_0015);

    assert_int_equal(build(&p, "x.tar.gz", 0, NULL, &b, &err), 0);
    assert_int_equal(b.res.gzip_variants, 0);
    expect_entry(&b, "/assets/big.json", big_json, BIG_LEN,
                 "application/json; charset=utf-8", 0);

    built_free(&b);
    pkg_free(&p);
}


static void
test_build_corte_from_name(void **state)
{
    pkg_t         p;
    built_t       b;
    ingest_err_t  err;

    (void) state;

    pkg_make(&p, ULTIMO_0015);

    assert_int_equal(build(&p, "20240603_0030_PREP_QROO.tar.gz", 6, NULL,
                           &b, &err),
                     -1);
    assert_int_equal(err.reason, INGEST_CORTE_MISMATCH);
    assert_non_null(strstr(err.msg, "20240603_0030_PREP_QROO.tar.gz"));

    built_free(&b);
    pkg_free(&p);
}


/* -------------------------------------------------------------- store */


static char  store_dir[64];


static int
count_prefix(const char *dir, const char *prefix)
{
    int             n;
    DIR            *d;
    struct dirent  *de;

    d = opendir(dir);
    assert_non_null(d);
    n = 0;

    while ((de = readdir(d)) != NULL) {
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    }

    (void) closedir(d);

    return n;
}


static void
write_snapshot(ingest_store_t *st, pkg_t *p, const char *final)
{
    int                    fd;
    char                   tmp[32];
    ingest_err_t           err;
    ingest_limits_t        lim;
    ingest_build_conf_t    conf;
    ingest_build_result_t  res;

    ingest_err_reset(&err);
    assert_int_equal(ingest_store_tmp(st, tmp, sizeof(tmp), &fd, &err), 0);
    assert_int_equal(strncmp(tmp, ".tmp-", 5), 0);

    ingest_limits_default(&lim);
    memset(&conf, 0, sizeof(ingest_build_conf_t));
    conf.fd = fd;
    conf.spill_dir = st->cortes_fd;
    conf.package_name = "p.tar.gz";
    conf.limits = &lim;
    conf.gzip_level = 1;
    conf.threads = 1;
    conf.prev_fd = -1;

    assert_int_equal(ingest_build(p->fd, &conf, &res, &err), 0);
    assert_int_equal(ingest_store_commit(st, fd, tmp, final, &err), 0);
    (void) close(fd);
}


static void
test_store_publish(void **state)
{
    int                fd;
    char               name[INGEST_SNAP_NAME_LEN], path[128], msg[256];
    char               link[128];
    pkg_t              p;
    ssize_t            n;
    struct stat        sb;
    ingest_err_t       err;
    ingest_store_t     st;
    ingest_snapfile_t  sf;

    (void) state;

    (void) snprintf(store_dir, sizeof(store_dir), "/tmp/test_store_XXXXXX");
    assert_non_null(mkdtemp(store_dir));

    ingest_err_reset(&err);
    assert_int_equal(ingest_store_open(&st, store_dir, &err), 0);
    assert_int_equal(ingest_store_lock(&st, &err), 0);

    /* nothing current yet */
    assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err), 0);

    /* stale temp files of a dead publisher go */
    (void) snprintf(path, sizeof(path), "%s/cortes/.tmp-dead01", store_dir);
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    (void) close(fd);
    (void) snprintf(path, sizeof(path), "%s/.current.tmp-99999", store_dir);
    assert_int_equal(symlink("cortes/x", path), 0);

    ingest_store_clean(&st);
    (void) snprintf(path, sizeof(path), "%s/cortes", store_dir);
    assert_int_equal(count_prefix(path, ".tmp-"), 0);
    assert_int_equal(count_prefix(store_dir, ".current.tmp-"), 0);

    pkg_make(&p, ULTIMO_0015);
    write_snapshot(&st, &p, "20240603_0015-aaaaaaaaaaaa.snap");
    assert_int_equal(ingest_store_exists(&st,
                                         "20240603_0015-aaaaaaaaaaaa.snap"),
                     1);
    assert_int_equal(ingest_store_flip(&st, "20240603_0015-aaaaaaaaaaaa.snap",
                                       &err), 0);

    assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err), 1);
    assert_string_equal(name, "20240603_0015-aaaaaaaaaaaa.snap");

    /* a relative link, readable by nginx, fully valid */
    (void) snprintf(path, sizeof(path), "%s/current", store_dir);
    n = readlink(path, link, sizeof(link) - 1);
    assert_true(n > 0);
    link[n] = '\0';
    assert_string_equal(link, "cortes/20240603_0015-aaaaaaaaaaaa.snap");
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);

    assert_int_equal(ingest_snapfile_open(&sf, st.dir_fd, "current",
                                          PREP_SNAP_VERIFY_DATA, msg,
                                          sizeof(msg)),
                     PREP_SNAP_OK);
    assert_string_equal(sf.snap.header->corte_id, "20240603_0015");
    ingest_snapfile_close(&sf);

    /* the next one replaces it; the first file stays */
    write_snapshot(&st, &p, "20240603_0030-bbbbbbbbbbbb.snap");
    assert_int_equal(ingest_store_flip(&st, "20240603_0030-bbbbbbbbbbbb.snap",
                                       &err), 0);
    assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err), 1);
    assert_string_equal(name, "20240603_0030-bbbbbbbbbbbb.snap");
    assert_int_equal(ingest_store_exists(&st,
                                         "20240603_0015-aaaaaaaaaaaa.snap"),
                     1);
    assert_int_equal(count_prefix(store_dir, ".current.tmp-"), 0);

    /* a corrupted snapshot is refused by the data check */
    (void) snprintf(path, sizeof(path),
                    "%s/cortes/20240603_0015-aaaaaaaaaaaa.snap", store_dir);
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, PREP_SNAP_HEADER_SIZE + 3), 1);
    (void) close(fd);

    assert_int_equal(ingest_snapfile_open(&sf, st.cortes_fd,
                                          "20240603_0015-aaaaaaaaaaaa.snap",
                                          PREP_SNAP_VERIFY_DATA, msg,
                                          sizeof(msg)),
                     PREP_SNAP_EDATACRC);
    ingest_snapfile_close(&sf);

    /* current pointing outside cortes/ is reported, not followed */
    (void) snprintf(path, sizeof(path), "%s/current", store_dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink("/etc/passwd", path), 0);
    assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err),
                     -1);
    assert_int_equal(err.reason, INGEST_STORE);

    ingest_store_close(&st);
    pkg_free(&p);

    (void) snprintf(path, sizeof(path), "rm -rf '%s'", store_dir);
    assert_int_equal(system(path), 0);
}


static void
test_store_missing(void **state)
{
    ingest_err_t    err;
    ingest_store_t  st;

    (void) state;

    ingest_err_reset(&err);
    assert_int_equal(ingest_store_open(&st, "/nonexistent/store", &err), -1);
    assert_int_equal(err.reason, INGEST_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/store"));
    ingest_store_close(&st);
}


static int
setup(void **state)
{
    size_t    i;
    uint32_t  x;

    (void) state;

    big_json = malloc(BIG_LEN);
    png = malloc(PNG_LEN);
    assert_non_null(big_json);
    assert_non_null(png);

    /* compressible text, and bytes that do not compress */
    for (i = 0; i < BIG_LEN; i++) {
        big_json[i] = (unsigned char) "{\"seccion\": \"0085\", \"votos\": 1},"
                                      [i % 33];
    }

    x = 2463534242u;
    for (i = 0; i < PNG_LEN; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        png[i] = (unsigned char) x;
    }

    return 0;
}


static int
teardown(void **state)
{
    (void) state;

    free(big_json);
    free(png);

    return 0;
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_build_package),
        cmocka_unit_test(test_build_reuses_gzip),
        cmocka_unit_test(test_build_no_gzip),
        cmocka_unit_test(test_build_corte_from_name),
        cmocka_unit_test(test_store_publish),
        cmocka_unit_test(test_store_missing),
    };

    if (setlocale(LC_CTYPE, "C.UTF-8") == NULL) {
        fprintf(stderr, "no C.UTF-8 locale\n");
        return 1;
    }

    return cmocka_run_group_tests(tests, setup, teardown);
}
