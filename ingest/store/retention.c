/*
 * Copyright (C) the ngx_prep authors
 *
 * Snapshot and package names start with the corte id ("20240603_0015-"),
 * so sorting names sorts cortes.  The live snapshot is never removed,
 * whatever its rank (after a rollback it is not the newest).  nginx
 * workers that still map a removed snapshot keep its inode until they
 * unmap it, so removal is safe at any time.
 */


#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/ingest_files.h"


typedef struct {
    char  **names;
    size_t  n;
} ingest_names_t;


static int
ingest_name_cmp(const void *a, const void *b)
{
    /* newest first */
    return strcmp(*(char *const *) b, *(char *const *) a);
}


static void
ingest_names_free(ingest_names_t *l)
{
    size_t  i;

    for (i = 0; i < l->n; i++) {
        free(l->names[i]);
    }

    free(l->names);
    l->names = NULL;
    l->n = 0;
}


static int
ingest_names_list(int dir_fd, const char *suffix, ingest_names_t *l)
{
    DIR            *dir;
    char           *copy;
    struct dirent  *de;

    l->n = 0;
    l->names = calloc(INGEST_RETENTION_MAX, sizeof(char *));
    if (l->names == NULL) {
        return -1;
    }

    dir = ingest_dir_open(dir_fd);
    if (dir == NULL) {
        return -1;
    }

    while ((de = readdir(dir)) != NULL && l->n < INGEST_RETENTION_MAX) {
        if (de->d_name[0] == '.' || !ingest_has_suffix(de->d_name, suffix)) {
            continue;
        }

        copy = strdup(de->d_name);
        if (copy == NULL) {
            break;
        }

        l->names[l->n++] = copy;
    }

    (void) closedir(dir);

    qsort(l->names, l->n, sizeof(char *), ingest_name_cmp);

    return 0;
}


static void
ingest_removed_add(char *removed, size_t size, const char *name)
{
    size_t  len;

    if (size == 0) {
        return;
    }

    len = strlen(removed);

    (void) snprintf(removed + len, size - len, "%s%s", len ? "," : "",
                    name);
}


unsigned
ingest_retention_snapshots(int cortes_fd, uint64_t keep, const char *live,
    char *removed, size_t size)
{
    size_t          i;
    unsigned        count;
    uint64_t        kept;
    ingest_names_t  l;

    if (size > 0) {
        removed[0] = '\0';
    }

    if (ingest_names_list(cortes_fd, ".snap", &l) != 0) {
        ingest_names_free(&l);
        return 0;
    }

    count = 0;
    kept = 0;

    /* the live one counts among the kept ones wherever it sorts */
    if (live != NULL && live[0] != '\0') {
        kept = 1;
    }

    for (i = 0; i < l.n; i++) {
        if (live != NULL && strcmp(l.names[i], live) == 0) {
            continue;
        }

        if (kept < keep) {
            kept++;
            continue;
        }

        if (unlinkat(cortes_fd, l.names[i], 0) == 0) {
            ingest_removed_add(removed, size, l.names[i]);
            count++;
        }
    }

    ingest_names_free(&l);

    return count;
}


unsigned
ingest_retention_packages(int dir_fd, uint64_t keep, char *removed,
    size_t size)
{
    char            side[INGEST_NAME_MAX + sizeof(INGEST_SIDECAR_SUFFIX)];
    size_t          i;
    unsigned        count;
    ingest_names_t  l;

    if (size > 0) {
        removed[0] = '\0';
    }

    if (ingest_names_list(dir_fd, ".tar.gz", &l) != 0) {
        ingest_names_free(&l);
        return 0;
    }

    count = 0;

    for (i = keep; i < l.n; i++) {
        if (unlinkat(dir_fd, l.names[i], 0) == 0) {
            ingest_removed_add(removed, size, l.names[i]);
            count++;
        }

        (void) snprintf(side, sizeof(side), "%s" INGEST_SIDECAR_SUFFIX,
                        l.names[i]);
        (void) unlinkat(dir_fd, side, 0);
    }

    ingest_names_free(&l);

    return count;
}
