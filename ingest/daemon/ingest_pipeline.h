/*
 * Copyright (C) the ngx_prep authors
 *
 * Inside the pipeline of prep-ingest watch (ingest_daemon.h): the state of
 * one candidate on its way to a decision, shared by
 *
 *     pipeline.c          intake: open, stamp, private copy, sidecar;
 *                         then the publication every command shares
 *                         (publication.c: validation in a child,
 *                         decision against the live corte, commit, flip)
 *     pipeline_outcome.c  the decisions that do not publish: reject into
 *                         quarantine, wait for a change, retry later
 *     pipeline_publish.c  once current is flipped: nginx, the records,
 *                         the archive
 */


#ifndef _INGEST_PIPELINE_H_INCLUDED_
#define _INGEST_PIPELINE_H_INCLUDED_


#include <stdint.h>

#include "package/ingest_validate.h"
#include "daemon/ingest_daemon.h"
#include "daemon/ingest_publication.h"


typedef struct {
    ingest_watch_t         *w;
    ingest_cand_t          *c;
    int                     fd;             /* the upload */
    ingest_stamp_t          stamp;
    int                     giveup;

    char                    staged[32];     /* in staging/ */
    int                     staged_fd;
    uint8_t                 sha[PREP_SHA256_LEN];
    uint64_t                size;
    ingest_sidecar_e        sidecar;
    ingest_sidecar_t        side_checked;   /* when sidecar is OK */

    /* the sidecar as ingest_pl_copy_sidecar() copied it: it leaves the
     * drop folder only if copied whole and unchanged since */
    ingest_stamp_t          side_stamp;
    int                     side_copied;

    ingest_live_t           live;
    char                    tmp[INGEST_PUB_TMP_LEN]; /* in cortes/ */
    int                     tmp_fd;
    char                    final[INGEST_SNAP_NAME_LEN];
    ingest_validate_out_t   vo;
    int                     built;
    int                     resumed;

    double                  start;          /* monotonic */
    double                  arrival;        /* wall: the last change */
    double                  wait_s;
    double                  stage_s;
    double                  validate_s;
    double                  commit_s;
    double                  flip_s;
    double                  reload_s;
} ingest_pl_t;


/* pipeline_outcome.c */
void ingest_pl_file(ingest_ev_t *ev, ingest_pl_t *pl);
void ingest_pl_drop_staged(ingest_pl_t *pl);
void ingest_pl_drop_tmp(ingest_pl_t *pl);
void ingest_pl_cleanup(ingest_pl_t *pl);

/* rejected: into quarantine with its .reason, out of the drop folder */
void ingest_pl_reject(ingest_pl_t *pl, ingest_reason_e reason,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* not complete yet: waits for a change, quarantined after a timeout */
void ingest_pl_wait(ingest_pl_t *pl, ingest_reason_e reason,
    const char *msg);

/* an operational failure: everything of the attempt removed, retried */
void ingest_pl_fail(ingest_pl_t *pl, const ingest_err_t *err);

/*
 * 1 when the upload left the drop folder (it did not change); its
 * sidecar leaves with it, or after it when the upload itself went into
 * quarantine, if ingest_pl_copy_sidecar() copied it and it did not
 * change since
 */
int ingest_pl_unlink_drop(ingest_pl_t *pl);

/* NAME.sha256 copied whole into dir_fd/to: 0 (also when there is none
 * or it holds no data), or the errno (EFBIG: over INGEST_SIDECAR_MAX) */
int ingest_pl_copy_sidecar(ingest_pl_t *pl, int dir_fd, const char *to);

/* pipeline_publish.c */
void ingest_pl_finish(ingest_pl_t *pl);
void ingest_pl_duplicate(ingest_pl_t *pl);


#endif /* _INGEST_PIPELINE_H_INCLUDED_ */
