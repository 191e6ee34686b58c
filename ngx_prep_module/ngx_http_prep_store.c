
/*
 * Copyright (C) the ngx_prep authors
 *
 * The shared zone of the swap protocol and the publication of
 * STORE/current: resolve the link, validate the snapshot fully, then make
 * it the live name and bump the generation.  Runs in the master when the
 * zone is initialised (start, reload) and in the worker that receives
 * POST /reload on the control endpoint.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_prep_module.h"


/* a publication retried because "current" moved while being validated */
#define NGX_HTTP_PREP_PUBLISH_TRIES  3

#define NGX_HTTP_PREP_SNAP_SUFFIX    ".snap"


static ngx_int_t ngx_http_prep_readlink(ngx_str_t *store, u_char *name,
    size_t *len, ngx_http_prep_error_t *err);
static ngx_int_t ngx_http_prep_name_ok(u_char *target, size_t len);
static void ngx_http_prep_live_fill(ngx_http_prep_live_t *live,
    ngx_http_prep_snapshot_t *s, uint64_t dev, uint64_t ino);
static ngx_int_t ngx_http_prep_same_live(ngx_http_prep_live_t *a,
    ngx_http_prep_live_t *b);


/*
 * The one builder of the module's error texts: fmt, then " (errno:
 * strerror)" when errnum is set, always NUL-terminated within size.
 */

void
ngx_http_prep_error_text(u_char *buf, size_t size, ngx_err_t errnum,
    const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_http_prep_verror_text(buf, size, errnum, fmt, args);
    va_end(args);
}


void
ngx_http_prep_verror_text(u_char *buf, size_t size, ngx_err_t errnum,
    const char *fmt, va_list args)
{
    u_char  *p, *last;

    last = buf + size - 1;

    p = ngx_vslprintf(buf, last, fmt, args);

    if (errnum) {
        p = ngx_slprintf(p, last, " (%d: ", errnum);
        p = ngx_strerror(errnum, p, last - p);
        p = ngx_slprintf(p, last, ")");
    }

    *p = '\0';
}


void
ngx_http_prep_error(ngx_http_prep_error_t *err, const char *code,
    ngx_err_t errnum, const char *fmt, ...)
{
    va_list  args;

    err->error = code;

    va_start(args, fmt);
    ngx_http_prep_verror_text(err->reason, sizeof(err->reason), errnum, fmt,
                              args);
    va_end(args);
}


u_char *
ngx_http_prep_snapshot_path(ngx_str_t *store, u_char *name, size_t len,
    u_char *buf, size_t size)
{
    u_char  *p;

    if (store->len + sizeof("/" NGX_HTTP_PREP_CORTES_DIR) + len > size) {
        return NULL;
    }

    p = ngx_cpymem(buf, store->data, store->len);
    p = ngx_cpymem(p, "/" NGX_HTTP_PREP_CORTES_DIR,
                   sizeof("/" NGX_HTTP_PREP_CORTES_DIR) - 1);
    p = ngx_cpymem(p, name, len);
    *p = '\0';

    return buf;
}


/*
 * STORE/current must be a relative link "cortes/<name>.snap": anything
 * else (absolute, "..", a temporary file) is not a published snapshot.
 */

static ngx_int_t
ngx_http_prep_readlink(ngx_str_t *store, u_char *name, size_t *len,
    ngx_http_prep_error_t *err)
{
    u_char     *p;
    ssize_t     n;
    ngx_err_t   e;
    u_char      path[NGX_HTTP_PREP_STORE_MAX + sizeof("/current")];
    u_char      target[NGX_HTTP_PREP_PATH_LEN];

    p = ngx_cpymem(path, store->data, store->len);
    (void) ngx_cpystrn(p, (u_char *) "/current", sizeof("/current"));

    n = readlink((char *) path, (char *) target, sizeof(target));

    if (n == -1) {
        e = ngx_errno;

        if (e == NGX_ENOENT) {
            ngx_http_prep_error(err, "no_current", 0,
                                "\"%s\" does not exist", path);
            return NGX_DECLINED;
        }

        if (e == NGX_EINVAL) {
            ngx_http_prep_error(err, "bad_current", 0,
                                "\"%s\" is not a symbolic link", path);
            return NGX_ERROR;
        }

        ngx_http_prep_error(err, "bad_current", e,
                            "readlink() \"%s\" failed", path);
        return NGX_ERROR;
    }

    if ((size_t) n == sizeof(target)) {
        ngx_http_prep_error(err, "bad_current", 0,
                            "\"%s\" points to a too long name", path);
        return NGX_ERROR;
    }

    if (ngx_http_prep_name_ok(target, n) != NGX_OK) {
        ngx_http_prep_error(err, "bad_current", 0,
                            "\"%s\" points to \"%*s\", not to "
                            NGX_HTTP_PREP_CORTES_DIR "<name>"
                            NGX_HTTP_PREP_SNAP_SUFFIX,
                            path, (size_t) n, target);
        return NGX_ERROR;
    }

    *len = n - (sizeof(NGX_HTTP_PREP_CORTES_DIR) - 1);
    ngx_memcpy(name, target + sizeof(NGX_HTTP_PREP_CORTES_DIR) - 1, *len);
    name[*len] = '\0';

    return NGX_OK;
}


static ngx_int_t
ngx_http_prep_name_ok(u_char *target, size_t len)
{
    size_t   dir, suffix;
    u_char  *p, *last;

    dir = sizeof(NGX_HTTP_PREP_CORTES_DIR) - 1;
    suffix = sizeof(NGX_HTTP_PREP_SNAP_SUFFIX) - 1;

    if (len <= dir + suffix
        || len - dir > NGX_HTTP_PREP_NAME_MAX
        || ngx_strncmp(target, NGX_HTTP_PREP_CORTES_DIR, dir) != 0
        || ngx_strncmp(target + len - suffix, NGX_HTTP_PREP_SNAP_SUFFIX,
                       suffix) != 0
        || target[dir] == '.')
    {
        return NGX_ERROR;
    }

    last = target + len;

    for (p = target + dir; p < last; p++) {
        if (*p == '/' || *p <= 0x20 || *p >= 0x7f) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_prep_live_fill(ngx_http_prep_live_t *live,
    ngx_http_prep_snapshot_t *s, uint64_t dev, uint64_t ino)
{
    size_t                     n;
    const prep_snap_header_t  *h;

    h = s->snap.header;

    ngx_memzero(live, sizeof(ngx_http_prep_live_t));

    ngx_memcpy(live->name, s->name.data, s->name.len);
    live->name_len = s->name.len;
    live->dev = dev;
    live->ino = ino;

    live->corte_time = (time_t) h->corte_time;
    live->entries = s->snap.nentries;

    ngx_memcpy(live->corte, s->corte.data, s->corte.len);
    ngx_memcpy(live->corte_id, s->corte_id.data, s->corte_id.len);

    for (n = 0; n < PREP_SNAP_TEXT_LEN && h->corte_text[n]; n++) {
        /* void */
    }

    ngx_memcpy(live->corte_text, h->corte_text, n);

    (void) ngx_hex_dump(live->sha256, (u_char *) h->package_sha256,
                        PREP_SHA256_LEN);
}


static ngx_int_t
ngx_http_prep_same_live(ngx_http_prep_live_t *a, ngx_http_prep_live_t *b)
{
    return a->name_len == b->name_len
           && ngx_memcmp(a->name, b->name, a->name_len) == 0
           && a->dev == b->dev
           && a->ino == b->ino;
}


/*
 * Returns NGX_OK with the live state (published now or already live),
 * NGX_DECLINED when there is no "current", NGX_ERROR when it is refused;
 * err says why.  The previous live snapshot stays unless NGX_OK.
 */

ngx_int_t
ngx_http_prep_publish(ngx_http_prep_zone_t *zone, ngx_log_t *log,
    ngx_http_prep_live_t *live, ngx_atomic_uint_t *generation,
    ngx_uint_t *changed, ngx_http_prep_error_t *err)
{
    size_t                     len, len2;
    uint64_t                   dev, ino;
    ngx_int_t                  rc;
    ngx_uint_t                 try;
    ngx_http_prep_live_t       cand;
    ngx_http_prep_shctx_t     *sh;
    ngx_http_prep_error_t      err2;
    ngx_http_prep_snapshot_t   s;
    u_char                     name[NGX_HTTP_PREP_PATH_LEN];
    u_char                     name2[NGX_HTTP_PREP_PATH_LEN];

    sh = zone->sh;
    *changed = 0;

    ngx_http_prep_suspension_load(zone, log);

    for (try = 0; try < NGX_HTTP_PREP_PUBLISH_TRIES; try++) {

        rc = ngx_http_prep_readlink(&zone->store, name, &len, err);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_http_prep_map(&zone->store, name, len, PREP_SNAP_VERIFY_DATA,
                              &s, &dev, &ino, err)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_http_prep_live_fill(&cand, &s, dev, ino);
        ngx_http_prep_unmap(&s);

        ngx_shmtx_lock(&zone->shpool->mutex);

        /* "current" may have been flipped while the data was checked */

        rc = ngx_http_prep_readlink(&zone->store, name2, &len2, &err2);

        if (rc == NGX_OK
            && len2 == len
            && ngx_memcmp(name2, name, len) == 0)
        {
            if (!ngx_http_prep_same_live(&sh->live, &cand)) {
                cand.published_at = ngx_time();
                sh->live = cand;
                (void) ngx_atomic_fetch_add(&sh->generation, 1);
                *changed = 1;
            }

            *live = sh->live;
            *generation = sh->generation;

            ngx_shmtx_unlock(&zone->shpool->mutex);

            return NGX_OK;
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "prep: \"%V/current\" changed while \"%s\" was "
                      "validated, again", &zone->store, name);
    }

    ngx_http_prep_error(err, "current_unstable", 0,
                        "\"%V/current\" kept changing while being validated",
                        &zone->store);

    return NGX_ERROR;
}


void
ngx_http_prep_read_live(ngx_http_prep_zone_t *zone,
    ngx_http_prep_live_t *live, ngx_atomic_uint_t *generation)
{
    ngx_shmtx_lock(&zone->shpool->mutex);

    *live = zone->sh->live;
    *generation = zone->sh->generation;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


ngx_int_t
ngx_http_prep_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_prep_zone_t *ozone = data;

    size_t                  len;
    ngx_int_t               rc;
    ngx_log_t              *log;
    ngx_uint_t              changed, level;
    ngx_atomic_uint_t       generation;
    ngx_http_prep_live_t    live;
    ngx_http_prep_zone_t   *zone;
    ngx_http_prep_shctx_t  *sh;
    ngx_http_prep_error_t   err;

    zone = shm_zone->data;
    log = shm_zone->shm.log;

    if (ozone) {
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

    } else {
        zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

        if (shm_zone->shm.exists) {
            zone->sh = zone->shpool->data;
            return NGX_OK;
        }

        zone->sh = ngx_slab_calloc(zone->shpool,
                                   sizeof(ngx_http_prep_shctx_t));
        if (zone->sh == NULL) {
            return NGX_ERROR;
        }

        zone->shpool->data = zone->sh;

        len = sizeof(" in prep zone \"\"") + shm_zone->shm.name.len;

        zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
        if (zone->shpool->log_ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(zone->shpool->log_ctx, " in prep zone \"%V\"%Z",
                    &shm_zone->shm.name);
    }

    sh = zone->sh;

    /*
     * "nginx -t" only checks the configuration: the full check of the
     * snapshot (a CRC of every byte) and the "published" notice belong
     * to the nginx that will serve it
     */

    if (ngx_test_config) {
        return NGX_OK;
    }

    /* a live name means nothing in another store */

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (sh->store_len != zone->store.len
        || ngx_memcmp(sh->store, zone->store.data, zone->store.len) != 0)
    {
        ngx_memcpy(sh->store, zone->store.data, zone->store.len);
        sh->store_len = zone->store.len;

        if (sh->live.name_len) {
            sh->live.name_len = 0;
            (void) ngx_atomic_fetch_add(&sh->generation, 1);
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    rc = ngx_http_prep_publish(zone, log, &live, &generation, &changed,
                               &err);

    if (rc == NGX_OK) {
        level = changed ? NGX_LOG_NOTICE : NGX_LOG_INFO;

        ngx_log_error(level, log, 0,
                      "prep: %s corte %s (%s) from \"%V/"
                      NGX_HTTP_PREP_CORTES_DIR "%s\", generation %uA",
                      changed ? "published" : "still serving",
                      live.corte_id, live.corte, &zone->store, live.name,
                      generation);
        return NGX_OK;
    }

    ngx_http_prep_read_live(zone, &live, &generation);

    level = (rc == NGX_DECLINED) ? NGX_LOG_WARN : NGX_LOG_ERR;

    if (live.name_len) {
        ngx_log_error(level, log, 0, "prep: %s; still serving corte %s (%s)",
                      err.reason, live.corte_id, live.name);
        return NGX_OK;
    }

    ngx_log_error(level, log, 0,
                  "prep: %s; nothing published, answering 503", err.reason);

    return NGX_OK;
}
