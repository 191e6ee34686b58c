
/*
 * Copyright (C) the ngx_prep authors
 *
 * X-PREP-Corte on every response of a server with a prep_serve location,
 * and the $prep_corte and $prep_corte_id variables.  The value comes from
 * the snapshot the request holds (the one that produced the body); a
 * response without one (an error page, a request whose context was wiped
 * by ngx_http_filter_finalize_request() or an internal redirect) gets the
 * worker's current corte, or "none" when nothing is published.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_prep_module.h"


#define NGX_HTTP_PREP_CORTE_HEADER  "X-PREP-Corte"


static ngx_int_t ngx_http_prep_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_prep_corte_value(ngx_http_request_t *r,
    ngx_str_t *value, ngx_uint_t id);
static ngx_int_t ngx_http_prep_corte_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


static ngx_http_variable_t  ngx_http_prep_vars[] = {

    { ngx_string("prep_corte"), NULL, ngx_http_prep_corte_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("prep_corte_id"), NULL, ngx_http_prep_corte_variable,
      1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_prep_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_prep_header_filter;

    return NGX_OK;
}


ngx_int_t
ngx_http_prep_add_variables(ngx_conf_t *cf)
{
    return ngx_http_prep_register_variables(cf, ngx_http_prep_vars);
}


static ngx_int_t
ngx_http_prep_header_filter(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  value;
    ngx_uint_t                 i;
    ngx_list_part_t           *part;
    ngx_table_elt_t           *h;
    ngx_http_prep_srv_conf_t  *pscf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    pscf = ngx_http_get_module_srv_conf(r, ngx_http_prep_module);

    if (pscf == NULL || !pscf->stamp) {
        return ngx_http_next_header_filter(r);
    }

    rc = ngx_http_prep_corte_value(r, &value, 0);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_str_set(&value, "none");
    }

    /* a response sent again after a filter finalized it: replace */

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0
            || h[i].key.len != sizeof(NGX_HTTP_PREP_CORTE_HEADER) - 1
            || ngx_strncasecmp(h[i].key.data,
                               (u_char *) NGX_HTTP_PREP_CORTE_HEADER,
                               h[i].key.len)
               != 0)
        {
            continue;
        }

        h[i].value = value;

        return ngx_http_next_header_filter(r);
    }

    h = ngx_http_prep_add_header(r, NGX_HTTP_PREP_CORTE_HEADER, NULL);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value = value;

    return ngx_http_next_header_filter(r);
}


/*
 * NGX_OK with the corte (ISO 8601, or its id), NGX_DECLINED when nothing
 * is published.  A value from the worker's current snapshot is copied: the
 * request holds no reference on it and the log phase reads it later.
 */

static ngx_int_t
ngx_http_prep_corte_value(ngx_http_request_t *r, ngx_str_t *value,
    ngx_uint_t id)
{
    ngx_str_t                 *src;
    ngx_http_prep_snapshot_t  *s;

    s = ngx_http_prep_request_snapshot(r);

    if (s) {
        *value = id ? s->corte_id : s->corte;
        return NGX_OK;
    }

    s = ngx_http_prep_current();

    if (s == NULL) {
        return NGX_DECLINED;
    }

    src = id ? &s->corte_id : &s->corte;

    value->data = ngx_pnalloc(r->pool, src->len);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, src->data, src->len);
    value->len = src->len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_prep_corte_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    rc = ngx_http_prep_corte_value(r, &value, data);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = value.data;

    return NGX_OK;
}
