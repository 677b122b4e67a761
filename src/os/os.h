/*
 * The operating-system contract: everything the core asks of the system.
 *
 * One backend implements it (src/os/linux.c + unix.c, src/os/posix.c +
 * unix.c, src/os/windows.c); exactly one is linked. The core has no
 * platform conditionals; everything that differs lives behind this header.
 *
 * Rules every backend keeps
 *   - Return 0 or a negative code: VMP_ENOMEM for "no memory, address space
 *     or mapping slots" (VMP_EMAPLIMIT where the backend can tell the
 *     mapping limit is the cause), VMP_EADDRINUSE for a placement over
 *     taken addresses, VMP_ENOTSUP for a capability the system lacks, or
 *     -native for any other OS error (errno; GetLastError() on Windows).
 *     Translation happens here, never in the core.
 *   - Never place a fixed mapping outside a range that vmp__os_reserve()
 *     returned and vmp__os_release() has not yet given back. The core only
 *     passes ranges inside its regions.
 *   - Each replacing call works on a range the core has already checked:
 *     commit and map receive exactly one whole placeholder; unmap_view one
 *     whole view; unmap_private a range inside one private span; protect a
 *     range inside one private or view span; discard inside one private span.
 *   - A failing call leaves the range as it found it (discard, which
 *     cannot be undone, says below what it may leave, and protect, which
 *     the core repairs): a backend whose
 *     replacing call can leave a hole (a failed MAP_FIXED on old kernels)
 *     puts the placeholder back before returning. Multi-call operations
 *     undo their own earlier steps.
 *   - Thread-safe: the core serialises calls per region, but different
 *     regions call in parallel.
 *   - Every system call goes through a replaceable table, so that tests can
 *     make any one of them fail (see src/testing.h).
 */
#ifndef VMP_OS_H
#define VMP_OS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "vmplace.h"

/* What the backend can do (the public vmp_caps of include/vmplace.h, so
 * that the table there and the backends cannot drift apart), probed once
 * at first use and then constant. A backend claims only what the system
 * itself does, never what its own bookkeeping makes look so. */
typedef vmp_caps vmp__os_caps;

/* Never NULL. The first call probes; later calls return the same data. */
const vmp__os_caps *vmp__os_caps_get(void);

/* ---- memory objects -------------------------------------------------- */

/* The backend's handle of a memory object: the fd itself on POSIX; on
 * Windows a record holding the file and section HANDLEs. */
typedef intptr_t vmp__os_handle;

/* Traits reported by the backend for an object it created or adopted. */
#define VMP__OBJ_NO_SHRINK 0x1 /* the size can never go down (sealed) */
#define VMP__OBJ_HUGE 0x2      /* backed by huge pages */
#define VMP__OBJ_EXEC 0x4      /* created exec-capable on purpose (MFD_EXEC) */
#define VMP__OBJ_FELL_BACK 0x8 /* the backend's own way was refused: a fallback was taken */
#define VMP__OBJ_NOEXEC 0x10   /* sealed against exec (MFD_NOEXEC_SEAL): no view may run */
#define VMP__OBJ_THP 0x20      /* ordinary pages: views ask for transparent huge pages */
/* Which backing was obtained: one of vmp_backing's values, in bits 8-15. */
#define VMP__OBJ_BACKING(kind) ((unsigned)(kind) << 8)
#define VMP__OBJ_BACKING_OF(traits) (((traits) >> 8) & 0xffu)

/* How vmp__os_object_create_named may make the object. */
#define VMP__CREATE_NO_FALLBACK 0x1 /* only the backend's own way: no shm_open, no file */
#define VMP__CREATE_EXEC                                  \
  0x2 /* views will be executable (MFD_EXEC where known); \
         without it Linux seals the object against exec */
#define VMP__CREATE_PREALLOCATE                     \
  0x4 /* reserve the backing store now: a full file \
         system is an error here, never SIGBUS later */

/* Anonymous shared memory of `size` bytes, zero-filled, read-write.
 * Nothing named survives the call, even if the process dies during it. */
int vmp__os_object_create(uint64_t size, vmp__os_handle *out, unsigned *traits);

/* The same, with a name that shows in the process's map where the object
 * is a memfd (/memfd:NAME on Linux); the fallbacks and Windows ignore it.
 * name is at most VMP__NAME_MAX bytes. */
int vmp__os_object_create_named(uint64_t size, const char *name, unsigned how, vmp__os_handle *out,
                                unsigned *traits);
#define VMP__NAME_MAX 79

/* Opens a regular file; `writable` selects read-write. Not created. */
int vmp__os_object_open(const char *path, int writable, vmp__os_handle *out, unsigned *traits);

/* Adopts a native descriptor or HANDLE offered by the caller: whether views
 * may write (from how it was opened), the traits, and the backend's handle
 * (which owns the native one from now on). VMP_EINVAL if it cannot be
 * mapped, VMP_EACCES if want_write and it was not opened for writing; on
 * any error the caller keeps the native handle and nothing was made. */
int vmp__os_object_adopt(intptr_t native, int want_write, int *writable, unsigned *traits,
                         vmp__os_handle *out);

/* Undoes a successful vmp__os_object_adopt: the backend's handle goes, the
 * native one is not closed (the caller keeps it). */
void vmp__os_object_forget(vmp__os_handle h);

/* The native descriptor or HANDLE to share with another process. */
intptr_t vmp__os_object_native(vmp__os_handle h);

/* A second native descriptor or HANDLE for the same open file or object
 * (close-on-exec / not inherited), for a caller that keeps its own. */
int vmp__os_native_dup(intptr_t native, intptr_t *out);

/* Closes a native descriptor or HANDLE that no object owns. */
void vmp__os_native_close(intptr_t native);

int vmp__os_object_size(vmp__os_handle h, uint64_t *size);
int vmp__os_object_grow(vmp__os_handle h, uint64_t new_size);
int vmp__os_object_close(vmp__os_handle h);

/* ---- address space ----------------------------------------------------- */

/* Reserves [base, base+size) inaccessible and uncharged, base a multiple of
 * `alignment` (a power of two >= granularity). */
int vmp__os_reserve(size_t size, size_t alignment, void **base);

/* Reserves exactly [addr, addr+size) as vmp__os_reserve does (addr a
 * multiple of the granularity), never replacing anything: VMP_EADDRINUSE,
 * having changed nothing, when any page of it is already mapped or
 * reserved by anyone. Also how a region grows: a reservation made right
 * after a region's end belongs to that region from then on (the core
 * extends its range), and vmp__os_release of the whole range gives both
 * back, on Windows as the several kernel reservations they are. */
int vmp__os_reserve_at(void *addr, size_t size);

/* Reserves `size` bytes at a multiple of `alignment` (a power of two >=
 * granularity) inside [lowest, highest) (multiples of the granularity,
 * size <= highest - lowest), never replacing anything. VMP_EADDRINUSE
 * when no free range of that size and alignment lies in the window, or
 * none could be claimed before others took them (a search that races
 * with other threads' mappings retries a bounded number of times). */
int vmp__os_reserve_in(uintptr_t lowest, uintptr_t highest, size_t size, size_t alignment,
                       void **base);

/* Gives a whole reservation back, whatever it holds. */
int vmp__os_release(void *base, size_t size);

/* Splits placeholder [ph, ph+ph_size) so that [addr, addr+size) is a
 * placeholder of its own. No-op where placeholders are bookkeeping only. */
int vmp__os_split(void *ph, size_t ph_size, void *addr, size_t size);

/* Merges the adjacent placeholders covering [addr, addr+size). Split and
 * coalesce are bookkeeping on every backend (Windows cuts and merges its
 * kernel placeholders only around a span becoming memory, see
 * exact_placeholder in windows.c): vmp_unmap_coalesce merges without this
 * call, after its unmap, where a failure could no longer be undone. */
int vmp__os_coalesce(void *addr, size_t size);

/* Replaces the placeholder [addr, addr+size) with private zeroed memory. */
int vmp__os_commit(void *addr, size_t size, int prot);

/* Replaces the placeholder [addr, addr+size) with a shared view of h. */
int vmp__os_map(void *addr, size_t size, vmp__os_handle h, uint64_t offset, int prot);

/* Turns the whole view [addr, addr+size), a view of h at `offset` made
 * with protection prot, back into a placeholder. Returns 0 with the
 * placeholder in place, or an error with the view in place again: where
 * the system may tear the view down and then fail, the backend maps h at
 * offset with prot again (the core then puts back any other protections
 * of a mixed view), or, failing that, completes the unmap and returns 0.
 * Never a hole, short of both steps failing. */
int vmp__os_unmap_view(void *addr, size_t size, vmp__os_handle h, uint64_t offset, int prot);

/* Turns [addr, addr+size), inside the private span [span, span+span_size),
 * back into a placeholder. Returns 0 with the placeholder in place, or an
 * error with the pages intact. Where the system may destroy the pages and
 * then fail, their data is lost: the backend completes the unmap and
 * returns 0; only if that fails too is an error returned over a hole. */
int vmp__os_unmap_private(void *span, size_t span_size, void *addr, size_t size);

/* Gives every page of [addr, addr+size) protection prot. A system call
 * may fail part-way, having changed some pages first (mprotect out of
 * mapping slots: the pages changed so far split the kernel's mappings):
 * the backend returns the error as it is, without trying to repair, and
 * the core then sets every page of the range back to the protection its
 * bookkeeping records, one call per run of one protection (an undo that
 * fails too is counted, see vmp__undo). So the call need not be atomic;
 * it must only never report success for a range it did not change. */
int vmp__os_protect(void *addr, size_t size, int prot);

/* Names the private pages [addr, addr+size), inside one private span, in
 * the process's map (Linux [anon:NAME]); 0 without doing anything where
 * the system has no such names. The name was checked by the core. */
int vmp__os_label_private(void *addr, size_t size, const char *name);

/* Private pages [addr, addr+size) read as zero afterwards and keep their
 * protections; their memory goes back to the system. `prot` is the pages'
 * one protection, or VMP__PROT_MIXED when they differ. A backend that
 * cannot do mixed pages in one step returns VMP_ENOTSUP for
 * VMP__PROT_MIXED having touched nothing, and the core then calls it once
 * per run of one protection, in address order, stopping at the first
 * error. Unlike the other calls, a failure of such a run may leave pages
 * zeroed (earlier runs, or part of the failing one); it must leave every
 * page with its protection, and the spans are not touched. The one
 * exception is Windows, which decommits and commits again: when the
 * commit fails twice (the system's commit limit reached in between),
 * those pages stay decommitted and fault. */
#define VMP__PROT_MIXED (-1)
/* A discard that fails must leave the pages mapped (with their data, or
 * zeroed: they were being discarded) and never a hole. */
int vmp__os_discard(void *addr, size_t size, int prot);

/* ---- for rings: seals, huge pages, fork, waiting ------------------------ */

/* Seals an anonymous object against any change of its size, for good.
 * VMP_ENOTSUP where objects cannot be sealed. */
int vmp__os_object_seal_size(vmp__os_handle h);

/* 1 when the object's size is sealed against shrinking (so views of it can
 * never fault), 0 when it is not, VMP_ENOTSUP where the system has no
 * seals at all. */
int vmp__os_object_size_sealed(vmp__os_handle h);

/* An asymmetric barrier, for the rings' sleep handshake: after
 * vmp__os_remote_barrier() returns, every thread of every process that
 * vmp__os_remote_barrier_ready() said yes in has executed a full memory
 * barrier, so those threads may publish with plain release stores.
 * _ready registers this process on its first call and remembers the answer
 * (registration survives fork): 1 when the barrier is available, 0 when it
 * is not (no such system call, refused by a sandbox, or a system that has
 * none), in which case publishers must fence. The barrier itself returns 0,
 * or an error when it could not be made (then a wake-up may be missed, and
 * the caller must not sleep long). */
int vmp__os_remote_barrier_ready(void);
int vmp__os_remote_barrier(void);

/* The huge page size, when at least `bytes` of huge pages are free now;
 * VMP_ENOTSUP otherwise (none configured, none free, no such thing). */
int vmp__os_huge_page_size(uint64_t bytes, size_t *size);

/* Anonymous shared memory backed by huge pages (size a multiple of the
 * huge page size), otherwise as vmp__os_object_create. */
int vmp__os_object_create_huge(uint64_t size, vmp__os_handle *out, unsigned *traits);

/* Asks for transparent huge pages behind the view [addr, addr+size)
 * (MADV_HUGEPAGE). Advice: the view works the same without it, so a
 * refusal is not an error; 0 doing nothing where there is no such thing. */
int vmp__os_advise_huge(void *addr, size_t size);

/* Keeps [addr, addr+size) out of children made by fork(). VMP_ENOTSUP where
 * that cannot be done; 0 where processes are never forked (Windows). */
int vmp__os_no_inherit(void *addr, size_t size);

/* Sleeps while *word == expected: until vmp__os_wake_all on the same word
 * (from any process that maps it), a spurious wake-up, or timeout_ns
 * (< 0: no limit). Returns 0, or VMP_ETIMEDOUT. Linux uses a futex (shared,
 * so it works across processes); Windows WaitOnAddress, which a waker in
 * this process ends at once and one in another process cannot reach, so it
 * looks again every millisecond; generic POSIX polls with a sleeping
 * backoff. */
int vmp__os_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);
void vmp__os_wake_all(_Atomic uint32_t *word);

/* Nanoseconds on a clock that never goes back (for timeouts). */
int64_t vmp__os_monotonic_ns(void);

/* Tells the CPU this thread is spinning (x86 PAUSE, Arm YIELD). */
void vmp__os_cpu_relax(void);

/* One read of at most n bytes (n > 0) from a native descriptor (POSIX) or
 * HANDLE (Windows) into buf: *got is what came, 0 at end of file (also a
 * pipe whose writer is gone). Errors are OS errors: an interrupted call
 * gives one that vmp__os_interrupted() recognises (the caller decides
 * whether to go on); a non-blocking descriptor with nothing to read gives
 * EAGAIN (also EWOULDBLOCK), which the caller may treat as "not now". */
int vmp__os_read(intptr_t fd, void *buf, size_t n, size_t *got);

/* One write of at most n bytes (n > 0): *put is what went. Never raises
 * SIGPIPE: writing to a pipe or socket whose reader is gone is the OS
 * error EPIPE (Windows: ERROR_NO_DATA or ERROR_BROKEN_PIPE). EINTR and
 * EAGAIN as for read. */
int vmp__os_write(intptr_t fd, const void *buf, size_t n, size_t *put);

/* Whether an error from vmp__os_read or vmp__os_write says the call was
 * interrupted by a signal (EINTR; never on Windows). */
int vmp__os_interrupted(int err);

/* ---- reading mapped bytes that may be gone ---------------------------------- */

/* Copies n bytes from src (inside a view the core mapped) to dst without
 * letting a page that can no longer be read (its file truncated under the
 * view, an I/O error paging it in) raise a signal or an exception: 0, or
 * VMP_EGONE with dst partly written, or an OS error. Linux asks the
 * kernel to copy (process_vm_readv on this process, which reports EFAULT
 * instead of SIGBUS); the generic POSIX backend, and Linux where a sandbox
 * refuses that call, write() the bytes into a pipe of the call's own and
 * read them back (unix.c: write reports EFAULT too); Windows uses
 * ReadProcessMemory on this process. */
int vmp__os_read_memory(void *dst, const void *src, size_t n);

/* ---- the budget ---------------------------------------------------------- */

struct vmp_budget;

/* Fills in what the system can tell of *out, which the core has set to
 * "unknown" (-1, UINT64_MAX) first. Only reads: nothing to undo, so these
 * reads of /proc and statvfs are not in the syscall table. */
void vmp__os_budget(struct vmp_budget *out);

/* ---- locks --------------------------------------------------------------- */

/* Storage for the backend's lock (a futex word on Linux, a pthread_mutex_t on
 * other POSIX systems, an SRWLOCK on Windows). */
typedef union vmp__os_lock {
  void *align_pointer;
  long double align_float;
  unsigned char bytes[64];
} vmp__os_lock;

int vmp__os_lock_init(vmp__os_lock *l);
void vmp__os_lock_destroy(vmp__os_lock *l);
void vmp__os_lock_acquire(vmp__os_lock *l);
void vmp__os_lock_release(vmp__os_lock *l);

/* ---- fork ---------------------------------------------------------------------- */

/* Runs init exactly once in the process, whichever thread calls first;
 * later calls return once it has run. For the core's one piece of global
 * state (the list of regions that fork must know). */
void vmp__os_run_once(void (*init)(void));

/* Has prepare run in the thread that calls fork() right before it, and
 * parent and child right after it in each process (pthread_atfork). 0, or
 * an error; 0 doing nothing where processes are never forked (Windows). */
int vmp__os_at_fork(void (*prepare)(void), void (*parent)(void), void (*child)(void));

/* ---- errors ------------------------------------------------------------------ */

/* What vmp_err_name() puts before a native error's name, so that no OS
 * error is spelled like a library code. A string literal: the backends'
 * tables write VMP__OS_ERROR_PREFIX #name (stringized where the name is a
 * macro parameter, before errno.h expands it to its number). */
#define VMP__OS_ERROR_PREFIX "OS:"

/* Message and name of a native error code (positive errno or Windows
 * error). The message is never NULL; the name is VMP__OS_ERROR_PREFIX
 * and the system's name, or NULL when the backend knows none (error.c then
 * spells the number). */
const char *vmp__os_error_message(int native);
const char *vmp__os_error_name(int native);

#endif
