/*
 * The generic POSIX backend: unix.c with nothing beyond POSIX. This is what
 * macOS and the BSDs get; on Linux it is built and tested with
 * `cmake -DVMP_BACKEND=posix`.
 *
 * What it gives up against the Linux backend: anonymous objects come from
 * shm_open (name removed at once) or an unlinked mkstemp file, so for two
 * system calls a name exists and the object cannot be sealed against
 * shrinking; placeholders are plain PROT_NONE mappings; discard maps fresh
 * pages over the range instead of MADV_DONTNEED, because POSIX_MADV_DONTNEED
 * is only advice and need not zero anything (over pages of several
 * protections the core asks once per run, so fresh pages get each run's own);
 * the fault-safe copy of the views goes through a pipe (unix.c), a few
 * system calls a read where Linux makes one.
 */
/* The build compiles this file, unix.c and the core as strict POSIX.1-2008
 * so that anything beyond POSIX fails to compile: keep it that way. */
#if defined(_GNU_SOURCE) || defined(_DEFAULT_SOURCE) || !defined(_POSIX_C_SOURCE)
#error "posix.c must be compiled with _POSIX_C_SOURCE=200809L and no _GNU_SOURCE or _DEFAULT_SOURCE"
#endif

#include <pthread.h>

#include "unix.h"
#include "vmplace.h"

/* ---- locks --------------------------------------------------------------------- */

_Static_assert(sizeof(pthread_mutex_t) <= sizeof(vmp__os_lock), "lock storage too small");

int vmp__os_lock_init(vmp__os_lock *l) {
  int rc = pthread_mutex_init((pthread_mutex_t *)l, NULL);
  return rc ? vmp__unix_error(rc) : 0;
}
void vmp__os_lock_destroy(vmp__os_lock *l) { pthread_mutex_destroy((pthread_mutex_t *)l); }
void vmp__os_lock_acquire(vmp__os_lock *l) { pthread_mutex_lock((pthread_mutex_t *)l); }
void vmp__os_lock_release(vmp__os_lock *l) { pthread_mutex_unlock((pthread_mutex_t *)l); }

/* What unix.c gives every POSIX system; the views' copy is checked by
 * write() into a pipe, which reports EFAULT (unix.c). */
const vmp__os_caps vmp__unix_backend_caps = {.backend = "posix", .fault_safe_copy = 1};
/* POSIX has only the hint: unix.c checks the address it got. */
const int vmp__unix_noreplace_flag = 0;

/* POSIX has no names for anonymous memory. */
int vmp__unix_label_private(void *addr, size_t size, const char *name) {
  (void)addr, (void)size, (void)name;
  return 0;
}

/* Nothing beyond getrlimit and statvfs, which unix.c asks. */
void vmp__unix_budget(struct vmp_budget *out) { (void)out; }

/* POSIX names no mapping limit: ENOMEM is all that can be said. */
int vmp__unix_enomem_cause(void) { return VMP_ENOMEM; }

/* No portable way to read the process's map: the window search tries
 * aligned addresses one by one. */
int vmp__unix_find_gap(uintptr_t from, uintptr_t *lo, uintptr_t *hi) {
  (void)from, (void)lo, (void)hi;
  return VMP_ENOTSUP;
}

/* Every call this backend makes is one of unix.c's. */
const vmp__syscall_table vmp__unix_backend_syscalls = {0, NULL, NULL, NULL};

int vmp__unix_anon_create(uint64_t size, const char *name, unsigned how, unsigned *traits) {
  (void)size, (void)name, (void)how, (void)traits;
  return VMP_ENOTSUP;
}

int vmp__unix_anon_unnamed_file(const char *dir, uint64_t size, unsigned *traits) {
  (void)dir, (void)size, (void)traits;
  return VMP_ENOTSUP;
}

unsigned vmp__unix_sealed_traits(int fd) {
  (void)fd;
  return 0;
}

/* Fresh pages come with one protection: pages of several are left to the
 * core, which asks again run by run. */
int vmp__unix_discard(void *addr, size_t size, int prot) {
  if (prot == VMP__PROT_MIXED) return VMP_ENOTSUP;
  return vmp__unix_fresh_private(addr, size, prot);
}

/* ---- rings: what plain POSIX lacks ---------------------------------------------- */

int vmp__os_object_seal_size(vmp__os_handle h) {
  (void)h;
  return VMP_ENOTSUP;
}

int vmp__os_object_size_sealed(vmp__os_handle h) {
  (void)h;
  return VMP_ENOTSUP;
}

int vmp__os_huge_page_size(uint64_t bytes, size_t *size) {
  (void)bytes, (void)size;
  return VMP_ENOTSUP;
}

int vmp__os_object_create_huge(uint64_t size, vmp__os_handle *out, unsigned *traits) {
  (void)size, (void)out, (void)traits;
  return VMP_ENOTSUP;
}

int vmp__os_advise_huge(void *addr, size_t size) {
  (void)addr, (void)size;
  return 0;
}

int vmp__os_no_inherit(void *addr, size_t size) {
  (void)addr, (void)size;
  return VMP_ENOTSUP;
}

int vmp__os_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns) {
  return vmp__unix_poll_wait(word, expected, timeout_ns);
}

/* Pollers look by themselves. */
void vmp__os_wake_all(_Atomic uint32_t *word) { (void)word; }

/* POSIX has no asymmetric barrier: publishers fence. */
int vmp__os_remote_barrier_ready(void) { return 0; }
int vmp__os_remote_barrier(void) { return VMP_ENOTSUP; }

/* POSIX has no call that copies memory and reports a fault instead of
 * raising it, but write() reports one in the buffer it is given: the bytes
 * go through a pipe (unix.c). */
int vmp__os_read_memory(void *dst, const void *src, size_t n) {
  return vmp__unix_copy_through_pipe(dst, src, n);
}
