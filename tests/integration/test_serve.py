"""prep_serve: what a client sees for one published corte.

Expected bytes come from the generator (gen_prep.expected_listing), never
from the server, so every comparison is against the package itself.
"""

import gzip
import random
import re

import pytest

import prep_harness as ph


pytestmark = pytest.mark.needs_module

INDEX = "/index.html"
CSV = "/assets/bd/QROO_AYUN_2024.csv"
AVANCE = "/assets/ayuntamientos/avanceEntidad.json"
PNG = "/assets/img/generales/fondo.png"
GEOJSON = "/assets/mapas/qroo_secciones.json"


def find(pkg, regex):
    """The one listing path matching regex (hashed bundle names)."""
    hits = [p for p in pkg.listing if re.fullmatch(regex, p)]
    assert len(hits) == 1, (regex, hits)
    return hits[0]


def main_js(pkg):
    return find(pkg, r"/main\.[0-9a-f]{16}\.js")


def styles_css(pkg):
    return find(pkg, r"/styles\.[0-9a-f]{16}\.css")


def media_type(r):
    return (r.header("Content-Type") or "").split(";")[0].strip().lower()


def has_utf8_charset(r):
    return bool(re.search(r";\s*charset=utf-8\b",
                          (r.header("Content-Type") or "").lower()))


def fetch_all(inst, paths, headers=None):
    """GETs paths over one keep-alive connection; {path: Response}."""
    conn = inst.connection()
    out = {}
    try:
        for p in paths:
            out[p] = ph.http_request(conn, "GET", p, headers)
    finally:
        conn.close()
    return out


# ------------------------------------------------------------- basics


def test_root_serves_index_html(served, pkg_a):
    r = served.get("/")
    assert r.status == 200
    assert r.body == pkg_a.listing[INDEX]
    assert media_type(r) == "text/html" and has_utf8_charset(r)
    assert r.corte == pkg_a.iso


def test_directory_with_slash_serves_its_index(nginx_factory, packages):
    help_page = b"<!doctype html><title>Ayuda</title><p>Ayuda PREP</p>\n"
    pkg = packages.get(extra={"ayuda/index.html": help_page})
    inst = nginx_factory(publish=[pkg])

    r = inst.get("/ayuda/")
    assert r.status == 200
    assert r.body == help_page
    assert media_type(r) == "text/html"

    assert inst.get("/ayuda/index.html").body == help_page
    # a directory without index.html
    r = inst.get("/assets/")
    assert r.status == 404
    assert r.corte == pkg.iso


@pytest.mark.parametrize("path", [
    "/nope.json", "/assets/nope/x.csv", "/INDEX.HTML", "/index.html/",
    "/assets", "/resultados/ayuntamientos", "/index.htm",
])
def test_unknown_paths_are_404(served, pkg_a, path):
    r = served.get(path)
    assert r.status == 404
    assert r.corte == pkg_a.iso


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH",
                                    "OPTIONS"])
def test_methods_other_than_get_head_are_405(served, pkg_a, method):
    body = b"a=1&b=2" if method in ("POST", "PUT", "PATCH") else None
    r = served.request(method, INDEX, body=body)
    assert r.status == 405
    allow = {m.strip().upper() for m in (r.header("Allow") or "").split(",")}
    assert {"GET", "HEAD"} <= allow, r.header("Allow")
    assert r.corte == pkg_a.iso


def test_request_body_is_discarded_on_keepalive(served, pkg_a):
    conn = served.connection()
    try:
        r = ph.http_request(conn, "POST", INDEX, body=b"x" * 200_000)
        assert r.status == 405
        r = ph.http_request(conn, "GET", INDEX)
        assert r.status == 200
        assert r.body == pkg_a.listing[INDEX]
    finally:
        conn.close()


def test_head_has_get_headers_and_no_body(served, pkg_a):
    for path in (INDEX, CSV, PNG, main_js(pkg_a)):
        g = served.get(path)
        h = served.head(path)
        assert g.status == h.status == 200, path
        assert h.body == b""
        for name in ("Content-Type", "Content-Length", "ETag",
                     "Last-Modified", "Cache-Control", "X-PREP-Corte"):
            assert h.header(name) == g.header(name), (path, name)
        assert int(h.header("Content-Length")) == len(pkg_a.listing[path])


# -------------------------------------------------------------- bytes


def test_every_file_of_small_package_is_served_exactly(served, pkg_a):
    responses = fetch_all(served, sorted(pkg_a.listing))
    bad = []
    for path, data in sorted(pkg_a.listing.items()):
        r = responses[path]
        if r.status != 200 or r.body != data or \
                r.header("Content-Length") != str(len(data)) or \
                r.corte != pkg_a.iso:
            bad.append("%s: %d, %d bytes (want %d), corte %s" % (
                path, r.status, len(r.body), len(data), r.corte))
    assert not bad, "%d of %d files wrong:\n%s" % (
        len(bad), len(pkg_a.listing), "\n".join(bad[:30]))


def test_full_size_package_is_served_exactly(nginx_factory, packages):
    pkg = packages.get(size="full")
    inst = nginx_factory(publish=[pkg])
    listing = pkg.listing
    assert len(listing) > 2000

    responses = fetch_all(inst, sorted(listing))
    bad = [p for p, data in listing.items()
           if responses[p].status != 200 or responses[p].body != data]
    assert not bad, "%d of %d files wrong, e.g. %s" % (
        len(bad), len(listing), bad[:10])

    # and the gzip variants of a sample of the compressible ones
    rnd = random.Random(7)
    text = [p for p in listing if p.endswith((".json", ".csv", ".js",
                                              ".css", ".html"))]
    sample = rnd.sample(text, 60) + [CSV, GEOJSON, main_js(pkg)]
    gz = fetch_all(inst, sample, {"Accept-Encoding": "gzip"})
    for p in sample:
        r = gz[p]
        assert r.status == 200, p
        body = r.body
        if r.header("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        assert body == listing[p], p
    big = [p for p in (CSV, GEOJSON, main_js(pkg))]
    assert all(gz[p].header("Content-Encoding") == "gzip" for p in big)


# ------------------------------------------------------------ headers


TEXT_TYPES = [
    (INDEX, ("text/html",)),
    ("styles", ("text/css",)),
    ("main", ("application/javascript", "text/javascript")),
    (AVANCE, ("application/json",)),
    (CSV, ("text/csv",)),
]
BINARY_TYPES = [
    (PNG, ("image/png",)),
    ("/assets/img/tutorial/paso_1.gif", ("image/gif",)),
    ("/assets/fonts/Roboto-Regular.woff2", ("font/woff2",)),
    ("/assets/fonts/Roboto-Regular.woff", ("font/woff",
                                           "application/font-woff")),
    ("/assets/20240603_0015_PREP_QROO.zip", ("application/zip",)),
    ("/favicon.ico", ("image/x-icon", "image/vnd.microsoft.icon")),
]


def _resolve(pkg, path):
    if path == "styles":
        return styles_css(pkg)
    if path == "main":
        return main_js(pkg)
    return path


@pytest.mark.parametrize("path,types", TEXT_TYPES)
def test_text_types_carry_utf8_charset(served, pkg_a, path, types):
    r = served.get(_resolve(pkg_a, path))
    assert r.status == 200
    assert media_type(r) in types, r.header("Content-Type")
    assert has_utf8_charset(r), r.header("Content-Type")


@pytest.mark.parametrize("path,types", BINARY_TYPES)
def test_binary_types_have_no_charset(served, pkg_a, path, types):
    r = served.get(path)
    assert r.status == 200
    assert media_type(r) in types, r.header("Content-Type")
    assert "charset" not in r.header("Content-Type").lower()


def test_jpeg_and_svg_types(served, pkg_a):
    jpg = next(p for p in pkg_a.listing if p.endswith(".jpg"))
    svg = next(p for p in pkg_a.listing if p.endswith(".svg"))
    assert media_type(served.get(jpg)) == "image/jpeg"
    assert media_type(served.get(svg)) == "image/svg+xml"


def test_validators_are_corte_time_and_content_etag(served, pkg_a):
    for path in (INDEX, AVANCE, CSV, PNG):
        r = served.get(path)
        data = pkg_a.listing[path]
        assert r.header("Last-Modified") == pkg_a.corte.http_date
        etag = r.header("ETag")
        assert not etag.startswith("W/"), "weak ETag %s" % etag
        assert etag == ph.strong_etag(data), path
        assert r.header("Content-Length") == str(len(data))
        assert r.header("Cache-Control"), "no default Cache-Control"


def test_cache_control_per_type(nginx_factory, pkg_a):
    inst = nginx_factory(publish=[pkg_a], location_extra="""
prep_cache_control "public, max-age=5" application/json;
prep_cache_control "public, max-age=3600, immutable" image/*;
prep_cache_control "no-cache";
""")
    jpg = next(p for p in pkg_a.listing if p.endswith(".jpg"))
    expect = {AVANCE: "public, max-age=5",
              PNG: "public, max-age=3600, immutable",
              jpg: "public, max-age=3600, immutable",
              INDEX: "no-cache", CSV: "no-cache",
              styles_css(pkg_a): "no-cache"}
    for path, value in expect.items():
        r = inst.get(path)
        assert r.status == 200
        assert r.header("Cache-Control") == value, path
        # conditional answers keep the same policy
        r304 = inst.get(path, {"If-None-Match": r.header("ETag")})
        assert r304.status == 304
        assert r304.header("Cache-Control") == value, path


@pytest.mark.parametrize("level", ["http_extra", "server_extra"])
def test_cache_control_is_inherited(nginx_factory, pkg_a, level):
    inst = nginx_factory(publish=[pkg_a], **{
        level: 'prep_cache_control "public, max-age=7";'})
    for path in (INDEX, AVANCE, PNG):
        assert inst.get(path).header("Cache-Control") == \
            "public, max-age=7", path


def test_cache_control_off(nginx_factory, pkg_a):
    inst = nginx_factory(publish=[pkg_a],
                         location_extra="prep_cache_control off;")
    for path in (INDEX, AVANCE, PNG):
        r = inst.get(path)
        assert r.status == 200
        assert r.header("Cache-Control") is None, path


# -------------------------------------------------------- conditional


def test_if_none_match_gives_304(served, pkg_a):
    r = served.get(AVANCE)
    etag = r.header("ETag")
    for inm in (etag, '"0123456789abcdef0123456789abcdef", ' + etag, "*"):
        c = served.get(AVANCE, {"If-None-Match": inm})
        assert c.status == 304, inm
        assert c.body == b""
        assert c.header("ETag") == etag
        assert c.corte == pkg_a.iso
    c = served.get(AVANCE, {"If-None-Match":
                            '"0123456789abcdef0123456789abcdef"'})
    assert c.status == 200
    assert c.body == pkg_a.listing[AVANCE]


def test_if_modified_since(served, pkg_a):
    lm = pkg_a.corte.http_date
    assert served.get(INDEX, {"If-Modified-Since": lm}).status == 304
    older = "Sun, 02 Jun 2024 12:00:00 GMT"
    r = served.get(INDEX, {"If-Modified-Since": older})
    assert r.status == 200
    assert r.body == pkg_a.listing[INDEX]


def test_if_none_match_takes_precedence_over_if_modified_since(served,
                                                                pkg_a):
    """RFC 9110 13.1.3: with If-None-Match present, If-Modified-Since is
    ignored, in both directions."""
    etag = served.get(AVANCE).header("ETag")
    lm = pkg_a.corte.http_date
    stale = '"ffffffffffffffffffffffffffffffff"'
    r = served.get(AVANCE, {"If-None-Match": stale,
                            "If-Modified-Since": lm})
    assert r.status == 200
    assert r.body == pkg_a.listing[AVANCE]
    r = served.get(AVANCE, {"If-None-Match": etag,
                            "If-Modified-Since":
                                "Sat, 01 Jun 2024 00:00:00 GMT"})
    assert r.status == 304


# -------------------------------------------------------------- range


def test_single_range(served, pkg_a):
    data = pkg_a.listing[CSV]
    n = len(data)
    cases = {"bytes=0-99": (0, 99), "bytes=100-": (100, n - 1),
             "bytes=-50": (n - 50, n - 1), "bytes=10-10": (10, 10)}
    for spec, (first, last) in cases.items():
        r = served.get(CSV, {"Range": spec})
        assert r.status == 206, spec
        assert r.header("Content-Range") == "bytes %d-%d/%d" % (first, last,
                                                                n)
        assert r.body == data[first:last + 1], spec
        assert r.header("Content-Length") == str(last - first + 1)
        assert r.corte == pkg_a.iso


def _multipart(r):
    m = re.match(r'multipart/byteranges;\s*boundary="?([^";]+)"?',
                 r.header("Content-Type"))
    assert m, r.header("Content-Type")
    boundary = b"--" + m.group(1).encode()
    parts = []
    for chunk in r.body.split(boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, body = chunk.partition(b"\r\n\r\n")
        cr = re.search(rb"Content-Range: bytes (\d+)-(\d+)/(\d+)", head,
                       re.I)
        assert cr, head
        parts.append((int(cr.group(1)), int(cr.group(2)),
                      int(cr.group(3)), body[:-2]))   # strip CRLF
    return parts


def test_multiple_ranges_are_multipart(served, pkg_a):
    path = main_js(pkg_a)
    data = pkg_a.listing[path]
    r = served.get(path, {"Range": "bytes=0-9,2000-2999,-16"})
    assert r.status == 206
    parts = _multipart(r)
    n = len(data)
    assert [(p[0], p[1]) for p in parts] == [(0, 9), (2000, 2999),
                                             (n - 16, n - 1)]
    for first, last, total, body in parts:
        assert total == n
        assert body == data[first:last + 1]
    assert r.corte == pkg_a.iso


def test_if_range(served, pkg_a):
    data = pkg_a.listing[CSV]
    etag = served.get(CSV).header("ETag")
    r = served.get(CSV, {"Range": "bytes=0-99", "If-Range": etag})
    assert r.status == 206
    assert r.body == data[:100]
    r = served.get(CSV, {"Range": "bytes=0-99",
                         "If-Range": '"00000000000000000000000000000000"'})
    assert r.status == 200
    assert r.body == data


def test_unsatisfiable_range_is_416(served, pkg_a):
    n = len(pkg_a.listing[CSV])
    r = served.get(CSV, {"Range": "bytes=%d-" % n})
    assert r.status == 416
    assert r.header("Content-Range") == "bytes */%d" % n
    assert r.corte == pkg_a.iso


# --------------------------------------------------------------- gzip


def test_gzip_variant_and_vary(served, pkg_a):
    for path in (main_js(pkg_a), styles_css(pkg_a), CSV, GEOJSON, INDEX):
        data = pkg_a.listing[path]
        z = served.get(path, {"Accept-Encoding": "gzip, deflate, br"})
        assert z.status == 200
        assert z.header("Content-Encoding") == "gzip", path
        assert gzip.decompress(z.body) == data, path
        assert len(z.body) < len(data)
        assert z.header("Content-Length") == str(len(z.body))
        assert z.header("ETag") == ph.strong_etag(data, gzip_variant=True)
        plain = served.get(path)
        assert plain.header("Content-Encoding") is None
        assert plain.body == data
        assert plain.header("ETag") == ph.strong_etag(data)
        # one Vary on both variants, so caches keep them apart
        for r in (z, plain):
            vary = r.all("Vary")
            assert len(vary) == 1, (path, vary)
            assert "accept-encoding" in vary[0].lower()
        # the gzip variant revalidates with its own ETag
        c = served.get(path, {"Accept-Encoding": "gzip",
                              "If-None-Match": z.header("ETag")})
        assert c.status == 304


def test_single_vary_with_gzip_vary_on(nginx_factory, pkg_a):
    inst = nginx_factory(publish=[pkg_a], location_extra="gzip_vary on;")
    path = main_js(pkg_a)
    for headers in ({"Accept-Encoding": "gzip"}, {}):
        r = inst.get(path, headers)
        assert r.status == 200
        vary = [v.strip().lower() for h in r.all("Vary")
                for v in h.split(",")]
        assert vary == ["accept-encoding"], r.all("Vary")


def test_gzip_refused_with_q_zero(served, pkg_a):
    path = main_js(pkg_a)
    r = served.get(path, {"Accept-Encoding": "gzip;q=0"})
    assert r.header("Content-Encoding") is None
    assert r.body == pkg_a.listing[path]


def test_head_of_gzip_variant(served, pkg_a):
    path = CSV
    g = served.get(path, {"Accept-Encoding": "gzip"})
    h = served.head(path, {"Accept-Encoding": "gzip"})
    assert h.header("Content-Encoding") == "gzip"
    assert h.header("Content-Length") == str(len(g.body))
    assert h.body == b""


def test_no_gzip_for_incompressible_files(served, pkg_a):
    jpg = next(p for p in pkg_a.listing if p.endswith(".jpg"))
    for path in (PNG, jpg, "/assets/fonts/Roboto-Regular.woff2",
                 "/assets/20240603_0015_PREP_QROO.zip"):
        r = served.get(path, {"Accept-Encoding": "gzip"})
        assert r.status == 200
        assert r.header("Content-Encoding") is None, path
        assert r.body == pkg_a.listing[path]


def test_query_string_is_ignored_for_lookup(served, pkg_a):
    path = "/assets/configuracion.json"
    r = served.get(path + "?t=1717392900&v=2")
    assert r.status == 200
    assert r.body == pkg_a.listing[path]


def test_utf8_and_space_in_names(nginx_factory, packages):
    extra = {"assets/img/sección ñ.png": b"\x89PNG\r\n\x1a\n" + bytes(300),
             "assets/datos/año 2024.json": '{"año":"2024"}'.encode()}
    pkg = packages.get(extra=extra)
    inst = nginx_factory(publish=[pkg])
    r = inst.get("/assets/img/secci%C3%B3n%20%C3%B1.png")
    assert r.status == 200
    assert r.body == extra["assets/img/sección ñ.png"]
    r = inst.get("/assets/datos/a%C3%B1o%202024.json")
    assert r.status == 200
    assert r.body == extra["assets/datos/año 2024.json"]


# ---------------------------------------------------------- traversal


ESCAPES = [
    "/../etc/passwd", "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd", "/%2E%2E/%2E%2E/etc/passwd",
    "/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2f..%2fetc%2fpasswd", "/assets/..%2f..%2f..%2fetc/passwd",
    "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/./../etc/passwd",
    "/assets/..\\..\\..\\etc\\passwd", "/%c0%ae%c0%ae/etc/passwd",
    "//etc/passwd", "/etc/passwd", "/%00", "/index.html%00.json",
    "/assets/bd/%2e%2e/%2e%2e/%2e%2e/%2e%2e/proc/self/environ",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_traversal_never_escapes(served, path):
    r = served.get(path)
    assert r.status in (400, 404), (path, r.status)
    assert b"root:" not in r.body
    assert b"PATH=" not in r.body


@pytest.mark.parametrize("path", [
    "/assets/../index.html", "/./index.html", "/assets/bd/../../index.html",
    "//index.html", "/assets/%2e%2e/index.html",
])
def test_dot_segments_resolve_inside_the_snapshot(served, pkg_a, path):
    r = served.get(path)
    assert r.status == 200, path
    assert r.body == pkg_a.listing[INDEX]


# -------------------------------------------------------- corte header


def test_corte_header_on_every_status(served, pkg_a):
    etag = served.get(CSV).header("ETag")
    n = len(pkg_a.listing[CSV])
    cases = [
        (200, "GET", INDEX, {}),
        (200, "HEAD", INDEX, {}),
        (304, "GET", CSV, {"If-None-Match": etag}),
        (206, "GET", CSV, {"Range": "bytes=0-9"}),
        (404, "GET", "/missing.json", {}),
        (405, "POST", INDEX, {}),
        (416, "GET", CSV, {"Range": "bytes=%d-" % n}),
    ]
    for status, method, path, headers in cases:
        r = served.request(method, path, headers,
                           body=b"x" if method == "POST" else None)
        assert r.status == status, (method, path, headers)
        # header() also fails if the header is repeated
        assert r.header("X-PREP-Corte") == "2024-06-03T00:15:00-05:00", \
            (status, r.all("X-PREP-Corte"))


def test_corte_header_on_bad_request(served, pkg_a):
    """nginx's own 400 page is a response of the server too."""
    r = served.get("/../etc/passwd")
    assert r.status == 400
    assert r.corte == pkg_a.iso


def test_nothing_published_is_503_placeholder(nginx_factory):
    inst = nginx_factory()
    for path in ("/", INDEX, AVANCE, "/missing.json"):
        r = inst.get(path)
        assert r.status == 503, path
        assert r.corte == "none"
        assert re.fullmatch(r"\d+", r.header("Retry-After") or ""), \
            r.header("Retry-After")
        assert media_type(r) == "text/html"
        assert b"<html" in r.body.lower()
    h = inst.head("/")
    assert h.status == 503
    assert h.corte == "none"
    assert h.body == b""


def test_custom_placeholder_and_retry_after(nginx_factory, tmp_path):
    page = ("<!doctype html><html><title>Espere</title><p>Pronto, "
            "el primer corte.</p></html>\n").encode()
    (tmp_path / "espera.html").write_bytes(page)
    inst = nginx_factory(location_extra="prep_placeholder %s;\n"
                         "prep_retry_after 30;" % (tmp_path / "espera.html"))
    r = inst.get("/")
    assert r.status == 503
    assert r.body == page
    assert r.header("Retry-After") == "30"
    assert r.corte == "none"


def test_error_page_redirect_keeps_corte_header(nginx_factory, pkg_a):
    inst = nginx_factory(publish=[pkg_a],
                         server_extra="error_page 404 = /index.html;")
    r = inst.get("/missing.json")
    assert r.status == 200
    assert r.body == pkg_a.listing[INDEX]
    assert r.corte == pkg_a.iso


def test_corte_variables_in_log_format_and_add_header(nginx_factory, pkg_a):
    inst = nginx_factory(
        publish=[pkg_a],
        http_extra="log_format prep '$request_uri $status "
                   "corte=$prep_corte id=$prep_corte_id';",
        server_extra="access_log prep_access.log prep;",
        location_extra="add_header X-Corte-Id $prep_corte_id always;")
    ok = inst.get(INDEX)
    missing = inst.get("/missing.json")
    assert ok.header("X-Corte-Id") == "20240603_0015"
    assert missing.header("X-Corte-Id") == "20240603_0015"
    log = inst.prefix / "prep_access.log"
    want = {"/index.html 200 corte=2024-06-03T00:15:00-05:00 "
            "id=20240603_0015",
            "/missing.json 404 corte=2024-06-03T00:15:00-05:00 "
            "id=20240603_0015"}
    ph.wait_for(lambda: want <= set(inst.access_lines(log)), 5,
                "the access log lines %s" % want)


def test_spa_fallback(nginx_factory, pkg_a):
    inst = nginx_factory(publish=[pkg_a],
                         location_extra="prep_fallback /index.html;")
    for path in ("/resultados/ayuntamientos",
                 "/resultados/ayuntamientos/municipio/05", "/avance"):
        r = inst.get(path)
        assert r.status == 200, path
        assert r.body == pkg_a.listing[INDEX]
        assert media_type(r) == "text/html"
        assert r.corte == pkg_a.iso
    # real files are still themselves, names with an extension still 404
    assert inst.get(AVANCE).body == pkg_a.listing[AVANCE]
    for path in ("/missing.json", "/assets/img/nope.png",
                 "/resultados/datos.csv"):
        r = inst.get(path)
        assert r.status == 404, path
        assert r.corte == pkg_a.iso


@pytest.mark.parametrize("dialect,offset,flat", [
    ("A", -5, False), ("B", -5, False), ("B", -6, False), ("A", -6, True),
])
def test_package_variants(nginx_factory, packages, dialect, offset, flat):
    pkg = packages.get("20240603_0015", dialect=dialect, utc_offset=offset,
                       flat=flat)
    inst = nginx_factory(publish=[pkg])
    r = inst.get(CSV)
    assert r.status == 200
    assert r.body == pkg.listing[CSV]
    assert r.corte == "2024-06-03T00:15:00%+03d:00" % offset
    assert r.header("Last-Modified") == pkg.corte.http_date
