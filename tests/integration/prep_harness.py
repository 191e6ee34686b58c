"""Test harness for ngx_prep: a private nginx per test, the ingest CLI,
HTTP over TCP and over the control unix socket, /proc inspection.

Reusable outside pytest; conftest.py wraps it in fixtures.  Environment:

    PREP_BUILD    build directory (default: <repo>/build)
    NGINX_BIN     nginx binary (default /usr/sbin/nginx)
    PREP_INGEST   prep-ingest binary (default: $PREP_BUILD/asan/prep-ingest)
    PREP_MODULE   the module to load (default:
                  $PREP_BUILD/ngx_http_prep_module.so); the runtime matrix
                  (make test) sets it with NGINX_BIN to another nginx
"""

import atexit
import collections
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "fixtures"))

import gen_prep  # noqa: E402  (path set just above)


BUILD = Path(os.environ.get("PREP_BUILD") or REPO / "build")
NGINX_BIN = os.environ.get("NGINX_BIN") or "/usr/sbin/nginx"
MODULE_SO = Path(os.environ.get("PREP_MODULE")
                 or BUILD / "ngx_http_prep_module.so")
INGEST_BIN = Path(os.environ.get("PREP_INGEST")
                  or BUILD / "asan" / "prep-ingest")

# error.log lines that fail a test: crashes, sanitizer reports, nginx
# alerts ("zero size buf" is an alert too, listed for clarity)
BAD_LOG_PATTERNS = ("[alert]", "[crit]", "[emerg]", "zero size buf",
                    "Sanitizer", "runtime error", "signal 11",
                    "exited on signal")

START_TIMEOUT = 10.0
QUIT_TIMEOUT = 5.0
HTTP_TIMEOUT = 10.0
INGEST_TIMEOUT = 180.0


class HarnessError(AssertionError):
    """A setup step failed; the message says which and why."""


def missing_builds(need_module=True, need_ingest=True):
    """One-line reasons for each missing binary (empty when all exist)."""
    out = []
    if need_module and not MODULE_SO.is_file():
        out.append("nginx module not built: %s is missing (run `make "
                   "module`)" % MODULE_SO)
    if need_ingest and not os.access(INGEST_BIN, os.X_OK):
        out.append("ingest not built: %s is missing (run `make asan`, or "
                   "set PREP_INGEST)" % INGEST_BIN)
    if need_module and not os.access(NGINX_BIN, os.X_OK):
        out.append("nginx binary not found: %s (set NGINX_BIN)" % NGINX_BIN)
    return out


_nginx_version = None


def nginx_version():
    """The version of NGINX_BIN as a tuple, e.g. (1, 26, 3), from
    `nginx -v`; tests of directives that changed between versions (the
    runtime matrix runs 1.22, 1.26 and 1.30) choose by it."""
    global _nginx_version
    if _nginx_version is None:
        p = subprocess.run([NGINX_BIN, "-v"], capture_output=True,
                           timeout=30)
        m = re.search(rb"nginx/(\d+)\.(\d+)\.(\d+)", p.stderr + p.stdout)
        if not m:
            raise HarnessError("no version in `%s -v`: %r"
                               % (NGINX_BIN, p.stderr[:200]))
        _nginx_version = tuple(int(x) for x in m.groups())
    return _nginx_version


_nginx_has_quic = None


def nginx_has_quic():
    """Whether NGINX_BIN was built with HTTP/3 (--with-http_v3_module:
    Debian's 1.26 and 1.30 are, Debian 12's 1.22 is not)."""
    global _nginx_has_quic
    if _nginx_has_quic is None:
        try:
            p = subprocess.run([NGINX_BIN, "-V"], capture_output=True,
                               timeout=30)
            _nginx_has_quic = (b"--with-http_v3_module"
                               in p.stderr + p.stdout)
        except OSError:
            _nginx_has_quic = False
    return _nginx_has_quic


def wait_for(predicate, timeout, what, interval=0.02):
    """Polls predicate() until it returns a true value, which is returned;
    raises HarnessError naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError("timed out after %.1f s waiting for %s"
                               % (timeout, what))
        time.sleep(interval)


def free_port():
    """A port that was free a moment ago (bind to 0, then close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------- HTTP


class Response:
    """Status, raw headers (in order, duplicates kept) and body."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # http.client.HTTPMessage
        self.body = body

    def header(self, name):
        """The single value of name (None when absent); fails when the
        header is repeated, since every header we test must be unique."""
        values = self.headers.get_all(name) or []
        if len(values) > 1:
            raise AssertionError("header %s repeated: %r" % (name, values))
        return values[0] if values else None

    def all(self, name):
        return self.headers.get_all(name) or []

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def corte(self):
        return self.header("X-PREP-Corte")

    def __repr__(self):
        return "<Response %d %s, %d bytes, corte %s>" % (
            self.status, self.reason, len(self.body), self.corte)


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over an AF_UNIX stream socket."""

    def __init__(self, path, timeout=HTTP_TIMEOUT):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def http_request(conn, method, path, headers=None, body=None):
    """Sends one request on conn and reads the whole response."""
    hdrs = dict(headers or {})
    conn.putrequest(method, path, skip_accept_encoding=True)
    for k, v in hdrs.items():
        conn.putheader(k, v)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    return Response(resp.status, resp.reason, resp.msg, data)


def set_faketime(path, when):
    """libfaketime's FAKETIME_TIMESTAMP_FILE says "@when" from now on.
    Written aside and renamed over it: with FAKETIME_NO_CACHE nginx
    rereads the file on every clock call, and a reader between the
    truncation and the write of write_text() can see "@... 10:00:4" for
    "@... 10:00:45", a clock 41 seconds early."""
    tmp = Path(str(path) + ".tmp")
    tmp.write_text("@%s\n" % when)
    os.replace(tmp, path)


# ------------------------------------------------------------------ nginx


CONF_TEMPLATE = """\
# written by tests/integration/prep_harness.py
load_module {module};
{user}
worker_processes {workers};
error_log {prefix}/error.log info;
pid {prefix}/nginx.pid;
{main_extra}

events {{
    worker_connections 1024;
}}

http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/client_body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;

    prep_store {store};
{http_extra}

    server {{
        listen 127.0.0.1:{port}{listen_params};
        server_name localhost;
{server_extra}

        location / {{
            prep_serve;
{location_extra}
        }}
    }}

    server {{
        listen unix:{control_sock};
{control_server_extra}

        location / {{
            prep_control;
        }}
    }}
}}
"""


def _indent(text, n):
    pad = " " * n
    return "\n".join(pad + line if line.strip() else line
                     for line in (text or "").splitlines())


_live = []      # instances to clean up if the interpreter exits early


@atexit.register
def _kill_leftovers():
    for inst in list(_live):
        inst.kill()


class Nginx:
    """One private nginx: prefix dir with the store, config and logs.

    conf options (all strings, inserted verbatim): http_extra,
    server_extra, location_extra (inside `location / { prep_serve; }`),
    listen_params (after the public listen address, e.g. "sndbuf=8k"),
    main_extra, control_server_extra; or conf_text for a whole custom
    config (with the same {placeholders} as CONF_TEMPLATE)."""

    def __init__(self, prefix, workers=2, **conf):
        self.prefix = Path(prefix)
        self.workers = workers
        self.conf = conf
        self.store = self.prefix / "store"
        self.conf_path = self.prefix / "nginx.conf"
        self.error_log = self.prefix / "error.log"
        self.access_log = self.prefix / "access.log"
        self.pid_path = self.prefix / "nginx.pid"
        self.stderr_path = self.prefix / "nginx.stderr"
        self.control_sock = self._socket_path()
        self.port = None
        self.proc = None
        self.allowed_log = []          # regexes of tolerated bad lines
        for d in (self.store, self.prefix / "tmp"):
            d.mkdir(parents=True, exist_ok=True)

    def _socket_path(self):
        path = self.prefix / "control.sock"
        if len(str(path)) < 100:
            return path
        # sun_path holds 108 bytes: use a short private directory
        short = Path(tempfile.mkdtemp(prefix="prep-"))
        return short / "control.sock"

    # ----------------------------------------------------------- config

    def render_conf(self):
        values = dict(
            module=MODULE_SO, prefix=self.prefix, store=self.store,
            port=self.port, workers=self.workers,
            listen_params=(" " + self.conf["listen_params"]
                           if self.conf.get("listen_params") else ""),
            control_sock=self.control_sock,
            user="user root;" if os.geteuid() == 0 else "",
            main_extra=self.conf.get("main_extra", ""),
            http_extra=_indent(self.conf.get("http_extra"), 4),
            server_extra=_indent(self.conf.get("server_extra"), 8),
            location_extra=_indent(self.conf.get("location_extra"), 12),
            control_server_extra=_indent(
                self.conf.get("control_server_extra"), 8))
        template = self.conf.get("conf_text", CONF_TEMPLATE)
        return template.format(**values)

    def config_test(self, log=None):
        """`nginx -t` on this instance's configuration, rendered on a
        free port: (exit status, stderr).  The errors go to a log of
        their own unless log is given, so that an [emerg] a test wants
        is not one of the instance's bad error.log lines."""
        self.port = free_port()
        self.conf_path.write_text(self.render_conf())
        p = subprocess.run([NGINX_BIN, "-t", "-p", str(self.prefix), "-c",
                            str(self.conf_path), "-e",
                            str(log or self.prefix / "nginx-t.log")],
                           capture_output=True, timeout=30)
        return p.returncode, p.stderr.decode(errors="replace")

    # ---------------------------------------------------------- process

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def master_pid(self):
        return self.proc.pid if self.proc else None

    def start(self, attempts=5):
        """Starts nginx (daemon off, so the master is our child) and waits
        until it answers on the port with all workers up."""
        problems = missing_builds(need_module=True, need_ingest=False)
        if problems:
            raise HarnessError("; ".join(problems))
        if self.running:
            raise HarnessError("nginx in %s is already running"
                               % self.prefix)
        for attempt in range(attempts):
            self.port = free_port()
            self.conf_path.write_text(self.render_conf())
            try:
                self.control_sock.unlink()
            except FileNotFoundError:
                pass
            log_mark = self._log_size()
            err_mark = self._size(self.stderr_path)
            with open(self.stderr_path, "ab") as err:
                self.proc = subprocess.Popen(
                    [NGINX_BIN, "-p", str(self.prefix), "-c",
                     str(self.conf_path), "-e", str(self.error_log),
                     "-g", "daemon off;"],
                    stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                    start_new_session=True)
            if self not in _live:
                _live.append(self)
            try:
                self._wait_started()
                return self
            except HarnessError:
                new_log = self._log_since(log_mark)
                if self.proc.poll() is None:
                    self.kill()
                if "Address already in use" in new_log and \
                        attempt + 1 < attempts:
                    self._forget_log_since((log_mark, err_mark))
                    continue
                raise HarnessError("nginx did not start:\n%s\n%s" % (
                    new_log, self._read(self.stderr_path)))
        raise HarnessError("nginx did not start: no free port")

    def _wait_started(self):
        def up():
            if self.proc.poll() is not None:
                raise HarnessError("nginx exited with %s at start"
                                   % self.proc.returncode)
            if not self.pid_path.exists():
                return False
            if len(self.worker_pids()) < self.workers:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port),
                                              timeout=1):
                    pass
            except OSError:
                return False
            return self.control_sock.exists()
        wait_for(up, START_TIMEOUT, "nginx to start")
        # one real request proves a worker accepts and answers
        self.get("/__harness_probe__")

    def worker_pids(self, include_exiting=False):
        """Pids of the master's worker processes (from /proc)."""
        if not self.proc:
            return []
        out = []
        for pid in _children(self.proc.pid):
            cmd = _cmdline(pid)
            if "worker process" not in cmd:
                continue
            if not include_exiting and "shutting down" in cmd:
                continue
            out.append(pid)
        return sorted(out)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def reload(self, timeout=10.0):
        """SIGHUP, then waits until only new workers are left and one of
        them answers."""
        old = set(self.worker_pids(include_exiting=True))
        log_mark = self._log_size()
        self.signal(signal.SIGHUP)

        def done():
            if self.proc.poll() is not None:
                raise HarnessError("nginx exited on SIGHUP")
            now = set(self.worker_pids(include_exiting=True))
            if now & old:
                return False
            return len(self.worker_pids()) >= self.workers
        try:
            wait_for(done, timeout, "the new workers after SIGHUP")
        except HarnessError as e:
            raise HarnessError("%s\n%s" % (e, self._log_since(log_mark)))
        self.get("/__harness_probe__")

    def quit(self, timeout=QUIT_TIMEOUT, command=False):
        """Graceful stop (SIGQUIT, or `nginx -s quit` when command);
        raises HarnessError if the master has not exited in timeout s."""
        if not self.running:
            return
        started = time.monotonic()
        if command:
            subprocess.run([NGINX_BIN, "-p", str(self.prefix), "-c",
                            str(self.conf_path), "-e", str(self.error_log),
                            "-s", "quit"], check=True, timeout=timeout,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        else:
            self.signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=max(0.1, timeout -
                                       (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            workers = self.worker_pids(include_exiting=True)
            self.kill()
            raise HarnessError("nginx did not exit within %.1f s of quit "
                               "(workers left: %s)" % (timeout, workers))
        if self in _live:
            _live.remove(self)
        return time.monotonic() - started

    def kill(self):
        """Last resort: SIGKILL master and its workers."""
        if self.proc is None:
            return
        pids = _children(self.proc.pid) if self.proc.poll() is None else []
        for pid in [self.proc.pid] + pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self in _live:
            _live.remove(self)

    def stop(self):
        """Teardown: quit if running; returns an error string or None."""
        if not self.running:
            return None
        try:
            self.quit(timeout=10.0)
        except HarnessError as e:
            return str(e)
        return None

    # ------------------------------------------------------------- logs

    def _read(self, path):
        try:
            return Path(path).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _log_size(self):
        return self._size(self.error_log)

    @staticmethod
    def _size(path):
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    def _log_since(self, mark):
        try:
            with open(self.error_log, "rb") as f:
                f.seek(mark)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _forget_log_since(self, mark):
        # a failed bind is expected on a port race: drop those lines
        for path, size in ((self.error_log, mark[0]),
                           (self.stderr_path, mark[1])):
            try:
                with open(path, "r+b") as f:
                    f.truncate(size)
            except FileNotFoundError:
                pass

    def allow_log(self, regex):
        """Tolerates error.log lines matching regex in the final check."""
        self.allowed_log.append(re.compile(regex))

    def log_text(self):
        return self._read(self.error_log)

    def bad_log_lines(self):
        text = self.log_text() + "\n" + self._read(self.stderr_path)
        bad = []
        for line in text.splitlines():
            if any(p in line for p in BAD_LOG_PATTERNS) and \
                    not any(r.search(line) for r in self.allowed_log):
                bad.append(line)
        return bad

    def access_lines(self, path=None):
        return self._read(path or self.access_log).splitlines()

    # ------------------------------------------------------------- HTTP

    def connection(self, timeout=HTTP_TIMEOUT):
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)

    def request(self, method, path, headers=None, body=None,
                timeout=HTTP_TIMEOUT):
        conn = self.connection(timeout)
        try:
            return http_request(conn, method, path, headers, body)
        finally:
            conn.close()

    def get(self, path, headers=None, **kw):
        return self.request("GET", path, headers, **kw)

    def head(self, path, headers=None, **kw):
        return self.request("HEAD", path, headers, **kw)

    def control(self, method, path="/", body=None, headers=None,
                timeout=HTTP_TIMEOUT):
        conn = UnixHTTPConnection(str(self.control_sock), timeout)
        try:
            return http_request(conn, method, path, headers, body)
        finally:
            conn.close()

    def status(self):
        """GET / on the control socket, parsed."""
        r = self.control("GET", "/")
        if r.status != 200:
            raise HarnessError("control GET / gave %d: %r"
                               % (r.status, r.body[:200]))
        return r.json()

    # ------------------------------------------------------------ store

    def publish(self, package, expect_ok=True, args=()):
        return run_ingest(["publish", "--store", str(self.store)]
                          + list(args) + [os.fspath(package)],
                          expect_ok=expect_ok)

    def swap(self, package):
        """Publish, then POST /reload; returns the control's JSON."""
        self.publish(package)
        r = self.control("POST", "/reload")
        if r.status != 200:
            raise HarnessError("POST /reload after publishing %s gave %d:"
                               " %r" % (package, r.status, r.body[:300]))
        return r.json()

    def current_name(self):
        """Name of the snapshot STORE/current points to (or None)."""
        try:
            return os.path.basename(os.readlink(self.store / "current"))
        except FileNotFoundError:
            return None

    def point_current(self, target):
        """Atomically points STORE/current at target (relative to the
        store), the way the ingest flips it."""
        tmp = self.store / (".current.tmp-test-%d" % os.getpid())
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        os.symlink(str(target), tmp)
        os.rename(tmp, self.store / "current")

    def mapped_snapshots(self, pid):
        """Basenames of the store's snapshot files mapped by pid."""
        return mapped_snapshots(pid, self.store)

    def worker_maps(self):
        return {pid: self.mapped_snapshots(pid)
                for pid in self.worker_pids()}

    def swap_twice_under(self, slow, started, b, c, probe="/index.html",
                         timeout=60):
        """slow: a client (Popen) reading the live corte A slowly.  Once
        started() is true, makes b then c live and checks that a new
        request gets c while slow is still reading and A is still mapped;
        then waits for slow to end (killed on failure) and returns its
        (stdout, stderr).  The caller checks what slow received, then
        wait_unmapped(A)."""
        a_name = self.current_name()
        try:
            wait_for(started, 15, "the slow download to begin")
            self.swap(b)
            self.swap(c)
            r = self.get(probe)
            assert (r.status, r.corte) == (200, c.iso)
            assert slow.poll() is None, "the download ended before the swaps"
            assert any(a_name in m for m in self.worker_maps().values()), \
                "corte A unmapped while a stream from it is in flight"
            out, err = slow.communicate(timeout=timeout)
            assert slow.returncode == 0, (out or b"")[-3000:] + (err or b"")
            return out, err
        finally:
            if slow.poll() is None:
                slow.kill()
                slow.wait()

    def wait_unmapped(self, name, timeout=5):
        """Waits until no worker maps the snapshot name."""
        wait_for(lambda: not any(name in m for m in
                                 self.worker_maps().values()), timeout,
                 "%s to be unmapped after its last reader" % name)


def mapped_snapshots(pid, store=None):
    out = set()
    try:
        with open("/proc/%d/maps" % pid) as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) < 6:
                    continue
                path = parts[5].strip()
                if path.endswith(" (deleted)"):
                    path = path[:-len(" (deleted)")]
                if not path.endswith(".snap"):
                    continue
                if store is not None and not path.startswith(str(store)):
                    continue
                out.add(os.path.basename(path))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def _children(ppid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        # the comm field may hold spaces: parse after the last ')'
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == ppid:
            out.append(int(name))
    return out


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# ----------------------------------------------------------------- ingest


IngestResult = collections.namedtuple("IngestResult",
                                      "returncode stdout stderr")


def run_ingest(args, expect_ok=True, timeout=INGEST_TIMEOUT):
    """Runs prep-ingest; fails on sanitizer reports whatever the exit
    status, and on a non-zero exit when expect_ok."""
    problems = missing_builds(need_module=False, need_ingest=True)
    if problems:
        raise HarnessError("; ".join(problems))
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    p = subprocess.run([str(INGEST_BIN)] + list(args), env=env,
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    res = IngestResult(p.returncode, p.stdout.decode(errors="replace"),
                       p.stderr.decode(errors="replace"))
    if "Sanitizer" in res.stderr or "runtime error" in res.stderr:
        raise HarnessError("prep-ingest %s: sanitizer report:\n%s"
                           % (" ".join(args), res.stderr))
    if expect_ok and res.returncode != 0:
        raise HarnessError("prep-ingest %s exited %d:\n%s%s"
                           % (" ".join(args), res.returncode, res.stdout,
                              res.stderr))
    return res


# --------------------------------------------------------------- packages


class Package:
    """A generated package: its path, corte and expected listing."""

    def __init__(self, path, corte, opts):
        self.path = path
        self.corte = corte          # gen_prep.Corte
        self.opts = opts
        self._listing = None

    @property
    def iso(self):
        return self.corte.iso

    @property
    def id(self):
        return self.corte.id

    @property
    def listing(self):
        """{"/uri": bytes} the server must serve."""
        if self._listing is None:
            self._listing = gen_prep.expected_listing(self.corte.id,
                                                      **self.opts)
        return self._listing

    def __fspath__(self):
        return str(self.path)

    def __repr__(self):
        return "<Package %s %s>" % (self.corte.id, self.opts)


class PackageCache:
    """Generates packages on demand into one directory, once each."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self._cache = {}

    def get(self, corte=gen_prep.DEFAULT_CORTE, *, size="small",
            dialect="A", utc_offset=gen_prep.DEFAULT_OFFSET,
            seed=gen_prep.DEFAULT_SEED, flat=False, extra=None):
        key = (corte, size, dialect, utc_offset, seed, flat,
               tuple(sorted((extra or {}).items())))
        if key not in self._cache:
            sub = self.dir / ("%s-%s-%s-%+d-%d%s-%d" % (
                size, dialect, corte, utc_offset, seed,
                "-flat" if flat else "", len(self._cache)))
            opts = dict(size=size, dialect=dialect, utc_offset=utc_offset,
                        seed=seed, extra=extra)
            path = gen_prep.build_package(sub, corte, flat=flat, **opts)
            self._cache[key] = Package(
                Path(path), gen_prep.corte_info(corte, utc_offset), opts)
        return self._cache[key]

    def series(self, count, first=gen_prep.DEFAULT_CORTE, every=15, **kw):
        return [self.get(c, **kw)
                for c in gen_prep.series_cortes(first, count, every)]


def json_values(obj):
    """Every scalar inside a parsed JSON document."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from json_values(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from json_values(v)
    else:
        yield obj


def json_mentions(obj, value):
    """True when value is (or, for strings, is inside) a scalar of obj."""
    for v in json_values(obj):
        if v == value or (isinstance(v, str) and isinstance(value, str)
                          and value in v):
            return True
    return False


def strong_etag(data, gzip_variant=False):
    """The ETag DESIGN.md derives from the content: first 16 bytes of the
    SHA-256 in hex, quoted; "-gz" for the gzip variant."""
    h = hashlib.sha256(data).hexdigest()[:32]
    return '"%s-gz"' % h if gzip_variant else '"%s"' % h


__all__ = ["Nginx", "Package", "PackageCache", "Response", "HarnessError",
           "wait_for", "run_ingest", "missing_builds", "strong_etag",
           "mapped_snapshots", "json_mentions", "json_values",
           "gen_prep"]
