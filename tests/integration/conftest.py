"""pytest fixtures for the ngx_prep integration suite.

Each test gets its own nginx (own prefix under tmp_path, own store, own
ports); teardown stops it and fails the test when its error.log shows an
alert, a crash or a sanitizer report.  The machinery lives in
prep_harness.py so later suites (ingest daemon, statistics) reuse it.

Tests marked needs_module / needs_ingest (or using a fixture that
publishes packages) FAIL with a one-line reason when the build is
missing: a missing build is a failure in CI, never a skip.
"""

import os

import pytest

import prep_harness as ph


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs_module: needs build/ngx_http_prep_module.so "
        "(fails, does not skip, when it is missing)")
    config.addinivalue_line(
        "markers", "needs_ingest: needs the prep-ingest binary "
        "(fails, does not skip, when it is missing)")


# fixtures that are useless without prep-ingest (they publish packages)
INGEST_FIXTURES = {"served", "packages", "pkg_a", "pkg_b"}


def pytest_runtest_setup(item):
    need_ingest = (item.get_closest_marker("needs_ingest") is not None
                   or bool(INGEST_FIXTURES & set(item.fixturenames)))
    problems = ph.missing_builds(
        need_module=item.get_closest_marker("needs_module") is not None,
        need_ingest=need_ingest)
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for inst in getattr(item, "prep_instances", ()):
            report.sections.append((
                "nginx error.log (%s)" % inst.prefix,
                _tail(inst.log_text(), 80)))


def _tail(text, lines):
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def packages(tmp_path_factory):
    """Session cache of generated packages (deterministic, immutable)."""
    return ph.PackageCache(tmp_path_factory.mktemp("packages"))


@pytest.fixture
def nginx_factory(tmp_path, request):
    """make(publish=[pkg, ...], start=True, workers=2, cls=Nginx,
    **conf) -> Nginx.

    Packages are published into the store before nginx starts, so the
    first corte is live from the start.  conf: see prep_harness.Nginx;
    cls: a subclass of it with a config of its own.
    With PREP_TEST_HUP=1 every instance is reloaded (SIGHUP) once right
    after its start, so the whole suite runs on post-reload workers."""
    instances = []
    request.node.prep_instances = instances

    def make(publish=(), start=True, workers=2, cls=ph.Nginx, **conf):
        inst = cls(tmp_path / ("nginx%d" % len(instances)),
                   workers=workers, **conf)
        instances.append(inst)
        for pkg in publish:
            inst.publish(pkg)
        if start:
            inst.start()
            if os.environ.get("PREP_TEST_HUP") == "1":
                inst.reload()
        return inst

    yield make

    errors = []
    for inst in instances:
        err = inst.stop()
        if err:
            errors.append(err)
        bad = inst.bad_log_lines()
        if bad:
            errors.append("%s: %d bad error.log line(s):\n  %s\n"
                          "--- error.log (tail) ---\n%s" % (
                              inst.prefix, len(bad), "\n  ".join(bad[:20]),
                              _tail(inst.log_text(), 120)))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def pkg_a(packages):
    """Small package, corte 20240603_0015 (UTC-5)."""
    return packages.get("20240603_0015")


@pytest.fixture
def pkg_b(packages):
    """The next corte of the same night, 20240603_0030."""
    return packages.get("20240603_0030")


@pytest.fixture
def served(nginx_factory, pkg_a):
    """nginx serving pkg_a (published before start)."""
    return nginx_factory(publish=[pkg_a])


# ------------------------------------------------- prep-ingest watch daemon
# (appended for the ingest daemon suites: test_ingest_*.py, test_ssh*.py)

import contextlib as _contextlib
import json as _json
import signal as _signal
import subprocess as _subprocess
import threading as _threading
import time as _time
from pathlib import Path as _Path

WATCH_START_TIMEOUT = 20.0
WATCH_EVENT_TIMEOUT = 60.0


class Watch:
    """One `prep-ingest watch` on a drop folder and a store (by default
    the store of an Nginx instance, whose control socket it is told
    about).  Its events log is the test's window into its decisions."""

    def __init__(self, base, store, drop=None, control=None, args=(),
                 env=None, binary=None):
        self.base = _Path(base)
        self.store = _Path(store)
        self.drop = _Path(drop) if drop else self.base / "drop"
        self.control = control
        self.args = list(args)
        self.env = dict(env or {})
        self.binary = str(binary or ph.INGEST_BIN)
        self.proc = None
        self._pause_depth = 0
        self.stderr_path = self.base / "watch.stderr"
        self.drop.mkdir(parents=True, exist_ok=True)
        self.store.mkdir(parents=True, exist_ok=True)

    @property
    def events_path(self):
        return self.store / "events.jsonl"

    def command(self):
        cmd = [self.binary, "watch", "--drop", str(self.drop),
               "--store", str(self.store)]
        if self.control:
            cmd += ["--control", str(self.control)]
        return cmd + self.args

    def start(self, wait=True, expect_exit=False):
        problems = ph.missing_builds(need_module=False, need_ingest=True)
        if problems:
            raise ph.HarnessError("; ".join(problems))
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(self.env)
        mark = len(self.events())
        with open(self.stderr_path, "ab") as err:
            self.proc = _subprocess.Popen(
                self.command(), stdin=_subprocess.DEVNULL, stdout=err,
                stderr=err, env=env, start_new_session=True)
        if wait and not expect_exit:
            self.wait_event("start", after=mark, timeout=WATCH_START_TIMEOUT)
        return self

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=15.0):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(_signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except _subprocess.TimeoutExpired:
                self.kill()
                raise ph.HarnessError("prep-ingest watch did not stop "
                                      "within %.0f s of SIGTERM" % timeout)
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, _signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)

    def wait_exit(self, timeout=WATCH_EVENT_TIMEOUT):
        return self.proc.wait(timeout=timeout)

    @property
    def stopped(self):
        """The daemon is stopped (SIGSTOP: state T in /proc)."""
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "T"
        except (FileNotFoundError, ProcessLookupError):
            return False

    @_contextlib.contextmanager
    def paused(self):
        """The daemon stopped for the block: what the block does reaches
        it afterwards as queued inotify events, all at once, so its
        first look at a file finds it as the block left it.  Nests; does
        nothing when the daemon is not running or already stopped (at a
        PREP_INGEST_PAUSE point: the test resumes it)."""
        if self._pause_depth or not self.running or self.stopped:
            self._pause_depth += 1
            try:
                yield self
            finally:
                self._pause_depth -= 1
            return
        self._pause_depth += 1
        os.kill(self.proc.pid, _signal.SIGSTOP)
        try:
            ph.wait_for(lambda: self.stopped or not self.running, 10,
                        "the daemon to stop")
            yield self
        finally:
            self._pause_depth -= 1
            if self.running:
                os.kill(self.proc.pid, _signal.SIGCONT)

    def stderr_text(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def sanitizer_reports(self):
        text = self.stderr_text()
        return [line for line in text.splitlines()
                if "Sanitizer" in line or "runtime error" in line]

    # ---------------------------------------------------------- events

    def events(self, name=None):
        """Every line of STORE/events.jsonl, parsed (each must parse).
        Bytes after the last newline are a line the daemon is writing: a
        write() that crosses a page boundary can be read halfway."""
        try:
            raw = self.events_path.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for line in raw.split(b"\n")[:-1]:
            if not line:
                continue
            ev = _json.loads(line.decode("utf-8"))
            if name is None or ev.get("event") == name:
                out.append(ev)
        return out

    def wait_event(self, name, after=0, timeout=WATCH_EVENT_TIMEOUT,
                   **fields):
        """The first event `name` with these fields among the events
        after the first `after` ones; fails fast if the daemon died."""
        def find():
            if self.proc is not None and self.proc.poll() is not None:
                raise ph.HarnessError(
                    "prep-ingest watch exited with %s while waiting for "
                    "%s %s:\n%s" % (self.proc.returncode, name, fields,
                                    self.stderr_text()[-3000:]))
            for ev in self.events()[after:]:
                if ev.get("event") == name and all(
                        ev.get(k) == v for k, v in fields.items()):
                    return ev
            return None
        try:
            return ph.wait_for(find, timeout, "event %s %s" % (name, fields))
        except ph.HarnessError as e:
            raise ph.HarnessError("%s\nevents so far:\n%s" % (e, "\n".join(
                _json.dumps(ev) for ev in self.events()[-30:])))

    def mark(self):
        return len(self.events())

    # ------------------------------------------------------------ drop

    def drop_file(self, src, name=None, how="copy", data=None):
        """Puts a package into the drop folder as an uploader would:
        copy (written in place: close_write), rename (written under a
        dot name, then renamed: moved_to) or link (".filepart", then
        link + unlink as sftp-server renames: create).  The daemon is
        stopped meanwhile (paused()): it gets the same events, but its
        first look is at the finished upload, whatever the load.  A look
        in the middle of an upload is right to look again (one more
        "seen", an "incomplete"); the tests of uploads in progress write
        their files themselves."""
        name = name or os.path.basename(os.fspath(src))
        if data is None:
            data = _Path(os.fspath(src)).read_bytes()
        with self.paused():
            return self._drop(name, data, how)

    def _drop(self, name, data, how):
        final = self.drop / name
        if how == "copy":
            final.write_bytes(data)
        elif how == "rename":
            tmp = self.drop / (".%s.XyZ123" % name)
            tmp.write_bytes(data)
            os.rename(tmp, final)
        elif how == "link":
            tmp = self.drop / (name + ".filepart")
            tmp.write_bytes(data)
            os.link(tmp, final)
            os.unlink(tmp)
        else:
            raise ValueError(how)
        return final

    def quarantine(self):
        """{quarantined name: parsed .reason}"""
        qdir = self.store / "quarantine"
        out = {}
        if not qdir.is_dir():
            return out
        for p in qdir.iterdir():
            if p.name.endswith(".reason"):
                out[p.name[:-len(".reason")]] = _json.loads(p.read_text())
        return out

    def current(self):
        try:
            return os.path.basename(os.readlink(self.store / "current"))
        except FileNotFoundError:
            return None


@pytest.fixture
def watch_factory(tmp_path, request):
    """make(nginx=None, args=(), env=None, start=True, **kw) -> Watch.
    With nginx, the daemon writes that nginx's store and is given its
    control socket.  Teardown stops every daemon (SIGTERM) and fails the
    test on a sanitizer report or a non-zero exit."""
    daemons = []

    def make(nginx=None, args=(), env=None, start=True, store=None,
             control=None, **kw):
        base = tmp_path / ("watch%d" % len(daemons))
        base.mkdir()
        if nginx is not None:
            store = store or nginx.store
            control = control or nginx.control_sock
        w = Watch(base, store or base / "store", control=control,
                  args=args, env=env, **kw)
        daemons.append(w)
        if start:
            w.start()
        return w

    yield make

    errors = []
    for w in daemons:
        try:
            rc = w.stop()
        except ph.HarnessError as e:
            errors.append(str(e))
            continue
        reports = w.sanitizer_reports()
        if reports:
            errors.append("%s: sanitizer report:\n%s" % (
                w.base, w.stderr_text()[-4000:]))
        elif rc not in (None, 0, 137, -9):
            errors.append("%s: prep-ingest watch exited %s:\n%s" % (
                w.base, rc, w.stderr_text()[-2000:]))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


# ------------------------------------------------------------ statistics
# Appended for tests/integration/test_stats*.py (issue 4): an nginx with
# a statistics zone, realip from 127.0.0.1 (clients are named with
# X-Forwarded-For), an access log with the statistics variables, and
# prep_status at /status.

STATS_LOG_FORMAT = (
    "log_format prep_stats '$remote_addr $msec $status $body_bytes_sent "
    "\"$request_method\" \"$uri\" $prep_visitor $prep_session_new "
    "\"$http_user_agent\"';")

# GoAccess's COMBINED format, for the cross-check
COMBINED_LOG_FORMAT = (
    "log_format prep_combined '$remote_addr - $remote_user [$time_local] "
    "\"$request\" $status $body_bytes_sent \"$http_referer\" "
    "\"$http_user_agent\"';")


class StatsHelper:
    """Reads /status of an instance made by the stats_nginx fixture."""

    # the harness's probe requests when the factory starts an instance
    # (one more after the reload of PREP_TEST_HUP=1)
    probes = 2 if os.environ.get("PREP_TEST_HUP") == "1" else 1

    def status(self, inst, query=""):
        r = inst.get("/status" + query)
        assert r.status == 200, (r.status, r.body[:300])
        assert r.header("Content-Type") == "application/json"
        return r.json()

    def prometheus(self, inst, query="?format=prometheus"):
        """{sample name: {frozenset(labels.items()): value}} parsed with
        python3-prometheus-client's own parser."""
        from prometheus_client.parser import text_string_to_metric_families
        r = inst.get("/status" + query)
        assert r.status == 200, (r.status, r.body[:300])
        out = {}
        for family in text_string_to_metric_families(r.body.decode("utf-8")):
            for s in family.samples:
                out.setdefault(s.name, {})[frozenset(s.labels.items())] = \
                    s.value
        return out

    def wait(self, inst, predicate, what, timeout=15.0):
        """Polls /status until predicate(status) holds; returns it."""
        last = {}

        def check():
            last["s"] = self.status(inst)
            return predicate(last["s"])
        try:
            ph.wait_for(check, timeout, what, interval=0.1)
        except ph.HarnessError as e:
            raise ph.HarnessError("%s; last status: totals %s, sessions %s,"
                                  " state %s" % (
                                      e, last["s"]["totals"],
                                      last["s"]["sessions"],
                                      last["s"]["state"]))
        return last["s"]

    def wait_hits(self, inst, hits, timeout=15.0, visitors=None):
        """Until hits responses are counted: a worker counts a response
        in its log phase, just after the client may have read it; its
        hit and its visitor are counted one after the other, so a test
        that asserts on visitors waits for them too."""
        return self.wait(inst, lambda s: s["totals"]["hits"] >= hits
                         and (visitors is None
                              or s["totals"]["visitors"] >= visitors),
                         "%d hits counted" % hits, timeout)

    def wait_idle(self, inst, timeout=15.0):
        """Until every session has timed out and been counted."""
        return self.wait(inst, lambda s: s["sessions"]["live"] == 0,
                         "all sessions to end", timeout)

    def wait_saved(self, inst, timeout=15.0):
        """Until a save has written everything counted so far."""
        hits = self.status(inst)["totals"]["hits"]
        saves = self.status(inst)["state"]["saves"]
        self.wait(inst, lambda s: s["state"]["saves"] > saves,
                  "a state file save after %d hits" % hits, timeout)

    @staticmethod
    def under_new_visitors(inst, sample, seconds=4.0, threads=3, net=40,
                           agent="agent", path="/index.html"):
        """Calls sample() for the given seconds while threads clients
        each send requests as a new visitor every time (10.<net + n>.x.y,
        realip); returns (samples, requests sent by each thread). A
        request a thread saw fail fails the test once the load stops."""
        stop = _threading.Event()
        sent = [0] * threads
        failed = []

        def visitors(n):
            i = 0
            try:
                while not stop.is_set():
                    i += 1
                    r = inst.get(path, {
                        "X-Forwarded-For": "10.%d.%d.%d" % (
                            net + n, i // 250 % 250, i % 250),
                        "User-Agent": agent})
                    assert r.status == 200, (r.status, r.body[:200])
                    sent[n] = i
            except BaseException as e:      # re-raised in the test
                failed.append(e)
                stop.set()

        load = [_threading.Thread(target=visitors, args=(n,))
                for n in range(threads)]
        for t in load:
            t.start()
        samples = []
        try:
            deadline = _time.monotonic() + seconds
            while _time.monotonic() < deadline and not stop.is_set():
                samples.append(sample())
        finally:
            stop.set()
            for t in load:
                t.join()
        if failed:
            raise failed[0]
        return samples, sent

    @staticmethod
    def periods_kept(before, after, key, added):
        """Every period of before kept its counts in after; the added
        hits are in its last period or in newer ones (a 5-minute bucket
        or a day may have begun in between)."""
        now = {p[key]: p for p in after}
        for p in before:
            q = now.get(p[key])
            assert q is not None, p
            if p is before[-1]:
                assert p["hits"] <= q["hits"] <= p["hits"] + added, (p, q)
            else:
                assert q == p, (p, q)
        assert sum(p["hits"] for p in after) == \
            sum(p["hits"] for p in before) + added

    @staticmethod
    def row(status, path):
        for row in status["pages"]:
            if row["path"] == path:
                return row
        return None


@pytest.fixture
def stats():
    return StatsHelper()


@pytest.fixture
def stats_nginx(nginx_factory, pkg_a):
    """make(zone="4m", timeout="2s", state="stats.state", interval="1s",
    http="", publish=[pkg_a], **conf) -> Nginx with statistics on its
    prep_serve location (relative paths are under the instance prefix);
    state=None: no state file."""

    def make(zone="4m", timeout="2s", state="stats.state", interval="1s",
             http="", publish=None, server="", **conf):
        lines = ["prep_stats_zone stats %s;" % zone,
                 "prep_stats_session_timeout %s;" % timeout,
                 "set_real_ip_from 127.0.0.1;",
                 "real_ip_header X-Forwarded-For;",
                 STATS_LOG_FORMAT, COMBINED_LOG_FORMAT,
                 "access_log stats.log prep_stats;",
                 "access_log combined.log prep_combined;"]
        if state:
            lines += ["prep_stats_state %s;" % state,
                      "prep_stats_state_interval %s;" % interval]
        lines.append(http)
        return nginx_factory(
            publish=[pkg_a] if publish is None else publish,
            http_extra="\n".join(lines),
            server_extra="location = /status {\n    prep_status;\n}\n"
                         + server, **conf)

    return make
