/* The Windows wrappers: the calls of src/os/windows.c (WINDOWS_SYSCALLS). */
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "support_inject.h"

/* Out of memory for memory calls, access denied for files: failures that
 * the library must report, not work around. */
#define FAIL_WITH(value, code)    \
  do {                            \
    if (inject_this_call_fails()) { \
      SetLastError(code);         \
      return (value);             \
    }                             \
  } while (0)

#define STATUS_NO_MEMORY_VALUE ((LONG)0xC0000017L)

typedef PVOID(WINAPI *virtual_alloc2_fn)(HANDLE, PVOID, SIZE_T, ULONG, ULONG, void *, ULONG);
typedef PVOID(WINAPI *map_view3_fn)(HANDLE, HANDLE, PVOID, ULONG64, SIZE_T, ULONG, ULONG, void *,
                                    ULONG);
typedef BOOL(WINAPI *unmap_view2_fn)(HANDLE, PVOID, ULONG);
typedef LPVOID(WINAPI *virtual_alloc_fn)(LPVOID, SIZE_T, DWORD, DWORD);
typedef BOOL(WINAPI *virtual_free_fn)(LPVOID, SIZE_T, DWORD);
typedef BOOL(WINAPI *virtual_protect_fn)(LPVOID, SIZE_T, DWORD, PDWORD);
typedef SIZE_T(WINAPI *virtual_query_fn)(LPCVOID, PMEMORY_BASIC_INFORMATION, SIZE_T);
typedef HANDLE(WINAPI *create_mapping_fn)(HANDLE, LPSECURITY_ATTRIBUTES, DWORD, DWORD, DWORD,
                                          LPCWSTR);
typedef HANDLE(WINAPI *create_file_fn)(LPCWSTR, DWORD, DWORD, LPSECURITY_ATTRIBUTES, DWORD, DWORD,
                                       HANDLE);
typedef BOOL(WINAPI *file_size_fn)(HANDLE, PLARGE_INTEGER);
typedef BOOL(WINAPI *set_info_fn)(HANDLE, FILE_INFO_BY_HANDLE_CLASS, LPVOID, DWORD);
typedef DWORD(WINAPI *file_type_fn)(HANDLE);
typedef BOOL(WINAPI *close_fn)(HANDLE);
typedef BOOL(WINAPI *duplicate_fn)(HANDLE, HANDLE, HANDLE, LPHANDLE, DWORD, BOOL, DWORD);
typedef LONG(WINAPI *query_object_fn)(HANDLE, int, PVOID, ULONG, PULONG);
typedef LONG(WINAPI *query_section_fn)(HANDLE, int, PVOID, SIZE_T, PSIZE_T);

static vmp__syscall_fn real_VirtualAlloc2, real_MapViewOfFile3, real_UnmapViewOfFile2,
    real_VirtualAlloc, real_VirtualFree, real_VirtualProtect, real_VirtualQuery,
    real_CreateFileMappingW, real_CreateFileW, real_GetFileSizeEx,
    real_SetFileInformationByHandle, real_GetFileType, real_CloseHandle, real_DuplicateHandle,
    real_NtQueryObject, real_NtQuerySection, real_ReadFile, real_WriteFile;

static PVOID WINAPI w_VirtualAlloc2(HANDLE p, PVOID b, SIZE_T s, ULONG t, ULONG pr, void *e,
                                    ULONG n) {
  FAIL_WITH(NULL, ERROR_NOT_ENOUGH_MEMORY);
  return ((virtual_alloc2_fn)real_VirtualAlloc2)(p, b, s, t, pr, e, n);
}
static PVOID WINAPI w_MapViewOfFile3(HANDLE f, HANDLE p, PVOID b, ULONG64 o, SIZE_T s, ULONG t,
                                     ULONG pr, void *e, ULONG n) {
  FAIL_WITH(NULL, ERROR_NOT_ENOUGH_MEMORY);
  return ((map_view3_fn)real_MapViewOfFile3)(f, p, b, o, s, t, pr, e, n);
}
static BOOL WINAPI w_UnmapViewOfFile2(HANDLE p, PVOID b, ULONG f) {
  FAIL_WITH(FALSE, ERROR_NOT_ENOUGH_MEMORY);
  return ((unmap_view2_fn)real_UnmapViewOfFile2)(p, b, f);
}
static LPVOID WINAPI w_VirtualAlloc(LPVOID a, SIZE_T s, DWORD t, DWORD p) {
  FAIL_WITH(NULL, ERROR_NOT_ENOUGH_MEMORY);
  return ((virtual_alloc_fn)real_VirtualAlloc)(a, s, t, p);
}
static BOOL WINAPI w_VirtualFree(LPVOID a, SIZE_T s, DWORD t) {
  FAIL_WITH(FALSE, ERROR_NOT_ENOUGH_MEMORY);
  return ((virtual_free_fn)real_VirtualFree)(a, s, t);
}
static BOOL WINAPI w_VirtualProtect(LPVOID a, SIZE_T s, DWORD p, PDWORD old) {
  FAIL_WITH(FALSE, ERROR_NOT_ENOUGH_MEMORY);
  return ((virtual_protect_fn)real_VirtualProtect)(a, s, p, old);
}
static SIZE_T WINAPI w_VirtualQuery(LPCVOID a, PMEMORY_BASIC_INFORMATION m, SIZE_T n) {
  FAIL_WITH(0, ERROR_NOT_ENOUGH_MEMORY);
  return ((virtual_query_fn)real_VirtualQuery)(a, m, n);
}
static HANDLE WINAPI w_CreateFileMappingW(HANDLE f, LPSECURITY_ATTRIBUTES sa, DWORD p, DWORD hi,
                                          DWORD lo, LPCWSTR name) {
  FAIL_WITH(NULL, ERROR_NOT_ENOUGH_MEMORY);
  return ((create_mapping_fn)real_CreateFileMappingW)(f, sa, p, hi, lo, name);
}
static HANDLE WINAPI w_CreateFileW(LPCWSTR n, DWORD a, DWORD s, LPSECURITY_ATTRIBUTES sa, DWORD c,
                                   DWORD fl, HANDLE t) {
  FAIL_WITH(INVALID_HANDLE_VALUE, ERROR_ACCESS_DENIED);
  return ((create_file_fn)real_CreateFileW)(n, a, s, sa, c, fl, t);
}
static BOOL WINAPI w_GetFileSizeEx(HANDLE f, PLARGE_INTEGER size) {
  FAIL_WITH(FALSE, ERROR_ACCESS_DENIED);
  return ((file_size_fn)real_GetFileSizeEx)(f, size);
}
static BOOL WINAPI w_SetFileInformationByHandle(HANDLE f, FILE_INFO_BY_HANDLE_CLASS c, LPVOID i,
                                                DWORD n) {
  FAIL_WITH(FALSE, ERROR_ACCESS_DENIED);
  return ((set_info_fn)real_SetFileInformationByHandle)(f, c, i, n);
}
static DWORD WINAPI w_GetFileType(HANDLE f) {
  FAIL_WITH(FILE_TYPE_UNKNOWN, ERROR_ACCESS_DENIED);
  return ((file_type_fn)real_GetFileType)(f);
}
static BOOL WINAPI w_CloseHandle(HANDLE h) {
  FAIL_WITH(FALSE, ERROR_ACCESS_DENIED);
  return ((close_fn)real_CloseHandle)(h);
}
static BOOL WINAPI w_DuplicateHandle(HANDLE sp, HANDLE h, HANDLE tp, LPHANDLE out, DWORD a,
                                     BOOL inherit, DWORD o) {
  FAIL_WITH(FALSE, ERROR_NOT_ENOUGH_MEMORY);
  return ((duplicate_fn)real_DuplicateHandle)(sp, h, tp, out, a, inherit, o);
}
static LONG WINAPI w_NtQueryObject(HANDLE h, int c, PVOID i, ULONG n, PULONG r) {
  FAIL_WITH(STATUS_NO_MEMORY_VALUE, ERROR_NOT_ENOUGH_MEMORY);
  return ((query_object_fn)real_NtQueryObject)(h, c, i, n, r);
}
static LONG WINAPI w_NtQuerySection(HANDLE h, int c, PVOID i, SIZE_T n, PSIZE_T r) {
  FAIL_WITH(STATUS_NO_MEMORY_VALUE, ERROR_NOT_ENOUGH_MEMORY);
  return ((query_section_fn)real_NtQuerySection)(h, c, i, n, r);
}

typedef BOOL(WINAPI *read_file_fn)(HANDLE, LPVOID, DWORD, LPDWORD, LPOVERLAPPED);
typedef BOOL(WINAPI *write_file_fn)(HANDLE, LPCVOID, DWORD, LPDWORD, LPOVERLAPPED);
static BOOL WINAPI w_ReadFile(HANDLE h, LPVOID b, DWORD n, LPDWORD got, LPOVERLAPPED o) {
  FAIL_WITH(FALSE, ERROR_GEN_FAILURE);
  return ((read_file_fn)real_ReadFile)(h, b, n, got, o);
}
static BOOL WINAPI w_WriteFile(HANDLE h, LPCVOID b, DWORD n, LPDWORD put, LPOVERLAPPED o) {
  FAIL_WITH(FALSE, ERROR_DISK_FULL);
  return ((write_file_fn)real_WriteFile)(h, b, n, put, o);
}

#define WRAPPER(name) {#name, (vmp__syscall_fn)w_##name, &real_##name}

static const inject_wrapper wrappers[] = {
    WRAPPER(VirtualAlloc2),      WRAPPER(MapViewOfFile3),
    WRAPPER(UnmapViewOfFile2),   WRAPPER(VirtualAlloc),
    WRAPPER(VirtualFree),        WRAPPER(VirtualProtect),
    WRAPPER(VirtualQuery),       WRAPPER(CreateFileMappingW),
    WRAPPER(CreateFileW),        WRAPPER(GetFileSizeEx),
    WRAPPER(SetFileInformationByHandle), WRAPPER(GetFileType),
    WRAPPER(CloseHandle),        WRAPPER(DuplicateHandle),
    WRAPPER(NtQueryObject),
    WRAPPER(NtQuerySection),
    WRAPPER(ReadFile),
    WRAPPER(WriteFile),
};

const inject_wrapper *inject_platform_wrappers(size_t *count) {
  *count = sizeof wrappers / sizeof wrappers[0];
  return wrappers;
}

#else
typedef int vmpt_inject_windows_unused;
#endif
