/*
 * Copyright (C) the ngx_prep authors
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "prep_mime.h"
#include "package/ingest_build.h"
#include "package/ingest_compress.h"


/* zips scanned for CSV cortes; a package has one or two */
#define INGEST_BUILD_MAX_ZIPS  64


typedef enum {
    INGEST_KIND_OTHER = 0,
    INGEST_KIND_CSV,
    INGEST_KIND_JSON,
    INGEST_KIND_ZIP
} ingest_kind_e;


typedef struct {
    long    ordinal;
    char    source[INGEST_CORTE_SOURCE_LEN];
} ingest_zip_ref_t;


typedef struct {
    const ingest_build_conf_t  *conf;
    ingest_build_result_t      *res;
    prep_snap_writer_t         *w;
    EVP_MD_CTX                 *sha;
    ingest_corte_set_t          cortes;
    ingest_csv_head_t          *csv;
    ingest_json_scan_t         *json;

    /* the entry being written */
    ingest_kind_e               kind;
    int                         compressible;
    char                        source[INGEST_CORTE_SOURCE_LEN];

    ingest_gzjob_t             *jobs;
    size_t                      njobs;
    size_t                      jobs_cap;
    ingest_zip_ref_t           *zips;
    size_t                      nzips;
} ingest_builder_t;


/* the package file name is the first corte source */
static int
ingest_builder_cortes_init(ingest_builder_t *b, ingest_err_t *err)
{
    char             q[INGEST_NAME_QUOTED];
    const char      *name;
    ingest_corte_t   c;

    ingest_corte_set_init(&b->cortes);
    name = b->conf->package_name;

    if (name == NULL || !ingest_corte_parse_name(name, strlen(name), &c)) {
        return 0;
    }

    (void) snprintf(c.source, sizeof(c.source), "package name \"%s\"",
                    ingest_quote(q, sizeof(q), name, strlen(name)));

    return ingest_corte_set_add(&b->cortes, &c, err);
}


static int
ingest_builder_reset(void *ctx, ingest_err_t *err)
{
    char               msg[PREP_ERRLEN];
    ingest_builder_t  *b;

    b = ctx;

    prep_snap_writer_destroy(b->w);
    b->w = NULL;

    if (ftruncate(b->conf->fd, 0) != 0
        || lseek(b->conf->fd, 0, SEEK_SET) != 0)
    {
        return ingest_fail_errno(err, errno, "truncating the snapshot");
    }

    b->w = prep_snap_writer_create(b->conf->fd, msg, sizeof(msg));
    if (b->w == NULL) {
        return ingest_fail(err, INGEST_NOMEM, "%s", msg);
    }

    b->njobs = 0;
    b->nzips = 0;
    b->res->files = 0;
    b->res->raw_bytes = 0;

    return ingest_builder_cortes_init(b, err);
}


static int
ingest_ext_is(const char *ext, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(ext, want, len) == 0;
}


static int
ingest_builder_begin(void *ctx, const char *path, size_t len,
    uint64_t size, ingest_err_t *err)
{
    int                 rc;
    size_t              ext;
    const prep_mime_t  *mime;
    ingest_builder_t   *b;

    b = ctx;
    mime = prep_mime_lookup(path, len);

    rc = prep_snap_writer_align_for(b->w, size);
    if (rc != PREP_SNAP_OK) {
        return ingest_writer_fail(err, b->w, rc);
    }

    rc = prep_snap_writer_begin(b->w, path, len, mime->type,
                                strlen(mime->type));
    if (rc != PREP_SNAP_OK) {
        return ingest_writer_fail(err, b->w, rc);
    }

    if (EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL) != 1) {
        return ingest_fail(err, INGEST_INTERNAL, "SHA-256 failed");
    }

    b->compressible = mime->compressible && b->conf->gzip_level > 0
                      && size >= INGEST_GZIP_MIN_SIZE;

    ingest_quote(b->source, sizeof(b->source), path, len);

    for (ext = len; ext > 0 && path[ext - 1] != '.' && path[ext - 1] != '/';
         ext--)
    {
        /* void */
    }

    b->kind = INGEST_KIND_OTHER;

    if (ext > 0 && path[ext - 1] == '.') {
        if (ingest_ext_is(path + ext, len - ext, "csv")) {
            b->kind = INGEST_KIND_CSV;
            ingest_csv_head_init(b->csv);

        } else if (ingest_ext_is(path + ext, len - ext, "json")) {
            b->kind = INGEST_KIND_JSON;
            ingest_json_scan_init(b->json, &b->cortes, b->source);

        } else if (ingest_ext_is(path + ext, len - ext, "zip")) {
            b->kind = INGEST_KIND_ZIP;
        }
    }

    return 0;
}


static int
ingest_builder_data(void *ctx, const void *buf, size_t len,
    ingest_err_t *err)
{
    int                rc;
    ingest_builder_t  *b;

    b = ctx;

    rc = prep_snap_writer_write(b->w, buf, len);
    if (rc != PREP_SNAP_OK) {
        return ingest_writer_fail(err, b->w, rc);
    }

    if (EVP_DigestUpdate(b->sha, buf, len) != 1) {
        return ingest_fail(err, INGEST_INTERNAL, "SHA-256 failed");
    }

    switch (b->kind) {
    case INGEST_KIND_CSV:
        ingest_csv_head_feed(b->csv, buf, len);
        break;

    case INGEST_KIND_JSON:
        return ingest_json_scan_feed(b->json, buf, len, err);

    default:
        break;
    }

    return 0;
}


static int
ingest_builder_add_job(ingest_builder_t *b, long ordinal, ingest_err_t *err)
{
    size_t           cap;
    ingest_gzjob_t  *jobs, *job;

    if (b->njobs == b->jobs_cap) {
        cap = b->jobs_cap ? b->jobs_cap * 2 : 1024;

        jobs = realloc(b->jobs, cap * sizeof(ingest_gzjob_t));
        if (jobs == NULL) {
            return ingest_fail(err, INGEST_NOMEM, "out of memory");
        }

        b->jobs = jobs;
        b->jobs_cap = cap;
    }

    job = &b->jobs[b->njobs];
    job->ordinal = ordinal;

    if (prep_snap_writer_entry(b->w, ordinal, &job->off, &job->len)
        != PREP_SNAP_OK)
    {
        return ingest_fail(err, INGEST_INTERNAL, "no entry %ld", ordinal);
    }

    b->njobs++;

    return 0;
}


static int
ingest_builder_end(void *ctx, ingest_err_t *err)
{
    long               ordinal;
    unsigned int       n;
    ingest_corte_t     c;
    ingest_builder_t  *b;
    uint8_t            sha[EVP_MAX_MD_SIZE];

    b = ctx;
    n = 0;

    if (EVP_DigestFinal_ex(b->sha, sha, &n) != 1 || n != PREP_SHA256_LEN) {
        return ingest_fail(err, INGEST_INTERNAL, "SHA-256 failed");
    }

    ordinal = prep_snap_writer_end(b->w, sha);
    if (ordinal < 0) {
        return ingest_writer_fail(err, b->w, PREP_SNAP_EIO);
    }

    b->res->files++;

    if (b->compressible) {
        if (ingest_builder_add_job(b, ordinal, err) != 0) {
            return -1;
        }

        memcpy(b->jobs[b->njobs - 1].hash, sha, PREP_SNAP_HASH_LEN);
    }

    switch (b->kind) {
    case INGEST_KIND_CSV:
        if (ingest_corte_parse_csv(b->csv->buf, b->csv->len, &c)) {
            (void) snprintf(c.source, sizeof(c.source), "%s", b->source);
            return ingest_corte_set_add(&b->cortes, &c, err);
        }
        break;

    case INGEST_KIND_JSON:
        return ingest_json_scan_finish(b->json, err);

    case INGEST_KIND_ZIP:
        if (b->nzips < INGEST_BUILD_MAX_ZIPS) {
            b->zips[b->nzips].ordinal = ordinal;
            (void) snprintf(b->zips[b->nzips].source,
                            sizeof(b->zips[b->nzips].source), "%s",
                            b->source);
            b->nzips++;
        }
        break;

    default:
        break;
    }

    return 0;
}


static int
ingest_builder_zips(ingest_builder_t *b, ingest_err_t *err)
{
    size_t    i;
    uint64_t  off, len;

    for (i = 0; i < b->nzips; i++) {
        if (prep_snap_writer_entry(b->w, b->zips[i].ordinal, &off, &len)
            != PREP_SNAP_OK)
        {
            return ingest_fail(err, INGEST_INTERNAL, "no entry %ld",
                               b->zips[i].ordinal);
        }

        if (ingest_corte_scan_zip(b->conf->fd, off, len, b->zips[i].source,
                                  &b->cortes, err)
            != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
ingest_builder_run(ingest_builder_t *b, int pkg_fd, ingest_err_t *err)
{
    int                    rc;
    double                 start;
    ingest_sink_t          sink;
    ingest_gzip_conf_t     gz;
    ingest_gzip_stats_t    stats;
    ingest_build_result_t *res;

    res = b->res;

    sink.ctx = b;
    sink.reset = ingest_builder_reset;
    sink.begin = ingest_builder_begin;
    sink.data = ingest_builder_data;
    sink.end = ingest_builder_end;

    if (ingest_builder_cortes_init(b, err) != 0
        || ingest_archive_read(pkg_fd, b->conf->limits, &sink,
                               &res->archive, err) != 0)
    {
        return -1;
    }

    /* the zips are read back from the file: out of the writer's buffer */
    rc = prep_snap_writer_flush(b->w);
    if (rc != PREP_SNAP_OK) {
        return ingest_writer_fail(err, b->w, rc);
    }

    if (ingest_builder_zips(b, err) != 0
        || ingest_corte_resolve(&b->cortes, &res->corte, err) != 0)
    {
        return -1;
    }

    prep_snap_writer_set_corte(b->w, res->corte.time, res->corte.utc_offset,
                               res->corte.id, res->corte.text,
                               res->archive.sha256);

    start = ingest_now();

    gz.writer = b->w;
    gz.fd = b->conf->fd;
    gz.spill_dir = b->conf->spill_dir;
    gz.level = b->conf->gzip_level;
    gz.threads = b->conf->threads;
    gz.prev = b->conf->prev;
    gz.prev_fd = b->conf->prev_fd;

    if (ingest_gzip_variants(&gz, b->jobs, b->njobs, &stats, err) != 0) {
        return -1;
    }

    res->gzip_variants = stats.variants;
    res->gzip_bytes = stats.bytes;
    res->gzip_reused = stats.reused;
    res->gzip_seconds = ingest_now() - start;

    rc = prep_snap_writer_finish(b->w);
    if (rc != PREP_SNAP_OK) {
        return ingest_writer_fail(err, b->w, rc);
    }

    return 0;
}


int
ingest_build(int pkg_fd, const ingest_build_conf_t *conf,
    ingest_build_result_t *res, ingest_err_t *err)
{
    int               rc;
    char              msg[PREP_ERRLEN];
    ingest_builder_t  b;

    memset(res, 0, sizeof(ingest_build_result_t));
    memset(&b, 0, sizeof(ingest_builder_t));

    b.conf = conf;
    b.res = res;
    b.sha = EVP_MD_CTX_new();
    b.csv = malloc(sizeof(ingest_csv_head_t));
    b.json = malloc(sizeof(ingest_json_scan_t));
    b.zips = malloc(INGEST_BUILD_MAX_ZIPS * sizeof(ingest_zip_ref_t));
    b.w = prep_snap_writer_create(conf->fd, msg, sizeof(msg));

    if (b.sha == NULL || b.csv == NULL || b.json == NULL || b.zips == NULL
        || b.w == NULL)
    {
        rc = ingest_fail(err, INGEST_NOMEM, "out of memory");

    } else {
        rc = ingest_builder_run(&b, pkg_fd, err);
    }

    res->raw_bytes = res->archive.file_bytes;

    prep_snap_writer_destroy(b.w);
    EVP_MD_CTX_free(b.sha);
    free(b.csv);
    free(b.json);
    free(b.zips);
    free(b.jobs);

    return rc;
}
