"""prep-report end to end (issue 9): real traffic through two nginx
origins with the statistics module, their states taken as a file and
live from ?format=state, scripted events.jsonl, and every figure of
memoria-tecnica.json and of the CSV annexes checked against what the
test computes itself from the requests it sent (as nginx logged them);
then bad input: clear errors naming the input, exit status 1 (2 usage).
"""

import csv
import datetime
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import prep_harness as ph
from test_stats_v2 import dump_live


pytestmark = pytest.mark.needs_module

REPORT = ph.BUILD / "asan" / "prep-report"
INDEX = "/index.html"
AVANCE = "/assets/ayuntamientos/avanceEntidad.json"
MISSING = "/no-such-page.html"
PROBE = "/__harness_probe__"
PAGES = (INDEX, AVANCE)

LOG_LINE = re.compile(r'^(\S+) (\S+) (\d+) (\d+) "\w+" "(.*?)" \S+ \S+ '
                      r'"(.*)"$')


def run_report(*args, timeout=120):
    if not REPORT.exists():
        pytest.fail("%s is missing: make asan" % REPORT, pytrace=False)
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
    p = subprocess.run([str(REPORT)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout,
                       env=env)
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, \
        p.stderr
    return p


def logged(inst):
    """The requests as nginx logged them: (addr, ms, status, bytes, uri,
    ua)."""
    out = []
    for line in inst.access_lines(inst.prefix / "stats.log"):
        m = LOG_LINE.match(line)
        assert m, line
        if m.group(5) == "/status":
            continue            # not counted: no prep_serve there
        out.append((m.group(1), int(float(m.group(2)) * 1000),
                    int(m.group(3)), int(m.group(4)), m.group(5),
                    m.group(6)))
    return out


def expected(reqs, timeout_ms):
    """The figures, computed here from the requests."""
    e = dict(hits=0, pages=0, bytes=0, rows={}, visitors=set(),
             visits=0, durations=[])
    last = {}
    for addr, ms, status, size, uri, ua in sorted(reqs, key=lambda r: r[1]):
        e["hits"] += 1
        e["bytes"] += size
        page = uri in PAGES and (200 <= status < 300 or status == 304)
        e["pages"] += page
        key = uri if uri in PAGES else "(otras)"
        row = e["rows"].setdefault(key, [0, 0, 0])
        row[0] += 1
        row[1] += page
        row[2] += size
        who = (addr, ua)
        e["visitors"].add(who)
        if who not in last or ms - last[who][1] > timeout_ms:
            if who in last:
                e["durations"].append(last[who][1] - last[who][0])
            e["visits"] += 1
            last[who] = [ms, ms]
        else:
            last[who][1] = ms
    e["open"] = [v[1] - v[0] for v in last.values()]
    return e


BINS = (10000, 30000, 60000, 180000, 600000, 1800000)


def histogram(durations):
    h = [0] * 7
    for d in durations:
        h[next((i for i, b in enumerate(BINS) if d < b), 6)] += 1
    return h


def send(inst, visitors, ua="rfig"):
    sent = 0
    for n in visitors:
        h = {"X-Forwarded-For": "10.77.0.%d" % n, "User-Agent": ua}
        for uri, want in ((INDEX, 200), (AVANCE, 200), (MISSING, 404)):
            if uri == MISSING and n % 3:
                continue
            r = inst.get(uri, h)
            assert r.status == want, (uri, r.status)
            sent += 1
    return sent


def iso(t):
    return datetime.datetime.fromtimestamp(
        t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def corte_iso(t):
    return datetime.datetime.fromtimestamp(
        t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def corte_id(t):
    return datetime.datetime.fromtimestamp(
        t, datetime.timezone.utc).strftime("%Y%m%d_%H%M")


def events_file(path, base):
    """base: a corte time (a multiple of 900).  Cortes at base, +15, +30
    min, then +75 min (three missed between); a rejection, stale alarms,
    a restart, a failed purge hook, a suspension of 10 minutes and a
    rollback nginx was not told of."""
    ev = []

    def add(t, event, level="info", **f):
        ev.append(dict(time=iso(t), event=event, level=level, pid=1, **f))

    add(base - 60, "start", version="t")
    for k in (0, 1, 2, 7):
        c = base + 900 * k
        add(c + 40, "published", file="p%d.tgz" % k, corte_id=corte_id(c),
            corte=corte_iso(c), arrival=iso(c + 30), live=True,
            latency_s=10.0)
    add(base + 905, "rejected", "warning", file="bad.tgz",
        reason="checksum", message="sidecar <b>mismatch</b>",
        corte_id="20990101_0000")
    add(base + 1800 + 40 + 1200, "stale", "warning",
        live_corte_id=corte_id(base + 1800),
        last_publish=iso(base + 1800 + 40), since_s=1200)
    add(base + 1800 + 40 + 2100, "stale", "alert",
        live_corte_id=corte_id(base + 1800),
        last_publish=iso(base + 1800 + 40), since_s=2100)
    add(base + 1800 + 40 + 2400, "stop", signal="TERM")
    add(base + 1800 + 40 + 2500, "start", version="t")
    add(base + 6300 + 50, "hook", "warning", corte_id=corte_id(base + 6300),
        ok=False, exit=7, seconds=2.5, output="purge refused")
    add(base + 7000, "suspend", "warning", source="command",
        reason="orden del instituto")
    add(base + 7600, "resume", source="command", reason="fin")
    # prep-ingest rollback's line (ingest/cli/cmd_rollback.c), nginx not
    # told: its control socket refused
    add(base + 7700, "rollback", "warning", **{
        "from": "s7", "from_corte_id": corte_id(base + 6300), "to": "s2",
        "to_corte_id": corte_id(base + 1800), "corte": corte_iso(base + 1800),
        "uid": 0, "user": "operador", "reason": "cifras erróneas",
        "live": False, "reload_error": "connect: Connection refused",
        "msg": "rolled back"})
    with open(path, "w") as f:
        for e in ev:
            f.write(json.dumps(e) + "\n")
    return ev


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_two_origins_every_figure(stats_nginx, stats, tmp_path,
                                  monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    timeout = 1000
    a = stats_nginx(timeout="1s", interval="1h")
    # the same day's visitor key on both origins: b starts from a's state
    a.quit()
    copied_ms = int(time.time() * 1000)
    b = stats_nginx(timeout="1s", interval="1h", start=False)
    shutil.copy(a.prefix / "stats.state", b.prefix / "stats.state")
    a.start()
    b.start()

    sa = send(a, range(0, 20))
    sb = send(b, range(10, 30))
    stats.wait_hits(a, sa)
    stats.wait_hits(b, sb)
    stats.wait_idle(a)
    stats.wait_idle(b)

    live_b = "http://127.0.0.1:%d/status?format=state" % b.port
    state_b = b.get("/status?format=state")
    assert state_b.status == 200
    a.quit()                       # its file: everything counted
    ra, rb = logged(a), logged(b)
    # b's state holds the probes of a's first start, counted by a too
    rb_all = rb + [r for r in ra if r[4] == PROBE and r[1] <= copied_ms]
    ea, eb = expected(ra, timeout), expected(rb_all, timeout)
    assert sum(1 for r in ra if r[4] != PROBE) == sa
    assert sum(1 for r in rb if r[4] != PROBE) == sb

    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    base = now - now % 900 - 4 * 3600
    ev_a = tmp_path / "a-events.jsonl"
    ev_b = tmp_path / "b-events.jsonl"
    events_file(ev_a, base)
    ev_b.write_text(json.dumps(dict(
        time=iso(base + 50), event="published", level="info",
        corte_id=corte_id(base), corte=corte_iso(base),
        arrival=iso(base + 30), live=True, latency_s=20.0)) + "\n"
        + "this is not JSON\n")
    difusor = tmp_path / "difusor.json"
    difusor.write_text(json.dumps(dict(
        nombre="Diario <b>Ejemplo</b>", sitio="https://prep.example",
        contacto_legal="Ana", contacto_tecnico="Luis")))
    notes = tmp_path / "notas.txt"
    notes.write_text("Criterio <script>alert(1)</script> & más\n")
    out = tmp_path / "out"
    day0 = now - now % 86400
    p = run_report("--stats", a.prefix / "stats.state", "--stats", live_b,
                   "--events", ev_a, "--events", ev_b,
                   "--difusor", difusor, "--notes", notes,
                   "--from", corte_iso(base), "--to",
                   corte_iso(day0 + 86400), "--tz", "+00:00",
                   "--out", out)
    assert p.returncode == 0, p.stderr
    j = json.loads((out / "memoria-tecnica.json").read_text())
    s = j["summary"]

    # sums over the origins
    assert s["hits"] == ea["hits"] + eb["hits"]
    assert s["pages"] == ea["pages"] + eb["pages"]
    assert s["bytes"] == ea["bytes"] + eb["bytes"]
    assert s["visits"] == ea["visits"] + eb["visits"]
    assert s["bot_hits"] == 0
    assert s["status_classes"]["4xx"] == sum(
        1 for r in ra + rb_all if r[2] == 404)
    # ended visits: every one, the idle wait ended them all
    dur = ea["durations"] + ea["open"] + eb["durations"] + eb["open"]
    assert s["visits_ended"] == len(dur)
    got_h = [h["visits"] for h in j["histogram"]]
    assert sum(got_h) == len(dur)
    assert got_h == histogram(dur)

    # visitors: the union, never the sum (the overlap 10..19 and the
    # probe's client are one visitor each)
    union = len(ea["visitors"] | eb["visitors"])
    assert union < len(ea["visitors"]) + len(eb["visitors"])
    assert abs(s["visitors"] - union) <= max(1, 0.03 * union), \
        (s["visitors"], union)
    assert 0 < s["visitors_relative_error"] < 0.02

    # each origin named with its share
    origins = {o["input"]: o for o in j["origins"]}
    oa, ob = origins[str(a.prefix / "stats.state")], origins[live_b]
    assert oa["hits"] == ea["hits"] and ob["hits"] == eb["hits"]
    assert ob["name"] == "127.0.0.1:%d" % b.port
    total = ea["hits"] + eb["hits"]
    assert abs(oa["share_percent"] - 100.0 * ea["hits"] / total) < 0.01
    assert abs(oa["share_percent"] + ob["share_percent"] - 100) < 0.01

    # per path: the sum of both origins
    rows = {}
    for e in (ea, eb):
        for k, v in e["rows"].items():
            rows.setdefault(k, [0, 0, 0])
            rows[k] = [x + y for x, y in zip(rows[k], v)]
    got = {r["path"]: [r["hits"], r["pages"], r["bytes"]]
           for r in j["paths"]}
    assert got == rows
    csv_rows = {r["ruta"]: [int(r["hits"]), int(r["paginas"]),
                            int(r["bytes"])]
                for r in read_csv(out / "paginas.csv")}
    assert csv_rows == rows

    # days and hours: the traffic's own day and hour
    days = [d for d in j["days"] if d["hits"]]
    assert len(days) == 1 and days[0]["hits"] == total
    assert days[0]["pages"] == s["pages"] and days[0]["bytes"] == s["bytes"]
    assert abs(days[0]["visitors"] - union) <= max(1, 0.03 * union)
    dcsv = [r for r in read_csv(out / "visitas_por_dia.csv")
            if int(r["hits"])]
    assert [(r["dia"], int(r["hits"]), int(r["paginas"]), int(r["bytes"]),
             int(r["visitas"])) for r in dcsv] == [
        (days[0]["start"], total, s["pages"], s["bytes"],
         days[0]["visits"])]
    hours = [h for h in j["hours"] if h["hits"]]
    assert sum(h["hits"] for h in hours) == total
    hcsv = read_csv(out / "visitas_por_hora.csv")
    assert sum(int(r["hits"]) for r in hcsv) == total
    assert sum(int(r["paginas"]) for r in hcsv) == s["pages"]
    perm = read_csv(out / "permanencia.csv")
    assert [int(r["visitas"]) for r in perm] == histogram(dur)

    # cortes: 4 published (one on both origins), 3 missed in a row
    cortes = {c["corte_id"]: c for c in j["cortes"]}
    assert sorted(cortes) == sorted(corte_id(base + 900 * k)
                                    for k in (0, 1, 2, 7))
    assert cortes[corte_id(base)]["origins"] == 2
    assert cortes[corte_id(base + 900)]["delay_s"] == 40.0
    assert s["cortes_published"] == 4 and s["cortes_expected"] == 8
    assert s["cortes_missed"] == 4 and s["max_consecutive_missed"] == 4
    assert s["interruption_rule_reached"] is True
    ccsv = read_csv(out / "cortes.csv")
    assert len(ccsv) == 8
    assert sum(1 for r in ccsv if r["corte_id"] == "sin_publicar") == 4

    # incidents, with their durations
    inc = [(i["kind"], i["duration_s"]) for i in j["incidents"]]
    want = [("paquete_rechazado", 0.0),
            ("sin_corte_nuevo", 4500.0),   # last publish to the next corte
            ("interrupcion", 3600.0),
            ("reinicio", 100.0),
            ("purga_cdn", 2.5),
            ("suspension", 600.0),
            ("reversion", 0.0)]
    assert inc == want
    back = j["incidents"][-1]
    assert back["what"] == "Reversión de corte %s a %s" % (
        corte_id(base + 6300), corte_id(base + 1800))
    assert back["detail"] == ("por operador: cifras erróneas; nginx no la "
                              "sirvió: connect: Connection refused")
    assert back["affected_publication"] is True
    assert back["start"] == corte_iso(base + 7700)
    assert s["incidents"] == len(j["incidents"])
    icsv = read_csv(out / "incidencias.csv")
    assert len(icsv) == len(j["incidents"])
    assert ("checksum" in next(i["detalle"] for i in icsv
                               if i["tipo"] == "paquete_rechazado"))
    assert [(i["inicio"], i["duracion_s"], i["detalle"],
             i["afecto_publicacion"]) for i in icsv
            if i["tipo"] == "reversion"] == [
        (corte_iso(base + 7700), "0.000", back["detail"], "si")]

    # the unparsable events line is named in the methodology
    html = (out / "memoria-tecnica.html").read_text()
    assert any("%s, línea 2" % ev_b in w for w in j["warnings"]), \
        j["warnings"]
    assert "línea 2" in html
    # difusor and notes escaped, never markup
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>Ejemplo</b>" not in html and "&lt;b&gt;Ejemplo" in html
    assert "<b>mismatch</b>" not in html
    b.quit()


# ------------------------------------------------------------ bad input


def state_of(stats_nginx, stats):
    inst = stats_nginx(timeout="1s", interval="1h")
    send(inst, range(3))
    stats.wait_hits(inst, 6)
    inst.quit()
    return (inst.prefix / "stats.state").read_bytes()


def bad(tmp_path, *args):
    p = run_report(*args, "--out", tmp_path / "out")
    return p.returncode, p.stderr


def test_bad_state_files(stats_nginx, stats, tmp_path):
    data = state_of(stats_nginx, stats)
    good = tmp_path / "good.state"
    good.write_bytes(data)
    rc, err = bad(tmp_path, "--stats", good)
    assert rc == 0, err

    cut = tmp_path / "cut.state"
    cut.write_bytes(data[:len(data) // 2])
    rc, err = bad(tmp_path, "--stats", cut)
    assert rc == 1
    assert re.search(r"--stats %s: not a usable statistics state: .*"
                     r"(size|truncated)" % re.escape(str(cut)), err), err

    foreign = tmp_path / "foreign.state"
    foreign.write_bytes(b"GIF89a" + b"\0" * 200)
    rc, err = bad(tmp_path, "--stats", foreign)
    assert rc == 1
    assert str(foreign) in err and "not a usable statistics state" in err
    assert re.search(r"magic|not a .*state", err, re.I), err

    flip = tmp_path / "flip.state"
    b = bytearray(data)
    b[len(b) // 2] ^= 0x10
    flip.write_bytes(bytes(b))
    rc, err = bad(tmp_path, "--stats", flip)
    assert rc == 1
    assert str(flip) in err and re.search(r"CRC|checksum", err), err

    rc, err = bad(tmp_path, "--stats", tmp_path / "absent.state")
    assert rc == 1 and "No such file or directory" in err

    rc, err = bad(tmp_path, "--stats", good, "--events",
                  tmp_path / "absent.jsonl")
    assert rc == 1 and "--events %s" % (tmp_path / "absent.jsonl") in err

    # usage
    assert bad(tmp_path, "--stats", good, "--bogus")[0] == 2
    assert bad(tmp_path, "--stats", good, "--from", "yesterday")[0] == 2
    assert bad(tmp_path, "--stats", good, "--timeout", "0")[0] == 2
    p = run_report("--stats", good)
    assert p.returncode == 2 and "--out" in p.stderr


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/slow"):
            self.server.hold.wait(30)
            return
        self.send_response(403)
        self.send_header("Content-Length", "9")
        self.end_headers()
        self.wfile.write(b"forbidden")

    def log_message(self, *a):
        pass


def test_bad_urls(stats_nginx, stats, tmp_path):
    good = tmp_path / "good.state"
    good.write_bytes(state_of(stats_nginx, stats))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    srv.daemon_threads = True
    srv.hold = threading.Event()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        port = srv.server_address[1]
        url = "http://127.0.0.1:%d/status?format=state" % port
        rc, err = bad(tmp_path, "--stats", good, "--stats", url)
        assert rc == 1
        assert "--stats %s: HTTP 403" % url in err, err
        assert "allow/deny" in err

        slow = "http://127.0.0.1:%d/slow?format=state" % port
        rc, err = bad(tmp_path, "--stats", good, "--stats", slow,
                      "--timeout", "1")
        assert rc == 1
        assert "--stats %s: timed out after 1 s" % slow in err, err

        # nothing listens there
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        refused = "http://127.0.0.1:%d/status?format=state" % closed
        rc, err = bad(tmp_path, "--stats", refused)
        assert rc == 1 and "--stats %s" % refused in err
    finally:
        srv.hold.set()
        srv.shutdown()
        srv.server_close()
    assert not (tmp_path / "out" / "memoria-tecnica.html").exists()


def test_man_page(tmp_path):
    page = ph.REPO / "report" / "prep-report.1"
    p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    text = subprocess.run(["man", "-l", str(page)], capture_output=True,
                          text=True, timeout=60,
                          env=dict(os.environ, MANWIDTH="80",
                                   MAN_KEEP_FORMATTING="0")).stdout
    text = re.sub(".\b", "", text)
    for sec in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "INPUTS",
                "OUTPUT", "EXIT STATUS", "EXAMPLES", "METHODOLOGY",
                "SEE ALSO"):
        assert re.search(r"^%s" % sec, text, re.M), sec
    # every option of --help is documented
    help_text = run_report("--help").stdout
    for opt in set(re.findall(r"^  (--[a-z-]+)", help_text, re.M)):
        assert re.search(r"^\s+%s\b" % re.escape(opt), text, re.M), opt
    assert "prep-ingest(8)" in text


LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
FAKETIME_ENV = ("env FAKETIME_TIMESTAMP_FILE;\nenv FAKETIME_NO_CACHE;\n"
                "env FAKETIME_DONT_FAKE_MONOTONIC;")


@pytest.fixture
def utc_clock(tmp_path, monkeypatch):
    """at("YYYY-MM-DD hh:mm:ss"): the time (UTC) of every nginx started
    with start_faked() from then on (libfaketime reads it from a file)."""
    if not os.path.exists(LIBFAKETIME):
        pytest.fail("%s is missing (make deps)" % LIBFAKETIME, pytrace=False)
    clock = tmp_path / "faketime"
    monkeypatch.setenv("FAKETIME_TIMESTAMP_FILE", str(clock))
    monkeypatch.setenv("FAKETIME_NO_CACHE", "1")
    monkeypatch.setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1")
    monkeypatch.setenv("TZ", "UTC")

    def at(when):
        ph.set_faketime(clock, when)
    return at


def start_faked(inst, monkeypatch):
    """nginx only under libfaketime (never the sanitized prep-report)."""
    monkeypatch.setenv("LD_PRELOAD", LIBFAKETIME)
    try:
        inst.start()
    finally:
        monkeypatch.delenv("LD_PRELOAD")


def test_days_and_durations(stats_nginx, stats, tmp_path, monkeypatch,
                            utc_clock):
    """Two days and visits of every length on a clock the test moves
    (libfaketime, UTC): the per-day rows and the histogram."""
    at = utc_clock
    at("2024-06-03 10:00:00")
    inst = stats_nginx(timeout="60s", interval="1h", start=False,
                       main_extra=FAKETIME_ENV)
    start_faked(inst, monkeypatch)

    def hit(n, uri=INDEX):
        r = inst.get(uri, {"X-Forwarded-For": "10.78.0.%d" % n,
                           "User-Agent": "days"})
        assert r.status in (200, 404)

    # visitor: request times (seconds after 10:00:00)
    plan = {1: [0, 20], 2: [0, 45], 3: [0, 50, 100], 4: [0, 40, 80, 120,
                                                         160, 200]}
    for t in range(0, 201, 5):
        for n, times in plan.items():
            if t in times:
                at("2024-06-03 10:%02d:%02d" % (t // 60, t % 60))
                hit(n, INDEX if t % 2 == 0 else AVANCE)
    at("2024-06-04 09:00:00")
    hit(1)
    hit(5, MISSING)
    # 40 s, not 30: a duration on a bin's edge falls on either side of
    # it as the faked clock runs on between at() and the request
    at("2024-06-04 09:00:40")
    hit(5)
    at("2024-06-04 09:10:00")
    stats.wait_idle(inst)
    inst.quit()

    e = expected(logged(inst), 60000)
    dur = e["durations"] + e["open"]
    out = tmp_path / "out"
    p = run_report("--stats", inst.prefix / "stats.state",
                   "--from", "2024-06-03T00:00:00Z",
                   "--to", "2024-06-05T00:00:00Z", "--tz", "Z",
                   "--out", out)
    assert p.returncode == 0, p.stderr
    j = json.loads((out / "memoria-tecnica.json").read_text())
    assert [h["visits"] for h in j["histogram"]] == histogram(dur)
    assert histogram(dur)[1:5] == [1, 2, 1, 1]       # 20; 45, 40; 100; 200 s
    assert j["summary"]["visits"] == e["visits"] == len(dur)
    assert j["summary"]["session_ms"] == sum(dur)
    byday = {}
    for r in logged(inst):
        d = datetime.datetime.fromtimestamp(
            r[1] / 1000, datetime.timezone.utc).strftime("%Y-%m-%d")
        byday.setdefault(d, []).append(r)
    rows = read_csv(out / "visitas_por_dia.csv")
    assert [r["dia"] for r in rows] == ["2024-06-03", "2024-06-04"]
    for r in rows:
        want = expected(byday[r["dia"]], 60000)
        assert (int(r["hits"]), int(r["paginas"]), int(r["bytes"])) == \
            (want["hits"], want["pages"], want["bytes"]), r
        assert abs(int(r["visitantes"]) - len(want["visitors"])) <= 1, r
    perm = read_csv(out / "permanencia.csv")
    assert [int(r["visitas"]) for r in perm] == histogram(dur)


# ------------------------------------------------- a stopped nginx: downtime


def utc_str(t):
    return datetime.datetime.fromtimestamp(
        t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def wait_serving(inst, tmp_path, t, timeout=15.0):
    """Until worker 0's tick (once a second) has marked the 5-minute
    bucket of t serving, as ?format=state shows it."""
    deadline = time.monotonic() + timeout
    while True:
        b = next((b for b in dump_live(inst, tmp_path)["buckets"]
                  if b["id"] == t // 300), None)
        if b and b["serving"]:
            return
        assert time.monotonic() < deadline, (inst.prefix, utc_str(t), b)
        time.sleep(0.1)


def test_stopped_nginx_downtime(stats_nginx, stats, tmp_path, monkeypatch,
                                utc_clock):
    """Two origins on one fake clock: A is stopped for 40 minutes while B
    serves on.  Alone, A's downtime interrupted publication; with B it
    did not.  The incident's bounds are the buckets around the stop."""
    at = utc_clock
    t0 = int(datetime.datetime(2024, 6, 3, 10, 1,
                               tzinfo=datetime.timezone.utc).timestamp())
    at(utc_str(t0))
    a = stats_nginx(timeout="1s", interval="1h", start=False,
                    main_extra=FAKETIME_ENV)
    b = stats_nginx(timeout="1s", interval="1h", start=False,
                    main_extra=FAKETIME_ENV)
    start_faked(a, monkeypatch)
    start_faked(b, monkeypatch)
    sent = send(a, range(0, 5))
    stats.wait_hits(a, sent)
    send(b, range(0, 5))

    # a bucket after the start, so the downtime does not begin the span
    t_stop = t0 + 300
    at(utc_str(t_stop))
    for inst in (a, b):
        wait_serving(inst, tmp_path, t_stop)
    a.quit()                                # the state is saved

    # B serves on: the clock moves in steps shorter than a bucket
    t_back = t_stop + 40 * 60
    for t in range(t_stop + 240, t_back, 240):
        at(utc_str(t))
        wait_serving(b, tmp_path, t)
    at(utc_str(t_back))
    start_faked(a, monkeypatch)
    sent += send(a, range(5, 10))
    t_end = t_back + 300
    for t in (t_back, t_end):
        at(utc_str(t))
        for inst in (a, b):
            wait_serving(inst, tmp_path, t)
    a.quit()
    b.quit()
    assert sent == sum(1 for r in logged(a) if r[4] != PROBE)

    # expected, from the clock alone: the buckets wholly between the stop
    # and the start again; the known ones from the first whole bucket
    # after the start to the last whole one before the last save
    down_start = (t_stop // 300 + 1) * 300
    down_end = t_back // 300 * 300
    known = (t_end // 300 * 300 - (t0 // 300 + 1) * 300) // 300
    serving = known - (down_end - down_start) // 300
    assert (down_end - down_start, known, serving) == (35 * 60, 9, 2)

    def report(out, *states):
        args = []
        for st in states:
            args += ["--stats", st]
        p = run_report(*args, "--from", "2024-06-03T00:00:00Z",
                       "--to", "2024-06-04T00:00:00Z", "--tz", "Z",
                       "--out", out)
        assert p.returncode == 0, p.stderr
        return json.loads((out / "memoria-tecnica.json").read_text())

    state_a, state_b = a.prefix / "stats.state", b.prefix / "stats.state"
    iso_z = lambda t: iso(t).replace(".000Z", "+00:00")  # noqa: E731

    # A alone: one downtime, the publication's
    out = tmp_path / "alone"
    j = report(out, state_a)
    down = [i for i in j["incidents"] if i["kind"] == "caida"]
    assert len(down) == 1, j["incidents"]
    d = down[0]
    assert (d["start"], d["end"], d["duration_s"]) == \
        (iso_z(down_start), iso_z(down_end), float(down_end - down_start))
    assert d["origin"] == "stats.state"           # its basename
    assert d["affected_publication"] is True
    o = j["origins"][0]
    assert (o["buckets_known"], o["buckets_serving"]) == (known, serving)
    s = j["summary"]
    assert (s["buckets_known"], s["buckets_serving"]) == (known, serving)
    assert abs(s["availability_percent"] - 100.0 * serving / known) < 0.01
    rows = [r for r in read_csv(out / "incidencias.csv")
            if r["tipo"] == "caida"]
    assert [(r["inicio"], r["fin"], r["duracion_s"], r["origen"],
             r["afecto_publicacion"]) for r in rows] == [
        (iso_z(down_start), iso_z(down_end),
         "%.3f" % (down_end - down_start), "stats.state", "si")]
    html = (out / "memoria-tecnica.html").read_text()
    assert "Caída: nginx no sirvió en 7 periodos de 5 minutos" in html
    assert str(state_a) in html                   # the input, in full

    # A and B: the same downtime, B served meanwhile
    out = tmp_path / "both"
    j = report(out, state_a, state_b)
    down = [i for i in j["incidents"] if i["kind"] == "caida"]
    assert len(down) == 1, j["incidents"]
    assert down[0]["origin"] == "nginx0/stats.state"    # names clashed
    assert (down[0]["start"], down[0]["end"]) == \
        (iso_z(down_start), iso_z(down_end))
    assert down[0]["affected_publication"] is False
    assert "otro origen sirvió" in down[0]["detail"]
    names = [o["name"] for o in j["origins"]]
    assert names == ["nginx0/stats.state", "nginx1/stats.state"]
    assert j["summary"]["availability_percent"] == 100.0
    rows = [r for r in read_csv(out / "incidencias.csv")
            if r["tipo"] == "caida"]
    assert [(r["origen"], r["afecto_publicacion"]) for r in rows] == [
        ("nginx0/stats.state", "no")]
    inputs = {i["input"]: i for i in j["inputs"]}
    assert len(inputs[str(state_a)]["sha256"]) == 64
