/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-ingest suspend and prep-ingest resume: the institute's right to
 * interrupt a publisher.  The state lives in the store (survives restarts
 * of nginx and of the daemon), under the store's lock; packages keep
 * being published into the store meanwhile, so resume shows the latest
 * corte at once.
 */


#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ingest_cmd.h"
#include "daemon/ingest_daemon.h"
#include "ops/ingest_notice.h"


static const char  ingest_suspend_help[] =
"NAME\n"
"    prep-ingest suspend - answer the institute's notice on every path\n"
"    prep-ingest resume  - publish the latest corte again\n"
"\n"
"SYNOPSIS\n"
"    prep-ingest suspend --store DIR [--control SOCKET] [--notice FILE.html]\n"
"                        [--reason TEXT] [--after-publish CMD]\n"
"    prep-ingest resume  --store DIR [--control SOCKET] [--reason TEXT]\n"
"                        [--after-publish CMD]\n"
"\n"
"DESCRIPTION\n"
"    suspend writes STORE/notice.html (the --notice file, checked: UTF-8\n"
"    HTML of at most 1 MB; without it nginx answers a built-in notice in\n"
"    Spanish) and STORE/suspension.json, each atomically, and tells nginx\n"
"    through the control socket.  From then on every request of a\n"
"    prep_serve location is answered 503 with the notice, Retry-After,\n"
"    Cache-Control: public, max-age=10, X-PREP-Corte naming the last\n"
"    corte and X-PREP-Status: suspended; the control and status locations\n"
"    show the suspension.  nginx reads the state whenever it loads\n"
"    current (start, nginx -s reload, POST /reload), so it survives\n"
"    restarts.  A watch on the store goes on validating and publishing\n"
"    packages; resume makes the latest one visible at once.\n"
"\n"
"    Both are lines of STORE/events.jsonl (\"suspend\", \"resume\": who,\n"
"    why, the notice's SHA-256), and both run the --after-publish hook\n"
"    with PREP_EVENT=suspend or resume (and PREP_CORTE_ID, PREP_CORTE,\n"
"    PREP_SNAPSHOT, PREP_STORE, PREP_NOTICE_SHA256), retried as --hook-\n"
"    retries says, so the CDN is purged.\n"
"\n"
"    The institute can suspend by itself: a notice dropped into the drop\n"
"    folder as AVISO.html (see watch --notice-name) is applied as suspend.\n"
"\n"
"OPTIONS\n";

static const char  ingest_suspend_help_end[] =
"\n"
"EXIT STATUS\n"
"    0   the state is written (and nginx shows it, with --control)\n"
"    1   it could not be written, or nginx does not show it yet\n"
"    64  bad command line, or a notice that is not UTF-8 HTML <= 1 MB\n"
"\n"
"EXAMPLES\n"
"    prep-ingest suspend --store /var/lib/prep/store \\\n"
"        --control /run/prep/control.sock --notice aviso.html \\\n"
"        --reason \"oficio INE/DEOE/123\"\n"
"    prep-ingest resume --store /var/lib/prep/store \\\n"
"        --control /run/prep/control.sock\n";


void
ingest_cmd_suspend_help(FILE *out)
{
    fputs(ingest_suspend_help, out);
    ingest_config_help(out, INGEST_CMD_SUSPEND);
    fputs(ingest_suspend_help_end, out);
}


static int
ingest_cmd_suspension(int argc, char **argv, int suspend)
{
    int                   rc, live;
    char                 *notice;
    char                  msg[1024];
    const char           *name;
    ingest_err_t          err;
    ingest_store_t        store;
    ingest_config_t       conf;
    ingest_events_t       log;
    ingest_suspend_req_t  req;

    name = suspend ? "suspend" : "resume";
    notice = NULL;

    ingest_config_init(&conf);

    rc = ingest_config_parse(&conf, INGEST_CMD_SUSPEND, name, argc, argv);

    if (rc == 0) {
        ingest_cmd_suspend_help(stdout);
        ingest_config_free(&conf);
        return INGEST_EXIT_OK;
    }

    if (rc < 0 || rc != argc || conf.store == NULL
        || (!suspend && conf.notice != NULL))
    {
        if (rc > 0) {
            fprintf(stderr, INGEST_PROGRAM " %s: %s\nTry '" INGEST_PROGRAM
                    " %s --help'.\n", name,
                    rc != argc ? "no operands are taken"
                    : conf.store == NULL ? "--store DIR is required"
                    : "resume takes no --notice", name);
        }

        ingest_config_free(&conf);
        return INGEST_EXIT_USAGE;
    }

    memset(&req, 0, sizeof(req));
    req.suspend = suspend;
    req.source = "command";
    req.reason = conf.reason;

    if (conf.notice != NULL) {
        if (ingest_notice_load(AT_FDCWD, conf.notice, &notice,
                               &req.notice_len, msg, sizeof(msg))
            != 0)
        {
            fprintf(stderr, INGEST_PROGRAM " %s: --notice %s\n", name, msg);
            ingest_config_free(&conf);
            return INGEST_EXIT_USAGE;
        }

        req.notice = notice;
    }

    ingest_err_reset(&err);
    log.fd = -1;
    log.on_alarm = NULL;

    if (ingest_store_open(&store, conf.store, &err) != 0
        || ingest_store_lock(&store, &err) != 0)
    {
        fprintf(stderr, INGEST_PROGRAM " %s: %s\n", name, err.msg);
        rc = INGEST_EXIT_FAILED;
        goto done;
    }

    if (ingest_events_open(&log, store.dir_fd, conf.store, 0) != 0) {
        fprintf(stderr, INGEST_PROGRAM " %s: %s/" INGEST_EVENTS_FILE
                ": cannot be opened\n", name, conf.store);
    }

    msg[0] = '\0';

    if (ingest_suspend_apply(&store, &conf, &log, &req, &live, msg,
                             sizeof(msg))
        != 0)
    {
        fprintf(stderr, INGEST_PROGRAM " %s: %s\n", name, msg);
        rc = INGEST_EXIT_FAILED;
        goto done;
    }

    printf("publication %s%s\n", suspend ? "suspended" : "resumed",
           live == 1 ? "; nginx shows it" : "");

    if (live == 0) {
        fprintf(stderr, INGEST_PROGRAM " %s: %s\n", name, msg);
        rc = INGEST_EXIT_FAILED;
        goto done;
    }

    rc = INGEST_EXIT_OK;

done:

    ingest_events_close(&log);
    ingest_store_close(&store);
    ingest_config_free(&conf);
    free(notice);

    return rc;
}


int
ingest_cmd_suspend(int argc, char **argv)
{
    return ingest_cmd_suspension(argc, argv, 1);
}


int
ingest_cmd_resume(int argc, char **argv)
{
    return ingest_cmd_suspension(argc, argv, 0);
}
