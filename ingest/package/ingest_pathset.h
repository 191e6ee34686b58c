/*
 * Copyright (C) the ngx_prep authors
 *
 * The set of normalized paths of an archive, to refuse duplicates ("a",
 * "./a") and a file that is also a directory ("data" and "data/x").
 * Every directory a path implies is a member too, so a conflict is found
 * whatever the order of the entries.  Memory is bounded by the entry
 * limit and INGEST_PATHSET_NAMES_MAX.
 */


#ifndef _INGEST_PATHSET_H_INCLUDED_
#define _INGEST_PATHSET_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "common/ingest_reasons.h"


#define INGEST_PATHSET_NAMES_MAX  (16u << 20)


typedef struct ingest_pathnode_s  ingest_pathnode_t;

typedef struct {
    ingest_pathnode_t  *nodes;
    size_t              cap;        /* a power of two */
    size_t              count;
    uint64_t            max_nodes;
    char               *names;      /* every path added, back to back */
    size_t              names_len;
    size_t              names_cap;
} ingest_pathset_t;


void ingest_pathset_init(ingest_pathset_t *s, uint64_t max_nodes);
void ingest_pathset_free(ingest_pathset_t *s);

/*
 * Adds "/a/b" as a file or a directory.  Returns 0, or -1 with
 * duplicate_path, file_dir_conflict, too_many_entries or nomem.
 */
int ingest_pathset_add(ingest_pathset_t *s, const char *path, size_t len,
    int is_dir, ingest_err_t *err);

/* 1 when path was added as a file */
int ingest_pathset_has_file(const ingest_pathset_t *s, const char *path,
    size_t len);


#endif /* _INGEST_PATHSET_H_INCLUDED_ */
