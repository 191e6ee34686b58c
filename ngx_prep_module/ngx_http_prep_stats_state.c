
/*
 * Copyright (C) the ngx_prep authors
 *
 * The state file: every counter, HyperLogLog set, period, row and live
 * session of the zone, in the format of libprep/prep_stats_file.h
 * (version 2; a version 1 file of an older build is still restored).
 * The zone is exported into the decoded model (prep_stats_t) and encoded
 * by libprep, and a file is decoded by libprep and imported into the
 * zone (ngx_http_prep_stats_model.c): one implementation of the format,
 * shared with prep-report.  This file decides what is restored and when
 * it is saved; the bytes are read and written by
 * ngx_http_prep_stats_file.c.
 *
 * Saving: a copy of the zone is taken under short locks, encoded outside
 * them and written through libprep's atomic file helper: a temp file,
 * fsynced; the current file hard-linked to PATH.prev (unless it was
 * found corrupt); the temp file renamed over PATH; the directory
 * fsynced.  At every moment PATH is a complete file, old or new.  A
 * failed save (a full disk) leaves PATH and PATH.prev as they were and
 * is retried at the next interval.
 *
 * Restoring, when a zone is created: PATH, else PATH.prev when PATH is
 * unusable; each file is decoded entirely (checksums, every section)
 * before anything in it reaches the zone.  A zone resized on reload is
 * filled from the previous zone through the same model.
 *
 * The file holds the day's key of the visitor hash: it is created 0640;
 * ?format=state serves the same bytes without the keys.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_prep_module.h"
#include "ngx_http_prep_stats.h"


/* how long an exiting worker waits for another one's save */
#define NGX_HTTP_PREP_STATE_WAIT      3000


static ngx_int_t ngx_http_prep_stats_load(ngx_http_prep_stats_zone_t *z,
    u_char *path, ngx_log_t *log, char *err, size_t errlen);
static ngx_int_t ngx_http_prep_stats_fill(ngx_http_prep_stats_zone_t *z,
    u_char *buf, size_t len, char *err, size_t errlen);
static uint64_t ngx_http_prep_stats_zone_changes(
    ngx_http_prep_stats_sh_t *sh);

/* the module's one error builder (ngx_http_prep_store.c), on a char[] */
#define ngx_http_prep_stats_error(err, errlen, ...)                          \
    ngx_http_prep_error_text((u_char *) (err), errlen, __VA_ARGS__)
#define ngx_http_prep_stats_note(dst, ...)                                   \
    ngx_http_prep_error_text(dst, NGX_HTTP_PREP_STATS_ERR_LEN, 0, __VA_ARGS__)


/*
 * Changes what a save would write, so that the file is not rewritten
 * when idle: sh is the zone or a copy, c its session counters (a sweep
 * that only ends visits changes them alone).
 */

uint64_t
ngx_http_prep_stats_changes(ngx_http_prep_stats_sh_t *sh,
    ngx_http_prep_counters_t *c)
{
    return sh->c.hits + c->visits + c->sessions + c->evictions
           + sh->c.bot_hits + sh->nrows + sh->marks;
}


/* the changes of the zone itself, with its session counters frozen */

static uint64_t
ngx_http_prep_stats_zone_changes(ngx_http_prep_stats_sh_t *sh)
{
    ngx_http_prep_counters_t  c;

    (void) ngx_http_prep_stats_sessions_freeze(sh, &c);

    return ngx_http_prep_stats_changes(sh, &c);
}


/* ----------------------------------------------------------- restore */


ngx_int_t
ngx_http_prep_stats_restore(ngx_http_prep_stats_zone_t *z, ngx_log_t *log)
{
    u_char                    *prev;
    ngx_int_t                  rc, rc2;
    ngx_uint_t                 level;
    ngx_http_prep_stats_sh_t  *sh;
    char                       err[NGX_HTTP_PREP_STATS_ERR_LEN];
    char                       err2[NGX_HTTP_PREP_STATS_ERR_LEN];

    sh = z->sh;

    if (z->state.len == 0) {
        ngx_http_prep_stats_note(sh->restored, "nothing: no state file");
        return NGX_OK;
    }

    rc = ngx_http_prep_stats_load(z, z->state.data, log, err, sizeof(err));

    if (rc == NGX_OK) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "prep stats: zone \"%V\" restored from \"%s\": "
                      "%uA hits, %uA paths, %ui live sessions",
                      &z->shm_zone->shm.name, z->state.data, sh->c.hits,
                      sh->nrows - 1, ngx_http_prep_stats_live(sh));

        ngx_http_prep_stats_note(sh->restored, "%s", z->state.data);
        sh->saved_changes = ngx_http_prep_stats_zone_changes(sh);

        return NGX_OK;
    }

    prev = ngx_pnalloc(ngx_cycle->pool, z->state.len + sizeof(".prev"));
    if (prev == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_sprintf(prev, "%V.prev%Z", &z->state);

    if (rc == NGX_ERROR) {
        /* never link a file known to be bad over the good .prev */
        sh->main_bad = 1;

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "prep stats: state file \"%s\" is unusable: %s; "
                      "falling back to \"%s\"", z->state.data, err, prev);
    }

    rc2 = ngx_http_prep_stats_load(z, prev, log, err2, sizeof(err2));

    if (rc2 == NGX_OK) {
        level = (rc == NGX_ERROR) ? NGX_LOG_ERR : NGX_LOG_NOTICE;

        ngx_log_error(level, log, 0,
                      "prep stats: zone \"%V\" restored from the previous "
                      "state file \"%s\": %uA hits, %uA paths, %ui live "
                      "sessions", &z->shm_zone->shm.name, prev, sh->c.hits,
                      sh->nrows - 1, ngx_http_prep_stats_live(sh));

        ngx_http_prep_stats_note(sh->restored, "%s", prev);

        /* write a good PATH at the first save */
        sh->saved_changes = (ngx_atomic_uint_t) -1;

        return NGX_OK;
    }

    if (rc == NGX_DECLINED && rc2 == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "prep stats: no state file \"%s\" yet, zone \"%V\" "
                      "starts from zero", z->state.data,
                      &z->shm_zone->shm.name);

        ngx_http_prep_stats_note(sh->restored, "nothing: no state file yet");
        return NGX_OK;
    }

    if (rc2 == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "prep stats: state file \"%s\" is unusable too: %s",
                      prev, err2);
    }

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "prep stats: no usable state file, zone \"%V\" starts "
                  "from zero", &z->shm_zone->shm.name);

    ngx_http_prep_stats_note(sh->restored, "nothing: the state files are "
                             "unusable");

    return NGX_OK;
}


/*
 * NGX_OK when path was read and applied, NGX_DECLINED when it does not
 * exist, NGX_ERROR (err says why) when it cannot be used; the zone is
 * untouched unless NGX_OK.
 */

static ngx_int_t
ngx_http_prep_stats_load(ngx_http_prep_stats_zone_t *z, u_char *path,
    ngx_log_t *log, char *err, size_t errlen)
{
    u_char     *buf;
    size_t      len;
    ngx_int_t   rc;

    rc = ngx_http_prep_read_file(path, NGX_HTTP_PREP_STATS_STATE_MAX, log,
                                 &buf, &len, (u_char *) err, errlen);

    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_prep_stats_fill(z, buf, len, err, errlen);

    ngx_free(buf);

    return rc;
}


/* decodes the whole file (libprep), then imports it */

static ngx_int_t
ngx_http_prep_stats_fill(ngx_http_prep_stats_zone_t *z, u_char *buf,
    size_t len, char *err, size_t errlen)
{
    ngx_int_t      rc;
    prep_stats_t  *st;

    st = prep_stats_new();
    if (st == NULL) {
        ngx_http_prep_stats_error(err, errlen, 0, "out of memory");
        return NGX_ERROR;
    }

    if (prep_stats_decode(st, buf, len, err, errlen) != 0) {
        prep_stats_free(st);
        return NGX_ERROR;
    }

    rc = ngx_http_prep_stats_import(z, st);

    prep_stats_free(st);

    return rc;
}


/*
 * A zone of another size replaces z's predecessor on reload: its
 * contents go through the state format into the new zone, and the old
 * one is marked so that its last workers do not save it over the file.
 * Requests the old workers finish after this point are not carried over.
 */

ngx_int_t
ngx_http_prep_stats_migrate(ngx_http_prep_stats_zone_t *z,
    ngx_http_prep_stats_zone_t *old, ngx_log_t *log)
{
    ngx_int_t                   rc;
    ngx_pool_t                 *pool;
    prep_stats_t               *st;
    ngx_http_prep_stats_copy_t  copy;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_http_prep_stats_copy(old, &copy, 1, pool) != NGX_OK) {
        goto done;
    }

    st = ngx_http_prep_stats_export(&copy, 1);
    if (st == NULL) {
        goto done;
    }

    rc = ngx_http_prep_stats_import(z, st);

    prep_stats_free(st);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "prep stats: zone \"%V\" cannot take over the "
                      "previous zone", &z->shm_zone->shm.name);
        goto done;
    }

    old->sh->retired = 1;

    z->sh->saved_changes = (ngx_atomic_uint_t) -1;

    ngx_http_prep_stats_note(z->sh->restored, "the previous zone of %uz "
                             "bytes", old->shm_zone->shm.size);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "prep stats: zone \"%V\" resized from %uz to %uz bytes: "
                  "%uA hits, %uA paths, %ui live sessions carried over",
                  &z->shm_zone->shm.name, old->shm_zone->shm.size,
                  z->shm_zone->shm.size, z->sh->c.hits, z->sh->nrows - 1,
                  ngx_http_prep_stats_live(z->sh));

    rc = NGX_OK;

done:

    ngx_destroy_pool(pool);

    return rc;
}


/* -------------------------------------------------------------- save */


/*
 * A save in three steps, so that the middle one (copy, render, write,
 * fsync: milliseconds) can run in a thread pool: begin takes the zone's
 * save lock in the event loop, work does no logging and touches nothing
 * but the zone and the files, end records and logs the outcome and
 * releases the lock.  ngx_http_prep_stats_save() does all three in line.
 */

ngx_int_t
ngx_http_prep_stats_save_begin(ngx_http_prep_stats_save_t *s,
    ngx_http_prep_stats_zone_t *z, ngx_log_t *log, ngx_uint_t exiting)
{
    ngx_uint_t                 i;
    ngx_http_prep_stats_sh_t  *sh;

    ngx_memzero(s, sizeof(ngx_http_prep_stats_save_t));

    s->zone = z;
    s->rc = NGX_DECLINED;

    sh = z->sh;

    if (z->state.len == 0 || sh->retired) {
        return NGX_DECLINED;
    }

    if (ngx_http_prep_stats_trylock(&sh->save_lock)) {
        return NGX_OK;
    }

    if (!exiting) {
        /* another process is saving the same zone: the next tick */
        return NGX_DECLINED;
    }

    /* the last worker to exit must not skip its save */

    for (i = 0; i < NGX_HTTP_PREP_STATE_WAIT / 10; i++) {
        ngx_msleep(10);

        if (ngx_http_prep_stats_trylock(&sh->save_lock)) {
            return NGX_OK;
        }
    }

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "prep stats: state file \"%s\" not saved at exit: "
                  "another process kept saving for %d ms",
                  z->state.data, NGX_HTTP_PREP_STATE_WAIT);

    return NGX_ERROR;
}


void
ngx_http_prep_stats_save_work(ngx_http_prep_stats_save_t *s)
{
    u_char                      *buf;
    ngx_pool_t                  *pool;
    ngx_http_prep_stats_sh_t    *sh;
    ngx_http_prep_stats_zone_t  *z;

    z = s->zone;
    sh = z->sh;

    s->rc = NGX_ERROR;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ngx_cycle->log);
    if (pool == NULL) {
        ngx_http_prep_stats_error(s->err, sizeof(s->err), 0,
                                  "out of memory");
        return;
    }

    /* nothing new: no copy encoded */
    s->changes = ngx_http_prep_stats_zone_changes(sh);

    if (s->changes == sh->saved_changes) {
        s->rc = NGX_DECLINED;
        goto done;
    }

    buf = ngx_http_prep_stats_encode(z, pool, 1, &s->changes, &s->len,
                                     s->err, sizeof(s->err));
    if (buf == NULL) {
        goto done;
    }

    s->rc = ngx_http_prep_stats_file_write(z->state.data, buf, s->len,
                                           !sh->main_bad, &s->replaced,
                                           s->err, sizeof(s->err));

done:

    ngx_destroy_pool(pool);
}


void
ngx_http_prep_stats_save_end(ngx_http_prep_stats_save_t *s, ngx_log_t *log)
{
    ngx_uint_t                   logged;
    ngx_http_prep_stats_sh_t    *sh;
    ngx_http_prep_stats_zone_t  *z;

    z = s->zone;
    sh = z->sh;

    /*
     * only the holder of save_lock writes the fields of the last save, so
     * they are read here without more; they are written under the slab
     * mutex, which the status location's copy of the zone takes, so that
     * a copy never shows a failure counted with its reason not yet there
     * (the log line written between the two took long enough for a
     * status request to see "errors": 1, "last_error": null)
     */

    if (s->rc == NGX_OK) {

        if (sh->last_error_time) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "prep stats: state file \"%s\" saved again",
                          z->state.data);
        }

        ngx_shmtx_lock(&z->shpool->mutex);

        sh->main_bad = 0;
        sh->saved_changes = s->changes;
        sh->last_save = ngx_time();
        sh->last_error_time = 0;
        sh->last_error[0] = '\0';
        (void) ngx_atomic_fetch_add(&sh->saves, 1);

        ngx_shmtx_unlock(&z->shpool->mutex);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                       "prep stats: saved \"%s\", %uz bytes",
                       z->state.data, s->len);

    } else if (s->rc == NGX_BUSY) {

        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "prep stats: not saved this time: %s", s->err);

    } else if (s->rc == NGX_ERROR) {

        /* once a minute while it keeps failing; never [crit]: serving
         * goes on */

        logged = 0;

        if (sh->last_error_time == 0
            || ngx_time() - (time_t) sh->last_error_time >= 60
            || ngx_strcmp(sh->last_error, s->err) != 0)
        {
            if (s->replaced) {
                /* retried at the next interval all the same */
                ngx_log_error(NGX_LOG_ERR, log, 0,
                              "prep stats: state file \"%s\" written but "
                              "perhaps not durably: %s", z->state.data,
                              s->err);

            } else {
                ngx_log_error(NGX_LOG_ERR, log, 0,
                              "prep stats: state file \"%s\" not saved: "
                              "%s; the previous one is kept",
                              z->state.data, s->err);
            }

            logged = 1;
        }

        ngx_shmtx_lock(&z->shpool->mutex);

        if (logged) {
            sh->last_error_time = ngx_time();
        }

        ngx_http_prep_stats_note(sh->last_error, "%s", s->err);
        (void) ngx_atomic_fetch_add(&sh->save_errors, 1);

        ngx_shmtx_unlock(&z->shpool->mutex);
    }

    ngx_http_prep_stats_unlock(&sh->save_lock);
}


/*
 * Writes the state file from a copy of the zone, in line.  NGX_OK when
 * written, NGX_DECLINED when there was nothing to do (no state file,
 * nothing new, another process saving), NGX_ERROR when it failed
 * (logged; the old files stay).
 */

ngx_int_t
ngx_http_prep_stats_save(ngx_http_prep_stats_zone_t *z, ngx_log_t *log,
    ngx_uint_t exiting)
{
    ngx_int_t                   rc;
    ngx_http_prep_stats_save_t  s;

    rc = ngx_http_prep_stats_save_begin(&s, z, log, exiting);

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_http_prep_stats_save_work(&s);
    ngx_http_prep_stats_save_end(&s, log);

    return s.rc;
}
