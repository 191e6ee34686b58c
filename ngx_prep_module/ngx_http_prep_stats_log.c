
/*
 * Copyright (C) the ngx_prep authors
 *
 * Accounting, in the log phase of every main request of a location with
 * statistics on: the final status and the body bytes are known there, so
 * 304s, 206s, HEADs, errors and aborted requests are classified as they
 * were answered.  Also the $prep_visitor and $prep_session_new variables.
 *
 * The visitor is SipHash-2-4, keyed with the day's random salt, of the
 * client address (after the realip module, when it is configured) and
 * the User-Agent; the address is not kept anywhere.
 *
 * Every count is an atomic add on the zone at once: no lock, and nothing
 * held back in a worker, so the status and the state file are exact to
 * the last request.  (Batching the adds per worker was measured: it
 * saved 0.2% of the workers' time.)
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_prep_module.h"
#include "ngx_http_prep_stats.h"


/* the rows of the entries of this worker's current snapshot */
typedef struct {
    ngx_http_prep_snapshot_t     *snapshot;
    ngx_atomic_uint_t             generation;
    ngx_http_prep_row_t         **rows;
} ngx_http_prep_stats_rows_t;


static ngx_http_prep_row_t *ngx_http_prep_stats_entry_row(
    ngx_http_prep_stats_zone_t *z, ngx_http_prep_snapshot_t *s,
    const prep_snap_entry_t *e);
static ngx_http_prep_stats_ctx_t *ngx_http_prep_stats_get_ctx(
    ngx_http_request_t *r);
static ngx_http_prep_stats_zone_t *ngx_http_prep_stats_get_zone(
    ngx_http_request_t *r);
static void ngx_http_prep_stats_hash(ngx_http_request_t *r,
    ngx_http_prep_stats_zone_t *z, ngx_http_prep_stats_ctx_t *ctx);
static void ngx_http_prep_stats_visit(ngx_http_request_t *r,
    ngx_http_prep_stats_zone_t *z, ngx_http_prep_stats_ctx_t *ctx);
static ngx_uint_t ngx_http_prep_stats_is_bot(ngx_http_request_t *r,
    ngx_http_prep_stats_ctx_t *ctx);
static void ngx_http_prep_stats_count_bot(ngx_http_request_t *r,
    ngx_http_prep_stats_zone_t *z);
static ngx_uint_t ngx_http_prep_stats_is_page(
    ngx_http_prep_stats_loc_conf_t *lcf, u_char *type, size_t len);
static ngx_int_t ngx_http_prep_stats_visitor_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_prep_stats_session_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_prep_stats_vars[] = {

    { ngx_string("prep_visitor"), NULL,
      ngx_http_prep_stats_visitor_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("prep_session_new"), NULL,
      ngx_http_prep_stats_session_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_http_prep_stats_rows_t  ngx_http_prep_stats_rows_cache;


/* documents, as opposed to assets: AWStats' "pages" */
ngx_int_t
ngx_http_prep_stats_add_variables(ngx_conf_t *cf)
{
    return ngx_http_prep_register_variables(cf, ngx_http_prep_stats_vars);
}


ngx_int_t
ngx_http_prep_stats_log_handler(ngx_http_request_t *r)
{
    off_t                            bytes;
    u_char                          *type;
    size_t                           type_len;
    ngx_uint_t                       status, page, cls;
    ngx_time_t                      *tp;
    ngx_http_prep_ctx_t             *pctx;
    ngx_http_prep_row_t             *row;
    ngx_http_prep_period_t          *p;
    const prep_snap_entry_t         *e;
    ngx_http_prep_stats_sh_t        *sh;
    ngx_http_prep_snapshot_t        *s;
    ngx_http_prep_stats_ctx_t       *ctx;
    ngx_http_prep_stats_zone_t      *z;
    ngx_http_prep_stats_loc_conf_t  *lcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_prep_stats_module);

    if (!lcf->enabled) {
        return NGX_DECLINED;
    }

    z = ngx_http_prep_stats_get_zone(r);

    if (z == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_prep_stats_get_ctx(r);

    if (ctx == NULL || ctx->counted) {
        return NGX_DECLINED;
    }

    ctx->counted = 1;

    sh = z->sh;

    if (ngx_http_prep_stats_is_bot(r, ctx)) {
        ngx_http_prep_stats_count_bot(r, z);
        return NGX_DECLINED;
    }

    if (!ctx->touched) {
        if (!ctx->hashed) {
            ngx_http_prep_stats_hash(r, z, ctx);
        }

        /* the session is looked up after the row: its memory is on its
         * way meanwhile */
        ngx_http_prep_stats_prefetch_session(sh, ctx->visitor);
    }

    /* as the access log's $status and $body_bytes_sent */

    if (r->err_status) {
        status = r->err_status;

    } else if (r->headers_out.status) {
        status = r->headers_out.status;

    } else {
        status = 0;
    }

    bytes = r->connection->sent - r->header_size;

    if (bytes < 0) {
        bytes = 0;
    }

    cls = prep_count_status_class(status);

    /* the snapshot entry that answered, if any: its path and its type */

    e = NULL;
    s = NULL;
    pctx = ngx_http_get_module_ctx(r, ngx_http_prep_module);

    if (pctx && pctx->snapshot && pctx->entry) {
        s = pctx->snapshot;
        e = pctx->entry;
    }

    page = 0;

    if ((status >= 200 && status < 300) || status == NGX_HTTP_NOT_MODIFIED) {

        if (e) {
            /* a 304 has no Content-Type: the entry has */
            type = (u_char *) prep_snap_entry_type(&s->snap, e);
            type_len = e->type_len;

        } else {
            type = r->headers_out.content_type.data;
            type_len = r->headers_out.content_type.len;
        }

        page = ngx_http_prep_stats_is_page(lcf, type, type_len);
    }

    row = e ? ngx_http_prep_stats_entry_row(z, s, e) : NULL;

    if (row == NULL) {
        if (e) {
            (void) ngx_atomic_fetch_add(&sh->c.unlisted, 1);
        }

        row = ngx_http_prep_stats_rows(sh);
    }

    (void) ngx_atomic_fetch_add(&row->hits, 1);
    (void) ngx_atomic_fetch_add(&row->bytes, bytes);

    if (page) {
        (void) ngx_atomic_fetch_add(&row->pages, 1);
    }

    /* the session before the totals: who sees a hit counted sees its
     * visitor and session too */

    if (!ctx->touched) {
        ngx_http_prep_stats_visit(r, z, ctx);
    }

    (void) ngx_atomic_fetch_add(&sh->c.hits, 1);
    (void) ngx_atomic_fetch_add(&sh->c.bytes, bytes);
    (void) ngx_atomic_fetch_add(&sh->c.classes[cls], 1);

    if (page) {
        (void) ngx_atomic_fetch_add(&sh->c.pages, 1);
    }

    tp = ngx_timeofday();

    p = ngx_http_prep_stats_period(z, sh->buckets,
                                   NGX_HTTP_PREP_STATS_BUCKETS,
                                   ngx_http_prep_stats_bucket_id(tp->sec));

    if (p) {
        (void) ngx_atomic_fetch_add(&p->hits, 1);
        (void) ngx_atomic_fetch_add(&p->bytes, bytes);

        if (page) {
            (void) ngx_atomic_fetch_add(&p->pages, 1);
        }
    }

    p = ngx_http_prep_stats_period(z, sh->days, NGX_HTTP_PREP_STATS_DAYS,
                                   ngx_http_prep_stats_day_id(tp->sec,
                                                              tp->gmtoff));

    if (p) {
        (void) ngx_atomic_fetch_add(&p->hits, 1);
        (void) ngx_atomic_fetch_add(&p->bytes, bytes);

        if (page) {
            (void) ngx_atomic_fetch_add(&p->pages, 1);
        }
    }

    return NGX_DECLINED;
}


/* whether the User-Agent is a robot's (prep_stats_bots), once a request */

static ngx_uint_t
ngx_http_prep_stats_is_bot(ngx_http_request_t *r,
    ngx_http_prep_stats_ctx_t *ctx)
{
    ngx_str_t                        *ua;
    ngx_http_prep_stats_main_conf_t  *mcf;

    if (!ctx->bot_known) {
        ctx->bot_known = 1;

        mcf = ngx_http_get_module_main_conf(r, ngx_http_prep_stats_module);

        if (mcf->bots && r->headers_in.user_agent) {
            ua = &r->headers_in.user_agent->value;
            ctx->bot = prep_bots_match(mcf->bots, (char *) ua->data,
                                       ua->len) ? 1 : 0;
        }
    }

    return ctx->bot;
}


/* a robot's request: its hits and bytes apart, in the totals and periods */

static void
ngx_http_prep_stats_count_bot(ngx_http_request_t *r,
    ngx_http_prep_stats_zone_t *z)
{
    off_t                      bytes;
    ngx_time_t                *tp;
    ngx_http_prep_period_t    *p;
    ngx_http_prep_stats_sh_t  *sh;

    sh = z->sh;

    bytes = r->connection->sent - r->header_size;

    if (bytes < 0) {
        bytes = 0;
    }

    (void) ngx_atomic_fetch_add(&sh->c.bot_hits, 1);
    (void) ngx_atomic_fetch_add(&sh->c.bot_bytes, bytes);

    tp = ngx_timeofday();

    p = ngx_http_prep_stats_period(z, sh->buckets,
                                   NGX_HTTP_PREP_STATS_BUCKETS,
                                   ngx_http_prep_stats_bucket_id(tp->sec));

    if (p) {
        (void) ngx_atomic_fetch_add(&p->bot_hits, 1);
        (void) ngx_atomic_fetch_add(&p->bot_bytes, bytes);
    }

    p = ngx_http_prep_stats_period(z, sh->days, NGX_HTTP_PREP_STATS_DAYS,
                                   ngx_http_prep_stats_day_id(tp->sec,
                                                              tp->gmtoff));

    if (p) {
        (void) ngx_atomic_fetch_add(&p->bot_hits, 1);
        (void) ngx_atomic_fetch_add(&p->bot_bytes, bytes);
    }
}


/*
 * The row of a snapshot entry: from this worker's table of the current
 * snapshot's rows, filled as entries are requested, else (a request on
 * a superseded snapshot) found by path.
 */

static ngx_http_prep_row_t *
ngx_http_prep_stats_entry_row(ngx_http_prep_stats_zone_t *z,
    ngx_http_prep_snapshot_t *s, const prep_snap_entry_t *e)
{
    ngx_uint_t                   i;
    ngx_http_prep_row_t         *row;
    ngx_http_prep_stats_rows_t  *c;

    c = &ngx_http_prep_stats_rows_cache;

    if (s != c->snapshot || s->generation != c->generation) {

        if (s != ngx_http_prep_current()) {
            return ngx_http_prep_stats_row(z,
                          (u_char *) prep_snap_entry_path(&s->snap, e),
                          e->path_len, 1);
        }

        if (c->rows) {
            ngx_free(c->rows);
        }

        c->snapshot = NULL;

        c->rows = ngx_calloc(s->snap.nentries * sizeof(ngx_http_prep_row_t *),
                             ngx_cycle->log);
        if (c->rows == NULL) {
            return NULL;
        }

        c->snapshot = s;
        c->generation = s->generation;
    }

    i = e - s->snap.entries;
    row = c->rows[i];

    if (row == NULL) {
        row = ngx_http_prep_stats_row(z,
                                      (u_char *) prep_snap_entry_path(&s->snap,
                                                                      e),
                                      e->path_len, 1);
        c->rows[i] = row;
    }

    return row;
}


static ngx_http_prep_stats_ctx_t *
ngx_http_prep_stats_get_ctx(ngx_http_request_t *r)
{
    ngx_http_prep_stats_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_prep_stats_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_prep_stats_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_prep_stats_module);
    }

    return ctx;
}


static ngx_http_prep_stats_zone_t *
ngx_http_prep_stats_get_zone(ngx_http_request_t *r)
{
    ngx_http_prep_stats_zone_t       *z;
    ngx_http_prep_stats_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_prep_stats_module);

    if (mcf->shm_zone == NULL) {
        return NULL;
    }

    z = mcf->shm_zone->data;

    return z->sh ? z : NULL;
}


/* the day's key, the User-Agent hashed first: no copy, no length bound */

static void
ngx_http_prep_stats_hash(ngx_http_request_t *r,
    ngx_http_prep_stats_zone_t *z, ngx_http_prep_stats_ctx_t *ctx)
{
    u_char               *key;
    ngx_str_t            *agent;
    ngx_time_t           *tp;
    const void           *addr;
    struct sockaddr      *sa;
    static ngx_str_t      none = ngx_null_string;

    tp = ngx_timeofday();

    key = ngx_http_prep_stats_salt(z,
                                   ngx_http_prep_stats_day_id(tp->sec,
                                                              tp->gmtoff));

    agent = r->headers_in.user_agent ? &r->headers_in.user_agent->value
                                     : &none;

    sa = r->connection->sockaddr;

    switch (sa->sa_family) {

#if (NGX_HAVE_INET6)
    case AF_INET6:
        addr = ((struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
        break;
#endif

    case AF_INET:
        addr = &((struct sockaddr_in *) sa)->sin_addr.s_addr;
        break;

    default:
        /* unix sockets: every client of one is one address */
        addr = NULL;
        break;
    }

    /* libprep's visitor: the one prep-report counts logs with */

    ctx->visitor = prep_count_visitor(key, sa->sa_family, addr,
                                      (char *) agent->data, agent->len);
    ctx->hashed = 1;
}


/*
 * The visitor's session, once per request: the first request of a visit,
 * of an hour, of a day or of a 5-minute bucket adds the visitor to that
 * period's count; the others change nothing there.
 */

static void
ngx_http_prep_stats_visit(ngx_http_request_t *r,
    ngx_http_prep_stats_zone_t *z, ngx_http_prep_stats_ctx_t *ctx)
{
    time_t                            sec, psec;
    uint64_t                          now, prev;
    ngx_int_t                         rc, gmtoff;
    ngx_uint_t                        fresh;
    ngx_time_t                       *tp;
    ngx_atomic_uint_t                 day;
    ngx_atomic_t                     *hll;
    ngx_http_prep_period_t           *p;
    ngx_http_prep_stats_sh_t         *sh;
    ngx_http_prep_stats_main_conf_t  *mcf;

    ctx->touched = 1;

    /* a robot is never a visitor, nor starts a visit */
    if (ngx_http_prep_stats_is_bot(r, ctx)) {
        return;
    }

    if (!ctx->hashed) {
        ngx_http_prep_stats_hash(r, z, ctx);
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_prep_stats_module);
    sh = z->sh;

    tp = ngx_timeofday();
    sec = tp->sec;
    gmtoff = tp->gmtoff;
    now = (uint64_t) sec * 1000 + tp->msec;
    prev = now;

    rc = ngx_http_prep_stats_touch(sh, ctx->visitor, now,
                                   mcf->session_timeout, &prev);

    if (rc == NGX_ERROR) {
        return;
    }

    fresh = (rc == NGX_OK);
    ctx->session_new = fresh;

    psec = (time_t) (prev / 1000);

    if (fresh
        || ngx_http_prep_stats_hour_id(psec)
           != ngx_http_prep_stats_hour_id(sec))
    {
        hll = ngx_http_prep_stats_hll(z, NGX_HTTP_PREP_STATS_HLL_HOUR,
                                      ngx_http_prep_stats_hour_id(sec));
        if (hll) {
            ngx_http_prep_stats_hll_add(hll, NGX_HTTP_PREP_STATS_HOUR_P,
                                        ctx->visitor);
        }
    }

    day = ngx_http_prep_stats_day_id(sec, gmtoff);

    if (fresh || ngx_http_prep_stats_day_id(psec, gmtoff) != day) {
        hll = ngx_http_prep_stats_hll(z, NGX_HTTP_PREP_STATS_HLL_DAY, day);
        if (hll) {
            ngx_http_prep_stats_hll_add(hll, NGX_HTTP_PREP_STATS_HLL_P,
                                        ctx->visitor);
        }

        /* the key changes daily: this counts visitor-days */
        ngx_http_prep_stats_hll_add(sh->hll_all.registers,
                                    NGX_HTTP_PREP_STATS_HLL_P, ctx->visitor);
    }

    p = ngx_http_prep_stats_period(z, sh->buckets,
                                   NGX_HTTP_PREP_STATS_BUCKETS,
                                   ngx_http_prep_stats_bucket_id(sec));

    if (p && (fresh
              || ngx_http_prep_stats_bucket_id(psec)
                 != ngx_http_prep_stats_bucket_id(sec)))
    {
        (void) ngx_atomic_fetch_add(&p->visitors, 1);
    }

    if (!fresh) {
        return;
    }

    if (p) {
        (void) ngx_atomic_fetch_add(&p->visits, 1);
    }

    p = ngx_http_prep_stats_period(z, sh->days, NGX_HTTP_PREP_STATS_DAYS,
                                   day);

    if (p) {
        (void) ngx_atomic_fetch_add(&p->visits, 1);
    }
}


static ngx_uint_t
ngx_http_prep_stats_is_page(ngx_http_prep_stats_loc_conf_t *lcf,
    u_char *type, size_t len)
{
    /* prep_stats_pages, else the default list: libprep's one matcher */

    if (lcf->pages) {
        return prep_count_type_is_page(lcf->pages->elts, lcf->pages->nelts,
                                       (char *) type, len);
    }

    return prep_count_type_is_page(NULL, 0, (char *) type, len);
}


static ngx_int_t
ngx_http_prep_stats_visitor_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                      *p;
    ngx_http_prep_stats_ctx_t   *ctx;
    ngx_http_prep_stats_zone_t  *z;

    r = r->main;

    z = ngx_http_prep_stats_get_zone(r);
    ctx = z ? ngx_http_prep_stats_get_ctx(r) : NULL;

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (!ctx->hashed) {
        ngx_http_prep_stats_hash(r, z, ctx);
    }

    p = ngx_pnalloc(r->pool, 16);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%016xL", ctx->visitor) - p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_prep_stats_session_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_prep_stats_ctx_t       *ctx;
    ngx_http_prep_stats_zone_t      *z;
    ngx_http_prep_stats_loc_conf_t  *lcf;

    r = r->main;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_prep_stats_module);
    z = lcf->enabled ? ngx_http_prep_stats_get_zone(r) : NULL;
    ctx = z ? ngx_http_prep_stats_get_ctx(r) : NULL;

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (!ctx->touched) {
        ngx_http_prep_stats_visit(r, z, ctx);
    }

    v->len = 1;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = (u_char *) (ctx->session_new ? "1" : "0");

    return NGX_OK;
}
