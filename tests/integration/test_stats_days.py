"""Hours, days, the daily key and the 10-day series, on a clock the test
moves: nginx runs under libfaketime (Debian's libfaketime), reading the
time from a file the test rewrites, in America/Cancun (UTC-5, no daylight
saving time), so local days begin at 05:00 UTC.
"""

import os
import re

import pytest

import prep_harness as ph


pytestmark = pytest.mark.needs_module

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
INDEX = "/index.html"

# the access log of the stats_nginx fixture: address, msec, status,
# bytes, method, uri, $prep_visitor, $prep_session_new, User-Agent
LOG_LINE = re.compile(r'^(\S+) \S+ \d+ \d+ "\w+" "(.*?)" (\S+) (\S+) '
                      r'"(.*)"$')


class Clock:
    """The time of the nginx under test: "@YYYY-MM-DD hh:mm:ss" local."""

    def __init__(self, path):
        self.path = path

    def set(self, when):
        ph.set_faketime(self.path, when)


@pytest.fixture
def clock(tmp_path, monkeypatch):
    if not os.path.exists(LIBFAKETIME):
        pytest.fail("%s is missing (make deps installs libfaketime)"
                    % LIBFAKETIME, pytrace=False)
    c = Clock(tmp_path / "faketime")
    monkeypatch.setenv("FAKETIME_TIMESTAMP_FILE", str(c.path))
    monkeypatch.setenv("FAKETIME_NO_CACHE", "1")
    monkeypatch.setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1")
    monkeypatch.setenv("TZ", "America/Cancun")
    return c


def start(inst, monkeypatch):
    """Starts nginx with libfaketime preloaded (nginx only: the sanitized
    prep-ingest must not get it)."""
    monkeypatch.setenv("LD_PRELOAD", LIBFAKETIME)
    try:
        inst.start()
    finally:
        monkeypatch.delenv("LD_PRELOAD")


# nginx keeps only TZ from its environment: libfaketime needs these
FAKETIME_ENV = ("env FAKETIME_TIMESTAMP_FILE;\nenv FAKETIME_NO_CACHE;\n"
                "env FAKETIME_DONT_FAKE_MONOTONIC;")


def visit(inst, who):
    r = inst.get(INDEX, {"X-Forwarded-For": who, "User-Agent": "days"})
    assert r.status == 200


def day(status, date):
    return next((d for d in status["days"] if d["date"] == date), None)


def log_matches(inst):
    """The lines of the statistics log, matched by LOG_LINE."""
    return [m for m in map(LOG_LINE.match,
                           inst.access_lines(inst.prefix / "stats.log")) if m]


def visit_ids(inst, n):
    """The visitor ids ($prep_visitor) of the first n requests that began
    a visit, in order, once the log has them."""
    def ids():
        out = [m.group(3) for m in log_matches(inst) if m.group(4) == "1"]
        return out[:n] if len(out) >= n else None
    return ph.wait_for(ids, 15, "%d visits in the log" % n, interval=0.05)


def counted(ids, p=14):
    """How many visitors a HyperLogLog set of 2^p registers counts for a
    handful of ids: one for each register they raise. Two ids fall in the
    same register about once in 2^p / pairs runs (the daily key is random),
    and the set counts one there, as it is built to."""
    return len({int(v, 16) >> (64 - p) for v in ids})


def visitor_ids(inst, addr):
    """(id, $prep_session_new) of addr's requests of the index page."""
    return [(m.group(3), m.group(4)) for m in log_matches(inst)
            if m.group(1) == addr and m.group(2) == INDEX]


def test_days_hours_and_the_daily_key(stats_nginx, stats, clock,
                                       monkeypatch):
    clock.set("2024-06-03 23:58:00")
    inst = stats_nginx(timeout="60s", interval="1h", start=False,
                       main_extra=FAKETIME_ENV)
    start(inst, monkeypatch)

    visit(inst, "10.9.0.1")                 # A
    visit(inst, "10.9.0.2")                 # B
    first = visit_ids(inst, 3)              # and the start probe
    s = stats.wait_hits(inst, 3, visitors=counted(first))
    assert s["today"]["date"] == "2024-06-03"
    assert s["since"] == "2024-06-04T04:58:00Z"

    # past local midnight: a new day, a new key, new sessions
    clock.set("2024-06-04 00:00:30")
    visit(inst, "10.9.0.1")                 # A again
    visit(inst, "10.9.0.3")                 # C
    second = visit_ids(inst, 5)[3:]
    s = stats.wait_hits(inst, 5, visitors=counted(first + second))
    assert s["today"]["date"] == "2024-06-04"
    assert (day(s, "2024-06-03")["hits"],
            day(s, "2024-06-03")["visitors"]) == (3, counted(first))
    assert (day(s, "2024-06-04")["hits"],
            day(s, "2024-06-04")["visitors"]) == (2, counted(second))
    assert s["totals"]["visitors"] == counted(first + second)  # visitor-days
    assert len(set(first + second)) == 5    # five visitor-days
    assert s["sessions"]["started"] == 5

    ids = visitor_ids(inst, "10.9.0.1")
    assert len(ids) == 2 and ids[0][0] != ids[1][0]
    assert [new for _, new in ids] == ["1", "1"]

    # hours (UTC): 04:00Z has the probe, A and B; 05:00Z has A and C
    hours = {h["start"]: h for h in s["hours"]}
    h4 = 1717473600                         # 2024-06-04T04:00:00Z
    assert (hours[h4]["hits"], hours[h4]["visitors"]) == \
        (3, counted(first, 12))
    assert (hours[h4 + 3600]["hits"], hours[h4 + 3600]["visitors"]) == \
        (2, counted(second, 12))
    assert sum(b["hits"] for b in s["series"]["buckets"]) == 5

    # the sessions time out on this clock too
    clock.set("2024-06-04 00:02:00")
    s = stats.wait_idle(inst)
    assert s["sessions"]["completed"] == 5

    # two days on, the first day's counts stay in the days ring
    clock.set("2024-06-06 00:00:10")
    visit(inst, "10.9.0.4")
    third = visit_ids(inst, 6)[5:]
    s = stats.wait_hits(inst, 6, visitors=counted(first + second + third))
    assert [(d["date"], d["hits"], d["visitors"]) for d in s["days"]] == [
        ("2024-06-03", 3, counted(first)), ("2024-06-04", 2, counted(second)),
        ("2024-06-06", 1, 1)]
    assert s["totals"]["visitors"] == counted(first + second + third)

    # a restart the same day keeps the key: the same visitor, not a new one
    inst.quit()
    start(inst, monkeypatch)
    visit(inst, "10.9.0.4")
    fourth = visit_ids(inst, 7)[6:]         # the new start probe
    every = first + second + third + fourth
    assert len(set(every)) == 7
    s = stats.wait_hits(inst, 8, visitors=counted(every))
    ids = visitor_ids(inst, "10.9.0.4")
    assert len(ids) == 2 and ids[0][0] == ids[1][0]
    assert ids[1][1] == "0"                 # the same visit, continued
    assert s["totals"]["visitors"] == counted(every)  # the probe's new day
    assert day(s, "2024-06-06")["visitors"] == counted(third + fourth)
    assert s["since"] == "2024-06-04T04:58:00Z"

    # two weeks on: the series keeps its last 10 2/3 days, the days stay
    clock.set("2024-06-20 12:00:00")
    visit(inst, "10.9.0.5")
    s = stats.wait_hits(inst, 9)
    newest = max(b["start"] for b in s["series"]["buckets"])
    assert all(b["start"] > newest - 3072 * 300
               for b in s["series"]["buckets"])
    assert len(s["series"]["buckets"]) == 1
    assert [d["date"] for d in s["days"]] == [
        "2024-06-03", "2024-06-04", "2024-06-06", "2024-06-20"]
    assert all(h["start"] > newest - 256 * 3600 for h in s["hours"])
