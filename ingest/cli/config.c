/*
 * Copyright (C) the ngx_prep authors
 */


#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/ingest_cmd.h"
#include "cli/ingest_config.h"


#define INGEST_ALL_CMDS   (INGEST_CMD_WATCH | INGEST_CMD_STATUS           \
                           | INGEST_CMD_CHECK | INGEST_CMD_ROLLBACK      \
                           | INGEST_CMD_PUBLISH | INGEST_CMD_SUSPEND)


typedef enum {
    INGEST_OPT_STRING = 0,
    INGEST_OPT_SIZE,
    INGEST_OPT_COUNT,
    INGEST_OPT_LEVEL,
    INGEST_OPT_SECONDS,
    INGEST_OPT_FLAG,
    INGEST_OPT_CONFIG
} ingest_opt_type_e;


typedef struct {
    const char         *name;
    ingest_opt_type_e   type;
    size_t              offset;
    double              min;
    double              max;
    unsigned            cmds;
    int                 file;       /* may be set in the config file */
    const char         *arg;
    const char         *help;
} ingest_opt_t;


#define O(field)  offsetof(ingest_config_t, field)
#define W         INGEST_CMD_WATCH
#define S         INGEST_CMD_STATUS
#define C         INGEST_CMD_CHECK
#define R         INGEST_CMD_ROLLBACK
#define U         INGEST_CMD_SUSPEND
#define P         INGEST_CMD_PUBLISH

static const ingest_opt_t  ingest_opts[] = {

    { "config", INGEST_OPT_CONFIG, O(config), 0, 0, INGEST_ALL_CMDS, 0,
      "FILE", "Read settings from FILE first (key = value lines; the "
      "keys are these option names without \"--\")." },

    { "drop", INGEST_OPT_STRING, O(drop), 0, 0, W, 1, "DIR",
      "The drop folder the institute uploads into (required)." },

    { "store", INGEST_OPT_STRING, O(store), 0, 0, W | S | C | R | P | U, 1,
      "DIR",
      "The store served by nginx (required, except for check)." },

    { "control", INGEST_OPT_STRING, O(control), 0, 0, W | S | R | U, 1,
      "SOCKET", "The unix socket of nginx's prep_control location.  "
      "Without it nginx is not told about a new corte." },

    { "after-publish", INGEST_OPT_STRING, O(after_publish), 0, 0, W | U, 1,
      "CMD", "Run CMD with /bin/sh once a corte is live (CDN purge, copy "
      "to other origins), with PREP_CORTE_ID, PREP_CORTE, "
      "PREP_CORTE_TIME, PREP_SNAPSHOT, PREP_SNAPSHOT_PATH, "
      "PREP_PACKAGE_SHA256, PREP_STORE and PREP_HOOK_ATTEMPT in its "
      "environment; PREP_EVENT is publish, suspend or resume." },

    { "hook-retries", INGEST_OPT_COUNT, O(hook_retries), 0, 100, W | U, 1,
      "N",
      "Retries of a failed hook (default 5)." },

    { "hook-retry-delay", INGEST_OPT_SECONDS, O(hook_retry_delay), 0.01,
      3600, W | U, 1, "SECS", "Delay before the first retry, doubled at each "
      "one, at most 10 minutes (default 5)." },

    { "hook-timeout", INGEST_OPT_SECONDS, O(hook_timeout), 0.1, 86400,
      W | U, 1,
      "SECS", "A hook running longer is killed (default 120)." },

    { "keep-snapshots", INGEST_OPT_COUNT, O(keep_snapshots), 2, 100000,
      W, 1, "N", "Snapshots kept in STORE/cortes, the live one always "
      "included (default 10)." },

    { "keep-packages", INGEST_OPT_COUNT, O(keep_packages), 1, 100000, W, 1,
      "N", "Published packages kept in STORE/packages (default 10)." },

    { "incomplete-timeout", INGEST_OPT_SECONDS, O(incomplete_timeout),
      0.1, 7 * 86400, W, 1, "SECS", "An incomplete upload that does not "
      "change for this long is quarantined (default 600)." },

    { "require-sha256", INGEST_OPT_FLAG, O(require_sha256), 0, 1, W | C, 1,
      NULL, "Wait for a PACKAGE.sha256 sidecar before taking a package "
      "(in the config file: yes or no)." },

    { "stale-period", INGEST_OPT_SECONDS, O(stale_period), 1, 86400,
      W | S, 1, "SECS", "Raise a stale alarm each time this long passes "
      "without a new corte (default 900: at 15, 30, 45 minutes...)." },

    { "rescan-interval", INGEST_OPT_SECONDS, O(rescan_interval), 0.1, 3600,
      W, 1, "SECS", "Rescan the drop folder this often, whatever inotify "
      "says (default 30)." },

    { "reload-timeout", INGEST_OPT_SECONDS, O(reload_timeout), 0.1, 600,
      W | S | R | U, 1, "SECS", "Timeout of a request to the control socket "
      "(default 10)." },

    { "max-package-size", INGEST_OPT_SIZE, O(max_package_size), 1,
      (double) INGEST_LIMIT_MAX_SIZE, W, 1, "SIZE",
      "Bytes of a .tar.gz file (default 1G)." },

    { "validator-memory", INGEST_OPT_SIZE, O(validator_memory), 0,
      (double) INGEST_LIMIT_MAX_SIZE, W, 1, "SIZE",
      "Address space of the process that reads a package; 0 for no "
      "limit (default 1G)." },

    { "max-entries", INGEST_OPT_COUNT, O(limits.max_entries), 1,
      INGEST_LIMIT_MAX_ENTRIES, W | C | P, 1, "N",
      "Files and directories in a package (default 20000)." },

    { "max-entry-size", INGEST_OPT_SIZE, O(limits.max_entry_size), 1,
      (double) INGEST_LIMIT_MAX_SIZE, W | C | P, 1, "SIZE",
      "Bytes of one file (default 256M)." },

    { "max-total-size", INGEST_OPT_SIZE, O(limits.max_total_size), 1,
      (double) INGEST_LIMIT_MAX_SIZE, W | C | P, 1, "SIZE",
      "Bytes of the uncompressed tar stream (default 1G)." },

    { "max-ratio", INGEST_OPT_COUNT, O(limits.max_ratio), 1,
      INGEST_LIMIT_MAX_RATIO, W | C | P, 1, "N",
      "Uncompressed to compressed size, past the first MiB (default "
      "200)." },

    { "gzip-level", INGEST_OPT_LEVEL, O(gzip_level), 0, 9, W | P, 1, "N",
      "Compression level of the gzip variants, 1 to 9, 0 for none "
      "(default 6)." },

    { "to", INGEST_OPT_STRING, O(to), 0, 0, R, 0, "SNAPSHOT",
      "The snapshot to make live (a name in STORE/cortes); default: the "
      "newest one older than the live corte." },

    { "reason", INGEST_OPT_STRING, O(reason), 0, 0, R | U, 0, "TEXT",
      "Why, for the events log." },

    { "json", INGEST_OPT_FLAG, O(json), 0, 1, S, 0, NULL,
      "Print one JSON object instead of text." },

    { "notice", INGEST_OPT_STRING, O(notice), 0, 0, U, 0, "FILE.html",
      "suspend: the notice answered on every path (UTF-8 HTML, at most "
      "1 MB); default: a built-in notice in Spanish." },

    { "notice-name", INGEST_OPT_STRING, O(notice_name), 0, 0, W, 1, "NAME",
      "A file of this name dropped by the institute is its suspension "
      "notice, applied as suspend (default AVISO.html)." },

    { "no-drop-notice", INGEST_OPT_FLAG, O(no_drop_notice), 0, 1, W, 1,
      NULL, "Ignore a dropped notice: only prep-ingest suspend "
      "suspends." },

    { "alarm-hook", INGEST_OPT_STRING, O(alarm_hook), 0, 0, W, 1, "CMD",
      "Run CMD with /bin/sh for every warning or alert event, with "
      "PREP_ALARM_KIND, PREP_ALARM_LEVEL, PREP_ALARM_MESSAGE, PREP_STORE "
      "and PREP_CORTE_ID in its environment and the event's JSON line on "
      "stdin; retried like --after-publish." },

    { "publish-from", INGEST_OPT_STRING, O(publish_from), 0, 0, W, 1,
      "TIME", "Hold every corte until TIME (ISO 8601 with its offset, "
      "2024-06-02T20:00:00-06:00, or @unix-time): packages that arrive "
      "earlier are validated and kept, and the latest goes live at TIME "
      "exactly.  For election day and rehearsals alike." },

    { "keep-until", INGEST_OPT_STRING, O(keep_until), 0, 0, W | S | R, 1,
      "TIME", "The end of the publication (same forms as --publish-from): "
      "until then retention never removes the live corte, the one "
      "before it or their packages, a rollback that would leave nothing "
      "published is refused, and status alarms when no watch runs; "
      "after it, a stopped watch is no alarm." },

    { "alarm-repeat", INGEST_OPT_SECONDS, O(alarm_repeat), 0, 86400, W, 1,
      "SECS", "Alarms of one kind are run at most this often; the ones "
      "in between are only in the events log (default 300)." },

    { "quiet", INGEST_OPT_FLAG, O(quiet), 0, 1, P, 0, NULL,
      "Print nothing on success (also -q)." },
};

#undef O
#undef W
#undef S
#undef C
#undef R
#undef U
#undef P

#define INGEST_NOPTS  (sizeof(ingest_opts) / sizeof(ingest_opts[0]))


void
ingest_config_init(ingest_config_t *c)
{
    memset(c, 0, sizeof(ingest_config_t));

    ingest_limits_default(&c->limits);
    c->gzip_level = INGEST_DEFAULT_GZIP_LEVEL;
    c->max_package_size = INGEST_DEFAULT_MAX_PACKAGE;
    c->validator_memory = INGEST_DEFAULT_VALIDATOR_MEM;
    c->keep_snapshots = INGEST_DEFAULT_KEEP;
    c->keep_packages = INGEST_DEFAULT_KEEP;
    c->incomplete_timeout = INGEST_DEFAULT_INCOMPLETE;
    c->stale_period = INGEST_DEFAULT_STALE;
    c->rescan_interval = INGEST_DEFAULT_RESCAN;
    c->reload_timeout = INGEST_DEFAULT_RELOAD_TIMEOUT;
    c->hook_retries = INGEST_DEFAULT_HOOK_RETRIES;
    c->hook_timeout = INGEST_DEFAULT_HOOK_TIMEOUT;
    c->hook_retry_delay = INGEST_DEFAULT_HOOK_DELAY;
    c->alarm_repeat = INGEST_DEFAULT_ALARM_REPEAT;
}


void
ingest_config_free(ingest_config_t *c)
{
    unsigned  i;

    for (i = 0; i < c->nowned; i++) {
        free(c->owned[i]);
    }

    c->nowned = 0;
}


int
ingest_parse_seconds(const char *s, double min, double max, double *out)
{
    char    *end;
    double   v, unit;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }

    errno = 0;
    v = strtod(s, &end);

    if (errno != 0 || !isfinite(v)) {
        return -1;
    }

    if (*end == '\0' || strcmp(end, "s") == 0) {
        unit = 1;

    } else if (strcmp(end, "ms") == 0) {
        unit = 0.001;

    } else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0) {
        unit = 60;

    } else if (strcmp(end, "h") == 0) {
        unit = 3600;

    } else {
        return -1;
    }

    v *= unit;

    if (v < min || v > max) {
        return -1;
    }

    *out = v;

    return 0;
}


static int
ingest_parse_flag(const char *s, int *out)
{
    if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0
        || strcasecmp(s, "on") == 0 || strcmp(s, "1") == 0)
    {
        *out = 1;
        return 0;
    }

    if (strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0
        || strcasecmp(s, "off") == 0 || strcmp(s, "0") == 0)
    {
        *out = 0;
        return 0;
    }

    return -1;
}


static void ingest_config_error(const char *cmd_name, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;


static void
ingest_config_error(const char *cmd_name, const char *fmt, ...)
{
    va_list  args;

    fprintf(stderr, INGEST_PROGRAM " %s: ", cmd_name);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fprintf(stderr, "\nTry '" INGEST_PROGRAM " %s --help'.\n", cmd_name);
}


/* stores value into the setting; "where" names its origin in errors */
static int
ingest_config_set(ingest_config_t *c, const ingest_opt_t *o,
    const char *value, int owned, const char *cmd_name, const char *where)
{
    char      *base, *copy;
    double     d;
    uint64_t   v;

    base = (char *) c + o->offset;

    switch (o->type) {

    case INGEST_OPT_STRING:
    case INGEST_OPT_CONFIG:
        if (value[0] == '\0') {
            ingest_config_error(cmd_name, "%s%s: an empty value", where,
                                o->name);
            return -1;
        }

        if (owned) {
            if (c->nowned == sizeof(c->owned) / sizeof(c->owned[0])) {
                ingest_config_error(cmd_name, "%s%s: too many settings",
                                    where, o->name);
                return -1;
            }

            copy = strdup(value);
            if (copy == NULL) {
                ingest_config_error(cmd_name, "out of memory");
                return -1;
            }

            c->owned[c->nowned++] = copy;
            value = copy;
        }

        *(const char **) (void *) base = value;
        return 0;

    case INGEST_OPT_SIZE:
        if (ingest_parse_size(value, (uint64_t) o->min, (uint64_t) o->max,
                              &v)
            != 0)
        {
            ingest_config_error(cmd_name, "%s%s: \"%s\" is not a size from "
                                "%.0f to 1T", where, o->name, value,
                                o->min);
            return -1;
        }

        *(uint64_t *) (void *) base = v;
        return 0;

    case INGEST_OPT_COUNT:
        if (ingest_parse_count(value, (uint64_t) o->min, (uint64_t) o->max,
                               &v)
            != 0)
        {
            ingest_config_error(cmd_name, "%s%s: \"%s\" is not a number "
                                "from %.0f to %.0f", where, o->name, value,
                                o->min, o->max);
            return -1;
        }

        *(uint64_t *) (void *) base = v;
        return 0;

    case INGEST_OPT_LEVEL:
        if (ingest_parse_count(value, (uint64_t) o->min, (uint64_t) o->max,
                               &v)
            != 0)
        {
            ingest_config_error(cmd_name, "%s%s: \"%s\" is not a level "
                                "from %.0f to %.0f", where, o->name, value,
                                o->min, o->max);
            return -1;
        }

        *(int *) (void *) base = (int) v;
        return 0;

    case INGEST_OPT_SECONDS:
        if (ingest_parse_seconds(value, o->min, o->max, &d) != 0) {
            ingest_config_error(cmd_name, "%s%s: \"%s\" is not a duration "
                                "from %gs to %gs (\"30\", \"1.5\", "
                                "\"500ms\", \"10m\", \"1h\")", where,
                                o->name, value, o->min, o->max);
            return -1;
        }

        *(double *) (void *) base = d;
        return 0;

    case INGEST_OPT_FLAG:
        if (ingest_parse_flag(value, (int *) (void *) base) != 0) {
            ingest_config_error(cmd_name, "%s%s: \"%s\" is not yes or no",
                                where, o->name, value);
            return -1;
        }

        return 0;
    }

    return -1;
}


static const ingest_opt_t *
ingest_opt_find(const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < INGEST_NOPTS; i++) {
        if (strlen(ingest_opts[i].name) == len
            && strncmp(ingest_opts[i].name, name, len) == 0)
        {
            return &ingest_opts[i];
        }
    }

    return NULL;
}


static int
ingest_config_read(const char *path, char *buf, size_t size,
    const char *cmd_name)
{
    int          fd;
    size_t       got;
    ssize_t      n;
    struct stat  sb;

    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        ingest_config_error(cmd_name, "--config %s: %s", path,
                            strerror(errno));
        return -1;
    }

    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ingest_config_error(cmd_name, "--config %s: not a regular file",
                            path);
        (void) close(fd);
        return -1;
    }

    got = 0;

    for ( ;; ) {
        n = read(fd, buf + got, size - 1 - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n < 0) {
            ingest_config_error(cmd_name, "--config %s: %s", path,
                                strerror(errno));
            (void) close(fd);
            return -1;
        }

        if (n == 0) {
            break;
        }

        got += (size_t) n;

        if (got == size - 1) {
            ingest_config_error(cmd_name, "--config %s: over %zu bytes",
                                path, size - 1);
            (void) close(fd);
            return -1;
        }
    }

    (void) close(fd);
    buf[got] = '\0';

    if (memchr(buf, '\0', got) != NULL) {
        ingest_config_error(cmd_name, "--config %s: a NUL byte", path);
        return -1;
    }

    return 0;
}


static int
ingest_is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}


/* one "key = value" line, cut in place; 1 when blank or a comment */
static int
ingest_config_line(char *line, char **key, size_t *klen, char **value)
{
    char    *p, *end, *eq;
    size_t   len;

    p = line;
    while (ingest_is_space(*p)) {
        p++;
    }

    if (*p == '\0' || *p == '#') {
        return 1;
    }

    eq = strchr(p, '=');
    if (eq == NULL) {
        return -1;
    }

    end = eq;
    while (end > p && ingest_is_space(end[-1])) {
        end--;
    }

    *key = p;
    *klen = (size_t) (end - p);

    p = eq + 1;
    while (ingest_is_space(*p)) {
        p++;
    }

    len = strlen(p);
    while (len > 0 && ingest_is_space(p[len - 1])) {
        len--;
    }

    p[len] = '\0';

    if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
        p[len - 1] = '\0';
        p++;

    } else if ((end = strstr(p, " #")) != NULL
               || (end = strstr(p, "\t#")) != NULL)
    {
        /* a trailing comment, unless the value is quoted */
        while (end > p && ingest_is_space(end[-1])) {
            end--;
        }

        *end = '\0';
    }

    *value = p;

    return 0;
}


static int
ingest_config_file(ingest_config_t *c, const char *path,
    const char *cmd_name)
{
    int                  rc;
    char                *buf, *line, *next, *key, *value;
    char                 where[96];
    size_t               klen;
    unsigned             lineno;
    const ingest_opt_t  *o;

    buf = malloc(INGEST_CONFIG_MAX_FILE + 1);
    if (buf == NULL) {
        ingest_config_error(cmd_name, "out of memory");
        return -1;
    }

    if (ingest_config_read(path, buf, INGEST_CONFIG_MAX_FILE + 1, cmd_name)
        != 0)
    {
        free(buf);
        return -1;
    }

    rc = 0;
    lineno = 0;

    for (line = buf; line != NULL && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }

        lineno++;
        (void) snprintf(where, sizeof(where), "%.60s line %u: ", path,
                        lineno);

        switch (ingest_config_line(line, &key, &klen, &value)) {
        case 1:
            continue;

        case -1:
            ingest_config_error(cmd_name, "%sexpected \"key = value\"",
                                where);
            rc = -1;
            continue;
        }

        o = ingest_opt_find(key, klen);

        if (o == NULL || !o->file) {
            ingest_config_error(cmd_name, "%sunknown key \"%.*s\"", where,
                                (int) (klen > 64 ? 64 : klen), key);
            rc = -1;
            continue;
        }

        if (strlen(value) > INGEST_CONFIG_MAX_VALUE) {
            ingest_config_error(cmd_name, "%s%s: value too long", where,
                                o->name);
            rc = -1;
            continue;
        }

        rc = ingest_config_set(c, o, value, 1, cmd_name, where);
    }

    free(buf);

    return rc;
}


int
ingest_config_parse(ingest_config_t *c, unsigned cmd, const char *cmd_name,
    int argc, char **argv)
{
    int                  i, n, ch, idx;
    struct option        longopts[INGEST_NOPTS + 2];
    const ingest_opt_t  *o, *map[INGEST_NOPTS];

    /* the config file first, wherever --config sits */
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            break;
        }

        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            c->config = argv[i + 1];

        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            c->config = argv[i] + 9;
        }
    }

    if (c->config != NULL
        && ingest_config_file(c, c->config, cmd_name) != 0)
    {
        return -1;
    }

    n = 0;

    for (i = 0; i < (int) INGEST_NOPTS; i++) {
        o = &ingest_opts[i];

        if (!(o->cmds & cmd)) {
            continue;
        }

        longopts[n].name = o->name;
        longopts[n].has_arg = o->type == INGEST_OPT_FLAG ? no_argument
                                                        : required_argument;
        longopts[n].flag = NULL;
        longopts[n].val = 256 + n;
        map[n] = o;
        n++;
    }

    longopts[n].name = "help";
    longopts[n].has_arg = no_argument;
    longopts[n].flag = NULL;
    longopts[n].val = 'h';
    memset(&longopts[n + 1], 0, sizeof(struct option));

    optind = 1;
    opterr = 0;

    /* -q: publish's short form of --quiet, kept from its own parser */
    while ((ch = getopt_long(argc, argv,
                             (cmd & INGEST_CMD_PUBLISH) ? "+hq" : "+h",
                             longopts, &idx)) != -1)
    {
        if (ch == 'h') {
            return 0;
        }

        if (ch == 'q') {
            c->quiet = 1;
            continue;
        }

        if (ch < 256 || ch >= 256 + n) {
            ingest_config_error(cmd_name, "unknown or incomplete option "
                                "\"%s\"", argv[optind - 1]);
            return -1;
        }

        o = map[ch - 256];

        if (o->type == INGEST_OPT_CONFIG) {
            continue;
        }

        if (o->type == INGEST_OPT_FLAG) {
            *(int *) (void *) ((char *) c + o->offset) = 1;
            continue;
        }

        if (ingest_config_set(c, o, optarg, 0, cmd_name, "--") != 0) {
            return -1;
        }
    }

    return optind;
}


void
ingest_config_help(FILE *out, unsigned cmd)
{
    size_t               i, col, wlen;
    const char          *p, *sp;
    const ingest_opt_t  *o;

    for (i = 0; i < INGEST_NOPTS; i++) {
        o = &ingest_opts[i];

        if (!(o->cmds & cmd)) {
            continue;
        }

        fprintf(out, "    --%s%s%s\n", o->name, o->arg ? " " : "",
                o->arg ? o->arg : "");

        /* wrap the help at 72 columns, indented by 8 */
        col = 0;

        for (p = o->help; *p != '\0'; p = sp) {
            sp = strchr(p, ' ');
            wlen = sp ? (size_t) (sp - p) : strlen(p);

            if (col > 0 && col + 1 + wlen > 64) {
                fputc('\n', out);
                col = 0;
            }

            fputs(col == 0 ? "        " : " ", out);
            fwrite(p, 1, wlen, out);
            col += wlen + (col ? 1 : 0);

            if (sp == NULL) {
                break;
            }

            while (*sp == ' ') {
                sp++;
            }
        }

        fputc('\n', out);
    }

    fputs("    -h, --help\n        Print this help.\n", out);
}
