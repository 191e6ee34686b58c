/*
 * Copyright (C) the ngx_prep authors
 *
 * Lock owner tokens: the pid and its start time (see prep_owner.h).
 */


#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prep_owner.h"


uint32_t
prep_owner_start(pid_t pid)
{
    int                 fd, field;
    char                path[64], buf[1024], *p, *end;
    ssize_t             n;
    unsigned long long  start;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long) pid);

    fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        return 0;
    }

    n = read(fd, buf, sizeof(buf) - 1);
    (void) close(fd);

    if (n <= 0) {
        return 0;
    }

    buf[n] = '\0';

    /* the command name, field 2, is in parentheses and may hold any
     * byte, ")" and spaces too: count fields after the last ")" */

    p = strrchr(buf, ')');

    if (p == NULL) {
        return 0;
    }

    /* p + 1 is the space before field 3; starttime is field 22 */
    for (field = 2; field < 21; field++) {
        p = strchr(p + 1, ' ');

        if (p == NULL) {
            return 0;
        }
    }

    errno = 0;
    start = strtoull(p + 1, &end, 10);

    if (errno || end == p + 1) {
        return 0;
    }

    /* 0 means "unknown": a process started at tick 0 mod 2^32 is 1 */
    return (uint32_t) start ? (uint32_t) start : 1;
}


uint64_t
prep_owner_token(pid_t pid)
{
    return (uint64_t) (uint32_t) pid
           | (uint64_t) prep_owner_start(pid) << 32;
}


int
prep_owner_alive(uint64_t token)
{
    pid_t     pid;
    uint32_t  start, now;

    pid = (pid_t) (uint32_t) token;
    start = (uint32_t) (token >> 32);

    if (pid <= 0) {
        return 0;
    }

    if (kill(pid, 0) == -1 && errno == ESRCH) {
        return 0;
    }

    if (start == 0) {
        return 1;
    }

    now = prep_owner_start(pid);

    /* unreadable (another user's, hidepid): alive, as kill() says */
    return now == 0 || now == start;
}
