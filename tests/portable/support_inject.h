/*
 * Fault injection through the library's replaceable system-call table
 * (src/testing.h): every entry is replaced by a wrapper of the same
 * signature that counts calls and makes the n-th one fail the way the
 * system would (NULL, FALSE, -1 with errno, ...).
 */
#ifndef VMPT_SUPPORT_INJECT_H
#define VMPT_SUPPORT_INJECT_H

#include <stddef.h>

#include "testing.h"

/* Replaces every entry of the table; the fail_at-th call from now (1 is
 * the next one) fails, the others go to the system's function. Returns 0,
 * or -1 when the table holds a name this module has no wrapper for (its
 * name in *unknown, nothing installed). */
int inject_install(long fail_at, const char **unknown);

/* Puts the system's functions back. */
void inject_remove(void);

/* Calls seen since inject_install(), and whether the failure was made. */
long inject_calls(void);
int inject_fired(void);

/* The two kinds of failure the fault tests make, one step at a time: the
 * n-th system call, or the n-th bookkeeping allocation. */
typedef enum inject_kind { INJECT_SYSCALL, INJECT_ALLOCATION } inject_kind;

/* Arms the n-th failure of that kind (n from 1). Returns NULL, or the name
 * of a table entry with no wrapper (then nothing is armed). */
const char *inject_arm(inject_kind kind, long n);

/* Disarms; nonzero when the armed failure was made. */
int inject_disarm(inject_kind kind);

/* POSIX only: while on, a failing mmap with MAP_FIXED first unmaps its
 * range, as POSIX allows a failed MAP_FIXED to do (a destructive failure). */
void inject_destructive_mmap(int on);

/* ---- between the common part and the platform wrappers ---- */

typedef struct inject_wrapper {
  const char *name;
  vmp__syscall_fn wrapper;
  vmp__syscall_fn *real; /* where the wrapper finds the system's function */
} inject_wrapper;

/* The platform's wrappers (support_inject_posix.c, support_inject_windows.c). */
const inject_wrapper *inject_platform_wrappers(size_t *count);

/* Called by each wrapper first: nonzero when this call must fail. */
int inject_this_call_fails(void);

#endif
