
/*
 * Copyright (C) the ngx_prep authors
 *
 * The zone as the decoded statistics model of libprep/prep_stats_file.h
 * and back: what the state file (ngx_http_prep_stats_state.c), a resized
 * zone on reload and ?format=state go through, so that the format has
 * one encoder and one decoder, libprep's, shared with prep-report.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_prep_stats.h"


static void ngx_http_prep_stats_export_ring(prep_stats_period_t *to,
    ngx_http_prep_period_t *from, ngx_uint_t n);
static void ngx_http_prep_stats_import_ring(ngx_http_prep_period_t *to,
    prep_stats_period_t *from, ngx_uint_t n);


/* ------------------------------------------------------------ export */


/* the zone's copy as the decoded model; NULL: out of memory */

prep_stats_t *
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

u_char *
ngx_http_prep_stats_encode(ngx_http_prep_stats_zone_t *z, ngx_pool_t *pool,
    ngx_uint_t salts, uint64_t *changes, size_t *len, char *err,
    size_t errlen)
{
    u_char                      *buf;
    size_t                       size;
    prep_stats_t                *st;
    ngx_http_prep_stats_copy_t   copy;

    if (ngx_http_prep_stats_copy(z, &copy, 1, pool) != NGX_OK) {
        ngx_cpystrn((u_char *) err, (u_char *) "out of memory", errlen);
        return NULL;
    }

    if (changes) {
        *changes = ngx_http_prep_stats_changes(copy.sh, &copy.sh->c);
    }

    st = ngx_http_prep_stats_export(&copy, salts);
    if (st == NULL) {
        ngx_cpystrn((u_char *) err, (u_char *) "out of memory", errlen);
        return NULL;
    }

    /* origins of one key merge their visitors exactly (prep-report) */
    st->key_id = z->key_id;

    size = prep_stats_encoded_size(st);

    buf = ngx_palloc(pool, size);
    if (buf == NULL) {
        prep_stats_free(st);
        ngx_cpystrn((u_char *) err, (u_char *) "out of memory", errlen);
        return NULL;
    }

    *len = prep_stats_encode(st, buf, size);

    prep_stats_free(st);

    if (*len == 0) {
        ngx_cpystrn((u_char *) err,
                    (u_char *) "the state does not fit its bound", errlen);
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

ngx_int_t
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
