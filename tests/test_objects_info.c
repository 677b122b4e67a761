/*
 * Memory objects that say what they are: vmp_mem_query() after each
 * creation path, every fallback reached by refusing the system call before
 * it (through the syscall table, and for real in a child under a seccomp
 * filter that denies memfd_create), VMP_MEM_NO_FALLBACK and VMP_MEM_EXEC.
 * Criterion runs each test in a process of its own, so the backend's
 * memory of a refused way does not carry from one test to the next.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "support_criterion.h"
#include "testing.h"
#include "vmplace.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x10U
#endif

/* Objects are memfds exactly where they carry seals. */
static int has_memfd(void) { return vmp_capabilities()->seals; }

static vmp_mem_info info_of(vmp_mem *m) {
  vmp_mem_info info;
  memset(&info, 0x7f, sizeof info);
  CHECK_OK(vmp_mem_query(m, &info));
  return info;
}

static int refuse_with_eperm(void) {
  errno = EPERM;
  return -1;
}
static int refused_memfd(const char *name, unsigned flags) {
  (void)name, (void)flags;
  return refuse_with_eperm();
}
static int refused_shm_open(const char *name, int flags, mode_t mode) {
  (void)name, (void)flags, (void)mode;
  return refuse_with_eperm();
}
typedef int (*open_fn)(const char *, int, ...);
static open_fn real_open;
/* Refuses O_TMPFILE only, as a file system without it does. */
static int open_without_tmpfile(const char *path, int flags, ...) {
  if ((flags & O_TMPFILE) == O_TMPFILE) {
    errno = EOPNOTSUPP;
    return -1;
  }
  return real_open(path, flags, 0600);
}

static void refuse(const char *call, vmp__syscall_fn fn) {
  cr_assert_eq(vmp__testing_syscall_set(call, fn), 0, "no table entry %s", call);
}

/* An object made now falls back to `backing` and says so. */
static vmp_mem *falls_back_to(vmp_backing backing) {
  vmp_mem *m;
  CHECK_OK(vmp_mem_create(vmp_page_size(), 0, &m));
  vmp_mem_info info = info_of(m);
  cr_assert_eq(info.backing, backing);
  cr_assert_eq(info.fell_back, 1);
  return m;
}

Test(objects, the_first_choice_is_reported) {
  vmp_mem *m;
  CHECK_OK(vmp_mem_create(vmp_page_size(), 0, &m));
  vmp_mem_info info = info_of(m);
  if (has_memfd()) {
    cr_assert_eq(info.backing, VMP_BACKING_MEMFD);
    cr_assert_eq(info.sealed, 1);
    cr_assert_eq(info.fell_back, 0);
  } else {
    /* Generic POSIX has no memfd: shm_open is already a fallback. */
    cr_assert_eq(info.backing, VMP_BACKING_SHM);
    cr_assert_eq(info.sealed, 0);
    cr_assert_eq(info.fell_back, 1);
  }
  cr_assert_eq(info.huge_pages, 0);
  /* Sealed against exec where the kernel can (6.3+), else the system's say. */
  cr_assert(info.exec == (has_memfd() ? 0 : -1) || info.exec == -1, "exec %d", info.exec);
  CHECK_OK(vmp_mem_close(m));
  CHECK_RC(vmp_mem_query(NULL, &info), VMP_EINVAL);
}

Test(objects, memfd_refused_falls_back_to_shm_and_says_so) {
  if (!has_memfd()) cr_skip_test("no memfd on this backend");
  refuse("memfd_create", (vmp__syscall_fn)refused_memfd);
  vmp_mem *m = falls_back_to(VMP_BACKING_SHM);
  cr_assert_eq(info_of(m).sealed, 0);
  CHECK_OK(vmp_mem_close(m));
  /* Asked not to fall back: refused, and nothing is made. */
  m = NULL;
  CHECK_RC(vmp_mem_create_named(vmp_page_size(), "strict", VMP_MEM_NO_FALLBACK, &m), VMP_ENOTSUP);
  cr_assert_null(m);
  refuse("memfd_create", NULL);
}

Test(objects, then_to_an_unnamed_file_then_to_mkstemp) {
  if (has_memfd()) refuse("memfd_create", (vmp__syscall_fn)refused_memfd);
  refuse("shm_open", (vmp__syscall_fn)refused_shm_open);
  CHECK_OK(vmp_mem_close(falls_back_to(VMP_BACKING_TEMP_FILE)));
  real_open = (open_fn)vmp__testing_syscall_default("open");
  refuse("open", (vmp__syscall_fn)open_without_tmpfile);
  vmp_mem *m = falls_back_to(VMP_BACKING_TEMP_FILE);
  vmp_region *r;
  CHECK_OK(vmp_reserve(vmp_page_size(), 0, &r));
  CHECK_OK(vmp_map(r, 0, vmp_page_size(), m, 0, VMP_PROT_RW));
  *(char *)vmp_base(r) = 1;
  CHECK_OK(vmp_release(r));
  CHECK_OK(vmp_mem_close(m));
  refuse("open", NULL);
  refuse("shm_open", NULL);
  if (has_memfd()) refuse("memfd_create", NULL);
  /* Without a memfd every way is a fallback: none is allowed. */
  if (!has_memfd())
    CHECK_RC(vmp_mem_create_named(vmp_page_size(), "strict", VMP_MEM_NO_FALLBACK, &m), VMP_ENOTSUP);
}

Test(objects, files_and_descriptors) {
  char path[] = "/tmp/vmplace-info-XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(ftruncate(fd, (off_t)vmp_page_size()), 0);
  vmp_mem *m;
  CHECK_OK(vmp_mem_open(path, VMP_MEM_READ, &m));
  cr_assert_eq(info_of(m).backing, VMP_BACKING_FILE);
  cr_assert_eq(info_of(m).fell_back, 0);
  CHECK_OK(vmp_mem_close(m));
  CHECK_OK(vmp_mem_adopt(fd, 0, &m));
  cr_assert_eq(info_of(m).backing, VMP_BACKING_DESCRIPTOR);
  CHECK_OK(vmp_mem_close(m));
  unlink(path);
}

static unsigned seen_flags;
typedef int (*memfd_fn)(const char *, unsigned);
static memfd_fn real_memfd;
static int memfd_watching(const char *name, unsigned flags) {
  seen_flags = flags;
  return real_memfd(name, flags);
}
/* A kernel before 6.3 refuses the flag it does not know. */
static int memfd_without_exec_flag(const char *name, unsigned flags) {
  if (flags & MFD_EXEC) {
    errno = EINVAL;
    return -1;
  }
  return real_memfd(name, flags);
}

Test(objects, exec_intent_asks_for_mfd_exec) {
  if (!has_memfd()) cr_skip_test("no memfd on this backend");
  real_memfd = (memfd_fn)vmp__testing_syscall_default("memfd_create");
  refuse("memfd_create", (vmp__syscall_fn)memfd_watching);
  vmp_mem *m;
  CHECK_OK(vmp_mem_create_named(vmp_page_size(), "code", VMP_MEM_EXEC, &m));
  cr_assert(seen_flags & MFD_EXEC, "memfd_create flags 0x%x", seen_flags);
  cr_assert_eq(info_of(m).exec, 1);
  vmp_region *r;
  CHECK_OK(vmp_reserve(vmp_page_size(), 0, &r));
  CHECK_OK(vmp_map(r, 0, vmp_page_size(), m, 0, VMP_PROT_READ | VMP_PROT_EXEC));
  CHECK_OK(vmp_release(r));
  CHECK_OK(vmp_mem_close(m));
  refuse("memfd_create", (vmp__syscall_fn)memfd_without_exec_flag);
  CHECK_OK(vmp_mem_create_named(vmp_page_size(), "code", VMP_MEM_EXEC, &m));
  cr_assert_eq(info_of(m).backing, VMP_BACKING_MEMFD, "an old kernel still gives a memfd");
  cr_assert_eq(info_of(m).exec, 1);
  CHECK_OK(vmp_mem_close(m));
  refuse("memfd_create", NULL);
  CHECK_RC(vmp_mem_create_named(vmp_page_size(), "code", 0x200, &m), VMP_EINVAL);
}

/* For real: a child under a seccomp filter that denies memfd_create. */
static int child_without_memfd(void) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_memfd_create, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 10;
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return 11;
  if (syscall(SYS_memfd_create, "x", 0) >= 0 || errno != EPERM) return 12;
  vmp_mem *m = NULL;
  if (vmp_mem_create_named(4096, "strict", VMP_MEM_NO_FALLBACK, &m) != VMP_ENOTSUP) return 20;
  if (vmp_mem_create(vmp_page_size(), 0, &m) != 0) return 21;
  vmp_mem_info info;
  if (vmp_mem_query(m, &info) != 0 || info.backing != VMP_BACKING_SHM || !info.fell_back) return 22;
  vmp_budget b;
  if (vmp_budget_get(&b) != 0 || b.memfd != 0) return 23;
  vmp_mem_close(m);
  return 0;
}

Test(objects, a_sandbox_that_denies_memfd) {
  if (!has_memfd()) cr_skip_test("no memfd on this backend");
  vmpt_in_child(child_without_memfd);
}

/* Without exec intent a Linux 6.3+ memfd is sealed against exec: an
 * executable view is refused by the library (VMP_EACCES, in the argument
 * order) before the kernel is asked. */
Test(objects, objects_without_exec_intent_cannot_run) {
  vmp_mem *m;
  CHECK_OK(vmp_mem_create(vmp_page_size(), 0, &m));
  vmp_mem_info info = info_of(m);
  vmp_region *r;
  CHECK_OK(vmp_reserve(vmp_page_size(), 0, &r));
  if (info.exec == 0) {
    CHECK_RC(vmp_map(r, 0, vmp_page_size(), m, 0, VMP_PROT_READ | VMP_PROT_EXEC), VMP_EACCES);
    CHECK_OK(vmp_map(r, 0, vmp_page_size(), m, 0, VMP_PROT_READ));
    CHECK_RC(vmp_protect(r, 0, vmp_page_size(), VMP_PROT_READ | VMP_PROT_EXEC), VMP_EACCES);
    CHECK_MAPS(r);
  } else {
    cr_assert_eq(info.exec, -1);
    cr_log_info("no MFD_NOEXEC_SEAL here (kernel before 6.3, or no memfd)");
  }
  CHECK_OK(vmp_release(r));
  CHECK_OK(vmp_mem_close(m));
}

typedef int (*fallocate_fn)(int, off_t, off_t);
static fallocate_fn real_fallocate;
static int fallocate_calls;
static int fallocate_counting(int fd, off_t off, off_t len) {
  fallocate_calls++;
  return real_fallocate(fd, off, len);
}
static int fallocate_full(int fd, off_t off, off_t len) {
  (void)fd, (void)off, (void)len;
  return ENOSPC;
}

Test(objects, preallocation_reserves_the_blocks_at_create) {
  size_t size = 64 * vmp_page_size();
  real_fallocate = (fallocate_fn)vmp__testing_syscall_default("posix_fallocate");
  refuse("posix_fallocate", (vmp__syscall_fn)fallocate_counting);
  vmp_mem *m;
  CHECK_OK(vmp_mem_create_named(size, "prealloc", VMP_MEM_PREALLOCATE, &m));
  cr_assert_eq(fallocate_calls, 1);
  struct stat st;
  cr_assert_eq(fstat((int)vmp_mem_fd(m), &st), 0);
  cr_assert_geq((uint64_t)st.st_blocks * 512, size, "%lld blocks for %zu bytes",
                (long long)st.st_blocks, size);
  CHECK_OK(vmp_mem_close(m));
  /* Not asked: not done. */
  CHECK_OK(vmp_mem_create_named(size, "lazy", 0, &m));
  cr_assert_eq(fallocate_calls, 1);
  CHECK_OK(vmp_mem_close(m));
  /* A full file system: the error now, and no descriptor left open. */
  refuse("posix_fallocate", (vmp__syscall_fn)fallocate_full);
  int probe = dup(0);
  cr_assert_geq(probe, 0);
  close(probe);
  m = NULL;
  CHECK_RC(vmp_mem_create_named(size, "full", VMP_MEM_PREALLOCATE, &m), -ENOSPC);
  cr_assert_null(m);
  int next = dup(0);
  cr_assert_eq(next, probe, "a descriptor was left open (%d, expected %d)", next, probe);
  close(next);
  refuse("posix_fallocate", NULL);
}

/* VmFlags of the mapping holding addr, from /proc/self/smaps. */
static int vm_flag_at(const void *addr, const char *flag) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  char line[512];
  int inside = 0, found = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      inside = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
    } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
      char want[8];
      snprintf(want, sizeof want, " %s", flag);
      found = strstr(line, want) != NULL;
      break;
    }
  }
  fclose(f);
  return found;
}

Test(objects, huge_pages_or_transparent_ones_and_the_info_says_which) {
  vmp_budget b;
  CHECK_OK(vmp_budget_get(&b));
  size_t huge = b.huge_page > 0 ? (size_t)b.huge_page : (size_t)2 << 20;
  vmp_mem *m = NULL;
  int rc = vmp_mem_create_named(huge, "huge", VMP_MEM_HUGE, &m);
  int pool = has_memfd() && b.huge_free >= (int64_t)huge;
  if (pool) {
    CHECK_OK(rc);
    cr_assert_eq(info_of(m).huge_pages, 1);
    CHECK_OK(vmp_mem_close(m));
    CHECK_RC(vmp_mem_create_named(huge + vmp_page_size(), "huge", VMP_MEM_HUGE, &m), VMP_EALIGN);
  } else {
    CHECK_RC(rc, VMP_ENOTSUP);
    cr_assert_null(m);
  }
  CHECK_OK(vmp_mem_create_named(huge, "huge", VMP_MEM_HUGE_OR_THP, &m));
  vmp_mem_info info = info_of(m);
  cr_assert_eq(info.huge_pages, pool ? 1 : 2);
  vmp_region *r;
  CHECK_OK(vmp_reserve(huge, huge, &r));
  CHECK_OK(vmp_map(r, 0, huge, m, 0, VMP_PROT_RW));
  memset(vmp_base(r), 1, huge);
  if (!pool && has_memfd())
    cr_assert_eq(vm_flag_at(vmp_base(r), "hg"), 1, "the view did not ask for huge pages");
  CHECK_OK(vmp_release(r));
  CHECK_OK(vmp_mem_close(m));
}
