/*
 * Copyright (C) the ngx_prep authors
 *
 * The incidents, from the events of every origin and from the 5-minute
 * buckets (downtime, added by downtime.c through rpt_incident_add()
 * before these, all sorted by start here).
 * Every event that is not routine (level warning or alert) ends up in
 * the table: the known ones with their meaning and duration, the rest
 * as they are, so nothing the daemon reported is left out.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"


static size_t  rpt_incidents_cap;


rpt_incident_t *
rpt_incident_add(rpt_t *r, rpt_inc_kind_e kind, int64_t start, int64_t end,
    const char *origin)
{
    rpt_incident_t  *n;

    if (r->nincidents == rpt_incidents_cap) {
        rpt_incidents_cap = rpt_incidents_cap ? rpt_incidents_cap * 2 : 64;
        n = realloc(r->incidents, rpt_incidents_cap * sizeof(*n));
        if (n == NULL) {
            return NULL;
        }
        r->incidents = n;
    }

    n = &r->incidents[r->nincidents++];
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->start = start;
    n->end = end;
    snprintf(n->origin, sizeof(n->origin), "%s", origin ? origin : "");
    return n;
}


static int
rpt_corte_published(rpt_t *r, const char *id)
{
    size_t  i;

    for (i = 0; i < r->ncortes; i++) {
        if (strcmp(r->cortes[i].corte_id, id) == 0) {
            return 1;
        }
    }

    return 0;
}


/* the first event at or after index i of source src named one of names */
static const rpt_event_t *
rpt_next_event(rpt_t *r, size_t i, int src, const char *const *names)
{
    size_t  k;

    for ( ; i < r->nevents; i++) {
        if (r->events[i].source != src) {
            continue;
        }

        for (k = 0; names[k]; k++) {
            if (strcmp(r->events[i].event, names[k]) == 0) {
                return &r->events[i];
            }
        }
    }

    return NULL;
}


static const char *
rpt_origin_of(rpt_t *r, const rpt_event_t *e)
{
    return r->sources[e->source].name;
}


static int
rpt_incidents_events(rpt_t *r)
{
    int                 n, ok, src;
    char                a[256], b[256], c[256], msg[512];
    double              v, w;
    size_t              i;
    int64_t             last_publish_ms;
    rpt_event_t        *e;
    rpt_incident_t     *inc;
    const rpt_event_t  *end, *prev;
    int                 seen_start[RPT_MAX_STATS + RPT_MAX_EVENTS + 1];
    int64_t             stale_open[RPT_MAX_STATS + RPT_MAX_EVENTS + 1];

    static const char *const  stale_end[] = { "published", "rollback",
                                              NULL };
    static const char *const  reload_end[] = { "reloaded", "published",
                                               NULL };
    /* docs/EVENTS.md: "suspend" begins it, "resume" lifts it */
    static const char *const  susp_end[] = { "resume", NULL };

    memset(seen_start, 0, sizeof(seen_start));
    memset(stale_open, 0, sizeof(stale_open));

    for (i = 0; i < r->nevents; i++) {
        e = &r->events[i];
        src = e->source;
        inc = NULL;
        msg[0] = '\0';
        rpt_event_str(e, "msg", msg, sizeof(msg));

        if (strcmp(e->event, "rejected") == 0) {
            rpt_event_str(e, "file", a, sizeof(a));
            rpt_event_str(e, "reason", b, sizeof(b));
            rpt_event_str(e, "corte_id", c, sizeof(c));
            inc = rpt_incident_add(r, RPT_INC_REJECTED, e->ms, e->ms,
                                   rpt_origin_of(r, e));
            if (inc == NULL) {
                return -1;
            }
            snprintf(inc->what, sizeof(inc->what), "Paquete rechazado: %s",
                     a);
            {
                char  m[512];

                rpt_event_str(e, "message", m, sizeof(m));
                snprintf(inc->detail, sizeof(inc->detail), "motivo %s: %s",
                         b, m[0] ? m : msg);
            }
            rpt_event_str(e, "corte_id", c, sizeof(c));
            /* it affected publication unless the corte came anyway */
            inc->affected = c[0] == '\0' || !rpt_corte_published(r, c);

        } else if (strcmp(e->event, "stale") == 0) {
            /* one incident per stale episode: its first alarm to the end */
            if (stale_open[src]) {
                continue;
            }

            last_publish_ms = e->ms;

            if (rpt_event_str(e, "last_publish", a, sizeof(a)) == 0) {
                int64_t  t;
                int      off;

                if (rpt_parse_iso(a, &t, &off) == 0) {
                    last_publish_ms = t * 1000;
                }
            }

            end = rpt_next_event(r, i + 1, src, stale_end);
            inc = rpt_incident_add(r, RPT_INC_STALE, last_publish_ms,
                                   end ? end->ms : 0, rpt_origin_of(r, e));
            if (inc == NULL) {
                return -1;
            }

            rpt_event_str(e, "live_corte_id", a, sizeof(a));
            n = 1;

            /* the count of alarms of the episode */
            {
                size_t  k;

                for (k = i + 1; k < r->nevents
                     && (end == NULL || &r->events[k] != end); k++)
                {
                    if (r->events[k].source == src
                        && strcmp(r->events[k].event, "stale") == 0)
                    {
                        n++;
                    }
                }
            }

            stale_open[src] = 1;
            snprintf(inc->what, sizeof(inc->what),
                     "Sin corte nuevo (alarma stale)");
            snprintf(inc->detail, sizeof(inc->detail),
                     "corte vigente %s; %d alarma%s; %s", a[0] ? a : "?", n,
                     n == 1 ? "" : "s",
                     end ? "terminó con un corte publicado"
                         : "sin terminar al final de los datos");
            inc->affected = 1;

        } else if (strcmp(e->event, "published") == 0
                   || strcmp(e->event, "rollback") == 0)
        {
            stale_open[src] = 0;

            if (strcmp(e->event, "rollback") == 0) {
                rpt_event_str(e, "from_corte_id", a, sizeof(a));
                rpt_event_str(e, "to_corte_id", b, sizeof(b));
                rpt_event_str(e, "reason", c, sizeof(c));
                inc = rpt_incident_add(r, RPT_INC_ROLLBACK, e->ms, e->ms,
                                       rpt_origin_of(r, e));
                if (inc == NULL) {
                    return -1;
                }
                snprintf(inc->what, sizeof(inc->what),
                         "Reversión de corte %s a %s", a, b);
                {
                    char  u[64], x[256];

                    rpt_event_str(e, "user", u, sizeof(u));
                    x[0] = '\0';
                    rpt_event_str(e, "reload_error", x, sizeof(x));

                    /* live false: nginx was not told, it kept the old */
                    snprintf(inc->detail, sizeof(inc->detail),
                             "por %s: %s%s%s", u[0] ? u : "?",
                             c[0] ? c : "sin motivo",
                             rpt_event_bool(e, "live") == 0
                             ? "; nginx no la sirvió: " : "",
                             rpt_event_bool(e, "live") == 0 ? x : "");
                }
                inc->affected = 1;
            }

            continue;

        } else if (strcmp(e->event, "hook") == 0) {
            ok = rpt_event_bool(e, "ok");
            if (ok != 0) {
                continue;
            }

            rpt_event_str(e, "corte_id", a, sizeof(a));
            v = 0;
            w = -1;
            rpt_event_num(e, "seconds", &v);
            rpt_event_num(e, "exit", &w);
            inc = rpt_incident_add(r, RPT_INC_PURGE,
                                   e->ms - (int64_t) (v * 1000), e->ms,
                                   rpt_origin_of(r, e));
            if (inc == NULL) {
                return -1;
            }
            snprintf(inc->what, sizeof(inc->what),
                     "Falló el hook after-publish (purga de la CDN) del "
                     "corte %s", a);
            rpt_event_str(e, "output", b, sizeof(b));
            snprintf(inc->detail, sizeof(inc->detail), "%s%s; %s",
                     rpt_event_bool(e, "timed_out") == 1 ? "tiempo agotado"
                     : "código de salida ",
                     rpt_event_bool(e, "timed_out") == 1 ? ""
                     : (w >= 0 ? (snprintf(c, sizeof(c), "%d", (int) w), c)
                               : "ninguno (señal)"),
                     b);
            /* the origin served the corte; the CDN may have kept the old */
            inc->affected = 1;

        } else if (strcmp(e->event, "hook_failed") == 0
                   || strcmp(e->event, "hook_superseded") == 0)
        {
            rpt_event_str(e, "corte_id", a, sizeof(a));
            inc = rpt_incident_add(r, RPT_INC_PURGE, e->ms, e->ms,
                                   rpt_origin_of(r, e));
            if (inc == NULL) {
                return -1;
            }
            snprintf(inc->what, sizeof(inc->what), "%s (corte %s)",
                     e->event[5] == 'f' ? "La purga de la CDN falló en "
                     "todos los intentos" : "Purga reemplazada por un "
                     "corte más nuevo", a);
            snprintf(inc->detail, sizeof(inc->detail), "%s", msg);
            inc->affected = e->event[5] == 'f';

        } else if (strcmp(e->event, "start") == 0) {
            if (!seen_start[src]++) {
                continue;
            }

            /* a restart: down since its stop, or its last event */
            prev = NULL;
            {
                size_t  k;

                for (k = i; k-- > 0; ) {
                    if (r->events[k].source == src) {
                        prev = &r->events[k];
                        break;
                    }
                }
            }

            inc = rpt_incident_add(r, RPT_INC_RESTART,
                                   prev ? prev->ms : e->ms, e->ms,
                                   rpt_origin_of(r, e));
            if (inc == NULL) {
                return -1;
            }
            v = 0;
            w = 0;
            rpt_event_num(e, "cleaned_staging", &v);
            rpt_event_num(e, "cleaned_tmp", &w);
            snprintf(inc->what, sizeof(inc->what),
                     "Reinicio de prep-ingest%s",
                     (prev && strcmp(prev->event, "stop") == 0)
                     ? " (detenido por el operador)"
                     : (v + w > 0 ? " tras una caída" : ""));
            snprintf(inc->detail, sizeof(inc->detail),
                     "desde el evento anterior (%s)%s; nginx siguió "
                     "sirviendo el corte vigente",
                     prev ? prev->event : "ninguno",
                     v + w > 0 ? "; restos de la ejecución interrumpida "
                     "limpiados" : "");
            inc->affected = 0;

        } else if (strcmp(e->event, "reload_failed") == 0) {
            end = rpt_next_event(r, i + 1, src, reload_end);
            inc = rpt_incident_add(r, RPT_INC_RELOAD, e->ms,
                                   end ? end->ms : 0, rpt_origin_of(r, e));
            if (inc == NULL) {
                return -1;
            }
            rpt_event_str(e, "corte_id", a, sizeof(a));
            snprintf(inc->what, sizeof(inc->what),
                     "nginx no cargó el corte %s", a);
            rpt_event_str(e, "error", b, sizeof(b));
            snprintf(inc->detail, sizeof(inc->detail), "%s", b);
            inc->affected = 1;

            /* its retries, up to the end, are the same incident */
            while (i + 1 < r->nevents
                   && (end == NULL || &r->events[i + 1] < end)
                   && !(r->events[i + 1].source == src
                        && strcmp(r->events[i + 1].level, "info") != 0
                        && strcmp(r->events[i + 1].event, "reload_failed")
                           != 0))
            {
                i++;
                if (r->events[i].source != src
                    || strcmp(r->events[i].event, "reload_failed") != 0)
                {
                    i--;
                    break;
                }
            }

        } else if (strcmp(e->event, "suspend") == 0) {
            end = rpt_next_event(r, i + 1, src, susp_end);
            inc = rpt_incident_add(r, RPT_INC_SUSPENSION, e->ms,
                                   end ? end->ms : 0, rpt_origin_of(r, e));
            if (inc == NULL) {
                return -1;
            }
            snprintf(inc->what, sizeof(inc->what),
                     "Suspensión de la publicación");
            rpt_event_str(e, "reason", a, sizeof(a));
            snprintf(inc->detail, sizeof(inc->detail), "%s%s%s", a,
                     a[0] ? "; " : "", msg);
            inc->affected = 1;

        } else if (strcmp(e->level, "info") != 0) {
            inc = rpt_incident_add(r, RPT_INC_OTHER, e->ms, e->ms,
                                   rpt_origin_of(r, e));
            if (inc == NULL) {
                return -1;
            }
            snprintf(inc->what, sizeof(inc->what), "Evento %s (%s)",
                     e->event, strcmp(e->level, "alert") == 0 ? "alerta"
                                                              : "aviso");
            snprintf(inc->detail, sizeof(inc->detail), "%s", msg);
            inc->affected = strcmp(e->event, "drop_missing") == 0;
        }
    }

    return 0;
}


static int
rpt_incident_cmp(const void *a, const void *b)
{
    const rpt_incident_t  *x = a, *y = b;

    return x->start < y->start ? -1 : (x->start > y->start);
}


int
rpt_incidents(rpt_t *r)
{
    size_t           i;
    rpt_incident_t  *inc;

    if (rpt_incidents_events(r) != 0) {
        return -1;
    }

    /* the call's interruption rule: three consecutive missed cortes */
    for (i = 0; i < r->nmissed; i++) {
        if (r->missed[i].run != RPT_INTERRUPT_MISSED) {
            continue;
        }

        inc = rpt_incident_add(r, RPT_INC_INTERRUPTION,
                               (r->missed[i].slot - 2 * RPT_CORTE_PERIOD)
                               * 1000, 0, "");
        if (inc == NULL) {
            return -1;
        }

        {
            size_t  k;

            for (k = i; k + 1 < r->nmissed
                 && r->missed[k + 1].run == r->missed[k].run + 1; k++)
            {
                /* the end of this run of missed cortes */
            }

            inc->end = (r->missed[k].slot + RPT_CORTE_PERIOD) * 1000;
            snprintf(inc->what, sizeof(inc->what),
                     "%d cortes consecutivos sin publicar (regla de "
                     "interrupción de la convocatoria)", r->missed[k].run);
        }

        snprintf(inc->detail, sizeof(inc->detail), "tres o más cortes "
                 "esperados cada 15 minutos no llegaron o no se "
                 "publicaron");
        inc->affected = 1;
    }

    /* none at all: no array, and qsort() wants one even for 0 members */
    if (r->nincidents > 1) {
        qsort(r->incidents, r->nincidents, sizeof(rpt_incident_t),
              rpt_incident_cmp);
    }
    return 0;
}
