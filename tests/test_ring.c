/*
 * Mirrored ring buffers (vmp_ring_*): capacity rounding, the mirror and
 * its guards, the byte queue against a reference model (one thread, then
 * producer and consumer threads with blocking waits), timeouts, shutdown,
 * two processes sharing a ring over a UNIX socket, a hostile peer
 * scribbling over the control page, attach refusing bad objects, huge
 * pages, fork inheritance, and failure at every system call and
 * allocation of create and attach leaving nothing behind.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ring_layout.h"
#include "support_criterion.h"
#include "support_steps.h"
#include "support_stream.h"
#include "testing.h"
#include "vmplace.h"

/* The control page's layout, which a hostile peer and the attach tests
 * write to directly. */
#define CTL_MAGIC VMP__RING_OFFSET_MAGIC
#define CTL_VERSION VMP__RING_OFFSET_VERSION
#define CTL_CAPACITY VMP__RING_OFFSET_CAPACITY
#define CTL_HEAD VMP__RING_OFFSET_HEAD
#define CTL_TAIL VMP__RING_OFFSET_TAIL

static size_t G(void) { return vmp_granularity(); }

/* ---- sizes ------------------------------------------------------------------------- */

/* A size in [1, max], small ones more often. */
static size_t random_size(uint64_t *s, size_t max) {
  uint64_t r = stream_rng(s);
  size_t limit = (r & 3) == 0 ? max : (r & 3) == 1 ? 64 : (r & 3) == 2 ? 4096 : 1000;
  if (limit > max) limit = max;
  return 1 + (size_t)((r >> 8) % limit);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* ---- creating --------------------------------------------------------------------- */

Test(ring, capacity_is_rounded_to_the_granularity) {
  size_t sizes[] = {1, G() - 1, G(), G() + 1, 3 * G(), 5 * G() - 7};
  size_t want[] = {G(), G(), G(), 2 * G(), 3 * G(), 5 * G()};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    vmp_ring *r;
    CHECK_OK(vmp_ring_create(sizes[i], 0, &r));
    cr_assert_eq(vmp_ring_capacity(r), want[i], "size %zu: capacity %zu, expected %zu", sizes[i],
                 vmp_ring_capacity(r), want[i]);
    cr_assert_geq(vmp_ring_fd(r), 0);
    CHECK_OK(vmp_ring_close(r));
  }
}

Test(ring, argument_errors) {
  vmp_ring *r;
  CHECK_RC(vmp_ring_create(G(), 0, NULL), VMP_EINVAL);
  CHECK_RC(vmp_ring_create(0, 0, &r), VMP_EINVAL);
  CHECK_RC(vmp_ring_create(G(), 0x100, &r), VMP_EINVAL);
  CHECK_RC(vmp_ring_attach(-1, 0, &r), VMP_EINVAL);
  CHECK_RC(vmp_ring_attach(0, 0x100, &r), VMP_EINVAL);
  CHECK_RC(vmp_ring_close(NULL), 0);
  cr_assert_eq(vmp_ring_fd(NULL), -1);
  cr_assert_eq(vmp_ring_capacity(NULL), 0);
  cr_assert_null(vmp_ring_data(NULL));

  CHECK_OK(vmp_ring_create(G(), 0, &r));
  void *w;
  const void *rd;
  size_t len;
  CHECK_RC(vmp_ring_write_begin(r, VMP_RING_ALL, NULL, &len), VMP_EINVAL);
  CHECK_RC(vmp_ring_read_begin(r, VMP_RING_ALL, &rd, NULL), VMP_EINVAL);
  CHECK_RC(vmp_ring_wait_read(r, G() + 1, 0), VMP_EINVAL);
  CHECK_RC(vmp_ring_wait_write(r, G() + 1, 0), VMP_EINVAL);
  cr_assert_eq(vmp_ring_write(r, NULL, 1), VMP_EINVAL);
  CHECK_OK(vmp_ring_write_begin(r, VMP_RING_ALL, &w, &len));
  cr_assert_eq(len, G());
  CHECK_RC(vmp_ring_write_commit(r, G() + 1), VMP_EINVAL);
  CHECK_OK(vmp_ring_write_commit(r, 10));
  CHECK_RC(vmp_ring_write_commit(r, G() - 9), VMP_EINVAL); /* only G - 10 were left */
  CHECK_OK(vmp_ring_read_begin(r, VMP_RING_ALL, &rd, &len));
  cr_assert_eq(len, 10);
  CHECK_RC(vmp_ring_read_release(r, 11), VMP_EINVAL);
  CHECK_OK(vmp_ring_read_release(r, 10));
  CHECK_RC(vmp_ring_read_release(r, 1), VMP_EINVAL);
  CHECK_OK(vmp_ring_close(r));
}

/* ---- the mirror ------------------------------------------------------------------- */

Test(ring, the_second_copy_mirrors_the_first) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(2 * G(), 0, &r));
  size_t cap = vmp_ring_capacity(r);
  unsigned char *d = vmp_ring_data(r);
  stream_fill(d, cap, 7);
  cr_assert_eq(stream_mismatch(d + cap, cap, 7), (size_t)-1, "the mirror does not show the data");
  d[2 * cap - 1] = 0x5a; /* and writes through the mirror land in the data */
  cr_assert_eq(d[cap - 1], 0x5a);

  /* A message across the seam is written and read in one piece. */
  uint64_t pos = 0;
  size_t skip = cap - 100;
  void *w;
  const void *rd;
  size_t len;
  CHECK_OK(vmp_ring_write_begin(r, VMP_RING_ALL, &w, &len));
  CHECK_OK(vmp_ring_write_commit(r, skip));
  CHECK_OK(vmp_ring_read_begin(r, VMP_RING_ALL, &rd, &len));
  CHECK_OK(vmp_ring_read_release(r, skip));
  pos = skip;
  CHECK_OK(vmp_ring_write_begin(r, VMP_RING_ALL, &w, &len));
  cr_assert_eq(len, cap);
  cr_assert_eq((unsigned char *)w, d + skip);
  stream_fill(w, 300, pos);
  CHECK_OK(vmp_ring_write_commit(r, 300));
  CHECK_OK(vmp_ring_read_begin(r, VMP_RING_ALL, &rd, &len));
  cr_assert_eq(len, 300);
  cr_assert_eq(stream_mismatch(rd, 300, pos), (size_t)-1);
  /* The 200 bytes past the seam are at the start of the data too. */
  cr_assert_eq(stream_mismatch(d, 200, pos + 100), (size_t)-1);
  CHECK_OK(vmp_ring_read_release(r, 300));
  CHECK_OK(vmp_ring_close(r));
}

/* The region around the data: [guard][control+data][mirror][guard]. */
Test(ring, the_guard_before_faults, .signal = SIGSEGV) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(G(), 0, &r));
  volatile unsigned char *d = vmp_ring_data(r);
  d[-(ptrdiff_t)G() - 1] = 1;
}

Test(ring, the_guard_after_faults, .signal = SIGSEGV) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(G(), 0, &r));
  volatile unsigned char *d = vmp_ring_data(r);
  d[2 * vmp_ring_capacity(r)] = 1;
}

Test(ring, the_kernel_shows_the_object_twice) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(3 * G(), 0, &r));
  size_t cap = vmp_ring_capacity(r), unit = G();
  char *base = (char *)vmp_ring_data(r) - 2 * unit;
  const vmpt_vma *maps;
  size_t n = vmpt_maps_read(&maps);
  cr_assert_gt(n, 0);
  /* Expected: guard ---p, control and data as one rw-s mapping from object
   * offset 0, the mirror rw-s from the data's offset (the kernel cannot
   * merge the two: the offsets do not follow on), guard ---p. */
  struct {
    size_t at, size;
    const char *perms;
    uint64_t offset;
  } want[] = {{0, unit, "---p", 0},
              {unit, unit + cap, "rw-s", 0},
              {2 * unit + cap, cap, "rw-s", unit},
              {2 * unit + 2 * cap, unit, "---p", 0}};
  uint64_t inode = 0;
  for (size_t k = 0; k < 4; k++) {
    uintptr_t lo = (uintptr_t)base + want[k].at;
    const vmpt_vma *m = NULL;
    for (size_t i = 0; i < n; i++)
      if (maps[i].start <= lo && lo < maps[i].end) m = &maps[i];
    cr_assert(m, "nothing mapped at piece %zu", k);
    cr_assert_str_eq(m->perms, want[k].perms, "piece %zu", k);
    if (want[k].perms[3] == 's') {
      cr_assert_eq(m->start, lo, "piece %zu does not start a mapping", k);
      cr_assert_eq(m->end, lo + want[k].size, "piece %zu", k);
      cr_assert_eq(m->offset, want[k].offset, "piece %zu at object offset %llu", k,
                   (unsigned long long)m->offset);
      if (inode) cr_assert_eq(m->inode, inode, "piece %zu maps another object", k);
      inode = m->inode;
    }
  }
  CHECK_OK(vmp_ring_close(r));
}

/* ---- the queue against a model ------------------------------------------------------ */

Test(ring, one_thread_against_a_model) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(4 * G(), 0, &r));
  size_t cap = vmp_ring_capacity(r);
  uint64_t written = 0, read = 0, seed = 0x1234567;
  unsigned char *buf = malloc(cap);
  cr_assert(buf);
  while (read < (6u << 20)) {
    uint64_t choice = stream_rng(&seed) % 4;
    size_t used = (size_t)(written - read);
    if (choice == 0) { /* write in place */
      void *w;
      size_t len;
      CHECK_OK(vmp_ring_write_begin(r, VMP_RING_ALL, &w, &len));
      cr_assert_eq(len, cap - used, "write_begin offers %zu, the model says %zu", len, cap - used);
      size_t n = len ? random_size(&seed, len) : 0;
      stream_fill(w, n, written);
      CHECK_OK(vmp_ring_write_commit(r, n));
      written += n;
    } else if (choice == 1) { /* read in place */
      const void *p;
      size_t len;
      CHECK_OK(vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len));
      cr_assert_eq(len, used, "read_begin offers %zu, the model says %zu", len, used);
      size_t n = len ? random_size(&seed, len) : 0;
      size_t bad = stream_mismatch(p, n, read);
      cr_assert_eq(bad, (size_t)-1, "byte %llu of the stream is wrong",
                   (unsigned long long)(read + bad));
      CHECK_OK(vmp_ring_read_release(r, n));
      read += n;
    } else if (choice == 2) { /* copy in */
      size_t n = random_size(&seed, cap);
      stream_fill(buf, n, written);
      ptrdiff_t got = vmp_ring_write(r, buf, n);
      size_t expect = n < cap - used ? n : cap - used;
      cr_assert_eq(got, (ptrdiff_t)expect, "write took %td, the model says %zu", got, expect);
      written += expect;
    } else { /* copy out */
      size_t n = random_size(&seed, cap);
      ptrdiff_t got = vmp_ring_read(r, buf, n);
      size_t expect = n < used ? n : used;
      cr_assert_eq(got, (ptrdiff_t)expect, "read gave %td, the model says %zu", got, expect);
      size_t bad = stream_mismatch(buf, expect, read);
      cr_assert_eq(bad, (size_t)-1, "byte %llu of the stream is wrong",
                   (unsigned long long)(read + bad));
      read += expect;
    }
  }
  free(buf);
  CHECK_OK(vmp_ring_close(r));
}

/* Millions of small messages through a one-unit ring, so that it wraps
 * constantly: each is written whole (one memcpy through the mirror) when it
 * fits and read back in pieces of random sizes, every byte checked against
 * where it sits in the stream. */
Test(ring, two_million_messages_wrap_byte_for_byte) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(1, 0, &r));
  size_t cap = vmp_ring_capacity(r);
  unsigned char msg[256], out[512];
  uint64_t written = 0, read = 0, seed = 0xfeed, messages = 0;
  while (messages < 2000000) {
    size_t len = 1 + (size_t)(stream_rng(&seed) % 255);
    if (cap - (size_t)(written - read) >= len) {
      for (size_t i = 0; i < len; i++) msg[i] = stream_byte(written + i);
      cr_assert_eq(vmp_ring_write(r, msg, len), (ptrdiff_t)len);
      written += len;
      messages++;
    }
    if (stream_rng(&seed) % 2 || cap - (size_t)(written - read) < 256) {
      size_t want = 1 + (size_t)(stream_rng(&seed) % sizeof out);
      ptrdiff_t got = vmp_ring_read(r, out, want);
      size_t there = (size_t)(written - read);
      cr_assert_eq(got, (ptrdiff_t)(want < there ? want : there));
      for (ptrdiff_t i = 0; i < got; i++)
        if (out[i] != stream_byte(read + (uint64_t)i))
          cr_assert_fail("byte %llu is wrong", (unsigned long long)(read + (uint64_t)i));
      read += (uint64_t)got;
    }
  }
  cr_assert_gt(written, 40 * (uint64_t)cap, "the ring wrapped too few times");
  CHECK_OK(vmp_ring_close(r));
}

/* Both sides ask for at most half the ring at a time: a producer waiting
 * for w bytes of space and a consumer waiting for r bytes of data would
 * otherwise wait for each other whenever r > used > capacity - w. */
typedef struct pair {
  vmp_ring *ring;
  uint64_t total;
  uint64_t seed;
  int copies; /* use vmp_ring_write/read rather than begin/commit */
  int err;
  uint64_t bad_at; /* consumer: first wrong byte, or UINT64_MAX */
} pair;

static void *producer_main(void *arg) {
  pair *p = arg;
  uint64_t written = 0;
  unsigned char *buf = malloc(vmp_ring_capacity(p->ring));
  while (written < p->total && !p->err) {
    size_t want = random_size(&p->seed, vmp_ring_capacity(p->ring) / 2);
    if (want > p->total - written) want = (size_t)(p->total - written);
    int err = vmp_ring_wait_write(p->ring, want, -1);
    if (err) {
      p->err = err;
      break;
    }
    if (p->copies) {
      stream_fill(buf, want, written);
      ptrdiff_t got = vmp_ring_write(p->ring, buf, want);
      if (got != (ptrdiff_t)want) p->err = got < 0 ? (int)got : -1;
    } else {
      void *w;
      size_t len;
      if ((p->err = vmp_ring_write_begin(p->ring, VMP_RING_ALL, &w, &len)) != 0) break;
      if (len < want) {
        p->err = -2; /* the wait promised this much */
        break;
      }
      stream_fill(w, want, written);
      p->err = vmp_ring_write_commit(p->ring, want);
    }
    written += want;
  }
  free(buf);
  return NULL;
}

static void *consumer_main(void *arg) {
  pair *p = arg;
  uint64_t read = 0;
  unsigned char *buf = malloc(vmp_ring_capacity(p->ring));
  p->bad_at = UINT64_MAX;
  while (read < p->total && !p->err) {
    size_t want = random_size(&p->seed, vmp_ring_capacity(p->ring) / 2);
    if (want > p->total - read) want = (size_t)(p->total - read);
    int err = vmp_ring_wait_read(p->ring, want, -1);
    if (err) {
      p->err = err;
      break;
    }
    const unsigned char *at;
    if (p->copies) {
      ptrdiff_t got = vmp_ring_read(p->ring, buf, want);
      if (got != (ptrdiff_t)want) p->err = got < 0 ? (int)got : -1;
      at = buf;
    } else {
      const void *q;
      size_t len;
      if ((p->err = vmp_ring_read_begin(p->ring, VMP_RING_ALL, &q, &len)) != 0) break;
      if (len < want) p->err = -2;
      at = q;
    }
    if (p->err) break;
    size_t bad = stream_mismatch(at, want, read);
    if (bad != (size_t)-1) {
      p->bad_at = read + bad;
      break;
    }
    if (!p->copies) p->err = vmp_ring_read_release(p->ring, want);
    read += want;
  }
  free(buf);
  return NULL;
}

static void two_threads(int copies) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(4 * G(), 0, &r));
  pair prod = {r, 16u << 20, 0xabcdef, copies, 0, 0};
  pair cons = {r, 16u << 20, 0x13579, copies, 0, 0};
  pthread_t a, b;
  cr_assert_eq(pthread_create(&a, NULL, producer_main, &prod), 0);
  cr_assert_eq(pthread_create(&b, NULL, consumer_main, &cons), 0);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  cr_assert_eq(prod.err, 0, "producer: %s", vmp_err_name(prod.err));
  cr_assert_eq(cons.bad_at, UINT64_MAX, "byte %llu of the stream is wrong",
               (unsigned long long)cons.bad_at);
  cr_assert_eq(cons.err, 0, "consumer: %s", vmp_err_name(cons.err));
  CHECK_OK(vmp_ring_close(r));
}

Test(ring, two_threads_in_place_with_waits) { two_threads(0); }
Test(ring, two_threads_copying_with_waits) { two_threads(1); }

/* ---- waiting, shutdown -------------------------------------------------------------- */

Test(ring, waits_time_out) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(G(), 0, &r));
  size_t cap = vmp_ring_capacity(r);
  int64_t t0 = now_ns();
  CHECK_RC(vmp_ring_wait_read(r, 1, 0), VMP_ETIMEDOUT);
  CHECK_OK(vmp_ring_wait_read(r, 0, 0));
  CHECK_OK(vmp_ring_wait_write(r, cap, 0));
  cr_assert_lt(now_ns() - t0, 50000000, "a timeout of 0 only checks");
  t0 = now_ns();
  CHECK_RC(vmp_ring_wait_read(r, 1, 30000000), VMP_ETIMEDOUT);
  int64_t spent = now_ns() - t0;
  cr_assert_geq(spent, 30000000, "gave up after %lld ns", (long long)spent);
  cr_assert_lt(spent, 1000000000, "slept %lld ns", (long long)spent);

  cr_assert_eq(vmp_ring_write(r, "abc", 3), 3);
  CHECK_OK(vmp_ring_wait_read(r, 3, 0));
  CHECK_RC(vmp_ring_wait_read(r, 4, 0), VMP_ETIMEDOUT);
  CHECK_RC(vmp_ring_wait_write(r, cap, 0), VMP_ETIMEDOUT);
  CHECK_OK(vmp_ring_wait_write(r, cap - 3, 0));
  t0 = now_ns();
  CHECK_RC(vmp_ring_wait_write(r, cap, 20000000), VMP_ETIMEDOUT);
  cr_assert_geq(now_ns() - t0, 20000000);
  CHECK_OK(vmp_ring_close(r));
}

typedef struct waiter {
  vmp_ring *ring;
  int reader;
  size_t want;
  int result;
} waiter;

static void *waiter_main(void *arg) {
  waiter *w = arg;
  w->result = w->reader ? vmp_ring_wait_read(w->ring, w->want, -1)
                        : vmp_ring_wait_write(w->ring, w->want, -1);
  return NULL;
}

Test(ring, a_write_wakes_a_blocked_reader) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(G(), 0, &r));
  waiter w = {r, 1, 5, 1};
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, waiter_main, &w), 0);
  sleep_ms(30);
  cr_assert_eq(vmp_ring_write(r, "ab", 2), 2);
  sleep_ms(30);
  cr_assert_eq(vmp_ring_write(r, "cde", 3), 3);
  pthread_join(t, NULL);
  CHECK_RC(w.result, 0);
  CHECK_OK(vmp_ring_close(r));
}

/* A producer waiting on a full ring spins a while for more room than it
 * asked for: it still goes on with what it asked for, whether that came
 * while it spun or after it fell asleep. */
Test(ring, a_blocked_writer_goes_on_when_just_what_it_wants_is_freed) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(G(), 0, &r));
  size_t cap = vmp_ring_capacity(r);
  unsigned char *fill = calloc(1, cap), got[5];
  cr_assert_eq(vmp_ring_write(r, fill, cap), (ptrdiff_t)cap);
  for (int sleep_first = 0; sleep_first < 2; sleep_first++) {
    waiter w = {r, 0, 5, 1};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, waiter_main, &w), 0);
    if (sleep_first) sleep_ms(30);
    cr_assert_eq(vmp_ring_read(r, got, 5), 5);
    pthread_join(t, NULL);
    CHECK_RC(w.result, 0);
    cr_assert_eq(vmp_ring_write(r, fill, 5), 5);
  }
  free(fill);
  CHECK_OK(vmp_ring_close(r));
}

Test(ring, shutdown_wakes_a_blocked_reader_and_writer) {
  vmp_ring *reader_ring, *writer_ring;
  CHECK_OK(vmp_ring_create(G(), 0, &reader_ring));
  CHECK_OK(vmp_ring_create(G(), 0, &writer_ring));
  size_t cap = vmp_ring_capacity(writer_ring);
  unsigned char *fill = calloc(1, cap);
  cr_assert_eq(vmp_ring_write(writer_ring, fill, cap), (ptrdiff_t)cap);
  free(fill);
  waiter rw = {reader_ring, 1, 1, 1}, ww = {writer_ring, 0, 1, 1};
  pthread_t a, b;
  cr_assert_eq(pthread_create(&a, NULL, waiter_main, &rw), 0);
  cr_assert_eq(pthread_create(&b, NULL, waiter_main, &ww), 0);
  sleep_ms(50);
  cr_assert_eq(rw.result, 1, "the reader did not block");
  cr_assert_eq(ww.result, 1, "the writer did not block");
  vmp_ring_shutdown(reader_ring);
  vmp_ring_shutdown(writer_ring);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  CHECK_RC(rw.result, VMP_ESHUTDOWN);
  CHECK_RC(ww.result, VMP_ESHUTDOWN);
  CHECK_OK(vmp_ring_close(reader_ring));
  CHECK_OK(vmp_ring_close(writer_ring));
}

/* A side that sees the ring shut down may close it at once, while the
 * vmp_ring_shutdown that did so is still waking sleepers. Here the first
 * wake-up system call of the shutdown is held up long enough for the
 * closer to close: the close must wait for the shutdown to finish, so the
 * control page is still mapped when the held call looks at it. */
typedef long (*futex_fn)(_Atomic uint32_t *, int, uint32_t, const struct timespec *);
static pthread_t shutting_down_thread;
static _Atomic int wake_held, closed_while_held, ring_closed;

static long held_futex(_Atomic uint32_t *word, int op, uint32_t value, const struct timespec *t) {
  futex_fn system_futex = (futex_fn)vmp__testing_syscall_default("futex");
  if (pthread_equal(pthread_self(), shutting_down_thread) && !atomic_exchange(&wake_held, 1)) {
    sleep_ms(100);
    closed_while_held = atomic_load(&ring_closed);
    (void)atomic_load(word); /* faults if the close went ahead */
  }
  return system_futex(word, op, value, t);
}

static void *close_on_shutdown(void *arg) {
  vmp_ring *r = arg;
  /* Polling, not sleeping: a sleeper would wait for the held wake-up. */
  int rc;
  while ((rc = vmp_ring_wait_read(r, 1, 0)) == VMP_ETIMEDOUT) sleep_ms(1);
  if (rc == VMP_ESHUTDOWN && vmp_ring_close(r) == 0) atomic_store(&ring_closed, 1);
  return NULL;
}

Test(ring, a_side_may_close_as_soon_as_it_sees_the_shutdown) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(G(), 0, &r));
  if (vmp__testing_syscall_set("futex", (vmp__syscall_fn)held_futex) != 0) {
    CHECK_OK(vmp_ring_close(r));
    cr_skip_test("this backend's wake-up is no system call, so it cannot be held up");
  }
  shutting_down_thread = pthread_self();
  pthread_t closer;
  cr_assert_eq(pthread_create(&closer, NULL, close_on_shutdown, r), 0);
  sleep_ms(20);
  vmp_ring_shutdown(r);
  pthread_join(closer, NULL);
  vmp__testing_syscall_set("futex", NULL);
  cr_assert(wake_held, "the shutdown made no wake-up call");
  cr_assert(ring_closed, "the closer did not see the shutdown, or its close failed");
  cr_assert(!closed_while_held, "the close went ahead of a shutdown still under way");
}

Test(ring, reading_drains_what_is_left_after_shutdown) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(G(), 0, &r));
  cr_assert_eq(vmp_ring_write(r, "hello", 5), 5);
  vmp_ring_shutdown(r);
  void *w;
  size_t len;
  CHECK_RC(vmp_ring_write_begin(r, VMP_RING_ALL, &w, &len), VMP_ESHUTDOWN);
  cr_assert_eq(vmp_ring_write(r, "x", 1), VMP_ESHUTDOWN);
  CHECK_RC(vmp_ring_wait_write(r, 1, 0), VMP_ESHUTDOWN);
  /* Five bytes are all there will ever be: waiting for more returns. */
  CHECK_OK(vmp_ring_wait_read(r, 6, -1));
  char buf[8] = {0};
  cr_assert_eq(vmp_ring_read(r, buf, 3), 3);
  cr_assert_eq(memcmp(buf, "hel", 3), 0);
  const void *p;
  CHECK_OK(vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len));
  cr_assert_eq(len, 2);
  cr_assert_eq(memcmp(p, "lo", 2), 0);
  CHECK_OK(vmp_ring_read_release(r, 2));
  CHECK_RC(vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len), VMP_ESHUTDOWN);
  cr_assert_eq(vmp_ring_read(r, buf, 1), VMP_ESHUTDOWN);
  CHECK_RC(vmp_ring_wait_read(r, 1, -1), VMP_ESHUTDOWN);
  CHECK_OK(vmp_ring_close(r));
}

/* ---- two processes -------------------------------------------------------------------- */

static int send_fd(int sock, int fd) {
  char byte = 'r';
  struct iovec iov = {&byte, 1};
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.space;
  msg.msg_controllen = sizeof u.space;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int receive_fd(int sock) {
  char byte;
  struct iovec iov = {&byte, 1};
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(sizeof(int))];
  } u;
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.space;
  msg.msg_controllen = sizeof u.space;
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

#define PROCESS_BYTES (6u << 20)

/* The child: attach the ring it is sent and produce the stream, then a
 * checksum of it as the last 8 bytes. Exit status 0 when all went well. */
static int child_produce(int sock) {
  int fd = receive_fd(sock);
  if (fd < 0) return 10;
  vmp_ring *r;
  if (vmp_ring_attach(fd, 0, &r) != 0) return 11;
  close(fd);
  uint64_t seed = 99, sum = 0, written = 0;
  while (written < PROCESS_BYTES) {
    size_t n = random_size(&seed, vmp_ring_capacity(r));
    if (n > PROCESS_BYTES - written) n = (size_t)(PROCESS_BYTES - written);
    if (vmp_ring_wait_write(r, n, 10ll * 1000000000) != 0) return 12;
    void *w;
    size_t len;
    if (vmp_ring_write_begin(r, VMP_RING_ALL, &w, &len) != 0 || len < n) return 13;
    stream_fill(w, n, written);
    for (size_t i = 0; i < n; i++) sum = sum * 31 + ((unsigned char *)w)[i];
    if (vmp_ring_write_commit(r, n) != 0) return 14;
    written += n;
  }
  if (vmp_ring_wait_write(r, sizeof sum, 10ll * 1000000000) != 0) return 15;
  if (vmp_ring_write(r, &sum, sizeof sum) != (ptrdiff_t)sizeof sum) return 16;
  vmp_ring_shutdown(r);
  return vmp_ring_close(r) == 0 ? 0 : 17;
}

Test(ring, two_processes_over_a_socket) {
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    close(sv[0]);
    _exit(child_produce(sv[1]));
  }
  close(sv[1]);
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(8 * G(), 0, &r));
  cr_assert_eq(send_fd(sv[0], (int)vmp_ring_fd(r)), 0);
  close(sv[0]);
  uint64_t read = 0, sum = 0;
  while (read < PROCESS_BYTES) {
    CHECK_OK(vmp_ring_wait_read(r, 1, 10ll * 1000000000));
    const void *p;
    size_t len;
    CHECK_OK(vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len));
    if (len > PROCESS_BYTES - read) len = (size_t)(PROCESS_BYTES - read);
    size_t bad = stream_mismatch(p, len, read);
    cr_assert_eq(bad, (size_t)-1, "byte %llu from the other process is wrong",
                 (unsigned long long)(read + bad));
    for (size_t i = 0; i < len; i++) sum = sum * 31 + ((const unsigned char *)p)[i];
    CHECK_OK(vmp_ring_read_release(r, len));
    read += len;
  }
  uint64_t theirs;
  CHECK_OK(vmp_ring_wait_read(r, sizeof theirs, 10ll * 1000000000));
  cr_assert_eq(vmp_ring_read(r, &theirs, sizeof theirs), (ptrdiff_t)sizeof theirs);
  cr_assert_eq(theirs, sum, "checksums differ");
  const void *p;
  size_t len;
  CHECK_RC(vmp_ring_wait_read(r, 1, 10ll * 1000000000), VMP_ESHUTDOWN);
  CHECK_RC(vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len), VMP_ESHUTDOWN);
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %d)", status);
  CHECK_OK(vmp_ring_close(r));
}

/* ---- a hostile peer ------------------------------------------------------------------ */

/* The control page as a peer sees it, mapped straight from the fd. */
static unsigned char *map_control(vmp_ring *r, void **whole, size_t *whole_size) {
  size_t cap = vmp_ring_capacity(r);
  *whole_size = cap + G();
  *whole = mmap(NULL, *whole_size, PROT_READ | PROT_WRITE, MAP_SHARED, (int)vmp_ring_fd(r), 0);
  cr_assert_neq(*whole, MAP_FAILED);
  return (unsigned char *)*whole; /* the control unit comes first */
}

static void poke64(unsigned char *ctl, size_t at, uint64_t v) {
  __atomic_store_n((uint64_t *)(void *)(ctl + at), v, __ATOMIC_RELEASE);
}

static uint64_t peek64(unsigned char *ctl, size_t at) {
  return __atomic_load_n((uint64_t *)(void *)(ctl + at), __ATOMIC_ACQUIRE);
}

/* A value the peer might write: anything, or near the real one. */
static uint64_t scribble(uint64_t *seed, uint64_t near, size_t cap) {
  uint64_t r = stream_rng(seed);
  switch (r % 6) {
    case 0:
      return stream_rng(seed);
    case 1:
      return near + 1 + (r >> 8) % 4;
    case 2:
      return near - 1 - (r >> 8) % 4;
    case 3:
      return near + cap + (r >> 8) % 3;
    case 4:
      return near - cap - (r >> 8) % 3;
    default:
      return near + (r >> 8) % (cap + 1);
  }
}

/* Each call may succeed or report the peer, never touch anything outside
 * the data views; once a side reported the peer it keeps doing so. */
static void hammer(vmp_ring *r, int *producer_broken, int *consumer_broken) {
  size_t cap = vmp_ring_capacity(r);
  unsigned char *lo = vmp_ring_data(r), *hi = lo + 2 * cap;
  unsigned char buf[256];
  void *w;
  const void *p;
  size_t len;
  int rc = vmp_ring_write_begin(r, VMP_RING_ALL, &w, &len);
  cr_assert(rc == 0 || rc == VMP_EPEER, "write_begin: %s", vmp_err_name(rc));
  if (*producer_broken) cr_assert_eq(rc, VMP_EPEER, "the producer forgot the peer was broken");
  if (rc == 0) {
    cr_assert((unsigned char *)w >= lo && (unsigned char *)w + len <= hi && len <= cap,
              "write_begin offered %zu bytes at offset %td", len, (unsigned char *)w - lo);
    memset(w, 0xee, len);
    CHECK_OK(vmp_ring_write_commit(r, len / 2));
  }
  *producer_broken |= rc == VMP_EPEER;
  rc = vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len);
  cr_assert(rc == 0 || rc == VMP_EPEER, "read_begin: %s", vmp_err_name(rc));
  if (*consumer_broken) cr_assert_eq(rc, VMP_EPEER, "the consumer forgot the peer was broken");
  if (rc == 0) {
    const unsigned char *q = p;
    cr_assert(q >= lo && q + len <= hi && len <= cap, "read_begin offered %zu bytes at %td", len,
              q - lo);
    unsigned sum = 0;
    for (size_t i = 0; i < len; i++) sum += q[i];
    (void)sum;
    CHECK_OK(vmp_ring_read_release(r, len / 3));
  }
  *consumer_broken |= rc == VMP_EPEER;
  ptrdiff_t n = vmp_ring_write(r, buf, sizeof buf);
  cr_assert(n >= 0 || n == VMP_EPEER, "write: %td", n);
  n = vmp_ring_read(r, buf, sizeof buf);
  cr_assert(n >= 0 || n == VMP_EPEER, "read: %td", n);
  rc = vmp_ring_wait_read(r, cap, 0);
  cr_assert(rc == 0 || rc == VMP_ETIMEDOUT || rc == VMP_EPEER, "wait_read: %s", vmp_err_name(rc));
  rc = vmp_ring_wait_write(r, cap, 0);
  cr_assert(rc == 0 || rc == VMP_ETIMEDOUT || rc == VMP_EPEER, "wait_write: %s", vmp_err_name(rc));
}

Test(ring_hostile, impossible_indexes_are_reported) {
  vmp_ring *r;
  void *whole;
  size_t whole_size;
  const void *p;
  void *w;
  size_t len;
  /* The tail passes the head: the producer sees an impossible consumer. */
  CHECK_OK(vmp_ring_create(G(), 0, &r));
  unsigned char *ctl = map_control(r, &whole, &whole_size);
  cr_assert_eq(memcmp(ctl + CTL_MAGIC, VMP__RING_MAGIC, 8), 0, "the control page moved");
  cr_assert_eq(vmp_ring_write(r, "abcd", 4), 4);
  poke64(ctl, CTL_TAIL, 5);
  CHECK_RC(vmp_ring_write_begin(r, VMP_RING_ALL, &w, &len), VMP_EPEER);
  poke64(ctl, CTL_TAIL, 0); /* and it stays broken, though it had room before */
  CHECK_RC(vmp_ring_write_begin(r, VMP_RING_ALL, &w, &len), VMP_EPEER);
  CHECK_RC(vmp_ring_write_begin(r, 1, &w, &len), VMP_EPEER);
  cr_assert_eq(vmp_ring_write(r, "x", 1), VMP_EPEER);
  CHECK_RC(vmp_ring_write_commit(r, 0), VMP_EPEER);
  CHECK_OK(vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len)); /* the consumer is fine */
  cr_assert_eq(len, 4);
  munmap(whole, whole_size);
  CHECK_OK(vmp_ring_close(r));

  /* The head runs more than the capacity ahead, then goes back. */
  CHECK_OK(vmp_ring_create(G(), 0, &r));
  ctl = map_control(r, &whole, &whole_size);
  poke64(ctl, CTL_HEAD, G() + 1);
  CHECK_RC(vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len), VMP_EPEER);
  munmap(whole, whole_size);
  CHECK_OK(vmp_ring_close(r));

  CHECK_OK(vmp_ring_create(G(), 0, &r));
  ctl = map_control(r, &whole, &whole_size);
  cr_assert_eq(vmp_ring_write(r, "abcd", 4), 4);
  CHECK_OK(vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len));
  poke64(ctl, CTL_HEAD, 2);
  CHECK_RC(vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len), VMP_EPEER);
  cr_assert_eq(vmp_ring_read(r, &len, 1), VMP_EPEER);
  CHECK_RC(vmp_ring_wait_read(r, 1, -1), VMP_EPEER);
  munmap(whole, whole_size);
  CHECK_OK(vmp_ring_close(r));
}

Test(ring_hostile, random_scribbles_never_fault) {
  uint64_t seed = 0xfeedface;
  int broken_producers = 0, broken_consumers = 0;
  for (int round = 0; round < 200; round++) {
    vmp_ring *r;
    CHECK_OK(vmp_ring_create(G(), 0, &r));
    void *whole;
    size_t whole_size, cap = vmp_ring_capacity(r);
    unsigned char *ctl = map_control(r, &whole, &whole_size);
    int pb = 0, cb = 0;
    for (int step = 0; step < 40; step++) {
      uint64_t which = stream_rng(&seed) % 4;
      if (which == 0) poke64(ctl, CTL_HEAD, scribble(&seed, peek64(ctl, CTL_HEAD), cap));
      if (which == 1) poke64(ctl, CTL_TAIL, scribble(&seed, peek64(ctl, CTL_TAIL), cap));
      /* The header is read once, at attach: changing it later does nothing. */
      if (which == 2) poke64(ctl, CTL_CAPACITY, stream_rng(&seed));
      hammer(r, &pb, &cb);
    }
    broken_producers += pb;
    broken_consumers += cb;
    munmap(whole, whole_size);
    CHECK_OK(vmp_ring_close(r));
  }
  /* The scribbles were noticed (the test can fail). */
  cr_assert_gt(broken_producers, 50, "only %d producers saw a broken peer", broken_producers);
  cr_assert_gt(broken_consumers, 50, "only %d consumers saw a broken peer", broken_consumers);
}

/* An attached side starts from the indexes it finds: scribbled ones are
 * refused at its first call. */
Test(ring_hostile, an_attached_side_checks_what_it_finds) {
  vmp_ring *r, *a;
  CHECK_OK(vmp_ring_create(G(), 0, &r));
  void *whole;
  size_t whole_size;
  unsigned char *ctl = map_control(r, &whole, &whole_size);
  poke64(ctl, CTL_HEAD, 10);
  poke64(ctl, CTL_TAIL, 11);
  CHECK_OK(vmp_ring_attach(vmp_ring_fd(r), 0, &a));
  void *w;
  const void *p;
  size_t len;
  CHECK_RC(vmp_ring_write_begin(a, VMP_RING_ALL, &w, &len), VMP_EPEER);
  CHECK_RC(vmp_ring_read_begin(a, VMP_RING_ALL, &p, &len), VMP_EPEER);
  CHECK_OK(vmp_ring_close(a));
  poke64(ctl, CTL_HEAD, 100 + G() + 1);
  poke64(ctl, CTL_TAIL, 100);
  CHECK_OK(vmp_ring_attach(vmp_ring_fd(r), 0, &a));
  CHECK_RC(vmp_ring_read_begin(a, VMP_RING_ALL, &p, &len), VMP_EPEER);
  CHECK_OK(vmp_ring_close(a));
  /* Counters at or past the modulus are impossible... */
  uint64_t m = vmp__ring_modulus(G());
  poke64(ctl, CTL_HEAD, m + 1);
  poke64(ctl, CTL_TAIL, m);
  CHECK_OK(vmp_ring_attach(vmp_ring_fd(r), 0, &a));
  CHECK_RC(vmp_ring_read_begin(a, VMP_RING_ALL, &p, &len), VMP_EPEER);
  CHECK_RC(vmp_ring_write_begin(a, VMP_RING_ALL, &w, &len), VMP_EPEER);
  CHECK_OK(vmp_ring_close(a));
  /* ...and possible ones just below it are taken as they are. */
  poke64(ctl, CTL_HEAD, m - 3);
  poke64(ctl, CTL_TAIL, m - 5);
  CHECK_OK(vmp_ring_attach(vmp_ring_fd(r), 0, &a));
  CHECK_OK(vmp_ring_read_begin(a, VMP_RING_ALL, &p, &len));
  cr_assert_eq(len, 2);
  CHECK_OK(vmp_ring_write_begin(a, VMP_RING_ALL, &w, &len));
  cr_assert_eq(len, G() - 2);
  memcpy(w, "0123456789", 10); /* wraps the counters past the modulus */
  CHECK_OK(vmp_ring_write_commit(a, 10));
  CHECK_OK(vmp_ring_read_release(a, 2));
  CHECK_OK(vmp_ring_read_begin(a, VMP_RING_ALL, &p, &len));
  cr_assert_eq(len, 10);
  cr_assert_eq(memcmp(p, "0123456789", 10), 0);
  CHECK_OK(vmp_ring_close(a));
  munmap(whole, whole_size);
  CHECK_OK(vmp_ring_close(r));
}

/* ---- attach ------------------------------------------------------------------------ */

Test(ring_attach, a_ring_attached_from_its_fd_shares_the_bytes) {
  vmp_ring *r, *a;
  CHECK_OK(vmp_ring_create(2 * G(), 0, &r));
  size_t fds = vmpt_fd_count();
  CHECK_OK(vmp_ring_attach(vmp_ring_fd(r), 0, &a));
  cr_assert_eq(vmpt_fd_count(), fds + 1, "attach keeps one descriptor of its own");
  cr_assert_eq(vmp_ring_capacity(a), vmp_ring_capacity(r));
  cr_assert_neq(vmp_ring_data(a), vmp_ring_data(r));
  cr_assert_eq(vmp_ring_write(r, "shared", 6), 6);
  char buf[8] = {0};
  cr_assert_eq(vmp_ring_read(a, buf, sizeof buf), 6);
  cr_assert_str_eq(buf, "shared");
  /* The producer (r) sees the attached consumer's release. */
  void *w;
  size_t len;
  CHECK_OK(vmp_ring_write_begin(r, VMP_RING_ALL, &w, &len));
  cr_assert_eq(len, vmp_ring_capacity(r));
  CHECK_OK(vmp_ring_close(a));
  cr_assert_eq(vmpt_fd_count(), fds);
  cr_assert_eq(fcntl((int)vmp_ring_fd(r), F_GETFD), FD_CLOEXEC, "the caller's fd was closed");
  CHECK_OK(vmp_ring_close(r));
}

/* A memfd laid out like a ring of capacity `cap` (header copied from a real
 * ring), of `size` bytes, sealed against size changes or not. */
static int fake_ring(size_t cap, uint64_t size, int seal, const char *magic, uint32_t version,
                     uint64_t header_cap) {
  int fd = memfd_create("fake-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  cr_assert_geq(fd, 0);
  cr_assert_eq(ftruncate(fd, (off_t)size), 0);
  unsigned char header[24] = {0};
  memcpy(header + CTL_MAGIC, magic, 8);
  memcpy(header + CTL_VERSION, &version, 4);
  memcpy(header + CTL_CAPACITY, &header_cap, 8);
  if (size >= sizeof header)
    cr_assert_eq(pwrite(fd, header, sizeof header, 0), (ssize_t)sizeof header);
  if (seal)
    cr_assert_eq(fcntl(fd, F_ADD_SEALS, seal == 2 ? F_SEAL_SHRINK : F_SEAL_SHRINK | F_SEAL_GROW),
                 0);
  (void)cap;
  return fd;
}

/* attach(fd) fails with `want` and leaves no descriptor or mapping. */
static void refused(int fd, int want, const char *what) {
  size_t fds = vmpt_fd_count();
  vmpt_outside *before = vmpt_outside_take(NULL, 0);
  cr_assert(before);
  vmp_ring *a = NULL;
  int rc = vmp_ring_attach(fd, 0, &a);
  cr_assert_eq(rc, want, "%s: attach gave %s, expected %s", what, vmp_err_name(rc),
               vmp_err_name(want));
  if (rc == 0) {
    CHECK_OK(vmp_ring_close(a));
  } else {
    cr_assert_eq(vmpt_fd_count(), fds, "%s: a descriptor was left open", what);
    char why[4096];
    cr_assert_eq(vmpt_outside_compare(before, why, sizeof why), 0, "%s: left a mapping: %s", what,
                 why);
  }
  vmpt_outside_free(before);
  close(fd);
}

/* Counters that cross the modulus in a ring whose capacity is not a power
 * of two: every byte still arrives where it was written (with counters
 * wrapping at 2^64, positions counter % capacity would jump there). */
Test(ring_hostile, counters_crossing_the_modulus_keep_the_bytes) {
  vmp_ring *r, *producer, *consumer;
  CHECK_OK(vmp_ring_create(3 * G(), 0, &r));
  size_t cap = vmp_ring_capacity(r);
  cr_assert_eq(cap % 2, 0);
  cr_assert_neq(cap & (cap - 1), 0, "the test needs a capacity that is not a power of two");
  void *whole;
  size_t whole_size;
  unsigned char *ctl = map_control(r, &whole, &whole_size);
  uint64_t m = vmp__ring_modulus(cap);
  poke64(ctl, CTL_HEAD, m - 1000);
  poke64(ctl, CTL_TAIL, m - 1000);
  CHECK_OK(vmp_ring_attach(vmp_ring_fd(r), 0, &producer));
  CHECK_OK(vmp_ring_attach(vmp_ring_fd(r), 0, &consumer));
  unsigned char out[777], in[777];
  uint64_t sent = 0, got = 0;
  while (got < 4 * cap) {
    for (size_t i = 0; i < sizeof out; i++) out[i] = stream_byte(sent + i);
    ptrdiff_t n = vmp_ring_write(producer, out, sizeof out);
    cr_assert_geq(n, 0, "write: %s", vmp_err_name((int)n));
    sent += (uint64_t)n;
    ptrdiff_t k = vmp_ring_read(consumer, in, sizeof in);
    cr_assert_geq(k, 0, "read: %s", vmp_err_name((int)k));
    for (ptrdiff_t i = 0; i < k; i++)
      cr_assert_eq(in[i], stream_byte(got + (uint64_t)i), "byte %llu is wrong",
                   (unsigned long long)(got + (uint64_t)i));
    got += (uint64_t)k;
  }
  /* The counters went past the modulus and came round to small values. */
  cr_assert_lt(peek64(ctl, CTL_HEAD), 4 * cap, "head %llu",
               (unsigned long long)peek64(ctl, CTL_HEAD));
  CHECK_OK(vmp_ring_close(producer));
  CHECK_OK(vmp_ring_close(consumer));
  munmap(whole, whole_size);
  CHECK_OK(vmp_ring_close(r));
}

Test(ring_attach, bad_objects_are_refused) {
  size_t cap = 2 * G(), unit = G();
  const char *magic = VMP__RING_MAGIC;
  uint32_t v = VMP__RING_VERSION;
  int sealing = vmp_capabilities()->seals;
  /* The same object done right is taken: what follows differs in one thing. */
  refused(fake_ring(cap, cap + unit, 1, magic, v, cap), 0, "a good object");
  refused(fake_ring(cap, cap + unit, 2, magic, v, cap), 0, "an object sealed against shrinking");
  refused(fake_ring(cap, cap + unit, 0, magic, v, cap), sealing ? VMP_EPEER : 0,
          "an unsealed object");
  refused(fake_ring(cap, cap + unit - vmp_page_size(), 1, magic, v, cap), VMP_EPEER,
          "a truncated object");
  refused(fake_ring(cap, cap + 2 * unit, 2, magic, v, cap), VMP_EPEER, "a grown object");
  refused(fake_ring(cap, unit, 1, magic, v, cap), VMP_EPEER, "an object of one unit");
  refused(fake_ring(cap, cap + unit, 1, "vmpring\3", v, cap), VMP_EPEER, "a wrong magic");
  refused(fake_ring(cap, cap + unit, 1, magic, v + 1, cap), VMP_EPEER, "a wrong version");
  refused(fake_ring(cap, cap + unit, 1, magic, v, cap + unit), VMP_EPEER, "a wrong capacity");
  refused(fake_ring(cap, cap + unit, 1, magic, v, 0), VMP_EPEER, "a zero capacity");
  /* Something that is not memory at all. */
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  refused(sv[0], VMP_EINVAL, "a socket");
  close(sv[1]);
}

Test(ring_attach, a_ring_is_sealed_where_the_system_has_seals) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(G(), 0, &r));
  int fd = (int)vmp_ring_fd(r);
  if (vmp_capabilities()->seals) {
    int seals = fcntl(fd, F_GET_SEALS);
    cr_assert(seals & F_SEAL_SHRINK, "seals 0x%x", seals);
    cr_assert_neq(ftruncate(fd, 0), 0, "a peer could shrink the ring");
  }
  CHECK_OK(vmp_ring_close(r));
}

/* wait_across_processes: a waiter sleeps on a shared futex, which a peer
 * in another process wakes, or else it polls without any such call. */
Test(ring, a_wait_sleeps_in_the_kernel_where_the_capabilities_say_so) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(G(), 0, &r));
  cr_assert_null(inject_arm(INJECT_SYSCALL, 0, 0));
  int rc = vmp_ring_wait_read(r, 1, 2000000);
  long futex_calls = inject_calls_of("futex");
  inject_disarm(INJECT_SYSCALL);
  CHECK_RC(rc, VMP_ETIMEDOUT);
  cr_assert_eq(futex_calls > 0, vmp_capabilities()->wait_across_processes != 0,
               "%ld futex calls, the capabilities say %d", futex_calls,
               vmp_capabilities()->wait_across_processes);
  CHECK_OK(vmp_ring_close(r));
}

/* ---- huge pages, fork ------------------------------------------------------------------ */

static unsigned long long huge_pages_free(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  unsigned long long n = 0;
  char line[128];
  while (f && fgets(line, sizeof line, f)) sscanf(line, "HugePages_Free: %llu", &n);
  if (f) fclose(f);
  return n;
}

Test(ring, huge_pages_when_none_are_free) {
  vmp_ring *r = NULL;
  int rc = vmp_ring_create(G(), VMP_RING_HUGE_PAGES, &r);
  if (huge_pages_free() == 0 || !vmp_capabilities()->huge_pages) {
    CHECK_RC(rc, VMP_ENOTSUP);
    CHECK_RC(vmp_ring_attach(0, VMP_RING_HUGE_PAGES, &r), VMP_ENOTSUP);
  } else if (rc == 0) {
    cr_assert_eq(vmp_ring_write(r, "huge", 4), 4);
    CHECK_OK(vmp_ring_close(r));
  }
}

/* The child's status after reading the ring's first byte and, if it can,
 * writing a new one. */
static int child_touches(vmp_ring *r) {
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    volatile unsigned char *d = vmp_ring_data(r);
    if (d[0] != 0x11) _exit(3);
    d[0] = 0x22;
    _exit(0);
  }
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  return status;
}

Test(ring, a_forked_child_shares_the_ring_by_default) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(G(), 0, &r));
  unsigned char *d = vmp_ring_data(r);
  d[0] = 0x11;
  int status = child_touches(r);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
  cr_assert_eq(d[0], 0x22, "the child's write did not reach the parent");
  CHECK_OK(vmp_ring_close(r));
}

Test(ring, no_inherit_keeps_the_ring_from_a_forked_child) {
  vmp_ring *r;
  int rc = vmp_ring_create(G(), VMP_RING_NO_INHERIT, &r);
  if (!vmp_capabilities()->no_inherit) {
    CHECK_RC(rc, VMP_ENOTSUP);
    return;
  }
  CHECK_OK(rc);
  unsigned char *d = vmp_ring_data(r);
  d[0] = 0x11;
  int status = child_touches(r);
  cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
            "the child could touch the ring (status %d)", status);
  cr_assert_eq(d[0], 0x11);
  /* The flag works for attach too. */
  vmp_ring *a;
  CHECK_OK(vmp_ring_attach(vmp_ring_fd(r), VMP_RING_NO_INHERIT, &a));
  status = child_touches(a);
  cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "status %d", status);
  CHECK_OK(vmp_ring_close(a));
  CHECK_OK(vmp_ring_close(r));
}

/* ---- failure at every step ------------------------------------------------------------- */

typedef struct ring_run {
  int attach_to; /* < 0: create */
  unsigned flags;
  size_t fds;
  vmpt_outside *before;
  vmp_ring *r;
} ring_run;

static int ring_setup(void *ctx) {
  ring_run *run = ctx;
  run->fds = vmpt_fd_count();
  run->before = vmpt_outside_take(NULL, 0);
  cr_assert(run->before);
  run->r = NULL;
  return 0;
}

static int ring_op(void *ctx) {
  ring_run *run = ctx;
  return run->attach_to < 0 ? vmp_ring_create(3 * G(), run->flags, &run->r)
                            : vmp_ring_attach(run->attach_to, run->flags, &run->r);
}

static void ring_check(void *ctx, const steps_attempt *a) {
  ring_run *run = ctx;
  if (a->rc == 0) {
    cr_assert_eq(vmp_ring_write(run->r, "ok", 2), 2);
    CHECK_OK(vmp_ring_close(run->r));
  } else {
    cr_assert_eq(vmpt_fd_count(), run->fds, "step %ld failing (%s) left a descriptor open", a->n,
                 vmp_err_name(a->rc));
    char why[4096];
    cr_assert_eq(vmpt_outside_compare(run->before, why, sizeof why), 0,
                 "step %ld failing (%s) left a mapping: %s", a->n, vmp_err_name(a->rc), why);
  }
  vmpt_outside_free(run->before);
}

/* create (attach_to < 0) or attach to that fd, with each step failing. */
static void fails_cleanly(inject_kind kind, int attach_to, unsigned flags) {
  ring_run run = {.attach_to = attach_to, .flags = flags};
  steps_plan plan = {.what = attach_to < 0 ? "vmp_ring_create" : "vmp_ring_attach",
                     .kind = kind,
                     .least = kind == INJECT_SYSCALL ? 5 : 2,
                     STEPS_CALLBACKS(ring, &run)};
  steps_run(&plan);
  if (attach_to >= 0)
    cr_assert_eq(fcntl(attach_to, F_GETFD), FD_CLOEXEC, "the caller's descriptor was closed");
}

static unsigned no_inherit_if_possible(void) {
  return vmp_capabilities()->no_inherit ? VMP_RING_NO_INHERIT : 0;
}

Test(ring_faults, create_with_each_system_call_failing) {
  fails_cleanly(INJECT_SYSCALL, -1, 0);
  fails_cleanly(INJECT_SYSCALL, -1, no_inherit_if_possible());
}

Test(ring_faults, create_with_each_allocation_failing) { fails_cleanly(INJECT_ALLOCATION, -1, 0); }

Test(ring_faults, attach_with_each_system_call_failing) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(3 * G(), 0, &r));
  fails_cleanly(INJECT_SYSCALL, (int)vmp_ring_fd(r), 0);
  fails_cleanly(INJECT_SYSCALL, (int)vmp_ring_fd(r), no_inherit_if_possible());
  CHECK_OK(vmp_ring_close(r));
}

Test(ring_faults, attach_with_each_allocation_failing) {
  vmp_ring *r;
  CHECK_OK(vmp_ring_create(3 * G(), 0, &r));
  fails_cleanly(INJECT_ALLOCATION, (int)vmp_ring_fd(r), 0);
  CHECK_OK(vmp_ring_close(r));
}
