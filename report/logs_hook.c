/*
 * Copyright (C) the ngx_prep authors
 *
 * The place of access logs (--log, issue 10) in prep-report: this build
 * has no log readers linked in, so --log is refused with a clear error.
 * The logs side replaces this file: rpt_logs_load() reads the logs
 * (adding an RPT_SRC_LOG source with traffic = 1 for each), and
 * rpt_logs_fill() adds their counts into the model's series, rows and
 * totals once the window is known, setting r->have_logs, r->bots_name,
 * r->cache_hit_ratio and r->origin_share.
 */


#include <stdio.h>

#include "report.h"


int
rpt_logs_load(rpt_t *r, char *err, size_t errlen)
{
    if (r->opts->nlogs > 0) {
        snprintf(err, errlen, "%s: access logs are not supported by this "
                 "build", r->opts->logs[0]);
        return -1;
    }

    return 0;
}


int
rpt_logs_fill(rpt_t *r, char *err, size_t errlen)
{
    (void) r;
    (void) err;
    (void) errlen;
    return 0;
}
