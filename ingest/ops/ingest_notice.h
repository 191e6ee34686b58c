/*
 * Copyright (C) the ngx_prep authors
 *
 * Suspending and resuming publication (issue 11, section 1): the state
 * written to the store, a "suspend" or "resume" line in the events log,
 * nginx told through the control socket (the module reads the state
 * with "current"), and the after-publish hook run with PREP_EVENT so the
 * CDN is purged.  Used by "prep-ingest suspend|resume" and by the watch
 * when the institute drops its notice (AVISO.html).
 */


#ifndef _INGEST_NOTICE_H_INCLUDED_
#define _INGEST_NOTICE_H_INCLUDED_


#include "cli/ingest_config.h"
#include "daemon/ingest_daemon.h"
#include "ops/ingest_suspension.h"
#include "store/ingest_events.h"


typedef struct {
    int           suspend;              /* 1 suspend, 0 resume */
    const char   *source;               /* "command" or "drop" */
    const char   *file;                 /* the dropped file, or NULL */
    const char   *notice;               /* checked HTML, or NULL */
    size_t        notice_len;
    const char   *reason;
    int           detached_hook;        /* the watch never waits */
} ingest_suspend_req_t;


/*
 * Applies the request to the store (which the caller has locked when it
 * is not the watch) and logs it.  Returns 0 when the state is written;
 * *live is 1 when nginx confirmed it, 0 when it could not be told, -1
 * without --control.  msg says what failed.
 */
int ingest_suspend_apply(ingest_store_t *st, const ingest_config_t *conf,
    ingest_events_t *log, const ingest_suspend_req_t *req, int *live,
    char *msg, size_t size);

/* watch: 1 when c is the institute's notice, handled (applied as a
 * suspension, or refused and kept in quarantine) */
int ingest_notice_drop(ingest_watch_t *w, ingest_cand_t *c);


#endif /* _INGEST_NOTICE_H_INCLUDED_ */
