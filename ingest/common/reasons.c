/*
 * Copyright (C) the ngx_prep authors
 */


#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "prep_json.h"
#include "common/ingest_reasons.h"


static const char  *ingest_reason_codes[INGEST_REASON_COUNT] = {
    [INGEST_OK] = "ok",
    [INGEST_IO] = "io",
    [INGEST_NOMEM] = "nomem",
    [INGEST_STORE] = "store",
    [INGEST_INTERNAL] = "internal",
    [INGEST_USAGE] = "usage",
    [INGEST_NOSPACE] = "nospace",
    [INGEST_NOT_GZIP] = "not_gzip",
    [INGEST_GZIP_HEADER] = "gzip_header",
    [INGEST_GZIP_DATA] = "gzip_data",
    [INGEST_GZIP_CRC] = "gzip_crc",
    [INGEST_GZIP_LENGTH] = "gzip_length",
    [INGEST_TRUNCATED] = "truncated",
    [INGEST_TRAILING_GARBAGE] = "trailing_garbage",
    [INGEST_NOT_TAR] = "not_tar",
    [INGEST_TAR_HEADER] = "tar_header",
    [INGEST_TAR_DATA] = "tar_data",
    [INGEST_NO_ENTRIES] = "no_entries",
    [INGEST_NO_INDEX_HTML] = "no_index_html",
    [INGEST_PATH_EMPTY] = "path_empty",
    [INGEST_PATH_ABSOLUTE] = "path_absolute",
    [INGEST_PATH_DOTDOT] = "path_dotdot",
    [INGEST_PATH_SEGMENT] = "path_segment",
    [INGEST_PATH_CONTROL] = "path_control",
    [INGEST_PATH_BACKSLASH] = "path_backslash",
    [INGEST_PATH_UTF8] = "path_utf8",
    [INGEST_PATH_LONG] = "path_long",
    [INGEST_PATH_DEEP] = "path_deep",
    [INGEST_PATH_NUL] = "path_nul",
    [INGEST_PATH_AMBIGUOUS] = "path_ambiguous",
    [INGEST_DUPLICATE_PATH] = "duplicate_path",
    [INGEST_FILE_DIR_CONFLICT] = "file_dir_conflict",
    [INGEST_LINK] = "link",
    [INGEST_SPECIAL_FILE] = "special_file",
    [INGEST_SPARSE] = "sparse",
    [INGEST_ENTRY_TOO_LARGE] = "entry_too_large",
    [INGEST_TOTAL_TOO_LARGE] = "total_too_large",
    [INGEST_TOO_MANY_ENTRIES] = "too_many_entries",
    [INGEST_RATIO] = "ratio",
    [INGEST_CORTE_MISSING] = "corte_missing",
    [INGEST_CORTE_MISMATCH] = "corte_mismatch",
    [INGEST_CORTE_NO_OFFSET] = "corte_no_offset",
    [INGEST_OLDER_CORTE] = "older_corte",
    [INGEST_CORTE_CONFLICT] = "corte_conflict",
    [INGEST_SHA256_MISMATCH] = "sha256_mismatch",
    [INGEST_SHA256_MISSING] = "sha256_missing",
    [INGEST_SHA256_INVALID] = "sha256_invalid",
    [INGEST_NOT_REGULAR] = "not_regular_file",
    [INGEST_PACKAGE_TOO_LARGE] = "package_too_large",
    [INGEST_VALIDATOR_CRASH] = "validator_crash"
};


const char *
ingest_reason_code(ingest_reason_e reason)
{
    if ((unsigned) reason >= INGEST_REASON_COUNT
        || ingest_reason_codes[reason] == NULL)
    {
        return "unknown";
    }

    return ingest_reason_codes[reason];
}


int
ingest_reason_rejects(ingest_reason_e reason)
{
    return reason >= INGEST_NOT_GZIP && reason < INGEST_REASON_COUNT;
}


int
ingest_reason_exit(ingest_reason_e reason)
{
    if (reason == INGEST_OK) {
        return INGEST_EXIT_OK;
    }

    if (reason == INGEST_USAGE) {
        return INGEST_EXIT_USAGE;
    }

    return ingest_reason_rejects(reason) ? INGEST_EXIT_REJECTED
                                         : INGEST_EXIT_FAILED;
}


void
ingest_err_reset(ingest_err_t *err)
{
    err->reason = INGEST_OK;
    err->msg[0] = '\0';
}


static void ingest_vfail(ingest_err_t *err, ingest_reason_e reason,
    const char *fmt, va_list args)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 0)))
#endif
    ;


static void
ingest_vfail(ingest_err_t *err, ingest_reason_e reason, const char *fmt,
    va_list args)
{
    if (err->reason != INGEST_OK) {
        return;
    }

    err->reason = reason;
    (void) vsnprintf(err->msg, sizeof(err->msg), fmt, args);
}


int
ingest_fail(ingest_err_t *err, ingest_reason_e reason, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ingest_vfail(err, reason, fmt, args);
    va_end(args);

    return -1;
}


int
ingest_fail_errno(ingest_err_t *err, int errnum, const char *fmt, ...)
{
    size_t   n;
    va_list  args;

    if (err->reason != INGEST_OK) {
        return -1;
    }

    va_start(args, fmt);
    ingest_vfail(err, errnum == ENOMEM ? INGEST_NOMEM
                      : (errnum == ENOSPC || errnum == EDQUOT)
                        ? INGEST_NOSPACE : INGEST_IO,
                 fmt, args);
    va_end(args);

    n = strlen(err->msg);
    (void) snprintf(err->msg + n, sizeof(err->msg) - n, ": %s",
                    strerror(errnum));

    return -1;
}


char *
ingest_quote(char *buf, size_t size, const char *name, size_t len)
{
    size_t  n, cut;

    /* escaping grows a byte to at most 6, so cut the input first */
    cut = len;
    if (cut > INGEST_NAME_QUOTED / 6 * 5) {
        cut = INGEST_NAME_QUOTED / 6 * 5;
    }

    while (cut > 0 && prep_json_escaped_len(name, cut) + 4 > size) {
        cut /= 2;
    }

    n = prep_json_escape(buf, name, cut);

    if (cut < len) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }

    buf[n] = '\0';

    return buf;
}


char *
ingest_fmt_count(char *buf, size_t size, uint64_t n)
{
    char    digits[24];
    size_t  len, i, o;

    len = (size_t) snprintf(digits, sizeof(digits), "%llu",
                            (unsigned long long) n);
    o = 0;

    for (i = 0; i < len && o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0) {
            buf[o++] = ',';
        }

        buf[o++] = digits[i];
    }

    buf[o] = '\0';

    return buf;
}


char *
ingest_fmt_bytes(char *buf, size_t size, uint64_t n)
{
    if (n < 1000) {
        (void) snprintf(buf, size, "%llu B", (unsigned long long) n);

    } else if (n < 1000 * 1000) {
        (void) snprintf(buf, size, "%.1f kB", (double) n / 1e3);

    } else if (n < 1000ull * 1000 * 1000) {
        (void) snprintf(buf, size, "%.1f MB", (double) n / 1e6);

    } else {
        (void) snprintf(buf, size, "%.2f GB", (double) n / 1e9);
    }

    return buf;
}


int
ingest_hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }

    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }

    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }

    return -1;
}


double
ingest_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}
