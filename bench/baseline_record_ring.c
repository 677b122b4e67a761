/*
 * See baseline_record_ring.h. Records are [u32 length][u32 kind][payload],
 * padded to 8 bytes; a record that would cross the end of the buffer is
 * preceded by a padding record filling the rest of it.
 */
#include "baseline_record_ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KIND_DATA 0u
#define KIND_PAD 1u
#define HDR 8u

struct cr_ring {
  unsigned char *buf;
  size_t size, mask;
  int locked;
  _Alignas(64) _Atomic size_t head; /* the producer's */
  size_t cached_tail;
  size_t pending;                   /* bytes the open reservation will publish, padding included */
  _Alignas(64) _Atomic size_t tail; /* the consumer's */
  size_t cached_head;
  size_t taking; /* bytes of the record peek gave, padding included */
  _Alignas(64) pthread_mutex_t lock;
  pthread_cond_t not_full, not_empty;
};

static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

int cr_ring_create(size_t size, int many_producers, cr_ring **out) {
  if (size == 0 || (size & (size - 1)) || size < 64) return -EINVAL;
  cr_ring *r;
  if (posix_memalign((void **)&r, 64, sizeof *r)) return -ENOMEM;
  memset(r, 0, sizeof *r);
  if (posix_memalign((void **)&r->buf, 4096, size)) {
    free(r);
    return -ENOMEM;
  }
  r->size = size;
  r->mask = size - 1;
  r->locked = many_producers;
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->not_full, NULL);
  pthread_cond_init(&r->not_empty, NULL);
  *out = r;
  return 0;
}

void cr_ring_destroy(cr_ring *r) {
  if (!r) return;
  pthread_mutex_destroy(&r->lock);
  pthread_cond_destroy(&r->not_full);
  pthread_cond_destroy(&r->not_empty);
  free(r->buf);
  free(r);
}

static void put_header(unsigned char *at, uint32_t len, uint32_t kind) {
  memcpy(at, &len, 4);
  memcpy(at + 4, &kind, 4);
}

/* The bytes a record of len needs at head, padding included. */
static size_t needed(const cr_ring *r, size_t head, size_t len) {
  size_t need = round8(HDR + len), pos = head & r->mask;
  return pos + need > r->size ? (r->size - pos) + need : need;
}

void *cr_ring_reserve(cr_ring *r, size_t len) {
  size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  size_t need = needed(r, head, len);
  if (r->locked) {
    pthread_mutex_lock(&r->lock);
    for (;;) { /* other producers move the head while we wait */
      head = atomic_load_explicit(&r->head, memory_order_relaxed);
      need = needed(r, head, len);
      if (r->size - (head - atomic_load_explicit(&r->tail, memory_order_acquire)) >= need) break;
      pthread_cond_wait(&r->not_full, &r->lock);
    }
  } else if (r->size - (head - r->cached_tail) < need) {
    r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (r->size - (head - r->cached_tail) < need) return NULL;
  }
  size_t pos = head & r->mask;
  r->pending = need;
  if (pos + round8(HDR + len) > r->size) {
    put_header(r->buf + pos, (uint32_t)(r->size - pos - HDR), KIND_PAD);
    pos = 0;
  }
  return r->buf + pos + HDR;
}

void cr_ring_commit(cr_ring *r, size_t len) {
  size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  size_t at = (head + r->pending - round8(HDR + len)) & r->mask;
  put_header(r->buf + at, (uint32_t)len, KIND_DATA);
  atomic_store_explicit(&r->head, head + r->pending, memory_order_release);
  if (r->locked) {
    pthread_cond_signal(&r->not_empty);
    pthread_mutex_unlock(&r->lock);
  }
}

const void *cr_ring_peek(cr_ring *r, size_t *len) {
  size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  if (r->locked) {
    pthread_mutex_lock(&r->lock);
    while (atomic_load_explicit(&r->head, memory_order_acquire) == tail)
      pthread_cond_wait(&r->not_empty, &r->lock);
    pthread_mutex_unlock(&r->lock);
  } else if (r->cached_head == tail) {
    r->cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
    if (r->cached_head == tail) return NULL;
  }
  size_t pos = tail & r->mask, skipped = 0;
  uint32_t n, kind;
  memcpy(&n, r->buf + pos, 4);
  memcpy(&kind, r->buf + pos + 4, 4);
  if (kind == KIND_PAD) {
    skipped = r->size - pos;
    pos = 0;
    memcpy(&n, r->buf, 4);
  }
  r->taking = skipped + round8(HDR + n);
  *len = n;
  return r->buf + pos + HDR;
}

void cr_ring_release(cr_ring *r) {
  size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  if (r->locked) {
    pthread_mutex_lock(&r->lock);
    atomic_store_explicit(&r->tail, tail + r->taking, memory_order_release);
    pthread_cond_broadcast(&r->not_full);
    pthread_mutex_unlock(&r->lock);
    return;
  }
  atomic_store_explicit(&r->tail, tail + r->taking, memory_order_release);
}
