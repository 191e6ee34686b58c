/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of quarantine (ingest/store/quarantine.c), in a temporary
 * directory: the quarantined name (the UTC second, collisions with files,
 * links and lone .reason files, the 100 names a second allows, long names
 * that must leave room for ".reason" and ".sha256", odd bytes kept as
 * they are), the .reason document (fields, valid JSON whatever the
 * strings, one line, mode 0640 whatever the umask, bounded), the move
 * itself (same inode, links and FIFOs moved as they are, two rejections
 * of one name both kept) and the errors (no free name, a removed or
 * read-only quarantine, another file system, a missing source): each one
 * named in the message with its errno, and the source never lost.
 *
 * The sidecar follows through the caller (ingest_pl_copy_sidecar() and
 * ingest_pl_unlink_drop() in daemon/pipeline_outcome.c), tested here
 * too: the copy next to the quarantined file, links and FIFOs not read;
 * the sidecar of an entry quarantined itself leaves the drop folder too;
 * one that changed since it was copied stays (a new upload's), and so
 * does one over INGEST_SIDECAR_MAX, copied not at all (EFBIG) rather than
 * cut; one of exactly the bound is copied and read whole.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "prep_json.h"
#include "common/ingest_jsonget.h"
#include "daemon/ingest_pipeline.h"
#include "store/ingest_events.h"
#include "store/ingest_files.h"


#define QNAME_MAX   (INGEST_NAME_MAX + 1)
#define REASON_MAX  (INGEST_EVENT_MAX * 2)
#define TRIES       5


static char  dir[64];
static char  odir[64];          /* on another file system, or "" */
static int   qdir = -1;
static int   drop = -1;


static int
setup(void **state)
{
    int  fd;

    (void) state;
    temp_dir(dir, sizeof(dir), "test_quarantine");

    fd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(mkdirat(fd, INGEST_DIR_QUARANTINE, 0750), 0);
    assert_int_equal(mkdirat(fd, "drop", 0755), 0);
    qdir = openat(fd, INGEST_DIR_QUARANTINE, O_RDONLY | O_DIRECTORY);
    drop = openat(fd, "drop", O_RDONLY | O_DIRECTORY);
    assert_true(qdir >= 0 && drop >= 0);
    assert_int_equal(close(fd), 0);

    return 0;
}


static int
teardown(void **state)
{
    (void) state;
    (void) close(qdir);
    (void) close(drop);
    qdir = -1;
    drop = -1;
    temp_dir_remove(dir);

    if (odir[0] != '\0') {
        temp_dir_remove(odir);
        odir[0] = '\0';
    }

    return 0;
}


/* the stamp quarantine.c puts in front of names, for this second */
static void
stamp_now(char *buf, size_t size)
{
    time_t     now;
    struct tm  tm;

    now = time(NULL);
    assert_non_null(gmtime_r(&now, &tm));
    assert_int_not_equal(strftime(buf, size, "%Y%m%dT%H%M%SZ", &tm), 0);
}


static int
exists(int dir_fd, const char *name)
{
    struct stat  sb;

    return fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}


static void
reject_init(ingest_reject_t *why, const char *file)
{
    memset(why, 0, sizeof(ingest_reject_t));
    why->reason = INGEST_GZIP_CRC;
    why->message = "gzip CRC mismatch";
    why->file = file;
}


/* the .reason of qname, checked to be one line of valid JSON */
static size_t
read_reason(const char *qname, char *doc, size_t size)
{
    char               name[QNAME_MAX + 16];
    size_t             len;
    ingest_json_val_t  v;

    (void) snprintf(name, sizeof(name), "%s" INGEST_REASON_SUFFIX, qname);
    len = read_at(qdir, name, doc, size);

    assert_true(len > 2);
    assert_true(len <= INGEST_EVENT_MAX);
    assert_int_equal(doc[len - 1], '\n');
    assert_ptr_equal(strchr(doc, '\n'), doc + len - 1);
    assert_true(prep_utf8_valid(doc, len));
    assert_int_equal(ingest_json_get(doc, len, "reason", &v), 1);

    return len;
}


static void
reason_str(const char *doc, size_t len, const char *key, char *buf,
    size_t size)
{
    assert_true(ingest_json_get_string(doc, len, key, buf, size) >= 0);
}


static void
assert_reason(const char *doc, size_t len, const char *key,
    const char *want)
{
    char  got[4 * QNAME_MAX];

    reason_str(doc, len, key, got, sizeof(got));
    assert_string_equal(got, want);
}


static void
test_name_fresh(void **state)
{
    int   i, rc;
    char  before[32], after[32], qname[QNAME_MAX], want[QNAME_MAX];

    (void) state;
    rc = -1;

    for (i = 0; i < TRIES; i++) {
        stamp_now(before, sizeof(before));
        rc = ingest_quarantine_name(qdir, "pkg.tar.gz", qname,
                                    sizeof(qname));
        stamp_now(after, sizeof(after));

        if (strcmp(before, after) == 0) {
            break;
        }
    }

    assert_int_equal(rc, 0);
    (void) snprintf(want, sizeof(want), "%s-pkg.tar.gz", before);
    assert_string_equal(qname, want);

    /* choosing a name creates nothing */
    assert_int_equal(dir_entries(qdir), 0);
}


static void
test_name_collisions(void **state)
{
    int   i, rc[3];
    char  s[32], after[32], q[3][QNAME_MAX], want[QNAME_MAX];
    char  lone[QNAME_MAX + 16];

    (void) state;

    for (i = 0; i < TRIES; i++) {
        (void) ingest_dir_clean(qdir, NULL);
        stamp_now(s, sizeof(s));

        /* a file, a dangling link and a lone .reason (an entry that
         * could not be moved) all hold their name */
        (void) snprintf(want, sizeof(want), "%s-pkg", s);
        write_at(qdir, want, "old", 0640);
        rc[0] = ingest_quarantine_name(qdir, "pkg", q[0], QNAME_MAX);

        assert_int_equal(symlinkat("nowhere", qdir, q[0]), 0);
        rc[1] = ingest_quarantine_name(qdir, "pkg", q[1], QNAME_MAX);

        (void) snprintf(lone, sizeof(lone), "%s" INGEST_REASON_SUFFIX, q[1]);
        write_at(qdir, lone, "{}\n", 0640);
        rc[2] = ingest_quarantine_name(qdir, "pkg", q[2], QNAME_MAX);

        stamp_now(after, sizeof(after));

        if (strcmp(s, after) == 0) {
            break;
        }
    }

    assert_int_equal(rc[0], 0);
    assert_int_equal(rc[1], 0);
    assert_int_equal(rc[2], 0);

    (void) snprintf(want, sizeof(want), "%s-1-pkg", s);
    assert_string_equal(q[0], want);
    (void) snprintf(want, sizeof(want), "%s-2-pkg", s);
    assert_string_equal(q[1], want);
    (void) snprintf(want, sizeof(want), "%s-3-pkg", s);
    assert_string_equal(q[2], want);
}


/* the names of one second run out after 100: an error, the source kept */
static void
test_name_bound(void **state)
{
    int              i, t, rc, qrc;
    char             s[32], after[32], name[QNAME_MAX], qname[QNAME_MAX];
    char             buf[64];
    ingest_err_t     err;
    ingest_reject_t  why;

    (void) state;
    reject_init(&why, "pkg");
    rc = 0;
    qrc = 0;

    for (t = 0; t < TRIES; t++) {
        (void) ingest_dir_clean(qdir, NULL);
        (void) ingest_dir_clean(drop, NULL);
        write_at(drop, "pkg", "payload", 0644);
        stamp_now(s, sizeof(s));

        for (i = 0; i < 100; i++) {
            if (i == 0) {
                (void) snprintf(name, sizeof(name), "%s-pkg", s);

            } else {
                (void) snprintf(name, sizeof(name), "%s-%d-pkg", s, i);
            }

            write_at(qdir, name, "", 0640);
        }

        rc = ingest_quarantine_name(qdir, "pkg", qname, sizeof(qname));

        ingest_err_reset(&err);
        qrc = ingest_quarantine(qdir, drop, "pkg", &why, qname,
                                sizeof(qname), &err);

        stamp_now(after, sizeof(after));

        if (strcmp(s, after) == 0) {
            break;
        }
    }

    assert_int_equal(rc, -1);
    assert_int_equal(qrc, -1);
    assert_int_equal(err.reason, INGEST_IO);
    assert_non_null(strstr(err.msg, "no free name"));
    assert_non_null(strstr(err.msg, INGEST_DIR_QUARANTINE));

    /* nothing lost, nothing added */
    assert_int_equal(read_at(drop, "pkg", buf, sizeof(buf)), 7);
    assert_string_equal(buf, "payload");
    assert_int_equal(dir_entries(qdir), 100);
}


/* every name, up to the 99th collision, leaves room for both suffixes */
static void
test_name_long(void **state)
{
    int              i, t;
    char             file[INGEST_NAME_MAX + 1], qname[QNAME_MAX];
    char             s[32], after[32], doc[REASON_MAX];
    char             names[100][QNAME_MAX];
    size_t           len, qlen, longest;
    ingest_err_t     err;
    ingest_reject_t  why;

    (void) state;
    memset(file, 'a', INGEST_NAME_MAX);
    file[INGEST_NAME_MAX] = '\0';
    write_at(drop, file, "long", 0644);

    /* the real move first: the name, its .reason, both on disk */
    reject_init(&why, file);
    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine(qdir, drop, file, &why, qname,
                                       sizeof(qname), &err), 0);
    assert_true(exists(qdir, qname));
    assert_false(exists(drop, file));

    len = read_reason(qname, doc, sizeof(doc));
    assert_reason(doc, len, "quarantined_as", qname);
    assert_reason(doc, len, "file", file);

    for (t = 0; t < TRIES; t++) {
        (void) ingest_dir_clean(qdir, NULL);
        stamp_now(s, sizeof(s));

        for (i = 0; i < 100; i++) {
            if (ingest_quarantine_name(qdir, file, names[i], QNAME_MAX)
                != 0)
            {
                break;
            }

            write_at(qdir, names[i], "", 0640);
        }

        stamp_now(after, sizeof(after));

        if (strcmp(s, after) == 0) {
            break;
        }
    }

    assert_int_equal(i, 100);
    longest = 0;

    for (i = 0; i < 100; i++) {
        qlen = strlen(names[i]);
        longest = qlen > longest ? qlen : longest;

        /* the stamp, then as much of the name as fits */
        assert_memory_equal(names[i], s, strlen(s));
        assert_true(qlen >= strlen(s) + 1 + 200);
        assert_memory_equal(names[i] + qlen - 200, file, 200);
    }

    assert_true(longest + strlen(INGEST_REASON_SUFFIX) <= INGEST_NAME_MAX);
    assert_true(longest + strlen(INGEST_SIDECAR_SUFFIX) <= INGEST_NAME_MAX);

    /* the last (longest) name takes its .reason */
    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine_reason(qdir, names[99], &why, &err),
                     0);
}


/* a name's bytes are kept as they are; the .reason stays valid JSON */
static void
test_odd_bytes(void **state)
{
    int               i;
    char              qname[QNAME_MAX], doc[REASON_MAX], got[4 * QNAME_MAX];
    char              cut[INGEST_NAME_MAX + 1];
    size_t            len, qlen, flen;
    ingest_err_t      err;
    ingest_reject_t   why;
    const char       *file;
    static const char *names[] = {
        "a\nb\"c\\d.tar.gz",
        "\xff\xfe.tar.gz",
        "\xc3\xb1" "and\xc3\xba.tar.gz",
        "-rf",
        " lead space",
        "\x01\x1f\x7f",
        NULL,           /* a long name cut inside a UTF-8 sequence */
    };

    (void) state;

    /* "a" and then two-byte sequences: an odd or an even cut splits one
     * wherever quarantine.c cuts */
    cut[0] = 'a';
    for (i = 1; i + 1 < INGEST_NAME_MAX; i += 2) {
        cut[i] = '\xc3';
        cut[i + 1] = '\xb1';
    }
    cut[i] = '\0';

    for (i = 0; i < (int) (sizeof(names) / sizeof(names[0])); i++) {
        file = names[i] != NULL ? names[i] : cut;
        write_at(drop, file, "x", 0644);

        reject_init(&why, file);
        why.message = file;
        ingest_err_reset(&err);
        assert_int_equal(ingest_quarantine(qdir, drop, file, &why, qname,
                                           sizeof(qname), &err), 0);
        assert_true(exists(qdir, qname));
        assert_false(exists(drop, file));

        qlen = strlen(qname);
        flen = strlen(file);

        if (names[i] != NULL) {
            assert_true(qlen > flen);
            assert_string_equal(qname + qlen - flen, file);
        }

        len = read_reason(qname, doc, sizeof(doc));

        reason_str(doc, len, "file", got, sizeof(got));
        if (prep_utf8_valid(file, flen)) {
            assert_string_equal(got, file);

        } else {
            /* invalid bytes read back as U+FFFD, never raw */
            assert_true(prep_utf8_valid(got, strlen(got)));
            assert_non_null(strstr(got, "\xef\xbf\xbd"));
        }

        reason_str(doc, len, "message", got, sizeof(got));
        assert_true(prep_utf8_valid(got, strlen(got)));

        reason_str(doc, len, "quarantined_as", got, sizeof(got));
        if (prep_utf8_valid(qname, qlen)) {
            assert_string_equal(got, qname);

        } else {
            assert_non_null(strstr(got, "\xef\xbf\xbd"));
        }
    }
}


static void
test_reason_document(void **state)
{
    int                i;
    char               qname[QNAME_MAX], doc[REASON_MAX], got[256];
    char               name[QNAME_MAX + 16], want[65];
    double             size;
    mode_t             mask;
    size_t             len;
    uint8_t            sha[PREP_SHA256_LEN];
    struct stat        before, after;
    ingest_err_t       err;
    ingest_reject_t    why;
    ingest_json_val_t  v;

    (void) state;

    for (i = 0; i < PREP_SHA256_LEN; i++) {
        sha[i] = (uint8_t) (i * 17);
        (void) snprintf(want + 2 * i, 3, "%02x", sha[i]);
    }

    write_at(drop, "pkg.tar.gz", "not gzip", 0644);
    assert_int_equal(fstatat(drop, "pkg.tar.gz", &before, 0), 0);

    memset(&why, 0, sizeof(ingest_reject_t));
    why.reason = INGEST_NOT_GZIP;
    why.message = "not a gzip file: bad magic";
    why.file = "pkg.tar.gz";
    why.sha256 = sha;
    why.size = 8;

    /* whatever the umask: the operator's group reads the reasons */
    mask = umask(077);
    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine(qdir, drop, "pkg.tar.gz", &why,
                                       qname, sizeof(qname), &err), 0);
    (void) umask(mask);

    /* moved, not copied: the same inode, the same bytes */
    assert_int_equal(fstatat(qdir, qname, &after, 0), 0);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(read_at(qdir, qname, got, sizeof(got)), 8);
    assert_string_equal(got, "not gzip");
    assert_false(exists(drop, "pkg.tar.gz"));

    /* the file and its .reason, no temp file left */
    assert_int_equal(dir_entries(qdir), 2);
    (void) snprintf(name, sizeof(name), "%s" INGEST_REASON_SUFFIX, qname);
    assert_int_equal(fstatat(qdir, name, &after, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISREG(after.st_mode));
    assert_int_equal(after.st_mode & 07777, 0640);

    len = read_reason(qname, doc, sizeof(doc));

    assert_reason(doc, len, "event", "rejected");
    assert_reason(doc, len, "level", "warning");
    assert_reason(doc, len, "reason", "not_gzip");
    assert_reason(doc, len, "message", "not a gzip file: bad magic");
    assert_reason(doc, len, "file", "pkg.tar.gz");
    assert_reason(doc, len, "quarantined_as", qname);
    assert_reason(doc, len, "sha256", want);
    assert_int_equal(ingest_json_get_number(doc, len, "size", &size), 0);
    assert_true(size == 8);

    /* "2024-06-03T05:15:02.123Z" */
    reason_str(doc, len, "time", got, sizeof(got));
    assert_int_equal(strlen(got), 24);
    assert_int_equal(got[10], 'T');
    assert_int_equal(got[23], 'Z');

    assert_int_equal(ingest_json_get(doc, len, "truncated", &v), 0);

    /* an unknown hash is null, not a made-up one */
    write_at(drop, "other", "x", 0644);
    why.file = "other";
    why.sha256 = NULL;
    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine(qdir, drop, "other", &why, qname,
                                       sizeof(qname), &err), 0);
    len = read_reason(qname, doc, sizeof(doc));
    assert_int_equal(ingest_json_get(doc, len, "sha256", &v), 1);
    assert_int_equal(v.type, INGEST_JSON_NULL);
}


/* a huge message cannot make the .reason invalid or unbounded */
static void
test_reason_bound(void **state)
{
    char             *msg, qname[QNAME_MAX], doc[REASON_MAX];
    size_t            len;
    ingest_err_t      err;
    ingest_reject_t   why;

    (void) state;

    /* 6 escaped bytes each: far more than a .reason holds */
    msg = xmalloc(5001);
    memset(msg, '\x01', 5000);
    msg[5000] = '\0';

    write_at(drop, "pkg", "x", 0644);
    reject_init(&why, "pkg");
    why.message = msg;
    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine(qdir, drop, "pkg", &why, qname,
                                       sizeof(qname), &err), 0);
    free(msg);

    len = read_reason(qname, doc, sizeof(doc));
    assert_reason(doc, len, "reason", "gzip_crc");
    assert_reason(doc, len, "file", "pkg");
    assert_reason(doc, len, "quarantined_as", qname);
}


/* the same name rejected twice: both inputs and both reasons kept */
static void
test_same_name_twice(void **state)
{
    int               i;
    char              q[2][QNAME_MAX], doc[REASON_MAX], got[QNAME_MAX];
    size_t            len;
    ingest_err_t      err;
    ingest_reject_t   why;
    static const char *content[] = { "first", "second" };

    (void) state;
    reject_init(&why, "pkg.tar.gz");

    for (i = 0; i < 2; i++) {
        write_at(drop, "pkg.tar.gz", content[i], 0644);
        ingest_err_reset(&err);
        assert_int_equal(ingest_quarantine(qdir, drop, "pkg.tar.gz", &why,
                                           q[i], QNAME_MAX, &err), 0);
    }

    assert_string_not_equal(q[0], q[1]);
    assert_int_equal(dir_entries(qdir), 4);

    for (i = 0; i < 2; i++) {
        (void) read_at(qdir, q[i], got, sizeof(got));
        assert_string_equal(got, content[i]);

        len = read_reason(q[i], doc, sizeof(doc));
        assert_reason(doc, len, "quarantined_as", q[i]);
    }
}


/* a link is moved as a link (its target untouched), a FIFO without a
 * hang: neither is opened for its data */
static void
test_link_and_fifo(void **state)
{
    char             qname[QNAME_MAX], buf[64];
    ssize_t          n;
    struct stat      sb;
    ingest_err_t     err;
    ingest_reject_t  why;

    (void) state;
    write_at(drop, "target", "keep me", 0644);
    assert_int_equal(symlinkat("target", drop, "link.tar.gz"), 0);
    assert_int_equal(mkfifoat(drop, "fifo.tar.gz", 0644), 0);

    reject_init(&why, "link.tar.gz");
    why.reason = INGEST_NOT_REGULAR;
    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine(qdir, drop, "link.tar.gz", &why,
                                       qname, sizeof(qname), &err), 0);
    assert_int_equal(fstatat(qdir, qname, &sb, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISLNK(sb.st_mode));
    n = readlinkat(qdir, qname, buf, sizeof(buf));
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "target", 6);
    assert_int_equal(read_at(drop, "target", buf, sizeof(buf)), 7);
    assert_false(exists(drop, "link.tar.gz"));

    why.file = "fifo.tar.gz";
    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine(qdir, drop, "fifo.tar.gz", &why,
                                       qname, sizeof(qname), &err), 0);
    assert_int_equal(fstatat(qdir, qname, &sb, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISFIFO(sb.st_mode));
    assert_false(exists(drop, "fifo.tar.gz"));

    /* two entries, each with its .reason */
    assert_int_equal(dir_entries(qdir), 4);
}


static void
assert_source_kept(int from, const char *name, const char *data)
{
    char  buf[64];

    assert_int_equal(read_at(from, name, buf, sizeof(buf)), strlen(data));
    assert_string_equal(buf, data);
}


static void
assert_errno_in(const ingest_err_t *err, int errnum)
{
    assert_int_not_equal(err->reason, INGEST_OK);
    assert_non_null(strstr(err->msg, strerror(errnum)));
}


/* the quarantine directory removed under the daemon */
static void
test_error_removed_dir(void **state)
{
    int              fd, gone;
    char             qname[QNAME_MAX];
    ingest_err_t     err;
    ingest_reject_t  why;

    (void) state;
    fd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(mkdirat(fd, "gone", 0750), 0);
    gone = openat(fd, "gone", O_RDONLY | O_DIRECTORY);
    assert_true(gone >= 0);
    assert_int_equal(unlinkat(fd, "gone", AT_REMOVEDIR), 0);
    assert_int_equal(close(fd), 0);

    write_at(drop, "pkg", "data", 0644);
    reject_init(&why, "pkg");
    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine(gone, drop, "pkg", &why, qname,
                                       sizeof(qname), &err), -1);
    assert_int_equal(err.reason, INGEST_IO);
    assert_errno_in(&err, ENOENT);
    assert_non_null(strstr(err.msg, "pkg"));
    assert_non_null(strstr(err.msg, INGEST_DIR_QUARANTINE));
    assert_source_kept(drop, "pkg", "data");

    /* the .reason alone cannot be written there either, and says so */
    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine_reason(gone, "20240603T000000Z-pkg",
                                              &why, &err), -1);
    assert_errno_in(&err, ENOENT);
    assert_non_null(strstr(err.msg, "20240603T000000Z-pkg.reason"));

    assert_int_equal(close(gone), 0);
}


/* a source that is not there: an error, and no orphan .reason */
static void
test_error_missing_source(void **state)
{
    char             qname[QNAME_MAX];
    ingest_err_t     err;
    ingest_reject_t  why;

    (void) state;
    reject_init(&why, "absent");
    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine(qdir, drop, "absent", &why, qname,
                                       sizeof(qname), &err), -1);
    assert_errno_in(&err, ENOENT);
    assert_non_null(strstr(err.msg, "absent"));
    assert_int_equal(dir_entries(qdir), 0);
}


typedef struct {
    int   rc;
    int   reason_rc;
    char  msg[INGEST_ERRLEN];
    char  reason_msg[INGEST_ERRLEN];
} ro_result_t;


static void
ro_attempt(ro_result_t *r)
{
    char             qname[QNAME_MAX];
    ingest_err_t     err;
    ingest_reject_t  why;

    reject_init(&why, "pkg");

    ingest_err_reset(&err);
    r->rc = ingest_quarantine(qdir, drop, "pkg", &why, qname, sizeof(qname),
                              &err);
    (void) snprintf(r->msg, sizeof(r->msg), "%s", err.msg);

    ingest_err_reset(&err);
    r->reason_rc = ingest_quarantine_reason(qdir, "20240603T000000Z-pkg",
                                            &why, &err);
    (void) snprintf(r->reason_msg, sizeof(r->reason_msg), "%s", err.msg);
}


/* a read-only quarantine: EACCES named, the source where it was; root
 * ignores modes, so as root the attempt runs in a child as nobody */
static void
test_error_read_only(void **state)
{
    int          p[2], status;
    pid_t        pid;
    ssize_t      n;
    ro_result_t  r;

    (void) state;
    write_at(drop, "pkg", "data", 0644);
    assert_int_equal(fchmod(qdir, 0555), 0);
    assert_int_equal(fchmod(drop, 0777), 0);
    memset(&r, 0, sizeof(ro_result_t));

    if (geteuid() != 0) {
        ro_attempt(&r);

    } else {
        assert_int_equal(pipe(p), 0);
        pid = fork();
        assert_true(pid >= 0);

        if (pid == 0) {
            (void) close(p[0]);

            /* dumpable again, or /proc/self/fd (ingest_at_path())
             * would stay root's */
            if (setgid(65534) != 0 || setuid(65534) != 0
                || prctl(PR_SET_DUMPABLE, 1) != 0)
            {
                _exit(77);
            }

            ro_attempt(&r);
            n = write(p[1], &r, sizeof(r));
            _exit(n == (ssize_t) sizeof(r) ? 0 : 1);
        }

        (void) close(p[1]);
        n = read(p[0], &r, sizeof(r));
        (void) close(p[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));

        if (WEXITSTATUS(status) == 77) {
            (void) fchmod(qdir, 0750);
            skip();
        }

        assert_int_equal(WEXITSTATUS(status), 0);
        assert_int_equal(n, (ssize_t) sizeof(r));
    }

    assert_int_equal(fchmod(qdir, 0750), 0);

    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.msg, strerror(EACCES)));
    assert_non_null(strstr(r.msg, "moving pkg into quarantine"));
    assert_int_equal(r.reason_rc, -1);
    assert_non_null(strstr(r.reason_msg, strerror(EACCES)));
    assert_non_null(strstr(r.reason_msg, "20240603T000000Z-pkg.reason"));

    assert_source_kept(drop, "pkg", "data");
    assert_int_equal(dir_entries(qdir), 0);
}


/* a drop folder on another file system: EXDEV, the source kept, and the
 * caller's way out (a .reason alone) works */
static void
test_error_cross_device(void **state)
{
    int              other;
    char             qname[QNAME_MAX];
    struct stat      a, b;
    ingest_err_t     err;
    ingest_reject_t  why;

    (void) state;
    (void) snprintf(odir, sizeof(odir), "/dev/shm/test_quarantine.XXXXXX");

    if (mkdtemp(odir) == NULL) {
        odir[0] = '\0';
        skip();
    }

    assert_int_equal(fstat(qdir, &a), 0);
    assert_int_equal(stat(odir, &b), 0);

    if (a.st_dev == b.st_dev) {
        skip();
    }

    other = open(odir, O_RDONLY | O_DIRECTORY);
    assert_true(other >= 0);
    write_at(other, "pkg", "data", 0644);

    reject_init(&why, "pkg");
    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine(qdir, other, "pkg", &why, qname,
                                       sizeof(qname), &err), -1);
    assert_errno_in(&err, EXDEV);
    assert_source_kept(other, "pkg", "data");
    assert_int_equal(dir_entries(qdir), 0);

    assert_int_equal(ingest_quarantine_name(qdir, "pkg", qname,
                                            sizeof(qname)), 0);
    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine_reason(qdir, qname, &why, &err), 0);
    assert_int_equal(dir_entries(qdir), 1);

    assert_int_equal(close(other), 0);
}


/* the caller's side of "with its sidecar" (daemon/pipeline_outcome.c):
 * the private copy goes into quarantine, the sidecar is copied next to
 * it, then both leave the drop folder */
static void
test_sidecar_follows(void **state)
{
    int              fd, staging;
    char             qname[QNAME_MAX], side[QNAME_MAX + 16], buf[256];
    struct stat      sb;
    ingest_pl_t      pl;
    ingest_err_t     err;
    ingest_cand_t    c;
    ingest_watch_t   w;
    ingest_reject_t  why;
    static const char  hex[] = "00112233445566778899aabbccddeeff"
                               "00112233445566778899aabbccddeeff"
                               "  p.tar.gz\n";

    (void) state;
    fd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(mkdirat(fd, INGEST_DIR_STAGING, 0700), 0);
    staging = openat(fd, INGEST_DIR_STAGING, O_RDONLY | O_DIRECTORY);
    assert_true(staging >= 0);
    assert_int_equal(close(fd), 0);

    write_at(drop, "p.tar.gz", "upload", 0644);
    write_at(drop, "p.tar.gz" INGEST_SIDECAR_SUFFIX, hex, 0644);
    write_at(staging, ".tmp-Ab3dE9", "upload", 0600);

    memset(&w, 0, sizeof(ingest_watch_t));
    memset(&c, 0, sizeof(ingest_cand_t));
    memset(&pl, 0, sizeof(ingest_pl_t));
    w.drop_fd = drop;
    (void) snprintf(c.name, sizeof(c.name), "p.tar.gz");
    pl.w = &w;
    pl.c = &c;
    assert_int_equal(fstatat(drop, c.name, &sb, AT_SYMLINK_NOFOLLOW), 0);
    ingest_stamp_of(&pl.stamp, &sb);

    reject_init(&why, "p.tar.gz");
    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine(qdir, staging, ".tmp-Ab3dE9", &why,
                                       qname, sizeof(qname), &err), 0);

    (void) snprintf(side, sizeof(side), "%s" INGEST_SIDECAR_SUFFIX, qname);
    assert_int_equal(ingest_pl_copy_sidecar(&pl, qdir, side), 0);
    assert_int_equal(read_at(qdir, side, buf, sizeof(buf)), strlen(hex));
    assert_string_equal(buf, hex);
    assert_int_equal(fstatat(qdir, side, &sb, AT_SYMLINK_NOFOLLOW), 0);
    assert_int_equal(sb.st_mode & 07777, 0640);

    /* the package, its .reason and its sidecar, together */
    assert_int_equal(dir_entries(qdir), 3);
    assert_int_equal(ingest_pl_unlink_drop(&pl), 1);
    assert_int_equal(dir_entries(drop), 0);
    assert_int_equal(dir_entries(staging), 0);

    /* no sidecar, a link (never followed) or a FIFO (no hang): nothing
     * is copied, and that is not an error */
    write_at(drop, "p.tar.gz", "again", 0644);
    assert_int_equal(ingest_pl_copy_sidecar(&pl, qdir, "none.sha256"), 0);

    assert_int_equal(symlinkat("p.tar.gz", drop,
                               "p.tar.gz" INGEST_SIDECAR_SUFFIX), 0);
    assert_int_equal(ingest_pl_copy_sidecar(&pl, qdir, "link.sha256"), 0);
    assert_int_equal(unlinkat(drop, "p.tar.gz" INGEST_SIDECAR_SUFFIX, 0),
                     0);

    assert_int_equal(mkfifoat(drop, "p.tar.gz" INGEST_SIDECAR_SUFFIX,
                              0644), 0);
    assert_int_equal(ingest_pl_copy_sidecar(&pl, qdir, "fifo.sha256"), 0);

    assert_int_equal(dir_entries(qdir), 3);
    assert_int_equal(close(staging), 0);
}


/* a pipeline state for the upload drop/name, as the intake left it */
static void
pl_init(ingest_pl_t *pl, ingest_watch_t *w, ingest_cand_t *c,
    const char *name)
{
    struct stat  sb;

    memset(w, 0, sizeof(ingest_watch_t));
    memset(c, 0, sizeof(ingest_cand_t));
    memset(pl, 0, sizeof(ingest_pl_t));
    w->drop_fd = drop;
    (void) snprintf(c->name, sizeof(c->name), "%s", name);
    pl->w = w;
    pl->c = c;
    pl->staged_fd = -1;
    assert_int_equal(fstatat(drop, name, &sb, AT_SYMLINK_NOFOLLOW), 0);
    ingest_stamp_of(&pl->stamp, &sb);
}


/* a sidecar of len bytes: 64 hex digits, a newline, then padding */
static char *
sidecar_of(size_t len)
{
    char  *p;

    assert_true(len >= 65);
    p = xmalloc(len + 1);
    memset(p, '0', 64);
    p[64] = '\n';
    memset(p + 65, 'x', len - 65);
    p[len] = '\0';

    return p;
}


/* no private copy (a link, a FIFO, a file too large): the entry itself
 * goes into quarantine, and its sidecar must not stay behind, or the
 * next upload of the name is checked against it */
static void
test_sidecar_of_the_entry_itself(void **state)
{
    char             qname[QNAME_MAX], side[QNAME_MAX + 16], buf[256];
    ingest_pl_t      pl;
    ingest_err_t     err;
    ingest_cand_t    c;
    ingest_watch_t   w;
    ingest_reject_t  why;
    static const char  hex[] = "ffeeddccbbaa99887766554433221100"
                               "ffeeddccbbaa99887766554433221100\n";

    (void) state;
    assert_int_equal(symlinkat("/etc/shadow", drop, "l.tar.gz"), 0);
    write_at(drop, "l.tar.gz" INGEST_SIDECAR_SUFFIX, hex, 0644);
    pl_init(&pl, &w, &c, "l.tar.gz");

    reject_init(&why, "l.tar.gz");
    why.reason = INGEST_NOT_REGULAR;
    ingest_err_reset(&err);
    assert_int_equal(ingest_quarantine(qdir, drop, "l.tar.gz", &why, qname,
                                       sizeof(qname), &err), 0);

    (void) snprintf(side, sizeof(side), "%s" INGEST_SIDECAR_SUFFIX, qname);
    assert_int_equal(ingest_pl_copy_sidecar(&pl, qdir, side), 0);
    assert_int_equal(ingest_pl_unlink_drop(&pl), 1);

    assert_int_equal(dir_entries(drop), 0);
    assert_int_equal(dir_entries(qdir), 3);
    assert_int_equal(read_at(qdir, side, buf, sizeof(buf)), strlen(hex));
    assert_string_equal(buf, hex);
}


/* an upload's sidecar, and the one of a later upload of the same name */
static const char  sidecar_old[] = "00112233445566778899aabbccddeeff"
                                   "00112233445566778899aabbccddeeff\n";
static const char  sidecar_new[] = "99887766554433221100ffeeddccbbaa"
                                   "99887766554433221100ffeeddccbbaa  p\n";


/* a sidecar that changed after it was copied is a new upload's: it
 * stays, whether replaced (another inode) or rewritten in place */
static void
test_sidecar_changed_since_copied_stays(void **state)
{
    int              i, fd;
    char             buf[256];
    ingest_pl_t      pl;
    ingest_cand_t    c;
    ingest_watch_t   w;

    (void) state;

    for (i = 0; i < 2; i++) {
        write_at(drop, "p", "upload", 0644);
        write_at(drop, "p" INGEST_SIDECAR_SUFFIX, sidecar_old, 0644);
        pl_init(&pl, &w, &c, "p");

        assert_int_equal(ingest_pl_copy_sidecar(&pl, qdir, "q.sha256"), 0);

        if (i == 0) {
            write_at(drop, "new.sha256", sidecar_new, 0644);
            assert_int_equal(renameat(drop, "new.sha256", drop,
                                      "p" INGEST_SIDECAR_SUFFIX), 0);

        } else {
            fd = openat(drop, "p" INGEST_SIDECAR_SUFFIX,
                        O_WRONLY | O_TRUNC);
            assert_true(fd >= 0);
            assert_int_equal(write(fd, sidecar_new, strlen(sidecar_new)),
                             (ssize_t) strlen(sidecar_new));
            assert_int_equal(close(fd), 0);
        }

        assert_int_equal(ingest_pl_unlink_drop(&pl), 1);
        assert_int_equal(dir_entries(drop), 1);
        assert_int_equal(read_at(drop, "p" INGEST_SIDECAR_SUFFIX, buf,
                                 sizeof(buf)), strlen(sidecar_new));
        assert_string_equal(buf, sidecar_new);
        assert_int_equal(read_at(qdir, "q.sha256", buf, sizeof(buf)),
                         strlen(sidecar_old));

        assert_int_equal(unlinkat(drop, "p" INGEST_SIDECAR_SUFFIX, 0), 0);
        assert_int_equal(unlinkat(qdir, "q.sha256", 0), 0);
    }

    /* a new upload under the name, the old sidecar unchanged: the
     * upload stays to be decided afresh, the stale sidecar goes */
    write_at(drop, "p", "upload", 0644);
    write_at(drop, "p" INGEST_SIDECAR_SUFFIX, sidecar_old, 0644);
    pl_init(&pl, &w, &c, "p");
    assert_int_equal(ingest_pl_copy_sidecar(&pl, qdir, "q.sha256"), 0);
    assert_int_equal(unlinkat(drop, "p", 0), 0);
    write_at(drop, "p", "another upload", 0644);
    assert_int_equal(ingest_pl_unlink_drop(&pl), 0);
    assert_int_equal(c.state, INGEST_CAND_DUE);
    assert_int_equal(dir_entries(drop), 1);
    assert_int_equal(read_at(drop, "p", buf, sizeof(buf)), 14);
}


/* the copy kept with the package is the sidecar the check agreed with:
 * one put in its place between the check and the copy is not copied
 * (it would not match the package) and stays for its own upload */
static void
test_sidecar_checked_is_the_one_kept(void **state)
{
    char             buf[256], msg[256];
    uint8_t          sha[PREP_SHA256_LEN];
    ingest_pl_t      pl;
    ingest_cand_t    c;
    ingest_watch_t   w;

    (void) state;
    write_at(drop, "p", "upload", 0644);
    write_at(drop, "p" INGEST_SIDECAR_SUFFIX, sidecar_old, 0644);
    pl_init(&pl, &w, &c, "p");

    /* what ingest_pl_sidecar() does */
    pl.sidecar = ingest_sidecar_read(drop, "p", sha, &pl.side_checked, msg,
                                     sizeof(msg));
    assert_int_equal(pl.sidecar, INGEST_SIDECAR_OK);
    assert_int_equal(pl.side_checked.len, strlen(sidecar_old));

    write_at(drop, "new.sha256", sidecar_new, 0644);
    assert_int_equal(renameat(drop, "new.sha256", drop,
                              "p" INGEST_SIDECAR_SUFFIX), 0);

    assert_int_equal(ingest_pl_copy_sidecar(&pl, qdir, "q.sha256"), 0);
    assert_int_equal(read_at(qdir, "q.sha256", buf, sizeof(buf)),
                     strlen(sidecar_old));
    assert_string_equal(buf, sidecar_old);

    assert_int_equal(ingest_pl_unlink_drop(&pl), 1);
    assert_int_equal(dir_entries(drop), 1);
    assert_int_equal(read_at(drop, "p" INGEST_SIDECAR_SUFFIX, buf,
                             sizeof(buf)), strlen(sidecar_new));
    assert_string_equal(buf, sidecar_new);
}


/* the copy is whole or nothing: a sidecar over INGEST_SIDECAR_MAX is
 * EFBIG, not copied, and stays in the drop folder (the event says so);
 * one of exactly the bound is copied whole, and read whole by the check */
static void
test_sidecar_copy_whole_or_nothing(void **state)
{
    char            *data, *buf;
    size_t           sizes[] = { INGEST_SIDECAR_MAX, 5000,
                                 INGEST_SIDECAR_MAX + 1 };
    size_t           i;
    uint8_t          sha[PREP_SHA256_LEN];
    char             msg[INGEST_ERRLEN];
    ingest_pl_t      pl;
    ingest_cand_t    c;
    ingest_watch_t   w;

    (void) state;
    buf = xmalloc(8192);

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        data = sidecar_of(sizes[i]);
        write_at(drop, "p", "upload", 0644);
        write_at(drop, "p" INGEST_SIDECAR_SUFFIX, data, 0644);
        pl_init(&pl, &w, &c, "p");

        if (sizes[i] <= INGEST_SIDECAR_MAX) {
            assert_int_equal(ingest_sidecar_read(drop, "p", sha, NULL, msg,
                                                 sizeof(msg)),
                             INGEST_SIDECAR_OK);
            assert_int_equal(ingest_pl_copy_sidecar(&pl, qdir, "q.sha256"),
                             0);
            assert_int_equal(read_at(qdir, "q.sha256", buf, 8192),
                             sizes[i]);
            assert_memory_equal(buf, data, sizes[i]);
            assert_int_equal(ingest_pl_unlink_drop(&pl), 1);
            assert_int_equal(dir_entries(drop), 0);
            assert_int_equal(unlinkat(qdir, "q.sha256", 0), 0);

        } else {
            assert_int_equal(ingest_sidecar_read(drop, "p", sha, NULL, msg,
                                                 sizeof(msg)),
                             INGEST_SIDECAR_INVALID);
            assert_non_null(strstr(msg, "over 4096 bytes"));
            assert_int_equal(ingest_pl_copy_sidecar(&pl, qdir, "q.sha256"),
                             EFBIG);
            assert_int_equal(dir_entries(qdir), 0);
            assert_int_equal(ingest_pl_unlink_drop(&pl), 1);
            assert_int_equal(dir_entries(drop), 1);
            assert_int_equal(read_at(drop, "p" INGEST_SIDECAR_SUFFIX, buf,
                                     8192), sizes[i]);
            assert_int_equal(unlinkat(drop, "p" INGEST_SIDECAR_SUFFIX, 0),
                             0);
        }

        free(data);
    }

    free(buf);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_name_fresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_collisions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_name_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_odd_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reason_document, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reason_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_name_twice, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_link_and_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sidecar_follows, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sidecar_of_the_entry_itself,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sidecar_changed_since_copied_stays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sidecar_checked_is_the_one_kept,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sidecar_copy_whole_or_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_removed_dir, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_error_missing_source, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_error_read_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_error_cross_device, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
