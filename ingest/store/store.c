/*
 * Copyright (C) the ngx_prep authors
 *
 * Every operation works relative to directory descriptors opened once,
 * so a store path that changes meaning halfway (a renamed parent) cannot
 * split a publication across two directories.
 */


#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prep_atomic.h"
#include "store/ingest_files.h"
#include "store/ingest_store.h"


#define INGEST_VERIFY_CHUNK  (1024 * 1024)


int
ingest_store_open(ingest_store_t *st, const char *path, ingest_err_t *err)
{
    memset(st, 0, sizeof(ingest_store_t));
    st->path = path;
    st->cortes_fd = -1;
    st->lock_fd = -1;

    st->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->dir_fd < 0) {
        return ingest_fail_errno(err, errno, "store %s", path);
    }

    if (mkdirat(st->dir_fd, INGEST_STORE_CORTES, 0755) != 0
        && errno != EEXIST)
    {
        return ingest_fail_errno(err, errno, "creating %s/%s", path,
                                 INGEST_STORE_CORTES);
    }

    st->cortes_fd = openat(st->dir_fd, INGEST_STORE_CORTES,
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (st->cortes_fd < 0) {
        return ingest_fail_errno(err, errno, "store %s/%s", path,
                                 INGEST_STORE_CORTES);
    }

    return 0;
}


void
ingest_store_close(ingest_store_t *st)
{
    if (st->lock_fd >= 0) {
        (void) close(st->lock_fd);
    }

    if (st->cortes_fd >= 0) {
        (void) close(st->cortes_fd);
    }

    if (st->dir_fd >= 0) {
        (void) close(st->dir_fd);
    }

    st->lock_fd = -1;
    st->cortes_fd = -1;
    st->dir_fd = -1;
}


int
ingest_store_lock(ingest_store_t *st, ingest_err_t *err)
{
    st->lock_fd = openat(st->dir_fd, INGEST_STORE_LOCK,
                         O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (st->lock_fd < 0) {
        return ingest_fail_errno(err, errno, "opening %s/%s", st->path,
                                 INGEST_STORE_LOCK);
    }

    while (flock(st->lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            return ingest_fail_errno(err, errno, "locking %s/%s", st->path,
                                     INGEST_STORE_LOCK);
        }
    }

    return 0;
}


void
ingest_store_unlock(ingest_store_t *st)
{
    if (st->lock_fd >= 0) {
        (void) close(st->lock_fd);
        st->lock_fd = -1;
    }
}


DIR *
ingest_dir_open(int dir_fd)
{
    int   fd;
    DIR  *dir;

    /* a descriptor of its own: closedir() closes it, not dir_fd */
    fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }

    dir = fdopendir(fd);
    if (dir == NULL) {
        (void) close(fd);
        return NULL;
    }

    return dir;
}


unsigned
ingest_dir_clean(int dir_fd, const char *prefix)
{
    DIR            *dir;
    size_t          len;
    unsigned        n;
    struct dirent  *de;

    dir = ingest_dir_open(dir_fd);
    if (dir == NULL) {
        return 0;
    }

    len = prefix ? strlen(prefix) : 0;
    n = 0;

    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0
            || (len && strncmp(de->d_name, prefix, len) != 0))
        {
            continue;
        }

        if (unlinkat(dir_fd, de->d_name, 0) == 0) {
            n++;
        }
    }

    (void) closedir(dir);

    return n;
}


void
ingest_store_clean(ingest_store_t *st)
{
    (void) ingest_dir_clean(st->cortes_fd, INGEST_STORE_TMP);
    (void) ingest_dir_clean(st->dir_fd, INGEST_STORE_LINK_TMP);
}


int
ingest_tmp_create(int dir_fd, const char *prefix, mode_t mode, char *name,
    size_t size, ingest_err_t *err)
{
    int                 i, j, fd;
    unsigned char       rnd[6];
    static const char   chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz0123456789";

    for (i = 0; i < 100; i++) {
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd)) {
            return ingest_fail_errno(err, errno, "getrandom()");
        }

        for (j = 0; j < 6; j++) {
            rnd[j] = (unsigned char) chars[rnd[j] % (sizeof(chars) - 1)];
        }

        (void) snprintf(name, size, "%s%.6s", prefix, (char *) rnd);

        fd = openat(dir_fd, name,
                    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    mode);

        if (fd >= 0 || errno != EEXIST) {
            return fd;
        }
    }

    return -1;
}


int
ingest_store_tmp(ingest_store_t *st, char *name, size_t size, int *fd,
    ingest_err_t *err)
{
    *fd = ingest_tmp_create(st->cortes_fd, INGEST_STORE_TMP, 0644, name,
                            size, err);

    if (*fd < 0) {
        /* a no-op after a getrandom() failure: the first error is kept */
        return ingest_fail_errno(err, errno, "creating a temp file in "
                                 "%s/%s", st->path, INGEST_STORE_CORTES);
    }

    /* readable by nginx whatever the umask */
    if (fchmod(*fd, 0644) != 0) {
        (void) ingest_fail_errno(err, errno, "chmod %s/%s/%s", st->path,
                                 INGEST_STORE_CORTES, name);
        (void) close(*fd);
        *fd = -1;    /* the caller's cleanup closes what is still open */
        ingest_store_tmp_remove(st, name);
        return -1;
    }

    return 0;
}


void
ingest_store_tmp_remove(ingest_store_t *st, const char *name)
{
    (void) unlinkat(st->cortes_fd, name, 0);
}


int
ingest_store_current(ingest_store_t *st, char *name, size_t size,
    ingest_err_t *err)
{
    char     link[PATH_MAX];
    size_t   plen;
    ssize_t  n;

    n = readlinkat(st->dir_fd, INGEST_STORE_CURRENT, link, sizeof(link) - 1);

    if (n < 0) {
        if (errno == ENOENT) {
            return 0;
        }

        return ingest_fail_errno(err, errno, "reading %s/%s", st->path,
                                 INGEST_STORE_CURRENT);
    }

    link[n] = '\0';
    plen = sizeof(INGEST_STORE_CORTES);

    /* a snapshot's name: not "", ".", ".." or a hidden (temp) file */
    if (strncmp(link, INGEST_STORE_CORTES "/", plen) != 0
        || link[plen] == '\0' || link[plen] == '.'
        || strchr(link + plen, '/') != NULL || (size_t) n - plen >= size)
    {
        return ingest_fail(err, INGEST_STORE,
                           "%s/%s points to \"%s\", not to a snapshot in "
                           "%s/", st->path, INGEST_STORE_CURRENT, link,
                           INGEST_STORE_CORTES);
    }

    memcpy(name, link + plen, (size_t) n - plen + 1);

    return 1;
}


int
ingest_store_exists(ingest_store_t *st, const char *name)
{
    struct stat  sb;

    return fstatat(st->cortes_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}


int
ingest_store_fsync(ingest_store_t *st, int fd, const char *what,
    ingest_err_t *err)
{
    int     rc;
    double  start;

    start = ingest_now();
    rc = fsync(fd);
    st->fsync_seconds += ingest_now() - start;

    /* never retried: after a failed fsync the page cache may have
     * dropped the dirty pages, and a second fsync would report success */
    if (rc != 0) {
        return ingest_fail_errno(err, errno, "fsync %s", what);
    }

    return 0;
}


int
ingest_store_commit(ingest_store_t *st, int fd, const char *tmp,
    const char *final, ingest_err_t *err)
{
    int     rc;
    double  start;

    /* fsync, rename, fsync of cortes/ (prep_atomic_move()), all counted
     * as fsync time: the rename itself takes microseconds */
    start = ingest_now();
    rc = prep_atomic_move(fd, st->cortes_fd, tmp, st->cortes_fd, final);
    st->fsync_seconds += ingest_now() - start;

    if (rc != 0) {
        return ingest_fail_errno(err, rc, "committing %s/%s/%s as %s",
                                 st->path, INGEST_STORE_CORTES, tmp, final);
    }

    return 0;
}


int
ingest_store_commit_or_keep(ingest_store_t *st, int fd, const char *tmp,
    const char *final, ingest_err_t *err)
{
    int                rc;
    char               msg[PREP_ERRLEN];
    ingest_snapfile_t  sf;

    if (ingest_store_exists(st, final)) {
        /* its data CRC too: a snapshot of that name that is not sound
         * would be served as this corte's */
        rc = ingest_snapfile_open(&sf, st->cortes_fd, final,
                                  PREP_SNAP_VERIFY_DATA, msg, sizeof(msg));
        ingest_snapfile_close(&sf);

        if (rc == PREP_SNAP_OK) {
            ingest_store_tmp_remove(st, tmp);
            return 1;
        }
    }

    return ingest_store_commit(st, fd, tmp, final, err);
}


int
ingest_at_path(char *buf, size_t size, int dir_fd, const char *name)
{
    int  n;

    n = snprintf(buf, size, "/proc/self/fd/%d/%s", dir_fd, name);

    return (n < 0 || (size_t) n >= size) ? ENAMETOOLONG : 0;
}


int
ingest_store_flip(ingest_store_t *st, const char *final, ingest_err_t *err)
{
    int     rc;
    char    target[sizeof(INGEST_STORE_CORTES) + INGEST_SNAP_NAME_LEN];
    char    path[64];
    double  start;

    (void) snprintf(target, sizeof(target), "%s/%s", INGEST_STORE_CORTES,
                    final);

    rc = ingest_at_path(path, sizeof(path), st->dir_fd,
                        INGEST_STORE_CURRENT);

    /* a temp link renamed over current, which rename(2) replaces
     * atomically (no moment without one), then the directory fsynced */
    if (rc == 0) {
        start = ingest_now();
        rc = prep_atomic_symlink(target, path);
        st->fsync_seconds += ingest_now() - start;
    }

    if (rc != 0) {
        return ingest_fail_errno(err, rc, "making %s/%s point to %s",
                                 st->path, INGEST_STORE_CURRENT, target);
    }

    return 0;
}


static int
ingest_snapfile_fail(char *err, size_t errlen, int rc, const char *what,
    int errnum)
{
    if (err != NULL && errlen > 0) {
        if (errnum != 0) {
            (void) snprintf(err, errlen, "%s: %s", what, strerror(errnum));

        } else {
            (void) snprintf(err, errlen, "%s", what);
        }
    }

    return rc;
}


static int
ingest_snapfile_verify_data(ingest_snapfile_t *sf, char *err,
    size_t errlen)
{
    size_t                     n;
    ssize_t                    got;
    uint32_t                   crc;
    uint64_t                   off, end;
    unsigned char             *buf;
    const prep_snap_header_t  *h;

    h = sf->snap.header;
    buf = malloc(INGEST_VERIFY_CHUNK);

    if (buf == NULL) {
        return ingest_snapfile_fail(err, errlen, PREP_SNAP_ENOMEM,
                                    "verifying data", ENOMEM);
    }

    crc = 0;
    end = h->data_off + h->data_size;

    for (off = h->data_off; off < end; off += (uint64_t) got) {
        n = end - off < INGEST_VERIFY_CHUNK ? (size_t) (end - off)
                                            : INGEST_VERIFY_CHUNK;

        got = pread(sf->fd, buf, n, (off_t) off);

        if (got < 0 && errno == EINTR) {
            got = 0;
            continue;
        }

        if (got <= 0) {
            free(buf);
            return ingest_snapfile_fail(err, errlen, PREP_SNAP_EIO,
                                        "reading data",
                                        got < 0 ? errno : EIO);
        }

        crc = prep_snap_crc32(crc, buf, (size_t) got);
    }

    free(buf);

    if (crc != h->data_crc) {
        if (err != NULL && errlen > 0) {
            (void) snprintf(err, errlen, "%s",
                            prep_snap_strerror(PREP_SNAP_EDATACRC));
        }

        return PREP_SNAP_EDATACRC;
    }

    return PREP_SNAP_OK;
}


int
ingest_snapfile_map(ingest_snapfile_t *sf, int fd, unsigned flags,
    char *err, size_t errlen)
{
    int          rc;
    struct stat  sb;

    memset(sf, 0, sizeof(ingest_snapfile_t));
    sf->fd = fd;

    if (fstat(fd, &sb) != 0) {
        return ingest_snapfile_fail(err, errlen, PREP_SNAP_EIO, "fstat",
                                    errno);
    }

    if (!S_ISREG(sb.st_mode)) {
        return ingest_snapfile_fail(err, errlen, PREP_SNAP_EINVAL,
                                    "not a regular file", 0);
    }

    if (sb.st_size < PREP_SNAP_HEADER_SIZE) {
        return prep_snap_open(&sf->snap, NULL, (size_t) sb.st_size, 0, err,
                              errlen);
    }

    sf->size = (size_t) sb.st_size;
    sf->base = mmap(NULL, sf->size, PROT_READ, MAP_SHARED, fd, 0);

    if (sf->base == MAP_FAILED) {
        sf->base = NULL;
        return ingest_snapfile_fail(err, errlen, PREP_SNAP_EIO, "mmap",
                                    errno);
    }

    rc = prep_snap_open(&sf->snap, sf->base, sf->size, 0, err, errlen);

    if (rc == PREP_SNAP_OK && (flags & PREP_SNAP_VERIFY_DATA)) {
        rc = ingest_snapfile_verify_data(sf, err, errlen);
    }

    return rc;
}


int
ingest_snapfile_open(ingest_snapfile_t *sf, int dir_fd, const char *name,
    unsigned flags, char *err, size_t errlen)
{
    int  fd, rc;

    /* O_NONBLOCK: a FIFO planted in the store must not hang us */
    fd = openat(dir_fd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        memset(sf, 0, sizeof(ingest_snapfile_t));
        sf->fd = -1;
        return ingest_snapfile_fail(err, errlen, PREP_SNAP_EIO, "open",
                                    errno);
    }

    rc = ingest_snapfile_map(sf, fd, flags, err, errlen);
    sf->own_fd = 1;

    return rc;
}


void
ingest_snapfile_close(ingest_snapfile_t *sf)
{
    if (sf->base != NULL) {
        (void) munmap(sf->base, sf->size);
    }

    if (sf->own_fd && sf->fd >= 0) {
        (void) close(sf->fd);
    }

    memset(sf, 0, sizeof(ingest_snapfile_t));
    sf->fd = -1;
}
