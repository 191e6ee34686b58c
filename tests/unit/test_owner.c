/*
 * Copyright (C) the ngx_prep authors
 *
 * Unit tests of the lock owner tokens (libprep/prep_owner.c): a live
 * process is alive, an exited one is not, and a pid that now belongs to
 * a process started at another time (pid reuse) is not the owner.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "prep_owner.h"


static void
test_self_is_alive(void **state)
{
    uint64_t  token;

    (void) state;

    token = prep_owner_token(getpid());
    assert_int_equal((pid_t) (uint32_t) token, getpid());
    assert_int_not_equal(token >> 32, 0);
    assert_int_equal(prep_owner_start(getpid()), token >> 32);
    assert_true(prep_owner_alive(token));
}


static void
test_exited_is_dead(void **state)
{
    int       status;
    pid_t     pid;
    uint64_t  token;

    (void) state;

    pid = fork();
    assert_true(pid >= 0);

    if (pid == 0) {
        pause();
        _exit(0);
    }

    token = prep_owner_token(pid);
    assert_int_not_equal(token >> 32, 0);
    assert_true(prep_owner_alive(token));

    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);

    assert_false(prep_owner_alive(token));
    assert_int_equal(prep_owner_start(pid), 0);
}


static void
test_reused_pid_is_dead(void **state)
{
    uint64_t  token;

    (void) state;

    /*
     * A dead owner whose pid is now ours (the taker's own pid, the case
     * the pid-only check could never take over): the same pid, another
     * start time.
     */
    token = prep_owner_token(getpid());
    token ^= (uint64_t) 0x5a5a << 32;

    assert_false(prep_owner_alive(token));

    /* a token from before start times (pid only) keeps the pid check */
    assert_true(prep_owner_alive((uint64_t) (uint32_t) getpid()));
    assert_false(prep_owner_alive(0));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_is_alive),
        cmocka_unit_test(test_exited_is_dead),
        cmocka_unit_test(test_reused_pid_is_dead),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
