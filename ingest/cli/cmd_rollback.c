/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-ingest rollback: current back to an earlier snapshot, under the
 * store's lock (a running watch waits), fully verified before the flip,
 * nginx told and asked, and a "rollback" line in the events log naming
 * who did it.  The snapshot rolled back from is left untouched.
 */


#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ingest_cmd.h"
#include "daemon/ingest_control_client.h"
#include "daemon/ingest_daemon.h"
#include "ops/ingest_window.h"


static const char  ingest_rollback_help[] =
"NAME\n"
"    prep-ingest rollback - make an earlier corte live again\n"
"\n"
"SYNOPSIS\n"
"    prep-ingest rollback --store DIR [--control SOCKET] [--to SNAPSHOT]\n"
"                         [--reason TEXT]\n"
"\n"
"DESCRIPTION\n"
"    Points STORE/current at the newest snapshot of STORE/cortes whose\n"
"    corte is older than the live one (or at --to), after verifying it\n"
"    in full, tells nginx and checks that nginx serves it.  The change\n"
"    is logged in STORE/events.jsonl (\"rollback\": from, to, the user,\n"
"    the reason).  Nothing is deleted: rolling forward again is\n"
"    \"rollback --to\" the newer snapshot.  A watch running on the store\n"
"    goes on: a package newer than the corte now live is published as\n"
"    usual.\n"
"\n"
"    A rollback never leaves nothing published: with no verified\n"
"    earlier snapshot it is refused and current is left alone.  Until\n"
"    --keep-until, retention keeps the live corte's predecessor, so\n"
"    there is always one to go back to.\n"
"\n"
"OPTIONS\n";

static const char  ingest_rollback_help_end[] =
"\n"
"EXIT STATUS\n"
"    0   the earlier corte is current (and served, with --control)\n"
"    1   no earlier snapshot (nothing would be left published), it\n"
"        does not verify, or nginx does not serve it (current has\n"
"        been changed in that last case)\n"
"    64  bad command line\n"
"\n"
"EXAMPLES\n"
"    prep-ingest rollback --store /var/lib/prep/store \\\n"
"        --control /run/prep/control.sock --reason \"wrong totals\"\n";


void
ingest_cmd_rollback_help(FILE *out)
{
    fputs(ingest_rollback_help, out);
    ingest_config_help(out, INGEST_CMD_ROLLBACK);
    fputs(ingest_rollback_help_end, out);
}


/* the newest snapshot older than the live corte, verified */
static int
ingest_rollback_pick(ingest_store_t *st, const ingest_live_t *live,
    char *name, size_t size)
{
    int                        found;
    DIR                       *dir;
    char                       msg[PREP_ERRLEN];
    size_t                     len;
    int64_t                    best;
    ingest_snapfile_t          sf;
    struct dirent             *de;
    const prep_snap_header_t  *h;

    dir = ingest_dir_open(st->cortes_fd);
    if (dir == NULL) {
        return -1;
    }

    found = 0;
    best = INT64_MIN;

    while ((de = readdir(dir)) != NULL) {
        len = strlen(de->d_name);

        if (de->d_name[0] == '.' || len >= size
            || !ingest_has_suffix(de->d_name, ".snap"))
        {
            continue;
        }

        if (ingest_snapfile_open(&sf, st->cortes_fd, de->d_name, 0, msg,
                                 sizeof(msg))
            != PREP_SNAP_OK)
        {
            ingest_snapfile_close(&sf);
            continue;
        }

        h = sf.snap.header;

        if (h->corte_time < live->corte_time && h->corte_time > best) {
            /* the data too: a damaged one is passed over */
            ingest_snapfile_close(&sf);

            if (ingest_snapfile_open(&sf, st->cortes_fd, de->d_name,
                                     PREP_SNAP_VERIFY_DATA, msg,
                                     sizeof(msg))
                == PREP_SNAP_OK)
            {
                best = sf.snap.header->corte_time;
                memcpy(name, de->d_name, len + 1);
                found = 1;
            }
        }

        ingest_snapfile_close(&sf);
    }

    (void) closedir(dir);

    return found ? 0 : -1;
}


static int ingest_rollback_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;


static int
ingest_rollback_fail(const char *fmt, ...)
{
    va_list  args;

    fputs(INGEST_PROGRAM " rollback: ", stderr);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);

    return INGEST_EXIT_FAILED;
}


int
ingest_cmd_rollback(int argc, char **argv)
{
    int                rc, refused, served, keep;
    double             until;
    char               to[INGEST_SNAP_NAME_LEN], msg[PREP_ERRLEN];
    char               error[INGEST_CONTROL_ERRLEN], user[64];
    ingest_ev_t        ev;
    ingest_err_t       err;
    ingest_live_t      from, target;
    ingest_store_t     store;
    struct passwd     *pw;
    unsigned long      generation;
    ingest_config_t    conf;
    ingest_events_t    log;
    ingest_snapfile_t  sf;

    ingest_config_init(&conf);

    rc = ingest_config_parse(&conf, INGEST_CMD_ROLLBACK, "rollback", argc,
                             argv);

    if (rc == 0) {
        ingest_cmd_rollback_help(stdout);
        ingest_config_free(&conf);
        return INGEST_EXIT_OK;
    }

    if (rc < 0 || rc != argc || conf.store == NULL) {
        if (rc > 0) {
            fprintf(stderr, INGEST_PROGRAM " rollback: %s\nTry '"
                    INGEST_PROGRAM " rollback --help'.\n",
                    rc != argc ? "no operands are taken"
                               : "--store DIR is required");
        }

        ingest_config_free(&conf);
        return INGEST_EXIT_USAGE;
    }

    keep = ingest_keep_until(&conf, &until, msg, sizeof(msg));

    if (keep < 0) {
        fprintf(stderr, INGEST_PROGRAM " rollback: %s\nTry '"
                INGEST_PROGRAM " rollback --help'.\n", msg);
        ingest_config_free(&conf);
        return INGEST_EXIT_USAGE;
    }

    ingest_err_reset(&err);
    log.fd = -1;

    if (ingest_store_open(&store, conf.store, &err) != 0
        || ingest_store_lock(&store, &err) != 0)
    {
        rc = ingest_rollback_fail("%s", err.msg);
        goto done;
    }

    if (ingest_live_read(&store, &from) != 1) {
        rc = ingest_rollback_fail("%s has no readable current corte",
                                  conf.store);
        goto done;
    }

    if (conf.to != NULL) {
        if (strchr(conf.to, '/') != NULL || conf.to[0] == '.'
            || strlen(conf.to) >= sizeof(to))
        {
            rc = ingest_rollback_fail("--to %s: not a name in %s/cortes",
                                      conf.to, conf.store);
            goto done;
        }

        (void) snprintf(to, sizeof(to), "%s", conf.to);

        if (ingest_snapfile_open(&sf, store.cortes_fd, to,
                                 PREP_SNAP_VERIFY_DATA, msg, sizeof(msg))
            != PREP_SNAP_OK)
        {
            ingest_snapfile_close(&sf);
            rc = ingest_rollback_fail("--to %s: %s", to, msg);
            goto done;
        }

        ingest_snapfile_close(&sf);

    } else if (ingest_rollback_pick(&store, &from, to, sizeof(to)) != 0) {
        rc = ingest_rollback_fail("refused: no verified snapshot older "
                                  "than the live corte %s in %s/cortes, "
                                  "and a rollback must not leave nothing "
                                  "published%s; corte %s stays live",
                                  from.corte_id, conf.store,
                                  keep ? " before --keep-until" : "",
                                  from.corte_id);
        goto done;
    }

    if (strcmp(to, from.name) == 0) {
        rc = ingest_rollback_fail("%s is live already", to);
        goto done;
    }

    if (ingest_store_flip(&store, to, &err) != 0) {
        rc = ingest_rollback_fail("%s", err.msg);
        goto done;
    }

    (void) ingest_live_read(&store, &target);

    served = -1;
    error[0] = '\0';
    generation = 0;

    if (conf.control != NULL) {
        served = ingest_control_publish(conf.control, to,
                                        conf.reload_timeout, &generation,
                                        &refused, error, sizeof(error))
                 == 0;
    }

    pw = getpwuid(getuid());
    (void) snprintf(user, sizeof(user), "%s", pw ? pw->pw_name : "?");

    if (ingest_events_open(&log, store.dir_fd, conf.store, 0) == 0) {
        ingest_ev_begin(&ev, "rollback", "warning");
        ingest_ev_str(&ev, "from", from.name);
        ingest_ev_str(&ev, "from_corte_id", from.corte_id);
        ingest_ev_str(&ev, "to", to);
        ingest_ev_str(&ev, "to_corte_id", target.corte_id);
        ingest_ev_str(&ev, "corte", target.iso);
        ingest_ev_uint(&ev, "uid", (uint64_t) getuid());
        ingest_ev_str(&ev, "user", user);
        ingest_ev_str(&ev, "reason", conf.reason);

        if (served < 0) {
            ingest_ev_null(&ev, "live");

        } else {
            ingest_ev_bool(&ev, "live", served);
        }

        if (served == 0) {
            ingest_ev_str(&ev, "reload_error", error);
        }

        (void) ingest_ev_write(&log, &ev, "rolled back from corte %s to "
                               "%s by %s%s%s", from.corte_id,
                               target.corte_id, user,
                               conf.reason ? ": " : "",
                               conf.reason ? conf.reason : "");
        ingest_events_close(&log);
    }

    printf("rolled back from %s (%s) to %s (%s)%s\n", from.corte_id,
           from.name, target.corte_id, to,
           served == 1 ? "; nginx serves it" : "");

    if (served == 0) {
        rc = ingest_rollback_fail("current points to %s, but nginx does "
                                  "not serve it yet: %s", to, error);
        goto done;
    }

    rc = INGEST_EXIT_OK;

done:

    ingest_store_close(&store);
    ingest_config_free(&conf);

    return rc;
}
