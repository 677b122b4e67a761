/*
 * Fail each step in turn: the one driver of every failure-atomicity test.
 *
 * For n = 1, 2, ...: set the world up, arm the n-th system call or
 * bookkeeping allocation to fail, run the operation, disarm, and check.
 * The driver itself checks what every failure must hold: the operation
 * failed only where a failure was made, a failed allocation came back as
 * VMP_ENOMEM, and no undo step of the library failed on the way back; the
 * test's own check proves the rest (nothing changed, nothing leaked). The
 * loop ends once the operation runs without reaching the armed failure.
 */
#ifndef VMPT_SUPPORT_STEPS_H
#define VMPT_SUPPORT_STEPS_H

#include "support_inject.h"

/* One attempt's outcome, handed to the test's check. */
typedef struct steps_attempt {
  long n;    /* the failure armed: the n-th of its kind from the operation's start */
  int rc;    /* what the operation returned */
  int fired; /* the armed failure was made */
} steps_attempt;

typedef struct steps_plan {
  const char *what; /* the operation, for messages */
  inject_kind kind;
  int errnum;     /* for system calls: the error the failing call reports, 0 for its usual */
  long max_steps; /* more failures than the operation can meet (0: 200) */
  long least;     /* how many attempts must fail at the least (the operation
                     has that many steps that can), or 0 */
  int leftovers;  /* nonzero: a failed attempt must also leave no handle open and no
                     address space reserved (taken after setup, checked before check) */
  void *ctx;      /* passed to the callbacks */
  /* Builds what the operation works on and records what must not change;
   * nonzero stops the loop (it reported why). May be NULL. */
  int (*setup)(void *ctx);
  /* The operation, with the failure armed. */
  int (*op)(void *ctx);
  /* The test's checks of the outcome, and the teardown. May be NULL. */
  void (*check)(void *ctx, const steps_attempt *attempt);
} steps_plan;

/* A plan's context and its callbacks, named after one prefix:
 * prefix_setup, prefix_op and prefix_check. */
#define STEPS_CALLBACKS(prefix, context) \
  .ctx = (context), .setup = prefix##_setup, .op = prefix##_op, .check = prefix##_check

/* Runs the plan, reporting every broken rule through check_failf; stops
 * early after an attempt with a failed check (the next would repeat it).
 * Returns how many attempts failed (rc != 0). */
long steps_run(const steps_plan *plan);

#endif
