/*
 * Copyright (C) the ngx_prep authors
 *
 * prep-report's command line.  Every option is checked here, so a typo
 * is an error before any input is read.
 */


#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"


enum {
    OPT_STATS = 256,
    OPT_EVENTS,
    OPT_LOG,
    OPT_JSON_FIELDS,
    OPT_SNAPSHOT,
    OPT_BOTS,
    OPT_BOTS_REPLACE,
    OPT_FROM,
    OPT_TO,
    OPT_TZ,
    OPT_PUB_END,
    OPT_DIFUSOR,
    OPT_NOTES,
    OPT_OUT,
    OPT_PDF,
    OPT_CHROMIUM,
    OPT_TIMEOUT,
    OPT_CAPACITY,
    OPT_HELP,
    OPT_VERSION
};


static const struct option  rpt_long_options[] = {
    { "stats",            required_argument, NULL, OPT_STATS },
    { "events",           required_argument, NULL, OPT_EVENTS },
    { "log",              required_argument, NULL, OPT_LOG },
    { "json-fields",      required_argument, NULL, OPT_JSON_FIELDS },
    { "snapshot",         required_argument, NULL, OPT_SNAPSHOT },
    { "bots",             required_argument, NULL, OPT_BOTS },
    { "bots-replace",     no_argument,       NULL, OPT_BOTS_REPLACE },
    { "from",             required_argument, NULL, OPT_FROM },
    { "to",               required_argument, NULL, OPT_TO },
    { "tz",               required_argument, NULL, OPT_TZ },
    { "publication-end",  required_argument, NULL, OPT_PUB_END },
    { "difusor",          required_argument, NULL, OPT_DIFUSOR },
    { "notes",            required_argument, NULL, OPT_NOTES },
    { "out",              required_argument, NULL, OPT_OUT },
    { "pdf",              no_argument,       NULL, OPT_PDF },
    { "chromium",         required_argument, NULL, OPT_CHROMIUM },
    { "timeout",          required_argument, NULL, OPT_TIMEOUT },
    { "capacity",         required_argument, NULL, OPT_CAPACITY },
    { "help",             no_argument,       NULL, OPT_HELP },
    { "version",          no_argument,       NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 }
};


void
rpt_cli_usage(void)
{
    fputs(
"Usage: prep-report --stats SOURCE [--stats SOURCE ...] --out DIR [OPTION...]\n"
"\n"
"Writes the memoria tecnica of a PREP publication (in Spanish): the\n"
"difusor's data, a summary, visits per day and per hour, pages, time on\n"
"site, every corte with its delay, the incidents, criteria for improvement\n"
"and the exact methodology, from every origin's statistics and events.\n"
"\n"
"Inputs:\n"
"  --stats SOURCE     an origin's statistics: a state file (prep_stats_state)\n"
"                     or the URL of its status location answering\n"
"                     ?format=state (http or https, through libcurl).\n"
"                     Repeat once per origin: hits, pages, bytes, series and\n"
"                     histograms are summed, unique visitors are merged by\n"
"                     HyperLogLog union (never summed).\n"
"  --events FILE      an origin's STORE/events.jsonl (repeatable): cortes,\n"
"                     rejections, stale alarms, hooks, rollbacks, restarts.\n"
"  --log FORMAT:PATH  access logs (nginx, cloudfront, cloudflare, json; a\n"
"                     directory means every file in it; repeatable).  When\n"
"                     given, the traffic figures come from the logs and the\n"
"                     origins still give availability, cortes and incidents.\n"
"  --json-fields MAP  the field map of json logs: time=...,ip=...,ua=...,\n"
"                     uri=...,status=...,bytes=...\n"
"  --snapshot FILE    a corte's snapshot (STORE/current): the content type\n"
"                     of a path whose log line has none, so pages count\n"
"                     as the module counts them (else by extension).\n"
"  --bots FILE        more bot User-Agent tokens, one per line, for logs:\n"
"                     the file the origins' prep_stats_bots names.\n"
"  --bots-replace     FILE replaces the built-in list instead (as\n"
"                     prep_stats_bots FILE replace).\n"
"  --difusor FILE     the difusor's data as in the call's registration form,\n"
"                     a JSON object: nombre, sitio, contacto_legal,\n"
"                     contacto_tecnico (each an object or a string).\n"
"  --notes FILE       the operator's own criteria and remarks (UTF-8 text),\n"
"                     included verbatim, escaped.\n"
"\n"
"Period:\n"
"  --from TIME        start, ISO 8601 with offset (2024-06-02T00:00-06:00);\n"
"                     default: the first published corte.\n"
"  --to TIME          end (excluded); default: the last data.\n"
"  --tz OFFSET        UTC offset of every table and chart (-06:00, +00:00);\n"
"                     default: the cortes' own offset.\n"
"  --publication-end TIME\n"
"                     the end of the publication window, to find cortes\n"
"                     missed at its end; default: the last published corte.\n"
"\n"
"Output:\n"
"  --out DIR          memoria-tecnica.html, memoria-tecnica.json and the\n"
"                     annexes visitas_por_dia.csv, visitas_por_hora.csv,\n"
"                     paginas.csv, permanencia.csv, cortes.csv,\n"
"                     incidencias.csv (DIR is created if missing).\n"
"  --pdf              also memoria-tecnica.pdf, printed by Chromium\n"
"                     headless (Debian package chromium).\n"
"  --chromium PATH    the Chromium binary (default: chromium on PATH).\n"
"\n"
"Other:\n"
"  --timeout SEC      connect and transfer timeout for URLs (default 30).\n"
"  --capacity RPS     the measured capacity of one origin in requests per\n"
"                     second (from bench/), compared with the peak load.\n"
"  --help             this text.\n"
"  --version          the version.\n"
"\n"
"Exit status: 0 written; 1 bad input (the message names the input and the\n"
"reason); 2 usage.  Inputs whose loss the report can survive (an events\n"
"line that does not parse, a --stats URL of a second origin that does not\n"
"answer is NOT one of them) are named in the document's methodology.\n"
"\n"
"See prep-report(1).\n", stdout);
}


static int
rpt_cli_time(const char *opt, const char *arg, int64_t *t)
{
    int  off;

    if (rpt_parse_iso(arg, t, &off) != 0) {
        fprintf(stderr, "prep-report: %s \"%s\": not an ISO 8601 time "
                "with a UTC offset (2024-06-02T20:00:00-06:00)\n", opt, arg);
        return -1;
    }

    return 0;
}


int
rpt_cli_parse(rpt_opts_t *o, int argc, char **argv)
{
    int    c;
    char  *end;

    memset(o, 0, sizeof(*o));
    o->timeout = 30;
    o->chromium = "chromium";

    opterr = 0;

    while ((c = getopt_long(argc, argv, "", rpt_long_options, NULL)) != -1) {
        switch (c) {

        case OPT_STATS:
            if (o->nstats == RPT_MAX_STATS) {
                fprintf(stderr, "prep-report: more than %d --stats\n",
                        RPT_MAX_STATS);
                return 2;
            }
            o->stats[o->nstats++] = optarg;
            break;

        case OPT_EVENTS:
            if (o->nevents == RPT_MAX_EVENTS) {
                fprintf(stderr, "prep-report: more than %d --events\n",
                        RPT_MAX_EVENTS);
                return 2;
            }
            o->events[o->nevents++] = optarg;
            break;

        case OPT_LOG:
            if (o->nlogs == RPT_MAX_LOGS) {
                fprintf(stderr, "prep-report: more than %d --log\n",
                        RPT_MAX_LOGS);
                return 2;
            }
            o->logs[o->nlogs++] = optarg;
            break;

        case OPT_JSON_FIELDS:
            o->json_fields = optarg;
            break;

        case OPT_SNAPSHOT:
            o->snapshot = optarg;
            break;

        case OPT_BOTS:
            o->bots = optarg;
            break;

        case OPT_BOTS_REPLACE:
            o->bots_replace = 1;
            break;

        case OPT_FROM:
            if (rpt_cli_time("--from", optarg, &o->from) != 0) {
                return 2;
            }
            o->have_from = 1;
            break;

        case OPT_TO:
            if (rpt_cli_time("--to", optarg, &o->to) != 0) {
                return 2;
            }
            o->have_to = 1;
            break;

        case OPT_PUB_END:
            if (rpt_cli_time("--publication-end", optarg, &o->pub_end) != 0)
            {
                return 2;
            }
            o->have_pub_end = 1;
            break;

        case OPT_TZ:
            if (rpt_parse_offset(optarg, &o->tz) != 0) {
                fprintf(stderr, "prep-report: --tz \"%s\": not a UTC offset "
                        "(-06:00, +00:00, Z)\n", optarg);
                return 2;
            }
            o->have_tz = 1;
            break;

        case OPT_DIFUSOR:
            o->difusor = optarg;
            break;

        case OPT_NOTES:
            o->notes = optarg;
            break;

        case OPT_OUT:
            o->out = optarg;
            break;

        case OPT_PDF:
            o->pdf = 1;
            break;

        case OPT_CHROMIUM:
            o->chromium = optarg;
            break;

        case OPT_TIMEOUT:
            o->timeout = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || o->timeout < 1
                || o->timeout > 3600)
            {
                fprintf(stderr, "prep-report: --timeout \"%s\": seconds, "
                        "1 to 3600\n", optarg);
                return 2;
            }
            break;

        case OPT_CAPACITY:
            o->capacity = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || !(o->capacity > 0)) {
                fprintf(stderr, "prep-report: --capacity \"%s\": requests "
                        "per second, a positive number\n", optarg);
                return 2;
            }
            break;

        case OPT_HELP:
            rpt_cli_usage();
            exit(0);

        case OPT_VERSION:
            return -1;

        default:
            if (optopt >= OPT_STATS) {
                fprintf(stderr, "prep-report: %s needs an argument\n",
                        argv[optind - 1]);

            } else {
                fprintf(stderr, "prep-report: unknown option \"%s\" "
                        "(see --help)\n", argv[optind - 1]);
            }
            return 2;
        }
    }

    if (optind < argc) {
        fprintf(stderr, "prep-report: unexpected argument \"%s\" "
                "(see --help)\n", argv[optind]);
        return 2;
    }

    if (o->nstats == 0 && o->nlogs == 0) {
        fprintf(stderr, "prep-report: no --stats (or --log) given: nothing "
                "to report (see --help)\n");
        return 2;
    }

    if ((o->snapshot || o->bots) && o->nlogs == 0) {
        fprintf(stderr, "prep-report: --%s is for --log: the origins' "
                "statistics are counted by the module's own rules\n",
                o->snapshot ? "snapshot" : "bots");
        return 2;
    }

    if (o->bots_replace && o->bots == NULL) {
        fprintf(stderr, "prep-report: --bots-replace needs --bots FILE\n");
        return 2;
    }

    if (o->out == NULL) {
        fprintf(stderr, "prep-report: no --out DIR given (see --help)\n");
        return 2;
    }

    if (o->have_from && o->have_to && o->from >= o->to) {
        fprintf(stderr, "prep-report: --from is not before --to\n");
        return 2;
    }

    return 0;
}
