/*
 * Copyright (C) the ngx_prep authors
 *
 * The counting rules shared by the module and prep-report; see
 * prep_count.h for the definitions.
 */


#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "prep_count.h"
#include "prep_hll.h"
#include "prep_mime.h"


#define PREP_COUNT_TYPE(s)  { s, sizeof(s) - 1 }

/* documents, as opposed to assets: AWStats' "pages" */
static const prep_count_type_t  prep_count_pages[] = {
    PREP_COUNT_TYPE("text/html"),
    PREP_COUNT_TYPE("application/json"),
    PREP_COUNT_TYPE("text/csv"),
};


const uint64_t  prep_count_histogram_ms[PREP_COUNT_HISTOGRAM - 1] = {
    10000, 30000, 60000, 180000, 600000, 1800000
};


const prep_count_type_t *
prep_count_default_pages(size_t *n)
{
    *n = sizeof(prep_count_pages) / sizeof(prep_count_pages[0]);

    return prep_count_pages;
}


int
prep_count_type_in(const prep_count_type_t *list, size_t n,
    const char *type, size_t len)
{
    size_t  i, t;

    if (type == NULL || len == 0) {
        return 0;
    }

    /* "application/json; charset=utf-8" is "application/json" */

    for (t = 0; t < len && type[t] != ';'; t++) {
        /* void */
    }

    while (t && type[t - 1] == ' ') {
        t--;
    }

    for (i = 0; i < n; i++) {

        if (list[i].len >= 2 && list[i].type[list[i].len - 1] == '*') {
            /* "image/" and a star: at least one character after it */
            if (t > list[i].len - 1
                && strncasecmp(type, list[i].type, list[i].len - 1) == 0)
            {
                return 1;
            }

            continue;
        }

        if (t == list[i].len && strncasecmp(type, list[i].type, t) == 0) {
            return 1;
        }
    }

    return 0;
}


int
prep_count_type_is_page(const prep_count_type_t *list, size_t n,
    const char *type, size_t len)
{
    if (list == NULL) {
        list = prep_count_default_pages(&n);
    }

    return prep_count_type_in(list, n, type, len);
}


int
prep_count_path_is_page(const prep_count_type_t *list, size_t n,
    const char *path, size_t len)
{
    const char         *t;
    const prep_mime_t  *m;

    /* "/" and "/dir/" are served as their index.html */

    if (len == 0 || path[len - 1] == '/') {
        t = "text/html";
        return prep_count_type_is_page(list, n, t, strlen(t));
    }

    m = prep_mime_lookup(path, len);

    return prep_count_type_is_page(list, n, m->type, strlen(m->type));
}


unsigned
prep_count_status_class(unsigned status)
{
    return (status >= 100 && status < 600) ? status / 100 - 1
                                           : PREP_COUNT_CLASSES - 1;
}


unsigned
prep_count_histogram_bin(uint64_t ms)
{
    unsigned  i;

    for (i = 0; i < PREP_COUNT_HISTOGRAM - 1; i++) {
        if (ms < prep_count_histogram_ms[i]) {
            return i;
        }
    }

    return PREP_COUNT_HISTOGRAM - 1;
}


uint64_t
prep_count_visitor(const uint8_t key[PREP_COUNT_VISITOR_KEY_LEN],
    int family, const void *addr, const char *ua, size_t ua_len)
{
    /* the User-Agent hashed first: no copy, no length bound */

    return prep_count_visitor_addr(key, family, addr,
                                   prep_count_visitor_ua(key, ua, ua_len));
}


uint64_t
prep_count_visitor_ua(const uint8_t key[PREP_COUNT_VISITOR_KEY_LEN],
    const char *ua, size_t ua_len)
{
    return prep_siphash24(key, ua ? ua : "", ua ? ua_len : 0);
}


uint64_t
prep_count_visitor_addr(const uint8_t key[PREP_COUNT_VISITOR_KEY_LEN],
    int family, const void *addr, uint64_t ua_hash)
{
    uint8_t  *p, buf[1 + 16 + 8];

    p = buf;
    *p++ = (uint8_t) family;

    if (family == AF_INET6) {
        memcpy(p, addr, 16);
        p += 16;

    } else if (family == AF_INET) {
        memcpy(p, addr, 4);
        p += 4;
    }

    /* unix sockets and the like: every client of one is one address */

    memcpy(p, &ua_hash, sizeof(ua_hash));
    p += sizeof(ua_hash);

    return prep_siphash24(key, buf, (size_t) (p - buf));
}


int
prep_count_visit_touch(prep_count_visit_t *v, uint64_t now,
    uint64_t timeout, uint64_t *prev, uint64_t *ended_ms)
{
    if (now <= v->last || now - v->last <= timeout) {
        *prev = v->last;

        if (now > v->last) {
            v->last = now;
        }

        return PREP_COUNT_VISIT_CONTINUES;
    }

    /* back after the timeout: the old visit ended at its last request */

    *prev = v->last;
    *ended_ms = prep_count_visit_ms(v);

    v->first = now;
    v->last = now;

    return PREP_COUNT_VISIT_STARTS;
}
