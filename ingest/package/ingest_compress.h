/*
 * Copyright (C) the ngx_prep authors
 *
 * Gzip variants of the compressible entries of a snapshot being written.
 * A variant is added only when smaller than the raw bytes.  An entry
 * whose content (by hash) the previous snapshot already holds compressed
 * gets those bytes copied; the others are compressed by up to
 * INGEST_GZIP_THREADS threads: whole by libdeflate up to
 * INGEST_DEFLATE_WHOLE bytes, in chunks read back from the snapshot file
 * with pread through zlib above.  Output is spooled (memory, then a
 * scratch file) until it is known to be smaller, so memory stays bounded
 * for any entry size.
 */


#ifndef _INGEST_COMPRESS_H_INCLUDED_
#define _INGEST_COMPRESS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "prep_snap.h"
#include "common/ingest_reasons.h"


#define INGEST_GZIP_THREADS     2
#define INGEST_GZIP_MIN_SIZE    64      /* smaller never gains */
#define INGEST_SPOOL_MEM        (8u << 20)

/* entries up to this size are compressed whole, by libdeflate, into the
 * spool's memory (which must be at least as large); bigger ones stream
 * through zlib: memory stays bounded whatever the entry (at most two
 * threads times twice this, touched only as far as the entry needs) */
#define INGEST_DEFLATE_WHOLE    INGEST_SPOOL_MEM
#define INGEST_REUSE_MAX        200000  /* previous entries indexed */


typedef struct {
    long      ordinal;
    uint64_t  off;                      /* raw data in the file */
    uint64_t  len;
    uint8_t   hash[PREP_SNAP_HASH_LEN];
} ingest_gzjob_t;


typedef struct {
    prep_snap_writer_t  *writer;
    int                  fd;            /* the snapshot being written */
    int                  spill_dir;     /* scratch files go here */
    int                  level;         /* 1..9 */
    unsigned             threads;
    const prep_snap_t   *prev;          /* NULL: nothing to reuse */
    int                  prev_fd;
} ingest_gzip_conf_t;


typedef struct {
    uint64_t  variants;
    uint64_t  bytes;
    uint64_t  reused;
    uint64_t  compressed;               /* entries deflated here */
} ingest_gzip_stats_t;


/* a failure rc (PREP_SNAP_*) of the snapshot writer into err; returns -1 */
int ingest_writer_fail(ingest_err_t *err, prep_snap_writer_t *w, int rc);


/* jobs is reordered (largest first); the raw bytes must be flushed */
int ingest_gzip_variants(const ingest_gzip_conf_t *conf,
    ingest_gzjob_t *jobs, size_t njobs, ingest_gzip_stats_t *stats,
    ingest_err_t *err);


#endif /* _INGEST_COMPRESS_H_INCLUDED_ */
