/* The POSIX wrappers: the calls of src/os/unix.c and src/os/linux.c. */
#if !defined(_WIN32)
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support_inject.h"

/* A failure each call can really have, and that the library must report
 * rather than take for "this way is not available" (EMFILE, not EPERM). */
#define FAIL_WITH(value, errnum) \
  do {                           \
    if (inject_this_call_fails()) { \
      errno = (errnum);          \
      return (value);            \
    }                            \
  } while (0)

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*addr_len_fn)(void *, size_t);
typedef int (*addr_len_int_fn)(void *, size_t, int);
typedef int (*open_fn)(const char *, int, ...);
typedef int (*int_fn)(int);
typedef int (*fstat_fn)(int, struct stat *);
typedef int (*ftruncate_fn)(int, off_t);
typedef int (*stat_fn)(const char *, struct stat *);
typedef int (*getrlimit_fn)(int, struct rlimit *);
typedef int (*fcntl_fn)(int, int, ...);
typedef int (*shm_open_fn)(const char *, int, mode_t);
typedef int (*path_fn)(const char *);
typedef int (*mkstemp_fn)(char *);
typedef int (*memfd_fn)(const char *, unsigned int);
typedef long (*futex_fn)(_Atomic uint32_t *, int, uint32_t, const struct timespec *);
typedef int (*membarrier_fn)(int, unsigned int, int);
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);

static vmp__syscall_fn real_mmap, real_munmap, real_mprotect, real_open, real_close, real_fstat,
    real_ftruncate, real_fcntl, real_shm_open, real_shm_unlink, real_mkstemp, real_unlink,
    real_memfd_create, real_madvise, real_futex, real_membarrier, real_stat, real_getrlimit,
    real_msync, real_read, real_write, real_vma_anon_name, real_posix_fallocate;

static int destructive;
void inject_destructive_mmap(int on) { destructive = on; }

static void *w_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off) {
  if (inject_this_call_fails()) {
    /* What POSIX allows a failed MAP_FIXED to do: the old pages are gone. */
    if (destructive && (flags & MAP_FIXED)) ((addr_len_fn)real_munmap)(a, n);
    errno = ENOMEM;
    return MAP_FAILED;
  }
  return ((mmap_fn)real_mmap)(a, n, prot, flags, fd, off);
}
static int w_munmap(void *a, size_t n) {
  FAIL_WITH(-1, ENOMEM);
  return ((addr_len_fn)real_munmap)(a, n);
}
static int w_msync(void *a, size_t n, int flags) {
  FAIL_WITH(-1, EIO);
  return ((addr_len_int_fn)real_msync)(a, n, flags);
}
static int w_mprotect(void *a, size_t n, int prot) {
  FAIL_WITH(-1, ENOMEM);
  return ((addr_len_int_fn)real_mprotect)(a, n, prot);
}
static long w_futex(_Atomic uint32_t *w, int op, uint32_t v, const struct timespec *t) {
  FAIL_WITH(-1, EINTR);
  return ((futex_fn)real_futex)(w, op, v, t);
}
static int w_membarrier(int cmd, unsigned int flags, int cpu) {
  FAIL_WITH(-1, EPERM);
  return ((membarrier_fn)real_membarrier)(cmd, flags, cpu);
}
static ssize_t w_read(int fd, void *buf, size_t n) {
  FAIL_WITH(-1, EIO);
  return ((read_fn)real_read)(fd, buf, n);
}
static ssize_t w_write(int fd, const void *buf, size_t n) {
  FAIL_WITH(-1, ENOSPC);
  return ((write_fn)real_write)(fd, buf, n);
}
static int w_madvise(void *a, size_t n, int advice) {
  FAIL_WITH(-1, ENOMEM);
  return ((addr_len_int_fn)real_madvise)(a, n, advice);
}
typedef int (*fallocate_fn)(int, off_t, off_t);
/* posix_fallocate returns the error rather than setting errno. */
static int w_posix_fallocate(int fd, off_t off, off_t len) {
  if (inject_this_call_fails()) return ENOSPC;
  return ((fallocate_fn)real_posix_fallocate)(fd, off, len);
}
typedef int (*anon_name_fn)(void *, size_t, const char *);
static int w_vma_anon_name(void *a, size_t n, const char *name) {
  FAIL_WITH(-1, ENOMEM);
  return ((anon_name_fn)real_vma_anon_name)(a, n, name);
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
  FAIL_WITH(-1, EMFILE);
  return ((open_fn)real_open)(path, flags, mode);
}
static int w_close(int fd) {
  FAIL_WITH(-1, EIO);
  return ((int_fn)real_close)(fd);
}
static int w_fstat(int fd, struct stat *st) {
  FAIL_WITH(-1, EIO);
  return ((fstat_fn)real_fstat)(fd, st);
}
static int w_stat(const char *path, struct stat *st) {
  FAIL_WITH(-1, EIO);
  return ((stat_fn)real_stat)(path, st);
}
static int w_getrlimit(int resource, struct rlimit *lim) {
  FAIL_WITH(-1, EFAULT);
  return ((getrlimit_fn)real_getrlimit)(resource, lim);
}
static int w_ftruncate(int fd, off_t size) {
  FAIL_WITH(-1, ENOSPC);
  return ((ftruncate_fn)real_ftruncate)(fd, size);
}
static int takes_no_argument(int cmd) {
#ifdef F_GET_SEALS
  if (cmd == F_GET_SEALS) return 1;
#endif
  return cmd == F_GETFD || cmd == F_GETFL;
}
static int w_fcntl(int fd, int cmd, ...) {
  /* Every command the library uses takes no argument or an int. */
  int arg = 0;
  if (!takes_no_argument(cmd)) {
    va_list ap;
    va_start(ap, cmd);
    arg = va_arg(ap, int);
    va_end(ap);
  }
  FAIL_WITH(-1, EIO);
  return ((fcntl_fn)real_fcntl)(fd, cmd, arg);
}
static int w_shm_open(const char *name, int flags, mode_t mode) {
  FAIL_WITH(-1, EMFILE);
  return ((shm_open_fn)real_shm_open)(name, flags, mode);
}
static int w_shm_unlink(const char *name) {
  FAIL_WITH(-1, EIO);
  return ((path_fn)real_shm_unlink)(name);
}
static int w_mkstemp(char *templ) {
  FAIL_WITH(-1, EMFILE);
  return ((mkstemp_fn)real_mkstemp)(templ);
}
static int w_unlink(const char *path) {
  FAIL_WITH(-1, EIO);
  return ((path_fn)real_unlink)(path);
}
static int w_memfd_create(const char *name, unsigned int flags) {
  FAIL_WITH(-1, EMFILE);
  return ((memfd_fn)real_memfd_create)(name, flags);
}

#define WRAPPER(name) {#name, (vmp__syscall_fn)w_##name, &real_##name}

static const inject_wrapper wrappers[] = {
    WRAPPER(mmap),      WRAPPER(munmap),     WRAPPER(mprotect), WRAPPER(madvise),
    WRAPPER(open),      WRAPPER(close),      WRAPPER(fstat),    WRAPPER(ftruncate),
    WRAPPER(fcntl),     WRAPPER(shm_open),   WRAPPER(shm_unlink), WRAPPER(mkstemp),
    WRAPPER(unlink),    WRAPPER(memfd_create), WRAPPER(futex),
    WRAPPER(membarrier), WRAPPER(stat),       WRAPPER(getrlimit), WRAPPER(msync),
    WRAPPER(read),      WRAPPER(write),      WRAPPER(vma_anon_name), WRAPPER(posix_fallocate),
};

const inject_wrapper *inject_platform_wrappers(size_t *count) {
  *count = sizeof wrappers / sizeof wrappers[0];
  return wrappers;
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int vmpt_inject_posix_unused;
#endif
