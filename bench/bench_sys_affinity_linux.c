/* bench_sys.h's CPU pinning on Linux (glibc's pthread_setaffinity_np). */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "bench_sys.h"

unsigned bsys_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1u;
}

void bsys_pin(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % bsys_cpus(), &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}
