/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-report: see report.h for the flow and prep-report(1) for use.
 */


#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "report.h"


#ifndef PREP_VERSION
#define PREP_VERSION  "0.0.0"
#endif


void
rpt_warn(rpt_t *r, const char *fmt, ...)
{
    int      n;
    char     buf[2048];
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);

    if (n < 0) {
        return;
    }

    fprintf(stderr, "prep-report: aviso: %s\n", buf);

    if (r->nwarnings == RPT_MAX_WARNINGS) {
        r->warnings_dropped++;
        return;
    }

    r->warnings[r->nwarnings] = strdup(buf);

    if (r->warnings[r->nwarnings] != NULL) {
        r->nwarnings++;

    } else {
        r->warnings_dropped++;
    }
}


static int
rpt_read_text(rpt_t *r, const char *path, char **out, size_t *outlen,
    char *err, size_t errlen)
{
    char           *data;
    size_t          len;
    rpt_source_t   *s;

    s = &r->sources[r->nsources];
    memset(s, 0, sizeof(*s));

    if (rpt_read_input(path, r->opts->timeout, 0, &data, &len, s->sha256,
                       err, errlen) != 0)
    {
        return -1;
    }

    if (memchr(data, '\0', len) != NULL) {
        snprintf(err, errlen, "%s: not a text file (holds a NUL byte)",
                 path);
        free(data);
        return -1;
    }

    /* named in the methodology's list of inputs with its hash */
    s->kind = RPT_SRC_EVENTS;
    s->size = len;
    snprintf(s->input, sizeof(s->input), "%s", path);
    snprintf(s->name, sizeof(s->name), "%s", path);
    r->nsources++;

    *out = data;

    if (outlen) {
        *outlen = len;
    }

    return 0;
}


/* the window: whole local days, from the first corte to the last data */
static void
rpt_window(rpt_t *r)
{
    int64_t  day, from, to;
    int      i;

    if (r->opts->have_tz) {
        r->tz = r->opts->tz;

    } else {
        r->tz = r->ncortes ? r->cortes[0].corte_off : r->days_gmtoff;
    }

    if (r->tz != r->days_gmtoff) {
        rpt_warn(r, "los días de los orígenes empiezan a la medianoche de "
                 "UTC%+d:%02d y los cuadros usan UTC%+d:%02d: las cifras "
                 "por día son de los días de los orígenes",
                 r->days_gmtoff / 60, abs(r->days_gmtoff % 60),
                 r->tz / 60, abs(r->tz % 60));
    }

    from = r->ncortes ? r->cortes[0].corte : r->data_first;
    to = r->data_last + 1;

    for (i = 0; i < r->nsources; i++) {
        if (r->sources[i].kind != RPT_SRC_EVENTS && r->sources[i].created
            && r->sources[i].created + 1 > to)
        {
            to = r->sources[i].created + 1;
        }
    }

    if (r->opts->have_from) {
        from = r->opts->from;
    }

    if (r->opts->have_to) {
        to = r->opts->to;
    }

    if (to <= from) {
        to = from + 1;
    }

    day = 86400;

    /* whole days of the day series: a day is never cut in two */
    r->from = from - (((from + (int64_t) r->days_gmtoff * 60) % day) + day)
              % day;
    r->to = to + (day - ((to + (int64_t) r->days_gmtoff * 60) % day + day)
                  % day) % day;
}


/* every input read and checked, then every output written: 0, 1 */
static int
rpt_run(rpt_t *r)
{
    int          i;
    char         err[2048];
    rpt_buf_t    b;
    rpt_opts_t  *opts;

    opts = r->opts;

    if (mkdir(opts->out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "prep-report: --out %s: %s\n", opts->out,
                strerror(errno));
        return 1;
    }

    /* every input is read and checked before anything is written */
    for (i = 0; i < opts->nstats; i++) {
        if (rpt_origin_load(r, opts->stats[i], err, sizeof(err)) != 0) {
            fprintf(stderr, "prep-report: --stats %s\n", err);
            return 1;
        }
    }

    for (i = 0; i < opts->nevents; i++) {
        if (rpt_events_add(r, opts->events[i], err, sizeof(err)) != 0) {
            fprintf(stderr, "prep-report: --events %s\n", err);
            return 1;
        }
    }

    if (rpt_logs_load(r, err, sizeof(err)) != 0) {
        fprintf(stderr, "prep-report: --log %s\n", err);
        return 1;
    }

    if (opts->difusor
        && rpt_read_text(r, opts->difusor, &r->difusor_json,
                         &r->difusor_len, err, sizeof(err)) != 0)
    {
        fprintf(stderr, "prep-report: --difusor %s\n", err);
        return 1;
    }

    if (opts->notes
        && rpt_read_text(r, opts->notes, &r->notes, NULL, err, sizeof(err))
           != 0)
    {
        fprintf(stderr, "prep-report: --notes %s\n", err);
        return 1;
    }

    rpt_origin_names(r);

    if (rpt_cortes(r) != 0) {
        fprintf(stderr, "prep-report: out of memory\n");
        return 1;
    }

    rpt_window(r);

    if (rpt_model_init(r) != 0 || rpt_origin_fill(r) != 0
        || rpt_logs_fill(r, err, sizeof(err)) != 0
        || rpt_model_finish(r) != 0 || rpt_incidents(r) != 0)
    {
        fprintf(stderr, "prep-report: out of memory\n");
        return 1;
    }

    rpt_buf_init(&b);
    rpt_render_html(r, &b);

    if (rpt_buf_write(&b, opts->out, "memoria-tecnica.html", err,
                      sizeof(err)) != 0)
    {
        fprintf(stderr, "prep-report: %s\n", err);
        rpt_buf_free(&b);
        return 1;
    }

    rpt_buf_free(&b);
    rpt_buf_init(&b);
    rpt_render_json(r, &b);

    if (rpt_buf_write(&b, opts->out, "memoria-tecnica.json", err,
                      sizeof(err)) != 0)
    {
        fprintf(stderr, "prep-report: %s\n", err);
        rpt_buf_free(&b);
        return 1;
    }

    rpt_buf_free(&b);

    if (rpt_render_csv(r, opts->out, err, sizeof(err)) != 0) {
        fprintf(stderr, "prep-report: %s\n", err);
        return 1;
    }

    if (opts->pdf && rpt_pdf(r, opts->out, err, sizeof(err)) != 0) {
        fprintf(stderr, "prep-report: --pdf: %s\n", err);
        return 1;
    }

    return 0;
}


int
main(int argc, char **argv)
{
    int          rc;
    rpt_t        r;
    rpt_opts_t   opts;

    rc = rpt_cli_parse(&opts, argc, argv);

    if (rc == -1) {
        printf("prep-report %s\n", PREP_VERSION);
        return 0;
    }

    if (rc != 0) {
        return rc;
    }

    memset(&r, 0, sizeof(r));
    r.opts = &opts;
    r.cache_hit_ratio = -1;
    r.origin_share = -1;
    r.data_first = INT64_MAX;
    r.data_last = 0;
    snprintf(r.version, sizeof(r.version), "%s", PREP_VERSION);

    curl_global_init(CURL_GLOBAL_DEFAULT);

    rc = rpt_run(&r);

    rpt_free(&r);
    curl_global_cleanup();

    return rc;
}
