
/*
 * Copyright (C) the ngx_prep authors
 *
 * The prep_status location: the statistics as JSON (the default) or in
 * the Prometheus text exposition format (?format=prometheus, or a scraper
 * that asks for text/plain).  The zone is copied under short locks first
 * and everything is rendered from the copy.  ?top=N keeps the N paths
 * with the most hits.  Every string is escaped and invalid UTF-8 replaced,
 * so no path can break either format.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "prep_prom.h"
#include "ngx_http_prep_module.h"
#include "ngx_http_prep_stats.h"


#define NGX_HTTP_PREP_STATUS_JSON   0
#define NGX_HTTP_PREP_STATUS_PROM   1
#define NGX_HTTP_PREP_STATUS_STATE  2

#define NGX_HTTP_PREP_ISO_LEN       sizeof("\"1970-01-01T00:00:00Z\"")

/* room for a JSON or Prometheus line of numbers, without the path */
#define NGX_HTTP_PREP_STATUS_LINE   (160 + 6 * NGX_ATOMIC_T_LEN)


typedef struct {
    ngx_http_prep_row_t         *row;
    u_char                      *path;
} ngx_http_prep_status_row_t;


typedef struct {
    ngx_http_prep_stats_copy_t   copy;
    ngx_http_prep_stats_sh_t    *sh;

    ngx_uint_t                   have_corte;
    ngx_http_prep_live_t         live;
    ngx_atomic_uint_t            generation;

    time_t                       now;
    ngx_int_t                    gmtoff;
    ngx_msec_t                   timeout;
    ngx_msec_t                   interval;
    ngx_str_t                    state;

    ngx_http_prep_status_row_t  *rows;
    ngx_uint_t                   nrows;          /* listed */
    ngx_uint_t                   npaths;         /* in the table */

    ngx_http_prep_period_t     **buckets;
    ngx_uint_t                   nbuckets;
    ngx_http_prep_period_t      *hours;
    ngx_uint_t                   nhours;
    ngx_http_prep_period_t      *days;
    ngx_uint_t                   ndays;

    ngx_http_prep_period_t       today;
    ngx_http_prep_suspension_t   suspension;
    uint64_t                     visitors_all;
    uint64_t                     visitors_hour;
} ngx_http_prep_status_t;


static ngx_int_t ngx_http_prep_status_state(ngx_http_request_t *r);
static ngx_int_t ngx_http_prep_status_format(ngx_http_request_t *r,
    ngx_uint_t *format, ngx_uint_t *top);
static ngx_int_t ngx_http_prep_status_collect(ngx_http_request_t *r,
    ngx_http_prep_status_t *st, ngx_uint_t top);
static int ngx_libc_cdecl ngx_http_prep_status_row_cmp(const void *one,
    const void *two);
static int ngx_libc_cdecl ngx_http_prep_status_period_cmp(const void *one,
    const void *two);
static int ngx_libc_cdecl ngx_http_prep_status_pointer_cmp(const void *one,
    const void *two);
static ngx_buf_t *ngx_http_prep_status_json(ngx_http_request_t *r,
    ngx_http_prep_status_t *st);
static u_char *ngx_http_prep_status_json_period(u_char *p,
    ngx_http_prep_period_t *period, ngx_uint_t visits);
static ngx_buf_t *ngx_http_prep_status_prom(ngx_http_request_t *r,
    ngx_http_prep_status_t *st);
static u_char *ngx_http_prep_json_time(u_char *p, time_t t);
static u_char *ngx_http_prep_date(u_char *p, ngx_atomic_uint_t day);
static u_char *ngx_http_prep_prom_label(u_char *p, u_char *s, size_t len);
static u_char *ngx_http_prep_prom_head(u_char *p, const char *name,
    const char *type, const char *help);
static u_char *ngx_http_prep_prom_paths(u_char *p, ngx_http_prep_status_t *st,
    ngx_http_prep_row_t *other, const char *name, const char *help,
    size_t field);


/* the bins of the session duration histogram */
static const char  *ngx_http_prep_status_bins[] = {
    "0-10s", "10-30s", "30-60s", "1-3min", "3-10min", "10-30min", "30min+"
};


ngx_int_t
ngx_http_prep_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_buf_t               *b;
    ngx_uint_t               format, top;
    ngx_http_prep_status_t  *st;

    rc = ngx_http_prep_get_only(r);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_prep_status_html_wanted(r)) {
        return ngx_http_prep_status_html(r);
    }

    if (ngx_http_prep_status_format(r, &format, &top) != NGX_OK) {
        b = ngx_create_temp_buf(r->pool, 128);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        b->last = ngx_cpymem(b->last,
                             "{\"error\":\"bad_request\",\"reason\":"
                             "\"format must be json, prometheus or state, "
                             "top a positive integer\"}" CRLF,
                             sizeof("{\"error\":\"bad_request\",\"reason\":"
                                    "\"format must be json, prometheus or "
                                    "state, top a positive integer\"}" CRLF)
                             - 1);

        return ngx_http_prep_send_uncacheable(r, NGX_HTTP_BAD_REQUEST,
                                              "application/json", b);
    }

    if (format == NGX_HTTP_PREP_STATUS_STATE) {
        return ngx_http_prep_status_state(r);
    }

    st = ngx_pcalloc(r->pool, sizeof(ngx_http_prep_status_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_prep_status_collect(r, st, top);

    if (rc != NGX_OK) {
        return rc;
    }

    if (format == NGX_HTTP_PREP_STATUS_PROM) {
        b = ngx_http_prep_status_prom(r, st);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_prep_send_uncacheable(r, NGX_HTTP_OK,
                                              "text/plain; version=0.0.4; "
                                              "charset=utf-8", b);
    }

    b = ngx_http_prep_status_json(r, st);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_prep_send_uncacheable(r, NGX_HTTP_OK,
                                          "application/json", b);
}


/*
 * ?format=state: the state file's bytes, built from a copy of the zone,
 * so that prep-report --stats URL reads every origin with the decoder it
 * uses for files (libprep/prep_stats_file.c).
 */

static ngx_int_t
ngx_http_prep_status_state(ngx_http_request_t *r)
{
    u_char                           *data;
    size_t                            len;
    ngx_buf_t                        *b;
    ngx_http_prep_stats_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_prep_stats_module);

    if (mcf->shm_zone == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    data = ngx_http_prep_stats_state_bytes(mcf->shm_zone->data, r->pool,
                                           &len);
    if (data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = 1;

    return ngx_http_prep_send_uncacheable(r, NGX_HTTP_OK,
                                          "application/octet-stream", b);
}


static ngx_int_t
ngx_http_prep_status_format(ngx_http_request_t *r, ngx_uint_t *format,
    ngx_uint_t *top)
{
    ngx_int_t         n;
    ngx_str_t         value;
    ngx_table_elt_t  *accept;

    *format = NGX_HTTP_PREP_STATUS_JSON;
    *top = 0;

    if (ngx_http_arg(r, (u_char *) "top", 3, &value) == NGX_OK) {
        n = ngx_atoi(value.data, value.len);

        if (n <= 0) {
            return NGX_ERROR;
        }

        *top = n;
    }

    if (ngx_http_arg(r, (u_char *) "format", 6, &value) == NGX_OK) {

        if (value.len == 4 && ngx_strncmp(value.data, "json", 4) == 0) {
            return NGX_OK;
        }

        if (value.len == 10
            && ngx_strncmp(value.data, "prometheus", 10) == 0)
        {
            *format = NGX_HTTP_PREP_STATUS_PROM;
            return NGX_OK;
        }

        if (value.len == 5 && ngx_strncmp(value.data, "state", 5) == 0) {
            *format = NGX_HTTP_PREP_STATUS_STATE;
            return NGX_OK;
        }

        return NGX_ERROR;
    }

    /* a Prometheus scraper asks for text/plain or OpenMetrics */

    accept = r->headers_in.accept;

    if (accept
        && ngx_strlcasestrn(accept->value.data,
                            accept->value.data + accept->value.len,
                            (u_char *) "application/json", 16 - 1)
           == NULL
        && (ngx_strlcasestrn(accept->value.data,
                             accept->value.data + accept->value.len,
                             (u_char *) "text/plain", 10 - 1)
            != NULL
            || ngx_strlcasestrn(accept->value.data,
                                accept->value.data + accept->value.len,
                                (u_char *) "openmetrics", 11 - 1)
               != NULL))
    {
        *format = NGX_HTTP_PREP_STATUS_PROM;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_prep_status_collect(ngx_http_request_t *r,
    ngx_http_prep_status_t *st, ngx_uint_t top)
{
    u_char                           *arena;
    ngx_uint_t                        i, j, n;
    ngx_time_t                       *tp;
    ngx_atomic_uint_t                 id, first, today, hour, now;
    ngx_http_prep_row_t              *rows;
    ngx_http_prep_zone_t             *store;
    ngx_http_prep_period_t           *b, *h;
    ngx_http_prep_stats_sh_t         *sh;
    ngx_http_prep_main_conf_t        *pmcf;
    ngx_http_prep_stats_zone_t       *z;
    ngx_http_prep_stats_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_prep_stats_module);

    if (mcf->shm_zone == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "prep_status needs \"prep_stats_zone\"");
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    z = mcf->shm_zone->data;

    if (ngx_http_prep_stats_copy(z, &st->copy, 0, r->pool) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sh = st->copy.sh;
    st->sh = sh;

    tp = ngx_timeofday();
    st->now = tp->sec;
    st->gmtoff = tp->gmtoff;
    st->timeout = mcf->session_timeout;
    st->interval = mcf->state_interval;
    st->state = z->state;

    /* the corte, from the swap protocol's zone */

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_prep_module);

    if (pmcf && pmcf->shm_zone) {
        store = pmcf->shm_zone->data;
        ngx_http_prep_read_live(store, &st->live, &st->generation);
        st->have_corte = (st->live.name_len != 0);
        ngx_http_prep_suspension_read(store, &st->suspension);
    }

    /* the rows by hits, "other" apart */

    rows = ngx_http_prep_stats_rows(sh);
    arena = ngx_http_prep_stats_arena(sh);

    st->npaths = sh->nrows ? sh->nrows - 1 : 0;

    st->rows = ngx_palloc(r->pool, (st->npaths + 1)
                                   * sizeof(ngx_http_prep_status_row_t));
    if (st->rows == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < st->npaths; i++) {
        st->rows[i].row = &rows[i + 1];
        st->rows[i].path = arena + rows[i + 1].path_off;
    }

    ngx_qsort(st->rows, st->npaths, sizeof(ngx_http_prep_status_row_t),
              ngx_http_prep_status_row_cmp);

    st->nrows = (top && top < st->npaths) ? top : st->npaths;

    /* the 5-minute buckets in time order */

    st->buckets = ngx_palloc(r->pool, NGX_HTTP_PREP_STATS_BUCKETS
                                      * sizeof(ngx_http_prep_period_t *));
    if (st->buckets == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a slot not taken over since a ring ago holds a period too old */

    now = ngx_http_prep_stats_bucket_id(st->now);

    for (i = 0; i < NGX_HTTP_PREP_STATS_BUCKETS; i++) {
        id = sh->buckets[i].id;

        /* a bucket only marked serving by the tick: nothing to list */
        if (id && id + NGX_HTTP_PREP_STATS_BUCKETS > now
            && (sh->buckets[i].hits || sh->buckets[i].bot_hits))
        {
            st->buckets[st->nbuckets++] = &sh->buckets[i];
        }
    }

    ngx_qsort(st->buckets, st->nbuckets, sizeof(ngx_http_prep_period_t *),
              ngx_http_prep_status_pointer_cmp);

    /* hours: visitors from their own ring, the rest from the buckets */

    st->hours = ngx_pcalloc(r->pool, NGX_HTTP_PREP_STATS_HOURS
                                     * sizeof(ngx_http_prep_period_t));
    if (st->hours == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < NGX_HTTP_PREP_STATS_HOURS; i++) {
        id = sh->hours[i].id;

        if (id == 0
            || id + NGX_HTTP_PREP_STATS_HOURS
               <= ngx_http_prep_stats_hour_id(st->now))
        {
            continue;
        }

        h = &st->hours[st->nhours++];
        h->id = id;
        h->visitors = ngx_http_prep_stats_visitors(sh,
                                                   NGX_HTTP_PREP_STATS_HLL_HOUR,
                                                   id, sh->hours[i].visitors);

        first = id * 3600 / NGX_HTTP_PREP_STATS_BUCKET_SEC;
        n = 3600 / NGX_HTTP_PREP_STATS_BUCKET_SEC;

        for (j = 0; j < n; j++) {
            b = &sh->buckets[(first + j) % NGX_HTTP_PREP_STATS_BUCKETS];

            if (b->id == first + j) {
                h->hits += b->hits;
                h->pages += b->pages;
                h->bytes += b->bytes;
                h->visits += b->visits;
            }
        }
    }

    ngx_qsort(st->hours, st->nhours, sizeof(ngx_http_prep_period_t),
              ngx_http_prep_status_period_cmp);

    /* days */

    st->days = ngx_palloc(r->pool, NGX_HTTP_PREP_STATS_DAYS
                                   * sizeof(ngx_http_prep_period_t));
    if (st->days == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    today = ngx_http_prep_stats_day_id(st->now, st->gmtoff);

    st->today.id = today;

    for (i = 0; i < NGX_HTTP_PREP_STATS_DAYS; i++) {
        id = sh->days[i].id;

        if (id == 0 || id + NGX_HTTP_PREP_STATS_DAYS <= today) {
            continue;
        }

        h = &st->days[st->ndays++];
        *h = sh->days[i];
        h->visitors = ngx_http_prep_stats_visitors(sh,
                                                   NGX_HTTP_PREP_STATS_HLL_DAY,
                                                   h->id, h->visitors);

        if (h->id == today) {
            st->today = *h;
        }
    }

    ngx_qsort(st->days, st->ndays, sizeof(ngx_http_prep_period_t),
              ngx_http_prep_status_period_cmp);

    if (st->today.visitors == 0) {
        st->today.visitors = ngx_http_prep_stats_visitors(sh,
                                                   NGX_HTTP_PREP_STATS_HLL_DAY,
                                                   today, 0);
    }

    hour = ngx_http_prep_stats_hour_id(st->now);
    st->visitors_hour = ngx_http_prep_stats_visitors(sh,
                                                  NGX_HTTP_PREP_STATS_HLL_HOUR,
                                                  hour, 0);

    st->visitors_all = prep_hll_count((uint8_t *) sh->hll_all.registers,
                                      NGX_HTTP_PREP_STATS_HLL_P);

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_http_prep_status_row_cmp(const void *one, const void *two)
{
    size_t                       len;
    ngx_int_t                    rc;
    ngx_http_prep_status_row_t  *a, *b;

    a = (ngx_http_prep_status_row_t *) one;
    b = (ngx_http_prep_status_row_t *) two;

    if (a->row->hits != b->row->hits) {
        return (a->row->hits > b->row->hits) ? -1 : 1;
    }

    len = ngx_min(a->row->path_len, b->row->path_len);
    rc = ngx_memcmp(a->path, b->path, len);

    if (rc) {
        return rc;
    }

    return (int) a->row->path_len - (int) b->row->path_len;
}


static int ngx_libc_cdecl
ngx_http_prep_status_period_cmp(const void *one, const void *two)
{
    ngx_atomic_uint_t  a, b;

    a = ((ngx_http_prep_period_t *) one)->id;
    b = ((ngx_http_prep_period_t *) two)->id;

    return (a < b) ? -1 : (a > b);
}


static int ngx_libc_cdecl
ngx_http_prep_status_pointer_cmp(const void *one, const void *two)
{
    return ngx_http_prep_status_period_cmp(
               *(ngx_http_prep_period_t **) one,
               *(ngx_http_prep_period_t **) two);
}


/* ---------------------------------------------------------------- JSON */


static ngx_buf_t *
ngx_http_prep_status_json(ngx_http_request_t *r, ngx_http_prep_status_t *st)
{
    u_char                    *p;
    size_t                     len;
    uint64_t                   cum;
    ngx_buf_t                 *b;
    ngx_uint_t                 i;
    ngx_atomic_t              *c;
    ngx_http_prep_row_t       *row, *other;
    ngx_http_prep_stats_sh_t  *sh;

    sh = st->sh;
    other = ngx_http_prep_stats_rows(sh);

    len = 16384
          + ngx_http_prep_json_len(st->live.corte,
                                   ngx_strlen(st->live.corte))
          + ngx_http_prep_json_len(st->live.corte_id,
                                   ngx_strlen(st->live.corte_id))
          + ngx_http_prep_json_len(st->state.data, st->state.len)
          + ngx_http_prep_json_len(sh->last_error,
                                   ngx_strlen(sh->last_error))
          + ngx_http_prep_json_len(sh->restored, ngx_strlen(sh->restored))
          + ngx_http_prep_suspension_json_len()
          + (st->nbuckets + st->nhours + st->ndays)
            * NGX_HTTP_PREP_STATUS_LINE;

    for (i = 0; i < st->nrows; i++) {
        len += NGX_HTTP_PREP_STATUS_LINE
               + ngx_http_prep_json_len(st->rows[i].path,
                                        st->rows[i].row->path_len);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;

    /* corte */

    p = ngx_cpymem(p, "{\"corte\":", sizeof("{\"corte\":") - 1);

    if (st->have_corte) {
        p = ngx_cpymem(p, "{\"time\":", sizeof("{\"time\":") - 1);
        p = ngx_http_prep_json_str(p, st->live.corte,
                                   ngx_strlen(st->live.corte));
        p = ngx_cpymem(p, ",\"id\":", sizeof(",\"id\":") - 1);
        p = ngx_http_prep_json_str(p, st->live.corte_id,
                                   ngx_strlen(st->live.corte_id));
        p = ngx_sprintf(p, ",\"age_seconds\":%T,\"generation\":%uA}",
                        st->now - st->live.corte_time, st->generation);

    } else {
        p = ngx_cpymem(p, "null", sizeof("null") - 1);
    }

    p = ngx_http_prep_suspension_json(p, &st->suspension);
    p = ngx_cpymem(p, ",\"since\":", sizeof(",\"since\":") - 1);
    p = ngx_http_prep_json_time(p, sh->since);
    p = ngx_cpymem(p, ",\"now\":", sizeof(",\"now\":") - 1);
    p = ngx_http_prep_json_time(p, st->now);

    /* totals */

    p = ngx_sprintf(p, ",\"totals\":{\"hits\":%uA,\"pages\":%uA,"
                    "\"bytes\":%uA,\"visitors\":%uL,\"visits\":%uA,"
                    "\"sessions\":%uA,\"session_seconds\":%uA.%03uA}",
                    sh->c.hits, sh->c.pages, sh->c.bytes, st->visitors_all,
                    sh->c.visits, sh->c.sessions, sh->c.session_ms / 1000,
                    sh->c.session_ms % 1000);

    p = ngx_cpymem(p, ",\"today\":{\"date\":",
                   sizeof(",\"today\":{\"date\":") - 1);
    p = ngx_http_prep_date(p, st->today.id);
    *p++ = ',';
    p = ngx_http_prep_status_json_period(p, &st->today, 1);
    *p++ = '}';

    p = ngx_sprintf(p, ",\"this_hour\":{\"visitors\":%uL}", st->visitors_hour);

    /* status classes */

    c = sh->c.classes;

    p = ngx_sprintf(p, ",\"status_classes\":{\"1xx\":%uA,\"2xx\":%uA,"
                    "\"3xx\":%uA,\"4xx\":%uA,\"5xx\":%uA,\"other\":%uA}",
                    c[0], c[1], c[2], c[3], c[4], c[5]);

    /* pages */

    p = ngx_sprintf(p, ",\"other\":{\"hits\":%uA,\"pages\":%uA,"
                    "\"bytes\":%uA}", other->hits, other->pages,
                    other->bytes);

    p = ngx_cpymem(p, ",\"pages\":[", sizeof(",\"pages\":[") - 1);

    for (i = 0; i < st->nrows; i++) {
        row = st->rows[i].row;

        p = ngx_cpymem(p, i ? ",{\"path\":" : "{\"path\":",
                       i ? sizeof(",{\"path\":") - 1
                         : sizeof("{\"path\":") - 1);
        p = ngx_http_prep_json_str(p, st->rows[i].path, row->path_len);
        p = ngx_sprintf(p, ",\"hits\":%uA,\"pages\":%uA,\"bytes\":%uA}",
                        row->hits, row->pages, row->bytes);
    }

    *p++ = ']';

    /* robots: apart from every figure above */

    p = ngx_sprintf(p, ",\"bots\":{\"hits\":%uA,\"bytes\":%uA}",
                    sh->c.bot_hits, sh->c.bot_bytes);

    /* sessions */

    p = ngx_sprintf(p, ",\"sessions\":{\"timeout_seconds\":%M,"
                    "\"started\":%uA,\"completed\":%uA,\"live\":%ui,"
                    "\"evicted\":%uA,\"total_seconds\":%uA.%03uA,"
                    "\"average_seconds\":",
                    st->timeout / 1000, sh->c.visits, sh->c.sessions,
                    st->copy.live, sh->c.evictions, sh->c.session_ms / 1000,
                    sh->c.session_ms % 1000);

    if (sh->c.sessions) {
        cum = sh->c.session_ms / sh->c.sessions;
        p = ngx_sprintf(p, "%uL.%03uL", cum / 1000, cum % 1000);

    } else {
        p = ngx_cpymem(p, "null", sizeof("null") - 1);
    }

    p = ngx_cpymem(p, ",\"histogram\":[", sizeof(",\"histogram\":[") - 1);

    for (i = 0; i < NGX_HTTP_PREP_STATS_HISTOGRAM; i++) {
        p = ngx_sprintf(p, "%s{\"range\":\"%s\",\"max_seconds\":",
                        i ? "," : "", ngx_http_prep_status_bins[i]);

        if (i < NGX_HTTP_PREP_STATS_HISTOGRAM - 1) {
            p = ngx_sprintf(p, "%uL",
                            prep_count_histogram_ms[i] / 1000);

        } else {
            p = ngx_cpymem(p, "null", sizeof("null") - 1);
        }

        p = ngx_sprintf(p, ",\"count\":%uA}", sh->c.histogram[i]);
    }

    p = ngx_cpymem(p, "]}", 2);

    /* time series */

    p = ngx_sprintf(p, ",\"series\":{\"bucket_seconds\":%d,"
                    "\"visitors\":\"distinct visitors with a request in the "
                    "bucket\",\"visits\":\"sessions started in the bucket\","
                    "\"buckets\":[", NGX_HTTP_PREP_STATS_BUCKET_SEC);

    for (i = 0; i < st->nbuckets; i++) {
        p = ngx_sprintf(p, "%s{\"start\":%uA,", i ? "," : "",
                        st->buckets[i]->id * NGX_HTTP_PREP_STATS_BUCKET_SEC);
        p = ngx_http_prep_status_json_period(p, st->buckets[i], 1);
        *p++ = '}';
    }

    p = ngx_cpymem(p, "]},\"hours\":[", sizeof("]},\"hours\":[") - 1);

    for (i = 0; i < st->nhours; i++) {
        p = ngx_sprintf(p, "%s{\"start\":%uA,", i ? "," : "",
                        st->hours[i].id * 3600);
        p = ngx_http_prep_status_json_period(p, &st->hours[i], 1);
        *p++ = '}';
    }

    p = ngx_cpymem(p, "],\"days\":[", sizeof("],\"days\":[") - 1);

    for (i = 0; i < st->ndays; i++) {
        p = ngx_cpymem(p, i ? ",{\"date\":" : "{\"date\":",
                       i ? sizeof(",{\"date\":") - 1
                         : sizeof("{\"date\":") - 1);
        p = ngx_http_prep_date(p, st->days[i].id);
        *p++ = ',';
        p = ngx_http_prep_status_json_period(p, &st->days[i], 1);
        *p++ = '}';
    }

    /* the zone */

    p = ngx_sprintf(p, "],\"zone\":{\"size\":%uz,\"used\":%uz,\"free\":%uz,"
                    "\"sessions_live\":%ui,\"sessions_capacity\":%ui,"
                    "\"evictions\":%uA,\"paths\":%ui,\"paths_capacity\":%ui,"
                    "\"path_bytes\":%uA,\"path_bytes_capacity\":%uz,"
                    "\"unlisted_hits\":%uA}",
                    st->copy.slab_size,
                    st->copy.slab_size - st->copy.slab_free,
                    st->copy.slab_free, st->copy.live, sh->sessions_max,
                    sh->c.evictions, st->npaths, sh->paths_max,
                    sh->arena_used, sh->arena_size, sh->c.unlisted);

    /* the state file */

    p = ngx_cpymem(p, ",\"state\":{\"file\":",
                   sizeof(",\"state\":{\"file\":") - 1);

    if (st->state.len) {
        p = ngx_http_prep_json_str(p, st->state.data, st->state.len);

    } else {
        p = ngx_cpymem(p, "null", sizeof("null") - 1);
    }

    p = ngx_sprintf(p, ",\"interval_seconds\":%M,\"saves\":%uA,"
                    "\"errors\":%uA,\"last_save\":",
                    st->interval / 1000, sh->saves, sh->save_errors);

    if (sh->last_save) {
        p = ngx_http_prep_json_time(p, (time_t) sh->last_save);

    } else {
        p = ngx_cpymem(p, "null", sizeof("null") - 1);
    }

    /* cleared by a save that succeeds */
    p = ngx_sprintf(p, ",\"last_save_failed\":%s",
                    sh->last_error[0] ? "true" : "false");

    p = ngx_cpymem(p, ",\"last_error\":", sizeof(",\"last_error\":") - 1);

    if (sh->last_error[0]) {
        p = ngx_http_prep_json_str(p, sh->last_error,
                                   ngx_strlen(sh->last_error));

    } else {
        p = ngx_cpymem(p, "null", sizeof("null") - 1);
    }

    p = ngx_cpymem(p, ",\"restored_from\":",
                   sizeof(",\"restored_from\":") - 1);
    p = ngx_http_prep_json_str(p, sh->restored, ngx_strlen(sh->restored));

    p = ngx_cpymem(p, "}}" CRLF, sizeof("}}" CRLF) - 1);

    b->last = p;

    return b;
}


static u_char *
ngx_http_prep_status_json_period(u_char *p, ngx_http_prep_period_t *period,
    ngx_uint_t visits)
{
    p = ngx_sprintf(p, "\"hits\":%uA,\"pages\":%uA,\"bytes\":%uA,"
                    "\"visitors\":%uA,\"bot_hits\":%uA", period->hits,
                    period->pages, period->bytes, period->visitors,
                    period->bot_hits);

    if (visits) {
        p = ngx_sprintf(p, ",\"visits\":%uA", period->visits);
    }

    return p;
}


static u_char *
ngx_http_prep_json_time(u_char *p, time_t t)
{
    ngx_tm_t  tm;

    ngx_gmtime(t, &tm);

    return ngx_sprintf(p, "\"%4d-%02d-%02dT%02d:%02d:%02dZ\"",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
}


/* a day number (local days since the epoch) as "YYYY-MM-DD" */

static u_char *
ngx_http_prep_date(u_char *p, ngx_atomic_uint_t day)
{
    ngx_tm_t  tm;

    ngx_gmtime((time_t) day * 86400, &tm);

    return ngx_sprintf(p, "\"%4d-%02d-%02d\"", tm.ngx_tm_year,
                       tm.ngx_tm_mon, tm.ngx_tm_mday);
}


/* ---------------------------------------------------------- Prometheus */


static ngx_buf_t *
ngx_http_prep_status_prom(ngx_http_request_t *r, ngx_http_prep_status_t *st)
{
    u_char                    *p;
    size_t                     len, plen;
    uint64_t                   cum;
    ngx_buf_t                 *b;
    ngx_uint_t                 i;
    ngx_http_prep_row_t       *other;
    ngx_http_prep_stats_sh_t  *sh;
    static const char         *classes[] = {
        "1xx", "2xx", "3xx", "4xx", "5xx", "other"
    };

    sh = st->sh;
    other = ngx_http_prep_stats_rows(sh);

    len = 16384
          + 2 * prep_prom_label_len((char *) st->live.corte,
                                    ngx_strlen(st->live.corte))
          + 2 * prep_prom_label_len((char *) st->live.corte_id,
                                    ngx_strlen(st->live.corte_id))
          + prep_prom_label_len((char *) st->state.data, st->state.len)
          + 3 * NGX_HTTP_PREP_STATUS_LINE;

    for (i = 0; i < st->nrows; i++) {
        plen = prep_prom_label_len((char *) st->rows[i].path,
                                   st->rows[i].row->path_len);
        len += 3 * (NGX_HTTP_PREP_STATUS_LINE + plen);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;

    if (st->have_corte) {
        p = ngx_http_prep_prom_head(p, "prep_corte_info", "gauge",
                                    "The corte being served.");
        p = ngx_cpymem(p, "prep_corte_info{id=\"",
                       sizeof("prep_corte_info{id=\"") - 1);
        p = ngx_http_prep_prom_label(p, st->live.corte_id,
                                     ngx_strlen(st->live.corte_id));
        p = ngx_cpymem(p, "\",time=\"", sizeof("\",time=\"") - 1);
        p = ngx_http_prep_prom_label(p, st->live.corte,
                                     ngx_strlen(st->live.corte));
        p = ngx_cpymem(p, "\"} 1\n", sizeof("\"} 1\n") - 1);

        p = ngx_http_prep_prom_head(p, "prep_corte_age_seconds", "gauge",
                                    "Seconds since the corte time.");
        p = ngx_sprintf(p, "prep_corte_age_seconds %T\n",
                        st->now - st->live.corte_time);

        p = ngx_http_prep_prom_head(p, "prep_corte_generation", "gauge",
                                    "Publications since nginx started.");
        p = ngx_sprintf(p, "prep_corte_generation %uA\n", st->generation);
    }

    p = ngx_http_prep_prom_head(p, "prep_suspended", "gauge",
                                "1 while the institute's suspension notice "
                                "is answered.");
    p = ngx_sprintf(p, "prep_suspended %d\n",
                    st->suspension.suspended ? 1 : 0);

    p = ngx_http_prep_prom_head(p, "prep_stats_since_seconds", "gauge",
                                "When counting began (unix time).");
    p = ngx_sprintf(p, "prep_stats_since_seconds %T\n", sh->since);

    p = ngx_http_prep_prom_head(p, "prep_hits_total", "counter",
                                "Responses.");
    p = ngx_sprintf(p, "prep_hits_total %uA\n", sh->c.hits);

    p = ngx_http_prep_prom_head(p, "prep_pages_total", "counter",
                                "Responses that are documents (pages).");
    p = ngx_sprintf(p, "prep_pages_total %uA\n", sh->c.pages);

    p = ngx_http_prep_prom_head(p, "prep_sent_bytes_total", "counter",
                                "Response body bytes sent.");
    p = ngx_sprintf(p, "prep_sent_bytes_total %uA\n", sh->c.bytes);

    p = ngx_http_prep_prom_head(p, "prep_responses_total", "counter",
                                "Responses by status class.");

    for (i = 0; i < NGX_HTTP_PREP_STATS_CLASSES; i++) {
        p = ngx_sprintf(p, "prep_responses_total{class=\"%s\"} %uA\n",
                        classes[i], sh->c.classes[i]);
    }

    p = ngx_http_prep_prom_head(p, "prep_visitors", "gauge",
                                "Unique visitors (HyperLogLog estimate); "
                                "publication counts visitor-days.");
    p = ngx_sprintf(p, "prep_visitors{period=\"publication\"} %uL\n"
                    "prep_visitors{period=\"today\"} %uA\n"
                    "prep_visitors{period=\"hour\"} %uL\n",
                    st->visitors_all, st->today.visitors,
                    st->visitors_hour);

    p = ngx_http_prep_prom_head(p, "prep_visits_total", "counter",
                                "Sessions started.");
    p = ngx_sprintf(p, "prep_visits_total %uA\n", sh->c.visits);

    p = ngx_http_prep_prom_head(p, "prep_sessions_live", "gauge",
                                "Sessions not ended yet.");
    p = ngx_sprintf(p, "prep_sessions_live %ui\n", st->copy.live);

    p = ngx_http_prep_prom_head(p, "prep_bot_hits_total", "counter",
                                "Requests of robots (prep_stats_bots), "
                                "apart from prep_hits_total.");
    p = ngx_sprintf(p, "prep_bot_hits_total %uA\n", sh->c.bot_hits);

    p = ngx_http_prep_prom_head(p, "prep_bot_sent_bytes_total", "counter",
                                "Body bytes sent to robots.");
    p = ngx_sprintf(p, "prep_bot_sent_bytes_total %uA\n", sh->c.bot_bytes);

    p = ngx_http_prep_prom_head(p, "prep_session_evictions_total",
                                "counter",
                                "Sessions ended early because the table "
                                "was full.");
    p = ngx_sprintf(p, "prep_session_evictions_total %uA\n",
                    sh->c.evictions);

    p = ngx_http_prep_prom_head(p, "prep_session_duration_seconds",
                                "histogram", "Durations of ended sessions.");

    cum = 0;

    for (i = 0; i < NGX_HTTP_PREP_STATS_HISTOGRAM - 1; i++) {
        cum += sh->c.histogram[i];
        p = ngx_sprintf(p, "prep_session_duration_seconds_bucket"
                        "{le=\"%uL\"} %uL\n",
                        prep_count_histogram_ms[i] / 1000, cum);
    }

    p = ngx_sprintf(p, "prep_session_duration_seconds_bucket{le=\"+Inf\"} "
                    "%uA\n"
                    "prep_session_duration_seconds_sum %uA.%03uA\n"
                    "prep_session_duration_seconds_count %uA\n",
                    sh->c.sessions, sh->c.session_ms / 1000,
                    sh->c.session_ms % 1000, sh->c.sessions);

    p = ngx_http_prep_prom_paths(p, st, other, "prep_path_hits_total",
                                 "Responses by snapshot path; \"other\" is "
                                 "every other request.",
                                 offsetof(ngx_http_prep_row_t, hits));

    p = ngx_http_prep_prom_paths(p, st, other, "prep_path_pages_total",
                                 "Pages by snapshot path.",
                                 offsetof(ngx_http_prep_row_t, pages));

    p = ngx_http_prep_prom_paths(p, st, other, "prep_path_sent_bytes_total",
                                 "Body bytes by snapshot path.",
                                 offsetof(ngx_http_prep_row_t, bytes));

    p = ngx_http_prep_prom_head(p, "prep_zone_bytes", "gauge",
                                "Size and free bytes of the shared zone.");
    p = ngx_sprintf(p, "prep_zone_bytes{kind=\"size\"} %uz\n"
                    "prep_zone_bytes{kind=\"free\"} %uz\n",
                    st->copy.slab_size, st->copy.slab_free);

    p = ngx_http_prep_prom_head(p, "prep_zone_sessions_capacity", "gauge",
                                "Live sessions the zone holds at most.");
    p = ngx_sprintf(p, "prep_zone_sessions_capacity %ui\n",
                    sh->sessions_max);

    p = ngx_http_prep_prom_head(p, "prep_zone_paths", "gauge",
                                "Paths with a row.");
    p = ngx_sprintf(p, "prep_zone_paths %ui\n", st->npaths);

    p = ngx_http_prep_prom_head(p, "prep_zone_paths_capacity", "gauge",
                                "Rows the zone holds at most.");
    p = ngx_sprintf(p, "prep_zone_paths_capacity %ui\n", sh->paths_max);

    p = ngx_http_prep_prom_head(p, "prep_zone_unlisted_hits_total",
                                "counter",
                                "Hits of snapshot paths that found no row.");
    p = ngx_sprintf(p, "prep_zone_unlisted_hits_total %uA\n",
                    sh->c.unlisted);

    p = ngx_http_prep_prom_head(p, "prep_state_saves_total", "counter",
                                "State file saves.");
    p = ngx_sprintf(p, "prep_state_saves_total %uA\n", sh->saves);

    p = ngx_http_prep_prom_head(p, "prep_state_save_errors_total",
                                "counter", "State file saves that failed.");
    p = ngx_sprintf(p, "prep_state_save_errors_total %uA\n",
                    sh->save_errors);

    p = ngx_http_prep_prom_head(p, "prep_state_last_save_seconds", "gauge",
                                "When the state file was last saved (unix "
                                "time, 0: never).");
    p = ngx_sprintf(p, "prep_state_last_save_seconds %uA\n", sh->last_save);

    p = ngx_http_prep_prom_head(p, "prep_state_last_save_failed", "gauge",
                                "1 when the last save of the state file "
                                "failed.");
    p = ngx_sprintf(p, "prep_state_last_save_failed %d\n",
                    sh->last_error[0] ? 1 : 0);

    p = ngx_http_prep_prom_head(p, "prep_state_info", "gauge",
                                "Where the state file is saved (empty: "
                                "memory only).");
    p = ngx_cpymem(p, "prep_state_info{file=\"",
                   sizeof("prep_state_info{file=\"") - 1);
    p += prep_prom_label_escape((char *) p, (char *) st->state.data,
                                st->state.len);
    p = ngx_cpymem(p, "\"} 1\n", sizeof("\"} 1\n") - 1);

    b->last = p;

    return b;
}


static u_char *
ngx_http_prep_prom_label(u_char *p, u_char *s, size_t len)
{
    return p + prep_prom_label_escape((char *) p, (char *) s, len);
}


static u_char *
ngx_http_prep_prom_head(u_char *p, const char *name, const char *type,
    const char *help)
{
    return ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                       type);
}


/*
 * One counter of the path rows as a metric labelled by path: every
 * snapshot path, then "other".  field is the counter's offsetof() in
 * ngx_http_prep_row_t.
 */

static u_char *
ngx_http_prep_prom_paths(u_char *p, ngx_http_prep_status_t *st,
    ngx_http_prep_row_t *other, const char *name, const char *help,
    size_t field)
{
    ngx_uint_t            i;
    ngx_http_prep_row_t  *row;

    p = ngx_http_prep_prom_head(p, name, "counter", help);

    for (i = 0; i <= st->nrows; i++) {
        p = ngx_sprintf(p, "%s{path=\"", name);

        if (i < st->nrows) {
            row = st->rows[i].row;
            p = ngx_http_prep_prom_label(p, st->rows[i].path,
                                         row->path_len);

        } else {
            row = other;
            p = ngx_cpymem(p, "other", sizeof("other") - 1);
        }

        p = ngx_sprintf(p, "\"} %uA\n",
                        *(ngx_atomic_t *) ((u_char *) row + field));
    }

    return p;
}
