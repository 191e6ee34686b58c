/*
 * Copyright (C) the ngx_prep authors
 *
 * The CSV annexes (RFC 4180, UTF-8, a header line, plain numbers: no
 * thousands separators, a dot for decimals, times in ISO 8601 with the
 * report's offset), so they load into any spreadsheet as they are.
 */


#include <stdio.h>
#include <string.h>

#include "report.h"


static void
rpt_csv_time(rpt_buf_t *b, rpt_t *r, int64_t ms)
{
    char  t[64];

    if (ms == 0) {
        return;
    }

    rpt_fmt_iso(t, sizeof(t), ms / 1000, r->tz);
    rpt_buf_puts(b, t);
}


static void
rpt_csv_series(rpt_buf_t *b, rpt_t *r, rpt_series_t *s, int days)
{
    char           t[64];
    size_t         i;
    rpt_period_t  *p;

    rpt_buf_puts(b, days ? "dia," : "hora,");
    rpt_buf_puts(b, "visitantes,visitas,paginas,hits,bytes,hits_robots,"
                 "bytes_robots\r\n");

    for (i = 0; i < s->n; i++) {
        p = &s->p[i];

        if (days) {
            rpt_fmt_day(t, sizeof(t), p->start, r->days_gmtoff);

        } else {
            rpt_fmt_iso(t, sizeof(t), p->start, r->tz);
        }

        rpt_buf_printf(b, "%s,%llu,%llu,%llu,%llu,%llu,%llu,%llu\r\n", t,
                       (unsigned long long) p->visitors,
                       (unsigned long long) p->visits,
                       (unsigned long long) p->pages,
                       (unsigned long long) p->hits,
                       (unsigned long long) p->bytes,
                       (unsigned long long) p->bot_hits,
                       (unsigned long long) p->bot_bytes);
    }
}


int
rpt_render_csv(rpt_t *r, const char *dir, char *err, size_t errlen)
{
    int        i;
    size_t     k;
    uint64_t   n;
    rpt_buf_t  b;

    rpt_buf_init(&b);
    rpt_csv_series(&b, r, &r->days, 1);
    if (rpt_buf_write(&b, dir, "visitas_por_dia.csv", err, errlen) != 0) {
        goto failed;
    }

    rpt_buf_free(&b);
    rpt_csv_series(&b, r, &r->hours, 0);
    if (rpt_buf_write(&b, dir, "visitas_por_hora.csv", err, errlen) != 0) {
        goto failed;
    }

    rpt_buf_free(&b);
    rpt_buf_puts(&b, "ruta,hits,paginas,bytes\r\n");

    for (k = 0; k < r->nrows; k++) {
        rpt_buf_csv(&b, r->rows[k].path);
        rpt_buf_printf(&b, ",%llu,%llu,%llu\r\n",
                       (unsigned long long) r->rows[k].hits,
                       (unsigned long long) r->rows[k].pages,
                       (unsigned long long) r->rows[k].bytes);
    }

    if (rpt_buf_write(&b, dir, "paginas.csv", err, errlen) != 0) {
        goto failed;
    }

    rpt_buf_free(&b);
    rpt_buf_puts(&b, "duracion,desde_s,hasta_s,visitas\r\n");

    for (i = 0, n = 0; i < RPT_HISTOGRAM; i++) {
        rpt_buf_csv(&b, rpt_histogram_labels[i]);

        if (i + 1 < RPT_HISTOGRAM) {
            rpt_buf_printf(&b, ",%llu,%llu,%llu\r\n",
                           (unsigned long long) rpt_histogram_ms[i] / 1000,
                           (unsigned long long) rpt_histogram_ms[i + 1]
                           / 1000,
                           (unsigned long long) r->histogram[i]);
        } else {
            rpt_buf_printf(&b, ",%llu,,%llu\r\n",
                           (unsigned long long) rpt_histogram_ms[i] / 1000,
                           (unsigned long long) r->histogram[i]);
        }

        n += r->histogram[i];
    }

    (void) n;

    if (rpt_buf_write(&b, dir, "permanencia.csv", err, errlen) != 0) {
        goto failed;
    }

    rpt_buf_free(&b);
    rpt_buf_puts(&b, "corte_id,hora_corte,llegada,en_linea,confirmado,"
                 "retraso_s,llegada_a_en_linea_s,origenes,archivo\r\n");

    for (k = 0; k < r->ncortes; k++) {
        rpt_corte_t  *c = &r->cortes[k];

        rpt_buf_csv(&b, c->corte_id);
        rpt_buf_puts(&b, ",");
        rpt_csv_time(&b, r, c->corte * 1000);
        rpt_buf_puts(&b, ",");
        rpt_csv_time(&b, r, c->arrival_ms);
        rpt_buf_puts(&b, ",");
        rpt_csv_time(&b, r, c->live_ms);
        rpt_buf_printf(&b, ",%s,%.3f,", c->live == 1 ? "si"
                       : c->live == 0 ? "no" : "",
                       (double) c->live_ms / 1000.0 - (double) c->corte);
        if (c->latency_s >= 0) {
            rpt_buf_printf(&b, "%.3f", c->latency_s);
        }
        rpt_buf_printf(&b, ",%d,", c->origins);
        rpt_buf_csv(&b, c->file);
        rpt_buf_puts(&b, "\r\n");
    }

    /* the missed ones follow, so the annex has every expected corte */
    for (k = 0; k < r->nmissed; k++) {
        rpt_buf_puts(&b, "sin_publicar,");
        rpt_csv_time(&b, r, r->missed[k].slot * 1000);
        rpt_buf_printf(&b, ",,,,,,%d consecutivos%s,\r\n", r->missed[k].run,
                       r->missed[k].run >= RPT_INTERRUPT_MISSED
                       ? " (regla de interrupcion)" : "");
    }

    if (rpt_buf_write(&b, dir, "cortes.csv", err, errlen) != 0) {
        goto failed;
    }

    rpt_buf_free(&b);
    rpt_buf_puts(&b, "inicio,fin,duracion_s,tipo,origen,incidencia,detalle,"
                 "afecto_publicacion\r\n");

    for (k = 0; k < r->nincidents; k++) {
        rpt_incident_t  *in = &r->incidents[k];

        rpt_csv_time(&b, r, in->start);
        rpt_buf_puts(&b, ",");
        rpt_csv_time(&b, r, in->end);
        rpt_buf_puts(&b, ",");
        if (in->end) {
            rpt_buf_printf(&b, "%.3f", (double) (in->end - in->start)
                                       / 1000.0);
        }
        rpt_buf_printf(&b, ",%s,", rpt_incident_kind(in->kind));
        rpt_buf_csv(&b, in->origin);
        rpt_buf_puts(&b, ",");
        rpt_buf_csv(&b, in->what);
        rpt_buf_puts(&b, ",");
        rpt_buf_csv(&b, in->detail);
        rpt_buf_printf(&b, ",%s\r\n", in->affected ? "si" : "no");
    }

    if (rpt_buf_write(&b, dir, "incidencias.csv", err, errlen) != 0) {
        goto failed;
    }

    rpt_buf_free(&b);
    return 0;

failed:

    rpt_buf_free(&b);
    return -1;
}
