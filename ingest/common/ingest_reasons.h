/*
 * Copyright (C) the ngx_prep authors
 *
 * Errors of prep-ingest: a stable reason code (for scripts, .reason files
 * and the events log) plus one human line.  Codes of rejected packages
 * and of operational failures are kept apart, because they call for
 * different actions: a rejected package is quarantined, an I/O error is
 * retried.
 */


#ifndef _INGEST_REASONS_H_INCLUDED_
#define _INGEST_REASONS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define INGEST_EXIT_OK         0
#define INGEST_EXIT_FAILED     1     /* operational: I/O, memory, store */
#define INGEST_EXIT_REJECTED   2     /* the package is bad */
#define INGEST_EXIT_USAGE      64    /* bad command line (EX_USAGE) */

#define INGEST_ERRLEN          512
#define INGEST_NAME_QUOTED     256   /* bytes of a quoted name in messages */


typedef enum {
    INGEST_OK = 0,

    /* operational failures */
    INGEST_IO,
    INGEST_NOMEM,
    INGEST_STORE,
    INGEST_INTERNAL,
    INGEST_USAGE,
    INGEST_NOSPACE,             /* ENOSPC, EDQUOT: the disk is full */

    /* rejected packages; INGEST_NOT_GZIP must stay the first of them */
    INGEST_NOT_GZIP,
    INGEST_GZIP_HEADER,
    INGEST_GZIP_DATA,
    INGEST_GZIP_CRC,
    INGEST_GZIP_LENGTH,
    INGEST_TRUNCATED,
    INGEST_TRAILING_GARBAGE,
    INGEST_NOT_TAR,
    INGEST_TAR_HEADER,
    INGEST_TAR_DATA,
    INGEST_NO_ENTRIES,
    INGEST_NO_INDEX_HTML,
    INGEST_PATH_EMPTY,
    INGEST_PATH_ABSOLUTE,
    INGEST_PATH_DOTDOT,
    INGEST_PATH_SEGMENT,
    INGEST_PATH_CONTROL,
    INGEST_PATH_BACKSLASH,
    INGEST_PATH_UTF8,
    INGEST_PATH_LONG,
    INGEST_PATH_DEEP,
    INGEST_PATH_NUL,            /* a NUL inside a tar name record */
    INGEST_PATH_AMBIGUOUS,      /* tar readers disagree on a name */
    INGEST_DUPLICATE_PATH,
    INGEST_FILE_DIR_CONFLICT,
    INGEST_LINK,
    INGEST_SPECIAL_FILE,
    INGEST_SPARSE,
    INGEST_ENTRY_TOO_LARGE,
    INGEST_TOTAL_TOO_LARGE,
    INGEST_TOO_MANY_ENTRIES,
    INGEST_RATIO,
    INGEST_CORTE_MISSING,
    INGEST_CORTE_MISMATCH,
    INGEST_CORTE_NO_OFFSET,

    /* about the store's live corte rather than the archive itself (by
     * every command that decides, daemon/decide.c), then about the drop
     * and the sidecar (by prep-ingest watch and check only);
     * INGEST_OLDER_CORTE must stay the first of them and
     * INGEST_CORTE_CONFLICT the last of the live corte's */
    INGEST_OLDER_CORTE,
    INGEST_CORTE_CONFLICT,
    INGEST_SHA256_MISMATCH,
    INGEST_SHA256_MISSING,
    INGEST_SHA256_INVALID,
    INGEST_NOT_REGULAR,
    INGEST_PACKAGE_TOO_LARGE,
    INGEST_VALIDATOR_CRASH,

    INGEST_REASON_COUNT
} ingest_reason_e;


typedef struct {
    ingest_reason_e  reason;
    char             msg[INGEST_ERRLEN];
} ingest_err_t;


/* "path_dotdot"; never NULL */
const char *ingest_reason_code(ingest_reason_e reason);

/* 1 when the reason condemns the package rather than the machine */
int ingest_reason_rejects(ingest_reason_e reason);

/* the exit status for an error (INGEST_EXIT_*) */
int ingest_reason_exit(ingest_reason_e reason);

void ingest_err_reset(ingest_err_t *err);

/*
 * Records an error and returns -1.  The first error is kept: later ones
 * are usually its consequences ("write failed" after "disk full").
 */
int ingest_fail(ingest_err_t *err, ingest_reason_e reason,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* like ingest_fail(), with ": strerror(errno)" appended */
int ingest_fail_errno(ingest_err_t *err, int errnum, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/*
 * A name from an archive, made safe for a one-line message: JSON string
 * escaping (controls become \uXXXX, bad UTF-8 becomes U+FFFD) and cut to
 * about INGEST_NAME_QUOTED bytes.  Returns buf.
 */
char *ingest_quote(char *buf, size_t size, const char *name, size_t len);

/* "2,431" */
char *ingest_fmt_count(char *buf, size_t size, uint64_t n);

/* "78.3 MB" (SI units, as du -h --si and download sizes) */
char *ingest_fmt_bytes(char *buf, size_t size, uint64_t n);

/* the value of a hex digit of either case, -1 for any other character:
 * the \uXXXX escapes of JSON, the sidecar's SHA-256 */
int ingest_hex_digit(char ch);

/* monotonic seconds, for the timings of the summary line */
double ingest_now(void);


#endif /* _INGEST_REASONS_H_INCLUDED_ */
