/*
 * Copyright (C) the ngx_prep authors
 *
 * The access-log formats: each parser turns one line of its format into
 * a log_rec_t, or says why it cannot.  A stream is one open file of one
 * format, with what the format needs to remember between lines
 * (CloudFront's #Fields, the JSON field map) and scratch space for
 * decoded strings.
 */


#ifndef _LOG_PARSE_H_INCLUDED_
#define _LOG_PARSE_H_INCLUDED_


#include "log_read.h"
#include "log_rec.h"


#define LOG_FORMAT_NGINX       1
#define LOG_FORMAT_CLOUDFRONT  2
#define LOG_FORMAT_CLOUDFLARE  3
#define LOG_FORMAT_JSON        4


/* the fields of a record, for CloudFront's columns and the JSON map */
#define LOG_F_TIME     0
#define LOG_F_IP       1
#define LOG_F_UA       2
#define LOG_F_URI      3
#define LOG_F_STATUS   4
#define LOG_F_BYTES    5
#define LOG_F_CACHE    6
#define LOG_F_TYPE     7
#define LOG_F_DATE     8           /* CloudFront: date and time apart */
#define LOG_F_N        9

#define LOG_JSON_NAME_MAX  64


typedef struct {
    char            name[LOG_F_N][LOG_JSON_NAME_MAX];
    size_t          len[LOG_F_N];
} log_json_map_t;


#define LOG_PARSE_RECORD    1
#define LOG_PARSE_SKIP      0      /* a header or comment line */
#define LOG_PARSE_BAD      -1


typedef struct log_stream_s  log_stream_t;

typedef int (*log_parse_pt)(log_stream_t *s, char *line, size_t len,
    log_rec_t *r, const char **reason);

struct log_stream_s {
    log_reader_t           reader;
    int                    format;
    log_parse_pt           parse;
    const log_json_map_t  *map;

    /* CloudFront: the column of each field, -1 when absent */
    int                    cols[LOG_F_N];
    int                    have_fields;

    /* the last time parsed, and its text: lines come in seconds */
    char                   time_text[32];
    size_t                 time_len;
    int64_t                time_ms;

    char                  *scratch;         /* LOG_READ_LINE_MAX + 64 */
};


/* the parser of a format, with the stream's initial state */
void log_parse_setup(log_stream_t *s, int format,
    const log_json_map_t *map);

/* "time=EdgeStartTimestamp,ip=ClientIP,..."; 0, or -1 with err */
int log_json_map_parse(log_json_map_t *m, const char *spec, char *err,
    size_t errlen);

/* the built-in map of Cloudflare's http_requests dataset */
const log_json_map_t *log_json_map_cloudflare(void);

/* a cache status as CDNs write it: LOG_CACHE_* */
int log_cache_status(const char *p, size_t len);

int log_parse_nginx(log_stream_t *s, char *line, size_t len, log_rec_t *r,
    const char **reason);
int log_parse_cloudfront(log_stream_t *s, char *line, size_t len,
    log_rec_t *r, const char **reason);
int log_parse_json(log_stream_t *s, char *line, size_t len, log_rec_t *r,
    const char **reason);

/* the path of a request URI: the query cut, %XX decoded into dst */
size_t log_uri_path(char *dst, const char *uri, size_t len);


#endif /* _LOG_PARSE_H_INCLUDED_ */
