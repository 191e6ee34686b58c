/*
 * Copyright (C) the ngx_prep authors
 *
 * Access logs in prep-report (--log FORMAT:PATH, --json-fields): the
 * two steps main.c calls.  rpt_logs_load() reads and counts every log
 * (report/logs.c, by libprep's prep_count rules) before the window is
 * known, within --from/--to when given, and adds one RPT_SRC_LOG source
 * per --log with traffic = 1: with logs, the traffic figures are the
 * logs'.  rpt_logs_fill() puts the counts into the model's series, rows
 * and totals, with the cache hit ratio and the origin's share when the
 * logs say how the CDN answered, and every line that could not be read
 * as a warning of the methodology: nothing is left out silently.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "prep_hll.h"
#include "report.h"
#include "logs.h"


static prep_logs_t          *rpt_logs;
static prep_logs_summary_t   rpt_logs_sum;


/* a file the counting of the logs used, named in the methodology */
static int
rpt_logs_aux(rpt_t *r, const char *path, char *err, size_t errlen)
{
    char          *data;
    size_t         len;
    rpt_source_t  *src;

    if (r->nsources == (int) (sizeof(r->sources) / sizeof(r->sources[0]))) {
        snprintf(err, errlen, "%s: too many inputs", path);
        return -1;
    }

    src = &r->sources[r->nsources];
    memset(src, 0, sizeof(rpt_source_t));

    if (rpt_read_input(path, r->opts->timeout, 0, &data, &len, src->sha256,
                       err, errlen)
        != 0)
    {
        return -1;
    }

    free(data);
    src->kind = RPT_SRC_FILE;
    src->size = len;
    snprintf(src->input, sizeof(src->input), "%s", path);
    snprintf(src->name, sizeof(src->name), "%s", path);
    r->nsources++;

    return 0;
}


/*
 * OUT/registros.sha256: every log file read and its SHA-256, in the
 * format of sha256sum (so "sha256sum -c" checks them); *hex is the
 * SHA-256 of that list, for a --log that named a directory.
 */

static int
rpt_logs_manifest(rpt_t *r, char hex[65], char *err, size_t errlen)
{
    FILE                    *f;
    char                     path[4096], line[8192];
    size_t                   i, n;
    unsigned                 k, len;
    EVP_MD_CTX              *sha;
    unsigned char            md[EVP_MAX_MD_SIZE];
    const prep_logs_file_t  *files;

    snprintf(path, sizeof(path), "%s/registros.sha256", r->opts->out);

    f = fopen(path, "w");
    sha = EVP_MD_CTX_new();

    if (f == NULL || sha == NULL
        || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
    {
        snprintf(err, errlen, "%s: cannot write", path);
        if (f) {
            fclose(f);
        }
        EVP_MD_CTX_free(sha);
        return -1;
    }

    files = prep_logs_files(rpt_logs, &n);

    for (i = 0; i < n; i++) {
        snprintf(line, sizeof(line), "%s  %s\n",
                 files[i].sha256[0] ? files[i].sha256
                                    : "(no leído entero)",
                 files[i].path);
        fputs(line, f);
        (void) EVP_DigestUpdate(sha, line, strlen(line));
    }

    len = 0;
    (void) EVP_DigestFinal_ex(sha, md, &len);
    EVP_MD_CTX_free(sha);

    for (k = 0; k < len && k < 32; k++) {
        snprintf(hex + 2 * k, 3, "%02x", md[k]);
    }

    if (fclose(f) != 0) {
        snprintf(err, errlen, "%s: write failed", path);
        return -1;
    }

    return 0;
}


int
rpt_logs_load(rpt_t *r, char *err, size_t errlen)
{
    int                      i, gmtoff;
    char                     manifest[65];
    size_t                   k, nfiles;
    const char              *path;
    rpt_source_t            *src;
    const prep_logs_file_t  *files;

    if (r->opts->nlogs == 0) {
        return 0;
    }

    rpt_logs = prep_logs_new();
    if (rpt_logs == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    if (r->opts->json_fields
        && prep_logs_json_fields(rpt_logs, r->opts->json_fields, err,
                                 errlen)
           != 0)
    {
        return -1;
    }

    /* the types of paths without one in the log, as the module has them */
    if (r->opts->snapshot
        && (prep_logs_snapshot(rpt_logs, r->opts->snapshot, err, errlen) != 0
            || rpt_logs_aux(r, r->opts->snapshot, err, errlen) != 0))
    {
        return -1;
    }

    /* the origins' prep_stats_bots, so logs and module agree on bots */
    if (r->opts->bots
        && (prep_logs_bots(rpt_logs, r->opts->bots, r->opts->bots_replace,
                           err, errlen)
            != 0
            || rpt_logs_aux(r, r->opts->bots, err, errlen) != 0))
    {
        return -1;
    }

    for (i = 0; i < r->opts->nlogs; i++) {
        if (prep_logs_add_source(rpt_logs, r->opts->logs[i], err, errlen)
            != 0)
        {
            return -1;
        }
    }

    /* days as the origins count them, or as --tz says */

    gmtoff = r->opts->have_tz ? r->opts->tz : r->days_gmtoff;

    if (r->opts->nstats == 0) {
        r->days_gmtoff = gmtoff;
    }

    prep_logs_settings(rpt_logs, gmtoff, PREP_COUNT_TIMEOUT_MS);
    prep_logs_range(rpt_logs,
                    r->opts->have_from ? r->opts->from * 1000 : INT64_MIN,
                    r->opts->have_to ? r->opts->to * 1000 : INT64_MAX);
    prep_logs_progress(rpt_logs, 1);
    prep_logs_hash(rpt_logs, 1);

    if (prep_logs_run(rpt_logs, &rpt_logs_sum, err, errlen) != 0) {
        return -1;
    }

    if (rpt_logs_manifest(r, manifest, err, errlen) != 0) {
        return -1;
    }

    files = prep_logs_files(rpt_logs, &nfiles);

    for (i = 0; i < r->opts->nlogs; i++) {
        if (r->nsources == (int) (sizeof(r->sources)
                                  / sizeof(r->sources[0])))
        {
            break;
        }

        src = &r->sources[r->nsources++];
        memset(src, 0, sizeof(rpt_source_t));
        src->kind = RPT_SRC_LOG;
        src->traffic = 1;
        src->gmtoff = gmtoff;
        snprintf(src->input, sizeof(src->input), "%s", r->opts->logs[i]);
        snprintf(src->name, sizeof(src->name), "%s", r->opts->logs[i]);

        /* a file: its own SHA-256; a directory: that of the list */
        path = strchr(r->opts->logs[i], ':') + 1;
        snprintf(src->sha256, sizeof(src->sha256), "%s", manifest);

        for (k = 0; k < nfiles; k++) {
            if (strcmp(files[k].path, path) == 0) {
                snprintf(src->sha256, sizeof(src->sha256), "%s",
                         files[k].sha256);
                src->size = files[k].bytes;
            }
        }
    }

    /* the figures of all logs together: on the first log's source */

    if (i > 0) {
        src = &r->sources[r->nsources - i];
        src->hits = prep_logs_counts(rpt_logs)->hits;
        src->pages = prep_logs_counts(rpt_logs)->pages_n;
        src->bytes = prep_logs_counts(rpt_logs)->bytes;
        src->visits = prep_logs_counts(rpt_logs)->visits;
        src->bot_hits = prep_logs_counts(rpt_logs)->bot_hits;
    }

    r->have_logs = 1;
    snprintf(r->bots_name, sizeof(r->bots_name), "%s",
             prep_logs_bots_name(rpt_logs));

    if (rpt_logs_sum.records > 0) {
        if (rpt_logs_sum.first_ms / 1000 < r->data_first) {
            r->data_first = rpt_logs_sum.first_ms / 1000;
        }

        if (rpt_logs_sum.last_ms / 1000 > r->data_last) {
            r->data_last = rpt_logs_sum.last_ms / 1000;
        }
    }

    return 0;
}


/* a series of the logs into one of the model's, period by period */

static void
rpt_logs_series(rpt_t *r, rpt_series_t *into, const log_series_t *from,
    int64_t step, int64_t offset, const log_hlls_t *hlls)
{
    size_t               i;
    uint64_t             id, estimate;
    const uint8_t       *regs;
    rpt_period_t        *p;
    const log_period_t  *lp;

    for (i = 0; i < from->n; i++) {
        lp = &from->p[i];

        if (lp->hits == 0 && lp->bot_hits == 0 && lp->visitors == 0) {
            continue;
        }

        id = from->base + i;
        p = rpt_series_at(into, (int64_t) id * step - offset);

        if (p == NULL) {
            continue;
        }

        p->hits += lp->hits;
        p->pages += lp->pages;
        p->bytes += lp->bytes;
        p->visits += lp->visits;
        p->bot_hits += lp->bot_hits;
        p->bot_bytes += lp->bot_bytes;

        if (hlls) {
            regs = log_hlls_get(hlls, id);

            if (regs) {
                estimate = prep_hll_count(regs, hlls->p);
                rpt_period_add_hll(r, p, regs, hlls->p, estimate);
            }

        } else if (lp->visitors) {
            /* 5-minute buckets: counted, not estimated */
            rpt_period_add_hll(r, p, NULL, 0, lp->visitors);
        }
    }
}


int
rpt_logs_fill(rpt_t *r, char *err, size_t errlen)
{
    size_t                i;
    uint64_t              known;
    const log_row_t      *row;
    const log_count_t    *c;
    prep_logs_summary_t  *s;

    (void) err;
    (void) errlen;

    if (rpt_logs == NULL) {
        return 0;
    }

    c = prep_logs_counts(rpt_logs);
    s = &rpt_logs_sum;

    r->hits += c->hits;
    r->pages += c->pages_n;
    r->bytes += c->bytes;
    r->visits += c->visits;
    r->sessions += c->sessions;
    r->session_ms += c->session_ms;
    r->bot_hits += c->bot_hits;
    r->bot_bytes += c->bot_bytes;
    r->unlisted += c->unlisted;

    for (i = 0; i < RPT_CLASSES && i < PREP_COUNT_CLASSES; i++) {
        r->classes[i] += c->classes[i];
    }

    for (i = 0; i < RPT_HISTOGRAM && i < PREP_COUNT_HISTOGRAM; i++) {
        r->histogram[i] += c->histogram[i];
    }

    rpt_logs_series(r, &r->buckets, &c->buckets, PREP_COUNT_BUCKET_SEC, 0,
                    NULL);
    rpt_logs_series(r, &r->hours, &c->hours, 3600, 0, &c->hll_hours);
    rpt_logs_series(r, &r->days, &c->days, 86400,
                    (int64_t) c->gmtoff * 60, &c->hll_days);

    for (i = 1; i < c->nrows; i++) {
        row = &c->rows[i];

        if (rpt_model_add_row(r, log_row_path(c, row), row->len, row->hits,
                              row->pages, row->bytes)
            != 0)
        {
            return -1;
        }
    }

    if (c->nrows > 0 && c->rows[0].hits > 0
        && rpt_model_add_row(r, "(otras)", 7, c->rows[0].hits,
                             c->rows[0].pages, c->rows[0].bytes)
           != 0)
    {
        return -1;
    }

    /* the CDN's answers, when its logs say */

    known = s->cache_hits + s->cache_origin;

    if (known > 0) {
        r->cache_hit_ratio = (double) s->cache_hits / (double) known;
        r->origin_share = (double) s->cache_origin / (double) known;
    }

    if (s->cache_unknown > 0 && known > 0) {
        rpt_warn(r, "registros de acceso: %llu solicitudes sin resultado de "
                 "caché conocido, fuera de la proporción de aciertos",
                 (unsigned long long) s->cache_unknown);
    }

    /* what could not be read, said */

    if (s->malformed > 0) {
        rpt_warn(r, "registros de acceso: %llu líneas ilegibles no se "
                 "contaron (de %llu)", (unsigned long long) s->malformed,
                 (unsigned long long) s->lines);

        for (i = 0; i < s->nsamples; i++) {
            rpt_warn(r, "registros de acceso: %s, línea %llu: %s",
                     s->samples[i].file,
                     (unsigned long long) s->samples[i].line,
                     s->samples[i].reason);
        }
    }

    for (i = 0; i < s->errors_kept; i++) {
        rpt_warn(r, "registros de acceso: %s", s->errors[i]);
    }

    if (s->nerrors > s->errors_kept) {
        rpt_warn(r, "registros de acceso: %llu archivos más con errores",
                 (unsigned long long) (s->nerrors - s->errors_kept));
    }

    if (s->out_of_range > 0) {
        rpt_warn(r, "registros de acceso: %llu solicitudes fuera del "
                 "periodo (--from/--to) no se contaron",
                 (unsigned long long) s->out_of_range);
    }

    if (s->late > 0) {
        rpt_warn(r, "registros de acceso: %llu solicitudes llegaron más de "
                 "%u s fuera de orden; sus visitas se contaron con la regla "
                 "de siempre", (unsigned long long) s->late,
                 (unsigned) (LOG_REORDER_MS / 1000));
    }

    if (c->outside_series > 0) {
        rpt_warn(r, "registros de acceso: %llu solicitudes fuera de las "
                 "series por día (más de %u periodos)",
                 (unsigned long long) c->outside_series, LOG_SERIES_MAX);
    }

    prep_logs_free(rpt_logs);
    rpt_logs = NULL;

    return 0;
}


/* the readers of the logs, when the run stops before rpt_logs_fill() */
void
rpt_logs_release(void)
{
    if (rpt_logs != NULL) {
        prep_logs_free(rpt_logs);
        rpt_logs = NULL;
    }
}
