/*
 * Copyright (C) the ngx_prep authors
 *
 * Figures derived from the model that more than one renderer shows: the
 * source of each kind of figure, the median visit bin, availability, the
 * peak, the criteria for improvement.  One place, so the HTML, the JSON
 * and the CSV can never disagree.
 */


#include <stdio.h>
#include <string.h>

#include "report.h"


const char *
rpt_incident_kind(rpt_inc_kind_e kind)
{
    static const char  *names[] = {
        "paquete_rechazado", "sin_corte_nuevo", "purga_cdn", "reversion",
        "reinicio", "caida", "suspension", "recarga_nginx", "interrupcion",
        "otro"
    };

    return (unsigned) kind < sizeof(names) / sizeof(names[0])
           ? names[kind] : "otro";
}


void
rpt_traffic_source(rpt_t *r, char *dst, size_t size)
{
    int     i, n;
    size_t  o;

    o = 0;
    n = 0;

    for (i = 0; i < r->nsources && o + 8 < size; i++) {
        if (!r->sources[i].traffic) {
            continue;
        }

        o += (size_t) snprintf(dst + o, size - o, "%s%s", n++ ? ", " : "",
                               r->sources[i].name);
    }

    if (n == 0) {
        snprintf(dst, size, "ninguna");
        return;
    }

    if (o >= size) {
        dst[size - 1] = '\0';
    }
}


const char *
rpt_traffic_kind(rpt_t *r)
{
    /* a log that says what the cache did is a CDN's (or a proxy's) */
    if (r->have_logs) {
        return r->cache_hit_ratio >= 0
               ? "registros de acceso de la CDN"
               : "registros de acceso del servidor web (sin datos de caché)";
    }

    return "estadísticas de los orígenes (módulo ngx_prep)";
}


/* the histogram bin of the median visit, or -1 without ended visits */
int
rpt_median_bin(rpt_t *r)
{
    int       i;
    uint64_t  n, half;

    n = 0;

    for (i = 0; i < RPT_HISTOGRAM; i++) {
        n += r->histogram[i];
    }

    if (n == 0) {
        return -1;
    }

    half = (n + 1) / 2;
    n = 0;

    for (i = 0; i < RPT_HISTOGRAM; i++) {
        n += r->histogram[i];

        if (n >= half) {
            return i;
        }
    }

    return RPT_HISTOGRAM - 1;
}


double
rpt_availability(rpt_t *r)
{
    return r->buckets_known ? 100.0 * (double) r->buckets_serving
                              / (double) r->buckets_known : -1;
}


double
rpt_mean_visit_s(rpt_t *r)
{
    return r->sessions ? (double) r->session_ms / (double) r->sessions
                         / 1000.0 : -1;
}


/* requests per minute of the busiest 5-minute bucket */
double
rpt_peak_per_minute(rpt_t *r)
{
    return (double) r->peak_bucket_hits / (RPT_BUCKET_SEC / 60.0);
}


uint64_t
rpt_expected_cortes(rpt_t *r)
{
    if (r->ncortes == 0) {
        return 0;
    }

    return (uint64_t) ((r->pub_end - r->pub_start) / RPT_CORTE_PERIOD) + 1;
}


/* criteria for improvement derived from the facts, one per line */
void
rpt_criteria(rpt_t *r, void (*emit)(void *, const char *), void *arg)
{
    int      n, late, rejected, stale, purge, restarts, down;
    char     line[1024], a[64], bb[64];
    size_t   i;
    double   peak_s, lat_max;

    rejected = stale = purge = restarts = down = 0;

    for (i = 0; i < r->nincidents; i++) {
        switch (r->incidents[i].kind) {
        case RPT_INC_REJECTED:  rejected++; break;
        case RPT_INC_STALE:     stale++;    break;
        case RPT_INC_PURGE:     purge++;    break;
        case RPT_INC_RESTART:   restarts++; break;
        case RPT_INC_DOWNTIME:  down++;     break;
        default:                            break;
        }
    }

    n = 0;
    peak_s = rpt_peak_per_minute(r) / 60.0;

    if (r->opts->capacity > 0) {
        snprintf(line, sizeof(line), "La carga pico fue de %s solicitudes "
                 "por segundo (promedio del lapso de 5 minutos más "
                 "cargado) frente a una capacidad medida de %s por "
                 "segundo por origen: %s.",
                 rpt_fmt_dec(a, sizeof(a), peak_s, 1),
                 rpt_fmt_dec(bb, sizeof(bb), r->opts->capacity, 0),
                 peak_s > r->opts->capacity * 0.5
                 ? "el margen es menor que el doble; para la próxima "
                   "elección conviene más capacidad o más caché en la CDN"
                 : "hay margen de más del doble");
        emit(arg, line);
        n++;

    } else {
        snprintf(line, sizeof(line), "La carga pico fue de %s solicitudes "
                 "por segundo (promedio del lapso de 5 minutos más "
                 "cargado). Conviene medir la capacidad de cada origen "
                 "(bench/) y compararla con este pico (opción --capacity).",
                 rpt_fmt_dec(a, sizeof(a), peak_s, 1));
        emit(arg, line);
        n++;
    }

    late = 0;
    lat_max = 0;

    for (i = 0; i < r->ncortes; i++) {
        if (r->cortes[i].arrival_ms
            && r->cortes[i].arrival_ms / 1000 - r->cortes[i].corte > 600)
        {
            late++;
        }

        if (r->cortes[i].latency_s > lat_max) {
            lat_max = r->cortes[i].latency_s;
        }
    }

    if (late > 0) {
        snprintf(line, sizeof(line), "%d cortes llegaron más de 10 minutos "
                 "después de su hora de corte: plantearlo al Instituto "
                 "(entrega de paquetes).", late);
        emit(arg, line);
        n++;
    }

    if (r->ncortes > 0) {
        snprintf(line, sizeof(line), "El tiempo máximo desde la llegada de "
                 "un paquete hasta su publicación fue de %s s.",
                 rpt_fmt_dec(a, sizeof(a), lat_max, 1));
        emit(arg, line);
        n++;
    }

    if (rejected > 0) {
        snprintf(line, sizeof(line), "%d paquetes fueron rechazados (ver "
                 "motivos en las incidencias): plantear al Instituto los "
                 "que son defectos del paquete.", rejected);
        emit(arg, line);
        n++;
    }

    if (r->nmissed > 0) {
        snprintf(line, sizeof(line), "%zu cortes esperados no se "
                 "publicaron (racha máxima: %d)%s.", r->nmissed,
                 r->max_missed_run, r->max_missed_run >= RPT_INTERRUPT_MISSED
                 ? "; se alcanzó la regla de interrupción de la "
                   "convocatoria" : "");
        emit(arg, line);
        n++;
    }

    if (stale > 0) {
        snprintf(line, sizeof(line), "Hubo %d periodos sin corte nuevo con "
                 "alarma: revisar el aviso al operador y el contacto con "
                 "el Instituto durante la noche.", stale);
        emit(arg, line);
        n++;
    }

    if (purge > 0) {
        snprintf(line, sizeof(line), "Fallaron %d purgas de la CDN: revisar "
                 "credenciales, límites de la API y reintentos.", purge);
        emit(arg, line);
        n++;
    }

    if (down > 0) {
        snprintf(line, sizeof(line), "Hubo %d lapsos en que un origen no "
                 "sirvió: revisar su causa y la conmutación de la CDN a "
                 "los demás orígenes.", down);
        emit(arg, line);
        n++;
    }

    if (restarts > 0) {
        snprintf(line, sizeof(line), "prep-ingest se reinició %d veces; "
                 "nginx siguió sirviendo el corte vigente.", restarts);
        emit(arg, line);
        n++;
    }

    if (r->bot_hits > 0 && r->hits > 0) {
        snprintf(line, sizeof(line), "Los robots hicieron %s %% de las "
                 "solicitudes.", rpt_fmt_dec(a, sizeof(a),
                 100.0 * (double) r->bot_hits
                 / (double) (r->hits + r->bot_hits), 1));
        emit(arg, line);
        n++;
    }

    if (n == 0) {
        emit(arg, "Sin observaciones derivadas de los datos.");
    }
}
