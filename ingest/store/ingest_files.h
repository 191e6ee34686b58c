/*
 * Copyright (C) the ngx_prep authors
 *
 * The files prep-ingest watch keeps next to the store (docs/DESIGN.md):
 *
 *     STORE/staging/.tmp-XXXXXX       private copies being validated
 *     STORE/packages/<id>-<12 hex>.tar.gz   published packages (+.sha256)
 *     STORE/quarantine/<UTC>-<name>   rejected inputs, each with a
 *     STORE/quarantine/<UTC>-<name>.reason  JSON file saying why
 *
 * and the helpers that move packages between them: the private copy
 * (hashed while copied), the sidecar, quarantine and retention.
 */


#ifndef _INGEST_FILES_H_INCLUDED_
#define _INGEST_FILES_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "prep_snap.h"
#include "common/ingest_reasons.h"
#include "store/ingest_store.h"


#define INGEST_DIR_STAGING      "staging"
#define INGEST_DIR_PACKAGES     "packages"
#define INGEST_DIR_QUARANTINE   "quarantine"
#define INGEST_SIDECAR_SUFFIX   ".sha256"
#define INGEST_REASON_SUFFIX    ".reason"
#define INGEST_SIDECAR_MAX      4096
#define INGEST_RETENTION_MAX    4096     /* names looked at per directory */
#define INGEST_NAME_MAX         255


/* a file's identity: a change of any of these is a new upload */
typedef struct {
    dev_t            dev;
    ino_t            ino;
    off_t            size;
    struct timespec  mtime;
    struct timespec  ctime;
} ingest_stamp_t;


void ingest_stamp_of(ingest_stamp_t *s, const struct stat *sb);
int ingest_stamp_equal(const ingest_stamp_t *a, const ingest_stamp_t *b);

/* the ctime as a unix time: when the last byte (or rename) landed */
double ingest_stamp_arrival(const ingest_stamp_t *s);


/* 1 when name ends in suffix and is more than the suffix */
int ingest_has_suffix(const char *name, const char *suffix);

/* write(2) until all of buf is written: 0, or -1 with errno */
int ingest_write_all(int fd, const char *buf, size_t len);

/* opens or creates dir_fd/name (mode), as a directory, no symlinks */
/*
 * The path of name inside the directory open as dir_fd, through
 * /proc/self/fd: the atomic file helper (prep_atomic.h) takes paths, and
 * this keeps its renames inside the directory opened once, whatever a
 * rename of a parent does meanwhile.  0, or ENAMETOOLONG.
 */
int ingest_at_path(char *buf, size_t size, int dir_fd, const char *name);

int ingest_open_subdir(int dir_fd, const char *name, mode_t mode,
    ingest_err_t *err);


/*
 * Copies the file open on src into dir_fd/.tmp-XXXXXX, hashing it on the
 * way.  Stops with package_too_large past max bytes.  The copy's name
 * goes into name (32 bytes), its fd into *fd (read-write, at offset 0).
 */
int ingest_stage_copy(int src, int dir_fd, uint64_t max, char *name,
    int *fd, uint8_t sha256[PREP_SHA256_LEN], uint64_t *size,
    ingest_err_t *err);


typedef enum {
    INGEST_SIDECAR_ABSENT = 0,
    INGEST_SIDECAR_OK,
    INGEST_SIDECAR_INVALID
} ingest_sidecar_e;

/* a sidecar as it was read: what is kept with the package is the file
 * that was checked, not whatever is in the drop folder a moment later */
typedef struct {
    ingest_stamp_t  stamp;
    size_t          len;
    char            data[INGEST_SIDECAR_MAX];
} ingest_sidecar_t;

/*
 * Reads dir_fd/<package>.sha256: "<64 hex>" optionally followed by the
 * package's name as sha256sum(1) writes it.  msg says why an invalid one
 * is.  I/O errors other than absence count as invalid.  got (if not
 * NULL) receives the bytes and the stamp of the file read, when OK.
 */
ingest_sidecar_e ingest_sidecar_read(int dir_fd, const char *package,
    uint8_t sha256[PREP_SHA256_LEN], ingest_sidecar_t *got, char *msg,
    size_t size);


typedef struct {
    ingest_reason_e   reason;
    const char       *message;
    const char       *file;            /* the name it was dropped as */
    const uint8_t    *sha256;          /* NULL: unknown */
    uint64_t          size;
    const char       *detail;          /* more JSON text, or NULL */
} ingest_reject_t;

/*
 * Moves from_dir/from_name into quarantine/<UTC time>-<file> and writes
 * the .reason file next to it, both fsynced.  from_dir may be the drop
 * folder itself (then a rename across file systems fails with EXDEV).
 * The quarantined name goes into qname.
 */
int ingest_quarantine(int qdir, int from_dir, const char *from_name,
    const ingest_reject_t *why, char *qname, size_t qsize,
    ingest_err_t *err);

/* writes only the .reason file, for an entry that cannot be moved */
int ingest_quarantine_reason(int qdir, const char *qname,
    const ingest_reject_t *why, ingest_err_t *err);

/* a quarantine name, unused so far: "<UTC time>-<file>" */
int ingest_quarantine_name(int qdir, const char *file, char *qname,
    size_t qsize);


/*
 * Keeps the newest "keep" snapshots of cortes/ (by name, which sorts by
 * corte) and always the one named "live"; removes the others.  Their
 * names go into removed (up to max, comma-separated).  Returns the count.
 */
unsigned ingest_retention_snapshots(int cortes_fd, uint64_t keep,
    const char *live, char *removed, size_t size);

/* the same for the .tar.gz files of packages/, with their sidecars */
unsigned ingest_retention_packages(int dir_fd, uint64_t keep,
    char *removed, size_t size);

/* until unix time t (0: never), the live corte's predecessor is kept
 * too, and the packages of both (--keep-until) */
void ingest_retention_keep_until(double t);


#endif /* _INGEST_FILES_H_INCLUDED_ */
