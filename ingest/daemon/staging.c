/*
 * Copyright (C) the ngx_prep authors
 *
 * The private copy.  A hard link would share the inode with the upload,
 * and a writer that still holds the file open could change the bytes
 * under the validator; a copy cannot change.  It is hashed as it is
 * made, so the SHA-256 of a package is known before it is read as an
 * archive (and even when it cannot be).
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "store/ingest_files.h"


#define INGEST_COPY_CHUNK  (1024 * 1024)


void
ingest_stamp_of(ingest_stamp_t *s, const struct stat *sb)
{
    memset(s, 0, sizeof(ingest_stamp_t));
    s->dev = sb->st_dev;
    s->ino = sb->st_ino;
    s->size = sb->st_size;
    s->mtime = sb->st_mtim;
    s->ctime = sb->st_ctim;
}


int
ingest_stamp_equal(const ingest_stamp_t *a, const ingest_stamp_t *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size
           && a->mtime.tv_sec == b->mtime.tv_sec
           && a->mtime.tv_nsec == b->mtime.tv_nsec
           && a->ctime.tv_sec == b->ctime.tv_sec
           && a->ctime.tv_nsec == b->ctime.tv_nsec;
}


double
ingest_stamp_arrival(const ingest_stamp_t *s)
{
    return (double) s->ctime.tv_sec + (double) s->ctime.tv_nsec / 1e9;
}


int
ingest_has_suffix(const char *name, const char *suffix)
{
    size_t  n, s;

    n = strlen(name);
    s = strlen(suffix);

    return n > s && strcmp(name + n - s, suffix) == 0;
}


int
ingest_open_subdir(int dir_fd, const char *name, mode_t mode,
    ingest_err_t *err)
{
    int  fd;

    if (mkdirat(dir_fd, name, mode) != 0 && errno != EEXIST) {
        return ingest_fail_errno(err, errno, "creating %s", name);
    }

    fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW
                              | O_CLOEXEC);
    if (fd < 0) {
        return ingest_fail_errno(err, errno, "opening %s", name);
    }

    /* private whatever the umask was when it was made */
    if (fchmod(fd, mode) != 0) {
        (void) ingest_fail_errno(err, errno, "chmod %s", name);
        (void) close(fd);
        return -1;
    }

    return fd;
}


static int
ingest_stage_create(int dir_fd, char *name, int *fd, ingest_err_t *err)
{
    *fd = ingest_tmp_create(dir_fd, ".tmp-", 0640, name, 32, err);

    if (*fd >= 0) {
        return 0;
    }

    /* a no-op after a getrandom() failure: the first error is kept */
    return ingest_fail_errno(err, errno, "creating a file in %s",
                             INGEST_DIR_STAGING);
}


int
ingest_stage_copy(int src, int dir_fd, uint64_t max, char *name, int *fd,
    uint8_t sha256[PREP_SHA256_LEN], uint64_t *size, ingest_err_t *err)
{
    char          *buf;
    ssize_t        n;
    uint64_t       total;
    unsigned int   mdlen;
    EVP_MD_CTX    *sha;

    *fd = -1;
    name[0] = '\0';

    buf = malloc(INGEST_COPY_CHUNK);
    sha = EVP_MD_CTX_new();

    if (buf == NULL || sha == NULL
        || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
    {
        free(buf);
        EVP_MD_CTX_free(sha);
        return ingest_fail(err, INGEST_NOMEM, "out of memory");
    }

    if (ingest_stage_create(dir_fd, name, fd, err) != 0) {
        free(buf);
        EVP_MD_CTX_free(sha);
        name[0] = '\0';
        return -1;
    }

    total = 0;

    for ( ;; ) {
        n = pread(src, buf, INGEST_COPY_CHUNK, (off_t) total);

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n < 0) {
            (void) ingest_fail_errno(err, errno, "reading the upload");
            goto failed;
        }

        if (n == 0) {
            break;
        }

        if (total + (uint64_t) n > max) {
            (void) ingest_fail(err, INGEST_PACKAGE_TOO_LARGE,
                               "the file is over %llu bytes "
                               "(--max-package-size)",
                               (unsigned long long) max);
            goto failed;
        }

        if (EVP_DigestUpdate(sha, buf, (size_t) n) != 1) {
            (void) ingest_fail(err, INGEST_INTERNAL, "SHA-256 failed");
            goto failed;
        }

        if (ingest_write_all(*fd, buf, (size_t) n) != 0) {
            (void) ingest_fail_errno(err, errno, "writing the private copy");
            goto failed;
        }

        total += (uint64_t) n;
    }

    mdlen = PREP_SHA256_LEN;

    if (EVP_DigestFinal_ex(sha, sha256, &mdlen) != 1
        || lseek(*fd, 0, SEEK_SET) != 0)
    {
        (void) ingest_fail(err, INGEST_INTERNAL, "SHA-256 failed");
        goto failed;
    }

    *size = total;
    free(buf);
    EVP_MD_CTX_free(sha);

    return 0;

failed:

    free(buf);
    EVP_MD_CTX_free(sha);
    (void) close(*fd);
    *fd = -1;
    (void) unlinkat(dir_fd, name, 0);
    name[0] = '\0';

    return -1;
}


ingest_sidecar_e
ingest_sidecar_read(int dir_fd, const char *package,
    uint8_t sha256[PREP_SHA256_LEN], ingest_sidecar_t *got, char *msg,
    size_t size)
{
    int          fd, i, hi, lo;
    char         name[INGEST_NAME_MAX + sizeof(INGEST_SIDECAR_SUFFIX)];
    char         buf[INGEST_SIDECAR_MAX + 2];
    char        *p, *end;
    size_t       len;
    ssize_t      n;
    struct stat  sb;

    msg[0] = '\0';

    if (snprintf(name, sizeof(name), "%s" INGEST_SIDECAR_SUFFIX, package)
        >= (int) sizeof(name))
    {
        return INGEST_SIDECAR_ABSENT;
    }

    fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK
                              | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOENT) {
            return INGEST_SIDECAR_ABSENT;
        }

        (void) snprintf(msg, size, "%s: %s", INGEST_SIDECAR_SUFFIX,
                        strerror(errno));
        return INGEST_SIDECAR_INVALID;
    }

    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        (void) close(fd);
        (void) snprintf(msg, size, "the %s sidecar is not a regular file",
                        INGEST_SIDECAR_SUFFIX);
        return INGEST_SIDECAR_INVALID;
    }

    len = 0;

    /* one byte over the bound at most: a sidecar of exactly
     * INGEST_SIDECAR_MAX bytes is read whole, a larger one refused (buf
     * keeps one more byte for the '\0') */
    for ( ;; ) {
        n = read(fd, buf + len, sizeof(buf) - 1 - len);

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n <= 0) {
            break;
        }

        len += (size_t) n;

        if (len == sizeof(buf) - 1) {
            break;
        }
    }

    (void) close(fd);

    if (n < 0 || len > INGEST_SIDECAR_MAX) {
        (void) snprintf(msg, size, "the %s sidecar is unreadable or over "
                        "%d bytes", INGEST_SIDECAR_SUFFIX,
                        INGEST_SIDECAR_MAX);
        return INGEST_SIDECAR_INVALID;
    }

    if (got != NULL) {
        ingest_stamp_of(&got->stamp, &sb);
        got->len = len;
        memcpy(got->data, buf, len);
    }

    buf[len] = '\0';
    p = buf;

    for (i = 0; i < PREP_SHA256_LEN; i++) {
        hi = ingest_hex_digit(p[2 * i]);
        lo = hi < 0 ? -1 : ingest_hex_digit(p[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            (void) snprintf(msg, size, "the %s sidecar does not start with "
                            "64 hex digits", INGEST_SIDECAR_SUFFIX);
            return INGEST_SIDECAR_INVALID;
        }

        sha256[i] = (uint8_t) (hi << 4 | lo);
    }

    p += 2 * PREP_SHA256_LEN;

    /* the rest of the first line: nothing, or "  name" / " *name" */
    end = strchr(p, '\n');
    if (end == NULL) {
        end = p + strlen(p);
    }

    if (end > p && end[-1] == '\r') {
        end--;
    }

    if (p == end) {
        return INGEST_SIDECAR_OK;
    }

    if (*p != ' ' && *p != '\t') {
        (void) snprintf(msg, size, "the %s sidecar holds more than 64 hex "
                        "digits", INGEST_SIDECAR_SUFFIX);
        return INGEST_SIDECAR_INVALID;
    }

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p < end && *p == '*') {
        p++;
    }

    /* "dir/name" in the sidecar: compare the last segment */
    for (end = end - 1; end >= p && *end != '/'; end--) {
        /* void */
    }

    len = strcspn(end + 1, "\r\n");

    if (p < end + 1 + len
        && (len != strlen(package) || memcmp(end + 1, package, len) != 0))
    {
        (void) snprintf(msg, size, "the %s sidecar names another file",
                        INGEST_SIDECAR_SUFFIX);
        return INGEST_SIDECAR_INVALID;
    }

    return INGEST_SIDECAR_OK;
}
