"""Suspension end to end (issue 11, section 1): prep-ingest suspend and
resume, and the institute's AVISO.html dropped into a real watch, with a
real nginx.  The notice replaces every path within one second of the
drop, survives kill -9 of both programs, and packages keep being
published into the store meanwhile."""

import hashlib
import json
import os
import time

import pytest

import prep_harness as ph


pytestmark = [pytest.mark.needs_module, pytest.mark.needs_ingest]

FAST = ["--rescan-interval", "0.5", "--hook-retry-delay", "0.1",
        "--incomplete-timeout", "3"]

NOTICE = ("<!DOCTYPE html>\n<html lang=\"es\"><meta charset=\"utf-8\">"
          "<title>Aviso</title><h1>Aviso del Instituto</h1>"
          "<p>Publicaci\u00f3n suspendida por acuerdo del Consejo.</p>"
          "</html>\n").encode("utf-8")

PATHS = ("/", "/index.html", "/presidencia/entidad/14", "/no/such.json",
         "/a/b/")


def suspended_everywhere(nginx, corte, body):
    for path in PATHS:
        for _ in range(3):                    # reach both workers
            r = nginx.get(path)
            if (r.status != 503 or r.header("X-PREP-Status") != "suspended"
                    or r.corte != corte or r.body != body):
                return False
            assert r.header("Retry-After")
            assert r.header("Cache-Control") == "public, max-age=10"
    return True


def hook_script(tmp_path, name="hook.sh", body="exit 0"):
    log = tmp_path / (name + ".log")
    script = tmp_path / name
    script.write_text("#!/bin/sh\n"
                      "{ echo \"event=$PREP_EVENT corte=$PREP_CORTE_ID "
                      "kind=$PREP_ALARM_KIND level=$PREP_ALARM_LEVEL "
                      "sha=$PREP_NOTICE_SHA256\"; } >> %s\n%s\n"
                      % (log, body))
    script.chmod(0o755)
    return script, log


def lines(path):
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def test_suspend_and_resume_commands(nginx_factory, pkg_a, tmp_path):
    nginx = nginx_factory(publish=[pkg_a])
    notice = tmp_path / "aviso.html"
    notice.write_bytes(NOTICE)
    hook, hook_log = hook_script(tmp_path)
    store = ["--store", str(nginx.store), "--control",
             str(nginx.control_sock), "--after-publish", str(hook),
             "--hook-retry-delay", "0.1"]

    r = ph.run_ingest(["suspend"] + store + ["--notice", str(notice),
                                             "--reason", "oficio 123"])
    assert "suspended" in r.stdout and "nginx shows it" in r.stdout
    assert suspended_everywhere(nginx, pkg_a.iso, NOTICE)
    sha = hashlib.sha256(NOTICE).hexdigest()
    state = json.loads((nginx.store / "suspension.json").read_text())
    assert state["suspended"] is True and state["notice_sha256"] == sha
    assert state["reason"] == "oficio 123"
    st = nginx.status()["suspension"]
    assert st["suspended"] and st["notice_sha256"] == sha
    assert lines(hook_log) == ["event=suspend corte=%s kind= level= sha=%s"
                               % (pkg_a.id, sha)]

    events = [json.loads(x) for x in lines(nginx.store / "events.jsonl")]
    ev = [e for e in events if e["event"] == "suspend"][-1]
    assert ev["level"] == "warning" and ev["notice_sha256"] == sha
    assert ev["source"] == "command" and ev["live"] is True
    assert ev["reason"] == "oficio 123" and ev["live_corte_id"] == pkg_a.id

    r = ph.run_ingest(["resume"] + store)
    assert nginx.get("/index.html").status == 200
    assert nginx.get("/index.html").header("X-PREP-Status") is None
    assert lines(hook_log)[-1].startswith("event=resume corte=%s"
                                          % pkg_a.id)
    events = [json.loads(x) for x in lines(nginx.store / "events.jsonl")]
    assert events[-2]["event"] == "resume" or events[-1]["event"] == "resume"

    # without --notice: the module's built-in Spanish notice
    ph.run_ingest(["suspend"] + store)
    r = nginx.get("/")
    assert r.status == 503 and b"suspendida" in r.body
    ph.run_ingest(["resume"] + store)


def test_bad_notice_is_refused(nginx_factory, pkg_a, tmp_path):
    nginx = nginx_factory(publish=[pkg_a])
    bad = tmp_path / "bad.html"
    bad.write_bytes(b"\xff\xfe<html>not utf-8")
    r = ph.run_ingest(["suspend", "--store", str(nginx.store), "--notice",
                       str(bad)], expect_ok=False)
    assert r.returncode == 64 and "UTF-8" in r.stderr
    big = tmp_path / "big.html"
    big.write_bytes(b"<html>" + b"a" * (1024 * 1024))
    r = ph.run_ingest(["suspend", "--store", str(nginx.store), "--notice",
                       str(big)], expect_ok=False)
    assert r.returncode == 64 and "limit" in r.stderr
    assert not (nginx.store / "suspension.json").exists()
    assert nginx.get("/").status == 200


def test_dropped_notice_suspends_within_a_second_and_survives_kill_9(
        nginx_factory, watch_factory, pkg_a, pkg_b, tmp_path):
    nginx = nginx_factory(publish=[pkg_a])
    hook, hook_log = hook_script(tmp_path)
    w = watch_factory(nginx, args=FAST + ["--after-publish", str(hook)])

    mark = w.mark()
    t0 = time.monotonic()
    w.drop_file(None, name="AVISO.html", data=NOTICE)
    ph.wait_for(lambda: suspended_everywhere(nginx, pkg_a.iso, NOTICE),
                1.0, "the notice on every path within 1 s of the drop")
    took = time.monotonic() - t0
    assert took < 1.0, took

    ev = w.wait_event("suspend", after=mark)
    assert ev["source"] == "drop" and ev["file"] == "AVISO.html"
    assert ev["notice_sha256"] == hashlib.sha256(NOTICE).hexdigest()
    assert ev["live"] is True
    ph.wait_for(lambda: not (w.drop / "AVISO.html").exists(), 5,
                "the notice out of the drop folder")
    ph.wait_for(lambda: any(l.startswith("event=suspend")
                            for l in lines(hook_log)), 10,
                "the after-publish hook with PREP_EVENT=suspend")

    # packages keep being published into the store while suspended
    w.drop_file(pkg_b)
    w.wait_event("published", file=pkg_b.path.name)
    assert nginx.current_name() == w.current()
    assert suspended_everywhere(nginx, pkg_b.iso, NOTICE)

    # kill -9 of both programs: still suspended after their restart
    w.kill()
    nginx.kill()
    nginx.start()
    assert suspended_everywhere(nginx, pkg_b.iso, NOTICE)
    w.start()
    assert suspended_everywhere(nginx, pkg_b.iso, NOTICE)

    # resume shows the latest corte at once
    ph.run_ingest(["resume", "--store", str(nginx.store), "--control",
                   str(nginx.control_sock)])
    r = nginx.get("/index.html")
    assert r.status == 200 and r.corte == pkg_b.iso
    assert r.body == pkg_b.listing["/index.html"]


def test_dropped_notice_that_is_not_html_is_quarantined(
        nginx_factory, watch_factory, pkg_a):
    nginx = nginx_factory(publish=[pkg_a])
    w = watch_factory(nginx, args=FAST)
    w.drop_file(None, name="AVISO.html", data=b"\x00\x01binary")
    ev = w.wait_event("notice_rejected")
    assert ev["level"] == "alert" and "UTF-8" in ev["message"]
    assert (w.store / "quarantine" / ev["quarantine"]).read_bytes() \
        == b"\x00\x01binary"
    assert nginx.get("/").status == 200
    assert not (w.store / "suspension.json").exists()


def test_no_drop_notice_and_notice_name(nginx_factory, watch_factory,
                                        pkg_a):
    nginx = nginx_factory(publish=[pkg_a])
    w = watch_factory(nginx, args=FAST + ["--notice-name", "SUSPENDER.html"])
    w.drop_file(None, name="SUSPENDER.html", data=NOTICE)
    w.wait_event("suspend")
    assert nginx.get("/").status == 503


def test_no_drop_notice_treats_it_as_a_package(nginx_factory, watch_factory,
                                               pkg_a):
    nginx = nginx_factory(publish=[pkg_a])
    w = watch_factory(nginx, args=FAST + ["--no-drop-notice"])
    w.drop_file(None, name="AVISO.html", data=NOTICE)
    ev = w.wait_event("rejected", file="AVISO.html")
    assert ev["reason"] == "not_gzip"
    assert not [e for e in w.events() if e["event"] == "suspend"]
    assert nginx.get("/").status == 200


def test_status_alarms_while_suspended(nginx_factory, pkg_a):
    nginx = nginx_factory(publish=[pkg_a])
    store = ["--store", str(nginx.store)]
    ph.run_ingest(["suspend"] + store + ["--reason", "simulacro"])
    r = ph.run_ingest(["status"] + store + ["--json"], expect_ok=False)
    assert r.returncode == 3, r
    assert "suspended" in r.stdout and "simulacro" in r.stdout
    ph.run_ingest(["resume"] + store)
    r = ph.run_ingest(["status"] + store + ["--json"], expect_ok=False)
    assert '"suspended"' not in r.stdout


def test_help_config_and_man_page():
    import subprocess
    example = ph.REPO / "deploy" / "prep-ingest.conf.example"
    for cmd in ("watch", "suspend", "resume"):
        r = ph.run_ingest([cmd, "--config", str(example), "--help"])
        assert r.returncode == 0, (cmd, r.stderr)
    for cmd in ("suspend", "resume"):
        text = ph.run_ingest([cmd, "--help"]).stdout
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS",
                        "EXIT STATUS", "EXAMPLES"):
            assert "\n" + section + "\n" in "\n" + text, (cmd, section)
        assert "--notice" in text and "PREP_EVENT" in text
    text = ph.run_ingest(["watch", "--help"]).stdout
    for word in ("--alarm-hook", "--alarm-repeat", "--notice-name",
                 "--no-drop-notice", "PREP_ALARM_KIND"):
        assert word in text, word
    r = ph.run_ingest(["resume", "--store", "/nonexistent", "--notice",
                       "x.html"], expect_ok=False)
    assert r.returncode == 64
    man = ph.REPO / "ingest" / "prep-ingest.1"
    out = subprocess.run(["man", "--warnings", "-l", str(man)],
                         capture_output=True, text=True,
                         env=dict(os.environ, MANWIDTH="80", PAGER="cat"))
    assert out.returncode == 0 and out.stderr == "", out.stderr
    for word in ("suspend", "resume", "AVISO.html", "--alarm-hook",
                 "PREP_ALARM_KIND", "suspension.json", "X-PREP-Status"):
        assert word in out.stdout, word
