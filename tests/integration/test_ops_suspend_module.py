"""The module's side of a suspension: STORE/suspension.json and
STORE/notice.html, read when `current` is (re)loaded (start, nginx -s
reload, POST /reload), answered on every prep_serve path."""

import json
import os

import prep_harness as ph


NOTICE = ("<!DOCTYPE html><html lang=\"es\"><meta charset=\"utf-8\">"
          "<h1>Aviso del instituto</h1><p>Suspendido: \u00f1</p></html>\n")


def write_state(store, suspended, reason="orden del instituto",
                notice=None, sha="a" * 64):
    if notice is not None:
        (store / "notice.html").write_text(notice, encoding="utf-8")
    state = {"suspended": suspended, "since": "2024-06-03T06:00:00Z",
             "since_unix": 1717394400, "reason": reason,
             "notice": "notice.html" if notice else None,
             "notice_sha256": sha if notice else None}
    tmp = store / ".suspension.json.tmp"
    tmp.write_text(json.dumps(state))
    os.rename(tmp, store / "suspension.json")


def assert_notice(r, corte, body=None):
    assert r.status == 503, r
    assert r.header("X-PREP-Status") == "suspended"
    assert r.header("Retry-After") == "60"
    assert r.header("Cache-Control") == "public, max-age=10"
    assert r.header("X-PREP-Corte") == corte
    assert r.header("Content-Type").startswith("text/html")
    if body is not None:
        assert r.body == body


def test_notice_on_every_path_after_post_reload(served, pkg_a):
    live = served.get("/")
    assert live.status == 200
    write_state(served.store, True, notice=NOTICE)
    # nothing changes until current is reloaded
    assert served.get("/").status == 200
    r = served.control("POST", "/reload")
    assert r.status == 200, r
    for path in ("/", "/index.html", "/no/such/file.json", "/a/b/"):
        for _ in range(4):                      # both workers
            assert_notice(served.get(path), pkg_a.iso,
                          NOTICE.encode("utf-8"))
    head = served.head("/")
    assert_notice(head, pkg_a.iso)
    assert head.body == b""

    st = served.status()
    assert st["suspension"]["suspended"] is True
    assert st["suspension"]["reason"] == "orden del instituto"
    assert st["suspension"]["notice_sha256"] == "a" * 64
    assert st["corte"]["id"] == pkg_a.id

    write_state(served.store, False)
    assert served.control("POST", "/reload").status == 200
    ph.wait_for(lambda: served.get("/").status == 200, 5, "resume")
    assert served.get("/").header("X-PREP-Status") is None
    assert served.status()["suspension"] == {"suspended": False}


def test_builtin_spanish_notice_and_survives_restart(nginx_factory, pkg_a):
    inst = nginx_factory(publish=[pkg_a])
    write_state(inst.store, True, reason="sin aviso")
    inst.reload()
    r = inst.get("/presidencia/")
    assert_notice(r, pkg_a.iso)
    assert "Publicaci&oacute;n suspendida" in r.body.decode()
    inst.kill()
    inst.start()
    assert_notice(inst.get("/"), pkg_a.iso)


def test_status_shows_suspension(stats_nginx, stats, pkg_a):
    inst = stats_nginx()
    text = inst.get("/status?format=prometheus").body.decode()
    assert "\nprep_suspended 0\n" in text
    write_state(inst.store, True, reason='comillas " y \\ barra')
    assert inst.control("POST", "/reload").status == 200
    text = inst.get("/status?format=prometheus").body.decode()
    assert "\nprep_suspended 1\n" in text
    js = inst.get("/status").json()
    assert js["suspension"]["suspended"] is True
    assert js["suspension"]["reason"] == 'comillas " y \\ barra'
    # the status location itself is not suspended
    assert inst.get("/status").status == 200


def test_damaged_state_keeps_the_previous(served, pkg_a):
    write_state(served.store, True)
    assert served.control("POST", "/reload").status == 200
    assert served.get("/").status == 503
    (served.store / "suspension.json").write_text('{"suspended": tru')
    served.allow_log(r"not a valid suspension state")
    assert served.control("POST", "/reload").status == 200
    assert served.get("/").status == 503
    assert "not a valid suspension state" in served.log_text()


def test_largest_notice_fits_the_zone(served, pkg_a):
    big = "<html>" + "x" * (1024 * 1024 - len("<html></html>\n")) \
          + "</html>\n"
    assert len(big.encode()) == 1024 * 1024
    write_state(served.store, True, notice=big)
    assert served.control("POST", "/reload").status == 200
    r = served.get("/")
    assert_notice(r, pkg_a.iso, big.encode())
    assert "no room for the notice" not in served.log_text()
    # and again, replacing it: the old one is freed first
    write_state(served.store, True, notice=big.replace("x", "y"))
    assert served.control("POST", "/reload").status == 200
    assert_notice(served.get("/"), pkg_a.iso,
                  big.replace("x", "y").encode())
