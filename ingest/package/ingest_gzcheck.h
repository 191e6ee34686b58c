/*
 * Copyright (C) the ngx_prep authors
 *
 * An independent check of the gzip layer, fed the same bytes libarchive
 * reads.  libarchive neither verifies the gzip trailer (CRC-32, ISIZE)
 * nor looks past the end of the tar stream, so a package truncated after
 * the tar end blocks, with a flipped CRC or with data appended would pass
 * it.  Here zlib checks the trailer, the stream must be exactly one gzip
 * member and nothing may follow it.  The SHA-256 of the package file is
 * computed on the way.
 */


#ifndef _INGEST_GZCHECK_H_INCLUDED_
#define _INGEST_GZCHECK_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "prep_snap.h"
#include "package/ingest_limits.h"
#include "common/ingest_reasons.h"
#include "package/ingest_tarcheck.h"


typedef struct {
    z_stream          zs;
    int               zs_ready;
    int               done;         /* the member ended */
    EVP_MD_CTX       *sha;
    unsigned char    *out;          /* inflated bytes are discarded here */
    uint64_t          in_bytes;
    uint64_t          out_bytes;
    unsigned char     magic[2];
    const ingest_limits_t  *limits;
    double            seconds;      /* time spent checking */
    ingest_err_t      err;          /* the first failure, kept */
    ingest_tarcheck_t tar;          /* fed the inflated bytes */
} ingest_gzcheck_t;


int ingest_gzcheck_init(ingest_gzcheck_t *g, const ingest_limits_t *lim,
    ingest_err_t *err);

/* feeds the next bytes of the file; -1 once the file is known bad */
int ingest_gzcheck_update(ingest_gzcheck_t *g, const void *data,
    size_t len);

/* at the end of the file: -1 unless it was exactly one good member */
int ingest_gzcheck_finish(ingest_gzcheck_t *g,
    uint8_t sha256[PREP_SHA256_LEN]);

void ingest_gzcheck_free(ingest_gzcheck_t *g);


#endif /* _INGEST_GZCHECK_H_INCLUDED_ */
