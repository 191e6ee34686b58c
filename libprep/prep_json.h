/*
 * Copyright (C) the ngx_prep authors
 *
 * JSON string escaping and UTF-8 validation.  Output is always valid
 * UTF-8 JSON: invalid input bytes become U+FFFD, so a hostile path or
 * header can never break a status document or a log line.
 */


#ifndef _PREP_JSON_H_INCLUDED_
#define _PREP_JSON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define PREP_UTF8_INVALID  0xFFFFFFFFu


/* bytes prep_json_escape() will write for src (no quotes, no NUL) */
size_t prep_json_escaped_len(const char *src, size_t len);

/* escapes src into dst (which holds prep_json_escaped_len() bytes) */
size_t prep_json_escape(char *dst, const char *src, size_t len);

/* 1 when [src, src + len) is well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF), 0 otherwise */
int prep_utf8_valid(const char *src, size_t len);

/*
 * Decodes one UTF-8 sequence at *p (p < end), advancing *p.  Returns the
 * code point, or PREP_UTF8_INVALID after consuming one byte of an
 * ill-formed sequence (overlong, surrogate, above U+10FFFF, truncated).
 * Shared with the Prometheus escaper, so both treat bytes alike.
 */
uint32_t prep_utf8_next(const unsigned char **p, const unsigned char *end);

/*
 * Writes the escaped form of the code point at *p into dst (or only
 * measures it when dst is NULL), advancing *p; returns its length.
 */
typedef size_t (*prep_escape_one_pt)(char *dst, const unsigned char **p,
    const unsigned char *end);

/* runs "one" over [src, src + len): the length (dst NULL) or the text;
 * the one loop behind both the JSON and the Prometheus escapers */
size_t prep_escape_run(prep_escape_one_pt one, char *dst, const char *src,
    size_t len);


#endif /* _PREP_JSON_H_INCLUDED_ */
