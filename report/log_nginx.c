/*
 * Copyright (C) the ngx_prep authors
 *
 * nginx's access logs: the "combined" format
 *
 *   $remote_addr - $remote_user [$time_local] "$request" $status
 *   $body_bytes_sent "$http_referer" "$http_user_agent"
 *
 * and the "prep" format of nginx.conf.example
 *
 *   $remote_addr - [$time_local] "$request" $status $body_bytes_sent
 *   "$http_user_agent" corte=$prep_corte_id rt=$request_time
 *   visitor=$prep_visitor new=$prep_session_new
 *
 * told apart line by line: after the bytes, one quoted string is the
 * User-Agent, two are the referer and the User-Agent.  key=value words
 * after them are optional; "cache=" ($upstream_cache_status) and
 * "type=" ($sent_http_content_type) are used when present.  nginx
 * writes '"', '\' and bytes outside printable ASCII as \xHH: they are
 * decoded, so the User-Agent hashes as the module hashed it.
 */


#include <string.h>

#include "log_parse.h"


/* a quoted string at p: its contents, and p after the closing quote */

static const char *
log_quoted(const char *p, const char *end, const char **s, size_t *n)
{
    const char  *q;

    if (p >= end || *p != '"') {
        return NULL;
    }

    p++;

    q = memchr(p, '"', (size_t) (end - p));
    if (q == NULL) {
        return NULL;
    }

    *s = p;
    *n = (size_t) (q - p);

    return q + 1;
}


static int
log_hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


/* nginx's \xHH escapes, decoded into dst */

static size_t
log_unescape(char *dst, const char *src, size_t len)
{
    int     hi, lo;
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (src[i] == '\\' && i + 3 < len && src[i + 1] == 'x') {
            hi = log_hexval((unsigned char) src[i + 2]);
            lo = log_hexval((unsigned char) src[i + 3]);

            if (hi >= 0 && lo >= 0) {
                dst[n++] = (char) (hi * 16 + lo);
                i += 3;
                continue;
            }
        }

        dst[n++] = src[i];
    }

    return n;
}


size_t
log_uri_path(char *dst, const char *uri, size_t len)
{
    const char  *q;

    q = memchr(uri, '?', len);

    if (q) {
        len = (size_t) (q - uri);
    }

    if (memchr(uri, '%', len) == NULL) {
        memcpy(dst, uri, len);
        return len;
    }

    return log_url_decode(dst, uri, len);
}


int
log_parse_nginx(log_stream_t *s, char *line, size_t len, log_rec_t *r,
    const char **reason)
{
    size_t       n, qn[2];
    unsigned     nq;
    uint64_t     v;
    const char  *p, *end, *a, *t, *req, *sp, *uri, *q[2], *w;
    char        *out;

    p = line;
    end = line + len;
    out = s->scratch;

    /* $remote_addr */

    a = memchr(p, ' ', len);
    if (a == NULL) {
        *reason = "no address";
        return LOG_PARSE_BAD;
    }

    if (log_addr(p, (size_t) (a - p), &r->family, r->addr) != 0) {
        *reason = "not an address";
        return LOG_PARSE_BAD;
    }

    /* [$time_local] */

    t = memchr(a, '[', (size_t) (end - a));
    if (t == NULL || end - t < 29 || t[27] != ']') {
        *reason = "no [time]";
        return LOG_PARSE_BAD;
    }

    t++;

    if (s->time_len == 26 && memcmp(s->time_text, t, 26) == 0) {
        r->ms = s->time_ms;

    } else {
        if (log_time_clf(t, 26, &r->ms) != 0) {
            *reason = "malformed time";
            return LOG_PARSE_BAD;
        }

        memcpy(s->time_text, t, 26);
        s->time_len = 26;
        s->time_ms = r->ms;
    }

    p = t + 27;

    if (end - p < 2 || p[0] != ' ') {
        *reason = "no request";
        return LOG_PARSE_BAD;
    }

    p = log_quoted(p + 1, end, &req, &n);
    if (p == NULL) {
        *reason = "no request";
        return LOG_PARSE_BAD;
    }

    /* "GET /path?q HTTP/1.1": the URI between the first two spaces */

    sp = memchr(req, ' ', n);

    if (sp) {
        uri = sp + 1;
        sp = memchr(uri, ' ', (size_t) (req + n - uri));
        r->path_len = (size_t) ((sp ? sp : req + n) - uri);

    } else {
        /* "-" or garbage: a hit without a path */
        uri = req;
        r->path_len = 0;
    }

    if (r->path_len > 0 && uri[0] != '/') {
        /* "GET http://host/path": the absolute form */
        w = r->path_len > 8 ? memchr(uri + 8, '/', r->path_len - 8) : NULL;
        r->path_len = w ? (size_t) (uri + r->path_len - w) : 0;
        uri = w ? w : uri;
    }

    r->path = out;
    r->path_len = log_uri_path(out, uri, r->path_len);
    out += r->path_len;

    /* $status $body_bytes_sent */

    if (end - p < 6 || p[0] != ' ') {
        *reason = "no status";
        return LOG_PARSE_BAD;
    }

    p++;
    sp = memchr(p, ' ', (size_t) (end - p));

    if (sp == NULL || log_uint(p, (size_t) (sp - p), &v) != 0 || v > 999) {
        *reason = "malformed status";
        return LOG_PARSE_BAD;
    }

    r->status = (unsigned) v;
    p = sp + 1;

    sp = memchr(p, ' ', (size_t) (end - p));

    if (sp == NULL) {
        sp = end;
    }

    if (sp - p == 1 && *p == '-') {
        r->bytes = 0;

    } else if (log_uint(p, (size_t) (sp - p), &r->bytes) != 0) {
        *reason = "malformed bytes";
        return LOG_PARSE_BAD;
    }

    p = sp;

    /* one or two quoted strings: the User-Agent is the last */

    nq = 0;

    while (nq < 2 && p < end && *p == ' ' && p + 1 < end && p[1] == '"') {
        p = log_quoted(p + 1, end, &q[nq], &qn[nq]);

        if (p == NULL) {
            *reason = "unterminated quoted string";
            return LOG_PARSE_BAD;
        }

        nq++;
    }

    r->ua = NULL;
    r->ua_len = 0;

    if (nq > 0) {
        nq--;

        if (!(qn[nq] == 1 && q[nq][0] == '-')) {
            if (memchr(q[nq], '\\', qn[nq])) {
                r->ua = out;
                r->ua_len = log_unescape(out, q[nq], qn[nq]);
                out += r->ua_len;

            } else {
                r->ua = q[nq];
                r->ua_len = qn[nq];
            }
        }
    }

    r->type = NULL;
    r->type_len = 0;
    r->cache = LOG_CACHE_UNKNOWN;

    /* key=value words */

    while (p < end) {
        while (p < end && *p == ' ') {
            p++;
        }

        w = p;
        sp = memchr(w, ' ', (size_t) (end - w));
        sp = sp ? sp : end;

        /* key="quoted value, spaces and all" */
        a = memchr(w, '=', (size_t) (sp - w));

        if (a && a + 1 < end && a[1] == '"') {
            sp = memchr(a + 2, '"', (size_t) (end - a - 2));
            sp = sp ? sp + 1 : end;
        }

        n = (size_t) (sp - w);
        p = sp;

        if (n > 6 && memcmp(w, "cache=", 6) == 0) {
            r->cache = log_cache_status(w + 6, n - 6);

        } else if (n > 5 && memcmp(w, "type=", 5) == 0) {
            w += 5;
            n -= 5;

            if (n >= 2 && w[0] == '"') {
                w++;
                n -= 2;
            }

            if (!(n == 1 && w[0] == '-') && n > 0) {
                r->type = w;
                r->type_len = n;
            }
        }
    }

    return LOG_PARSE_RECORD;
}
