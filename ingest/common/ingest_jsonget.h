/*
 * Copyright (C) the ngx_prep authors
 *
 * Reading single values out of small JSON documents: the control
 * socket's answers and the lines of the events log.  The document is
 * checked as it is walked (any syntax error is a miss); nesting is
 * bounded, nothing is allocated.
 */


#ifndef _INGEST_JSONGET_H_INCLUDED_
#define _INGEST_JSONGET_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define INGEST_JSON_MAX_DEPTH  32


typedef enum {
    INGEST_JSON_NONE = 0,
    INGEST_JSON_STRING,
    INGEST_JSON_NUMBER,
    INGEST_JSON_TRUE,
    INGEST_JSON_FALSE,
    INGEST_JSON_NULL,
    INGEST_JSON_OBJECT,
    INGEST_JSON_ARRAY
} ingest_json_type_e;


typedef struct {
    ingest_json_type_e   type;
    const char          *start;     /* the value's text, quotes included */
    size_t               len;
} ingest_json_val_t;


/*
 * Finds the value at "path", object keys separated by dots
 * ("corte.snapshot"), in the document [json, json + len).  Returns 1 and
 * fills *val, 0 when absent, -1 when the document is not valid JSON.
 */
int ingest_json_get(const char *json, size_t len, const char *path,
    ingest_json_val_t *val);

/* a string value, unescaped into buf (NUL-terminated); -1 if it does
 * not fit, is not a string or holds a NUL */
int ingest_json_string(const ingest_json_val_t *val, char *buf,
    size_t size);

/* ingest_json_get() and ingest_json_string() together; -1 when absent */
int ingest_json_get_string(const char *json, size_t len, const char *path,
    char *buf, size_t size);

/* a number value as a double; -1 when absent or not a number */
int ingest_json_get_number(const char *json, size_t len, const char *path,
    double *out);


#endif /* _INGEST_JSONGET_H_INCLUDED_ */
