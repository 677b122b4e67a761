/*
 * Touching memory that may fault, without dying.
 *
 * The scenario runner must turn "this page is inaccessible" into a failed
 * check instead of a crash, and must be able to assert that an access does
 * fault. Everything platform-specific about catching the fault lives behind
 * this interface (probe_posix.c: signals; probe_windows.c: structured
 * exception handling).
 */
#ifndef VMPLACE_TOOLS_PROBE_H
#define VMPLACE_TOOLS_PROBE_H

/* Reads one byte at p into *out. Returns 0 when the read completed,
 * 1 when it faulted (then *out is left unchanged). */
int vmp_probe_read(const volatile void *p, unsigned char *out);

/* Writes v to the byte at p. Returns 0 when the write completed, 1 when it
 * faulted (then nothing was written). */
int vmp_probe_write(volatile void *p, unsigned char v);

#endif
