/* See handwritten_ring.h. Indexes run freely; position = index & mask. */
#include "handwritten_ring.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Each index and each side's cached copy of the other's index on its own
 * line, so a store by one side never evicts what the other reads. */
struct hw_ring {
  _Alignas(64) unsigned char *data;
  size_t size;
  _Alignas(64) _Atomic size_t head; /* written by the producer */
  _Alignas(64) size_t tail_seen;    /* the producer's copy of tail */
  _Alignas(64) _Atomic size_t tail; /* written by the consumer */
  _Alignas(64) size_t head_seen;    /* the consumer's copy of head */
};

int hw_ring_create(size_t size, hw_ring **out) {
  hw_ring *r = aligned_alloc(64, sizeof *r);
  if (r == NULL) return -ENOMEM;
  memset(r, 0, sizeof *r);
  int fd = memfd_create("hw_ring", MFD_CLOEXEC);
  void *base = MAP_FAILED;
  if (fd >= 0 && ftruncate(fd, (off_t)size) == 0)
    base = mmap(NULL, 2 * size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  int err = base == MAP_FAILED ? -errno : 0;
  /* Both halves over the one reservation: nothing else can take the
   * address between the calls. */
  for (size_t half = 0; half < 2 && !err; half++)
    if (mmap((char *)base + half * size, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
             0) == MAP_FAILED)
      err = -errno;
  if (fd >= 0) close(fd);
  if (err) {
    if (base != MAP_FAILED) munmap(base, 2 * size);
    free(r);
    return err;
  }
  r->data = base;
  r->size = size;
  *out = r;
  return 0;
}

void hw_ring_destroy(hw_ring *r) {
  if (r == NULL) return;
  munmap(r->data, 2 * r->size);
  free(r);
}

void *hw_ring_write_begin(hw_ring *r, size_t want, size_t *len) {
  size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  if (r->size - (head - r->tail_seen) < want)
    r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
  *len = r->size - (head - r->tail_seen);
  return r->data + (head & (r->size - 1));
}

void hw_ring_write_commit(hw_ring *r, size_t n) {
  size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  atomic_store_explicit(&r->head, head + n, memory_order_release);
}

const void *hw_ring_read_begin(hw_ring *r, size_t want, size_t *len) {
  size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  if (r->head_seen - tail < want)
    r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
  *len = r->head_seen - tail;
  return r->data + (tail & (r->size - 1));
}

void hw_ring_read_release(hw_ring *r, size_t n) {
  size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  atomic_store_explicit(&r->tail, tail + n, memory_order_release);
}

size_t hw_ring_write(hw_ring *r, const void *src, size_t n) {
  size_t room;
  void *p = hw_ring_write_begin(r, n, &room);
  n = n < room ? n : room;
  memcpy(p, src, n);
  hw_ring_write_commit(r, n);
  return n;
}

size_t hw_ring_read(hw_ring *r, void *dst, size_t n) {
  size_t there;
  const void *p = hw_ring_read_begin(r, n, &there);
  n = n < there ? n : there;
  memcpy(dst, p, n);
  hw_ring_read_release(r, n);
  return n;
}
