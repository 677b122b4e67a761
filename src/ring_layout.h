/*
 * The shared part of a mirrored ring: what lies in its memory object, and
 * so what a peer process sees and may scribble on. Private to the library
 * and its tests (a test that plays a hostile peer includes this instead of
 * hard-coding offsets).
 *
 * The object is [control unit][data capacity]: the control unit (one
 * allocation unit, or one huge page) holds vmp__ring_control at its start,
 * and the data follows. The region maps the control unit and the data as
 * one view and the data once more right after it (the mirror), so the
 * data's mirror is at data + capacity.
 *
 * Counters. head and tail count bytes modulo vmp__ring_modulus(capacity),
 * the largest multiple of the capacity that fits in 64 bits: a position in
 * the data is always counter % capacity, the same for both sides, however
 * far the counters have run (with plain 2^64 wrap-around that would jump
 * at the wrap when the capacity is not a power of two).
 */
#ifndef VMP_RING_LAYOUT_H
#define VMP_RING_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define VMP__RING_MAGIC "vmpring\1"
#define VMP__RING_MAGIC_BYTES 8
#define VMP__RING_VERSION 4
#define VMP__RING_LINE 64

/* Header flags. */
/* Publishing an index needs no fence: a side about to sleep issues the
 * system's asymmetric barrier instead (Linux membarrier), and every
 * process attached to the ring has registered for it. */
#define VMP__RING_LIGHT_PUBLISH 0x1u
/* Records from many producers (VMP_RING_MULTI_PRODUCER): the head is where
 * the next reservation starts, and each record header carries a tag and a
 * busy state (vmp__ring_mp_header). */
#define VMP__RING_MULTI_PRODUCER 0x2u
#define VMP__RING_HEADER_FLAGS (VMP__RING_LIGHT_PUBLISH | VMP__RING_MULTI_PRODUCER)

/* Written by the creator before the descriptor is first handed out; read by
 * attach only as a copy. */
typedef struct vmp__ring_header {
  unsigned char magic[VMP__RING_MAGIC_BYTES];
  uint32_t version;
  uint32_t flags;
  uint64_t capacity;
  uint64_t record_key; /* multi-producer rings: XORed into each header's tag */
} vmp__ring_header;

typedef struct vmp__ring_control {
  vmp__ring_header header;
  _Alignas(VMP__RING_LINE) _Atomic uint64_t head;     /* bytes written; the producer's */
  _Alignas(VMP__RING_LINE) _Atomic uint64_t tail;     /* bytes read; the consumer's */
  _Alignas(VMP__RING_LINE) _Atomic uint32_t data_seq; /* bumped for a sleeping consumer */
  _Atomic uint32_t consumer_sleeping; /* raised by a sleeper, lowered by its waker */
  _Alignas(VMP__RING_LINE) _Atomic uint32_t space_seq; /* bumped for a sleeping producer */
  _Atomic uint32_t producer_sleeping;                  /* the same, for the producers */
  _Alignas(VMP__RING_LINE) _Atomic uint32_t shutdown;
  /* Statistics (vmp_ring_stats): counts only, never used to find a byte.
   * The producers' line, then the consumer's. */
  _Alignas(VMP__RING_LINE) _Atomic uint64_t records_written;
  _Atomic uint64_t discarded;
  _Atomic uint64_t dropped;
  _Alignas(VMP__RING_LINE) _Atomic uint64_t records_read;
  _Atomic uint64_t abandoned;
} vmp__ring_control;

/* Records. Every record starts at a multiple of VMP__RING_RECORD_ALIGN
 * bytes (counting from 0), so its header can be read and written with
 * atomics, and takes its header plus its payload rounded up to that.
 *
 * A single-producer ring publishes a record whole (the head moves past it
 * when it is submitted), so its header is only the length and a zero. */
#define VMP__RING_RECORD_ALIGN 8
typedef struct vmp__ring_sp_header {
  uint32_t len;
  uint32_t zero;
} vmp__ring_sp_header;

/* A multi-producer ring's head moves when a record is reserved, so the
 * header says whether it is there yet and whether it is done:
 *   tag   = the record's counter XOR the header's record_key, stored last
 *           (with release ordering) once len and state are written: what
 *           the slot held before, left from an earlier record's bytes, can
 *           match it only by a 2^-64 accident;
 *   state = VMP__RING_REC_BUSY | the producer's process id (its low 29
 *           bits) until it is submitted (0) or discarded
 *           (VMP__RING_REC_DISCARDED); a consumer that gives up on a busy
 *           record sets VMP__RING_REC_ABANDONED. */
typedef struct vmp__ring_mp_header {
  _Atomic uint64_t tag;
  uint32_t len;
  _Atomic uint32_t state;
} vmp__ring_mp_header;
#define VMP__RING_REC_BUSY 0x80000000u
#define VMP__RING_REC_DISCARDED 0x40000000u
#define VMP__RING_REC_ABANDONED 0x20000000u
#define VMP__RING_REC_OWNER 0x1fffffffu

/* Where the control page's fields are, for peers written in another way. */
#define VMP__RING_OFFSET_MAGIC 0
#define VMP__RING_OFFSET_VERSION 8
#define VMP__RING_OFFSET_FLAGS 12
#define VMP__RING_OFFSET_CAPACITY 16
#define VMP__RING_OFFSET_HEAD 64
#define VMP__RING_OFFSET_TAIL 128

_Static_assert(offsetof(vmp__ring_control, head) == VMP__RING_OFFSET_HEAD, "layout");
_Static_assert(offsetof(vmp__ring_control, tail) == VMP__RING_OFFSET_TAIL, "layout");
_Static_assert(sizeof(vmp__ring_mp_header) == 16 && sizeof(vmp__ring_sp_header) == 8, "layout");

/* The counters' modulus for a capacity (> 0). */
static inline uint64_t vmp__ring_modulus(uint64_t capacity) {
  return UINT64_MAX / capacity * capacity;
}

#endif
