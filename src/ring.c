/*
 * Mirrored ring buffers: one memory object mapped twice back to back, with
 * a single-producer / single-consumer byte queue on top.
 *
 * The object holds the data, bytes [0, C), and after it one control unit U
 * (the unit of view object offsets, which is the page wherever views map
 * at page offsets, Windows included; or the huge page size), of which the
 * first page holds `control`. The region is laid out as
 *
 *   [guard U][control view U of object C][data C at 0][mirror C at 0][guard U]
 *
 * built from one reservation, split and mapped piece by piece; any failure
 * releases the region, which undoes every earlier step.
 *
 * The control page is shared with a peer that may be broken or hostile, so
 * nothing read from it is trusted. Each side keeps its own index privately
 * (never reading it back from shared memory after it started) and caches
 * the other's; every index read from the page is checked against what that
 * side may legally have done since it was last seen. Pointers handed out
 * are computed from the private, checked values only, so no value in the
 * page can steer an access outside the two data views.
 *
 * Sleeping: the producer bumps data_seq after a commit, the consumer
 * space_seq after a release, and waiters sleep on those words. To keep
 * commit and release free of system calls, a waiter raises a `sleeping`
 * flag and the other side bumps and wakes only when it sees it. The flag
 * and the indexes are stored and loaded sequentially consistent (no
 * fences: ThreadSanitizer does not model them), so either the waiter sees
 * the new index or the other side sees the flag: no wake-up is lost.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "internal.h"
#include "ring_tuning.h"

#define MAGIC "vmpring\1"
#define MAGIC_BYTES 8
#define VERSION 1
#define CACHE_LINE 64
#define ALL_FLAGS (VMP_RING_HUGE_PAGES | VMP_RING_NO_INHERIT)

/* A peer in another process reads and writes these fields with atomics of
 * its own: they must be lock-free to mean anything across processes. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "rings need lock-free 32- and 64-bit atomics");

/* Written once by the creator before the descriptor is shared; read by
 * attach only as a copy. */
typedef struct header {
  unsigned char magic[MAGIC_BYTES];
  uint32_t version;
  uint32_t unused;
  uint64_t capacity;
} header;

typedef struct control {
  header header;
  _Alignas(CACHE_LINE) _Atomic uint64_t head; /* bytes ever written; the producer's */
  _Alignas(CACHE_LINE) _Atomic uint64_t tail; /* bytes ever read; the consumer's */
  _Alignas(CACHE_LINE) _Atomic uint32_t data_seq; /* bumped for a sleeping consumer */
  _Atomic uint32_t consumer_sleeping;
  _Alignas(CACHE_LINE) _Atomic uint32_t space_seq; /* bumped for a sleeping producer */
  _Atomic uint32_t producer_sleeping;
  _Alignas(CACHE_LINE) _Atomic uint32_t shutdown;
} control;

/* A side has not looked at the shared indexes yet (an attached ring does
 * not know which side it will be), is running, or is broken for good with
 * a negative error. */
#define SIDE_UNSTARTED 1
#define SIDE_RUNNING 0

/* Each side's private state, on its own cache lines (padding rather than
 * _Alignas: the ring comes from malloc, which does not align to 64). */
typedef struct side {
  char pad_before[CACHE_LINE];
  uint64_t own;     /* our index: head for the producer, tail for the consumer */
  uint64_t seen;    /* the other side's index as last read and checked */
  size_t offered;   /* bytes a begin call offered that no commit/release took */
  int state;        /* SIDE_UNSTARTED, SIDE_RUNNING or an error */
  char pad_after[CACHE_LINE];
} side;

struct vmp_ring {
  vmp_region *region;
  vmp_mem *mem;
  control *ctl;
  unsigned char *data;
  size_t capacity;
  side producer;
  side consumer;
};

/* ---- building ------------------------------------------------------------------ */

static int round_up(size_t n, size_t unit, size_t *out) {
  if (n > SIZE_MAX - (unit - 1)) return VMP_ENOMEM;
  *out = (n + unit - 1) / unit * unit;
  return 0;
}

/* The region: guards and control unit around two copies of the data. */
static int region_bytes(size_t capacity, size_t unit, size_t *out) {
  if (capacity > (SIZE_MAX - 3 * unit) / 2) return VMP_ENOMEM;
  *out = 3 * unit + 2 * capacity;
  return 0;
}

/* Magic, version and capacity, copied out of the shared page once. */
static int check_header(const control *ctl, size_t capacity) {
  header h;
  memcpy(&h, &ctl->header, sizeof h);
  if (memcmp(h.magic, MAGIC, MAGIC_BYTES) != 0) return VMP_EPEER;
  if (h.version != VERSION || h.capacity != capacity) return VMP_EPEER;
  return 0;
}

/* Reserves the region and maps it as the layout above says; the ring's
 * mem and capacity must be set. Attaching, the header is read through the
 * control view (of an object whose size was already checked) before the
 * data is mapped at all. */
static int map_layout(vmp_ring *ring, size_t unit, unsigned flags, int attaching) {
  size_t cap = ring->capacity, total;
  int err = region_bytes(cap, unit, &total);
  if (err) return err;
  vmp_region *region;
  err = vmp_reserve(total, (flags & VMP_RING_HUGE_PAGES) ? unit : 0, &region);
  if (err) return err;
  size_t ctl_at = unit, data_at = 2 * unit, mirror_at = data_at + cap;
  control *ctl = (control *)((char *)vmp_base(region) + ctl_at);
  if (!(err = vmp_split(region, ctl_at, unit)) && !(err = vmp_split(region, data_at, cap)) &&
      !(err = vmp_split(region, mirror_at, cap)) &&
      !(err = vmp_map(region, ctl_at, unit, ring->mem, cap, VMP_PROT_RW)) &&
      !(err = attaching ? check_header(ctl, cap) : 0) &&
      !(err = vmp_map(region, data_at, cap, ring->mem, 0, VMP_PROT_RW)) &&
      !(err = vmp_map(region, mirror_at, cap, ring->mem, 0, VMP_PROT_RW)) &&
      (flags & VMP_RING_NO_INHERIT))
    err = vmp__os_no_inherit(vmp_base(region), total);
  if (err) {
    vmp_release(region);
    return err;
  }
  ring->region = region;
  ring->ctl = ctl;
  ring->data = (unsigned char *)vmp_base(region) + data_at;
  return 0;
}

/* The unit everything is counted in: the smallest step of a view's object
 * offset (the control unit is mapped at offset C), or the huge page size
 * when huge pages are asked for and at least `bytes` of them are free (0
 * asks only whether the system has any). */
static int unit_for(unsigned flags, uint64_t bytes, size_t *unit) {
  if (!(flags & VMP_RING_HUGE_PAGES)) {
    *unit = vmp__os_caps_get()->view_offset_unit;
    return 0;
  }
  return vmp__os_huge_page_size(bytes, unit);
}

static void init_side(side *s, int state) {
  s->own = s->seen = 0;
  s->offered = 0;
  s->state = state;
}

static void write_header(control *ctl, size_t capacity) {
  header h = {{0}, VERSION, 0, capacity};
  memcpy(h.magic, MAGIC, MAGIC_BYTES);
  memcpy(&ctl->header, &h, sizeof h);
}

int vmp_ring_create(size_t size, unsigned flags, vmp_ring **out) {
  if (!out || size == 0 || (flags & ~(unsigned)ALL_FLAGS)) return VMP_EINVAL;
  size_t unit, capacity;
  int err = unit_for(flags, size, &unit);
  if (!err) err = round_up(size, unit, &capacity);
  if (!err && capacity > SIZE_MAX - unit) err = VMP_ENOMEM;
  if (err) return err;
  size_t bytes = capacity + unit; /* the data, then the control unit */
  /* Now that the whole size is known, are that many huge pages free? */
  if (flags & VMP_RING_HUGE_PAGES) {
    size_t again;
    err = vmp__os_huge_page_size(bytes, &again);
    if (!err && again != unit) err = VMP_ENOTSUP;
    if (err) return err;
  }

  vmp_ring *ring = vmp__calloc(1, sizeof *ring);
  if (!ring) return VMP_ENOMEM;
  ring->capacity = capacity;
  if (flags & VMP_RING_HUGE_PAGES)
    err = vmp__mem_create_huge(bytes, &ring->mem);
  else
    err = vmp_mem_create(bytes, 0, &ring->mem);
  if (err) goto fail_ring;
  /* Before anyone else can see the object: no peer can then shrink it
   * under our views (or grow it, which attach would take as its size). */
  err = vmp__os_object_seal_size(ring->mem->handle);
  if (err && err != VMP_ENOTSUP) goto fail_mem;
  err = map_layout(ring, unit, flags, 0);
  if (err) goto fail_mem;
  write_header(ring->ctl, capacity);
  init_side(&ring->producer, SIDE_RUNNING);
  init_side(&ring->consumer, SIDE_RUNNING);
  *out = ring;
  return 0;

fail_mem:
  vmp_mem_close(ring->mem);
fail_ring:
  vmp__free(ring);
  return err;
}

/* Our own copy of the caller's descriptor, adopted read-write. */
static int adopt_copy(intptr_t fd, vmp_mem **mem) {
  intptr_t copy;
  int err = vmp__os_native_dup(fd, &copy);
  if (err) return err;
  err = vmp_mem_adopt(copy, VMP_MEM_RW, mem);
  if (err) vmp__os_native_close(copy);
  return err;
}

/* The object's size must be sealed where the system has seals: otherwise
 * the peer could shrink it and make our views fault. Then its size must
 * be a whole number of units, data plus control. */
static int check_object(vmp_mem *mem, size_t unit, size_t *capacity) {
  int sealed = vmp__os_object_size_sealed(mem->handle);
  if (sealed == 0) return VMP_EPEER;
  if (sealed < 0 && sealed != VMP_ENOTSUP) return sealed;
  uint64_t size;
  int err = vmp_mem_size(mem, &size);
  if (err) return err;
  if (size <= unit || (size - unit) % unit != 0) return VMP_EPEER;
  if (size - unit > SIZE_MAX) return VMP_ENOMEM;
  *capacity = (size_t)(size - unit);
  return 0;
}

int vmp_ring_attach(intptr_t fd, unsigned flags, vmp_ring **out) {
  if (!out || fd < 0 || (flags & ~(unsigned)ALL_FLAGS)) return VMP_EINVAL;
  size_t unit;
  int err = unit_for(flags, 0, &unit);
  if (err) return err;
  vmp_ring *ring = vmp__calloc(1, sizeof *ring);
  if (!ring) return VMP_ENOMEM;
  err = adopt_copy(fd, &ring->mem);
  if (err) goto fail_ring;
  err = check_object(ring->mem, unit, &ring->capacity);
  if (!err) err = map_layout(ring, unit, flags, 1);
  if (err) goto fail_mem;
  /* Which side this process will be is not known yet: each side reads the
   * shared indexes when it first runs. */
  init_side(&ring->producer, SIDE_UNSTARTED);
  init_side(&ring->consumer, SIDE_UNSTARTED);
  *out = ring;
  return 0;

fail_mem:
  vmp_mem_close(ring->mem);
fail_ring:
  vmp__free(ring);
  return err;
}

intptr_t vmp_ring_fd(const vmp_ring *ring) { return ring ? vmp_mem_fd(ring->mem) : -1; }

size_t vmp_ring_capacity(const vmp_ring *ring) { return ring ? ring->capacity : 0; }

void *vmp_ring_data(const vmp_ring *ring) { return ring ? ring->data : NULL; }

int vmp_ring_close(vmp_ring *ring) {
  if (!ring) return 0;
  int err = vmp_release(ring->region);
  if (err) return err; /* the ring stays whole, to be closed again */
  err = vmp_mem_close(ring->mem);
  vmp__free(ring);
  return err;
}

/* ---- the indexes ----------------------------------------------------------------- */

static int is_shut_down(const vmp_ring *ring) {
  return atomic_load_explicit(&ring->ctl->shutdown, memory_order_acquire) != 0;
}

static int broken(side *s) {
  s->state = VMP_EPEER;
  s->offered = 0;
  return VMP_EPEER;
}

/* A side's first look at the page: our own index is read once, then the
 * other's, which must be possible against it. Only the other side moves
 * meanwhile, and only within what the check allows (a consumer cannot pass
 * the head we hold still; a producer cannot run more than the capacity
 * ahead of the tail we hold still), so the two reads are consistent. */
static int start_producer(vmp_ring *ring) {
  side *p = &ring->producer;
  if (p->state != SIDE_UNSTARTED) return p->state;
  uint64_t head = atomic_load_explicit(&ring->ctl->head, memory_order_relaxed);
  uint64_t tail = atomic_load_explicit(&ring->ctl->tail, memory_order_acquire);
  if (head - tail > ring->capacity) return broken(p);
  p->own = head;
  p->seen = tail;
  p->state = SIDE_RUNNING;
  return 0;
}

static int start_consumer(vmp_ring *ring) {
  side *c = &ring->consumer;
  if (c->state != SIDE_UNSTARTED) return c->state;
  uint64_t tail = atomic_load_explicit(&ring->ctl->tail, memory_order_relaxed);
  uint64_t head = atomic_load_explicit(&ring->ctl->head, memory_order_acquire);
  if (head - tail > ring->capacity) return broken(c);
  c->own = tail;
  c->seen = head;
  c->state = SIDE_RUNNING;
  return 0;
}

/* The consumer's tail never goes back and never passes our head: it lies
 * in [seen, own]. All index arithmetic is modulo 2^64 (a peer may start
 * the counters anywhere), so distances are compared, never values. */
static int refresh_tail(vmp_ring *ring) {
  side *p = &ring->producer;
  uint64_t tail = atomic_load_explicit(&ring->ctl->tail, memory_order_seq_cst);
  if (p->own - tail > p->own - p->seen) return broken(p);
  p->seen = tail;
  return 0;
}

/* The producer's head never goes back and never gets more than the
 * capacity ahead of our tail: it lies in [seen, own + capacity]. */
static int refresh_head(vmp_ring *ring) {
  side *c = &ring->consumer;
  uint64_t head = atomic_load_explicit(&ring->ctl->head, memory_order_seq_cst);
  uint64_t ahead = head - c->own;
  if (ahead < c->seen - c->own || ahead > ring->capacity) return broken(c);
  c->seen = head;
  return 0;
}

static size_t free_bytes(const vmp_ring *ring) {
  return ring->capacity - (size_t)(ring->producer.own - ring->producer.seen);
}

static size_t used_bytes(const vmp_ring *ring) {
  return (size_t)(ring->consumer.seen - ring->consumer.own);
}

/* Tells a sleeping peer that `seq`'s condition may have changed. */
static void nudge(_Atomic uint32_t *sleeping, _Atomic uint32_t *seq) {
  if (atomic_load_explicit(sleeping, memory_order_seq_cst)) {
    atomic_fetch_add_explicit(seq, 1, memory_order_release);
    vmp__os_wake_all(seq);
  }
}

static void publish_head(vmp_ring *ring, size_t n) {
  ring->producer.own += n;
  atomic_store_explicit(&ring->ctl->head, ring->producer.own, memory_order_seq_cst);
  nudge(&ring->ctl->consumer_sleeping, &ring->ctl->data_seq);
}

static void publish_tail(vmp_ring *ring, size_t n) {
  ring->consumer.own += n;
  atomic_store_explicit(&ring->ctl->tail, ring->consumer.own, memory_order_seq_cst);
  nudge(&ring->ctl->producer_sleeping, &ring->ctl->space_seq);
}

/* ---- producer ------------------------------------------------------------------- */

/* Running, not shut down, and the free space as of a fresh look at the
 * tail when the cached one shows less than `want`. */
static int producer_space(vmp_ring *ring, size_t want, size_t *space) {
  int err = start_producer(ring);
  if (err) return err;
  if (is_shut_down(ring)) return VMP_ESHUTDOWN;
  if (free_bytes(ring) < want) {
    err = refresh_tail(ring);
    if (err) return err;
  }
  *space = free_bytes(ring);
  return 0;
}

int vmp_ring_write_begin(vmp_ring *ring, void **ptr, size_t *len) {
  if (!ring || !ptr || !len) return VMP_EINVAL;
  size_t space;
  int err = producer_space(ring, SIZE_MAX, &space); /* all the free space */
  if (err) return err;
  ring->producer.offered = space;
  *ptr = ring->data + ring->producer.own % ring->capacity;
  *len = space;
  return 0;
}

int vmp_ring_write_commit(vmp_ring *ring, size_t n) {
  if (!ring) return VMP_EINVAL;
  side *p = &ring->producer;
  if (p->state < 0) return p->state;
  if (n > p->offered) return VMP_EINVAL;
  if (n == 0) return 0;
  p->offered -= n;
  publish_head(ring, n);
  return 0;
}

ptrdiff_t vmp_ring_write(vmp_ring *ring, const void *src, size_t n) {
  if (!ring || (!src && n)) return VMP_EINVAL;
  size_t space;
  int err = producer_space(ring, n, &space);
  if (err) return err;
  size_t count = n < space ? n : space;
  if (count == 0) return 0;
  memcpy(ring->data + ring->producer.own % ring->capacity, src, count);
  ring->producer.offered = 0;
  publish_head(ring, count);
  return (ptrdiff_t)count;
}

/* ---- consumer ------------------------------------------------------------------- */

/* Running, and the bytes there as of a fresh look at the head when the
 * cached one shows fewer than `want`; VMP_ESHUTDOWN once shut down and
 * empty. The flag is read before the head: a producer that shut down
 * after its last commit has then been seen whole. */
static int consumer_data(vmp_ring *ring, size_t want, size_t *there) {
  int err = start_consumer(ring);
  if (err) return err;
  if (used_bytes(ring) < want) {
    int down = is_shut_down(ring);
    err = refresh_head(ring);
    if (err) return err;
    if (down && used_bytes(ring) == 0) return VMP_ESHUTDOWN;
  }
  *there = used_bytes(ring);
  return 0;
}

int vmp_ring_read_begin(vmp_ring *ring, const void **ptr, size_t *len) {
  if (!ring || !ptr || !len) return VMP_EINVAL;
  size_t there;
  int err = consumer_data(ring, SIZE_MAX, &there);
  if (err) return err;
  ring->consumer.offered = there;
  *ptr = ring->data + ring->consumer.own % ring->capacity;
  *len = there;
  return 0;
}

int vmp_ring_read_release(vmp_ring *ring, size_t n) {
  if (!ring) return VMP_EINVAL;
  side *c = &ring->consumer;
  if (c->state < 0) return c->state;
  if (n > c->offered) return VMP_EINVAL;
  if (n == 0) return 0;
  c->offered -= n;
  publish_tail(ring, n);
  return 0;
}

ptrdiff_t vmp_ring_read(vmp_ring *ring, void *dst, size_t n) {
  if (!ring || (!dst && n)) return VMP_EINVAL;
  size_t there;
  int err = consumer_data(ring, n, &there);
  if (err) return err;
  size_t count = n < there ? n : there;
  if (count == 0) return 0;
  memcpy(dst, ring->data + ring->consumer.own % ring->capacity, count);
  ring->consumer.offered = 0;
  publish_tail(ring, count);
  return (ptrdiff_t)count;
}

/* ---- waiting ---------------------------------------------------------------------- */

typedef struct deadline {
  int64_t timeout; /* < 0: none */
  int64_t start;   /* vmp__os_monotonic_ns() at the start */
} deadline;

static deadline deadline_start(int64_t timeout_ns) {
  deadline d = {timeout_ns, timeout_ns > 0 ? vmp__os_monotonic_ns() : 0};
  return d;
}

/* What is left: -1 for no limit, 0 when it has passed. */
static int64_t deadline_left(const deadline *d) {
  if (d->timeout < 0) return -1;
  int64_t spent = d->timeout > 0 ? vmp__os_monotonic_ns() - d->start : 0;
  return spent >= d->timeout ? 0 : d->timeout - spent;
}

/* 1 when the side can go on, 0 when it must wait, or an error. */
typedef int (*probe_fn)(vmp_ring *ring, size_t want);

static int producer_probe(vmp_ring *ring, size_t want) {
  size_t space;
  int err = producer_space(ring, want, &space);
  return err ? err : space >= want;
}

/* Once shut down, bytes short of `want` are all there will ever be: the
 * caller may take them (VMP_ESHUTDOWN comes when none are left). */
static int consumer_probe(vmp_ring *ring, size_t want) {
  size_t there;
  int err = consumer_data(ring, want, &there);
  if (err) return err;
  if (there >= want) return 1;
  if (!is_shut_down(ring)) return 0;
  /* The shutdown may have come after consumer_data looked: look again with
   * the flag seen first, so the bytes published before it count and an
   * empty ring gives VMP_ESHUTDOWN rather than "ready" with nothing. */
  err = consumer_data(ring, want, &there);
  return err ? err : 1;
}

static int wait_for(vmp_ring *ring, probe_fn probe, size_t want, _Atomic uint32_t *seq,
                    _Atomic uint32_t *sleeping, int64_t timeout_ns) {
  for (int spin = 0; timeout_ns != 0 && spin < VMP__RING_SPIN_PROBES; spin++) {
    int ready = probe(ring, want);
    if (ready) return ready > 0 ? 0 : ready;
    vmp__os_cpu_relax();
  }
  deadline d = deadline_start(timeout_ns);
  for (;;) {
    int ready = probe(ring, want);
    if (ready) return ready > 0 ? 0 : ready;
    int64_t left = deadline_left(&d);
    if (left == 0) return VMP_ETIMEDOUT;
    uint32_t seen = atomic_load_explicit(seq, memory_order_acquire);
    atomic_store_explicit(sleeping, 1, memory_order_seq_cst);
    ready = probe(ring, want);
    if (!ready) vmp__os_wait(seq, seen, left); /* woken, timed out or spurious: look again */
    atomic_store_explicit(sleeping, 0, memory_order_relaxed);
    if (ready) return ready > 0 ? 0 : ready;
  }
}

int vmp_ring_wait_write(vmp_ring *ring, size_t want, int64_t timeout_ns) {
  if (!ring || want > ring->capacity) return VMP_EINVAL;
  return wait_for(ring, producer_probe, want, &ring->ctl->space_seq,
                  &ring->ctl->producer_sleeping, timeout_ns);
}

int vmp_ring_wait_read(vmp_ring *ring, size_t want, int64_t timeout_ns) {
  if (!ring || want > ring->capacity) return VMP_EINVAL;
  return wait_for(ring, consumer_probe, want, &ring->ctl->data_seq,
                  &ring->ctl->consumer_sleeping, timeout_ns);
}

void vmp_ring_shutdown(vmp_ring *ring) {
  if (!ring) return;
  control *ctl = ring->ctl;
  atomic_store_explicit(&ctl->shutdown, 1, memory_order_seq_cst);
  atomic_fetch_add_explicit(&ctl->data_seq, 1, memory_order_seq_cst);
  atomic_fetch_add_explicit(&ctl->space_seq, 1, memory_order_seq_cst);
  vmp__os_wake_all(&ctl->data_seq);
  vmp__os_wake_all(&ctl->space_seq);
}
