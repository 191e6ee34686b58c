/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of the operations layer (ingest/ops): which notices the
 * module may answer, the suspension state written and read back, and the
 * alarm kinds of events.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ops/ingest_alarm.h"
#include "ops/ingest_suspension.h"


static void
test_notice_check(void **state)
{
    char        msg[256], *big;
    const char  ok[] = "<!DOCTYPE html><p>Aviso: publicaci\xc3\xb3n</p>";

    (void) state;

    assert_int_equal(ingest_notice_check(ok, sizeof(ok) - 1, msg,
                                         sizeof(msg)), 0);
    assert_int_equal(ingest_notice_check("", 0, msg, sizeof(msg)), -1);
    assert_int_equal(ingest_notice_check("<p>\xff</p>", 8, msg,
                                         sizeof(msg)), -1);
    assert_non_null(strstr(msg, "UTF-8"));
    assert_int_equal(ingest_notice_check("<p>\0</p>", 8, msg, sizeof(msg)),
                     -1);
    assert_int_equal(ingest_notice_check("plain text", 10, msg,
                                         sizeof(msg)), -1);
    assert_non_null(strstr(msg, "HTML"));

    big = malloc(INGEST_NOTICE_MAX + 1);
    assert_non_null(big);
    memset(big, 'a', INGEST_NOTICE_MAX + 1);
    big[0] = '<';
    assert_int_equal(ingest_notice_check(big, INGEST_NOTICE_MAX, msg,
                                         sizeof(msg)), 0);
    assert_int_equal(ingest_notice_check(big, INGEST_NOTICE_MAX + 1, msg,
                                         sizeof(msg)), -1);
    free(big);
}


static void
test_suspension_round_trip(void **state)
{
    char                 dir[64], msg[256], path[128];
    ingest_store_t       st;
    ingest_suspension_t  s, r;
    const char           notice[] = "<html>aviso</html>";

    (void) state;

    (void) snprintf(dir, sizeof(dir), "/tmp/test_ops.XXXXXX");
    assert_non_null(mkdtemp(dir));

    memset(&st, 0, sizeof(st));
    st.path = dir;
    st.dir_fd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(st.dir_fd >= 0);

    assert_int_equal(ingest_suspension_read(&st, &r), 0);

    memset(&s, 0, sizeof(s));
    s.suspended = 1;
    (void) snprintf(s.reason, sizeof(s.reason), "quote \" and \\ \n");
    (void) snprintf(s.source, sizeof(s.source), "command");
    assert_int_equal(ingest_suspension_write(&st, &s, notice,
                                             sizeof(notice) - 1, msg,
                                             sizeof(msg)), 0);
    assert_int_equal(strlen(s.sha256), 64);

    assert_int_equal(ingest_suspension_read(&st, &r), 1);
    assert_int_equal(r.suspended, 1);
    assert_string_equal(r.reason, s.reason);
    assert_string_equal(r.sha256, s.sha256);
    assert_true(r.since > 0);

    s.suspended = 0;
    s.since = 0;
    assert_int_equal(ingest_suspension_write(&st, &s, NULL, 0, msg,
                                             sizeof(msg)), 0);
    assert_int_equal(ingest_suspension_read(&st, &r), 1);
    assert_int_equal(r.suspended, 0);

    /* a damaged file is an error, not "not suspended" */
    (void) snprintf(path, sizeof(path), "%s/" INGEST_SUSPENSION_FILE, dir);
    {
        FILE  *f = fopen(path, "w");

        assert_non_null(f);
        fputs("{\"suspended\": tru", f);
        fclose(f);
    }
    assert_int_equal(ingest_suspension_read(&st, &r), -1);

    (void) unlink(path);
    (void) snprintf(path, sizeof(path), "%s/" INGEST_NOTICE_FILE, dir);
    (void) unlink(path);
    (void) close(st.dir_fd);
    assert_int_equal(rmdir(dir), 0);
}


static void
test_alarm_kinds(void **state)
{
    const char  nospace[] = "{\"event\":\"failed\",\"reason\":\"nospace\"}";
    const char  io[] = "{\"event\":\"failed\",\"reason\":\"io\"}";

    (void) state;

    assert_string_equal(ingest_alarm_kind("stale", "{}", 2), "stale");
    assert_string_equal(ingest_alarm_kind("rejected", "{}", 2), "rejected");
    assert_string_equal(ingest_alarm_kind("hook", "{}", 2), "hook_failing");
    assert_string_equal(ingest_alarm_kind("hook_failed", "{}", 2),
                        "hook_failing");
    assert_string_equal(ingest_alarm_kind("suspend_hook", "{}", 2),
                        "hook_failing");
    assert_string_equal(ingest_alarm_kind("reload_failed", "{}", 2),
                        "reload_unconfirmed");
    assert_string_equal(ingest_alarm_kind("suspend", "{}", 2), "suspended");
    assert_string_equal(ingest_alarm_kind("failed", nospace,
                                          sizeof(nospace) - 1),
                        "low_space");
    assert_string_equal(ingest_alarm_kind("failed", io, sizeof(io) - 1),
                        "failed");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_notice_check),
        cmocka_unit_test(test_suspension_round_trip),
        cmocka_unit_test(test_alarm_kinds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
