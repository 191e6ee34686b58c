"""Real OpenSSH: the institute uploads with scp, sftp and rsync to a
loopback sshd configured with the Match blocks of
deploy/sshd_config.example (chrooted SFTP-only account; rsync account
restricted by rrsync with the forced command documented there), and
prep-ingest watch publishes each good package exactly once.  An scp
killed halfway never publishes its partial file; the next complete
upload does.

Runs as root (CI does): it creates a directory /srv/prep-ssh-XXXXXXXX
(a chroot in it, every component root-owned, as ChrootDirectory
demands; throwaway host and user keys) and two system accounts named
after it (preptest-sftp-XXXXXXXX, preptest-rsync-XXXXXXXX), and starts
/usr/sbin/sshd -D -e on a free loopback port.  Every run has its own
accounts, keys and sshd, so runs side by side do not meet; each removes
what it made, even when it fails, and what a killed run left (its
directory names a process that is gone) is removed by the next one.
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
SSH_BASE_DIR = "/srv"
SSH_BASE_PREFIX = "prep-ssh-"
USER_PREFIXES = ("preptest-sftp-", "preptest-rsync-")
EXAMPLE = ph.REPO / "deploy" / "sshd_config.example"
EXAMPLE_CHROOT = "/srv/prep-drop"
EXAMPLE_SFTP_USER = "prep-institute"
EXAMPLE_RSYNC_USER = "prep-institute-rsync"

# useradd, usermod and userdel lock /etc/passwd: a run side by side may
# hold it for a moment ("cannot lock /etc/passwd; try again later")
ACCOUNT_TIMEOUT = 30.0
USERADD_EXISTS = 9
USERDEL_NO_USER = 6
USERDEL_LOGGED_IN = 8


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          **kw)


def _account_cmd(cmd, done=(0,)):
    """Runs a shadow-utils command until its exit status is in done
    (another run may hold the lock); the last result."""
    last = {}

    def attempt():
        last["r"] = _run(cmd)
        return last["r"].returncode in done
    try:
        ph.wait_for(attempt, ACCOUNT_TIMEOUT, " ".join(cmd), interval=0.2)
    except ph.HarnessError:
        pass
    return last["r"]


def _create_user(name, shell):
    """The uid of a new local account with no password, unlocked."""
    r = _account_cmd(["useradd", "--system", "--no-create-home",
                      "--home-dir", "/nonexistent", "--shell", shell, name],
                     done=(0, USERADD_EXISTS))
    assert r.returncode in (0, USERADD_EXISTS), r.stderr
    # "!" in shadow is a locked account, which sshd refuses; "*" is none
    r = _account_cmd(["usermod", "-p", "*", name])
    assert r.returncode == 0, r.stderr
    r = _run(["id", "-u", name])
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def _delete_user(name):
    r = _account_cmd(["userdel", name], done=(0, USERDEL_NO_USER,
                                              USERDEL_LOGGED_IN))
    if r.returncode == USERDEL_LOGGED_IN:
        # a session of the stopped sshd still ending
        r = _account_cmd(["userdel", "--force", name],
                         done=(0, USERDEL_NO_USER))
    return r.returncode in (0, USERDEL_NO_USER)


def _start_time(pid):
    """The start time of a process (with the pid, who it is), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner_line():
    return "%d %s\n" % (os.getpid(), _start_time(os.getpid()))


def _owner_gone(base):
    try:
        pid, start = (base / "owner").read_text().split()
    except (OSError, ValueError):
        return False            # being made right now, or not ours
    return _start_time(int(pid)) != start


def _remove_run(base, users, proc=None):
    """What one run made: its sshd stopped, its accounts, its files."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for name in users:
        _delete_user(name)
    shutil.rmtree(base, ignore_errors=True)


def _users_of(suffix):
    return [prefix + suffix for prefix in USER_PREFIXES]


def _remove_leftovers():
    """Runs killed before their teardown: their sshd (by the pid file it
    wrote), accounts and files, once the pytest that made them is gone.
    Runs still alive are left alone."""
    for base in Path(SSH_BASE_DIR).glob(SSH_BASE_PREFIX + "*"):
        if not base.is_dir() or not _owner_gone(base):
            continue
        try:
            pid = int((base / "sshd.pid").read_text())
            cmdline = Path("/proc/%d/cmdline" % pid).read_bytes()
            if str(base / "sshd_config").encode() in cmdline:
                os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass
        _remove_run(base, _users_of(base.name[len(SSH_BASE_PREFIX):]))


class Sshd:
    def __init__(self, base):
        self.base = base                      # root-owned, 0755
        self.chroot = base / "chroot"
        self.drop = self.chroot / "entrega"
        self.keys = base / "keys"
        self.port = None
        self.proc = None
        self.log = base / "sshd.log"
        # named after the run's directory: unique while it exists
        self.sftp_user, self.rsync_user = _users_of(
            base.name[len(SSH_BASE_PREFIX):])

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
                      % (self.sftp_user, name)]

    def sftp(self, batch):
        return _run(["sftp", "-P", str(self.port), "-b", "-"]
                    + self.client_opts()
                    + ["%s@127.0.0.1" % self.sftp_user], input=batch)

    def ssh(self, user, command):
        return _run(["ssh", "-p", str(self.port)] + self.client_opts()
                    + ["%s@127.0.0.1" % user, command],
                    stdin=subprocess.DEVNULL)

    def rsync(self, *args):
        rsh = " ".join(["ssh", "-p", str(self.port)] + self.client_opts())
        return _run(["rsync", "-e", rsh] + list(args))

    def rsync_dest(self, path=""):
        return "%s@127.0.0.1:%s" % (self.rsync_user, path)


def _config(sshd):
    """The test's global settings, then the example's Match blocks with
    the test's paths and accounts."""
    text = EXAMPLE.read_text()
    blocks = text[text.index("\nMatch ") + 1:]
    blocks = blocks.replace(EXAMPLE_RSYNC_USER, sshd.rsync_user)
    blocks = blocks.replace(EXAMPLE_SFTP_USER, sshd.sftp_user)
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


def _setup(s):
    """Accounts, chroot, keys, then sshd listening."""
    # ChrootDirectory: /srv and the chroot root-owned, not group/other
    # writable; the drop folder inside it writable by both accounts
    sftp_uid = _create_user(s.sftp_user, "/usr/sbin/nologin")
    rsync_uid = _create_user(s.rsync_user, "/bin/sh")
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
    (s.keys / "authorized" / s.sftp_user).write_text("restrict %s\n" % pub)
    (s.keys / "authorized" / s.rsync_user).write_text(
        'restrict,command="%s" %s\n' % (_rrsync_command(s.drop), pub))
    for f in (s.keys / "authorized").iterdir():
        os.chmod(f, 0o644)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    for attempt in range(5):
        s.port = ph.free_port()
        conf = s.base / "sshd_config"
        conf.write_text(_config(s))
        r = _run([SSHD, "-t", "-f", str(conf)])
        assert r.returncode == 0, "sshd -t: %s\n%s" % (r.stderr,
                                                       conf.read_text())
        with open(s.log, "ab") as log:
            s.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(conf)],
                                      stdout=log, stderr=log,
                                      start_new_session=True)
        try:
            ph.wait_for(lambda: s.proc.poll() is not None or
                        _port_open(s.port), 10, "sshd to listen")
        except ph.HarnessError:
            pass
        if s.proc.poll() is None and _port_open(s.port):
            return
        s.proc.kill()
        s.proc.wait()
    pytest.fail("sshd did not start:\n%s" % s.log.read_text(),
                pytrace=False)


@pytest.fixture(scope="module")
def sshd():
    if os.geteuid() != 0:
        pytest.fail("the SSH tests start sshd and create accounts: run "
                    "as root (CI does)", pytrace=False)
    for tool in (SSHD, "/usr/bin/scp", "/usr/bin/sftp", "/usr/bin/rsync",
                 "/usr/bin/rrsync", "/usr/bin/ssh-keygen"):
        if not os.access(tool, os.X_OK):
            pytest.fail("%s is missing (make deps)" % tool, pytrace=False)

    _remove_leftovers()
    base = Path(tempfile.mkdtemp(prefix=SSH_BASE_PREFIX, dir=SSH_BASE_DIR))
    s = Sshd(base)
    try:
        (base / "owner").write_text(_owner_line())
        os.chmod(base, 0o755)
        _setup(s)
        yield s
    finally:
        _remove_run(base, (s.sftp_user, s.rsync_user), s.proc)


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
    r = sshd.rsync(str(a.path), sshd.rsync_dest())
    assert r.returncode == 0, r.stderr + sshd.log.read_text()[-2000:]
    assert_published_once(w, a, a.path.name)
    # rsync's temporary ".name.XXXXXX" was never looked at
    assert not [e for e in w.events() if e.get("file", "").startswith(".")]

    r = sshd.rsync(str(b.path), sshd.rsync_dest(b.path.name))
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
                          str(pkg_a.path), sshd.rsync_dest()],
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
    r = sshd.rsync(str(pkg_a.path), sshd.rsync_dest())
    assert r.returncode == 0, r.stderr
    assert_published_once(w, pkg_a, name)


def test_sftp_account_is_confined(sshd, drop_watch):
    # no shell: the command is not run, internal-sftp is
    r = sshd.ssh(sshd.sftp_user, "cat /etc/passwd; id")
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
                "%s@127.0.0.1" % sshd.sftp_user], stdin=subprocess.DEVNULL)
    assert r.returncode != 0


def test_rsync_account_is_restricted(sshd, drop_watch, tmp_path):
    # write only: reading back is refused
    r = sshd.rsync(sshd.rsync_dest("x.tar.gz"), str(tmp_path))
    assert r.returncode != 0
    # nothing but rsync runs
    r = sshd.ssh(sshd.rsync_user, "id")
    assert r.returncode != 0 and "uid=" not in r.stdout
    # and only inside the drop folder
    f = tmp_path / "x.txt"
    f.write_text("x")
    r = sshd.rsync(str(f), sshd.rsync_dest("../escape.txt"))
    assert r.returncode != 0
    assert not (sshd.chroot / "escape.txt").exists()
