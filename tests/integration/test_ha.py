"""High availability on loopback, with real parts (issue 12 §2): two
origins (each an nginx with the module and its own `prep-ingest watch`
and store), origin A's after-publish hook `fanout && purge`
(deploy/hooks/), the peer B reached over a real sshd with rsync, and a
real varnishd in front (tests/integration/ha/edge.vcl: health probes, a
fallback director, a retry on the other origin, stale-if-error as grace,
BAN from the purge hook).  And issue 12 §3: one memoria técnica
(build/asan/prep-report) from both origins' `?format=state`, their
visitors merged, not summed, when they share prep_stats_visitor_key.

Runs as root (CI does): sshd runs on a free loopback port with its own
throwaway host and user keys and lets root in by key only; varnishd runs
with -j none in a temporary -n directory.
"""

import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import prep_harness as ph


pytestmark = [pytest.mark.needs_module, pytest.mark.needs_ingest]

HERE = Path(__file__).resolve().parent
HOOKS = ph.REPO / "deploy" / "hooks"
VCL = HERE / "ha" / "edge.vcl"
VARNISHD = shutil.which("varnishd") or "/usr/sbin/varnishd"
SSHD = "/usr/sbin/sshd"

FAST = ["--rescan-interval", "0.5", "--hook-retry-delay", "0.2",
        "--incomplete-timeout", "5"]


def _wait_port(port, timeout, what):
    import socket

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            return False
    ph.wait_for(up, timeout, what, interval=0.05)


class Sshd:
    """A loopback sshd letting root in with one throwaway key."""

    def __init__(self, base):
        self.base = Path(base)
        self.base.mkdir()
        self.key = self.base / "client"
        for name in ("host", "client"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                            "-f", str(self.base / name)], check=True,
                           timeout=30)
        auth = self.base / "authorized"
        auth.mkdir()
        shutil.copy(self.base / "client.pub", auth / "root")
        self.proc = None
        self.port = None

    def restrict_to(self, drop):
        """The key confined as deploy/sshd_config.example confines the
        institute's rsync account: rrsync, write only, no deletion, in
        the drop folder; the peer target is then "root@127.0.0.1:"."""
        pub = (self.base / "client.pub").read_text().strip()
        (self.base / "authorized" / "root").write_text(
            'restrict,command="/usr/bin/rrsync -wo -no-del -munge %s" %s\n'
            % (drop, pub))

    def start(self):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.port = self.port or ph.free_port()
        conf = self.base / "sshd_config"
        conf.write_text("\n".join([
            "Port %d" % self.port, "ListenAddress 127.0.0.1",
            "HostKey %s" % (self.base / "host"),
            "PidFile %s" % (self.base / "sshd.pid"),
            "AuthorizedKeysFile %s/%%u" % (self.base / "authorized"),
            "StrictModes no", "UsePAM no", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "MaxStartups 50",
            "LogLevel ERROR", ""]))
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.base / "sshd.log", "ab"))
        _wait_port(self.port, 10, "sshd")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Varnish:
    def __init__(self, base, port_a, port_b):
        self.base = Path(base)
        self.base.mkdir()
        self.vcl = self.base / "edge.vcl"
        self.vcl.write_text(VCL.read_text()
                            .replace("@ORIGIN_A_PORT@", str(port_a))
                            .replace("@ORIGIN_B_PORT@", str(port_b)))
        self.port = ph.free_port()
        self.log = self.base / "varnishd.log"
        self.secret = self.base / "secret"
        self.secret.write_bytes(os.urandom(32).hex().encode())
        os.chmod(self.secret, 0o600)
        self.proc = subprocess.Popen(
            [VARNISHD, "-F", "-j", "none", "-n", str(self.base / "n"),
             "-a", "127.0.0.1:%d" % self.port, "-f", str(self.vcl),
             "-T", "127.0.0.1:0", "-S", str(self.secret),
             "-s", "malloc,64m",
             "-p", "ban_lurker_sleep=0.1",
             # far above the tests' stale-if-error: the grace the edge
             # keeps must come from the origin's header, not a default
             "-p", "default_grace=60"],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            _wait_port(self.port, 20, "varnishd")
        except ph.HarnessError:
            self.stop()
            raise ph.HarnessError("varnishd did not start:\n"
                                  + self.log.read_text()[-3000:])

    def healthy(self):
        """{backend: True when its probe says healthy}"""
        r = subprocess.run(["varnishadm", "-n", str(self.base / "n"),
                            "backend.list"], capture_output=True,
                           text=True, timeout=20)
        out = {}
        for line in r.stdout.splitlines()[1:]:
            f = line.split()
            if len(f) >= 3:
                out[f[0].split(".")[-1]] = f[3] == "healthy"
        return out

    def wait_healthy(self, *names, timeout=15):
        ph.wait_for(lambda: all(self.healthy().get(n) for n in names),
                    timeout, "backends %s healthy" % (names,),
                    interval=0.2)

    def get(self, path, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.getheader("X-PREP-Corte"), r.read()
        finally:
            c.close()

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def direct_get(port, path, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("X-PREP-Corte"), r.read()
    finally:
        c.close()


# the statistics of an origin (issue 12 §3): a zone, its state file, the
# status location as README's "Statistics" protects it, and an access
# log with the visitor hash, from which the tests know the truth
STATUS = "/prep-status"
STATS_LOG_FORMAT = ("log_format prep_ha_stats '$remote_addr $msec $status "
                    "\"$uri\" $prep_visitor \"$http_user_agent\"';")


def stats_conf(visitor_key=None):
    """nginx_factory conf for an origin with statistics; visitor_key: the
    prep_stats_visitor_key file (None: each origin its own key)."""
    http = ["prep_stats_zone prep_stats 4m;",
            "prep_stats_state stats.state;",
            "prep_stats_state_interval 1s;",
            STATS_LOG_FORMAT,
            "access_log stats.log prep_ha_stats;"]
    if visitor_key:
        http.append("prep_stats_visitor_key %s;" % visitor_key)
    server = ("location = %s {\n    prep_status;\n    allow 127.0.0.1;\n"
              "    deny all;\n}\n" % STATUS)
    return dict(http_extra="\n".join(http), server_extra=server)


class Setup:
    def __init__(self, tmp, nginx_factory, watch_factory, cache_control,
                 peer_port=None, stats=False, visitor_key=None):
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True)
        self.alarms = self.tmp / "alarms.jsonl"
        extra = ("prep_cache_control '%s';" % cache_control
                 if cache_control else "")
        conf = stats_conf(visitor_key) if stats else {}
        self.a = nginx_factory(location_extra=extra, **conf)
        self.b = nginx_factory(location_extra=extra, **conf)
        self.sshd = Sshd(self.tmp / "sshd")
        self.sshd.start()
        self.edge = Varnish(self.tmp / "varnish", self.a.port, self.b.port)
        self.watch_b = watch_factory(self.b, args=FAST)
        self.sshd.restrict_to(self.watch_b.drop)
        self.conf = self.tmp / "ha.conf"
        self.write_conf(peer_port or self.sshd.port)
        hook = "%s --config %s && %s --config %s" % (
            HOOKS / "fanout", self.conf, HOOKS / "purge", self.conf)
        self.watch_a = watch_factory(
            self.a, args=FAST + ["--after-publish", hook,
                                 "--hook-timeout", "60",
                                 "--hook-retries", "2"])

    def write_conf(self, peer_port):
        self.conf.write_text("\n".join([
            "peer = root@127.0.0.1: %d" % peer_port,
            "ssh_key = %s" % self.sshd.key,
            "ssh_option = StrictHostKeyChecking=no",
            "ssh_option = UserKnownHostsFile=/dev/null",
            "ssh_option = LogLevel=ERROR",
            "fanout_timeout = 20", "fanout_retries = 3",
            "fanout_backoff = 0.2",
            "origin = http://127.0.0.1:%d" % self.a.port,
            "origin = http://127.0.0.1:%d" % self.b.port,
            "origin_wait = 20",
            "driver = varnish",
            "varnish_url = http://127.0.0.1:%d/" % self.edge.port,
            "purge_backoff = 0.2",
            "alarm_hook = cat >> %s" % self.alarms, ""]))

    def alarm_kinds(self):
        if not self.alarms.exists():
            return []
        return [json.loads(x)["event"]
                for x in self.alarms.read_text().splitlines()]

    def drop(self, pkg):
        """Drops pkg at A; returns the events mark of A before it."""
        mark = self.watch_a.mark()
        self.watch_a.drop_file(pkg)
        return mark

    def wait_purged(self, pkg, mark, timeout=60):
        ev = self.watch_a.wait_event("hook", after=mark, timeout=timeout,
                                     corte_id=pkg.id, ok=True)
        assert ev["ok"], ev
        return ev

    def publish(self, pkg):
        self.wait_purged(pkg, self.drop(pkg))
        self.edge.wait_healthy("origin_a", "origin_b")

    def edge_serves(self, pkg, paths=None):
        """True when every path through the edge is pkg's, byte for byte."""
        for path in paths or pkg.listing:
            st, corte, body = self.edge.get(path)
            if st != 200 or corte != pkg.iso or body != pkg.listing[path]:
                return False
        return True

    def stop(self):
        self.edge.stop()
        self.sshd.stop()


@pytest.fixture
def ha_factory(tmp_path, nginx_factory, watch_factory):
    made = []

    def make(cache_control=None, **kw):
        s = Setup(tmp_path / ("ha%d" % len(made)), nginx_factory,
                  watch_factory, cache_control, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


class Load:
    """Threads GETting random paths through the edge (half of them with
    a unique query, so that they miss the cache and reach an origin);
    every answer must be a 200 whose body is the one of the corte its
    X-PREP-Corte names."""

    def __init__(self, edge, cortes, threads=4):
        self.edge = edge
        self.by_iso = {p.iso: p.listing for p in cortes}
        self.paths = sorted(set.intersection(
            *[set(p.listing) for p in cortes]))
        self.stop_flag = threading.Event()
        self.ok = 0
        self.failures = []
        self.mixed = []
        self.seen = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,))
                        for i in range(threads)]

    def run(self, n):
        rnd = random.Random(n)
        conn = None
        i = 0
        while not self.stop_flag.is_set():
            path = rnd.choice(self.paths)
            i += 1
            url = path + ("?miss=%d-%d" % (n, i) if i % 2 else "")
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(
                        "127.0.0.1", self.edge.port, timeout=10)
                conn.request("GET", url)
                r = conn.getresponse()
                body = r.read()
                corte = r.getheader("X-PREP-Corte")
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.failures.append("%s: %r" % (url, e))
                conn = None
                continue
            with self.lock:
                if r.status != 200:
                    self.failures.append("%s: %d %s" % (url, r.status,
                                                        body[:60]))
                elif corte not in self.by_iso \
                        or self.by_iso[corte].get(path) != body:
                    self.mixed.append("%s: X-PREP-Corte %s, body sha %s"
                                      % (url, corte, hashlib.sha256(
                                          body).hexdigest()[:12]))
                else:
                    self.ok += 1
                    self.seen[corte] = self.seen.get(corte, 0) + 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=30)


# ------------------------------------------------------------ the tests


def test_a_drop_at_a_is_served_everywhere_within_10s(ha_factory, packages):
    ha = ha_factory()
    pkg = packages.get("20240603_0015")
    start = time.monotonic()
    ha.drop(pkg)

    def everywhere():
        for port in (ha.a.port, ha.b.port):
            st, corte, _ = direct_get(port, "/index.html")
            if st != 200 or corte != pkg.iso:
                return False
        return ha.edge_serves(pkg)
    ph.wait_for(everywhere, 10, "the corte on both origins and the edge",
                interval=0.2)
    took = time.monotonic() - start
    print("drop at A to every path on both origins and the edge: %.2f s"
          % took)
    assert took < 10
    for port in (ha.a.port, ha.b.port):
        for path, data in pkg.listing.items():
            st, corte, body = direct_get(port, path)
            assert (st, corte) == (200, pkg.iso), (port, path)
            assert body == data, (port, path)
    # B published what the institute sent A, checked by its own daemon
    ev = ha.watch_b.wait_event("published", corte_id=pkg.id)
    assert ev["snapshot"] == ha.watch_a.current()
    ha.wait_purged(pkg, 0)
    assert ha.alarm_kinds() == []


def test_origin_a_killed_under_load_fails_no_request(ha_factory, packages):
    ha = ha_factory()
    pkg = packages.get("20240603_0015")
    ha.publish(pkg)
    ph.wait_for(lambda: ha.edge_serves(pkg, ["/index.html"]), 10, "edge")
    with Load(ha.edge, [pkg]) as load:
        ph.wait_for(lambda: load.ok > 200, 20, "load")
        before = load.ok
        ha.a.kill()
        time.sleep(4)
        ph.wait_for(lambda: load.ok > before + 400, 20, "load after")
    print("origin A killed: %d good answers, %d after the kill, %d failed"
          % (load.ok, load.ok - before, len(load.failures)))
    assert load.failures == [], load.failures[:10]
    assert load.mixed == [], load.mixed[:10]
    # and the misses after the kill were served by B
    st, corte, _ = ha.edge.get("/index.html?after-kill")
    assert (st, corte) == (200, pkg.iso)


def test_20_cortes_under_load_are_never_mixed(ha_factory, packages):
    ha = ha_factory()
    cortes = packages.series(21)
    ha.publish(cortes[0])
    with Load(ha.edge, cortes) as load:
        for pkg in cortes[1:]:
            ha.publish(pkg)
            ph.wait_for(lambda: ha.edge.get("/index.html")[1] == pkg.iso,
                        10, "the edge on %s" % pkg.id)
    print("20 cortes: %d good answers over %d cortes, %d failed, %d mixed"
          % (load.ok, len(load.seen), len(load.failures), len(load.mixed)))
    assert load.failures == [], load.failures[:10]
    assert load.mixed == [], load.mixed[:10]
    assert load.ok > 500
    assert len(load.seen) >= 15, load.seen
    assert ha.edge_serves(cortes[-1])
    assert ha.alarm_kinds() == []


def test_unreachable_peer_no_purge_and_an_alarm(ha_factory, packages):
    ha = ha_factory()
    one, two = packages.get("20240603_0015"), packages.get("20240603_0030")
    ha.publish(one)
    ph.wait_for(lambda: ha.edge_serves(one), 10, "the edge on corte 1")
    ha.sshd.stop()
    mark = ha.drop(two)
    ev = ha.watch_a.wait_event("hook", after=mark, corte_id=two.id)
    assert not ev["ok"]
    assert "peer_unreachable" in ha.alarm_kinds()
    assert "purge_blocked" not in ha.alarm_kinds()   # purge never ran
    # A serves corte 2, B still 1: the edge keeps corte 1 on every path
    assert direct_get(ha.a.port, "/index.html")[1] == two.iso
    assert direct_get(ha.b.port, "/index.html")[1] == one.iso
    assert ha.edge_serves(one)
    # sshd back: the daemon's retry of the hook copies, waits, purges
    ha.sshd.start()
    ha.wait_purged(two, mark)
    ph.wait_for(lambda: ha.edge_serves(two), 10, "the edge on corte 2")
    assert direct_get(ha.b.port, "/index.html")[1] == two.iso


def test_both_origins_down_edge_serves_stale_for_the_grace(ha_factory,
                                                          packages):
    ttl, grace = 1, 5
    ha = ha_factory("public, max-age=%d, stale-if-error=%d" % (ttl, grace))
    pkg = packages.get("20240603_0015")
    ha.publish(pkg)
    ph.wait_for(lambda: ha.edge_serves(pkg), 10, "the edge")
    # fresh copies of every path, then both origins die
    ha.a.kill()
    ha.b.kill()
    primed = time.monotonic()
    assert ha.edge_serves(pkg)
    time.sleep(ttl + 1)
    # past the TTL, inside the grace: still every path, byte for byte
    assert ha.edge_serves(pkg)
    assert time.monotonic() - primed < ttl + grace - 1
    # past TTL + grace the edge has nothing left to serve
    time.sleep(max(0, primed + ttl + grace + 1.5 - time.monotonic()))
    st, _, _ = ha.edge.get("/index.html")
    assert st == 503


# ------------------------------------------- statistics across origins
# issue 12 §3: one memoria técnica from both origins' ?format=state, their
# visitors merged (one key: a true union) and never summed.

REPORT = ph.BUILD / "asan" / "prep-report"
NOT_SHARED = "no comparten la clave de visitantes"
STATS_LINE = re.compile(r'^(\S+) (\S+) (\d+) "(.*?)" (\S+) "(.*)"$')


def visitor_ua(n):
    return "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Firefox/120.0 ha/%d" % n


def get_as(port, path, n):
    """GET as visitor n (every loopback client is 127.0.0.1: the
    User-Agent is what tells the visitors apart)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"User-Agent": visitor_ua(n)})
        r = c.getresponse()
        return r.status, r.getheader("X-PREP-Corte"), r.read()
    finally:
        c.close()


def logged_visitors(inst):
    """{$prep_visitor: User-Agent} of every counted request the origin
    logged (not the status location, nor the control socket, whose
    server has no prep_serve), and their number."""
    out, hits = {}, 0
    for line in inst.access_lines(inst.prefix / "stats.log"):
        m = STATS_LINE.match(line)
        assert m, line
        if m.group(4) == STATUS or m.group(1) == "unix:":
            continue
        hits += 1
        out[m.group(5)] = m.group(6)
    return out, hits


def origin_status(inst):
    st, _, body = direct_get(inst.port, STATUS)
    assert st == 200, body[:300]
    return json.loads(body)


def wait_counted(inst):
    """Until the origin's status counts every request it logged, and
    their visitors (each counted just after its hit); returns the status
    and the logged visitors."""
    last = {}

    def counted():
        seen, hits = logged_visitors(inst)
        s = origin_status(inst)
        last.update(s=s["totals"], hits=hits, seen=len(seen))
        # 16384 registers: a shared one (a few percent of runs) is one
        # visitor fewer
        return (s["totals"]["hits"] == hits
                and s["totals"]["visitors"] >= len(seen) - 2)
    try:
        ph.wait_for(counted, 15, "origin %d to count its requests"
                    % inst.port, interval=0.1)
    except ph.HarnessError as e:
        raise ph.HarnessError("%s; last: %s" % (e, last))
    return origin_status(inst), logged_visitors(inst)[0]


def run_report(out, *sources):
    if not REPORT.exists():
        pytest.fail("%s is missing: make asan" % REPORT, pytrace=False)
    args = [str(REPORT)]
    for s in sources:
        args += ["--stats", str(s)]
    p = subprocess.run(args + ["--out", str(out)], capture_output=True,
                       text=True, timeout=120,
                       env=dict(os.environ,
                                ASAN_OPTIONS="detect_leaks=1:"
                                             "abort_on_error=0"))
    assert p.returncode == 0, p.stderr
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, \
        p.stderr
    return json.loads((out / "memoria-tecnica.json").read_text()), p.stderr


@pytest.mark.parametrize("shared", [True, False], ids=["one_key", "own_keys"])
def test_one_report_from_both_origins_merges_visitors(ha_factory, packages,
                                                      tmp_path, shared):
    key = None
    if shared:
        key = tmp_path / "visitor.key"
        key.write_text(os.urandom(32).hex() + "\n")
        key.chmod(0o600)
    ha = ha_factory(stats=True, visitor_key=key)
    pkg = packages.get("20240603_0015")
    ha.publish(pkg)                       # dropped at A, fanned out to B
    ph.wait_for(lambda: ha.edge_serves(pkg, ["/index.html"]), 10, "edge")

    # visitors 0..59 at A, 30..89 at B (30 on both), asked directly; then
    # 80..89 again through the edge, on paths it has never cached: its
    # misses reach A (the primary) as the same visitors
    for port, visitors in ((ha.a.port, range(0, 60)),
                           (ha.b.port, range(30, 90))):
        for n in visitors:
            for path in ("/index.html", "/assets/ayuntamientos/"
                         "avanceEntidad.json"):
                st, corte, body = get_as(port, path, n)
                assert (st, corte) == (200, pkg.iso), (port, path, st)
                assert body == pkg.listing[path]
    for n in range(80, 90):
        st, corte, _ = get_as(ha.edge.port, "/index.html?v=%d" % n, n)
        assert (st, corte) == (200, pkg.iso)
    # the edge's probes would go on counting: stop it, so that what the
    # report reads is what the test reads
    ha.edge.stop()

    (sa, seen_a), (sb, seen_b) = wait_counted(ha.a), wait_counted(ha.b)
    ours = {h: ua for h, ua in list(seen_a.items()) + list(seen_b.items())
            if ua.startswith(visitor_ua(0)[:-1])}
    # one key: each of the 90 visitors is one hash on both origins; own
    # keys: the 30 (and the 10 of the edge) are two
    assert len(ours) == (90 if shared else 130), len(ours)
    assert sum(ua == visitor_ua(85) for ua in ours.values()) \
        == (1 if shared else 2)
    union = len(set(seen_a) | set(seen_b))
    # the readiness probe, the edge's probes, the purge hook's curl: the
    # same few visitors on both
    extra = union - len(ours)
    assert 0 < extra <= (4 if shared else 8), (seen_a, seen_b)
    hits_a, hits_b = sa["totals"]["hits"], sb["totals"]["hits"]
    assert hits_a >= 130 and hits_b >= 120

    doc, err = run_report(tmp_path / "out", *[
        "http://127.0.0.1:%d%s?format=state" % (inst.port, STATUS)
        for inst in (ha.a, ha.b)])
    s = doc["summary"]
    print("report of two origins (%s): %d hits (%d + %d), %d visitors "
          "(%d logged, the origins' %d + %d)"
          % ("one key" if shared else "own keys", s["hits"], hits_a, hits_b,
             s["visitors"], union, sa["totals"]["visitors"],
             sb["totals"]["visitors"]))
    assert s["hits"] == hits_a + hits_b
    origins = {o["name"]: o for o in doc["origins"]}
    assert set(origins) == {"127.0.0.1:%d" % ha.a.port,
                            "127.0.0.1:%d" % ha.b.port}, origins
    for inst, st in ((ha.a, sa), (ha.b, sb)):
        o = origins["127.0.0.1:%d" % inst.port]
        assert o["hits"] == st["totals"]["hits"]
        assert abs(o["share_percent"]
                   - 100.0 * o["hits"] / s["hits"]) < 0.1, o
    assert abs(sum(o["share_percent"] for o in origins.values())
               - 100) < 0.1
    # the union of ~100 hashes in 16384 registers: linear counting,
    # exact but for a shared register (then one or two fewer)
    assert union - 3 <= s["visitors"] <= union + 1, (s, union)
    both = sum(o["visitors"] for o in origins.values())
    if shared:
        assert s["visitors"] <= both - 35, (s, both)
        assert NOT_SHARED not in err
        assert not any(NOT_SHARED in w for w in doc["warnings"])
    else:
        # nothing in common: the union is the sum, and the report says
        # that it is an upper bound
        assert s["visitors"] >= both - 3, (s, both)
        assert NOT_SHARED in err
        assert any(NOT_SHARED in w and "cota superior" in w
                   for w in doc["warnings"]), doc["warnings"]

    # the same report from the state files the origins write as they
    # stop (a save at every interval only when something changed)
    ha.a.quit()
    ha.b.quit()
    files, _ = run_report(tmp_path / "out-files",
                          ha.a.prefix / "stats.state",
                          ha.b.prefix / "stats.state")
    for k in ("hits", "visitors", "pages", "bytes", "visits"):
        assert files["summary"][k] == s[k], k
    assert sorted(o["hits"] for o in files["origins"]) \
        == sorted(o["hits"] for o in doc["origins"])
    assert any(NOT_SHARED in w for w in files["warnings"]) != shared


# ------------------------------------------------------------ fanout alone


def test_fanout_peers_in_parallel_with_timeouts(tmp_path, packages):
    """A peer that hangs (accepts, never speaks) and a peer that refuses
    never delay the good one; each is retried, then alarmed; the good
    peer gets the package and a sidecar that matches it."""
    import socket
    pkg = packages.get("20240603_0015")
    sshd = Sshd(tmp_path / "sshd")
    sshd.start()
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(16)
    dead = ph.free_port()
    store = tmp_path / "store"
    (store / "packages").mkdir(parents=True)
    digest = hashlib.sha256(pkg.path.read_bytes()).hexdigest()
    snap = "%s-%s.snap" % (pkg.id, digest[:12])
    shutil.copy(pkg.path, store / "packages" / (snap[:-5] + ".tar.gz"))
    good = tmp_path / "drop-good"
    good.mkdir()
    sshd.restrict_to(good)
    alarms = tmp_path / "alarms.jsonl"
    conf = tmp_path / "ha.conf"
    conf.write_text("\n".join([
        "peer = root@127.0.0.1: %d" % sshd.port,
        "peer = root@127.0.0.1:/nonexistent/ %d" % hang.getsockname()[1],
        "peer = root@127.0.0.1:/nonexistent/ %d" % dead,
        "ssh_key = %s" % sshd.key,
        "ssh_option = StrictHostKeyChecking=no",
        "ssh_option = UserKnownHostsFile=/dev/null",
        "ssh_option = LogLevel=ERROR",
        "fanout_timeout = 2", "fanout_retries = 3", "fanout_backoff = 0.5",
        "alarm_hook = cat >> %s" % alarms, ""]))
    env = dict(os.environ, PREP_STORE=str(store), PREP_SNAPSHOT=snap,
               PREP_PACKAGE_SHA256=digest, PREP_CORTE_ID=pkg.id,
               PREP_CORTE=pkg.iso)
    env.pop("PREP_ALARM_HOOK", None)
    try:
        start = time.monotonic()
        p = subprocess.Popen([str(HOOKS / "fanout"), "--config", str(conf)],
                             env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        name = snap[:-5] + ".tar.gz"
        ph.wait_for(lambda: (good / name).exists(), 10, "the good peer")
        good_at = time.monotonic() - start
        out, err = p.communicate(timeout=60)
        took = time.monotonic() - start
    finally:
        hang.close()
        sshd.stop()
    assert p.returncode == 1, err
    assert (good / name).read_bytes() == pkg.path.read_bytes()
    side = (good / (name + ".sha256")).read_text()
    assert side == "%s  %s\n" % (digest, name)
    # the hanging peer costs 3 x 2 s + 0.5 + 1 s of backoff: the good
    # one was done long before, and the whole run is bounded
    assert good_at < 3, good_at
    assert 6 <= took < 20, took
    kinds = [json.loads(x) for x in alarms.read_text().splitlines()]
    assert sorted(a["event"] for a in kinds) == ["peer_unreachable"] * 2
    assert all(a["level"] == "alert" for a in kinds)
    assert err.count("attempt 3 failed") == 2, err


def test_fanout_needs_the_daemon_environment(tmp_path):
    conf = tmp_path / "ha.conf"
    conf.write_text("peer = x@127.0.0.1:/d/\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREP_")}
    r = subprocess.run([str(HOOKS / "fanout"), "--config", str(conf)],
                       env=env, capture_output=True, text=True, timeout=20)
    assert r.returncode == 1 and "PREP_STORE is not set" in r.stderr
    r = subprocess.run([str(HOOKS / "fanout"), "--help"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and "peer = TARGET" in r.stdout


def test_fanout_copies_nothing_on_suspend(tmp_path):
    conf = tmp_path / "ha.conf"
    conf.write_text("peer = x@127.0.0.1:/d/ 1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREP_")}
    env["PREP_EVENT"] = "suspend"
    r = subprocess.run([str(HOOKS / "fanout"), "--config", str(conf)],
                       env=env, capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and "no package to copy" in r.stderr
