/*
 * vmplace_wake_bench [--quick] [filter]
 *
 * The wake-up latency of this build's backend (wake_latency.c), in the
 * benchmark's line format (bench/README.md):
 *   ring_wake_latency_BACKEND: a consumer thread asleep in
 *     vmp_ring_wait_read, woken by a producer thread's write, against a
 *     thread blocked on the system's plain primitive;
 *   ring_wake_latency_BACKEND_process: the same with the consumer in a
 *     child process that attached the ring.
 * Only the lines whose names contain `filter` run. Exit status 1 when an
 * operation failed (a wake that never came included).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "bench_sys.h"
#include "vmplace.h"
#include "wake_latency.h"

int main(int argc, char **argv) {
  int status;
  if (bsys_child_main(argc, argv, wake_child, &status)) return status;
  int quick = 0;
  const char *filter = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      quick = 1;
    } else if (argv[i][0] == '-' || filter) {
      fprintf(stderr, "usage: vmplace_wake_bench [--quick] [filter]\n");
      return 2;
    } else {
      filter = argv[i];
    }
  }
  const vmp_caps *caps = vmp_capabilities();
  char names[2][64], date[64];
  snprintf(names[0], sizeof names[0], "ring_wake_latency_%s", caps->backend);
  snprintf(names[1], sizeof names[1], "ring_wake_latency_%s_process", caps->backend);
  int any = 0;
  for (int i = 0; i < 2; i++) any |= filter == NULL || strstr(names[i], filter) != NULL;
  if (!any) return 0;

  time_t now = time(NULL);
  strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
  printf("# vmplace_wake_bench: backend %s, wait_across_processes %d, %u CPUs, %s%s\n",
         caps->backend, caps->wait_across_processes, bsys_cpus(), date, quick ? ", quick" : "");
  if (!caps->wait_across_processes)
    printf(
        "# %s: the writer cannot wake a waiter in another process, which looks again"
        " at most ~1 ms later\n",
        names[1]);
  fflush(stdout);
  int failed = 0;
  for (int i = 0; i < 2; i++)
    if (filter == NULL || strstr(names[i], filter) != NULL)
      failed |= wake_line(names[i], i == 0 ? BSYS_THREADS : BSYS_PROCESSES, quick);
  return failed;
}
