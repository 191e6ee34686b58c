#!/usr/bin/env python3
"""A large nginx access log (combined format) for bench/logs.sh.

LINES lines with VISITORS distinct visitors (address + User-Agent), in
time order over DAYS days: each line picks a visitor (a few busy ones,
a long tail), a path (pages, assets, 304s, 404s) and a User-Agent that
is the visitor's own; about 2% of the lines are bots.  Deterministic.

    gen_logs.py LINES VISITORS DAYS OUT
"""

import random
import sys
import time

UAS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:%d.0) Gecko/20100101 Firefox/%d.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_%d like Mac OS X) AppleWebKit/"
    "605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/%d.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/1%02d.0.0.0 Safari/537.%d",
    "Mozilla/5.0 (Linux; Android 14; SM-A%03d) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/120.0.0.0 Mobile Safari/537.%d",
]
BOTS = ["Mozilla/5.0 (compatible; Googlebot/2.1; "
        "+http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; "
        "+http://www.bing.com/bingbot.htm)"]


def main():
    lines, visitors, days, out = (int(sys.argv[1]), int(sys.argv[2]),
                                  int(sys.argv[3]), sys.argv[4])
    rnd = random.Random(1)
    uas = [UAS[i % 4] % (i % 97, i % 89) for i in range(400)]
    paths = (["/", "/index.html"]
             + ["/presidencia/%d/index.html" % i for i in range(300)]
             + ["/data/casilla-%d.json" % i for i in range(600)]
             + ["/app.js", "/style.css", "/logo.png", "/mapa.svg"] * 100)
    start = 1780408800          # 2026-06-02T08:00:00-06:00
    span = days * 86400
    tz = -6 * 3600
    months = "JanFebMarAprMayJunJulAugSepOctNovDec"
    stamp = {}
    with open(out, "w", buffering=1 << 22) as f:
        chunk = []
        for i in range(lines):
            t = start + i * span // lines
            s = stamp.get(t)
            if s is None:
                g = time.gmtime(t + tz)
                s = "%02d/%s/%d:%02d:%02d:%02d -0600" % (
                    g.tm_mday, months[3 * g.tm_mon - 3:3 * g.tm_mon],
                    g.tm_year, g.tm_hour, g.tm_min, g.tm_sec)
                stamp.clear()
                stamp[t] = s
            r = rnd.random()
            if r < 0.02:
                ip = "66.249.%d.%d" % (i % 4, i % 200 + 1)
                ua = BOTS[i & 1]
            else:
                # visitors cluster in time, so visits have several lines
                v = (i * visitors // lines
                     + int(rnd.expovariate(1 / 50.0))) % visitors
                ip = "10.%d.%d.%d" % (v >> 16 & 255, v >> 8 & 255, v & 255)
                ua = uas[v % 400]
            p = paths[int(r * 100000) % len(paths)]
            st = 200
            if r > 0.97:
                st = 404
                p = "/missing/%d" % (i % 1000)
            elif r > 0.85:
                st = 304
            b = 0 if st == 304 else 200 + int(r * 90000)
            chunk.append('%s - - [%s] "GET %s HTTP/1.1" %d %d "-" "%s"\n'
                         % (ip, s, p, st, b, ua))
            if len(chunk) == 10000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))


main()
