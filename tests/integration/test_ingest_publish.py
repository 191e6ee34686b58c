"""prep-ingest publish, end to end on the command line: the snapshot it
writes holds exactly the package (bytes, hashes, gzip variants, corte),
re-publishing is a no-op, a rejected package or a failure leaves the
store as it was, publishers take turns, and memory stays bounded.

No nginx here: the snapshot is read back with a small reader of the
format in libprep/prep_snap.h.
"""

import gzip
import hashlib
import io
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import threading

import pytest

import prep_harness as ph


pytestmark = pytest.mark.needs_ingest

PUBLISHED = re.compile(
    r"^published (\d{8}_\d{4}) \((\S+)\) ([\d,]+) files, [\d.]+ [kMG]?B raw,"
    r" [\d.]+ [kMG]?B gzip \(([\d,]+) reused\) in [\d.]+ s \(verify [\d.]+"
    r" s, read [\d.]+ s, gzip [\d.]+ s, fsync [\d.]+ s\) -> "
    r"cortes/(\d{8}_\d{4}-[0-9a-f]{12}\.snap)\n$")

# the header (prep_snap_header_t), then 64-byte index entries
HEADER = struct.Struct("<8sIIIIQQQIIQQQIiqq32s64s32s24x")
ENTRY = struct.Struct("<IIIIQQQQ16s")

RELEASE_BIN = ph.BUILD / "prep-ingest"


def read_snapshot(path):
    """{"/uri": (type, bytes, gzip bytes or None, hash16)}, header dict."""
    data = open(path, "rb").read()
    f = HEADER.unpack_from(data, 0)
    h = dict(zip(("magic", "version", "byte_order", "header_size",
                  "header_crc", "file_size", "data_off", "data_size",
                  "data_crc", "entry_count", "index_off", "strings_off",
                  "strings_size", "index_crc", "utc_offset", "corte_time",
                  "created_time", "corte_id", "corte_text", "sha256"), f))
    assert h["magic"] == b"PREPSNAP"
    assert h["file_size"] == len(data)
    strings = data[h["strings_off"]:h["strings_off"] + h["strings_size"]]
    entries = {}
    for i in range(h["entry_count"]):
        (po, pl, to, tl, do, dl, go, gl, hsh) = ENTRY.unpack_from(
            data, h["index_off"] + ENTRY.size * i)
        path = strings[po:po + pl].decode()
        entries[path] = (strings[to:to + tl].decode(), data[do:do + dl],
                         data[go:go + gl] if gl else None, hsh)
    assert list(entries) == sorted(entries, key=lambda p: p.encode())
    h["corte_id"] = h["corte_id"].rstrip(b"\0").decode()
    h["corte_text"] = h["corte_text"].rstrip(b"\0").decode()
    return entries, h


def publish(store, package, *args):
    return ph.run_ingest(["publish", "--store", str(store)] + list(args)
                         + [os.fspath(package)], expect_ok=False)


def current(store):
    return os.readlink(store / "current")


def store_files(store):
    return sorted(os.listdir(store / "cortes"))


@pytest.fixture
def store(tmp_path):
    d = tmp_path / "store"
    d.mkdir()
    return d


def assert_matches_package(snap_path, pkg):
    entries, h = read_snapshot(snap_path)
    listing = pkg.listing
    assert set(entries) == set(listing)
    for path, body in listing.items():
        ctype, raw, gz, hsh = entries[path]
        assert raw == body, path
        assert hsh == hashlib.sha256(body).digest()[:16], path
        if gz is not None:
            assert len(gz) < len(raw), path
            assert gzip.decompress(gz) == raw, path
    assert h["corte_id"] == pkg.id
    assert h["sha256"] == hashlib.sha256(
        open(pkg.path, "rb").read()).digest()
    return entries, h


def test_publish_writes_the_package(store, pkg_a):
    r = publish(store, pkg_a)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    m = PUBLISHED.match(r.stdout)
    assert m, r.stdout
    assert m.group(1) == pkg_a.id
    assert m.group(2) == pkg_a.iso
    assert int(m.group(3).replace(",", "")) == len(pkg_a.listing)

    name = m.group(5)
    sha = hashlib.sha256(open(pkg_a.path, "rb").read()).hexdigest()
    assert name == "%s-%s.snap" % (pkg_a.id, sha[:12])
    assert current(store) == "cortes/" + name
    assert store_files(store) == [name]
    assert oct(os.stat(store / "cortes" / name).st_mode & 0o777) == "0o644"

    entries, h = assert_matches_package(store / "current", pkg_a)
    assert h["utc_offset"] == -5 * 3600
    assert entries["/index.html"][0] == "text/html; charset=utf-8"
    assert entries["/assets/configuracion.json"][0] == \
        "application/json; charset=utf-8"
    assert entries["/assets/img/generales/fondo.png"][0] == "image/png"
    assert entries["/assets/img/generales/fondo.png"][2] is None
    assert entries["/assets/mapas/qroo_municipios.json"][2] is not None


def test_flat_package_and_dialect_b(store, packages):
    flat = packages.get(flat=True)
    r = publish(store, flat)
    assert r.returncode == 0, r.stderr
    assert_matches_package(store / "current", flat)

    b = packages.get("20240603_0030", dialect="B")
    r = publish(store, b)
    assert r.returncode == 0, r.stderr
    assert_matches_package(store / "current", b)


def test_republish_is_a_no_op(store, pkg_a, pkg_b):
    assert publish(store, pkg_a).returncode == 0
    link = os.lstat(store / "current")
    files = store_files(store)

    r = publish(store, pkg_a)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("already current %s (%s) -> cortes/"
                               % (pkg_a.id, pkg_a.iso)), r.stdout
    assert r.stdout.count("\n") == 1
    after = os.lstat(store / "current")
    assert (after.st_ino, after.st_mtime_ns) == \
        (link.st_ino, link.st_mtime_ns)
    assert store_files(store) == files


def test_publish_refuses_what_watch_refuses(store, packages, pkg_a, pkg_b):
    """publish decides against the live corte as watch does (one
    publication path, issue 15): an older corte and the live corte with
    other bytes are refused with watch's reason codes and messages, the
    store untouched; rollback is the way back to an older corte, and
    after it the newer corte can be published again."""
    assert publish(store, pkg_a).returncode == 0
    snap_a = current(store)
    assert publish(store, pkg_b).returncode == 0
    before = (current(store), store_files(store))
    link = os.lstat(store / "current")

    r = publish(store, pkg_a)
    assert r.returncode == 2, r
    assert r.stdout == ""
    assert r.stderr == (
        "prep-ingest: rejected %s: older_corte: corte %s (%s) is older "
        "than the live corte %s (%s)\n"
        % (pkg_a.path, pkg_a.id, pkg_a.iso, pkg_b.id, pkg_b.iso)), r.stderr
    assert (current(store), store_files(store)) == before

    other = packages.get(pkg_b.id, seed=7)
    assert other.path.read_bytes() != pkg_b.path.read_bytes()
    r = publish(store, other)
    assert r.returncode == 2, r
    assert re.match(r"prep-ingest: rejected %s: corte_conflict: corte %s "
                    r"is live with other content \(SHA-256 [0-9a-f]{64}\); "
                    r"a published corte is never replaced\n$"
                    % (re.escape(str(other.path)), pkg_b.id),
                    r.stderr), r.stderr
    assert (current(store), store_files(store)) == before
    after = os.lstat(store / "current")
    assert (after.st_ino, after.st_mtime_ns) == \
        (link.st_ino, link.st_mtime_ns)

    # check says what publish (and watch) would do, in the same words
    r = ph.run_ingest(["check", "--store", str(store), str(pkg_a.path)],
                      expect_ok=False)
    assert r.returncode == 2 and ": older_corte: corte %s " % pkg_a.id \
        in r.stderr, r

    # the way back is rollback; then the newer corte goes in again, its
    # sound snapshot kept as it is, not written anew
    snap_b = store / before[0]
    ino_b = os.stat(snap_b).st_ino
    r = ph.run_ingest(["rollback", "--store", str(store)])
    assert current(store) == snap_a
    r = publish(store, pkg_b)
    assert r.returncode == 0, r
    assert current(store) == before[0]
    assert os.stat(snap_b).st_ino == ino_b
    assert store_files(store) == before[1]

    # and the help says so
    text = ph.run_ingest(["publish", "--help"]).stdout
    for word in ("older_corte", "corte_conflict", "prep-ingest rollback"):
        assert word in text, word


def test_next_corte_reuses_gzip(store, pkg_a, pkg_b):
    assert publish(store, pkg_a).returncode == 0
    r = publish(store, pkg_b)
    assert r.returncode == 0, r.stderr
    m = PUBLISHED.match(r.stdout)
    assert m and m.group(1) == pkg_b.id
    assert int(m.group(4).replace(",", "")) > 0
    assert current(store) == "cortes/" + m.group(5)
    assert len(store_files(store)) == 2
    assert_matches_package(store / "current", pkg_b)


def hostile(tmp_path, name, members):
    """A tar.gz of (TarInfo, bytes or None) members."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        for ti, data in members:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    path = tmp_path / name
    path.write_bytes(gzip.compress(bio.getvalue()))
    return path


def member(name, data=b"x", kind=tarfile.REGTYPE, link=""):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = link
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    return ti, data if kind == tarfile.REGTYPE else None


def test_rejections_leave_the_store_alone(store, tmp_path, pkg_a, pkg_b):
    assert publish(store, pkg_a).returncode == 0
    before = (current(store), store_files(store))

    index = member("index.html", b"<html></html>")
    good = pkg_b.path.read_bytes()
    cases = {
        "path_dotdot": hostile(tmp_path, "20240603_0030_a.tar.gz",
                               [index, member("../../etc/cron.d/x")]),
        "link": hostile(tmp_path, "20240603_0030_b.tar.gz",
                        [index, member("moo", kind=tarfile.SYMTYPE,
                                       link="/tmp/moo")]),
        "duplicate_path": hostile(tmp_path, "20240603_0030_c.tar.gz",
                                  [index, member("a.json"),
                                   member("./a.json")]),
        "special_file": hostile(tmp_path, "20240603_0030_d.tar.gz",
                                [index, member("p", kind=tarfile.FIFOTYPE)]),
        "no_index_html": hostile(tmp_path, "20240603_0030_e.tar.gz",
                                 [member("main.js")]),
    }
    for code, raw in (("truncated", good[:len(good) // 2]),
                      ("trailing_garbage", good + b"\0garbage"),
                      ("gzip_crc", good[:-8] + bytes([good[-8] ^ 1])
                       + good[-7:])):
        p = tmp_path / ("%s_%s" % (code, pkg_b.path.name))
        p.write_bytes(raw)
        cases[code] = p
    # the name says 00:45, the content 00:30
    wrong = tmp_path / "20240603_0045_PREP_QROO.tar.gz"
    shutil.copy(pkg_b.path, wrong)
    cases["corte_mismatch"] = wrong

    for code, path in cases.items():
        r = publish(store, path)
        assert r.returncode == 2, (code, r)
        assert r.stdout == ""
        assert r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith("prep-ingest: rejected %s: %s: "
                                   % (path, code)), r.stderr
        assert (current(store), store_files(store)) == before, code


def test_operational_failures(store, tmp_path, pkg_a):
    r = publish(tmp_path / "missing", pkg_a)
    assert r.returncode == 1
    assert r.stderr.startswith("prep-ingest: failed %s: io: " % pkg_a.path)

    r = publish(store, tmp_path / "nonexistent.tar.gz")
    assert r.returncode == 1
    assert ": io: " in r.stderr

    # a FIFO in the package's place is refused, without blocking
    fifo = tmp_path / "20240603_0015.tar.gz"
    os.mkfifo(fifo)
    r = publish(store, fifo)
    assert r.returncode == 1
    assert "not a regular file" in r.stderr

    # current pointing outside the store's snapshots is not followed
    os.symlink("/etc/passwd", store / "current")
    r = publish(store, pkg_a)
    assert r.returncode == 0, r.stderr
    assert current(store).startswith("cortes/%s-" % pkg_a.id)


def test_failed_chmod_of_the_snapshot(store, pkg_a, pkg_b):
    """fchmod(2) of the new snapshot fails (strace injects EIO): the
    publish fails with the reason, the live corte and the store are as
    they were, and the descriptor is closed exactly once (a second
    close() would be EBADF, or in the daemon another file's)."""
    r = publish(store, pkg_a)
    assert r.returncode == 0, r.stderr
    live = current(store)
    before = store_files(store)

    trace = store.parent / "strace.out"
    r = subprocess.run(
        ["strace", "-f", "-qq", "-o", str(trace),
         "-e", "trace=fchmod,close", "-e", "inject=fchmod:error=EIO",
         str(ph.INGEST_BIN), "publish", "--store", str(store),
         os.fspath(pkg_b)],
        capture_output=True, text=True, timeout=ph.INGEST_TIMEOUT)
    assert r.returncode == 1, r.stderr
    assert re.search(r"^prep-ingest: failed .*: io: chmod .*/cortes/"
                     r"\.tmp-\w+: Input/output error$", r.stderr,
                     re.M), r.stderr

    assert current(store) == live
    assert store_files(store) == before, "a temp snapshot was left"

    text = trace.read_text()
    assert "fchmod(" in text and "EIO (Input/output error) (INJECTED)" \
        in text, text[-2000:]
    assert "EBADF" not in text, "a descriptor was closed twice:\n" + \
        "\n".join(l for l in text.splitlines() if "EBADF" in l)


def test_command_line(store, pkg_a):
    r = ph.run_ingest(["publish", os.fspath(pkg_a)], expect_ok=False)
    assert r.returncode == 64
    assert "--store DIR is required" in r.stderr

    r = ph.run_ingest(["publish", "--store", str(store), "--bogus",
                       os.fspath(pkg_a)], expect_ok=False)
    assert r.returncode == 64

    for bad in (["--max-entries", "0"], ["--max-entry-size", "12Q"],
                ["--max-ratio", "-1"], ["--gzip-level", "10"]):
        r = ph.run_ingest(["publish", "--store", str(store)] + bad
                          + [os.fspath(pkg_a)], expect_ok=False)
        assert r.returncode == 64, bad

    r = ph.run_ingest(["publish", "--store", str(store), os.fspath(pkg_a),
                       os.fspath(pkg_a)], expect_ok=False)
    assert r.returncode == 64

    r = ph.run_ingest(["frobnicate"], expect_ok=False)
    assert r.returncode == 64

    for args in (["--help"], ["publish", "--help"], ["help", "publish"]):
        r = ph.run_ingest(args)
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS",
                        "EXIT STATUS", "FILES", "EXAMPLES"):
            assert "\n" + section + "\n" in "\n" + r.stdout, (args, section)
    assert "corte_mismatch" in ph.run_ingest(["publish", "-h"]).stdout

    r = ph.run_ingest(["--version"])
    assert r.stdout.startswith("prep-ingest ")

    # limits are applied: this package has more than 10 entries
    r = ph.run_ingest(["publish", "--store", str(store), "--max-entries",
                       "10", os.fspath(pkg_a)], expect_ok=False)
    assert r.returncode == 2
    assert ": too_many_entries: " in r.stderr

    r = ph.run_ingest(["publish", "-q", "--store", str(store),
                       "--gzip-level", "0", os.fspath(pkg_a)])
    assert r.stdout == ""
    entries, _ = read_snapshot(store / "current")
    assert all(e[2] is None for e in entries.values())


def test_publishers_take_turns(store, packages):
    pkgs = packages.series(4)
    results = [None] * len(pkgs)

    def run(i):
        results[i] = publish(store, pkgs[i])

    threads = [threading.Thread(target=run, args=(i,))
               for i in range(len(pkgs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # whichever order they took their turns in, each one saw the store
    # as the one before left it: published when newer than the live
    # corte, refused as watch refuses it when older (issue 15)
    done = {}
    for pkg, r in zip(pkgs, results):
        if r.returncode == 0:
            done[pkg.id] = PUBLISHED.match(r.stdout).group(5)
        else:
            assert r.returncode == 2, r
            assert r.stderr.startswith("prep-ingest: rejected %s: "
                                       "older_corte: corte %s " %
                                       (pkg.path, pkg.id)), r.stderr
    newest = max(pkgs, key=lambda p: p.id)
    assert newest.id in done, results
    assert store_files(store) == sorted(done.values())
    assert current(store) == "cortes/" + done[newest.id]
    for pkg in pkgs:
        if pkg.id in done:
            assert_matches_package(store / "cortes" / done[pkg.id], pkg)
    assert not [n for n in os.listdir(store) if n.startswith(".current.")]


# ru_maxrss survives exec(): a child forked from this (large) pytest
# process would report our size.  A small python forks the ingest and
# reports the child's peak (KiB on Linux).
PEAK_RSS = """
import os, sys
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def test_full_size_memory_bound(store, packages):
    """The release build, on full-size (30-35 MB) packages: peak RSS
    under 64 MiB, without and with a previous snapshot to reuse."""
    if not os.access(RELEASE_BIN, os.X_OK):
        pytest.fail("%s is missing (make ingest)" % RELEASE_BIN,
                    pytrace=False)

    for pkg in packages.series(2, size="full"):
        out = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, str(RELEASE_BIN), "publish",
             "--store", str(store), os.fspath(pkg)],
            capture_output=True, text=True, timeout=300, check=True)
        status, peak_kib = map(int, out.stdout.split())
        assert status == 0, out.stderr
        assert peak_kib < 64 * 1024, peak_kib
        assert_matches_package(store / "current", pkg)


def test_publish_reads_the_shared_option_table(store, pkg_a, tmp_path):
    """publish parses its options with the table every other command
    uses (cli/config.c): a --config file sets its limits too, and the
    command line wins over the file."""
    conf = tmp_path / "ingest.conf"
    conf.write_text("# publish takes the same keys\nmax-entries = 3\n")
    r = publish(store, pkg_a, "--config", str(conf))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert ": too_many_entries: " in r.stderr, r.stderr
    assert not (store / "current").exists()

    r = publish(store, pkg_a, "--config", str(conf), "--max-entries",
                "100000", "-q")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert (store / "current").exists()

    # one file serves every command: keys of other commands are passed
    # over, unknown keys and bad values are refused
    conf.write_text("drop = /srv/drop\n")
    assert publish(store, pkg_a, "--config", str(conf)).returncode == 0
    conf.write_text("max-entries = many\n")
    r = publish(store, pkg_a, "--config", str(conf))
    assert r.returncode == 64, (r.stdout, r.stderr)
    assert "max-entries" in r.stderr, r.stderr
