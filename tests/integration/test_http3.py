"""The module over HTTP/3 (QUIC), on the nginx builds that have it.

nginx carries HTTP/3 from 1.25.0 on; Debian builds 1.26 (trixie) and
1.30 (unstable) with --with-http_v3_module, Debian 12's 1.22.1 without
it, so on 1.22 this file is skipped and `make integration` runs it on
1.26 and 1.30.  nginx's QUIC layer works over Debian's OpenSSL 3.0
through its OpenSSL compatibility layer (no 0-RTT).

The client is Debian 12's `gtlsclient` (package ngtcp2-client 0.12,
nghttp3 and GnuTLS): Debian 12's curl and h2load have no HTTP/3.  It
sends GET or HEAD with no request header of our choosing, so what needs
one (Accept-Encoding, Range, If-None-Match) is tested over HTTP/1.1 and
HTTP/2 only; over HTTP/3 nginx's own layer carries the same response the
module builds for the other two.  What it can ask for is tested here:
the corte stamp on every response (200, 404, HEAD, the placeholder),
the bytes of every file, many streams on one connection, a slow stream
across two swaps, and the statistics counting every stream.
"""

import os
import re
import shutil
import subprocess

import pytest

import prep_harness as ph
from test_http2 import H2Nginx


INDEX = "/index.html"
AVANCE = "/assets/ayuntamientos/avanceEntidad.json"
CLIENT = "gtlsclient"

# one line per request: the client's port ($connection numbers the
# streams of a QUIC connection, its UDP port is the one they share),
# $http3 ("h3" over HTTP/3) and what was answered
H3_LOG = ('log_format prep_h3 "$remote_port $http3 $server_protocol '
          '$status $request_method $uri";\n'
          "access_log h3.log prep_h3;")


pytestmark = [
    pytest.mark.needs_module,
    pytest.mark.skipif(not ph.nginx_has_quic(),
                       reason="this nginx is built without HTTP/3 "
                              "(--with-http_v3_module: nginx 1.25+)"),
]


class H3Nginx(H2Nginx):
    """nginx whose public server speaks HTTP/3 on UDP and HTTP/2 over
    TLS on TCP, both on self.port (the harness's probes and helpers use
    the TCP side, the tests' own requests the QUIC one)."""

    def __init__(self, prefix, **conf):
        conf["http_extra"] = H3_LOG + "\n" + conf.get("http_extra", "")
        super().__init__(prefix, tls=True, **conf)

    def render_conf(self):
        text = super().render_conf()
        tcp = "listen 127.0.0.1:%d %s;" % (self.port,
                                           self.conf["listen_params"])
        assert tcp in text, text
        # reuseport: each worker gets its own UDP socket, nginx's advice
        # for QUIC with more than one worker
        return text.replace(tcp, tcp + "\n        listen 127.0.0.1:%d "
                            "quic reuseport;" % self.port, 1)

    def h3_log(self):
        """[(client port, http3, protocol, status, method, uri)]"""
        path = self.prefix / "h3.log"
        if not path.exists():
            return []
        return [tuple(line.split(" ")) for line in
                path.read_text().splitlines()]


class H3Response:
    def __init__(self, path, headers, body):
        self.path = path
        self.headers = headers          # lower-case name -> value
        self.body = body
        self.status = int(headers.get(":status", "0"))
        self.corte = headers.get("x-prep-corte")


_HEADER = re.compile(r"http: stream 0x([0-9a-f]+) \[(:?[^:]+): (.*)\]$")


def _client_cmd(inst, paths, method="GET", download=None, streams=0,
                host="localhost"):
    """gtlsclient's command line: one stream per path, or `streams`
    streams going round the paths; bodies saved under download; host
    is the TLS server name and the requests' authority"""
    if shutil.which(CLIENT) is None:
        pytest.fail("%s not found: `make deps` installs Debian's "
                    "ngtcp2-client" % CLIENT)
    cmd = [CLIENT, "--no-quic-dump", "--no-http-dump",
           "--exit-on-all-streams-close", "--timeout=20s", "-m", method]
    if download is not None:
        cmd += ["--download", str(download)]
    if streams:
        cmd += ["-n", str(streams)]
    cmd += ["--sni=" + host, "127.0.0.1", str(inst.port)]
    return cmd + ["https://%s:%d%s" % (host, inst.port, p) for p in paths]


def _responses(paths, out, download):
    """gtlsclient's debug output -> one H3Response per path, in order:
    the client opens bidirectional streams 0, 4, 8... for its URIs in
    the order given"""
    headers = {}
    for line in out.splitlines():
        m = _HEADER.match(line)
        if m:
            sid = int(m.group(1), 16)
            headers.setdefault(sid, {})[m.group(2).lower()] = m.group(3)
    rows = []
    for i, path in enumerate(paths):
        name = os.path.basename(path) or "index.html"
        body_path = download / name
        body = body_path.read_bytes() if body_path.exists() else b""
        rows.append(H3Response(path, headers.get(4 * i, {}), body))
    return rows


def h3(inst, paths, download, method="GET", timeout=90, host="localhost"):
    """GET (or HEAD) every path, one stream each, on one QUIC
    connection.  The client names each body after the path's last
    segment, so the paths of one call must differ there."""
    names = [os.path.basename(p) or "index.html" for p in paths]
    assert len(set(names)) == len(names), "one basename per call"
    download.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(_client_cmd(inst, paths, method, download,
                                   host=host),
                       capture_output=True, timeout=timeout)
    out = r.stdout.decode("utf-8", "replace") + \
        r.stderr.decode("utf-8", "replace")
    assert r.returncode == 0, out[-3000:]
    return _responses(paths, out, download)


@pytest.fixture
def h3_factory(nginx_factory):
    def make(**kw):
        return nginx_factory(cls=H3Nginx, **kw)
    return make


def _unique_basenames(paths):
    seen, chosen = set(), []
    for p in paths:
        name = os.path.basename(p)
        if name not in seen:
            seen.add(name)
            chosen.append(p)
    return chosen


# ------------------------------------------------------------ responses


@pytest.mark.parametrize("sendfile", ["off", "on"])
def test_files_on_one_quic_connection(h3_factory, packages, tmp_path,
                                      sendfile):
    """The large files of the full-size corte and a sample of the rest,
    as streams of one QUIC connection: each is HTTP/3, 200, stamped
    with the corte, and byte for byte the file, sent from memory or
    (sendfile on, large entries) as file buffers."""
    pkg = packages.get(size="full")
    inst = h3_factory(publish=[pkg], http_extra="sendfile %s;\n"
                      "prep_sendfile_min 64k;" % sendfile)
    by_size = sorted(pkg.listing, key=lambda p: -len(pkg.listing[p]))
    paths = _unique_basenames(by_size[:8] + sorted(pkg.listing)[::7])
    assert len(paths) >= 40
    rows = h3(inst, paths, tmp_path / "dl")
    for row in rows:
        data = pkg.listing[row.path]
        assert (row.status, row.corte) == (200, pkg.iso), row.headers
        assert row.headers.get("content-length") == str(len(data))
        assert row.body == data, row.path
    def over_h3():
        rows = [row for row in inst.h3_log() if row[2] == "HTTP/3.0"]
        return len(rows) >= len(paths) and rows
    log = ph.wait_for(over_h3, 10, "the HTTP/3 access log lines")
    assert len(log) == len(paths)
    # one client port, $http3 "h3": the streams of one QUIC connection
    assert {(port, h3v) for port, h3v, *_ in log} == {(log[0][0], "h3")}
    assert max(len(pkg.listing[p]) for p in paths) > 400_000


def test_stamp_on_head_404_and_placeholder(h3_factory, pkg_a, tmp_path):
    inst = h3_factory()
    rows = h3(inst, ["/", AVANCE], tmp_path / "before")
    for row in rows:
        assert (row.status, row.corte) == (503, "none"), row.headers
        assert re.fullmatch(r"\d+", row.headers.get("retry-after", ""))
        assert b"<html" in row.body.lower()

    inst.swap(pkg_a)
    get, missing = h3(inst, [INDEX, "/no/such.json"], tmp_path / "get")
    assert (get.status, get.corte) == (200, pkg_a.iso)
    assert get.body == pkg_a.listing[INDEX]
    assert get.headers.get("etag") == ph.strong_etag(pkg_a.listing[INDEX])
    assert get.headers.get("vary") == "Accept-Encoding"
    assert (missing.status, missing.corte) == (404, pkg_a.iso)

    (head,) = h3(inst, [AVANCE], tmp_path / "head", method="HEAD")
    assert (head.status, head.corte, head.body) == (200, pkg_a.iso, b"")
    assert head.headers.get("content-length") == \
        str(len(pkg_a.listing[AVANCE]))
    methods = [(m, s) for _, _, proto, s, m, _ in inst.h3_log()
               if proto == "HTTP/3.0"]
    assert ("HEAD", "200") in methods and ("GET", "404") in methods


# -------------------------------------------------------------- streams


def test_long_download_spans_two_swaps(h3_factory, packages, tmp_path):
    """A stream held back by limit_rate keeps the corte it started
    with while two newer cortes go live, and receives the old bytes
    whole; new requests get the newest corte meanwhile."""
    a, b, c = packages.series(3, size="full")
    path = max(a.listing, key=lambda p: len(a.listing[p]))
    data = a.listing[path]
    assert len(data) > 400_000
    rate = max(len(data) // 6, 50_000)      # about six seconds
    inst = h3_factory(publish=[a], server_extra="location = %s {\n"
                      "    prep_serve;\n    limit_rate %d;\n}" % (path, rate))
    a_name = inst.current_name()
    dl = tmp_path / "slow"
    dl.mkdir()
    body = dl / os.path.basename(path)
    slow = subprocess.Popen(_client_cmd(inst, [path], download=dl),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = inst.swap_twice_under(slow, lambda: body.exists()
                                   and body.stat().st_size > 16384, b, c,
                                   INDEX)
    (row,) = _responses([path], out.decode("utf-8", "replace"), dl)
    assert (row.status, row.corte) == (200, a.iso), row.headers
    assert row.body == data
    inst.wait_unmapped(a_name)


# ---------------------------------------------------------- statistics


def test_statistics_count_every_stream(stats_nginx, stats):
    inst = stats_nginx(cls=H3Nginx, workers=1)
    base = stats.wait_hits(inst, stats.probes)["totals"]["hits"]
    paths = [INDEX, AVANCE]
    n = 300
    r = subprocess.run(_client_cmd(inst, paths, streams=n),
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")[-3000:]
    ph.wait_for(lambda: len([row for row in inst.h3_log()
                             if row[2] == "HTTP/3.0"]) >= n, 10,
                "%d HTTP/3 requests in the access log" % n)
    lines = [row for row in inst.h3_log() if row[2] == "HTTP/3.0"]
    assert len(lines) == n and {row[3] for row in lines} == {"200"}
    assert len({row[0] for row in lines}) == 1, "one QUIC connection"
    # /status itself is a hit: wait for base + n + our reads
    s = stats.wait_hits(inst, base + n)
    assert base + n <= s["totals"]["hits"] <= base + n + 20, s["totals"]
    row = stats.row(s, INDEX)
    assert row is not None and row["hits"] >= n // 2, row
