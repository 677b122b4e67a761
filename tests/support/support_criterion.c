/*
 * The checks of support_check.h reported through Criterion,
 * so that the shared support code (the step driver, the state and kernel
 * comparisons) serves the Criterion suites too. A failed check fails the
 * test and lets it go on, as it does under the portable harness. Also:
 * running a test's steps in a child process (vmpt_in_child).
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support_check.h"
#include "vmplace.h"

static int failures;

#define FORMAT(message, fmt)                     \
  char message[4096];                            \
  do {                                           \
    va_list ap;                                  \
    va_start(ap, fmt);                           \
    vsnprintf(message, sizeof message, fmt, ap); \
    va_end(ap);                                  \
  } while (0)

void check_failf(const char *file, int line, const char *fmt, ...) {
  FORMAT(message, fmt);
  failures++;
  cr_expect_fail("%s:%d: %s", file, line, message);
}

int check_failures(void) { return failures; }

void check_note(const char *fmt, ...) {
  FORMAT(message, fmt);
  cr_log_info("%s", message);
}

void check_skip(const char *fmt, ...) {
  FORMAT(message, fmt);
  cr_skip_test("%s", message);
}

/* Declared in support_criterion.h, which cannot be included here: its
 * CHECK_RC is Criterion's, this file's is support_check.h's. */
void vmpt_in_child(int (*fn)(void));
void vmpt_in_child(int (*fn)(void)) {
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) _exit(fn());
  int status = 0;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status), "child died (signal %d)", WTERMSIG(status));
  cr_assert_eq(WEXITSTATUS(status), 0, "child failed at step %d", WEXITSTATUS(status));
}
