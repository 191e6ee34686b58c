/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of the daemon's files and settings: the config file and
 * command line (ingest/cli/config.c), the sidecar reader, the private copy,
 * quarantine and retention (ingest/daemon/staging.c,
 * ingest/store/quarantine.c, retention.c), each in a temporary directory.
 */


#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "cli/ingest_config.h"
#include "store/ingest_files.h"
#include "common/ingest_jsonget.h"


typedef struct {
    char  path[64];
    int   fd;
} tmpdir_t;


static void
tmpdir_make(tmpdir_t *d)
{
    (void) snprintf(d->path, sizeof(d->path), "/tmp/test-watch-XXXXXX");
    assert_non_null(mkdtemp(d->path));
    d->fd = open(d->path, O_RDONLY | O_DIRECTORY);
    assert_true(d->fd >= 0);
}


static void
tmpdir_remove(tmpdir_t *d)
{
    char  cmd[128];

    (void) close(d->fd);
    (void) snprintf(cmd, sizeof(cmd), "rm -rf %s", d->path);
    assert_int_equal(system(cmd), 0);
}


static void
put(int dir, const char *name, const void *data, size_t len)
{
    int  fd;

    fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t) len);
    (void) close(fd);
}


static int
exists(int dir, const char *name)
{
    struct stat  sb;

    return fstatat(dir, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}


static void
test_seconds(void **state)
{
    double  v;

    (void) state;

    assert_int_equal(ingest_parse_seconds("30", 0, 100, &v), 0);
    assert_true(v == 30);
    assert_int_equal(ingest_parse_seconds("1.5", 0, 100, &v), 0);
    assert_true(v == 1.5);
    assert_int_equal(ingest_parse_seconds("500ms", 0, 100, &v), 0);
    assert_true(v == 0.5);
    assert_int_equal(ingest_parse_seconds("10m", 0, 1000, &v), 0);
    assert_true(v == 600);
    assert_int_equal(ingest_parse_seconds("1h", 0, 4000, &v), 0);
    assert_true(v == 3600);

    assert_int_equal(ingest_parse_seconds("-1", 0, 100, &v), -1);
    assert_int_equal(ingest_parse_seconds("1d", 0, 1e9, &v), -1);
    assert_int_equal(ingest_parse_seconds("nan", 0, 100, &v), -1);
    assert_int_equal(ingest_parse_seconds("101", 0, 100, &v), -1);
    assert_int_equal(ingest_parse_seconds("", 0, 100, &v), -1);
}


static void
test_config_file_and_command_line(void **state)
{
    int              n;
    char             conf[96];
    tmpdir_t         d;
    ingest_config_t  c;
    static const char  text[] =
        "# comment\n"
        "\n"
        "  drop = /srv/drop   # trailing comment\n"
        "store=/var/lib/prep/store\n"
        "after-publish = \"purge --all # not a comment \"\n"
        "keep-snapshots = 20\n"
        "require-sha256 = yes\n"
        "stale-period = 15m\n"
        "max-total-size = 2G\n";

    (void) state;

    tmpdir_make(&d);
    put(d.fd, "p.conf", text, sizeof(text) - 1);
    (void) snprintf(conf, sizeof(conf), "%s/p.conf", d.path);

    {
        char  *argv[] = { "watch", "--keep-snapshots", "5", "--config",
                          conf, NULL };

        ingest_config_init(&c);
        n = ingest_config_parse(&c, INGEST_CMD_WATCH, "watch", 5, argv);
        assert_int_equal(n, 5);
        assert_string_equal(c.drop, "/srv/drop");
        assert_string_equal(c.store, "/var/lib/prep/store");
        assert_string_equal(c.after_publish, "purge --all # not a comment ");
        /* the command line wins, wherever --config is */
        assert_int_equal(c.keep_snapshots, 5);
        assert_int_equal(c.require_sha256, 1);
        assert_true(c.stale_period == 900);
        assert_int_equal(c.limits.max_total_size, 2ull << 30);
        /* defaults */
        assert_int_equal(c.keep_packages, INGEST_DEFAULT_KEEP);
        assert_true(c.incomplete_timeout == INGEST_DEFAULT_INCOMPLETE);
        ingest_config_free(&c);
    }

    /* an option of another command is refused on the command line */
    {
        char  *argv[] = { "status", "--drop", "/x", NULL };

        ingest_config_init(&c);
        assert_int_equal(ingest_config_parse(&c, INGEST_CMD_STATUS,
                                             "status", 3, argv), -1);
        ingest_config_free(&c);
    }

    /* but the shared file may hold every command's keys */
    {
        char  *argv[] = { "status", "--config", conf, NULL };

        ingest_config_init(&c);
        assert_int_equal(ingest_config_parse(&c, INGEST_CMD_STATUS,
                                             "status", 3, argv), 3);
        assert_string_equal(c.store, "/var/lib/prep/store");
        ingest_config_free(&c);
    }

    /* errors: unknown key, bad value, no "=", too large, missing file */
    {
        static const char  *bad[] = {
            "frobnicate = 1\n", "keep-snapshots = 1\n",
            "keep-snapshots = many\n", "drop\n", "gzip-level = 10\n",
            "stale-period = soon\n", "require-sha256 = perhaps\n",
            "to = x\n",
        };
        size_t  i;
        char   *argv[] = { "watch", "--config", conf, NULL };

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            put(d.fd, "p.conf", bad[i], strlen(bad[i]));
            ingest_config_init(&c);
            assert_int_equal(ingest_config_parse(&c, INGEST_CMD_WATCH,
                                                 "watch", 3, argv), -1);
            ingest_config_free(&c);
        }

        (void) unlinkat(d.fd, "p.conf", 0);
        ingest_config_init(&c);
        assert_int_equal(ingest_config_parse(&c, INGEST_CMD_WATCH, "watch",
                                             3, argv), -1);
        ingest_config_free(&c);
    }

    tmpdir_remove(&d);
}


static void
test_sidecar(void **state)
{
    char              msg[256], line[160];
    uint8_t           sha[32], want[32];
    tmpdir_t          d;
    ingest_sidecar_e  rc;
    static const char hex[] =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    (void) state;

    tmpdir_make(&d);
    SHA256((const unsigned char *) "", 0, want);

    rc = ingest_sidecar_read(d.fd, "p.tar.gz", sha, NULL, msg,
                             sizeof(msg));
    assert_int_equal(rc, INGEST_SIDECAR_ABSENT);

    /* the forms sha256sum writes: the hash, then what follows it */
    static const char  *good[] = {
        "\n", "", "  p.tar.gz\n", " *p.tar.gz\r\n",
        "  /upload/dir/p.tar.gz\n",
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        (void) snprintf(line, sizeof(line), "%s%s", hex, good[i]);
        put(d.fd, "p.tar.gz.sha256", line, strlen(line));
        rc = ingest_sidecar_read(d.fd, "p.tar.gz", sha, NULL, msg,
                                 sizeof(msg));
        assert_int_equal(rc, INGEST_SIDECAR_OK);
        assert_memory_equal(sha, want, 32);
    }

    /* before the hash, the hash or not, after it */
    static const char  *bad[][2] = {
        { "", "" }, { "zz", "\n" }, { "", "ff\n" },
        { "", "  other.tar.gz\n" }, { "e3b0c4", NULL },
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        (void) snprintf(line, sizeof(line), "%s%s%s", bad[i][0],
                        bad[i][1] ? hex : "", bad[i][1] ? bad[i][1] : "");
        if (i == 0) {
            line[0] = '\0';
        }

        put(d.fd, "p.tar.gz.sha256", line, strlen(line));
        rc = ingest_sidecar_read(d.fd, "p.tar.gz", sha, NULL, msg,
                                 sizeof(msg));
        assert_int_equal(rc, INGEST_SIDECAR_INVALID);
        assert_true(msg[0] != '\0');
    }

    /* a link in its place is not followed */
    (void) unlinkat(d.fd, "p.tar.gz.sha256", 0);
    assert_int_equal(symlinkat("/etc/passwd", d.fd, "p.tar.gz.sha256"), 0);
    rc = ingest_sidecar_read(d.fd, "p.tar.gz", sha, NULL, msg,
                             sizeof(msg));
    assert_int_equal(rc, INGEST_SIDECAR_INVALID);

    tmpdir_remove(&d);
}


static void
test_stage_copy(void **state)
{
    int            src, fd;
    char           name[32], buf[16];
    uint8_t        sha[32], want[32];
    uint64_t       size;
    tmpdir_t       d;
    ingest_err_t   err;
    unsigned char *big;

    (void) state;

    tmpdir_make(&d);
    big = malloc(3 << 20);
    assert_non_null(big);
    memset(big, 'x', 3 << 20);
    put(d.fd, "in", big, 3 << 20);
    SHA256(big, 3 << 20, want);

    src = openat(d.fd, "in", O_RDONLY);
    ingest_err_reset(&err);
    assert_int_equal(ingest_stage_copy(src, d.fd, 4 << 20, name, &fd, sha,
                                       &size, &err), 0);
    assert_int_equal(size, 3 << 20);
    assert_memory_equal(sha, want, 32);
    assert_true(strncmp(name, ".tmp-", 5) == 0);
    assert_int_equal(read(fd, buf, 4), 4);      /* at offset 0 */
    assert_memory_equal(buf, "xxxx", 4);
    (void) close(fd);
    assert_true(exists(d.fd, name));

    /* over the limit: refused, nothing left behind */
    ingest_err_reset(&err);
    assert_int_equal(ingest_stage_copy(src, d.fd, 1 << 20, name, &fd, sha,
                                       &size, &err), -1);
    assert_int_equal(err.reason, INGEST_PACKAGE_TOO_LARGE);
    assert_int_equal(fd, -1);
    assert_int_equal(ingest_dir_clean(d.fd, ".tmp-"), 1);

    (void) close(src);
    free(big);
    tmpdir_remove(&d);
}


static void
test_quarantine(void **state)
{
    int              fd;
    char             qname[256], reason[300], buf[4096], got[300];
    char             longname[300];
    ssize_t          n;
    uint8_t          sha[32];
    tmpdir_t         d;
    ingest_err_t     err;
    ingest_reject_t  why;

    (void) state;

    tmpdir_make(&d);
    put(d.fd, "bad.tar.gz", "data", 4);
    memset(sha, 0xab, sizeof(sha));

    memset(&why, 0, sizeof(why));
    why.reason = INGEST_PATH_DOTDOT;
    why.message = "refused name \"../x\"";
    why.file = "bad\n\"name\".tar.gz";
    why.sha256 = sha;
    why.size = 4;

    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine(d.fd, d.fd, "bad.tar.gz", &why,
                                       qname, sizeof(qname), &err), 0);
    assert_false(exists(d.fd, "bad.tar.gz"));
    assert_true(exists(d.fd, qname));
    assert_true(strstr(qname, "Z-bad\n\"name\".tar.gz") != NULL);

    (void) snprintf(reason, sizeof(reason), "%s.reason", qname);
    fd = openat(d.fd, reason, O_RDONLY);
    assert_true(fd >= 0);
    n = read(fd, buf, sizeof(buf));
    (void) close(fd);
    assert_true(n > 0 && buf[n - 1] == '\n');

    assert_int_equal(ingest_json_get_string(buf, (size_t) n - 1, "reason",
                                            got, sizeof(got)), 11);
    assert_string_equal(got, "path_dotdot");
    assert_true(ingest_json_get_string(buf, (size_t) n - 1, "file", got,
                                       sizeof(got)) > 0);
    assert_string_equal(got, why.file);
    assert_true(ingest_json_get_string(buf, (size_t) n - 1, "sha256", got,
                                       sizeof(got)) == 64);
    assert_true(strncmp(got, "abab", 4) == 0);
    assert_true(ingest_json_get_string(buf, (size_t) n - 1, "time", got,
                                       sizeof(got)) > 0);

    /* the same second, the same name: another free name */
    put(d.fd, "bad.tar.gz", "data", 4);
    why.file = "bad\n\"name\".tar.gz";
    (void) snprintf(got, sizeof(got), "%s", qname);
    assert_int_equal(ingest_quarantine(d.fd, d.fd, "bad.tar.gz", &why,
                                       qname, sizeof(qname), &err), 0);
    assert_string_not_equal(got, qname);

    /* a 255-byte name still leaves room for the stamp and .reason */
    memset(longname, 'n', 255);
    longname[255] = '\0';
    put(d.fd, longname, "x", 1);
    why.file = longname;
    assert_int_equal(ingest_quarantine(d.fd, d.fd, longname, &why, qname,
                                       sizeof(qname), &err), 0);
    assert_true(strlen(qname) + sizeof(".reason") - 1 <= 255);

    tmpdir_remove(&d);
}


static int
count_suffix(int dir, const char *suffix)
{
    int             fd, n;
    DIR            *dp;
    size_t          len;
    struct dirent  *de;

    fd = openat(dir, ".", O_RDONLY | O_DIRECTORY);
    dp = fdopendir(fd);
    n = 0;

    while ((de = readdir(dp)) != NULL) {
        len = strlen(de->d_name);
        if (len > strlen(suffix)
            && strcmp(de->d_name + len - strlen(suffix), suffix) == 0)
        {
            n++;
        }
    }

    (void) closedir(dp);

    return n;
}


static void
test_retention(void **state)
{
    int        i;
    char       name[64], removed[1024];
    tmpdir_t   d;

    (void) state;

    tmpdir_make(&d);

    for (i = 0; i < 6; i++) {
        (void) snprintf(name, sizeof(name), "20240603_%04d-aaaaaaaaaaaa.snap",
                        15 * (i + 1));
        put(d.fd, name, "s", 1);
        (void) snprintf(name, sizeof(name),
                        "20240603_%04d-aaaaaaaaaaaa.tar.gz", 15 * (i + 1));
        put(d.fd, name, "p", 1);
        (void) snprintf(name, sizeof(name),
                        "20240603_%04d-aaaaaaaaaaaa.tar.gz.sha256",
                        15 * (i + 1));
        put(d.fd, name, "h", 1);
    }

    put(d.fd, ".tmp-abcdef", "t", 1);

    /* the live one is the oldest (after a rollback): kept anyway, and
     * counted among the three */
    assert_int_equal(ingest_retention_snapshots(d.fd, 3,
                         "20240603_0015-aaaaaaaaaaaa.snap", removed,
                         sizeof(removed)), 3);
    assert_true(exists(d.fd, "20240603_0015-aaaaaaaaaaaa.snap"));
    assert_true(exists(d.fd, "20240603_0090-aaaaaaaaaaaa.snap"));
    assert_true(exists(d.fd, "20240603_0075-aaaaaaaaaaaa.snap"));
    assert_false(exists(d.fd, "20240603_0060-aaaaaaaaaaaa.snap"));
    assert_true(exists(d.fd, ".tmp-abcdef"));
    assert_non_null(strstr(removed, "20240603_0030-aaaaaaaaaaaa.snap"));

    /* packages: the newest two, with their sidecars */
    assert_int_equal(ingest_retention_packages(d.fd, 2, removed,
                                               sizeof(removed)), 4);
    assert_int_equal(count_suffix(d.fd, ".tar.gz"), 2);
    assert_int_equal(count_suffix(d.fd, ".sha256"), 2);
    assert_true(exists(d.fd, "20240603_0090-aaaaaaaaaaaa.tar.gz.sha256"));

    tmpdir_remove(&d);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_seconds),
        cmocka_unit_test(test_config_file_and_command_line),
        cmocka_unit_test(test_sidecar),
        cmocka_unit_test(test_stage_copy),
        cmocka_unit_test(test_quarantine),
        cmocka_unit_test(test_retention),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
