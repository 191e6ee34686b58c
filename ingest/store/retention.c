/*
 * Copyright (C) the ngx_prep authors
 *
 * Snapshot and package names start with the corte id ("20240603_0015-"),
 * so sorting names sorts cortes.  The live snapshot is never removed,
 * whatever its rank (after a rollback it is not the newest).  nginx
 * workers that still map a removed snapshot keep its inode until they
 * unmap it, so removal is safe at any time.
 *
 * Until --keep-until (ingest_retention_keep_until()), the corte published
 * before the live one is never removed either, whatever "keep" says and
 * however a rollback reordered them, and neither are the packages of
 * those two cortes: a rollback always has somewhere to go.
 */


#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/ingest_files.h"


typedef struct {
    char  **names;
    size_t  n;
} ingest_names_t;


static double  ingest_retention_until;

/* stems ("<corte id>-<12 hex>") of the snapshots kept for --keep-until */
static char    ingest_retention_kept[2][INGEST_NAME_MAX];


void
ingest_retention_keep_until(double t)
{
    ingest_retention_until = t;
}


static int
ingest_retention_protecting(void)
{
    struct timespec  ts;

    if (ingest_retention_until <= 0) {
        return 0;
    }

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    return (double) ts.tv_sec < ingest_retention_until;
}


static void
ingest_retention_keep_stem(unsigned i, const char *name, const char *suffix)
{
    size_t  len, slen;

    len = strlen(name);
    slen = strlen(suffix);

    if (len < slen || len - slen >= sizeof(ingest_retention_kept[i])) {
        ingest_retention_kept[i][0] = '\0';
        return;
    }

    memcpy(ingest_retention_kept[i], name, len - slen);
    ingest_retention_kept[i][len - slen] = '\0';
}


/* 1 when name (a package) belongs to a corte kept for --keep-until */
static int
ingest_retention_kept_package(const char *name)
{
    size_t    len;
    unsigned  i;

    if (!ingest_retention_protecting()) {
        return 0;
    }

    for (i = 0; i < 2; i++) {
        len = strlen(ingest_retention_kept[i]);

        if (len > 0 && strncmp(name, ingest_retention_kept[i], len) == 0
            && strcmp(name + len, ".tar.gz") == 0)
        {
            return 1;
        }
    }

    return 0;
}


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
    const char     *prev;
    ingest_names_t  l;

    if (size > 0) {
        removed[0] = '\0';
    }

    ingest_retention_kept[0][0] = '\0';
    ingest_retention_kept[1][0] = '\0';

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

    /* its predecessor: the newest name that sorts before it */
    prev = NULL;

    if (live != NULL && live[0] != '\0' && ingest_retention_protecting()) {
        for (i = 0; i < l.n; i++) {
            if (strcmp(l.names[i], live) < 0) {
                prev = l.names[i];
                break;
            }
        }

        ingest_retention_keep_stem(0, live, ".snap");

        /* kept on top of "keep": the newer ones a rollback left stay */
        if (prev != NULL) {
            ingest_retention_keep_stem(1, prev, ".snap");
        }
    }

    for (i = 0; i < l.n; i++) {
        if ((live != NULL && strcmp(l.names[i], live) == 0)
            || l.names[i] == prev)
        {
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
        if (ingest_retention_kept_package(l.names[i])) {
            continue;
        }

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
