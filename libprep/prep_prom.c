/*
 * Copyright (C) the ngx_prep authors
 *
 * Prometheus label value escaping.  The length function and the escaper
 * share one routine, so they cannot disagree.
 */


#include <stdint.h>
#include <string.h>

#include "prep_json.h"
#include "prep_prom.h"


#define PREP_PROM_FFFD      "\xEF\xBF\xBD"


/* writes the escaped form of the code point at *p (when dst is set) */

static size_t
prep_prom_escape_one(char *dst, const unsigned char **p,
    const unsigned char *end)
{
    uint32_t              cp;
    const unsigned char  *start;

    start = *p;
    cp = prep_utf8_next(p, end);

    switch (cp) {
    case '\\':
    case '"':
        if (dst) {
            dst[0] = '\\';
            dst[1] = (char) cp;
        }
        return 2;

    case '\n':
        if (dst) {
            dst[0] = '\\';
            dst[1] = 'n';
        }
        return 2;
    }

    if (cp == PREP_UTF8_INVALID || cp < 0x20 || cp == 0x7F || cp == 0x85
        || cp == 0x2028 || cp == 0x2029)
    {
        if (dst) {
            memcpy(dst, PREP_PROM_FFFD, 3);
        }
        return 3;
    }

    if (dst) {
        memcpy(dst, start, (size_t) (*p - start));
    }

    return (size_t) (*p - start);
}


size_t
prep_prom_label_len(const char *src, size_t len)
{
    return prep_escape_run(prep_prom_escape_one, NULL, src, len);
}


size_t
prep_prom_label_escape(char *dst, const char *src, size_t len)
{
    return prep_escape_run(prep_prom_escape_one, dst, src, len);
}
