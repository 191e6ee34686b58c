"""The validation catalogue of issue 3 (section 2) and of the reference
(reliability-and-security.md section 8A), one test per row, through the
daemon: each hostile package is dropped into a running prep-ingest watch
next to a live corte, and must be rejected with its stable reason code,
moved to quarantine with its .reason file, while nginx keeps serving the
live corte and the daemon keeps running.  A few rows are packages that
look odd but are valid, and must be published.

The archives are built member by member with tarfile's low-level API
(TarInfo + tobuf) or byte by byte, so they really contain what they say:
links, devices, sparse maps, lying headers, broken gzip trailers.
"""

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import socket
import struct
import subprocess
import tarfile
import time
import urllib.parse
import zipfile
import zlib

import pytest

import prep_harness as ph
from conftest import Watch


pytestmark = [pytest.mark.needs_module, pytest.mark.needs_ingest]

# the daemon's limits for this module: small, so that every limit can be
# crossed with small archives (the real package fits well within)
LIMITS = ["--max-entries", "300", "--max-entry-size", "2M",
          "--max-total-size", "6M", "--max-ratio", "200"]
LIVE = "20240603_0015"          # the corte live while the rows run
CORTE = "20240603_0030"         # the corte the hostile packages claim

INDEX = b"<!doctype html><html><body><app-root></app-root></body></html>"


def corte_json(corte=CORTE):
    d, t = corte.split("_")
    return json.dumps({"ultimoCorte": {
        "fecha": "%s/%s/%s" % (d[6:8], d[4:6], d[0:4]),
        "hora": "%s:%s (UTC-5)" % (t[0:2], t[2:4])}}).encode()


# --------------------------------------------------------------- builders


def ti(name, data=b"", kind=tarfile.REGTYPE, link="", **attrs):
    """A member: (TarInfo, data or None)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o644
    info.mtime = 1717391700
    info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.LNKTYPE) \
        and data else 0
    for k, v in attrs.items():
        setattr(info, k, v)
    return info, (data if info.size else None)


def base(corte=CORTE):
    """A minimal valid site: index.html and a JSON giving the corte."""
    return [ti("index.html", INDEX), ti("assets/d.json", corte_json(corte))]


def tar_bytes(members, fmt=tarfile.PAX_FORMAT, encoding="utf-8",
              end=True):
    """The tar stream of members, written header by header."""
    out = io.BytesIO()
    for info, data in members:
        out.write(info.tobuf(fmt, encoding, "surrogateescape"))
        if data:
            out.write(data)
            out.write(b"\0" * (-len(data) % 512))
    if end:
        out.write(b"\0" * 1024)
    return out.getvalue()


def gz(raw, level=6):
    return gzip.compress(raw, compresslevel=level, mtime=0)


def targz(members, **kw):
    return gz(tar_bytes(members, **kw))


def raw_header(name, typeflag, size=0, extra=b"", size_field=None):
    """A ustar header built by hand (for what tarfile will not write)."""
    return ph.gen_prep.tar_header(name, typeflag, size, extra, size_field)


def gnu_sparse_old():
    """GNU 'S' (old sparse): 512 real bytes of a 1 TiB file."""
    h = bytearray(raw_header(b"big.bin", b"S", size=512))
    h[257:265] = b"ustar  \0"
    h[386:398] = b"%011o\0" % 0            # sparse[0].offset
    h[398:410] = b"%011o\0" % 512          # sparse[0].numbytes
    h[482] = 0                             # isextended
    h[483:495] = b"%011o\0" % (1 << 40)    # realsize
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h) + b"x" * 512


def pax_sparse_1_0():
    """pax GNU sparse 1.0: the map in the data, realsize 1 TiB."""
    data = b"1\n0\n512\n".ljust(512, b"\0") + b"y" * 512
    info, _ = ti("GNUSparseFile.0/big.bin", data)
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                        "GNU.sparse.name": "big.bin",
                        "GNU.sparse.realsize": str(1 << 40)}
    return [(info, data)]


def deflate_unfinished(raw):
    """A gzip header and the whole deflate stream of raw, sync-flushed
    but never finished: no last block, no trailer."""
    c = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return c.compress(raw) + c.flush(zlib.Z_SYNC_FLUSH)


def zeros_bomb(entries=250, each=1900 * 1024):
    """About 475 MB of zeros in small entries: ~0.5 MB compressed."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [c.compress(tar_bytes(base(), end=False))]
    zero = b"\0" * each
    for i in range(entries):
        info, _ = ti("assets/z%03d.bin" % i)
        info.size = each
        out.append(c.compress(info.tobuf(tarfile.PAX_FORMAT)))
        out.append(c.compress(zero))
    out.append(c.compress(b"\0" * 1024))
    out.append(c.flush())
    return b"".join(out)


def random_bytes(n, seed):
    out = bytearray()
    block = hashlib.sha256(b"seed %d" % seed).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 0 + hashlib.sha512(block).digest()
    return bytes(out[:n])


def zip_file():
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as z:
        z.writestr("index.html", INDEX)
    return bio.getvalue()


def with_crc_flipped(data):
    return data[:-8] + bytes([data[-8] ^ 0x55]) + data[-7:]


def with_isize_wrong(data):
    size = struct.unpack("<I", data[-4:])[0]
    return data[:-4] + struct.pack("<I", (size + 512) & 0xffffffff)


def good():
    return targz(base())


# (row id, builder, expected reason); the package is dropped as
# "20240603_0030_<id>.tar.gz" unless the row says otherwise
REJECTED = [
    # not gzip at all
    ("not_gzip_plain_tar", lambda: tar_bytes(base()), "not_gzip"),
    ("not_gzip_zip", zip_file, "not_gzip"),
    ("not_gzip_bzip2", lambda: bz2.compress(tar_bytes(base())),
     "not_gzip"),
    ("not_gzip_xz", lambda: lzma.compress(tar_bytes(base())), "not_gzip"),
    ("gzip_but_not_tar", lambda: gz(b"hello, this is no tar\n" * 100),
     "not_tar"),
    # corrupt gzip
    ("gzip_crc", lambda: with_crc_flipped(good()), "gzip_crc"),
    ("gzip_length", lambda: with_isize_wrong(good()), "gzip_length"),
    ("gzip_data_corrupt",
     lambda: (lambda d: d[:40] + bytes([d[40] ^ 0xff]) + d[41:])(good()),
     "gzip_data"),
    # truncated anywhere (waits, then quarantined as truncated)
    ("truncated_mid_deflate", lambda: good()[:len(good()) // 2],
     "truncated"),
    ("truncated_after_tar_end",
     lambda: deflate_unfinished(tar_bytes(base())), "truncated"),
    ("truncated_in_trailer", lambda: good()[:-3], "truncated"),
    # more than one member, or anything after it
    ("trailing_garbage", lambda: good() + b"garbage", "trailing_garbage"),
    ("trailing_zeros", lambda: good() + b"\0" * 1024, "trailing_garbage"),
    ("second_gzip_member",
     lambda: good() + targz([ti("hidden.html", b"<p>hidden</p>")]),
     "trailing_garbage"),
    ("hidden_tar_after_end_blocks",
     lambda: gz(tar_bytes(base())
                + tar_bytes([ti("hidden.html", b"<p>hidden</p>")])),
     "trailing_garbage"),
    ("garbage_after_end_blocks",
     lambda: gz(tar_bytes(base()) + b"\x01" + b"\0" * 511),
     "trailing_garbage"),
    ("no_end_of_archive_block",
     lambda: gz(tar_bytes(base(), end=False)), "tar_header"),
    # nothing to serve
    ("zero_entries", lambda: gz(b"\0" * 10240), "no_entries"),
    ("directories_only",
     lambda: targz([ti("a", kind=tarfile.DIRTYPE),
                    ti("a/b", kind=tarfile.DIRTYPE)]), "no_entries"),
    ("no_index_html",
     lambda: targz([ti("assets/d.json", corte_json())]), "no_index_html"),
    # names
    ("absolute_path",
     lambda: targz(base() + [ti("/etc/passwd", b"x")]), "path_absolute"),
    ("absolute_path_double_slash",
     lambda: targz(base() + [ti("//etc/passwd", b"x")]), "path_absolute"),
    ("dotdot_traversal",
     lambda: targz(base() + [ti("../../etc/cron.d/x", b"x")]),
     "path_dotdot"),
    ("dotdot_mid_path",
     lambda: targz(base() + [ti("a/./b/../../../x", b"x")]),
     "path_dotdot"),
    ("dotdot_last",
     lambda: targz(base() + [ti("assets/..", kind=tarfile.DIRTYPE)]),
     "path_dotdot"),
    ("name_newline",
     lambda: targz(base() + [ti("assets/a\nb.json", b"{}")]),
     "path_control"),
    ("name_control_char",
     lambda: targz(base() + [ti("assets/a\x01b.json", b"{}")]),
     "path_control"),
    ("name_backslash",
     lambda: targz(base() + [ti("assets\\..\\x.json", b"{}")]),
     "path_backslash"),
    ("name_latin1_bytes",
     lambda: targz(base() + [ti("ni\udcf1o.html", b"x")],
                   fmt=tarfile.GNU_FORMAT), "path_utf8"),
    ("name_pax_binary_charset",
     lambda: targz(base() + [
         (lambda m: (m[0].pax_headers.update(hdrcharset="BINARY") or m))(
             ti("caf\udce9.html", b"x"))], encoding="utf-8"),
     "path_utf8"),
    ("name_too_long",
     lambda: targz(base() + [ti("a" * 1100 + ".json", b"{}")]),
     "path_long"),
    ("name_64k_pax_path",
     lambda: targz(base() + [ti("a" * 65536, b"x")]), "path_long"),
    ("name_too_deep",
     lambda: targz(base() + [ti("d/" * 40 + "x.json", b"{}")]),
     "path_deep"),
    # duplicates after normalization, and type conflicts
    ("duplicate_dot_slash",
     lambda: targz(base() + [ti("a.json", b"1"), ti("./a.json", b"2")]),
     "duplicate_path"),
    ("duplicate_same_name",
     lambda: targz(base() + [ti("a.json", b"1"), ti("a.json", b"2")]),
     "duplicate_path"),
    ("duplicate_trailing_slashes",
     lambda: targz(base() + [ti("a/", kind=tarfile.DIRTYPE),
                             ti("./a//", kind=tarfile.DIRTYPE),
                             ti("a/x.json", b"{}")]),
     "duplicate_path"),
    ("file_and_slashed_name",
     lambda: targz(base() + [ti("a", b"1"),
                             ti("a//", kind=tarfile.DIRTYPE)]),
     "file_dir_conflict"),
    ("file_then_directory",
     lambda: targz(base() + [ti("data", b"1"), ti("data/x.json", b"2")]),
     "file_dir_conflict"),
    ("directory_then_file",
     lambda: targz(base() + [ti("data/x.json", b"2"), ti("data", b"1")]),
     "file_dir_conflict"),
    # links of any kind
    ("symlink_absolute",
     lambda: targz([ti("index.html", kind=tarfile.SYMTYPE,
                       link="/etc/shadow"), base()[1]]), "link"),
    ("symlink_then_file_cve_2018_12015",
     lambda: targz(base() + [ti("moo", kind=tarfile.SYMTYPE,
                                link="/tmp/moo"), ti("moo", b"x")]),
     "link"),
    ("symlink_dir_then_file",
     lambda: targz(base() + [ti("d", kind=tarfile.SYMTYPE, link="/tmp"),
                             ti("d/x", b"x")]), "link"),
    ("symlink_two_hop_exarch_116",
     lambda: targz(base() + [
         ti("a/b/c", kind=tarfile.DIRTYPE),
         ti("a/b/c/up", kind=tarfile.SYMTYPE, link="../.."),
         ti("a/b/escape", kind=tarfile.SYMTYPE, link="c/up/../.."),
         ti("a/b/escape/x", b"x")]), "link"),
    ("dir_symlink_file_cve_2021_31566",
     lambda: targz(base() + [ti("x", kind=tarfile.DIRTYPE),
                             ti("x", kind=tarfile.SYMTYPE, link="/tmp"),
                             ti("x/y", b"y")]), "link"),
    ("symlink_relative",
     lambda: targz(base() + [ti("assets/e.json", kind=tarfile.SYMTYPE,
                                link="d.json")]), "link"),
    ("hardlink_absolute",
     lambda: targz(base() + [ti("p", kind=tarfile.LNKTYPE,
                                link="/etc/passwd")]), "link"),
    ("hardlink_dotdot",
     lambda: targz(base() + [ti("p", kind=tarfile.LNKTYPE,
                                link="../x")]), "link"),
    ("hardlink_internal",
     lambda: targz(base() + [ti("copy.html", kind=tarfile.LNKTYPE,
                                link="index.html")]), "link"),
    ("hardlink_with_data_cve_2016_5418",
     lambda: targz(base() + [ti("p", b"payload", kind=tarfile.LNKTYPE,
                                link="/etc/passwd")]), "link"),
    # devices, FIFOs
    ("char_device",
     lambda: targz(base() + [ti("null", kind=tarfile.CHRTYPE, devmajor=1,
                                devminor=3)]), "special_file"),
    ("block_device",
     lambda: targz(base() + [ti("sda", kind=tarfile.BLKTYPE, devmajor=8,
                                devminor=0)]), "special_file"),
    ("fifo", lambda: targz(base() + [ti("p", kind=tarfile.FIFOTYPE)]),
     "special_file"),
    # sizes and counts (the daemon runs with LIMITS)
    ("entry_too_large",
     lambda: targz(base() + [ti("big.bin", random_bytes(2200000, 1))]),
     "entry_too_large"),
    ("entry_size_lies",
     lambda: gz(tar_bytes(base(), end=False)
                + raw_header(b"huge.bin", b"0", size=1 << 33)
                + b"x" * 4096), "entry_too_large"),
    ("total_too_large",
     lambda: targz(base() + [ti("r%d.bin" % i, random_bytes(1900000, i))
                             for i in range(4)]), "total_too_large"),
    ("too_many_entries",
     lambda: targz(base() + [ti("f/%d.json" % i, b"{}")
                             for i in range(400)]), "too_many_entries"),
    ("gzip_bomb", zeros_bomb, "ratio"),
    # sparse members
    ("sparse_gnu_old",
     lambda: gz(tar_bytes(base(), end=False) + gnu_sparse_old()
                + b"\0" * 1024), "sparse"),
    ("sparse_pax_1_0",
     lambda: targz(base() + pax_sparse_1_0()), "sparse"),
    # broken tar headers
    ("tar_header_checksum",
     lambda: gz(tar_bytes(base(), end=False)
                + (lambda h: h[:148] + b"0000000\0" + h[156:])(
                    raw_header(b"x.json", b"0", size=2)) + b"{}".ljust(512,
                                                               b"\0")
                + b"\0" * 1024), "tar_header"),
    ("tar_size_not_octal",
     lambda: gz(tar_bytes(base(), end=False)
                + raw_header(b"x.json", b"0",
                             size_field=b"99zz9999999\0")
                + b"\0" * 1536), "tar_header"),
    ("tar_size_negative_base256",
     lambda: gz(tar_bytes(base(), end=False)
                + raw_header(b"x.json", b"0",
                             size_field=b"\xff" * 12)
                + b"\0" * 1536), "tar_header"),
    ("directory_with_data",
     lambda: gz(tar_bytes(base(), end=False)
                + raw_header(b"dir/", b"5", size=512) + b"x" * 512
                + b"\0" * 1024), "tar_header"),
    # the corte time
    ("corte_missing",
     lambda: targz([ti("index.html", INDEX), ti("assets/d.json", b"{}")]),
     "corte_missing"),
    ("corte_sources_disagree",
     lambda: targz([ti("index.html", INDEX),
                    ti("assets/d.json", corte_json("20240603_0045"))]),
     "corte_mismatch"),
]

# tar names that lie (issue 8): a NUL inside a record that names a
# member, a global pax header naming files, two names for one member;
# the packages are made by tests/fixtures/gen_prep.py (also fuzz seeds)
REJECTED += [("name_lies_" + kind,
              (lambda k=kind: gz(ph.gen_prep.lying_name_tar(k, CORTE))),
              reason)
             for kind, reason in ph.gen_prep.LYING_NAMES]

# names without a corte: the content alone must carry it
NAMES = {"corte_missing": "sin_fecha_corte_missing.tar.gz"}

def pax_size_over_ustar(pax_size, ustar_size, corte):
    """A pax size record and a different ustar size for one member,
    with a whole tar member where the ustar size says data is: readers
    that disagree on which size wins would list different members."""
    rec = b" size=%d\n" % pax_size
    rec = b"%d%s" % (len(rec) + 2, rec)
    inner, _ = ti("assets/inner.json", b"{\"inner\": 1}")
    body = inner.tobuf(tarfile.USTAR_FORMAT) \
        + b"{\"inner\": 1}".ljust(512, b"\0")
    return gz(tar_bytes(base(corte), end=False)
              + raw_header(b"PaxHeader/cover.json", b"x", size=len(rec))
              + rec.ljust(512, b"\0")
              + raw_header(b"assets/cover.json", b"0", size=ustar_size)
              + body + b"\0" * 1024)


ACCEPTED = [
    ("utf8_names", "20240603_0045",
     lambda c: targz(base(c) + [ti("ayuda/niño.html", b"<p>ni\xc3\xb1o</p>"),
                                ti("assets/canción.json", b"{}")]),
     ["/ayuda/niño.html", "/assets/canción.json"]),
    ("gnu_long_name_150", "20240603_0100",
     lambda c: targz(base(c) + [ti("assets/" + "n" * 150 + ".json",
                                   b"{\"long\": true}")],
                     fmt=tarfile.GNU_FORMAT),
     ["/assets/" + "n" * 150 + ".json"]),
    ("odd_modes_owners_times", "20240603_0115",
     lambda c: targz(base(c) + [ti("assets/odd.json", b"{}", mode=0o7777,
                                   uid=0, gid=0, uname="root",
                                   mtime=4070908800)]),
     ["/assets/odd.json"]),
    ("pax_size_0_ustar_1024", "20240603_0130",
     lambda c: pax_size_over_ustar(0, 1024, c),
     ["/assets/cover.json", "/assets/inner.json"]),
    ("pax_size_1024_ustar_0", "20240603_0145",
     lambda c: pax_size_over_ustar(1024, 0, c),
     ["/assets/cover.json"]),
]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One nginx and one daemon for the whole catalogue, serving LIVE."""
    base_dir = tmp_path_factory.mktemp("catalogue")
    packages = ph.PackageCache(base_dir / "pkgs")
    pkg = packages.get(LIVE)
    nginx = ph.Nginx(base_dir / "nginx")
    nginx.start()
    w = Watch(base_dir / "watch", nginx.store, control=nginx.control_sock,
              args=["--rescan-interval", "0.5", "--incomplete-timeout", "1",
                    "--gzip-level", "1"] + LIMITS)
    w.start()
    w.drop_file(pkg)
    w.wait_event("published", corte_id=LIVE)
    w.live_pkg = pkg
    w.nginx = nginx
    yield w
    try:
        rc = w.stop()
        reports = w.sanitizer_reports()
        assert not reports, w.stderr_text()[-4000:]
        assert rc == 0, w.stderr_text()[-2000:]
        bad = nginx.bad_log_lines()
        assert not bad, bad
    finally:
        nginx.kill()


def assert_live_unchanged(w):
    r = w.nginx.get("/index.html")
    assert r.status == 200 and r.corte == w.live_pkg.iso
    assert r.body == w.live_pkg.listing["/index.html"]
    assert w.running


def drop_and_decide(w, name, data, event, timeout=30):
    """The daemon is paused while the file is written: a look in the
    middle of a write can already see a header that refuses the package
    (entry_too_large), and then quarantines the bytes of that moment."""
    m = w.mark()
    start = time.monotonic()
    with w.paused():
        (w.drop / name).write_bytes(data)
    ev = w.wait_event(event, after=m, file=name, timeout=timeout)
    return ev, time.monotonic() - start


@pytest.mark.parametrize("row,build,reason", REJECTED,
                         ids=[r[0] for r in REJECTED])
def test_rejected(live, row, build, reason):
    w = live
    data = build()
    name = NAMES.get(row, "%s_%s.tar.gz" % (CORTE, row))
    ev, took = drop_and_decide(w, name, data, "rejected")

    if reason is not None:
        assert ev["reason"] == reason, ev
    else:
        # several codes are right; it must be a rejection of the archive
        assert ev["reason"] not in ("io", "nomem", "internal"), ev
    assert ev["level"] in ("warning", "alert")
    assert ev["sha256"] == hashlib.sha256(data).hexdigest()
    assert ev["size"] == len(data)

    # in quarantine, byte for byte, with its .reason
    q = w.quarantine()[ev["quarantine"]]
    assert q["reason"] == ev["reason"] and q["file"] == name
    assert q["sha256"] == ev["sha256"] and q["size"] == len(data)
    assert q["message"] and q["time"]
    assert (w.store / "quarantine" / ev["quarantine"]).read_bytes() == data
    # the event is recorded first, then the upload leaves the drop folder
    ph.wait_for(lambda: not (w.drop / name).exists(), 10,
                "the upload to leave the drop folder")

    # nothing else happened: same live corte, nothing staged, no tmp file
    assert_live_unchanged(w)
    assert w.current().startswith(LIVE)
    assert not list((w.store / "staging").iterdir())
    assert not [n for n in os.listdir(w.store / "cortes")
                if n.startswith(".")]
    if reason in ("ratio", "total_too_large"):
        assert took < 10, took


@pytest.mark.parametrize("row,corte,build,paths", ACCEPTED,
                         ids=[r[0] for r in ACCEPTED])
def test_accepted(live, row, corte, build, paths):
    w = live
    data = build(corte)
    name = "%s_%s.tar.gz" % (corte, row)
    ev, _ = drop_and_decide(w, name, data, "published")
    assert ev["corte_id"] == corte and ev["live"] is True
    for p in paths:
        r = w.nginx.get(urllib.parse.quote(p))
        assert r.status == 200, (p, r)
        assert r.corte.startswith(ev["corte"][:16]), r

    # what is served is exactly what GNU tar lists: one reading only
    # (the package is kept in packages/ after "published": the upload
    # leaves the drop folder only once it is there)
    ph.wait_for(lambda: not (w.drop / name).exists(), 10,
                "%s to be kept in packages/" % name)
    listed = subprocess.run(["tar", "-tzf", str(w.store / "packages" / (
        ev["snapshot"][:-len(".snap")] + ".tar.gz"))],
        capture_output=True, text=True, check=True).stdout.split("\n")
    files = sorted("/" + n for n in listed if n and not n.endswith("/"))
    snap = read_paths(w.store / "cortes" / ev["snapshot"])
    assert snap == files
    # back to the catalogue's live corte for the next rows
    r = ph.run_ingest(["rollback", "--store", str(w.store), "--control",
                       str(w.nginx.control_sock), "--to",
                       ev["previous"] if ev["previous"].startswith(LIVE)
                       else _live_snapshot(w)])
    assert_live_unchanged(w)


def read_paths(snap):
    """The sorted paths of a snapshot (libprep/prep_snap.h layout)."""
    data = snap.read_bytes()
    count, index_off, strings_off = (struct.unpack_from("<I", data, 52)[0],
                                     struct.unpack_from("<Q", data, 56)[0],
                                     struct.unpack_from("<Q", data, 64)[0])
    out = []
    for i in range(count):
        po, pl = struct.unpack_from("<II", data, index_off + 64 * i)
        out.append(data[strings_off + po:strings_off + po + pl].decode())
    return sorted(out)


def _live_snapshot(w):
    return [n for n in os.listdir(w.store / "cortes")
            if n.startswith(LIVE)][0]


def test_socket_in_the_drop_folder(live):
    """A socket cannot be put in a tar (there is no type flag for it;
    libarchive reads unknown flags as regular files), but one can appear
    in the drop folder: never opened, rejected."""
    w = live
    m = w.mark()
    path = w.drop / ("%s_socket.tar.gz" % CORTE)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    try:
        os.kill(w.proc.pid, 1)      # SIGHUP: list the folder now
        ev = w.wait_event("rejected", after=m, file=path.name)
    finally:
        s.close()
    assert ev["reason"] == "not_regular_file"
    assert "socket" in ev["message"]
    ph.wait_for(lambda: not os.path.lexists(path), 10, "the socket moved")
    assert_live_unchanged(w)


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory_ignored"])
def test_odd_entries_in_the_drop_folder(live, tmp_path, kind):
    w = live
    m = w.mark()
    path = w.drop / ("%s_%s.tar.gz" % (CORTE, kind))
    if kind == "symlink":
        os.symlink("/etc/shadow", path)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    os.kill(w.proc.pid, 1)
    if kind == "directory_ignored":
        time.sleep(1.2)
        assert not [e for e in w.events()[m:] if e.get("file") == path.name]
        path.rmdir()
        return
    ev = w.wait_event("rejected", after=m, file=path.name)
    assert ev["reason"] == "not_regular_file"
    ph.wait_for(lambda: not os.path.lexists(path), 10, "the entry moved")
    qpath = w.store / "quarantine" / ev["quarantine"]
    assert os.path.lexists(qpath)
    if kind == "symlink":
        assert os.readlink(qpath) == "/etc/shadow"
    assert_live_unchanged(w)


def test_lying_names_read_differently_by_python(tmp_path):
    """The packages refused as path_nul and path_ambiguous really are
    read two ways: Python's tarfile sees the whole pax path (with its
    "..") where libarchive cuts it at the NUL (tests/unit/test_archive.c,
    test_lying_names), and applies a global pax path to every member,
    which libarchive ignores.  prep-ingest check refuses both."""
    def names(kind):
        raw = ph.gen_prep.lying_name_tar(kind, CORTE)
        with tarfile.open(fileobj=io.BytesIO(raw)) as t:
            return [m.name for m in t.getmembers()]

    nul = names("pax_path_nul")
    assert "assets/evil\0.json/../../x.txt" in nul, nul
    # neither the cut name nor the ustar name field
    assert "assets/evil" not in nul and "assets/other.json" not in nul

    glob = names("pax_global_path")
    assert glob == ["evil.txt", "evil.txt"], glob

    for kind, reason in (("pax_path_nul", "path_nul"),
                         ("pax_global_path", "path_ambiguous")):
        pkg = tmp_path / ("%s_%s.tar.gz" % (CORTE, kind))
        pkg.write_bytes(gz(ph.gen_prep.lying_name_tar(kind, CORTE)))
        r = subprocess.run([str(ph.INGEST_BIN), "check", str(pkg)],
                           capture_output=True, text=True,
                           timeout=ph.INGEST_TIMEOUT)
        assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
        assert reason in r.stdout + r.stderr, (r.stdout, r.stderr)
