/*
 * Copyright (C) the ngx_prep authors
 *
 * Owners of the statistics zone's spin locks, robust to pid reuse.  A
 * lock word holds its owner's token: the pid in the low 32 bits and the
 * low 32 bits of the process's start time (clock ticks after boot, from
 * /proc/PID/stat) above them.  A lock whose owner died is taken over even
 * when the pid has meanwhile gone to another process (a new worker, or
 * the taker itself): that process started at another time.
 *
 * Without /proc (or on a 32-bit lock word) the token is the pid alone and
 * a reused pid keeps looking alive, as before.
 */


#ifndef _PREP_OWNER_H_INCLUDED_
#define _PREP_OWNER_H_INCLUDED_


#include <stdint.h>
#include <sys/types.h>


/* the start time of pid (never 0), or 0 when it cannot be read */
uint32_t prep_owner_start(pid_t pid);

/* the token of pid: pid | start << 32 (start 0 when unknown) */
uint64_t prep_owner_token(pid_t pid);

/*
 * 1 when the process a token names may still exist, 0 when it surely
 * does not (no such pid, or a pid now of a process started at another
 * time).
 */
int prep_owner_alive(uint64_t token);


#endif /* _PREP_OWNER_H_INCLUDED_ */
