/* Windows implementation: a zero-filled file in the temporary folder,
 * opened by the library and then deleted (the library opens files with
 * FILE_SHARE_DELETE, so the name goes while its handle lives on). */
#include "tempfile.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

static int last_error(void) {
  DWORD code = GetLastError();
  return code ? -(int)code : -(int)ERROR_GEN_FAILURE;
}

int vmp_cli_temp_file(uint64_t size, unsigned flags, vmp_mem **out) {
  char dir[MAX_PATH + 1], path[MAX_PATH + 1];
  DWORD n = GetTempPathA(sizeof dir, dir);
  if (n == 0 || n > sizeof dir) return last_error();
  if (!GetTempFileNameA(dir, "vmp", 0, path)) return last_error();

  int rc = 0;
  HANDLE file =
      CreateFileA(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_TEMPORARY, NULL);
  if (file == INVALID_HANDLE_VALUE) {
    rc = last_error();
  } else {
    FILE_END_OF_FILE_INFO eof;
    eof.EndOfFile.QuadPart = (LONGLONG)size;
    if (!SetFileInformationByHandle(file, FileEndOfFileInfo, &eof, sizeof eof)) rc = last_error();
    CloseHandle(file);
  }
  if (rc == 0) rc = vmp_mem_open(path, flags, out);
  DeleteFileA(path);
  return rc;
}
