/*
 * Copyright (C) the ngx_prep authors
 *
 * The report's model: the window's series (5-minute buckets, hours,
 * days), the rows by path and the totals, filled by every source.
 * Counts are summed; each period's visitors are the HyperLogLog union
 * of the sources' registers for it (never a sum: one visitor seen by
 * two origins is one visitor).
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "prep_hll.h"
#include "report.h"


#define RPT_ROW_SLOTS_MIN  4096


typedef struct {
    rpt_row_t  *rows;
    size_t      n, size;
    uint32_t   *slots;
    size_t      mask;
} rpt_rows_t;

static rpt_rows_t  rpt_rows;


const char *rpt_histogram_labels[RPT_HISTOGRAM] = {
    "0-10 s", "10-30 s", "30-60 s", "1-3 min", "3-10 min", "10-30 min",
    "30 min o más"
};

/* the lower bound of every bin, ms */
const uint64_t rpt_histogram_ms[RPT_HISTOGRAM] = {
    0, 10000, 30000, 60000, 180000, 600000, 1800000
};


static int
rpt_series_init(rpt_series_t *s, int64_t from, int64_t to, int64_t step,
    int64_t align)
{
    size_t  i;

    s->step = step;
    s->base = from - ((from - align) % step + step) % step;
    s->n = (size_t) ((to - s->base + step - 1) / step);
    s->p = calloc(s->n ? s->n : 1, sizeof(rpt_period_t));

    if (s->p == NULL) {
        return -1;
    }

    for (i = 0; i < s->n; i++) {
        s->p[i].start = s->base + (int64_t) i * step;
    }

    return 0;
}


int
rpt_model_init(rpt_t *r)
{
    /* days begin at local midnight of the days' offset */
    if (rpt_series_init(&r->days, r->from, r->to, 86400,
                        -(int64_t) r->days_gmtoff * 60) != 0
        || rpt_series_init(&r->hours, r->from, r->to, 3600, 0) != 0
        || rpt_series_init(&r->buckets, r->from, r->to, RPT_BUCKET_SEC, 0)
           != 0)
    {
        return -1;
    }

    return 0;
}


rpt_period_t *
rpt_series_at(rpt_series_t *s, int64_t t)
{
    int64_t  i;

    if (t < s->base) {
        return NULL;
    }

    i = (t - s->base) / s->step;

    return (size_t) i < s->n ? &s->p[i] : NULL;
}


void
rpt_period_add_hll(rpt_t *r, rpt_period_t *p, const uint8_t *regs,
    unsigned hll_p, uint64_t estimate)
{
    if (estimate > p->visitors_max) {
        p->visitors_max = estimate;
    }

    if (regs == NULL) {
        /* a source without registers: no exact union possible */
        p->hll_mixed = 1;
        return;
    }

    if (p->hll == NULL) {
        p->hll = calloc(1, prep_hll_size(hll_p));
        if (p->hll == NULL) {
            p->hll_mixed = 1;
            rpt_warn(r, "sin memoria para unir visitantes");
            return;
        }
        p->hll_p = hll_p;
    }

    if (p->hll_p != hll_p) {
        p->hll_mixed = 1;
        return;
    }

    prep_hll_merge(p->hll, regs, hll_p);
}


static uint32_t
rpt_row_hash(const char *s, size_t len)
{
    size_t    i;
    uint32_t  h;

    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h = (h ^ (uint8_t) s[i]) * 16777619u;
    }

    return h;
}


static int
rpt_rows_grow(void)
{
    size_t      i, size, mask;
    uint32_t   *slots, h;
    rpt_row_t  *rows;

    size = rpt_rows.size ? rpt_rows.size * 2 : RPT_ROW_SLOTS_MIN / 2;

    rows = realloc(rpt_rows.rows, size * sizeof(rpt_row_t));
    if (rows == NULL) {
        return -1;
    }

    rpt_rows.rows = rows;
    mask = size * 2 - 1;

    slots = malloc((mask + 1) * sizeof(uint32_t));
    if (slots == NULL) {
        return -1;
    }

    memset(slots, 0xff, (mask + 1) * sizeof(uint32_t));

    for (i = 0; i < rpt_rows.n; i++) {
        h = rpt_row_hash(rows[i].path, strlen(rows[i].path)) & mask;

        while (slots[h] != UINT32_MAX) {
            h = (h + 1) & mask;
        }

        slots[h] = (uint32_t) i;
    }

    free(rpt_rows.slots);
    rpt_rows.slots = slots;
    rpt_rows.mask = mask;
    rpt_rows.size = size;
    return 0;
}


int
rpt_model_add_row(rpt_t *r, const char *path, size_t len, uint64_t hits,
    uint64_t pages, uint64_t bytes)
{
    uint32_t    h, i;
    rpt_row_t  *row;

    (void) r;

    if (rpt_rows.n == rpt_rows.size && rpt_rows_grow() != 0) {
        return -1;
    }

    h = rpt_row_hash(path, len) & rpt_rows.mask;

    for ( ;; ) {
        i = rpt_rows.slots[h];

        if (i == UINT32_MAX) {
            break;
        }

        row = &rpt_rows.rows[i];

        if (strncmp(row->path, path, len) == 0 && row->path[len] == '\0') {
            row->hits += hits;
            row->pages += pages;
            row->bytes += bytes;
            return 0;
        }

        h = (h + 1) & rpt_rows.mask;
    }

    row = &rpt_rows.rows[rpt_rows.n];
    row->path = strndup(path, len);

    if (row->path == NULL) {
        return -1;
    }

    row->hits = hits;
    row->pages = pages;
    row->bytes = bytes;
    rpt_rows.slots[h] = (uint32_t) rpt_rows.n++;
    return 0;
}


static int
rpt_row_cmp(const void *a, const void *b)
{
    const rpt_row_t  *x = a, *y = b;

    if (x->hits != y->hits) {
        return x->hits > y->hits ? -1 : 1;
    }

    return strcmp(x->path, y->path);
}


static void
rpt_series_finish(rpt_series_t *s)
{
    size_t         i;
    rpt_period_t  *p;

    for (i = 0; i < s->n; i++) {
        p = &s->p[i];

        if (p->hll != NULL && !p->hll_mixed) {
            p->visitors = prep_hll_count(p->hll, p->hll_p);

        } else {
            /* no union possible: the largest source is a lower bound */
            p->visitors = p->visitors_max;
        }
    }
}


int
rpt_model_finish(rpt_t *r)
{
    size_t         i;
    uint8_t       *all;
    unsigned       all_p;
    rpt_period_t  *p;

    r->rows = rpt_rows.rows;
    r->nrows = rpt_rows.n;
    free(rpt_rows.slots);
    memset(&rpt_rows, 0, sizeof(rpt_rows));

    if (r->nrows > 1) {
        qsort(r->rows, r->nrows, sizeof(rpt_row_t), rpt_row_cmp);
    }

    rpt_series_finish(&r->days);
    rpt_series_finish(&r->hours);
    rpt_series_finish(&r->buckets);

    /* the whole window: the union of its days' registers */
    all = NULL;
    all_p = 0;
    r->visitors_days_sum = 0;

    for (i = 0; i < r->days.n; i++) {
        p = &r->days.p[i];
        r->visitors_days_sum += p->visitors;

        if (p->hll == NULL || p->hll_mixed) {
            continue;
        }

        if (all == NULL) {
            all_p = p->hll_p;
            all = calloc(1, prep_hll_size(all_p));
            if (all == NULL) {
                return -1;
            }
        }

        if (p->hll_p == all_p) {
            prep_hll_merge(all, p->hll, all_p);
        }
    }

    if (all != NULL) {
        r->visitors = prep_hll_count(all, all_p);
        r->visitors_error = 1.04 / sqrt((double) prep_hll_size(all_p));
        free(all);

    } else {
        r->visitors = r->visitors_days_sum;
    }

    for (i = 0; i < r->buckets.n; i++) {
        p = &r->buckets.p[i];

        if (p->hits > r->peak_bucket_hits) {
            r->peak_bucket_hits = p->hits;
            r->peak_bucket_start = p->start;
        }

        r->buckets_known += p->known ? 1 : 0;
        r->buckets_serving += p->serving ? 1 : 0;
    }

    return 0;
}


static void
rpt_series_free(rpt_series_t *s)
{
    size_t  i;

    for (i = 0; s->p != NULL && i < s->n; i++) {
        free(s->p[i].hll);
    }

    free(s->p);
    s->p = NULL;
    s->n = 0;
}


/*
 * Everything the model holds, on every path out of the program: a report
 * that stops on bad input must leave nothing behind either (the tests
 * run it under LeakSanitizer).
 */

void
rpt_free(rpt_t *r)
{
    size_t  i;
    int     w;

    rpt_origin_free(r);
    rpt_logs_release();

    rpt_series_free(&r->buckets);
    rpt_series_free(&r->hours);
    rpt_series_free(&r->days);

    /* rows still in the table when rpt_model_finish() was not reached */
    for (i = 0; i < rpt_rows.n; i++) {
        free(rpt_rows.rows[i].path);
    }

    free(rpt_rows.rows);
    free(rpt_rows.slots);
    memset(&rpt_rows, 0, sizeof(rpt_rows));

    for (i = 0; i < r->nrows; i++) {
        free(r->rows[i].path);
    }

    free(r->rows);

    for (i = 0; i < r->nevents; i++) {
        free(r->events[i].json);
    }

    free(r->events);
    free(r->cortes);
    free(r->missed);
    free(r->incidents);

    for (w = 0; w < r->nwarnings; w++) {
        free(r->warnings[w]);
    }

    free(r->difusor_json);
    free(r->notes);

    r->rows = NULL;
    r->events = NULL;
    r->cortes = NULL;
    r->missed = NULL;
    r->incidents = NULL;
    r->difusor_json = NULL;
    r->notes = NULL;
    r->nrows = r->nevents = r->ncortes = r->nmissed = r->nincidents = 0;
    r->nwarnings = 0;
}
