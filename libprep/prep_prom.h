/*
 * Copyright (C) the ngx_prep authors
 *
 * Label values for the Prometheus text exposition format (0.0.4).  A
 * label value may hold any UTF-8 text with "\", "\"" and line feed
 * escaped.  Anything that could still break a scrape is replaced by
 * U+FFFD: invalid UTF-8 (one bad byte can make Prometheus drop the whole
 * scrape), other control characters and the characters some parsers
 * take for line breaks (U+0085, U+2028, U+2029).
 */


#ifndef _PREP_PROM_H_INCLUDED_
#define _PREP_PROM_H_INCLUDED_


#include <stddef.h>


/* bytes prep_prom_label_escape() will write for src (no quotes) */
size_t prep_prom_label_len(const char *src, size_t len);

/* escapes src into dst, which holds prep_prom_label_len() bytes */
size_t prep_prom_label_escape(char *dst, const char *src, size_t len);


#endif /* _PREP_PROM_H_INCLUDED_ */
