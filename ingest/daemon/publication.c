/*
 * Copyright (C) the ngx_prep authors
 *
 * The one publication path (ingest_publication.h), the live corte it is
 * decided against, and the steps' results (ingest_step.h).
 */


#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/ingest_fault.h"
#include "daemon/ingest_decide.h"
#include "daemon/ingest_publication.h"


ingest_step_e
ingest_step_of(const ingest_err_t *err)
{
    if (err->reason == INGEST_OK) {
        return INGEST_STEP_CONTINUE;
    }

    if (err->reason == INGEST_TRUNCATED) {
        return INGEST_STEP_WAIT;
    }

    return ingest_reason_rejects(err->reason) ? INGEST_STEP_REJECT
                                              : INGEST_STEP_FAIL;
}


int
ingest_step_exit(ingest_step_e step, const ingest_err_t *err)
{
    switch (step) {

    case INGEST_STEP_CONTINUE:
    case INGEST_STEP_DONE:
        return INGEST_EXIT_OK;

    case INGEST_STEP_REJECT:
    case INGEST_STEP_WAIT:
        /* a file named on the command line does not change meanwhile */
        return INGEST_EXIT_REJECTED;

    default:
        return err->reason == INGEST_USAGE ? INGEST_EXIT_USAGE
                                           : INGEST_EXIT_FAILED;
    }
}


int
ingest_live_read(ingest_store_t *st, ingest_live_t *live)
{
    int                        rc;
    char                       msg[PREP_ERRLEN];
    ingest_err_t               err;
    ingest_snapfile_t          sf;
    const prep_snap_header_t  *h;

    memset(live, 0, sizeof(ingest_live_t));
    ingest_err_reset(&err);

    rc = ingest_store_current(st, live->name, sizeof(live->name), &err);
    if (rc != 1) {
        live->name[0] = '\0';
        return rc;
    }

    if (ingest_snapfile_open(&sf, st->cortes_fd, live->name, 0, msg,
                             sizeof(msg))
        != PREP_SNAP_OK)
    {
        ingest_snapfile_close(&sf);
        return -1;
    }

    h = sf.snap.header;
    (void) snprintf(live->corte_id, sizeof(live->corte_id), "%.*s",
                    PREP_SNAP_ID_LEN, h->corte_id);
    (void) prep_snap_corte_iso8601(h, live->iso, sizeof(live->iso));
    live->corte_time = h->corte_time;
    memcpy(live->sha256, h->package_sha256, PREP_SHA256_LEN);
    live->have = 1;

    ingest_snapfile_close(&sf);

    return 1;
}


/* the package's snapshot, written into the temp file and verified */
static ingest_step_e
ingest_publication_validate(ingest_publication_t *pub,
    const ingest_publication_policy_t *policy, ingest_err_t *err)
{
    double                  start;
    const uint8_t          *sha;
    ingest_store_t         *st;
    ingest_validate_conf_t  vc;

    st = pub->store;

    if (!policy->dry_run
        && ingest_store_tmp(st, pub->tmp, INGEST_PUB_TMP_LEN, pub->tmp_fd,
                            err)
           != 0)
    {
        pub->tmp[0] = '\0';
        return INGEST_STEP_FAIL;
    }

    memset(&vc, 0, sizeof(ingest_validate_conf_t));
    vc.pkg_fd = pub->pkg_fd;
    vc.snap_fd = *pub->tmp_fd;
    vc.package_name = pub->package_name;
    vc.limits = pub->limits;
    vc.gzip_level = pub->gzip_level;
    vc.memory_limit = pub->memory_limit;
    vc.in_process = !policy->in_child;
    vc.lock_fd = pub->lock_fd;

    if (policy->dry_run) {
        vc.cortes_fd = pub->scratch_fd;

    } else {
        /* the live snapshot lends its gzip bytes to unchanged files */
        vc.cortes_fd = st->cortes_fd;
        vc.prev_name = pub->live->have ? pub->live->name : NULL;
    }

    start = ingest_now();

    if (ingest_validate(&vc, pub->vo) != 0) {
        pub->validate_s = ingest_now() - start;
        *err = pub->vo->err;
        return ingest_step_of(err);
    }

    pub->validate_s = ingest_now() - start;

    sha = pub->vo->res.archive.sha256;

    (void) snprintf(pub->final, INGEST_SNAP_NAME_LEN,
                    "%s-%02x%02x%02x%02x%02x%02x.snap",
                    pub->vo->res.corte.id, sha[0], sha[1], sha[2], sha[3],
                    sha[4], sha[5]);

    ingest_fault("after_snapshot_write");

    return INGEST_STEP_CONTINUE;
}


/* names the snapshot in cortes/; 1 when a sound one was there already */
static int
ingest_publication_commit(ingest_publication_t *pub, ingest_err_t *err)
{
    int     rc;
    double  start;

    start = ingest_now();

    rc = ingest_store_commit_or_keep(pub->store, *pub->tmp_fd, pub->tmp,
                                     pub->final, err);
    if (rc < 0) {
        return -1;
    }

    (void) close(*pub->tmp_fd);
    *pub->tmp_fd = -1;
    pub->tmp[0] = '\0';

    pub->commit_s = ingest_now() - start;

    ingest_fault("after_snapshot_rename");

    return rc;
}


/* points current at the named snapshot */
static ingest_step_e
ingest_publication_flip(ingest_publication_t *pub, ingest_err_t *err)
{
    double  start;

    start = ingest_now();

    if (ingest_store_flip(pub->store, pub->final, err) != 0) {
        return INGEST_STEP_FAIL;
    }

    pub->flip_s = ingest_now() - start;

    ingest_fault("after_flip");

    return INGEST_STEP_CONTINUE;
}


ingest_step_e
ingest_publication_run(ingest_publication_t *pub,
    const ingest_publication_policy_t *policy, ingest_err_t *err)
{
    int                 rc;
    ingest_step_e       step;
    ingest_candidate_t  cand;

    pub->outcome = INGEST_PUB_PUBLISHED;
    pub->validate_s = 0;
    pub->commit_s = 0;
    pub->flip_s = 0;

    if (!pub->live_known) {
        memset(pub->live, 0, sizeof(ingest_live_t));

        /* current names nothing readable: any good package replaces it */
        if (pub->store != NULL && ingest_live_read(pub->store, pub->live) < 0)
        {
            pub->live->have = 0;
        }
    }

    step = ingest_publication_validate(pub, policy, err);
    if (step != INGEST_STEP_CONTINUE) {
        return step;
    }

    if (policy->validated != NULL) {
        step = policy->validated(pub, policy->data, err);
        if (step != INGEST_STEP_CONTINUE) {
            return step;
        }
    }

    cand.id = pub->vo->res.corte.id;
    cand.iso = pub->vo->res.corte.iso8601;
    cand.time = pub->vo->res.corte.time;
    cand.sha256 = pub->vo->res.archive.sha256;

    switch (ingest_decide(pub->live, &cand, err)) {

    case INGEST_DECIDE_PUBLISH:
        break;

    case INGEST_DECIDE_LIVE:
        pub->outcome = INGEST_PUB_LIVE;

        if (policy->dry_run) {
            return INGEST_STEP_CONTINUE;
        }

        /* the live snapshot is kept if sound, and nothing changes; a
         * corrupt one is replaced by the new one, made current again */
        rc = ingest_publication_commit(pub, err);
        if (rc < 0) {
            return INGEST_STEP_FAIL;
        }

        if (rc == 1) {
            return INGEST_STEP_CONTINUE;
        }

        pub->outcome = INGEST_PUB_PUBLISHED;

        return ingest_publication_flip(pub, err);

    default:
        return INGEST_STEP_REJECT;
    }

    if (policy->dry_run) {
        return INGEST_STEP_CONTINUE;
    }

    if (ingest_publication_commit(pub, err) < 0) {
        return INGEST_STEP_FAIL;
    }

    if (policy->hold != NULL && policy->hold(pub, policy->data)) {
        pub->outcome = INGEST_PUB_HELD;
        return INGEST_STEP_CONTINUE;
    }

    return ingest_publication_flip(pub, err);
}
