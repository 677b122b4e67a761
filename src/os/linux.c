/*
 * The Linux backend: unix.c plus memfd_create with seals, MADV_DONTNEED
 * discard and O_TMPFILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../internal.h"
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

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41 /* Linux 5.17; older headers lack the names */
#define PR_SET_VMA_ANON_NAME 0
#endif

/* The prctl that names anonymous memory, with a signature of its own for
 * the table (prctl itself is variadic). */
static int vma_anon_name(void *addr, size_t size, const char *name) {
  return prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)addr, (unsigned long)size,
               (unsigned long)name);
}

#define LINUX_SYSCALLS(X)                                                             \
  X(memfd_create, int, (const char *, unsigned int))                                  \
  X(madvise, int, (void *, size_t, int))                                              \
  X(futex, long, (_Atomic uint32_t *, int, uint32_t, const struct timespec *))        \
  X(membarrier, int, (int, unsigned int, int))                                        \
  X(process_vm_readv, ssize_t,                                                        \
    (pid_t, const struct iovec *, unsigned long, const struct iovec *, unsigned long, \
     unsigned long))                                                                  \
  X(vma_anon_name, int, (void *, size_t, const char *))

VMP__DEFINE_SYSCALLS(LINUX_SYSCALLS, vmp__unix_backend_syscalls)
#define SYS(name) VMP__SYSCALL(vmp__unix_backend_syscalls, name)

/* ---- locks --------------------------------------------------------------------- */

/* A lock is one word: 0 free, 1 held, 2 held with a waiter that may be
 * asleep on a private futex. Not a pthread mutex: where every system call
 * empties the TLB (page-table isolation without PCID), glibc's lock and
 * unlock cost two code pages and three data pages of page walks on every
 * region call, where this touches the word and nothing else. */
static _Atomic uint32_t *lock_word(vmp__os_lock *l) { return (_Atomic uint32_t *)(void *)l->bytes; }

int vmp__os_lock_init(vmp__os_lock *l) {
  atomic_init(lock_word(l), 0);
  return 0;
}
void vmp__os_lock_destroy(vmp__os_lock *l) { (void)l; }

/* A failed wait (EAGAIN: the word changed; EINTR) only means looking again. */
static void lock_wait(_Atomic uint32_t *word) {
  while (atomic_exchange_explicit(word, 2, memory_order_acquire) != 0)
    SYS(futex)(word, FUTEX_WAIT_PRIVATE, 2, NULL);
}

VMP__HOT void vmp__os_lock_acquire(vmp__os_lock *l) {
  _Atomic uint32_t *word = lock_word(l);
  uint32_t free_word = 0;
  if (!atomic_compare_exchange_strong_explicit(word, &free_word, 1, memory_order_acquire,
                                               memory_order_relaxed))
    lock_wait(word);
}

VMP__HOT void vmp__os_lock_release(vmp__os_lock *l) {
  _Atomic uint32_t *word = lock_word(l);
  if (atomic_exchange_explicit(word, 0, memory_order_release) == 2)
    SYS(futex)(word, FUTEX_WAKE_PRIVATE, 1, NULL);
}

const vmp__os_caps vmp__unix_backend_caps = {
    .backend = "linux",
    .seals = 1,                  /* memfd_create with F_SEAL_SHRINK */
    .discard_mixed_one_step = 1, /* madvise keeps each page's protection */
    .huge_pages = 1,             /* MFD_HUGETLB */
    .no_inherit = 1,             /* MADV_DONTFORK */
    .wait_across_processes = 1,  /* shared futexes */
    .fault_safe_copy = 1,        /* process_vm_readv on ourselves */
    .knows_mapping_limit = 1,    /* /proc/sys/vm/max_map_count, /proc/self/maps */
    .labels = 1,                 /* PR_SET_VMA_ANON_NAME, memfd names */
};

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17; older headers lack the name */
#endif
const int vmp__unix_noreplace_flag = MAP_FIXED_NOREPLACE;

/* ---- the process's map of itself ------------------------------------------------------- */

/* The number a /proc file holds, or -1. */
static long long read_proc_number(const char *path) {
  char buf[64];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  long long value = -1;
  return sscanf(buf, "%lld", &value) == 1 ? value : -1;
}

/* Calls fn(lo, hi, arg) for every line of /proc/self/maps in address
 * order until it returns nonzero (returned), 0 at the end; VMP_ENOTSUP
 * when the file cannot be read. read() into a buffer on the stack: no
 * allocation, so it also works with the process's mapping table full. */
static int for_each_mapping(int (*fn)(uintptr_t lo, uintptr_t hi, void *arg), void *arg) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return VMP_ENOTSUP;
  char buf[4096];
  uintptr_t lo = 0, hi = 0;
  int field = 0; /* 0: lo, 1: hi, 2: the rest of the line */
  int rc = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0) rc = VMP_ENOTSUP;
      break;
    }
    for (ssize_t i = 0; i < n && !rc; i++) {
      char c = buf[i];
      if (c == '\n') {
        if (field == 2) rc = fn(lo, hi, arg);
        lo = hi = 0;
        field = 0;
      } else if (field < 2) {
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (digit >= 0 && field == 0)
          lo = lo * 16 + (uintptr_t)digit;
        else if (digit >= 0)
          hi = hi * 16 + (uintptr_t)digit;
        else
          field = c == '-' && field == 0 ? 1 : 2;
      }
    }
    if (rc) break;
  }
  close(fd);
  return rc;
}

typedef struct gap_search {
  uintptr_t from, prev_end, lo, hi;
} gap_search;

static int gap_before(uintptr_t lo, uintptr_t hi, void *arg) {
  gap_search *g = arg;
  if (lo > g->prev_end && lo > g->from) {
    g->lo = g->prev_end;
    g->hi = lo;
    return 1;
  }
  if (hi > g->prev_end) g->prev_end = hi;
  return 0;
}

static int count_one(uintptr_t lo, uintptr_t hi, void *arg) {
  (void)lo, (void)hi;
  ++*(long long *)arg;
  return 0;
}

/* The kernel refuses a new mapping, or a cut of one, once the process
 * holds vm.max_map_count of them: a call that needed one or two more
 * fails with ENOMEM at limit - 1 or at the limit. Far from it, ENOMEM is
 * memory. Nothing here allocates (the table may be full). */
int vmp__unix_enomem_cause(void) {
  long long limit = read_proc_number("/proc/sys/vm/max_map_count"), count = 0;
  if (limit <= 0 || for_each_mapping(count_one, &count) != 0) return VMP_ENOMEM;
  return count + 2 > limit ? VMP_EMAPLIMIT : VMP_ENOMEM;
}

/* memfd_create is asked (and the probe closed at once): a seccomp filter
 * or an old kernel refuses it, and then objects fall back to /dev/shm. */
void vmp__unix_budget(struct vmp_budget *out) {
  out->map_limit = read_proc_number("/proc/sys/vm/max_map_count");
  long long count = 0;
  if (for_each_mapping(count_one, &count) == 0) out->map_count = count;
  out->overcommit = (int)read_proc_number("/proc/sys/vm/overcommit_memory");
  int fd = SYS(memfd_create)("vmplace-probe", MFD_CLOEXEC);
  if (fd >= 0) close(fd);
  out->memfd = fd >= 0 ? 1 : errno == ENOSYS ? -1 : 0;
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return;
  char line[128];
  unsigned long long free_pages = 0, kib = 0;
  int have_free = 0, have_size = 0;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "HugePages_Free: %llu", &free_pages) == 1) have_free = 1;
    if (sscanf(line, "Hugepagesize: %llu kB", &kib) == 1) have_size = 1;
  }
  fclose(f);
  if (have_size) out->huge_page = (int64_t)(kib * 1024);
  if (have_free && have_size) out->huge_free = (int64_t)(free_pages * kib * 1024);
}

/* Below vm.mmap_min_addr nothing may be mapped: the map starts there. */
int vmp__unix_find_gap(uintptr_t from, uintptr_t *lo, uintptr_t *hi) {
  long long min_addr = read_proc_number("/proc/sys/vm/mmap_min_addr");
  gap_search g = {.from = from, .prev_end = min_addr >= 0 ? (uintptr_t)min_addr : 65536};
  int rc = for_each_mapping(gap_before, &g);
  if (rc < 0) return rc;
  if (rc == 0) {
    /* After the last mapping, up to the end of the address space. */
    if (g.prev_end == UINTPTR_MAX || from == UINTPTR_MAX) return VMP_EADDRINUSE;
    g.lo = g.prev_end;
    g.hi = UINTPTR_MAX;
  }
  *lo = g.lo;
  *hi = g.hi;
  return 0;
}

/* A memfd sealed against shrinking: no holder of the fd can truncate it
 * under a view and turn the view's pages into SIGBUS. */
#ifndef MFD_EXEC
#define MFD_EXEC 0x10U /* Linux 6.3 */
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x8U /* Linux 6.3 */
#endif

/* With exec intent MFD_EXEC keeps RX views working where vm.memfd_noexec
 * makes memfds non-executable by default; without it MFD_NOEXEC_SEAL
 * makes sure no holder of the descriptor can ever run code from it. A
 * kernel older than the flags (6.3) refuses them with EINVAL, and there
 * every memfd is exec-capable. */
int vmp__unix_anon_create(uint64_t size, const char *name, unsigned how, unsigned *traits) {
  unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  unsigned exec = (how & VMP__CREATE_EXEC) ? MFD_EXEC : MFD_NOEXEC_SEAL;
  int fd = SYS(memfd_create)(name, flags | exec);
  if (fd < 0 && errno == EINVAL) {
    exec = 0;
    fd = SYS(memfd_create)(name, flags);
  }
  if (fd < 0) return vmp__unix_refused(errno) ? VMP_ENOTSUP : vmp__unix_error(errno);
  fd = vmp__unix_size_new_object(fd, size);
  if (fd < 0) return fd;
  if (vmp__unix_fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
    int err = vmp__unix_error(errno);
    vmp__unix_close_quietly(fd);
    return err;
  }
  *traits = VMP__OBJ_NO_SHRINK | VMP__OBJ_BACKING(VMP_BACKING_MEMFD) |
            ((how & VMP__CREATE_EXEC) ? VMP__OBJ_EXEC : 0) |
            (exec == MFD_NOEXEC_SEAL ? VMP__OBJ_NOEXEC : 0);
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

/* The name shows as [anon:NAME] in /proc/PID/maps. A kernel built
 * without CONFIG_ANON_VMA_NAME (or before 5.17) answers EINVAL to the
 * arguments the core has checked: there labels do nothing. */
int vmp__unix_label_private(void *addr, size_t size, const char *name) {
  if (SYS(vma_anon_name)(addr, size, name) == 0 || errno == EINVAL) return 0;
  return vmp__unix_error(errno);
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
  *traits = VMP__OBJ_HUGE | VMP__OBJ_BACKING(VMP_BACKING_MEMFD);
  *out = fd;
  return 0;
}

int vmp__os_advise_huge(void *addr, size_t size) {
  SYS(madvise)(addr, size, MADV_HUGEPAGE);
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
 * seccomp filter may refuse it (EPERM, ENOSYS): then, for good, the copy
 * goes through a pipe as on the generic POSIX backend (unix.c), which is
 * as safe and costs a few more system calls. */
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
  return n > 0 ? vmp__unix_copy_through_pipe(to, from, n) : 0;
}
