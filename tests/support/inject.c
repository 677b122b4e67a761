/*
 * The portable suites' system-call injector (tests/portable/support_inject.h:
 * inject_install, inject_remove, inject_fired, ...), built into this support
 * library as well, so that the Criterion tests make system calls fail with
 * the same wrappers instead of a second copy of them. The POSIX wrappers come
 * first: they define _GNU_SOURCE before any system header is read.
 */
#include "../portable/support_inject_posix.c"
#include "../portable/support_inject.c"
