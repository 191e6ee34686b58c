/*
 * Copyright (C) the ngx_prep authors
 *
 * Reading a package is the risky part: libarchive and zlib parse bytes
 * an attacker may have chosen.  The daemon does it in a child process
 * with its own resource limits, so a crash or a runaway there costs one
 * package (quarantined as validator_crash) and never the daemon.  The
 * child builds the snapshot into a temp file the parent created, fsyncs
 * it, reads it back as nginx will, and reports through a pipe; the
 * parent decides what to do with the file.
 */


#ifndef _INGEST_VALIDATE_H_INCLUDED_
#define _INGEST_VALIDATE_H_INCLUDED_


#include <stdint.h>

#include "package/ingest_build.h"
#include "common/ingest_reasons.h"


/* a package is read in well under a second: these only stop a runaway */
#define INGEST_VALIDATOR_CPU_SECONDS  600
#define INGEST_VALIDATOR_WALL_SECONDS 300


typedef struct {
    int                     pkg_fd;
    int                     snap_fd;        /* empty temp file, read-write */
    int                     cortes_fd;      /* previous snapshot, scratch */
    const char             *prev_name;      /* in cortes/, or NULL */
    const char             *package_name;   /* a corte source */
    const ingest_limits_t  *limits;
    int                     gzip_level;
    uint64_t                memory_limit;   /* RLIMIT_AS; 0 none */
    int                     in_process;     /* no child (prep-ingest check) */

    /* the watch's lock, or -1: the child must not hold it, or a watch
     * restarted right after a kill -9 would find it taken by the child
     * that is still dying of PR_SET_PDEATHSIG */
    int                     lock_fd;
} ingest_validate_conf_t;


typedef struct {
    ingest_err_t            err;
    ingest_build_result_t   res;
    double                  build_seconds;
    double                  fsync_seconds;
    double                  check_seconds;  /* the read-back */
    long                    peak_kib;       /* the child's peak RSS */
} ingest_validate_out_t;


/* 0 when the snapshot is written, fsynced and verified; -1 with out->err */
int ingest_validate(const ingest_validate_conf_t *conf,
    ingest_validate_out_t *out);


#endif /* _INGEST_VALIDATE_H_INCLUDED_ */
