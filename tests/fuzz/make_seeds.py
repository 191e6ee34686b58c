#!/usr/bin/python3
"""Seed corpora for the libFuzzer targets, generated at `make fuzz` time
(nothing binary is committed).

    make_seeds.py --ingest build/prep-ingest --out build/fuzz/seeds

writes OUT/validator/* (small packages: realistic ones from the fixture
generator's building blocks, and hostile ones: links, devices, bad names,
broken gzip, pax headers, sparse, zips) and OUT/snapshot/* (snapshots
that prep-ingest publish wrote from some of them, and broken copies).
"""

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))

import gen_prep  # noqa: E402


def member(name, data=b"", kind=tarfile.REGTYPE, link=""):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = link
    ti.mtime = 1717391700
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    return ti, data if kind == tarfile.REGTYPE else None


def targz(members, fmt=tarfile.GNU_FORMAT):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=fmt) as t:
        for ti, data in members:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return gzip.compress(bio.getvalue(), mtime=0)


def mini_site(corte="20240603_0015", dialect="A", prefix=""):
    """A few files of a real package: index.html, a JSON with its
    ultimoCorte, a CSV with its preamble, the database zip."""
    ci = gen_prep.corte_info(corte)
    csv = ("sep=|\nAYUNTAMIENTOS\n%s\nA|B\n1|2\n"
           % ci.csv_line(dialect)).encode()
    zbio = io.BytesIO()
    with zipfile.ZipFile(zbio, "w") as z:
        z.writestr("QROO_AYUN_2024.csv", csv)
    ultimo = {"ultimoCorte": {"fecha": ci.fecha_dmy(), "hora": ci.hora()}}
    return [
        member(prefix + "index.html", b"<!doctype html><html><body>PREP"
                                      b"</body></html>"),
        member(prefix + "assets/avance.json", json.dumps(ultimo).encode()),
        member(prefix + "assets/bd/QROO_AYUN_2024.csv", csv),
        member(prefix + "assets/%s_PREP_QROO.zip" % corte,
               zbio.getvalue()),
        member(prefix + "main.js", b"console.log('prep');" * 20),
    ]


def validator_seeds():
    site = mini_site()
    good = targz(site)
    yield "good", good
    yield "good_pax", targz(mini_site(), fmt=tarfile.PAX_FORMAT)
    yield "good_dir", targz([member("20240603_0015_PREP_QROO",
                                    kind=tarfile.DIRTYPE)]
                            + mini_site(prefix="20240603_0015_PREP_QROO/"))
    yield "good_b", targz(mini_site(dialect="B"))
    yield "symlink", targz(site + [member("l", kind=tarfile.SYMTYPE,
                                          link="/etc/passwd")])
    yield "hardlink", targz(site + [member("h", kind=tarfile.LNKTYPE,
                                           link="index.html")])
    yield "fifo", targz(site + [member("p", kind=tarfile.FIFOTYPE)])
    yield "dotdot", targz(site + [member("../x", b"x")])
    yield "dup", targz(site + [member("./index.html", b"x")])
    yield "utf8", targz(site + [member("ayuda/niño.html", b"x")])
    yield "truncated", good[:len(good) // 2]
    yield "trailing", good + b"garbage"
    yield "second_member", good + good
    yield "crc", good[:-8] + bytes([good[-8] ^ 1]) + good[-7:]
    yield "empty_tar", gzip.compress(b"\0" * 1024, mtime=0)
    # names that lie (issue 8): the same builders as the catalogue
    for row, data, _ in gen_prep.lying_name_packages():
        yield row, data


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ingest", required=True, help="prep-ingest binary")
    p.add_argument("--out", required=True)
    a = p.parse_args()

    vdir = os.path.join(a.out, "validator")
    sdir = os.path.join(a.out, "snapshot")
    os.makedirs(vdir, exist_ok=True)
    os.makedirs(sdir, exist_ok=True)

    published = 0
    for name, data in validator_seeds():
        with open(os.path.join(vdir, name + ".tar.gz"), "wb") as f:
            f.write(data)
        if not name.startswith("good"):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            pkg = os.path.join(tmp, "20240603_0015_PREP_QROO.tar.gz")
            with open(pkg, "wb") as f:
                f.write(data)
            store = os.path.join(tmp, "store")
            os.mkdir(store)
            subprocess.run([a.ingest, "publish", "-q", "--store", store,
                            pkg], check=True)
            snap = open(os.path.join(store, "current"), "rb").read()
            with open(os.path.join(sdir, name + ".snap"), "wb") as f:
                f.write(snap)
            with open(os.path.join(sdir, name + "_cut.snap"), "wb") as f:
                f.write(snap[:len(snap) // 2])
            flipped = bytearray(snap)
            flipped[len(snap) // 3] ^= 0x40
            with open(os.path.join(sdir, name + "_flip.snap"), "wb") as f:
                f.write(bytes(flipped))
            published += 1

    print("seeds: %d packages, %d snapshots in %s"
          % (len(os.listdir(vdir)), len(os.listdir(sdir)), a.out))
    return 0 if published else 1


if __name__ == "__main__":
    sys.exit(main())
