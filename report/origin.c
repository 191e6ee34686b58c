/*
 * Copyright (C) the ngx_prep authors
 *
 * The origins: each --stats SOURCE (a state file, or the URL of a
 * status location answering ?format=state) is read whole, checked and
 * decoded by libprep's prep_stats_file (the module's own
 * implementation of the format), then added into the model once the
 * window is known: days, hours and buckets by their start time, rows by
 * path, HyperLogLog registers by union.  A state that does not decode
 * is an error naming the input: a report never leaves an origin out.
 *
 * The 5-minute buckets also give availability: between an origin's
 * start (since) and its last save (created), a bucket the origin did not
 * mark as serving is downtime of that origin, turned into incidents.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep_stats_file.h"
#include "report.h"


int
rpt_origin_load(rpt_t *r, const char *input, char *err, size_t errlen)
{
    char           *data, derr[512];
    size_t          len;
    prep_stats_t   *st;
    rpt_source_t   *s;

    s = &r->sources[r->nsources];
    memset(s, 0, sizeof(*s));

    if (rpt_read_input(input, r->opts->timeout, 0, &data, &len, s->sha256,
                       err, errlen) != 0)
    {
        return -1;
    }

    s->kind = strstr(input, "://") ? RPT_SRC_URL : RPT_SRC_STATE;
    s->size = len;
    s->traffic = r->opts->nlogs == 0;
    snprintf(s->input, sizeof(s->input), "%s", input);

    st = prep_stats_new();
    if (st == NULL) {
        snprintf(err, errlen, "%s: out of memory", input);
        free(data);
        return -1;
    }

    if (prep_stats_decode(st, data, len, derr, sizeof(derr)) != 0) {
        snprintf(err, errlen, "%s: not a usable statistics state: %s",
                 input, derr);
        prep_stats_free(st);
        free(data);
        return -1;
    }

    free(data);
    s->state = st;
    rpt_origin_meta(r, s);
    r->nsources++;

    return 0;
}


void
rpt_origin_free(rpt_t *r)
{
    int  i;

    for (i = 0; i < r->nsources; i++) {
        prep_stats_free(r->sources[i].state);
        r->sources[i].state = NULL;
    }
}


/* an origin's name: the host of its URL, else the file's path */
void
rpt_origin_names(rpt_t *r)
{
    int            i, k, nstats, nevents;
    char           host[256];
    const char    *p, *e;
    rpt_source_t  *s;

    nstats = 0;

    for (i = 0; i < r->nsources; i++) {
        s = &r->sources[i];

        if (s->kind == RPT_SRC_URL) {
            p = strstr(s->input, "://") + 3;
            e = p + strcspn(p, "/?#");
            snprintf(host, sizeof(host), "%.*s", (int) (e - p), p);
            snprintf(s->name, sizeof(s->name), "%s", host);
        } else if (s->kind == RPT_SRC_STATE) {
            snprintf(host, sizeof(host), "%s", s->input);
            snprintf(s->name, sizeof(s->name), "%s", host);
        }
    }

    /* the events of origin N are its Nth --events, when counts match */
    nevents = r->opts->nevents;
    nstats = r->opts->nstats;

    if (nevents != nstats || nstats < 2) {
        return;
    }

    for (i = 0, k = 0; i < r->nsources && k < nevents; i++) {
        if (r->sources[i].kind != RPT_SRC_EVENTS
            || strcmp(r->sources[i].input, r->opts->events[k]) != 0)
        {
            continue;
        }

        snprintf(host, sizeof(host), "%s", r->sources[k].name);
        snprintf(r->sources[i].name, sizeof(r->sources[i].name), "%s", host);
        k++;
    }
}


