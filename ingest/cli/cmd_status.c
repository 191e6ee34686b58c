/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-ingest status: what is live, since when, what was decided last
 * and what is wrong.  Everything comes from the store (current, the
 * snapshot header, the events log, the watch lock) and, with --control,
 * from nginx itself; no running daemon is needed to answer.
 *
 * An alarm is raised by an "alert" event and stays until the event that
 * ends it (docs/EVENTS.md); the stale alarm is also computed from the
 * time of the last publication, so it shows even when no daemon runs
 * to raise it.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "cli/ingest_cmd.h"
#include "daemon/ingest_control_client.h"
#include "common/ingest_jsonget.h"
#include "daemon/ingest_daemon.h"
#include "ops/ingest_suspension.h"
#include "ops/ingest_window.h"


#define INGEST_ALARMS        16
#define INGEST_ALARM_MSG     512


typedef struct {
    char    kind[32];
    double  since;
    char    msg[INGEST_ALARM_MSG];
} ingest_alarm_t;


typedef struct {
    ingest_alarm_t  alarms[INGEST_ALARMS];
    unsigned        nalarms;
    char            decision[INGEST_EVENT_LINE_MAX];
    size_t          decision_len;
    double          decision_time;
    char            decision_event[32];
    char            decision_msg[INGEST_ALARM_MSG];
    double          last_publish;
    char            last_snapshot[INGEST_SNAP_NAME_LEN];
} ingest_status_t;


static const char  ingest_status_help[] =
"NAME\n"
"    prep-ingest status - the live corte, its age, the last decision and\n"
"    any alarm\n"
"\n"
"SYNOPSIS\n"
"    prep-ingest status --store DIR [--control SOCKET] [--json]\n"
"\n"
"DESCRIPTION\n"
"    Reads the store and its events log (and asks nginx when --control\n"
"    is given) and prints: the live corte and its snapshot, the corte's\n"
"    age, when it was published, whether a watch runs on the store, the\n"
"    last decision (published, rejected, duplicate, incomplete, failed,\n"
"    rollback) and the alarms raised and not ended: stale (no new corte\n"
"    for --stale-period), nginx not serving current, the drop folder\n"
"    missing, a corte_conflict, failing hooks or packages, low space\n"
"    in the store, the suspension, no watch running.  With --keep-until,\n"
"    no watch running is an alarm until that time and none after it\n"
"    (the publication is over).\n"
"\n"
"OPTIONS\n";

static const char  ingest_status_help_end[] =
"\n"
"EXIT STATUS\n"
"    0   no alarm\n"
"    1   the store cannot be read\n"
"    3   at least one alarm\n"
"    64  bad command line\n"
"\n"
"EXAMPLES\n"
"    prep-ingest status --store /var/lib/prep/store \\\n"
"        --control /run/prep/control.sock\n"
"    prep-ingest status --config /etc/prep-ingest.conf --json\n";


void
ingest_cmd_status_help(FILE *out)
{
    fputs(ingest_status_help, out);
    ingest_config_help(out, INGEST_CMD_STATUS);
    fputs(ingest_status_help_end, out);
}


static double
ingest_status_time(const char *line, size_t len)
{
    int        ms;
    char       when[INGEST_TIME_LEN];
    struct tm  tm;

    if (ingest_json_get_string(line, len, "time", when, sizeof(when)) < 0) {
        return 0;
    }

    memset(&tm, 0, sizeof(tm));
    ms = 0;

    if (sscanf(when, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year,
               &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
               &ms)
        < 6)
    {
        return 0;
    }

    tm.tm_year -= 1900;
    tm.tm_mon -= 1;

    return (double) timegm(&tm) + ms / 1000.0;
}


static void
ingest_alarm_set(ingest_status_t *st, const char *kind, double since,
    const char *msg)
{
    unsigned         i;
    ingest_alarm_t  *a;

    a = NULL;

    for (i = 0; i < st->nalarms; i++) {
        if (strcmp(st->alarms[i].kind, kind) == 0) {
            a = &st->alarms[i];
            break;
        }
    }

    if (a == NULL) {
        if (st->nalarms == INGEST_ALARMS) {
            return;
        }

        a = &st->alarms[st->nalarms++];
        (void) snprintf(a->kind, sizeof(a->kind), "%s", kind);
        a->since = since;
    }

    (void) snprintf(a->msg, sizeof(a->msg), "%s", msg);
}


static void
ingest_alarm_clear(ingest_status_t *st, const char *kind)
{
    unsigned  i;

    i = 0;

    while (i < st->nalarms) {
        if (strcmp(st->alarms[i].kind, kind) == 0) {
            st->alarms[i] = st->alarms[--st->nalarms];
            continue;
        }

        i++;
    }
}


static int
ingest_is_decision(const char *event)
{
    static const char  *decisions[] = {
        "published", "rejected", "duplicate", "incomplete", "failed",
        "rollback"
    };

    size_t  i;

    for (i = 0; i < sizeof(decisions) / sizeof(decisions[0]); i++) {
        if (strcmp(event, decisions[i]) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
ingest_status_line(void *ctx, const char *line, size_t len)
{
    char                event[32], level[16], reason[48];
    char                msg[INGEST_ALARM_MSG];
    double              t;
    ingest_status_t    *st;
    ingest_json_val_t   v;

    st = ctx;

    if (ingest_json_get_string(line, len, "event", event, sizeof(event)) < 0
        || ingest_json_get_string(line, len, "level", level, sizeof(level))
           < 0)
    {
        return;
    }

    if (ingest_json_get_string(line, len, "msg", msg, sizeof(msg)) < 0) {
        msg[0] = '\0';
    }

    t = ingest_status_time(line, len);

    if (ingest_is_decision(event) && len < sizeof(st->decision)) {
        memcpy(st->decision, line, len);
        st->decision_len = len;
        st->decision_time = t;
        (void) snprintf(st->decision_event, sizeof(st->decision_event),
                        "%s", event);
        (void) snprintf(st->decision_msg, sizeof(st->decision_msg), "%s",
                        msg);
    }

    /* what ends an alarm */
    if (strcmp(event, "published") == 0) {
        st->last_publish = t;

        if (ingest_json_get_string(line, len, "snapshot", st->last_snapshot,
                                   sizeof(st->last_snapshot))
            < 0)
        {
            st->last_snapshot[0] = '\0';
        }

        ingest_alarm_clear(st, "stale");
        ingest_alarm_clear(st, "corte_conflict");
        ingest_alarm_clear(st, "failed");
        ingest_alarm_clear(st, "stuck");
        ingest_alarm_clear(st, "current_invalid");
        ingest_alarm_clear(st, "overload");

        if (ingest_json_get(line, len, "live", &v) == 1
            && v.type == INGEST_JSON_TRUE)
        {
            ingest_alarm_clear(st, "reload_failed");
        }

    } else if (strcmp(event, "reloaded") == 0) {
        ingest_alarm_clear(st, "reload_failed");

    } else if (strcmp(event, "space_ok") == 0) {
        ingest_alarm_clear(st, "low_space");

    } else if (strcmp(event, "drop_restored") == 0) {
        ingest_alarm_clear(st, "drop_missing");

    } else if (strcmp(event, "hook") == 0
               && ingest_json_get(line, len, "ok", &v) == 1
               && v.type == INGEST_JSON_TRUE)
    {
        ingest_alarm_clear(st, "hook_failed");

    } else if (strcmp(event, "rollback") == 0) {
        st->last_publish = t;
        ingest_alarm_clear(st, "stale");
    }

    if (strcmp(level, "alert") != 0) {
        return;
    }

    if (strcmp(event, "rejected") == 0
        && ingest_json_get_string(line, len, "reason", reason,
                                  sizeof(reason))
           >= 0)
    {
        ingest_alarm_set(st, reason, t, msg);
        return;
    }

    ingest_alarm_set(st, event, t, msg);
}


static char *
ingest_fmt_age(char *buf, size_t size, double s)
{
    long  t;

    t = s < 0 ? 0 : (long) s;

    if (t < 60) {
        (void) snprintf(buf, size, "%ld s", t);

    } else if (t < 3600) {
        (void) snprintf(buf, size, "%ld min %ld s", t / 60, t % 60);

    } else if (t < 86400) {
        (void) snprintf(buf, size, "%ld h %ld min", t / 3600,
                        (t % 3600) / 60);

    } else {
        (void) snprintf(buf, size, "%ld d %ld h", t / 86400,
                        (t % 86400) / 3600);
    }

    return buf;
}


/* a watch holds STORE/.watch.lock for its whole life */
static int
ingest_watch_running(ingest_store_t *store)
{
    int  fd, running;

    fd = openat(store->dir_fd, INGEST_WATCH_LOCK,
                O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }

    running = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    (void) close(fd);

    return running;
}


static void
ingest_status_text(const ingest_config_t *conf, const ingest_live_t *live,
    const ingest_status_t *st, int running, int nginx_rc,
    const char *served, unsigned long generation, const char *nginx_err)
{
    char      age[64], when[INGEST_TIME_LEN];
    double    now, until;
    unsigned  i;

    now = ingest_wall();

    if (live->have) {
        printf("live corte:     %s (%s)\n", live->corte_id, live->iso);
        printf("snapshot:       %s/%s\n", INGEST_STORE_CORTES, live->name);
        printf("corte age:      %s\n",
               ingest_fmt_age(age, sizeof(age),
                              now - (double) live->corte_time));

    } else {
        printf("live corte:     none\n");
    }

    if (st->last_publish > 0) {
        printf("published:      %s (%s ago)\n",
               ingest_fmt_utc(when, sizeof(when), st->last_publish),
               ingest_fmt_age(age, sizeof(age), now - st->last_publish));
    }

    if (conf->control != NULL) {
        if (nginx_rc != 0) {
            printf("nginx:          not reachable: %s\n", nginx_err);

        } else {
            printf("nginx:          serves %s (generation %lu)\n",
                   served[0] ? served : "nothing", generation);
        }
    }

    printf("watch:          %s\n", running ? "running" : "not running");

    if (conf->keep_until != NULL) {
        printf("keep until:     %s%s\n", conf->keep_until,
               ingest_keep_until(conf, &until, when, sizeof(when)) == 1
               ? "" : " (past: the publication is over)");
    }

    if (st->decision_len > 0) {
        printf("last decision:  %s %s: %s\n",
               ingest_fmt_utc(when, sizeof(when), st->decision_time),
               st->decision_event, st->decision_msg);
    }

    if (st->nalarms == 0) {
        printf("alarms:         none\n");
        return;
    }

    printf("alarms:         %u\n", st->nalarms);

    for (i = 0; i < st->nalarms; i++) {
        printf("  %s", st->alarms[i].kind);

        if (st->alarms[i].since > 0) {
            printf(" since %s",
                   ingest_fmt_utc(when, sizeof(when), st->alarms[i].since));
        }

        printf(": %s\n", st->alarms[i].msg);
    }
}


static void
ingest_status_json(const ingest_config_t *conf, const ingest_live_t *live,
    const ingest_status_t *st, int running, int nginx_rc,
    const char *served, unsigned long generation, const char *nginx_err)
{
    double        now;
    unsigned      i;
    ingest_ev_t  *ev;

    ev = malloc(sizeof(ingest_ev_t));
    if (ev == NULL) {
        return;
    }

    now = ingest_wall();
    ingest_ev_doc_begin(ev);
    ingest_ev_time(ev, "time", now);

    if (live->have) {
        ingest_ev_object(ev, "live");
        ingest_ev_str(ev, "corte_id", live->corte_id);
        ingest_ev_str(ev, "corte", live->iso);
        ingest_ev_str(ev, "snapshot", live->name);
        ingest_ev_sha256(ev, "sha256", live->sha256);
        ingest_ev_secs(ev, "age_s", now - (double) live->corte_time);
        ingest_ev_close(ev);

    } else {
        ingest_ev_null(ev, "live");
    }

    if (st->last_publish > 0) {
        ingest_ev_time(ev, "published_at", st->last_publish);
        ingest_ev_secs(ev, "since_publish_s", now - st->last_publish);

    } else {
        ingest_ev_null(ev, "published_at");
    }

    ingest_ev_bool(ev, "watch_running", running);
    ingest_ev_str(ev, "keep_until", conf->keep_until);

    if (conf->control != NULL) {
        ingest_ev_object(ev, "nginx");
        ingest_ev_bool(ev, "reachable", nginx_rc == 0);

        if (nginx_rc == 0) {
            ingest_ev_str(ev, "snapshot", served);
            ingest_ev_uint(ev, "generation", generation);

        } else {
            ingest_ev_str(ev, "error", nginx_err);
        }

        ingest_ev_close(ev);
    }

    if (st->decision_len > 0) {
        ingest_ev_raw(ev, "last_decision", st->decision,
                      st->decision_len);

    } else {
        ingest_ev_null(ev, "last_decision");
    }

    ingest_ev_array(ev, "alarms");

    for (i = 0; i < st->nalarms; i++) {
        ingest_ev_object(ev, NULL);
        ingest_ev_str(ev, "kind", st->alarms[i].kind);

        if (st->alarms[i].since > 0) {
            ingest_ev_time(ev, "since", st->alarms[i].since);
        }

        ingest_ev_str(ev, "message", st->alarms[i].msg);
        ingest_ev_close(ev);
    }

    ingest_ev_close(ev);

    fputs(ingest_ev_doc_end(ev), stdout);
    free(ev);
}


int
ingest_cmd_status(int argc, char **argv)
{
    int               rc, running, nginx_rc, keep;
    double            until;
    char              served[INGEST_SNAP_NAME_LEN], msg[512];
    char              nginx_err[INGEST_CONTROL_ERRLEN];
    ingest_suspension_t  sus;
    double            now;
    ingest_err_t      err;
    ingest_live_t     live;
    ingest_store_t    store;
    unsigned long     generation;
    ingest_config_t   conf;
    ingest_status_t  *st;

    ingest_config_init(&conf);

    rc = ingest_config_parse(&conf, INGEST_CMD_STATUS, "status", argc,
                             argv);

    if (rc == 0) {
        ingest_cmd_status_help(stdout);
        ingest_config_free(&conf);
        return INGEST_EXIT_OK;
    }

    if (rc < 0 || rc != argc || conf.store == NULL) {
        if (rc > 0) {
            fprintf(stderr, INGEST_PROGRAM " status: %s\nTry '"
                    INGEST_PROGRAM " status --help'.\n",
                    rc != argc ? "no operands are taken"
                               : "--store DIR is required");
        }

        ingest_config_free(&conf);
        return INGEST_EXIT_USAGE;
    }

    keep = ingest_keep_until(&conf, &until, msg, sizeof(msg));

    if (keep < 0) {
        fprintf(stderr, INGEST_PROGRAM " status: %s\nTry '"
                INGEST_PROGRAM " status --help'.\n", msg);
        ingest_config_free(&conf);
        return INGEST_EXIT_USAGE;
    }

    ingest_err_reset(&err);

    st = calloc(1, sizeof(ingest_status_t));

    if (st == NULL || ingest_store_open(&store, conf.store, &err) != 0) {
        fprintf(stderr, INGEST_PROGRAM " status: %s\n",
                st ? err.msg : "out of memory");
        free(st);
        ingest_config_free(&conf);
        return INGEST_EXIT_FAILED;
    }

    rc = ingest_live_read(&store, &live);
    if (rc != 1) {
        live.have = 0;
    }

    (void) ingest_events_replay(store.dir_fd, ingest_status_line, st);

    running = ingest_watch_running(&store);

    /* the institute's suspension is an alarm while it lasts */
    if (ingest_suspension_read(&store, &sus) == 1 && sus.suspended) {
        (void) snprintf(msg, sizeof(msg), "publication suspended (%s)%s%s",
                        sus.source[0] ? sus.source : "?",
                        sus.reason[0] ? ": " : "", sus.reason);
        ingest_alarm_set(st, "suspended", sus.since, msg);
    }

    ingest_store_close(&store);

    now = ingest_wall();

    if (rc < 0) {
        ingest_alarm_set(st, "current_invalid", 0, "current names no "
                         "readable snapshot");
    }

    if (st->last_publish > 0 && now - st->last_publish > conf.stale_period)
    {
        (void) snprintf(msg, sizeof(msg), "no new corte for %.0f minutes "
                        "(period %.0f s)", (now - st->last_publish) / 60,
                        conf.stale_period);
        ingest_alarm_set(st, "stale", st->last_publish + conf.stale_period,
                         msg);
    }

    /* after --keep-until the publication is over: no watch is fine */
    if (!running && keep == 1) {
        (void) snprintf(msg, sizeof(msg), "no prep-ingest watch runs on "
                        "this store, and the publication lasts until %s "
                        "(--keep-until)", conf.keep_until);
        ingest_alarm_set(st, "watch_not_running", 0, msg);

    } else if (!running && conf.keep_until == NULL) {
        ingest_alarm_set(st, "watch_not_running", 0, "no prep-ingest watch "
                         "runs on this store");
    }

    nginx_rc = 0;
    generation = 0;
    served[0] = '\0';
    nginx_err[0] = '\0';

    if (conf.control != NULL) {
        nginx_rc = ingest_control_live(conf.control, conf.reload_timeout,
                                       served, sizeof(served), &generation,
                                       nginx_err, sizeof(nginx_err));

        if (nginx_rc != 0) {
            (void) snprintf(msg, sizeof(msg), "nginx cannot be asked: %.400s",
                            nginx_err);
            ingest_alarm_set(st, "nginx", 0, msg);

        } else if (live.have && strcmp(served, live.name) != 0) {
            (void) snprintf(msg, sizeof(msg), "nginx serves %s, current "
                            "is %s", served[0] ? served : "nothing",
                            live.name);
            ingest_alarm_set(st, "nginx", 0, msg);
        }
    }

    if (conf.json) {
        ingest_status_json(&conf, &live, st, running, nginx_rc, served,
                           generation, nginx_err);

    } else {
        ingest_status_text(&conf, &live, st, running, nginx_rc, served,
                           generation, nginx_err);
    }

    rc = st->nalarms > 0 ? INGEST_EXIT_ALARM : INGEST_EXIT_OK;

    free(st);
    ingest_config_free(&conf);

    return rc;
}
