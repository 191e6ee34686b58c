/*
 * Copyright (C) the ngx_prep authors
 *
 * Sessions ("visits"): a visit lasts from a visitor's first request to
 * the last one followed by no other within the session timeout; its
 * duration is last minus first.  The live sessions are fixed-size nodes
 * in 16 shards, each a hash table by visitor id and an LRU queue under
 * its own spin lock, preallocated when the zone is created.  A session
 * leaves the table in exactly one of three ways, each counted as a
 * completed session: it times out (the sweep, or the visitor coming back
 * too late), or its node is taken for a new visitor when the shard is
 * full (an eviction, also counted as such).  So started sessions always
 * equal completed plus live ones.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_prep_stats.h"


/* sessions closed per shard and sweep, to bound the time under a lock */
#define NGX_HTTP_PREP_STATS_SWEEP_MAX  4096


static ngx_http_prep_session_t *ngx_http_prep_stats_lookup(
    ngx_http_prep_shard_t *shard, uint64_t visitor);
static void ngx_http_prep_stats_unlink(ngx_http_prep_shard_t *shard,
    ngx_http_prep_session_t *s);
static void ngx_http_prep_stats_close(ngx_http_prep_shard_t *shard,
    ngx_http_prep_session_t *s);
static ngx_http_prep_session_t *ngx_http_prep_stats_take(
    ngx_http_prep_shard_t *shard);


/* the low bits choose the shard, the next ones the bucket */
#define ngx_http_prep_stats_shard(sh, visitor)                               \
    (&(sh)->shards[(visitor) % NGX_HTTP_PREP_STATS_SHARDS])
#define ngx_http_prep_stats_bucket(shard, visitor)                           \
    (&(shard)->buckets[((visitor) / NGX_HTTP_PREP_STATS_SHARDS)              \
                       & (shard)->mask])


#if (defined __GNUC__ || defined __clang__)
#define ngx_http_prep_stats_prefetch(p)  __builtin_prefetch(p, 1)
#else
#define ngx_http_prep_stats_prefetch(p)
#endif


/* buckets for a shard of capacity sessions: a power of 2, at least as many */

ngx_uint_t
ngx_http_prep_stats_buckets(ngx_uint_t capacity)
{
    ngx_uint_t  n;

    for (n = 1; n < capacity; n <<= 1) {
        /* void */
    }

    return n;
}


void
ngx_http_prep_stats_sessions_init(ngx_http_prep_stats_sh_t *sh,
    ngx_http_prep_session_t **nodes, ngx_http_prep_session_t ***buckets,
    ngx_uint_t capacity)
{
    ngx_uint_t              i, j;
    ngx_http_prep_shard_t  *shard;

    for (i = 0; i < NGX_HTTP_PREP_STATS_SHARDS; i++) {
        shard = &sh->shards[i];

        shard->lock = 0;
        shard->buckets = buckets[i];
        shard->mask = ngx_http_prep_stats_buckets(capacity) - 1;
        ngx_queue_init(&shard->lru);
        ngx_queue_init(&shard->free);

        shard->live = 0;
        shard->capacity = capacity;
        shard->nodes = nodes[i];

        for (j = 0; j < capacity; j++) {
            ngx_queue_insert_tail(&shard->free, &nodes[i][j].queue);
        }
    }

    sh->sessions_max = capacity * NGX_HTTP_PREP_STATS_SHARDS;
}


static ngx_http_prep_session_t *
ngx_http_prep_stats_lookup(ngx_http_prep_shard_t *shard, uint64_t visitor)
{
    ngx_http_prep_session_t  *s;

    for (s = *ngx_http_prep_stats_bucket(shard, visitor); s; s = s->next) {
        if (s->visitor == visitor) {
            return s;
        }
    }

    return NULL;
}


/* takes s out of its hash chain */

static void
ngx_http_prep_stats_unlink(ngx_http_prep_shard_t *shard,
    ngx_http_prep_session_t *s)
{
    ngx_http_prep_session_t  **pp;

    for (pp = ngx_http_prep_stats_bucket(shard, s->visitor);
         *pp != s;
         pp = &(*pp)->next)
    {
        /* void */
    }

    *pp = s->next;
    s->next = NULL;
}


/* counts s as a completed session; the caller holds the shard lock */

static void
ngx_http_prep_stats_close(ngx_http_prep_shard_t *shard,
    ngx_http_prep_session_t *s)
{
    uint64_t    ms;
    ngx_uint_t  bin;

    ms = s->last > s->first ? s->last - s->first : 0;
    bin = prep_count_histogram_bin(ms);

    shard->counts.sessions++;
    shard->counts.session_ms += ms;
    shard->counts.histogram[bin]++;
}


/* a free node, or the least recently seen session, closed and evicted */

static ngx_http_prep_session_t *
ngx_http_prep_stats_take(ngx_http_prep_shard_t *shard)
{
    ngx_queue_t              *q;
    ngx_http_prep_session_t  *s;

    if (!ngx_queue_empty(&shard->free)) {
        q = ngx_queue_head(&shard->free);
        ngx_queue_remove(q);
        shard->live++;

        return ngx_queue_data(q, ngx_http_prep_session_t, queue);
    }

    if (ngx_queue_empty(&shard->lru)) {
        return NULL;
    }

    q = ngx_queue_last(&shard->lru);
    s = ngx_queue_data(q, ngx_http_prep_session_t, queue);

    ngx_http_prep_stats_close(shard, s);
    shard->counts.evictions++;

    ngx_queue_remove(q);
    ngx_http_prep_stats_unlink(shard, s);

    return s;
}


/*
 * The visitor's bucket is a cache miss: the log phase starts it here,
 * does the rest of its accounting, then calls ngx_http_prep_stats_touch().
 */

void
ngx_http_prep_stats_prefetch_session(ngx_http_prep_stats_sh_t *sh,
    uint64_t visitor)
{
    ngx_http_prep_shard_t  *shard;

    shard = ngx_http_prep_stats_shard(sh, visitor);

    ngx_http_prep_stats_prefetch(ngx_http_prep_stats_bucket(shard, visitor));
}


/*
 * Records a request of visitor at now (msec).  Returns NGX_OK when it
 * starts a session, NGX_DONE when it continues one (*prev: the time of
 * the visitor's previous request), NGX_ERROR when the table has no node
 * at all (never, once the zone is created).
 */

ngx_int_t
ngx_http_prep_stats_touch(ngx_http_prep_stats_sh_t *sh, uint64_t visitor,
    uint64_t now, uint64_t timeout, uint64_t *prev)
{
    ngx_http_prep_shard_t    *shard;
    ngx_http_prep_session_t  *s;

    shard = ngx_http_prep_stats_shard(sh, visitor);

    /*
     * the node is a cache miss: start it before the lock (an unlocked
     * read of a pointer, used only as a hint), so that the two overlap
     */

    s = *ngx_http_prep_stats_bucket(shard, visitor);
    ngx_http_prep_stats_prefetch(s);

    ngx_http_prep_stats_lock(&shard->lock);

    s = ngx_http_prep_stats_lookup(shard, visitor);

    if (s) {

        /*
         * the queue is kept in the order of the last move, at most a
         * second behind the last request: a burst of requests (a page
         * and its assets) writes one node, not three of them each time
         */

        if (now >= s->moved + NGX_HTTP_PREP_STATS_LRU_MOVE
            || now - s->last > timeout)
        {
            ngx_queue_remove(&s->queue);
            ngx_queue_insert_head(&shard->lru, &s->queue);
            s->moved = now;
        }

        if (now <= s->last || now - s->last <= timeout) {
            *prev = s->last;

            if (now > s->last) {
                s->last = now;
            }

            ngx_http_prep_stats_unlock(&shard->lock);
            return NGX_DONE;
        }

        /* back after the timeout: the old visit ended at its last request */

        ngx_http_prep_stats_close(shard, s);

        s->first = now;
        s->last = now;

        shard->counts.visits++;

        ngx_http_prep_stats_unlock(&shard->lock);
        return NGX_OK;
    }

    s = ngx_http_prep_stats_take(shard);

    if (s == NULL) {
        ngx_http_prep_stats_unlock(&shard->lock);
        return NGX_ERROR;
    }

    s->visitor = visitor;
    s->first = now;
    s->last = now;
    s->moved = now;

    s->next = *ngx_http_prep_stats_bucket(shard, visitor);
    *ngx_http_prep_stats_bucket(shard, visitor) = s;

    ngx_queue_insert_head(&shard->lru, &s->queue);

    shard->counts.visits++;

    ngx_http_prep_stats_unlock(&shard->lock);

    return NGX_OK;
}


/*
 * Closes the sessions idle for longer than timeout, from the tail of the
 * queue; returns how many.  The queue is in the order of the last move,
 * so a session may be closed up to NGX_HTTP_PREP_STATS_LRU_MOVE late;
 * its duration is exact.
 */

ngx_uint_t
ngx_http_prep_stats_sweep(ngx_http_prep_stats_sh_t *sh, uint64_t now,
    uint64_t timeout)
{
    ngx_uint_t                i, n, closed;
    ngx_queue_t              *q;
    ngx_http_prep_shard_t    *shard;
    ngx_http_prep_session_t  *s;

    closed = 0;

    for (i = 0; i < NGX_HTTP_PREP_STATS_SHARDS; i++) {
        shard = &sh->shards[i];

        if (ngx_queue_empty(&shard->lru)) {
            continue;
        }

        ngx_http_prep_stats_lock(&shard->lock);

        for (n = 0; n < NGX_HTTP_PREP_STATS_SWEEP_MAX; n++) {

            if (ngx_queue_empty(&shard->lru)) {
                break;
            }

            q = ngx_queue_last(&shard->lru);
            s = ngx_queue_data(q, ngx_http_prep_session_t, queue);

            if (now <= s->last || now - s->last <= timeout) {
                break;
            }

            ngx_http_prep_stats_close(shard, s);

            ngx_queue_remove(q);
            ngx_http_prep_stats_unlink(shard, s);
            ngx_queue_insert_head(&shard->free, q);
            shard->live--;
        }

        ngx_http_prep_stats_unlock(&shard->lock);

        closed += n;
    }

    return closed;
}


/*
 * The session counters and the number of live sessions at one instant,
 * into c; returns the live ones.  Every change to them is made under a
 * shard lock, so with all the locks held nothing moves: "started" is then
 * "completed" plus "live".  Read apart, a visit that ended between the
 * two reads was counted neither live nor completed.  The locks are taken
 * in shard order, and no other path holds two of them.
 */

ngx_uint_t
ngx_http_prep_stats_sessions_freeze(ngx_http_prep_stats_sh_t *sh,
    ngx_http_prep_counters_t *c)
{
    ngx_uint_t                    i, live;
    ngx_http_prep_shard_counts_t  at[NGX_HTTP_PREP_STATS_SHARDS];

    for (i = 0; i < NGX_HTTP_PREP_STATS_SHARDS; i++) {
        ngx_http_prep_stats_lock(&sh->shards[i].lock);
    }

    live = 0;

    for (i = 0; i < NGX_HTTP_PREP_STATS_SHARDS; i++) {
        live += sh->shards[i].live;
        at[i] = sh->shards[i].counts;
    }

    for (i = NGX_HTTP_PREP_STATS_SHARDS; i-- > 0; /* void */) {
        ngx_http_prep_stats_unlock(&sh->shards[i].lock);
    }

    ngx_http_prep_stats_sessions_total(sh, c, at);

    return live;
}


/*
 * The session counters into c: what the state file restored, in the
 * zone's own, plus every shard's share at[] since the zone was created.
 */

void
ngx_http_prep_stats_sessions_total(ngx_http_prep_stats_sh_t *sh,
    ngx_http_prep_counters_t *c, ngx_http_prep_shard_counts_t *at)
{
    ngx_uint_t  i, k;

    c->visits = sh->c.visits;
    c->sessions = sh->c.sessions;
    c->session_ms = sh->c.session_ms;
    c->evictions = sh->c.evictions;

    for (k = 0; k < NGX_HTTP_PREP_STATS_HISTOGRAM; k++) {
        c->histogram[k] = sh->c.histogram[k];
    }

    for (i = 0; i < NGX_HTTP_PREP_STATS_SHARDS; i++) {
        c->visits += at[i].visits;
        c->sessions += at[i].sessions;
        c->session_ms += at[i].session_ms;
        c->evictions += at[i].evictions;

        for (k = 0; k < NGX_HTTP_PREP_STATS_HISTOGRAM; k++) {
            c->histogram[k] += at[i].histogram[k];
        }
    }
}


/*
 * The live sessions, least recently seen first, one shard lock a time;
 * each shard's share of the counters at that instant into at[].
 */

ngx_uint_t
ngx_http_prep_stats_sessions_copy(ngx_http_prep_stats_sh_t *sh,
    ngx_http_prep_session_copy_t *out, ngx_uint_t max,
    ngx_http_prep_shard_counts_t *at)
{
    ngx_uint_t                i, n;
    ngx_queue_t              *q;
    ngx_http_prep_shard_t    *shard;
    ngx_http_prep_session_t  *s;

    n = 0;

    for (i = 0; i < NGX_HTTP_PREP_STATS_SHARDS; i++) {
        shard = &sh->shards[i];

        ngx_http_prep_stats_lock(&shard->lock);

        for (q = ngx_queue_last(&shard->lru);
             q != ngx_queue_sentinel(&shard->lru) && n < max;
             q = ngx_queue_prev(q))
        {
            s = ngx_queue_data(q, ngx_http_prep_session_t, queue);

            out[n].visitor = s->visitor;
            out[n].first = s->first;
            out[n].last = s->last;
            n++;
        }

        at[i] = shard->counts;

        ngx_http_prep_stats_unlock(&shard->lock);
    }

    return n;
}


/*
 * Puts back a saved session (zone creation, before any worker runs).
 * Called least recently seen first, so a full shard evicts the oldest.
 */

void
ngx_http_prep_stats_session_restore(ngx_http_prep_stats_sh_t *sh,
    ngx_http_prep_session_copy_t *saved)
{
    ngx_http_prep_shard_t    *shard;
    ngx_http_prep_session_t  *s;

    shard = ngx_http_prep_stats_shard(sh, saved->visitor);

    ngx_http_prep_stats_lock(&shard->lock);

    if (ngx_http_prep_stats_lookup(shard, saved->visitor) != NULL) {
        ngx_http_prep_stats_unlock(&shard->lock);
        return;
    }

    s = ngx_http_prep_stats_take(shard);

    if (s) {
        s->visitor = saved->visitor;
        s->first = saved->first;
        s->last = saved->last > saved->first ? saved->last : saved->first;
        s->moved = s->last;

        s->next = *ngx_http_prep_stats_bucket(shard, saved->visitor);
        *ngx_http_prep_stats_bucket(shard, saved->visitor) = s;

        ngx_queue_insert_head(&shard->lru, &s->queue);
    }

    ngx_http_prep_stats_unlock(&shard->lock);
}
