/*
 * Copyright (C) the ngx_prep authors
 */


#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "package/ingest_limits.h"


void
ingest_limits_default(ingest_limits_t *lim)
{
    lim->max_entries = INGEST_DEFAULT_MAX_ENTRIES;
    lim->max_entry_size = INGEST_DEFAULT_MAX_ENTRY_SIZE;
    lim->max_total_size = INGEST_DEFAULT_MAX_TOTAL_SIZE;
    lim->max_ratio = INGEST_DEFAULT_MAX_RATIO;
}


static int
ingest_parse_u64(const char *s, uint64_t *out, const char **end)
{
    char                *e;
    unsigned long long   v;

    /* strtoull() accepts " -1" as a huge number: allow digits only */
    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }

    errno = 0;
    v = strtoull(s, &e, 10);

    if (errno != 0) {
        return -1;
    }

    *out = v;
    *end = e;

    return 0;
}


int
ingest_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    size_t       i;
    uint64_t     v;
    unsigned     shift;
    const char  *unit;

    static const struct {
        const char  *name;
        unsigned     shift;
    } units[] = {
        { "", 0 }, { "b", 0 },
        { "k", 10 }, { "kb", 10 }, { "kib", 10 },
        { "m", 20 }, { "mb", 20 }, { "mib", 20 },
        { "g", 30 }, { "gb", 30 }, { "gib", 30 },
        { "t", 40 }, { "tb", 40 }, { "tib", 40 }
    };

    if (ingest_parse_u64(s, &v, &unit) != 0) {
        return -1;
    }

    shift = 64;

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(unit, units[i].name) == 0) {
            shift = units[i].shift;
            break;
        }
    }

    if (shift == 64 || (shift > 0 && v > (UINT64_MAX >> shift))) {
        return -1;
    }

    v <<= shift;

    if (v < min || v > max) {
        return -1;
    }

    *out = v;

    return 0;
}


int
ingest_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t     v;
    const char  *end;

    if (ingest_parse_u64(s, &v, &end) != 0 || *end != '\0'
        || v < min || v > max)
    {
        return -1;
    }

    *out = v;

    return 0;
}


int
ingest_ratio_exceeded(const ingest_limits_t *lim, uint64_t total,
    uint64_t compressed)
{
    if (total <= INGEST_RATIO_FLOOR) {
        return 0;
    }

    /* total / compressed > ratio, without dividing or overflowing */
    return compressed == 0 || total / lim->max_ratio > compressed;
}
