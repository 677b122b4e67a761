/* The classic ring of the ring benchmarks: see classic_ring.h. Every choice
 * here copies src/ring.c's, so that the only difference measured is the
 * split at the wrap. */
#include "classic_ring.h"
#include "ring_tuning.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef __linux__
#  include <linux/futex.h>
#  include <sys/syscall.h>
#else
#  include <time.h>
#endif

#define CACHE_LINE 64
#define RING_EPEER (-71) /* -EPROTO: the peer's index is impossible */

typedef struct control {
  uint64_t header[4]; /* as vmp_ring's magic, version and capacity */
  _Alignas(CACHE_LINE) _Atomic uint64_t head;
  _Alignas(CACHE_LINE) _Atomic uint64_t tail;
  _Alignas(CACHE_LINE) _Atomic uint32_t data_seq;
  _Atomic uint32_t consumer_sleeping;
  _Alignas(CACHE_LINE) _Atomic uint32_t space_seq;
  _Atomic uint32_t producer_sleeping;
  _Alignas(CACHE_LINE) _Atomic uint32_t shutdown;
} control;

typedef struct side {
  char pad_before[CACHE_LINE];
  uint64_t own, seen;
  int state;
  char pad_after[CACHE_LINE];
} side;

struct classic_ring {
  control *ctl;
  unsigned char *data;
  size_t capacity;
  size_t mapped;
  side producer;
  side consumer;
};

int classic_create(size_t capacity, classic_ring **out) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  classic_ring *ring = calloc(1, sizeof *ring);
  if (ring == NULL)
    return -ENOMEM;
  ring->capacity = capacity;
  ring->mapped = page + capacity;
  void *p = mmap(NULL, ring->mapped, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    int err = -errno;
    free(ring);
    return err;
  }
  ring->ctl = p;
  ring->data = (unsigned char *)p + page;
  *out = ring;
  return 0;
}

void classic_destroy(classic_ring *ring) {
  if (ring == NULL)
    return;
  munmap(ring->ctl, ring->mapped);
  free(ring);
}

size_t classic_capacity(const classic_ring *ring) {
  return ring->capacity;
}

/* ---- sleeping ------------------------------------------------------------------- */

static void os_wait(_Atomic uint32_t *word, uint32_t expected) {
#ifdef __linux__
  syscall(SYS_futex, word, FUTEX_WAIT, expected, NULL, NULL, 0);
#else
  (void)word;
  (void)expected;
  struct timespec nap = {0, 1000000};
  nanosleep(&nap, NULL);
#endif
}

static void os_wake_all(_Atomic uint32_t *word) {
#ifdef __linux__
  syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
#else
  (void)word;
#endif
}

static void nudge(_Atomic uint32_t *sleeping, _Atomic uint32_t *seq) {
  if (atomic_load_explicit(sleeping, memory_order_seq_cst)) {
    atomic_fetch_add_explicit(seq, 1, memory_order_release);
    os_wake_all(seq);
  }
}

/* ---- indexes ---------------------------------------------------------------------- */

static int broken(side *s) {
  s->state = RING_EPEER;
  return RING_EPEER;
}

static int refresh_tail(classic_ring *ring) {
  side *p = &ring->producer;
  uint64_t tail = atomic_load_explicit(&ring->ctl->tail, memory_order_seq_cst);
  if (tail < p->seen || tail > p->own)
    return broken(p);
  p->seen = tail;
  return 0;
}

static int refresh_head(classic_ring *ring) {
  side *c = &ring->consumer;
  uint64_t head = atomic_load_explicit(&ring->ctl->head, memory_order_seq_cst);
  if (head < c->seen || head - c->own > ring->capacity)
    return broken(c);
  c->seen = head;
  return 0;
}

static size_t free_bytes(const classic_ring *ring) {
  return ring->capacity - (size_t)(ring->producer.own - ring->producer.seen);
}

static size_t used_bytes(const classic_ring *ring) {
  return (size_t)(ring->consumer.seen - ring->consumer.own);
}

static int is_shut_down(const classic_ring *ring) {
  return atomic_load_explicit(&ring->ctl->shutdown, memory_order_acquire) != 0;
}

static int producer_space(classic_ring *ring, size_t want, size_t *space) {
  if (ring->producer.state)
    return ring->producer.state;
  if (is_shut_down(ring))
    return -ESHUTDOWN;
  if (free_bytes(ring) < want) {
    int err = refresh_tail(ring);
    if (err)
      return err;
  }
  *space = free_bytes(ring);
  return 0;
}

static int consumer_data(classic_ring *ring, size_t want, size_t *there) {
  if (ring->consumer.state)
    return ring->consumer.state;
  if (used_bytes(ring) < want) {
    (void)is_shut_down(ring); /* vmp_ring reads the flag here too */
    int err = refresh_head(ring);
    if (err)
      return err;
  }
  *there = used_bytes(ring);
  return 0;
}

static void publish_head(classic_ring *ring, size_t n) {
  ring->producer.own += n;
  atomic_store_explicit(&ring->ctl->head, ring->producer.own, memory_order_seq_cst);
  nudge(&ring->ctl->consumer_sleeping, &ring->ctl->data_seq);
}

static void publish_tail(classic_ring *ring, size_t n) {
  ring->consumer.own += n;
  atomic_store_explicit(&ring->ctl->tail, ring->consumer.own, memory_order_seq_cst);
  nudge(&ring->ctl->producer_sleeping, &ring->ctl->space_seq);
}

/* ---- copies: the one difference, split at the wrap --------------------------------- */

ptrdiff_t classic_write(classic_ring *ring, const void *src, size_t n) {
  size_t space;
  int err = producer_space(ring, n, &space);
  if (err)
    return err;
  size_t count = n < space ? n : space;
  if (count == 0)
    return 0;
  size_t at = (size_t)(ring->producer.own % ring->capacity);
  size_t first = ring->capacity - at < count ? ring->capacity - at : count;
  memcpy(ring->data + at, src, first);
  if (count > first)
    memcpy(ring->data, (const unsigned char *)src + first, count - first);
  publish_head(ring, count);
  return (ptrdiff_t)count;
}

ptrdiff_t classic_read(classic_ring *ring, void *dst, size_t n) {
  size_t there;
  int err = consumer_data(ring, n, &there);
  if (err)
    return err;
  size_t count = n < there ? n : there;
  if (count == 0)
    return 0;
  size_t at = (size_t)(ring->consumer.own % ring->capacity);
  size_t first = ring->capacity - at < count ? ring->capacity - at : count;
  memcpy(dst, ring->data + at, first);
  if (count > first)
    memcpy((unsigned char *)dst + first, ring->data, count - first);
  publish_tail(ring, count);
  return (ptrdiff_t)count;
}

int classic_write_begin(classic_ring *ring, unsigned char **first, size_t *first_len,
                        unsigned char **second, size_t *total) {
  size_t space;
  int err = producer_space(ring, SIZE_MAX, &space);
  if (err)
    return err;
  size_t at = (size_t)(ring->producer.own % ring->capacity);
  *first = ring->data + at;
  *first_len = ring->capacity - at < space ? ring->capacity - at : space;
  *second = ring->data;
  *total = space;
  return 0;
}

int classic_write_commit(classic_ring *ring, size_t n) {
  if (n)
    publish_head(ring, n);
  return 0;
}

int classic_read_begin(classic_ring *ring, const unsigned char **first, size_t *first_len,
                       const unsigned char **second, size_t *total) {
  size_t there;
  int err = consumer_data(ring, SIZE_MAX, &there);
  if (err)
    return err;
  size_t at = (size_t)(ring->consumer.own % ring->capacity);
  *first = ring->data + at;
  *first_len = ring->capacity - at < there ? ring->capacity - at : there;
  *second = ring->data;
  *total = there;
  return 0;
}

int classic_read_release(classic_ring *ring, size_t n) {
  if (n)
    publish_tail(ring, n);
  return 0;
}

/* ---- waiting, as vmp_ring's wait_for without a timeout ------------------------------ */

/* Probes before the first sleep: the same number as src/ring.c's wait_for
 * (src/ring_tuning.h), or the lines would measure the waiting, not the
 * copies. */
#define SPIN_PROBES VMP__RING_SPIN_PROBES

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static int producer_probe(classic_ring *ring, size_t want) {
  size_t space;
  int err = producer_space(ring, want, &space);
  return err ? err : space >= want;
}

static int consumer_probe(classic_ring *ring, size_t want) {
  size_t there;
  int err = consumer_data(ring, want, &there);
  return err ? err : there >= want;
}

static int wait_for(classic_ring *ring, int (*probe)(classic_ring *, size_t), size_t want,
                    _Atomic uint32_t *seq, _Atomic uint32_t *sleeping) {
  for (int spin = 0; spin < SPIN_PROBES; spin++) {
    int ready = probe(ring, want);
    if (ready)
      return ready > 0 ? 0 : ready;
    cpu_relax();
  }
  for (;;) {
    int ready = probe(ring, want);
    if (ready)
      return ready > 0 ? 0 : ready;
    uint32_t seen = atomic_load_explicit(seq, memory_order_acquire);
    atomic_store_explicit(sleeping, 1, memory_order_seq_cst);
    ready = probe(ring, want);
    if (!ready)
      os_wait(seq, seen);
    atomic_store_explicit(sleeping, 0, memory_order_relaxed);
    if (ready)
      return ready > 0 ? 0 : ready;
  }
}

int classic_wait_write(classic_ring *ring, size_t want) {
  return wait_for(ring, producer_probe, want, &ring->ctl->space_seq,
                  &ring->ctl->producer_sleeping);
}

int classic_wait_read(classic_ring *ring, size_t want) {
  return wait_for(ring, consumer_probe, want, &ring->ctl->data_seq,
                  &ring->ctl->consumer_sleeping);
}
