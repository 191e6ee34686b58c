/*
 * Copyright (C) the ngx_prep authors
 *
 * memoria-tecnica.html: one self-contained file in Spanish, in the
 * call's order.  Inline CSS (with an A4 print stylesheet) and inline SVG
 * charts; no script, no external request, so it opens offline and
 * prints the same anywhere.  Every figure names its source.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_jsonget.h"
#include "report.h"


static const char  rpt_css[] =
"body{font-family:'DejaVu Sans',Arial,sans-serif;font-size:10.5pt;"
"color:#1b1b1b;max-width:190mm;margin:1.5em auto;padding:0 1em;"
"line-height:1.4}"
"h1{font-size:19pt;margin:.2em 0;color:#4a1a5c}"
"h2{font-size:14pt;border-bottom:2px solid #4a1a5c;margin-top:1.6em;"
"color:#4a1a5c;break-after:avoid}"
"h3{font-size:11.5pt;margin-bottom:.3em;break-after:avoid}"
"table{border-collapse:collapse;width:100%;margin:.5em 0 1em;"
"font-size:9pt}"
"th,td{border:1px solid #c9c2cf;padding:2px 5px;text-align:left;"
"vertical-align:top;overflow-wrap:anywhere}"
"th{background:#efe9f3}"
"td.n,th.n{text-align:right;white-space:nowrap;"
"font-variant-numeric:tabular-nums}"
"tr{break-inside:avoid}"
"p.src{font-size:8.5pt;color:#555;margin:.1em 0 .8em}"
".kpi{display:grid;grid-template-columns:repeat(3,1fr);gap:6px;"
"margin:.6em 0}"
".kpi div{border:1px solid #c9c2cf;padding:5px 7px;border-radius:3px}"
".kpi b{display:block;font-size:13pt;color:#4a1a5c}"
".kpi span{font-size:8.5pt;color:#444}"
".warn{background:#fff4d6;border-left:4px solid #c98a00;padding:4px 8px}"
".flag{color:#a40000;font-weight:bold}"
"svg.chart{width:100%;height:auto;margin:.4em 0;break-inside:avoid}"
"svg .bar{fill:#6b3a80}svg .line{fill:none;stroke:#4a1a5c;"
"stroke-width:1.2}svg .area{fill:#d9c7e3}"
"svg .grid{stroke:#e2dce6;stroke-width:1}svg .axis,svg .tick{"
"stroke:#777;stroke-width:1}"
"svg text{font-family:'DejaVu Sans',Arial,sans-serif;font-size:10px;"
"fill:#333}svg .yl{text-anchor:end}svg .xl{text-anchor:middle}"
"svg .ct{font-size:11px;font-weight:bold}svg .un{font-size:9px}"
"table.heat td{padding:1px 2px;font-size:7pt;text-align:right}"
"pre.notes{white-space:pre-wrap;font-family:inherit;border:1px solid"
" #c9c2cf;padding:6px}"
"code{font-size:8pt;word-break:break-all}"
"header p{margin:.1em 0}"
"@page{size:A4;margin:16mm 14mm}"
"@media print{body{max-width:none;margin:0;padding:0;font-size:9.5pt}"
"h2{break-before:auto}a{color:inherit;text-decoration:none}"
".kpi{grid-template-columns:repeat(3,1fr)}}";


static void
rpt_h_num(rpt_buf_t *b, uint64_t v)
{
    char  num[64];

    rpt_buf_puts(b, rpt_fmt_int(num, sizeof(num), v));
}


static void
rpt_h_src(rpt_buf_t *b, const char *what, const char *tail)
{
    rpt_buf_puts(b, "<p class=\"src\">Fuente: ");
    rpt_buf_html(b, what);
    rpt_buf_html(b, tail);
    rpt_buf_puts(b, "</p>\n");
}


static void
rpt_h_time(rpt_buf_t *b, rpt_t *r, int64_t ms)
{
    char  t[64];

    if (ms == 0) {
        rpt_buf_puts(b, "—");
        return;
    }

    rpt_fmt_time(t, sizeof(t), ms / 1000, r->tz);
    rpt_buf_puts(b, t);
}


static void
rpt_h_kpi(rpt_buf_t *b, const char *value, const char *label)
{
    rpt_buf_puts(b, "<div><b>");
    rpt_buf_html(b, value);
    rpt_buf_puts(b, "</b><span>");
    rpt_buf_html(b, label);
    rpt_buf_puts(b, "</span></div>");
}


/* a field of the difusor's form: a string, or an object's members */
static void
rpt_h_difusor_field(rpt_buf_t *b, rpt_t *r, const char *key,
    const char *label)
{
    int                i;
    char               path[128], val[1024];
    ingest_json_val_t  v;

    static const char  *members[] = { "nombre", "cargo", "correo", "email",
                                      "telefono", "url", NULL };

    if (ingest_json_get(r->difusor_json, r->difusor_len, key, &v) != 1) {
        return;
    }

    rpt_buf_puts(b, "<tr><th>");
    rpt_buf_html(b, label);
    rpt_buf_puts(b, "</th><td>");

    if (v.type == INGEST_JSON_STRING) {
        ingest_json_string(&v, val, sizeof(val));
        rpt_buf_html(b, val);

    } else if (v.type == INGEST_JSON_OBJECT) {
        for (i = 0; members[i]; i++) {
            snprintf(path, sizeof(path), "%s.%s", key, members[i]);

            if (ingest_json_get_string(r->difusor_json, r->difusor_len, path,
                                       val, sizeof(val)) >= 0)
            {
                rpt_buf_html(b, val);
                rpt_buf_puts(b, "<br>");
            }
        }
    }

    rpt_buf_puts(b, "</td></tr>\n");
}


static void
rpt_h_difusor(rpt_buf_t *b, rpt_t *r)
{
    rpt_buf_puts(b, "<h2 id=\"difusor\">1. Datos del difusor</h2>\n");

    if (r->difusor_json == NULL) {
        rpt_buf_puts(b, "<p class=\"warn\">No se dieron los datos del "
                     "difusor (opción --difusor).</p>\n");
        return;
    }

    if (ingest_json_get(r->difusor_json, r->difusor_len, "nombre",
                        &(ingest_json_val_t) { 0 }) == -1)
    {
        rpt_buf_puts(b, "<p class=\"warn\">El archivo de datos del difusor "
                     "no es JSON válido.</p>\n");
        return;
    }

    rpt_buf_puts(b, "<table>\n");
    rpt_h_difusor_field(b, r, "nombre", "Nombre o razón social");
    rpt_h_difusor_field(b, r, "sitio", "Sitio de publicación");
    rpt_h_difusor_field(b, r, "url", "Sitio de publicación");
    rpt_h_difusor_field(b, r, "contacto_legal", "Contacto legal");
    rpt_h_difusor_field(b, r, "contacto_tecnico", "Contacto técnico");
    rpt_buf_puts(b, "</table>\n");
}


static void
rpt_h_summary(rpt_buf_t *b, rpt_t *r)
{
    int     mb;
    char    v[128], w[64], src[2048], t1[64], t2[64];
    double  d;
    size_t  i;
    int     affected;

    rpt_fmt_time(t1, sizeof(t1), r->from, r->tz);
    rpt_fmt_time(t2, sizeof(t2), r->to, r->tz);

    rpt_buf_puts(b, "<h2 id=\"resumen\">2. Resumen</h2>\n<p>Periodo: del ");
    rpt_buf_puts(b, t1);
    rpt_buf_puts(b, " al ");
    rpt_buf_puts(b, t2);
    rpt_buf_printf(b, " (hora UTC%+d:%02d).</p>\n<div class=\"kpi\">",
                   r->tz / 60, abs(r->tz % 60));

    rpt_h_kpi(b, rpt_fmt_int(v, sizeof(v), r->visitors),
              "visitantes únicos (HyperLogLog)");
    rpt_h_kpi(b, rpt_fmt_int(v, sizeof(v), r->visits), "visitas");
    rpt_h_kpi(b, rpt_fmt_int(v, sizeof(v), r->pages), "páginas");
    rpt_h_kpi(b, rpt_fmt_int(v, sizeof(v), r->hits), "hits (solicitudes)");
    rpt_h_kpi(b, rpt_fmt_bytes(v, sizeof(v), r->bytes), "bytes enviados");

    d = rpt_mean_visit_s(r);
    if (d >= 0) {
        rpt_fmt_duration(v, sizeof(v), (int64_t) (d + 0.5));
    } else {
        snprintf(v, sizeof(v), "—");
    }
    rpt_h_kpi(b, v, "duración media de la visita");

    mb = rpt_median_bin(r);
    rpt_h_kpi(b, mb >= 0 ? rpt_histogram_labels[mb] : "—",
              "duración mediana de la visita (intervalo)");

    rpt_fmt_dec(v, sizeof(v), rpt_peak_per_minute(r), 1);
    rpt_h_kpi(b, v, "pico de solicitudes por minuto");

    d = rpt_availability(r);
    if (d >= 0) {
        rpt_fmt_dec(v, sizeof(v), d, 2);
        strcat(v, " %");
    } else {
        snprintf(v, sizeof(v), "—");
    }
    rpt_h_kpi(b, v, "disponibilidad");

    snprintf(v, sizeof(v), "%zu de %llu", r->ncortes,
             (unsigned long long) rpt_expected_cortes(r));
    rpt_h_kpi(b, v, "cortes publicados de los esperados");

    affected = 0;
    for (i = 0; i < r->nincidents; i++) {
        affected += r->incidents[i].affected;
    }

    snprintf(v, sizeof(v), "%zu", r->nincidents);
    snprintf(w, sizeof(w), "incidencias (%d afectaron la publicación)",
             affected);
    rpt_h_kpi(b, v, w);

    rpt_h_kpi(b, rpt_fmt_int(v, sizeof(v), r->bot_hits),
              "hits de robots (aparte)");
    rpt_buf_puts(b, "</div>\n");

    rpt_traffic_source(r, src, sizeof(src));
    rpt_buf_puts(b, "<p class=\"src\">Fuentes: tráfico (visitantes, "
                 "visitas, páginas, hits, bytes, duración, pico): ");
    rpt_buf_html(b, rpt_traffic_kind(r));
    rpt_buf_puts(b, " — ");
    rpt_buf_html(b, src);
    rpt_buf_puts(b, ". Disponibilidad: cubetas de 5 minutos de los "
                 "orígenes. Cortes e incidencias: events.jsonl de los "
                 "orígenes.</p>\n");

    if (r->peak_bucket_hits) {
        rpt_fmt_time(t1, sizeof(t1), r->peak_bucket_start, r->tz);
        rpt_buf_printf(b, "<p>El pico ocurrió en los 5 minutos que empiezan "
                       "el %s.</p>\n", t1);
    }

    if (r->have_logs) {
        rpt_buf_puts(b, "<p>Detrás de la CDN, los orígenes sólo ven lo que "
                     "la CDN no tenía en caché: ");
        rpt_h_num(b, r->origin_hits);
        rpt_buf_puts(b, " hits en los orígenes");

        if (r->origin_share >= 0) {
            rpt_buf_printf(b, " (%s %% de las solicitudes)",
                           rpt_fmt_dec(v, sizeof(v), r->origin_share, 1));
        }

        if (r->cache_hit_ratio >= 0) {
            rpt_buf_printf(b, "; tasa de aciertos de caché de la CDN: %s %%",
                           rpt_fmt_dec(v, sizeof(v), r->cache_hit_ratio, 1));
        }

        rpt_buf_puts(b, ".</p>\n");
    }

    /* every origin and its share */
    rpt_buf_puts(b, "<h3>Orígenes</h3>\n<table><tr><th>Origen</th>"
                 "<th class=\"n\">Hits</th><th class=\"n\">Parte</th>"
                 "<th class=\"n\">Páginas</th><th class=\"n\">Visitantes"
                 "</th><th class=\"n\">Disponibilidad</th></tr>\n");

    for (i = 0; i < (size_t) r->nsources; i++) {
        rpt_source_t  *s = &r->sources[i];
        uint64_t       total;

        if (s->kind != RPT_SRC_STATE && s->kind != RPT_SRC_URL) {
            continue;
        }

        total = r->have_logs ? r->origin_hits : r->hits;

        rpt_buf_puts(b, "<tr><td>");
        rpt_buf_html(b, s->name);
        rpt_buf_puts(b, "</td><td class=\"n\">");
        rpt_h_num(b, s->hits);
        rpt_buf_printf(b, "</td><td class=\"n\">%s %%</td><td class=\"n\">",
                       rpt_fmt_dec(v, sizeof(v), total
                                   ? 100.0 * (double) s->hits
                                     / (double) total : 0, 1));
        rpt_h_num(b, s->pages);
        rpt_buf_puts(b, "</td><td class=\"n\">");
        rpt_h_num(b, s->visitors);
        rpt_buf_printf(b, "</td><td class=\"n\">%s</td></tr>\n",
                       s->buckets_known
                       ? (rpt_fmt_dec(w, sizeof(w), 100.0
                                      * (double) s->buckets_serving
                                      / (double) s->buckets_known, 2),
                          strcat(w, " %"))
                       : "—");
    }

    rpt_buf_puts(b, "</table>\n");
    rpt_buf_puts(b, "<p class=\"src\">Los visitantes de varios orígenes se "
                 "unen por HyperLogLog: la suma de la columna puede ser "
                 "mayor que el total, porque un visitante que llegó a dos "
                 "orígenes es uno solo.</p>\n");
}


static void
rpt_h_days(rpt_buf_t *b, rpt_t *r)
{
    char          src[2048], **labels;
    double       *values;
    size_t        i;
    rpt_period_t *p;

    rpt_buf_puts(b, "<h2 id=\"por-dia\">3. Estadística por día y por hora"
                 "</h2>\n<h3>Por día</h3>\n");

    labels = calloc(r->days.n + 1, sizeof(char *));
    values = calloc(r->days.n + 1, sizeof(double));

    if (labels == NULL || values == NULL) {
        b->failed = 1;
        free(labels);
        free(values);
        return;
    }

    for (i = 0; i < r->days.n; i++) {
        labels[i] = malloc(16);
        if (labels[i] == NULL) {
            b->failed = 1;
            break;
        }
        rpt_fmt_day(src, sizeof(src), r->days.p[i].start, r->days_gmtoff);
        snprintf(labels[i], 16, "%.5s", src + 5);
        values[i] = (double) r->days.p[i].visitors;
    }

    if (!b->failed) {
        rpt_svg_bars(b, "chart-dias", "Visitantes únicos por día",
                     (const char **) labels, values, r->days.n,
                     "visitantes");

        for (i = 0; i < r->days.n; i++) {
            values[i] = (double) r->days.p[i].pages;
        }

        rpt_svg_bars(b, "chart-dias-paginas", "Páginas por día",
                     (const char **) labels, values, r->days.n, "páginas");
    }

    for (i = 0; i < r->days.n; i++) {
        free(labels[i]);
    }

    free(labels);
    free(values);

    rpt_buf_puts(b, "<table><tr><th>Día</th><th class=\"n\">Visitantes"
                 "</th><th class=\"n\">Visitas</th><th class=\"n\">Páginas"
                 "</th><th class=\"n\">Hits</th><th class=\"n\">Bytes</th>"
                 "<th class=\"n\">Hits de robots</th></tr>\n");

    for (i = 0; i < r->days.n; i++) {
        p = &r->days.p[i];
        rpt_fmt_day(src, sizeof(src), p->start, r->days_gmtoff);
        rpt_buf_printf(b, "<tr><td>%s</td><td class=\"n\">", src);
        rpt_h_num(b, p->visitors);
        rpt_buf_puts(b, "</td><td class=\"n\">");
        rpt_h_num(b, p->visits);
        rpt_buf_puts(b, "</td><td class=\"n\">");
        rpt_h_num(b, p->pages);
        rpt_buf_puts(b, "</td><td class=\"n\">");
        rpt_h_num(b, p->hits);
        rpt_buf_puts(b, "</td><td class=\"n\">");
        rpt_buf_puts(b, rpt_fmt_bytes(src, sizeof(src), p->bytes));
        rpt_buf_puts(b, "</td><td class=\"n\">");
        rpt_h_num(b, p->bot_hits);
        rpt_buf_puts(b, "</td></tr>\n");
    }

    rpt_buf_puts(b, "<tr><th>Total</th><td class=\"n\">");
    rpt_h_num(b, r->visitors);
    rpt_buf_puts(b, "</td><td class=\"n\">");
    rpt_h_num(b, r->visits);
    rpt_buf_puts(b, "</td><td class=\"n\">");
    rpt_h_num(b, r->pages);
    rpt_buf_puts(b, "</td><td class=\"n\">");
    rpt_h_num(b, r->hits);
    rpt_buf_puts(b, "</td><td class=\"n\">");
    rpt_buf_puts(b, rpt_fmt_bytes(src, sizeof(src), r->bytes));
    rpt_buf_puts(b, "</td><td class=\"n\">");
    rpt_h_num(b, r->bot_hits);
    rpt_buf_puts(b, "</td></tr></table>\n");

    rpt_traffic_source(r, src, sizeof(src));
    rpt_h_src(b, src, "; días de medianoche a medianoche; visitantes del total: "
              "unión HyperLogLog de los días (no la suma). Anexo "
              "visitas_por_dia.csv.");
}


static void
rpt_h_hours(rpt_buf_t *b, rpt_t *r)
{
    int           hh;
    char          t[64], src[2048], **labels;
    double       *values;
    size_t        i, j, every;
    int64_t       day;
    rpt_period_t *p;

    rpt_buf_puts(b, "<h3 id=\"por-hora\">Por hora</h3>\n");

    labels = calloc(r->hours.n + 1, sizeof(char *));
    values = calloc(r->hours.n + 1, sizeof(double));

    if (labels == NULL || values == NULL) {
        b->failed = 1;
        free(labels);
        free(values);
        return;
    }

    for (i = 0; i < r->hours.n; i++) {
        labels[i] = malloc(16);
        if (labels[i] == NULL) {
            b->failed = 1;
            break;
        }
        rpt_fmt_time(t, sizeof(t), r->hours.p[i].start, r->tz);
        snprintf(labels[i], 16, "%.5s", t);
        values[i] = (double) r->hours.p[i].hits;
    }

    every = 24;

    if (!b->failed) {
        rpt_svg_series(b, "chart-horas", "Hits por hora",
                       (const char **) labels, values, r->hours.n, every,
                       "hits");

        for (i = 0; i < r->hours.n; i++) {
            values[i] = (double) r->hours.p[i].visitors;
        }

        rpt_svg_series(b, "chart-horas-visitantes",
                       "Visitantes únicos por hora", (const char **) labels,
                       values, r->hours.n, every, "visitantes");
    }

    for (i = 0; i < r->hours.n; i++) {
        free(labels[i]);
    }

    free(labels);
    free(values);

    /* the table beside the chart: a day a row, an hour a column */
    rpt_buf_puts(b, "<table class=\"heat\"><tr><th>Día \\ hora</th>");

    for (hh = 0; hh < 24; hh++) {
        rpt_buf_printf(b, "<th class=\"n\">%02d</th>", hh);
    }

    rpt_buf_puts(b, "</tr>\n");

    for (i = 0; i < r->hours.n; ) {
        p = &r->hours.p[i];
        rpt_fmt_day(t, sizeof(t), p->start, r->tz);
        day = (p->start + (int64_t) r->tz * 60) / 86400;
        rpt_buf_printf(b, "<tr><td>%s</td>", t + 5);

        hh = (int) (((p->start + (int64_t) r->tz * 60) % 86400) / 3600);

        for (j = 0; j < (size_t) hh; j++) {
            rpt_buf_puts(b, "<td></td>");
        }

        for ( ; i < r->hours.n
              && (r->hours.p[i].start + (int64_t) r->tz * 60) / 86400 == day;
              i++)
        {
            rpt_buf_puts(b, "<td>");
            rpt_buf_printf(b, "%llu",
                           (unsigned long long) r->hours.p[i].hits);
            rpt_buf_puts(b, "</td>");
            hh++;
        }

        for ( ; hh < 24; hh++) {
            rpt_buf_puts(b, "<td></td>");
        }

        rpt_buf_puts(b, "</tr>\n");
    }

    rpt_buf_puts(b, "</table>\n");
    rpt_traffic_source(r, src, sizeof(src));
    rpt_h_src(b, src, "; hits por hora. Visitantes, visitas, páginas y bytes "
              "por hora en el anexo visitas_por_hora.csv.");
}


static void
rpt_h_pages(rpt_buf_t *b, rpt_t *r)
{
    char    src[2048];
    size_t  i, n;

    rpt_buf_puts(b, "<h2 id=\"paginas\">4. Páginas consultadas</h2>\n");
    n = r->nrows < RPT_TOP_PATHS ? r->nrows : RPT_TOP_PATHS;

    rpt_buf_printf(b, "<p>Las %zu rutas más solicitadas de %zu; todas en el "
                   "anexo paginas.csv.</p>\n<table><tr><th class=\"n\">#</th>"
                   "<th>Ruta</th><th class=\"n\">Hits</th><th class=\"n\">"
                   "Páginas</th><th class=\"n\">Bytes</th></tr>\n", n,
                   r->nrows);

    for (i = 0; i < n; i++) {
        rpt_buf_printf(b, "<tr><td class=\"n\">%zu</td><td><code>", i + 1);
        rpt_buf_html(b, r->rows[i].path);
        rpt_buf_puts(b, "</code></td><td class=\"n\">");
        rpt_h_num(b, r->rows[i].hits);
        rpt_buf_puts(b, "</td><td class=\"n\">");
        rpt_h_num(b, r->rows[i].pages);
        rpt_buf_puts(b, "</td><td class=\"n\">");
        rpt_buf_puts(b, rpt_fmt_bytes(src, sizeof(src), r->rows[i].bytes));
        rpt_buf_puts(b, "</td></tr>\n");
    }

    rpt_buf_puts(b, "</table>\n");
    rpt_traffic_source(r, src, sizeof(src));
    rpt_h_src(b, src, "; filas por ruta (totales de todo lo guardado por los "
              "orígenes, no sólo del periodo).");
}


static void
rpt_h_stay(rpt_buf_t *b, rpt_t *r)
{
    int       i;
    char      src[2048], v[64];
    double    values[RPT_HISTOGRAM], d;
    uint64_t  n;

    rpt_buf_puts(b, "<h2 id=\"permanencia\">5. Periodo de permanencia</h2>\n");

    n = 0;
    for (i = 0; i < RPT_HISTOGRAM; i++) {
        values[i] = (double) r->histogram[i];
        n += r->histogram[i];
    }

    rpt_svg_bars(b, "chart-permanencia", "Visitas por duración",
                 rpt_histogram_labels, values, RPT_HISTOGRAM, "visitas");

    rpt_buf_puts(b, "<table><tr><th>Duración</th><th class=\"n\">Visitas"
                 "</th><th class=\"n\">Parte</th></tr>\n");

    for (i = 0; i < RPT_HISTOGRAM; i++) {
        rpt_buf_printf(b, "<tr><td>%s</td><td class=\"n\">",
                       rpt_histogram_labels[i]);
        rpt_h_num(b, r->histogram[i]);
        rpt_buf_printf(b, "</td><td class=\"n\">%s %%</td></tr>\n",
                       rpt_fmt_dec(v, sizeof(v), n ? 100.0 * values[i]
                                   / (double) n : 0, 1));
    }

    rpt_buf_puts(b, "<tr><th>Total terminadas</th><td class=\"n\">");
    rpt_h_num(b, n);
    rpt_buf_puts(b, "</td><td></td></tr></table>\n");

    d = rpt_mean_visit_s(r);
    if (d >= 0) {
        rpt_fmt_duration(v, sizeof(v), (int64_t) (d + 0.5));
        rpt_buf_printf(b, "<p>Duración media: %s. Mediana: en el intervalo "
                       "%s.</p>\n", v,
                       rpt_median_bin(r) >= 0
                       ? rpt_histogram_labels[rpt_median_bin(r)] : "—");
    }

    rpt_traffic_source(r, src, sizeof(src));
    rpt_h_src(b, src, "; visitas terminadas (la duración es del primer al "
              "último hit). Anexo permanencia.csv.");
}


static void
rpt_h_cortes(rpt_buf_t *b, rpt_t *r)
{
    char    v[64];
    size_t  i;

    rpt_buf_puts(b, "<h2 id=\"cortes\">6. Cortes</h2>\n");

    if (r->ncortes == 0) {
        rpt_buf_puts(b, "<p class=\"warn\">No hay cortes publicados en los "
                     "eventos dados (opción --events).</p>\n");
        return;
    }

    rpt_buf_printf(b, "<p>Publicados: %zu. Esperados (uno cada 15 minutos "
                   "del ", r->ncortes);
    rpt_h_time(b, r, r->pub_start * 1000);
    rpt_buf_puts(b, " al ");
    rpt_h_time(b, r, r->pub_end * 1000);
    rpt_buf_printf(b, "): %llu. Sin publicar: %zu.",
                   (unsigned long long) rpt_expected_cortes(r), r->nmissed);

    if (r->max_missed_run >= RPT_INTERRUPT_MISSED) {
        rpt_buf_printf(b, " <span class=\"flag\">Hubo %d cortes "
                       "consecutivos sin publicar: la convocatoria prevé la "
                       "interrupción a partir de tres.</span>",
                       r->max_missed_run);
    }

    rpt_buf_puts(b, "</p>\n<table><tr><th>Corte</th><th>Hora del corte</th>"
                 "<th>Llegada</th><th>En línea</th><th class=\"n\">Retraso"
                 "</th><th class=\"n\">Llegada a en línea</th>"
                 "<th class=\"n\">Orígenes</th></tr>\n");

    for (i = 0; i < r->ncortes; i++) {
        rpt_corte_t  *c = &r->cortes[i];

        rpt_buf_puts(b, "<tr><td>");
        rpt_buf_html(b, c->corte_id);
        rpt_buf_puts(b, "</td><td>");
        rpt_h_time(b, r, c->corte * 1000);
        rpt_buf_puts(b, "</td><td>");
        rpt_h_time(b, r, c->arrival_ms);
        rpt_buf_puts(b, "</td><td>");
        rpt_h_time(b, r, c->live_ms);
        if (c->live == 0) {
            rpt_buf_puts(b, " <span class=\"flag\">(sin confirmar)</span>");
        }
        rpt_buf_printf(b, "</td><td class=\"n\">%s</td><td class=\"n\">%s"
                       " s</td><td class=\"n\">%d</td></tr>\n",
                       rpt_fmt_duration(v, sizeof(v),
                                        c->live_ms / 1000 - c->corte),
                       c->latency_s >= 0
                       ? rpt_fmt_dec(v + 32, 32, c->latency_s, 2) : "—",
                       c->origins);
    }

    rpt_buf_puts(b, "</table>\n");

    if (r->nmissed) {
        rpt_buf_puts(b, "<h3>Cortes esperados sin publicar</h3>\n<table><tr>"
                     "<th>Hora del corte esperado</th><th class=\"n\">"
                     "Consecutivos</th></tr>\n");

        for (i = 0; i < r->nmissed; i++) {
            rpt_buf_puts(b, "<tr><td>");
            rpt_h_time(b, r, r->missed[i].slot * 1000);
            rpt_buf_printf(b, "</td><td class=\"n\">%d%s</td></tr>\n",
                           r->missed[i].run,
                           r->missed[i].run >= RPT_INTERRUPT_MISSED
                           ? " <span class=\"flag\">regla de interrupción"
                             "</span>" : "");
        }

        rpt_buf_puts(b, "</table>\n");
    }

    rpt_h_src(b, "eventos published de los events.jsonl de los "
              "orígenes; retraso: de la hora del corte a en línea en el "
              "último origen. Anexo cortes.csv.", "");
}


static void
rpt_h_incidents(rpt_buf_t *b, rpt_t *r)
{
    char    v[64];
    size_t  i;

    rpt_buf_puts(b, "<h2 id=\"incidencias\">7. Reporte de incidencias</h2>\n");

    if (r->nincidents == 0) {
        rpt_buf_puts(b, "<p>Sin incidencias en los eventos y las cubetas de "
                     "disponibilidad dadas.</p>\n");

    } else {
        rpt_buf_puts(b, "<table><tr><th>Inicio</th><th>Fin</th>"
                     "<th class=\"n\">Duración</th><th>Origen</th>"
                     "<th>Incidencia</th><th>Detalle</th><th>¿Afectó la "
                     "publicación?</th></tr>\n");

        for (i = 0; i < r->nincidents; i++) {
            rpt_incident_t  *n = &r->incidents[i];

            rpt_buf_puts(b, "<tr><td>");
            rpt_h_time(b, r, n->start);
            rpt_buf_puts(b, "</td><td>");

            if (n->end) {
                rpt_h_time(b, r, n->end);
            } else {
                rpt_buf_puts(b, "sin terminar");
            }

            rpt_buf_printf(b, "</td><td class=\"n\">%s</td><td>",
                           n->end ? rpt_fmt_duration(v, sizeof(v),
                                        (n->end - n->start + 500) / 1000)
                                  : "—");
            rpt_buf_html(b, n->origin);
            rpt_buf_puts(b, "</td><td>");
            rpt_buf_html(b, n->what);
            rpt_buf_puts(b, "</td><td>");
            rpt_buf_html(b, n->detail);
            rpt_buf_printf(b, "</td><td>%s</td></tr>\n",
                           n->affected ? "sí" : "no");
        }

        rpt_buf_puts(b, "</table>\n");
    }

    rpt_h_src(b, "events.jsonl de los orígenes (rechazos, alarmas "
              "stale, hooks de purga, reversiones, reinicios, suspensión) y "
              "cubetas de 5 minutos de las estadísticas (caídas). Anexo "
              "incidencias.csv.", "");
}


static void
rpt_h_criterion(void *arg, const char *line)
{
    rpt_buf_t  *b = arg;

    rpt_buf_puts(b, "<li>");
    rpt_buf_html(b, line);
    rpt_buf_puts(b, "</li>\n");
}


static void
rpt_h_criteria(rpt_buf_t *b, rpt_t *r)
{
    rpt_buf_puts(b, "<h2 id=\"criterios\">8. Criterios de mejora y "
                 "sugerencias</h2>\n<h3>Derivados de los datos</h3>\n<ul>\n");
    rpt_criteria(r, rpt_h_criterion, b);
    rpt_buf_puts(b, "</ul>\n<h3>Observaciones del operador</h3>\n");

    if (r->notes != NULL) {
        rpt_buf_puts(b, "<pre class=\"notes\">");
        rpt_buf_html(b, r->notes);
        rpt_buf_puts(b, "</pre>\n");

    } else {
        rpt_buf_puts(b, "<p>No se dieron (opción --notes).</p>\n");
    }
}


static void
rpt_h_method(rpt_buf_t *b, rpt_t *r)
{
    int            i;
    char           v[64], t[64];
    rpt_source_t  *s;

    rpt_buf_puts(b, "<h2 id=\"metodologia\">9. Metodología</h2>\n<dl>\n");

    rpt_buf_puts(b, "<dt><b>Hit</b></dt><dd>Cada solicitud HTTP respondida "
                 "(cualquier método y estado), contada al terminar la "
                 "solicitud. Las solicitudes de robots se cuentan aparte y "
                 "no entran en hits, páginas, visitas ni visitantes.</dd>\n"
                 "<dt><b>Página</b></dt><dd>Un hit con estado 2xx cuya "
                 "respuesta es un documento (tipo de contenido text/html o "
                 "la lista prep_stats_pages; por la extensión cuando el "
                 "tipo falta); los recursos (JSON, CSS, imágenes) no son "
                 "páginas.</dd>\n"
                 "<dt><b>Visitante único</b></dt><dd>Una dirección IP más un "
                 "User-Agent en un día: el identificador es SipHash-2-4 de "
                 "ambos con una clave diaria secreta que cambia a la "
                 "medianoche (nadie puede revertirlo a una dirección). Por "
                 "eso quien vuelve otro día cuenta otra vez: los visitantes "
                 "del periodo son visitantes-día, unidos por HyperLogLog "
                 "(nunca sumados).</dd>\n");

    rpt_buf_printf(b, "<dt><b>HyperLogLog</b></dt><dd>Conteo aproximado de "
                   "distintos con precisión p = 14 por día y periodo (error "
                   "estándar relativo 1,04/&radic;2<sup>14</sup> = %s %%) y "
                   "menor por hora (documentada por el módulo). Los "
                   "registros de varios orígenes se unen registro a "
                   "registro (máximo), así un visitante visto por dos "
                   "orígenes es uno.</dd>\n",
                   rpt_fmt_dec(v, sizeof(v), r->visitors_error
                               ? 100 * r->visitors_error : 0.8125, 2));

    rpt_buf_puts(b, "<dt><b>Visita</b></dt><dd>Las solicitudes de un "
                 "visitante sin una pausa mayor que el tiempo de espera de "
                 "sesión (prep_stats_session_timeout del módulo, 30 minutos "
                 "por omisión); termina tras ese tiempo sin solicitudes. Su "
                 "duración va del primer al último hit (una visita de un "
                 "solo hit dura 0 s). Intervalos del histograma: 0-10 s, "
                 "10-30 s, 30-60 s, 1-3 min, 3-10 min, 10-30 min, 30 min o "
                 "más.</dd>\n"
                 "<dt><b>Disponibilidad</b></dt><dd>Cubetas de 5 minutos en "
                 "que al menos un origen servía, sobre las cubetas con datos "
                 "de algún origen dentro del periodo. Una cubeta sin registro "
                 "entre el arranque y el último guardado de un origen cuenta "
                 "como caída de ese origen: cada tramo de cubetas seguidas "
                 "sin servir es una incidencia, medida en cubetas enteras "
                 "(las cubetas en que nginx se detuvo y volvió a arrancar "
                 "cuentan como servidas). Afectó la publicación si en "
                 "alguna de sus cubetas ningún origen servía.</dd>\n"
                 "<dt><b>Pico por minuto</b></dt><dd>Hits del lapso de 5 "
                 "minutos más cargado, divididos entre 5.</dd>\n"
                 "<dt><b>Cortes esperados</b></dt><dd>Uno cada 15 minutos "
                 "desde el primer corte publicado hasta el último (o "
                 "--publication-end); se cumple con un corte cuya hora cae "
                 "en sus 15 minutos. Tres esperados seguidos sin publicar: "
                 "la regla de interrupción de la convocatoria.</dd>\n");

    rpt_buf_puts(b, "<dt><b>Robots</b></dt><dd>User-Agent que coincide con "
                 "la lista de robots ");
    rpt_buf_html(b, r->bots_name[0] ? r->bots_name
                 : "integrada del módulo (prep_stats_bots)");
    rpt_buf_puts(b, " o con la heurística «+http» (una URL en el "
                 "User-Agent).</dd>\n");

    rpt_buf_puts(b, "<dt><b>Fuentes</b></dt><dd>Tráfico: ");
    rpt_buf_html(b, rpt_traffic_kind(r));
    rpt_buf_puts(b, r->have_logs ? ". Con registros de la CDN, las cifras "
                 "de los orígenes describen sólo lo que la CDN no tenía en "
                 "caché; se usan para disponibilidad, cortes e "
                 "incidencias." : ". Detrás de una CDN estas cifras son las "
                 "de la CDN hacia el origen, no las del público: dar los "
                 "registros de la CDN con --log.");
    rpt_buf_puts(b, "</dd>\n");

    rpt_buf_printf(b, "<dt><b>Software</b></dt><dd>prep-report %s "
                   "(ngx_prep).</dd>\n</dl>\n", r->version);

    rpt_buf_puts(b, "<h3>Archivos de entrada</h3>\n<table><tr><th>Entrada"
                 "</th><th>Tipo</th><th class=\"n\">Bytes</th><th>SHA-256"
                 "</th></tr>\n");

    for (i = 0; i < r->nsources; i++) {
        s = &r->sources[i];
        rpt_buf_puts(b, "<tr><td><code>");
        rpt_buf_html(b, s->input);
        rpt_buf_printf(b, "</code></td><td>%s</td><td class=\"n\">",
                       s->kind == RPT_SRC_STATE ? "estado (archivo)"
                       : s->kind == RPT_SRC_URL ? "estado (URL)"
                       : s->kind == RPT_SRC_LOG ? "registro de acceso"
                       : s->kind == RPT_SRC_FILE ? "auxiliar de los "
                                                  "registros"
                       : "texto / eventos");
        rpt_h_num(b, s->size);
        rpt_buf_printf(b, "</td><td><code>%s</code></td></tr>\n", s->sha256);
    }

    rpt_buf_puts(b, "</table>\n");

    rpt_buf_puts(b, "<h3>Avisos: datos que faltan o no se pudieron "
                 "usar</h3>\n");

    if (r->nwarnings == 0) {
        rpt_buf_puts(b, "<p>Ninguno: todas las entradas se leyeron "
                     "completas.</p>\n");

    } else {
        rpt_buf_puts(b, "<ul class=\"warn\">\n");

        for (i = 0; i < r->nwarnings; i++) {
            rpt_buf_puts(b, "<li>");
            rpt_buf_html(b, r->warnings[i]);
            rpt_buf_puts(b, "</li>\n");
        }

        if (r->warnings_dropped) {
            rpt_buf_printf(b, "<li>y %d avisos más</li>\n",
                           r->warnings_dropped);
        }

        rpt_buf_puts(b, "</ul>\n");
    }

    rpt_fmt_iso(t, sizeof(t), (int64_t) time(NULL), r->tz);
    rpt_buf_printf(b, "<p class=\"src\">Generado el %s.</p>\n", t);
}


int
rpt_render_html(rpt_t *r, rpt_buf_t *b)
{
    char  name[1024];

    name[0] = '\0';

    if (r->difusor_json) {
        ingest_json_get_string(r->difusor_json, r->difusor_len, "nombre",
                               name, sizeof(name));
    }

    rpt_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"es\"><head><meta "
                 "charset=\"utf-8\"><meta name=\"viewport\" content=\""
                 "width=device-width, initial-scale=1\"><meta http-equiv="
                 "\"Content-Security-Policy\" content=\"default-src 'none'; "
                 "style-src 'unsafe-inline'\"><title>Memoria técnica");

    if (name[0]) {
        rpt_buf_puts(b, " — ");
        rpt_buf_html(b, name);
    }

    rpt_buf_puts(b, "</title><style>");
    rpt_buf_puts(b, rpt_css);
    rpt_buf_puts(b, "</style></head><body>\n<header><h1>Memoria técnica de "
                 "la difusión del PREP</h1>\n");

    if (name[0]) {
        rpt_buf_puts(b, "<p><b>");
        rpt_buf_html(b, name);
        rpt_buf_puts(b, "</b></p>\n");
    }

    rpt_buf_puts(b, "</header>\n");

    rpt_h_difusor(b, r);
    rpt_h_summary(b, r);
    rpt_h_days(b, r);
    rpt_h_hours(b, r);
    rpt_h_pages(b, r);
    rpt_h_stay(b, r);
    rpt_h_cortes(b, r);
    rpt_h_incidents(b, r);
    rpt_h_criteria(b, r);
    rpt_h_method(b, r);

    rpt_buf_puts(b, "</body></html>\n");
    return b->failed ? -1 : 0;
}
