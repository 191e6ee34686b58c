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


/*
 * The last n components of a path ("a/b/c.state", 2: "b/c.state"); the
 * whole path when it has no more.  1 when that is the whole path.
 */
static int
rpt_path_tail(char *dst, size_t size, const char *path, int n)
{
    const char  *p;

    for (p = path + strlen(path); p > path; p--) {
        if (p[-1] == '/' && --n == 0) {
            break;
        }
    }

    snprintf(dst, size, "%s", p);
    return p == path;
}


static int
rpt_names_clash(const rpt_source_t *a, const rpt_source_t *b)
{
    int  origins;

    origins = (a->kind == RPT_SRC_STATE || a->kind == RPT_SRC_URL)
              && (b->kind == RPT_SRC_STATE || b->kind == RPT_SRC_URL);

    return (a->kind == b->kind || origins) && strcmp(a->name, b->name) == 0;
}


/* the files of a kind by basename, with parents where two would clash */
static void
rpt_name_files(rpt_t *r, rpt_src_kind_e kind)
{
    int            i, k, grew;
    int            parts[RPT_MAX_STATS + RPT_MAX_EVENTS + 1];
    int            whole[RPT_MAX_STATS + RPT_MAX_EVENTS + 1];
    rpt_source_t  *s;

    for (i = 0; i < r->nsources; i++) {
        parts[i] = 1;
    }

    /* every round, a clashing name not yet the whole path grows by one */
    do {
        for (i = 0; i < r->nsources; i++) {
            s = &r->sources[i];

            if (s->kind == kind) {
                whole[i] = rpt_path_tail(s->name, sizeof(s->name), s->input,
                                         parts[i]);
            }
        }

        grew = 0;

        for (i = 0; i < r->nsources; i++) {
            if (r->sources[i].kind != kind || whole[i]) {
                continue;
            }

            for (k = 0; k < r->nsources; k++) {
                if (k != i && rpt_names_clash(&r->sources[i],
                                              &r->sources[k]))
                {
                    parts[i]++;
                    grew = 1;
                    break;
                }
            }
        }

    } while (grew);
}


/*
 * An origin's name, as the figures show it: the host of its URL, else
 * its file's basename (with parents when two would clash); the full
 * path and its SHA-256 are in the methodology's list of inputs.
 */
void
rpt_origin_names(rpt_t *r)
{
    int            i, k, nevents;
    char           host[256];
    const char    *p, *e;
    rpt_source_t  *s;

    for (i = 0; i < r->nsources; i++) {
        s = &r->sources[i];

        if (s->kind == RPT_SRC_URL) {
            p = strstr(s->input, "://") + 3;
            e = p + strcspn(p, "/?#");
            snprintf(host, sizeof(host), "%.*s", (int) (e - p), p);
            snprintf(s->name, sizeof(s->name), "%s", host);
        }
    }

    rpt_name_files(r, RPT_SRC_STATE);
    rpt_name_files(r, RPT_SRC_EVENTS);   /* and --difusor, --notes */

    /* the events of origin N are its Nth --events, when counts match */
    nevents = r->opts->nevents;

    if (nevents != r->opts->nstats) {
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
