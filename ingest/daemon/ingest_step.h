/*
 * Copyright (C) the ngx_prep authors
 *
 * What a step of a publication found, for the one place that acts on it
 * (the dispatcher of pipeline.c for watch, the exit status for publish
 * and check).  A step says what is to happen and why, in the err it is
 * given; it does not quarantine, wait or retry by itself.
 */


#ifndef _INGEST_STEP_H_INCLUDED_
#define _INGEST_STEP_H_INCLUDED_


#include "common/ingest_reasons.h"


typedef enum {
    INGEST_STEP_CONTINUE = 0,       /* on to the next step */
    INGEST_STEP_REJECT,             /* the package is bad: err says why */
    INGEST_STEP_WAIT,               /* not complete yet: wait for a
                                     * change (watch), a rejection for a
                                     * file named on the command line */
    INGEST_STEP_FAIL,               /* not the package's fault: retry */
    INGEST_STEP_DONE                /* dealt with (gone, unchanged, a
                                     * duplicate, held): nothing more */
} ingest_step_e;


/*
 * The step an error calls for: a truncated package may be an upload
 * still in progress (WAIT), a reason that condemns the package REJECTs
 * it, any other is an operational FAILure; no error is CONTINUE.
 */
ingest_step_e ingest_step_of(const ingest_err_t *err);

/* the exit status of a command for a step (INGEST_EXIT_*) */
int ingest_step_exit(ingest_step_e step, const ingest_err_t *err);


#endif /* _INGEST_STEP_H_INCLUDED_ */
