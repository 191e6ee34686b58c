/*
 * Copyright (C) the ngx_prep authors
 *
 * Counting access-log requests by the rules of libprep/prep_count: the
 * figures that do not depend on order (hits, pages, bytes, statuses,
 * rows, bots, cache) as each line is read; visitors and visits from a
 * stream of (time, visitor) events put back into time order through a
 * bounded reorder heap, so that interleaved files give the durations
 * the lines would give read in time order.
 *
 * Memory is bounded by what is counted, not by the lines: periods, one
 * row per distinct path (up to LOG_ROWS_MAX, then "other"), one node per
 * live session (closed after the timeout), HyperLogLog registers per
 * day and hour, and at most LOG_REORDER_MAX events waiting for order.
 * Nothing is allocated per line: arrays grow by doubling.
 */


#ifndef _LOG_COUNT_H_INCLUDED_
#define _LOG_COUNT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "prep_bots.h"
#include "prep_count.h"
#include "prep_snap.h"
#include "log_rec.h"


#define LOG_ROWS_MAX        (1u << 20)
#define LOG_REORDER_MAX     (1u << 20)
#define LOG_REORDER_MS      (5 * 60 * 1000)
#define LOG_HLL_DAY_P       14
#define LOG_HLL_HOUR_P      12
#define LOG_HLL_ALL_P       14

/* the longest series kept: 5-minute buckets of 3 years, hours, days */
#define LOG_SERIES_MAX      (1u << 18)

#define LOG_UA_CACHE        16384


typedef struct {
    uint64_t        hits;
    uint64_t        pages;
    uint64_t        bytes;
    uint64_t        visits;         /* started in the period */
    uint64_t        visitors;       /* buckets: first request in it */
    uint64_t        bot_hits;
    uint64_t        bot_bytes;
} log_period_t;


/* a series of periods by id, [base, base + n) */
typedef struct {
    uint64_t        base;
    size_t          n;
    log_period_t   *p;
} log_series_t;


/* HyperLogLog registers by period id, allocated as ids are seen */
typedef struct {
    unsigned        p;
    uint64_t        base;
    size_t          n;
    uint8_t       **regs;
} log_hlls_t;


typedef struct {
    uint64_t        hits;
    uint64_t        pages;
    uint64_t        bytes;
    uint32_t        hash;
    uint32_t        off;            /* into the path bytes */
    uint32_t        len;
    uint32_t        next;           /* chain */
} log_row_t;


typedef struct {
    uint64_t        visitor;
    uint64_t        first;
    uint64_t        last;
    uint32_t        next;           /* chain, or free list */
    uint32_t        older;          /* the LRU list, by last request */
    uint32_t        newer;
} log_session_t;


typedef struct {
    int64_t         ms;
    uint64_t        visitor;
    uint64_t        day;
} log_event_t;


typedef struct {
    /* settings, before the first record */
    uint64_t                  timeout;        /* ms */
    int                       gmtoff;         /* minutes, for days */
    uint64_t                  reorder_ms;
    const prep_count_type_t  *pages;          /* NULL: the default */
    size_t                    npages;
    const prep_bots_t        *bots;
    const prep_snap_t        *snap;           /* types by path, or NULL */

    /* totals */
    uint64_t        hits;
    uint64_t        pages_n;
    uint64_t        bytes;
    uint64_t        classes[PREP_COUNT_CLASSES];
    uint64_t        visits;
    uint64_t        sessions;                 /* ended */
    uint64_t        session_ms;
    uint64_t        histogram[PREP_COUNT_HISTOGRAM];
    uint64_t        bot_hits;
    uint64_t        bot_bytes;
    uint64_t        cache[3];                 /* by LOG_CACHE_* */
    uint64_t        late;                     /* beyond the reorder window */
    uint64_t        outside_series;
    uint64_t        unlisted;                 /* hits of paths without row */
    int64_t         first_ms;
    int64_t         last_ms;

    log_series_t    buckets;
    log_series_t    hours;
    log_series_t    days;
    log_hlls_t      hll_hours;
    log_hlls_t      hll_days;
    uint8_t        *hll_all;                  /* visitor-days */

    /* rows; row 0 is "other" */
    log_row_t      *rows;
    size_t          nrows;
    size_t          rows_size;
    uint32_t       *row_slots;
    size_t          row_mask;
    char           *path_bytes;
    size_t          path_used;
    size_t          path_size;

    /* live sessions */
    log_session_t  *nodes;
    size_t          nodes_used;
    size_t          nodes_size;
    uint32_t        free_node;
    uint32_t       *session_slots;
    size_t          session_mask;
    size_t          live;
    uint32_t        lru_oldest;
    uint32_t        lru_newest;

    /* events waiting for order */
    log_event_t    *heap;
    size_t          heap_n;
    size_t          heap_size;
    int64_t         max_ms;
    int64_t         done_ms;

    /* the visitor key of the last day seen, and User-Agents seen */
    uint64_t        key_day;
    uint8_t         key[PREP_COUNT_VISITOR_KEY_LEN];
    int             key_valid;
    uint64_t       *ua_hash;
    uint8_t        *ua_bot;
} log_count_t;


/* zeroes c and sets the defaults; settings may be changed after */
void log_count_init(log_count_t *c);

/* counts one request; 0 or ENOMEM */
int log_count_add(log_count_t *c, const log_rec_t *r);

/* the events still waiting, then every live session ends; 0 or ENOMEM */
int log_count_finish(log_count_t *c);

void log_count_free(log_count_t *c);

/* the estimate of a day's or an hour's visitors, 0 when none */
uint64_t log_hlls_count(const log_hlls_t *h, uint64_t id);
const uint8_t *log_hlls_get(const log_hlls_t *h, uint64_t id);

#define log_row_path(c, row)  ((c)->path_bytes + (row)->off)


#endif /* _LOG_COUNT_H_INCLUDED_ */
