/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-logs-dump: the access-log counting of prep-report, alone, as
 * JSON on stdout.  A tool for tests and benchmarks (the same code as
 * prep-report --log), not installed.
 *
 *   prep-logs-dump [--json-fields MAP] [--from MS] [--to MS]
 *                  [--gmtoff MIN] [--session-timeout MS]
 *                  [--bots FILE [--bots-replace]] [--snapshot FILE]
 *                  [--pages TYPE,...] [--sha256] [--progress] [--no-rows]
 *                  FORMAT:PATH ...
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep_hll.h"
#include "prep_json.h"
#include "logs.h"


static void
dump_str(const char *s, size_t len)
{
    char    *e;
    size_t   n;

    n = prep_json_escaped_len(s, len);
    e = malloc(n + 1);

    if (e == NULL) {
        fputs("\"\"", stdout);
        return;
    }

    prep_json_escape(e, s, len);
    printf("\"%.*s\"", (int) n, e);
    free(e);
}


static void
dump_series(const char *name, const log_series_t *s, const log_hlls_t *h)
{
    size_t               i;
    int                  first;
    const log_period_t  *p;

    printf(",\"%s\":[", name);
    first = 1;

    for (i = 0; i < s->n; i++) {
        p = &s->p[i];

        if (p->hits == 0 && p->bot_hits == 0) {
            continue;
        }

        printf("%s{\"id\":%llu,\"hits\":%llu,\"pages\":%llu,\"bytes\":%llu,"
               "\"visits\":%llu,\"bot_hits\":%llu,\"bot_bytes\":%llu",
               first ? "" : ",", (unsigned long long) (s->base + i),
               (unsigned long long) p->hits, (unsigned long long) p->pages,
               (unsigned long long) p->bytes,
               (unsigned long long) p->visits,
               (unsigned long long) p->bot_hits,
               (unsigned long long) p->bot_bytes);

        if (h) {
            printf(",\"visitors\":%llu",
                   (unsigned long long) log_hlls_count(h, s->base + i));

        } else {
            printf(",\"visitors\":%llu", (unsigned long long) p->visitors);
        }

        printf("}");
        first = 0;
    }

    printf("]");
}


int
main(int argc, char **argv)
{
    int                   i, replace, rows, first;
    char                  err[1024];
    size_t                k;
    const char           *bots;
    prep_logs_t          *l;
    const log_row_t      *row;
    const log_count_t    *c;
    prep_logs_summary_t  *sum;
    int64_t               from, to;
    char                 *q;
    size_t                npages;
    prep_count_type_t     pages[16];
    size_t                nfiles;
    const prep_logs_file_t  *files;

    l = prep_logs_new();
    sum = malloc(sizeof(prep_logs_summary_t));

    if (l == NULL || sum == NULL) {
        fprintf(stderr, "prep-logs-dump: out of memory\n");
        return 1;
    }

    from = INT64_MIN;
    to = INT64_MAX;
    bots = NULL;
    replace = 0;
    rows = 1;
    npages = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json-fields") == 0 && i + 1 < argc) {
            if (prep_logs_json_fields(l, argv[++i], err, sizeof(err))) {
                goto failed;
            }

        } else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
            from = strtoll(argv[++i], NULL, 10);

        } else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
            to = strtoll(argv[++i], NULL, 10);

        } else if (strcmp(argv[i], "--gmtoff") == 0 && i + 1 < argc) {
            prep_logs_settings(l, atoi(argv[++i]),
                               prep_logs_counts(l)->timeout);

        } else if (strcmp(argv[i], "--session-timeout") == 0
                   && i + 1 < argc)
        {
            prep_logs_settings(l, prep_logs_counts(l)->gmtoff,
                               strtoull(argv[++i], NULL, 10));

        } else if (strcmp(argv[i], "--bots") == 0 && i + 1 < argc) {
            bots = argv[++i];

        } else if (strcmp(argv[i], "--bots-replace") == 0) {
            replace = 1;

        } else if (strcmp(argv[i], "--snapshot") == 0 && i + 1 < argc) {
            if (prep_logs_snapshot(l, argv[++i], err, sizeof(err))) {
                goto failed;
            }

        } else if (strcmp(argv[i], "--pages") == 0 && i + 1 < argc) {
            /* comma-separated content types */
            for (q = strtok(argv[++i], ","); q && npages < 16;
                 q = strtok(NULL, ","))
            {
                pages[npages].type = q;
                pages[npages++].len = strlen(q);
            }

            prep_logs_pages(l, pages, npages);

        } else if (strcmp(argv[i], "--progress") == 0) {
            prep_logs_progress(l, 1);

        } else if (strcmp(argv[i], "--sha256") == 0) {
            prep_logs_hash(l, 1);

        } else if (strcmp(argv[i], "--no-rows") == 0) {
            rows = 0;

        } else if (argv[i][0] == '-') {
            fprintf(stderr, "prep-logs-dump: unknown option %s\n", argv[i]);
            return 2;

        } else if (prep_logs_add_source(l, argv[i], err, sizeof(err))) {
            goto failed;
        }
    }

    if (bots && prep_logs_bots(l, bots, replace, err, sizeof(err))) {
        goto failed;
    }

    prep_logs_range(l, from, to);

    if (prep_logs_run(l, sum, err, sizeof(err)) != 0) {
        goto failed;
    }

    c = prep_logs_counts(l);

    printf("{\"hits\":%llu,\"pages\":%llu,\"bytes\":%llu,\"visits\":%llu,"
           "\"sessions\":%llu,\"session_ms\":%llu,\"bot_hits\":%llu,"
           "\"bot_bytes\":%llu,\"visitor_days\":%llu,\"unlisted\":%llu,"
           "\"outside_series\":%llu",
           (unsigned long long) c->hits, (unsigned long long) c->pages_n,
           (unsigned long long) c->bytes, (unsigned long long) c->visits,
           (unsigned long long) c->sessions,
           (unsigned long long) c->session_ms,
           (unsigned long long) c->bot_hits,
           (unsigned long long) c->bot_bytes,
           (unsigned long long) (c->hll_all
                                 ? prep_hll_count(c->hll_all, LOG_HLL_ALL_P)
                                 : 0),
           (unsigned long long) c->unlisted,
           (unsigned long long) c->outside_series);

    printf(",\"classes\":[");
    for (k = 0; k < PREP_COUNT_CLASSES; k++) {
        printf("%s%llu", k ? "," : "", (unsigned long long) c->classes[k]);
    }

    printf("],\"histogram\":[");
    for (k = 0; k < PREP_COUNT_HISTOGRAM; k++) {
        printf("%s%llu", k ? "," : "", (unsigned long long) c->histogram[k]);
    }

    printf("]");

    dump_series("days", &c->days, &c->hll_days);
    dump_series("hours", &c->hours, &c->hll_hours);
    dump_series("buckets", &c->buckets, NULL);

    printf(",\"rows\":[");
    first = 1;

    for (k = 0; rows && k < c->nrows; k++) {
        row = &c->rows[k];

        if (row->hits == 0) {
            continue;
        }

        printf("%s{\"path\":", first ? "" : ",");
        first = 0;
        dump_str(k ? log_row_path(c, row) : "", row->len);
        printf(",\"hits\":%llu,\"pages\":%llu,\"bytes\":%llu}",
               (unsigned long long) row->hits,
               (unsigned long long) row->pages,
               (unsigned long long) row->bytes);
    }

    printf("],\"summary\":{\"sources\":%llu,\"files\":%llu,"
           "\"bytes_in\":%llu,\"lines\":%llu,\"records\":%llu,"
           "\"headers\":%llu,\"malformed\":%llu,\"out_of_range\":%llu,"
           "\"late\":%llu,\"cache_hits\":%llu,\"cache_origin\":%llu,"
           "\"cache_unknown\":%llu,\"first_ms\":%lld,\"last_ms\":%lld,"
           "\"bots\":",
           (unsigned long long) sum->sources,
           (unsigned long long) sum->files,
           (unsigned long long) sum->bytes_in,
           (unsigned long long) sum->lines,
           (unsigned long long) sum->records,
           (unsigned long long) sum->headers,
           (unsigned long long) sum->malformed,
           (unsigned long long) sum->out_of_range,
           (unsigned long long) sum->late,
           (unsigned long long) sum->cache_hits,
           (unsigned long long) sum->cache_origin,
           (unsigned long long) sum->cache_unknown,
           (long long) sum->first_ms, (long long) sum->last_ms);
    dump_str(prep_logs_bots_name(l), strlen(prep_logs_bots_name(l)));

    printf(",\"samples\":[");
    for (k = 0; k < sum->nsamples; k++) {
        printf("%s{\"file\":", k ? "," : "");
        dump_str(sum->samples[k].file, strlen(sum->samples[k].file));
        printf(",\"line\":%llu,\"reason\":",
               (unsigned long long) sum->samples[k].line);
        dump_str(sum->samples[k].reason, strlen(sum->samples[k].reason));
        printf("}");
    }

    printf("],\"errors\":[");
    for (k = 0; k < sum->errors_kept; k++) {
        printf("%s", k ? "," : "");
        dump_str(sum->errors[k], strlen(sum->errors[k]));
    }

    printf("],\"nerrors\":%llu},\"files\":[",
           (unsigned long long) sum->nerrors);

    files = prep_logs_files(l, &nfiles);

    for (k = 0; k < nfiles; k++) {
        printf("%s{\"path\":", k ? "," : "");
        dump_str(files[k].path, strlen(files[k].path));
        printf(",\"sha256\":\"%s\",\"bytes\":%llu,\"lines\":%llu,"
               "\"records\":%llu}", files[k].sha256,
               (unsigned long long) files[k].bytes,
               (unsigned long long) files[k].lines,
               (unsigned long long) files[k].records);
    }

    printf("]}\n");

    prep_logs_free(l);
    free(sum);

    return 0;

failed:

    fprintf(stderr, "prep-logs-dump: %s\n", err);
    prep_logs_free(l);
    free(sum);

    return 1;
}
