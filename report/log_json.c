/*
 * Copyright (C) the ngx_prep authors
 *
 * NDJSON access logs: one JSON object a line, its members found by the
 * names of a field map.  Cloudflare's Logpush http_requests dataset has
 * a built-in map; any other (Fastly, Akamai DataStream, ...) is given
 * with --json-fields.  Only top-level members are read; nested values
 * are skipped whole.  Times may be RFC 3339 strings, CLF strings, or
 * numbers of seconds, milliseconds or nanoseconds since the epoch.
 */


#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log_parse.h"


static const char  *log_json_keys[LOG_F_N] = {
    "time", "ip", "ua", "uri", "status", "bytes", "cache", "type", NULL
};


static log_json_map_t  log_json_cloudflare;
static int             log_json_cloudflare_ready;


const log_json_map_t *
log_json_map_cloudflare(void)
{
    char  err[128];

    if (!log_json_cloudflare_ready) {
        (void) log_json_map_parse(&log_json_cloudflare,
                                  "time=EdgeStartTimestamp,ip=ClientIP,"
                                  "ua=ClientRequestUserAgent,"
                                  "uri=ClientRequestURI,"
                                  "status=EdgeResponseStatus,"
                                  "bytes=EdgeResponseBytes,"
                                  "cache=CacheCacheStatus,"
                                  "type=EdgeResponseContentType",
                                  err, sizeof(err));
        log_json_cloudflare_ready = 1;
    }

    return &log_json_cloudflare;
}


int
log_json_map_parse(log_json_map_t *m, const char *spec, char *err,
    size_t errlen)
{
    int          i;
    size_t       kn, vn;
    const char  *p, *eq, *comma, *end;

    memset(m, 0, sizeof(log_json_map_t));

    p = spec;
    end = spec + strlen(spec);

    while (p < end) {
        comma = memchr(p, ',', (size_t) (end - p));
        comma = comma ? comma : end;

        eq = memchr(p, '=', (size_t) (comma - p));

        if (eq == NULL || eq == p || eq + 1 == comma) {
            snprintf(err, errlen, "--json-fields: \"%.*s\" is not "
                     "FIELD=NAME", (int) (comma - p), p);
            return -1;
        }

        kn = (size_t) (eq - p);
        vn = (size_t) (comma - eq - 1);

        for (i = 0; log_json_keys[i]; i++) {
            if (strlen(log_json_keys[i]) == kn
                && memcmp(log_json_keys[i], p, kn) == 0)
            {
                break;
            }
        }

        if (log_json_keys[i] == NULL) {
            snprintf(err, errlen, "--json-fields: unknown field \"%.*s\" "
                     "(time, ip, ua, uri, status, bytes, cache, type)",
                     (int) kn, p);
            return -1;
        }

        if (vn >= LOG_JSON_NAME_MAX) {
            snprintf(err, errlen, "--json-fields: the name for %s is "
                     "longer than %d bytes", log_json_keys[i],
                     LOG_JSON_NAME_MAX - 1);
            return -1;
        }

        memcpy(m->name[i], eq + 1, vn);
        m->name[i][vn] = '\0';
        m->len[i] = vn;

        p = comma + 1;
    }

    for (i = 0; i <= LOG_F_BYTES; i++) {
        if (m->len[i] == 0 && i != LOG_F_BYTES && i != LOG_F_UA) {
            snprintf(err, errlen, "--json-fields: no name for %s "
                     "(time, ip, uri and status are required)",
                     log_json_keys[i]);
            return -1;
        }
    }

    return 0;
}


int
log_cache_status(const char *p, size_t len)
{
    char    b[32];
    size_t  i;

    if (len == 0 || len >= sizeof(b)) {
        return LOG_CACHE_UNKNOWN;
    }

    for (i = 0; i < len; i++) {
        b[i] = (char) ((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
    }

    b[len] = '\0';

    /* CloudFront's RefreshHit asked the origin whether it was fresh */
    if (strncmp(b, "refreshhit", 10) == 0) {
        return LOG_CACHE_ORIGIN;
    }

    if (strstr(b, "hit") || strcmp(b, "stale") == 0
        || strcmp(b, "updating") == 0 || strcmp(b, "1") == 0)
    {
        return LOG_CACHE_HIT;
    }

    if (strstr(b, "miss") || strstr(b, "pass") || strcmp(b, "expired") == 0
        || strcmp(b, "revalidated") == 0 || strcmp(b, "dynamic") == 0
        || strcmp(b, "bypass") == 0 || strcmp(b, "0") == 0)
    {
        return LOG_CACHE_ORIGIN;
    }

    return LOG_CACHE_UNKNOWN;
}


/* a JSON value at p: its end, or NULL */

static const char *
log_json_skip(const char *p, const char *end, int *escaped)
{
    int  depth;

    *escaped = 0;

    if (p >= end) {
        return NULL;
    }

    if (*p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\') {
                *escaped = 1;
                p++;
                continue;
            }

            if (*p == '"') {
                return p + 1;
            }
        }

        return NULL;
    }

    if (*p == '{' || *p == '[') {
        depth = 0;

        for ( /* void */ ; p < end; p++) {
            if (*p == '"') {
                p = log_json_skip(p, end, escaped);
                if (p == NULL) {
                    return NULL;
                }

                p--;
                continue;
            }

            if (*p == '{' || *p == '[') {
                depth++;

            } else if (*p == '}' || *p == ']') {
                if (--depth == 0) {
                    return p + 1;
                }
            }
        }

        return NULL;
    }

    /* a number, true, false, null */

    while (p < end && *p != ',' && *p != '}' && *p != ' ' && *p != '\t'
           && *p != ']')
    {
        p++;
    }

    return p;
}


static unsigned
log_json_hex4(const char *p)
{
    unsigned  i, v, c;

    v = 0;

    for (i = 0; i < 4; i++) {
        c = (unsigned char) p[i];

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            c = (c | 0x20) - 'a' + 10;

        } else {
            return 0xFFFFFFFF;
        }

        v = v * 16 + c;
    }

    return v;
}


/* the contents of a JSON string (without quotes), unescaped into dst */

static size_t
log_json_unescape(char *dst, const char *s, size_t len)
{
    size_t    i, n;
    unsigned  u, lo;

    n = 0;

    for (i = 0; i < len; i++) {
        if (s[i] != '\\' || i + 1 == len) {
            dst[n++] = s[i];
            continue;
        }

        i++;

        switch (s[i]) {
        case 'b': dst[n++] = '\b'; break;
        case 'f': dst[n++] = '\f'; break;
        case 'n': dst[n++] = '\n'; break;
        case 'r': dst[n++] = '\r'; break;
        case 't': dst[n++] = '\t'; break;

        case 'u':
            if (i + 4 >= len) {
                dst[n++] = '?';
                i = len;
                break;
            }

            u = log_json_hex4(s + i + 1);
            i += 4;

            if (u >= 0xD800 && u < 0xDC00 && i + 6 < len && s[i + 1] == '\\'
                && s[i + 2] == 'u')
            {
                lo = log_json_hex4(s + i + 3);

                if (lo >= 0xDC00 && lo < 0xE000) {
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }

            if (u == 0xFFFFFFFF || (u >= 0xD800 && u < 0xE000)) {
                u = 0xFFFD;
            }

            if (u < 0x80) {
                dst[n++] = (char) u;

            } else if (u < 0x800) {
                dst[n++] = (char) (0xC0 | (u >> 6));
                dst[n++] = (char) (0x80 | (u & 0x3F));

            } else if (u < 0x10000) {
                dst[n++] = (char) (0xE0 | (u >> 12));
                dst[n++] = (char) (0x80 | ((u >> 6) & 0x3F));
                dst[n++] = (char) (0x80 | (u & 0x3F));

            } else {
                dst[n++] = (char) (0xF0 | (u >> 18));
                dst[n++] = (char) (0x80 | ((u >> 12) & 0x3F));
                dst[n++] = (char) (0x80 | ((u >> 6) & 0x3F));
                dst[n++] = (char) (0x80 | (u & 0x3F));
            }

            break;

        default:
            /* \" \\ \/ */
            dst[n++] = s[i];
        }
    }

    return n;
}


int
log_parse_json(log_stream_t *s, char *line, size_t len, log_rec_t *r,
    const char **reason)
{
    int                    i, esc, found, isstr[LOG_F_N];
    char                  *out;
    size_t                 kn, vn[LOG_F_N];
    uint64_t               v;
    const char            *p, *end, *k, *ve, *val[LOG_F_N];
    const log_json_map_t  *m;

    m = s->map;
    p = line;
    end = line + len;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p == end) {
        return LOG_PARSE_SKIP;
    }

    if (*p != '{') {
        *reason = "not a JSON object";
        return LOG_PARSE_BAD;
    }

    p++;
    found = 0;
    out = s->scratch;

    for (i = 0; i < LOG_F_N; i++) {
        val[i] = NULL;
    }

    for ( ;; ) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        if (p < end && *p == '}') {
            break;
        }

        if (p >= end || *p != '"') {
            *reason = "malformed JSON object";
            return LOG_PARSE_BAD;
        }

        k = p + 1;
        p = log_json_skip(p, end, &esc);

        if (p == NULL) {
            *reason = "unterminated JSON string";
            return LOG_PARSE_BAD;
        }

        kn = (size_t) (p - k - 1);

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p >= end || *p != ':') {
            *reason = "malformed JSON object";
            return LOG_PARSE_BAD;
        }

        p++;

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        ve = log_json_skip(p, end, &esc);

        if (ve == NULL || ve == p) {
            *reason = "malformed JSON value";
            return LOG_PARSE_BAD;
        }

        for (i = 0; i < LOG_F_N; i++) {
            if (m->len[i] == kn && val[i] == NULL
                && memcmp(m->name[i], k, kn) == 0)
            {
                if (*p == '"') {
                    isstr[i] = 1;

                    if (esc) {
                        val[i] = out;
                        vn[i] = log_json_unescape(out, p + 1,
                                                  (size_t) (ve - p - 2));
                        out += vn[i];

                    } else {
                        val[i] = p + 1;
                        vn[i] = (size_t) (ve - p - 2);
                    }

                } else {
                    isstr[i] = 0;
                    val[i] = p;
                    vn[i] = (size_t) (ve - p);
                }

                found++;
            }
        }

        p = ve;
    }

    (void) found;

    /* time */

    i = LOG_F_TIME;

    if (val[i] == NULL) {
        *reason = "no time member";
        return LOG_PARSE_BAD;
    }

    if (vn[i] < sizeof(s->time_text) && vn[i] == s->time_len
        && memcmp(s->time_text, val[i], vn[i]) == 0)
    {
        r->ms = s->time_ms;

    } else {
        if (log_time_epoch(val[i], vn[i], &r->ms) != 0
            && (!isstr[i] || (log_time_iso(val[i], vn[i], &r->ms) != 0
                              && log_time_clf(val[i], vn[i], &r->ms) != 0)))
        {
            *reason = "malformed time";
            return LOG_PARSE_BAD;
        }

        if (vn[i] < sizeof(s->time_text)) {
            memcpy(s->time_text, val[i], vn[i]);
            s->time_len = vn[i];
            s->time_ms = r->ms;
        }
    }

    i = LOG_F_IP;

    if (val[i] == NULL || log_addr(val[i], vn[i], &r->family, r->addr) != 0)
    {
        *reason = val[i] ? "the address member is not an address"
                         : "no address member";
        return LOG_PARSE_BAD;
    }

    i = LOG_F_STATUS;

    if (val[i] == NULL || log_uint(val[i], vn[i], &v) != 0 || v > 999) {
        *reason = val[i] ? "malformed status" : "no status member";
        return LOG_PARSE_BAD;
    }

    r->status = (unsigned) v;

    r->bytes = 0;
    i = LOG_F_BYTES;

    if (val[i] && !(vn[i] == 4 && memcmp(val[i], "null", 4) == 0)
        && log_uint(val[i], vn[i], &r->bytes) != 0)
    {
        *reason = "malformed bytes";
        return LOG_PARSE_BAD;
    }

    i = LOG_F_URI;

    if (val[i] == NULL || !isstr[i]) {
        *reason = "no URI member";
        return LOG_PARSE_BAD;
    }

    k = val[i];
    kn = vn[i];

    /* "https://host/path" and Akamai's "path" without its "/" */

    if (kn > 8 && (memcmp(k, "http://", 7) == 0
                   || memcmp(k, "https://", 8) == 0))
    {
        ve = memchr(k + 8, '/', kn - 8);
        kn = ve ? (size_t) (k + kn - ve) : 0;
        k = ve ? ve : k;
    }

    r->path = out;

    if (kn > 0 && k[0] != '/') {
        *out++ = '/';
    }

    out += log_uri_path(out, k, kn);
    r->path_len = (size_t) (out - r->path);

    i = LOG_F_UA;
    r->ua = val[i] && isstr[i] ? val[i] : NULL;
    r->ua_len = r->ua ? vn[i] : 0;

    i = LOG_F_TYPE;
    r->type = val[i] && isstr[i] && vn[i] ? val[i] : NULL;
    r->type_len = r->type ? vn[i] : 0;

    i = LOG_F_CACHE;
    r->cache = val[i] ? log_cache_status(val[i], vn[i]) : LOG_CACHE_UNKNOWN;

    return LOG_PARSE_RECORD;
}


void
log_parse_setup(log_stream_t *s, int format, const log_json_map_t *map)
{
    int  i;

    s->format = format;
    s->have_fields = 0;
    s->time_len = 0;

    for (i = 0; i < LOG_F_N; i++) {
        s->cols[i] = -1;
    }

    switch (format) {

    case LOG_FORMAT_NGINX:
        s->parse = log_parse_nginx;
        break;

    case LOG_FORMAT_CLOUDFRONT:
        s->parse = log_parse_cloudfront;
        break;

    case LOG_FORMAT_CLOUDFLARE:
        s->parse = log_parse_json;
        s->map = log_json_map_cloudflare();
        break;

    default:
        s->parse = log_parse_json;
        s->map = map;
    }
}
