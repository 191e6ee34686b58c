"""The prep_status page for a browser (issue 11, section 4): one
self-contained HTML page, refreshed by a meta tag, no script; a red
banner when the corte is stale or publication suspended; SVG charts of
the last 24 hours; rendered by Debian's Chromium headless to a PNG."""

import html.parser
import json
import os
import shutil
import subprocess

import pytest

import prep_harness as ph


pytestmark = [pytest.mark.needs_module]

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;"
                     "q=0.9,*/*;q=0.8"}


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(body):
    p = _Tags()
    p.feed(body.decode("utf-8"))
    return p


def test_browser_gets_a_self_contained_page(stats_nginx, pkg_a):
    inst = stats_nginx()
    for path in ("/", "/index.html", "/index.html", "/<script>x"):
        inst.get(path)
    r = inst.get("/status", BROWSER)
    assert r.status == 200
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert r.header("Cache-Control") == "no-store" or \
        "no-store" in (r.header("Cache-Control") or "")
    page = parse(r.body)
    names = [t for t, _ in page.tags]
    assert "script" not in names
    assert ("meta", {"http-equiv": "refresh", "content": "10"}) in page.tags
    # nothing fetched from elsewhere
    for tag, attrs in page.tags:
        assert "src" not in attrs and tag != "link", (tag, attrs)
    assert names.count("svg") == 2
    text = "".join(page.text)
    assert pkg_a.id in text
    assert "/index.html" in text
    assert "<script>" not in r.body.decode()     # the path is escaped
    assert "memoria usada" in text
    # the corte of the fixtures is years old: stale
    assert "CORTE ATRASADO" in text
    # ?format=html too; JSON and Prometheus as before
    assert inst.get("/status?format=html").header("Content-Type") \
        .startswith("text/html")
    assert inst.get("/status").header("Content-Type") == "application/json"


def test_suspended_banner(stats_nginx, pkg_a):
    inst = stats_nginx()
    ph.run_ingest(["suspend", "--store", str(inst.store), "--control",
                   str(inst.control_sock), "--reason", "acuerdo <b>"])
    text = inst.get("/status", BROWSER).body.decode()
    assert "SUSPENDIDA" in text and "acuerdo &lt;b&gt;" in text


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="chromium not installed")
def test_chromium_renders_it(stats_nginx, tmp_path, pkg_a):
    inst = stats_nginx()
    for _ in range(20):
        inst.get("/index.html")
    png = tmp_path / "status.png"
    env = dict(os.environ, HOME=str(tmp_path))
    url = "http://127.0.0.1:%d/status?format=html" % inst.port
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=800,1200",
                    "--screenshot=%s" % png, url],
                   env=env, capture_output=True, timeout=120, check=True)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000
    keep = os.environ.get("PREP_SCREENSHOT")
    if keep:
        shutil.copy(png, keep)
