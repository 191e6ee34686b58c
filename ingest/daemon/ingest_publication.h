/*
 * Copyright (C) the ngx_prep authors
 *
 * The one publication path, for every command: a package is validated
 * (package/validator.c: its snapshot written, fsynced and read back as
 * nginx will), decided against the live corte (ingest_decide()), named
 * in cortes/ (ingest_store_commit_or_keep()) and made current
 * (ingest_store_flip()).  Each command says how in its policy, so a rule
 * written here holds for all of them:
 *
 *                validates in     then
 *     watch      a child          commits and flips, or holds the
 *                                 snapshot until --publish-from
 *     publish    the process      commits and flips
 *     check      the process      decides only (a dry run): nothing is
 *                                 written to the store
 *
 * A newer corte, or any when nothing readable is live, is published;
 * the live package itself is "already current" and changes nothing; an
 * older corte, or the live corte with other bytes, is refused with the
 * reason and message of ingest_decide(), whichever command brought it.
 * The way back to an older corte is prep-ingest rollback.
 */


#ifndef _INGEST_PUBLICATION_H_INCLUDED_
#define _INGEST_PUBLICATION_H_INCLUDED_


#include <stdint.h>

#include "daemon/ingest_daemon.h"
#include "daemon/ingest_step.h"
#include "package/ingest_validate.h"
#include "store/ingest_store.h"


/* the size of a temp file's name buffer: ".tmp-XXXXXX" and room */
#define INGEST_PUB_TMP_LEN  32


typedef enum {
    INGEST_PUB_PUBLISHED = 0,       /* current names it (dry run: would) */
    INGEST_PUB_LIVE,                /* the live package: nothing to do */
    INGEST_PUB_HELD                 /* named in cortes/, current as it was */
} ingest_pub_outcome_e;


typedef struct ingest_publication_s  ingest_publication_t;


typedef struct {
    unsigned        dry_run:1;      /* decide only; the store untouched */
    unsigned        in_child:1;     /* validate in a child, with limits */

    /*
     * Called once the snapshot is written and verified, before the
     * decision (watch logs it, check compares the sidecar).  Anything
     * but CONTINUE ends the publication with that step and err.
     */
    ingest_step_e (*validated)(ingest_publication_t *pub, void *data,
        ingest_err_t *err);

    /* called on a decision to publish: 1 names the snapshot but leaves
     * current as it is (--publish-from) */
    int           (*hold)(ingest_publication_t *pub, void *data);

    void           *data;
} ingest_publication_policy_t;


struct ingest_publication_s {
    /* the caller's: the store with its lock held, or NULL (check) */
    ingest_store_t           *store;
    int                       pkg_fd;
    const char               *package_name;  /* a corte source */
    const ingest_limits_t    *limits;
    int                       gzip_level;
    uint64_t                  memory_limit;  /* of the child; 0 none */
    int                       lock_fd;       /* closed in the child */

    /*
     * The snapshot being written.  Unless in a dry run, a new temp file
     * in cortes/ is made into them; the caller removes whatever is left
     * in them on the way out.  Once the temp file is named (or dropped
     * for a sound one of that name), *tmp_fd is closed and -1, tmp "".
     * In a dry run *tmp_fd is the caller's empty file and scratch_fd
     * the folder for the build's spill files.
     */
    int                      *tmp_fd;
    char                     *tmp;           /* INGEST_PUB_TMP_LEN */
    int                       scratch_fd;

    /* filled here, in the caller's storage; live is read here unless
     * live_known (read by the caller, under the same lock) */
    int                       live_known;
    ingest_live_t            *live;
    ingest_validate_out_t    *vo;
    char                     *final;         /* INGEST_SNAP_NAME_LEN */

    /* the result, when the publication CONTINUEs to its end */
    ingest_pub_outcome_e      outcome;
    double                    validate_s;
    double                    commit_s;
    double                    flip_s;
};


/*
 * Runs the publication.  CONTINUE: done, pub->outcome says how.
 * REJECT, WAIT or FAIL: err says why; current is as it was.
 */
ingest_step_e ingest_publication_run(ingest_publication_t *pub,
    const ingest_publication_policy_t *policy, ingest_err_t *err);


#endif /* _INGEST_PUBLICATION_H_INCLUDED_ */
