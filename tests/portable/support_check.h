/*
 * A minimal test framework for the portable suites: plain C, no fork and
 * no signals, so the same programs run on Linux, POSIX and Windows (Wine).
 *
 * A failed CHECK records file:line and a message and lets the test go on,
 * so one run reports every broken rule rather than the first.
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

typedef struct check_test {
  const char *name;
  void (*run)(void);
} check_test;

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

/* Runs the tests in order, printing `PASS name` or `FAIL name` for each
 * and then `N passed, M failed`. Returns the process exit status: 1 if any
 * test failed, else 0. With arguments, runs only the tests named. */
int check_run(const check_test *tests, size_t count, int argc, char **argv);

#endif
