/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of the store's decisions (ingest/store/store.c), in a
 * temporary directory: what current names and what is refused as not a
 * snapshot of cortes/, the temp file, commit and flip (no temp left,
 * current replaced), the cleanup of dead writers' files, the lock, and
 * a file that is not a snapshot refused by ingest_snapfile_open().
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "store/ingest_store.h"


static char  dir[64];


static int
setup(void **state)
{
    (void) state;
    temp_dir(dir, sizeof(dir), "test_store");
    return 0;
}


static int
teardown(void **state)
{
    (void) state;
    rm_tree(dir);
    return 0;
}


static void
link_current(const char *target)
{
    char  p[128];

    (void) snprintf(p, sizeof(p), "%s/current", dir);
    (void) unlink(p);
    assert_int_equal(symlink(target, p), 0);
}


static unsigned
hidden_in(const char *sub)
{
    DIR            *d;
    char            p[128];
    unsigned        n;
    struct dirent  *de;

    (void) snprintf(p, sizeof(p), "%s%s", dir, sub);
    d = opendir(p);
    assert_non_null(d);
    n = 0;

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0
            && strcmp(de->d_name, "..") != 0
            && strcmp(de->d_name, INGEST_STORE_LOCK) != 0)
        {
            n++;
        }
    }

    (void) closedir(d);
    return n;
}


static void
test_current(void **state)
{
    char            name[INGEST_SNAP_NAME_LEN];
    ingest_err_t    err;
    ingest_store_t  st;

    (void) state;
    assert_int_equal(ingest_store_open(&st, dir, &err), 0);

    /* a new store has no current: not an error */
    assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err), 0);

    link_current("cortes/20240603_0015-abc.snap");
    assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err), 1);
    assert_string_equal(name, "20240603_0015-abc.snap");

    /* anything but a name in cortes/ is refused, with the store named */
    link_current("/etc/passwd");
    ingest_err_reset(&err);
    assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err),
                     -1);
    assert_int_equal(err.reason, INGEST_STORE);
    assert_non_null(strstr(err.msg, dir));

    link_current("cortes/a/b.snap");
    assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err),
                     -1);
    link_current("cortes-x/a.snap");
    assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err),
                     -1);

    /* a name that does not fit the caller's buffer */
    link_current("cortes/20240603_0015-abc.snap");
    assert_int_equal(ingest_store_current(&st, name, 8, &err), -1);

    ingest_store_close(&st);
}


static void
test_commit_and_flip(void **state)
{
    int             fd;
    char            tmp[64], name[INGEST_SNAP_NAME_LEN];
    ingest_err_t    err;
    struct stat     sb;
    ingest_store_t  st;

    (void) state;
    assert_int_equal(ingest_store_open(&st, dir, &err), 0);
    assert_int_equal(ingest_store_lock(&st, &err), 0);

    assert_int_equal(ingest_store_tmp(&st, tmp, sizeof(tmp), &fd, &err), 0);
    assert_true(strncmp(tmp, INGEST_STORE_TMP, 5) == 0);
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    assert_int_equal(write(fd, "snap", 4), 4);

    assert_false(ingest_store_exists(&st, "a.snap"));
    assert_int_equal(ingest_store_commit(&st, fd, tmp, "a.snap", &err), 0);
    assert_int_equal(close(fd), 0);
    assert_true(ingest_store_exists(&st, "a.snap"));

    assert_int_equal(ingest_store_flip(&st, "a.snap", &err), 0);
    assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err), 1);
    assert_string_equal(name, "a.snap");

    /* a second flip replaces current; no temp link is left */
    assert_int_equal(ingest_store_flip(&st, "b.snap", &err), 0);
    assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err), 1);
    assert_string_equal(name, "b.snap");
    assert_int_equal(hidden_in(""), 0);
    assert_int_equal(hidden_in("/cortes"), 0);

    ingest_store_close(&st);
}


static void
test_clean_and_lock(void **state)
{
    int             fd, fd2;
    char            tmp[64], p[128];
    ingest_err_t    err;
    ingest_store_t  st;

    (void) state;
    assert_int_equal(ingest_store_open(&st, dir, &err), 0);

    /* what a writer that died left behind */
    assert_int_equal(ingest_store_tmp(&st, tmp, sizeof(tmp), &fd, &err), 0);
    assert_int_equal(close(fd), 0);
    (void) snprintf(p, sizeof(p), "%s/%s12345", dir, INGEST_STORE_LINK_TMP);
    assert_int_equal(symlink("cortes/x.snap", p), 0);
    (void) snprintf(p, sizeof(p), "%s/cortes/kept.snap", dir);
    fd2 = open(p, O_CREAT | O_WRONLY, 0644);
    assert_true(fd2 >= 0);
    assert_int_equal(close(fd2), 0);
    assert_int_equal(hidden_in(""), 1);
    assert_int_equal(hidden_in("/cortes"), 1);

    assert_int_equal(ingest_store_lock(&st, &err), 0);
    ingest_store_clean(&st);
    assert_int_equal(hidden_in(""), 0);
    assert_int_equal(hidden_in("/cortes"), 0);
    assert_true(ingest_store_exists(&st, "kept.snap"));

    /* a file that is not a snapshot is refused, with a reason */
    {
        char               msg[256];
        ingest_snapfile_t  sf;

        msg[0] = '\0';
        assert_int_not_equal(ingest_snapfile_open(&sf, st.cortes_fd,
                                                  "kept.snap", 0, msg,
                                                  sizeof(msg)),
                             PREP_SNAP_OK);
        assert_true(msg[0] != '\0');
    }

    ingest_store_unlock(&st);
    ingest_store_close(&st);

    /* a store that does not exist: a clear error naming it */
    (void) snprintf(p, sizeof(p), "%s/missing", dir);
    ingest_err_reset(&err);
    assert_int_equal(ingest_store_open(&st, p, &err), -1);
    assert_non_null(strstr(err.msg, "missing"));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_current, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_and_flip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_clean_and_lock, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
