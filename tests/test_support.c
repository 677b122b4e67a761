/* The checkers themselves must be able to fail: tamper behind the
 * library's back and see each one notice. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "support_criterion.h"
#include "support_util.h"
#include "vmplace.h"

static vmp_region *r;
static vmp_mem *m;
static char *b;

/* [0,4) private rw, [4,8) view rw, [8,16) placeholder. */
static void setup(void) {
  CHECK_OK(vmp_reserve(16 * PG, 0, &r));
  b = vmp_base(r);
  CHECK_OK(vmp_split(r, 0, 4 * PG));
  CHECK_OK(vmp_split(r, 4 * PG, 4 * PG));
  CHECK_OK(vmp_commit(r, 0, 4 * PG, VMP_PROT_RW));
  CHECK_OK(vmp_mem_create(8 * PG, 0, &m));
  CHECK_OK(vmp_map(r, 4 * PG, 4 * PG, m, 2 * PG, VMP_PROT_RW));
  vmpt_fill_pages(b, 8 * PG, 9);
}

static void teardown(void) {
  CHECK_OK(vmp_release(r));
  CHECK_OK(vmp_mem_close(m));
}

static int maps_ok(void) {
  char why[1024];
  return vmpt_maps_check_region(r, why, sizeof why) == 0;
}

Test(support, maps_check_sees_a_protection_change, .init = setup, .fini = teardown) {
  cr_assert(maps_ok());
  cr_assert_eq(mprotect(b + PG, PG, PROT_READ), 0);
  cr_assert_not(maps_ok(), "a private page made read-only behind the library's back");
  cr_assert_eq(mprotect(b + PG, PG, PROT_READ | PROT_WRITE), 0);
  cr_assert(maps_ok());
  cr_assert_eq(mprotect(b + 10 * PG, PG, PROT_READ), 0);
  cr_assert_not(maps_ok(), "a readable placeholder page");
  cr_assert_eq(mprotect(b + 10 * PG, PG, PROT_NONE), 0);
  cr_assert(maps_ok());
}

/* Maps one read-write page at `at` behind the library's back. */
static void map_behind(char *at, int flags, int fd, off_t offset) {
  cr_assert_neq(mmap(at, PG, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, offset), MAP_FAILED);
}

Test(support, maps_check_sees_a_wrong_view, .init = setup, .fini = teardown) {
  int fd = (int)vmp_mem_fd(m);
  /* The same object at the wrong offset. */
  map_behind(b + 5 * PG, MAP_SHARED, fd, 0);
  cr_assert_not(maps_ok(), "a view page at the wrong object offset");
  map_behind(b + 5 * PG, MAP_SHARED, fd, 3 * (off_t)PG);
  cr_assert(maps_ok());
  /* Private memory where a view should be. */
  map_behind(b + 6 * PG, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert_not(maps_ok(), "private memory inside a view");
  map_behind(b + 6 * PG, MAP_SHARED, fd, 4 * (off_t)PG);
  cr_assert(maps_ok());
}

/* state_compare() of a fresh state against the one taken first. */
static int differs_from(const region_state *before) {
  region_state now;
  cr_assert_eq(state_take(r, &now), 0);
  int differs = state_compare(before, &now, NULL, 0);
  state_free(&now);
  return differs;
}

Test(support, state_sees_bytes_protection_and_spans, .init = setup, .fini = teardown) {
  region_state before, hidden;
  cr_assert_eq(state_take(r, &before), 0);
  cr_assert_not(differs_from(&before), "two states of an untouched region differ");

  b[2 * PG + 100] ^= 1;
  cr_assert(differs_from(&before), "a changed byte");
  b[2 * PG + 100] ^= 1;

  /* Bytes of a page the program cannot read are compared too. */
  CHECK_OK(vmp_protect(r, 3 * PG, PG, VMP_PROT_NONE));
  cr_assert_eq(state_take(r, &hidden), 0);
  cr_assert_eq(mprotect(b + 3 * PG, PG, PROT_READ | PROT_WRITE), 0);
  b[3 * PG] ^= 1;
  cr_assert_eq(mprotect(b + 3 * PG, PG, PROT_NONE), 0);
  cr_assert(differs_from(&hidden), "a changed byte in a protection-none page");
  state_free(&hidden);
  CHECK_OK(vmp_protect(r, 3 * PG, PG, VMP_PROT_RW));
  b[3 * PG] ^= 1;

  cr_assert_eq(mprotect(b, PG, PROT_READ), 0);
  cr_assert(differs_from(&before), "kernel protection");
  cr_assert_eq(mprotect(b, PG, PROT_READ | PROT_WRITE), 0);

  CHECK_OK(vmp_split(r, 8 * PG, PG));
  cr_assert(differs_from(&before), "an extra span");
  CHECK_OK(vmp_coalesce(r, 8 * PG, 8 * PG));

  cr_assert_not(differs_from(&before), "the region is as it was");
  state_free(&before);
}

Test(support, outside_check_sees_a_new_mapping, .init = setup, .fini = teardown) {
  char why[1024];
  vmpt_outside *o = vmpt_outside_take(b, 16 * PG);
  cr_assert(o);
  cr_assert_eq(vmpt_outside_compare(o, why, sizeof why), 0, "%s", why);
  void *p = mmap(NULL, PG, PROT_READ, MAP_SHARED, (int)vmp_mem_fd(m), 0);
  cr_assert_neq(p, MAP_FAILED);
  cr_assert_neq(vmpt_outside_compare(o, why, sizeof why), 0, "a new shared mapping");
  munmap(p, PG);
  cr_assert_eq(vmpt_outside_compare(o, why, sizeof why), 0, "%s", why);
  vmpt_outside_free(o);
}

Test(support, vma_count) {
  CHECK_OK(vmp_reserve(8 * PG, 0, &r));
  b = vmp_base(r);
  cr_assert_eq(vmpt_maps_count_in(b, 8 * PG), 1);
  CHECK_OK(vmp_split(r, 2 * PG, 2 * PG));
  CHECK_OK(vmp_commit(r, 2 * PG, 2 * PG, VMP_PROT_RW));
  cr_assert_eq(vmpt_maps_count_in(b, 8 * PG), 3);
  CHECK_OK(vmp_release(r));
}

/* The "nothing named left behind" check sees a name the library could have
 * left in /dev/shm, and only such names. */
Test(support, shm_fingerprint_sees_our_names_only) {
  char ours[96], foreign[96];
  snprintf(ours, sizeof ours, "/vmplace-%ld-test-leak", (long)getpid());
  snprintf(foreign, sizeof foreign, "/vmpt-foreign-%ld", (long)getpid());
  uint64_t before = vmpt_dir_fingerprint("/dev/shm", NULL);

  int fd = shm_open(foreign, O_RDWR | O_CREAT | O_EXCL, 0600);
  cr_assert_geq(fd, 0);
  close(fd);
  uint64_t with_foreign = vmpt_dir_fingerprint("/dev/shm", NULL);
  shm_unlink(foreign);
  cr_assert_eq(with_foreign, before, "a name no library of ours makes was counted");

  fd = shm_open(ours, O_RDWR | O_CREAT | O_EXCL, 0600);
  cr_assert_geq(fd, 0);
  close(fd);
  uint64_t with_ours = vmpt_dir_fingerprint("/dev/shm", NULL);
  shm_unlink(ours);
  cr_assert_neq(with_ours, before, "a leaked vmplace name went unnoticed");
}
