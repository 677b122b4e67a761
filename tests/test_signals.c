/* What is inaccessible really faults (docs/contract.md: placeholder, any access
 * faults). Each test expects SIGSEGV in its own process. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>

#include "support_criterion.h"
#include "vmplace.h"

static volatile char sink;

static void touch_read(const char *p) { sink = *(const volatile char *)p; }
static void touch_write(char *p) { *(volatile char *)p = 1; }

Test(signals, reading_a_new_region_faults, .signal = SIGSEGV) {
  vmp_region *r;
  CHECK_OK(vmp_reserve(4 * PG, 0, &r));
  touch_read((char *)vmp_base(r) + PG);
}

Test(signals, writing_a_placeholder_faults, .signal = SIGSEGV) {
  vmp_region *r;
  CHECK_OK(vmp_reserve(4 * PG, 0, &r));
  CHECK_OK(vmp_split(r, 0, 2 * PG));
  CHECK_OK(vmp_commit(r, 0, 2 * PG, VMP_PROT_RW));
  touch_write((char *)vmp_base(r)); /* fine */
  touch_write((char *)vmp_base(r) + 2 * PG);
}

/* A region that is one view of two pages of a fresh object, with prot. */
static vmp_region *view_of_two_pages(int prot) {
  vmp_region *r;
  vmp_mem *m;
  CHECK_OK(vmp_mem_create(2 * PG, 0, &m));
  CHECK_OK(vmp_reserve(2 * PG, 0, &r));
  CHECK_OK(vmp_map(r, 0, 2 * PG, m, 0, prot));
  return r;
}

Test(signals, writing_a_read_only_view_faults, .signal = SIGSEGV) {
  vmp_region *r = view_of_two_pages(VMP_PROT_READ);
  touch_read((char *)vmp_base(r) + PG); /* fine */
  touch_write((char *)vmp_base(r) + PG);
}

static vmp_region *two_views_with_a_guard(void) {
  vmp_region *r;
  vmp_mem *m;
  CHECK_OK(vmp_mem_create(2 * PG, 0, &m));
  CHECK_OK(vmp_reserve(5 * PG, 0, &r));
  CHECK_OK(vmp_split(r, 0, 2 * PG));
  CHECK_OK(vmp_split(r, 2 * PG, PG));
  CHECK_OK(vmp_map(r, 0, 2 * PG, m, 0, VMP_PROT_RW));
  CHECK_OK(vmp_map(r, 3 * PG, 2 * PG, m, 0, VMP_PROT_RW));
  CHECK_OK(vmp_mem_close(m));
  char *b = vmp_base(r);
  touch_write(b + 2 * PG - 1);
  touch_write(b + 3 * PG);
  CHECK_MAPS(r);
  return r;
}

Test(signals, guard_between_views_faults_on_overrun, .signal = SIGSEGV) {
  vmp_region *r = two_views_with_a_guard();
  touch_write((char *)vmp_base(r) + 2 * PG);
}

Test(signals, guard_between_views_faults_on_underrun, .signal = SIGSEGV) {
  vmp_region *r = two_views_with_a_guard();
  touch_read((char *)vmp_base(r) + 3 * PG - 1);
}

Test(signals, protect_none_faults, .signal = SIGSEGV) {
  vmp_region *r;
  CHECK_OK(vmp_reserve(4 * PG, 0, &r));
  CHECK_OK(vmp_commit(r, 0, 4 * PG, VMP_PROT_RW));
  CHECK_OK(vmp_protect(r, PG, PG, VMP_PROT_NONE));
  touch_read((char *)vmp_base(r) + 2 * PG); /* fine */
  touch_read((char *)vmp_base(r) + PG);
}

Test(signals, unmapped_view_faults, .signal = SIGSEGV) {
  vmp_region *r = view_of_two_pages(VMP_PROT_RW);
  touch_write(vmp_base(r));
  CHECK_OK(vmp_unmap(r, 0, 2 * PG));
  touch_read(vmp_base(r));
}

Test(signals, coalesced_placeholder_faults, .signal = SIGSEGV) {
  vmp_region *r;
  CHECK_OK(vmp_reserve(4 * PG, 0, &r));
  CHECK_OK(vmp_split(r, PG, PG));
  CHECK_OK(vmp_coalesce(r, 0, 4 * PG));
  touch_read((char *)vmp_base(r) + 3 * PG);
}

/* The control: the same accesses on accessible memory do not fault. */
Test(signals, accessible_memory_does_not_fault) {
  vmp_region *r = two_views_with_a_guard();
  touch_write((char *)vmp_base(r));
  touch_read((char *)vmp_base(r) + 4 * PG);
  CHECK_OK(vmp_release(r));
}
