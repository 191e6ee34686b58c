/*
 * Copyright (C) the ngx_prep authors
 */


#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prep_json.h"
#include "buf.h"


void
rpt_buf_init(rpt_buf_t *b)
{
    memset(b, 0, sizeof(*b));
}


void
rpt_buf_free(rpt_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}


static int
rpt_buf_reserve(rpt_buf_t *b, size_t more)
{
    char    *p;
    size_t   size;

    if (b->failed) {
        return -1;
    }

    if (b->len + more + 1 <= b->size) {
        return 0;
    }

    size = b->size ? b->size : 4096;

    while (size < b->len + more + 1) {
        size *= 2;
    }

    p = realloc(b->data, size);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }

    b->data = p;
    b->size = size;
    return 0;
}


void
rpt_buf_add(rpt_buf_t *b, const char *s, size_t len)
{
    if (rpt_buf_reserve(b, len) != 0) {
        return;
    }

    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}


void
rpt_buf_puts(rpt_buf_t *b, const char *s)
{
    rpt_buf_add(b, s, strlen(s));
}


void
rpt_buf_printf(rpt_buf_t *b, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);

    if (n < 0 || rpt_buf_reserve(b, (size_t) n) != 0) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);

    b->len += (size_t) n;
}


void
rpt_buf_html(rpt_buf_t *b, const char *s)
{
    uint32_t              cp;
    const unsigned char  *p, *end, *start;

    if (s == NULL) {
        return;
    }

    p = (const unsigned char *) s;
    end = p + strlen(s);

    while (p < end) {
        start = p;
        cp = prep_utf8_next(&p, end);

        switch (cp) {
        case '&':  rpt_buf_puts(b, "&amp;");  break;
        case '<':  rpt_buf_puts(b, "&lt;");   break;
        case '>':  rpt_buf_puts(b, "&gt;");   break;
        case '"':  rpt_buf_puts(b, "&quot;"); break;
        case '\'': rpt_buf_puts(b, "&#39;");  break;
        case PREP_UTF8_INVALID:
            rpt_buf_puts(b, "\xEF\xBF\xBD");
            break;
        default:
            if (cp < 0x20 && cp != '\n' && cp != '\t') {
                rpt_buf_puts(b, "\xEF\xBF\xBD");

            } else {
                rpt_buf_add(b, (const char *) start, (size_t) (p - start));
            }
        }
    }
}


void
rpt_buf_csv(rpt_buf_t *b, const char *s)
{
    const char  *p;

    if (s == NULL) {
        return;
    }

    if (strpbrk(s, ",\"\r\n") == NULL) {
        rpt_buf_puts(b, s);
        return;
    }

    rpt_buf_add(b, "\"", 1);

    for (p = s; *p; p++) {
        if (*p == '"') {
            rpt_buf_add(b, "\"", 1);
        }

        rpt_buf_add(b, p, 1);
    }

    rpt_buf_add(b, "\"", 1);
}


void
rpt_buf_json(rpt_buf_t *b, const char *s)
{
    size_t  len, n;

    if (s == NULL) {
        rpt_buf_puts(b, "null");
        return;
    }

    len = strlen(s);
    n = prep_json_escaped_len(s, len);

    if (rpt_buf_reserve(b, n + 2) != 0) {
        return;
    }

    b->data[b->len++] = '"';
    b->len += prep_json_escape(b->data + b->len, s, len);
    b->data[b->len++] = '"';
    b->data[b->len] = '\0';
}


const char *
rpt_fmt_int(char *dst, size_t size, uint64_t v)
{
    int     n, i, j, lead;
    char    digits[32];
    size_t  o;

    n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long) v);
    lead = n % 3 ? n % 3 : 3;
    o = 0;

    for (i = 0; i < n && o + 4 < size; i++) {
        if (i >= lead && (i - lead) % 3 == 0) {
            /* a narrow no-break space, as the SI and the RAE advise */
            for (j = 0; j < 3; j++) {
                dst[o++] = "\xE2\x80\xAF"[j];
            }
        }

        dst[o++] = digits[i];
    }

    dst[o] = '\0';
    return dst;
}


const char *
rpt_fmt_dec(char *dst, size_t size, double v, int decimals)
{
    char  *p;

    snprintf(dst, size, "%.*f", decimals, v);

    p = strchr(dst, '.');
    if (p != NULL) {
        *p = ',';
    }

    return dst;
}


const char *
rpt_fmt_bytes(char *dst, size_t size, uint64_t v)
{
    char         num[32];
    double       d;
    unsigned     u;
    const char  *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };

    d = (double) v;

    for (u = 0; d >= 1024 && u < 5; u++) {
        d /= 1024;
    }

    if (u == 0) {
        snprintf(dst, size, "%llu B", (unsigned long long) v);

    } else {
        snprintf(dst, size, "%s %s", rpt_fmt_dec(num, sizeof(num), d, 1),
                 units[u]);
    }

    return dst;
}


const char *
rpt_fmt_duration(char *dst, size_t size, int64_t sec)
{
    if (sec < 0) {
        sec = 0;
    }

    if (sec >= 86400) {
        snprintf(dst, size, "%lld d %lld h %02lld min", (long long) sec / 86400,
                 (long long) (sec % 86400) / 3600,
                 (long long) (sec % 3600) / 60);

    } else if (sec >= 3600) {
        snprintf(dst, size, "%lld h %02lld min", (long long) sec / 3600,
                 (long long) (sec % 3600) / 60);

    } else if (sec >= 60) {
        snprintf(dst, size, "%lld min %02lld s", (long long) sec / 60,
                 (long long) sec % 60);

    } else {
        snprintf(dst, size, "%lld s", (long long) sec);
    }

    return dst;
}


int
rpt_buf_write(rpt_buf_t *b, const char *dir, const char *name, char *err,
    size_t errlen)
{
    int      fd;
    char     path[4096], tmp[4200];
    size_t   off;
    ssize_t  n;

    if (b->failed) {
        snprintf(err, errlen, "%s: out of memory while rendering", name);
        return -1;
    }

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-%ld", dir, name, (long) getpid());

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return -1;
    }

    for (off = 0; off < b->len; off += (size_t) n) {
        n = write(fd, b->data + off, b->len - off);

        if (n <= 0) {
            if (n == -1 && errno == EINTR) {
                n = 0;
                continue;
            }

            snprintf(err, errlen, "%s: %s", tmp,
                     n == 0 ? "short write" : strerror(errno));
            close(fd);
            unlink(tmp);
            return -1;
        }
    }

    if (fsync(fd) != 0 || close(fd) != 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }

    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }

    return 0;
}
