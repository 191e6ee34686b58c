/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-stats-dump: a statistics state file (prep_stats_state, or the
 * bytes of ?format=state) decoded by libprep/prep_stats_file.c, as JSON
 * on stdout.  A tool for tests (the decoder prep-report uses), not
 * installed.
 *
 *   prep-stats-dump FILE
 *
 * Prints version, created, since, utc_offset, totals, the periods of
 * the three rings in id order (buckets with their serving flag and
 * corte), the HyperLogLog estimate of every day and hour set, the
 * publication's estimate, the number of rows and of sessions.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prep_hll.h"
#include "prep_stats_file.h"


static int
period_cmp(const void *a, const void *b)
{
    const prep_stats_period_t  *x = a, *y = b;

    return (x->id > y->id) - (x->id < y->id);
}


static void
dump_ring(const char *name, const prep_stats_period_t *ring, size_t n,
    int buckets)
{
    size_t                i, k;
    prep_stats_period_t  *sorted;

    sorted = malloc(n * sizeof(prep_stats_period_t));

    if (sorted == NULL) {
        fputs("prep-stats-dump: out of memory\n", stderr);
        exit(1);
    }

    for (i = 0, k = 0; i < n; i++) {
        if (ring[i].id) {
            sorted[k++] = ring[i];
        }
    }

    qsort(sorted, k, sizeof(prep_stats_period_t), period_cmp);

    printf(",\"%s\":[", name);

    for (i = 0; i < k; i++) {
        printf("%s{\"id\":%llu,\"hits\":%llu,\"pages\":%llu,\"bytes\":%llu,"
               "\"visitors\":%llu,\"visits\":%llu,\"bot_hits\":%llu,"
               "\"bot_bytes\":%llu,\"serving\":%s",
               i ? "," : "", (unsigned long long) sorted[i].id,
               (unsigned long long) sorted[i].hits,
               (unsigned long long) sorted[i].pages,
               (unsigned long long) sorted[i].bytes,
               (unsigned long long) sorted[i].visitors,
               (unsigned long long) sorted[i].visits,
               (unsigned long long) sorted[i].bot_hits,
               (unsigned long long) sorted[i].bot_bytes,
               (sorted[i].flags & PREP_STATS_SERVING) ? "true" : "false");

        /* corte ids are [0-9_A-Za-z-]: no escaping needed, but checked */
        if (buckets) {
            printf(",\"corte\":\"%s\"",
                   strspn(sorted[i].corte, "0123456789_-abcdefghijklmnopq"
                          "rstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
                   == strlen(sorted[i].corte) ? sorted[i].corte : "?");
        }

        putchar('}');
    }

    putchar(']');
    free(sorted);
}


int
main(int argc, char **argv)
{
    long           size;
    FILE          *f;
    char           err[256];
    size_t         i, n;
    uint8_t       *buf;
    prep_stats_t  *st;

    if (argc != 2 || strcmp(argv[1], "--help") == 0) {
        fputs("usage: prep-stats-dump FILE\n"
              "  prints the statistics state FILE, decoded, as JSON\n",
              argc == 2 ? stdout : stderr);
        return argc == 2 ? 0 : 2;
    }

    f = fopen(argv[1], "rb");

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        perror(argv[1]);
        return 1;
    }

    buf = malloc((size_t) size + 1);
    st = prep_stats_new();

    if (buf == NULL || st == NULL) {
        fputs("prep-stats-dump: out of memory\n", stderr);
        return 1;
    }

    n = fread(buf, 1, (size_t) size, f);
    fclose(f);

    if (prep_stats_decode(st, buf, n, err, sizeof(err)) != 0) {
        fprintf(stderr, "prep-stats-dump: %s: %s\n", argv[1], err);
        return 1;
    }

    printf("{\"version\":%u,\"created\":%lld,\"since\":%lld,"
           "\"utc_offset\":%lld,\"key_id\":%llu,\"totals\":{\"hits\":%llu,"
           "\"pages\":%llu,\"bytes\":%llu,\"visits\":%llu,"
           "\"sessions\":%llu,\"session_ms\":%llu,\"evictions\":%llu,"
           "\"bot_hits\":%llu,\"bot_bytes\":%llu",
           (unsigned) st->version, (long long) st->created,
           (long long) st->since, (long long) st->utc_offset,
           (unsigned long long) st->key_id,
           (unsigned long long) st->totals.hits,
           (unsigned long long) st->totals.pages,
           (unsigned long long) st->totals.bytes,
           (unsigned long long) st->totals.visits,
           (unsigned long long) st->totals.sessions,
           (unsigned long long) st->totals.session_ms,
           (unsigned long long) st->totals.evictions,
           (unsigned long long) st->totals.bot_hits,
           (unsigned long long) st->totals.bot_bytes);

    for (i = 0; i < PREP_STATS_HISTOGRAM; i++) {
        printf("%s%llu", i ? "," : ",\"histogram\":[",
               (unsigned long long) st->totals.histogram[i]);
    }

    printf("]}");

    dump_ring("buckets", st->buckets, PREP_STATS_BUCKETS, 1);
    dump_ring("hours", st->hours, PREP_STATS_HOURS, 0);
    dump_ring("days", st->days, PREP_STATS_DAYS, 0);

    /* the estimates of the sets themselves, by tag */
    printf(",\"hll_days\":{");

    for (i = 0, n = 0; i < PREP_STATS_DAYS; i++) {
        if (st->hll_day[i].tag) {
            printf("%s\"%llu\":%llu", n++ ? "," : "",
                   (unsigned long long) st->hll_day[i].tag,
                   (unsigned long long) prep_hll_count(
                       st->hll_day[i].registers, PREP_STATS_DAY_P));
        }
    }

    printf("},\"hll_hours\":{");

    for (i = 0, n = 0; i < PREP_STATS_HOURS; i++) {
        if (st->hll_hour[i].tag) {
            printf("%s\"%llu\":%llu", n++ ? "," : "",
                   (unsigned long long) st->hll_hour[i].tag,
                   (unsigned long long) prep_hll_count(
                       st->hll_hour[i].registers, PREP_STATS_HOUR_P));
        }
    }

    printf("},\"visitors_all\":%llu,\"rows\":%zu,\"sessions\":%zu,"
           "\"salts\":%d}\n",
           (unsigned long long) (st->hll_all.tag
                                 ? prep_hll_count(st->hll_all.registers,
                                                  PREP_STATS_ALL_P)
                                 : 0),
           st->nrows, st->nsessions,
           (st->salts[0].day != 0) + (st->salts[1].day != 0));

    prep_stats_free(st);
    free(buf);

    return 0;
}
