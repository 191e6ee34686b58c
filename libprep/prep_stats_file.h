/*
 * Copyright (C) the ngx_prep authors
 *
 * The decoded statistics model: one implementation of the sections of the
 * statistics state file (libprep/prep_state.h frames them), used by the
 * module to save and restore its zone and to answer ?format=state, and by
 * prep-report for every origin.  prep-report fills the same struct from
 * access logs, so logs and origins are one model and merge alike.
 *
 * The struct is plain memory (malloc'd by prep_stats_new()); rows and
 * sessions are growable arrays owned by it.  Periods live in rings
 * indexed by id % ring size, like the module's zone: a slot with id 0 is
 * unused.  Days are numbered in local time (utc_offset), buckets and
 * hours in UTC (see prep_count_*_id()).
 *
 * HyperLogLog precision: days and the whole publication use p = 14
 * (16 KB, 0.81% standard error); hours use p = 12 (4 KB, 1.6% standard
 * error), so that 256 hours take 1 MB instead of 4.
 *
 * Visitors of two origins add up exactly (register max) only when both
 * hashed a visitor with the same key: key_id names the key (derived from
 * the secret of prep_stats_visitor_key); 0 means a random key of this
 * origin alone.  prep_stats_merge() unions the registers anyway and sets
 * PREP_STATS_F_KEYS_DIFFER, and the report then says that visitors across
 * origins are an upper bound.
 *
 * State file version 2 (u32/u64 little-endian), version 1 is still read
 * (its absent fields are 0):
 *
 *   1 meta      since, saved at, day HLL p (14), bucket seconds (300),
 *               paths max; v2: utc offset (seconds, i64), hour HLL p (12),
 *               key id, flags
 *   2 counters  count, then u64: hits, pages, bytes, classes[6], visits,
 *               sessions, session ms, histogram[7], evictions, unlisted;
 *               v2: bot hits, bot bytes
 *   3 salts     count, then per key: day, 16 bytes
 *   4 hll       kind (0 hour, 1 day, 2 publication), tag, p, 2^p bytes
 *   5 periods   kind (0 buckets, 1 hours, 2 days), fields, count, then
 *               id, hits, pages, bytes, visitors, visits; v2: bot hits,
 *               bot bytes, flags (PREP_STATS_SERVING)
 *   6 rows      count, then hits, pages, bytes, path length, path
 *               (row 0, "other", has no path)
 *   7 sessions  count, then visitor, first, last (msec)
 *   8 cortes    v2: count, then bucket id, id length, corte id: the corte
 *               live at the end of that 5-minute bucket
 *
 * Unknown sections and trailing fields are skipped (a newer build of the
 * same version); a known section that is malformed refuses the file.
 */


#ifndef _PREP_STATS_FILE_H_INCLUDED_
#define _PREP_STATS_FILE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define PREP_STATS_VERSION        2

#define PREP_STATS_BUCKET_SEC     300
#define PREP_STATS_BUCKETS        3072     /* 10 2/3 days */
#define PREP_STATS_HOURS          256      /* 10 2/3 days */
#define PREP_STATS_DAYS           64

#define PREP_STATS_CLASSES        6        /* 1xx .. 5xx, other */
#define PREP_STATS_HISTOGRAM      7        /* prep_count's bins */

#define PREP_STATS_DAY_P          14
#define PREP_STATS_HOUR_P         12
#define PREP_STATS_ALL_P          14

#define PREP_STATS_CORTE_LEN      32       /* PREP_SNAP_ID_LEN */
#define PREP_STATS_MAX_PATH       4096
#define PREP_STATS_MAX_ROWS       (16 * 1024 * 1024)
#define PREP_STATS_MAX_SESSIONS   (64 * 1024 * 1024)

/* prep_stats_period_t.flags */
#define PREP_STATS_SERVING        0x1      /* nginx served in this bucket */

/* prep_stats_t.flags */
#define PREP_STATS_F_KEYS_DIFFER  0x1      /* merged HLLs of other keys */
#define PREP_STATS_F_INEXACT      0x2      /* some visitors were summed */


/* the file's section types */
#define PREP_STATS_SEC_META       1
#define PREP_STATS_SEC_COUNTERS   2
#define PREP_STATS_SEC_SALTS      3
#define PREP_STATS_SEC_HLL        4
#define PREP_STATS_SEC_PERIODS    5
#define PREP_STATS_SEC_ROWS       6
#define PREP_STATS_SEC_SESSIONS   7
#define PREP_STATS_SEC_CORTES     8

#define PREP_STATS_HLL_HOUR       0
#define PREP_STATS_HLL_DAY        1
#define PREP_STATS_HLL_ALL        2

#define PREP_STATS_RING_BUCKETS   0
#define PREP_STATS_RING_HOURS     1
#define PREP_STATS_RING_DAYS      2


typedef struct {
    uint64_t        hits;
    uint64_t        pages;
    uint64_t        bytes;
    uint64_t        classes[PREP_STATS_CLASSES];

    uint64_t        visits;            /* sessions started */
    uint64_t        sessions;          /* sessions ended */
    uint64_t        session_ms;        /* of the ended sessions */
    uint64_t        histogram[PREP_STATS_HISTOGRAM];
    uint64_t        evictions;         /* sessions ended by a full table */
    uint64_t        unlisted;          /* hits that found no free row */

    uint64_t        bot_hits;          /* never pages, visitors, visits */
    uint64_t        bot_bytes;
} prep_stats_totals_t;


/* a 5-minute bucket, an hour or a day; id 0: unused */
typedef struct {
    uint64_t        id;                /* time / length; days local */
    uint64_t        hits;
    uint64_t        pages;
    uint64_t        bytes;
    uint64_t        visitors;          /* estimate */
    uint64_t        visits;
    uint64_t        bot_hits;
    uint64_t        bot_bytes;
    uint32_t        flags;             /* PREP_STATS_SERVING */

    /* buckets only: the corte live at the bucket's end, "" if none */
    char            corte[PREP_STATS_CORTE_LEN + 1];
} prep_stats_period_t;


/* HyperLogLog registers; tag is the hour or day id, 0 when unused */
typedef struct {
    uint64_t        tag;
    uint8_t         registers[1 << PREP_STATS_DAY_P];
} prep_stats_hll_t;

typedef struct {
    uint64_t        tag;
    uint8_t         registers[1 << PREP_STATS_HOUR_P];
} prep_stats_hll_hour_t;


typedef struct {
    uint64_t        hits;
    uint64_t        pages;
    uint64_t        bytes;
    uint32_t        path_len;          /* 0: "other" */
    char           *path;              /* owned, NUL terminated */
} prep_stats_row_t;


typedef struct {
    uint64_t        visitor;
    uint64_t        first;             /* msec */
    uint64_t        last;
} prep_stats_session_t;


/* the module's visitor hash key of one local day */
typedef struct {
    uint64_t        day;
    uint8_t         key[16];
} prep_stats_salt_t;


struct prep_stats_s {
    uint32_t        version;           /* of the file decoded, else 2 */
    int64_t         created;           /* unix time the file was written */
    int64_t         since;             /* counting began */
    int64_t         utc_offset;        /* seconds east of UTC, for days */
    uint64_t        key_id;            /* visitor key; 0: random, own */
    uint64_t        paths_max;
    uint32_t        flags;             /* PREP_STATS_F_* */
    uint32_t        origins;           /* files merged in; 1 decoded */

    prep_stats_totals_t     totals;

    prep_stats_period_t     buckets[PREP_STATS_BUCKETS];
    prep_stats_period_t     hours[PREP_STATS_HOURS];
    prep_stats_period_t     days[PREP_STATS_DAYS];

    prep_stats_hll_t        hll_day[PREP_STATS_DAYS];     /* tag % 64 */
    prep_stats_hll_hour_t   hll_hour[PREP_STATS_HOURS];   /* tag % 256 */
    prep_stats_hll_t        hll_all;                      /* tag 1 */

    prep_stats_salt_t       salts[2];  /* by day & 1; never merged */

    prep_stats_row_t       *rows;      /* rows[0] is "other" if nrows */
    size_t                  nrows;
    size_t                  rows_cap;
    uint32_t               *row_index; /* open addressing, by path */
    size_t                  index_cap;

    prep_stats_session_t   *sessions;
    size_t                  nsessions;
    size_t                  sessions_cap;
};

typedef struct prep_stats_s  prep_stats_t;


prep_stats_t *prep_stats_new(void);                 /* zeroed, malloc'd */
void prep_stats_free(prep_stats_t *st);

/*
 * Decodes a whole state file (version 1 or 2) into st, which should be
 * fresh from prep_stats_new().  0, or -1 with a one-line reason in err;
 * st is then to be freed, not used.  Never reads outside buf.
 */
int prep_stats_decode(prep_stats_t *st, const void *buf, size_t len,
    char *err, size_t errlen);

/* an upper bound of the bytes prep_stats_encode() writes */
size_t prep_stats_encoded_size(const prep_stats_t *st);

/* the file's length in buf, 0 when size is too small; version 2 */
size_t prep_stats_encode(const prep_stats_t *st, void *buf, size_t size);

/*
 * Adds from into into: totals, periods of the same id and rows of the
 * same path summed, HLLs of the same tag unioned (register max) and the
 * visitors of those periods estimated from the union, sessions appended.
 * A period newer than into's slot replaces it, an older one is dropped.
 * Sets PREP_STATS_F_KEYS_DIFFER when the key ids differ (or are 0) and
 * both sides held data.  0, or -1 when out of memory.
 */
int prep_stats_merge(prep_stats_t *into, const prep_stats_t *from);


/* helpers for fillers (the module, access logs) */

/* the row of path (len 0: "other"), created with zero counts; NULL: ENOMEM */
prep_stats_row_t *prep_stats_row(prep_stats_t *st, const char *path,
    size_t len);

int prep_stats_add_session(prep_stats_t *st, uint64_t visitor,
    uint64_t first, uint64_t last);

/* the ring slot of a period id, reset when it held an older id; NULL
 * when it holds a newer one (the id is older than the ring reaches) */
prep_stats_period_t *prep_stats_period(prep_stats_period_t *ring, size_t n,
    uint64_t id);

#define prep_stats_bucket(st, id)                                            \
    prep_stats_period((st)->buckets, PREP_STATS_BUCKETS, id)
#define prep_stats_hour(st, id)                                              \
    prep_stats_period((st)->hours, PREP_STATS_HOURS, id)
#define prep_stats_day(st, id)                                               \
    prep_stats_period((st)->days, PREP_STATS_DAYS, id)

/* the registers of a day or hour id (reset when older; NULL when the
 * slot holds a newer one), p as above */
uint8_t *prep_stats_day_hll(prep_stats_t *st, uint64_t day);
uint8_t *prep_stats_hour_hll(prep_stats_t *st, uint64_t hour);


#endif /* _PREP_STATS_FILE_H_INCLUDED_ */
