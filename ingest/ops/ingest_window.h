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
 *
 * --keep-until TIME, the end of the publication: until then retention
 * keeps the live corte's predecessor (store/retention.c), rollback
 * refuses to leave nothing published and status alarms when no watch
 * runs.
 *
 * Both times are written to STORE/window.json when the watch starts,
 * for the module: its placeholder page (503, nothing published yet) says
 * when publication begins.  A flat JSON object, read with "current":
 *
 *     {"publish_from":"2024-06-02T20:00:00-06:00",
 *      "publish_from_unix":1717380000,
 *      "keep_until":"2024-06-09T23:59:00-06:00",
 *      "keep_until_unix":1717999140}
 *
 * (null for a time not set; the file is removed when neither is).
 */


#ifndef _INGEST_WINDOW_H_INCLUDED_
#define _INGEST_WINDOW_H_INCLUDED_


#include "daemon/ingest_pipeline.h"


/* "2024-06-02T20:00:00-06:00", "...Z", or "@1717380000"; 0 or -1 */
int ingest_window_parse(const char *s, double *t);

/* at start: 0, or -1 when --publish-from or --keep-until is not a time
 * (msg says); tells retention about --keep-until */
int ingest_window_check(const ingest_config_t *conf, char *msg,
    size_t size);

/* the publication's hold (daemon/publication.c): 1 before TIME, when a
 * package decided for publication is only named in cortes/ */
int ingest_window_holds(ingest_watch_t *w);

/* pipeline, once the held snapshot is named: the store unlocked, the
 * "held" event, the upload due again at TIME */
void ingest_window_record_held(ingest_pl_t *pl);

/* pipeline, before anything: 1 when c was held and must wait for TIME */
int ingest_window_waits(ingest_watch_t *w, ingest_cand_t *c);

/* --keep-until: -1 (msg says) when it is not a time, 1 when it is set
 * and not yet past, 0 otherwise; *t gets it */
int ingest_keep_until(const ingest_config_t *conf, double *t, char *msg,
    size_t size);

/* the watch, once started: STORE/window.json written (or removed) and
 * nginx told when it changed */
void ingest_window_start(ingest_watch_t *w);

/* the loop: opens the window at TIME; *next gets the deadline */
void ingest_window_poll(ingest_watch_t *w, double *next);


#endif /* _INGEST_WINDOW_H_INCLUDED_ */
