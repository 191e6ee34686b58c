
/*
 * Copyright (C) the ngx_prep authors
 *
 * The prep_control endpoint, for a server listening on a unix socket:
 * GET answers the published corte and each worker's state as JSON,
 * POST .../reload publishes STORE/current after validating it fully.
 * Connections that are not AF_UNIX are refused: the socket's file mode is
 * the access control, and the kernel names the peer (SO_PEERCRED), which
 * is logged for every POST.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_prep_module.h"


#define NGX_HTTP_PREP_RELOAD         "/reload"
#define NGX_HTTP_PREP_UNPROCESSABLE  422
#define NGX_HTTP_PREP_UTC_LEN        sizeof("1970-01-01T00:00:00Z")

/* room for a key, quotes, separators and a number */
#define NGX_HTTP_PREP_JSON_FIELD     (64 + NGX_ATOMIC_T_LEN)


static ngx_int_t ngx_http_prep_control_status(ngx_http_request_t *r,
    ngx_http_prep_zone_t *zone);
static ngx_int_t ngx_http_prep_control_reload(ngx_http_request_t *r,
    ngx_http_prep_zone_t *zone);
static void ngx_http_prep_log_peer(ngx_http_request_t *r);
static size_t ngx_http_prep_live_len(ngx_http_prep_live_t *live);
static u_char *ngx_http_prep_live_json(u_char *p,
    ngx_http_prep_live_t *live, ngx_atomic_uint_t generation);
static ngx_int_t ngx_http_prep_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, u_char *reason);


ngx_int_t
ngx_http_prep_control_handler(ngx_http_request_t *r)
{
    size_t                      len;
    ngx_int_t                   rc;
    ngx_http_prep_zone_t       *zone;
    ngx_http_prep_main_conf_t  *pmcf;

#if (NGX_HAVE_UNIX_DOMAIN)
    if (r->connection->sockaddr->sa_family != AF_UNIX)
#endif
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "prep: control request refused, the connection is "
                      "not on a unix socket");
        return NGX_HTTP_FORBIDDEN;
    }

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_prep_module);
    zone = pmcf->shm_zone->data;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_prep_control_status(r, zone);
    }

    if (r->method == NGX_HTTP_POST) {
        ngx_http_prep_log_peer(r);

        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        len = sizeof(NGX_HTTP_PREP_RELOAD) - 1;

        if (r->uri.len >= len
            && ngx_strncmp(r->uri.data + r->uri.len - len,
                           NGX_HTTP_PREP_RELOAD, len)
               == 0)
        {
            return ngx_http_prep_control_reload(r, zone);
        }

        return ngx_http_prep_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        (u_char *) "POST is only for "
                                        "\".../reload\"");
    }

    if (ngx_http_prep_add_header(r, "Allow", "GET, HEAD, POST") == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_HTTP_NOT_ALLOWED;
}


static void
ngx_http_prep_log_peer(ngx_http_request_t *r)
{
#if (NGX_LINUX) && defined(SO_PEERCRED)
    struct ucred  cred;
    socklen_t     len;

    len = sizeof(struct ucred);

    if (getsockopt(r->connection->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)
        == -1)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_socket_errno,
                      "prep: getsockopt(SO_PEERCRED) failed");
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "prep: control %V \"%V\" from uid %ui pid %P",
                  &r->method_name, &r->uri, (ngx_uint_t) cred.uid,
                  (ngx_pid_t) cred.pid);
#else
    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "prep: control %V \"%V\"", &r->method_name, &r->uri);
#endif
}


static ngx_int_t
ngx_http_prep_control_status(ngx_http_request_t *r,
    ngx_http_prep_zone_t *zone)
{
    u_char                 *p;
    size_t                  len;
    ngx_buf_t              *b;
    ngx_uint_t              i, n;
    ngx_core_conf_t        *ccf;
    ngx_atomic_uint_t       generation;
    ngx_http_prep_live_t    live;
    ngx_http_prep_slot_t   *slots, *slot;
    ngx_http_prep_suspension_t  sus;

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);

    n = (ngx_process == NGX_PROCESS_SINGLE) ? 1 : ccf->worker_processes;
    n = ngx_min(n, NGX_HTTP_PREP_MAX_SLOTS);

    slots = ngx_palloc(r->pool, n * sizeof(ngx_http_prep_slot_t));
    if (slots == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* this worker's own slot first, so that it is fresh */
    (void) ngx_http_prep_current();

    ngx_shmtx_lock(&zone->shpool->mutex);

    live = zone->sh->live;
    generation = zone->sh->generation;
    ngx_memcpy(slots, zone->sh->slots, n * sizeof(ngx_http_prep_slot_t));

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_prep_suspension_read(zone, &sus);

    len = sizeof("{\"store\":,\"workers\":[]}" CRLF)
          + ngx_http_prep_suspension_json_len()
          + ngx_http_prep_json_len(zone->store.data, zone->store.len)
          + ngx_http_prep_live_len(&live)
          + n * (6 * NGX_HTTP_PREP_JSON_FIELD
                 + ngx_http_prep_json_len(slots[0].corte_id,
                                          PREP_SNAP_ID_LEN));

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, "{\"store\":", sizeof("{\"store\":") - 1);
    p = ngx_http_prep_json_str(p, zone->store.data, zone->store.len);
    *p++ = ',';
    p = ngx_http_prep_live_json(p, &live, generation);
    p = ngx_cpymem(p, ",\"workers\":[", sizeof(",\"workers\":[") - 1);

    for (i = 0; i < n; i++) {
        slot = &slots[i];

        p = ngx_sprintf(p, "%s{\"worker\":%ui,\"pid\":%uA,\"generation\":%uA,"
                        "\"corte_id\":",
                        i ? "," : "", i, slot->pid, slot->generation);

        if (slot->corte_id_len && slot->corte_id_len <= PREP_SNAP_ID_LEN) {
            p = ngx_http_prep_json_str(p, slot->corte_id,
                                       slot->corte_id_len);

        } else {
            p = ngx_cpymem(p, "null", sizeof("null") - 1);
        }

        p = ngx_sprintf(p, ",\"mapped\":%uA,\"old_requests\":%uA}",
                        slot->mapped, slot->old_requests);
    }

    *p++ = ']';
    p = ngx_http_prep_suspension_json(p, &sus);
    p = ngx_cpymem(p, "}" CRLF, sizeof("}" CRLF) - 1);

    b->last = p;

    return ngx_http_prep_send_uncacheable(r, NGX_HTTP_OK,
                                          "application/json", b);
}


static ngx_int_t
ngx_http_prep_control_reload(ngx_http_request_t *r,
    ngx_http_prep_zone_t *zone)
{
    u_char                 *p;
    ngx_int_t               rc;
    ngx_buf_t              *b;
    ngx_uint_t              changed;
    ngx_atomic_uint_t       generation;
    ngx_http_prep_live_t    live;
    ngx_http_prep_error_t   err;

    rc = ngx_http_prep_publish(zone, r->connection->log, &live, &generation,
                               &changed, &err);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "prep: reload refused: %s; the previous corte stays",
                      err.reason);

        return ngx_http_prep_send_error(r, NGX_HTTP_PREP_UNPROCESSABLE,
                                        err.error, err.reason);
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "prep: reload: %s corte %s (%s) from \"%s\", "
                  "generation %uA", changed ? "published" : "unchanged",
                  live.corte_id, live.corte, live.name, generation);

    /* this worker switches now, the others on their next request or tick */
    (void) ngx_http_prep_current();

    b = ngx_create_temp_buf(r->pool, sizeof("{\"changed\":false,}" CRLF)
                                     + ngx_http_prep_live_len(&live));
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(b->last, "{\"changed\":%s,",
                    changed ? "true" : "false");
    p = ngx_http_prep_live_json(p, &live, generation);
    p = ngx_cpymem(p, "}" CRLF, sizeof("}" CRLF) - 1);

    b->last = p;

    return ngx_http_prep_send_uncacheable(r, NGX_HTTP_OK,
                                          "application/json", b);
}


static size_t
ngx_http_prep_live_len(ngx_http_prep_live_t *live)
{
    return sizeof("\"generation\":,\"published_at\":,\"corte\":{\"time\":,"
                  "\"id\":,\"text\":,\"package_sha256\":,\"snapshot\":,"
                  "\"entries\":}") - 1
           + NGX_ATOMIC_T_LEN + NGX_HTTP_PREP_UTC_LEN + 2 + NGX_INT32_LEN
           + ngx_http_prep_json_len(live->corte, ngx_strlen(live->corte))
           + ngx_http_prep_json_len(live->corte_id,
                                    ngx_strlen(live->corte_id))
           + ngx_http_prep_json_len(live->corte_text,
                                    ngx_strlen(live->corte_text))
           + ngx_http_prep_json_len(live->sha256, ngx_strlen(live->sha256))
           + ngx_http_prep_json_len(live->name, live->name_len);
}


/* "generation":N,"published_at":...,"corte":{...} or null */

static u_char *
ngx_http_prep_live_json(u_char *p, ngx_http_prep_live_t *live,
    ngx_atomic_uint_t generation)
{
    ngx_tm_t  tm;

    p = ngx_sprintf(p, "\"generation\":%uA,\"published_at\":", generation);

    if (live->name_len == 0) {
        return ngx_cpymem(p, "null,\"corte\":null",
                          sizeof("null,\"corte\":null") - 1);
    }

    ngx_gmtime(live->published_at, &tm);

    p = ngx_sprintf(p, "\"%4d-%02d-%02dT%02d:%02d:%02dZ\"",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

    p = ngx_cpymem(p, ",\"corte\":{\"time\":",
                   sizeof(",\"corte\":{\"time\":") - 1);
    p = ngx_http_prep_json_str(p, live->corte, ngx_strlen(live->corte));

    p = ngx_cpymem(p, ",\"id\":", sizeof(",\"id\":") - 1);
    p = ngx_http_prep_json_str(p, live->corte_id,
                               ngx_strlen(live->corte_id));

    p = ngx_cpymem(p, ",\"text\":", sizeof(",\"text\":") - 1);
    p = ngx_http_prep_json_str(p, live->corte_text,
                               ngx_strlen(live->corte_text));

    p = ngx_cpymem(p, ",\"package_sha256\":",
                   sizeof(",\"package_sha256\":") - 1);
    p = ngx_http_prep_json_str(p, live->sha256, ngx_strlen(live->sha256));

    p = ngx_cpymem(p, ",\"snapshot\":", sizeof(",\"snapshot\":") - 1);
    p = ngx_http_prep_json_str(p, live->name, live->name_len);

    return ngx_sprintf(p, ",\"entries\":%uD}", live->entries);
}


static ngx_int_t
ngx_http_prep_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, u_char *reason)
{
    u_char     *p;
    size_t      len;
    ngx_buf_t  *b;

    len = sizeof("{\"error\":,\"reason\":}" CRLF)
          + ngx_http_prep_json_len((u_char *) error, ngx_strlen(error))
          + ngx_http_prep_json_len(reason, ngx_strlen(reason));

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, "{\"error\":", sizeof("{\"error\":") - 1);
    p = ngx_http_prep_json_str(p, (u_char *) error, ngx_strlen(error));
    p = ngx_cpymem(p, ",\"reason\":", sizeof(",\"reason\":") - 1);
    p = ngx_http_prep_json_str(p, reason, ngx_strlen(reason));
    p = ngx_cpymem(p, "}" CRLF, sizeof("}" CRLF) - 1);

    b->last = p;

    if (status == NGX_HTTP_PREP_UNPROCESSABLE) {
        /* not every nginx version has a reason phrase for it */
        ngx_str_set(&r->headers_out.status_line,
                    "422 Unprocessable Entity");
    }

    return ngx_http_prep_send_uncacheable(r, status, "application/json", b);
}
