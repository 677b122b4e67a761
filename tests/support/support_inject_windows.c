/* The Windows wrappers: the calls of src/os/windows.c (WINDOWS_SYSCALLS). */
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "support_inject.h"

#define STATUS_NO_MEMORY_VALUE ((LONG)0xC0000017L)

/* X(name, return type, parameters, arguments, failure value, usual error):
 * out of memory for memory calls, access denied for files, failures that
 * the library must report, not work around. */
#define WINDOWS_WRAPPERS(X)                                                                        \
  X(VirtualAlloc2, PVOID, (HANDLE p, PVOID b, SIZE_T s, ULONG t, ULONG pr, void *e, ULONG n),      \
    (p, b, s, t, pr, e, n), NULL, ERROR_NOT_ENOUGH_MEMORY)                                         \
  X(MapViewOfFile3, PVOID,                                                                         \
    (HANDLE f, HANDLE p, PVOID b, ULONG64 o, SIZE_T s, ULONG t, ULONG pr, void *e, ULONG n),       \
    (f, p, b, o, s, t, pr, e, n), NULL, ERROR_NOT_ENOUGH_MEMORY)                                   \
  X(UnmapViewOfFile2, BOOL, (HANDLE p, PVOID b, ULONG f), (p, b, f), FALSE,                        \
    ERROR_NOT_ENOUGH_MEMORY)                                                                       \
  X(VirtualAlloc, LPVOID, (LPVOID a, SIZE_T s, DWORD t, DWORD p), (a, s, t, p), NULL,              \
    ERROR_NOT_ENOUGH_MEMORY)                                                                       \
  X(VirtualFree, BOOL, (LPVOID a, SIZE_T s, DWORD t), (a, s, t), FALSE, ERROR_NOT_ENOUGH_MEMORY)   \
  X(VirtualProtect, BOOL, (LPVOID a, SIZE_T s, DWORD p, PDWORD old), (a, s, p, old), FALSE,        \
    ERROR_NOT_ENOUGH_MEMORY)                                                                       \
  X(VirtualQuery, SIZE_T, (LPCVOID a, PMEMORY_BASIC_INFORMATION m, SIZE_T n), (a, m, n), 0,        \
    ERROR_NOT_ENOUGH_MEMORY)                                                                       \
  X(CreateFileMappingW, HANDLE,                                                                    \
    (HANDLE f, LPSECURITY_ATTRIBUTES sa, DWORD p, DWORD hi, DWORD lo, LPCWSTR name),               \
    (f, sa, p, hi, lo, name), NULL, ERROR_NOT_ENOUGH_MEMORY)                                       \
  X(CreateFileW, HANDLE,                                                                           \
    (LPCWSTR n, DWORD a, DWORD s, LPSECURITY_ATTRIBUTES sa, DWORD c, DWORD fl, HANDLE t),          \
    (n, a, s, sa, c, fl, t), INVALID_HANDLE_VALUE, ERROR_ACCESS_DENIED)                            \
  X(GetFileSizeEx, BOOL, (HANDLE f, PLARGE_INTEGER size), (f, size), FALSE, ERROR_ACCESS_DENIED)   \
  X(SetFileInformationByHandle, BOOL, (HANDLE f, FILE_INFO_BY_HANDLE_CLASS c, LPVOID i, DWORD n),  \
    (f, c, i, n), FALSE, ERROR_ACCESS_DENIED)                                                      \
  X(GetFileType, DWORD, (HANDLE f), (f), FILE_TYPE_UNKNOWN, ERROR_ACCESS_DENIED)                   \
  X(CloseHandle, BOOL, (HANDLE h), (h), FALSE, ERROR_ACCESS_DENIED)                                \
  X(DuplicateHandle, BOOL,                                                                         \
    (HANDLE sp, HANDLE h, HANDLE tp, LPHANDLE out, DWORD a, BOOL inherit, DWORD o),                \
    (sp, h, tp, out, a, inherit, o), FALSE, ERROR_NOT_ENOUGH_MEMORY)                               \
  X(NtQueryObject, LONG, (HANDLE h, int c, PVOID i, ULONG n, PULONG r), (h, c, i, n, r),           \
    STATUS_NO_MEMORY_VALUE, ERROR_NOT_ENOUGH_MEMORY)                                               \
  X(NtQuerySection, LONG, (HANDLE h, int c, PVOID i, SIZE_T n, PSIZE_T r), (h, c, i, n, r),        \
    STATUS_NO_MEMORY_VALUE, ERROR_NOT_ENOUGH_MEMORY)                                               \
  X(ReadFile, BOOL, (HANDLE h, LPVOID b, DWORD n, LPDWORD got, LPOVERLAPPED o), (h, b, n, got, o), \
    FALSE, ERROR_GEN_FAILURE)                                                                      \
  X(WriteFile, BOOL, (HANDLE h, LPCVOID b, DWORD n, LPDWORD put, LPOVERLAPPED o),                  \
    (h, b, n, put, o), FALSE, ERROR_DISK_FULL)                                                     \
  X(ReadProcessMemory, BOOL, (HANDLE p, LPCVOID from, LPVOID to, SIZE_T n, SIZE_T * got),          \
    (p, from, to, n, got), FALSE, ERROR_NOACCESS)

#define DEFINE_WRAPPER(name, ret, params, args, failure, usual) \
  typedef ret(WINAPI *name##_fn) params;                        \
  static vmp__syscall_fn real_##name;                           \
  static ret WINAPI w_##name params {                           \
    if (inject_this_call_fails(#name)) {                        \
      SetLastError((DWORD)inject_error(usual));                 \
      return failure;                                           \
    }                                                           \
    return ((name##_fn)real_##name)args;                        \
  }
WINDOWS_WRAPPERS(DEFINE_WRAPPER)

#define WRAPPER_ENTRY(name, ret, params, args, failure, usual) \
  {#name, (vmp__syscall_fn)w_##name, &real_##name},

static const inject_wrapper wrappers[] = {WINDOWS_WRAPPERS(WRAPPER_ENTRY)};

const inject_wrapper *inject_platform_wrappers(size_t *count) {
  *count = sizeof wrappers / sizeof wrappers[0];
  return wrappers;
}

/* Windows never replaces a mapping destructively. */
void inject_destructive(int on) { (void)on; }

#else
typedef int vmpt_inject_windows_unused;
#endif
