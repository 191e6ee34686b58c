"""pytest fixtures for the ngx_prep integration suite.

Each test gets its own nginx (own prefix under tmp_path, own store, own
ports); teardown stops it and fails the test when its error.log shows an
alert, a crash or a sanitizer report.  The machinery lives in
prep_harness.py so later suites (ingest daemon, statistics) reuse it.

Tests marked needs_module / needs_ingest (or using a fixture that
publishes packages) FAIL with a one-line reason when the build is
missing: a missing build is a failure in CI, never a skip.
"""

import os

import pytest

import prep_harness as ph


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs_module: needs build/ngx_http_prep_module.so "
        "(fails, does not skip, when it is missing)")
    config.addinivalue_line(
        "markers", "needs_ingest: needs the prep-ingest binary "
        "(fails, does not skip, when it is missing)")


# fixtures that are useless without prep-ingest (they publish packages)
INGEST_FIXTURES = {"served", "packages", "pkg_a", "pkg_b"}


def pytest_runtest_setup(item):
    need_ingest = (item.get_closest_marker("needs_ingest") is not None
                   or bool(INGEST_FIXTURES & set(item.fixturenames)))
    problems = ph.missing_builds(
        need_module=item.get_closest_marker("needs_module") is not None,
        need_ingest=need_ingest)
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for inst in getattr(item, "prep_instances", ()):
            report.sections.append((
                "nginx error.log (%s)" % inst.prefix,
                _tail(inst.log_text(), 80)))


def _tail(text, lines):
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def packages(tmp_path_factory):
    """Session cache of generated packages (deterministic, immutable)."""
    return ph.PackageCache(tmp_path_factory.mktemp("packages"))


@pytest.fixture
def nginx_factory(tmp_path, request):
    """make(publish=[pkg, ...], start=True, workers=2, **conf) -> Nginx.

    Packages are published into the store before nginx starts, so the
    first corte is live from the start.  conf: see prep_harness.Nginx.
    With PREP_TEST_HUP=1 every instance is reloaded (SIGHUP) once right
    after its start, so the whole suite runs on post-reload workers."""
    instances = []
    request.node.prep_instances = instances

    def make(publish=(), start=True, workers=2, **conf):
        inst = ph.Nginx(tmp_path / ("nginx%d" % len(instances)),
                        workers=workers, **conf)
        instances.append(inst)
        for pkg in publish:
            inst.publish(pkg)
        if start:
            inst.start()
            if os.environ.get("PREP_TEST_HUP") == "1":
                inst.reload()
        return inst

    yield make

    errors = []
    for inst in instances:
        err = inst.stop()
        if err:
            errors.append(err)
        bad = inst.bad_log_lines()
        if bad:
            errors.append("%s: %d bad error.log line(s):\n  %s\n"
                          "--- error.log (tail) ---\n%s" % (
                              inst.prefix, len(bad), "\n  ".join(bad[:20]),
                              _tail(inst.log_text(), 120)))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def pkg_a(packages):
    """Small package, corte 20240603_0015 (UTC-5)."""
    return packages.get("20240603_0015")


@pytest.fixture
def pkg_b(packages):
    """The next corte of the same night, 20240603_0030."""
    return packages.get("20240603_0030")


@pytest.fixture
def served(nginx_factory, pkg_a):
    """nginx serving pkg_a (published before start)."""
    return nginx_factory(publish=[pkg_a])
