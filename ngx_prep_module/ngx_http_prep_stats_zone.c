
/*
 * Copyright (C) the ngx_prep authors
 *
 * The statistics zone: its layout and creation (fresh, reused on reload,
 * or carried over from the previous zone of another size), the spin lock
 * of the shards, the rows of paths, the rings of periods, the
 * HyperLogLog sets and the daily salt of the visitor hash.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/random.h>

#include "prep_owner.h"
#include "ngx_http_prep_stats.h"


/* pages kept free in the slab pool for its own bookkeeping */
#define NGX_HTTP_PREP_STATS_SLAB_SPARE  4

/* spins between looks at whether a lock's owner is still alive */
#define NGX_HTTP_PREP_STATS_LOCK_CHECK  4096


static ngx_int_t ngx_http_prep_stats_layout(ngx_http_prep_stats_zone_t *z,
    ngx_shm_zone_t *shm_zone);
static ngx_http_prep_stats_zone_t *ngx_http_prep_stats_old_zone(
    ngx_shm_zone_t *shm_zone);
static void ngx_http_prep_stats_random(u_char *buf, size_t len);
static ngx_http_prep_row_t *ngx_http_prep_stats_probe(
    ngx_http_prep_stats_sh_t *sh, uint32_t hash, u_char *path, size_t len,
    ngx_uint_t *empty);


size_t
ngx_http_prep_stats_fixed_size(ngx_uint_t paths_max, size_t *rows_off,
    size_t *slots_off, size_t *arena_off, ngx_uint_t *nslots,
    size_t *arena_size)
{
    size_t      off;
    ngx_uint_t  n;

    /* at most half the slots used: probes stay short */
    for (n = 1; n < 2 * (paths_max + 1); n <<= 1) {
        /* void */
    }

    off = ngx_align(sizeof(ngx_http_prep_stats_sh_t), 64);
    *rows_off = off;

    off += (paths_max + 1) * sizeof(ngx_http_prep_row_t);
    off = ngx_align(off, 64);
    *slots_off = off;

    off += n * sizeof(uint32_t);
    off = ngx_align(off, 64);
    *arena_off = off;

    *arena_size = paths_max * NGX_HTTP_PREP_STATS_ARENA_PER;
    *nslots = n;

    return off + *arena_size;
}


/*
 * shm_zone->init: data is the previous cycle's zone when nginx reuses the
 * memory (reload, same size); otherwise the zone is new, and is filled
 * from the previous zone of another size if there is one, else from the
 * state file.
 */

ngx_int_t
ngx_http_prep_stats_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_prep_stats_zone_t *ozone = data;

    ngx_http_prep_stats_zone_t  *z, *old;

    z = shm_zone->data;

    if (ozone) {
        if (ozone->paths_max != z->paths_max) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "prep_stats_zone \"%V\": paths=%ui differs from "
                          "the running zone's %ui; change the zone size as "
                          "well, the counters are then carried over",
                          &shm_zone->shm.name, z->paths_max,
                          ozone->paths_max);
            return NGX_ERROR;
        }

        z->sh = ozone->sh;
        z->shpool = ozone->shpool;

        return NGX_OK;
    }

    z->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        z->sh = z->shpool->data;
        return NGX_OK;
    }

    if (ngx_http_prep_stats_layout(z, shm_zone) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_test_config || ngx_process == NGX_PROCESS_SIGNALLER) {
        return NGX_OK;
    }

    old = ngx_http_prep_stats_old_zone(shm_zone);

    if (old && old->sh && !old->sh->retired
        && ngx_http_prep_stats_migrate(z, old, shm_zone->shm.log) == NGX_OK)
    {
        return NGX_OK;
    }

    return ngx_http_prep_stats_restore(z, shm_zone->shm.log);
}


static ngx_int_t
ngx_http_prep_stats_layout(ngx_http_prep_stats_zone_t *z,
    ngx_shm_zone_t *shm_zone)
{
    size_t                     len, fixed, rows_off, slots_off, arena_off;
    size_t                     arena_size, bytes;
    ngx_uint_t                 i, nslots, pages, capacity, share, nb;
    ngx_slab_pool_t           *shpool;
    ngx_http_prep_stats_sh_t  *sh;
    ngx_http_prep_session_t   *nodes[NGX_HTTP_PREP_STATS_SHARDS];
    ngx_http_prep_session_t  **buckets[NGX_HTTP_PREP_STATS_SHARDS];

    shpool = z->shpool;

    /* a full table evicts: running out of slab memory is not an error */
    shpool->log_nomem = 0;

    len = sizeof(" in prep_stats_zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        goto too_small;
    }

    ngx_sprintf(shpool->log_ctx, " in prep_stats_zone \"%V\"%Z",
                &shm_zone->shm.name);

    fixed = ngx_http_prep_stats_fixed_size(z->paths_max, &rows_off,
                                           &slots_off, &arena_off, &nslots,
                                           &arena_size);

    sh = ngx_slab_calloc(shpool, fixed);
    if (sh == NULL) {
        goto too_small;
    }

    shpool->data = sh;
    z->sh = sh;

    sh->paths_max = z->paths_max;
    sh->nslots = nslots;
    sh->arena_size = arena_size;
    sh->fixed_size = fixed;
    sh->rows_off = rows_off;
    sh->slots_off = slots_off;
    sh->arena_off = arena_off;
    sh->since = ngx_time();

    /* row 0 is "other" */
    sh->nrows = 1;

    /* the publication's set never rotates: any non-zero tag */
    sh->hll_all.tag = 1;

    /*
     * the rest of the zone is sessions, in equal shares per shard: the
     * nodes and a power of 2 of bucket pointers (up to two per node)
     */

    pages = shpool->pfree > NGX_HTTP_PREP_STATS_SLAB_SPARE
            ? shpool->pfree - NGX_HTTP_PREP_STATS_SLAB_SPARE : 0;

    share = pages / NGX_HTTP_PREP_STATS_SHARDS;

    /* each of the two allocations may round up to one page more */

    if (share < 3) {
        goto too_small;
    }

    bytes = (share - 2) * ngx_pagesize;

    /* the buckets for the most nodes that could fit, then the nodes */

    nb = ngx_http_prep_stats_buckets(
             bytes / (sizeof(ngx_http_prep_session_t)
                      + 2 * sizeof(ngx_http_prep_session_t *)));

    capacity = (bytes - nb * sizeof(ngx_http_prep_session_t *))
               / sizeof(ngx_http_prep_session_t);

    capacity = ngx_min(capacity, nb);

    if (capacity < NGX_HTTP_PREP_STATS_MIN_SESSIONS) {
        goto too_small;
    }

    for (i = 0; i < NGX_HTTP_PREP_STATS_SHARDS; i++) {
        nodes[i] = ngx_slab_calloc(shpool,
                                   capacity * sizeof(ngx_http_prep_session_t));
        buckets[i] = ngx_slab_calloc(shpool,
                                     ngx_http_prep_stats_buckets(capacity)
                                     * sizeof(ngx_http_prep_session_t *));

        if (nodes[i] == NULL || buckets[i] == NULL) {
            goto too_small;
        }
    }

    ngx_http_prep_stats_sessions_init(sh, nodes, buckets, capacity);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, shm_zone->shm.log, 0,
                   "prep stats: zone \"%V\": %ui paths, %ui sessions",
                   &shm_zone->shm.name, z->paths_max, sh->sessions_max);

    return NGX_OK;

too_small:

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "prep_stats_zone \"%V\" of %uz bytes is too small for "
                  "paths=%ui and %d sessions; give it at least %uzk",
                  &shm_zone->shm.name, shm_zone->shm.size, z->paths_max,
                  NGX_HTTP_PREP_STATS_SHARDS
                  * NGX_HTTP_PREP_STATS_MIN_SESSIONS,
                  (ngx_http_prep_stats_fixed_size(z->paths_max, &rows_off,
                                                  &slots_off, &arena_off,
                                                  &nslots, &arena_size)
                   + NGX_HTTP_PREP_STATS_SHARDS
                     * (NGX_HTTP_PREP_STATS_MIN_SESSIONS
                        * (sizeof(ngx_http_prep_session_t)
                           + 2 * sizeof(ngx_http_prep_session_t *))
                        + 3 * ngx_pagesize)
                   + 32 * ngx_pagesize) / 1024 + 1);

    return NGX_ERROR;
}


/* the zone of the same name in the cycle being replaced, if any */

static ngx_http_prep_stats_zone_t *
ngx_http_prep_stats_old_zone(ngx_shm_zone_t *shm_zone)
{
    ngx_uint_t        i;
    ngx_shm_zone_t   *zones;
    ngx_list_part_t  *part;

    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
    zones = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            zones = part->elts;
            i = 0;
        }

        if (&zones[i] == shm_zone
            || zones[i].tag != shm_zone->tag
            || zones[i].init != ngx_http_prep_stats_init_zone
            || zones[i].data == NULL
            || zones[i].shm.name.len != shm_zone->shm.name.len
            || ngx_strncmp(zones[i].shm.name.data, shm_zone->shm.name.data,
                           shm_zone->shm.name.len)
               != 0)
        {
            continue;
        }

        return zones[i].data;
    }

    return NULL;
}


/*
 * A spin lock that survives its owner: nginx force-unlocks only the slab
 * mutexes of a crashed worker, so a lock whose owner no longer exists is
 * taken over.  The lock word holds the owner's token, its pid and start
 * time (libprep/prep_owner.h), so that a dead owner whose pid went to
 * another process, or to the taker itself, is still known to be dead.
 * Critical sections are a few hundred instructions long.
 */

static ngx_atomic_uint_t
ngx_http_prep_stats_self(void)
{
    static ngx_pid_t          pid;
    static ngx_atomic_uint_t  token;

    /* once per process: workers are forked after the master used it */

    if (pid != ngx_pid || token == 0) {
        pid = ngx_pid;
#if (NGX_PTR_SIZE == 8)
        token = (ngx_atomic_uint_t) prep_owner_token(ngx_pid);
#else
        token = (ngx_atomic_uint_t) ngx_pid;
#endif
    }

    return token;
}


static ngx_uint_t
ngx_http_prep_stats_dead(ngx_atomic_uint_t owner, ngx_atomic_uint_t self)
{
    return owner != 0 && owner != self
           && !prep_owner_alive((uint64_t) owner);
}


void
ngx_http_prep_stats_lock(ngx_atomic_t *lock)
{
    ngx_uint_t         i, n;
    ngx_atomic_uint_t  owner, self;

    self = ngx_http_prep_stats_self();

    for (n = 1; /* void */ ; n++) {

        if (*lock == 0 && ngx_atomic_cmp_set(lock, 0, self)) {
            return;
        }

        if (ngx_ncpu > 1) {
            for (i = 0; i < 64; i++) {
                ngx_cpu_pause();
            }

            if (*lock == 0 && ngx_atomic_cmp_set(lock, 0, self)) {
                return;
            }
        }

        ngx_sched_yield();

        if (n % NGX_HTTP_PREP_STATS_LOCK_CHECK) {
            continue;
        }

        owner = *lock;

        if (ngx_http_prep_stats_dead(owner, self)) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "prep stats: lock held by the exited process %uD "
                          "taken over", (uint32_t) owner);

            (void) ngx_atomic_cmp_set(lock, owner, 0);
        }
    }
}


ngx_uint_t
ngx_http_prep_stats_trylock(ngx_atomic_t *lock)
{
    ngx_atomic_uint_t  owner, self;

    self = ngx_http_prep_stats_self();

    if (*lock == 0 && ngx_atomic_cmp_set(lock, 0, self)) {
        return 1;
    }

    owner = *lock;

    if (ngx_http_prep_stats_dead(owner, self)
        && ngx_atomic_cmp_set(lock, owner, self))
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "prep stats: lock held by the exited process %uD "
                      "taken over", (uint32_t) owner);
        return 1;
    }

    return 0;
}


void
ngx_http_prep_stats_unlock(ngx_atomic_t *lock)
{
    (void) ngx_atomic_cmp_set(lock, ngx_http_prep_stats_self(), 0);
}


/*
 * Linear probing from the hash of a path: its row, or NULL and in *empty
 * the empty slot where it would go.  The loop ends: at most half of the
 * slots are ever used (ngx_http_prep_stats_fixed_size).
 */

static ngx_http_prep_row_t *
ngx_http_prep_stats_probe(ngx_http_prep_stats_sh_t *sh, uint32_t hash,
    u_char *path, size_t len, ngx_uint_t *empty)
{
    u_char               *arena;
    uint32_t              idx;
    ngx_uint_t            i, mask;
    volatile uint32_t    *slots;
    ngx_http_prep_row_t  *rows, *row;

    rows = ngx_http_prep_stats_rows(sh);
    arena = ngx_http_prep_stats_arena(sh);
    slots = ngx_http_prep_stats_slots(sh);
    mask = sh->nslots - 1;

    for (i = hash & mask; /* void */ ; i = (i + 1) & mask) {
        idx = slots[i];

        if (idx == 0) {
            *empty = i;
            return NULL;
        }

        row = &rows[idx];

        if (row->hash == hash
            && row->path_len == len
            && ngx_memcmp(arena + row->path_off, path, len) == 0)
        {
            return row;
        }
    }
}


/*
 * The row of a path: found without a lock, since rows are only ever
 * added and a slot is published after its row is complete.  With insert,
 * a missing row is added under the slab mutex; NULL when the table or
 * the arena is full.
 */

ngx_http_prep_row_t *
ngx_http_prep_stats_row(ngx_http_prep_stats_zone_t *z, u_char *path,
    size_t len, ngx_uint_t insert)
{
    uint32_t                   hash, idx;
    ngx_uint_t                 slot;
    ngx_http_prep_row_t       *row;
    ngx_http_prep_stats_sh_t  *sh;

    sh = z->sh;

    if (len == 0 || len > 0xffff) {
        return NULL;
    }

    hash = ngx_murmur_hash2(path, len);

    row = ngx_http_prep_stats_probe(sh, hash, path, len, &slot);

    /* a full table: no lock taken, again and again, for nothing */

    if (row != NULL
        || !insert
        || sh->nrows > sh->paths_max
        || sh->arena_size - sh->arena_used < len)
    {
        return row;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    /* another worker may have added it, or others, meanwhile */

    row = ngx_http_prep_stats_probe(sh, hash, path, len, &slot);

    if (row != NULL) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return row;
    }

    if (sh->nrows > sh->paths_max
        || sh->arena_size - sh->arena_used < len)
    {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NULL;
    }

    idx = (uint32_t) sh->nrows;
    row = &ngx_http_prep_stats_rows(sh)[idx];

    row->hits = 0;
    row->pages = 0;
    row->bytes = 0;
    row->hash = hash;
    row->path_off = (uint32_t) sh->arena_used;
    row->path_len = (uint32_t) len;

    ngx_memcpy(ngx_http_prep_stats_arena(sh) + sh->arena_used, path, len);
    sh->arena_used += len;

    /* readers find the slot only once the row is complete */
    ngx_memory_barrier();

    ngx_http_prep_stats_slots(sh)[slot] = idx;

    ngx_memory_barrier();

    sh->nrows = idx + 1;

    ngx_shmtx_unlock(&z->shpool->mutex);

    return row;
}


/* the ring slot of period id, reset when id is newer than its period */

ngx_http_prep_period_t *
ngx_http_prep_stats_period(ngx_http_prep_stats_zone_t *z,
    ngx_http_prep_period_t *ring, ngx_uint_t n, ngx_atomic_uint_t id)
{
    ngx_http_prep_period_t  *p;

    p = &ring[id % n];

    if (p->id == id) {
        return p;
    }

    if (p->id > id) {
        /* more than a ring ago: the clock went back */
        return NULL;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    if (p->id < id) {
        p->hits = 0;
        p->pages = 0;
        p->bytes = 0;
        p->visitors = 0;
        p->visits = 0;
        p->bot_hits = 0;
        p->bot_bytes = 0;
        p->flags = 0;

        ngx_memory_barrier();

        p->id = id;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return (p->id == id) ? p : NULL;
}


/*
 * The registers of the HyperLogLog set of hour or day id, in rings as
 * long as the periods'.  When a newer set begins, the estimate of the
 * one before is frozen into its period: only the newest set is counted
 * live by the status.  NULL when id is older than the ring reaches.
 */

ngx_atomic_t *
ngx_http_prep_stats_hll(ngx_http_prep_stats_zone_t *z, ngx_uint_t kind,
    ngx_atomic_uint_t id)
{
    size_t                     size;
    unsigned                   hp;
    ngx_uint_t                 n;
    ngx_atomic_t              *tag, *regs, *otag, *oregs;
    ngx_atomic_uint_t          old;
    ngx_http_prep_period_t    *ring, *p;
    ngx_http_prep_stats_sh_t  *sh;

    sh = z->sh;

    if (kind == NGX_HTTP_PREP_STATS_HLL_HOUR) {
        n = NGX_HTTP_PREP_STATS_HOURS;
        ring = sh->hours;
        hp = NGX_HTTP_PREP_STATS_HOUR_P;
        size = NGX_HTTP_PREP_STATS_HOUR_SIZE;
        tag = &sh->hll_hour[id % n].tag;
        regs = sh->hll_hour[id % n].registers;

    } else {
        n = NGX_HTTP_PREP_STATS_DAYS;
        ring = sh->days;
        hp = NGX_HTTP_PREP_STATS_HLL_P;
        size = NGX_HTTP_PREP_STATS_HLL_SIZE;
        tag = &sh->hll_day[id % n].tag;
        regs = sh->hll_day[id % n].registers;
    }

    if (*tag == id) {
        return regs;
    }

    if (*tag > id) {
        return NULL;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    if (*tag < id) {
        ngx_memzero((void *) regs, size);

        ngx_memory_barrier();

        *tag = id;
    }

    old = sh->hll_last[kind];

    if (old < id) {
        sh->hll_last[kind] = id;

        if (kind == NGX_HTTP_PREP_STATS_HLL_HOUR) {
            otag = &sh->hll_hour[old % n].tag;
            oregs = sh->hll_hour[old % n].registers;

        } else {
            otag = &sh->hll_day[old % n].tag;
            oregs = sh->hll_day[old % n].registers;
        }

        p = &ring[old % n];

        if (old && *otag == old && p->id == old) {
            p->visitors = (ngx_atomic_uint_t)
                          prep_hll_count((uint8_t *) oregs, hp);
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    /* the period's slot, where the status finds it and its count goes */
    (void) ngx_http_prep_stats_period(z, ring, n, id);

    return (*tag == id) ? regs : NULL;
}


/* the estimate of a period: live for the newest set, else frozen */

uint64_t
ngx_http_prep_stats_visitors(ngx_http_prep_stats_sh_t *sh, ngx_uint_t kind,
    ngx_atomic_uint_t id, uint64_t frozen)
{
    if (id == 0 || id != sh->hll_last[kind]) {
        return frozen;
    }

    if (kind == NGX_HTTP_PREP_STATS_HLL_HOUR) {
        if (sh->hll_hour[id % NGX_HTTP_PREP_STATS_HOURS].tag != id) {
            return frozen;
        }

        return prep_hll_count(
                   (uint8_t *) sh->hll_hour[id % NGX_HTTP_PREP_STATS_HOURS]
                                   .registers,
                   NGX_HTTP_PREP_STATS_HOUR_P);
    }

    if (sh->hll_day[id % NGX_HTTP_PREP_STATS_DAYS].tag != id) {
        return frozen;
    }

    return prep_hll_count(
               (uint8_t *) sh->hll_day[id % NGX_HTTP_PREP_STATS_DAYS]
                               .registers,
               NGX_HTTP_PREP_STATS_HLL_P);
}


/* raises one register with compare-and-swap on the word that holds it */

void
ngx_http_prep_stats_hll_add(ngx_atomic_t *registers, unsigned p,
    uint64_t hash)
{
    size_t              index;
    uint8_t             rank;
    ngx_atomic_t       *word;
    ngx_atomic_uint_t   old;
    union {
        ngx_atomic_uint_t  w;
        u_char             b[sizeof(ngx_atomic_uint_t)];
    } u;

    index = prep_hll_index(p, hash, &rank);
    word = &registers[index / sizeof(ngx_atomic_t)];

    for ( ;; ) {
        old = *word;
        u.w = old;

        if (u.b[index % sizeof(ngx_atomic_t)] >= rank) {
            return;
        }

        u.b[index % sizeof(ngx_atomic_t)] = rank;

        if (ngx_atomic_cmp_set(word, old, u.w)) {
            return;
        }
    }
}


/*
 * Worker 0's tick, once a second: its 5-minute bucket is marked serving
 * (nginx was running then; a stopped nginx leaves its buckets unmarked,
 * so downtime is a fact in the state file), and the corte this worker
 * serves is recorded as the bucket's, the last tick of a bucket leaving
 * the corte live at its end.
 */

void
ngx_http_prep_stats_mark(ngx_http_prep_stats_zone_t *z, time_t sec,
    ngx_str_t *corte)
{
    size_t                     len;
    ngx_atomic_uint_t          id, old;
    ngx_http_prep_corte_t     *c;
    ngx_http_prep_period_t    *p;
    ngx_http_prep_stats_sh_t  *sh;

    sh = z->sh;
    id = ngx_http_prep_stats_bucket_id(sec);

    p = ngx_http_prep_stats_period(z, sh->buckets,
                                   NGX_HTTP_PREP_STATS_BUCKETS, id);
    if (p == NULL) {
        return;
    }

    while (!((old = p->flags) & PREP_STATS_SERVING)) {
        if (ngx_atomic_cmp_set(&p->flags, old, old | PREP_STATS_SERVING)) {
            (void) ngx_atomic_fetch_add(&sh->marks, 1);
            break;
        }
    }

    if (corte == NULL || corte->len == 0) {
        return;
    }

    len = ngx_min(corte->len, PREP_STATS_CORTE_LEN);
    c = &sh->cortes[id % NGX_HTTP_PREP_STATS_BUCKETS];

    if (c->bucket == id && ngx_strlen(c->id) == len
        && ngx_memcmp(c->id, corte->data, len) == 0)
    {
        return;
    }

    /* a copy of the zone takes the same mutex: never a torn id */
    ngx_shmtx_lock(&z->shpool->mutex);

    ngx_memcpy(c->id, corte->data, len);
    c->id[len] = '\0';
    c->bucket = id;

    ngx_shmtx_unlock(&z->shpool->mutex);

    (void) ngx_atomic_fetch_add(&sh->marks, 1);
}


ngx_uint_t
ngx_http_prep_stats_live(ngx_http_prep_stats_sh_t *sh)
{
    ngx_uint_t  i, live;

    live = 0;

    for (i = 0; i < NGX_HTTP_PREP_STATS_SHARDS; i++) {
        live += sh->shards[i].live;
    }

    return live;
}


/*
 * The key of the visitor hash for a local day, drawn at random the first
 * time the day is seen.  Two slots alternate, so the key of the day
 * before stays intact while the new one is written.  With
 * prep_stats_visitor_key it is derived from the secret instead, the same
 * on every origin, and kept per worker (the zone's slots, perhaps
 * restored from a random day, are not used).
 */

u_char *
ngx_http_prep_stats_salt(ngx_http_prep_stats_zone_t *z,
    ngx_atomic_uint_t day)
{
    u_char                 key[16];
    uint64_t               d, h[2];
    ngx_http_prep_salt_t  *s;

    static ngx_atomic_uint_t  keyed_day;
    static u_char             keyed[16];

    if (z->keyed) {
        if (keyed_day != day) {
            d = (uint64_t) day;
            h[0] = prep_siphash24(z->key, &d, sizeof(d));
            d = ~d;
            h[1] = prep_siphash24(z->key, &d, sizeof(d));
            ngx_memcpy(keyed, h, sizeof(keyed));
            keyed_day = day;
        }

        return keyed;
    }

    s = &z->sh->salts[day & 1];

    if (s->day == day) {
        return s->key;
    }

    ngx_http_prep_stats_random(key, sizeof(key));

    ngx_shmtx_lock(&z->shpool->mutex);

    if (s->day < day) {
        ngx_memcpy(s->key, key, sizeof(key));

        ngx_memory_barrier();

        s->day = day;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_explicit_memzero(key, sizeof(key));

    return s->key;
}


static void
ngx_http_prep_stats_random(u_char *buf, size_t len)
{
    ssize_t     n;
    ngx_fd_t    fd;
    ngx_uint_t  i;

    if (getrandom(buf, len, 0) == (ssize_t) len) {
        return;
    }

    fd = ngx_open_file("/dev/urandom", NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd != NGX_INVALID_FILE) {
        n = ngx_read_fd(fd, buf, len);
        (void) ngx_close_file(fd);

        if (n == (ssize_t) len) {
            return;
        }
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, ngx_errno,
                  "prep stats: no random source for the visitor hash key, "
                  "using a weak one");

    for (i = 0; i < len; i++) {
        buf[i] = (u_char) (ngx_random() ^ (ngx_time() >> (i % 8)) ^ ngx_pid);
    }
}


/*
 * A private copy of the zone for the status or the state file: the fixed
 * block under the slab mutex, then the session counters under every
 * shard lock, or the sessions one shard at a time.
 */

ngx_int_t
ngx_http_prep_stats_copy(ngx_http_prep_stats_zone_t *z,
    ngx_http_prep_stats_copy_t *copy, ngx_uint_t sessions, ngx_pool_t *pool)
{
    ngx_http_prep_stats_sh_t      *sh;
    ngx_http_prep_shard_counts_t   at[NGX_HTTP_PREP_STATS_SHARDS];

    sh = z->sh;

    ngx_memzero(copy, sizeof(ngx_http_prep_stats_copy_t));

    copy->fixed = ngx_palloc(pool, sh->fixed_size);
    if (copy->fixed == NULL) {
        return NGX_ERROR;
    }

    if (sessions) {
        copy->sessions = ngx_palloc(pool, sh->sessions_max
                                    * sizeof(ngx_http_prep_session_copy_t));
        if (copy->sessions == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    ngx_memcpy(copy->fixed, sh, sh->fixed_size);
    copy->slab_free = z->shpool->pfree * ngx_pagesize;

    ngx_shmtx_unlock(&z->shpool->mutex);

    copy->sh = (ngx_http_prep_stats_sh_t *) copy->fixed;
    copy->slab_size = z->shm_zone->shm.size;

    if (!sessions) {
        /* the session counters, with the live ones, at one instant */
        copy->live = ngx_http_prep_stats_sessions_freeze(sh, &copy->sh->c);
        return NGX_OK;
    }

    /*
     * the sessions one shard at a time, and the counters summed as each
     * shard was copied, so that the file restores as many live sessions
     * as it counts started and not completed
     */

    copy->nsessions = ngx_http_prep_stats_sessions_copy(sh, copy->sessions,
                                                        sh->sessions_max, at);
    ngx_http_prep_stats_sessions_total(sh, &copy->sh->c, at);

    copy->live = copy->nsessions;

    return NGX_OK;
}
