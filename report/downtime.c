/*
 * Copyright (C) the ngx_prep authors
 *
 * Downtime from the 5-minute buckets: the module marks every bucket in
 * which nginx ran (worker 0's tick), so between an origin's start and
 * its last save a bucket left unmarked is a fact: that nginx was not
 * running.  Each maximal run of such buckets, inside the window, is one
 * incident of that origin, from the start of its first bucket to the end
 * of its last.  The buckets where nginx stopped and started again count
 * as served (it ran in part of them): a downtime is measured in whole
 * buckets, up to 5 minutes on each side shorter than the real one.
 *
 * It affected publication when, in some bucket of the run, no origin
 * served (origin_fill.c has counted every origin's serving buckets by
 * now); while another origin served, the public was still served.
 */


#include <stdio.h>

#include "report.h"


typedef struct {
    int64_t   start;                     /* unix seconds */
    int64_t   end;
    unsigned  buckets;
    unsigned  alone;                     /* buckets no origin served */
} rpt_down_run_t;


static int
rpt_downtime_add(rpt_t *r, rpt_source_t *s, const rpt_down_run_t *run,
    int norigins)
{
    char             d[64];
    rpt_incident_t  *inc;

    inc = rpt_incident_add(r, RPT_INC_DOWNTIME, run->start * 1000,
                           run->end * 1000, s->name);
    if (inc == NULL) {
        return -1;
    }

    snprintf(inc->what, sizeof(inc->what), "Caída: nginx no sirvió en %u "
             "periodo%s de 5 minutos", run->buckets,
             run->buckets == 1 ? "" : "s");

    inc->affected = run->alone > 0;

    if (norigins < 2) {
        snprintf(inc->detail, sizeof(inc->detail), "sin marca de servicio "
                 "en las cubetas de su estado; es el único origen con "
                 "registro de disponibilidad");

    } else if (run->alone == 0) {
        snprintf(inc->detail, sizeof(inc->detail), "sin marca de servicio "
                 "en las cubetas de su estado; otro origen sirvió durante "
                 "toda la caída, la publicación siguió");

    } else {
        snprintf(d, sizeof(d), "%u min", run->alone * RPT_BUCKET_SEC / 60);
        snprintf(inc->detail, sizeof(inc->detail), "sin marca de servicio "
                 "en las cubetas de su estado; ningún origen sirvió durante "
                 "%s de la caída%s", d, run->alone == run->buckets ? ""
                 : ", otro origen sirvió el resto");
    }

    return 0;
}


static int
rpt_downtime_origin(rpt_t *r, rpt_source_t *s, int norigins)
{
    int             served;
    int64_t         t, first, last;
    rpt_period_t   *rp;
    rpt_down_run_t  run;

    rpt_origin_span(r, s, &first, &last);
    run.start = run.end = 0;
    run.buckets = run.alone = 0;

    for (t = first; t < last; t += RPT_BUCKET_SEC) {
        rp = rpt_series_at(&r->buckets, t);
        served = rp ? rpt_origin_served(s, t) : -1;

        if (served == 0) {
            if (run.buckets++ == 0) {
                run.start = t;
                run.alone = 0;
            }

            run.end = t + RPT_BUCKET_SEC;
            run.alone += rp->serving == 0;
            continue;
        }

        /* served, or not known: either ends the run */
        if (run.buckets && rpt_downtime_add(r, s, &run, norigins) != 0) {
            return -1;
        }

        run.buckets = 0;
    }

    if (run.buckets && rpt_downtime_add(r, s, &run, norigins) != 0) {
        return -1;
    }

    return 0;
}


int
rpt_downtime(rpt_t *r)
{
    int  i, norigins;

    norigins = 0;

    for (i = 0; i < r->nsources; i++) {
        norigins += r->sources[i].marks;
    }

    for (i = 0; i < r->nsources; i++) {
        if (r->sources[i].marks
            && rpt_downtime_origin(r, &r->sources[i], norigins) != 0)
        {
            return -1;
        }
    }

    return 0;
}
