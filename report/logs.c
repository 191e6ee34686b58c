/*
 * Copyright (C) the ngx_prep authors
 *
 * The access-log sources, merged by time and counted; see logs.h.
 */


#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "logs.h"
#include "log_parse.h"


#define LOG_FILES_MAX      1000000
#define LOG_PROGRESS_EVERY (1u << 20)


typedef prep_logs_file_t  log_file_t;


typedef struct {
    log_stream_t    s;
    log_file_t     *file;
    log_rec_t       rec;            /* the next record */
} log_open_t;


struct prep_logs_s {
    log_file_t           *files;
    size_t                nfiles;
    size_t                files_size;
    uint64_t              sources;

    log_json_map_t        map;
    int                   have_map;
    int                   need_map;

    int64_t               from_ms;
    int64_t               to_ms;
    int                   progress;
    int                   hash;
    double                started;

    prep_bots_t          *bots;
    char                  bots_name[1200];

    void                 *snap_base;
    size_t                snap_size;
    prep_snap_t           snap;
    int                   have_snap;

    log_count_t           count;
    prep_logs_summary_t  *sum;
};


static int log_files_add(prep_logs_t *l, const char *path, int format,
    char *err, size_t errlen);
static int log_next(prep_logs_t *l, log_open_t *o, int dry);


prep_logs_t *
prep_logs_new(void)
{
    prep_logs_t  *l;

    l = calloc(1, sizeof(prep_logs_t));
    if (l == NULL) {
        return NULL;
    }

    l->bots = prep_bots_new(1);
    if (l->bots == NULL) {
        free(l);
        return NULL;
    }

    snprintf(l->bots_name, sizeof(l->bots_name), "%s (%zu tokens)",
             PREP_BOTS_BUILTIN_NAME, prep_bots_count(l->bots));

    l->from_ms = INT64_MIN;
    l->to_ms = INT64_MAX;

    log_count_init(&l->count);
    l->count.bots = l->bots;

    return l;
}


void
prep_logs_free(prep_logs_t *l)
{
    size_t  i;

    if (l == NULL) {
        return;
    }

    for (i = 0; i < l->nfiles; i++) {
        free(l->files[i].path);
    }

    free(l->files);
    prep_bots_free(l->bots);
    log_count_free(&l->count);

    if (l->snap_base) {
        munmap(l->snap_base, l->snap_size);
    }

    free(l);
}


static int
log_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}


static int
log_files_add(prep_logs_t *l, const char *path, int format, char *err,
    size_t errlen)
{
    log_file_t  *f;

    if (l->nfiles == LOG_FILES_MAX) {
        snprintf(err, errlen, "%s: more than %d log files", path,
                 LOG_FILES_MAX);
        return -1;
    }

    if (l->nfiles == l->files_size) {
        f = realloc(l->files, (l->files_size ? l->files_size * 2 : 64)
                              * sizeof(log_file_t));
        if (f == NULL) {
            snprintf(err, errlen, "%s: out of memory", path);
            return -1;
        }

        l->files = f;
        l->files_size = l->files_size ? l->files_size * 2 : 64;
    }

    f = &l->files[l->nfiles];
    memset(f, 0, sizeof(log_file_t));

    f->path = strdup(path);
    if (f->path == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }

    f->format = format;
    l->nfiles++;

    return 0;
}


int
prep_logs_add_source(prep_logs_t *l, const char *spec, char *err,
    size_t errlen)
{
    int             format, rc;
    DIR            *d;
    char           *full, **names, **nn;
    size_t          n, size, i;
    const char     *colon, *path;
    struct stat     st;
    struct dirent  *de;

    colon = strchr(spec, ':');

    if (colon == NULL) {
        snprintf(err, errlen, "--log %s: not FORMAT:PATH (nginx, "
                 "cloudfront, cloudflare, json)", spec);
        return -1;
    }

    n = (size_t) (colon - spec);
    path = colon + 1;

    if (n == 5 && memcmp(spec, "nginx", 5) == 0) {
        format = LOG_FORMAT_NGINX;

    } else if (n == 10 && memcmp(spec, "cloudfront", 10) == 0) {
        format = LOG_FORMAT_CLOUDFRONT;

    } else if (n == 10 && memcmp(spec, "cloudflare", 10) == 0) {
        format = LOG_FORMAT_CLOUDFLARE;

    } else if (n == 4 && memcmp(spec, "json", 4) == 0) {
        format = LOG_FORMAT_JSON;
        l->need_map = 1;

    } else {
        snprintf(err, errlen, "--log %s: unknown format \"%.*s\" (nginx, "
                 "cloudfront, cloudflare, json)", spec, (int) n, spec);
        return -1;
    }

    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "--log %s: %s", spec, strerror(errno));
        return -1;
    }

    l->sources++;

    if (!S_ISDIR(st.st_mode)) {
        return log_files_add(l, path, format, err, errlen);
    }

    /* a directory: its regular files, by name, dot files left out */

    d = opendir(path);
    if (d == NULL) {
        snprintf(err, errlen, "--log %s: %s", spec, strerror(errno));
        return -1;
    }

    names = NULL;
    n = 0;
    size = 0;
    rc = 0;

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }

        if (asprintf(&full, "%s/%s", path, de->d_name) < 0) {
            rc = -1;
            break;
        }

        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(full);
            continue;
        }

        if (n == size) {
            size = size ? size * 2 : 64;
            nn = realloc(names, size * sizeof(char *));
            if (nn == NULL || n >= LOG_FILES_MAX) {
                free(full);
                rc = -1;
                break;
            }

            names = nn;
        }

        names[n++] = full;
    }

    closedir(d);

    if (rc != 0) {
        snprintf(err, errlen, "--log %s: out of memory or too many files",
                 spec);
    }

    if (n > 0) {
        qsort(names, n, sizeof(char *), log_cmp_names);
    }

    for (i = 0; i < n; i++) {
        if (rc == 0) {
            rc = log_files_add(l, names[i], format, err, errlen);
        }

        free(names[i]);
    }

    free(names);

    return rc;
}


int
prep_logs_json_fields(prep_logs_t *l, const char *spec, char *err,
    size_t errlen)
{
    if (log_json_map_parse(&l->map, spec, err, errlen) != 0) {
        return -1;
    }

    l->have_map = 1;

    return 0;
}


void
prep_logs_range(prep_logs_t *l, int64_t from_ms, int64_t to_ms)
{
    l->from_ms = from_ms;
    l->to_ms = to_ms;
}


void
prep_logs_settings(prep_logs_t *l, int gmtoff, uint64_t timeout_ms)
{
    l->count.gmtoff = gmtoff;
    l->count.timeout = timeout_ms;
}


void
prep_logs_pages(prep_logs_t *l, const prep_count_type_t *pages, size_t n)
{
    l->count.pages = pages;
    l->count.npages = n;
}


int
prep_logs_bots(prep_logs_t *l, const char *path, int replace, char *err,
    size_t errlen)
{
    prep_bots_t  *b;

    b = prep_bots_new(!replace);
    if (b == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }

    if (prep_bots_load(b, path, err, errlen) != 0) {
        prep_bots_free(b);
        return -1;
    }

    prep_bots_free(l->bots);
    l->bots = b;
    l->count.bots = b;

    if (replace) {
        snprintf(l->bots_name, sizeof(l->bots_name), "%s (%zu tokens)",
                 path, prep_bots_count(b));

    } else {
        snprintf(l->bots_name, sizeof(l->bots_name),
                 "%s and %s (%zu tokens)", PREP_BOTS_BUILTIN_NAME, path,
                 prep_bots_count(b));
    }

    return 0;
}


const char *
prep_logs_bots_name(const prep_logs_t *l)
{
    return l->bots_name;
}


int
prep_logs_snapshot(prep_logs_t *l, const char *path, char *err,
    size_t errlen)
{
    int          fd;
    void        *base;
    char         why[256];
    struct stat  st;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        snprintf(err, errlen, "%s: not a snapshot (empty)", path);
        close(fd);
        return -1;
    }

    base = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);

    if (base == MAP_FAILED) {
        snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
        return -1;
    }

    if (prep_snap_open(&l->snap, base, (size_t) st.st_size, 0, why,
                       sizeof(why))
        != PREP_SNAP_OK)
    {
        snprintf(err, errlen, "%s: %s", path, why);
        munmap(base, (size_t) st.st_size);
        return -1;
    }

    if (l->snap_base) {
        munmap(l->snap_base, l->snap_size);
    }

    l->snap_base = base;
    l->snap_size = (size_t) st.st_size;
    l->have_snap = 1;
    l->count.snap = &l->snap;

    return 0;
}


void
prep_logs_progress(prep_logs_t *l, int on)
{
    l->progress = on && isatty(STDERR_FILENO);
}


void
prep_logs_hash(prep_logs_t *l, int on)
{
    l->hash = on;
}


const prep_logs_file_t *
prep_logs_files(const prep_logs_t *l, size_t *n)
{
    *n = l->nfiles;

    return l->files;
}


const log_count_t *
prep_logs_counts(const prep_logs_t *l)
{
    return &l->count;
}


static void
log_sample(prep_logs_t *l, const char *file, uint64_t line,
    const char *reason)
{
    prep_logs_sample_t  *s;

    l->sum->malformed++;

    if (l->sum->nsamples == PREP_LOGS_SAMPLES) {
        return;
    }

    s = &l->sum->samples[l->sum->nsamples++];
    snprintf(s->file, sizeof(s->file), "%s", file);
    s->line = line;
    snprintf(s->reason, sizeof(s->reason), "%s", reason);
}


static void
log_error(prep_logs_t *l, const char *msg)
{
    l->sum->nerrors++;

    if (l->sum->errors_kept < PREP_LOGS_ERRORS) {
        snprintf(l->sum->errors[l->sum->errors_kept++],
                 sizeof(l->sum->errors[0]), "%s", msg);
    }
}


static double
log_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
log_progress(prep_logs_t *l, size_t done, int last)
{
    double  t;

    t = log_now() - l->started;

    fprintf(stderr, "\rprep-report: %llu lines, %.0f lines/s, file %zu "
            "of %zu%s", (unsigned long long) l->sum->lines,
            t > 0 ? (double) l->sum->lines / t : 0.0, done, l->nfiles,
            last ? "\n" : "   ");
}


static int
log_open(prep_logs_t *l, log_open_t *o, log_file_t *f, int hash)
{
    char  err[LOG_READ_ERR];

    memset(o, 0, sizeof(log_open_t));
    o->file = f;

    o->s.scratch = malloc(LOG_READ_LINE_MAX + 64);
    if (o->s.scratch == NULL) {
        snprintf(err, sizeof(err), "%s: out of memory", f->path);
        log_error(l, err);
        return -1;
    }

    if (log_reader_open(&o->s.reader, f->path, hash, err, sizeof(err))
        != 0)
    {
        free(o->s.scratch);
        o->s.scratch = NULL;
        log_error(l, err);
        return -1;
    }

    log_parse_setup(&o->s, f->format, &l->map);

    return 0;
}


static void
log_close(log_open_t *o)
{
    if (o->s.reader.hashed) {
        memcpy(o->file->sha256, o->s.reader.sha256, 65);
    }

    o->file->bytes = o->s.reader.bytes_in;
    o->file->lines = o->s.reader.lineno;

    log_reader_close(&o->s.reader);
    free(o->s.scratch);
    o->s.scratch = NULL;
}


/*
 * The next record of an open file into o->rec: 1, or 0 at its end (an
 * error, if any, recorded).  Lines that are not records are counted,
 * unless dry (peeking at a file's first record, read again later).
 */

static int
log_next(prep_logs_t *l, log_open_t *o, int dry)
{
    int          rc;
    char        *line;
    size_t       len;
    const char  *reason;

    for ( ;; ) {
        rc = log_reader_line(&o->s.reader, &line, &len);

        if (rc == LOG_READ_EOF) {
            return 0;
        }

        if (rc == LOG_READ_ERROR) {
            if (!dry) {
                log_error(l, o->s.reader.err);
            }

            return 0;
        }

        if (!dry) {
            l->sum->lines++;

            if (l->progress && (l->sum->lines & (LOG_PROGRESS_EVERY - 1)) == 0)
            {
                log_progress(l, (size_t) (o->file - l->files) + 1, 0);
            }
        }

        if (rc == LOG_READ_LONG) {
            if (!dry) {
                log_sample(l, o->file->path, o->s.reader.lineno,
                           "line longer than 64 KiB");
            }

            continue;
        }

        reason = "malformed";
        rc = o->s.parse(&o->s, line, len, &o->rec, &reason);

        if (rc == LOG_PARSE_RECORD) {
            return 1;
        }

        if (dry) {
            continue;
        }

        if (rc == LOG_PARSE_SKIP) {
            l->sum->headers++;
            continue;
        }

        log_sample(l, o->file->path, o->s.reader.lineno, reason);
    }
}


/* a min-heap of open files by their next record's time */

static void
log_open_sift(log_open_t **h, size_t n, size_t i)
{
    size_t       child;
    log_open_t  *x;

    x = h[i];

    for ( ;; ) {
        child = 2 * i + 1;

        if (child >= n) {
            break;
        }

        if (child + 1 < n && h[child + 1]->rec.ms < h[child]->rec.ms) {
            child++;
        }

        if (x->rec.ms <= h[child]->rec.ms) {
            break;
        }

        h[i] = h[child];
        i = child;
    }

    h[i] = x;
}


static void
log_open_push(log_open_t **h, size_t *n, log_open_t *o)
{
    size_t  i, parent;

    i = (*n)++;

    while (i > 0) {
        parent = (i - 1) / 2;

        if (h[parent]->rec.ms <= o->rec.ms) {
            break;
        }

        h[i] = h[parent];
        i = parent;
    }

    h[i] = o;
}


static int
log_cmp_first(const void *a, const void *b)
{
    const log_file_t  *x = a, *y = b;

    if (x->first_ms != y->first_ms) {
        return x->first_ms < y->first_ms ? -1 : 1;
    }

    return strcmp(x->path, y->path);
}


static int
log_count_rec(prep_logs_t *l, log_open_t *o)
{
    if (o->rec.ms < l->from_ms || o->rec.ms >= l->to_ms) {
        l->sum->out_of_range++;
        return 0;
    }

    l->sum->records++;
    o->file->records++;

    if (log_count_add(&l->count, &o->rec) != 0) {
        return -1;
    }

    return 0;
}


int
prep_logs_run(prep_logs_t *l, prep_logs_summary_t *sum, char *err,
    size_t errlen)
{
    int          rc;
    char        *line;
    size_t       i, next, nheap, len;
    log_open_t   peek, **heap, *o;
    log_file_t  *f;

    memset(sum, 0, sizeof(prep_logs_summary_t));
    l->sum = sum;
    sum->sources = l->sources;
    sum->files = l->nfiles;
    l->started = log_now();

    if (l->nfiles == 0) {
        snprintf(err, errlen, "no log files to read");
        return -1;
    }

    if (l->need_map && !l->have_map) {
        snprintf(err, errlen, "json logs need --json-fields");
        return -1;
    }

    /* the first record of every file, to open each in its turn */

    for (i = 0; i < l->nfiles; i++) {
        f = &l->files[i];

        if (log_open(l, &peek, f, 0) != 0) {
            f->empty = 1;
            f->first_ms = INT64_MAX;
            continue;
        }

        if (log_next(l, &peek, 1)) {
            f->first_ms = peek.rec.ms;
            log_reader_close(&peek.s.reader);
            free(peek.s.scratch);
            continue;

        } else {
            /* nothing to count: its lines and errors, counted now */
            log_close(&peek);
            f->empty = 1;
            f->first_ms = INT64_MAX;

            if (log_open(l, &peek, f, l->hash) == 0) {
                (void) log_next(l, &peek, 0);

                /* the hash wants the whole file */
                while (log_reader_line(&peek.s.reader, &line, &len)
                       == LOG_READ_LINE)
                {
                    /* void */
                }
            }
        }

        log_close(&peek);
    }

    qsort(l->files, l->nfiles, sizeof(log_file_t), log_cmp_first);

    heap = calloc(PREP_LOGS_OPEN_MAX, sizeof(log_open_t *));
    if (heap == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    nheap = 0;
    next = 0;
    rc = 0;

    for ( ;; ) {

        /* open the files whose first record is due */

        while (next < l->nfiles && !l->files[next].empty
               && nheap < PREP_LOGS_OPEN_MAX
               && (nheap == 0 || l->files[next].first_ms <= heap[0]->rec.ms))
        {
            f = &l->files[next++];

            o = malloc(sizeof(log_open_t));

            if (o == NULL) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }

            if (log_open(l, o, f, l->hash) != 0) {
                free(o);
                continue;
            }

            if (!log_next(l, o, 0)) {
                sum->bytes_in += o->s.reader.bytes_in;
                log_close(o);
                free(o);
                continue;
            }

            log_open_push(heap, &nheap, o);
        }

        if (rc != 0 || nheap == 0) {
            break;
        }

        o = heap[0];

        if (log_count_rec(l, o) != 0) {
            snprintf(err, errlen, "out of memory counting %s",
                     o->file->path);
            rc = -1;
            break;
        }

        if (log_next(l, o, 0)) {
            log_open_sift(heap, nheap, 0);
            continue;
        }

        sum->bytes_in += o->s.reader.bytes_in;
        log_close(o);
        free(o);

        heap[0] = heap[--nheap];

        if (nheap) {
            log_open_sift(heap, nheap, 0);
        }
    }

    for (i = 0; i < nheap; i++) {
        log_close(heap[i]);
        free(heap[i]);
    }

    free(heap);

    if (rc == 0 && log_count_finish(&l->count) != 0) {
        snprintf(err, errlen, "out of memory counting visits");
        rc = -1;
    }

    if (l->progress) {
        log_progress(l, l->nfiles, 1);
    }

    sum->late = l->count.late;
    sum->cache_hits = l->count.cache[LOG_CACHE_HIT];
    sum->cache_origin = l->count.cache[LOG_CACHE_ORIGIN];
    sum->cache_unknown = l->count.cache[LOG_CACHE_UNKNOWN];
    sum->first_ms = l->count.first_ms;
    sum->last_ms = l->count.last_ms;

    return rc;
}
