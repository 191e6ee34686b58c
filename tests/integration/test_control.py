"""prep_control on the unix socket, and process lifecycle (quit)."""

import hashlib
import os
import re

import pytest

import prep_harness as ph


pytestmark = pytest.mark.needs_module

INDEX = "/index.html"


def worker_generation(w):
    """The generation a worker slot reports (key named *gen*)."""
    gens = [v for k, v in w.items() if "gen" in k.lower()
            and isinstance(v, int) and not isinstance(v, bool)]
    assert len(gens) == 1, w
    return gens[0]


def test_status_document(served, pkg_a):
    r = served.control("GET", "/")
    assert r.status == 200
    assert r.header("Content-Type").startswith("application/json")
    doc = r.json()
    for key in ("corte", "generation", "workers"):
        assert key in doc, doc

    corte = doc["corte"]
    sha = hashlib.sha256(pkg_a.path.read_bytes()).hexdigest()
    for value in (pkg_a.iso, pkg_a.id, served.current_name(), sha):
        assert ph.json_mentions(corte, value), (value, corte)
    assert ph.json_mentions(corte, len(pkg_a.listing)), \
        "entry count %d not in %s" % (len(pkg_a.listing), corte)

    assert isinstance(doc["generation"], int) and doc["generation"] >= 1
    workers = doc["workers"]
    assert isinstance(workers, list)
    assert sorted(w["pid"] for w in workers) == served.worker_pids()


def test_reload_bumps_generation_and_names_new_corte(nginx_factory, pkg_a,
                                                     pkg_b):
    inst = nginx_factory(publish=[pkg_a])
    g0 = inst.status()["generation"]
    inst.publish(pkg_b)
    r = inst.control("POST", "/reload")
    assert r.status == 200
    doc = r.json()
    assert ph.json_mentions(doc, pkg_b.iso), doc
    status = inst.status()
    assert status["generation"] > g0
    assert ph.json_mentions(status["corte"], pkg_b.iso)
    assert ph.json_mentions(doc, status["generation"])


def test_workers_converge_on_the_new_generation(nginx_factory, pkg_a,
                                                pkg_b):
    inst = nginx_factory(publish=[pkg_a])
    inst.publish(pkg_b)
    assert inst.control("POST", "/reload").status == 200

    def converged():
        doc = inst.status()
        ws = doc["workers"]
        return len(ws) == inst.workers and all(
            worker_generation(w) == doc["generation"] for w in ws)
    ph.wait_for(converged, 3, "every worker to report the new generation",
                interval=0.1)


def test_reload_without_change_keeps_corte(served, pkg_a):
    r = served.control("POST", "/reload")
    assert r.status == 200
    assert ph.json_mentions(r.json(), pkg_a.iso)
    r = served.get(INDEX)
    assert r.corte == pkg_a.iso
    assert r.body == pkg_a.listing[INDEX]


def test_reload_with_nothing_published_is_422(nginx_factory):
    inst = nginx_factory()
    r = inst.control("POST", "/reload")
    assert r.status == 422
    doc = r.json()
    assert doc.get("error") and doc.get("reason"), doc
    assert inst.control("GET", "/").status == 200
    assert inst.get(INDEX).status == 503


@pytest.mark.parametrize("method,path", [
    ("PUT", "/reload"), ("DELETE", "/"), ("PATCH", "/reload"),
    ("OPTIONS", "/"),
])
def test_control_other_methods_are_405(served, method, path):
    r = served.control(method, path, body=b"{}" if method != "DELETE"
                       else None)
    assert r.status == 405


def test_control_refuses_tcp_clients(nginx_factory, pkg_a):
    inst = nginx_factory(publish=[pkg_a], server_extra="""
location /ctl/ {
    prep_control;
}""")
    assert inst.get("/ctl/").status == 403
    r = inst.request("POST", "/ctl/reload", body=b"")
    assert r.status == 403
    # and nothing was reloaded by it
    assert inst.get(INDEX).corte == pkg_a.iso


def test_reload_logs_peer_credentials(served):
    assert served.control("POST", "/reload").status == 200
    pid = str(os.getpid())
    ph.wait_for(lambda: any(re.search(r"\b%s\b" % pid, line) and
                            "[notice]" in line
                            for line in served.log_text().splitlines()),
                3, "a notice naming the peer pid %s" % pid)


# ----------------------------------------------------------- lifecycle


def test_quit_is_prompt(served):
    elapsed = served.quit(timeout=5, command=True)
    assert not served.running
    assert elapsed < 5


def test_quit_right_after_swaps(nginx_factory, packages):
    series = packages.series(6)
    inst = nginx_factory(publish=[series[0]])
    for pkg in series[1:]:
        inst.swap(pkg)
        assert inst.get(INDEX).corte == pkg.iso
    elapsed = inst.quit(timeout=5, command=True)
    assert elapsed < 5


def test_quit_with_idle_keepalive_client(served, pkg_a):
    conn = served.connection()
    try:
        r = ph.http_request(conn, "GET", INDEX)
        assert r.status == 200
        assert served.quit(timeout=5) < 5
    finally:
        conn.close()
