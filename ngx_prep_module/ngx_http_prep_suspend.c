
/*
 * Copyright (C) the ngx_prep authors
 *
 * The institute's right to interrupt a publisher: while STORE/
 * suspension.json says "suspended": true, every request of a prep_serve
 * location is answered with the notice (STORE/notice.html, or a built-in
 * one in Spanish): 503, Retry-After, a short cache lifetime, and still
 * X-PREP-Corte of the last corte.  The file is written atomically by
 * "prep-ingest suspend" and read whenever "current" is (re)loaded: at
 * start, on "nginx -s reload" and on POST /reload.  A damaged file keeps
 * the state that was loaded before: a torn read must not lift a
 * suspension, nor impose one.
 *
 * STORE/window.json (prep-ingest watch --publish-from) is read at the
 * same moments: before the first corte, the placeholder page says when
 * publication begins, in place of NGX_HTTP_PREP_WINDOW_MARK.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_prep_module.h"


typedef struct {
    ngx_int_t                  suspended;      /* -1: not in the file */
    time_t                     since;
    ngx_str_t                  reason;
    ngx_str_t                  sha256;
} ngx_http_prep_suspension_file_t;


/* STORE/window.json's fields, filled by its member handler */
typedef struct {
    time_t                     *from;
    ngx_str_t                  *text;
} ngx_http_prep_window_file_t;


typedef ngx_int_t (*ngx_http_prep_json_member_pt)(void *data,
    ngx_str_t *key, ngx_str_t *value, ngx_uint_t string);


static ngx_int_t ngx_http_prep_suspension_parse(u_char *p, u_char *last,
    ngx_http_prep_suspension_file_t *f);
static ngx_int_t ngx_http_prep_suspension_member(void *data, ngx_str_t *key,
    ngx_str_t *v, ngx_uint_t string);
static ngx_int_t ngx_http_prep_json_flat(u_char *p, u_char *last,
    ngx_http_prep_json_member_pt member, void *data);
static ngx_int_t ngx_http_prep_window_member(void *data, ngx_str_t *key,
    ngx_str_t *v, ngx_uint_t string);
static u_char *ngx_http_prep_json_skip_ws(u_char *p, u_char *last);
static u_char *ngx_http_prep_json_string(u_char *p, u_char *last,
    ngx_str_t *s);
static ngx_int_t ngx_http_prep_read_small(u_char *path, size_t max,
    u_char **buf, size_t *len, ngx_log_t *log);
static ngx_http_prep_zone_t *ngx_http_prep_suspension_zone(void);
static void ngx_http_prep_window_load(ngx_http_prep_zone_t *zone,
    ngx_log_t *log);
static ngx_int_t ngx_http_prep_window_parse(u_char *p, u_char *last,
    time_t *from, ngx_str_t *text);
static ngx_int_t ngx_http_prep_window_text_ok(ngx_str_t *text);


static u_char  ngx_http_prep_builtin_notice[] =
"<!DOCTYPE html>" CRLF
"<html lang=\"es\"><head><meta charset=\"utf-8\">" CRLF
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
CRLF
"<title>Publicaci&oacute;n suspendida</title></head>" CRLF
"<body style=\"font-family:sans-serif;max-width:40em;margin:3em auto;"
"padding:0 1em\">" CRLF
"<h1>Publicaci&oacute;n suspendida</h1>" CRLF
"<p>Por indicaci&oacute;n de la autoridad electoral, la publicaci&oacute;n "
"de los resultados preliminares en este sitio est&aacute; suspendida "
"temporalmente.</p>" CRLF
"<p>Consulte el sitio oficial del instituto electoral. Esta p&aacute;gina "
"se actualizar&aacute; cuando se reanude la publicaci&oacute;n.</p>" CRLF
"</body></html>" CRLF;


/*
 * Reads STORE/suspension.json and the notice into the zone.  Called with
 * the zone unlocked; the notice is read before the lock is taken.
 */

void
ngx_http_prep_suspension_load(ngx_http_prep_zone_t *zone, ngx_log_t *log)
{
    u_char                           *buf, *notice, *copy;
    size_t                            len, notice_len;
    ngx_int_t                         rc;
    ngx_http_prep_suspension_t       *sus;
    ngx_http_prep_suspension_file_t   f;
    u_char                            path[NGX_HTTP_PREP_STORE_MAX
                                      + sizeof(NGX_HTTP_PREP_SUSPENSION_FILE)];

    (void) ngx_cpystrn(ngx_cpymem(path, zone->store.data, zone->store.len),
                       (u_char *) NGX_HTTP_PREP_SUSPENSION_FILE,
                       sizeof(NGX_HTTP_PREP_SUSPENSION_FILE));

    buf = NULL;
    notice = NULL;
    notice_len = 0;

    ngx_http_prep_window_load(zone, log);

    rc = ngx_http_prep_read_small(path, NGX_HTTP_PREP_SUSPENSION_MAX, &buf,
                                  &len, log);

    if (rc == NGX_ERROR) {
        return;
    }

    ngx_memzero(&f, sizeof(f));

    if (rc == NGX_DECLINED) {
        f.suspended = 0;                       /* no file: not suspended */

    } else if (ngx_http_prep_suspension_parse(buf, buf + len, &f) != NGX_OK
               || f.suspended == -1
               || f.reason.len > NGX_HTTP_PREP_SUSPEND_REASON
               || (f.sha256.len != 0
                   && f.sha256.len != NGX_HTTP_PREP_SHA256_HEX_LEN))
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "prep: \"%s\" is not a valid suspension state, "
                      "keeping the previous one", path);
        ngx_free(buf);
        return;
    }

    if (f.suspended) {
        (void) ngx_cpystrn(ngx_cpymem(path, zone->store.data,
                                      zone->store.len),
                           (u_char *) NGX_HTTP_PREP_NOTICE_FILE,
                           sizeof(NGX_HTTP_PREP_NOTICE_FILE));

        if (ngx_http_prep_read_small(path, NGX_HTTP_PREP_NOTICE_MAX,
                                     &notice, &notice_len, log)
            != NGX_OK)
        {
            notice = NULL;                     /* the built-in one */
        }
    }

    sus = &zone->sh->suspension;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (sus->notice) {
        ngx_slab_free_locked(zone->shpool, sus->notice);
        sus->notice = NULL;
        sus->notice_len = 0;
    }

    if (notice && notice_len) {
        copy = ngx_slab_alloc_locked(zone->shpool, notice_len);

        if (copy) {
            ngx_memcpy(copy, notice, notice_len);
            sus->notice = copy;
            sus->notice_len = notice_len;

        } else {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "prep: no room for the notice of %uz bytes, "
                          "answering the built-in one", notice_len);
        }
    }

    if (f.suspended && !sus->suspended) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "prep: publication suspended, answering the notice");

    } else if (!f.suspended && sus->suspended) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0, "prep: publication resumed");
    }

    sus->since = f.since;
    sus->reason_len = ngx_cpymem(sus->reason, f.reason.data, f.reason.len)
                      - sus->reason;
    (void) ngx_cpystrn(sus->sha256, f.sha256.data, f.sha256.len + 1);
    sus->sha256[f.sha256.len] = '\0';
    sus->suspended = f.suspended ? 1 : 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_free(buf);
    ngx_free(notice);
}


/*
 * The flat JSON object prep-ingest writes: "suspended" (true or false),
 * "since_unix" (a number), "reason" and "notice_sha256" (strings); other
 * fields are skipped.  Nested values are not written, so not accepted.
 */

static ngx_int_t
ngx_http_prep_suspension_parse(u_char *p, u_char *last,
    ngx_http_prep_suspension_file_t *f)
{
    f->suspended = -1;

    return ngx_http_prep_json_flat(p, last, ngx_http_prep_suspension_member,
                                   f);
}


static ngx_int_t
ngx_http_prep_suspension_member(void *data, ngx_str_t *key, ngx_str_t *v,
    ngx_uint_t string)
{
    ngx_http_prep_suspension_file_t  *f = data;

    if (string) {
        if (key->len == 6 && ngx_strncmp(key->data, "reason", 6) == 0) {
            f->reason = *v;

        } else if (key->len == 13
                   && ngx_strncmp(key->data, "notice_sha256", 13) == 0)
        {
            f->sha256 = *v;
        }

        return NGX_OK;
    }

    if (key->len == 9 && ngx_strncmp(key->data, "suspended", 9) == 0) {
        if (v->len == 4 && ngx_strncmp(v->data, "true", 4) == 0) {
            f->suspended = 1;

        } else if (v->len == 5 && ngx_strncmp(v->data, "false", 5) == 0) {
            f->suspended = 0;

        } else {
            return NGX_ERROR;
        }

    } else if (key->len == 10
               && ngx_strncmp(key->data, "since_unix", 10) == 0)
    {
        f->since = ngx_atotm(v->data, v->len);

        if (f->since == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A flat JSON object, as prep-ingest writes its small state files:
 * member() gets every key with its string's contents (left escaped) or
 * its bare token (number, true, false, null).  Nested values are never
 * written, so never accepted.
 */

static ngx_int_t
ngx_http_prep_json_flat(u_char *p, u_char *last,
    ngx_http_prep_json_member_pt member, void *data)
{
    u_char     *v;
    ngx_str_t   key, value;
    ngx_uint_t  string;

    p = ngx_http_prep_json_skip_ws(p, last);

    if (p == last || *p++ != '{') {
        return NGX_ERROR;
    }

    for ( ;; ) {
        p = ngx_http_prep_json_skip_ws(p, last);

        if (p < last && *p == '}') {
            p = ngx_http_prep_json_skip_ws(p + 1, last);
            return (p == last) ? NGX_OK : NGX_ERROR;
        }

        p = ngx_http_prep_json_string(p, last, &key);
        if (p == NULL) {
            return NGX_ERROR;
        }

        p = ngx_http_prep_json_skip_ws(p, last);

        if (p == last || *p++ != ':') {
            return NGX_ERROR;
        }

        p = ngx_http_prep_json_skip_ws(p, last);

        if (p == last) {
            return NGX_ERROR;
        }

        string = (*p == '"');

        if (string) {
            p = ngx_http_prep_json_string(p, last, &value);
            if (p == NULL) {
                return NGX_ERROR;
            }

        } else {
            v = p;

            while (p < last && *p != ',' && *p != '}'
                   && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
            {
                if (*p == '{' || *p == '[' || *p == '"') {
                    return NGX_ERROR;
                }

                p++;
            }

            value.data = v;
            value.len = p - v;
        }

        if (member(data, &key, &value, string) != NGX_OK) {
            return NGX_ERROR;
        }

        p = ngx_http_prep_json_skip_ws(p, last);

        if (p < last && *p == ',') {
            p++;
        }
    }
}


static u_char *
ngx_http_prep_json_skip_ws(u_char *p, u_char *last)
{
    while (p < last && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


/* a JSON string, its contents left escaped; NULL if malformed */

static u_char *
ngx_http_prep_json_string(u_char *p, u_char *last, ngx_str_t *s)
{
    if (p == last || *p++ != '"') {
        return NULL;
    }

    s->data = p;

    while (p < last && *p != '"') {

        if (*p < 0x20) {
            return NULL;
        }

        if (*p == '\\') {
            if (++p == last) {
                return NULL;
            }
        }

        p++;
    }

    if (p == last) {
        return NULL;
    }

    s->len = p - s->data;

    return p + 1;
}


/* NGX_OK with a malloc'd copy, NGX_DECLINED when absent, else NGX_ERROR */

static ngx_int_t
ngx_http_prep_read_small(u_char *path, size_t max, u_char **buf,
    size_t *len, ngx_log_t *log)
{
    u_char     err[NGX_MAX_ERROR_STR];
    ngx_int_t  rc;

    rc = ngx_http_prep_read_file(path, max, log, buf, len, err, sizeof(err));

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "prep: \"%s\": %s", path, err);
    }

    return rc;
}


static ngx_http_prep_zone_t *
ngx_http_prep_suspension_zone(void)
{
    ngx_http_prep_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_prep_module);

    if (pmcf == NULL || pmcf->shm_zone == NULL) {
        return NULL;
    }

    return pmcf->shm_zone->data;
}


ngx_uint_t
ngx_http_prep_suspended(void)
{
    ngx_http_prep_zone_t  *zone;

    zone = ngx_http_prep_suspension_zone();

    return (zone && zone->sh && zone->sh->suspension.suspended);
}


void
ngx_http_prep_suspension_read(ngx_http_prep_zone_t *zone,
    ngx_http_prep_suspension_t *sus)
{
    if (zone == NULL) {
        zone = ngx_http_prep_suspension_zone();
    }

    if (zone == NULL || zone->sh == NULL) {
        ngx_memzero(sus, sizeof(ngx_http_prep_suspension_t));
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);
    *sus = zone->sh->suspension;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    sus->notice = NULL;                        /* not for the caller */
}


/* the notice, answered in place of every path; s is the live corte */

ngx_int_t
ngx_http_prep_send_notice(ngx_http_request_t *r, ngx_http_prep_snapshot_t *s)
{
    u_char                    *p, *body;
    size_t                     len;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_chain_t                out;
    ngx_table_elt_t           *h;
    ngx_http_prep_zone_t      *zone;
    ngx_http_prep_loc_conf_t  *plcf;

    /* X-PREP-Corte keeps naming the corte that was live */

    if (s && ngx_http_prep_hold(r, s) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_prep_module);
    zone = ngx_http_prep_suspension_zone();

    body = NULL;
    len = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (zone->sh->suspension.notice) {
        len = zone->sh->suspension.notice_len;
        body = ngx_pnalloc(r->pool, len);

        if (body) {
            ngx_memcpy(body, zone->sh->suspension.notice, len);
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (len && body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (body == NULL) {
        body = ngx_http_prep_builtin_notice;
        len = sizeof(ngx_http_prep_builtin_notice) - 1;
    }

    r->headers_out.status = NGX_HTTP_SERVICE_UNAVAILABLE;
    r->headers_out.content_length_n = len;

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

    /* a CDN may hold the notice briefly, never past a resume for long */

    if (ngx_http_prep_add_header(r, "Cache-Control",
                                 NGX_HTTP_PREP_NOTICE_CACHE)
        == NULL
        || ngx_http_prep_add_header(r, "X-PREP-Status", "suspended") == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* ,"suspension":{...} for the control and status JSON */

size_t
ngx_http_prep_suspension_json_len(void)
{
    return sizeof(",\"suspension\":{\"suspended\":false,\"since\":,"
                  "\"reason\":\"\",\"notice_sha256\":\"\"}")
           + NGX_TIME_T_LEN + NGX_HTTP_PREP_SUSPEND_REASON
           + NGX_HTTP_PREP_SHA256_HEX_LEN;
}


u_char *
ngx_http_prep_suspension_json(u_char *p, ngx_http_prep_suspension_t *sus)
{
    p = ngx_sprintf(p, ",\"suspension\":{\"suspended\":%s",
                    sus->suspended ? "true" : "false");

    if (!sus->suspended) {
        return ngx_cpymem(p, "}", 1);
    }

    /* the reason is JSON string contents already, checked when read */

    p = ngx_sprintf(p, ",\"since\":%T,\"reason\":\"", sus->since);
    p = ngx_cpymem(p, sus->reason, sus->reason_len);
    p = ngx_cpymem(p, "\",\"notice_sha256\":", 18);

    if (sus->sha256[0]) {
        p = ngx_sprintf(p, "\"%s\"}", sus->sha256);

    } else {
        p = ngx_cpymem(p, "null}", 5);
    }

    return p;
}


/*
 * STORE/window.json: {"publish_from":"2024-06-02T20:00:00-06:00",
 * "publish_from_unix":1717380000,...}; other keys are skipped, null is
 * "not set", no file is no window.  A damaged file keeps the previous.
 */

static void
ngx_http_prep_window_load(ngx_http_prep_zone_t *zone, ngx_log_t *log)
{
    u_char                  *buf;
    size_t                   len;
    time_t                   from;
    ngx_int_t                rc;
    ngx_str_t                text;
    ngx_http_prep_window_t  *win;
    u_char                   path[NGX_HTTP_PREP_STORE_MAX
                                  + sizeof(NGX_HTTP_PREP_WINDOW_FILE)];

    (void) ngx_cpystrn(ngx_cpymem(path, zone->store.data, zone->store.len),
                       (u_char *) NGX_HTTP_PREP_WINDOW_FILE,
                       sizeof(NGX_HTTP_PREP_WINDOW_FILE));

    buf = NULL;
    from = 0;
    ngx_str_null(&text);

    rc = ngx_http_prep_read_small(path, NGX_HTTP_PREP_WINDOW_MAX, &buf, &len,
                                  log);

    if (rc == NGX_ERROR) {
        return;
    }

    if (rc == NGX_OK
        && (ngx_http_prep_window_parse(buf, buf + len, &from, &text)
            != NGX_OK
            || (from != 0 && ngx_http_prep_window_text_ok(&text) != NGX_OK)))
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "prep: \"%s\" is not a valid publication window, "
                      "keeping the previous one", path);
        ngx_free(buf);
        return;
    }

    win = &zone->sh->window;

    ngx_shmtx_lock(&zone->shpool->mutex);

    win->publish_from = from;
    win->text_len = (from != 0) ? text.len : 0;
    ngx_memcpy(win->text, text.data, win->text_len);
    win->text[win->text_len] = '\0';

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_free(buf);
}


static ngx_int_t
ngx_http_prep_window_parse(u_char *p, u_char *last, time_t *from,
    ngx_str_t *text)
{
    ngx_http_prep_window_file_t  f;

    f.from = from;
    f.text = text;

    return ngx_http_prep_json_flat(p, last, ngx_http_prep_window_member, &f);
}


static ngx_int_t
ngx_http_prep_window_member(void *data, ngx_str_t *key, ngx_str_t *v,
    ngx_uint_t string)
{
    ngx_http_prep_window_file_t  *f = data;

    if (string) {
        if (key->len == 12
            && ngx_strncmp(key->data, "publish_from", 12) == 0)
        {
            *f->text = *v;
        }

        return NGX_OK;
    }

    if (key->len == 17
        && ngx_strncmp(key->data, "publish_from_unix", 17) == 0
        && !(v->len == 4 && ngx_strncmp(v->data, "null", 4) == 0))
    {
        *f->from = ngx_atotm(v->data, v->len);

        if (*f->from == NGX_ERROR || *f->from == 0) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* "YYYY-MM-DDTHH:MM" and then only [0-9:.], then "Z" or "+HH:MM" */

static ngx_int_t
ngx_http_prep_window_text_ok(ngx_str_t *text)
{
    u_char      c;
    ngx_uint_t  i;

    static const char  shape[] = "dddd-dd-ddTdd:dd";

    if (text->len < sizeof(shape) || text->len > NGX_HTTP_PREP_WINDOW_TEXT) {
        return NGX_ERROR;
    }

    for (i = 0; i < text->len; i++) {
        c = text->data[i];

        if (i < sizeof(shape) - 1) {
            if (shape[i] == 'd' ? (c < '0' || c > '9') : c != shape[i]) {
                return NGX_ERROR;
            }

            continue;
        }

        if ((c < '0' || c > '9') && c != ':' && c != '.' && c != '+'
            && c != '-' && c != 'Z')
        {
            return NGX_ERROR;
        }
    }

    c = text->data[text->len - 1];

    if (c != 'Z'
        && (text->len < sizeof(shape) - 1 + 6
            || (text->data[text->len - 6] != '+'
                && text->data[text->len - 6] != '-')))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The placeholder page, body in and out: before the start of publication
 * the mark is replaced by a sentence saying when it begins, and *from
 * gets the time as written by prep-ingest (for X-PREP-Publish-From);
 * otherwise both are left alone (from->len 0).
 */

ngx_int_t
ngx_http_prep_window_placeholder(ngx_http_request_t *r, ngx_str_t *body,
    ngx_str_t *from)
{
    u_char                  *mark, *p, *t;
    size_t                   len;
    ngx_http_prep_zone_t    *zone;
    ngx_http_prep_window_t   win;

    static const char  before[] =
        "<p class=\"prep-publish-from\">La publicaci&oacute;n de los "
        "resultados comienza el <time datetime=\"";
    static const char  after[] = "</time>.</p>";

    ngx_str_null(from);

    zone = ngx_http_prep_suspension_zone();

    if (zone == NULL || zone->sh == NULL) {
        return NGX_OK;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);
    win = zone->sh->window;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (win.publish_from == 0 || win.publish_from <= ngx_time()) {
        return NGX_OK;
    }

    from->data = ngx_pnalloc(r->pool, win.text_len);
    if (from->data == NULL) {
        return NGX_ERROR;
    }

    from->len = win.text_len;
    ngx_memcpy(from->data, win.text, win.text_len);

    /* ngx_strlnstrn() is not in nginx 1.22 */

    len = sizeof(NGX_HTTP_PREP_WINDOW_MARK) - 1;

    for (mark = body->data; mark + len <= body->data + body->len; mark++) {
        if (ngx_memcmp(mark, NGX_HTTP_PREP_WINDOW_MARK, len) == 0) {
            break;
        }
    }

    if (mark + len > body->data + body->len) {
        return NGX_OK;
    }

    /* "2024-06-02T20:00:00-06:00" is shown "2024-06-02 a las 20:00
     * (UTC-06:00)", "...Z" as "(UTC)" */

    len = body->len - (sizeof(NGX_HTTP_PREP_WINDOW_MARK) - 1)
          + sizeof(before) - 1 + win.text_len + sizeof("\">") - 1
          + sizeof("YYYY-MM-DD a las HH:MM (UTC+HH:MM)") - 1
          + sizeof(after) - 1;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    t = win.text;

    body->len = ngx_sprintf(p, "%*s%s%*s\">%*s a las %*s (UTC%s)%s%*s",
                            (size_t) (mark - body->data), body->data,
                            (u_char *) before,
                            win.text_len, t, (size_t) 10, t, (size_t) 5,
                            t + 11,
                            t[win.text_len - 1] == 'Z'
                            ? (u_char *) ""
                            : t + win.text_len - 6,
                            (u_char *) after,
                            (size_t) (body->data + body->len
                                      - (mark
                                         + sizeof(NGX_HTTP_PREP_WINDOW_MARK)
                                         - 1)),
                            mark + sizeof(NGX_HTTP_PREP_WINDOW_MARK) - 1)
                - p;
    body->data = p;

    return NGX_OK;
}
