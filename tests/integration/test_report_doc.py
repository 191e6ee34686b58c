"""The memoria tecnica as a document (issue 9, sections 3 and 5): a week
of one origin written by build/prep-stats-gen (the module's state file
format through libprep, with a downtime and three missed cortes) and
scripted incidents in its events.jsonl, rendered by prep-report --pdf.

The HTML is opened in Debian's Chromium headless (own profile, no
network needed: the file must not ask for any), screenshotted whole,
without console errors; the PDF read back with pdftotext shows the
figures of memoria-tecnica.json.  Without Chromium, --pdf fails with a
clear message while the HTML and the annexes are still written.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("PREP_BUILD") or REPO / "build")
REPORT = BUILD / "asan" / "prep-report"
GEN = BUILD / "prep-stats-gen"
CHROMIUM = shutil.which("chromium")

START = 1780380000                  # 2026-06-02T00:00-06:00
DOWN = (START + 3 * 86400 + 36000, START + 3 * 86400 + 37800)
SKIP = (START + 4 * 86400 + 7200, START + 4 * 86400 + 9900)

SECTIONS = ["difusor", "resumen", "por-dia", "paginas", "permanencia",
            "cortes", "incidencias", "criterios", "metodologia"]


def utc(t):
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def incidents(t0):
    """rejected, stale, a suspension and its end, a failed hook."""
    d = t0 + 2 * 86400 + 50000
    return [
        {"time": utc(d), "event": "rejected", "level": "warning",
         "pid": 100, "file": "PREP_20260604_0753.tgz",
         "reason": "bad_gzip", "message": "gzip CRC mismatch",
         "msg": "rejected"},
        {"time": utc(SKIP[0] + 900), "event": "stale", "level": "warning",
         "pid": 100, "live_corte_id": "20260606_0145",
         "last_publish": utc(SKIP[0] - 800), "since_s": 900, "missed": 1,
         "msg": "stale"},
        {"time": utc(d + 3600), "event": "suspend", "level": "warning",
         "pid": 100, "source": "command", "reason": "orden del instituto",
         "msg": "suspended"},
        {"time": utc(d + 5400), "event": "resume", "level": "info",
         "pid": 100, "source": "command", "reason": "fin",
         "msg": "resumed"},
        {"time": utc(d + 7200), "event": "hook_failed", "level": "alert",
         "pid": 100, "corte_id": "20260604_1000", "attempts": 5,
         "msg": "purge failed"},
    ]


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    for b in (REPORT, GEN):
        if not b.exists():
            pytest.fail("%s is missing: make all asan" % b, pytrace=False)
    d = tmp_path_factory.mktemp("doc")
    subprocess.run([str(GEN), "--out", str(d / "a.state"), "--events",
                    str(d / "events.jsonl"), "--start", str(START),
                    "--days", "7", "--paths", "500", "--rate", "200",
                    "--down", "%d:%d" % DOWN, "--skip", "%d:%d" % SKIP],
                   check=True, timeout=60)
    ev = [json.loads(x) for x in
          (d / "events.jsonl").read_text().splitlines()]
    ev += incidents(START)
    ev.sort(key=lambda e: e["time"])
    (d / "events.jsonl").write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in ev))
    (d / "difusor.json").write_text(json.dumps({
        "nombre": "Difusora Ñandú, S.A.", "sitio": "https://prep.example.mx",
        "contacto_legal": {"nombre": "Lic. José Pérez",
                           "correo": "legal@example.mx"},
        "contacto_tecnico": "Ing. María Gómez"}, ensure_ascii=False))
    (d / "notas.txt").write_text("Aumentar la capacidad en la noche "
                                 "<b>electoral</b>.\n")
    return d


def run(origin, out, *extra):
    p = subprocess.run(
        [str(REPORT), "--stats", str(origin / "a.state"), "--events",
         str(origin / "events.jsonl"), "--difusor",
         str(origin / "difusor.json"), "--notes", str(origin / "notas.txt"),
         "--out", str(out)] + list(extra),
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"))
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr
    return p


def digits(text):
    """numbers as printed (es-MX groups with spaces) joined again"""
    return re.sub(r"(?<=\d)[\s\u00a0\u202f](?=\d{3}\b)", "", text)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_document_html_and_pdf(origin, tmp_path):
    out = tmp_path / "out"
    p = run(origin, out, "--pdf")
    assert p.returncode == 0, p.stderr
    html = (out / "memoria-tecnica.html").read_text()
    fig = json.loads((out / "memoria-tecnica.json").read_text())
    s = fig["summary"]

    # self-contained: no script, nothing fetched
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "url(" not in html and "<link" not in html.lower()
    assert "@page" in html and "A4" in html and "@media print" in html
    assert 'lang="es"' in html

    # the call's order
    pos = [html.find('id="%s"' % k) for k in SECTIONS]
    assert all(x > 0 for x in pos), dict(zip(SECTIONS, pos))
    assert pos == sorted(pos)
    for word in ("Estadística", "Páginas consultadas", "Metodología",
                 "Difusora Ñandú", "&lt;b&gt;electoral&lt;/b&gt;"):
        assert word in html, word

    # every chart present and drawn from data
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) >= 5
    for svg in svgs:
        assert re.search(r"<(rect|path|polyline)[^>]*>", svg), svg[:200]
        assert "<text" in svg                  # axis labels

    # the facts the scripted inputs hold
    assert s["cortes_missed"] >= 3
    assert s["interruption_rule_reached"] is True
    assert s["availability_percent"] < 100
    assert s["incidents"] >= 4
    assert "bad_gzip" in html
    assert "Suspensión" in html
    # the suspension ended with its resume event: 30 minutes
    assert re.search(r"Suspensión de la publicación", html)
    susp = [i for i in fig.get("incidents", [])
            if "uspensi" in json.dumps(i, ensure_ascii=False)]
    assert susp, fig.get("incidents")
    assert len(susp) == 1 and susp[0]["kind"] == "suspension"
    assert susp[0]["duration_s"] == 1800, susp

    # the whole document in Chromium headless: no console errors
    prof = tmp_path / "chromium-profile"
    shot = tmp_path / "doc.png"
    c = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--user-data-dir=%s" % prof,
         "--enable-logging=stderr", "--v=0",
         "--window-size=1280,%d" % 16000, "--screenshot=%s" % shot,
         (out / "memoria-tecnica.html").as_uri()],
        capture_output=True, text=True, timeout=180,
        env=dict(os.environ, HOME=str(prof)))
    assert c.returncode == 0, c.stderr[-2000:]
    assert shot.stat().st_size > 100000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    console = [x for x in c.stderr.splitlines() if "CONSOLE" in x]
    assert console == []
    keep = os.environ.get("PREP_REPORT_SHOT")
    if keep:
        shutil.copy(str(shot), keep)

    # the PDF shows the key figures of the JSON
    pdf = out / "memoria-tecnica.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = digits(subprocess.run(["pdftotext", "-layout", str(pdf), "-"],
                                 capture_output=True, text=True,
                                 check=True, timeout=60).stdout)
    for key in ("hits", "visitors", "pages", "visits"):
        assert str(s[key]) in text, (key, s[key])
    assert "Memoria técnica" in text
    assert not list(out.glob(".chromium*"))


def test_pdf_without_chromium(origin, tmp_path):
    out = tmp_path / "out"
    p = run(origin, out, "--pdf", "--chromium", "/nonexistent/chromium")
    assert p.returncode == 1
    assert "Chromium" in p.stderr and "/nonexistent/chromium" in p.stderr
    assert "HTML" in p.stderr
    assert (out / "memoria-tecnica.html").stat().st_size > 10000
    for f in ("memoria-tecnica.json", "visitas_por_dia.csv", "cortes.csv",
              "incidencias.csv", "paginas.csv"):
        assert (out / f).exists(), f
    assert not (out / "memoria-tecnica.pdf").exists()
