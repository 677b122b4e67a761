/*
 * One trip: the producer waits a while (1 to 3 ms, the same pseudo-random
 * gaps for both contenders, so that a consumer that polls is not met at
 * the same point of its cycle every time), reads the clock, writes the
 * reading as the message; the consumer, asleep in its wait, wakes, reads
 * the clock and answers with the difference through a channel of its own,
 * which the producer waits for before the next gap starts (so the
 * consumer is asleep again, not spinning, when the next message comes).
 * The producer checks the answer is no longer than the round trip it saw,
 * else the consumer did not get what was sent. Producer on CPU 0,
 * consumer on CPU 1; a consumer thread or child process is started for
 * each batch and its start is not timed.
 */
#include "wake_latency.h"

#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "vmplace.h"

#define RING_BYTES ((size_t)64 << 10)
#define PRODUCER_CPU 0
#define CONSUMER_CPU 1
#define TRIPS 101
#define QUICK_TRIPS 15
#define MIN_GAP_NS 1000000u
#define GAP_SPREAD_NS 2000000u
/* A wake that has not come by then never will: the consumer gives up. */
#define WAIT_LIMIT_NS ((int64_t)10 * 1000000000)
/* The producer's last message, and a consumer's answer when it failed. */
#define STOP UINT64_MAX
#define FAILED UINT64_MAX

typedef struct contender {
  int between;    /* BSYS_THREADS or BSYS_PROCESSES */
  vmp_ring *ring; /* NULL: the baseline channel */
  size_t trips;
  double latency_ns[TRIPS];
} contender;

static int receive(vmp_ring *ring, bsys_chan *in, uint64_t *word) {
  if (ring == NULL) return bsys_chan_recv(in, word);
  int err;
  while ((err = vmp_ring_wait_read(ring, sizeof *word, WAIT_LIMIT_NS)) == 0 &&
         vmp_ring_read(ring, word, sizeof *word) != (ptrdiff_t)sizeof *word) {
  }
  return err;
}

/* The consumer, thread or process: sleeps until each message comes and
 * answers with how long ago the producer read its clock. */
static int consume(vmp_ring *ring, bsys_chan *in, bsys_chan *out) {
  bsys_pin(CONSUMER_CPU);
  for (;;) {
    uint64_t sent;
    int err = receive(ring, in, &sent);
    uint64_t now = bench_now_ns();
    if (err) {
      bench_error("ring_wake_latency: the consumer's wait", err);
      (void)bsys_chan_send(out, FAILED);
      return err;
    }
    if (sent == STOP) return 0;
    if ((err = bsys_chan_send(out, now - sent)) != 0) return err;
  }
}

typedef struct consumer_thread_arg {
  vmp_ring *ring;
  bsys_chan *in, *out;
  int result;
} consumer_thread_arg;

static void *consumer_thread(void *p) {
  consumer_thread_arg *a = p;
  a->result = consume(a->ring, a->in, a->out);
  return NULL;
}

int wake_child(intptr_t fd, bsys_chan *in, bsys_chan *out) {
  vmp_ring *ring = NULL;
  if (fd != -1) {
    int err = vmp_ring_attach(fd, 0, &ring);
    if (err) {
      bench_error("ring_wake_latency: attaching the ring in the child", err);
      (void)bsys_chan_send(out, FAILED);
      return err;
    }
  }
  int err = consume(ring, in, out);
  vmp_ring_close(ring);
  return err;
}

static uint64_t gap_ns(size_t trip) {
  uint64_t seed = 0x77616b65u + trip;
  return MIN_GAP_NS + bench_rng(&seed) % GAP_SPREAD_NS;
}

static int send_message(contender *c, bsys_chan *fwd, uint64_t word) {
  if (c->ring == NULL) return bsys_chan_send(fwd, word);
  ptrdiff_t n = vmp_ring_write(c->ring, &word, sizeof word);
  if (n < 0) return (int)n;
  return n == (ptrdiff_t)sizeof word ? 0 : VMP_EFULL; /* never: one message at a time */
}

/* 0; 1 when the consumer failed (it said why); or an error. */
static int trips(contender *c, bsys_chan *fwd, bsys_chan *back) {
  for (size_t i = 0; i < c->trips; i++) {
    uint64_t until = bench_now_ns() + gap_ns(i);
    while (bench_now_ns() < until) {
    }
    uint64_t sent = bench_now_ns();
    uint64_t latency;
    int err = send_message(c, fwd, sent);
    if (!err) err = bsys_chan_recv(back, &latency);
    if (err) return err;
    if (latency == FAILED) return 1;
    if (latency > bench_now_ns() - sent) {
      fprintf(stderr,
              "ring_wake_latency: the consumer's answer is longer than the round trip: "
              "it did not get the message that was sent\n");
      return VMP_EPEER;
    }
    c->latency_ns[i] = (double)latency;
  }
  return 0;
}

/* A bench_batch_fn: one batch is c->trips trips; its figure is their
 * median. 1: the consumer failed (and said why). */
static int batch(void *arg, size_t iters, uint64_t *elapsed) {
  (void)iters;
  contender *c = arg;
  bsys_chan *fwd = NULL, *back = NULL;
  bsys_thread *thread = NULL;
  bsys_child *child = NULL;
  consumer_thread_arg a = {c->ring, NULL, NULL, 0};
  int err = bsys_chan_open(c->between, &back);
  if (!err && c->ring == NULL) err = bsys_chan_open(c->between, &fwd);
  if (!err) {
    a.in = fwd;
    a.out = back;
    if (c->between == BSYS_THREADS)
      err = bsys_thread_start(&thread, consumer_thread, &a);
    else
      err = bsys_child_start(&child, wake_child, c->ring ? vmp_ring_fd(c->ring) : -1, fwd, back);
  }
  if (!err) {
    bsys_pin(PRODUCER_CPU);
    err = trips(c, fwd, back);
    bsys_unpin();
    /* A consumer that failed has stopped already (a child's pipe may then
     * refuse this); one still waiting stops now. */
    (void)send_message(c, fwd, STOP);
    int ended = 0;
    if (thread) {
      bsys_thread_join(thread);
      ended = a.result;
    } else {
      ended = bsys_child_wait(child);
    }
    if (!err && ended) err = 1;
  }
  bsys_chan_close(fwd);
  bsys_chan_close(back);
  if (err) return err;
  *elapsed = (uint64_t)bench_median(c->latency_ns, c->trips);
  return 0;
}

int wake_line(const char *name, int between, int quick) {
  static contender c[2];
  memset(c, 0, sizeof c);
  for (int i = 0; i < 2; i++) {
    c[i].between = between;
    c[i].trips = quick ? QUICK_TRIPS : TRIPS;
  }
  int err = vmp_ring_create(RING_BYTES, 0, &c[0].ring);
  if (err) return bench_error(name, err);
  bench_contender k[2] = {{batch, &c[0], 1, 0}, {batch, &c[1], 1, 0}};
  err = bench_interleave(k, 2, quick ? 3 : 7);
  vmp_ring_close(c[0].ring);
  if (err == 1) fprintf(stderr, "%s: the consumer failed\n", name);
  if (err) return err == 1 ? 1 : bench_error(name, err);
  bench_line_ratio(name, k[0].ns_per_op / 1e3, k[1].ns_per_op / 1e3, bench_round_ratio(0, 1), "us");
  return 0;
}
