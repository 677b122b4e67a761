/*
 * vmplace_bench [--quick] [filter]
 *
 * Each comparison prints one line, `NAME: vmplace X UNIT, baseline Y UNIT,
 * ratio R`, with the baseline measured in the same run; bars follow as
 * comment lines. The exit status is non-zero only when an operation failed.
 * See bench/README.md for what each line compares.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmplace.h"

/* A line runs when no filter is given or when its name contains one of
 * the filter's comma-separated words. */
int bench_selected(const bench_opts *opts, const char *name) {
  if (opts->filter == NULL) return 1;
  for (const char *word = opts->filter;;) {
    const char *comma = strchr(word, ',');
    size_t len = comma ? (size_t)(comma - word) : strlen(word);
    for (const char *at = name; len && (at = strchr(at, word[0])) != NULL; at++)
      if (strncmp(at, word, len) == 0) return 1;
    if (!comma) return 0;
    word = comma + 1;
  }
}

static void print_header(const bench_opts *opts) {
  char date[64];
  time_t now = time(NULL);
  struct tm utc;
  gmtime_r(&now, &utc);
  strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", &utc);
  printf("# vmplace_bench: backend %s, page %zu B, %ld CPUs, %s%s\n", vmp_backend_name(),
         vmp_page_size(), sysconf(_SC_NPROCESSORS_ONLN), date, opts->quick ? ", quick" : "");
  fflush(stdout);
}

static int usage(void) {
  fprintf(stderr, "usage: vmplace_bench [--quick] [word[,word...]]\n");
  return 2;
}

int main(int argc, char **argv) {
  bench_opts opts = {NULL, 0};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      opts.quick = 1;
    else if (argv[i][0] == '-')
      return usage();
    else if (opts.filter == NULL)
      opts.filter = argv[i];
    else
      return usage();
  }

  print_header(&opts);
  int failed = 0;
  failed |= bench_mapping(&opts);
  failed |= bench_split(&opts);
  failed |= bench_runtimes(&opts);
  failed |= bench_contention(&opts);
  failed |= bench_mview(&opts);
  failed |= bench_ring(&opts);
  failed |= bench_records(&opts);
  failed |= bench_tools(&opts);
  bench_print_bars();
  return failed;
}
