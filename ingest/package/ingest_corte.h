/*
 * Copyright (C) the ngx_prep authors
 *
 * The corte (cut-off) time of a package, from every place it is written
 * (docs/DESIGN.md, "Corte time (ingest)"):
 *
 *   the package file name       20240603_0015_PREP_QROO.tar.gz
 *   CSV preambles (8 lines)     2024/06/03 00:15 (UTC-5)
 *                               03/06/2024 00:15 (UTC-5)
 *   CSVs in .zip members        the same, zips in zips one level deep
 *   JSON "ultimoCorte"          {"fecha": "03/06/2024",
 *                                "hora": "00:15 (UTC-5)"}
 *
 * All sources must agree; at least one must carry the UTC offset.  The
 * set remembers the first source and the first one with an offset, so a
 * disagreement names both sides.
 */


#ifndef _INGEST_CORTE_H_INCLUDED_
#define _INGEST_CORTE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "prep_snap.h"
#include "common/ingest_reasons.h"


#define INGEST_CORTE_SOURCE_LEN   320

#define INGEST_CSV_HEAD_LINES     8
#define INGEST_CSV_HEAD_MAX       (16 * 1024)

#define INGEST_JSON_WINDOW        (64 * 1024)
#define INGEST_JSON_VALUE_MAX     512     /* bytes after "ultimoCorte" */

/* zips: the package's own zip is level 1, a zip inside it level 2 */
#define INGEST_ZIP_MAX_DEPTH      2
#define INGEST_ZIP_MAX_MEMBERS    10000
#define INGEST_ZIP_INNER_MAX      (8 << 20)   /* bigger ones are not read */


typedef struct {
    int       year;
    int       month;
    int       day;
    int       hour;
    int       minute;
    int       has_offset;
    int32_t   utc_offset;                   /* seconds east of UTC */
    char      text[PREP_SNAP_TEXT_LEN];     /* as written in the source */
    char      source[INGEST_CORTE_SOURCE_LEN];
} ingest_corte_t;


typedef struct {
    ingest_corte_t  first;
    ingest_corte_t  with_offset;
    unsigned long   sources;
    unsigned long   offsets;
    unsigned long   unreadable;             /* "ultimoCorte" not understood */
    char            unreadable_at[INGEST_CORTE_SOURCE_LEN];
} ingest_corte_set_t;


typedef struct {
    char      id[PREP_SNAP_ID_LEN];         /* "20240603_0015" */
    char      text[PREP_SNAP_TEXT_LEN];     /* "2024/06/03 00:15 (UTC-5)" */
    char      iso8601[PREP_SNAP_ISO8601_LEN];
    int64_t   time;
    int32_t   utc_offset;
    unsigned long  sources;
} ingest_corte_result_t;


/*
 * Parsers.  Each returns 1 and fills the time fields and text of c (not
 * its source) when it finds a corte, 0 when it does not.
 */

/* "YYYYMMDD_HHMM" anywhere in a file name, not inside a longer number */
int ingest_corte_parse_name(const char *name, size_t len, ingest_corte_t *c);

/*
 * "2024/06/03 00:15", "03/06/2024 00:15" (also with "-"), optionally
 * followed by "(UTC-5)", "(UTC-05:00)", "(GMT+1)", "(UTC)"; *used gets
 * the bytes taken.
 */
int ingest_corte_parse_datetime(const char *s, size_t len, size_t *used,
    ingest_corte_t *c);

/* the first line of the first INGEST_CSV_HEAD_LINES that is a date */
int ingest_corte_parse_csv(const char *head, size_t len, ingest_corte_t *c);

/*
 * The JSON value after the key "ultimoCorte": an object with "fecha" and
 * "hora", or a string.  Returns 1 when read, 0 when not understood, -1
 * when s ends before the value does (feed more), -2 when the word is not
 * a key at all ("campo": "ultimoCorte").
 */
int ingest_corte_parse_ultimo(const char *s, size_t len, size_t *used,
    ingest_corte_t *c);


void ingest_corte_set_init(ingest_corte_set_t *set);

/* -1 with corte_mismatch when c disagrees with an earlier source */
int ingest_corte_set_add(ingest_corte_set_t *set, const ingest_corte_t *c,
    ingest_err_t *err);

void ingest_corte_set_unreadable(ingest_corte_set_t *set,
    const char *source);

/* -1 with corte_missing or corte_no_offset */
int ingest_corte_resolve(const ingest_corte_set_t *set,
    ingest_corte_result_t *res, ingest_err_t *err);


/* the first lines of a CSV, kept while the file streams by */
typedef struct {
    char      buf[INGEST_CSV_HEAD_MAX];
    size_t    len;
    unsigned  lines;
} ingest_csv_head_t;

void ingest_csv_head_init(ingest_csv_head_t *h);
void ingest_csv_head_feed(ingest_csv_head_t *h, const void *data,
    size_t len);
/* 1 when enough is kept: feeding more changes nothing */
int ingest_csv_head_full(const ingest_csv_head_t *h);


/* "ultimoCorte" in a JSON file of any size, in a fixed window */
typedef struct {
    ingest_corte_set_t  *set;
    size_t               have;
    char                 source[INGEST_CORTE_SOURCE_LEN];
    char                 win[INGEST_JSON_WINDOW];
} ingest_json_scan_t;

void ingest_json_scan_init(ingest_json_scan_t *s, ingest_corte_set_t *set,
    const char *source);
int ingest_json_scan_feed(ingest_json_scan_t *s, const void *data,
    size_t len, ingest_err_t *err);
int ingest_json_scan_finish(ingest_json_scan_t *s, ingest_err_t *err);


/*
 * The CSVs of a zip stored in [off, off + len) of the file open on fd
 * (read with pread, never extracted), and of the zips inside it.  A zip
 * that cannot be read is skipped: it is content, not a corte source.
 * Returns -1 only when a CSV disagrees with the set (or on I/O errors).
 */
int ingest_corte_scan_zip(int fd, uint64_t off, uint64_t len,
    const char *source, ingest_corte_set_t *set, ingest_err_t *err);


#endif /* _INGEST_CORTE_H_INCLUDED_ */
