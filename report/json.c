/*
 * Copyright (C) the ngx_prep authors
 *
 * memoria-tecnica.json: every figure of the document, in plain numbers
 * and ISO 8601 times, with the source of each group, so the document can
 * be checked or re-rendered by a machine.
 */


#include <stdio.h>
#include <string.h>

#include "report.h"


#define U(v)  ((unsigned long long) (v))


static void
rpt_j_time(rpt_buf_t *b, rpt_t *r, int64_t ms)
{
    char  t[64];

    if (ms == 0) {
        rpt_buf_puts(b, "null");
        return;
    }

    rpt_fmt_iso(t, sizeof(t), ms / 1000, r->tz);
    rpt_buf_json(b, t);
}


static void
rpt_j_num(rpt_buf_t *b, double v)
{
    if (v < 0) {
        rpt_buf_puts(b, "null");
    } else {
        rpt_buf_printf(b, "%.6g", v);
    }
}


static void
rpt_j_series(rpt_buf_t *b, rpt_t *r, rpt_series_t *s, int days)
{
    char           t[64];
    size_t         i;
    rpt_period_t  *p;

    rpt_buf_puts(b, "[");

    for (i = 0; i < s->n; i++) {
        p = &s->p[i];

        if (days) {
            rpt_fmt_day(t, sizeof(t), p->start, r->days_gmtoff);
        } else {
            rpt_fmt_iso(t, sizeof(t), p->start, r->tz);
        }

        rpt_buf_printf(b, "%s\n    {\"start\": \"%s\", \"visitors\": %llu, "
                       "\"visits\": %llu, \"pages\": %llu, \"hits\": %llu, "
                       "\"bytes\": %llu, \"bot_hits\": %llu, "
                       "\"bot_bytes\": %llu", i ? "," : "", t,
                       U(p->visitors), U(p->visits), U(p->pages), U(p->hits),
                       U(p->bytes), U(p->bot_hits), U(p->bot_bytes));

        if (s == &r->buckets) {
            rpt_buf_printf(b, ", \"origins_known\": %u, "
                           "\"origins_serving\": %u, \"corte_id\": ",
                           p->known, p->serving);
            rpt_buf_json(b, p->corte_id[0] ? p->corte_id : NULL);
        }

        rpt_buf_puts(b, "}");
    }

    rpt_buf_puts(b, "]");
}


static void
rpt_j_criterion(void *arg, const char *line)
{
    rpt_buf_t  *b = arg;

    if (b->len && b->data[b->len - 1] != '[') {
        rpt_buf_puts(b, ",");
    }

    rpt_buf_puts(b, "\n    ");
    rpt_buf_json(b, line);
}


int
rpt_render_json(rpt_t *r, rpt_buf_t *b)
{
    int     i, mb;
    char    t[64], src[2048];
    size_t  k;

    rpt_buf_puts(b, "{\n  \"format\": \"prep-report memoria-tecnica 1\",\n"
                 "  \"software\": ");
    snprintf(src, sizeof(src), "prep-report %s", r->version);
    rpt_buf_json(b, src);

    rpt_buf_puts(b, ",\n  \"period\": {\"from\": ");
    rpt_fmt_iso(t, sizeof(t), r->from, r->tz);
    rpt_buf_json(b, t);
    rpt_buf_puts(b, ", \"to\": ");
    rpt_fmt_iso(t, sizeof(t), r->to, r->tz);
    rpt_buf_json(b, t);
    rpt_buf_printf(b, ", \"utc_offset_minutes\": %d, "
                   "\"days_utc_offset_minutes\": %d},\n", r->tz,
                   r->days_gmtoff);

    rpt_traffic_source(r, src, sizeof(src));
    rpt_buf_puts(b, "  \"sources\": {\"traffic\": ");
    rpt_buf_json(b, rpt_traffic_kind(r));
    rpt_buf_puts(b, ", \"traffic_inputs\": ");
    rpt_buf_json(b, src);
    rpt_buf_puts(b, ", \"availability\": \"cubetas de 5 minutos de los "
                 "orígenes\", \"cortes\": \"events.jsonl\", \"incidents\": "
                 "\"events.jsonl y cubetas de 5 minutos\"},\n");

    mb = rpt_median_bin(r);

    rpt_buf_printf(b, "  \"summary\": {\n    \"visitors\": %llu,\n"
                   "    \"visitors_relative_error\": %.6f,\n"
                   "    \"visitor_days_sum\": %llu,\n"
                   "    \"visits\": %llu,\n    \"visits_ended\": %llu,\n"
                   "    \"pages\": %llu,\n    \"hits\": %llu,\n"
                   "    \"bytes\": %llu,\n    \"bot_hits\": %llu,\n"
                   "    \"bot_bytes\": %llu,\n    \"session_ms\": %llu,\n"
                   "    \"visit_mean_s\": ",
                   U(r->visitors), r->visitors_error,
                   U(r->visitors_days_sum), U(r->visits), U(r->sessions),
                   U(r->pages), U(r->hits), U(r->bytes), U(r->bot_hits),
                   U(r->bot_bytes), U(r->session_ms));
    rpt_j_num(b, rpt_mean_visit_s(r));
    rpt_buf_puts(b, ",\n    \"visit_median_bin\": ");
    rpt_buf_json(b, mb >= 0 ? rpt_histogram_labels[mb] : NULL);
    rpt_buf_printf(b, ",\n    \"peak_bucket_hits\": %llu,\n"
                   "    \"peak_per_minute\": ", U(r->peak_bucket_hits));
    rpt_j_num(b, rpt_peak_per_minute(r));
    rpt_buf_puts(b, ",\n    \"peak_bucket_start\": ");
    rpt_j_time(b, r, r->peak_bucket_hits ? r->peak_bucket_start * 1000 : 0);
    rpt_buf_printf(b, ",\n    \"buckets_known\": %llu,\n"
                   "    \"buckets_serving\": %llu,\n"
                   "    \"availability_percent\": ",
                   U(r->buckets_known), U(r->buckets_serving));
    rpt_j_num(b, rpt_availability(r));
    rpt_buf_printf(b, ",\n    \"cortes_published\": %zu,\n"
                   "    \"cortes_expected\": %llu,\n"
                   "    \"cortes_missed\": %zu,\n"
                   "    \"max_consecutive_missed\": %d,\n"
                   "    \"interruption_rule_reached\": %s,\n"
                   "    \"incidents\": %zu,\n    \"cache_hit_ratio\": ",
                   r->ncortes, U(rpt_expected_cortes(r)), r->nmissed,
                   r->max_missed_run,
                   r->max_missed_run >= RPT_INTERRUPT_MISSED ? "true"
                                                             : "false",
                   r->nincidents);
    rpt_j_num(b, r->cache_hit_ratio);
    rpt_buf_puts(b, ",\n    \"origin_share_percent\": ");
    rpt_j_num(b, r->origin_share);
    rpt_buf_printf(b, ",\n    \"origin_hits\": %llu,\n"
                   "    \"evictions\": %llu,\n    \"unlisted_hits\": %llu,\n"
                   "    \"status_classes\": {\"1xx\": %llu, \"2xx\": %llu, "
                   "\"3xx\": %llu, \"4xx\": %llu, \"5xx\": %llu, "
                   "\"other\": %llu}\n  },\n",
                   U(r->origin_hits), U(r->evictions), U(r->unlisted),
                   U(r->classes[0]), U(r->classes[1]), U(r->classes[2]),
                   U(r->classes[3]), U(r->classes[4]), U(r->classes[5]));

    rpt_buf_puts(b, "  \"origins\": [");

    for (i = 0, k = 0; i < r->nsources; i++) {
        rpt_source_t  *s = &r->sources[i];

        if (s->kind != RPT_SRC_STATE && s->kind != RPT_SRC_URL) {
            continue;
        }

        rpt_buf_printf(b, "%s\n    {\"name\": ", k++ ? "," : "");
        rpt_buf_json(b, s->name);
        rpt_buf_puts(b, ", \"input\": ");
        rpt_buf_json(b, s->input);
        rpt_buf_printf(b, ", \"hits\": %llu, \"pages\": %llu, "
                       "\"bytes\": %llu, \"visits\": %llu, "
                       "\"bot_hits\": %llu, \"visitors\": %llu, "
                       "\"share_percent\": ",
                       U(s->hits), U(s->pages), U(s->bytes), U(s->visits),
                       U(s->bot_hits), U(s->visitors));
        {
            uint64_t  total = r->have_logs ? r->origin_hits : r->hits;

            rpt_j_num(b, total ? 100.0 * (double) s->hits / (double) total
                               : 0);
        }
        rpt_buf_printf(b, ", \"buckets_known\": %llu, "
                       "\"buckets_serving\": %llu, "
                       "\"state_version\": %u}",
                       U(s->buckets_known), U(s->buckets_serving),
                       s->version);
    }

    rpt_buf_puts(b, "],\n  \"days\": ");
    rpt_j_series(b, r, &r->days, 1);
    rpt_buf_puts(b, ",\n  \"hours\": ");
    rpt_j_series(b, r, &r->hours, 0);
    rpt_buf_puts(b, ",\n  \"buckets\": ");
    rpt_j_series(b, r, &r->buckets, 0);

    rpt_buf_puts(b, ",\n  \"histogram\": [");

    for (i = 0; i < RPT_HISTOGRAM; i++) {
        rpt_buf_printf(b, "%s\n    {\"bin\": \"%s\", \"from_s\": %llu, "
                       "\"visits\": %llu}", i ? "," : "",
                       rpt_histogram_labels[i],
                       U(rpt_histogram_ms[i] / 1000), U(r->histogram[i]));
    }

    rpt_buf_puts(b, "],\n  \"paths\": [");

    for (k = 0; k < r->nrows; k++) {
        rpt_buf_printf(b, "%s\n    {\"path\": ", k ? "," : "");
        rpt_buf_json(b, r->rows[k].path);
        rpt_buf_printf(b, ", \"hits\": %llu, \"pages\": %llu, "
                       "\"bytes\": %llu}", U(r->rows[k].hits),
                       U(r->rows[k].pages), U(r->rows[k].bytes));
    }

    rpt_buf_puts(b, "],\n  \"cortes\": [");

    for (k = 0; k < r->ncortes; k++) {
        rpt_corte_t  *c = &r->cortes[k];

        rpt_buf_printf(b, "%s\n    {\"corte_id\": ", k ? "," : "");
        rpt_buf_json(b, c->corte_id);
        rpt_buf_puts(b, ", \"corte\": ");
        rpt_j_time(b, r, c->corte * 1000);
        rpt_buf_puts(b, ", \"arrival\": ");
        rpt_j_time(b, r, c->arrival_ms);
        rpt_buf_puts(b, ", \"live\": ");
        rpt_j_time(b, r, c->live_ms);
        rpt_buf_printf(b, ", \"confirmed\": %s, \"delay_s\": %.3f, "
                       "\"latency_s\": ",
                       c->live == 1 ? "true" : c->live == 0 ? "false"
                                                            : "null",
                       (double) c->live_ms / 1000.0 - (double) c->corte);
        rpt_j_num(b, c->latency_s);
        rpt_buf_printf(b, ", \"origins\": %d, \"file\": ", c->origins);
        rpt_buf_json(b, c->file);
        rpt_buf_puts(b, "}");
    }

    rpt_buf_puts(b, "],\n  \"missed_cortes\": [");

    for (k = 0; k < r->nmissed; k++) {
        rpt_buf_printf(b, "%s\n    {\"corte\": ", k ? "," : "");
        rpt_j_time(b, r, r->missed[k].slot * 1000);
        rpt_buf_printf(b, ", \"consecutive\": %d, \"interruption_rule\": "
                       "%s}", r->missed[k].run,
                       r->missed[k].run >= RPT_INTERRUPT_MISSED ? "true"
                                                                : "false");
    }

    rpt_buf_puts(b, "],\n  \"incidents\": [");

    for (k = 0; k < r->nincidents; k++) {
        rpt_incident_t  *in = &r->incidents[k];

        rpt_buf_printf(b, "%s\n    {\"kind\": \"%s\", \"start\": ",
                       k ? "," : "", rpt_incident_kind(in->kind));
        rpt_j_time(b, r, in->start);
        rpt_buf_puts(b, ", \"end\": ");
        rpt_j_time(b, r, in->end);
        rpt_buf_puts(b, ", \"duration_s\": ");
        if (in->end) {
            rpt_buf_printf(b, "%.3f", (double) (in->end - in->start)
                                      / 1000.0);
        } else {
            rpt_buf_puts(b, "null");
        }
        rpt_buf_puts(b, ", \"origin\": ");
        rpt_buf_json(b, in->origin);
        rpt_buf_puts(b, ", \"what\": ");
        rpt_buf_json(b, in->what);
        rpt_buf_puts(b, ", \"detail\": ");
        rpt_buf_json(b, in->detail);
        rpt_buf_printf(b, ", \"affected_publication\": %s}",
                       in->affected ? "true" : "false");
    }

    rpt_buf_puts(b, "],\n  \"criteria\": [");
    rpt_criteria(r, rpt_j_criterion, b);

    rpt_buf_puts(b, "],\n  \"inputs\": [");

    for (i = 0; i < r->nsources; i++) {
        rpt_buf_printf(b, "%s\n    {\"input\": ", i ? "," : "");
        rpt_buf_json(b, r->sources[i].input);
        rpt_buf_printf(b, ", \"kind\": \"%s\", \"bytes\": %llu, "
                       "\"sha256\": \"%s\"}",
                       r->sources[i].kind == RPT_SRC_STATE ? "state"
                       : r->sources[i].kind == RPT_SRC_URL ? "url"
                       : r->sources[i].kind == RPT_SRC_LOG ? "log"
                       : r->sources[i].kind == RPT_SRC_FILE ? "file"
                       : "text",
                       U(r->sources[i].size), r->sources[i].sha256);
    }

    rpt_buf_puts(b, "],\n  \"warnings\": [");

    for (i = 0; i < r->nwarnings; i++) {
        rpt_buf_puts(b, i ? ",\n    " : "\n    ");
        rpt_buf_json(b, r->warnings[i]);
    }

    rpt_buf_printf(b, "],\n  \"warnings_not_listed\": %d\n}\n",
                   r->warnings_dropped);

    return b->failed ? -1 : 0;
}
