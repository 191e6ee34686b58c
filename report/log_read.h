/*
 * Copyright (C) the ngx_prep authors
 *
 * Reading access logs line by line: plain files and gzip files (several
 * members, as logrotate and CDNs concatenate them), through one buffer
 * per open file, without a copy or an allocation per line.  A gzip file
 * that ends inside a member is an error naming the file: the lines
 * before the cut are returned, and the caller reports what is missing.
 */


#ifndef _LOG_READ_H_INCLUDED_
#define _LOG_READ_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <zlib.h>
#include <openssl/evp.h>


#define LOG_READ_LINE_MAX   (64 * 1024)     /* longer lines are malformed */
#define LOG_READ_BUF        (256 * 1024)
#define LOG_READ_IN         (64 * 1024)
#define LOG_READ_ERR        512


typedef struct {
    int             fd;
    const char     *path;

    int             gzip;
    int             z_live;         /* inside a member */
    z_stream        z;
    unsigned char  *in;

    char           *buf;
    size_t          start;          /* the next line */
    size_t          end;            /* of the data in buf */
    int             eof;            /* no more data to read */
    int             skipping;       /* inside a line too long */
    int             failed;         /* a read or inflate error: r->err */

    uint64_t        lineno;
    uint64_t        bytes_in;       /* of the file, as read */
    char            err[LOG_READ_ERR];

    /* the SHA-256 of the file's bytes, when asked for */
    EVP_MD_CTX     *sha;
    int             hashed;         /* sha256 is the whole file's */
    char            sha256[65];
} log_reader_t;


#define LOG_READ_LINE     1
#define LOG_READ_EOF      0
#define LOG_READ_ERROR   -1      /* r->err says why; the file is done */
#define LOG_READ_LONG    -2      /* a line too long, skipped; r->lineno */


/* 0, or -1 with the reason in err; hash: SHA-256 the file as it is read */
int log_reader_open(log_reader_t *r, const char *path, int hash, char *err,
    size_t errlen);

/*
 * The next line, without its "\n" (and "\r"), valid until the next call;
 * a NUL is written after it.  A last line without "\n" is a line.
 */
int log_reader_line(log_reader_t *r, char **line, size_t *len);

void log_reader_close(log_reader_t *r);


#endif /* _LOG_READ_H_INCLUDED_ */
