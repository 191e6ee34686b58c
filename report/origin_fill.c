/*
 * Copyright (C) the ngx_prep authors
 *
 * The decoded states (libprep/prep_stats_file.h) into the model: see
 * origin.c.  The only file of prep-report that knows prep_stats_t's
 * fields.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#if defined(__has_include)
#if __has_include("prep_stats_file.h")
#define RPT_HAVE_STATS_FILE  1
#endif
#endif


#ifndef RPT_HAVE_STATS_FILE

void
rpt_origin_meta(rpt_t *r, rpt_source_t *s)
{
    (void) r;
    (void) s;
}


int
rpt_origin_fill(rpt_t *r)
{
    (void) r;
    return 0;
}

#endif
