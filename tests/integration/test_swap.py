"""Corte swaps: POST /reload, SIGHUP, restart, refused snapshots, mapping
lifetime, a slow client across swaps and concurrent clients during swaps.
"""

import gzip
import http.client
import random
import socket
import struct
import threading
import time

import pytest

import prep_harness as ph


pytestmark = pytest.mark.needs_module

INDEX = "/index.html"
CSV = "/assets/bd/QROO_AYUN_2024.csv"
AVANCE = "/assets/ayuntamientos/avanceEntidad.json"
CONFIG = "/assets/configuracion.json"
PNG = "/assets/img/generales/fondo.png"

# a mix of files present in every corte: changing and static ones
SAMPLE = (INDEX, "/", AVANCE, CONFIG, CSV, PNG,
          "/assets/diputaciones/entidad/23.json",
          "/assets/bd/LEEME.txt", "/assets/mapas/qroo_municipios.json")


def expected(pkg, path):
    return pkg.listing[INDEX if path == "/" else path]


def sample_paths(pkg):
    sections = sorted(p for p in pkg.listing
                      if p.startswith("/assets/ayuntamientos/entidad/23_"))
    return SAMPLE + (sections[0], sections[-1])


def assert_serves(inst, pkg, paths=None):
    for path in paths or sample_paths(pkg):
        r = inst.get(path)
        assert r.status == 200, (path, r)
        assert r.corte == pkg.iso, (path, r.corte, pkg.iso)
        assert r.body == expected(pkg, path), path


def zip_path(pkg):
    return "/assets/%s_PREP_QROO.zip" % pkg.id


def all_workers_map_only(inst, name):
    maps = inst.worker_maps()
    return len(maps) == inst.workers and \
        all(m == {name} for m in maps.values())


# --------------------------------------------------------- basic swap


def test_publish_then_reload_swaps_corte(nginx_factory, pkg_a, pkg_b):
    inst = nginx_factory(publish=[pkg_a])
    assert_serves(inst, pkg_a)

    inst.publish(pkg_b)
    # publishing alone is not a swap: the module is told by POST /reload
    assert_serves(inst, pkg_a)

    r = inst.control("POST", "/reload")
    assert r.status == 200, r.body
    assert r.header("Content-Type").startswith("application/json")
    doc = r.json()
    assert ph.json_mentions(doc, pkg_b.id) or \
        ph.json_mentions(doc, pkg_b.iso), doc
    assert not ph.json_mentions(doc, pkg_a.iso), doc

    assert_serves(inst, pkg_b)
    assert inst.get(zip_path(pkg_a)).status == 404
    z = inst.get(zip_path(pkg_b))
    assert z.status == 200
    assert z.body == pkg_b.listing[zip_path(pkg_b)]


def test_first_publish_after_an_empty_start(nginx_factory, pkg_a):
    inst = nginx_factory()
    r = inst.get(INDEX)
    assert r.status == 503 and r.corte == "none"
    inst.publish(pkg_a)
    assert inst.control("POST", "/reload").status == 200
    assert_serves(inst, pkg_a)


def _snap_header(path):
    """(data_off, data_size, index_off) from a snapshot header."""
    with open(path, "rb") as f:
        head = f.read(64)
    data_off, data_size = struct.unpack_from("<QQ", head, 32)
    index_off, = struct.unpack_from("<Q", head, 56)
    return data_off, data_size, index_off


def _make_bad_snapshot(inst, kind):
    """Writes a bad file next to the good ones (the good snapshot itself
    is never touched) and returns its store-relative name."""
    cortes = inst.store / "cortes"
    good = cortes / inst.current_name()
    bad = cortes / ("bad-%s.snap" % kind)
    if kind == "garbage":
        bad.write_bytes(random.Random(1).randbytes(256 * 1024))
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "truncated":
        data = good.read_bytes()
        bad.write_bytes(data[:len(data) // 2])
    elif kind in ("data_bit", "index_bit", "header_bit"):
        data = bytearray(good.read_bytes())
        data_off, data_size, index_off = _snap_header(good)
        pos = {"data_bit": data_off + data_size // 2,
               "index_bit": index_off + 4,
               "header_bit": 200}[kind]
        data[pos] ^= 0x10
        bad.write_bytes(bytes(data))
    elif kind == "dangling":
        return "cortes/does-not-exist.snap"
    elif kind == "not_a_file":
        bad.mkdir()
    else:
        raise ValueError(kind)
    return "cortes/" + bad.name


BAD_KINDS = ["garbage", "empty", "truncated", "data_bit", "index_bit",
             "header_bit", "dangling", "not_a_file"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_current_is_refused_and_old_corte_stays(nginx_factory, pkg_a,
                                                    pkg_b, kind):
    inst = nginx_factory(publish=[pkg_a])
    bad = _make_bad_snapshot(inst, kind)
    inst.allow_log(r"bad-%s\.snap|does-not-exist\.snap" % kind)
    inst.point_current(bad)

    r = inst.control("POST", "/reload")
    assert r.status == 422, (r.status, r.body)
    doc = r.json()
    assert doc.get("error") and doc.get("reason"), doc

    assert_serves(inst, pkg_a)
    assert ph.json_mentions(inst.status(), pkg_a.iso)

    # the next good publish recovers
    inst.publish(pkg_b)
    assert inst.control("POST", "/reload").status == 200
    assert_serves(inst, pkg_b)


# ------------------------------------------------------------ workers


def test_idle_workers_remap_within_a_second(nginx_factory, pkg_a, pkg_b):
    inst = nginx_factory(publish=[pkg_a])
    a_name = inst.current_name()
    ph.wait_for(lambda: all_workers_map_only(inst, a_name), 3,
                "every worker to map %s" % a_name)

    inst.publish(pkg_b)
    b_name = inst.current_name()
    assert inst.control("POST", "/reload").status == 200
    started = time.monotonic()
    # no HTTP requests from here on: only the workers' timers can act
    ph.wait_for(lambda: all_workers_map_only(inst, b_name), 2.5,
                "idle workers to map %s and unmap %s (maps now: %s)" % (
                    b_name, a_name, inst.worker_maps()))
    assert time.monotonic() - started < 2.5


def test_sighup_serves_latest_current(nginx_factory, pkg_a, pkg_b):
    inst = nginx_factory(publish=[pkg_a])
    inst.publish(pkg_b)
    inst.reload()
    assert_serves(inst, pkg_b)


def test_sighup_with_bad_current_keeps_live_corte(nginx_factory, pkg_a):
    inst = nginx_factory(publish=[pkg_a])
    bad = _make_bad_snapshot(inst, "data_bit")
    inst.allow_log(r"bad-data_bit\.snap")
    inst.point_current(bad)
    inst.reload()
    assert_serves(inst, pkg_a)


def test_restart_serves_latest_current(nginx_factory, pkg_a, pkg_b):
    inst = nginx_factory(publish=[pkg_a])
    inst.publish(pkg_b)
    inst.quit()
    inst.start()
    assert_serves(inst, pkg_b)


def test_start_with_bad_current_is_503_then_recovers(nginx_factory, pkg_a):
    inst = nginx_factory(publish=[pkg_a], start=False)
    good = inst.current_name()
    bad = _make_bad_snapshot(inst, "garbage")
    inst.allow_log(r"bad-garbage\.snap")
    inst.point_current(bad)
    inst.start()
    r = inst.get(INDEX)
    assert r.status == 503
    assert r.corte == "none"

    inst.point_current("cortes/" + good)
    assert inst.control("POST", "/reload").status == 200
    assert_serves(inst, pkg_a)


# -------------------------------------------------------------- ETags


def _fetch(inst, paths, headers=None):
    conn = inst.connection()
    try:
        return {p: ph.http_request(conn, "GET", p, headers) for p in paths}
    finally:
        conn.close()


def test_etags_follow_content_across_cortes(nginx_factory, pkg_a, pkg_b):
    inst = nginx_factory(publish=[pkg_a])
    common = sorted(set(pkg_a.listing) & set(pkg_b.listing))
    before = _fetch(inst, common)
    inst.swap(pkg_b)
    after = _fetch(inst, common)

    same = [p for p in common if pkg_a.listing[p] == pkg_b.listing[p]]
    changed = [p for p in common if pkg_a.listing[p] != pkg_b.listing[p]]
    assert same and changed
    for p in same:
        assert before[p].header("ETag") == after[p].header("ETag"), p
    for p in changed:
        assert before[p].header("ETag") != after[p].header("ETag"), p
    for p in common:
        assert after[p].header("Last-Modified") == pkg_b.corte.http_date


def test_revalidation_across_cortes(nginx_factory, pkg_a, pkg_b):
    """An unchanged file revalidates (304) after a new corte even though
    its Last-Modified moved; a changed one is sent again."""
    assert pkg_a.listing[PNG] == pkg_b.listing[PNG]
    assert pkg_a.listing[AVANCE] != pkg_b.listing[AVANCE]
    inst = nginx_factory(publish=[pkg_a])
    old = {p: inst.get(p) for p in (PNG, AVANCE, INDEX)}
    inst.swap(pkg_b)

    for p in (PNG, INDEX):
        cond = {"If-None-Match": old[p].header("ETag"),
                "If-Modified-Since": old[p].header("Last-Modified")}
        r = inst.get(p, cond)
        assert r.status == 304, p
        assert r.corte == pkg_b.iso
        # If-Modified-Since alone says "modified": the corte moved
        r = inst.get(p, {"If-Modified-Since":
                         old[p].header("Last-Modified")})
        assert r.status == 200, p

    r = inst.get(AVANCE, {"If-None-Match": old[AVANCE].header("ETag"),
                          "If-Modified-Since": pkg_b.corte.http_date})
    assert r.status == 200
    assert r.body == pkg_b.listing[AVANCE]
    assert r.corte == pkg_b.iso


# ------------------------------------------------------- many swaps


def test_many_swaps_leave_no_old_snapshot_mapped(nginx_factory, packages):
    series = packages.series(51)
    inst = nginx_factory(publish=[series[0]])
    for pkg in series[1:]:
        inst.swap(pkg)
        for path in (INDEX, AVANCE, CSV, PNG):
            r = inst.get(path)
            assert r.status == 200 and r.corte == pkg.iso, (path, r)
    final = inst.current_name()
    ph.wait_for(lambda: all_workers_map_only(inst, final), 3,
                "workers to map only %s" % final)
    assert_serves(inst, series[-1])


def test_slow_client_gets_the_corte_it_started_with(nginx_factory,
                                                    packages):
    a, b, c = packages.series(3, size="full")
    data = a.listing[CSV]
    assert len(data) > 400_000 and data != c.listing[CSV]
    # small kernel buffers on both sides, so the response cannot be
    # parked in the kernel: the worker must keep corte A mapped
    inst = nginx_factory(publish=[a], listen_params="sndbuf=16k")
    a_name = inst.current_name()

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", inst.port))
    try:
        s.sendall(b"GET " + CSV.encode() + b" HTTP/1.1\r\nHost: localhost"
                  b"\r\nConnection: close\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got or \
                len(got.partition(b"\r\n\r\n")[2]) < 4096:
            chunk = s.recv(1024)
            assert chunk, "connection closed early"
            got += chunk

        inst.swap(b)
        inst.swap(c)
        assert_serves(inst, c, (CSV, INDEX))
        assert any(a_name in m for m in inst.worker_maps().values()), \
            "corte A unmapped while a response from it is in flight"

        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    finally:
        s.close()

    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 200"), lines[0]
    hdrs = {k.strip().lower(): v.strip() for k, _, v in
            (line.partition(":") for line in lines[1:])}
    assert hdrs["x-prep-corte"] == a.iso
    assert int(hdrs["content-length"]) == len(data)
    assert body == data
    inst.wait_unmapped(a_name, 3)


class Hammer:
    """Client threads fetching a mix of paths until stopped; checks that
    every response is 200/304 and wholly from the corte it names."""

    def __init__(self, inst, series, threads=4, keepalive=True):
        self.inst = inst
        self.by_iso = {pkg.iso: pkg for pkg in series}
        self.paths = sorted(set.intersection(*(set(p.listing)
                                               for p in series)))
        self.keepalive = keepalive
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.errors = []
        self.seen = []
        self.threads = [threading.Thread(target=self._client, args=(i,))
                        for i in range(threads)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def check(self, r, path, sent_etag, gz):
        pkg = self.by_iso.get(r.corte)
        if pkg is None:
            return "status %d, unknown X-PREP-Corte %r" % (r.status,
                                                           r.corte)
        raw = pkg.listing[path]
        etags = {ph.strong_etag(raw), ph.strong_etag(raw, True)}
        if r.status == 304:
            if r.header("ETag") not in etags or \
                    r.header("ETag") != sent_etag:
                return "304 with ETag %s, sent %s, corte %s" % (
                    r.header("ETag"), sent_etag, r.corte)
            return None
        if r.status != 200:
            return "status %d" % r.status
        body = r.body
        if r.header("Content-Encoding") == "gzip":
            if not gz:
                return "gzip without Accept-Encoding"
            body = gzip.decompress(body)
        if body != raw:
            return "body is not corte %s's %d bytes" % (r.corte, len(raw))
        if r.header("ETag") not in etags:
            return "ETag %s not corte %s's" % (r.header("ETag"), r.corte)
        return None

    def _client(self, seed):
        rnd = random.Random(seed)
        conn = self.inst.connection()
        last = {}
        try:
            while not self.stop.is_set():
                path = rnd.choice(self.paths)
                headers = {}
                gz = rnd.random() < 0.4
                if gz:
                    headers["Accept-Encoding"] = "gzip"
                sent = None
                if path in last and rnd.random() < 0.3:
                    sent = last[path]
                    headers["If-None-Match"] = sent
                if not self.keepalive:
                    headers["Connection"] = "close"
                try:
                    r = ph.http_request(conn, "GET", path, headers)
                except (OSError, http.client.HTTPException) as e:
                    with self.lock:
                        self.errors.append("%s: %r" % (path, e))
                    conn.close()
                    conn = self.inst.connection()
                    continue
                finally:
                    if not self.keepalive:
                        conn.close()
                problem = self.check(r, path, sent, gz)
                with self.lock:
                    if problem:
                        self.errors.append("%s: %s" % (path, problem))
                    self.seen.append(r.corte)
                if r.header("ETag") and not gz:
                    last[path] = r.header("ETag")
        finally:
            conn.close()

    def assert_clean(self, min_requests, min_cortes):
        assert not self.errors, "%d bad responses, e.g.\n%s" % (
            len(self.errors), "\n".join(self.errors[:20]))
        assert len(self.seen) >= min_requests, \
            "only %d requests made" % len(self.seen)
        assert len(set(self.seen)) >= min_cortes, \
            "only %d cortes seen" % len(set(self.seen))


def test_concurrent_clients_see_whole_cortes(nginx_factory, packages):
    series = packages.series(51)
    inst = nginx_factory(publish=[series[0]])
    with Hammer(inst, series) as hammer:
        assert len(hammer.paths) > 40
        for pkg in series[1:]:
            inst.swap(pkg)
    hammer.assert_clean(min_requests=500, min_cortes=11)


def test_concurrent_clients_across_sighup_reloads(nginx_factory, packages):
    """Publish + SIGHUP under load: old workers drain, new ones serve the
    new corte, nobody sees an error or a mixed body.  One connection per
    request: an old worker may close an idle keep-alive connection."""
    series = packages.series(6)
    inst = nginx_factory(publish=[series[0]])
    with Hammer(inst, series, keepalive=False) as hammer:
        for pkg in series[1:]:
            inst.publish(pkg)
            inst.reload()
            assert inst.get(INDEX).corte == pkg.iso
    hammer.assert_clean(min_requests=100, min_cortes=4)


def test_sighup_reloads_leave_no_old_snapshot_mapped(nginx_factory,
                                                     packages):
    series = packages.series(6)
    inst = nginx_factory(publish=[series[0]])
    for pkg in series[1:]:
        inst.publish(pkg)
        inst.reload()
        assert_serves(inst, pkg, (INDEX, CSV))
    final = inst.current_name()
    ph.wait_for(lambda: all_workers_map_only(inst, final), 3,
                "workers to map only %s" % final)
    # the master validates at each reload: it must not hoard mappings
    # (its workers would inherit them)
    assert inst.mapped_snapshots(inst.master_pid) <= {final}
