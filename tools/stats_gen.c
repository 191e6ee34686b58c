/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-stats-gen: writes a synthetic but consistent origin for
 * prep-report's tests and bench/report.sh: a statistics state file
 * (through libprep's prep_stats_encode(), the module's own format) and
 * the events.jsonl of the cortes it published.  Traffic follows the
 * day (quiet at night, a peak in the evening), visitors come from a
 * daily pool so that two origins given overlapping --visitor-base
 * share visitors, paths follow a Zipf law.  Deterministic for a seed.
 *
 * Not installed: a test and benchmark tool, like prep-logs-dump.
 */


#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prep_count.h"
#include "prep_hll.h"
#include "prep_stats_file.h"


#define GEN_MAX_RANGES  16


typedef struct {
    int64_t     from;
    int64_t     to;
} gen_range_t;


typedef struct {
    const char   *out;
    const char   *events;
    int64_t       start;
    int           days;
    int64_t       utc_offset;
    long          paths;
    long          visitors;
    long          visitor_base;
    long          rate;
    uint64_t      key_id;
    uint64_t      seed;
    int64_t       corte_every;
    gen_range_t   down[GEN_MAX_RANGES];
    int           ndown;
    gen_range_t   skip[GEN_MAX_RANGES];
    int           nskip;
} gen_opts_t;


static uint64_t
gen_mix(uint64_t x)
{
    /* splitmix64's finalizer: a good 64-bit hash of a counter */
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}


static uint64_t
gen_rand(uint64_t *s)
{
    *s += 1;
    return gen_mix(*s);
}


static int
gen_in(const gen_range_t *r, int n, int64_t t)
{
    int  i;

    for (i = 0; i < n; i++) {
        if (t >= r[i].from && t < r[i].to) {
            return 1;
        }
    }

    return 0;
}


static int
gen_range(const char *arg, gen_range_t *r)
{
    char  *end;

    r->from = strtoll(arg, &end, 10);
    if (*end != ':') {
        return -1;
    }
    r->to = strtoll(end + 1, &end, 10);
    return (*end != '\0' || r->to <= r->from) ? -1 : 0;
}


/* local time of t as "YYYYMMDD_HHMM" or ISO 8601 with the offset */
static void
gen_local(int64_t t, int64_t off, int iso, char *buf, size_t size)
{
    time_t     lt;
    struct tm  tm;
    long       m;

    lt = (time_t) (t + off);
    gmtime_r(&lt, &tm);

    if (!iso) {
        strftime(buf, size, "%Y%m%d_%H%M", &tm);
        return;
    }

    m = (long) (off < 0 ? -off : off) / 60;
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', m / 60, m % 60);
}


static void
gen_utc(int64_t ms, char *buf, size_t size)
{
    time_t     t;
    struct tm  tm;

    t = (time_t) (ms / 1000);
    gmtime_r(&t, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int) (ms % 1000));
}


static int
gen_events(const gen_opts_t *o, prep_stats_t *st)
{
    FILE     *f;
    int64_t   c, end, delay, ms;
    uint64_t  rs;
    char      id[64], iso[96], when[96], arrival[96];
    size_t    i;
    int64_t   b;

    f = fopen(o->events, "w");
    if (f == NULL) {
        fprintf(stderr, "prep-stats-gen: %s: %s\n", o->events,
                strerror(errno));
        return -1;
    }

    rs = o->seed * 7919 + 1;
    end = o->start + (int64_t) o->days * 86400;

    gen_utc((o->start - 600) * 1000, when, sizeof(when));
    fprintf(f, "{\"time\":\"%s\",\"event\":\"start\",\"level\":\"info\","
            "\"pid\":100,\"version\":\"0.1.0\",\"cleaned_staging\":0,"
            "\"cleaned_tmp\":0,\"msg\":\"watch started\"}\n", when);

    for (c = o->start; c < end; c += o->corte_every) {
        if (gen_in(o->skip, o->nskip, c)) {
            continue;
        }

        delay = 30 + (int64_t) (gen_rand(&rs) % 150);
        ms = (c + delay) * 1000 + (int64_t) (gen_rand(&rs) % 1000);
        gen_local(c, o->utc_offset, 0, id, sizeof(id));
        gen_local(c, o->utc_offset, 1, iso, sizeof(iso));
        gen_utc(ms, when, sizeof(when));
        gen_utc(ms - 4000, arrival, sizeof(arrival));

        fprintf(f, "{\"time\":\"%s\",\"event\":\"published\",\"level\":"
                "\"info\",\"pid\":100,\"file\":\"PREP_%s.tgz\","
                "\"corte_id\":\"%s\",\"corte\":\"%s\",\"snapshot\":"
                "\"%s-0\",\"live\":true,\"arrival\":\"%s\","
                "\"latency_s\":4.0,\"msg\":\"published\"}\n",
                when, id, id, iso, id, arrival);

        /* the buckets from this corte's live time on show it */
        for (b = (c + delay) / PREP_STATS_BUCKET_SEC;
             b < end / PREP_STATS_BUCKET_SEC; b++)
        {
            i = (size_t) b % PREP_STATS_BUCKETS;
            if (st->buckets[i].id == (uint64_t) b) {
                memcpy(st->buckets[i].corte, id, 13);   /* YYYYMMDD_HHMM */
                st->buckets[i].corte[13] = '\0';
            }
        }
    }

    if (fclose(f) != 0) {
        fprintf(stderr, "prep-stats-gen: %s: %s\n", o->events,
                strerror(errno));
        return -1;
    }

    return 0;
}


static void
gen_add(prep_stats_period_t *p, uint64_t hits, uint64_t pages,
    uint64_t bytes, uint64_t visits, uint64_t bots)
{
    p->hits += hits;
    p->pages += pages;
    p->bytes += bytes;
    p->visits += visits;
    p->bot_hits += bots;
    p->bot_bytes += bots * 900;
}


static int
gen_rows(const gen_opts_t *o, prep_stats_t *st)
{
    long               i;
    double             w, wp, wa, *weight;
    uint64_t           left_h, left_p, h, pg;
    char               path[128];
    prep_stats_row_t  *row;

    weight = malloc(sizeof(double) * (size_t) o->paths);
    if (weight == NULL || prep_stats_row(st, "", 0) == NULL) {
        free(weight);
        return -1;
    }

    wp = 0;
    wa = 0;
    for (i = 0; i < o->paths; i++) {
        weight[i] = 1.0 / pow((double) i + 1, 0.9);
        if (i % 10 == 0) {
            wp += weight[i];
        } else {
            wa += weight[i];
        }
    }

    /* pages are the .html rows, the rest of the hits the data files */
    left_p = st->totals.pages;
    left_h = st->totals.hits - st->totals.pages;

    for (i = 0; i < o->paths; i++) {
        w = weight[i];

        if (i % 10 == 0) {
            snprintf(path, sizeof(path), "/entidad/%05ld/index.html", i);
            pg = (uint64_t) ((double) st->totals.pages * w / wp);
            pg = pg > left_p ? left_p : pg;
            h = pg;
            left_p -= pg;
        } else {
            snprintf(path, sizeof(path),
                     "/assets/entidad/%05ld/avance.json", i);
            h = (uint64_t) ((double) (st->totals.hits - st->totals.pages)
                            * w / wa);
            h = h > left_h ? left_h : h;
            pg = 0;
            left_h -= h;
        }

        row = prep_stats_row(st, path, strlen(path));
        if (row == NULL) {
            free(weight);
            return -1;
        }
        row->hits = h;
        row->pages = pg;
        row->bytes = h * 1800;
    }

    /* the rounding's remainder: the top page and the top data file */
    st->rows[1].hits += left_p;
    st->rows[1].pages += left_p;
    st->rows[1].bytes += left_p * 1800;
    if (st->nrows > 2) {
        st->rows[2].hits += left_h;
        st->rows[2].bytes += left_h * 1800;
    }

    free(weight);
    return 0;
}


static int
gen_traffic(const gen_opts_t *o, prep_stats_t *st)
{
    int64_t               t, end, local_h;
    uint64_t              rs, hits, pages, visits, bots, nvis, j, id, day;
    uint64_t              hour;
    double                shape;
    size_t                i;
    uint8_t              *dregs, *hregs;
    prep_stats_period_t  *b, *h, *d;

    static const double  by_hour[24] = {
        0.2, 0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0,
        1.0, 1.0, 0.9, 0.9, 1.0, 1.1, 1.3, 1.6, 2.0, 2.2, 1.4, 0.6
    };

    rs = o->seed;
    end = o->start + (int64_t) o->days * 86400;

    for (t = o->start; t < end; t += PREP_STATS_BUCKET_SEC) {
        b = prep_stats_bucket(st, (uint64_t) t / PREP_STATS_BUCKET_SEC);
        h = prep_stats_hour(st, (uint64_t) t / 3600);
        day = prep_count_day_id(t, o->utc_offset / 60);
        d = prep_stats_day(st, day);

        if (b == NULL || h == NULL || d == NULL) {
            fprintf(stderr, "prep-stats-gen: more than the rings hold\n");
            return -1;
        }

        if (gen_in(o->down, o->ndown, t)) {
            continue;                       /* not serving, nothing */
        }

        b->flags |= PREP_STATS_SERVING;

        local_h = ((t + o->utc_offset) % 86400 + 86400) % 86400 / 3600;
        shape = by_hour[local_h] * (0.8 + (double) (gen_rand(&rs) % 400)
                                          / 1000.0);
        hits = (uint64_t) ((double) o->rate * shape) + 1;
        pages = hits * 3 / 10;
        visits = hits / 20;
        bots = hits / 50;

        gen_add(b, hits, pages, hits * 1800, visits, bots);
        gen_add(h, hits, pages, hits * 1800, visits, bots);
        gen_add(d, hits, pages, hits * 1800, visits, bots);

        /* one visitor sample every 8 hits, from the day's pool */
        nvis = hits / 8 + 1;
        b->visitors = nvis;
        dregs = prep_stats_day_hll(st, day);
        hour = (uint64_t) t / 3600;
        hregs = prep_stats_hour_hll(st, hour);

        for (j = 0; j < nvis; j++) {
            id = gen_mix(day * 0x100000001ULL
                         + (uint64_t) o->visitor_base
                         + gen_rand(&rs) % (uint64_t) o->visitors);
            if (dregs) {
                prep_hll_add(dregs, PREP_STATS_DAY_P, id);
            }
            if (hregs) {
                prep_hll_add(hregs, PREP_STATS_HOUR_P, id);
            }
            prep_hll_add(st->hll_all.registers, PREP_STATS_ALL_P, id);
        }

        st->totals.hits += hits;
        st->totals.pages += pages;
        st->totals.bytes += hits * 1800;
        st->totals.visits += visits;
        st->totals.bot_hits += bots;
        st->totals.bot_bytes += bots * 900;
    }

    st->hll_all.tag = 1;

    /* the estimates from the registers, as the module keeps them */
    for (i = 0; i < PREP_STATS_HOURS; i++) {
        if (st->hours[i].id && st->hll_hour[i].tag == st->hours[i].id) {
            st->hours[i].visitors = prep_hll_count(
                st->hll_hour[i].registers, PREP_STATS_HOUR_P);
        }
    }
    for (i = 0; i < PREP_STATS_DAYS; i++) {
        if (st->days[i].id && st->hll_day[i].tag == st->days[i].id) {
            st->days[i].visitors = prep_hll_count(
                st->hll_day[i].registers, PREP_STATS_DAY_P);
        }
    }

    /* status classes, visits ended and their lengths */
    st->totals.classes[1] = st->totals.hits * 96 / 100;
    st->totals.classes[2] = st->totals.hits * 3 / 100;
    st->totals.classes[3] = st->totals.hits
                            - st->totals.classes[1] - st->totals.classes[2];
    st->totals.sessions = st->totals.visits;
    st->totals.histogram[0] = st->totals.visits * 30 / 100;
    st->totals.histogram[1] = st->totals.visits * 20 / 100;
    st->totals.histogram[2] = st->totals.visits * 15 / 100;
    st->totals.histogram[3] = st->totals.visits * 15 / 100;
    st->totals.histogram[4] = st->totals.visits * 12 / 100;
    st->totals.histogram[5] = st->totals.visits * 5 / 100;
    st->totals.histogram[6] = st->totals.visits
        - st->totals.histogram[0] - st->totals.histogram[1]
        - st->totals.histogram[2] - st->totals.histogram[3]
        - st->totals.histogram[4] - st->totals.histogram[5];
    st->totals.session_ms = st->totals.visits * 95000;

    return 0;
}


static void
gen_usage(FILE *f)
{
    fprintf(f,
        "Usage: prep-stats-gen --out STATE --events EVENTS --start UNIX\n"
        "           [--days N] [--utc-offset SEC] [--paths N]\n"
        "           [--visitors N] [--visitor-base N] [--rate HITS]\n"
        "           [--key-id N] [--seed N] [--corte-every SEC]\n"
        "           [--down FROM:TO]... [--skip FROM:TO]...\n"
        "\n"
        "Writes a synthetic origin for prep-report's tests and benchmark:\n"
        "STATE, a statistics state file in the module's format (libprep's\n"
        "prep_stats_encode), and EVENTS, the events.jsonl of its cortes.\n"
        "\n"
        "  --start UNIX       first second, UTC (a multiple of 300)\n"
        "  --days N           days of traffic (default 7, at most 10)\n"
        "  --utc-offset SEC   the local offset of days and cortes\n"
        "                     (default -21600, Mexico City)\n"
        "  --paths N          paths with hits (default 1000)\n"
        "  --visitors N       the daily pool of visitors (default 5000)\n"
        "  --visitor-base N   where this origin's pool starts: two\n"
        "                     origins share the pools' overlap\n"
        "  --rate HITS        mean hits per 5-minute bucket (default 300)\n"
        "  --key-id N         the visitor key id (default 1: shared)\n"
        "  --corte-every SEC  the cortes' period (default 900)\n"
        "  --down FROM:TO     nginx not serving (unix seconds)\n"
        "  --skip FROM:TO     cortes of that time never published\n"
        "\n"
        "Exit status: 0 written, 1 failure, 2 usage.\n");
}


int
main(int argc, char **argv)
{
    int            i;
    size_t         size, len;
    void          *buf;
    FILE          *f;
    gen_opts_t     o;
    prep_stats_t  *st;

    memset(&o, 0, sizeof(o));
    o.days = 7;
    o.utc_offset = -21600;
    o.paths = 1000;
    o.visitors = 5000;
    o.rate = 300;
    o.key_id = 1;
    o.seed = 1;
    o.corte_every = 900;

    for (i = 1; i < argc; i++) {
        const char  *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0) {
            gen_usage(stdout);
            return 0;
        }
        if (v == NULL) {
            gen_usage(stderr);
            return 2;
        }
        i++;

        if (strcmp(a, "--out") == 0) {
            o.out = v;
        } else if (strcmp(a, "--events") == 0) {
            o.events = v;
        } else if (strcmp(a, "--start") == 0) {
            o.start = strtoll(v, NULL, 10);
        } else if (strcmp(a, "--days") == 0) {
            o.days = atoi(v);
        } else if (strcmp(a, "--utc-offset") == 0) {
            o.utc_offset = strtoll(v, NULL, 10);
        } else if (strcmp(a, "--paths") == 0) {
            o.paths = atol(v);
        } else if (strcmp(a, "--visitors") == 0) {
            o.visitors = atol(v);
        } else if (strcmp(a, "--visitor-base") == 0) {
            o.visitor_base = atol(v);
        } else if (strcmp(a, "--rate") == 0) {
            o.rate = atol(v);
        } else if (strcmp(a, "--key-id") == 0) {
            o.key_id = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--seed") == 0) {
            o.seed = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--corte-every") == 0) {
            o.corte_every = strtoll(v, NULL, 10);
        } else if (strcmp(a, "--down") == 0 && o.ndown < GEN_MAX_RANGES
                   && gen_range(v, &o.down[o.ndown]) == 0)
        {
            o.ndown++;
        } else if (strcmp(a, "--skip") == 0 && o.nskip < GEN_MAX_RANGES
                   && gen_range(v, &o.skip[o.nskip]) == 0)
        {
            o.nskip++;
        } else {
            fprintf(stderr, "prep-stats-gen: bad option %s %s\n", a, v);
            return 2;
        }
    }

    if (o.out == NULL || o.events == NULL || o.start <= 0
        || o.start % PREP_STATS_BUCKET_SEC || o.days < 1 || o.days > 10
        || o.paths < 1 || o.visitors < 1 || o.rate < 1
        || o.corte_every < 60)
    {
        gen_usage(stderr);
        return 2;
    }

    st = prep_stats_new();
    if (st == NULL) {
        return 1;
    }

    st->since = o.start;
    st->created = o.start + (int64_t) o.days * 86400;
    st->utc_offset = o.utc_offset;
    st->key_id = o.key_id;
    st->paths_max = (uint64_t) o.paths + 1;
    st->origins = 1;

    if (gen_traffic(&o, st) != 0 || gen_rows(&o, st) != 0
        || gen_events(&o, st) != 0)
    {
        prep_stats_free(st);
        return 1;
    }

    size = prep_stats_encoded_size(st);
    buf = malloc(size);
    len = buf ? prep_stats_encode(st, buf, size) : 0;

    if (len == 0) {
        fprintf(stderr, "prep-stats-gen: cannot encode\n");
        free(buf);
        prep_stats_free(st);
        return 1;
    }

    f = fopen(o.out, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "prep-stats-gen: %s: %s\n", o.out, strerror(errno));
        free(buf);
        prep_stats_free(st);
        return 1;
    }

    free(buf);
    prep_stats_free(st);
    return 0;
}
