/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-ingest watch: the daemon.  One thread, one poll() loop over the
 * inotify descriptor and a signalfd; everything else is a deadline
 * checked by the loop.  Files seen in the drop folder are candidates;
 * the due one with the earliest corte (from its name) goes through the
 * pipeline (pipeline.c): private copy, sidecar, validation in a child,
 * decision against the live corte, snapshot commit and flip, nginx
 * reload and confirmation, events, archive, hook, retention.
 *
 * A candidate is in one of these states:
 *
 *     DUE       to be looked at (new, changed, or its time came)
 *     WAITING   incomplete (truncated, sidecar missing or not matching):
 *               looked at again when it changes, quarantined when it has
 *               not changed for --incomplete-timeout
 *     RETRY     an operational failure (disk full, I/O): tried again
 *               after a backoff
 *     STUCK     decided, but it could not be removed from the drop
 *               folder: ignored until it changes
 *
 * Whatever the state, the pipeline first compares the file's stamp with
 * the one it saw last: a waiting or stuck file that did not change is
 * left alone, so events and listings only need to make things due.
 */


#ifndef _INGEST_DAEMON_H_INCLUDED_
#define _INGEST_DAEMON_H_INCLUDED_


#include <stdint.h>
#include <sys/types.h>

#include "prep_snap.h"
#include "cli/ingest_config.h"
#include "store/ingest_events.h"
#include "store/ingest_files.h"
#include "common/ingest_reasons.h"
#include "store/ingest_store.h"


#define INGEST_MAX_CANDIDATES    4096
#define INGEST_PUBLISHED_MAX     1024     /* remembered (corte, SHA-256) */
#define INGEST_RETRY_MAX         60.0     /* seconds between retries */
#define INGEST_RELOAD_RETRY_MAX  30.0
#define INGEST_WATCH_RETRY       1.0      /* re-adding a lost watch */
#define INGEST_HOOK_OUTPUT       1024     /* last bytes of a hook's output */
#define INGEST_HOOK_DELAY_MAX    600.0
#define INGEST_WATCH_LOCK        ".watch.lock"


typedef enum {
    INGEST_CAND_DUE = 0,
    INGEST_CAND_WAITING,
    INGEST_CAND_RETRY,
    INGEST_CAND_STUCK
} ingest_cand_state_e;


typedef struct {
    char                  name[INGEST_NAME_MAX + 1];
    ingest_cand_state_e   state;
    ingest_stamp_t        stamp;
    int                   have_stamp;
    double                due;          /* monotonic */
    double                since;        /* the stamp last changed */
    unsigned              failures;
    ingest_reason_e       reason;       /* why it waits */
    char                  msg[INGEST_ERRLEN];
    char                  trigger[16];  /* what brought it in */
    int                   seen_logged;
    int                   recheck;      /* its sidecar changed */
    int64_t               sort_key;     /* corte in the name, minutes */
} ingest_cand_t;


/* what the daemon knows about the live corte, read from the store */
typedef struct {
    int       have;
    char      name[INGEST_SNAP_NAME_LEN];
    char      corte_id[PREP_SNAP_ID_LEN + 1];
    char      iso[PREP_SNAP_ISO8601_LEN];
    int64_t   corte_time;
    uint8_t   sha256[PREP_SHA256_LEN];
} ingest_live_t;


typedef struct {
    uint8_t   sha256[PREP_SHA256_LEN];
} ingest_published_t;


typedef struct {
    /* the newest published corte, until its hook succeeds or gives up */
    int            active;
    ingest_live_t  corte;
    unsigned       attempt;         /* attempts made so far */
    double         next_at;         /* monotonic; HUGE_VAL: until nginx
                                     * serves the corte */
    int            resumed;

    /* the process, which may still be running for an older corte */
    pid_t          pid;             /* 0: none */
    int            out_fd;
    char           out[INGEST_HOOK_OUTPUT];
    size_t         out_len;
    double         started;
    double         deadline;
    int            killed;
    ingest_live_t  run;
    unsigned       run_attempt;
} ingest_hook_t;


typedef struct {
    ingest_config_t    *conf;
    ingest_events_t     log;
    ingest_store_t      store;
    int                 staging_fd;
    int                 packages_fd;
    int                 quarantine_fd;
    int                 watch_lock_fd;

    /* the drop folder and its watch */
    int                 drop_fd;
    int                 inotify_fd;
    int                 wd;                 /* -1: not watching */
    double              watch_retry_at;
    int                 drop_missing_logged;
    int                 rescan;             /* a full rescan is due */
    double              next_rescan;

    int                 signal_fd;
    int                 stop;

    ingest_cand_t      *cands;
    size_t              ncands;
    size_t              cands_cap;
    int                 full_logged;

    /* nginx could not be told: retried until it serves current */
    int                 reload_pending;
    double              reload_at;
    unsigned            reload_failures;
    double              reload_since;       /* wall */

    ingest_hook_t       hook;

    /* no new corte: alarms every stale_period */
    double              last_publish;       /* wall; 0 unknown */
    unsigned            stale_alarms;

    /* published packages, from the events log and since */
    ingest_published_t  published[INGEST_PUBLISHED_MAX];
    size_t              npublished;
    size_t              published_next;
    uint8_t             last_published[PREP_SHA256_LEN];
    int                 have_last_published;
    int                 last_hook_done;
} ingest_watch_t;


/* dropfolder.c: the drop folder */
int ingest_watch_start(ingest_watch_t *w);
void ingest_watch_read(ingest_watch_t *w);
void ingest_watch_retry(ingest_watch_t *w);
void ingest_watch_rescan(ingest_watch_t *w);
int ingest_watch_ignored_name(const char *name);

ingest_cand_t *ingest_cand_find(ingest_watch_t *w, const char *name);
/* finds or adds a candidate and makes it due; change: an event says
 * the file changed (not just a listing) */
ingest_cand_t *ingest_cand_touch(ingest_watch_t *w, const char *name,
    const char *trigger, int change);
void ingest_cand_remove(ingest_watch_t *w, ingest_cand_t *c);
/* the due candidate to take next, or NULL; *next gets the earliest
 * future deadline (unchanged when there is none) */
ingest_cand_t *ingest_cand_next(ingest_watch_t *w, double now,
    double *next);

/* pipeline.c: one candidate, start to end */
void ingest_pipeline_run(ingest_watch_t *w, ingest_cand_t *c);
void ingest_pipeline_reload(ingest_watch_t *w);

/* publication.c: the corte current names; 1, 0 when there is none, -1
 * when current names nothing readable */
int ingest_live_read(ingest_store_t *st, ingest_live_t *live);

/* hook.c: the --after-publish command; deferred: wait for
 * ingest_hook_release() (nginx serves the corte) */
void ingest_hook_schedule(ingest_watch_t *w, const ingest_live_t *corte,
    int resumed, int deferred);
void ingest_hook_release(ingest_watch_t *w);
void ingest_hook_poll(ingest_watch_t *w, double now, double *next);
void ingest_hook_reap(ingest_watch_t *w);
void ingest_hook_output(ingest_watch_t *w);

/* recover.c: state from the events log at start */
void ingest_recover(ingest_watch_t *w);
int ingest_published_has(ingest_watch_t *w,
    const uint8_t sha[PREP_SHA256_LEN]);
void ingest_published_add(ingest_watch_t *w,
    const uint8_t sha[PREP_SHA256_LEN]);


#endif /* _INGEST_DAEMON_H_INCLUDED_ */
