/*
 * System-call failures for the fuzz targets, made through the library's
 * replaceable system-call table (src/testing.h): every entry is replaced
 * by a wrapper that counts calls and makes the armed one fail the way the
 * system would, including the two destructive ways POSIX permits.
 */
#ifndef VMP_FUZZ_INJECT_H
#define VMP_FUZZ_INJECT_H

typedef enum inject_mode {
  INJECT_PLAIN,       /* the call does nothing and fails with the errno */
  INJECT_DESTRUCTIVE, /* an mmap(MAP_FIXED) first unmaps its range, then fails */
  INJECT_HALF_WAY     /* an mprotect applies to the first half, then fails */
} inject_mode;

/* Installs the wrappers once (aborts if the table names a call this file
 * has no wrapper for, so no system call escapes injection). */
void inject_setup(void);

/* Arms a failure of the n-th system call from now (n >= 1). In the
 * destructive and half-way modes only an mmap with MAP_FIXED or an
 * mprotect of more than one page can be the victim; other calls are
 * counted past. */
void inject_arm(long n, inject_mode mode, int err);

/* Disarms; returns 1 when the failure was made. */
int inject_disarm(void);

#endif
