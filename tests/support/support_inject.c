#include "support_inject.h"

#include <string.h>

#define MAX_NAMES 64

static long calls_seen;
static long failing_call;
static int failing_onward; /* every call from failing_call on fails */
static int chosen_error;
static const char *failed_call;
static const char *seen_names[MAX_NAMES];
static long seen_counts[MAX_NAMES];
static size_t seen_used;

int inject_this_call_fails(const char *name) {
  size_t i = 0;
  while (i < seen_used && strcmp(seen_names[i], name) != 0) i++;
  if (i == seen_used && seen_used < MAX_NAMES) seen_names[seen_used++] = name;
  if (i < MAX_NAMES) seen_counts[i]++;
  calls_seen++;
  if (failing_call == 0 || calls_seen < failing_call) return 0;
  if (calls_seen > failing_call && !failing_onward) return 0;
  if (!failed_call) failed_call = name;
  return 1;
}

int inject_error(int usual) { return chosen_error ? chosen_error : usual; }

static const inject_wrapper *wrapper_for(const char *name) {
  size_t count;
  const inject_wrapper *w = inject_platform_wrappers(&count);
  for (size_t i = 0; i < count; i++)
    if (strcmp(w[i].name, name) == 0) return &w[i];
  return NULL;
}

const char *inject_missing_wrapper(void) {
  for (const char *name = vmp__testing_syscall_next(NULL); name;
       name = vmp__testing_syscall_next(name))
    if (!wrapper_for(name)) return name;
  return NULL;
}

static const char *install(long fail_at, int onward, int errnum) {
  const char *missing = inject_missing_wrapper();
  if (missing) return missing;
  for (const char *name = vmp__testing_syscall_next(NULL); name;
       name = vmp__testing_syscall_next(name))
    *wrapper_for(name)->real = vmp__testing_syscall_default(name);
  calls_seen = 0;
  failing_call = fail_at;
  failing_onward = onward;
  chosen_error = errnum;
  failed_call = NULL;
  seen_used = 0;
  memset(seen_counts, 0, sizeof seen_counts);
  for (const char *name = vmp__testing_syscall_next(NULL); name;
       name = vmp__testing_syscall_next(name))
    vmp__testing_syscall_set(name, wrapper_for(name)->wrapper);
  return NULL;
}

static void uninstall(void) {
  for (const char *name = vmp__testing_syscall_next(NULL); name;
       name = vmp__testing_syscall_next(name))
    vmp__testing_syscall_set(name, NULL);
  failing_call = 0;
  failing_onward = 0;
}

long inject_calls(void) { return calls_seen; }

long inject_calls_of(const char *name) {
  for (size_t i = 0; i < seen_used; i++)
    if (strcmp(seen_names[i], name) == 0) return seen_counts[i];
  return 0;
}

const char *inject_failed_call(void) { return failed_call; }

const char *inject_arm(inject_kind kind, long n, int errnum) {
  if (kind == INJECT_ALLOCATION) {
    vmp__testing_alloc_fail_after(n - 1);
    return NULL;
  }
  return install(n, 0, errnum);
}

const char *inject_arm_from(long n, int errnum) { return install(n, 1, errnum); }

int inject_disarm(inject_kind kind) {
  if (kind == INJECT_ALLOCATION) return vmp__testing_alloc_disarm();
  uninstall();
  return failed_call != NULL;
}
