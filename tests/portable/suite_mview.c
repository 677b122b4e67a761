/*
 * Contiguous multi-file views on whatever backend is compiled in, Windows
 * under Wine included: open, read, append, locate, check, close with
 * temporary files, the page rule and the errors that name the segment, the
 * kernel's view of the mappings, and failure at every system call and
 * allocation of open and append leaving nothing behind.
 *
 * File offsets and the lengths of segments that are not last are counted
 * in grains (G: 64 KiB rounded up to the page), so the same expectations
 * hold on Windows, where views start at multiples of 64 KiB.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "support_check.h"
#include "support_files.h"
#include "support_kernel.h"
#include "support_steps.h"
#include "support_util.h"
#include "testing.h"
#include "vmplace.h"

#define P (util_page())
#define G (util_grain())
#define NONE ((size_t)-1)

/* ---- files ------------------------------------------------------------------------ */

/* The view's bytes [at, at+size) are the file's [offset, offset+size). */
static int view_shows(vmp_mview *v, size_t at, const char *path, size_t offset, size_t size) {
  unsigned char *want = files_read(path, offset, size);
  if (!want) return 0;
  const unsigned char *got = (const unsigned char *)vmp_mview_base(v) + at;
  size_t i = 0;
  while (i < size && got[i] == want[i]) i++;
  free(want);
  return CHECK(i == size, "view byte %zu differs from byte %zu of %s", at + i, offset + i, path);
}

/* Whether the library takes a file's native descriptor or HANDLE at all
 * (vmp_mem_adopt). The tests of descriptor segments need it; the failure
 * tests fall back to paths without it, so that they still run. */
static int adopt_works(const char *path) {
  intptr_t fd = util_open_native(path, 0);
  if (fd == -1) return 0;
  vmp_mem *m;
  int rc = vmp_mem_adopt(fd, 0, &m);
  if (rc == 0) return vmp_mem_close(m) == 0; /* closes fd */
  util_close_native(fd);
  return 0;
}

/* ---- open, read, close ------------------------------------------------------------ */

CHECK_TEST(open_reads_as_one_buffer) {
  const char *a = files_make(2 * G, 1), *b = files_make(3 * G, 2), *c = files_make(G + 100, 3);
  if (!a || !b || !c) goto out;
  vmp_segment segs[] = {{a, -1, 0, 0}, {b, -1, G, G}, {c, -1, 0, 0}};
  vmp_mview *v = NULL;
  size_t bad = 77;
  if (!CHECK_RC(vmp_mview_open(segs, 3, 0, 0, &v, &bad), 0)) goto out;
  CHECK(vmp_mview_length(v) == 4 * G + 100, "length %llu", (unsigned long long)vmp_mview_length(v));
  CHECK(vmp_mview_segments(v) == 3, "%zu segments", vmp_mview_segments(v));
  size_t unit = vmp_granularity(), pages = (4 * G + 100 + P - 1) / P * P;
  CHECK(vmp_mview_capacity(v) == (pages + unit - 1) / unit * unit,
        "capacity %llu: not just the segments' pages", (unsigned long long)vmp_mview_capacity(v));
  view_shows(v, 0, a, 0, 2 * G);
  view_shows(v, 2 * G, b, G, G);
  view_shows(v, 3 * G, c, 0, G + 100);
  const unsigned char *p = vmp_mview_base(v);
  size_t tail = 4 * G + 100;
  CHECK(util_all_bytes(p + tail, P - tail % P, 0), "the rest of the last page is not zero");
  CHECK_RC(vmp_mview_close(v), 0);
out:
  files_remove();
}

CHECK_TEST(empty_files) {
  const char *a = files_make(G, 1), *empty = files_make(0, 0);
  if (!a || !empty) goto out;
  vmp_segment segs[] = {{empty, -1, 0, 0}, {a, -1, 0, 0}, {empty, -1, 0, 0}};
  vmp_mview *v;
  if (!CHECK_RC(vmp_mview_open(segs, 3, 0, 0, &v, NULL), 0)) goto out;
  CHECK(vmp_mview_length(v) == G && vmp_mview_segments(v) == 3, "length %llu, %zu segments",
        (unsigned long long)vmp_mview_length(v), vmp_mview_segments(v));
  size_t seg = 77;
  uint64_t off = 77;
  CHECK_RC(vmp_mview_locate(v, 0, &seg, &off), 0);
  CHECK(seg == 1 && off == 0, "offset 0 in segment %zu at %llu", seg, (unsigned long long)off);
  CHECK_RC(vmp_mview_locate(v, G, &seg, &off), VMP_ERANGE);
  view_shows(v, 0, a, 0, G);
  CHECK_RC(vmp_mview_close(v), 0);
out:
  files_remove();
}

/* ---- the page rule and the segment at fault --------------------------------------- */

static void expect_open(const vmp_segment *segs, size_t count, uint64_t capacity, unsigned flags,
                        int want, size_t bad_want, const char *what) {
  vmp_mview *v = NULL;
  size_t bad = 77;
  int rc = vmp_mview_open(segs, count, capacity, flags, &v, &bad);
  CHECK(rc == want, "%s: %s, expected %s", what, vmp_err_name(rc), vmp_err_name(want));
  CHECK(bad == bad_want || rc == 0, "%s: bad segment %zu, expected %zu", what, bad, bad_want);
  if (rc == 0) vmp_mview_close(v);
}

CHECK_TEST(errors_name_the_segment) {
  const char *a = files_make(4 * G, 1), *odd = files_make(G + 10, 2);
  if (!a || !odd) goto out;
  vmp_segment odd_length[] = {{a, -1, 0, G}, {a, -1, 0, G + 1}, {a, -1, 0, 0}};
  expect_open(odd_length, 3, 0, 0, VMP_EALIGN, 1, "non-last odd length");
  vmp_segment odd_file[] = {{odd, -1, 0, 0}, {a, -1, 0, 0}};
  expect_open(odd_file, 2, 0, 0, VMP_EALIGN, 0, "non-last odd file");
  vmp_segment odd_offset[] = {{a, -1, 0, 0}, {a, -1, 1, 0}};
  expect_open(odd_offset, 2, 0, 0, VMP_EALIGN, 1, "offset not on a page");
  /* A page offset that is not on 64 KiB maps on every backend. */
  vmp_segment page_offset[] = {{a, -1, P, G}, {a, -1, 3 * P, 0}};
  vmp_mview *pv = NULL;
  size_t pbad = 77;
  if (CHECK_RC(vmp_mview_open(page_offset, 2, 0, 0, &pv, &pbad), 0)) {
    view_shows(pv, 0, a, P, G);
    view_shows(pv, G, a, 3 * P, 4 * G - 3 * P);
    vmp_mview_close(pv);
  }
  vmp_segment past_end[] = {{a, -1, 0, 0}, {odd, -1, G, G}};
  expect_open(past_end, 2, 0, 0, VMP_EBOUNDS, 1, "range past the end");
  vmp_segment too_big[] = {{a, -1, 0, G}, {a, -1, 0, 0}};
  expect_open(too_big, 2, 3 * G, 0, VMP_ERANGE, 1, "capacity too small");
  vmp_segment nameless[] = {{a, -1, 0, 0}, {NULL, -1, 0, 0}};
  expect_open(nameless, 2, 0, 0, VMP_EINVAL, 1, "no path, no descriptor");
  expect_open(nameless, 1, 0, 0x8, VMP_EINVAL, NONE, "unknown flag");

  char missing[640];
  snprintf(missing, sizeof missing, "%s.missing", a);
  vmp_segment absent[] = {{a, -1, 0, 0}, {a, -1, 0, 0}, {missing, -1, 0, 0}};
  vmp_mview *v = NULL;
  size_t bad = 77;
  int rc = vmp_mview_open(absent, 3, 0, 0, &v, &bad);
  CHECK(vmp_err_is_os(rc) && bad == 2, "a missing file: %s, segment %zu", vmp_err_name(rc), bad);
  CHECK(strcmp(vmp_err_name(rc), util_missing_file_error_name()) == 0, "a missing file: %s",
        vmp_err_name(rc));
  if (rc == 0) vmp_mview_close(v);
out:
  files_remove();
}

/* ---- descriptors and write mode --------------------------------------------------- */

CHECK_TEST(descriptors_and_writing) {
  const char *a = files_make(2 * G, 4), *b = files_make(G + 33, 5);
  if (!a || !b) goto out;
  if (!CHECK(adopt_works(b), "vmp_mem_adopt refuses a read-only file's descriptor on %s",
             vmp_capabilities()->backend))
    goto out;
  intptr_t ro = util_open_native(b, 0);
  if (!CHECK(ro != -1, "cannot open %s", b)) goto out;
  vmp_segment segs[] = {{a, -1, 0, 0}, {NULL, ro, 0, 0}};
  expect_open(segs, 2, 0, VMP_MVIEW_WRITE, VMP_EACCES, 1, "write through a read-only descriptor");
  CHECK(util_native_usable(ro), "a failed open closed the caller's descriptor");
  vmp_mview *v;
  if (CHECK_RC(vmp_mview_open(segs, 2, 0, 0, &v, NULL), 0)) {
    view_shows(v, 2 * G, b, 0, G + 33);
    CHECK_RC(vmp_mview_close(v), 0);
  }
  CHECK(util_native_usable(ro), "close closed the caller's descriptor");
  util_close_native(ro);

  vmp_segment by_path[] = {{a, -1, 0, 0}, {b, -1, 0, 0}};
  if (CHECK_RC(vmp_mview_open(by_path, 2, 0, VMP_MVIEW_WRITE, &v, NULL), 0)) {
    unsigned char *p = vmp_mview_base(v);
    p[G + 1] = 0x5a;
    p[2 * G + G + 32] = 0xa5; /* the last byte of b */
    CHECK_RC(vmp_mview_close(v), 0);
    unsigned char *x = files_read(a, G + 1, 1), *y = files_read(b, G + 32, 1);
    CHECK(x && x[0] == 0x5a, "a write did not reach the first file");
    CHECK(y && y[0] == 0xa5, "a write did not reach the last byte of the second file");
    free(x);
    free(y);
  }
out:
  files_remove();
}

/* ---- append, locate, check -------------------------------------------------------- */

CHECK_TEST(append_and_locate) {
  const char *a = files_make(2 * G, 6), *b = files_make(3 * G, 7), *c = files_make(G + 5, 8);
  if (!a || !b || !c) goto out;
  vmp_segment first = {a, -1, 0, 0};
  vmp_mview *v;
  if (!CHECK_RC(vmp_mview_open(&first, 1, 5 * G, 0, &v, NULL), 0)) goto out;
  void *base = vmp_mview_base(v);
  uint64_t capacity = vmp_mview_capacity(v);
  CHECK(capacity == 5 * G, "capacity %llu", (unsigned long long)capacity);
  /* Exactly the room fits; more is an error that changes nothing. */
  vmp_segment whole_b = {b, -1, 0, 0};
  CHECK_RC(vmp_mview_append(v, &whole_b), 0);
  kv_snapshot before, after;
  int have_kernel = kv_take(&before, base, (size_t)capacity) == 0;
  CHECK_RC(vmp_mview_append(v, &whole_b), VMP_ERANGE);
  CHECK(vmp_mview_segments(v) == 2 && vmp_mview_length(v) == 5 * G, "%zu segments, length %llu",
        vmp_mview_segments(v), (unsigned long long)vmp_mview_length(v));
  if (have_kernel && kv_take(&after, base, (size_t)capacity) == 0) {
    CHECK(kv_first_difference(&before, &after) == NONE, "a failed append changed the kernel view");
    kv_free(&after);
  }
  if (have_kernel) kv_free(&before);
  view_shows(v, 2 * G, b, 0, 3 * G);
  CHECK(vmp_mview_base(v) == base, "the base moved");
  CHECK_RC(vmp_mview_close(v), 0);

  /* Room for everything: the base stays, the bytes line up, locate agrees. */
  if (!CHECK_RC(vmp_mview_open(&first, 1, 8 * G, 0, &v, NULL), 0)) goto out;
  base = vmp_mview_base(v);
  vmp_segment mid = {b, -1, G, 2 * G}, last = {c, -1, 0, 0};
  CHECK_RC(vmp_mview_append(v, &mid), 0);
  CHECK_RC(vmp_mview_append(v, &last), 0);
  CHECK(vmp_mview_base(v) == base, "append moved the base");
  CHECK(vmp_mview_length(v) == 5 * G + 5, "length %llu", (unsigned long long)vmp_mview_length(v));
  view_shows(v, 0, a, 0, 2 * G);
  view_shows(v, 2 * G, b, G, 2 * G);
  view_shows(v, 4 * G, c, 0, G + 5);
  CHECK_RC(vmp_mview_append(v, &first), VMP_EALIGN); /* c ends mid-page */
  struct {
    uint64_t at;
    size_t seg;
    uint64_t file_off;
  } cases[] = {{0, 0, 0},     {2 * G - 1, 0, 2 * G - 1}, {2 * G, 1, G}, {4 * G - 1, 1, 3 * G - 1},
               {4 * G, 2, 0}, {5 * G + 4, 2, G + 4}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t seg = 77;
    uint64_t off = 77;
    CHECK_RC(vmp_mview_locate(v, cases[i].at, &seg, &off), 0);
    CHECK(seg == cases[i].seg && off == cases[i].file_off,
          "offset %llu: segment %zu at %llu, expected %zu at %llu", (unsigned long long)cases[i].at,
          seg, (unsigned long long)off, cases[i].seg, (unsigned long long)cases[i].file_off);
  }
  size_t seg;
  uint64_t off;
  CHECK_RC(vmp_mview_locate(v, 5 * G + 5, &seg, &off), VMP_ERANGE);
  CHECK_RC(vmp_mview_check(v, &seg), 0);

  /* The kernel: segment pages are views at their file offsets, the room
   * after them inaccessible. */
  kv_snapshot snap;
  if (kv_take(&snap, base, (size_t)vmp_mview_capacity(v)) == 0) {
    size_t pages = (size_t)vmp_mview_capacity(v) / P, mapped = (5 * G + P) / P;
    for (size_t i = 0; i < pages; i++) {
      int ok;
      if (i < mapped) {
        CHECK_RC(vmp_mview_locate(v, (uint64_t)i * P, &seg, &off), 0);
        ok = kv_page_matches(&snap, i, VMP_VIEW, VMP_PROT_READ, off);
      } else {
        ok = kv_page_matches(&snap, i, VMP_PLACEHOLDER, VMP_PROT_NONE, 0);
      }
      char buf[160];
      if (!CHECK(ok, "page %zu: kernel says %s", i, kv_describe(&snap, i, buf, sizeof buf))) break;
    }
    kv_free(&snap);
  }
  CHECK_RC(vmp_mview_close(v), 0);
out:
  files_remove();
}

/* A file cut short after mapping: check names it. Windows refuses to cut
 * a file that has a view, which is fine too. */
CHECK_TEST(check_sees_a_shrunk_file) {
  const char *a = files_make(G, 1), *b = files_make(3 * G, 2);
  if (!a || !b) goto out;
  vmp_segment segs[] = {{a, -1, 0, 0}, {b, -1, 0, 2 * G}};
  vmp_mview *v;
  if (!CHECK_RC(vmp_mview_open(segs, 2, 0, 0, &v, NULL), 0)) goto out;
  size_t seg = 77;
  CHECK_RC(vmp_mview_check(v, &seg), 0);
  FILE *f = fopen(b, "wb"); /* cuts the file to nothing */
  CHECK((f != NULL) == (vmp_capabilities()->mapped_files_shrink != 0),
        "cutting a mapped file %s, the capabilities say it %s", f ? "worked" : "failed",
        vmp_capabilities()->mapped_files_shrink ? "works" : "is refused");
  if (f) {
    unsigned char *bytes = malloc(G);
    if (bytes) {
      util_fill(bytes, G, 2);
      fwrite(bytes, 1, G, f);
      free(bytes);
    }
    fclose(f);
    CHECK_RC(vmp_mview_check(v, &seg), VMP_EBOUNDS);
    CHECK(seg == 1, "the shrunk segment is %zu", seg);
  } else {
    check_note("the system keeps a mapped file from shrinking: check part skipped");
  }
  CHECK_RC(vmp_mview_close(v), 0);
out:
  files_remove();
}

/* ---- threads ---------------------------------------------------------------------- */

#define THREAD_SEGMENTS 40

typedef struct appender {
  vmp_mview *v;
  const char *path;
  int failures;
  int last_rc;
} appender;

/* Appends grains 1, 2, ... of the file, one segment each. */
static void append_grains(appender *ap) {
  for (size_t i = 1; i <= THREAD_SEGMENTS; i++) {
    vmp_segment seg = {ap->path, -1, i * G, G};
    int rc = vmp_mview_append(ap->v, &seg);
    if (rc) {
      ap->failures++;
      ap->last_rc = rc;
    }
  }
}

static void append_grains_thread(void *arg) { append_grains(arg); }

/* One thread appends while this one locates and reads what is already
 * mapped: every byte read is the file's byte that locate names. */
CHECK_TEST(append_while_reading) {
  const char *f = files_make((THREAD_SEGMENTS + 1) * G, 11);
  if (!f) goto out;
  unsigned char *file = files_read(f, 0, (THREAD_SEGMENTS + 1) * G);
  vmp_segment first = {f, -1, 0, G};
  vmp_mview *v;
  if (!file || !CHECK_RC(vmp_mview_open(&first, 1, (THREAD_SEGMENTS + 1) * G, 0, &v, NULL), 0)) {
    free(file);
    goto out;
  }
  const unsigned char *base = vmp_mview_base(v);
  appender ap = {v, f, 0, 0};
  util_thread thread;
  int started = util_thread_start(&thread, append_grains_thread, &ap);
  if (!CHECK(started, "cannot start a thread")) {
    vmp_mview_close(v);
    free(file);
    goto out;
  }
  unsigned rng = 7;
  int wrong = 0;
  for (;;) {
    size_t segs = vmp_mview_segments(v);
    uint64_t len = vmp_mview_length(v);
    for (int k = 0; k < 32 && !wrong; k++) {
      rng = rng * 1103515245u + 12345u;
      uint64_t at = (rng >> 4) % len;
      size_t seg;
      uint64_t off;
      wrong = vmp_mview_locate(v, at, &seg, &off) != 0 || seg != at / G || off != at ||
              base[at] != file[off];
    }
    if (!CHECK(!wrong, "a byte read during appends is wrong")) break;
    if (segs == THREAD_SEGMENTS + 1) break;
  }
  util_thread_join(&thread);
  CHECK(ap.failures == 0, "%d appends failed, the last with %s", ap.failures,
        vmp_err_name(ap.last_rc));
  CHECK(vmp_mview_base(v) == base, "the base moved");
  CHECK(vmp_mview_length(v) == (THREAD_SEGMENTS + 1) * G, "length %llu",
        (unsigned long long)vmp_mview_length(v));
  CHECK(memcmp(base, file, (THREAD_SEGMENTS + 1) * G) == 0, "the view is not the file");
  CHECK_RC(vmp_mview_close(v), 0);
  free(file);
out:
  files_remove();
}

/* ---- failure at every step -------------------------------------------------------- */

typedef struct open_run {
  vmp_segment segs[3];
  const char *b;
  vmp_mview *v;
  size_t bad;
} open_run;

static int open_setup(void *ctx) {
  open_run *run = ctx;
  run->v = NULL;
  run->bad = 77;
  return 0;
}

static int open_op(void *ctx) {
  open_run *run = ctx;
  return vmp_mview_open(run->segs, 3, 4 * G, 0, &run->v, &run->bad);
}

static void open_check(void *ctx, const steps_attempt *a) {
  open_run *run = ctx;
  if (a->rc != 0) {
    CHECK(run->bad < 3 || run->bad == NONE, "step %ld failing (%s): bad segment %zu", a->n,
          vmp_err_name(a->rc), run->bad);
    return;
  }
  view_shows(run->v, G, run->b, G, G);
  CHECK_RC(vmp_mview_close(run->v), 0);
}

static void open_fails_cleanly(inject_kind kind) {
  const char *a = files_make(G, 1), *b = files_make(2 * G, 2), *c = files_make(G + 7, 3);
  if (!a || !b || !c) goto out;
  intptr_t fb = adopt_works(b) ? util_open_native(b, 0) : -1;
  if (fb == -1) check_note("descriptors cannot be adopted here: a path stands in");
  open_run run = {.segs = {{a, -1, 0, 0}, {fb == -1 ? b : NULL, fb, G, G}, {c, -1, 0, 0}}, .b = b};
  steps_plan plan = {.what = "vmp_mview_open",
                     .kind = kind,
                     .least = 2,
                     .leftovers = 1,
                     STEPS_CALLBACKS(open, &run)};
  steps_run(&plan);
  if (fb != -1) util_close_native(fb);
out:
  files_remove();
}

typedef struct append_run {
  vmp_segment first, by_fd, other;
  const char *b, *c;
  vmp_mview *v;
  int have_kernel;
  kv_snapshot before;
  long handles;
} append_run;

static int append_setup(void *ctx) {
  append_run *run = ctx;
  if (!CHECK_RC(vmp_mview_open(&run->first, 1, 6 * G, 0, &run->v, NULL), 0)) return 1;
  run->have_kernel =
      kv_take(&run->before, vmp_mview_base(run->v), (size_t)vmp_mview_capacity(run->v)) == 0;
  run->handles = util_open_handles();
  return 0;
}

static int append_op(void *ctx) {
  append_run *run = ctx;
  return vmp_mview_append(run->v, &run->by_fd);
}

static void append_check(void *ctx, const steps_attempt *a) {
  append_run *run = ctx;
  vmp_mview *v = run->v;
  if (a->rc == 0) {
    view_shows(v, G, run->b, G, G);
  } else {
    long n = a->n;
    CHECK(vmp_mview_segments(v) == 1 && vmp_mview_length(v) == G,
          "step %ld failing changed the view: %zu segments, length %llu", n, vmp_mview_segments(v),
          (unsigned long long)vmp_mview_length(v));
    CHECK(util_open_handles() == run->handles, "step %ld failing (%s) left %ld handles open", n,
          vmp_err_name(a->rc), util_open_handles() - run->handles);
    kv_snapshot after;
    if (run->have_kernel &&
        kv_take(&after, vmp_mview_base(v), (size_t)vmp_mview_capacity(v)) == 0) {
      size_t i = kv_first_difference(&run->before, &after);
      char x[160], y[160];
      CHECK(i == NONE, "step %ld failing (%s) changed page %zu: %s, now %s", n, vmp_err_name(a->rc),
            i, i == NONE ? "" : kv_describe(&run->before, i, x, sizeof x),
            i == NONE ? "" : kv_describe(&after, i, y, sizeof y));
      kv_free(&after);
    }
    /* The room is whole again: a segment of another size fits. */
    if (CHECK_RC(vmp_mview_append(v, &run->other), 0)) view_shows(v, G, run->c, 0, 2 * G);
  }
  if (run->have_kernel) kv_free(&run->before);
  CHECK_RC(vmp_mview_close(v), 0);
}

static void append_fails_cleanly(inject_kind kind) {
  const char *a = files_make(G, 1), *b = files_make(2 * G, 2), *c = files_make(3 * G, 3);
  if (!a || !b || !c) goto out;
  intptr_t fb = adopt_works(b) ? util_open_native(b, 0) : -1;
  if (fb == -1) check_note("descriptors cannot be adopted here: a path stands in");
  append_run run = {.first = {a, -1, 0, 0},
                    .by_fd = {fb == -1 ? b : NULL, fb, G, G},
                    .other = {c, -1, 0, 2 * G},
                    .b = b,
                    .c = c};
  steps_plan plan = {
      .what = "vmp_mview_append", .kind = kind, .least = 2, STEPS_CALLBACKS(append, &run)};
  steps_run(&plan);
  if (fb != -1) util_close_native(fb);
out:
  files_remove();
}

CHECK_TEST(open_with_each_system_call_failing) { open_fails_cleanly(INJECT_SYSCALL); }
CHECK_TEST(open_with_each_allocation_failing) { open_fails_cleanly(INJECT_ALLOCATION); }
CHECK_TEST(append_with_each_system_call_failing) { append_fails_cleanly(INJECT_SYSCALL); }
CHECK_TEST(append_with_each_allocation_failing) { append_fails_cleanly(INJECT_ALLOCATION); }
