#include "support_inject.h"

#include <string.h>

static long calls_seen;
static long failing_call;
static int fired;

int inject_this_call_fails(void) {
  calls_seen++;
  if (calls_seen != failing_call) return 0;
  fired = 1;
  return 1;
}

static const inject_wrapper *wrapper_for(const char *name) {
  size_t count;
  const inject_wrapper *w = inject_platform_wrappers(&count);
  for (size_t i = 0; i < count; i++)
    if (strcmp(w[i].name, name) == 0) return &w[i];
  return NULL;
}

int inject_install(long fail_at, const char **unknown) {
  for (const char *name = vmp__testing_syscall_next(NULL); name;
       name = vmp__testing_syscall_next(name)) {
    const inject_wrapper *w = wrapper_for(name);
    if (!w) {
      if (unknown) *unknown = name;
      return -1;
    }
    *w->real = vmp__testing_syscall_default(name);
  }
  calls_seen = 0;
  failing_call = fail_at;
  fired = 0;
  for (const char *name = vmp__testing_syscall_next(NULL); name;
       name = vmp__testing_syscall_next(name))
    vmp__testing_syscall_set(name, wrapper_for(name)->wrapper);
  return 0;
}

void inject_remove(void) {
  for (const char *name = vmp__testing_syscall_next(NULL); name;
       name = vmp__testing_syscall_next(name))
    vmp__testing_syscall_set(name, NULL);
  failing_call = 0;
}

long inject_calls(void) { return calls_seen; }
int inject_fired(void) { return fired; }

const char *inject_arm(inject_kind kind, long n) {
  if (kind == INJECT_ALLOCATION) {
    vmp__testing_alloc_fail_after(n - 1);
    return NULL;
  }
  const char *unknown = NULL;
  return inject_install(n, &unknown) == 0 ? NULL : (unknown ? unknown : "?");
}

int inject_disarm(inject_kind kind) {
  if (kind == INJECT_ALLOCATION) return vmp__testing_alloc_disarm();
  int made = inject_fired();
  inject_remove();
  return made;
}
