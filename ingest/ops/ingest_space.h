/*
 * Copyright (C) the ngx_prep authors
 *
 * The low_space alarm: free space in the store under three packages
 * (ops/space.c).
 */


#ifndef _INGEST_SPACE_H_INCLUDED_
#define _INGEST_SPACE_H_INCLUDED_


#include "daemon/ingest_daemon.h"


/* the loop: checks the store's free space when due; *next gets the
 * time of the next check */
void ingest_space_poll(ingest_watch_t *w, double *next);


#endif /* _INGEST_SPACE_H_INCLUDED_ */
