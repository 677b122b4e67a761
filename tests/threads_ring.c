/*
 * A producer and a consumer thread stream bytes through a small ring with
 * every kind of call (in place, copies, blocking and timed waits), then
 * the producer shuts the ring down and the consumer drains it: every byte
 * must arrive once, in order, and the consumer must see VMP_ESHUTDOWN only
 * after the last one. Run once with both threads on one handle and once
 * with the consumer on a second handle attached from the descriptor (two
 * mappings of the same memory). A plain program so that ThreadSanitizer
 * can run it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support_stream.h"
#include "vmplace.h"

#define TOTAL (4u << 20)

typedef struct side {
  vmp_ring *ring;
  uint64_t seed;
  uint64_t bytes;  /* moved so far */
  char error[256]; /* empty while all is well */
} side;

#define FAIL(s, ...)                                     \
  do {                                                   \
    snprintf((s)->error, sizeof(s)->error, __VA_ARGS__); \
    return NULL;                                         \
  } while (0)

static void *produce(void *arg) {
  side *s = arg;
  size_t cap = vmp_ring_capacity(s->ring);
  unsigned char *buf = malloc(cap);
  if (!buf) FAIL(s, "out of memory");
  while (s->bytes < TOTAL) {
    uint64_t r = stream_rng(&s->seed);
    size_t n = 1 + (size_t)((r >> 8) % (r & 1 ? 64 : cap / 2));
    if (n > TOTAL - s->bytes) n = (size_t)(TOTAL - s->bytes);
    /* A timed wait now and then: it may time out, then the next try waits. */
    int rc = vmp_ring_wait_write(s->ring, n, (r & 6) == 0 ? 100000 : -1);
    if (rc == VMP_ETIMEDOUT) continue;
    if (rc) FAIL(s, "wait_write(%zu): %s", n, vmp_err_name(rc));
    if (r & 16) {
      for (size_t i = 0; i < n; i++) buf[i] = stream_byte(s->bytes + i);
      ptrdiff_t got = vmp_ring_write(s->ring, buf, n);
      if (got != (ptrdiff_t)n) FAIL(s, "write(%zu) = %td after the wait", n, got);
    } else {
      void *w;
      size_t len;
      rc = vmp_ring_write_begin(s->ring, VMP_RING_ALL, &w, &len);
      if (rc || len < n) FAIL(s, "write_begin: %s, %zu bytes for %zu", vmp_err_name(rc), len, n);
      unsigned char *p = w;
      for (size_t i = 0; i < n; i++) p[i] = stream_byte(s->bytes + i);
      /* Commit in two parts when it can. */
      size_t first = n / 2;
      if ((rc = vmp_ring_write_commit(s->ring, first)) != 0 ||
          (rc = vmp_ring_write_commit(s->ring, n - first)) != 0)
        FAIL(s, "write_commit: %s", vmp_err_name(rc));
    }
    s->bytes += n;
  }
  free(buf);
  vmp_ring_shutdown(s->ring);
  return NULL;
}

static void *consume(void *arg) {
  side *s = arg;
  size_t cap = vmp_ring_capacity(s->ring);
  unsigned char *buf = malloc(cap);
  if (!buf) FAIL(s, "out of memory");
  for (;;) {
    uint64_t r = stream_rng(&s->seed);
    size_t want = 1 + (size_t)((r >> 8) % (r & 1 ? 64 : cap / 2));
    int rc = vmp_ring_wait_read(s->ring, want, (r & 6) == 0 ? 100000 : -1);
    if (rc == VMP_ETIMEDOUT) continue;
    if (rc == VMP_ESHUTDOWN) break;
    if (rc) FAIL(s, "wait_read(%zu): %s", want, vmp_err_name(rc));
    const unsigned char *p;
    size_t n;
    if (r & 16) {
      ptrdiff_t got = vmp_ring_read(s->ring, buf, want);
      if (got < 0) FAIL(s, "read: %s", vmp_err_name((int)got));
      if (got == 0) FAIL(s, "read gave nothing after the wait");
      p = buf;
      n = (size_t)got;
    } else {
      const void *q;
      rc = vmp_ring_read_begin(s->ring, VMP_RING_ALL, &q, &n);
      if (rc) FAIL(s, "read_begin: %s", vmp_err_name(rc));
      if (n == 0) FAIL(s, "read_begin offered nothing after the wait");
      p = q;
    }
    for (size_t i = 0; i < n; i++)
      if (p[i] != stream_byte(s->bytes + i))
        FAIL(s, "byte %llu is 0x%02x, expected 0x%02x", (unsigned long long)(s->bytes + i), p[i],
             stream_byte(s->bytes + i));
    if (!(r & 16) && (rc = vmp_ring_read_release(s->ring, n)) != 0)
      FAIL(s, "read_release: %s", vmp_err_name(rc));
    s->bytes += n;
  }
  free(buf);
  if (s->bytes != TOTAL)
    FAIL(s, "shut down after %llu bytes of %u", (unsigned long long)s->bytes, TOTAL);
  return NULL;
}

static int run(const char *name, int attached) {
  vmp_ring *ring, *other = NULL;
  int rc = vmp_ring_create(1, 0, &ring); /* one granularity: many wraps and waits */
  if (rc) {
    fprintf(stderr, "%s: vmp_ring_create: %s\n", name, vmp_strerror(rc));
    return 1;
  }
  if (attached && (rc = vmp_ring_attach(vmp_ring_fd(ring), 0, &other)) != 0) {
    fprintf(stderr, "%s: vmp_ring_attach: %s\n", name, vmp_strerror(rc));
    vmp_ring_close(ring);
    return 1;
  }
  side producer = {ring, 0x1234, 0, ""}, consumer = {attached ? other : ring, 0x9876, 0, ""};
  pthread_t a, b;
  if (pthread_create(&a, NULL, produce, &producer) ||
      pthread_create(&b, NULL, consume, &consumer)) {
    fprintf(stderr, "pthread_create failed\n");
    exit(1);
  }
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  int failed = 0;
  if (producer.error[0]) failed = fprintf(stderr, "%s: producer: %s\n", name, producer.error);
  if (consumer.error[0]) failed = fprintf(stderr, "%s: consumer: %s\n", name, consumer.error);
  if (other && (rc = vmp_ring_close(other)) != 0)
    failed = fprintf(stderr, "%s: close: %s\n", name, vmp_strerror(rc));
  if ((rc = vmp_ring_close(ring)) != 0)
    failed = fprintf(stderr, "%s: close: %s\n", name, vmp_strerror(rc));
  if (!failed) printf("threads_ring: %s: %u bytes ok\n", name, TOTAL);
  return failed != 0;
}

/* ---- the sleep handshake ----------------------------------------------------------
 *
 * Ping-pong over two rings, where the answering side now and then takes
 * longer than the waiting side spins, so the waiter goes to sleep and must
 * be woken by the very next publish. A lost wake-up shows as a wait that
 * times out although the byte was sent long before. */

#define ROUNDS 20000
#define LOST_AFTER_NS (2ll * 1000000000)

typedef struct pingpong {
  vmp_ring *ask, *answer;
  char error[256];
} pingpong;

static void nap_us(long us) {
  struct timespec ts = {0, us * 1000};
  nanosleep(&ts, NULL);
}

static void *answer(void *arg) {
  pingpong *pp = arg;
  uint64_t seed = 0x5eed;
  for (int i = 0; i < ROUNDS; i++) {
    unsigned char b;
    int rc = vmp_ring_wait_read(pp->ask, 1, LOST_AFTER_NS);
    if (rc) FAIL(pp, "round %d: wait_read: %s (a lost wake-up?)", i, vmp_err_name(rc));
    if (vmp_ring_read(pp->ask, &b, 1) != 1 || b != (unsigned char)i)
      FAIL(pp, "round %d: bad byte", i);
    /* Longer than the asker spins: it is asleep when the answer comes. */
    if ((stream_rng(&seed) & 7) == 0) nap_us(200);
    if (vmp_ring_write(pp->answer, &b, 1) != 1) FAIL(pp, "round %d: write", i);
  }
  return NULL;
}

static int handshake(const char *name) {
  pingpong pp = {NULL, NULL, ""};
  if (vmp_ring_create(1, 0, &pp.ask) || vmp_ring_create(1, 0, &pp.answer)) {
    fprintf(stderr, "%s: vmp_ring_create failed\n", name);
    return 1;
  }
  pthread_t t;
  if (pthread_create(&t, NULL, answer, &pp)) exit(1);
  uint64_t seed = 0xabc;
  int failed = 0;
  for (int i = 0; i < ROUNDS && !failed; i++) {
    unsigned char b = (unsigned char)i, back;
    if ((stream_rng(&seed) & 7) == 0) nap_us(200); /* and the answerer sleeps too */
    if (vmp_ring_write(pp.ask, &b, 1) != 1) {
      failed = fprintf(stderr, "%s: round %d: write\n", name, i);
      break;
    }
    int rc = vmp_ring_wait_read(pp.answer, 1, LOST_AFTER_NS);
    if (rc)
      failed = fprintf(stderr, "%s: round %d: wait_read: %s (a lost wake-up?)\n", name, i,
                       vmp_err_name(rc));
    else if (vmp_ring_read(pp.answer, &back, 1) != 1 || back != b)
      failed = fprintf(stderr, "%s: round %d: bad answer\n", name, i);
  }
  if (failed) vmp_ring_shutdown(pp.ask);
  pthread_join(t, NULL);
  if (pp.error[0]) failed = fprintf(stderr, "%s: answerer: %s\n", name, pp.error);
  vmp_ring_close(pp.ask);
  vmp_ring_close(pp.answer);
  if (!failed) printf("threads_ring: %s: %d round trips ok\n", name, ROUNDS);
  return failed != 0;
}

int main(void) {
  int failed = run("one handle", 0);
  failed |= run("attached handle", 1);
  failed |= handshake("sleep handshake");
  return failed;
}
