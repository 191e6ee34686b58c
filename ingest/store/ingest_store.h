/*
 * Copyright (C) the ngx_prep authors
 *
 * The store (docs/DESIGN.md, "Store layout"):
 *
 *     STORE/current -> cortes/<corte id>-<12 hex>.snap
 *     STORE/cortes/<corte id>-<12 hex>.snap
 *     STORE/cortes/.tmp-XXXXXX            being written
 *     STORE/.lock                         flock()ed by every writer
 *
 * A snapshot is written to a temp file, fsynced, renamed to its final
 * name and cortes/ fsynced before current is flipped: a symlink
 * .current.tmp-<pid> renamed over current, then STORE fsynced.  A crash
 * at any point leaves current naming a complete snapshot; temp files of
 * dead writers are removed by the next writer, under the lock.
 */


#ifndef _INGEST_STORE_H_INCLUDED_
#define _INGEST_STORE_H_INCLUDED_


#include <dirent.h>
#include <stddef.h>
#include <sys/types.h>

#include "prep_snap.h"
#include "common/ingest_reasons.h"


#define INGEST_STORE_CORTES     "cortes"
#define INGEST_STORE_CURRENT    "current"
#define INGEST_STORE_LOCK       ".lock"
#define INGEST_STORE_TMP        ".tmp-"
#define INGEST_STORE_LINK_TMP   ".current.tmp-"

/* "20240603_0015-3f2a9c1b7d4e.snap" and room to spare */
#define INGEST_SNAP_NAME_LEN    64


typedef struct {
    const char  *path;
    int          dir_fd;
    int          cortes_fd;
    int          lock_fd;
    double       fsync_seconds;
} ingest_store_t;


/* a snapshot file, mapped read-only and validated */
typedef struct {
    int           fd;
    int           own_fd;
    void         *base;
    size_t        size;
    prep_snap_t   snap;
} ingest_snapfile_t;


/* opens STORE (which must exist) and STORE/cortes (created if missing) */
int ingest_store_open(ingest_store_t *st, const char *path,
    ingest_err_t *err);
void ingest_store_close(ingest_store_t *st);

/* waits for the store's lock; held until ingest_store_close() or
 * ingest_store_unlock() */
int ingest_store_lock(ingest_store_t *st, ingest_err_t *err);
void ingest_store_unlock(ingest_store_t *st);

/*
 * A stream over the entries of the directory open on dir_fd, through a
 * descriptor of its own (dir_fd stays open and usable).  NULL on errors.
 */
DIR *ingest_dir_open(int dir_fd);

/*
 * Removes the files of the directory whose names start with prefix
 * (NULL: every file).  Returns how many went.
 */
unsigned ingest_dir_clean(int dir_fd, const char *prefix);

/* removes the temp files of writers that died; with the lock held */
void ingest_store_clean(ingest_store_t *st);

/*
 * Creates dir_fd/<prefix>XXXXXX (six random letters or digits), new and
 * read-write, with mode (less the umask); its name goes into name.
 * Returns the descriptor, or -1: with err set when getrandom() failed,
 * otherwise with errno, left to the caller to tell in its own words.
 */
int ingest_tmp_create(int dir_fd, const char *prefix, mode_t mode,
    char *name, size_t size, ingest_err_t *err);

/* a new cortes/.tmp-XXXXXX, mode 0644; its name into name */
int ingest_store_tmp(ingest_store_t *st, char *name, size_t size, int *fd,
    ingest_err_t *err);
void ingest_store_tmp_remove(ingest_store_t *st, const char *name);

/*
 * The snapshot name current points to ("cortes/" stripped).  Returns 1,
 * 0 when there is no current, -1 on errors.
 */
int ingest_store_current(ingest_store_t *st, char *name, size_t size,
    ingest_err_t *err);

/* 1 when cortes/name exists */
int ingest_store_exists(ingest_store_t *st, const char *name);

/* fsync the temp file, rename it to cortes/final, fsync cortes/ */
int ingest_store_commit(ingest_store_t *st, int fd, const char *tmp,
    const char *final, ingest_err_t *err);

/*
 * The one rule for naming a new snapshot, for every command: a sound
 * snapshot already named final (one published before a rollback, or
 * named by a publication that died before its flip) is kept, checked to
 * its data CRC, and the temp file removed; otherwise, or when that one
 * is corrupt, the temp file replaces it (ingest_store_commit()).
 * Returns 0 when the temp file was committed, 1 when the existing one
 * was kept (either way tmp is gone and fd is the caller's to close), -1
 * on errors, with tmp still in cortes/.
 */
int ingest_store_commit_or_keep(ingest_store_t *st, int fd, const char *tmp,
    const char *final, ingest_err_t *err);

/* points current at cortes/final, atomically and durably */
int ingest_store_flip(ingest_store_t *st, const char *final,
    ingest_err_t *err);

/* fsync with the time spent counted in st->fsync_seconds */
int ingest_store_fsync(ingest_store_t *st, int fd, const char *what,
    ingest_err_t *err);


/*
 * Maps and validates a snapshot: header, index and, with
 * PREP_SNAP_VERIFY_DATA, the data CRC.  The data is checked with pread()
 * in chunks rather than through the mapping, so a large snapshot does
 * not count in the resident size.  Returns a PREP_SNAP_* code; err gets
 * a one-line explanation.
 */
int ingest_snapfile_open(ingest_snapfile_t *sf, int dir_fd, const char *name,
    unsigned flags, char *err, size_t errlen);

/* the same for an open file; fd stays the caller's */
int ingest_snapfile_map(ingest_snapfile_t *sf, int fd, unsigned flags,
    char *err, size_t errlen);

void ingest_snapfile_close(ingest_snapfile_t *sf);


#endif /* _INGEST_STORE_H_INCLUDED_ */
