/*
 * The seam between the shared POSIX code (unix.c) and the two POSIX-family
 * backends (linux.c, posix.c). unix.c implements the whole OS contract with
 * POSIX calls; a backend file supplies the few pieces that differ.
 */
#ifndef VMP_OS_UNIX_H
#define VMP_OS_UNIX_H

#include <stddef.h>
#include <stdint.h>

#include "os.h"
#include "syscalls.h"

/* ---- supplied by the backend file ---- */

/* The backend's name and the capabilities that differ between POSIX
 * backends (unix.c fills in the sizes and what every POSIX system has). */
extern const vmp__os_caps vmp__unix_backend_caps;
/* The backend's own system calls (beyond unix.c's), for the testing hooks. */
extern const vmp__syscall_table vmp__unix_backend_syscalls;
/* The mmap flag that makes the kernel refuse a taken range
 * (MAP_FIXED_NOREPLACE), or 0 where only a hint can be given. Either way
 * unix.c checks the address it got: kernels that do not know the flag
 * take it for a hint. */
extern const int vmp__unix_noreplace_flag;

/* The first gap of free address space that ends after `from`, as
 * [*lo, *hi) (*lo may lie below `from`), read from the process's map of
 * itself. 0, VMP_EADDRINUSE when there is none, VMP_ENOTSUP where there is
 * no map to read (then unix.c tries aligned addresses one by one). */
int vmp__unix_find_gap(uintptr_t from, uintptr_t *lo, uintptr_t *hi);

/* Creates anonymous shared memory the backend's best way. Returns the fd,
 * VMP_ENOTSUP to make unix.c fall back to shm_open and then a temporary
 * file, or another negative error that is final. */
int vmp__unix_anon_create(uint64_t size, const char *name, unsigned how, unsigned *traits);

/* A second chance before the portable temporary file: a file with no name
 * at all (O_TMPFILE). Same returns as vmp__unix_anon_create. */
int vmp__unix_anon_unnamed_file(const char *dir, uint64_t size, unsigned *traits);

/* VMP__OBJ_NO_SHRINK when the fd can never shrink, else 0. */
unsigned vmp__unix_sealed_traits(int fd);

/* Private pages [addr, addr+size), all with protection prot, read as zero
 * afterwards and their memory goes back to the system. */
int vmp__unix_discard(void *addr, size_t size, int prot);

/* The ring primitives of os.h that differ between Linux and plain POSIX
 * (seals, huge pages, MADV_DONTFORK, futex) are the backend file's own:
 * vmp__os_object_seal_size, vmp__os_object_size_sealed,
 * vmp__os_huge_page_size, vmp__os_object_create_huge, vmp__os_no_inherit,
 * vmp__os_wait, vmp__os_wake_all. */

/* A sleeping poll for vmp__os_wait where the system has nothing better:
 * looks at *word with a backoff from 1 us up to 1 ms. */
int vmp__unix_poll_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);

/* What ENOMEM from a system call means: VMP_EMAPLIMIT when the process
 * holds (nearly) as many kernel mappings as it may, else VMP_ENOMEM. */
int vmp__unix_enomem_cause(void);

/* The budget's fields only the backend knows (mapping limit and count,
 * overcommit, memfd, huge pages); unix.c fills the POSIX ones. */
void vmp__unix_budget(struct vmp_budget *out);

/* Names private pages [addr, addr+size) in the process's map (Linux
 * PR_SET_VMA_ANON_NAME), or does nothing where the kernel cannot. */
int vmp__unix_label_private(void *addr, size_t size, const char *name);

/* ---- supplied by unix.c for the backends ---- */

/* vmp__os_read_memory without a signal: copies n bytes from src to dst
 * through a pipe of its own, so that a page that cannot be read is
 * VMP_EGONE (dst then partly written) instead of SIGBUS. OS errors from
 * making the pipe (-EMFILE at the descriptor limit). */
int vmp__unix_copy_through_pipe(void *dst, const void *src, size_t n);

/* ---- supplied by unix_map_anonymous.c ---- */

/* MAP_ANONYMOUS. It is POSIX.1-2024, and C libraries show it to a strict
 * POSIX.1-2008 program only with their own extensions on (glibc's
 * _DEFAULT_SOURCE, macOS's _DARWIN_C_SOURCE): one small file compiled with
 * them hands it over, so that unix.c and posix.c can be compiled as strict
 * POSIX.1-2008. */
extern const int vmp__unix_map_anonymous;

/* ---- supplied by unix.c to the backend file ---- */

/* Whether an errno from creating an object means "this way is not
 * available here" (a fallback may follow) rather than a real failure
 * (EMFILE, ENOMEM, ENOSPC) that a fallback would only hide. */
int vmp__unix_refused(int errnum);

/* -errno as a library code (ENOMEM becomes VMP_ENOMEM, or VMP_EMAPLIMIT
 * when the backend finds the mapping limit behind it). */
int vmp__unix_error(int errnum);

/* A placeholder over [addr, addr+size), which the region owns. */
int vmp__unix_placeholder(void *addr, size_t size);

/* Native protection bits for a library protection. */
int vmp__unix_prot(int prot);

/* fcntl and open through unix.c's table (F_ADD_SEALS, O_TMPFILE, ...). */
int vmp__unix_fcntl(int fd, int cmd, int arg);
int vmp__unix_open(const char *path, int flags, int mode);
void vmp__unix_close_quietly(int fd);

/* Replaces [addr, addr+size), inside a private span the region owns, with
 * fresh zeroed private pages of protection prot (one mmap). */
int vmp__unix_fresh_private(void *addr, size_t size, int prot);

/* Sizes a fresh anonymous object; on failure closes it. Returns fd or error. */
int vmp__unix_size_new_object(int fd, uint64_t size);

#endif
