
/*
 * Copyright (C) the ngx_prep authors
 *
 * The prep_serve content handler: looks r->uri up in the worker's current
 * snapshot and sends the entry as one memory buffer pointing into the
 * mapping (a large one also as a file buffer of the snapshot, for
 * sendfile).  Conditional requests (304) and ranges (206, 416, multipart)
 * are left to nginx's not_modified and range filters, which work from the
 * headers set here.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_prep_module.h"


#define NGX_HTTP_PREP_INDEX  "index.html"

static const prep_snap_entry_t *ngx_http_prep_lookup(ngx_http_request_t *r,
    ngx_http_prep_snapshot_t *s, ngx_http_prep_loc_conf_t *plcf);
static ngx_int_t ngx_http_prep_send_entry(ngx_http_request_t *r,
    ngx_http_prep_snapshot_t *s, const prep_snap_entry_t *e,
    ngx_http_prep_loc_conf_t *plcf);
static ngx_int_t ngx_http_prep_send_placeholder(ngx_http_request_t *r,
    ngx_http_prep_loc_conf_t *plcf);
static ngx_int_t ngx_http_prep_send_body(ngx_http_request_t *r,
    ngx_buf_t *b, u_char *data, size_t len);
static ngx_int_t ngx_http_prep_set_cache_control(ngx_http_request_t *r,
    ngx_str_t *value);
static ngx_str_t *ngx_http_prep_cache_control_value(
    ngx_http_prep_loc_conf_t *plcf, u_char *type, size_t len);


static ngx_str_t  ngx_http_prep_cache_control_default =
    ngx_string("public, max-age=60, stale-if-error=86400");


ngx_int_t
ngx_http_prep_serve_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_prep_ctx_t       *ctx;
    ngx_http_prep_snapshot_t  *s;
    const prep_snap_entry_t   *e;
    ngx_http_prep_loc_conf_t  *plcf;
    ngx_http_core_loc_conf_t  *clcf;

    rc = ngx_http_prep_get_only(r);

    if (rc != NGX_OK) {
        return rc;
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_prep_module);

    s = ngx_http_prep_current();

    if (ngx_http_prep_suspended()) {
        return ngx_http_prep_send_notice(r, s);
    }

    if (s == NULL) {
        return ngx_http_prep_send_placeholder(r, plcf);
    }

    /* the body and X-PREP-Corte come from s until the request is done */

    if (ngx_http_prep_hold(r, s) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    e = ngx_http_prep_lookup(r, s, plcf);

    if (e == NULL) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        /* as the static module does for a missing file */

        if (clcf->log_not_found) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "prep: \"%V\" is not in corte %V", &r->uri,
                          &s->corte_id);
        }

        return NGX_HTTP_NOT_FOUND;
    }

    /* for the statistics: the entry's path and type, also on a 304 */
    ctx = ngx_http_get_module_ctx(r, ngx_http_prep_module);
    ctx->entry = e;

    r->connection->log->action = "sending response to client";

    return ngx_http_prep_send_entry(r, s, e, plcf);
}


static const prep_snap_entry_t *
ngx_http_prep_lookup(ngx_http_request_t *r, ngx_http_prep_snapshot_t *s,
    ngx_http_prep_loc_conf_t *plcf)
{
    u_char                   *p, *start;
    size_t                    len;
    ngx_str_t                *uri;
    const prep_snap_entry_t  *e;
    u_char                    path[PREP_SNAP_MAX_PATH
                                   + sizeof(NGX_HTTP_PREP_INDEX)];

    uri = &r->uri;
    e = NULL;

    if (uri->len == 0 || uri->data[0] != '/') {
        return NULL;
    }

    if (uri->len <= PREP_SNAP_MAX_PATH) {

        if (uri->data[uri->len - 1] == '/') {
            p = ngx_cpymem(path, uri->data, uri->len);
            p = ngx_cpymem(p, NGX_HTTP_PREP_INDEX,
                           sizeof(NGX_HTTP_PREP_INDEX) - 1);
            len = p - path;

            e = prep_snap_lookup(&s->snap, (char *) path, len);

        } else {
            e = prep_snap_lookup(&s->snap, (char *) uri->data, uri->len);
        }
    }

    if (e || plcf->fallback.len == 0) {
        return e;
    }

    /*
     * a single-page app route ("/presidencia/entidad/14") has no
     * extension in its last segment; a missing file ("/x.json") has one
     */

    start = uri->data;

    for (p = uri->data + uri->len; p > start && p[-1] != '/'; p--) {
        if (p[-1] == '.') {
            return NULL;
        }
    }

    return prep_snap_lookup(&s->snap, (char *) plcf->fallback.data,
                            plcf->fallback.len);
}


static ngx_int_t
ngx_http_prep_send_entry(ngx_http_request_t *r, ngx_http_prep_snapshot_t *s,
    const prep_snap_entry_t *e, ngx_http_prep_loc_conf_t *plcf)
{
    u_char                    *type, *etag, *data;
    size_t                     len, type_len;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_str_t                 *cc;
    ngx_uint_t                 gzip, vary;
    ngx_table_elt_t           *h;
#if (NGX_HTTP_GZIP)
    ngx_http_core_loc_conf_t  *clcf;
#endif

    gzip = 0;
    vary = 0;

    if (e->gzip_len) {
        vary = 1;

#if (NGX_HTTP_GZIP)
        r->gzip_vary = 1;

        if (ngx_http_gzip_ok(r) == NGX_OK) {
            gzip = 1;
        }

        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        if (clcf->gzip_vary) {
            /* ngx_http_header_filter() writes Vary itself then */
            vary = 0;
        }
#endif
    }

    if (gzip) {
        data = (u_char *) prep_snap_entry_gzip(&s->snap, e);
        len = (size_t) e->gzip_len;

    } else {
        data = (u_char *) prep_snap_entry_data(&s->snap, e);
        len = (size_t) e->data_len;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
    r->headers_out.last_modified_time = (time_t) s->snap.header->corte_time;

    /* the type as stored: "application/json; charset=utf-8" */

    type = (u_char *) prep_snap_entry_type(&s->snap, e);

    for (type_len = 0; type_len < e->type_len; type_len++) {
        if (type[type_len] == ';') {
            break;
        }
    }

    while (type_len && type[type_len - 1] == ' ') {
        type_len--;
    }

    r->headers_out.content_type.data = type;
    r->headers_out.content_type.len = e->type_len;
    r->headers_out.content_type_len = type_len;
    r->headers_out.content_type_lowcase = NULL;

    etag = ngx_pnalloc(r->pool, PREP_SNAP_ETAG_LEN);
    if (etag == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_http_prep_add_header(r, "ETag", NULL);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->value.data = etag;
    h->value.len = prep_snap_etag(e, gzip, (char *) etag);
    r->headers_out.etag = h;

    if (gzip) {
        h = ngx_http_prep_add_header(r, "Content-Encoding", "gzip");
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->headers_out.content_encoding = h;
    }

    if (vary) {
        if (ngx_http_prep_add_header(r, "Vary", "Accept-Encoding") == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    cc = ngx_http_prep_cache_control_value(plcf, type, type_len);

    if (cc->len && ngx_http_prep_set_cache_control(r, cc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * RFC 9110, 13.1.3: If-Modified-Since is ignored when If-None-Match
     * is present; the corte time changes on every corte, so an unchanged
     * file would otherwise never revalidate by its ETag
     */

    if (r->headers_in.if_none_match) {
        r->headers_in.if_modified_since = NULL;
    }

    r->allow_ranges = 1;

    /* we need to allocate all before the header would be sent */

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    /*
     * prep_sendfile_min: in memory and in the file at once, nginx sends
     * the file part with sendfile() where the connection can (plain TCP,
     * kernel TLS) and the memory part elsewhere (TLS, gzip filters).
     * Only from a page boundary: a sendfile() that starts inside a page,
     * under TCP_CORK ("tcp_nopush on"), ends each response with a segment
     * that waits 40 ms for the client's delayed ACK (bench/RESULTS.md).
     */

    if (plcf->sendfile_min && len >= plcf->sendfile_min
        && s->file.fd != NGX_INVALID_FILE
        && (data - s->addr) % PREP_SNAP_PAGE == 0)
    {
        b->in_file = 1;
        b->file = &s->file;
        b->file_pos = data - s->addr;
        b->file_last = b->file_pos + len;
    }

    return ngx_http_prep_send_body(r, b, data, len);
}


static ngx_int_t
ngx_http_prep_send_placeholder(ngx_http_request_t *r,
    ngx_http_prep_loc_conf_t *plcf)
{
    u_char            *p;
    ngx_int_t          rc;
    ngx_buf_t         *b;
    ngx_str_t          body, from;
    ngx_table_elt_t   *h;
    static ngx_str_t   no_store = ngx_string("no-store");

    /* before --publish-from: the page says when publication begins */

    body = plcf->placeholder;

    if (ngx_http_prep_window_placeholder(r, &body, &from) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (from.len) {
        h = ngx_http_prep_add_header(r, "X-PREP-Publish-From", NULL);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value = from;
    }

    r->headers_out.status = NGX_HTTP_SERVICE_UNAVAILABLE;
    r->headers_out.content_length_n = body.len;

    ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/html") - 1;
    r->headers_out.content_type_lowcase = NULL;

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_http_prep_add_header(r, "Retry-After", NULL);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%T", plcf->retry_after) - p;

    /* a cache must not keep "nothing published" past the first corte */

    if (ngx_http_prep_set_cache_control(r, &no_store) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_prep_send_body(r, b, body.data, body.len);
}


static ngx_int_t
ngx_http_prep_send_body(ngx_http_request_t *r, ngx_buf_t *b, u_char *data,
    size_t len)
{
    ngx_chain_t  out;

    if (len == 0 && r != r->main) {
        /* as 1.22's ngx_http_send_response(): no "zero size buf" */
        return NGX_OK;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = len ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* registered where "expires" looks for it, so that it can override it */

static ngx_int_t
ngx_http_prep_set_cache_control(ngx_http_request_t *r, ngx_str_t *value)
{
    ngx_table_elt_t   *h;
#if (nginx_version < 1023000)
    ngx_table_elt_t  **ccp;
#endif

    h = ngx_http_prep_add_header(r, "Cache-Control", NULL);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value = *value;

#if (nginx_version >= 1023000)
    h->next = r->headers_out.cache_control;
    r->headers_out.cache_control = h;
#else
    if (r->headers_out.cache_control.elts == NULL) {
        if (ngx_array_init(&r->headers_out.cache_control, r->pool, 1,
                           sizeof(ngx_table_elt_t *))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ccp = ngx_array_push(&r->headers_out.cache_control);
    if (ccp == NULL) {
        return NGX_ERROR;
    }

    *ccp = h;
#endif

    return NGX_OK;
}


/* the first typed rule matching the type, else the default rule */

static ngx_str_t *
ngx_http_prep_cache_control_value(ngx_http_prep_loc_conf_t *plcf,
    u_char *type, size_t len)
{
    ngx_str_t                *def;
    ngx_uint_t                i;
    ngx_http_prep_cc_rule_t  *rules;

    def = &ngx_http_prep_cache_control_default;

    if (plcf->cache_control == NULL) {
        return def;
    }

    rules = plcf->cache_control->elts;

    for (i = 0; i < plcf->cache_control->nelts; i++) {

        if (rules[i].types == NULL) {
            def = &rules[i].value;
            continue;
        }

        if (prep_count_type_in(rules[i].types->elts, rules[i].types->nelts,
                               (char *) type, len))
        {
            return &rules[i].value;
        }
    }

    return def;
}
