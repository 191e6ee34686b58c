"""nginx.conf.example, as shipped, is a working configuration.

The README tells a sysadmin to copy it and change the certificate, the
server name and the paths.  These tests do exactly that and nothing
more: every absolute path is moved under the test's prefix, ports 80 and
443 become free loopback ports, the certificate is a fresh self-signed
one for prep.example.org.  Every directive, limit and server block stays
as written.  Then real clients (curl, openssl s_client, Python's ssl)
check what the comments in the file promise: TLS 1.2 and 1.3 only,
unknown host names refused on both ports, HTTP redirected to HTTPS, the
placeholder before the first corte, the corte stamped on every response,
the statistics behind an address and a password, the control socket,
the per-address request limit, and the timeouts that drop slowloris
connections and stalled readers.
"""

import base64
import http.client
import json
import os
import re
import selectors
import socket
import ssl
import subprocess
import time

import pytest

import prep_harness as ph


EXAMPLE = ph.REPO / "nginx.conf.example"
HOST = "prep.example.org"
STATUS_USER = "monitor"
STATUS_PASSWORD = "s3cret-for-tests"

pytestmark = pytest.mark.needs_module


def _ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAVE_IPV6 = _ipv6_loopback()


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=30, **kw)


def http2_for_version(text):
    """The edit the example's comment tells 1.22 users to make: before
    nginx 1.25.1 there is no "http2 on;", HTTP/2 is a listen parameter."""
    assert "        http2 on;\n" in text, "the example lost its http2 on;"
    if ph.nginx_version() >= (1, 25, 1):
        return text
    text = text.replace("        http2 on;\n", "")
    for old in ("listen 443 ssl;", "listen [::]:443 ssl;"):
        assert old in text, "the example lost %r" % old
        text = text.replace(old, old[:-1] + " http2;")
    return text


# the example's HTTP/3 lines, commented out as shipped
HTTP3_LINES = ("#listen 443 quic reuseport;",
               "#listen [::]:443 quic reuseport;",
               "#add_header Alt-Svc 'h3=\":443\"; ma=86400' always;")


def http3_enabled(text):
    """The edit the example's comment tells HTTP/3 users to make."""
    for line in HTTP3_LINES:
        assert line in text, "the example lost %r" % line
        text = text.replace(line, line[1:])
    return text


class ExampleNginx(ph.Nginx):
    """nginx running nginx.conf.example, paths and ports made local;
    http3=True: with its HTTP/3 lines uncommented."""

    def __init__(self, prefix, http3=False, **kw):
        super().__init__(prefix, **kw)
        self.http3 = http3
        self.http_port = None
        self.cert = self.prefix / "fullchain.pem"
        self.key = self.prefix / "privkey.pem"
        self.htpasswd = self.prefix / "prep-status.htpasswd"
        self.state = self.prefix / "prep-stats.state"
        self._make_credentials()

    def _make_credentials(self):
        r = _run(["openssl", "req", "-x509", "-newkey", "ec",
                  "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-days", "2", "-subj", "/CN=" + HOST,
                  "-addext", "subjectAltName=DNS:" + HOST,
                  "-keyout", str(self.key), "-out", str(self.cert)])
        assert r.returncode == 0, r.stderr.decode()
        r = _run(["openssl", "passwd", "-apr1", STATUS_PASSWORD])
        assert r.returncode == 0, r.stderr.decode()
        self.htpasswd.write_text("%s:%s\n" % (STATUS_USER,
                                              r.stdout.decode().strip()))

    def render_conf(self):
        """The example with its machine-specific parts replaced; fails
        when one of them is no longer in the file, so that this test
        follows the example instead of silently testing less."""
        self.http_port = ph.free_port()
        text = EXAMPLE.read_text()
        user = "user root;" if os.geteuid() == 0 else ""
        temp = "".join("    %s_temp_path %s/tmp/%s;\n" % (k, self.prefix, k)
                       for k in ("client_body", "proxy", "fastcgi",
                                 "uwsgi", "scgi"))
        edits = [
            ("load_module /usr/lib/nginx/modules/ngx_http_prep_module.so;",
             "load_module %s;" % ph.MODULE_SO),
            ("user www-data;", user),
            ("pid /run/nginx.pid;", "pid %s;" % self.pid_path),
            ("error_log /var/log/nginx/error.log notice;",
             "error_log %s notice;" % self.error_log),
            # nginx's compiled-in temp paths are outside the prefix
            ("    prep_store /var/lib/prep/store;\n",
             "    prep_store %s;\n%s" % (self.store, temp)),
            ("/var/log/nginx/access.log", str(self.access_log)),
            ("/var/log/nginx/prep-control.log",
             str(self.prefix / "prep-control.log")),
            ("/var/lib/nginx/prep-stats.state", str(self.state)),
            ("/etc/ssl/prep/fullchain.pem", str(self.cert)),
            ("/etc/ssl/prep/privkey.pem", str(self.key)),
            ("/etc/nginx/prep-status.htpasswd", str(self.htpasswd)),
            ("listen unix:/run/prep/control.sock;",
             "listen unix:%s;" % self.control_sock),
        ]
        for old, new in edits:
            assert old in text, "nginx.conf.example no longer has %r" % old
            text = text.replace(old, new)

        text = http2_for_version(text)
        if self.http3:
            text = http3_enabled(text).replace('h3=":443"',
                                               'h3=":%d"' % self.port)
        v6 = "[::1]" if HAVE_IPV6 else None
        listens = [
            (r"listen 80( |;)", "listen 127.0.0.1:%d\\1" % self.http_port),
            (r"listen 443 ", "listen 127.0.0.1:%d " % self.port),
            (r"listen \[::\]:80( |;)",
             "listen %s:%d\\1" % (v6, self.http_port) if v6 else None),
            (r"listen \[::\]:443 ",
             "listen %s:%d " % (v6, self.port) if v6 else None),
        ]
        for pattern, repl in listens:
            assert re.search(pattern, text), \
                "nginx.conf.example no longer has /%s/" % pattern
            if repl is None:
                text = re.sub(r"\n *" + pattern + r"[^\n]*", "", text)
            else:
                text = re.sub(pattern, repl, text)
        # what nginx reads: no line left pointing at the machine
        for line in text.splitlines():
            code = line.split("#", 1)[0]
            assert not re.search(r"\blisten (80|443)\b|\[::\]|/run/|/var/"
                                 r"|/etc/|/usr/", code), \
                "left in the rewritten example: %r" % line
        return text

    # the example's only plain listener on self.port is TLS: probe with
    # a TLS request once it accepts

    def _wait_started(self):
        def up():
            if self.proc.poll() is not None:
                raise ph.HarnessError("nginx exited with %s at start"
                                      % self.proc.returncode)
            if not self.pid_path.exists() or not self.worker_pids():
                return False
            for port in (self.port, self.http_port):
                try:
                    socket.create_connection(("127.0.0.1", port),
                                             timeout=1).close()
                except OSError:
                    return False
            return self.control_sock.exists()
        ph.wait_for(up, ph.START_TIMEOUT, "the example's nginx to start")
        self.https("/__harness_probe__")

    # ----------------------------------------------------------- clients

    def https_connection(self, source="127.0.0.1"):
        """HTTPS to our port, verified, with SNI and Host our name, from
        the given loopback address (all of 127/8 is ours on Linux)."""
        conn = http.client.HTTPSConnection(
            HOST, self.port, timeout=ph.HTTP_TIMEOUT,
            context=ssl.create_default_context(cafile=str(self.cert)),
            source_address=(source, 0))
        conn._create_connection = (
            lambda addr, timeout, src: socket.create_connection(
                ("127.0.0.1", addr[1]), timeout, src))
        return conn

    def https(self, path, headers=None, method="GET", conn=None):
        own = conn is None
        conn = conn or self.https_connection()
        try:
            return ph.http_request(conn, method, path, headers)
        finally:
            if own:
                conn.close()

    def curl(self, *args):
        """curl with the name resolved to our loopback ports."""
        cmd = ["curl", "-sS", "--max-time", "10",
               "--cacert", str(self.cert),
               "--resolve", "%s:%d:127.0.0.1" % (HOST, self.port),
               "--resolve", "%s:%d:127.0.0.1" % (HOST, self.http_port),
               "-D", "-", "-o", "/dev/null"] + list(args)
        return _run(cmd)

    def s_client(self, *args, servername=HOST):
        cmd = ["openssl", "s_client", "-connect",
               "127.0.0.1:%d" % self.port, "-servername", servername,
               "-CAfile", str(self.cert), "-verify_return_error"]
        return _run(cmd + list(args), input=b"")


def _headers(curl_out):
    """Status and headers (lowercased names) of the last response."""
    blocks = curl_out.decode("latin-1").replace("\r\n", "\n").strip()
    last = blocks.split("\n\n")[-1].split("\n")
    status = int(last[0].split()[1])
    headers = {}
    for line in last[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


@pytest.fixture
def example(nginx_factory):
    return nginx_factory(cls=ExampleNginx, workers=1)


def _publish(inst, pkg):
    inst.publish(pkg)
    r = _run(["curl", "-sS", "--max-time", "10", "--unix-socket",
              str(inst.control_sock), "-X", "POST", "http://prep/reload"])
    assert r.returncode == 0, r.stderr.decode()
    body = json.loads(r.stdout)
    assert body["corte"]["time"] == pkg.iso, body


def test_placeholder_then_corte_on_every_response(example, pkg_a):
    inst = example

    # nothing published: the placeholder, stamped HTTPS headers
    out = inst.curl("https://%s:%d/" % (HOST, inst.port))
    assert out.returncode == 0, out.stderr.decode()
    status, h = _headers(out.stdout)
    assert status == 503
    assert h["retry-after"] == "60"
    assert h["cache-control"] == "no-store"
    assert h["strict-transport-security"] == "max-age=63072000"

    _publish(inst, pkg_a)

    out = inst.curl("https://%s:%d/" % (HOST, inst.port),
                    "-H", "Accept-Encoding: gzip")
    status, h = _headers(out.stdout)
    assert status == 200
    assert h["x-prep-corte"] == pkg_a.iso
    assert h["content-encoding"] == "gzip"
    assert h["vary"] == "Accept-Encoding"
    assert h["cache-control"] == "public, max-age=60, stale-if-error=86400"
    assert h["strict-transport-security"] == "max-age=63072000"
    assert h["x-content-type-options"] == "nosniff"

    # the per-type policy of the example: images an hour
    png = next(p for p in pkg_a.listing if p.endswith(".png"))
    out = inst.curl("https://%s:%d%s" % (HOST, inst.port, png))
    status, h = _headers(out.stdout)
    assert status == 200
    assert h["cache-control"] == \
        "public, max-age=3600, stale-if-error=86400"
    assert h["x-prep-corte"] == pkg_a.iso

    # errors are stamped too, with HSTS, and no version is given away
    for method, path, code in (("GET", "/no/such/file.json", 404),
                               ("POST", "/", 405)):
        out = inst.curl("-X", method,
                        "https://%s:%d%s" % (HOST, inst.port, path))
        status, h = _headers(out.stdout)
        assert status == code
        assert h["x-prep-corte"] == pkg_a.iso
        assert h["strict-transport-security"] == "max-age=63072000"
        assert h["server"] == "nginx"


def test_tls_versions_and_unknown_names(example):
    inst = example

    for version, name in (("-tls1_2", b"TLSv1.2"), ("-tls1_3", b"TLSv1.3")):
        r = inst.s_client(version)
        assert r.returncode == 0, r.stderr.decode()[-800:]
        assert b"New, %s, Cipher is " % name in r.stdout, \
            r.stdout.decode()[-800:]

    # TLS 1.1 and 1.0, offered by a client that allows them (security
    # level 0): the server answers with a protocol_version alert
    for version in ("-tls1_1", "-tls1"):
        r = inst.s_client(version, "-cipher", "DEFAULT@SECLEVEL=0")
        assert r.returncode != 0, "%s was accepted" % version
        assert b"alert protocol version" in r.stderr, \
            r.stderr.decode()[-800:]

    # a name that is not ours: no certificate is ever sent
    r = inst.s_client(servername="other.example.net")
    assert r.returncode != 0
    assert b"unrecognized name" in r.stderr or \
        b"alert number 112" in r.stderr, r.stderr.decode()[-800:]
    assert b"BEGIN CERTIFICATE" not in r.stdout

    # plain HTTP: our name is redirected, any other gets no answer
    out = inst.curl("http://%s:%d/avance.json?x=1" % (HOST, inst.http_port))
    assert out.returncode == 0, out.stderr.decode()
    status, h = _headers(out.stdout)
    assert status == 301
    assert h["location"] == "https://%s/avance.json?x=1" % HOST
    # (444: closed, reset as reset_timedout_connection asks)
    out = _run(["curl", "-sS", "--max-time", "10",
                "http://127.0.0.1:%d/" % inst.http_port])
    assert out.returncode in (52, 56), out    # empty reply, reset
    assert out.stdout == b""


def test_status_needs_address_and_password(example, pkg_a):
    inst = example
    _publish(inst, pkg_a)
    for _ in range(3):
        assert inst.https("/").status == 200

    url = "https://%s:%d/prep-status" % (HOST, inst.port)
    status, h = _headers(inst.curl(url).stdout)
    assert status == 401
    assert h["x-prep-corte"] == pkg_a.iso

    status, h = _headers(inst.curl(
        "-u", "%s:wrong" % STATUS_USER, url).stdout)
    assert status == 401

    auth = base64.b64encode(
        ("%s:%s" % (STATUS_USER, STATUS_PASSWORD)).encode()).decode()
    r = inst.https("/prep-status", {"Authorization": "Basic " + auth})
    assert r.status == 200
    assert r.header("Cache-Control") == "no-store"
    js = r.json()
    assert js["corte"]["id"] == pkg_a.id
    # the probe at start, three pages; the status location is not logged
    # as a page of the corte
    assert js["totals"]["pages"] >= 3

    # the control socket serves the same statistics without a password
    r = _run(["curl", "-sS", "--max-time", "10", "--unix-socket",
              str(inst.control_sock), "http://prep/status"])
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout)["totals"]["pages"] >= js["totals"]["pages"]

    # and the publication state
    r = _run(["curl", "-sS", "--max-time", "10", "--unix-socket",
              str(inst.control_sock), "http://prep/"])
    assert json.loads(r.stdout)["corte"]["time"] == pkg_a.iso

    # the state file is written where the example says
    inst.quit()
    assert inst.state.stat().st_size > 0


def test_request_limit_per_address(example, pkg_a):
    """50 r/s with a burst of 100 per address: a client that fires 300
    requests at once gets 429 for the excess, stamped with the corte;
    another address is not affected."""
    inst = example
    _publish(inst, pkg_a)

    codes = {}
    conn = inst.https_connection()
    start = time.monotonic()
    try:
        for _ in range(300):
            r = inst.https("/", conn=conn)
            codes[r.status] = codes.get(r.status, 0) + 1
            if r.status == 429:
                assert r.header("X-PREP-Corte") == pkg_a.iso
    finally:
        conn.close()
    elapsed = time.monotonic() - start

    # the burst passes whole, then about 50 a second; the rest is 429
    assert set(codes) <= {200, 429}, codes
    assert codes.get(200, 0) >= 100, codes
    assert codes.get(200, 0) <= 101 + 60 * elapsed, (codes, elapsed)
    assert codes.get(429, 0) >= 1, (codes, elapsed)

    # the limit is per address: another client is served at once
    assert inst.https("/", conn=inst.https_connection("127.0.0.2")) \
        .status == 200

    # the limit is per address and over time: it passes once the bucket
    # has drained
    ph.wait_for(lambda: inst.https("/").status == 200, 5,
                "the request limit to let requests through again")


def test_slow_headers_are_dropped(example, pkg_a):
    """Slowloris: 300 connections that trickle a request header one byte
    a second are closed by client_header_timeout (10 s in the example),
    and a real client is served meanwhile without waiting."""
    inst = example
    _publish(inst, pkg_a)

    slow = []
    start = time.monotonic()
    for _ in range(300):
        s = socket.create_connection(("127.0.0.1", inst.http_port), 5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n")
        s.setblocking(False)
        slow.append(s)

    closed = {}
    served = []
    sel = selectors.DefaultSelector()
    for s in slow:
        sel.register(s, selectors.EVENT_READ)
    try:
        while len(closed) < len(slow) and time.monotonic() - start < 20:
            t0 = time.monotonic()
            r = inst.https("/")
            served.append((r.status, time.monotonic() - t0))
            for s in slow:
                if s not in closed:
                    try:
                        s.send(b"X")
                    except OSError:
                        pass
            for key, _ in sel.select(timeout=1.0):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except ConnectionResetError:
                    data = b""
                if data == b"":
                    closed[s] = time.monotonic() - start
                    sel.unregister(s)
                else:
                    pytest.fail("a response to an unfinished header: %r"
                                % data[:200])
    finally:
        sel.close()
        for s in slow:
            s.close()

    assert len(closed) == len(slow), \
        "%d of %d slow connections still open after 20 s" % (
            len(slow) - len(closed), len(slow))
    times = sorted(closed.values())
    # the header timer started when each connection sent its first line
    assert 9.0 <= times[0] and times[-1] <= 14.0, (times[0], times[-1])
    assert served and all(st == 200 for st, _ in served), served
    assert max(t for _, t in served) < 1.0, served


def test_stalled_reader_is_dropped(example, packages):
    """Slow read: a client that asks for the 3 MB app bundle and stops
    reading is cut off by send_timeout (10 s in the example) instead of
    holding a connection and its buffers for good."""
    inst = example
    pkg = packages.get(size="full")
    _publish(inst, pkg)
    bundle = max((p for p in pkg.listing if p.endswith(".js")),
                 key=lambda p: len(pkg.listing[p]))
    size = len(pkg.listing[bundle])
    assert size > 1 << 20

    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # a small window: the body cannot all sit in the kernel's buffers
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(5)
    raw.connect(("127.0.0.1", inst.port))
    ctx = ssl.create_default_context(cafile=str(inst.cert))
    tls = ctx.wrap_socket(raw, server_hostname=HOST)
    start = time.monotonic()
    tls.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n"
                 % (bundle, HOST)).encode())

    # read nothing until the server has given up on us: its end of the
    # connection is gone (reset_timedout_connection: no FIN_WAIT left)
    client_port = tls.getsockname()[1]

    def server_side_gone():
        r = _run(["ss", "-Htn", "state", "all", "( sport = :%d and "
                  "dport = :%d )" % (inst.port, client_port)])
        assert r.returncode == 0, r.stderr.decode()
        return r.stdout.strip() == b""

    assert not server_side_gone()
    ph.wait_for(server_side_gone, 20, "nginx to drop the stalled reader")
    waited = time.monotonic() - start

    got = 0
    tls.settimeout(5)
    try:
        while True:
            data = tls.recv(65536)
            if not data:
                break
            got += len(data)
    except (ConnectionResetError, ssl.SSLError, socket.timeout):
        pass
    finally:
        tls.close()

    assert 9.0 <= waited <= 15.0, waited
    assert got < size, "the whole body arrived: nothing was stalled"


# ----------------------------------------------- every nginx of the matrix
# (issue 13: the example passes `nginx -t` on 1.22, 1.26 and 1.30 with
# the directives each prefers, and speaks HTTP/2 through ALPN)


@pytest.mark.parametrize("http3", [False, True], ids=["as-shipped",
                                                     "http3"])
def test_nginx_t_without_warnings(nginx_factory, pkg_a, tmp_path, http3):
    if http3 and not ph.nginx_has_quic():
        pytest.skip("this nginx is built without HTTP/3")
    example = nginx_factory(cls=ExampleNginx, workers=1, start=False,
                            http3=http3)
    example.port = ph.free_port()
    example.publish(pkg_a)          # else: "nothing published" warns
    conf = tmp_path / "example-t.conf"
    conf.write_text(example.render_conf())
    p = _run([ph.NGINX_BIN, "-t", "-p", str(example.prefix), "-c",
              str(conf), "-e", str(tmp_path / "t.log")])
    out = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, out
    assert "test is successful" in out, out
    # a deprecated directive ("listen ... http2" on 1.25.1+) warns here
    assert "[warn]" not in out and "deprecated" not in out, out


def test_http2_through_alpn(example, pkg_a):
    inst = example
    _publish(inst, pkg_a)
    r = inst.curl("--http2", "-w", "%{http_version}\n",
                  "https://%s:%d/" % (HOST, inst.port))
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode("latin-1")
    assert out.rstrip().endswith("\n2"), out
    status, headers = _headers(out.rsplit("\n", 2)[0].encode("latin-1"))
    assert status == 200
    assert headers["x-prep-corte"] == pkg_a.iso, headers


@pytest.mark.skipif(not ph.nginx_has_quic(),
                    reason="this nginx is built without HTTP/3")
def test_http3_when_enabled(nginx_factory, pkg_a, tmp_path):
    """The example with its HTTP/3 lines uncommented: HTTPS announces
    HTTP/3 in Alt-Svc, and a QUIC client gets the corte, stamped."""
    from test_http3 import h3
    inst = nginx_factory(cls=ExampleNginx, workers=1, http3=True)
    _publish(inst, pkg_a)
    r = inst.curl("https://%s:%d/" % (HOST, inst.port))
    assert r.returncode == 0, r.stderr.decode()
    status, headers = _headers(r.stdout)
    assert status == 200
    assert headers["alt-svc"] == 'h3=":%d"; ma=86400' % inst.port
    row, missing = h3(inst, ["/", "/no/such.json"], tmp_path / "h3",
                      host=HOST)
    assert (row.status, row.corte) == (200, pkg_a.iso), row.headers
    assert row.body == pkg_a.listing["/index.html"]
    assert row.headers.get("strict-transport-security")
    assert (missing.status, missing.corte) == (404, pkg_a.iso)
