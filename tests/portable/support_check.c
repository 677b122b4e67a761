#include "support_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmplace.h"

static const char *running_test = "(none)";
static int failures_in_test;

static void vreport(const char *file, int line, const char *fmt, va_list ap) {
  fprintf(stdout, "  %s:%d: [%s] ", file, line, running_test);
  vfprintf(stdout, fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
}

void check_failf(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(file, line, fmt, ap);
  va_end(ap);
  failures_in_test++;
}

int check_true(const char *file, int line, const char *expr, int ok, const char *fmt, ...) {
  if (ok) return 1;
  fprintf(stdout, "  %s:%d: [%s] check failed: %s: ", file, line, running_test, expr);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
  failures_in_test++;
  return 0;
}

int check_rc(const char *file, int line, const char *call, int got, int expected) {
  if (got == expected) return 1;
  check_failf(file, line, "%s: expected %s (%d), got %s (%d: %s)", call,
              vmp_err_name(expected), expected, vmp_err_name(got), got, vmp_strerror(got));
  return 0;
}

int check_failures(void) { return failures_in_test; }

void check_note(const char *fmt, ...) {
  fprintf(stdout, "  note [%s]: ", running_test);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
}

static int selected(const char *name, int argc, char **argv) {
  if (argc <= 1) return 1;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0) return 1;
  return 0;
}

int check_run(const check_test *tests, size_t count, int argc, char **argv) {
  unsigned passed = 0, failed = 0;
  setvbuf(stdout, NULL, _IONBF, 0);
  for (size_t i = 0; i < count; i++) {
    if (!selected(tests[i].name, argc, argv)) continue;
    running_test = tests[i].name;
    failures_in_test = 0;
    tests[i].run();
    if (failures_in_test) {
      printf("FAIL %s\n", tests[i].name);
      failed++;
    } else {
      printf("PASS %s\n", tests[i].name);
      passed++;
    }
  }
  running_test = "(none)";
  printf("%u passed, %u failed\n", passed, failed);
  return failed ? 1 : 0;
}
