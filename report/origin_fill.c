/*
 * Copyright (C) the ngx_prep authors
 *
 * The decoded states (libprep/prep_stats_file.h) into the model: see
 * origin.c.  The only file of prep-report that knows prep_stats_t's
 * fields.
 *
 * Periods are placed by their start time: buckets and hours are UTC
 * (id * length), days are local days of the state's own offset (id *
 * 86400 - offset).  Visitors of a day or an hour are the union of the
 * origins' registers for it; a 5-minute bucket has no registers, so its
 * visitors are those of its largest origin (a lower bound).
 *
 * Availability: a bucket between an origin's start and its last save is
 * known; it is serving when the origin marked it so.  A state that never
 * marks any bucket (version 1, or an older module) says nothing about
 * availability, and the report says so rather than show downtime.
 * Its runs of buckets not served become incidents in downtime.c.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep_hll.h"
#include "prep_stats_file.h"
#include "report.h"


static uint64_t
rpt_hll_estimate(const uint8_t *regs, unsigned p)
{
    size_t  i, n;

    n = (size_t) 1 << p;

    for (i = 0; i < n; i++) {
        if (regs[i]) {
            return prep_hll_count(regs, p);
        }
    }

    return 0;
}


void
rpt_origin_meta(rpt_t *r, rpt_source_t *s)
{
    size_t               i;
    int64_t              start, end;
    prep_stats_t        *st;
    prep_stats_period_t *b;

    st = s->state;

    s->created = st->created;
    s->since = st->since;
    s->gmtoff = (int) (st->utc_offset / 60);
    s->visitor_key_id = st->key_id;
    s->version = st->version;

    s->hits = st->totals.hits;
    s->pages = st->totals.pages;
    s->bytes = st->totals.bytes;
    s->visits = st->totals.visits;
    s->bot_hits = st->totals.bot_hits;

    if (st->hll_all.tag != 0) {
        s->visitors = rpt_hll_estimate(st->hll_all.registers,
                                       PREP_STATS_ALL_P);
    }

    /* the first origin decides the day series; others must agree */
    if (r->nsources == 0 || r->days_gmtoff == 0) {
        r->days_gmtoff = s->gmtoff;

    } else if (s->gmtoff != r->days_gmtoff) {
        rpt_warn(r, "%s cuenta sus días en UTC%+d:%02d y el primer origen "
                 "en UTC%+d:%02d: sus cifras por día se suman a los días del "
                 "primero", s->input, s->gmtoff / 60, abs(s->gmtoff % 60),
                 r->days_gmtoff / 60, abs(r->days_gmtoff % 60));
    }

    /* the data's extent, for the default window */
    for (i = 0; i < PREP_STATS_BUCKETS; i++) {
        b = &st->buckets[i];

        if (b->id == 0 || (b->hits == 0 && b->bot_hits == 0)) {
            continue;
        }

        start = (int64_t) b->id * PREP_STATS_BUCKET_SEC;
        end = start + PREP_STATS_BUCKET_SEC - 1;

        if (start < r->data_first) {
            r->data_first = start;
        }

        if (end > r->data_last) {
            r->data_last = end;
        }
    }

    if (st->since > 0 && st->since < r->data_first) {
        r->data_first = st->since;
    }

    if (st->created > r->data_last) {
        r->data_last = st->created;
    }
}


static void
rpt_origin_periods(rpt_t *r, rpt_series_t *into,
    const prep_stats_period_t *ring, size_t n, int64_t step, int64_t offset,
    prep_stats_t *st, int kind)
{
    size_t                      i;
    const uint8_t              *regs;
    unsigned                    p;
    rpt_period_t               *rp, *hp;
    const prep_stats_period_t  *sp;

    for (i = 0; i < n; i++) {
        sp = &ring[i];

        if (sp->id == 0) {
            continue;
        }

        /*
         * An hour's registers may come with no counts: the module keeps
         * the hours' counts in its buckets (they reach as far back as
         * the hours), so hours are counted from the buckets below.
         */
        if (sp->hits == 0 && sp->bot_hits == 0 && sp->visitors == 0
            && !(kind == PREP_STATS_RING_HOURS
                 && st->hll_hour[sp->id % PREP_STATS_HOURS].tag == sp->id))
        {
            continue;
        }

        rp = rpt_series_at(into, (int64_t) sp->id * step - offset);
        if (rp == NULL) {
            continue;
        }

        if (kind != PREP_STATS_RING_HOURS) {
            rp->hits += sp->hits;
            rp->pages += sp->pages;
            rp->bytes += sp->bytes;
            rp->visits += sp->visits;
            rp->bot_hits += sp->bot_hits;
            rp->bot_bytes += sp->bot_bytes;
        }

        if (kind == PREP_STATS_RING_BUCKETS) {
            hp = rpt_series_at(&r->hours, (int64_t) sp->id * step);

            if (hp != NULL) {
                hp->hits += sp->hits;
                hp->pages += sp->pages;
                hp->bytes += sp->bytes;
                hp->visits += sp->visits;
                hp->bot_hits += sp->bot_hits;
                hp->bot_bytes += sp->bot_bytes;
            }
        }

        regs = NULL;
        p = 0;

        if (kind == PREP_STATS_RING_DAYS
            && st->hll_day[sp->id % PREP_STATS_DAYS].tag == sp->id)
        {
            regs = st->hll_day[sp->id % PREP_STATS_DAYS].registers;
            p = PREP_STATS_DAY_P;

        } else if (kind == PREP_STATS_RING_HOURS
                   && st->hll_hour[sp->id % PREP_STATS_HOURS].tag == sp->id)
        {
            regs = st->hll_hour[sp->id % PREP_STATS_HOURS].registers;
            p = PREP_STATS_HOUR_P;
        }

        if (regs != NULL || sp->visitors > 0) {
            rpt_period_add_hll(r, rp, regs, p, sp->visitors);
        }
    }
}


/*
 * An origin's whole buckets in the window: from its start (or --from) to
 * its last save (or --to); the bucket being counted at the save is
 * partial and left out.  [*first, *last), multiples of the bucket.
 */
void
rpt_origin_span(rpt_t *r, rpt_source_t *s, int64_t *first, int64_t *last)
{
    int64_t  f, l;

    f = s->since > r->from ? s->since : r->from;
    l = s->created < r->to ? s->created : r->to;

    f += (PREP_STATS_BUCKET_SEC - f % PREP_STATS_BUCKET_SEC)
         % PREP_STATS_BUCKET_SEC;
    l -= l % PREP_STATS_BUCKET_SEC;

    *first = f;
    *last = l > f ? l : f;
}


/*
 * The bucket starting at t of an origin: 1 serving, 0 not (nginx did not
 * run then: its ring slot was never written for t), -1 unknown (the ring
 * slot already holds a newer bucket, t is older than the ring reaches).
 */
int
rpt_origin_served(rpt_source_t *s, int64_t t)
{
    uint64_t                    id;
    prep_stats_t               *st;
    const prep_stats_period_t  *b;

    st = s->state;
    id = (uint64_t) (t / PREP_STATS_BUCKET_SEC);
    b = &st->buckets[id % PREP_STATS_BUCKETS];

    if (b->id > id) {
        return -1;
    }

    return b->id == id && (b->flags & PREP_STATS_SERVING);
}


/* known and serving buckets of one origin, and the corte each names */
static void
rpt_origin_availability(rpt_t *r, rpt_source_t *s, prep_stats_t *st)
{
    int                   served;
    size_t                i;
    int64_t               t, first, last;
    rpt_period_t         *rp;
    prep_stats_period_t  *b;

    for (i = 0; i < PREP_STATS_BUCKETS; i++) {
        if (st->buckets[i].flags & PREP_STATS_SERVING) {
            break;
        }
    }

    if (i == PREP_STATS_BUCKETS) {
        rpt_warn(r, "%s no registra en qué periodos de 5 minutos sirvió "
                 "(estado versión %u): su disponibilidad no se calcula",
                 s->input, (unsigned) st->version);
        return;
    }

    s->marks = 1;
    rpt_origin_span(r, s, &first, &last);

    for (t = first; t < last; t += PREP_STATS_BUCKET_SEC) {
        rp = rpt_series_at(&r->buckets, t);
        served = rpt_origin_served(s, t);

        if (rp == NULL || served < 0) {
            continue;
        }

        rp->known++;
        s->buckets_known++;

        if (served) {
            rp->serving++;
            s->buckets_serving++;
        }

        b = &st->buckets[(t / PREP_STATS_BUCKET_SEC) % PREP_STATS_BUCKETS];

        if (b->id == (uint64_t) (t / PREP_STATS_BUCKET_SEC)
            && b->corte[0] != '\0' && rp->corte_id[0] == '\0')
        {
            snprintf(rp->corte_id, sizeof(rp->corte_id), "%s", b->corte);
        }
    }
}


static int
rpt_origin_traffic(rpt_t *r, prep_stats_t *st)
{
    size_t                    i;
    const prep_stats_row_t   *row;
    const prep_stats_totals_t *t;

    t = &st->totals;

    r->hits += t->hits;
    r->pages += t->pages;
    r->bytes += t->bytes;
    r->visits += t->visits;
    r->sessions += t->sessions;
    r->session_ms += t->session_ms;
    r->bot_hits += t->bot_hits;
    r->bot_bytes += t->bot_bytes;
    r->evictions += t->evictions;
    r->unlisted += t->unlisted;

    for (i = 0; i < RPT_CLASSES && i < PREP_STATS_CLASSES; i++) {
        r->classes[i] += t->classes[i];
    }

    for (i = 0; i < RPT_HISTOGRAM && i < PREP_STATS_HISTOGRAM; i++) {
        r->histogram[i] += t->histogram[i];
    }

    rpt_origin_periods(r, &r->buckets, st->buckets, PREP_STATS_BUCKETS,
                       PREP_STATS_BUCKET_SEC, 0, st,
                       PREP_STATS_RING_BUCKETS);
    rpt_origin_periods(r, &r->hours, st->hours, PREP_STATS_HOURS, 3600, 0,
                       st, PREP_STATS_RING_HOURS);
    rpt_origin_periods(r, &r->days, st->days, PREP_STATS_DAYS, 86400,
                       st->utc_offset, st, PREP_STATS_RING_DAYS);

    for (i = 0; i < st->nrows; i++) {
        row = &st->rows[i];

        if (row->hits == 0 && row->bytes == 0) {
            continue;
        }

        if (row->path_len == 0) {
            if (rpt_model_add_row(r, "(otras)", 7, row->hits, row->pages,
                                  row->bytes)
                != 0)
            {
                return -1;
            }

            continue;
        }

        if (rpt_model_add_row(r, row->path, row->path_len, row->hits,
                              row->pages, row->bytes)
            != 0)
        {
            return -1;
        }
    }

    return 0;
}


int
rpt_origin_fill(rpt_t *r)
{
    int            i, norigins;
    uint64_t       key;
    int            keys_differ;
    rpt_source_t  *s;
    prep_stats_t  *st;

    norigins = 0;
    key = 0;
    keys_differ = 0;

    for (i = 0; i < r->nsources; i++) {
        s = &r->sources[i];

        if ((s->kind != RPT_SRC_STATE && s->kind != RPT_SRC_URL)
            || s->state == NULL)
        {
            continue;
        }

        st = s->state;

        if (norigins > 0 && (st->key_id == 0 || st->key_id != key)) {
            keys_differ = 1;
        }

        key = st->key_id;
        norigins++;

        rpt_origin_availability(r, s, st);

        /* with access logs the traffic is theirs: an origin sees misses */
        r->origin_hits += st->totals.hits;

        if (s->traffic && rpt_origin_traffic(r, st) != 0) {
            return -1;
        }

        if (st->totals.evictions > 0) {
            rpt_warn(r, "%s: %llu visitas terminaron antes de tiempo porque "
                     "la tabla de sesiones se llenó (prep_stats_zone)",
                     s->input, (unsigned long long) st->totals.evictions);
        }

        if (st->totals.unlisted > 0) {
            rpt_warn(r, "%s: %llu solicitudes no tuvieron fila propia por "
                     "ruta y se cuentan en «(otras)»", s->input,
                     (unsigned long long) st->totals.unlisted);
        }
    }

    if (keys_differ && !r->have_logs) {
        rpt_warn(r, "los orígenes no comparten la clave de visitantes "
                 "(prep_stats_visitor_key): un mismo visitante que llegó a "
                 "dos orígenes puede contarse dos veces; la unión es una "
                 "cota superior");
    }

    /* every origin's buckets are in: who else served is known now */
    return rpt_downtime(r);
}
