#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>
#endif

#include "support_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support_check.h"
#include "support_util.h"

static char paths[FILES_MAX][600];
static size_t path_count;

unsigned char files_byte(unsigned seed, uint64_t i) {
  return (unsigned char)(seed * 41u + i * 7u + (i / 4096) * 29u + 1u);
}

int files_write(const char *path, unsigned seed, uint64_t from, uint64_t to) {
  FILE *f = fopen(path, "r+b");
  if (!CHECK(f != NULL, "cannot open %s to write", path)) return 0;
  int ok = fseek(f, (long)from, SEEK_SET) == 0;
  for (uint64_t i = from; ok && i < to; i++) ok = fputc(files_byte(seed, i), f) != EOF;
  ok = fclose(f) == 0 && ok;
  return CHECK(ok, "cannot write %s", path);
}

static unsigned long process_id(void) {
#if defined(_WIN32)
  return (unsigned long)GetCurrentProcessId();
#else
  return (unsigned long)getpid();
#endif
}

const char *files_make(uint64_t size, unsigned seed) {
  static unsigned counter;
  if (!CHECK(path_count < FILES_MAX, "too many files")) return NULL;
  char *path = paths[path_count], dir[512];
  const char *d = util_temp_directory(dir, sizeof dir);
  size_t dlen = strlen(d);
  const char *sep = dlen && (d[dlen - 1] == '/' || d[dlen - 1] == '\\') ? "" : "/";
  snprintf(path, sizeof paths[0], "%s%svmpt-file-%lu-%u.bin", d, sep, process_id(), counter++);
  FILE *f = fopen(path, "wb");
  if (!CHECK(f != NULL && fclose(f) == 0, "cannot create %s", path)) return NULL;
  path_count++;
  return files_write(path, seed, 0, size) ? path : NULL;
}

unsigned char *files_read(const char *path, size_t offset, size_t size) {
  unsigned char *buf = malloc(size ? size : 1);
  if (buf && util_read_file(path, offset, buf, size) != 0) {
    free(buf);
    buf = NULL;
  }
  CHECK(buf != NULL, "cannot read %zu bytes at %zu of %s", size, offset, path);
  return buf;
}

void files_remove(void) {
  for (size_t i = 0; i < path_count; i++) remove(paths[i]);
  path_count = 0;
}

/* Sets the file's size (down as well as up). 0, or -1 when the system
 * refuses: Windows does not shrink a file that has a view. */
int files_set_size(const char *path, uint64_t size) {
#if defined(_WIN32)
  HANDLE h =
      CreateFileA(path, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                  OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
  if (h == INVALID_HANDLE_VALUE) return -1;
  LARGE_INTEGER at;
  at.QuadPart = (LONGLONG)size;
  int ok = SetFilePointerEx(h, at, NULL, FILE_BEGIN) && SetEndOfFile(h);
  CloseHandle(h);
  return ok ? 0 : -1;
#else
  return truncate(path, (off_t)size) == 0 ? 0 : -1;
#endif
}

/* Whether nothing in the process holds the file any more: on Windows, an
 * open that shares nothing succeeds only then (a view's section counts);
 * elsewhere there is no such test and the handle count says it. */
int files_unheld(const char *path) {
#if defined(_WIN32)
  HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE | DELETE, 0, NULL, OPEN_EXISTING,
                         FILE_ATTRIBUTE_NORMAL, NULL);
  if (h == INVALID_HANDLE_VALUE) return 0;
  CloseHandle(h);
  return 1;
#else
  (void)path;
  return 1;
#endif
}
