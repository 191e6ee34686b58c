/*
 * Copyright (C) the ngx_prep authors
 *
 * The parsers are deliberately strict about what surrounds a date (a
 * CSV line must hold nothing else but padding), so a data row or a
 * per-acta timestamp is never mistaken for the corte.
 */


#include <stdio.h>
#include <string.h>

#include "package/ingest_corte.h"


#define INGEST_ULTIMO_KEY      "\"ultimoCorte\""
#define INGEST_ULTIMO_KEY_LEN  (sizeof(INGEST_ULTIMO_KEY) - 1)
#define INGEST_JSON_STR_MAX    64


static int
ingest_is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}


static int
ingest_is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}


/* up to max digits at s[*i]; -1 when there is none */
static int
ingest_digits(const char *s, size_t len, size_t *i, size_t max,
    size_t *count)
{
    int     v;
    size_t  n;

    v = 0;

    for (n = 0; n < max && *i < len && ingest_is_digit(s[*i]); n++) {
        v = v * 10 + (s[*i] - '0');
        (*i)++;
    }

    *count = n;

    return n ? v : -1;
}


static int
ingest_days_in_month(int year, int month)
{
    static const int  days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
                                 30, 31 };

    if (month == 2
        && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
    {
        return 29;
    }

    return days[month - 1];
}


static int
ingest_corte_valid(const ingest_corte_t *c)
{
    return c->year >= 1970 && c->year <= 9999
           && c->month >= 1 && c->month <= 12
           && c->day >= 1
           && c->day <= ingest_days_in_month(c->year, c->month)
           && c->hour >= 0 && c->hour <= 23
           && c->minute >= 0 && c->minute <= 59;
}


static void
ingest_corte_text(ingest_corte_t *c, const char *s, size_t len)
{
    if (len >= sizeof(c->text)) {
        len = sizeof(c->text) - 1;
    }

    memcpy(c->text, s, len);
    c->text[len] = '\0';
}


int
ingest_corte_parse_name(const char *name, size_t len, ingest_corte_t *c)
{
    size_t  i, j;

    for (i = 0; i + 13 <= len; i++) {
        if (i > 0 && ingest_is_digit(name[i - 1])) {
            continue;
        }

        for (j = 0; j < 13; j++) {
            if (j == 8 ? name[i + j] != '_' : !ingest_is_digit(name[i + j]))
            {
                break;
            }
        }

        if (j < 13 || (i + 13 < len && ingest_is_digit(name[i + 13]))) {
            continue;
        }

        memset(c, 0, sizeof(ingest_corte_t));
        (void) sscanf(name + i, "%4d%2d%2d_%2d%2d", &c->year, &c->month,
                      &c->day, &c->hour, &c->minute);

        if (ingest_corte_valid(c)) {
            ingest_corte_text(c, name + i, 13);
            return 1;
        }
    }

    return 0;
}


/* "(UTC-5)", "(UTC -05:00)", "(GMT+1)", "(UTC)"; "-" may be U+2212 */
static int
ingest_parse_offset(const char *s, size_t len, size_t *used, int32_t *off)
{
    int     sign, hours, minutes;
    size_t  i, n;

    i = 0;

    if (i >= len || s[i++] != '(') {
        return 0;
    }

    while (i < len && ingest_is_space(s[i])) {
        i++;
    }

    if (len - i < 3
        || (memcmp(s + i, "UTC", 3) != 0 && memcmp(s + i, "GMT", 3) != 0))
    {
        return 0;
    }

    i += 3;

    while (i < len && ingest_is_space(s[i])) {
        i++;
    }

    hours = 0;
    minutes = 0;
    sign = 0;

    if (i < len && (s[i] == '+' || s[i] == '-')) {
        sign = s[i] == '-' ? -1 : 1;
        i++;

    } else if (len - i >= 3 && memcmp(s + i, "\xE2\x88\x92", 3) == 0) {
        sign = -1;
        i += 3;
    }

    if (sign != 0) {
        hours = ingest_digits(s, len, &i, 2, &n);

        if (hours < 0 || hours > 14) {
            return 0;
        }

        if (i < len && s[i] == ':') {
            i++;
        }

        if (i < len && ingest_is_digit(s[i])) {
            minutes = ingest_digits(s, len, &i, 2, &n);

            if (n != 2 || minutes > 59) {
                return 0;
            }
        }
    }

    while (i < len && ingest_is_space(s[i])) {
        i++;
    }

    if (i >= len || s[i++] != ')') {
        return 0;
    }

    *used = i;
    *off = (sign < 0 ? -1 : 1) * (hours * 3600 + minutes * 60);

    return 1;
}


int
ingest_corte_parse_datetime(const char *s, size_t len, size_t *used,
    ingest_corte_t *c)
{
    int      a, b, d, sec;
    char     sep;
    size_t   i, j, na, nb, nd, n;
    int32_t  off;

    memset(c, 0, sizeof(ingest_corte_t));
    i = 0;

    a = ingest_digits(s, len, &i, 4, &na);
    if (a < 0 || i >= len || (s[i] != '/' && s[i] != '-')) {
        return 0;
    }

    sep = s[i++];

    b = ingest_digits(s, len, &i, 2, &nb);
    if (b < 0 || i >= len || s[i++] != sep) {
        return 0;
    }

    d = ingest_digits(s, len, &i, 4, &nd);
    if (d < 0) {
        return 0;
    }

    if (na == 4 && nd <= 2) {
        c->year = a;
        c->month = b;
        c->day = d;

    } else if (na <= 2 && nd == 4) {
        c->day = a;
        c->month = b;
        c->year = d;

    } else {
        return 0;
    }

    /* the time, after at least one space */
    if (i >= len || !ingest_is_space(s[i])) {
        return 0;
    }

    while (i < len && ingest_is_space(s[i])) {
        i++;
    }

    c->hour = ingest_digits(s, len, &i, 2, &n);
    if (c->hour < 0 || i >= len || s[i++] != ':') {
        return 0;
    }

    c->minute = ingest_digits(s, len, &i, 2, &n);
    if (c->minute < 0 || n != 2) {
        return 0;
    }

    /* ":00" seconds are harmless; any other value is not a corte */
    if (i < len && s[i] == ':') {
        j = i + 1;
        sec = ingest_digits(s, len, &j, 2, &n);

        if (sec != 0 || n != 2) {
            return 0;
        }

        i = j;
    }

    if (i < len && ingest_is_digit(s[i])) {
        return 0;
    }

    if (!ingest_corte_valid(c)) {
        return 0;
    }

    /* the offset may follow with or without a space: "14:40(UTC-6)" */
    for (j = i; j < len && ingest_is_space(s[j]); j++) {
        /* void */
    }

    if (ingest_parse_offset(s + j, len - j, &n, &off)) {
        c->has_offset = 1;
        c->utc_offset = off;
        i = j + n;
    }

    ingest_corte_text(c, s, i);
    *used = i;

    return 1;
}


/* a CSV line that holds only a date: padding separators may follow */
static int
ingest_csv_line(const char *s, size_t len, ingest_corte_t *c)
{
    int     quoted;
    size_t  i, used;

    i = 0;

    while (i < len && ingest_is_space(s[i])) {
        i++;
    }

    quoted = i < len && s[i] == '"';
    if (quoted) {
        i++;
    }

    if (!ingest_corte_parse_datetime(s + i, len - i, &used, c)) {
        return 0;
    }

    for (i += used; i < len; i++) {
        if (s[i] == '"' && quoted) {
            quoted = 0;
            continue;
        }

        if (!ingest_is_space(s[i]) && s[i] != ',' && s[i] != ';'
            && s[i] != '|' && s[i] != '\r')
        {
            return 0;
        }
    }

    return 1;
}


int
ingest_corte_parse_csv(const char *head, size_t len, ingest_corte_t *c)
{
    size_t       line;
    const char  *p, *end, *nl;

    p = head;
    end = head + len;

    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3;
    }

    for (line = 0; line < INGEST_CSV_HEAD_LINES && p < end; line++) {
        nl = memchr(p, '\n', (size_t) (end - p));
        if (nl == NULL) {
            nl = end;
        }

        if (ingest_csv_line(p, (size_t) (nl - p), c)) {
            return 1;
        }

        p = nl + 1;
    }

    return 0;
}


/*
 * A JSON string at s[*i] == '"' into out (at most INGEST_JSON_STR_MAX
 * bytes).  1 read, 0 not usable, -1 incomplete.  "\/" is common (PHP
 * escapes slashes in "03\/06\/2024"); \u escapes are not needed here.
 */
static int
ingest_json_string(const char *s, size_t len, size_t *i, char *out,
    size_t *out_len)
{
    size_t  n;

    n = 0;
    (*i)++;

    while (*i < len) {
        if (s[*i] == '"') {
            (*i)++;
            out[n] = '\0';
            *out_len = n;
            return 1;
        }

        if (s[*i] == '\\') {
            if (*i + 1 >= len) {
                return -1;
            }

            if (s[*i + 1] != '/' && s[*i + 1] != '"' && s[*i + 1] != '\\') {
                return 0;
            }

            (*i)++;
        }

        if (n == INGEST_JSON_STR_MAX || (unsigned char) s[*i] < 0x20) {
            return 0;
        }

        out[n++] = s[(*i)++];
    }

    return -1;
}


static void
ingest_json_ws(const char *s, size_t len, size_t *i)
{
    while (*i < len && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n'
                        || s[*i] == '\r'))
    {
        (*i)++;
    }
}


/* "fecha" + " " + "hora", or a string value, must be exactly a date */
static int
ingest_ultimo_text(const char *text, size_t len, ingest_corte_t *c)
{
    size_t  used;

    if (!ingest_corte_parse_datetime(text, len, &used, c)) {
        return 0;
    }

    while (used < len && ingest_is_space(text[used])) {
        used++;
    }

    return used == len;
}


static int
ingest_ultimo_object(const char *s, size_t len, size_t *i,
    ingest_corte_t *c)
{
    int     rc;
    char    key[INGEST_JSON_STR_MAX + 1], val[INGEST_JSON_STR_MAX + 1];
    char    fecha[INGEST_JSON_STR_MAX + 1], hora[INGEST_JSON_STR_MAX + 1];
    char    text[2 * INGEST_JSON_STR_MAX + 2];
    size_t  key_len, val_len, n;

    fecha[0] = '\0';
    hora[0] = '\0';
    (*i)++;

    for ( ;; ) {
        ingest_json_ws(s, len, i);

        if (*i >= len) {
            return -1;
        }

        if (s[*i] == '}') {
            (*i)++;
            break;
        }

        if (s[*i] != '"') {
            return 0;
        }

        rc = ingest_json_string(s, len, i, key, &key_len);
        if (rc != 1) {
            return rc;
        }

        ingest_json_ws(s, len, i);

        if (*i >= len) {
            return -1;
        }

        if (s[(*i)++] != ':') {
            return 0;
        }

        ingest_json_ws(s, len, i);

        if (*i >= len) {
            return -1;
        }

        if (s[*i] == '"') {
            rc = ingest_json_string(s, len, i, val, &val_len);
            if (rc != 1) {
                return rc;
            }

            if (strcmp(key, "fecha") == 0) {
                memcpy(fecha, val, val_len + 1);

            } else if (strcmp(key, "hora") == 0) {
                memcpy(hora, val, val_len + 1);
            }

        } else {
            /* numbers, true, false, null; nesting is not expected */
            while (*i < len && s[*i] != ',' && s[*i] != '}') {
                if (s[*i] == '{' || s[*i] == '[' || s[*i] == '"') {
                    return 0;
                }

                (*i)++;
            }
        }

        ingest_json_ws(s, len, i);

        if (*i >= len) {
            return -1;
        }

        if (s[*i] == ',') {
            (*i)++;

        } else if (s[*i] != '}') {
            return 0;
        }
    }

    if (fecha[0] == '\0' || hora[0] == '\0') {
        return 0;
    }

    n = (size_t) snprintf(text, sizeof(text), "%s %s", fecha, hora);

    return ingest_ultimo_text(text, n, c);
}


int
ingest_corte_parse_ultimo(const char *s, size_t len, size_t *used,
    ingest_corte_t *c)
{
    int     rc;
    char    val[INGEST_JSON_STR_MAX + 1];
    size_t  i, val_len, avail;

    /* a value longer than this is not a corte: judge it unreadable */
    avail = len > INGEST_JSON_VALUE_MAX ? INGEST_JSON_VALUE_MAX : len;
    i = 0;

    ingest_json_ws(s, avail, &i);

    if (i >= avail) {
        return avail < len ? 0 : -1;
    }

    if (s[i++] != ':') {
        /* the word as a value ("campo": "ultimoCorte"), not a key */
        *used = 0;
        return -2;
    }

    ingest_json_ws(s, avail, &i);

    if (i >= avail) {
        return avail < len ? 0 : -1;
    }

    if (s[i] == '{') {
        rc = ingest_ultimo_object(s, avail, &i, c);

    } else if (s[i] == '"') {
        rc = ingest_json_string(s, avail, &i, val, &val_len);

        if (rc == 1) {
            rc = ingest_ultimo_text(val, val_len, c);
        }

    } else {
        rc = 0;
    }

    if (rc == -1 && avail < len) {
        rc = 0;
    }

    *used = i;

    return rc;
}


void
ingest_corte_set_init(ingest_corte_set_t *set)
{
    memset(set, 0, sizeof(ingest_corte_set_t));
}


/* "2024-06-03 00:15 (UTC-5)" */
static char *
ingest_corte_describe(const ingest_corte_t *c, char *buf, size_t size)
{
    int      n;
    int32_t  off;

    n = snprintf(buf, size, "%04d-%02d-%02d %02d:%02d", c->year, c->month,
                 c->day, c->hour, c->minute);

    if (c->has_offset && n > 0 && (size_t) n < size) {
        off = c->utc_offset < 0 ? -c->utc_offset : c->utc_offset;

        if (off % 3600 == 0) {
            (void) snprintf(buf + n, size - n, " (UTC%c%d)",
                            c->utc_offset < 0 ? '-' : '+',
                            (int) (off / 3600));

        } else {
            (void) snprintf(buf + n, size - n, " (UTC%c%d:%02d)",
                            c->utc_offset < 0 ? '-' : '+',
                            (int) (off / 3600), (int) (off % 3600 / 60));
        }
    }

    return buf;
}


static int
ingest_corte_mismatch(const ingest_corte_t *one, const ingest_corte_t *two,
    ingest_err_t *err)
{
    char  d1[48], d2[48];

    return ingest_fail(err, INGEST_CORTE_MISMATCH,
                       "%s says %s (\"%s\") but %s says %s (\"%s\")",
                       one->source,
                       ingest_corte_describe(one, d1, sizeof(d1)),
                       one->text, two->source,
                       ingest_corte_describe(two, d2, sizeof(d2)),
                       two->text);
}


int
ingest_corte_set_add(ingest_corte_set_t *set, const ingest_corte_t *c,
    ingest_err_t *err)
{
    const ingest_corte_t  *f;

    if (set->sources == 0) {
        set->first = *c;
    }

    f = &set->first;

    if (c->year != f->year || c->month != f->month || c->day != f->day
        || c->hour != f->hour || c->minute != f->minute)
    {
        return ingest_corte_mismatch(f, c, err);
    }

    if (c->has_offset) {
        if (set->offsets == 0) {
            set->with_offset = *c;

        } else if (c->utc_offset != set->with_offset.utc_offset) {
            return ingest_corte_mismatch(&set->with_offset, c, err);
        }

        set->offsets++;
    }

    set->sources++;

    return 0;
}


void
ingest_corte_set_unreadable(ingest_corte_set_t *set, const char *source)
{
    if (set->unreadable++ == 0) {
        (void) snprintf(set->unreadable_at, sizeof(set->unreadable_at),
                        "%s", source);
    }
}


/* days since 1970-01-01 of a proleptic Gregorian date */
static int64_t
ingest_days_from_civil(int64_t y, int m, int d)
{
    int64_t  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


int
ingest_corte_resolve(const ingest_corte_set_t *set,
    ingest_corte_result_t *res, ingest_err_t *err)
{
    char                   d[48], iso[96];
    int32_t                off;
    const ingest_corte_t  *c;

    memset(res, 0, sizeof(ingest_corte_result_t));

    if (set->sources == 0) {
        if (set->unreadable) {
            return ingest_fail(err, INGEST_CORTE_MISSING,
                               "no corte time found; %lu \"ultimoCorte\" "
                               "value(s) not understood, the first in %s",
                               set->unreadable, set->unreadable_at);
        }

        return ingest_fail(err, INGEST_CORTE_MISSING,
                           "no corte time found: no YYYYMMDD_HHMM in the "
                           "package name, no date line in a CSV preamble, "
                           "no JSON \"ultimoCorte\"");
    }

    if (set->offsets == 0) {
        return ingest_fail(err, INGEST_CORTE_NO_OFFSET,
                           "%s says %s, but no source gives the UTC offset "
                           "(a CSV preamble or JSON \"ultimoCorte\" with "
                           "\"(UTC-5)\"; %lu source(s) seen)",
                           set->first.source,
                           ingest_corte_describe(&set->first, d, sizeof(d)),
                           set->sources);
    }

    c = &set->with_offset;
    off = c->utc_offset;

    (void) snprintf(res->id, sizeof(res->id), "%04d%02d%02d_%02d%02d",
                    c->year, c->month, c->day, c->hour, c->minute);
    (void) snprintf(res->text, sizeof(res->text), "%s", c->text);

    res->utc_offset = off;
    res->time = ingest_days_from_civil(c->year, c->month, c->day) * 86400
                + c->hour * 3600 + c->minute * 60 - off;
    res->sources = set->sources;

    if (off < 0) {
        off = -off;
    }

    /* the fields are validated; the wide buffer only quiets the
     * compiler's worst case */
    (void) snprintf(iso, sizeof(iso),
                    "%04d-%02d-%02dT%02d:%02d:00%c%02d:%02d",
                    c->year, c->month, c->day, c->hour, c->minute,
                    c->utc_offset < 0 ? '-' : '+',
                    (int) (off / 3600), (int) (off % 3600 / 60));
    (void) snprintf(res->iso8601, sizeof(res->iso8601), "%.25s", iso);

    return 0;
}


void
ingest_csv_head_init(ingest_csv_head_t *h)
{
    h->len = 0;
    h->lines = 0;
}


void
ingest_csv_head_feed(ingest_csv_head_t *h, const void *data, size_t len)
{
    size_t       n;
    const char  *p, *nl;

    p = data;

    while (len > 0 && !ingest_csv_head_full(h)) {
        n = INGEST_CSV_HEAD_MAX - h->len;
        if (n > len) {
            n = len;
        }

        nl = memchr(p, '\n', n);
        if (nl != NULL) {
            n = (size_t) (nl - p) + 1;
            h->lines++;
        }

        memcpy(h->buf + h->len, p, n);
        h->len += n;
        p += n;
        len -= n;
    }
}


int
ingest_csv_head_full(const ingest_csv_head_t *h)
{
    return h->lines >= INGEST_CSV_HEAD_LINES || h->len == INGEST_CSV_HEAD_MAX;
}


void
ingest_json_scan_init(ingest_json_scan_t *s, ingest_corte_set_t *set,
    const char *source)
{
    s->set = set;
    s->have = 0;
    (void) snprintf(s->source, sizeof(s->source), "%s", source);
}


/*
 * Looks for the key in the window.  A value cut by the window's end is
 * kept for the next round (unless final); otherwise only the last bytes
 * that could start the key are kept.
 */
static int
ingest_json_scan(ingest_json_scan_t *s, int final, ingest_err_t *err)
{
    int              rc;
    char            *k;
    size_t           pos, keep, used, after;
    ingest_corte_t   c;

    pos = 0;

    for ( ;; ) {
        k = memmem(s->win + pos, s->have - pos, INGEST_ULTIMO_KEY,
                   INGEST_ULTIMO_KEY_LEN);

        if (k == NULL) {
            keep = s->have - pos < INGEST_ULTIMO_KEY_LEN
                   ? pos : s->have - (INGEST_ULTIMO_KEY_LEN - 1);
            break;
        }

        after = (size_t) (k - s->win) + INGEST_ULTIMO_KEY_LEN;
        rc = ingest_corte_parse_ultimo(s->win + after, s->have - after,
                                       &used, &c);

        if (rc == -1 && !final) {
            keep = (size_t) (k - s->win);
            break;
        }

        if (rc == -2) {
            pos = after;
            continue;
        }

        if (rc == 1) {
            (void) snprintf(c.source, sizeof(c.source), "%s", s->source);

            if (ingest_corte_set_add(s->set, &c, err) != 0) {
                return -1;
            }

            pos = after + used;

        } else {
            ingest_corte_set_unreadable(s->set, s->source);
            pos = after;
        }
    }

    if (final) {
        keep = s->have;
    }

    memmove(s->win, s->win + keep, s->have - keep);
    s->have -= keep;

    return 0;
}


int
ingest_json_scan_feed(ingest_json_scan_t *s, const void *data, size_t len,
    ingest_err_t *err)
{
    size_t       n;
    const char  *p;

    p = data;

    while (len > 0) {
        n = sizeof(s->win) - s->have;
        if (n > len) {
            n = len;
        }

        memcpy(s->win + s->have, p, n);
        s->have += n;
        p += n;
        len -= n;

        if (s->have == sizeof(s->win)
            && ingest_json_scan(s, 0, err) != 0)
        {
            return -1;
        }
    }

    return 0;
}


int
ingest_json_scan_finish(ingest_json_scan_t *s, ingest_err_t *err)
{
    return ingest_json_scan(s, 1, err);
}
