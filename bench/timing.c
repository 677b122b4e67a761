/* Median and the interleaved repetition loop, in plain C11 (the clock,
 * bench_now_ns, is the system's: bench_sys_posix.c, bench_sys_windows.c). */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(double *v, size_t n) {
  if (n == 0) return 0.0;
  qsort(v, n, sizeof *v, compare_doubles);
  if (n % 2) return v[n / 2];
  return (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

uint64_t bench_rng(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

#define MAX_REPS 64
#define MAX_CONTENDERS 8

static double samples[MAX_CONTENDERS][MAX_REPS];
static int last_reps;

int bench_interleave(bench_contender *contenders, size_t count, int reps) {
  if (count > MAX_CONTENDERS || reps < 1 || reps > MAX_REPS)
    return -22; /* -EINVAL: a bug in the benchmark itself */

  uint64_t elapsed;
  for (size_t c = 0; c < count; c++) {
    int err = contenders[c].run(contenders[c].ctx, contenders[c].iters, &elapsed);
    if (err) return err;
  }
  for (int rep = 0; rep < reps; rep++) {
    for (size_t k = 0; k < count; k++) {
      size_t c = (k + (size_t)rep) % count;
      int err = contenders[c].run(contenders[c].ctx, contenders[c].iters, &elapsed);
      if (err) return err;
      samples[c][rep] = (double)elapsed / (double)contenders[c].iters;
    }
  }
  last_reps = reps;
  static double sorted[MAX_REPS];
  for (size_t c = 0; c < count; c++) {
    memcpy(sorted, samples[c], sizeof(double) * (size_t)reps);
    contenders[c].ns_per_op = bench_median(sorted, (size_t)reps);
  }
  return 0;
}

double bench_round_ratio(size_t a, size_t b) {
  double ratios[MAX_REPS];
  for (int rep = 0; rep < last_reps; rep++) ratios[rep] = samples[a][rep] / samples[b][rep];
  return bench_median(ratios, (size_t)last_reps);
}
