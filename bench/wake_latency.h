/*
 * The wake-up latency of a ring's sleeping consumer: the time from the
 * producer's write to the return of the consumer's vmp_ring_wait_read, when
 * the consumer had long stopped spinning and slept, against the system's
 * plain blocking primitive (bench_sys.h's channel: a pipe's blocked reader
 * on POSIX, an event or an anonymous pipe on Windows). Between two threads
 * or two processes. Portable to every backend: vmplace_wake_bench
 * (wake_main.c) prints it for whichever backend it was built with, and
 * vmplace_bench's ring_wake_latency line is the same code.
 */
#ifndef VMP_BENCH_WAKE_LATENCY_H
#define VMP_BENCH_WAKE_LATENCY_H

#include <stdint.h>

#include "bench_sys.h"

/* Measures and prints the line `name: vmplace X us, baseline Y us, ratio
 * R` (the medians of interleaved rounds, each round's figure the median of
 * its trips; R the median of the per-round ratios), between BSYS_THREADS
 * or BSYS_PROCESSES. --quick (quick != 0): fewer trips and rounds. Returns
 * 0, or 1 after saying on stderr what failed (a consumer whose wake never
 * came within 10 s is one). */
int wake_line(const char *name, int between, int quick);

/* The consumer's side in a child process (a bsys_child_fn). */
int wake_child(intptr_t ring, bsys_chan *in, bsys_chan *out);

#endif
