"""Bounds under attack (issue 4, section 4): a flood of distinct visitors
and a probe of distinct paths keep the zone within its size, are counted,
and never make serving fail.

wrk drives both (a Lua script gives every request its own client address
or path).  PREP_STATS_FLOOD sets the number of distinct visitors of the
flood (default 200000; the issue's figure is 1000000).
"""

import os
import re
import signal
import subprocess

import pytest


pytestmark = pytest.mark.needs_module

INDEX = "/index.html"

FLOOD = int(os.environ.get("PREP_STATS_FLOOD", "200000"))

# every request its own X-Forwarded-For (mode "addr") or path ("path");
# each thread stops after its quota of responses
WRK_LUA = r"""
local threads = 0

function setup(thread)
    thread:set("id", threads)
    threads = threads + 1
end

function init(args)
    id = tonumber(wrk.thread:get("id"))
    mode = args[1]
    quota = tonumber(args[2])
    sent = 0
    got = 0
end

function request()
    local n = id * 8000000 + sent
    sent = sent + 1
    if mode == "addr" then
        local addr = string.format("10.%d.%d.%d", math.floor(n / 65536),
                                   math.floor(n / 256) % 256, n % 256)
        return wrk.format(nil, "/index.html",
                          {["X-Forwarded-For"] = addr,
                           ["User-Agent"] = "flood"})
    end
    return wrk.format(nil, string.format("/probe/%d/x%d.php", id, sent),
                      {["User-Agent"] = "probe"})
end

function response(status, headers, body)
    got = got + 1
    if got >= quota then
        wrk.thread:stop()
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("WRK requests=%d connect=%d read=%d write=%d "
                           .. "status=%d timeout=%d\n", summary.requests,
                           e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk(inst, stats, tmp_path, mode, total, threads=2, conns=8):
    """Runs the flood until nginx has counted total more hits (each wrk
    thread stops at its quota; wrk itself only ends on SIGINT or at its
    -d); returns wrk's request count and its error counts."""
    script = tmp_path / "flood.lua"
    script.write_text(WRK_LUA)
    hits = stats.status(inst)["totals"]["hits"]
    p = subprocess.Popen(
        ["wrk", "-t%d" % threads, "-c%d" % conns, "-d300s", "-s",
         str(script), "http://127.0.0.1:%d/" % inst.port, "--", mode,
         str(total // threads)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stats.wait(inst, lambda s: s["totals"]["hits"] >= hits + total,
                   "%d requests from wrk" % total, timeout=240)
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    out = out.decode()
    m = re.search(r"WRK requests=(\d+) connect=(\d+) read=(\d+) write=(\d+) "
                  r"status=(\d+) timeout=(\d+)", out)
    assert p.returncode == 0 and m, out + err.decode()
    requests, *errors = (int(x) for x in m.groups())
    return requests, errors


def test_visitor_flood_stays_in_the_zone(stats_nginx, stats, tmp_path):
    inst = stats_nginx(zone="3m paths=256", state=None, timeout="30m")
    base = stats.wait_hits(inst, stats.probes)
    capacity = base["zone"]["sessions_capacity"]
    assert capacity < FLOOD / 10

    requests, errors = wrk(inst, stats, tmp_path, "addr", FLOOD)
    assert requests >= FLOOD
    assert errors == [0, 0, 0, 0, 0], "serving failed under the flood"

    s = stats.wait_hits(inst, base["totals"]["hits"] + requests)
    z, ses = s["zone"], s["sessions"]

    # counted: every response (wrk may close a few in flight at its stop)
    flood_hits = s["totals"]["hits"] - base["totals"]["hits"]
    assert requests <= flood_hits <= requests + 8
    assert stats.row(s, INDEX)["hits"] == flood_hits

    # bounded: the table is full, the oldest were evicted, none was lost
    assert z["size"] == 3 * 1024 * 1024
    assert z["used"] + z["free"] == z["size"]
    assert z["sessions_capacity"] == capacity
    assert ses["live"] == z["sessions_live"] == capacity
    assert ses["evicted"] == z["evictions"] >= flood_hits - capacity
    assert ses["started"] == ses["completed"] + ses["live"]
    assert ses["started"] - base["sessions"]["started"] == flood_hits

    # distinct visitors: the HyperLogLog estimate, 0.81% standard error
    visitors = s["totals"]["visitors"] - base["totals"]["visitors"]
    assert abs(visitors - flood_hits) <= 0.03 * flood_hits, \
        (visitors, flood_hits)

    # still serving, and still counting
    assert inst.get(INDEX).status == 200
    stats.wait_hits(inst, s["totals"]["hits"] + 1)


def test_path_probe_grows_only_other(stats_nginx, stats, tmp_path, pkg_a):
    inst = stats_nginx(state=None)
    base = stats.wait(inst, lambda s: s["zone"]["paths"] ==
                      len(pkg_a.listing)
                      and s["totals"]["hits"] == stats.probes,
                      "the rows of the corte and the start probe")

    requests, errors = wrk(inst, stats, tmp_path, "path", 10000,
                           conns=4)
    assert requests >= 10000
    assert errors[:3] == [0, 0, 0] and errors[4] == 0
    assert errors[3] == requests             # all 404s

    s = stats.wait_hits(inst, base["totals"]["hits"] + requests)
    probe_hits = s["totals"]["hits"] - base["totals"]["hits"]
    assert requests <= probe_hits <= requests + 4
    assert s["other"]["hits"] - base["other"]["hits"] == probe_hits
    assert s["status_classes"]["4xx"] - base["status_classes"]["4xx"] == \
        probe_hits

    # no row, no byte, no page was added for them
    assert s["pages"] == base["pages"]
    for key in ("paths", "path_bytes", "free", "used"):
        assert s["zone"][key] == base["zone"][key], key


def test_full_path_table_counts_in_other(stats_nginx, stats, pkg_a):
    """A corte with more paths than rows: the paths without a row are
    counted in "other" and as unlisted hits; the table stays at its
    size."""
    inst = stats_nginx(zone="3m paths=16", state=None)
    inst.allow_log(r"\[warn\] .*paths of corte .* have no row left")
    s = stats.wait(inst, lambda s: s["zone"]["paths"] == 16,
                   "the rows to fill up")
    listed = {r["path"] for r in s["pages"]}
    unlisted = sorted(set(pkg_a.listing) - listed)
    assert len(listed) == 16 and len(unlisted) == len(pkg_a.listing) - 16

    base = s
    for path in unlisted[:10] + sorted(listed)[:5]:
        assert inst.get(path).status == 200
    s = stats.wait_hits(inst, base["totals"]["hits"] + 15)
    assert s["other"]["hits"] - base["other"]["hits"] == 10
    assert s["zone"]["unlisted_hits"] - base["zone"]["unlisted_hits"] == 10
    assert s["zone"]["paths"] == 16
    assert sum(r["hits"] for r in s["pages"]) == 5
    assert "have no row left" in inst.log_text()
