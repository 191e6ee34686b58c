/*
 * Copyright (C) the ngx_prep authors
 *
 * The decision of a validated package against the live corte, written
 * once for every command: `watch` and `publish` act on it, `check`
 * reports what they would do (all through daemon/publication.c).  A
 * newer corte (or none live) is published; the live package itself is
 * nothing to do; an older corte, or the live corte with other content,
 * is refused: a published corte is never replaced by a package, only by
 * the operator going back to a snapshot in the store (`rollback`).
 */


#ifndef _INGEST_DECIDE_H_INCLUDED_
#define _INGEST_DECIDE_H_INCLUDED_


#include <stdint.h>

#include "common/ingest_reasons.h"
#include "daemon/ingest_daemon.h"


typedef enum {
    INGEST_DECIDE_PUBLISH = 0,          /* nothing live, or it is newer */
    INGEST_DECIDE_LIVE,                 /* the live package, byte for byte */
    INGEST_DECIDE_REFUSE                /* older, or a conflict: err says */
} ingest_decision_e;


/* what a decision knows of the candidate */
typedef struct {
    const char      *id;                /* "20240603_0015" */
    const char      *iso;               /* "2024-06-03T00:15:00-05:00" */
    int64_t          time;
    const uint8_t   *sha256;            /* of the package */
} ingest_candidate_t;


/*
 * live: NULL or live->have == 0 when nothing is live.  On REFUSE, err
 * holds INGEST_OLDER_CORTE or INGEST_CORTE_CONFLICT and the message.
 */
ingest_decision_e ingest_decide(const ingest_live_t *live,
    const ingest_candidate_t *cand, ingest_err_t *err);


#endif /* _INGEST_DECIDE_H_INCLUDED_ */
