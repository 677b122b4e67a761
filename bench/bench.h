/*
 * Shared pieces of vmplace_bench: options, the timing loop that interleaves
 * the library with its baseline, and the one-line report format.
 */
#ifndef VMP_BENCH_H
#define VMP_BENCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_opts {
  const char *filter; /* run only lines whose name contains this; NULL: all */
  int quick;          /* smoke test: small counts, every line still printed */
} bench_opts;

/* Nonzero when `name` passes the filter. */
int bench_selected(const bench_opts *opts, const char *name);

/* ---- timing ---------------------------------------------------------- */

uint64_t bench_now_ns(void);

/* One timed batch of `iters` operations: stores the elapsed nanoseconds of
 * the timed part only (setup may happen before the clock starts). Returns 0
 * or a negative vmplace / -errno code. */
typedef int (*bench_batch_fn)(void *ctx, size_t iters, uint64_t *elapsed_ns);

typedef struct bench_contender {
  bench_batch_fn run;
  void *ctx;
  size_t iters;     /* operations per batch */
  double ns_per_op; /* out: median over the repetitions */
} bench_contender;

/* Warms every contender up with one batch, then runs `reps` repetitions in
 * which every contender runs one batch, starting with a different one each
 * time, so slow phases of a noisy machine fall on all of them. Returns 0 or
 * the first error (the remaining batches are not run). */
int bench_interleave(bench_contender *contenders, size_t count, int reps);

/* After bench_interleave(): the median over its repetitions of the time
 * per operation of contender a divided by that of contender b in the same
 * repetition, so that a slow phase of the machine cancels out. */
double bench_round_ratio(size_t a, size_t b);

/* Median of v[0..n) (reorders v). */
double bench_median(double *v, size_t n);

/* A small fast generator (splitmix64): the positions are drawn before the
 * clock starts, so its speed does not matter, only that it is seedable. */
uint64_t bench_rng(uint64_t *state);

/* ---- report ------------------------------------------------------------ */

/* Prints `NAME: vmplace X UNIT, baseline Y UNIT, ratio X/Y`, 3 significant
 * digits each. */
void bench_line(const char *name, double vmplace, double baseline, const char *unit);

/* As bench_line(), with the ratio given by the caller (a median of
 * per-round ratios is not the ratio of the median figures). */
void bench_line_ratio(const char *name, double vmplace, double baseline, double ratio,
                      const char *unit);

/* For counts: exact integers, and the ratio given by the caller (X/Y is not
 * defined when both are 0). */
void bench_line_counts(const char *name, unsigned long vmplace, unsigned long baseline,
                       double ratio, const char *unit);

/* Remembers a bar's verdict, printed after all lines by bench_print_bars(). */
void bench_bar(const char *name, const char *condition, int met);
void bench_print_bars(void);

/* Prints what failed to stderr and returns 1 (for the exit status). */
int bench_error(const char *what, int err);

/* ---- the benchmarks --------------------------------------------------- */
/* Each returns 0, or 1 when an operation failed (after saying so). */

int bench_mapping(const bench_opts *opts);
int bench_split(const bench_opts *opts);
int bench_contention(const bench_opts *opts);
int bench_mview(const bench_opts *opts);
int bench_ring(const bench_opts *opts);
/* Records on rings (one and many producers) against outside rings. */
int bench_records(const bench_opts *opts);
/* The vmplace tool's pipe and cat against dd, mbuffer and coreutils cat. */
int bench_tools(const bench_opts *opts);
/* A runtime's address space: fastmem views, placement at an address,
 * growth in place. */
int bench_runtimes(const bench_opts *opts);

#endif
