/*
 * Copyright (C) the ngx_prep authors
 *
 * Content types by extension.  The table is sorted by extension so a
 * lookup is a binary search; text types carry "; charset=utf-8" because
 * browsers would otherwise guess (and guess Windows-1252 for "ñ").
 */


#include <string.h>

#include "prep_mime.h"


#define PREP_MIME_EXT_MAX  16


typedef struct {
    const char   *ext;
    prep_mime_t   mime;
} prep_mime_ext_t;


#define PREP_UTF8  "; charset=utf-8"


/* sorted by ext (bytewise, lowercase): test_mime looks up every one */
static const prep_mime_ext_t  prep_mime_types[] = {
    { "avif",        { "image/avif", 0 } },
    { "bmp",         { "image/bmp", 1 } },
    { "css",         { "text/css" PREP_UTF8, 1 } },
    { "csv",         { "text/csv" PREP_UTF8, 1 } },
    { "eot",         { "application/vnd.ms-fontobject", 1 } },
    { "geojson",     { "application/geo+json" PREP_UTF8, 1 } },
    { "gif",         { "image/gif", 0 } },
    { "gz",          { "application/gzip", 0 } },
    { "htm",         { "text/html" PREP_UTF8, 1 } },
    { "html",        { "text/html" PREP_UTF8, 1 } },
    { "ico",         { "image/x-icon", 1 } },
    { "jpeg",        { "image/jpeg", 0 } },
    { "jpg",         { "image/jpeg", 0 } },
    { "js",          { "text/javascript" PREP_UTF8, 1 } },
    { "json",        { "application/json" PREP_UTF8, 1 } },
    { "map",         { "application/json" PREP_UTF8, 1 } },
    { "md",          { "text/markdown" PREP_UTF8, 1 } },
    { "mjs",         { "text/javascript" PREP_UTF8, 1 } },
    { "mp3",         { "audio/mpeg", 0 } },
    { "mp4",         { "video/mp4", 0 } },
    { "otf",         { "font/otf", 1 } },
    { "pdf",         { "application/pdf", 0 } },
    { "png",         { "image/png", 0 } },
    { "svg",         { "image/svg+xml", 1 } },
    { "tsv",         { "text/tab-separated-values" PREP_UTF8, 1 } },
    { "ttf",         { "font/ttf", 1 } },
    { "txt",         { "text/plain" PREP_UTF8, 1 } },
    { "wasm",        { "application/wasm", 1 } },
    { "webm",        { "video/webm", 0 } },
    { "webmanifest", { "application/manifest+json" PREP_UTF8, 1 } },
    { "webp",        { "image/webp", 0 } },
    { "woff",        { "font/woff", 0 } },
    { "woff2",       { "font/woff2", 0 } },
    { "xhtml",       { "application/xhtml+xml" PREP_UTF8, 1 } },
    { "xlsx",        { "application/vnd.openxmlformats-officedocument"
                       ".spreadsheetml.sheet", 0 } },
    { "xml",         { "application/xml" PREP_UTF8, 1 } },
    { "zip",         { "application/zip", 0 } }
};


static const prep_mime_t  prep_mime_default = {
    "application/octet-stream", 0
};


const prep_mime_t *
prep_mime_lookup(const char *path, size_t len)
{
    int     rc;
    char    ext[PREP_MIME_EXT_MAX + 1];
    size_t  i, dot, n, lo, hi, mid;

    /* the extension of the last segment: "a.b/c" has none */
    dot = len;

    for (i = len; i > 0; i--) {
        if (path[i - 1] == '.') {
            dot = i - 1;
            break;
        }

        if (path[i - 1] == '/') {
            break;
        }
    }

    if (dot == len) {
        return &prep_mime_default;
    }

    n = len - dot - 1;

    if (n == 0 || n > PREP_MIME_EXT_MAX) {
        return &prep_mime_default;
    }

    for (i = 0; i < n; i++) {
        ext[i] = path[dot + 1 + i];

        if (ext[i] >= 'A' && ext[i] <= 'Z') {
            ext[i] = (char) (ext[i] - 'A' + 'a');
        }
    }

    ext[n] = '\0';

    lo = 0;
    hi = sizeof(prep_mime_types) / sizeof(prep_mime_ext_t);

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        rc = strcmp(prep_mime_types[mid].ext, ext);

        if (rc == 0) {
            return &prep_mime_types[mid].mime;
        }

        if (rc < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return &prep_mime_default;
}
