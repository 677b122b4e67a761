/* The POSIX wrappers: the calls of src/os/unix.c and src/os/linux.c. */
#if !defined(_WIN32)
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "support_inject.h"

/* The calls whose wrapper only decides and then passes the call on:
 * X(name, return type, parameters, arguments, failure value, usual error).
 * The usual error is one the call can really have and that the library
 * must report rather than take for "this way is not available" (EMFILE,
 * not EPERM). */
#define PLAIN_WRAPPERS(X)                                                                         \
  X(munmap, int, (void *a, size_t n), (a, n), -1, ENOMEM)                                         \
  X(madvise, int, (void *a, size_t n, int advice), (a, n, advice), -1, ENOMEM)                    \
  X(msync, int, (void *a, size_t n, int flags), (a, n, flags), -1, EIO)                           \
  X(fstat, int, (int fd, struct stat *st), (fd, st), -1, EIO)                                     \
  X(stat, int, (const char *path, struct stat *st), (path, st), -1, EIO)                          \
  X(getrlimit, int, (int resource, struct rlimit *lim), (resource, lim), -1, EFAULT)              \
  X(ftruncate, int, (int fd, off_t size), (fd, size), -1, ENOSPC)                                 \
  X(shm_open, int, (const char *name, int flags, mode_t mode), (name, flags, mode), -1, EMFILE)   \
  X(shm_unlink, int, (const char *name), (name), -1, EIO)                                         \
  X(mkstemp, int, (char *templ), (templ), -1, EMFILE)                                             \
  X(unlink, int, (const char *path), (path), -1, EIO)                                             \
  X(memfd_create, int, (const char *name, unsigned int flags), (name, flags), -1, EMFILE)         \
  X(futex, long, (_Atomic uint32_t *w, int op, uint32_t v, const struct timespec *t),             \
    (w, op, v, t), -1, EINTR)                                                                     \
  X(membarrier, int, (int cmd, unsigned int flags, int cpu), (cmd, flags, cpu), -1, EPERM)        \
  X(read, ssize_t, (int fd, void *buf, size_t n), (fd, buf, n), -1, EIO)                          \
  X(write, ssize_t, (int fd, const void *buf, size_t n), (fd, buf, n), -1, ENOSPC)                \
  /* The fault-safe copy's pipe: a process out of descriptors. */                                 \
  X(pipe, int, (int fds[2]), (fds), -1, EMFILE)                                                   \
  /* The multi-file view's fault-safe copy: EFAULT is what a truncated file                       \
   * gives, so a failure reads as bytes gone. */                                                  \
  X(process_vm_readv, ssize_t,                                                                    \
    (pid_t pid, const struct iovec *l, unsigned long nl, const struct iovec *r, unsigned long nr, \
     unsigned long flags),                                                                        \
    (pid, l, nl, r, nr, flags), -1, EFAULT)                                                       \
  X(vma_anon_name, int, (void *a, size_t n, const char *name), (a, n, name), -1, ENOMEM)

#define DEFINE_PLAIN(name, ret, params, args, failure, usual) \
  typedef ret(*name##_fn) params;                             \
  static vmp__syscall_fn real_##name;                         \
  static ret w_##name params {                                \
    if (inject_this_call_fails(#name)) {                      \
      errno = inject_error(usual);                            \
      return failure;                                         \
    }                                                         \
    return ((name##_fn)real_##name)args;                      \
  }
PLAIN_WRAPPERS(DEFINE_PLAIN)

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*mprotect_fn)(void *, size_t, int);
typedef int (*open_fn)(const char *, int, ...);
typedef int (*fcntl_fn)(int, int, ...);
typedef int (*close_fn)(int);
static vmp__syscall_fn real_mmap, real_mprotect, real_open, real_fcntl, real_close;
typedef int (*fallocate_fn)(int, off_t, off_t);
static vmp__syscall_fn real_posix_fallocate;

static int destructive;
void inject_destructive(int on) { destructive = on; }

static void *w_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off) {
  if (inject_this_call_fails("mmap")) {
    /* What POSIX allows a failed MAP_FIXED to do: the old pages are gone. */
    if (destructive && (flags & MAP_FIXED)) ((munmap_fn)real_munmap)(a, n);
    errno = inject_error(ENOMEM);
    return MAP_FAILED;
  }
  return ((mmap_fn)real_mmap)(a, n, prot, flags, fd, off);
}

/* What POSIX allows a failed mprotect to do: some pages have the new
 * protection already. Here the first one has. */
static int w_mprotect(void *a, size_t n, int prot) {
  if (inject_this_call_fails("mprotect")) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (destructive) ((mprotect_fn)real_mprotect)(a, n < page ? n : page, prot);
    errno = inject_error(ENOMEM);
    return -1;
  }
  return ((mprotect_fn)real_mprotect)(a, n, prot);
}

/* posix_fallocate returns the error rather than setting errno. */
static int w_posix_fallocate(int fd, off_t off, off_t len) {
  if (inject_this_call_fails("posix_fallocate")) return inject_error(ENOSPC);
  return ((fallocate_fn)real_posix_fallocate)(fd, off, len);
}

static int w_open(const char *path, int flags, ...) {
  /* The mode is an argument only when the file may be created. */
  mode_t mode = 0;
  int creates = (flags & O_CREAT) != 0;
#ifdef O_TMPFILE
  creates = creates || (flags & O_TMPFILE) == O_TMPFILE;
#endif
  if (creates) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  if (inject_this_call_fails("open")) {
    errno = inject_error(EMFILE);
    return -1;
  }
  return ((open_fn)real_open)(path, flags, mode);
}

static int takes_no_argument(int cmd) {
#ifdef F_GET_SEALS
  if (cmd == F_GET_SEALS) return 1;
#endif
  return cmd == F_GETFD || cmd == F_GETFL || cmd == F_GETOWN;
}

static int w_fcntl(int fd, int cmd, ...) {
  /* Every command the library uses takes no argument or an int. */
  int arg = 0, none = takes_no_argument(cmd);
  if (!none) {
    va_list ap;
    va_start(ap, cmd);
    arg = va_arg(ap, int);
    va_end(ap);
  }
  if (inject_this_call_fails("fcntl")) {
    errno = inject_error(EIO);
    return -1;
  }
  return none ? ((fcntl_fn)real_fcntl)(fd, cmd) : ((fcntl_fn)real_fcntl)(fd, cmd, arg);
}

/* Linux releases the descriptor even when close reports an error, so the
 * failing close really closes. */
static int w_close(int fd) {
  int failing = inject_this_call_fails("close");
  int rc = ((close_fn)real_close)(fd);
  if (failing) {
    errno = inject_error(EIO);
    return -1;
  }
  return rc;
}

#define WRAPPER(name) {#name, (vmp__syscall_fn)w_##name, &real_##name},
#define PLAIN_ENTRY(name, ret, params, args, failure, usual) WRAPPER(name)

static const inject_wrapper wrappers[] = {PLAIN_WRAPPERS(PLAIN_ENTRY) WRAPPER(mmap) WRAPPER(
    mprotect) WRAPPER(open) WRAPPER(fcntl) WRAPPER(close) WRAPPER(posix_fallocate)};

const inject_wrapper *inject_platform_wrappers(size_t *count) {
  *count = sizeof wrappers / sizeof wrappers[0];
  return wrappers;
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int vmpt_inject_posix_unused;
#endif
