"""The module over HTTP/2: TLS with ALPN (h2) and cleartext (h2c).

Real visitors arrive over TLS, mostly with HTTP/2, where nginx's HTTP/2
layer, not the HTTP/1.1 one, carries the module's responses: streams
share one connection, headers are HPACK-encoded, bodies go out in DATA
frames under flow control.  The clients are Debian's: curl --http2
(ALPN) or --http2-prior-knowledge (h2c), and h2load (nghttp2-client)
for many concurrent streams on one connection.  Every test runs on both
transports and, through `make integration`, on nginx 1.22, 1.26 and
1.30 (the directives differ: `listen ... http2` before 1.25.1,
`http2 on;` after).

HTTP/3 is test_http3.py's: Debian 12's curl (7.88.1) and h2load
(nghttp2 1.52) are built without QUIC, its ngtcp2-client speaks it.
"""

import gzip
import http.client
import io
import os
import re
import socket
import subprocess
import time

import pytest

import prep_harness as ph


pytestmark = pytest.mark.needs_module

INDEX = "/index.html"
CSV = "/assets/bd/QROO_AYUN_2024.csv"
AVANCE = "/assets/ayuntamientos/avanceEntidad.json"
HOST = "localhost"

# curl's -w line for every transfer (%header{} is curl 7.84+)
WRITE_OUT = ("%{http_version} %{response_code} %header{x-prep-corte} "
             "%{size_download} %{num_connects}\n")


def _run(cmd, timeout=60, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)


class H2Nginx(ph.Nginx):
    """nginx whose public server speaks HTTP/2: over TLS (tls=True, a
    fresh self-signed certificate for localhost, ALPN) or in clear text
    (h2c, prior knowledge).  get()/head() go through curl over HTTP/2,
    so the harness's probes and the suites' helpers speak it too."""

    def __init__(self, prefix, tls=True, **conf):
        self.tls = tls
        prefix = os.fspath(prefix)
        os.makedirs(prefix, exist_ok=True)
        self.cert = os.path.join(prefix, "cert.pem")
        self.key = os.path.join(prefix, "key.pem")
        lines = []
        if tls:
            r = _run(["openssl", "req", "-x509", "-newkey", "ec",
                      "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-days", "2", "-subj", "/CN=" + HOST,
                      "-addext", "subjectAltName=DNS:" + HOST,
                      "-keyout", self.key, "-out", self.cert])
            assert r.returncode == 0, r.stderr.decode()
            lines += ["ssl_certificate %s;" % self.cert,
                      "ssl_certificate_key %s;" % self.key,
                      "ssl_protocols TLSv1.2 TLSv1.3;"]
        params = [conf.pop("listen_params", "")]
        if tls:
            params.append("ssl")
        if ph.nginx_version() >= (1, 25, 1):
            lines.append("http2 on;")
        else:
            params.append("http2")
        conf["listen_params"] = " ".join(p for p in params if p)
        conf["server_extra"] = "\n".join(lines) + "\n" + \
            conf.get("server_extra", "")
        super().__init__(prefix, **conf)

    @property
    def base(self):
        if self.tls:
            return "https://%s:%d" % (HOST, self.port)
        return "http://%s:%d" % (HOST, self.port)

    def curl_args(self):
        args = ["curl", "-sS", "--max-time", "30",
                "--resolve", "%s:%d:127.0.0.1" % (HOST, self.port)]
        if self.tls:
            return args + ["--http2", "--cacert", self.cert]
        return args + ["--http2-prior-knowledge"]

    def _wait_started(self):
        def up():
            if self.proc.poll() is not None:
                raise ph.HarnessError("nginx exited with %s at start"
                                      % self.proc.returncode)
            if not self.pid_path.exists():
                return False
            if len(self.worker_pids()) < self.workers:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         timeout=1).close()
            except OSError:
                return False
            return self.control_sock.exists()
        ph.wait_for(up, ph.START_TIMEOUT, "nginx (HTTP/2) to start")
        self.get("/__harness_probe__")

    def request(self, method, path, headers=None, body=None,
                timeout=ph.HTTP_TIMEOUT):
        """One request over HTTP/2 with curl; a ph.Response whose
        http_version says what was spoken."""
        assert body is None, "no request bodies over curl here"
        hdr_file = os.path.join(os.fspath(self.prefix), "curl.headers")
        body_file = os.path.join(os.fspath(self.prefix), "curl.body")
        for old in (hdr_file, body_file):
            # curl writes no file for an empty body
            if os.path.exists(old):
                os.unlink(old)
        cmd = self.curl_args() + ["-X", method, "-D", hdr_file,
                                  "-o", body_file,
                                  "-w", "%{http_version}"]
        if method == "HEAD":
            cmd[cmd.index("-X"):cmd.index("-X") + 2] = ["--head"]
        for k, v in (headers or {}).items():
            cmd += ["-H", "%s: %s" % (k, v)]
        r = _run(cmd + [self.base + path], timeout=timeout + 5)
        if r.returncode != 0:
            raise ph.HarnessError("curl %s %s: %s" % (
                method, path, r.stderr.decode("utf-8", "replace")))
        with open(hdr_file, "rb") as f:
            raw = f.read()
        try:
            with open(body_file, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        if method == "HEAD" and data.startswith(raw):
            data = data[len(raw):]      # --head writes the headers there
        status_line, _, rest = raw.partition(b"\r\n")
        msg = http.client.parse_headers(io.BytesIO(rest))
        resp = ph.Response(int(status_line.split()[1]), "", msg, data)
        resp.http_version = r.stdout.decode().strip()
        return resp


@pytest.fixture(params=["h2", "h2c"])
def h2_factory(request, nginx_factory):
    tls = request.param == "h2"

    def make(**kw):
        return nginx_factory(cls=H2Nginx, tls=tls, **kw)
    return make


def _transfers(out):
    """curl -w WRITE_OUT lines -> [(version, status, corte, size, conns)]"""
    rows = []
    for line in out.decode().splitlines():
        v, status, corte, size, conns = line.split(" ")
        rows.append((v, int(status), corte, int(size), int(conns)))
    return rows


# ------------------------------------------------------------ responses


@pytest.mark.parametrize("sendfile", ["off", "on"])
def test_every_file_on_one_connection(h2_factory, packages, tmp_path,
                                      sendfile):
    """Every file of the full-size corte, as parallel streams of one
    curl: each is HTTP/2, 200, stamped with the corte and byte for byte
    the file, sent from memory or (large ones, sendfile on) as file
    buffers."""
    pkg_a = packages.get(size="full")
    inst = h2_factory(publish=[pkg_a], http_extra="sendfile %s;" % sendfile)
    paths = sorted(pkg_a.listing)
    # Debian 12's curl 7.88.1 breaks a reused h2c connection ("Error in
    # the HTTP2 framing layer" on its second transfer, against stock
    # nginx too): over h2c each file gets a curl of its own, and the
    # streams of one connection are h2load's (tests below)
    if not inst.tls:
        # the large ones and a sample of the rest, one curl each
        paths = sorted(set([p for p in paths
                            if len(pkg_a.listing[p]) >= 65536]
                           + paths[::10]))
    batches = [paths] if inst.tls else [[p] for p in paths]
    rows = []
    index = {p: i for i, p in enumerate(paths)}
    for batch in batches:
        cmd = inst.curl_args() + ["-Z", "--parallel-max", "50",
                                  "-w", WRITE_OUT]
        for path in batch:
            cmd += ["-o", str(tmp_path / ("f%d" % index[path])),
                    inst.base + path]
        r = _run(cmd, timeout=120)
        assert r.returncode == 0, r.stderr.decode()
        rows += _transfers(r.stdout)
    assert len(rows) == len(paths)
    for v, status, corte, size, _ in rows:
        assert (v, status, corte) == ("2", 200, pkg_a.iso)
    for i, path in enumerate(paths):
        assert (tmp_path / ("f%d" % i)).read_bytes() == \
            pkg_a.listing[path], path
    if inst.tls:
        # the parallel transfers were multiplexed on few connections
        assert sum(row[4] for row in rows) < len(paths) / 4, rows


def test_conditional_range_and_gzip(h2_factory, pkg_a):
    inst = h2_factory(publish=[pkg_a])
    data = pkg_a.listing[AVANCE]
    r = inst.get(AVANCE)
    assert (r.http_version, r.status, r.corte) == ("2", 200, pkg_a.iso)
    assert r.body == data
    etag = r.header("ETag")
    assert etag == ph.strong_etag(data)

    c = inst.get(AVANCE, {"If-None-Match": etag})
    assert (c.status, c.corte, c.body) == (304, pkg_a.iso, b"")
    c = inst.get(AVANCE, {"If-Modified-Since": r.header("Last-Modified")})
    assert (c.status, c.corte) == (304, pkg_a.iso)

    p = inst.get(AVANCE, {"Range": "bytes=10-29"})
    assert (p.status, p.corte, p.body) == (206, pkg_a.iso, data[10:30])
    assert p.header("Content-Range") == "bytes 10-29/%d" % len(data)
    bad = inst.get(AVANCE, {"Range": "bytes=%d-" % (len(data) + 10)})
    assert (bad.status, bad.corte) == (416, pkg_a.iso)

    z = inst.get(AVANCE, {"Accept-Encoding": "gzip"})
    assert (z.status, z.corte) == (200, pkg_a.iso)
    assert z.header("Content-Encoding") == "gzip"
    assert z.header("Vary") == "Accept-Encoding"
    assert gzip.decompress(z.body) == data
    zc = inst.get(AVANCE, {"Accept-Encoding": "gzip",
                           "If-None-Match": z.header("ETag")})
    assert zc.status == 304

    h = inst.head(INDEX)
    assert (h.status, h.corte, h.body) == (200, pkg_a.iso, b"")
    assert h.header("Content-Length") == str(len(pkg_a.listing[INDEX]))


def test_placeholder_before_the_first_corte(h2_factory, pkg_a):
    inst = h2_factory()
    for path in ("/", AVANCE):
        r = inst.get(path)
        assert (r.http_version, r.status, r.corte) == ("2", 503, "none")
        assert re.fullmatch(r"\d+", r.header("Retry-After") or "")
        assert b"<html" in r.body.lower()
    inst.swap(pkg_a)
    r = inst.get("/")
    assert (r.status, r.corte) == (200, pkg_a.iso)


# ------------------------------------------------------------- streams


def _h2load(inst, paths, n, clients=1, streams=100):
    cmd = ["h2load", "-n", str(n), "-c", str(clients), "-m", str(streams)]
    # h2load speaks h2 through ALPN on https, h2c with prior knowledge
    # on http
    urls = ["%s://127.0.0.1:%d%s" % ("https" if inst.tls else "http",
                                      inst.port, p) for p in paths]
    r = _run(cmd + urls, timeout=120)
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, "
                  r"(\d+) succeeded, (\d+) failed, (\d+) errored", out)
    assert m, out
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, "
                      r"(\d+) 5xx", out)
    assert codes, out
    return [int(x) for x in m.groups()], [int(x) for x in codes.groups()], \
        out


def test_many_concurrent_streams_on_one_connection(h2_factory, pkg_a):
    inst = h2_factory(publish=[pkg_a], workers=1)
    paths = [INDEX, AVANCE, CSV, "/assets/configuracion.json"]
    # 900: nginx closes a connection after keepalive_requests (1000)
    req, codes, out = _h2load(inst, paths, 900, clients=1, streams=100)
    assert req == [900, 900, 900, 900, 0, 0], out
    assert codes == [900, 0, 0, 0], out
    assert "Application protocol: h2" in out or not inst.tls, out
    # and the access log saw them as HTTP/2 requests
    ph.wait_for(lambda: len([line for line in inst.access_lines()
                             if "HTTP/2.0\" 200 " in line]) >= 900,
                10, "900 HTTP/2 requests in the access log")


def test_long_download_spans_two_swaps(h2_factory, packages, tmp_path):
    """A slow reader on one stream keeps the corte it started with
    while two newer cortes go live, and receives the old bytes whole;
    meanwhile new streams get the new corte."""
    a, b, c = packages.series(3, size="full")
    path = max(a.listing, key=lambda p: len(a.listing[p]))
    data = a.listing[path]
    assert len(data) > 400_000
    # sendfile on: over h2c the large entry goes out as a file buffer
    inst = h2_factory(publish=[a], listen_params="sndbuf=16k",
                      http_extra="sendfile on;")
    a_name = inst.current_name()
    out = tmp_path / "slow.body"
    rate = max(len(data) // 6, 50_000)      # about six seconds
    slow = subprocess.Popen(
        inst.curl_args() + ["--limit-rate", str(rate), "-D",
                            str(tmp_path / "slow.headers"), "-o", str(out),
                            inst.base + path],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    inst.swap_twice_under(slow, lambda: out.exists()
                          and out.stat().st_size > 16384, b, c, INDEX)
    head = (tmp_path / "slow.headers").read_text("latin-1")
    assert head.startswith("HTTP/2 200"), head
    assert re.search(r"(?im)^x-prep-corte: %s\r?$" % re.escape(a.iso),
                     head), head
    assert out.read_bytes() == data
    inst.wait_unmapped(a_name)


# ---------------------------------------------------------- statistics


@pytest.mark.parametrize("tls", [True, False], ids=["h2", "h2c"])
def test_statistics_count_every_stream(stats_nginx, stats, tls):
    inst = stats_nginx(cls=H2Nginx, tls=tls, workers=1)
    base = stats.wait_hits(inst, stats.probes)["totals"]["hits"]
    req, codes, out = _h2load(inst, [INDEX, AVANCE], 300, clients=1,
                              streams=50)
    assert req[3] == 300 and codes[0] == 300, out
    # /status itself is a hit: wait for base + 300 + our reads
    s = stats.wait_hits(inst, base + 300)
    assert base + 300 <= s["totals"]["hits"] <= base + 300 + 20, \
        s["totals"]
    row = stats.row(s, INDEX)
    assert row is not None and row["hits"] >= 150, row
