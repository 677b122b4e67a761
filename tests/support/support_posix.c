#define _GNU_SOURCE
#include "support_posix.h"

#include "vmplace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void vmpt_say(char *why, size_t why_len, const char *fmt, ...) {
  va_list ap;
  if (!why || !why_len) return;
  va_start(ap, fmt);
  vsnprintf(why, why_len, fmt, ap);
  va_end(ap);
}

const char *vmpt_tmpdir(void) {
  const char *t = getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

int vmpt_temp_file(size_t size, int fill, char *path, size_t path_len) {
  char dir[512];
  unsigned char block[4096];
  int fd;
  snprintf(dir, sizeof dir, "%s/vmpt-XXXXXX", vmpt_tmpdir());
  if (!mkdtemp(dir)) return -errno;
  if ((size_t)snprintf(path, path_len, "%s/file", dir) >= path_len) return -ENAMETOOLONG;
  fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  memset(block, fill, sizeof block);
  for (size_t done = 0; done < size;) {
    size_t n = size - done < sizeof block ? size - done : sizeof block;
    ssize_t w = write(fd, block, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = errno ? errno : EIO;
      close(fd);
      return -e;
    }
    done += (size_t)w;
  }
  close(fd);
  return 0;
}

void vmpt_temp_file_remove(const char *path) {
  char dir[512];
  char *slash;
  snprintf(dir, sizeof dir, "%s", path);
  unlink(path);
  slash = strrchr(dir, '/');
  if (slash) {
    *slash = '\0';
    rmdir(dir);
  }
}

size_t vmpt_fd_count(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  size_t n = 0;
  if (!d) return 0;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the directory stream's own descriptor */
}

/* Whether a name in `dir` could be one this process's library made. In
 * /dev/shm the library only ever creates vmplace-<pid>-...; everything else
 * there belongs to other processes (Criterion's own IPC creates and removes
 * names all the time, and tests run in parallel). */
static int could_be_ours(const char *dir, const char *name) {
  long pid;
  char dash;
  if (strcmp(dir, "/dev/shm") != 0) return 1;
  if (sscanf(name, "vmplace-%ld%c", &pid, &dash) != 2 || dash != '-') return 0;
  return pid == (long)getpid();
}

uint64_t vmpt_dir_fingerprint(const char *dir, size_t *entries) {
  DIR *d = opendir(dir);
  struct dirent *e;
  uint64_t sum = 0;
  size_t n = 0;
  if (!d) {
    if (entries) *entries = 0;
    return 0;
  }
  /* Order-independent: a sum of per-name hashes. */
  while ((e = readdir(d))) {
    if (!could_be_ours(dir, e->d_name)) continue;
    uint64_t h = 14695981039346656037ull;
    for (const char *c = e->d_name; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    sum += h;
    n++;
  }
  closedir(d);
  if (entries) *entries = n;
  return sum;
}

void vmpt_fill_pages(void *addr, size_t len, unsigned seed) {
  const size_t page = vmp_page_size();
  unsigned char *p = addr;
  for (size_t off = 0; off < len; off += page)
    memset(p + off, (int)((seed * 31u + (unsigned)(off / page) * 7u + 1u) & 0xff), page);
}

size_t vmpt_remove_names(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t n = 0;
  char path[1024];
  if (!d) return 0;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (unlink(path) == 0) n++;
  }
  closedir(d);
  return n;
}
