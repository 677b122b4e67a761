#define _GNU_SOURCE
#include "kmaps.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fuzz_util.h"

/* The kernel's UAPI (linux/fs.h since 6.11), spelled out for older headers. */
struct fuzz_procmap_query {
  uint64_t size;
  uint64_t query_flags;
  uint64_t query_addr;
  uint64_t vma_start;
  uint64_t vma_end;
  uint64_t vma_flags;
  uint64_t vma_page_size;
  uint64_t vma_offset;
  uint64_t inode;
  uint32_t dev_major;
  uint32_t dev_minor;
  uint32_t vma_name_size;
  uint32_t build_id_size;
  uint64_t vma_name_addr;
  uint64_t build_id_addr;
};
#define FUZZ_PROCMAP_QUERY _IOWR('f', 17, struct fuzz_procmap_query)
#define FUZZ_VMA_READABLE 0x01
#define FUZZ_VMA_WRITABLE 0x02
#define FUZZ_VMA_EXECUTABLE 0x04
#define FUZZ_VMA_SHARED 0x08

static int maps_fd = -1;
static int use_ioctl = -1; /* unknown until the first lookup */

static kvma *table;
static size_t table_len, table_cap;

static void open_maps(void) {
  if (maps_fd >= 0) return;
  maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (maps_fd < 0) fuzz_fail("cannot open /proc/self/maps: %s", strerror(errno));
}

static void read_text(void) {
  static char *buf;
  static size_t cap;
  size_t len = 0;
  if (lseek(maps_fd, 0, SEEK_SET) != 0) fuzz_fail("lseek /proc/self/maps");
  for (;;) {
    if (cap - len < 65536) {
      cap = cap ? cap * 2 : 1 << 20;
      buf = realloc(buf, cap);
      if (!buf) fuzz_fail("out of memory reading /proc/self/maps");
    }
    ssize_t n = read(maps_fd, buf + len, cap - len - 1);
    if (n < 0) fuzz_fail("read /proc/self/maps: %s", strerror(errno));
    if (n == 0) break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  table_len = 0;
  for (char *line = buf; *line;) {
    char *next = strchr(line, '\n');
    if (next) *next = '\0';
    unsigned long start, end, inode;
    unsigned long long offset;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s %llx %*s %lu", &start, &end, perms, &offset, &inode) == 5) {
      if (table_len == table_cap) {
        table_cap = table_cap ? table_cap * 2 : 1024;
        table = realloc(table, table_cap * sizeof *table);
        if (!table) fuzz_fail("out of memory parsing /proc/self/maps");
      }
      table[table_len++] =
          (kvma){start,  end,  perms[0] == 'r', perms[1] == 'w', perms[2] == 'x', perms[3] == 's',
                 offset, inode};
    }
    if (!next) break;
    line = next + 1;
  }
}

void kmaps_refresh(void) {
  open_maps();
  if (use_ioctl == -1) {
    struct fuzz_procmap_query q = {.size = sizeof q, .query_addr = (uintptr_t)&q};
    use_ioctl = ioctl(maps_fd, FUZZ_PROCMAP_QUERY, &q) == 0 || errno == ENOENT;
  }
  if (!use_ioctl) read_text();
}

int kmaps_at(uintptr_t addr, kvma *out) {
  if (use_ioctl == -1) kmaps_refresh();
  if (use_ioctl) {
    struct fuzz_procmap_query q = {.size = sizeof q, .query_addr = addr};
    if (ioctl(maps_fd, FUZZ_PROCMAP_QUERY, &q) != 0) {
      if (errno == ENOENT) return 0;
      fuzz_fail("PROCMAP_QUERY: %s", strerror(errno));
    }
    *out = (kvma){(uintptr_t)q.vma_start,
                  (uintptr_t)q.vma_end,
                  (q.vma_flags & FUZZ_VMA_READABLE) != 0,
                  (q.vma_flags & FUZZ_VMA_WRITABLE) != 0,
                  (q.vma_flags & FUZZ_VMA_EXECUTABLE) != 0,
                  (q.vma_flags & FUZZ_VMA_SHARED) != 0,
                  q.vma_offset,
                  q.inode};
    return 1;
  }
  size_t lo = 0, hi = table_len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (table[mid].end <= addr)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < table_len && table[lo].start <= addr) {
    *out = table[lo];
    return 1;
  }
  return 0;
}
