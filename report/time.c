/*
 * Copyright (C) the ngx_prep authors
 *
 * Times: ISO 8601 with a UTC offset in, fixed-offset local times out
 * (the report never uses the machine's time zone, so a report made
 * anywhere says the same).
 */


#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report.h"


static int64_t
rpt_days_from_civil(int y, int m, int d)
{
    int       era;
    unsigned  yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (unsigned) ((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return (int64_t) era * 146097 + (int64_t) doe - 719468;
}


int
rpt_parse_offset(const char *s, int *minutes)
{
    int  h, m, n, sign;

    if (strcmp(s, "Z") == 0 || strcmp(s, "z") == 0) {
        *minutes = 0;
        return 0;
    }

    if (s[0] != '+' && s[0] != '-') {
        return -1;
    }

    sign = s[0] == '-' ? -1 : 1;
    n = 0;

    if (sscanf(s + 1, "%2d:%2d%n", &h, &m, &n) == 2 && s[1 + n] == '\0'
        && n == 5)
    {
        /* hh:mm */

    } else if (sscanf(s + 1, "%2d%2d%n", &h, &m, &n) == 2 && n == 4
               && s[1 + n] == '\0')
    {
        /* hhmm */

    } else {
        return -1;
    }

    if (h > 14 || m > 59) {
        return -1;
    }

    *minutes = sign * (h * 60 + m);
    return 0;
}


int
rpt_parse_iso(const char *s, int64_t *t, int *off)
{
    int     y, mo, d, h, mi, se, n;

    n = 0;
    se = 0;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d%n", &y, &mo, &d, &h, &mi, &n) != 5) {
        return -1;
    }

    s += n;

    if (*s == ':') {
        n = 0;
        if (sscanf(s, ":%2d%n", &se, &n) != 1) {
            return -1;
        }
        s += n;

        if (*s == '.') {
            /* the fraction is skipped: sscanf's %lf takes the "Z" after
             * it for an incomplete exponent or hex float in some libcs */
            s++;
            while (*s >= '0' && *s <= '9') {
                s++;
            }
        }
    }

    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59
        || se > 60)
    {
        return -1;
    }

    if (rpt_parse_offset(s, off) != 0) {
        return -1;
    }

    *t = rpt_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se
         - (int64_t) *off * 60;

    return 0;
}


static void
rpt_local(int64_t t, int tz, struct tm *tm)
{
    time_t  lt;

    lt = (time_t) (t + (int64_t) tz * 60);
    gmtime_r(&lt, tm);
}


void
rpt_fmt_time(char *dst, size_t size, int64_t t, int tz)
{
    struct tm  tm;

    rpt_local(t, tz, &tm);
    snprintf(dst, size, "%02d/%02d/%04d %02d:%02d", tm.tm_mday,
             tm.tm_mon + 1, tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
}


void
rpt_fmt_day(char *dst, size_t size, int64_t t, int tz)
{
    struct tm  tm;

    rpt_local(t, tz, &tm);
    snprintf(dst, size, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday);
}


void
rpt_fmt_iso(char *dst, size_t size, int64_t t, int tz)
{
    int        a;
    struct tm  tm;

    rpt_local(t, tz, &tm);
    a = tz < 0 ? -tz : tz;

    snprintf(dst, size, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, tz < 0 ? '-' : '+', a / 60, a % 60);
}
