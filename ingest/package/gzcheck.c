/*
 * Copyright (C) the ngx_prep authors
 */


#include <stdlib.h>
#include <string.h>

#include "package/ingest_gzcheck.h"


#define INGEST_GZCHECK_OUT  (64 * 1024)


int
ingest_gzcheck_init(ingest_gzcheck_t *g, const ingest_limits_t *lim,
    ingest_err_t *err)
{
    memset(g, 0, sizeof(ingest_gzcheck_t));
    ingest_err_reset(&g->err);
    ingest_tarcheck_init(&g->tar);
    g->limits = lim;

    g->out = malloc(INGEST_GZCHECK_OUT);
    g->sha = EVP_MD_CTX_new();

    if (g->out == NULL || g->sha == NULL) {
        ingest_gzcheck_free(g);
        return ingest_fail(err, INGEST_NOMEM, "out of memory");
    }

    if (EVP_DigestInit_ex(g->sha, EVP_sha256(), NULL) != 1) {
        ingest_gzcheck_free(g);
        return ingest_fail(err, INGEST_INTERNAL, "SHA-256 unavailable");
    }

    /* 16 + MAX_WBITS: a gzip wrapper, whose CRC-32 and ISIZE zlib checks */
    if (inflateInit2(&g->zs, 16 + MAX_WBITS) != Z_OK) {
        ingest_gzcheck_free(g);
        return ingest_fail(err, INGEST_NOMEM, "inflateInit2() failed");
    }

    g->zs_ready = 1;

    return 0;
}


void
ingest_gzcheck_free(ingest_gzcheck_t *g)
{
    if (g->zs_ready) {
        (void) inflateEnd(&g->zs);
        g->zs_ready = 0;
    }

    EVP_MD_CTX_free(g->sha);
    g->sha = NULL;
    ingest_tarcheck_free(&g->tar);

    free(g->out);
    g->out = NULL;
}


static int
ingest_gzcheck_zerror(ingest_gzcheck_t *g, int rc)
{
    const char       *msg;
    ingest_reason_e   reason;

    if (rc == Z_MEM_ERROR) {
        return ingest_fail(&g->err, INGEST_NOMEM, "inflate: out of memory");
    }

    msg = g->zs.msg ? g->zs.msg : zError(rc);

    /* zlib tells its errors apart by message only */
    if (strcmp(msg, "incorrect data check") == 0) {
        reason = INGEST_GZIP_CRC;
        msg = "the gzip CRC-32 does not match the data";

    } else if (strcmp(msg, "incorrect length check") == 0) {
        reason = INGEST_GZIP_LENGTH;
        msg = "the gzip ISIZE does not match the data length";

    } else if (strcmp(msg, "incorrect header check") == 0
               || strcmp(msg, "unknown compression method") == 0
               || strcmp(msg, "unknown header flags set") == 0
               || strcmp(msg, "header crc mismatch") == 0)
    {
        reason = INGEST_GZIP_HEADER;

    } else {
        reason = INGEST_GZIP_DATA;
    }

    return ingest_fail(&g->err, reason, "%s (zlib, near byte %llu)", msg,
                       (unsigned long long) g->in_bytes);
}


int
ingest_gzcheck_update(ingest_gzcheck_t *g, const void *data, size_t len)
{
    int                   rc;
    size_t                i, chunk;
    double                start;
    uint64_t              before;
    const unsigned char  *p;

    if (g->err.reason != INGEST_OK) {
        return -1;
    }

    if (len == 0) {
        return 0;
    }

    start = ingest_now();
    p = data;

    if (EVP_DigestUpdate(g->sha, p, len) != 1) {
        return ingest_fail(&g->err, INGEST_INTERNAL, "SHA-256 failed");
    }

    for (i = 0; i < len && g->in_bytes + i < 2; i++) {
        if (p[i] != (i + g->in_bytes == 0 ? 0x1f : 0x8b)) {
            return ingest_fail(&g->err, INGEST_NOT_GZIP,
                               "not a gzip file (bad magic bytes)");
        }
    }

    while (len > 0) {
        if (g->done) {
            return ingest_fail(&g->err, INGEST_TRAILING_GARBAGE,
                               len >= 2 && p[0] == 0x1f && p[1] == 0x8b
                               ? "a second gzip member follows the first "
                                 "at byte %llu"
                               : "data follows the end of the gzip stream "
                                 "at byte %llu",
                               (unsigned long long) g->in_bytes);
        }

        /* zlib counts in uInt */
        chunk = len > (1u << 30) ? (1u << 30) : len;

        g->zs.next_in = (Bytef *) p;
        g->zs.avail_in = (uInt) chunk;

        while (g->zs.avail_in > 0 && !g->done) {
            g->zs.next_out = g->out;
            g->zs.avail_out = INGEST_GZCHECK_OUT;
            before = g->zs.total_in;

            rc = inflate(&g->zs, Z_NO_FLUSH);

            g->in_bytes += g->zs.total_in - before;
            g->out_bytes += INGEST_GZCHECK_OUT - g->zs.avail_out;

            ingest_tarcheck_feed(&g->tar, g->out,
                                 INGEST_GZCHECK_OUT - g->zs.avail_out);

            if (rc == Z_STREAM_END) {
                g->done = 1;

            } else if (rc != Z_OK) {
                return ingest_gzcheck_zerror(g, rc);
            }

            if (g->out_bytes > g->limits->max_total_size) {
                return ingest_fail(&g->err, INGEST_TOTAL_TOO_LARGE,
                                   "the tar stream is over %llu bytes "
                                   "(--max-total-size)",
                                   (unsigned long long)
                                   g->limits->max_total_size);
            }

            if (ingest_ratio_exceeded(g->limits, g->out_bytes,
                                      g->in_bytes))
            {
                return ingest_fail(&g->err, INGEST_RATIO,
                                   "%llu bytes inflate to over %llu, "
                                   "more than %llu:1 (--max-ratio)",
                                   (unsigned long long) g->in_bytes,
                                   (unsigned long long) g->out_bytes,
                                   (unsigned long long)
                                   g->limits->max_ratio);
            }
        }

        chunk -= g->zs.avail_in;
        p += chunk;
        len -= chunk;
    }

    g->seconds += ingest_now() - start;

    return 0;
}


int
ingest_gzcheck_finish(ingest_gzcheck_t *g, uint8_t sha256[PREP_SHA256_LEN])
{
    unsigned int  n;

    if (g->err.reason != INGEST_OK) {
        return -1;
    }

    if (g->in_bytes == 0) {
        return ingest_fail(&g->err, INGEST_NOT_GZIP, "the file is empty");
    }

    if (!g->done) {
        return ingest_fail(&g->err, INGEST_TRUNCATED,
                           "the gzip stream ends early, after %llu bytes "
                           "(incomplete upload?)",
                           (unsigned long long) g->in_bytes);
    }

    n = PREP_SHA256_LEN;

    if (EVP_DigestFinal_ex(g->sha, sha256, &n) != 1
        || n != PREP_SHA256_LEN)
    {
        return ingest_fail(&g->err, INGEST_INTERNAL, "SHA-256 failed");
    }

    return 0;
}
