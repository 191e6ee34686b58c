/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-ingest: PREP packages in, ngx_prep snapshots out.  Only main()
 * lives here, so the unit tests can link everything else.
 */


#include <archive.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include <openssl/opensslv.h>
#include <zlib.h>

#include "cli/ingest_cmd.h"
#include "common/ingest_reasons.h"


static const char  ingest_help[] =
"NAME\n"
"    prep-ingest - turn PREP packages into snapshots served by ngx_prep\n"
"\n"
"SYNOPSIS\n"
"    prep-ingest watch --drop DIR --store DIR [--control SOCKET]\n"
"                      [--config FILE] [OPTION]...\n"
"    prep-ingest publish --store DIR [OPTION]... PACKAGE.tar.gz\n"
"    prep-ingest check [--store DIR] [OPTION]... PACKAGE.tar.gz\n"
"    prep-ingest status --store DIR [--control SOCKET] [--json]\n"
"    prep-ingest rollback --store DIR [--control SOCKET] [--to SNAPSHOT]\n"
"    prep-ingest COMMAND --help\n"
"    prep-ingest --help | --version\n"
"\n"
"DESCRIPTION\n"
"    An electoral institute publishes its preliminary results (PREP) as\n"
"    a \"paquete de difusion\" every 15 minutes: a .tar.gz holding a web\n"
"    site, its JSON and CSV data.  prep-ingest validates a package and\n"
"    writes it as one immutable snapshot file, stamped with the package's\n"
"    corte time, into a store that the ngx_prep nginx module serves.\n"
"    The switch to a new snapshot is atomic: a visitor sees one corte or\n"
"    the next, never a mix.\n"
"\n"
"COMMANDS\n"
"    watch       the daemon: take every package dropped in a folder (by\n"
"                SFTP, scp, rsync), reject the bad ones into quarantine,\n"
"                publish the good ones and tell nginx; every decision is\n"
"                a line of STORE/events.jsonl\n"
"    publish     validate a package, write its snapshot, make it current\n"
"    check       validate a package without publishing it\n"
"    status      the live corte, its age, the last decision, alarms\n"
"    rollback    make the previous corte live again (logged)\n"
"\n"
"OPTIONS\n"
"    -h, --help      print this help; with a command, that command's\n"
"    --version       print the version and the libraries used\n"
"\n"
"EXIT STATUS\n"
"    0   success\n"
"    1   operational failure (I/O, memory, store)\n"
"    2   the package was rejected (see the command's help for reasons)\n"
"    3   status: an alarm is raised\n"
"    64  bad command line\n"
"\n"
"FILES\n"
"    STORE/current        symbolic link to the current snapshot\n"
"    STORE/cortes/*.snap  snapshots, named <corte id>-<12 hex>.snap\n"
"    STORE/events.jsonl   the events log (docs/EVENTS.md)\n"
"    STORE/packages/      published packages (watch)\n"
"    STORE/quarantine/    rejected inputs with .reason files (watch)\n"
"\n"
"EXAMPLES\n"
"    prep-ingest watch --config /etc/prep-ingest.conf\n"
"    prep-ingest publish --store /srv/prep 20240603_0015_PREP_QROO.tar.gz\n"
"    prep-ingest status --store /srv/prep\n"
"    prep-ingest watch --help\n"
"\n"
"SEE ALSO\n"
"    prep-ingest(1); docs/DESIGN.md and docs/EVENTS.md in the ngx_prep\n"
"    sources\n";


static const struct {
    const char  *name;
    int        (*run)(int argc, char **argv);
    void       (*help)(FILE *out);
} cmds[] = {
    { "watch", ingest_cmd_watch, ingest_cmd_watch_help },
    { "publish", ingest_cmd_publish, ingest_cmd_publish_help },
    { "check", ingest_cmd_check, ingest_cmd_check_help },
    { "status", ingest_cmd_status, ingest_cmd_status_help },
    { "rollback", ingest_cmd_rollback, ingest_cmd_rollback_help },
    { "suspend", ingest_cmd_suspend, ingest_cmd_suspend_help },
    { "resume", ingest_cmd_resume, ingest_cmd_suspend_help },
};


int
main(int argc, char **argv)
{
    size_t  i;

    /* libarchive converts UTF-8 names to the locale's charset; in the
     * "C" locale every name with an accent would fail to convert */
    if (setlocale(LC_CTYPE, "C.UTF-8") == NULL
        && setlocale(LC_CTYPE, "en_US.UTF-8") == NULL)
    {
        fputs(INGEST_PROGRAM ": failed: internal: no UTF-8 locale "
              "(C.UTF-8) available\n", stderr);
        return INGEST_EXIT_FAILED;
    }

    if (argc < 2) {
        fputs("Usage: " INGEST_PROGRAM " watch|publish|check|status|"
              "rollback ...\nTry '" INGEST_PROGRAM " --help'.\n", stderr);
        return INGEST_EXIT_USAGE;
    }

    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0
        || strcmp(argv[1], "help") == 0)
    {
        for (i = 0; argc > 2 && i < sizeof(cmds) / sizeof(cmds[0]); i++) {
            if (strcmp(argv[2], cmds[i].name) == 0) {
                cmds[i].help(stdout);
                return INGEST_EXIT_OK;
            }
        }

        fputs(ingest_help, stdout);

        return INGEST_EXIT_OK;
    }

    if (strcmp(argv[1], "--version") == 0) {
        printf(INGEST_PROGRAM " " INGEST_VERSION " (%s, zlib %s, %s)\n",
               archive_version_details(), zlibVersion(),
               OPENSSL_VERSION_TEXT);
        return INGEST_EXIT_OK;
    }

    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(argv[1], cmds[i].name) == 0) {
            return cmds[i].run(argc - 1, argv + 1);
        }
    }

    fprintf(stderr, INGEST_PROGRAM ": unknown command \"%s\"\n"
            "Try '" INGEST_PROGRAM " --help'.\n", argv[1]);

    return INGEST_EXIT_USAGE;
}
