/*
 * The checks of tests/portable/support_check.h reported through Criterion,
 * so that the shared support code (the step driver, the state and kernel
 * comparisons) serves the Criterion suites too. A failed check fails the
 * test and lets it go on, as it does under the portable harness.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>

#include "portable/support_check.h"
#include "vmplace.h"

static int failures;

void check_failf(const char *file, int line, const char *fmt, ...) {
  char message[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  failures++;
  cr_expect_fail("%s:%d: %s", file, line, message);
}

int check_true(const char *file, int line, const char *expr, int ok, const char *fmt, ...) {
  if (ok) return 1;
  char message[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  check_failf(file, line, "check failed: %s: %s", expr, message);
  return 0;
}

int check_rc(const char *file, int line, const char *call, int got, int expected) {
  if (got == expected) return 1;
  check_failf(file, line, "%s: expected %s (%d), got %s (%d: %s)", call, vmp_err_name(expected),
              expected, vmp_err_name(got), got, vmp_strerror(got));
  return 0;
}

int check_failures(void) { return failures; }

void check_note(const char *fmt, ...) {
  char message[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  cr_log_info("%s", message);
}

void check_skip(const char *fmt, ...) {
  char message[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  cr_skip_test("%s", message);
}
