"""Statistics are saved by default (issue 8, sections 2 and 3), and the
status location hands out the state file for prep-report (issue 9).

Without prep_stats_state the state goes to prep_stats.state under nginx's
prefix; `prep_stats_state off;` keeps it in memory and warns; a default
directory the workers cannot write fails `nginx -t`; prep_status without
prep_stats_zone fails `nginx -t`; ?format=state answers the state file's
checksummed bytes, without the visitor hash keys.
"""

import os
import struct
import subprocess
import zlib

import pytest

import prep_harness as ph


pytestmark = pytest.mark.needs_module

INDEX = "/index.html"


def traffic(inst, n):
    for i in range(n):
        inst.get(INDEX, {"X-Forwarded-For": "10.8.0.%d" % (i % 200),
                         "User-Agent": "default-state"})


def test_default_path_survives_stop_and_start(stats_nginx, stats):
    inst = stats_nginx(state=None, timeout="10m")
    default = inst.prefix / "prep_stats.state"
    traffic(inst, 30)
    before = stats.wait_hits(inst, 30 + stats.probes)
    assert before["state"]["file"] == str(default)
    assert before["state"]["last_save_failed"] is False

    inst.quit()                     # the exiting workers save
    assert default.exists()
    assert default.stat().st_mode & 0o777 == 0o640
    inst.start()

    after = stats.wait_hits(inst, 31 + stats.probes)
    assert after["totals"]["pages"] == before["totals"]["pages"]
    assert after["totals"]["visitors"] == before["totals"]["visitors"]
    assert after["state"]["restored_from"] == str(default)

    prom = stats.prometheus(inst)
    assert prom["prep_state_info"] == {
        frozenset({("file", str(default))}): 1.0}
    assert prom["prep_state_last_save_failed"] == {frozenset(): 0.0}


def test_off_warns_and_keeps_nothing(stats_nginx, stats):
    inst = stats_nginx(state=None, http="prep_stats_state off;")
    traffic(inst, 3)
    s = stats.wait_hits(inst, 3 + stats.probes)
    assert s["state"]["file"] is None
    assert "[warn]" in inst.log_text()
    assert "prep_stats_state off: statistics are kept in memory only, " \
        "and a restart loses them" in inst.log_text()
    inst.quit()
    assert not (inst.prefix / "prep_stats.state").exists()


def test_failed_save_shows_in_status(stats_nginx, stats):
    inst = stats_nginx(state="dir/stats.state", interval="1s")
    inst.allow_log(r"\[error\] .*not saved")
    traffic(inst, 2)
    s = stats.wait(inst, lambda s: s["state"]["last_save_failed"],
                   "a failed save", 15.0)
    assert s["state"]["last_error"]
    prom = stats.prometheus(inst)
    assert prom["prep_state_last_save_failed"] == {frozenset(): 1.0}

    (inst.prefix / "dir").mkdir()
    traffic(inst, 1)
    stats.wait(inst, lambda s: not s["state"]["last_save_failed"],
               "a save that succeeds", 15.0)


def _nginx_t(prefix, errlog, http, main=""):
    conf = errlog.parent / "t.conf"
    conf.write_text("load_module %s;\n%s\nerror_log %s;\npid %s/t.pid;\n"
                    "events {}\nhttp {\naccess_log off;\n%s\n"
                    "server { listen 127.0.0.1:9;\n"
                    "location /status { prep_status; } }\n}\n"
                    % (ph.MODULE_SO, main, errlog, errlog.parent, http))
    p = subprocess.run([ph.NGINX_BIN, "-t", "-p", str(prefix), "-c",
                        str(conf), "-e", str(errlog)],
                       capture_output=True, timeout=30)
    return p.returncode, p.stderr.decode(errors="replace")


def test_unwritable_default_is_emerg_at_nginx_t(tmp_path):
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    main = ""
    if os.geteuid() == 0:
        # root's master hands the saves to workers of another user
        main = "user nobody nogroup;"
        prefix.chmod(0o755)
    else:
        prefix.chmod(0o555)
    try:
        rc, err = _nginx_t(prefix, tmp_path / "err.log",
                           "prep_stats_zone s 4m;", main)
        assert rc != 0, err
        assert "[emerg]" in err, err
        assert "default state file" in err and "not writable" in err, err
        assert str(prefix / "prep_stats.state") in err, err

        # the explicit way out passes
        rc, err = _nginx_t(prefix, tmp_path / "err.log",
                           "prep_stats_zone s 4m;\nprep_stats_state off;",
                           main)
        assert rc == 0, err
        assert "[warn]" in err and "prep_stats_state off" in err, err
    finally:
        prefix.chmod(0o755)


def test_missing_default_directory_is_emerg(tmp_path):
    rc, err = _nginx_t(tmp_path / "absent", tmp_path / "err.log",
                       "prep_stats_zone s 4m;")
    assert rc != 0, err
    assert "[emerg]" in err and "is not usable" in err, err


def test_prep_status_without_zone_fails_nginx_t(tmp_path):
    rc, err = _nginx_t(tmp_path, tmp_path / "err.log", "")
    assert rc != 0, err
    assert '"prep_status" needs "prep_stats_zone"' in err, err


def _sections(data):
    """Checks the container like libprep/prep_state.c and yields the
    section types."""
    assert data[:8] == b"PREPSTAT"
    version, hsize, fsize, created, count, body_crc, _, hcrc = \
        struct.unpack_from("<IIQqIIII", data, 8)
    assert version == 2 and hsize == 48 and fsize == len(data)
    header = bytearray(data[:48])
    header[44:48] = b"\0\0\0\0"
    assert zlib.crc32(bytes(header)) == hcrc
    assert zlib.crc32(data[48:]) == body_crc
    pos, types = 48, []
    for _ in range(count):
        stype, crc, length = struct.unpack_from("<IIQ", data, pos)
        payload = data[pos + 16:pos + 16 + length]
        assert zlib.crc32(payload) == crc
        types.append(stype)
        pos += 16 + ((length + 7) & ~7)
    assert pos == len(data)
    return types


def test_format_state_is_the_state_file(stats_nginx, stats):
    inst = stats_nginx(timeout="10m")
    traffic(inst, 12)
    stats.wait_hits(inst, 12 + stats.probes)

    r = inst.get("/status?format=state")
    assert r.status == 200
    assert r.header("Content-Type") == "application/octet-stream"
    assert r.header("Cache-Control") == "no-store"
    types = _sections(r.body)
    assert 1 in types and 2 in types and 6 in types and 7 in types
    assert 3 not in types           # the visitor hash keys stay home
    assert INDEX.encode() in r.body

    # the file on disk has the keys
    inst.quit()
    assert 3 in _sections((inst.prefix / "stats.state").read_bytes())
