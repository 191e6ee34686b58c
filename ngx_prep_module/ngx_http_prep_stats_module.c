
/*
 * Copyright (C) the ngx_prep authors
 *
 * ngx_http_prep_stats_module: visitor statistics in shared memory for the
 * locations that serve the PREP snapshot (and any other that asks), a
 * status location in JSON and Prometheus text, and a state file that
 * keeps the counters across restarts.  This file holds the module tables,
 * the directives and the per-worker timer; the work is done in
 * ngx_http_prep_stats_{zone,log,session,state}.c and
 * ngx_http_prep_status.c.
 *
 *     prep_stats_zone NAME SIZE [paths=N];       http
 *     prep_stats on | off;                       http, server, location
 *     prep_stats_pages TYPE ...;                 http, server, location
 *     prep_stats_session_timeout TIME;           http (30m)
 *     prep_stats_state PATH [thread_pool=NAME] | off;
 *                                                http (prep_stats.state
 *                                                under the prefix)
 *     prep_stats_bots FILE [replace];            http (built-in list)
 *     prep_stats_state_interval TIME;            http (10s)
 *     prep_stats_visitor_key FILE;               http (a random key a day)
 *     prep_status;                               location
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_prep_module.h"
#include "ngx_http_prep_stats.h"


typedef struct {
    ngx_http_prep_stats_zone_t  *zone;
    ngx_msec_t                   session_timeout;
    ngx_msec_t                   interval;
    ngx_msec_t                   last_save;
    ngx_atomic_uint_t            registered;
    ngx_event_t                  timer;
    ngx_log_t                   *log;

#if (NGX_THREADS)
    /* saves run there, out of the event loop, one at a time */
    ngx_thread_pool_t           *thread_pool;
    ngx_thread_task_t           *task;
#endif

    /* the timer's data, for the event debug log, as ngx_cleaner_event */
    ngx_connection_t             dumb;
} ngx_http_prep_stats_worker_t;


static ngx_int_t ngx_http_prep_stats_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_prep_stats_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_prep_stats_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_prep_stats_init_main_conf(ngx_conf_t *cf, void *conf);
static char *ngx_http_prep_stats_default_state(ngx_conf_t *cf,
    ngx_http_prep_stats_main_conf_t *mcf);
static ngx_uint_t ngx_http_prep_stats_writable(ngx_file_info_t *fi,
    ngx_core_conf_t *ccf, u_char *dir);
static void *ngx_http_prep_stats_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_prep_stats_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_prep_stats_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_prep_stats_pages(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_prep_stats_bots(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_prep_stats_bots_list(ngx_conf_t *cf,
    ngx_http_prep_stats_main_conf_t *mcf, ngx_uint_t builtin);
static void ngx_http_prep_stats_bots_free(void *data);
static char *ngx_http_prep_stats_state(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_prep_stats_visitor_key(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_prep_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_prep_stats_init_process(ngx_cycle_t *cycle);
static void ngx_http_prep_stats_exit_process(ngx_cycle_t *cycle);
static void ngx_http_prep_stats_timer_handler(ngx_event_t *ev);
static void ngx_http_prep_stats_save_now(ngx_http_prep_stats_worker_t *w);
#if (NGX_THREADS)
static void ngx_http_prep_stats_save_thread(void *data, ngx_log_t *log);
static void ngx_http_prep_stats_save_posted(ngx_event_t *ev);
#endif


static ngx_conf_num_bounds_t  ngx_http_prep_stats_interval_bounds = {
    ngx_conf_check_num_bounds, 1000, 86400000
};

static ngx_conf_num_bounds_t  ngx_http_prep_stats_timeout_bounds = {
    ngx_conf_check_num_bounds, 1000, 86400000
};


static ngx_command_t  ngx_http_prep_stats_commands[] = {

    { ngx_string("prep_stats_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE23,
      ngx_http_prep_stats_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("prep_stats"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_prep_stats_loc_conf_t, stats),
      NULL },

    { ngx_string("prep_stats_pages"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_prep_stats_pages,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("prep_stats_session_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_prep_stats_main_conf_t, session_timeout),
      &ngx_http_prep_stats_timeout_bounds },

    { ngx_string("prep_stats_state"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_prep_stats_state,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("prep_stats_bots"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_prep_stats_bots,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("prep_stats_state_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_prep_stats_main_conf_t, state_interval),
      &ngx_http_prep_stats_interval_bounds },

    { ngx_string("prep_stats_visitor_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_prep_stats_visitor_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("prep_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_prep_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_prep_stats_module_ctx = {
    ngx_http_prep_stats_preconfiguration,  /* preconfiguration */
    ngx_http_prep_stats_postconfiguration, /* postconfiguration */

    ngx_http_prep_stats_create_main_conf,  /* create main configuration */
    ngx_http_prep_stats_init_main_conf,    /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_prep_stats_create_loc_conf,   /* create location configuration */
    ngx_http_prep_stats_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_prep_stats_module = {
    NGX_MODULE_V1,
    &ngx_http_prep_stats_module_ctx,       /* module context */
    ngx_http_prep_stats_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_prep_stats_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_prep_stats_exit_process,      /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_prep_stats_worker_t  ngx_http_prep_stats_worker;


static ngx_int_t
ngx_http_prep_stats_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_prep_stats_add_variables(cf);
}


static ngx_int_t
ngx_http_prep_stats_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_prep_stats_log_handler;

    return NGX_OK;
}


static void *
ngx_http_prep_stats_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_prep_stats_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_prep_stats_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->shm_zone = NULL;
     *     mcf->state = { 0, NULL };
     */

    mcf->session_timeout = NGX_CONF_UNSET_MSEC;
    mcf->state_interval = NGX_CONF_UNSET_MSEC;

    return mcf;
}


static char *
ngx_http_prep_stats_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_prep_stats_main_conf_t *mcf = conf;

    ngx_http_prep_stats_zone_t  *z;

    ngx_conf_init_msec_value(mcf->session_timeout, 30 * 60 * 1000);
    ngx_conf_init_msec_value(mcf->state_interval, 10 * 1000);

    if (mcf->state.len && mcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"prep_stats_state\" needs \"prep_stats_zone\"");
        return NGX_CONF_ERROR;
    }

    if (mcf->status && mcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"prep_status\" needs \"prep_stats_zone\": "
                           "the status answers from the statistics zone");
        return NGX_CONF_ERROR;
    }

    if (mcf->shm_zone && mcf->state_off) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "prep_stats_state off: statistics are kept in "
                           "memory only, and a restart loses them");
    }

    if (mcf->shm_zone && mcf->bots == NULL
        && ngx_http_prep_stats_bots_list(cf, mcf, 1) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (mcf->shm_zone && !mcf->state_off && mcf->state.len == 0) {
        if (ngx_http_prep_stats_default_state(cf, mcf) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (mcf->keyed && mcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"prep_stats_visitor_key\" needs "
                           "\"prep_stats_zone\"");
        return NGX_CONF_ERROR;
    }

    if (mcf->shm_zone) {
        z = mcf->shm_zone->data;
        z->state = mcf->state;
        z->keyed = mcf->keyed;
        ngx_memcpy(z->key, mcf->key, sizeof(z->key));
        z->key_id = mcf->key_id;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_prep_stats_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_prep_stats_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_prep_stats_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    lcf->stats = NGX_CONF_UNSET;
    lcf->enabled = NGX_CONF_UNSET;
    lcf->pages = NGX_CONF_UNSET_PTR;

    return lcf;
}


/*
 * "prep_stats" is inherited only when it was said; otherwise statistics
 * are on exactly in the locations that serve the snapshot.
 */

static char *
ngx_http_prep_stats_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_prep_stats_loc_conf_t *prev = parent;
    ngx_http_prep_stats_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_prep_stats_main_conf_t  *mcf;

    ngx_conf_merge_value(conf->stats, prev->stats, NGX_CONF_UNSET);
    ngx_conf_merge_ptr_value(conf->pages, prev->pages, NULL);

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_prep_stats_module);

    if (conf->stats == 1 && mcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"prep_stats on\" needs \"prep_stats_zone\" in "
                           "the http block");
        return NGX_CONF_ERROR;
    }

    if (conf->stats != NGX_CONF_UNSET) {
        conf->enabled = conf->stats;

    } else {
        /* the merge runs with this location's configuration in cf->ctx */
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        conf->enabled = (mcf->shm_zone != NULL
                         && clcf->handler == ngx_http_prep_serve_handler);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_prep_stats_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_prep_stats_main_conf_t *mcf = conf;

    size_t                       fixed, rows_off, slots_off, arena_off;
    size_t                       arena_size, min;
    ssize_t                      size;
    ngx_int_t                    paths;
    ngx_str_t                   *value, name, s;
    ngx_uint_t                   nslots;
    ngx_shm_zone_t              *shm_zone;
    ngx_http_prep_stats_zone_t  *z;

    if (mcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (name.len == 0) {
        return "needs a zone name";
    }

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    paths = NGX_HTTP_PREP_STATS_PATHS;

    if (cf->args->nelts == 4) {
        if (ngx_strncmp(value[3].data, "paths=", 6) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[3]);
            return NGX_CONF_ERROR;
        }

        s.data = value[3].data + 6;
        s.len = value[3].len - 6;

        paths = ngx_atoi(s.data, s.len);

        if (paths < 1 || paths > NGX_HTTP_PREP_STATS_PATHS_MAX) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"paths=\" must be between 1 and %d",
                               NGX_HTTP_PREP_STATS_PATHS_MAX);
            return NGX_CONF_ERROR;
        }
    }

    fixed = ngx_http_prep_stats_fixed_size(paths, &rows_off, &slots_off,
                                           &arena_off, &nslots, &arena_size);

    /* the fixed block, the slab pool's own pages, the fewest sessions */

    min = fixed + 32 * ngx_pagesize
          + NGX_HTTP_PREP_STATS_SHARDS
            * (NGX_HTTP_PREP_STATS_MIN_SESSIONS
               * (sizeof(ngx_http_prep_session_t)
                  + 2 * sizeof(ngx_http_prep_session_t *))
               + 3 * ngx_pagesize);

    if ((size_t) size < min) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small for paths=%i: it needs "
                           "at least %uzk (the HyperLogLog sets of %d days "
                           "and %d hours take %uzk of it)", &name, paths,
                           min / 1024 + 1, NGX_HTTP_PREP_STATS_DAYS,
                           NGX_HTTP_PREP_STATS_HOURS,
                           (sizeof(((ngx_http_prep_stats_sh_t *) 0)->hll_day)
                            + sizeof(((ngx_http_prep_stats_sh_t *) 0)
                                     ->hll_hour)) / 1024);
        return NGX_CONF_ERROR;
    }

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_prep_stats_zone_t));
    if (z == NULL) {
        return NGX_CONF_ERROR;
    }

    z->paths_max = paths;

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_prep_stats_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "prep_stats_zone \"%V\" is already declared",
                           &name);
        return NGX_CONF_ERROR;
    }

    z->shm_zone = shm_zone;

    shm_zone->init = ngx_http_prep_stats_init_zone;
    shm_zone->data = z;

    mcf->shm_zone = shm_zone;

    return NGX_CONF_OK;
}


static char *
ngx_http_prep_stats_pages(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_prep_stats_loc_conf_t *lcf = conf;

    ngx_str_t  *value;

    if (lcf->pages != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* the parser of prep_cache_control's types, for libprep's matcher */

    return ngx_http_prep_conf_types(cf, &value[1], cf->args->nelts - 1,
                                    &lcf->pages);
}


/*
 * prep_stats_bots FILE [replace]: the tokens of FILE, one a line, extend
 * the built-in robot list (libprep/prep_bots.c), or replace it.
 */

static char *
ngx_http_prep_stats_bots(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_prep_stats_main_conf_t *mcf = conf;

    char        err[NGX_HTTP_PREP_STATS_ERR_LEN];
    ngx_str_t  *value, path;
    ngx_uint_t  replace;

    value = cf->args->elts;
    replace = 0;

    if (cf->args->nelts == 3) {
        if (ngx_strcmp(value[2].data, "replace") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        replace = 1;
    }

    if (mcf->bots == NULL) {
        if (ngx_http_prep_stats_bots_list(cf, mcf, !replace) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        mcf->bots_replace = replace;

    } else if (replace != (ngx_uint_t) mcf->bots_replace) {
        return "must say \"replace\" on every line or on none";
    }

    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (prep_bots_load(mcf->bots, (char *) path.data, err, sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_prep_stats_bots_list(ngx_conf_t *cf,
    ngx_http_prep_stats_main_conf_t *mcf, ngx_uint_t builtin)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    mcf->bots = prep_bots_new((int) builtin);

    if (mcf->bots == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_prep_stats_bots_free;
    cln->data = mcf->bots;

    return NGX_OK;
}


static void
ngx_http_prep_stats_bots_free(void *data)
{
    prep_bots_free(data);
}


static char *
ngx_http_prep_stats_state(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_prep_stats_main_conf_t *mcf = conf;

    ngx_str_t  *value, path;

    if (mcf->state.data || mcf->state_off) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (cf->args->nelts == 2 && ngx_strcmp(path.data, "off") == 0) {
        mcf->state_off = 1;
        return NGX_CONF_OK;
    }

    if (path.len == 0 || path.data[path.len - 1] == '/') {
        return "needs a file name";
    }

    if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* room for ".prev.tmp" after it */
    if (path.len + sizeof(".prev.tmp") > NGX_MAX_PATH) {
        return "is too long";
    }

    /* ngx_conf_full_name() leaves it NUL terminated */
    mcf->state = path;

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (value[2].len <= sizeof("thread_pool=") - 1
        || ngx_strncmp(value[2].data, "thread_pool=",
                       sizeof("thread_pool=") - 1)
           != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

#if (NGX_THREADS)
    mcf->thread_pool.data = value[2].data + sizeof("thread_pool=") - 1;
    mcf->thread_pool.len = value[2].len - (sizeof("thread_pool=") - 1);

    if (ngx_thread_pool_add(cf, &mcf->thread_pool) == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
#else
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"thread_pool=\" needs nginx built with threads");
    return NGX_CONF_ERROR;
#endif
}


static char *
ngx_http_prep_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_prep_stats_main_conf_t  *mcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler in this location";
    }

    clcf->handler = ngx_http_prep_status_handler;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_prep_stats_module);
    mcf->status = 1;

    return NGX_CONF_OK;
}


/*
 * Without prep_stats_state the statistics are saved to the default file:
 * forgetting one directive must not lose a week of counters at the first
 * restart.  The directory must exist and be writable by the workers, who
 * save; otherwise nginx -t fails here instead of the counters being lost
 * silently.
 */

static char *
ngx_http_prep_stats_default_state(ngx_conf_t *cf,
    ngx_http_prep_stats_main_conf_t *mcf)
{
    u_char           *slash;
    ngx_str_t         path;
    ngx_err_t         err;
    ngx_file_info_t   fi;
    ngx_core_conf_t  *ccf;
    u_char            dir[NGX_MAX_PATH];

    ngx_str_set(&path, NGX_HTTP_PREP_STATS_STATE_DEFAULT);

    if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (path.len + sizeof(".prev.tmp") > NGX_MAX_PATH) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the default state file \"%V\" is too long",
                           &path);
        return NGX_CONF_ERROR;
    }

    for (slash = path.data + path.len - 1; slash > path.data; slash--) {
        if (*slash == '/') {
            break;
        }
    }

    if (slash == path.data) {
        ngx_memcpy(dir, "/", 2);

    } else {
        ngx_memcpy(dir, path.data, slash - path.data);
        dir[slash - path.data] = '\0';
    }

    if (ngx_file_info(dir, &fi) == NGX_FILE_ERROR || !ngx_is_dir(&fi)) {
        err = ngx_errno;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, err,
                           "the directory \"%s\" of the default state file "
                           "\"%V\" is not usable; create it, or set "
                           "\"prep_stats_state\" (or \"prep_stats_state "
                           "off\")", dir, &path);
        return NGX_CONF_ERROR;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    if (!ngx_http_prep_stats_writable(&fi, ccf, dir)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the directory \"%s\" of the default state file "
                           "\"%V\" is not writable by the workers; make it "
                           "so, or set \"prep_stats_state\" (or "
                           "\"prep_stats_state off\")", dir, &path);
        return NGX_CONF_ERROR;
    }

    mcf->state = path;

    return NGX_CONF_OK;
}


/* whether the workers (the "user" of a root master, else us) can write */

static ngx_uint_t
ngx_http_prep_stats_writable(ngx_file_info_t *fi, ngx_core_conf_t *ccf,
    u_char *dir)
{
    uid_t  uid;
    gid_t  gid;

    if (geteuid() != 0) {
        return access((char *) dir, W_OK | X_OK) == 0;
    }

    uid = (ccf && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT)
          ? ccf->user : 0;
    gid = (ccf && ccf->group != (ngx_gid_t) NGX_CONF_UNSET_UINT)
          ? ccf->group : 0;

    if (uid == 0) {
        return 1;
    }

    if (fi->st_uid == uid) {
        return (fi->st_mode & (S_IWUSR | S_IXUSR)) == (S_IWUSR | S_IXUSR);
    }

    if (fi->st_gid == gid) {
        return (fi->st_mode & (S_IWGRP | S_IXGRP)) == (S_IWGRP | S_IXGRP);
    }

    return (fi->st_mode & (S_IWOTH | S_IXOTH)) == (S_IWOTH | S_IXOTH);
}


/*
 * Worker 0 sweeps the sessions that timed out, registers the paths of a
 * new corte and saves the state file; every worker saves when it exits
 * (the save is skipped when nothing changed since the last one).
 */

static ngx_int_t
ngx_http_prep_stats_init_process(ngx_cycle_t *cycle)
{
    ngx_http_prep_stats_worker_t     *w;
    ngx_http_prep_stats_main_conf_t  *mcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_prep_stats_module);

    if (mcf == NULL || mcf->shm_zone == NULL) {
        return NGX_OK;
    }

    w = &ngx_http_prep_stats_worker;

    ngx_memzero(w, sizeof(ngx_http_prep_stats_worker_t));

    w->zone = mcf->shm_zone->data;
    w->session_timeout = mcf->session_timeout;
    w->interval = mcf->state_interval;
    w->last_save = ngx_current_msec;
    w->log = cycle->log;

    if (w->zone->sh == NULL || ngx_worker != 0) {
        return NGX_OK;
    }

#if (NGX_THREADS)
    if (mcf->thread_pool.len) {
        w->thread_pool = ngx_thread_pool_get(cycle, &mcf->thread_pool);

        if (w->thread_pool == NULL) {
            ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                          "prep stats: thread pool \"%V\" not found, the "
                          "state file is saved in the event loop",
                          &mcf->thread_pool);
        }
    }
#endif

    w->dumb.fd = (ngx_socket_t) -1;

    w->timer.handler = ngx_http_prep_stats_timer_handler;
    w->timer.data = &w->dumb;
    w->timer.log = cycle->log;
    w->timer.cancelable = 1;

    ngx_add_timer(&w->timer, NGX_HTTP_PREP_STATS_TICK);

    return NGX_OK;
}


static void
ngx_http_prep_stats_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_prep_stats_worker_t  *w;

    w = &ngx_http_prep_stats_worker;

    if (w->zone == NULL || w->zone->sh == NULL) {
        return;
    }

#if (NGX_THREADS)
    if (w->task) {
        /*
         * the thread pools stop before this module's exit: the task has
         * run, its completion event never will
         */
        ngx_http_prep_stats_save_end(w->task->ctx, cycle->log);
        w->task = NULL;
    }
#endif

    (void) ngx_http_prep_stats_save(w->zone, cycle->log, 1);
}


static void
ngx_http_prep_stats_timer_handler(ngx_event_t *ev)
{
    uint64_t                       now;
    ngx_msec_t                     elapsed;
    ngx_time_t                    *tp;
    ngx_http_prep_snapshot_t      *s;
    ngx_http_prep_stats_worker_t  *w;

    w = &ngx_http_prep_stats_worker;

    if (ngx_exiting || ngx_terminate) {
        return;
    }

    tp = ngx_timeofday();
    now = (uint64_t) tp->sec * 1000 + tp->msec;

    s = ngx_http_prep_current();
    ngx_http_prep_stats_mark(w->zone, tp->sec, s ? &s->corte_id : NULL);

    (void) ngx_http_prep_stats_sweep(w->zone->sh, now, w->session_timeout);

    ngx_http_prep_stats_register_paths();

    elapsed = ngx_current_msec - w->last_save;

    if (elapsed >= w->interval) {
        w->last_save = ngx_current_msec;
        elapsed = 0;

        ngx_http_prep_stats_save_now(w);
    }

    /* on time for the next save: at most one interval is ever lost */
    ngx_add_timer(ev, ngx_min(NGX_HTTP_PREP_STATS_TICK,
                              w->interval - elapsed));
}


static void
ngx_http_prep_stats_save_now(ngx_http_prep_stats_worker_t *w)
{
#if (NGX_THREADS)
    ngx_pool_t                  *pool;
    ngx_thread_task_t           *task;
    ngx_http_prep_stats_save_t   s;

    if (w->thread_pool == NULL) {
        (void) ngx_http_prep_stats_save(w->zone, w->log, 0);
        return;
    }

    if (w->task) {
        /* the previous save is still being written */
        return;
    }

    if (ngx_http_prep_stats_save_begin(&s, w->zone, w->log, 0) != NGX_OK) {
        return;
    }

    pool = ngx_create_pool(1024, w->log);
    if (pool == NULL) {
        goto failed;
    }

    task = ngx_thread_task_alloc(pool, sizeof(ngx_http_prep_stats_save_t));
    if (task == NULL) {
        ngx_destroy_pool(pool);
        goto failed;
    }

    ngx_memcpy(task->ctx, &s, sizeof(ngx_http_prep_stats_save_t));

    task->handler = ngx_http_prep_stats_save_thread;
    task->event.handler = ngx_http_prep_stats_save_posted;
    task->event.data = pool;
    task->event.log = w->log;

    if (ngx_thread_task_post(w->thread_pool, task) != NGX_OK) {
        ngx_destroy_pool(pool);
        goto failed;
    }

    w->task = task;

    return;

failed:

    /* in line, then */
    ngx_http_prep_stats_save_work(&s);
    ngx_http_prep_stats_save_end(&s, w->log);

#else

    (void) ngx_http_prep_stats_save(w->zone, w->log, 0);

#endif
}


#if (NGX_THREADS)

static void
ngx_http_prep_stats_save_thread(void *data, ngx_log_t *log)
{
    ngx_http_prep_stats_save_work(data);
}


static void
ngx_http_prep_stats_save_posted(ngx_event_t *ev)
{
    ngx_pool_t                    *pool;
    ngx_http_prep_stats_worker_t  *w;

    w = &ngx_http_prep_stats_worker;
    pool = ev->data;

    if (w->task) {
        ngx_http_prep_stats_save_end(w->task->ctx, ev->log);
        w->task = NULL;
    }

    ngx_destroy_pool(pool);
}

#endif


/*
 * Every path of the live corte gets its row, so that the status lists
 * the pages not requested yet too; a path keeps its row, and its counts,
 * in later cortes.
 */

void
ngx_http_prep_stats_register_paths(void)
{
    uint32_t                       i, missing;
    const prep_snap_entry_t       *e;
    ngx_http_prep_snapshot_t      *s;
    ngx_http_prep_stats_worker_t  *w;

    w = &ngx_http_prep_stats_worker;

    if (w->zone == NULL || w->zone->sh == NULL) {
        return;
    }

    s = ngx_http_prep_current();

    if (s == NULL || s->generation == w->registered) {
        return;
    }

    missing = 0;

    for (i = 0; i < s->snap.nentries; i++) {
        e = &s->snap.entries[i];

        if (ngx_http_prep_stats_row(w->zone,
                                    (u_char *) prep_snap_entry_path(&s->snap,
                                                                    e),
                                    e->path_len, 1)
            == NULL)
        {
            missing++;
        }
    }

    w->registered = s->generation;

    if (missing) {
        ngx_log_error(NGX_LOG_WARN, w->log, 0,
                      "prep stats: %uD paths of corte %V have no row left "
                      "(paths=%ui): their hits are counted in \"other\"",
                      missing, &s->corte_id, w->zone->paths_max);
    }
}


/*
 * prep_stats_visitor_key FILE: origins behind one CDN that read the same
 * secret hash a visitor alike, so that prep-report merges their
 * HyperLogLog sets into a true union instead of an upper bound.  The
 * day's key is SipHash-2-4 of the day under a key derived from the
 * secret; the secret itself is not kept.  The file is read once, at
 * configuration time, before nginx drops its privileges, so it can be
 * root's alone (and should be: who has it can link a visitor's days).
 */

static char *
ngx_http_prep_stats_visitor_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_prep_stats_main_conf_t *mcf = conf;

    size_t           len;
    uint64_t         h[2];
    ngx_str_t       *value, path, text;
    ngx_file_info_t  fi;
    u_char           secret[NGX_HTTP_PREP_STATS_KEY_MAX + 1];

    static const uint8_t  derive[2][16] = {
        "ngx_prep key 0/2", "ngx_prep key 1/2"
    };

    if (mcf->keyed) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    /* on the stack, not in the pool: wiped once the key is derived */
    if (ngx_http_prep_conf_read_file(cf, &path, NGX_HTTP_PREP_STATS_KEY_MAX,
                                     secret, &text, &fi)
        != NGX_CONF_OK)
    {
        ngx_explicit_memzero(secret, sizeof(secret));
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        ngx_explicit_memzero(secret, sizeof(secret));
        return NGX_CONF_ERROR;
    }

    len = text.len;

    /* a trailing newline is the editor's, not the secret's */
    while (len > 0 && (secret[len - 1] == '\n' || secret[len - 1] == '\r'
                       || secret[len - 1] == ' ' || secret[len - 1] == '\t'))
    {
        len--;
    }

    if (len < NGX_HTTP_PREP_STATS_KEY_MIN) {
        ngx_explicit_memzero(secret, sizeof(secret));
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "prep_stats_visitor_key \"%s\" must hold a secret "
                           "of %d to %d bytes (e.g. \"openssl rand -hex 32\"),"
                           " the same file on every origin", path.data,
                           NGX_HTTP_PREP_STATS_KEY_MIN,
                           NGX_HTTP_PREP_STATS_KEY_MAX);
        return NGX_CONF_ERROR;
    }

    if (ngx_file_access(&fi) & 0044) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "prep_stats_visitor_key \"%s\" can be read by "
                           "others than its owner (mode %04uo): chmod 600 "
                           "it", path.data, (ngx_uint_t) ngx_file_access(&fi));
    }

    h[0] = prep_siphash24(derive[0], secret, len);
    h[1] = prep_siphash24(derive[1], secret, len);
    ngx_explicit_memzero(secret, sizeof(secret));

    ngx_memcpy(mcf->key, h, sizeof(mcf->key));
    ngx_explicit_memzero(h, sizeof(h));

    /* names the key in the state file; never 0, which means "random" */
    mcf->key_id = prep_siphash24(mcf->key, "key id", 6) | 1;
    mcf->keyed = 1;

    return NGX_CONF_OK;
}
