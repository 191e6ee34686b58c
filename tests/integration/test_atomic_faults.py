"""Fault injection with strace into the users of the atomic file helper
(libprep/prep_atomic.c) in prep-ingest: the flip of STORE/current (by
prep-ingest publish) and the .reason file of quarantine (by prep-ingest
watch).  glibc's rename() is the rename syscall, which only the helper
makes (the store's own renames are renameat), so an injected EXDEV hits
the helper alone; the fsync of the directory after the flip is found by
tracing a clean run first, then injected by its ordinal.  Each failure
must be reported, leave no temp file, and (before the rename) leave the
old state whole.  ENOSPC on the helper's write is tested in
tests/unit/test_atomic.c through /dev/full.
"""

import json
import os
import re
import shutil
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
    def __init__(self, *a, inject, trace, **kw):
        super().__init__(*a, **kw)
        self.inject = inject
        self.trace = trace

    def command(self):
        return ["strace", "-f", "-qq", "-o", str(self.trace),
                "-e", "trace=rename,fsync", "-e", "inject=" + self.inject] \
            + super().command()


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
