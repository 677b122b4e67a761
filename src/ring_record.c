/*
 * Records on a mirrored ring: a producer reserves n bytes and gets one
 * contiguous pointer (the mirror makes every record contiguous, so there is
 * never a padding record or a split copy), then submits or discards; the
 * consumer takes the next record whole, then consumes it. The framing is
 * in src/ring_layout.h.
 *
 * A single-producer ring moves its head only when a record is submitted,
 * so the consumer never sees a record that is not finished and a header is
 * just the length.
 *
 * A multi-producer ring (VMP_RING_MULTI_PRODUCER) lets producers in many
 * threads and processes reserve at once: each claims its bytes by moving
 * the shared head with a compare-and-swap, then writes the header (busy,
 * tagged with the record's counter) and later marks it done. Records come
 * out in reservation order; the consumer waits for a busy one. A producer
 * that died between reserve and submit must not stop the ring for good:
 * after the abandonment timeout the consumer skips its record, and when
 * the producer died even before its header was written (so the length is
 * unknown) it finds the next record by its tag. A producer that is only
 * stalled for longer than that timeout loses its record (its submit says
 * VMP_ETIMEDOUT), and whatever it writes late may land in bytes that later
 * records reuse: the timeout must be longer than any producer can take
 * between reserve and submit.
 *
 * Nothing read from the control page or a header steers an access: every
 * pointer is the data plus a counter's position (always below the
 * capacity) plus at most the capacity, inside the data and its mirror.
 */
#include <string.h>

#include "internal.h"
#include "ring_private.h"

#define SP_HEADER sizeof(vmp__ring_sp_header)
#define MP_HEADER sizeof(vmp__ring_mp_header)
#define ALIGN VMP__RING_RECORD_ALIGN
/* The default time a consumer waits for a busy record before skipping it. */
#define DEFAULT_ABANDON_NS 1000000000LL
/* Consecutive inconsistent looks at head and tail (each one a legitimate
 * race is possible) before a producer calls the peer broken. */
#define MAX_RETRIES 64
/* The consumer's spin on a record header before it sleeps, the time before
 * its first look (see mp_watch), and the most CPU pauses between looks. */
#define WATCH_NS 50000
#define WATCH_FIRST_NS 2000
#define WATCH_PAUSES_MAX 32

static inline int is_multi(const vmp_ring *ring) {
  return (ring->header_flags & VMP__RING_MULTI_PRODUCER) != 0;
}

size_t vmp_ring_record_max(const vmp_ring *ring) { return ring ? ring->record_max : 0; }

/* The ring bytes a record of `len` payload bytes takes, or 0 when it can
 * never fit. */
static inline size_t record_bytes(const vmp_ring *ring, size_t len) {
  if (len > ring->record_max) return 0;
  return (ring->record_header + len + (ALIGN - 1)) & ~(size_t)(ALIGN - 1);
}

void vmp__ring_records_init(vmp_ring *ring) {
  ring->pos_mask = (ring->capacity & (ring->capacity - 1)) == 0 ? ring->capacity - 1 : 0;
  atomic_init(&ring->tail_seen, UINT64_MAX);
  ring->record_header = is_multi(ring) ? MP_HEADER : SP_HEADER;
  size_t max = ring->capacity - ring->record_header;
  ring->record_max = max < UINT32_MAX ? max : UINT32_MAX;
  ring->abandon_ns = DEFAULT_ABANDON_NS;
}

uint64_t vmp__ring_new_key(const vmp_ring *ring) {
  /* splitmix64 over the clock and the ring's address (ASLR). */
  uint64_t x = (uint64_t)vmp__os_monotonic_ns() ^ ((uint64_t)(uintptr_t)ring << 17) ^
               (uint64_t)(uintptr_t)ring->data;
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

/* A statistics counter: one writer per counter, except the producers'
 * counters of a multi-producer ring. */
static inline void count(_Atomic uint64_t *counter, int shared) {
  if (shared)
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
  else
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* ---- single producer ------------------------------------------------------------ */

/* The record a side hands out: the `need` bytes at its counter, the
 * payload after the header (which submit writes, or next has read). */
static inline void hand_out(vmp_ring *ring, side *s, size_t len, size_t need,
                            vmp_ring_record *rec) {
  unsigned char *data = ring->data + s->pos + SP_HEADER;
  s->held_need = need;
  s->held_data = data;
  s->held_len = len;
  rec->data = data;
  rec->len = len;
  rec->at = s->own;
}

/* Not running yet or any more, shut down, or short of room as far as the
 * cached tail says: look again, and wait when asked to. */
static VMP__RING_SLOW int sp_reserve_slow(vmp_ring *ring, size_t len, size_t need,
                                          int64_t timeout_ns, vmp_ring_record *rec) {
  size_t space;
  int err = vmp__ring_producer_space_slow(ring, need, &space);
  if (!err && space < need)
    err = timeout_ns == 0 ? VMP_EFULL : vmp_ring_wait_write(ring, need, timeout_ns);
  if (err == VMP_EFULL || err == VMP_ETIMEDOUT) count(&ring->ctl->dropped, 0);
  if (err) return err;
  hand_out(ring, &ring->producer, len, need, rec);
  return 0;
}

static inline int sp_reserve(vmp_ring *ring, size_t len, size_t need, int64_t timeout_ns,
                             vmp_ring_record *rec) {
  const side *p = &ring->producer;
  if (p->state != SIDE_RUNNING || p->room < need || is_shut_down(ring))
    return sp_reserve_slow(ring, len, need, timeout_ns, rec);
  hand_out(ring, &ring->producer, len, need, rec);
  return 0;
}

/* `rec` is the record this side holds (reserved, or given by next), as it
 * was handed out: while none is held (a broken side included) the held
 * length is NO_RECORD, which no record handed out has. The counter says
 * which record: one a lap of the ring earlier at the same place, or one
 * held before a byte call moved the counter, does not match. */
static inline int holds(const side *s, const vmp_ring_record *rec) {
  return rec->len == s->held_len && rec->data == s->held_data && rec->at == s->own;
}

static inline int sp_finish(vmp_ring *ring, const vmp_ring_record *rec, int submit) {
  side *p = &ring->producer;
  control *ctl = ring->ctl;
  if (!holds(p, rec)) return p->state < 0 ? p->state : VMP_EINVAL;
  size_t need = p->held_need;
  p->held_len = NO_RECORD;
  if (!submit) {
    count(&ctl->discarded, 0);
    return 0;
  }
  vmp__ring_sp_header h = {(uint32_t)rec->len, 0};
  memcpy(ring->data + p->pos, &h, sizeof h);
  publish_head(ring, need);
  count(&ctl->records_written, 0);
  return 0;
}

/* ---- single producer: the consumer ---------------------------------------------- */

/* The header at our tail, read once: 0 with the record's bytes in *need, or
 * 1 when its length and zero word are not those of a record (the peer
 * scribbled). The zero word above the length makes the two one number
 * that is at most record_max (below 2^32) exactly when the zero word is 0
 * and the length fits. */
static inline int sp_header(const vmp_ring *ring, size_t *len, size_t *need) {
  vmp__ring_sp_header h;
  memcpy(&h, ring->data + ring->consumer.pos, sizeof h);
  uint64_t both = (uint64_t)h.zero << 32 | h.len;
  if (both > ring->record_max) return 1;
  *len = (size_t)both;
  *need = (SP_HEADER + *len + (ALIGN - 1)) & ~(size_t)(ALIGN - 1);
  return 0;
}

/* Not running yet or any more, or the cached head shows no header or not
 * all of the record: look again, and wait when asked to. */
static VMP__RING_SLOW int sp_next_slow(vmp_ring *ring, int64_t timeout_ns, vmp_ring_record *rec) {
  side *c = &ring->consumer;
  size_t there;
  int err = vmp__ring_consumer_data_slow(ring, SP_HEADER, &there);
  if (!err && there < SP_HEADER) {
    err = timeout_ns == 0 ? VMP_ETIMEDOUT : vmp_ring_wait_read(ring, SP_HEADER, timeout_ns);
    if (!err) err = vmp__ring_consumer_data(ring, SP_HEADER, &there);
  }
  if (err) return err;
  /* Records are published whole: a header's worth of bytes is always
   * there, and so is all of the record it announces. */
  if (there < SP_HEADER) return broken(c);
  size_t len, need;
  if (sp_header(ring, &len, &need)) return broken(c);
  if (need > there && ((err = vmp__ring_consumer_data(ring, need, &there)) != 0)) return err;
  if (need > there) return broken(c);
  hand_out(ring, &ring->consumer, len, need, rec);
  return 0;
}

static inline int sp_next(vmp_ring *ring, int64_t timeout_ns, vmp_ring_record *rec) {
  side *c = &ring->consumer;
  size_t len, need;
  if (c->state != SIDE_RUNNING) return sp_next_slow(ring, timeout_ns, rec);
  if (c->room < SP_HEADER && (refresh_head(ring) != 0 || c->room < SP_HEADER))
    return sp_next_slow(ring, timeout_ns, rec);
  /* A header the head shows was published whole: one that is not a
   * record's is the peer's doing. One whose record goes past the head we
   * saw sends us to look at the head again (and read the header again:
   * each read is checked on its own). */
  if (sp_header(ring, &len, &need)) return broken(c);
  if (need > c->room) return sp_next_slow(ring, timeout_ns, rec);
  hand_out(ring, &ring->consumer, len, need, rec);
  return 0;
}

/* ---- many producers ----------------------------------------------------------------- */

static inline vmp__ring_mp_header *mp_header_at(const vmp_ring *ring, uint64_t counter) {
  size_t pos = (size_t)(ring->pos_mask ? counter & ring->pos_mask : counter % ring->capacity);
  return (vmp__ring_mp_header *)(void *)(ring->data + pos);
}

/* The free bytes at `head` as far as the tail this process last saw says
 * (a lower bound), or 0 when that says nothing: no tail seen yet, a head
 * that is not a counter (the fresh look finds out), or one more than the
 * capacity ahead of it (the tail has moved on since). Acquire: the
 * consumer was done with those bytes before it published that tail. */
static inline int mp_free_seen(vmp_ring *ring, uint64_t head, size_t *space) {
  uint64_t tail = atomic_load_explicit(&ring->tail_seen, memory_order_acquire);
  if (tail >= ring->modulus || head >= ring->modulus || (head & (ALIGN - 1))) return 0;
  uint64_t used = distance(ring, head, tail);
  if (used > ring->capacity) return 0;
  *space = ring->capacity - (size_t)used;
  return 1;
}

/* The free bytes as of a fresh look at tail and head (tail first: it can
 * only have moved less far than the head read after it), 0 while the
 * looks disagree, or VMP_EPEER. The tail is kept for mp_free_seen. */
static int mp_free(vmp_ring *ring, uint64_t *head, size_t *space) {
  for (int tries = 0; tries < MAX_RETRIES; tries++) {
    uint64_t tail = atomic_load_explicit(&ring->ctl->tail, memory_order_acquire);
    uint64_t h = atomic_load_explicit(&ring->ctl->head, memory_order_relaxed);
    if (tail >= ring->modulus || h >= ring->modulus || ((tail | h) & (ALIGN - 1))) return VMP_EPEER;
    uint64_t used = distance(ring, h, tail);
    if (used <= ring->capacity) {
      /* Another producer may store an older tail over it: that only
       * shows less room, and the next short look comes back here. */
      atomic_store_explicit(&ring->tail_seen, tail, memory_order_release);
      *head = h;
      *space = ring->capacity - (size_t)used;
      return 0;
    }
  }
  return VMP_EPEER;
}

static int mp_space_probe(vmp_ring *ring, size_t need) {
  if (is_shut_down(ring)) return VMP_ESHUTDOWN;
  uint64_t head;
  size_t space;
  int err = mp_free(ring, &head, &space);
  return err ? err : space >= need;
}

static VMP__RING_APART int mp_reserve(vmp_ring *ring, size_t len, size_t need, int64_t timeout_ns,
                                      vmp_ring_record *rec) {
  control *ctl = ring->ctl;
  uint64_t head = atomic_load_explicit(&ctl->head, memory_order_relaxed);
  for (;;) {
    if (is_shut_down(ring)) return VMP_ESHUTDOWN;
    size_t space;
    /* The head we hold (read, or what a failed exchange found) and the
     * tail seen before are enough while they show the room; only when
     * they do not are both looked at afresh. */
    if (!mp_free_seen(ring, head, &space) || space < need) {
      int err = mp_free(ring, &head, &space);
      if (err) return err;
      if (space < need) {
        err = timeout_ns == 0 ? VMP_EFULL
                              : vmp__ring_wait(ring, mp_space_probe, need, &ctl->space_seq,
                                               &ctl->producer_sleeping, timeout_ns, 1);
        if (err == VMP_EFULL || err == VMP_ETIMEDOUT) count(&ctl->dropped, 1);
        if (err) return err;
        head = atomic_load_explicit(&ctl->head, memory_order_relaxed);
        continue;
      }
    }
    if (atomic_compare_exchange_weak_explicit(&ctl->head, &head, advance(ring, head, need),
                                              memory_order_relaxed, memory_order_relaxed))
      break;
  }
  vmp__ring_mp_header *h = mp_header_at(ring, head);
  h->len = (uint32_t)len;
  atomic_store_explicit(&h->state, VMP__RING_REC_BUSY, memory_order_relaxed);
  atomic_store_explicit(&h->tag, head ^ ring->record_key, memory_order_release);
  rec->data = (unsigned char *)(h + 1);
  rec->len = len;
  rec->at = head;
  return 0;
}

static VMP__RING_APART int mp_finish(vmp_ring *ring, const vmp_ring_record *rec, int submit) {
  if (rec->at >= ring->modulus || record_bytes(ring, rec->len) == 0) return VMP_EINVAL;
  vmp__ring_mp_header *h = mp_header_at(ring, rec->at);
  if ((void *)(h + 1) != rec->data ||
      atomic_load_explicit(&h->tag, memory_order_relaxed) != (rec->at ^ ring->record_key))
    return VMP_EINVAL;
  uint32_t busy = VMP__RING_REC_BUSY;
  uint32_t done = submit ? 0 : VMP__RING_REC_DISCARDED;
  /* Sequentially consistent: the state is published like an index, and the
   * consumer's flag is read after it (see the top of src/ring.c). */
  if (!atomic_compare_exchange_strong_explicit(&h->state, &busy, done, memory_order_seq_cst,
                                               memory_order_relaxed))
    return busy == VMP__RING_REC_ABANDONED ? VMP_ETIMEDOUT : VMP_EINVAL;
  count(submit ? &ring->ctl->records_written : &ring->ctl->discarded, 1);
  if (atomic_load_explicit(&ring->ctl->consumer_sleeping, memory_order_seq_cst))
    vmp__ring_wake(&ring->ctl->consumer_sleeping, &ring->ctl->data_seq);
  return 0;
}

/* ---- many producers: the consumer ---------------------------------------------- */

/* Gives up the record at the tail, of `need` bytes. */
static void mp_skip(vmp_ring *ring, size_t need) {
  ring->consumer.busy_at = UINT64_MAX;
  publish_tail(ring, need);
}

/* Whether the record at the tail has been busy (or missing) for longer
 * than the abandonment timeout, starting the clock at the first look. */
static int waited_too_long(vmp_ring *ring) {
  side *c = &ring->consumer;
  int64_t now = vmp__os_monotonic_ns();
  if (c->busy_at != c->own) {
    c->busy_at = c->own;
    c->busy_since = now;
    return 0;
  }
  return ring->abandon_ns >= 0 && now - c->busy_since >= ring->abandon_ns;
}

/* A producer died after it claimed bytes but before it wrote their header:
 * the next record is the first slot after the tail that holds its own tag,
 * or there is none up to the head. The bytes before it are given up. */
static void mp_resync(vmp_ring *ring) {
  side *c = &ring->consumer;
  size_t skip = ALIGN;
  for (; skip + MP_HEADER <= c->room; skip += ALIGN) {
    uint64_t at = advance(ring, c->own, skip);
    if (atomic_load_explicit(&mp_header_at(ring, at)->tag, memory_order_acquire) ==
        (at ^ ring->record_key)) {
      mp_skip(ring, skip);
      return;
    }
  }
  mp_skip(ring, c->room);
}

/* 1 with the record at the tail ready in *need, 0 to wait, or an error;
 * discarded and abandoned records on the way are skipped. */
static int mp_probe_record(vmp_ring *ring, size_t *need) {
  side *c = &ring->consumer;
  for (;;) {
    if (c->room < MP_HEADER) {
      int down = is_shut_down(ring);
      int err = refresh_head(ring);
      if (err) return err;
      /* Records start and end at multiples of ALIGN: so do the counters. */
      if ((c->own | c->room) & (ALIGN - 1)) return broken(c);
      if (c->room == 0) return down ? VMP_ESHUTDOWN : 0;
      /* Claimed, but its header is not there yet (or never will be). */
      if (c->room < MP_HEADER) return broken(c);
    }
    /* The side's first look at the counters came without a refresh. */
    if ((c->own | c->room) & (ALIGN - 1)) return broken(c);
    vmp__ring_mp_header *h = mp_header_at(ring, c->own);
    if (atomic_load_explicit(&h->tag, memory_order_acquire) != (c->own ^ ring->record_key)) {
      if (!waited_too_long(ring)) return 0;
      mp_resync(ring);
      count(&ring->ctl->abandoned, 0);
      continue;
    }
    size_t bytes = record_bytes(ring, h->len);
    if (bytes == 0) return broken(c);
    if (bytes > c->room) {
      /* It was claimed whole before its header was written. */
      int err = refresh_head(ring);
      if (err) return err;
      if (bytes > c->room || (c->room & (ALIGN - 1))) return broken(c);
    }
    uint32_t state = atomic_load_explicit(&h->state, memory_order_acquire);
    if (state == 0) {
      *need = bytes;
      return 1;
    }
    if (state == VMP__RING_REC_DISCARDED || state == VMP__RING_REC_ABANDONED) {
      mp_skip(ring, bytes);
      continue;
    }
    if (state != VMP__RING_REC_BUSY) return broken(c);
    if (!waited_too_long(ring)) return 0;
    uint32_t busy = VMP__RING_REC_BUSY;
    if (atomic_compare_exchange_strong_explicit(&h->state, &busy, VMP__RING_REC_ABANDONED,
                                                memory_order_acquire, memory_order_acquire)) {
      mp_skip(ring, bytes);
      count(&ring->ctl->abandoned, 0);
    }
    /* Else it was just submitted or discarded: look again. */
  }
}

/* Waits a while, spinning, for the record at the tail to be there and no
 * longer busy as its header shows (1), or gives up (0) for the caller's
 * wait, whose looks at the head tell an empty ring from a dead producer.
 * Each look takes a line from the producers' CPU that a producer writes
 * again for the next record (the header line, and the head's once the
 * record is there), so the first look comes only after WATCH_FIRST_NS:
 * by then the producers have written a run of records, which the
 * consumer takes with one look at the head, rather than each record
 * costing them their lines again. The looks after it are by the header
 * alone and thin out as the wait goes on. */
static int mp_watch(const vmp_ring *ring, int64_t left) {
  const side *c = &ring->consumer;
  const vmp__ring_mp_header *h = mp_header_at(ring, c->own);
  uint64_t tag = c->own ^ ring->record_key;
  int64_t budget = left >= 0 && left < WATCH_NS ? left : WATCH_NS;
  int64_t first = WATCH_FIRST_NS < budget ? WATCH_FIRST_NS : budget;
  int64_t start = vmp__os_monotonic_ns(), spent = 0;
  for (; spent < first; spent = vmp__os_monotonic_ns() - start)
    for (int i = 0; i < 8; i++) vmp__os_cpu_relax();
  for (int pauses = 1; spent < budget; spent = vmp__os_monotonic_ns() - start) {
    if (atomic_load_explicit(&h->tag, memory_order_relaxed) == tag &&
        atomic_load_explicit(&h->state, memory_order_relaxed) != VMP__RING_REC_BUSY)
      return 1;
    for (int i = 0; i < pauses; i++) vmp__os_cpu_relax();
    if (pauses < WATCH_PAUSES_MAX) pauses *= 2;
  }
  return 0;
}

static int mp_probe(vmp_ring *ring, size_t want) {
  (void)want;
  size_t need;
  return mp_probe_record(ring, &need);
}

static VMP__RING_APART int mp_next(vmp_ring *ring, int64_t timeout_ns, vmp_ring_record *rec) {
  side *c = &ring->consumer;
  int err = start_consumer(ring);
  if (err) return err;
  int64_t start = timeout_ns > 0 ? vmp__os_monotonic_ns() : 0;
  size_t need;
  for (;;) {
    int ready = mp_probe_record(ring, &need);
    if (ready < 0) return ready;
    if (ready) break;
    int64_t left = timeout_ns;
    if (timeout_ns > 0) {
      left = timeout_ns - (vmp__os_monotonic_ns() - start);
      if (left <= 0) return VMP_ETIMEDOUT;
    } else if (timeout_ns == 0) {
      return VMP_ETIMEDOUT;
    }
    if (mp_watch(ring, left)) continue;
    if (timeout_ns > 0) {
      left = timeout_ns - (vmp__os_monotonic_ns() - start);
      if (left <= 0) return VMP_ETIMEDOUT;
    }
    /* A busy record's producer may be dead and never wake us: sleep no
     * longer than until it is abandoned. The spin was mp_watch's. */
    int64_t slice = ring->abandon_ns >= 0 ? ring->abandon_ns : left;
    if (left < 0 || slice < left) left = slice;
    err = vmp__ring_wait(ring, mp_probe, 0, &ring->ctl->data_seq, &ring->ctl->consumer_sleeping,
                         left, 0);
    if (err && err != VMP_ETIMEDOUT) return err;
  }
  vmp__ring_mp_header *h = mp_header_at(ring, c->own);
  /* The length again: it must still be what the probe checked. */
  size_t len = h->len;
  if (record_bytes(ring, len) != need) return broken(c);
  c->held_need = need;
  c->held_data = (unsigned char *)(h + 1);
  c->held_len = len;
  rec->data = c->held_data;
  rec->len = len;
  rec->at = c->own;
  return 0;
}

/* ---- the calls -------------------------------------------------------------------- */

/* Each call tests the ring's kind once, first: a single-producer ring's
 * calls are inline above, their rare cases out of line. */

int vmp_ring_reserve(vmp_ring *ring, size_t len, int64_t timeout_ns, vmp_ring_record *rec) {
  if (!ring || !rec) return VMP_EINVAL;
  size_t need = record_bytes(ring, len);
  if (need == 0) return VMP_EINVAL;
  return is_multi(ring) ? mp_reserve(ring, len, need, timeout_ns, rec)
                        : sp_reserve(ring, len, need, timeout_ns, rec);
}

int vmp_ring_wait_room(vmp_ring *ring, size_t len, int64_t timeout_ns) {
  if (!ring) return VMP_EINVAL;
  size_t need = record_bytes(ring, len);
  if (need == 0) return VMP_EINVAL;
  if (!is_multi(ring)) return vmp_ring_wait_write(ring, need, timeout_ns);
  return vmp__ring_wait(ring, mp_space_probe, need, &ring->ctl->space_seq,
                        &ring->ctl->producer_sleeping, timeout_ns, 1);
}

int vmp_ring_submit(vmp_ring *ring, const vmp_ring_record *rec) {
  if (!ring || !rec) return VMP_EINVAL;
  return is_multi(ring) ? mp_finish(ring, rec, 1) : sp_finish(ring, rec, 1);
}

int vmp_ring_discard(vmp_ring *ring, const vmp_ring_record *rec) {
  if (!ring || !rec) return VMP_EINVAL;
  return is_multi(ring) ? mp_finish(ring, rec, 0) : sp_finish(ring, rec, 0);
}

int vmp_ring_next(vmp_ring *ring, int64_t timeout_ns, vmp_ring_record *rec) {
  if (!ring || !rec) return VMP_EINVAL;
  return is_multi(ring) ? mp_next(ring, timeout_ns, rec) : sp_next(ring, timeout_ns, rec);
}

int vmp_ring_consume(vmp_ring *ring, const vmp_ring_record *rec) {
  if (!ring || !rec) return VMP_EINVAL;
  side *c = &ring->consumer;
  control *ctl = ring->ctl;
  if (!holds(c, rec)) return c->state < 0 ? c->state : VMP_EINVAL;
  size_t need = c->held_need;
  c->held_len = NO_RECORD;
  c->busy_at = UINT64_MAX;
  publish_tail(ring, need);
  count(&ctl->records_read, 0);
  return 0;
}

int vmp_ring_set_abandon_timeout(vmp_ring *ring, int64_t timeout_ns) {
  if (!ring || !is_multi(ring)) return VMP_EINVAL;
  ring->abandon_ns = timeout_ns;
  return 0;
}

int vmp_ring_get_stats(const vmp_ring *ring, vmp_ring_stats *out) {
  if (!ring || !out) return VMP_EINVAL;
  const control *ctl = ring->ctl;
  out->bytes_written = atomic_load_explicit(&ctl->head, memory_order_relaxed);
  out->bytes_read = atomic_load_explicit(&ctl->tail, memory_order_relaxed);
  out->records_written = atomic_load_explicit(&ctl->records_written, memory_order_relaxed);
  out->records_read = atomic_load_explicit(&ctl->records_read, memory_order_relaxed);
  out->dropped = atomic_load_explicit(&ctl->dropped, memory_order_relaxed);
  out->discarded = atomic_load_explicit(&ctl->discarded, memory_order_relaxed);
  out->abandoned = atomic_load_explicit(&ctl->abandoned, memory_order_relaxed);
  return 0;
}
