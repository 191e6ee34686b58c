/*
 * Copyright (C) the ngx_prep authors
 *
 * Reading and validating a package: a gzip-compressed tar, read as a
 * stream with libarchive and never extracted.  Every entry is checked
 * (type, name, duplicates, sizes) before its bytes are handed to a sink;
 * the first problem ends the read with a stable reason code.  The gzip
 * layer is checked independently on the same bytes (ingest_gzcheck.h).
 *
 * The site root: when every entry sits under one top-level folder, that
 * folder is the root and the sink sees paths relative to it.  The reader
 * guesses from the first entry; if a later entry proves the guess wrong,
 * it calls the sink's reset() and reads the package again (a flat
 * package whose first entry is a directory costs a second pass).
 */


#ifndef _INGEST_READER_H_INCLUDED_
#define _INGEST_READER_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "prep_snap.h"
#include "prep_path.h"
#include "package/ingest_limits.h"
#include "common/ingest_reasons.h"


typedef struct {
    void  *ctx;

    /* forget every file delivered so far: the package is read again */
    int  (*reset)(void *ctx, ingest_err_t *err);

    /* a regular file, path as served ("/index.html"), size from its header */
    int  (*begin)(void *ctx, const char *path, size_t len, uint64_t size,
                  ingest_err_t *err);
    int  (*data)(void *ctx, const void *buf, size_t len, ingest_err_t *err);
    int  (*end)(void *ctx, ingest_err_t *err);
} ingest_sink_t;


typedef struct {
    uint64_t  entries;              /* archive entries, directories too */
    uint64_t  files;
    uint64_t  file_bytes;
    uint64_t  package_bytes;        /* the .tar.gz file */
    uint64_t  tar_bytes;            /* the uncompressed tar stream */
    int       stripped;             /* a top-level folder is the root */
    char      root[PREP_PATH_MAX_LEN + 2];   /* that folder, "/x" */
    uint8_t   sha256[PREP_SHA256_LEN];       /* of the .tar.gz file */
    double    verify_seconds;       /* in the gzip check and SHA-256 */
    double    read_seconds;         /* the rest of the read */
    unsigned  passes;
} ingest_archive_info_t;


/*
 * Reads the package open on fd (from its start) and feeds its regular
 * files to sink (NULL: validate only).  Returns 0, or -1 with err set;
 * ingest_reason_rejects(err->reason) tells a bad package from an
 * operational failure.  Needs a UTF-8 LC_CTYPE (see main()), or
 * libarchive cannot convert UTF-8 names.
 */
int ingest_archive_read(int fd, const ingest_limits_t *lim,
    const ingest_sink_t *sink, ingest_archive_info_t *info,
    ingest_err_t *err);


#endif /* _INGEST_READER_H_INCLUDED_ */
