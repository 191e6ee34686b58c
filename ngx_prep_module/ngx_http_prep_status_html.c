
/*
 * Copyright (C) the ngx_prep authors
 *
 * The prep_status location for a person: a browser (Accept: text/html,
 * or ?format=html) gets one self-contained page with the live corte and
 * its age, a red banner when it is stale or publication is suspended,
 * the last 24 hours of hits and visitors as inline SVG charts, the top
 * pages and the zone's usage.  It refreshes itself every 10 seconds with
 * a meta tag: no script, nothing fetched from elsewhere.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_prep_module.h"
#include "ngx_http_prep_stats.h"


/* 24 hours of 5-minute buckets */
#define NGX_HTTP_PREP_HTML_BUCKETS  (86400 / NGX_HTTP_PREP_STATS_BUCKET_SEC)
#define NGX_HTTP_PREP_HTML_TOP      15
/* a corte older than this is one missed update */
#define NGX_HTTP_PREP_HTML_STALE    900

#define NGX_HTTP_PREP_HTML_W        720
#define NGX_HTTP_PREP_HTML_H        110


typedef struct {
    ngx_http_prep_row_t  *row;
    u_char               *path;
} ngx_http_prep_html_row_t;


static int ngx_libc_cdecl ngx_http_prep_html_row_cmp(const void *one,
    const void *two);
static u_char *ngx_http_prep_html_escape(u_char *p, u_char *s, size_t len);
static u_char *ngx_http_prep_html_chart(u_char *p, const char *title,
    const char *color, uint64_t *v, ngx_uint_t n, time_t first);


static const char  ngx_http_prep_html_head[] =
"<!DOCTYPE html>\n<html lang=\"es\"><head><meta charset=\"utf-8\">\n"
"<meta http-equiv=\"refresh\" content=\"10\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<title>PREP: estado del servidor</title>\n<style>\n"
"body{font-family:DejaVu Sans,sans-serif;margin:1.5em auto;max-width:"
"760px;color:#222;padding:0 1em}\n"
"h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:1.2em 0 .4em}\n"
".banner{background:#c62828;color:#fff;padding:.8em 1em;font-weight:bold;"
"border-radius:4px;margin:.6em 0}\n"
".ok{background:#2e7d32;color:#fff;padding:.5em 1em;border-radius:4px}\n"
"table{border-collapse:collapse;width:100%}td,th{padding:.2em .5em;"
"border-bottom:1px solid #ddd;text-align:right}\n"
"td:first-child,th:first-child{text-align:left;word-break:break-all}\n"
".big{font-size:1.6em;font-weight:bold}.dim{color:#666}\n"
"svg{background:#fafafa;border:1px solid #ddd}\n"
"</style></head><body>\n";


ngx_int_t
ngx_http_prep_status_html_wanted(ngx_http_request_t *r)
{
    ngx_str_t         value;
    ngx_table_elt_t  *accept;

    if (ngx_http_arg(r, (u_char *) "format", 6, &value) == NGX_OK) {
        return value.len == 4 && ngx_strncmp(value.data, "html", 4) == 0;
    }

    /* a browser; a client that also names JSON keeps getting JSON */

    accept = r->headers_in.accept;

    return accept
           && ngx_strlcasestrn(accept->value.data,
                               accept->value.data + accept->value.len,
                               (u_char *) "text/html", 9 - 1)
              != NULL
           && ngx_strlcasestrn(accept->value.data,
                               accept->value.data + accept->value.len,
                               (u_char *) "application/json", 16 - 1)
              == NULL;
}


ngx_int_t
ngx_http_prep_status_html(ngx_http_request_t *r)
{
    u_char                           *p, *arena;
    size_t                            len;
    time_t                            now, age, first;
    uint64_t                          hits[NGX_HTTP_PREP_HTML_BUCKETS];
    uint64_t                          visitors[NGX_HTTP_PREP_HTML_BUCKETS];
    ngx_buf_t                        *b;
    ngx_uint_t                        i, n, nrows, used_pct;
    ngx_atomic_uint_t                 id, last, generation;
    ngx_http_prep_row_t              *rows;
    ngx_http_prep_live_t              live;
    ngx_http_prep_zone_t             *store;
    ngx_http_prep_period_t           *bk;
    ngx_http_prep_stats_sh_t         *sh;
    ngx_http_prep_html_row_t         *top;
    ngx_http_prep_stats_copy_t        copy;
    ngx_http_prep_main_conf_t        *pmcf;
    ngx_http_prep_stats_zone_t       *z;
    ngx_http_prep_suspension_t        sus;
    ngx_http_prep_stats_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_prep_stats_module);

    if (mcf->shm_zone == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    z = mcf->shm_zone->data;

    ngx_memzero(&copy, sizeof(copy));

    if (ngx_http_prep_stats_copy(z, &copy, 0, r->pool) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sh = copy.sh;
    now = ngx_time();

    ngx_memzero(&live, sizeof(live));
    ngx_memzero(&sus, sizeof(sus));
    generation = 0;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_prep_module);

    if (pmcf && pmcf->shm_zone) {
        store = pmcf->shm_zone->data;
        ngx_http_prep_read_live(store, &live, &generation);
        ngx_http_prep_suspension_read(store, &sus);
    }

    /* the last 24 hours, oldest first; a bucket not in the ring is 0 */

    last = ngx_http_prep_stats_bucket_id(now);
    first = (time_t) (last - NGX_HTTP_PREP_HTML_BUCKETS + 1)
            * NGX_HTTP_PREP_STATS_BUCKET_SEC;

    for (i = 0; i < NGX_HTTP_PREP_HTML_BUCKETS; i++) {
        id = last - NGX_HTTP_PREP_HTML_BUCKETS + 1 + i;
        bk = &sh->buckets[id % NGX_HTTP_PREP_STATS_BUCKETS];

        hits[i] = (bk->id == id) ? bk->hits : 0;
        visitors[i] = (bk->id == id) ? bk->visitors : 0;
    }

    /* the top pages */

    rows = ngx_http_prep_stats_rows(sh);
    arena = ngx_http_prep_stats_arena(sh);
    n = sh->nrows ? sh->nrows - 1 : 0;

    top = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_http_prep_html_row_t));
    if (top == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        top[i].row = &rows[i + 1];
        top[i].path = arena + rows[i + 1].path_off;
    }

    ngx_qsort(top, n, sizeof(ngx_http_prep_html_row_t),
              ngx_http_prep_html_row_cmp);

    nrows = ngx_min(n, NGX_HTTP_PREP_HTML_TOP);

    len = sizeof(ngx_http_prep_html_head) + 8192
          + 2 * (NGX_HTTP_PREP_HTML_BUCKETS * 96 + 2048)
          + 6 * NGX_HTTP_PREP_SUSPEND_REASON;

    for (i = 0; i < nrows; i++) {
        len += 6 * top[i].row->path_len + 160;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, ngx_http_prep_html_head,
                   sizeof(ngx_http_prep_html_head) - 1);

    p = ngx_cpymem(p, "<h1>PREP: estado del servidor</h1>\n",
                   sizeof("<h1>PREP: estado del servidor</h1>\n") - 1);

    age = live.name_len ? now - live.corte_time : 0;

    if (sus.suspended) {
        p = ngx_cpymem(p, "<div class=\"banner\">PUBLICACI&Oacute;N "
                       "SUSPENDIDA: cada ruta responde el aviso (503)",
                       sizeof("<div class=\"banner\">PUBLICACI&Oacute;N "
                              "SUSPENDIDA: cada ruta responde el aviso "
                              "(503)") - 1);

        if (sus.reason_len) {
            p = ngx_cpymem(p, ". Motivo: ", sizeof(". Motivo: ") - 1);
            p = ngx_http_prep_html_escape(p, sus.reason, sus.reason_len);
        }

        p = ngx_cpymem(p, "</div>\n", sizeof("</div>\n") - 1);
    }

    if (live.name_len == 0) {
        p = ngx_cpymem(p, "<div class=\"banner\">Sin corte publicado: el "
                       "sitio responde 503</div>\n",
                       sizeof("<div class=\"banner\">Sin corte publicado: "
                              "el sitio responde 503</div>\n") - 1);

    } else if (age > NGX_HTTP_PREP_HTML_STALE) {
        p = ngx_sprintf(p, "<div class=\"banner\">CORTE ATRASADO: el corte "
                        "vigente tiene m&aacute;s de %d minutos (%T "
                        "actualizaciones perdidas)</div>\n",
                        NGX_HTTP_PREP_HTML_STALE / 60,
                        age / NGX_HTTP_PREP_HTML_STALE);

    } else if (!sus.suspended) {
        p = ngx_cpymem(p, "<div class=\"ok\">Publicando</div>\n",
                       sizeof("<div class=\"ok\">Publicando</div>\n") - 1);
    }

    if (live.name_len) {
        p = ngx_sprintf(p, "<p>Corte vigente <span class=\"big\">%s</span>"
                        " <span class=\"dim\">(%s)</span><br>edad "
                        "<span class=\"big\">", live.corte_id, live.corte);

        if (age >= 86400) {
            p = ngx_sprintf(p, "%T d %T h", age / 86400, age % 86400 / 3600);

        } else if (age >= 3600) {
            p = ngx_sprintf(p, "%T h %02T min", age / 3600, age % 3600 / 60);

        } else {
            p = ngx_sprintf(p, "%T min %02T s", age / 60, age % 60);
        }

        p = ngx_sprintf(p, "</span> <span class=\"dim\">generaci&oacute;n "
                        "%uA</span></p>\n", generation);
    }

    p = ngx_sprintf(p, "<p>Totales: %uA accesos, %uA p&aacute;ginas, "
                    "%uA MB enviados, %uA visitas</p>\n", sh->c.hits,
                    sh->c.pages, sh->c.bytes / 1000000, sh->c.visits);

    p = ngx_http_prep_html_chart(p, "Accesos por 5 minutos, &uacute;ltimas "
                                 "24 horas", "#1565c0", hits,
                                 NGX_HTTP_PREP_HTML_BUCKETS, first);
    p = ngx_http_prep_html_chart(p, "Visitantes por 5 minutos, &uacute;ltimas"
                                 " 24 horas", "#6a1b9a", visitors,
                                 NGX_HTTP_PREP_HTML_BUCKETS, first);

    p = ngx_cpymem(p, "<h2>P&aacute;ginas m&aacute;s consultadas</h2>\n"
                   "<table><tr><th>ruta</th><th>accesos</th>"
                   "<th>p&aacute;ginas</th><th>bytes</th></tr>\n",
                   sizeof("<h2>P&aacute;ginas m&aacute;s consultadas</h2>\n"
                          "<table><tr><th>ruta</th><th>accesos</th>"
                          "<th>p&aacute;ginas</th><th>bytes</th></tr>\n")
                   - 1);

    for (i = 0; i < nrows; i++) {
        p = ngx_cpymem(p, "<tr><td>", sizeof("<tr><td>") - 1);
        p = ngx_http_prep_html_escape(p, top[i].path, top[i].row->path_len);
        p = ngx_sprintf(p, "</td><td>%uA</td><td>%uA</td><td>%uA</td>"
                        "</tr>\n", top[i].row->hits, top[i].row->pages,
                        top[i].row->bytes);
    }

    used_pct = copy.slab_size
               ? (copy.slab_size - copy.slab_free) * 100 / copy.slab_size
               : 0;

    p = ngx_sprintf(p, "</table>\n<h2>Zona de estad&iacute;sticas</h2>\n"
                    "<table><tr><td>memoria usada</td><td>%ui%% de %uz "
                    "KB</td></tr>\n<tr><td>sesiones vivas</td><td>%ui de "
                    "%ui</td></tr>\n<tr><td>rutas</td><td>%ui de %ui</td>"
                    "</tr>\n<tr><td>sesiones desalojadas</td><td>%uA</td>"
                    "</tr></table>\n<p class=\"dim\">Se actualiza cada 10 s. "
                    "JSON: ?format=json; Prometheus: ?format=prometheus."
                    "</p>\n</body></html>\n",
                    used_pct, copy.slab_size / 1024, copy.live,
                    sh->sessions_max, n, sh->paths_max, sh->c.evictions);

    b->last = p;

    return ngx_http_prep_send_uncacheable(r, NGX_HTTP_OK,
                                          "text/html; charset=utf-8", b);
}


/* by pages, then hits */

static int ngx_libc_cdecl
ngx_http_prep_html_row_cmp(const void *one, const void *two)
{
    ngx_http_prep_html_row_t  *a, *b;

    a = (ngx_http_prep_html_row_t *) one;
    b = (ngx_http_prep_html_row_t *) two;

    if (a->row->pages != b->row->pages) {
        return (a->row->pages > b->row->pages) ? -1 : 1;
    }

    if (a->row->hits != b->row->hits) {
        return (a->row->hits > b->row->hits) ? -1 : 1;
    }

    return 0;
}


/* at most 6 bytes out per byte in */

static u_char *
ngx_http_prep_html_escape(u_char *p, u_char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        switch (s[i]) {
        case '<':
            p = ngx_cpymem(p, "&lt;", 4);
            break;
        case '>':
            p = ngx_cpymem(p, "&gt;", 4);
            break;
        case '&':
            p = ngx_cpymem(p, "&amp;", 5);
            break;
        case '"':
            p = ngx_cpymem(p, "&quot;", 6);
            break;
        case '\'':
            p = ngx_cpymem(p, "&#39;", 5);
            break;
        default:
            *p++ = (s[i] < 0x20) ? '?' : s[i];
        }
    }

    return p;
}


/* one bar per bucket, scaled to the largest, hours marked every 6 */

static u_char *
ngx_http_prep_html_chart(u_char *p, const char *title, const char *color,
    uint64_t *v, ngx_uint_t n, time_t first)
{
    uint64_t    max;
    ngx_tm_t    tm;
    ngx_uint_t  i, h, x;

    max = 0;

    for (i = 0; i < n; i++) {
        max = ngx_max(max, v[i]);
    }

    p = ngx_sprintf(p, "<h2>%s</h2>\n<svg xmlns=\"http://www.w3.org/2000/"
                    "svg\" width=\"100%%\" viewBox=\"0 0 %d %d\" "
                    "role=\"img\"><title>%s</title>\n", title,
                    NGX_HTTP_PREP_HTML_W, NGX_HTTP_PREP_HTML_H + 16, title);

    for (i = 0; i < n; i++) {
        if (v[i] == 0 || max == 0) {
            continue;
        }

        h = (ngx_uint_t) (v[i] * NGX_HTTP_PREP_HTML_H / max);
        h = ngx_max(h, 1);
        x = i * NGX_HTTP_PREP_HTML_W / n;

        p = ngx_sprintf(p, "<rect x=\"%ui\" y=\"%ui\" width=\"2\" "
                        "height=\"%ui\" fill=\"%s\"/>", x,
                        NGX_HTTP_PREP_HTML_H - h, h, color);
    }

    /* an hour label every 6 hours, in the server's local time */

    for (i = 0; i < n; i += n / 4) {
        ngx_localtime(first + (time_t) i * NGX_HTTP_PREP_STATS_BUCKET_SEC,
                      &tm);
        x = i * NGX_HTTP_PREP_HTML_W / n;

        p = ngx_sprintf(p, "\n<text x=\"%ui\" y=\"%d\" font-size=\"11\" "
                        "fill=\"#666\">%02d:%02d</text>", x + 2,
                        NGX_HTTP_PREP_HTML_H + 13, tm.ngx_tm_hour,
                        tm.ngx_tm_min);
    }

    return ngx_sprintf(p, "\n<text x=\"%d\" y=\"12\" font-size=\"11\" "
                       "fill=\"#666\" text-anchor=\"end\">m&aacute;x %uL"
                       "</text></svg>\n", NGX_HTTP_PREP_HTML_W - 4, max);
}
