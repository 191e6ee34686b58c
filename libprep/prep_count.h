/*
 * Copyright (C) the ngx_prep authors
 *
 * The counting rules shared by the module (live, from requests) and by
 * prep-report (afterwards, from access logs), so that a hit, a page, a
 * visitor and a visit mean the same thing whichever of the two counted
 * them:
 *
 *   hit      every request answered (any status, bots counted apart);
 *   page     a 2xx or 304 answer whose content type is in the page list
 *            (default text/html, application/json, text/csv; "type/"
 *            and a star for a whole family; parameters such as
 *            "; charset=" ignored); without a type (a log that has
 *            none), the snapshot's type for the path, else the type of
 *            the path's extension;
 *   visitor  SipHash-2-4 of address and User-Agent under a key that
 *            changes every local day, so a visitor is a visitor-day;
 *   visit    a visitor's requests with no gap longer than the session
 *            timeout (default 30 min); its duration is last - first, and
 *            it goes into one of the 7 histogram bins.
 *
 * Plain C, no nginx headers, no allocation.
 */


#ifndef _PREP_COUNT_H_INCLUDED_
#define _PREP_COUNT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define PREP_COUNT_HISTOGRAM        7
#define PREP_COUNT_CLASSES          6      /* 1xx .. 5xx, other */
#define PREP_COUNT_BUCKET_SEC       300
#define PREP_COUNT_TIMEOUT_MS       (30 * 60 * 1000)
#define PREP_COUNT_VISITOR_KEY_LEN  16


/* a content type of the page list: "text/html" or "image/" "*" */
typedef struct {
    const char  *type;
    size_t       len;
} prep_count_type_t;


/*
 * Whether the content type type (len bytes, parameters allowed: they are
 * ignored) is in list (n entries): "text/html" matches that type, any
 * case, "image/" "*" every type with a subtype under "image/".  A NULL
 * or empty type is in no list.  The one matcher of a content type list,
 * for pages here and in the module, and for prep_cache_control's types.
 */
int prep_count_type_in(const prep_count_type_t *list, size_t n,
    const char *type, size_t len);

/* the default page list, n entries */
const prep_count_type_t *prep_count_default_pages(size_t *n);

/* prep_count_type_in() of list, NULL: the default page list */
int prep_count_type_is_page(const prep_count_type_t *list, size_t n,
    const char *type, size_t len);

/* as above, from the type the path's extension has (libprep/prep_mime) */
int prep_count_path_is_page(const prep_count_type_t *list, size_t n,
    const char *path, size_t len);

/* whether an answer of this status can count as a page: 2xx and 304 */
#define prep_count_status_is_answer(status)                                  \
    (((status) >= 200 && (status) < 300) || (status) == 304)

/* 0 for 1xx .. 4 for 5xx, 5 for anything else */
unsigned prep_count_status_class(unsigned status);


/* upper bounds of the first 6 bins, ms: 10 s, 30 s, 1, 3, 10, 30 min */
extern const uint64_t  prep_count_histogram_ms[PREP_COUNT_HISTOGRAM - 1];

/* the histogram bin of a visit of ms milliseconds */
unsigned prep_count_histogram_bin(uint64_t ms);


/* period numbers: 5-minute buckets and hours in UTC, days local */
#define prep_count_bucket_id(sec)  ((uint64_t) (sec) / PREP_COUNT_BUCKET_SEC)
#define prep_count_hour_id(sec)    ((uint64_t) (sec) / 3600)
#define prep_count_day_id(sec, gmtoff_min)                                   \
    ((uint64_t) ((int64_t) (sec) + (int64_t) (gmtoff_min) * 60) / 86400)


/*
 * The visitor id: SipHash-2-4 under the day's key of
 * family byte | address (4 or 16 bytes, none for others) | SipHash of
 * the User-Agent, exactly as the module hashes a request.  family is
 * AF_INET, AF_INET6 or anything else.
 */
uint64_t prep_count_visitor(const uint8_t key[PREP_COUNT_VISITOR_KEY_LEN],
    int family, const void *addr, const char *ua, size_t ua_len);

/* the same in two steps, for callers that keep the User-Agent's hash */
uint64_t prep_count_visitor_ua(const uint8_t key[PREP_COUNT_VISITOR_KEY_LEN],
    const char *ua, size_t ua_len);
uint64_t prep_count_visitor_addr(
    const uint8_t key[PREP_COUNT_VISITOR_KEY_LEN], int family,
    const void *addr, uint64_t ua_hash);


/* a visitor's current visit, times in ms */
typedef struct {
    uint64_t  first;
    uint64_t  last;
} prep_count_visit_t;

#define PREP_COUNT_VISIT_CONTINUES  0
#define PREP_COUNT_VISIT_STARTS     1  /* the previous visit, if any, ended */

/*
 * The visit rule for a request at now of a visitor whose visit is v (a
 * new visitor: the caller sets first = last = now and counts a visit
 * without calling this).  A request no later than timeout after the
 * last one continues the visit (*prev: the last request before it; an
 * earlier request than the last, out of order, continues it too);
 * a later one ends it (*ended_ms: its duration) and starts another.
 */
int prep_count_visit_touch(prep_count_visit_t *v, uint64_t now,
    uint64_t timeout, uint64_t *prev, uint64_t *ended_ms);

/* the duration of a visit as it ends */
#define prep_count_visit_ms(v)                                               \
    ((v)->last > (v)->first ? (v)->last - (v)->first : 0)


#endif /* _PREP_COUNT_H_INCLUDED_ */
