/*
 * Copyright (C) the ngx_prep authors
 *
 * The statistics model: allocation, the fillers' helpers, encoding and
 * decoding of the state file's sections, and merging of origins.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep_hll.h"
#include "prep_state.h"
#include "prep_stats_file.h"


static void prep_stats_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


prep_stats_t *
prep_stats_new(void)
{
    prep_stats_t  *st;

    st = calloc(1, sizeof(prep_stats_t));

    if (st != NULL) {
        st->version = PREP_STATS_VERSION;
    }

    return st;
}


void
prep_stats_free(prep_stats_t *st)
{
    size_t  i;

    if (st == NULL) {
        return;
    }

    for (i = 0; i < st->nrows; i++) {
        free(st->rows[i].path);
    }

    free(st->rows);
    free(st->row_index);
    free(st->sessions);
    free(st);
}


/* ------------------------------------------------------------ fillers */


static uint32_t
prep_stats_path_hash(const char *path, size_t len)
{
    size_t    i;
    uint32_t  h;

    /* FNV-1a: the index is private, no adversary picks its layout */
    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h = (h ^ (uint8_t) path[i]) * 16777619u;
    }

    return h;
}


static int
prep_stats_index_grow(prep_stats_t *st)
{
    size_t     cap, i, j;
    uint32_t  *index;

    cap = st->index_cap ? st->index_cap * 2 : 1024;
    index = calloc(cap, sizeof(uint32_t));

    if (index == NULL) {
        return -1;
    }

    /* slots hold row + 1; row 0 ("other", no path) is never indexed */
    for (i = 1; i < st->nrows; i++) {
        j = prep_stats_path_hash(st->rows[i].path, st->rows[i].path_len)
            & (cap - 1);

        while (index[j]) {
            j = (j + 1) & (cap - 1);
        }

        index[j] = (uint32_t) i + 1;
    }

    free(st->row_index);
    st->row_index = index;
    st->index_cap = cap;

    return 0;
}


static int
prep_stats_rows_reserve(prep_stats_t *st)
{
    size_t             cap;
    prep_stats_row_t  *rows;

    if (st->nrows < st->rows_cap) {
        return 0;
    }

    if (st->nrows >= PREP_STATS_MAX_ROWS) {
        return -1;
    }

    cap = st->rows_cap ? st->rows_cap * 2 : 256;
    rows = realloc(st->rows, cap * sizeof(prep_stats_row_t));

    if (rows == NULL) {
        return -1;
    }

    st->rows = rows;
    st->rows_cap = cap;

    return 0;
}


prep_stats_row_t *
prep_stats_row(prep_stats_t *st, const char *path, size_t len)
{
    size_t             j;
    uint32_t           slot;
    prep_stats_row_t  *row;

    if (st->nrows == 0) {
        /* row 0 is "other" */
        if (prep_stats_rows_reserve(st) != 0) {
            return NULL;
        }

        memset(&st->rows[0], 0, sizeof(prep_stats_row_t));
        st->nrows = 1;
    }

    if (len == 0) {
        return &st->rows[0];
    }

    if (len > PREP_STATS_MAX_PATH) {
        return NULL;
    }

    if ((st->nrows + 1) * 2 > st->index_cap) {
        if (prep_stats_index_grow(st) != 0) {
            return NULL;
        }
    }

    j = prep_stats_path_hash(path, len) & (st->index_cap - 1);

    while ((slot = st->row_index[j]) != 0) {
        row = &st->rows[slot - 1];

        if (row->path_len == len && memcmp(row->path, path, len) == 0) {
            return row;
        }

        j = (j + 1) & (st->index_cap - 1);
    }

    if (prep_stats_rows_reserve(st) != 0) {
        return NULL;
    }

    row = &st->rows[st->nrows];
    memset(row, 0, sizeof(prep_stats_row_t));

    row->path = malloc(len + 1);

    if (row->path == NULL) {
        return NULL;
    }

    memcpy(row->path, path, len);
    row->path[len] = '\0';
    row->path_len = (uint32_t) len;

    st->row_index[j] = (uint32_t) st->nrows + 1;
    st->nrows++;

    return row;
}


int
prep_stats_add_session(prep_stats_t *st, uint64_t visitor, uint64_t first,
    uint64_t last)
{
    size_t                 cap;
    prep_stats_session_t  *s;

    if (st->nsessions == st->sessions_cap) {
        if (st->nsessions >= PREP_STATS_MAX_SESSIONS) {
            return -1;
        }

        cap = st->sessions_cap ? st->sessions_cap * 2 : 256;
        s = realloc(st->sessions, cap * sizeof(prep_stats_session_t));

        if (s == NULL) {
            return -1;
        }

        st->sessions = s;
        st->sessions_cap = cap;
    }

    s = &st->sessions[st->nsessions++];
    s->visitor = visitor;
    s->first = first;
    s->last = last;

    return 0;
}


prep_stats_period_t *
prep_stats_period(prep_stats_period_t *ring, size_t n, uint64_t id)
{
    prep_stats_period_t  *p;

    p = &ring[id % n];

    if (p->id != id) {
        if (p->id > id) {
            return NULL;        /* older than the ring reaches */
        }

        memset(p, 0, sizeof(prep_stats_period_t));
        p->id = id;
    }

    return p;
}


uint8_t *
prep_stats_day_hll(prep_stats_t *st, uint64_t day)
{
    prep_stats_hll_t  *h;

    h = &st->hll_day[day % PREP_STATS_DAYS];

    if (h->tag != day) {
        if (h->tag > day) {
            return NULL;
        }

        memset(h, 0, sizeof(prep_stats_hll_t));
        h->tag = day;
    }

    return h->registers;
}


uint8_t *
prep_stats_hour_hll(prep_stats_t *st, uint64_t hour)
{
    prep_stats_hll_hour_t  *h;

    h = &st->hll_hour[hour % PREP_STATS_HOURS];

    if (h->tag != hour) {
        if (h->tag > hour) {
            return NULL;
        }

        memset(h, 0, sizeof(prep_stats_hll_hour_t));
        h->tag = hour;
    }

    return h->registers;
}


/* ------------------------------------------------------------ encode */


#define PREP_STATS_COUNTERS                                                  \
    (sizeof(prep_stats_totals_t) / sizeof(uint64_t))

/* id, hits, pages, bytes, visitors, visits, bot hits, bot bytes, flags */
#define PREP_STATS_PERIOD_FIELDS  9
#define PREP_STATS_PERIOD_FIELDS_V1  6


static size_t
prep_stats_ring_used(const prep_stats_period_t *ring, size_t n)
{
    size_t  i, used;

    used = 0;

    for (i = 0; i < n; i++) {
        used += (ring[i].id != 0);
    }

    return used;
}


size_t
prep_stats_encoded_size(const prep_stats_t *st)
{
    size_t  size, i, rows, cortes;

    size = PREP_STATE_HEADER_SIZE
           + prep_state_section_space(9 * 8)
           + prep_state_section_space(4 + PREP_STATS_COUNTERS * 8)
           + prep_state_section_space(4 + 2 * (8 + 16));

    for (i = 0; i < PREP_STATS_HOURS; i++) {
        if (st->hll_hour[i].tag) {
            size += prep_state_section_space(16 + (1 << PREP_STATS_HOUR_P));
        }
    }

    for (i = 0; i < PREP_STATS_DAYS; i++) {
        if (st->hll_day[i].tag) {
            size += prep_state_section_space(16 + (1 << PREP_STATS_DAY_P));
        }
    }

    size += prep_state_section_space(16 + (1 << PREP_STATS_ALL_P));

    size += prep_state_section_space(12 + PREP_STATS_PERIOD_FIELDS * 8
                                  * prep_stats_ring_used(st->buckets,
                                                         PREP_STATS_BUCKETS))
            + prep_state_section_space(12 + PREP_STATS_PERIOD_FIELDS * 8
                                  * prep_stats_ring_used(st->hours,
                                                         PREP_STATS_HOURS))
            + prep_state_section_space(12 + PREP_STATS_PERIOD_FIELDS * 8
                                  * prep_stats_ring_used(st->days,
                                                         PREP_STATS_DAYS));

    rows = 4;

    for (i = 0; i < st->nrows; i++) {
        rows += 3 * 8 + 4 + (i ? st->rows[i].path_len : 0);
    }

    cortes = 4;

    for (i = 0; i < PREP_STATS_BUCKETS; i++) {
        if (st->buckets[i].id && st->buckets[i].corte[0]) {
            cortes += 8 + 4 + strnlen(st->buckets[i].corte,
                                      PREP_STATS_CORTE_LEN);
        }
    }

    size += prep_state_section_space(rows)
            + prep_state_section_space(4 + st->nsessions * 3 * 8)
            + prep_state_section_space(cortes);

    return size;
}


static void
prep_stats_encode_ring(prep_state_writer_t *w, uint32_t kind,
    const prep_stats_period_t *ring, size_t n)
{
    size_t                      i;
    const prep_stats_period_t  *p;

    prep_state_section_begin(w, PREP_STATS_SEC_PERIODS);
    prep_state_put_u32(w, kind);
    prep_state_put_u32(w, PREP_STATS_PERIOD_FIELDS);
    prep_state_put_u32(w, (uint32_t) prep_stats_ring_used(ring, n));

    for (i = 0; i < n; i++) {
        p = &ring[i];

        if (p->id == 0) {
            continue;
        }

        prep_state_put_u64(w, p->id);
        prep_state_put_u64(w, p->hits);
        prep_state_put_u64(w, p->pages);
        prep_state_put_u64(w, p->bytes);
        prep_state_put_u64(w, p->visitors);
        prep_state_put_u64(w, p->visits);
        prep_state_put_u64(w, p->bot_hits);
        prep_state_put_u64(w, p->bot_bytes);
        prep_state_put_u64(w, p->flags);
    }
}


static void
prep_stats_encode_hll(prep_state_writer_t *w, uint32_t kind, uint64_t tag,
    unsigned p, const uint8_t *registers)
{
    if (tag == 0) {
        return;
    }

    prep_state_section_begin(w, PREP_STATS_SEC_HLL);
    prep_state_put_u32(w, kind);
    prep_state_put_u64(w, tag);
    prep_state_put_u32(w, p);
    prep_state_put_bytes(w, registers, prep_hll_size(p));
}


size_t
prep_stats_encode(const prep_stats_t *st, void *buf, size_t size)
{
    size_t                      i, len;
    const uint64_t             *c;
    prep_state_writer_t         w;
    const prep_stats_row_t     *row;
    const prep_stats_period_t  *b;

    prep_state_writer_init(&w, buf, size);
    w.version = PREP_STATS_VERSION;

    prep_state_section_begin(&w, PREP_STATS_SEC_META);
    prep_state_put_u64(&w, (uint64_t) st->since);
    prep_state_put_u64(&w, (uint64_t) st->created);
    prep_state_put_u64(&w, PREP_STATS_DAY_P);
    prep_state_put_u64(&w, PREP_STATS_BUCKET_SEC);
    prep_state_put_u64(&w, st->paths_max);
    prep_state_put_u64(&w, (uint64_t) st->utc_offset);
    prep_state_put_u64(&w, PREP_STATS_HOUR_P);
    prep_state_put_u64(&w, st->key_id);
    prep_state_put_u64(&w, st->flags);

    prep_state_section_begin(&w, PREP_STATS_SEC_COUNTERS);
    prep_state_put_u32(&w, PREP_STATS_COUNTERS);

    c = (const uint64_t *) &st->totals;

    for (i = 0; i < PREP_STATS_COUNTERS; i++) {
        prep_state_put_u64(&w, c[i]);
    }

    /* no keys, no section: ?format=state shows that none left home */
    if (st->salts[0].day || st->salts[1].day) {
        prep_state_section_begin(&w, PREP_STATS_SEC_SALTS);
        prep_state_put_u32(&w, (st->salts[0].day != 0)
                               + (st->salts[1].day != 0));

        for (i = 0; i < 2; i++) {
            if (st->salts[i].day) {
                prep_state_put_u64(&w, st->salts[i].day);
                prep_state_put_bytes(&w, st->salts[i].key, 16);
            }
        }
    }

    for (i = 0; i < PREP_STATS_HOURS; i++) {
        prep_stats_encode_hll(&w, PREP_STATS_HLL_HOUR, st->hll_hour[i].tag,
                              PREP_STATS_HOUR_P, st->hll_hour[i].registers);
    }

    for (i = 0; i < PREP_STATS_DAYS; i++) {
        prep_stats_encode_hll(&w, PREP_STATS_HLL_DAY, st->hll_day[i].tag,
                              PREP_STATS_DAY_P, st->hll_day[i].registers);
    }

    prep_stats_encode_hll(&w, PREP_STATS_HLL_ALL, st->hll_all.tag,
                          PREP_STATS_ALL_P, st->hll_all.registers);

    prep_stats_encode_ring(&w, PREP_STATS_RING_BUCKETS, st->buckets,
                           PREP_STATS_BUCKETS);
    prep_stats_encode_ring(&w, PREP_STATS_RING_HOURS, st->hours,
                           PREP_STATS_HOURS);
    prep_stats_encode_ring(&w, PREP_STATS_RING_DAYS, st->days,
                           PREP_STATS_DAYS);

    prep_state_section_begin(&w, PREP_STATS_SEC_ROWS);
    prep_state_put_u32(&w, (uint32_t) st->nrows);

    for (i = 0; i < st->nrows; i++) {
        row = &st->rows[i];

        prep_state_put_u64(&w, row->hits);
        prep_state_put_u64(&w, row->pages);
        prep_state_put_u64(&w, row->bytes);
        prep_state_put_u32(&w, i ? row->path_len : 0);

        if (i) {
            prep_state_put_bytes(&w, row->path, row->path_len);
        }
    }

    prep_state_section_begin(&w, PREP_STATS_SEC_SESSIONS);
    prep_state_put_u32(&w, (uint32_t) st->nsessions);

    for (i = 0; i < st->nsessions; i++) {
        prep_state_put_u64(&w, st->sessions[i].visitor);
        prep_state_put_u64(&w, st->sessions[i].first);
        prep_state_put_u64(&w, st->sessions[i].last);
    }

    prep_state_section_begin(&w, PREP_STATS_SEC_CORTES);

    len = 0;

    for (i = 0; i < PREP_STATS_BUCKETS; i++) {
        len += (st->buckets[i].id && st->buckets[i].corte[0]);
    }

    prep_state_put_u32(&w, (uint32_t) len);

    for (i = 0; i < PREP_STATS_BUCKETS; i++) {
        b = &st->buckets[i];

        if (b->id && b->corte[0]) {
            len = strnlen(b->corte, PREP_STATS_CORTE_LEN);
            prep_state_put_u64(&w, b->id);
            prep_state_put_u32(&w, (uint32_t) len);
            prep_state_put_bytes(&w, b->corte, len);
        }
    }

    return prep_state_writer_finish(&w, st->created);
}


/* ------------------------------------------------------------ decode */


static int
prep_stats_decode_hll(prep_stats_t *st, prep_state_section_t *s,
    char *err, size_t errlen)
{
    uint32_t        kind, p;
    uint64_t        tag;
    uint8_t        *dst;
    const uint8_t  *regs;

    kind = prep_state_get_u32(s);
    tag = prep_state_get_u64(s);
    p = prep_state_get_u32(s);

    if (s->short_read) {
        prep_stats_err(err, errlen, "a HyperLogLog section is truncated");
        return -1;
    }

    /* hours of p=14 are the module's before hours took p=12: folded */
    if (kind > PREP_STATS_HLL_ALL || tag == 0
        || (p != PREP_STATS_DAY_P
            && (kind != PREP_STATS_HLL_HOUR || p != PREP_STATS_HOUR_P)))
    {
        prep_stats_err(err, errlen, "a HyperLogLog set of kind %u, tag %llu,"
                       " p=%u", (unsigned) kind, (unsigned long long) tag,
                       (unsigned) p);
        return -1;
    }

    regs = prep_state_get_bytes(s, prep_hll_size(p));

    if (regs == NULL) {
        prep_stats_err(err, errlen, "a HyperLogLog set of %zu registers is "
                       "truncated", prep_hll_size(p));
        return -1;
    }

    switch (kind) {

    case PREP_STATS_HLL_HOUR:
        dst = prep_stats_hour_hll(st, tag);

        if (dst == NULL) {
            return 0;
        }

        if (p == PREP_STATS_HOUR_P) {
            prep_hll_merge(dst, regs, p);

        } else {
            /* an hour of p=14: fold to p=12 by register max */
            size_t  i, m;

            m = prep_hll_size(PREP_STATS_HOUR_P);

            for (i = 0; i < prep_hll_size(p); i++) {
                /*
                 * The low bits index the register; folding drops the two
                 * top index bits, which would have been rank bits at
                 * p=12: the rank can then only be underestimated by at
                 * most 2, a small bias accepted for old files.
                 */
                if (dst[i & (m - 1)] < regs[i]) {
                    dst[i & (m - 1)] = regs[i];
                }
            }
        }

        return 0;

    case PREP_STATS_HLL_DAY:
        dst = prep_stats_day_hll(st, tag);
        break;

    default:
        st->hll_all.tag = tag;
        dst = st->hll_all.registers;
    }

    if (dst != NULL) {
        prep_hll_merge(dst, regs, p);
    }

    return 0;
}


static int
prep_stats_decode_ring(prep_stats_t *st, prep_state_section_t *s,
    char *err, size_t errlen)
{
    size_t                n;
    uint32_t              kind, fields, count, i, j;
    uint64_t              v[PREP_STATS_PERIOD_FIELDS], x;
    prep_stats_period_t  *ring, *p;

    kind = prep_state_get_u32(s);
    fields = prep_state_get_u32(s);
    count = prep_state_get_u32(s);

    if (s->short_read) {
        prep_stats_err(err, errlen, "a periods section is truncated");
        return -1;
    }

    if (kind > PREP_STATS_RING_DAYS
        || fields < PREP_STATS_PERIOD_FIELDS_V1 || fields > 64
        || (uint64_t) count * fields * 8 > prep_state_left(s))
    {
        prep_stats_err(err, errlen, "a ring of kind %u with %u periods of "
                       "%u fields", (unsigned) kind, (unsigned) count,
                       (unsigned) fields);
        return -1;
    }

    switch (kind) {
    case PREP_STATS_RING_BUCKETS:
        ring = st->buckets;
        n = PREP_STATS_BUCKETS;
        break;
    case PREP_STATS_RING_HOURS:
        ring = st->hours;
        n = PREP_STATS_HOURS;
        break;
    default:
        ring = st->days;
        n = PREP_STATS_DAYS;
    }

    for (i = 0; i < count; i++) {
        memset(v, 0, sizeof(v));

        for (j = 0; j < fields; j++) {
            x = prep_state_get_u64(s);

            if (j < PREP_STATS_PERIOD_FIELDS) {
                v[j] = x;
            }
        }

        if (v[0] == 0) {
            continue;
        }

        p = prep_stats_period(ring, n, v[0]);

        if (p == NULL) {
            continue;
        }

        p->hits += v[1];
        p->pages += v[2];
        p->bytes += v[3];
        p->visitors += v[4];
        p->visits += v[5];
        p->bot_hits += v[6];
        p->bot_bytes += v[7];
        p->flags |= (uint32_t) v[8];
    }

    return 0;
}


static int
prep_stats_decode_rows(prep_stats_t *st, prep_state_section_t *s,
    char *err, size_t errlen)
{
    uint32_t           i, n, len;
    uint64_t           hits, pages, bytes;
    const uint8_t     *path;
    prep_stats_row_t  *row;

    n = prep_state_get_u32(s);

    if (s->short_read || (uint64_t) n * 28 > prep_state_left(s)) {
        prep_stats_err(err, errlen, "%u rows do not fit in their section",
                       (unsigned) n);
        return -1;
    }

    for (i = 0; i < n; i++) {
        hits = prep_state_get_u64(s);
        pages = prep_state_get_u64(s);
        bytes = prep_state_get_u64(s);
        len = prep_state_get_u32(s);

        if (len > PREP_STATS_MAX_PATH) {
            prep_stats_err(err, errlen, "row %u has a path of %u bytes",
                           (unsigned) i, (unsigned) len);
            return -1;
        }

        path = prep_state_get_bytes(s, len);

        if (s->short_read) {
            prep_stats_err(err, errlen, "row %u is truncated", (unsigned) i);
            return -1;
        }

        if (len && (path[0] != '/' || memchr(path, '\0', len) != NULL)) {
            prep_stats_err(err, errlen, "row %u: a path not starting with "
                           "\"/\" or holding a NUL", (unsigned) i);
            return -1;
        }

        row = prep_stats_row(st, (const char *) path, len);

        if (row == NULL) {
            prep_stats_err(err, errlen, "out of memory at row %u",
                           (unsigned) i);
            return -1;
        }

        row->hits += hits;
        row->pages += pages;
        row->bytes += bytes;
    }

    return 0;
}


static int
prep_stats_decode_section(prep_stats_t *st, prep_state_section_t *s,
    char *err, size_t errlen)
{
    uint32_t             i, n, len;
    uint64_t             v, first, last, day, p, bucket, *c;
    const uint8_t       *key, *id;
    prep_stats_period_t *b;

    switch (s->type) {

    case PREP_STATS_SEC_META:
        st->since = (int64_t) prep_state_get_u64(s);
        (void) prep_state_get_u64(s);
        p = prep_state_get_u64(s);
        bucket = prep_state_get_u64(s);
        st->paths_max = prep_state_get_u64(s);

        if (s->short_read) {
            prep_stats_err(err, errlen, "the meta section is truncated");
            return -1;
        }

        if (p != PREP_STATS_DAY_P || bucket != PREP_STATS_BUCKET_SEC) {
            prep_stats_err(err, errlen, "written with HyperLogLog p=%llu "
                           "and %llu s buckets, this build uses p=%d and "
                           "%d s", (unsigned long long) p,
                           (unsigned long long) bucket, PREP_STATS_DAY_P,
                           PREP_STATS_BUCKET_SEC);
            return -1;
        }

        if (prep_state_left(s) >= 4 * 8) {
            st->utc_offset = (int64_t) prep_state_get_u64(s);
            p = prep_state_get_u64(s);
            st->key_id = prep_state_get_u64(s);
            st->flags = (uint32_t) prep_state_get_u64(s);

            if (p != PREP_STATS_HOUR_P) {
                prep_stats_err(err, errlen, "hours written with HyperLogLog "
                               "p=%llu, this build uses p=%d",
                               (unsigned long long) p, PREP_STATS_HOUR_P);
                return -1;
            }
        }

        return 0;

    case PREP_STATS_SEC_COUNTERS:
        n = prep_state_get_u32(s);
        c = (uint64_t *) &st->totals;

        if (s->short_read || (uint64_t) n * 8 > prep_state_left(s)) {
            prep_stats_err(err, errlen, "%u counters do not fit in their "
                           "section", (unsigned) n);
            return -1;
        }

        for (i = 0; i < n; i++) {
            v = prep_state_get_u64(s);

            /* counters a newer build added are dropped */
            if (i < PREP_STATS_COUNTERS) {
                c[i] += v;
            }
        }

        return 0;

    case PREP_STATS_SEC_SALTS:
        n = prep_state_get_u32(s);

        if (s->short_read || (uint64_t) n * 24 > prep_state_left(s)) {
            prep_stats_err(err, errlen, "%u keys do not fit in their "
                           "section", (unsigned) n);
            return -1;
        }

        for (i = 0; i < n; i++) {
            day = prep_state_get_u64(s);
            key = prep_state_get_bytes(s, 16);

            if (day && st->salts[day & 1].day < day) {
                st->salts[day & 1].day = day;
                memcpy(st->salts[day & 1].key, key, 16);
            }
        }

        return 0;

    case PREP_STATS_SEC_HLL:
        return prep_stats_decode_hll(st, s, err, errlen);

    case PREP_STATS_SEC_PERIODS:
        return prep_stats_decode_ring(st, s, err, errlen);

    case PREP_STATS_SEC_ROWS:
        return prep_stats_decode_rows(st, s, err, errlen);

    case PREP_STATS_SEC_SESSIONS:
        n = prep_state_get_u32(s);

        if (s->short_read || (uint64_t) n * 24 > prep_state_left(s)) {
            prep_stats_err(err, errlen, "%u sessions do not fit in their "
                           "section", (unsigned) n);
            return -1;
        }

        for (i = 0; i < n; i++) {
            v = prep_state_get_u64(s);
            first = prep_state_get_u64(s);
            last = prep_state_get_u64(s);

            if (prep_stats_add_session(st, v, first, last) != 0) {
                prep_stats_err(err, errlen, "out of memory at session %u",
                               (unsigned) i);
                return -1;
            }
        }

        return 0;

    case PREP_STATS_SEC_CORTES:
        n = prep_state_get_u32(s);

        if (s->short_read || (uint64_t) n * 12 > prep_state_left(s)) {
            prep_stats_err(err, errlen, "%u cortes do not fit in their "
                           "section", (unsigned) n);
            return -1;
        }

        for (i = 0; i < n; i++) {
            v = prep_state_get_u64(s);
            len = prep_state_get_u32(s);

            if (len == 0 || len > PREP_STATS_CORTE_LEN) {
                prep_stats_err(err, errlen, "corte %u has an id of %u "
                               "bytes", (unsigned) i, (unsigned) len);
                return -1;
            }

            id = prep_state_get_bytes(s, len);

            if (id == NULL) {
                prep_stats_err(err, errlen, "corte %u is truncated",
                               (unsigned) i);
                return -1;
            }

            if (memchr(id, '\0', len) != NULL || v == 0) {
                prep_stats_err(err, errlen, "corte %u is malformed",
                               (unsigned) i);
                return -1;
            }

            b = &st->buckets[v % PREP_STATS_BUCKETS];

            /* the periods section names the buckets; others are stale */
            if (b->id == v) {
                memcpy(b->corte, id, len);
                b->corte[len] = '\0';
            }
        }

        return 0;
    }

    /* a section of a newer build of the same format version */
    return 0;
}


int
prep_stats_decode(prep_stats_t *st, const void *buf, size_t len, char *err,
    size_t errlen)
{
    unsigned              n;
    prep_state_reader_t   r;
    prep_state_section_t  s;

    if (prep_state_open(&r, buf, len, err, errlen) != PREP_STATE_OK) {
        return -1;
    }

    st->version = r.version;
    st->created = r.created;
    st->origins = 1;

    for (n = 0; prep_state_next(&r, &s); n++) {

        if (prep_stats_decode_section(st, &s, err, errlen) != 0) {
            return -1;
        }

        if (s.short_read) {
            prep_stats_err(err, errlen, "section %u (type %u) is shorter "
                           "than its contents", n, (unsigned) s.type);
            return -1;
        }
    }

    return 0;
}


/* ------------------------------------------------------------- merge */


static int
prep_stats_empty(const prep_stats_t *st)
{
    return st->origins == 0 && st->totals.hits == 0
           && st->totals.bot_hits == 0;
}


static void
prep_stats_merge_ring(prep_stats_period_t *into,
    const prep_stats_period_t *from, size_t n)
{
    size_t                      i;
    prep_stats_period_t        *p;
    const prep_stats_period_t  *f;

    for (i = 0; i < n; i++) {
        f = &from[i];

        if (f->id == 0) {
            continue;
        }

        p = prep_stats_period(into, n, f->id);

        if (p == NULL) {
            continue;
        }

        p->hits += f->hits;
        p->pages += f->pages;
        p->bytes += f->bytes;
        p->visitors += f->visitors;     /* re-estimated from HLLs below */
        p->visits += f->visits;
        p->bot_hits += f->bot_hits;
        p->bot_bytes += f->bot_bytes;
        p->flags |= f->flags;

        if (p->corte[0] == '\0'
            || strncmp(f->corte, p->corte, PREP_STATS_CORTE_LEN) > 0)
        {
            /* the newer corte (ids sort by time) of the two origins */
            memcpy(p->corte, f->corte, sizeof(p->corte));
        }
    }
}


int
prep_stats_merge(prep_stats_t *into, const prep_stats_t *from)
{
    size_t             i;
    uint8_t           *dst;
    uint64_t          *c;
    const uint64_t    *fc;
    prep_stats_row_t  *row;

    if (prep_stats_empty(into)) {
        into->key_id = from->key_id;
        into->utc_offset = from->utc_offset;

    } else if (!prep_stats_empty(from)
               && (into->key_id != from->key_id || into->key_id == 0))
    {
        into->flags |= PREP_STATS_F_KEYS_DIFFER;
    }

    into->flags |= from->flags;
    into->origins += from->origins ? from->origins : 1;

    if (from->since && (into->since == 0 || from->since < into->since)) {
        into->since = from->since;
    }

    if (from->created > into->created) {
        into->created = from->created;
    }

    if (from->paths_max > into->paths_max) {
        into->paths_max = from->paths_max;
    }

    c = (uint64_t *) &into->totals;
    fc = (const uint64_t *) &from->totals;

    for (i = 0; i < PREP_STATS_COUNTERS; i++) {
        c[i] += fc[i];
    }

    prep_stats_merge_ring(into->buckets, from->buckets, PREP_STATS_BUCKETS);
    prep_stats_merge_ring(into->hours, from->hours, PREP_STATS_HOURS);
    prep_stats_merge_ring(into->days, from->days, PREP_STATS_DAYS);

    for (i = 0; i < PREP_STATS_DAYS; i++) {
        if (from->hll_day[i].tag == 0) {
            continue;
        }

        dst = prep_stats_day_hll(into, from->hll_day[i].tag);

        if (dst != NULL) {
            prep_hll_merge(dst, from->hll_day[i].registers,
                           PREP_STATS_DAY_P);
        }
    }

    for (i = 0; i < PREP_STATS_HOURS; i++) {
        if (from->hll_hour[i].tag == 0) {
            continue;
        }

        dst = prep_stats_hour_hll(into, from->hll_hour[i].tag);

        if (dst != NULL) {
            prep_hll_merge(dst, from->hll_hour[i].registers,
                           PREP_STATS_HOUR_P);
        }
    }

    if (from->hll_all.tag) {
        into->hll_all.tag = 1;
        prep_hll_merge(into->hll_all.registers, from->hll_all.registers,
                       PREP_STATS_ALL_P);
    }

    /* the visitors of a period with a union are the union's estimate */
    for (i = 0; i < PREP_STATS_DAYS; i++) {
        if (into->days[i].id && into->days[i].id == into->hll_day[i].tag) {
            into->days[i].visitors =
                prep_hll_count(into->hll_day[i].registers, PREP_STATS_DAY_P);

        } else if (into->days[i].id && into->origins > 1) {
            into->flags |= PREP_STATS_F_INEXACT;
        }
    }

    for (i = 0; i < PREP_STATS_HOURS; i++) {
        if (into->hours[i].id && into->hours[i].id == into->hll_hour[i].tag) {
            into->hours[i].visitors =
                prep_hll_count(into->hll_hour[i].registers,
                               PREP_STATS_HOUR_P);
        }
    }

    for (i = 0; i < from->nrows; i++) {
        row = prep_stats_row(into, from->rows[i].path,
                             i ? from->rows[i].path_len : 0);

        if (row == NULL) {
            return -1;
        }

        row->hits += from->rows[i].hits;
        row->pages += from->rows[i].pages;
        row->bytes += from->rows[i].bytes;
    }

    for (i = 0; i < from->nsessions; i++) {
        if (prep_stats_add_session(into, from->sessions[i].visitor,
                                   from->sessions[i].first,
                                   from->sessions[i].last)
            != 0)
        {
            return -1;
        }
    }

    return 0;
}


static void
prep_stats_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
