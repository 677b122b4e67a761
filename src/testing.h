/*
 * Hooks for the library's own tests (not part of the public API; linked
 * from the static library only).
 *
 * System calls. Every system call a backend makes goes through a table of
 * function pointers named after the libc function it stands for ("mmap",
 * "mprotect", "fstat", ...; vmp__testing_syscall_next() lists them). A test
 * replaces an entry with a function of the same signature — for example one
 * that counts calls and fails the n-th — and restores it with NULL. Not
 * thread-safe: change the table only while no other thread calls the
 * library.
 *
 * Memory. vmp__testing_alloc_fail_after(n) makes the (n+1)-th bookkeeping
 * allocation from now fail (n = 0: the next one), -1 turns that off.
 *
 * Undo. vmp__testing_undo_failures() counts the undo steps of failure
 * paths that failed themselves.
 */
#ifndef VMP_TESTING_H
#define VMP_TESTING_H

#include <stddef.h>

typedef void (*vmp__syscall_fn)(void);

/* Replaces the named entry (fn = NULL restores the system's). Returns 0,
 * or VMP_EINVAL for a name the backend does not use. */
int vmp__testing_syscall_set(const char *name, vmp__syscall_fn fn);

/* The system's own function for the named entry, or NULL. */
vmp__syscall_fn vmp__testing_syscall_default(const char *name);

/* The name after `name` in the table (NULL: the first); NULL at the end. */
const char *vmp__testing_syscall_next(const char *name);

void vmp__testing_alloc_fail_after(long n);

/* Undo steps that failed since the process started: every failure path's
 * undo reports here, so a test that made calls fail one at a time can
 * prove that each failed call put everything back. */
long vmp__testing_undo_failures(void);

/* Turns an armed allocation failure off; returns nonzero if it had been
 * made (the armed allocation was reached), 0 if it was still pending. */
int vmp__testing_alloc_disarm(void);

#endif
