/*
 * Copyright (C) the ngx_prep authors
 *
 * Replacing a file so that a crash leaves either the old content or the
 * new one, never a mix, and so that success means durable: the content
 * goes to a hidden temp file next to the target (DIR/.NAME.tmp-XXXXXX),
 * which is fsynced, renamed over PATH, and then the directory is fsynced
 * so the rename itself survives a power cut.  A symlink is replaced the same
 * way (a temp link renamed over it).
 *
 * Every function returns 0 or an errno value (never -1 and errno): the
 * caller must handle it.  A failed fsync is never retried: after one the
 * kernel may have dropped the dirty pages, and a second fsync would
 * report a success that is not one.
 *
 * Plain C, no nginx headers: used by prep-ingest (store, quarantine,
 * package archive, outcome files) and by the module's state file.
 */


#ifndef _PREP_ATOMIC_H_INCLUDED_
#define _PREP_ATOMIC_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>


/* hard-link the old file to PATH.prev first */
#define PREP_ATOMIC_KEEP_PREV  0x1


/*
 * fd is the temp file, open read-write, -1 when none; tmp is its path
 * ("" when none).  path may be changed between begin and commit, to a
 * name in the same directory that is known only once the content is
 * written (a snapshot named after its hash).  After a failure, op names
 * the call that failed ("write()", "fsync()", "rename()"...) and
 * op_path the path it was given, for an error message such as nginx's
 * ("fsync() \"PATH\" failed"); both are empty after a success.
 */
typedef struct {
    int          fd;
    const char  *op;
    char         path[4096];
    char         tmp[4096];
    char         op_path[4096];
} prep_atomic_file_t;


/* creates the temp file with exactly mode (whatever the umask) */
int prep_atomic_begin(prep_atomic_file_t *f, const char *path, mode_t mode);

/* all of buf, or the errno (ENOSPC, EDQUOT, EIO...) */
int prep_atomic_write(prep_atomic_file_t *f, const void *buf, size_t len);

/*
 * fsync, close, (PREP_ATOMIC_KEEP_PREV: link the old PATH to PATH.prev,
 * itself replaced atomically), rename over PATH, fsync the directory.
 * On an error before the rename the temp file is removed and PATH is
 * untouched; an error of the last fsync means PATH has the new content
 * but it may not survive a crash.  Either way f holds no temp afterwards.
 */
int prep_atomic_commit(prep_atomic_file_t *f, unsigned flags);

/* close and unlink the temp file; harmless when there is none */
void prep_atomic_abort(prep_atomic_file_t *f);

/* begin + write + commit, aborting on any error */
int prep_atomic_write_file(const char *path, const void *buf, size_t len,
    mode_t mode, unsigned flags);

/* PATH becomes a symlink to target: temp link + rename + fsync dir */
int prep_atomic_symlink(const char *target, const char *path);

/*
 * An already written file moves into another directory durably (a
 * package kept in packages/): fsync of fd (the file, open; -1: it is
 * opened by name to be fsynced; anything but a regular file, a symlink
 * too, is moved as it is), renameat(from_dir, from, to_dir, to),
 * which replaces an existing to atomically, then fsync of to_dir.  On an
 * error before the rename the file stays where it was; an error of the
 * last fsync means the file is at to but the move may not survive a
 * crash.  fd stays open, the caller's to close.
 */
int prep_atomic_move(int fd, int from_dir, const char *from, int to_dir,
    const char *to);

/*
 * dir_fd/name is removed durably: unlinkat(dir_fd, name, 0), then fsync
 * of dir_fd, so that a crash cannot bring the name back.  ENOENT when
 * there was no such name (nothing to sync); an error of the fsync means
 * the name is gone but its removal may not survive a crash.
 */
int prep_atomic_unlink(int dir_fd, const char *name);


#endif /* _PREP_ATOMIC_H_INCLUDED_ */
