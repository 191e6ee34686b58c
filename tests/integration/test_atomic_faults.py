"""Fault injection with strace into every user of the atomic file helper
(libprep/prep_atomic.c): `strace -e inject=SYSCALL:error=E[:when=N]`.

prep-ingest: the flip of STORE/current (publish) and, in watch, the
.reason file of quarantine, the package archive (the staged copy moved
into packages/), the sidecar copy, the quarantine move, the staging
copy and the removal of STORE/window.json.  glibc's rename() is the rename syscall, which only the helper's
replacements make (moves are renameat); each call is aimed at by its
ordinal N, found by tracing a clean run of the same scenario first
(strace counts N per process: the daemon's own process alone is
traced, or a validator child would have its own N-th call failed too).
Each failure must be reported (an event, an exit status), leave no temp
file, and before the rename leave the old state whole: the upload kept
in the drop folder to be decided again, current unchanged or the new
corte, as the step was.

nginx: strace attached to the workers (and their threads) of an
instance with the statistics state file configured; every fsync or
rename fails (or the directory's fsync only).  The failure is in the
error log as [error] with the call, the path and the errno, the state
file stays whole (its old bytes) and a restart restores from it.

ENOSPC on the helper's write is also tested in tests/unit/test_atomic.c
through /dev/full, and on a full tmpfs by test_stats_persist.py.
LeakSanitizer cannot run under ptrace: it is off here.
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess

import pytest

import prep_harness as ph
from conftest import Watch


pytestmark = [pytest.mark.needs_ingest,
              pytest.mark.skipif(shutil.which("strace") is None,
                                 reason="needs strace")]


# LeakSanitizer cannot run under ptrace
NO_LEAKS = "detect_leaks=0:abort_on_error=0"


def traced(trace, inject, args):
    inject = ["-e", "inject=" + inject] if inject else []
    return subprocess.run(
        ["strace", "-f", "-qq", "-o", str(trace),
         "-e", "trace=rename,renameat,renameat2,fsync,symlink,symlinkat,"
               "openat"] + inject + [str(ph.INGEST_BIN)] + args,
        capture_output=True, text=True, timeout=ph.INGEST_TIMEOUT,
        env=dict(os.environ, ASAN_OPTIONS=NO_LEAKS))


def leftovers(store):
    return [n for n in os.listdir(store) if ".tmp-" in n] + \
        [n for n in os.listdir(store / "cortes") if n.startswith(".")]


@pytest.fixture
def stores(tmp_path, pkg_a, pkg_b):
    """A store with pkg_a live, ready for pkg_b."""
    store = tmp_path / "store"
    store.mkdir()
    ph.run_ingest(["publish", "--store", str(store), os.fspath(pkg_a)])
    return store


def test_exdev_on_the_flip_keeps_current(stores, pkg_b, tmp_path):
    store = stores
    live = os.readlink(store / "current")
    trace = tmp_path / "strace.out"

    r = traced(trace, "rename:error=EXDEV",
               ["publish", "--store", str(store), os.fspath(pkg_b)])
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert re.search(r"current .*Invalid cross-device link", r.stderr), \
        r.stderr
    text = trace.read_text()
    assert "EXDEV (Invalid cross-device link) (INJECTED)" in text, \
        text[-2000:]

    assert os.readlink(store / "current") == live
    assert leftovers(store) == [], leftovers(store)


def test_eio_on_the_fsync_after_the_flip_is_reported(stores, pkg_b,
                                                     tmp_path):
    store = stores
    clean = tmp_path / "clean"
    shutil.copytree(store, clean, symlinks=True)

    # a clean run: which fsync follows the rename of current
    trace = tmp_path / "strace.clean"
    r = traced(trace, None,
               ["publish", "--store", str(clean), os.fspath(pkg_b)])
    assert r.returncode == 0, r.stderr
    calls = [l for l in trace.read_text().splitlines()
             if re.search(r"\b(rename|fsync)\(", l)]
    at = next(i for i, l in enumerate(calls)
              if re.search(r"\brename\(.*current", l))
    ordinal = sum(1 for l in calls[:at + 1] if "fsync(" in l) + 1
    assert any("fsync(" in l for l in calls[at + 1:]), calls

    trace = tmp_path / "strace.out"
    r = traced(trace, "fsync:error=EIO:when=%d" % ordinal,
               ["publish", "--store", str(store), os.fspath(pkg_b)])
    text = trace.read_text()
    assert "EIO (Input/output error) (INJECTED)" in text, text[-2000:]
    # the flip happened but may not survive a crash: a failure, said
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert re.search(r"current .*Input/output error", r.stderr), r.stderr
    assert leftovers(store) == [], leftovers(store)


class TracedWatch(Watch):
    """prep-ingest watch under strace (-f: its children too); -y names
    the file of each descriptor, so a call is found by the directory it
    works in."""

    def __init__(self, *a, inject, trace, calls="rename,fsync", follow=True,
                 **kw):
        super().__init__(*a, **kw)
        self.inject = inject
        self.trace = trace
        self.calls = calls
        self.follow = follow

    def command(self):
        inject = ["-e", "inject=" + self.inject] if self.inject else []
        follow = ["-f"] if self.follow else []
        return ["strace"] + follow + ["-qq", "-y", "-o", str(self.trace),
                                      "-e", "trace=" + self.calls] \
            + inject + super().command()


def test_exdev_on_the_reason_file_keeps_the_upload(tmp_path):
    store = tmp_path / "store"
    trace = tmp_path / "strace.out"
    w = TracedWatch(tmp_path, store, inject="rename:error=EXDEV",
                    trace=trace, env={"ASAN_OPTIONS": NO_LEAKS})
    w.start()
    try:
        bad = w.drop / "20240603_0030_bad.tar.gz"
        bad.write_bytes(b"not a package at all" * 10)
        ev = w.wait_event("failed", timeout=60)
        assert "Invalid cross-device link" in json.dumps(ev), ev
        # the upload is kept, to be decided again; no temp .reason left
        assert bad.exists()
        q = store / "quarantine"
        assert not [n for n in os.listdir(q) if ".tmp-" in n], \
            os.listdir(q)
    finally:
        w.kill()
    assert "EXDEV (Invalid cross-device link) (INJECTED)" in \
        trace.read_text()


# ------------------------------------------- the daemon's package archive

FAST = ["--rescan-interval", "0.5", "--incomplete-timeout", "3"]


def put(w, src, name=None, data=None):
    """An upload arrives whole: written under a dot name, renamed in."""
    name = name or src.name
    tmp = w.drop / (".%s.part" % name)
    tmp.write_bytes(src.read_bytes() if data is None else data)
    os.rename(tmp, w.drop / name)


def put_with_sidecar(w, pkg):
    digest = hashlib.sha256(pkg.path.read_bytes()).hexdigest()
    put(w, pkg.path, name=pkg.path.name + ".sha256",
        data=("%s  %s\n" % (digest, pkg.path.name)).encode())
    put(w, pkg.path)


def stop_traced(w):
    """SIGTERM to the daemon itself: strace ends with it, its output
    complete."""
    for pid in ph._children(w.proc.pid):
        os.kill(pid, signal.SIGTERM)
    w.proc.wait(timeout=30)


def traced_run(base, inject, calls, drop, until):
    """A prep-ingest watch on its own drop folder and store under base,
    under strace; drop(w) makes the upload arrive, until(w) waits for
    its outcome.  Returns (w, until's result, the trace), the daemon
    stopped.  Only the daemon's own process is traced: strace counts
    when= per process, and a validator child would have its own N-th
    call failed too."""
    base.mkdir()
    w = TracedWatch(base, base / "store", inject=inject,
                    trace=base / "strace.out", calls=calls, args=FAST,
                    follow=False, env={"ASAN_OPTIONS": NO_LEAKS})
    return run_traced(w, base, drop, until)


def run_traced(w, base, drop, until):
    """Starts the traced watch w, drop(w), until(w); stops it, with no
    sanitizer report.  Returns (w, until's result, the trace)."""
    w.start()
    try:
        drop(w)
        out = until(w)
    except BaseException:
        w.kill()
        raise
    stop_traced(w)
    assert w.sanitizer_reports() == [], w.stderr_text()[-3000:]
    return w, out, (base / "strace.out").read_text()


# "PID call(" with -f, "call(" without
CALL = re.compile(r"^(?:(\d+) +)?(\w+)\(")


def ordinal(trace, syscall, match, after=None):
    """The invocation number of the call to syscall that match (a regex)
    finds, counted per process as strace's when= counts them; with
    after, the first such call following a line that after finds, in
    the same process.  Returns (pid, number)."""
    counts, armed = {}, set()
    for line in trace.splitlines():
        m = CALL.match(line)
        if not m:
            continue
        pid, name = m.group(1), m.group(2)
        if after is not None and re.search(after, line):
            armed.add(pid)
        if name != syscall:
            continue
        counts[pid] = counts.get(pid, 0) + 1
        if re.search(match, line) and (after is None or pid in armed):
            return pid, counts[pid]
    raise AssertionError("no %s(%s) in the clean trace:\n%s"
                         % (syscall, match, trace[-3000:]))


def last_before(trace, syscall, match, before):
    """The invocation number of the last call to syscall that match finds
    before the line that before finds, in the same process."""
    counts, found = {}, {}
    for line in trace.splitlines():
        m = CALL.match(line)
        if not m:
            continue
        pid, name = m.group(1), m.group(2)
        if re.search(before, line) and pid in found:
            return pid, found[pid]
        if name != syscall:
            continue
        counts[pid] = counts.get(pid, 0) + 1
        if re.search(match, line):
            found[pid] = counts[pid]
    raise AssertionError("no %s(%s) before %s in the clean trace"
                         % (syscall, match, before))


# the archive's move, the staged copy's fsync, the directory's after it
INTO_PACKAGES = (r'^(?:\d+ +)?renameat\(\d+<[^>]*/staging>, "[^"]+", '
                 r'\d+<[^>]*/packages>, "[^"]+\.tar\.gz"\)')
STAGED = r"<[^>]*/staging/\.tmp-[^>]*>"
PACKAGES_DIR = r"\(\d+<[^>]*/packages>\)"
SIDECAR_TMP = r"<[^>]*/packages/\.[^>/]*\.sha256\.tmp-[^>]*>"
SIDECAR_RENAME = r'rename\("[^"]*/\.[^"/]*\.sha256\.tmp-'
INTO_QUARANTINE = (r'renameat\(\d+<[^>]*/staging>, "[^"]+", '
                   r'\d+<[^>]*/quarantine>, ')


def published(w, pkg):
    return w.wait_event("published", file=pkg.path.name, timeout=60)


def temps(store):
    """Temp files left anywhere in the store."""
    out = []
    for root, dirs, files in os.walk(store):
        out += [os.path.join(root, n) for n in files + dirs
                if ".tmp-" in n or (n.startswith(".tmp") and
                                    root.endswith("staging"))]
    return out


def clean_trace(tmp_path, calls, pkg, sidecar=False):
    drop = (lambda w: put_with_sidecar(w, pkg)) if sidecar else \
        (lambda w: put(w, pkg.path))

    def until(w):
        published(w, pkg)
        ph.wait_for(lambda: not list(w.drop.iterdir()), 30,
                    "an empty drop")
    return traced_run(tmp_path / "clean", None, calls, drop, until)[2]


def assert_injected(trace, error, call):
    """The fault hit the call aimed at, once."""
    hit = [l for l in trace.splitlines()
           if l.endswith("%s (INJECTED)" % error)]
    assert len(hit) == 1 and re.search(call, hit[0]), (hit, trace[-3000:])


@pytest.mark.parametrize("fault", ["exdev_on_the_move",
                                   "eio_on_the_fsync_of_the_copy"])
def test_archive_fault_before_the_move_keeps_the_upload(tmp_path, pkg_a,
                                                        fault):
    calls = "renameat,fsync"
    trace = clean_trace(tmp_path, calls, pkg_a)
    if fault == "exdev_on_the_move":
        pid, n = ordinal(trace, "renameat", INTO_PACKAGES)
        inject, error = "renameat:error=EXDEV:when=%d" % n, \
            "EXDEV (Invalid cross-device link)"
        call = INTO_PACKAGES
    else:
        pid, n = last_before(trace, "fsync", STAGED, INTO_PACKAGES)
        inject, error = "fsync:error=EIO:when=%d" % n, \
            "EIO (Input/output error)"
        call = r"fsync\(\d+" + STAGED

    def until(w):
        ev = w.wait_event("archive_failed", timeout=60)
        pub = published(w, pkg_a)
        return ev, pub

    w, (ev, pub), trace = traced_run(tmp_path / "fault", inject, calls,
                                     lambda w: put(w, pkg_a.path), until)
    assert_injected(trace, error, call)
    assert error.split("(")[1].rstrip(")") in ev["error"], ev
    assert "stays in the drop folder" in ev["msg"], ev
    # published and current, but the upload is still the one copy
    assert pub["snapshot"] == w.current()
    assert (w.drop / pkg_a.path.name).read_bytes() == \
        pkg_a.path.read_bytes()
    assert not [n for n in os.listdir(w.store / "packages")
                if n.endswith(".tar.gz")]
    assert temps(w.store) == [], temps(w.store)


def test_archive_eio_on_the_directory_fsync_is_said(tmp_path, pkg_a):
    calls = "renameat,fsync"
    trace = clean_trace(tmp_path, calls, pkg_a)
    pid, n = ordinal(trace, "fsync", PACKAGES_DIR, after=INTO_PACKAGES)

    def until(w):
        ev = w.wait_event("archive_failed", timeout=60)
        ph.wait_for(lambda: not list(w.drop.iterdir()), 30,
                    "an empty drop")
        return ev, published(w, pkg_a)

    w, (ev, pub), trace = traced_run(tmp_path / "fault",
                                     "fsync:error=EIO:when=%d" % n, calls,
                                     lambda w: put(w, pkg_a.path), until)
    assert_injected(trace, "EIO (Input/output error)",
                    r"fsync" + PACKAGES_DIR)
    assert "Input/output error" in ev["error"], ev
    assert "is in packages/" in ev["msg"], ev
    # the move itself happened: kept, out of the drop, current is new
    kept = w.store / "packages" / (pub["snapshot"][:-5] + ".tar.gz")
    assert kept.read_bytes() == pkg_a.path.read_bytes()
    assert pub["snapshot"] == w.current()
    assert temps(w.store) == [], temps(w.store)


@pytest.mark.parametrize("fault", ["enospc_on_write", "exdev_on_rename"])
def test_sidecar_copy_fault_is_said(tmp_path, pkg_a, fault):
    calls = "write,rename,renameat,fsync"
    trace = clean_trace(tmp_path, calls, pkg_a, sidecar=True)
    if fault == "enospc_on_write":
        pid, n = ordinal(trace, "write", SIDECAR_TMP)
        inject, error = "write:error=ENOSPC:when=%d" % n, \
            "ENOSPC (No space left on device)"
        call = r"write\(\d+" + SIDECAR_TMP
    else:
        pid, n = ordinal(trace, "rename", SIDECAR_RENAME)
        inject, error = "rename:error=EXDEV:when=%d" % n, \
            "EXDEV (Invalid cross-device link)"
        call = SIDECAR_RENAME

    side = pkg_a.path.name + ".sha256"

    def until(w):
        ev = w.wait_event("archive_failed", timeout=60)
        ph.wait_for(lambda: os.listdir(w.drop) == [side], 30,
                    "a drop holding only the sidecar")
        return ev, published(w, pkg_a)

    w, (ev, pub), trace = traced_run(
        tmp_path / "fault", inject, calls,
        lambda w: put_with_sidecar(w, pkg_a), until)
    assert_injected(trace, error, call)
    assert error.split("(")[1].rstrip(")") in ev["error"], ev
    assert "sidecar could not be copied" in ev["msg"], ev
    assert "stays in the drop folder" in ev["msg"], ev
    # the package is kept, its sidecar is not: no half-written one; the
    # sidecar, not copied, stays in the drop folder, whole
    name = pub["snapshot"][:-5] + ".tar.gz"
    assert sorted(os.listdir(w.store / "packages")) == [name]
    assert (w.drop / side).read_text().split() == [
        hashlib.sha256(pkg_a.path.read_bytes()).hexdigest(),
        pkg_a.path.name]
    assert pub["snapshot"] == w.current()
    assert temps(w.store) == [], temps(w.store)


def test_exdev_on_the_quarantine_move_keeps_the_upload(tmp_path):
    calls = "renameat,rename,fsync"
    bad = b"not a package at all" * 10
    name = "20240603_0030_bad.tar.gz"

    def drop(w):
        (w.drop / name).write_bytes(bad)

    def quarantined(w):
        w.wait_event("rejected", timeout=60)
        ph.wait_for(lambda: not list(w.drop.iterdir()), 30,
                    "an empty drop")
    trace = traced_run(tmp_path / "clean", None, calls, drop,
                       quarantined)[2]
    pid, n = ordinal(trace, "renameat", INTO_QUARANTINE)

    def failed(w):
        return w.wait_event("failed", timeout=60)

    w, ev, trace = traced_run(tmp_path / "fault",
                              "renameat:error=EXDEV:when=%d" % n, calls,
                              drop, failed)
    assert_injected(trace, "EXDEV (Invalid cross-device link)",
                    INTO_QUARANTINE)
    assert "Invalid cross-device link" in json.dumps(ev), ev
    # the upload is kept, to be decided again; nothing half-quarantined
    assert (w.drop / name).read_bytes() == bad
    assert os.listdir(w.store / "quarantine") == []
    assert temps(w.store) == [], temps(w.store)


def test_enospc_on_the_staging_copy_is_retried(tmp_path, pkg_a):
    calls = "write,renameat,fsync"
    trace = clean_trace(tmp_path, calls, pkg_a)
    pid, n = ordinal(trace, "write", STAGED)

    def until(w):
        ev = w.wait_event("failed", timeout=60)
        pub = published(w, pkg_a)          # the retry succeeds
        ph.wait_for(lambda: not list(w.drop.iterdir()), 30,
                    "an empty drop")
        return ev, pub

    w, (ev, pub), trace = traced_run(tmp_path / "fault",
                                     "write:error=ENOSPC:when=%d" % n,
                                     calls, lambda w: put(w, pkg_a.path),
                                     until)
    assert_injected(trace, "ENOSPC (No space left on device)",
                    r"write\(\d+" + STAGED)
    assert "No space left on device" in ev["message"], ev
    assert pub["snapshot"] == w.current()
    assert temps(w.store) == [], temps(w.store)


# ------------------------------------------- the window file's removal

WINDOW_UNLINK = r'unlinkat\(\d+<[^>]*/store>, "window\.json"'
STORE_DIR = r"fsync\(\d+<[^>]*/store>\)"


def window_run(base, inject, until):
    """A watch without --publish-from or --keep-until on a store that
    still holds window.json from an earlier run: it removes the file at
    start (ops/window_state.c), under strace."""
    base.mkdir()
    store = base / "store"
    store.mkdir()
    (store / "window.json").write_text(
        '{"publish_from":null,"publish_from_unix":null,'
        '"keep_until":"2099-01-01T00:00:00+00:00",'
        '"keep_until_unix":4070908800}\n')
    w = TracedWatch(base, store, inject=inject, trace=base / "strace.out",
                    calls="unlinkat,fsync", args=FAST, follow=False,
                    env={"ASAN_OPTIONS": NO_LEAKS})
    return run_traced(w, base, lambda w: None, until)


@pytest.mark.parametrize("fault", ["eio_on_the_directory_fsync",
                                   "eperm_on_the_unlink"])
def test_window_file_removal_fault_is_said(tmp_path, fault):
    def gone(w):
        ph.wait_for(lambda: not (w.store / "window.json").exists(), 30,
                    "window.json removed")

    trace = window_run(tmp_path / "clean", None, gone)[2]
    if fault == "eio_on_the_directory_fsync":
        pid, n = ordinal(trace, "fsync", STORE_DIR, after=WINDOW_UNLINK)
        inject, error, call = "fsync:error=EIO:when=%d" % n, \
            "EIO (Input/output error)", STORE_DIR
    else:
        pid, n = ordinal(trace, "unlinkat", WINDOW_UNLINK)
        inject, error, call = "unlinkat:error=EPERM:when=%d" % n, \
            "EPERM (Operation not permitted)", WINDOW_UNLINK

    def said(w):
        return w.wait_event("window_failed", timeout=60)

    w, ev, trace = window_run(tmp_path / "fault", inject, said)
    assert_injected(trace, error, call)
    assert ev["level"] == "warning" and ev["file"] == "window.json", ev
    assert ev["error"] == error.split("(")[1].rstrip(")"), ev
    assert not w.events("window")
    if fault == "eio_on_the_directory_fsync":
        # removed all the same, but a crash could bring it back
        assert "not durably" in ev["msg"], ev
        assert not (w.store / "window.json").exists()
    else:
        assert "cannot be removed" in ev["msg"], ev
        assert (w.store / "window.json").exists()


# -------------------------------------------- the module's state file

# the state file written in the event loop, or in a thread pool
SAVERS = {
    "inline": {},
    "thread": {"state": "stats.state thread_pool=prep_stats",
               "main_extra": "thread_pool prep_stats threads=1;"},
}

# fault: (injection, the call it must hit, what nginx's error log says,
# PATH keeps its bytes); each process counts its own calls
STATE_FAULTS = {
    "eio_on_fsync": (
        "fsync:error=EIO",
        r'fsync\(\d+<[^>]*/\.stats\.state\.tmp-',
        r'fsync\(\) of a temp file for "[^"]*/stats\.state" failed '
        r'\(5: Input/output error\)', True),
    # the first rename of a save makes PATH.prev
    "exdev_on_the_prev_rename": (
        "rename:error=EXDEV",
        r'rename\("[^"]*/\.stats\.state\.prev\.tmp-[^"]*", '
        r'"[^"]*/stats\.state\.prev"\)',
        r'rename\(\) of a temp file for "[^"]*/stats\.state" failed '
        r'\(18: Invalid cross-device link\)', True),
    # the second one puts the new file in place (and every later one
    # fails, so that no save succeeds meanwhile)
    "exdev_on_the_rename_over_path": (
        "rename:error=EXDEV:when=2+",
        r'rename\("[^"]*/\.stats\.state\.tmp-[^"]*", '
        r'"[^"]*/stats\.state"\)',
        r'rename\(\) of a temp file for "[^"]*/stats\.state" failed '
        r'\(18: Invalid cross-device link\)', True),
    # the second fsync of each process is its first save's directory:
    # the new file is in place, not known to be durable
    "eio_on_the_directory_fsync": (
        "fsync:error=EIO:when=2",
        r'fsync\(\d+<[^>]*/nginx\d+>\)',
        r'fsync\(\) "[^"]*/nginx\d+" failed \(5: Input/output error\)',
        False),
}


def state_traffic(inst, n, prefix):
    for i in range(n):
        assert inst.get("/index.html", {
            "X-Forwarded-For": "%s.%d" % (prefix, i),
            "User-Agent": "faults"}).status == 200


class Attached:
    """strace -f attached to running processes (nginx's workers and their
    threads), injecting a fault until they exit."""

    def __init__(self, pids, inject, trace):
        cmd = ["strace", "-f", "-qq", "-y", "-o", str(trace),
               "-e", "trace=fsync,rename,link,openat",
               "-e", "inject=" + inject]
        for pid in pids:
            cmd += ["-p", str(pid)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        ph.wait_for(lambda: all(self.traced(p) for p in pids), 15,
                    "strace to attach to %s" % pids)

    def traced(self, pid):
        if self.proc.poll() is not None:
            raise ph.HarnessError("strace exited: %s"
                                  % self.proc.stderr.read()[-2000:])
        tracers = set()
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/status" % (pid, task)) as f:
                tracers |= {l.split()[1] for l in f
                            if l.startswith("TracerPid:")}
        return tracers == {str(self.proc.pid)}

    def wait(self):
        """strace ends when its last tracee has exited."""
        self.proc.wait(timeout=30)


@pytest.mark.needs_module
@pytest.mark.parametrize("saver", sorted(SAVERS))
@pytest.mark.parametrize("fault", sorted(STATE_FAULTS))
def test_state_file_fault(stats_nginx, stats, tmp_path, saver, fault):
    inject, call, said, kept = STATE_FAULTS[fault]
    inst = stats_nginx(timeout="10m", interval="1s", **SAVERS[saver])
    state = inst.prefix / "stats.state"

    state_traffic(inst, 10, "10.31.0")
    stats.wait_hits(inst, 10 + stats.probes)
    stats.wait_saved(inst)
    saved = state.read_bytes()
    before = stats.status(inst)

    trace = tmp_path / "strace.out"
    tracer = Attached(inst.worker_pids(), inject, trace)
    try:
        state_traffic(inst, 6, "10.32.0")
        s = stats.wait(inst, lambda s: s["state"]["errors"] >= 1,
                       "a failed save")
        if kept:
            # readable at every moment, and whole: the old bytes (temp
            # files come and go meanwhile: saves are tried every second)
            assert state.read_bytes() == saved
        inst.quit()                 # the exiting workers save once more
    finally:
        if inst.running:
            inst.kill()
        tracer.wait()

    hit = [l for l in trace.read_text().splitlines()
           if l.endswith("(INJECTED)")]
    assert [l for l in hit if re.search(call, l)], hit
    assert re.search(said, s["state"]["last_error"]), s["state"]
    log = inst.log_text()
    if kept:
        line = r'not saved: %s; the previous one is kept' % said
    else:
        line = r'written but perhaps not durably: %s' % said
    assert re.search(r'\[error\] .*prep stats: state file "[^"]*/stats\.'
                     r'state" ' + line, log), log[-3000:]
    assert not [n for n in os.listdir(inst.prefix) if ".tmp-" in n]
    if kept:
        assert state.read_bytes() == saved

    # the file left is whole and loadable: a restart restores from it
    inst.start()
    hits = before["totals"]["hits"] + (0 if kept else 6) + stats.probes
    after = stats.wait_hits(inst, hits)
    assert after["state"]["restored_from"].endswith("/stats.state"), after
    assert after["totals"]["hits"] == hits, after["totals"]


# ------------------------------------------- the snapshot's commit

INTO_CORTES = (r'renameat\(\d+<[^>]*/cortes>, "[^"]+", \d+<[^>]*/cortes>, '
               r'"[^"]+\.snap"\)')


@pytest.mark.parametrize("fault", ["exdev_on_the_rename",
                                   "eio_on_the_directory_fsync"])
def test_snapshot_commit_fault_keeps_current(stores, pkg_b, tmp_path,
                                             fault):
    store = stores
    live = os.readlink(store / "current")
    clean = tmp_path / "clean"
    shutil.copytree(store, clean, symlinks=True)

    def run(where, inject):
        trace = tmp_path / ("strace.%s" % ("fault" if inject else "clean"))
        r = subprocess.run(
            ["strace", "-f", "-qq", "-y", "-o", str(trace),
             "-e", "trace=renameat,fsync"]
            + (["-e", "inject=" + inject] if inject else [])
            + [str(ph.INGEST_BIN), "publish", "--store", str(where),
               os.fspath(pkg_b)],
            capture_output=True, text=True, timeout=ph.INGEST_TIMEOUT,
            env=dict(os.environ, ASAN_OPTIONS=NO_LEAKS))
        return r, trace.read_text()

    r, trace = run(clean, None)
    assert r.returncode == 0, r.stderr
    if fault == "exdev_on_the_rename":
        pid, n = ordinal(trace, "renameat", INTO_CORTES)
        inject, error, call = "renameat:error=EXDEV:when=%d" % n, \
            "EXDEV (Invalid cross-device link)", INTO_CORTES
    else:
        pid, n = ordinal(trace, "fsync", r"fsync\(\d+<[^>]*/cortes>\)",
                         after=INTO_CORTES)
        inject, error, call = "fsync:error=EIO:when=%d" % n, \
            "EIO (Input/output error)", r"fsync\(\d+<[^>]*/cortes>\)"

    r, trace = run(store, inject)
    assert_injected(trace, error, call)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert re.search(r"committing .*%s" % error.split("(")[1].rstrip(")"),
                     r.stderr), r.stderr
    # current is not flipped to a snapshot that may not survive a crash
    assert os.readlink(store / "current") == live
    assert leftovers(store) == [], leftovers(store)


@pytest.mark.needs_module
def test_state_file_busy_while_another_writer_holds_the_lock(stats_nginx,
                                                             stats):
    """Another nginx (a binary upgrade) saving to the same file holds
    PATH.lock: a save then is skipped, said at [info], no error, and the
    next one after the lock is released succeeds."""
    inst = stats_nginx(timeout="10m", interval="1s")
    state = inst.prefix / "stats.state"
    state_traffic(inst, 4, "10.33.0")
    stats.wait_hits(inst, 4 + stats.probes)
    stats.wait_saved(inst)
    saved = state.read_bytes()

    fd = os.open(str(state) + ".lock", os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        state_traffic(inst, 4, "10.34.0")
        ph.wait_for(lambda: re.search(
            r'\[info\] .*prep stats: not saved this time: "[^"]*/stats\.'
            r'state" is being written by another process',
            inst.log_text()), 15, "a save skipped for the lock")
        s = stats.status(inst)
        assert s["state"]["errors"] == 0, s["state"]
        assert state.read_bytes() == saved
    finally:
        os.close(fd)                # the lock goes with it

    s = stats.wait(inst, lambda s: s["totals"]["hits"] >= 8 + stats.probes
                   and s["state"]["saves"] > 0
                   and state.read_bytes() != saved, "a save after the lock")
    assert not [n for n in os.listdir(inst.prefix) if ".tmp-" in n]


# ------------------------------------------- a rejected notice's copy

NOTICE_TMP = r"<[^>]*/quarantine/\.[^>/]*AVISO\.html\.tmp-[^>]*>"


def test_enospc_on_the_copy_of_a_rejected_notice_keeps_it(tmp_path):
    """A notice that is not HTML is kept in quarantine/ through the
    helper: a copy that cannot be written leaves the notice in the drop
    folder, and it is copied again."""
    calls = "write,rename,renameat,fsync"
    data = b"\x00\x01binary"

    def drop(w):
        put(w, None, name="AVISO.html", data=data)

    def rejected(w):
        ev = w.wait_event("notice_rejected", timeout=60)
        ph.wait_for(lambda: not list(w.drop.iterdir()), 30,
                    "an empty drop")
        return ev

    trace = traced_run(tmp_path / "clean", None, calls, drop, rejected)[2]
    pid, n = ordinal(trace, "write", NOTICE_TMP)

    def retried(w):
        ph.wait_for(lambda: "cannot be kept in quarantine" in
                    w.stderr_text(), 30, "the failed copy said")
        return rejected(w)

    w, ev, trace = traced_run(tmp_path / "fault",
                              "write:error=ENOSPC:when=%d" % n, calls,
                              drop, retried)
    assert_injected(trace, "ENOSPC (No space left on device)",
                    r"write\(\d+" + NOTICE_TMP)
    assert "No space left on device" in w.stderr_text()
    # the second copy is whole, and the only one
    assert sorted(os.listdir(w.store / "quarantine")) == [ev["quarantine"]]
    assert (w.store / "quarantine" / ev["quarantine"]).read_bytes() == data
    assert temps(w.store) == [], temps(w.store)
