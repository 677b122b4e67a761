#define _POSIX_C_SOURCE 200809L /* opendir under -std=c11 */
#include "fuzz_util.h"

#include <dirent.h>

unsigned long long fuzz_operations;
static const char *target_name = "fuzz";

static void print_operations(void) {
  fprintf(stderr, "vmp-fuzz: %s: %llu operations\n", target_name, fuzz_operations);
}

void fuzz_report_operations_at_exit(const char *target) {
  target_name = target;
  atexit(print_operations);
}

void fuzz_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("vmp-fuzz FINDING: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fflush(stderr);
  abort();
}

int fuzz_open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) fuzz_fail("opendir /proc/self/fd");
  int n = 0;
  while (readdir(d)) n++;
  closedir(d);
  return n;
}
