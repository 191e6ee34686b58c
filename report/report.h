/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-report: the memoria técnica from the origins' statistics state
 * (files or a live ?format=state), their events.jsonl and, optionally,
 * CDN or nginx access logs.  The types every part shares: the options,
 * the report's model (one set of series, rows and totals, whatever the
 * sources), the events, the cortes and the incidents.
 *
 * Flow: cli -> inputs (origin.c, events.c, logs) -> model (model.c)
 * -> analyses (cortes.c, incidents.c) -> renderers (html, csv, json)
 * -> pdf.  Every figure carries the name of its source.
 */


#ifndef _RPT_REPORT_H_INCLUDED_
#define _RPT_REPORT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"


#define RPT_MAX_STATS        64
#define RPT_MAX_EVENTS       64
#define RPT_MAX_LOGS         256
#define RPT_MAX_WARNINGS     256
#define RPT_HISTOGRAM        7
#define RPT_CLASSES          6
#define RPT_BUCKET_SEC       300
#define RPT_CORTE_PERIOD     900        /* the call: every 15 minutes */
#define RPT_INTERRUPT_MISSED 3          /* the call's interruption rule */
#define RPT_TOP_PATHS        100

/* one input file or URL is read into memory up to this size */
#define RPT_INPUT_MAX        ((size_t) 512 * 1024 * 1024)
#define RPT_EVENT_LINE_MAX   (64 * 1024)


typedef struct {
    const char  *stats[RPT_MAX_STATS];
    int          nstats;
    const char  *events[RPT_MAX_EVENTS];
    int          nevents;
    const char  *logs[RPT_MAX_LOGS];     /* FORMAT:PATH, for logs.c */
    int          nlogs;
    const char  *json_fields;
    const char  *snapshot;               /* types of paths, for logs */
    const char  *bots;                   /* more (or other) bot tokens */
    int          bots_replace;
    const char  *difusor;
    const char  *notes;
    const char  *out;
    const char  *chromium;               /* the PDF renderer */
    int          pdf;
    int          have_from, have_to, have_tz, have_pub_end;
    int64_t      from, to;               /* unix seconds, [from, to) */
    int64_t      pub_end;                /* end of the publication window */
    int          tz;                     /* minutes east of UTC */
    long         timeout;                /* URL timeout, seconds */
    int          insecure;               /* --insecure: no TLS checks */
    double       capacity;               /* measured requests/s, or 0 */
} rpt_opts_t;


/* where a figure comes from */
typedef enum {
    RPT_SRC_STATE = 0,                   /* a state file */
    RPT_SRC_URL,                         /* an origin's ?format=state */
    RPT_SRC_LOG,                         /* access logs (logs.c) */
    RPT_SRC_EVENTS,                      /* an events.jsonl */
    RPT_SRC_FILE                         /* a snapshot or bot list, logs */
} rpt_src_kind_e;


typedef struct {
    rpt_src_kind_e  kind;
    char            input[4096];         /* path or URL as given */
    char            name[256];           /* the origin's name */
    char            sha256[65];          /* of the bytes read */
    uint64_t        size;
    int64_t         created;             /* the state's save time */
    int64_t         since;
    int             gmtoff;              /* minutes, of its days */
    uint64_t        visitor_key_id;
    uint32_t        version;
    int             traffic;             /* its figures are the traffic */

    uint64_t        hits, pages, bytes, visits, bot_hits, visitors;
    uint64_t        buckets_known, buckets_serving;  /* in the window */
    int             marks;               /* its state marks serving */
    void           *state;               /* its decoded prep_stats_t */
} rpt_source_t;


typedef struct {
    int64_t         start;               /* unix seconds */
    uint64_t        hits;
    uint64_t        pages;
    uint64_t        bytes;
    uint64_t        visits;
    uint64_t        bot_hits;
    uint64_t        bot_bytes;
    uint64_t        visitors;            /* merged estimate */
    uint8_t        *hll;                 /* merged registers, or NULL */
    unsigned        hll_p;
    int             hll_mixed;           /* registers could not merge */
    uint64_t        visitors_max;        /* largest origin's estimate */

    /* 5-minute buckets: origins known, serving; the corte live at end */
    uint16_t        known;
    uint16_t        serving;
    char            corte_id[16];
} rpt_period_t;


typedef struct {
    int64_t         base;                /* start of period 0 */
    int64_t         step;                /* seconds; days: 86400 */
    size_t          n;
    rpt_period_t   *p;
} rpt_series_t;


typedef struct {
    char           *path;
    uint64_t        hits;
    uint64_t        pages;
    uint64_t        bytes;
} rpt_row_t;


/* one line of an events.jsonl, the fields the report reads */
typedef struct {
    int64_t         ms;                  /* its time, unix ms */
    char            event[32];
    char            level[16];
    int             source;              /* index of its events file */
    long            line;
    char           *json;                /* the whole line, for the rest */
    size_t          len;
} rpt_event_t;


typedef struct {
    char            corte_id[32];
    int64_t         corte;               /* corte time, unix seconds */
    int             corte_off;           /* its UTC offset, minutes */
    int64_t         arrival_ms;          /* last byte, or 0 */
    int64_t         live_ms;             /* published, or 0 */
    int             live;                /* 1 confirmed, 0 not, -1 n/a */
    double          latency_s;           /* arrival to live */
    char            file[256];
    int             origins;             /* published on so many */
} rpt_corte_t;


typedef struct {
    int64_t         slot;                /* expected corte time */
    int             run;                 /* consecutive missed so far */
} rpt_missed_t;


typedef enum {
    RPT_INC_REJECTED = 0,
    RPT_INC_STALE,
    RPT_INC_PURGE,
    RPT_INC_ROLLBACK,
    RPT_INC_RESTART,
    RPT_INC_DOWNTIME,
    RPT_INC_SUSPENSION,
    RPT_INC_RELOAD,
    RPT_INC_INTERRUPTION,
    RPT_INC_OTHER
} rpt_inc_kind_e;


typedef struct {
    rpt_inc_kind_e  kind;
    int64_t         start;               /* unix ms */
    int64_t         end;                 /* unix ms, 0 while open */
    int             affected;            /* publication affected */
    char            origin[256];
    char            what[512];           /* in Spanish */
    char            detail[1024];        /* reasons, files, messages */
} rpt_incident_t;


typedef struct {
    rpt_opts_t      *opts;
    char             version[64];

    rpt_source_t     sources[RPT_MAX_STATS + RPT_MAX_EVENTS + 1];
    int              nsources;
    int              have_logs;          /* traffic from access logs */
    char             bots_name[256];

    /* the window reported: [from, to) unix seconds, and tz minutes */
    int64_t          from, to;
    int              tz;
    int              days_gmtoff;        /* of the origins' day series */

    /* traffic */
    uint64_t         hits, pages, bytes, visits, sessions, session_ms;
    uint64_t         classes[RPT_CLASSES];
    uint64_t         histogram[RPT_HISTOGRAM];
    uint64_t         bot_hits, bot_bytes, evictions, unlisted;
    uint64_t         visitors;           /* whole publication, HLL */
    uint64_t         visitors_days_sum;  /* shown only as a check */
    double           visitors_error;     /* relative standard error */
    uint64_t         peak_bucket_hits;
    int64_t          peak_bucket_start;
    int64_t          data_first, data_last;
    double           cache_hit_ratio;    /* -1 unknown */
    double           origin_share;       /* -1 unknown */
    uint64_t         origin_hits;        /* the origins' own hits */

    rpt_series_t     buckets, hours, days;

    rpt_row_t       *rows;
    size_t           nrows;

    /* availability from the buckets */
    uint64_t         buckets_known, buckets_serving;

    rpt_event_t     *events;
    size_t           nevents;
    size_t           events_cap;
    rpt_corte_t     *cortes;
    size_t           ncortes;
    rpt_missed_t    *missed;
    size_t           nmissed;
    int              max_missed_run;
    int64_t          pub_start, pub_end;
    rpt_incident_t  *incidents;
    size_t           nincidents;

    char            *warnings[RPT_MAX_WARNINGS];
    int              nwarnings;
    int              warnings_dropped;

    char            *difusor_json;       /* the file's text, or NULL */
    size_t           difusor_len;
    char            *notes;
} rpt_t;


/* cli.c */
int rpt_cli_parse(rpt_opts_t *o, int argc, char **argv);
void rpt_cli_usage(void);

/* time helpers (time.c) */
int rpt_parse_iso(const char *s, int64_t *t, int *off);
int rpt_parse_offset(const char *s, int *minutes);
void rpt_fmt_time(char *dst, size_t size, int64_t t, int tz);
void rpt_fmt_day(char *dst, size_t size, int64_t t, int tz);
void rpt_fmt_iso(char *dst, size_t size, int64_t t, int tz);

/* warnings: shown in the methodology, never dropped silently */
void rpt_warn(rpt_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* input.c: a file or URL into memory, with its SHA-256 */
int rpt_read_input(const char *input, long timeout, int insecure,
    char **data, size_t *len, char sha256[65], char *err, size_t errlen);

/* origin.c: a state read and decoded (load), named, then into the model */
int rpt_origin_load(rpt_t *r, const char *input, char *err, size_t errlen);
void rpt_origin_free(rpt_t *r);
void rpt_origin_names(rpt_t *r);
void rpt_origin_meta(rpt_t *r, rpt_source_t *s);
int rpt_origin_fill(rpt_t *r);
void rpt_origin_span(rpt_t *r, rpt_source_t *s, int64_t *first,
    int64_t *last);
int rpt_origin_served(rpt_source_t *s, int64_t t);

/* downtime.c: the buckets an origin did not serve, as incidents */
int rpt_downtime(rpt_t *r);

/* logs_hook.c: access logs, the same two steps (issue 10) */
int rpt_logs_load(rpt_t *r, char *err, size_t errlen);
int rpt_logs_fill(rpt_t *r, char *err, size_t errlen);
void rpt_logs_release(void);

/* events.c */
int rpt_events_add(rpt_t *r, const char *path, char *err, size_t errlen);
int rpt_event_str(const rpt_event_t *e, const char *field, char *buf,
    size_t size);
int rpt_event_num(const rpt_event_t *e, const char *field, double *v);
int rpt_event_bool(const rpt_event_t *e, const char *field);

/* model.c */
int rpt_model_init(rpt_t *r);
rpt_period_t *rpt_series_at(rpt_series_t *s, int64_t t);
int rpt_model_add_row(rpt_t *r, const char *path, size_t len,
    uint64_t hits, uint64_t pages, uint64_t bytes);
void rpt_period_add_hll(rpt_t *r, rpt_period_t *p, const uint8_t *regs,
    unsigned hll_p, uint64_t estimate);
int rpt_model_finish(rpt_t *r);
void rpt_free(rpt_t *r);

/* cortes.c, incidents.c */
int rpt_cortes(rpt_t *r);
int rpt_incidents(rpt_t *r);
rpt_incident_t *rpt_incident_add(rpt_t *r, rpt_inc_kind_e kind,
    int64_t start, int64_t end, const char *origin);
const char *rpt_incident_kind(rpt_inc_kind_e kind);

/* facts.c: figures every renderer shows alike */
void rpt_traffic_source(rpt_t *r, char *dst, size_t size);
const char *rpt_traffic_kind(rpt_t *r);
int rpt_median_bin(rpt_t *r);
double rpt_availability(rpt_t *r);
double rpt_mean_visit_s(rpt_t *r);
double rpt_peak_per_minute(rpt_t *r);
uint64_t rpt_expected_cortes(rpt_t *r);
void rpt_criteria(rpt_t *r, void (*emit)(void *, const char *), void *arg);

/* renderers */
int rpt_render_html(rpt_t *r, rpt_buf_t *b);
int rpt_render_csv(rpt_t *r, const char *dir, char *err, size_t errlen);
int rpt_render_json(rpt_t *r, rpt_buf_t *b);
void rpt_svg_bars(rpt_buf_t *b, const char *id, const char *title,
    const char **labels, const double *values, size_t n, const char *unit);
void rpt_svg_series(rpt_buf_t *b, const char *id, const char *title,
    const char **labels, const double *values, size_t n, size_t label_every,
    const char *unit);
int rpt_pdf(rpt_t *r, const char *dir, char *err, size_t errlen);

extern const char *rpt_histogram_labels[RPT_HISTOGRAM];
extern const uint64_t rpt_histogram_ms[RPT_HISTOGRAM];


#endif /* _RPT_REPORT_H_INCLUDED_ */
