/*
 * Contiguous multi-file views (vmp_mview_*): files and file ranges read as
 * one buffer, the page rule and the errors with the segment at fault,
 * appending without moving the base, locate and check, the kernel's view of
 * the mappings, and failure at every system call and allocation leaving no
 * descriptor, mapping or change behind.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "support_criterion.h"
#include "support_steps.h"
#include "testing.h"
#include "vmplace.h"

#define NONE ((size_t)-1)

/* ---- files ------------------------------------------------------------------------ */

#define MAX_FILES 8
static char made[MAX_FILES][512];
static size_t made_count;

/* Byte i of the file made with this seed: differs between files, between
 * pages and inside a page, so any misplaced byte shows. */
static unsigned char pattern(unsigned seed, uint64_t i) {
  return (unsigned char)(seed * 37u + i * 13u + (i / 4096) * 101u);
}

/* A temporary file of `size` bytes of pattern(seed); removed by .fini. */
static const char *make_file(size_t size, unsigned seed) {
  cr_assert_lt(made_count, MAX_FILES, "too many files for one test");
  char *path = made[made_count];
  cr_assert_eq(vmpt_temp_file(0, 0, path, sizeof made[0]), 0, "cannot create a file");
  made_count++;
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  cr_assert_geq(fd, 0);
  unsigned char *bytes = malloc(size ? size : 1);
  cr_assert(bytes);
  for (size_t i = 0; i < size; i++) bytes[i] = pattern(seed, i);
  cr_assert_eq(write(fd, bytes, size), (ssize_t)size);
  free(bytes);
  close(fd);
  return path;
}

static void remove_files(void) {
  for (size_t i = 0; i < made_count; i++) vmpt_temp_file_remove(made[i]);
  made_count = 0;
}

static int open_file(const char *path, int flags) {
  int fd = open(path, flags | O_CLOEXEC);
  cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
  return fd;
}

static uint64_t file_size(const char *path) {
  struct stat st;
  cr_assert_eq(stat(path, &st), 0);
  return (uint64_t)st.st_size;
}

/* What the view must read: every segment's range, read with pread and
 * concatenated. *length gets the byte count. */
static unsigned char *concatenation(const vmp_segment *segs, size_t count, size_t *length) {
  size_t total = 0, cap = PG;
  unsigned char *out = malloc(cap);
  cr_assert(out);
  for (size_t i = 0; i < count; i++) {
    int fd = segs[i].path ? open_file(segs[i].path, O_RDONLY) : (int)segs[i].fd;
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    size_t len = segs[i].length ? segs[i].length : (size_t)st.st_size - segs[i].offset;
    if (total + len > cap) {
      cap = total + len;
      out = realloc(out, cap);
      cr_assert(out);
    }
    cr_assert_eq(pread(fd, out + total, len, (off_t)segs[i].offset), (ssize_t)len);
    if (segs[i].path) close(fd);
    total += len;
  }
  *length = total;
  return out;
}

static size_t round_up(size_t n, size_t unit) { return (n + unit - 1) / unit * unit; }

static unsigned char *base_of(vmp_mview *v) { return vmp_mview_base(v); }

/* The view reads exactly the concatenation of segs. */
static void check_contents(vmp_mview *v, const vmp_segment *segs, size_t count) {
  size_t len;
  unsigned char *want = concatenation(segs, count, &len);
  cr_assert_eq(vmp_mview_length(v), len, "length %llu, expected %zu",
               (unsigned long long)vmp_mview_length(v), len);
  cr_assert_eq(vmp_mview_segments(v), count);
  const unsigned char *got = base_of(v);
  for (size_t i = 0; i < len; i++)
    if (got[i] != want[i])
      cr_assert_fail("byte %zu of the view is 0x%02x, the files say 0x%02x", i, got[i], want[i]);
  free(want);
}

/* The view's mappings as the kernel lists them, for before/after checks. */
static char *view_maps(vmp_mview *v) {
  char *text = vmpt_maps_region_text(vmp_mview_base(v), (size_t)vmp_mview_capacity(v));
  cr_assert(text);
  return text;
}

/* ---- reading ---------------------------------------------------------------------- */

Test(mview, files_and_ranges_read_as_one_buffer, .fini = remove_files) {
  const char *a = make_file(3 * PG, 1), *b = make_file(5 * PG, 2), *c = make_file(2 * PG + 100, 3);
  vmp_segment segs[] = {
      {a, -1, 0, 0},       /* the whole file */
      {b, -1, PG, 2 * PG}, /* pages 1-2 */
      {c, -1, 0, 0},       /* to the end: the last page is partial */
  };
  vmp_mview *v;
  size_t bad = 77;
  CHECK_OK(vmp_mview_open(segs, 3, 0, 0, &v, &bad));
  check_contents(v, segs, 3);
  cr_assert_eq(vmp_mview_length(v), 7 * PG + 100);
  cr_assert_eq(vmp_mview_capacity(v), round_up(8 * PG, vmp_granularity()),
               "capacity 0 reserves just the segments' pages");
  /* The rest of the last page reads as zeros. */
  const unsigned char *p = base_of(v);
  for (size_t i = 7 * PG + 100; i < 8 * PG; i++) cr_assert_eq(p[i], 0, "tail byte %zu", i);
  CHECK_OK(vmp_mview_close(v));
}

Test(mview, read_only_by_default, .signal = SIGSEGV, .fini = remove_files) {
  const char *a = make_file(PG, 1);
  vmp_segment seg = {a, -1, 0, 0};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&seg, 1, 0, 0, &v, NULL));
  cr_assert_eq(base_of(v)[0], pattern(1, 0));
  *(volatile unsigned char *)base_of(v) = 1;
}

Test(mview, length_zero_means_to_the_end, .fini = remove_files) {
  const char *a = make_file(6 * PG, 4);
  vmp_segment segs[] = {{a, -1, 2 * PG, 0}, {a, -1, 0, 0}};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(segs, 2, 0, 0, &v, NULL));
  cr_assert_eq(vmp_mview_length(v), 10 * PG);
  check_contents(v, segs, 2);
  CHECK_OK(vmp_mview_close(v));
}

Test(mview, empty_files_are_segments_that_map_nothing, .fini = remove_files) {
  const char *a = make_file(PG, 1), *empty = make_file(0, 0), *b = make_file(2 * PG, 2);
  vmp_segment segs[] = {{empty, -1, 0, 0}, {a, -1, 0, 0}, {empty, -1, 0, 0}, {b, -1, 0, 0}};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(segs, 4, 0, 0, &v, NULL));
  cr_assert_eq(vmp_mview_segments(v), 4);
  check_contents(v, segs, 4);
  size_t seg;
  uint64_t off;
  CHECK_OK(vmp_mview_locate(v, 0, &seg, &off));
  cr_assert_eq(seg, 1, "offset 0 is in segment 1 (0 is empty), got %zu", seg);
  CHECK_OK(vmp_mview_locate(v, PG, &seg, &off));
  cr_assert_eq(seg, 3, "offset PG is in segment 3 (2 is empty), got %zu", seg);
  cr_assert_eq(off, 0);
  CHECK_OK(vmp_mview_close(v));

  /* Nothing but empty files: a view of no bytes, with room to append. */
  CHECK_OK(vmp_mview_open(segs, 1, 0, 0, &v, NULL));
  cr_assert_eq(vmp_mview_length(v), 0);
  cr_assert_geq(vmp_mview_capacity(v), vmp_granularity());
  CHECK_RC(vmp_mview_locate(v, 0, &seg, &off), VMP_ERANGE);
  vmp_segment more = {a, -1, 0, 0};
  CHECK_OK(vmp_mview_append(v, &more));
  cr_assert_eq(base_of(v)[PG - 1], pattern(1, PG - 1));
  CHECK_OK(vmp_mview_close(v));

  /* No segments at all. */
  CHECK_OK(vmp_mview_open(NULL, 0, 4 * PG, 0, &v, NULL));
  cr_assert_eq(vmp_mview_segments(v), 0);
  cr_assert_geq(vmp_mview_capacity(v), 4 * PG);
  CHECK_OK(vmp_mview_close(v));
}

Test(mview, last_file_of_odd_size, .fini = remove_files) {
  const char *a = make_file(2 * PG, 1), *odd = make_file(PG + 1234, 2);
  vmp_segment segs[] = {{a, -1, 0, 0}, {odd, -1, 0, 0}};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(segs, 2, 0, 0, &v, NULL));
  cr_assert_eq(vmp_mview_length(v), 3 * PG + 1234, "the length is exact");
  check_contents(v, segs, 2);
  const unsigned char *p = base_of(v);
  for (size_t i = 3 * PG + 1234; i < 4 * PG; i++) cr_assert_eq(p[i], 0, "tail byte %zu", i);
  CHECK_OK(vmp_mview_close(v));
}

/* ---- errors name the segment ------------------------------------------------------ */

/* Opens and expects `want` with bad segment `bad_want`, and that nothing
 * was left open or mapped. */
static void expect_open_error(const vmp_segment *segs, size_t count, uint64_t capacity,
                              unsigned flags, int want, size_t bad_want) {
  size_t fds = vmpt_fd_count();
  vmpt_outside *before = vmpt_outside_take(NULL, 0);
  cr_assert(before);
  static char untouched;
  vmp_mview *v = (vmp_mview *)&untouched;
  size_t bad = 77;
  int rc = vmp_mview_open(segs, count, capacity, flags, &v, &bad);
  cr_assert_eq(rc, want, "open gave %s (%d), expected %s", vmp_err_name(rc), rc,
               vmp_err_name(want));
  cr_assert_eq(bad, bad_want, "bad segment %zu, expected %zu", bad, bad_want);
  cr_assert_eq(v, (vmp_mview *)&untouched, "a failed open wrote *out");
  cr_assert_eq(vmpt_fd_count(), fds, "a failed open left a descriptor open");
  char why[4096];
  cr_assert_eq(vmpt_outside_compare(before, why, sizeof why), 0,
               "a failed open changed the mappings: %s", why);
  vmpt_outside_free(before);
}

Test(mview, page_rule, .fini = remove_files) {
  const char *a = make_file(4 * PG, 1), *odd = make_file(PG + 10, 2);
  /* A segment that is not last with an odd length, given or resolved. */
  vmp_segment given[] = {{a, -1, 0, PG}, {a, -1, 0, PG + 1}, {a, -1, 0, 0}};
  expect_open_error(given, 3, 0, 0, VMP_EALIGN, 1);
  vmp_segment resolved[] = {{a, -1, 0, 0}, {odd, -1, 0, 0}, {a, -1, 0, 0}};
  expect_open_error(resolved, 3, 0, 0, VMP_EALIGN, 1);
  /* An offset that is not a multiple of the page, in any segment. */
  vmp_segment offset_last[] = {{a, -1, 0, 0}, {a, -1, 0, 0}, {a, -1, 100, 0}};
  expect_open_error(offset_last, 3, 0, 0, VMP_EALIGN, 2);
  vmp_segment offset_first[] = {{a, -1, PG / 2, PG}, {a, -1, 0, 0}};
  expect_open_error(offset_first, 2, 0, 0, VMP_EALIGN, 0);
  /* The last segment may end anywhere. */
  vmp_segment fine[] = {{a, -1, 0, PG}, {a, -1, 0, PG + 1}};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(fine, 2, 0, 0, &v, NULL));
  cr_assert_eq(vmp_mview_length(v), 2 * PG + 1);
  check_contents(v, fine, 2);
  CHECK_OK(vmp_mview_close(v));
}

Test(mview, range_past_the_end_is_ebounds, .fini = remove_files) {
  const char *a = make_file(2 * PG, 1), *b = make_file(3 * PG, 2);
  vmp_segment long_range[] = {{a, -1, 0, 0}, {b, -1, PG, 3 * PG}};
  expect_open_error(long_range, 2, 0, 0, VMP_EBOUNDS, 1);
  vmp_segment far_offset[] = {{a, -1, 4 * PG, 0}, {b, -1, 0, 0}};
  expect_open_error(far_offset, 2, 0, 0, VMP_EBOUNDS, 0);
  /* Exactly to the end is fine, and an offset at the end is an empty segment. */
  vmp_segment exact[] = {{b, -1, PG, 2 * PG}, {a, -1, 2 * PG, 0}};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(exact, 2, 0, 0, &v, NULL));
  cr_assert_eq(vmp_mview_length(v), 2 * PG);
  CHECK_OK(vmp_mview_close(v));
}

Test(mview, missing_file_keeps_its_native_error, .fini = remove_files) {
  const char *a = make_file(PG, 1);
  char missing[600];
  snprintf(missing, sizeof missing, "%s.missing", a);
  vmp_segment segs[] = {{a, -1, 0, 0}, {missing, -1, 0, 0}, {a, -1, 0, 0}};
  expect_open_error(segs, 3, 0, 0, -ENOENT, 1);
  cr_assert_eq(vmp_err_os_code(-ENOENT), ENOENT);
}

Test(mview, invalid_arguments, .fini = remove_files) {
  const char *a = make_file(PG, 1);
  vmp_segment good = {a, -1, 0, 0};
  vmp_mview *v;
  size_t bad = 77;
  CHECK_RC(vmp_mview_open(&good, 1, 0, 0, NULL, &bad), VMP_EINVAL);
  cr_assert_eq(bad, NONE);
  CHECK_RC(vmp_mview_open(NULL, 1, 0, 0, &v, &bad), VMP_EINVAL);
  CHECK_RC(vmp_mview_open(&good, 1, 0, 0x4, &v, &bad), VMP_EINVAL);
  cr_assert_eq(bad, NONE);
  /* Neither path nor descriptor: EINVAL before the other segment's EALIGN. */
  vmp_segment nameless[] = {{a, -1, 1, 0}, {NULL, -1, 0, 0}};
  expect_open_error(nameless, 2, 0, 0, VMP_EINVAL, 1);
  /* A directory is not a regular file. */
  char dir[512];
  snprintf(dir, sizeof dir, "%s", a);
  *strrchr(dir, '/') = '\0';
  vmp_segment directory[] = {{a, -1, 0, 0}, {dir, -1, 0, 0}};
  expect_open_error(directory, 2, 0, 0, VMP_EINVAL, 1);
  /* The other calls. */
  CHECK_OK(vmp_mview_open(&good, 1, 0, 0, &v, NULL));
  CHECK_RC(vmp_mview_append(NULL, &good), VMP_EINVAL);
  CHECK_RC(vmp_mview_append(v, NULL), VMP_EINVAL);
  vmp_segment none = {NULL, -1, 0, 0};
  CHECK_RC(vmp_mview_append(v, &none), VMP_EINVAL);
  size_t seg;
  uint64_t off;
  CHECK_RC(vmp_mview_locate(NULL, 0, &seg, &off), VMP_EINVAL);
  CHECK_RC(vmp_mview_locate(v, 0, NULL, &off), VMP_EINVAL);
  CHECK_RC(vmp_mview_locate(v, 0, &seg, NULL), VMP_EINVAL);
  CHECK_RC(vmp_mview_check(NULL, &seg), VMP_EINVAL);
  cr_assert_null(vmp_mview_base(NULL));
  cr_assert_eq(vmp_mview_length(NULL), 0);
  cr_assert_eq(vmp_mview_capacity(NULL), 0);
  cr_assert_eq(vmp_mview_segments(NULL), 0);
  CHECK_OK(vmp_mview_close(NULL));
  CHECK_OK(vmp_mview_close(v));
}

Test(mview, write_mode_needs_a_writable_file, .fini = remove_files) {
  const char *a = make_file(PG, 1), *b = make_file(PG, 2);
  int ro = open_file(b, O_RDONLY);
  vmp_segment by_fd[] = {{a, -1, 0, 0}, {NULL, ro, 0, 0}};
  expect_open_error(by_fd, 2, 0, VMP_MVIEW_WRITE, VMP_EACCES, 1);
  cr_assert_neq(fcntl(ro, F_GETFD), -1, "the caller's descriptor was closed");
  /* Read-only, the same descriptor is fine. */
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(by_fd, 2, 0, 0, &v, NULL));
  CHECK_OK(vmp_mview_close(v));
  close(ro);

  if (geteuid() == 0) {
    cr_log_info("running as root: a file's mode bits do not stop its opening for writing");
    return;
  }
  cr_assert_eq(chmod(b, 0444), 0);
  vmp_segment by_path[] = {{a, -1, 0, 0}, {b, -1, 0, 0}};
  expect_open_error(by_path, 2, 0, VMP_MVIEW_WRITE, -EACCES, 1);
}

Test(mview, writes_reach_the_files, .fini = remove_files) {
  const char *a = make_file(2 * PG, 1), *b = make_file(PG + 7, 2);
  vmp_segment segs[] = {{a, -1, 0, 0}, {b, -1, 0, 0}};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(segs, 2, 0, VMP_MVIEW_WRITE, &v, NULL));
  unsigned char *p = base_of(v);
  p[5] = 0xab;
  p[2 * PG + PG + 6] = 0xcd; /* the last byte of b */
  CHECK_OK(vmp_mview_close(v));
  unsigned char byte;
  int fd = open_file(a, O_RDONLY);
  cr_assert_eq(pread(fd, &byte, 1, 5), 1);
  cr_assert_eq(byte, 0xab);
  close(fd);
  fd = open_file(b, O_RDONLY);
  cr_assert_eq(pread(fd, &byte, 1, (off_t)(PG + 6)), 1);
  cr_assert_eq(byte, 0xcd);
  close(fd);
  cr_assert_eq(file_size(b), PG + 7, "the file kept its size");
}

/* ---- descriptors ------------------------------------------------------------------ */

Test(mview, descriptor_segments_stay_the_callers, .fini = remove_files) {
  const char *a = make_file(3 * PG, 1), *b = make_file(2 * PG, 2);
  int fa = open_file(a, O_RDONLY), fb = open_file(b, O_RDWR);
  vmp_segment segs[] = {{NULL, fa, PG, PG}, {NULL, fb, 0, 0}, {a, -1, 0, PG}};
  size_t fds = vmpt_fd_count();
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(segs, 3, 0, 0, &v, NULL));
  check_contents(v, segs, 3);
  cr_assert_eq(vmpt_fd_count(), fds + 3, "the view holds one descriptor per segment");
  CHECK_OK(vmp_mview_close(v));
  cr_assert_eq(vmpt_fd_count(), fds, "close left descriptors open");
  /* The caller's descriptors still work. */
  unsigned char byte;
  cr_assert_eq(pread(fa, &byte, 1, (off_t)(PG + 3)), 1);
  cr_assert_eq(byte, pattern(1, PG + 3));
  cr_assert_eq(pwrite(fb, "x", 1, 0), 1);
  close(fa);
  close(fb);
}

/* ---- capacity and append ---------------------------------------------------------- */

Test(mview, append_fills_the_room_without_moving, .fini = remove_files) {
  const char *a = make_file(2 * PG, 1), *b = make_file(3 * PG, 2), *c = make_file(PG + 9, 3);
  vmp_segment segs[] = {{a, -1, 0, 0}, {NULL, -1, 0, 0}, {c, -1, 0, 0}};
  int fb = open_file(b, O_RDONLY);
  segs[1].fd = fb;
  size_t capacity = round_up(6 * PG + 9, vmp_granularity());
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(segs, 1, 6 * PG + 9, 0, &v, NULL));
  cr_assert_eq(vmp_mview_capacity(v), capacity);
  void *base = vmp_mview_base(v);
  CHECK_OK(vmp_mview_append(v, &segs[1]));
  cr_assert_eq(vmp_mview_base(v), base);
  check_contents(v, segs, 2);
  CHECK_OK(vmp_mview_append(v, &segs[2]));
  cr_assert_eq(vmp_mview_base(v), base);
  check_contents(v, segs, 3);
  /* The last segment ends mid-page: nothing can follow it. */
  CHECK_RC(vmp_mview_append(v, &segs[0]), VMP_EALIGN);
  cr_assert_eq(vmp_mview_segments(v), 3);
  CHECK_OK(vmp_mview_close(v));
  close(fb);
}

Test(mview, append_past_the_capacity_changes_nothing, .fini = remove_files) {
  const char *a = make_file(2 * PG, 1), *big = make_file(64 * PG, 2);
  vmp_segment first = {a, -1, 0, 0};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&first, 1, 8 * PG, 0, &v, NULL));
  size_t room = (size_t)vmp_mview_capacity(v) - 2 * PG;
  char *maps = view_maps(v);
  size_t fds = vmpt_fd_count();
  vmp_segment too_big = {big, -1, 0, room + PG};
  CHECK_RC(vmp_mview_append(v, &too_big), VMP_ERANGE);
  vmp_segment to_end = {big, -1, 0, 0}; /* 64 pages resolved, still too many */
  if (64 * PG > room) CHECK_RC(vmp_mview_append(v, &to_end), VMP_ERANGE);
  char *now = view_maps(v);
  cr_assert_str_eq(now, maps, "a failed append changed the mappings");
  cr_assert_eq(vmp_mview_length(v), 2 * PG);
  cr_assert_eq(vmp_mview_segments(v), 1);
  cr_assert_eq(vmpt_fd_count(), fds);
  free(now);
  /* Exactly the room fits. */
  vmp_segment exact = {big, -1, 0, room};
  CHECK_OK(vmp_mview_append(v, &exact));
  cr_assert_eq(vmp_mview_length(v), vmp_mview_capacity(v));
  vmp_segment one_more = {a, -1, 0, PG};
  CHECK_RC(vmp_mview_append(v, &one_more), VMP_ERANGE);
  free(maps);
  CHECK_OK(vmp_mview_close(v));
}

Test(mview, capacity_smaller_than_the_segments, .fini = remove_files) {
  const char *a = make_file(PG, 1), *b = make_file(2 * PG, 2);
  vmp_segment segs[] = {{a, -1, 0, 0}, {b, -1, 0, 0}};
  expect_open_error(segs, 2, 2 * PG, 0, VMP_ERANGE, 1);
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(segs, 2, 3 * PG, 0, &v, NULL));
  CHECK_OK(vmp_mview_close(v));
}

/* Found by fuzz/fuzz_mview.c: the bookkeeping was allocated before the
 * files were judged, so with memory short a segment past its file's end,
 * a "to the end" length that turns out odd, or a capacity too small came
 * back as VMP_ENOMEM, which the argument order puts after all of them.
 * Every allocation of the call fails in turn; the answer stays the same. */
static void expect_error_whatever_allocation_fails(const vmp_segment *segs, size_t count,
                                                   uint64_t capacity, int want, size_t want_bad) {
  for (long n = 0; n < 8; n++) {
    vmp_mview *v = NULL;
    size_t bad = 0;
    size_t fds = vmpt_fd_count();
    vmp__testing_alloc_fail_after(n);
    int rc = vmp_mview_open(segs, count, capacity, 0, &v, &bad);
    vmp__testing_alloc_disarm();
    CHECK_RC(rc, want);
    cr_assert_eq(bad, want_bad, "allocation %ld failing: segment %zu named, not %zu", n, bad,
                 want_bad);
    cr_assert_eq(vmpt_fd_count(), fds, "a failed open left a descriptor open");
  }
}

Test(mview, file_errors_come_before_enomem, .fini = remove_files) {
  const char *a = make_file(2 * PG, 1), *b = make_file(3 * PG, 2), *odd = make_file(PG + 7, 3);
  vmp_segment past_end[] = {{a, -1, 0, 0}, {b, -1, PG, 3 * PG}};
  expect_error_whatever_allocation_fails(past_end, 2, 0, VMP_EBOUNDS, 1);
  vmp_segment odd_first[] = {{odd, -1, 0, 0}, {a, -1, 0, 0}};
  expect_error_whatever_allocation_fails(odd_first, 2, 0, VMP_EALIGN, 0);
  vmp_segment too_big[] = {{a, -1, 0, 0}, {b, -1, 0, 0}};
  expect_error_whatever_allocation_fails(too_big, 2, 2 * PG, VMP_ERANGE, 1);
  /* Every file is judged before the capacity: a later segment's directory
   * beats an earlier segment's not fitting. */
  vmp_segment too_big_then_dir[] = {{a, -1, 0, 0}, {b, -1, 0, 0}, {vmpt_tmpdir(), -1, 0, 0}};
  expect_error_whatever_allocation_fails(too_big_then_dir, 3, 2 * PG, VMP_EINVAL, 2);

  vmp_mview *v;
  CHECK_OK(vmp_mview_open(past_end, 1, 4 * PG, 0, &v, NULL));
  for (long n = 0; n < 4; n++) {
    vmp__testing_alloc_fail_after(n);
    int rc = vmp_mview_append(v, &past_end[1]);
    vmp__testing_alloc_disarm();
    CHECK_RC(rc, VMP_EBOUNDS);
    vmp__testing_alloc_fail_after(n);
    rc = vmp_mview_append(v, &too_big[1]);
    vmp__testing_alloc_disarm();
    CHECK_RC(rc, VMP_ERANGE);
  }
  cr_assert_eq(vmp_mview_segments(v), 1);
  CHECK_OK(vmp_mview_close(v));
}

Test(mview, append_errors_name_nothing_and_change_nothing, .fini = remove_files) {
  const char *a = make_file(2 * PG, 1);
  vmp_segment first = {a, -1, 0, 0};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&first, 1, 16 * PG, 0, &v, NULL));
  char *maps = view_maps(v);
  char missing[600];
  snprintf(missing, sizeof missing, "%s.missing", a);
  vmp_segment bad_offset = {a, -1, 1, 0}, past_end = {a, -1, PG, 2 * PG},
              absent = {missing, -1, 0, 0};
  CHECK_RC(vmp_mview_append(v, &bad_offset), VMP_EALIGN);
  CHECK_RC(vmp_mview_append(v, &past_end), VMP_EBOUNDS);
  CHECK_RC(vmp_mview_append(v, &absent), -ENOENT);
  char *now = view_maps(v);
  cr_assert_str_eq(now, maps);
  cr_assert_eq(vmp_mview_segments(v), 1);
  free(now);
  free(maps);
  CHECK_OK(vmp_mview_close(v));
}

/* ---- locate ----------------------------------------------------------------------- */

/* Three segments: pages [1,3) of a file, the first page of another and
 * the rest of it from its second page on. */
static vmp_mview *three_segments(vmp_segment segs[3]) {
  const char *a = make_file(4 * PG, 1), *b = make_file(3 * PG + 5, 2);
  vmp_segment want[] = {{a, -1, PG, 2 * PG}, {b, -1, 0, PG}, {b, -1, PG, 0}};
  memcpy(segs, want, sizeof want);
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(segs, 3, 0, 0, &v, NULL));
  return v;
}

Test(mview, locate_at_the_boundaries, .fini = remove_files) {
  vmp_segment segs[3];
  vmp_mview *v = three_segments(segs);
  uint64_t len = vmp_mview_length(v);
  cr_assert_eq(len, 5 * PG + 5);
  struct {
    uint64_t at;
    size_t seg;
    uint64_t file_off;
  } cases[] = {
      {0, 0, PG},      {2 * PG - 1, 0, 3 * PG - 1}, {2 * PG, 1, 0}, {3 * PG - 1, 1, PG - 1},
      {3 * PG, 2, PG}, {len - 1, 2, 3 * PG + 4},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t seg = 99;
    uint64_t off = 99;
    CHECK_OK(vmp_mview_locate(v, cases[i].at, &seg, &off));
    cr_assert_eq(seg, cases[i].seg, "offset %llu: segment %zu, expected %zu",
                 (unsigned long long)cases[i].at, seg, cases[i].seg);
    cr_assert_eq(off, cases[i].file_off, "offset %llu: file offset %llu, expected %llu",
                 (unsigned long long)cases[i].at, (unsigned long long)off,
                 (unsigned long long)cases[i].file_off);
  }
  size_t seg;
  uint64_t off;
  CHECK_RC(vmp_mview_locate(v, len, &seg, &off), VMP_ERANGE);
  CHECK_RC(vmp_mview_locate(v, UINT64_MAX, &seg, &off), VMP_ERANGE);
  CHECK_OK(vmp_mview_close(v));
}

/* describe gives each segment's range and a descriptor of the very file the
 * view mapped: reading through it gives the view's bytes. */
Test(mview, describe_names_each_segment_and_its_file, .fini = remove_files) {
  vmp_segment segs[3];
  vmp_mview *v = three_segments(segs);
  const unsigned char *base = base_of(v);
  uint64_t want_start[] = {0, 2 * PG, 3 * PG}, want_len[] = {2 * PG, PG, 2 * PG + 5};
  for (size_t i = 0; i < 3; i++) {
    vmp_mview_segment_info info;
    CHECK_OK(vmp_mview_describe(v, i, &info));
    cr_assert_eq(info.view_offset, want_start[i], "segment %zu starts at %llu", i,
                 (unsigned long long)info.view_offset);
    cr_assert_eq(info.length, want_len[i], "segment %zu is %llu bytes", i,
                 (unsigned long long)info.length);
    cr_assert_eq(info.file_offset, segs[i].offset, "segment %zu", i);
    unsigned char *buf = malloc((size_t)info.length);
    cr_assert(buf);
    cr_assert_eq(pread((int)info.fd, buf, (size_t)info.length, (off_t)info.file_offset),
                 (ssize_t)info.length, "segment %zu: reading its descriptor", i);
    cr_assert_eq(memcmp(buf, base + info.view_offset, (size_t)info.length), 0,
                 "segment %zu: the descriptor is not the mapped file", i);
    free(buf);
  }
  vmp_mview_segment_info info;
  CHECK_RC(vmp_mview_describe(v, 3, &info), VMP_ERANGE);
  CHECK_RC(vmp_mview_describe(v, 0, NULL), VMP_EINVAL);
  CHECK_RC(vmp_mview_describe(NULL, 0, &info), VMP_EINVAL);
  CHECK_OK(vmp_mview_close(v));
}

/* ---- check and shrinking files ---------------------------------------------------- */

Test(mview, check_reports_the_first_shrunk_file, .fini = remove_files) {
  const char *a = make_file(2 * PG, 1), *b = make_file(3 * PG, 2), *c = make_file(2 * PG, 3);
  vmp_segment segs[] = {{a, -1, 0, 0}, {b, -1, 0, 2 * PG}, {c, -1, 0, 0}};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(segs, 3, 0, 0, &v, NULL));
  size_t seg = 77;
  CHECK_OK(vmp_mview_check(v, &seg));
  /* Shrinking past what the view uses of b is fine. */
  cr_assert_eq(truncate(b, (off_t)(2 * PG)), 0);
  CHECK_OK(vmp_mview_check(v, &seg));
  cr_assert_eq(truncate(c, (off_t)PG), 0);
  CHECK_RC(vmp_mview_check(v, &seg), VMP_EBOUNDS);
  cr_assert_eq(seg, 2);
  cr_assert_eq(truncate(b, (off_t)(PG + 1)), 0);
  CHECK_RC(vmp_mview_check(v, &seg), VMP_EBOUNDS);
  cr_assert_eq(seg, 1, "the first shrunk segment, got %zu", seg);
  CHECK_RC(vmp_mview_check(v, NULL), VMP_EBOUNDS);
  /* The pages still backed by the file still read. */
  cr_assert_eq(base_of(v)[2 * PG + PG], pattern(2, PG));
  CHECK_OK(vmp_mview_close(v));
}

/* The file is removed before the fault, since .fini does not run after a
 * signal. */
Test(mview, touching_a_lost_page_faults, .signal = SIGBUS) {
  char path[512];
  cr_assert_eq(vmpt_temp_file(3 * PG, 0x42, path, sizeof path), 0);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  vmpt_temp_file_remove(path);
  cr_assert_geq(fd, 0);
  vmp_segment segs[] = {{NULL, fd, 0, PG}, {NULL, fd, 0, 0}};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(segs, 2, 0, 0, &v, NULL));
  volatile unsigned char *p = base_of(v);
  cr_assert_eq(p[PG + 2 * PG], 0x42);
  cr_assert_eq(ftruncate(fd, (off_t)PG), 0);
  size_t seg;
  CHECK_RC(vmp_mview_check(v, &seg), VMP_EBOUNDS);
  cr_assert_eq(seg, 1);
  cr_assert_eq(p[PG], 0x42, "the page still in the file reads");
  /* The fault itself, not a sanitizer's report of it. */
  signal(SIGBUS, SIG_DFL);
  (void)p[PG + 2 * PG];
}

/* ---- the kernel's view ------------------------------------------------------------ */

Test(mview, kernel_maps_agree, .fini = remove_files) {
  const char *a = make_file(3 * PG, 1), *b = make_file(4 * PG, 2), *c = make_file(PG + 3, 3);
  vmp_segment segs[] = {{a, -1, 0, 0}, {b, -1, 2 * PG, 2 * PG}, {c, -1, 0, 0}};
  const char *paths[] = {a, b, c};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(segs, 3, 32 * PG, 0, &v, NULL));
  unsigned char *base = base_of(v);
  size_t start = 0;
  for (size_t i = 0; i < 3; i++) {
    struct stat st;
    cr_assert_eq(stat(paths[i], &st), 0);
    size_t len = segs[i].length ? segs[i].length : (size_t)st.st_size - segs[i].offset;
    for (size_t page = 0; page < round_up(len, PG) / PG; page++) {
      unsigned char *addr = base + start + page * PG;
      const vmpt_vma *m = vmpt_maps_at(addr);
      cr_assert(m, "segment %zu page %zu is not mapped", i, page);
      cr_assert_eq(m->inode, (uint64_t)st.st_ino, "segment %zu page %zu maps inode %llu", i, page,
                   (unsigned long long)m->inode);
      cr_assert_eq(m->offset + ((uintptr_t)addr - m->start), segs[i].offset + page * PG,
                   "segment %zu page %zu at the wrong file offset", i, page);
      cr_assert_str_eq(m->perms, "r--s", "segment %zu page %zu: %s", i, page, m->perms);
    }
    start += round_up(len, PG);
  }
  /* The room after: one placeholder mapping up to the end. */
  size_t room = (size_t)vmp_mview_capacity(v) - start;
  cr_assert_eq(vmpt_maps_count_in(base + start, room), 1, "the room is %zu mappings",
               vmpt_maps_count_in(base + start, room));
  const vmpt_vma *m = vmpt_maps_at(base + start);
  cr_assert(m);
  cr_assert_eq(m->start, (uintptr_t)(base + start));
  cr_assert_str_eq(m->perms, "---p");
  cr_assert_eq(m->inode, 0);
  CHECK_OK(vmp_mview_close(v));
  cr_assert_null(vmpt_maps_at(base), "close left the range mapped");
}

/* ---- failure at every step -------------------------------------------------------- */

#define MAX_STEPS 300

/* What a failed step must leave as it was, taken before each attempt. */
typedef struct untouched {
  size_t fds;
  vmpt_outside *outside;
} untouched;

static void untouched_take(untouched *u, const void *base, size_t size) {
  u->fds = vmpt_fd_count();
  u->outside = vmpt_outside_take(base, size);
  cr_assert(u->outside);
}

/* After a failed step: no descriptor and no mapping outside was left. */
static void untouched_check(untouched *u, const steps_attempt *a) {
  char why[4096];
  cr_assert_eq(vmpt_fd_count(), u->fds, "step %ld failing (%s) left a descriptor open", a->n,
               vmp_err_name(a->rc));
  cr_assert_eq(vmpt_outside_compare(u->outside, why, sizeof why), 0,
               "step %ld failing (%s) changed mappings outside: %s", a->n, vmp_err_name(a->rc),
               why);
}

typedef struct open_run {
  vmp_segment segs[3];
  untouched before;
  vmp_mview *v;
  size_t bad;
} open_run;

static int open_setup(void *ctx) {
  open_run *run = ctx;
  untouched_take(&run->before, NULL, 0);
  run->v = NULL;
  run->bad = 77;
  return 0;
}

static int open_op(void *ctx) {
  open_run *run = ctx;
  return vmp_mview_open(run->segs, 3, 16 * PG, 0, &run->v, &run->bad);
}

static void open_check(void *ctx, const steps_attempt *a) {
  open_run *run = ctx;
  if (a->rc == 0) {
    check_contents(run->v, run->segs, 3);
    CHECK_OK(vmp_mview_close(run->v));
  } else {
    cr_assert(run->bad < 3 || run->bad == NONE, "bad segment %zu", run->bad);
    untouched_check(&run->before, a);
  }
  vmpt_outside_free(run->before.outside);
}

static void open_fails_cleanly(inject_kind kind) {
  const char *a = make_file(2 * PG, 1), *b = make_file(3 * PG, 2), *c = make_file(PG + 50, 3);
  int fb = open_file(b, O_RDONLY);
  open_run run = {.segs = {{a, -1, 0, 0}, {NULL, fb, PG, 2 * PG}, {c, -1, 0, 0}}};
  steps_plan plan = {.what = "vmp_mview_open",
                     .kind = kind,
                     .max_steps = MAX_STEPS,
                     .least = kind == INJECT_SYSCALL ? 4 : 2,
                     STEPS_CALLBACKS(open, &run)};
  steps_run(&plan);
  close(fb);
}

/* An operation's NAME_fails_cleanly() with each kind of failure. */
#define FAULT_TESTS(name)                                                          \
  Test(mview_faults, name##_with_each_system_call_failing, .fini = remove_files) { \
    name##_fails_cleanly(INJECT_SYSCALL);                                          \
  }                                                                                \
  Test(mview_faults, name##_with_each_allocation_failing, .fini = remove_files) {  \
    name##_fails_cleanly(INJECT_ALLOCATION);                                       \
  }
FAULT_TESTS(open)

typedef struct append_run {
  vmp_segment first, by_fd, other;
  vmp_mview *v;
  char *maps;
  untouched before;
} append_run;

static int append_setup(void *ctx) {
  append_run *run = ctx;
  CHECK_OK(vmp_mview_open(&run->first, 1, 16 * PG, 0, &run->v, NULL));
  run->maps = view_maps(run->v);
  untouched_take(&run->before, vmp_mview_base(run->v), (size_t)vmp_mview_capacity(run->v));
  return 0;
}

static int append_op(void *ctx) {
  append_run *run = ctx;
  return vmp_mview_append(run->v, &run->by_fd);
}

static void append_check(void *ctx, const steps_attempt *a) {
  append_run *run = ctx;
  if (a->rc == 0) {
    vmp_segment both[] = {run->first, run->by_fd};
    check_contents(run->v, both, 2);
  } else {
    char *now = view_maps(run->v);
    cr_assert_str_eq(now, run->maps, "step %ld failing (%s) changed the view's mappings", a->n,
                     vmp_err_name(a->rc));
    free(now);
    cr_assert_eq(vmp_mview_length(run->v), 2 * PG);
    cr_assert_eq(vmp_mview_segments(run->v), 1);
    untouched_check(&run->before, a);
    /* The room is one placeholder again: a segment of another size fits
     * where the failed one would have gone. */
    CHECK_OK(vmp_mview_append(run->v, &run->other));
    vmp_segment both[] = {run->first, run->other};
    check_contents(run->v, both, 2);
  }
  vmpt_outside_free(run->before.outside);
  free(run->maps);
  CHECK_OK(vmp_mview_close(run->v));
}

static void append_fails_cleanly(inject_kind kind) {
  const char *a = make_file(2 * PG, 1), *b = make_file(3 * PG, 2), *c = make_file(3 * PG, 3);
  int fb = open_file(b, O_RDONLY);
  append_run run = {
      .first = {a, -1, 0, 0}, .by_fd = {NULL, fb, PG, 2 * PG}, .other = {c, -1, 0, 0}};
  steps_plan plan = {.what = "vmp_mview_append",
                     .kind = kind,
                     .max_steps = MAX_STEPS,
                     .least = 2,
                     STEPS_CALLBACKS(append, &run)};
  steps_run(&plan);
  close(fb);
}

FAULT_TESTS(append)

/* ---- threads ---------------------------------------------------------------------- */

#define THREAD_SEGMENTS 100

typedef struct appender {
  vmp_mview *v;
  int fd;
  unsigned first_page; /* appends pages first_page, first_page + 2, ... */
  atomic_int failures;
  int last_rc;
} appender;

static void *append_pages(void *arg) {
  appender *ap = arg;
  for (unsigned i = 0; i < THREAD_SEGMENTS / 2; i++) {
    vmp_segment seg = {NULL, ap->fd, (uint64_t)(ap->first_page + 2 * i) * PG, PG};
    int rc = vmp_mview_append(ap->v, &seg);
    if (rc) {
      atomic_fetch_add(&ap->failures, 1);
      ap->last_rc = rc;
    }
  }
  return NULL;
}

/* Two threads append 50 one-page segments each while this one keeps
 * reading and locating the bytes already there: every byte must be the
 * byte of the file that locate names. */
Test(mview, append_while_reading, .fini = remove_files) {
  const char *f = make_file((THREAD_SEGMENTS + 1) * PG, 9);
  int fd = open_file(f, O_RDONLY);
  vmp_segment first = {NULL, fd, 0, PG};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&first, 1, (THREAD_SEGMENTS + 1) * PG, 0, &v, NULL));
  const unsigned char *base = base_of(v);
  appender aps[2] = {{.v = v, .fd = fd, .first_page = 1}, {.v = v, .fd = fd, .first_page = 2}};
  pthread_t threads[2];
  for (int i = 0; i < 2; i++)
    cr_assert_eq(pthread_create(&threads[i], NULL, append_pages, &aps[i]), 0);
  unsigned rng = 12345;
  unsigned long reads = 0;
  for (;;) {
    size_t segs = vmp_mview_segments(v);
    uint64_t len = vmp_mview_length(v);
    cr_assert_geq(len, segs * PG, "length behind the segment count");
    for (int k = 0; k < 64; k++, reads++) {
      rng = rng * 1103515245u + 12345u;
      uint64_t off = (rng >> 4) % len;
      size_t seg;
      uint64_t file_off;
      CHECK_OK(vmp_mview_locate(v, off, &seg, &file_off));
      cr_assert_eq(seg, off / PG);
      cr_assert_eq(base[off], pattern(9, file_off), "byte %llu (segment %zu, file %llu)",
                   (unsigned long long)off, seg, (unsigned long long)file_off);
    }
    CHECK_OK(vmp_mview_check(v, NULL));
    if (segs == THREAD_SEGMENTS + 1) break;
    if (atomic_load(&aps[0].failures) || atomic_load(&aps[1].failures)) break;
  }
  for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
  for (int i = 0; i < 2; i++)
    cr_assert_eq(atomic_load(&aps[i].failures), 0, "an append failed: %s",
                 vmp_err_name(aps[i].last_rc));
  cr_assert_eq(vmp_mview_base(v), base);
  cr_assert_eq(vmp_mview_length(v), (THREAD_SEGMENTS + 1) * PG);
  /* Every page is the file page that locate names. */
  for (size_t page = 0; page <= THREAD_SEGMENTS; page++) {
    size_t seg;
    uint64_t file_off;
    CHECK_OK(vmp_mview_locate(v, page * PG, &seg, &file_off));
    cr_assert_eq(seg, page);
    for (size_t i = 0; i < PG; i += 97) cr_assert_eq(base[page * PG + i], pattern(9, file_off + i));
  }
  cr_assert_gt(reads, 0);
  CHECK_OK(vmp_mview_close(v));
  close(fd);
}
