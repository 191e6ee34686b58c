
/*
 * Copyright (C) the ngx_prep authors
 *
 * The state file: every counter, HyperLogLog set, period, row and live
 * session of the zone, in the container of libprep/prep_state.h.
 *
 * Saving: a copy of the zone is taken under short locks, rendered outside
 * them, written to PATH.tmp and fsynced; the current file is hard-linked
 * to PATH.prev (unless it was found corrupt), PATH.tmp is renamed over
 * PATH and the directory is fsynced.  At every moment PATH is a complete
 * file, old or new.  A failed save (a full disk) leaves PATH and
 * PATH.prev as they were and is retried at the next interval.
 *
 * Restoring, when a zone is created: PATH, else PATH.prev when PATH is
 * unusable; each file is checked entirely (checksums, then a dry run of
 * every section) before anything in it reaches the zone.  A zone resized
 * on reload is filled from the previous zone through the same format.
 *
 * Sections (format version 1; u32 and u64 little-endian; a section type
 * this build does not know is skipped, counters it does not know too):
 *
 *   1 meta      since, saved at, HLL p (14), bucket seconds (300), paths
 *   2 counters  count, then the u64 of ngx_http_prep_counters_t in order
 *   3 salts     count, then per key: day, 16 bytes
 *   4 hll       one per set: kind (0 hour, 1 day, 2 publication), tag,
 *               p, 2^p register bytes
 *   5 periods   one per ring: kind (0 buckets, 1 hours, 2 days), fields
 *               (6), count, then id, hits, pages, bytes, visitors, visits
 *   6 rows      count, then hits, pages, bytes, path length, path (row 0,
 *               "other", has no path)
 *   7 sessions  count, then visitor, first, last (msec), oldest first
 *
 * The file holds the day's key of the visitor hash: it is created 0640.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/file.h>

#include "prep_snap.h"
#include "ngx_http_prep_stats.h"


#define NGX_HTTP_PREP_STATE_META      1
#define NGX_HTTP_PREP_STATE_COUNTERS  2
#define NGX_HTTP_PREP_STATE_SALTS     3
#define NGX_HTTP_PREP_STATE_HLL       4
#define NGX_HTTP_PREP_STATE_PERIODS   5
#define NGX_HTTP_PREP_STATE_ROWS      6
#define NGX_HTTP_PREP_STATE_SESSIONS  7

#define NGX_HTTP_PREP_HLL_HOUR        0
#define NGX_HTTP_PREP_HLL_DAY         1
#define NGX_HTTP_PREP_HLL_ALL         2

#define NGX_HTTP_PREP_RING_BUCKETS    0
#define NGX_HTTP_PREP_RING_HOURS      1
#define NGX_HTTP_PREP_RING_DAYS       2

/* how long an exiting worker waits for another one's save */
#define NGX_HTTP_PREP_STATE_WAIT      3000


typedef struct {
    ngx_http_prep_period_t  *ring;
    ngx_uint_t               n;
} ngx_http_prep_ring_t;


static size_t ngx_http_prep_stats_bound(ngx_http_prep_stats_copy_t *copy);
static size_t ngx_http_prep_stats_render(ngx_http_prep_stats_copy_t *copy,
    ngx_uint_t salts, u_char *buf, size_t size);
static void ngx_http_prep_stats_render_hll(prep_state_writer_t *w,
    uint32_t kind, ngx_http_prep_hll_t *hll);
static void ngx_http_prep_stats_render_ring(prep_state_writer_t *w,
    uint32_t kind, ngx_http_prep_period_t *ring, ngx_uint_t n);
static ngx_int_t ngx_http_prep_stats_apply(ngx_http_prep_stats_zone_t *z,
    prep_state_reader_t *rd, ngx_uint_t dry, char *err, size_t errlen);
static ngx_int_t ngx_http_prep_stats_apply_section(
    ngx_http_prep_stats_zone_t *z, prep_state_section_t *s, ngx_uint_t dry,
    char *err, size_t errlen);
static ngx_int_t ngx_http_prep_stats_apply_hll(ngx_http_prep_stats_sh_t *sh,
    prep_state_section_t *s, ngx_uint_t dry, char *err, size_t errlen);
static ngx_int_t ngx_http_prep_stats_apply_ring(
    ngx_http_prep_stats_sh_t *sh, prep_state_section_t *s, ngx_uint_t dry,
    char *err, size_t errlen);
static ngx_int_t ngx_http_prep_stats_apply_rows(
    ngx_http_prep_stats_zone_t *z, prep_state_section_t *s, ngx_uint_t dry,
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
           + sh->nrows;
}


/* ------------------------------------------------------------ render */


static size_t
ngx_http_prep_stats_bound(ngx_http_prep_stats_copy_t *copy)
{
    size_t                     size;
    ngx_http_prep_stats_sh_t  *sh;

    sh = copy->sh;

    size = PREP_STATE_HEADER_SIZE
           + prep_state_section_space(5 * 8)
           + prep_state_section_space(4 + NGX_HTTP_PREP_COUNTERS * 8)
           + prep_state_section_space(4 + 2 * (8 + 16))
           + 5 * prep_state_section_space(16 + NGX_HTTP_PREP_STATS_HLL_SIZE)
           + 3 * prep_state_section_space(12)
           + (NGX_HTTP_PREP_STATS_BUCKETS + NGX_HTTP_PREP_STATS_HOURS
              + NGX_HTTP_PREP_STATS_DAYS) * NGX_HTTP_PREP_PERIOD_FIELDS * 8
           + prep_state_section_space(4 + sh->nrows * (3 * 8 + 4)
                                      + sh->arena_used)
           + prep_state_section_space(4 + copy->nsessions * 3 * 8);

    return size;
}


static size_t
ngx_http_prep_stats_render(ngx_http_prep_stats_copy_t *copy,
    ngx_uint_t salts, u_char *buf, size_t size)
{
    u_char                     *arena;
    ngx_uint_t                  i;
    ngx_atomic_t               *c;
    prep_state_writer_t         w;
    ngx_http_prep_row_t        *rows;
    ngx_http_prep_stats_sh_t   *sh;

    sh = copy->sh;

    prep_state_writer_init(&w, buf, size);

    prep_state_section_begin(&w, NGX_HTTP_PREP_STATE_META);
    prep_state_put_u64(&w, (uint64_t) sh->since);
    prep_state_put_u64(&w, (uint64_t) ngx_time());
    prep_state_put_u64(&w, NGX_HTTP_PREP_STATS_HLL_P);
    prep_state_put_u64(&w, NGX_HTTP_PREP_STATS_BUCKET_SEC);
    prep_state_put_u64(&w, sh->paths_max);

    prep_state_section_begin(&w, NGX_HTTP_PREP_STATE_COUNTERS);
    prep_state_put_u32(&w, NGX_HTTP_PREP_COUNTERS);

    c = (ngx_atomic_t *) &sh->c;

    for (i = 0; i < NGX_HTTP_PREP_COUNTERS; i++) {
        prep_state_put_u64(&w, c[i]);
    }

    /* the keys of the visitor hash stay on this machine */
    if (salts) {
        prep_state_section_begin(&w, NGX_HTTP_PREP_STATE_SALTS);
        prep_state_put_u32(&w, 2);

        for (i = 0; i < 2; i++) {
            prep_state_put_u64(&w, sh->salts[i].day);
            prep_state_put_bytes(&w, sh->salts[i].key, 16);
        }
    }

    for (i = 0; i < 2; i++) {
        ngx_http_prep_stats_render_hll(&w, NGX_HTTP_PREP_HLL_HOUR,
                                       &sh->hll_hour[i]);
        ngx_http_prep_stats_render_hll(&w, NGX_HTTP_PREP_HLL_DAY,
                                       &sh->hll_day[i]);
    }

    ngx_http_prep_stats_render_hll(&w, NGX_HTTP_PREP_HLL_ALL, &sh->hll_all);

    ngx_http_prep_stats_render_ring(&w, NGX_HTTP_PREP_RING_BUCKETS,
                                    sh->buckets, NGX_HTTP_PREP_STATS_BUCKETS);
    ngx_http_prep_stats_render_ring(&w, NGX_HTTP_PREP_RING_HOURS,
                                    sh->hours, NGX_HTTP_PREP_STATS_HOURS);
    ngx_http_prep_stats_render_ring(&w, NGX_HTTP_PREP_RING_DAYS,
                                    sh->days, NGX_HTTP_PREP_STATS_DAYS);

    rows = ngx_http_prep_stats_rows(sh);
    arena = ngx_http_prep_stats_arena(sh);

    prep_state_section_begin(&w, NGX_HTTP_PREP_STATE_ROWS);
    prep_state_put_u32(&w, (uint32_t) sh->nrows);

    for (i = 0; i < sh->nrows; i++) {
        prep_state_put_u64(&w, rows[i].hits);
        prep_state_put_u64(&w, rows[i].pages);
        prep_state_put_u64(&w, rows[i].bytes);

        /* row 0, "other", has no path */
        prep_state_put_u32(&w, i ? rows[i].path_len : 0);

        if (i) {
            prep_state_put_bytes(&w, arena + rows[i].path_off,
                                 rows[i].path_len);
        }
    }

    prep_state_section_begin(&w, NGX_HTTP_PREP_STATE_SESSIONS);
    prep_state_put_u32(&w, (uint32_t) copy->nsessions);

    for (i = 0; i < copy->nsessions; i++) {
        prep_state_put_u64(&w, copy->sessions[i].visitor);
        prep_state_put_u64(&w, copy->sessions[i].first);
        prep_state_put_u64(&w, copy->sessions[i].last);
    }

    return prep_state_writer_finish(&w, (int64_t) ngx_time());
}


static void
ngx_http_prep_stats_render_hll(prep_state_writer_t *w, uint32_t kind,
    ngx_http_prep_hll_t *hll)
{
    if (hll->tag == 0) {
        return;
    }

    prep_state_section_begin(w, NGX_HTTP_PREP_STATE_HLL);
    prep_state_put_u32(w, kind);
    prep_state_put_u64(w, hll->tag);
    prep_state_put_u32(w, NGX_HTTP_PREP_STATS_HLL_P);
    prep_state_put_bytes(w, (void *) hll->registers,
                         NGX_HTTP_PREP_STATS_HLL_SIZE);
}


static void
ngx_http_prep_stats_render_ring(prep_state_writer_t *w, uint32_t kind,
    ngx_http_prep_period_t *ring, ngx_uint_t n)
{
    ngx_uint_t     i, j, used;
    ngx_atomic_t  *f;

    used = 0;

    for (i = 0; i < n; i++) {
        used += (ring[i].id != 0);
    }

    prep_state_section_begin(w, NGX_HTTP_PREP_STATE_PERIODS);
    prep_state_put_u32(w, kind);
    prep_state_put_u32(w, NGX_HTTP_PREP_PERIOD_FIELDS);
    prep_state_put_u32(w, (uint32_t) used);

    for (i = 0; i < n; i++) {
        if (ring[i].id == 0) {
            continue;
        }

        f = (ngx_atomic_t *) &ring[i];

        for (j = 0; j < NGX_HTTP_PREP_PERIOD_FIELDS; j++) {
            prep_state_put_u64(w, f[j]);
        }
    }
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
    u_char                      *buf;
    size_t                       size;
    ngx_http_prep_stats_copy_t   copy;

    if (ngx_http_prep_stats_copy(z, &copy, 1, pool) != NGX_OK) {
        return NULL;
    }

    size = ngx_http_prep_stats_bound(&copy);

    buf = ngx_palloc(pool, size);
    if (buf == NULL) {
        return NULL;
    }

    *len = ngx_http_prep_stats_render(&copy, 0, buf, size);

    return *len ? buf : NULL;
}


/* ------------------------------------------------------------- apply */


static ngx_int_t
ngx_http_prep_stats_apply(ngx_http_prep_stats_zone_t *z,
    prep_state_reader_t *rd, ngx_uint_t dry, char *err, size_t errlen)
{
    ngx_uint_t            n;
    prep_state_section_t  s;

    for (n = 0; prep_state_next(rd, &s); n++) {

        if (ngx_http_prep_stats_apply_section(z, &s, dry, err, errlen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (s.short_read) {
            ngx_http_prep_stats_error(err, errlen, 0,
                                      "section %ui (type %uD) is shorter "
                                      "than its contents", n, s.type);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_prep_stats_apply_section(ngx_http_prep_stats_zone_t *z,
    prep_state_section_t *s, ngx_uint_t dry, char *err, size_t errlen)
{
    uint32_t                    i, n;
    uint64_t                    v, day, p, bucket;
    const uint8_t              *key;
    ngx_atomic_t               *c;
    ngx_http_prep_salt_t       *salt;
    ngx_http_prep_stats_sh_t   *sh;
    ngx_http_prep_session_copy_t  saved;

    sh = z->sh;

    switch (s->type) {

    case NGX_HTTP_PREP_STATE_META:
        v = prep_state_get_u64(s);
        (void) prep_state_get_u64(s);
        p = prep_state_get_u64(s);
        bucket = prep_state_get_u64(s);

        if (s->short_read) {
            return NGX_OK;
        }

        if (p != NGX_HTTP_PREP_STATS_HLL_P
            || bucket != NGX_HTTP_PREP_STATS_BUCKET_SEC)
        {
            ngx_http_prep_stats_error(err, errlen, 0,
                                      "written with HyperLogLog p=%uL and "
                                      "%uL s buckets, this build uses p=%d "
                                      "and %d s", p, bucket,
                                      NGX_HTTP_PREP_STATS_HLL_P,
                                      NGX_HTTP_PREP_STATS_BUCKET_SEC);
            return NGX_ERROR;
        }

        if (!dry && v) {
            sh->since = (time_t) v;
        }

        return NGX_OK;

    case NGX_HTTP_PREP_STATE_COUNTERS:
        n = prep_state_get_u32(s);
        c = (ngx_atomic_t *) &sh->c;

        for (i = 0; i < n && !s->short_read; i++) {
            v = prep_state_get_u64(s);

            /* counters a newer build added are dropped */
            if (!dry && i < NGX_HTTP_PREP_COUNTERS) {
                c[i] = (ngx_atomic_uint_t) v;
            }
        }

        return NGX_OK;

    case NGX_HTTP_PREP_STATE_SALTS:
        n = prep_state_get_u32(s);

        for (i = 0; i < n && !s->short_read; i++) {
            day = prep_state_get_u64(s);
            key = prep_state_get_bytes(s, 16);

            if (dry || key == NULL || day == 0) {
                continue;
            }

            salt = &sh->salts[day & 1];

            if (salt->day < day) {
                ngx_memcpy(salt->key, key, 16);
                salt->day = (ngx_atomic_uint_t) day;
            }
        }

        return NGX_OK;

    case NGX_HTTP_PREP_STATE_HLL:
        return ngx_http_prep_stats_apply_hll(sh, s, dry, err, errlen);

    case NGX_HTTP_PREP_STATE_PERIODS:
        return ngx_http_prep_stats_apply_ring(sh, s, dry, err, errlen);

    case NGX_HTTP_PREP_STATE_ROWS:
        return ngx_http_prep_stats_apply_rows(z, s, dry, err, errlen);

    case NGX_HTTP_PREP_STATE_SESSIONS:
        n = prep_state_get_u32(s);

        if ((uint64_t) n * 24 > prep_state_left(s)) {
            ngx_http_prep_stats_error(err, errlen, 0,
                                      "%uD sessions do not fit in their "
                                      "section", n);
            return NGX_ERROR;
        }

        for (i = 0; i < n; i++) {
            saved.visitor = prep_state_get_u64(s);
            saved.first = prep_state_get_u64(s);
            saved.last = prep_state_get_u64(s);

            if (!dry) {
                ngx_http_prep_stats_session_restore(sh, &saved);
            }
        }

        return NGX_OK;
    }

    /* a section of a newer build of the same format version */
    return NGX_OK;
}


static ngx_int_t
ngx_http_prep_stats_apply_hll(ngx_http_prep_stats_sh_t *sh,
    prep_state_section_t *s, ngx_uint_t dry, char *err, size_t errlen)
{
    uint32_t              kind, p;
    uint64_t              tag;
    const uint8_t        *regs;
    ngx_http_prep_hll_t  *hll;

    kind = prep_state_get_u32(s);
    tag = prep_state_get_u64(s);
    p = prep_state_get_u32(s);

    if (s->short_read) {
        return NGX_OK;
    }

    if (p != NGX_HTTP_PREP_STATS_HLL_P || kind > NGX_HTTP_PREP_HLL_ALL
        || tag == 0)
    {
        ngx_http_prep_stats_error(err, errlen, 0,
                                  "a HyperLogLog set of kind %uD, tag %uL, "
                                  "p=%uD", kind, tag, p);
        return NGX_ERROR;
    }

    regs = prep_state_get_bytes(s, NGX_HTTP_PREP_STATS_HLL_SIZE);

    if (dry || regs == NULL) {
        return NGX_OK;
    }

    switch (kind) {
    case NGX_HTTP_PREP_HLL_HOUR:
        hll = &sh->hll_hour[tag & 1];
        break;
    case NGX_HTTP_PREP_HLL_DAY:
        hll = &sh->hll_day[tag & 1];
        break;
    default:
        hll = &sh->hll_all;
    }

    if (hll->tag > tag) {
        return NGX_OK;
    }

    ngx_memcpy((void *) hll->registers, regs, NGX_HTTP_PREP_STATS_HLL_SIZE);
    hll->tag = (ngx_atomic_uint_t) tag;

    return NGX_OK;
}


static ngx_int_t
ngx_http_prep_stats_apply_ring(ngx_http_prep_stats_sh_t *sh,
    prep_state_section_t *s, ngx_uint_t dry, char *err, size_t errlen)
{
    uint32_t                 kind, fields, count, i, j;
    uint64_t                 v[NGX_HTTP_PREP_PERIOD_FIELDS];
    ngx_atomic_t            *f;
    ngx_http_prep_ring_t     rings[3];
    ngx_http_prep_period_t  *p;

    rings[0].ring = sh->buckets;
    rings[0].n = NGX_HTTP_PREP_STATS_BUCKETS;
    rings[1].ring = sh->hours;
    rings[1].n = NGX_HTTP_PREP_STATS_HOURS;
    rings[2].ring = sh->days;
    rings[2].n = NGX_HTTP_PREP_STATS_DAYS;

    kind = prep_state_get_u32(s);
    fields = prep_state_get_u32(s);
    count = prep_state_get_u32(s);

    if (s->short_read) {
        return NGX_OK;
    }

    if (kind > NGX_HTTP_PREP_RING_DAYS
        || fields < NGX_HTTP_PREP_PERIOD_FIELDS_V1 || fields > 64
        || (uint64_t) count * fields * 8 > prep_state_left(s))
    {
        ngx_http_prep_stats_error(err, errlen, 0,
                                  "a ring of kind %uD with %uD periods of "
                                  "%uD fields", kind, count, fields);
        return NGX_ERROR;
    }

    for (i = 0; i < count; i++) {

        /* fields a version 1 file did not have are 0 */
        ngx_memzero(v, sizeof(v));

        for (j = 0; j < fields; j++) {
            if (j < NGX_HTTP_PREP_PERIOD_FIELDS) {
                v[j] = prep_state_get_u64(s);

            } else {
                (void) prep_state_get_u64(s);
            }
        }

        if (dry || v[0] == 0) {
            continue;
        }

        p = &rings[kind].ring[v[0] % rings[kind].n];

        if (p->id >= v[0]) {
            continue;
        }

        f = (ngx_atomic_t *) p;

        for (j = 0; j < NGX_HTTP_PREP_PERIOD_FIELDS; j++) {
            f[j] = (ngx_atomic_uint_t) v[j];
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_prep_stats_apply_rows(ngx_http_prep_stats_zone_t *z,
    prep_state_section_t *s, ngx_uint_t dry, char *err, size_t errlen)
{
    uint32_t              i, n, len;
    uint64_t              hits, pages, bytes;
    const uint8_t        *path;
    ngx_http_prep_row_t  *row, *other;

    n = prep_state_get_u32(s);

    if ((uint64_t) n * 28 > prep_state_left(s)) {
        ngx_http_prep_stats_error(err, errlen, 0,
                                  "%uD rows do not fit in their section", n);
        return NGX_ERROR;
    }

    other = ngx_http_prep_stats_rows(z->sh);

    for (i = 0; i < n; i++) {
        hits = prep_state_get_u64(s);
        pages = prep_state_get_u64(s);
        bytes = prep_state_get_u64(s);
        len = prep_state_get_u32(s);

        if (len > PREP_SNAP_MAX_PATH) {
            ngx_http_prep_stats_error(err, errlen, 0,
                                      "row %uD has a path of %uD bytes",
                                      i, len);
            return NGX_ERROR;
        }

        path = prep_state_get_bytes(s, len);

        if (path == NULL) {
            return NGX_OK;
        }

        if (len && path[0] != '/') {
            ngx_http_prep_stats_error(err, errlen, 0,
                                      "row %uD: a path not starting with "
                                      "\"/\"", i);
            return NGX_ERROR;
        }

        if (dry) {
            continue;
        }

        row = len ? ngx_http_prep_stats_row(z, (u_char *) path, len, 1)
                  : other;

        if (row == NULL) {
            /* a smaller table than the saved one: keep the counts */
            row = other;
            z->sh->c.unlisted += hits;
        }

        row->hits += hits;
        row->pages += pages;
        row->bytes += bytes;
    }

    return NGX_OK;
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


/* checks the whole file, then applies it */

static ngx_int_t
ngx_http_prep_stats_fill(ngx_http_prep_stats_zone_t *z, u_char *buf,
    size_t len, char *err, size_t errlen)
{
    prep_state_reader_t  rd;

    if (prep_state_open(&rd, buf, len, err, errlen) != PREP_STATE_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_prep_stats_apply(z, &rd, 1, err, errlen) != NGX_OK) {
        return NGX_ERROR;
    }

    (void) prep_state_open(&rd, buf, len, NULL, 0);

    return ngx_http_prep_stats_apply(z, &rd, 0, err, errlen);
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
    u_char                     *buf;
    size_t                      size, len;
    ngx_int_t                   rc;
    ngx_pool_t                 *pool;
    ngx_http_prep_stats_copy_t  copy;
    char                        err[NGX_HTTP_PREP_STATS_ERR_LEN];

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_http_prep_stats_copy(old, &copy, 1, pool) != NGX_OK) {
        goto done;
    }

    size = ngx_http_prep_stats_bound(&copy);

    buf = ngx_palloc(pool, size);
    if (buf == NULL) {
        goto done;
    }

    len = ngx_http_prep_stats_render(&copy, 1, buf, size);

    if (len == 0) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "prep stats: the state of zone \"%V\" does not fit "
                      "its bound", &z->shm_zone->shm.name);
        goto done;
    }

    if (ngx_http_prep_stats_fill(z, buf, len, err, sizeof(err)) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "prep stats: zone \"%V\" cannot take over the "
                      "previous zone: %s", &z->shm_zone->shm.name, err);
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
    size_t                       size;
    ngx_pool_t                  *pool;
    ngx_http_prep_stats_sh_t    *sh;
    ngx_http_prep_stats_zone_t  *z;
    ngx_http_prep_stats_copy_t   copy;

    z = s->zone;
    sh = z->sh;

    s->rc = NGX_ERROR;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ngx_cycle->log);
    if (pool == NULL) {
        ngx_http_prep_stats_error(s->err, sizeof(s->err), 0,
                                  "out of memory");
        return;
    }

    if (ngx_http_prep_stats_copy(z, &copy, 1, pool) != NGX_OK) {
        ngx_http_prep_stats_error(s->err, sizeof(s->err), 0,
                                  "out of memory");
        goto done;
    }

    s->changes = ngx_http_prep_stats_changes(copy.sh);

    if (s->changes == sh->saved_changes) {
        s->rc = NGX_DECLINED;
        goto done;
    }

    size = ngx_http_prep_stats_bound(&copy);

    buf = ngx_palloc(pool, size);
    if (buf == NULL) {
        ngx_http_prep_stats_error(s->err, sizeof(s->err), 0,
                                  "out of memory");
        goto done;
    }

    s->len = ngx_http_prep_stats_render(&copy, 1, buf, size);

    if (s->len == 0) {
        ngx_http_prep_stats_error(s->err, sizeof(s->err), 0,
                                  "the state does not fit its bound");
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
