/*
 * The checks every test uses, and the portable harness that runs them.
 *
 * A test is defined in one place: CHECK_TEST(name) { ... } registers it,
 * and the suite's program runs its tests in the order they are written,
 * each in a child process of its own with a time limit, so that a crash
 * or a hang is that test's failure and no test sees another's leftovers.
 * A test may expect to die of a signal (CHECK_TEST_SIGNAL) and may report
 * SKIP with a reason. The harness is plain C with fork() or CreateProcess,
 * so the same programs run on Linux, POSIX and Windows (Wine).
 *
 * A failed CHECK records file:line and a message and lets the test go on,
 * so one run reports every broken rule rather than the first.
 *
 * The checks (check_failf, CHECK, CHECK_RC, SKIP...) do not depend on the
 * harness: the Criterion suites link an adapter (support_criterion.c)
 * that reports them through Criterion, so the shared support code (fault
 * injection, the step driver, state comparison) serves both.
 *
 * A suite's program:
 *   suite                 every test, each isolated; exit 1 if any failed
 *   suite NAME...         only those tests
 *   suite --list          the names, in order
 *   suite --no-fork NAME  in this process (for a debugger)
 *   VMPT_TIMEOUT=SECONDS  the time limit of a test that sets none of its
 *                         own (default 120)
 */
#ifndef VMPT_SUPPORT_CHECK_H
#define VMPT_SUPPORT_CHECK_H

#include <stddef.h>

#if defined(__MINGW32__)
#define VMPT_PRINTF(fmt, args) __attribute__((format(gnu_printf, fmt, args)))
#elif defined(__GNUC__)
#define VMPT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define VMPT_PRINTF(fmt, args)
#endif

/* ---- checks --------------------------------------------------------------------- */

/* Records a failure of the running test. */
void check_failf(const char *file, int line, const char *fmt, ...) VMPT_PRINTF(3, 4);

/* The bodies behind CHECK and CHECK_RC: nonzero when the check passed. */
int check_true(const char *file, int line, const char *expr, int ok, const char *fmt, ...)
    VMPT_PRINTF(5, 6);
int check_rc(const char *file, int line, const char *call, int got, int expected);

/* CHECK(cond, fmt, ...): a message is required (it may be ""). Both macros
 * are expressions that yield nonzero on success, so a test can stop early:
 * `if (!CHECK_RC(vmp_reserve(...), 0)) return;`. */
#define CHECK(cond, ...) check_true(__FILE__, __LINE__, #cond, (cond) ? 1 : 0, __VA_ARGS__)
#define CHECK_RC(call, expected) check_rc(__FILE__, __LINE__, #call, (call), (expected))

/* Failures recorded so far in the running test (to skip follow-up checks). */
int check_failures(void);

/* Prints a note that is not a failure (a skipped part of a test). */
void check_note(const char *fmt, ...) VMPT_PRINTF(1, 2);

/* Marks the running test skipped, with the reason; the test then returns
 * (SKIP does both). A test that failed before skipping stays failed. */
void check_skip(const char *fmt, ...) VMPT_PRINTF(1, 2);
#define SKIP(...)            \
  do {                       \
    check_skip(__VA_ARGS__); \
    return;                  \
  } while (0)

/* ---- tests ---------------------------------------------------------------------- */

typedef struct check_test {
  const char *name; /* a name starting with '_' is run only when asked for */
  void (*run)(void);
  int expect_signal;  /* 0, or the signal the test must die of (SIGSEGV: on
                         Windows, an access violation) */
  unsigned timeout_s; /* 0: the harness's default */
  int line;           /* where it is defined: the tests run in that order */
} check_test;

/* Adds a test to the program's list (CHECK_TEST does it before main). */
void check_register(const check_test *test);

#define CHECK_TEST_WITH(name, signal, timeout_s)                                                  \
  static void test_##name(void);                                                                  \
  static const check_test check_entry_##name = {#name, test_##name, signal, timeout_s, __LINE__}; \
  __attribute__((constructor)) static void check_register_##name(void) {                          \
    check_register(&check_entry_##name);                                                          \
  }                                                                                               \
  static void test_##name(void)

#define CHECK_TEST(name) CHECK_TEST_WITH(name, 0, 0)
#define CHECK_TEST_SIGNAL(name, signal) CHECK_TEST_WITH(name, signal, 0)

/* How one isolated run of a test ended. */
typedef enum check_outcome {
  CHECK_PASSED,
  CHECK_FAILED, /* a check failed, or it died of a signal it did not expect */
  CHECK_SKIPPED,
  CHECK_TIMED_OUT
} check_outcome;

/* Runs the registered test `name` in a child process, as the harness does,
 * with its output discarded (for tests of the harness itself). `why`
 * receives how it ended. */
check_outcome check_run_isolated(const char *name, char *why, size_t why_len);

#endif
