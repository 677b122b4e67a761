/*
 * adjacent_views_contention: two views of two different objects placed side
 * by side while another thread allocates and frees address space as fast as
 * it can. vmplace builds the pair inside one reservation and never lets the
 * range go; the baseline is the method programs used before: find a hole
 * with a PROT_NONE mapping, give it back, and hope that MAP_FIXED_NOREPLACE
 * still finds it empty. Each loss of that race is counted.
 */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>

#include "vmplace.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define HALF_PAGES 16
/* An attempt can lose only to the other thread; this many losses in a row
 * for one pair means something else is wrong. */
#define MAX_ATTEMPTS 1000
/* The hostile thread keeps a few mappings alive so that a hole it took is
 * still taken when the main thread reaches for it. */
#define HOSTILE_HELD 4
#define HOSTILE_MAX_PAGES 64

/* What the main thread and the hostile thread share. */
typedef struct hostile_state {
  _Atomic uintptr_t target; /* the address the main thread used last */
  atomic_int stop;
  atomic_ulong mmaps; /* how many allocations it made, reported at the end */
} hostile_state;

typedef struct contention_ctx {
  hostile_state *hostile;
  size_t half; /* bytes in one view */
  vmp_mem *obj_a, *obj_b;
  int fd_a, fd_b;
  /* Private windows on both objects, to check that a view really shows the
   * object it should. */
  volatile uint32_t *check_a, *check_b;
  uint32_t stamp;
  unsigned long failures, retries;
  int first_error; /* first vmplace error seen (kept for the exit status) */
} contention_ctx;

static void *hostile_main(void *arg) {
  hostile_state *h = arg;
  size_t page = vmp_page_size();
  void *held[HOSTILE_HELD] = {0};
  size_t held_size[HOSTILE_HELD] = {0};
  uint64_t seed = 0x4057113u;
  unsigned long made = 0;
  for (size_t n = 0; !atomic_load_explicit(&h->stop, memory_order_relaxed); n++) {
    uint64_t r = bench_rng(&seed);
    size_t size = (1 + (size_t)(r % HOSTILE_MAX_PAGES)) * page;
    uintptr_t hint = atomic_load_explicit(&h->target, memory_order_relaxed);
    /* Half the time exactly where the main thread was, else a little
     * further into the same range. */
    if (hint && (r >> 16) & 1) hint += (size_t)((r >> 17) % (2 * HALF_PAGES)) * page;
    void *p = mmap((void *)hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) continue;
    made++;
    size_t slot = n % HOSTILE_HELD;
    if (held[slot]) munmap(held[slot], held_size[slot]);
    held[slot] = p;
    held_size[slot] = size;
  }
  for (size_t i = 0; i < HOSTILE_HELD; i++)
    if (held[i]) munmap(held[i], held_size[i]);
  atomic_store(&h->mmaps, made);
  return NULL;
}

/* Writes the pair's stamp at both ends of each half through the new views
 * and reads it back through them and through the objects' own windows: a
 * view of the wrong object, or of nothing, is noticed. */
static int verify_pair(contention_ctx *c, char *base) {
  size_t words = c->half / sizeof(uint32_t);
  uint32_t a = 2 * ++c->stamp, b = a + 1;
  volatile uint32_t *view_a = (volatile uint32_t *)base;
  volatile uint32_t *view_b = (volatile uint32_t *)(base + c->half);
  view_a[0] = view_a[words - 1] = a;
  view_b[0] = view_b[words - 1] = b;
  if (view_a[0] == a && view_a[words - 1] == a && view_b[0] == b && view_b[words - 1] == b &&
      c->check_a[0] == a && c->check_a[words - 1] == a && c->check_b[0] == b &&
      c->check_b[words - 1] == b)
    return 0;
  fprintf(stderr, "vmplace_bench: the pair at %p does not show its objects\n", (void *)base);
  return -EIO;
}

static int build_pair_vmp(contention_ctx *c) {
  vmp_region *r = NULL;
  int err = vmp_reserve(2 * c->half, 0, &r);
  if (err) return err;
  char *base = vmp_base(r);
  atomic_store_explicit(&c->hostile->target, (uintptr_t)base, memory_order_relaxed);
  err = vmp_split(r, 0, c->half);
  if (!err) err = vmp_map(r, 0, c->half, c->obj_a, 0, VMP_PROT_RW);
  if (!err) err = vmp_map(r, c->half, c->half, c->obj_b, 0, VMP_PROT_RW);
  if (!err) err = verify_pair(c, base);
  int release_err = vmp_release(r);
  return err ? err : release_err;
}

static int pairs_vmp(void *arg, size_t iters, uint64_t *elapsed) {
  contention_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    int attempts = 0;
    int err;
    while ((err = build_pair_vmp(c)) != 0) {
      c->failures++;
      if (!c->first_error) c->first_error = err;
      if (err == -EIO || ++attempts == MAX_ATTEMPTS) return err;
      c->retries++;
    }
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

/* Maps `fd` exactly at `want`, never over anything: 0 when it landed there,
 * 1 when the other thread got there first, or an error. */
static int place_view(void *want, size_t size, int fd) {
  void *p = mmap(want, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
  if (p == MAP_FAILED) return errno == EEXIST ? 1 : -errno;
  if (p != want) {
    /* A kernel that ignores the flag treats it as a hint. */
    munmap(p, size);
    return 1;
  }
  return 0;
}

/* One attempt: 0 when the pair was built (and torn down), 1 when the race
 * was lost (nothing left behind), or an error. */
static int try_pair_raw(contention_ctx *c) {
  char *hole =
      mmap(NULL, 2 * c->half, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (hole == MAP_FAILED) return -errno;
  atomic_store_explicit(&c->hostile->target, (uintptr_t)hole, memory_order_relaxed);
  if (munmap(hole, 2 * c->half) != 0) return -errno;
  int got = place_view(hole, c->half, c->fd_a);
  if (got != 0) return got;
  got = place_view(hole + c->half, c->half, c->fd_b);
  if (got != 0) {
    munmap(hole, c->half);
    return got;
  }
  int err = verify_pair(c, hole);
  if (munmap(hole, 2 * c->half) != 0 && !err) err = -errno;
  return err;
}

static int pairs_raw(void *arg, size_t iters, uint64_t *elapsed) {
  contention_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    int attempts = 0;
    int got;
    while ((got = try_pair_raw(c)) == 1) {
      c->failures++;
      if (++attempts == MAX_ATTEMPTS) return -EAGAIN;
      c->retries++;
    }
    if (got < 0) return got;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int open_object(contention_ctx *c, vmp_mem **obj, int *fd, volatile uint32_t **check) {
  int err = vmp_mem_create(c->half, 0, obj);
  if (err) return bench_error("vmp_mem_create", err);
  *fd = (int)vmp_mem_fd(*obj);
  void *p = mmap(NULL, c->half, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
  if (p == MAP_FAILED) return bench_error("mmap (check window)", -errno);
  *check = p;
  return 0;
}

int bench_contention(const bench_opts *opts) {
  if (!bench_selected(opts, "adjacent_views_contention") &&
      !bench_selected(opts, "adjacent_views_contention_failures"))
    return 0;
  /* Per side: one warm-up batch and `reps` timed ones, 10^4 pairs in all. */
  int reps = opts->quick ? 3 : 9;
  size_t per_batch = opts->quick ? 50 : 1000;

  static hostile_state shared;
  static contention_ctx vmp_side, raw_side;
  contention_ctx *sides[2] = {&vmp_side, &raw_side};
  int failed = 0;
  for (int s = 0; s < 2 && !failed; s++) {
    contention_ctx *c = sides[s];
    c->hostile = &shared;
    c->half = HALF_PAGES * vmp_page_size();
    failed = open_object(c, &c->obj_a, &c->fd_a, &c->check_a) ||
             open_object(c, &c->obj_b, &c->fd_b, &c->check_b);
  }

  /* One hostile thread for both sides; each side publishes its addresses
   * into the same slot, so the thread always aims at the latest one. */
  pthread_t hostile;
  int started = 0;
  if (!failed) {
    started = pthread_create(&hostile, NULL, hostile_main, &shared) == 0;
    if (!started) failed = bench_error("pthread_create", -EAGAIN);
  }
  bench_contender run[2] = {
      {pairs_vmp, &vmp_side, per_batch, 0.0},
      {pairs_raw, &raw_side, per_batch, 0.0},
  };
  int err = 0;
  if (!failed) err = bench_interleave(run, 2, reps);
  if (started) {
    atomic_store(&shared.stop, 1);
    pthread_join(hostile, NULL);
  }
  if (err) failed = bench_error("adjacent_views_contention", err);
  if (!failed && vmp_side.first_error)
    failed = bench_error("adjacent_views_contention (vmplace, counted)", vmp_side.first_error);

  if (!failed || vmp_side.first_error) {
    double ratio =
        vmp_side.failures == 0 ? 0.0 : (double)vmp_side.failures / (double)raw_side.failures;
    if (bench_selected(opts, "adjacent_views_contention_failures"))
      bench_line_counts("adjacent_views_contention_failures", vmp_side.failures, raw_side.failures,
                        ratio, "failures");
    if (!failed && bench_selected(opts, "adjacent_views_contention"))
      bench_line("adjacent_views_contention", run[0].ns_per_op / 1000.0, run[1].ns_per_op / 1000.0,
                 "us");
    printf(
        "# adjacent_views_contention: %zu pairs a side; retries vmplace %lu, "
        "baseline %lu; hostile thread made %lu mmaps\n",
        per_batch * (size_t)(reps + 1), vmp_side.retries, raw_side.retries,
        (unsigned long)atomic_load(&shared.mmaps));
    if (raw_side.failures == 0)
      printf(
          "# adjacent_views_contention: the baseline lost no race this run; "
          "the hostile thread never got into the window\n");
    bench_bar("adjacent_views_contention_failures", "vmplace == 0", vmp_side.failures == 0);
  }
  for (int s = 0; s < 2; s++) {
    contention_ctx *c = sides[s];
    if (c->check_a) munmap((void *)c->check_a, c->half);
    if (c->check_b) munmap((void *)c->check_b, c->half);
    vmp_mem_close(c->obj_a);
    vmp_mem_close(c->obj_b);
  }
  return failed;
}
