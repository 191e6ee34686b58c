/*
 * Copyright (C) the ngx_prep authors
 *
 * Workers take entries from a shared cursor and compress into their own
 * spool; only appending a finished variant to the writer is serialized.
 * The writer appends at the end of the file with write(); workers read
 * raw bytes earlier in the file with pread(), which leaves the file
 * offset alone, so the two never interfere.
 */


#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libdeflate.h>
#include <zlib.h>

#include "package/ingest_compress.h"


#define INGEST_GZ_IN    (256 * 1024)
#define INGEST_GZ_OUT   (64 * 1024)


/* compressed output, in memory up to INGEST_SPOOL_MEM, then on disk */
typedef struct {
    unsigned char  *mem;
    size_t          mem_len;
    int             fd;
    uint64_t        file_len;
    int             dir;
} ingest_spool_t;


typedef struct {
    const ingest_gzip_conf_t  *conf;
    ingest_gzjob_t            *jobs;
    size_t                     njobs;
    size_t                     next;
    int                        failed;
    pthread_mutex_t            lock;        /* next, failed, err */
    pthread_mutex_t            write_lock;  /* the writer, stats */
    ingest_gzip_stats_t       *stats;
    ingest_err_t              *err;
} ingest_gz_shared_t;


typedef struct {
    const prep_snap_entry_t  *entry;
    uint8_t                   hash[PREP_SNAP_HASH_LEN];
} ingest_reuse_t;


int
ingest_writer_fail(ingest_err_t *err, prep_snap_writer_t *w, int rc)
{
    const char  *msg;

    msg = prep_snap_writer_error(w);

    /* the writer keeps only the text of errno: a full disk must still be
     * told from other I/O errors (it is retried, not alarming) */
    return ingest_fail(err, rc == PREP_SNAP_EIO
                            ? (strstr(msg, strerror(ENOSPC)) != NULL
                               ? INGEST_NOSPACE : INGEST_IO)
                            : rc == PREP_SNAP_ENOMEM ? INGEST_NOMEM
                            : INGEST_INTERNAL,
                       "writing the snapshot: %s", msg);
}


static int
ingest_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t  n;
    size_t   done;

    for (done = 0; done < len; done += (size_t) n) {
        n = pread(fd, (char *) buf + done, len - done,
                  (off_t) (off + done));

        if (n < 0 && errno == EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }
            return -1;
        }
    }

    return 0;
}


/* an unnamed scratch file; a named one, unlinked at once, where the
 * file system has no O_TMPFILE ("/.tmp-" names are cleaned by the store) */
static int
ingest_spool_open(ingest_spool_t *s)
{
    char  name[64];

    s->fd = openat(s->dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (s->fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR
                       && errno != EINVAL))
    {
        return s->fd >= 0 ? 0 : -1;
    }

    (void) snprintf(name, sizeof(name), ".tmp-spool-%ld-%lx",
                    (long) getpid(), (unsigned long) (uintptr_t) s);

    s->fd = openat(s->dir, name,
                   O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (s->fd < 0) {
        return -1;
    }

    (void) unlinkat(s->dir, name, 0);

    return 0;
}


static int
ingest_spool_write(ingest_spool_t *s, const void *data, size_t len)
{
    size_t       n;
    ssize_t      w;
    const char  *p;

    p = data;
    n = INGEST_SPOOL_MEM - s->mem_len;

    if (n > len) {
        n = len;
    }

    memcpy(s->mem + s->mem_len, p, n);
    s->mem_len += n;
    p += n;
    len -= n;

    if (len == 0) {
        return 0;
    }

    if (s->fd < 0 && ingest_spool_open(s) != 0) {
        return -1;
    }

    while (len > 0) {
        w = pwrite(s->fd, p, len, (off_t) s->file_len);

        if (w < 0 && errno == EINTR) {
            continue;
        }

        if (w < 0) {
            return -1;
        }

        s->file_len += (uint64_t) w;
        p += w;
        len -= (size_t) w;
    }

    return 0;
}


/* the spool into the open gzip variant; called with write_lock held */
static int
ingest_spool_copy(ingest_spool_t *s, prep_snap_writer_t *w,
    unsigned char *buf, ingest_err_t *err)
{
    int       rc;
    size_t    n;
    uint64_t  off;

    rc = prep_snap_writer_gzip_write(w, s->mem, s->mem_len);
    if (rc != PREP_SNAP_OK) {
        return ingest_writer_fail(err, w, rc);
    }

    for (off = 0; off < s->file_len; off += n) {
        n = s->file_len - off < INGEST_GZ_IN ? (size_t) (s->file_len - off)
                                             : INGEST_GZ_IN;

        if (ingest_pread_full(s->fd, buf, n, off) != 0) {
            return ingest_fail_errno(err, errno, "reading a gzip spool");
        }

        rc = prep_snap_writer_gzip_write(w, buf, n);
        if (rc != PREP_SNAP_OK) {
            return ingest_writer_fail(err, w, rc);
        }
    }

    return 0;
}


static void
ingest_gz_failed(ingest_gz_shared_t *sh, const ingest_err_t *err)
{
    pthread_mutex_lock(&sh->lock);

    if (!sh->failed) {
        sh->failed = 1;
        *sh->err = *err;
    }

    pthread_mutex_unlock(&sh->lock);
}


static ingest_gzjob_t *
ingest_gz_next(ingest_gz_shared_t *sh)
{
    ingest_gzjob_t  *job;

    job = NULL;
    pthread_mutex_lock(&sh->lock);

    if (!sh->failed && sh->next < sh->njobs) {
        job = &sh->jobs[sh->next++];
    }

    pthread_mutex_unlock(&sh->lock);

    return job;
}


/*
 * An entry of at most INGEST_DEFLATE_WHOLE bytes, read back whole and
 * compressed in one call by libdeflate (2.5 times as fast as zlib at
 * the same level on a package, and a little smaller), straight into the
 * spool's memory.  The output may take at most len - 1 bytes: when it
 * would not be smaller, libdeflate says so by returning 0.
 */
static int
ingest_gz_whole(ingest_gz_shared_t *sh, const ingest_gzjob_t *job,
    struct libdeflate_compressor *c, ingest_spool_t *spool,
    unsigned char *whole, ingest_err_t *err)
{
    size_t  n;

    spool->mem_len = 0;
    spool->file_len = 0;

    if (ingest_pread_full(sh->conf->fd, whole, (size_t) job->len, job->off)
        != 0)
    {
        return ingest_fail_errno(err, errno,
                                 "reading an entry back to compress it");
    }

    n = libdeflate_gzip_compress(c, whole, (size_t) job->len, spool->mem,
                                 (size_t) job->len - 1);

    if (n == 0) {
        return 0;
    }

    spool->mem_len = n;

    return 1;
}


/*
 * Compresses one entry into the spool.  Returns 1 when the result is
 * smaller than the raw bytes, 0 when it is not (stopped early), -1.
 */
static int
ingest_gz_deflate(ingest_gz_shared_t *sh, const ingest_gzjob_t *job,
    z_stream *zs, ingest_spool_t *spool, unsigned char *in,
    unsigned char *out, ingest_err_t *err)
{
    int       rc, flush;
    size_t    n;
    uint64_t  off;

    if (job->len == 0) {
        return 0;
    }

    if (deflateReset(zs) != Z_OK) {
        return ingest_fail(err, INGEST_INTERNAL, "deflateReset() failed");
    }

    spool->mem_len = 0;
    spool->file_len = 0;

    for (off = 0; off < job->len; off += n) {
        n = job->len - off < INGEST_GZ_IN ? (size_t) (job->len - off)
                                          : INGEST_GZ_IN;

        if (ingest_pread_full(sh->conf->fd, in, n, job->off + off) != 0) {
            return ingest_fail_errno(err, errno,
                                     "reading an entry back to compress it");
        }

        flush = off + n == job->len ? Z_FINISH : Z_NO_FLUSH;
        zs->next_in = in;
        zs->avail_in = (uInt) n;

        do {
            zs->next_out = out;
            zs->avail_out = INGEST_GZ_OUT;

            rc = deflate(zs, flush);

            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
                return ingest_fail(err, INGEST_INTERNAL,
                                   "deflate() failed: %d", rc);
            }

            if (ingest_spool_write(spool, out,
                                   INGEST_GZ_OUT - zs->avail_out) != 0)
            {
                return ingest_fail_errno(err, errno,
                                         "writing a gzip spool");
            }

            /* no gain possible any more: stop spending CPU on it */
            if (spool->mem_len + spool->file_len >= job->len) {
                return 0;
            }

        } while (zs->avail_out == 0 || (flush == Z_FINISH
                                        && rc != Z_STREAM_END));
    }

    return 1;
}


static int
ingest_gz_append(ingest_gz_shared_t *sh, const ingest_gzjob_t *job,
    ingest_spool_t *spool, unsigned char *buf, ingest_err_t *err)
{
    int                  rc;
    prep_snap_writer_t  *w;

    w = sh->conf->writer;

    pthread_mutex_lock(&sh->write_lock);

    rc = prep_snap_writer_gzip_begin(w, job->ordinal);

    if (rc != PREP_SNAP_OK) {
        rc = ingest_writer_fail(err, w, rc);

    } else {
        rc = ingest_spool_copy(spool, w, buf, err);

        if (rc == 0) {
            rc = prep_snap_writer_gzip_end(w);
            rc = rc == PREP_SNAP_OK ? 0 : ingest_writer_fail(err, w, rc);
        }
    }

    if (rc == 0) {
        sh->stats->variants++;
        sh->stats->compressed++;
        sh->stats->bytes += spool->mem_len + spool->file_len;
    }

    pthread_mutex_unlock(&sh->write_lock);

    return rc;
}


static void *
ingest_gz_worker(void *data)
{
    int                            rc;
    z_stream                       zs;
    ingest_err_t                   err;
    ingest_spool_t                 spool;
    unsigned char                 *in, *out, *whole;
    ingest_gzjob_t                *job;
    ingest_gz_shared_t            *sh;
    struct libdeflate_compressor  *c;

    sh = data;
    ingest_err_reset(&err);

    memset(&zs, 0, sizeof(z_stream));
    memset(&spool, 0, sizeof(ingest_spool_t));
    spool.fd = -1;
    spool.dir = sh->conf->spill_dir;

    in = malloc(INGEST_GZ_IN);
    out = malloc(INGEST_GZ_OUT);
    whole = malloc(INGEST_DEFLATE_WHOLE);
    spool.mem = malloc(INGEST_SPOOL_MEM);
    c = libdeflate_alloc_compressor(sh->conf->level);

    /* 16 + 15: a gzip wrapper, as Content-Encoding: gzip requires */
    if (in == NULL || out == NULL || whole == NULL || spool.mem == NULL
        || c == NULL
        || deflateInit2(&zs, sh->conf->level, Z_DEFLATED, 16 + 15, 8,
                        Z_DEFAULT_STRATEGY) != Z_OK)
    {
        (void) ingest_fail(&err, INGEST_NOMEM, "out of memory (gzip)");
        ingest_gz_failed(sh, &err);
        free(in);
        free(out);
        free(whole);
        free(spool.mem);
        libdeflate_free_compressor(c);
        return NULL;
    }

    while ((job = ingest_gz_next(sh)) != NULL) {
        if (job->len == 0) {
            continue;
        }

        if (job->len <= INGEST_DEFLATE_WHOLE) {
            rc = ingest_gz_whole(sh, job, c, &spool, whole, &err);

        } else {
            rc = ingest_gz_deflate(sh, job, &zs, &spool, in, out, &err);
        }

        if (rc == 1) {
            rc = ingest_gz_append(sh, job, &spool, in, &err);
        }

        if (rc < 0) {
            ingest_gz_failed(sh, &err);
            break;
        }
    }

    (void) deflateEnd(&zs);
    libdeflate_free_compressor(c);

    if (spool.fd >= 0) {
        (void) close(spool.fd);
    }

    free(in);
    free(out);
    free(whole);
    free(spool.mem);

    return NULL;
}


static int
ingest_reuse_cmp(const void *one, const void *two)
{
    int                    rc;
    const ingest_reuse_t  *a, *b;

    a = one;
    b = two;

    rc = memcmp(a->hash, b->hash, PREP_SNAP_HASH_LEN);
    if (rc != 0) {
        return rc;
    }

    return (a->entry->data_len > b->entry->data_len)
           - (a->entry->data_len < b->entry->data_len);
}


/* the previous snapshot's variants, by content hash and size */
static ingest_reuse_t *
ingest_reuse_index(const prep_snap_t *prev, size_t *n)
{
    uint32_t         i;
    ingest_reuse_t  *idx;

    *n = 0;

    if (prev == NULL || prev->nentries == 0) {
        return NULL;
    }

    idx = malloc((prev->nentries < INGEST_REUSE_MAX ? prev->nentries
                                                    : INGEST_REUSE_MAX)
                 * sizeof(ingest_reuse_t));
    if (idx == NULL) {
        return NULL;
    }

    for (i = 0; i < prev->nentries && *n < INGEST_REUSE_MAX; i++) {
        if (prev->entries[i].gzip_len == 0
            || prev->entries[i].gzip_len >= prev->entries[i].data_len)
        {
            continue;
        }

        idx[*n].entry = &prev->entries[i];
        memcpy(idx[*n].hash, prev->entries[i].hash, PREP_SNAP_HASH_LEN);
        (*n)++;
    }

    qsort(idx, *n, sizeof(ingest_reuse_t), ingest_reuse_cmp);

    return idx;
}


static const prep_snap_entry_t *
ingest_reuse_find(const ingest_reuse_t *idx, size_t n,
    const ingest_gzjob_t *job)
{
    int                 rc;
    size_t              lo, hi, mid;
    prep_snap_entry_t   key_entry;
    ingest_reuse_t      key;

    memset(&key_entry, 0, sizeof(prep_snap_entry_t));
    key_entry.data_len = job->len;
    key.entry = &key_entry;
    memcpy(key.hash, job->hash, PREP_SNAP_HASH_LEN);

    lo = 0;
    hi = n;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        rc = ingest_reuse_cmp(&idx[mid], &key);

        if (rc == 0) {
            return idx[mid].entry;
        }

        if (rc < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return NULL;
}


static int
ingest_reuse_copy(const ingest_gzip_conf_t *conf,
    const prep_snap_entry_t *from, long ordinal, unsigned char *buf,
    ingest_err_t *err)
{
    int       rc;
    size_t    n;
    uint64_t  off;

    rc = prep_snap_writer_gzip_begin(conf->writer, ordinal);
    if (rc != PREP_SNAP_OK) {
        return ingest_writer_fail(err, conf->writer, rc);
    }

    for (off = 0; off < from->gzip_len; off += n) {
        n = from->gzip_len - off < INGEST_GZ_IN
            ? (size_t) (from->gzip_len - off) : INGEST_GZ_IN;

        if (ingest_pread_full(conf->prev_fd, buf, n, from->gzip_off + off)
            != 0)
        {
            return ingest_fail_errno(err, errno,
                                     "reading the previous snapshot");
        }

        rc = prep_snap_writer_gzip_write(conf->writer, buf, n);
        if (rc != PREP_SNAP_OK) {
            return ingest_writer_fail(err, conf->writer, rc);
        }
    }

    rc = prep_snap_writer_gzip_end(conf->writer);

    return rc == PREP_SNAP_OK ? 0 : ingest_writer_fail(err, conf->writer, rc);
}


/*
 * Copies what the previous snapshot has; the jobs left to compress are
 * moved to the front of the array, largest first, and counted in *left.
 */
static int
ingest_reuse_all(const ingest_gzip_conf_t *conf, ingest_gzjob_t *jobs,
    size_t njobs, size_t *left, ingest_gzip_stats_t *stats,
    ingest_err_t *err)
{
    size_t                    i, nidx;
    unsigned char            *buf;
    ingest_reuse_t           *idx;
    const prep_snap_entry_t  *from;

    *left = 0;
    idx = ingest_reuse_index(conf->prev, &nidx);
    buf = malloc(INGEST_GZ_IN);

    if (buf == NULL) {
        free(idx);
        return ingest_fail(err, INGEST_NOMEM, "out of memory (gzip)");
    }

    for (i = 0; i < njobs; i++) {
        from = idx ? ingest_reuse_find(idx, nidx, &jobs[i]) : NULL;

        if (from == NULL) {
            jobs[(*left)++] = jobs[i];
            continue;
        }

        if (ingest_reuse_copy(conf, from, jobs[i].ordinal, buf, err) != 0) {
            free(buf);
            free(idx);
            return -1;
        }

        stats->variants++;
        stats->reused++;
        stats->bytes += from->gzip_len;
    }

    free(buf);
    free(idx);

    return 0;
}


static int
ingest_job_cmp(const void *one, const void *two)
{
    const ingest_gzjob_t  *a, *b;

    a = one;
    b = two;

    /* largest first: the long ones start early and threads end together */
    return (a->len < b->len) - (a->len > b->len);
}


int
ingest_gzip_variants(const ingest_gzip_conf_t *conf, ingest_gzjob_t *jobs,
    size_t njobs, ingest_gzip_stats_t *stats, ingest_err_t *err)
{
    size_t              left;
    unsigned            i, started;
    pthread_t           tids[INGEST_GZIP_THREADS];
    ingest_gz_shared_t  sh;

    memset(stats, 0, sizeof(ingest_gzip_stats_t));

    if (njobs == 0) {
        return 0;
    }

    if (ingest_reuse_all(conf, jobs, njobs, &left, stats, err) != 0) {
        return -1;
    }

    qsort(jobs, left, sizeof(ingest_gzjob_t), ingest_job_cmp);

    memset(&sh, 0, sizeof(ingest_gz_shared_t));
    sh.conf = conf;
    sh.jobs = jobs;
    sh.njobs = left;
    sh.stats = stats;
    sh.err = err;
    pthread_mutex_init(&sh.lock, NULL);
    pthread_mutex_init(&sh.write_lock, NULL);

    /* the calling thread is one of the workers */
    started = 0;

    for (i = 1; i < conf->threads && i < INGEST_GZIP_THREADS && left > 1;
         i++)
    {
        if (pthread_create(&tids[started], NULL, ingest_gz_worker, &sh)
            != 0)
        {
            break;
        }

        started++;
    }

    (void) ingest_gz_worker(&sh);

    for (i = 0; i < started; i++) {
        (void) pthread_join(tids[i], NULL);
    }

    pthread_mutex_destroy(&sh.lock);
    pthread_mutex_destroy(&sh.write_lock);

    return sh.failed ? -1 : 0;
}
