/*
 * Mirrored ring buffers: one memory object mapped twice back to back, with
 * a single-producer / single-consumer byte queue on top.
 *
 * The object is [control unit U][data C] (src/ring_layout.h), where U is
 * the unit of view object offsets (the page wherever views map at page
 * offsets, Windows included) or the huge page size. The region is laid
 * out as
 *
 *   [guard U][control U + data C: object 0..U+C][mirror C: object U..U+C][guard U]
 *
 * so the whole ring is two mappings. It is built from one reservation,
 * split and mapped piece by piece; any failure releases the region, which
 * undoes every earlier step.
 *
 * The control page is shared with a peer that may be broken or hostile, so
 * nothing read from it is trusted. Each side keeps its own index privately
 * (never reading it back from shared memory after it started) and caches
 * the other's; every index read from the page is checked against what that
 * side may legally have done since it was last seen. Pointers handed out
 * are computed from the private, checked values only, so no value in the
 * page can steer an access outside the two data views.
 *
 * Publishing and sleeping. The producer stores head with release ordering
 * after a commit, the consumer tail after a release, and each then looks at
 * the other side's `sleeping` flag: when it is set, it lowers it, bumps
 * that side's sequence word and wakes it. A side about to sleep reads the
 * sequence word, raises its flag and looks at the index once more. Only the
 * publisher that lowers the flag wakes: the others publishing before the
 * sleeper runs again make no system call (a consumer draining a full ring
 * would otherwise make one per record until its producer ran). The two
 * sides form a store-then-load handshake (Dekker's), which needs a full
 * barrier on both sides or a wake-up can be lost. The sleeper pays for it:
 * before its last look it issues the system's asymmetric barrier (Linux
 * membarrier), which puts a full barrier into every running thread of every
 * process registered for it, so the publisher needs none. Where the system
 * has no such barrier (or this process could not register), both sides make
 * their flag and index operations sequentially consistent instead (a full
 * barrier each); the creator's choice is written in the header, and an
 * attaching process that cannot follow it sleeps in bounded slices (see
 * choose_publishing()).
 */
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"
#include "internal.h"
#include "ring_private.h"

#define ATTACH_FLAGS (VMP_RING_HUGE_PAGES | VMP_RING_NO_INHERIT)
#define CREATE_FLAGS (ATTACH_FLAGS | VMP_RING_MULTI_PRODUCER)
/* How many times a waiting side looks again (with a CPU pause between
 * looks, some tens of microseconds in all) before it goes to sleep. With
 * the other side on another CPU the data usually arrives within that, and
 * a futex wait and wake per message would cost far more than the copy. */
#define SPIN_PROBES 2000
/* A producer of small messages that finds the ring full is ahead of its
 * consumer. Going on as soon as the few bytes it wants are free, it would
 * write into the cache line the consumer is still reading, message after
 * message, each write taking the line from the consumer's CPU and each
 * read taking it back. So while it spins it waits for this much room, to
 * write in lines the consumer has left; then for what it asked. Only when
 * it waits with no time limit: a caller with one gets its bytes as soon as
 * they are free. */
#define SPACE_BATCH 1024
/* The longest sleep of a side that cannot rely on being woken. */
#define BOUNDED_SLEEP_NS 1000000

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
static int read_header(const control *ctl, size_t capacity, uint32_t *flags, uint64_t *key) {
  vmp__ring_header h;
  memcpy(&h, &ctl->header, sizeof h);
  if (memcmp(h.magic, VMP__RING_MAGIC, VMP__RING_MAGIC_BYTES) != 0) return VMP_EPEER;
  if (h.version != VMP__RING_VERSION || h.capacity != capacity) return VMP_EPEER;
  if (h.flags & ~VMP__RING_HEADER_FLAGS) return VMP_EPEER;
  *flags = h.flags;
  *key = h.record_key;
  return 0;
}

/* Reserves the region and maps it as the layout above says; the ring's
 * mem and capacity must be set. Attaching, the header is read (through a
 * view of an object whose size was already checked) before the mirror is
 * mapped. */
static int map_layout(vmp_ring *ring, size_t unit, unsigned flags, int attaching) {
  size_t cap = ring->capacity, total;
  int err = region_bytes(cap, unit, &total);
  if (err) return err;
  vmp_region *region;
  err = vmp_reserve(total, (flags & VMP_RING_HUGE_PAGES) ? unit : 0, &region);
  if (err) return err;
  size_t front_at = unit, mirror_at = 2 * unit + cap;
  control *ctl = (control *)((char *)vmp_base(region) + front_at);
  if (!(err = vmp_split(region, front_at, unit + cap)) &&
      !(err = vmp_split(region, mirror_at, cap)) &&
      !(err = vmp_map(region, front_at, unit + cap, ring->mem, 0, VMP_PROT_RW)) &&
      !(err = attaching ? read_header(ctl, cap, &ring->header_flags, &ring->record_key) : 0) &&
      !(err = vmp_map(region, mirror_at, cap, ring->mem, unit, VMP_PROT_RW)) &&
      (flags & VMP_RING_NO_INHERIT))
    err = vmp__os_no_inherit(vmp_base(region), total);
  if (err) {
    vmp__undo(vmp_release(region));
    return err;
  }
  ring->region = region;
  ring->ctl = ctl;
  ring->data = (unsigned char *)ctl + unit;
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
  s->own = 0;
  s->room = 0;
  s->pos = 0;
  s->base = 0;
  s->offered = 0;
  s->held_need = 0;
  s->held_data = NULL;
  s->held_len = NO_RECORD;
  s->busy_at = UINT64_MAX; /* no counter: they stay below the modulus */
  s->busy_since = 0;
  s->state = state;
}

/* How this process publishes and sleeps, from how the creator publishes:
 * with fences, so do we; without, and we could register for the
 * asymmetric barrier too, neither do we; without, and we could not, we
 * fence (which is never wrong) but may miss a wake-up from the creator,
 * so we sleep in bounded slices. */
static void choose_publishing(vmp_ring *ring, int barrier_ready) {
  int light = (ring->header_flags & VMP__RING_LIGHT_PUBLISH) != 0;
  ring->fence_publish = !(light && barrier_ready);
  ring->bounded_sleep = light && !barrier_ready;
}

int vmp_ring_create(size_t size, unsigned flags, vmp_ring **out) {
  if (!out || size == 0 || (flags & ~(unsigned)CREATE_FLAGS)) return VMP_EINVAL;
  size_t unit, capacity;
  int err = unit_for(flags, size, &unit);
  if (!err) err = round_up(size, unit, &capacity);
  if (!err && capacity > SIZE_MAX - unit) err = VMP_ENOMEM;
  if (err) return err;
  size_t bytes = unit + capacity; /* the control unit, then the data */
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
  ring->modulus = vmp__ring_modulus(capacity);
  if (flags & VMP_RING_HUGE_PAGES)
    err = vmp__mem_create_huge(bytes, &ring->mem);
  else
    err = vmp_mem_create(bytes, 0, &ring->mem);
  if (err) goto fail_ring;
  /* Before anyone else can see the object: no peer can then shrink it
   * under our views. Ordinary anonymous objects come sealed already. */
  if (!(ring->mem->traits & VMP__OBJ_NO_SHRINK)) {
    err = vmp__os_object_seal_size(ring->mem->handle);
    if (err && err != VMP_ENOTSUP) goto fail_mem;
  }
  err = map_layout(ring, unit, flags, 0);
  if (err) goto fail_mem;
  ring->header_flags = vmp__os_remote_barrier_ready() ? VMP__RING_LIGHT_PUBLISH : 0;
  if (flags & VMP_RING_MULTI_PRODUCER) {
    ring->header_flags |= VMP__RING_MULTI_PRODUCER;
    ring->record_key = vmp__ring_new_key(ring);
  }
  choose_publishing(ring, 1);
  atomic_init(&ring->header_state, HEADER_UNWRITTEN);
  init_side(&ring->producer, SIDE_RUNNING);
  init_side(&ring->consumer, SIDE_RUNNING);
  vmp__ring_records_init(ring);
  *out = ring;
  return 0;

fail_mem:
  vmp__undo(vmp_mem_close(ring->mem));
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

/* The object must be sealed against shrinking where the system has seals:
 * otherwise the peer could shrink it and make our views fault. Then its
 * size must be a whole number of units, control plus data. (A peer that
 * grows it only makes the size disagree with the header: VMP_EPEER.) */
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
  if (!out || fd < 0 || (flags & ~(unsigned)ATTACH_FLAGS)) return VMP_EINVAL;
  size_t unit;
  int err = unit_for(flags, 0, &unit);
  if (err) return err;
  vmp_ring *ring = vmp__calloc(1, sizeof *ring);
  if (!ring) return VMP_ENOMEM;
  err = adopt_copy(fd, &ring->mem);
  if (err) goto fail_ring;
  err = check_object(ring->mem, unit, &ring->capacity);
  if (!err) {
    ring->modulus = vmp__ring_modulus(ring->capacity);
    err = map_layout(ring, unit, flags, 1);
  }
  if (err) goto fail_mem;
  choose_publishing(ring, vmp__os_remote_barrier_ready());
  /* The header was there: passing the descriptor on needs no write. */
  atomic_init(&ring->header_state, HEADER_WRITTEN);
  /* Which side this process will be is not known yet: each side reads the
   * shared indexes when it first runs. */
  init_side(&ring->producer, SIDE_UNSTARTED);
  init_side(&ring->consumer, SIDE_UNSTARTED);
  vmp__ring_records_init(ring);
  *out = ring;
  return 0;

fail_mem:
  vmp__undo(vmp_mem_close(ring->mem));
fail_ring:
  vmp__free(ring);
  return err;
}

/* The header, written once before the descriptor first leaves: a ring that
 * is never shared never touches its control page for it. Callers racing
 * here wait for the one that writes. */
static void publish_header(vmp_ring *ring) {
  int state = HEADER_UNWRITTEN;
  if (atomic_compare_exchange_strong_explicit(&ring->header_state, &state, HEADER_WRITING,
                                              memory_order_acquire, memory_order_acquire)) {
    vmp__ring_header h = {
        {0}, VMP__RING_VERSION, ring->header_flags, ring->capacity, ring->record_key};
    memcpy(h.magic, VMP__RING_MAGIC, VMP__RING_MAGIC_BYTES);
    memcpy(&ring->ctl->header, &h, sizeof h);
    atomic_store_explicit(&ring->header_state, HEADER_WRITTEN, memory_order_release);
    return;
  }
  while (atomic_load_explicit(&ring->header_state, memory_order_acquire) != HEADER_WRITTEN)
    vmp__os_cpu_relax();
}

intptr_t vmp_ring_fd(const vmp_ring *ring) {
  if (!ring) return -1;
  /* The handle is const to the caller; the header is shared state that
   * the ring owns and writes once. */
  publish_header((vmp_ring *)ring);
  return vmp_mem_fd(ring->mem);
}

size_t vmp_ring_capacity(const vmp_ring *ring) { return ring ? ring->capacity : 0; }

void *vmp_ring_data(const vmp_ring *ring) { return ring ? ring->data : NULL; }

int vmp_ring_close(vmp_ring *ring) {
  if (!ring) return 0;
  while (atomic_load_explicit(&ring->shutdowns_running, memory_order_acquire) != 0)
    vmp__os_cpu_relax();
  int err = vmp_release(ring->region);
  if (err) return err; /* the ring stays whole, to be closed again */
  err = vmp_mem_close(ring->mem);
  vmp__free(ring);
  return err;
}

void vmp__ring_wake(_Atomic uint32_t *sleeping, _Atomic uint32_t *seq) {
  /* Whoever lowered it first wakes every sleeper that raised it before:
   * each read the sequence word before raising it, so the bump below
   * makes their waits return even if they are not asleep yet. */
  if (!atomic_exchange_explicit(sleeping, 0, memory_order_seq_cst)) return;
  atomic_fetch_add_explicit(seq, 1, memory_order_release);
  vmp__os_wake_all(seq);
}

int vmp__ring_producer_space_slow(vmp_ring *ring, size_t want, size_t *space) {
  int err = start_producer(ring);
  if (err) return err;
  if (is_shut_down(ring)) return VMP_ESHUTDOWN;
  if (ring->producer.room < want) {
    err = refresh_tail(ring);
    if (err) return err;
  }
  *space = ring->producer.room;
  return 0;
}

int vmp__ring_consumer_data_slow(vmp_ring *ring, size_t want, size_t *there) {
  int err = start_consumer(ring);
  if (err) return err;
  if (ring->consumer.room < want) {
    int down = is_shut_down(ring);
    err = refresh_head(ring);
    if (err) return err;
    if (down && ring->consumer.room == 0) return VMP_ESHUTDOWN;
  }
  *there = ring->consumer.room;
  return 0;
}

/* Byte calls would take a multi-producer ring's record headers apart. */
static inline int carries_records_only(const vmp_ring *ring) {
  return (ring->header_flags & VMP__RING_MULTI_PRODUCER) != 0;
}

/* ---- producer ------------------------------------------------------------------- */

/* The in-place calls' common case is one unsigned compare: want - 1 <
 * room holds for 1 <= want <= room only, and room is 0 unless the side
 * runs and never more than the capacity, so it also says that want is
 * valid and the side running; n - 1 < offered likewise, offered being 0 on
 * a broken side and on both sides of a multi-producer ring (its record
 * calls hold records, they offer no bytes). Everything else,
 * in the documented order, is out of line. The fast and the slow path end
 * in the same inline tail rather than the slow path returning into the
 * fast one: that would keep values alive across the call and cost the
 * fast path its shrink-wrapped prologue (3 to 5 instructions a call). */

/* Puts bytes on offer and returns where they start. */
static inline unsigned char *offer(side *s, unsigned char *data, size_t bytes, size_t *len) {
  s->offered = bytes;
  *len = bytes;
  return data + s->pos;
}

static inline ptrdiff_t put(vmp_ring *ring, const void *src, size_t count) {
  memcpy(ring->data + ring->producer.pos, src, count);
  ring->producer.offered = 0;
  publish_head(ring, count);
  return (ptrdiff_t)count;
}

static VMP__RING_APART int write_begin_slow(vmp_ring *ring, size_t want, void **ptr, size_t *len) {
  if (!ptr || !len || (want > ring->capacity && want != VMP_RING_ALL) || carries_records_only(ring))
    return VMP_EINVAL;
  size_t space;
  int err = vmp__ring_producer_space(ring, want ? want : 1, &space);
  if (err) return err;
  *ptr = offer(&ring->producer, ring->data, space, len);
  return 0;
}

int vmp_ring_write_begin(vmp_ring *ring, size_t want, void **ptr, size_t *len) {
  if (!ring) return VMP_EINVAL;
  side *p = &ring->producer;
  if (want - 1 >= p->room || !ptr || !len || carries_records_only(ring) || is_shut_down(ring))
    return write_begin_slow(ring, want, ptr, len);
  *ptr = offer(p, ring->data, p->room, len);
  return 0;
}

static VMP__RING_SLOW int write_commit_slow(vmp_ring *ring, size_t n) {
  const side *p = &ring->producer;
  if (carries_records_only(ring)) return VMP_EINVAL;
  if (p->state < 0) return p->state;
  return n == 0 ? 0 : VMP_EINVAL;
}

int vmp_ring_write_commit(vmp_ring *ring, size_t n) {
  if (!ring) return VMP_EINVAL;
  side *p = &ring->producer;
  if (n - 1 >= p->offered) return write_commit_slow(ring, n);
  p->offered -= n;
  publish_head(ring, n);
  return 0;
}

static VMP__RING_APART ptrdiff_t write_slow(vmp_ring *ring, const void *src, size_t n) {
  if ((!src && n) || carries_records_only(ring)) return VMP_EINVAL;
  size_t space;
  int err = vmp__ring_producer_space(ring, n, &space);
  if (err) return err;
  size_t count = n < space ? n : space;
  return count ? put(ring, src, count) : 0;
}

ptrdiff_t vmp_ring_write(vmp_ring *ring, const void *src, size_t n) {
  if (!ring) return VMP_EINVAL;
  side *p = &ring->producer;
  if (n - 1 >= p->room || !src || carries_records_only(ring) || is_shut_down(ring))
    return write_slow(ring, src, n);
  return put(ring, src, n);
}

/* ---- consumer ------------------------------------------------------------------- */

static inline ptrdiff_t take(vmp_ring *ring, void *dst, size_t count) {
  memcpy(dst, ring->data + ring->consumer.pos, count);
  ring->consumer.offered = 0;
  publish_tail(ring, count);
  return (ptrdiff_t)count;
}

static VMP__RING_APART int read_begin_slow(vmp_ring *ring, size_t want, const void **ptr,
                                           size_t *len) {
  if (!ptr || !len || (want > ring->capacity && want != VMP_RING_ALL) || carries_records_only(ring))
    return VMP_EINVAL;
  size_t there;
  int err = vmp__ring_consumer_data(ring, want ? want : 1, &there);
  if (err) return err;
  *ptr = offer(&ring->consumer, ring->data, there, len);
  return 0;
}

int vmp_ring_read_begin(vmp_ring *ring, size_t want, const void **ptr, size_t *len) {
  if (!ring) return VMP_EINVAL;
  side *c = &ring->consumer;
  if (want - 1 >= c->room || !ptr || !len || carries_records_only(ring))
    return read_begin_slow(ring, want, ptr, len);
  *ptr = offer(c, ring->data, c->room, len);
  return 0;
}

static VMP__RING_SLOW int read_release_slow(vmp_ring *ring, size_t n) {
  const side *c = &ring->consumer;
  if (carries_records_only(ring)) return VMP_EINVAL;
  if (c->state < 0) return c->state;
  return n == 0 ? 0 : VMP_EINVAL;
}

int vmp_ring_read_release(vmp_ring *ring, size_t n) {
  if (!ring) return VMP_EINVAL;
  side *c = &ring->consumer;
  if (n - 1 >= c->offered) return read_release_slow(ring, n);
  c->offered -= n;
  publish_tail(ring, n);
  return 0;
}

static VMP__RING_APART ptrdiff_t read_slow(vmp_ring *ring, void *dst, size_t n) {
  if ((!dst && n) || carries_records_only(ring)) return VMP_EINVAL;
  size_t there;
  int err = vmp__ring_consumer_data(ring, n, &there);
  if (err) return err;
  size_t count = n < there ? n : there;
  return count ? take(ring, dst, count) : 0;
}

ptrdiff_t vmp_ring_read(vmp_ring *ring, void *dst, size_t n) {
  if (!ring) return VMP_EINVAL;
  side *c = &ring->consumer;
  if (n - 1 >= c->room || !dst || carries_records_only(ring)) return read_slow(ring, dst, n);
  return take(ring, dst, n);
}

/* ---- descriptor I/O ------------------------------------------------------------- */

ptrdiff_t vmp_ring_fill(vmp_ring *ring, intptr_t fd, size_t max) {
  if (!ring || max == 0 || carries_records_only(ring)) return VMP_EINVAL;
  size_t space;
  int err = vmp__ring_producer_space(ring, max == VMP_RING_ALL ? ring->capacity : max, &space);
  if (err) return err;
  if (space == 0) return VMP_EFULL;
  size_t got;
  while ((err = vmp__os_read(fd, ring->data + ring->producer.pos, space < max ? space : max,
                             &got)) != 0 &&
         vmp__os_interrupted(err))
    if (is_shut_down(ring)) return VMP_ESHUTDOWN;
  if (err) return err;
  ring->producer.offered = 0;
  if (got) publish_head(ring, got);
  return (ptrdiff_t)got;
}

ptrdiff_t vmp_ring_drain(vmp_ring *ring, intptr_t fd, size_t max) {
  if (!ring || max == 0 || carries_records_only(ring)) return VMP_EINVAL;
  size_t there;
  int err = vmp__ring_consumer_data(ring, max == VMP_RING_ALL ? ring->capacity : max, &there);
  if (err) return err;
  if (there == 0) return 0;
  size_t put;
  while ((err = vmp__os_write(fd, ring->data + ring->consumer.pos, there < max ? there : max,
                              &put)) != 0 &&
         vmp__os_interrupted(err))
    if (is_shut_down(ring)) return VMP_ESHUTDOWN;
  if (err) return err;
  ring->consumer.offered = 0;
  if (put) publish_tail(ring, put);
  return (ptrdiff_t)put;
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

static int producer_probe(vmp_ring *ring, size_t want) {
  size_t space;
  int err = vmp__ring_producer_space(ring, want, &space);
  return err ? err : space >= want;
}

/* Once shut down, bytes short of `want` are all there will ever be: the
 * caller may take them (VMP_ESHUTDOWN comes when none are left). */
static int consumer_probe(vmp_ring *ring, size_t want) {
  size_t there;
  int err = vmp__ring_consumer_data(ring, want, &there);
  if (err) return err;
  if (there >= want) return 1;
  if (!is_shut_down(ring)) return 0;
  /* The shutdown may have come after consumer_data looked: look again with
   * the flag seen first, so the bytes published before it count and an
   * empty ring gives VMP_ESHUTDOWN rather than "ready" with nothing. */
  err = vmp__ring_consumer_data(ring, want, &there);
  return err ? err : 1;
}

/* The sleeper's half of the handshake: its flag is up (several producers
 * of a multi-producer ring may raise it at once; the publisher that lowers
 * it wakes them all), ordered before its last look at the other side's
 * index, and that look is ordered after the publisher's store too
 * (sequentially consistent operations on both sides, or the asymmetric
 * barrier). Returns whether a wake-up is now certain to come (else the
 * sleep must be short). */
static int raise_flag(const vmp_ring *ring, _Atomic uint32_t *sleeping) {
  if (ring->fence_publish) {
    atomic_store_explicit(sleeping, 1, memory_order_seq_cst);
    return !ring->bounded_sleep;
  }
  atomic_store_explicit(sleeping, 1, memory_order_relaxed);
  return vmp__os_remote_barrier() == 0;
}

/* The spin before a sleep: SPIN_PROBES looks with a pause between them,
 * the first for `want` and the rest for `spin_want` (at least as much).
 * Returns the last look's answer: 0 (not yet), 1 (go on) or an error. */
static int spin_probes(vmp_ring *ring, vmp__ring_probe probe, size_t want, size_t spin_want) {
  int ready = probe(ring, want);
  for (int probes = 1; !ready && probes < SPIN_PROBES; probes++) {
    vmp__os_cpu_relax();
    ready = probe(ring, spin_want);
  }
  return ready;
}

int vmp__ring_wait(vmp_ring *ring, vmp__ring_probe probe, size_t want, _Atomic uint32_t *seq,
                   _Atomic uint32_t *sleeping, int64_t timeout_ns, int spin) {
  if (spin && timeout_ns != 0) {
    int ready = spin_probes(ring, probe, want, want);
    if (ready) return ready > 0 ? 0 : ready;
  }
  deadline d = deadline_start(timeout_ns);
  for (;;) {
    int ready = probe(ring, want);
    if (ready) return ready > 0 ? 0 : ready;
    int64_t left = deadline_left(&d);
    if (left == 0) return VMP_ETIMEDOUT;
    uint32_t seen = atomic_load_explicit(seq, memory_order_acquire);
    if (!raise_flag(ring, sleeping) && (left < 0 || left > BOUNDED_SLEEP_NS))
      left = BOUNDED_SLEEP_NS;
    ready = probe(ring, want);
    /* Woken, timed out or spurious: look again. The flag stays up (other
     * producers may sleep on it too): the next publisher lowers it, with
     * one needless wake-up at most. */
    if (!ready) vmp__os_wait(seq, seen, left);
    if (ready) return ready > 0 ? 0 : ready;
  }
}

int vmp_ring_wait_write(vmp_ring *ring, size_t want, int64_t timeout_ns) {
  if (!ring || want > ring->capacity || carries_records_only(ring)) return VMP_EINVAL;
  int spin = 1;
  if (timeout_ns < 0 && want < SPACE_BATCH && ring->capacity >= SPACE_BATCH) {
    int ready = spin_probes(ring, producer_probe, want, SPACE_BATCH);
    if (ready) return ready > 0 ? 0 : ready;
    spin = 0;
  }
  return vmp__ring_wait(ring, producer_probe, want, &ring->ctl->space_seq,
                        &ring->ctl->producer_sleeping, timeout_ns, spin);
}

int vmp_ring_wait_read(vmp_ring *ring, size_t want, int64_t timeout_ns) {
  if (!ring || want > ring->capacity || carries_records_only(ring)) return VMP_EINVAL;
  return vmp__ring_wait(ring, consumer_probe, want, &ring->ctl->data_seq,
                        &ring->ctl->consumer_sleeping, timeout_ns, 1);
}

void vmp_ring_shutdown(vmp_ring *ring) {
  if (!ring) return;
  control *ctl = ring->ctl;
  /* The flag must come before the bumps (a sleeper that saw no flag sleeps
   * on a word that has yet to change), so a side that sees it may close
   * the handle while the bumps are still to come: it waits for this. */
  atomic_fetch_add_explicit(&ring->shutdowns_running, 1, memory_order_seq_cst);
  atomic_store_explicit(&ctl->shutdown, 1, memory_order_seq_cst);
  atomic_fetch_add_explicit(&ctl->data_seq, 1, memory_order_seq_cst);
  atomic_fetch_add_explicit(&ctl->space_seq, 1, memory_order_seq_cst);
  vmp__os_wake_all(&ctl->data_seq);
  vmp__os_wake_all(&ctl->space_seq);
  atomic_fetch_sub_explicit(&ring->shutdowns_running, 1, memory_order_release);
}
