/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of the store's decisions (ingest/store/store.c), in a
 * temporary directory: what current names and what is refused as not a
 * snapshot of cortes/, the temp file, commit and flip (no temp left,
 * current replaced), the cleanup of dead writers' files, the lock, and
 * a file that is not a snapshot refused by ingest_snapfile_open(); and
 * the odd cases: current dangling, not a link, or naming something that
 * is not a snapshot of cortes/ ("..", a temp file); temp names cleaned
 * while foreign files stay; temp files' names and mode whatever the
 * umask; errors naming what failed with its errno; cortes/ or .lock a
 * symlink refused; the lock held until unlock or close.
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
#include <sys/file.h>
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
    temp_dir_remove(dir);
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


/* what current may name, and what a wrong current says */
static void
test_current_odd(void **state)
{
    int             i, fd;
    char            name[INGEST_SNAP_NAME_LEN], p[128];
    ingest_err_t    err;
    ingest_store_t  st;
    static const char  *outside[] = {
        "cortes/..", "cortes/.", "cortes/", "cortes/.tmp-Ab3dE9",
        "cortes//a.snap", "./cortes/a.snap", "../cortes/a.snap",
    };

    (void) state;
    assert_int_equal(ingest_store_open(&st, dir, &err), 0);

    /* a dangling link is still what current names: whether the
     * snapshot is there is for the caller to check */
    link_current("cortes/gone.snap");
    assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err), 1);
    assert_string_equal(name, "gone.snap");
    assert_false(ingest_store_exists(&st, "gone.snap"));

    /* a name of exactly the room there is, and one byte more */
    link_current("cortes/1234567.snap");
    assert_int_equal(ingest_store_current(&st, name, 13, &err), 1);
    assert_string_equal(name, "1234567.snap");
    ingest_err_reset(&err);
    assert_int_equal(ingest_store_current(&st, name, 12, &err), -1);
    assert_int_equal(err.reason, INGEST_STORE);

    /* names that are not a snapshot's in cortes/, hidden (temp) ones
     * included, the way rollback --to refuses them */
    for (i = 0; i < (int) (sizeof(outside) / sizeof(outside[0])); i++) {
        link_current(outside[i]);
        ingest_err_reset(&err);
        assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err),
                         -1);
        assert_int_equal(err.reason, INGEST_STORE);
        assert_non_null(strstr(err.msg, outside[i]));
    }

    /* not a link at all: the errno, with the store named */
    (void) snprintf(p, sizeof(p), "%s/current", dir);
    (void) unlink(p);
    fd = open(p, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    assert_int_equal(close(fd), 0);
    ingest_err_reset(&err);
    assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err),
                     -1);
    assert_int_equal(err.reason, INGEST_IO);
    assert_non_null(strstr(err.msg, dir));
    assert_non_null(strstr(err.msg, strerror(EINVAL)));

    assert_int_equal(unlink(p), 0);
    assert_int_equal(mkdir(p, 0755), 0);
    ingest_err_reset(&err);
    assert_int_equal(ingest_store_current(&st, name, sizeof(name), &err),
                     -1);
    assert_non_null(strstr(err.msg, strerror(EINVAL)));

    ingest_store_close(&st);
}


/* only the store's own temp names go; whatever else is there stays */
static void
test_clean_foreign(void **state)
{
    int             i, sub;
    ingest_err_t    err;
    struct stat     sb;
    ingest_store_t  st;
    static const char  *ckept[] = {
        ".tmpx", ".tmp", "foreign.txt", ".hidden", "a.snap", "tmp-Ab3dE9",
    };
    static const char  *skept[] = {
        "events.jsonl", ".current.tmp", ".tmp-Ab3dE9", "current.tmp-1",
        "notes",
    };

    (void) state;
    assert_int_equal(ingest_store_open(&st, dir, &err), 0);
    assert_int_equal(ingest_store_lock(&st, &err), 0);

    for (i = 0; i < (int) (sizeof(ckept) / sizeof(ckept[0])); i++) {
        write_at(st.cortes_fd, ckept[i], "x", 0644);
    }

    for (i = 0; i < (int) (sizeof(skept) / sizeof(skept[0])); i++) {
        write_at(st.dir_fd, skept[i], "x", 0644);
    }

    /* a temp name of either kind, whatever the file is */
    write_at(st.cortes_fd, ".tmp-Zz9Yy8", "", 0600);
    assert_int_equal(symlinkat("x", st.cortes_fd, ".tmp-link00"), 0);
    write_at(st.dir_fd, INGEST_STORE_LINK_TMP "4242", "", 0600);
    assert_int_equal(symlinkat("cortes/a.snap", st.dir_fd,
                               INGEST_STORE_LINK_TMP "4343"), 0);

    /* a directory with a temp name cannot be unlinked: kept, no harm */
    assert_int_equal(mkdirat(st.cortes_fd, ".tmp-dir000", 0755), 0);
    assert_int_equal(mkdirat(st.dir_fd, "staging", 0755), 0);

    ingest_store_clean(&st);

    assert_int_equal(dir_entries(st.cortes_fd),
                     sizeof(ckept) / sizeof(ckept[0]) + 1);
    for (i = 0; i < (int) (sizeof(ckept) / sizeof(ckept[0])); i++) {
        assert_true(ingest_store_exists(&st, ckept[i]));
    }
    assert_true(ingest_store_exists(&st, ".tmp-dir000"));

    for (i = 0; i < (int) (sizeof(skept) / sizeof(skept[0])); i++) {
        assert_int_equal(fstatat(st.dir_fd, skept[i], &sb,
                                 AT_SYMLINK_NOFOLLOW), 0);
    }
    assert_int_equal(fstatat(st.dir_fd, INGEST_STORE_LOCK, &sb, 0), 0);
    assert_int_equal(fstatat(st.dir_fd, "staging", &sb, 0), 0);
    assert_int_equal(hidden_in(""), 2);

    /* no prefix: every file of the directory, not its subdirectories */
    sub = openat(st.dir_fd, "staging", O_RDONLY | O_DIRECTORY);
    assert_true(sub >= 0);
    write_at(sub, ".tmp-a", "", 0600);
    write_at(sub, "b", "", 0600);
    assert_int_equal(mkdirat(sub, "c", 0755), 0);
    assert_int_equal(ingest_dir_clean(sub, NULL), 2);
    assert_int_equal(dir_entries(sub), 1);
    assert_int_equal(close(sub), 0);

    ingest_store_close(&st);
}


/* temp files: new names, exact mode, the error when none can be made */
static void
test_tmp(void **state)
{
    int             i, fd[2];
    char            name[2][64];
    mode_t          mask;
    struct stat     sb;
    ingest_err_t    err;
    ingest_store_t  st;

    (void) state;
    assert_int_equal(ingest_store_open(&st, dir, &err), 0);

    /* readable by nginx whatever the umask */
    mask = umask(077);

    for (i = 0; i < 2; i++) {
        ingest_err_reset(&err);
        assert_int_equal(ingest_store_tmp(&st, name[i], sizeof(name[i]),
                                          &fd[i], &err), 0);
        assert_int_equal(fstat(fd[i], &sb), 0);
        assert_int_equal(sb.st_mode & 07777, 0644);

        /* ".tmp-" and six letters or digits */
        assert_int_equal(strlen(name[i]), sizeof(INGEST_STORE_TMP) - 1 + 6);
        assert_int_equal(strspn(name[i] + sizeof(INGEST_STORE_TMP) - 1,
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "abcdefghijklmnopqrstuvwxyz0123456789"), 6);
        assert_true(ingest_store_exists(&st, name[i]));
    }

    (void) umask(mask);
    assert_string_not_equal(name[0], name[1]);

    for (i = 0; i < 2; i++) {
        assert_int_equal(close(fd[i]), 0);
        ingest_store_tmp_remove(&st, name[i]);
        assert_false(ingest_store_exists(&st, name[i]));
    }

    /* cortes/ gone under the writer: the errno, with cortes/ named */
    assert_int_equal(rmdir(strcat(strcpy(name[0], dir), "/cortes")), 0);
    ingest_err_reset(&err);
    assert_int_equal(ingest_store_tmp(&st, name[1], sizeof(name[1]), &fd[0],
                                      &err), -1);
    assert_int_equal(fd[0], -1);
    assert_non_null(strstr(err.msg, "cortes"));
    assert_non_null(strstr(err.msg, strerror(ENOENT)));

    ingest_store_close(&st);
}


/* a commit of a temp file that is not there changes nothing */
static void
test_commit_missing(void **state)
{
    int             fd;
    ingest_err_t    err;
    ingest_store_t  st;

    (void) state;
    assert_int_equal(ingest_store_open(&st, dir, &err), 0);
    write_at(st.cortes_fd, "old.snap", "old", 0644);

    fd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    ingest_err_reset(&err);
    assert_int_equal(ingest_store_commit(&st, fd, ".tmp-absent", "old.snap",
                                         &err), -1);
    assert_int_equal(close(fd), 0);
    assert_non_null(strstr(err.msg, ".tmp-absent"));
    assert_non_null(strstr(err.msg, strerror(ENOENT)));
    assert_true(ingest_store_exists(&st, "old.snap"));
    assert_true(st.fsync_seconds >= 0);

    ingest_store_close(&st);
}


/* cortes/ must be a directory of the store itself, not a link to one */
static void
test_open_refuses(void **state)
{
    char            p[128], q[128];
    ingest_err_t    err;
    ingest_store_t  st;

    (void) state;
    (void) snprintf(p, sizeof(p), "%s/cortes", dir);
    (void) snprintf(q, sizeof(q), "%s/elsewhere", dir);
    assert_int_equal(mkdir(q, 0755), 0);
    assert_int_equal(symlink("elsewhere", p), 0);

    ingest_err_reset(&err);
    assert_int_equal(ingest_store_open(&st, dir, &err), -1);
    assert_non_null(strstr(err.msg, p));
    ingest_store_close(&st);

    assert_int_equal(unlink(p), 0);
    write_at(AT_FDCWD, p, "", 0644);
    ingest_err_reset(&err);
    assert_int_equal(ingest_store_open(&st, dir, &err), -1);
    assert_non_null(strstr(err.msg, strerror(ENOTDIR)));
    ingest_store_close(&st);

    /* a store that is a file */
    ingest_err_reset(&err);
    assert_int_equal(ingest_store_open(&st, p, &err), -1);
    assert_non_null(strstr(err.msg, strerror(ENOTDIR)));
    ingest_store_close(&st);
}


/* the lock is held from ingest_store_lock() to unlock or close */
static void
test_lock_held(void **state)
{
    int             probe;
    char            p[128];
    ingest_err_t    err;
    ingest_store_t  st;

    (void) state;
    assert_int_equal(ingest_store_open(&st, dir, &err), 0);
    assert_int_equal(ingest_store_lock(&st, &err), 0);

    (void) snprintf(p, sizeof(p), "%s/%s", dir, INGEST_STORE_LOCK);
    probe = open(p, O_RDWR);
    assert_true(probe >= 0);
    assert_int_equal(flock(probe, LOCK_EX | LOCK_NB), -1);
    assert_int_equal(errno, EWOULDBLOCK);

    ingest_store_unlock(&st);
    assert_int_equal(flock(probe, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(flock(probe, LOCK_UN), 0);

    assert_int_equal(ingest_store_lock(&st, &err), 0);
    assert_int_equal(flock(probe, LOCK_EX | LOCK_NB), -1);
    ingest_store_close(&st);
    assert_int_equal(flock(probe, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(close(probe), 0);

    /* .lock a symlink: refused, not followed */
    assert_int_equal(unlink(p), 0);
    assert_int_equal(symlink("elsewhere.lock", p), 0);
    assert_int_equal(ingest_store_open(&st, dir, &err), 0);
    ingest_err_reset(&err);
    assert_int_equal(ingest_store_lock(&st, &err), -1);
    assert_non_null(strstr(err.msg, INGEST_STORE_LOCK));
    assert_int_equal(faccessat(st.dir_fd, "elsewhere.lock", F_OK, 0), -1);
    ingest_store_close(&st);
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
        cmocka_unit_test_setup_teardown(test_current_odd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_foreign, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tmp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_missing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_held, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
