/*
 * Records across processes and against a hostile peer (POSIX): producer
 * processes killed with SIGKILL while they hold a reservation, and random
 * scribbles over record headers and the shared indexes between the
 * consumer's calls, which must give valid records or VMP_EPEER, never an
 * access outside the ring. (tests/portable/suite_records.c has the rest.)
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ring_layout.h"
#include "support_criterion.h"
#include "support_stream.h"
#include "vmplace.h"

static vmp__ring_control *control_of(vmp_ring *r) {
  return (vmp__ring_control *)(void *)((char *)vmp_ring_data(r) - vmp_page_size());
}

static int send_record(vmp_ring *r, uint64_t tag, size_t len) {
  vmp_ring_record rec;
  int err = vmp_ring_reserve(r, len, -1, &rec);
  if (err) return err;
  stream_fill(rec.data, len, tag);
  memcpy(rec.data, &tag, len < 8 ? len : 8);
  return vmp_ring_submit(r, &rec);
}

/* A child (sharing the ring by fork) reserves a record, writes half of it,
 * says so, and is killed: the consumer skips the record after the timeout
 * and delivers the one reserved after it. */
Test(records, a_producer_killed_between_reserve_and_submit) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(1, VMP_RING_MULTI_PRODUCER, &r));
  CHECK_OK(vmp_ring_set_abandon_timeout(r, 50000000));
  int ready[2];
  cr_assert_eq(pipe(ready), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    vmp_ring_record rec;
    if (vmp_ring_reserve(r, 1000, -1, &rec) != 0) _exit(2);
    memset(rec.data, 0xab, 500);
    char c = 1;
    if (write(ready[1], &c, 1) != 1) _exit(3);
    for (;;) pause();
  }
  char c;
  cr_assert_eq(read(ready[0], &c, 1), 1);
  kill(pid, SIGKILL);
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  CHECK_OK(send_record(r, 77, 64));
  vmp_ring_record got;
  CHECK_OK(vmp_ring_next(r, 5000000000LL, &got));
  uint64_t tag;
  memcpy(&tag, got.data, 8);
  cr_assert_eq(tag, 77);
  cr_assert_eq(got.len, 64);
  CHECK_OK(vmp_ring_consume(r, &got));
  vmp_ring_stats s;
  CHECK_OK(vmp_ring_get_stats(r, &s));
  cr_assert_eq(s.abandoned, 1);
  close(ready[0]);
  close(ready[1]);
  CHECK_OK(vmp_ring_close(r));
}

/* Two producer processes stream records; one is killed wherever it is (in
 * the middle of a record or between two). The consumer goes on: every
 * record of the survivor arrives, in order and intact, and the victim's
 * records that arrive are a prefix of what it sent. */
Test(records, streaming_producers_one_killed_anywhere) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(64 * 1024, VMP_RING_MULTI_PRODUCER, &r));
  CHECK_OK(vmp_ring_set_abandon_timeout(r, 50000000));
  enum { SURVIVOR_RECORDS = 30000 };
  pid_t pids[2];
  for (int p = 0; p < 2; p++) {
    pids[p] = fork();
    cr_assert_geq(pids[p], 0);
    if (pids[p] == 0) {
      uint64_t seed = (uint64_t)p + 11;
      for (uint64_t i = 0; p == 1 || i < SURVIVOR_RECORDS; i++) {
        size_t len = 8 + (size_t)(stream_rng(&seed) % 500);
        if (send_record(r, ((uint64_t)p << 32) | (i & 0xffffffffu), len) != 0) _exit(2);
      }
      _exit(0);
    }
  }
  uint64_t next[2] = {0, 0}, got_count = 0;
  int killed = 0;
  unsigned char expect[512];
  while (next[0] < SURVIVOR_RECORDS) {
    vmp_ring_record rec;
    int err = vmp_ring_next(r, 5000000000LL, &rec);
    cr_assert_eq(err, 0, "next: %s after %llu records", vmp_err_name(err),
                 (unsigned long long)got_count);
    uint64_t tag;
    cr_assert_geq(rec.len, 8);
    memcpy(&tag, rec.data, 8);
    int p = (int)(tag >> 32);
    cr_assert(p == 0 || p == 1, "producer %d", p);
    cr_assert_eq(tag & 0xffffffffu, next[p], "producer %d: record %llu, expected %llu", p,
                 (unsigned long long)(tag & 0xffffffffu), (unsigned long long)next[p]);
    stream_fill(expect, rec.len, tag);
    cr_assert(memcmp(expect + 8, (unsigned char *)rec.data + 8, rec.len - 8) == 0);
    next[p]++;
    CHECK_OK(vmp_ring_consume(r, &rec));
    if (++got_count == 5000 && !killed) {
      kill(pids[1], SIGKILL);
      killed = 1;
    }
  }
  int status;
  cr_assert_eq(waitpid(pids[0], &status, 0), pids[0]);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  cr_assert_eq(waitpid(pids[1], &status, 0), pids[1]);
  cr_assert(WIFSIGNALED(status));
  vmp_ring_stats s;
  CHECK_OK(vmp_ring_get_stats(r, &s));
  cr_assert_leq(s.abandoned, 1, "abandoned %llu", (unsigned long long)s.abandoned);
  CHECK_OK(vmp_ring_close(r));
}

/* ---- a hostile peer --------------------------------------------------------------- */

static uint64_t scribble(uint64_t *seed, uint64_t old, uint64_t cap) {
  uint64_t r = stream_rng(seed);
  switch (r % 6) {
    case 0:
      return old + 1 + (r >> 8) % 64;
    case 1:
      return old - 1 - (r >> 8) % 64;
    case 2:
      return old + cap;
    case 3:
      return r;
    case 4:
      return (r >> 8) % (2 * cap);
    default:
      return old ^ (1ull << ((r >> 8) % 64));
  }
}

/* On a ring a peer scribbles on: one record produced, when there is room
 * (a failure must be one a broken peer may cause), ... */
static void produce_one(vmp_ring *r, uint64_t *seed) {
  size_t len = (size_t)(stream_rng(seed) % 300);
  vmp_ring_record rec;
  int err = vmp_ring_reserve(r, len, 0, &rec);
  if (err == 0) {
    memset(rec.data, 0x11, len);
    err = vmp_ring_submit(r, &rec);
  }
  cr_assert(
      err == 0 || err == VMP_EFULL || err == VMP_EPEER || err == VMP_EINVAL || err == VMP_ETIMEDOUT,
      "producer: %s", vmp_err_name(err));
}

/* ... and one taken, when there is one: what the consumer is given lies
 * inside the ring and is read whole. Returns 1 when the consumer saw the
 * peer broken (for good). */
static int take_one(vmp_ring *r) {
  unsigned char *data = vmp_ring_data(r);
  size_t cap = vmp_ring_capacity(r);
  vmp_ring_record rec;
  int err = vmp_ring_next(r, 0, &rec);
  if (err == VMP_EPEER) {
    cr_assert_eq(vmp_ring_next(r, 0, &rec), VMP_EPEER, "broken, then not");
    return 1;
  }
  if (err != 0) {
    cr_assert_eq(err, VMP_ETIMEDOUT, "next: %s", vmp_err_name(err));
    return 0;
  }
  unsigned char *p = rec.data;
  cr_assert(p >= data && p + rec.len <= data + 2 * cap, "a record outside the ring");
  volatile unsigned char sink = 0;
  for (size_t i = 0; i < rec.len; i++) sink ^= p[i];
  (void)sink;
  err = vmp_ring_consume(r, &rec);
  cr_assert(err == 0 || err == VMP_EPEER, "consume: %s", vmp_err_name(err));
  return err == VMP_EPEER;
}

/* Between the consumer's calls, the peer changes the header at the tail,
 * a byte of a payload, or head and tail. Every record the consumer is
 * given lies inside the ring; anything else is VMP_EPEER, for good. */
static void scribbled_consumer(unsigned flags) {
  uint64_t seed = 0x5eed + flags;
  int broken = 0;
  for (int round = 0; round < 300; round++) {
    vmp_ring *r;
    CHECK_OK(vmp_ring_create(1, flags, &r));
    vmp__ring_control *ctl = control_of(r);
    unsigned char *data = vmp_ring_data(r);
    size_t cap = vmp_ring_capacity(r);
    int dead = 0;
    for (int step = 0; step < 60 && !dead; step++) {
      produce_one(r, &seed);
      uint64_t what = stream_rng(&seed) % 5;
      size_t at = (size_t)(atomic_load(&ctl->tail) % cap);
      if (what == 0) {
        uint32_t v = (uint32_t)scribble(&seed, 0, cap);
        memcpy(data + at + ((flags & VMP_RING_MULTI_PRODUCER) ? 8 : 0), &v, 4);
      } else if (what == 1) {
        uint64_t v = scribble(&seed, 0, cap);
        memcpy(data + at, &v, 8);
      } else if (what == 2) {
        atomic_store(&ctl->head, scribble(&seed, atomic_load(&ctl->head), cap));
      } else if (what == 3) {
        uint32_t v = (uint32_t)stream_rng(&seed);
        memcpy(data + at + 12, &v, 4);
      }
      dead = take_one(r);
      broken += dead;
    }
    CHECK_OK(vmp_ring_close(r));
  }
  cr_assert_gt(broken, 50, "only %d consumers saw a broken peer", broken);
}

Test(records_hostile, single_producer_headers_scribbled) { scribbled_consumer(0); }
Test(records_hostile, multi_producer_headers_scribbled) {
  scribbled_consumer(VMP_RING_MULTI_PRODUCER);
}

/* A peer process scribbles on the shared indexes and on the data (where
 * record headers lie) all the time, while this process produces and
 * consumes: every record it is given lies inside the ring, and every
 * failure is VMP_EPEER (or a full or empty ring). */
static void scribbling_process(unsigned flags) {
  uint64_t seed = 0xabcdef + flags;
  int broken = 0;
  for (int round = 0; round < 40; round++) {
    vmp_ring *r;
    CHECK_OK(vmp_ring_create(1, flags, &r));
    vmp__ring_control *ctl = control_of(r);
    unsigned char *data = vmp_ring_data(r);
    size_t cap = vmp_ring_capacity(r);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
      uint64_t s = seed + (uint64_t)round;
      for (;;) {
        uint64_t what = stream_rng(&s);
        size_t at = (size_t)((what >> 8) % (cap / 8)) * 8;
        uint64_t v = scribble(&s, 0, cap);
        if (what % 8 == 0)
          atomic_store(&ctl->head, scribble(&s, atomic_load(&ctl->head), cap));
        else if (what % 8 == 1)
          atomic_store(&ctl->tail, scribble(&s, atomic_load(&ctl->tail), cap));
        else
          memcpy(data + at, &v, (what & 1) ? 4 : 8);
      }
    }
    int dead = 0;
    /* Long enough for the child to be scribbling for most of it. */
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long ms = 0; ms < 40 && !dead; clock_gettime(CLOCK_MONOTONIC, &now),
              ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000) {
      produce_one(r, &seed);
      dead = take_one(r);
      broken += dead;
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    CHECK_OK(vmp_ring_close(r));
  }
  cr_assert_geq(broken, 5, "only %d of 40 consumers saw a broken peer", broken);
}

Test(records_hostile, a_scribbling_process_single_producer) { scribbling_process(0); }
Test(records_hostile, a_scribbling_process_multi_producer) {
  scribbling_process(VMP_RING_MULTI_PRODUCER);
}

/* Found by fuzz/fuzz_ring.c: a consumer whose first look at the shared
 * counters found a tail off the record alignment (and a head far enough
 * ahead that no refresh came first) read a record header at that
 * misaligned place, an atomic access UBSan reports, instead of calling
 * the peer broken. Records start at multiples of 8 bytes: VMP_EPEER. */
Test(records_hostile, first_tail_off_the_record_alignment) {
  vmp_ring *r, *consumer;
  CHECK_OK(vmp_ring_create(1, VMP_RING_MULTI_PRODUCER, &r));
  CHECK_OK(vmp_ring_attach(vmp_ring_fd(r), 0, &consumer));
  vmp__ring_control *ctl = control_of(r);
  atomic_store(&ctl->tail, 4);
  atomic_store(&ctl->head, 4 + 64);
  vmp_ring_record got;
  CHECK_RC(vmp_ring_next(consumer, 0, &got), VMP_EPEER);
  CHECK_OK(vmp_ring_close(consumer));
  CHECK_OK(vmp_ring_close(r));
}
