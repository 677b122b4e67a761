/*
 * commit_unmap_16p and map_unmap_view_16p: the cost of turning a placeholder
 * into memory and back, against the two raw mmap calls that do the same on
 * a range the benchmark reserved itself. No page is touched: this measures
 * the mapping calls, not page faults.
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>

#include "vmplace.h"

#define SLOT_PAGES 16
/* The slot sits between two other placeholders, as it would in a real
 * region, so the library's neighbour handling is part of what is timed. */
#define REGION_PAGES (3 * SLOT_PAGES)

typedef struct mapping_ctx {
  vmp_region *region;
  size_t off;  /* the slot, relative to the region */
  size_t size; /* the slot's size in bytes */
  vmp_mem *mem;
  char *raw;          /* baseline: the slot inside the benchmark's own reservation */
  char *raw_mprotect; /* the same in a reservation made as vmplace makes it */
  int fd;             /* baseline: the same object as `mem` */
} mapping_ctx;

/* The placeholder mapped back over a slot: as a user writes it
 * (MAP_NORESERVE, noreserve 1) or as vmplace does (noreserve 0). */
static int placeholder_back_as(char *addr, size_t size, int noreserve) {
  int flags = MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0);
  void *p = mmap(addr, size, PROT_NONE, flags, -1, 0);
  return p == MAP_FAILED ? -errno : 0;
}

static int placeholder_back(char *addr, size_t size) { return placeholder_back_as(addr, size, 1); }

static int commit_unmap_vmp(void *arg, size_t iters, uint64_t *elapsed) {
  mapping_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    int err = vmp_commit(c->region, c->off, c->size, VMP_PROT_RW);
    if (err) return err;
    err = vmp_unmap(c->region, c->off, c->size);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int commit_unmap_raw(void *arg, size_t iters, uint64_t *elapsed) {
  mapping_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    void *p = mmap(c->raw, c->size, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) return -errno;
    int err = placeholder_back(c->raw, c->size);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

/* The calls vmplace itself makes for the pair on POSIX (src/os/unix.c):
 * the placeholder's protection raised, then a fresh placeholder mapped
 * over it. Not the bar's baseline, which is what a user writes; printed so
 * that the library's own overhead over its system calls stays in view. */
static int commit_by_mprotect(char *at, size_t size) {
  if (mprotect(at, size, PROT_READ | PROT_WRITE) != 0) return -errno;
  return placeholder_back_as(at, size, 0);
}

static int commit_unmap_mprotect(void *arg, size_t iters, uint64_t *elapsed) {
  mapping_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    int err = commit_by_mprotect(c->raw_mprotect, c->size);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int map_unmap_vmp(void *arg, size_t iters, uint64_t *elapsed) {
  mapping_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    int err = vmp_map(c->region, c->off, c->size, c->mem, 0, VMP_PROT_RW);
    if (err) return err;
    err = vmp_unmap(c->region, c->off, c->size);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int map_unmap_raw(void *arg, size_t iters, uint64_t *elapsed) {
  mapping_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    void *p = mmap(c->raw, c->size, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED, c->fd, 0);
    if (p == MAP_FAILED) return -errno;
    int err = placeholder_back(c->raw, c->size);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

/* A PROT_NONE reservation as a user makes one (MAP_NORESERVE: nothing is
 * charged until a slot is mapped writable), or as vmplace makes it
 * (without: a slot made writable by mprotect is then charged as a new
 * writable mapping would be). */
static char *reserve_raw(size_t size, int noreserve) {
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0);
  void *p = mmap(NULL, size, PROT_NONE, flags, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

static int setup(mapping_ctx *c, char **raw_base, char **mprotect_base) {
  size_t page = vmp_page_size();
  c->off = SLOT_PAGES * page;
  c->size = SLOT_PAGES * page;
  int err = vmp_reserve(REGION_PAGES * page, 0, &c->region);
  if (err) return bench_error("vmp_reserve", err);
  err = vmp_split(c->region, c->off, c->size);
  if (err) return bench_error("vmp_split", err);
  err = vmp_mem_create(c->size, 0, &c->mem);
  if (err) return bench_error("vmp_mem_create", err);
  c->fd = (int)vmp_mem_fd(c->mem);
  *raw_base = reserve_raw(REGION_PAGES * page, 1);
  if (!*raw_base) return bench_error("mmap (baseline reservation)", -errno);
  *mprotect_base = reserve_raw(REGION_PAGES * page, 0);
  if (!*mprotect_base) return bench_error("mmap (reservation for mprotect)", -errno);
  c->raw = *raw_base + c->off;
  c->raw_mprotect = *mprotect_base + c->off;
  return 0;
}

/* The line's ratio is the median of the rounds' ratios, as for every
 * interleaved line; the ratio of the two median times follows on a
 * comment line, so that figures from before the change can be followed. */
static void report_pair(const char *name, const bench_contender *pair, size_t count) {
  double ratio = bench_round_ratio(0, 1);
  bench_line_ratio(name, pair[0].ns_per_op, pair[1].ns_per_op, ratio, "ns");
  printf("# %s: ratio of the median times %.3g\n", name, pair[0].ns_per_op / pair[1].ns_per_op);
  if (count > 2)
    printf(
        "# %s: against the calls vmplace makes (mprotect, then mmap PROT_NONE): %.0f ns, "
        "ratio %.3g\n",
        name, pair[2].ns_per_op, bench_round_ratio(0, 2));
  bench_bar(name, "ratio <= 1.10", ratio <= 1.10);
}

static int run_pair(const bench_opts *opts, const char *name, bench_batch_fn vmp_fn,
                    bench_batch_fn raw_fn, bench_batch_fn calls_fn, mapping_ctx *c) {
  if (!bench_selected(opts, name)) return 0;
  /* Many short batches rather than a few long ones: on a shared machine a
   * busy phase then spoils a few samples on both sides instead of one side's
   * whole figure, and the median drops them. */
  size_t iters = opts->quick ? 200 : 2000;
  bench_contender pair[3] = {
      {vmp_fn, c, iters, 0.0},
      {raw_fn, c, iters, 0.0},
      {calls_fn, c, iters, 0.0},
  };
  size_t count = calls_fn ? 3 : 2;
  int err = bench_interleave(pair, count, opts->quick ? 3 : 21);
  if (err) return bench_error(name, err);
  report_pair(name, pair, count);
  return 0;
}

/* ---- the same at 10^6 spans ------------------------------------------------------------
 *
 * A region cut into 10^6 placeholders of 16 pages (64 GiB of address space,
 * no memory), and each pair at a slot drawn at random, so the span tree's
 * size and the cache misses of reaching a random slot are part of what is
 * timed. The baseline does the same two calls at the same slots of its own
 * reservation of the same size. */

#define MANY_SLOTS 1000000
#define MANY_SLOTS_QUICK 20000

typedef struct many_ctx {
  vmp_region *region;
  char *raw, *raw_mprotect;
  size_t slots, slot_bytes;
  uint64_t seed_vmp, seed_raw, seed_mprotect; /* each side draws the same sequence */
} many_ctx;

static size_t next_slot(uint64_t *seed, size_t slots) { return (size_t)(bench_rng(seed) % slots); }

static int many_vmp(void *arg, size_t iters, uint64_t *elapsed) {
  many_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    size_t off = next_slot(&c->seed_vmp, c->slots) * c->slot_bytes;
    int err = vmp_commit(c->region, off, c->slot_bytes, VMP_PROT_RW);
    if (err) return err;
    err = vmp_unmap(c->region, off, c->slot_bytes);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int many_raw(void *arg, size_t iters, uint64_t *elapsed) {
  many_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    char *at = c->raw + next_slot(&c->seed_raw, c->slots) * c->slot_bytes;
    void *p = mmap(at, c->slot_bytes, PROT_READ | PROT_WRITE,
                   MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -errno;
    int err = placeholder_back(at, c->slot_bytes);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int many_mprotect(void *arg, size_t iters, uint64_t *elapsed) {
  many_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    char *at = c->raw_mprotect + next_slot(&c->seed_mprotect, c->slots) * c->slot_bytes;
    int err = commit_by_mprotect(at, c->slot_bytes);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int run_many_spans(const bench_opts *opts) {
  const char *name = "commit_unmap_16p_1e6_spans";
  if (!bench_selected(opts, name)) return 0;
  many_ctx c = {0};
  c.slots = opts->quick ? MANY_SLOTS_QUICK : MANY_SLOTS;
  c.slot_bytes = SLOT_PAGES * vmp_page_size();
  size_t total = c.slots * c.slot_bytes;
  int err = vmp_reserve(total, 0, &c.region);
  if (err) return bench_error("vmp_reserve", err);
  for (size_t i = 1; i + 1 < c.slots && !err; i++)
    err = vmp_split(c.region, i * c.slot_bytes, c.slot_bytes);
  if (err) {
    vmp_release(c.region);
    return bench_error("vmp_split", err);
  }
  c.raw = reserve_raw(total, 1);
  c.raw_mprotect = c.raw ? reserve_raw(total, 0) : NULL;
  if (!c.raw_mprotect) {
    err = -errno;
    if (c.raw) munmap(c.raw, total);
    vmp_release(c.region);
    return bench_error("mmap (baseline reservation)", err);
  }
  printf("# %s: %zu spans of %d pages, slots drawn at random\n", name, vmp_span_count(c.region),
         SLOT_PAGES);
  c.seed_vmp = c.seed_raw = c.seed_mprotect = 0x736c6f74u;
  size_t iters = opts->quick ? 200 : 2000;
  bench_contender pair[3] = {
      {many_vmp, &c, iters, 0.0}, {many_raw, &c, iters, 0.0}, {many_mprotect, &c, iters, 0.0}};
  err = bench_interleave(pair, 3, opts->quick ? 3 : 21);
  munmap(c.raw, total);
  munmap(c.raw_mprotect, total);
  vmp_release(c.region);
  if (err) return bench_error(name, err);
  report_pair(name, pair, 3);
  return 0;
}

int bench_mapping(const bench_opts *opts) {
  int failed = run_many_spans(opts);
  if (!bench_selected(opts, "commit_unmap_16p") && !bench_selected(opts, "map_unmap_view_16p"))
    return failed;
  mapping_ctx c = {0};
  char *raw_base = NULL, *mprotect_base = NULL;
  failed |= setup(&c, &raw_base, &mprotect_base);
  if (!failed)
    failed = run_pair(opts, "commit_unmap_16p", commit_unmap_vmp, commit_unmap_raw,
                      commit_unmap_mprotect, &c);
  if (!failed)
    failed = run_pair(opts, "map_unmap_view_16p", map_unmap_vmp, map_unmap_raw, NULL, &c);
  if (raw_base) munmap(raw_base, REGION_PAGES * vmp_page_size());
  if (mprotect_base) munmap(mprotect_base, REGION_PAGES * vmp_page_size());
  vmp_mem_close(c.mem);
  vmp_release(c.region);
  return failed;
}
