/*
 * Copyright (C) the ngx_prep authors
 *
 * --alarm-hook (BRIEF-INTERFACES §4): every warning or alert event of the
 * watch runs CMD with PREP_ALARM_KIND, PREP_ALARM_LEVEL,
 * PREP_ALARM_MESSAGE, PREP_STORE and PREP_CORTE_ID (when known) in its
 * environment and the event's JSON line on standard input, in a detached
 * process that retries it (ingest_run.h): publishing never waits for it.
 * One kind runs at most once per --alarm-repeat.  PREP_ALARM_HOOK is
 * exported so the after-publish hook can raise its own alarms.
 */


#ifndef _INGEST_ALARM_H_INCLUDED_
#define _INGEST_ALARM_H_INCLUDED_


#include "cli/ingest_config.h"
#include "store/ingest_events.h"


/* hooks the alarms onto the events log; nothing without --alarm-hook */
void ingest_alarm_setup(ingest_events_t *log, const ingest_config_t *conf);

/* the alarm kind of an event ("stale", "rejected", "hook_failing"...) */
const char *ingest_alarm_kind(const char *event, const char *line,
    size_t len);


#endif /* _INGEST_ALARM_H_INCLUDED_ */
