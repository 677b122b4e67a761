/* The checks built on check_failf(), the same under every harness. */
#include <stdarg.h>
#include <stdio.h>

#include "support_check.h"
#include "vmplace.h"

int check_true(const char *file, int line, const char *expr, int ok, const char *fmt, ...) {
  if (ok) return 1;
  char message[1024];
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
