/*
 * Copyright (C) the ngx_prep authors
 *
 * What the module's handlers share to answer: the GET/HEAD check, extra
 * headers, JSON strings, and the in-memory responses of the status and
 * control locations.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_prep_module.h"
#include "prep_json.h"


/*
 * GET and HEAD only: anything else is 405 with Allow.  A body sent with
 * GET is read and dropped, so that the next request on a keep-alive
 * connection starts where it should.  NGX_OK lets the handler go on.
 */

ngx_int_t
ngx_http_prep_get_only(ngx_http_request_t *r)
{
    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        if (ngx_http_prep_add_header(r, "Allow", "GET, HEAD") == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_HTTP_NOT_ALLOWED;
    }

    return ngx_http_discard_request_body(r);
}


/*
 * Sends a response built in memory (status, control), which describes
 * this moment and must never be cached.  type may carry parameters
 * ("text/plain; version=0.0.4"); content_type_len stops before them, as
 * nginx's charset filter expects.
 */

ngx_int_t
ngx_http_prep_send_uncacheable(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, ngx_buf_t *b)
{
    size_t       len, n;
    ngx_int_t    rc;
    ngx_chain_t  out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;

    len = ngx_strlen(type);

    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = len;
    r->headers_out.content_type_lowcase = NULL;

    for (n = 0; n < len && type[n] != ';'; n++) {
        /* void */
    }

    r->headers_out.content_type_len = n;

    if (ngx_http_prep_add_header(r, "Cache-Control", "no-store") == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_table_elt_t *
ngx_http_prep_add_header(ngx_http_request_t *r, const char *key,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);

    if (value) {
        h->value.data = (u_char *) value;
        h->value.len = ngx_strlen(value);

    } else {
        ngx_str_null(&h->value);
    }

    return h;
}


size_t
ngx_http_prep_json_len(u_char *s, size_t len)
{
    return sizeof("\"\"") - 1 + prep_json_escaped_len((char *) s, len);
}


u_char *
ngx_http_prep_json_str(u_char *p, u_char *s, size_t len)
{
    *p++ = '"';
    p += prep_json_escape((char *) p, (char *) s, len);
    *p++ = '"';

    return p;
}


ngx_int_t
ngx_http_prep_register_variables(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}
