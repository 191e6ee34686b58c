
/*
 * Copyright (C) the ngx_prep authors
 *
 * This worker's snapshot mappings.  The worker follows the generation in
 * the zone (on every request and in a cancelable 1 s timer, so an idle
 * worker also lets go of old snapshots), maps the live snapshot and keeps
 * a process-local reference count on each mapping: the worker holds the
 * current one, each request holds the one it serves from until its pool
 * is destroyed, and a superseded mapping goes away with its last holder.
 * Like open_file_cache's "count", never in shared memory, where a crashed
 * worker would leak it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_prep_module.h"


typedef struct {
    ngx_http_prep_zone_t      *zone;
    ngx_http_prep_snapshot_t  *current;
    ngx_http_prep_slot_t      *slot;

    /* the zone generation this worker has acted on */
    ngx_atomic_uint_t          generation;

    /* the generation whose mapping failed, retried by the timer */
    ngx_atomic_uint_t          failed;
    ngx_uint_t                 retry;

    ngx_uint_t                 mapped;
    ngx_uint_t                 old_requests;

    ngx_event_t                timer;
    ngx_log_t                 *log;

    /* the timer's data, for the event debug log, as ngx_cleaner_event */
    ngx_connection_t           dumb;
} ngx_http_prep_worker_t;


static void ngx_http_prep_refresh(ngx_http_prep_worker_t *w,
    ngx_uint_t retry);
static void ngx_http_prep_drop(ngx_http_prep_worker_t *w,
    ngx_http_prep_snapshot_t *s);
static void ngx_http_prep_release(void *data);
static void ngx_http_prep_report(ngx_http_prep_worker_t *w,
    ngx_uint_t corte);
static void ngx_http_prep_timer_handler(ngx_event_t *ev);


static ngx_http_prep_worker_t  ngx_http_prep_worker;


ngx_int_t
ngx_http_prep_map(ngx_str_t *store, u_char *name, size_t len,
    unsigned flags, ngx_http_prep_snapshot_t *s, uint64_t *dev,
    uint64_t *ino, ngx_http_prep_error_t *err)
{
    int                        rc;
    size_t                     n;
    u_char                    *addr;
    ngx_fd_t                   fd;
    ngx_err_t                  e;
    ngx_file_info_t            fi;
    const prep_snap_header_t  *h;
    char                       reason[PREP_ERRLEN];
    u_char                     path[NGX_HTTP_PREP_PATH_LEN];

    ngx_memzero(s, sizeof(ngx_http_prep_snapshot_t));
    s->file.fd = NGX_INVALID_FILE;

    if (len > NGX_HTTP_PREP_NAME_MAX
        || ngx_http_prep_snapshot_path(store, name, len, path, sizeof(path))
           == NULL)
    {
        ngx_http_prep_error(err, "bad_current", 0,
                            "snapshot name \"%*s\" is too long", len, name);
        return NGX_ERROR;
    }

    fd = open((char *) path, O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK);

    if (fd == NGX_INVALID_FILE) {
        e = ngx_errno;
        ngx_http_prep_error(err, "open_failed", e,
                            ngx_open_file_n " \"%s\" failed", path);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        e = ngx_errno;
        ngx_http_prep_error(err, "open_failed", e,
                            ngx_fd_info_n " \"%s\" failed", path);
        goto failed;
    }

    if (!ngx_is_file(&fi)) {
        ngx_http_prep_error(err, "invalid_snapshot", 0,
                            "\"%s\" is not a regular file", path);
        goto failed;
    }

    if (ngx_file_size(&fi) < PREP_SNAP_HEADER_SIZE
        || ngx_file_size(&fi) > NGX_HTTP_PREP_SNAP_MAX_SIZE
        || (uint64_t) ngx_file_size(&fi) > NGX_MAX_SIZE_T_VALUE)
    {
        ngx_http_prep_error(err, "invalid_snapshot", 0,
                            "\"%s\": size %O is out of bounds", path,
                            ngx_file_size(&fi));
        goto failed;
    }

    s->size = (size_t) ngx_file_size(&fi);

    addr = mmap(NULL, s->size, PROT_READ, MAP_SHARED, fd, 0);

    if (addr == MAP_FAILED) {
        e = ngx_errno;
        ngx_http_prep_error(err, "mmap_failed", e,
                            "mmap() \"%s\" failed", path);
        goto failed;
    }

    /* kept for sendfile(); closed with the mapping */
    s->file.fd = fd;
    s->file.log = ngx_cycle->log;

    s->addr = addr;

    rc = prep_snap_open(&s->snap, addr, s->size, flags, reason,
                        sizeof(reason));

    if (rc != PREP_SNAP_OK) {
        ngx_http_prep_error(err, "invalid_snapshot", 0, "\"%s\": %s",
                            path, reason);
        ngx_http_prep_unmap(s);
        return NGX_ERROR;
    }

    h = s->snap.header;

    n = prep_snap_corte_iso8601(h, (char *) s->iso, sizeof(s->iso));

    if (n == 0 || n >= sizeof(s->iso)) {
        ngx_http_prep_error(err, "invalid_snapshot", 0,
                            "\"%s\": the corte time cannot be formatted",
                            path);
        ngx_http_prep_unmap(s);
        return NGX_ERROR;
    }

    s->corte.data = s->iso;
    s->corte.len = n;

    for (n = 0; n < PREP_SNAP_ID_LEN && h->corte_id[n]; n++) {
        s->id[n] = h->corte_id[n];
    }

    s->corte_id.data = s->id;
    s->corte_id.len = n;

    ngx_memcpy(s->name_data, name, len);
    s->name.data = s->name_data;
    s->name.len = len;
    s->file.name = s->name;

    *dev = (uint64_t) fi.st_dev;
    *ino = (uint64_t) ngx_file_uniq(&fi);

    return NGX_OK;

failed:

    (void) ngx_close_file(fd);

    return NGX_ERROR;
}


void
ngx_http_prep_unmap(ngx_http_prep_snapshot_t *s)
{
    if (s->addr == NULL) {
        return;
    }

    if (munmap(s->addr, s->size) == -1) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      "munmap() snapshot \"%V\" failed", &s->name);
    }

    s->addr = NULL;

    if (s->file.fd != NGX_INVALID_FILE) {
        if (ngx_close_file(s->file.fd) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                          ngx_close_file_n " snapshot \"%V\" failed",
                          &s->name);
        }

        s->file.fd = NGX_INVALID_FILE;
    }
}


ngx_int_t
ngx_http_prep_init_worker(ngx_cycle_t *cycle)
{
    ngx_http_prep_worker_t     *w;
    ngx_http_prep_main_conf_t  *pmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    pmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_prep_module);

    if (pmcf == NULL || pmcf->shm_zone == NULL) {
        return NGX_OK;
    }

    w = &ngx_http_prep_worker;

    ngx_memzero(w, sizeof(ngx_http_prep_worker_t));

    w->zone = pmcf->shm_zone->data;
    w->log = cycle->log;

    if (ngx_worker < NGX_HTTP_PREP_MAX_SLOTS) {
        w->slot = &w->zone->sh->slots[ngx_worker];
    }

    ngx_http_prep_refresh(w, 1);
    ngx_http_prep_report(w, 1);

    w->dumb.fd = (ngx_socket_t) -1;

    w->timer.handler = ngx_http_prep_timer_handler;
    w->timer.data = &w->dumb;
    w->timer.log = cycle->log;
    w->timer.cancelable = 1;

    ngx_add_timer(&w->timer, NGX_HTTP_PREP_CHECK_INTERVAL);

    return NGX_OK;
}


void
ngx_http_prep_exit_worker(ngx_cycle_t *cycle)
{
    ngx_http_prep_worker_t    *w;
    ngx_http_prep_snapshot_t  *s;

    w = &ngx_http_prep_worker;

    if (w->zone == NULL) {
        return;
    }

    s = w->current;
    w->current = NULL;

    if (s) {
        w->old_requests += s->refs - 1;
        ngx_http_prep_drop(w, s);
    }
}


ngx_http_prep_snapshot_t *
ngx_http_prep_current(void)
{
    ngx_http_prep_worker_t  *w;

    w = &ngx_http_prep_worker;

    if (w->zone == NULL) {
        return NULL;
    }

    if (w->zone->sh->generation != w->generation) {
        ngx_http_prep_refresh(w, 0);
    }

    return w->current;
}


ngx_int_t
ngx_http_prep_hold(ngx_http_request_t *r, ngx_http_prep_snapshot_t *s)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_prep_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_prep_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_prep_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_prep_module);
    }

    if (ctx->snapshot == s) {
        return NGX_OK;
    }

    /* the request pool outlives every buffer pointing into the mapping */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_prep_release;
    cln->data = s;

    s->refs++;
    ctx->snapshot = s;

    return NGX_OK;
}


ngx_http_prep_snapshot_t *
ngx_http_prep_request_snapshot(ngx_http_request_t *r)
{
    ngx_http_prep_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_prep_module);

    return ctx ? ctx->snapshot : NULL;
}


static void
ngx_http_prep_refresh(ngx_http_prep_worker_t *w, ngx_uint_t retry)
{
    uint64_t                   dev, ino;
    ngx_atomic_uint_t          generation;
    ngx_http_prep_live_t       live;
    ngx_http_prep_error_t      err;
    ngx_http_prep_snapshot_t  *s, *old;

    if (w->zone->sh->generation == w->generation
        && !(retry && w->retry))
    {
        return;
    }

    ngx_http_prep_read_live(w->zone, &live, &generation);

    w->generation = generation;
    old = w->current;

    if (live.name_len == 0) {
        w->retry = 0;

        if (old) {
            ngx_log_error(NGX_LOG_NOTICE, w->log, 0,
                          "prep: corte %V withdrawn, answering 503",
                          &old->corte_id);

            w->current = NULL;
            w->old_requests += old->refs - 1;
            ngx_http_prep_drop(w, old);
        }

        ngx_http_prep_report(w, 1);
        return;
    }

    if (old
        && old->name.len == live.name_len
        && ngx_memcmp(old->name.data, live.name, live.name_len) == 0
        && old->dev == live.dev
        && old->ino == live.ino)
    {
        old->generation = generation;
        w->retry = 0;
        ngx_http_prep_report(w, 1);
        return;
    }

    s = ngx_alloc(sizeof(ngx_http_prep_snapshot_t), w->log);
    if (s == NULL) {
        w->retry = 1;
        return;
    }

    if (ngx_http_prep_map(&w->zone->store, live.name, live.name_len, 0, s,
                          &dev, &ino, &err)
        == NGX_OK
        && (dev != live.dev || ino != live.ino))
    {
        ngx_http_prep_unmap(s);
        ngx_http_prep_error(&err, "invalid_snapshot", 0,
                            "\"%V/" NGX_HTTP_PREP_CORTES_DIR "%s\" was "
                            "replaced after it was validated",
                            &w->zone->store, live.name);
    }

    if (s->addr == NULL) {
        ngx_free(s);

        /* the timer retries; say it once per generation */

        if (w->failed != generation) {
            ngx_log_error(NGX_LOG_ERR, w->log, 0,
                          "prep: cannot map corte %s: %s; %s", live.corte_id,
                          err.reason, old ? "still serving the previous one"
                                          : "answering 503");
            w->failed = generation;
        }

        w->retry = 1;
        return;
    }

    s->refs = 1;
    s->generation = generation;
    s->dev = dev;
    s->ino = ino;

    w->current = s;
    w->mapped++;
    w->retry = 0;

    ngx_log_error(NGX_LOG_INFO, w->log, 0,
                  "prep: worker maps corte %V (%V), generation %uA",
                  &s->corte_id, &s->corte, generation);

    if (old) {
        /* its requests now hold a superseded snapshot */
        w->old_requests += old->refs - 1;
        ngx_http_prep_drop(w, old);
    }

    ngx_http_prep_report(w, 1);
}


/* the worker lets go of its own hold on s */

static void
ngx_http_prep_drop(ngx_http_prep_worker_t *w, ngx_http_prep_snapshot_t *s)
{
    if (--s->refs) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, w->log, 0,
                   "prep: unmap corte %V", &s->corte_id);

    ngx_http_prep_unmap(s);
    ngx_free(s);

    w->mapped--;
}


/* pool cleanup: a request is done with its snapshot */

static void
ngx_http_prep_release(void *data)
{
    ngx_http_prep_snapshot_t *s = data;

    ngx_http_prep_worker_t  *w;

    w = &ngx_http_prep_worker;

    if (s == w->current) {
        /* the worker's own hold keeps it: nothing to report */
        s->refs--;
        return;
    }

    w->old_requests--;

    if (s->refs == 1) {
        ngx_log_error(NGX_LOG_INFO, w->log, 0,
                      "prep: last request on corte %V done, unmapped",
                      &s->corte_id);
    }

    ngx_http_prep_drop(w, s);

    ngx_http_prep_report(w, 0);
}


/*
 * Publishes this worker's state in its slot for the control endpoint.
 * An exiting worker stops: a new worker with the same number owns the
 * slot now.
 */

static void
ngx_http_prep_report(ngx_http_prep_worker_t *w, ngx_uint_t corte)
{
    ngx_http_prep_slot_t  *slot;

    slot = w->slot;

    if (slot == NULL || ngx_exiting || ngx_terminate) {
        return;
    }

    slot->pid = (ngx_atomic_uint_t) ngx_pid;
    slot->generation = w->current ? w->current->generation : 0;
    slot->mapped = w->mapped;
    slot->old_requests = w->old_requests;

    if (!corte) {
        return;
    }

    ngx_shmtx_lock(&w->zone->shpool->mutex);

    if (w->current) {
        ngx_memcpy(slot->corte_id, w->current->corte_id.data,
                   w->current->corte_id.len);
        slot->corte_id_len = w->current->corte_id.len;

    } else {
        slot->corte_id_len = 0;
    }

    ngx_shmtx_unlock(&w->zone->shpool->mutex);
}


static void
ngx_http_prep_timer_handler(ngx_event_t *ev)
{
    ngx_http_prep_worker_t  *w;

    w = &ngx_http_prep_worker;

    if (ngx_exiting || ngx_terminate) {
        return;
    }

    ngx_http_prep_refresh(w, 1);
    ngx_http_prep_report(w, 1);

    ngx_add_timer(ev, NGX_HTTP_PREP_CHECK_INTERVAL);
}
