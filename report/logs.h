/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-report's access-log side: the sources given with --log
 * FORMAT:PATH, read and counted by the module's rules (libprep's
 * prep_count and prep_bots) into the statistics model the origins'
 * state files decode to, plus a summary of what was read and what
 * could not be.
 *
 * Files are read in time order across files: each file is opened when
 * the time of the lines read reaches its first line, and the open files
 * are merged by their next line's time; a bounded reorder window takes
 * care of the disorder inside a file.  So CloudFront's one file per
 * edge and hour, given in any order, counts visits as one log would.
 */


#ifndef _PREP_LOGS_H_INCLUDED_
#define _PREP_LOGS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "log_count.h"


#define PREP_LOGS_SAMPLES     10
#define PREP_LOGS_ERRORS      32
#define PREP_LOGS_OPEN_MAX    256       /* files open at once */


typedef struct {
    char            file[1024];
    uint64_t        line;
    char            reason[96];
} prep_logs_sample_t;


typedef struct {
    uint64_t             sources;
    uint64_t             files;
    uint64_t             bytes_in;          /* of the files, as read */
    uint64_t             lines;
    uint64_t             records;           /* counted, bots included */
    uint64_t             headers;           /* comment and header lines */
    uint64_t             malformed;
    uint64_t             out_of_range;      /* outside --from / --to */
    uint64_t             late;              /* beyond the reorder window */
    uint64_t             cache_hits;
    uint64_t             cache_origin;
    uint64_t             cache_unknown;
    int64_t              first_ms;          /* of the records counted */
    int64_t              last_ms;

    unsigned             nsamples;          /* malformed lines, first ones */
    prep_logs_sample_t   samples[PREP_LOGS_SAMPLES];

    uint64_t             nerrors;           /* files cut or unreadable */
    unsigned             errors_kept;
    char                 errors[PREP_LOGS_ERRORS][640];
} prep_logs_summary_t;


/* a file read, in the order read (by its first record's time) */
typedef struct {
    char                *path;
    int                  format;
    int64_t              first_ms;          /* of its first record */
    int                  empty;             /* no record in it */
    char                 sha256[65];        /* "" unless hashed whole */
    uint64_t             bytes;             /* read */
    uint64_t             lines;
    uint64_t             records;           /* counted */
} prep_logs_file_t;


typedef struct prep_logs_s  prep_logs_t;


prep_logs_t *prep_logs_new(void);
void prep_logs_free(prep_logs_t *l);

/* "nginx:PATH", "cloudfront:PATH", "cloudflare:PATH", "json:PATH" */
int prep_logs_add_source(prep_logs_t *l, const char *spec, char *err,
    size_t errlen);

/* the map of --json-fields, for json sources */
int prep_logs_json_fields(prep_logs_t *l, const char *spec, char *err,
    size_t errlen);

/* [from, to) in ms; INT64_MIN and INT64_MAX for none */
void prep_logs_range(prep_logs_t *l, int64_t from_ms, int64_t to_ms);

/* the UTC offset of days (minutes) and the session timeout (ms) */
void prep_logs_settings(prep_logs_t *l, int gmtoff, uint64_t timeout_ms);

/* the page types (NULL: the default list) */
void prep_logs_pages(prep_logs_t *l, const prep_count_type_t *pages,
    size_t n);

/* a bot list file, added to the built-in one or (replace) instead */
int prep_logs_bots(prep_logs_t *l, const char *path, int replace,
    char *err, size_t errlen);

/* a snapshot, for the type of a path when the log has none */
int prep_logs_snapshot(prep_logs_t *l, const char *path, char *err,
    size_t errlen);

/* a progress line on stderr, when it is a terminal */
void prep_logs_progress(prep_logs_t *l, int on);

/*
 * Reads every source.  Bad lines and bad files do not stop it: they are
 * in the summary.  -1 with err only when nothing can be done (no memory,
 * no source).
 */
int prep_logs_run(prep_logs_t *l, prep_logs_summary_t *sum, char *err,
    size_t errlen);

/* SHA-256 every file as it is read (for the methodology); off: faster */
void prep_logs_hash(prep_logs_t *l, int on);

/* the files, after prep_logs_run() */
const prep_logs_file_t *prep_logs_files(const prep_logs_t *l, size_t *n);

/* the counts, after prep_logs_run() */
const log_count_t *prep_logs_counts(const prep_logs_t *l);

/* the name of the bot list in use, for the methodology */
const char *prep_logs_bots_name(const prep_logs_t *l);


#endif /* _PREP_LOGS_H_INCLUDED_ */
