/*
 * Copyright (C) the ngx_prep authors
 *
 * Counting access-log requests; see log_count.h.
 */


#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "prep_hll.h"
#include "log_count.h"


#define LOG_NONE  UINT32_MAX


static int log_count_event(log_count_t *c, const log_event_t *ev);
static int log_count_drain(log_count_t *c, int all);
static void log_count_expire(log_count_t *c, uint64_t now);
static void log_count_close(log_count_t *c, log_session_t *s);


/* the key that makes the visitor ids of logs: fixed, see the man page */
static const uint8_t  log_count_base_key[16] = "ngx_prep logs v1";


void
log_count_init(log_count_t *c)
{
    memset(c, 0, sizeof(log_count_t));

    c->timeout = PREP_COUNT_TIMEOUT_MS;
    c->reorder_ms = LOG_REORDER_MS;
    c->hll_hours.p = LOG_HLL_HOUR_P;
    c->hll_days.p = LOG_HLL_DAY_P;
    c->free_node = LOG_NONE;
    c->lru_oldest = LOG_NONE;
    c->lru_newest = LOG_NONE;
    c->first_ms = INT64_MAX;
    c->last_ms = INT64_MIN;
    c->max_ms = INT64_MIN;
    c->done_ms = INT64_MIN;
}


void
log_count_free(log_count_t *c)
{
    size_t  i;

    free(c->buckets.p);
    free(c->hours.p);
    free(c->days.p);

    for (i = 0; i < c->hll_hours.n; i++) {
        free(c->hll_hours.regs[i]);
    }

    for (i = 0; i < c->hll_days.n; i++) {
        free(c->hll_days.regs[i]);
    }

    free(c->hll_hours.regs);
    free(c->hll_days.regs);
    free(c->hll_all);
    free(c->rows);
    free(c->row_slots);
    free(c->path_bytes);
    free(c->nodes);
    free(c->session_slots);
    free(c->heap);
    free(c->ua_hash);
    free(c->ua_bot);

    memset(c, 0, sizeof(log_count_t));
}


/* 64-bit FNV-1a folded: paths are short, and this is not keyed */

static uint32_t
log_path_hash(const char *p, size_t len)
{
    size_t    i;
    uint64_t  h;

    h = 14695981039346656037ULL;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) p[i];
        h *= 1099511628211ULL;
    }

    return (uint32_t) (h ^ (h >> 32));
}


/*
 * The period of id in a series, growing it (either way) by doubling;
 * NULL: out of memory or the series would be longer than its bound.
 */

static log_period_t *
log_series_get(log_series_t *s, uint64_t id)
{
    size_t         n, shift;
    uint64_t       lo, hi;
    log_period_t  *p;

    if (s->n && id >= s->base && id < s->base + s->n) {
        return &s->p[id - s->base];
    }

    if (s->n == 0) {
        lo = id;
        hi = id + 1;

    } else {
        lo = id < s->base ? id : s->base;
        hi = id >= s->base + s->n ? id + 1 : s->base + s->n;
    }

    if (hi - lo > LOG_SERIES_MAX) {
        return NULL;
    }

    /* room for as many again on the side that grew */

    n = (size_t) (hi - lo) * 2;

    if (n > LOG_SERIES_MAX) {
        n = LOG_SERIES_MAX;
    }

    if (s->n && id < s->base) {
        lo = hi > n ? hi - n : 0;
    }

    p = calloc(n, sizeof(log_period_t));
    if (p == NULL) {
        return NULL;
    }

    if (s->n) {
        shift = (size_t) (s->base - lo);
        memcpy(p + shift, s->p, s->n * sizeof(log_period_t));
        free(s->p);
    }

    s->p = p;
    s->base = lo;
    s->n = n;

    return &s->p[id - s->base];
}


static uint8_t *
log_hlls_reg(log_hlls_t *h, uint64_t id)
{
    size_t     n, shift;
    uint64_t   lo, hi;
    uint8_t  **r;

    if (!(h->n && id >= h->base && id < h->base + h->n)) {

        if (h->n == 0) {
            lo = id;
            hi = id + 1;

        } else {
            lo = id < h->base ? id : h->base;
            hi = id >= h->base + h->n ? id + 1 : h->base + h->n;
        }

        if (hi - lo > LOG_SERIES_MAX) {
            return NULL;
        }

        n = (size_t) (hi - lo) * 2;

        if (n > LOG_SERIES_MAX) {
            n = LOG_SERIES_MAX;
        }

        if (h->n && id < h->base) {
            lo = hi > n ? hi - n : 0;
        }

        r = calloc(n, sizeof(uint8_t *));
        if (r == NULL) {
            return NULL;
        }

        if (h->n) {
            shift = (size_t) (h->base - lo);
            memcpy(r + shift, h->regs, h->n * sizeof(uint8_t *));
            free(h->regs);
        }

        h->regs = r;
        h->base = lo;
        h->n = n;
    }

    r = &h->regs[id - h->base];

    if (*r == NULL) {
        *r = calloc(1, prep_hll_size(h->p));
    }

    return *r;
}


const uint8_t *
log_hlls_get(const log_hlls_t *h, uint64_t id)
{
    if (h->n && id >= h->base && id < h->base + h->n) {
        return h->regs[id - h->base];
    }

    return NULL;
}


uint64_t
log_hlls_count(const log_hlls_t *h, uint64_t id)
{
    const uint8_t  *r;

    r = log_hlls_get(h, id);

    return r ? prep_hll_count(r, h->p) : 0;
}


/* the row of a path, added if new and there is room; NULL: no memory */

static log_row_t *
log_count_row(log_count_t *c, const char *path, size_t len)
{
    char       *b;
    size_t      i, size;
    uint32_t    h, *slots;
    log_row_t  *row, *rows;

    if (c->rows == NULL) {
        c->rows_size = 1024;
        c->rows = calloc(c->rows_size, sizeof(log_row_t));
        c->row_mask = 2048 - 1;
        c->row_slots = malloc(2048 * sizeof(uint32_t));

        if (c->rows == NULL || c->row_slots == NULL) {
            return NULL;
        }

        memset(c->row_slots, 0xff, 2048 * sizeof(uint32_t));
        c->nrows = 1;                       /* "other" */
    }

    if (len == 0 || len > UINT32_MAX / 2) {
        return &c->rows[0];
    }

    h = log_path_hash(path, len);

    for (i = h & c->row_mask; c->row_slots[i] != LOG_NONE;
         i = (i + 1) & c->row_mask)
    {
        row = &c->rows[c->row_slots[i]];

        if (row->hash == h && row->len == len
            && memcmp(c->path_bytes + row->off, path, len) == 0)
        {
            return row;
        }
    }

    if (c->nrows >= LOG_ROWS_MAX) {
        c->unlisted++;
        return &c->rows[0];
    }

    if (c->path_used + len > c->path_size) {
        size = c->path_size ? c->path_size * 2 : 65536;

        while (size < c->path_used + len) {
            size *= 2;
        }

        if (size > UINT32_MAX) {
            c->unlisted++;
            return &c->rows[0];
        }

        b = realloc(c->path_bytes, size);
        if (b == NULL) {
            return NULL;
        }

        c->path_bytes = b;
        c->path_size = size;
    }

    if (c->nrows == c->rows_size) {
        rows = realloc(c->rows, c->rows_size * 2 * sizeof(log_row_t));
        if (rows == NULL) {
            return NULL;
        }

        c->rows = rows;
        c->rows_size *= 2;
    }

    row = &c->rows[c->nrows];
    memset(row, 0, sizeof(log_row_t));
    row->hash = h;
    row->off = (uint32_t) c->path_used;
    row->len = (uint32_t) len;
    memcpy(c->path_bytes + c->path_used, path, len);
    c->path_used += len;

    c->row_slots[i] = (uint32_t) c->nrows;
    c->nrows++;

    /* at most half full */

    if (c->nrows * 2 > c->row_mask + 1) {
        size = (c->row_mask + 1) * 2;
        slots = malloc(size * sizeof(uint32_t));
        if (slots == NULL) {
            return NULL;
        }

        memset(slots, 0xff, size * sizeof(uint32_t));

        for (i = 1; i < c->nrows; i++) {
            h = c->rows[i].hash & (uint32_t) (size - 1);

            while (slots[h] != LOG_NONE) {
                h = (h + 1) & (uint32_t) (size - 1);
            }

            slots[h] = (uint32_t) i;
        }

        free(c->row_slots);
        c->row_slots = slots;
        c->row_mask = size - 1;
    }

    return &c->rows[c->nrows - 1];
}


/* the visitor key of a day: derived, so that runs are reproducible */

static const uint8_t *
log_count_key(log_count_t *c, uint64_t day)
{
    uint64_t  a, b;
    uint8_t   in[9];

    if (c->key_valid && c->key_day == day) {
        return c->key;
    }

    memcpy(in, &day, 8);
    in[8] = 0;
    a = prep_siphash24(log_count_base_key, in, 9);
    in[8] = 1;
    b = prep_siphash24(log_count_base_key, in, 9);

    memcpy(c->key, &a, 8);
    memcpy(c->key + 8, &b, 8);
    c->key_day = day;
    c->key_valid = 1;

    return c->key;
}


static int
log_count_is_page(log_count_t *c, const log_rec_t *r)
{
    const prep_snap_entry_t  *e;

    if (!prep_count_status_is_answer(r->status)) {
        return 0;
    }

    if (r->type) {
        return prep_count_type_is_page(c->pages, c->npages, r->type,
                                       r->type_len);
    }

    if (c->snap) {
        e = prep_snap_lookup(c->snap, r->path, r->path_len);

        if (e) {
            return prep_count_type_is_page(c->pages, c->npages,
                                           prep_snap_entry_type(c->snap, e),
                                           e->type_len);
        }
    }

    return prep_count_path_is_page(c->pages, c->npages, r->path,
                                   r->path_len);
}


/* a min-heap of events by time */

static void
log_heap_push(log_count_t *c, const log_event_t *ev)
{
    size_t        i, parent;
    log_event_t  *h;

    h = c->heap;
    i = c->heap_n++;

    while (i > 0) {
        parent = (i - 1) / 2;

        if (h[parent].ms <= ev->ms) {
            break;
        }

        h[i] = h[parent];
        i = parent;
    }

    h[i] = *ev;
}


static void
log_heap_pop(log_count_t *c, log_event_t *out)
{
    size_t        i, child, n;
    log_event_t  *h, last;

    h = c->heap;
    *out = h[0];

    n = --c->heap_n;

    if (n == 0) {
        return;
    }

    last = h[n];
    i = 0;

    for ( ;; ) {
        child = 2 * i + 1;

        if (child >= n) {
            break;
        }

        if (child + 1 < n && h[child + 1].ms < h[child].ms) {
            child++;
        }

        if (last.ms <= h[child].ms) {
            break;
        }

        h[i] = h[child];
        i = child;
    }

    h[i] = last;
}


int
log_count_add(log_count_t *c, const log_rec_t *r)
{
    int            bot, page;
    size_t         slot;
    uint64_t       day, ua, visitor;
    log_row_t     *row;
    log_event_t    ev, *heap;
    log_period_t  *p;
    const uint8_t *key;

    if (c->ua_hash == NULL) {
        c->ua_hash = calloc(LOG_UA_CACHE, sizeof(uint64_t));
        c->ua_bot = calloc(LOG_UA_CACHE, 1);

        if (c->ua_hash == NULL || c->ua_bot == NULL) {
            return ENOMEM;
        }
    }

    if (r->ms < c->first_ms) {
        c->first_ms = r->ms;
    }

    if (r->ms > c->last_ms) {
        c->last_ms = r->ms;
    }

    day = prep_count_day_id(r->ms / 1000, c->gmtoff);
    key = log_count_key(c, day);

    ua = prep_count_visitor_ua(key, r->ua, r->ua_len);

    /* bots by User-Agent, remembered: a log has few distinct ones */

    slot = (size_t) (ua & (LOG_UA_CACHE - 1));

    if (c->ua_hash[slot] == ua && (c->ua_bot[slot] & 2)) {
        bot = c->ua_bot[slot] & 1;

    } else {
        bot = prep_bots_match(c->bots, r->ua, r->ua_len);
        c->ua_hash[slot] = ua;
        c->ua_bot[slot] = (uint8_t) (2 | bot);
    }

    c->cache[r->cache]++;

    if (bot) {
        c->bot_hits++;
        c->bot_bytes += r->bytes;

        p = log_series_get(&c->buckets, prep_count_bucket_id(r->ms / 1000));

        if (p) {
            p->bot_hits++;
            p->bot_bytes += r->bytes;
        }

        p = log_series_get(&c->hours, prep_count_hour_id(r->ms / 1000));

        if (p) {
            p->bot_hits++;
            p->bot_bytes += r->bytes;
        }

        p = log_series_get(&c->days, day);

        if (p) {
            p->bot_hits++;
            p->bot_bytes += r->bytes;

        } else {
            c->outside_series++;
        }

        return 0;
    }

    page = log_count_is_page(c, r);

    c->hits++;
    c->bytes += r->bytes;
    c->classes[prep_count_status_class(r->status)]++;
    c->pages_n += (uint64_t) page;

    row = log_count_row(c, r->path, r->path_len);
    if (row == NULL) {
        return ENOMEM;
    }

    row->hits++;
    row->pages += (uint64_t) page;
    row->bytes += r->bytes;

    p = log_series_get(&c->buckets, prep_count_bucket_id(r->ms / 1000));

    if (p) {
        p->hits++;
        p->pages += (uint64_t) page;
        p->bytes += r->bytes;
    }

    p = log_series_get(&c->hours, prep_count_hour_id(r->ms / 1000));

    if (p) {
        p->hits++;
        p->pages += (uint64_t) page;
        p->bytes += r->bytes;
    }

    p = log_series_get(&c->days, day);

    if (p) {
        p->hits++;
        p->pages += (uint64_t) page;
        p->bytes += r->bytes;

    } else {
        c->outside_series++;
    }

    visitor = prep_count_visitor_addr(key, r->family, r->addr, ua);

    /* the visit, once its turn comes in time order */

    if (c->heap_n == c->heap_size) {
        if (c->heap_size < LOG_REORDER_MAX) {
            heap = realloc(c->heap, (c->heap_size ? c->heap_size * 2 : 4096)
                                    * sizeof(log_event_t));
            if (heap == NULL) {
                return ENOMEM;
            }

            c->heap = heap;
            c->heap_size = c->heap_size ? c->heap_size * 2 : 4096;

        } else if (log_count_drain(c, 0) != 0) {
            return ENOMEM;
        }
    }

    ev.ms = r->ms;
    ev.visitor = visitor;
    ev.day = day;

    log_heap_push(c, &ev);

    if (r->ms > c->max_ms) {
        c->max_ms = r->ms;
    }

    if (c->heap_n == LOG_REORDER_MAX
        || (c->heap_n && c->heap[0].ms + (int64_t) c->reorder_ms < c->max_ms))
    {
        return log_count_drain(c, 0);
    }

    return 0;
}


/*
 * Events out of the heap: all of them, or those older than the window
 * (at least one when the heap is full).
 */

static int
log_count_drain(log_count_t *c, int all)
{
    log_event_t  ev;

    while (c->heap_n) {

        if (!all && c->heap_n < LOG_REORDER_MAX
            && c->heap[0].ms + (int64_t) c->reorder_ms >= c->max_ms)
        {
            break;
        }

        log_heap_pop(c, &ev);

        if (log_count_event(c, &ev) != 0) {
            return ENOMEM;
        }
    }

    return 0;
}


static uint32_t *
log_session_slot(log_count_t *c, uint64_t visitor)
{
    return &c->session_slots[(visitor >> 7) & c->session_mask];
}


static void
log_lru_unlink(log_count_t *c, log_session_t *s)
{
    if (s->older != LOG_NONE) {
        c->nodes[s->older].newer = s->newer;

    } else {
        c->lru_oldest = s->newer;
    }

    if (s->newer != LOG_NONE) {
        c->nodes[s->newer].older = s->older;

    } else {
        c->lru_newest = s->older;
    }
}


static void
log_lru_newest(log_count_t *c, log_session_t *s, uint32_t i)
{
    s->newer = LOG_NONE;
    s->older = c->lru_newest;

    if (c->lru_newest != LOG_NONE) {
        c->nodes[c->lru_newest].newer = i;

    } else {
        c->lru_oldest = i;
    }

    c->lru_newest = i;
}


static void
log_count_close(log_count_t *c, log_session_t *s)
{
    uint64_t  ms;

    ms = s->last > s->first ? s->last - s->first : 0;

    c->sessions++;
    c->session_ms += ms;
    c->histogram[prep_count_histogram_bin(ms)]++;
}


/* takes node i out of its chain, the LRU list, and frees it */

static void
log_session_remove(log_count_t *c, uint32_t i)
{
    uint32_t       *pp;
    log_session_t  *s;

    s = &c->nodes[i];

    for (pp = log_session_slot(c, s->visitor); *pp != i;
         pp = &c->nodes[*pp].next)
    {
        /* void */
    }

    *pp = s->next;

    log_lru_unlink(c, s);

    s->next = c->free_node;
    c->free_node = i;
    c->live--;
}


static void
log_count_expire(log_count_t *c, uint64_t now)
{
    uint32_t        i;
    log_session_t  *s;

    while (c->lru_oldest != LOG_NONE) {
        i = c->lru_oldest;
        s = &c->nodes[i];

        if (now <= s->last || now - s->last <= c->timeout) {
            break;
        }

        log_count_close(c, s);
        log_session_remove(c, i);
    }
}


static int
log_sessions_grow(log_count_t *c)
{
    size_t          size;
    uint32_t        j, *slots, *pp;
    log_session_t  *nodes;

    if (c->nodes_used == c->nodes_size) {
        size = c->nodes_size ? c->nodes_size * 2 : 4096;

        if (size > UINT32_MAX - 1) {
            return ENOMEM;
        }

        nodes = realloc(c->nodes, size * sizeof(log_session_t));
        if (nodes == NULL) {
            return ENOMEM;
        }

        c->nodes = nodes;
        c->nodes_size = size;
    }

    /* the chains at most 1 long on average */

    if (c->session_slots == NULL || c->live + 1 > c->session_mask + 1) {
        size = c->session_slots ? (c->session_mask + 1) * 2 : 4096;
        slots = malloc(size * sizeof(uint32_t));
        if (slots == NULL) {
            return ENOMEM;
        }

        memset(slots, 0xff, size * sizeof(uint32_t));

        free(c->session_slots);
        c->session_slots = slots;
        c->session_mask = size - 1;

        /* rechain the live ones, from the LRU list */

        for (j = c->lru_oldest; j != LOG_NONE; j = c->nodes[j].newer) {
            pp = log_session_slot(c, c->nodes[j].visitor);
            c->nodes[j].next = *pp;
            *pp = j;
        }
    }

    return 0;
}


static int
log_count_event(log_count_t *c, const log_event_t *ev)
{
    int                 fresh, rc;
    uint8_t            *reg;
    uint32_t            i, *pp;
    uint64_t            now, prev, ended, sec, psec;
    log_period_t       *p;
    log_session_t      *s;
    prep_count_visit_t  v;

    now = (uint64_t) ev->ms;

    if (c->session_slots == NULL && log_sessions_grow(c) != 0) {
        return ENOMEM;
    }

    if (ev->ms < c->done_ms) {
        c->late++;
    } else {
        c->done_ms = ev->ms;
    }

    log_count_expire(c, now);

    s = NULL;

    for (i = *log_session_slot(c, ev->visitor); i != LOG_NONE;
         i = c->nodes[i].next)
    {
        if (c->nodes[i].visitor == ev->visitor) {
            s = &c->nodes[i];
            break;
        }
    }

    prev = now;
    fresh = 0;

    if (s) {
        v.first = s->first;
        v.last = s->last;

        rc = prep_count_visit_touch(&v, now, c->timeout, &prev, &ended);

        s->first = v.first;
        s->last = v.last;

        if (rc == PREP_COUNT_VISIT_STARTS) {
            c->sessions++;
            c->session_ms += ended;
            c->histogram[prep_count_histogram_bin(ended)]++;
            fresh = 1;
        }

        log_lru_unlink(c, s);
        log_lru_newest(c, s, i);

    } else {
        if (c->free_node == LOG_NONE && log_sessions_grow(c) != 0) {
            return ENOMEM;
        }

        if (c->live + 1 > c->session_mask + 1
            && log_sessions_grow(c) != 0)
        {
            return ENOMEM;
        }

        if (c->free_node != LOG_NONE) {
            i = c->free_node;
            c->free_node = c->nodes[i].next;

        } else {
            i = (uint32_t) c->nodes_used++;
        }

        s = &c->nodes[i];
        s->visitor = ev->visitor;
        s->first = now;
        s->last = now;

        pp = log_session_slot(c, ev->visitor);
        s->next = *pp;
        *pp = i;

        log_lru_newest(c, s, i);
        c->live++;
        fresh = 1;
    }

    sec = now / 1000;
    psec = prev / 1000;

    if (fresh || prep_count_hour_id(psec) != prep_count_hour_id(sec)) {
        reg = log_hlls_reg(&c->hll_hours, prep_count_hour_id(sec));
        if (reg) {
            prep_hll_add(reg, c->hll_hours.p, ev->visitor);
        }
    }

    if (fresh || prep_count_day_id(psec, c->gmtoff) != ev->day) {
        reg = log_hlls_reg(&c->hll_days, ev->day);
        if (reg) {
            prep_hll_add(reg, c->hll_days.p, ev->visitor);
        }

        if (c->hll_all == NULL) {
            c->hll_all = calloc(1, prep_hll_size(LOG_HLL_ALL_P));
            if (c->hll_all == NULL) {
                return ENOMEM;
            }
        }

        prep_hll_add(c->hll_all, LOG_HLL_ALL_P, ev->visitor);
    }

    p = log_series_get(&c->buckets, prep_count_bucket_id(sec));

    if (p && (fresh
              || prep_count_bucket_id(psec) != prep_count_bucket_id(sec)))
    {
        p->visitors++;
    }

    if (!fresh) {
        return 0;
    }

    c->visits++;

    if (p) {
        p->visits++;
    }

    p = log_series_get(&c->hours, prep_count_hour_id(sec));

    if (p) {
        p->visits++;
    }

    p = log_series_get(&c->days, ev->day);

    if (p) {
        p->visits++;
    }

    return 0;
}


int
log_count_finish(log_count_t *c)
{
    if (log_count_drain(c, 1) != 0) {
        return ENOMEM;
    }

    /* the log is over: so is every visit */

    while (c->lru_oldest != LOG_NONE) {
        log_count_close(c, &c->nodes[c->lru_oldest]);
        log_session_remove(c, c->lru_oldest);
    }

    return 0;
}
