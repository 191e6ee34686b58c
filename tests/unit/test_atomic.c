/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of the atomic file helper (libprep/prep_atomic.c), each in
 * a temporary directory: content and mode of a new file, replacement,
 * the .prev link, abort, symlinks, and the errno of each kind of
 * failure (a full disk through /dev/full, a missing directory, a
 * directory in the way, a name too long, another file system for a
 * move), and the call named after each; a durable removal and the errno
 * of each of its steps.  Faults of fsync and rename are injected with
 * strace by tests/integration/test_atomic_faults.py.
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

#include "prep_atomic.h"


static char  dir[64];


static int
setup(void **state)
{
    (void) state;
    temp_dir(dir, sizeof(dir), "test_atomic");
    return 0;
}


static int
teardown(void **state)
{
    DIR            *d;
    char            p[4200];
    struct dirent  *de;

    (void) state;

    d = opendir(dir);
    assert_non_null(d);

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && (de->d_name[1] == '\0'
            || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
        {
            continue;
        }

        (void) snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);

        if (unlink(p) != 0) {
            (void) rmdir(p);
        }
    }

    (void) closedir(d);
    assert_int_equal(rmdir(dir), 0);
    return 0;
}


static void
in_dir(char *buf, size_t size, const char *name)
{
    (void) snprintf(buf, size, "%s/%s", dir, name);
}


static void
assert_content(const char *path, const char *want)
{
    int      fd;
    char     buf[256];
    ssize_t  n;

    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    n = read(fd, buf, sizeof(buf));
    (void) close(fd);
    assert_int_equal(n, (ssize_t) strlen(want));
    assert_memory_equal(buf, want, strlen(want));
}


/* nothing but the names given is left in the directory */
static void
assert_entries(unsigned want)
{
    DIR            *d;
    unsigned        n;
    struct dirent  *de;

    d = opendir(dir);
    assert_non_null(d);
    n = 0;

    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            assert_null(strstr(de->d_name, ".tmp-"));
            n++;
        }
    }

    (void) closedir(d);
    assert_int_equal(n, want);
}


static void
test_write_new_file(void **state)
{
    char         p[128];
    mode_t       old;
    struct stat  sb;

    (void) state;
    in_dir(p, sizeof(p), "a.json");

    /* the mode is exact whatever the umask */
    old = umask(077);
    assert_int_equal(prep_atomic_write_file(p, "{}\n", 3, 0644, 0), 0);
    (void) umask(old);

    assert_content(p, "{}\n");
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0644);
    assert_entries(1);
}


static void
test_replace_and_prev(void **state)
{
    char         p[128], prev[140];
    struct stat  a, b;

    (void) state;
    in_dir(p, sizeof(p), "state");
    in_dir(prev, sizeof(prev), "state.prev");

    /* no old file: KEEP_PREV is no error and makes no .prev */
    assert_int_equal(prep_atomic_write_file(p, "one", 3, 0600,
                                            PREP_ATOMIC_KEEP_PREV), 0);
    assert_int_equal(access(prev, F_OK), -1);

    assert_int_equal(stat(p, &a), 0);
    assert_int_equal(prep_atomic_write_file(p, "two", 3, 0600,
                                            PREP_ATOMIC_KEEP_PREV), 0);
    assert_content(p, "two");
    assert_content(prev, "one");

    /* .prev is the old inode itself, not a copy */
    assert_int_equal(stat(prev, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);

    assert_int_equal(prep_atomic_write_file(p, "three", 5, 0600,
                                            PREP_ATOMIC_KEEP_PREV), 0);
    assert_content(p, "three");
    assert_content(prev, "two");

    /* without the flag .prev is left alone */
    assert_int_equal(prep_atomic_write_file(p, "four", 4, 0600, 0), 0);
    assert_content(p, "four");
    assert_content(prev, "two");
    assert_entries(2);

    /* .prev already the current file (a commit failed at its rename):
     * rename(2) of one inode over itself does nothing, no temp stays */
    assert_int_equal(unlink(prev), 0);
    assert_int_equal(link(p, prev), 0);
    assert_int_equal(prep_atomic_write_file(p, "five", 4, 0600,
                                            PREP_ATOMIC_KEEP_PREV), 0);
    assert_content(p, "five");
    assert_content(prev, "four");
    assert_entries(2);
}


/* NAME in the directory holds old; a replacement of it is begun */
static void
begin_over(prep_atomic_file_t *f, char *p, size_t size, const char *name,
    const char *old)
{
    in_dir(p, size, name);
    assert_int_equal(prep_atomic_write_file(p, old, strlen(old), 0644, 0),
                     0);
    assert_int_equal(prep_atomic_begin(f, p, 0644), 0);
    assert_true(f->fd >= 0);
}


static void
test_begin_write_commit(void **state)
{
    char                p[128];
    prep_atomic_file_t  f;

    (void) state;
    begin_over(&f, p, sizeof(p), "snap", "old");
    assert_non_null(strstr(f.tmp, "/.snap.tmp-"));
    assert_int_equal(prep_atomic_write(&f, "ne", 2), 0);
    assert_int_equal(prep_atomic_write(&f, "w", 1), 0);

    /* until the commit, readers see the old file */
    assert_content(p, "old");

    /* the final name may be decided once the content is known */
    in_dir(f.path, sizeof(f.path), "snap-named");
    assert_int_equal(prep_atomic_commit(&f, 0), 0);
    assert_int_equal(f.fd, -1);
    assert_string_equal(f.tmp, "");

    assert_content(f.path, "new");
    assert_content(p, "old");
    assert_entries(2);
}


static void
test_abort(void **state)
{
    char                p[128];
    prep_atomic_file_t  f;

    (void) state;
    in_dir(p, sizeof(p), "x");

    assert_int_equal(prep_atomic_begin(&f, p, 0644), 0);
    assert_int_equal(prep_atomic_write(&f, "half", 4), 0);
    prep_atomic_abort(&f);
    assert_int_equal(f.fd, -1);
    prep_atomic_abort(&f);          /* twice is harmless */

    assert_int_equal(access(p, F_OK), -1);
    assert_entries(0);

    /* a write or a commit after the abort is an error, not a crash */
    assert_int_equal(prep_atomic_write(&f, "x", 1), EBADF);
    assert_int_equal(prep_atomic_commit(&f, 0), EBADF);
}


static void
test_full_disk(void **state)
{
    char                p[128];
    prep_atomic_file_t  f;

    (void) state;
    begin_over(&f, p, sizeof(p), "full", "kept");

    /* /dev/full answers every write with ENOSPC */
    assert_int_equal(close(f.fd), 0);
    f.fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(f.fd >= 0);

    assert_int_equal(prep_atomic_write(&f, "lost", 4), ENOSPC);
    prep_atomic_abort(&f);

    assert_content(p, "kept");
    assert_entries(1);
}


static void
test_errors(void **state)
{
    char                p[128], longp[5000];
    prep_atomic_file_t  f;

    (void) state;

    in_dir(p, sizeof(p), "missing/a");
    assert_int_equal(prep_atomic_write_file(p, "x", 1, 0644, 0), ENOENT);
    assert_int_equal(prep_atomic_begin(&f, p, 0644), ENOENT);
    assert_int_equal(f.fd, -1);
    prep_atomic_abort(&f);

    assert_int_equal(prep_atomic_write_file("", "x", 1, 0644, 0), ENOENT);

    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(prep_atomic_write_file(longp, "x", 1, 0644, 0),
                     ENAMETOOLONG);

    /* a name that only just fits has no room for the temp suffix */
    memset(longp, 'a', 4090);
    longp[0] = '/';
    longp[4090] = '\0';
    assert_int_equal(prep_atomic_write_file(longp, "x", 1, 0644, 0),
                     ENAMETOOLONG);

    /* a name of 255 bytes: its temp name is cut to fit */
    in_dir(longp, 400, "");
    memset(longp + strlen(longp), 'n', 255);
    longp[strlen(dir) + 1 + 255] = '\0';
    assert_int_equal(prep_atomic_write_file(longp, "x", 1, 0644, 0), 0);
    assert_content(longp, "x");
    assert_int_equal(unlink(longp), 0);

    /* a directory in the way: the rename fails, the temp is removed */
    in_dir(p, sizeof(p), "d");
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(prep_atomic_write_file(p, "x", 1, 0644, 0), EISDIR);
    assert_int_equal(prep_atomic_symlink("x", p), EISDIR);
    assert_entries(1);
}


static void
test_symlink(void **state)
{
    char         p[128], link[64];
    ssize_t      n;
    struct stat  sb;

    (void) state;
    in_dir(p, sizeof(p), "current");

    assert_int_equal(prep_atomic_symlink("cortes/a", p), 0);
    n = readlink(p, link, sizeof(link));
    assert_int_equal(n, 8);
    assert_memory_equal(link, "cortes/a", 8);

    assert_int_equal(prep_atomic_symlink("cortes/b", p), 0);
    n = readlink(p, link, sizeof(link));
    assert_int_equal(n, 8);
    assert_memory_equal(link, "cortes/b", 8);

    /* a regular file is replaced too */
    in_dir(p, sizeof(p), "file");
    assert_int_equal(prep_atomic_write_file(p, "x", 1, 0644, 0), 0);
    assert_int_equal(prep_atomic_symlink("cortes/c", p), 0);
    assert_int_equal(lstat(p, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));

    in_dir(p, sizeof(p), "missing/current");
    assert_int_equal(prep_atomic_symlink("x", p), ENOENT);
    assert_int_equal(prep_atomic_symlink("x", ""), ENOENT);
    assert_entries(2);
}


/* a relative name: the directory to fsync is "." */
static void
test_relative(void **state)
{
    char  cwd[4096];

    (void) state;
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(prep_atomic_write_file("rel", "r", 1, 0644, 0), 0);
    assert_int_equal(prep_atomic_symlink("rel", "rel.link"), 0);
    assert_int_equal(chdir(cwd), 0);

    assert_entries(2);
}


/* after a failure, the call and its path, for the caller's message */
static void
test_failed_call_named(void **state)
{
    char                p[128], tmp[4096];
    prep_atomic_file_t  f;

    (void) state;

    begin_over(&f, p, sizeof(p), "named", "kept");
    assert_string_equal(f.op, "");
    (void) snprintf(tmp, sizeof(tmp), "%s", f.tmp);

    assert_int_equal(close(f.fd), 0);
    f.fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(f.fd >= 0);
    assert_int_equal(prep_atomic_write(&f, "lost", 4), ENOSPC);
    assert_string_equal(f.op, "write()");
    assert_string_equal(f.op_path, tmp);
    prep_atomic_abort(&f);

    /* the rename over a directory: named with the temp file */
    in_dir(p, sizeof(p), "d");
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(prep_atomic_begin(&f, p, 0644), 0);
    (void) snprintf(tmp, sizeof(tmp), "%s", f.tmp);
    assert_int_equal(prep_atomic_commit(&f, 0), EISDIR);
    assert_string_equal(f.op, "rename()");
    assert_string_equal(f.op_path, tmp);
    assert_string_equal(f.tmp, "");

    /* the old file is linked to .prev first: a directory in the way */
    in_dir(p, sizeof(p), "named.prev");
    assert_int_equal(mkdir(p, 0755), 0);
    in_dir(p, sizeof(p), "named");
    assert_int_equal(prep_atomic_begin(&f, p, 0644), 0);
    assert_int_equal(prep_atomic_commit(&f, PREP_ATOMIC_KEEP_PREV), EISDIR);
    assert_string_equal(f.op, "rename()");
    assert_non_null(strstr(f.op_path, "/.named.prev.tmp-"));
    assert_content(p, "kept");

    /* a missing directory: open() of the temp file */
    in_dir(p, sizeof(p), "missing/a");
    assert_int_equal(prep_atomic_begin(&f, p, 0644), ENOENT);
    assert_string_equal(f.op, "open()");
    assert_non_null(strstr(f.op_path, "/missing/.a.tmp-"));

    /* and a success clears it */
    in_dir(p, sizeof(p), "named");
    assert_int_equal(prep_atomic_begin(&f, p, 0644), 0);
    assert_string_equal(f.op, "");
    assert_string_equal(f.op_path, "");
    assert_int_equal(prep_atomic_commit(&f, 0), 0);
    assert_string_equal(f.op, "");

    in_dir(p, sizeof(p), "d");
    assert_int_equal(rmdir(p), 0);
    in_dir(p, sizeof(p), "named.prev");
    assert_int_equal(rmdir(p), 0);
    assert_entries(1);
}


/* DIR/NAME made with content, open read-write; its fd */
static int
make_file(int dir_fd, const char *name, const char *content)
{
    int  fd;

    fd = openat(dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)),
                     (ssize_t) strlen(content));
    return fd;
}


static void
test_move(void **state)
{
    int   d, sub, fd;
    char  p[128], link[16];

    (void) state;

    d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(d >= 0);
    assert_int_equal(mkdirat(d, "packages", 0755), 0);
    sub = openat(d, "packages", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(sub >= 0);

    /* an open file: fsynced through its fd, then moved */
    fd = make_file(d, ".tmp-staged", "package one");
    assert_int_equal(prep_atomic_move(fd, d, ".tmp-staged", sub, "a.tar.gz"),
                     0);
    assert_int_equal(close(fd), 0);
    in_dir(p, sizeof(p), "packages/a.tar.gz");
    assert_content(p, "package one");
    assert_int_equal(faccessat(d, ".tmp-staged", F_OK, 0), -1);

    /* no fd: opened by name to be fsynced; an existing name replaced */
    (void) close(make_file(d, "b", "package two"));
    assert_int_equal(prep_atomic_move(-1, d, "b", sub, "a.tar.gz"), 0);
    assert_content(p, "package two");
    assert_int_equal(faccessat(d, "b", F_OK, 0), -1);

    /* the same directory is a rename */
    assert_int_equal(prep_atomic_move(-1, sub, "a.tar.gz", sub, "c"), 0);
    in_dir(p, sizeof(p), "packages/c");
    assert_content(p, "package two");

    /* errors: nothing moves */
    assert_int_equal(prep_atomic_move(-1, d, "missing", sub, "x"), ENOENT);
    fd = make_file(d, "kept", "stays");
    assert_int_equal(prep_atomic_move(fd, d, "missing", sub, "x"), ENOENT);
    assert_int_equal(prep_atomic_move(fd, d, "kept", -1, "x"), EBADF);
    assert_int_equal(prep_atomic_move(fd, d, "kept", sub, ""), ENOENT);
    assert_int_equal(prep_atomic_move(-1, d, "packages", sub, "x"), EINVAL);
    in_dir(p, sizeof(p), "kept");
    assert_content(p, "stays");
    assert_int_equal(close(fd), 0);

    /* a bad fd is an fsync error before anything moves */
    assert_int_equal(prep_atomic_move(999, d, "kept", sub, "x"), EBADF);
    assert_content(p, "stays");

    /* a symlink is moved itself, never followed; a FIFO is not read */
    assert_int_equal(symlinkat("kept", d, "link"), 0);
    assert_int_equal(prep_atomic_move(-1, d, "link", sub, "link"), 0);
    assert_int_equal(readlinkat(sub, "link", link, sizeof(link)), 4);
    assert_int_equal(faccessat(d, "link", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    assert_int_equal(mkfifoat(d, "fifo", 0600), 0);
    assert_int_equal(prep_atomic_move(-1, d, "fifo", sub, "fifo"), 0);
    assert_int_equal(unlinkat(sub, "link", 0), 0);
    assert_int_equal(unlinkat(sub, "fifo", 0), 0);

    assert_int_equal(unlinkat(sub, "c", 0), 0);
    assert_int_equal(unlinkat(d, "kept", 0), 0);
    assert_int_equal(close(sub), 0);
    assert_int_equal(unlinkat(d, "packages", AT_REMOVEDIR), 0);
    assert_int_equal(close(d), 0);
    assert_entries(0);
}


/* another file system (/dev/shm, when it is one): EXDEV, file kept */
static void
test_move_across_file_systems(void **state)
{
    int          d, shm, fd;
    char         p[128];
    struct stat  a, b;

    (void) state;

    if (stat(dir, &a) != 0 || stat("/dev/shm", &b) != 0
        || a.st_dev == b.st_dev)
    {
        skip();
    }

    d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    shm = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(d >= 0 && shm >= 0);

    fd = make_file(d, "pkg", "not moved");
    assert_int_equal(prep_atomic_move(fd, d, "pkg", shm,
                                      "test_atomic_exdev"), EXDEV);
    in_dir(p, sizeof(p), "pkg");
    assert_content(p, "not moved");
    assert_int_equal(faccessat(shm, "test_atomic_exdev", F_OK, 0), -1);

    assert_int_equal(close(fd), 0);
    assert_int_equal(close(shm), 0);
    assert_int_equal(close(d), 0);
    assert_int_equal(unlink(p), 0);
}


/* a removal is durable: the name goes and the directory is fsynced; the
 * errno of each step comes back (an O_PATH descriptor cannot be fsynced:
 * EBADF after the name is gone, as EIO would be) */
static void
test_unlink(void **state)
{
    int   d, path_fd;
    char  p[128];

    (void) state;

    d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(d >= 0);

    (void) close(make_file(d, "window.json", "{}"));
    assert_int_equal(prep_atomic_unlink(d, "window.json"), 0);
    assert_int_equal(faccessat(d, "window.json", F_OK, 0), -1);

    /* nothing to remove, a directory, a bad descriptor: nothing moves */
    assert_int_equal(prep_atomic_unlink(d, "window.json"), ENOENT);
    assert_int_equal(mkdirat(d, "sub", 0755), 0);
    assert_int_equal(prep_atomic_unlink(d, "sub"), EISDIR);
    assert_int_equal(prep_atomic_unlink(-1, "sub"), EBADF);
    assert_int_equal(unlinkat(d, "sub", AT_REMOVEDIR), 0);

    /* the fsync of the directory fails: said, the name gone all the same */
    path_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(path_fd >= 0);
    (void) close(make_file(d, "gone", "x"));
    assert_int_equal(prep_atomic_unlink(path_fd, "gone"), EBADF);
    in_dir(p, sizeof(p), "gone");
    assert_int_equal(access(p, F_OK), -1);

    assert_int_equal(close(path_fd), 0);
    assert_int_equal(close(d), 0);
    assert_entries(0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_write_new_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replace_and_prev, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_begin_write_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_call_named, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_move, setup, teardown),
        cmocka_unit_test_setup_teardown(test_move_across_file_systems,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlink, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
