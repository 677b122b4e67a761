/*
 * Multi-file views for live logs (issue 13), on Linux and the generic
 * POSIX backend: follow a growing last segment (refresh), roll to a new
 * one (append), give old ones back (retire), keep no descriptors
 * (VMP_MVIEW_CLOSE_FILES), padding after the end, reads and scans that
 * return VMP_EGONE instead of SIGBUS, 10^4 segments, and failure at every
 * system call and allocation of refresh, retire and append leaving no
 * trace.
 *
 * A fault on a file mapping kills the test (SIGBUS's default action is
 * restored in every test), so a read that should have returned an error
 * and faulted instead cannot pass.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "os/os.h"
#include "os/unix.h"
#include "support_criterion.h"
#include "support_files.h"
#include "support_mview_steps.h"
#include "testing.h"
#include "vmplace.h"

#define NONE ((size_t)-1)
static void setup(void) { signal(SIGBUS, SIG_DFL); }

static void cut(const char *path, uint64_t size) { cr_assert_eq(truncate(path, (off_t)size), 0); }

/* The view's bytes [at, at+n) are bytes [from, from+n) of the seed's file. */
static void shows(vmp_mview *v, uint64_t at, unsigned seed, uint64_t from, uint64_t n) {
  const unsigned char *p = vmp_mview_base(v);
  for (uint64_t i = 0; i < n; i++)
    if (p[at + i] != files_byte(seed, from + i))
      cr_assert_fail("view byte %llu is 0x%02x, file byte %llu is 0x%02x",
                     (unsigned long long)(at + i), p[at + i], (unsigned long long)(from + i),
                     files_byte(seed, from + i));
}

static void zeros(vmp_mview *v, uint64_t at, uint64_t n) {
  const unsigned char *p = vmp_mview_base(v);
  for (uint64_t i = 0; i < n; i++)
    cr_assert_eq(p[at + i], 0, "byte %llu", (unsigned long long)(at + i));
}

static uint64_t inode_of(const char *path) {
  struct stat st;
  cr_assert_eq(stat(path, &st), 0);
  return (uint64_t)st.st_ino;
}

/* The view's pages as the kernel maps them, one line each (protection,
 * inode, file offset): the same pages, whatever the mappings' seams. */
static char *view_maps(vmp_mview *v) {
  char *text = vmpt_maps_region_text(vmp_mview_base(v), (size_t)vmp_mview_capacity(v));
  cr_assert(text);
  return text;
}

/* ---- follow ------------------------------------------------------------------------ */

Test(mview_follow, refresh_maps_the_grown_pages_in_place, .init = setup, .fini = files_remove) {
  const char *f = files_make(PG + 100, 1);
  vmp_segment seg = {f, -1, 0, 0};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&seg, 1, 64 * PG, 0, &v, NULL));
  unsigned char *base = vmp_mview_base(v);
  uint64_t len = 0;
  /* Nothing new: nothing changes. */
  CHECK_OK(vmp_mview_refresh(v, &len));
  cr_assert_eq(len, PG + 100);

  /* Growth inside the mapped last page: no mapping, the bytes are there. */
  files_write(f, 1, PG + 100, PG + 900);
  CHECK_OK(vmp_mview_refresh(v, &len));
  cr_assert_eq(len, PG + 900);
  cr_assert_eq(vmpt_maps_count_in(base, 2 * PG), 1, "the segment is one mapping");

  /* Growth by whole pages and a partial one. */
  files_write(f, 1, PG + 900, 5 * PG + 7);
  CHECK_OK(vmp_mview_refresh(v, &len));
  cr_assert_eq(len, 5 * PG + 7);
  cr_assert_eq(vmp_mview_length(v), 5 * PG + 7);
  cr_assert_eq(vmp_mview_base(v), base, "the base moved");
  shows(v, 0, 1, 0, 5 * PG + 7);
  zeros(v, 5 * PG + 7, PG - 7);
  /* The kernel merged the new pages into the segment's one mapping, and
   * every page is the file's page at its offset. */
  cr_assert_eq(vmpt_maps_count_in(base, 6 * PG), 1, "%zu mappings for one segment",
               vmpt_maps_count_in(base, 6 * PG));
  for (size_t page = 0; page < 6; page++) {
    const vmpt_vma *m = vmpt_maps_at(base + page * PG);
    cr_assert(m);
    cr_assert_eq(m->inode, inode_of(f));
    cr_assert_eq(m->offset + ((uintptr_t)(base + page * PG) - m->start), page * PG);
    cr_assert_str_eq(m->perms, "r--s");
  }
  const vmpt_vma *room = vmpt_maps_at(base + 6 * PG);
  cr_assert(room);
  cr_assert_str_eq(room->perms, "---p", "the room is placeholder");
  size_t seg_at;
  uint64_t file_off;
  CHECK_OK(vmp_mview_locate(v, 5 * PG + 6, &seg_at, &file_off));
  cr_assert_eq(seg_at, 0);
  cr_assert_eq(file_off, 5 * PG + 6);
  CHECK_OK(vmp_mview_check(v, NULL));
  CHECK_OK(vmp_mview_close(v));
}

Test(mview_follow, refresh_errors_change_nothing, .init = setup, .fini = files_remove) {
  CHECK_RC(vmp_mview_refresh(NULL, NULL), VMP_EINVAL);
  const char *f = files_make(2 * PG, 2), *fixed = files_make(3 * PG, 3);
  /* A segment with an explicit length does not follow its file. */
  vmp_segment given = {fixed, -1, 0, PG};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&given, 1, 16 * PG, 0, &v, NULL));
  uint64_t len = 0;
  CHECK_OK(vmp_mview_refresh(v, &len));
  cr_assert_eq(len, PG);
  CHECK_OK(vmp_mview_close(v));

  /* An empty view has nothing to follow. */
  CHECK_OK(vmp_mview_open(NULL, 0, 16 * PG, 0, &v, NULL));
  CHECK_OK(vmp_mview_refresh(v, &len));
  cr_assert_eq(len, 0);
  CHECK_OK(vmp_mview_close(v));

  vmp_segment seg = {f, -1, 0, 0};
  CHECK_OK(vmp_mview_open(&seg, 1, 4 * PG, 0, &v, NULL));
  uint64_t capacity = vmp_mview_capacity(v);
  char *before = view_maps(v);
  /* Shrunk: EBOUNDS, length kept. */
  cut(f, PG);
  CHECK_RC(vmp_mview_refresh(v, &len), VMP_EBOUNDS);
  cr_assert_eq(len, 2 * PG);
  files_write(f, 2, PG, 2 * PG);
  /* Grown past the capacity: ERANGE, nothing mapped. */
  files_write(f, 2, 2 * PG, capacity + 1);
  CHECK_RC(vmp_mview_refresh(v, &len), VMP_ERANGE);
  cr_assert_eq(len, 2 * PG);
  char *after = view_maps(v);
  cr_assert_str_eq(after, before);
  free(after);
  /* Exactly the capacity fits. */
  cut(f, capacity);
  CHECK_OK(vmp_mview_refresh(v, &len));
  cr_assert_eq(len, capacity);
  shows(v, capacity - PG, 2, capacity - PG, PG);
  free(before);
  CHECK_OK(vmp_mview_close(v));
}

/* ---- roll, retire ------------------------------------------------------------------- */

Test(mview_follow, roll_append_and_retire, .init = setup, .fini = files_remove) {
  const char *s0 = files_make(PG / 2, 10), *s1 = files_make(0, 11), *s2 = files_make(PG, 12);
  vmp_segment first = {s0, -1, 0, 0};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&first, 1, 64 * PG, 0, &v, NULL));
  unsigned char *base = vmp_mview_base(v);
  vmp_segment next = {s1, -1, 0, 0};
  /* The first segment is not full yet: the page rule refuses the roll. */
  CHECK_RC(vmp_mview_append(v, &next), VMP_EALIGN);
  files_write(s0, 10, PG / 2, 4 * PG);
  CHECK_OK(vmp_mview_refresh(v, NULL));
  CHECK_OK(vmp_mview_append(v, &next));
  cr_assert_eq(vmp_mview_length(v), 4 * PG);
  /* The new, empty segment follows its file. */
  files_write(s1, 11, 0, 2 * PG + 3);
  uint64_t len;
  CHECK_OK(vmp_mview_refresh(v, &len));
  cr_assert_eq(len, 6 * PG + 3);
  shows(v, 0, 10, 0, 4 * PG);
  shows(v, 4 * PG, 11, 0, 2 * PG + 3);

  /* Retire the first segment: its pages are placeholder, its file closed
   * (one descriptor fewer), every later byte where it was. */
  size_t fds = vmpt_fd_count();
  CHECK_OK(vmp_mview_retire(v, 1));
  cr_assert_eq(vmp_mview_retired(v), 1);
  cr_assert_eq(vmpt_fd_count(), fds - 1, "the retired file is still open");
  const vmpt_vma *m = vmpt_maps_at(base);
  cr_assert(m);
  cr_assert_str_eq(m->perms, "---p");
  cr_assert_eq(m->inode, 0);
  cr_assert_geq(m->end, (uintptr_t)(base + 4 * PG));
  cr_assert_eq(vmp_mview_base(v), base);
  shows(v, 4 * PG, 11, 0, 2 * PG + 3);
  size_t seg;
  uint64_t off;
  CHECK_RC(vmp_mview_locate(v, 0, &seg, &off), VMP_ESTATE);
  CHECK_OK(vmp_mview_locate(v, 4 * PG, &seg, &off));
  cr_assert_eq(seg, 1);
  unsigned char buf[16];
  CHECK_RC(vmp_mview_read(v, 4 * PG - 8, buf, 16), VMP_ESTATE);
  vmp_mview_segment_info info;
  CHECK_OK(vmp_mview_describe(v, 0, &info));
  cr_assert_eq(info.fd, -1);
  cr_assert_eq(vmp_mview_segments(v), 2, "retired segments keep their index");
  CHECK_OK(vmp_mview_check(v, NULL));
  cr_assert_eq(unlink(s0), 0);

  /* Retiring fewer than are retired does nothing; past the end is ERANGE. */
  CHECK_OK(vmp_mview_retire(v, 0));
  CHECK_OK(vmp_mview_retire(v, 1));
  CHECK_RC(vmp_mview_retire(v, 3), VMP_ERANGE);
  CHECK_RC(vmp_mview_retire(NULL, 1), VMP_EINVAL);

  /* Fill the second, roll to a third, retire both at once. */
  files_write(s1, 11, 2 * PG + 3, 3 * PG);
  CHECK_OK(vmp_mview_refresh(v, NULL));
  vmp_segment third = {s2, -1, 0, 0};
  CHECK_OK(vmp_mview_append(v, &third));
  CHECK_OK(vmp_mview_retire(v, 3));
  cr_assert_eq(vmp_mview_length(v), 8 * PG);
  m = vmpt_maps_at(base);
  cr_assert(m);
  cr_assert_eq(m->start, (uintptr_t)base);
  cr_assert_str_eq(m->perms, "---p");
  cr_assert_geq(m->end, (uintptr_t)(base + 8 * PG), "everything retired is one placeholder");
  /* Appending goes on after a view that is all retired. */
  CHECK_OK(vmp_mview_append(v, &third));
  shows(v, 8 * PG, 12, 0, PG);
  CHECK_OK(vmp_mview_close(v));
}

Test(mview_follow, a_retired_byte_faults, .signal = SIGSEGV, .init = setup, .fini = files_remove) {
  const char *a = files_make(PG, 1), *b = files_make(PG, 2);
  vmp_segment segs[] = {{a, -1, 0, 0}, {b, -1, 0, 0}};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(segs, 2, 0, 0, &v, NULL));
  CHECK_OK(vmp_mview_retire(v, 1));
  (void)*(volatile unsigned char *)vmp_mview_base(v);
}

/* ---- descriptors -------------------------------------------------------------------- */

#define MANY 3000

Test(mview_follow, close_files_keeps_no_descriptors, .init = setup, .fini = files_remove) {
  const char *f = files_make(4 * PG, 5), *g = files_make(PG + 1, 6);
  vmp_segment *segs = calloc(MANY + 1, sizeof *segs);
  cr_assert(segs);
  for (size_t i = 0; i < MANY; i++) segs[i] = (vmp_segment){f, -1, (i % 4) * PG, PG};
  segs[MANY] = (vmp_segment){g, -1, 0, 0};
  /* Far fewer descriptors allowed than there are segments. */
  struct rlimit old, low;
  cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
  size_t fds = vmpt_fd_count();
  low = old;
  low.rlim_cur = fds + 16;
  cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
  vmp_mview *v;
  size_t bad = 77;
  int rc = vmp_mview_open(segs, MANY + 1, 0, VMP_MVIEW_CLOSE_FILES, &v, &bad);
  size_t open_now = vmpt_fd_count();
  cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
  CHECK_RC(rc, 0);
  cr_assert_eq(open_now, fds + 1, "%zu descriptors for %d segments", open_now - fds, MANY + 1);
  for (size_t i = 0; i < MANY; i += 97) shows(v, i * PG, 5, (i % 4) * PG, PG);
  shows(v, (uint64_t)MANY * PG, 6, 0, PG + 1);
  vmp_mview_segment_info info;
  CHECK_OK(vmp_mview_describe(v, 0, &info));
  cr_assert_eq(info.fd, -1);
  CHECK_OK(vmp_mview_describe(v, MANY, &info));
  cr_assert_neq(info.fd, -1, "the last segment keeps its descriptor: it may grow");

  /* The check finds a shrunk file from the path it kept. */
  CHECK_OK(vmp_mview_check(v, NULL));
  cut(f, 3 * PG);
  size_t which = 77;
  CHECK_RC(vmp_mview_check(v, &which), VMP_EBOUNDS);
  cr_assert_eq(which, 3, "segment %zu named", which);
  unsigned char buf[8];
  CHECK_OK(vmp_mview_read(v, 2 * PG, buf, 8));
  CHECK_RC(vmp_mview_read(v, 3 * PG, buf, 8), VMP_EGONE);
  CHECK_OK(vmp_mview_close(v));
  cr_assert_eq(vmpt_fd_count(), fds);

  /* Descriptors cannot be found again: refused, naming the segment. */
  int fd = open(g, O_RDONLY | O_CLOEXEC);
  vmp_segment mixed[] = {{f, -1, 0, PG}, {NULL, fd, 0, 0}};
  CHECK_RC(vmp_mview_open(mixed, 2, 0, VMP_MVIEW_CLOSE_FILES, &v, &bad), VMP_EINVAL);
  cr_assert_eq(bad, 1);
  close(fd);
  free(segs);
}

Test(mview_follow, close_files_follows_and_closes_on_roll, .init = setup, .fini = files_remove) {
  const char *a = files_make(PG, 1), *b = files_make(10, 2);
  vmp_segment first = {a, -1, 0, 0};
  size_t fds = vmpt_fd_count();
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&first, 1, 16 * PG, VMP_MVIEW_CLOSE_FILES, &v, NULL));
  cr_assert_eq(vmpt_fd_count(), fds + 1);
  files_write(a, 1, PG, 2 * PG);
  CHECK_OK(vmp_mview_refresh(v, NULL));
  vmp_segment next = {b, -1, 0, 0};
  CHECK_OK(vmp_mview_append(v, &next));
  cr_assert_eq(vmpt_fd_count(), fds + 1, "the segment before the last kept its descriptor");
  files_write(b, 2, 10, PG + 20);
  CHECK_OK(vmp_mview_refresh(v, NULL));
  cr_assert_eq(vmp_mview_length(v), 3 * PG + 20);
  shows(v, 0, 1, 0, 2 * PG);
  shows(v, 2 * PG, 2, 0, PG + 20);
  CHECK_OK(vmp_mview_retire(v, 1));
  CHECK_OK(vmp_mview_close(v));
  cr_assert_eq(vmpt_fd_count(), fds);
}

/* ---- padding ------------------------------------------------------------------------ */

Test(mview_follow, padding_is_readable_zeros_after_the_end, .init = setup, .fini = files_remove) {
  const char *f = files_make(PG + 10, 7), *g = files_make(2 * PG, 8);
  vmp_segment seg = {f, -1, 0, 0};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&seg, 1, 8 * PG, 0, &v, NULL));
  cr_assert_eq(vmp_mview_capacity(v), 8 * PG);
  unsigned char *base = vmp_mview_base(v);
  CHECK_RC(vmp_mview_set_padding(NULL, 1), VMP_EINVAL);
  CHECK_RC(vmp_mview_set_padding(v, 6 * PG + 1), VMP_ERANGE);
  CHECK_OK(vmp_mview_set_padding(v, 5 * PG));
  zeros(v, PG + 10, 6 * PG - 10);
  const vmpt_vma *m = vmpt_maps_at(base + 2 * PG);
  cr_assert(m);
  cr_assert_str_eq(m->perms, "r--p", "padding is private read-only memory");
  cr_assert_eq(m->inode, 0);
  cr_assert_eq(m->end, (uintptr_t)(base + 7 * PG));

  /* It moves with the end. */
  files_write(f, 7, PG + 10, 2 * PG);
  CHECK_OK(vmp_mview_refresh(v, NULL));
  shows(v, 0, 7, 0, 2 * PG);
  zeros(v, 2 * PG, 5 * PG);
  /* An append it would push past the capacity is refused. */
  vmp_segment more = {g, -1, 0, 0};
  CHECK_RC(vmp_mview_append(v, &more), VMP_ERANGE);
  zeros(v, 2 * PG, 5 * PG);
  CHECK_OK(vmp_mview_set_padding(v, 100));
  CHECK_OK(vmp_mview_append(v, &more));
  shows(v, 2 * PG, 8, 0, 2 * PG);
  zeros(v, 4 * PG, 100);
  m = vmpt_maps_at(base + 4 * PG);
  cr_assert(m);
  cr_assert_str_eq(m->perms, "r--p");
  cr_assert_eq(m->end, (uintptr_t)(base + 5 * PG));
  /* 0 takes it away. */
  CHECK_OK(vmp_mview_set_padding(v, 0));
  m = vmpt_maps_at(base + 4 * PG);
  cr_assert(m);
  cr_assert_str_eq(m->perms, "---p");
  CHECK_OK(vmp_mview_close(v));
}

/* ---- fault-safe reads ---------------------------------------------------------------- */

/* What a scan must answer, found with memchr over the mapping. */
static uint64_t first_equal(const unsigned char *p, uint64_t from, uint64_t n, unsigned char c) {
  const unsigned char *hit = memchr(p + from, c, (size_t)n);
  return hit ? (uint64_t)(hit - p) : from + n;
}

Test(mview_follow, read_and_scan_return_errors_not_signals, .init = setup, .fini = files_remove) {
  const char *a = files_make(2 * PG, 1), *b = files_make(3 * PG + 50, 2);
  vmp_segment segs[] = {{a, -1, 0, 0}, {b, -1, 0, 0}};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(segs, 2, 0, 0, &v, NULL));
  uint64_t len = vmp_mview_length(v);
  unsigned char *buf = malloc(len);
  cr_assert(buf);
  CHECK_OK(vmp_mview_read(v, 0, buf, (size_t)len));
  cr_assert_eq(memcmp(buf, vmp_mview_base(v), (size_t)len), 0);
  CHECK_OK(vmp_mview_read(v, len, buf, 0));
  CHECK_RC(vmp_mview_read(v, len - 1, buf, 2), VMP_ERANGE);
  CHECK_RC(vmp_mview_read(v, UINT64_MAX, buf, 2), VMP_ERANGE);
  CHECK_RC(vmp_mview_read(NULL, 0, buf, 1), VMP_EINVAL);
  CHECK_RC(vmp_mview_read(v, 0, NULL, 1), VMP_EINVAL);

  /* Scan finds the first byte equal, across the segment boundary too. */
  const unsigned char *p = vmp_mview_base(v);
  uint64_t found;
  unsigned char want = files_byte(2, 5);
  CHECK_OK(vmp_mview_scan(v, 2 * PG - 3, len - (2 * PG - 3), want, &found));
  cr_assert_eq(found, first_equal(p, 2 * PG - 3, len - (2 * PG - 3), want));
  cr_assert_geq(found, 2 * PG);
  cr_assert_eq(p[found], want);
  /* None: the end of the range. */
  CHECK_OK(vmp_mview_scan(v, 0, 0, want, &found));
  cr_assert_eq(found, 0);
  unsigned char absent = 0;
  while (memchr(p + 10, absent, 20)) absent++;
  CHECK_OK(vmp_mview_scan(v, 10, 20, absent, &found));
  cr_assert_eq(found, 30);
  /* Past the 32 KiB the scan copies at a time. */
  unsigned char late = p[len - 1];
  CHECK_OK(vmp_mview_scan(v, 0, len, late, &found));
  cr_assert_eq(found, first_equal(p, 0, len, late));
  CHECK_RC(vmp_mview_scan(v, 0, len + 1, 0, &found), VMP_ERANGE);
  CHECK_RC(vmp_mview_scan(v, 0, 1, 0, NULL), VMP_EINVAL);

  /* Truncated under the view, even inside a page: VMP_EGONE, no signal. */
  cut(b, PG + 20);
  CHECK_OK(vmp_mview_read(v, 2 * PG, buf, PG + 20));
  CHECK_RC(vmp_mview_read(v, 2 * PG, buf, PG + 21), VMP_EGONE);
  CHECK_RC(vmp_mview_read(v, 4 * PG, buf, 8), VMP_EGONE);
  CHECK_RC(vmp_mview_scan(v, 0, len, absent, &found), VMP_EGONE);
  CHECK_OK(vmp_mview_scan(v, 0, 2 * PG, absent, &found));
  cr_assert_eq(found, first_equal(p, 0, 2 * PG, absent));
  free(buf);
  CHECK_OK(vmp_mview_close(v));
}

/* The copy under the size check: a page past the end of its file, which a
 * load would turn into SIGBUS, is VMP_EGONE on Linux. The generic POSIX
 * backend has no such copy (the header says so), and is not asked. */
Test(mview_follow, the_copy_itself_survives_a_truncated_page, .init = setup, .fini = files_remove) {
  if (!vmp_capabilities()->fault_safe_copy) cr_skip_test("this backend copies with memcpy");
  const char *a = files_make(4 * PG, 1);
  vmp_segment seg = {a, -1, 0, 0};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&seg, 1, 0, 0, &v, NULL));
  cut(a, PG);
  unsigned char buf[2 * PG];
  const unsigned char *p = vmp_mview_base(v);
  CHECK_OK(vmp__os_read_memory(buf, p, PG));
  CHECK_RC(vmp__os_read_memory(buf, p + PG - 8, 16), VMP_EGONE);
  CHECK_RC(vmp__os_read_memory(buf, p + 2 * PG, 1), VMP_EGONE);
  CHECK_OK(vmp_mview_close(v));
}

/* A sandbox that refuses process_vm_readv (seccomp: EPERM or ENOSYS):
 * reads go on with memcpy, and the kernel is not asked again. */
static int refusals;
static ssize_t refuse_vm_readv(pid_t pid, const struct iovec *l, unsigned long nl,
                               const struct iovec *r, unsigned long nr, unsigned long f) {
  (void)pid, (void)l, (void)nl, (void)r, (void)nr, (void)f;
  refusals++;
  errno = ENOSYS;
  return -1;
}

Test(mview_follow, reads_go_on_where_the_kernel_copy_is_refused, .init = setup,
     .fini = files_remove) {
  if (!vmp__testing_syscall_default("process_vm_readv"))
    cr_skip_test("no process_vm_readv in this backend");
  const char *a = files_make(2 * PG + 9, 4);
  vmp_segment seg = {a, -1, 0, 0};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&seg, 1, 0, 0, &v, NULL));
  cr_assert_eq(vmp__testing_syscall_set("process_vm_readv", (vmp__syscall_fn)refuse_vm_readv), 0);
  unsigned char *buf = malloc(2 * PG + 9);
  cr_assert(buf);
  for (int round = 0; round < 3; round++) {
    memset(buf, 0, 2 * PG + 9);
    CHECK_OK(vmp_mview_read(v, 0, buf, 2 * PG + 9));
    cr_assert_eq(memcmp(buf, vmp_mview_base(v), 2 * PG + 9), 0);
  }
  cr_assert_eq(refusals, 1, "asked the kernel %d times after a refusal", refusals);
  /* The size check still finds a truncated file. */
  cut(a, PG);
  CHECK_RC(vmp_mview_read(v, PG, buf, 1), VMP_EGONE);
  vmp__testing_syscall_set("process_vm_readv", NULL);
  free(buf);
  CHECK_OK(vmp_mview_close(v));
}

/* ---- scale -------------------------------------------------------------------------- */

#define SCALE 10000

Test(mview_follow, ten_thousand_segments_one_mapping_each, .init = setup, .fini = files_remove) {
  /* One file, its pages in reverse order, so that no two neighbours in the
   * view are neighbours in the file and the kernel cannot merge them. */
  const char *f = files_make((uint64_t)SCALE * PG, 3);
  vmp_segment *segs = calloc(SCALE, sizeof *segs);
  cr_assert(segs);
  for (size_t i = 0; i < SCALE; i++) segs[i] = (vmp_segment){f, -1, (SCALE - 1 - i) * PG, PG};
  for (int pass = 0; pass < 2; pass++) {
    unsigned flags = pass ? VMP_MVIEW_CLOSE_FILES : 0;
    size_t fds = vmpt_fd_count();
    vmp_mview *v;
    CHECK_OK(vmp_mview_open(segs, SCALE, 0, flags, &v, NULL));
    const unsigned char *base = vmp_mview_base(v);
    size_t maps = vmpt_maps_count_in(base, (size_t)vmp_mview_capacity(v));
    cr_assert_leq(maps, SCALE + 1, "%zu kernel mappings for %d segments", maps, SCALE);
    cr_assert_geq(maps, SCALE);
    for (size_t i = 0; i < SCALE; i += 331) shows(v, i * PG, 3, (SCALE - 1 - i) * PG, PG);
    uint64_t found;
    unsigned char last = files_byte(3, PG - 1);
    uint64_t from = (uint64_t)(SCALE / 2) * PG;
    CHECK_OK(vmp_mview_scan(v, from, vmp_mview_length(v) - from, last, &found));
    cr_assert_eq(found, first_equal(base, from, vmp_mview_length(v) - from, last));
    if (pass) cr_assert_leq(vmpt_fd_count(), fds + 1);
    CHECK_OK(vmp_mview_retire(v, SCALE / 2));
    cr_assert_leq(vmpt_maps_count_in(base, (size_t)vmp_mview_capacity(v)), SCALE / 2 + 2);
    CHECK_OK(vmp_mview_close(v));
    cr_assert_eq(vmpt_fd_count(), fds);
  }
  free(segs);
}

/* ---- failure at every step ----------------------------------------------------------- */

static const char *sc_a, *sc_b, *sc_c;

static void files_for_scenarios(void) {
  sc_a = files_make(2 * PG + 30, 21);
  sc_b = files_make(3 * PG, 22);
  sc_c = files_make(PG + 5, 23);
}

/* Follow: the last segment grew by pages, with padding to move. */
static int prepare_refresh(vmp_mview **v, unsigned flags) {
  cut(sc_a, 2 * PG + 30);
  vmp_segment segs[] = {{sc_b, -1, 0, 0}, {sc_a, -1, 0, 0}};
  CHECK_OK(vmp_mview_open(segs, 2, 32 * PG, flags, v, NULL));
  CHECK_OK(vmp_mview_set_padding(*v, 2 * PG));
  return files_write(sc_a, 21, 2 * PG + 30, 6 * PG + 1);
}
static int do_refresh(vmp_mview *v) { return vmp_mview_refresh(v, NULL); }
static void verify_refresh(vmp_mview *v) {
  cr_assert_eq(vmp_mview_length(v), 9 * PG + 1);
  shows(v, 3 * PG, 21, 0, 6 * PG + 1);
  zeros(v, 9 * PG + 1, 3 * PG - 1);
}

/* Retire two segments, one of them grown in two refreshes (two spans);
 * without descriptors, a segment whose pages were taken is mapped again
 * from its path. */
static int prepare_retire(vmp_mview **v, unsigned flags) {
  cut(sc_a, 2 * PG);
  vmp_segment segs[] = {{sc_b, -1, 0, 0}, {sc_a, -1, 0, 0}};
  CHECK_OK(vmp_mview_open(segs, 2, 32 * PG, flags, v, NULL));
  files_write(sc_a, 21, 2 * PG, 4 * PG);
  CHECK_OK(vmp_mview_refresh(*v, NULL));
  vmp_segment c = {sc_c, -1, 0, 0};
  CHECK_OK(vmp_mview_append(*v, &c));
  return 1;
}
static int do_retire(vmp_mview *v) { return vmp_mview_retire(v, 2); }
static void verify_retire(vmp_mview *v) {
  cr_assert_eq(vmp_mview_retired(v), 2);
  shows(v, 7 * PG, 23, 0, PG + 5);
}

/* Append with padding to move, keeping no descriptors. */
static int prepare_append(vmp_mview **v, unsigned flags) {
  vmp_segment segs[] = {{sc_b, -1, 0, 0}};
  CHECK_OK(vmp_mview_open(segs, 1, 32 * PG, flags, v, NULL));
  CHECK_OK(vmp_mview_set_padding(*v, PG));
  return 1;
}
static int do_append(vmp_mview *v) {
  vmp_segment c = {sc_c, -1, 0, 0};
  return vmp_mview_append(v, &c);
}
static void verify_append(vmp_mview *v) {
  cr_assert_eq(vmp_mview_segments(v), 2);
  shows(v, 0, 22, 0, 3 * PG);
  shows(v, 3 * PG, 23, 0, PG + 5);
  zeros(v, 4 * PG + 5, 2 * PG - 5);
}

static void fails_cleanly(const mview_scenario *sc, inject_kind kind, int least) {
  files_for_scenarios();
  mview_fails_cleanly(sc, kind, least);
}

static const mview_scenario refresh_sc = {"refresh",      0, prepare_refresh, do_refresh,
                                          verify_refresh, 0};
static const mview_scenario retire_sc = {"retire", 0, prepare_retire, do_retire, verify_retire, 0};
/* A page mapped again comes from the file opened again, which the kernel
 * does not merge with the pages still mapped from the first opening: the
 * same pages, possibly one more line in /proc/self/maps (the header says
 * so). */
static const mview_scenario retire_closed_sc = {"retire without descriptors",
                                                VMP_MVIEW_CLOSE_FILES,
                                                prepare_retire,
                                                do_retire,
                                                verify_retire,
                                                1};
/* Padding moved from 1 page to 3. */
static int prepare_padding(vmp_mview **v, unsigned flags) {
  vmp_segment segs[] = {{sc_c, -1, 0, 0}};
  CHECK_OK(vmp_mview_open(segs, 1, 32 * PG, flags, v, NULL));
  CHECK_OK(vmp_mview_set_padding(*v, PG));
  return 1;
}
static int do_padding(vmp_mview *v) { return vmp_mview_set_padding(v, 3 * PG - 100); }
static void verify_padding(vmp_mview *v) {
  shows(v, 0, 23, 0, PG + 5);
  zeros(v, PG + 5, 4 * PG - 5);
  const vmpt_vma *m = vmpt_maps_at((unsigned char *)vmp_mview_base(v) + 5 * PG);
  cr_assert(m);
  cr_assert_str_eq(m->perms, "---p", "padding past what was asked");
}
static const mview_scenario padding_sc = {"padding",      0, prepare_padding, do_padding,
                                          verify_padding, 0};

static const mview_scenario append_sc = {"append",  VMP_MVIEW_CLOSE_FILES, prepare_append,
                                         do_append, verify_append,         0};

/* Each scenario with each kind of failure, and how many of its steps can
 * fail at the least. */
#define FAULT_TEST(name, sc, kind, least)                                \
  Test(mview_follow_faults, name, .init = setup, .fini = files_remove) { \
    fails_cleanly(&sc, kind, least);                                     \
  }
FAULT_TEST(refresh_with_each_system_call_failing, refresh_sc, INJECT_SYSCALL, 3)
/* Refresh allocates nothing of its own: no step may fail. */
FAULT_TEST(refresh_with_each_allocation_failing, refresh_sc, INJECT_ALLOCATION, 0)
FAULT_TEST(retire_with_each_system_call_failing, retire_sc, INJECT_SYSCALL, 2)
FAULT_TEST(retire_with_each_allocation_failing, retire_sc, INJECT_ALLOCATION, 1)
FAULT_TEST(append_with_each_system_call_failing, append_sc, INJECT_SYSCALL, 3)
FAULT_TEST(append_with_each_allocation_failing, append_sc, INJECT_ALLOCATION, 2)
FAULT_TEST(retire_without_descriptors_with_each_system_call_failing, retire_closed_sc,
           INJECT_SYSCALL, 2)
FAULT_TEST(padding_with_each_system_call_failing, padding_sc, INJECT_SYSCALL, 2)
FAULT_TEST(padding_with_each_allocation_failing, padding_sc, INJECT_ALLOCATION, 0)

/* Destructive MAP_FIXED failures (POSIX allows them) while retiring: the
 * view is put back, never a hole. */
Test(mview_follow_faults, retire_with_destructive_mmap_failures, .init = setup,
     .fini = files_remove) {
  inject_destructive(1);
  fails_cleanly(&retire_sc, INJECT_SYSCALL, 2);
  inject_destructive(0);
}

/* ---- the copy under a cut that races with the size check ---------------------------- */

/* An fstat that, once armed, reports the file's size as it was and then
 * cuts the file to `cut_to`: read and scan have checked the size and only
 * then copy, so the copy meets pages that are gone, as it would when
 * another process truncates the file in between. */
typedef int (*fstat_fn)(int, struct stat *);
static const char *cut_path;
static uint64_t cut_to;
static int cuts_made;

static int cutting_fstat(int fd, struct stat *st) {
  int rc = ((fstat_fn)vmp__testing_syscall_default("fstat"))(fd, st);
  if (rc == 0 && cut_path) {
    cr_assert_eq(truncate(cut_path, (off_t)cut_to), 0);
    cut_path = NULL;
    cuts_made++;
  }
  return rc;
}

static void cut_after_next_size_check(const char *path, uint64_t size) {
  cut_path = path;
  cut_to = size;
  cr_assert_eq(vmp__testing_syscall_set("fstat", (vmp__syscall_fn)cutting_fstat), 0);
}

/* Every backend whose files can shrink under a view copies with a call
 * that reports the fault (process_vm_readv on Linux, a pipe on generic
 * POSIX): a plain memcpy here dies of SIGBUS, which fails the test. */
Test(mview_follow, a_cut_between_the_size_check_and_the_copy_is_egone, .init = setup,
     .fini = files_remove) {
  if (!vmp_capabilities()->mapped_files_shrink) cr_skip_test("mapped files cannot shrink here");
  cr_assert(vmp_capabilities()->fault_safe_copy,
            "every backend with shrinking files copies safely");
  const char *a = files_make(6 * PG, 6);
  vmp_segment seg = {a, -1, 0, 0};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&seg, 1, 0, 0, &v, NULL));
  unsigned char *buf = malloc(6 * PG);
  cr_assert(buf);

  /* The first page copies, the second is gone: VMP_EGONE with what came. */
  cut_after_next_size_check(a, 5 * PG);
  memset(buf, 0, 6 * PG);
  CHECK_RC(vmp_mview_read(v, 3 * PG, buf, 3 * PG), VMP_EGONE);
  cr_assert_eq(cuts_made, 1);
  for (uint64_t i = 0; i < PG; i++)
    cr_assert_eq(buf[i], files_byte(6, 3 * PG + i), "byte %llu before the cut",
                 (unsigned long long)i);

  /* Scan copies chunk by chunk: a cut past its first chunk (32 KiB) too. */
  cut_after_next_size_check(a, 2 * PG);
  uint64_t found = 0;
  CHECK_RC(vmp_mview_scan(v, 0, 5 * PG, (unsigned char)0, &found), VMP_EGONE);
  cr_assert_eq(cuts_made, 2);
  cr_assert_eq(found, 0, "no answer on error");

  /* The size check finds the cut from now on, and what is left reads. */
  vmp__testing_syscall_set("fstat", NULL);
  CHECK_RC(vmp_mview_read(v, 2 * PG, buf, 1), VMP_EGONE);
  CHECK_OK(vmp_mview_read(v, 0, buf, 2 * PG));
  for (uint64_t i = 0; i < 2 * PG; i++) cr_assert_eq(buf[i], files_byte(6, i));
  free(buf);
  CHECK_OK(vmp_mview_close(v));
}

/* The copy through a pipe (the generic POSIX backend's, and Linux's where
 * process_vm_readv is refused) on its own: whole, across the pipe's chunk
 * size, into a page that is gone, and with no descriptor left over. */
Test(mview_follow, the_pipe_copy_reports_a_page_that_is_gone, .init = setup, .fini = files_remove) {
  const uint64_t size = 40 * PG; /* more than the 64 KiB one write hands over */
  const char *a = files_make(size, 7);
  vmp_segment seg = {a, -1, 0, 0};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&seg, 1, 0, 0, &v, NULL));
  const unsigned char *p = vmp_mview_base(v);
  unsigned char *buf = malloc(size);
  cr_assert(buf);
  size_t fds = vmpt_fd_count();
  CHECK_OK(vmp__unix_copy_through_pipe(buf, p, size));
  cr_assert_eq(memcmp(buf, p, size), 0);
  CHECK_OK(vmp__unix_copy_through_pipe(buf, p + 7, 1));
  cr_assert_eq(buf[0], p[7]);
  cut(a, 20 * PG + 100);
  /* The rest of the last page reads as zeros; the page after it is gone. */
  memset(buf, 0xff, size);
  CHECK_OK(vmp__unix_copy_through_pipe(buf, p, 21 * PG));
  cr_assert_eq(buf[20 * PG + 99], files_byte(7, 20 * PG + 99));
  cr_assert_eq(buf[20 * PG + 100], 0);
  CHECK_RC(vmp__unix_copy_through_pipe(buf, p, size), VMP_EGONE);
  CHECK_RC(vmp__unix_copy_through_pipe(buf, p + 30 * PG, 1), VMP_EGONE);
  cr_assert_eq(vmpt_fd_count(), fds, "the pipes are closed");
  free(buf);
  CHECK_OK(vmp_mview_close(v));
}

/* Follow mode's cost: a refresh asks the file's size once (vmp_map does
 * not ask again for the view's own file), and maps once when the file
 * gained pages, not at all when it did not. */
static int fstats, mmaps;
typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
static int counting_fstat(int fd, struct stat *st) {
  fstats++;
  return ((fstat_fn)vmp__testing_syscall_default("fstat"))(fd, st);
}
static void *counting_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off) {
  mmaps++;
  return ((mmap_fn)vmp__testing_syscall_default("mmap"))(a, n, prot, flags, fd, off);
}

Test(mview_follow, a_refresh_asks_the_size_once_and_maps_only_new_pages, .init = setup,
     .fini = files_remove) {
  const char *a = files_make(PG + 10, 8);
  vmp_segment seg = {a, -1, 0, 0};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&seg, 1, 64 * PG, 0, &v, NULL));
  cr_assert_eq(vmp__testing_syscall_set("fstat", (vmp__syscall_fn)counting_fstat), 0);
  cr_assert_eq(vmp__testing_syscall_set("mmap", (vmp__syscall_fn)counting_mmap), 0);
  uint64_t len = 0;
  files_write(a, 8, PG + 10, 5 * PG + 1); /* gains pages */
  CHECK_OK(vmp_mview_refresh(v, &len));
  cr_assert_eq(len, 5 * PG + 1);
  cr_assert_eq(fstats, 1, "%d size checks for one refresh", fstats);
  cr_assert_eq(mmaps, 1, "%d mappings for one refresh", mmaps);
  files_write(a, 8, 5 * PG + 1, 6 * PG); /* inside the last page mapped */
  CHECK_OK(vmp_mview_refresh(v, &len));
  cr_assert_eq(len, 6 * PG);
  CHECK_OK(vmp_mview_refresh(v, &len));
  cr_assert_eq(fstats, 3);
  cr_assert_eq(mmaps, 1);
  vmp__testing_syscall_set("fstat", NULL);
  vmp__testing_syscall_set("mmap", NULL);
  shows(v, 0, 8, 0, 6 * PG);
  CHECK_OK(vmp_mview_close(v));
}

/* Each system call of a fault-safe read failing in turn (the size check,
 * and the copy's own: process_vm_readv, or the pipe and its fcntl, write,
 * read): the read reports an error and leaves no descriptor behind, and
 * the next read works. A failing close still closes, so it may go
 * unreported. */
Test(mview_follow, every_system_call_of_a_read_can_fail, .init = setup, .fini = files_remove) {
  const uint64_t size = 20 * PG;
  const char *a = files_make(size, 9);
  vmp_segment seg = {a, -1, 0, 0};
  vmp_mview *v;
  CHECK_OK(vmp_mview_open(&seg, 1, 0, 0, &v, NULL));
  unsigned char *buf = malloc(size);
  cr_assert(buf);
  size_t fds = vmpt_fd_count();
  long n = 1;
  for (;; n++) {
    cr_assert_null(inject_arm(INJECT_SYSCALL, n, 0));
    memset(buf, 0, size);
    int err = vmp_mview_read(v, 0, buf, (size_t)size);
    const char *failed = inject_failed_call();
    int fired = inject_disarm(INJECT_SYSCALL);
    if (!fired) {
      CHECK_OK(err);
      break;
    }
    if (strcmp(failed, "close") != 0)
      cr_assert_neq(err, 0, "read succeeded with call %ld (%s) failing", n, failed);
    cr_assert_eq(vmpt_fd_count(), fds, "a descriptor left after %s failed", failed);
    CHECK_OK(vmp_mview_read(v, 0, buf, (size_t)size));
    shows(v, 0, 9, 0, size);
    cr_assert_eq(memcmp(buf, vmp_mview_base(v), size), 0);
  }
  cr_assert_geq(n, 3, "only %ld system calls in a read", n - 1);
  free(buf);
  CHECK_OK(vmp_mview_close(v));
}
