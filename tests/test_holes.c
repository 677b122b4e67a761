/*
 * Destructive failures: POSIX lets a failed mmap(MAP_FIXED) tear the old
 * mapping down first, and a failed mprotect change some of the pages.
 * commit, unmap and discard must then leave no hole and no accessible
 * page in the kernel's map inside the region that the bookkeeping does not
 * know of (any thread's mmap could land in a hole), and the bookkeeping
 * must say what the kernel holds. The injector's destructive mode unmaps
 * the range before a failing mmap and changes the first page's protection
 * before a failing mprotect.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "support_criterion.h"
#include "support_inject.h"
#include "vmplace.h"

static size_t page;

static void arm_destructive(void) {
  inject_destructive(1);
  cr_assert_null(inject_arm(INJECT_SYSCALL, 1, 0));
}

static int disarm(void) {
  int fired = inject_disarm(INJECT_SYSCALL);
  inject_destructive(0);
  return fired;
}

static vmp_region *region_of(size_t pages) {
  page = vmp_page_size();
  vmp_region *r = NULL;
  CHECK_OK(vmp_reserve(pages * page, 0, &r));
  return r;
}

static void check_kind(vmp_region *r, size_t off, vmp_kind kind) {
  vmp_span_info info;
  CHECK_OK(vmp_query(r, (char *)vmp_base(r) + off, &info));
  cr_assert_eq(info.kind, kind, "span at %zu is kind %d, expected %d", off, info.kind, kind);
}

static void view_destroyed(int mixed) {
  vmp_region *r = region_of(16);
  vmp_mem *m = NULL;
  CHECK_OK(vmp_mem_create(8 * page, 0, &m));
  CHECK_OK(vmp_split(r, 4 * page, 4 * page));
  CHECK_OK(vmp_map(r, 4 * page, 4 * page, m, 2 * page, VMP_PROT_READ | VMP_PROT_WRITE));
  char *view = (char *)vmp_base(r) + 4 * page;
  vmpt_fill_pages(view, 4 * page, 7);
  if (mixed) CHECK_OK(vmp_protect(r, 5 * page, page, VMP_PROT_READ));

  arm_destructive();
  int rc = vmp_unmap(r, 4 * page, 4 * page);
  cr_assert(disarm(), "the injected failure was not made");

  /* The view is mapped again exactly: same object pages, same protections. */
  cr_assert_lt(rc, 0, "unmap succeeded: %s", vmp_err_name(rc));
  check_kind(r, 4 * page, VMP_VIEW);
  CHECK_MAPS(r);
  char *expect = malloc(4 * page);
  vmpt_fill_pages(expect, 4 * page, 7);
  cr_assert_eq(memcmp(view, expect, 4 * page), 0, "the view shows other bytes");
  free(expect);

  CHECK_OK(vmp_unmap(r, 4 * page, 4 * page));
  CHECK_MAPS(r);
  CHECK_OK(vmp_mem_close(m));
  CHECK_OK(vmp_release(r));
}

Test(holes, destroyed_view_is_mapped_again) { view_destroyed(0); }
Test(holes, destroyed_mixed_view_gets_its_protections_back) { view_destroyed(1); }

/* A commit whose system call failed half-done leaves the placeholder as
 * it was in the kernel too: no page of it is accessible, whichever call
 * the backend commits with. The next commit gives zero-filled memory. */
static void commit_destroyed(int prot) {
  vmp_region *r = region_of(16);
  CHECK_OK(vmp_split(r, 4 * page, 8 * page));
  arm_destructive();
  int rc = vmp_commit(r, 4 * page, 8 * page, prot);
  cr_assert(disarm(), "the injected failure was not made");
  cr_assert_lt(rc, 0, "commit succeeded: %s", vmp_err_name(rc));
  check_kind(r, 4 * page, VMP_PLACEHOLDER);
  CHECK_MAPS(r);

  CHECK_OK(vmp_commit(r, 4 * page, 8 * page, prot));
  const unsigned char *p = (const unsigned char *)vmp_base(r) + 4 * page;
  for (size_t i = 0; i < 8 * page; i += 512) cr_assert_eq(p[i], 0, "byte %zu is %d", i, p[i]);
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
}

Test(holes, destroyed_commit_is_a_placeholder_again) {
  commit_destroyed(VMP_PROT_READ | VMP_PROT_WRITE);
}
Test(holes, destroyed_read_only_commit_is_a_placeholder_again) { commit_destroyed(VMP_PROT_READ); }
Test(holes, destroyed_executable_commit_is_a_placeholder_again) {
  commit_destroyed(VMP_PROT_READ | VMP_PROT_EXEC);
}

/* The memory a placeholder held before is gone for good: written pages,
 * unmapped, then committed again at the same place read as zeros. */
Test(holes, recommitted_memory_is_zero) {
  vmp_region *r = region_of(16);
  CHECK_OK(vmp_split(r, 4 * page, 8 * page));
  for (int round = 0; round < 3; round++) {
    CHECK_OK(vmp_commit(r, 4 * page, 8 * page, VMP_PROT_READ | VMP_PROT_WRITE));
    unsigned char *p = (unsigned char *)vmp_base(r) + 4 * page;
    for (size_t i = 0; i < 8 * page; i++) cr_assert_eq(p[i], 0, "round %d: byte %zu", round, i);
    memset(p, 0xa5, 8 * page);
    CHECK_OK(vmp_unmap(r, 4 * page, 8 * page));
  }
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
}

/* The private pages are gone: the unmap is completed and succeeds. */
Test(holes, destroyed_private_pages_complete_the_unmap) {
  vmp_region *r = region_of(16);
  CHECK_OK(vmp_split(r, 0, 8 * page));
  CHECK_OK(vmp_commit(r, 0, 8 * page, VMP_PROT_READ | VMP_PROT_WRITE));
  CHECK_OK(vmp_protect(r, 6 * page, page, VMP_PROT_READ));
  arm_destructive();
  int rc = vmp_unmap(r, 2 * page, 3 * page);
  cr_assert(disarm(), "the injected failure was not made");
  CHECK_RC(rc, 0);
  check_kind(r, 0, VMP_PRIVATE);
  check_kind(r, 2 * page, VMP_PLACEHOLDER);
  check_kind(r, 5 * page, VMP_PRIVATE);
  CHECK_MAPS(r);
  CHECK_OK(vmp_release(r));
}

/* A refusal that destroys nothing leaves the private pages and their data. */
Test(holes, refused_private_unmap_keeps_the_data) {
  vmp_region *r = region_of(8);
  CHECK_OK(vmp_split(r, 0, 4 * page));
  CHECK_OK(vmp_commit(r, 0, 4 * page, VMP_PROT_READ | VMP_PROT_WRITE));
  char *p = vmp_base(r);
  memset(p, 0x5a, 4 * page);
  cr_assert_null(inject_arm(INJECT_SYSCALL, 1, 0));
  int rc = vmp_unmap(r, page, page);
  cr_assert(disarm());
  cr_assert_lt(rc, 0);
  check_kind(r, page, VMP_PRIVATE);
  CHECK_MAPS(r);
  for (size_t i = 0; i < 4 * page; i++) cr_assert_eq(p[i], 0x5a, "byte %zu changed", i);
  CHECK_OK(vmp_release(r));
}

/* A backend that discards by mapping fresh pages (the generic POSIX one)
 * meets the destructive failure: the pages are mapped fresh (zero, as
 * discard promised) and the call succeeds. One that discards with madvise
 * (Linux) fails without destroying anything: the data stays. Which it is
 * shows in the call that was made to fail. */
Test(holes, destroyed_discard_leaves_zero_pages_not_a_hole) {
  vmp_region *r = region_of(8);
  CHECK_OK(vmp_split(r, 0, 4 * page));
  CHECK_OK(vmp_commit(r, 0, 4 * page, VMP_PROT_READ | VMP_PROT_WRITE));
  unsigned char *p = vmp_base(r);
  memset(p, 0x5a, 4 * page);
  arm_destructive();
  int rc = vmp_discard(r, page, 2 * page);
  int destroyed = inject_failed_call() && strcmp(inject_failed_call(), "mmap") == 0;
  cr_assert(disarm());
  CHECK_MAPS(r);
  check_kind(r, page, VMP_PRIVATE);
  int want = destroyed ? 0 : 0x5a;
  if (want == 0)
    CHECK_RC(rc, 0);
  else
    cr_assert_lt(rc, 0);
  for (size_t i = page; i < 3 * page; i++) cr_assert_eq(p[i], want, "byte %zu is %d", i, p[i]);
  cr_assert_eq(p[0], 0x5a);
  cr_assert_eq(p[3 * page], 0x5a);
  p[page] = 1; /* still writable */
  CHECK_OK(vmp_release(r));
}

/* At the kernel's mapping limit a protect inside a span fails part-way:
 * the first cut of the VMA is made, the second is refused. The call must
 * report VMP_EMAPLIMIT (VMP_ENOMEM on generic POSIX) with every page's protection and data as
 * before and (on this kernel, which checks before cutting) the same number of mappings over the
 * region; the header states what a kernel that cuts first may leave. Real, not injected: a forked
 * child fills its mapping table up to one free slot. */
static int child_protect_at_the_limit(void) {
  vmp_region *r = region_of(16);
  if (vmp_split(r, 4 * page, 8 * page) ||
      vmp_commit(r, 4 * page, 8 * page, VMP_PROT_READ | VMP_PROT_WRITE))
    return 10;
  unsigned char *p = (unsigned char *)vmp_base(r) + 4 * page;
  memset(p, 0x33, 8 * page);
  /* Alternating protections keep neighbouring fillers from merging. */
  void *last = NULL;
  for (long n = 0;; n++) {
    void *m = mmap(NULL, page, (n & 1) ? PROT_READ : PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      if (errno != ENOMEM) return 11;
      break;
    }
    last = m;
  }
  if (!last || munmap(last, page) != 0) return 12; /* one slot free */
  size_t before = vmpt_maps_count_in(vmp_base(r), 16 * page);
  int rc = vmp_protect(r, 6 * page, 2 * page, VMP_PROT_READ);
  /* Linux names the cause; generic POSIX cannot. */
  if (rc != (vmp_capabilities()->knows_mapping_limit ? VMP_EMAPLIMIT : VMP_ENOMEM)) return 13;
  /* No allocation from here on: there is no slot for the allocator. */
  if (vmpt_maps_count_in(vmp_base(r), 16 * page) != before) return 17;
  char why[4096];
  if (vmpt_maps_check_region(r, why, sizeof why) != 0) return 14;
  for (size_t i = 0; i < 8 * page; i++)
    if (p[i] != 0x33) return 15;
  p[2 * page] = 1; /* still writable */
  vmp_span_info info;
  if (vmp_query(r, p + 2 * page, &info) || info.prot != (VMP_PROT_READ | VMP_PROT_WRITE)) return 16;
  return 0;
}

Test(holes, protect_at_the_mapping_limit_restores_protections) {
  if (UNDER_SANITIZER)
    cr_skip_test("the sanitizer's allocator cannot live with a full mapping table");
  page = vmp_page_size();
  vmpt_in_child(child_protect_at_the_limit);
}
