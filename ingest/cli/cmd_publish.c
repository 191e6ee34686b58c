/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-ingest publish: one package, one snapshot, one flip of current,
 * through the publication every command shares (daemon/publication.c):
 * decided against the live corte as watch decides.  Whatever fails,
 * current keeps naming the snapshot it named before and the temp file is
 * removed.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "package/ingest_build.h"
#include "cli/ingest_cmd.h"
#include "cli/ingest_config.h"
#include "daemon/ingest_publication.h"
#include "store/ingest_store.h"


typedef struct {
    const char       *store;
    const char       *package;
    ingest_limits_t   limits;
    int               gzip_level;
    int               quiet;
    int               help;
} ingest_publish_opts_t;


typedef struct {
    ingest_publish_opts_t  *opts;
    ingest_store_t          store;
    ingest_live_t           live;
    int                     pkg_fd;
    int                     tmp_fd;
    char                    tmp_name[INGEST_PUB_TMP_LEN];
    char                    final[INGEST_SNAP_NAME_LEN];
    ingest_pub_outcome_e    outcome;
    ingest_validate_out_t   vo;
    double                  start;
} ingest_publish_t;


static const char  ingest_publish_help[] =
"NAME\n"
"    prep-ingest publish - make a PREP package the current snapshot\n"
"\n"
"SYNOPSIS\n"
"    prep-ingest publish --store DIR [OPTION]... PACKAGE.tar.gz\n"
"\n"
"DESCRIPTION\n"
"    Reads PACKAGE.tar.gz, the \"paquete de difusion\" of one corte (a\n"
"    gzip-compressed tar), as a stream and never extracts it.  Every\n"
"    entry is validated; the files are written into one immutable\n"
"    snapshot, DIR/cortes/<corte id>-<12 hex of the package SHA-256>.snap,\n"
"    which is fsynced, checked and then made current by an atomic flip\n"
"    of the DIR/current symlink.  nginx (ngx_prep) serves current.\n"
"\n"
"    The package is rejected, and DIR left as it was, when:\n"
"      - the gzip stream is not exactly one valid member (bad CRC-32 or\n"
"        length, truncated, or followed by any other data);\n"
"      - an entry is a symbolic or hard link, a device, FIFO, socket or\n"
"        sparse file;\n"
"      - a name is absolute, holds \"..\", an empty segment, a control\n"
"        character, a backslash or invalid UTF-8, or is too long or deep;\n"
"      - two entries have the same name once normalized, or a file is\n"
"        also used as a directory;\n"
"      - a limit below is exceeded;\n"
"      - the site root has no index.html.  When every entry sits under\n"
"        one top-level folder, that folder is the root;\n"
"      - the corte time is not certain.  Its sources are the package\n"
"        name (YYYYMMDD_HHMM), the date line in the first 8 lines of\n"
"        every CSV (\"2024/06/03 00:15 (UTC-5)\" or \"03/06/2024 00:15\n"
"        (UTC-5)\"), also of CSVs in .zip files and zips inside them, and\n"
"        the \"ultimoCorte\" objects of JSON files.  All must agree and at\n"
"        least one must give the UTC offset.\n"
"\n"
"    A good package is then decided against the live corte, by the rule\n"
"    prep-ingest watch follows: a newer corte (or any, when nothing\n"
"    readable is live) is published; the package that is already\n"
"    current changes nothing; an older corte is refused (older_corte),\n"
"    and so is the live corte with other content (corte_conflict): a\n"
"    published corte is never replaced.  The way back to an older corte\n"
"    is prep-ingest rollback.  A sound snapshot of the same name already\n"
"    in DIR/cortes (one published before a rollback) is kept as it is.\n"
"\n"
"    Content types come from file extensions.  Compressible files get a\n"
"    gzip variant when it is smaller than the file; when the current\n"
"    snapshot holds the same content, its gzip bytes are copied instead\n"
"    of compressing again.  Publishers of one store take turns.\n"
"\n"
"OPTIONS\n";


/* after the options of the shared table */
static const char  ingest_publish_help_output[] =
"\n"
"    SIZE is a number of bytes, optionally followed by K, M, G or T\n"
"    (binary multiples: 256M is 268435456).\n"
"\n"
"OUTPUT\n"
"    On success, one line on standard output:\n"
"        published 20240603_0015 (2024-06-03T00:15:00-05:00) 2,431 files,\n"
"        78.3 MB raw, 12.1 MB gzip (1,980 reused) in 0.84 s (verify\n"
"        0.12 s, read 0.31 s, gzip 0.35 s, fsync 0.06 s)\n"
"        -> cortes/20240603_0015-3f2a9c1b7d4e.snap\n"
"    or \"already current ...\".  On failure, one line on standard error:\n"
"        prep-ingest: rejected PACKAGE: REASON: MESSAGE\n"
"        prep-ingest: failed PACKAGE: REASON: MESSAGE\n"
"    REASON is a stable code.  A package is rejected for one of:\n";

static const char  ingest_publish_help_end[] =
"    A failure for another reason (io, nospace, nomem, store, internal)\n"
"    is not the package's fault.\n"
"\n"
"EXIT STATUS\n"
"    0   published, or already current\n"
"    1   operational failure (I/O, memory, store): worth retrying\n"
"    2   the package was rejected: retrying will not help\n"
"    64  bad command line\n"
"\n"
"FILES\n"
"    DIR/current          symbolic link to the current snapshot\n"
"    DIR/cortes/*.snap    snapshots; never modified once named\n"
"    DIR/cortes/.tmp-*    snapshots being written; those of a publisher\n"
"                         that died are removed by the next one\n"
"    DIR/.lock            flock()ed while publishing\n"
"\n"
"EXAMPLES\n"
"    Publish a corte:\n"
"        prep-ingest publish --store /srv/prep \\\n"
"            /srv/drop/20240603_0015_PREP_QROO.tar.gz\n"
"\n"
"    Check a package without publishing it where nginx looks:\n"
"        mkdir /tmp/try && prep-ingest publish --store /tmp/try PKG.tar.gz\n"
"\n"
"    Allow a package of up to 4 GiB of content:\n"
"        prep-ingest publish --store /srv/prep --max-total-size 4G \\\n"
"            --max-entry-size 1G PKG.tar.gz\n"
"\n"
"    Go back to the previous corte (publish refuses an older one):\n"
"        prep-ingest rollback --store /srv/prep\n";


void
ingest_cmd_print_reasons(FILE *out, const char *indent, int watch)
{
    int          r, last;
    size_t       col, n;
    const char  *code;

    col = 0;
    last = watch ? INGEST_REASON_COUNT : INGEST_CORTE_CONFLICT + 1;

    for (r = INGEST_NOT_GZIP; r < last; r++) {
        code = ingest_reason_code((ingest_reason_e) r);
        n = strlen(code);

        if (col > 0 && col + n + 2 > 72) {
            fputs(",\n", out);
            col = 0;

        } else if (col > 0) {
            fputs(", ", out);
            col += 2;
        }

        if (col == 0) {
            fputs(indent, out);
            col = strlen(indent);
        }

        fputs(code, out);
        col += n;
    }

    fputs(".\n", out);
}


void
ingest_cmd_publish_help(FILE *out)
{
    fputs(ingest_publish_help, out);
    ingest_config_help(out, INGEST_CMD_PUBLISH);
    fputs(ingest_publish_help_output, out);
    ingest_cmd_print_reasons(out, "        ", 0);
    fputs(ingest_publish_help_end, out);
}


static int ingest_usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;


static int
ingest_usage_error(const char *fmt, ...)
{
    va_list  args;

    fputs(INGEST_PROGRAM " publish: ", stderr);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputs("\nTry '" INGEST_PROGRAM " publish --help'.\n", stderr);

    return -1;
}


/* the shared option table (cli/config.c), as every other command */
static int
ingest_publish_parse(int argc, char **argv, ingest_publish_opts_t *o,
    ingest_config_t *cfg)
{
    int  first;

    memset(o, 0, sizeof(ingest_publish_opts_t));

    first = ingest_config_parse(cfg, INGEST_CMD_PUBLISH, "publish", argc,
                                argv);
    if (first < 0) {
        return -1;
    }

    if (first == 0) {
        o->help = 1;
        return 0;
    }

    o->store = cfg->store;
    o->limits = cfg->limits;
    o->gzip_level = cfg->gzip_level;
    o->quiet = cfg->quiet;

    if (o->store == NULL) {
        return ingest_usage_error("--store DIR is required");
    }

    if (first + 1 != argc) {
        return ingest_usage_error("%s", first == argc
                                  ? "no package given"
                                  : "one package at a time");
    }

    o->package = argv[first];

    return 0;
}


static int
ingest_open_package(const char *path, ingest_err_t *err)
{
    int          fd;
    struct stat  sb;

    /* O_NONBLOCK: opening a FIFO put in the package's place must not
     * block; it is refused below */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return ingest_fail_errno(err, errno, "opening the package");
    }

    if (fstat(fd, &sb) != 0) {
        (void) ingest_fail_errno(err, errno, "fstat");
        (void) close(fd);
        return -1;
    }

    if (!S_ISREG(sb.st_mode)) {
        (void) close(fd);
        return ingest_fail(err, INGEST_IO, "not a regular file");
    }

    if (fcntl(fd, F_SETFL, 0) != 0) {
        (void) ingest_fail_errno(err, errno, "fcntl");
        (void) close(fd);
        return -1;
    }

    return fd;
}


/*
 * The publication every command shares (daemon/publication.c), validated
 * in this process: what watch refuses (an older corte, the live corte
 * with other bytes) is refused here too, with the same reason.
 */
static ingest_step_e
ingest_publish_run(ingest_publish_t *p, ingest_err_t *err)
{
    const char                   *base;
    ingest_step_e                 step;
    ingest_publication_t          pub;
    ingest_publication_policy_t   policy;

    if (ingest_store_open(&p->store, p->opts->store, err) != 0
        || ingest_store_lock(&p->store, err) != 0)
    {
        return ingest_step_of(err);
    }

    ingest_store_clean(&p->store);

    base = strrchr(p->opts->package, '/');
    base = base ? base + 1 : p->opts->package;

    memset(&policy, 0, sizeof(ingest_publication_policy_t));

    memset(&pub, 0, sizeof(ingest_publication_t));
    pub.store = &p->store;
    pub.pkg_fd = p->pkg_fd;
    pub.package_name = base;
    pub.limits = &p->opts->limits;
    pub.gzip_level = p->opts->gzip_level;
    pub.lock_fd = -1;
    pub.tmp_fd = &p->tmp_fd;
    pub.tmp = p->tmp_name;
    pub.scratch_fd = -1;
    pub.live = &p->live;
    pub.vo = &p->vo;
    pub.final = p->final;

    step = ingest_publication_run(&pub, &policy, err);
    p->outcome = pub.outcome;

    return step;
}


static void
ingest_publish_report(ingest_publish_t *p)
{
    char                    files[32], raw[32], gz[32], reused[32];
    ingest_build_result_t  *r;

    r = &p->vo.res;

    if (p->outcome == INGEST_PUB_LIVE) {
        printf("already current %s (%s) -> %s/%s\n", r->corte.id,
               r->corte.iso8601, INGEST_STORE_CORTES, p->final);
        return;
    }

    printf("published %s (%s) %s files, %s raw, %s gzip (%s reused) "
           "in %.2f s (verify %.2f s, read %.2f s, gzip %.2f s, "
           "fsync %.2f s) -> %s/%s\n",
           r->corte.id, r->corte.iso8601,
           ingest_fmt_count(files, sizeof(files), r->files),
           ingest_fmt_bytes(raw, sizeof(raw), r->raw_bytes),
           ingest_fmt_bytes(gz, sizeof(gz), r->gzip_bytes),
           ingest_fmt_count(reused, sizeof(reused), r->gzip_reused),
           ingest_now() - p->start, r->archive.verify_seconds,
           r->archive.read_seconds, r->gzip_seconds,
           p->vo.fsync_seconds + p->store.fsync_seconds,
           INGEST_STORE_CORTES, p->final);
}


int
ingest_cmd_publish(int argc, char **argv)
{
    char                   q[INGEST_NAME_QUOTED];
    ingest_step_e          step;
    ingest_err_t           err;
    ingest_publish_t       p;
    ingest_config_t        cfg;
    ingest_publish_opts_t  opts;

    ingest_config_init(&cfg);

    if (ingest_publish_parse(argc, argv, &opts, &cfg) != 0) {
        ingest_config_free(&cfg);
        return INGEST_EXIT_USAGE;
    }

    if (opts.help) {
        ingest_config_free(&cfg);
        ingest_cmd_publish_help(stdout);
        return INGEST_EXIT_OK;
    }

    memset(&p, 0, sizeof(ingest_publish_t));
    p.opts = &opts;
    p.start = ingest_now();
    p.tmp_fd = -1;
    p.store.dir_fd = -1;
    p.store.cortes_fd = -1;
    p.store.lock_fd = -1;

    ingest_err_reset(&err);

    p.pkg_fd = ingest_open_package(opts.package, &err);

    step = p.pkg_fd >= 0 ? ingest_publish_run(&p, &err) : INGEST_STEP_FAIL;

    if (p.tmp_fd >= 0) {
        (void) close(p.tmp_fd);
    }

    if (p.tmp_name[0] != '\0') {
        ingest_store_tmp_remove(&p.store, p.tmp_name);
    }

    if (p.pkg_fd >= 0) {
        (void) close(p.pkg_fd);
    }

    if (step == INGEST_STEP_CONTINUE && !opts.quiet) {
        ingest_publish_report(&p);
    }

    /* after the report: the lock is held until the line is out */
    ingest_store_close(&p.store);

    if (step == INGEST_STEP_CONTINUE) {
        ingest_config_free(&cfg);
        return INGEST_EXIT_OK;
    }

    fprintf(stderr, INGEST_PROGRAM ": %s %s: %s: %s\n",
            ingest_reason_rejects(err.reason) ? "rejected" : "failed",
            ingest_quote(q, sizeof(q), opts.package, strlen(opts.package)),
            ingest_reason_code(err.reason), err.msg);

    /* opts points into cfg's storage until here */
    ingest_config_free(&cfg);

    return ingest_step_exit(step, &err);
}
