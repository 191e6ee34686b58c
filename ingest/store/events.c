/*
 * Copyright (C) the ngx_prep authors
 */


#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "prep_json.h"
#include "cli/ingest_cmd.h"
#include "store/ingest_events.h"


/* room kept for "truncated" and the closing braces */
#define INGEST_EV_RESERVE   (sizeof(",\"truncated\":true") + 8)
#define INGEST_EV_MSG_MAX   1024
#define INGEST_READ_CHUNK   (64 * 1024)


double
ingest_wall(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


char *
ingest_fmt_utc(char *buf, size_t size, double unix_time)
{
    time_t     t;
    long       ms;
    struct tm  tm;

    t = (time_t) floor(unix_time);
    ms = (long) ((unix_time - (double) t) * 1000.0);

    if (ms > 999) {
        ms = 999;
    }

    if (gmtime_r(&t, &tm) == NULL) {
        (void) snprintf(buf, size, "1970-01-01T00:00:00.000Z");
        return buf;
    }

    (void) snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                    tm.tm_hour, tm.tm_min, tm.tm_sec, ms);

    return buf;
}


char *
ingest_sha256_hex(char *buf, const uint8_t sha[PREP_SHA256_LEN])
{
    int                 i;
    static const char   hex[] = "0123456789abcdef";

    for (i = 0; i < PREP_SHA256_LEN; i++) {
        buf[2 * i] = hex[sha[i] >> 4];
        buf[2 * i + 1] = hex[sha[i] & 0xf];
    }

    buf[2 * PREP_SHA256_LEN] = '\0';

    return buf;
}


int
ingest_events_open(ingest_events_t *log, int dir_fd, const char *path,
    int echo)
{
    log->path = path;
    log->echo = echo;
    log->on_alarm = NULL;
    log->alarm_ctx = NULL;
    log->fd = openat(dir_fd, INGEST_EVENTS_FILE,
                     O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                     0640);

    return log->fd >= 0 ? 0 : -1;
}


void
ingest_events_close(ingest_events_t *log)
{
    if (log->fd >= 0) {
        (void) close(log->fd);
    }

    log->fd = -1;
}


/* ",\"key\":" (the comma only after the first member) */
static int
ingest_ev_key(ingest_ev_t *ev, const char *key, size_t value_room)
{
    size_t  klen, need;

    if (ev->dropped > 0) {
        return -1;
    }

    klen = key ? prep_json_escaped_len(key, strlen(key)) + 3 : 0;
    need = klen + 1 + value_room;

    if (ev->len + need + INGEST_EV_RESERVE > sizeof(ev->buf)) {
        ev->truncated = 1;
        return -1;
    }

    if (!ev->first[ev->depth]) {
        ev->buf[ev->len++] = ',';
    }

    ev->first[ev->depth] = 0;

    if (key != NULL) {
        ev->buf[ev->len++] = '"';
        ev->len += prep_json_escape(ev->buf + ev->len, key, strlen(key));
        ev->buf[ev->len++] = '"';
        ev->buf[ev->len++] = ':';
    }

    return 0;
}


static void
ingest_ev_quoted(ingest_ev_t *ev, const char *key, const char *value,
    size_t len)
{
    size_t  elen;

    elen = prep_json_escaped_len(value, len);

    if (ingest_ev_key(ev, key, elen + 2) != 0) {
        return;
    }

    ev->buf[ev->len++] = '"';
    ev->len += prep_json_escape(ev->buf + ev->len, value, len);
    ev->buf[ev->len++] = '"';
}


static void
ingest_ev_rawf(ingest_ev_t *ev, const char *key, const char *text)
{
    size_t  len;

    len = strlen(text);

    if (ingest_ev_key(ev, key, len) == 0) {
        memcpy(ev->buf + ev->len, text, len);
        ev->len += len;
    }
}


/* the "truncated" mark and the end of the object and of the line:
 * INGEST_EV_RESERVE keeps room for them (and a NUL) */
static void
ingest_ev_seal(ingest_ev_t *ev)
{
    if (ev->truncated) {
        memcpy(ev->buf + ev->len, ",\"truncated\":true",
               sizeof(",\"truncated\":true") - 1);
        ev->len += sizeof(",\"truncated\":true") - 1;
    }

    ev->buf[ev->len++] = '}';
    ev->buf[ev->len++] = '\n';
}


void
ingest_ev_begin(ingest_ev_t *ev, const char *event, const char *level)
{
    char  now[INGEST_TIME_LEN];

    ingest_ev_doc_begin(ev);
    (void) snprintf(ev->name, sizeof(ev->name), "%s", event);
    (void) snprintf(ev->level, sizeof(ev->level), "%s", level);

    ingest_ev_str(ev, "time", ingest_fmt_utc(now, sizeof(now),
                                             ingest_wall()));
    ingest_ev_str(ev, "event", event);
    ingest_ev_str(ev, "level", level);
    ingest_ev_int(ev, "pid", (int64_t) getpid());
}


void
ingest_ev_doc_begin(ingest_ev_t *ev)
{
    ev->len = 0;
    ev->depth = 0;
    ev->dropped = 0;
    ev->truncated = 0;
    ev->first[0] = 1;
    ev->name[0] = '\0';
    ev->level[0] = '\0';
    ev->buf[ev->len++] = '{';
}


const char *
ingest_ev_doc_end(ingest_ev_t *ev)
{
    while (ev->depth > 0 || ev->dropped > 0) {
        ingest_ev_close(ev);
    }

    ingest_ev_seal(ev);
    ev->buf[ev->len] = '\0';

    return ev->buf;
}


void
ingest_ev_raw(ingest_ev_t *ev, const char *key, const char *json,
    size_t len)
{
    if (ingest_ev_key(ev, key, len) == 0) {
        memcpy(ev->buf + ev->len, json, len);
        ev->len += len;
    }
}


void
ingest_ev_str(ingest_ev_t *ev, const char *key, const char *value)
{
    if (value == NULL) {
        ingest_ev_null(ev, key);
        return;
    }

    ingest_ev_quoted(ev, key, value, strlen(value));
}


void
ingest_ev_strn(ingest_ev_t *ev, const char *key, const char *value,
    size_t len)
{
    ingest_ev_quoted(ev, key, value, len);
}


void
ingest_ev_int(ingest_ev_t *ev, const char *key, int64_t value)
{
    char  num[32];

    (void) snprintf(num, sizeof(num), "%lld", (long long) value);
    ingest_ev_rawf(ev, key, num);
}


void
ingest_ev_uint(ingest_ev_t *ev, const char *key, uint64_t value)
{
    char  num[32];

    (void) snprintf(num, sizeof(num), "%llu", (unsigned long long) value);
    ingest_ev_rawf(ev, key, num);
}


void
ingest_ev_secs(ingest_ev_t *ev, const char *key, double value)
{
    char  num[48];

    if (!isfinite(value)) {
        ingest_ev_null(ev, key);
        return;
    }

    (void) snprintf(num, sizeof(num), "%.3f", value);
    ingest_ev_rawf(ev, key, num);
}


void
ingest_ev_bool(ingest_ev_t *ev, const char *key, int value)
{
    ingest_ev_rawf(ev, key, value ? "true" : "false");
}


void
ingest_ev_null(ingest_ev_t *ev, const char *key)
{
    ingest_ev_rawf(ev, key, "null");
}


void
ingest_ev_sha256(ingest_ev_t *ev, const char *key,
    const uint8_t sha[PREP_SHA256_LEN])
{
    char  hex[2 * PREP_SHA256_LEN + 1];

    ingest_ev_str(ev, key, ingest_sha256_hex(hex, sha));
}


void
ingest_ev_time(ingest_ev_t *ev, const char *key, double unix_time)
{
    char  buf[INGEST_TIME_LEN];

    ingest_ev_str(ev, key, ingest_fmt_utc(buf, sizeof(buf), unix_time));
}


static void
ingest_ev_open(ingest_ev_t *ev, const char *key, char brace)
{
    /* a level that cannot open is dropped whole, its members included */
    if (ev->dropped > 0 || ev->depth == INGEST_EVENT_DEPTH
        || ingest_ev_key(ev, key, 2) != 0)
    {
        ev->truncated = 1;
        ev->dropped++;
        return;
    }

    ev->buf[ev->len++] = brace;
    ev->depth++;
    ev->first[ev->depth] = 1;
    ev->close[ev->depth] = brace == '{' ? '}' : ']';
}


void
ingest_ev_object(ingest_ev_t *ev, const char *key)
{
    ingest_ev_open(ev, key, '{');
}


void
ingest_ev_array(ingest_ev_t *ev, const char *key)
{
    ingest_ev_open(ev, key, '[');
}


void
ingest_ev_item(ingest_ev_t *ev, const char *value)
{
    ingest_ev_str(ev, NULL, value);
}


void
ingest_ev_close(ingest_ev_t *ev)
{
    if (ev->dropped > 0) {
        ev->dropped--;
        return;
    }

    if (ev->depth == 0) {
        return;
    }

    /* INGEST_EV_RESERVE always leaves room for the brackets */
    ev->buf[ev->len++] = ev->close[ev->depth];
    ev->depth--;
}


int
ingest_ev_write(ingest_events_t *log, ingest_ev_t *ev, const char *fmt, ...)
{
    int          rc;
    char         msg[INGEST_EV_MSG_MAX];
    off_t        size;
    size_t       len;
    va_list      args;
    ssize_t      n;
    struct stat  sb;

    va_start(args, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    while (ev->depth > 0 || ev->dropped > 0) {
        ingest_ev_close(ev);
    }

    /* the message is cut rather than dropped */
    len = strlen(msg);

    while (len > 0 && ev->len + prep_json_escaped_len(msg, len)
                      + sizeof(",\"msg\":\"\"") + INGEST_EV_RESERVE
                      > sizeof(ev->buf))
    {
        len = len > 64 ? len - 64 : 0;
        ev->truncated = 1;
    }

    ingest_ev_strn(ev, "msg", msg, len);

    ingest_ev_seal(ev);

    if (log->echo) {
        fprintf(stderr, INGEST_PROGRAM ": %s%s%s: %s\n",
                strcmp(ev->level, "info") == 0 ? "" : ev->level,
                strcmp(ev->level, "info") == 0 ? "" : " ", ev->name, msg);
    }

    if (log->fd < 0) {
        return 0;
    }

    rc = -1;

    /* writers of one store (the daemon, rollback) take turns per line */
    while (flock(log->fd, LOCK_EX) != 0 && errno == EINTR) {
        /* void */
    }

    if (fstat(log->fd, &sb) != 0) {
        fprintf(stderr, INGEST_PROGRAM ": events log %s: fstat: %s\n",
                log->path, strerror(errno));
        goto done;
    }

    size = sb.st_size;

    do {
        n = write(log->fd, ev->buf, ev->len);
    } while (n < 0 && errno == EINTR);

    if (n != (ssize_t) ev->len) {
        fprintf(stderr, INGEST_PROGRAM ": events log %s: write: %s\n",
                log->path, n < 0 ? strerror(errno) : "short write");

        /* never leave half a line: the next one would be unreadable */
        if (n > 0 && ftruncate(log->fd, size) != 0) {
            fprintf(stderr, INGEST_PROGRAM ": events log %s: cannot cut "
                    "a half line: %s\n", log->path, strerror(errno));
        }

        goto done;
    }

    if (fdatasync(log->fd) != 0) {
        fprintf(stderr, INGEST_PROGRAM ": events log %s: fsync: %s\n",
                log->path, strerror(errno));
        goto done;
    }

    rc = 0;

done:

    (void) flock(log->fd, LOCK_UN);

    if (log->on_alarm != NULL && strcmp(ev->level, "info") != 0) {
        log->on_alarm(log->alarm_ctx, ev->name, ev->level, ev->buf, ev->len);
    }

    return rc;
}


int
ingest_events_replay(int dir_fd,
    void (*fn)(void *ctx, const char *line, size_t len), void *ctx)
{
    int          fd, skip;
    char        *buf, *nl, *p;
    off_t        start;
    size_t       have;
    ssize_t      n;
    struct stat  sb;

    fd = openat(dir_fd, INGEST_EVENTS_FILE,
                O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        return errno == ENOENT ? 0 : -1;
    }

    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        (void) close(fd);
        return -1;
    }

    buf = malloc(INGEST_EVENT_LINE_MAX + INGEST_READ_CHUNK);
    if (buf == NULL) {
        (void) close(fd);
        return -1;
    }

    start = sb.st_size > (off_t) INGEST_EVENTS_TAIL
            ? sb.st_size - (off_t) INGEST_EVENTS_TAIL : 0;

    /* mid-file: the first line is probably cut, skip it */
    skip = start > 0;
    have = 0;

    for ( ;; ) {
        n = pread(fd, buf + have, INGEST_READ_CHUNK, start);

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n <= 0) {
            break;
        }

        start += n;
        have += (size_t) n;
        p = buf;

        while ((nl = memchr(p, '\n', have - (size_t) (p - buf))) != NULL) {
            if (!skip) {
                fn(ctx, p, (size_t) (nl - p));
            }

            skip = 0;
            p = nl + 1;
        }

        have -= (size_t) (p - buf);
        memmove(buf, p, have);

        if (have >= INGEST_EVENT_LINE_MAX) {
            /* a line too long to be ours: drop it up to its end */
            have = 0;
            skip = 1;
        }
    }

    free(buf);
    (void) close(fd);

    return n < 0 ? -1 : 0;
}
