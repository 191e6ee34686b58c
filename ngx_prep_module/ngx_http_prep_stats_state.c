
/*
 * Copyright (C) the ngx_prep authors
 *
 * The state file: every counter, HyperLogLog set, period, row and live
 * session of the zone, in the format of libprep/prep_stats_file.h
 * (version 2; a version 1 file of an older build is still restored).
 * The zone is exported into the decoded model (prep_stats_t) and encoded
 * by libprep, and a file is decoded by libprep and imported into the
 * zone: one implementation of the format, shared with prep-report.
 *
 * Saving: a copy of the zone is taken under short locks, encoded outside
 * them, written to PATH.tmp and fsynced; the current file is hard-linked
 * to PATH.prev (unless it was found corrupt), PATH.tmp is renamed over
 * PATH and the directory is fsynced.  At every moment PATH is a complete
 * file, old or new.  A failed save (a full disk) leaves PATH and
 * PATH.prev as they were and is retried at the next interval.
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

#include <sys/file.h>

#include "ngx_http_prep_stats.h"


/* how long an exiting worker waits for another one's save */
#define NGX_HTTP_PREP_STATE_WAIT      3000


static prep_stats_t *ngx_http_prep_stats_export(
    ngx_http_prep_stats_copy_t *copy, ngx_uint_t salts);
static void ngx_http_prep_stats_export_ring(prep_stats_period_t *to,
    ngx_http_prep_period_t *from, ngx_uint_t n);
static ngx_int_t ngx_http_prep_stats_import(ngx_http_prep_stats_zone_t *z,
    prep_stats_t *st);
static void ngx_http_prep_stats_import_ring(ngx_http_prep_period_t *to,
    prep_stats_period_t *from, ngx_uint_t n);
static u_char *ngx_http_prep_stats_encode(ngx_http_prep_stats_zone_t *z,
    ngx_pool_t *pool, ngx_uint_t salts, uint64_t *changes, size_t *len,
    char *err, size_t errlen);
static ngx_int_t ngx_http_prep_stats_load(ngx_http_prep_stats_zone_t *z,
    u_char *path, ngx_log_t *log, char *err, size_t errlen);
static ngx_int_t ngx_http_prep_stats_fill(ngx_http_prep_stats_zone_t *z,
    u_char *buf, size_t len, char *err, size_t errlen);
static ngx_int_t ngx_http_prep_stats_write(u_char *path, u_char *buf,
    size_t len, ngx_uint_t keep_prev, char *err, size_t errlen);
static void ngx_http_prep_stats_error(char *err, size_t errlen,
    ngx_err_t errnum, const char *fmt, ...);
static void ngx_http_prep_stats_note(u_char *dst, const char *fmt, ...);


/* changes what a save would write: the file is not rewritten when idle */

uint64_t
ngx_http_prep_stats_changes(ngx_http_prep_stats_sh_t *sh)
{
    return sh->c.hits + sh->c.visits + sh->c.sessions + sh->c.evictions
           + sh->c.bot_hits + sh->nrows + sh->marks;
}


/* ------------------------------------------------------------ export */


/* the zone's copy as the decoded model; NULL: out of memory */

static prep_stats_t *
ngx_http_prep_stats_export(ngx_http_prep_stats_copy_t *copy,
    ngx_uint_t salts)
{
    u_char                    *arena;
    uint64_t                   first;
    ngx_uint_t                 i, j;
    ngx_time_t                *tp;
    prep_stats_t              *st;
    prep_stats_row_t          *row;
    prep_stats_period_t       *p, *b;
    prep_stats_totals_t       *t;
    ngx_http_prep_row_t       *rows;
    ngx_http_prep_corte_t     *c;
    ngx_http_prep_stats_sh_t  *sh;

    sh = copy->sh;

    st = prep_stats_new();
    if (st == NULL) {
        return NULL;
    }

    tp = ngx_timeofday();

    st->created = tp->sec;
    st->since = sh->since;
    st->utc_offset = (int64_t) tp->gmtoff * 60;
    st->key_id = 0;                     /* a random key of this origin */
    st->paths_max = sh->paths_max;

    t = &st->totals;
    t->hits = sh->c.hits;
    t->pages = sh->c.pages;
    t->bytes = sh->c.bytes;

    for (i = 0; i < NGX_HTTP_PREP_STATS_CLASSES; i++) {
        t->classes[i] = sh->c.classes[i];
    }

    t->visits = sh->c.visits;
    t->sessions = sh->c.sessions;
    t->session_ms = sh->c.session_ms;

    for (i = 0; i < NGX_HTTP_PREP_STATS_HISTOGRAM; i++) {
        t->histogram[i] = sh->c.histogram[i];
    }

    t->evictions = sh->c.evictions;
    t->unlisted = sh->c.unlisted;
    t->bot_hits = sh->c.bot_hits;
    t->bot_bytes = sh->c.bot_bytes;

    /* the keys of the visitor hash stay on this machine */
    if (salts) {
        for (i = 0; i < 2; i++) {
            st->salts[i].day = sh->salts[i].day;
            ngx_memcpy(st->salts[i].key, sh->salts[i].key, 16);
        }
    }

    ngx_http_prep_stats_export_ring(st->buckets, sh->buckets,
                                    NGX_HTTP_PREP_STATS_BUCKETS);
    ngx_http_prep_stats_export_ring(st->hours, sh->hours,
                                    NGX_HTTP_PREP_STATS_HOURS);
    ngx_http_prep_stats_export_ring(st->days, sh->days,
                                    NGX_HTTP_PREP_STATS_DAYS);

    /*
     * the zone's hours keep only their visitors: their counts are the
     * sums of their buckets, as the status shows them
     */

    for (i = 0; i < NGX_HTTP_PREP_STATS_HOURS; i++) {
        p = &st->hours[i];

        if (p->id == 0) {
            continue;
        }

        first = p->id * 3600 / NGX_HTTP_PREP_STATS_BUCKET_SEC;

        for (j = 0; j < 3600 / NGX_HTTP_PREP_STATS_BUCKET_SEC; j++) {
            b = &st->buckets[(first + j) % NGX_HTTP_PREP_STATS_BUCKETS];

            if (b->id == first + j) {
                p->hits += b->hits;
                p->pages += b->pages;
                p->bytes += b->bytes;
                p->visits += b->visits;
                p->bot_hits += b->bot_hits;
                p->bot_bytes += b->bot_bytes;
                p->flags |= b->flags;
            }
        }
    }

    for (i = 0; i < NGX_HTTP_PREP_STATS_BUCKETS; i++) {
        c = &sh->cortes[i];
        p = &st->buckets[i];

        if (p->id && c->bucket == p->id) {
            ngx_memcpy(p->corte, c->id, PREP_STATS_CORTE_LEN + 1);
            p->corte[PREP_STATS_CORTE_LEN] = '\0';
        }
    }

    for (i = 0; i < NGX_HTTP_PREP_STATS_HOURS; i++) {
        st->hll_hour[i].tag = sh->hll_hour[i].tag;
        ngx_memcpy(st->hll_hour[i].registers,
                   (void *) sh->hll_hour[i].registers,
                   NGX_HTTP_PREP_STATS_HOUR_SIZE);

        p = &st->hours[i];
        p->visitors = ngx_http_prep_stats_visitors(sh,
                                                   NGX_HTTP_PREP_STATS_HLL_HOUR,
                                                   p->id, p->visitors);
    }

    for (i = 0; i < NGX_HTTP_PREP_STATS_DAYS; i++) {
        st->hll_day[i].tag = sh->hll_day[i].tag;
        ngx_memcpy(st->hll_day[i].registers,
                   (void *) sh->hll_day[i].registers,
                   NGX_HTTP_PREP_STATS_HLL_SIZE);

        p = &st->days[i];
        p->visitors = ngx_http_prep_stats_visitors(sh,
                                                   NGX_HTTP_PREP_STATS_HLL_DAY,
                                                   p->id, p->visitors);
    }

    st->hll_all.tag = sh->hll_all.tag;
    ngx_memcpy(st->hll_all.registers, (void *) sh->hll_all.registers,
               NGX_HTTP_PREP_STATS_HLL_SIZE);

    rows = ngx_http_prep_stats_rows(sh);
    arena = ngx_http_prep_stats_arena(sh);

    for (i = 0; i < sh->nrows; i++) {
        /* row 0, "other", has no path */
        row = prep_stats_row(st, i ? (char *) arena + rows[i].path_off : "",
                             i ? rows[i].path_len : 0);
        if (row == NULL) {
            goto failed;
        }

        row->hits += rows[i].hits;
        row->pages += rows[i].pages;
        row->bytes += rows[i].bytes;
    }

    for (i = 0; i < copy->nsessions; i++) {
        if (prep_stats_add_session(st, copy->sessions[i].visitor,
                                   copy->sessions[i].first,
                                   copy->sessions[i].last)
            != 0)
        {
            goto failed;
        }
    }

    return st;

failed:

    prep_stats_free(st);

    return NULL;
}


static void
ngx_http_prep_stats_export_ring(prep_stats_period_t *to,
    ngx_http_prep_period_t *from, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        to[i].id = from[i].id;
        to[i].hits = from[i].hits;
        to[i].pages = from[i].pages;
        to[i].bytes = from[i].bytes;
        to[i].visitors = from[i].visitors;
        to[i].visits = from[i].visits;
        to[i].bot_hits = from[i].bot_hits;
        to[i].bot_bytes = from[i].bot_bytes;
        to[i].flags = (uint32_t) from[i].flags;
    }
}


/*
 * The state file's bytes of zone z, in pool: *changes is what
 * ngx_http_prep_stats_changes() said of the copy encoded.
 */

static u_char *
ngx_http_prep_stats_encode(ngx_http_prep_stats_zone_t *z, ngx_pool_t *pool,
    ngx_uint_t salts, uint64_t *changes, size_t *len, char *err,
    size_t errlen)
{
    u_char                      *buf;
    size_t                       size;
    prep_stats_t                *st;
    ngx_http_prep_stats_copy_t   copy;

    if (ngx_http_prep_stats_copy(z, &copy, 1, pool) != NGX_OK) {
        ngx_http_prep_stats_error(err, errlen, 0, "out of memory");
        return NULL;
    }

    if (changes) {
        *changes = ngx_http_prep_stats_changes(copy.sh);
    }

    st = ngx_http_prep_stats_export(&copy, salts);
    if (st == NULL) {
        ngx_http_prep_stats_error(err, errlen, 0, "out of memory");
        return NULL;
    }

    size = prep_stats_encoded_size(st);

    buf = ngx_palloc(pool, size);
    if (buf == NULL) {
        prep_stats_free(st);
        ngx_http_prep_stats_error(err, errlen, 0, "out of memory");
        return NULL;
    }

    *len = prep_stats_encode(st, buf, size);

    prep_stats_free(st);

    if (*len == 0) {
        ngx_http_prep_stats_error(err, errlen, 0,
                                  "the state does not fit its bound");
        return NULL;
    }

    return buf;
}


/*
 * The state file's bytes from a copy of the zone, for the status
 * location's ?format=state (prep-report --stats URL): the same
 * checksummed format as the file, without the visitor hash keys.
 */

u_char *
ngx_http_prep_stats_state_bytes(ngx_http_prep_stats_zone_t *z,
    ngx_pool_t *pool, size_t *len)
{
    char  err[NGX_HTTP_PREP_STATS_ERR_LEN];

    return ngx_http_prep_stats_encode(z, pool, 0, NULL, len, err,
                                      sizeof(err));
}


/* ------------------------------------------------------------ import */


/* a decoded file or the previous zone into a zone just created */

static ngx_int_t
ngx_http_prep_stats_import(ngx_http_prep_stats_zone_t *z, prep_stats_t *st)
{
    ngx_uint_t                 i, len;
    prep_stats_row_t          *srow;
    prep_stats_period_t       *sp;
    prep_stats_totals_t       *t;
    ngx_http_prep_row_t       *row, *other;
    ngx_http_prep_salt_t      *salt;
    ngx_http_prep_period_t    *p;
    ngx_http_prep_stats_sh_t  *sh;
    ngx_http_prep_session_copy_t  saved;

    sh = z->sh;

    if (st->since) {
        sh->since = (time_t) st->since;
    }

    t = &st->totals;
    sh->c.hits = t->hits;
    sh->c.pages = t->pages;
    sh->c.bytes = t->bytes;

    for (i = 0; i < NGX_HTTP_PREP_STATS_CLASSES; i++) {
        sh->c.classes[i] = t->classes[i];
    }

    sh->c.visits = t->visits;
    sh->c.sessions = t->sessions;
    sh->c.session_ms = t->session_ms;

    for (i = 0; i < NGX_HTTP_PREP_STATS_HISTOGRAM; i++) {
        sh->c.histogram[i] = t->histogram[i];
    }

    sh->c.evictions = t->evictions;
    sh->c.unlisted = t->unlisted;
    sh->c.bot_hits = t->bot_hits;
    sh->c.bot_bytes = t->bot_bytes;

    for (i = 0; i < 2; i++) {
        if (st->salts[i].day == 0) {
            continue;
        }

        salt = &sh->salts[st->salts[i].day & 1];

        if (salt->day < st->salts[i].day) {
            ngx_memcpy(salt->key, st->salts[i].key, 16);
            salt->day = (ngx_atomic_uint_t) st->salts[i].day;
        }
    }

    ngx_http_prep_stats_import_ring(sh->buckets, st->buckets,
                                    NGX_HTTP_PREP_STATS_BUCKETS);
    ngx_http_prep_stats_import_ring(sh->hours, st->hours,
                                    NGX_HTTP_PREP_STATS_HOURS);

    /* an hour's counts are its buckets' (see the export): only its
     * visitors are the zone's own */
    for (i = 0; i < NGX_HTTP_PREP_STATS_HOURS; i++) {
        p = &sh->hours[i];
        p->hits = 0;
        p->pages = 0;
        p->bytes = 0;
        p->visits = 0;
        p->bot_hits = 0;
        p->bot_bytes = 0;
        p->flags = 0;
    }
    ngx_http_prep_stats_import_ring(sh->days, st->days,
                                    NGX_HTTP_PREP_STATS_DAYS);

    for (i = 0; i < NGX_HTTP_PREP_STATS_BUCKETS; i++) {
        sp = &st->buckets[i];
        len = ngx_strlen(sp->corte);

        if (sp->id && len && sh->buckets[i].id == sp->id) {
            ngx_memcpy(sh->cortes[i].id, sp->corte, len + 1);
            sh->cortes[i].bucket = (ngx_atomic_uint_t) sp->id;
        }
    }

    /* the newest set of each kind counts on live; the others are frozen */

    for (i = 0; i < NGX_HTTP_PREP_STATS_HOURS; i++) {
        if (st->hll_hour[i].tag > sh->hll_hour[i].tag) {
            ngx_memcpy((void *) sh->hll_hour[i].registers,
                       st->hll_hour[i].registers,
                       NGX_HTTP_PREP_STATS_HOUR_SIZE);
            sh->hll_hour[i].tag = (ngx_atomic_uint_t) st->hll_hour[i].tag;
        }

        p = &sh->hours[i];

        if (p->id && p->id == sh->hll_hour[i].tag && p->visitors == 0) {
            p->visitors = prep_hll_count(
                              (uint8_t *) sh->hll_hour[i].registers,
                              NGX_HTTP_PREP_STATS_HOUR_P);
        }

        sh->hll_last[NGX_HTTP_PREP_STATS_HLL_HOUR] =
            ngx_max(sh->hll_last[NGX_HTTP_PREP_STATS_HLL_HOUR],
                    sh->hll_hour[i].tag);
    }

    for (i = 0; i < NGX_HTTP_PREP_STATS_DAYS; i++) {
        if (st->hll_day[i].tag > sh->hll_day[i].tag) {
            ngx_memcpy((void *) sh->hll_day[i].registers,
                       st->hll_day[i].registers,
                       NGX_HTTP_PREP_STATS_HLL_SIZE);
            sh->hll_day[i].tag = (ngx_atomic_uint_t) st->hll_day[i].tag;
        }

        p = &sh->days[i];

        if (p->id && p->id == sh->hll_day[i].tag && p->visitors == 0) {
            p->visitors = prep_hll_count(
                              (uint8_t *) sh->hll_day[i].registers,
                              NGX_HTTP_PREP_STATS_HLL_P);
        }

        sh->hll_last[NGX_HTTP_PREP_STATS_HLL_DAY] =
            ngx_max(sh->hll_last[NGX_HTTP_PREP_STATS_HLL_DAY],
                    sh->hll_day[i].tag);
    }

    if (st->hll_all.tag) {
        ngx_memcpy((void *) sh->hll_all.registers, st->hll_all.registers,
                   NGX_HTTP_PREP_STATS_HLL_SIZE);
    }

    other = ngx_http_prep_stats_rows(sh);

    for (i = 0; i < st->nrows; i++) {
        srow = &st->rows[i];

        row = (i && srow->path_len)
              ? ngx_http_prep_stats_row(z, (u_char *) srow->path,
                                        srow->path_len, 1)
              : other;

        if (row == NULL) {
            /* a smaller table than the saved one: keep the counts */
            row = other;
            sh->c.unlisted += srow->hits;
        }

        row->hits += srow->hits;
        row->pages += srow->pages;
        row->bytes += srow->bytes;
    }

    for (i = 0; i < st->nsessions; i++) {
        saved.visitor = st->sessions[i].visitor;
        saved.first = st->sessions[i].first;
        saved.last = st->sessions[i].last;

        ngx_http_prep_stats_session_restore(sh, &saved);
    }

    return NGX_OK;
}


static void
ngx_http_prep_stats_import_ring(ngx_http_prep_period_t *to,
    prep_stats_period_t *from, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (from[i].id == 0 || to[i].id >= from[i].id) {
            continue;
        }

        to[i].id = (ngx_atomic_uint_t) from[i].id;
        to[i].hits = (ngx_atomic_uint_t) from[i].hits;
        to[i].pages = (ngx_atomic_uint_t) from[i].pages;
        to[i].bytes = (ngx_atomic_uint_t) from[i].bytes;
        to[i].visitors = (ngx_atomic_uint_t) from[i].visitors;
        to[i].visits = (ngx_atomic_uint_t) from[i].visits;
        to[i].bot_hits = (ngx_atomic_uint_t) from[i].bot_hits;
        to[i].bot_bytes = (ngx_atomic_uint_t) from[i].bot_bytes;
        to[i].flags = from[i].flags;
    }
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
        sh->saved_changes = ngx_http_prep_stats_changes(sh);

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
    u_char           *buf;
    size_t            size;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_err_t         e;
    ngx_int_t         rc;
    ngx_file_info_t   fi;

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        e = ngx_errno;

        if (e == NGX_ENOENT) {
            return NGX_DECLINED;
        }

        ngx_http_prep_stats_error(err, errlen, e, ngx_open_file_n
                                  " failed");
        return NGX_ERROR;
    }

    buf = NULL;
    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_http_prep_stats_error(err, errlen, ngx_errno,
                                  ngx_fd_info_n " failed");
        goto done;
    }

    if (!ngx_is_file(&fi)
        || ngx_file_size(&fi) > NGX_HTTP_PREP_STATS_STATE_MAX)
    {
        ngx_http_prep_stats_error(err, errlen, 0,
                                  "not a regular file of at most %O bytes",
                                  NGX_HTTP_PREP_STATS_STATE_MAX);
        goto done;
    }

    size = (size_t) ngx_file_size(&fi);

    /* one byte more: a file that grew since fstat() is noticed */
    buf = ngx_alloc(size + 1, log);
    if (buf == NULL) {
        ngx_http_prep_stats_error(err, errlen, 0, "out of memory");
        goto done;
    }

    n = ngx_read_fd(fd, buf, size + 1);

    if (n == -1) {
        ngx_http_prep_stats_error(err, errlen, ngx_errno,
                                  ngx_read_fd_n " failed");
        goto done;
    }

    rc = ngx_http_prep_stats_fill(z, buf, (size_t) n, err, errlen);

done:

    if (buf) {
        ngx_free(buf);
    }

    (void) ngx_close_file(fd);

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

    /* nothing new: no copy encoded (the changes are read unlocked) */
    s->changes = ngx_http_prep_stats_changes(sh);

    if (s->changes == sh->saved_changes) {
        s->rc = NGX_DECLINED;
        goto done;
    }

    buf = ngx_http_prep_stats_encode(z, pool, 1, &s->changes, &s->len,
                                     s->err, sizeof(s->err));
    if (buf == NULL) {
        goto done;
    }

    s->rc = ngx_http_prep_stats_write(z->state.data, buf, s->len,
                                      !sh->main_bad, s->err, sizeof(s->err));

done:

    ngx_destroy_pool(pool);
}


void
ngx_http_prep_stats_save_end(ngx_http_prep_stats_save_t *s, ngx_log_t *log)
{
    ngx_http_prep_stats_sh_t    *sh;
    ngx_http_prep_stats_zone_t  *z;

    z = s->zone;
    sh = z->sh;

    if (s->rc == NGX_OK) {

        if (sh->last_error_time) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "prep stats: state file \"%s\" saved again",
                          z->state.data);
        }

        sh->main_bad = 0;
        sh->saved_changes = s->changes;
        sh->last_save = ngx_time();
        sh->last_error_time = 0;
        sh->last_error[0] = '\0';
        (void) ngx_atomic_fetch_add(&sh->saves, 1);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                       "prep stats: saved \"%s\", %uz bytes",
                       z->state.data, s->len);

    } else if (s->rc == NGX_BUSY) {

        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "prep stats: not saved this time: %s", s->err);

    } else if (s->rc == NGX_ERROR) {

        (void) ngx_atomic_fetch_add(&sh->save_errors, 1);

        /* once a minute while it keeps failing; never [crit]: serving
         * goes on */

        if (sh->last_error_time == 0
            || ngx_time() - (time_t) sh->last_error_time >= 60
            || ngx_strcmp(sh->last_error, s->err) != 0)
        {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "prep stats: state file \"%s\" not saved: %s; "
                          "the previous one is kept", z->state.data, s->err);

            sh->last_error_time = ngx_time();
        }

        ngx_http_prep_stats_note(sh->last_error, "%s", s->err);
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


/*
 * PATH.tmp, fsync, PATH -> PATH.prev (a hard link: PATH stays), rename
 * PATH.tmp over PATH, fsync the directory.  Plain system calls and no
 * logging: nothing here depends on the event loop.  NGX_BUSY when
 * another process is writing PATH.tmp.
 */

static ngx_int_t
ngx_http_prep_stats_write(u_char *path, u_char *buf, size_t len,
    ngx_uint_t keep_prev, char *err, size_t errlen)
{
    u_char       *p, *last;
    size_t        plen;
    ssize_t       n;
    ngx_fd_t      fd;
    ngx_err_t     e;
    struct stat   fst, pst;
    u_char        tmp[NGX_MAX_PATH + sizeof(".prev.tmp")];
    u_char        prev[NGX_MAX_PATH + sizeof(".prev.tmp")];
    u_char        ptmp[NGX_MAX_PATH + sizeof(".prev.tmp")];

    plen = ngx_strlen(path);

    if (plen >= NGX_MAX_PATH) {
        ngx_http_prep_stats_error(err, errlen, 0, "path too long");
        return NGX_ERROR;
    }

    (void) ngx_sprintf(tmp, "%s.tmp%Z", path);
    (void) ngx_sprintf(prev, "%s.prev%Z", path);
    (void) ngx_sprintf(ptmp, "%s.prev.tmp%Z", path);

    fd = open((char *) tmp, O_WRONLY|O_CREAT|O_CLOEXEC, 0640);

    if (fd == NGX_INVALID_FILE) {
        ngx_http_prep_stats_error(err, errlen, ngx_errno,
                                  "open() \"%s\" failed", tmp);
        return NGX_ERROR;
    }

    /*
     * Another nginx (a binary upgrade) may save another zone to the same
     * file: PATH.tmp is only written under flock(), and only while it is
     * still PATH.tmp (the other one may just have renamed it to PATH).
     */

    if (flock(fd, LOCK_EX|LOCK_NB) == -1
        || fstat(fd, &fst) == -1
        || stat((char *) tmp, &pst) == -1
        || fst.st_dev != pst.st_dev
        || fst.st_ino != pst.st_ino)
    {
        (void) close(fd);
        ngx_http_prep_stats_error(err, errlen, 0,
                                  "\"%s\" is being written by another "
                                  "process", tmp);
        return NGX_BUSY;
    }

    if (ftruncate(fd, 0) == -1) {
        ngx_http_prep_stats_error(err, errlen, ngx_errno,
                                  "ftruncate() \"%s\" failed", tmp);
        (void) close(fd);
        return NGX_ERROR;
    }

    for (p = buf, last = buf + len; p < last; p += n) {
        n = write(fd, p, last - p);

        if (n == -1) {
            e = ngx_errno;

            if (e == NGX_EINTR) {
                n = 0;
                continue;
            }

            ngx_http_prep_stats_error(err, errlen, e,
                                      "write() \"%s\" failed", tmp);
            goto failed;
        }
    }

    if (fsync(fd) == -1) {
        ngx_http_prep_stats_error(err, errlen, ngx_errno,
                                  "fsync() \"%s\" failed", tmp);
        goto failed;
    }

    if (close(fd) == -1) {
        fd = NGX_INVALID_FILE;
        ngx_http_prep_stats_error(err, errlen, ngx_errno,
                                  "close() \"%s\" failed", tmp);
        goto failed;
    }

    fd = NGX_INVALID_FILE;

    if (keep_prev) {
        if (unlink((char *) ptmp) == -1 && ngx_errno != NGX_ENOENT) {
            ngx_http_prep_stats_error(err, errlen, ngx_errno,
                                      "unlink() \"%s\" failed", ptmp);
            goto failed;
        }

        if (link((char *) path, (char *) ptmp) == 0) {
            if (rename((char *) ptmp, (char *) prev) == -1) {
                ngx_http_prep_stats_error(err, errlen, ngx_errno,
                                          "rename() \"%s\" failed", ptmp);
                (void) unlink((char *) ptmp);
                goto failed;
            }

        } else if (ngx_errno != NGX_ENOENT) {
            ngx_http_prep_stats_error(err, errlen, ngx_errno,
                                      "link() \"%s\" failed", path);
            goto failed;
        }
    }

    if (rename((char *) tmp, (char *) path) == -1) {
        ngx_http_prep_stats_error(err, errlen, ngx_errno,
                                  "rename() \"%s\" failed", tmp);
        goto failed;
    }

    /* the directory: the renames themselves must survive a power cut */

    for (last = path + plen; last > path && last[-1] != '/'; last--) {
        /* void */
    }

    if (last == path) {
        ngx_memcpy(tmp, ".", sizeof("."));

    } else if (last == path + 1) {
        ngx_memcpy(tmp, "/", sizeof("/"));

    } else {
        *ngx_cpymem(tmp, path, last - 1 - path) = '\0';
    }

    fd = open((char *) tmp, O_RDONLY|O_DIRECTORY|O_CLOEXEC);

    if (fd == NGX_INVALID_FILE) {
        ngx_http_prep_stats_error(err, errlen, ngx_errno,
                                  "open() of the directory \"%s\" failed",
                                  tmp);
        return NGX_ERROR;
    }

    if (fsync(fd) == -1) {
        e = ngx_errno;
        (void) close(fd);
        ngx_http_prep_stats_error(err, errlen, e,
                                  "fsync() of the directory \"%s\" failed",
                                  tmp);
        return NGX_ERROR;
    }

    (void) close(fd);

    return NGX_OK;

failed:

    if (fd != NGX_INVALID_FILE) {
        (void) close(fd);
    }

    (void) unlink((char *) tmp);

    return NGX_ERROR;
}


static void
ngx_http_prep_stats_error(char *err, size_t errlen, ngx_err_t errnum,
    const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;

    last = (u_char *) err + errlen - 1;

    va_start(args, fmt);
    p = ngx_vslprintf((u_char *) err, last, fmt, args);
    va_end(args);

    if (errnum) {
        p = ngx_slprintf(p, last, " (%d: ", errnum);
        p = ngx_strerror(errnum, p, last - p);
        p = ngx_slprintf(p, last, ")");
    }

    *p = '\0';
}


static void
ngx_http_prep_stats_note(u_char *dst, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(dst, dst + NGX_HTTP_PREP_STATS_ERR_LEN - 1, fmt, args);
    va_end(args);

    *p = '\0';
}
