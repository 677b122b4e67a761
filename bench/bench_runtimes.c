/*
 * The address space of a runtime (an emulator's fastmem, a JIT's heap):
 *
 * fastmem_ops, fastmem_mappings: views of one memory object mapped and
 *   unmapped at random places of a large sparse region, the free room
 *   around them split and coalesced as they come and go, against the raw
 *   mmap calls over a reservation of the benchmark's own.
 * reserve_at: a reservation at a chosen free address and its release,
 *   against mmap(MAP_FIXED_NOREPLACE) with the check a careful user makes.
 * region_extend: growing a region in place, against the same mmap at the
 *   end of a raw reservation.
 *
 * The baselines make the same system calls as the library with the same
 * flags, written here from the manual pages; nothing is shared with src/.
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmplace.h"

/* Without the flag (Linux before 4.17, or a system that has none) the
 * address is only a hint: the check after the call still refuses a
 * reservation the system put elsewhere, so the baseline stays correct. */
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0
#endif

#define RESERVE_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

/* ---- raw reservations, for the baselines -------------------------------------------- */

/* A PROT_NONE reservation exactly at addr, as a careful user makes one:
 * a system that took the flag for a hint and placed it elsewhere gets the
 * mapping back at once, and the caller is told the address was taken. */
static int raw_reserve_at(char *addr, size_t size) {
  void *p = mmap(addr, size, PROT_NONE, RESERVE_FLAGS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) return -errno;
  if (p != addr) {
    munmap(p, size);
    return -EEXIST;
  }
  return 0;
}

/* A free, granularity-aligned range of `size` bytes, found by reserving
 * and releasing it (nothing else in this single-threaded program maps in
 * between). */
static int find_free(size_t size, char **addr) {
  vmp_region *r;
  int err = vmp_reserve(size, 0, &r);
  if (err) return err;
  *addr = vmp_base(r);
  return vmp_release(r);
}

/* ---- fastmem_ops ------------------------------------------------------------------------
 *
 * A 4 GiB region cut into 4096 slots of 1 MiB, over a 1 GiB object. Each
 * operation picks a random slot: an empty one gets a view of 1 to 16 pages
 * at a random page of the slot and of the object; a full one loses its
 * view, and the free room around it becomes one placeholder again. So the
 * slots fill up to about half, some 2000 views and as many free rooms
 * (about 4000 kernel mappings a side, far from vm.max_map_count with both
 * sides alive). The library side makes one call an operation, as a fastmem
 * arena would: vmp_carve_map cuts the view out of its room and maps it,
 * vmp_unmap_coalesce unmaps it and merges the room back (the end check
 * proves one placeholder a room). The operations are drawn before the
 * clock starts by simulating the slots; both sides walk the same list,
 * batch by batch. No page is touched. */

#define FASTMEM_REGION ((uint64_t)4 << 30)
#define FASTMEM_OBJECT ((uint64_t)1 << 30)
#define FASTMEM_SLOTS 4096
#define FASTMEM_MAX_PAGES 16
#define FASTMEM_OPS 100000
#define FASTMEM_OPS_QUICK 2000

typedef struct fastmem_op {
  size_t first, pages; /* the view, in pages of the region */
  size_t mem_page;     /* the view's first page in the object */
  int map;
} fastmem_op;

/* A slot's view after the last operation drawn; pages 0 when empty. */
typedef struct slot_state {
  size_t first, pages, mem_page;
} slot_state;

typedef struct fastmem_ctx {
  fastmem_op *ops;
  size_t count, page;
  slot_state *slots; /* what the whole list leaves behind */
  size_t slot_pages;
  vmp_region *region;
  vmp_mem *mem;
  char *raw;   /* baseline: the benchmark's own reservation */
  int fd;      /* baseline: the same object as `mem` */
  char *calls; /* the same calls with vmplace's flags (see fastmem_calls_op) */
  size_t at_vmp, at_raw, at_calls;
} fastmem_ctx;

static int draw_fastmem_ops(fastmem_ctx *c, size_t region_pages, size_t mem_pages) {
  c->ops = malloc(c->count * sizeof *c->ops);
  c->slots = calloc(FASTMEM_SLOTS, sizeof *c->slots);
  if (!c->ops || !c->slots) return bench_error("malloc", VMP_ENOMEM);
  slot_state *slots = c->slots;
  size_t slot_pages = c->slot_pages = region_pages / FASTMEM_SLOTS;
  size_t max_pages = slot_pages < FASTMEM_MAX_PAGES ? slot_pages : FASTMEM_MAX_PAGES;
  uint64_t rng = 0xfa57e3u;
  for (size_t i = 0; i < c->count; i++) {
    size_t s = (size_t)(bench_rng(&rng) % FASTMEM_SLOTS);
    fastmem_op *op = &c->ops[i];
    op->first = slots[s].first;
    op->pages = slots[s].pages;
    op->mem_page = slots[s].mem_page;
    op->map = slots[s].pages == 0;
    if (op->map) {
      size_t n = 1 + (size_t)(bench_rng(&rng) % max_pages);
      op->pages = n;
      op->first = s * slot_pages + (size_t)(bench_rng(&rng) % (slot_pages - n + 1));
      op->mem_page = (size_t)(bench_rng(&rng) % (mem_pages - n + 1));
      slots[s] = (slot_state){op->first, n, op->mem_page};
    } else {
      slots[s].pages = 0;
    }
  }
  return 0;
}

static int fastmem_vmp_op(fastmem_ctx *c, const fastmem_op *op) {
  size_t page = c->page, off = op->first * page, size = op->pages * page;
  if (op->map) return vmp_carve_map(c->region, off, size, c->mem, op->mem_page * page, VMP_PROT_RW);
  return vmp_unmap_coalesce(c->region, off, size);
}

/* One operation by raw calls in the reservation `base`, with the flags
 * `placeholder` for a free room mapped back. */
static int fastmem_mmap_op(const fastmem_ctx *c, char *base, int placeholder,
                           const fastmem_op *op) {
  size_t page = c->page, size = op->pages * page;
  char *addr = base + op->first * page;
  void *p;
  if (op->map)
    p = mmap(addr, size, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED, c->fd,
             (off_t)(op->mem_page * page));
  else
    p = mmap(addr, size, PROT_NONE, MAP_FIXED | placeholder, -1, 0);
  return p == MAP_FAILED ? -errno : 0;
}

static int fastmem_raw_op(fastmem_ctx *c, const fastmem_op *op) {
  return fastmem_mmap_op(c, c->raw, RESERVE_FLAGS, op);
}

/* The calls vmplace makes on Linux and POSIX (src/os/unix.c), in a
 * reservation made as vmplace makes it: placeholders without
 * MAP_NORESERVE. Not the bar's baseline; printed so that the library's
 * own overhead over its system calls stays in view. */
static int fastmem_calls_op(fastmem_ctx *c, const fastmem_op *op) {
  return fastmem_mmap_op(c, c->calls, MAP_PRIVATE | MAP_ANONYMOUS, op);
}

/* Both sides run the list in order, each from its own place in it, one
 * call through the same kind of pointer an operation; a batch that would
 * pass the list's end means the counts below are wrong. */
static int fastmem_batch(fastmem_ctx *c, size_t *at, size_t iters, uint64_t *elapsed,
                         int (*op_fn)(fastmem_ctx *, const fastmem_op *)) {
  if (*at + iters > c->count) return VMP_EINVAL;
  const fastmem_op *ops = c->ops + *at;
  *at += iters;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    int err = op_fn(c, &ops[i]);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int fastmem_vmp(void *arg, size_t iters, uint64_t *elapsed) {
  fastmem_ctx *c = arg;
  return fastmem_batch(c, &c->at_vmp, iters, elapsed, fastmem_vmp_op);
}

static int fastmem_raw(void *arg, size_t iters, uint64_t *elapsed) {
  fastmem_ctx *c = arg;
  return fastmem_batch(c, &c->at_raw, iters, elapsed, fastmem_raw_op);
}

static int fastmem_calls(void *arg, size_t iters, uint64_t *elapsed) {
  fastmem_ctx *c = arg;
  return fastmem_batch(c, &c->at_calls, iters, elapsed, fastmem_calls_op);
}

/* The number of lines of /proc/self/maps that overlap [lo, hi), or -1
 * where there is no such file. A line longer than the buffer comes in
 * pieces: only a piece that starts a line is parsed. */
static long kernel_mappings(const char *lo, const char *hi) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return -1;
  char line[512];
  long count = 0;
  int at_start = 1;
  while (fgets(line, sizeof line, f)) {
    unsigned long a, b;
    if (at_start && sscanf(line, "%lx-%lx", &a, &b) == 2 && a < (uintptr_t)hi && b > (uintptr_t)lo)
      count++;
    at_start = strchr(line, '\n') != NULL;
  }
  fclose(f);
  return count;
}

/* What the list leaves behind must be in the region, and nothing else: each
 * view where it was put, showing the object range it was given, and one
 * placeholder for each free room between them. Otherwise the two sides
 * did not do the same work. */
static int check_fastmem_end(fastmem_ctx *c, size_t *views) {
  size_t page = c->page, spans = 0, end = 0;
  *views = 0;
  for (size_t s = 0; s < FASTMEM_SLOTS; s++) {
    const slot_state *v = &c->slots[s];
    if (v->pages == 0) continue;
    vmp_span_info info;
    int err = vmp_query(c->region, (char *)vmp_base(c->region) + v->first * page, &info);
    if (err) return bench_error("vmp_query", err);
    if (info.kind != VMP_VIEW || info.offset != v->first * page || info.size != v->pages * page ||
        info.mem != c->mem || info.mem_offset != (uint64_t)v->mem_page * page) {
      fprintf(stderr, "vmplace_bench: fastmem_ops: slot %zu does not hold its view\n", s);
      return 1;
    }
    spans += v->first > end ? 2 : 1; /* the view, and the room before it */
    end = v->first + v->pages;
    ++*views;
  }
  if (end < FASTMEM_SLOTS * c->slot_pages) spans++;
  if (vmp_span_count(c->region) != spans) {
    fprintf(stderr, "vmplace_bench: fastmem_ops: %zu spans, expected %zu\n",
            vmp_span_count(c->region), spans);
    return 1;
  }
  return 0;
}

static int fastmem_setup(fastmem_ctx *c, size_t iters, int reps) {
  c->page = vmp_page_size();
  c->count = iters * (size_t)(reps + 1);
  size_t region_pages = (size_t)(FASTMEM_REGION / c->page);
  int failed = draw_fastmem_ops(c, region_pages, (size_t)(FASTMEM_OBJECT / c->page));
  if (failed) return failed;
  int err = vmp_mem_create(FASTMEM_OBJECT, 0, &c->mem);
  if (err) return bench_error("vmp_mem_create", err);
  c->fd = (int)vmp_mem_fd(c->mem);
  err = vmp_reserve((size_t)FASTMEM_REGION, 0, &c->region);
  if (err) return bench_error("vmp_reserve", err);
  void *p = mmap(NULL, (size_t)FASTMEM_REGION, PROT_NONE, RESERVE_FLAGS, -1, 0);
  if (p == MAP_FAILED) return bench_error("mmap (baseline reservation)", -errno);
  c->raw = p;
  p = mmap(NULL, (size_t)FASTMEM_REGION, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return bench_error("mmap (reservation for vmplace's calls)", -errno);
  c->calls = p;
  return 0;
}

static void fastmem_teardown(fastmem_ctx *c) {
  if (c->raw) munmap(c->raw, (size_t)FASTMEM_REGION);
  if (c->calls) munmap(c->calls, (size_t)FASTMEM_REGION);
  vmp_release(c->region);
  vmp_mem_close(c->mem);
  free(c->ops);
  free(c->slots);
}

static int run_fastmem(const bench_opts *opts) {
  const char *name = "fastmem_ops", *counts = "fastmem_mappings";
  int want_ops = bench_selected(opts, name), want_counts = bench_selected(opts, counts);
  if (!want_ops && !want_counts) return 0;
  if (FASTMEM_REGION - 1 > (uint64_t)SIZE_MAX) {
    printf("# %s skipped: a 4 GiB region does not fit this address space\n", name);
    return 0;
  }
  /* 50 batches of 2000 (the warm-up and 49 rounds) are the 10^5
   * operations: short batches keep a busy phase of the machine to a few
   * rounds, which the median of the rounds' ratios drops. */
  size_t iters = opts->quick ? FASTMEM_OPS_QUICK / 4 : FASTMEM_OPS / 50;
  int reps = opts->quick ? 3 : 49;
  fastmem_ctx c = {0};
  int failed = fastmem_setup(&c, iters, reps);
  bench_contender pair[3] = {{fastmem_vmp, &c, iters, 0.0},
                             {fastmem_raw, &c, iters, 0.0},
                             {fastmem_calls, &c, iters, 0.0}};
  if (!failed) {
    int err = bench_interleave(pair, 3, reps);
    if (err) failed = bench_error(name, err);
  }
  size_t views = 0;
  if (!failed) failed = check_fastmem_end(&c, &views);
  if (!failed && want_ops) {
    double ratio = bench_round_ratio(0, 1);
    bench_line_ratio(name, pair[0].ns_per_op, pair[1].ns_per_op, ratio, "ns");
    printf(
        "# %s: against the calls vmplace makes (placeholders without MAP_NORESERVE): %.0f ns, "
        "ratio %.3g\n",
        name, pair[2].ns_per_op, bench_round_ratio(0, 2));
    bench_bar(name, "ratio <= 1.11 (vmplace >= 0.9x the baseline's speed)", ratio <= 1.11);
  }
  if (!failed && want_counts) {
    long vmp_count =
        kernel_mappings(vmp_base(c.region), (char *)vmp_base(c.region) + FASTMEM_REGION);
    long raw_count = kernel_mappings(c.raw, c.raw + FASTMEM_REGION);
    if (vmp_count < 0 || raw_count < 0) {
      printf("# %s skipped: no /proc/self/maps to count the mappings in\n", counts);
    } else {
      bench_line_counts(counts, (unsigned long)vmp_count, (unsigned long)raw_count,
                        raw_count ? (double)vmp_count / (double)raw_count : 0.0, "mappings");
      bench_bar(counts, "vmplace <= baseline", vmp_count <= raw_count);
    }
  }
  if (!failed)
    printf("# %s: %zu operations a side, %zu views left in %d slots, vmp_mapping_count %zu\n", name,
           c.count, views, FASTMEM_SLOTS, vmp_mapping_count(c.region));
  fastmem_teardown(&c);
  return failed;
}

/* reserve_at and region_extend: 21 rounds (--quick: 3) of the two sides,
 * the median of the rounds' time ratios, and its bar. */
static int run_timed_pair(const bench_opts *opts, const char *name, bench_batch_fn vmp_fn,
                          bench_batch_fn raw_fn, void *ctx, size_t iters) {
  bench_contender pair[2] = {{vmp_fn, ctx, iters, 0.0}, {raw_fn, ctx, iters, 0.0}};
  int err = bench_interleave(pair, 2, opts->quick ? 3 : 21);
  if (err) return bench_error(name, err);
  double ratio = bench_round_ratio(0, 1);
  bench_line_ratio(name, pair[0].ns_per_op, pair[1].ns_per_op, ratio, "ns");
  bench_bar(name, "ratio <= 1.10", ratio <= 1.10);
  return 0;
}

/* ---- reserve_at ----------------------------------------------------------------------------
 *
 * A reservation of 1 MiB at an address known to be free, and its release,
 * again and again at the same address. */

#define AT_BYTES ((size_t)1 << 20)

typedef struct at_ctx {
  char *addr;
} at_ctx;

static int reserve_at_vmp(void *arg, size_t iters, uint64_t *elapsed) {
  at_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    vmp_region *r;
    int err = vmp_reserve_at(c->addr, AT_BYTES, &r);
    if (err) return err;
    err = vmp_release(r);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int reserve_at_raw(void *arg, size_t iters, uint64_t *elapsed) {
  at_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    int err = raw_reserve_at(c->addr, AT_BYTES);
    if (err) return err;
    if (munmap(c->addr, AT_BYTES) != 0) return -errno;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int run_reserve_at(const bench_opts *opts) {
  const char *name = "reserve_at";
  if (!bench_selected(opts, name)) return 0;
  at_ctx c;
  int err = find_free(AT_BYTES, &c.addr);
  if (err) return bench_error("finding a free address", err);
  size_t iters = opts->quick ? 200 : 2000;
  return run_timed_pair(opts, name, reserve_at_vmp, reserve_at_raw, &c, iters);
}

/* ---- region_extend ----------------------------------------------------------------------
 *
 * A batch starts (untimed) from a fresh 64 KiB reservation at the bottom of
 * a free window, grows it by 64 KiB `iters` times (timed) and gives it all
 * back (untimed). Both sides reserve with the same flags, so each growth
 * is the same kernel work: a new PROT_NONE mapping right after the
 * reservation's end, which the kernel merges into it. */

#define EXTEND_BYTES ((size_t)64 << 10)

typedef struct extend_ctx {
  char *window; /* room for the reservation and every growth of a batch */
  size_t window_bytes;
} extend_ctx;

/* The window was free when found; should anything have been mapped into
 * it since, a batch looks for another one. */
static int claim_window(extend_ctx *c, int (*reserve)(char *addr, void *out), void *out) {
  int err = reserve(c->window, out);
  if (err != VMP_EADDRINUSE && err != -EEXIST) return err;
  err = find_free(c->window_bytes, &c->window);
  return err ? err : reserve(c->window, out);
}

static int reserve_vmp(char *addr, void *out) {
  return vmp_reserve_at(addr, EXTEND_BYTES, (vmp_region **)out);
}

static int reserve_raw(char *addr, void *out) {
  (void)out;
  return raw_reserve_at(addr, EXTEND_BYTES);
}

static int extend_vmp(void *arg, size_t iters, uint64_t *elapsed) {
  extend_ctx *c = arg;
  vmp_region *r;
  int err = claim_window(c, reserve_vmp, &r);
  if (err) return err;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters && !err; i++) err = vmp_extend(r, EXTEND_BYTES);
  *elapsed = bench_now_ns() - t0;
  int released = vmp_release(r);
  return err ? err : released;
}

static int extend_raw(void *arg, size_t iters, uint64_t *elapsed) {
  extend_ctx *c = arg;
  int err = claim_window(c, reserve_raw, NULL);
  if (err) return err;
  char *end = c->window + EXTEND_BYTES;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters && !err; i++) {
    err = raw_reserve_at(end, EXTEND_BYTES);
    if (!err) end += EXTEND_BYTES;
  }
  *elapsed = bench_now_ns() - t0;
  if (munmap(c->window, (size_t)(end - c->window)) != 0 && !err) err = -errno;
  return err;
}

static int run_region_extend(const bench_opts *opts) {
  const char *name = "region_extend";
  if (!bench_selected(opts, name)) return 0;
  size_t iters = opts->quick ? 100 : 1000;
  extend_ctx c = {NULL, (iters + 1) * EXTEND_BYTES};
  int err = find_free(c.window_bytes, &c.window);
  if (err) return bench_error("finding a free window", err);
  return run_timed_pair(opts, name, extend_vmp, extend_raw, &c, iters);
}

int bench_runtimes(const bench_opts *opts) {
  int failed = run_fastmem(opts);
  failed |= run_reserve_at(opts);
  failed |= run_region_extend(opts);
  return failed;
}
