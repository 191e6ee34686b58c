"""prep_stats_visitor_key: origins that read one secret hash a visitor
alike, so one report from both merges its visitors into a true union;
without it every origin draws its own key, and the report says the union
is an upper bound.  And what `nginx -t` says of a bad key file."""

import json
import os
import subprocess
from pathlib import Path

import pytest

import prep_harness as ph


pytestmark = pytest.mark.needs_module

BUILD = Path(os.environ.get("PREP_BUILD") or ph.REPO / "build")
REPORT = BUILD / "asan" / "prep-report"
DUMP = BUILD / "asan" / "prep-stats-dump"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
NOT_SHARED = "no comparten la clave de visitantes"


def key_file(tmp_path, name="visitor.key", secret="0123456789abcdef" * 4,
             mode=0o600):
    p = tmp_path / name
    p.write_text(secret + "\n")
    p.chmod(mode)
    return p


def send(inst, visitors):
    for v in visitors:
        r = inst.get("/index.html", headers={
            "X-Forwarded-For": "198.51.100.%d" % v, "User-Agent": UA})
        assert r.status == 200


def visitor_hashes(inst):
    """$prep_visitor of every request logged, by address."""
    out = {}
    for line in (inst.prefix / "stats.log").read_text().splitlines():
        f = line.split(" ")
        if f[0].startswith("198.51.100."):
            out[f[0]] = f[6]
    return out


def report(tmp_path, *urls):
    out = tmp_path / "out"
    args = [str(REPORT)]
    for u in urls:
        args += ["--stats", u]
    p = subprocess.run(args + ["--out", str(out)], capture_output=True,
                       text=True, timeout=120,
                       env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1"))
    assert p.returncode == 0, p.stderr
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr
    return json.loads((out / "memoria-tecnica.json").read_text()), p.stderr


def two_origins(stats_nginx, stats, keys):
    a = stats_nginx(http=keys[0])
    b = stats_nginx(http=keys[1])
    send(a, range(1, 31))                 # 30 visitors
    send(b, range(21, 51))                # 30, of which 10 also on a
    # and the harness's readiness probe: one more hit and visitor.  The
    # visitors figure is a HyperLogLog estimate (two of 31 hashes may
    # share a register and count once): wait on the exact count of
    # sessions started, one per visitor, and on the estimate near it
    for inst in (a, b):
        stats.wait(inst, lambda s: s["totals"]["hits"] >= 31
                   and s["sessions"]["started"] >= 31
                   and s["totals"]["visitors"] >= 29,
                   "31 hits and 31 visitors counted", 15.0)
    return a, b


def url(inst):
    return "http://127.0.0.1:%d/status?format=state" % inst.port


def test_one_key_two_origins_one_union(stats_nginx, stats, tmp_path):
    key = key_file(tmp_path)
    d = "prep_stats_visitor_key %s;" % key
    a, b = two_origins(stats_nginx, stats, [d, d])
    ha, hb = visitor_hashes(a), visitor_hashes(b)
    shared = sorted(set(ha) & set(hb))
    assert len(shared) == 10
    assert all(ha[x] == hb[x] for x in shared)

    doc, err = report(tmp_path, url(a), url(b))
    s = doc["summary"]
    # and each origin's readiness probe: one visitor, the same on both
    probes = sum(o["hits"] for o in doc["origins"]) - 60
    assert s["hits"] == 60 + probes and probes >= 2
    # 51 hashes in 16384 registers: linear counting, exact unless two
    # share a register (a few percent of runs), then one or two fewer
    assert 49 <= s["visitors"] <= 51, s
    assert NOT_SHARED not in err
    assert not any(NOT_SHARED in w for w in doc.get("warnings", []))

    # the state names the key, the same on both, and never the secret
    sa = a.get("/status?format=state").body
    (tmp_path / "a.state").write_bytes(sa)
    (tmp_path / "b.state").write_bytes(b.get("/status?format=state").body)
    ids = [json.loads(subprocess.run(
        [str(DUMP), str(tmp_path / n)], capture_output=True, text=True,
        check=True).stdout)["key_id"] for n in ("a.state", "b.state")]
    assert ids[0] == ids[1] and ids[0] != 0
    assert b"0123456789abcdef" not in sa


def test_own_keys_two_origins_an_upper_bound(stats_nginx, stats, tmp_path):
    a, b = two_origins(stats_nginx, stats, ["", ""])
    ha, hb = visitor_hashes(a), visitor_hashes(b)
    shared = sorted(set(ha) & set(hb))
    assert shared and all(ha[x] != hb[x] for x in shared)

    doc, err = report(tmp_path, url(a), url(b))
    # the 10 counted twice, and the two probes' visitor
    assert 60 <= doc["summary"]["visitors"] <= 62, doc["summary"]
    assert NOT_SHARED in err


def test_other_secret_other_visitors(stats_nginx, stats, tmp_path):
    ka = key_file(tmp_path, "a.key")
    kb = key_file(tmp_path, "b.key", secret="fedcba9876543210" * 4)
    a, b = two_origins(stats_nginx, stats,
                       ["prep_stats_visitor_key %s;" % ka,
                        "prep_stats_visitor_key %s;" % kb])
    ha, hb = visitor_hashes(a), visitor_hashes(b)
    assert all(ha[x] != hb[x] for x in set(ha) & set(hb))
    doc, err = report(tmp_path, url(a), url(b))
    assert NOT_SHARED in err


@pytest.mark.parametrize("case", ["short", "missing", "readable", "nozone"])
def test_bad_key_files(nginx_factory, stats_nginx, tmp_path, case):
    if case == "short":
        k = key_file(tmp_path, secret="tooshort")
    elif case == "missing":
        k = tmp_path / "nope.key"
    else:
        k = key_file(tmp_path, mode=0o644)
    d = "prep_stats_visitor_key %s;" % k
    if case == "nozone":
        inst = nginx_factory(start=False, http_extra=d)
    else:
        inst = stats_nginx(http=d, start=False)
    rc, err = inst.config_test()
    if case == "short":
        assert rc != 0 and "[emerg]" in err
        assert "must hold a secret of 16 to 1024 bytes" in err, err
    elif case == "missing":
        assert rc != 0 and "[emerg]" in err and str(k) in err, err
    elif case == "readable":
        assert rc == 0, err
        assert "[warn]" in err and "chmod 600" in err, err
    else:
        assert rc != 0
        assert '"prep_stats_visitor_key" needs "prep_stats_zone"' in err, err
