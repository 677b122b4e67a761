/*
 * The ring lines: a vmp_ring against rings nobody on this project designed,
 * measured in the same run: a hand-written memfd mirrored ring
 * (handwritten_ring.c, the way a user writes one) and
 * boost::lockfree::spsc_queue (boost_ring.cpp); pipe(2) and memcpy as
 * reference points; records parsed in place; a ping-pong; and creation.
 * (`vmplace pipe` against dd and mbuffer is in bench_tools.c.) See
 * bench/README.md for each line.
 *
 * The producer and the consumer are pinned to CPUs 0 and 1, the contenders
 * take turns round by round (the first one rotating), and a line gives the
 * median of the per-round ratios: on a shared machine only a ratio taken
 * within one round means anything.
 *
 * Every byte a consumer receives is checked: the first and last 8 bytes of
 * every message and the whole of every 64th (all of them in the warm-up
 * batch) against the source, and every parsed record's checksum. A broken
 * ring stops the benchmark with an error.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench_sys.h"
#include "handwritten_ring.h"
#include "vmplace.h"
#ifdef VMP_BENCH_BOOST
#include "boost_ring.h"
#endif

#define RING_BYTES ((size_t)64 << 10)
#define SOURCE_BYTES ((size_t)4 << 20)
#define CYCLE 1024 /* messages before sizes and offsets repeat */
#define MAX_MESSAGE (16 << 10)
#define FULL_CHECK_EVERY 64 /* messages; the others: first and last 8 bytes */
#define HEADER_BYTES 4
#define PRODUCER_CPU 0
#define CONSUMER_CPU 1

/* ---- what is sent ----------------------------------------------------------- */

typedef struct workload {
  const unsigned char *src; /* SOURCE_BYTES of random bytes, read-only */
  uint32_t sizes[CYCLE];
  uint32_t offsets[CYCLE];
  uint64_t sums[CYCLE]; /* checksum of each message's bytes */
  uint64_t cycle_bytes;
} workload;

/* The "parse" of the records, shared by every contender: a checksum of
 * 8-byte words, each mixed with its position. */
__attribute__((noinline)) static uint64_t checksum(const unsigned char *p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0, w[4];
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    memcpy(w, p + i, 32);
    a += w[0] ^ i;
    b += w[1] ^ (i + 8);
    c += w[2] ^ (i + 16);
    d += w[3] ^ (i + 24);
  }
  for (; i < n; i++) a += (uint64_t)p[i] << (8 * (i % 8));
  return a ^ (b * 3) ^ (c * 5) ^ (d * 7);
}

static void make_workload(workload *w, const unsigned char *src, uint32_t min_size,
                          uint32_t max_size, uint64_t seed) {
  w->src = src;
  w->cycle_bytes = 0;
  for (size_t i = 0; i < CYCLE; i++) {
    uint32_t size = min_size + (uint32_t)(bench_rng(&seed) % (max_size - min_size + 1));
    w->sizes[i] = size;
    w->offsets[i] = (uint32_t)(bench_rng(&seed) % (SOURCE_BYTES - size + 1));
    w->sums[i] = checksum(src + w->offsets[i], size);
    w->cycle_bytes += size;
  }
}

/* Whole cycles, at least one, close to `bytes`. */
static uint64_t cycles_for(const workload *w, uint64_t bytes) {
  uint64_t n = bytes / w->cycle_bytes;
  return n ? n : 1;
}

static void fatal(const char *what, int err) {
  bench_error(what, err);
  exit(1); /* a peer may be blocked forever on the other end */
}

/* What the outside rings' users do when full or empty: spin politely. */
static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__ volatile("pause");
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

/* Runs producer(arg) on PRODUCER_CPU and consumer(arg) on CONSUMER_CPU and
 * returns the nanoseconds until both have finished. */
typedef struct side {
  void *(*fn)(void *);
  void *arg;
  unsigned cpu;
} side;

static void *pinned_start(void *p) {
  side *s = p;
  bsys_pin(s->cpu); /* the same two CPUs for every contender */
  return s->fn(s->arg);
}

static int run_pinned(void *(*producer)(void *), void *(*consumer)(void *), void *arg,
                      uint64_t *elapsed) {
  side sides[2] = {{consumer, arg, CONSUMER_CPU}, {producer, arg, PRODUCER_CPU}};
  pthread_t threads[2];
  uint64_t t0 = bench_now_ns();
  for (int i = 0; i < 2; i++) {
    int err = pthread_create(&threads[i], NULL, pinned_start, &sides[i]);
    if (err) {
      if (i == 1) fatal("starting the producer thread", -err); /* the consumer waits forever */
      return -err;
    }
  }
  pthread_join(threads[0], NULL);
  pthread_join(threads[1], NULL);
  *elapsed = bench_now_ns() - t0;
  return 0;
}

/* ---- the transports ---------------------------------------------------------- */

enum { VIA_VMP, VIA_HW, VIA_BOOST, VIA_PIPE, VIA_VMP_INPLACE, VIA_HW_INPLACE };

typedef struct transport {
  int kind;
  vmp_ring *vmp;
  hw_ring *hw;
  void *boost; /* boost_ring, when built */
  int rfd, wfd;
} transport;

static ptrdiff_t boost_push(void *q, const void *p, size_t n) {
#ifdef VMP_BENCH_BOOST
  return (ptrdiff_t)boost_ring_push(q, p, n);
#else
  (void)q, (void)p, (void)n;
  return -ENOSYS;
#endif
}

static ptrdiff_t boost_pop(void *q, void *p, size_t n) {
#ifdef VMP_BENCH_BOOST
  return (ptrdiff_t)boost_ring_pop(q, p, n);
#else
  (void)q, (void)p, (void)n;
  return -ENOSYS;
#endif
}

/* A user of vmp_ring: try, and wait for the bytes still missing when the
 * ring is full. The others spin. */
static int send_bytes(transport *t, const unsigned char *p, size_t n) {
  while (n > 0) {
    ptrdiff_t put;
    int err = 0;
    if (t->kind == VIA_VMP) {
      put = vmp_ring_write(t->vmp, p, n);
      if (put == 0) err = vmp_ring_wait_write(t->vmp, n, -1);
    } else if (t->kind == VIA_HW) {
      put = (ptrdiff_t)hw_ring_write(t->hw, p, n);
      if (put == 0) relax();
    } else if (t->kind == VIA_BOOST) {
      put = boost_push(t->boost, p, n);
      if (put == 0) relax();
    } else {
      put = write(t->wfd, p, n);
      if (put < 0 && errno == EINTR)
        put = 0;
      else if (put < 0)
        put = -errno;
    }
    if (put < 0) return (int)put;
    if (err) return err;
    p += put;
    n -= (size_t)put;
  }
  return 0;
}

static int receive_bytes(transport *t, unsigned char *p, size_t n) {
  while (n > 0) {
    ptrdiff_t got;
    int err = 0;
    if (t->kind == VIA_VMP) {
      got = vmp_ring_read(t->vmp, p, n);
      if (got == 0) err = vmp_ring_wait_read(t->vmp, n, -1);
    } else if (t->kind == VIA_HW) {
      got = (ptrdiff_t)hw_ring_read(t->hw, p, n);
      if (got == 0) relax();
    } else if (t->kind == VIA_BOOST) {
      got = boost_pop(t->boost, p, n);
      if (got == 0) relax();
    } else {
      got = read(t->rfd, p, n);
      if (got < 0 && errno == EINTR)
        got = 0;
      else if (got < 0)
        got = -errno;
      else if (got == 0)
        return -EPIPE;
    }
    if (got < 0) return (int)got;
    if (err) return err;
    p += got;
    n -= (size_t)got;
  }
  return 0;
}

/* In place, one whole message: the space for it (send) or the message
 * itself (receive), then commit / release. */
static int send_in_place(transport *t, const unsigned char *p, size_t n) {
  if (t->kind == VIA_VMP_INPLACE) {
    void *at;
    size_t room;
    int err;
    while ((err = vmp_ring_write_begin(t->vmp, n, &at, &room)) == 0 && room < n)
      if ((err = vmp_ring_wait_write(t->vmp, n, -1)) != 0) return err;
    if (err) return err;
    memcpy(at, p, n);
    return vmp_ring_write_commit(t->vmp, n);
  }
  size_t room;
  void *at;
  while (at = hw_ring_write_begin(t->hw, n, &room), room < n) relax();
  memcpy(at, p, n);
  hw_ring_write_commit(t->hw, n);
  return 0;
}

static int receive_in_place(transport *t, size_t n, const unsigned char **msg) {
  size_t there;
  if (t->kind == VIA_VMP_INPLACE) {
    int err;
    while ((err = vmp_ring_read_begin(t->vmp, n, (const void **)msg, &there)) == 0 && there < n)
      if ((err = vmp_ring_wait_read(t->vmp, n, -1)) != 0) return err;
    return err;
  }
  while (*msg = hw_ring_read_begin(t->hw, n, &there), there < n) relax();
  return 0;
}

static int release_in_place(transport *t, size_t n) {
  if (t->kind == VIA_VMP_INPLACE) return vmp_ring_read_release(t->vmp, n);
  hw_ring_read_release(t->hw, n);
  return 0;
}

static int in_place(const transport *t) {
  return t->kind == VIA_VMP_INPLACE || t->kind == VIA_HW_INPLACE;
}

static int produce_stream(transport *t, const workload *w, uint64_t messages) {
  for (uint64_t i = 0; i < messages; i++) {
    size_t k = i % CYCLE;
    const unsigned char *p = w->src + w->offsets[k];
    int err = in_place(t) ? send_in_place(t, p, w->sizes[k]) : send_bytes(t, p, w->sizes[k]);
    if (err) return err;
  }
  return 0;
}

/* Receives every message (into dst, or looks at it in place); checks each
 * one's ends, and the whole of some. Returns 0, an error, or -EIO after
 * naming the first wrong message. */
static int consume_stream(transport *t, const workload *w, uint64_t messages, unsigned char *dst,
                          int check_all) {
  uint64_t wrong = 0;
  for (uint64_t i = 0; i < messages; i++) {
    size_t k = i % CYCLE, n = w->sizes[k];
    const unsigned char *msg = dst;
    int err = in_place(t) ? receive_in_place(t, n, &msg) : receive_bytes(t, dst, n);
    if (err) return err;
    const unsigned char *want = w->src + w->offsets[k];
    size_t edge = n < 8 ? n : 8;
    if (!wrong &&
        (memcmp(msg, want, edge) != 0 || memcmp(msg + n - edge, want + n - edge, edge) != 0 ||
         ((check_all || i % FULL_CHECK_EVERY == 0) && memcmp(msg, want, n) != 0)))
      wrong = i + 1; /* go on draining, so the producer finishes */
    if (in_place(t) && (err = release_in_place(t, n)) != 0) return err;
  }
  if (wrong) {
    fprintf(stderr, "vmplace_bench: ring: message %llu arrived with the wrong bytes\n",
            (unsigned long long)(wrong - 1));
    return -EIO;
  }
  return 0;
}

/* ---- two threads --------------------------------------------------------------- */

typedef struct stream_ctx {
  transport t;
  const workload *w;
  uint64_t messages;
  unsigned char *dst;
  int batches; /* the first (the warm-up) checks every byte */
} stream_ctx;

/* A side that stops early leaves the other waiting forever: any error ends
 * the whole benchmark from here. */
static void *stream_consumer(void *arg) {
  stream_ctx *c = arg;
  int err = consume_stream(&c->t, c->w, c->messages, c->dst, c->batches == 0);
  if (err) fatal("ring consumer", err);
  return NULL;
}

static void *stream_producer(void *arg) {
  stream_ctx *c = arg;
  int err = produce_stream(&c->t, c->w, c->messages);
  if (err) fatal("ring producer", err);
  return NULL;
}

static int stream_batch(void *arg, size_t iters, uint64_t *elapsed) {
  stream_ctx *c = arg;
  (void)iters;
  int err = run_pinned(stream_producer, stream_consumer, c, elapsed);
  c->batches++;
  return err;
}

/* The ceiling: the same blocks copied by one thread, from the same places
 * to one destination, as the consumer's copies are. */
static int memcpy_batch(void *arg, size_t iters, uint64_t *elapsed) {
  stream_ctx *c = arg;
  (void)iters;
  const workload *w = c->w;
  uint64_t t0 = bench_now_ns();
  for (uint64_t i = 0; i < c->messages; i++) {
    size_t k = i % CYCLE;
    memcpy(c->dst, w->src + w->offsets[k], w->sizes[k]);
    __asm__ volatile("" : : "r"(c->dst) : "memory"); /* every copy happens */
  }
  *elapsed = bench_now_ns() - t0;
  size_t last = (size_t)((c->messages - 1) % CYCLE);
  return memcmp(c->dst, w->src + w->offsets[last], w->sizes[last]) == 0 ? 0 : -EIO;
}

static int open_pipe(transport *t) {
  int fds[2];
  if (pipe(fds) != 0) return -errno;
  /* As large as the rings, where the system allows it. */
  (void)fcntl(fds[1], F_SETPIPE_SZ, (int)RING_BYTES);
  t->rfd = fds[0];
  t->wfd = fds[1];
  return 0;
}

/* ---- one group of contenders moving the same messages ----------------------------- */

#define GROUP_MAX 8

typedef struct group {
  stream_ctx ctx[GROUP_MAX];
  bench_contender c[GROUP_MAX];
  size_t count;
} group;

typedef struct ring_env {
  const bench_opts *opts;
  const unsigned char *src;
  unsigned char *dst;
  vmp_ring *vmp;
  hw_ring *hw;
  void *boost; /* NULL when not built */
  int reps;
} ring_env;

/* Returns the contender's index, or -1 after an error. */
static int add_stream(group *g, ring_env *e, int kind, const workload *w, uint64_t bytes,
                      bench_batch_fn run) {
  stream_ctx *c = &g->ctx[g->count];
  memset(c, 0, sizeof *c);
  c->t = (transport){kind, e->vmp, e->hw, e->boost, -1, -1};
  if (kind == VIA_PIPE && open_pipe(&c->t) != 0) return -1;
  c->w = w;
  c->messages = cycles_for(w, bytes) * CYCLE;
  c->dst = e->dst;
  g->c[g->count] = (bench_contender){run, c, (size_t)(cycles_for(w, bytes) * w->cycle_bytes), 0};
  return (int)g->count++;
}

static void close_group(group *g) {
  for (size_t i = 0; i < g->count; i++)
    if (g->ctx[i].t.kind == VIA_PIPE) {
      close(g->ctx[i].t.rfd);
      close(g->ctx[i].t.wfd);
    }
}

/* A rate line: vmplace's contender a against baseline b; the figures are
 * the medians, the ratio the median of the rounds' ratios. */
static double rate_line(const char *name, const group *g, int a, int b, const char *unit) {
  double scale = unit[0] == 'M' ? 1e3 : 1.0;              /* bytes per ns is GB/s */
  double ratio = bench_round_ratio((size_t)b, (size_t)a); /* time b / time a */
  bench_line_ratio(name, scale / g->c[a].ns_per_op, scale / g->c[b].ns_per_op, ratio, unit);
  return ratio;
}

static void bar_at_least(const char *name, double ratio, double bar) {
  char cond[32];
  snprintf(cond, sizeof cond, "ratio >= %.1f", bar);
  bench_bar(name, cond, ratio >= bar);
}

/* All the lines of one message size: against the hand-written ring and
 * boost with the copy API, in place (8 B and 64 B), against a pipe and
 * memcpy (where asked). */
static int run_size(ring_env *e, const char *label, uint32_t size, uint64_t bytes, int with_inplace,
                    int with_pipe, int with_memcpy) {
  char hw_name[64], boost_name[64], inplace_name[64], pipe_name[64], memcpy_name[64];
  snprintf(hw_name, sizeof hw_name, "ring_vs_handwritten_%s", label);
  snprintf(boost_name, sizeof boost_name, "ring_vs_boost_%s", label);
  snprintf(inplace_name, sizeof inplace_name, "ring_inplace_vs_handwritten_%s", label);
  snprintf(pipe_name, sizeof pipe_name, "ring_vs_pipe_%s", label);
  snprintf(memcpy_name, sizeof memcpy_name, "ring_vs_memcpy_%s", label);
  int want_hw = bench_selected(e->opts, hw_name);
  int want_boost = bench_selected(e->opts, boost_name);
  with_inplace = with_inplace && bench_selected(e->opts, inplace_name);
  with_pipe = with_pipe && bench_selected(e->opts, pipe_name);
  with_memcpy = with_memcpy && bench_selected(e->opts, memcpy_name);
  if (!want_hw && !want_boost && !with_inplace && !with_pipe && !with_memcpy) return 0;
  if (want_boost && e->boost == NULL) {
#ifdef VMP_BENCH_NO_BOOST
    printf("# %s: skipped (%s)\n", boost_name, VMP_BENCH_NO_BOOST);
#endif
    want_boost = 0;
  }

  static workload w;
  make_workload(&w, e->src, size, size, 0x72696e67u + size);
  if (e->opts->quick) bytes = bytes < (256u << 10) ? bytes : (256u << 10);
  group g = {0};
  int vmp = add_stream(&g, e, VIA_VMP, &w, bytes, stream_batch);
  int hw = add_stream(&g, e, VIA_HW, &w, bytes, stream_batch);
  int boost = want_boost ? add_stream(&g, e, VIA_BOOST, &w, bytes, stream_batch) : 0;
  int vmp_in = with_inplace ? add_stream(&g, e, VIA_VMP_INPLACE, &w, bytes, stream_batch) : 0;
  int hw_in = with_inplace ? add_stream(&g, e, VIA_HW_INPLACE, &w, bytes, stream_batch) : 0;
  /* A pipe pays two system calls per small message: fewer of them. */
  int pipe_at = with_pipe
                    ? add_stream(&g, e, VIA_PIPE, &w, size < 1024 ? bytes / 8 : bytes, stream_batch)
                    : 0;
  int memcpy_at = with_memcpy ? add_stream(&g, e, VIA_VMP, &w, bytes, memcpy_batch) : 0;
  int err = (vmp | hw | boost | vmp_in | hw_in | pipe_at | memcpy_at) < 0 ? -errno : 0;
  if (!err) err = bench_interleave(g.c, g.count, e->reps);
  close_group(&g);
  if (err) return bench_error(hw_name, err);

  const char *unit = size < 1024 ? "MB/s" : "GB/s";
  if (want_hw) bar_at_least(hw_name, rate_line(hw_name, &g, vmp, hw, unit), 1.0);
  if (want_boost) bar_at_least(boost_name, rate_line(boost_name, &g, vmp, boost, unit), 1.0);
  if (with_inplace)
    bar_at_least(inplace_name, rate_line(inplace_name, &g, vmp_in, hw_in, unit), 1.0);
  if (with_pipe)
    bar_at_least(pipe_name, rate_line(pipe_name, &g, vmp, pipe_at, unit), size < 1024 ? 10 : 4);
  if (with_memcpy) bar_at_least(memcpy_name, rate_line(memcpy_name, &g, vmp, memcpy_at, unit), 0.4);
  return 0;
}

/* ---- records parsed in place ------------------------------------------------------------ */

typedef struct record_ctx {
  int kind; /* VIA_VMP or VIA_HW */
  vmp_ring *vmp;
  hw_ring *hw;
  const workload *w;
  uint64_t records;
} record_ctx;

static int check_record(const workload *w, uint64_t i, uint32_t len, const unsigned char *payload) {
  size_t k = (size_t)(i % CYCLE);
  if (len == w->sizes[k] && checksum(payload, len) == w->sums[k]) return 0;
  fprintf(stderr, "vmplace_bench: ring records: record %llu is wrong (length %u, expected %u)\n",
          (unsigned long long)i, len, w->sizes[k]);
  return -EIO;
}

/* Space for a whole record, contiguous: both rings are mirrored. */
static int record_space(record_ctx *c, size_t need, unsigned char **at) {
  size_t room;
  if (c->kind == VIA_HW) {
    while (*at = hw_ring_write_begin(c->hw, need, &room), room < need) relax();
    return 0;
  }
  int err;
  while ((err = vmp_ring_write_begin(c->vmp, need, (void **)at, &room)) == 0 && room < need)
    if ((err = vmp_ring_wait_write(c->vmp, need, -1)) != 0) return err;
  return err;
}

/* At least `need` readable bytes in place. */
static int record_bytes(record_ctx *c, size_t need, const unsigned char **at) {
  size_t there;
  if (c->kind == VIA_HW) {
    while (*at = hw_ring_read_begin(c->hw, need, &there), there < need) relax();
    return 0;
  }
  int err;
  while ((err = vmp_ring_read_begin(c->vmp, need, (const void **)at, &there)) == 0 && there < need)
    if ((err = vmp_ring_wait_read(c->vmp, need, -1)) != 0) return err;
  return err;
}

static void *record_producer(void *arg) {
  record_ctx *c = arg;
  for (uint64_t i = 0; i < c->records; i++) {
    size_t k = i % CYCLE;
    uint32_t len = c->w->sizes[k];
    size_t need = HEADER_BYTES + len;
    unsigned char *p;
    int err = record_space(c, need, &p);
    if (err) fatal("ring records producer", err);
    memcpy(p, &len, HEADER_BYTES);
    memcpy(p + HEADER_BYTES, c->w->src + c->w->offsets[k], len);
    if (c->kind == VIA_HW)
      hw_ring_write_commit(c->hw, need);
    else if ((err = vmp_ring_write_commit(c->vmp, need)) != 0)
      fatal("ring records producer", err);
  }
  return NULL;
}

/* Reads the length, then parses the payload where it lies. */
static void *record_consumer(void *arg) {
  record_ctx *c = arg;
  for (uint64_t i = 0; i < c->records; i++) {
    const unsigned char *p;
    uint32_t len;
    int err = record_bytes(c, HEADER_BYTES, &p);
    if (!err) {
      memcpy(&len, p, HEADER_BYTES);
      err = len > MAX_MESSAGE ? check_record(c->w, i, len, p) : 0;
    }
    if (!err) err = record_bytes(c, HEADER_BYTES + (size_t)len, &p);
    if (!err) err = check_record(c->w, i, len, p + HEADER_BYTES);
    if (err) fatal("ring records consumer", err);
    if (c->kind == VIA_HW)
      hw_ring_read_release(c->hw, HEADER_BYTES + (size_t)len);
    else if ((err = vmp_ring_read_release(c->vmp, HEADER_BYTES + (size_t)len)) != 0)
      fatal("ring records consumer", err);
  }
  return NULL;
}

static int record_batch(void *arg, size_t iters, uint64_t *elapsed) {
  (void)iters;
  return run_pinned(record_producer, record_consumer, arg, elapsed);
}

static int run_records(ring_env *e) {
  const char *name = "ring_vs_handwritten_records_rand_1_16KiB";
  if (!bench_selected(e->opts, name)) return 0;
  static workload w;
  make_workload(&w, e->src, 1024, MAX_MESSAGE, 0x6d736773u);
  uint64_t bytes = e->opts->quick ? (1u << 20) : (128u << 20);
  uint64_t records = cycles_for(&w, bytes) * CYCLE;
  size_t moved = (size_t)(cycles_for(&w, bytes) * w.cycle_bytes);
  record_ctx ctx[2] = {{VIA_VMP, e->vmp, NULL, &w, records}, {VIA_HW, NULL, e->hw, &w, records}};
  group g = {0};
  g.count = 2;
  g.c[0] = (bench_contender){record_batch, &ctx[0], moved, 0};
  g.c[1] = (bench_contender){record_batch, &ctx[1], moved, 0};
  int err = bench_interleave(g.c, 2, e->reps);
  if (err) return bench_error(name, err);
  bar_at_least(name, rate_line(name, &g, 0, 1, "GB/s"), 1.1);
  return 0;
}

/* ---- ping-pong ------------------------------------------------------------------------ */

/* Two rings, one each way: the pinger sends a 64-byte message and waits
 * for it to come back; the ponger sends back what it receives. */
typedef struct pingpong_ctx {
  transport there, back;
  const workload *w;
  uint64_t trips;
  unsigned char ping_buf[64], pong_buf[64];
} pingpong_ctx;

static void *pinger(void *arg) {
  pingpong_ctx *c = arg;
  for (uint64_t i = 0; i < c->trips; i++) {
    const unsigned char *msg = c->w->src + c->w->offsets[i % CYCLE];
    int err = send_bytes(&c->there, msg, 64);
    if (!err) err = receive_bytes(&c->back, c->ping_buf, 64);
    if (!err && memcmp(c->ping_buf, msg, 64) != 0) err = -EIO;
    if (err) fatal("ring_pingpong_64B", err);
  }
  return NULL;
}

static void *ponger(void *arg) {
  pingpong_ctx *c = arg;
  for (uint64_t i = 0; i < c->trips; i++) {
    int err = receive_bytes(&c->there, c->pong_buf, 64);
    if (!err) err = send_bytes(&c->back, c->pong_buf, 64);
    if (err) fatal("ring_pingpong_64B", err);
  }
  return NULL;
}

static int pingpong_batch(void *arg, size_t iters, uint64_t *elapsed) {
  (void)iters;
  return run_pinned(pinger, ponger, arg, elapsed);
}

static int run_pingpong(ring_env *e) {
  const char *name = "ring_pingpong_64B";
  if (!bench_selected(e->opts, name)) return 0;
  static workload w;
  make_workload(&w, e->src, 64, 64, 0x70696e67u);
  vmp_ring *vmp_back = NULL;
  hw_ring *hw_back = NULL;
  int err = vmp_ring_create(RING_BYTES, 0, &vmp_back);
  if (!err) err = hw_ring_create(RING_BYTES, &hw_back);
  int failed = 0;
  if (err) {
    failed = bench_error("creating the ping-pong rings", err);
    goto out;
  }
  uint64_t trips = e->opts->quick ? 1000 : 20000;
  static pingpong_ctx ctx[2];
  ctx[0] = (pingpong_ctx){{VIA_VMP, e->vmp, NULL, NULL, -1, -1},
                          {VIA_VMP, vmp_back, NULL, NULL, -1, -1},
                          &w,
                          trips,
                          {0},
                          {0}};
  ctx[1] = (pingpong_ctx){{VIA_HW, NULL, e->hw, NULL, -1, -1},
                          {VIA_HW, NULL, hw_back, NULL, -1, -1},
                          &w,
                          trips,
                          {0},
                          {0}};
  bench_contender c[2] = {{pingpong_batch, &ctx[0], (size_t)trips, 0},
                          {pingpong_batch, &ctx[1], (size_t)trips, 0}};
  err = bench_interleave(c, 2, e->reps);
  if (err) {
    failed = bench_error(name, err);
    goto out;
  }
  double ratio = bench_round_ratio(0, 1);
  bench_line_ratio(name, c[0].ns_per_op / 1e3, c[1].ns_per_op / 1e3, ratio, "us");
  bench_bar(name, "ratio <= 1.0", ratio <= 1.0);
out:
  vmp_ring_close(vmp_back);
  hw_ring_destroy(hw_back);
  return failed;
}

/* ---- creating and destroying ------------------------------------------------------------ */

static int create_vmp_batch(void *arg, size_t iters, uint64_t *elapsed) {
  (void)arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    vmp_ring *r;
    int err = vmp_ring_create(RING_BYTES, 0, &r);
    if (!err) err = vmp_ring_close(r);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int create_hw_batch(void *arg, size_t iters, uint64_t *elapsed) {
  (void)arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    hw_ring *r;
    int err = hw_ring_create(RING_BYTES, &r);
    if (err) return err;
    hw_ring_destroy(r);
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int run_create(ring_env *e) {
  const char *name = "ring_create_destroy";
  if (!bench_selected(e->opts, name)) return 0;
  size_t iters = e->opts->quick ? 20 : 300;
  bench_contender c[2] = {{create_vmp_batch, NULL, iters, 0}, {create_hw_batch, NULL, iters, 0}};
  int err = bench_interleave(c, 2, e->opts->quick ? 3 : 11);
  if (err) return bench_error(name, err);
  double ratio = bench_round_ratio(0, 1);
  bench_line_ratio(name, c[0].ns_per_op / 1e3, c[1].ns_per_op / 1e3, ratio, "us");
  bench_bar(name, "ratio <= 1.5", ratio <= 1.5);
  return 0;
}

/* ---- all of them --------------------------------------------------------------------------------
 */

static int any_selected(const bench_opts *opts) {
  static const char *const names[] = {"ring_vs_handwritten_8B",
                                      "ring_vs_handwritten_64B",
                                      "ring_vs_handwritten_1KiB",
                                      "ring_vs_handwritten_16KiB",
                                      "ring_vs_handwritten_records_rand_1_16KiB",
                                      "ring_vs_boost_8B",
                                      "ring_vs_boost_64B",
                                      "ring_vs_boost_1KiB",
                                      "ring_vs_boost_16KiB",
                                      "ring_inplace_vs_handwritten_8B",
                                      "ring_inplace_vs_handwritten_64B",
                                      "ring_vs_pipe_64B",
                                      "ring_vs_pipe_16KiB",
                                      "ring_vs_memcpy_16KiB",
                                      "ring_pingpong_64B",
                                      "ring_create_destroy"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (bench_selected(opts, names[i])) return 1;
  return 0;
}

int bench_ring(const bench_opts *opts) {
  if (!any_selected(opts)) return 0;
  /* A closed pipe must be an error from write(), not the end of the bench. */
  signal(SIGPIPE, SIG_IGN);
  ring_env e = {opts, NULL, NULL, NULL, NULL, NULL, opts->quick ? 3 : 7};
  unsigned char *src = malloc(SOURCE_BYTES);
  e.dst = malloc(MAX_MESSAGE);
  int failed = 0;
  int err = src && e.dst ? vmp_ring_create(RING_BYTES, 0, &e.vmp) : -ENOMEM;
  if (!err && vmp_ring_capacity(e.vmp) != RING_BYTES)
    err = -EINVAL; /* the rings must be the same size */
  if (!err) err = hw_ring_create(RING_BYTES, &e.hw);
#ifdef VMP_BENCH_BOOST
  if (!err) err = boost_ring_create(RING_BYTES, (boost_ring **)&e.boost);
#endif
  if (err) {
    failed = bench_error("creating the rings", err);
    goto out;
  }
  uint64_t seed = 0x73726362u;
  for (size_t i = 0; i < SOURCE_BYTES; i += 8) {
    uint64_t v = bench_rng(&seed);
    memcpy(src + i, &v, 8);
  }
  e.src = src;
  printf(
      "# ring: 64 KiB rings, producer on CPU %d and consumer on CPU %d, %d rounds, "
      "median of per-round ratios\n",
      PRODUCER_CPU, CONSUMER_CPU, e.reps);
  fflush(stdout);

  failed |= run_size(&e, "8B", 8, 8u << 20, 1, 0, 0);
  failed |= run_size(&e, "64B", 64, 32u << 20, 1, 1, 0);
  failed |= run_size(&e, "1KiB", 1024, 64u << 20, 0, 0, 0);
  failed |= run_size(&e, "16KiB", MAX_MESSAGE, 128u << 20, 0, 1, 1);
  failed |= run_records(&e);
  failed |= run_pingpong(&e);
  failed |= run_create(&e);
out:
  vmp_ring_close(e.vmp);
  hw_ring_destroy(e.hw);
#ifdef VMP_BENCH_BOOST
  if (e.boost) boost_ring_destroy(e.boost);
#endif
  free(src);
  free(e.dst);
  return failed;
}
