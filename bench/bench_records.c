/*
 * The record lines: vmp_ring's records (vmp_ring_reserve / next, parsed in
 * place) against outsiders in the same run: a classic ring with padding
 * records (baseline_record_ring.c), boost::lockfree::spsc_queue with a
 * length prefix (the consumer must copy each record out to parse it), and
 * for many producers the textbook mutex + condition variable ring.
 *
 *   records_64B, records_1KiB, records_rand_1_16KiB: one producer, vs the
 *     classic ring; records_vs_boost_64B, records_vs_boost_rand_1_16KiB:
 *     vs boost. 64 KiB rings; producer on CPU 0, consumer on CPU 1.
 *   records_mpsc2_64B, records_mpsc2_1KiB, records_mpsc4_64B: two or four
 *     producer threads (on CPU 0), vs the mutex ring.
 *   ring_wake_latency: a sleeping consumer woken by a write, vs a pipe's
 *     blocked reader (time, lower is better).
 *
 * Every record's payload is checksummed where it lies and checked against
 * the source, and every record must arrive: a broken ring stops the run.
 * Figures are payload bytes per second; a line's ratio is the median of
 * the per-round ratios of interleaved rounds.
 */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "baseline_record_ring.h"
#include "bench_sys.h"
#include "vmplace.h"
#include "wake_latency.h"
#ifdef VMP_BENCH_BOOST
#include "boost_ring.h"
#endif

#define RING_BYTES ((size_t)64 << 10)
#define SOURCE_BYTES ((size_t)1 << 20)
#define CYCLE 1024
#define MAX_PRODUCERS 4
#define PRODUCER_CPU 0
#define CONSUMER_CPU 1

enum { VIA_VMP, VIA_CLASSIC, VIA_BOOST };

typedef struct rec_workload {
  const unsigned char *src;
  uint32_t sizes[CYCLE], offsets[CYCLE];
  uint64_t sums[CYCLE];
  uint64_t cycle_bytes;
} rec_workload;

typedef struct rec_ctx {
  int kind;
  unsigned producers;
  vmp_ring *vmp;
  cr_ring *classic;
  void *boost;
  const rec_workload *w;
  uint64_t records;       /* per producer */
  unsigned char *scratch; /* boost: where a record is copied out */
  int failed;
} rec_ctx;

typedef struct producer_arg {
  rec_ctx *c;
  unsigned id;
} producer_arg;

static uint64_t sum(const unsigned char *p, size_t n) {
  uint64_t a = 0, b = 0;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    uint64_t x, y;
    memcpy(&x, p + i, 8);
    memcpy(&y, p + i + 8, 8);
    a += x ^ i;
    b += y;
  }
  for (; i < n; i++) a += (uint64_t)p[i] << (i % 8 * 8);
  return a ^ (b * 31);
}

static void make_rec_workload(rec_workload *w, const unsigned char *src, uint32_t lo, uint32_t hi,
                              uint64_t seed) {
  w->src = src;
  w->cycle_bytes = 0;
  for (size_t i = 0; i < CYCLE; i++) {
    uint32_t n = lo + (uint32_t)(bench_rng(&seed) % (hi - lo + 1));
    w->sizes[i] = n;
    w->offsets[i] = (uint32_t)(bench_rng(&seed) % (SOURCE_BYTES - n + 1));
    w->sums[i] = sum(src + w->offsets[i], n);
    w->cycle_bytes += n;
  }
}

static inline void spin(void) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__ volatile("pause");
#endif
}

static void fail(rec_ctx *c, const char *what, int err) {
  bench_error(what, err);
  exit(1); /* the other side may wait forever */
  (void)c;
}

/* ---- producers -------------------------------------------------------------------- */

static void boost_send(void *q, const void *p, size_t n) {
#ifdef VMP_BENCH_BOOST
  const unsigned char *b = p;
  while (n > 0) {
    size_t put = boost_ring_push(q, b, n);
    if (put == 0) spin();
    b += put;
    n -= put;
  }
#else
  (void)q, (void)p, (void)n;
#endif
}

static void boost_receive(void *q, void *p, size_t n) {
#ifdef VMP_BENCH_BOOST
  unsigned char *b = p;
  while (n > 0) {
    size_t got = boost_ring_pop(q, b, n);
    if (got == 0) spin();
    b += got;
    n -= got;
  }
#else
  /* Never called without boost (its lines are skipped); zeros keep the
   * caller's reads defined, which -Werror's uninitialised check wants. */
  (void)q;
  memset(p, 0, n);
#endif
}

static void *producer(void *arg) {
  producer_arg *a = arg;
  rec_ctx *c = a->c;
  bsys_pin(PRODUCER_CPU);
  const rec_workload *w = c->w;
  for (uint64_t i = 0; i < c->records; i++) {
    size_t k = (size_t)((i * c->producers + a->id) % CYCLE);
    uint32_t len = w->sizes[k];
    const unsigned char *payload = w->src + w->offsets[k];
    if (c->kind == VIA_VMP) {
      vmp_ring_record rec;
      int err = vmp_ring_reserve(c->vmp, len, -1, &rec);
      if (err) fail(c, "records: reserve", err);
      memcpy(rec.data, payload, len);
      if ((err = vmp_ring_submit(c->vmp, &rec)) != 0) fail(c, "records: submit", err);
    } else if (c->kind == VIA_CLASSIC) {
      void *at;
      while ((at = cr_ring_reserve(c->classic, len)) == NULL) spin();
      memcpy(at, payload, len);
      cr_ring_commit(c->classic, len);
    } else {
      uint32_t hdr = len;
      boost_send(c->boost, &hdr, sizeof hdr);
      boost_send(c->boost, payload, len);
    }
  }
  return NULL;
}

/* With several producers a record is the next one of one of them (each
 * takes every producers-th record of the cycle, from its own start, so no
 * two can be expecting the same one); that producer moves on. */
static int next_of_some_producer(const rec_ctx *c, uint64_t *next, size_t len, uint64_t s) {
  for (unsigned p = 0; p < c->producers; p++) {
    size_t k = (size_t)((next[p] * c->producers + p) % CYCLE);
    if (next[p] < c->records && c->w->sizes[k] == len && c->w->sums[k] == s) {
      next[p]++;
      return 1;
    }
  }
  return 0;
}

static void *consumer(void *arg) {
  rec_ctx *c = arg;
  bsys_pin(CONSUMER_CPU);
  const rec_workload *w = c->w;
  uint64_t total = c->records * c->producers, next[MAX_PRODUCERS] = {0};
  for (uint64_t i = 0; i < total; i++) {
    const unsigned char *p;
    size_t len;
    vmp_ring_record rec;
    if (c->kind == VIA_VMP) {
      int err = vmp_ring_next(c->vmp, -1, &rec);
      if (err) fail(c, "records: next", err);
      p = rec.data;
      len = rec.len;
    } else if (c->kind == VIA_CLASSIC) {
      while ((p = cr_ring_peek(c->classic, &len)) == NULL) spin();
    } else {
      uint32_t hdr;
      boost_receive(c->boost, &hdr, sizeof hdr);
      len = hdr;
      boost_receive(c->boost, c->scratch, len);
      p = c->scratch;
    }
    uint64_t s = sum(p, len);
    /* With one producer the record's place in the cycle is known; with
     * several, any record of the cycle may come. */
    int ok = c->producers == 1 ? (len == w->sizes[i % CYCLE] && s == w->sums[i % CYCLE])
                               : next_of_some_producer(c, next, len, s);
    if (!ok) {
      fprintf(stderr,
              "vmplace_bench: records (%s, %u producers): record %llu is wrong (length %zu)\n",
              c->kind == VIA_VMP       ? "vmplace"
              : c->kind == VIA_CLASSIC ? "classic"
                                       : "boost",
              c->producers, (unsigned long long)i, len);
      exit(1);
    }
    if (c->kind == VIA_VMP) {
      int err = vmp_ring_consume(c->vmp, &rec);
      if (err) fail(c, "records: consume", err);
    } else if (c->kind == VIA_CLASSIC) {
      cr_ring_release(c->classic);
    }
  }
  return NULL;
}

static int batch(void *arg, size_t iters, uint64_t *elapsed) {
  (void)iters;
  rec_ctx *c = arg;
  pthread_t cons, prod[MAX_PRODUCERS];
  producer_arg args[MAX_PRODUCERS];
  uint64_t t0 = bench_now_ns();
  int err = pthread_create(&cons, NULL, consumer, c);
  if (err) return -err;
  for (unsigned i = 0; i < c->producers; i++) {
    args[i] = (producer_arg){c, i};
    if ((err = pthread_create(&prod[i], NULL, producer, &args[i])) != 0)
      fail(c, "records: starting a producer", -err);
  }
  for (unsigned i = 0; i < c->producers; i++) pthread_join(prod[i], NULL);
  pthread_join(cons, NULL);
  *elapsed = bench_now_ns() - t0;
  return 0;
}

/* ---- wake-up latency ----------------------------------------------------------------- */

/* wake_latency.c measures it, for vmplace_wake_bench on every backend too. */
static int run_wake(const bench_opts *opts) {
  const char *name = "ring_wake_latency";
  if (!bench_selected(opts, name)) return 0;
  return wake_line(name, BSYS_THREADS, opts->quick);
}

/* ---- the lines ---------------------------------------------------------------------- */

typedef struct rec_env {
  const bench_opts *opts;
  unsigned char *src, *scratch;
  int reps;
} rec_env;

/* One line: vmplace (contender 0) against `kind` with `producers`. */
static int run_line(rec_env *e, const char *name, int kind, unsigned producers, uint32_t lo,
                    uint32_t hi, double bar) {
  if (!bench_selected(e->opts, name)) return 0;
#ifndef VMP_BENCH_BOOST
  if (kind == VIA_BOOST) {
    printf("%s: skipped (%s)\n", name, VMP_BENCH_NO_BOOST);
    return 0;
  }
#endif
  static rec_workload w;
  make_rec_workload(&w, e->src, lo, hi, 0x72656373u + lo);
  uint64_t bytes = e->opts->quick ? (1u << 20) : (hi > 4096 ? (256u << 20) : (48u << 20));
  uint64_t per_producer = bytes / w.cycle_bytes * CYCLE / producers;
  if (per_producer < CYCLE) per_producer = CYCLE;
  rec_ctx ctx[2] = {{VIA_VMP, producers, NULL, NULL, NULL, &w, per_producer, e->scratch, 0},
                    {kind, producers, NULL, NULL, NULL, &w, per_producer, e->scratch, 0}};
  int err = vmp_ring_create(RING_BYTES, producers > 1 ? VMP_RING_MULTI_PRODUCER : 0, &ctx[0].vmp);
  if (!err) err = cr_ring_create(RING_BYTES, producers > 1, &ctx[1].classic);
#ifdef VMP_BENCH_BOOST
  if (!err && kind == VIA_BOOST) err = boost_ring_create(RING_BYTES, (boost_ring **)&ctx[1].boost);
#endif
  int failed = 0;
  if (err) {
    failed = bench_error(name, err);
    goto out;
  }
  size_t moved = (size_t)(per_producer * producers / CYCLE * w.cycle_bytes);
  bench_contender c[2] = {{batch, &ctx[0], moved, 0}, {batch, &ctx[1], moved, 0}};
  err = bench_interleave(c, 2, e->reps);
  if (err) {
    failed = bench_error(name, err);
    goto out;
  }
  double ratio = bench_round_ratio(1, 0);
  bench_line_ratio(name, 1.0 / c[0].ns_per_op, 1.0 / c[1].ns_per_op, ratio, "GB/s");
  char cond[32];
  snprintf(cond, sizeof cond, "ratio >= %.1f", bar);
  bench_bar(name, cond, ratio >= bar);
out:
  vmp_ring_close(ctx[0].vmp);
  cr_ring_destroy(ctx[1].classic);
#ifdef VMP_BENCH_BOOST
  if (ctx[1].boost) boost_ring_destroy(ctx[1].boost);
#endif
  return failed;
}

int bench_records(const bench_opts *opts) {
  static const char *const names[] = {"records_64B",
                                      "records_1KiB",
                                      "records_rand_1_16KiB",
                                      "records_vs_boost_64B",
                                      "records_vs_boost_rand_1_16KiB",
                                      "records_mpsc2_64B",
                                      "records_mpsc2_1KiB",
                                      "records_mpsc4_64B",
                                      "ring_wake_latency"};
  int any = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) any |= bench_selected(opts, names[i]);
  if (!any) return 0;
  rec_env e = {opts, malloc(SOURCE_BYTES), malloc(16 << 10), opts->quick ? 3 : 7};
  if (!e.src || !e.scratch) {
    free(e.src);
    free(e.scratch);
    return bench_error("records", -ENOMEM);
  }
  uint64_t seed = 0x7265636fu;
  for (size_t i = 0; i < SOURCE_BYTES; i += 8) {
    uint64_t v = bench_rng(&seed);
    memcpy(e.src + i, &v, 8);
  }
  printf("# records: 64 KiB rings, producers on CPU %d, consumer on CPU %d, %d rounds\n",
         PRODUCER_CPU, CONSUMER_CPU, e.reps);
  fflush(stdout);
  int failed = 0;
  failed |= run_line(&e, "records_64B", VIA_CLASSIC, 1, 64, 64, 1.0);
  failed |= run_line(&e, "records_1KiB", VIA_CLASSIC, 1, 1024, 1024, 1.0);
  failed |= run_line(&e, "records_rand_1_16KiB", VIA_CLASSIC, 1, 1024, 16384, 1.2);
  failed |= run_line(&e, "records_vs_boost_64B", VIA_BOOST, 1, 64, 64, 1.0);
  failed |= run_line(&e, "records_vs_boost_rand_1_16KiB", VIA_BOOST, 1, 1024, 16384, 1.2);
  failed |= run_line(&e, "records_mpsc2_64B", VIA_CLASSIC, 2, 64, 64, 2.0);
  failed |= run_line(&e, "records_mpsc2_1KiB", VIA_CLASSIC, 2, 1024, 1024, 2.0);
  failed |= run_line(&e, "records_mpsc4_64B", VIA_CLASSIC, 4, 64, 64, 1.0);
  free(e.src);
  free(e.scratch);
  failed |= run_wake(opts);
  return failed;
}
