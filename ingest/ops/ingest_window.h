/*
 * Copyright (C) the ngx_prep authors
 *
 * The publication window, --publish-from TIME (issue 11, section 2):
 * before TIME a package is validated, decided and its snapshot kept in
 * STORE/cortes, but current is not flipped ("held"); the upload stays in
 * the drop folder.  At TIME the watch flips current to the newest held
 * snapshot at once, without validating it again, tells nginx, and the
 * pipeline then finishes the held upload as a publication that was
 * already flipped (the "resumed" path: "published", archive, hook).
 */


#ifndef _INGEST_WINDOW_H_INCLUDED_
#define _INGEST_WINDOW_H_INCLUDED_


#include "daemon/ingest_pipeline.h"


/* "2024-06-02T20:00:00-06:00", "...Z", or "@1717380000"; 0 or -1 */
int ingest_window_parse(const char *s, double *t);

/* at start: 0, or -1 when --publish-from is not a time (msg says) */
int ingest_window_check(const ingest_config_t *conf, char *msg,
    size_t size);

/* pipeline: 1 when the decided package is held (the store is unlocked
 * and the snapshot kept), 0 to publish it now */
int ingest_window_hold(ingest_pl_t *pl);

/* pipeline, before anything: 1 when c was held and must wait for TIME */
int ingest_window_waits(ingest_watch_t *w, ingest_cand_t *c);

/* the loop: opens the window at TIME; *next gets the deadline */
void ingest_window_poll(ingest_watch_t *w, double *next);


#endif /* _INGEST_WINDOW_H_INCLUDED_ */
