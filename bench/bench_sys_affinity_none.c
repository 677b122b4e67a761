/* bench_sys.h's CPU pinning where the benchmark knows of no way to pin a
 * thread (POSIX has none): the threads go where the scheduler puts them. */
#include "bench_sys.h"

unsigned bsys_cpus(void) { return 1; }

void bsys_pin(unsigned cpu) { (void)cpu; }

void bsys_unpin(void) {}
