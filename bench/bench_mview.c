/*
 * mview_follow: records per second parsed in place through a view that
 * follows a growing log file (vmp_mview_refresh after each write), against
 * a follower that read()s what the file gained into its own buffer.
 * mview_open_scan_1e4: opening a view of 10^4 one-page files, summing every
 * word and closing it, against 10^4 separate mmaps doing the same (the
 * baselines are in mview_baseline.c, which uses nothing from the library).
 *
 * mview_scan_vs_mmap, mview_scan_vs_read, mview_open_close_1000: reading
 * many files through one contiguous vmp_mview, against one mmap of a single
 * file holding the same bytes, against read() of the files into a buffer;
 * and the cost of building and tearing down a 1000-segment view against
 * mapping the same 1000 files one by one where the kernel likes.
 *
 * The files are made once, in a directory under $TMPDIR (or /tmp), and
 * removed at the end. Every scan checks its sum against the one computed
 * while the bytes were written, and every open checks a stamp in each
 * page: a wrong or missing mapping fails the benchmark.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mview_baseline.h"
#include "vmplace.h"

#define SCAN_SEGMENTS_FULL 64
#define SCAN_SEGMENT_BYTES_FULL ((size_t)4 << 20)
#define SCAN_SEGMENTS_QUICK 8
#define SCAN_SEGMENT_BYTES_QUICK ((size_t)1 << 20)
#define READ_BUFFER_BYTES ((size_t)1 << 20)
#define OPEN_FILES 1000

/* ---- scratch files --------------------------------------------------------- */

typedef struct scratch {
  char dir[256];
  size_t files; /* paths made so far, for the clean-up */
  char **paths;
  size_t capacity;
} scratch;

static int scratch_init(scratch *s) {
  memset(s, 0, sizeof *s);
  const char *tmp = getenv("TMPDIR");
  snprintf(s->dir, sizeof s->dir, "%s/vmplace-bench-mview-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(s->dir) == NULL) return bench_error("mkdtemp", -errno);
  return 0;
}

/* The path of a new file in the directory, remembered for removal. */
static const char *scratch_path(scratch *s, const char *name) {
  if (s->files == s->capacity) {
    size_t n = s->capacity ? 2 * s->capacity : 64;
    char **p = realloc(s->paths, n * sizeof *p);
    if (p == NULL) return NULL;
    s->paths = p;
    s->capacity = n;
  }
  size_t len = strlen(s->dir) + strlen(name) + 2;
  char *path = malloc(len);
  if (path == NULL) return NULL;
  snprintf(path, len, "%s/%s", s->dir, name);
  s->paths[s->files++] = path;
  return path;
}

static void scratch_remove(scratch *s) {
  for (size_t i = 0; i < s->files; i++) {
    unlink(s->paths[i]);
    free(s->paths[i]);
  }
  free(s->paths);
  rmdir(s->dir);
}

static int write_file(const char *path, const void *data, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return -errno;
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int err = w < 0 ? -errno : -EIO;
      close(fd);
      return err;
    }
    p += w;
    n -= (size_t)w;
  }
  return close(fd) == 0 ? 0 : -errno;
}

/* ---- the scan ---------------------------------------------------------------- */

/* One function for every contender, out of line, so that all three run the
 * same instructions; four sums keep it limited by memory, not by adds.
 * Each word is mixed with its position in the whole stream (`index` is the
 * position of w[0]), so bytes in the wrong order give a different sum, not
 * only wrong bytes. */
__attribute__((noinline)) static uint64_t sum_words(const uint64_t *w, size_t n, uint64_t index) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += w[i] ^ (index + i);
    b += w[i + 1] ^ (index + i + 1);
    c += w[i + 2] ^ (index + i + 2);
    d += w[i + 3] ^ (index + i + 3);
  }
  for (; i < n; i++) a += w[i] ^ (index + i);
  return a + b + c + d;
}

typedef struct scan_ctx {
  const char *what;
  const uint64_t *words; /* view and mmap: the mapping */
  size_t bytes;
  const char **paths; /* read: the segment files */
  size_t path_count;
  uint64_t *buffer;
  uint64_t expected;
} scan_ctx;

static int check_sum(const scan_ctx *c, uint64_t sum) {
  if (sum == c->expected) return 0;
  fprintf(stderr, "vmplace_bench: %s: sum %016llx, expected %016llx: the bytes are wrong\n",
          c->what, (unsigned long long)sum, (unsigned long long)c->expected);
  return -EIO;
}

/* `iters` is the byte count, so the median comes out in ns per byte. */
static int scan_mapped(void *arg, size_t iters, uint64_t *elapsed) {
  scan_ctx *c = arg;
  (void)iters;
  uint64_t t0 = bench_now_ns();
  uint64_t sum = sum_words(c->words, c->bytes / sizeof(uint64_t), 0);
  *elapsed = bench_now_ns() - t0;
  return check_sum(c, sum);
}

/* Fills the buffer unless the file ends first; returns the bytes read. */
static ssize_t read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

static int scan_read(void *arg, size_t iters, uint64_t *elapsed) {
  scan_ctx *c = arg;
  (void)iters;
  uint64_t sum = 0, index = 0;
  uint64_t t0 = bench_now_ns();
  for (size_t f = 0; f < c->path_count; f++) {
    int fd = open(c->paths[f], O_RDONLY);
    if (fd < 0) return -errno;
    for (;;) {
      ssize_t n = read_full(fd, c->buffer, READ_BUFFER_BYTES);
      if (n < 0 || n % (ssize_t)sizeof(uint64_t) != 0) {
        int err = n < 0 ? -errno : -EIO;
        close(fd);
        return err;
      }
      if (n == 0) break;
      sum += sum_words(c->buffer, (size_t)n / sizeof(uint64_t), index);
      index += (uint64_t)n / sizeof(uint64_t);
    }
    close(fd);
  }
  *elapsed = bench_now_ns() - t0;
  return check_sum(c, sum);
}

typedef struct scan_data {
  size_t segments, segment_bytes;
  const char **segment_paths;
  const char *single_path;
  uint64_t sum;
} scan_data;

/* Segment files of random words, and one file holding them all in order. */
static int make_scan_files(scratch *s, scan_data *d) {
  char name[32];
  uint64_t rng = 0x6d76696577u;
  uint64_t *words = malloc(d->segment_bytes);
  d->segment_paths = calloc(d->segments, sizeof *d->segment_paths);
  d->single_path = scratch_path(s, "single");
  if (words == NULL || d->segment_paths == NULL || d->single_path == NULL) {
    free(words);
    return -ENOMEM;
  }
  int single = open(d->single_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (single < 0) {
    free(words);
    return -errno;
  }
  int err = 0;
  size_t per_segment = d->segment_bytes / sizeof *words;
  d->sum = 0;
  for (size_t i = 0; i < d->segments && !err; i++) {
    for (size_t k = 0; k < per_segment; k++) words[k] = bench_rng(&rng);
    d->sum += sum_words(words, per_segment, (uint64_t)(i * per_segment));
    snprintf(name, sizeof name, "segment-%03zu", i);
    d->segment_paths[i] = scratch_path(s, name);
    if (d->segment_paths[i] == NULL)
      err = -ENOMEM;
    else
      err = write_file(d->segment_paths[i], words, d->segment_bytes);
    if (!err && write(single, words, d->segment_bytes) != (ssize_t)d->segment_bytes) err = -EIO;
  }
  if (close(single) != 0 && !err) err = -errno;
  free(words);
  return err;
}

static int run_scans(const bench_opts *opts, scratch *s) {
  int want_mmap = bench_selected(opts, "mview_scan_vs_mmap");
  int want_read = bench_selected(opts, "mview_scan_vs_read");
  if (!want_mmap && !want_read) return 0;
  scan_data d = {0};
  d.segments = opts->quick ? SCAN_SEGMENTS_QUICK : SCAN_SEGMENTS_FULL;
  d.segment_bytes = opts->quick ? SCAN_SEGMENT_BYTES_QUICK : SCAN_SEGMENT_BYTES_FULL;
  size_t total = d.segments * d.segment_bytes;
  printf("# mview scans: %zu files of %zu MiB (%zu MiB), in %s\n", d.segments,
         d.segment_bytes >> 20, total >> 20, s->dir);
  fflush(stdout);

  vmp_mview *view = NULL;
  void *single_map = MAP_FAILED;
  int single_fd = -1;
  vmp_segment *segs = NULL;
  uint64_t *buffer = NULL;
  int failed = 0;
  int err = make_scan_files(s, &d);
  if (err) {
    failed = bench_error("creating the scan files", err);
    goto out;
  }

  segs = calloc(d.segments, sizeof *segs);
  buffer = aligned_alloc(4096, READ_BUFFER_BYTES);
  if (segs == NULL || buffer == NULL) {
    failed = bench_error("allocating", -ENOMEM);
    goto out;
  }
  for (size_t i = 0; i < d.segments; i++) segs[i] = (vmp_segment){d.segment_paths[i], -1, 0, 0};
  size_t bad = (size_t)-1;
  err = vmp_mview_open(segs, d.segments, 0, 0, &view, &bad);
  if (err) {
    failed = bench_error("vmp_mview_open", err);
    goto out;
  }
  if (vmp_mview_length(view) != total) {
    fprintf(stderr, "vmplace_bench: the view holds %llu bytes, expected %zu\n",
            (unsigned long long)vmp_mview_length(view), total);
    failed = 1;
    goto out;
  }
  single_fd = open(d.single_path, O_RDONLY);
  if (single_fd >= 0) single_map = mmap(NULL, total, PROT_READ, MAP_SHARED, single_fd, 0);
  if (single_map == MAP_FAILED) {
    failed = bench_error("mapping the single file", -errno);
    goto out;
  }

  /* Both mappings are made before the clock starts and the warm-up scan
   * faults their pages in: the timed scans read mapped memory, as a
   * program that keeps its view open does. */
  scan_ctx via_view = {"view scan", vmp_mview_base(view), total, NULL, 0, NULL, d.sum};
  scan_ctx via_mmap = {"single mmap scan", single_map, total, NULL, 0, NULL, d.sum};
  scan_ctx via_read = {"read scan", NULL, total, d.segment_paths, d.segments, buffer, d.sum};
  bench_contender c[3] = {
      {scan_mapped, &via_view, total, 0.0},
      {scan_mapped, &via_mmap, total, 0.0},
      {scan_read, &via_read, total, 0.0},
  };
  err = bench_interleave(c, 3, opts->quick ? 3 : 9);
  if (err) {
    failed = bench_error("mview scans", err);
    goto out;
  }
  /* ns per byte -> bytes per ns, which is GB/s. */
  double view_gbps = 1.0 / c[0].ns_per_op, mmap_gbps = 1.0 / c[1].ns_per_op,
         read_gbps = 1.0 / c[2].ns_per_op;
  if (want_mmap) {
    bench_line("mview_scan_vs_mmap", view_gbps, mmap_gbps, "GB/s");
    bench_bar("mview_scan_vs_mmap", "ratio >= 0.95", view_gbps / mmap_gbps >= 0.95);
  }
  if (want_read) {
    bench_line("mview_scan_vs_read", view_gbps, read_gbps, "GB/s");
    bench_bar("mview_scan_vs_read", "ratio >= 1.0", view_gbps / read_gbps >= 1.0);
  }

out:
  if (single_map != MAP_FAILED) munmap(single_map, total);
  if (single_fd >= 0) close(single_fd);
  vmp_mview_close(view);
  free(buffer);
  free(segs);
  free(d.segment_paths);
  return failed;
}

/* ---- open + close of 1000 one-page segments ------------------------------- */

typedef struct open_ctx {
  const char **paths;
  vmp_segment *segs;
  void **maps; /* baseline: one mapping per file */
  size_t page;
} open_ctx;

/* Each page starts with its file's number and ends with its complement. */
static uint64_t stamp(size_t i) { return 0x5354414d50000000u + i; }

static int check_page(const char *what, const unsigned char *page, size_t size, size_t i) {
  const uint64_t *first = (const uint64_t *)page;
  const uint64_t *last = (const uint64_t *)(page + size) - 1;
  if (*first == stamp(i) && *last == ~stamp(i)) return 0;
  fprintf(stderr, "vmplace_bench: %s: page %zu shows the wrong file\n", what, i);
  return -EIO;
}

static int open_close_view(void *arg, size_t iters, uint64_t *elapsed) {
  open_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t it = 0; it < iters; it++) {
    vmp_mview *view;
    size_t bad;
    int err = vmp_mview_open(c->segs, OPEN_FILES, 0, 0, &view, &bad);
    if (err) return err;
    const unsigned char *base = vmp_mview_base(view);
    for (size_t i = 0; i < OPEN_FILES && !err; i++)
      err = check_page("view", base + i * c->page, c->page, i);
    int close_err = vmp_mview_close(view);
    if (err || close_err) return err ? err : close_err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int open_close_mmaps(void *arg, size_t iters, uint64_t *elapsed) {
  open_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t it = 0; it < iters; it++) {
    int err = 0;
    size_t mapped = 0;
    for (; mapped < OPEN_FILES; mapped++) {
      int fd = open(c->paths[mapped], O_RDONLY);
      if (fd < 0) {
        err = -errno;
        break;
      }
      void *p = mmap(NULL, c->page, PROT_READ, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) err = -errno;
      close(fd);
      if (err) break;
      c->maps[mapped] = p;
    }
    for (size_t i = 0; i < mapped && !err; i++)
      err = check_page("separate mmaps", c->maps[i], c->page, i);
    for (size_t i = 0; i < mapped; i++) munmap(c->maps[i], c->page);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

/* The library holds every segment's file open while the view exists:
 * 1000 of them plus stdio is close to the usual soft limit of 1024. */
static void raise_file_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max &&
      rl.rlim_cur < 4 * OPEN_FILES) {
    rl.rlim_cur = rl.rlim_max < 4 * OPEN_FILES ? rl.rlim_max : 4 * OPEN_FILES;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static int run_open_close(const bench_opts *opts, scratch *s) {
  const char *name = "mview_open_close_1000";
  if (!bench_selected(opts, name)) return 0;
  raise_file_limit();
  size_t page = vmp_page_size();
  open_ctx c = {calloc(OPEN_FILES, sizeof(char *)), calloc(OPEN_FILES, sizeof(vmp_segment)),
                calloc(OPEN_FILES, sizeof(void *)), page};
  unsigned char *content = calloc(1, page);
  int failed = 0;
  if (c.paths == NULL || c.segs == NULL || c.maps == NULL || content == NULL) {
    failed = bench_error("allocating", -ENOMEM);
    goto out;
  }
  for (size_t i = 0; i < OPEN_FILES; i++) {
    char file[32];
    snprintf(file, sizeof file, "page-%04zu", i);
    uint64_t head = stamp(i), tail = ~stamp(i);
    memcpy(content, &head, sizeof head);
    memcpy(content + page - sizeof tail, &tail, sizeof tail);
    c.paths[i] = scratch_path(s, file);
    int err = c.paths[i] ? write_file(c.paths[i], content, page) : -ENOMEM;
    if (err) {
      failed = bench_error("creating the one-page files", err);
      goto out;
    }
    c.segs[i] = (vmp_segment){c.paths[i], -1, 0, 0};
  }

  bench_contender pair[2] = {
      {open_close_view, &c, opts->quick ? 1 : 5, 0.0},
      {open_close_mmaps, &c, opts->quick ? 1 : 5, 0.0},
  };
  int err = bench_interleave(pair, 2, opts->quick ? 3 : 11);
  if (err) {
    failed = bench_error(name, err);
    goto out;
  }
  bench_line(name, pair[0].ns_per_op / 1e3, pair[1].ns_per_op / 1e3, "us");

out:
  free(content);
  free(c.paths);
  free(c.segs);
  free(c.maps);
  return failed;
}

/* ---- following a growing log -------------------------------------------------- */

#define FOLLOW_BYTES_FULL ((size_t)32 << 20)
#define FOLLOW_BYTES_QUICK ((size_t)2 << 20)
#define FOLLOW_STEP ((size_t)64 << 10) /* what the writer adds between two looks */

typedef struct follow_ctx {
  const char *path;
  const unsigned char *stream; /* the records the writer writes, in order */
  size_t bytes;
  uint64_t records, sum; /* what parsing all of it gives */
  int use_view;
} follow_ctx;

/* The writer's next step, outside the clock. */
static int follow_write(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? -errno : -EIO;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* One batch is the whole log written step by step into a fresh file, the
 * reader catching up after every step; only the reader is timed. */
static int follow_batch(void *arg, size_t iters, uint64_t *elapsed) {
  follow_ctx *c = arg;
  (void)iters;
  int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return -errno;
  vmp_mview *view = NULL;
  mvb_follower f;
  int err;
  if (c->use_view) {
    vmp_segment seg = {c->path, -1, 0, 0};
    err = vmp_mview_open(&seg, 1, c->bytes, 0, &view, NULL);
  } else {
    err = mvb_follower_open(&f, c->path, (size_t)1 << 20);
  }
  if (err) {
    close(fd);
    return err;
  }
  uint64_t spent = 0, records = 0, sum = 0, parsed = 0;
  const unsigned char *base = view ? vmp_mview_base(view) : NULL;
  for (size_t at = 0; at < c->bytes && !err; at += FOLLOW_STEP) {
    size_t step = c->bytes - at < FOLLOW_STEP ? c->bytes - at : FOLLOW_STEP;
    err = follow_write(fd, c->stream + at, step);
    if (err) break;
    uint64_t t0 = bench_now_ns();
    if (view) {
      uint64_t length;
      err = vmp_mview_refresh(view, &length);
      if (!err) parsed += mvb_parse(base + parsed, (size_t)(length - parsed), &records, &sum);
    } else {
      err = mvb_follower_poll(&f);
    }
    spent += bench_now_ns() - t0;
  }
  if (!view) {
    records = f.records;
    sum = f.sum;
    mvb_follower_close(&f);
  }
  vmp_mview_close(view);
  close(fd);
  if (!err && (records != c->records || sum != c->sum)) {
    fprintf(stderr, "vmplace_bench: mview_follow (%s): %llu records, expected %llu\n",
            view ? "view" : "read", (unsigned long long)records, (unsigned long long)c->records);
    err = -EIO;
  }
  *elapsed = spent;
  return err;
}

static int run_follow(const bench_opts *opts, scratch *s) {
  const char *name = "mview_follow";
  if (!bench_selected(opts, name)) return 0;
  size_t bytes = opts->quick ? FOLLOW_BYTES_QUICK : FOLLOW_BYTES_FULL;
  unsigned char *stream = malloc(bytes);
  /* A file a side: truncating and refilling the other side's file in the
   * previous batch must not be part of what this side finds. */
  const char *path = scratch_path(s, "follow-view.log");
  const char *read_path = scratch_path(s, "follow-read.log");
  if (stream == NULL || path == NULL || read_path == NULL) {
    free(stream);
    return bench_error("allocating", -ENOMEM);
  }
  /* Records of 16 to 271 payload bytes; the stream ends with a whole one,
   * and the writer's steps cut records anywhere. */
  uint64_t rng = 0x666f6c6c6f77u;
  size_t at = 0;
  for (;;) {
    uint32_t len = 16u + (uint32_t)(bench_rng(&rng) % 256u);
    if (bytes - at < MVB_HEADER + len) break;
    for (int k = 0; k < 4; k++) stream[at + (size_t)k] = (unsigned char)(len >> (8 * k));
    for (uint32_t i = 0; i < len; i++) stream[at + MVB_HEADER + i] = (unsigned char)bench_rng(&rng);
    at += MVB_HEADER + len;
  }
  follow_ctx view_side = {path, stream, at, 0, 0, 1};
  (void)mvb_parse(stream, at, &view_side.records, &view_side.sum);
  follow_ctx read_side = view_side;
  read_side.use_view = 0;
  read_side.path = read_path;
  printf("# mview_follow: %llu records (%zu KiB) written %zu KiB at a time\n",
         (unsigned long long)view_side.records, at >> 10, FOLLOW_STEP >> 10);
  fflush(stdout);
  bench_contender pair[2] = {
      {follow_batch, &view_side, (size_t)view_side.records, 0.0},
      {follow_batch, &read_side, (size_t)view_side.records, 0.0},
  };
  int err = bench_interleave(pair, 2, opts->quick ? 3 : 9);
  free(stream);
  if (err) return bench_error(name, err);
  /* ns per record -> millions of records per second. */
  double view_rate = 1e3 / pair[0].ns_per_op, read_rate = 1e3 / pair[1].ns_per_op;
  bench_line_ratio(name, view_rate, read_rate, 1.0 / bench_round_ratio(0, 1), "Mrec/s");
  return 0;
}

/* ---- 10^4 segments: open, scan, close ------------------------------------------ */

#define SCALE_FILES 10000

typedef struct scale_ctx {
  const char **paths;
  vmp_segment *segs;
  void **maps;
  size_t *sizes;
  size_t page;
  unsigned flags; /* of the view: VMP_MVIEW_CLOSE_FILES when descriptors are short */
  uint64_t sum;
} scale_ctx;

static int scale_check(const char *what, uint64_t sum, uint64_t expected) {
  if (sum == expected) return 0;
  fprintf(stderr, "vmplace_bench: mview_open_scan_1e4 (%s): wrong sum\n", what);
  return -EIO;
}

static int scale_view(void *arg, size_t iters, uint64_t *elapsed) {
  scale_ctx *c = arg;
  uint64_t t0 = bench_now_ns();
  for (size_t it = 0; it < iters; it++) {
    vmp_mview *view;
    int err = vmp_mview_open(c->segs, SCALE_FILES, 0, c->flags, &view, NULL);
    if (err) return err;
    uint64_t sum =
        mvb_sum_words(vmp_mview_base(view), (size_t)vmp_mview_length(view) / sizeof(uint64_t), 0);
    err = vmp_mview_close(view);
    if (!err) err = scale_check("view", sum, c->sum);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int scale_mmaps(void *arg, size_t iters, uint64_t *elapsed) {
  scale_ctx *c = arg;
  size_t words = c->page / sizeof(uint64_t);
  uint64_t t0 = bench_now_ns();
  for (size_t it = 0; it < iters; it++) {
    int err = mvb_map_each(c->paths, SCALE_FILES, c->maps, c->sizes);
    if (err) return err;
    uint64_t sum = 0;
    for (size_t i = 0; i < SCALE_FILES; i++)
      sum += mvb_sum_words(c->maps[i], words, (uint64_t)(i * words));
    mvb_unmap_each(c->maps, c->sizes, SCALE_FILES);
    err = scale_check("separate mmaps", sum, c->sum);
    if (err) return err;
  }
  *elapsed = bench_now_ns() - t0;
  return 0;
}

static int run_open_scan_1e4(const bench_opts *opts, scratch *s) {
  const char *name = "mview_open_scan_1e4";
  if (!bench_selected(opts, name)) return 0;
  size_t page = vmp_page_size(), words = page / sizeof(uint64_t);
  scale_ctx c = {calloc(SCALE_FILES, sizeof(char *)),
                 calloc(SCALE_FILES, sizeof(vmp_segment)),
                 calloc(SCALE_FILES, sizeof(void *)),
                 calloc(SCALE_FILES, sizeof(size_t)),
                 page,
                 0,
                 0};
  uint64_t *content = malloc(page);
  int failed = 0;
  if (!c.paths || !c.segs || !c.maps || !c.sizes || !content) {
    failed = bench_error("allocating", -ENOMEM);
    goto out;
  }
  uint64_t rng = 0x31653475u;
  for (size_t i = 0; i < SCALE_FILES; i++) {
    char file[32];
    snprintf(file, sizeof file, "shard-%05zu", i);
    for (size_t k = 0; k < words; k++) content[k] = bench_rng(&rng);
    c.sum += mvb_sum_words(content, words, (uint64_t)(i * words));
    c.paths[i] = scratch_path(s, file);
    int err = c.paths[i] ? write_file(c.paths[i], content, page) : -ENOMEM;
    if (err) {
      failed = bench_error("creating the shard files", err);
      goto out;
    }
    c.segs[i] = (vmp_segment){c.paths[i], -1, 0, 0};
  }
  /* A view holds a descriptor per segment unless told not to: with fewer
   * allowed than that, it keeps none (and opens each file twice). */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < SCALE_FILES + 64) {
    rl.rlim_cur = rl.rlim_max < SCALE_FILES + 64 ? rl.rlim_max : SCALE_FILES + 64;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < SCALE_FILES + 64)
    c.flags = VMP_MVIEW_CLOSE_FILES;
  printf("# mview_open_scan_1e4: %d one-page files%s\n", SCALE_FILES,
         c.flags ? ", the view keeping no descriptors (RLIMIT_NOFILE)" : "");
  fflush(stdout);
  bench_contender pair[2] = {
      {scale_view, &c, 1, 0.0},
      {scale_mmaps, &c, 1, 0.0},
  };
  int err = bench_interleave(pair, 2, opts->quick ? 3 : 9);
  if (err) {
    failed = bench_error(name, err);
    goto out;
  }
  bench_line_ratio(name, pair[0].ns_per_op / 1e6, pair[1].ns_per_op / 1e6, bench_round_ratio(0, 1),
                   "ms");
out:
  free(content);
  free(c.paths);
  free(c.segs);
  free(c.maps);
  free(c.sizes);
  return failed;
}

int bench_mview(const bench_opts *opts) {
  if (!bench_selected(opts, "mview_scan_vs_mmap") && !bench_selected(opts, "mview_scan_vs_read") &&
      !bench_selected(opts, "mview_open_close_1000") && !bench_selected(opts, "mview_follow") &&
      !bench_selected(opts, "mview_open_scan_1e4"))
    return 0;
  scratch s;
  if (scratch_init(&s)) return 1;
  int failed = run_scans(opts, &s);
  failed |= run_open_close(opts, &s);
  failed |= run_follow(opts, &s);
  failed |= run_open_scan_1e4(opts, &s);
  scratch_remove(&s);
  return failed;
}
