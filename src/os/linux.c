/*
 * The Linux backend: unix.c plus memfd_create with seals, MAP_NORESERVE
 * placeholders, MADV_DONTNEED discard and O_TMPFILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "unix.h"
#include "vmplace.h"

/* glibc has no futex(); this is the table's default for the entry. */
static long futex(_Atomic uint32_t *word, int op, uint32_t value, const struct timespec *timeout) {
  return syscall(SYS_futex, word, op, value, timeout, NULL, 0);
}

/* Nor membarrier(). */
static int membarrier(int cmd, unsigned int flags, int cpu_id) {
  return (int)syscall(SYS_membarrier, cmd, flags, cpu_id);
}

#define LINUX_SYSCALLS(X)                            \
  X(memfd_create, int, (const char *, unsigned int)) \
  X(madvise, int, (void *, size_t, int))             \
  X(futex, long, (_Atomic uint32_t *, int, uint32_t, const struct timespec *)) \
  X(membarrier, int, (int, unsigned int, int)) \
  X(process_vm_readv, ssize_t,                 \
    (pid_t, const struct iovec *, unsigned long, const struct iovec *, unsigned long, unsigned long))

VMP__DEFINE_SYSCALLS(LINUX_SYSCALLS, vmp__unix_backend_syscalls)
#define SYS(name) VMP__SYSCALL(vmp__unix_backend_syscalls, name)

const vmp__os_caps vmp__unix_backend_caps = {
    .backend = "linux",
    .seals = 1,                  /* memfd_create with F_SEAL_SHRINK */
    .discard_mixed_one_step = 1, /* madvise keeps each page's protection */
    .huge_pages = 1,             /* MFD_HUGETLB */
    .no_inherit = 1,             /* MADV_DONTFORK */
    .wait_across_processes = 1,  /* shared futexes */
    .fault_safe_copy = 1,        /* process_vm_readv on ourselves */
};
const int vmp__unix_placeholder_flags = MAP_NORESERVE;

/* A memfd sealed against shrinking: no holder of the fd can truncate it
 * under a view and turn the view's pages into SIGBUS. */
int vmp__unix_anon_create(uint64_t size, unsigned *traits) {
  int fd = SYS(memfd_create)("vmplace", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return vmp__unix_refused(errno) ? VMP_ENOTSUP : vmp__unix_error(errno);
  fd = vmp__unix_size_new_object(fd, size);
  if (fd < 0) return fd;
  if (vmp__unix_fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
    int err = vmp__unix_error(errno);
    vmp__unix_close_quietly(fd);
    return err;
  }
  *traits = VMP__OBJ_NO_SHRINK;
  return fd;
}

/* O_TMPFILE: a file that never has a name, so a crash at any moment
 * leaves nothing behind. */
int vmp__unix_anon_unnamed_file(const char *dir, uint64_t size, unsigned *traits) {
  int fd = vmp__unix_open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return vmp__unix_refused(errno) ? VMP_ENOTSUP : vmp__unix_error(errno);
  *traits = 0;
  return vmp__unix_size_new_object(fd, size);
}

unsigned vmp__unix_sealed_traits(int fd) {
  int seals = vmp__unix_fcntl(fd, F_GET_SEALS, 0);
  return (seals >= 0 && (seals & F_SEAL_SHRINK)) ? VMP__OBJ_NO_SHRINK : 0;
}

int vmp__unix_discard(void *addr, size_t size, int prot) {
  (void)prot;
  return SYS(madvise)(addr, size, MADV_DONTNEED) == 0 ? 0 : vmp__unix_error(errno);
}

/* ---- rings: seals, huge pages, fork, futex ---------------------------------------- */

int vmp__os_object_seal_size(vmp__os_handle h) {
  if (vmp__unix_fcntl((int)h, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0) return 0;
  return errno == EINVAL || errno == EPERM ? VMP_ENOTSUP : vmp__unix_error(errno);
}

/* Linux has seals: an object without the shrink seal (or one that cannot
 * carry seals) could be truncated under our views by a peer holding it. */
int vmp__os_object_size_sealed(vmp__os_handle h) {
  int seals = vmp__unix_fcntl((int)h, F_GET_SEALS, 0);
  if (seals < 0) return errno == EINVAL ? 0 : vmp__unix_error(errno);
  return (seals & F_SEAL_SHRINK) != 0;
}

/* /proc/meminfo says how large a huge page is and how many are free: with
 * none free, mapping a huge-page object would fail later with SIGBUS or
 * ENOMEM, so the answer is "not supported" now. */
int vmp__os_huge_page_size(uint64_t bytes, size_t *size) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return VMP_ENOTSUP;
  char line[128];
  unsigned long long free_pages = 0, kib = 0;
  while (fgets(line, sizeof line, f)) {
    sscanf(line, "HugePages_Free: %llu", &free_pages);
    sscanf(line, "Hugepagesize: %llu kB", &kib);
  }
  fclose(f);
  if (kib == 0 || free_pages == 0 || free_pages * kib * 1024 < bytes) return VMP_ENOTSUP;
  *size = (size_t)(kib * 1024);
  return 0;
}

int vmp__os_object_create_huge(uint64_t size, vmp__os_handle *out, unsigned *traits) {
  int fd = SYS(memfd_create)("vmplace", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
  if (fd < 0) return vmp__unix_refused(errno) ? VMP_ENOTSUP : vmp__unix_error(errno);
  fd = vmp__unix_size_new_object(fd, size);
  if (fd < 0) return fd;
  *traits = 0;
  *out = fd;
  return 0;
}

int vmp__os_no_inherit(void *addr, size_t size) {
  return SYS(madvise)(addr, size, MADV_DONTFORK) == 0 ? 0 : vmp__unix_error(errno);
}

/* A shared (not FUTEX_PRIVATE) futex, so a waiter in one process is woken
 * by a commit in another that maps the same control page. */
int vmp__os_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns) {
  struct timespec ts, *limit = NULL;
  if (timeout_ns >= 0) {
    ts.tv_sec = (time_t)(timeout_ns / 1000000000);
    ts.tv_nsec = (long)(timeout_ns % 1000000000);
    limit = &ts;
  }
  if (SYS(futex)(word, FUTEX_WAIT, expected, limit) == 0) return 0;
  if (errno == ETIMEDOUT) return VMP_ETIMEDOUT;
  return 0; /* EAGAIN (the word changed), EINTR: the caller looks again */
}

void vmp__os_wake_all(_Atomic uint32_t *word) { SYS(futex)(word, FUTEX_WAKE, INT_MAX, NULL); }

/* MEMBARRIER_CMD_GLOBAL_EXPEDITED reaches every process registered for it,
 * so a ring's two processes need not know each other. Registering can fail
 * (before 4.16, or a seccomp filter): then the answer is no, for good. */
static _Atomic int remote_barrier_state; /* 0 unknown, 1 ready, -1 not available */

int vmp__os_remote_barrier_ready(void) {
  int state = atomic_load_explicit(&remote_barrier_state, memory_order_acquire);
  if (state == 0) {
    state = SYS(membarrier)(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0 ? 1 : -1;
    atomic_store_explicit(&remote_barrier_state, state, memory_order_release);
  }
  return state > 0;
}

int vmp__os_remote_barrier(void) {
  return SYS(membarrier)(MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0 ? 0 : vmp__unix_error(errno);
}

/* ---- reading mapped bytes that may be gone ------------------------------------------ */

/* The kernel copies from this process to itself: a page past its file's
 * end, or one whose read fails, makes the call stop with EFAULT where a
 * load would have raised SIGBUS. It may copy less than asked (it stops
 * at the first page it cannot read), so it is called until done. A
 * seccomp filter may refuse it (EPERM, ENOSYS): then memcpy, for good,
 * and only the core's size checks protect the copy. */
static _Atomic int kernel_copy_refused;

int vmp__os_read_memory(void *dst, const void *src, size_t n) {
  char *to = dst;
  const char *from = src;
  while (n > 0 && !atomic_load_explicit(&kernel_copy_refused, memory_order_relaxed)) {
    struct iovec local = {to, n}, remote = {(void *)(uintptr_t)from, n};
    ssize_t got = SYS(process_vm_readv)(getpid(), &local, 1, &remote, 1, 0);
    if (got > 0) {
      to += got, from += got, n -= (size_t)got;
      continue;
    }
    if (got == 0 || errno == EFAULT) return VMP_EGONE;
    if (errno == EINTR) continue;
    if (errno != EPERM && errno != ENOSYS) return vmp__unix_error(errno);
    atomic_store_explicit(&kernel_copy_refused, 1, memory_order_relaxed);
  }
  if (n > 0) memcpy(to, from, n);
  return 0;
}
