/*
 * Copyright (C) the ngx_prep authors
 *
 * Bounds on what a package may make prep-ingest do.  Every count and size
 * read from an archive is checked against these while streaming, so a
 * hostile package costs at most these amounts of time, disk and memory.
 */


#ifndef _INGEST_LIMITS_H_INCLUDED_
#define _INGEST_LIMITS_H_INCLUDED_


#include <stdint.h>


#define INGEST_DEFAULT_MAX_ENTRIES     20000
#define INGEST_DEFAULT_MAX_ENTRY_SIZE  (256ull << 20)
#define INGEST_DEFAULT_MAX_TOTAL_SIZE  (1ull << 30)
#define INGEST_DEFAULT_MAX_RATIO       200
#define INGEST_DEFAULT_GZIP_LEVEL      6

/* ceilings for the options themselves */
#define INGEST_LIMIT_MAX_ENTRIES       1000000
#define INGEST_LIMIT_MAX_SIZE          (1ull << 40)
#define INGEST_LIMIT_MAX_RATIO         100000

/* the ratio is only judged past this much output: headers and padding
 * of the first blocks compress far better than any real content */
#define INGEST_RATIO_FLOOR             (1ull << 20)


typedef struct {
    uint64_t  max_entries;      /* files and directories, implied ones too */
    uint64_t  max_entry_size;   /* bytes of one file */
    uint64_t  max_total_size;   /* bytes of the uncompressed tar stream */
    uint64_t  max_ratio;        /* uncompressed / compressed */
} ingest_limits_t;


void ingest_limits_default(ingest_limits_t *lim);

/*
 * "1048576", "512K", "256M", "1G", "1GiB", "2T": binary multiples.
 * Returns 0 and sets *out when the value is within [min, max], -1 if not.
 */
int ingest_parse_size(const char *s, uint64_t min, uint64_t max,
    uint64_t *out);

/* a plain decimal number within [min, max]; 0 or -1 as above */
int ingest_parse_count(const char *s, uint64_t min, uint64_t max,
    uint64_t *out);

/* 1 when "total" bytes out of "compressed" bytes in exceed the ratio */
int ingest_ratio_exceeded(const ingest_limits_t *lim, uint64_t total,
    uint64_t compressed);


#endif /* _INGEST_LIMITS_H_INCLUDED_ */
