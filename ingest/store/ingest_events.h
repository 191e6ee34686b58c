/*
 * Copyright (C) the ngx_prep authors
 *
 * The events log, STORE/events.jsonl: one JSON object per line, appended
 * and fsynced one line at a time, so that a crash loses at most the line
 * being written and never leaves half of one (a short write is cut
 * back).  Every object starts with "time", "event", "level", "pid" and
 * ends with "msg", a sentence for humans; docs/EVENTS.md lists the
 * events and their fields.  Every string goes through prep_json_escape(),
 * so a hostile file name cannot break a line.
 *
 * An event is built in a fixed buffer; a field that does not fit is
 * dropped and the object gets "truncated": true.
 */


#ifndef _INGEST_EVENTS_H_INCLUDED_
#define _INGEST_EVENTS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "prep_snap.h"


#define INGEST_EVENTS_FILE    "events.jsonl"
#define INGEST_EVENT_MAX      8192
#define INGEST_EVENT_DEPTH    4

/* the tail read back at start: enough for weeks of cortes */
#define INGEST_EVENTS_TAIL    (4u << 20)
#define INGEST_EVENT_LINE_MAX (INGEST_EVENT_MAX * 2)


typedef struct {
    char      buf[INGEST_EVENT_MAX];
    size_t    len;
    unsigned  depth;
    /* per level: 1 before the first member; the closing bracket, or 0
     * when the level could not be opened (its members are dropped) */
    int       first[INGEST_EVENT_DEPTH + 1];
    char      close[INGEST_EVENT_DEPTH + 1];
    unsigned  dropped;          /* levels opened past the last kept one */
    int       truncated;
    char      name[32];
    char      level[16];
} ingest_ev_t;


typedef struct ingest_events_s  ingest_events_t;

/* called after every warning or alert event is written (the alarm hook,
 * ingest/ops/alarm.c); line is the event's JSON with its newline */
typedef void (*ingest_events_alarm_pt)(void *ctx, const char *event,
    const char *level, const char *line, size_t len);

struct ingest_events_s {
    int                     fd;         /* -1: stderr only */
    int                     echo;       /* also one short line on stderr */
    const char             *path;
    ingest_events_alarm_pt  on_alarm;   /* NULL: none */
    void                   *alarm_ctx;
};


/* opens (creates) dir_fd/events.jsonl for appending */
int ingest_events_open(ingest_events_t *log, int dir_fd, const char *path,
    int echo);
void ingest_events_close(ingest_events_t *log);

/* starts an event: "time", "event", "level" ("info", "warning", "alert")
 * and "pid" */
void ingest_ev_begin(ingest_ev_t *ev, const char *event,
    const char *level);

void ingest_ev_str(ingest_ev_t *ev, const char *key, const char *value);
void ingest_ev_strn(ingest_ev_t *ev, const char *key, const char *value,
    size_t len);
void ingest_ev_int(ingest_ev_t *ev, const char *key, int64_t value);
void ingest_ev_uint(ingest_ev_t *ev, const char *key, uint64_t value);
/* seconds, milliseconds precision */
void ingest_ev_secs(ingest_ev_t *ev, const char *key, double value);
void ingest_ev_bool(ingest_ev_t *ev, const char *key, int value);
void ingest_ev_null(ingest_ev_t *ev, const char *key);
/* a SHA-256 in lowercase hex */
void ingest_ev_sha256(ingest_ev_t *ev, const char *key,
    const uint8_t sha[PREP_SHA256_LEN]);
/* a UTC time "2024-06-03T05:15:02.123Z" from a unix time */
void ingest_ev_time(ingest_ev_t *ev, const char *key, double unix_time);

/* raw JSON text, already valid (a line of the log, checked) */
void ingest_ev_raw(ingest_ev_t *ev, const char *key, const char *json,
    size_t len);

void ingest_ev_object(ingest_ev_t *ev, const char *key);
void ingest_ev_array(ingest_ev_t *ev, const char *key);
/* a string element of the open array */
void ingest_ev_item(ingest_ev_t *ev, const char *value);
void ingest_ev_close(ingest_ev_t *ev);

/*
 * Ends the event with "msg" (printf format) and appends it, durably.
 * Returns 0, or -1 when the line could not be written (the reason is
 * printed on stderr; the daemon goes on).
 */
int ingest_ev_write(ingest_events_t *log, ingest_ev_t *ev,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* a plain JSON document with the same builder (no standard fields) */
void ingest_ev_doc_begin(ingest_ev_t *ev);
/* closes it; NUL-terminated in ev->buf, newline included */
const char *ingest_ev_doc_end(ingest_ev_t *ev);

/* "2024-06-03T05:15:02.123Z"; buf holds INGEST_TIME_LEN bytes */
#define INGEST_TIME_LEN  32
char *ingest_fmt_utc(char *buf, size_t size, double unix_time);

/* the wall clock, as a double */
double ingest_wall(void);

/* lowercase hex of a SHA-256 into buf (65 bytes) */
char *ingest_sha256_hex(char *buf, const uint8_t sha[PREP_SHA256_LEN]);

/*
 * Calls fn for every complete line of the last INGEST_EVENTS_TAIL bytes
 * of dir_fd/events.jsonl, oldest first.  Lines longer than
 * INGEST_EVENT_LINE_MAX are skipped.  Returns 0 (also when there is no
 * log yet) or -1 on read errors.
 */
int ingest_events_replay(int dir_fd,
    void (*fn)(void *ctx, const char *line, size_t len), void *ctx);


#endif /* _INGEST_EVENTS_H_INCLUDED_ */
