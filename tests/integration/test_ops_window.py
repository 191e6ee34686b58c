"""The publication window (issue 11, section 2), --publish-from, with a
real nginx and a real watch: a corte that arrives before TIME is
validated and kept but not served; at TIME the latest one goes live at
once, without waiting for another drop."""

import json
import time

import pytest

import prep_harness as ph


pytestmark = [pytest.mark.needs_module, pytest.mark.needs_ingest]

FAST = ["--rescan-interval", "0.5", "--hook-retry-delay", "0.1",
        "--incomplete-timeout", "3"]


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))


def test_window_holds_a_corte_until_its_time(nginx_factory, watch_factory,
                                             pkg_a, pkg_b, tmp_path):
    nginx = nginx_factory()
    hook = tmp_path / "hook.log"
    start = int(time.time()) + 4
    w = watch_factory(nginx, args=FAST + [
        "--publish-from", iso(start),
        "--after-publish", "echo $PREP_EVENT $PREP_CORTE_ID >> %s" % hook])

    w.drop_file(pkg_a)
    held_a = w.wait_event("held", file=pkg_a.path.name)
    w.drop_file(pkg_b)
    held_b = w.wait_event("held", file=pkg_b.path.name)
    assert held_b["corte_id"] == pkg_b.id
    assert held_a["until"].startswith(iso(start)[:19])
    # kept, validated, not served
    assert (w.store / "cortes" / held_b["snapshot"]).exists()
    assert nginx.current_name() is None
    r = nginx.get("/index.html")
    assert r.status == 503 and r.header("Retry-After")
    assert time.time() < start, "the machine was too slow for this test"
    time.sleep(1.0)                  # rescans do not validate them again
    assert len(w.events("validated")) == 2

    ph.wait_for(lambda: nginx.get("/index.html").status == 200,
                10, "the corte at TIME")
    opened = time.time()
    assert opened >= start
    assert opened - start < 1.5, opened - start
    assert nginx.get("/index.html").corte == pkg_b.iso
    ev = w.wait_event("window_open")
    assert ev["snapshot"] == held_b["snapshot"] and ev["live"] is True
    assert ev["late_s"] < 1.0
    pub = w.wait_event("published", file=pkg_b.path.name)
    assert pub["resumed"] is True
    ph.wait_for(lambda: hook.exists() and ("publish %s" % pkg_b.id)
                in hook.read_text(), 10, "the after-publish hook")


def test_bad_publish_from_is_refused(nginx_factory, watch_factory):
    nginx = nginx_factory()
    w = watch_factory(nginx, args=["--publish-from", "tomorrow 8pm"],
                      start=False)
    w.start(wait=False, expect_exit=True)
    assert w.wait_exit(timeout=20) != 0
    assert "--publish-from tomorrow 8pm" in w.stderr_text()
    w.proc = None                    # its non-zero exit was the point


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


@pytest.mark.skipif(not __import__("os").path.exists(FAKETIME_LIB),
                    reason="libfaketime not installed")
def test_election_day_at_20h_under_libfaketime(nginx_factory, watch_factory,
                                               pkg_a):
    """The daemon's clock says 19:59:56 on election day (UTC-6): the
    corte dropped then goes live at 20:00:00 by that clock."""
    nginx = nginx_factory()
    env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": "@2024-06-03 01:59:56",
           "FAKETIME_DONT_RESET": "1",
           "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:"
                           "verify_asan_link_order=0"}
    w = watch_factory(nginx, env=env, args=FAST + [
        "--publish-from", "2024-06-02T20:00:00-06:00"])
    w.drop_file(pkg_a)
    held = w.wait_event("held", file=pkg_a.path.name)
    assert held["until"] == "2024-06-03T02:00:00.000Z"
    assert held["time"] < "2024-06-03T02:00:00"
    assert nginx.get("/index.html").status == 503
    ph.wait_for(lambda: nginx.get("/index.html").status == 200, 15,
                "the corte at 20:00 by the daemon's clock")
    ev = w.wait_event("window_open")
    assert ev["time"].startswith("2024-06-03T02:00:0"), ev["time"]
    assert ev["late_s"] < 1.0 and ev["live"] is True
    assert nginx.get("/index.html").corte == pkg_a.iso
