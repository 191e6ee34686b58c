
/*
 * Copyright (C) the ngx_prep authors
 *
 * The state file's I/O: a whole file read into memory, bounded, and a
 * file replaced durably through libprep's atomic file helper
 * (libprep/prep_atomic.c): a hidden temp file next to PATH, written and
 * fsynced; PATH hard-linked to PATH.prev when asked; the temp file
 * renamed over PATH; the directory fsynced.  At every moment PATH is a
 * complete file, old or new.
 *
 * Plain system calls and no logging: the write runs in a thread pool as
 * well as in the event loop.  What the state means is in
 * ngx_http_prep_stats_state.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/file.h>

#include "ngx_http_prep_module.h"
#include "ngx_http_prep_stats.h"
#include "prep_atomic.h"


#define ngx_http_prep_stats_error(err, errlen, ...)                          \
    ngx_http_prep_error_text((u_char *) (err), errlen, __VA_ARGS__)


static void ngx_http_prep_stats_file_error(char *err, size_t errlen,
    int rc, prep_atomic_file_t *f, u_char *path);


/*
 * PATH replaced by buf through prep_atomic, PATH.prev kept when
 * keep_prev.  NGX_BUSY when another process is writing PATH (another
 * nginx saving another zone to the same file, in a binary upgrade):
 * writers take PATH.lock with flock(), kept for the next save.  Errors
 * name the system call and its path, as nginx's own do; *replaced is 1
 * when the error came after the rename (the directory's fsync): PATH is
 * the new file, but it may not survive a crash.
 */

ngx_int_t
ngx_http_prep_stats_file_write(u_char *path, u_char *buf, size_t len,
    ngx_uint_t keep_prev, ngx_uint_t *replaced, char *err, size_t errlen)
{
    int                 rc;
    ngx_fd_t            lock;
    ngx_err_t           e;
    ngx_int_t           ret;
    struct stat         tst, pst;
    prep_atomic_file_t  f;
    u_char              lpath[NGX_MAX_PATH + sizeof(".lock")];

    *replaced = 0;

    if (ngx_strlen(path) >= NGX_MAX_PATH) {
        ngx_http_prep_stats_error(err, errlen, 0, "path too long");
        return NGX_ERROR;
    }

    (void) ngx_sprintf(lpath, "%s.lock%Z", path);

    lock = open((char *) lpath, O_RDWR|O_CREAT|O_NOFOLLOW|O_CLOEXEC, 0640);

    if (lock == NGX_INVALID_FILE) {
        ngx_http_prep_stats_error(err, errlen, ngx_errno,
                                  "open() \"%s\" failed", lpath);
        return NGX_ERROR;
    }

    if (flock(lock, LOCK_EX|LOCK_NB) == -1) {
        e = ngx_errno;
        (void) close(lock);

        if (e == NGX_EAGAIN) {
            ngx_http_prep_stats_error(err, errlen, 0,
                                      "\"%s\" is being written by another "
                                      "process", path);
            return NGX_BUSY;
        }

        ngx_http_prep_stats_error(err, errlen, e, "flock() \"%s\" failed",
                                  lpath);
        return NGX_ERROR;
    }

    /* 0640: the file holds the day's key of the visitor hash */

    rc = prep_atomic_begin(&f, (char *) path, 0640);

    if (rc == 0) {
        rc = prep_atomic_write(&f, buf, len);

        if (rc != 0) {
            ngx_http_prep_stats_file_error(err, errlen, rc, &f, path);
            prep_atomic_abort(&f);
            goto done;
        }

        /* the temp file's inode: PATH is it once renamed */
        if (fstat(f.fd, &tst) == -1) {
            tst.st_ino = 0;
        }

        rc = prep_atomic_commit(&f, keep_prev ? PREP_ATOMIC_KEEP_PREV : 0);

        if (rc != 0 && tst.st_ino != 0
            && stat((char *) path, &pst) == 0
            && pst.st_dev == tst.st_dev && pst.st_ino == tst.st_ino)
        {
            *replaced = 1;
        }
    }

    if (rc != 0) {
        ngx_http_prep_stats_file_error(err, errlen, rc, &f, path);
    }

done:

    ret = rc == 0 ? NGX_OK : NGX_ERROR;

    /* the lock goes with the descriptor */
    (void) close(lock);

    return ret;
}


/*
 * "write() of a temp file for "PATH" failed (28: ...)": a temp file is
 * named by the file it is for, so that the same failure gives the same
 * message at every attempt (it is logged when it changes) and the
 * random name of a file already removed is not shown.
 */

static void
ngx_http_prep_stats_file_error(char *err, size_t errlen, int rc,
    prep_atomic_file_t *f, u_char *path)
{
    char  *name;

    name = strrchr(f->op_path, '/');
    name = (name == NULL) ? f->op_path : name + 1;

    if (name[0] == '.' && strstr(name, ".tmp-") != NULL) {
        ngx_http_prep_stats_error(err, errlen, rc, "%s of a temp file for "
                                  "\"%s\" failed", f->op, path);
        return;
    }

    ngx_http_prep_stats_error(err, errlen, rc, "%s \"%s\" failed", f->op,
                              f->op_path);
}
