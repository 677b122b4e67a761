/*
 * Failure leaves no trace (docs/contract.md section 2). For every operation and for
 * n = 1, 2, 3, ...: make the n-th system call the library makes fail (every
 * entry of the syscall table is replaced by a counting wrapper), run the
 * operation, and when it fails prove that the spans, the bytes, the
 * kernel's mappings, the descriptors and the names in /dev/shm and $TMPDIR
 * are exactly as before. Stop once the operation succeeds without reaching
 * the injected failure. The same with bookkeeping allocations.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "check.h"
#include "portable/support_steps.h"
#include "portable/support_util.h"
#include "testing.h"
#include "vmplace.h"

/* ---- the fixture: a region holding every kind of span --------------------- */

#define REGION_PAGES 32

typedef struct fixture {
  vmp_region *r;     /* the region under test (NULL once released) */
  vmp_mem *m;        /* 8 pages; pages 0-7 mapped at region page 8 */
  vmp_mem *file_mem; /* a read-only 4-page file, mapped nowhere yet */
  char path[512];    /* that file */
  vmp_region *made_region;
  vmp_mem *made_mem;
  int adopt_fd;
  uint64_t m_size;
} fixture;

/* The fixture's file, removed by the test's .fini even when an assertion
 * ends the test early. */
static char live_path[512];

static void remove_live_file(void) {
  if (live_path[0]) vmpt_temp_file_remove(live_path);
  live_path[0] = '\0';
}

static void fixture_setup(fixture *f) {
  memset(f, 0, sizeof *f);
  f->adopt_fd = -1;
  CHECK_OK(vmp_reserve(REGION_PAGES * PG, 0, &f->r));
  char *b = vmp_base(f->r);
  /* [0,8) private rw, pages 6-7 read-only; [8,16) view of m; then three
   * placeholders [16,20) [20,24) [24,32). */
  CHECK_OK(vmp_split(f->r, 0, 8 * PG));
  CHECK_OK(vmp_split(f->r, 8 * PG, 8 * PG));
  CHECK_OK(vmp_split(f->r, 16 * PG, 4 * PG));
  CHECK_OK(vmp_split(f->r, 20 * PG, 4 * PG));
  CHECK_OK(vmp_commit(f->r, 0, 8 * PG, VMP_PROT_RW));
  vmpt_fill_pages(b, 8 * PG, 1);
  CHECK_OK(vmp_protect(f->r, 6 * PG, 2 * PG, VMP_PROT_READ));
  CHECK_OK(vmp_mem_create(8 * PG, 0, &f->m));
  CHECK_OK(vmp_map(f->r, 8 * PG, 8 * PG, f->m, 0, VMP_PROT_RW));
  vmpt_fill_pages(b + 8 * PG, 8 * PG, 2);
  cr_assert_eq(vmpt_temp_file(4 * PG, 0x5c, f->path, sizeof f->path), 0);
  snprintf(live_path, sizeof live_path, "%s", f->path);
  CHECK_OK(vmp_mem_open(f->path, VMP_MEM_READ, &f->file_mem));
  CHECK_OK(vmp_mem_size(f->m, &f->m_size));
  f->adopt_fd = open(f->path, O_RDWR | O_CLOEXEC);
  cr_assert_geq(f->adopt_fd, 0);
  CHECK_MAPS(f->r);
}

static void fixture_teardown(fixture *f) {
  if (f->made_region) CHECK_OK(vmp_release(f->made_region));
  if (f->made_mem) vmp_mem_close(f->made_mem);
  if (f->adopt_fd >= 0) close(f->adopt_fd);
  if (f->r) CHECK_OK(vmp_release(f->r));
  vmp_mem_close(f->m);
  vmp_mem_close(f->file_mem);
  remove_live_file();
}

/* ---- operations ------------------------------------------------------------ */

static int op_reserve(fixture *f) { return vmp_reserve(16 * PG, 0, &f->made_region); }
static int op_reserve_aligned(fixture *f) {
  return vmp_reserve(16 * PG, 1u << 21, &f->made_region);
}
static int op_split(fixture *f) { return vmp_split(f->r, 26 * PG, 2 * PG); }
static int op_coalesce(fixture *f) { return vmp_coalesce(f->r, 16 * PG, 16 * PG); }
static int op_commit(fixture *f) { return vmp_commit(f->r, 16 * PG, 4 * PG, VMP_PROT_RW); }
static int op_map(fixture *f) { return vmp_map(f->r, 20 * PG, 4 * PG, f->m, 4 * PG, VMP_PROT_RW); }
static int op_map_file(fixture *f) {
  return vmp_map(f->r, 20 * PG, 4 * PG, f->file_mem, 0, VMP_PROT_READ);
}
static int op_unmap_view(fixture *f) { return vmp_unmap(f->r, 8 * PG, 8 * PG); }
static int op_unmap_private_middle(fixture *f) { return vmp_unmap(f->r, 2 * PG, 3 * PG); }
static int op_unmap_private_mixed(fixture *f) { return vmp_unmap(f->r, 5 * PG, 2 * PG); }
static int op_protect_whole(fixture *f) { return vmp_protect(f->r, 0, 8 * PG, VMP_PROT_NONE); }
static int op_protect_partial(fixture *f) {
  return vmp_protect(f->r, 2 * PG, 2 * PG, VMP_PROT_READ);
}
static int op_protect_view(fixture *f) { return vmp_protect(f->r, 8 * PG, 8 * PG, VMP_PROT_READ); }
static int op_discard(fixture *f) { return vmp_discard(f->r, 1 * PG, 4 * PG); }
static int op_discard_mixed(fixture *f) { return vmp_discard(f->r, 4 * PG, 4 * PG); }
static int op_mem_create(fixture *f) { return vmp_mem_create(4 * PG, 0, &f->made_mem); }
static int op_mem_open_ro(fixture *f) { return vmp_mem_open(f->path, VMP_MEM_READ, &f->made_mem); }
static int op_mem_open_rw(fixture *f) { return vmp_mem_open(f->path, VMP_MEM_RW, &f->made_mem); }
static int op_mem_adopt(fixture *f) {
  int rc = vmp_mem_adopt(f->adopt_fd, 0, &f->made_mem);
  if (rc == 0) f->adopt_fd = -1; /* the object owns it now */
  return rc;
}
static int op_mem_grow(fixture *f) { return vmp_mem_grow(f->m, 16 * PG); }
static int op_release(fixture *f) {
  int rc = vmp_release(f->r);
  if (rc == 0) f->r = NULL;
  return rc;
}

/* ---- the driver ------------------------------------------------------------- */

typedef struct world {
  region_state region;
  vmpt_outside *outside;
  size_t fds;
  uint64_t shm_names, tmp_names;
  uint64_t m_size;
} world;

static void world_take(world *w, fixture *f) {
  cr_assert_eq(state_take(f->r, &w->region), 0);
  w->outside = vmpt_outside_take(vmp_base(f->r), vmp_size(f->r));
  cr_assert(w->outside);
  w->fds = vmpt_fd_count();
  w->shm_names = vmpt_dir_fingerprint("/dev/shm", NULL);
  w->tmp_names = vmpt_dir_fingerprint(vmpt_tmpdir(), NULL);
  CHECK_OK(vmp_mem_size(f->m, &w->m_size));
}

static void world_free(world *w) {
  state_free(&w->region);
  vmpt_outside_free(w->outside);
}

/* Whatever the outcome: nothing named may be left behind. */
static void check_no_names(const world *before, const char *what) {
  char prefix[64];
  int shm_same = vmpt_dir_fingerprint("/dev/shm", NULL) == before->shm_names;
  int tmp_same = vmpt_dir_fingerprint(vmpt_tmpdir(), NULL) == before->tmp_names;
  if (!shm_same || !tmp_same) {
    /* The library's names carry the pid: clean up before failing. */
    snprintf(prefix, sizeof prefix, "vmplace-%ld-", (long)getpid());
    vmpt_remove_names("/dev/shm", prefix);
    vmpt_remove_names(vmpt_tmpdir(), prefix);
  }
  cr_assert(shm_same, "%s: a name was left in /dev/shm", what);
  cr_assert(tmp_same, "%s: a name was left in %s", what, vmpt_tmpdir());
}

/* After a failed call: the world is exactly as it was. */
static void check_unchanged(const world *before, fixture *f, const char *what, int rc) {
  char why[8192];
  cr_assert_lt(rc, 0, "%s: failed with a non-negative code %d", what, rc);
  cr_assert(f->r, "%s: failed but the region is gone", what);
  region_state now;
  cr_assert_eq(state_take(f->r, &now), 0);
  int differs = state_compare(&before->region, &now, why, sizeof why);
  state_free(&now);
  cr_assert_eq(differs, 0, "%s returned %s but left a trace: %s", what, vmp_err_name(rc), why);
  cr_assert_eq(vmpt_outside_compare(before->outside, why, sizeof why), 0,
               "%s returned %s but changed memory outside the region: %s", what, vmp_err_name(rc),
               why);
  cr_assert_eq(vmpt_fd_count(), before->fds, "%s returned %s but leaked a descriptor", what,
               vmp_err_name(rc));
  cr_assert_null(f->made_region, "%s failed but produced a region", what);
  uint64_t size;
  CHECK_OK(vmp_mem_size(f->m, &size));
  cr_assert_eq(size, before->m_size, "%s returned %s but resized the object", what,
               vmp_err_name(rc));
}

/* After a successful call: the kernel still agrees with the bookkeeping. */
static void check_consistent(fixture *f, const char *what) {
  char why[4096];
  if (f->r)
    cr_assert_eq(vmpt_maps_check_region(f->r, why, sizeof why), 0,
                 "%s succeeded but maps disagree with spans: %s", what, why);
  if (f->made_region)
    cr_assert_eq(vmpt_maps_check_region(f->made_region, why, sizeof why), 0,
                 "%s succeeded but maps of the new region disagree with spans: %s", what, why);
}

typedef int (*operation)(fixture *);

/* One operation under the step driver. */
typedef struct fault_run {
  operation op;
  const char *name;
  fixture f;
  world before;
} fault_run;

static int run_setup(void *ctx) {
  fault_run *run = ctx;
  fixture_setup(&run->f);
  world_take(&run->before, &run->f);
  return 0;
}

static int run_op(void *ctx) {
  fault_run *run = ctx;
  return run->op(&run->f);
}

static void run_check(void *ctx, const steps_attempt *a) {
  fault_run *run = ctx;
  char what[160];
  snprintf(what, sizeof what, "%s with %s %ld failing", run->name, a->fired ? "step" : "no step",
           a->n);
  check_no_names(&run->before, what);
  if (a->rc != 0)
    check_unchanged(&run->before, &run->f, what, a->rc);
  else
    check_consistent(&run->f, what);
  world_free(&run->before);
  fixture_teardown(&run->f);
}

/* Fails each system call (with errnum) or each allocation of op in turn. */
static void fail_each_step(operation op, const char *name, inject_kind kind, int errnum) {
  if (op == op_discard_mixed && !vmp_capabilities()->discard_mixed_one_step)
    cr_skip_test(
        "this backend discards mixed protections run by run (tests/portable/suite_faults.c)");
  fault_run run = {.op = op, .name = name};
  steps_plan plan = {.what = name,
                     .kind = kind,
                     .errnum = errnum,
                     .ctx = &run,
                     .setup = run_setup,
                     .op = run_op,
                     .check = run_check};
  steps_run(&plan);
}

/* One test per operation and kind of failure, so that one broken path
 * does not hide the others. */
#define FAULT_TEST(op)                                    \
  Test(faults, op##_enomem, .fini = remove_live_file) {   \
    fail_each_step(op_##op, #op, INJECT_SYSCALL, ENOMEM); \
  }                                                       \
  Test(faults, op##_eio, .fini = remove_live_file) {      \
    fail_each_step(op_##op, #op, INJECT_SYSCALL, EIO);    \
  }                                                       \
  Test(faults, op##_eacces, .fini = remove_live_file) {   \
    fail_each_step(op_##op, #op, INJECT_SYSCALL, EACCES); \
  }                                                       \
  Test(faults, op##_alloc, .fini = remove_live_file) {    \
    fail_each_step(op_##op, #op, INJECT_ALLOCATION, 0);   \
  }

FAULT_TEST(reserve)
FAULT_TEST(reserve_aligned)
FAULT_TEST(split)
FAULT_TEST(coalesce)
FAULT_TEST(commit)
FAULT_TEST(map)
FAULT_TEST(map_file)
FAULT_TEST(unmap_view)
FAULT_TEST(unmap_private_middle)
FAULT_TEST(unmap_private_mixed)
FAULT_TEST(protect_whole)
FAULT_TEST(protect_partial)
FAULT_TEST(protect_view)
FAULT_TEST(discard)
FAULT_TEST(discard_mixed)
FAULT_TEST(mem_create)
FAULT_TEST(mem_open_ro)
FAULT_TEST(mem_open_rw)
FAULT_TEST(mem_adopt)
FAULT_TEST(mem_grow)
FAULT_TEST(release)

/* The injector must see every system call, or a failure path could escape
 * this file unnoticed. */
Test(faults, every_syscall_has_a_wrapper) {
  size_t entries = 0;
  for (const char *name = vmp__testing_syscall_next(NULL); name;
       name = vmp__testing_syscall_next(name), entries++)
    cr_expect(vmp__testing_syscall_default(name), "no default for \"%s\"", name);
  cr_assert_gt(entries, 0, "the syscall table is empty");
  const char *missing = inject_missing_wrapper();
  cr_assert_null(missing, "syscall table entry \"%s\" has no wrapper", missing);
  cr_assert_eq(vmp__testing_syscall_set("no_such_call", NULL), VMP_EINVAL);
}

/* The wrappers are really called: an op that needs mmap fails when every
 * call fails. */
Test(faults, injection_reaches_the_library) {
  fixture f;
  fixture_setup(&f);
  cr_assert_null(inject_arm(INJECT_SYSCALL, 1, ENOMEM));
  int rc = vmp_commit(f.r, 16 * PG, 4 * PG, VMP_PROT_RW);
  cr_assert(inject_disarm(INJECT_SYSCALL), "vmp_commit made no system call through the table");
  cr_assert_eq(rc, VMP_ENOMEM, "an injected ENOMEM gave %s", vmp_err_name(rc));
  fixture_teardown(&f);
}

/* An injected OS error other than ENOMEM keeps its native code. */
Test(faults, os_error_keeps_native_code) {
  fixture f;
  fixture_setup(&f);
  cr_assert_null(inject_arm(INJECT_SYSCALL, 1, EIO));
  int rc = vmp_protect(f.r, 0, 8 * PG, VMP_PROT_READ);
  cr_assert(inject_disarm(INJECT_SYSCALL));
  cr_assert(vmp_err_is_os(rc), "protect failing with EIO gave %s", vmp_err_name(rc));
  cr_assert_eq(vmp_err_os_code(rc), EIO);
  fixture_teardown(&f);
}

/* docs/contract.md: split and coalesce make no system call at all. */
Test(faults, split_and_coalesce_make_no_system_call) {
  fixture f;
  fixture_setup(&f);
  cr_assert_null(inject_arm(INJECT_SYSCALL, 0, 0));
  CHECK_OK(vmp_split(f.r, 24 * PG, 2 * PG));
  CHECK_OK(vmp_split(f.r, 26 * PG, 2 * PG));
  CHECK_OK(vmp_coalesce(f.r, 16 * PG, 16 * PG));
  long calls = inject_calls();
  inject_disarm(INJECT_SYSCALL);
  cr_assert_eq(calls, 0, "split and coalesce made %ld system calls", calls);
  fixture_teardown(&f);
}

/* The undo counter counts: a failure path whose undo fails is seen. With
 * every mprotect failing, the protect of a range of two protections fails
 * and so does its repair, one call per run. */
static int failing_mprotect(void *addr, size_t len, int prot) {
  (void)addr, (void)len, (void)prot;
  errno = ENOMEM;
  return -1;
}

Test(faults, a_failed_undo_is_counted, .fini = remove_live_file) {
  fixture f;
  fixture_setup(&f);
  long before = vmp__testing_undo_failures();
  cr_assert_eq(vmp__testing_syscall_set("mprotect", (vmp__syscall_fn)failing_mprotect), 0);
  int rc = vmp_protect(f.r, 4 * PG, 4 * PG, VMP_PROT_NONE);
  cr_assert_eq(vmp__testing_syscall_set("mprotect", NULL), 0);
  cr_assert_eq(rc, VMP_ENOMEM, "protect gave %s", vmp_err_name(rc));
  cr_assert_eq(vmp__testing_undo_failures(), before + 1, "the failed repair was not counted once");
  fixture_teardown(&f);
}
