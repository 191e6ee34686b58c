/*
 * Copyright (C) the ngx_prep authors
 *
 * A growable text buffer for the renderers, with the escapes each output
 * needs: HTML text and attributes, CSV fields and JSON strings (the JSON
 * one is libprep's, so every output treats bad UTF-8 alike).  A failed
 * allocation is remembered and reported once, at the end.
 */


#ifndef _RPT_BUF_H_INCLUDED_
#define _RPT_BUF_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


typedef struct {
    char    *data;
    size_t   len;
    size_t   size;
    int      failed;
} rpt_buf_t;


void rpt_buf_init(rpt_buf_t *b);
void rpt_buf_free(rpt_buf_t *b);
void rpt_buf_add(rpt_buf_t *b, const char *s, size_t len);
void rpt_buf_puts(rpt_buf_t *b, const char *s);
void rpt_buf_printf(rpt_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* HTML text and attribute values: & < > " ' escaped, bad UTF-8 U+FFFD */
void rpt_buf_html(rpt_buf_t *b, const char *s);

/* a CSV field (RFC 4180): quoted when it holds , " CR or LF */
void rpt_buf_csv(rpt_buf_t *b, const char *s);

/* a JSON string, quotes included; NULL gives null */
void rpt_buf_json(rpt_buf_t *b, const char *s);

/* 1 234 567 in the Spanish way (thin space groups), into dst */
const char *rpt_fmt_int(char *dst, size_t size, uint64_t v);

/* "1,5 MiB" style sizes and "12,3 %" percentages (decimal comma) */
const char *rpt_fmt_bytes(char *dst, size_t size, uint64_t v);
const char *rpt_fmt_dec(char *dst, size_t size, double v, int decimals);

/* durations: "2 h 05 min", "4 min 10 s", "12 s" */
const char *rpt_fmt_duration(char *dst, size_t size, int64_t sec);

/* writes the buffer to DIR/NAME atomically; 0 or -1 with err */
int rpt_buf_write(rpt_buf_t *b, const char *dir, const char *name,
    char *err, size_t errlen);


#endif /* _RPT_BUF_H_INCLUDED_ */
