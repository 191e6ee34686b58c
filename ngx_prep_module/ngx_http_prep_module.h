
/*
 * Copyright (C) the ngx_prep authors
 *
 * Types shared by the files of ngx_http_prep_module: configuration, the
 * shared zone of the swap protocol, the per-worker snapshot mappings and
 * the request context.  See docs/DESIGN.md, "Swap protocol (module)".
 */


#ifndef _NGX_HTTP_PREP_MODULE_H_INCLUDED_
#define _NGX_HTTP_PREP_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "prep_count.h"
#include "prep_snap.h"


#define NGX_HTTP_PREP_ZONE_NAME         "prep_store"

/* worker state slots in the zone; workers numbered above are not shown */
#define NGX_HTTP_PREP_MAX_SLOTS         128

/* bounds of names and paths kept in the zone */
#define NGX_HTTP_PREP_NAME_MAX          200
#define NGX_HTTP_PREP_STORE_MAX         512

#define NGX_HTTP_PREP_SNAP_MAX_SIZE     ((off_t) 4 * 1024 * 1024 * 1024)
#define NGX_HTTP_PREP_PLACEHOLDER_MAX   (1024 * 1024)

/* how often every worker looks at the generation, in milliseconds */
#define NGX_HTTP_PREP_CHECK_INTERVAL    1000

/* the directory of the snapshots inside the store */
#define NGX_HTTP_PREP_CORTES_DIR        "cortes/"

/* room for "STORE/cortes/NAME" and its NUL */
#define NGX_HTTP_PREP_PATH_LEN                                               \
    (NGX_HTTP_PREP_STORE_MAX + sizeof("/" NGX_HTTP_PREP_CORTES_DIR)          \
     + NGX_HTTP_PREP_NAME_MAX + 1)

#define NGX_HTTP_PREP_REASON_LEN        (PREP_ERRLEN + 2 * NGX_MAX_PATH)

#define NGX_HTTP_PREP_SHA256_HEX_LEN    (2 * PREP_SHA256_LEN)


/* the suspension notice: STORE/suspension.json and STORE/notice.html */
#define NGX_HTTP_PREP_SUSPENSION_FILE   "/suspension.json"
#define NGX_HTTP_PREP_NOTICE_FILE       "/notice.html"
#define NGX_HTTP_PREP_NOTICE_MAX        (1024 * 1024)
#define NGX_HTTP_PREP_SUSPENSION_MAX    (16 * 1024)
#define NGX_HTTP_PREP_SUSPEND_REASON    512

/* the publication window: STORE/window.json (prep-ingest --publish-from) */
#define NGX_HTTP_PREP_WINDOW_FILE       "/window.json"
#define NGX_HTTP_PREP_WINDOW_MAX        1024
#define NGX_HTTP_PREP_WINDOW_TEXT       40
/* in the placeholder page: replaced by when publication begins */
#define NGX_HTTP_PREP_WINDOW_MARK       "<!--prep_publish_from-->"

/* how long a cache may keep the notice, in seconds */
#define NGX_HTTP_PREP_NOTICE_CACHE      "public, max-age=10"


/* the suspension as loaded with "current"; under the zone mutex */
typedef struct {
    ngx_atomic_t               suspended;      /* read without the lock */
    time_t                     since;
    /* JSON string contents as written by prep-ingest, still escaped */
    u_char                     reason[NGX_HTTP_PREP_SUSPEND_REASON + 1];
    size_t                     reason_len;
    u_char                     sha256[NGX_HTTP_PREP_SHA256_HEX_LEN + 1];
    u_char                    *notice;         /* slab; NULL: built-in */
    size_t                     notice_len;
} ngx_http_prep_suspension_t;


/* the window as loaded with "current"; under the zone mutex */
typedef struct {
    time_t                     publish_from;   /* 0: none */
    u_char                     text[NGX_HTTP_PREP_WINDOW_TEXT + 1];
    size_t                     text_len;       /* "2024-06-02T20:00..." */
} ngx_http_prep_window_t;


/* the live snapshot as published in the zone */
typedef struct {
    u_char                     name[NGX_HTTP_PREP_NAME_MAX + 1];
    size_t                     name_len;       /* 0: nothing published */
    uint64_t                   dev;
    uint64_t                   ino;
    time_t                     published_at;

    time_t                     corte_time;
    uint32_t                   entries;
    u_char                     corte[PREP_SNAP_ISO8601_LEN];
    u_char                     corte_id[PREP_SNAP_ID_LEN + 1];
    u_char                     corte_text[PREP_SNAP_TEXT_LEN + 1];
    u_char                     sha256[NGX_HTTP_PREP_SHA256_HEX_LEN + 1];
} ngx_http_prep_live_t;


/* what a worker reports about itself; written only by that worker */
typedef struct {
    ngx_atomic_t               pid;
    ngx_atomic_t               generation;
    ngx_atomic_t               mapped;
    ngx_atomic_t               old_requests;
    ngx_atomic_t               corte_id_len;
    u_char                     corte_id[PREP_SNAP_ID_LEN];
} ngx_http_prep_slot_t;


typedef struct {
    ngx_atomic_t               generation;

    /* under the zone mutex */
    ngx_http_prep_live_t       live;
    u_char                     store[NGX_HTTP_PREP_STORE_MAX + 1];
    size_t                     store_len;

    ngx_http_prep_slot_t       slots[NGX_HTTP_PREP_MAX_SLOTS];

    ngx_http_prep_suspension_t suspension;
    ngx_http_prep_window_t     window;
} ngx_http_prep_shctx_t;


typedef struct {
    ngx_http_prep_shctx_t     *sh;
    ngx_slab_pool_t           *shpool;
    ngx_str_t                  store;          /* NUL terminated */
} ngx_http_prep_zone_t;


/* why a candidate snapshot was refused */
typedef struct {
    const char                *error;          /* stable code */
    u_char                     reason[NGX_HTTP_PREP_REASON_LEN];
} ngx_http_prep_error_t;


/* a snapshot mapped by this worker */
typedef struct {
    prep_snap_t                snap;
    u_char                    *addr;
    size_t                     size;

    /*
     * the snapshot file, open as long as it is mapped: large entries go
     * out as file buffers of it (sendfile), and the request's hold on
     * the snapshot keeps the descriptor valid until they are sent
     */
    ngx_file_t                 file;

    /* the worker's hold while current, plus one per request */
    ngx_uint_t                 refs;
    ngx_atomic_uint_t          generation;

    ngx_str_t                  corte;          /* points into iso */
    ngx_str_t                  corte_id;
    ngx_str_t                  name;

    ngx_queue_t                queue;

    uint64_t                   dev;
    uint64_t                   ino;

    u_char                     iso[PREP_SNAP_ISO8601_LEN];
    u_char                     id[PREP_SNAP_ID_LEN + 1];
    u_char                     name_data[NGX_HTTP_PREP_NAME_MAX + 1];
} ngx_http_prep_snapshot_t;


/* a prep_cache_control: its types are libprep's prep_count_type_t */
typedef struct {
    ngx_str_t                  value;          /* empty: "off" */
    ngx_array_t               *types;          /* NULL: the default */
} ngx_http_prep_cc_rule_t;


typedef struct {
    ngx_str_t                  store;
    ngx_shm_zone_t            *shm_zone;
    ngx_flag_t                 used;
} ngx_http_prep_main_conf_t;


typedef struct {
    ngx_flag_t                 stamp;          /* has a prep_serve */
} ngx_http_prep_srv_conf_t;


typedef struct {
    ngx_str_t                  fallback;
    ngx_str_t                  placeholder;
    time_t                     retry_after;
    size_t                     sendfile_min;   /* 0: off */
    ngx_array_t               *cache_control;  /* ngx_http_prep_cc_rule_t */
} ngx_http_prep_loc_conf_t;


typedef struct {
    ngx_http_prep_snapshot_t  *snapshot;
    const prep_snap_entry_t   *entry;          /* what was answered */
} ngx_http_prep_ctx_t;


extern ngx_module_t  ngx_http_prep_module;


/* ngx_http_prep_module.c: a small file named by a directive, read whole */
char *ngx_http_prep_conf_read_file(ngx_conf_t *cf, ngx_str_t *name,
    size_t max, u_char *buf, ngx_str_t *out, ngx_file_info_t *fi);

/* ngx_http_prep_module.c: a small file read whole at run time */
ngx_int_t ngx_http_prep_read_file(u_char *path, size_t max, ngx_log_t *log,
    u_char **buf, size_t *len, u_char *err, size_t errlen);

/* ngx_http_prep_module.c: a directive's content type list */
char *ngx_http_prep_conf_types(ngx_conf_t *cf, ngx_str_t *value,
    ngx_uint_t n, ngx_array_t **types);

/* ngx_http_prep_store.c: the zone and the publication of "current" */
void ngx_http_prep_error(ngx_http_prep_error_t *err, const char *code,
    ngx_err_t errnum, const char *fmt, ...);
void ngx_http_prep_error_text(u_char *buf, size_t size, ngx_err_t errnum,
    const char *fmt, ...);
void ngx_http_prep_verror_text(u_char *buf, size_t size, ngx_err_t errnum,
    const char *fmt, va_list args);
ngx_int_t ngx_http_prep_init_zone(ngx_shm_zone_t *shm_zone, void *data);
ngx_int_t ngx_http_prep_publish(ngx_http_prep_zone_t *zone, ngx_log_t *log,
    ngx_http_prep_live_t *live, ngx_atomic_uint_t *generation,
    ngx_uint_t *changed, ngx_http_prep_error_t *err);
void ngx_http_prep_read_live(ngx_http_prep_zone_t *zone,
    ngx_http_prep_live_t *live, ngx_atomic_uint_t *generation);
u_char *ngx_http_prep_snapshot_path(ngx_str_t *store, u_char *name,
    size_t len, u_char *buf, size_t size);

/* ngx_http_prep_snapshot.c: this worker's mappings */
ngx_int_t ngx_http_prep_init_worker(ngx_cycle_t *cycle);
void ngx_http_prep_exit_worker(ngx_cycle_t *cycle);
ngx_http_prep_snapshot_t *ngx_http_prep_current(void);
ngx_int_t ngx_http_prep_hold(ngx_http_request_t *r,
    ngx_http_prep_snapshot_t *s);
ngx_http_prep_snapshot_t *ngx_http_prep_request_snapshot(
    ngx_http_request_t *r);
ngx_int_t ngx_http_prep_map(ngx_str_t *store, u_char *name, size_t len,
    unsigned flags, ngx_http_prep_snapshot_t *s, uint64_t *dev,
    uint64_t *ino, ngx_http_prep_error_t *err);
void ngx_http_prep_unmap(ngx_http_prep_snapshot_t *s);

/* ngx_http_prep_handler.c */
ngx_int_t ngx_http_prep_serve_handler(ngx_http_request_t *r);

/* ngx_http_prep_reply.c: what the handlers share to answer */
ngx_int_t ngx_http_prep_get_only(ngx_http_request_t *r);
ngx_table_elt_t *ngx_http_prep_add_header(ngx_http_request_t *r,
    const char *key, const char *value);
ngx_int_t ngx_http_prep_send_uncacheable(ngx_http_request_t *r,
    ngx_uint_t status, const char *type, ngx_buf_t *b);
size_t ngx_http_prep_json_len(u_char *s, size_t len);
u_char *ngx_http_prep_json_str(u_char *p, u_char *s, size_t len);
ngx_int_t ngx_http_prep_register_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);

/* ngx_http_prep_filter.c: X-PREP-Corte and the variables */
ngx_int_t ngx_http_prep_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_prep_add_variables(ngx_conf_t *cf);

/* ngx_http_prep_suspend.c: the institute's suspension notice */
void ngx_http_prep_suspension_load(ngx_http_prep_zone_t *zone,
    ngx_log_t *log);
ngx_uint_t ngx_http_prep_suspended(void);
ngx_int_t ngx_http_prep_send_notice(ngx_http_request_t *r,
    ngx_http_prep_snapshot_t *s);
void ngx_http_prep_suspension_read(ngx_http_prep_zone_t *zone,
    ngx_http_prep_suspension_t *sus);
ngx_int_t ngx_http_prep_window_placeholder(ngx_http_request_t *r,
    ngx_str_t *body, ngx_str_t *from);
size_t ngx_http_prep_suspension_json_len(void);
u_char *ngx_http_prep_suspension_json(u_char *p,
    ngx_http_prep_suspension_t *sus);

/* ngx_http_prep_control.c */
ngx_int_t ngx_http_prep_control_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_PREP_MODULE_H_INCLUDED_ */
