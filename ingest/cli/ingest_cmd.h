/*
 * Copyright (C) the ngx_prep authors
 *
 * The commands of prep-ingest.  Each takes the arguments after its own
 * name (argv[0] is the command) and returns the exit status.
 */


#ifndef _INGEST_CMD_H_INCLUDED_
#define _INGEST_CMD_H_INCLUDED_


#include <stdio.h>


#define INGEST_PROGRAM  "prep-ingest"
#define INGEST_VERSION  "0.1.0"


int ingest_cmd_publish(int argc, char **argv);
void ingest_cmd_publish_help(FILE *out);

int ingest_cmd_watch(int argc, char **argv);
void ingest_cmd_watch_help(FILE *out);

int ingest_cmd_check(int argc, char **argv);
void ingest_cmd_check_help(FILE *out);

int ingest_cmd_status(int argc, char **argv);
void ingest_cmd_status_help(FILE *out);

int ingest_cmd_rollback(int argc, char **argv);
void ingest_cmd_rollback_help(FILE *out);

/* ingest/ops/cmd_suspend.c */
int ingest_cmd_suspend(int argc, char **argv);
int ingest_cmd_resume(int argc, char **argv);
void ingest_cmd_suspend_help(FILE *out);

/* the reason codes of rejections, wrapped, for the help texts: those
 * of the archive and the live corte (every command decides against
 * it); watch: also those about the drop folder and the sidecar */
void ingest_cmd_print_reasons(FILE *out, const char *indent, int watch);

/* exit status of status when an alarm is raised */
#define INGEST_EXIT_ALARM  3


#endif /* _INGEST_CMD_H_INCLUDED_ */
