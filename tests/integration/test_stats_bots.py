"""Robots are counted apart (issue 9, section 2): a request whose
User-Agent matches the robot list (libprep/prep_bots.c, extended or
replaced by prep_stats_bots) adds to bots.hits and bots.bytes and to its
periods' bot_hits, never to hits, pages, visitors or visits."""

import subprocess

import pytest

import prep_harness as ph


pytestmark = pytest.mark.needs_module

INDEX = "/index.html"
GOOGLEBOT = ("Mozilla/5.0 (compatible; Googlebot/2.1; "
             "+http://www.google.com/bot.html)")


def get(inst, ua, ip="10.9.0.1"):
    r = inst.get(INDEX, {"X-Forwarded-For": ip, "User-Agent": ua})
    assert r.status == 200
    return r


def test_bots_are_apart(stats_nginx, stats):
    inst = stats_nginx(timeout="10m")
    get(inst, "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0")
    for i in range(4):
        body = get(inst, GOOGLEBOT, "10.9.1.%d" % i).body
    s = stats.wait(inst, lambda s: s["bots"]["hits"] >= 4, "4 robot hits")
    s = stats.wait_hits(inst, 1 + stats.probes)

    assert s["bots"]["hits"] == 4
    assert s["bots"]["bytes"] == 4 * len(body)
    assert s["totals"]["hits"] == 1 + stats.probes
    assert s["totals"]["pages"] == 1
    assert s["totals"]["visitors"] == 1 + stats.probes
    assert s["sessions"]["started"] == 1 + stats.probes
    assert sum(d["bot_hits"] for d in s["days"]) == 4
    assert [r["hits"] for r in s["pages"] if r["path"] == INDEX] == [1]

    prom = stats.prometheus(inst)
    assert prom["prep_bot_hits_total"] == {frozenset(): 4.0}

    # kept across a restart
    inst.quit()
    inst.start()
    s = stats.wait_hits(inst, 1 + 2 * stats.probes)
    assert s["bots"]["hits"] == 4


def test_bot_list_extended_and_replaced(stats_nginx, stats, tmp_path):
    bots = tmp_path / "bots.txt"
    bots.write_text("# ours\nprep-monitor\n\n")

    inst = stats_nginx(http="prep_stats_bots %s;" % bots)
    get(inst, "prep-monitor/1.0")
    get(inst, GOOGLEBOT)
    s = stats.wait(inst, lambda s: s["bots"]["hits"] >= 2, "2 robot hits")
    assert s["bots"]["hits"] == 2
    inst.quit()

    inst = stats_nginx(http="prep_stats_bots %s replace;" % bots)
    get(inst, "prep-monitor/1.0")
    get(inst, GOOGLEBOT)
    # the robot's response is counted in its log phase, which can come
    # after the next request's: wait for both
    s = stats.wait(inst, lambda s: s["totals"]["hits"] >= 1 + stats.probes
                   and s["bots"]["hits"] >= 1, "a hit and a robot hit")
    assert s["bots"]["hits"] == 1
    assert s["totals"]["hits"] == 1 + stats.probes


def test_bad_bot_list_fails_nginx_t(tmp_path):
    conf = tmp_path / "t.conf"
    for http, says in (
            ("prep_stats_bots %s/absent;" % tmp_path, "absent"),
            ("prep_stats_bots %s/b x;" % tmp_path, 'invalid parameter "x"')):
        (tmp_path / "b").write_text("x\n")
        conf.write_text("load_module %s;\nerror_log %s/err.log;\n"
                        "events {}\nhttp {\nprep_stats_zone s 4m;\n"
                        "prep_stats_state off;\n%s\n"
                        "server { listen 127.0.0.1:9; }\n}\n"
                        % (ph.MODULE_SO, tmp_path, http))
        p = subprocess.run([ph.NGINX_BIN, "-t", "-p", str(tmp_path), "-c",
                            str(conf), "-e", str(tmp_path / "err.log")],
                           capture_output=True, timeout=30)
        err = p.stderr.decode(errors="replace")
        assert p.returncode != 0, (http, err)
        assert "[emerg]" in err and says in err, (http, err)
