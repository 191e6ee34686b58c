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

/* the reason codes of rejections, wrapped, for the help texts */
void ingest_cmd_print_reasons(FILE *out, const char *indent);


#endif /* _INGEST_CMD_H_INCLUDED_ */
