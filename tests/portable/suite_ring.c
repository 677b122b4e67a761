/*
 * Mirrored ring buffers on whatever backend is compiled in, Windows under
 * Wine included: capacity, the mirror, the byte queue against a model in
 * one thread and across two threads with blocking waits, timeouts,
 * shutdown, attaching the ring's own descriptor/HANDLE, the flags each
 * backend supports, and failure at every system call and allocation of
 * create and attach leaving nothing behind.
 */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <fcntl.h>
#include <unistd.h>
#endif

#include "alloc.h"
#include "support_check.h"
#include "support_kernel.h"
#include "support_steps.h"
#include "support_stream.h"
#include "support_util.h"
#include "testing.h"
#include "vmplace.h"

#define U (vmp_granularity())

/* ---- helpers ----------------------------------------------------------------------- */

static size_t random_size(uint64_t *s, size_t max) {
  uint64_t r = stream_rng(s);
  size_t limit = (r & 1) ? max : 100;
  if (limit > max) limit = max;
  return 1 + (size_t)((r >> 8) % limit);
}

/* Milliseconds from a clock that does not jump. */
static double now_ms(void) {
#if defined(_WIN32)
  return (double)GetTickCount64();
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
#endif
}

/* ---- creating, the mirror ------------------------------------------------------------ */

/* Capacities are whole pages on every backend, Windows included: its
 * 64 KiB rule is for region bases, not for the object offsets of views. */
CHECK_TEST(capacity_and_arguments) {
  size_t p = vmp_page_size();
  size_t sizes[] = {1, p, p + 1, 3 * p - 5, U + 1};
  size_t want[] = {p, p, 2 * p, 3 * p, U + p};
  for (size_t i = 0; i < 5; i++) {
    vmp_ring *r;
    if (!CHECK_RC(vmp_ring_create(sizes[i], 0, &r), 0)) return;
    CHECK(vmp_ring_capacity(r) == want[i], "size %zu: capacity %zu, expected %zu", sizes[i],
          vmp_ring_capacity(r), want[i]);
    CHECK(vmp_ring_fd(r) != -1, "no descriptor");
    CHECK_RC(vmp_ring_close(r), 0);
  }
  vmp_ring *r;
  CHECK_RC(vmp_ring_create(0, 0, &r), VMP_EINVAL);
  CHECK_RC(vmp_ring_create(1, 0, NULL), VMP_EINVAL);
  CHECK_RC(vmp_ring_create(1, 0x80, &r), VMP_EINVAL);
  CHECK_RC(vmp_ring_attach(-1, 0, &r), VMP_EINVAL);
  CHECK_RC(vmp_ring_close(NULL), 0);
}

CHECK_TEST(mirror) {
  vmp_ring *r;
  if (!CHECK_RC(vmp_ring_create(2 * U, 0, &r), 0)) return;
  size_t cap = vmp_ring_capacity(r);
  unsigned char *d = vmp_ring_data(r);
  stream_fill(d, cap, 5);
  CHECK(stream_mismatch(d + cap, cap, 5) == (size_t)-1, "the mirror does not show the data");
  d[cap + 17] = 0xa5;
  CHECK(d[17] == 0xa5, "a write through the mirror did not reach the data");
  /* A message across the seam, in one piece. */
  void *w;
  const void *p;
  size_t len;
  CHECK_RC(vmp_ring_write_begin(r, VMP_RING_ALL, &w, &len), 0);
  CHECK_RC(vmp_ring_write_commit(r, cap - 50), 0);
  CHECK_RC(vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len), 0);
  CHECK_RC(vmp_ring_read_release(r, cap - 50), 0);
  CHECK_RC(vmp_ring_write_begin(r, VMP_RING_ALL, &w, &len), 0);
  CHECK(len == cap && (unsigned char *)w == d + cap - 50, "write_begin: %zu bytes at %td", len,
        (unsigned char *)w - d);
  stream_fill(w, 200, 1000);
  CHECK_RC(vmp_ring_write_commit(r, 200), 0);
  CHECK_RC(vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len), 0);
  CHECK(len == 200 && stream_mismatch(p, 200, 1000) == (size_t)-1, "read back across the seam");
  CHECK(stream_mismatch(d, 150, 1050) == (size_t)-1,
        "the bytes past the seam are not at the start");
  CHECK_RC(vmp_ring_close(r), 0);
}

/* ---- the queue ------------------------------------------------------------------------ */

CHECK_TEST(model_one_thread) {
  vmp_ring *r;
  if (!CHECK_RC(vmp_ring_create(U, 0, &r), 0)) return;
  size_t cap = vmp_ring_capacity(r);
  unsigned char *buf = malloc(cap);
  uint64_t written = 0, read = 0, seed = 77;
  while (buf && read < (2u << 20) && !check_failures()) {
    uint64_t choice = stream_rng(&seed) % 4;
    size_t used = (size_t)(written - read);
    if (choice == 0) {
      void *w;
      size_t len;
      CHECK_RC(vmp_ring_write_begin(r, VMP_RING_ALL, &w, &len), 0);
      CHECK(len == cap - used, "write_begin offers %zu, the model %zu", len, cap - used);
      size_t n = len ? random_size(&seed, len) : 0;
      stream_fill(w, n, written);
      CHECK_RC(vmp_ring_write_commit(r, n), 0);
      written += n;
    } else if (choice == 1) {
      const void *p;
      size_t len;
      CHECK_RC(vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len), 0);
      CHECK(len == used, "read_begin offers %zu, the model %zu", len, used);
      size_t n = len ? random_size(&seed, len) : 0;
      CHECK(stream_mismatch(p, n, read) == (size_t)-1, "wrong byte near %llu",
            (unsigned long long)read);
      CHECK_RC(vmp_ring_read_release(r, n), 0);
      read += n;
    } else if (choice == 2) {
      size_t n = random_size(&seed, cap), expect = n < cap - used ? n : cap - used;
      stream_fill(buf, n, written);
      ptrdiff_t got = vmp_ring_write(r, buf, n);
      CHECK(got == (ptrdiff_t)expect, "write took %td, the model %zu", got, expect);
      written += expect;
    } else {
      size_t n = random_size(&seed, cap), expect = n < used ? n : used;
      ptrdiff_t got = vmp_ring_read(r, buf, n);
      CHECK(got == (ptrdiff_t)expect, "read gave %td, the model %zu", got, expect);
      CHECK(stream_mismatch(buf, expect, read) == (size_t)-1, "wrong byte near %llu",
            (unsigned long long)read);
      read += expect;
    }
  }
  free(buf);
  CHECK_RC(vmp_ring_close(r), 0);
}

#define THREAD_BYTES (3u << 20)

typedef struct worker {
  vmp_ring *ring;
  uint64_t seed, bytes;
  int rc;            /* the first error */
  uint64_t wrong_at; /* consumer: the first wrong byte, or UINT64_MAX */
} worker;

/* Both ask for at most half the ring, so they can never wait for each other. */
static void produce(void *arg) {
  worker *w = arg;
  size_t half = vmp_ring_capacity(w->ring) / 2;
  while (w->bytes < THREAD_BYTES && !w->rc) {
    size_t n = random_size(&w->seed, half);
    if (n > THREAD_BYTES - w->bytes) n = (size_t)(THREAD_BYTES - w->bytes);
    if ((w->rc = vmp_ring_wait_write(w->ring, n, -1)) != 0) break;
    void *p;
    size_t len;
    if ((w->rc = vmp_ring_write_begin(w->ring, VMP_RING_ALL, &p, &len)) != 0) break;
    if (len < n) {
      w->rc = -1;
      break;
    }
    stream_fill(p, n, w->bytes);
    w->rc = vmp_ring_write_commit(w->ring, n);
    w->bytes += n;
  }
  vmp_ring_shutdown(w->ring);
}

static void consume(void *arg) {
  worker *w = arg;
  size_t half = vmp_ring_capacity(w->ring) / 2;
  w->wrong_at = UINT64_MAX;
  for (;;) {
    size_t n = random_size(&w->seed, half);
    int rc = vmp_ring_wait_read(w->ring, n, -1);
    if (rc == VMP_ESHUTDOWN) break;
    if ((w->rc = rc) != 0) break;
    const void *p;
    size_t len;
    if ((w->rc = vmp_ring_read_begin(w->ring, VMP_RING_ALL, &p, &len)) != 0) break;
    size_t bad = stream_mismatch(p, len, w->bytes);
    if (bad != (size_t)-1) {
      w->wrong_at = w->bytes + bad;
      break;
    }
    if ((w->rc = vmp_ring_read_release(w->ring, len)) != 0) break;
    w->bytes += len;
  }
}

CHECK_TEST(two_threads_with_waits) {
  vmp_ring *r;
  if (!CHECK_RC(vmp_ring_create(2 * U, 0, &r), 0)) return;
  worker prod = {r, 11, 0, 0, 0}, cons = {r, 22, 0, 0, 0};
  util_thread a, b;
  int started_a = util_thread_start(&a, produce, &prod);
  int started_b = started_a && util_thread_start(&b, consume, &cons);
  if (!CHECK(started_a && started_b, "cannot start the threads")) {
    vmp_ring_shutdown(r);
    if (started_a) util_thread_join(&a);
    vmp_ring_close(r);
    return;
  }
  util_thread_join(&a);
  util_thread_join(&b);
  CHECK(prod.rc == 0, "producer: %s", vmp_err_name(prod.rc));
  CHECK(cons.rc == 0, "consumer: %s", vmp_err_name(cons.rc));
  CHECK(cons.wrong_at == UINT64_MAX, "byte %llu is wrong", (unsigned long long)cons.wrong_at);
  CHECK(cons.bytes == THREAD_BYTES, "the consumer got %llu bytes of %u",
        (unsigned long long)cons.bytes, THREAD_BYTES);
  CHECK_RC(vmp_ring_close(r), 0);
}

CHECK_TEST(wait_timeouts) {
  vmp_ring *r;
  if (!CHECK_RC(vmp_ring_create(U, 0, &r), 0)) return;
  size_t cap = vmp_ring_capacity(r);
  CHECK_RC(vmp_ring_wait_read(r, 1, 0), VMP_ETIMEDOUT);
  CHECK_RC(vmp_ring_wait_write(r, cap, 0), 0);
  CHECK_RC(vmp_ring_wait_read(r, cap + 1, 0), VMP_EINVAL);
  double t0 = now_ms();
  CHECK_RC(vmp_ring_wait_read(r, 1, 40 * 1000000), VMP_ETIMEDOUT);
  double spent = now_ms() - t0;
  /* GetTickCount64 ticks in ~16 ms steps: allow for one. */
  CHECK(spent >= 20 && spent < 2000, "a 40 ms wait took %.1f ms", spent);
  CHECK(vmp_ring_write(r, "xyz", 3) == 3, "write");
  CHECK_RC(vmp_ring_wait_read(r, 3, 0), 0);
  CHECK_RC(vmp_ring_wait_write(r, cap - 2, 0), VMP_ETIMEDOUT);
  CHECK_RC(vmp_ring_close(r), 0);
}

typedef struct blocked {
  vmp_ring *ring;
  int reader;
  volatile int rc;
} blocked;

static void block(void *arg) {
  blocked *b = arg;
  b->rc = b->reader ? vmp_ring_wait_read(b->ring, 1, -1) : vmp_ring_wait_write(b->ring, 1, -1);
}

CHECK_TEST(shutdown_wakes_waiters) {
  vmp_ring *r;
  if (!CHECK_RC(vmp_ring_create(U, 0, &r), 0)) return;
  blocked b = {r, 1, 1};
  util_thread t;
  if (!CHECK(util_thread_start(&t, block, &b), "cannot start a thread")) goto out;
  util_sleep_ms(50);
  CHECK(b.rc == 1, "the reader did not block");
  vmp_ring_shutdown(r);
  util_thread_join(&t);
  CHECK_RC(b.rc, VMP_ESHUTDOWN);
out:
  CHECK_RC(vmp_ring_close(r), 0);

  /* A writer blocked on a full ring. */
  if (!CHECK_RC(vmp_ring_create(U, 0, &r), 0)) return;
  void *w;
  size_t len;
  CHECK_RC(vmp_ring_write_begin(r, VMP_RING_ALL, &w, &len), 0);
  CHECK_RC(vmp_ring_write_commit(r, len), 0);
  blocked c = {r, 0, 1};
  if (CHECK(util_thread_start(&t, block, &c), "cannot start a thread")) {
    util_sleep_ms(50);
    CHECK(c.rc == 1, "the writer did not block");
    vmp_ring_shutdown(r);
    util_thread_join(&t);
    CHECK_RC(c.rc, VMP_ESHUTDOWN);
  }
  /* The reader still drains what is there, then sees the shutdown. */
  const void *p;
  CHECK_RC(vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len), 0);
  CHECK(len == vmp_ring_capacity(r), "%zu bytes left", len);
  CHECK_RC(vmp_ring_read_release(r, len), 0);
  CHECK_RC(vmp_ring_read_begin(r, VMP_RING_ALL, &p, &len), VMP_ESHUTDOWN);
  CHECK_RC(vmp_ring_close(r), 0);
}

/* ---- attach, flags ---------------------------------------------------------------------- */

CHECK_TEST(attach_own_descriptor) {
  vmp_ring *r, *a;
  if (!CHECK_RC(vmp_ring_create(2 * U, 0, &r), 0)) return;
  long handles = util_open_handles();
  if (CHECK_RC(vmp_ring_attach(vmp_ring_fd(r), 0, &a), 0)) {
    CHECK(vmp_ring_capacity(a) == vmp_ring_capacity(r), "capacity %zu", vmp_ring_capacity(a));
    CHECK(vmp_ring_fd(a) != vmp_ring_fd(r), "attach did not keep its own descriptor");
    CHECK(vmp_ring_write(r, "between", 7) == 7, "write");
    char buf[8] = {0};
    CHECK(vmp_ring_read(a, buf, 8) == 7 && memcmp(buf, "between", 7) == 0,
          "the attached ring does not see the bytes");
    /* Both copies of the attached data mirror the creator's. */
    unsigned char *d = vmp_ring_data(r), *e = vmp_ring_data(a);
    size_t cap = vmp_ring_capacity(r);
    d[5] = 0x3c;
    CHECK(e[5] == 0x3c && e[cap + 5] == 0x3c, "the attached views are not the same memory");
    CHECK_RC(vmp_ring_close(a), 0);
  }
  CHECK(util_open_handles() == handles, "attach and close left %ld handles",
        util_open_handles() - handles);
  CHECK(vmp_ring_write(r, "!", 1) == 1, "the creator's ring broke");
  CHECK_RC(vmp_ring_close(r), 0);
}

CHECK_TEST(flags_per_backend) {
  vmp_ring *r = NULL;
  int rc = vmp_ring_create(U, VMP_RING_NO_INHERIT, &r);
  CHECK_RC(rc, vmp_capabilities()->no_inherit ? 0 : VMP_ENOTSUP);
  if (rc == 0) {
    CHECK(vmp_ring_write(r, "a", 1) == 1, "write");
    CHECK_RC(vmp_ring_close(r), 0);
  }
  rc = vmp_ring_create(U, VMP_RING_HUGE_PAGES, &r);
  if (vmp_capabilities()->huge_pages && rc == 0) {
    check_note("huge pages are free here: the ring was made with them");
    CHECK_RC(vmp_ring_close(r), 0);
  } else {
    CHECK_RC(rc, VMP_ENOTSUP);
  }
}

/* ---- failure at every step -------------------------------------------------------------- */

typedef struct ring_run {
  vmp_ring *from; /* NULL: create */
  vmp_ring *r;
} ring_run;

static int ring_setup(void *ctx) {
  ((ring_run *)ctx)->r = NULL;
  return 0;
}

static int ring_op(void *ctx) {
  ring_run *run = ctx;
  return run->from ? vmp_ring_attach(vmp_ring_fd(run->from), 0, &run->r)
                   : vmp_ring_create(2 * U, 0, &run->r);
}

static void ring_check(void *ctx, const steps_attempt *a) {
  ring_run *run = ctx;
  if (a->rc != 0) return;
  CHECK(vmp_ring_write(run->r, "ok", 2) == 2, "the ring made does not work");
  CHECK_RC(vmp_ring_close(run->r), 0);
}

/* create (from == NULL) or attach to from's descriptor, each step failing. */
static void fails_cleanly(inject_kind kind, vmp_ring *from) {
  ring_run run = {.from = from};
  steps_plan plan = {.what = from ? "vmp_ring_attach" : "vmp_ring_create",
                     .kind = kind,
                     .least = 2,
                     .leftovers = 1,
                     STEPS_CALLBACKS(ring, &run)};
  steps_run(&plan);
}

CHECK_TEST(create_with_each_system_call_failing) { fails_cleanly(INJECT_SYSCALL, NULL); }
CHECK_TEST(create_with_each_allocation_failing) { fails_cleanly(INJECT_ALLOCATION, NULL); }

CHECK_TEST(attach_with_each_failure) {
  vmp_ring *r;
  if (!CHECK_RC(vmp_ring_create(2 * U, 0, &r), 0)) return;
  fails_cleanly(INJECT_SYSCALL, r);
  fails_cleanly(INJECT_ALLOCATION, r);
  CHECK(vmp_ring_write(r, "still", 5) == 5, "the creator's ring broke");
  CHECK_RC(vmp_ring_close(r), 0);
}
