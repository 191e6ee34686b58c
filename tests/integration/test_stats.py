"""prep_stats and prep_status: what is counted and how it is reported.

The traffic of each test is scripted, and the expected counters are
computed here from the script and from what the client received, never
read back from the status being tested.  Session durations need the
server's clock: they are computed from the $msec of the test's own access
log, with the session rule applied here.
"""

import re
import subprocess
import time

import pytest

import prep_harness as ph


pytestmark = pytest.mark.needs_module

INDEX = "/index.html"
AVANCE = "/assets/ayuntamientos/avanceEntidad.json"
SECCION = "/assets/ayuntamientos/entidad/23_0008.json"
CSV = "/assets/bd/QROO_AYUN_2024.csv"
PNG = "/assets/img/generales/fondo.png"
PAGE_TYPES = (".html", ".json", ".csv")

# session timeout of the stats_nginx fixture, in milliseconds
TIMEOUT_MS = 2000

LOG_LINE = re.compile(r'^(\S+) (\d+)\.(\d{3}) (\d+) (\d+) "(\w+)" "(.*?)" '
                      r'(\S+) (\S+) "(.*)"$')


def main_js(pkg):
    return next(p for p in pkg.listing if re.fullmatch(r"/main\.\w+\.js", p))


def styles_css(pkg):
    return next(p for p in pkg.listing
                if re.fullmatch(r"/styles\.\w+\.css", p))


class Visitor:
    """A client named by X-Forwarded-For (realip) and a User-Agent."""

    def __init__(self, addr, agent):
        self.addr = addr
        self.agent = agent

    def headers(self, extra=None):
        h = {"X-Forwarded-For": self.addr, "User-Agent": self.agent}
        h.update(extra or {})
        return h


class Expect:
    """Counters computed from the requests the test makes."""

    def __init__(self):
        self.hits = self.pages = self.bytes = 0
        self.classes = {}
        self.rows = {}          # path or "other" -> [hits, pages, bytes]

    def add(self, path, status, nbytes, is_page):
        self.hits += 1
        self.bytes += nbytes
        self.pages += is_page
        cls = "%dxx" % (status // 100)
        self.classes[cls] = self.classes.get(cls, 0) + 1
        row = self.rows.setdefault(path or "other", [0, 0, 0])
        row[0] += 1
        row[1] += is_page
        row[2] += nbytes


def send(inst, expect, visitor, method, uri, entry, expect_status,
         headers=None):
    """One request; entry is the snapshot path that answers (None: the
    "other" row).  Returns the response."""
    r = inst.request(method, uri, visitor.headers(headers))
    assert r.status == expect_status, (method, uri, r.status, r.body[:200])
    ok = 200 <= r.status < 300 or r.status == 304
    is_page = int(bool(entry) and ok and entry.endswith(PAGE_TYPES))
    expect.add(entry, r.status, len(r.body), is_page)
    return r


def sessions_from_log(lines, visitors):
    """{visitor: [[(line number, ms), ...] per session]} from the access
    log, split where the gap exceeds the timeout, as the module must."""
    out = {}
    for n, line in enumerate(lines):
        m = LOG_LINE.match(line)
        assert m, line
        addr, sec, ms, agent = m.group(1), m.group(2), m.group(3), \
            m.group(10)
        t = int(sec) * 1000 + int(ms)
        for v in visitors:
            if v.addr == addr and (v.agent == agent or not v.agent.isascii()):
                sessions = out.setdefault(v, [])
                if not sessions or t - sessions[-1][-1][1] > TIMEOUT_MS:
                    sessions.append([])
                sessions[-1].append((n, t))
    return out


def delta(after, before):
    return after - before


def test_exact_accounting(stats_nginx, stats, pkg_a):
    inst = stats_nginx(timeout="2s")

    # the harness's start probe is a visitor too: let it time out first
    base = stats.wait(inst, lambda s: s["totals"]["hits"] >= stats.probes
                      and s["sessions"]["live"] == 0,
                      "the start probe's session to end")
    base_log = len(inst.access_lines(inst.prefix / "stats.log"))

    v1 = Visitor("10.1.0.1", "Mozilla/5.0 (X11; Linux) PREP-A")
    v2 = Visitor("10.1.0.2", "curl/8.0.1")
    v3 = Visitor("10.1.0.1", "Mozilla/5.0 (X11; Linux) PREP-B")
    v4 = Visitor("2001:db8::7", "Mozilla/5.0 Ni\u00f1o".encode().decode(
        "latin-1"))
    visitors = (v1, v2, v3, v4)
    e = Expect()
    js, css = main_js(pkg_a), styles_css(pkg_a)

    r = send(inst, e, v1, "GET", INDEX, INDEX, 200)
    etag = r.header("ETag")
    send(inst, e, v1, "GET", js, js, 200)
    send(inst, e, v1, "GET", css, css, 200)
    send(inst, e, v1, "GET", AVANCE, AVANCE, 200)
    send(inst, e, v2, "HEAD", CSV, CSV, 200)
    send(inst, e, v2, "GET", "/nope.json", None, 404)
    send(inst, e, v2, "POST", INDEX, None, 405)
    send(inst, e, v3, "GET", INDEX, INDEX, 304, {"If-None-Match": etag})
    send(inst, e, v3, "GET", PNG, PNG, 200)
    r = send(inst, e, v3, "GET", SECCION, SECCION, 206,
             {"Range": "bytes=0-9"})
    assert len(r.body) == 10
    send(inst, e, v4, "GET", "/", INDEX, 200)
    send(inst, e, v4, "GET", "/assets/../index.html", INDEX, 200)

    time.sleep(1.0)                     # within the 2 s timeout
    send(inst, e, v1, "GET", SECCION, SECCION, 200)
    r = send(inst, e, v4, "GET", CSV, CSV, 200,
             {"Accept-Encoding": "gzip"})
    assert r.header("Content-Encoding") == "gzip"

    time.sleep(2.6)                     # past it: new sessions
    send(inst, e, v1, "GET", INDEX, INDEX, 200)
    send(inst, e, v2, "GET", "/assets/%2e%2e/favicon.ico", "/favicon.ico",
         200)

    after = stats.wait_idle(inst)

    # hits, pages, bytes, classes
    t0, t1 = base["totals"], after["totals"]
    assert delta(t1["hits"], t0["hits"]) == e.hits
    assert delta(t1["pages"], t0["pages"]) == e.pages
    assert delta(t1["bytes"], t0["bytes"]) == e.bytes
    for cls in ("1xx", "2xx", "3xx", "4xx", "5xx", "other"):
        assert delta(after["status_classes"][cls],
                     base["status_classes"][cls]) == e.classes.get(cls, 0), \
            cls

    # per-page rows: exact, and every other path untouched
    for path, (hits, pages, nbytes) in e.rows.items():
        if path == "other":
            a, b = after["other"], base["other"]
        else:
            a, b = stats.row(after, path), stats.row(base, path)
        assert (a["hits"] - b["hits"], a["pages"] - b["pages"],
                a["bytes"] - b["bytes"]) == (hits, pages, nbytes), path
    for row in after["pages"]:
        if row["path"] not in e.rows:
            assert row == stats.row(base, row["path"]), row["path"]

    # the rows and "other" add up to the totals
    assert t1["hits"] == after["other"]["hits"] + \
        sum(r["hits"] for r in after["pages"])
    assert t1["pages"] == after["other"]["pages"] + \
        sum(r["pages"] for r in after["pages"])
    assert t1["bytes"] == after["other"]["bytes"] + \
        sum(r["bytes"] for r in after["pages"])

    # every path of the corte has a row, sorted by hits
    assert {r["path"] for r in after["pages"]} == set(pkg_a.listing)
    hits = [r["hits"] for r in after["pages"]]
    assert hits == sorted(hits, reverse=True)

    # sessions, from the server's own times in the access log
    lines = [line for line
             in inst.access_lines(inst.prefix / "stats.log")[base_log:]
             if ' "/status" ' not in line]
    assert len(lines) == e.hits
    sessions = sessions_from_log(lines, visitors)
    assert {v: len(s) for v, s in sessions.items()} == \
        {v1: 2, v2: 2, v3: 1, v4: 1}
    durations = [s[-1][1] - s[0][1] for ss in sessions.values() for s in ss]
    s0, s1 = base["sessions"], after["sessions"]
    assert delta(s1["completed"], s0["completed"]) == len(durations) == 6
    assert delta(s1["started"], s0["started"]) == 6
    assert s1["live"] == 0 and s1["evicted"] == 0
    total_ms = round(s1["total_seconds"] * 1000) - \
        round(s0["total_seconds"] * 1000)
    assert total_ms == sum(durations)
    assert round(t1["session_seconds"] * 1000) == \
        round(s1["total_seconds"] * 1000)
    assert delta(t1["sessions"], t0["sessions"]) == 6
    assert delta(s1["histogram"][0]["count"], s0["histogram"][0]["count"]) \
        == 6            # all under 10 s
    assert [h["count"] for h in s1["histogram"][1:]] == \
        [h["count"] for h in s0["histogram"][1:]]
    assert any(d >= 900 for d in durations)     # v1 and v4 across 1 s

    # visitors: 4 new ones (HyperLogLog, exact at this size)
    assert delta(t1["visitors"], t0["visitors"]) == 4
    assert after["today"]["visitors"] == t1["visitors"]
    assert after["this_hour"]["visitors"] >= 1

    # the series and today add up to the totals
    series = after["series"]["buckets"]
    assert after["series"]["bucket_seconds"] == 300
    for key in ("hits", "pages", "bytes", "visits"):
        total = t1[key] if key != "visits" else s1["started"]
        assert sum(b[key] for b in series) == total, key
        assert sum(d[key] for d in after["days"]) == total, key
    assert sum(h["hits"] for h in after["hours"]) == t1["hits"]

    # $prep_visitor: one per visitor; $prep_session_new: 1 exactly on
    # the first request of each session
    ids = {}
    firsts = {s[0][0] for ss in sessions.values() for s in ss}
    for n, line in enumerate(lines):
        m = LOG_LINE.match(line)
        ids.setdefault((m.group(1), m.group(10)), set()).add(m.group(8))
        assert re.fullmatch(r"[0-9a-f]{16}", m.group(8))
        assert m.group(9) == ("1" if n in firsts else "0"), line
    assert all(len(v) == 1 for v in ids.values())
    assert len({next(iter(v)) for v in ids.values()}) == 4


def test_session_counts_agree_in_every_status(stats_nginx, stats):
    """Each status answer reads the sessions at one instant: "started" is
    "completed" plus "live" while visits start (every request a new
    visitor) and end (the sweep, each second) in the other workers."""
    inst = stats_nginx(timeout="1s", state=None)
    samples, sent = stats.under_new_visitors(
        inst, lambda: stats.status(inst), agent="agent")

    for s in samples:
        ss = s["sessions"]
        assert ss["started"] == ss["completed"] + ss["live"], ss
        assert s["totals"]["sessions"] == ss["completed"], ss
        assert sum(h["count"] for h in ss["histogram"]) == ss["completed"]
        assert s["zone"]["sessions_live"] == ss["live"]
    # the samples saw visits start and end under way (bounds loose
    # enough for a loaded machine: unloaded, 2347 samples, 12085 visits)
    assert len(samples) >= 20 and sum(sent) >= 100, (len(samples), sent)
    first, last = samples[0]["sessions"], samples[-1]["sessions"]
    assert last["completed"] - first["completed"] >= 30, (first, last)
    assert sum(s["sessions"]["live"] > 0 for s in samples) * 2 \
        >= len(samples)


def test_prometheus_parses_and_agrees_with_json(stats_nginx, stats):
    inst = stats_nginx()
    for i in range(30):
        v = Visitor("10.2.0.%d" % (i % 7), "agent %d" % (i % 3))
        inst.get(INDEX if i % 2 else PNG, v.headers())
    inst.get("/missing", Visitor("10.2.9.9", "x").headers())

    js = stats.wait_hits(inst, 31 + stats.probes)
    prom = stats.prometheus(inst)

    def one(name, **labels):
        return prom[name][frozenset(labels.items())]

    assert one("prep_hits_total") == js["totals"]["hits"]
    assert one("prep_pages_total") == js["totals"]["pages"]
    assert one("prep_sent_bytes_total") == js["totals"]["bytes"]
    assert one("prep_visitors", period="publication") == \
        js["totals"]["visitors"]
    assert one("prep_responses_total", **{"class": "2xx"}) == \
        js["status_classes"]["2xx"]
    assert one("prep_path_hits_total", path=INDEX) == \
        stats.row(js, INDEX)["hits"]
    assert one("prep_path_hits_total", path="other") == js["other"]["hits"]
    for path in (INDEX, PNG):
        row = stats.row(js, path)
        assert one("prep_path_pages_total", path=path) == row["pages"]
        assert one("prep_path_sent_bytes_total", path=path) == row["bytes"]
    assert one("prep_path_pages_total", path="other") == js["other"]["pages"]
    assert one("prep_path_sent_bytes_total", path="other") == \
        js["other"]["bytes"]
    assert one("prep_path_sent_bytes_total", path=INDEX) > 0
    assert one("prep_sessions_live") == js["sessions"]["live"]
    assert one("prep_session_duration_seconds_bucket", le="+Inf") == \
        js["sessions"]["completed"]
    assert one("prep_corte_info", id="20240603_0015",
               time="2024-06-03T00:15:00-05:00") == 1
    assert one("prep_zone_bytes", kind="size") == js["zone"]["size"]
    assert len(prom["prep_path_hits_total"]) == len(js["pages"]) + 1
    assert len(prom["prep_path_pages_total"]) == len(js["pages"]) + 1
    assert len(prom["prep_path_sent_bytes_total"]) == len(js["pages"]) + 1

    # a scraper that asks for text/plain gets the exposition format
    r = inst.get("/status", {"Accept": "text/plain;version=0.0.4;q=0.9,"
                                       "*/*;q=0.1"})
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4")
    assert b"# TYPE prep_hits_total counter" in r.body
    r = inst.get("/status", {"Accept": "text/html,application/json,*/*"})
    assert r.header("Content-Type") == "application/json"


def test_status_arguments(stats_nginx, stats):
    inst = stats_nginx(state=None, http="prep_stats_state off;")
    inst.allow_log(r"\[warn\] .*prep_stats_state off")
    for i in range(5):
        inst.get(INDEX)
    inst.get(AVANCE)
    inst.get(AVANCE)
    stats.wait_hits(inst, 7 + stats.probes)

    top = stats.status(inst, "?top=2")
    assert [r["path"] for r in top["pages"]] == [INDEX, AVANCE]
    assert [r["hits"] for r in top["pages"]] == [5, 2]
    assert top["state"]["file"] is None

    prom = stats.prometheus(inst, "?format=prometheus&top=1")
    assert set(prom["prep_path_hits_total"]) == {
        frozenset({("path", INDEX)}), frozenset({("path", "other")})}

    for bad in ("?top=0", "?top=x", "?format=xml"):
        r = inst.get("/status" + bad)
        assert r.status == 400, bad
        assert r.json()["error"] == "bad_request"

    r = inst.request("POST", "/status")
    assert r.status == 405
    r = inst.head("/status")
    assert r.status == 200 and r.body == b""
    assert r.header("Cache-Control") == "no-store"


def test_every_key_of_the_issue(stats_nginx, stats):
    inst = stats_nginx()
    inst.get(INDEX)
    s = stats.wait_hits(inst, 1 + stats.probes)
    assert set(s["corte"]) >= {"time", "id", "age_seconds", "generation"}
    assert s["corte"]["id"] == "20240603_0015"
    assert s["corte"]["generation"] >= 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s["since"])
    assert set(s["totals"]) >= {"hits", "pages", "bytes", "visitors",
                                "sessions", "session_seconds"}
    assert set(s["today"]) >= {"date", "hits", "pages", "bytes", "visitors"}
    assert set(s["status_classes"]) == {"1xx", "2xx", "3xx", "4xx", "5xx",
                                        "other"}
    assert set(s["pages"][0]) == {"path", "hits", "pages", "bytes"}
    assert [h["range"] for h in s["sessions"]["histogram"]] == [
        "0-10s", "10-30s", "30-60s", "1-3min", "3-10min", "10-30min",
        "30min+"]
    assert s["series"]["buckets"][-1]["hits"] >= 1
    assert set(s["zone"]) >= {"size", "used", "free", "sessions_live",
                              "evictions"}
    assert s["zone"]["used"] + s["zone"]["free"] == s["zone"]["size"]


def test_hostile_paths_are_escaped(stats_nginx, stats, packages):
    """Paths with quotes, backslash-free UTF-8 and JSON/Prometheus
    metacharacters keep both formats valid, and come back unchanged."""
    odd = {
        'ayuda/comillas "dobles".json': b'{"a": 1}',
        "ayuda/a\u00f1o \u00e1\u00e9 {x}=1,y.json": b'{"b": 2}',
        "ayuda/\u2028sep.html": b"<p>x</p>",
    }
    pkg = packages.get(extra=odd)
    inst = stats_nginx(publish=[pkg])
    from urllib.parse import quote
    for name in odd:
        r = inst.get("/" + quote(name))
        assert r.status == 200, name

    js = stats.wait_hits(inst, stats.probes + len(odd))
    prom = stats.prometheus(inst)
    for name in odd:
        path = "/" + name
        assert stats.row(js, path)["hits"] == 1, path
        if "\u2028" in path:
            # some parsers take U+2028 for a line break: replaced
            label = path.replace("\u2028", "\ufffd")
        else:
            label = path
        assert prom["prep_path_hits_total"][
            frozenset({("path", label)})] == 1, path


def test_pages_directive_and_scope(stats_nginx, stats):
    """prep_stats_pages changes what a page is; statistics are on only
    where prep_serve is unless prep_stats says otherwise."""
    inst = stats_nginx(
        http="prep_stats_pages text/html image/*;",
        server="location = /plain { return 200 'plain'; }\n"
               "location = /counted { prep_stats on; "
               "default_type text/html; return 200 'yes'; }\n")
    base = stats.wait_hits(inst, stats.probes)
    inst.get(INDEX)                 # a page
    inst.get(AVANCE)                # JSON: not a page here
    inst.get(PNG)                   # image/*: a page here
    inst.get("/plain")              # not counted at all
    inst.get("/counted")            # counted, "other", a page
    s = stats.wait_hits(inst, base["totals"]["hits"] + 4)
    assert s["totals"]["hits"] - base["totals"]["hits"] == 4
    assert s["totals"]["pages"] - base["totals"]["pages"] == 3
    assert stats.row(s, AVANCE)["pages"] == 0
    assert stats.row(s, PNG)["pages"] == 1
    assert s["other"]["hits"] - base["other"]["hits"] == 1


def test_rows_survive_a_swap(stats_nginx, stats, pkg_a, pkg_b):
    inst = stats_nginx()
    stats.wait(inst, lambda s: set(pkg_a.listing)
               <= {r["path"] for r in s["pages"]}, "the rows of the corte")
    for _ in range(3):
        inst.get(INDEX)
    inst.get(AVANCE)
    inst.swap(pkg_b)
    r = inst.get(INDEX)
    assert r.corte == pkg_b.iso
    stats.wait_hits(inst, 5 + stats.probes)

    # worker 0 adds the rows of the new corte's paths within a second
    s = stats.wait(inst, lambda s: set(pkg_b.listing)
                   <= {r["path"] for r in s["pages"]},
                   "the rows of the new corte")
    assert s["corte"]["id"] == pkg_b.id
    assert stats.row(s, INDEX)["hits"] == 4
    assert stats.row(s, AVANCE)["hits"] == 1
    paths = {r["path"] for r in s["pages"]}
    assert set(pkg_b.listing) <= paths and set(pkg_a.listing) <= paths


def test_configuration_errors(tmp_path):
    """One clear line for each misuse, from `nginx -t`."""
    cases = {
        "prep_stats on;\n": '"prep_stats on" needs "prep_stats_zone"',
        "prep_stats_zone s 64k;\n": 'zone "s" is too small',
        "prep_stats_zone s 4m paths=0;\n": '"paths=" must be between',
        "prep_stats_state /tmp/x;\n":
            '"prep_stats_state" needs "prep_stats_zone"',
        "prep_stats_zone s 4m;\nprep_stats_session_timeout 10ms;\n":
            "value must be between 1000 and 86400000",
    }
    for i, (http, message) in enumerate(cases.items()):
        conf = tmp_path / ("nginx%d.conf" % i)
        conf.write_text("load_module %s;\nerror_log %s/err.log;\n"
                        "events {}\nhttp {\n%s"
                        "server { listen 127.0.0.1:9; location / {} }\n}\n"
                        % (ph.MODULE_SO, tmp_path, http))
        p = subprocess.run([ph.NGINX_BIN, "-t", "-p", str(tmp_path), "-c",
                            str(conf), "-e", str(tmp_path / "err.log")],
                           capture_output=True, timeout=30)
        err = p.stderr.decode(errors="replace")
        assert p.returncode != 0, http
        assert message in err, (http, err)


def test_reload_keeps_every_counter(stats_nginx, stats):
    inst = stats_nginx(timeout="60s")
    for i in range(20):
        inst.get(INDEX if i % 3 else AVANCE,
                 Visitor("10.3.0.%d" % (i % 5), "a").headers())
    before = stats.wait_hits(inst, 20 + stats.probes)
    inst.reload()
    after = stats.wait_hits(inst, 21 + stats.probes)

    # the harness's probe after the reload is one 404 more
    probe = after["other"]["bytes"] - before["other"]["bytes"]
    assert after["other"]["hits"] == before["other"]["hits"] + 1
    assert after["status_classes"]["4xx"] == \
        before["status_classes"]["4xx"] + 1
    assert after["totals"]["hits"] == before["totals"]["hits"] + 1
    assert after["totals"]["bytes"] == before["totals"]["bytes"] + probe
    for key in ("pages", "visitors", "sessions", "session_seconds"):
        assert after["totals"][key] == before["totals"][key], key
    assert after["pages"] == before["pages"]
    assert after["since"] == before["since"]
    stats.periods_kept(before["series"]["buckets"],
                       after["series"]["buckets"], "start", 1)
    stats.periods_kept(before["days"], after["days"], "date", 1)
    assert after["sessions"]["live"] == before["sessions"]["live"] == 6

    # the same visitors continue their sessions after the reload
    inst.get(INDEX, Visitor("10.3.0.1", "a").headers())
    s = stats.wait_hits(inst, 22 + stats.probes)
    assert s["sessions"]["started"] == before["sessions"]["started"]
    assert s["totals"]["hits"] == after["totals"]["hits"] + 1
