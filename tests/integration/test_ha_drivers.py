"""The purge hook's cloud drivers (deploy/hooks/purge) against a local
HTTPS stand-in (tests/integration/ha/standin.py: http.server + ssl, a
self-signed certificate from openssl, curl pointed at it with --cacert
and each driver's API base URL overridden).  The stand-in records every
request and answers as each API documents: success, 429 with and without
Retry-After, 5xx, 403.  Asserted: the request shapes, the backoff, the
EdgeGrid signature (recomputed here from Akamai's documented algorithm),
unique CloudFront invalidation references (with a stand-in `aws` on PATH
that records its arguments), secrets never on any command line (strace
of every execve), the credentials file's permissions, and no purge while
an origin does not serve the corte.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "ha"))
import standin as standin_mod  # noqa: E402

REPO = HERE.parent.parent
PURGE = REPO / "deploy" / "hooks" / "purge"

CORTE = "2024-06-03T00:15:00-05:00"
CORTE_ID = "20240603_0015"
SNAPSHOT = "20240603_0015-3f2a9c1b7d4e.snap"

CF_TOKEN = "cf-SECRET-token-0123456789"
FASTLY_TOKEN = "fastly-SECRET-key-987"
AK = dict(client_token="akab-client-token-xxx",
          client_secret="SECRETakamaiClientSecret0123456789abcdefgh=",
          access_token="akab-access-token-yyy")
AWS_SECRET = "awsSECRETkey/abc+123"


@pytest.fixture
def api(tmp_path):
    s = standin_mod.StandIn(tmp_path)
    yield s
    s.close()


class Hook:
    """Writes the config and credentials, runs the purge hook."""

    def __init__(self, tmp_path, api):
        self.dir = tmp_path
        self.api = api
        self.alarms = tmp_path / "alarms.jsonl"
        self.store = tmp_path / "store"
        self.store.mkdir()
        os.symlink("cortes/" + SNAPSHOT, self.store / "current")

    def credentials(self, mode=0o600, **values):
        p = self.dir / "cdn.credentials"
        p.write_text("".join("%s=%s\n" % kv for kv in values.items()))
        os.chmod(p, mode)
        return p

    def config(self, **kv):
        lines = ["ca_file = %s" % self.api.cert,
                 "purge_backoff = 0.2", "purge_backoff_max = 5",
                 "purge_retries = 4", "purge_timeout = 10",
                 "alarm_hook = cat >> %s" % self.alarms]
        for k, v in kv.items():
            for one in (v if isinstance(v, list) else [v]):
                lines.append("%s = %s" % (k, one))
        p = self.dir / "ha.conf"
        p.write_text("\n".join(lines) + "\n")
        return p

    def env(self, **extra):
        env = dict(os.environ, PREP_CORTE=CORTE, PREP_CORTE_ID=CORTE_ID,
                   PREP_SNAPSHOT=SNAPSHOT, PREP_STORE=str(self.store))
        env.pop("PREP_ALARM_HOOK", None)
        env.update(extra)
        return env

    def run(self, *args, env=None, strace=None, timeout=60):
        cmd = [str(PURGE), "--config", str(self.dir / "ha.conf")]
        cmd += list(args)
        if strace:
            cmd = ["strace", "-f", "-qq", "-s", "4096", "-e",
                   "trace=execve", "-o", str(strace)] + cmd
        return subprocess.run(cmd, env=env or self.env(),
                              capture_output=True, text=True,
                              timeout=timeout)

    def alarm_lines(self):
        if not self.alarms.exists():
            return []
        return [json.loads(x) for x in self.alarms.read_text().splitlines()]


@pytest.fixture
def hook(tmp_path, api):
    return Hook(tmp_path, api)


def gaps(reqs):
    return [b["time"] - a["time"] for a, b in zip(reqs, reqs[1:])]


# ------------------------------------------------------------ cloudflare


def cloudflare_config(hook, **kv):
    hook.credentials(cloudflare_token=CF_TOKEN)
    return hook.config(driver="cloudflare", cloudflare_zone="zone123",
                       cloudflare_api=hook.api.base + "/client/v4",
                       credentials=hook.dir / "cdn.credentials", **kv)


def test_cloudflare_purge_everything(hook, api, tmp_path):
    cloudflare_config(hook)
    trace = tmp_path / "strace.out"
    r = hook.run(strace=trace)
    assert r.returncode == 0, r.stderr
    assert len(api.requests) == 1
    q = api.requests[0]
    assert q["method"] == "POST"
    assert q["path"] == "/client/v4/zones/zone123/purge_cache"
    assert q["headers"]["authorization"] == "Bearer " + CF_TOKEN
    assert q["headers"]["content-type"] == "application/json"
    assert json.loads(q["body"]) == {"purge_everything": True}
    execs = trace.read_text()
    assert "curl" in execs
    assert CF_TOKEN not in execs, "the token was on a command line"
    assert hook.alarm_lines() == []


def test_cloudflare_files(hook, api):
    cloudflare_config(hook, cloudflare_file=["https://prep.example/",
                                             "https://prep.example/a.json"])
    r = hook.run()
    assert r.returncode == 0, r.stderr
    assert json.loads(api.requests[0]["body"]) == {
        "files": ["https://prep.example/", "https://prep.example/a.json"]}


def test_cloudflare_429_honours_retry_after(hook, api):
    cloudflare_config(hook)
    api.queue((429, {"Retry-After": "2"},
               {"success": False, "errors": [{"code": 10000,
                                              "message": "rate limited"}]}))
    r = hook.run()
    assert r.returncode == 0, r.stderr
    assert len(api.requests) == 2
    assert gaps(api.requests)[0] >= 1.9, gaps(api.requests)


def test_cloudflare_429_without_retry_after_backs_off(hook, api):
    cloudflare_config(hook)
    api.queue((429, {}, {"success": False}), (429, {}, {"success": False}))
    r = hook.run()
    assert r.returncode == 0, r.stderr
    g = gaps(api.requests)
    assert len(g) == 2 and g[0] >= 0.19 and g[1] >= 0.39, g


def test_cloudflare_5xx_backoff_then_alarm(hook, api):
    cloudflare_config(hook)
    api.queue(*[(502, {}, {"success": False})] * 10)
    r = hook.run()
    assert r.returncode == 1
    assert len(api.requests) == 4          # purge_retries
    g = gaps(api.requests)
    assert g[0] >= 0.19 and g[1] >= 0.39 and g[2] >= 0.79, g
    kinds = [a["event"] for a in hook.alarm_lines()]
    assert kinds == ["purge_failed"], kinds


def test_cloudflare_403_is_not_retried(hook, api):
    cloudflare_config(hook)
    api.queue((403, {}, {"success": False, "errors": [
        {"code": 10000, "message": "Authentication error"}]}))
    r = hook.run()
    assert r.returncode == 1
    assert len(api.requests) == 1
    assert "403" in r.stderr


def test_cloudflare_success_false_is_a_failure(hook, api):
    cloudflare_config(hook)
    api.queue((200, {}, {"success": False, "errors": [{"code": 1}]}))
    r = hook.run()
    assert r.returncode == 1


# ------------------------------------------------------------ credentials


def test_credentials_readable_by_others_are_refused(hook, api):
    cloudflare_config(hook)
    os.chmod(hook.dir / "cdn.credentials", 0o640)
    r = hook.run()
    assert r.returncode == 1
    assert "refused" in r.stderr and "640" in r.stderr
    assert api.requests == []


def test_credentials_of_another_owner_are_refused(hook, api):
    if os.geteuid() != 0:
        pytest.skip("needs root to chown")
    cloudflare_config(hook)
    os.chown(hook.dir / "cdn.credentials", 65534, 65534)
    r = hook.run()
    assert r.returncode == 1
    assert "owned by uid 65534" in r.stderr
    assert api.requests == []


# ------------------------------------------------------------ fastly


def fastly_config(hook, **kv):
    hook.credentials(fastly_token=FASTLY_TOKEN)
    return hook.config(driver="fastly", fastly_service="SVC1",
                       fastly_api=hook.api.base,
                       credentials=hook.dir / "cdn.credentials", **kv)


def test_fastly_purge_all(hook, api):
    fastly_config(hook)
    r = hook.run()
    assert r.returncode == 0, r.stderr
    q, = api.requests
    assert (q["method"], q["path"]) == ("POST", "/service/SVC1/purge_all")
    assert q["headers"]["fastly-key"] == FASTLY_TOKEN
    assert "fastly-soft-purge" not in q["headers"]


def test_fastly_surrogate_key_soft_with_429(hook, api):
    fastly_config(hook, fastly_surrogate_key="prep-corte", fastly_soft="1")
    api.queue((429, {"Retry-After": "1"}, {"msg": "too many"}),
              (503, {}, {"msg": "unavailable"}))
    r = hook.run()
    assert r.returncode == 0, r.stderr
    assert [q["path"] for q in api.requests] == \
        ["/service/SVC1/purge/prep-corte"] * 3
    assert api.requests[-1]["headers"]["fastly-soft-purge"] == "1"
    assert gaps(api.requests)[0] >= 0.9


# ------------------------------------------------------------ akamai


def edgegrid_check(q, base_host):
    """Recomputes the EG1-HMAC-SHA256 signature as Akamai documents it;
    returns the parsed Authorization fields."""
    auth = q["headers"]["authorization"]
    assert auth.startswith("EG1-HMAC-SHA256 ")
    fields = dict(kv.split("=", 1) for kv in
                  auth[len("EG1-HMAC-SHA256 "):].split(";") if kv)
    assert fields["client_token"] == AK["client_token"]
    assert fields["access_token"] == AK["access_token"]
    assert re.fullmatch(r"\d{8}T\d\d:\d\d:\d\d\+0000", fields["timestamp"])
    unsigned = auth[:auth.index("signature=")]
    key = base64.b64encode(hmac.new(
        AK["client_secret"].encode(), fields["timestamp"].encode(),
        hashlib.sha256).digest())
    content_hash = base64.b64encode(
        hashlib.sha256(q["body"]).digest()).decode()
    data = "\t".join(["POST", "https", base_host, q["path"], "",
                      content_hash, unsigned])
    want = base64.b64encode(hmac.new(key, data.encode(),
                                     hashlib.sha256).digest()).decode()
    assert fields["signature"] == want, "bad EdgeGrid signature"
    return fields


def akamai_config(hook, **kv):
    hook.credentials(host="akab-unused.purge.akamaiapis.net", **AK)
    return hook.config(driver="akamai", akamai_base=hook.api.base,
                       akamai_cpcode=["12345", "67890"],
                       credentials=hook.dir / "cdn.credentials", **kv)


def test_akamai_fast_purge_signed(hook, api, tmp_path):
    akamai_config(hook)
    api.queue((429, {"Retry-After": "1"},
               {"type": "rate-limit", "status": 429}))
    trace = tmp_path / "strace.out"
    r = hook.run(strace=trace)
    assert r.returncode == 0, r.stderr
    assert len(api.requests) == 2
    nonces = set()
    for q in api.requests:
        assert q["path"] == "/ccu/v3/invalidate/cpcode/production"
        assert json.loads(q["body"]) == {"objects": [12345, 67890]}
        f = edgegrid_check(q, "127.0.0.1:%d" % api.port)
        nonces.add(f["nonce"])
    assert len(nonces) == 2, "a retry must be signed anew"
    execs = trace.read_text()
    assert "openssl" in execs
    assert AK["client_secret"] not in execs
    assert AK["client_token"] not in execs


def test_akamai_staging_delete(hook, api):
    akamai_config(hook, akamai_network="staging", akamai_action="delete")
    r = hook.run()
    assert r.returncode == 0, r.stderr
    assert api.requests[0]["path"] == "/ccu/v3/delete/cpcode/staging"


# ------------------------------------------------------------ cloudfront


FAKE_AWS = r"""#!/bin/sh
# stand-in for the aws CLI: records its arguments and whether it got
# credentials in its environment; fails while FAIL_FILE has lines left
{ printf '%s\n' "$@"; printf 'KEY=%s SECRET_SET=%s\n' \
    "${AWS_ACCESS_KEY_ID:-}" "${AWS_SECRET_ACCESS_KEY:+yes}"; \
  echo ---; } >> "$AWS_LOG"
if [ -s "$FAIL_FILE" ]; then
    sed -i 1d "$FAIL_FILE"
    echo "An error occurred (Throttling) when calling the CreateInvalidation operation: Rate exceeded" >&2
    exit 254
fi
echo '{"Invalidation": {"Id": "I2J0I21PCUYOIK", "Status": "InProgress"}}'
"""


def aws_calls(log):
    out = []
    for block in log.read_text().split("---\n"):
        if block.strip():
            out.append(block.splitlines())
    return out


def cloudfront_setup(hook, tmp_path, fails=0):
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    aws = bindir / "aws"
    aws.write_text(FAKE_AWS)
    aws.chmod(0o755)
    (tmp_path / "fail").write_text("x\n" * fails)
    hook.credentials(aws_access_key_id="AKIDEXAMPLE",
                     aws_secret_access_key=AWS_SECRET)
    hook.config(driver="cloudfront", cloudfront_distribution="E2QWRUHEXAMPLE",
                credentials=hook.dir / "cdn.credentials")
    return hook.env(PATH="%s:%s" % (bindir, os.environ["PATH"]),
                    AWS_LOG=str(tmp_path / "aws.log"),
                    FAIL_FILE=str(tmp_path / "fail"))


def batch_of(call):
    return json.loads(call[call.index("--invalidation-batch") + 1])


def test_cloudfront_invalidation_references(hook, tmp_path):
    env = cloudfront_setup(hook, tmp_path, fails=2)
    trace = tmp_path / "strace.out"
    r = hook.run(env=env, strace=trace)
    assert r.returncode == 0, r.stderr
    calls = aws_calls(tmp_path / "aws.log")
    assert len(calls) == 3                   # two throttled, one good
    for c in calls:
        assert c[:2] == ["cloudfront", "create-invalidation"]
        assert c[c.index("--distribution-id") + 1] == "E2QWRUHEXAMPLE"
        assert c[-1] == "KEY=AKIDEXAMPLE SECRET_SET=yes"
    batches = [batch_of(c) for c in calls]
    assert batches[0]["Paths"] == {"Quantity": 1, "Items": ["/*"]}
    refs = {b["CallerReference"] for b in batches}
    assert len(refs) == 1, "a retry must reuse its reference: %s" % refs
    assert CORTE_ID in refs.pop()
    assert AWS_SECRET not in trace.read_text()

    # the next publication (current flipped again) gets a new reference
    first = batches[0]["CallerReference"]
    os.unlink(hook.store / "current")
    time.sleep(1.1)
    os.symlink("cortes/" + SNAPSHOT, hook.store / "current")
    r = hook.run(env=env)
    assert r.returncode == 0, r.stderr
    second = batch_of(aws_calls(tmp_path / "aws.log")[-1])["CallerReference"]
    assert second != first

    # and another corte another one
    env2 = dict(env, PREP_CORTE_ID="20240603_0030",
                PREP_SNAPSHOT="20240603_0030-0123456789ab.snap")
    r = hook.run(env=env2)
    assert r.returncode == 0, r.stderr
    third = batch_of(aws_calls(tmp_path / "aws.log")[-1])["CallerReference"]
    assert third not in (first, second)


def test_cloudfront_gives_up_with_an_alarm(hook, tmp_path):
    env = cloudfront_setup(hook, tmp_path, fails=10)
    r = hook.run(env=env)
    assert r.returncode == 1
    assert len(aws_calls(tmp_path / "aws.log")) == 4
    assert [a["event"] for a in hook.alarm_lines()] == ["purge_failed"]


# ------------------------------------------------------------ the origins


class FakeOrigin:
    """An origin that answers X-PREP-Corte: self.corte."""

    def __init__(self, corte):
        self.corte = corte
        origin = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("X-PREP-Corte", origin.corte)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_no_purge_while_an_origin_lags(hook, api):
    good, late = FakeOrigin(CORTE), FakeOrigin("2024-06-03T00:00:00-05:00")
    try:
        cloudflare_config(hook, origin=[good.url, late.url],
                          origin_wait="2")
        r = hook.run()
        assert r.returncode == 1
        assert api.requests == [], "purged while an origin lags"
        alarms = hook.alarm_lines()
        assert [a["event"] for a in alarms] == ["purge_blocked"]
        assert late.url in alarms[0]["message"]

        # the origin catches up during the wait: purged then
        late.corte = "2024-06-03T00:00:00-05:00"
        threading.Timer(1.0, lambda: setattr(late, "corte", CORTE)).start()
        cloudflare_config(hook, origin=[good.url, late.url],
                          origin_wait="10")
        r = hook.run()
        assert r.returncode == 0, r.stderr
        assert len(api.requests) == 1
    finally:
        good.close()
        late.close()


def test_help_and_bad_arguments():
    r = subprocess.run([str(PURGE), "--help"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and "akamai" in r.stdout
    r = subprocess.run([str(PURGE), "--bogus"], capture_output=True,
                       text=True)
    assert r.returncode == 64


# ------------------------------------------------------------ varnish


def test_varnish_ban_and_purge(hook, api):
    hook.config(driver="varnish", varnish_url=[api.base + "/",
                                               api.base + "/edge2/"])
    api.queue((503, {}, {}))
    r = hook.run()
    assert r.returncode == 0, r.stderr
    assert [(q["method"], q["path"]) for q in api.requests] == \
        [("BAN", "/"), ("BAN", "/"), ("BAN", "/edge2/")]
    assert all(q["headers"]["x-prep-corte"] == CORTE for q in api.requests)
    del api.requests[:]
    hook.config(driver="varnish", varnish_url=api.base,
                varnish_method="PURGE", varnish_path=["/", "/base.json"])
    r = hook.run()
    assert r.returncode == 0, r.stderr
    assert [(q["method"], q["path"]) for q in api.requests] == \
        [("PURGE", "/"), ("PURGE", "/base.json")]


def test_a_bad_config_names_the_file_and_line(hook, api):
    p = hook.config(driver="cloudflare")
    p.write_text(p.read_text() + "this line has no equals sign\n")
    r = hook.run()
    assert r.returncode == 1
    n = len(p.read_text().splitlines())
    assert "%s:%d: expected 'key = value'" % (p, n) in r.stderr
    hook.config(driver="carrier-pigeon")
    r = hook.run()
    assert r.returncode == 1 and "unknown driver 'carrier-pigeon'" in r.stderr
    hook.config(driver="cloudflare", purge_retries="many")
    r = hook.run()
    assert r.returncode == 1 and "purge_retries = 'many'" in r.stderr
    assert api.requests == []
