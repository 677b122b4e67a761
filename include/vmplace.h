/*
 * vmplace — race-free control of a program's own address space.
 *
 * A program reserves one range of address space (a *region*), splits it
 * into *placeholders*, and replaces each placeholder with private memory or
 * with a *view* of a memory object or file. At no moment is any part of the
 * region free for another thread's allocation to land in: the library never
 * gives an address back to the system and re-asks for it.
 *
 * This header is the authoritative documentation of the library.
 *
 * Units and alignment
 *   Every offset and size passed to a region operation is in bytes, relative
 *   to the region's base, and must be a multiple of vmp_page_size(). Object
 *   offsets (vmp_map) are in bytes and must be page multiples as well.
 *
 * Errors
 *   Every function that can fail returns 0 on success or a negative error
 *   code. Codes VMP_E* (below) are the library's own; any other negative
 *   value is an operating-system error that kept its native code
 *   (-errno on POSIX, -GetLastError() on Windows): test it with
 *   vmp_err_is_os() and get the native value with vmp_err_os_code().
 *   There is no global "last error". Arguments are checked in this order,
 *   and the first error that applies is returned:
 *     1. VMP_EINVAL   null pointer, zero size, unknown flag or protection
 *     2. VMP_EALIGN   an address, size or offset that is not a page multiple
 *     3. VMP_ERANGE   the range is not entirely inside the region (also on
 *                     arithmetic overflow)
 *     4. VMP_ESTATE   a span overlapping the range is of a kind the
 *                     operation does not take
 *     5. VMP_EEXTENT  the kinds are right but the boundaries are not
 *     6. VMP_EBOUNDS  a view would reach past the end of its object or file
 *        VMP_EACCES   the protection asks for more than the object allows
 *     7. VMP_EADDRINUSE  the addresses a placement asked for (an exact
 *                     address, a window, the room after a region) are
 *                     taken, wholly or in part, by a mapping of anyone;
 *        VMP_EMAPLIMIT  the process is at its limit of kernel mappings
 *                     (Linux: vm.max_map_count, 65,530 by default), though
 *                     memory may be plentiful: raise the limit, or use
 *                     fewer spans (coalesce placeholders, unmap);
 *        VMP_ENOMEM   no address space, memory or (where the cause cannot
 *                     be told) kernel mapping slots;
 *        or an OS error with its native code.
 *
 * Failure leaves no trace
 *   A call that returns an error has changed nothing: not the spans, not the
 *   bytes, not the mappings the kernel holds. A call that needs several
 *   system calls undoes those that succeeded before it returns.
 *
 * Never outside the region
 *   The library places fixed mappings only inside regions it reserved and
 *   still owns. Other mappings of the process are never touched.
 *
 * Thread safety
 *   All calls on one region may come from many threads at once; each is
 *   atomic with respect to the others (one lock per region). Reading and
 *   writing the mapped memory is the caller's business. vmp_release() must
 *   not race with other calls on the same region. Memory objects may be
 *   used from many threads; vmp_mem_close() must not race with other calls
 *   on the same object handle.
 *
 * Fork (POSIX)
 *   A child made by fork() inherits every region at the same addresses,
 *   with the bookkeeping as it was at the fork, and may go on using it
 *   (or release it) with the library's calls: around fork() the forking
 *   thread waits for calls in progress on any region to finish and holds
 *   every region's lock, so no lock is left held and no bookkeeping is
 *   caught half-way in the child (pthread_atfork; a vmp_foreach_span
 *   callback must therefore not fork). What the child sees, per kind:
 *     placeholder  reserved and inaccessible, as in the parent: still the
 *                  child's, never free for its other mappings;
 *     private      a copy-on-write copy: the child reads the parent's bytes
 *                  as of the fork, and writes on either side stay private;
 *     view         the same memory object, shared: a write by either
 *                  process is seen by the other (rings rely on it), unless
 *                  the ring was made with VMP_RING_NO_INHERIT.
 *   Memory objects' descriptors are close-on-exec but inherited by fork.
 *   A multi-file view's own lock (vmp_mview_append) is not taken around
 *   fork: a child must not use a view that another thread of the parent
 *   was appending to at the moment of the fork. Windows has no fork.
 */
#ifndef VMPLACE_H
#define VMPLACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && !defined(VMP_STATIC)
#ifdef VMP_BUILDING
#define VMP_API __declspec(dllexport)
#else
#define VMP_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && defined(VMP_BUILDING)
#define VMP_API __attribute__((visibility("default")))
#else
#define VMP_API
#endif

#define VMP_VERSION_MAJOR 0
#define VMP_VERSION_MINOR 1
#define VMP_VERSION_PATCH 0

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* X(name, value, message). The values sit far below any errno (< 4096)
 * and any Windows system error code (< 16000), so a negated OS code can
 * never be mistaken for one of them. */
#define VMP_ERRNO_MAP(X)                                                               \
  X(EINVAL, -30001, "invalid argument")                                                \
  X(EALIGN, -30002, "address, size or offset is not a multiple of the page")           \
  X(ERANGE, -30003, "range is not inside the region")                                  \
  X(ESTATE, -30004, "a span in the range is of the wrong kind")                        \
  X(EEXTENT, -30005, "range does not match the span boundaries")                       \
  X(EBOUNDS, -30006, "view reaches past the end of its object")                        \
  X(EACCES, -30007, "protection exceeds what the object allows")                       \
  X(ENOMEM, -30008, "out of address space, memory or mapping slots")                   \
  X(ENOTSUP, -30009, "not supported by this backend or system")                        \
  X(ETIMEDOUT, -30010, "timed out")                                                    \
  X(ESHUTDOWN, -30011, "the ring was shut down")                                       \
  X(EPEER, -30012, "the peer's shared ring is not valid")                              \
  X(EFULL, -30013, "the ring is full")                                                 \
  X(EGONE, -30014, "the bytes are gone: file truncated under the view, or unreadable") \
  X(EADDRINUSE, -30015, "the addresses asked for are taken by another mapping")        \
  X(EMAPLIMIT, -30016, "the process holds as many kernel mappings as it may (vm.max_map_count)")

/* The X-macro expands to enumerators, which clang-format cannot see. */
/* clang-format off */
typedef enum vmp_errno {
#define VMP__ERR_ENUM(name, value, msg) VMP_##name = value,
  VMP_ERRNO_MAP(VMP__ERR_ENUM)
#undef VMP__ERR_ENUM
  VMP__ERR_MIN = -30016
} vmp_errno;
/* clang-format on */

/* A static, human-readable message for any code this library returns,
 * including OS errors ("No such file or directory"). Never NULL. */
VMP_API const char *vmp_strerror(int err);

/* The code's name, unique to the code: "EINVAL", "EACCES", ... for the
 * library's own codes (exactly the VMP_ name without "VMP_"); for an OS
 * error "OS:" and the native name ("OS:ENOENT", "OS:EACCES" for -EACCES,
 * "OS:ERROR_ACCESS_DENIED" on Windows), or "OS:" and the native number
 * when the library knows no name ("OS:4000"). So "EACCES" is always
 * VMP_EACCES, never the system's permission error. "OK" for 0, "UNKNOWN"
 * for any other value. Never NULL; a static string, except the "OS:"
 * number form, which stays valid until the calling thread's next call. */
VMP_API const char *vmp_err_name(int err);

/* Nonzero when err is an operating-system error with a native code. */
VMP_API int vmp_err_is_os(int err);

/* The native code of an OS error (errno, or GetLastError() on Windows),
 * 0 when err is not an OS error. */
VMP_API int vmp_err_os_code(int err);

/* ------------------------------------------------------------------ */
/* System facts                                                        */
/* ------------------------------------------------------------------ */

/* The page size in bytes: the unit of every address, size and offset.
 * Constant for the life of the process. Thread-safe. */
VMP_API size_t vmp_page_size(void);

/* The alignment in bytes that every region base has at least (the page on
 * POSIX, 64 KiB on Windows). Thread-safe. */
VMP_API size_t vmp_granularity(void);

/* The name of the backend compiled in: "linux", "posix" or "windows".
 * For messages: what a backend can do is in vmp_capabilities(). */
VMP_API const char *vmp_backend_name(void);

/* What the backend compiled in can do, as data: a program (or a test)
 * decides from these fields, never from the backend's name. One field a
 * capability; new ones are added at the end. A flag is 1 when the backend
 * has the capability and 0 when it does not.
 *
 *                           linux   posix   windows
 *   seals                     1       0       0
 *   anon_resizable            1       1       0
 *   mapped_files_shrink       1       1       0
 *   discard_mixed_one_step    1       0       0
 *   huge_pages                1       0       0
 *   no_inherit                1       0       1
 *   wait_across_processes     1       0       0
 *   fault_safe_copy           1       1       1
 *   place_exact_checked       1       0       1
 *   place_window_by_system    0       0       1
 *   place_window_gap_list     1       0       0
 *   knows_mapping_limit       1       0       0
 *   labels                    1       0       0
 */
typedef struct vmp_caps {
  const char *backend;        /* vmp_backend_name() */
  size_t page_size;           /* vmp_page_size() */
  size_t granularity;         /* vmp_granularity() */
  size_t view_offset_unit;    /* a view's object offset is a multiple of it (bytes): the page,
                                 or the granularity where the system maps nothing finer */
  int seals;                  /* objects carry seals: vmp_mem_create's objects are sealed
                                 against shrinking and vmp_ring_attach refuses an object that
                                 is not (VMP_EPEER); without, objects are taken as they are */
  int anon_resizable;         /* vmp_mem_grow works on anonymous objects (VMP_ENOTSUP where
                                 their size is fixed when made: Windows sections) */
  int mapped_files_shrink;    /* another program can cut a file that is mapped, so views can
                                 fault (see vmp_mview_check); 0 where the system refuses it */
  int discard_mixed_one_step; /* vmp_discard over pages of several protections is one system
                                 call, so a failure zeroes nothing; otherwise it goes run by
                                 run and a failure may leave earlier runs zeroed */
  int huge_pages;             /* VMP_RING_HUGE_PAGES can work (only while enough huge pages
                                 are free; VMP_ENOTSUP otherwise, and always where this is 0) */
  int no_inherit;             /* VMP_RING_NO_INHERIT is honoured (Windows: processes are never
                                 forked, nothing is inherited); VMP_ENOTSUP where this is 0 */
  int wait_across_processes;  /* a ring's waiter sleeps in the kernel and a peer in another
                                 process wakes it at once (futex); 0: it polls, sleeping up to
                                 a millisecond between looks */
  int fault_safe_copy;        /* vmp_mview_read and vmp_mview_scan copy with a copy the system
                                 checks (Linux process_vm_readv, POSIX write() into a pipe and
                                 back, Windows ReadProcessMemory), so bytes cut from under them
                                 mid-copy are VMP_EGONE; 0: a size check, then memcpy, which a
                                 cut racing with the copy turns into SIGBUS */
  int place_exact_checked;    /* vmp_reserve_at is one call the system refuses over a taken
                                 range (MAP_FIXED_NOREPLACE, VirtualAlloc2); 0: a hint, then a
                                 check of the address obtained */
  int place_window_by_system; /* vmp_reserve_in: the system picks the gap
                                 (MEM_ADDRESS_REQUIREMENTS); 0: the backend searches */
  int place_window_gap_list;  /* the backend's search reads the process's map
                                 (/proc/self/maps); 0: it tries aligned addresses one by one
                                 from the lowest */
  int knows_mapping_limit;    /* vmp_budget_get reports the kernel's mapping limit and count,
                                 and ENOMEM at that limit is VMP_EMAPLIMIT (vm.max_map_count);
                                 0: -1 there, and plain VMP_ENOMEM */
  int labels;                 /* vmp_label names private pages and vmp_mem_create_named names
                                 objects where the system shows them (/proc/self/maps); 0: the
                                 names are accepted and shown nowhere */
} vmp_caps;

/* Never NULL; the same constant data for the life of the process (probed
 * at the first call). Thread-safe. */
VMP_API const vmp_caps *vmp_capabilities(void);

/* The process's budget of address space and shared memory: what limits
 * a program that reserves much, maps many pieces or shares memory. A
 * field the system cannot tell is -1 (UINT64_MAX for the limits, which
 * also means "no limit"). */
typedef struct vmp_budget {
  int64_t map_limit;   /* kernel mappings a process may hold (Linux:
                          vm.max_map_count); -1 unknown or no such limit */
  int64_t map_count;   /* kernel mappings the process holds now */
  int overcommit;      /* Linux vm.overcommit_memory: 0 heuristic, 1 always,
                          2 never (strict commit accounting) */
  uint64_t as_limit;   /* soft RLIMIT_AS in bytes (address space) */
  uint64_t data_limit; /* soft RLIMIT_DATA in bytes (private writable memory
                          on Linux, which counts committed private spans) */
  int memfd;           /* 1 memfd_create works now, 0 it is refused (a sandbox,
                          seccomp), -1 the system has none: memory objects
                          then come from shm_open (/dev/shm) or a file */
  int64_t shm_size;    /* bytes of /dev/shm, and how many are free: where */
  int64_t shm_free;    /* shm_open objects live, which SIGBUS when it fills */
  int64_t huge_free;   /* bytes of free huge pages (HugePages_Free times
                          Hugepagesize) */
  int64_t huge_page;   /* the huge page size in bytes */
} vmp_budget;

/* Fills *out with the budget as it is now (each call asks the system:
 * /proc on Linux, getrlimit and statvfs on POSIX; Windows knows none of
 * these and reports -1 throughout). Errors: VMP_EINVAL (out NULL).
 * Thread-safe. `vmplace doctor` prints it with what to do about each. */
VMP_API int vmp_budget_get(vmp_budget *out);

/* ------------------------------------------------------------------ */
/* Protections                                                         */
/* ------------------------------------------------------------------ */

/* A protection is one of VMP_PROT_NONE, VMP_PROT_READ, VMP_PROT_RW,
 * optionally ORed with VMP_PROT_EXEC when it includes VMP_PROT_READ.
 * Write without read, execute alone, or any other bit is VMP_EINVAL. */
#define VMP_PROT_NONE 0
#define VMP_PROT_READ 1
#define VMP_PROT_WRITE 2
#define VMP_PROT_RW (VMP_PROT_READ | VMP_PROT_WRITE)
#define VMP_PROT_EXEC 4

/* ------------------------------------------------------------------ */
/* Memory objects                                                      */
/* ------------------------------------------------------------------ */

/* A memory object is what views map: anonymous shared memory or a file.
 * Two views of one object at the same offset see the same bytes.
 *
 * Ownership: the handle returned by a constructor is the caller's, and is
 * given back with vmp_mem_close(). Each view holds its own reference, so
 * views stay valid (and vmp_query() keeps naming the object) after the
 * handle is closed; the object's bookkeeping is freed when the last view
 * of it is unmapped. */
typedef struct vmp_mem vmp_mem;

/* Flags for vmp_mem_open() and vmp_mem_adopt(). */
#define VMP_MEM_READ 0x1  /* views may read */
#define VMP_MEM_WRITE 0x2 /* views may write (shared) */
#define VMP_MEM_RW (VMP_MEM_READ | VMP_MEM_WRITE)

/* Creates anonymous shared memory of `size` bytes (a page multiple),
 * zero-filled, readable and writable. Nothing named is left behind, even
 * if the process crashes: Linux uses memfd_create (close-on-exec), sealed
 * against shrinking so no holder of the descriptor can make views fault;
 * if that is refused, shm_open with the name removed at once; else an
 * unlinked temporary file in $TMPDIR (or /tmp). Windows uses a
 * pagefile-backed section. On Linux 6.3+ the memfd is also sealed against
 * exec (MFD_NOEXEC_SEAL): for code, use vmp_mem_create_named with
 * VMP_MEM_EXEC. vmp_mem_query() says what was obtained. `flags` must be 0.
 * Errors: VMP_EINVAL (out NULL, size 0, flags), VMP_EALIGN (size), VMP_ENOMEM,
 * OS errors (for example -EMFILE; -EFBIG on POSIX when size exceeds the
 * soft RLIMIT_FSIZE, checked before any resize so that no SIGXFSZ is
 * raised: signal dispositions are never changed). */
VMP_API int vmp_mem_create(uint64_t size, unsigned flags, vmp_mem **out);

/* Flags for vmp_mem_create_named(). */
#define VMP_MEM_NO_FALLBACK                                \
  0x10 /* the backend's own way or VMP_ENOTSUP: never an   \
          object in /dev/shm or $TMPDIR (on Linux a memfd; \
          generic POSIX has only those, so always          \
          VMP_ENOTSUP; Windows: a section) */
#define VMP_MEM_EXEC                                        \
  0x20 /* views will be executable: Linux asks memfd_create \
          for MFD_EXEC (6.3+; older kernels make every      \
          memfd exec-capable), so RX views work under       \
          vm.memfd_noexec=1. Without it a Linux 6.3+        \
          memfd is sealed against exec (MFD_NOEXEC_SEAL):   \
          an executable view of it is VMP_EACCES */
#define VMP_MEM_PREALLOCATE                            \
  0x40 /* reserve the backing store at create          \
          (posix_fallocate): a full tmpfs or disk is   \
          -ENOSPC now, never SIGBUS at a later touch.  \
          Windows commits a section when it is created \
          anyway: nothing more to do there */
#define VMP_MEM_HUGE                                    \
  0x80 /* huge pages from the system's pool (Linux      \
          hugetlbfs: size a multiple of vmp_budget's    \
          huge_page, else VMP_EALIGN); VMP_ENOTSUP when \
          the pool cannot hold it now, and on POSIX and \
          Windows, which have none to offer */
#define VMP_MEM_HUGE_OR_THP                             \
  0x100 /* as VMP_MEM_HUGE, and where that is not to be \
          had, ordinary pages whose views ask for       \
          transparent huge pages (MADV_HUGEPAGE; the    \
          kernel's shmem_enabled decides). Name and the \
          other flags are not used for huge objects */

/* Where an object's memory comes from, as vmp_mem_query() reports it. */
typedef enum vmp_backing {
  VMP_BACKING_MEMFD = 1,     /* Linux memfd_create */
  VMP_BACKING_SHM = 2,       /* shm_open, name removed (lives in /dev/shm) */
  VMP_BACKING_TEMP_FILE = 3, /* an unnamed file in $TMPDIR (O_TMPFILE or unlinked) */
  VMP_BACKING_FILE = 4,      /* a regular file opened by path */
  VMP_BACKING_SECTION = 5,   /* a Windows pagefile-backed section */
  VMP_BACKING_DESCRIPTOR = 6 /* adopted (vmp_mem_adopt): whatever the caller had */
} vmp_backing;

typedef struct vmp_mem_info {
  vmp_backing backing;
  int sealed;     /* its size can never shrink (a sealed memfd, a section): views
                     of it can never fault from truncation */
  int huge_pages; /* 1: backed by huge pages (VMP_MEM_HUGE, rings with
                     VMP_RING_HUGE_PAGES); 2: ordinary pages whose views ask for
                     transparent huge pages (the VMP_MEM_HUGE_OR_THP fallback) */
  int exec;       /* 1: made exec-capable on purpose (VMP_MEM_EXEC); 0: sealed
                     against exec (Linux 6.3+ without VMP_MEM_EXEC); -1: as the
                     system decides (vm.memfd_noexec, a noexec mount) */
  int fell_back;  /* the backend's own way was refused (memfd_create denied by a
                     sandbox, say) and a fallback was taken: shm or a file, which
                     can fill up and then fault with SIGBUS */
} vmp_mem_info;

/* What was obtained for an object: so a program can tell, and say, that
 * its shared memory fell back to /dev/shm. Errors: VMP_EINVAL (NULL, a
 * closed handle). Thread-safe. */
VMP_API int vmp_mem_query(const vmp_mem *mem, vmp_mem_info *out);

/* As vmp_mem_create, with a name that tells the object apart in the
 * process's map: Linux shows a memfd as "/memfd:NAME (deleted)" in
 * /proc/PID/maps (vmp_mem_create's objects are called "vmplace"). The
 * fallbacks (shm_open, a temporary file) and Windows carry no name: a
 * named Windows section would be a kernel object any process could open.
 * A name is 1 to 79 printable ASCII characters, none of \ ` $ [ ] (the
 * kernel's rule for names of memory, applied on every backend).
 * `flags` is 0 or any of VMP_MEM_NO_FALLBACK, VMP_MEM_EXEC,
 * VMP_MEM_PREALLOCATE, VMP_MEM_HUGE and VMP_MEM_HUGE_OR_THP (above). vmp_mem_create's objects are
 * made as with flags 0: on Linux 6.3+ they cannot be mapped executable. Errors: as vmp_mem_create,
 * VMP_EINVAL for a NULL or invalid name or an unknown flag, VMP_ENOTSUP with VMP_MEM_NO_FALLBACK
 * where the backend's own way is refused or missing. */
VMP_API int vmp_mem_create_named(uint64_t size, const char *name, unsigned flags, vmp_mem **out);

/* Opens the regular file at `path` as a memory object, read-only
 * (VMP_MEM_READ) or read-write (VMP_MEM_RW). The file is not created and
 * not resized. Anything else (directory, FIFO, device, socket; on Windows
 * a \\.\ pipe or device path) is refused from its type before it is
 * opened, so the call never blocks and opening has no side effect; the
 * descriptor is opened non-blocking and checked again, in case the path
 * changed in between (a regular file's descriptor is then set back to
 * blocking). Errors: VMP_EINVAL (NULL, bad flags, not a regular file, in
 * either mode), OS errors from open (-ENOENT, -EACCES, ... with their
 * native codes). */
VMP_API int vmp_mem_open(const char *path, unsigned flags, vmp_mem **out);

/* Adopts an open file descriptor (POSIX) or section/file HANDLE cast to
 * intptr_t (Windows). On success the object owns it and closes it in
 * vmp_mem_close(); on failure the caller keeps it. What views may do is
 * read from how it was opened (O_ACCMODE), intersected with `flags`
 * (0 means "what the descriptor allows").
 * Errors, in this order: VMP_EINVAL (negative fd, bad flags, not a
 * regular file or shared memory: a pipe, directory, socket), VMP_EACCES
 * (flags ask for more than the descriptor allows), VMP_ENOMEM (the
 * bookkeeping, allocated only once the descriptor passed), OS errors. */
VMP_API int vmp_mem_adopt(intptr_t fd, unsigned flags, vmp_mem **out);

/* The object's current size in bytes, asked of the system (a file may
 * have been changed by someone else). Errors: VMP_EINVAL, OS errors. */
VMP_API int vmp_mem_size(vmp_mem *mem, uint64_t *size_out);

/* Grows the object to `new_size` bytes (new bytes read as zero). Shrinking
 * is refused with VMP_EINVAL, because views past the new end would fault.
 * Errors, in this order: VMP_EINVAL (NULL, closed handle, new_size smaller
 * than the current size, even on a read-only object), VMP_EACCES
 * (read-only object), VMP_ENOMEM, OS errors (-EPERM when the object is
 * sealed, -ENOSPC, -EFBIG past the soft RLIMIT_FSIZE on POSIX, refused
 * before any SIGXFSZ, ...); VMP_ENOTSUP on Windows for anonymous
 * memory (a pagefile-backed section has a fixed size). */
VMP_API int vmp_mem_grow(vmp_mem *mem, uint64_t new_size);

/* The native descriptor (fd) or HANDLE, still owned by the object: to pass
 * it to another process (SCM_RIGHTS, inheritance). -1 on NULL. */
VMP_API intptr_t vmp_mem_fd(const vmp_mem *mem);

/* The flags the object was opened with (VMP_MEM_READ, VMP_MEM_RW). */
VMP_API unsigned vmp_mem_flags(const vmp_mem *mem);

/* Gives the caller's handle back. Views of the object stay valid. NULL is
 * accepted and ignored. Returns 0, or an OS error from closing the
 * descriptor (the handle is gone either way).
 *
 * Misuse the library detects: a handle already closed but still alive
 * through views is refused with VMP_EINVAL by this and every vmp_mem_*
 * function and by vmp_map (vmp_mem_fd gives -1, vmp_mem_flags 0); a second
 * close never closes the descriptor again. Undefined: any use of a handle
 * after its last reference is gone (closed, and its last view unmapped):
 * the memory was freed, and while its check word is cleared on free and
 * caught as VMP_EINVAL as long as the memory is not reused, that cannot
 * be relied on. Closing a handle while another thread uses it is a race
 * (see Threads). */
VMP_API int vmp_mem_close(vmp_mem *mem);

/* ------------------------------------------------------------------ */
/* Regions                                                             */
/* ------------------------------------------------------------------ */

typedef struct vmp_region vmp_region;

typedef enum vmp_kind {
  VMP_PLACEHOLDER = 0, /* reserved, inaccessible, costs no memory */
  VMP_PRIVATE = 1,     /* private anonymous memory */
  VMP_VIEW = 2         /* a window onto a memory object */
} vmp_kind;

/* The name of a kind: "placeholder", "private", "view". */
VMP_API const char *vmp_kind_name(vmp_kind kind);

/* Reserves `size` bytes of address space as one placeholder. `alignment`
 * is 0 (any page-aligned base; at least vmp_granularity()) or a power of
 * two that is at least the page size; the base is a multiple of it.
 * Costs no memory (a PROT_NONE mapping is not charged against the
 * system's commit limit); on POSIX one kernel mapping.
 * Errors: VMP_EINVAL (out NULL, size 0, bad alignment), VMP_EALIGN (size),
 * VMP_ERANGE (size + alignment overflows), VMP_ENOMEM. */
VMP_API int vmp_reserve(size_t size, size_t alignment, vmp_region **out);

/* ---- Placement: where a region lies, and growing it in place ---- */

/* Reserves exactly [addr, addr+size) as one placeholder, for a program
 * that needs its memory at a chosen address (an emulator's guest address
 * space, a heap below 4 GiB, a file format that stores pointers). Nothing
 * that is already there is ever replaced, by this process or any other
 * mapper: Linux asks with MAP_FIXED_NOREPLACE and checks the address it
 * got (kernels before 4.17 take the flag for a hint; what such a kernel
 * placed elsewhere is unmapped again, and only that); the generic POSIX
 * backend passes the address as a hint and checks it the same way;
 * Windows reserves with VirtualAlloc2 at that base address.
 * Errors, in this order: VMP_EINVAL (out NULL, addr NULL, size 0),
 * VMP_EALIGN (addr not a multiple of vmp_granularity(), size not a page
 * multiple), VMP_ERANGE (addr + size overflows), VMP_EADDRINUSE (any page
 * of the range is mapped or reserved already; nothing changed),
 * VMP_ENOMEM, OS errors (for example -EPERM for an address below
 * vm.mmap_min_addr on Linux). Thread-safe. */
VMP_API int vmp_reserve_at(void *addr, size_t size, vmp_region **out);

/* Reserves `size` bytes as one placeholder somewhere in the address window
 * [lowest, highest), at a multiple of `alignment` (0 or a power of two of
 * at least the page, as for vmp_reserve; at least vmp_granularity()), for
 * example below 4 GiB for 32-bit pointers: lowest 0 (or any multiple of the
 * granularity), highest 1 << 32. The region lies wholly inside the window.
 * Nothing is ever replaced. Windows lets the system pick the address
 * (VirtualAlloc2 with MEM_ADDRESS_REQUIREMENTS). Linux reads the free
 * gaps from /proc/self/maps and claims the lowest that fits with
 * MAP_FIXED_NOREPLACE; a gap another thread takes in between is looked
 * for again. The generic POSIX backend, which has no map to read, tries
 * the aligned addresses from the lowest up, one hint each, so its cost
 * grows with the number of taken addresses below the first free one
 * (vmp_reserve_in on a window that is mostly taken is slow there).
 * Errors, in this order: VMP_EINVAL (out NULL, size 0, bad alignment,
 * lowest >= highest), VMP_EALIGN (size not a page multiple; lowest or
 * highest not multiples of vmp_granularity()), VMP_ERANGE (the window
 * cannot hold size bytes at that alignment), VMP_EADDRINUSE (no free
 * range of that size and alignment in the window; Windows answers a full
 * window and a lack of kernel memory with the same ERROR_NOT_ENOUGH_MEMORY,
 * and both are VMP_EADDRINUSE there), VMP_ENOMEM, OS errors. Thread-safe. */
VMP_API int vmp_reserve_in(uintptr_t lowest, uintptr_t highest, size_t size, size_t alignment,
                           vmp_region **out);

/* Grows the region in place by `more` bytes: a new placeholder span of
 * that size right after its end (not merged with the span before it;
 * coalesce it if one larger placeholder is wanted). The base never moves
 * and nothing in the region changes; vmp_size() grows. If any of that
 * room is taken, VMP_EADDRINUSE and nothing changed: the region is not
 * moved or copied, ever. On Windows each growth is a kernel reservation
 * of its own; vmp_release gives every one of them back, and a
 * placeholder span that crosses from one to the next (after a coalesce)
 * can be replaced only where the system merges the placeholders of two
 * reservations (Wine 10 does; where the system refuses, commit and map
 * of that span fail with its error, changing nothing).
 * Errors, in this order: VMP_EINVAL (region NULL, more 0), VMP_EALIGN
 * (more not a page multiple; on Windows also a region whose size is not a
 * multiple of vmp_granularity(), whose end no reservation can start at),
 * VMP_ERANGE (the new end would overflow the address space),
 * VMP_EADDRINUSE, VMP_ENOMEM, OS errors. Thread-safe: other calls on the
 * region may run at the same time and see it either before or after. */
VMP_API int vmp_extend(vmp_region *region, size_t more);

/* Unmaps everything in the region and gives its address range back.
 * Views drop their references to their objects. NULL is ignored (0).
 * Must not race with any other call on the region. On POSIX this is one
 * system call. Windows gives a region back one allocation at a time: if
 * one of those calls fails (twice), the error is returned and part of the
 * region may already be gone; call vmp_release again to finish. */
VMP_API int vmp_release(vmp_region *region);

/* The region's base address and size in bytes. */
VMP_API void *vmp_base(const vmp_region *region);
VMP_API size_t vmp_size(const vmp_region *region);

/* Splits the placeholder that holds [off, off+size) so that this range
 * becomes a placeholder of its own (2 or 3 placeholders result). No system
 * call on POSIX. Errors: VMP_EINVAL, VMP_EALIGN, VMP_ERANGE, VMP_ESTATE
 * (not a placeholder), VMP_EEXTENT (not inside one placeholder, or the
 * whole of it), VMP_ENOMEM (bookkeeping). */
VMP_API int vmp_split(vmp_region *region, size_t off, size_t size);

/* Makes [off, off+size) a placeholder span of its own, whether it already
 * is exactly one (then nothing changes and 0 is returned) or lies inside a
 * larger one (split). For an arena that carves chunk after chunk out of
 * its room: the last chunk needs no special case. Errors: VMP_EINVAL,
 * VMP_EALIGN, VMP_ERANGE, VMP_ESTATE (not a placeholder), VMP_EEXTENT (not
 * inside one placeholder), VMP_ENOMEM (bookkeeping). Thread-safe. */
VMP_API int vmp_carve(vmp_region *region, size_t off, size_t size);

/* Merges the placeholders covering [off, off+size) into one. The range
 * must start at a span's start, end at a span's end and cover at least two
 * spans, all placeholders. No system call on POSIX.
 * Errors: VMP_EINVAL, VMP_EALIGN, VMP_ERANGE, VMP_ESTATE, VMP_EEXTENT. */
VMP_API int vmp_coalesce(vmp_region *region, size_t off, size_t size);

/* Replaces exactly one whole placeholder with private anonymous memory,
 * zero-filled, with protection `prot`. The memory is charged against the
 * system's commit limit here, as a new private writable mapping would be,
 * so that a strict-overcommit system refuses it now (VMP_ENOMEM) rather
 * than at a page fault. On POSIX this is one mprotect of the placeholder's
 * pages (a new mapping when prot has VMP_PROT_EXEC); on Windows
 * VirtualAlloc2 with MEM_REPLACE_PLACEHOLDER. On failure the placeholder is
 * as it was.
 * Errors: VMP_EINVAL, VMP_EALIGN, VMP_ERANGE, VMP_ESTATE, VMP_EEXTENT,
 * VMP_ENOMEM, OS errors. Thread-safe. */
VMP_API int vmp_commit(vmp_region *region, size_t off, size_t size, int prot);

/* vmp_carve and vmp_commit in one call, under one lock: [off, off+size),
 * inside one placeholder, becomes private memory, the placeholder's rest
 * staying placeholders on either side. Whether or not the range was a
 * whole placeholder, it is one span afterwards, as after vmp_commit. For
 * an arena that commits chunk after chunk out of its room. No other
 * thread ever sees the carved placeholder. The same system call as
 * vmp_commit, on every backend; on failure nothing changed (not even the
 * split). Errors, in this order: VMP_EINVAL, VMP_EALIGN, VMP_ERANGE,
 * VMP_ESTATE (part of the range is not a placeholder), VMP_EEXTENT (the
 * range crosses from one placeholder into the next), VMP_ENOMEM
 * (bookkeeping, or the system), OS errors. Thread-safe. */
VMP_API int vmp_carve_commit(vmp_region *region, size_t off, size_t size, int prot);

/* Replaces exactly one whole placeholder with a view of `mem` starting at
 * byte `mem_off` (a page multiple). The view takes a reference to `mem`.
 * A view may cover the page that holds the object's last byte; the rest of
 * that page reads as zeros (and writes there do not reach a file).
 * Errors: VMP_EINVAL (also for a closed mem), VMP_EALIGN (off, size or mem_off), VMP_ERANGE,
 * VMP_ESTATE, VMP_EEXTENT, VMP_EBOUNDS (mem_off + size past the page that
 * holds the object's last byte, at its current size), VMP_EACCES (write
 * asked of a read-only object),
 * VMP_ENOMEM, OS errors. Any page-aligned mem_off maps on every backend,
 * Windows included (a view replacing a placeholder is not held to 64 KiB
 * offsets); only a Windows system found, by a probe at first use, to
 * refuse such offsets returns VMP_ENOTSUP for a mem_off that is not a
 * multiple of vmp_granularity().
 * An executable view (prot with VMP_PROT_EXEC) is mapped with exactly
 * prot on every backend: no system call made for it asks for more, so a
 * JIT's RX view is never writable, not even during this call. On Windows,
 * where a view's protection can later be changed only within what it was
 * mapped with, a view without execute of a writable object is mapped
 * read-write and lowered to prot before the call returns (so that
 * vmp_protect can raise it to read-write later; for that one call it is
 * writable, never executable).
 * The view's ceiling, the most vmp_protect may ever give it, is the same
 * on every backend (Windows allows no more): prot itself when prot has
 * VMP_PROT_EXEC, else what the object allows (VMP_PROT_RW for an object
 * opened for writing, VMP_PROT_READ otherwise). */
VMP_API int vmp_map(vmp_region *region, size_t off, size_t size, vmp_mem *mem, uint64_t mem_off,
                    int prot);

/* vmp_carve and vmp_map in one call, under one lock: [off, off+size),
 * inside one placeholder, becomes a view of `mem` at byte `mem_off`, the
 * placeholder's rest staying placeholders on either side. Everything
 * vmp_map says of the view holds (its reference, protection and ceiling).
 * For a fastmem arena that maps views into its free room and, with
 * vmp_unmap_coalesce, gives them back: one call each way, and the room
 * stays one placeholder between views. The same system calls as vmp_map;
 * on failure nothing changed (not even the split). Errors, in this order:
 * VMP_EINVAL, VMP_EALIGN (off, size or mem_off), VMP_ERANGE, VMP_ESTATE
 * (part of the range is not a placeholder), VMP_EEXTENT (the range crosses
 * from one placeholder into the next), VMP_EBOUNDS, VMP_EACCES, VMP_ENOMEM
 * (bookkeeping, or the system), OS errors, VMP_ENOTSUP as for vmp_map.
 * Thread-safe. */
VMP_API int vmp_carve_map(vmp_region *region, size_t off, size_t size, vmp_mem *mem,
                          uint64_t mem_off, int prot);

/* Turns [off, off+size) back into a placeholder of the same extent. The
 * range must lie inside one private or view span; a view is unmapped only
 * whole, private memory in any page range (private pieces stay on either
 * side). The new placeholder is not merged with neighbouring placeholders.
 * On failure nothing changed: the view, or the private pages with their
 * data, are still in place. POSIX lets a failed mmap(MAP_FIXED) remove the
 * old mapping first, and that is never left as a hole in the region: a
 * view is then mapped again as it was (same object range, same
 * protections) and the error returned; private data so destroyed cannot
 * be brought back, so the unmap is completed and the call succeeds. Only
 * if the system fails that second step too is an error returned over
 * unmapped pages.
 * Errors: VMP_EINVAL, VMP_EALIGN, VMP_ERANGE, VMP_ESTATE, VMP_EEXTENT,
 * VMP_ENOMEM, OS errors. */
VMP_API int vmp_unmap(vmp_region *region, size_t off, size_t size);

/* vmp_unmap, then the placeholder it leaves merges with the span right
 * before it and the span right after it, each where it is a placeholder
 * (one span on each side at most: placeholders split on purpose further
 * away stay as they are). The reverse of vmp_carve_map and
 * vmp_carve_commit: an arena's free room stays one placeholder. The merge
 * is bookkeeping on every backend (no system call, as vmp_coalesce), so
 * the call makes the system calls of vmp_unmap and no more, and its
 * failures are vmp_unmap's, leaving everything as vmp_unmap does. A
 * private range cut from the middle of a span has private pieces on both
 * sides and merges with nothing. Errors: as vmp_unmap. Thread-safe. */
VMP_API int vmp_unmap_coalesce(vmp_region *region, size_t off, size_t size);

/* Changes the protection of the pages [off, off+size), which must lie in
 * one private or view span. The span stays whole. A failure part-way (out
 * of kernel mapping slots: VMP_ENOMEM) puts every page's protection back;
 * "no trace" then covers spans, protections and data. A kernel that cuts
 * its mapping before finding the limit may keep that cut (one more line in
 * /proc/self/maps, same protections): undoing it would need the free slot
 * the kernel just refused. Linux 6.18 (tested) leaves no cut.
 * A view stays within its ceiling (see vmp_map) on every backend: a view
 * mapped without execute can be raised to what its object allows but
 * never made executable, and an executable view can never be made
 * writable; either is VMP_EACCES, nothing changed.
 * Errors: VMP_EINVAL, VMP_EALIGN, VMP_ERANGE, VMP_ESTATE, VMP_EEXTENT,
 * VMP_EACCES (beyond a view's ceiling: write on a view of a read-only
 * object, exec on a view mapped without it, write on a view mapped
 * executable), VMP_ENOMEM, OS errors. */
VMP_API int vmp_protect(vmp_region *region, size_t off, size_t size, int prot);

/* Gives the memory behind the private pages [off, off+size) back to the
 * system; they read as zero afterwards and keep their protections, which
 * may differ from page to page. The range must lie in one private span.
 * Errors: VMP_EINVAL, VMP_EALIGN, VMP_ERANGE, VMP_ESTATE, VMP_EEXTENT,
 * VMP_ENOMEM, OS errors.
 * A discard cannot be undone, so it is the one call whose failure may
 * leave a trace, and exactly this one. The Linux backend discards the
 * whole range in one step, which fails having changed nothing. The generic
 * POSIX and Windows backends put fresh pages in place, which come with one
 * protection, so over pages of several protections they go in address
 * order one run of equal protection at a time: after a failure some pages
 * (from `off` up to the failing run, and possibly part of that run) may
 * read as zero already while the rest keep their bytes. Every page keeps
 * its protection and the spans are unchanged, so calling it again finishes
 * the job. The one exception is Windows, where a run is decommitted and
 * committed again: if the commit fails twice (the system's commit limit
 * reached in between), that run's pages stay decommitted (they fault)
 * until a later discard of them succeeds. On the generic POSIX backend a
 * failed mmap that removed the pages first is followed by one more: fresh
 * zero pages of the same protection, and the run succeeds (its pages were
 * being discarded); if that fails too, PROT_NONE pages fill the run (no
 * hole; they fault) and the error is returned. */
VMP_API int vmp_discard(vmp_region *region, size_t off, size_t size);

/* Names the private pages [off, off+size), which must lie in one private
 * span, in the process's map: Linux 5.17+ shows them as [anon:NAME] in
 * /proc/PID/maps (PR_SET_VMA_ANON_NAME), so a heap, a JIT's code or a
 * guest's RAM can be told apart there. Elsewhere, and on a kernel built
 * without it, the call checks its arguments and does nothing. The name
 * belongs to the pages' kernel mapping: it survives protect and discard,
 * and goes with unmap (pages committed again have none). Naming part of a
 * span cuts its kernel mapping in up to three (vmp_mapping_count() does
 * not see names: it counts as if there were none).
 * Name rule as for vmp_mem_create_named. Errors, in this order: VMP_EINVAL
 * (NULL, size 0, invalid name), VMP_EALIGN, VMP_ERANGE, VMP_ESTATE (not
 * private memory), VMP_EEXTENT (not inside one span), VMP_EMAPLIMIT,
 * VMP_ENOMEM, OS errors. Thread-safe. */
VMP_API int vmp_label(vmp_region *region, size_t off, size_t size, const char *name);

/* What vmp_query() reports. Offsets are bytes from the region's base. */
typedef struct vmp_span_info {
  void *start;   /* address of the span's first byte */
  size_t offset; /* span start, relative to the region */
  size_t size;   /* span size in bytes */
  vmp_kind kind;
  int prot;            /* protection of the page holding the address */
  vmp_mem *mem;        /* view: its object (valid while the view is); else NULL */
  uint64_t mem_offset; /* view: object offset of the span's first byte */
} vmp_span_info;

/* Describes the span holding `addr` (any address inside the region, not
 * necessarily aligned). Errors: VMP_EINVAL (NULL), VMP_ERANGE. */
VMP_API int vmp_query(vmp_region *region, const void *addr, vmp_span_info *info);

/* The number of spans in the region. */
VMP_API size_t vmp_span_count(vmp_region *region);

/* How many kernel mappings the region costs now, derived from its spans
 * the way the kernel merges neighbours: one for each run of pages of one
 * kind and protection (adjacent placeholders count once however many
 * spans they are; private memory is one mapping per run of one
 * protection, across spans), views continuing each other in one object
 * count once. This is what counts against Linux's vm.max_map_count.
 * Linux may hold more only where two private spans that were both written
 * to before they became neighbours stay apart, or where a neighbouring
 * mapping outside the region merges with its first or last run (then the
 * region still counts it once). The generic POSIX backend's placeholders
 * and PROT_NONE private memory have the same flags and may merge, holding
 * fewer. Windows has no such limit; there the figure is the POSIX one.
 * 0 for NULL. Thread-safe. */
VMP_API size_t vmp_mapping_count(vmp_region *region);

/* Calls fn for every span in address order, under the region's lock (fn
 * must not call into the same region). Stops early and returns fn's value
 * when it returns nonzero; 0 otherwise. info->prot is the protection of
 * the span's first page. Errors: VMP_EINVAL. */
VMP_API int vmp_foreach_span(vmp_region *region, int (*fn)(const vmp_span_info *info, void *arg),
                             void *arg);

/* ------------------------------------------------------------------ */
/* Contiguous multi-file views                                          */
/* ------------------------------------------------------------------ */

/* Several files, or ranges of files, mapped back to back in one region and
 * read as one buffer, with room reserved after them so that more segments
 * can be appended later without moving the base (a segmented log, a file
 * cut into parts, images loaded into one address range). Built from the
 * region operations above, so it inherits their guarantees: one
 * reservation, never racy, failure leaves no trace.
 *
 * Page rule: every segment's file offset must be a multiple of the page
 * (on every backend; only a Windows system that refuses views at page
 * offsets, see vmp_map, asks for multiples of vmp_granularity()), and
 * every segment but the last must have a length that is a multiple of
 * the page; otherwise VMP_EALIGN, and *bad_segment (when not NULL) names
 * the segment. The last segment may end anywhere, and vmp_mview_length()
 * is the exact byte count; the rest of its last page shows the file's
 * following bytes, or zeros past the end of the file (a file mapping cannot
 * hide part of a page).
 *
 * A file that shrinks after it was mapped makes access past its new end
 * fault (SIGBUS on POSIX; Windows refuses to shrink a file that has a
 * view), on every system; vmp_mview_check() reports whether any segment
 * has shrunk, and vmp_mview_read() and vmp_mview_scan() read without
 * faulting (VMP_EGONE instead).
 *
 * Each segment is at most one kernel mapping (fewer where the kernel
 * merges neighbours of one file), so a view of more segments than the
 * system allows mappings (vm.max_map_count on Linux, 65530 by default)
 * fails with VMP_ENOMEM, leaving nothing behind.
 *
 * Live logs: the last segment, when it was given "to the end of the file"
 * (length 0), follows its file as it grows (vmp_mview_refresh()); the
 * writer's next segment is appended (vmp_mview_append()); old segments
 * are retired (vmp_mview_retire()) so that their files can be deleted.
 * Offsets never change: byte i of the view is byte i for the view's life.
 *
 * Thread safety: every call but close may be called from several threads
 * at once (one lock per view). Reading the mapped bytes directly needs no
 * lock, except that bytes of a segment being retired fault once retire has
 * taken them; close must not race with anything. */
typedef struct vmp_mview vmp_mview;

/* One segment: a file by path, or, when path is NULL, by descriptor/HANDLE
 * fd (so a zeroed struct means descriptor 0), and the byte range
 * [offset, offset+length) of it (length 0: to the end of the file, as large
 * as it is when the segment is mapped). A descriptor stays the caller's:
 * the view keeps its own reference to the file. */
typedef struct vmp_segment {
  const char *path;
  intptr_t fd;
  uint64_t offset;
  uint64_t length;
} vmp_segment;

/* Flags for vmp_mview_open(). */
#define VMP_MVIEW_WRITE 0x1 /* map the files read-write and shared */
/* Keep no descriptor for a segment once it is mapped and no longer last
 * (the last keeps one: it may grow), so that 10^5 segments cost at most
 * two descriptors, also while they are opened. Every segment must then be
 * given by path (a descriptor is VMP_EINVAL: it could not be found again):
 * the view keeps the path, and check, read and scan ask the size of the
 * file that the path names at that moment (opening it for the time it
 * takes), which is the mapped file unless it was renamed or replaced.
 * vmp_mview_describe() gives fd -1 for a segment without a descriptor. */
#define VMP_MVIEW_CLOSE_FILES 0x2

/* Maps the `count` segments back to back in a new region of at least
 * `capacity` bytes (0: just enough for the segments, and at least
 * vmp_granularity() so that a view opened empty can be appended to),
 * read-only unless flags has VMP_MVIEW_WRITE. The region is one
 * reservation; the room after the segments stays placeholder until
 * vmp_mview_append() fills it. Arguments are checked in this order: every
 * segment's VMP_EINVAL, then every segment's offset and (known) length for
 * VMP_EALIGN, then segment by segment what needs the file (opening it, a
 * "to the end" length that turns out odd, VMP_EBOUNDS), then the capacity
 * (VMP_ERANGE, naming the first segment that does not fit).
 * Errors: VMP_EINVAL (out NULL, segments NULL with count > 0, unknown flag,
 * a segment with neither path nor fd, or without a path under
 * VMP_MVIEW_CLOSE_FILES, a path that is not a regular file),
 * VMP_EALIGN (the page rule), VMP_EBOUNDS (a range past the end of its
 * file), VMP_EACCES (VMP_MVIEW_WRITE on a file or descriptor opened
 * read-only), VMP_ERANGE (capacity smaller than the segments), VMP_ENOMEM,
 * OS errors (-ENOENT, -EACCES, ... for a file that cannot be opened).
 * On error *bad_segment names the segment at fault, or is (size_t)-1 when
 * none is. Nothing is left mapped or open. */
VMP_API int vmp_mview_open(const vmp_segment *segments, size_t count, uint64_t capacity,
                           unsigned flags, vmp_mview **out, size_t *bad_segment);

/* Maps one more segment right after the last, in the reserved room,
 * without moving the base. The page rule applies as if it were the new last
 * segment, and the old last segment must now have a length that is a
 * multiple of the page (else VMP_EALIGN; a last segment that was still
 * growing is made whole by vmp_mview_refresh() first). The padding, if
 * any, moves after the new segment. With VMP_MVIEW_CLOSE_FILES the segment
 * that stops being last gives its descriptor back. Errors as
 * vmp_mview_open, and VMP_ERANGE when the segment (with the padding) does
 * not fit in the capacity (an error, never a move). On error nothing
 * changed. */
VMP_API int vmp_mview_append(vmp_mview *view, const vmp_segment *segment);

/* The first byte; the exact number of bytes of all segments; the bytes
 * reserved in all (the most the view can ever hold); the segment count. */
VMP_API void *vmp_mview_base(const vmp_mview *view);
VMP_API uint64_t vmp_mview_length(const vmp_mview *view);
VMP_API uint64_t vmp_mview_capacity(const vmp_mview *view);
VMP_API size_t vmp_mview_segments(const vmp_mview *view);

/* Which segment byte `offset` of the view comes from, and its offset in
 * that segment's file. Errors: VMP_EINVAL (NULL), VMP_ERANGE (offset at or
 * past vmp_mview_length()), VMP_ESTATE (the byte's segment is retired).
 * Thread-safe. */
VMP_API int vmp_mview_locate(const vmp_mview *view, uint64_t offset, size_t *segment,
                             uint64_t *file_offset);

/* What vmp_mview_describe() reports about one segment. */
typedef struct vmp_mview_segment_info {
  intptr_t fd;          /* its file's descriptor (POSIX) or HANDLE (Windows),
                           still the view's: valid until vmp_mview_close(),
                           vmp_mview_retire() of it, or (VMP_MVIEW_CLOSE_FILES)
                           the append after it; -1 when it has none */
  uint64_t file_offset; /* where the segment starts in its file */
  uint64_t length;      /* its bytes */
  uint64_t view_offset; /* where it starts in the view */
} vmp_mview_segment_info;

/* Describes segment `segment` (0 is the first), for a caller that hands a
 * segment's bytes to the system by descriptor (sendfile, splice,
 * copy_file_range) rather than through the mapping. The descriptor must
 * not be closed, and its file position is the caller's to use. Errors:
 * VMP_EINVAL (NULL), VMP_ERANGE (no such segment). Thread-safe. */
VMP_API int vmp_mview_describe(const vmp_mview *view, size_t segment, vmp_mview_segment_info *info);

/* Checks every segment's file (retired ones excepted) against the range
 * it was mapped with. Returns 0 when none has shrunk; VMP_EBOUNDS when one
 * has (*segment, when not NULL, names the first such); OS errors from
 * asking a file's size (with VMP_MVIEW_CLOSE_FILES, also from opening its
 * path again: -ENOENT for a file deleted meanwhile). */
VMP_API int vmp_mview_check(const vmp_mview *view, size_t *segment);

/* Follow mode: asks the last segment's file for its size now and, when
 * the segment was given "to the end of the file" (length 0) and the file
 * has grown, maps the pages it gained right after the pages already
 * mapped, in place: the base does not move and nothing already mapped is
 * remapped (on Linux the kernel merges the new pages into the segment's
 * mapping; on Windows each refresh that gains pages is one more view; in
 * the region's bookkeeping it is one more span everywhere, which retire
 * takes back with the segment).
 * The length then follows the file byte for byte; the last partial page
 * reads as the file's bytes, then zeros. A last segment given with an
 * explicit length, a retired one, or a view with no segment, is left as
 * it is (0). *length (when not NULL) receives vmp_mview_length() after
 * the call, also on error. Padding moves after the new end.
 * Errors: VMP_EINVAL (view NULL), VMP_EBOUNDS (the file is now shorter
 * than the segment: it was truncated), VMP_ERANGE (the grown file no
 * longer fits the capacity: nothing is mapped, append a new view instead),
 * VMP_ENOMEM, OS errors. On error nothing changed. Thread-safe.
 * Cost on POSIX: one fstat a call, and one mmap when the file gained pages
 * past the last page mapped (Windows makes a section and a view then). */
VMP_API int vmp_mview_refresh(vmp_mview *view, uint64_t *length);

/* Turns segments [0, count) back into placeholder and closes their files
 * (their paths are forgotten), so that the writer may delete them, on
 * Windows too. Every later byte keeps its offset; the segments keep their
 * indices (vmp_mview_segments() still counts them) and reading a retired
 * byte through the mapping faults; vmp_mview_locate() gives VMP_ESTATE
 * for it, vmp_mview_read() and vmp_mview_scan() VMP_ESTATE, describe fd
 * -1. count is an index, not a number more: retiring fewer segments than
 * are already retired does nothing (0), and retiring all of them (count
 * equal to vmp_mview_segments()) is allowed: append goes on after them.
 * Errors: VMP_EINVAL (view NULL), VMP_ERANGE (count above the segment
 * count), VMP_ENOMEM, OS errors. On error nothing changed: a segment
 * whose pages were already taken is mapped again (should that fail as
 * well, its pages stay placeholder and fault, the only trace). With
 * VMP_MVIEW_CLOSE_FILES it is mapped again from its file opened again,
 * which the kernel does not merge with pages still mapped from the first
 * opening: the same pages, but possibly one more line in /proc/self/maps.
 * Thread-safe, but readers of the mapped bytes of these segments must be
 * done with them. */
VMP_API int vmp_mview_retire(vmp_mview *view, size_t count);

/* How many segments are retired: segments [0, n) are. Thread-safe. */
VMP_API size_t vmp_mview_retired(const vmp_mview *view);

/* Guarantees `bytes` readable bytes right after the view's end, for
 * parsers that read a vector past the last byte: without copying, by
 * mapping read-only private zero pages after the last segment's pages
 * (`bytes` rounded up to the page; the rest of the last segment's last
 * page comes first, and shows the file: zeros when the segment runs to the
 * end of its file, the file's next bytes when it stops before). They move
 * with the end on every refresh and append; 0 takes them away. They count
 * against the capacity: an append or refresh that would push them past it
 * is VMP_ERANGE. Errors: VMP_EINVAL (view NULL), VMP_ERANGE (they do not
 * fit after the end), VMP_ENOMEM, OS errors. On error nothing changed.
 * Thread-safe. */
VMP_API int vmp_mview_set_padding(vmp_mview *view, size_t bytes);

/* Fault-safe access: copies bytes [offset, offset+n) of the view to dst
 * (not overlapping the view), and returns an error instead of crashing
 * when those bytes are gone. First every file they come from is asked its
 * size now: a file truncated below them is VMP_EGONE, a retired segment
 * VMP_ESTATE. Then the copy itself cannot fault either, on any backend (a
 * page truncated in between, or one that cannot be read, an I/O error, is
 * VMP_EGONE):
 *   - Linux: the kernel copies (process_vm_readv on this process);
 *   - generic POSIX, and Linux under a sandbox refusing process_vm_readv:
 *     the bytes are written into a pipe and read back (write() reports
 *     EFAULT for a page it cannot read). The pipe is the call's own, both
 *     ends close-on-exec and non-blocking: 7 system calls (pipe, 4 fcntl,
 *     2 close) and one write and one read per 64 KiB; -EMFILE at the
 *     descriptor limit; POSIX.1-2008 has no pipe2, so a program that forks
 *     and execs from another thread meanwhile may pass the pipe on;
 *   - Windows: ReadProcessMemory (a page that cannot be brought in, an
 *     in-page I/O error; files with views cannot be truncated there).
 * No signal handler is ever installed. dst receives partial data on
 * VMP_EGONE. Holds the view's lock for the copy.
 * Errors, in this order: VMP_EINVAL (view NULL, dst NULL with n > 0),
 * VMP_ERANGE ([offset, offset+n) not inside vmp_mview_length()),
 * VMP_ESTATE, VMP_EGONE, OS errors from asking a file's size or making
 * the copy's pipe. n = 0 reads nothing and returns 0 when offset is at
 * most the length. Thread-safe. */
VMP_API int vmp_mview_read(const vmp_mview *view, uint64_t offset, void *dst, size_t n);

/* Fault-safe scan: the view offset of the first byte equal to `byte` in
 * [offset, offset+n), in *found, or offset+n when there is none (0 either
 * way). Checks and errors exactly as vmp_mview_read(), which it is built
 * on: it copies through a 32 KiB buffer on the stack, so a byte past the
 * first match may still be read. Thread-safe. */
VMP_API int vmp_mview_scan(const vmp_mview *view, uint64_t offset, uint64_t n, unsigned char byte,
                           uint64_t *found);

/* Unmaps everything, closes the files and gives the address range back.
 * NULL is ignored. Returns 0 or the error of vmp_release (see there). */
VMP_API int vmp_mview_close(vmp_mview *view);

/* ------------------------------------------------------------------ */
/* Mirrored ring buffers                                                */
/* ------------------------------------------------------------------ */

/* One memory object mapped twice, back to back, so that any run of up to
 * the ring's capacity starting anywhere in it is contiguous in memory:
 * writers and readers never split a copy or a parse at the wrap. Built from
 * the region operations (one reservation, guard placeholders on both
 * sides, two views of the data and one of a control page), so it inherits
 * their guarantees. The memory comes from vmp_mem_create(): nothing named
 * is left behind, in a container or after a crash.
 *
 * On top sits a single-producer / single-consumer byte queue: one thread
 * (or process) writes, one reads. Head and tail are 64-bit byte counts in a
 * control page next to the data, on separate cache lines, published with
 * release and read with acquire ordering; each side caches the other's.
 * They count modulo the largest multiple of the capacity below 2^64, so a
 * position in the data is the same for both sides however long the ring
 * runs (attach refuses counters outside that range).
 * Everything read from shared memory is checked (a peer process may be
 * hostile or broken): an impossible index gives VMP_EPEER, never an access
 * outside the ring.
 *
 * Across processes: vmp_ring_fd() gives the descriptor (pass it over a UNIX
 * socket with SCM_RIGHTS, or let a child inherit it) and vmp_ring_attach()
 * maps it in the other process. On Linux the object is sealed against
 * shrinking before anyone else can see it, and attach refuses an object
 * that is not, so no peer can make the other side fault (one that grows it
 * only makes its size disagree with the header: VMP_EPEER).
 *
 * Thread safety: one producer and one consumer at a time, which may be
 * different threads or processes; vmp_ring_shutdown may be called from
 * anywhere; vmp_ring_close must not race with anything on that handle. */
typedef struct vmp_ring vmp_ring;

/* Flags for vmp_ring_create() and vmp_ring_attach(). */
#define VMP_RING_HUGE_PAGES                                 \
  0x1 /* back the data with huge pages (Linux): VMP_ENOTSUP \
         when the system has none free */
#define VMP_RING_NO_INHERIT                              \
  0x2 /* a child made by fork() does not get the mapping \
         (Linux MADV_DONTFORK; by default it does, and   \
         shares the ring with its parent) */
#define VMP_RING_MULTI_PRODUCER                   \
  0x4 /* create only: records from many producers \
         (threads or processes) at once; see      \
         vmp_ring_reserve. Such a ring carries    \
         records only: the byte calls give        \
         VMP_EINVAL. Attach learns it from the ring. */

/* Creates a ring whose capacity is `size` bytes rounded up to the page
 * (or the huge page size; on a Windows system that refuses views at page
 * offsets, see vmp_map, to vmp_granularity()); vmp_ring_capacity()
 * reports it. The object is one such unit larger, for the control block.
 * Errors: VMP_EINVAL (out NULL, size 0, unknown flag), VMP_ENOTSUP
 * (huge pages unavailable, VMP_RING_NO_INHERIT where fork inheritance
 * cannot be turned off), VMP_ENOMEM, OS errors. Nothing is left behind on
 * error. */
VMP_API int vmp_ring_create(size_t size, unsigned flags, vmp_ring **out);

/* Maps the ring another process created from its descriptor (which stays
 * the caller's: the ring keeps its own copy). Checks, before trusting
 * anything: the object's size seals (Linux), its size, the control page's
 * magic, version and capacity. The shared head and tail are checked on each
 * side's first call and on every call after (VMP_EPEER there).
 * VMP_RING_HUGE_PAGES must match how the ring was made. Errors: VMP_EINVAL,
 * VMP_EPEER (any of those checks failing), VMP_EACCES (a descriptor opened
 * read-only), VMP_ENOTSUP, VMP_ENOMEM, OS errors. */
VMP_API int vmp_ring_attach(intptr_t fd, unsigned flags, vmp_ring **out);

/* The descriptor (POSIX) or section HANDLE (Windows) to give a peer; still
 * owned by the ring. The first call writes the ring's header (what attach
 * checks) into the shared control page, so a ring that is never shared
 * never touches it for that. Thread-safe. */
VMP_API intptr_t vmp_ring_fd(const vmp_ring *ring);

/* The capacity in bytes, and the first byte of the data (the mirror of
 * byte i is at i + capacity). */
VMP_API size_t vmp_ring_capacity(const vmp_ring *ring);
VMP_API void *vmp_ring_data(const vmp_ring *ring);

/* Asks the begin calls below to look at the other side's index every time,
 * offering all the space or data there is right now. */
#define VMP_RING_ALL ((size_t)-1)

/* Producer side: *ptr receives where to write, *len how many bytes may be
 * written there, contiguously. The ring caches what it last saw of the
 * consumer, and looks at the consumer's index again (one cache miss across
 * cores) only when the cached free space is less than `want` bytes (0 counts
 * as 1); so *len may be less than `want` (even 0: the ring is full), or
 * more. VMP_RING_ALL looks every time. Returns 0, VMP_EINVAL (NULL, want
 * larger than the capacity and not VMP_RING_ALL), VMP_EPEER when the
 * consumer's published index is impossible, or VMP_ESHUTDOWN. */
VMP_API int vmp_ring_write_begin(vmp_ring *ring, size_t want, void **ptr, size_t *len);
/* Publishes n bytes written at the pointer write_begin gave. VMP_EINVAL if
 * n is more than it offered; what it offered may be committed in several
 * calls. */
VMP_API int vmp_ring_write_commit(vmp_ring *ring, size_t n);

/* Consumer side, the same way round: *ptr, *len cover bytes written and not
 * yet released, contiguously; the producer's index is looked at again only
 * when fewer than `want` bytes are known (VMP_RING_ALL: every time).
 * Returns 0, VMP_EINVAL, VMP_EPEER or VMP_ESHUTDOWN (only once the ring is
 * both shut down and empty). */
VMP_API int vmp_ring_read_begin(vmp_ring *ring, size_t want, const void **ptr, size_t *len);
/* Releases the first n bytes read_begin offered (in one call or several).
 * VMP_EINVAL if more. */
VMP_API int vmp_ring_read_release(vmp_ring *ring, size_t n);

/* Copies: as many bytes as fit (write) or are there (read), up to n, in
 * one memcpy each. Return the count (0 when full or empty) or a negative
 * error as the begin functions. */
VMP_API ptrdiff_t vmp_ring_write(vmp_ring *ring, const void *src, size_t n);
VMP_API ptrdiff_t vmp_ring_read(vmp_ring *ring, void *dst, size_t n);

/* Descriptor I/O straight from the ring, with no copy in between. `fd` is
 * a descriptor (POSIX) or HANDLE (Windows), blocking or not; it stays the
 * caller's.
 * vmp_ring_fill (producer): one read() (ReadFile) of at most `max` bytes
 * (VMP_RING_ALL: as many as fit) into the contiguous free space, then
 * commits what came. Returns the count (> 0), 0 at end of file (or a pipe
 * whose writer is gone), VMP_EFULL when the ring has no room (wait with
 * vmp_ring_wait_write), or an error: OS errors from the read (a
 * non-blocking descriptor with nothing gives OS:EAGAIN), VMP_EINVAL (NULL,
 * max 0, a multi-producer ring), VMP_ESHUTDOWN, VMP_EPEER.
 * vmp_ring_drain (consumer): one write() (WriteFile) of at most `max` of
 * the bytes there, contiguous, then releases what went. Returns the count,
 * 0 when the ring is empty (wait with vmp_ring_wait_read), or an error:
 * OS:EPIPE when the reader of a pipe or socket is gone, and never SIGPIPE
 * (it is blocked in the calling thread for the call, and taken back if the
 * call raised it); OS:EAGAIN; VMP_ESHUTDOWN once shut down and empty;
 * VMP_EINVAL, VMP_EPEER. A call interrupted by a signal (EINTR) is made
 * again, unless the ring was shut down meanwhile: then VMP_ESHUTDOWN (so
 * shutting the ring down and signalling the thread stops a fill blocked on
 * idle input). Thread safety as for the producer and consumer calls. */
VMP_API ptrdiff_t vmp_ring_fill(vmp_ring *ring, intptr_t fd, size_t max);
VMP_API ptrdiff_t vmp_ring_drain(vmp_ring *ring, intptr_t fd, size_t max);

/* Spin briefly, then sleep, until at least `want` bytes can
 * be written (wait_write) or read (wait_read), the timeout passes
 * (VMP_ETIMEDOUT; timeout_ns < 0 waits forever, 0 only checks) or the ring
 * is shut down (VMP_ESHUTDOWN; for wait_read only once it is empty).
 * Once the ring is shut down, wait_read returns 0 while any bytes are left,
 * even fewer than `want`: they are all there will ever be.
 * wait_write with no time limit, for fewer than 1 KiB, spins first for 1
 * KiB of room (a producer of small messages that goes on as soon as one
 * fits takes turns with its consumer on the same cache line), then returns
 * as soon as `want` bytes are free; with a time limit it returns as soon
 * as they are.
 * `want` larger than the capacity is VMP_EINVAL. Linux waits on a futex in
 * the shared control page, so it works across processes; Windows waits
 * with WaitOnAddress, which a commit or release in the same process ends
 * at once, and looks again every millisecond (a scheduler tick on an
 * untuned system) for a peer in another process (an event handle would
 * wake it at once, but a ring crosses to the other process as the one
 * section handle, and a second handle or a named event would have to be
 * passed or guessed there); generic POSIX polls with
 * a backoff that sleeps (at most ~1 ms between looks).
 * Commits and releases never make a system call unless the other side
 * sleeps, and on Linux they need no fence either: a side about to sleep
 * issues membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) instead, which every
 * process using a ring registers for once. Where that is not available
 * every commit and release is followed by a full fence. */
VMP_API int vmp_ring_wait_write(vmp_ring *ring, size_t want, int64_t timeout_ns);
VMP_API int vmp_ring_wait_read(vmp_ring *ring, size_t want, int64_t timeout_ns);

/* ---- Records ------------------------------------------------------------
 *
 * Framed messages on any ring, each one contiguous (the mirror means no
 * record is ever split or padded), without a copy on either side: the
 * producer reserves `len` bytes, writes them at rec.data and submits (or
 * discards); the consumer takes the next record, reads it at rec.data and
 * consumes it. A ring carries records or bytes, not both: the byte calls
 * would see the record headers (8 bytes before each record on a
 * single-producer ring, 16 on a multi-producer one; every record starts at
 * a multiple of 8 bytes). Neither kind of call finishes what the other
 * began: vmp_ring_write_commit and vmp_ring_read_release take only bytes
 * a begin call offered, never a record held, and submit, discard and
 * consume take only the record handed out (VMP_EINVAL otherwise).
 *
 * Single producer (the default): one producer and one consumer, as for
 * bytes; a record becomes visible whole when it is submitted. One
 * reservation at a time.
 *
 * Many producers (VMP_RING_MULTI_PRODUCER): any number of threads and
 * processes may reserve at once (lock-free, one compare-and-swap on the
 * shared head), each holding several reservations if it likes; records
 * are delivered in reservation order, so the consumer waits for a record
 * that is reserved but not yet submitted (it is "busy"). A producer that
 * dies between reserve and submit cannot stop the ring for good: once a
 * record has been busy for the abandonment timeout (1 s by default, see
 * vmp_ring_set_abandon_timeout), the consumer skips it and counts it as
 * abandoned. The timeout must be longer than any live producer takes
 * between reserve and submit: a producer slower than that gets
 * VMP_ETIMEDOUT from submit, and bytes it writes after that may land in
 * space later records reuse. A consumer that finds no record ready spins
 * before it sleeps, and looks again only after about 2 microseconds (then
 * at the record's header alone, more and more often): every look takes
 * the producers' cache lines from them, and this way they write a run of
 * records for each one rather than one record.
 *
 * Everything read from the shared page and the headers is checked: an
 * impossible length, state or index gives VMP_EPEER, never an access
 * outside the ring.
 */
typedef struct vmp_ring_record {
  void *data;  /* the payload: len contiguous bytes inside the ring */
  size_t len;  /* payload bytes */
  uint64_t at; /* private to the ring: which record this is */
} vmp_ring_record;

/* The largest payload one record can have: the capacity less the header,
 * and at most UINT32_MAX. 0 for NULL. */
VMP_API size_t vmp_ring_record_max(const vmp_ring *ring);

/* Producer: reserves a record of `len` bytes (0 allowed, up to
 * vmp_ring_record_max) and fills *rec. When the ring has no room:
 * timeout_ns < 0 waits for it (spinning briefly, then sleeping),
 * timeout_ns > 0 waits at most that long (VMP_ETIMEDOUT), and 0 fails at
 * once with VMP_EFULL; both failures count the record as dropped in the
 * statistics. Other errors: VMP_EINVAL (NULL, len too large),
 * VMP_ESHUTDOWN, VMP_EPEER. On a single-producer ring a reservation (like
 * vmp_ring_write_begin) replaces the one before, which can then no longer
 * be submitted.
 * Thread safety: a single-producer ring has one producer; a multi-producer
 * ring's producers may all call at once. */
VMP_API int vmp_ring_reserve(vmp_ring *ring, size_t len, int64_t timeout_ns, vmp_ring_record *rec);
/* Waits, as vmp_ring_reserve would, until a record of `len` bytes fits
 * (0), the timeout passes (VMP_ETIMEDOUT) or the ring is shut down
 * (VMP_ESHUTDOWN), and counts nothing: for a caller that waits in slices
 * (to look at something else between them) and then reserves with
 * timeout 0. On a multi-producer ring another producer may take the room
 * first. VMP_EINVAL for NULL or len too large. */
VMP_API int vmp_ring_wait_room(vmp_ring *ring, size_t len, int64_t timeout_ns);

/* Publishes the reserved record (its len bytes at rec->data as they are
 * now) / gives it up (counted as discarded; on a multi-producer ring the
 * consumer skips it). VMP_EINVAL when rec is not a reservation this
 * producer holds (also a second submit), VMP_ETIMEDOUT when the consumer
 * already abandoned it (many producers), VMP_EPEER. */
VMP_API int vmp_ring_submit(vmp_ring *ring, const vmp_ring_record *rec);
VMP_API int vmp_ring_discard(vmp_ring *ring, const vmp_ring_record *rec);

/* Consumer: the next record, whole and contiguous, in *rec; it stays there
 * until vmp_ring_consume. timeout_ns as for vmp_ring_reserve (0 only
 * looks); VMP_ETIMEDOUT when none came, VMP_ESHUTDOWN once the ring is
 * shut down and no record is left, VMP_EPEER when what a producer wrote
 * cannot be valid, VMP_EINVAL (NULL). Calling it again before consume
 * gives the same record. */
VMP_API int vmp_ring_next(vmp_ring *ring, int64_t timeout_ns, vmp_ring_record *rec);
/* Releases the record vmp_ring_next gave; its bytes may be reused at once.
 * VMP_EINVAL when rec is not that record. */
VMP_API int vmp_ring_consume(vmp_ring *ring, const vmp_ring_record *rec);

/* How long this consumer waits for a busy record of a multi-producer ring
 * before it skips it (default 1 s; < 0: never skip). VMP_EINVAL on a
 * single-producer ring, where records are never seen before they are
 * submitted. Not thread-safe with vmp_ring_next. */
VMP_API int vmp_ring_set_abandon_timeout(vmp_ring *ring, int64_t timeout_ns);

/* Counts kept in the shared control page, readable from either side at any
 * time (each is read on its own, so they may be a moment apart). They are
 * only reported, never used to find a byte, so a peer can make them wrong
 * but cannot make them harmful. */
typedef struct vmp_ring_stats {
  uint64_t bytes_written; /* through the ring, headers included (modulo a
                             multiple of the capacity near 2^64) */
  uint64_t bytes_read;
  uint64_t records_written; /* submitted */
  uint64_t records_read;    /* consumed */
  uint64_t dropped;         /* reservations that failed for want of room */
  uint64_t discarded;       /* reserved, then discarded */
  uint64_t abandoned;       /* skipped by the consumer after the timeout */
} vmp_ring_stats;
VMP_API int vmp_ring_get_stats(const vmp_ring *ring, vmp_ring_stats *out);

/* Marks the ring shut down (for both sides, in every process) and wakes
 * every waiter. Writing after it gives VMP_ESHUTDOWN; reading drains what
 * is left first. Thread-safe with every call on the ring, and with a
 * vmp_ring_close that another thread makes once it has seen the ring shut
 * down (VMP_ESHUTDOWN), even before this call has returned: the close
 * waits for it to finish. */
VMP_API void vmp_ring_shutdown(vmp_ring *ring);

/* Unmaps the ring and closes this process's handle. NULL is ignored. No
 * other call on the handle may run or follow, except a vmp_ring_shutdown
 * still finishing (see there), which this waits for. */
VMP_API int vmp_ring_close(vmp_ring *ring);

#ifdef __cplusplus
}
#endif

#endif /* VMPLACE_H */
