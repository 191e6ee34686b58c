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
    # the placeholder says when publication begins (STORE/window.json)
    assert json.loads((w.store / "window.json").read_text())[
        "publish_from_unix"] == start
    assert r.header("X-PREP-Publish-From") == iso(start)
    page = r.body.decode()
    assert ("comienza el <time datetime=\"%s\">%s a las %s (UTC+00:00)"
            % (iso(start), iso(start)[:10], iso(start)[11:16])) in page
    assert "<!--prep_publish_from-->" not in page
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


def test_placeholder_without_window_says_nothing_of_it(nginx_factory):
    nginx = nginx_factory()
    r = nginx.get("/index.html")
    assert r.status == 503
    assert r.header("X-PREP-Publish-From") is None
    assert "comienza el" not in r.body.decode()


def test_damaged_window_file_is_refused_and_logged(nginx_factory):
    nginx = nginx_factory()
    (nginx.store / "window.json").write_text(
        '{"publish_from":"<script>","publish_from_unix":4102444800}')
    nginx.allow_log(r"is not a valid publication window")
    nginx.reload()
    r = nginx.get("/index.html")
    assert r.status == 503 and r.header("X-PREP-Publish-From") is None
    assert "<script>" not in r.body.decode()
    assert "is not a valid publication window" in nginx.log_text()


KEEP_FUTURE = "2099-01-01T00:00:00+00:00"
KEEP_PAST = "2000-01-01T00:00:00+00:00"


def packages_in(store):
    return sorted(p.name for p in (store / "packages").iterdir()
                  if p.name.endswith(".tar.gz"))


@pytest.mark.parametrize("until", [None, KEEP_FUTURE, KEEP_PAST])
def test_keep_until_keeps_the_live_corte_and_its_predecessor(
        nginx_factory, watch_factory, packages, until):
    """--keep-packages 1 keeps one package; until --keep-until the
    package of the corte before the live one stays too."""
    a, b, c = packages.series(3)
    nginx = nginx_factory()
    args = FAST + ["--keep-packages", "1", "--keep-snapshots", "2"]
    if until:
        args += ["--keep-until", until]
    w = watch_factory(nginx, args=args)
    for pkg in (a, b, c):
        w.drop_file(pkg)
        w.wait_event("published", file=pkg.path.name)
    # the package is archived, and retention runs, after "published"
    want = [c.id] if until != KEEP_FUTURE else [b.id, c.id]
    ph.wait_for(lambda: [x.split("-")[0] for x in packages_in(w.store)]
                == want, 10, "retention to keep the packages of %s" % want)
    assert len(w.events("published")) == 3


def test_rollback_never_leaves_nothing_published(nginx_factory, pkg_a):
    nginx = nginx_factory(publish=[pkg_a])
    live = nginx.current_name()
    p = ph.run_ingest(["rollback", "--store", str(nginx.store),
                       "--control", str(nginx.control_sock),
                       "--keep-until", KEEP_FUTURE], expect_ok=False)
    assert p.returncode == 1
    assert "must not leave nothing published before --keep-until" \
        in p.stderr
    assert nginx.current_name() == live
    assert nginx.get("/index.html").corte == pkg_a.iso


@pytest.mark.parametrize("until,alarm", [(KEEP_FUTURE, True),
                                         (KEEP_PAST, False)])
def test_status_alarms_on_no_watch_until_keep_until(nginx_factory, pkg_a,
                                                    until, alarm):
    nginx = nginx_factory(publish=[pkg_a])
    p = ph.run_ingest(["status", "--store", str(nginx.store),
                       "--control", str(nginx.control_sock),
                       "--keep-until", until, "--json"], expect_ok=False)
    st = json.loads(p.stdout)
    kinds = [a["kind"] for a in st["alarms"]]
    assert ("watch_not_running" in kinds) is alarm, st["alarms"]
    assert st["keep_until"] == until
