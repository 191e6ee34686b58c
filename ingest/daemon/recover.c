/*
 * Copyright (C) the ngx_prep authors
 *
 * What the daemon remembers across restarts is in the events log: the
 * packages it published (so a package found again is a duplicate, not
 * a second publication), when the last corte was published (the base
 * of the stale alarms, and how many were raised since), and whether the
 * hook of the last corte is done (if not, it runs again).
 */


#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/ingest_jsonget.h"
#include "daemon/ingest_daemon.h"


typedef struct {
    ingest_watch_t  *w;
    char             snapshot[INGEST_SNAP_NAME_LEN];
    char             corte_id[PREP_SNAP_ID_LEN + 1];
} ingest_recover_t;


static int
ingest_hex_sha(const char *hex, uint8_t sha[PREP_SHA256_LEN])
{
    int       i;
    unsigned  v;

    if (strlen(hex) != 2 * PREP_SHA256_LEN) {
        return -1;
    }

    for (i = 0; i < PREP_SHA256_LEN; i++) {
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            return -1;
        }

        sha[i] = (uint8_t) v;
    }

    return 0;
}


/* "2024-06-03T05:15:02.123Z" */
static double
ingest_parse_utc(const char *s)
{
    int        ms;
    struct tm  tm;

    memset(&tm, 0, sizeof(tm));
    ms = 0;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms)
        < 6)
    {
        return 0;
    }

    tm.tm_year -= 1900;
    tm.tm_mon -= 1;

    return (double) timegm(&tm) + ms / 1000.0;
}


int
ingest_published_has(ingest_watch_t *w, const uint8_t sha[PREP_SHA256_LEN])
{
    size_t  i;

    for (i = 0; i < w->npublished; i++) {
        if (memcmp(w->published[i].sha256, sha, PREP_SHA256_LEN) == 0) {
            return 1;
        }
    }

    return 0;
}


void
ingest_published_add(ingest_watch_t *w, const uint8_t sha[PREP_SHA256_LEN])
{
    memcpy(w->last_published, sha, PREP_SHA256_LEN);
    w->have_last_published = 1;

    if (ingest_published_has(w, sha)) {
        return;
    }

    memcpy(w->published[w->published_next].sha256, sha, PREP_SHA256_LEN);
    w->published_next = (w->published_next + 1) % INGEST_PUBLISHED_MAX;

    if (w->npublished < INGEST_PUBLISHED_MAX) {
        w->npublished++;
    }
}


static void
ingest_recover_line(void *ctx, const char *line, size_t len)
{
    int                ok;
    char               event[32], hex[2 * PREP_SHA256_LEN + 1];
    char               when[INGEST_TIME_LEN], snapshot[INGEST_SNAP_NAME_LEN];
    uint8_t            sha[PREP_SHA256_LEN];
    ingest_watch_t    *w;
    ingest_recover_t  *r;
    ingest_json_val_t  v;

    r = ctx;
    w = r->w;

    if (ingest_json_get_string(line, len, "event", event, sizeof(event))
        < 0)
    {
        return;
    }

    if (strcmp(event, "published") == 0) {
        if (ingest_json_get_string(line, len, "sha256", hex, sizeof(hex))
            < 0
            || ingest_hex_sha(hex, sha) != 0)
        {
            return;
        }

        ingest_published_add(w, sha);
        w->last_hook_done = 0;
        w->stale_alarms = 0;

        if (ingest_json_get_string(line, len, "time", when, sizeof(when))
            >= 0)
        {
            w->last_publish = ingest_parse_utc(when);
        }

        if (ingest_json_get_string(line, len, "snapshot", r->snapshot,
                                   sizeof(r->snapshot))
            < 0)
        {
            r->snapshot[0] = '\0';
        }

        if (ingest_json_get_string(line, len, "corte_id", r->corte_id,
                                   sizeof(r->corte_id))
            < 0)
        {
            r->corte_id[0] = '\0';
        }

        return;
    }

    if (strcmp(event, "hook") == 0 || strcmp(event, "hook_failed") == 0) {
        if (ingest_json_get_string(line, len, "snapshot", snapshot,
                                   sizeof(snapshot))
            < 0
            || strcmp(snapshot, r->snapshot) != 0)
        {
            return;
        }

        ok = strcmp(event, "hook_failed") == 0
             || (ingest_json_get(line, len, "ok", &v) == 1
                 && v.type == INGEST_JSON_TRUE);

        if (ok) {
            w->last_hook_done = 1;
        }

        return;
    }

    if (strcmp(event, "stale") == 0) {
        w->stale_alarms++;
    }
}


void
ingest_recover(ingest_watch_t *w)
{
    ingest_recover_t  r;

    memset(&r, 0, sizeof(ingest_recover_t));
    r.w = w;
    w->last_hook_done = 1;

    (void) ingest_events_replay(w->store.dir_fd, ingest_recover_line, &r);
}
