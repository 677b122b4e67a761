/* bench_sys.h's CPU pinning on Linux (glibc's pthread_setaffinity_np). */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "bench_sys.h"

unsigned bsys_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1u;
}

/* The CPUs of the thread that pinned first, before it did: threads start
 * with their creator's CPUs, and only bsys_pin() narrows them. */
static cpu_set_t original;
static int original_known;
static pthread_once_t original_once = PTHREAD_ONCE_INIT;

static void save_original(void) {
  original_known = pthread_getaffinity_np(pthread_self(), sizeof original, &original) == 0;
}

void bsys_pin(unsigned cpu) {
  (void)pthread_once(&original_once, save_original);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % bsys_cpus(), &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

void bsys_unpin(void) {
  (void)pthread_once(&original_once, save_original);
  if (original_known) (void)pthread_setaffinity_np(pthread_self(), sizeof original, &original);
}
