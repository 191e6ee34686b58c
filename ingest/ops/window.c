/*
 * Copyright (C) the ngx_prep authors
 *
 * --publish-from: see ingest_window.h.
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "daemon/ingest_control_client.h"
#include "ops/ingest_window.h"
#include "store/ingest_files.h"


#define INGEST_WINDOW_HELD  "held until --publish-from"


static int      ingest_window_open;     /* the flip at TIME is done */

/* the newest corte held by this run: only it may be flipped to at TIME
 * (never a newer snapshot left by a rollback) */
static char     ingest_window_held[INGEST_SNAP_NAME_LEN];
static int64_t  ingest_window_held_time = INT64_MIN;


int
ingest_window_parse(const char *s, double *t)
{
    int        n, len, sign, oh, om;
    char      *end;
    struct tm  tm;
    long long  v;

    if (s[0] == '@') {
        errno = 0;
        v = strtoll(s + 1, &end, 10);

        if (errno != 0 || end == s + 1 || *end != '\0' || v < 0) {
            return -1;
        }

        *t = (double) v;
        return 0;
    }

    memset(&tm, 0, sizeof(tm));
    len = 0;

    n = sscanf(s, "%4d-%2d-%2dT%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &len);

    if (n != 5 || len != 16) {
        return -1;
    }

    s += len;

    if (s[0] == ':') {
        if (sscanf(s, ":%2d%n", &tm.tm_sec, &len) != 1 || len != 3) {
            return -1;
        }

        s += 3;
    }

    if (strcmp(s, "Z") == 0) {
        sign = 0;
        oh = om = 0;

    } else if ((s[0] == '+' || s[0] == '-')
               && sscanf(s + 1, "%2d:%2d%n", &oh, &om, &len) == 2
               && len == 5 && s[6] == '\0' && oh < 24 && om < 60)
    {
        sign = (s[0] == '+') ? 1 : -1;

    } else {
        return -1;                  /* an offset is required */
    }

    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1
        || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59
        || tm.tm_sec > 60)
    {
        return -1;
    }

    tm.tm_year -= 1900;
    tm.tm_mon -= 1;

    *t = (double) timegm(&tm) - sign * (oh * 3600 + om * 60);

    return 0;
}


int
ingest_window_check(const ingest_config_t *conf, char *msg, size_t size)
{
    double  t;

    if (conf->publish_from != NULL
        && ingest_window_parse(conf->publish_from, &t) != 0)
    {
        (void) snprintf(msg, size, "--publish-from %s: not a time like "
                        "2024-06-02T20:00:00-06:00 (with its UTC offset) "
                        "or @unix-time", conf->publish_from);
        return -1;
    }

    if (ingest_keep_until(conf, &t, msg, size) < 0) {
        return -1;
    }

    ingest_retention_keep_until(conf->keep_until != NULL ? t : 0);

    return 0;
}


int
ingest_keep_until(const ingest_config_t *conf, double *t, char *msg,
    size_t size)
{
    *t = 0;

    if (conf->keep_until == NULL) {
        return 0;
    }

    if (ingest_window_parse(conf->keep_until, t) != 0) {
        (void) snprintf(msg, size, "--keep-until %s: not a time like "
                        "2024-06-09T23:59:00-06:00 (with its UTC offset) "
                        "or @unix-time", conf->keep_until);
        return -1;
    }

    return ingest_wall() < *t;
}


static int
ingest_window_from(const ingest_config_t *conf, double *t)
{
    return conf->publish_from != NULL
           && ingest_window_parse(conf->publish_from, t) == 0;
}


int
ingest_window_waits(ingest_watch_t *w, ingest_cand_t *c)
{
    double  from, wall;

    if (ingest_window_open || !ingest_window_from(w->conf, &from)) {
        return 0;
    }

    wall = ingest_wall();

    if (wall >= from || strcmp(c->msg, INGEST_WINDOW_HELD) != 0) {
        return 0;
    }

    c->due = ingest_now() + (from - wall);

    return 1;
}


int
ingest_window_holds(ingest_watch_t *w)
{
    double  from;

    return !ingest_window_open && ingest_window_from(w->conf, &from)
           && ingest_wall() < from;
}


void
ingest_window_record_held(ingest_pl_t *pl)
{
    char            when[INGEST_TIME_LEN];
    double          from;
    ingest_ev_t     ev;
    ingest_watch_t  *w;

    w = pl->w;

    ingest_store_unlock(&w->store);

    if (!ingest_window_from(w->conf, &from)) {
        from = ingest_wall();
    }

    if (pl->vo.res.corte.time > ingest_window_held_time) {
        ingest_window_held_time = pl->vo.res.corte.time;
        (void) snprintf(ingest_window_held, sizeof(ingest_window_held),
                        "%s", pl->final);
    }

    ingest_ev_begin(&ev, "held", "info");
    ingest_pl_file(&ev, pl);
    ingest_ev_str(&ev, "corte_id", pl->vo.res.corte.id);
    ingest_ev_str(&ev, "snapshot", pl->final);
    ingest_ev_time(&ev, "until", from);
    (void) ingest_ev_write(&w->log, &ev, "corte %s validated and kept as "
                           "%s; published at %s (--publish-from)",
                           pl->vo.res.corte.id, pl->final,
                           ingest_fmt_utc(when, sizeof(when), from));

    (void) snprintf(pl->c->msg, sizeof(pl->c->msg), "%s",
                    INGEST_WINDOW_HELD);
    pl->c->due = ingest_now() + (from - ingest_wall());
}


/* the held snapshot, verified again and newer than the live corte */
static int
ingest_window_pick(ingest_store_t *st, const ingest_live_t *live,
    char *name, size_t size)
{
    int                rc;
    char               msg[PREP_ERRLEN];
    ingest_snapfile_t  sf;

    if (ingest_window_held[0] == '\0') {
        return -1;
    }

    rc = ingest_snapfile_open(&sf, st->cortes_fd, ingest_window_held,
                              PREP_SNAP_VERIFY_DATA, msg, sizeof(msg));

    if (rc == PREP_SNAP_OK
        && (!live->have || sf.snap.header->corte_time > live->corte_time))
    {
        rc = 0;
        (void) snprintf(name, size, "%s", ingest_window_held);

    } else {
        rc = -1;
    }

    ingest_snapfile_close(&sf);

    return rc;
}


void
ingest_window_poll(ingest_watch_t *w, double *next)
{
    int            refused, live;
    char           name[INGEST_SNAP_NAME_LEN];
    char           error[INGEST_CONTROL_ERRLEN];
    double         from, wall, now;
    ingest_ev_t    ev;
    ingest_err_t   err;
    ingest_live_t  cur;
    unsigned long  generation;

    if (ingest_window_open || !ingest_window_from(w->conf, &from)) {
        return;
    }

    wall = ingest_wall();
    now = ingest_now();

    if (wall < from) {
        if (now + (from - wall) < *next) {
            *next = now + (from - wall);
        }

        return;
    }

    ingest_window_open = 1;

    if (ingest_window_held[0] == '\0') {
        return;                     /* nothing was held: nothing to do */
    }

    ingest_err_reset(&err);

    if (ingest_store_lock(&w->store, &err) != 0) {
        return;
    }

    if (ingest_live_read(&w->store, &cur) != 1) {
        cur.have = 0;
    }

    if (ingest_window_pick(&w->store, &cur, name, sizeof(name)) != 0
        || ingest_store_flip(&w->store, name, &err) != 0)
    {
        ingest_store_unlock(&w->store);

        ingest_ev_begin(&ev, "window_open", "info");
        ingest_ev_null(&ev, "snapshot");
        (void) ingest_ev_write(&w->log, &ev, "publication window open; "
                               "the held corte %s is not newer than the "
                               "live one or does not verify",
                               ingest_window_held);
        return;
    }

    ingest_store_unlock(&w->store);

    live = -1;
    error[0] = '\0';

    if (w->conf->control != NULL) {
        live = ingest_control_publish(w->conf->control, name,
                                      w->conf->reload_timeout, &generation,
                                      &refused, error, sizeof(error))
               == 0;
    }

    ingest_ev_begin(&ev, "window_open", "info");
    ingest_ev_str(&ev, "snapshot", name);
    ingest_ev_secs(&ev, "late_s", ingest_wall() - from);

    if (live < 0) {
        ingest_ev_null(&ev, "live");

    } else {
        ingest_ev_bool(&ev, "live", live);
    }

    (void) ingest_ev_write(&w->log, &ev, "publication window open: %s is "
                           "current%s", name,
                           live == 1 ? " and served" : "");

    /* the held uploads now finish as publications already flipped */
    *next = now;
}
