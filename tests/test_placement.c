/*
 * Placement against the kernel's own map (/proc/self/maps), with
 * occupants the library knows nothing about (raw mmap), and the paths the
 * portable suite cannot reach: a kernel that takes MAP_FIXED_NOREPLACE
 * for a hint (before Linux 4.17), and a gap that another thread takes
 * between the search reading the map and claiming the gap.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "support_criterion.h"
#include "testing.h"
#include "vmplace.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*munmap_fn)(void *, size_t);

static size_t page;
static size_t grain;

static void setup(void) {
  page = vmp_page_size();
  grain = vmp_granularity() > 16 * page ? vmp_granularity() : 16 * page;
}

TestSuite(placement, .init = setup);

/* A range free a moment ago, in the middle of a larger free one (the
 * test's own allocations land at the ends of free space). */
static char *free_range(size_t size) {
  size_t margin = (size_t)64 << 20;
  void *p = mmap(NULL, size + 2 * margin, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert_neq(p, MAP_FAILED);
  cr_assert_eq(munmap(p, size + 2 * margin), 0);
  return (char *)p + margin;
}

/* A mapping of the test's own, outside any region, filled with a pattern. */
static char *raw_canary(char *addr, size_t size, int byte) {
  void *p = mmap(addr, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  cr_assert_eq(p, (void *)addr, "cannot place the canary: %s", strerror(errno));
  memset(p, byte, size);
  return p;
}

static void check_canary(const char *p, size_t size, int byte) {
  for (size_t i = 0; i < size; i++)
    cr_assert_eq((unsigned char)p[i], (unsigned char)byte, "canary byte %zu changed", i);
}

/* The map of [lo, hi), as text, must be the same before and after. */
static char *maps_of(char *lo, size_t size) { return vmpt_maps_region_text(lo, size); }

static void refused_over_canary(void) {
  char *addr = free_range(8 * grain);
  char *canary = raw_canary(addr + 3 * grain, grain, 0xa5);
  char *before = maps_of(addr, 8 * grain);
  vmp_region *r = NULL;
  CHECK_RC(vmp_reserve_at(addr + 2 * grain, 4 * grain, &r), VMP_EADDRINUSE);
  CHECK_RC(vmp_reserve_at(addr + 3 * grain, page, &r), VMP_EADDRINUSE);
  CHECK_RC(
      vmp_reserve_in((uintptr_t)(addr + 3 * grain), (uintptr_t)(addr + 4 * grain), page, 0, &r),
      VMP_EADDRINUSE);
  cr_assert_null(r);
  char *after = maps_of(addr, 8 * grain);
  cr_assert_str_eq(after, before, "the map around the canary changed");
  check_canary(canary, grain, 0xa5);
  free(before);
  free(after);
  /* Beside it, the same calls succeed and leave the canary alone. */
  CHECK_OK(vmp_reserve_at(addr + 2 * grain, grain, &r));
  CHECK_OK(vmp_commit(r, 0, grain, VMP_PROT_RW));
  memset(vmp_base(r), 0x11, grain);
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
  CHECK_OK(
      vmp_reserve_in((uintptr_t)(addr + 3 * grain), (uintptr_t)(addr + 8 * grain), grain, 0, &r));
  cr_assert_eq(vmp_base(r), addr + 4 * grain, "the lowest free fit is right after the canary");
  CHECK_OK(vmp_release(r));
  check_canary(canary, grain, 0xa5);
  munmap(canary, grain);
}

Test(placement, a_mapping_the_library_does_not_know_is_never_replaced) { refused_over_canary(); }

/* ---- a kernel that ignores MAP_FIXED_NOREPLACE --------------------------------------- */

static mmap_fn real_mmap;
static long misplaced_calls;

/* What Linux before 4.17 does: the unknown flag is dropped and the address
 * is a hint, honoured only when the range is free. */
static void *old_kernel_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off) {
  if (flags & MAP_FIXED_NOREPLACE) {
    flags &= ~MAP_FIXED_NOREPLACE;
    void *p = real_mmap(a, n, prot, flags, fd, off);
    if (p != MAP_FAILED && p != a) misplaced_calls++;
    return p;
  }
  return real_mmap(a, n, prot, flags, fd, off);
}

static void use_old_kernel(int on) {
  real_mmap = (mmap_fn)vmp__testing_syscall_default("mmap");
  cr_assert_eq(vmp__testing_syscall_set("mmap", on ? (vmp__syscall_fn)old_kernel_mmap : NULL), 0);
}

Test(placement, a_kernel_taking_the_flag_for_a_hint_is_checked) {
  use_old_kernel(1);
  misplaced_calls = 0;
  refused_over_canary();
  /* The hint path was really taken (on the Linux backend; the generic
   * POSIX backend never passes the flag and is checked the same way). */
  if (vmp_capabilities()->place_exact_checked)
    cr_assert_geq(misplaced_calls, 2, "the misplaced mappings: %ld", misplaced_calls);
  /* Growing a region over an occupant is refused the same way. */
  char *addr = free_range(4 * grain);
  vmp_region *r;
  CHECK_OK(vmp_reserve_at(addr, grain, &r));
  char *canary = raw_canary(addr + 2 * grain, grain, 0x3c);
  char *before = maps_of(addr, 4 * grain);
  CHECK_RC(vmp_extend(r, 2 * grain), VMP_EADDRINUSE);
  char *after = maps_of(addr, 4 * grain);
  cr_assert_str_eq(after, before);
  CHECK_OK(vmp_extend(r, grain));
  cr_assert_eq(vmp_size(r), 2 * grain);
  CHECK_MAPS(r);
  use_old_kernel(0);
  check_canary(canary, grain, 0x3c);
  CHECK_OK(vmp_release(r));
  munmap(canary, grain);
  free(before);
  free(after);
}

/* Unmapping what a hint placed elsewhere fails once: tried again, and
 * nothing is left mapped. */
static munmap_fn real_munmap;
static int munmap_failures;
static int failing_munmap(void *a, size_t n) {
  if (munmap_failures > 0) {
    munmap_failures--;
    errno = ENOMEM;
    return -1;
  }
  return real_munmap(a, n);
}

Test(placement, a_misplaced_mapping_is_unmapped_even_if_munmap_fails_once) {
  use_old_kernel(1);
  real_munmap = (munmap_fn)vmp__testing_syscall_default("munmap");
  cr_assert_eq(vmp__testing_syscall_set("munmap", (vmp__syscall_fn)failing_munmap), 0);
  char *addr = free_range(2 * grain);
  char *canary = raw_canary(addr, grain, 0x77);
  size_t before = 0;
  const vmpt_vma *maps;
  before = vmpt_maps_read(&maps);
  munmap_failures = 1;
  vmp_region *r = NULL;
  CHECK_RC(vmp_reserve_at(addr, grain, &r), VMP_EADDRINUSE);
  cr_assert_eq(munmap_failures, 0, "munmap was not called");
  cr_assert_eq(vmpt_maps_read(&maps), before, "a mapping was left behind");
  cr_assert_eq(vmp__testing_syscall_set("munmap", NULL), 0);
  use_old_kernel(0);
  check_canary(canary, grain, 0x77);
  munmap(canary, grain);
}

/* ---- a gap taken between reading the map and claiming it -------------------------- */

static char *intruder_at;
static size_t intruder_size;
static void *intruder;

/* Another thread's mmap lands in the gap just before the library claims it. */
static void *racing_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off) {
  if (!intruder && a == intruder_at) {
    intruder = real_mmap(a, intruder_size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    cr_assert_eq(intruder, a);
    memset(intruder, 0x42, intruder_size);
  }
  return real_mmap(a, n, prot, flags, fd, off);
}

Test(placement, a_gap_taken_during_the_search_is_looked_for_again) {
  char *addr = free_range(8 * grain);
  intruder_at = addr;
  intruder_size = grain;
  intruder = NULL;
  real_mmap = (mmap_fn)vmp__testing_syscall_default("mmap");
  cr_assert_eq(vmp__testing_syscall_set("mmap", (vmp__syscall_fn)racing_mmap), 0);
  vmp_region *r = NULL;
  int rc = vmp_reserve_in((uintptr_t)addr, (uintptr_t)(addr + 8 * grain), 2 * grain, 0, &r);
  cr_assert_eq(vmp__testing_syscall_set("mmap", NULL), 0);
  CHECK_OK(rc);
  cr_assert_not_null(intruder, "the race was not staged");
  cr_assert_geq((char *)vmp_base(r), addr + grain, "placed over the intruder");
  cr_assert_leq((char *)vmp_base(r), addr + 6 * grain, "placed outside the window");
  check_canary(intruder, grain, 0x42);
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
  munmap(intruder, grain);
}

/* The window search claims the lowest fit, as the map shows it. */
Test(placement, the_window_search_takes_the_lowest_free_fit) {
  char *addr = free_range(16 * grain);
  char *a = raw_canary(addr, grain, 1);
  char *b = raw_canary(addr + 2 * grain, 2 * grain, 2);
  char *c = raw_canary(addr + 6 * grain, grain, 3);
  uintptr_t lo = (uintptr_t)addr, hi = lo + 16 * grain;
  vmp_region *r1, *r2, *r3;
  CHECK_OK(vmp_reserve_in(lo, hi, grain, 0, &r1));
  CHECK_OK(vmp_reserve_in(lo, hi, 2 * grain, 0, &r2));
  CHECK_OK(vmp_reserve_in(lo, hi, 2 * grain, 0, &r3));
  if (!vmp_capabilities()->place_window_by_system) { /* the backend's own search: lowest first */
    cr_assert_eq(vmp_base(r1), addr + grain);
    cr_assert_eq(vmp_base(r2), addr + 4 * grain);
    cr_assert_eq(vmp_base(r3), addr + 7 * grain);
  }
  CHECK_MAPS(r1);
  CHECK_MAPS(r2);
  CHECK_MAPS(r3);
  check_canary(a, grain, 1);
  check_canary(b, 2 * grain, 2);
  check_canary(c, grain, 3);
  CHECK_OK(vmp_release(r1));
  CHECK_OK(vmp_release(r2));
  CHECK_OK(vmp_release(r3));
  munmap(a, grain);
  munmap(b, 2 * grain);
  munmap(c, grain);
}

/* On Linux the growth merges with the region's placeholder: one kernel
 * mapping however often it grew. */
Test(placement, growth_costs_no_kernel_mapping) {
  char *addr = free_range(8 * grain);
  vmp_region *r;
  CHECK_OK(vmp_reserve_at(addr, grain, &r));
  for (int i = 0; i < 7; i++) CHECK_OK(vmp_extend(r, grain));
  cr_assert_eq(vmp_size(r), 8 * grain);
  cr_assert_eq(vmp_span_count(r), 8);
  cr_assert_eq(vmpt_maps_count_in(addr, 8 * grain), 1, "%zu kernel mappings",
               vmpt_maps_count_in(addr, 8 * grain));
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
  cr_assert_eq(vmpt_maps_count_in(addr, 8 * grain), 0, "release left mappings");
}

/* ---- the mapping limit, for real ------------------------------------------------------ */

/* A forked child fills its mapping table (alternating protections keep
 * the fillers from merging), then each call that needs a mapping must
 * fail with VMP_EMAPLIMIT, not the generic ENOMEM, and leave the map as
 * it was. Exit codes name the step that went wrong. */
static int child_at_the_mapping_limit(void) {
  page = vmp_page_size();
  vmp_region *r;
  if (vmp_reserve(16 * page, 0, &r) || vmp_split(r, 4 * page, 4 * page)) return 10;
  for (long n = 0;; n++) {
    void *m = mmap(NULL, page, (n & 1) ? PROT_READ : PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      if (errno != ENOMEM) return 11;
      break;
    }
  }
  const vmpt_vma *maps;
  size_t before = vmpt_maps_read(&maps);
  vmp_region *other = NULL;
  int rc = vmp_reserve(16 * page, 0, &other);
  if (rc != VMP_EMAPLIMIT) return 20 + (rc == VMP_ENOMEM);
  /* A commit in the middle of a placeholder needs two more mappings. */
  rc = vmp_commit(r, 4 * page, 4 * page, VMP_PROT_RW);
  if (rc != VMP_EMAPLIMIT) return 30 + (rc == VMP_ENOMEM);
  vmp_span_info info;
  if (vmp_query(r, (char *)vmp_base(r) + 5 * page, &info) || info.kind != VMP_PLACEHOLDER)
    return 32;
  if (vmpt_maps_read(&maps) != before) return 33;
  char why[4096];
  if (vmpt_maps_check_region(r, why, sizeof why) != 0) return 34;
  /* Reserving at an address is refused the same way. */
  rc = vmp_reserve_at((char *)vmp_base(r) - 1024 * page, 16 * page, &other);
  if (rc != VMP_EMAPLIMIT && rc != VMP_EADDRINUSE) return 40 + (rc == VMP_ENOMEM);
  if (vmpt_maps_read(&maps) != before) return 41;
  return 0;
}

Test(placement, the_mapping_limit_has_its_own_error) {
  if (UNDER_SANITIZER)
    cr_skip_test("the sanitizer's allocator cannot live with a full mapping table");
  if (!vmp_capabilities()->knows_mapping_limit) {
    /* POSIX names no limit: the same failure is the generic ENOMEM. */
    cr_assert_eq(vmp_err_name(VMP_EMAPLIMIT)[0], 'E');
    return;
  }
  vmpt_in_child(child_at_the_mapping_limit);
}
