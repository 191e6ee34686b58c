/*
 * Copyright (C) the ngx_prep authors
 *
 * Archive member names to snapshot paths.  The result is the form nginx
 * puts in r->uri after decoding and merging slashes ("/a/b.json"), so the
 * module can look up r->uri as is.
 */


#ifndef _PREP_PATH_H_INCLUDED_
#define _PREP_PATH_H_INCLUDED_


#include <stddef.h>


#define PREP_PATH_MAX_LEN     1024
#define PREP_PATH_MAX_DEPTH   32


typedef enum {
    PREP_PATH_OK = 0,
    PREP_PATH_EEMPTY,           /* "" or only "./" */
    PREP_PATH_EABSOLUTE,        /* starts with "/" */
    PREP_PATH_EDOTDOT,          /* a ".." segment */
    PREP_PATH_ESEGMENT,         /* an empty segment: "a//b" */
    PREP_PATH_ECONTROL,         /* a control character */
    PREP_PATH_EBACKSLASH,
    PREP_PATH_EUTF8,            /* invalid UTF-8 */
    PREP_PATH_ELONG,            /* over PREP_PATH_MAX_LEN */
    PREP_PATH_EDEEP             /* over PREP_PATH_MAX_DEPTH segments */
} prep_path_rc_e;


/*
 * Normalizes a tar member name into out ("/" + name), dropping leading
 * "./" segments and "." segments and one trailing "/" (directories).
 * out must hold PREP_PATH_MAX_LEN + 2 bytes; *out_len gets the length.
 * Returns PREP_PATH_OK or the reason the name is refused.
 */
int prep_path_normalize(const char *name, size_t len, char *out,
    size_t *out_len);

/* a stable lowercase code for logs and .reason files: "path_dotdot" */
const char *prep_path_strerror(int rc);


#endif /* _PREP_PATH_H_INCLUDED_ */
