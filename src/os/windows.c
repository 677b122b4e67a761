/*
 * The Windows backend: virtual-memory placeholders (Windows 10 1803+).
 *
 * Placeholders stay bookkeeping here as on POSIX: split and coalesce make
 * no system call. Right before a placeholder span is replaced, the backend
 * makes the kernel's placeholders match it (splitting off the pieces
 * around it with MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER, merging several with
 * MEM_COALESCE_PLACEHOLDERS), so the kernel only ever changes where the
 * library replaces something, and a failed replacement is followed by the
 * reverse steps.
 *
 * Unmapping private pages uses MEM_RELEASE|MEM_PRESERVE_PLACEHOLDER on just
 * those pages, which cuts the allocation in two or three and keeps the
 * data of the rest (measured under Wine 10, see docs/wine-facts.md;
 * Microsoft's documentation says nothing either way, and a system that
 * refused would make vmp_unmap fail with its error, changing nothing).
 *
 * A view's section offset need only be a multiple of the page: Microsoft's
 * MapViewOfFile3 page lifts the 64 KiB rule for offset and address when a
 * placeholder is replaced, and Wine 10 maps page offsets (docs/
 * wine-facts.md). A system that still refused would be found out once, at
 * the first use, by mapping one page at section offset one page into a
 * placeholder; there the offset unit is the allocation granularity and
 * other offsets give VMP_ENOTSUP, which is what a refusal at map time
 * gives too.
 *
 * VirtualAlloc2, MapViewOfFile3 and UnmapViewOfFile2 are looked up in
 * kernelbase.dll at first use; where they are missing every address-space
 * operation returns VMP_ENOTSUP (the old reserve-free-map loop is never
 * used).
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdint.h>
#include <string.h>

#include "../alloc.h"
#include "os.h"
#include "syscalls.h"
#include "vmplace.h"

#define PLACEHOLDER_RESERVE 0x00040000  /* MEM_RESERVE_PLACEHOLDER */
#define PLACEHOLDER_REPLACE 0x00004000  /* MEM_REPLACE_PLACEHOLDER */
#define PLACEHOLDER_PRESERVE 0x00000002 /* MEM_PRESERVE_PLACEHOLDER */
#define PLACEHOLDER_COALESCE 0x00000001 /* MEM_COALESCE_PLACEHOLDERS */

typedef PVOID(WINAPI *virtual_alloc2_fn)(HANDLE, PVOID, SIZE_T, ULONG, ULONG, void *, ULONG);
typedef PVOID(WINAPI *map_view3_fn)(HANDLE, HANDLE, PVOID, ULONG64, SIZE_T, ULONG, ULONG, void *,
                                    ULONG);
typedef BOOL(WINAPI *unmap_view2_fn)(HANDLE, PVOID, ULONG);
typedef LONG(WINAPI *nt_query_object_fn)(HANDLE, int, PVOID, ULONG, PULONG);
typedef LONG(WINAPI *nt_query_section_fn)(HANDLE, int, PVOID, SIZE_T, PSIZE_T);
typedef BOOL(WINAPI *wait_on_address_fn)(volatile VOID *, PVOID, SIZE_T, DWORD);
typedef VOID(WINAPI *wake_by_address_fn)(PVOID);

static struct {
  virtual_alloc2_fn virtual_alloc2;
  map_view3_fn map_view3;
  unmap_view2_fn unmap_view2;
  nt_query_object_fn nt_query_object;
  nt_query_section_fn nt_query_section;
  wait_on_address_fn wait_on_address; /* Windows 8 and later */
  wake_by_address_fn wake_by_address_all;
} loaded;

/* The table's defaults for the calls found at run time. */
static PVOID WINAPI run_time_VirtualAlloc2(HANDLE p, PVOID b, SIZE_T s, ULONG t, ULONG pr, void *e,
                                           ULONG n) {
  return loaded.virtual_alloc2(p, b, s, t, pr, e, n);
}
static PVOID WINAPI run_time_MapViewOfFile3(HANDLE f, HANDLE p, PVOID b, ULONG64 o, SIZE_T s,
                                            ULONG t, ULONG pr, void *e, ULONG n) {
  return loaded.map_view3(f, p, b, o, s, t, pr, e, n);
}
static BOOL WINAPI run_time_UnmapViewOfFile2(HANDLE p, PVOID b, ULONG f) {
  return loaded.unmap_view2(p, b, f);
}
static LONG WINAPI run_time_NtQueryObject(HANDLE h, int c, PVOID i, ULONG l, PULONG r) {
  return loaded.nt_query_object(h, c, i, l, r);
}
static LONG WINAPI run_time_NtQuerySection(HANDLE h, int c, PVOID i, SIZE_T l, PSIZE_T r) {
  return loaded.nt_query_section(h, c, i, l, r);
}

#define WINDOWS_SYSCALLS(X)                                                                  \
  X(VirtualAlloc2, run_time_VirtualAlloc2, PVOID,                                            \
    (HANDLE, PVOID, SIZE_T, ULONG, ULONG, void *, ULONG))                                    \
  X(MapViewOfFile3, run_time_MapViewOfFile3, PVOID,                                          \
    (HANDLE, HANDLE, PVOID, ULONG64, SIZE_T, ULONG, ULONG, void *, ULONG))                   \
  X(UnmapViewOfFile2, run_time_UnmapViewOfFile2, BOOL, (HANDLE, PVOID, ULONG))               \
  X(VirtualAlloc, VirtualAlloc, LPVOID, (LPVOID, SIZE_T, DWORD, DWORD))                      \
  X(VirtualFree, VirtualFree, BOOL, (LPVOID, SIZE_T, DWORD))                                 \
  X(VirtualProtect, VirtualProtect, BOOL, (LPVOID, SIZE_T, DWORD, PDWORD))                   \
  X(VirtualQuery, VirtualQuery, SIZE_T, (LPCVOID, PMEMORY_BASIC_INFORMATION, SIZE_T))        \
  X(CreateFileMappingW, CreateFileMappingW, HANDLE,                                          \
    (HANDLE, LPSECURITY_ATTRIBUTES, DWORD, DWORD, DWORD, LPCWSTR))                           \
  X(CreateFileW, CreateFileW, HANDLE,                                                        \
    (LPCWSTR, DWORD, DWORD, LPSECURITY_ATTRIBUTES, DWORD, DWORD, HANDLE))                    \
  X(GetFileSizeEx, GetFileSizeEx, BOOL, (HANDLE, PLARGE_INTEGER))                            \
  X(SetFileInformationByHandle, SetFileInformationByHandle, BOOL,                            \
    (HANDLE, FILE_INFO_BY_HANDLE_CLASS, LPVOID, DWORD))                                      \
  X(GetFileType, GetFileType, DWORD, (HANDLE))                                               \
  X(CloseHandle, CloseHandle, BOOL, (HANDLE))                                                \
  X(ReadProcessMemory, ReadProcessMemory, BOOL, (HANDLE, LPCVOID, LPVOID, SIZE_T, SIZE_T *)) \
  X(DuplicateHandle, DuplicateHandle, BOOL,                                                  \
    (HANDLE, HANDLE, HANDLE, LPHANDLE, DWORD, BOOL, DWORD))                                  \
  X(NtQueryObject, run_time_NtQueryObject, LONG, (HANDLE, int, PVOID, ULONG, PULONG))        \
  X(NtQuerySection, run_time_NtQuerySection, LONG, (HANDLE, int, PVOID, SIZE_T, PSIZE_T))    \
  X(ReadFile, ReadFile, BOOL, (HANDLE, LPVOID, DWORD, LPDWORD, LPOVERLAPPED))                \
  X(WriteFile, WriteFile, BOOL, (HANDLE, LPCVOID, DWORD, LPDWORD, LPOVERLAPPED))

VMP__DEFINE_SYSCALLS_WITH(WINDOWS_SYSCALLS, windows_syscalls)
#define SYS(name) VMP__SYSCALL(windows_syscalls, name)

const vmp__syscall_table *const vmp__os_syscall_tables[] = {&windows_syscalls, NULL};

/* ---- capabilities --------------------------------------------------------- */

static vmp__os_caps caps;
static int placeholders_available;
static uintptr_t highest_address; /* the last byte a program may reserve */
static INIT_ONCE caps_once = INIT_ONCE_STATIC_INIT;

static FARPROC find_function(const char *module, const char *name) {
  HMODULE m = GetModuleHandleA(module);
  return m ? GetProcAddress(m, name) : NULL;
}

/* Whether the system maps a view at a section offset of one page into a
 * placeholder. Made with the functions themselves, not the table, so that
 * a test's injected failures cannot change the answer. Only a refusal of
 * the offset itself says no: a probe that cannot even start (no memory
 * for the section or the placeholder) says yes, and a refusal would then
 * come back from vmp_map as VMP_ENOTSUP all the same. */
static int page_offsets_map(void) {
  if (!placeholders_available) return 1;
  size_t page = caps.page_size;
  HANDLE section =
      CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, (DWORD)(2 * page), NULL);
  if (!section) return 1;
  int maps = 1;
  void *ph = loaded.virtual_alloc2(NULL, NULL, page, MEM_RESERVE | PLACEHOLDER_RESERVE,
                                   PAGE_NOACCESS, NULL, 0);
  if (ph) {
    void *view = loaded.map_view3(section, NULL, ph, page, page, PLACEHOLDER_REPLACE, PAGE_READONLY,
                                  NULL, 0);
    if (view) {
      UnmapViewOfFile(view);
    } else {
      DWORD code = GetLastError();
      maps = code != ERROR_MAPPED_ALIGNMENT && code != ERROR_INVALID_PARAMETER;
      VirtualFree(ph, 0, MEM_RELEASE);
    }
  }
  CloseHandle(section);
  return maps;
}

static BOOL CALLBACK probe_caps(PINIT_ONCE once, PVOID param, PVOID *context) {
  (void)once, (void)param, (void)context;
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  caps.backend = "windows";
  caps.page_size = si.dwPageSize;
  caps.granularity = si.dwAllocationGranularity;
  /* Sections never change size, but no seal says so: seals 0, and
   * anonymous objects cannot grow. No fork, so nothing is inherited.
   * WaitOnAddress stays inside one process: rings poll. Discard decommits
   * and commits again, one protection at a time. */
  caps.no_inherit = 1;
  caps.fault_safe_copy = 1; /* ReadProcessMemory */
  caps.place_exact_checked = 1;
  caps.place_window_by_system = 1;
  caps.place_window_gap_list = 0;
  highest_address = (uintptr_t)si.lpMaximumApplicationAddress;
  /* Casting through void (*)(void) keeps -Wcast-function-type quiet. */
  loaded.virtual_alloc2 =
      (virtual_alloc2_fn)(void (*)(void))find_function("kernelbase.dll", "VirtualAlloc2");
  loaded.map_view3 =
      (map_view3_fn)(void (*)(void))find_function("kernelbase.dll", "MapViewOfFile3");
  loaded.unmap_view2 =
      (unmap_view2_fn)(void (*)(void))find_function("kernelbase.dll", "UnmapViewOfFile2");
  loaded.nt_query_object =
      (nt_query_object_fn)(void (*)(void))find_function("ntdll.dll", "NtQueryObject");
  loaded.nt_query_section =
      (nt_query_section_fn)(void (*)(void))find_function("ntdll.dll", "NtQuerySection");
  loaded.wait_on_address =
      (wait_on_address_fn)(void (*)(void))find_function("kernelbase.dll", "WaitOnAddress");
  loaded.wake_by_address_all =
      (wake_by_address_fn)(void (*)(void))find_function("kernelbase.dll", "WakeByAddressAll");
  if (!loaded.wait_on_address || !loaded.wake_by_address_all)
    loaded.wait_on_address = NULL, loaded.wake_by_address_all = NULL;
  placeholders_available = loaded.virtual_alloc2 && loaded.map_view3 && loaded.unmap_view2;
  caps.view_offset_unit = page_offsets_map() ? caps.page_size : caps.granularity;
  return TRUE;
}

const vmp__os_caps *vmp__os_caps_get(void) {
  InitOnceExecuteOnce(&caps_once, probe_caps, NULL, NULL);
  return &caps;
}

static int supported(void) {
  vmp__os_caps_get();
  return placeholders_available;
}

/* ---- errors ------------------------------------------------------------------ */

static int win_error(DWORD code) {
  switch (code) {
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_COMMITMENT_LIMIT:
      return VMP_ENOMEM;
    case 0:
      return -(int)ERROR_GEN_FAILURE;
    default:
      return -(int)code;
  }
}

static int last_error(void) { return win_error(GetLastError()); }

#define WINDOWS_ERRORS(X)                                                         \
  X(ERROR_FILE_NOT_FOUND, "The system cannot find the file specified")            \
  X(ERROR_PATH_NOT_FOUND, "The system cannot find the path specified")            \
  X(ERROR_TOO_MANY_OPEN_FILES, "Too many open files")                             \
  X(ERROR_ACCESS_DENIED, "Access is denied")                                      \
  X(ERROR_INVALID_HANDLE, "The handle is invalid")                                \
  X(ERROR_NOT_ENOUGH_MEMORY, "Not enough memory resources are available")         \
  X(ERROR_OUTOFMEMORY, "Not enough storage is available")                         \
  X(ERROR_GEN_FAILURE, "A device attached to the system is not functioning")      \
  X(ERROR_SHARING_VIOLATION, "The file is being used by another process")         \
  X(ERROR_NOT_SUPPORTED, "The request is not supported")                          \
  X(ERROR_INVALID_PARAMETER, "The parameter is incorrect")                        \
  X(ERROR_DISK_FULL, "There is not enough space on the disk")                     \
  X(ERROR_FILE_INVALID, "The volume for a file has been externally altered")      \
  X(ERROR_ALREADY_EXISTS, "The file already exists")                              \
  X(ERROR_INVALID_ADDRESS, "Attempt to access invalid address")                   \
  X(ERROR_MAPPED_ALIGNMENT, "The base address or the file offset is not aligned") \
  X(ERROR_COMMITMENT_LIMIT, "The paging file is too small")                       \
  X(ERROR_BROKEN_PIPE, "The pipe has been ended")                                 \
  X(ERROR_NO_DATA, "The pipe is being closed")

const char *vmp__os_error_name(int native) {
  switch (native) {
#define WINDOWS_ERROR_NAME(code, text) \
  case code:                           \
    return VMP__OS_ERROR_PREFIX #code;
    WINDOWS_ERRORS(WINDOWS_ERROR_NAME)
#undef WINDOWS_ERROR_NAME
    default:
      return NULL;
  }
}

const char *vmp__os_error_message(int native) {
  switch (native) {
#define WINDOWS_ERROR_TEXT(code, text) \
  case code:                           \
    return text;
    WINDOWS_ERRORS(WINDOWS_ERROR_TEXT)
#undef WINDOWS_ERROR_TEXT
    default:
      return "system error";
  }
}

/* ---- the budget ---------------------------------------------------------------------- */

/* Windows has no mapping limit, rlimits, /dev/shm or memfd: every field
 * stays "unknown". */
void vmp__os_budget(struct vmp_budget *out) { (void)out; }

/* ---- locks --------------------------------------------------------------------- */

_Static_assert(sizeof(SRWLOCK) <= sizeof(vmp__os_lock), "lock storage too small");

int vmp__os_lock_init(vmp__os_lock *l) {
  InitializeSRWLock((SRWLOCK *)l);
  return 0;
}
void vmp__os_lock_destroy(vmp__os_lock *l) { (void)l; }
void vmp__os_lock_acquire(vmp__os_lock *l) { AcquireSRWLockExclusive((SRWLOCK *)l); }
void vmp__os_lock_release(vmp__os_lock *l) { ReleaseSRWLockExclusive((SRWLOCK *)l); }

/* ---- fork ---------------------------------------------------------------------- */

static INIT_ONCE core_once = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK run_init(PINIT_ONCE once, PVOID init, PVOID *context) {
  (void)once, (void)context;
  void (*fn)(void);
  memcpy(&fn, &init, sizeof fn);
  fn();
  return TRUE;
}

void vmp__os_run_once(void (*init)(void)) {
  PVOID param;
  memcpy(&param, &init, sizeof param);
  InitOnceExecuteOnce(&core_once, run_init, param, NULL);
}

/* Windows has no fork. */
int vmp__os_at_fork(void (*prepare)(void), void (*parent)(void), void (*child)(void)) {
  (void)prepare, (void)parent, (void)child;
  return 0;
}

/* ---- the kernel's view of an address ------------------------------------------ */

typedef struct allocation {
  char *base; /* AllocationBase */
  char *end;  /* the first byte after it */
} allocation;

static int query(const void *addr, MEMORY_BASIC_INFORMATION *mbi) {
  return SYS(VirtualQuery)(addr, mbi, sizeof *mbi) == sizeof *mbi ? 0 : last_error();
}

/* The allocation (placeholder, private allocation or view) holding addr. */
static int allocation_at(const void *addr, allocation *out) {
  MEMORY_BASIC_INFORMATION mbi;
  int err = query(addr, &mbi);
  if (err) return err;
  out->base = mbi.AllocationBase;
  char *p = (char *)mbi.BaseAddress + mbi.RegionSize;
  for (;;) {
    MEMORY_BASIC_INFORMATION next;
    if (query(p, &next) || next.AllocationBase != out->base || next.State == MEM_FREE) break;
    p = (char *)next.BaseAddress + next.RegionSize;
  }
  out->end = p;
  return 0;
}

static BOOL split_placeholder(char *addr, size_t size) {
  return SYS(VirtualFree)(addr, size, MEM_RELEASE | PLACEHOLDER_PRESERVE);
}

static BOOL merge_placeholders(char *addr, size_t size) {
  return SYS(VirtualFree)(addr, size, MEM_RELEASE | PLACEHOLDER_COALESCE);
}

/* Kernel placeholders that exact_placeholder() cut, to merge back if the
 * replacement that follows fails. */
typedef struct cuts {
  char *front_lo, *front_hi; /* the placeholder cut at the span's start */
  char *back_lo, *back_hi;   /* the one cut at the span's end */
} cuts;

static void undo_cuts(const cuts *c) {
  if (c->front_lo) merge_placeholders(c->front_lo, (size_t)(c->front_hi - c->front_lo));
  if (c->back_lo && c->back_lo != c->front_lo)
    merge_placeholders(c->back_lo, (size_t)(c->back_hi - c->back_lo));
}

/* Makes [addr, addr+size), which the core knows to be one placeholder span,
 * exactly one kernel placeholder. Every address it looks at
 * or cuts lies inside the span: never outside the region. */
static int exact_placeholder(char *addr, size_t size, cuts *made) {
  char *end = addr + size;
  allocation first, last;
  memset(made, 0, sizeof *made);
  int err = allocation_at(addr, &first);
  if (!err) err = allocation_at(end - 1, &last);
  if (err) return err;
  if (first.base < addr) {
    if (!split_placeholder(addr, (size_t)(first.end - addr))) return last_error();
    made->front_lo = first.base;
    made->front_hi = first.end;
    if (last.base == first.base) last.base = addr;
  }
  if (last.end > end) {
    if (!split_placeholder(last.base, (size_t)(end - last.base))) {
      err = last_error();
      undo_cuts(made);
      return err;
    }
    /* Within one placeholder, merging from its start undoes both cuts. */
    made->back_lo = last.base == addr && made->front_lo ? made->front_lo : last.base;
    made->back_hi = last.end;
  }
  /* Several placeholders under one span (the core coalesced them). */
  if (last.base > addr && !merge_placeholders(addr, size)) {
    err = last_error();
    undo_cuts(made);
    return err;
  }
  return 0;
}

/* ---- address space -------------------------------------------------------------- */

int vmp__os_reserve(size_t size, size_t alignment, void **base) {
  if (!supported()) return VMP_ENOTSUP;
  size_t slack = alignment > caps.granularity ? alignment - caps.granularity : 0;
  if (size > SIZE_MAX - slack) return VMP_ENOMEM;
  char *raw = SYS(VirtualAlloc2)(NULL, NULL, size + slack, MEM_RESERVE | PLACEHOLDER_RESERVE,
                                 PAGE_NOACCESS, NULL, 0);
  if (!raw) {
    /* The arguments are valid (the core checked them): a size beyond the
     * address space is what Windows calls an invalid parameter here. */
    DWORD code = GetLastError();
    return code == ERROR_INVALID_PARAMETER ? VMP_ENOMEM : win_error(code);
  }
  char *aligned = (char *)(((uintptr_t)raw + alignment - 1) & ~(uintptr_t)(alignment - 1));
  size_t head = (size_t)(aligned - raw), tail = slack - head;
  int err = 0;
  /* Cut the unaligned head and tail off as placeholders of their own and
   * give only those back. */
  if (head && !split_placeholder(raw, head)) err = last_error();
  if (!err && head && !SYS(VirtualFree)(raw, 0, MEM_RELEASE)) err = last_error();
  if (!err && tail && !split_placeholder(aligned + size, tail)) err = last_error();
  if (!err && tail && !SYS(VirtualFree)(aligned + size, 0, MEM_RELEASE)) err = last_error();
  if (err) {
    /* Give back whatever part of the reservation is still ours. */
    MEMORY_BASIC_INFORMATION mbi;
    for (char *p = raw; p < raw + size + slack; p += mbi.RegionSize) {
      if (query(p, &mbi)) break;
      if (mbi.State != MEM_FREE) SYS(VirtualFree)(mbi.AllocationBase, 0, MEM_RELEASE);
    }
    return err;
  }
  *base = aligned;
  return 0;
}

/* VirtualAlloc2 at a base address reserves there or fails: it never
 * replaces what is there (ERROR_INVALID_ADDRESS, 487). */
int vmp__os_reserve_at(void *addr, size_t size) {
  if (!supported()) return VMP_ENOTSUP;
  if (SYS(VirtualAlloc2)(NULL, addr, size, MEM_RESERVE | PLACEHOLDER_RESERVE, PAGE_NOACCESS, NULL,
                         0))
    return 0;
  DWORD code = GetLastError();
  return code == ERROR_INVALID_ADDRESS ? VMP_EADDRINUSE : win_error(code);
}

/* MEM_ADDRESS_REQUIREMENTS and the MEM_EXTENDED_PARAMETER that carries it
 * (MemExtendedParameterAddressRequirements), laid out as winnt.h does:
 * older MinGW headers lack them. */
typedef struct address_requirements {
  void *lowest;
  void *highest; /* the last acceptable byte */
  SIZE_T alignment;
} address_requirements;
typedef struct extended_parameter {
  DWORD64 type; /* the low 8 bits */
  void *pointer;
} extended_parameter;
#define EXTENDED_ADDRESS_REQUIREMENTS 1

/* The system finds the gap. With arguments the core has checked, a
 * refusal means no range of that size and alignment is free in the
 * window (Windows says ERROR_NOT_ENOUGH_MEMORY or ERROR_INVALID_ADDRESS;
 * a window past the highest address a program may use is empty). */
int vmp__os_reserve_in(uintptr_t lowest, uintptr_t highest, size_t size, size_t alignment,
                       void **base) {
  if (!supported()) return VMP_ENOTSUP;
  uintptr_t last = highest - 1 < highest_address ? highest - 1 : highest_address;
  if (lowest > last || size - 1 > last - lowest) return VMP_EADDRINUSE;
  address_requirements req = {(void *)lowest, (void *)last, alignment};
  extended_parameter param = {EXTENDED_ADDRESS_REQUIREMENTS, &req};
  void *p = SYS(VirtualAlloc2)(NULL, NULL, size, MEM_RESERVE | PLACEHOLDER_RESERVE, PAGE_NOACCESS,
                               &param, 1);
  if (p) {
    *base = p;
    return 0;
  }
  DWORD code = GetLastError();
  return code == ERROR_NOT_ENOUGH_MEMORY || code == ERROR_INVALID_ADDRESS ? VMP_EADDRINUSE
                                                                          : win_error(code);
}

/* Gives one allocation of a region back: a view, a private allocation or a
 * placeholder. A failure is tried once more, because the pieces already
 * given back cannot be taken again. */
static int release_allocation(const allocation *a, int is_view) {
  for (int attempt = 0;; attempt++) {
    BOOL ok = is_view ? SYS(UnmapViewOfFile2)(GetCurrentProcess(), a->base, 0)
                      : SYS(VirtualFree)(a->base, 0, MEM_RELEASE);
    if (ok) return 0;
    if (attempt == 1) return last_error();
  }
}

/* Windows frees a region one allocation at a time. Everything that can
 * fail without harm (finding the allocations, room for the list) happens
 * before the first is given back; a free that fails is tried once more. If
 * one still fails, the region is partly given back; calling release again
 * gives back the rest (pieces already free are passed over). */
int vmp__os_release(void *base, size_t size) {
  size_t count = 0, room = 16;
  allocation *list = vmp__malloc(room * sizeof *list);
  int *views = vmp__malloc(room * sizeof *views);
  int err = list && views ? 0 : VMP_ENOMEM;
  for (char *p = base, *end = (char *)base + size; !err && p < end;) {
    MEMORY_BASIC_INFORMATION mbi;
    err = query(p, &mbi);
    if (err) break;
    if (mbi.State == MEM_FREE) {
      p = (char *)mbi.BaseAddress + mbi.RegionSize;
      continue;
    }
    if (count == room) {
      allocation *bigger_list = vmp__malloc(2 * room * sizeof *list);
      int *bigger_views = vmp__malloc(2 * room * sizeof *views);
      if (!bigger_list || !bigger_views) {
        vmp__free(bigger_list);
        vmp__free(bigger_views);
        err = VMP_ENOMEM;
        break;
      }
      memcpy(bigger_list, list, count * sizeof *list);
      memcpy(bigger_views, views, count * sizeof *views);
      vmp__free(list);
      vmp__free(views);
      list = bigger_list;
      views = bigger_views;
      room *= 2;
    }
    err = allocation_at(p, &list[count]);
    views[count] = mbi.Type == MEM_MAPPED;
    if (!err) p = list[count++].end;
  }
  for (size_t i = 0; !err && i < count; i++) err = release_allocation(&list[i], views[i]);
  vmp__free(list);
  vmp__free(views);
  return err;
}

/* Placeholders are the core's bookkeeping until one is replaced. */
int vmp__os_split(void *ph, size_t ph_size, void *addr, size_t size) {
  (void)ph, (void)ph_size, (void)addr, (void)size;
  return 0;
}
int vmp__os_coalesce(void *addr, size_t size) {
  (void)addr, (void)size;
  return 0;
}

static DWORD page_protection(int prot) {
  int exec = prot & VMP_PROT_EXEC;
  switch (prot & VMP_PROT_RW) {
    case VMP_PROT_RW:
      return exec ? PAGE_EXECUTE_READWRITE : PAGE_READWRITE;
    case VMP_PROT_READ:
      return exec ? PAGE_EXECUTE_READ : PAGE_READONLY;
    default:
      return PAGE_NOACCESS;
  }
}

int vmp__os_commit(void *addr, size_t size, int prot) {
  if (!supported()) return VMP_ENOTSUP;
  cuts made;
  int err = exact_placeholder(addr, size, &made);
  if (!err && !SYS(VirtualAlloc2)(NULL, addr, size, MEM_RESERVE | MEM_COMMIT | PLACEHOLDER_REPLACE,
                                  page_protection(prot), NULL, 0)) {
    err = last_error();
    undo_cuts(&made);
  }
  return err;
}

/* ---- memory objects ------------------------------------------------------------- */

typedef struct win_object {
  HANDLE file;    /* a regular file, or NULL */
  HANDLE section; /* a section (anonymous or adopted), or NULL for files */
  uint64_t size;  /* a section's fixed size */
  int writable;   /* views may write */
} win_object;

static win_object *object_of(vmp__os_handle h) { return (win_object *)h; }

static int new_object(win_object **out) {
  win_object *o = vmp__calloc(1, sizeof *o);
  if (!o) return VMP_ENOMEM;
  *out = o;
  return 0;
}

/* A named section would be a kernel object anyone could open: the name
 * is not given to Windows, and only memfd objects carry one. */
int vmp__os_object_create_named(uint64_t size, const char *name, unsigned how, vmp__os_handle *out,
                                unsigned *traits) {
  (void)name;
  int err = vmp__os_object_create(size, out, traits);
  /* Sections are created exec-capable (PAGE_EXECUTE_READWRITE). */
  if (!err && (how & VMP__CREATE_EXEC)) *traits |= VMP__OBJ_EXEC;
  return err;
}

/* Windows shows no name for private memory. */
int vmp__os_label_private(void *addr, size_t size, const char *name) {
  (void)addr, (void)size, (void)name;
  return 0;
}

int vmp__os_object_create(uint64_t size, vmp__os_handle *out, unsigned *traits) {
  win_object *o;
  int err = new_object(&o);
  if (err) return err;
  o->section = SYS(CreateFileMappingW)(INVALID_HANDLE_VALUE, NULL, PAGE_EXECUTE_READWRITE,
                                       (DWORD)(size >> 32), (DWORD)size, NULL);
  if (!o->section) {
    err = last_error();
    vmp__free(o);
    return err;
  }
  o->size = size;
  o->writable = 1;
  /* A pagefile section never changes size. */
  *traits = VMP__OBJ_NO_SHRINK | VMP__OBJ_BACKING(VMP_BACKING_SECTION);
  *out = (vmp__os_handle)o;
  return 0;
}

static int is_separator(WCHAR c) { return c == L'\\' || c == L'/'; }

/* \\.\ and \\?\ paths name pipes and devices as well as files; only the
 * forms that lead to a volume or a share (\\?\C:\..., \\?\UNC\...) can
 * name a file. */
static int is_device_path(const WCHAR *p) {
  if (!is_separator(p[0]) || !is_separator(p[1]) || (p[2] != L'.' && p[2] != L'?') ||
      !is_separator(p[3]))
    return 0;
  const WCHAR *rest = p + 4;
  int letter = (rest[0] >= L'A' && rest[0] <= L'Z') || (rest[0] >= L'a' && rest[0] <= L'z');
  if (letter && rest[1] == L':' && (rest[2] == 0 || is_separator(rest[2]))) return 0;
  int unc = (rest[0] == L'U' || rest[0] == L'u') && (rest[1] == L'N' || rest[1] == L'n') &&
            (rest[2] == L'C' || rest[2] == L'c') && is_separator(rest[3]);
  return !unc;
}

/* CreateFileW on a named pipe connects to its server (taking its one
 * instance, or waiting for it), and on some devices it acts or waits:
 * pipes, devices and directories are refused from the name before
 * anything is opened. GetFileType after the open stays the last word, for
 * the reserved DOS names (NUL, CON, ...), which open at once. */
int vmp__os_object_open(const char *path, int writable, vmp__os_handle *out, unsigned *traits) {
  WCHAR wide[MAX_PATH * 4];
  if (!MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, wide,
                           (int)(sizeof wide / sizeof wide[0])))
    return last_error();
  if (is_device_path(wide)) return VMP_EINVAL;
  DWORD attributes = GetFileAttributesW(wide);
  if (attributes != INVALID_FILE_ATTRIBUTES && (attributes & FILE_ATTRIBUTE_DIRECTORY))
    return VMP_EINVAL;
  win_object *o;
  int err = new_object(&o);
  if (err) return err;
  /* FILE_SHARE_DELETE: a caller may delete the file while views of it live. */
  o->file = SYS(CreateFileW)(wide, GENERIC_READ | (writable ? GENERIC_WRITE : 0),
                             FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                             OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
  if (o->file == INVALID_HANDLE_VALUE) {
    err = last_error();
    vmp__free(o);
    return err;
  }
  o->writable = writable;
  if (SYS(GetFileType)(o->file) != FILE_TYPE_DISK) {
    SYS(CloseHandle)(o->file);
    vmp__free(o);
    return VMP_EINVAL;
  }
  *traits = VMP__OBJ_BACKING(VMP_BACKING_FILE);
  *out = (vmp__os_handle)o;
  return 0;
}

/* NtQueryObject's ObjectBasicInformation and NtQuerySection's
 * SectionBasicInformation, as much of them as is read here. */
typedef struct object_basic_info { /* 56 bytes: a shorter buffer is refused */
  ULONG attributes;
  ACCESS_MASK granted_access;
  ULONG rest[12];
} object_basic_info;
typedef struct section_basic_info {
  PVOID base;
  ULONG attributes;
  LARGE_INTEGER size;
} section_basic_info;

#define FILE_WRITE_ACCESS 0x0002    /* FILE_WRITE_DATA */
#define SECTION_WRITE_ACCESS 0x0002 /* SECTION_MAP_WRITE */

int vmp__os_object_adopt(intptr_t native, int want_write, int *writable, unsigned *traits,
                         vmp__os_handle *out) {
  HANDLE h = (HANDLE)native;
  if (!h || h == INVALID_HANDLE_VALUE) return VMP_EINVAL;
  if (!loaded.nt_query_object || !loaded.nt_query_section) {
    vmp__os_caps_get();
    if (!loaded.nt_query_object || !loaded.nt_query_section) return VMP_ENOTSUP;
  }
  object_basic_info info;
  if (SYS(NtQueryObject)(h, 0, &info, sizeof info, NULL) < 0) return VMP_EINVAL;
  /* A section answers NtQuerySection; ask that first, because GetFileType
   * calls a section a disk file under Wine. */
  section_basic_info section = {0};
  int is_file = SYS(NtQuerySection)(h, 0, &section, sizeof section, NULL) < 0;
  if (is_file && SYS(GetFileType)(h) != FILE_TYPE_DISK) return VMP_EINVAL;
  *writable = (info.granted_access & (is_file ? FILE_WRITE_ACCESS : SECTION_WRITE_ACCESS)) != 0;
  if (want_write && !*writable) return VMP_EACCES;
  win_object *o;
  int err = new_object(&o);
  if (err) return err;
  o->writable = *writable;
  if (is_file) {
    o->file = h;
    *traits = VMP__OBJ_BACKING(VMP_BACKING_DESCRIPTOR);
  } else {
    o->section = h;
    o->size = (uint64_t)section.size.QuadPart;
    *traits = VMP__OBJ_NO_SHRINK | VMP__OBJ_BACKING(VMP_BACKING_SECTION);
  }
  *out = (vmp__os_handle)o;
  return 0;
}

void vmp__os_object_forget(vmp__os_handle h) { vmp__free(object_of(h)); }

intptr_t vmp__os_object_native(vmp__os_handle h) {
  win_object *o = object_of(h);
  return (intptr_t)(o->file ? o->file : o->section);
}

int vmp__os_native_dup(intptr_t native, intptr_t *out) {
  HANDLE copy, self = GetCurrentProcess();
  if (!native || (HANDLE)native == INVALID_HANDLE_VALUE) return VMP_EINVAL;
  if (!SYS(DuplicateHandle)(self, (HANDLE)native, self, &copy, 0, FALSE, DUPLICATE_SAME_ACCESS)) {
    DWORD code = GetLastError();
    return code == ERROR_INVALID_HANDLE ? VMP_EINVAL : win_error(code);
  }
  *out = (intptr_t)copy;
  return 0;
}

void vmp__os_native_close(intptr_t native) { SYS(CloseHandle)((HANDLE)native); }

int vmp__os_object_size(vmp__os_handle h, uint64_t *size) {
  win_object *o = object_of(h);
  if (!o->file) {
    *size = o->size;
    return 0;
  }
  LARGE_INTEGER li;
  if (!SYS(GetFileSizeEx)(o->file, &li)) return last_error();
  *size = (uint64_t)li.QuadPart;
  return 0;
}

int vmp__os_object_grow(vmp__os_handle h, uint64_t new_size) {
  win_object *o = object_of(h);
  if (!o->file) return VMP_ENOTSUP; /* a section's size is fixed */
  FILE_END_OF_FILE_INFO eof;
  eof.EndOfFile.QuadPart = (LONGLONG)new_size;
  if (!SYS(SetFileInformationByHandle)(o->file, FileEndOfFileInfo, &eof, sizeof eof))
    return last_error();
  return 0;
}

int vmp__os_object_close(vmp__os_handle h) {
  win_object *o = object_of(h);
  BOOL ok = SYS(CloseHandle)(o->file ? o->file : o->section);
  int err = ok ? 0 : last_error();
  vmp__free(o);
  return err;
}

int vmp__os_map(void *addr, size_t size, vmp__os_handle h, uint64_t offset, int prot) {
  if (!supported()) return VMP_ENOTSUP;
  if (offset % caps.view_offset_unit) return VMP_ENOTSUP;
  win_object *o = object_of(h);
  int err;
  HANDLE section = o->section;
  /* A file's section ends at the file's last byte; a view that covers the
   * rest of that last page asks for the bytes up to the end of the file,
   * and the system maps the whole page (zeros past the end). The size is
   * taken first and the section made exactly that large: a file another
   * process is appending to may be longer by the time the section is made,
   * and a view sized from a later look would then not fit in it. */
  size_t view_bytes = size;
  uint64_t file_size = 0;
  if (o->file) {
    err = vmp__os_object_size(h, &file_size);
    if (!err && file_size <= offset) err = VMP_EBOUNDS; /* shrunk since the core looked */
    if (err) return err;
    if (offset + size > file_size) view_bytes = (size_t)(file_size - offset);
  }
  if (!section) {
    /* A file's section is made for each view, at that size: a section
     * cannot be made of an empty file, nor follow it as it grows. It
     * allows what the file allows, so the view's protection can later be
     * raised as far as the object permits. */
    section = SYS(CreateFileMappingW)(o->file, NULL, o->writable ? PAGE_READWRITE : PAGE_READONLY,
                                      (DWORD)(file_size >> 32), (DWORD)file_size, NULL);
    if (!section) return last_error();
  }
  /* A view's protection can later be changed only within what it was
   * mapped with (VirtualProtect's rule; Wine keeps it too), which is the
   * view's ceiling in the core (see vmp_map). A view that does not
   * execute is mapped with the most the object allows and lowered, so
   * that it can be raised later. An executable view is mapped with
   * exactly what was asked: mapped writable and lowered, it would be
   * writable and executable for the length of this call. */
  int most = (prot & VMP_PROT_EXEC) ? prot : o->writable ? VMP_PROT_RW : VMP_PROT_READ;
  cuts made;
  err = exact_placeholder(addr, size, &made);
  if (!err && !SYS(MapViewOfFile3)(section, NULL, addr, offset, view_bytes, PLACEHOLDER_REPLACE,
                                   page_protection(most), NULL, 0)) {
    DWORD code = GetLastError();
    /* The offset is refused, not the memory: a capability the system lacks. */
    err =
        code == ERROR_MAPPED_ALIGNMENT && offset % caps.granularity ? VMP_ENOTSUP : win_error(code);
    undo_cuts(&made);
  } else if (!err && most != prot && (err = vmp__os_protect(addr, size, prot)) != 0) {
    SYS(UnmapViewOfFile2)(GetCurrentProcess(), addr, PLACEHOLDER_PRESERVE);
    undo_cuts(&made);
  }
  /* The view keeps its section alive. */
  if (section != o->section) SYS(CloseHandle)(section);
  return err;
}

/* UnmapViewOfFile2 either unmaps or changes nothing: the view needs no
 * restoring. */
int vmp__os_unmap_view(void *addr, size_t size, vmp__os_handle h, uint64_t offset, int prot) {
  (void)size, (void)h, (void)offset, (void)prot;
  if (!SYS(UnmapViewOfFile2)(GetCurrentProcess(), addr, PLACEHOLDER_PRESERVE)) return last_error();
  return 0;
}

int vmp__os_unmap_private(void *span, size_t span_size, void *addr, size_t size) {
  (void)span, (void)span_size;
  if (!SYS(VirtualFree)(addr, size, MEM_RELEASE | PLACEHOLDER_PRESERVE)) return last_error();
  return 0;
}

/* The core keeps a view within what it was mapped with (the view's
 * ceiling, see vmp_map), so VirtualProtect is never asked for more. */
int vmp__os_protect(void *addr, size_t size, int prot) {
  DWORD old;
  if (!SYS(VirtualProtect)(addr, size, page_protection(prot), &old)) return last_error();
  return 0;
}

/* Decommitting and committing again is the one way to get zeroed pages
 * back in place. A commit gives one protection: pages of several are left
 * to the core, which asks again run by run. */
int vmp__os_discard(void *addr, size_t size, int prot) {
  if (prot == VMP__PROT_MIXED) return VMP_ENOTSUP;
  if (!SYS(VirtualFree)(addr, size, MEM_DECOMMIT)) return last_error();
  if (SYS(VirtualAlloc)(addr, size, MEM_COMMIT, page_protection(prot))) return 0;
  int err = last_error();
  /* The pages are decommitted now; one more try before reporting it. */
  if (SYS(VirtualAlloc)(addr, size, MEM_COMMIT, page_protection(prot))) return 0;
  return err;
}

/* ---- rings ------------------------------------------------------------------------ */

/* A section's size is fixed when it is created: sealed by nature. A file
 * object is not. */
int vmp__os_object_seal_size(vmp__os_handle h) { return object_of(h)->file ? VMP_ENOTSUP : 0; }

int vmp__os_object_size_sealed(vmp__os_handle h) { return object_of(h)->file ? 0 : 1; }

/* Large pages need a privilege (SeLockMemoryPrivilege) and physically
 * contiguous memory; not offered. */
int vmp__os_huge_page_size(uint64_t bytes, size_t *size) {
  (void)bytes, (void)size;
  return VMP_ENOTSUP;
}

int vmp__os_object_create_huge(uint64_t size, vmp__os_handle *out, unsigned *traits) {
  (void)size, (void)out, (void)traits;
  return VMP_ENOTSUP;
}

/* Windows has no transparent huge pages. */
int vmp__os_advise_huge(void *addr, size_t size) {
  (void)addr, (void)size;
  return 0;
}

/* Windows has no fork: nothing is ever inherited that way. */
int vmp__os_no_inherit(void *addr, size_t size) {
  (void)addr, (void)size;
  return 0;
}

/* WaitOnAddress wakes a waiter of this process as soon as WakeByAddressAll
 * is called on the word, but a waker in another process (a ring shared
 * through its section) cannot reach it: each wait is at most
 * CROSS_PROCESS_LOOK_MS, after which the word is looked at again. Where
 * WaitOnAddress is missing (before Windows 8), the wait polls with Sleep. */
#define CROSS_PROCESS_LOOK_MS 1

int vmp__os_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns) {
  vmp__os_caps_get(); /* finds WaitOnAddress */
  ULONGLONG start = GetTickCount64();
  DWORD pause_ms = 0;
  unsigned spins = 0;
  while (atomic_load_explicit(word, memory_order_acquire) == expected) {
    int64_t spent_ns = (int64_t)(GetTickCount64() - start) * 1000000;
    if (timeout_ns >= 0 && spent_ns >= timeout_ns) return VMP_ETIMEDOUT;
    if (loaded.wait_on_address) {
      uint32_t compare = expected;
      loaded.wait_on_address((volatile VOID *)word, &compare, sizeof compare,
                             CROSS_PROCESS_LOOK_MS);
      continue;
    }
    /* Sleep(0) yields; after a few, sleep a millisecond at a time. */
    Sleep(pause_ms);
    if (++spins > 64) pause_ms = 1;
  }
  return 0;
}

void vmp__os_wake_all(_Atomic uint32_t *word) {
  vmp__os_caps_get();
  if (loaded.wake_by_address_all) loaded.wake_by_address_all((PVOID)word);
}

int64_t vmp__os_monotonic_ns(void) {
  static LARGE_INTEGER frequency; /* constant after boot: racing writers agree */
  LARGE_INTEGER now;
  if (frequency.QuadPart == 0) QueryPerformanceFrequency(&frequency);
  QueryPerformanceCounter(&now);
  return (int64_t)((double)now.QuadPart * 1e9 / (double)frequency.QuadPart);
}

void vmp__os_cpu_relax(void) { YieldProcessor(); }

/* ---- handle I/O --------------------------------------------------------------- */

/* ReadFile and WriteFile take a DWORD count. */
static DWORD io_count(size_t n) { return n > (size_t)0x40000000 ? 0x40000000u : (DWORD)n; }

int vmp__os_read(intptr_t fd, void *buf, size_t n, size_t *got) {
  DWORD done = 0;
  if (!SYS(ReadFile)((HANDLE)fd, buf, io_count(n), &done, NULL)) {
    DWORD code = GetLastError();
    /* A pipe whose writer closed is the end of the input. */
    if (code != ERROR_BROKEN_PIPE && code != ERROR_HANDLE_EOF) return win_error(code);
    done = 0;
  }
  *got = done;
  return 0;
}

int vmp__os_interrupted(int err) {
  (void)err;
  return 0;
}

/* Windows has no SIGPIPE: a pipe whose reader is gone fails the call. */
int vmp__os_write(intptr_t fd, const void *buf, size_t n, size_t *put) {
  DWORD done = 0;
  if (!SYS(WriteFile)((HANDLE)fd, buf, io_count(n), &done, NULL)) return last_error();
  *put = done;
  return 0;
}

/* FlushProcessWriteBuffers reaches only this process's threads, and a ring
 * may be shared between processes: publishers fence. */
int vmp__os_remote_barrier_ready(void) { return 0; }
int vmp__os_remote_barrier(void) { return VMP_ENOTSUP; }

/* ReadProcessMemory on this process copies through the system, which
 * reports a page it cannot bring in (an in-page I/O error, a file on a
 * network share gone away) as a failure instead of raising
 * EXCEPTION_IN_PAGE_ERROR, and MinGW C has no __try to catch that. A file
 * with a view cannot be truncated on Windows (ERROR_USER_MAPPED_FILE), so
 * that is the only way bytes go away here. */
int vmp__os_read_memory(void *dst, const void *src, size_t n) {
  SIZE_T got = 0;
  if (n == 0 || SYS(ReadProcessMemory)(GetCurrentProcess(), src, dst, n, &got)) return 0;
  DWORD code = GetLastError();
  return code == ERROR_PARTIAL_COPY || code == ERROR_NOACCESS ? VMP_EGONE : win_error(code);
}
