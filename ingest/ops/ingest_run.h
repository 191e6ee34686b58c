/*
 * Copyright (C) the ngx_prep authors
 *
 * Running an operator's command (an alarm hook, the after-publish hook of
 * suspend and resume): /bin/sh -c CMD in its own process group, extra
 * environment, the given bytes on its standard input, killed after a
 * timeout, retried with a doubling delay.  ingest_run_detached() does the
 * whole retry loop in a grandchild that holds none of the caller's file
 * descriptors (not the store's lock), so the daemon never waits for it.
 */


#ifndef _INGEST_RUN_H_INCLUDED_
#define _INGEST_RUN_H_INCLUDED_


#include <stddef.h>


#define INGEST_RUN_MAX_DELAY   600.0
#define INGEST_RUN_MAX_ENV     16


typedef struct {
    const char  *cmd;
    const char  *env[INGEST_RUN_MAX_ENV + 1];  /* "NAME=value", NULL */
    const char  *input;
    size_t       input_len;
    unsigned     retries;
    double       delay;                        /* before the first retry */
    double       timeout;                      /* of one attempt */
} ingest_run_t;


/* adds "NAME=value" (copied into storage owned by the caller) */
int ingest_run_env(ingest_run_t *run, char *storage, size_t size,
    const char *name, const char *value);

/* one attempt: the exit status, 128 + signal, or -1 (fork failed,
 * timed out) */
int ingest_run_once(const ingest_run_t *run);

/* attempts until one exits 0; returns 0 or the last status, and the
 * number of attempts in *attempts */
int ingest_run_retry(const ingest_run_t *run, unsigned *attempts);

/* ingest_run_retry() in a detached grandchild; 0, or -1 if it could not
 * be started */
int ingest_run_detached(const ingest_run_t *run);


#endif /* _INGEST_RUN_H_INCLUDED_ */
