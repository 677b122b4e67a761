#include "syscalls.h"

#include <string.h>

#include "vmplace.h"

static int find_entry(const vmp__syscall_table *const *tables, const char *name,
                      const vmp__syscall_table **table, size_t *index) {
  for (; *tables; tables++) {
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

int vmp__syscalls_set(const vmp__syscall_table *const *tables, const char *name,
                      vmp__syscall_fn fn) {
  const vmp__syscall_table *table;
  size_t i;
  if (!name || !find_entry(tables, name, &table, &i)) return VMP_EINVAL;
  table->current[i] = fn ? fn : table->system[i];
  return 0;
}

vmp__syscall_fn vmp__syscalls_default(const vmp__syscall_table *const *tables,
                                      const char *name) {
  const vmp__syscall_table *table;
  size_t i;
  if (!name || !find_entry(tables, name, &table, &i)) return NULL;
  return table->system[i];
}

const char *vmp__syscalls_next(const vmp__syscall_table *const *tables,
                               const char *name) {
  int take_next = (name == NULL);
  for (; *tables; tables++) {
    for (size_t i = 0; i < (*tables)->count; i++) {
      if (take_next) return (*tables)->names[i];
      if (strcmp((*tables)->names[i], name) == 0) take_next = 1;
    }
  }
  return NULL;
}
