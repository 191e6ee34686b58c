/*
 * Copyright (C) the ngx_prep authors
 *
 * The cortes: every one published (from the `published` events of all
 * origins: one row per corte id, the earliest arrival, the moment the
 * last origin had it live), and the ones expected and missed.  The call
 * asks for a corte every 15 minutes; the publication window runs from
 * the first published corte to --publication-end (default: the last
 * one).  An expected corte time with no corte in its 15 minutes is
 * missed; three in a row is the call's interruption rule.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"


static rpt_corte_t *
rpt_corte_find(rpt_t *r, const char *id)
{
    size_t  i;

    for (i = 0; i < r->ncortes; i++) {
        if (strcmp(r->cortes[i].corte_id, id) == 0) {
            return &r->cortes[i];
        }
    }

    return NULL;
}


static int
rpt_corte_cmp(const void *a, const void *b)
{
    const rpt_corte_t  *x = a, *y = b;

    return x->corte < y->corte ? -1 : (x->corte > y->corte);
}


static int
rpt_cortes_collect(rpt_t *r)
{
    int           off, live;
    char          id[32], corte[64], arrival[64], file[256];
    double        lat;
    size_t        i, cap;
    int64_t       t, ams;
    rpt_corte_t  *c, *nc;
    rpt_event_t  *e;

    cap = 0;

    for (i = 0; i < r->nevents; i++) {
        e = &r->events[i];

        if (strcmp(e->event, "published") != 0) {
            continue;
        }

        if (rpt_event_str(e, "corte_id", id, sizeof(id)) != 0
            || rpt_event_str(e, "corte", corte, sizeof(corte)) != 0
            || rpt_parse_iso(corte, &t, &off) != 0)
        {
            rpt_warn(r, "%s, línea %ld: evento published sin corte_id o "
                     "corte legible; no se cuenta como corte",
                     r->sources[e->source].input, e->line);
            continue;
        }

        ams = 0;
        if (rpt_event_str(e, "arrival", arrival, sizeof(arrival)) == 0) {
            int64_t  at;
            int      aoff;

            if (rpt_parse_iso(arrival, &at, &aoff) == 0) {
                ams = at * 1000;
            }
        }

        live = rpt_event_bool(e, "live");
        lat = -1;
        rpt_event_num(e, "latency_s", &lat);
        rpt_event_str(e, "file", file, sizeof(file));

        c = rpt_corte_find(r, id);

        if (c == NULL) {
            if (r->ncortes == cap) {
                cap = cap ? cap * 2 : 256;
                nc = realloc(r->cortes, cap * sizeof(rpt_corte_t));
                if (nc == NULL) {
                    return -1;
                }
                r->cortes = nc;
            }

            c = &r->cortes[r->ncortes++];
            memset(c, 0, sizeof(*c));
            snprintf(c->corte_id, sizeof(c->corte_id), "%s", id);
            c->corte = t;
            c->corte_off = off;
            c->arrival_ms = ams;
            c->live_ms = e->ms;
            c->live = live;
            c->latency_s = lat;
            snprintf(c->file, sizeof(c->file), "%s", file);
            c->origins = 1;
            continue;
        }

        /* on another origin: live everywhere when the last one has it */
        c->origins++;

        if (ams && (c->arrival_ms == 0 || ams < c->arrival_ms)) {
            c->arrival_ms = ams;
        }

        if (e->ms > c->live_ms) {
            c->live_ms = e->ms;
            c->latency_s = lat;
        }

        if (live == 0 || c->live == -1) {
            c->live = live;
        }
    }

    /* no events: no array, and qsort() wants one even for 0 members */
    if (r->ncortes > 1) {
        qsort(r->cortes, r->ncortes, sizeof(rpt_corte_t), rpt_corte_cmp);
    }

    return 0;
}


int
rpt_cortes(rpt_t *r)
{
    int            run;
    size_t         i, j, cap;
    int64_t        slot;
    rpt_missed_t  *m;

    if (rpt_cortes_collect(r) != 0) {
        return -1;
    }

    if (r->ncortes == 0) {
        return 0;
    }

    r->pub_start = r->cortes[0].corte;
    r->pub_end = r->opts->have_pub_end ? r->opts->pub_end
                                       : r->cortes[r->ncortes - 1].corte;

    cap = 0;
    run = 0;
    j = 0;

    for (slot = r->pub_start; slot <= r->pub_end; slot += RPT_CORTE_PERIOD) {

        while (j < r->ncortes && r->cortes[j].corte < slot) {
            j++;
        }

        if (j < r->ncortes && r->cortes[j].corte < slot + RPT_CORTE_PERIOD) {
            run = 0;
            continue;
        }

        run++;

        if (run > r->max_missed_run) {
            r->max_missed_run = run;
        }

        if (r->nmissed == cap) {
            cap = cap ? cap * 2 : 64;
            m = realloc(r->missed, cap * sizeof(rpt_missed_t));
            if (m == NULL) {
                return -1;
            }
            r->missed = m;
        }

        r->missed[r->nmissed].slot = slot;
        r->missed[r->nmissed].run = run;
        r->nmissed++;
    }

    (void) i;
    return 0;
}
