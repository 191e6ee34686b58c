"""The NAME.sha256 sidecar of a rejected upload, with a real prep-ingest
watch on its own drop folder and store (no nginx: nothing here is
served).

An entry that has no private copy (a symbolic link, a file over
--max-package-size) goes into quarantine itself; its sidecar is copied
next to it and must leave the drop folder too, or the next upload of the
same name would be checked against a stale hash.  A fresh good upload
of that name, with its own sidecar, is then published.

The copy of a sidecar is whole or nothing: one over 4096 bytes (the
bound the check also applies) is not copied cut, the `rejected` event
says why (`sidecar_error`) and the sidecar stays in the drop folder,
whole, whether the upload had a private copy or not.
"""

import errno
import hashlib
import os

import pytest

import prep_harness as ph


pytestmark = [pytest.mark.needs_ingest]

FAST = ["--rescan-interval", "0.5", "--incomplete-timeout", "2"]
STALE = "0" * 64 + "\n"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def drop_names(w):
    return sorted(os.listdir(w.drop))


def put_bad(w, kind, name, max_size, sidecar):
    """The sidecar and the bad entry, both there when the daemon looks."""
    with w.paused():
        (w.drop / (name + ".sha256")).write_text(sidecar)
        if kind == "symlink":
            os.symlink("/etc/shadow", w.drop / name)
        else:
            tmp = w.drop / (".%s.part" % name)
            tmp.write_bytes(b"\0" * (max_size + 1))
            os.rename(tmp, w.drop / name)


@pytest.mark.parametrize("kind,reason", [
    ("symlink", "not_regular_file"),
    ("oversized", "package_too_large")])
def test_quarantined_entry_takes_its_sidecar(watch_factory, pkg_a, kind,
                                             reason):
    name = pkg_a.path.name
    data = pkg_a.path.read_bytes()
    max_size = len(data) + 4096
    w = watch_factory(args=FAST + ["--max-package-size", str(max_size)])

    m = w.mark()
    put_bad(w, kind, name, max_size, STALE)
    ev = w.wait_event("rejected", after=m, file=name)
    assert ev["reason"] == reason, ev
    assert "sidecar_error" not in ev, ev

    # neither the entry nor its sidecar is left behind
    ph.wait_for(lambda: drop_names(w) == [], 10,
                "an empty drop folder, not %s" % drop_names(w))
    q = w.store / "quarantine"
    assert os.path.lexists(q / ev["quarantine"])
    assert (q / (ev["quarantine"] + ".sha256")).read_text() == STALE
    assert w.quarantine()[ev["quarantine"]]["reason"] == reason

    # the same name again, good, with its own sidecar: published
    m = w.mark()
    (w.drop / (name + ".sha256")).write_text(
        "%s  %s\n" % (sha256(data), name))
    w.drop_file(pkg_a, how="rename")
    ev = w.wait_event("verified", after=m, file=name)
    assert ev["sidecar"] == "match", ev
    pub = w.wait_event("published", after=m, file=name)
    assert pub["sha256"] == sha256(data)
    assert not w.events("incomplete")
    ph.wait_for(lambda: drop_names(w) == [], 10,
                "an empty drop folder, not %s" % drop_names(w))
    kept = w.store / "packages" / (pub["snapshot"][:-5] + ".tar.gz.sha256")
    assert kept.read_text().split()[0] == sha256(data)


@pytest.mark.parametrize("kind", ["symlink", "private_copy"])
def test_sidecar_over_the_bound_is_not_cut(watch_factory, kind):
    name = "20240603_0030_bad.tar.gz"
    big = "f" * 64 + "\n" + "x" * (5000 - 65)
    w = watch_factory(args=FAST)

    m = w.mark()
    with w.paused():
        (w.drop / (name + ".sha256")).write_text(big)
        if kind == "symlink":
            os.symlink("/etc/shadow", w.drop / name)
        else:
            (w.drop / name).write_bytes(b"not a package at all" * 10)
    ev = w.wait_event("rejected", after=m, file=name, timeout=30)
    if kind == "symlink":
        assert ev["reason"] == "not_regular_file", ev
    else:
        # the check refuses it first, "over 4096 bytes", until the
        # upload is given up on
        inc = w.wait_event("incomplete", after=m, file=name)
        assert inc["reason"] == "sha256_invalid", inc
        assert "over 4096 bytes" in inc["message"], inc
        assert ev["reason"] == "sha256_invalid", ev
    assert ev["sidecar_error"] == os.strerror(errno.EFBIG), ev
    assert "stays in the drop folder" in ev["msg"], ev

    # no copy at all rather than a cut one; the sidecar kept whole
    q = w.store / "quarantine"
    assert os.path.lexists(q / ev["quarantine"])
    assert not (q / (ev["quarantine"] + ".sha256")).exists(), \
        os.listdir(q)
    ph.wait_for(lambda: drop_names(w) == [name + ".sha256"], 10,
                "the drop folder holding only the sidecar, not %s"
                % drop_names(w))
    assert (w.drop / (name + ".sha256")).read_text() == big
