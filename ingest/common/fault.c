/*
 * Copyright (C) the ngx_prep authors
 */


#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ingest_cmd.h"
#include "common/ingest_fault.h"


void
ingest_fault(const char *point)
{
    const char  *want;

    want = getenv(INGEST_PAUSE_ENV);

    if (want != NULL && strcmp(want, point) == 0) {
        /* the test resumes us with SIGCONT, after acting at this point */
        (void) raise(SIGSTOP);
    }

    want = getenv(INGEST_FAULT_ENV);

    if (want == NULL || strcmp(want, point) != 0) {
        return;
    }

    fprintf(stderr, INGEST_PROGRAM ": " INGEST_FAULT_ENV "=%s: exiting "
            "with 137 here\n", point);
    (void) fflush(stderr);

    _exit(137);
}
