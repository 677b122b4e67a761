#define _GNU_SOURCE
#include "inject.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "testing.h"

static struct {
  long countdown; /* calls to let through before the victim; 0 disarmed */
  inject_mode mode;
  int err;
  int fired;
} plan;

/* Whether this call is the victim. `eligible` says whether the call can
 * fail in the armed mode at all. */
static int victim(int eligible) {
  if (plan.countdown <= 0 || !eligible) return 0;
  if (--plan.countdown > 0) return 0;
  plan.fired = 1;
  return 1;
}

static int plain(void) { return plan.mode == INJECT_PLAIN; }

#define SIMPLE_WRAPPERS(X)                                                                        \
  X(munmap, int, (void *a, size_t l), (a, l), -1)                                                 \
  X(msync, int, (void *a, size_t l, int f), (a, l, f), -1)                                        \
  X(madvise, int, (void *a, size_t l, int adv), (a, l, adv), -1)                                  \
  X(fstat, int, (int fd, struct stat *st), (fd, st), -1)                                          \
  X(stat, int, (const char *p, struct stat *st), (p, st), -1)                                     \
  X(getrlimit, int, (int r, struct rlimit *lim), (r, lim), -1)                                    \
  X(ftruncate, int, (int fd, off_t len), (fd, len), -1)                                           \
  X(memfd_create, int, (const char *n, unsigned int f), (n, f), -1)                               \
  X(shm_open, int, (const char *n, int f, mode_t m), (n, f, m), -1)                               \
  X(shm_unlink, int, (const char *n), (n), -1)                                                    \
  X(mkstemp, int, (char *t), (t), -1)                                                             \
  X(unlink, int, (const char *p), (p), -1)                                                        \
  X(futex, long, (_Atomic uint32_t *w, int op, uint32_t v, const struct timespec *t),             \
    (w, op, v, t), -1)                                                                            \
  X(membarrier, int, (int cmd, unsigned int f, int cpu), (cmd, f, cpu), -1)                       \
  X(read, ssize_t, (int fd, void *b, size_t n), (fd, b, n), -1)                                   \
  X(write, ssize_t, (int fd, const void *b, size_t n), (fd, b, n), -1)                            \
  X(pipe, int, (int fds[2]), (fds), -1)                                                           \
  X(process_vm_readv, ssize_t,                                                                    \
    (pid_t pid, const struct iovec *l, unsigned long ln, const struct iovec *r, unsigned long rn, \
     unsigned long f),                                                                            \
    (pid, l, ln, r, rn, f), -1)                                                                   \
  X(vma_anon_name, int, (void *a, size_t n, const char *name), (a, n, name), -1)

#define DEFINE_SIMPLE(name, ret, params, args, failure) \
  typedef ret(*real_##name##_fn) params;                \
  static real_##name##_fn real_##name;                  \
  static ret wrap_##name params {                       \
    if (victim(plain())) {                              \
      errno = plan.err;                                 \
      return failure;                                   \
    }                                                   \
    return real_##name args;                            \
  }
SIMPLE_WRAPPERS(DEFINE_SIMPLE)

/* posix_fallocate returns the error instead of setting errno. */
typedef int (*real_posix_fallocate_fn)(int, off_t, off_t);
static real_posix_fallocate_fn real_posix_fallocate;
static int wrap_posix_fallocate(int fd, off_t o, off_t l) {
  if (victim(plain())) return plan.err;
  return real_posix_fallocate(fd, o, l);
}

typedef void *(*real_mmap_fn)(void *, size_t, int, int, int, off_t);
static real_mmap_fn real_mmap;
static void *wrap_mmap(void *a, size_t l, int p, int f, int fd, off_t o) {
  int fixed = (f & MAP_FIXED) != 0;
  if (victim(plain() || (plan.mode == INJECT_DESTRUCTIVE && fixed))) {
    if (plan.mode == INJECT_DESTRUCTIVE) real_munmap(a, l);
    errno = plan.err;
    return MAP_FAILED;
  }
  return real_mmap(a, l, p, f, fd, o);
}

typedef int (*real_mprotect_fn)(void *, size_t, int);
static real_mprotect_fn real_mprotect;
static int wrap_mprotect(void *a, size_t l, int p) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  int splittable = l > page;
  if (victim(plain() || (plan.mode == INJECT_HALF_WAY && splittable))) {
    if (plan.mode == INJECT_HALF_WAY) {
      real_mprotect(a, (l / page / 2) * page, p);
      if (getenv("VMP_FUZZ_TRACE")) fprintf(stderr, "half-way mprotect of %zu bytes\n", l);
    }
    errno = plan.err;
    return -1;
  }
  return real_mprotect(a, l, p);
}

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
  if (victim(plain())) {
    errno = plan.err;
    return -1;
  }
  return real_open(path, flags, mode);
}

typedef int (*real_fcntl_fn)(int, int, ...);
static real_fcntl_fn real_fcntl;
static int wrap_fcntl(int fd, int cmd, ...) {
  int no_arg = cmd == F_GETFD || cmd == F_GETFL || cmd == F_GET_SEALS;
  int arg = 0;
  if (!no_arg) {
    va_list ap;
    va_start(ap, cmd);
    arg = va_arg(ap, int);
    va_end(ap);
  }
  if (victim(plain())) {
    errno = plan.err;
    return -1;
  }
  return no_arg ? real_fcntl(fd, cmd) : real_fcntl(fd, cmd, arg);
}

/* Linux releases the descriptor even when close reports an error. */
typedef int (*real_close_fn)(int);
static real_close_fn real_close;
static int wrap_close(int fd) {
  int failing = victim(plain());
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
    SIMPLE_WRAPPERS(WRAPPER_ENTRY){"mmap", (vmp__syscall_fn)wrap_mmap,
                                   (vmp__syscall_fn *)&real_mmap},
    {"posix_fallocate", (vmp__syscall_fn)wrap_posix_fallocate,
     (vmp__syscall_fn *)&real_posix_fallocate},
    {"mprotect", (vmp__syscall_fn)wrap_mprotect, (vmp__syscall_fn *)&real_mprotect},
    {"open", (vmp__syscall_fn)wrap_open, (vmp__syscall_fn *)&real_open},
    {"fcntl", (vmp__syscall_fn)wrap_fcntl, (vmp__syscall_fn *)&real_fcntl},
    {"close", (vmp__syscall_fn)wrap_close, (vmp__syscall_fn *)&real_close},
};

void inject_setup(void) {
  static int done;
  if (done) return;
  done = 1;
  for (const char *name = vmp__testing_syscall_next(NULL); name;
       name = vmp__testing_syscall_next(name)) {
    const wrapper *w = NULL;
    for (size_t i = 0; i < sizeof wrappers / sizeof *wrappers; i++)
      if (strcmp(wrappers[i].name, name) == 0) w = &wrappers[i];
    if (!w) fuzz_fail("syscall table entry \"%s\" has no wrapper in fuzz/inject.c", name);
    *w->real = vmp__testing_syscall_default(name);
    if (!*w->real || vmp__testing_syscall_set(name, w->wrap) != 0)
      fuzz_fail("cannot replace syscall table entry \"%s\"", name);
  }
}

void inject_arm(long n, inject_mode mode, int err) {
  plan.countdown = n;
  plan.mode = mode;
  plan.err = err;
  plan.fired = 0;
}

int inject_disarm(void) {
  plan.countdown = 0;
  int fired = plan.fired;
  plan.fired = 0;
  return fired;
}
