/*
 * Copyright (C) the ngx_prep authors
 *
 * Archive member names to snapshot paths.  The checks work on the raw
 * bytes of the name, before anything interprets them, so a name either
 * maps to exactly one plain "/a/b" path or is refused with a reason.
 */


#include <string.h>

#include "prep_json.h"
#include "prep_path.h"


static const char  *prep_path_errors[] = {
    "ok",
    "path_empty",
    "path_absolute",
    "path_dotdot",
    "path_segment",
    "path_control",
    "path_backslash",
    "path_utf8",
    "path_long",
    "path_deep"
};


const char *
prep_path_strerror(int rc)
{
    if (rc < 0
        || (size_t) rc >= sizeof(prep_path_errors) / sizeof(char *))
    {
        return "path_unknown";
    }

    return prep_path_errors[rc];
}


/*
 * Byte-level refusals.  C1 controls (U+0080..U+009F, "\xC2\x80".."\xC2\x9F"
 * in UTF-8) are controls too: they render as nothing in logs and
 * terminals.
 */
static int
prep_path_check_bytes(const unsigned char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7F) {
            return PREP_PATH_ECONTROL;
        }

        if (p[i] == '\\') {
            return PREP_PATH_EBACKSLASH;
        }
    }

    if (!prep_utf8_valid((const char *) p, len)) {
        return PREP_PATH_EUTF8;
    }

    for (i = 0; i + 1 < len; i++) {
        if (p[i] == 0xC2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F) {
            return PREP_PATH_ECONTROL;
        }
    }

    return PREP_PATH_OK;
}


int
prep_path_normalize(const char *name, size_t len, char *out,
    size_t *out_len)
{
    int          rc;
    size_t       i, start, seg, n, depth;

    *out_len = 0;
    out[0] = '\0';

    if (len == 0) {
        return PREP_PATH_EEMPTY;
    }

    rc = prep_path_check_bytes((const unsigned char *) name, len);
    if (rc != PREP_PATH_OK) {
        return rc;
    }

    if (name[0] == '/') {
        return PREP_PATH_EABSOLUTE;
    }

    /* one trailing "/" marks a directory; more would be empty segments */
    if (name[len - 1] == '/') {
        len--;

        if (len == 0) {
            return PREP_PATH_EABSOLUTE;
        }
    }

    n = 0;
    depth = 0;
    start = 0;

    while (start <= len) {
        for (i = start; i < len && name[i] != '/'; i++) {
            /* void */
        }

        seg = i - start;

        if (seg == 0) {
            return PREP_PATH_ESEGMENT;
        }

        if (seg == 2 && name[start] == '.' && name[start + 1] == '.') {
            return PREP_PATH_EDOTDOT;
        }

        if (!(seg == 1 && name[start] == '.')) {
            if (++depth > PREP_PATH_MAX_DEPTH) {
                return PREP_PATH_EDEEP;
            }

            if (n + 1 + seg > PREP_PATH_MAX_LEN) {
                return PREP_PATH_ELONG;
            }

            out[n++] = '/';
            memcpy(out + n, name + start, seg);
            n += seg;
        }

        start = i + 1;
    }

    out[n] = '\0';

    if (n == 0) {
        return PREP_PATH_EEMPTY;
    }

    *out_len = n;

    return PREP_PATH_OK;
}
