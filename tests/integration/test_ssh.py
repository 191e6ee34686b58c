"""Real OpenSSH: the institute uploads with scp, sftp and rsync to a
loopback sshd configured with the Match blocks of
deploy/sshd_config.example (chrooted SFTP-only account; rsync account
restricted by rrsync with the forced command documented there), and
prep-ingest watch publishes each good package exactly once.  An scp
killed halfway never publishes its partial file; the next complete
upload does.

Runs as root (CI does): it creates two system accounts for the test
(removed at the end if it created them), a chroot under /srv (every
component root-owned, as ChrootDirectory demands), throwaway host and
user keys, and starts /usr/sbin/sshd -D -e on a free loopback port.
"""

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import prep_harness as ph


pytestmark = [pytest.mark.needs_module, pytest.mark.needs_ingest]

SSHD = "/usr/sbin/sshd"
SFTP_USER = "preptest-sftp"
RSYNC_USER = "preptest-rsync"
EXAMPLE = ph.REPO / "deploy" / "sshd_config.example"
EXAMPLE_CHROOT = "/srv/prep-drop"
EXAMPLE_SFTP_USER = "prep-institute"
EXAMPLE_RSYNC_USER = "prep-institute-rsync"


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          **kw)


def _ensure_user(name, shell):
    """(uid, created) of a local account with no password, unlocked."""
    r = _run(["id", "-u", name])
    created = False
    if r.returncode != 0:
        r = _run(["useradd", "--system", "--no-create-home", "--home-dir",
                  "/nonexistent", "--shell", shell, name])
        assert r.returncode == 0, r.stderr
        created = True
    # "!" in shadow is a locked account, which sshd refuses; "*" is none
    r = _run(["usermod", "-p", "*", name])
    assert r.returncode == 0, r.stderr
    return int(_run(["id", "-u", name]).stdout), created


class Sshd:
    def __init__(self, base):
        self.base = base                      # root-owned, 0755
        self.chroot = base / "chroot"
        self.drop = self.chroot / "entrega"
        self.keys = base / "keys"
        self.port = None
        self.proc = None
        self.log = base / "sshd.log"

    def client_opts(self):
        return ["-F", "/dev/null", "-i", str(self.keys / "user"),
                "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"]

    def scp(self, src, name, limit_kbit=None, **kw):
        cmd = ["scp", "-P", str(self.port)] + self.client_opts()
        if limit_kbit:
            cmd += ["-l", str(limit_kbit)]
        return cmd + [str(src), "%s@127.0.0.1:/entrega/%s"
                      % (SFTP_USER, name)]

    def sftp(self, batch):
        return _run(["sftp", "-P", str(self.port), "-b", "-"]
                    + self.client_opts() + ["%s@127.0.0.1" % SFTP_USER],
                    input=batch)

    def ssh(self, user, command):
        return _run(["ssh", "-p", str(self.port)] + self.client_opts()
                    + ["%s@127.0.0.1" % user, command],
                    stdin=subprocess.DEVNULL)

    def rsync(self, *args):
        rsh = " ".join(["ssh", "-p", str(self.port)] + self.client_opts())
        return _run(["rsync", "-e", rsh] + list(args))


def _config(sshd):
    """The test's global settings, then the example's Match blocks with
    the test's paths and accounts."""
    text = EXAMPLE.read_text()
    blocks = text[text.index("\nMatch ") + 1:]
    blocks = blocks.replace(EXAMPLE_RSYNC_USER, RSYNC_USER)
    blocks = blocks.replace(EXAMPLE_SFTP_USER, SFTP_USER)
    blocks = blocks.replace(EXAMPLE_CHROOT, str(sshd.chroot))
    head = "\n".join([
        "Port %d" % sshd.port,
        "ListenAddress 127.0.0.1",
        "HostKey %s" % (sshd.keys / "host"),
        "PidFile %s" % (sshd.base / "sshd.pid"),
        "AuthorizedKeysFile %s/%%u" % (sshd.keys / "authorized"),
        # the keys live in a test directory, not in a home
        "StrictModes no",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin no",
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
        "MaxStartups 50",
        "",
    ])
    return head + "\n" + blocks


def _rrsync_command(drop):
    """The forced command documented in the example, for this drop."""
    m = re.search(r'command="([^"]*rrsync[^"]*)"', EXAMPLE.read_text())
    assert m, "no rrsync command in %s" % EXAMPLE
    return m.group(1).replace(EXAMPLE_CHROOT + "/entrega", str(drop))


@pytest.fixture(scope="module")
def sshd():
    if os.geteuid() != 0:
        pytest.fail("the SSH tests start sshd and create accounts: run "
                    "as root (CI does)", pytrace=False)
    for tool in (SSHD, "/usr/bin/scp", "/usr/bin/sftp", "/usr/bin/rsync",
                 "/usr/bin/rrsync", "/usr/bin/ssh-keygen"):
        if not os.access(tool, os.X_OK):
            pytest.fail("%s is missing (make deps)" % tool, pytrace=False)

    sftp_uid, made_sftp = _ensure_user(SFTP_USER, "/usr/sbin/nologin")
    rsync_uid, made_rsync = _ensure_user(RSYNC_USER, "/bin/sh")

    # ChrootDirectory: /srv and the chroot root-owned, not group/other
    # writable; the drop folder inside it writable by both accounts
    base = Path(tempfile.mkdtemp(prefix="prep-ssh-", dir="/srv"))
    os.chmod(base, 0o755)
    s = Sshd(base)
    s.chroot.mkdir(mode=0o755)
    os.chmod(s.chroot, 0o755)
    s.drop.mkdir()
    os.chown(s.drop, sftp_uid, rsync_uid)
    os.chmod(s.drop, 0o777)
    s.keys.mkdir()
    (s.keys / "authorized").mkdir()
    os.chmod(s.keys, 0o755)
    os.chmod(s.keys / "authorized", 0o755)
    for name in ("host", "user"):
        r = _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                  "prep-test-" + name, "-f", str(s.keys / name)])
        assert r.returncode == 0, r.stderr
    pub = (s.keys / "user.pub").read_text().strip()
    (s.keys / "authorized" / SFTP_USER).write_text("restrict %s\n" % pub)
    (s.keys / "authorized" / RSYNC_USER).write_text(
        'restrict,command="%s" %s\n' % (_rrsync_command(s.drop), pub))
    for f in (s.keys / "authorized").iterdir():
        os.chmod(f, 0o644)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    for attempt in range(5):
        s.port = ph.free_port()
        conf = base / "sshd_config"
        conf.write_text(_config(s))
        r = _run([SSHD, "-t", "-f", str(conf)])
        assert r.returncode == 0, "sshd -t: %s\n%s" % (r.stderr,
                                                       conf.read_text())
        log = open(s.log, "ab")
        s.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(conf)],
                                  stdout=log, stderr=log,
                                  start_new_session=True)
        try:
            ph.wait_for(lambda: s.proc.poll() is not None or
                        _port_open(s.port), 10, "sshd to listen")
        except ph.HarnessError:
            pass
        if s.proc.poll() is None and _port_open(s.port):
            break
        s.proc.kill()
        s.proc.wait()
    else:
        pytest.fail("sshd did not start:\n%s" % s.log.read_text(),
                    pytrace=False)

    yield s

    s.proc.send_signal(signal.SIGTERM)
    try:
        s.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        s.proc.kill()
    shutil.rmtree(base, ignore_errors=True)
    for name, made in ((SFTP_USER, made_sftp), (RSYNC_USER, made_rsync)):
        if made:
            _run(["userdel", name])


def _port_open(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def drop_watch(sshd, nginx_factory, watch_factory):
    """nginx and a daemon watching the sshd's drop folder (emptied)."""
    for p in sshd.drop.iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
    nginx = nginx_factory()
    w = watch_factory(nginx, drop=sshd.drop,
                      args=["--rescan-interval", "0.5",
                            "--incomplete-timeout", "120"])
    return nginx, w


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def assert_published_once(w, pkg, name):
    ev = w.wait_event("published", file=name)
    assert ev["sha256"] == sha256(pkg.path)
    ph.wait_for(lambda: not list(w.drop.iterdir()), 10, "an empty drop")
    time.sleep(0.6)                       # a rescan more: still once
    assert [e["file"] for e in w.events("published")] == [name]
    assert not w.events("rejected")
    return ev


def test_scp_upload(sshd, drop_watch, pkg_a):
    nginx, w = drop_watch
    r = _run(sshd.scp(pkg_a.path, pkg_a.path.name))
    assert r.returncode == 0, r.stderr + sshd.log.read_text()[-2000:]
    assert_published_once(w, pkg_a, pkg_a.path.name)
    assert nginx.get("/index.html").corte == pkg_a.iso


def test_sftp_batch_put_and_rename(sshd, drop_watch, packages):
    a, b = packages.series(2)
    nginx, w = drop_watch
    # put under a temporary name, then rename (posix-rename): the
    # temporary name is never looked at
    r = sshd.sftp("put %s %s.part\nrename %s.part %s\n"
                  % (a.path, a.path.name, a.path.name, a.path.name))
    assert r.returncode == 0, r.stderr
    assert_published_once(w, a, a.path.name)
    assert not [e for e in w.events() if e.get("file", "").endswith(".part")]

    # a plain put, with its sidecar after it
    side = w.base / (b.path.name + ".sha256")
    side.write_text("%s  %s\n" % (sha256(b.path), b.path.name))
    r = sshd.sftp("put %s\nput %s\n" % (b.path, side))
    assert r.returncode == 0, r.stderr
    ev = w.wait_event("published", file=b.path.name)
    assert nginx.get("/index.html").corte == b.iso
    assert len(w.events("published")) == 2
    assert ev["sha256"] == sha256(b.path)


def test_rsync_upload(sshd, drop_watch, packages):
    a, b = packages.series(2)
    nginx, w = drop_watch
    r = sshd.rsync(str(a.path), "%s@127.0.0.1:" % RSYNC_USER)
    assert r.returncode == 0, r.stderr + sshd.log.read_text()[-2000:]
    assert_published_once(w, a, a.path.name)
    # rsync's temporary ".name.XXXXXX" was never looked at
    assert not [e for e in w.events() if e.get("file", "").startswith(".")]

    r = sshd.rsync(str(b.path), "%s@127.0.0.1:%s" % (RSYNC_USER,
                                                     b.path.name))
    assert r.returncode == 0, r.stderr
    w.wait_event("published", file=b.path.name)
    assert nginx.get("/index.html").corte == b.iso


def test_scp_killed_halfway(sshd, drop_watch, pkg_a):
    nginx, w = drop_watch
    name = pkg_a.path.name
    total = pkg_a.path.stat().st_size
    target = sshd.drop / name

    # 400 kbit/s: about 6 s for the whole package; killed at a third
    p = subprocess.Popen(sshd.scp(pkg_a.path, name, limit_kbit=400),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        ph.wait_for(lambda: target.exists()
                    and total // 3 <= target.stat().st_size < total,
                    30, "a third of the upload")
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    partial = target.stat().st_size
    assert partial < total

    # sftp-server closes the partial file: it waits, is never published
    ev = w.wait_event("incomplete", file=name)
    assert ev["reason"] == "truncated"
    time.sleep(1.5)
    assert not w.events("published") and not w.events("rejected")
    assert nginx.get("/index.html").status == 503

    # the next complete upload of the same name is published, once
    r = _run(sshd.scp(pkg_a.path, name))
    assert r.returncode == 0, r.stderr
    assert_published_once(w, pkg_a, name)
    assert nginx.get("/index.html").corte == pkg_a.iso


def test_rsync_partial_killed_halfway(sshd, drop_watch, pkg_a):
    """rsync --partial, interrupted, renames its partial file to the
    final name (reliability-and-security.md 2.1): never published; the
    next complete upload is."""
    nginx, w = drop_watch
    name = pkg_a.path.name
    total = pkg_a.path.stat().st_size
    rsh = " ".join(["ssh", "-p", str(sshd.port)] + sshd.client_opts())
    p = subprocess.Popen(["rsync", "--partial", "--bwlimit=50", "-e", rsh,
                          str(pkg_a.path), "%s@127.0.0.1:" % RSYNC_USER],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)

    def temp_grown():
        for f in sshd.drop.iterdir():
            if f.name.startswith(".") and f.stat().st_size >= total // 3:
                return True
        return False
    try:
        ph.wait_for(temp_grown, 30, "a third of the upload")
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()

    # the receiver moves the partial file to the final name
    ph.wait_for(lambda: (sshd.drop / name).exists(), 20,
                "the partial file under the final name")
    assert (sshd.drop / name).stat().st_size < total
    ev = w.wait_event("incomplete", file=name)
    assert ev["reason"] == "truncated"
    time.sleep(1.0)
    assert not w.events("published") and not w.events("rejected")

    # into the folder, as the example documents: here (rsync 3.5.0 under
    # rrsync) the receiver cannot replace an existing file named as the
    # destination itself ("could not make way for new regular file")
    r = sshd.rsync(str(pkg_a.path), "%s@127.0.0.1:" % RSYNC_USER)
    assert r.returncode == 0, r.stderr
    assert_published_once(w, pkg_a, name)


def test_sftp_account_is_confined(sshd, drop_watch):
    # no shell: the command is not run, internal-sftp is
    r = sshd.ssh(SFTP_USER, "cat /etc/passwd; id")
    assert "root:" not in r.stdout and "uid=" not in r.stdout

    # the chroot holds the drop folder and nothing else
    r = sshd.sftp("ls -1a /\n")
    assert r.returncode == 0, r.stderr
    listed = [l.strip() for l in r.stdout.splitlines()
              if l.strip() and not l.startswith("sftp>")]
    assert sorted(n.rstrip("/").split("/")[-1] for n in listed
                  if n not in (".", "..", "/.", "/..")) == ["entrega"]
    assert sshd.sftp("get /etc/passwd /dev/null\n").returncode != 0

    # no links, no directories, no removal, no attribute changes
    # a name the daemon ignores, so that only sftp could remove it
    (Path(sshd.drop) / "victim.part").write_text("x")
    for cmd in ("symlink /etc/shadow /entrega/s", "ln /entrega/victim.part "
                "/entrega/h", "mkdir /entrega/d", "rm /entrega/victim.part",
                "chmod 777 /entrega/victim.part"):
        r = sshd.sftp(cmd + "\n")
        assert r.returncode != 0, cmd
    assert sorted(os.listdir(sshd.drop)) == ["victim.part"]
    os.unlink(sshd.drop / "victim.part")

    # the session cannot forward anything (a remote forward is refused
    # at once, which ExitOnForwardFailure turns into an exit status)
    r = _run(["ssh", "-p", str(sshd.port)] + sshd.client_opts()
             + ["-N", "-o", "ExitOnForwardFailure=yes", "-R",
                "127.0.0.1:%d:127.0.0.1:22" % ph.free_port(),
                "%s@127.0.0.1" % SFTP_USER], stdin=subprocess.DEVNULL)
    assert r.returncode != 0


def test_rsync_account_is_restricted(sshd, drop_watch, tmp_path):
    # write only: reading back is refused
    r = sshd.rsync("%s@127.0.0.1:x.tar.gz" % RSYNC_USER, str(tmp_path))
    assert r.returncode != 0
    # nothing but rsync runs
    r = sshd.ssh(RSYNC_USER, "id")
    assert r.returncode != 0 and "uid=" not in r.stdout
    # and only inside the drop folder
    f = tmp_path / "x.txt"
    f.write_text("x")
    r = sshd.rsync(str(f), "%s@127.0.0.1:../escape.txt" % RSYNC_USER)
    assert r.returncode != 0
    assert not (sshd.chroot / "escape.txt").exists()
