/*
 * Copyright (C) the ngx_prep authors
 *
 * The alarm hook: see ingest_alarm.h.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ingest_jsonget.h"
#include "ops/ingest_alarm.h"
#include "ops/ingest_run.h"


#define INGEST_ALARM_KINDS  32


typedef struct {
    char     kind[32];
    double   last;                  /* monotonic */
} ingest_alarm_seen_t;


typedef struct {
    const ingest_config_t  *conf;
    ingest_alarm_seen_t     seen[INGEST_ALARM_KINDS];
    unsigned                nseen;
    unsigned                next;
} ingest_alarm_t;


static ingest_alarm_t  ingest_alarm;


static void ingest_alarm_event(void *ctx, const char *event,
    const char *level, const char *line, size_t len);


void
ingest_alarm_setup(ingest_events_t *log, const ingest_config_t *conf)
{
    if (conf->alarm_hook == NULL || conf->alarm_hook[0] == '\0') {
        return;
    }

    memset(&ingest_alarm, 0, sizeof(ingest_alarm_t));
    ingest_alarm.conf = conf;

    /* for the after-publish hook: "$PREP_ALARM_HOOK" raises an alarm */
    (void) setenv("PREP_ALARM_HOOK", conf->alarm_hook, 1);

    log->on_alarm = ingest_alarm_event;
    log->alarm_ctx = &ingest_alarm;
}


const char *
ingest_alarm_kind(const char *event, const char *line, size_t len)
{
    char  reason[32];

    if (strcmp(event, "hook") == 0 || strcmp(event, "hook_failed") == 0
        || strcmp(event, "hook_superseded") == 0
        || strcmp(event, "suspend_hook") == 0)
    {
        return "hook_failing";
    }

    if (strcmp(event, "reload_failed") == 0) {
        return "reload_unconfirmed";
    }

    if (strcmp(event, "suspend") == 0) {
        return "suspended";
    }

    if (strcmp(event, "failed") == 0
        && ingest_json_get_string(line, len, "reason", reason,
                                  sizeof(reason)) >= 0
        && strcmp(reason, "nospace") == 0)
    {
        return "low_space";
    }

    return event;
}


static double
ingest_alarm_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


/* 1 when kind may run now (and records it) */
static int
ingest_alarm_due(ingest_alarm_t *a, const char *kind)
{
    double               now;
    unsigned             i;
    ingest_alarm_seen_t  *s;

    now = ingest_alarm_now();

    for (i = 0; i < a->nseen; i++) {
        s = &a->seen[i];

        if (strcmp(s->kind, kind) == 0) {
            if (now - s->last < a->conf->alarm_repeat) {
                return 0;
            }

            s->last = now;
            return 1;
        }
    }

    /* a full table forgets the oldest slot, in turn */
    if (a->nseen < INGEST_ALARM_KINDS) {
        s = &a->seen[a->nseen++];

    } else {
        s = &a->seen[a->next];
        a->next = (a->next + 1) % INGEST_ALARM_KINDS;
    }

    (void) snprintf(s->kind, sizeof(s->kind), "%s", kind);
    s->last = now;

    return 1;
}


static void
ingest_alarm_event(void *ctx, const char *event, const char *level,
    const char *line, size_t len)
{
    char             msg[1024], corte[64];
    char             env[6][1200];
    const char      *kind;
    ingest_run_t     run;
    ingest_alarm_t  *a;

    a = ctx;
    kind = ingest_alarm_kind(event, line, len);

    if (!ingest_alarm_due(a, kind)) {
        return;
    }

    memset(&run, 0, sizeof(ingest_run_t));
    run.cmd = a->conf->alarm_hook;
    run.input = line;
    run.input_len = len;
    run.retries = (unsigned) a->conf->hook_retries;
    run.delay = a->conf->hook_retry_delay;
    run.timeout = a->conf->hook_timeout;

    if (ingest_json_get_string(line, len, "msg", msg, sizeof(msg)) < 0) {
        (void) snprintf(msg, sizeof(msg), "%s", event);
    }

    if (ingest_json_get_string(line, len, "corte_id", corte,
                               sizeof(corte)) < 0
        && ingest_json_get_string(line, len, "live_corte_id", corte,
                                  sizeof(corte)) < 0)
    {
        corte[0] = '\0';
    }

    (void) ingest_run_env(&run, env[0], sizeof(env[0]), "PREP_ALARM_KIND",
                          kind);
    (void) ingest_run_env(&run, env[1], sizeof(env[1]), "PREP_ALARM_LEVEL",
                          level);
    (void) ingest_run_env(&run, env[2], sizeof(env[2]),
                          "PREP_ALARM_MESSAGE", msg);
    (void) ingest_run_env(&run, env[3], sizeof(env[3]), "PREP_ALARM_EVENT",
                          event);
    (void) ingest_run_env(&run, env[4], sizeof(env[4]), "PREP_STORE",
                          a->conf->store);

    if (corte[0]) {
        (void) ingest_run_env(&run, env[5], sizeof(env[5]), "PREP_CORTE_ID",
                              corte);
    }

    if (ingest_run_detached(&run) != 0) {
        fprintf(stderr, "prep-ingest: alarm hook for %s could not be "
                "started\n", kind);
    }
}
