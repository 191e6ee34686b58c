/*
 * Copyright (C) the ngx_prep authors
 *
 * Package to snapshot: reads the package (ingest_reader.h), streams
 * every file into the snapshot writer while hashing it and watching it
 * for corte sources, scans the zips written, settles the corte, adds the
 * gzip variants (ingest_compress.h) and finishes the file.  Durability
 * and publication are the caller's (ingest_store.h).
 */


#ifndef _INGEST_BUILD_H_INCLUDED_
#define _INGEST_BUILD_H_INCLUDED_


#include <stdint.h>

#include "prep_snap.h"
#include "package/ingest_reader.h"
#include "package/ingest_corte.h"
#include "package/ingest_limits.h"
#include "common/ingest_reasons.h"


typedef struct {
    int                     fd;             /* new empty file, read-write */
    int                     spill_dir;      /* directory for scratch files */
    const char             *package_name;   /* its base name: a corte source */
    const ingest_limits_t  *limits;
    int                     gzip_level;     /* 0: no gzip variants */
    unsigned                threads;
    const prep_snap_t      *prev;           /* to reuse gzip bytes, or NULL */
    int                     prev_fd;
} ingest_build_conf_t;


typedef struct {
    ingest_archive_info_t   archive;
    ingest_corte_result_t   corte;
    uint64_t                files;
    uint64_t                raw_bytes;
    uint64_t                gzip_variants;
    uint64_t                gzip_bytes;
    uint64_t                gzip_reused;
    double                  gzip_seconds;
} ingest_build_result_t;


/*
 * Writes the snapshot of the package open on pkg_fd into conf->fd.
 * Returns 0 (the file is complete but not yet fsynced) or -1 with err.
 */
int ingest_build(int pkg_fd, const ingest_build_conf_t *conf,
    ingest_build_result_t *res, ingest_err_t *err);


#endif /* _INGEST_BUILD_H_INCLUDED_ */
