/* Criterion assertions over the support checks. */
#ifndef VMPT_SUPPORT_CRITERION_H
#define VMPT_SUPPORT_CRITERION_H

#include <criterion/criterion.h>

#include "support_maps.h"
#include "support_posix.h"

/* The kernel agrees with the bookkeeping over the whole region. */
#define CHECK_MAPS(region)                                               \
  do {                                                                   \
    char why_[4096] = "";                                                \
    cr_assert_eq(vmpt_maps_check_region((region), why_, sizeof why_), 0, \
                 "maps disagree with spans: %s", why_);                  \
  } while (0)

/* An operation's result code, shown by name when it is wrong. */
#define CHECK_RC(call, want)                                                                      \
  do {                                                                                            \
    int got_ = (call);                                                                            \
    cr_assert_eq(got_, (want), "%s = %s (%d), expected %s (%d)", #call, vmp_err_name(got_), got_, \
                 vmp_err_name(want), (int)(want));                                                \
  } while (0)

#define CHECK_OK(call) CHECK_RC(call, 0)

/* Runs fn in a child process of its own, for what must not happen to the
 * test's process (a full mapping table, a system call denied for good):
 * fn returns 0 when every step held, or the number of the step that
 * failed, which the test's failure names. */
void vmpt_in_child(int (*fn)(void));

#endif
