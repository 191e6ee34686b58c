"""The origin-only view and the CDN view of the same traffic, through a
real caching proxy (nginx proxy_cache, on a unix socket) in front of the
module: the CDN's log gives the traffic sent, to the request; the
origin's log gives only the cache misses, all from the CDN's address.

Runs build/asan/prep-logs-dump (the counting of prep-report --log).
"""

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import prep_harness as ph

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "fixtures"))

import logs_traffic as lt  # noqa: E402

BUILD = Path(os.environ.get("PREP_BUILD") or REPO / "build")
DUMP = BUILD / "asan" / "prep-logs-dump"

# the CDN: a caching proxy in front of the origin server of the template
CDN_SERVER = """
    proxy_cache_path {prefix}/tmp/cdn levels=1:2 keys_zone=cdn:1m
                     max_size=64m inactive=10m;
    log_format cdn '$remote_addr - [$time_local] "$request" $status '
                   '$body_bytes_sent "$http_user_agent" '
                   'cache=$upstream_cache_status '
                   'type="$sent_http_content_type"';

    server {{
        listen unix:{prefix}/cdn.sock;
        set_real_ip_from unix:;
        real_ip_header X-Client-IP;
        access_log {prefix}/cdn.log cdn;

        location / {{
            proxy_pass http://127.0.0.1:{port};
            proxy_set_header Host localhost;
            proxy_cache cdn;
            proxy_cache_valid 404 1m;
        }}
    }}
"""


def conf_text():
    t = ph.CONF_TEMPLATE
    end = t.rindex("}}")
    return t[:end] + CDN_SERVER + t[end:]


def dump(*args):
    if not DUMP.exists():
        pytest.fail("%s is missing: make asan" % DUMP, pytrace=False)
    p = subprocess.run([str(DUMP)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.needs_module
def test_cdn_view_and_origin_view(nginx_factory, pkg_a):
    inst = nginx_factory(publish=[pkg_a], conf_text=conf_text())
    sock = inst.prefix / "cdn.sock"
    ph.wait_for(sock.exists, 5, "the CDN socket")

    # the harness's own requests, before the traffic, are not in it
    origin_mark = (inst.access_log.stat().st_size
                   if inst.access_log.exists() else 0)

    paths = sorted(pkg_a.listing)
    rnd = random.Random(5)
    sent = []
    etags = {}
    for v in range(40):
        ip = "203.0.113.%d" % (v + 1)
        ua = lt.BROWSERS[v % len(lt.BROWSERS)]
        for _ in range(rnd.randrange(2, 9)):
            r = rnd.random()
            path = rnd.choice(paths) if r < 0.9 else "/no/such/%d" % (v % 3)
            headers = {"X-Client-IP": ip, "User-Agent": ua}
            if path in etags and rnd.random() < 0.3:
                headers["If-None-Match"] = etags[path]
            conn = ph.UnixHTTPConnection(str(sock))
            resp = ph.http_request(conn, "GET", path, headers)
            conn.close()
            if resp.header("ETag"):
                etags[path] = resp.header("ETag")
            sent.append((ip, ua, path, resp.status, len(resp.body), False))
    for b in range(3):
        ua = lt.BOTS[b]
        for path in paths[:4]:
            conn = ph.UnixHTTPConnection(str(sock))
            resp = ph.http_request(conn, "GET", path,
                                   {"X-Client-IP": "66.249.66.%d" % (b + 1),
                                    "User-Agent": ua})
            conn.close()
            sent.append(("66.249.66.%d" % (b + 1), ua, path, resp.status,
                         len(resp.body), True))

    cdn_log = inst.prefix / "cdn.log"
    origin_log = inst.prefix / "origin-traffic.log"
    # nginx logs a request after it has answered it: the harness's last
    # readiness probe can land after the mark
    with open(inst.access_log, "rb") as f:
        f.seek(origin_mark)
        origin_log.write_bytes(b"".join(
            x for x in f.readlines() if b" /__harness_probe__ " not in x))
    ph.wait_for(lambda: cdn_log.exists()
                and len(cdn_log.read_text().splitlines()) == len(sent),
                5, "the CDN's log lines")

    humans = [s for s in sent if not s[5]]
    statuses = sorted(s[3] for s in humans)
    assert 304 in statuses and 404 in statuses and 200 in statuses

    cdn = dump("nginx:%s" % cdn_log)
    assert cdn["summary"]["malformed"] == 0, cdn["summary"]["samples"]
    # the CDN's view is the traffic sent, request by request
    assert cdn["hits"] == len(humans)
    assert cdn["bot_hits"] == len(sent) - len(humans)
    assert cdn["bytes"] == sum(s[4] for s in humans)
    want_pages = sum(1 for s in humans if s[3] in (200, 304)
                     and lt.is_page_path(s[2]))
    assert cdn["pages"] == want_pages
    rows = {}
    for s in humans:
        rows[s[2]] = rows.get(s[2], 0) + 1
    assert {r["path"]: r["hits"] for r in cdn["rows"]} == rows
    assert cdn["visitor_days"] == len({(s[0], s[1]) for s in humans})
    assert cdn["visits"] == len({(s[0], s[1]) for s in humans})
    s = cdn["summary"]
    assert s["cache_unknown"] == 0
    assert s["cache_hits"] + s["cache_origin"] == len(sent)
    assert s["cache_hits"] > s["cache_origin"] > 0

    # the origin's view: the misses, every one from the CDN's address
    lines = origin_log.read_text().splitlines()
    assert lines and all(x.startswith("127.0.0.1 ") for x in lines)
    origin = dump("nginx:%s" % origin_log)
    cdn_lines = cdn_log.read_text().splitlines()
    assert origin["hits"] + origin["bot_hits"] == s["cache_origin"], \
        "origin lines:\n%s\nCDN lines:\n%s" % ("\n".join(lines),
                                               "\n".join(cdn_lines))
    assert origin["hits"] < cdn["hits"]
    # one address: its visitors are the distinct User-Agents at most
    assert origin["visitor_days"] <= len(lt.BROWSERS)
    assert origin["visitor_days"] < cdn["visitor_days"]
    share = s["cache_origin"] / len(sent)
    assert 0 < share < 0.5


REPORT = BUILD / "asan" / "prep-report"


@pytest.mark.needs_module
def test_report_takes_traffic_from_the_cdn_log(nginx_factory, pkg_a,
                                               tmp_path):
    """prep-report --stats (the origin) --log (the CDN): the traffic
    figures are the CDN's, the origin's hits are the misses, and the
    document says where each comes from."""
    inst = nginx_factory(
        publish=[pkg_a], conf_text=conf_text(),
        http_extra="prep_stats_zone stats 4m;\n"
                   "prep_stats_session_timeout 2s;",
        server_extra="location = /status {\n    prep_status;\n}\n")
    sock = inst.prefix / "cdn.sock"
    ph.wait_for(sock.exists, 5, "the CDN socket")
    paths = sorted(pkg_a.listing)[:12]
    for v in range(10):
        for path in paths:
            conn = ph.UnixHTTPConnection(str(sock))
            resp = ph.http_request(conn, "GET", path, {
                "X-Client-IP": "198.51.100.%d" % (v + 1),
                "User-Agent": lt.BROWSERS[v % len(lt.BROWSERS)]})
            conn.close()
            assert resp.status == 200
    cdn_log = inst.prefix / "cdn.log"
    ph.wait_for(lambda: cdn_log.exists() and
                len(cdn_log.read_text().splitlines()) == 10 * len(paths),
                5, "the CDN's log lines")
    # every request the origin answered, the harness's probes included
    served = [x for x in inst.access_log.read_text().splitlines()
              if " /status" not in x]
    r = inst.get("/status?format=state")
    assert r.status == 200
    state = tmp_path / "origin.state"
    state.write_bytes(r.body)

    out = tmp_path / "out"
    if not REPORT.exists():
        pytest.fail("%s is missing: make asan" % REPORT, pytrace=False)
    p = subprocess.run([str(REPORT), "--stats", str(state),
                        "--log", "nginx:%s" % cdn_log, "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    doc = json.loads((out / "memoria-tecnica.json").read_text())
    s = doc["summary"]
    assert "CDN" in doc["sources"]["traffic"]
    assert str(cdn_log) in doc["sources"]["traffic_inputs"] or \
        cdn_log.name in doc["sources"]["traffic_inputs"]
    assert s["hits"] == 10 * len(paths)
    # every path once from the origin, the rest from the cache
    assert s["origin_hits"] == len(served), s
    assert len([x for x in served if "__harness_probe__" not in x]) == \
        len(paths)
    assert s["cache_hit_ratio"] == pytest.approx(
        (10 * len(paths) - len(paths)) / (10 * len(paths)))
    assert s["visitors"] == 10
    html = (out / "memoria-tecnica.html").read_text()
    assert "registros de acceso de la CDN" in html
