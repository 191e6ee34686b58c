/*
 * Copyright (C) the ngx_prep authors
 *
 * Only the gzip filter and the tar format are enabled: every other
 * libarchive parser is attack surface a package has no use for.  Any
 * status but ARCHIVE_OK and ARCHIVE_EOF is fatal, ARCHIVE_WARN included
 * (libarchive reports names it cannot convert as a warning).
 */


#include <errno.h>
#include <langinfo.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "package/ingest_reader.h"
#include "package/ingest_gzcheck.h"
#include "package/ingest_pathset.h"


#define INGEST_READ_CHUNK  (256 * 1024)

/* ingest_site_path(): the guess about the root was wrong, read again */
#define INGEST_RESTART     1


typedef enum {
    INGEST_ROOT_UNDECIDED = 0,
    INGEST_ROOT_STRIP,
    INGEST_ROOT_FLAT
} ingest_root_mode_e;


/* the bytes of the package, on their way to libarchive and the check */
typedef struct {
    int                 fd;
    unsigned char      *buf;
    int                 io_errno;
    ingest_gzcheck_t    gz;
} ingest_source_t;


typedef struct {
    struct archive          *a;
    ingest_source_t          src;
    ingest_pathset_t         paths;
    ingest_root_mode_e       mode;
    size_t                   root_len;      /* of info->root */
    const ingest_limits_t   *lim;
    const ingest_sink_t     *sink;
    ingest_archive_info_t   *info;
    ingest_err_t            *err;
} ingest_reader_t;


static const ingest_reason_e  ingest_path_reasons[] = {
    [PREP_PATH_OK] = INGEST_OK,
    [PREP_PATH_EEMPTY] = INGEST_PATH_EMPTY,
    [PREP_PATH_EABSOLUTE] = INGEST_PATH_ABSOLUTE,
    [PREP_PATH_EDOTDOT] = INGEST_PATH_DOTDOT,
    [PREP_PATH_ESEGMENT] = INGEST_PATH_SEGMENT,
    [PREP_PATH_ECONTROL] = INGEST_PATH_CONTROL,
    [PREP_PATH_EBACKSLASH] = INGEST_PATH_BACKSLASH,
    [PREP_PATH_EUTF8] = INGEST_PATH_UTF8,
    [PREP_PATH_ELONG] = INGEST_PATH_LONG,
    [PREP_PATH_EDEEP] = INGEST_PATH_DEEP
};

static const char  *ingest_path_why[] = {
    [PREP_PATH_OK] = "",
    [PREP_PATH_EEMPTY] = "an empty name",
    [PREP_PATH_EABSOLUTE] = "an absolute path",
    [PREP_PATH_EDOTDOT] = "a \"..\" segment",
    [PREP_PATH_ESEGMENT] = "an empty segment (\"//\")",
    [PREP_PATH_ECONTROL] = "a control character",
    [PREP_PATH_EBACKSLASH] = "a backslash",
    [PREP_PATH_EUTF8] = "invalid UTF-8",
    [PREP_PATH_ELONG] = "over 1024 bytes",
    [PREP_PATH_EDEEP] = "over 32 levels deep"
};


static la_ssize_t
ingest_source_read(struct archive *a, void *data, const void **buf)
{
    ssize_t           n;
    ingest_source_t  *src;

    src = data;

    do {
        n = read(src->fd, src->buf, INGEST_READ_CHUNK);
    } while (n < 0 && errno == EINTR);

    if (n < 0) {
        src->io_errno = errno;
        archive_set_error(a, errno, "read failed");
        return -1;
    }

    if (ingest_gzcheck_update(&src->gz, src->buf, (size_t) n) != 0) {
        archive_set_error(a, EIO, "%s", src->gz.err.msg);
        return -1;
    }

    *buf = src->buf;

    return n;
}


/* feeds the check what libarchive left unread: the gzip trailer and
 * anything after the tar end blocks */
static int
ingest_source_drain(ingest_source_t *src)
{
    ssize_t  n;

    for ( ;; ) {
        n = read(src->fd, src->buf, INGEST_READ_CHUNK);

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n < 0) {
            src->io_errno = errno;
            return -1;
        }

        if (n == 0) {
            return 0;
        }

        if (ingest_gzcheck_update(&src->gz, src->buf, (size_t) n) != 0) {
            return -1;
        }
    }
}


/*
 * libarchive failed.  Its message is rarely the best explanation: a
 * truncated or corrupted stream makes the tar layer fail too.  The gzip
 * check runs over the rest of the file first, and its verdict wins.
 */
static int
ingest_reader_fail(ingest_reader_t *r, ingest_reason_e reason,
    const char *what)
{
    const char  *msg;
    uint8_t      sha[PREP_SHA256_LEN];

    if (r->src.io_errno != 0) {
        return ingest_fail_errno(r->err, r->src.io_errno,
                                 "reading the package");
    }

    if (r->src.gz.err.reason == INGEST_OK
        && ingest_source_drain(&r->src) == 0)
    {
        (void) ingest_gzcheck_finish(&r->src.gz, sha);
    }

    if (r->src.io_errno != 0) {
        return ingest_fail_errno(r->err, r->src.io_errno,
                                 "reading the package");
    }

    if (r->src.gz.err.reason != INGEST_OK) {
        return ingest_fail(r->err, r->src.gz.err.reason, "%s",
                           r->src.gz.err.msg);
    }

    msg = archive_error_string(r->a);
    if (msg == NULL) {
        msg = "unknown error";
    }

    if (reason == INGEST_TAR_HEADER && archive_format(r->a) == 0) {
        return ingest_fail(r->err, INGEST_NOT_TAR,
                           "not a tar archive inside the gzip stream (%s)",
                           msg);
    }

    if (reason == INGEST_TAR_HEADER && strstr(msg, "convert") != NULL) {
        reason = INGEST_PATH_UTF8;
    }

    return ingest_fail(r->err, reason, "%s: %s", what, msg);
}


static int
ingest_check_type(ingest_reader_t *r, struct archive_entry *e,
    const char *name)
{
    char         q1[INGEST_NAME_QUOTED], q2[INGEST_NAME_QUOTED];
    mode_t       type;
    const char  *target, *what;

    ingest_quote(q1, sizeof(q1), name, strlen(name));

    target = archive_entry_hardlink(e);
    if (target != NULL) {
        return ingest_fail(r->err, INGEST_LINK,
                           "hard link \"%s\" -> \"%s\" (links are refused)",
                           q1, ingest_quote(q2, sizeof(q2), target,
                                            strlen(target)));
    }

    type = archive_entry_filetype(e);
    target = archive_entry_symlink(e);

    if (target != NULL || type == AE_IFLNK) {
        if (target == NULL) {
            target = "";
        }

        return ingest_fail(r->err, INGEST_LINK,
                           "symbolic link \"%s\" -> \"%s\" (links are "
                           "refused)",
                           q1, ingest_quote(q2, sizeof(q2), target,
                                            strlen(target)));
    }

    if (type != AE_IFREG && type != AE_IFDIR) {
        switch (type) {
        case AE_IFCHR:
            what = "a character device";
            break;
        case AE_IFBLK:
            what = "a block device";
            break;
        case AE_IFIFO:
            what = "a FIFO";
            break;
        case AE_IFSOCK:
            what = "a socket";
            break;
        default:
            what = "of an unknown type";
        }

        return ingest_fail(r->err, INGEST_SPECIAL_FILE,
                           "\"%s\" is %s (only files and directories are "
                           "allowed)", q1, what);
    }

    if (archive_entry_sparse_count(e) > 0) {
        return ingest_fail(r->err, INGEST_SPARSE,
                           "\"%s\" is a sparse file", q1);
    }

    return 0;
}


/* the totals, checked after every header and every block */
static int
ingest_check_totals(ingest_reader_t *r)
{
    uint64_t  total, compressed;

    total = (uint64_t) archive_filter_bytes(r->a, 0);
    compressed = (uint64_t) archive_filter_bytes(r->a, -1);

    if (total > r->lim->max_total_size) {
        return ingest_fail(r->err, INGEST_TOTAL_TOO_LARGE,
                           "the tar stream is over %llu bytes "
                           "(--max-total-size)",
                           (unsigned long long) r->lim->max_total_size);
    }

    if (ingest_ratio_exceeded(r->lim, total, compressed)) {
        return ingest_fail(r->err, INGEST_RATIO,
                           "%llu bytes inflate to %llu, more than %llu:1 "
                           "(--max-ratio)",
                           (unsigned long long) compressed,
                           (unsigned long long) total,
                           (unsigned long long) r->lim->max_ratio);
    }

    return 0;
}


/*
 * Decides where the site root is.  Returns 0 and the served path in
 * *site (NULL for the root folder itself), INGEST_RESTART when the
 * package must be read again as flat, or -1.
 */
static int
ingest_site_path(ingest_reader_t *r, const char *path, size_t len,
    int is_dir, const char **site, size_t *site_len)
{
    size_t       top;
    const char  *slash;

    slash = memchr(path + 1, '/', len - 1);
    top = slash ? (size_t) (slash - path) : len;

    if (r->mode == INGEST_ROOT_UNDECIDED) {
        if (slash != NULL || is_dir) {
            r->mode = INGEST_ROOT_STRIP;
            memcpy(r->info->root, path, top);
            r->info->root[top] = '\0';
            r->root_len = top;

        } else {
            r->mode = INGEST_ROOT_FLAT;
        }
    }

    if (r->mode == INGEST_ROOT_STRIP
        && (top != r->root_len || memcmp(path, r->info->root, top) != 0
            || (slash == NULL && !is_dir)))
    {
        /* a second top-level name: the package is flat after all */
        r->mode = INGEST_ROOT_FLAT;
        r->info->root[0] = '\0';
        r->root_len = 0;

        if (r->sink != NULL && r->info->files > 0) {
            return INGEST_RESTART;
        }
    }

    if (r->mode == INGEST_ROOT_FLAT) {
        *site = path;
        *site_len = len;
        return 0;
    }

    *site = slash;
    *site_len = slash ? len - top : 0;

    return 0;
}


static int
ingest_read_file(ingest_reader_t *r, struct archive_entry *e,
    const char *site, size_t site_len, const char *name)
{
    int           rc;
    char          q[INGEST_NAME_QUOTED];
    size_t        len;
    int64_t       size;
    uint64_t      got;
    la_int64_t    offset;
    const void   *buf;

    size = archive_entry_size(e);

    if (!archive_entry_size_is_set(e) || size < 0) {
        return ingest_fail(r->err, INGEST_TAR_HEADER,
                           "\"%s\" has no valid size",
                           ingest_quote(q, sizeof(q), name, strlen(name)));
    }

    if ((uint64_t) size > r->lim->max_entry_size) {
        return ingest_fail(r->err, INGEST_ENTRY_TOO_LARGE,
                           "\"%s\" has %lld bytes, over %llu "
                           "(--max-entry-size)",
                           ingest_quote(q, sizeof(q), name, strlen(name)),
                           (long long) size,
                           (unsigned long long) r->lim->max_entry_size);
    }

    if (r->sink && r->sink->begin(r->sink->ctx, site, site_len,
                                  (uint64_t) size, r->err) != 0)
    {
        return -1;
    }

    got = 0;

    for ( ;; ) {
        rc = archive_read_data_block(r->a, &buf, &len, &offset);

        if (rc == ARCHIVE_EOF) {
            break;
        }

        if (rc != ARCHIVE_OK) {
            return ingest_reader_fail(r, INGEST_TAR_DATA,
                                      "reading an entry");
        }

        if (offset < 0 || (uint64_t) offset != got) {
            return ingest_fail(r->err, INGEST_SPARSE,
                               "\"%s\" has holes in its data",
                               ingest_quote(q, sizeof(q), name,
                                            strlen(name)));
        }

        got += len;

        if (got > (uint64_t) size) {
            return ingest_fail(r->err, INGEST_TAR_DATA,
                               "\"%s\" has more data than its size",
                               ingest_quote(q, sizeof(q), name,
                                            strlen(name)));
        }

        if (ingest_check_totals(r) != 0) {
            return -1;
        }

        if (r->sink && len > 0
            && r->sink->data(r->sink->ctx, buf, len, r->err) != 0)
        {
            return -1;
        }
    }

    if (got != (uint64_t) size) {
        return ingest_fail(r->err, INGEST_TAR_DATA,
                           "\"%s\" ends after %llu of %lld bytes",
                           ingest_quote(q, sizeof(q), name, strlen(name)),
                           (unsigned long long) got, (long long) size);
    }

    if (r->sink && r->sink->end(r->sink->ctx, r->err) != 0) {
        return -1;
    }

    r->info->files++;
    r->info->file_bytes += got;

    return 0;
}


static int
ingest_read_entry(ingest_reader_t *r, struct archive_entry *e)
{
    int          rc, is_dir;
    char         path[PREP_PATH_MAX_LEN + 2];
    char         q[INGEST_NAME_QUOTED];
    size_t       len, name_len, site_len;
    const char  *name, *site;

    name = archive_entry_pathname(e);

    if (name == NULL) {
        return ingest_fail(r->err, INGEST_TAR_HEADER,
                           "an entry without a name");
    }

    /* compared with the name the headers state, once all is read */
    ingest_tarcheck_name(&r->src.gz.tar, name, strlen(name));

    if (ingest_check_type(r, e, name) != 0) {
        return -1;
    }

    is_dir = archive_entry_filetype(e) == AE_IFDIR;

    /* "a//" names "a/" (POSIX reads repeated trailing slashes as one),
     * so it is a duplicate of "a" rather than an odd name */
    name_len = strlen(name);

    while (name_len > 2 && name[name_len - 1] == '/'
           && name[name_len - 2] == '/')
    {
        name_len--;
    }

    rc = prep_path_normalize(name, name_len, path, &len);

    if (rc == PREP_PATH_EEMPTY && is_dir) {
        /* "./": the directory the package was made from */
        return 0;
    }

    if (rc != PREP_PATH_OK) {
        return ingest_fail(r->err, ingest_path_reasons[rc],
                           "refused name \"%s\": %s",
                           ingest_quote(q, sizeof(q), name, strlen(name)),
                           ingest_path_why[rc]);
    }

    if (ingest_pathset_add(&r->paths, path, len, is_dir, r->err) != 0) {
        return -1;
    }

    rc = ingest_site_path(r, path, len, is_dir, &site, &site_len);
    if (rc != 0) {
        return rc;
    }

    if (is_dir || site == NULL) {
        return 0;
    }

    return ingest_read_file(r, e, site, site_len, name);
}


/* libarchive and zlib accepted the package: the strict tar reader must
 * agree, and must have seen the same entries */
static int
ingest_read_second_opinion(ingest_reader_t *r)
{
    ingest_tarcheck_t  *t;

    t = &r->src.gz.tar;

    if (ingest_tarcheck_finish(t) != 0) {
        return ingest_fail(r->err, t->err.reason, "%s", t->err.msg);
    }

    if (t->entries != r->info->entries
        || t->file_bytes != r->info->file_bytes)
    {
        return ingest_fail(r->err, INGEST_TAR_HEADER,
                           "the archive reads two ways: %llu entries and "
                           "%llu bytes of files for libarchive, %llu and "
                           "%llu for a strict reader",
                           (unsigned long long) r->info->entries,
                           (unsigned long long) r->info->file_bytes,
                           (unsigned long long) t->entries,
                           (unsigned long long) t->file_bytes);
    }

    return 0;
}


static int
ingest_read_pass(ingest_reader_t *r, int flat)
{
    int                    rc;
    struct archive_entry  *e;

    r->mode = flat ? INGEST_ROOT_FLAT : INGEST_ROOT_UNDECIDED;
    r->root_len = 0;
    r->info->root[0] = '\0';
    r->info->entries = 0;
    r->info->files = 0;
    r->info->file_bytes = 0;
    r->info->passes++;

    if (lseek(r->src.fd, 0, SEEK_SET) != 0) {
        return ingest_fail_errno(r->err, errno, "seeking the package");
    }

    if (ingest_gzcheck_init(&r->src.gz, r->lim, r->err) != 0) {
        return -1;
    }

    ingest_pathset_init(&r->paths, r->lim->max_entries);

    r->a = archive_read_new();
    if (r->a == NULL) {
        return ingest_fail(r->err, INGEST_NOMEM, "archive_read_new()");
    }

    if (archive_read_support_filter_gzip(r->a) != ARCHIVE_OK
        || archive_read_support_format_tar(r->a) != ARCHIVE_OK)
    {
        return ingest_fail(r->err, INGEST_INTERNAL,
                           "libarchive without built-in gzip or tar: %s",
                           archive_error_string(r->a));
    }

    if (archive_read_open(r->a, &r->src, NULL, ingest_source_read, NULL)
        != ARCHIVE_OK)
    {
        return ingest_reader_fail(r, INGEST_TAR_HEADER, "opening");
    }

    for ( ;; ) {
        rc = archive_read_next_header(r->a, &e);

        if (rc == ARCHIVE_EOF) {
            break;
        }

        if (rc != ARCHIVE_OK) {
            return ingest_reader_fail(r, INGEST_TAR_HEADER,
                                      "reading a tar header");
        }

        if (++r->info->entries > r->lim->max_entries) {
            return ingest_fail(r->err, INGEST_TOO_MANY_ENTRIES,
                               "over %llu entries (--max-entries)",
                               (unsigned long long) r->lim->max_entries);
        }

        if (ingest_check_totals(r) != 0) {
            return -1;
        }

        rc = ingest_read_entry(r, e);
        if (rc != 0) {
            return rc;
        }
    }

    r->info->tar_bytes = (uint64_t) archive_filter_bytes(r->a, 0);

    if (ingest_source_drain(&r->src) != 0
        || ingest_gzcheck_finish(&r->src.gz, r->info->sha256) != 0)
    {
        if (r->src.io_errno != 0) {
            return ingest_fail_errno(r->err, r->src.io_errno,
                                     "reading the package");
        }

        return ingest_fail(r->err, r->src.gz.err.reason, "%s",
                           r->src.gz.err.msg);
    }

    r->info->package_bytes = r->src.gz.in_bytes;

    return ingest_read_second_opinion(r);
}


static void
ingest_read_cleanup(ingest_reader_t *r)
{
    if (r->a != NULL) {
        (void) archive_read_free(r->a);
        r->a = NULL;
    }

    r->info->verify_seconds += r->src.gz.seconds;
    r->src.gz.seconds = 0;
    ingest_gzcheck_free(&r->src.gz);
    ingest_pathset_free(&r->paths);
}


static int
ingest_check_root(ingest_reader_t *r)
{
    char  path[PREP_PATH_MAX_LEN + 16];

    if (r->info->files == 0) {
        return ingest_fail(r->err, INGEST_NO_ENTRIES,
                           "the archive holds no files");
    }

    (void) snprintf(path, sizeof(path), "%s/index.html", r->info->root);

    if (!ingest_pathset_has_file(&r->paths, path, strlen(path))) {
        if (r->info->root[0] == '\0') {
            return ingest_fail(r->err, INGEST_NO_INDEX_HTML,
                               "no index.html at the top of the archive");
        }

        return ingest_fail(r->err, INGEST_NO_INDEX_HTML,
                           "no index.html in \"%s/\", the folder that "
                           "holds every entry", r->info->root + 1);
    }

    r->info->stripped = r->info->root[0] != '\0';

    return 0;
}


int
ingest_archive_read(int fd, const ingest_limits_t *lim,
    const ingest_sink_t *sink, ingest_archive_info_t *info,
    ingest_err_t *err)
{
    int              rc, flat;
    double           start;
    ingest_reader_t  r;

    memset(info, 0, sizeof(ingest_archive_info_t));
    memset(&r, 0, sizeof(ingest_reader_t));

    if (strcmp(nl_langinfo(CODESET), "UTF-8") != 0) {
        return ingest_fail(err, INGEST_INTERNAL,
                           "LC_CTYPE must be a UTF-8 locale, not %s",
                           nl_langinfo(CODESET));
    }

    r.src.fd = fd;
    r.src.buf = malloc(INGEST_READ_CHUNK);
    if (r.src.buf == NULL) {
        return ingest_fail(err, INGEST_NOMEM, "out of memory");
    }

    r.lim = lim;
    r.sink = sink;
    r.info = info;
    r.err = err;

    start = ingest_now();
    flat = 0;

    for ( ;; ) {
        rc = ingest_read_pass(&r, flat);

        if (rc == 0) {
            rc = ingest_check_root(&r);
        }

        ingest_read_cleanup(&r);

        if (rc != INGEST_RESTART || flat) {
            break;
        }

        flat = 1;

        if (sink->reset(sink->ctx, err) != 0) {
            rc = -1;
            break;
        }
    }

    free(r.src.buf);

    info->read_seconds = ingest_now() - start - info->verify_seconds;

    return rc == 0 ? 0 : -1;
}
