"""prep-report's access-log side: one scripted traffic written as an
nginx log, as CloudFront files split by edge and hour (shuffled), and as
Cloudflare NDJSON gives the same figures from all three, equal to the
figures computed independently (visitors within the HyperLogLog error);
bad lines, cut gzip files and --from/--to are counted, never fatal.

Runs build/asan/prep-logs-dump (the counting of prep-report --log, alone).
"""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "fixtures"))

import logs_traffic as lt  # noqa: E402

BUILD = Path(os.environ.get("PREP_BUILD") or REPO / "build")
DUMP = BUILD / "asan" / "prep-logs-dump"


def dump(*args, check=True):
    if not DUMP.exists():
        pytest.fail("%s is missing: make asan" % DUMP, pytrace=False)
    p = subprocess.run([str(DUMP), "--gmtoff", str(lt.GMTOFF_MIN)]
                       + [str(a) for a in args],
                       capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, p.stderr
        assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr
        return json.loads(p.stdout)
    return p


@pytest.fixture(scope="module")
def traffic():
    return lt.make_traffic()


@pytest.fixture(scope="module")
def logs(traffic, tmp_path_factory):
    d = tmp_path_factory.mktemp("logs")
    lt.write_nginx(traffic, d / "access.log")
    (d / "cf").mkdir()
    names = lt.write_cloudfront(traffic, d / "cf")
    assert len(names) > 20
    lt.write_cloudflare(traffic, d / "cloudflare.ndjson.gz")
    return d


def figures(out):
    """What must be the same whatever the format."""
    return dict(
        hits=out["hits"], pages=out["pages"], bytes=out["bytes"],
        visits=out["visits"], sessions=out["sessions"],
        session_ms=out["session_ms"], histogram=out["histogram"],
        classes=out["classes"], bot_hits=out["bot_hits"],
        bot_bytes=out["bot_bytes"], visitor_days=out["visitor_days"],
        rows=sorted((r["path"], r["hits"], r["pages"], r["bytes"])
                    for r in out["rows"]),
        days=[(d["id"], d["hits"], d["pages"], d["bytes"], d["visits"],
               d["bot_hits"], d["visitors"]) for d in out["days"]],
        hours=[(h["id"], h["hits"], h["visits"]) for h in out["hours"]])


def test_three_formats_same_figures(traffic, logs):
    e = lt.expected(traffic)
    outs = {
        "nginx": dump("nginx:%s" % (logs / "access.log")),
        "cloudfront": dump("cloudfront:%s" % (logs / "cf")),
        "cloudflare": dump("cloudflare:%s" % (logs /
                                               "cloudflare.ndjson.gz")),
    }
    for name, out in outs.items():
        s = out["summary"]
        assert s["malformed"] == 0, (name, s["samples"])
        assert s["nerrors"] == 0, (name, s["errors"])
        assert s["records"] == len(traffic), name
        assert out["hits"] == e["hits"], name
        assert out["pages"] == e["pages"], name
        assert out["bytes"] == e["bytes"], name
        assert out["classes"] == e["classes"], name
        assert out["bot_hits"] == e["bot_hits"], name
        assert out["bot_bytes"] == e["bot_bytes"], name
        assert out["visits"] == e["visits"], name
        assert out["sessions"] == e["visits"], name
        assert out["histogram"] == e["histogram"], name
        assert out["session_ms"] == e["session_ms"], name
        rows = {r["path"]: [r["hits"], r["pages"], r["bytes"]]
                for r in out["rows"]}
        assert rows == e["rows"], name
        days = {d["id"]: d for d in out["days"]}
        assert sorted(days) == sorted(e["days"]), name
        for day, want in e["days"].items():
            got = days[day]
            for k in ("hits", "pages", "bytes", "visits", "bot_hits"):
                assert got[k] == want[k], (name, day, k)
            # p = 14: 0.81% standard error; a few hundred are exact-ish
            assert abs(got["visitors"] - e["day_visitors"][day]) \
                <= max(2, 0.02 * e["day_visitors"][day]), (name, day)
        assert abs(out["visitor_days"] - e["visitor_days"]) \
            <= max(2, 0.02 * e["visitor_days"]), name

    # and identical to each other, to the visitor estimates
    f = {k: figures(v) for k, v in outs.items()}
    assert f["nginx"] == f["cloudfront"] == f["cloudflare"]

    # the CDN logs tell the cache's part; nginx's does not
    for name in ("cloudfront", "cloudflare"):
        s = outs[name]["summary"]
        assert s["cache_hits"] == e["cache_hits"], name
        assert s["cache_origin"] == e["cache_origin"], name
    assert outs["nginx"]["summary"]["cache_unknown"] == len(traffic)


def test_cloudfront_files_in_any_order(traffic, logs, tmp_path):
    """The same files given one by one, in reverse name order, and twice
    the window of disorder away from sorted: the same visits."""
    files = sorted((logs / "cf").iterdir(), reverse=True)
    out = dump(*["cloudfront:%s" % p for p in files])
    ref = dump("--sha256", "cloudfront:%s" % (logs / "cf"))
    assert figures(out) == figures(ref)
    assert out["summary"]["files"] == len(files)

    # every file's SHA-256, for the methodology; read in time order
    import hashlib
    got = {f["path"]: f["sha256"] for f in ref["files"]}
    assert got == {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
                   for p in files}
    firsts = [f["records"] for f in ref["files"]]
    assert sum(firsts) == len(traffic)
    assert all(f["sha256"] == "" for f in out["files"])


def test_bad_lines_counted_never_fatal(traffic, tmp_path):
    log = tmp_path / "bad.log"
    lines = [lt.nginx_line(r) for r in traffic[:50]]
    lines.insert(3, "not a log line at all\n")
    lines.insert(10, '192.0.2.1 - - [32/Foo/2026:99:00:00 +0000] "GET / '
                     'HTTP/1.1" 200 1 "-" "x"\n')
    lines.insert(20, "x" * 70000 + "\n")
    lines.append('192.0.2.9 - - [02/Jun/2026:10:00:00 -0600] "GET /x '
                 'HTTP/1.1" 200')   # cut, no newline
    log.write_text("".join(lines))
    out = dump("nginx:%s" % log)
    s = out["summary"]
    assert s["malformed"] == 4
    assert s["records"] == 50
    assert [x["line"] for x in s["samples"]] == [4, 11, 21, 54]
    assert all(x["file"] == str(log) for x in s["samples"])
    assert "longer than 64 KiB" in s["samples"][2]["reason"]
    assert out["hits"] + out["bot_hits"] == 50


def test_truncated_gzip_names_the_file(traffic, tmp_path):
    whole = tmp_path / "whole.log.gz"
    with gzip.open(str(whole), "wt") as f:
        for r in traffic:
            f.write(lt.nginx_line(r))
    data = whole.read_bytes()
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(data[:len(data) // 2])
    other = tmp_path / "other.log"
    other.write_text("".join(lt.nginx_line(r) for r in traffic[:10]))
    out = dump("nginx:%s" % cut, "nginx:%s" % other)
    s = out["summary"]
    assert s["nerrors"] == 1
    assert str(cut) in s["errors"][0]
    assert "truncated gzip" in s["errors"][0]
    assert "missing" in s["errors"][0]
    # what came before the cut is counted, and the other file whole
    assert 10 < s["records"] < len(traffic) + 10
    assert s["malformed"] == 0

    # two members, as logrotate's delaycompress and CDNs make them
    two = tmp_path / "two.log.gz"
    half = len(traffic) // 2
    two.write_bytes(
        gzip.compress("".join(lt.nginx_line(r)
                              for r in traffic[:half]).encode())
        + gzip.compress("".join(lt.nginx_line(r)
                                for r in traffic[half:]).encode()))
    out = dump("nginx:%s" % two)
    assert out["summary"]["records"] == len(traffic)
    assert out["summary"]["nerrors"] == 0


def test_from_to_skipped_and_counted(traffic, logs):
    t0 = lt.START * 1000 + 86400 * 1000
    out = dump("--from", t0, "--to", t0 + 6 * 3600 * 1000,
               "nginx:%s" % (logs / "access.log"))
    inside = [r for r in traffic
              if t0 <= r["t"] * 1000 < t0 + 6 * 3600 * 1000]
    s = out["summary"]
    assert s["records"] == len(inside)
    assert s["out_of_range"] == len(traffic) - len(inside)
    e = lt.expected(inside)
    assert out["hits"] == e["hits"]
    assert out["visits"] == e["visits"]


def test_json_field_map(traffic, tmp_path):
    """Akamai DataStream 2 style names through --json-fields."""
    path = tmp_path / "akamai.ndjson"
    with open(path, "w") as f:
        for r in traffic:
            f.write(json.dumps({
                "reqTimeSec": "%d.%03d" % (r["t"], 0), "cliIP": r["ip"],
                "UA": r["ua"], "reqPath": r["path"][1:],
                "statusCode": str(r["status"]), "bytes": str(r["bytes"]),
                "cacheStatus": "1" if r["cache"] == "Hit" else "0"}) + "\n")
    out = dump("--json-fields", "time=reqTimeSec,ip=cliIP,ua=UA,"
               "uri=reqPath,status=statusCode,bytes=bytes,"
               "cache=cacheStatus", "json:%s" % path)
    e = lt.expected(traffic)
    assert out["hits"] == e["hits"]
    assert out["pages"] == e["pages"]
    assert out["visits"] == e["visits"]
    assert out["summary"]["cache_hits"] == e["cache_hits"]

    p = dump("json:%s" % path, check=False)
    assert p.returncode != 0 and "--json-fields" in p.stderr
    p = dump("--json-fields", "time=a,when=b", "json:%s" % path,
             check=False)
    assert p.returncode != 0 and "unknown field" in p.stderr


def test_bot_list_extends_and_replaces(traffic, logs, tmp_path):
    bots = tmp_path / "bots.txt"
    bots.write_text("# ours\nFirefox/\n")
    base = dump("nginx:%s" % (logs / "access.log"))
    ext = dump("--bots", bots, "nginx:%s" % (logs / "access.log"))
    ff = sum(1 for r in traffic if "Firefox/" in r["ua"] and not r["bot"])
    assert ext["bot_hits"] == base["bot_hits"] + ff
    assert ext["hits"] == base["hits"] - ff
    assert str(bots) in ext["summary"]["bots"]
    rep = dump("--bots", bots, "--bots-replace",
               "nginx:%s" % (logs / "access.log"))
    assert rep["bot_hits"] == ff


def test_goaccess_cross_check(traffic, logs, tmp_path):
    """GoAccess (Debian's goaccess) on the same nginx log: the same hits
    and requests per path, visitors within 2%.  Its own crawler list
    (--ignore-crawlers) and ours agree on this traffic's bots."""
    ga = tmp_path / "ga.json"
    subprocess.run(["goaccess", str(logs / "access.log"),
                    "--log-format=COMBINED", "--no-progress",
                    "--ignore-crawlers", "--no-query-string",
                    "-o", str(ga)], check=True, timeout=120,
                   capture_output=True)
    g = json.loads(ga.read_text())
    out = dump("nginx:%s" % (logs / "access.log"))
    assert g["general"]["valid_requests"] == out["hits"]
    assert g["general"]["total_requests"] == out["hits"] + out["bot_hits"]
    theirs = {}
    for panel in ("requests", "static_requests", "not_found"):
        for item in g[panel]["data"]:
            theirs[item["data"]] = theirs.get(item["data"], 0) \
                + item["hits"]["count"]
    ours = {r["path"]: r["hits"] for r in out["rows"]}
    assert theirs == ours
    v = g["general"]["unique_visitors"]
    assert abs(out["visitor_days"] - v) <= 0.02 * v


AWSTATS_CONF = """LogFile="{log}"
LogType=W
LogFormat=1
SiteDomain="prep.example.mx"
HostAliases="localhost"
DNSLookup=0
DirData="{dir}"
DirIcons="/icon"
AllowToUpdateStatsFromBrowser=0
PurgeLogFile=0
KeepBackupOfHistoricFiles=0
DefaultFile="index.html"
ValidHTTPCodes="200 304"
NotPageList="css js class gif jpg jpeg png bmp ico rss xml swf svg"
LevelForRobotsDetection=2
LevelForBrowsersDetection=0
LevelForOSDetection=0
LevelForRefererAnalyze=0
LevelForFileTypesDetection=2
LevelForSearchEnginesDetection=0
LevelForKeywordsDetection=0
LevelForWormsDetection=0
"""


def test_awstats_cross_check(tmp_path):
    """AWStats (Debian's awstats) on an nginx log of browser-like traffic
    (every visit starts with a page, assets right after it, no shared
    addresses): the same pages and hits per day, visits within 2% with
    its 60-minute timeout.  AWStats counts .csv as downloads and only
    200/304 as hits: prep-logs-dump gets the same page types, and the
    404s of each day, known here, are taken off."""
    awstats = Path("/usr/lib/cgi-bin/awstats.pl")
    if not awstats.exists():
        pytest.fail("awstats is not installed (make deps)", pytrace=False)
    traffic = lt.make_traffic(seed=11, nat=False, page_first=True)
    log = tmp_path / "access.log"
    lt.write_nginx(traffic, log)
    (tmp_path / "awstats.t.conf").write_text(
        AWSTATS_CONF.format(log=log, dir=tmp_path))
    subprocess.run(["perl", str(awstats), "-config=t",
                    "-configdir=%s" % tmp_path, "-update"], check=True,
                   capture_output=True, timeout=120)
    data = next(tmp_path.glob("awstats*.t.txt")).read_text().splitlines()
    start = data.index(next(x for x in data if x.startswith("BEGIN_DAY ")))
    theirs = {}
    for line in data[start + 1:]:
        if line.startswith("END_DAY"):
            break
        date, pages, hits, _bw, visits = line.split()
        theirs[date] = (int(pages), int(hits), int(visits))

    out = dump("--session-timeout", 3600 * 1000,
               "--pages", "text/html,application/json", "nginx:%s" % log)
    not_found = {}
    for r in traffic:
        if not r["bot"] and r["status"] == 404:
            d = lt.local_day(r["t"])
            not_found[d] = not_found.get(d, 0) + 1
    import datetime
    ours = {}
    for d in out["days"]:
        date = (datetime.date(1970, 1, 1)
                + datetime.timedelta(days=d["id"])).strftime("%Y%m%d")
        ours[date] = (d["pages"], d["hits"] - not_found.get(d["id"], 0),
                      d["visits"])
    assert sorted(ours) == sorted(theirs)
    for date in ours:
        assert ours[date][:2] == theirs[date][:2], date
    v_ours = sum(v[2] for v in ours.values())
    v_theirs = sum(v[2] for v in theirs.values())
    assert abs(v_ours - v_theirs) <= 0.02 * v_theirs, (v_ours, v_theirs)


REPORT = BUILD / "asan" / "prep-report"
ANNEXES = ("visitas_por_dia.csv", "visitas_por_hora.csv", "paginas.csv",
           "permanencia.csv")


def report(out, *args):
    if not REPORT.exists():
        pytest.fail("%s is missing: make asan" % REPORT, pytrace=False)
    p = subprocess.run([str(REPORT), "--tz", "-06:00", "--out", str(out)]
                       + [str(a) for a in args],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr
    return json.loads((out / "memoria-tecnica.json").read_text())


def test_three_formats_same_memoria_tecnica(traffic, logs, tmp_path):
    """The same traffic through prep-report itself, as an nginx log, as
    shuffled CloudFront files and as Cloudflare NDJSON: one document,
    figure for figure and annex for annex, equal to the independent
    count, each naming its source."""
    import datetime

    e = lt.expected(traffic)
    inputs = {
        "nginx": "nginx:%s" % (logs / "access.log"),
        "cloudfront": "cloudfront:%s" % (logs / "cf"),
        "cloudflare": "cloudflare:%s" % (logs / "cloudflare.ndjson.gz"),
    }
    docs = {name: report(tmp_path / name, "--log", src)
            for name, src in inputs.items()}

    def day_name(d):
        return (datetime.date(1970, 1, 1)
                + datetime.timedelta(days=d)).isoformat()

    for name, doc in docs.items():
        s = doc["summary"]
        assert doc["period"]["utc_offset_minutes"] == lt.GMTOFF_MIN, name
        assert doc["warnings"] == [], (name, doc["warnings"])
        for k in ("hits", "pages", "bytes", "bot_hits", "bot_bytes",
                  "visits", "session_ms"):
            assert s[k] == e[k], (name, k)
        assert [b["visits"] for b in doc["histogram"]] == e["histogram"]
        assert {p["path"]: [p["hits"], p["pages"], p["bytes"]]
                for p in doc["paths"]} == e["rows"], name
        days = {d["start"]: d for d in doc["days"] if d["hits"]}
        assert sorted(days) == sorted(day_name(d) for d in e["days"])
        for d, want in e["days"].items():
            got = days[day_name(d)]
            for k in ("hits", "pages", "bytes", "visits", "bot_hits"):
                assert got[k] == want[k], (name, d, k)
            assert abs(got["visitors"] - e["day_visitors"][d]) \
                <= max(2, 0.02 * e["day_visitors"][d]), (name, d)
        assert sum(h["hits"] for h in doc["hours"]) == e["hits"], name
        assert abs(s["visitor_days_sum"] - e["visitor_days"]) \
            <= max(2, 0.02 * e["visitor_days"]), name
        assert doc["sources"]["traffic_inputs"] == inputs[name]
        assert [i["input"] for i in doc["inputs"]] and all(
            len(i["sha256"]) == 64 for i in doc["inputs"]), name

    # one document: every figure and annex the same, bar the sources
    def figures(doc):
        return {k: doc[k] for k in ("period", "days", "hours", "histogram",
                                    "paths")} | {
            "summary": {k: v for k, v in doc["summary"].items()
                        if k not in ("cache_hit_ratio",
                                     "origin_share_percent")}}
    f = {name: figures(doc) for name, doc in docs.items()}
    assert f["nginx"] == f["cloudfront"] == f["cloudflare"]
    for annex in ANNEXES:
        text = {name: (tmp_path / name / annex).read_text()
                for name in docs}
        assert text["nginx"] == text["cloudfront"] == text["cloudflare"], \
            annex

    # the CDN's logs know the cache; the web server's does not
    cached = e["cache_hits"] / (e["cache_hits"] + e["cache_origin"])
    assert docs["nginx"]["summary"]["cache_hit_ratio"] is None
    assert "sin datos de caché" in docs["nginx"]["sources"]["traffic"]
    for name in ("cloudfront", "cloudflare"):
        assert docs[name]["summary"]["cache_hit_ratio"] == \
            pytest.approx(cached, abs=1e-4), name
        assert "CDN" in docs[name]["sources"]["traffic"], name


@pytest.mark.needs_ingest
def test_report_bots_and_snapshot_for_logs(traffic, logs, tmp_path,
                                           packages):
    """prep-report --bots (the origins' prep_stats_bots file) and
    --snapshot (STORE/current: the type of a path a log line has none
    for) reach the counting of the logs, and both files are named in the
    methodology with their SHA-256; misuse is a clear usage error."""
    import hashlib

    import prep_harness as ph

    log = "nginx:%s" % (logs / "access.log")
    base = report(tmp_path / "base", "--log", log)
    bots = tmp_path / "bots.txt"
    bots.write_text("# ours\nFirefox/\n")
    ff = sum(1 for r in traffic if "Firefox/" in r["ua"] and not r["bot"])
    assert ff > 0
    ext = report(tmp_path / "ext", "--log", log, "--bots", bots)
    assert ext["summary"]["bot_hits"] == base["summary"]["bot_hits"] + ff
    assert ext["summary"]["hits"] == base["summary"]["hits"] - ff
    rep = report(tmp_path / "rep", "--log", log, "--bots", bots,
                 "--bots-replace")
    assert rep["summary"]["bot_hits"] == ff
    files = {i["input"]: i for i in ext["inputs"] if i["kind"] == "file"}
    assert files[str(bots)]["sha256"] == \
        hashlib.sha256(bots.read_bytes()).hexdigest()
    html = (tmp_path / "ext" / "memoria-tecnica.html").read_text()
    assert str(bots) in html

    store = tmp_path / "store"
    store.mkdir()
    ph.run_ingest(["publish", "--store", str(store),
                   os.fspath(packages.get("20240603_0015"))])
    snap = store / "current"
    withsnap = report(tmp_path / "snap", "--log", log, "--snapshot", snap)
    # the snapshot's types are the extensions' types for these paths
    assert withsnap["summary"]["pages"] == base["summary"]["pages"]
    files = {i["input"]: i for i in withsnap["inputs"]
             if i["kind"] == "file"}
    assert files[str(snap)]["sha256"] == \
        hashlib.sha256(snap.read_bytes()).hexdigest()

    def run(*args):
        return subprocess.run([str(REPORT), "--out", str(tmp_path / "x")]
                              + [str(a) for a in args],
                              capture_output=True, text=True, timeout=60)

    p = run("--log", log, "--snapshot", bots)
    assert p.returncode == 1 and str(bots) in p.stderr, p.stderr
    assert "snapshot" in p.stderr
    p = run("--log", log, "--bots", tmp_path / "none.txt")
    assert p.returncode == 1 and "none.txt" in p.stderr, p.stderr
    p = run("--stats", tmp_path / "none.state", "--bots", bots)
    assert p.returncode == 2 and "--bots is for --log" in p.stderr
    p = run("--log", log, "--bots-replace")
    assert p.returncode == 2 and "--bots-replace needs" in p.stderr
