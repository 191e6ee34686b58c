/*
 * Copyright (C) the ngx_prep authors
 *
 * JSON string escaping.  The escaper and its length function share one
 * decoder, so the length can never disagree with what is written.
 */


#include <stdint.h>
#include <string.h>

#include "prep_json.h"


uint32_t
prep_utf8_next(const unsigned char **p, const unsigned char *end)
{
    size_t                n, i;
    uint32_t              cp, min;
    const unsigned char  *s;

    s = *p;

    if (s[0] < 0x80) {
        *p = s + 1;
        return s[0];
    }

    if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1F;
        min = 0x80;

    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0F;
        min = 0x800;

    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07;
        min = 0x10000;

    } else {
        *p = s + 1;
        return PREP_UTF8_INVALID;
    }

    if ((size_t) (end - s) < n) {
        *p = s + 1;
        return PREP_UTF8_INVALID;
    }

    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *p = s + 1;
            return PREP_UTF8_INVALID;
        }

        cp = (cp << 6) | (s[i] & 0x3F);
    }

    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        *p = s + 1;
        return PREP_UTF8_INVALID;
    }

    *p = s + n;

    return cp;
}


int
prep_utf8_valid(const char *src, size_t len)
{
    const unsigned char  *p, *end;

    p = (const unsigned char *) src;
    end = p + len;

    while (p < end) {
        if (prep_utf8_next(&p, end) == PREP_UTF8_INVALID) {
            return 0;
        }
    }

    return 1;
}


/*
 * Writes the escaped form of the code point at *p into dst (when dst is
 * not NULL) and returns its length.
 */
static size_t
prep_json_escape_one(char *dst, const unsigned char **p,
    const unsigned char *end)
{
    uint32_t              cp;
    const unsigned char  *start;
    static const char     hex[] = "0123456789abcdef";

    start = *p;
    cp = prep_utf8_next(p, end);

    if (cp == PREP_UTF8_INVALID) {
        /* U+FFFD REPLACEMENT CHARACTER */
        if (dst) {
            memcpy(dst, "\xEF\xBF\xBD", 3);
        }
        return 3;
    }

    switch (cp) {
    case '"':
    case '\\':
        if (dst) {
            dst[0] = '\\';
            dst[1] = (char) cp;
        }
        return 2;

    case '\n':
    case '\r':
    case '\t':
        if (dst) {
            dst[0] = '\\';
            dst[1] = cp == '\n' ? 'n' : (cp == '\r' ? 'r' : 't');
        }
        return 2;
    }

    /* other controls, DEL and the JS line separators get \u escapes */
    if (cp < 0x20 || cp == 0x7F || cp == 0x2028 || cp == 0x2029) {
        if (dst) {
            dst[0] = '\\';
            dst[1] = 'u';
            dst[2] = hex[(cp >> 12) & 0xF];
            dst[3] = hex[(cp >> 8) & 0xF];
            dst[4] = hex[(cp >> 4) & 0xF];
            dst[5] = hex[cp & 0xF];
        }
        return 6;
    }

    if (dst) {
        memcpy(dst, start, (size_t) (*p - start));
    }

    return (size_t) (*p - start);
}


size_t
prep_escape_run(prep_escape_one_pt one, char *dst, const char *src,
    size_t len)
{
    size_t                n;
    const unsigned char  *p, *end;

    n = 0;
    p = (const unsigned char *) src;
    end = p + len;

    while (p < end) {
        n += one(dst ? dst + n : NULL, &p, end);
    }

    return n;
}


size_t
prep_json_escaped_len(const char *src, size_t len)
{
    return prep_escape_run(prep_json_escape_one, NULL, src, len);
}


size_t
prep_json_escape(char *dst, const char *src, size_t len)
{
    return prep_escape_run(prep_json_escape_one, dst, src, len);
}
