/*
 * Copyright (C) the ngx_prep authors
 *
 * Helpers shared by the unit test suites (see test_util.h).
 */


#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "test_util.h"


static uint64_t  rng_state;


void
rng_seed(uint64_t seed)
{
    rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
}


uint32_t
rng_next(void)
{
    /* xorshift64*: deterministic, so a failure reproduces */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;

    return (uint32_t) ((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}


void
rng_fill(uint8_t *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        p[i] = (uint8_t) rng_next();
    }
}


void *
xmalloc(size_t size)
{
    void  *p;

    /* exact size, so ASan catches a read one byte past the end */
    p = malloc(size ? size : 1);
    assert_non_null(p);

    return p;
}


void *
xmemdup(const void *p, size_t len)
{
    void  *d;

    d = xmalloc(len);

    if (len) {
        memcpy(d, p, len);
    }

    return d;
}


/*
 * Escapes [src, src + len) into a buffer of exactly escaped_len() bytes,
 * checks that the escaper wrote that many, and returns a NUL-terminated
 * copy for the caller to free.
 */
char *
escape_exact(escaped_len_pt escaped_len, escape_pt escape, const char *src,
    size_t len, size_t *out_len)
{
    char    *dst, *copy;
    size_t   n, w;

    n = escaped_len(src, len);
    dst = xmalloc(n);

    w = escape(dst, src, len);
    assert_int_equal(w, n);

    copy = malloc(n + 1);
    assert_non_null(copy);
    memcpy(copy, dst, n);
    copy[n] = '\0';
    free(dst);

    if (out_len != NULL) {
        *out_len = n;
    }

    return copy;
}


void
temp_dir(char *buf, size_t size, const char *prefix)
{
    (void) snprintf(buf, size, "/tmp/%s.XXXXXX", prefix);
    assert_non_null(mkdtemp(buf));
}


/* an unlinked temp file that holds the bytes */
int
temp_fd(const void *data, size_t len)
{
    int   fd;
    char  path[] = "/tmp/test_unit_XXXXXX";

    fd = mkstemp(path);
    assert_true(fd >= 0);
    (void) unlink(path);

    if (len > 0) {
        assert_int_equal(write(fd, data, len), (ssize_t) len);
    }

    return fd;
}


/* a gzip-compressed pax tar, written into buf as a package is */
struct archive *
tgz_open(void *buf, size_t cap, size_t *used)
{
    struct archive  *a;

    a = archive_write_new();
    assert_non_null(a);
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(a, buf, cap, used),
                     ARCHIVE_OK);

    return a;
}


void
tgz_close(struct archive *a)
{
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    assert_int_equal(archive_write_free(a), ARCHIVE_OK);
}


/* a regular file, mode 0644, into an open libarchive writer */
void
add_file(struct archive *a, const char *name, const void *data, size_t len)
{
    struct archive_entry  *e;

    e = archive_entry_new();
    archive_entry_copy_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t) len);

    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    if (len > 0) {
        assert_int_equal(archive_write_data(a, data, len), (la_ssize_t) len);
    }

    archive_entry_free(e);
}


/* never through a symlink: a test may plant one to a directory */
void
temp_dir_remove(const char *path)
{
    int             fd;
    DIR            *d;
    char            p[PATH_MAX];
    struct dirent  *de;

    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    d = fd >= 0 ? fdopendir(fd) : NULL;

    if (d == NULL) {
        if (fd >= 0) {
            (void) close(fd);
        }

        (void) unlink(path);
        return;
    }

    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }

        (void) snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
        temp_dir_remove(p);
    }

    (void) closedir(d);
    (void) rmdir(path);
}


void
write_at(int dir_fd, const char *name, const char *data, mode_t mode)
{
    int     fd;
    size_t  len;

    fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                mode);
    if (fd < 0) {
        fail_msg("creating %s: %s", name, strerror(errno));
    }

    len = strlen(data);
    if (len > 0) {
        assert_int_equal(write(fd, data, len), (ssize_t) len);
    }

    assert_int_equal(close(fd), 0);
}


size_t
read_at(int dir_fd, const char *name, char *buf, size_t size)
{
    int      fd;
    size_t   len;
    ssize_t  n;

    fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW);
    assert_true(fd >= 0);

    len = 0;

    while ((n = read(fd, buf + len, size - 1 - len)) > 0) {
        len += (size_t) n;
    }

    assert_int_equal(n, 0);
    assert_int_equal(close(fd), 0);
    buf[len] = '\0';

    return len;
}


unsigned
dir_entries(int dir_fd)
{
    int             fd;
    DIR            *d;
    unsigned        n;
    struct dirent  *de;

    /* a descriptor of its own: closedir() must not close dir_fd */
    fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    d = fdopendir(fd);
    assert_non_null(d);
    n = 0;

    while ((de = readdir(d)) != NULL) {
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    }

    (void) closedir(d);

    return n;
}
