/*
 * Replaceable system-call tables (the SQLite idea): a backend lists the
 * calls it makes with one X-macro, and this header turns the list into a
 * table of function pointers that the testing hooks can swap, one entry at
 * a time, so a test can make any single call fail.
 *
 * A list entry is X(name, return type, (parameter types)); `name` must be
 * the libc function itself, which is the entry's default.
 */
#ifndef VMP_OS_SYSCALLS_H
#define VMP_OS_SYSCALLS_H

#include <stddef.h>

#include "../testing.h"

typedef struct vmp__syscall_table {
  size_t count;
  const char *const *names;
  const vmp__syscall_fn *system;
  vmp__syscall_fn *current;
} vmp__syscall_table;

/* void (*)(void) is the one function pointer type that converts to and from
 * every other without a -Wcast-function-type warning. */
#define VMP__SYSCALL_TYPEDEF(name, ret, args) typedef ret(*vmp__sys_##name##_fn) args;
#define VMP__SYSCALL_ENUM(name, ret, args) VMP__SYS_##name,
#define VMP__SYSCALL_NAME(name, ret, args) #name,
#define VMP__SYSCALL_FN(name, ret, args) (vmp__syscall_fn) name,

#define VMP__DEFINE_SYSCALLS(LIST, table)                                  \
  LIST(VMP__SYSCALL_TYPEDEF)                                               \
  enum { LIST(VMP__SYSCALL_ENUM) table##_count };                          \
  static const char *const table##_names[] = {LIST(VMP__SYSCALL_NAME)};    \
  static const vmp__syscall_fn table##_system[] = {LIST(VMP__SYSCALL_FN)}; \
  static vmp__syscall_fn table##_current[] = {LIST(VMP__SYSCALL_FN)};      \
  const vmp__syscall_table table = {table##_count, table##_names, table##_system, table##_current};

/* The same for lists whose entries name their default function:
 * X(name, default function, return type, (parameter types)), for calls
 * that are found at run time rather than linked. */
#define VMP__SYSCALL_TYPEDEF_WITH(name, fn, ret, args) typedef ret(*vmp__sys_##name##_fn) args;
#define VMP__SYSCALL_ENUM_WITH(name, fn, ret, args) VMP__SYS_##name,
#define VMP__SYSCALL_NAME_WITH(name, fn, ret, args) #name,
#define VMP__SYSCALL_FN_WITH(name, fn, ret, args) (vmp__syscall_fn) fn,

#define VMP__DEFINE_SYSCALLS_WITH(LIST, table)                                  \
  LIST(VMP__SYSCALL_TYPEDEF_WITH)                                               \
  enum { LIST(VMP__SYSCALL_ENUM_WITH) table##_count };                          \
  static const char *const table##_names[] = {LIST(VMP__SYSCALL_NAME_WITH)};    \
  static const vmp__syscall_fn table##_system[] = {LIST(VMP__SYSCALL_FN_WITH)}; \
  static vmp__syscall_fn table##_current[] = {LIST(VMP__SYSCALL_FN_WITH)};      \
  const vmp__syscall_table table = {table##_count, table##_names, table##_system, table##_current};

/* Calls through the table: VMP__SYSCALL(table, mmap)(addr, len, ...). */
#define VMP__SYSCALL(table, name) ((vmp__sys_##name##_fn)table##_current[VMP__SYS_##name])

/* Every table of the backend linked in, NULL-terminated: the testing hooks
 * of src/testing.h (implemented once, in syscalls.c) work over these. */
extern const vmp__syscall_table *const vmp__os_syscall_tables[];

#endif
