"""The package generator itself: the other suites trust its listings, so
check that its packages are what prep-package-format.md section 7 says.
Needs no build."""

import csv
import io
import subprocess
import sys
import tarfile
import time
import zipfile

import pytest

import prep_harness as ph
from prep_harness import gen_prep


GEN = str(ph.REPO / "tests" / "fixtures" / "gen_prep.py")


def members(path):
    with tarfile.open(path, "r:gz") as t:
        return {m.name: (t.extractfile(m).read() if m.isfile() else None)
                for m in t}


def csv_rows(data, sep):
    text = data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=sep))


def test_small_package_is_small_fast_and_deterministic(tmp_path):
    t0 = time.monotonic()
    p1 = gen_prep.build_package(tmp_path / "a")
    elapsed = time.monotonic() - t0
    p2 = gen_prep.build_package(tmp_path / "b")
    assert open(p1, "rb").read() == open(p2, "rb").read()
    assert elapsed < 1.0
    size = (tmp_path / "a" / "20240603_0015_PREP_QROO.tar.gz").stat().st_size
    assert 100_000 < size < 800_000
    files = [n for n, d in members(p1).items() if d is not None]
    assert 50 <= len(files) <= 100


def test_layout_top_folder_and_listing(tmp_path):
    path = gen_prep.build_package(tmp_path)
    got = members(path)
    top = "20240603_0015_PREP_QROO"
    assert all(n == top or n.startswith(top + "/") for n in got)
    files = {n[len(top):]: d for n, d in got.items() if d is not None}
    assert files == gen_prep.expected_listing()
    for needed in ("/index.html", "/assets/configuracion.json",
                   "/assets/ayuntamientos/avanceEntidad.json",
                   "/assets/diputaciones/avanceEntidad.json",
                   "/assets/20240603_0015_PREP_QROO.zip",
                   "/assets/bd/QROO_AYUN_2024.csv",
                   "/assets/bd/QROO_DIP_LOC_2024.csv"):
        assert needed in files, needed

    flat = members(gen_prep.build_package(tmp_path / "flat", flat=True))
    assert "index.html" in flat and not any(n.startswith(top) for n in flat)


@pytest.mark.parametrize("dialect,offset", [("A", -5), ("B", -5),
                                            ("B", -6)])
def test_corte_is_consistent_everywhere(dialect, offset):
    files = gen_prep.package_files("20240603_0015", dialect=dialect,
                                   utc_offset=offset)
    label = "(UTC%d)" % offset
    line = ("2024/06/03 00:15 " if dialect == "A"
            else "03/06/2024 00:15 ") + label
    for name in ("assets/bd/QROO_AYUN_2024.csv",
                 "assets/bd/QROO_DIP_LOC_2024.csv"):
        lines = files[name].decode().split("\n")
        assert lines[2 if dialect == "A" else 1] == line
        if dialect == "A":
            assert lines[0] == "sep=|"
    for el in ("ayuntamientos", "diputaciones"):
        avance = gen_prep.json.loads(
            files["assets/%s/avanceEntidad.json" % el])
        assert avance["ultimoCorte"] == {"fecha": "03/06/2024",
                                         "hora": "00:15 " + label}
    # nested zips carry the same CSVs
    outer = zipfile.ZipFile(io.BytesIO(
        files["assets/20240603_0015_PREP_QROO.zip"]))
    assert sorted(outer.namelist()) == [
        "20240603_0015_PREP_AYUN_QROO.zip",
        "20240603_0015_PREP_DIP_LOC_QROO.zip"]
    inner = zipfile.ZipFile(io.BytesIO(
        outer.read("20240603_0015_PREP_AYUN_QROO.zip")))
    assert inner.read("QROO_AYUN_2024.csv") == \
        files["assets/bd/QROO_AYUN_2024.csv"]
    assert "LEEME.txt" in inner.namelist()
    assert gen_prep.corte_info("20240603_0015", offset).iso == \
        "2024-06-03T00:15:00%+03d:00" % offset


@pytest.mark.parametrize("dialect", ["A", "B"])
def test_csv_counters_and_columns(dialect):
    files = gen_prep.package_files("20240603_0015", size="full",
                                   dialect=dialect)
    sep = "|" if dialect == "A" else ","
    rows = csv_rows(files["assets/bd/QROO_AYUN_2024.csv"], sep)
    names, values = (rows[3], rows[4]) if dialect == "A" else \
        (rows[2], rows[3])
    c = dict(zip(names, values))
    header = rows[6] if dialect == "A" else rows[4]
    data = rows[8:] if dialect == "A" else rows[5:]
    assert all(len(r) == len(header) for r in data)
    assert int(c["ACTAS_REGISTRADAS"]) == len(data)
    assert int(c["ACTAS_REGISTRADAS"]) == int(c["ACTAS_CAPTURADAS"]) + \
        int(c["ACTAS_FUERA_CATALOGO"])
    assert int(c["ACTAS_CAPTURADAS"]) == int(c["ACTAS_CONTABILIZADAS"]) + \
        int(c["ACTAS_NO_CONTABILIZADAS"])
    assert c["PORCENTAJE_ACTAS_CAPTURADAS"] == gen_prep.trunc4(
        int(c["ACTAS_CAPTURADAS"]), int(c["ACTAS_ESPERADAS"]))
    assert 2000 < int(c["ACTAS_ESPERADAS"]) < 3000
    if dialect == "A":
        assert all(r[0].startswith('="23') for r in data)
    else:
        assert all(r[0].startswith("'23") for r in data)


def test_side_files_encodings():
    files = gen_prep.package_files()
    leeme = files["assets/bd/LEEME.txt"]
    assert b"\r\n" in leeme and b"\n" not in leeme.replace(b"\r\n", b"")
    leeme.decode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        leeme.decode("utf-8")
    cand = files["assets/bd/QROO_AYUN_CANDIDATURAS_2024.csv"]
    assert cand.startswith(b"\xef\xbb\xbf") and b"\r\n" in cand
    results = files["assets/bd/QROO_AYUN_2024.csv"]
    assert not results.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in results


def test_series_only_data_changes_and_counters_grow():
    cortes = gen_prep.series_cortes("20240602_2100", 6, 30)
    listings = [gen_prep.package_files(c) for c in cortes]
    static = [p for p in listings[0]
              if p.startswith(("assets/img/", "assets/fonts/",
                               "assets/mapas/")) or "/" not in p]
    assert len(static) > 20
    for later in listings[1:]:
        for p in static:
            assert later[p] == listings[0][p], p
    prev = prev_files = None
    for files in listings:
        rows = csv_rows(files["assets/bd/QROO_AYUN_2024.csv"], "|")
        # every counter but the participation ratio only grows
        counts = [float(v) for v in rows[4]][:-1]
        if prev is not None:
            assert all(a <= b for a, b in zip(prev, counts))
            assert files["assets/ayuntamientos/avanceEntidad.json"] != \
                prev_files["assets/ayuntamientos/avanceEntidad.json"]
        prev, prev_files = counts, files


def test_full_package_size_and_file_count(tmp_path):
    t0 = time.monotonic()
    path = gen_prep.build_package(tmp_path, size="full")
    elapsed = time.monotonic() - t0
    size = (tmp_path / "20240603_0015_PREP_QROO.tar.gz").stat().st_size
    assert 30_000_000 <= size <= 35_000_000, size
    files = [n for n, d in members(path).items() if d is not None]
    assert 2_300 <= len(files) <= 2_700, len(files)
    assert elapsed < 10, elapsed


def test_command_line(tmp_path):
    out = subprocess.run(
        [sys.executable, GEN, "--series", "3", "--every", "15",
         "--corte", "20240602_2300", "--utc-offset", "-6",
         "--dialect", "B", "--out", str(tmp_path)],
        check=True, capture_output=True, text=True).stdout.split()
    assert [p.rsplit("/", 1)[1] for p in out] == [
        "20240602_2300_PREP_QROO.tar.gz", "20240602_2315_PREP_QROO.tar.gz",
        "20240602_2330_PREP_QROO.tar.gz"]
    bad = subprocess.run([sys.executable, GEN, "--corte", "2024-06-03"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "YYYYMMDD_HHMM" in bad.stderr
