/*
 * Copyright (C) the ngx_prep authors
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prep_atomic.h"


#define PREP_ATOMIC_TRIES     100
#define PREP_ATOMIC_NAME_MAX  255     /* NAME_MAX of Linux file systems */


/* DIR/.NAME.tmp-XXXXXX for DIR/NAME, XXXXXX random: hidden, so that a
 * listing of the directory (a drop folder, a store) passes over it;
 * ENAMETOOLONG when it does not fit */
static int
prep_atomic_tmp_name(char *buf, size_t size, const char *path)
{
    int                 n;
    size_t              i, dlen, blen;
    const char         *slash;
    unsigned char       rnd[6];
    static const char   chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz0123456789";

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd)) {
        return errno != 0 ? errno : EIO;
    }

    for (i = 0; i < sizeof(rnd); i++) {
        rnd[i] = (unsigned char) chars[rnd[i] % (sizeof(chars) - 1)];
    }

    slash = strrchr(path, '/');
    dlen = slash == NULL ? 0 : (size_t) (slash - path) + 1;

    /* a name of NAME_MAX bytes still gets a temp name that fits: only
     * its start is kept ("." and ".tmp-XXXXXX" take 12 bytes) */
    blen = strlen(path + dlen);
    if (blen > PREP_ATOMIC_NAME_MAX - 12) {
        blen = PREP_ATOMIC_NAME_MAX - 12;
    }

    n = snprintf(buf, size, "%.*s.%.*s.tmp-%.6s", (int) dlen, path,
                 (int) blen, path + dlen, (char *) rnd);

    return (n < 0 || (size_t) n >= size) ? ENAMETOOLONG : 0;
}


/* records which call failed on what, for the caller's message; rc */
static int
prep_atomic_failed(prep_atomic_file_t *f, int rc, const char *op,
    const char *path)
{
    size_t  len;

    if (f != NULL) {
        f->op = op;
        len = strlen(path);

        if (len >= sizeof(f->op_path)) {
            len = sizeof(f->op_path) - 1;
        }

        memcpy(f->op_path, path, len);
        f->op_path[len] = '\0';
    }

    return rc;
}


static void
prep_atomic_no_failure(prep_atomic_file_t *f)
{
    f->op = "";
    f->op_path[0] = '\0';
}


/* fsync the directory that holds path, so a rename in it is durable;
 * f (may be NULL) records a failure */
static int
prep_atomic_sync_dir(prep_atomic_file_t *f, const char *path)
{
    int          fd, rc;
    char         dir[4096];
    const char  *slash;
    size_t       len;

    slash = strrchr(path, '/');

    if (slash == NULL) {
        (void) strcpy(dir, ".");

    } else {
        len = slash == path ? 1 : (size_t) (slash - path);

        if (len >= sizeof(dir)) {
            return prep_atomic_failed(f, ENAMETOOLONG, "open()", path);
        }

        memcpy(dir, path, len);
        dir[len] = '\0';
    }

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return prep_atomic_failed(f, errno, "open()", dir);
    }

    rc = fsync(fd) != 0 ? errno : 0;
    (void) close(fd);

    return rc != 0 ? prep_atomic_failed(f, rc, "fsync()", dir) : 0;
}


int
prep_atomic_begin(prep_atomic_file_t *f, const char *path, mode_t mode)
{
    int     i, rc;
    size_t  len;

    f->fd = -1;
    f->tmp[0] = '\0';
    prep_atomic_no_failure(f);

    len = strlen(path);
    if (len == 0) {
        return prep_atomic_failed(f, ENOENT, "open()", path);
    }

    if (len >= sizeof(f->path)) {
        return prep_atomic_failed(f, ENAMETOOLONG, "open()", path);
    }

    memcpy(f->path, path, len + 1);

    for (i = 0; i < PREP_ATOMIC_TRIES; i++) {
        rc = prep_atomic_tmp_name(f->tmp, sizeof(f->tmp), path);
        if (rc != 0) {
            f->tmp[0] = '\0';
            return prep_atomic_failed(f, rc, "open()", path);
        }

        f->fd = open(f->tmp,
                     O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     mode);

        if (f->fd >= 0) {
            break;
        }

        if (errno != EEXIST) {
            rc = prep_atomic_failed(f, errno, "open()", f->tmp);
            f->tmp[0] = '\0';
            return rc;
        }
    }

    if (f->fd < 0) {
        rc = prep_atomic_failed(f, EEXIST, "open()", f->tmp);
        f->tmp[0] = '\0';
        return rc;
    }

    /* the mode asked for, whatever the umask: readers (nginx) may be
     * another user */
    if (fchmod(f->fd, mode) != 0) {
        rc = prep_atomic_failed(f, errno, "fchmod()", f->tmp);
        prep_atomic_abort(f);
        return rc;
    }

    return 0;
}


int
prep_atomic_write(prep_atomic_file_t *f, const void *buf, size_t len)
{
    ssize_t      n;
    const char  *p;

    if (f->fd < 0) {
        return prep_atomic_failed(f, EBADF, "write()", f->path);
    }

    p = buf;

    while (len > 0) {
        n = write(f->fd, p, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }

            return prep_atomic_failed(f, errno, "write()", f->tmp);
        }

        if (n == 0) {
            return prep_atomic_failed(f, EIO, "write()", f->tmp);
        }

        p += n;
        len -= (size_t) n;
    }

    return 0;
}


/* PATH.prev becomes another name of the current PATH, if there is one */
static int
prep_atomic_keep_prev(prep_atomic_file_t *f)
{
    int   rc;
    char  prev[sizeof(f->path) + 8], tmp[sizeof(f->path) + 24];

    if ((size_t) snprintf(prev, sizeof(prev), "%s.prev", f->path)
        >= sizeof(prev))
    {
        return prep_atomic_failed(f, ENAMETOOLONG, "link()", f->path);
    }

    rc = prep_atomic_tmp_name(tmp, sizeof(tmp), prev);
    if (rc != 0) {
        return prep_atomic_failed(f, rc, "link()", f->path);
    }

    if (link(f->path, tmp) != 0) {
        return errno == ENOENT ? 0
                               : prep_atomic_failed(f, errno, "link()",
                                                    f->path);
    }

    /* a rename, so .prev is never missing while an older one existed */
    if (rename(tmp, prev) != 0) {
        rc = prep_atomic_failed(f, errno, "rename()", tmp);
        (void) unlink(tmp);
        return rc;
    }

    /* when .prev already is the current file (a commit that failed at
     * its rename left both names on one inode), rename(2) succeeds and
     * does nothing: the temp link would stay */
    (void) unlink(tmp);

    return 0;
}


int
prep_atomic_commit(prep_atomic_file_t *f, unsigned flags)
{
    int  rc;

    if (f->fd < 0) {
        rc = prep_atomic_failed(f, EBADF, "fsync()", f->path);
        prep_atomic_abort(f);
        return rc;
    }

    if (fsync(f->fd) != 0) {
        rc = prep_atomic_failed(f, errno, "fsync()", f->tmp);
        prep_atomic_abort(f);
        return rc;
    }

    rc = close(f->fd) != 0 ? prep_atomic_failed(f, errno, "close()", f->tmp)
                           : 0;
    f->fd = -1;

    if (rc != 0) {
        prep_atomic_abort(f);
        return rc;
    }

    if (flags & PREP_ATOMIC_KEEP_PREV) {
        rc = prep_atomic_keep_prev(f);
        if (rc != 0) {
            prep_atomic_abort(f);
            return rc;
        }
    }

    if (rename(f->tmp, f->path) != 0) {
        rc = prep_atomic_failed(f, errno, "rename()", f->tmp);
        prep_atomic_abort(f);
        return rc;
    }

    f->tmp[0] = '\0';

    return prep_atomic_sync_dir(f, f->path);
}


void
prep_atomic_abort(prep_atomic_file_t *f)
{
    if (f->fd >= 0) {
        (void) close(f->fd);
    }

    if (f->tmp[0] != '\0') {
        (void) unlink(f->tmp);
    }

    f->fd = -1;
    f->tmp[0] = '\0';
}


int
prep_atomic_write_file(const char *path, const void *buf, size_t len,
    mode_t mode, unsigned flags)
{
    int                 rc;
    prep_atomic_file_t  f;

    rc = prep_atomic_begin(&f, path, mode);
    if (rc != 0) {
        return rc;
    }

    rc = prep_atomic_write(&f, buf, len);
    if (rc != 0) {
        prep_atomic_abort(&f);
        return rc;
    }

    return prep_atomic_commit(&f, flags);
}


int
prep_atomic_symlink(const char *target, const char *path)
{
    int   i, rc;
    char  tmp[4096];

    if (path[0] == '\0') {
        return ENOENT;
    }

    for (i = 0; i < PREP_ATOMIC_TRIES; i++) {
        rc = prep_atomic_tmp_name(tmp, sizeof(tmp), path);
        if (rc != 0) {
            return rc;
        }

        if (symlink(target, tmp) == 0) {
            break;
        }

        if (errno != EEXIST) {
            return errno;
        }
    }

    if (i == PREP_ATOMIC_TRIES) {
        return EEXIST;
    }

    /* rename(2) replaces path atomically: no moment without one */
    if (rename(tmp, path) != 0) {
        rc = errno;
        (void) unlink(tmp);
        return rc;
    }

    return prep_atomic_sync_dir(NULL, path);
}


int
prep_atomic_move(int fd, int from_dir, const char *from, int to_dir,
    const char *to)
{
    int          own, rc;
    struct stat  sb;

    own = -1;

    if (fd < 0) {
        own = openat(from_dir, from, O_RDONLY | O_NOFOLLOW | O_NONBLOCK
                                     | O_CLOEXEC);

        if (own < 0) {
            rc = errno;

            /* a symlink (O_NOFOLLOW) or a socket cannot be opened, and
             * has no data of its own: moved as it is; a regular file
             * that cannot be opened is not moved unsynced */
            if (fstatat(from_dir, from, &sb, AT_SYMLINK_NOFOLLOW) != 0
                || S_ISREG(sb.st_mode))
            {
                return rc;
            }
        }

        fd = own;
    }

    /* the bytes first: a rename that survives a crash must not name a
     * file whose content did not; only a regular file has data to sync
     * (a FIFO or a device answers EINVAL) */
    rc = 0;

    if (fd < 0) {
        /* nothing to sync */

    } else if (fstat(fd, &sb) != 0) {
        rc = errno;

    } else if (S_ISREG(sb.st_mode) && fsync(fd) != 0) {
        rc = errno;
    }

    if (own >= 0) {
        (void) close(own);
    }

    if (rc != 0) {
        return rc;
    }

    if (renameat(from_dir, from, to_dir, to) != 0) {
        return errno;
    }

    return fsync(to_dir) != 0 ? errno : 0;
}


int
prep_atomic_unlink(int dir_fd, const char *name)
{
    if (unlinkat(dir_fd, name, 0) != 0) {
        return errno;
    }

    /* the removal is a change of the directory: durable only once the
     * directory itself is synced */
    return fsync(dir_fd) != 0 ? errno : 0;
}
