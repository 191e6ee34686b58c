"""Faults of issue 3, section 4, and the daemon's memory bound.

* kill -9 at every step of a publication (and of a rejection, and of the
  hook), made deterministic with PREP_INGEST_FAULT: the daemon _exit()s
  with 137 exactly there.  After a restart: current is a complete,
  verified snapshot (old or new), no temporary file is left, the package
  is published exactly once, nothing dropped is lost.
* disk full while building (a small tmpfs as the store): a clean abort,
  the live corte stays, the space is given back, the event is logged, and
  the package goes through once there is room.
* nginx down or its control socket missing: the corte still becomes
  current, the failure is logged and retried until nginx serves it.
* the peak memory of the daemon and of its validator child stays under
  64 MiB for full-size packages (release build).
"""

import fcntl
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

import pytest

import prep_harness as ph


pytestmark = [pytest.mark.needs_module, pytest.mark.needs_ingest]

FAST = ["--rescan-interval", "0.5", "--hook-retry-delay", "0.1",
        "--incomplete-timeout", "2"]

HEADER = struct.Struct("<8sIIIIQQQIIQQQIiqq32s64s32s24x")


def verify_snapshot(path):
    """Header, index and data CRCs, as PREP_SNAP_VERIFY_DATA does."""
    data = path.read_bytes()
    f = HEADER.unpack_from(data, 0)
    (magic, _, _, _, header_crc, file_size, data_off, data_size, data_crc,
     count, index_off, strings_off, strings_size, index_crc) = f[:14]
    assert magic == b"PREPSNAP" and file_size == len(data), path
    head = bytearray(data[:256])
    head[20:24] = b"\0\0\0\0"
    assert zlib.crc32(bytes(head)) == header_crc, path
    crc = zlib.crc32(data[index_off:index_off + 64 * count])
    crc = zlib.crc32(data[strings_off:strings_off + strings_size], crc)
    assert crc == index_crc, path
    assert zlib.crc32(data[data_off:data_off + data_size]) == data_crc, path
    return f[17].rstrip(b"\0").decode()     # corte_id


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def leftovers(store):
    out = [n for n in os.listdir(store / "cortes") if n.startswith(".")]
    out += [n for n in os.listdir(store) if n.startswith(".current.tmp")]
    out += os.listdir(store / "staging")
    return out


PUBLISH_POINTS = ["after_seen", "after_stage", "during_build",
                  "after_snapshot_write", "after_snapshot_rename",
                  "after_flip", "after_reload", "after_published_event",
                  "after_archive"]


@pytest.mark.parametrize("point", PUBLISH_POINTS)
def test_kill9_while_publishing(nginx_factory, watch_factory, packages,
                                point):
    a, b = packages.series(2)
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST)
    w.drop_file(a)
    w.wait_event("published", corte_id=a.id)
    w.stop()

    # the daemon dies at the point, as if killed with SIGKILL
    w.env = {"PREP_INGEST_FAULT": point}
    w.start()
    w.drop_file(b)
    assert w.wait_exit(timeout=60) == 137
    assert "PREP_INGEST_FAULT=%s" % point in w.stderr_text()

    # whatever the point: current is complete and verifies
    corte = verify_snapshot(w.store / "current")
    assert corte in (a.id, b.id)
    expect_new = PUBLISH_POINTS.index(point) >= \
        PUBLISH_POINTS.index("after_flip")
    assert corte == (b.id if expect_new else a.id), (point, corte)
    # the validator child died with the daemon
    _wait_gone(w)

    # restart: finishes the job, once
    w.env = {}
    w.start()
    w.wait_event("published", corte_id=b.id) if not \
        w.events("published")[1:] else None
    ph.wait_for(lambda: nginx.get("/index.html").corte == b.iso, 20,
                "nginx to serve the new corte")
    ph.wait_for(lambda: not list(w.drop.iterdir()), 10, "an empty drop")
    start = w.events("start")[-1]
    assert start["cleaned_staging"] + start["cleaned_tmp"] >= 0
    assert leftovers(w.store) == []

    published = [e for e in w.events("published")
                 if e["sha256"] == sha256(b.path)]
    assert len(published) == 1, published
    if point in ("after_flip", "after_reload"):
        assert published[0]["resumed"] is True
    if point in ("after_published_event", "after_archive"):
        assert w.events("duplicate")[-1]["sha256"] == sha256(b.path)
    assert verify_snapshot(w.store / "current") == b.id
    kept = w.store / "packages" / published[0]["snapshot"].replace(
        ".snap", ".tar.gz")
    assert kept.read_bytes() == b.path.read_bytes()
    snaps = [n for n in os.listdir(w.store / "cortes")]
    assert sorted(s[:13] for s in snaps) == [a.id, b.id]


def _processes_of(w):
    """Live processes running this daemon's command line."""
    mine = "\0".join(w.command()).encode()
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read()
            with open("/proc/%s/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if cmd.startswith(mine) and state != "Z":
            out.append(int(pid))
    return out


def _lock_free(w):
    """Nothing holds the store's watch lock (taken and let go at once)."""
    fd = os.open(w.store / ".watch.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _wait_gone(w):
    """Until no copy of the dead daemon (a forked child not yet exec'd
    or exited) is left, nor its lock: an exiting process lets go of its
    memory, and so of its command line, before its files."""
    ph.wait_for(lambda: not _processes_of(w) and _lock_free(w), 10,
                "no process of the dead daemon left, its lock free")


def _stopped(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


def test_writer_cannot_change_what_is_validated(nginx_factory,
                                                watch_factory, packages):
    """Row 43: the daemon is stopped right after its private copy; the
    upload is then overwritten in place with another package.  What is
    published is the copy; the new content is a new candidate."""
    a, b = packages.series(2)
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST,
                      env={"PREP_INGEST_PAUSE": "after_stage"})
    name = "corte.tar.gz"
    target = w.drop_file(a, name=name)
    ph.wait_for(lambda: _stopped(w.proc.pid), 20, "the pause point")

    with open(target, "r+b") as f:          # same inode, new bytes
        f.write(b.path.read_bytes())
        f.truncate()
    os.kill(w.proc.pid, signal.SIGCONT)

    ev = w.wait_event("published", corte_id=a.id)
    assert ev["sha256"] == sha256(a.path)
    assert nginx.get("/index.html").corte == a.iso

    # the changed upload stays and is taken next (pausing again: resume)
    ph.wait_for(lambda: _stopped(w.proc.pid), 20, "the second pause")
    os.kill(w.proc.pid, signal.SIGCONT)
    ev = w.wait_event("published", corte_id=b.id)
    assert ev["sha256"] == sha256(b.path)
    assert [e["corte_id"] for e in w.events("published")] == [a.id, b.id]


def test_upload_finished_during_the_copy(nginx_factory, watch_factory,
                                         pkg_a):
    """The daemon takes the stamp of an upload halfway through, and is
    stopped there (after_seen); the rest arrives and the writer closes
    before its copy is made, so the copy is not of the file it stamped
    ("changed while it was copied").  The complete file was never
    looked at: the writer's close must make the daemon look again and
    publish it, not take it for unchanged and quarantine it as
    truncated after --incomplete-timeout (seen under load when an
    upload's IN_CREATE was read while the upload was being written)."""
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST,
                      env={"PREP_INGEST_PAUSE": "after_seen"})
    data = pkg_a.path.read_bytes()
    half = len(data) // 2
    name = pkg_a.path.name
    tmp = w.drop / (".%s.upload" % name)     # a name the daemon ignores

    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        assert os.write(fd, data[:half]) == half
        os.rename(tmp, w.drop / name)        # still open for writing
        ph.wait_for(lambda: _stopped(w.proc.pid), 20, "the pause point")
        assert os.write(fd, data[half:]) == len(data) - half
    finally:
        os.close(fd)
    os.kill(w.proc.pid, signal.SIGCONT)

    ev = w.wait_event("incomplete", file=name)
    assert ev["reason"] == "truncated"
    assert "changed while it was copied" in ev["message"], ev

    # each later look stops at the pause point again: resume it
    def outcome():
        if _stopped(w.proc.pid):
            os.kill(w.proc.pid, signal.SIGCONT)
        return [e for e in w.events() if e.get("file") == name
                and e["event"] in ("published", "rejected")]
    done = ph.wait_for(outcome, 30, "a decision about %s" % name)

    assert [e["event"] for e in done] == ["published"], done
    assert done[0]["sha256"] == sha256(pkg_a.path)
    assert nginx.get("/index.html").corte == pkg_a.iso
    assert w.quarantine() == {}
    assert not _stopped(w.proc.pid)


def test_validator_crash_costs_one_package(nginx_factory, watch_factory,
                                           packages):
    """The validator child dies reading a package (as a parser bug would
    make it): the package is quarantined as validator_crash, the live
    corte stays, the daemon goes on."""
    a, b = packages.series(2)
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST)
    w.drop_file(a)
    w.wait_event("published", corte_id=a.id)
    w.stop()

    w.env = {"PREP_INGEST_FAULT": "in_validator"}
    w.start()
    m = w.mark()
    w.drop_file(b)
    ev = w.wait_event("rejected", after=m, file=b.path.name)
    assert ev["reason"] == "validator_crash", ev
    assert w.running
    assert nginx.get("/index.html").corte == a.iso
    assert leftovers(w.store) == []
    q = w.quarantine()[ev["quarantine"]]
    assert q["sha256"] == sha256(b.path)


def test_kill9_while_rejecting(nginx_factory, watch_factory, pkg_a,
                               tmp_path):
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST)
    w.drop_file(pkg_a)
    w.wait_event("published")
    w.stop()

    w.env = {"PREP_INGEST_FAULT": "after_quarantine"}
    w.start()
    bad = pkg_a.path.read_bytes() + b"garbage"
    name = "20240603_0015_bad.tar.gz"
    (w.drop / name).write_bytes(bad)
    assert w.wait_exit(timeout=60) == 137

    w.env = {}
    w.start()
    ev = w.wait_event("rejected", file=name)
    assert ev["reason"] == "trailing_garbage"
    ph.wait_for(lambda: not list(w.drop.iterdir()), 10, "an empty drop")
    # the bytes are in quarantine (a second copy if the first one was
    # made before the crash: nothing is lost, nothing decided twice)
    copies = [q for q, r in w.quarantine().items() if r["file"] == name]
    assert 1 <= len(copies) <= 2
    for q in copies:
        assert (w.store / "quarantine" / q).read_bytes() == bad
    assert len(w.events("rejected")) == 1
    assert nginx.get("/index.html").corte == pkg_a.iso


def test_kill9_while_the_hook_runs(nginx_factory, watch_factory, pkg_a,
                                   tmp_path):
    out = tmp_path / "hook.out"
    hook = "echo \"$PREP_CORTE_ID $PREP_HOOK_ATTEMPT\" >> %s" % out
    nginx = nginx_factory()
    w = watch_factory(nginx, args=FAST + ["--after-publish", hook],
                      env={"PREP_INGEST_FAULT": "after_hook_start"})
    w.drop_file(pkg_a)
    assert w.wait_exit(timeout=60) == 137
    # the hook's child is a copy of the daemon, holding the store's lock,
    # until its exec: a restart before that is refused ("another
    # prep-ingest watch runs"), and systemd's Restart= tries again
    _wait_gone(w)

    w.env = {}
    w.start()
    ev = w.wait_event("hook", ok=True)
    assert ev["resumed"] is True and ev["corte_id"] == pkg_a.id
    assert len(w.events("published")) == 1
    # at least once: the hook may have run before the crash too
    assert out.read_text().count(pkg_a.id) in (1, 2)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A directory on a tmpfs of a few MiB (root only: CI runs as root)."""
    if os.geteuid() != 0:
        pytest.fail("the disk-full test mounts a tmpfs: run as root",
                    pytrace=False)
    mounted = []

    def make(path, size):
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o",
                        "size=%s,mode=0755" % size, "tmpfs", str(path)],
                       check=True)
        mounted.append(path)
        return path

    yield make
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _used(path):
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def test_disk_full_while_building(nginx_factory, watch_factory, packages,
                                  small_tmpfs):
    a = packages.get("20240603_0015")
    # 1.5 MB that do not compress: the snapshot of b cannot fit
    noise = hashlib.sha512(b"noise").digest() * 1
    blob = bytearray()
    h = b"seed"
    while len(blob) < 1_500_000:
        h = hashlib.sha512(h).digest()
        blob += h
    b = packages.get("20240603_0030", extra={"assets/noise.bin":
                                             bytes(blob[:1_500_000])})
    del noise

    nginx = nginx_factory(start=False)
    small_tmpfs(nginx.store, "3m")
    nginx.start()
    w = watch_factory(nginx, args=FAST)
    w.drop_file(a)
    w.wait_event("published", corte_id=a.id)
    ph.wait_for(lambda: not list(w.drop.iterdir()), 5, "an empty drop")
    used = _used(w.store)

    m = w.mark()
    w.drop_file(b)
    ev = w.wait_event("failed", after=m, file=b.path.name)
    assert ev["reason"] == "nospace", ev
    assert "No space left on device" in ev["message"]
    assert ev["live_corte_id"] == a.id

    # the live corte stays, and every byte of the attempt is given back
    assert nginx.get("/index.html").corte == a.iso
    assert verify_snapshot(w.store / "current") == a.id
    assert leftovers(w.store) == []
    assert _used(w.store) <= used + 64 * 1024, (_used(w.store), used)
    assert (w.drop / b.path.name).exists()      # not lost

    # room again: the retry publishes it
    subprocess.run(["mount", "-o", "remount,size=64m", str(w.store)],
                   check=True)
    w.wait_event("published", after=m, corte_id=b.id, timeout=60)
    assert nginx.get("/index.html").corte == b.iso


def test_nginx_down_then_back(nginx_factory, watch_factory, packages,
                              tmp_path):
    a, b = packages.series(2)
    out = tmp_path / "hook.out"
    nginx = nginx_factory(start=False)
    # the control socket does not even exist yet
    w = watch_factory(nginx, args=FAST + ["--after-publish",
                                          "echo $PREP_CORTE_ID >> %s" % out])
    w.drop_file(a)
    ev = w.wait_event("published", corte_id=a.id)
    assert ev["live"] is False and ev["reload_error"]
    assert w.current() == ev["snapshot"]          # made current anyway
    fail = w.wait_event("reload_failed")
    assert fail["level"] == "alert" and fail["retry_in"] > 0
    time.sleep(0.5)
    assert not out.exists()                       # no purge before live

    nginx.start()                                 # serves current at once
    assert nginx.get("/index.html").corte == a.iso
    ev = w.wait_event("reloaded", timeout=60)
    assert ev["corte_id"] == a.id and ev["attempts"] >= 2
    w.wait_event("hook", ok=True)
    assert out.read_text() == a.id + "\n"

    # nginx stops: the next corte still becomes current, and is served
    # as soon as nginx is back
    nginx.quit()
    m = w.mark()
    w.drop_file(b)
    ev = w.wait_event("published", after=m, corte_id=b.id)
    assert ev["live"] is False
    w.wait_event("reload_failed", after=m)
    nginx.start()
    w.wait_event("reloaded", after=m, corte_id=b.id, timeout=60)
    assert nginx.get("/index.html").corte == b.iso


def _write_bomb(path, size):
    """A tar.gz of one file of `size` zero bytes (about size/1000
    compressed), written as a stream."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = bytearray(512)
    head[0:9] = b"zeros.bin"
    head[100:108] = b"0000644\0"
    head[108:124] = b"0000000\0" * 2
    head[124:136] = b"%011o\0" % size
    head[136:148] = b"%011o\0" % 1717391700
    head[156:157] = b"0"
    head[257:265] = b"ustar\x0000"
    head[148:156] = b" " * 8
    head[148:156] = b"%06o\0 " % sum(head)
    zero = b"\0" * (1 << 20)
    with open(path, "wb") as f:
        f.write(c.compress(bytes(head)))
        for _ in range(size >> 20):
            f.write(c.compress(zero))
        f.write(c.compress(b"\0" * 1024))
        f.write(c.flush())


PEAK = """
import os, sys
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.argv[1], sys.argv[1:])
print(pid, flush=True)
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, flush=True)
"""


def test_memory_bound_full_size(nginx_factory, packages, tmp_path):
    """Release build, full-size packages: the daemon (VmHWM) and its
    validator child (ru_maxrss) stay under 64 MiB, with and without a
    previous snapshot to reuse; a gzip bomb under default limits too."""
    release = ph.BUILD / "prep-ingest"
    if not os.access(release, os.X_OK):
        pytest.fail("%s is missing (make ingest)" % release, pytrace=False)
    full = packages.series(2, size="full")
    nginx = nginx_factory()
    drop = tmp_path / "drop"
    drop.mkdir()
    events = nginx.store / "events.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", PEAK, str(release), "watch", "--drop",
         str(drop), "--store", str(nginx.store), "--control",
         str(nginx.control_sock), "--rescan-interval", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        pid = int(proc.stdout.readline())
        ph.wait_for(events.exists, 20, "the daemon to start")
        for pkg in full:
            shutil.copy(pkg.path, drop / ".incoming")
            os.rename(drop / ".incoming", drop / pkg.path.name)
            ph.wait_for(lambda: pkg.id in events.read_text()
                        and '"published"' in events.read_text().split(
                            pkg.id, 1)[1], 120, "publication of " + pkg.id)
        with open("/proc/%d/status" % pid) as f:
            hwm = [int(line.split()[1]) for line in f
                   if line.startswith("VmHWM:")][0]
        assert hwm < 64 * 1024, hwm
        lines = [l for l in events.read_text().splitlines()
                 if '"event":"published"' in l]
        for line in lines:
            ev = json.loads(line)
            assert ev["validator_peak_kib"] < 64 * 1024, ev
            assert ev["daemon_peak_kib"] < 64 * 1024, ev
            assert ev["live"] is True
        assert nginx.get("/index.html").corte == full[-1].iso

        # a gzip bomb under the default limits: stopped within seconds
        # at the ratio limit, memory bounded
        bomb = tmp_path / "20240603_0045_bomb.tar.gz"
        _write_bomb(bomb, 1 << 30)
        start = time.monotonic()
        os.rename(bomb, drop / bomb.name)
        ph.wait_for(lambda: '"rejected"' in events.read_text(), 30,
                    "the bomb to be rejected")
        took = time.monotonic() - start
        ev = json.loads([l for l in events.read_text().splitlines()
                         if '"event":"rejected"' in l][0])
        assert ev["reason"] == "ratio" and took < 10, (ev, took)
        assert ev["validator_peak_kib"] < 64 * 1024, ev
    finally:
        os.kill(pid, signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].split()
    assert out[0] == "0" and int(out[1]) < 64 * 1024, out
