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
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "check.h"
#include "testing.h"
#include "vmplace.h"

/* ---- the injector --------------------------------------------------------- */

static struct {
  long fail_at; /* 1-based call number that fails; 0 never */
  long calls;
  int err;
  int hit;
} plan;

static int should_fail(void) {
  plan.calls++;
  if (plan.fail_at && plan.calls == plan.fail_at) {
    plan.hit = 1;
    return 1;
  }
  return 0;
}

/* One wrapper per libc function a backend may route through the table,
 * with the table's exact signature. */
#define SIMPLE_WRAPPERS(X)                                                                   \
  X(mmap, void *, (void *a, size_t l, int p, int f, int fd, off_t o), (a, l, p, f, fd, o),   \
    MAP_FAILED)                                                                              \
  X(munmap, int, (void *a, size_t l), (a, l), -1)                                            \
  X(mprotect, int, (void *a, size_t l, int p), (a, l, p), -1)                                \
  X(madvise, int, (void *a, size_t l, int advice), (a, l, advice), -1)                       \
  X(msync, int, (void *a, size_t l, int flags), (a, l, flags), -1)                           \
  X(fstat, int, (int fd, struct stat *st), (fd, st), -1)                                     \
  X(stat, int, (const char *path, struct stat *st), (path, st), -1)                        \
  X(getrlimit, int, (int resource, struct rlimit *lim), (resource, lim), -1)                 \
  X(ftruncate, int, (int fd, off_t len), (fd, len), -1)                                      \
  X(memfd_create, int, (const char *name, unsigned int flags), (name, flags), -1)            \
  X(shm_open, int, (const char *name, int flags, mode_t mode), (name, flags, mode), -1)      \
  X(shm_unlink, int, (const char *name), (name), -1)                                         \
  X(mkstemp, int, (char *tmpl), (tmpl), -1)                                                  \
  X(mkostemp, int, (char *tmpl, int flags), (tmpl, flags), -1)                               \
  X(unlink, int, (const char *path), (path), -1)                                             \
  X(posix_fallocate, int, (int fd, off_t o, off_t l), (fd, o, l), -1)                       \
  X(futex, long, (_Atomic uint32_t * w, int op, uint32_t v, const struct timespec *t),         \
    (w, op, v, t), -1)                                                                      \
  X(membarrier, int, (int cmd, unsigned int flags, int cpu), (cmd, flags, cpu), -1)          \
  X(read, ssize_t, (int fd, void *buf, size_t n), (fd, buf, n), -1)                          \
  X(write, ssize_t, (int fd, const void *buf, size_t n), (fd, buf, n), -1)                   \
  X(vma_anon_name, int, (void *a, size_t l, const char *name), (a, l, name), -1)

#define DECLARE_WRAPPER(name, ret, params, args, failure) \
  typedef ret(*real_##name##_fn) params;                  \
  static real_##name##_fn real_##name;                    \
  static ret wrap_##name params {                         \
    if (should_fail()) {                                  \
      errno = plan.err;                                   \
      return failure;                                     \
    }                                                     \
    return real_##name args;                              \
  }
SIMPLE_WRAPPERS(DECLARE_WRAPPER)

typedef int (*real_open_fn)(const char *, int, ...);
static real_open_fn real_open;
static int wrap_open(const char *path, int flags, ...) {
  mode_t mode = 0;
  if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  if (should_fail()) {
    errno = plan.err;
    return -1;
  }
  return real_open(path, flags, mode);
}

typedef int (*real_fcntl_fn)(int, int, ...);
static real_fcntl_fn real_fcntl;
static int wrap_fcntl(int fd, int cmd, ...) {
  va_list ap;
  int takes_no_arg = cmd == F_GETFD || cmd == F_GETFL || cmd == F_GET_SEALS || cmd == F_GETOWN;
  int arg = 0;
  if (!takes_no_arg) {
    va_start(ap, cmd);
    arg = va_arg(ap, int);
    va_end(ap);
  }
  if (should_fail()) {
    errno = plan.err;
    return -1;
  }
  return takes_no_arg ? real_fcntl(fd, cmd) : real_fcntl(fd, cmd, arg);
}

/* Linux releases the descriptor even when close reports an error, so the
 * failing close really closes. */
typedef int (*real_close_fn)(int);
static real_close_fn real_close;
static int wrap_close(int fd) {
  int failing = should_fail();
  int rc = real_close(fd);
  if (failing) {
    errno = plan.err;
    return -1;
  }
  return rc;
}

typedef struct wrapper {
  const char *name;
  vmp__syscall_fn wrap;
  vmp__syscall_fn *real;
} wrapper;

#define WRAPPER_ENTRY(name, ret, params, args, failure) \
  {#name, (vmp__syscall_fn)wrap_##name, (vmp__syscall_fn *)&real_##name},
static const wrapper wrappers[] = {
    SIMPLE_WRAPPERS(WRAPPER_ENTRY){"open", (vmp__syscall_fn)wrap_open,
                                   (vmp__syscall_fn *)&real_open},
    {"fcntl", (vmp__syscall_fn)wrap_fcntl, (vmp__syscall_fn *)&real_fcntl},
    {"close", (vmp__syscall_fn)wrap_close, (vmp__syscall_fn *)&real_close},
};

static const wrapper *find_wrapper(const char *name) {
  for (size_t i = 0; i < sizeof wrappers / sizeof *wrappers; i++)
    if (strcmp(wrappers[i].name, name) == 0) return &wrappers[i];
  return NULL;
}

/* Replaces every entry of the table; fails the test for an entry that has
 * no wrapper, so that no system call escapes injection. */
static void install(long fail_at, int err) {
  plan.fail_at = fail_at;
  plan.calls = 0;
  plan.err = err;
  plan.hit = 0;
  for (const char *name = vmp__testing_syscall_next(NULL); name;
       name = vmp__testing_syscall_next(name)) {
    const wrapper *w = find_wrapper(name);
    cr_assert(w, "syscall table entry \"%s\" has no wrapper in test_faults.c", name);
    *w->real = vmp__testing_syscall_default(name);
    cr_assert(*w->real, "no default for \"%s\"", name);
    cr_assert_eq(vmp__testing_syscall_set(name, w->wrap), 0);
  }
}

static void uninstall(void) {
  for (const char *name = vmp__testing_syscall_next(NULL); name;
       name = vmp__testing_syscall_next(name))
    cr_assert_eq(vmp__testing_syscall_set(name, NULL), 0);
}


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
static int op_mem_open_ro(fixture *f) {
  return vmp_mem_open(f->path, VMP_MEM_READ, &f->made_mem);
}
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
  vmpt_snapshot *region;
  vmpt_outside *outside;
  size_t fds;
  uint64_t shm_names, tmp_names;
  uint64_t m_size;
} world;

static void world_take(world *w, fixture *f) {
  w->region = vmpt_snapshot_take(f->r);
  cr_assert(w->region);
  w->outside = vmpt_outside_take(vmp_base(f->r), vmp_size(f->r));
  cr_assert(w->outside);
  w->fds = vmpt_fd_count();
  w->shm_names = vmpt_dir_fingerprint("/dev/shm", NULL);
  w->tmp_names = vmpt_dir_fingerprint(vmpt_tmpdir(), NULL);
  CHECK_OK(vmp_mem_size(f->m, &w->m_size));
}

static void world_free(world *w) {
  vmpt_snapshot_free(w->region);
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
  vmpt_snapshot *now = vmpt_snapshot_take(f->r);
  cr_assert(now);
  int differs = vmpt_snapshot_compare(before->region, now, why, sizeof why);
  vmpt_snapshot_free(now);
  cr_assert_eq(differs, 0, "%s returned %s but left a trace: %s", what, vmp_err_name(rc), why);
  cr_assert_eq(vmpt_outside_compare(before->outside, why, sizeof why), 0,
               "%s returned %s but changed memory outside the region: %s", what,
               vmp_err_name(rc), why);
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

#define MAX_STEPS 200

static void inject_syscalls(operation op, const char *name, int err) {
  if (op == op_discard_mixed && !vmpt_backend_discards_mixed())
    cr_skip_test("this backend discards mixed protections run by run (tests/portable/suite_faults.c)");
  for (long n = 1;; n++) {
    fixture f;
    world before;
    char what[160];
    cr_assert_lt(n, MAX_STEPS, "%s: still failing after %d injected failures", name, MAX_STEPS);
    fixture_setup(&f);
    world_take(&before, &f);
    install(n, err);
    int rc = op(&f);
    int hit = plan.hit;
    long calls = plan.calls;
    uninstall();
    snprintf(what, sizeof what, "%s with system call %ld failing (%s)", name, n, strerror(err));
    check_no_names(&before, what);
    if (rc != 0) {
      cr_assert(hit, "%s failed with %s although no injected failure was reached (%ld calls)",
                name, vmp_err_name(rc), calls);
      check_unchanged(&before, &f, what, rc);
    } else {
      check_consistent(&f, what);
    }
    world_free(&before);
    fixture_teardown(&f);
    if (!hit) break;
  }
}

static void inject_allocations(operation op, const char *name) {
  if (op == op_discard_mixed && !vmpt_backend_discards_mixed())
    cr_skip_test("this backend discards mixed protections run by run (tests/portable/suite_faults.c)");
  for (long n = 0;; n++) {
    fixture f;
    world before;
    char what[160];
    cr_assert_lt(n, MAX_STEPS, "%s: still failing after %d failed allocations", name, MAX_STEPS);
    fixture_setup(&f);
    world_take(&before, &f);
    vmp__testing_alloc_fail_after(n);
    int rc = op(&f);
    int fired = vmp__testing_alloc_disarm();
    snprintf(what, sizeof what, "%s with allocation %ld failing", name, n + 1);
    check_no_names(&before, what);
    if (rc != 0) {
      cr_assert(fired, "%s failed with %s although no allocation failed", name,
                vmp_err_name(rc));
      cr_assert_eq(rc, VMP_ENOMEM, "%s: a failed allocation gave %s, expected ENOMEM", what,
                   vmp_err_name(rc));
      check_unchanged(&before, &f, what, rc);
    } else {
      check_consistent(&f, what);
    }
    world_free(&before);
    fixture_teardown(&f);
    if (!fired) break;
  }
}

/* One test per operation and kind of failure, so that one broken path
 * does not hide the others. */
#define FAULT_TEST(op)                                                                   \
  Test(faults, op##_enomem, .fini = remove_live_file) {                                \
    inject_syscalls(op_##op, #op, ENOMEM);                                             \
  }                                                                                    \
  Test(faults, op##_eio, .fini = remove_live_file) { inject_syscalls(op_##op, #op, EIO); } \
  Test(faults, op##_eacces, .fini = remove_live_file) {                                \
    inject_syscalls(op_##op, #op, EACCES);                                             \
  }                                                                                    \
  Test(faults, op##_alloc, .fini = remove_live_file) { inject_allocations(op_##op, #op); }

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
    cr_expect(find_wrapper(name), "syscall table entry \"%s\" has no wrapper", name);
  cr_assert_gt(entries, 0, "the syscall table is empty");
  cr_assert_eq(vmp__testing_syscall_set("no_such_call", NULL), VMP_EINVAL);
}

/* The wrappers are really called: an op that needs mmap fails when every
 * call fails. */
Test(faults, injection_reaches_the_library) {
  fixture f;
  fixture_setup(&f);
  install(1, ENOMEM);
  int rc = vmp_commit(f.r, 16 * PG, 4 * PG, VMP_PROT_RW);
  uninstall();
  cr_assert(plan.hit, "vmp_commit made no system call through the table");
  cr_assert_eq(rc, VMP_ENOMEM, "an injected ENOMEM gave %s", vmp_err_name(rc));
  fixture_teardown(&f);
}

/* An injected OS error other than ENOMEM keeps its native code. */
Test(faults, os_error_keeps_native_code) {
  fixture f;
  fixture_setup(&f);
  install(1, EIO);
  int rc = vmp_protect(f.r, 0, 8 * PG, VMP_PROT_READ);
  uninstall();
  cr_assert(plan.hit);
  cr_assert(vmp_err_is_os(rc), "protect failing with EIO gave %s", vmp_err_name(rc));
  cr_assert_eq(vmp_err_os_code(rc), EIO);
  fixture_teardown(&f);
}

/* docs/contract.md: split and coalesce make no system call at all. */
Test(faults, split_and_coalesce_make_no_system_call) {
  fixture f;
  fixture_setup(&f);
  install(0, 0);
  CHECK_OK(vmp_split(f.r, 24 * PG, 2 * PG));
  CHECK_OK(vmp_split(f.r, 26 * PG, 2 * PG));
  CHECK_OK(vmp_coalesce(f.r, 16 * PG, 16 * PG));
  long calls = plan.calls;
  uninstall();
  cr_assert_eq(calls, 0, "split and coalesce made %ld system calls", calls);
  fixture_teardown(&f);
}
