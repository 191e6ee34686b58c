/*
 * Copyright (C) the ngx_prep authors
 *
 * Deterministic crash points for the tests: with PREP_INGEST_FAULT=NAME
 * in its environment, prep-ingest watch calls _exit(137) (as if killed
 * by SIGKILL) when it reaches the point NAME, so that every step of a
 * publication can be interrupted on purpose rather than by timing.  The
 * points, in the order a package meets them:
 *
 *     after_seen               a new file is noticed
 *     after_stage              the private copy is made
 *     during_build             the validator child is running (the
 *                              daemon dies; the child follows it)
 *     in_validator             the validator child itself dies (the
 *                              daemon must quarantine the package as
 *                              validator_crash and go on)
 *     after_snapshot_write     the snapshot is written and fsynced
 *     after_snapshot_rename    it has its final name in cortes/
 *     after_flip               current points to it
 *                              (these three in daemon/publication.c,
 *                              met by prep-ingest publish too)
 *     after_reload             nginx serves it
 *     after_published_event    the "published" line is in the log
 *     after_archive            the package is in packages/
 *     after_quarantine         a rejected package is in quarantine/
 *     after_hook_start         the after-publish hook was started
 *
 * With PREP_INGEST_PAUSE=NAME the daemon stops itself (SIGSTOP) at the
 * point instead, so a test can act at that exact moment (change the
 * upload, say) and resume it with SIGCONT.
 *
 * Without the variables this costs two getenv() per point.
 */


#ifndef _INGEST_FAULT_H_INCLUDED_
#define _INGEST_FAULT_H_INCLUDED_


#define INGEST_FAULT_ENV  "PREP_INGEST_FAULT"
#define INGEST_PAUSE_ENV  "PREP_INGEST_PAUSE"


void ingest_fault(const char *point);


#endif /* _INGEST_FAULT_H_INCLUDED_ */
