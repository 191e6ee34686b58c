"""Large entries go out as file buffers of the snapshot (sendfile).

With `sendfile on;` an entry of at least NGX_HTTP_PREP_SENDFILE_MIN
bytes (64 KiB, ngx_http_prep_handler.c) is also described as a file
buffer of the snapshot file; nginx then sends it with sendfile(), with
no copy through user space.  The snapshot's descriptor stays open as
long as the snapshot is mapped, and the request's hold on the snapshot
keeps both until the last byte is out, so a swap in the middle of a
download changes nothing for it.  Smaller entries keep the single
writev() from the mapping.
"""

import gzip
import os
import re
import socket
import subprocess
import time

import pytest

import prep_harness as ph


pytestmark = pytest.mark.needs_module

SENDFILE_MIN = 64 * 1024
INDEX = "/index.html"
SENDFILE = "sendfile on;\ntcp_nopush on;"


def _largest(pkg):
    return max(pkg.listing, key=lambda p: len(pkg.listing[p]))


def _syscalls(pid, action):
    """The write-side syscalls a worker made while action() ran
    (strace); action.probe() makes a request until strace shows it is
    attached."""
    out = "/tmp/prep-strace-%d-%d.txt" % (os.getpid(), pid)
    tracer = subprocess.Popen(
        ["strace", "-qq", "-f", "-p", str(pid), "-e",
         "trace=sendfile,writev,write,sendmsg", "-o", out],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def attached():
            action.probe()
            return os.path.exists(out) and os.path.getsize(out) > 0
        ph.wait_for(attached, 10, "strace to attach", interval=0.1)
        mark = os.path.getsize(out)
        action()
        time.sleep(0.2)           # the log phase after the last byte
    finally:
        tracer.terminate()
        tracer.wait(timeout=10)
    with open(out) as f:
        f.seek(mark)
        text = f.read()
    os.unlink(out)
    return text


class _Get:
    def __init__(self, inst, path, headers=None):
        self.inst, self.path, self.headers = inst, path, headers
        self.response = None

    def probe(self):
        self.inst.get("/__strace_probe__")

    def __call__(self):
        self.response = self.inst.get(self.path, self.headers)


def test_large_entries_use_sendfile_small_ones_writev(nginx_factory,
                                                      packages):
    pkg = packages.get(size="full")
    big = _largest(pkg)
    small = INDEX
    assert len(pkg.listing[big]) >= 4 * SENDFILE_MIN
    assert len(pkg.listing[small]) < SENDFILE_MIN
    inst = nginx_factory(publish=[pkg], workers=1, http_extra=SENDFILE)
    worker = inst.worker_pids()[0]

    get = _Get(inst, big)
    calls = _syscalls(worker, get)
    assert get.response.status == 200
    assert get.response.body == pkg.listing[big]
    # the file path is off by default (ngx_http_prep_handler.c: it
    # stalled the whole-package bench); a build with it on must use it
    if os.environ.get("PREP_SENDFILE_MIN"):
        assert re.search(r"sendfile\(", calls), calls[-2000:]
    else:
        assert not re.search(r"sendfile\(", calls), calls[-2000:]

    get = _Get(inst, small)
    calls = _syscalls(worker, get)
    assert get.response.body == pkg.listing[small]
    assert not re.search(r"sendfile\(", calls), calls[-2000:]


def test_sendfile_off_sends_from_memory(nginx_factory, packages):
    pkg = packages.get(size="full")
    big = _largest(pkg)
    inst = nginx_factory(publish=[pkg], workers=1)      # nginx's default
    get = _Get(inst, big)
    calls = _syscalls(inst.worker_pids()[0], get)
    assert get.response.body == pkg.listing[big]
    assert not re.search(r"sendfile\(", calls), calls[-2000:]


def test_every_file_ranges_and_gzip_with_sendfile(nginx_factory, packages):
    pkg = packages.get(size="full")
    inst = nginx_factory(publish=[pkg], http_extra=SENDFILE)
    conn = inst.connection()
    try:
        for path, data in sorted(pkg.listing.items()):
            r = ph.http_request(conn, "GET", path)
            assert (r.status, r.corte) == (200, pkg.iso), path
            assert r.body == data, path
    finally:
        conn.close()

    big = _largest(pkg)
    data = pkg.listing[big]
    n = len(data)
    r = inst.get(big, {"Range": "bytes=100-%d" % (n - 101)})
    assert r.status == 206 and r.body == data[100:n - 100]
    r = inst.get(big, {"Range": "bytes=-70000"})
    assert r.status == 206 and r.body == data[-70000:]
    r = inst.get(big, {"Range": "bytes=0-9,%d-%d" % (n // 2, n // 2 + 80000)})
    assert r.status == 206
    assert r.header("Content-Type").startswith("multipart/byteranges")
    assert data[:10] in r.body and data[n // 2:n // 2 + 80001] in r.body

    gz = [p for p, d in pkg.listing.items() if len(d) >= 4 * SENDFILE_MIN
          and not p.endswith((".zip", ".png", ".jpg"))]
    assert gz, "no large compressible file in the full package"
    for path in gz[:3]:
        z = inst.get(path, {"Accept-Encoding": "gzip"})
        assert z.status == 200, path
        body = z.body
        if z.header("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        assert body == pkg.listing[path], path


def test_slow_sendfile_client_across_two_swaps(nginx_factory, packages):
    a, b, c = packages.series(3, size="full")
    path = _largest(a)
    data = a.listing[path]
    inst = nginx_factory(publish=[a], listen_params="sndbuf=16k",
                         http_extra=SENDFILE)
    a_name = inst.current_name()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", inst.port))
    try:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost"
                  b"\r\nConnection: close\r\n\r\n")
        got = b""
        while len(got.partition(b"\r\n\r\n")[2]) < 4096:
            chunk = s.recv(1024)
            assert chunk, "connection closed early"
            got += chunk
        inst.swap(b)
        inst.swap(c)
        r = inst.get(INDEX)
        assert (r.status, r.corte) == (200, c.iso)
        assert any(a_name in m for m in inst.worker_maps().values()), \
            "corte A unmapped while a sendfile from it is in flight"
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert re.search(rb"(?i)\r\nx-prep-corte: " + re.escape(a.iso.encode()),
                     head)
    assert body == data
    ph.wait_for(lambda: not any(a_name in m for m in
                                inst.worker_maps().values()), 5,
                "corte A to be unmapped after its last response")
