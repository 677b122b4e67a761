/*
 * The OS contract on POSIX systems: mmap over the library's own PROT_NONE
 * reservation, mprotect, shared memory and files. Shared by the Linux and
 * the generic POSIX backends; what differs is in linux.c / posix.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "../internal.h"
#include "unix.h"
#include "vmplace.h"

#define UNIX_SYSCALLS(X)                                  \
  X(mmap, void *, (void *, size_t, int, int, int, off_t)) \
  X(munmap, int, (void *, size_t))                        \
  X(mprotect, int, (void *, size_t, int))                 \
  X(msync, int, (void *, size_t, int))                    \
  X(open, int, (const char *, int, ...))                  \
  X(close, int, (int))                                    \
  X(fstat, int, (int, struct stat *))                     \
  X(stat, int, (const char *, struct stat *))             \
  X(getrlimit, int, (int, struct rlimit *))               \
  X(ftruncate, int, (int, off_t))                         \
  X(posix_fallocate, int, (int, off_t, off_t))            \
  X(fcntl, int, (int, int, ...))                          \
  X(shm_open, int, (const char *, int, mode_t))           \
  X(shm_unlink, int, (const char *))                      \
  X(mkstemp, int, (char *))                               \
  X(unlink, int, (const char *))                          \
  X(read, ssize_t, (int, void *, size_t))                 \
  X(write, ssize_t, (int, const void *, size_t))          \
  X(pipe, int, (int[2]))

VMP__DEFINE_SYSCALLS(UNIX_SYSCALLS, unix_syscalls)
#define SYS(name) VMP__SYSCALL(unix_syscalls, name)

/* claim_from's "this start did not work, go on from *next": never
 * returned by the backend. */
#define VMP_EAGAIN_GAP 1

const vmp__syscall_table *const vmp__os_syscall_tables[] = {&unix_syscalls,
                                                            &vmp__unix_backend_syscalls, NULL};

/* ---- capabilities --------------------------------------------------------- */

static vmp__os_caps caps;
static pthread_once_t caps_once = PTHREAD_ONCE_INIT;

static void probe_caps(void) {
  long page = sysconf(_SC_PAGESIZE);
  caps = vmp__unix_backend_caps;
  caps.page_size = page > 0 ? (size_t)page : 4096;
  caps.granularity = caps.page_size;
  caps.view_offset_unit = caps.page_size;
  caps.anon_resizable = 1;
  caps.mapped_files_shrink = 1;
  caps.place_exact_checked = vmp__unix_noreplace_flag != 0;
  caps.place_window_by_system = 0;
  uintptr_t lo, hi;
  caps.place_window_gap_list = vmp__unix_find_gap(0, &lo, &hi) != VMP_ENOTSUP;
}

const vmp__os_caps *vmp__os_caps_get(void) {
  pthread_once(&caps_once, probe_caps);
  return &caps;
}

/* ---- errors ------------------------------------------------------------------ */

int vmp__unix_refused(int errnum) {
  return errnum == ENOSYS || errnum == EPERM || errnum == EACCES || errnum == EINVAL ||
         errnum == EOPNOTSUPP || errnum == EISDIR || errnum == ENOENT;
}

int vmp__unix_error(int errnum) {
  if (errnum == ENOMEM) return vmp__unix_enomem_cause();
  return errnum > 0 ? -errnum : -EIO;
}

/* Laid out by hand: clang-format cannot settle on a layout for a list of
 * calls without separators. */
/* clang-format off */
#define UNIX_ERRNO_NAMES(X)                                                   \
  X(EPERM) X(ENOENT) X(ESRCH) X(EINTR) X(EIO) X(ENXIO) X(E2BIG) X(ENOEXEC)     \
  X(EBADF) X(ECHILD) X(EAGAIN) X(ENOMEM) X(EACCES) X(EFAULT) X(EBUSY)          \
  X(EEXIST) X(EXDEV) X(ENODEV) X(ENOTDIR) X(EISDIR) X(EINVAL) X(ENFILE)        \
  X(EMFILE) X(ENOTTY) X(ETXTBSY) X(EFBIG) X(ENOSPC) X(ESPIPE) X(EROFS)         \
  X(EMLINK) X(EPIPE) X(EDOM) X(ERANGE) X(EDEADLK) X(ENAMETOOLONG) X(ENOLCK)    \
  X(ENOSYS) X(ENOTEMPTY) X(ELOOP) X(EOVERFLOW) X(ENOTSUP) X(ETIMEDOUT)         \
  X(ECONNRESET) X(EDQUOT) X(ESTALE)
/* clang-format on */

const char *vmp__os_error_name(int native) {
  switch (native) {
#define UNIX_ERRNO_CASE(name) \
  case name:                  \
    return VMP__OS_ERROR_PREFIX #name;
    UNIX_ERRNO_NAMES(UNIX_ERRNO_CASE)
#undef UNIX_ERRNO_CASE
    default:
      return NULL;
  }
}

const char *vmp__os_error_message(int native) {
  /* strerror's text for a known errno is a static string; only unknown
   * numbers get a per-thread buffer, which we avoid. */
  if (!vmp__os_error_name(native)) return "unknown system error";
  return strerror(native);
}

/* The locks are the backend file's own (linux.c, posix.c). */

/* ---- fork ---------------------------------------------------------------------- */

static pthread_once_t core_once = PTHREAD_ONCE_INIT;
void vmp__os_run_once(void (*init)(void)) { pthread_once(&core_once, init); }

int vmp__os_at_fork(void (*prepare)(void), void (*parent)(void), void (*child)(void)) {
  int rc = pthread_atfork(prepare, parent, child);
  return rc ? vmp__unix_error(rc) : 0;
}

/* ---- address space ------------------------------------------------------------------ */

VMP__HOT int vmp__unix_prot(int prot) {
  int native = PROT_NONE;
  if (prot & VMP_PROT_READ) native |= PROT_READ;
  if (prot & VMP_PROT_WRITE) native |= PROT_WRITE;
  if (prot & VMP_PROT_EXEC) native |= PROT_EXEC;
  return native;
}

static int placeholder_mmap_flags(void) { return MAP_PRIVATE | vmp__unix_map_anonymous; }

VMP__HOT int vmp__unix_placeholder(void *addr, size_t size) {
  void *p = SYS(mmap)(addr, size, PROT_NONE, MAP_FIXED | placeholder_mmap_flags(), -1, 0);
  return p == MAP_FAILED ? vmp__unix_error(errno) : 0;
}

int vmp__os_reserve(size_t size, size_t alignment, void **base) {
  size_t page = vmp__os_caps_get()->page_size;
  size_t slack = alignment > page ? alignment - page : 0;
  if (size > SIZE_MAX - slack) return VMP_ENOMEM;
  char *raw = SYS(mmap)(NULL, size + slack, PROT_NONE, placeholder_mmap_flags(), -1, 0);
  if (raw == MAP_FAILED) return vmp__unix_error(errno);
  if (slack == 0) {
    *base = raw;
    return 0;
  }
  /* Over-reserve, then give back the unaligned head and tail: the two
   * trims only ever unmap what this call itself just mapped. */
  char *aligned = (char *)(((uintptr_t)raw + alignment - 1) & ~(uintptr_t)(alignment - 1));
  size_t head = (size_t)(aligned - raw), tail = slack - head;
  int err;
  if (head && SYS(munmap)(raw, head) != 0) {
    err = vmp__unix_error(errno);
    SYS(munmap)(raw, size + slack);
    return err;
  }
  if (tail && SYS(munmap)(aligned + size, tail) != 0) {
    err = vmp__unix_error(errno);
    SYS(munmap)(aligned, size + tail);
    return err;
  }
  *base = aligned;
  return 0;
}

/* A placeholder exactly at addr or nothing. A kernel that took the
 * address for a hint and placed the mapping elsewhere did so because the
 * range (or part of it) is taken: what it gave is this call's own, and
 * only that is unmapped. */
int vmp__os_reserve_at(void *addr, size_t size) {
  int flags = placeholder_mmap_flags() | vmp__unix_noreplace_flag;
  void *p = SYS(mmap)(addr, size, PROT_NONE, flags, -1, 0);
  if (p == MAP_FAILED) return errno == EEXIST ? VMP_EADDRINUSE : vmp__unix_error(errno);
  if (p == addr) return 0;
  if (SYS(munmap)(p, size) != 0 && SYS(munmap)(p, size) != 0) return vmp__unix_error(errno);
  return VMP_EADDRINUSE;
}

static uintptr_t align_up(uintptr_t value, uintptr_t alignment, int *overflow) {
  uintptr_t mask = alignment - 1;
  if (value > UINTPTR_MAX - mask) {
    *overflow = 1;
    return 0;
  }
  return (value + mask) & ~mask;
}

/* Tries to claim `size` bytes at `at` or, when the backend reads the map
 * of the process, at the lowest aligned start that fits in a free gap at
 * or above it. Sets *next to where a later try should start. */
static int claim_from(uintptr_t at, uintptr_t highest, size_t size, size_t alignment, int *gap_list,
                      uintptr_t *next, void **base) {
  int overflow = 0;
  uintptr_t start = at;
  if (*gap_list) {
    uintptr_t lo, hi;
    int err = vmp__unix_find_gap(at, &lo, &hi);
    if (err == VMP_ENOTSUP) {
      *gap_list = 0;
    } else if (err) {
      return err;
    } else {
      start = align_up(lo > at ? lo : at, alignment, &overflow);
      if (overflow || start >= highest || size > highest - start) return VMP_EADDRINUSE;
      if (start >= hi || size > hi - start) {
        *next = align_up(hi, alignment, &overflow);
        return overflow ? VMP_EADDRINUSE : VMP_EAGAIN_GAP;
      }
    }
  }
  if (start >= highest || size > highest - start) return VMP_EADDRINUSE;
  int err = vmp__os_reserve_at((void *)start, size);
  if (!err) *base = (void *)start;
  /* With a map, a refusal means the gap was taken in between: read it
   * again from the same place. Without one, step to the next address. */
  *next = *gap_list ? start : align_up(start + 1, alignment, &overflow);
  if (err == VMP_EADDRINUSE && overflow) return VMP_EADDRINUSE;
  return err == VMP_EADDRINUSE ? VMP_EAGAIN_GAP : err;
}

/* Gaps taken by another thread between reading the map and claiming them
 * before the search gives up. */
#define RACES_TOLERATED 64

int vmp__os_reserve_in(uintptr_t lowest, uintptr_t highest, size_t size, size_t alignment,
                       void **base) {
  int gap_list = vmp__os_caps_get()->place_window_gap_list, overflow = 0, races = 0;
  uintptr_t at = align_up(lowest, alignment, &overflow);
  if (overflow) return VMP_EADDRINUSE;
  for (;;) {
    uintptr_t next = at;
    int err = claim_from(at, highest, size, alignment, &gap_list, &next, base);
    if (err != VMP_EAGAIN_GAP) return err;
    if (gap_list && next == at && ++races > RACES_TOLERATED) return VMP_EADDRINUSE;
    at = next;
  }
}

int vmp__os_release(void *base, size_t size) {
  return SYS(munmap)(base, size) == 0 ? 0 : vmp__unix_error(errno);
}

/* Placeholders are bookkeeping here: one kernel mapping serves any number
 * of them. */
VMP__HOT int vmp__os_split(void *ph, size_t ph_size, void *addr, size_t size) {
  (void)ph, (void)ph_size, (void)addr, (void)size;
  return 0;
}
VMP__HOT int vmp__os_coalesce(void *addr, size_t size) {
  (void)addr, (void)size;
  return 0;
}

/* POSIX lets a failed MAP_FIXED leave the old mapping torn down, and some
 * kernels do: that would be a hole anyone could map into. Put the
 * placeholder back; over an intact placeholder this changes nothing. */
VMP__HOT static int replace_placeholder(void *addr, size_t size, int prot, int flags, int fd,
                                        off_t offset) {
  void *p = SYS(mmap)(addr, size, prot, MAP_FIXED | flags, fd, offset);
  if (p != MAP_FAILED) return 0;
  int err = vmp__unix_error(errno);
  vmp__unix_placeholder(addr, size);
  return err;
}

/* Every placeholder is a fresh PROT_NONE private anonymous mapping that
 * no access was ever allowed in (made by vmp__unix_placeholder or a
 * reservation; split and coalesce are bookkeeping), so raising its
 * protection gives zero-filled private memory, as a new mapping would, and
 * the kernel charges it as it would charge one (placeholders carry no
 * MAP_NORESERVE). mprotect does that without tearing the old mapping down
 * and building another: a commit + unmap pair on Linux measured 3-5%
 * cheaper in a small region and 10-15% at 10^6 spans (bench/README.md,
 * the commit_unmap_16p lines).
 *
 * Executable memory still gets a new mapping: hardened kernels (PaX
 * MPROTECT) refuse to make an existing mapping executable where they let
 * one be mapped so. POSIX lets a failed mprotect have changed some of the
 * pages, so a failure puts the whole placeholder back. */
VMP__HOT int vmp__os_commit(void *addr, size_t size, int prot) {
  if (prot & VMP_PROT_EXEC)
    return replace_placeholder(addr, size, vmp__unix_prot(prot),
                               MAP_PRIVATE | vmp__unix_map_anonymous, -1, 0);
  if (SYS(mprotect)(addr, size, vmp__unix_prot(prot)) == 0) return 0;
  int err = vmp__unix_error(errno);
  vmp__undo(vmp__unix_placeholder(addr, size));
  return err;
}

VMP__HOT int vmp__os_map(void *addr, size_t size, vmp__os_handle h, uint64_t offset, int prot) {
  if (offset > (uint64_t)LLONG_MAX) return VMP_EBOUNDS;
  return replace_placeholder(addr, size, vmp__unix_prot(prot), MAP_SHARED, (int)h, (off_t)offset);
}

/* Whether every page of [addr, addr+size) still has a mapping: msync
 * reports ENOMEM for a range with unmapped pages (POSIX), and MS_ASYNC
 * writes nothing back. Used only after a failed MAP_FIXED, to tell a
 * refusal (old mapping intact) from a destructive failure (a hole). */
static int still_mapped(void *addr, size_t size) {
  return SYS(msync)(addr, size, MS_ASYNC) == 0 || errno != ENOMEM;
}

/* Discard asked for zero pages: after a destructive failure one more try
 * gives exactly that, so the call succeeds. If that fails as well, a
 * placeholder at least closes the hole (the pages then fault until the
 * span is unmapped; the error is reported). */
int vmp__unix_fresh_private(void *addr, size_t size, int prot) {
  int native = vmp__unix_prot(prot), flags = MAP_FIXED | MAP_PRIVATE | vmp__unix_map_anonymous;
  if (SYS(mmap)(addr, size, native, flags, -1, 0) != MAP_FAILED) return 0;
  int err = vmp__unix_error(errno);
  if (still_mapped(addr, size)) return err;
  if (SYS(mmap)(addr, size, native, flags, -1, 0) != MAP_FAILED) return 0;
  vmp__unix_placeholder(addr, size);
  return err;
}

/* A refused placeholder mmap leaves the view as it was. A destructive one
 * is undone by mapping the same object range again (shared pages: the
 * content is the object's, nothing is lost); if even that fails, the
 * unmap is completed instead so that no hole remains, and it succeeds. */
VMP__HOT int vmp__os_unmap_view(void *addr, size_t size, vmp__os_handle h, uint64_t offset,
                                int prot) {
  int err = vmp__unix_placeholder(addr, size);
  if (!err || still_mapped(addr, size)) return err;
  if (SYS(mmap)(addr, size, vmp__unix_prot(prot), MAP_FIXED | MAP_SHARED, (int)h, (off_t)offset) !=
      MAP_FAILED)
    return err;
  return vmp__unix_placeholder(addr, size) == 0 ? 0 : err;
}

/* Private data destroyed by a failed placeholder mmap cannot be brought
 * back, so the unmap is completed: a second try succeeds where the first
 * only failed after tearing the pages down, and then the call reports
 * what it promised. Only if that fails too does an error come back over a
 * hole (vmp_unmap documents it). */
VMP__HOT int vmp__os_unmap_private(void *span, size_t span_size, void *addr, size_t size) {
  (void)span, (void)span_size;
  int err = vmp__unix_placeholder(addr, size);
  if (!err || still_mapped(addr, size)) return err;
  return vmp__unix_placeholder(addr, size) == 0 ? 0 : err;
}

int vmp__os_protect(void *addr, size_t size, int prot) {
  return SYS(mprotect)(addr, size, vmp__unix_prot(prot)) == 0 ? 0 : vmp__unix_error(errno);
}

int vmp__os_label_private(void *addr, size_t size, const char *name) {
  return vmp__unix_label_private(addr, size, name);
}

int vmp__os_discard(void *addr, size_t size, int prot) {
  return vmp__unix_discard(addr, size, prot);
}

/* ---- memory objects ----------------------------------------------------------------- */

void vmp__unix_close_quietly(int fd) {
  int saved = errno;
  SYS(close)(fd);
  errno = saved;
}
#define close_quietly vmp__unix_close_quietly

int vmp__unix_fcntl(int fd, int cmd, int arg) { return SYS(fcntl)(fd, cmd, arg); }
int vmp__unix_open(const char *path, int flags, int mode) {
  return SYS(open)(path, flags, (mode_t)mode);
}

/* A size past RLIMIT_FSIZE would make ftruncate raise SIGXFSZ, whose
 * default action kills the caller: the library refuses it beforehand
 * (-EFBIG, what ftruncate returns when the signal is ignored) instead of
 * touching the process's signal dispositions. */
static int check_size_limit(uint64_t size) {
  struct rlimit lim;
  if (SYS(getrlimit)(RLIMIT_FSIZE, &lim) != 0) return vmp__unix_error(errno);
  if (lim.rlim_cur != RLIM_INFINITY && size > (uint64_t)lim.rlim_cur) return -EFBIG;
  return 0;
}

int vmp__unix_size_new_object(int fd, uint64_t size) {
  if (size > (uint64_t)LLONG_MAX) {
    close_quietly(fd);
    return VMP_ENOMEM;
  }
  int err = check_size_limit(size);
  if (err) {
    close_quietly(fd);
    return err;
  }
  if (SYS(ftruncate)(fd, (off_t)size) != 0) {
    err = vmp__unix_error(errno);
    close_quietly(fd);
    return err;
  }
  return fd;
}

static int set_cloexec(int fd) {
  int flags = SYS(fcntl)(fd, F_GETFD);
  if (flags < 0 || SYS(fcntl)(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
    int err = vmp__unix_error(errno);
    close_quietly(fd);
    return err;
  }
  return fd;
}

static void unique_suffix(char *buf, size_t len) {
  static _Atomic unsigned long counter;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  unsigned long n = atomic_fetch_add(&counter, 1);
  snprintf(buf, len, "%ld-%lu-%lx", (long)getpid(), n,
           (unsigned long)ts.tv_nsec ^ ((unsigned long)ts.tv_sec << 20));
}

/* The name of an object we just created exclusively must go, or it would
 * outlive the process: a failed removal is tried once more before the
 * object is given up (and the error returned). */
static int remove_name(int (*remove)(const char *), const char *name) {
  if (remove(name) == 0) return 0;
  int first_errno = errno;
  if (remove(name) == 0 || errno == ENOENT) return 0;
  errno = first_errno;
  return -1;
}

/* shm_open with the name removed at once: the name exists for two system
 * calls, and only under an unguessable, exclusive name. */
static int anon_shm(uint64_t size) {
  char name[96], suffix[64];
  unique_suffix(suffix, sizeof suffix);
  snprintf(name, sizeof name, "/vmplace-%s", suffix);
  int fd = SYS(shm_open)(name, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return vmp__unix_refused(errno) ? VMP_ENOTSUP : vmp__unix_error(errno);
  if (remove_name(SYS(shm_unlink), name) != 0) {
    int err = vmp__unix_error(errno);
    close_quietly(fd);
    return err;
  }
  fd = set_cloexec(fd);
  return fd < 0 ? fd : vmp__unix_size_new_object(fd, size);
}

static const char *temp_dir(void) {
  const char *dir = getenv("TMPDIR");
  return (dir && *dir) ? dir : "/tmp";
}

static int anon_temp_file(uint64_t size, unsigned *traits) {
  const char *dir = temp_dir();
  int fd = vmp__unix_anon_unnamed_file(dir, size, traits);
  if (fd != VMP_ENOTSUP) return fd;
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/vmplace-XXXXXX", dir) >= (int)sizeof path)
    return -ENAMETOOLONG;
  fd = SYS(mkstemp)(path);
  if (fd < 0) return vmp__unix_error(errno);
  if (remove_name(SYS(unlink), path) != 0) {
    int err = vmp__unix_error(errno);
    close_quietly(fd);
    return err;
  }
  fd = set_cloexec(fd);
  return fd < 0 ? fd : vmp__unix_size_new_object(fd, size);
}

/* Each fallback is remembered once it has been refused, so later objects
 * go straight to what works. */
static _Atomic int anon_method; /* 0 backend's own, 1 shm, 2 temporary file */

int vmp__os_object_create(uint64_t size, vmp__os_handle *out, unsigned *traits) {
  return vmp__os_object_create_named(size, "vmplace", 0, out, traits);
}

int vmp__os_object_create_named(uint64_t size, const char *name, unsigned how, vmp__os_handle *out,
                                unsigned *traits) {
  int method = atomic_load_explicit(&anon_method, memory_order_relaxed);
  int fd = VMP_ENOTSUP;
  *traits = 0;
  if (method == 0) {
    fd = vmp__unix_anon_create(size, name, how, traits);
    if (fd == VMP_ENOTSUP) atomic_store(&anon_method, method = 1);
  }
  if (method > 0 && (how & VMP__CREATE_NO_FALLBACK)) return VMP_ENOTSUP;
  if (method > 0) *traits = VMP__OBJ_FELL_BACK;
  if (method == 1) {
    fd = anon_shm(size);
    if (fd >= 0) *traits |= VMP__OBJ_BACKING(VMP_BACKING_SHM);
    if (fd == VMP_ENOTSUP) atomic_store(&anon_method, method = 2);
  }
  if (method == 2) {
    unsigned file_traits = 0;
    fd = anon_temp_file(size, &file_traits);
    *traits |= file_traits | VMP__OBJ_BACKING(VMP_BACKING_TEMP_FILE);
  }
  if (fd < 0) return fd;
  /* The blocks now, so that a full tmpfs or disk is ENOSPC here and not a
   * SIGBUS at the first touch of a view. posix_fallocate returns the
   * error instead of setting errno. */
  if (how & VMP__CREATE_PREALLOCATE) {
    int rc = size ? SYS(posix_fallocate)(fd, 0, (off_t)size) : 0;
    if (rc) {
      close_quietly(fd);
      return vmp__unix_error(rc);
    }
  }
  *out = fd;
  return 0;
}

static int check_mappable(int fd, unsigned *traits) {
  struct stat st;
  if (SYS(fstat)(fd, &st) != 0) return vmp__unix_error(errno);
  if (!S_ISREG(st.st_mode)) return VMP_EINVAL;
  *traits = vmp__unix_sealed_traits(fd);
  return 0;
}

/* Opening a FIFO blocks until a peer appears, and opening a device can
 * act on it (a tape rewinds, a terminal hangs up): anything but a regular
 * file is refused by stat before it is opened. The open itself is
 * O_NONBLOCK in case the path was swapped for such a file in between; the
 * fstat that follows then refuses it. */
int vmp__os_object_open(const char *path, int writable, vmp__os_handle *out, unsigned *traits) {
  struct stat st;
  if (SYS(stat)(path, &st) != 0) return vmp__unix_error(errno);
  if (!S_ISREG(st.st_mode)) return VMP_EINVAL;
  int fd = SYS(open)(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return errno == EISDIR ? VMP_EINVAL : vmp__unix_error(errno);
  int err = check_mappable(fd, traits);
  *traits |= VMP__OBJ_BACKING(VMP_BACKING_FILE);
  if (!err) {
    /* Back to blocking, as a regular file's descriptor is expected to be
     * by whoever it is handed to (vmp_mem_fd). */
    int flags = SYS(fcntl)(fd, F_GETFL);
    if (flags < 0 || SYS(fcntl)(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) err = vmp__unix_error(errno);
  }
  if (err) {
    close_quietly(fd);
    return err;
  }
  *out = fd;
  return 0;
}

int vmp__os_object_adopt(intptr_t native, int want_write, int *writable, unsigned *traits,
                         vmp__os_handle *out) {
  if (native < 0 || native > INT_MAX) return VMP_EINVAL;
  int flags = SYS(fcntl)((int)native, F_GETFL);
  if (flags < 0) return errno == EBADF ? VMP_EINVAL : vmp__unix_error(errno);
  if ((flags & O_ACCMODE) == O_WRONLY) return VMP_EACCES;
  int err = check_mappable((int)native, traits);
  if (err) return err;
  *traits |= VMP__OBJ_BACKING(VMP_BACKING_DESCRIPTOR);
  *writable = (flags & O_ACCMODE) == O_RDWR;
  if (want_write && !*writable) return VMP_EACCES;
  *out = native;
  return 0;
}

intptr_t vmp__os_object_native(vmp__os_handle h) { return h; }

void vmp__os_object_forget(vmp__os_handle h) { (void)h; }

int vmp__os_native_dup(intptr_t native, intptr_t *out) {
  if (native < 0 || native > INT_MAX) return VMP_EINVAL;
  int fd = SYS(fcntl)((int)native, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return errno == EBADF ? VMP_EINVAL : vmp__unix_error(errno);
  *out = fd;
  return 0;
}

void vmp__os_native_close(intptr_t native) { close_quietly((int)native); }

int vmp__os_object_size(vmp__os_handle h, uint64_t *size) {
  struct stat st;
  if (SYS(fstat)((int)h, &st) != 0) return vmp__unix_error(errno);
  *size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
  return 0;
}

int vmp__os_object_grow(vmp__os_handle h, uint64_t new_size) {
  if (new_size > (uint64_t)LLONG_MAX) return VMP_ENOMEM;
  int err = check_size_limit(new_size);
  if (err) return err;
  return SYS(ftruncate)((int)h, (off_t)new_size) == 0 ? 0 : vmp__unix_error(errno);
}

int vmp__os_object_close(vmp__os_handle h) {
  /* After close() fails with EINTR on Linux the descriptor is gone anyway:
   * never retry, it could close someone else's new descriptor. */
  if (SYS(close)((int)h) == 0 || errno == EINTR) return 0;
  return vmp__unix_error(errno);
}

/* ---- the budget ---------------------------------------------------------------------- */

/* What getrlimit() (whose resource parameter has a type of the C
 * library's own under _GNU_SOURCE) gave: the soft limit, or UINT64_MAX
 * for none or unknown. */
static uint64_t soft_limit(int got, const struct rlimit *lim) {
  if (got != 0 || lim->rlim_cur == RLIM_INFINITY) return UINT64_MAX;
  return (uint64_t)lim->rlim_cur;
}

void vmp__os_budget(struct vmp_budget *out) {
  struct rlimit lim;
  out->as_limit = soft_limit(getrlimit(RLIMIT_AS, &lim), &lim);
  out->data_limit = soft_limit(getrlimit(RLIMIT_DATA, &lim), &lim);
  struct statvfs fs;
  if (statvfs("/dev/shm", &fs) == 0) {
    out->shm_size = (int64_t)((uint64_t)fs.f_blocks * fs.f_frsize);
    out->shm_free = (int64_t)((uint64_t)fs.f_bavail * fs.f_frsize);
  }
  vmp__unix_budget(out);
}

/* ---- waiting without a futex ---------------------------------------------------- */

int64_t vmp__os_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int vmp__unix_poll_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns) {
  int64_t deadline = timeout_ns < 0 ? INT64_MAX : vmp__os_monotonic_ns() + timeout_ns;
  int64_t pause_ns = 1000;
  while (atomic_load_explicit(word, memory_order_acquire) == expected) {
    int64_t now = vmp__os_monotonic_ns();
    if (now >= deadline) return VMP_ETIMEDOUT;
    int64_t nap = pause_ns < deadline - now ? pause_ns : deadline - now;
    struct timespec ts = {(time_t)(nap / 1000000000), (long)(nap % 1000000000)};
    nanosleep(&ts, NULL);
    if (pause_ns < 1000000) pause_ns *= 2;
  }
  return 0;
}

void vmp__os_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* ---- descriptor I/O ------------------------------------------------------------ */

/* Counts above SSIZE_MAX are not defined for read and write. */
static size_t io_count(size_t n) { return n > (size_t)SSIZE_MAX ? (size_t)SSIZE_MAX : n; }

int vmp__os_read(intptr_t fd, void *buf, size_t n, size_t *got) {
  ssize_t r = SYS(read)((int)fd, buf, io_count(n));
  if (r < 0) return vmp__unix_error(errno);
  *got = (size_t)r;
  return 0;
}

/* write() to a pipe or socket whose reader is gone raises SIGPIPE, which
 * kills by default. The signal is blocked in this thread for the call and,
 * if the call raised it, taken back out of the pending set, so that the
 * caller sees only EPIPE. Where the caller blocks SIGPIPE itself, one that
 * was already pending before the call is the caller's and stays. */
int vmp__os_write(intptr_t fd, const void *buf, size_t n, size_t *put) {
  sigset_t pipe_only, old, pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  if (pthread_sigmask(SIG_BLOCK, &pipe_only, &old) != 0) return VMP_EINVAL;
  int was_pending = 0;
  if (sigismember(&old, SIGPIPE) && sigpending(&pending) == 0)
    was_pending = sigismember(&pending, SIGPIPE);
  ssize_t r = SYS(write)((int)fd, buf, io_count(n));
  int saved = errno;
  if (r < 0 && saved == EPIPE && !was_pending) {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (r < 0) return vmp__unix_error(saved);
  *put = (size_t)r;
  return 0;
}

int vmp__os_interrupted(int err) { return err == -EINTR; }

/* ---- reading mapped bytes through a pipe ----------------------------------------------- */

/* What one write() hands the pipe at most: a pipe holds at least PIPE_BUF
 * bytes (512 by POSIX, 64 KiB by default on Linux), and the write end is
 * non-blocking, so a larger chunk is only written in part, never waited
 * for. */
#define PIPE_COPY_CHUNK ((size_t)65536)

/* A pipe of this call's own, both ends close-on-exec and non-blocking.
 * POSIX.1-2008 has no pipe2, so the flags come one fcntl at a time: a
 * program that forks and execs from another thread in between may pass
 * the two descriptors on (they are closed here right after the copy). */
static int open_copy_pipe(int fds[2]) {
  if (SYS(pipe)(fds) != 0) return vmp__unix_error(errno);
  for (int i = 0; i < 2; i++) {
    /* FD_CLOEXEC is the only descriptor flag and a new pipe has no status
     * flags but its access mode, which F_SETFL ignores: nothing to read
     * back first. */
    if (SYS(fcntl)(fds[i], F_SETFD, FD_CLOEXEC) < 0 ||
        SYS(fcntl)(fds[i], F_SETFL, O_NONBLOCK) < 0) {
      int err = vmp__unix_error(errno);
      close_quietly(fds[0]);
      close_quietly(fds[1]);
      return err;
    }
  }
  return 0;
}

/* Takes back the `pending` bytes just written into the pipe. They are
 * there already, so a read that finds nothing (EAGAIN) is an error, never
 * a wait. */
static int drain_pipe(int fd, char *to, size_t pending) {
  while (pending > 0) {
    ssize_t got = SYS(read)(fd, to, pending);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return vmp__unix_error(errno);
    if (got == 0) return -EIO; /* cannot happen: this call holds the write end */
    to += got;
    pending -= (size_t)got;
  }
  return 0;
}

/* The kernel reads the source for write(), and a page it cannot bring in
 * (past the end of a truncated file, an I/O error) makes write() fail
 * with EFAULT, or stop short before it, where a load of ours would raise
 * SIGBUS: POSIX names EFAULT for a bad buffer, and Linux, the BSDs and
 * macOS report a fault in one that way. So the bytes go into a pipe chunk
 * by chunk and are read back into dst. */
int vmp__unix_copy_through_pipe(void *dst, const void *src, size_t n) {
  int fds[2];
  int err = open_copy_pipe(fds);
  if (err) return err;
  char *to = dst;
  const char *from = src;
  while (!err && n > 0) {
    ssize_t put = SYS(write)(fds[1], from, n < PIPE_COPY_CHUNK ? n : PIPE_COPY_CHUNK);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) {
      err = errno == EFAULT ? VMP_EGONE : vmp__unix_error(errno);
    } else if (put == 0) {
      err = -EIO; /* a write of at least one byte into an empty pipe */
    } else {
      err = drain_pipe(fds[0], to, (size_t)put);
      to += put, from += put, n -= (size_t)put;
    }
  }
  close_quietly(fds[0]);
  close_quietly(fds[1]);
  return err;
}
