"""Alarms that reach a person (issue 11, section 3): prep-ingest watch
--alarm-hook with a real nginx; three missed cortes give three alarms;
a failing, slow alarm hook never holds up publishing; the example hooks
of deploy/hooks/ mail through a fake sendmail and POST to a local HTTP
receiver."""

import http.server
import json
import os
import subprocess
import threading
import time

import pytest

import prep_harness as ph


pytestmark = [pytest.mark.needs_module, pytest.mark.needs_ingest]

FAST = ["--rescan-interval", "0.5", "--hook-retry-delay", "0.1",
        "--incomplete-timeout", "3"]
HOOKS = ph.REPO / "deploy" / "hooks"


def recorder(tmp_path, body="exit 0", name="alarm.sh"):
    """An alarm hook that appends one JSON object per run: its
    environment and its standard input."""
    out = tmp_path / (name + ".jsonl")
    script = tmp_path / name
    script.write_text("""#!/usr/bin/python3
import json, os, sys
env = {k: v for k, v in os.environ.items() if k.startswith("PREP_")}
rec = {"env": env, "stdin": sys.stdin.read()}
with open(%r, "a") as f:
    f.write(json.dumps(rec) + "\\n")
""" % str(out))
    script.chmod(0o755)
    wrapper = tmp_path / (name + ".sh")
    wrapper.write_text("#!/bin/sh\n%s\n%s\n" % (script, body))
    wrapper.chmod(0o755)
    return wrapper, out


def records(path):
    try:
        return [json.loads(x) for x in path.read_text().splitlines()]
    except FileNotFoundError:
        return []


def test_three_missed_cortes_three_alarms(nginx_factory, watch_factory,
                                          pkg_a, tmp_path):
    nginx = nginx_factory(publish=[pkg_a])
    hook, out = recorder(tmp_path)
    w = watch_factory(nginx, args=FAST + [
        "--stale-period", "1", "--alarm-repeat", "0",
        "--alarm-hook", str(hook)])
    w.wait_event("stale", missed=3, timeout=20)
    got = ph.wait_for(lambda: [r for r in records(out)
                               if r["env"]["PREP_ALARM_KIND"] == "stale"]
                      [:3] if len([r for r in records(out)
                                   if r["env"]["PREP_ALARM_KIND"]
                                   == "stale"]) >= 3 else None,
                      10, "three stale alarms through the hook")
    levels = [r["env"]["PREP_ALARM_LEVEL"] for r in got]
    assert levels == ["warning", "alert", "alert"]
    missed = [json.loads(r["stdin"])["missed"] for r in got]
    assert missed == [1, 2, 3]
    for r in got:
        env = r["env"]
        assert env["PREP_STORE"] == str(nginx.store)
        assert env["PREP_CORTE_ID"] == pkg_a.id
        assert "no new corte" in env["PREP_ALARM_MESSAGE"]
        assert json.loads(r["stdin"])["event"] == "stale"


def test_one_kind_at_most_once_per_repeat(nginx_factory, watch_factory,
                                          pkg_a, tmp_path):
    nginx = nginx_factory(publish=[pkg_a])
    hook, out = recorder(tmp_path)
    w = watch_factory(nginx, args=FAST + [
        "--stale-period", "1", "--alarm-hook", str(hook)])   # 300 s
    w.wait_event("stale", missed=3, timeout=20)
    ph.wait_for(lambda: records(out), 10, "the first alarm")
    time.sleep(0.5)        # a second one would be started by now
    assert len([r for r in records(out)
                if r["env"]["PREP_ALARM_KIND"] == "stale"]) == 1


def test_failing_alarm_hook_never_blocks_publishing(
        nginx_factory, watch_factory, pkg_a, pkg_b, tmp_path):
    nginx = nginx_factory(publish=[pkg_a])
    hook, out = recorder(tmp_path, body="sleep 3; exit 1")
    w = watch_factory(nginx, args=FAST + [
        "--alarm-repeat", "0", "--hook-retries", "3",
        "--alarm-hook", str(hook)])
    w.drop_file(None, name="20240603_0100_PREP_QROO.tar.gz",
                data=b"not a gzip at all")
    rej = w.wait_event("rejected")
    ph.wait_for(lambda: records(out), 10, "the alarm for the rejection")
    t0 = time.monotonic()
    w.drop_file(pkg_b)
    w.wait_event("published", file=pkg_b.path.name, timeout=20)
    took = time.monotonic() - t0
    assert took < 3, "publishing waited for the alarm hook: %.1f s" % took
    assert nginx.get("/index.html").corte == pkg_b.iso
    kinds = [r["env"]["PREP_ALARM_KIND"] for r in records(out)]
    assert "rejected" in kinds
    # the hook is retried with backoff
    ph.wait_for(lambda: len([k for k in (r["env"]["PREP_ALARM_KIND"]
                                         for r in records(out))
                             if k == "rejected"]) >= 2, 15,
                "a retry of the failing alarm hook")
    assert rej["level"] == "warning"


def test_after_publish_hook_gets_prep_alarm_hook(nginx_factory,
                                                 watch_factory, pkg_a,
                                                 tmp_path):
    nginx = nginx_factory()
    alarm, out = recorder(tmp_path)
    purge = tmp_path / "purge.sh"
    purge.write_text("#!/bin/sh\necho '{}' | PREP_ALARM_KIND=peer_unreachable"
                     " PREP_ALARM_LEVEL=alert PREP_ALARM_MESSAGE=origin-b"
                     " \"$PREP_ALARM_HOOK\"\nexit 0\n")
    purge.chmod(0o755)
    w = watch_factory(nginx, args=FAST + ["--alarm-hook", str(alarm),
                                          "--after-publish", str(purge)])
    w.drop_file(pkg_a)
    w.wait_event("hook", ok=True)
    got = ph.wait_for(lambda: [r for r in records(out)
                               if r["env"].get("PREP_ALARM_KIND")
                               == "peer_unreachable"], 10,
                      "the hook's own alarm")
    assert got[0]["env"]["PREP_ALARM_MESSAGE"] == "origin-b"


ALARM_ENV = {
    "PREP_ALARM_KIND": "stale", "PREP_ALARM_LEVEL": "alert",
    "PREP_ALARM_MESSAGE": "no new corte for 45 minutes\r\nBcc: evil@x",
    "PREP_STORE": "/var/lib/prep/store", "PREP_CORTE_ID": "20240603_0015",
}
EVENT = b'{"event":"stale","level":"alert","missed":3,"msg":"x"}\n'


def test_alarm_sendmail_hook(tmp_path):
    mail = tmp_path / "mail.txt"
    argv = tmp_path / "argv.txt"
    fake = tmp_path / "sendmail"
    fake.write_text("#!/bin/sh\necho \"$@\" > %s\ncat > %s\n" % (argv, mail))
    fake.chmod(0o755)
    env = dict(os.environ, SENDMAIL=str(fake), PREP_ALARM_TO="ops@example.org",
               **ALARM_ENV)
    subprocess.run([str(HOOKS / "alarm-sendmail")], input=EVENT, env=env,
                   check=True, timeout=20)
    text = mail.read_text()
    head, body = text.split("\n\n", 1)
    headers = head.splitlines()
    assert "To: ops@example.org" in headers
    subject = [h for h in headers if h.startswith("Subject: ")]
    assert len(subject) == 1 and "[PREP alert] stale" in subject[0]
    assert not any(h.startswith("Bcc:") for h in headers)
    assert '"missed":3' in body and "20240603_0015" in body
    assert argv.read_text().split() == ["-t", "-i"]
    # sendmail failing: the hook fails, so prep-ingest retries it
    fake.write_text("#!/bin/sh\ncat >/dev/null\nexit 75\n")
    r = subprocess.run([str(HOOKS / "alarm-sendmail")], input=EVENT,
                       env=env, timeout=20)
    assert r.returncode != 0


class _Receiver(http.server.BaseHTTPRequestHandler):
    got = []
    status = 200

    def do_POST(self):
        n = int(self.headers["Content-Length"])
        _Receiver.got.append((self.path, self.headers["Content-Type"],
                              self.rfile.read(n)))
        self.send_response(_Receiver.status)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_alarm_webhook_hook(tmp_path):
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = "http://127.0.0.1:%d/hooks/abc" % srv.server_port
        env = dict(os.environ, PREP_WEBHOOK_URL=url,
                   PREP_TELEGRAM_CHAT_ID="-1001", **ALARM_ENV)
        env["PREP_ALARM_MESSAGE"] = 'quote " back\\slash \u00f1\nnew line'
        subprocess.run([str(HOOKS / "alarm-webhook")], input=EVENT, env=env,
                       check=True, timeout=20)
        path, ctype, body = _Receiver.got[-1]
        assert path == "/hooks/abc" and ctype == "application/json"
        doc = json.loads(body)
        assert doc["chat_id"] == "-1001" and doc["kind"] == "stale"
        assert 'quote " back\\slash \u00f1 new line' in doc["text"]
        assert "20240603_0015" in doc["text"]
        _Receiver.status = 500
        r = subprocess.run([str(HOOKS / "alarm-webhook")], input=EVENT,
                           env=env, timeout=20)
        assert r.returncode != 0
    finally:
        _Receiver.status = 200
        srv.shutdown()


def test_low_space_alarms(nginx_factory, watch_factory, pkg_a,
                                     tmp_path):
    """Free space under three packages (PREP_INGEST_FREE_BYTES stands
    for the file system's: a full disk cannot be made without
    privileges) is an alert through the hook, and shown by status."""
    nginx = nginx_factory(publish=[pkg_a])
    hook, out = recorder(tmp_path)
    w = watch_factory(nginx, env={"PREP_INGEST_FREE_BYTES": "1000"},
                      args=FAST + ["--alarm-repeat", "0",
                                   "--alarm-hook", str(hook)])
    ev = w.wait_event("low_space")
    assert ev["level"] == "alert" and ev["free_bytes"] == 1000
    snap = nginx.store / "cortes" / nginx.current_name()
    assert ev["package_bytes"] >= snap.stat().st_size
    assert ev["need_bytes"] == 3 * ev["package_bytes"]
    got = ph.wait_for(lambda: [r for r in records(out)
                               if r["env"]["PREP_ALARM_KIND"]
                               == "low_space"], 10, "the low_space alarm")
    assert got[0]["env"]["PREP_ALARM_LEVEL"] == "alert"
    assert "free space before the next corte" in \
        got[0]["env"]["PREP_ALARM_MESSAGE"]
    p = ph.run_ingest(["status", "--store", str(nginx.store), "--json"],
                      expect_ok=False)
    assert "low_space" in [a["kind"] for a in json.loads(p.stdout)["alarms"]]


def test_enough_space_no_alarm(nginx_factory, watch_factory, pkg_a, pkg_b,
                               tmp_path):
    nginx = nginx_factory(publish=[pkg_a])
    hook, out = recorder(tmp_path)
    w = watch_factory(nginx, env={"PREP_INGEST_FREE_BYTES": str(1 << 40)},
                      args=FAST + ["--alarm-hook", str(hook)])
    w.drop_file(pkg_b)
    w.wait_event("published", file=pkg_b.path.name)
    assert not w.events("low_space")
    assert not [r for r in records(out)
                if r["env"]["PREP_ALARM_KIND"] == "low_space"]


def alarms_of(out, kind):
    return [r for r in records(out) if r["env"]["PREP_ALARM_KIND"] == kind]


def test_failing_purge_hook_alarms(nginx_factory, watch_factory, pkg_a,
                                   tmp_path):
    nginx = nginx_factory()
    hook, out = recorder(tmp_path)
    w = watch_factory(nginx, args=FAST + [
        "--alarm-repeat", "0", "--alarm-hook", str(hook),
        "--after-publish", "echo purge refused >&2; exit 3"])
    w.drop_file(pkg_a)
    w.wait_event("published", file=pkg_a.path.name)
    got = ph.wait_for(lambda: alarms_of(out, "hook_failing"), 15,
                      "the hook_failing alarm")
    ev = json.loads(got[0]["stdin"])
    assert ev["event"] in ("hook", "hook_failed")
    assert got[0]["env"]["PREP_CORTE_ID"] == pkg_a.id
    assert nginx.get("/index.html").corte == pkg_a.iso


def test_nginx_not_confirming_alarms(nginx_factory, watch_factory, pkg_a,
                                     tmp_path):
    nginx = nginx_factory()
    hook, out = recorder(tmp_path)
    w = watch_factory(nginx, args=FAST + ["--alarm-repeat", "0",
                                          "--reload-timeout", "1",
                                          "--alarm-hook", str(hook)])
    nginx.quit()
    w.drop_file(pkg_a)
    w.wait_event("reload_failed", timeout=20)
    got = ph.wait_for(lambda: alarms_of(out, "reload_unconfirmed"), 15,
                      "the reload_unconfirmed alarm")
    assert got[0]["env"]["PREP_ALARM_LEVEL"] in ("warning", "alert")


def test_suspension_alarms(nginx_factory, watch_factory, pkg_a, tmp_path):
    nginx = nginx_factory(publish=[pkg_a])
    hook, out = recorder(tmp_path)
    w = watch_factory(nginx, args=FAST + ["--alarm-repeat", "0",
                                          "--alarm-hook", str(hook)])
    w.drop_file(None, name="AVISO.html",
                data="<html><body><p>Publicación suspendida por el "
                     "Instituto.</p></body></html>".encode())
    w.wait_event("suspend")
    got = ph.wait_for(lambda: alarms_of(out, "suspended"), 15,
                      "the suspended alarm")
    assert json.loads(got[0]["stdin"])["event"] == "suspend"
    assert nginx.get("/index.html").status == 503
