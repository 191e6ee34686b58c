/*
 * Copyright (C) the ngx_prep authors
 *
 * Inline SVG charts: bars (days, the time-on-site histogram) and a
 * series over time (hours of the week).  Plain shapes and text only,
 * with a <title> per chart and per bar, so they print, scale and are
 * read by screen readers; no script, no external font or image.
 */


#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report.h"


#define RPT_SVG_W   720
#define RPT_SVG_H   260
#define RPT_SVG_L   64          /* left margin, for the axis labels */
#define RPT_SVG_B   48          /* bottom margin */
#define RPT_SVG_T   28


/* a round top for the axis: 1, 2 or 5 times a power of ten */
static double
rpt_svg_nice(double max)
{
    double  p, f;

    if (max <= 0) {
        return 1;
    }

    p = pow(10, floor(log10(max)));
    f = max / p;

    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}


static void
rpt_svg_head(rpt_buf_t *b, const char *id, const char *title, double top,
    const char *unit)
{
    int     i;
    char    num[64];
    double  y, v;

    rpt_buf_printf(b, "<svg class=\"chart\" id=\"%s\" role=\"img\" "
                   "viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\""
                   "><title>", id, RPT_SVG_W, RPT_SVG_H);
    rpt_buf_html(b, title);
    rpt_buf_puts(b, "</title>");

    rpt_buf_printf(b, "<text x=\"%d\" y=\"16\" class=\"ct\">", RPT_SVG_L);
    rpt_buf_html(b, title);
    rpt_buf_puts(b, "</text>");

    for (i = 0; i <= 4; i++) {
        v = top * i / 4;
        y = RPT_SVG_H - RPT_SVG_B
            - (double) (RPT_SVG_H - RPT_SVG_B - RPT_SVG_T) * i / 4;

        rpt_buf_printf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
                       "class=\"%s\"/>", RPT_SVG_L, RPT_SVG_W - 8, y, y,
                       i ? "grid" : "axis");

        if (v >= 1e6) {
            rpt_fmt_dec(num, sizeof(num), v / 1e6, v / 1e6 < 10 ? 1 : 0);
            strcat(num, " M");

        } else if (v >= 1e4) {
            rpt_fmt_dec(num, sizeof(num), v / 1e3, 0);
            strcat(num, " k");

        } else {
            rpt_fmt_dec(num, sizeof(num), v, v < 10 && v != floor(v) ? 1 : 0);
        }

        rpt_buf_printf(b, "<text x=\"%d\" y=\"%.1f\" class=\"yl\">%s</text>",
                       RPT_SVG_L - 6, y + 4, num);
    }

    if (unit != NULL) {
        /* along the axis, clear of the tick labels and the title */
        rpt_buf_printf(b, "<text transform=\"rotate(-90)\" x=\"%d\" "
                       "y=\"12\" text-anchor=\"middle\" class=\"un\">",
                       -(RPT_SVG_T + (RPT_SVG_H - RPT_SVG_T - RPT_SVG_B) / 2));
        rpt_buf_html(b, unit);
        rpt_buf_puts(b, "</text>");
    }
}


void
rpt_svg_bars(rpt_buf_t *b, const char *id, const char *title,
    const char **labels, const double *values, size_t n, const char *unit)
{
    char    num[64];
    size_t  i, every;
    double  max, top, w, x, h, base;

    max = 0;

    for (i = 0; i < n; i++) {
        if (values[i] > max) {
            max = values[i];
        }
    }

    top = rpt_svg_nice(max);
    rpt_svg_head(b, id, title, top, unit);

    base = RPT_SVG_H - RPT_SVG_B;
    w = n ? (double) (RPT_SVG_W - 8 - RPT_SVG_L) / (double) n : 0;
    every = n > 16 ? (n + 15) / 16 : 1;

    for (i = 0; i < n; i++) {
        h = values[i] / top * (base - RPT_SVG_T);
        x = RPT_SVG_L + w * (double) i;

        rpt_buf_printf(b, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" "
                       "width=\"%.1f\" height=\"%.1f\"><title>", x + w * 0.15,
                       base - h, w * 0.7, h);
        rpt_buf_html(b, labels[i]);
        rpt_buf_printf(b, ": %s</title></rect>",
                       rpt_fmt_dec(num, sizeof(num), values[i],
                                   values[i] == floor(values[i]) ? 0 : 1));

        if (i % every == 0) {
            rpt_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"xl\">",
                           x + w / 2, base + 16);
            rpt_buf_html(b, labels[i]);
            rpt_buf_puts(b, "</text>");
        }
    }

    rpt_buf_puts(b, "</svg>\n");
}


/* a series of n points (hours), labels every label_every points */
void
rpt_svg_series(rpt_buf_t *b, const char *id, const char *title,
    const char **labels, const double *values, size_t n, size_t label_every,
    const char *unit)
{
    size_t  i;
    double  max, top, x, y, base, w;

    max = 0;

    for (i = 0; i < n; i++) {
        if (values[i] > max) {
            max = values[i];
        }
    }

    top = rpt_svg_nice(max);
    rpt_svg_head(b, id, title, top, unit);

    base = RPT_SVG_H - RPT_SVG_B;
    w = n > 1 ? (double) (RPT_SVG_W - 8 - RPT_SVG_L) / (double) (n - 1) : 0;

    rpt_buf_printf(b, "<path class=\"area\" d=\"M%d %.1f", RPT_SVG_L, base);

    for (i = 0; i < n; i++) {
        x = RPT_SVG_L + w * (double) i;
        y = base - values[i] / top * (base - RPT_SVG_T);
        rpt_buf_printf(b, " L%.1f %.1f", x, y);
    }

    rpt_buf_printf(b, " L%.1f %.1f Z\"/>",
                   RPT_SVG_L + w * (double) (n ? n - 1 : 0), base);

    rpt_buf_puts(b, "<path class=\"line\" d=\"");

    for (i = 0; i < n; i++) {
        x = RPT_SVG_L + w * (double) i;
        y = base - values[i] / top * (base - RPT_SVG_T);
        rpt_buf_printf(b, "%c%.1f %.1f ", i ? 'L' : 'M', x, y);
    }

    rpt_buf_puts(b, "\"/>");

    for (i = 0; label_every && i < n; i += label_every) {
        x = RPT_SVG_L + w * (double) i;
        rpt_buf_printf(b, "<line class=\"tick\" x1=\"%.1f\" x2=\"%.1f\" "
                       "y1=\"%.1f\" y2=\"%.1f\"/>", x, x, base, base + 4);
        rpt_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"xl\">", x,
                       base + 16);
        rpt_buf_html(b, labels[i]);
        rpt_buf_puts(b, "</text>");
    }

    rpt_buf_puts(b, "</svg>\n");
}
