/*
 * Copyright (C) the ngx_prep authors
 *
 * Settings of the watch, status, check and rollback commands.  One table
 * describes every setting once: its long option, its config file key
 * (the same word), its type, bounds and the commands that take it, so
 * the command line, the config file and the help cannot disagree.
 *
 * Config file: "key = value" lines; "#" starts a comment; blank lines
 * are ignored; a value may be quoted with "..." to keep spaces at its
 * ends.  The command line wins over the file.
 */


#ifndef _INGEST_CONFIG_H_INCLUDED_
#define _INGEST_CONFIG_H_INCLUDED_


#include <stdint.h>
#include <stdio.h>

#include "package/ingest_limits.h"


/* which commands take a setting */
#define INGEST_CMD_WATCH      0x1
#define INGEST_CMD_STATUS     0x2
#define INGEST_CMD_CHECK      0x4
#define INGEST_CMD_ROLLBACK   0x8
#define INGEST_CMD_PUBLISH    0x10
#define INGEST_CMD_SUSPEND    0x20  /* suspend and resume */

#define INGEST_CONFIG_MAX_FILE    (64 * 1024)
#define INGEST_CONFIG_MAX_VALUE   1024

#define INGEST_DEFAULT_KEEP            10
#define INGEST_DEFAULT_INCOMPLETE      600.0
#define INGEST_DEFAULT_STALE           900.0
#define INGEST_DEFAULT_RESCAN          30.0
#define INGEST_DEFAULT_HOOK_RETRIES    5
#define INGEST_DEFAULT_HOOK_TIMEOUT    120.0
#define INGEST_DEFAULT_HOOK_DELAY      5.0
#define INGEST_DEFAULT_RELOAD_TIMEOUT  10.0
#define INGEST_DEFAULT_ALARM_REPEAT   300.0
#define INGEST_DEFAULT_MAX_PACKAGE     (1ull << 30)
#define INGEST_DEFAULT_VALIDATOR_MEM   (1ull << 30)


typedef struct {
    /* strings point into argv or into storage owned by the struct */
    const char       *drop;
    const char       *store;
    const char       *control;
    const char       *after_publish;
    const char       *config;

    ingest_limits_t   limits;
    int               gzip_level;
    uint64_t          max_package_size;   /* bytes of the .tar.gz */
    uint64_t          validator_memory;   /* RLIMIT_AS of the child; 0 off */

    uint64_t          keep_snapshots;
    uint64_t          keep_packages;
    int               require_sha256;

    double            incomplete_timeout;
    double            stale_period;
    double            rescan_interval;
    double            reload_timeout;
    uint64_t          hook_retries;
    double            hook_timeout;
    double            hook_retry_delay;

    /* status, rollback, publish */
    int               json;
    int               quiet;
    const char       *to;
    const char       *reason;

    /* suspension and alarms (docs/EVENTS.md, "Suspension") */
    const char       *notice;             /* suspend --notice FILE */
    const char       *notice_name;        /* watch: AVISO.html */
    int               no_drop_notice;
    const char       *alarm_hook;
    double            alarm_repeat;       /* one kind at most this often */
    const char       *publish_from;       /* watch: hold cortes until */
    const char       *keep_until;         /* watch, status, rollback */

    /* copies of config file values, freed by ingest_config_free() */
    char             *owned[32];
    unsigned          nowned;
} ingest_config_t;


void ingest_config_init(ingest_config_t *c);
void ingest_config_free(ingest_config_t *c);

/*
 * Parses "argv[1..]" for command "cmd" (INGEST_CMD_*), reading the
 * --config file first when one is given.  Returns the index of the first
 * operand, -1 after printing a usage error on stderr, or 0 when --help
 * was asked for.
 */
int ingest_config_parse(ingest_config_t *c, unsigned cmd,
    const char *cmd_name, int argc, char **argv);

/* the options of "cmd", wrapped for a help text */
void ingest_config_help(FILE *out, unsigned cmd);

/* "30", "1.5", "500ms", "30s", "10m", "1h": seconds; 0 or -1 */
int ingest_parse_seconds(const char *s, double min, double max,
    double *out);


#endif /* _INGEST_CONFIG_H_INCLUDED_ */
