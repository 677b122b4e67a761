/* The baselines of bench_mview.c's follow and 10^4-file lines: see
 * mview_baseline.h. Plain POSIX, nothing from the library. */
#include "mview_baseline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

__attribute__((noinline)) size_t mvb_parse(const unsigned char *p, size_t n, uint64_t *records,
                                           uint64_t *sum) {
  size_t at = 0;
  uint64_t s = *sum, count = *records;
  while (n - at >= MVB_HEADER) {
    uint32_t len = (uint32_t)p[at] | (uint32_t)p[at + 1] << 8 | (uint32_t)p[at + 2] << 16 |
                   (uint32_t)p[at + 3] << 24;
    if (n - at - MVB_HEADER < len) break;
    const unsigned char *payload = p + at + MVB_HEADER;
    for (uint32_t i = 0; i < len; i++) s += (uint64_t)payload[i] * (count + i + 1);
    count++;
    at += MVB_HEADER + len;
  }
  *sum = s;
  *records = count;
  return at;
}

int mvb_follower_open(mvb_follower *f, const char *path, size_t buffer_bytes) {
  memset(f, 0, sizeof *f);
  f->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (f->fd < 0) return -errno;
  f->buffer = malloc(buffer_bytes);
  if (f->buffer == NULL) {
    close(f->fd);
    return -ENOMEM;
  }
  f->capacity = buffer_bytes;
  return 0;
}

/* read() from where the last call stopped until the end of the file as it
 * is now; a record cut by the buffer's end moves to its start. */
int mvb_follower_poll(mvb_follower *f) {
  for (;;) {
    ssize_t n = read(f->fd, f->buffer + f->kept, f->capacity - f->kept);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return 0;
    size_t have = f->kept + (size_t)n;
    size_t used = mvb_parse(f->buffer, have, &f->records, &f->sum);
    f->kept = have - used;
    if (f->kept == f->capacity) return -EOVERFLOW; /* a record longer than the buffer */
    memmove(f->buffer, f->buffer + used, f->kept);
  }
}

void mvb_follower_close(mvb_follower *f) {
  close(f->fd);
  free(f->buffer);
}

int mvb_map_each(const char *const *paths, size_t count, void **maps, size_t *sizes) {
  int err = 0;
  size_t mapped = 0;
  while (mapped < count && !err) {
    int fd = open(paths[mapped], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
      err = -errno;
      break;
    }
    if (fstat(fd, &st) != 0) {
      err = -errno;
    } else {
      sizes[mapped] = (size_t)st.st_size;
      maps[mapped] = mmap(NULL, sizes[mapped], PROT_READ, MAP_SHARED, fd, 0);
      if (maps[mapped] == MAP_FAILED)
        err = -errno;
      else
        mapped++;
    }
    close(fd);
  }
  if (err) mvb_unmap_each(maps, sizes, mapped);
  return err;
}

void mvb_unmap_each(void **maps, const size_t *sizes, size_t count) {
  for (size_t i = 0; i < count; i++) munmap(maps[i], sizes[i]);
}

__attribute__((noinline)) uint64_t mvb_sum_words(const uint64_t *w, size_t n, uint64_t index) {
  uint64_t a = 0, b = 0;
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    a += w[i] ^ (index + i);
    b += w[i + 1] ^ (index + i + 1);
  }
  for (; i < n; i++) a += w[i] ^ (index + i);
  return a + b;
}
