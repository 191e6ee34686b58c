/*
 * Copyright (C) the ngx_prep authors
 *
 * The decision against the live corte (ingest_decide.h).
 */


#include <string.h>

#include "common/ingest_reasons.h"
#include "daemon/ingest_decide.h"
#include "store/ingest_events.h"


ingest_decision_e
ingest_decide(const ingest_live_t *live, const ingest_candidate_t *cand,
    ingest_err_t *err)
{
    char  hex[2 * PREP_SHA256_LEN + 1];

    if (live == NULL || !live->have || cand->time > live->corte_time) {
        return INGEST_DECIDE_PUBLISH;
    }

    if (cand->time < live->corte_time) {
        (void) ingest_fail(err, INGEST_OLDER_CORTE, "corte %s (%s) is older "
                           "than the live corte %s (%s)", cand->id,
                           cand->iso, live->corte_id, live->iso);
        return INGEST_DECIDE_REFUSE;
    }

    if (memcmp(live->sha256, cand->sha256, PREP_SHA256_LEN) == 0) {
        return INGEST_DECIDE_LIVE;
    }

    (void) ingest_fail(err, INGEST_CORTE_CONFLICT, "corte %s is live with "
                       "other content (SHA-256 %s); a published corte is "
                       "never replaced", live->corte_id,
                       ingest_sha256_hex(hex, live->sha256));
    return INGEST_DECIDE_REFUSE;
}
