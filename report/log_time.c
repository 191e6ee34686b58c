/*
 * Copyright (C) the ngx_prep authors
 *
 * Times, addresses and numbers as access logs write them.  Written for
 * speed: a log of ten million lines calls each of these ten million
 * times.
 */


#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "log_rec.h"


#define log_digit(c)  ((unsigned) (c) - '0' < 10)


/* Howard Hinnant's days_from_civil */

int64_t
log_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t   era;
    unsigned  yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t) doe - 719468;
}


static int
log_num(const char *p, size_t n, unsigned *v)
{
    size_t    i;
    unsigned  x;

    x = 0;

    for (i = 0; i < n; i++) {
        if (!log_digit(p[i])) {
            return -1;
        }

        x = x * 10 + (unsigned) (p[i] - '0');
    }

    *v = x;

    return 0;
}


static int
log_month(const char *p)
{
    static const char  months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int                i;

    for (i = 0; i < 12; i++) {
        if (memcmp(p, months + i * 3, 3) == 0) {
            return i + 1;
        }
    }

    return -1;
}


static int
log_hms(const char *p, unsigned *h, unsigned *mi, unsigned *s)
{
    if (p[2] != ':' || p[5] != ':'
        || log_num(p, 2, h) || log_num(p + 3, 2, mi)
        || log_num(p + 6, 2, s)
        || *h > 23 || *mi > 59 || *s > 60)
    {
        return -1;
    }

    return 0;
}


static int
log_ymd_check(unsigned y, unsigned m, unsigned d)
{
    return (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
           ? -1 : 0;
}


int
log_time_clf(const char *p, size_t len, int64_t *ms)
{
    int       mon, sign;
    unsigned  d, y, h, mi, s, oh, om;
    int64_t   t;

    /* 10/Oct/2026:13:55:36 -0700 */

    if (len < 26 || p[2] != '/' || p[6] != '/' || p[11] != ':'
        || p[20] != ' ')
    {
        return -1;
    }

    if (log_num(p, 2, &d) || log_num(p + 7, 4, &y)
        || log_hms(p + 12, &h, &mi, &s))
    {
        return -1;
    }

    mon = log_month(p + 3);

    if (mon < 0 || log_ymd_check(y, (unsigned) mon, d)) {
        return -1;
    }

    sign = p[21] == '-' ? -1 : (p[21] == '+' ? 1 : 0);

    if (sign == 0 || log_num(p + 22, 2, &oh) || log_num(p + 24, 2, &om)) {
        return -1;
    }

    t = log_days_from_civil(y, (unsigned) mon, d) * 86400
        + h * 3600 + mi * 60 + s;
    t -= sign * (int64_t) (oh * 3600 + om * 60);

    *ms = t * 1000;

    return 0;
}


int
log_time_iso(const char *p, size_t len, int64_t *ms)
{
    size_t    i;
    unsigned  y, mo, d, h, mi, s, oh, om, frac, div;
    int64_t   t;
    int       sign;

    /* 2026-06-02T23:30:00[.123][Z|+hh:mm|+hhmm] */

    if (len < 19 || p[4] != '-' || p[7] != '-'
        || (p[10] != 'T' && p[10] != 't' && p[10] != ' '))
    {
        return -1;
    }

    if (log_num(p, 4, &y) || log_num(p + 5, 2, &mo) || log_num(p + 8, 2, &d)
        || log_ymd_check(y, mo, d) || log_hms(p + 11, &h, &mi, &s))
    {
        return -1;
    }

    i = 19;
    frac = 0;
    div = 1;

    if (i < len && (p[i] == '.' || p[i] == ',')) {
        for (i++; i < len && log_digit(p[i]); i++) {
            if (div < 1000) {
                frac = frac * 10 + (unsigned) (p[i] - '0');
                div *= 10;
            }
        }
    }

    t = log_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;

    if (i < len && (p[i] == 'Z' || p[i] == 'z')) {
        i++;

    } else if (i < len && (p[i] == '+' || p[i] == '-')) {
        sign = p[i] == '-' ? -1 : 1;

        if (len - i >= 6 && p[i + 3] == ':') {
            if (log_num(p + i + 1, 2, &oh) || log_num(p + i + 4, 2, &om)) {
                return -1;
            }

            i += 6;

        } else if (len - i >= 5) {
            if (log_num(p + i + 1, 2, &oh) || log_num(p + i + 3, 2, &om)) {
                return -1;
            }

            i += 5;

        } else {
            return -1;
        }

        t -= sign * (int64_t) (oh * 3600 + om * 60);
    }

    if (i != len) {
        return -1;
    }

    *ms = t * 1000 + (int64_t) (frac * (1000 / div));

    return 0;
}


int
log_time_date_time(const char *dp, size_t dlen, const char *tp,
    size_t tlen, int64_t *ms)
{
    unsigned  y, mo, d, h, mi, s;

    if (dlen != 10 || tlen < 8 || dp[4] != '-' || dp[7] != '-'
        || log_num(dp, 4, &y) || log_num(dp + 5, 2, &mo)
        || log_num(dp + 8, 2, &d) || log_ymd_check(y, mo, d)
        || log_hms(tp, &h, &mi, &s))
    {
        return -1;
    }

    *ms = (log_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s)
          * 1000;

    return 0;
}


int
log_time_epoch(const char *p, size_t len, int64_t *ms)
{
    size_t    i;
    uint64_t  v;
    unsigned  frac, div;

    v = 0;

    for (i = 0; i < len && log_digit(p[i]); i++) {
        if (i >= 19) {
            return -1;
        }

        v = v * 10 + (uint64_t) (p[i] - '0');
    }

    if (i == 0) {
        return -1;
    }

    frac = 0;
    div = 1;

    if (i < len && p[i] == '.') {
        for (i++; i < len && log_digit(p[i]); i++) {
            if (div < 1000) {
                frac = frac * 10 + (unsigned) (p[i] - '0');
                div *= 10;
            }
        }
    }

    if (i != len) {
        return -1;
    }

    /* seconds until 2286, then ms, us, ns */

    if (v < 10000000000ULL) {
        *ms = (int64_t) v * 1000 + (int64_t) (frac * (1000 / div));

    } else if (v < 10000000000000ULL) {
        *ms = (int64_t) v;

    } else if (v < 10000000000000000ULL) {
        *ms = (int64_t) (v / 1000);

    } else {
        *ms = (int64_t) (v / 1000000);
    }

    return 0;
}


int
log_addr(const char *p, size_t len, int *family, unsigned char *addr)
{
    size_t    i;
    unsigned  part, dots, digits;
    char      buf[64];

    /* dotted quads by hand: most lines have one */

    part = 0;
    dots = 0;
    digits = 0;

    for (i = 0; i < len; i++) {
        if (log_digit(p[i])) {
            part = part * 10 + (unsigned) (p[i] - '0');

            if (++digits > 3 || part > 255) {
                break;
            }

            continue;
        }

        if (p[i] != '.' || digits == 0 || dots == 3) {
            break;
        }

        addr[dots++] = (unsigned char) part;
        part = 0;
        digits = 0;
    }

    if (i == len && dots == 3 && digits > 0) {
        addr[3] = (unsigned char) part;
        *family = AF_INET;
        return 0;
    }

    if (len == 0 || len >= sizeof(buf) || memchr(p, ':', len) == NULL) {
        return -1;
    }

    memcpy(buf, p, len);
    buf[len] = '\0';

    if (inet_pton(AF_INET6, buf, addr) != 1) {
        return -1;
    }

    /* ::ffff:192.0.2.1 is the IPv4 client nginx would see */

    if (memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
        memmove(addr, addr + 12, 4);
        *family = AF_INET;
        return 0;
    }

    *family = AF_INET6;

    return 0;
}


int
log_uint(const char *p, size_t len, uint64_t *v)
{
    size_t    i;
    uint64_t  x;

    if (len == 0 || len > 19) {
        return -1;
    }

    x = 0;

    for (i = 0; i < len; i++) {
        if (!log_digit(p[i])) {
            return -1;
        }

        x = x * 10 + (uint64_t) (p[i] - '0');
    }

    *v = x;

    return 0;
}


static int
log_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


size_t
log_url_decode(char *dst, const char *src, size_t len)
{
    int     hi, lo;
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (src[i] == '%' && i + 2 < len) {
            hi = log_hex((unsigned char) src[i + 1]);
            lo = log_hex((unsigned char) src[i + 2]);

            if (hi >= 0 && lo >= 0) {
                dst[n++] = (char) (hi * 16 + lo);
                i += 2;
                continue;
            }
        }

        dst[n++] = src[i];
    }

    return n;
}
