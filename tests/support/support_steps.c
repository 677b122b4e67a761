#include "support_steps.h"

#include <stdio.h>

#include "support_check.h"
#include "support_util.h"
#include "testing.h"
#include "vmplace.h"

#define DEFAULT_MAX_STEPS 200

long steps_run(const steps_plan *p) {
  long max = p->max_steps ? p->max_steps : DEFAULT_MAX_STEPS, failed = 0;
  const char *kind = p->kind == INJECT_SYSCALL ? "system call" : "allocation";
  for (long n = 1; n <= max; n++) {
    int failures_before = check_failures();
    long undo_failures = vmp__testing_undo_failures();
    if (p->setup && p->setup(p->ctx) != 0) return failed;
    steps_attempt a = {n, 0, 0};
    leftovers before;
    if (p->leftovers) leftovers_take(&before);
    const char *missing = inject_arm(p->kind, n, p->errnum);
    if (missing) {
      check_failf(__FILE__, __LINE__, "%s: no injection wrapper for the system call \"%s\"",
                  p->what, missing);
      a.rc = VMP_EINVAL;
      if (p->leftovers) leftovers_free(&before);
      if (p->check) p->check(p->ctx, &a);
      return failed;
    }
    a.rc = p->op(p->ctx);
    a.fired = inject_disarm(p->kind);
    if (a.rc != 0) {
      failed++;
      if (!a.fired)
        check_failf(__FILE__, __LINE__, "%s failed with %s although no %s was made to fail",
                    p->what, vmp_err_name(a.rc), kind);
      if (p->kind == INJECT_ALLOCATION && a.rc != VMP_ENOMEM)
        check_failf(__FILE__, __LINE__, "%s with allocation %ld failing: %s, expected ENOMEM",
                    p->what, n, vmp_err_name(a.rc));
    }
    if (p->leftovers && a.rc != 0) {
      char context[160];
      snprintf(context, sizeof context, "%s with %s %ld failing (%s)", p->what, kind, n,
               vmp_err_name(a.rc));
      CHECK_NO_LEFTOVERS(&before, context);
    } else if (p->leftovers) {
      leftovers_free(&before);
    }
    long undone = vmp__testing_undo_failures() - undo_failures;
    if (undone)
      check_failf(__FILE__, __LINE__, "%s with %s %ld failing (%s): %ld undo steps failed", p->what,
                  kind, n, vmp_err_name(a.rc), undone);
    if (p->check) p->check(p->ctx, &a);
    if (check_failures() > failures_before) return failed;
    if (!a.fired) {
      if (failed < p->least)
        check_failf(__FILE__, __LINE__, "%s: only %ld %s failures made it fail, expected %ld",
                    p->what, failed, kind, p->least);
      return failed;
    }
  }
  check_failf(__FILE__, __LINE__, "%s: still failing after %ld injected %s failures", p->what, max,
              kind);
  return failed;
}
