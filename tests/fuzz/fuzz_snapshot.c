/*
 * Copyright (C) the ngx_prep authors
 *
 * libFuzzer target: bytes in, as a snapshot file mapped by an nginx
 * worker, through prep_snap_open() (fast and full validation); when it
 * accepts them, every entry is looked up and read as the module would,
 * so an index that passed validation cannot make a reader step out of
 * the buffer.  The input is copied to a buffer of its exact size, so
 * ASan sees any read past the end.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prep_snap.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static volatile uint64_t  fuzz_sink;


static void
fuzz_walk(const prep_snap_t *s)
{
    size_t                    len, i;
    uint32_t                  n;
    const char               *path, *type;
    const uint8_t            *body, *gz;
    char                      etag[PREP_SNAP_ETAG_LEN];
    char                      iso[PREP_SNAP_ISO8601_LEN];
    const prep_snap_entry_t  *e, *found;

    (void) prep_snap_corte_iso8601(s->header, iso, sizeof(iso));

    for (n = 0; n < s->nentries; n++) {
        e = &s->entries[n];
        path = prep_snap_entry_path(s, e);
        type = prep_snap_entry_type(s, e);
        body = prep_snap_entry_data(s, e);
        gz = prep_snap_entry_gzip(s, e);

        len = strlen(path);
        if (len != e->path_len || strlen(type) != e->type_len) {
            abort();
        }

        found = prep_snap_lookup(s, path, len);
        if (found != e) {
            abort();
        }

        /* touch the first and last byte of each body, as a send would */
        if (e->data_len > 0) {
            fuzz_sink += body[0] + body[e->data_len - 1];
        }

        if (gz != NULL && e->gzip_len > 0) {
            fuzz_sink += gz[0] + gz[e->gzip_len - 1];
        }

        (void) prep_snap_etag(e, 0, etag);
        (void) prep_snap_etag(e, 1, etag);

        for (i = 0; i < len; i++) {
            fuzz_sink += (unsigned char) path[i];
        }
    }

    (void) prep_snap_lookup(s, "/index.html", sizeof("/index.html") - 1);
    (void) prep_snap_lookup(s, "", 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char         err[PREP_ERRLEN];
    uint8_t     *copy;
    prep_snap_t  s;

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    if (prep_snap_open(&s, copy, size, 0, err, sizeof(err))
        == PREP_SNAP_OK)
    {
        fuzz_walk(&s);
    }

    if (prep_snap_open(&s, copy, size, PREP_SNAP_VERIFY_DATA, err,
                       sizeof(err))
        == PREP_SNAP_OK)
    {
        fuzz_walk(&s);
    }

    free(copy);

    return 0;
}
