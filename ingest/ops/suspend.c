/*
 * Copyright (C) the ngx_prep authors
 *
 * Suspend and resume: the store, the events log, nginx and the hook.
 * See ingest_notice.h.
 */


#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ingest_jsonget.h"
#include "daemon/ingest_control_client.h"
#include "ops/ingest_notice.h"
#include "ops/ingest_run.h"


/* POST /reload (the module reads the state with current), then GET / */
static int
ingest_suspend_tell(const ingest_config_t *conf, int suspend, char *err,
    size_t size)
{
    int                    rc;
    ingest_json_val_t      v;
    ingest_control_resp_t  r;

    memset(&r, 0, sizeof(r));

    if (ingest_control_request(conf->control, "POST", "/reload",
                               conf->reload_timeout, &r) != 0)
    {
        (void) snprintf(err, size, "POST /reload: %.400s", r.err);
        ingest_control_resp_free(&r);
        return -1;
    }

    /* 422 no_current: nothing published, the state is read all the same */
    if (r.status != 200 && r.status != 422) {
        (void) snprintf(err, size, "POST /reload answered %d", r.status);
        ingest_control_resp_free(&r);
        return -1;
    }

    ingest_control_resp_free(&r);
    memset(&r, 0, sizeof(r));

    if (ingest_control_request(conf->control, "GET", "/",
                               conf->reload_timeout, &r) != 0
        || r.status != 200)
    {
        (void) snprintf(err, size, "GET /: %.400s",
                        r.status ? "not 200" : r.err);
        ingest_control_resp_free(&r);
        return -1;
    }

    rc = ingest_json_get(r.body, r.body_len, "suspension.suspended", &v);

    if (rc != 1
        || v.type != (suspend ? INGEST_JSON_TRUE : INGEST_JSON_FALSE))
    {
        (void) snprintf(err, size, "nginx does not report the %s (an "
                        "older module?)", suspend ? "suspension"
                                                  : "resumption");
        ingest_control_resp_free(&r);
        return -1;
    }

    ingest_control_resp_free(&r);

    return 0;
}


static void
ingest_suspend_hook(ingest_store_t *st, const ingest_config_t *conf,
    const ingest_suspend_req_t *req, const ingest_suspension_t *s,
    ingest_events_t *log)
{
    int            rc;
    char           env[8][600];
    unsigned       attempts;
    ingest_ev_t    ev;
    ingest_run_t   run;
    ingest_live_t  live;

    if (conf->after_publish == NULL) {
        return;
    }

    memset(&run, 0, sizeof(run));
    run.cmd = conf->after_publish;
    run.retries = (unsigned) conf->hook_retries;
    run.delay = conf->hook_retry_delay;
    run.timeout = conf->hook_timeout;

    (void) ingest_run_env(&run, env[0], sizeof(env[0]), "PREP_EVENT",
                          req->suspend ? "suspend" : "resume");
    (void) ingest_run_env(&run, env[1], sizeof(env[1]), "PREP_STORE",
                          conf->store);
    (void) ingest_run_env(&run, env[2], sizeof(env[2]),
                          "PREP_NOTICE_SHA256", s->sha256);

    if (ingest_live_read(st, &live) == 1) {
        (void) ingest_run_env(&run, env[3], sizeof(env[3]), "PREP_CORTE_ID",
                              live.corte_id);
        (void) ingest_run_env(&run, env[4], sizeof(env[4]), "PREP_CORTE",
                              live.iso);
        (void) ingest_run_env(&run, env[5], sizeof(env[5]), "PREP_SNAPSHOT",
                              live.name);
    }

    if (req->detached_hook) {
        (void) ingest_run_detached(&run);
        return;
    }

    rc = ingest_run_retry(&run, &attempts);

    /* not "hook": that one ends the hook_failed alarm of a corte */
    ingest_ev_begin(&ev, "suspend_hook", rc == 0 ? "info" : "warning");
    ingest_ev_str(&ev, "for", req->suspend ? "suspend" : "resume");
    ingest_ev_uint(&ev, "attempt", attempts);
    ingest_ev_bool(&ev, "ok", rc == 0);
    ingest_ev_int(&ev, "exit", rc);
    (void) ingest_ev_write(log, &ev, "after-publish hook for %s %s after "
                           "%u attempt(s)", req->suspend ? "suspend"
                                                         : "resume",
                           rc == 0 ? "succeeded" : "failed", attempts);
}


int
ingest_suspend_apply(ingest_store_t *st, const ingest_config_t *conf,
    ingest_events_t *log, const ingest_suspend_req_t *req, int *live,
    char *msg, size_t size)
{
    int                  rc;
    char                 err[INGEST_CONTROL_ERRLEN];
    ingest_ev_t          ev;
    ingest_live_t        corte;
    struct passwd       *pw;
    ingest_suspension_t  s;

    memset(&s, 0, sizeof(s));
    s.suspended = req->suspend;
    (void) snprintf(s.reason, sizeof(s.reason), "%s",
                    req->reason ? req->reason : "");
    (void) snprintf(s.source, sizeof(s.source), "%s", req->source);
    pw = getpwuid(getuid());
    (void) snprintf(s.by, sizeof(s.by), "%s", pw ? pw->pw_name : "?");

    rc = ingest_suspension_write(st, &s, req->notice, req->notice_len, msg,
                                 size);
    if (rc != 0) {
        return -1;
    }

    *live = -1;
    err[0] = '\0';

    if (conf->control != NULL) {
        *live = ingest_suspend_tell(conf, req->suspend, err, sizeof(err))
                == 0;
    }

    if (ingest_live_read(st, &corte) != 1) {
        corte.corte_id[0] = '\0';
    }

    ingest_ev_begin(&ev, req->suspend ? "suspend" : "resume",
                    req->suspend ? "warning" : "info");
    ingest_ev_str(&ev, "source", req->source);

    if (req->file) {
        ingest_ev_str(&ev, "file", req->file);
    }

    ingest_ev_str(&ev, "reason", s.reason);
    ingest_ev_uint(&ev, "uid", (uint64_t) getuid());
    ingest_ev_str(&ev, "user", s.by);

    if (req->suspend) {
        if (s.sha256[0]) {
            ingest_ev_str(&ev, "notice_sha256", s.sha256);
            ingest_ev_uint(&ev, "notice_size", req->notice_len);

        } else {
            ingest_ev_null(&ev, "notice_sha256");
        }
    }

    if (corte.corte_id[0]) {
        ingest_ev_str(&ev, "live_corte_id", corte.corte_id);

    } else {
        ingest_ev_null(&ev, "live_corte_id");
    }

    if (*live < 0) {
        ingest_ev_null(&ev, "live");

    } else {
        ingest_ev_bool(&ev, "live", *live);
    }

    if (*live == 0) {
        ingest_ev_str(&ev, "reload_error", err);
    }

    (void) ingest_ev_write(log, &ev, "publication %s by %s (%s)%s%s",
                           req->suspend ? "suspended" : "resumed", s.by,
                           req->source, s.reason[0] ? ": " : "", s.reason);

    ingest_suspend_hook(st, conf, req, &s, log);

    if (*live == 0) {
        (void) snprintf(msg, size, "the state is written, but nginx does "
                        "not show it yet: %s", err);
    }

    return 0;
}
