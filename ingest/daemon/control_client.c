/*
 * Copyright (C) the ngx_prep authors
 */


#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/ingest_control_client.h"
#include "common/ingest_jsonget.h"
#include "common/ingest_reasons.h"


#define INGEST_CONTROL_NAME  256


static int
ingest_control_wait(int fd, short events, double deadline)
{
    int            rc, ms;
    double         left;
    struct pollfd  pfd;

    for ( ;; ) {
        left = deadline - ingest_now();

        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }

        ms = (int) (left * 1000.0) + 1;
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;

        rc = poll(&pfd, 1, ms);

        if (rc > 0) {
            return 0;
        }

        if (rc < 0 && errno != EINTR) {
            return -1;
        }
    }
}


static int
ingest_control_connect(const char *path, double deadline, char *err,
    size_t errlen)
{
    int                 fd, e;
    socklen_t           len;
    struct sockaddr_un  sun;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        (void) snprintf(err, errlen, "control socket path too long: %s",
                        path);
        return -1;
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        (void) snprintf(err, errlen, "socket(): %s", strerror(errno));
        return -1;
    }

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path));

    if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) == 0) {
        return fd;
    }

    if (errno != EINPROGRESS && errno != EAGAIN) {
        (void) snprintf(err, errlen, "connecting to %s: %s", path,
                        strerror(errno));
        (void) close(fd);
        return -1;
    }

    e = 0;
    len = sizeof(e);

    if (ingest_control_wait(fd, POLLOUT, deadline) != 0
        || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0 || e != 0)
    {
        (void) snprintf(err, errlen, "connecting to %s: %s", path,
                        strerror(e ? e : errno));
        (void) close(fd);
        return -1;
    }

    return fd;
}


static int
ingest_control_send(int fd, const char *buf, size_t len, double deadline)
{
    ssize_t  n;

    while (len > 0) {
        n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (ingest_control_wait(fd, POLLOUT, deadline) != 0) {
                return -1;
            }
            continue;
        }

        if (n < 0) {
            return -1;
        }

        buf += n;
        len -= (size_t) n;
    }

    return 0;
}


static int
ingest_control_parse(ingest_control_resp_t *r, char *buf, size_t len)
{
    int    status;
    char  *sep;

    buf[len] = '\0';

    if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' '
        || buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9'
        || buf[11] < '0' || buf[11] > '9')
    {
        (void) snprintf(r->err, sizeof(r->err), "not an HTTP answer");
        return -1;
    }

    status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');

    sep = strstr(buf, "\r\n\r\n");
    if (sep == NULL) {
        (void) snprintf(r->err, sizeof(r->err), "an HTTP answer without "
                        "the end of its header");
        return -1;
    }

    r->status = status;
    r->body_len = len - (size_t) (sep + 4 - buf);
    memmove(buf, sep + 4, r->body_len + 1);
    r->body = buf;

    return 0;
}


int
ingest_control_request(const char *socket_path, const char *method,
    const char *uri, double timeout, ingest_control_resp_t *r)
{
    int      fd;
    char     req[256];
    char    *buf;
    size_t   len, have;
    double   deadline;
    ssize_t  n;

    memset(r, 0, sizeof(ingest_control_resp_t));
    deadline = ingest_now() + timeout;

    fd = ingest_control_connect(socket_path, deadline, r->err,
                                sizeof(r->err));
    if (fd < 0) {
        return -1;
    }

    len = (size_t) snprintf(req, sizeof(req),
                            "%s %s HTTP/1.0\r\nHost: localhost\r\n"
                            "User-Agent: prep-ingest\r\n"
                            "Content-Length: 0\r\n\r\n", method, uri);

    if (ingest_control_send(fd, req, len, deadline) != 0) {
        (void) snprintf(r->err, sizeof(r->err), "sending to %s: %s",
                        socket_path, strerror(errno));
        (void) close(fd);
        return -1;
    }

    buf = malloc(INGEST_CONTROL_MAX_RESPONSE + 1);
    if (buf == NULL) {
        (void) snprintf(r->err, sizeof(r->err), "out of memory");
        (void) close(fd);
        return -1;
    }

    have = 0;

    for ( ;; ) {
        n = recv(fd, buf + have, INGEST_CONTROL_MAX_RESPONSE - have, 0);

        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (ingest_control_wait(fd, POLLIN, deadline) != 0) {
                (void) snprintf(r->err, sizeof(r->err), "reading from %s: "
                                "%s", socket_path, strerror(errno));
                goto failed;
            }
            continue;
        }

        if (n < 0) {
            (void) snprintf(r->err, sizeof(r->err), "reading from %s: %s",
                            socket_path, strerror(errno));
            goto failed;
        }

        if (n == 0) {
            break;
        }

        have += (size_t) n;

        if (have == INGEST_CONTROL_MAX_RESPONSE) {
            (void) snprintf(r->err, sizeof(r->err), "an answer over %u "
                            "bytes from %s", INGEST_CONTROL_MAX_RESPONSE,
                            socket_path);
            goto failed;
        }
    }

    (void) close(fd);

    if (ingest_control_parse(r, buf, have) != 0) {
        free(buf);
        r->body = NULL;
        return -1;
    }

    return 0;

failed:

    free(buf);
    (void) close(fd);

    return -1;
}


void
ingest_control_resp_free(ingest_control_resp_t *r)
{
    free(r->body);
    r->body = NULL;
}


/* "cortes/x.snap" and "x.snap" name the same snapshot */
static const char *
ingest_control_base(const char *name)
{
    const char  *slash;

    slash = strrchr(name, '/');

    return slash ? slash + 1 : name;
}


int
ingest_control_live(const char *socket_path, double timeout,
    char *snapshot, size_t size, unsigned long *generation, char *err,
    size_t errlen)
{
    int                    rc;
    double                 gen;
    ingest_control_resp_t  r;
    ingest_json_val_t      v;

    if (ingest_control_request(socket_path, "GET", "/", timeout, &r) != 0) {
        (void) snprintf(err, errlen, "%s", r.err);
        return -1;
    }

    rc = -1;

    if (r.status != 200) {
        (void) snprintf(err, errlen, "GET / answered %d", r.status);
        goto done;
    }

    if (ingest_json_get(r.body, r.body_len, "corte", &v) < 0) {
        (void) snprintf(err, errlen, "GET / answered invalid JSON");
        goto done;
    }

    snapshot[0] = '\0';

    if (v.type == INGEST_JSON_OBJECT
        && ingest_json_get_string(r.body, r.body_len, "corte.snapshot",
                                  snapshot, size)
           < 0)
    {
        (void) snprintf(err, errlen, "GET / answered no corte.snapshot");
        goto done;
    }

    if (generation != NULL) {
        *generation = ingest_json_get_number(r.body, r.body_len,
                                             "generation", &gen) == 0
                      ? (unsigned long) gen : 0;
    }

    memmove(snapshot, ingest_control_base(snapshot),
            strlen(ingest_control_base(snapshot)) + 1);
    rc = 0;

done:

    ingest_control_resp_free(&r);

    return rc;
}


int
ingest_control_publish(const char *socket_path, const char *snapshot,
    double timeout, unsigned long *generation, int *refused, char *err,
    size_t errlen)
{
    int                    rc;
    char                   name[INGEST_CONTROL_NAME];
    char                   reason[INGEST_CONTROL_NAME];
    double                 deadline;
    ingest_control_resp_t  r;

    *refused = 0;
    deadline = ingest_now() + timeout;

    if (ingest_control_request(socket_path, "POST", "/reload", timeout, &r)
        != 0)
    {
        (void) snprintf(err, errlen, "%s", r.err);
        return -1;
    }

    rc = -1;

    if (r.status == 422) {
        *refused = 1;

        if (ingest_json_get_string(r.body, r.body_len, "reason", reason,
                                   sizeof(reason))
            < 0)
        {
            (void) snprintf(reason, sizeof(reason), "no reason given");
        }

        (void) snprintf(err, errlen, "nginx refused the snapshot: %s",
                        reason);
        goto done;
    }

    if (r.status != 200) {
        (void) snprintf(err, errlen, "POST /reload answered %d", r.status);
        goto done;
    }

    if (ingest_json_get_string(r.body, r.body_len, "corte.snapshot", name,
                               sizeof(name))
        < 0)
    {
        (void) snprintf(err, errlen, "POST /reload answered no "
                        "corte.snapshot");
        goto done;
    }

    if (strcmp(ingest_control_base(name), snapshot) != 0) {
        (void) snprintf(err, errlen, "after POST /reload nginx serves %s, "
                        "not %s", ingest_control_base(name), snapshot);
        goto done;
    }

    ingest_control_resp_free(&r);

    /* a second look, as a client would see it */
    timeout = deadline - ingest_now();

    if (ingest_control_live(socket_path, timeout > 0.5 ? timeout : 0.5,
                            name, sizeof(name), generation, err, errlen)
        != 0)
    {
        return -1;
    }

    if (strcmp(name, snapshot) != 0) {
        (void) snprintf(err, errlen, "nginx serves %s, not %s",
                        name[0] ? name : "nothing", snapshot);
        return -1;
    }

    return 0;

done:

    ingest_control_resp_free(&r);

    return rc;
}
