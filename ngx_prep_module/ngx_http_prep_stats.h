
/*
 * Copyright (C) the ngx_prep authors
 *
 * Visitor statistics in shared memory: the types shared by the files of
 * ngx_http_prep_stats_module (zone, accounting, sessions, state file) and
 * the prep_status handler.
 *
 * Everything in the zone is allocated once, when the zone is created:
 * the counters, the HyperLogLog registers, the rings of 5-minute, hourly
 * and daily periods, the table of per-path rows and the session nodes.
 * Nothing is allocated while serving, so the zone can never grow, and a
 * full session table evicts its least recently seen visitor.
 *
 * Hot path: counters are bumped with atomic adds; the row of a path is
 * found without a lock (rows are only ever added, and each worker keeps
 * the rows of its current snapshot's entries at hand); the visitor is
 * hashed outside any lock; sessions live in 16 shards, each a hash table
 * with its own spin lock.  The slab mutex is taken only to add a row and
 * when a period begins.
 */


#ifndef _NGX_HTTP_PREP_STATS_H_INCLUDED_
#define _NGX_HTTP_PREP_STATS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "prep_bots.h"
#include "prep_count.h"
#include "prep_hll.h"
#include "prep_state.h"
#include "prep_stats_file.h"


#define NGX_HTTP_PREP_STATS_SHARDS        16

/* 2^14 registers: 0.81% standard error, 16 KB per set */
#define NGX_HTTP_PREP_STATS_HLL_P         14
#define NGX_HTTP_PREP_STATS_HLL_SIZE      (1 << NGX_HTTP_PREP_STATS_HLL_P)
#define NGX_HTTP_PREP_STATS_HLL_WORDS                                        \
    (NGX_HTTP_PREP_STATS_HLL_SIZE / sizeof(ngx_atomic_t))

/*
 * Hours keep their own sets (2^12 registers: 1.6% standard error, 4 KB
 * each), so that 256 hours take 1 MB; with the 64 days' sets of 16 KB
 * the rings of sets take 2 MB of the zone (prep_stats_zone checks it).
 */
#define NGX_HTTP_PREP_STATS_HOUR_P        12
#define NGX_HTTP_PREP_STATS_HOUR_SIZE     (1 << NGX_HTTP_PREP_STATS_HOUR_P)
#define NGX_HTTP_PREP_STATS_HOUR_WORDS                                       \
    (NGX_HTTP_PREP_STATS_HOUR_SIZE / sizeof(ngx_atomic_t))

#define NGX_HTTP_PREP_STATS_HLL_HOUR      0
#define NGX_HTTP_PREP_STATS_HLL_DAY       1

/* 5-minute buckets for 10 2/3 days, hours for as long, 64 days */
#define NGX_HTTP_PREP_STATS_BUCKET_SEC    300
#define NGX_HTTP_PREP_STATS_BUCKETS       3072
#define NGX_HTTP_PREP_STATS_HOURS         256
#define NGX_HTTP_PREP_STATS_DAYS          64

/* libprep/prep_count's rules: the report counts logs by the same ones */
#define NGX_HTTP_PREP_STATS_CLASSES       PREP_COUNT_CLASSES
#define NGX_HTTP_PREP_STATS_HISTOGRAM     PREP_COUNT_HISTOGRAM

#define NGX_HTTP_PREP_STATS_PATHS         8192
#define NGX_HTTP_PREP_STATS_PATHS_MAX     1048576
#define NGX_HTTP_PREP_STATS_ARENA_PER     64   /* path bytes per row */

/* a shard holds at least this many sessions, or the zone is too small */
#define NGX_HTTP_PREP_STATS_MIN_SESSIONS  64

#define NGX_HTTP_PREP_STATS_ERR_LEN       256
#define NGX_HTTP_PREP_STATS_STATE_MAX     ((off_t) 512 * 1024 * 1024)

#define NGX_HTTP_PREP_STATS_TICK          1000

/* a session moves to the head of its LRU queue at most this often, ms */
#define NGX_HTTP_PREP_STATS_LRU_MOVE      1000


/*
 * A period: a 5-minute bucket, an hour or a day.  id is the period's
 * number (time / length; days in local time), 0 when unused.  A ring
 * slot is reset when a newer period takes it.
 */
typedef struct {
    ngx_atomic_t                  id;
    ngx_atomic_t                  hits;
    ngx_atomic_t                  pages;
    ngx_atomic_t                  bytes;
    ngx_atomic_t                  visitors;
    ngx_atomic_t                  visits;
    ngx_atomic_t                  bot_hits;        /* apart from hits */
    ngx_atomic_t                  bot_bytes;
    ngx_atomic_t                  flags;           /* PREP_STATS_SERVING */
} ngx_http_prep_period_t;


/* the corte live at the end of a 5-minute bucket (worker 0's tick) */
typedef struct {
    ngx_atomic_t                  bucket;          /* its id, 0: none */
    u_char                        id[PREP_STATS_CORTE_LEN + 1];
} ngx_http_prep_corte_t;


/* a path of a snapshot; row 0 is "other" */
typedef struct {
    ngx_atomic_t                  hits;
    ngx_atomic_t                  pages;
    ngx_atomic_t                  bytes;
    uint32_t                      hash;
    uint32_t                      path_off;        /* into the arena */
    uint32_t                      path_len;
    uint32_t                      reserved;
} ngx_http_prep_row_t;


/* HyperLogLog registers, updated byte-wise with compare-and-swap */
typedef struct {
    ngx_atomic_t                  tag;             /* day, 1 for all, 0 */
    ngx_atomic_t                  registers[NGX_HTTP_PREP_STATS_HLL_WORDS];
} ngx_http_prep_hll_t;

typedef struct {
    ngx_atomic_t                  tag;             /* hour, 0 */
    ngx_atomic_t                  registers[NGX_HTTP_PREP_STATS_HOUR_WORDS];
} ngx_http_prep_hll_hour_t;


/* the visitor hash key of one (local) day */
typedef struct {
    ngx_atomic_t                  day;
    u_char                        key[16];
} ngx_http_prep_salt_t;


/*
 * The zone's totals.  The session ones (visits to evictions) are counted
 * by the shards: in the zone they hold only what the state file restored,
 * in a copy the totals (ngx_http_prep_stats_sessions_total()).
 */
typedef struct {
    ngx_atomic_t                  hits;
    ngx_atomic_t                  pages;
    ngx_atomic_t                  bytes;
    ngx_atomic_t                  classes[NGX_HTTP_PREP_STATS_CLASSES];

    ngx_atomic_t                  visits;          /* sessions started */
    ngx_atomic_t                  sessions;        /* sessions ended */
    ngx_atomic_t                  session_ms;
    ngx_atomic_t                  histogram[NGX_HTTP_PREP_STATS_HISTOGRAM];
    ngx_atomic_t                  evictions;

    /* hits of snapshot paths that found no free row */
    ngx_atomic_t                  unlisted;

    /* requests of robots (prep_stats_bots): never hits, pages, visitors
     * or visits */
    ngx_atomic_t                  bot_hits;
    ngx_atomic_t                  bot_bytes;
} ngx_http_prep_counters_t;


typedef struct ngx_http_prep_session_s  ngx_http_prep_session_t;

struct ngx_http_prep_session_s {
    ngx_http_prep_session_t      *next;            /* in its hash bucket */
    ngx_queue_t                   queue;           /* lru or free */
    uint64_t                      visitor;
    uint64_t                      first;           /* msec */
    uint64_t                      last;
    uint64_t                      moved;           /* to the queue head */
};


/* a session as saved: no pointers */
typedef struct {
    uint64_t                      visitor;
    uint64_t                      first;
    uint64_t                      last;
} ngx_http_prep_session_copy_t;


/*
 * A shard's share of the session counters since the zone was created,
 * changed under its lock with the sessions they count: the state file's
 * copy of the sessions, one shard at a time, sums each share as it was
 * when that shard was copied, so it counts what it holds.
 */
typedef struct {
    uint64_t                      visits;
    uint64_t                      sessions;
    uint64_t                      session_ms;
    uint64_t                      histogram[NGX_HTTP_PREP_STATS_HISTOGRAM];
    uint64_t                      evictions;
} ngx_http_prep_shard_counts_t;


/*
 * A shard of the session table: a chained hash table by visitor (one or
 * two cache misses a lookup, where a tree of the same size takes a
 * dozen) and the LRU queue, under one spin lock.
 */
typedef struct {
    ngx_atomic_t                  lock;            /* owner token or 0 */
    ngx_http_prep_session_t     **buckets;
    ngx_uint_t                    mask;            /* buckets - 1 */
    ngx_queue_t                   lru;             /* most recent first */
    ngx_queue_t                   free;
    ngx_atomic_t                  live;
    ngx_uint_t                    capacity;
    ngx_http_prep_session_t      *nodes;
    ngx_http_prep_shard_counts_t  counts;
} ngx_http_prep_shard_t;


/* the zone's fixed block: this struct, then rows, slots and arena */
typedef struct {
    /* the layout, compared when a zone is reused on reload */
    ngx_uint_t                    paths_max;
    ngx_uint_t                    nslots;          /* a power of 2 */
    size_t                        arena_size;
    size_t                        fixed_size;
    size_t                        rows_off;
    size_t                        slots_off;
    size_t                        arena_off;
    ngx_uint_t                    sessions_max;

    time_t                        since;

    ngx_http_prep_counters_t      c;

    ngx_http_prep_salt_t          salts[2];

    /*
     * A set for every hour and every day of the rings, by id % size, for
     * the memoria tecnica (prep-report merges origins by their union).
     * The newest set of each kind counts live; an older one's estimate is
     * frozen into its period when a newer set begins.
     */
    ngx_http_prep_hll_hour_t      hll_hour[NGX_HTTP_PREP_STATS_HOURS];
    ngx_http_prep_hll_t           hll_day[NGX_HTTP_PREP_STATS_DAYS];
    ngx_http_prep_hll_t           hll_all;
    ngx_atomic_t                  hll_last[2];     /* by HLL kind */

    ngx_http_prep_corte_t         cortes[NGX_HTTP_PREP_STATS_BUCKETS];

    /* buckets marked serving and cortes recorded: a save is due */
    ngx_atomic_t                  marks;

    ngx_http_prep_period_t        buckets[NGX_HTTP_PREP_STATS_BUCKETS];
    ngx_http_prep_period_t        hours[NGX_HTTP_PREP_STATS_HOURS];
    ngx_http_prep_period_t        days[NGX_HTTP_PREP_STATS_DAYS];

    ngx_atomic_t                  nrows;           /* with "other" */
    ngx_atomic_t                  arena_used;

    /* the state file */
    ngx_atomic_t                  save_lock;       /* owner token or 0 */
    ngx_atomic_t                  retired;         /* moved to a new zone */
    ngx_atomic_t                  main_bad;        /* do not keep as .prev */
    ngx_atomic_t                  saved_changes;
    ngx_atomic_t                  saves;
    ngx_atomic_t                  save_errors;
    ngx_atomic_t                  last_save;       /* unix time */
    ngx_atomic_t                  last_error_time;
    u_char                        last_error[NGX_HTTP_PREP_STATS_ERR_LEN];
    u_char                        restored[NGX_HTTP_PREP_STATS_ERR_LEN];

    ngx_http_prep_shard_t         shards[NGX_HTTP_PREP_STATS_SHARDS];
} ngx_http_prep_stats_sh_t;


/* prep_stats_visitor_key: the secret's size, in bytes */
#define NGX_HTTP_PREP_STATS_KEY_MIN   16
#define NGX_HTTP_PREP_STATS_KEY_MAX   1024


typedef struct {
    ngx_http_prep_stats_sh_t     *sh;
    ngx_slab_pool_t              *shpool;
    ngx_shm_zone_t               *shm_zone;
    ngx_uint_t                    paths_max;
    ngx_str_t                     state;           /* NUL terminated */

    /* prep_stats_visitor_key: the daily keys derived from one secret */
    ngx_uint_t                    keyed;
    u_char                        key[16];
    uint64_t                      key_id;          /* 0: random keys */
} ngx_http_prep_stats_zone_t;


/* a copy of the zone taken under short locks, for the status or a save */
typedef struct {
    u_char                       *fixed;
    ngx_http_prep_stats_sh_t     *sh;              /* == fixed */
    ngx_http_prep_session_copy_t *sessions;
    ngx_uint_t                    nsessions;
    ngx_uint_t                    live;
    size_t                        slab_size;
    size_t                        slab_free;
} ngx_http_prep_stats_copy_t;


/* one save of the state file, possibly done in a thread */
typedef struct {
    ngx_http_prep_stats_zone_t   *zone;
    ngx_int_t                     rc;
    uint64_t                      changes;
    size_t                        len;
    /* NGX_ERROR after the rename: PATH is new, perhaps not durable */
    ngx_uint_t                    replaced;
    char                          err[NGX_HTTP_PREP_STATS_ERR_LEN];
} ngx_http_prep_stats_save_t;


typedef struct {
    ngx_shm_zone_t               *shm_zone;
    ngx_msec_t                    session_timeout;
    ngx_msec_t                    state_interval;
    ngx_str_t                     state;
    ngx_str_t                     thread_pool;     /* empty: in line */
    ngx_flag_t                    state_off;       /* prep_stats_state off */
    prep_bots_t                  *bots;            /* malloc'd, freed with
                                                      the cycle's pool */
    ngx_flag_t                    bots_replace;
    ngx_flag_t                    status;          /* a prep_status used */
    ngx_uint_t                    keyed;           /* visitor key read */
    u_char                        key[16];
    uint64_t                      key_id;
} ngx_http_prep_stats_main_conf_t;


/*
 * The state file when prep_stats_state is not given, relative to nginx's
 * prefix unless absolute; a package may define another at build time.
 */
#ifndef NGX_HTTP_PREP_STATS_STATE_DEFAULT
#define NGX_HTTP_PREP_STATS_STATE_DEFAULT  "prep_stats.state"
#endif


typedef struct {
    ngx_flag_t                    stats;           /* as configured */
    ngx_flag_t                    enabled;         /* in effect */
    ngx_array_t                  *pages;           /* ngx_str_t types */
} ngx_http_prep_stats_loc_conf_t;


typedef struct {
    uint64_t                      visitor;
    unsigned                      bot_known:1;
    unsigned                      bot:1;
    unsigned                      hashed:1;
    unsigned                      touched:1;
    unsigned                      counted:1;
    unsigned                      session_new:1;
} ngx_http_prep_stats_ctx_t;


extern ngx_module_t  ngx_http_prep_stats_module;


/* ngx_http_prep_stats_zone.c */
size_t ngx_http_prep_stats_fixed_size(ngx_uint_t paths_max,
    size_t *rows_off, size_t *slots_off, size_t *arena_off,
    ngx_uint_t *nslots, size_t *arena_size);
ngx_int_t ngx_http_prep_stats_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
void ngx_http_prep_stats_lock(ngx_atomic_t *lock);
ngx_uint_t ngx_http_prep_stats_trylock(ngx_atomic_t *lock);
void ngx_http_prep_stats_unlock(ngx_atomic_t *lock);
ngx_http_prep_row_t *ngx_http_prep_stats_row(ngx_http_prep_stats_zone_t *z,
    u_char *path, size_t len, ngx_uint_t insert);
ngx_http_prep_period_t *ngx_http_prep_stats_period(
    ngx_http_prep_stats_zone_t *z, ngx_http_prep_period_t *ring,
    ngx_uint_t n, ngx_atomic_uint_t id);
ngx_atomic_t *ngx_http_prep_stats_hll(ngx_http_prep_stats_zone_t *z,
    ngx_uint_t kind, ngx_atomic_uint_t id);
void ngx_http_prep_stats_hll_add(ngx_atomic_t *registers, unsigned p,
    uint64_t hash);
uint64_t ngx_http_prep_stats_visitors(ngx_http_prep_stats_sh_t *sh,
    ngx_uint_t kind, ngx_atomic_uint_t id, uint64_t frozen);
void ngx_http_prep_stats_mark(ngx_http_prep_stats_zone_t *z, time_t sec,
    ngx_str_t *corte);
ngx_uint_t ngx_http_prep_stats_live(ngx_http_prep_stats_sh_t *sh);
u_char *ngx_http_prep_stats_salt(ngx_http_prep_stats_zone_t *z,
    ngx_atomic_uint_t day);
ngx_int_t ngx_http_prep_stats_copy(ngx_http_prep_stats_zone_t *z,
    ngx_http_prep_stats_copy_t *copy, ngx_uint_t sessions, ngx_pool_t *pool);

#define ngx_http_prep_stats_rows(sh)                                         \
    ((ngx_http_prep_row_t *) ((u_char *) (sh) + (sh)->rows_off))
#define ngx_http_prep_stats_arena(sh)                                        \
    ((u_char *) (sh) + (sh)->arena_off)
#define ngx_http_prep_stats_slots(sh)                                        \
    ((volatile uint32_t *) ((u_char *) (sh) + (sh)->slots_off))

/* period numbers: 5-minute buckets and hours in UTC, days local */
#define ngx_http_prep_stats_bucket_id(sec)                                   \
    ((ngx_atomic_uint_t) (sec) / NGX_HTTP_PREP_STATS_BUCKET_SEC)
#define ngx_http_prep_stats_hour_id(sec)                                     \
    ((ngx_atomic_uint_t) (sec) / 3600)
#define ngx_http_prep_stats_day_id(sec, gmtoff)                              \
    ((ngx_atomic_uint_t) ((sec) + (time_t) (gmtoff) * 60) / 86400)

/* ngx_http_prep_stats_session.c */
ngx_uint_t ngx_http_prep_stats_buckets(ngx_uint_t capacity);
void ngx_http_prep_stats_sessions_init(ngx_http_prep_stats_sh_t *sh,
    ngx_http_prep_session_t **nodes, ngx_http_prep_session_t ***buckets,
    ngx_uint_t capacity);
void ngx_http_prep_stats_prefetch_session(ngx_http_prep_stats_sh_t *sh,
    uint64_t visitor);
ngx_int_t ngx_http_prep_stats_touch(ngx_http_prep_stats_sh_t *sh,
    uint64_t visitor, uint64_t now, uint64_t timeout, uint64_t *prev);
ngx_uint_t ngx_http_prep_stats_sweep(ngx_http_prep_stats_sh_t *sh,
    uint64_t now, uint64_t timeout);
ngx_uint_t ngx_http_prep_stats_sessions_copy(ngx_http_prep_stats_sh_t *sh,
    ngx_http_prep_session_copy_t *out, ngx_uint_t max,
    ngx_http_prep_shard_counts_t *at);
ngx_uint_t ngx_http_prep_stats_sessions_freeze(ngx_http_prep_stats_sh_t *sh,
    ngx_http_prep_counters_t *c);
void ngx_http_prep_stats_sessions_total(ngx_http_prep_stats_sh_t *sh,
    ngx_http_prep_counters_t *c, ngx_http_prep_shard_counts_t *at);
void ngx_http_prep_stats_session_restore(ngx_http_prep_stats_sh_t *sh,
    ngx_http_prep_session_copy_t *s);


/* ngx_http_prep_stats_log.c */
ngx_int_t ngx_http_prep_stats_log_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_prep_stats_add_variables(ngx_conf_t *cf);

/* ngx_http_prep_stats_model.c: the zone as libprep's model and back */
prep_stats_t *ngx_http_prep_stats_export(ngx_http_prep_stats_copy_t *copy,
    ngx_uint_t salts);
ngx_int_t ngx_http_prep_stats_import(ngx_http_prep_stats_zone_t *z,
    prep_stats_t *st);
u_char *ngx_http_prep_stats_encode(ngx_http_prep_stats_zone_t *z,
    ngx_pool_t *pool, ngx_uint_t salts, uint64_t *changes, size_t *len,
    char *err, size_t errlen);

/* ngx_http_prep_stats_state.c */
ngx_int_t ngx_http_prep_stats_restore(ngx_http_prep_stats_zone_t *z,
    ngx_log_t *log);
ngx_int_t ngx_http_prep_stats_migrate(ngx_http_prep_stats_zone_t *z,
    ngx_http_prep_stats_zone_t *old, ngx_log_t *log);
ngx_int_t ngx_http_prep_stats_save(ngx_http_prep_stats_zone_t *z,
    ngx_log_t *log, ngx_uint_t exiting);
ngx_int_t ngx_http_prep_stats_save_begin(ngx_http_prep_stats_save_t *s,
    ngx_http_prep_stats_zone_t *z, ngx_log_t *log, ngx_uint_t exiting);
void ngx_http_prep_stats_save_work(ngx_http_prep_stats_save_t *s);
void ngx_http_prep_stats_save_end(ngx_http_prep_stats_save_t *s,
    ngx_log_t *log);
uint64_t ngx_http_prep_stats_changes(ngx_http_prep_stats_sh_t *sh,
    ngx_http_prep_counters_t *c);
u_char *ngx_http_prep_stats_state_bytes(ngx_http_prep_stats_zone_t *z,
    ngx_pool_t *pool, size_t *len);

/* ngx_http_prep_stats_file.c: the state file's bytes, written (read by
 * ngx_http_prep_read_file()) */
ngx_int_t ngx_http_prep_stats_file_write(u_char *path, u_char *buf,
    size_t len, ngx_uint_t keep_prev, ngx_uint_t *replaced, char *err,
    size_t errlen);

/* ngx_http_prep_stats_module.c */
void ngx_http_prep_stats_register_paths(void);

/* ngx_http_prep_status.c */
ngx_int_t ngx_http_prep_status_handler(ngx_http_request_t *r);

/* ngx_http_prep_status_html.c: the page for a browser */
ngx_int_t ngx_http_prep_status_html_wanted(ngx_http_request_t *r);
ngx_int_t ngx_http_prep_status_html(ngx_http_request_t *r);


#endif /* _NGX_HTTP_PREP_STATS_H_INCLUDED_ */
