/*
 * Copyright (C) the ngx_prep authors
 *
 * The origins' events.jsonl (docs/EVENTS.md): every line is kept whole,
 * with its time, event and level read out; the analyses read the other
 * fields they need through rpt_event_str() and rpt_event_num(), with
 * ingest's JSON reader (ingest/jsonget.c, linked, not copied).  A line
 * that does not parse is not silently dropped: it is counted and named
 * (file and line number) in the methodology's warnings.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_jsonget.h"
#include "report.h"


static int
rpt_event_time(const char *s, int64_t *ms)
{
    int          off, i;
    int64_t      t, frac;
    const char  *p;

    if (rpt_parse_iso(s, &t, &off) != 0) {
        return -1;
    }

    frac = 0;
    p = strchr(s, '.');

    if (p != NULL) {
        for (i = 0, p++; i < 3; i++) {
            frac *= 10;
            if (*p >= '0' && *p <= '9') {
                frac += *p++ - '0';
            }
        }
    }

    *ms = t * 1000 + frac;
    return 0;
}


static int
rpt_event_cmp(const void *a, const void *b)
{
    const rpt_event_t  *x = a, *y = b;

    if (x->ms != y->ms) {
        return x->ms < y->ms ? -1 : 1;
    }

    if (x->source != y->source) {
        return x->source - y->source;
    }

    return x->line < y->line ? -1 : (x->line > y->line);
}


int
rpt_events_add(rpt_t *r, const char *path, char *err, size_t errlen)
{
    int            src, bad;
    char          *data, *line, *nl, when[64];
    long           lineno;
    size_t         len, n, cap;
    rpt_event_t   *e, *ev;
    rpt_source_t  *s;

    s = &r->sources[r->nsources];
    memset(s, 0, sizeof(*s));

    if (rpt_read_input(path, r->opts->timeout, 0, &data, &len, s->sha256,
                       err, errlen) != 0)
    {
        return -1;
    }

    src = r->nsources++;
    s->kind = RPT_SRC_EVENTS;
    s->size = len;
    snprintf(s->input, sizeof(s->input), "%s", path);
    snprintf(s->name, sizeof(s->name), "%s", path);

    bad = 0;
    lineno = 0;

    for (line = data; line < data + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t) (data + len - line));
        lineno++;

        if (nl == NULL) {
            /* a line cut by a crash or a copy taken mid-write */
            nl = data + len;
            rpt_warn(r, "%s, línea %ld: la última línea no termina en "
                     "salto de línea (archivo cortado); se lee si es JSON "
                     "válido", path, lineno);
        }

        n = (size_t) (nl - line);

        if (n == 0) {
            continue;
        }

        if (r->nevents == r->events_cap) {
            cap = r->events_cap ? r->events_cap * 2 : 1024;
            ev = realloc(r->events, cap * sizeof(rpt_event_t));
            if (ev == NULL) {
                snprintf(err, errlen, "%s: out of memory", path);
                free(data);
                return -1;
            }
            r->events = ev;
            r->events_cap = cap;
        }

        e = &r->events[r->nevents];
        memset(e, 0, sizeof(*e));
        e->source = src;
        e->line = lineno;

        if (n > RPT_EVENT_LINE_MAX
            || ingest_json_get_string(line, n, "time", when,
                                      sizeof(when)) < 0
            || rpt_event_time(when, &e->ms) != 0
            || ingest_json_get_string(line, n, "event", e->event,
                                      sizeof(e->event)) < 0)
        {
            if (++bad <= 10) {
                rpt_warn(r, "%s, línea %ld: no es un evento válido (JSON "
                         "con time y event); no se usó", path, lineno);
            }
            continue;
        }

        if (ingest_json_get_string(line, n, "level", e->level,
                                   sizeof(e->level)) < 0)
        {
            snprintf(e->level, sizeof(e->level), "info");
        }

        e->json = malloc(n + 1);
        if (e->json == NULL) {
            snprintf(err, errlen, "%s: out of memory", path);
            free(data);
            return -1;
        }

        memcpy(e->json, line, n);
        e->json[n] = '\0';
        e->len = n;
        r->nevents++;
    }

    if (bad > 10) {
        rpt_warn(r, "%s: %d líneas en total no son eventos válidos y no se "
                 "usaron", path, bad);
    }

    free(data);

    if (r->nevents > 1) {
        qsort(r->events, r->nevents, sizeof(rpt_event_t), rpt_event_cmp);
    }
    return 0;
}


/* 0, or -1 when absent, not a string or too long (buf is then "") */
int
rpt_event_str(const rpt_event_t *e, const char *field, char *buf,
    size_t size)
{
    /* ingest_json_get_string() returns the length, not 0 */
    if (ingest_json_get_string(e->json, e->len, field, buf, size) < 0) {
        buf[0] = '\0';
        return -1;
    }

    return 0;
}


int
rpt_event_num(const rpt_event_t *e, const char *field, double *v)
{
    return ingest_json_get_number(e->json, e->len, field, v);
}


/* 1 true, 0 false, -1 absent or null */
int
rpt_event_bool(const rpt_event_t *e, const char *field)
{
    ingest_json_val_t  v;

    if (ingest_json_get(e->json, e->len, field, &v) != 1) {
        return -1;
    }

    return v.type == INGEST_JSON_TRUE ? 1
           : v.type == INGEST_JSON_FALSE ? 0 : -1;
}
