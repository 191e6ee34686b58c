/*
 * Copyright (C) the ngx_prep authors
 */


#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/ingest_jsonget.h"
#include "common/ingest_reasons.h"


typedef struct {
    const char  *p;
    const char  *end;
} ingest_jp_t;


static int ingest_jp_value(ingest_jp_t *jp, unsigned depth,
    ingest_json_val_t *val);


static void
ingest_jp_space(ingest_jp_t *jp)
{
    while (jp->p < jp->end
           && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n'
               || *jp->p == '\r'))
    {
        jp->p++;
    }
}


static int
ingest_jp_string(ingest_jp_t *jp)
{
    int                   i;
    const unsigned char  *s;

    if (jp->p >= jp->end || *jp->p != '"') {
        return -1;
    }

    jp->p++;

    while (jp->p < jp->end) {
        s = (const unsigned char *) jp->p;

        if (*s == '"') {
            jp->p++;
            return 0;
        }

        if (*s < 0x20) {
            return -1;
        }

        if (*s != '\\') {
            jp->p++;
            continue;
        }

        if (jp->p + 1 >= jp->end) {
            return -1;
        }

        switch (jp->p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n':
        case 'r': case 't':
            jp->p += 2;
            break;

        case 'u':
            if (jp->end - jp->p < 6) {
                return -1;
            }

            for (i = 2; i < 6; i++) {
                if (ingest_hex_digit(jp->p[i]) < 0) {
                    return -1;
                }
            }

            jp->p += 6;
            break;

        default:
            return -1;
        }
    }

    return -1;
}


static int
ingest_jp_number(ingest_jp_t *jp)
{
    const char  *start;

    start = jp->p;

    if (jp->p < jp->end && *jp->p == '-') {
        jp->p++;
    }

    if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9') {
        return -1;
    }

    while (jp->p < jp->end
           && ((*jp->p >= '0' && *jp->p <= '9') || *jp->p == '.'
               || *jp->p == 'e' || *jp->p == 'E' || *jp->p == '+'
               || *jp->p == '-'))
    {
        jp->p++;
    }

    return jp->p - start > 0 ? 0 : -1;
}


static int
ingest_jp_word(ingest_jp_t *jp, const char *word)
{
    size_t  len;

    len = strlen(word);

    if ((size_t) (jp->end - jp->p) < len || memcmp(jp->p, word, len) != 0) {
        return -1;
    }

    jp->p += len;

    return 0;
}


/* walks an object or array; calls nothing, only validates */
static int
ingest_jp_container(ingest_jp_t *jp, unsigned depth, char close)
{
    int                first;
    ingest_json_val_t  v;

    jp->p++;
    first = 1;

    for ( ;; ) {
        ingest_jp_space(jp);

        if (jp->p >= jp->end) {
            return -1;
        }

        if (*jp->p == close && first) {
            jp->p++;
            return 0;
        }

        if (close == '}') {
            if (ingest_jp_string(jp) != 0) {
                return -1;
            }

            ingest_jp_space(jp);

            if (jp->p >= jp->end || *jp->p != ':') {
                return -1;
            }

            jp->p++;
        }

        if (ingest_jp_value(jp, depth + 1, &v) != 0) {
            return -1;
        }

        ingest_jp_space(jp);

        if (jp->p >= jp->end) {
            return -1;
        }

        if (*jp->p == close) {
            jp->p++;
            return 0;
        }

        if (*jp->p != ',') {
            return -1;
        }

        jp->p++;
        first = 0;
    }
}


static int
ingest_jp_value(ingest_jp_t *jp, unsigned depth, ingest_json_val_t *val)
{
    int  rc;

    if (depth > INGEST_JSON_MAX_DEPTH) {
        return -1;
    }

    ingest_jp_space(jp);

    if (jp->p >= jp->end) {
        return -1;
    }

    val->start = jp->p;

    switch (*jp->p) {
    case '"':
        val->type = INGEST_JSON_STRING;
        rc = ingest_jp_string(jp);
        break;

    case '{':
        val->type = INGEST_JSON_OBJECT;
        rc = ingest_jp_container(jp, depth, '}');
        break;

    case '[':
        val->type = INGEST_JSON_ARRAY;
        rc = ingest_jp_container(jp, depth, ']');
        break;

    case 't':
        val->type = INGEST_JSON_TRUE;
        rc = ingest_jp_word(jp, "true");
        break;

    case 'f':
        val->type = INGEST_JSON_FALSE;
        rc = ingest_jp_word(jp, "false");
        break;

    case 'n':
        val->type = INGEST_JSON_NULL;
        rc = ingest_jp_word(jp, "null");
        break;

    default:
        val->type = INGEST_JSON_NUMBER;
        rc = ingest_jp_number(jp);
    }

    val->len = (size_t) (jp->p - val->start);

    return rc;
}


/* 1 when the raw key (quotes included) equals [name, name + len) */
static int
ingest_jp_key_is(const char *key, size_t klen, const char *name,
    size_t len)
{
    /* keys we look up never need escapes: compare the raw text */
    return klen == len + 2 && memcmp(key + 1, name, len) == 0;
}


int
ingest_json_get(const char *json, size_t len, const char *path,
    ingest_json_val_t *val)
{
    int                found;
    size_t             seg, klen;
    const char        *key, *dot;
    ingest_jp_t        jp;
    ingest_json_val_t  v, member;

    jp.p = json;
    jp.end = json + len;

    /* the whole document must be valid, whatever part is asked for */
    if (ingest_jp_value(&jp, 0, &v) != 0) {
        return -1;
    }

    ingest_jp_space(&jp);

    if (jp.p != jp.end) {
        return -1;
    }

    while (*path != '\0') {
        dot = strchr(path, '.');
        seg = dot ? (size_t) (dot - path) : strlen(path);

        if (v.type != INGEST_JSON_OBJECT) {
            return 0;
        }

        /* already validated: only the members need finding */
        jp.p = v.start + 1;
        jp.end = v.start + v.len - 1;
        found = 0;

        for ( ;; ) {
            ingest_jp_space(&jp);

            if (jp.p >= jp.end) {
                break;
            }

            key = jp.p;
            (void) ingest_jp_string(&jp);
            klen = (size_t) (jp.p - key);

            ingest_jp_space(&jp);
            jp.p++;

            (void) ingest_jp_value(&jp, 0, &member);

            if (ingest_jp_key_is(key, klen, path, seg)) {
                found = 1;
                break;
            }

            ingest_jp_space(&jp);

            if (jp.p < jp.end && *jp.p == ',') {
                jp.p++;
            }
        }

        if (!found) {
            return 0;
        }

        v = member;
        path += seg;

        if (*path == '.') {
            path++;
        }
    }

    *val = v;

    return 1;
}


static size_t
ingest_utf8_put(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char) cp;
        return 1;
    }

    if (cp < 0x800) {
        out[0] = (char) (0xc0 | (cp >> 6));
        out[1] = (char) (0x80 | (cp & 0x3f));
        return 2;
    }

    if (cp < 0x10000) {
        out[0] = (char) (0xe0 | (cp >> 12));
        out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char) (0x80 | (cp & 0x3f));
        return 3;
    }

    out[0] = (char) (0xf0 | (cp >> 18));
    out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char) (0x80 | (cp & 0x3f));

    return 4;
}


static unsigned long
ingest_jp_u4(const char *p)
{
    return (unsigned long) (ingest_hex_digit(p[0]) << 12
                            | ingest_hex_digit(p[1]) << 8
                            | ingest_hex_digit(p[2]) << 4
                            | ingest_hex_digit(p[3]));
}


int
ingest_json_string(const ingest_json_val_t *val, char *buf, size_t size)
{
    char           tmp[4], ch;
    size_t         o, n;
    const char    *p, *end;
    unsigned long  cp, lo;

    if (val->type != INGEST_JSON_STRING || size == 0) {
        return -1;
    }

    p = val->start + 1;
    end = val->start + val->len - 1;
    o = 0;

    while (p < end) {
        if (*p != '\\') {
            tmp[0] = *p++;
            n = 1;

        } else if (p[1] != 'u') {
            switch (p[1]) {
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            default: ch = p[1];
            }

            tmp[0] = ch;
            n = 1;
            p += 2;

        } else {
            cp = ingest_jp_u4(p + 2);
            p += 6;

            if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\'
                && p[1] == 'u')
            {
                lo = ingest_jp_u4(p + 2);

                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
            }

            if (cp >= 0xd800 && cp < 0xe000) {
                cp = 0xfffd;
            }

            if (cp == 0) {
                return -1;
            }

            n = ingest_utf8_put(tmp, cp);
        }

        if (o + n >= size) {
            return -1;
        }

        memcpy(buf + o, tmp, n);
        o += n;
    }

    buf[o] = '\0';

    return (int) o;
}


int
ingest_json_get_string(const char *json, size_t len, const char *path,
    char *buf, size_t size)
{
    ingest_json_val_t  v;

    if (ingest_json_get(json, len, path, &v) != 1) {
        return -1;
    }

    return ingest_json_string(&v, buf, size);
}


int
ingest_json_get_number(const char *json, size_t len, const char *path,
    double *out)
{
    char               tmp[64];
    char              *end;
    ingest_json_val_t  v;

    if (ingest_json_get(json, len, path, &v) != 1
        || v.type != INGEST_JSON_NUMBER || v.len >= sizeof(tmp))
    {
        return -1;
    }

    memcpy(tmp, v.start, v.len);
    tmp[v.len] = '\0';

    errno = 0;
    *out = strtod(tmp, &end);

    if (errno != 0 || *end != '\0' || !isfinite(*out)) {
        return -1;
    }

    return 0;
}
