"""The module's configuration checks and its error log, as a sysadmin meets
them: what `nginx -t` says about a store that is not there, that `nginx -t`
does no work on the snapshot, and that a 404 is logged like the static
module's (log_not_found)."""


import pytest

import prep_harness as ph


pytestmark = pytest.mark.needs_module


def _nginx_t(inst):
    """`nginx -t` logging to inst's error.log, which the tests read."""
    return inst.config_test(log=inst.error_log)


def test_missing_store_is_a_warning_not_an_error(nginx_factory):
    inst = nginx_factory(start=False)
    inst.store.rmdir()

    rc, err = _nginx_t(inst)

    assert rc == 0, err
    assert "[warn]" in err and '"prep_store" directory' in err, err
    assert str(inst.store) in err and "cannot be read" in err, err


def test_store_that_is_a_file_is_a_warning(nginx_factory):
    inst = nginx_factory(start=False)
    inst.store.rmdir()
    inst.store.write_text("not a directory\n")

    rc, err = _nginx_t(inst)

    assert rc == 0, err
    assert "[warn]" in err and "is not a directory" in err, err


def test_existing_store_gives_no_warning(nginx_factory):
    inst = nginx_factory(start=False)

    rc, err = _nginx_t(inst)

    assert rc == 0, err
    assert "prep_store" not in err, err


def test_nginx_t_does_not_publish_or_check_the_snapshot(nginx_factory,
                                                        pkg_a):
    inst = nginx_factory(publish=[pkg_a], start=False)

    rc, err = _nginx_t(inst)
    log = inst.log_text()

    assert rc == 0, err
    # the full data CRC and the "published corte" notice are for the
    # nginx that serves, not for a configuration test
    assert "published corte" not in err + log, err + log
    assert "nothing published" not in err + log, err + log

    # the same store and configuration do publish when nginx starts
    inst.start()
    assert "published corte 20240603_0015" in inst.log_text()
    assert inst.get("/").header("X-PREP-Corte") == "2024-06-03T00:15:00-05:00"


def test_404_is_logged_as_the_static_module_does(nginx_factory, pkg_a):
    inst = nginx_factory(publish=[pkg_a])

    assert inst.get("/no/such/file.json").status == 404

    def logged():
        return '"/no/such/file.json" is not in corte 20240603_0015' \
            in inst.log_text()
    ph.wait_for(logged, 5, "the 404 in error.log")
    line = [x for x in inst.log_text().splitlines()
            if "/no/such/file.json" in x][0]
    assert "[error]" in line, line


def test_log_not_found_off_keeps_404s_out_of_the_log(nginx_factory,
                                                     pkg_a):
    inst = nginx_factory(publish=[pkg_a], location_extra="log_not_found off;")

    assert inst.get("/quiet/missing.json").status == 404
    # a request after it proves its log phase is done
    assert inst.get("/").status == 200
    ph.wait_for(lambda: len(inst.access_lines()) >= 2, 5, "access log")

    assert "/quiet/missing.json" not in inst.log_text()


@pytest.mark.parametrize("case", ["directory", "too_large", "key_too_large",
                                  "missing"])
def test_files_named_by_directives_are_checked(nginx_factory, tmp_path,
                                               case):
    """prep_placeholder and prep_stats_visitor_key read their file with
    one reader (ngx_http_prep_conf_read_file): a regular file, bounded,
    named in the error."""
    if case == "directory":
        f, directive = tmp_path, "prep_placeholder %s;"
        message = "is not a regular file"
    elif case == "too_large":
        f, directive = tmp_path / "big.html", "prep_placeholder %s;"
        f.write_bytes(b"x" * (1024 * 1024 + 1))
        message = "is larger than 1048576 bytes"
    elif case == "key_too_large":
        f, directive = tmp_path / "big.key", "prep_stats_visitor_key %s;"
        f.write_bytes(b"k" * 1025)
        f.chmod(0o600)
        message = "is larger than 1024 bytes"
    else:
        f, directive = tmp_path / "nope.html", "prep_placeholder %s;"
        message = "No such file or directory"
    inst = nginx_factory(start=False, http_extra=directive % f)
    rc, err = inst.config_test()
    assert rc != 0, err
    assert "[emerg]" in err and str(f) in err and message in err, err
