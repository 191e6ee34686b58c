/*
 * Copyright (C) the ngx_prep authors
 *
 * A second, strict reader of the tar layer, fed the decompressed stream
 * that the gzip check inflates anyway.  libarchive is lenient where a
 * publisher must not be: it reads a size field that is not a number as
 * 0, stops at the first zero block and ignores whatever follows it in
 * the gzip stream (a whole hidden archive can sit there), and readers
 * have disagreed on which of a pax and a ustar size wins (TARmageddon).
 * This scanner checks every header (checksum; size strictly octal, or
 * positive base-256; only regular files carry data), reads pax "size"
 * records the POSIX way, requires the end-of-archive zero block and
 * nothing but zeros after it, and counts entries and data bytes, which
 * must equal what libarchive delivered.
 *
 * Names (issue 8): a tar name can be stated in four places (a pax "path"
 * record, a GNU long-name record, the ustar prefix and name fields), and
 * readers differ on a NUL inside one (libarchive cuts the name there,
 * Python's tarfile keeps the whole record), on a global pax header
 * naming files (Python applies it to every member, libarchive ignores
 * it) and on which of two sources wins.  So a NUL inside any record
 * that names a file (path, linkpath, a GNU long name or link, the ustar
 * prefix) is refused as path_nul; a global header naming files, two
 * names for one entry or a path record given twice as path_ambiguous;
 * any GNU.sparse.* record as sparse.  The name each entry gets here is
 * hashed, in order, and so is the name libarchive returned for it
 * (ingest_tarcheck_name): the two digests must be equal, or the package
 * reads two ways (path_ambiguous).
 *
 * Its verdict is a second opinion: it is applied only to a package that
 * libarchive and zlib accepted, so it never changes the reason given for
 * a package rejected anyway.  Memory: one header block, two SHA-256
 * contexts and a few counters, whatever the archive.
 */


#ifndef _INGEST_TARCHECK_H_INCLUDED_
#define _INGEST_TARCHECK_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/ingest_reasons.h"


#define INGEST_TAR_BLOCK        512
#define INGEST_PAX_KEY_MAX      64


typedef struct {
    unsigned char   block[INGEST_TAR_BLOCK];
    size_t          have;           /* bytes of block filled */
    uint64_t        skip;           /* data bytes to pass over */
    uint64_t        pad;            /* then padding to the block */
    int             ended;          /* a zero block was seen */
    int             failed;

    /* a pax extended header being read */
    int             in_pax;         /* 'x' (1) or 'g' (2) */
    uint64_t        pax_left;       /* its bytes still to come */
    uint64_t        rec_len;        /* the current record's length */
    uint64_t        rec_got;        /* its bytes read so far */
    int             rec_state;      /* length, key, value */
    char            key[INGEST_PAX_KEY_MAX + 1];
    size_t          key_len;
    uint64_t        value;          /* a numeric "size" value */
    int             value_bad;
    uint64_t        pax_size;       /* for the next entry */
    int             have_pax_size;

    /* the name of the next entry, when a pax or GNU record gave one */
    int             name_src;       /* 0, 'x' or 'L' */
    int             in_long;        /* in the data of an 'L' or 'K' */
    int             long_nul;       /* a NUL was seen in it */
    int             value_nul;      /* a NUL in the current pax value */
    uint64_t        name_len;
    EVP_MD_CTX     *names;          /* every entry's name, as read here */
    EVP_MD_CTX     *names_lib;      /* every entry's name, libarchive's */
    EVP_MD_CTX     *name;           /* the name being read */
    uint64_t        lib_entries;    /* names libarchive gave */

    uint64_t        entries;        /* not counting x, g, L, K */
    uint64_t        file_bytes;     /* data of regular files */
    uint64_t        offset;         /* of the stream, for messages */
    ingest_err_t    err;
} ingest_tarcheck_t;


void ingest_tarcheck_init(ingest_tarcheck_t *t);
void ingest_tarcheck_free(ingest_tarcheck_t *t);

/* the name libarchive returned for the next entry */
void ingest_tarcheck_name(ingest_tarcheck_t *t, const char *name,
    size_t len);
void ingest_tarcheck_feed(ingest_tarcheck_t *t, const unsigned char *data,
    size_t len);

/* at the end of the stream: 0, or -1 with t->err; the names given to
 * ingest_tarcheck_name() are compared only when entries is the number
 * of them (libarchive read the whole archive) */
int ingest_tarcheck_finish(ingest_tarcheck_t *t);


#endif /* _INGEST_TARCHECK_H_INCLUDED_ */
