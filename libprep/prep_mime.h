/*
 * Copyright (C) the ngx_prep authors
 *
 * Content types by file name extension, decided once at ingest time and
 * stored in the snapshot, so every worker serves the same type.
 */


#ifndef _PREP_MIME_H_INCLUDED_
#define _PREP_MIME_H_INCLUDED_


#include <stddef.h>


typedef struct {
    const char  *type;          /* "application/json; charset=utf-8" */
    int          compressible;  /* worth a gzip variant */
} prep_mime_t;


/*
 * Looks up the extension of path (case-insensitive); unknown extensions
 * get "application/octet-stream", not compressible.  Never NULL.
 */
const prep_mime_t *prep_mime_lookup(const char *path, size_t len);


#endif /* _PREP_MIME_H_INCLUDED_ */
