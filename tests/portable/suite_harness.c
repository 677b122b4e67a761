/*
 * The harness itself: every way a test can end is seen for what it is.
 * The tests whose names start with '_' end badly on purpose; the harness
 * runs them only when asked, and the visible tests below ask for them one
 * at a time, each in a child process, as any test is run.
 */
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#define _POSIX_C_SOURCE 200809L
#include <time.h>
#endif

#include <signal.h>
#include <string.h>

#include "support_check.h"

static void die_of_an_access_violation(void) {
#if defined(_WIN32)
  RaiseException(EXCEPTION_ACCESS_VIOLATION, EXCEPTION_NONCONTINUABLE, 0, NULL);
#else
  raise(SIGSEGV);
#endif
}

static void sleep_seconds(unsigned s) {
#if defined(_WIN32)
  Sleep(s * 1000u);
#else
  struct timespec ts = {(time_t)s, 0};
  nanosleep(&ts, NULL);
#endif
}

CHECK_TEST(_passes) { CHECK(1, "never fails"); }
CHECK_TEST(_fails) { CHECK(0, "fails on purpose"); }
CHECK_TEST(_skips) { SKIP("skips on purpose"); }
CHECK_TEST(_fails_then_skips) {
  CHECK(0, "fails on purpose");
  SKIP("a skip does not hide the failure");
}
CHECK_TEST(_crashes) { die_of_an_access_violation(); }
CHECK_TEST_SIGNAL(_dies_as_expected, SIGSEGV) { die_of_an_access_violation(); }
CHECK_TEST_SIGNAL(_lives_but_should_die, SIGSEGV) { CHECK(1, "returns normally"); }
CHECK_TEST_WITH(_hangs, 0, 1) { sleep_seconds(30); }

/* A static every test starts from: a test that changes it must not be
 * seen by the next one, which runs in a process of its own. */
static int touched;
CHECK_TEST(_touches_state) { touched = 1; }
CHECK_TEST(_sees_fresh_state) { CHECK(touched == 0, "saw the state another test left"); }

static void ends_as(const char *name, check_outcome want) {
  char why[160] = "";
  check_outcome got = check_run_isolated(name, why, sizeof why);
  CHECK(got == want, "%s ended as %d (%s), expected %d", name, (int)got, why, (int)want);
}

CHECK_TEST(a_passing_test_passes) { ends_as("_passes", CHECK_PASSED); }
CHECK_TEST(a_failed_check_fails_the_test) { ends_as("_fails", CHECK_FAILED); }
CHECK_TEST(a_skip_is_reported) { ends_as("_skips", CHECK_SKIPPED); }
CHECK_TEST(a_failure_before_a_skip_counts) { ends_as("_fails_then_skips", CHECK_FAILED); }
CHECK_TEST(a_crash_fails_only_its_test) { ends_as("_crashes", CHECK_FAILED); }
CHECK_TEST(an_expected_signal_passes) { ends_as("_dies_as_expected", CHECK_PASSED); }
CHECK_TEST(a_missing_signal_fails) { ends_as("_lives_but_should_die", CHECK_FAILED); }
CHECK_TEST(a_hang_times_out) { ends_as("_hangs", CHECK_TIMED_OUT); }
CHECK_TEST(an_unknown_test_fails) { ends_as("_no_such_test", CHECK_FAILED); }

CHECK_TEST(tests_do_not_share_state) {
  ends_as("_touches_state", CHECK_PASSED);
  ends_as("_sees_fresh_state", CHECK_PASSED);
  CHECK(touched == 0, "a child's change reached the parent");
}
