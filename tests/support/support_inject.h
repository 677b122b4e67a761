/*
 * The one fault injector: through the library's replaceable system-call
 * table (src/testing.h) every entry is replaced by a wrapper of the same
 * signature that counts calls and makes the n-th one fail the way the
 * system would (NULL, FALSE, -1 with errno, ...), and through the
 * allocation hook the n-th bookkeeping allocation fails.
 */
#ifndef VMPT_SUPPORT_INJECT_H
#define VMPT_SUPPORT_INJECT_H

#include <stddef.h>

#include "testing.h"

/* The two kinds of failure the fault tests make, one step at a time: the
 * n-th system call, or the n-th bookkeeping allocation. */
typedef enum inject_kind { INJECT_SYSCALL, INJECT_ALLOCATION } inject_kind;

/* Arms the n-th failure of that kind from now (n from 1; for system calls
 * n = 0 fails none but counts them). `errnum` is the error a failing
 * system call reports (errno on POSIX, the GetLastError() code on
 * Windows), or 0 for that call's usual failure (ENOMEM from mmap, EMFILE
 * from open, ...); allocations always fail with NULL. Returns NULL, or the
 * name of a table entry with no wrapper (then nothing is armed). */
const char *inject_arm(inject_kind kind, long n, int errnum);

/* System calls only: the n-th call and every one after it fail (n from 1),
 * so that a failure path's own undo steps fail too. */
const char *inject_arm_from(long n, int errnum);

/* Disarms (the system's functions are back); nonzero when the armed
 * failure was made. */
int inject_disarm(inject_kind kind);

/* System calls seen since inject_arm(): all of them, or those of one name. */
long inject_calls(void);
long inject_calls_of(const char *name);

/* The name of the system call made to fail since inject_arm(), or NULL. */
const char *inject_failed_call(void);

/* The first table entry with no wrapper, or NULL when every system call
 * the library makes can be made to fail. */
const char *inject_missing_wrapper(void);

/* POSIX only: while on, failures are the destructive ones POSIX allows. A
 * failing mmap with MAP_FIXED first unmaps its range; a failing mprotect
 * first gives the range's first page the new protection. */
void inject_destructive(int on);

/* ---- between the common part and the platform wrappers ---- */

typedef struct inject_wrapper {
  const char *name;
  vmp__syscall_fn wrapper;
  vmp__syscall_fn *real; /* where the wrapper finds the system's function */
} inject_wrapper;

/* The platform's wrappers (support_inject_posix.c, support_inject_windows.c). */
const inject_wrapper *inject_platform_wrappers(size_t *count);

/* Called by each wrapper first, with its name: nonzero when this call must
 * fail, and then with the error inject_error() gives. */
int inject_this_call_fails(const char *name);

/* The error the failing call reports: the armed one, or its usual one. */
int inject_error(int usual);

#endif
