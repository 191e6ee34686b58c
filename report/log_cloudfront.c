/*
 * Copyright (C) the ngx_prep authors
 *
 * CloudFront standard logs: W3C extended format, one tab-separated
 * line per request, after "#Version:" and "#Fields:" headers.  The
 * #Fields line is authoritative: columns are found by name, so field
 * lists of any age (CloudFront has added columns over the years) read
 * the same.  The User-Agent and the URI stem are URL-encoded; the
 * x-edge-result-type says whether the edge's cache answered (Hit) or
 * the origin was asked (Miss, RefreshHit).  Times are UTC, to the
 * second.
 */


#include <string.h>

#include "log_parse.h"


static const struct {
    const char  *name;
    int          field;
} log_cf_fields[] = {
    { "date", LOG_F_DATE },
    { "time", LOG_F_TIME },
    { "c-ip", LOG_F_IP },
    { "cs(User-Agent)", LOG_F_UA },
    { "cs-uri-stem", LOG_F_URI },
    { "sc-status", LOG_F_STATUS },
    { "sc-bytes", LOG_F_BYTES },
    { "x-edge-result-type", LOG_F_CACHE },
    { "sc-content-type", LOG_F_TYPE },
};

#define LOG_CF_COLS  64


static int
log_cf_header(log_stream_t *s, const char *line, size_t len,
    const char **reason)
{
    int          col, i;
    size_t       n;
    const char  *p, *end, *w;

    if (len < 8 || memcmp(line, "#Fields:", 8) != 0) {
        /* #Version, #Software, #Date, #Remark */
        return LOG_PARSE_SKIP;
    }

    for (i = 0; i < LOG_F_N; i++) {
        s->cols[i] = -1;
    }

    p = line + 8;
    end = line + len;
    col = 0;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == end) {
            break;
        }

        w = p;

        while (p < end && *p != ' ' && *p != '\t') {
            p++;
        }

        n = (size_t) (p - w);

        for (i = 0; i < (int) (sizeof(log_cf_fields)
                               / sizeof(log_cf_fields[0])); i++)
        {
            if (strlen(log_cf_fields[i].name) == n
                && memcmp(log_cf_fields[i].name, w, n) == 0)
            {
                s->cols[log_cf_fields[i].field] = col;
            }
        }

        col++;
    }

    if (s->cols[LOG_F_DATE] < 0 || s->cols[LOG_F_TIME] < 0
        || s->cols[LOG_F_IP] < 0 || s->cols[LOG_F_URI] < 0
        || s->cols[LOG_F_STATUS] < 0)
    {
        s->have_fields = 0;
        *reason = "#Fields lacks date, time, c-ip, cs-uri-stem or sc-status";
        return LOG_PARSE_BAD;
    }

    s->have_fields = 1;

    return LOG_PARSE_SKIP;
}


int
log_parse_cloudfront(log_stream_t *s, char *line, size_t len, log_rec_t *r,
    const char **reason)
{
    int          i, ncols;
    char        *out;
    size_t       n, cn[LOG_CF_COLS];
    uint64_t     v;
    const char  *p, *end, *tab, *c[LOG_CF_COLS];

    if (len > 0 && line[0] == '#') {
        return log_cf_header(s, line, len, reason);
    }

    if (!s->have_fields) {
        *reason = "no #Fields header before this line";
        return LOG_PARSE_BAD;
    }

    p = line;
    end = line + len;
    ncols = 0;

    while (ncols < LOG_CF_COLS) {
        tab = memchr(p, '\t', (size_t) (end - p));
        c[ncols] = p;
        cn[ncols] = (size_t) ((tab ? tab : end) - p);
        ncols++;

        if (tab == NULL) {
            break;
        }

        p = tab + 1;
    }

    for (i = 0; i < LOG_F_N; i++) {
        if (s->cols[i] >= ncols) {
            *reason = "fewer columns than #Fields";
            return LOG_PARSE_BAD;
        }
    }

    i = s->cols[LOG_F_TIME];

    /* the time text is date + time: compare both as one key */

    if (cn[i] == 8 && s->time_len == 18
        && memcmp(s->time_text, c[s->cols[LOG_F_DATE]], 10) == 0
        && memcmp(s->time_text + 10, c[i], 8) == 0)
    {
        r->ms = s->time_ms;

    } else {
        if (log_time_date_time(c[s->cols[LOG_F_DATE]],
                               cn[s->cols[LOG_F_DATE]], c[i], cn[i], &r->ms)
            != 0)
        {
            *reason = "malformed date or time";
            return LOG_PARSE_BAD;
        }

        if (cn[i] == 8) {
            memcpy(s->time_text, c[s->cols[LOG_F_DATE]], 10);
            memcpy(s->time_text + 10, c[i], 8);
            s->time_len = 18;
            s->time_ms = r->ms;
        }
    }

    i = s->cols[LOG_F_IP];

    if (log_addr(c[i], cn[i], &r->family, r->addr) != 0) {
        *reason = "c-ip is not an address";
        return LOG_PARSE_BAD;
    }

    i = s->cols[LOG_F_STATUS];

    if (log_uint(c[i], cn[i], &v) != 0 || v > 999) {
        /* "000": the viewer closed the connection first */
        *reason = "malformed sc-status";
        return LOG_PARSE_BAD;
    }

    r->status = (unsigned) v;

    r->bytes = 0;
    i = s->cols[LOG_F_BYTES];

    if (i >= 0 && !(cn[i] == 1 && c[i][0] == '-')
        && log_uint(c[i], cn[i], &r->bytes) != 0)
    {
        *reason = "malformed sc-bytes";
        return LOG_PARSE_BAD;
    }

    out = s->scratch;

    i = s->cols[LOG_F_URI];
    r->path = out;
    r->path_len = (cn[i] == 1 && c[i][0] == '-')
                  ? 0 : log_uri_path(out, c[i], cn[i]);
    out += r->path_len;

    r->ua = NULL;
    r->ua_len = 0;
    i = s->cols[LOG_F_UA];

    if (i >= 0 && !(cn[i] == 1 && c[i][0] == '-')) {
        r->ua = out;
        r->ua_len = log_url_decode(out, c[i], cn[i]);
        out += r->ua_len;
    }

    r->type = NULL;
    r->type_len = 0;
    i = s->cols[LOG_F_TYPE];

    if (i >= 0 && cn[i] > 0 && !(cn[i] == 1 && c[i][0] == '-')) {
        r->type = out;
        r->type_len = log_url_decode(out, c[i], cn[i]);
        out += r->type_len;
    }

    r->cache = LOG_CACHE_UNKNOWN;
    i = s->cols[LOG_F_CACHE];

    if (i >= 0) {
        n = cn[i];
        r->cache = log_cache_status(c[i], n);
    }

    return LOG_PARSE_RECORD;
}
