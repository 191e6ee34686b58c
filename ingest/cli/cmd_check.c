/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-ingest check: everything watch would check, publishing nothing:
 * the publication every command shares (daemon/publication.c) as a dry
 * run.  The snapshot is built (the corte time needs the CSVs inside the
 * zips, read back from it) into an unnamed temp file that vanishes on
 * exit.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/ingest_cmd.h"
#include "cli/ingest_config.h"
#include "store/ingest_events.h"
#include "store/ingest_files.h"
#include "package/ingest_validate.h"
#include "daemon/ingest_publication.h"


static const char  ingest_check_help[] =
"NAME\n"
"    prep-ingest check - validate a package without publishing it\n"
"\n"
"SYNOPSIS\n"
"    prep-ingest check [--store DIR] [OPTION]... PACKAGE.tar.gz\n"
"\n"
"DESCRIPTION\n"
"    Checks PACKAGE.tar.gz exactly as prep-ingest watch would: the gzip\n"
"    stream to its end, every entry, the corte time, and the sidecar\n"
"    PACKAGE.tar.gz.sha256 when it exists next to the package.  With\n"
"    --store it also compares the corte with the live one and says\n"
"    what watch would do.  Nothing is written anywhere but a temporary\n"
"    file in $TMPDIR (or /tmp), gone when check ends.\n"
"\n"
"OPTIONS\n";

static const char  ingest_check_help_end[] =
"\n"
"OUTPUT\n"
"    On success, one line on standard output:\n"
"        ok PACKAGE: corte 20240603_0015 (2024-06-03T00:15:00-05:00),\n"
"        2,458 files, 46.9 MB, sha256 <64 hex>[; what watch would do]\n"
"    otherwise one line on standard error:\n"
"        prep-ingest: rejected PACKAGE: REASON: MESSAGE\n"
"    REASON is one of:\n";

static const char  ingest_check_help_tail[] =
"\n"
"EXIT STATUS\n"
"    0   the package is good (with --store: watch would publish it, or\n"
"        it is the live package already)\n"
"    1   operational failure (the package cannot be read, I/O)\n"
"    2   the package is rejected\n"
"    64  bad command line\n"
"\n"
"EXAMPLES\n"
"    prep-ingest check 20240603_0015_PREP_QROO.tar.gz\n"
"    prep-ingest check --store /var/lib/prep/store PKG.tar.gz\n";


void
ingest_cmd_check_help(FILE *out)
{
    fputs(ingest_check_help, out);
    ingest_config_help(out, INGEST_CMD_CHECK);
    fputs(ingest_check_help_end, out);
    ingest_cmd_print_reasons(out, "        ", 1);
    fputs(ingest_check_help_tail, out);
}


static int
ingest_check_open(const char *path, ingest_err_t *err)
{
    int          fd;
    struct stat  sb;

    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return ingest_fail_errno(err, errno, "opening the package");
    }

    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        (void) close(fd);
        return ingest_fail(err, INGEST_NOT_REGULAR, "not a regular file");
    }

    (void) fcntl(fd, F_SETFL, 0);

    return fd;
}


/* the sidecar next to the package, if any */
static int
ingest_check_sidecar(const char *path, const ingest_config_t *conf,
    const uint8_t sha[PREP_SHA256_LEN], ingest_err_t *err)
{
    int                dir;
    char               msg[INGEST_ERRLEN], *copy, *base;
    uint8_t            want[PREP_SHA256_LEN];
    ingest_sidecar_e   rc;

    copy = strdup(path);
    if (copy == NULL) {
        return ingest_fail(err, INGEST_NOMEM, "out of memory");
    }

    base = strrchr(copy, '/');

    if (base == NULL) {
        dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        base = copy;

    } else {
        *base++ = '\0';
        dir = open(copy[0] ? copy : "/", O_RDONLY | O_DIRECTORY
                                         | O_CLOEXEC);
    }

    if (dir < 0) {
        free(copy);
        return ingest_fail_errno(err, errno, "opening the package's "
                                 "folder");
    }

    rc = ingest_sidecar_read(dir, base, want, NULL, msg, sizeof(msg));
    (void) close(dir);
    free(copy);

    switch (rc) {
    case INGEST_SIDECAR_INVALID:
        return ingest_fail(err, INGEST_SHA256_INVALID, "%s", msg);

    case INGEST_SIDECAR_ABSENT:
        if (conf->require_sha256) {
            return ingest_fail(err, INGEST_SHA256_MISSING, "no sidecar "
                               "PACKAGE" INGEST_SIDECAR_SUFFIX
                               " (--require-sha256)");
        }
        return 0;

    case INGEST_SIDECAR_OK:
        if (memcmp(want, sha, PREP_SHA256_LEN) != 0) {
            return ingest_fail(err, INGEST_SHA256_MISMATCH, "the sidecar "
                               "names another SHA-256");
        }
        return 0;
    }

    return 0;
}


typedef struct {
    const char             *path;
    const ingest_config_t  *conf;
    int                     store_failed;
    ingest_err_t            store_err;
} ingest_check_t;


/*
 * The sidecar, then the store that could not be opened: reported in
 * that order, after the package itself and before the decision.
 */
static ingest_step_e
ingest_check_validated(ingest_publication_t *pub, void *data,
    ingest_err_t *err)
{
    ingest_check_t  *ck;

    ck = data;

    if (ingest_check_sidecar(ck->path, ck->conf, pub->vo->res.archive.sha256,
                             err)
        != 0)
    {
        return ingest_step_of(err);
    }

    if (ck->store_failed) {
        *err = ck->store_err;
        return INGEST_STEP_FAIL;
    }

    return INGEST_STEP_CONTINUE;
}


/* what watch (or publish) would do, from the publication's dry run */
static void
ingest_check_note(const ingest_publication_t *pub, char *note, size_t size)
{
    if (pub->store == NULL) {
        note[0] = '\0';

    } else if (!pub->live->have) {
        (void) snprintf(note, size, "; the store has no live corte: watch "
                        "would publish it");

    } else if (pub->outcome == INGEST_PUB_LIVE) {
        (void) snprintf(note, size, "; it is the live package: nothing to "
                        "do");

    } else {
        (void) snprintf(note, size, "; newer than the live corte %s: "
                        "watch would publish it", pub->live->corte_id);
    }
}


int
ingest_cmd_check(int argc, char **argv)
{
    int                          rc, pkg, tmp, dir;
    char                         q[INGEST_NAME_QUOTED], note[256], hex[65];
    char                         files[32], raw[32];
    char                         final[INGEST_SNAP_NAME_LEN];
    const char                  *path, *tmpdir, *base;
    ingest_err_t                 err;
    ingest_step_e                step;
    ingest_live_t                live;
    ingest_check_t               ck;
    ingest_store_t               st;
    ingest_config_t              conf;
    ingest_validate_out_t        vo;
    ingest_publication_t         pub;
    ingest_publication_policy_t  policy;

    ingest_config_init(&conf);

    rc = ingest_config_parse(&conf, INGEST_CMD_CHECK, "check", argc, argv);

    if (rc == 0) {
        ingest_cmd_check_help(stdout);
        ingest_config_free(&conf);
        return INGEST_EXIT_OK;
    }

    if (rc < 0 || rc + 1 != argc) {
        if (rc > 0) {
            fprintf(stderr, INGEST_PROGRAM " check: %s\nTry '"
                    INGEST_PROGRAM " check --help'.\n",
                    rc == argc ? "no package given" : "one package at a "
                                                      "time");
        }

        ingest_config_free(&conf);
        return INGEST_EXIT_USAGE;
    }

    path = argv[rc];
    memset(&vo, 0, sizeof(ingest_validate_out_t));
    ingest_err_reset(&err);
    note[0] = '\0';
    tmp = -1;
    dir = -1;

    tmpdir = getenv("TMPDIR");
    if (tmpdir == NULL || tmpdir[0] == '\0') {
        tmpdir = "/tmp";
    }

    pkg = ingest_check_open(path, &err);

    if (pkg >= 0) {
        dir = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        tmp = dir < 0 ? -1 : openat(dir, ".", O_TMPFILE | O_RDWR
                                             | O_CLOEXEC, 0600);

        if (tmp < 0) {
            (void) ingest_fail_errno(&err, errno, "a temporary file in %s",
                                     tmpdir);
        }
    }

    /* a package or temp file that cannot be opened */
    step = ingest_step_of(&err);

    if (tmp >= 0) {
        base = strrchr(path, '/');

        /* the publication every command shares, as a dry run: decided
         * against the live corte, nothing written to the store */
        memset(&ck, 0, sizeof(ingest_check_t));
        ck.path = path;
        ck.conf = &conf;
        ingest_err_reset(&ck.store_err);

        if (conf.store != NULL
            && ingest_store_open(&st, conf.store, &ck.store_err) != 0)
        {
            ck.store_failed = 1;
        }

        memset(&policy, 0, sizeof(ingest_publication_policy_t));
        policy.dry_run = 1;
        policy.validated = ingest_check_validated;
        policy.data = &ck;

        memset(&pub, 0, sizeof(ingest_publication_t));
        pub.store = conf.store != NULL && !ck.store_failed ? &st : NULL;
        pub.pkg_fd = pkg;
        pub.package_name = base ? base + 1 : path;
        pub.limits = &conf.limits;
        pub.gzip_level = 0;
        pub.lock_fd = -1;
        pub.tmp_fd = &tmp;
        pub.tmp = NULL;
        pub.scratch_fd = dir;
        pub.live = &live;
        pub.vo = &vo;
        pub.final = final;

        step = ingest_publication_run(&pub, &policy, &err);

        if (step == INGEST_STEP_CONTINUE) {
            ingest_check_note(&pub, note, sizeof(note));
        }

        if (conf.store != NULL) {
            ingest_store_close(&st);
        }
    }

    if (tmp >= 0) {
        (void) close(tmp);
    }

    if (dir >= 0) {
        (void) close(dir);
    }

    if (pkg >= 0) {
        (void) close(pkg);
    }

    ingest_quote(q, sizeof(q), path, strlen(path));

    if (step == INGEST_STEP_CONTINUE) {
        printf("ok %s: corte %s (%s), %s files, %s, sha256 %s%s\n", q,
               vo.res.corte.id, vo.res.corte.iso8601,
               ingest_fmt_count(files, sizeof(files), vo.res.files),
               ingest_fmt_bytes(raw, sizeof(raw), vo.res.raw_bytes),
               ingest_sha256_hex(hex, vo.res.archive.sha256), note);
        ingest_config_free(&conf);
        return INGEST_EXIT_OK;
    }

    fprintf(stderr, INGEST_PROGRAM ": %s %s: %s: %s\n",
            ingest_reason_rejects(err.reason) ? "rejected" : "failed", q,
            ingest_reason_code(err.reason), err.msg);

    ingest_config_free(&conf);

    return ingest_step_exit(step, &err);
}
