/*
 * Copyright (C) the ngx_prep authors
 *
 * The suspension state in the store (BRIEF-INTERFACES §5):
 * STORE/suspension.json, a flat JSON object read by the module whenever
 * it (re)loads "current", and STORE/notice.html, the page it answers on
 * every path while "suspended" is true.  Both are written atomically
 * (libprep/prep_atomic.h), the notice first, so the module never sees a
 * suspension whose notice is not complete.
 *
 *     {"suspended":true,"since":"2024-06-03T06:00:00.000Z",
 *      "since_unix":1717394400,"reason":"...","by":"user",
 *      "source":"command"|"drop","notice":"notice.html"|null,
 *      "notice_sha256":"<hex>"|null}
 */


#ifndef _INGEST_SUSPENSION_H_INCLUDED_
#define _INGEST_SUSPENSION_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "store/ingest_store.h"


#define INGEST_SUSPENSION_FILE   "suspension.json"
#define INGEST_NOTICE_FILE       "notice.html"
#define INGEST_NOTICE_MAX        (1024 * 1024)
#define INGEST_NOTICE_NAME       "AVISO.html"
/* the module keeps at most this much of the reason */
#define INGEST_SUSPEND_REASON    400


typedef struct {
    int       suspended;
    double    since;                  /* unix time; 0 unknown */
    char      reason[INGEST_SUSPEND_REASON + 1];
    char      by[64];
    char      source[16];
    char      sha256[65];             /* "" without a notice */
} ingest_suspension_t;


/* 0 when buf is a notice the module may answer; else -1 and msg */
int ingest_notice_check(const char *buf, size_t len, char *msg,
    size_t size);

/* reads FILE (at most INGEST_NOTICE_MAX + 1 bytes) into a malloc'd
 * buffer and checks it; -1 with msg */
int ingest_notice_load(int dir_fd, const char *path, char **buf,
    size_t *len, char *msg, size_t size);

/*
 * Writes the state: with s->suspended the notice (NULL: the module's
 * built-in one) and then suspension.json, each atomically; fills
 * s->sha256 and s->since.  Returns 0 or an errno value, msg says which
 * file.
 */
int ingest_suspension_write(ingest_store_t *st, ingest_suspension_t *s,
    const char *notice, size_t len, char *msg, size_t size);

/* 1 and *s when the store has a state file, 0 when it has none, -1
 * when it is unreadable or invalid */
int ingest_suspension_read(ingest_store_t *st, ingest_suspension_t *s);


#endif /* _INGEST_SUSPENSION_H_INCLUDED_ */
