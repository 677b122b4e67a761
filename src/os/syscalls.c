#include "syscalls.h"

#include <string.h>

#include "vmplace.h"

static int find_entry(const char *name, const vmp__syscall_table **table, size_t *index) {
  for (const vmp__syscall_table *const *tables = vmp__os_syscall_tables; *tables; tables++) {
    for (size_t i = 0; i < (*tables)->count; i++) {
      if (strcmp((*tables)->names[i], name) == 0) {
        *table = *tables;
        *index = i;
        return 1;
      }
    }
  }
  return 0;
}

int vmp__testing_syscall_set(const char *name, vmp__syscall_fn fn) {
  const vmp__syscall_table *table;
  size_t i;
  if (!name || !find_entry(name, &table, &i)) return VMP_EINVAL;
  table->current[i] = fn ? fn : table->system[i];
  return 0;
}

vmp__syscall_fn vmp__testing_syscall_default(const char *name) {
  const vmp__syscall_table *table;
  size_t i;
  if (!name || !find_entry(name, &table, &i)) return NULL;
  return table->system[i];
}

const char *vmp__testing_syscall_next(const char *name) {
  int take_next = (name == NULL);
  for (const vmp__syscall_table *const *tables = vmp__os_syscall_tables; *tables; tables++) {
    for (size_t i = 0; i < (*tables)->count; i++) {
      if (take_next) return (*tables)->names[i];
      if (strcmp((*tables)->names[i], name) == 0) take_next = 1;
    }
  }
  return NULL;
}
