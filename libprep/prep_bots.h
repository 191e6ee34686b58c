/*
 * Copyright (C) the ngx_prep authors
 *
 * Bots: a User-Agent is a bot's when it contains, ignoring case, one of
 * the tokens of a list.  The built-in list is our own, in the spirit of
 * GoAccess's and AWStats' robot lists: the generic words robots put in
 * their names ("bot", "crawl", "spider", "slurp"), the "+http" of
 * "(+http://example.com/bot.html)" that well-behaved robots add, and
 * the names of the frequent robots that have none of these (link
 * previewers, archivers, scanners, uptime checkers, AI fetchers).
 * HTTP libraries (curl, Wget, python) are not in it: the publisher's
 * own monitoring and the institute's checks use them, and a list of the
 * operator's (prep_stats_bots, prep-report --bots) can add them.
 *
 * Matching is one pass over the User-Agent, each position looked up by
 * its first two bytes in a small hash of the tokens: no allocation, and
 * about as fast with 200 tokens as with 10.
 */


#ifndef _PREP_BOTS_H_INCLUDED_
#define _PREP_BOTS_H_INCLUDED_


#include <stddef.h>


#define PREP_BOTS_TOKEN_MAX   128       /* bytes of one token */
#define PREP_BOTS_MAX         4096      /* tokens of one list */

/* named in reports, so that a figure says which list counted it */
#define PREP_BOTS_BUILTIN_NAME  "ngx_prep built-in robot list 1"


typedef struct prep_bots_s  prep_bots_t;


/* an empty list, or (builtin) the built-in one; NULL: out of memory */
prep_bots_t *prep_bots_new(int builtin);
void prep_bots_free(prep_bots_t *b);

/* adds a token (2 to PREP_BOTS_TOKEN_MAX bytes); 0, EINVAL or ENOMEM */
int prep_bots_add(prep_bots_t *b, const char *token, size_t len);

/*
 * Adds the tokens of a file, one a line; blank lines and lines starting
 * with "#" are skipped, spaces around a token are not part of it.
 * 0, or -1 with the file, line and reason in err.
 */
int prep_bots_load(prep_bots_t *b, const char *path, char *err,
    size_t errlen);

/* 1 if ua (len bytes) contains a token of b, 0 if not */
int prep_bots_match(const prep_bots_t *b, const char *ua, size_t len);

/* the number of tokens in b */
size_t prep_bots_count(const prep_bots_t *b);


#endif /* _PREP_BOTS_H_INCLUDED_ */
