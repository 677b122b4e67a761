/*
 * One multi-file view operation with each of its steps failing in turn
 * (refresh, retire, append, padding...): the driver of the follow suites,
 * portable and Criterion alike.
 */
#ifndef VMPT_SUPPORT_MVIEW_STEPS_H
#define VMPT_SUPPORT_MVIEW_STEPS_H

#include "support_steps.h"
#include "vmplace.h"

typedef struct mview_scenario {
  const char *name;
  unsigned flags; /* the view's (VMP_MVIEW_*) */
  /* Makes the view the operation starts from, with those flags: nonzero
   * when made (a failure is reported). */
  int (*prepare)(vmp_mview **v, unsigned flags);
  int (*operate)(vmp_mview *v);
  void (*verify)(vmp_mview *v); /* checks the view after the operation succeeded */
  /* The kernel may cut a mapping where it was one (a page mapped again
   * from a file opened again): compare the pages, not the mappings. */
  int same_pages_only;
} mview_scenario;

/* For n = 1, 2, ...: prepares a view, makes the n-th system call or
 * allocation of the operation fail and, when the operation fails, checks
 * that the view (segments, retired, length), the kernel's view of its
 * range page by page (and its mappings, where the system shows them), the
 * handles, the reservations, the mappings outside and the names left are
 * as they were, and that the operation then works. At least `least`
 * attempts must fail. */
void mview_fails_cleanly(const mview_scenario *sc, inject_kind kind, long least);

#endif
