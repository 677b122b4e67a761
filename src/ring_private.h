/*
 * The ring's private state and the index operations its byte and record
 * calls share (src/ring.c, src/ring_record.c). The rules are at the top of
 * src/ring.c; the shared layout is src/ring_layout.h.
 */
#ifndef VMP_RING_PRIVATE_H
#define VMP_RING_PRIVATE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "ring_layout.h"

/* A peer in another process reads and writes these fields with atomics of
 * its own: they must be lock-free to mean anything across processes. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "rings need lock-free 32- and 64-bit atomics");

typedef vmp__ring_control control;

/* A side has not looked at the shared indexes yet (an attached ring does
 * not know which side it will be), is running, or is broken for good with
 * a negative error. */
#define SIDE_UNSTARTED 1
#define SIDE_RUNNING 0

/* Each side's private state, on its own cache lines (padding rather than
 * _Alignas: the ring comes from malloc, which does not align to 64). */
typedef struct side {
  char pad_before[VMP__RING_LINE];
  /* What every byte call reads and writes comes first, together. */
  int state;      /* SIDE_UNSTARTED, SIDE_RUNNING or an error */
  uint64_t own;   /* our counter: head for the producer, tail for the consumer */
  size_t pos;     /* own % capacity, kept as own moves */
  uint64_t base;  /* own - pos: own moves by pos, and base only when pos wraps */
  size_t room;    /* as of our last look at the other side's counter: the free
                     bytes (producer) or the readable bytes (consumer) */
  size_t offered; /* bytes a begin call offered that no commit/release took */
  /* The record reserve (producer) or next (consumer) gave that no submit,
   * discard or consume took yet, as it was handed out (so the finishing
   * call compares rather than recomputes): its ring bytes, payload and
   * payload length, which is NO_RECORD while none is held. The byte calls'
   * offer is apart, so neither kind of call finishes what the other began.
   * The three are written together, so they sit apart, among fields that
   * the hand-out does not write: side by side, gcc packs two stores into
   * one vector store, which costs more. */
  size_t held_need;
  /* The consumer of a multi-producer ring: the record it waits for while
   * busy (UINT64_MAX: none), and since when. Here, not beside the fields
   * both sides read, so that its writes never take their line away from
   * the producer's CPU. */
  uint64_t busy_at;
  unsigned char *held_data;
  int64_t busy_since;
  size_t held_len;
  char pad_after[VMP__RING_LINE];
} side;

/* The held length while no record is held: no record has it (the longest
 * is below 2^32), so no record a caller was given matches. */
#define NO_RECORD SIZE_MAX

/* The header's state in this process: written when the descriptor is first
 * handed out, since only a peer that attaches reads it. */
#define HEADER_UNWRITTEN 0
#define HEADER_WRITING 1
#define HEADER_WRITTEN 2

struct vmp_ring {
  /* What every byte call reads comes first, together. */
  control *ctl;
  unsigned char *data;
  size_t capacity;
  uint64_t modulus;      /* vmp__ring_modulus(capacity) */
  uint32_t header_flags; /* VMP__RING_LIGHT_PUBLISH, VMP__RING_MULTI_PRODUCER */
  int fence_publish;     /* a full fence after each publish */
  vmp_region *region;
  vmp_mem *mem;
  uint64_t pos_mask;    /* capacity - 1 for a power of two (counter % capacity
                           without a division), else 0 */
  uint64_t record_key;  /* tags the headers of a multi-producer ring's records */
  size_t record_max;    /* vmp_ring_record_max() */
  size_t record_header; /* a record header's bytes: 8, or 16 with many producers */
  /* How long the consumer of a multi-producer ring waits for a busy record
   * before it skips it. */
  int64_t abandon_ns;
  int bounded_sleep; /* a wake-up may be missed: never sleep long */
  _Atomic int header_state;
  /* vmp_ring_shutdown calls on this handle that may still touch the
   * control page: once a side sees the ring shut down it may close it while
   * the call that did so is still waking sleepers, so close waits for 0. */
  _Atomic uint32_t shutdowns_running;
  /* Nothing above changes while the sides run (the header state once):
   * what only one side writes is in its own side, on its own lines. */
  side producer;
  side consumer;
  /* The producers of a multi-producer ring in this process: the tail the
   * last of them to look saw (UINT64_MAX: none yet). The tail only moves
   * on, so the room it shows is never more than there is: a reservation
   * it allows needs no look at the consumer's line, which would move it
   * to this CPU for each record. Its own line, written only when a
   * producer looks again. */
  _Atomic uint64_t tail_seen;
  char pad_after_tail_seen[VMP__RING_LINE];
};

/* The rare branches of the hot calls, and the other kind of ring's calls,
 * stay out of line, so that the common case needs no stack frame (gcc and
 * clang both take the attributes). */
#define VMP__RING_SLOW __attribute__((noinline, cold))
#define VMP__RING_APART __attribute__((noinline))

/* ---- counters ------------------------------------------------------------------ */

/* Counters live in [0, modulus); distances are taken modulo it. */
static inline uint64_t advance(const vmp_ring *ring, uint64_t counter, size_t n) {
  uint64_t room = ring->modulus - counter;
  return n >= room ? n - room : counter + n;
}

static inline uint64_t distance(const vmp_ring *ring, uint64_t later, uint64_t earlier) {
  return later >= earlier ? later - earlier : ring->modulus - earlier + later;
}

/* ---- the indexes ----------------------------------------------------------------- */

static inline int is_shut_down(const vmp_ring *ring) {
  return atomic_load_explicit(&ring->ctl->shutdown, memory_order_acquire) != 0;
}

/* A broken side offers nothing, has no room and holds no record: the
 * in-place calls' one compare against room or offered, and the record
 * calls' against the held record, then also say that the side runs. */
static inline int broken(side *s) {
  s->state = VMP_EPEER;
  s->room = 0;
  s->offered = 0;
  s->held_len = NO_RECORD;
  return VMP_EPEER;
}

/* A side's first look at the page: our own counter is read once, then the
 * other's, which must be possible against it. Only the other side moves
 * meanwhile, and only within what the check allows (a consumer cannot pass
 * the head we hold still; a producer cannot run more than the capacity
 * ahead of the tail we hold still), so the two reads are consistent. */
static inline int start_side(vmp_ring *ring, side *s, _Atomic uint64_t *own,
                             _Atomic uint64_t *other, int producing) {
  if (s->state != SIDE_UNSTARTED) return s->state;
  uint64_t mine = atomic_load_explicit(own, memory_order_relaxed);
  uint64_t theirs = atomic_load_explicit(other, memory_order_acquire);
  if (mine >= ring->modulus || theirs >= ring->modulus) return broken(s);
  uint64_t used = producing ? distance(ring, mine, theirs) : distance(ring, theirs, mine);
  if (used > ring->capacity) return broken(s);
  s->own = mine;
  s->room = producing ? ring->capacity - (size_t)used : (size_t)used;
  s->pos = (size_t)(mine % ring->capacity);
  s->base = mine - s->pos;
  s->state = SIDE_RUNNING;
  return 0;
}

static inline int start_producer(vmp_ring *ring) {
  return start_side(ring, &ring->producer, &ring->ctl->head, &ring->ctl->tail, 1);
}

static inline int start_consumer(vmp_ring *ring) {
  return start_side(ring, &ring->consumer, &ring->ctl->tail, &ring->ctl->head, 0);
}

/* The consumer's tail never goes back and never passes our head: the
 * bytes between it and our head can only have shrunk since the last look. */
static inline int refresh_tail(vmp_ring *ring) {
  side *p = &ring->producer;
  uint64_t tail = atomic_load_explicit(&ring->ctl->tail, memory_order_seq_cst);
  if (tail >= ring->modulus) return broken(p);
  uint64_t used = distance(ring, p->own, tail);
  if (used > ring->capacity - p->room) return broken(p);
  p->room = ring->capacity - (size_t)used;
  return 0;
}

/* The producer's head never goes back and never gets more than the
 * capacity ahead of our tail: the bytes it is ahead can only have grown,
 * up to the capacity. */
static inline int refresh_head(vmp_ring *ring) {
  side *c = &ring->consumer;
  uint64_t head = atomic_load_explicit(&ring->ctl->head, memory_order_seq_cst);
  if (head >= ring->modulus) return broken(c);
  uint64_t ahead = distance(ring, head, c->own);
  if (ahead < c->room || ahead > ring->capacity) return broken(c);
  c->room = (size_t)ahead;
  return 0;
}

/* Wakes whoever sleeps on `seq` when `sleeping` is still raised, and
 * lowers it: the first publisher to see it raised makes the one system
 * call, and those after it, until a sleeper raises it again, make none
 * (see vmp__ring_wait). */
void vmp__ring_wake(_Atomic uint32_t *sleeping, _Atomic uint32_t *seq);

/* Moves our counter on by n, stores it for the other side, and wakes the
 * other side if it sleeps. Without a fence here, the store may still sit
 * in this CPU's store buffer when `sleeping` is read; the sleeper's
 * asymmetric barrier flushes it (see the top of the file). */

static inline void publish(vmp_ring *ring, side *s, _Atomic uint64_t *index, size_t n,
                           _Atomic uint32_t *sleeping, _Atomic uint32_t *seq) {
  /* advance(own, n) without its compares in the common case: own is
   * base + pos, base a multiple of the capacity below the modulus (itself
   * a multiple), so base moves on a whole capacity when pos wraps. */
  size_t pos = s->pos + n;
  if (pos >= ring->capacity) {
    pos -= ring->capacity;
    /* As an add and a compare: the same test as modulus - base ==
     * capacity, with one value fewer alive, which spared the record
     * submit a saved register (5 instructions a call, callgrind). */
    uint64_t base = s->base + ring->capacity;
    s->base = base == ring->modulus ? 0 : base;
  }
  uint64_t own = s->base + pos;
  s->pos = pos;
  s->own = own;
  s->room -= n;
  /* The fencing mode orders store and load by making both sequentially
   * consistent (an xchg on x86); ThreadSanitizer does not take fences. */
  if (ring->fence_publish) {
    atomic_store_explicit(index, own, memory_order_seq_cst);
  } else {
    atomic_store_explicit(index, own, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst); /* only the compiler keeps them in order */
  }
  if (atomic_load_explicit(sleeping, memory_order_seq_cst)) vmp__ring_wake(sleeping, seq);
}

static inline void publish_head(vmp_ring *ring, size_t n) {
  publish(ring, &ring->producer, &ring->ctl->head, n, &ring->ctl->consumer_sleeping,
          &ring->ctl->data_seq);
}

static inline void publish_tail(vmp_ring *ring, size_t n) {
  publish(ring, &ring->consumer, &ring->ctl->tail, n, &ring->ctl->producer_sleeping,
          &ring->ctl->space_seq);
}

/* Running, not shut down, and the free space as of a fresh look at the
 * tail when the cached one shows less than `want`. The common cases (the
 * cached space is enough, or a fresh look makes it so) are inline; the
 * rest, the side's first look included, is out of line in src/ring.c. */
int vmp__ring_producer_space_slow(vmp_ring *ring, size_t want, size_t *space);

static inline int vmp__ring_producer_space(vmp_ring *ring, size_t want, size_t *space) {
  side *p = &ring->producer;
  if (p->state == SIDE_RUNNING && !is_shut_down(ring) &&
      (p->room >= want || (refresh_tail(ring) == 0 && p->room >= want))) {
    *space = p->room;
    return 0;
  }
  return vmp__ring_producer_space_slow(ring, want, space);
}

/* Running, and the bytes there as of a fresh look at the head when the
 * cached one shows fewer than `want`; VMP_ESHUTDOWN once shut down and
 * empty. Inline as above while the bytes are there: the shutdown flag
 * matters only when they are not (the slow path reads it before the head,
 * so that a producer that shut down after its last commit is seen whole). */
int vmp__ring_consumer_data_slow(vmp_ring *ring, size_t want, size_t *there);

static inline int vmp__ring_consumer_data(vmp_ring *ring, size_t want, size_t *there) {
  side *c = &ring->consumer;
  if (c->state == SIDE_RUNNING &&
      (c->room >= want || (refresh_head(ring) == 0 && c->room >= want))) {
    *there = c->room;
    return 0;
  }
  return vmp__ring_consumer_data_slow(ring, want, there);
}

/* A key for a new multi-producer ring's record tags: different from ring
 * to ring and run to run, so that no byte pattern a user writes is likely
 * to look like a header (it is not a secret from the peers). */
uint64_t vmp__ring_new_key(const vmp_ring *ring);

/* The record calls' state of a ring that starts running. */
void vmp__ring_records_init(vmp_ring *ring);

/* 1 when the side can go on, 0 when it must wait, or an error. */
typedef int (*vmp__ring_probe)(vmp_ring *ring, size_t want);

/* Spins (unless the caller spun already: spin 0), then sleeps on `seq`
 * with `sleeping` raised, until probe says go on, the timeout passes
 * (VMP_ETIMEDOUT; < 0 never, 0 looks once) or an error comes. */
int vmp__ring_wait(vmp_ring *ring, vmp__ring_probe probe, size_t want, _Atomic uint32_t *seq,
                   _Atomic uint32_t *sleeping, int64_t timeout_ns, int spin);

#endif
