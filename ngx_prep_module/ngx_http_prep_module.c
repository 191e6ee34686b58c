
/*
 * Copyright (C) the ngx_prep authors
 *
 * ngx_http_prep_module: serves the PREP "paquete de difusión" of the
 * current corte from an immutable memory-mapped snapshot.  This file holds
 * the module tables, the directives and the configuration; the work is
 * done in ngx_http_prep_{store,snapshot,handler,filter,control}.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_prep_module.h"


#define NGX_HTTP_PREP_RETRY_AFTER_MAX  86400


static ngx_int_t ngx_http_prep_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_prep_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_prep_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_prep_create_srv_conf(ngx_conf_t *cf);
static void *ngx_http_prep_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_prep_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_prep_store(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_prep_serve(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_prep_control(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_prep_fallback(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_prep_cache_control(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_prep_sendfile_min(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_prep_placeholder(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_prep_init_process(ngx_cycle_t *cycle);
static void ngx_http_prep_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_prep_commands[] = {

    { ngx_string("prep_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_prep_store,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("prep_serve"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_prep_serve,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("prep_control"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_prep_control,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("prep_fallback"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_prep_fallback,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("prep_cache_control"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_prep_cache_control,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("prep_placeholder"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_prep_placeholder,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("prep_retry_after"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_prep_loc_conf_t, retry_after),
      NULL },

    { ngx_string("prep_sendfile_min"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_prep_sendfile_min,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_prep_loc_conf_t, sendfile_min),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_prep_module_ctx = {
    ngx_http_prep_preconfiguration,        /* preconfiguration */
    ngx_http_prep_postconfiguration,       /* postconfiguration */

    ngx_http_prep_create_main_conf,        /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_prep_create_srv_conf,         /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_prep_create_loc_conf,         /* create location configuration */
    ngx_http_prep_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_prep_module = {
    NGX_MODULE_V1,
    &ngx_http_prep_module_ctx,             /* module context */
    ngx_http_prep_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_prep_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_prep_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static u_char  ngx_http_prep_default_placeholder[] =
"<!DOCTYPE html>" CRLF
"<html lang=\"es\">" CRLF
"<head>" CRLF
"<meta charset=\"utf-8\">" CRLF
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
CRLF
"<meta http-equiv=\"refresh\" content=\"60\">" CRLF
"<title>PREP: sin corte publicado</title>" CRLF
"</head>" CRLF
"<body>" CRLF
"<h1>A&uacute;n no hay un corte publicado</h1>" CRLF
"<p>Los resultados preliminares aparecer&aacute;n aqu&iacute; en cuanto se"
" publique el primer corte. Vuelva a intentarlo en unos minutos.</p>" CRLF
NGX_HTTP_PREP_WINDOW_MARK CRLF
"</body>" CRLF
"</html>" CRLF
;


static ngx_int_t
ngx_http_prep_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_prep_add_variables(cf);
}


static ngx_int_t
ngx_http_prep_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_prep_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_prep_module);

    if (pmcf->used && pmcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"prep_serve\" and \"prep_control\" need "
                           "\"prep_store\" in the http block");
        return NGX_ERROR;
    }

    return ngx_http_prep_filter_init(cf);
}


static void *
ngx_http_prep_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_prep_main_conf_t  *pmcf;

    pmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_prep_main_conf_t));
    if (pmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     pmcf->store = { 0, NULL };
     *     pmcf->shm_zone = NULL;
     *     pmcf->used = 0;
     */

    return pmcf;
}


static void *
ngx_http_prep_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_prep_srv_conf_t  *pscf;

    pscf = ngx_pcalloc(cf->pool, sizeof(ngx_http_prep_srv_conf_t));
    if (pscf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     pscf->stamp = 0;
     */

    return pscf;
}


static void *
ngx_http_prep_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_prep_loc_conf_t  *plcf;

    plcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_prep_loc_conf_t));
    if (plcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     plcf->fallback = { 0, NULL };
     *     plcf->placeholder = { 0, NULL };
     */

    plcf->retry_after = NGX_CONF_UNSET;
    plcf->sendfile_min = NGX_CONF_UNSET_SIZE;
    plcf->cache_control = NGX_CONF_UNSET_PTR;

    return plcf;
}


static char *
ngx_http_prep_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_prep_loc_conf_t *prev = parent;
    ngx_http_prep_loc_conf_t *conf = child;

    ngx_conf_merge_str_value(conf->fallback, prev->fallback, "");

    if (conf->placeholder.data == NULL) {
        conf->placeholder = prev->placeholder;
    }

    if (conf->placeholder.data == NULL) {
        conf->placeholder.data = ngx_http_prep_default_placeholder;
        conf->placeholder.len = sizeof(ngx_http_prep_default_placeholder) - 1;
    }

    ngx_conf_merge_sec_value(conf->retry_after, prev->retry_after, 60);

    if (conf->retry_after < 0
        || conf->retry_after > NGX_HTTP_PREP_RETRY_AFTER_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"prep_retry_after\" must be between 0 and "
                           "%d seconds", NGX_HTTP_PREP_RETRY_AFTER_MAX);
        return NGX_CONF_ERROR;
    }

    /* off by default: on loopback writev() from the mapping was faster
     * at every size (bench/RESULTS.md) */
    ngx_conf_merge_size_value(conf->sendfile_min, prev->sendfile_min, 0);

    /* like add_header: rules at one level replace the inherited ones */
    ngx_conf_merge_ptr_value(conf->cache_control, prev->cache_control, NULL);

    return NGX_CONF_OK;
}


static char *
ngx_http_prep_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_prep_main_conf_t *pmcf = conf;

    u_char                *p;
    size_t                 size;
    ngx_str_t             *value, path, name;
    ngx_file_info_t        fi;
    ngx_shm_zone_t        *shm_zone;
    ngx_http_prep_zone_t  *zone;

    if (pmcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (path.len == 0) {
        return "needs a directory";
    }

    if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    while (path.len > 1 && path.data[path.len - 1] == '/') {
        path.len--;
    }

    if (path.len > NGX_HTTP_PREP_STORE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"prep_store\" path is longer than %d bytes",
                           NGX_HTTP_PREP_STORE_MAX);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_prep_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, path.len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(p, path.data, path.len + 1);

    /*
     * prep-ingest may create the store after nginx starts, so a missing
     * directory is no error; but a typo here would answer 503 all night
     */

    if (ngx_file_info(p, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, ngx_errno,
                           "\"prep_store\" directory \"%s\" cannot be "
                           "read; nothing is served until it exists", p);

    } else if (!ngx_is_dir(&fi)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"prep_store\" \"%s\" is not a directory; "
                           "nothing is served until it is", p);
    }

    zone->store.data = p;
    zone->store.len = path.len;

    ngx_str_set(&name, NGX_HTTP_PREP_ZONE_NAME);

    /* the slab pool's own pages plus ours, rounded up */
    size = 8 * ngx_pagesize
           + ngx_align(sizeof(ngx_http_prep_shctx_t), ngx_pagesize)
           + NGX_HTTP_PREP_NOTICE_MAX + 2 * ngx_pagesize;

    shm_zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_prep_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared zone \"%V\" is already used", &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_prep_init_zone;
    shm_zone->data = zone;

    pmcf->store = zone->store;
    pmcf->shm_zone = shm_zone;

    return NGX_CONF_OK;
}


static char *
ngx_http_prep_serve(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_prep_srv_conf_t   *pscf;
    ngx_http_prep_main_conf_t  *pmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler in this location";
    }

    clcf->handler = ngx_http_prep_serve_handler;

    /* a location shares its server's srv_conf: stamp the whole server */
    pscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_prep_module);
    pscf->stamp = 1;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_prep_module);
    pmcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_prep_control(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_prep_main_conf_t  *pmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler in this location";
    }

    clcf->handler = ngx_http_prep_control_handler;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_prep_module);
    pmcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_prep_fallback(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_prep_loc_conf_t *plcf = conf;

    ngx_str_t  *value;

    if (plcf->fallback.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/') {
        return "must be a path starting with \"/\"";
    }

    if (value[1].len > PREP_SNAP_MAX_PATH) {
        return "is too long";
    }

    plcf->fallback = value[1];

    return NGX_CONF_OK;
}


/*
 * prep_sendfile_min SIZE | off: entries of SIZE bytes or more that the
 * snapshot put on a page boundary (from PREP_SNAP_PAGE_MIN) go out with
 * sendfile() where nginx's "sendfile" allows it
 */
static char *
ngx_http_prep_sendfile_min(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_prep_loc_conf_t *plcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (plcf->sendfile_min != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        plcf->sendfile_min = 0;
        return NGX_CONF_OK;
    }

    size = ngx_parse_size(&value[1]);

    if (size <= 0) {
        return "must be a size (\"64k\", \"1m\") or \"off\"";
    }

    if ((size_t) size < PREP_SNAP_PAGE_MIN) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"prep_sendfile_min\" below %uD bytes has the "
                           "effect of %uD: smaller entries are not page-"
                           "aligned in the snapshot",
                           (uint32_t) PREP_SNAP_PAGE_MIN,
                           (uint32_t) PREP_SNAP_PAGE_MIN);
    }

    plcf->sendfile_min = (size_t) size;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_prep_header_value_ok(ngx_str_t *value)
{
    u_char  *p, *last;

    last = value->data + value->len;

    for (p = value->data; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static char *
ngx_http_prep_cache_control(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_prep_loc_conf_t *plcf = conf;

    ngx_str_t                *value;
    ngx_uint_t                i;
    ngx_http_prep_cc_rule_t  *rule, *rules;

    value = cf->args->elts;

    if (plcf->cache_control == NGX_CONF_UNSET_PTR) {
        plcf->cache_control = ngx_array_create(cf->pool, 4,
                                              sizeof(ngx_http_prep_cc_rule_t));
        if (plcf->cache_control == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (cf->args->nelts == 2) {
        rules = plcf->cache_control->elts;

        for (i = 0; i < plcf->cache_control->nelts; i++) {
            if (rules[i].types == NULL) {
                return "without types is duplicate";
            }
        }
    }

    rule = ngx_array_push(plcf->cache_control);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    rule->types = NULL;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        ngx_str_null(&rule->value);

    } else {
        if (value[1].len == 0
            || ngx_http_prep_header_value_ok(&value[1]) != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid Cache-Control value \"%V\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }

        rule->value = value[1];
    }

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    return ngx_http_prep_conf_types(cf, &value[2], cf->args->nelts - 2,
                                    &rule->types);
}


/*
 * The content type list of a directive (prep_cache_control's types,
 * prep_stats_pages): "type/subtype", or "type/" and a star, without
 * parameters, as libprep's prep_count_type_t, matched by
 * prep_count_type_in().
 */

char *
ngx_http_prep_conf_types(ngx_conf_t *cf, ngx_str_t *value, ngx_uint_t n,
    ngx_array_t **types)
{
    ngx_uint_t          i;
    prep_count_type_t  *type;

    *types = ngx_array_create(cf->pool, n, sizeof(prep_count_type_t));
    if (*types == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < n; i++) {

        if (ngx_strlchr(value[i].data, value[i].data + value[i].len, '/')
            == NULL
            || ngx_strlchr(value[i].data, value[i].data + value[i].len, ';')
               != NULL
            || ngx_http_prep_header_value_ok(&value[i]) != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid content type \"%V\", expected "
                               "\"type/subtype\" or \"type/*\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        type = ngx_array_push(*types);
        if (type == NULL) {
            return NGX_CONF_ERROR;
        }

        type->type = (const char *) value[i].data;
        type->len = value[i].len;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_prep_placeholder(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_prep_loc_conf_t *plcf = conf;

    ngx_str_t  *value;

    if (plcf->placeholder.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return ngx_http_prep_conf_read_file(cf, &value[1],
                                        NGX_HTTP_PREP_PLACEHOLDER_MAX, NULL,
                                        &plcf->placeholder, NULL);
}


/*
 * A small regular file named in the configuration (relative to the
 * prefix), read whole at configuration time: into buf, which has room for
 * max + 1 bytes (a secret the caller wipes), or with buf NULL into memory
 * of cf->pool.  One byte more than the size is asked for, so that a file
 * that grew since fstat() is noticed.  Errors are logged; fi, if not
 * NULL, receives the file's metadata (its mode, for a secret).
 */
char *
ngx_http_prep_conf_read_file(ngx_conf_t *cf, ngx_str_t *name, size_t max,
    u_char *buf, ngx_str_t *out, ngx_file_info_t *fi)
{
    char             *rv;
    size_t            size;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t         path;
    ngx_file_info_t   info;

    path = *name;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", path.data);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;

    if (ngx_fd_info(fd, &info) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", path.data);
        goto done;
    }

    if (!ngx_is_file(&info)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" is not a regular file", path.data);
        goto done;
    }

    if (ngx_file_size(&info) > (off_t) max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" is larger than %uz bytes", path.data,
                           max);
        goto done;
    }

    size = (size_t) ngx_file_size(&info);

    if (buf == NULL) {
        buf = ngx_pnalloc(cf->pool, size + 1);
        if (buf == NULL) {
            goto done;
        }
    }

    n = ngx_read_fd(fd, buf, size + 1);

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%s\" failed", path.data);
        goto done;
    }

    if ((size_t) n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" changed while being read", path.data);
        goto done;
    }

    out->data = buf;
    out->len = size;

    if (fi) {
        *fi = info;
    }

    rv = NGX_CONF_OK;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%s\" failed", path.data);
    }

    return rv;
}


/*
 * A small file read whole at run time (the statistics state, the
 * suspension, notice and window files): NGX_OK and the file in *buf
 * (ngx_alloc(), the caller's to free), NGX_DECLINED when it does not
 * exist, NGX_ERROR (err says why, without the path) when it cannot be
 * read, is over max bytes or grew while being read.
 */

ngx_int_t
ngx_http_prep_read_file(u_char *path, size_t max, ngx_log_t *log,
    u_char **buf, size_t *len, u_char *err, size_t errlen)
{
    u_char           *p;
    size_t            size;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_err_t         e;
    ngx_int_t         rc;
    ngx_file_info_t   fi;

    *buf = NULL;
    *len = 0;

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        e = ngx_errno;

        if (e == NGX_ENOENT) {
            return NGX_DECLINED;
        }

        ngx_http_prep_error_text(err, errlen, e, ngx_open_file_n " failed");
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_http_prep_error_text(err, errlen, ngx_errno,
                                 ngx_fd_info_n " failed");
        goto done;
    }

    if (!ngx_is_file(&fi) || ngx_file_size(&fi) > (off_t) max) {
        ngx_http_prep_error_text(err, errlen, 0,
                                 "not a regular file of at most %uz bytes",
                                 max);
        goto done;
    }

    size = (size_t) ngx_file_size(&fi);

    /* one byte more: a file that grew since fstat() is noticed */
    p = ngx_alloc(size + 1, log);
    if (p == NULL) {
        ngx_http_prep_error_text(err, errlen, 0, "out of memory");
        goto done;
    }

    n = ngx_read_fd(fd, p, size + 1);

    if (n == -1) {
        ngx_http_prep_error_text(err, errlen, ngx_errno,
                                 ngx_read_fd_n " failed");
        ngx_free(p);
        goto done;
    }

    if ((size_t) n > size) {
        ngx_http_prep_error_text(err, errlen, 0, "changed while being read");
        ngx_free(p);
        goto done;
    }

    *buf = p;
    *len = (size_t) n;
    rc = NGX_OK;

done:

    (void) ngx_close_file(fd);

    return rc;
}


static ngx_int_t
ngx_http_prep_init_process(ngx_cycle_t *cycle)
{
    return ngx_http_prep_init_worker(cycle);
}


static void
ngx_http_prep_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_prep_exit_worker(cycle);
}
