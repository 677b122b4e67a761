/*
 * "Failure leaves no trace" (docs/contract.md section 2), on the backend under test.
 *
 * For each operation, and for n = 1, 2, ...: every entry of the library's
 * system-call table is replaced by a wrapper that makes the n-th call
 * fail; the operation runs on a freshly built region; when it fails, the
 * spans, the bytes of every readable page and the kernel's view must be
 * exactly as before, and so must be what lies beyond it (handles,
 * reservations, other mappings, the names in /dev/shm and the temporary
 * directory, as far as the system shows each). The loop ends when the
 * operation succeeds without reaching the n-th call. Each operation is
 * one test per error the calls fail with (their usual one, out of memory,
 * an I/O error, access denied) and one for bookkeeping allocations
 * (vmp__testing_alloc_fail_after), so that one broken path does not hide
 * the others.
 *
 * The region every case starts from (G = 64 KiB rounded up to the page):
 *   [0,G)   private, read-write, filled (a case may make page 2 read-only)
 *   [G,2G)  view of an anonymous object at object offset G, read-write
 *   [2G,3G) placeholder
 *   [3G,4G) private, filled, read-only
 *   [4G,5G) placeholder
 *   [5G,8G) placeholder
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support_check.h"
#include "support_kernel.h"
#include "support_steps.h"
#include "support_util.h"
#include "testing.h"
#include "vmplace.h"

#define P (util_page())
#define G (util_grain())

/* Far more calls than any operation makes: reaching it means the loop
 * never ends. */
#define MAX_STEPS 64

typedef struct fixture {
  vmp_region *r;     /* the region the case works on (NULL once released) */
  vmp_mem *anon;     /* the object of the view at [G,2G) */
  vmp_mem *file;     /* the case's file, opened read-write */
  const char *path;  /* that file */
  vmp_region *made;  /* what reserve made */
  vmp_mem *made_mem; /* what mem_create / mem_open / mem_adopt made */
  intptr_t adopt;    /* a native handle of the file for mem_adopt, or -1 */
} fixture;

typedef struct fault_case {
  const char *name;
  void (*prepare)(fixture *f); /* extra steps before the operation, may be NULL */
  int (*op)(fixture *f);
  const char *(*unless)(void); /* why the case cannot hold here, or NULL; may be NULL */
} fault_case;

static char file_path[600];

static int build_fixture(fixture *f) {
  memset(f, 0, sizeof *f);
  f->path = file_path;
  f->adopt = util_open_native(file_path, 1);
  int rc = f->adopt == -1 ? VMP_EINVAL : vmp_reserve(8 * G, 0, &f->r);
  if (rc == 0) rc = vmp_mem_create(4 * G, 0, &f->anon);
  if (rc == 0) rc = vmp_mem_open(file_path, VMP_MEM_RW, &f->file);
  for (size_t i = 0; rc == 0 && i < 5; i++) rc = vmp_split(f->r, i * G, G);
  if (rc == 0) rc = vmp_commit(f->r, 0, G, VMP_PROT_RW);
  if (rc == 0) rc = vmp_map(f->r, G, G, f->anon, G, VMP_PROT_RW);
  if (rc == 0) rc = vmp_commit(f->r, 3 * G, G, VMP_PROT_RW);
  if (rc == 0) {
    char *base = vmp_base(f->r);
    util_fill(base, G, 1);
    util_fill(base + G, G, 2);
    util_fill(base + 3 * G, G, 3);
    rc = vmp_protect(f->r, 3 * G, G, VMP_PROT_READ);
  }
  CHECK_RC(rc, 0);
  return rc;
}

static void drop_fixture(fixture *f) {
  if (f->made) CHECK_RC(vmp_release(f->made), 0);
  if (f->made_mem) CHECK_RC(vmp_mem_close(f->made_mem), 0);
  if (f->r) CHECK_RC(vmp_release(f->r), 0);
  if (f->anon) CHECK_RC(vmp_mem_close(f->anon), 0);
  if (f->file) CHECK_RC(vmp_mem_close(f->file), 0);
  if (f->adopt != -1) util_close_native(f->adopt);
  memset(f, 0, sizeof *f);
  f->adopt = -1;
}

/* ---- the operations ------------------------------------------------------------ */

static int op_reserve(fixture *f) { return vmp_reserve(4 * G, 0, &f->made); }
static int op_reserve_aligned(fixture *f) { return vmp_reserve(4 * G, 16 * G, &f->made); }
static int op_split(fixture *f) { return vmp_split(f->r, 6 * G, G); }
static int op_coalesce(fixture *f) { return vmp_coalesce(f->r, 4 * G, 4 * G); }
static int op_commit(fixture *f) { return vmp_commit(f->r, 2 * G, G, VMP_PROT_RW); }
static int op_commit_wide(fixture *f) { return vmp_commit(f->r, 4 * G, 4 * G, VMP_PROT_RW); }
static int op_map(fixture *f) { return vmp_map(f->r, 2 * G, G, f->anon, 2 * G, VMP_PROT_RW); }
static int op_map_file(fixture *f) { return vmp_map(f->r, 4 * G, G, f->file, G, VMP_PROT_READ); }
static int op_map_wide(fixture *f) { return vmp_map(f->r, 4 * G, 4 * G, f->anon, 0, VMP_PROT_RW); }
static int op_carve_commit(fixture *f) { return vmp_carve_commit(f->r, 6 * G, G, VMP_PROT_RW); }
static int op_carve_map(fixture *f) {
  return vmp_carve_map(f->r, 6 * G, G, f->anon, G, VMP_PROT_RW);
}
static int op_unmap_view(fixture *f) { return vmp_unmap(f->r, G, G); }
static int op_unmap_coalesce_view(fixture *f) { return vmp_unmap_coalesce(f->r, G, G); }
/* The read-only private span between two placeholders. */
static int op_unmap_coalesce_private(fixture *f) { return vmp_unmap_coalesce(f->r, 3 * G, G); }
static int op_unmap_private(fixture *f) { return vmp_unmap(f->r, 0, G); }
static int op_unmap_middle(fixture *f) { return vmp_unmap(f->r, P, 2 * P); }
static int op_unmap_last_piece(fixture *f) { return vmp_unmap(f->r, P, P); }
static int op_protect_whole(fixture *f) { return vmp_protect(f->r, 0, G, VMP_PROT_READ); }
static int op_protect_partial(fixture *f) { return vmp_protect(f->r, P, 2 * P, VMP_PROT_NONE); }
static int op_protect_view(fixture *f) { return vmp_protect(f->r, G, G, VMP_PROT_READ); }
static int op_discard(fixture *f) { return vmp_discard(f->r, P, 2 * P); }
static int op_discard_readonly(fixture *f) { return vmp_discard(f->r, 3 * G, G); }
static int op_recommit_hole(fixture *f) { return vmp_commit(f->r, P, 2 * P, VMP_PROT_RW); }
static int op_mem_create(fixture *f) { return vmp_mem_create(2 * G, 0, &f->made_mem); }
static int op_mem_open(fixture *f) { return vmp_mem_open(f->path, VMP_MEM_READ, &f->made_mem); }
static int op_mem_open_rw(fixture *f) { return vmp_mem_open(f->path, VMP_MEM_RW, &f->made_mem); }
static int op_mem_adopt(fixture *f) {
  int rc = vmp_mem_adopt(f->adopt, 0, &f->made_mem);
  if (rc == 0) f->adopt = -1; /* the object owns it now */
  return rc;
}
static int op_mem_grow_anon(fixture *f) { return vmp_mem_grow(f->anon, 8 * G); }
static int op_release(fixture *f) {
  int rc = vmp_release(f->r);
  if (rc == 0) f->r = NULL;
  return rc;
}

static int op_mem_grow(fixture *f) {
  uint64_t size;
  int rc = vmp_mem_size(f->file, &size);
  return rc ? rc : vmp_mem_grow(f->file, size + G);
}

/* The kernel holds a placeholder of its own at [4G,5G) (Windows cuts them
 * only when something replaces one), and the bookkeeping one span over
 * [4G,8G): replacing it has to merge kernel placeholders first. */
static void prepare_coalesced(fixture *f) {
  CHECK_RC(vmp_commit(f->r, 4 * G, G, VMP_PROT_RW), 0);
  CHECK_RC(vmp_unmap(f->r, 4 * G, G), 0);
  CHECK_RC(vmp_coalesce(f->r, 4 * G, 4 * G), 0);
}

/* A hole [P,3P) in the private span at [0,G). */
static void prepare_hole(fixture *f) { CHECK_RC(vmp_unmap(f->r, P, 2 * P), 0); }
/* A placeholder on both sides of the view at [G, 2G). */
static void prepare_rooms(fixture *f) { CHECK_RC(vmp_unmap(f->r, 0, G), 0); }

/* Only the page at P is left of the private allocation at [0,G): unmapping
 * it turns the whole allocation back into a placeholder on Windows. */
static void prepare_last_piece(fixture *f) {
  CHECK_RC(vmp_unmap(f->r, 0, P), 0);
  CHECK_RC(vmp_unmap(f->r, 2 * P, G - 2 * P), 0);
}

/* Page 2 of the private span read-only: [P,3P) has two protections. */
static void prepare_mixed(fixture *f) { CHECK_RC(vmp_protect(f->r, 2 * P, P, VMP_PROT_READ), 0); }

/* A discard cannot be undone: over two protections it leaves no trace
 * only where it is one step (elsewhere mixed_discard_failure_keeps_protections
 * holds it to what it does promise). */
static const char *unless_discard_one_step(void) {
  return vmp_capabilities()->discard_mixed_one_step ? NULL : "this backend discards run by run";
}

static const char *unless_anon_resizable(void) {
  return vmp_capabilities()->anon_resizable ? NULL : "anonymous objects do not grow here";
}

static const fault_case cases[] = {
    {"reserve", NULL, op_reserve, NULL},
    {"reserve_aligned", NULL, op_reserve_aligned, NULL},
    {"split", NULL, op_split, NULL},
    {"coalesce", NULL, op_coalesce, NULL},
    {"commit", NULL, op_commit, NULL},
    {"commit_over_coalesced", prepare_coalesced, op_commit_wide, NULL},
    {"map", NULL, op_map, NULL},
    {"map_file", NULL, op_map_file, NULL},
    {"map_over_coalesced", prepare_coalesced, op_map_wide, NULL},
    {"carve_commit", NULL, op_carve_commit, NULL},
    {"carve_map", NULL, op_carve_map, NULL},
    {"unmap_view", NULL, op_unmap_view, NULL},
    {"unmap_coalesce_view", prepare_rooms, op_unmap_coalesce_view, NULL},
    {"unmap_coalesce_private", NULL, op_unmap_coalesce_private, NULL},
    {"unmap_private_whole", NULL, op_unmap_private, NULL},
    {"unmap_private_middle", NULL, op_unmap_middle, NULL},
    {"unmap_private_last_piece", prepare_last_piece, op_unmap_last_piece, NULL},
    {"commit_into_hole", prepare_hole, op_recommit_hole, NULL},
    {"protect_whole", NULL, op_protect_whole, NULL},
    {"protect_partial", NULL, op_protect_partial, NULL},
    {"protect_view", NULL, op_protect_view, NULL},
    {"discard", NULL, op_discard, NULL},
    {"discard_readonly", NULL, op_discard_readonly, NULL},
    {"mem_create", NULL, op_mem_create, NULL},
    {"mem_open", NULL, op_mem_open, NULL},
    {"mem_grow_file", NULL, op_mem_grow, NULL},
    {"mem_open_rw", NULL, op_mem_open_rw, NULL},
    {"mem_adopt", NULL, op_mem_adopt, NULL},
    {"mem_grow_anon", NULL, op_mem_grow_anon, unless_anon_resizable},
    {"unmap_private_mixed", prepare_mixed, op_unmap_middle, NULL},
    {"discard_mixed", prepare_mixed, op_discard, unless_discard_one_step},
    {"release", NULL, op_release, NULL},
};
#define CASE_COUNT (sizeof cases / sizeof cases[0])

/* ---- the loop ---------------------------------------------------------------------- */

typedef struct observed {
  region_state state;
  int have_state;
  kv_outside *outside;
  uint64_t file_size, anon_size;
} observed;

static void observe(fixture *f, observed *o) {
  memset(o, 0, sizeof *o);
  if (f->r) o->have_state = state_take(f->r, &o->state) == 0;
  if (f->file) vmp_mem_size(f->file, &o->file_size);
  if (f->anon) vmp_mem_size(f->anon, &o->anon_size);
}

static void forget(observed *o) {
  if (o->have_state) state_free(&o->state);
  kv_outside_free(o->outside);
  o->outside = NULL;
}

static void remove_file(void) { remove(file_path); }

/* Each test runs in a process of its own, which removes the file as it ends. */
static int make_file(void) {
  if (file_path[0]) return 0;
  int rc = util_temp_file(file_path, sizeof file_path, 4 * G, 17);
  if (rc == 0) atexit(remove_file);
  return rc;
}

/* The fixture with the case's extra steps taken (prepare may be NULL):
 * 0, or nonzero (reported) with nothing left to drop. */
static int fixture_ready(fixture *f, void (*prepare)(fixture *)) {
  if (!CHECK(make_file() == 0, "cannot create a temporary file")) return 1;
  if (build_fixture(f) != 0) {
    drop_fixture(f);
    return 1;
  }
  if (prepare) prepare(f);
  char why[4096];
  CHECK(kv_region_exact(f->r, why, sizeof why) == 0, "the fixture: %s", why);
  return 0;
}

/* One case under the step driver: a fresh fixture for every attempt. */
typedef struct case_run {
  const fault_case *c;
  fixture f;
  observed before;
} case_run;

static int case_setup(void *ctx) {
  case_run *run = ctx;
  if (fixture_ready(&run->f, run->c->prepare) != 0) return 1;
  observe(&run->f, &run->before);
  run->before.outside = kv_outside_take(vmp_base(run->f.r), vmp_size(run->f.r));
  return 0;
}

static int case_op(void *ctx) {
  case_run *run = ctx;
  return run->c->op(&run->f);
}

static void case_check(void *ctx, const steps_attempt *a) {
  case_run *run = ctx;
  fixture *f = &run->f;
  char context[160], why[8192];
  snprintf(context, sizeof context, "%s with %s %ld failing (rc %s)", run->c->name,
           a->fired ? "step" : "no step", a->n, vmp_err_name(a->rc));
  /* Whatever the outcome: nothing named is left behind. */
  CHECK(kv_outside_compare(run->before.outside, a->rc != 0, why, sizeof why) == 0, "%s: %s",
        context, why);
  if (a->rc != 0) {
    CHECK(a->rc < 0, "%s: failed with a non-negative code", context);
    CHECK(f->r != NULL, "%s: failed but the region is gone", context);
    observed after;
    observe(f, &after);
    if (run->before.have_state && after.have_state)
      state_same(&run->before.state, &after.state, __FILE__, __LINE__, context);
    CHECK(run->before.have_state == after.have_state, "%s: the region's state cannot be read",
          context);
    CHECK(run->before.file_size == after.file_size, "%s: the file's size changed", context);
    CHECK(run->before.anon_size == after.anon_size, "%s: the object's size changed", context);
    CHECK(f->made == NULL && f->made_mem == NULL, "%s: a failed call handed out a handle", context);
    f->made = NULL;
    f->made_mem = NULL;
    forget(&after);
  }
  vmp_region *regions[] = {f->r, f->made};
  for (size_t i = 0; i < 2; i++) {
    if (!regions[i]) continue;
    CHECK_KERNEL_AGREES(regions[i]);
    CHECK(kv_region_exact(regions[i], why, sizeof why) == 0, "%s: the kernel disagrees: %s",
          context, why);
  }
  forget(&run->before);
  drop_fixture(f);
}

/* Fails each system call (with the system's code for `error`, or each
 * call's usual one when error < 0) or each allocation of the case. */
static void run_case(const char *name, inject_kind kind, int error) {
  const fault_case *c = cases;
  while (c < cases + CASE_COUNT && strcmp(c->name, name) != 0) c++;
  if (!CHECK(c < cases + CASE_COUNT, "no case %s", name)) return;
  const char *why_not = c->unless ? c->unless() : NULL;
  if (why_not) SKIP("%s", why_not);
  case_run run = {.c = c};
  steps_plan plan = {.what = c->name,
                     .kind = kind,
                     .errnum = error < 0 ? 0 : util_system_error((util_error)error),
                     .max_steps = MAX_STEPS,
                     .leftovers = 1,
                     STEPS_CALLBACKS(case, &run)};
  long failed = steps_run(&plan);
  if (getenv("VMPT_VERBOSE"))
    check_note("%s: %ld %s failures injected", c->name, failed,
               kind == INJECT_SYSCALL ? "system-call" : "allocation");
}

/* The tests of one case: its calls failing with their usual error, with
 * each of the three the library must tell apart, and its allocations. */
#define FAULT_TESTS(name)                                                         \
  CHECK_TEST(name##_syscalls) { run_case(#name, INJECT_SYSCALL, -1); }            \
  CHECK_TEST(name##_enomem) { run_case(#name, INJECT_SYSCALL, UTIL_ERR_NOMEM); }  \
  CHECK_TEST(name##_eio) { run_case(#name, INJECT_SYSCALL, UTIL_ERR_IO); }        \
  CHECK_TEST(name##_eacces) { run_case(#name, INJECT_SYSCALL, UTIL_ERR_ACCESS); } \
  CHECK_TEST(name##_allocations) { run_case(#name, INJECT_ALLOCATION, -1); }

/* The cases with tests of their own (every entry of the table). */
/* clang-format off */
#define FAULT_CASES(X) \
  X(reserve) \
  X(reserve_aligned) \
  X(split) \
  X(coalesce) \
  X(commit) \
  X(commit_over_coalesced) \
  X(map) \
  X(map_file) \
  X(map_over_coalesced) \
  X(carve_commit) \
  X(carve_map) \
  X(unmap_view) \
  X(unmap_coalesce_view) \
  X(unmap_coalesce_private) \
  X(unmap_private_whole) \
  X(unmap_private_middle) \
  X(unmap_private_last_piece) \
  X(unmap_private_mixed) \
  X(commit_into_hole) \
  X(protect_whole) \
  X(protect_partial) \
  X(protect_view) \
  X(discard) \
  X(discard_readonly) \
  X(discard_mixed) \
  X(mem_create) \
  X(mem_open) \
  X(mem_open_rw) \
  X(mem_adopt) \
  X(mem_grow_file) \
  X(mem_grow_anon) \
  X(release)
/* clang-format on */
FAULT_CASES(FAULT_TESTS)

/* A case added to the table alone would run only in wrappers_pass_through. */
CHECK_TEST(every_case_has_tests) {
#define CASE_NAME(name) #name,
  static const char *tested[] = {FAULT_CASES(CASE_NAME)};
  size_t count = sizeof tested / sizeof tested[0];
  for (size_t i = 0; i < CASE_COUNT; i++) {
    size_t j = 0;
    while (j < count && strcmp(tested[j], cases[i].name) != 0) j++;
    CHECK(j < count, "case %s has no tests (FAULT_CASES)", cases[i].name);
  }
  CHECK(count == CASE_COUNT, "%zu cases, %zu tested", CASE_COUNT, count);
}

CHECK_TEST(every_syscall_has_a_wrapper) {
  size_t names = 0;
  for (const char *name = vmp__testing_syscall_next(NULL); name;
       name = vmp__testing_syscall_next(name)) {
    names++;
    CHECK(vmp__testing_syscall_default(name) != NULL, "no default for \"%s\"", name);
  }
  CHECK(names > 0, "the system-call table is empty");
  const char *missing = inject_missing_wrapper();
  CHECK(missing == NULL, "no wrapper for \"%s\"", missing ? missing : "");
  CHECK_RC(vmp__testing_syscall_set("no_such_call", NULL), VMP_EINVAL);
}

/* The wrappers really pass calls through: with no call made to fail, every
 * operation still works (and was seen by the counter). */
CHECK_TEST(wrappers_pass_through) {
  for (size_t i = 0; i < CASE_COUNT; i++) {
    if (cases[i].unless && cases[i].unless()) continue;
    fixture f;
    if (fixture_ready(&f, cases[i].prepare) != 0) return;
    const char *missing = inject_arm(INJECT_SYSCALL, 0, 0);
    if (!CHECK(missing == NULL, "no wrapper for \"%s\"", missing ? missing : "")) {
      drop_fixture(&f);
      return;
    }
    int rc = cases[i].op(&f);
    long calls = inject_calls();
    inject_disarm(INJECT_SYSCALL);
    CHECK(rc == 0, "%s through the wrappers: %s", cases[i].name, vmp_err_name(rc));
    if (f.r) CHECK_KERNEL_AGREES(f.r);
    if (strcmp(cases[i].name, "commit") == 0)
      CHECK(calls > 0, "commit made no system call the wrappers saw");
    drop_fixture(&f);
  }
}

/* The wrappers are really called: the first call of a commit failing with
 * the system's out of memory fails the commit with VMP_ENOMEM. */
CHECK_TEST(injection_reaches_the_library) {
  fixture f;
  if (fixture_ready(&f, NULL) != 0) return;
  CHECK(inject_arm(INJECT_SYSCALL, 1, util_system_error(UTIL_ERR_NOMEM)) == NULL, "not armed");
  int rc = vmp_commit(f.r, 2 * G, G, VMP_PROT_RW);
  CHECK(inject_disarm(INJECT_SYSCALL), "vmp_commit made no system call through the table");
  CHECK_RC(rc, VMP_ENOMEM);
  drop_fixture(&f);
}

/* A system error with no VMP_ name of its own keeps its native code. */
CHECK_TEST(os_error_keeps_native_code) {
  fixture f;
  if (fixture_ready(&f, NULL) != 0) return;
  int io = util_system_error(UTIL_ERR_IO);
  CHECK(inject_arm(INJECT_SYSCALL, 1, io) == NULL, "not armed");
  int rc = vmp_protect(f.r, 0, G, VMP_PROT_READ);
  CHECK(inject_disarm(INJECT_SYSCALL), "vmp_protect made no system call through the table");
  CHECK(vmp_err_is_os(rc), "protect failing with an I/O error gave %s", vmp_err_name(rc));
  CHECK(vmp_err_os_code(rc) == io, "native code %d, expected %d", vmp_err_os_code(rc), io);
  drop_fixture(&f);
}

/* docs/contract.md: split and coalesce make no system call at all. */
CHECK_TEST(split_and_coalesce_make_no_system_call) {
  fixture f;
  if (fixture_ready(&f, NULL) != 0) return;
  CHECK(inject_arm(INJECT_SYSCALL, 0, 0) == NULL, "not armed");
  CHECK_RC(vmp_split(f.r, 5 * G, G), 0);
  CHECK_RC(vmp_split(f.r, 6 * G, G), 0);
  CHECK_RC(vmp_coalesce(f.r, 4 * G, 4 * G), 0);
  long calls = inject_calls();
  inject_disarm(INJECT_SYSCALL);
  CHECK(calls == 0, "split and coalesce made %ld system calls", calls);
  drop_fixture(&f);
}

/* A released region is kept whole, its leaf with it, for the next
 * reservation: after one reserve/release pair, a reservation allocates
 * nothing, and an allocation armed to fail is never reached. A failed
 * reservation gives its region back as well. */
CHECK_TEST(a_released_region_serves_the_next_reservation) {
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(G, 0, &r), 0)) return;
  CHECK_RC(vmp_release(r), 0);
  for (int round = 0; round < 3; round++) {
    vmp__testing_alloc_fail_after(0);
    int rc = vmp_reserve(G, 0, &r);
    int reached = vmp__testing_alloc_disarm();
    if (!CHECK_RC(rc, 0)) return;
    CHECK(!reached, "round %d: the reservation allocated", round);
    /* Taken: the failed region went back to the pool. */
    vmp_region *taken;
    CHECK_RC(vmp_reserve_at(vmp_base(r), G, &taken), VMP_EADDRINUSE);
    CHECK_RC(vmp_release(r), 0);
  }
}

/* The undo counter counts: with every system call failing, a protect over
 * two protections fails and so does its repair, which is counted once. */
CHECK_TEST(a_failed_undo_is_counted) {
  fixture f;
  if (fixture_ready(&f, prepare_mixed) != 0) return;
  long before = vmp__testing_undo_failures();
  CHECK(inject_arm_from(1, util_system_error(UTIL_ERR_NOMEM)) == NULL, "not armed");
  int rc = vmp_protect(f.r, P, 2 * P, VMP_PROT_NONE);
  inject_disarm(INJECT_SYSCALL);
  CHECK_RC(rc, VMP_ENOMEM);
  CHECK(vmp__testing_undo_failures() == before + 1, "the failed repair was counted %ld times",
        vmp__testing_undo_failures() - before);
  drop_fixture(&f);
}

/* ---- discard over mixed protections --------------------------------------------- */

/* A discard cannot be undone, so it is the one operation whose failure may
 * leave zeroed pages behind: run by run, each run of one protection is
 * discarded or not. What must hold after any failure is that every page
 * has its protection (in the bookkeeping and in the kernel), the spans are
 * the same, each page reads either as before or as zero, and a second
 * discard finishes the job. Pages [P,6P) of one private span: rw, r, none,
 * r, rw — five runs. */
#define MIXED_PAGES 8
static const int mixed_prot[MIXED_PAGES] = {VMP_PROT_RW,   VMP_PROT_RW,   VMP_PROT_READ,
                                            VMP_PROT_NONE, VMP_PROT_READ, VMP_PROT_RW,
                                            VMP_PROT_RW,   VMP_PROT_RW};

static vmp_region *mixed_region(void) {
  vmp_region *r;
  if (!CHECK_RC(vmp_reserve(MIXED_PAGES * P, 0, &r), 0)) return NULL;
  int rc = vmp_commit(r, 0, MIXED_PAGES * P, VMP_PROT_RW);
  if (rc == 0) util_fill(vmp_base(r), MIXED_PAGES * P, 9);
  for (size_t i = 0; rc == 0 && i < MIXED_PAGES; i++)
    if (mixed_prot[i] != VMP_PROT_RW) rc = vmp_protect(r, i * P, P, mixed_prot[i]);
  if (!CHECK_RC(rc, 0)) {
    vmp_release(r);
    return NULL;
  }
  return r;
}

/* 0: page i holds its pattern, 1: it reads as zero, -1: neither. The page
 * without access is made readable to look (the caller is done with it). */
static int page_content(vmp_region *r, size_t i) {
  const unsigned char *page = (const unsigned char *)vmp_base(r) + i * P;
  if (mixed_prot[i] == VMP_PROT_NONE && vmp_protect(r, i * P, P, VMP_PROT_READ) != 0) return -1;
  if (util_all_bytes(page, P, 0)) return 1;
  for (size_t b = 0; b < P; b++)
    if (page[b] != util_pattern(9, i * P + b)) return -1;
  return 0;
}

typedef struct mixed_run {
  vmp_region *r;
  int zeroed_before_failure;
  long attempts;
} mixed_run;

static int mixed_setup(void *ctx) {
  mixed_run *run = ctx;
  run->r = mixed_region();
  return run->r == NULL;
}

static int mixed_op(void *ctx) { return vmp_discard(((mixed_run *)ctx)->r, P, 5 * P); }

static void mixed_check(void *ctx, const steps_attempt *a) {
  mixed_run *run = ctx;
  vmp_region *r = run->r;
  run->attempts = a->n;
  char context[80];
  snprintf(context, sizeof context, "system call %ld failing (rc %s)", a->n, vmp_err_name(a->rc));
  CHECK(vmp_span_count(r) == 1, "%s: %zu spans", context, vmp_span_count(r));
  for (size_t i = 0; i < MIXED_PAGES; i++) {
    vmp_span_info info;
    CHECK_RC(vmp_query(r, (char *)vmp_base(r) + i * P, &info), 0);
    CHECK(info.kind == VMP_PRIVATE && info.prot == mixed_prot[i] && info.offset == 0,
          "%s: page %zu has kind %d, prot %d (expected %d)", context, i, info.kind, info.prot,
          mixed_prot[i]);
  }
  CHECK_KERNEL_AGREES(r);
  if (a->rc != 0) {
    int zeroed = 0;
    for (size_t i = 0; i < MIXED_PAGES; i++) {
      int content = page_content(r, i);
      int outside = i == 0 || i >= 6;
      CHECK(content == 0 || (content == 1 && !outside), "%s: page %zu reads %s", context, i,
            content < 0 ? "neither its bytes nor zero" : "zero outside the range");
      zeroed += content == 1;
    }
    /* Done in one step: a failure zeroes nothing. */
    if (vmp_capabilities()->discard_mixed_one_step)
      CHECK(zeroed == 0, "%s: %d pages zeroed by a failed one-step discard", context, zeroed);
    if (zeroed) run->zeroed_before_failure = 1;
    /* Protections are as they were, so discarding again finishes it. */
    for (size_t i = 0; i < MIXED_PAGES; i++)
      if (mixed_prot[i] == VMP_PROT_NONE) vmp_protect(r, i * P, P, VMP_PROT_NONE);
    if (CHECK_RC(vmp_discard(r, P, 5 * P), 0))
      for (size_t i = 1; i < 6; i++)
        CHECK(page_content(r, i) == 1, "%s: page %zu not zero after the second discard", context,
              i);
  } else {
    /* Done, or the backend made up for the failure (Windows tries a
     * commit twice): the range is discarded all the same. */
    for (size_t i = 0; i < MIXED_PAGES; i++)
      CHECK(page_content(r, i) == (i >= 1 && i < 6), "%s: page %zu after success", context, i);
  }
  CHECK_RC(vmp_release(r), 0);
}

CHECK_TEST(mixed_discard_failure_keeps_protections) {
  mixed_run run = {0};
  steps_plan plan = {.what = "vmp_discard over five runs",
                     .kind = INJECT_SYSCALL,
                     .max_steps = MAX_STEPS,
                     STEPS_CALLBACKS(mixed, &run)};
  steps_run(&plan);
  /* Elsewhere five runs, one at a time: some failure came after a run had
   * been zeroed, which is the case this test is about. */
  if (!vmp_capabilities()->discard_mixed_one_step)
    CHECK(run.zeroed_before_failure, "no failure was injected between two runs (%ld tried)",
          run.attempts);
}
