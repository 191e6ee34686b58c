/*
 * Copyright (C) the ngx_prep authors
 *
 * Helpers shared by the unit test suites: a deterministic random number
 * generator, exact-size heap buffers (so ASan catches a read one byte
 * past the end), escaping into such a buffer, unlinked temp files,
 * temp directories and files in them, and files written into a
 * libarchive writer.  They fail the running cmocka
 * test on any error, so callers need not check.
 */


#ifndef _TEST_UTIL_H_INCLUDED_
#define _TEST_UTIL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


struct archive;


typedef size_t (*escaped_len_pt)(const char *src, size_t len);
typedef size_t (*escape_pt)(char *dst, const char *src, size_t len);


void rng_seed(uint64_t seed);
uint32_t rng_next(void);
void rng_fill(uint8_t *p, size_t len);

void *xmalloc(size_t size);
void *xmemdup(const void *p, size_t len);

char *escape_exact(escaped_len_pt escaped_len, escape_pt escape,
    const char *src, size_t len, size_t *out_len);

int temp_fd(const void *data, size_t len);

/* a writer of a tar.gz into buf (cap bytes, *used written so far), and
 * its end: the package is then buf[0 .. *used) */
struct archive *tgz_open(void *buf, size_t cap, size_t *used);
void tgz_close(struct archive *a);

/* a new directory /tmp/<prefix>.XXXXXX, its path into buf */
void temp_dir(char *buf, size_t size, const char *prefix);

void add_file(struct archive *a, const char *name, const void *data,
    size_t len);

/* removes path and, for a directory, everything below it (never through
 * a symlink) */
void temp_dir_remove(const char *path);

/* dir_fd/name created (it must not exist) with mode and data */
void write_at(int dir_fd, const char *name, const char *data, mode_t mode);

/* how many entries the directory open on dir_fd has, "." and ".." aside */
unsigned dir_entries(int dir_fd);

/* the whole of dir_fd/name, NUL-terminated, into buf; its length */
size_t read_at(int dir_fd, const char *name, char *buf, size_t size);


#endif /* _TEST_UTIL_H_INCLUDED_ */
