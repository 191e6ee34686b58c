#!/usr/bin/env bash
# Ingest benchmark: time from the last byte of a full-size package landing
# in the drop folder to nginx serving its corte, through prep-ingest watch
# (release build) and the module, against `tar -xzf` of the same file, in
# the same run.  Issue 3's targets, as ratios: a first corte (empty store)
# within 3x tar -xzf, a following corte (only data files changed, gzip
# variants reused) within 2x; the daemon and its validator child under
# 64 MiB of peak memory.
#
#   bench/ingest.sh                 (make bench-ingest)
#
# Environment: PREP_BUILD (default build/), NGINX_BIN (/usr/sbin/nginx),
# PYTHON (/usr/bin/python3), ROUNDS (5), KEEP=1 keeps the work directory.
#
# Each round: tar -xzf of package 1 and of package 2 into empty folders,
# then nginx and the daemon start on an empty store, package 1 is written
# into the drop folder (under a dot name, then renamed: the last byte has
# landed when the rename returns), the clock runs until GET /index.html
# answers with its X-PREP-Corte; then package 2 the same way.  Every
# timed step starts after a sync(2), so that no writeback of earlier
# work slows it.  The verdict compares the median time to live with the
# fastest tar -xzf of the run (the strictest reading); the median of the
# per-round ratios is printed too, with the daemon's own phase timings
# from its events log.

set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
BUILD=${PREP_BUILD:-$REPO/build}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
PYTHON=${PYTHON:-/usr/bin/python3}
ROUNDS=${ROUNDS:-5}

for f in "$BUILD/prep-ingest" "$BUILD/ngx_http_prep_module.so" \
         "$NGINX_BIN" "$PYTHON" /usr/bin/time; do
    if [ ! -x "$f" ] && [ ! -f "$f" ]; then
        echo "bench/ingest.sh: $f is missing (make all, make deps)" >&2
        exit 1
    fi
done

WORK=$(mktemp -d /tmp/prep-bench-ingest.XXXXXX)
cleanup() {
    if [ -f "$WORK/nginx.pid" ]; then
        kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    fi
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

echo "== packages (tests/fixtures/gen_prep.py --size full --series 2)"
"$PYTHON" tests/fixtures/gen_prep.py --size full --series 2 --out "$WORK/pkgs"
ls -l "$WORK/pkgs"

export REPO BUILD NGINX_BIN WORK ROUNDS
exec "$PYTHON" - <<'EOF'
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import time

REPO, BUILD, NGINX_BIN, WORK = (os.environ[k] for k in
                                ("REPO", "BUILD", "NGINX_BIN", "WORK"))
ROUNDS = int(os.environ["ROUNDS"])
PKGS = sorted(os.path.join(WORK, "pkgs", n)
              for n in os.listdir(os.path.join(WORK, "pkgs")))
CORTES = ["2024-06-03T00:15:00-05:00", "2024-06-03T00:30:00-05:00"]

CONF = """
load_module {build}/ngx_http_prep_module.so;
{user}
worker_processes 2;
error_log {work}/error.log notice;
pid {work}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
    prep_store {work}/store;
    server {{ listen 127.0.0.1:{port}; location / {{ prep_serve; }} }}
    server {{ listen unix:{work}/control.sock; location / {{ prep_control; }} }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.002)
    raise SystemExit("bench: timed out waiting for " + what)


def corte(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/index.html")
        r = c.getresponse()
        r.read()
        c.close()
        return r.getheader("X-PREP-Corte")
    except OSError:
        return None


def tar_x(pkg):
    out = os.path.join(WORK, "x")
    shutil.rmtree(out, ignore_errors=True)
    os.mkdir(out)
    os.sync()               # no writeback of earlier work slows it down
    t = time.monotonic()
    subprocess.run(["tar", "-xzf", pkg, "-C", out], check=True)
    d = time.monotonic() - t
    shutil.rmtree(out)
    return d


def drop(pkg, drop_dir):
    """Writes the package as rsync does; returns when the last byte has
    landed (the rename)."""
    name = os.path.basename(pkg)
    tmp = os.path.join(drop_dir, "." + name + ".tmp")
    shutil.copyfile(pkg, tmp)
    os.sync()               # the same start as tar's
    os.rename(tmp, os.path.join(drop_dir, name))
    return time.monotonic()


def one_round():
    for d in ("store", "drop", "tmp"):
        shutil.rmtree(os.path.join(WORK, d), ignore_errors=True)
        os.mkdir(os.path.join(WORK, d))
    port = free_port()
    conf = os.path.join(WORK, "nginx.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(build=BUILD, work=WORK, port=port,
                            user="user root;" if os.geteuid() == 0 else ""))
    nginx = subprocess.Popen([NGINX_BIN, "-p", WORK, "-c", conf, "-e",
                              os.path.join(WORK, "error.log"), "-g",
                              "daemon off;"], stderr=subprocess.DEVNULL,
                             start_new_session=True)
    wait(lambda: corte(port) == "none", 10, "nginx")
    timed = subprocess.Popen(
        ["/usr/bin/time", "-f", "%M", "-o", os.path.join(WORK, "time.out"),
         os.path.join(BUILD, "prep-ingest"), "watch", "--drop",
         os.path.join(WORK, "drop"), "--store", os.path.join(WORK, "store"),
         "--control", os.path.join(WORK, "control.sock")],
        stderr=subprocess.DEVNULL, start_new_session=True)
    events = os.path.join(WORK, "store", "events.jsonl")
    wait(lambda: os.path.exists(events), 10, "the daemon")
    daemon = int(subprocess.run(["pgrep", "-P", str(timed.pid)],
                                capture_output=True, text=True).stdout)
    res = {}
    try:
        for i, pkg in enumerate(PKGS):
            t0 = drop(pkg, os.path.join(WORK, "drop"))
            wait(lambda: corte(port) == CORTES[i], 60, "corte %d" % i)
            res["live%d" % i] = time.monotonic() - t0
        with open("/proc/%d/status" % daemon) as f:
            res["hwm_kib"] = [int(l.split()[1]) for l in f
                              if l.startswith("VmHWM:")][0]
    finally:
        os.kill(daemon, signal.SIGTERM)
        timed.wait(timeout=30)
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=30)
    res["time_maxrss_kib"] = int(open(os.path.join(WORK, "time.out"))
                                 .read().split()[-1])
    res["events"] = [json.loads(l) for l in open(events)
                     if '"event":"published"' in l]
    return res


rows = []
for r in range(ROUNDS):
    row = {"tar0": tar_x(PKGS[0]), "tar1": tar_x(PKGS[1])}
    row.update(one_round())
    row["ratio0"] = row["live0"] / row["tar0"]
    row["ratio1"] = row["live1"] / row["tar1"]
    rows.append(row)
    print("round %d: tar -xzf %.3f / %.3f s; live after %.3f / %.3f s; "
          "ratios %.2f / %.2f; daemon VmHWM %d KiB, time maxrss %d KiB, "
          "validator %s KiB" % (
              r + 1, row["tar0"], row["tar1"], row["live0"], row["live1"],
              row["ratio0"], row["ratio1"], row["hwm_kib"],
              row["time_maxrss_kib"],
              "/".join(str(e["validator_peak_kib"]) for e in row["events"])),
          flush=True)


def med(key):
    return statistics.median(r[key] for r in rows)


print()
print("package: %s (%.1f MB) then %s (%.1f MB)" % (
    os.path.basename(PKGS[0]), os.path.getsize(PKGS[0]) / 1e6,
    os.path.basename(PKGS[1]), os.path.getsize(PKGS[1]) / 1e6))
print("| corte | tar -xzf fastest / median | last byte to live median "
      "| ratio median / fastest tar | ratio median of rounds | target "
      "| verdict |")
print("|---|---:|---:|---:|---:|---:|---|")
strict = {}
for i, (label, target) in enumerate((("first", 3.0), ("following", 2.0))):
    fastest = min(r["tar%d" % i] for r in rows)
    strict[i] = med("live%d" % i) / fastest
    print("| %s | %.3f / %.3f s | %.3f s | %.2f | %.2f | <= %.1f | %s |" % (
        label, fastest, med("tar%d" % i), med("live%d" % i), strict[i],
        med("ratio%d" % i), target,
        "met" if strict[i] <= target else "MISSED"))
peak = max(max(r["hwm_kib"], r["time_maxrss_kib"],
               *(e["validator_peak_kib"] for e in r["events"]))
           for r in rows)
print("peak memory (daemon VmHWM, /usr/bin/time max RSS, validator child):"
      " %d KiB (%.1f MiB), target < 64 MiB: %s" % (
          peak, peak / 1024, "met" if peak < 64 * 1024 else "MISSED"))

print()
print("daemon phases, median over rounds (s): first / following")
for k in ("wait_s", "stage_s", "validate_s", "verify_s", "read_s",
          "gzip_s", "fsync_s", "check_s", "commit_s", "flip_s",
          "reload_s"):
    vals = [statistics.median(r["events"][i]["phases"][k] for r in rows)
            for i in (0, 1)]
    print("  %-11s %.3f / %.3f" % (k, vals[0], vals[1]))
lat = [statistics.median(r["events"][i]["latency_s"] for r in rows)
       for i in (0, 1)]
print("  %-11s %.3f / %.3f  (the daemon's own clock: ctime to confirmed)"
      % ("latency_s", lat[0], lat[1]))
print("metric=ratio_first %.3f" % strict[0])
print("metric=ratio_following %.3f" % strict[1])
print("metric=peak_kib %d" % peak)
EOF
