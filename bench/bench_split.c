/*
 * split_coalesce_*: splitting one page off a two-page placeholder and
 * merging it back, in regions of 10^3, 10^5 and 10^6 spans. The library
 * makes no system call for this, so the interesting figure is how the cost
 * grows with the span count: 10^5 and 10^6 are compared with 10^3 measured
 * in the same run. 10^3 itself is compared with what the kernel charges for
 * the same change to a mapping (mprotect of one page splits a VMA, the
 * reverse merges it). Random positions in a tree far larger than the
 * caches cost memory latency, so the 10^6 figure is also set against one
 * dependent random load in a 64 MiB buffer (split_coalesce_1e6_vs_load).
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "vmplace.h"

typedef struct split_ctx {
  vmp_region *region; /* NULL for the kernel baseline */
  char *raw;          /* kernel baseline: PROT_NONE range of 2N pages */
  int borrowed;       /* region belongs to another contender */
  uint32_t *pages;    /* the page to split off, drawn before timing */
  size_t *chain;      /* load baseline: a random cycle through the buffer */
  size_t chain_at;
  size_t count;
  size_t cursor;
} split_ctx;

/* Each batch takes fresh positions; they wrap only if a batch would run
 * past the end, which the sizing below avoids. */
static const uint32_t *take_positions(split_ctx *c, size_t iters) {
  if (c->cursor + iters > c->count) c->cursor = 0;
  const uint32_t *p = c->pages + c->cursor;
  c->cursor += iters;
  return p;
}

static int split_coalesce_vmp(void *arg, size_t iters, uint64_t *elapsed) {
  split_ctx *c = arg;
  size_t page = vmp_page_size();
  const uint32_t *pages = take_positions(c, iters);
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    size_t pg = pages[i];
    int err = vmp_split(c->region, pg * page, page);
    if (err) return err;
    err = vmp_coalesce(c->region, (pg & ~(size_t)1) * page, 2 * page);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int split_merge_kernel(void *arg, size_t iters, uint64_t *elapsed) {
  split_ctx *c = arg;
  size_t page = vmp_page_size();
  const uint32_t *pages = take_positions(c, iters);
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) {
    char *addr = c->raw + (size_t)pages[i] * page;
    if (mprotect(addr, page, PROT_READ) != 0) return -errno;
    if (mprotect(addr, page, PROT_NONE) != 0) return -errno;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

/* One dependent load per operation, each to a random cache line of a
 * buffer far larger than the caches: the price of a cache miss here. */
static int dependent_loads(void *arg, size_t iters, uint64_t *elapsed) {
  split_ctx *c = arg;
  size_t at = c->chain_at;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < iters; i++) at = c->chain[at];
  *elapsed = bench_now_ns() - t0;
  c->chain_at = at;
  return 0;
}

#define LOAD_BUFFER_BYTES ((size_t)64 << 20)
#define LINE_WORDS (64 / sizeof(size_t))

/* A single cycle through every cache line of the buffer in random order
 * (Sattolo's shuffle), so that no load can be predicted or prefetched. */
static size_t *build_chain(void) {
  size_t lines = LOAD_BUFFER_BYTES / 64;
  size_t *buf = aligned_alloc(64, LOAD_BUFFER_BYTES);
  uint32_t *order = malloc(lines * sizeof *order);
  if (!buf || !order) {
    free(buf);
    free(order);
    return NULL;
  }
  uint64_t rng = 0x10adu;
  for (size_t i = 0; i < lines; i++) order[i] = (uint32_t)i;
  for (size_t i = lines - 1; i > 0; i--) {
    size_t j = (size_t)(bench_rng(&rng) % i);
    uint32_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (size_t i = 0; i < lines; i++)
    buf[(size_t)order[i] * LINE_WORDS] = (size_t)order[(i + 1) % lines] * LINE_WORDS;
  free(order);
  return buf;
}

/* Reserves 2N pages and cuts them into N two-page placeholders. */
static int build_region(size_t spans, vmp_region **out) {
  size_t page = vmp_page_size();
  int err = vmp_reserve(2 * spans * page, 0, out);
  if (err) return bench_error("vmp_reserve", err);
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i + 1 < spans; i++) {
    err = vmp_split(*out, 2 * i * page, 2 * page);
    if (err) return bench_error("vmp_split (building the region)", err);
  }
  uint64_t t1 = bench_now_ns();
  if (vmp_span_count(*out) != spans) {
    fprintf(stderr, "vmplace_bench: built %zu spans, expected %zu\n", vmp_span_count(*out), spans);
    return 1;
  }
  printf("# split_coalesce: built %zu spans in %.1f ms (not timed)\n", spans,
         (double)(t1 - t0) / 1e6);
  fflush(stdout);
  return 0;
}

/* count positions: a random two-page placeholder (or each in turn when
 * sequential) and a random one of its two pages. */
static uint32_t *draw_positions(size_t spans, size_t count, int sequential, uint64_t seed) {
  uint32_t *pages = malloc(count * sizeof *pages);
  if (pages == NULL) return NULL;
  for (size_t i = 0; i < count; i++) {
    uint64_t r = bench_rng(&seed);
    size_t span = sequential ? i % spans : (size_t)((r >> 1) % spans);
    pages[i] = (uint32_t)(2 * span + (r & 1));
  }
  return pages;
}

enum { VMP_1E3, VMP_1E5, VMP_1E6, KERNEL_1E3, VMP_1E6_SEQ, DRAM_LOAD, CONTENDERS };

static const struct {
  const char *line; /* the line this contender is the subject of */
  size_t spans;
  int sequential;
} contender_spec[CONTENDERS] = {
    [VMP_1E3] = {"split_coalesce_1e3", 1000, 0},
    [VMP_1E5] = {"split_coalesce_1e5", 100000, 0},
    [VMP_1E6] = {"split_coalesce_1e6", 1000000, 0},
    [KERNEL_1E3] = {NULL, 1000, 0},
    [VMP_1E6_SEQ] = {"split_coalesce_1e6_sequential", 1000000, 1},
    [DRAM_LOAD] = {NULL, 0, 0},
};

/* Each printed line: its name, the subject and the baseline contender. */
static const struct {
  const char *name;
  int needs[2];
} lines[] = {
    {"split_coalesce_1e3", {VMP_1E3, KERNEL_1E3}},
    {"split_coalesce_1e5", {VMP_1E5, VMP_1E3}},
    {"split_coalesce_1e6", {VMP_1E6, VMP_1E3}},
    {"split_coalesce_1e6_sequential", {VMP_1E6_SEQ, VMP_1E6}},
    {"split_coalesce_1e6_vs_load", {VMP_1E6, DRAM_LOAD}},
};
#define line_needs(l) lines[l].needs
#define LINES (sizeof lines / sizeof lines[0])

static int setup_contender(int which, size_t iters, int reps, split_ctx *all) {
  split_ctx *c = &all[which];
  size_t spans = contender_spec[which].spans;
  if (which == DRAM_LOAD) {
    c->chain = build_chain();
    return c->chain ? 0 : bench_error("malloc", -ENOMEM);
  }
  c->count = iters * (size_t)(reps + 1);
  c->pages = draw_positions(spans, c->count, contender_spec[which].sequential,
                            0x5eed0000u + (uint64_t)which);
  if (c->pages == NULL) return bench_error("malloc", -ENOMEM);
  if (which == KERNEL_1E3) {
    void *p = mmap(NULL, 2 * spans * vmp_page_size(), PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return bench_error("mmap (kernel baseline)", -errno);
    c->raw = p;
    return 0;
  }
  /* The sequential walk runs over the very tree the random one uses, so the
   * two differ only in the order of the positions. */
  if (which == VMP_1E6_SEQ && all[VMP_1E6].region != NULL) {
    c->region = all[VMP_1E6].region;
    c->borrowed = 1;
    return 0;
  }
  return build_region(spans, &c->region);
}

int bench_split(const bench_opts *opts) {
  int needed[CONTENDERS] = {0};
  int printed[LINES] = {0};
  int any = 0;
  for (size_t l = 0; l < LINES; l++) {
    if (bench_selected(opts, lines[l].name)) {
      printed[l] = 1;
      needed[line_needs(l)[0]] = needed[line_needs(l)[1]] = 1;
      any = 1;
    }
  }
  if (!any) return 0;

  /* Many short batches, so that a busy phase of a shared machine spoils a
   * few samples of every contender rather than one contender's figure. */
  int reps = opts->quick ? 3 : 15;
  split_ctx ctx[CONTENDERS] = {{0}};
  bench_contender run[CONTENDERS];
  int slot_of[CONTENDERS];
  size_t used = 0;
  int failed = 0;
  for (int w = 0; w < CONTENDERS && !failed; w++) {
    if (!needed[w]) continue;
    /* The kernel pair costs about ten times the library's: fewer of them
     * keep its batches about as long. */
    size_t iters = w == KERNEL_1E3 ? (opts->quick ? 300 : 4000) : (opts->quick ? 1000 : 20000);
    failed = setup_contender(w, iters, reps, ctx);
    bench_batch_fn fn = w == KERNEL_1E3  ? split_merge_kernel
                        : w == DRAM_LOAD ? dependent_loads
                                         : split_coalesce_vmp;
    run[used] = (bench_contender){fn, &ctx[w], iters, 0.0};
    slot_of[w] = (int)used++;
  }
  if (!failed) {
    int err = bench_interleave(run, used, reps);
    if (err) failed = bench_error("split_coalesce", err);
  }
  for (size_t l = 0; l < LINES && !failed; l++) {
    if (!printed[l]) continue;
    double subject = run[slot_of[line_needs(l)[0]]].ns_per_op;
    double baseline = run[slot_of[line_needs(l)[1]]].ns_per_op;
    bench_line(lines[l].name, subject, baseline, "ns");
    if (line_needs(l)[0] == VMP_1E6 && line_needs(l)[1] == VMP_1E3) {
      bench_bar("split_coalesce_1e6", "ratio <= 2 and vmplace < 300 ns",
                subject / baseline <= 2.0 && subject < 300.0);
    }
  }
  for (int w = 0; w < CONTENDERS; w++) {
    if (ctx[w].raw) munmap(ctx[w].raw, 2 * contender_spec[w].spans * vmp_page_size());
    if (!ctx[w].borrowed) vmp_release(ctx[w].region);
    free(ctx[w].pages);
    free(ctx[w].chain);
  }
  return failed;
}
