/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of retention (ingest/store/retention.c), in a temporary
 * store: the newest "keep" snapshots and packages stay, the live snapshot
 * always (also when a rollback made it the oldest, also with keep 0),
 * hidden, temp and foreign files are never touched, a package goes with
 * its sidecar, the list of removed names is newest first and cut to the
 * caller's buffer, more names than INGEST_RETENTION_MAX are handled in
 * passes without ever removing one of the newest, and --keep-until
 * keeps the live corte's predecessor and the packages of both.
 *
 * Snapshot i (0 the oldest) is cortes/<stem i>.snap, package i
 * packages/<stem i>.tar.gz with its <stem i>.tar.gz.sha256; a bit mask
 * says which are left.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "store/ingest_files.h"


#define NAME_LEN  64


static char  dir[64];
static int   cdir = -1;
static int   pdir = -1;


static int
setup(void **state)
{
    int  fd;

    (void) state;
    temp_dir(dir, sizeof(dir), "test_retention");

    fd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(mkdirat(fd, "cortes", 0755), 0);
    assert_int_equal(mkdirat(fd, INGEST_DIR_PACKAGES, 0755), 0);
    cdir = openat(fd, "cortes", O_RDONLY | O_DIRECTORY);
    pdir = openat(fd, INGEST_DIR_PACKAGES, O_RDONLY | O_DIRECTORY);
    assert_true(cdir >= 0 && pdir >= 0);
    assert_int_equal(close(fd), 0);

    return 0;
}


static int
teardown(void **state)
{
    (void) state;
    ingest_retention_keep_until(0);
    (void) close(cdir);
    (void) close(pdir);
    cdir = -1;
    pdir = -1;
    temp_dir_remove(dir);
    return 0;
}


/* "<corte id>-<12 hex><suffix>": names sort as i does; the last few
 * stay valid, so one call can take several */
static const char *
name_of(int i, const char *suffix)
{
    static char  buf[8][NAME_LEN];
    static int   next;
    char        *p;

    p = buf[next++ % 8];
    (void) snprintf(p, NAME_LEN, "202406%02d_%04d-%012x%s", 3 + i / 10000,
                    i % 10000, (unsigned) (i * 2654435761u) & 0xffffff,
                    suffix);
    return p;
}


#define snap(i)     name_of(i, ".snap")
#define package(i)  name_of(i, ".tar.gz")
#define sidecar(i)  name_of(i, ".tar.gz" INGEST_SIDECAR_SUFFIX)


static int
present(int dir_fd, const char *name)
{
    struct stat  sb;

    return fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}


static void
make_snaps(int n)
{
    int  i;

    for (i = 0; i < n; i++) {
        if (!present(cdir, snap(i))) {
            write_at(cdir, snap(i), "snap", 0644);
        }
    }
}


static void
make_packages(int n)
{
    int  i;

    for (i = 0; i < n; i++) {
        if (!present(pdir, package(i))) {
            write_at(pdir, package(i), "tgz", 0644);
            write_at(pdir, sidecar(i), "hex", 0644);
        }
    }
}


/* bit i: snapshot i is still there */
static unsigned
snaps_left(int n)
{
    int       i;
    unsigned  mask;

    mask = 0;

    for (i = 0; i < n; i++) {
        mask |= present(cdir, snap(i)) ? 1u << i : 0;
    }

    return mask;
}


/* bit i: package i is still there, and with it its sidecar */
static unsigned
packages_left(int n)
{
    int       i;
    unsigned  mask;

    mask = 0;

    for (i = 0; i < n; i++) {
        assert_int_equal(present(pdir, package(i)), present(pdir,
                                                            sidecar(i)));
        mask |= present(pdir, package(i)) ? 1u << i : 0;
    }

    return mask;
}


static void
test_keep_newest(void **state)
{
    char  removed[1024], want[1024];

    (void) state;
    make_snaps(6);

    assert_int_equal(ingest_retention_snapshots(cdir, 3, snap(5), removed,
                                                sizeof(removed)), 3);
    assert_int_equal(snaps_left(6), 0x38);

    /* the removed ones, newest first */
    (void) snprintf(want, sizeof(want), "%s,%s,%s", snap(2), snap(1),
                    snap(0));
    assert_string_equal(removed, want);

    /* nothing more to do: nothing removed, an empty list */
    assert_int_equal(ingest_retention_snapshots(cdir, 3, snap(5), removed,
                                                sizeof(removed)), 0);
    assert_string_equal(removed, "");
    assert_int_equal(snaps_left(6), 0x38);

    /* fewer than keep: all stay */
    assert_int_equal(ingest_retention_snapshots(cdir, 10, snap(5), removed,
                                                sizeof(removed)), 0);
    assert_int_equal(snaps_left(6), 0x38);
}


/* after a rollback the live one is not the newest: it stays, and counts
 * among the kept ones */
static void
test_live_not_newest(void **state)
{
    char  removed[1024];

    (void) state;
    make_snaps(6);

    assert_int_equal(ingest_retention_snapshots(cdir, 2, snap(2), removed,
                                                sizeof(removed)), 4);
    assert_int_equal(snaps_left(6), 0x24);

    /* rolled forward again: the two stay */
    assert_int_equal(ingest_retention_snapshots(cdir, 2, snap(5), removed,
                                                sizeof(removed)), 0);
    assert_int_equal(snaps_left(6), 0x24);
}


static void
test_live_oldest(void **state)
{
    char  removed[1024], want[1024];

    (void) state;
    make_snaps(6);

    assert_int_equal(ingest_retention_snapshots(cdir, 3, snap(0), removed,
                                                sizeof(removed)), 3);
    assert_int_equal(snaps_left(6), 0x31);
    (void) snprintf(want, sizeof(want), "%s,%s,%s", snap(3), snap(2),
                    snap(1));
    assert_string_equal(removed, want);
}


/* no live snapshot (a new store): the newest "keep" stay */
static void
test_no_live(void **state)
{
    char  removed[1024];

    (void) state;
    make_snaps(5);

    assert_int_equal(ingest_retention_snapshots(cdir, 3, NULL, removed,
                                                sizeof(removed)), 2);
    assert_int_equal(snaps_left(5), 0x1c);

    assert_int_equal(ingest_retention_snapshots(cdir, 2, "", removed,
                                                sizeof(removed)), 1);
    assert_int_equal(snaps_left(5), 0x18);
}


/*
 * keep 0 and 1: the command line refuses them (--keep-snapshots is at
 * least 2, --keep-packages at least 1, cli/config.c), but the functions
 * define them: the live snapshot stays whatever keep says; without one,
 * and for packages, keep 0 removes them all.
 */
static void
test_keep_zero(void **state)
{
    char  removed[1024];

    (void) state;
    make_snaps(5);
    make_packages(4);

    assert_int_equal(ingest_retention_snapshots(cdir, 1, snap(3), removed,
                                                sizeof(removed)), 4);
    assert_int_equal(snaps_left(5), 0x08);

    assert_int_equal(ingest_retention_snapshots(cdir, 0, snap(3), removed,
                                                sizeof(removed)), 0);
    assert_int_equal(snaps_left(5), 0x08);

    assert_int_equal(ingest_retention_snapshots(cdir, 0, NULL, removed,
                                                sizeof(removed)), 1);
    assert_int_equal(snaps_left(5), 0);

    assert_int_equal(ingest_retention_packages(pdir, 1, removed,
                                               sizeof(removed)), 3);
    assert_int_equal(packages_left(4), 0x08);

    assert_int_equal(ingest_retention_packages(pdir, 0, removed,
                                               sizeof(removed)), 1);
    assert_int_equal(packages_left(4), 0);
    assert_string_equal(removed, package(3));
}


static void
test_packages(void **state)
{
    char  removed[1024], want[1024];

    (void) state;
    make_packages(5);

    /* a package without its sidecar goes alone */
    assert_int_equal(unlinkat(pdir, sidecar(1), 0), 0);

    assert_int_equal(ingest_retention_packages(pdir, 2, removed,
                                               sizeof(removed)), 3);
    assert_false(present(pdir, package(1)));
    assert_int_equal(packages_left(5), 0x18);

    /* only packages are listed, never their sidecars */
    (void) snprintf(want, sizeof(want), "%s,%s,%s", package(2),
                    package(1), package(0));
    assert_string_equal(removed, want);
}


/* what is not a snapshot or a package, or is hidden, stays */
static void
test_foreign_files(void **state)
{
    int                i;
    char               removed[1024];
    static const char  *cforeign[] = {
        ".tmp-Ab3dE9", ".hidden.snap", ".snap", "README", "x.snap.bak",
        "current", "notes.txt",
    };
    static const char  *pforeign[] = {
        ".tmp-Xy12z9", ".hidden.tar.gz", ".tar.gz", "x.tar.gz.part",
        "orphan.tar.gz.sha256", "upload.zip",
    };

    (void) state;
    make_snaps(4);
    make_packages(4);

    for (i = 0; i < (int) (sizeof(cforeign) / sizeof(cforeign[0])); i++) {
        write_at(cdir, cforeign[i], "x", 0644);
    }

    for (i = 0; i < (int) (sizeof(pforeign) / sizeof(pforeign[0])); i++) {
        write_at(pdir, pforeign[i], "x", 0644);
    }

    /* a directory that sorts oldest: not removed, not counted */
    assert_int_equal(mkdirat(cdir, "00000000_0000-000000000000.snap", 0755),
                     0);
    assert_int_equal(mkdirat(pdir, "00000000_0000-000000000000.tar.gz",
                             0755), 0);

    assert_int_equal(ingest_retention_snapshots(cdir, 2, snap(3), removed,
                                                sizeof(removed)), 2);
    assert_int_equal(snaps_left(4), 0x0c);
    assert_null(strstr(removed, "00000000_"));

    assert_int_equal(ingest_retention_packages(pdir, 2, removed,
                                               sizeof(removed)), 2);
    assert_int_equal(packages_left(4), 0x0c);
    assert_null(strstr(removed, "00000000_"));

    for (i = 0; i < (int) (sizeof(cforeign) / sizeof(cforeign[0])); i++) {
        assert_true(present(cdir, cforeign[i]));
    }

    for (i = 0; i < (int) (sizeof(pforeign) / sizeof(pforeign[0])); i++) {
        assert_true(present(pdir, pforeign[i]));
    }

    assert_true(present(cdir, "00000000_0000-000000000000.snap"));
    assert_true(present(pdir, "00000000_0000-000000000000.tar.gz"));
}


/* the list is cut to the caller's buffer, never past it; the count and
 * the removal are whole */
static void
test_removed_bound(void **state)
{
    int      i;
    char     full[1024], *cut;
    size_t   len;

    (void) state;

    for (i = 0; i < 2; i++) {
        make_snaps(8);
        make_packages(8);

        if (i == 0) {
            assert_int_equal(ingest_retention_snapshots(cdir, 1, snap(7),
                                                        full, sizeof(full)),
                             7);
            assert_int_equal(ingest_retention_packages(pdir, 1, full
                                                       + strlen(full) + 1,
                                                       sizeof(full)
                                                       - strlen(full) - 1),
                             7);
            continue;
        }

        /* exact-size heap buffers: ASan sees a byte past the end */
        len = strlen(full);
        cut = xmalloc(len);
        assert_int_equal(ingest_retention_snapshots(cdir, 1, snap(7), cut,
                                                    len), 7);
        assert_int_equal(strlen(cut), len - 1);
        assert_memory_equal(cut, full, len - 1);
        free(cut);
        assert_int_equal(snaps_left(8), 0x80);

        cut = xmalloc(20);
        assert_int_equal(ingest_retention_packages(pdir, 1, cut, 20), 7);
        assert_int_equal(strlen(cut), 19);
        assert_memory_equal(cut, full + len + 1, 19);
        free(cut);
        assert_int_equal(packages_left(8), 0x80);
    }

    /* a buffer of size 0 is never written */
    make_snaps(3);
    cut = xmalloc(1);
    cut[0] = 'x';
    assert_int_equal(ingest_retention_snapshots(cdir, 1, snap(7), cut, 0),
                     3);
    assert_int_equal(cut[0], 'x');
    free(cut);
}


/*
 * More snapshots than INGEST_RETENTION_MAX: a pass looks at that many
 * (in directory order), never removes one of the newest "keep", and the
 * next pass finishes the work.
 */
static void
test_many_names(void **state)
{
    int       i, n, pass;
    char      removed[1024];
    unsigned  count, total;

    (void) state;
    n = INGEST_RETENTION_MAX + 50;
    make_snaps(n);
    total = 0;

    for (pass = 0; pass < 3; pass++) {
        count = ingest_retention_snapshots(cdir, 3, snap(n - 1), removed,
                                           sizeof(removed));
        total += count;

        assert_true(present(cdir, snap(n - 1)));
        assert_true(present(cdir, snap(n - 2)));
        assert_true(present(cdir, snap(n - 3)));
        assert_true(strlen(removed) < sizeof(removed));

        if (pass == 0) {
            assert_true(count >= INGEST_RETENTION_MAX - 3);
        }
    }

    assert_int_equal(total, (unsigned) n - 3);

    for (i = 0; i < n - 3; i++) {
        assert_false(present(cdir, snap(i)));
    }
}


/*
 * --keep-until: the live corte's predecessor (the newest name before
 * it, wherever a rollback left the live one) stays on top of "keep",
 * and the packages of both stay whatever --keep-packages says.
 */
static void
test_keep_until(void **state)
{
    char  removed[1024];

    (void) state;
    make_snaps(6);
    make_packages(6);

    ingest_retention_keep_until((double) time(NULL) + 3600);

    assert_int_equal(ingest_retention_snapshots(cdir, 2, snap(2), removed,
                                                sizeof(removed)), 3);
    assert_int_equal(snaps_left(6), 0x26);

    assert_int_equal(ingest_retention_packages(pdir, 1, removed,
                                               sizeof(removed)), 3);
    assert_int_equal(packages_left(6), 0x26);

    /* the oldest live one has no predecessor */
    assert_int_equal(ingest_retention_snapshots(cdir, 1, snap(1), removed,
                                                sizeof(removed)), 2);
    assert_int_equal(snaps_left(6), 0x02);
    assert_int_equal(ingest_retention_packages(pdir, 1, removed,
                                               sizeof(removed)), 1);
    assert_int_equal(packages_left(6), 0x22);
}


/* once the time has passed: "keep" alone */
static void
test_keep_until_past(void **state)
{
    char  removed[1024];

    (void) state;
    make_snaps(6);
    make_packages(6);

    ingest_retention_keep_until((double) time(NULL) - 10);

    assert_int_equal(ingest_retention_snapshots(cdir, 2, snap(2), removed,
                                                sizeof(removed)), 4);
    assert_int_equal(snaps_left(6), 0x24);
    assert_int_equal(ingest_retention_packages(pdir, 1, removed,
                                               sizeof(removed)), 5);
    assert_int_equal(packages_left(6), 0x20);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_keep_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_not_newest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_live_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_packages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_removed_bound, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_until, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_until_past, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
