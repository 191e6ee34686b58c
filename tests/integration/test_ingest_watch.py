"""prep-ingest watch, end to end with a real nginx: what is dropped gets
published (and served) once, in corte order, whatever way it arrives;
incomplete uploads wait; duplicates and conflicts are told apart; the
hook runs; retention, rollback, status, check and the config file work.

Each test gets its own nginx (conftest nginx_factory) and daemon
(conftest watch_factory); everything is observed through what nginx
serves, the files of the store and the events log.
"""

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import time

import pytest

import prep_harness as ph


pytestmark = [pytest.mark.needs_module, pytest.mark.needs_ingest]

INOTIFY_SYSCTL_LOCK = "/tmp/ngx_prep-inotify-sysctl.lock"
FAST = ["--rescan-interval", "0.5", "--hook-retry-delay", "0.1",
        "--incomplete-timeout", "3"]


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def served_corte(nginx):
    return nginx.get("/index.html").corte


def assert_serves(nginx, pkg):
    r = nginx.get("/index.html")
    assert r.status == 200, r
    assert r.corte == pkg.iso
    assert r.body == pkg.listing["/index.html"]


def test_publishes_a_dropped_package(nginx_factory, watch_factory, pkg_a):
    nginx = nginx_factory()
    assert nginx.get("/index.html").status == 503
    w = watch_factory(nginx, args=FAST)

    w.drop_file(pkg_a)
    ev = w.wait_event("published", file=pkg_a.path.name)

    assert_serves(nginx, pkg_a)
    assert ev["corte_id"] == pkg_a.id and ev["corte"] == pkg_a.iso
    assert ev["sha256"] == sha256(pkg_a.path)
    assert ev["live"] is True and ev["resumed"] is False
    assert ev["latency_s"] >= 0
    assert set(ev["phases"]) >= {"stage_s", "validate_s", "verify_s",
                                 "gzip_s", "commit_s", "flip_s", "reload_s"}
    assert ev["snapshot"] == w.current() == nginx.current_name()
    assert ev["snapshot"] == "%s-%s.snap" % (pkg_a.id, ev["sha256"][:12])

    # every step is in the log, in order, with the package's file name
    names = [e["event"] for e in w.events()
             if e.get("file") == pkg_a.path.name]
    assert names == ["seen", "verified", "validated", "published"]

    # the upload left the drop folder only once kept in packages/
    ph.wait_for(lambda: not list(w.drop.iterdir()), 5, "an empty drop")
    kept = w.store / "packages" / ("%s-%s.tar.gz"
                                   % (pkg_a.id, ev["sha256"][:12]))
    assert kept.read_bytes() == pkg_a.path.read_bytes()
    assert not list((w.store / "staging").iterdir())
    assert w.quarantine() == {}

    # every line of the log is one JSON object with the common fields
    for e in w.events():
        assert set(e) >= {"time", "event", "level", "pid", "msg"}, e


@pytest.mark.parametrize("how", ["copy", "rename", "link"])
def test_every_way_of_arriving(nginx_factory, watch_factory, pkg_a, how):
    """close_write (scp, sftp put), moved_to (rsync, sftp put+rename with
    posix-rename), create (sftp-server's link+unlink rename).  One look
    (drop_file: at the finished file), one "seen", the event's trigger."""
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST)
    w.drop_file(pkg_a, how=how)
    ev = w.wait_event("published")
    assert ev["file"] == pkg_a.path.name
    assert_serves(nginx, pkg_a)
    time.sleep(0.3)
    assert len(w.events("published")) == 1
    seen = w.events("seen")
    assert len(seen) == 1, seen
    assert seen[0]["trigger"] == {"copy": "close_write", "rename": "moved_to",
                                  "link": "create"}[how], seen


def test_temporary_names_are_ignored(nginx_factory, watch_factory, pkg_a):
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST)
    data = pkg_a.path.read_bytes()
    for name in (".20240603_0015.tar.gz.AbC123", "x.tar.gz.part",
                 "x.tar.gz.filepart", "x.tar.gz.tmp", ".hidden"):
        (w.drop / name).write_bytes(data)
    (w.drop / "sub").mkdir()
    # a full rescan happens every 0.5 s: give it a few
    time.sleep(1.5)
    assert [e["event"] for e in w.events()] == ["start"]
    assert served_corte(nginx) == "none"
    assert len(list(w.drop.iterdir())) == 6


def test_files_present_before_start(nginx_factory, watch_factory,
                                    packages):
    """The start-up listing takes what is there, once, in corte order
    (the newest listed first on purpose)."""
    a, b, c = packages.series(3)
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST, start=False)
    for pkg in (c, a, b):
        w.drop_file(pkg)
    w.start()
    w.wait_event("published", corte_id=c.id)
    published = [e["corte_id"] for e in w.events("published")]
    assert published == [a.id, b.id, c.id]
    assert_serves(nginx, c)
    time.sleep(1.0)
    assert len(w.events("published")) == 3


def test_corte_order_older_duplicate_conflict(nginx_factory, watch_factory,
                                              packages, tmp_path):
    a, b = packages.series(2)
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST)

    w.drop_file(b)
    w.wait_event("published", corte_id=b.id)

    # an older corte is not published
    m = w.mark()
    w.drop_file(a)
    ev = w.wait_event("rejected", after=m, file=a.path.name)
    assert ev["reason"] == "older_corte" and ev["level"] == "warning"
    assert_serves(nginx, b)

    # the live package again: a no-op
    m = w.mark()
    snap_files = sorted(os.listdir(w.store / "cortes"))
    link = os.lstat(w.store / "current")
    w.drop_file(b, name="again_" + b.path.name)
    ev = w.wait_event("duplicate", after=m)
    assert ev["sha256"] == sha256(b.path)
    assert sorted(os.listdir(w.store / "cortes")) == snap_files
    after = os.lstat(w.store / "current")
    assert (after.st_ino, after.st_mtime_ns) == (link.st_ino,
                                                 link.st_mtime_ns)
    assert not [e for e in w.events("published")[1:]]

    # the same corte with other content: rejected loudly
    other = packages.get(b.id, seed=7)
    assert sha256(other.path) != sha256(b.path)
    m = w.mark()
    w.drop_file(other, name="other_" + other.path.name)
    ev = w.wait_event("rejected", after=m)
    assert ev["reason"] == "corte_conflict" and ev["level"] == "alert"
    assert_serves(nginx, b)
    assert len(w.events("published")) == 1

    # each rejected package is in quarantine with its .reason
    q = w.quarantine()
    reasons = sorted(r["reason"] for r in q.values())
    assert reasons == ["corte_conflict", "older_corte"]
    for qname, r in q.items():
        assert set(r) >= {"reason", "message", "sha256", "size", "time",
                          "file"}
        assert (w.store / "quarantine" / qname).is_file()
        data = (w.store / "quarantine" / qname).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r["sha256"]
        assert len(data) == r["size"]
    ph.wait_for(lambda: not list(w.drop.iterdir()), 5, "an empty drop")


def test_truncated_upload_waits_then_completes(nginx_factory, watch_factory,
                                               pkg_a):
    nginx = nginx_factory()
    w = watch_factory(nginx, args=["--rescan-interval", "0.5",
                                   "--incomplete-timeout", "60"])
    data = pkg_a.path.read_bytes()
    target = w.drop / pkg_a.path.name

    # half a file, closed: close_write fires, nothing is published
    target.write_bytes(data[:len(data) // 2])
    ev = w.wait_event("incomplete")
    assert ev["reason"] == "truncated"
    time.sleep(1.0)
    assert served_corte(nginx) == "none"
    assert not w.events("rejected")

    # the rest arrives (an append, as sftp -a or rsync --append do)
    with open(target, "ab") as f:
        f.write(data[len(data) // 2:])
    w.wait_event("published", file=pkg_a.path.name)
    assert_serves(nginx, pkg_a)


def test_truncated_upload_quarantined_after_timeout(nginx_factory,
                                                    watch_factory, pkg_a):
    nginx = nginx_factory()
    w = watch_factory(nginx, args=["--rescan-interval", "0.5",
                                   "--incomplete-timeout", "1.5"])
    data = pkg_a.path.read_bytes()
    cut = data[:len(data) - 100]
    start = time.monotonic()
    (w.drop / pkg_a.path.name).write_bytes(cut)
    w.wait_event("incomplete")
    ev = w.wait_event("rejected", timeout=20)
    assert time.monotonic() - start >= 1.5
    assert ev["reason"] == "truncated"
    assert "no change for" in ev["message"]
    r = w.quarantine()[ev["quarantine"]]
    assert r["sha256"] == hashlib.sha256(cut).hexdigest()
    assert served_corte(nginx) == "none"


def test_slow_upload_is_not_given_up_while_it_grows(nginx_factory,
                                                    watch_factory, pkg_a):
    """An upload that takes far longer than --incomplete-timeout but
    never stops growing for that long is waited for, then published:
    the timeout counts time without change, not time since the start.
    No periodic listing: only the deadlines make the daemon look again
    while the writer holds the file open (no event until its close)."""
    timeout = 2.0
    nginx = nginx_factory()
    w = watch_factory(nginx, args=["--rescan-interval", "3600",
                                   "--incomplete-timeout", str(timeout)])
    data = pkg_a.path.read_bytes()
    name = pkg_a.path.name
    chunks = 25                       # one every 0.2 s: about 5 s in all
    step = len(data) // chunks + 1
    tmp = w.drop / (".%s.upload" % name)

    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data[:step])
        os.rename(tmp, w.drop / name)  # noticed at once, incomplete
        w.wait_event("incomplete", file=name, reason="truncated")
        start = time.monotonic()
        for off in range(step, len(data), step):
            time.sleep(0.2)           # the uploader's pace
            os.write(fd, data[off:off + step])
        assert time.monotonic() - start > 2 * timeout
        assert not w.events("rejected")
    finally:
        os.close(fd)

    ev = w.wait_event("published", file=name)
    assert ev["sha256"] == sha256(pkg_a.path)
    assert not w.events("rejected") and w.quarantine() == {}
    # looked at again as it grew: each look saw more of it
    sizes = [e["size"] for e in w.events("seen") if e["file"] == name]
    assert len(sizes) >= 3 and sizes == sorted(set(sizes)), sizes
    assert sizes[-1] == len(data)
    assert_serves(nginx, pkg_a)


def test_sidecar(nginx_factory, watch_factory, packages):
    a, b, c = packages.series(3)
    nginx = nginx_factory()
    w = watch_factory(nginx, args=["--rescan-interval", "0.5",
                                   "--incomplete-timeout", "2"])

    # a matching sidecar, written first ("sha256sum" format)
    (w.drop / (a.path.name + ".sha256")).write_text(
        "%s  %s\n" % (sha256(a.path), a.path.name))
    w.drop_file(a)
    ev = w.wait_event("verified", file=a.path.name)
    assert ev["sidecar"] == "match"
    w.wait_event("published", file=a.path.name)
    ph.wait_for(lambda: not list(w.drop.iterdir()), 5,
                "package and sidecar gone from the drop")
    kept = sorted(p.name for p in (w.store / "packages").iterdir())
    assert any(n.endswith(".tar.gz.sha256") for n in kept), kept

    # a wrong sidecar: waits, then quarantined with sha256_mismatch
    (w.drop / (b.path.name + ".sha256")).write_text("0" * 64 + "\n")
    m = w.mark()
    w.drop_file(b)
    ev = w.wait_event("incomplete", after=m)
    assert ev["reason"] == "sha256_mismatch"
    ev = w.wait_event("rejected", after=m, timeout=20)
    assert ev["reason"] == "sha256_mismatch"
    assert_serves(nginx, a)
    qname = ev["quarantine"]
    assert (w.store / "quarantine" / (qname + ".sha256")).is_file()

    # the sidecar arriving after the package (but before the timeout)
    m = w.mark()
    (w.drop / (c.path.name + ".sha256")).write_text("1" * 64 + "\n")
    w.drop_file(c)
    w.wait_event("incomplete", after=m, reason="sha256_mismatch")
    (w.drop / (c.path.name + ".sha256")).write_text(sha256(c.path) + "\n")
    w.wait_event("published", after=m, corte_id=c.id)


def test_require_sha256(nginx_factory, watch_factory, pkg_a):
    nginx = nginx_factory()
    w = watch_factory(nginx, args=["--require-sha256", "--rescan-interval",
                                   "0.5"])
    w.drop_file(pkg_a)
    ev = w.wait_event("incomplete")
    assert ev["reason"] == "sha256_missing"
    time.sleep(0.5)
    assert served_corte(nginx) == "none"
    side = w.drop / (pkg_a.path.name + ".sha256")
    tmp = w.drop / (".tmp-" + side.name)
    tmp.write_text("%s *%s\n" % (sha256(pkg_a.path), pkg_a.path.name))
    os.rename(tmp, side)
    w.wait_event("published")
    assert_serves(nginx, pkg_a)


def test_a_changed_upload_is_a_new_one(nginx_factory, watch_factory,
                                       packages):
    """What is validated is the private copy; a file rewritten under the
    same name after it was taken is looked at again as new content."""
    a, b = packages.series(2)
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST)
    name = "corte.tar.gz"       # no corte in the name: the content decides
    w.drop_file(a, name=name)
    w.wait_event("published", corte_id=a.id)
    m = w.mark()
    w.drop_file(b, name=name)
    w.wait_event("published", after=m, corte_id=b.id)
    assert_serves(nginx, b)
    assert [e["corte_id"] for e in w.events("published")] == [a.id, b.id]


def test_hook_runs_with_the_corte(nginx_factory, watch_factory, pkg_a,
                                  tmp_path):
    out = tmp_path / "hook.out"
    hook = ("printf '%%s %%s %%s %%s %%s\\n' \"$PREP_CORTE_ID\" "
            "\"$PREP_CORTE\" \"$PREP_SNAPSHOT\" \"$PREP_PACKAGE_SHA256\" "
            "\"$PREP_HOOK_ATTEMPT\" >> %s; test -f \"$PREP_SNAPSHOT_PATH\""
            " && echo purged" % out)
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST + ["--after-publish", hook])
    w.drop_file(pkg_a)
    pub = w.wait_event("published")
    ev = w.wait_event("hook")
    assert ev["ok"] is True and ev["attempt"] == 1 and ev["exit"] == 0
    assert ev["output"] == "purged\n"
    assert out.read_text() == "%s %s %s %s 1\n" % (
        pkg_a.id, pkg_a.iso, pub["snapshot"], pub["sha256"])


def test_hook_failure_is_retried_then_given_up(nginx_factory,
                                               watch_factory, packages,
                                               tmp_path):
    a, b = packages.series(2)
    count = tmp_path / "count"
    hook = ("echo x >> %s; [ \"$PREP_CORTE_ID\" = %s ] && "
            "[ \"$PREP_HOOK_ATTEMPT\" -ge 3 ]" % (count, b.id))
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST + ["--after-publish", hook,
                                          "--hook-retries", "2"])
    w.drop_file(a)
    ev = w.wait_event("hook_failed", corte_id=a.id)
    assert ev["attempts"] == 3 and ev["level"] == "alert"
    hooks = w.events("hook")
    assert [h["attempt"] for h in hooks] == [1, 2, 3]
    assert all(h["ok"] is False and h["exit"] == 1 for h in hooks)
    assert [h.get("retry_in") for h in hooks] == [0.1, 0.2, None]

    # b's hook succeeds on its third attempt
    m = w.mark()
    w.drop_file(b)
    ev = w.wait_event("hook", after=m, ok=True)
    assert ev["attempt"] == 3 and ev["corte_id"] == b.id


def test_hook_timeout(nginx_factory, watch_factory, pkg_a):
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST + ["--after-publish", "sleep 30",
                                          "--hook-timeout", "0.5",
                                          "--hook-retries", "0"])
    w.drop_file(pkg_a)
    ev = w.wait_event("hook", timeout=20)
    assert ev["ok"] is False and ev["timed_out"] is True
    assert ev["signal"] == signal.SIGKILL
    w.wait_event("hook_failed")


def test_retention(nginx_factory, watch_factory, packages):
    pkgs = packages.series(5)
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST + ["--keep-snapshots", "3",
                                          "--keep-packages", "2"])
    for pkg in pkgs:
        w.drop_file(pkg)
        w.wait_event("published", corte_id=pkg.id)

    # retention follows the "published" event: after the last one, the
    # snapshot of pkgs[1] and the package of pkgs[2] go
    def trimmed(where, pkg):
        return [e for e in w.events("retention") if e["dir"] == where
                and [n[:13] for n in e["removed"].split(",")] == [pkg.id]]
    ph.wait_for(lambda: trimmed("cortes", pkgs[1])
                and trimmed("packages", pkgs[2]), 20,
                "retention after the last publication")
    snaps = sorted(os.listdir(w.store / "cortes"))
    assert [s[:13] for s in snaps] == [p.id for p in pkgs[2:]]
    kept = sorted(os.listdir(w.store / "packages"))
    assert [k[:13] for k in kept] == [p.id for p in pkgs[3:]]
    assert w.current() == snaps[-1]
    removed = [e for e in w.events("retention")]
    assert removed and all(e["removed"] for e in removed)

    # the live snapshot is kept whatever its rank: tests/unit/test_watch.c


def test_rollback_is_audited(nginx_factory, watch_factory, packages):
    a, b = packages.series(2)
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST)
    for pkg in (a, b):
        w.drop_file(pkg)
        w.wait_event("published", corte_id=pkg.id)
    snap_b = w.current()
    bytes_b = (w.store / "cortes" / snap_b).read_bytes()

    r = ph.run_ingest(["rollback", "--store", str(w.store), "--control",
                       str(nginx.control_sock), "--reason", "wrong totals"])
    assert r.stdout.startswith("rolled back from %s" % b.id), r.stdout
    assert_serves(nginx, a)
    ev = w.events("rollback")[-1]
    assert ev["from_corte_id"] == b.id and ev["to_corte_id"] == a.id
    assert ev["reason"] == "wrong totals" and ev["live"] is True
    assert ev["user"] == "root" and ev["uid"] == os.getuid()
    # N's bytes are untouched
    assert (w.store / "cortes" / snap_b).read_bytes() == bytes_b

    # nothing older than a: no further rollback
    r = ph.run_ingest(["rollback", "--store", str(w.store)],
                      expect_ok=False)
    assert r.returncode == 1 and "no verified snapshot older" in r.stderr

    # forward again
    r = ph.run_ingest(["rollback", "--store", str(w.store), "--control",
                       str(nginx.control_sock), "--to", snap_b])
    assert_serves(nginx, b)


def test_status_and_stale_alarm(nginx_factory, watch_factory, pkg_a):
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST + ["--stale-period", "1"])
    w.drop_file(pkg_a)
    w.wait_event("published")
    status = ["status", "--store", str(w.store), "--control",
              str(nginx.control_sock)]

    r = ph.run_ingest(status + ["--stale-period", "60", "--json"])
    doc = json.loads(r.stdout)
    assert doc["live"]["corte_id"] == pkg_a.id
    assert doc["live"]["age_s"] > 0
    assert doc["watch_running"] is True
    assert doc["nginx"]["snapshot"] == w.current()
    assert doc["last_decision"]["event"] == "published"
    assert doc["alarms"] == []

    # no new corte for 1 s, 2 s: a warning, then an alert
    ev1 = w.wait_event("stale", timeout=10)
    ev2 = w.wait_event("stale", missed=2, timeout=10)
    assert ev1["level"] == "warning" and ev1["missed"] == 1
    assert ev2["level"] == "alert"
    r = ph.run_ingest(status + ["--stale-period", "1"], expect_ok=False)
    assert r.returncode == 3
    assert "live corte:     %s (%s)" % (pkg_a.id, pkg_a.iso) in r.stdout
    assert "watch:          running" in r.stdout
    assert "last decision:" in r.stdout and "published" in r.stdout
    assert "stale" in r.stdout.split("alarms:")[1]

    w.stop()
    r = ph.run_ingest(status + ["--stale-period", "3600", "--json"],
                      expect_ok=False)
    doc = json.loads(r.stdout)
    kinds = sorted(a["kind"] for a in doc["alarms"])
    assert "watch_not_running" in kinds and doc["watch_running"] is False


def test_check_command(tmp_path, packages):
    a, b = packages.series(2)
    r = ph.run_ingest(["check", str(a.path)])
    assert r.stdout.startswith("ok %s: corte %s (%s), " % (a.path, a.id,
                                                          a.iso))
    assert sha256(a.path) in r.stdout

    bad = tmp_path / a.path.name
    bad.write_bytes(a.path.read_bytes()[:-20])
    r = ph.run_ingest(["check", str(bad)], expect_ok=False)
    assert r.returncode == 2
    assert r.stderr.startswith("prep-ingest: rejected %s: truncated: "
                               % bad)

    # the sidecar next to it is honoured
    (tmp_path / (a.path.name + ".sha256")).write_text("f" * 64 + "\n")
    good = tmp_path / "good" / a.path.name
    good.parent.mkdir()
    good.write_bytes(a.path.read_bytes())
    (good.parent / (a.path.name + ".sha256")).write_text("0" * 64)
    r = ph.run_ingest(["check", str(good)], expect_ok=False)
    assert r.returncode == 2 and ": sha256_mismatch: " in r.stderr

    # against a store: what watch would do
    store = tmp_path / "store"
    store.mkdir()
    ph.run_ingest(["publish", "--store", str(store), str(b.path)])
    r = ph.run_ingest(["check", "--store", str(store), str(a.path)],
                      expect_ok=False)
    assert r.returncode == 2 and ": older_corte: " in r.stderr
    r = ph.run_ingest(["check", "--store", str(store), str(b.path)])
    assert "it is the live package" in r.stdout
    assert os.listdir(store / "cortes") == [
        n for n in os.listdir(store / "cortes") if n.endswith(".snap")]

    r = ph.run_ingest(["check"], expect_ok=False)
    assert r.returncode == 64


def test_config_file_and_help(tmp_path, nginx_factory, watch_factory,
                              pkg_a):
    nginx = nginx_factory()
    drop = tmp_path / "cfgdrop"
    drop.mkdir()
    conf = tmp_path / "prep-ingest.conf"
    conf.write_text(
        "# a comment\n"
        "drop = %s\n"
        "store = %s   # trailing comment\n"
        "control = \"%s\"\n"
        "rescan-interval = 500ms\n"
        "keep-snapshots = 4\n"
        "require-sha256 = no\n"
        "\n" % (drop, nginx.store, nginx.control_sock))
    w = watch_factory(store=nginx.store, drop=drop, control=None,
                      start=False)
    w.binary_args = None
    # the daemon with only --config: the file names everything
    cmd = [str(ph.INGEST_BIN), "watch", "--config", str(conf)]
    w.command = lambda: cmd
    w.start()
    w.drop_file(pkg_a)
    ev = w.wait_event("published")
    assert ev["live"] is True
    start = w.events("start")[0]
    assert start["config"] == str(conf) and start["drop"] == str(drop)

    bad = tmp_path / "bad.conf"
    for text, why in (("frobnicate = 1\n", "unknown key"),
                      ("keep-snapshots = 1\n", "is not a number"),
                      ("rescan-interval = soon\n", "is not a duration"),
                      ("drop\n", "expected \"key = value\"")):
        bad.write_text(text)
        r = ph.run_ingest(["watch", "--config", str(bad)], expect_ok=False)
        assert r.returncode == 64, text
        assert why in r.stderr and "line 1" in r.stderr, r.stderr

    r = ph.run_ingest(["watch", "--store", str(tmp_path)], expect_ok=False)
    assert r.returncode == 64 and "--drop DIR and --store DIR" in r.stderr

    # the shipped example is a valid config file for every command
    example = ph.REPO / "deploy" / "prep-ingest.conf.example"
    for cmd in ("watch", "status", "rollback", "check"):
        r = ph.run_ingest([cmd, "--config", str(example), "--help"])
        assert r.returncode == 0, (cmd, r.stderr)

    for args in (["--help"], ["watch", "--help"], ["help", "status"],
                 ["check", "--help"], ["rollback", "--help"]):
        r = ph.run_ingest(args)
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS"):
            assert "\n" + section + "\n" in "\n" + r.stdout, (args, section)
    text = ph.run_ingest(["watch", "--help"]).stdout
    for word in ("--after-publish", "--keep-snapshots", "--keep-packages",
                 "--incomplete-timeout", "--require-sha256",
                 "--stale-period", "older_corte", "corte_conflict",
                 "sha256_mismatch"):
        assert word in text, word

    man = ph.REPO / "ingest" / "prep-ingest.1"
    out = subprocess.run(["man", "--warnings", "-l", str(man)],
                         capture_output=True, text=True,
                         env=dict(os.environ, MANWIDTH="80", PAGER="cat"))
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr
    for word in ("watch", "rollback", "status", "check", "events.jsonl",
                 "PREP_CORTE_ID", "--config"):
        assert word in out.stdout, word


def test_second_watch_on_a_store_refused(watch_factory, tmp_path):
    w = watch_factory()
    w2 = watch_factory(store=w.store, start=False)
    w2.start(expect_exit=True)
    assert w2.wait_exit(timeout=20) == 1
    assert "another prep-ingest watch runs on" in w2.stderr_text()
    w2.proc = None          # its exit status is the point


def test_inotify_overflow_rescans(nginx_factory, watch_factory, packages):
    """A tiny event queue (max_queued_events is read when the daemon
    creates its inotify instance), a stopped daemon and a file storm:
    the queue overflows, the daemon lists the folder and takes every
    package once, in corte order."""
    pkgs = packages.series(3)
    nginx = nginx_factory()
    limit = "/proc/sys/fs/inotify/max_queued_events"
    w = watch_factory(nginx, args=["--rescan-interval", "3600"],
                      start=False)
    # the limit is global: runs of the suite side by side (the nginx
    # matrix) take turns, or one would save another's 16 as the value
    with open(INOTIFY_SYSCTL_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = open(limit).read().strip()
        with open(limit, "w") as f:
            f.write("16")
        try:
            w.start()
        finally:
            with open(limit, "w") as f:
                f.write(saved)

    with w.paused():
        for i in range(200):
            (w.drop / (".storm-%03d" % i)).write_bytes(b"x")
        for pkg in reversed(pkgs):
            w.drop_file(pkg)

    w.wait_event("overflow", timeout=20)
    w.wait_event("published", corte_id=pkgs[-1].id, timeout=30)
    assert [e["corte_id"] for e in w.events("published")] == \
        [p.id for p in pkgs]
    assert_serves(nginx, pkgs[-1])
    time.sleep(0.5)
    assert len(w.events("published")) == 3


@pytest.mark.parametrize("how", ["removed", "renamed"])
def test_drop_folder_goes_and_comes_back(nginx_factory, watch_factory,
                                         packages, how):
    a, b = packages.series(2)
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST)
    w.drop_file(a)
    w.wait_event("published", corte_id=a.id)
    ph.wait_for(lambda: not list(w.drop.iterdir()), 5, "an empty drop")

    if how == "removed":
        w.drop.rmdir()
    else:
        os.rename(w.drop, w.base / "drop.old")
    ev = w.wait_event("drop_missing", timeout=20)
    assert ev["level"] == "alert"

    w.drop.mkdir()
    w.wait_event("drop_restored", timeout=20)
    w.drop_file(b)
    w.wait_event("published", corte_id=b.id)
    assert_serves(nginx, b)
    if how == "renamed":
        # the old folder is not watched any more
        m = w.mark()
        (w.base / "drop.old" / "x.tar.gz").write_bytes(b"x")
        time.sleep(1.0)
        assert not w.events()[m:]


def _barrier(w, n):
    """Drops a file that is not a package and waits for its rejection.
    inotify reports in order, so by then the daemon has read every event
    of the drop folder that came before it, and has taken every due
    candidate that sorts before it (a name without a corte sorts last)."""
    name = "barrier-%d.tar.gz" % n
    (w.drop / name).write_bytes(b"not a package\n")
    ev = w.wait_event("rejected", file=name)
    assert ev["reason"] == "not_gzip", ev


def test_sighup_lists_the_folder(nginx_factory, watch_factory, pkg_a):
    """A file that no event names is found by a listing: created empty
    in the drop folder by mknod (IN_CREATE of an empty file: skipped as
    an upload starting), then filled through a hard link from outside
    it, which inotify reports to the other folder only.  With no
    periodic listing soon, SIGHUP finds it.  Barriers, not time, make
    the daemon read the IN_CREATE while the file is still empty, and
    show that it goes on without looking at the file once it is full."""
    nginx = nginx_factory()
    w = watch_factory(nginx, args=["--rescan-interval", "3600"])
    name = pkg_a.path.name
    target = w.drop / name
    os.mknod(target, 0o100644)
    outside = w.base / "outside"
    os.link(target, outside)
    _barrier(w, 1)                  # the IN_CREATE of the empty file read

    with open(outside, "r+b") as f:
        f.write(pkg_a.path.read_bytes())
    _barrier(w, 2)                  # the daemon went on, and not to it
    assert not [e for e in w.events() if e.get("file") == name]
    assert not w.events("published")
    assert served_corte(nginx) == "none"

    os.kill(w.proc.pid, signal.SIGHUP)
    ev = w.wait_event("published", file=name, timeout=20)
    assert ev["sha256"] == sha256(pkg_a.path)
    seen = [e for e in w.events("seen") if e["file"] == name]
    assert [e["trigger"] for e in seen] == ["scan"], seen
    assert_serves(nginx, pkg_a)
