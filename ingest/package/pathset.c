/*
 * Copyright (C) the ngx_prep authors
 *
 * Open addressing over FNV-1a hashes.  Nodes point into "names" by
 * offset: an implied directory is a prefix of the path that implied it,
 * so it needs no copy of its own.
 */


#include <stdlib.h>
#include <string.h>

#include "package/ingest_pathset.h"


#define INGEST_FNV_OFFSET  0xcbf29ce484222325ull
#define INGEST_FNV_PRIME   0x100000001b3ull


typedef enum {
    INGEST_NODE_FREE = 0,
    INGEST_NODE_FILE,
    INGEST_NODE_DIR,            /* a directory entry of the archive */
    INGEST_NODE_IMPLIED         /* a directory only named by paths */
} ingest_node_kind_e;


struct ingest_pathnode_s {
    uint64_t  hash;
    uint32_t  off;
    uint16_t  len;
    uint8_t   kind;
    uint8_t   pad;
};


void
ingest_pathset_init(ingest_pathset_t *s, uint64_t max_nodes)
{
    memset(s, 0, sizeof(ingest_pathset_t));
    s->max_nodes = max_nodes;
}


void
ingest_pathset_free(ingest_pathset_t *s)
{
    free(s->nodes);
    free(s->names);
    memset(s, 0, sizeof(ingest_pathset_t));
}


static ingest_pathnode_t *
ingest_pathset_find(const ingest_pathset_t *s, uint64_t hash,
    const char *path, size_t len)
{
    size_t              i;
    ingest_pathnode_t  *n;

    if (s->cap == 0) {
        return NULL;
    }

    for (i = hash & (s->cap - 1); ; i = (i + 1) & (s->cap - 1)) {
        n = &s->nodes[i];

        if (n->kind == INGEST_NODE_FREE) {
            return n;
        }

        if (n->hash == hash && n->len == len
            && memcmp(s->names + n->off, path, len) == 0)
        {
            return n;
        }
    }
}


static int
ingest_pathset_grow(ingest_pathset_t *s, ingest_err_t *err)
{
    size_t              i, old_cap;
    ingest_pathnode_t  *old, *n;

    old = s->nodes;
    old_cap = s->cap;

    s->cap = old_cap ? old_cap * 2 : 1024;
    s->nodes = calloc(s->cap, sizeof(ingest_pathnode_t));

    if (s->nodes == NULL) {
        s->nodes = old;
        s->cap = old_cap;
        return ingest_fail(err, INGEST_NOMEM, "out of memory (paths)");
    }

    for (i = 0; i < old_cap; i++) {
        if (old[i].kind != INGEST_NODE_FREE) {
            n = ingest_pathset_find(s, old[i].hash, s->names + old[i].off,
                                    old[i].len);
            *n = old[i];
        }
    }

    free(old);

    return 0;
}


static ingest_pathnode_t *
ingest_pathset_insert(ingest_pathset_t *s, uint64_t hash, uint32_t off,
    size_t len, ingest_node_kind_e kind, ingest_err_t *err)
{
    ingest_pathnode_t  *n;

    if (s->count >= s->max_nodes) {
        (void) ingest_fail(err, INGEST_TOO_MANY_ENTRIES,
                           "over %llu files and directories "
                           "(--max-entries)",
                           (unsigned long long) s->max_nodes);
        return NULL;
    }

    /* at most half full, so probes stay short */
    if ((s->count + 1) * 2 > s->cap && ingest_pathset_grow(s, err) != 0) {
        return NULL;
    }

    n = ingest_pathset_find(s, hash, s->names + off, len);
    n->hash = hash;
    n->off = off;
    n->len = (uint16_t) len;
    n->kind = (uint8_t) kind;
    s->count++;

    return n;
}


static int
ingest_pathset_store(ingest_pathset_t *s, const char *path, size_t len,
    uint32_t *off, ingest_err_t *err)
{
    char    *p;
    size_t   cap;

    if (len > UINT16_MAX
        || s->names_len + len > INGEST_PATHSET_NAMES_MAX)
    {
        return ingest_fail(err, INGEST_TOO_MANY_ENTRIES,
                           "the paths of the archive take over %u bytes",
                           INGEST_PATHSET_NAMES_MAX);
    }

    if (s->names_len + len > s->names_cap) {
        cap = s->names_cap ? s->names_cap : 64 * 1024;
        while (cap < s->names_len + len) {
            cap *= 2;
        }

        p = realloc(s->names, cap);
        if (p == NULL) {
            return ingest_fail(err, INGEST_NOMEM, "out of memory (paths)");
        }

        s->names = p;
        s->names_cap = cap;
    }

    memcpy(s->names + s->names_len, path, len);
    *off = (uint32_t) s->names_len;
    s->names_len += len;

    return 0;
}


int
ingest_pathset_add(ingest_pathset_t *s, const char *path, size_t len,
    int is_dir, ingest_err_t *err)
{
    char                q1[INGEST_NAME_QUOTED], q2[INGEST_NAME_QUOTED];
    size_t              i;
    uint32_t            off;
    uint64_t            hash;
    const char         *p;
    ingest_pathnode_t  *n;

    off = 0;

    if (ingest_pathset_store(s, path, len, &off, err) != 0) {
        return -1;
    }

    /* the stored copy: the table may keep pointing at it */
    p = s->names + off;
    hash = INGEST_FNV_OFFSET;

    for (i = 0; i < len; i++) {
        if (i > 0 && p[i] == '/') {
            n = ingest_pathset_find(s, hash, p, i);

            if (n != NULL && n->kind == INGEST_NODE_FILE) {
                return ingest_fail(err, INGEST_FILE_DIR_CONFLICT,
                                   "\"%s\" is a file, but \"%s\" needs it "
                                   "to be a directory",
                                   ingest_quote(q1, sizeof(q1), p, i),
                                   ingest_quote(q2, sizeof(q2), p, len));
            }

            if ((n == NULL || n->kind == INGEST_NODE_FREE)
                && ingest_pathset_insert(s, hash, off, i,
                                         INGEST_NODE_IMPLIED, err)
                   == NULL)
            {
                return -1;
            }
        }

        hash = (hash ^ (unsigned char) p[i]) * INGEST_FNV_PRIME;
    }

    n = ingest_pathset_find(s, hash, p, len);

    if (n == NULL || n->kind == INGEST_NODE_FREE) {
        return ingest_pathset_insert(s, hash, off, len,
                                     is_dir ? INGEST_NODE_DIR
                                            : INGEST_NODE_FILE,
                                     err)
               == NULL ? -1 : 0;
    }

    ingest_quote(q1, sizeof(q1), p, len);

    if (n->kind == INGEST_NODE_IMPLIED && is_dir) {
        n->kind = INGEST_NODE_DIR;
        return 0;
    }

    if ((n->kind == INGEST_NODE_FILE && !is_dir)
        || (n->kind == INGEST_NODE_DIR && is_dir))
    {
        return ingest_fail(err, INGEST_DUPLICATE_PATH,
                           "\"%s\" appears twice (names are compared "
                           "after normalization)", q1);
    }

    return ingest_fail(err, INGEST_FILE_DIR_CONFLICT,
                       "\"%s\" is both a file and a directory", q1);
}


int
ingest_pathset_has_file(const ingest_pathset_t *s, const char *path,
    size_t len)
{
    size_t              i;
    uint64_t            hash;
    ingest_pathnode_t  *n;

    hash = INGEST_FNV_OFFSET;

    for (i = 0; i < len; i++) {
        hash = (hash ^ (unsigned char) path[i]) * INGEST_FNV_PRIME;
    }

    n = ingest_pathset_find(s, hash, path, len);

    return n != NULL && n->kind == INGEST_NODE_FILE;
}
