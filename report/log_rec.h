/*
 * Copyright (C) the ngx_prep authors
 *
 * One request of an access log, whatever its format: what the counting
 * needs and nothing else.  Strings point into the reader's buffer or
 * the stream's scratch space and live until the stream's next line.
 */


#ifndef _LOG_REC_H_INCLUDED_
#define _LOG_REC_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define LOG_CACHE_UNKNOWN  0
#define LOG_CACHE_HIT      1        /* answered from the CDN's cache */
#define LOG_CACHE_ORIGIN   2        /* the CDN asked the origin */


typedef struct {
    int64_t         ms;             /* Unix time, milliseconds */
    const char     *path;           /* decoded, without the query */
    size_t          path_len;
    const char     *ua;
    size_t          ua_len;
    const char     *type;           /* content type, NULL if not logged */
    size_t          type_len;
    uint64_t        bytes;
    unsigned        status;
    int             family;         /* AF_INET, AF_INET6, AF_UNSPEC */
    unsigned char   addr[16];
    int             cache;
} log_rec_t;


/* log_time.c: small parsers shared by the formats */

/* days since 1970-01-01 of a proleptic Gregorian date */
int64_t log_days_from_civil(int64_t y, unsigned m, unsigned d);

/* "10/Oct/2026:13:55:36 -0700" (27 bytes at least); -1: malformed */
int log_time_clf(const char *p, size_t len, int64_t *ms);

/*
 * ISO 8601 / RFC 3339: "2026-06-02T23:30:00Z", with a fraction, an
 * offset, or a space for the "T"; -1: malformed
 */
int log_time_iso(const char *p, size_t len, int64_t *ms);

/* "2026-06-02" and "23:30:00" (CloudFront's date and time, UTC) */
int log_time_date_time(const char *d, size_t dlen, const char *t,
    size_t tlen, int64_t *ms);

/* a number of seconds, milliseconds, microseconds or nanoseconds since
 * the epoch, told apart by magnitude, with an optional fraction */
int log_time_epoch(const char *p, size_t len, int64_t *ms);

/* an IPv4 or IPv6 address into family and addr; -1: not an address */
int log_addr(const char *p, size_t len, int *family, unsigned char *addr);

/* a decimal number; -1: empty, not a number or above UINT64_MAX / 10 */
int log_uint(const char *p, size_t len, uint64_t *v);

/*
 * %XX decoding of src into dst (room for len bytes); "+" is kept.
 * Returns the decoded length.
 */
size_t log_url_decode(char *dst, const char *src, size_t len);


#endif /* _LOG_REC_H_INCLUDED_ */
