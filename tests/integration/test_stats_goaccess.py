"""Cross-check with a real log analyser: the same traffic, nginx's own
access log (COMBINED format) given to GoAccess (Debian's goaccess), and
our counters compared with its report: the same hits in total and per
path, the same bytes, and unique visitors within 2%.  GoAccess counts a
visitor as address + date + User-Agent, which is what the daily key of
$prep_visitor counts too.
"""

import json
import random
import shutil
import subprocess

import pytest

import prep_harness as ph


pytestmark = pytest.mark.needs_module

VISITORS = 20000
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/125.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile Safari",
    "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 "
    "Firefox/126.0",
    "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/125.0 Mobile Safari/537.36",
)


def goaccess(log, out):
    if shutil.which("goaccess") is None:
        pytest.fail("goaccess is not installed (make deps installs it)",
                    pytrace=False)
    p = subprocess.run(["goaccess", str(log), "--log-format=COMBINED",
                        "--no-global-config", "--4xx-to-unique-count",
                        "--no-progress", "--max-items=1000000",
                        "-o", str(out)],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return json.loads(out.read_text())


def per_path(report):
    """GoAccess's hits and bytes per path, over every method and every
    panel that lists paths."""
    out = {}
    for panel in ("requests", "static_requests", "not_found"):
        for item in report[panel]["data"]:
            h, b = out.get(item["data"], (0, 0))
            out[item["data"]] = (h + item["hits"]["count"],
                                 b + item["bytes"]["count"])
    return out


def test_counts_agree_with_goaccess(stats_nginx, stats, pkg_a, tmp_path):
    inst = stats_nginx(timeout="30m", state=None)
    rng = random.Random(4)
    paths = sorted(pkg_a.listing)
    conn = inst.connection()
    etags = {}
    sent = 0
    try:
        for v in range(VISITORS):
            # some addresses come back with another browser
            addr = "10.%d.%d.%d" % (9 + v % 3, v // 250 % 250, v % 250)
            if v % 10 == 9:
                addr = "10.%d.%d.%d" % (9 + (v - 1) % 3, (v - 1) // 250
                                        % 250, (v - 1) % 250)
            agent = AGENTS[v % len(AGENTS)]
            for _ in range(rng.choice((1, 1, 2, 3))):
                path = rng.choice(paths)
                method, headers = "GET", {}
                roll = rng.random()
                if roll < 0.05:
                    path = "/no/such/%d.json" % rng.randrange(100000)
                elif roll < 0.10:
                    method = "HEAD"
                elif roll < 0.20 and path in etags:
                    headers["If-None-Match"] = etags[path]
                headers.update({"X-Forwarded-For": addr,
                                "User-Agent": agent})
                r = ph.http_request(conn, method, path, headers)
                if r.header("ETag"):
                    etags[path] = r.header("ETag")
                sent += 1
    finally:
        conn.close()

    ours = stats.wait_hits(inst, sent + stats.probes)
    assert ours["totals"]["hits"] == sent + stats.probes  # and the probe

    # the same traffic as nginx logged it, without the status requests
    log = tmp_path / "combined.log"
    lines = [line for line in inst.access_lines(inst.prefix / "combined.log")
             if '"GET /status' not in line]
    log.write_text("\n".join(lines) + "\n")
    theirs = goaccess(log, tmp_path / "goaccess.json")
    general = theirs["general"]

    assert general["failed_requests"] == 0
    assert general["total_requests"] == ours["totals"]["hits"]
    assert general["valid_requests"] == ours["totals"]["hits"]
    assert general["bandwidth"] == ours["totals"]["bytes"]

    # per path: our rows exactly; everything else is our "other" row
    goa = per_path(theirs)
    other_hits = other_bytes = 0
    for path, (hits, nbytes) in goa.items():
        row = stats.row(ours, path)
        if row is None:
            other_hits += hits
            other_bytes += nbytes
        else:
            assert (row["hits"], row["bytes"]) == (hits, nbytes), path
    for row in ours["pages"]:
        assert goa.get(row["path"], (0, 0))[0] == row["hits"], row["path"]
    assert (other_hits, other_bytes) == (ours["other"]["hits"],
                                         ours["other"]["bytes"])

    # unique visitors: exact for GoAccess, HyperLogLog for us
    exact = general["unique_visitors"]
    assert exact > VISITORS * 0.8
    assert abs(ours["totals"]["visitors"] - exact) <= 0.02 * exact, \
        (ours["totals"]["visitors"], exact)
    assert ours["today"]["visitors"] == ours["totals"]["visitors"]
