"""What the module records for the memoria tecnica (issue 9, section 2):
state file version 2, decoded by libprep (build/prep-stats-dump):
a HyperLogLog set for every day and every hour, whether nginx was
serving in each 5-minute bucket and the corte live at its end; and a
version 1 file of an older build is still restored.

nginx runs under libfaketime in America/Cancun (UTC-5), as in
test_stats_days.py.
"""

import datetime
import json
import os
import struct
import subprocess
import time
import zlib

import pytest

import prep_harness as ph
from test_stats_days import FAKETIME_ENV, clock, start  # noqa: F401


pytestmark = pytest.mark.needs_module

INDEX = "/index.html"
CANCUN = datetime.timezone(datetime.timedelta(hours=-5))


def dump_bin():
    build = os.environ.get("PREP_BUILD", "build")
    for p in (os.path.join(build, "asan", "prep-stats-dump"),
              os.path.join(build, "prep-stats-dump")):
        if os.path.exists(p):
            return p
    pytest.fail("prep-stats-dump is not built (make asan)", pytrace=False)


def dump(path):
    out = subprocess.run([dump_bin(), str(path)], check=True,
                         capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout)


def dump_live(inst, tmp_path):
    """The state as ?format=state serves it, decoded."""
    r = inst.get("/status?format=state")
    assert r.status == 200, r
    f = tmp_path / "live.state"
    f.write_bytes(r.body)
    return dump(f)


def utc(local):
    """Unix time of "YYYY-MM-DD hh:mm:ss" in Cancun."""
    d = datetime.datetime.strptime(local, "%Y-%m-%d %H:%M:%S")
    return int(d.replace(tzinfo=CANCUN).timestamp())


def bucket_of(local):
    return utc(local) // 300


def hour_of(local):
    return utc(local) // 3600


def day_of(local):
    return (utc(local) - 5 * 3600) // 86400


def visitors(inst, ids):
    conn = inst.connection(timeout=5)
    for i in ids:
        ph.http_request(conn, "GET", INDEX,
                        {"X-Forwarded-For": "10.20.%d.%d" % (i // 250,
                                                             i % 250),
                         "User-Agent": "v2"})


def close(estimate, exact):
    """Within the HyperLogLog error.  These sets (a few hundred) are
    counted linearly; for 250 in p=12's 4096 registers its standard
    error is about 1.1% (the salt is random, so every run draws anew):
    5% is over four of them, 3% was not enough (one run in a few
    hundred missed it)."""
    return abs(estimate - exact) <= max(3, 0.05 * exact)


def by_id(rows):
    return {r["id"]: r for r in rows}


def wait_corte(inst, tmp_path, bucket, corte, timeout=15.0):
    """Polls ?format=state until bucket has corte; a clear failure."""
    deadline = time.monotonic() + timeout
    while True:
        b = by_id(dump_live(inst, tmp_path)["buckets"]).get(bucket)
        if b and b.get("corte") == corte:
            return
        assert time.monotonic() < deadline, (bucket, corte, b)
        time.sleep(0.1)


def wait_serving(inst, tmp_path, local, timeout=15.0):
    """Worker 0's tick (once a second) marks the bucket of local."""
    deadline = time.monotonic() + timeout
    while True:
        b = by_id(dump_live(inst, tmp_path)["buckets"]).get(bucket_of(local))
        if b and b["serving"]:
            return
        assert time.monotonic() < deadline, (local, b)
        time.sleep(0.1)


def test_days_hours_serving_and_cortes(stats_nginx, stats, clock,
                                       monkeypatch, pkg_a, pkg_b,
                                       tmp_path):
    t1, t2, t3 = ("2024-06-03 22:10:00", "2024-06-03 23:10:00",
                  "2024-06-04 00:10:00")
    t4, t5 = "2024-06-04 02:10:00", "2024-06-04 02:20:00"

    clock.set(t1)
    inst = stats_nginx(timeout="60s", interval="1h", start=False,
                       main_extra=FAKETIME_ENV, publish=[pkg_a])
    start(inst, monkeypatch)
    assert inst.get(INDEX).corte == pkg_a.iso   # the probe's visitor
    corte_a = pkg_a.id

    visitors(inst, range(0, 300))               # 300 + the probe
    stats.wait_hits(inst, 301 + stats.probes)
    wait_serving(inst, tmp_path, t1)
    clock.set(t2)
    visitors(inst, range(200, 500))             # 100 seen in t1's hour
    wait_serving(inst, tmp_path, t2)
    clock.set(t3)
    visitors(inst, range(0, 250))               # a new day, a new key
    wait_serving(inst, tmp_path, t3)
    stats.wait_hits(inst, 851 + stats.probes)

    inst.quit()                                 # 01:00-02:00: stopped
    clock.set(t4)
    start(inst, monkeypatch)
    visitors(inst, range(1000, 1200))           # 200 + the new probe

    # the tick records corte A for t4's bucket, then B is published
    wait_corte(inst, tmp_path, bucket_of(t4), corte_a)
    clock.set(t5)
    inst.swap(pkg_b)
    assert inst.get(INDEX).corte == pkg_b.iso
    corte_b = pkg_b.id
    wait_corte(inst, tmp_path, bucket_of(t5), corte_b)
    live = dump_live(inst, tmp_path)
    assert live["salts"] == 0               # the keys stay on the machine

    inst.quit()
    st = dump(inst.prefix / "stats.state")
    assert st["version"] == 2
    assert st["utc_offset"] == -5 * 3600
    assert st["salts"] >= 1

    # per hour and per day, the module's own estimates and the sets'
    hours, days = by_id(st["hours"]), by_id(st["days"])
    probes = 1 + 1                          # corte_a's request: the probe
    expect_hours = {hour_of(t1): 300 + 1, hour_of(t2): 300,
                    hour_of(t3): 250, hour_of(t4): 200 + 1}
    for h, exact in expect_hours.items():
        assert close(hours[h]["visitors"], exact), (h, hours[h], exact)
        assert close(st["hll_hours"][str(h)], exact), (h, exact)
    expect_days = {day_of(t1): 500 + 1, day_of(t3): 250 + 200 + 1}
    for d, exact in expect_days.items():
        assert close(days[d]["visitors"], exact), (d, days[d], exact)
        assert close(st["hll_days"][str(d)], exact), (d, exact)
    assert sum(h["hits"] for h in st["hours"]) == \
        st["totals"]["hits"] == 1050 + probes + 2   # the corte checks

    # serving: where nginx ran, and not while it was stopped
    buckets = by_id(st["buckets"])
    for t in (t1, t2, t3, t4, t5):
        assert buckets[bucket_of(t)]["serving"], t
    gap = range(bucket_of("2024-06-04 00:20:00"),
                bucket_of("2024-06-04 02:05:00"))
    assert not any(buckets.get(b, {}).get("serving") for b in gap)

    # the corte live at each bucket's end
    assert buckets[bucket_of(t1)]["corte"] == corte_a
    assert buckets[bucket_of(t4)]["corte"] == corte_a
    assert buckets[bucket_of(t5)]["corte"] == corte_b

    # a restart keeps all of it and goes on
    t6 = "2024-06-04 02:40:00"
    clock.set(t6)
    start(inst, monkeypatch)
    visitors(inst, range(1000, 1010))       # seen today already
    wait_serving(inst, tmp_path, t6)
    stats.wait_hits(inst, st["totals"]["hits"] + 10 + stats.probes)
    inst.quit()
    again = dump(inst.prefix / "stats.state")
    for h, exact in expect_hours.items():
        assert by_id(again["hours"])[h]["visitors"] == hours[h]["visitors"]
    assert by_id(again["days"])[day_of(t1)] == days[day_of(t1)]
    assert close(by_id(again["days"])[day_of(t3)]["visitors"],
                 expect_days[day_of(t3)])
    b = by_id(again["buckets"])
    assert b[bucket_of(t5)]["corte"] == corte_b
    assert b[bucket_of(t6)]["serving"]
    assert not any(b.get(x, {}).get("serving") for x in gap)


# ----------------------------------------------- a version 1 file restored


def section(kind, payload):
    pad = b"\0" * (-len(payload) % 8)
    return struct.pack("<IIQ", kind, zlib.crc32(payload),
                       len(payload)) + payload + pad


def v1_state(now):
    """A state file as the module wrote it before version 2: periods of 7
    fields, hour sets of p=14, no cortes, no serving flags."""
    day, hour, bucket = now // 86400 - 1, now // 3600 - 30, now // 300 - 400
    u64 = lambda *v: struct.pack("<%dQ" % len(v), *v)      # noqa: E731
    secs = [section(1, u64(now - 86400 * 2, now - 60, 14, 300, 8192))]
    counters = [7, 5, 700] + [0, 7, 0, 0, 0, 0] + [3, 0, 0] + [0] * 7 \
        + [0, 0, 2, 200]
    secs.append(section(2, struct.pack("<I", len(counters))
                        + u64(*counters)))
    regs = bytearray(1 << 14)
    regs[1] = regs[5] = regs[9] = 1             # three visitors
    secs.append(section(4, struct.pack("<IQI", 0, hour, 14) + bytes(regs)))
    secs.append(section(4, struct.pack("<IQI", 1, day, 14) + bytes(regs)))
    for kind, pid in ((0, bucket), (1, hour), (2, day)):
        secs.append(section(5, struct.pack("<III", kind, 7, 1)
                            + u64(pid, 7, 5, 700, 3, 3, 2)))
    path = b"/index.html"
    secs.append(section(6, struct.pack("<I", 2) + u64(0, 0, 0)
                        + struct.pack("<I", 0) + u64(7, 5, 700)
                        + struct.pack("<I", len(path)) + path))
    secs.append(section(7, struct.pack("<I", 0)))
    body = b"".join(secs)
    header = bytearray(b"PREPSTAT" + struct.pack(
        "<IIQqIIII", 1, 48, 48 + len(body), now - 60, len(secs),
        zlib.crc32(body), 0, 0))
    header[44:48] = struct.pack("<I", zlib.crc32(bytes(header)))
    return bytes(header) + body, (day, hour, bucket)


def test_version_1_file_is_restored(stats_nginx, stats, tmp_path):
    inst = stats_nginx(timeout="10m", interval="1h", start=False)
    data, (day, hour, bucket) = v1_state(int(time.time()))
    check = tmp_path / "v1.state"
    check.write_bytes(data)
    v1 = dump(check)                            # libprep reads it alone
    assert v1["version"] == 1 and v1["totals"]["hits"] == 7

    (inst.prefix / "stats.state").write_bytes(data)
    inst.start()
    s = stats.wait_hits(inst, 7 + stats.probes)
    assert s["state"]["restored_from"].endswith("stats.state")
    assert stats.row(s, INDEX)["hits"] == 7
    assert s["totals"]["bots"]["hits"] == 2 if "bots" in s["totals"] \
        else True

    inst.quit()
    st = dump(inst.prefix / "stats.state")
    assert st["version"] == 2
    assert st["totals"]["bot_hits"] == 2
    assert by_id(st["buckets"])[bucket]["hits"] == 7
    assert by_id(st["hours"])[hour]["visitors"] == 3
    assert by_id(st["days"])[day]["visitors"] == 3
    assert st["hll_hours"][str(hour)] == 3      # folded to p=12
    assert st["hll_days"][str(day)] == 3


def test_zone_too_small_for_the_rings(tmp_path):
    """2m held every period before the rings of sets: now nginx -t says
    why it is not enough and what is."""
    conf = tmp_path / "nginx.conf"
    conf.write_text("load_module %s;\nerror_log %s/err.log;\n"
                    "events {}\nhttp {\nprep_stats_zone s 2m;\n"
                    "prep_stats_state off;\n"
                    "server { listen 127.0.0.1:9; location / {} }\n}\n"
                    % (ph.MODULE_SO, tmp_path))
    p = subprocess.run([ph.NGINX_BIN, "-t", "-p", str(tmp_path), "-c",
                        str(conf), "-e", str(tmp_path / "err.log")],
                       capture_output=True, timeout=30)
    err = p.stderr.decode(errors="replace")
    assert p.returncode != 0
    assert '[emerg]' in err and 'zone "s" is too small for paths=8192' in err
    assert "HyperLogLog sets of 64 days and 256 hours take 20" in err

    conf.write_text(conf.read_text().replace(" 2m;", " 4m;"))
    p = subprocess.run([ph.NGINX_BIN, "-t", "-p", str(tmp_path), "-c",
                        str(conf), "-e", str(tmp_path / "err.log")],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
