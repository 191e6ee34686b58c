/*
 * Copyright (C) the ngx_prep authors
 *
 * HTTP/1.0 over the unix socket of nginx's prep_control location
 * (README, "prep_control"): POST /reload makes nginx validate and serve
 * STORE/current, GET / tells what it serves.  One request per
 * connection, bounded in time and size.
 */


#ifndef _INGEST_CONTROL_CLIENT_H_INCLUDED_
#define _INGEST_CONTROL_CLIENT_H_INCLUDED_


#include <stddef.h>


#define INGEST_CONTROL_MAX_RESPONSE  (256 * 1024)
#define INGEST_CONTROL_ERRLEN        512


typedef struct {
    int      status;                /* HTTP status; 0: no answer */
    char    *body;                  /* NUL-terminated, owned */
    size_t   body_len;
    char     err[INGEST_CONTROL_ERRLEN];
} ingest_control_resp_t;


/* one request; 0 when an HTTP answer came (any status), -1 with r->err */
int ingest_control_request(const char *socket_path, const char *method,
    const char *uri, double timeout, ingest_control_resp_t *r);

void ingest_control_resp_free(ingest_control_resp_t *r);


/*
 * Makes nginx serve STORE/current and confirms it: POST /reload must
 * answer 200 naming "snapshot", then GET / must report it as the live
 * corte.  Returns 0, or -1 with a one-line reason in err; *refused is
 * set when nginx answered but refused (422: the snapshot does not
 * validate), 0 when it could not be reached.  generation may be NULL.
 */
int ingest_control_publish(const char *socket_path, const char *snapshot,
    double timeout, unsigned long *generation, int *refused, char *err,
    size_t errlen);

/* GET /: the name of the snapshot nginx serves ("" when none) */
int ingest_control_live(const char *socket_path, double timeout,
    char *snapshot, size_t size, unsigned long *generation, char *err,
    size_t errlen);


#endif /* _INGEST_CONTROL_CLIENT_H_INCLUDED_ */
